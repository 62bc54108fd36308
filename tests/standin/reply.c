/*
 * Sending answers: every reply is logged here, and the Places endpoints'
 * answers pass through the fault knob (error, delay, cut body, garbage,
 * dropped connection) on their way out.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "standin.h"

#define INVALID_BODY "this is not json"

/* An answer held back by the slow mode until its timer fires. */
struct delayed_reply {
	TAILQ_ENTRY(delayed_reply) entry;
	struct standin *sd;
	struct evhttp_request *req;
	int code;
	struct evbuffer *body;
	struct event *timer;
};

const char *
request_method_name(struct evhttp_request *req)
{
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	case EVHTTP_REQ_OPTIONS:
		return "OPTIONS";
	case EVHTTP_REQ_TRACE:
		return "TRACE";
	case EVHTTP_REQ_CONNECT:
		return "CONNECT";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	}
	return "?";
}

const char *
request_path(struct evhttp_request *req)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	return path != NULL ? path : "";
}

/* The query string with the key hidden, printable; NULL when none. */
char *
request_query_redacted(struct evhttp_request *req)
{
	const char *query;
	struct evbuffer *buf;
	char *text;

	query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	if (query == NULL)
		return NULL;
	if ((buf = evbuffer_new()) == NULL)
		standin_fatalx("out of memory");
	redact_query(query, buf);
	evbuffer_add(buf, "", 1);
	text = printable_copy((const char *)evbuffer_pullup(buf, -1));
	evbuffer_free(buf);
	return text;
}

/* One line per answered request; code 0 means closed without an answer. */
static void
log_request(struct standin *sd, struct evhttp_request *req, int code)
{
	char *path = printable_copy(request_path(req));
	char *query = request_query_redacted(req);
	char status[16];

	if (code == 0)
		snprintf(status, sizeof(status), "closed");
	else
		snprintf(status, sizeof(status), "%d", code);
	standin_log(sd, "method=%s path=%s%s%s status=%s",
	    request_method_name(req), path, query != NULL ? "?" : "",
	    query != NULL ? query : "", status);
	free(query);
	free(path);
}

/* Send a JSON answer and free `body`. */
void
reply_send(struct standin *sd, struct evhttp_request *req, int code,
    struct evbuffer *body)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json; charset=UTF-8");
	log_request(sd, req, code);
	evhttp_send_reply(req, code, NULL, body);
	evbuffer_free(body);
}

static void
reply_http500(struct standin *sd, struct evhttp_request *req,
    struct evbuffer *body)
{
	evbuffer_drain(body, evbuffer_get_length(body));
	render_error(body, 500, "INTERNAL", "Internal error encountered.");
	reply_send(sd, req, 500, body);
}

/* A well-formed HTTP answer whose body stops half-way through the JSON. */
static void
reply_truncated(struct standin *sd, struct evhttp_request *req, int code,
    struct evbuffer *body)
{
	struct evbuffer *cut;

	if ((cut = evbuffer_new()) == NULL)
		standin_fatalx("out of memory");
	evbuffer_remove_buffer(body, cut, evbuffer_get_length(body) / 2);
	evbuffer_free(body);
	reply_send(sd, req, code, cut);
}

static void
reply_invalid(struct standin *sd, struct evhttp_request *req, int code,
    struct evbuffer *body)
{
	evbuffer_drain(body, evbuffer_get_length(body));
	evbuffer_add(body, INVALID_BODY, strlen(INVALID_BODY));
	reply_send(sd, req, code, body);
}

/* Drop the connection without a byte of answer. Freeing the connection
 * from its request callback is safe: evhttp touches neither afterwards. */
static void
reply_close(struct standin *sd, struct evhttp_request *req,
    struct evbuffer *body)
{
	log_request(sd, req, 0);
	evbuffer_free(body);
	evhttp_connection_free(evhttp_request_get_connection(req));
}

static void
delayed_free(struct delayed_reply *d)
{
	TAILQ_REMOVE(&d->sd->delayed, d, entry);
	event_free(d->timer);
	free(d);
}

static void
delayed_fire(evutil_socket_t fd, short what, void *arg)
{
	struct delayed_reply *d = arg;

	reply_send(d->sd, d->req, d->code, d->body);
	delayed_free(d);
}

/* Answer after a timer, never by sleeping: other requests go on meanwhile.
 * evhttp does not read from a connection whose request is unanswered, so
 * the request outlives the wait even if the client leaves. */
static void
reply_later(struct standin *sd, struct evhttp_request *req, int code,
    struct evbuffer *body, unsigned seconds)
{
	struct timeval delay = { .tv_sec = (time_t)seconds, .tv_usec = 0 };
	struct delayed_reply *d;

	if ((d = calloc(1, sizeof(*d))) == NULL)
		standin_fatalx("out of memory");
	d->sd = sd;
	d->req = req;
	d->code = code;
	d->body = body;
	if ((d->timer = evtimer_new(sd->base, delayed_fire, d)) == NULL)
		standin_fatalx("out of memory");
	TAILQ_INSERT_TAIL(&sd->delayed, d, entry);
	evtimer_add(d->timer, &delay);
}

/* At shutdown: the requests themselves go with their connections. */
void
reply_drop_delayed(struct standin *sd)
{
	struct delayed_reply *d;

	while ((d = TAILQ_FIRST(&sd->delayed)) != NULL) {
		evbuffer_free(d->body);
		delayed_free(d);
	}
}

/* Send a Places answer the way the current fault mode says. */
void
reply_places(struct standin *sd, struct evhttp_request *req, int code,
    struct evbuffer *body)
{
	if (sd->fault.close_next > 0) {
		sd->fault.close_next--;
		reply_close(sd, req, body);
		return;
	}
	switch (sd->fault.mode) {
	case FAULT_HTTP500:
		reply_http500(sd, req, body);
		break;
	case FAULT_SLOW:
		reply_later(sd, req, code, body, sd->fault.slow_seconds);
		break;
	case FAULT_TRUNCATED:
		reply_truncated(sd, req, code, body);
		break;
	case FAULT_INVALID:
		reply_invalid(sd, req, code, body);
		break;
	case FAULT_CLOSE:
		reply_close(sd, req, body);
		break;
	case FAULT_OK:
	case FAULT_STATUS:
		reply_send(sd, req, code, body);
		break;
	}
}
