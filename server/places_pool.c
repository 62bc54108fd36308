/*
 * The connections of the Places client: up to places_connections kept-alive HTTP/1.1
 * connections to the Places host, each an evhttp connection over bufferevent_openssl.
 * A flight takes an idle one, or opens a new one, or waits in a queue for one. A new
 * connection goes to one address of the host (looked up with evdns, every address of
 * both families, IPv6 and IPv4 taken in turn) with a short connect timeout; the call
 * tries the next address when it fails (places_call.c). New connections resume the
 * newest TLS session the host gave (a full handshake, verified, when it will not).
 *
 * evhttp must not see its connection freed inside its own callbacks, so a connection
 * closed from one is freed from the loop (pool_event), which then serves the queue.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

#include "config.h"
#include "htime.h"
#include "log.h"
#include "places_flight.h"
#include "stats.h"
#include "tls.h"
#include "util.h"
#include "xmalloc.h"

static void pool_event_cb(evutil_socket_t fd, short what, void *arg);
static void pool_input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg);
static void pool_lookup_done(int result, struct evutil_addrinfo *res, void *arg);

/* Where an SSL keeps its connection, for the info callback. */
static int conn_ex_index = -1;
/* Where a client's SSL_CTX keeps its Places client, for the session callback: after a
 * reload the old and the new client each keep their own sessions (their own CA). */
static int places_ex_index = -1;

/*
 * The handshake went as far as the server's hello: the server is there and speaks TLS,
 * so a failure from now on is not the address's (no next address, README "Transport").
 * The handshake's end counts it, full or resumed.
 */
static void pool_tls_info_cb(const SSL *ssl, int where, int ret)
{
	struct places_conn *pc = SSL_get_ex_data(ssl, conn_ex_index);

	if (pc == NULL)
		return;
	if ((where & SSL_CB_LOOP) && SSL_get_state(ssl) == TLS_ST_CR_SRVR_HELLO)
		pc->spoke = true;
	/* Counted as it completes, whether or not an answer follows on the connection. */
	if ((where & SSL_CB_HANDSHAKE_DONE) && !pc->counted) {
		pc->counted = true;
		if (SSL_session_reused(ssl))
			stats.places_handshakes_resumed++;
		else
			stats.places_handshakes_full++;
	}
}

/*
 * A session ticket came: a copy of the newest is kept for new connections to resume. A
 * copy, since OpenSSL marks a connection's own session not resumable when the connection
 * ends without close_notify, as kept-alive ones closed by either side do.
 */
static int pool_new_session_cb(SSL *ssl, SSL_SESSION *session)
{
	struct places *p = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), places_ex_index);
	SSL_SESSION *copy;

	if (p == NULL || (copy = SSL_SESSION_dup(session)) == NULL)
		return 0;
	if (p->session != NULL)
		SSL_SESSION_free(p->session);
	p->session = copy;
	return 0;
}

/* Sets ADDR as P's one address when the host is numeric. */
static bool pool_numeric_host(struct places *p)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&p->addrs[0];
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&p->addrs[0];

	memset(&p->addrs[0], 0, sizeof(p->addrs[0]));
	if (inet_pton(AF_INET, p->host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, p->host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
	} else {
		return false;
	}
	snprintf(p->addr_text[0], sizeof(p->addr_text[0]), "%s", p->host);
	p->naddrs = 1;
	return true;
}

void pool_init(struct places *p, const struct herd_config *config)
{
	TAILQ_INIT(&p->conns);
	TAILQ_INIT(&p->queue);
	p->max_conns = config->places_connections > 0 ? config->places_connections : 4;
	p->idle_timeout = config->places_idle_timeout > 0 ? config->places_idle_timeout : 30;
	p->pool_event = xcheck(event_new(p->base, -1, 0, pool_event_cb, p));
	p->next_conn_id = 1;
	(void)pool_numeric_host(p);
	if (conn_ex_index < 0)
		conn_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (places_ex_index < 0)
		places_ex_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	/* Client sessions go to the callback only (no internal cache to look them up in). */
	SSL_CTX_set_ex_data(p->tls, places_ex_index, p);
	SSL_CTX_set_session_cache_mode(p->tls, SSL_SESS_CACHE_CLIENT |
	    SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(p->tls, pool_new_session_cb);
}

void pool_nodelay(struct places_conn *pc)
{
	struct bufferevent *bev = pool_bufferevent(pc);
	int one = 1;

	/* TLS records of one request go out at once: no Nagle wait for a delayed ACK. */
	if (bev != NULL && bufferevent_getfd(bev) >= 0)
		(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
}

struct bufferevent *pool_bufferevent(struct places_conn *pc)
{
	return pc->evcon != NULL ? evhttp_connection_get_bufferevent(pc->evcon) : NULL;
}

/* Frees PC, which is closed; a request still on it goes without its callbacks. */
static void pool_free_conn(struct places_conn *pc)
{
	struct places *p = pc->places;
	struct bufferevent *bev = pool_bufferevent(pc);

	TAILQ_REMOVE(&p->conns, pc, entry);
	p->nconns--;
	/* Its bufferevent may outlive it a moment (libevent finalizes it later): nothing of
	 * it points here any more. */
	if (bev != NULL) {
		SSL *ssl = bufferevent_openssl_get_ssl(bev);

		evbuffer_remove_cb(bufferevent_get_input(bev), pool_input_cb, pc);
		if (ssl != NULL)
			SSL_set_ex_data(ssl, conn_ex_index, NULL);
	}
	if (pc->evcon != NULL) {
		evhttp_connection_set_closecb(pc->evcon, NULL, NULL);
		evhttp_connection_free(pc->evcon);
	}
	if (pc->timer != NULL)
		event_free(pc->timer);
	free(pc);
	/* Counted up and down, not set: after a reload two clients hold connections. */
	stats.places_connections--;
}

void pool_close(struct places_conn *pc, const char *reason, bool now)
{
	struct places *p = pc->places;

	if (pc->state != PC_CLOSED) {
		log_info("event=places_connection_close conn=%llu address=%s requests=%u reason=%s",
		    (unsigned long long)pc->id, pc->address[0] != '\0' ? pc->address : "-",
		    pc->requests, log_quote(reason, strlen(reason)));
		pc->state = PC_CLOSED;
		if (pc->flight != NULL && pc->flight->pc == pc)
			pc->flight->pc = NULL;
		pc->flight = NULL;
		if (pc->timer != NULL)
			evtimer_del(pc->timer);
	}
	if (now) {
		pool_free_conn(pc);
		/* A slot is free: a queued flight may take it. */
		if (!TAILQ_EMPTY(&p->queue))
			event_active(p->pool_event, EV_TIMEOUT, 1);
	} else {
		event_active(p->pool_event, EV_TIMEOUT, 1);
	}
}

/* evhttp closed PC (the server hung up, or an error): it is not used again. */
static void pool_closed_cb(struct evhttp_connection *evcon, void *arg)
{
	struct places_conn *pc = arg;

	/* A request on it hears of the failure from evhttp itself (places_call.c); one that
	 * was answered with Connection: close sees the close first (pool_release). */
	pc->peer_closed = true;
	if (pc->state == PC_IDLE)
		pool_close(pc, "closed by Places", false);
}

/*
 * PC's timer: an idle connection retires. A new one has PLACES_CONNECT_TIMEOUT_MS for its
 * TCP connect, and as long again for the server's TLS hello, before the flight takes the
 * next address (at the last address, the flight's deadline ends the wait).
 */
static void pool_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct places_conn *pc = arg;
	struct places *p = pc->places;
	struct bufferevent *bev = pool_bufferevent(pc);
	struct flight *f = pc->flight;

	/* Outside evhttp's callbacks: PC (and this timer) can go at once. */
	if (pc->state == PC_IDLE) {
		pool_close(pc, "idle for places_idle_timeout", true);
		event_active(p->pool_event, EV_TIMEOUT, 1);
		return;
	}
	if (pc->state != PC_BUSY || pc->spoke || f == NULL)
		return;
	if (!pc->tcp_up && bev != NULL && socket_connected(bufferevent_getfd(bev))) {
		struct timeval hello_limit = { PLACES_CONNECT_TIMEOUT_MS / 1000,
		    (PLACES_CONNECT_TIMEOUT_MS % 1000) * 1000 };

		pc->tcp_up = true;
		evtimer_add(pc->timer, &hello_limit);
		return;
	}
	if (pc->tcp_up && f->addr_tries + 1 >= p->naddrs)
		return;
	pool_close(pc, pc->tcp_up ? "no TLS hello in time" : "connect timed out", true);
	flight_connect_failed(f, NULL);
}

/* A byte of an answer came: the server may have acted on the request, which is not
 * sent again (places_call.c's retry rule), however the answer ends. */
static void pool_input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct places_conn *pc = arg;

	(void)buf;
	if (info->n_added > 0 && pc->state == PC_BUSY && pc->flight != NULL)
		pc->flight->answered = true;
}

/* Connects PC (for its flight) to the address the flight tries next, and sends. */
static void pool_connect(struct places_conn *pc)
{
	struct places *p = pc->places;
	struct flight *f = pc->flight;
	struct timeval connect_limit = { PLACES_CONNECT_TIMEOUT_MS / 1000,
	    (PLACES_CONNECT_TIMEOUT_MS % 1000) * 1000 };
	size_t i = (p->addr_good + f->addr_tries) % p->naddrs;
	struct bufferevent *bev;
	SSL *ssl;

	pc->addr_index = i;
	snprintf(pc->address, sizeof(pc->address), "%s", p->addr_text[i]);
	/* SNI and the certificate's name are the host's, whichever address this is. */
	ssl = tls_client_new(p->tls, p->host, &pc->verify_error);
	if (ssl == NULL) {
		pool_close(pc, "cannot set up TLS", false);
		flight_fail(f, "cannot set up TLS for %s", p->host);
		return;
	}
	/* Its own copy: a connection that ends without close_notify spoils its session. */
	if (p->session != NULL) {
		SSL_SESSION *mine = SSL_SESSION_dup(p->session);

		if (mine != NULL) {
			(void)SSL_set_session(ssl, mine);
			SSL_SESSION_free(mine);
		}
	}
	SSL_set_ex_data(ssl, conn_ex_index, pc);
	SSL_set_info_callback(ssl, pool_tls_info_cb);
	bev = xcheck(bufferevent_openssl_socket_new(p->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS));
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	/* A numeric address: evhttp connects to it without a lookup of its own. */
	pc->evcon = xcheck(evhttp_connection_base_bufferevent_new(p->base, NULL, bev,
	    pc->address, (unsigned short)p->port));
	/*
	 * A backstop only: the flight's own deadline ends a request first, and the idle timer
	 * an idle connection (evhttp keeps this timeout on it while it watches for a close).
	 */
	evhttp_connection_set_timeout(pc->evcon, (p->timeout > p->idle_timeout ? p->timeout :
	    p->idle_timeout) + 1);
	evhttp_connection_set_max_body_size(pc->evcon, PLACES_BODY_MAX);
	evhttp_connection_set_max_headers_size(pc->evcon, PLACES_HEADERS_MAX);
	evhttp_connection_set_closecb(pc->evcon, pool_closed_cb, pc);
	evbuffer_add_cb(bufferevent_get_input(bev), pool_input_cb, pc);
	pc->state = PC_BUSY;
	stats.places_connections_opened++;
	log_info("event=places_connection_open conn=%llu address=%s port=%d resume=%s",
	    (unsigned long long)pc->id, pc->address, p->port, p->session != NULL ? "yes" : "no");
	evtimer_add(pc->timer, &connect_limit);
	flight_send(f, pc);
}

/* A new connection for F (PC_RESOLVING until the host's addresses are known). */
static struct places_conn *pool_new_conn(struct places *p, struct flight *f)
{
	struct places_conn *pc = xcalloc(1, sizeof(*pc));

	pc->places = p;
	pc->id = p->next_conn_id++;
	pc->timer = xcheck(evtimer_new(p->base, pool_timer_cb, pc));
	pc->flight = f;
	pc->state = PC_RESOLVING;
	f->pc = pc;
	TAILQ_INSERT_TAIL(&p->conns, pc, entry);
	p->nconns++;
	stats.places_connections++;
	return pc;
}

/* Looks the host up (once for every connection waiting on it). */
static void pool_lookup(struct places *p)
{
	struct evutil_addrinfo hints;
	char port[8];
	struct evdns_getaddrinfo_request *req;

	if (p->resolving)
		return;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	snprintf(port, sizeof(port), "%d", p->port);
	/* The callback may run before this returns (a cached or failed lookup). */
	p->resolving = true;
	req = evdns_getaddrinfo(p->dns, p->host, port, &hints, pool_lookup_done, p);
	if (p->resolving)
		p->lookup = req;
}

/*
 * The host's addresses: IPv6 and IPv4 taken in turn, IPv6 first (RFC 8305's order), at
 * most PLACES_ADDRS_MAX. Connections waiting for them connect; on failure their flights
 * fail.
 */
static void pool_lookup_done(int result, struct evutil_addrinfo *res, void *arg)
{
	struct places *p = arg;
	const struct evutil_addrinfo *v6 = NULL, *v4 = NULL, *ai;
	struct places_conn *pc, *next;
	size_t n = 0;

	if (result == EVUTIL_EAI_CANCEL)
		return;
	p->lookup = NULL;
	p->resolving = false;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET6 && v6 == NULL)
			v6 = ai;
		if (ai->ai_family == AF_INET && v4 == NULL)
			v4 = ai;
	}
	while (n < PLACES_ADDRS_MAX && (v6 != NULL || v4 != NULL)) {
		const struct evutil_addrinfo **take = v6 != NULL && (n % 2 == 0 || v4 == NULL) ?
		    &v6 : &v4;
		const struct evutil_addrinfo *a = *take;

		if (a->ai_addrlen <= sizeof(p->addrs[n])) {
			memcpy(&p->addrs[n], a->ai_addr, a->ai_addrlen);
			/* evhttp takes the bare address (no brackets, no port). */
			evutil_inet_ntop(a->ai_family, a->ai_family == AF_INET6 ?
			    (const void *)&((const struct sockaddr_in6 *)a->ai_addr)->sin6_addr :
			    (const void *)&((const struct sockaddr_in *)a->ai_addr)->sin_addr,
			    p->addr_text[n], sizeof(p->addr_text[n]));
			n++;
		}
		for (ai = a->ai_next; ai != NULL && ai->ai_family != a->ai_family; ai = ai->ai_next)
			;
		*take = ai;
	}
	if (res != NULL)
		evutil_freeaddrinfo(res);
	p->naddrs = n;
	p->addr_good = 0;
	p->addrs_at_ms = htime_mono_ms();
	if (n > 0)
		log_info("event=places_resolved host=%s addresses=%zu first=%s",
		    log_quote(p->host, strlen(p->host)), n, p->addr_text[0]);
	for (pc = TAILQ_FIRST(&p->conns); pc != NULL; pc = next) {
		struct flight *f = pc->flight;

		next = TAILQ_NEXT(pc, entry);
		if (pc->state != PC_RESOLVING)
			continue;
		if (n == 0) {
			pool_close(pc, "no address", false);
			flight_fail(f, "cannot resolve %s: %s", p->host, result != 0 ?
			    evutil_gai_strerror(result) : "no address");
			continue;
		}
		pool_connect(pc);
	}
}

void pool_open(struct places *p, struct flight *f)
{
	struct places_conn *pc = pool_new_conn(p, f);
	bool numeric = p->addrs_at_ms == 0 && p->naddrs > 0;

	if (numeric || (p->naddrs > 0 && htime_mono_ms() - p->addrs_at_ms < PLACES_ADDRS_TTL_MS))
		pool_connect(pc);
	else
		pool_lookup(p);
}

/* Puts F's request on the idle connection PC. */
static void pool_reuse(struct places_conn *pc, struct flight *f)
{
	evtimer_del(pc->timer);
	pc->state = PC_BUSY;
	pc->flight = f;
	f->pc = pc;
	stats.places_requests_reused++;
	flight_send(f, pc);
}

/* When REQUESTER's last flight took a connection (0: not lately). */
static uint64_t pool_turn_of(const struct places *p, uint64_t requester)
{
	for (size_t i = 0; i < PLACES_TURNS; i++) {
		if (p->turns[i].turn != 0 && p->turns[i].requester == requester)
			return p->turns[i].turn;
	}
	return 0;
}

/* A flight of REQUESTER's takes a connection now: its slot, or the oldest one's. */
static void pool_take_turn(struct places *p, uint64_t requester)
{
	size_t at = 0;

	for (size_t i = 0; i < PLACES_TURNS; i++) {
		if (p->turns[i].requester == requester) {
			at = i;
			break;
		}
		if (p->turns[i].turn < p->turns[at].turn)
			at = i;
	}
	p->turns[at].requester = requester;
	p->turns[at].turn = ++p->turn;
}

/* Gives F an idle connection, a new one, or its place at the end of the queue. */
static void pool_take(struct places *p, struct flight *f)
{
	struct places_conn *pc;

	TAILQ_FOREACH(pc, &p->conns, entry) {
		if (pc->state == PC_IDLE) {
			pool_take_turn(p, f->requester);
			pool_reuse(pc, f);
			return;
		}
	}
	if (p->nconns < p->max_conns) {
		pool_take_turn(p, f->requester);
		pool_open(p, f);
		return;
	}
	f->queued = true;
	f->queued_turn = p->turn;
	TAILQ_INSERT_TAIL(&p->queue, f, queue_entry);
}

void pool_acquire(struct places *p, struct flight *f)
{
	/* While others wait, F waits with them, for its turn (pool_next_queued). */
	if (!TAILQ_EMPTY(&p->queue)) {
		f->queued = true;
		f->queued_turn = p->turn;
		TAILQ_INSERT_TAIL(&p->queue, f, queue_entry);
		event_active(p->pool_event, EV_TIMEOUT, 1);
		return;
	}
	pool_take(p, f);
}

void pool_release(struct places_conn *pc)
{
	struct places *p = pc->places;
	struct timeval idle = { p->idle_timeout, 0 };

	if (pc->flight != NULL && pc->flight->pc == pc)
		pc->flight->pc = NULL;
	pc->flight = NULL;
	if (pc->state == PC_CLOSED)
		return;
	p->addr_good = pc->addr_index;
	if (pc->peer_closed) {
		pool_close(pc, "closed by Places", false);
		return;
	}
	/* Bytes beyond the answer (a second answer, a body a 204 should not have) would be
	 * taken for the next request's answer. */
	if (evbuffer_get_length(bufferevent_get_input(pool_bufferevent(pc))) > 0) {
		pool_close(pc, "bytes after the answer", false);
		return;
	}
	pc->state = PC_IDLE;
	evtimer_add(pc->timer, &idle);
	/* The next queued flight takes it from the loop, not inside evhttp's callback. */
	if (!TAILQ_EMPTY(&p->queue))
		event_active(p->pool_event, EV_TIMEOUT, 1);
}

void pool_forget(struct flight *f)
{
	struct places *p = f->places;

	if (f->queued) {
		TAILQ_REMOVE(&p->queue, f, queue_entry);
		f->queued = false;
	}
	if (f->pc != NULL) {
		struct places_conn *pc = f->pc;

		f->pc = NULL;
		pc->flight = NULL;
		/* Its request is cut short: the connection cannot carry another. */
		if (pc->state == PC_BUSY || pc->state == PC_RESOLVING)
			pool_close(pc, "the search ended first", true);
	}
}

/*
 * The queued flight to go next. Each of the oldest PLACES_TURNS is due the turn after its
 * client's last, or at the turn it was queued if that is later (a client new to the
 * queue does not go before those that waited); the earliest due goes, the oldest of
 * equals. A client that pipelines many searches gets one turn in each round: first
 * come, first served let one connection keep the others waiting past places_timeout.
 */
static struct flight *pool_next_queued(struct places *p)
{
	struct flight *f, *best = NULL;
	uint64_t best_due = UINT64_MAX;
	size_t looked = 0;

	TAILQ_FOREACH(f, &p->queue, queue_entry) {
		uint64_t after = pool_turn_of(p, f->requester) + 1;
		uint64_t due = after > f->queued_turn ? after : f->queued_turn;

		if (due < best_due) {
			best = f;
			best_due = due;
		}
		if (++looked == PLACES_TURNS)
			break;
	}
	return best;
}

/* Frees closed connections, then gives free connections and slots to queued flights. */
static void pool_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct places *p = arg;
	struct places_conn *pc, *next;
	struct flight *f;

	for (pc = TAILQ_FIRST(&p->conns); pc != NULL; pc = next) {
		next = TAILQ_NEXT(pc, entry);
		if (pc->state == PC_CLOSED)
			pool_free_conn(pc);
	}
	while (!TAILQ_EMPTY(&p->queue)) {
		bool idle = false;

		TAILQ_FOREACH(pc, &p->conns, entry)
			idle = idle || pc->state == PC_IDLE;
		if (!idle && p->nconns >= p->max_conns)
			break;
		f = pool_next_queued(p);
		TAILQ_REMOVE(&p->queue, f, queue_entry);
		f->queued = false;
		pool_take(p, f);
	}
}

void pool_free(struct places *p)
{
	struct places_conn *pc;

	if (p->lookup != NULL)
		evdns_getaddrinfo_cancel(p->lookup);
	while ((pc = TAILQ_FIRST(&p->conns)) != NULL) {
		pc->state = PC_CLOSED;
		pool_free_conn(pc);
	}
	if (p->pool_event != NULL)
		event_free(p->pool_event);
	if (p->session != NULL)
		SSL_SESSION_free(p->session);
	p->session = NULL;
	if (p->tls != NULL && places_ex_index >= 0)
		SSL_CTX_set_ex_data(p->tls, places_ex_index, NULL);
}
