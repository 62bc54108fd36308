/*
 * The stand-in's HTTP routes: the two Places APIs, /_control (fault knob)
 * and /_stats (what the last Places request asked for). One table maps a
 * path to its handler; unknown paths get 404 and other methods 405.
 */
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "standin.h"

#define LEGACY_PATH "/maps/api/place/nearbysearch/json"
#define NEW_PATH "/v1/places:searchNearby"

struct route {
	const char *path;
	int methods;
	const char *allow;
	void (*handler)(struct standin *, struct evhttp_request *);
};

static struct evbuffer *
body_new(void)
{
	struct evbuffer *body = evbuffer_new();

	if (body == NULL)
		standin_fatalx("out of memory");
	return body;
}

static enum key_check
key_check(const struct standin *sd, const char *key)
{
	if (key == NULL || *key == '\0')
		return KEY_MISSING;
	if (sd->key_required != NULL && strcmp(key, sd->key_required) != 0)
		return KEY_INVALID;
	return KEY_OK;
}

void
stats_free(struct stats *stats)
{
	free(stats->last.path);
	free(stats->last.query);
	free(stats->last.field_mask);
	memset(&stats->last, 0, sizeof(stats->last));
	stats->have_last = false;
}

/* Count a Places request and keep what it asked for; never the key. */
static void
stats_record(struct standin *sd, struct evhttp_request *req,
    const struct search *search, enum key_check key, const char *field_mask)
{
	struct last_request *last = &sd->stats.last;
	struct bufferevent *bev = evhttp_connection_get_bufferevent(
	    evhttp_request_get_connection(req));
	SSL *ssl = bev != NULL ? bufferevent_openssl_get_ssl(bev) : NULL;

	/* A connection's first Places request counts it and its handshake: resumed or full. */
	if (ssl != NULL && SSL_get_app_data(ssl) == NULL) {
		int one = 1;

		/* Answers go out whole at once, as a web front end's do: no Nagle wait. */
		(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		SSL_set_app_data(ssl, sd);
		sd->stats.connections++;
		if (SSL_session_reused(ssl))
			sd->stats.handshakes_resumed++;
		else
			sd->stats.handshakes_full++;
	}
	stats_free(&sd->stats);
	sd->stats.requests++;
	sd->stats.have_last = true;
	last->method = request_method_name(req);
	last->path = printable_copy(request_path(req));
	last->query = request_query_redacted(req);
	last->field_mask = field_mask != NULL ? printable_copy(field_mask) : NULL;
	last->search = *search;
	last->key = key;
}

/* The legacy document for one request; Google answers 200 even to errors. */
static void
legacy_answer(const struct standin *sd, const struct search *search,
    enum key_check key, struct evbuffer *body)
{
	struct place places[PLACES_MAX];

	if (sd->fault.mode == FAULT_STATUS)
		render_legacy_status(body, sd->fault.status->name,
		    sd->fault.status->legacy_message);
	else if (key == KEY_MISSING)
		render_legacy_status(body, "REQUEST_DENIED",
		    "You must use an API key to authenticate each request to "
		    "Google Maps Platform APIs.");
	else if (key == KEY_INVALID)
		render_legacy_status(body, "REQUEST_DENIED",
		    "The provided API key is invalid.");
	else if (search->error != NULL)
		render_legacy_status(body, "INVALID_REQUEST", search->error);
	else {
		gen_places(search->lat, search->lng, search->radius,
		    sd->fault.count, places);
		render_legacy_places(body, places, sd->fault.count);
	}
}

static void
route_legacy(struct standin *sd, struct evhttp_request *req)
{
	const char *query;
	struct evkeyvalq params;
	struct search search;
	enum key_check key;
	struct evbuffer *body = body_new();

	TAILQ_INIT(&params);
	query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	if (query != NULL)
		evhttp_parse_query_str(query, &params);
	parse_legacy_search(evhttp_find_header(&params, "location"),
	    evhttp_find_header(&params, "radius"), &search);
	key = key_check(sd, evhttp_find_header(&params, "key"));
	stats_record(sd, req, &search, key, NULL);
	evhttp_clear_headers(&params);

	legacy_answer(sd, &search, key, body);
	reply_places(sd, req, 200, body);
}

/* A forced status, in the new API's terms: an HTTP error, or no places. */
static int
new_forced_status(const struct status_info *status, struct evbuffer *body)
{
	if (status->rpc_status == NULL)
		render_new_places(body, NULL, 0, "*");
	else
		render_error(body, status->http_code, status->rpc_status,
		    status->message);
	return status->http_code;
}

/* The new API's document for one request; returns the HTTP status. */
static int
new_answer(const struct standin *sd, const struct search *search,
    enum key_check key, const char *field_mask, struct evbuffer *body)
{
	struct place places[PLACES_MAX];
	size_t count = sd->fault.count;

	if (sd->fault.mode == FAULT_STATUS)
		return new_forced_status(sd->fault.status, body);
	if (key != KEY_OK) {
		render_error(body, 403, "PERMISSION_DENIED", key == KEY_MISSING ?
		    "The request is missing a valid API key." :
		    "API key not valid. Please pass a valid API key.");
		return 403;
	}
	if (search->error != NULL || field_mask == NULL) {
		render_error(body, 400, "INVALID_ARGUMENT",
		    search->error != NULL ? search->error :
		    "FieldMask is a required parameter.");
		return 400;
	}
	if (search->max_results >= 0 && (size_t)search->max_results < count)
		count = (size_t)search->max_results;
	else if (search->max_results < 0 && count > NEW_API_MAX_RESULTS)
		count = NEW_API_MAX_RESULTS;
	gen_places(search->lat, search->lng, search->radius, count, places);
	render_new_places(body, places, count, field_mask);
	return 200;
}

/* The request body as a C string (evhttp caps its size). */
static char *
request_body_text(struct evhttp_request *req, size_t *len)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	char *text;

	*len = evbuffer_get_length(in);
	if ((text = malloc(*len + 1)) == NULL)
		standin_fatalx("out of memory");
	evbuffer_copyout(in, text, *len);
	text[*len] = '\0';
	return text;
}

static void
route_new(struct standin *sd, struct evhttp_request *req)
{
	struct evkeyvalq *headers = evhttp_request_get_input_headers(req);
	const char *field_mask = evhttp_find_header(headers, "X-Goog-FieldMask");
	struct evbuffer *body = body_new();
	struct search search;
	enum key_check key;
	size_t len;
	char *text = request_body_text(req, &len);
	int code;

	parse_new_search(text, len, &search);
	free(text);
	key = key_check(sd, evhttp_find_header(headers, "X-Goog-Api-Key"));
	stats_record(sd, req, &search, key, field_mask);

	code = new_answer(sd, &search, key, field_mask, body);
	reply_places(sd, req, code, body);
}

/* GET shows the fault settings; POST replaces them (see fault_parse). */
static void
route_control(struct standin *sd, struct evhttp_request *req)
{
	struct evbuffer *body = body_new();
	const char *error = NULL;
	size_t len;
	char *text;

	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
		text = request_body_text(req, &len);
		error = len > CONTROL_BODY_MAX ? "body too large" :
		    fault_parse(text, &sd->fault);
		free(text);
	}
	if (error != NULL) {
		render_error(body, 400, "INVALID_ARGUMENT", error);
		reply_send(sd, req, 400, body);
		return;
	}
	render_fault(body, &sd->fault);
	reply_send(sd, req, 200, body);
}

static void
route_stats(struct standin *sd, struct evhttp_request *req)
{
	struct evbuffer *body = body_new();

	render_stats(body, &sd->stats);
	reply_send(sd, req, 200, body);
}

static const struct route routes[] = {
	{ LEGACY_PATH, EVHTTP_REQ_GET, "GET", route_legacy },
	{ NEW_PATH, EVHTTP_REQ_POST, "POST", route_new },
	{ "/_control", EVHTTP_REQ_GET | EVHTTP_REQ_POST, "GET, POST",
	    route_control },
	{ "/_stats", EVHTTP_REQ_GET, "GET", route_stats },
};

static const struct route *
route_find(const char *path)
{
	size_t i;

	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(routes[i].path, path) == 0)
			return &routes[i];
	return NULL;
}

/* evhttp's generic callback: every request arrives here. */
void
routes_dispatch(struct evhttp_request *req, void *arg)
{
	struct standin *sd = arg;
	const struct route *route = route_find(request_path(req));
	struct evbuffer *body;

	if (route != NULL &&
	    (evhttp_request_get_command(req) & route->methods) != 0) {
		route->handler(sd, req);
		return;
	}
	body = body_new();
	if (route == NULL) {
		render_error(body, 404, "NOT_FOUND",
		    "The requested URL was not found on this server.");
		reply_send(sd, req, 404, body);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
	    route->allow);
	render_error(body, 405, "METHOD_NOT_ALLOWED", "Method not allowed.");
	reply_send(sd, req, 405, body);
}
