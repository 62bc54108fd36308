/*
 * What a TLS record costs a peer link, apart from the herd: one AT line sealed into a
 * TLS 1.3 record (TLS_AES_128_GCM_SHA256, as peer links use) and opened again, over
 * memory BIOs, with OpenSSL called as bufferevent_openssl calls it (ERR_clear_error
 * before each call; an open is the SSL_read that returns the line and the one that
 * then finds nothing more).
 *
 * Two ways: warm (record after record, everything in cache) and cold (before each call
 * a walk over EVICT_BYTES of other memory, as when a node wakes for one line while the
 * other processes of a herd have run on its core). A flood hop opens one record and
 * seals one, so the cold pair is what TLS adds to each hop of a flood on an idle herd;
 * tests/bench/README.md ("What TLS adds to a flood hop") compares it with bench_peer_tls.
 * A measurement: it prints, it has no goal of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define WARM_ROUNDS 20000
#define COLD_ROUNDS 2000
#define EVICT_BYTES (16u << 20)

static const char line[] = "AT Hamilton +0.263873386 kiwi.cs.ucla.edu "
    "+34.068930-118.445127 1621464827.959498503\n";

static unsigned char *evict;

static void die(const char *what)
{
	fprintf(stderr, "bench_tls_record: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Touches every cache line of EVICT, so that what a call needs comes from memory. */
static void evict_caches(void)
{
	for (size_t i = 0; i < EVICT_BYTES; i += 64)
		evict[i]++;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

/* Everything pending in FROM, written into TO. */
static void move(BIO *from, BIO *to)
{
	char buf[4096];
	int n;

	while ((n = BIO_read(from, buf, sizeof(buf))) > 0)
		if (BIO_write(to, buf, n) != n)
			die("BIO_write");
}

/* A self-signed certificate and key for the accepting end (the record costs the same
 * whether the handshake used the herd's PSK or certificates). */
static void server_credentials(SSL_CTX *ctx)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = X509_new();

	if (key == NULL || cert == NULL || !X509_set_version(cert, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), 0) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(cert), 3600) == NULL ||
	    !X509_set_pubkey(cert, key) ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
	    (const unsigned char *)"Parker", -1, -1, 0) ||
	    !X509_set_issuer_name(cert, X509_get_subject_name(cert)) ||
	    !X509_sign(cert, key, EVP_sha256()) || !SSL_CTX_use_certificate(ctx, cert) ||
	    !SSL_CTX_use_PrivateKey(ctx, key))
		die("a certificate");
	X509_free(cert);
	EVP_PKEY_free(key);
}

static SSL *end_new(SSL_CTX *ctx, BIO **in, BIO **out)
{
	SSL *ssl = SSL_new(ctx);

	*in = BIO_new(BIO_s_mem());
	*out = BIO_new(BIO_s_mem());
	if (ssl == NULL || *in == NULL || *out == NULL)
		die("SSL_new");
	BIO_set_mem_eof_return(*in, -1);
	SSL_set_bio(ssl, *in, *out);
	return ssl;
}

struct pair {
	SSL *sender, *receiver;
	BIO *sender_in, *sender_out, *receiver_in, *receiver_out;
};

static void pair_open(struct pair *p)
{
	SSL_CTX *server = SSL_CTX_new(TLS_server_method());
	SSL_CTX *client = SSL_CTX_new(TLS_client_method());
	char buf[256];

	if (server == NULL || client == NULL)
		die("SSL_CTX_new");
	for (int i = 0; i < 2; i++) {
		SSL_CTX *ctx = i == 0 ? server : client;

		if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
		    !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256"))
			die("TLS 1.3");
		SSL_CTX_set_num_tickets(ctx, 0);
		SSL_CTX_set_read_ahead(ctx, 1);       /* as server/peertls.c */
	}
	server_credentials(server);
	p->sender = end_new(server, &p->sender_in, &p->sender_out);
	p->receiver = end_new(client, &p->receiver_in, &p->receiver_out);
	SSL_set_accept_state(p->sender);
	SSL_set_connect_state(p->receiver);
	for (int i = 0; i < 10 && !(SSL_is_init_finished(p->sender) &&
	    SSL_is_init_finished(p->receiver)); i++) {
		SSL_do_handshake(p->receiver);
		move(p->receiver_out, p->sender_in);
		SSL_do_handshake(p->sender);
		move(p->sender_out, p->receiver_in);
	}
	if (!SSL_is_init_finished(p->sender) || !SSL_is_init_finished(p->receiver))
		die("the handshake");
	if (SSL_read(p->receiver, buf, sizeof(buf)) > 0)
		die("data before any was sent");
	SSL_CTX_free(server);
	SSL_CTX_free(client);
}

/* ROUNDS records, each timed sealed and opened; the medians, in nanoseconds. */
static void measure(struct pair *p, int rounds, int cold, double *seal, double *open)
{
	double *s = malloc(sizeof(*s) * (size_t)rounds), *o = malloc(sizeof(*o) * (size_t)rounds);
	char buf[4096];

	if (s == NULL || o == NULL)
		die("malloc");
	for (int i = 0; i < rounds; i++) {
		double t;
		int n;

		if (cold)
			evict_caches();
		t = now_ns();
		ERR_clear_error();
		if (SSL_write(p->sender, line, (int)strlen(line)) != (int)strlen(line))
			die("SSL_write");
		s[i] = now_ns() - t;
		move(p->sender_out, p->receiver_in);
		if (cold)
			evict_caches();
		t = now_ns();
		ERR_clear_error();
		n = SSL_read(p->receiver, buf, sizeof(buf));
		ERR_clear_error();
		if (n != (int)strlen(line) || SSL_read(p->receiver, buf, sizeof(buf)) > 0)
			die("SSL_read");
		o[i] = now_ns() - t;
	}
	*seal = median(s, rounds);
	*open = median(o, rounds);
	free(s);
	free(o);
}

int main(void)
{
	struct pair p;
	double warm_seal, warm_open, cold_seal, cold_open;

	evict = calloc(1, EVICT_BYTES);
	if (evict == NULL)
		die("calloc");
	pair_open(&p);
	measure(&p, WARM_ROUNDS, 0, &warm_seal, &warm_open);
	measure(&p, COLD_ROUNDS, 1, &cold_seal, &cold_open);
	printf("a %zu-byte line in a TLS 1.3 record, medians: warm seal %.1f us, open %.1f us; "
	    "cold (caches evicted) seal %.1f us, open %.1f us\n", strlen(line),
	    warm_seal / 1e3, warm_open / 1e3, cold_seal / 1e3, cold_open / 1e3);
	printf("a flood hop (one open, one seal) adds %.1f us warm, %.1f us cold\n",
	    (warm_seal + warm_open) / 1e3, (cold_seal + cold_open) / 1e3);
	SSL_free(p.sender);
	SSL_free(p.receiver);
	free(evict);
	return 0;
}
