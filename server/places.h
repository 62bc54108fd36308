/*
 * The Places client (SPEC section 5): asks the Places API what is near a location and
 * hands back the JSON part of a WHATSAT reply, already trimmed to the bound and
 * formatted (runs of newlines collapsed, no trailing newline). Failures come back as
 * the UNKNOWN_ERROR object of SPEC section 3, so callers always get a reply.
 */
#ifndef HERD_PLACES_H
#define HERD_PLACES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evdns_base;
struct herd_config;
struct places;
struct places_wait;

struct places_request {
	const char *latitude;        /* plain decimal degrees, e.g. "34.068930" */
	const char *longitude;
	const char *radius_metres;   /* exact decimal metres, e.g. "10000" */
	int bound;                   /* 1..20 */
	uint64_t requester;          /* the client connection asking: queued calls take turns
					by it (places_pool.c) */
};

/* JSON of LEN bytes, valid only during the call. */
typedef void (*places_done_cb)(const char *json, size_t len, void *arg);

struct places *places_new(struct event_base *base, struct evdns_base *dns,
    const struct herd_config *config);
/*
 * The same for a reload: NULL, with the configuration key in *WHAT and the reason in
 * WHY, when the configuration cannot be used (URL, CA file, key).
 */
struct places *places_open(struct event_base *base, struct evdns_base *dns,
    const struct herd_config *config, const char **what, char *why, size_t size);
/*
 * A reload replaced P: it takes no new searches (they go to its successor), answers the
 * ones it has, then frees itself and its connections.
 */
void places_retire(struct places *p);
/*
 * The longest places_timeout a call may still be waiting under: P's, or a longer one of
 * a client a reload replaced (a reload that shortened it leaves the old calls theirs).
 */
int places_timeout_longest(const struct places *p);
/* Frees the clients reloads replaced that still had flights (shutdown). */
void places_free_retired(void);
void places_free(struct places *p);

/*
 * Starts a search; DONE is called later from the loop, never from inside this call.
 * A search identical to one in flight shares its upstream call (see places.c).
 */
struct places_wait *places_search(struct places *p, const struct places_request *req,
    places_done_cb done, void *arg);
/* Forgets a search whose caller went away: DONE will not be called. */
void places_cancel(struct places_wait *w);

#endif
