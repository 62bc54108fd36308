/* Binding the node's listening sockets, and accepting on them without spinning. */
#include "listen.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "herdd.h"
#include "log.h"
#include "ratelimit.h"
#include "stats.h"
#include "xmalloc.h"

/* Listeners still waiting for a DNS answer, and who wants to know when none are. */
static unsigned listen_pending;
static void (*listen_bound_cb)(void);

struct listen_lookup {
	char what[32];
	char text[300];
	listen_ready_cb ready;
	void *arg;
};

/* Creates a listening socket on SA or dies with WHAT and TEXT in the message. */
static evutil_socket_t listen_bind(const struct sockaddr *sa, socklen_t salen,
    const char *what, const char *text)
{
	evutil_socket_t fd = socket(sa->sa_family, SOCK_STREAM, 0);

	if (fd < 0)
		fatal("event=listen_failed what=%s address=%s", what, text);
	if (evutil_make_listen_socket_reuseable(fd) < 0 || evutil_make_socket_nonblocking(fd) < 0 ||
	    evutil_make_socket_closeonexec(fd) < 0)
		fatal("event=listen_failed what=%s address=%s", what, text);
	if (bind(fd, sa, salen) < 0)
		fatal("event=listen_failed what=%s address=%s step=bind", what, text);
	/* The kernel's most (it caps this at net.core.somaxconn): a burst of connects waits. */
	if (listen(fd, INT_MAX) < 0)
		fatal("event=listen_failed what=%s address=%s step=listen", what, text);
	log_info("event=listening what=%s address=%s", what, text);
	return fd;
}

/* Finishes a DNS-named listener once evdns has answered. */
static void listen_resolved(int result, struct evutil_addrinfo *ai, void *arg)
{
	struct listen_lookup *lookup = arg;
	evutil_socket_t fd;

	if (result != 0 || ai == NULL)
		fatalx("event=listen_failed what=%s address=%s step=resolve error=\"%s\"",
		    lookup->what, lookup->text, evutil_gai_strerror(result));
	fd = listen_bind(ai->ai_addr, (socklen_t)ai->ai_addrlen, lookup->what, lookup->text);
	evutil_freeaddrinfo(ai);
	lookup->ready(fd, lookup->arg);
	free(lookup);
	if (--listen_pending == 0 && listen_bound_cb != NULL)
		listen_bound_cb();
}

void listen_when_bound(void (*done)(void))
{
	if (listen_pending == 0)
		done();
	else
		listen_bound_cb = done;
}

void listen_start(const struct config_addr *addr, const char *what, listen_ready_cb ready,
    void *arg)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	char text[300], port[8];
	struct evutil_addrinfo hints;
	struct listen_lookup *lookup;

	config_addr_format(addr, text, sizeof(text));
	if (addr->kind != ADDR_NAME) {
		/* evutil_parse_sockaddr_port wants brackets around IPv6, as the file has. */
		memset(&ss, 0, sizeof(ss));
		if (evutil_parse_sockaddr_port(text, (struct sockaddr *)&ss, &sslen) < 0)
			fatalx("event=listen_failed what=%s address=%s step=parse", what, text);
		ready(listen_bind((struct sockaddr *)&ss, (socklen_t)sslen, what, text), arg);
		return;
	}
	lookup = xcalloc(1, sizeof(*lookup));
	snprintf(lookup->what, sizeof(lookup->what), "%s", what);
	snprintf(lookup->text, sizeof(lookup->text), "%s", text);
	lookup->ready = ready;
	lookup->arg = arg;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_ADDRCONFIG;
	snprintf(port, sizeof(port), "%u", addr->port);
	listen_pending++;
	evdns_getaddrinfo(herdd.dns, addr->host, port, &hints, listen_resolved, lookup);
}

/* --- accepting ----------------------------------------------------------------------- */

#define ACCEPT_RETRY_MS 1000
/* Connections taken in one pass of the loop: a burst of connects waits its turn behind
 * the connections already open (libevent would accept until the backlog is empty). */
#define ACCEPT_BATCH 64

struct acceptor {
	TAILQ_ENTRY(acceptor) entry;
	struct evconnlistener *listener;
	bool owns_listener;
	char what[32];
	size_t max, open;
	acceptor_cb accepted;
	void *arg;
	struct event *retry;
	struct event *batch_end;   /* runs once the pass's accepts are done */
	size_t batch;              /* connections taken in this pass */
	bool failing;              /* accept failed and has not worked since */
	bool full;                 /* at MAX: not accepting */
	uint64_t paused_ms;        /* when the current pause began */
	struct ratelimit notes;    /* a cap reached and left over and over is noted now and then */
};

/* Every acceptor: the listener's own argument belongs to whoever accepts (evhttp). */
static TAILQ_HEAD(, acceptor) acceptors = TAILQ_HEAD_INITIALIZER(acceptors);

/* Starts or stops accepting as the error pause and the cap say. */
static void acceptor_update(struct acceptor *a)
{
	if (a->full || a->batch >= ACCEPT_BATCH || evtimer_pending(a->retry, NULL))
		evconnlistener_disable(a->listener);
	else
		evconnlistener_enable(a->listener);
}

static void acceptor_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	acceptor_update(arg);
}

/* accept() failed: out of descriptors or memory. Wait rather than spin on it. */
static void acceptor_error_cb(struct evconnlistener *listener, void *arg)
{
	struct timeval pause = { ACCEPT_RETRY_MS / 1000, (ACCEPT_RETRY_MS % 1000) * 1000 };
	int saved = errno;
	struct acceptor *a;

	TAILQ_FOREACH(a, &acceptors, entry) {
		if (a->listener == listener)
			break;
	}
	if (a == NULL)
		fatalx("event=bug where=acceptor_error_cb error=\"unknown listener\"");
	errno = saved;

	if (!a->failing) {
		a->failing = true;
		a->paused_ms = htime_mono_ms();
		stats.accept_pauses++;
		log_warn("event=accept_paused what=%s reason=\"accept failed\" retry_ms=%d "
		    "connections=%zu", a->what, ACCEPT_RETRY_MS, a->open);
	}
	evtimer_add(a->retry, &pause);
	acceptor_update(a);
}

/* A connection got through: a pause for a failing accept is over. */
static void acceptor_working(struct acceptor *a)
{
	if (a->failing) {
		a->failing = false;
		log_info("event=accept_resumed what=%s paused_ms=%llu connections=%zu", a->what,
		    (unsigned long long)(htime_mono_ms() - a->paused_ms), a->open);
	}
}

void acceptor_opened(struct acceptor *a)
{
	uint64_t held_back;

	acceptor_working(a);
	a->open++;
	if (a->max > 0 && a->open >= a->max && !a->full) {
		a->full = true;
		stats.accept_pauses++;
		if (ratelimit_allow(&a->notes, htime_mono_ms(), &held_back))
			log_warnx("event=accept_paused what=%s reason=\"at the connection cap\" "
			    "connections=%zu suppressed=%llu", a->what, a->open,
			    (unsigned long long)held_back);
		acceptor_update(a);
	}
}

void acceptor_closed(struct acceptor *a)
{
	uint64_t held_back;

	a->open--;
	if (a->full && a->open < a->max) {
		a->full = false;
		if (ratelimit_allow(&a->notes, htime_mono_ms(), &held_back))
			log_info("event=accept_resumed what=%s connections=%zu suppressed=%llu",
			    a->what, a->open, (unsigned long long)held_back);
		acceptor_update(a);
	}
}

/* The pass is over: the next one may take another ACCEPT_BATCH. */
static void acceptor_batch_end_cb(evutil_socket_t fd, short what, void *arg)
{
	struct acceptor *a = arg;
	bool paused = a->batch >= ACCEPT_BATCH;

	a->batch = 0;
	if (paused)
		acceptor_update(a);
}

static void acceptor_accept_cb(struct evconnlistener *listener, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct acceptor *a = arg;

	acceptor_working(a);
	if (a->batch++ == 0)
		event_active(a->batch_end, EV_TIMEOUT, 1);
	a->accepted(fd, sa, salen, a->arg);
	if (a->batch == ACCEPT_BATCH)
		acceptor_update(a);
}

struct acceptor *acceptor_new(evutil_socket_t fd, const char *what, size_t max,
    acceptor_cb accepted, void *arg)
{
	struct acceptor *a = xcalloc(1, sizeof(*a));

	snprintf(a->what, sizeof(a->what), "%s", what);
	a->max = max;
	a->accepted = accepted;
	a->arg = arg;
	a->owns_listener = true;
	a->listener = evconnlistener_new(herdd.base, accepted != NULL ? acceptor_accept_cb : NULL,
	    a, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (a->listener == NULL)
		fatal("event=listen_failed what=%s error=\"cannot create listener\"", what);
	a->retry = xcheck(evtimer_new(herdd.base, acceptor_retry_cb, a));
	a->batch_end = xcheck(event_new(herdd.base, -1, 0, acceptor_batch_end_cb, a));
	evconnlistener_set_error_cb(a->listener, acceptor_error_cb);
	TAILQ_INSERT_TAIL(&acceptors, a, entry);
	return a;
}

struct acceptor *acceptor_new_for(evutil_socket_t fd, const char *what, size_t max,
    struct evconnlistener **listener)
{
	struct acceptor *a = acceptor_new(fd, what, max, NULL, NULL);

	a->owns_listener = false;
	*listener = a->listener;
	return a;
}

void acceptor_take_backlog(struct acceptor *a, size_t most)
{
	evutil_socket_t fd = evconnlistener_get_fd(a->listener);
	size_t n = 0;

	while (n < most && !a->full && a->accepted != NULL) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		evutil_socket_t conn = accept(fd, (struct sockaddr *)&ss, &len);

		if (conn < 0)
			break;
		if (evutil_make_socket_nonblocking(conn) < 0 ||
		    evutil_make_socket_closeonexec(conn) < 0) {
			evutil_closesocket(conn);
			continue;
		}
		a->accepted(conn, (struct sockaddr *)&ss, (int)len, a->arg);
		n++;
	}
}

void acceptor_free(struct acceptor *a)
{
	if (a == NULL)
		return;
	TAILQ_REMOVE(&acceptors, a, entry);
	if (a->owns_listener)
		evconnlistener_free(a->listener);
	event_free(a->retry);
	event_free(a->batch_end);
	free(a);
}
