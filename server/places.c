/*
 * The Places client: evhttp over bufferevent_openssl with the node's evdns base.
 *
 * A WHATSAT becomes a waiter on a flight, one upstream call. Identical searches in
 * flight at once wait on the same flight: same location text and radius, and for the
 * new API the same maxResultCount (the bound). A legacy call does not depend on the
 * bound, so its flight keeps up to 20 results and each waiter gets its own trim.
 *
 * A flight's timer first carries the whole-request deadline, then hands the result
 * out from the loop: waiters are never answered from inside places_search() or from
 * inside an evhttp callback, and the connection is freed outside evhttp too.
 */
#include "places.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "config.h"
#include "log.h"
#include "secret.h"
#include "places_filter.h"
#include "places_json.h"
#include "stats.h"
#include "tls.h"

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

static void flight_timer_cb(evutil_socket_t fd, short what, void *arg);

static const char *places_api_name(enum places_api api)
{
	return api == PLACES_API_NEW ? "new" : "legacy";
}

/* Seconds since START on the monotonic clock. */
static double seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* --- start-up ------------------------------------------------------------------------ */

/* True when KEY can go into a URL query and an HTTP header as it is. */
static bool places_key_valid(const char *key)
{
	if (*key == '\0')
		return false;
	for (const char *c = key; *c != '\0'; c++) {
		if (*c <= ' ' || *c > '~')
			return false;
	}
	return true;
}

/*
 * The API key: a systemd credential places.key or places_key_file (read once, at
 * start-up), else HERD_PLACES_KEY, else NULL. A configured file that cannot be used
 * stops the node: the operator asked for it.
 */
static char *places_load_key(const struct herd_config *config)
{
	char buf[SECRET_MAX + 1], source[4096];
	const char *path = secret_source(config->places_key_file, "places.key", source,
	    sizeof(source));
	const char *key = getenv("HERD_PLACES_KEY");
	size_t start = 0;

	if (path != NULL) {
		secret_read("places_key_file", path, buf);
		while (buf[start] == ' ' || buf[start] == '\t')
			start++;
		key = buf + start;
		if (!places_key_valid(key))
			fatalx("event=startup_failed what=places_key_file error=\"not one word "
			    "of printable ASCII\"");
	} else if (key == NULL || *key == '\0') {
		return NULL;
	} else if (!places_key_valid(key)) {
		fatalx("event=startup_failed what=HERD_PLACES_KEY error=\"not one word of "
		    "printable ASCII\"");
	}
	return strdup(key);
}

/* Splits places_url into what a connection and a request need. */
static void places_parse_url(struct places *p, const char *url)
{
	struct evhttp_uri *uri = evhttp_uri_parse(url);
	const char *host, *path, *query;
	size_t hostlen;
	char header[300];

	if (uri == NULL || (host = evhttp_uri_get_host(uri)) == NULL || *host == '\0')
		fatalx("event=startup_failed what=places_url error=\"cannot parse\" url=%s",
		    log_quote(url, strlen(url)));
	hostlen = strlen(host);
	if (host[0] == '[' && hostlen > 2 && host[hostlen - 1] == ']') {
		p->host = strndup(host + 1, hostlen - 2);
		p->family = AF_INET6;
	} else {
		p->host = strdup(host);
		/* evhttp tries only the first address a name has: prefer the IPv4 ones. */
		p->family = AF_INET;
	}
	p->port = evhttp_uri_get_port(uri) > 0 ? evhttp_uri_get_port(uri) : 443;
	if (p->port == 443)
		snprintf(header, sizeof(header), "%s", host);
	else
		snprintf(header, sizeof(header), "%s:%d", host, p->port);
	path = evhttp_uri_get_path(uri);
	query = evhttp_uri_get_query(uri);
	if (path == NULL || *path == '\0')
		path = "/";
	p->host_header = strdup(header);
	p->path_has_query = query != NULL && *query != '\0';
	if (p->path_has_query) {
		p->path = malloc(strlen(path) + strlen(query) + 2);
		if (p->path != NULL)
			sprintf(p->path, "%s?%s", path, query);
	} else {
		p->path = strdup(path);
	}
	evhttp_uri_free(uri);
	if (p->host == NULL || p->host_header == NULL || p->path == NULL)
		fatalx("event=startup_failed error=\"out of memory\"");
}

struct places *places_new(struct event_base *base, struct evdns_base *dns,
    const struct herd_config *config)
{
	struct places *p = calloc(1, sizeof(*p));
	char why[512];

	if (p == NULL)
		return NULL;
	p->base = base;
	p->dns = dns;
	p->api = config->places_api;
	p->timeout = config->places_timeout > 0 ? config->places_timeout : 5;
	p->max_flights = config->places_max_requests;
	TAILQ_INIT(&p->flights);
	p->next_flight_id = 1;
	p->uri = evbuffer_new();
	p->log_url = evbuffer_new();
	if (p->uri == NULL || p->log_url == NULL)
		fatalx("event=startup_failed error=\"out of memory\"");
	places_parse_url(p, config->places_url);
	p->tls = tls_client_context(config->places_ca_file, why, sizeof(why));
	if (p->tls == NULL)
		fatalx("event=startup_failed what=places_ca_file error=%s",
		    log_quote(why, strlen(why)));
	p->key = places_load_key(config);
	if (p->key != NULL) {
		p->key_encoded = evhttp_encode_uri(p->key);
		if (p->key_encoded == NULL)
			fatalx("event=startup_failed error=\"out of memory\"");
	} else {
		log_warnx("event=places_no_key note=\"WHATSAT answers UNKNOWN_ERROR until "
		    "places_key_file or HERD_PLACES_KEY gives a Places API key\"");
	}
	log_info("event=places_ready api=%s host=%s port=%d ca=%s timeout=%d key=%s",
	    places_api_name(p->api), log_quote(p->host, strlen(p->host)), p->port,
	    config->places_ca_file != NULL ? log_quote(config->places_ca_file,
	    strlen(config->places_ca_file)) : "system", p->timeout,
	    p->key == NULL ? "none" : config->places_key_file != NULL ? "file" : "environment");
	return p;
}

/* --- the end of a flight ------------------------------------------------------------ */

/* Stops new searches from joining F and closes its connection; safe to repeat. */
static void flight_detach(struct flight *f)
{
	if (f->listed) {
		TAILQ_REMOVE(&f->places->flights, f, entry);
		f->listed = false;
	}
	if (f->conn != NULL) {
		evhttp_connection_free(f->conn);
		f->conn = NULL;
	}
}

/* Frees a flight whose waiters are all answered or gone. */
static void flight_free(struct flight *f)
{
	flight_detach(f);
	f->places->nflights--;
	places_filter_free(f->filter);
	event_free(f->timer);
	free(f);
}

/* Answers every waiter with JSON, or with its own trim of the filtered answer. */
static void flight_hand_out(struct flight *f, const char *json, size_t len)
{
	struct places_wait *w;
	const char *mine;
	size_t mine_len;

	f->handing_out = true;
	while ((w = TAILQ_FIRST(&f->waiters)) != NULL) {
		TAILQ_REMOVE(&f->waiters, w, entry);
		f->nwaiters--;
		mine = json;
		mine_len = len;
		if (mine == NULL)
			mine = places_filter_json(f->filter, w->bound, &mine_len);
		if (mine == NULL)
			fatalx("event=places_failed error=\"out of memory\"");
		w->done(mine, mine_len, w->arg);
		free(w);
	}
}

/* Logs how a flight ended and counts it. */
static void flight_account(struct flight *f, const char *status, double seconds)
{
	size_t results = f->error[0] == '\0' ? places_filter_results(f->filter) : 0;

	if (f->upstream) {
		stats_places_latency(seconds);
		if (strcmp(status, "UNKNOWN_ERROR") == 0)
			stats.places_errors++;
	}
	if (f->error[0] != '\0')
		log_warnx("event=places_failed id=%llu error=%s http=%d waiters=%zu seconds=%.3f",
		    (unsigned long long)f->id, log_quote(f->error, strlen(f->error)),
		    f->http_code, f->nwaiters, seconds);
	else
		log_info("event=places_response id=%llu status=%s http=%d results=%zu "
		    "waiters=%zu seconds=%.3f", (unsigned long long)f->id,
		    log_quote(status, strlen(status)), f->http_code, results, f->nwaiters,
		    seconds);
}

/* The outcome is known (or the deadline passed): hand it out and free the flight. */
static void flight_finish(struct flight *f)
{
	double seconds = seconds_since(&f->started);
	char *error_json = NULL;
	size_t len = 0;
	const char *status = "UNKNOWN_ERROR";

	/* Searches that start while the waiters are answered make a flight of their own. */
	flight_detach(f);
	if (f->error[0] == '\0')
		status = places_filter_status(f->filter);
	flight_account(f, status, seconds);
	if (f->error[0] != '\0') {
		error_json = places_json_error(f->error, &len);
		if (error_json == NULL)
			fatalx("event=places_failed error=\"out of memory\"");
	}
	flight_hand_out(f, error_json, len);
	free(error_json);
	flight_free(f);
}

/* Ends the flight with ERROR, answered from the loop soon. */
static void flight_fail(struct flight *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void flight_fail(struct flight *f, const char *fmt, ...)
{
	struct timeval now = { 0, 0 };
	va_list ap;

	if (f->done)
		return;
	va_start(ap, fmt);
	vsnprintf(f->error, sizeof(f->error), fmt, ap);
	va_end(ap);
	f->done = true;
	evtimer_add(f->timer, &now);
}

/* The upstream call is over and the filter holds the answer: hand it out soon. */
static void flight_succeed(struct flight *f)
{
	struct timeval now = { 0, 0 };

	f->done = true;
	evtimer_add(f->timer, &now);
}

/* The deadline passed, or the outcome was set aside to be handed out from the loop. */
static void flight_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct flight *f = arg;

	if (!f->done) {
		snprintf(f->error, sizeof(f->error), "Places did not answer within %d s",
		    f->places->timeout);
		f->done = true;
	}
	flight_finish(f);
}

/* --- evhttp callbacks --------------------------------------------------------------- */

/* Describes why the connection failed before an HTTP answer came. */
static void flight_connection_failed(struct flight *f)
{
	struct places *p = f->places;
	struct bufferevent *bev = evhttp_connection_get_bufferevent(f->conn);
	int dns_error = bufferevent_socket_get_dns_error(bev);
	unsigned long tls_error = 0, err;
	char tls_why[256];

	/* libevent also queues bare SSL_get_error() codes (no library): not TLS's fault. */
	while ((err = bufferevent_get_openssl_error(bev)) != 0) {
		if (tls_error == 0 && ERR_GET_LIB(err) != 0)
			tls_error = err;
	}
	if (dns_error != 0) {
		flight_fail(f, "cannot resolve %s: %s", p->host, evutil_gai_strerror(dns_error));
	} else if (f->verify_error != X509_V_OK || tls_error != 0) {
		tls_describe_failure(f->verify_error, tls_error, tls_why, sizeof(tls_why));
		flight_fail(f, "TLS with %s:%d failed: %s", p->host, p->port, tls_why);
	} else if (f->have_http_error) {
		switch (f->http_error) {
		case EVREQ_HTTP_TIMEOUT:
			flight_fail(f, "Places connection timed out");
			break;
		case EVREQ_HTTP_EOF:
			flight_fail(f, "Places closed the connection before answering in full");
			break;
		case EVREQ_HTTP_INVALID_HEADER:
			flight_fail(f, "Places sent an invalid HTTP answer");
			break;
		case EVREQ_HTTP_DATA_TOO_LONG:
			flight_fail(f, "Places answer is too large (headers over %d or body over %d "
			    "bytes)", PLACES_HEADERS_MAX, PLACES_BODY_MAX);
			break;
		default:
			flight_fail(f, "Places connection failed");
			break;
		}
	} else {
		/* errno is stale by now (libevent closed and reset the socket): say no more. */
		flight_fail(f, "cannot connect to %s:%d", p->host, p->port);
	}
}

/* evhttp says why a request failed here, just before the done callback gets no answer. */
static void flight_error_cb(enum evhttp_request_error error, void *arg)
{
	struct flight *f = arg;

	f->have_http_error = true;
	f->http_error = error;
}

/* Headers are in: only a body that can become a reply goes through the filter. */
static int flight_header_cb(struct evhttp_request *req, void *arg)
{
	struct flight *f = arg;

	f->http_code = evhttp_request_get_response_code(req);
	/* The new API explains its 4xx answers with a JSON error object. */
	f->feeding = f->http_code == 200 ||
	    (f->places->api == PLACES_API_NEW && f->http_code >= 400 && f->http_code < 500);
	return 0;
}

/* Streams the body into the filter as it arrives. */
static void flight_chunk_cb(struct evhttp_request *req, void *arg)
{
	struct flight *f = arg;
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	struct evbuffer_iovec v;

	if (!f->feeding || f->done) {
		evbuffer_drain(body, evbuffer_get_length(body));
		return;
	}
	while (evbuffer_peek(body, -1, NULL, &v, 1) > 0 && v.iov_len > 0) {
		if (!places_filter_feed(f->filter, v.iov_base, v.iov_len)) {
			if (f->http_code == 200)
				flight_fail(f, "%s", places_filter_error(f->filter));
			else
				flight_fail(f, "Places answered HTTP %d", f->http_code);
			return;
		}
		evbuffer_drain(body, v.iov_len);
	}
}

/* True for the statuses of a Places error object (an HTTP 4xx of the new API). */
static bool places_status_is_error(const char *status)
{
	return *status != '\0' && strcmp(status, "OK") != 0 && strcmp(status, "ZERO_RESULTS") != 0;
}

/* The request ended: with an answer, or (REQ NULL or code 0) without one. */
static void flight_done_cb(struct evhttp_request *req, void *arg)
{
	struct flight *f = arg;
	int code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	const char *reason;

	if (f->done)
		return;
	if (code == 0) {
		flight_connection_failed(f);
		return;
	}
	f->http_code = code;
	if (f->feeding && places_filter_finish(f->filter) &&
	    (code == 200 || places_status_is_error(places_filter_status(f->filter)))) {
		flight_succeed(f);
		return;
	}
	if (code == 200) {
		flight_fail(f, "%s", places_filter_error(f->filter));
		return;
	}
	reason = evhttp_request_get_response_code_line(req);
	flight_fail(f, "Places answered HTTP %d%s%s", code, reason != NULL ? " " : "",
	    reason != NULL ? reason : "");
}

/* --- starting a flight -------------------------------------------------------------- */

/* Overwrites and empties BUF, which held a URI with the key in it. */
static void places_forget_uri(struct evbuffer *buf)
{
	size_t len = evbuffer_get_length(buf);
	char *text = (char *)evbuffer_pullup(buf, -1);

	if (text != NULL)
		OPENSSL_cleanse(text, len);
	evbuffer_drain(buf, len);
}

/*
 * The URI of a request after PREFIX ("" or "https://host"): the path, and for the legacy
 * API the search QUERY and KEY (the key or a placeholder), as a C string in BUF; valid
 * until BUF changes.
 */
static const char *places_request_uri(struct places *p, struct evbuffer *buf,
    const char *prefix, const char *query, const char *key)
{
	evbuffer_drain(buf, evbuffer_get_length(buf));
	if (p->api == PLACES_API_NEW)
		evbuffer_add_printf(buf, "%s%s", prefix, p->path);
	else
		evbuffer_add_printf(buf, "%s%s%c%s&key=%s", prefix, p->path,
		    p->path_has_query ? '&' : '?', query, key);
	evbuffer_add(buf, "", 1);
	return (const char *)evbuffer_pullup(buf, -1);
}

/* Adds the headers every request has, and the body and headers of a new-API search. */
static bool flight_fill_request(struct flight *f, struct evhttp_request *hreq,
    const struct places_request *req)
{
	struct places *p = f->places;
	struct evkeyvalq *headers = evhttp_request_get_output_headers(hreq);
	char *body;
	size_t len = 0;
	bool ok;

	ok = evhttp_add_header(headers, "Host", p->host_header) == 0 &&
	    evhttp_add_header(headers, "Accept", "application/json") == 0 &&
	    evhttp_add_header(headers, "User-Agent", "herd/" HERD_VERSION) == 0 &&
	    evhttp_add_header(headers, "Connection", "close") == 0;
	if (!ok || p->api == PLACES_API_LEGACY)
		return ok;
	body = places_json_new_request(req->latitude, req->longitude, req->radius_metres,
	    req->bound, &len);
	if (body == NULL)
		return false;
	ok = evhttp_add_header(headers, "Content-Type", "application/json") == 0 &&
	    evhttp_add_header(headers, "X-Goog-Api-Key", p->key) == 0 &&
	    evhttp_add_header(headers, "X-Goog-FieldMask", PLACES_NEW_FIELD_MASK) == 0 &&
	    evbuffer_add(evhttp_request_get_output_buffer(hreq), body, len) == 0;
	free(body);
	return ok;
}

/* Opens the TLS connection and sends the request; failures end the flight. */
static void flight_start(struct flight *f, const struct places_request *req)
{
	struct places *p = f->places;
	struct timeval deadline = { p->timeout, 0 };
	struct bufferevent *bev;
	struct evhttp_request *hreq;
	SSL *ssl;
	char origin[300], query[PLACES_LEGACY_QUERY_MAX] = "";
	const char *uri, *log_url;

	if (p->key == NULL) {
		flight_fail(f, "no Places API key configured");
		return;
	}
	ssl = tls_client_new(p->tls, p->host, &f->verify_error);
	if (ssl == NULL) {
		flight_fail(f, "cannot set up TLS for %s", p->host);
		return;
	}
	bev = bufferevent_openssl_socket_new(p->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		flight_fail(f, "out of memory");
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	f->conn = evhttp_connection_base_bufferevent_new(p->base, p->dns, bev, p->host,
	    (unsigned short)p->port);
	if (f->conn == NULL) {
		bufferevent_free(bev);
		flight_fail(f, "out of memory");
		return;
	}
	evhttp_connection_set_family(f->conn, p->family);
	/* A backstop only: the flight's own deadline ends the whole request first. */
	evhttp_connection_set_timeout(f->conn, p->timeout + 1);
	evhttp_connection_set_max_body_size(f->conn, PLACES_BODY_MAX);
	evhttp_connection_set_max_headers_size(f->conn, PLACES_HEADERS_MAX);

	hreq = evhttp_request_new(flight_done_cb, f);
	if (hreq == NULL) {
		flight_fail(f, "out of memory");
		return;
	}
	evhttp_request_set_header_cb(hreq, flight_header_cb);
	evhttp_request_set_chunked_cb(hreq, flight_chunk_cb);
	evhttp_request_set_error_cb(hreq, flight_error_cb);
	if (!flight_fill_request(f, hreq, req)) {
		evhttp_request_free(hreq);
		flight_fail(f, "out of memory");
		return;
	}
	/* proto and coord_decimal give plain decimals; a bug would show here, not upstream. */
	if (p->api == PLACES_API_LEGACY &&
	    places_legacy_query(req->latitude, req->longitude, req->radius_metres, query) == 0)
		fatalx("event=bug where=flight_start error=\"search texts are not decimals\"");
	snprintf(origin, sizeof(origin), "https://%s", p->host_header);
	log_url = places_request_uri(p, p->log_url, origin, query, "REDACTED");
	log_info("event=places_request id=%llu api=%s method=%s url=%s",
	    (unsigned long long)f->id, places_api_name(p->api),
	    p->api == PLACES_API_LEGACY ? "GET" : "POST", log_quote(log_url, strlen(log_url)));
	uri = places_request_uri(p, p->uri, "", query, p->key_encoded);
	f->upstream = true;
	stats.places_requests++;
	evtimer_add(f->timer, &deadline);
	/* On failure evhttp has already run (or freed) the request; the flight ends. */
	if (evhttp_make_request(f->conn, hreq,
	    p->api == PLACES_API_LEGACY ? EVHTTP_REQ_GET : EVHTTP_REQ_POST, uri) != 0)
		flight_fail(f, "cannot start the Places request to %s:%d", p->host, p->port);
	/* The URI holds the key: do not leave it lying in memory. */
	places_forget_uri(p->uri);
}

/* The coalescing key: what the upstream call depends on. */
static void places_flight_key(const struct places *p, const struct places_request *req,
    char *key, size_t size)
{
	snprintf(key, size, "%s %s %s %d", req->latitude, req->longitude, req->radius_metres,
	    p->api == PLACES_API_NEW ? req->bound : 0);
}

/* A new flight for REQ, listed so that identical searches join it. */
static struct flight *flight_new(struct places *p, const char *key,
    const struct places_request *req)
{
	struct flight *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	f->places = p;
	f->id = p->next_flight_id++;
	snprintf(f->key, sizeof(f->key), "%s", key);
	TAILQ_INIT(&f->waiters);
	clock_gettime(CLOCK_MONOTONIC, &f->started);
	f->timer = evtimer_new(p->base, flight_timer_cb, f);
	f->filter = places_filter_new(p->api == PLACES_API_NEW ? PLACES_FILTER_NEW :
	    PLACES_FILTER_LEGACY, p->api == PLACES_API_NEW ? (size_t)req->bound :
	    PLACES_FILTER_BOUND_MAX, PLACES_BODY_MAX);
	if (f->timer == NULL || f->filter == NULL) {
		if (f->timer != NULL)
			event_free(f->timer);
		places_filter_free(f->filter);
		free(f);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&p->flights, f, entry);
	f->listed = true;
	p->nflights++;
	return f;
}

struct places_wait *places_search(struct places *p, const struct places_request *req,
    places_done_cb done, void *arg)
{
	char key[FLIGHT_KEY_MAX];
	struct places_wait *w = calloc(1, sizeof(*w));
	struct flight *f;
	bool joined = false;

	if (w == NULL)
		return NULL;
	places_flight_key(p, req, key, sizeof(key));
	TAILQ_FOREACH(f, &p->flights, entry) {
		if (strcmp(f->key, key) == 0)
			break;
	}
	if (f != NULL) {
		joined = true;
	} else {
		f = flight_new(p, key, req);
		if (f == NULL) {
			free(w);
			return NULL;
		}
	}
	w->flight = f;
	w->bound = (size_t)req->bound;
	w->done = done;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&f->waiters, w, entry);
	f->nwaiters++;
	if (joined) {
		stats.places_coalesced++;
		log_debug("event=places_coalesced id=%llu waiters=%zu", (unsigned long long)f->id,
		    f->nwaiters);
	} else if (p->nflights > p->max_flights) {
		flight_fail(f, "too many Places requests in flight (places_max_requests %zu)",
		    p->max_flights);
	} else {
		flight_start(f, req);
	}
	return w;
}

void places_cancel(struct places_wait *w)
{
	struct flight *f = w->flight;

	TAILQ_REMOVE(&f->waiters, w, entry);
	f->nwaiters--;
	free(w);
	/* Nobody waits any more: stop the upstream call rather than finish it for no one. */
	if (f->nwaiters == 0 && !f->handing_out) {
		log_info("event=places_abandoned id=%llu seconds=%.3f", (unsigned long long)f->id,
		    seconds_since(&f->started));
		flight_free(f);
	}
}

void places_free(struct places *p)
{
	struct flight *f;

	if (p == NULL)
		return;
	while ((f = TAILQ_FIRST(&p->flights)) != NULL) {
		struct places_wait *w;

		while ((w = TAILQ_FIRST(&f->waiters)) != NULL) {
			TAILQ_REMOVE(&f->waiters, w, entry);
			free(w);
		}
		flight_free(f);
	}
	SSL_CTX_free(p->tls);
	if (p->key != NULL)
		OPENSSL_cleanse(p->key, strlen(p->key));
	free(p->key);
	free(p->key_encoded);
	free(p->host);
	free(p->host_header);
	free(p->path);
	evbuffer_free(p->uri);
	evbuffer_free(p->log_url);
	free(p);
}
