/*
 * The admin endpoint's HTTP server: evhttp set-up, bearer token, routing, replies, and
 * the limits libevent 2.1's evhttp lacks: a cap on connections and a deadline for each
 * request. evhttp asks this file for each connection's bufferevent (evhttp_set_bevcb);
 * right after, from the loop, the connection is found as that bufferevent's callback
 * argument and given a close callback, so the node counts connections and can shut one
 * whose request takes too long.
 */
#include "admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "admin_route.h"
#include "clients_view.h"
#include "log.h"
#include "node.h"
#include "secret.h"
#include "util.h"
#include "xmalloc.h"

#define ADMIN_MAX_HEADERS_SIZE 8192
#define ADMIN_MAX_BODY_SIZE 1024
/* What a connection may have queued unread: a request whole, and some of the next. */
#define ADMIN_INPUT_MAX (ADMIN_MAX_HEADERS_SIZE + ADMIN_MAX_BODY_SIZE + 4096)
/*
 * Every method bit, libevent's own "unknown method" bit (1 << 15) included: evhttp
 * answers 501 to methods outside this mask before we see them, and SPEC wants 405.
 */
#define ADMIN_ALL_METHODS 0xffff

static const struct admin_route *const routes[] = {
	&route_clients_entry,
	&route_client_entry,
	&route_peers_entry,
	&route_stats_entry,
	&route_metrics_entry,
	&route_health_entry,
	&route_herd_entry,
	&route_home_entry,
};

/* One admin connection, from accept until evhttp closes it. */
struct admin_conn {
	TAILQ_ENTRY(admin_conn) entry;
	struct bufferevent *bev;     /* evhttp's, made by admin_conn_new; one reference ours */
	struct evbuffer_cb_entry *input_watch;
	struct evhttp_connection *evcon;   /* once found: the close callback is set */
	struct event *timer;         /* finds EVCON, then carries the deadline */
	bool requesting;             /* bytes of a request came since the last answer */
};

static struct evhttp *http;
/* False while evhttp_free closes every connection: the listener is gone by then. */
static bool counting;
static TAILQ_HEAD(, admin_conn) admin_conns = TAILQ_HEAD_INITIALIZER(admin_conns);
static struct json_out json;
static bool token_required;
static unsigned char token_digest[EVP_MAX_MD_SIZE];
static unsigned int token_digest_len;

/* SHA-256 of (P, LEN) into DIGEST; comparing digests takes the same time for any length. */
static unsigned int admin_digest(const void *p, size_t len, unsigned char *digest)
{
	unsigned int digest_len = 0;

	if (EVP_Digest(p, len, digest, &digest_len, EVP_sha256(), NULL) != 1)
		fatalx("event=bug where=admin_digest error=\"SHA-256 failed\"");
	return digest_len;
}

/*
 * Reads the bearer token (secret.h: a systemd credential admin.token takes precedence):
 * one word of printable ASCII. Only its digest is kept. Without one configured, none is
 * required (the configuration allows that only on loopback). False, with WHY, when the
 * configured one cannot be used; the token in force then stays.
 */
static bool admin_load_token(const struct herd_config *cfg, char *path, size_t path_size,
    char *why, size_t size)
{
	char token[SECRET_MAX + 1];
	const char *from = secret_source(cfg->admin_token_file, "admin.token", path, path_size);
	size_t len;

	if (from == NULL) {
		token_required = false;
		return true;
	}
	if (from != path)
		snprintf(path, path_size, "%s", from);
	len = secret_load("admin_token_file", path, token, why, size);
	if (len == 0)
		return false;
	if (!secret_is_word(token, len)) {
		snprintf(why, size, "the token is not one word of printable ASCII");
		OPENSSL_cleanse(token, sizeof(token));
		return false;
	}
	token_digest_len = admin_digest(token, len, token_digest);
	OPENSSL_cleanse(token, sizeof(token));
	token_required = true;
	return true;
}

bool admin_reload(const struct herd_config *cfg, char *why, size_t size)
{
	char path[4096], reason[256];

	if (admin_load_token(cfg, path, sizeof(path), reason, sizeof(reason)))
		return true;
	snprintf(why, size, "%s: %s", path, reason);
	return false;
}

/* True when (TOKEN, LEN) is the token; constant time. */
static bool admin_token_matches(const char *token, size_t len)
{
	unsigned char digest[EVP_MAX_MD_SIZE];

	if (admin_digest(token, len, digest) != token_digest_len)
		return false;
	return CRYPTO_memcmp(digest, token_digest, token_digest_len) == 0;
}

/*
 * True when Basic credentials (base64 of USER:PASSWORD, LEN bytes) have the token as
 * their password, whatever the user: a browser asks for them and sends them again with
 * each refresh of the status page, as it never would a bearer token.
 */
static bool admin_basic_matches(const char *b64, size_t len)
{
	unsigned char plain[3 * ((SECRET_MAX + 2 * CONFIG_NAME_MAX) / 3) + 3];
	const unsigned char *colon;
	int n;
	bool ok;

	if (len == 0 || len % 4 != 0 || len / 4 * 3 > sizeof(plain))
		return false;
	/* EVP_DecodeBlock takes '=' anywhere as zero bits; padding is only at the end. */
	for (size_t i = 0; i < len; i++)
		if (b64[i] == '=' && !(i == len - 1 || (i == len - 2 && b64[len - 1] == '=')))
			return false;
	n = EVP_DecodeBlock(plain, (const unsigned char *)b64, (int)len);
	if (n < 0)
		return false;
	/* EVP_DecodeBlock counts the bytes padding stands for. */
	n -= (b64[len - 1] == '=') + (b64[len - 2] == '=');
	colon = memchr(plain, ':', (size_t)n);
	ok = colon != NULL && admin_token_matches((const char *)colon + 1,
	    (size_t)(plain + n - colon - 1));
	OPENSSL_cleanse(plain, sizeof(plain));
	return ok;
}

/*
 * True when the request carries "Authorization: Bearer <the token>", or Basic
 * credentials whose password is the token.
 */
static bool admin_authorized(struct evhttp_request *req)
{
	const char *value = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");
	bool basic;
	size_t len;

	if (value == NULL)
		return false;
	basic = evutil_ascii_strncasecmp(value, "Basic", 5) == 0 &&
	    (value[5] == ' ' || value[5] == '\t');
	if (!basic && (evutil_ascii_strncasecmp(value, "Bearer", 6) != 0 ||
	    (value[6] != ' ' && value[6] != '\t')))
		return false;
	value += basic ? 5 : 6;
	value += strspn(value, " \t");
	len = strlen(value);
	while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	return basic ? admin_basic_matches(value, len) : admin_token_matches(value, len);
}

double admin_uptime_seconds(void)
{
	struct htime now = htime_now();
	struct htime started = node_started();
	double seconds = (double)(now.sec - started.sec) + (double)(now.nsec - started.nsec) / 1e9;

	return seconds > 0 ? seconds : 0;
}

/* The method as the log names it; libevent's unknown methods are "other". */
static const char *method_name(enum evhttp_cmd_type method)
{
	switch (method) {
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
	return "other";
}

/* True for the methods the endpoint serves: it only ever reads. */
static bool method_is_read(enum evhttp_cmd_type method)
{
	return method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD;
}

/*
 * After the answer to a CONNECT: evhttp 2.1 keeps such a connection open whatever its
 * Connection header says. What it has read after the CONNECT is dropped, and the
 * shutdown ends the connection: evhttp sees its end and frees it from the loop (a
 * request still in the socket may be read and answered into the shut socket: nothing
 * of it reaches the client).
 */
static void admin_close_after(struct evhttp_request *req, void *arg)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(
	    evhttp_request_get_connection(req));
	struct evbuffer *in = bufferevent_get_input(bev);

	(void)arg;
	evbuffer_drain(in, evbuffer_get_length(in));
	(void)shutdown(bufferevent_getfd(bev), SHUT_RDWR);
}

void admin_reply(struct admin_request *ar, int code, const char *content_type)
{
	struct evkeyvalq *headers = evhttp_request_get_output_headers(ar->req);
	enum evhttp_cmd_type method = evhttp_request_get_command(ar->req);
	size_t len = evbuffer_get_length(ar->body);
	char *host = NULL;
	ev_uint16_t port = 0;
	const char *uri = evhttp_request_get_uri(ar->req);

	evhttp_add_header(headers, "Content-Type", content_type);
	evhttp_add_header(headers, "Cache-Control", "no-store");
	/* libevent does not read the body of methods it does not know: never reuse those. */
	if (!method_is_read(method))
		evhttp_add_header(headers, "Connection", "close");
	/* evhttp would send a HEAD reply's body and no length: send the length, no body. */
	if (method == EVHTTP_REQ_HEAD) {
		char text[24];

		snprintf(text, sizeof(text), "%zu", len);
		evhttp_add_header(headers, "Content-Length", text);
		evbuffer_drain(ar->body, len);
	}
	/* Nor a length for a CONNECT's answer, nor does it close after one. */
	if (method == EVHTTP_REQ_CONNECT) {
		char text[24];

		snprintf(text, sizeof(text), "%zu", len);
		evhttp_add_header(headers, "Content-Length", text);
		evhttp_request_set_on_complete_cb(ar->req, admin_close_after, NULL);
	}
	evhttp_connection_get_peer(evhttp_request_get_connection(ar->req), &host, &port);
	log_info("event=admin_request peer=%s:%u method=%s uri=%s status=%d bytes=%zu",
	    host != NULL ? host : "?", (unsigned)port, method_name(method),
	    log_quote(uri, strlen(uri)), code, len);
	evhttp_send_reply(ar->req, code, NULL, NULL);
}

void admin_reply_error(struct admin_request *ar, int code, const char *message)
{
	struct json_out *j;

	evbuffer_drain(ar->body, evbuffer_get_length(ar->body));
	j = admin_json_begin(ar);
	json_map_open(j);
	json_string_member(j, "error", message);
	json_map_close(j);
	if (!json_out_ok(j)) {
		log_warnx("event=admin_json_failed what=error status=%d why=%s", code,
		    log_quote(json_out_error(j), strlen(json_out_error(j))));
		evbuffer_drain(ar->body, evbuffer_get_length(ar->body));
	} else {
		evbuffer_add(ar->body, "\n", 1);
	}
	admin_reply(ar, code, "application/json");
}

struct json_out *admin_json_begin(struct admin_request *ar)
{
	json_out_begin(ar->json, admin_json_sink, ar->body);
	return ar->json;
}

void admin_reply_json(struct admin_request *ar, int code)
{
	const char *uri = evhttp_request_get_uri(ar->req);

	if (!json_out_ok(ar->json) || evbuffer_add(ar->body, "\n", 1) < 0) {
		log_warnx("event=admin_json_failed uri=%s why=%s", log_quote(uri, strlen(uri)),
		    log_quote(json_out_error(ar->json), strlen(json_out_error(ar->json))));
		admin_reply_error(ar, HTTP_INTERNAL, "cannot generate the JSON answer");
		return;
	}
	admin_reply(ar, code, "application/json");
}

/* The route for PATH, with *REST set to what follows a prefix route's prefix. */
static const struct admin_route *admin_route_find(const char *path, const char **rest)
{
	for (size_t i = 0; i < nitems(routes); i++) {
		const char *route = routes[i]->path;
		size_t len = strlen(route);

		if (len > 1 && route[len - 1] == '/' ? strncmp(path, route, len) == 0 :
		    strcmp(path, route) == 0) {
			*rest = path + len;
			return routes[i];
		}
	}
	return NULL;
}

/* (Re)starts AC's deadline: a request must arrive, and its answer leave, within it. */
static void admin_conn_arm(struct admin_conn *ac)
{
	struct timeval limit = { node_config()->admin_timeout, 0 };

	ac->requesting = false;
	evtimer_add(ac->timer, &limit);
}

/* Stops tracking AC: its connection is gone, or was never made. */
static void admin_conn_release(struct admin_conn *ac)
{
	TAILQ_REMOVE(&admin_conns, ac, entry);
	evbuffer_remove_cb_entry(bufferevent_get_input(ac->bev), ac->input_watch);
	event_free(ac->timer);
	bufferevent_decref(ac->bev);
	free(ac);
	if (counting)
		node_admin_closed();
}

static void admin_conn_closed(struct evhttp_connection *evcon, void *arg)
{
	admin_conn_release(arg);
}

/* Bytes arrived: a request is under way, and the deadline is its own. */
static void admin_conn_input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct admin_conn *ac = arg;

	if (info->n_added > 0)
		ac->requesting = true;
}

/* Logs and counts a request that ran past the deadline; an idle keep-alive just closes. */
static void admin_conn_expired(struct admin_conn *ac)
{
	char *host = NULL;
	ev_uint16_t port = 0;

	evhttp_connection_get_peer(ac->evcon, &host, &port);
	if (ac->requesting) {
		node_admin_timed_out();
		log_info("event=admin_timeout peer=%s:%u timeout=%d reason=\"request not "
		    "complete within admin_timeout\"", host != NULL ? host : "?", (unsigned)port,
		    node_config()->admin_timeout);
	} else {
		log_debug("event=admin_idle_close peer=%s:%u timeout=%d", host != NULL ? host : "?",
		    (unsigned)port, node_config()->admin_timeout);
	}
}

/*
 * First, just after the accept: evhttp has made the connection, and its bufferevent's
 * callback argument is it; if the callbacks are gone, evhttp could not make it (out of
 * memory, or epoll refused the socket) and freed the bufferevent. Later, the deadline:
 * shutting the socket makes evhttp see the end of the connection and free it as it
 * always does.
 */
static void admin_conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct admin_conn *ac = arg;
	bufferevent_data_cb readcb, writecb;
	bufferevent_event_cb eventcb;
	void *evcon = NULL;

	if (ac->evcon == NULL) {
		bufferevent_getcb(ac->bev, &readcb, &writecb, &eventcb, &evcon);
		if (readcb == NULL || evcon == NULL) {
			admin_conn_release(ac);
			return;
		}
		ac->evcon = evcon;
		evhttp_connection_set_closecb(ac->evcon, admin_conn_closed, ac);
		admin_conn_arm(ac);
		return;
	}
	admin_conn_expired(ac);
	shutdown(bufferevent_getfd(ac->bev), SHUT_RDWR);
}

/*
 * evhttp accepted a connection and wants its bufferevent: the same evhttp would make
 * (it closes the socket itself), tracked here. The reference this file holds keeps the
 * bufferevent readable until the timer has looked at it.
 */
static struct bufferevent *admin_conn_new(struct event_base *base, void *arg)
{
	struct admin_conn *ac = xcalloc(1, sizeof(*ac));

	ac->bev = xcheck(bufferevent_socket_new(base, -1, 0));
	/* evhttp reads on while it writes an answer nobody reads: bound what it takes in. */
	bufferevent_setwatermark(ac->bev, EV_READ, 0, ADMIN_INPUT_MAX);
	ac->timer = xcheck(evtimer_new(base, admin_conn_timer_cb, ac));
	ac->input_watch = xcheck(evbuffer_add_cb(bufferevent_get_input(ac->bev),
	    admin_conn_input_cb, ac));
	bufferevent_incref(ac->bev);
	TAILQ_INSERT_TAIL(&admin_conns, ac, entry);
	node_admin_opened();
	event_active(ac->timer, EV_TIMEOUT, 1);
	return ac->bev;
}

/* The connection REQ came on: its deadline starts again with this answer. */
static void admin_conn_answering(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct admin_conn *ac;

	TAILQ_FOREACH(ac, &admin_conns, entry) {
		if (ac->evcon == evcon) {
			admin_conn_arm(ac);
			return;
		}
	}
}

/* Every request: token, method, route, in that order, so strangers learn nothing. */
static void admin_handle(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct admin_request ar = {
		.req = req,
		.body = evhttp_request_get_output_buffer(req),
		.rest = "",
		.query = uri != NULL ? evhttp_uri_get_query(uri) : NULL,
		.json = &json,
	};
	const struct admin_route *route;

	admin_conn_answering(req);
	if (token_required && !admin_authorized(req)) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
		    "Bearer realm=\"herd\"");
		/* A browser asks for these; the token is the password (any user name). */
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
		    "Basic realm=\"herd\", charset=\"UTF-8\"");
		admin_reply_error(&ar, 401, "a valid bearer token is required");
		return;
	}
	if (!method_is_read(evhttp_request_get_command(req))) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
		admin_reply_error(&ar, HTTP_BADMETHOD, "only GET and HEAD are allowed");
		return;
	}
	route = path != NULL ? admin_route_find(path, &ar.rest) : NULL;
	if (route == NULL) {
		admin_reply_error(&ar, HTTP_NOTFOUND, "no such path");
		return;
	}
	route->handle(&ar);
}

/* Serves the listener the node made on admin_listen. */
static void admin_listening(struct evconnlistener *listener)
{
	if (evhttp_bind_listener(http, listener) == NULL)
		fatalx("event=startup_failed what=admin error=\"cannot accept on the admin socket\"");
	counting = true;
}

void admin_start(void)
{
	const struct herd_config *cfg = node_config();
	char path[4096], why[256];

	if (!admin_load_token(cfg, path, sizeof(path), why, sizeof(why)))
		fatalx("event=startup_failed what=admin_token_file path=%s error=\"%s\"",
		    log_quote(path, strlen(path)), why);
	json_out_init(&json, JSON_COMPACT);
	http = evhttp_new(node_event_base());
	if (http == NULL)
		fatalx("event=startup_failed what=admin error=\"cannot create the HTTP server\"");
	/* Per read or write; the whole-request deadline below closes first, this is a backstop. */
	evhttp_set_timeout(http, cfg->admin_timeout);
	evhttp_set_bevcb(http, admin_conn_new, NULL);
	evhttp_set_max_headers_size(http, ADMIN_MAX_HEADERS_SIZE);
	evhttp_set_max_body_size(http, ADMIN_MAX_BODY_SIZE);
	evhttp_set_allowed_methods(http, ADMIN_ALL_METHODS);
	evhttp_set_gencb(http, admin_handle, NULL);
	node_admin_listen(admin_listening);
	if (token_required)
		log_info("event=admin_auth mode=bearer_token");
}

void admin_stop(void)
{
	struct admin_conn *ac;

	/* evhttp frees the listener before the connections, whose closing would resume it. */
	counting = false;
	node_admin_unlisten();
	if (http != NULL)
		evhttp_free(http);
	http = NULL;
	/* Connections evhttp had not made yet when it stopped. */
	while ((ac = TAILQ_FIRST(&admin_conns)) != NULL)
		admin_conn_release(ac);
	json_out_free(&json);
	OPENSSL_cleanse(token_digest, sizeof(token_digest));
	token_required = false;
}
