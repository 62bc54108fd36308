/*
 * A closed-loop load generator for line servers (tests/bench/README.md): C connections,
 * each with D requests outstanding, a new request sent as each reply completes. Modes:
 *   iamat     IAMAT for IDS distinct client IDs (reply: one AT line)
 *   whatsat   WHATSAT for the same IDs (reply: AT line, JSON, blank line; or "? ...")
 *   mixed     9 IAMAT to 1 WHATSAT
 *   set       Redis inline "SET key value" (reply "+OK")
 *   echo      a line of IAMAT's size, for a server that sends each line back
 * Runs for SECONDS or until COUNT replies, then prints one line of key=value:
 *   requests= seconds= rps= p50_us= p99_us= p999_us= max_us= errors= connect_s= silent=
 * (connect_s: how long opening the connections took; silent: connections that got no
 * reply at all).
 *
 *   loadgen -p PORT [-h 127.0.0.1] [-c 50] [-d 1] [-m iamat] [-i 100000]
 *           [-t SECONDS | -n COUNT] [-w WARMUP_SECONDS] [-r RATE] [-g] [-b BASE]
 *
 * -r RATE paces the load at RATE requests per second in all (open loop within the
 * closed loop: a connection whose reply came waits for its turn). -g gives IAMATs client
 * times from one counter across all connections, so that each one is newer than the
 * last for its ID and is stored and flooded (without it, a connection's own count).
 * -b BASE is the whole seconds of IAMAT client times (1700000000): a later run with a
 * greater BASE moves the clients an earlier one placed.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LG_BUF (256 * 1024)
#define LG_HIST_US 1000000           /* latencies above 1 s count in the last bucket */

enum lg_mode { LG_IAMAT, LG_WHATSAT, LG_MIXED, LG_SET, LG_ECHO };

struct lg_conn {
	int fd;
	char *in;
	size_t inlen;
	char *out;
	size_t outlen, outoff;
	uint64_t *sent_ns;                /* ring: send time of each outstanding request */
	bool *multi;                      /* ring: reply ends with a blank line */
	unsigned head, count;             /* ring of D */
	uint64_t seq;
	uint64_t replies;
};

static struct {
	enum lg_mode mode;
	unsigned depth;
	unsigned long ids;
	uint64_t *hist;
	uint64_t done, errors, max_us;
	double rate;                      /* requests per second in all; 0: as fast as replies */
	uint64_t issued, start_ns;
	bool global_clock;
	unsigned long time_base;
	bool measuring;
	unsigned long next_id;
} lg;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* Appends one request to C's output and notes it in the ring. */
static void lg_request(struct lg_conn *c)
{
	unsigned long id = lg.next_id++ % lg.ids;
	char *p = c->out + c->outlen;
	size_t room = LG_BUF - c->outlen;
	bool whatsat = lg.mode == LG_WHATSAT || (lg.mode == LG_MIXED && c->seq % 10 == 9);
	int n;

	if (lg.mode == LG_SET)
		n = snprintf(p, room, "SET client%07lu.example.com +34.068930-118.445127\r\n", id);
	else if (whatsat)
		n = snprintf(p, room, "WHATSAT client%07lu.example.com 10 5\n", id);
	else
		n = snprintf(p, room, "%s client%07lu.example.com +34.068930-118.445127 "
		    "%lu.%09lu\n", lg.mode == LG_ECHO ? "ECHO" : "IAMAT", id, lg.time_base,
		    (unsigned long)((lg.global_clock ? lg.issued : c->seq) % 1000000000));
	if (n < 0 || (size_t)n >= room) {
		fprintf(stderr, "loadgen: output buffer full\n");
		exit(1);
	}
	c->outlen += (size_t)n;
	c->sent_ns[(c->head + c->count) % lg.depth] = now_ns();
	c->multi[(c->head + c->count) % lg.depth] = whatsat;
	c->count++;
	c->seq++;
	lg.issued++;
}

/* True when the pace allows one more request now (always without -r). */
static bool lg_may_send(uint64_t now)
{
	return lg.rate <= 0 || (double)lg.issued < lg.rate * (double)(now - lg.start_ns) / 1e9;
}

/* Writes what C has queued; false when the server closed. */
static bool lg_flush(struct lg_conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = write(c->fd, c->out + c->outoff, c->outlen - c->outoff);

		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return false;
		c->outoff += (size_t)n;
	}
	if (c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	return true;
}

/* The end of the first complete reply in C's input (just past it), or 0. */
static size_t lg_reply_end(const struct lg_conn *c)
{
	const char *nl = memchr(c->in, '\n', c->inlen);
	const char *p;

	if (nl == NULL)
		return 0;
	if (!c->multi[c->head] || (c->inlen >= 2 && memcmp(c->in, "? ", 2) == 0))
		return (size_t)(nl - c->in) + 1;
	/* AT line, JSON, then an empty line. */
	for (p = nl + 1; (p = memchr(p, '\n', (size_t)(c->in + c->inlen - p))) != NULL; p++) {
		if (p[-1] == '\n')
			return (size_t)(p - c->in) + 1;
	}
	return 0;
}

/* Reads C's replies, records their latencies and sends as many new requests. */
static bool lg_read(struct lg_conn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, c->in + c->inlen, LG_BUF - c->inlen);
		size_t end, off = 0;

		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			return false;
		c->inlen += (size_t)n;
		while (c->count > 0) {
			struct lg_conn view = *c;

			view.in = c->in + off;
			view.inlen = c->inlen - off;
			end = lg_reply_end(&view);
			if (end == 0)
				break;
			if (view.in[0] == '?' || view.in[0] == '-')
				lg.errors++;
			if (lg.measuring) {
				uint64_t us = (now_ns() - c->sent_ns[c->head]) / 1000;

				lg.hist[us < LG_HIST_US ? us : LG_HIST_US]++;
				if (us > lg.max_us)
					lg.max_us = us;
				lg.done++;
			}
			off += end;
			c->replies++;
			c->head = (c->head + 1) % lg.depth;
			c->count--;
			if (lg_may_send(now_ns()))
				lg_request(c);
		}
		memmove(c->in, c->in + off, c->inlen - off);
		c->inlen -= off;
		if (c->inlen == LG_BUF) {
			fprintf(stderr, "loadgen: a reply longer than %d bytes\n", LG_BUF);
			exit(1);
		}
		if (!lg_flush(c))
			return false;
	}
}

static uint64_t lg_percentile(double q)
{
	uint64_t want = (uint64_t)((double)lg.done * q), seen = 0;

	for (uint64_t us = 0; us <= LG_HIST_US; us++) {
		seen += lg.hist[us];
		if (seen > want)
			return us;
	}
	return LG_HIST_US;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	unsigned conns = 50;
	int port = 0, ch, ep;
	double seconds = 5, warmup = 0.5;
	uint64_t count = 0, start, stop_at, measure_from, connect_start, silent = 0;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct epoll_event ev, events[256];
	struct lg_conn *cs;
	struct rlimit rl;

	lg.mode = LG_IAMAT;
	lg.depth = 1;
	lg.ids = 100000;
	lg.time_base = 1700000000;
	while ((ch = getopt(argc, argv, "p:h:c:d:m:i:t:n:w:r:gb:")) != -1) {
		switch (ch) {
		case 'p': port = atoi(optarg); break;
		case 'h': host = optarg; break;
		case 'c': conns = (unsigned)atoi(optarg); break;
		case 'd': lg.depth = (unsigned)atoi(optarg); break;
		case 'i': lg.ids = strtoul(optarg, NULL, 10); break;
		case 't': seconds = atof(optarg); break;
		case 'n': count = strtoull(optarg, NULL, 10); break;
		case 'w': warmup = atof(optarg); break;
		case 'r': lg.rate = atof(optarg); break;
		case 'g': lg.global_clock = true; break;
		case 'b': lg.time_base = strtoul(optarg, NULL, 10); break;
		case 'm':
			if (strcmp(optarg, "iamat") == 0) lg.mode = LG_IAMAT;
			else if (strcmp(optarg, "whatsat") == 0) lg.mode = LG_WHATSAT;
			else if (strcmp(optarg, "mixed") == 0) lg.mode = LG_MIXED;
			else if (strcmp(optarg, "set") == 0) lg.mode = LG_SET;
			else if (strcmp(optarg, "echo") == 0) lg.mode = LG_ECHO;
			else { fprintf(stderr, "loadgen: unknown mode %s\n", optarg); return 2; }
			break;
		default:
			fprintf(stderr, "usage: loadgen -p PORT [-h HOST] [-c CONNS] [-d DEPTH] "
			    "[-m iamat|whatsat|mixed|set|echo] [-i IDS] [-t SECONDS | -n COUNT] "
			    "[-w WARMUP] [-r RATE] [-g] [-b BASE]\n");
			return 2;
		}
	}
	if (port <= 0 || conns == 0 || lg.depth == 0 || lg.ids == 0) {
		fprintf(stderr, "loadgen: -p PORT is required; -c, -d, -i at least 1\n");
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < conns + 64) {
		rl.rlim_cur = rl.rlim_max < conns + 64 ? rl.rlim_max : conns + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "loadgen: %s is not an IPv4 address\n", host);
		return 2;
	}
	lg.hist = calloc(LG_HIST_US + 1, sizeof(*lg.hist));
	cs = calloc(conns, sizeof(*cs));
	ep = epoll_create1(0);
	if (lg.hist == NULL || cs == NULL || ep < 0)
		die("loadgen: setup");
	connect_start = now_ns();
	for (unsigned i = 0; i < conns; i++) {
		struct lg_conn *c = &cs[i];
		int one = 1;

		c->fd = socket(AF_INET, SOCK_STREAM, 0);
		if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			die("loadgen: connect");
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		fcntl(c->fd, F_SETFL, O_NONBLOCK);
		c->in = malloc(LG_BUF);
		c->out = malloc(LG_BUF);
		c->sent_ns = calloc(lg.depth, sizeof(*c->sent_ns));
		c->multi = calloc(lg.depth, sizeof(*c->multi));
		if (c->in == NULL || c->out == NULL || c->sent_ns == NULL || c->multi == NULL)
			die("loadgen: memory");
		ev.events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
			die("loadgen: epoll_ctl");
	}
	lg.start_ns = now_ns();
	for (unsigned i = 0; i < conns; i++) {
		for (unsigned k = 0; k < lg.depth && (lg.rate <= 0 || k == 0); k++)
			lg_request(&cs[i]);
		if (!lg_flush(&cs[i]))
			die("loadgen: write");
	}
	start = now_ns();
	measure_from = start + (uint64_t)(warmup * 1e9);
	stop_at = measure_from + (uint64_t)(seconds * 1e9);
	lg.measuring = warmup <= 0;
	for (;;) {
		int n = epoll_wait(ep, events, 256, lg.rate > 0 ? 1 : 100);
		uint64_t now;

		for (int i = 0; i < n; i++) {
			if (!lg_read(events[i].data.ptr)) {
				fprintf(stderr, "loadgen: the server closed a connection\n");
				return 1;
			}
		}
		now = now_ns();
		/* Paced: connections with a free slot take the requests now due. */
		for (unsigned i = 0; lg.rate > 0 && i < conns && lg_may_send(now); i++) {
			if (cs[i].count < lg.depth) {
				lg_request(&cs[i]);
				if (!lg_flush(&cs[i]))
					die("loadgen: write");
				i--;
			}
		}
		if (!lg.measuring && now >= measure_from) {
			lg.measuring = true;
			measure_from = now;
			stop_at = now + (uint64_t)(seconds * 1e9);
		}
		if (lg.measuring && (count > 0 ? lg.done >= count : now >= stop_at))
			break;
	}
	for (unsigned i = 0; i < conns; i++)
		silent += cs[i].replies == 0;
	{
		double elapsed = (double)(now_ns() - measure_from) / 1e9;

		printf("requests=%llu seconds=%.3f rps=%.0f p50_us=%llu p99_us=%llu p999_us=%llu "
		    "max_us=%llu errors=%llu connect_s=%.3f silent=%llu\n",
		    (unsigned long long)lg.done, elapsed,
		    (double)lg.done / elapsed, (unsigned long long)lg_percentile(0.5),
		    (unsigned long long)lg_percentile(0.99),
		    (unsigned long long)lg_percentile(0.999),
		    (unsigned long long)lg.max_us, (unsigned long long)lg.errors,
		    (double)(start - connect_start) / 1e9, (unsigned long long)silent);
	}
	return 0;
}
