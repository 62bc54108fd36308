/*
 * Inside the Places client: a flight (one upstream call and the searches waiting on it)
 * as places.c (searches, coalescing, the deadline, handing answers out), places_call.c
 * (the HTTPS request itself, its retry) and places_pool.c (the kept-alive connections it
 * goes on, the host's addresses, TLS sessions) share it. Not for use outside them.
 */
#ifndef HERD_PLACES_FLIGHT_H
#define HERD_PLACES_FLIGHT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/http.h>
#include <openssl/ssl.h>

#include "config.h"
#include "places.h"

#define PLACES_BODY_MAX (1024 * 1024)      /* bytes of an answer; Google's are ~30 KB */
#define PLACES_HEADERS_MAX (64 * 1024)
#define PLACES_SPARE_FILTERS 8             /* filters kept for the next flights... */
#define PLACES_SPARE_FILTER_BYTES (512 * 1024)   /* ...when their buffers are this small */
#define FLIGHT_KEY_MAX 160
#define FLIGHT_ERROR_MAX 320
#define PLACES_ADDRS_MAX 8                 /* addresses of the host tried, in turn */
#define PLACES_CONNECT_TIMEOUT_MS 1000     /* one address's TCP connect, and its TLS hello */
#define PLACES_ADDRS_TTL_MS 60000          /* a name is looked up again after this */

struct places_wait {
	TAILQ_ENTRY(places_wait) entry;
	struct flight *flight;
	size_t bound;
	places_done_cb done;
	void *arg;
};

/* Clients remembered for the queue's turns: more than take turns at once. */
#define PLACES_TURNS 64

struct flight {
	TAILQ_ENTRY(flight) entry;
	struct places *places;
	uint64_t id;
	char key[FLIGHT_KEY_MAX];
	bool listed;                      /* in places->flights, so new searches may join */
	bool upstream;                    /* a request was sent: counts, latency, log */
	bool done;                        /* the outcome is known; the timer hands it out */
	bool handing_out;
	/* What the request is made of, kept for a retry on another connection. */
	char *latitude, *longitude, *radius_metres;
	int bound;
	uint64_t requester;               /* the client connection that asked first */
	uint64_t queued_turn;             /* places->turn when it was queued */
	struct places_conn *pc;           /* the connection it is on (or opening), if any */
	TAILQ_ENTRY(flight) queue_entry;  /* in places->queue while it waits for one */
	bool queued;
	bool answered;                    /* a byte of its answer came: it is not retried */
	bool retried;                     /* once, after a reused connection failed under it */
	size_t addr_tries;                /* addresses its fresh connections tried before */
	struct places_filter *filter;
	struct event *timer;
	struct timespec started;
	int http_code;
	bool feeding;                     /* the body goes through the filter */
	bool have_http_error;
	enum evhttp_request_error http_error;
	char error[FLIGHT_ERROR_MAX];     /* set: the call failed */
	TAILQ_HEAD(, places_wait) waiters;
	size_t nwaiters;
};

/* A connection to the Places host, kept alive between requests (places_pool.c). */
enum places_conn_state {
	PC_RESOLVING,                     /* waiting for the host's addresses */
	PC_BUSY,                          /* a request is on it (or it is connecting for one) */
	PC_IDLE,                          /* kept for the next request */
	PC_CLOSED,                        /* done with: freed from the loop */
};

struct places_conn {
	TAILQ_ENTRY(places_conn) entry;   /* in places->conns */
	struct places *places;
	uint64_t id;
	enum places_conn_state state;
	struct evhttp_connection *evcon;
	struct flight *flight;            /* PC_RESOLVING, PC_BUSY: the flight it serves */
	struct event *timer;              /* PC_BUSY: connect, then hello limit; PC_IDLE: idle */
	long verify_error;                /* X509_V_ERR_* of its handshake, from tls.c */
	char address[INET6_ADDRSTRLEN];   /* the address it connects to */
	unsigned requests;                /* requests sent on it */
	size_t addr_index;                /* of places->addrs */
	bool tcp_up;                      /* its TCP connect completed */
	bool spoke;                       /* the server spoke: its TLS hello, or an answer */
	bool peer_closed;                 /* evhttp saw it close (even while busy) */
	bool counted;                     /* its handshake is in the counters */
};

struct places {
	struct event_base *base;
	struct evdns_base *dns;
	enum places_api api;
	int timeout;
	SSL_CTX *tls;
	char *key;                        /* NULL: none configured */
	char *key_encoded;                /* the key as a URL query value */
	char *host;                       /* without IPv6 brackets */
	char *host_header;                /* as the Host header wants it */
	int port;
	char *path;                       /* path and query of places_url */
	bool path_has_query;
	struct evbuffer *uri;             /* reused to build request URIs */
	struct evbuffer *log_url;         /* reused to build the redacted URL for logs */
	TAILQ_HEAD(, flight) flights;
	size_t nflights;
	size_t max_flights;               /* places_max_requests */
	uint64_t next_flight_id;
	/* The connection pool (places_pool.c). */
	TAILQ_HEAD(, places_conn) conns;
	size_t nconns, max_conns;         /* places_connections */
	int idle_timeout;                 /* places_idle_timeout, seconds */
	TAILQ_HEAD(, flight) queue;       /* flights waiting for a connection, in order */
	/* The clients whose queued flights went last, and when (pool_next_queued). */
	struct places_turn {
		uint64_t requester;
		uint64_t turn;
	} turns[PLACES_TURNS];
	uint64_t turn;
	struct event *pool_event;         /* frees closed connections, serves the queue */
	uint64_t next_conn_id;
	struct sockaddr_storage addrs[PLACES_ADDRS_MAX];   /* the host's, in the order tried */
	char addr_text[PLACES_ADDRS_MAX][INET6_ADDRSTRLEN];
	size_t naddrs;
	size_t addr_good;                 /* the address that answered last: tried first */
	uint64_t addrs_at_ms;             /* when they were looked up (0: a numeric host) */
	struct evdns_getaddrinfo_request *lookup;
	bool resolving;
	SSL_SESSION *session;             /* the newest, to resume on a new connection */
	struct places_filter *spare[PLACES_SPARE_FILTERS];   /* reused with their buffers */
	size_t nspare;
	bool retired;                     /* a reload replaced it: freed after its last flight */
	TAILQ_ENTRY(places) retired_entry;
};

const char *places_api_name(enum places_api api);

/* Ends the flight with ERROR, answered from the loop soon; later outcomes are ignored. */
void flight_fail(struct flight *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The upstream call is over and the filter holds the answer: hand it out soon. */
void flight_succeed(struct flight *f);

/* Sends REQ's request on a pooled connection (places_call.c); failures end F. */
void flight_start(struct flight *f, const struct places_request *req);
/* Sends F's request on PC, fresh or reused (places_call.c). */
void flight_send(struct flight *f, struct places_conn *pc);
/* PC, opened for F, could not connect: the next address, or F fails (places_call.c). */
void flight_connect_failed(struct flight *f, struct places_conn *pc);

/* The pool (places_pool.c). Sets up P's pool from CONFIG; false on a bad numeric host. */
void pool_init(struct places *p, const struct herd_config *config);
void pool_free(struct places *p);
/* F wants a connection: an idle one now, a new one, or it waits in the queue. */
void pool_acquire(struct places *p, struct flight *f);
/* F wants a fresh connection (a retry, the next address), even past the pool's size. */
void pool_open(struct places *p, struct flight *f);
/* F's request on PC is over and PC may be kept: idle, or the next queued flight's. */
void pool_release(struct places_conn *pc);
/*
 * Ends PC. NOW: free it at once (only outside libevent's callbacks for it); else from
 * the loop. A request still on it ends without its callbacks.
 */
void pool_close(struct places_conn *pc, const char *reason, bool now);
/* F ends: out of the queue, and off its connection (closed if its request was on). */
void pool_forget(struct flight *f);
/* Sets TCP_NODELAY on PC's socket, once it has one (its connect is under way). */
void pool_nodelay(struct places_conn *pc);
/* The bufferevent of PC (for the TLS session and errors). */
struct bufferevent *pool_bufferevent(struct places_conn *pc);

#endif
