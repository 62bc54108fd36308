/*
 * The node as the admin endpoint sees it: every accessor admin/ may call, and nothing
 * else of server/ (tests/layers.py checks the includes). server/ implements them:
 * node.c the node's own state, peer.c the neighbours, stats.c the counters, linkstate.c
 * the herd view.
 */
#ifndef HERD_NODE_H
#define HERD_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "herdmap.h"
#include "htime.h"

struct event_base;
struct table;

/* The node. */
struct event_base *node_event_base(void);
const struct herd_config *node_config(void);
const struct config_node *node_self(void);
struct htime node_started(void);
/* The client table, to read (clients_view.h pages it). */
const struct table *node_table(void);

/* The neighbours, in configuration order; I in 0..peer_count()-1. */
enum peer_state {
	PEER_DOWN,
	PEER_CONNECTING,
	PEER_UP,
};

struct peer_status {
	const char *name;
	char address[300];          /* the neighbour's peer_listen as configured */
	enum peer_state state;
	struct htime since;         /* when it entered STATE */
	uint64_t sent;              /* records sent over the link */
	uint64_t received;          /* records received over the link */
	size_t queued_bytes;        /* output waiting for the neighbour to read */
	size_t pending_records;     /* records owed past the link's window (newest wins) */
	uint64_t connects;          /* times the link came up */
	uint64_t connect_failures;  /* dials or handshakes that failed */
};

size_t peer_count(void);
void peer_get_status(size_t i, struct peer_status *out);
const char *peer_state_name(enum peer_state state);

/*
 * The node's counters, one table that /stats and /metrics both render (as redis builds
 * INFO in one place): each entry is a member KEY of the /stats object GROUP and a sample
 * of the Prometheus family METRIC, with at most one label. Entries of one family follow
 * each other; adding a counter is one entry in server/stats.c.
 */
enum node_metric_type {
	NODE_COUNTER,
	NODE_GAUGE,
};

struct node_counter {
	const char *group;          /* the /stats object it is in */
	const char *key;            /* its member there */
	const char *metric;         /* the Prometheus family */
	enum node_metric_type type;
	const char *help;           /* the family's HELP (its first entry's counts) */
	const char *label_name;     /* NULL: the family's one sample */
	const char *label_value;
	const uint64_t *value;
};

/* The /stats groups, in the order /stats shows them; NULL-ended. */
extern const char *const node_counter_groups[];
extern const struct node_counter node_counters[];
extern const size_t node_ncounters;
/* Brings the counters that depend on the clock up to date; call before reading them. */
void node_stats_refresh(void);

/* The Places latency histogram (cumulative buckets per upper bound; +Inf is COUNT). */
struct node_histogram {
	const double *bounds;
	size_t nbounds;
	const uint64_t *buckets;
	uint64_t count;
	double sum;                 /* seconds */
};
void node_places_latency(struct node_histogram *out);

/*
 * The herd as this node sees it from the link-state reports (server/linkstate.c), built
 * at the call; valid until the next call.
 */
const struct herdview *node_herd_view(void);

/* Counts an admin connection closed by admin_timeout. */
void node_admin_timed_out(void);

/*
 * The admin socket: admin_listen bound (a name resolved with evdns) with the node's
 * acceptor, which pauses when accept fails and at admin_max_connections. READY gets the
 * listener, for evhttp to own. Every connection made on it is counted with
 * node_admin_opened and node_admin_closed; node_admin_unlisten stops the counting and
 * the acceptor before evhttp frees the listener (shutdown).
 */
struct evconnlistener;
void node_admin_listen(void (*ready)(struct evconnlistener *listener));
void node_admin_opened(void);
void node_admin_closed(void);
void node_admin_unlisten(void);

#endif
