/*
 * The herd as one node knows it (README "Link state"): the newest report of every other
 * node, and from them the view /herd and the status page show: which nodes this one can
 * reach, each configured link as both ends see it, and the partitions. Pure: the caller
 * passes the clock, so unit tests drive the newest-wins and ageing rules directly.
 */
#ifndef HERD_HERDMAP_H
#define HERD_HERDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "htime.h"
#include "lsa.h"

/* The newest report heard from one node, and the line it came in (forwarded verbatim). */
struct herdmap_entry {
	struct lsa report;
	char *line;
	size_t len;
	uint64_t heard_ms;         /* monotonic clock, when it was stored */
	struct htime heard_at;     /* wall clock, the same moment */
};

struct herdmap {
	struct herdmap_entry *entries;
	size_t n, cap;
};

/*
 * Offers REPORT (its line LINE, LEN bytes), heard at NOW_MS (monotonic) and NOW (wall),
 * less its age= (a neighbour's greeting passes on reports it has held that long). It
 * replaces what the map holds from its origin when it is newer (lsa_newer), or when the
 * held one is older than MAX_AGE_MS and this is another report: a node whose clock
 * stepped back before it restarted is believed again once its old reports have aged
 * out. A report as old as MAX_AGE_MS is not stored. True when stored.
 */
bool herdmap_offer(struct herdmap *m, const struct lsa *report, const char *line, size_t len,
    uint64_t now_ms, struct htime now, uint64_t max_age_ms);
/* The entry of node NAME, or NULL when none was heard. */
const struct herdmap_entry *herdmap_find(const struct herdmap *m, const char *name);
/* True when E was heard less than MAX_AGE_MS ago. */
bool herdmap_fresh(const struct herdmap_entry *e, uint64_t now_ms, uint64_t max_age_ms);
void herdmap_free(struct herdmap *m);

/* A configured link as this node sees it. */
enum herdview_link_state {
	HERDVIEW_LINK_UP,          /* both ends say up */
	HERDVIEW_LINK_HALF,        /* one end says up, the other does not (or is not heard) */
	HERDVIEW_LINK_DOWN,        /* no end says up */
	HERDVIEW_LINK_UNKNOWN,     /* neither end is heard */
};

/* What one end says of a link: a lsa_link_state, or this for nothing (not heard, stale). */
#define HERDVIEW_VIEW_UNKNOWN (-1)
/* The partition of a node this one has not heard of lately: it cannot tell. */
#define HERDVIEW_NO_PARTITION SIZE_MAX

struct herdview_node {
	const char *name;          /* the configuration's */
	bool self;
	const struct lsa *report;  /* its newest report (self: the one it would send now), or NULL */
	bool fresh;                /* heard within the ageing time (self: always) */
	bool reachable;            /* joined to this node by links both ends say are up */
	uint64_t age_ms;           /* since it was heard (self: 0) */
	struct htime heard_at;
	size_t partition;          /* index into the partitions (0 is this node's), or
	                              HERDVIEW_NO_PARTITION for a node not fresh: unheard */
};

struct herdview_link {
	size_t a, b;               /* nodes, a < b in configuration order */
	int view_a, view_b;        /* what each end says, or HERDVIEW_VIEW_UNKNOWN */
	enum herdview_link_state state;
};

struct herdview {
	struct herdview_node *nodes;   /* every configured node, in configuration order */
	size_t nnodes;
	struct herdview_link *links;   /* every configured link, by a then b */
	size_t nlinks;
	size_t npartitions;            /* groups of fresh nodes joined by up links, this node's
	                                  first */
	size_t nreachable;             /* nodes in partition 0, this node included */
	size_t nunheard;               /* nodes not fresh, in no partition */
};

/*
 * Builds the view of CFG's herd from node SELF (an index into CFG's nodes), whose own
 * report is SELF_REPORT, and the reports in M, at NOW_MS: an end's word on a link counts
 * while it is fresh. V is reused from call to call; herdview_free frees it.
 */
void herdview_build(struct herdview *v, const struct herd_config *cfg, size_t self,
    const struct lsa *self_report, const struct herdmap *m, uint64_t now_ms,
    uint64_t max_age_ms);
void herdview_free(struct herdview *v);
/* "up", "half", "down" or "unknown". */
const char *herdview_link_state_name(enum herdview_link_state state);

#endif
