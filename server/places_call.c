/*
 * One upstream Places call: an evhttp request on a pooled TLS connection (places_pool.c)
 * whose body streams into the flight's filter, the retry of a request a reused
 * connection lost before any of its answer came, the next address when a fresh one
 * cannot connect, and the words for each way it can fail. The flight (places.c) owns
 * the deadline and the answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "log.h"
#include "places_filter.h"
#include "places_flight.h"
#include "places_json.h"
#include "stats.h"
#include "tls.h"
#include "xmalloc.h"

/* --- evhttp callbacks --------------------------------------------------------------- */

/*
 * Describes why the connection PC failed before an HTTP answer came; TRIED addresses of
 * the host were tried (for a fresh connection, 0 otherwise).
 */
static void flight_connection_failed(struct flight *f, struct places_conn *pc, size_t tried)
{
	struct places *p = f->places;
	struct bufferevent *bev = pool_bufferevent(pc);
	unsigned long tls_error = 0, err;
	char tls_why[256];

	/* libevent also queues bare SSL_get_error() codes (no library): not TLS's fault. */
	while (bev != NULL && (err = bufferevent_get_openssl_error(bev)) != 0) {
		if (tls_error == 0 && ERR_GET_LIB(err) != 0)
			tls_error = err;
	}
	if (pc->verify_error != X509_V_OK || tls_error != 0) {
		tls_describe_failure(pc->verify_error, tls_error, tls_why, sizeof(tls_why));
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
			/* evhttp says the same of headers over its limit. */
			flight_fail(f, "Places sent an invalid HTTP answer (or headers over %d "
			    "bytes)", PLACES_HEADERS_MAX);
			break;
		case EVREQ_HTTP_DATA_TOO_LONG:
			/* evhttp says the same of a chunk size line it cannot read. */
			flight_fail(f, "Places answer is too large (headers over %d or body over %d "
			    "bytes) or badly chunked", PLACES_HEADERS_MAX, PLACES_BODY_MAX);
			break;
		default:
			flight_fail(f, "Places connection failed");
			break;
		}
	} else if (tried > 1) {
		flight_fail(f, "cannot connect to %s:%d (%zu addresses tried)", p->host, p->port,
		    tried);
	} else {
		/* errno is stale by now (libevent closed and reset the socket): say no more. */
		flight_fail(f, "cannot connect to %s:%d", p->host, p->port);
	}
}

void flight_connect_failed(struct flight *f, struct places_conn *pc)
{
	struct places *p = f->places;

	if (f->done)
		return;
	if (f->addr_tries + 1 < p->naddrs) {
		f->addr_tries++;
		stats.places_connect_failovers++;
		log_info("event=places_connect_next id=%llu address=%s", (unsigned long long)f->id,
		    p->addr_text[(p->addr_good + f->addr_tries) % p->naddrs]);
		pool_open(p, f);
		return;
	}
	if (pc != NULL)
		flight_connection_failed(f, pc, p->naddrs);
	else
		flight_fail(f, "cannot connect to %s:%d (%zu address%s tried)", p->host, p->port,
		    p->naddrs, p->naddrs == 1 ? "" : "es");
}


/* evhttp says why a request failed here, just before the done callback gets no answer. */
static void flight_error_cb(enum evhttp_request_error error, void *arg)
{
	struct flight *f = arg;

	f->have_http_error = true;
	f->http_error = error;
}

/* The header callback refuses the answer (evhttp then fails the connection): PC goes. */
static void flight_drop_connection(struct flight *f, const char *reason)
{
	if (f->pc != NULL)
		pool_close(f->pc, reason, false);
}

/* False when REQ's answer has Content-Length headers that disagree (RFC 9112, 6.3: the
 * body's end is unknown); evhttp would take the first. */
static bool flight_length_agrees(struct evhttp_request *req)
{
	const struct evkeyval *h;
	const char *length = NULL;

	TAILQ_FOREACH(h, evhttp_request_get_input_headers(req), next) {
		if (evutil_ascii_strcasecmp(h->key, "Content-Length") != 0)
			continue;
		if (length != NULL && strcmp(length, h->value) != 0)
			return false;
		length = h->value;
	}
	return true;
}

/* Headers are in: only a body that can become a reply goes through the filter. */
static int flight_header_cb(struct evhttp_request *req, void *arg)
{
	struct flight *f = arg;
	const char *encoding;

	f->answered = true;
	if (f->pc != NULL)
		f->pc->spoke = true;
	f->http_code = evhttp_request_get_response_code(req);
	/*
	 * An interim answer (100 Continue, 103 Early Hints): evhttp 2.1 would take it for the
	 * answer (and the real one for the next request's) or wait on it for ever. Nothing
	 * herd sends asks for one; the search fails and the connection goes.
	 */
	if (f->http_code >= 100 && f->http_code < 200) {
		flight_fail(f, "Places sent an interim answer (HTTP %d), which herd does not take",
		    f->http_code);
		flight_drop_connection(f, "interim answer");
		return -1;
	}
	if (!flight_length_agrees(req)) {
		flight_fail(f, "Places sent Content-Length headers that disagree");
		flight_drop_connection(f, "Content-Length headers disagree");
		return -1;
	}
	/* The new API explains its 4xx answers with a JSON error object. */
	f->feeding = f->http_code == 200 ||
	    (f->places->api == PLACES_API_NEW && f->http_code >= 400 && f->http_code < 500);
	/* Asked for identity (flight_send), Places could still compress: say so. */
	encoding = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Encoding");
	if (f->feeding && encoding != NULL && evutil_ascii_strcasecmp(encoding, "identity") != 0) {
		flight_fail(f, "Places sent its answer encoded (Content-Encoding: %s), which herd "
		    "does not decode", encoding);
		flight_drop_connection(f, "encoded answer");
		return -1;
	}
	return 0;
}

/* "Places answered HTTP 503 Service Unavailable", the reason phrase if it has one. */
static void flight_fail_http(struct flight *f, struct evhttp_request *req, int code)
{
	const char *reason = evhttp_request_get_response_code_line(req);
	bool said = reason != NULL && *reason != '\0';

	flight_fail(f, "Places answered HTTP %d%s%s", code, said ? " " : "", said ? reason : "");
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
				flight_fail_http(f, req, f->http_code);
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

/*
 * The request on PC ended without an answer. Reused, before any of its answer came: the
 * server may have closed the connection as the request went out, so it goes once more
 * on a fresh one. Fresh and never connected: the next address. Else it failed.
 */
static void flight_no_answer(struct flight *f, struct places_conn *pc)
{
	bool reused = pc->requests > 1;
	bool up = pc->spoke;

	pool_close(pc, "the request failed", false);
	if (f->done)
		return;
	if (reused && !f->answered && !f->retried) {
		f->retried = true;
		stats.places_retries++;
		log_info("event=places_retry id=%llu reason=\"a reused connection failed before "
		    "the answer\"", (unsigned long long)f->id);
		pool_open(f->places, f);
		return;
	}
	/* Fresh, and the server never said its TLS hello: the next address may answer. */
	if (!reused && !up) {
		flight_connect_failed(f, pc);
		return;
	}
	flight_connection_failed(f, pc, 0);
}

/* The request ended: with an answer, or (REQ NULL or code 0) without one. */
static void flight_done_cb(struct evhttp_request *req, void *arg)
{
	struct flight *f = arg;
	struct places_conn *pc = f->pc;
	int code = req != NULL ? evhttp_request_get_response_code(req) : 0;

	if (pc == NULL || f->done)
		return;
	if (code == 0) {
		flight_no_answer(f, pc);
		return;
	}
	/* Answered: the connection may carry the next request (unless Places closed it). */
	pool_release(pc);
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
	flight_fail_http(f, req, code);
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

	/* HTTP/1.1 keeps the connection alive for the next request. */
	ok = evhttp_add_header(headers, "Host", p->host_header) == 0 &&
	    evhttp_add_header(headers, "Accept", "application/json") == 0 &&
	    evhttp_add_header(headers, "Accept-Encoding", "identity") == 0 &&
	    evhttp_add_header(headers, "User-Agent", "herd/" HERD_VERSION) == 0;
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

/* F's search as a places_request again (its texts are the flight's copies). */
static struct places_request flight_request(const struct flight *f)
{
	struct places_request req = { f->latitude, f->longitude, f->radius_metres, f->bound,
	    f->requester };

	return req;
}

void flight_start(struct flight *f, const struct places_request *req)
{
	struct places *p = f->places;
	struct timeval deadline = { p->timeout, 0 };
	char origin[300], query[PLACES_LEGACY_QUERY_MAX] = "";
	const char *log_url;

	if (p->key == NULL) {
		flight_fail(f, "no Places API key configured");
		return;
	}
	/* proto and coord_decimal give plain decimals; a bug would show here, not upstream. */
	if (p->api == PLACES_API_LEGACY &&
	    places_legacy_query(req->latitude, req->longitude, req->radius_metres, query) == 0)
		fatalx("event=bug where=flight_start error=\"search texts are not decimals\"");
	f->latitude = xstrdup(req->latitude);
	f->longitude = xstrdup(req->longitude);
	f->radius_metres = xstrdup(req->radius_metres);
	f->bound = req->bound;
	snprintf(origin, sizeof(origin), "https://%s", p->host_header);
	log_url = places_request_uri(p, p->log_url, origin, query, "REDACTED");
	log_info("event=places_request id=%llu api=%s method=%s url=%s",
	    (unsigned long long)f->id, places_api_name(p->api),
	    p->api == PLACES_API_LEGACY ? "GET" : "POST", log_quote(log_url, strlen(log_url)));
	f->upstream = true;
	stats.places_requests++;
	evtimer_add(f->timer, &deadline);
	pool_acquire(p, f);
}

void flight_send(struct flight *f, struct places_conn *pc)
{
	struct places *p = f->places;
	struct places_request req = flight_request(f);
	struct evhttp_request *hreq;
	char query[PLACES_LEGACY_QUERY_MAX] = "";
	const char *uri;

	pc->requests++;
	f->answered = false;
	f->have_http_error = false;
	hreq = xcheck(evhttp_request_new(flight_done_cb, f));
	evhttp_request_set_header_cb(hreq, flight_header_cb);
	evhttp_request_set_chunked_cb(hreq, flight_chunk_cb);
	evhttp_request_set_error_cb(hreq, flight_error_cb);
	if (!flight_fill_request(f, hreq, &req)) {
		evhttp_request_free(hreq);
		pool_close(pc, "cannot build the request", false);
		flight_fail(f, "cannot build the Places request");
		return;
	}
	if (p->api == PLACES_API_LEGACY)
		(void)places_legacy_query(req.latitude, req.longitude, req.radius_metres, query);
	uri = places_request_uri(p, p->uri, "", query, p->key_encoded);
	/*
	 * On failure libevent freed the request (no memory) or, when it could not start the
	 * connect, left it unqueued: it is not freed here, a rare leak rather than a double
	 * free. The flight ends.
	 */
	if (evhttp_make_request(pc->evcon, hreq,
	    p->api == PLACES_API_LEGACY ? EVHTTP_REQ_GET : EVHTTP_REQ_POST, uri) != 0) {
		pool_close(pc, "cannot start a request", false);
		flight_fail(f, "cannot start the Places request to %s:%d", p->host, p->port);
	} else if (pc->requests == 1) {
		pool_nodelay(pc);
	}
	/* The URI holds the key: do not leave it lying in memory. */
	places_forget_uri(p->uri);
}
