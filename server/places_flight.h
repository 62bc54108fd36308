/*
 * Inside the Places client: a flight (one upstream call and the searches waiting on it)
 * as places.c (searches, coalescing, the deadline, handing answers out) and
 * places_call.c (the HTTPS request itself) share it. Not for use outside them.
 */
#ifndef HERD_PLACES_FLIGHT_H
#define HERD_PLACES_FLIGHT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/http.h>
#include <openssl/ssl.h>

#include "config.h"
#include "places.h"

#define PLACES_BODY_MAX (1024 * 1024)      /* bytes of an answer; Google's are ~30 KB */
#define PLACES_HEADERS_MAX (64 * 1024)
#define FLIGHT_KEY_MAX 160
#define FLIGHT_ERROR_MAX 320

struct places_wait {
	TAILQ_ENTRY(places_wait) entry;
	struct flight *flight;
	size_t bound;
	places_done_cb done;
	void *arg;
};

struct flight {
	TAILQ_ENTRY(flight) entry;
	struct places *places;
	uint64_t id;
	char key[FLIGHT_KEY_MAX];
	bool listed;                      /* in places->flights, so new searches may join */
	bool upstream;                    /* a request was sent: counts, latency, log */
	bool done;                        /* the outcome is known; the timer hands it out */
	bool handing_out;
	struct evhttp_connection *conn;
	struct places_filter *filter;
	struct event *timer;
	struct timespec started;
	int http_code;
	bool feeding;                     /* the body goes through the filter */
	bool have_http_error;
	enum evhttp_request_error http_error;
	long verify_error;                /* X509_V_ERR_* of the handshake, from tls.c */
	char error[FLIGHT_ERROR_MAX];     /* set: the call failed */
	TAILQ_HEAD(, places_wait) waiters;
	size_t nwaiters;
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
	int family;
	char *path;                       /* path and query of places_url */
	bool path_has_query;
	struct evbuffer *uri;             /* reused to build request URIs */
	struct evbuffer *log_url;         /* reused to build the redacted URL for logs */
	TAILQ_HEAD(, flight) flights;
	size_t nflights;
	size_t max_flights;               /* places_max_requests */
	uint64_t next_flight_id;
};

const char *places_api_name(enum places_api api);

/* Ends the flight with ERROR, answered from the loop soon; later outcomes are ignored. */
void flight_fail(struct flight *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The upstream call is over and the filter holds the answer: hand it out soon. */
void flight_succeed(struct flight *f);

/* Opens the TLS connection and sends REQ's request (places_call.c); failures end F. */
void flight_start(struct flight *f, const struct places_request *req);

#endif
