/*
 * places-standin: a local Google Places Nearby Search stand-in for tests.
 * Shared types of the generator (gen.c), the input parsers (parse.c), the
 * JSON renderers (render.c), the HTTP routes (routes.c) and replies (reply.c).
 */
#ifndef HERD_STANDIN_H
#define HERD_STANDIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#define PLACES_DEFAULT 20		/* places per answer, as Google's page */
#define PLACES_MAX 60			/* upper bound of the count knob */
#define NEW_API_MAX_RESULTS 20		/* maxResultCount range is 1..20 */
#define RADIUS_MAX_METRES 50000.0
#define SLOW_SECONDS_MAX 600
#define BODY_MAX (64 * 1024)
#define CONTROL_BODY_MAX 1024
#define JSON_DEPTH_MAX 32

/* One kind of business: its name suffix, legacy icon and Places types. */
struct place_kind {
	const char *label;
	const char *icon;
	const char *const types[5];
};

/* One generated place; coordinates are already rounded to 1e-7 degrees. */
struct place {
	char id[28];
	char name[64];
	char vicinity[80];
	char address[96];
	const struct place_kind *kind;
	double lat, lng;
	double north, south, east, west;
	double rating;
	int rating_count;
};

/* What one Places request asked for; fields are valid only when flagged. */
struct search {
	bool has_location;
	double lat, lng;
	bool has_radius;
	double radius;
	long max_results;	/* new API; -1 when the body does not say */
	const char *error;	/* first problem found, NULL when valid */
};

/* A Places status that the fault knob can force, in both API dialects. */
struct status_info {
	const char *name;		/* legacy "status" */
	const char *legacy_message;	/* legacy "error_message", or NULL */
	int http_code;			/* new API */
	const char *rpc_status;		/* new API error.status */
	const char *message;		/* new API error.message */
};

enum fault_mode {
	FAULT_OK,
	FAULT_HTTP500,
	FAULT_SLOW,
	FAULT_TRUNCATED,
	FAULT_INVALID,
	FAULT_CLOSE,
	FAULT_STATUS,
};

/* The behaviour POST /_control selects for every following Places request. */
struct fault {
	enum fault_mode mode;
	unsigned slow_seconds;
	const struct status_info *status;
	size_t count;
	unsigned close_next;	/* close this many more Places requests unanswered */
};

enum key_check { KEY_MISSING, KEY_INVALID, KEY_OK };

/* The last Places request, as GET /_stats shows it. Strings are owned. */
struct last_request {
	const char *method;
	char *path;
	char *query;		/* with the key value redacted */
	char *field_mask;	/* NULL when absent */
	struct search search;
	enum key_check key;
};

struct stats {
	unsigned long requests;
	/* Connections that carried a Places request, by how their handshake went. */
	unsigned long connections, handshakes_full, handshakes_resumed;
	bool have_last;
	struct last_request last;
};

struct delayed_reply;
TAILQ_HEAD(delayed_list, delayed_reply);

struct standin {
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *tls;
	const char *key_required;	/* NULL: any non-empty key is accepted */
	FILE *log;
	struct fault fault;
	struct stats stats;
	struct delayed_list delayed;
};

/* gen.c */
void gen_places(double lat, double lng, double radius, size_t count,
    struct place *out);

/* parse.c */
void parse_legacy_search(const char *location, const char *radius,
    struct search *out);
void parse_new_search(const char *body, size_t len, struct search *out);
bool field_mask_allows(const char *mask, const char *field);
void fault_defaults(struct fault *out);
const char *fault_parse(const char *body, struct fault *out);
const char *fault_mode_name(enum fault_mode mode);
void redact_query(const char *query, struct evbuffer *out);
char *printable_copy(const char *text);

/* render.c */
void render_legacy_places(struct evbuffer *out, const struct place *places,
    size_t count);
void render_legacy_status(struct evbuffer *out, const char *status,
    const char *error_message);
void render_new_places(struct evbuffer *out, const struct place *places,
    size_t count, const char *field_mask);
void render_error(struct evbuffer *out, int code, const char *status,
    const char *message);
void render_stats(struct evbuffer *out, const struct stats *stats);
void render_fault(struct evbuffer *out, const struct fault *fault);

/* routes.c */
void routes_dispatch(struct evhttp_request *req, void *arg);
void stats_free(struct stats *stats);

/* reply.c */
const char *request_method_name(struct evhttp_request *req);
const char *request_path(struct evhttp_request *req);
char *request_query_redacted(struct evhttp_request *req);
void reply_send(struct standin *sd, struct evhttp_request *req, int code,
    struct evbuffer *body);
void reply_places(struct standin *sd, struct evhttp_request *req, int code,
    struct evbuffer *body);
void reply_drop_delayed(struct standin *sd);

/* places-standin.c */
void standin_log(struct standin *sd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void standin_fatalx(const char *what) __attribute__((noreturn));

#endif
