/*
 * The flood latency probe (tests/bench/README.md): a neighbour of one node, written
 * small, that times how long an IAMAT sent to another node takes to reach it.
 *
 *   floodprobe -l PEER_PORT -n PROBE_NAME -s SECRET_FILE -c CLIENT_PORT [-N 2000]
 *              [-i INTERVAL_US] [-t TAG] [-T]
 *
 * -T: the link is TLS 1.3 with the herd's PSK (README "Peer links"), as a node with
 * peer_tls on accepts it: the dialler's identity is its name, the key HMAC-SHA256 of
 * the secret over "herd TLS PSK", the dialler's name and this end's, and the AUTH MAC
 * covers the channel's exporter value.
 *
 * It listens on PEER_PORT (the probe node's peer_listen), accepts the dial of its one
 * neighbour, answers the handshake (README "Peer links and the wire format"; it does
 * not check the neighbour's MAC), says it holds nothing so that the neighbour sends
 * its table, and reads that. Then, N times, INTERVAL_US apart, it sends an IAMAT for a
 * fresh ID to the node at CLIENT_PORT and waits on the link for the AT line carrying
 * that ID: the time from send to arrival is one sample (CLOCK_MONOTONIC). Every line
 * the neighbour floods meanwhile (any background load) is read and skipped; it PINGs
 * every 500 ms and answers PING. Prints one key=value line:
 *   probes= p50_us= p90_us= p99_us= max_us=
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#define FP_BUF (4 << 20)

static char buf[FP_BUF];
static size_t buflen;
static int link_fd;
static uint64_t last_ping_ns;
static bool linked;                  /* handshake done: PINGs may go */
static SSL *tls;                     /* -T: the link's TLS, else NULL */
static const char *probe_name = "Probe";
static char secret[4097];
static size_t secret_len;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "floodprobe: %s: %s\n", what, errno ? strerror(errno) : "failed");
	exit(1);
}

static void send_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = tls != NULL && fd == link_fd ? SSL_write(tls, s, (int)len) :
		    write(fd, s, len);

		if (n <= 0)
			die("write");
		s += n;
		len -= (size_t)n;
	}
}

static void send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

/*
 * Reads the link until a line for which MATCH(line, arg) holds; copies it into OUT
 * (SIZE bytes) if OUT is not NULL. Answers PING, and PINGs itself every 500 ms.
 */
static void read_until(bool (*match)(const char *line, size_t len, const void *arg),
    const void *arg, char *out, size_t size, uint64_t *when)
{
	for (;;) {
		char *start = buf, *nl;

		while ((nl = memchr(start, '\n', buflen - (size_t)(start - buf))) != NULL) {
			size_t len = (size_t)(nl - start);

			if (len == 4 && memcmp(start, "PING", 4) == 0)
				send_str(link_fd, "PONG\n");
			else if (match(start, len, arg)) {
				if (when != NULL)
					*when = now_ns();
				if (out != NULL)
					snprintf(out, size, "%.*s", (int)len, start);
				start = nl + 1;
				memmove(buf, start, buflen - (size_t)(start - buf));
				buflen -= (size_t)(start - buf);
				return;
			}
			start = nl + 1;
		}
		memmove(buf, start, buflen - (size_t)(start - buf));
		buflen -= (size_t)(start - buf);
		if (linked && now_ns() - last_ping_ns > 500000000u) {
			send_str(link_fd, "PING\n");
			last_ping_ns = now_ns();
		}
		{
			struct pollfd pfd = { link_fd, POLLIN, 0 };
			ssize_t n;

			/* TLS may hold bytes (read ahead) the socket no longer shows. */
			if ((tls == NULL || !SSL_has_pending(tls)) && poll(&pfd, 1, 500) < 0 &&
			    errno != EINTR)
				die("poll");
			if (!(pfd.revents & POLLIN) && (tls == NULL || !SSL_has_pending(tls)))
				continue;
			if (buflen == sizeof(buf))
				die("line too long");
			n = tls != NULL ? SSL_read(tls, buf + buflen, (int)(sizeof(buf) - buflen)) :
			    read(link_fd, buf + buflen, sizeof(buf) - buflen);
			if (n <= 0) {
				errno = 0;
				die("the neighbour closed the link");
			}
			buflen += (size_t)n;
		}
	}
}

static bool starts(const char *line, size_t len, const void *word)
{
	size_t n = strlen(word);

	return len >= n && memcmp(line, word, n) == 0;
}

/* An AT line whose ID (the fourth field) is ARG. */
static bool at_for(const char *line, size_t len, const void *id)
{
	size_t n = strlen(id);
	const char *p = line;
	int spaces = 0;

	if (!starts(line, len, "AT "))
		return false;
	while (p < line + len && spaces < 3)
		spaces += *p++ == ' ';
	return (size_t)(line + len - p) > n && memcmp(p, id, n) == 0 && p[n] == ' ';
}

/* The accepting end of the PSK handshake: the key of the dialler IDENTITY to this probe. */
static int psk_find(SSL *ssl, const unsigned char *identity, size_t len, SSL_SESSION **sess)
{
	static const unsigned char aes128gcm_sha256[] = { 0x13, 0x01 };
	unsigned char key[32];
	unsigned int keylen = 0;
	char msg[1024];
	int n = snprintf(msg, sizeof(msg), "herd TLS PSK\n%.*s\n%s", (int)len,
	    (const char *)identity, probe_name);

	*sess = SSL_SESSION_new();
	if (*sess == NULL || HMAC(EVP_sha256(), secret, (int)secret_len, (unsigned char *)msg,
	    (size_t)n, key, &keylen) == NULL ||
	    !SSL_SESSION_set1_master_key(*sess, key, keylen) ||
	    !SSL_SESSION_set_cipher(*sess, SSL_CIPHER_find(ssl, aes128gcm_sha256)) ||
	    !SSL_SESSION_set_protocol_version(*sess, TLS1_3_VERSION))
		return 0;
	return 1;
}

/* -T: TLS 1.3 on the accepted link, as a node's accepting end. */
static void tls_accept(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256"))
		die("SSL_CTX");
	SSL_CTX_set_num_tickets(ctx, 0);
	/* A record in one read(2), as plaintext lines come, not its header and then its body. */
	SSL_CTX_set_read_ahead(ctx, 1);
	SSL_CTX_set_psk_find_session_callback(ctx, psk_find);
	tls = SSL_new(ctx);
	if (tls == NULL || !SSL_set_fd(tls, link_fd) || SSL_accept(tls) != 1) {
		ERR_print_errors_fp(stderr);
		errno = 0;
		die("TLS handshake");
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void hex(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", in[i]);
}

int main(int argc, char **argv)
{
	const char *name = "Probe", *secret_file = NULL, *tag = "p";
	int peer_port = 0, client_port = 0, ch, lfd, cfd, one = 1;
	bool use_tls = false;
	unsigned probes = 2000, interval_us = 2000;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char line[8192], their_name[256], their_nonce[64], nonce[33];
	char mac_msg[1024], mac_hex[65], binding[65] = "";
	unsigned char raw[16], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint64_t *lat;

	while ((ch = getopt(argc, argv, "l:n:s:c:N:i:t:T")) != -1) {
		switch (ch) {
		case 'l': peer_port = atoi(optarg); break;
		case 'n': name = optarg; break;
		case 's': secret_file = optarg; break;
		case 'c': client_port = atoi(optarg); break;
		case 'N': probes = (unsigned)atoi(optarg); break;
		case 'i': interval_us = (unsigned)atoi(optarg); break;
		case 't': tag = optarg; break;
		case 'T': use_tls = true; break;
		default:
			fprintf(stderr, "usage: floodprobe -l PEER_PORT -n NAME -s SECRET_FILE "
			    "-c CLIENT_PORT [-N PROBES] [-i INTERVAL_US] [-t TAG] [-T]\n");
			return 2;
		}
	}
	if (peer_port <= 0 || client_port <= 0 || probes == 0)
		return 2;
	if (secret_file != NULL) {
		FILE *f = fopen(secret_file, "r");

		if (f == NULL)
			die(secret_file);
		secret_len = fread(secret, 1, sizeof(secret) - 1, f);
		fclose(f);
		while (secret_len > 0 && (secret[secret_len - 1] == '\n' ||
		    secret[secret_len - 1] == '\r'))
			secret_len--;
	}
	lat = calloc(probes, sizeof(*lat));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);

	/* The neighbour dials the probe node's peer_listen. */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_port = htons((uint16_t)peer_port);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0)
		die("listen");
	link_fd = accept(lfd, NULL, NULL);
	if (link_fd < 0)
		die("accept");
	close(lfd);
	setsockopt(link_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	probe_name = name;
	if (use_tls) {
		unsigned char material[32];
		static const char label[] = "EXPORTER-herd-link-auth";

		tls_accept();
		if (SSL_export_keying_material(tls, material, sizeof(material), label,
		    strlen(label), NULL, 0, 0) != 1)
			die("SSL_export_keying_material");
		hex(material, sizeof(material), binding);
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		die("RAND_bytes");
	hex(raw, sizeof(raw), nonce);
	snprintf(line, sizeof(line), "HELLO herd/3 %s %s\n", name, nonce);
	send_str(link_fd, line);
	read_until(starts, "HELLO ", line, sizeof(line), NULL);
	if (sscanf(line, "HELLO herd/3 %255s %63s", their_name, their_nonce) != 2) {
		fprintf(stderr, "floodprobe: unexpected %s\n", line);
		return 1;
	}
	/* This end accepted the connection. */
	snprintf(mac_msg, sizeof(mac_msg), "herd/3 AUTH\n%s\n%s\n%s\n%s\naccepted%s%s", name,
	    their_name, nonce, their_nonce, use_tls ? "\ntls " : "", binding);
	if (HMAC(EVP_sha256(), secret_len > 0 ? secret : "", (int)secret_len,
	    (unsigned char *)mac_msg, strlen(mac_msg), md, &mdlen) == NULL)
		die("HMAC");
	hex(md, mdlen, mac_hex);
	snprintf(line, sizeof(line), "AUTH %s\nDIGEST-BEGIN 0 0000000000000000 00000000\n", mac_hex);
	send_str(link_fd, line);
	linked = true;
	read_until(starts, "SYNC-END ", NULL, 0, NULL);

	cfd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_port = htons((uint16_t)client_port);
	if (cfd < 0 || connect(cfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("connect");
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (unsigned i = 0; i < probes; i++) {
		char id[128], reply[4096];
		struct timespec wall, pause = { 0, (long)interval_us * 1000 };
		uint64_t t0, t1;
		int n;

		snprintf(id, sizeof(id), "probe-%s-%06u", tag, i);
		clock_gettime(CLOCK_REALTIME, &wall);
		n = snprintf(line, sizeof(line), "IAMAT %s +34.068930-118.445127 %lld.%09ld\n", id,
		    (long long)wall.tv_sec, wall.tv_nsec);
		t0 = now_ns();
		send_all(cfd, line, (size_t)n);
		read_until(at_for, id, NULL, 0, &t1);
		lat[i] = (t1 - t0) / 1000;
		/* The node's reply to the client; one line. */
		for (size_t got = 0; got == 0 || reply[got - 1] != '\n';) {
			ssize_t r = read(cfd, reply + got, sizeof(reply) - got);

			if (r <= 0)
				die("client read");
			got += (size_t)r;
		}
		nanosleep(&pause, NULL);
	}
	qsort(lat, probes, sizeof(*lat), cmp_u64);
	printf("probes=%u p50_us=%llu p90_us=%llu p99_us=%llu max_us=%llu\n", probes,
	    (unsigned long long)lat[probes / 2], (unsigned long long)lat[probes * 9 / 10],
	    (unsigned long long)lat[probes * 99 / 100], (unsigned long long)lat[probes - 1]);
	return 0;
}
