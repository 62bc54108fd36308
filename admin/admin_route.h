/*
 * What admin.c hands each route: one request, the reply body to fill, and the ways to
 * answer. Each route file exports one entry, which admin.c's table dispatches.
 */
#ifndef HERD_ADMIN_ROUTE_H
#define HERD_ADMIN_ROUTE_H

#include <stdbool.h>

#include "json_out.h"

struct evbuffer;
struct evhttp_request;

struct admin_request {
	struct evhttp_request *req;
	struct evbuffer *body;     /* the reply body, empty when the route starts */
	const char *rest;          /* the path after a prefix route's prefix, still encoded */
	const char *query;         /* the raw query string, NULL when there is none */
	struct json_out *json;     /* the shared generator; admin_json_begin points it at BODY */
};

struct admin_route {
	const char *path;          /* an exact path ("/" too), or a prefix when it ends in '/' */
	void (*handle)(struct admin_request *ar);
};

extern const struct admin_route route_clients_entry;
extern const struct admin_route route_client_entry;
extern const struct admin_route route_peers_entry;
extern const struct admin_route route_stats_entry;
extern const struct admin_route route_metrics_entry;
extern const struct admin_route route_health_entry;
extern const struct admin_route route_herd_entry;
extern const struct admin_route route_home_entry;

/* Seconds since the node started (never negative, even if the clock steps back). */
double admin_uptime_seconds(void);

/* Sends the body with status CODE; a HEAD request gets the same headers and no body. */
void admin_reply(struct admin_request *ar, int code, const char *content_type);
/* Starts the reply's JSON document, written into the body. */
struct json_out *admin_json_begin(struct admin_request *ar);
/*
 * Sends the JSON document written into the body with status CODE, or a 500 error when
 * a write of it failed.
 */
void admin_reply_json(struct admin_request *ar, int code);
/* Answers CODE with {"error": MESSAGE} in place of whatever the body held. */
void admin_reply_error(struct admin_request *ar, int code, const char *message);

#endif
