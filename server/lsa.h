/*
 * A node's link-state report (README "Link state"), as routing protocols flood theirs:
 * its name, a version (the boot it comes from and a sequence number in that boot), a
 * few counters and the state of each of its links, on one peer line:
 *
 *   LSA NAME BOOT SEQ version=V uptime=S clients=N ... links=Peer:up,Other:down
 *
 * Pure functions: writing, parsing and ordering reports. No I/O here.
 */
#ifndef HERD_LSA_H
#define HERD_LSA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define LSA_LINKS_MAX 64           /* links one report can name; more are counted, not named */
#define LSA_VERSION_MAX 32         /* bytes of a version string, with its NUL */
#define LSA_OMITTED_MAX 1000000000 /* links a report may say it left out */
/* The largest SEQ: a node that would pass it starts a new BOOT (a forged report near
 * 2^64 must not leave its true origin with numbers no node reads). */
#define LSA_SEQ_MAX 1000000000000000000ULL
/* Room a report leaves at the end of a line for the " age=MS" a greeting adds. */
#define LSA_AGE_ROOM 24

/* A link as its end sees it (the values of admin/node.h's enum peer_state). */
enum lsa_link_state {
	LSA_LINK_DOWN,
	LSA_LINK_CONNECTING,
	LSA_LINK_UP,
};

struct lsa_link {
	char peer[CONFIG_NAME_MAX];
	enum lsa_link_state state;
};

/* The counters a report carries, in the order the line lists them. */
enum lsa_counter {
	LSA_UPTIME,                /* seconds since the node started */
	LSA_CLIENTS,               /* clients in its table */
	LSA_CONNECTIONS,           /* client connections open */
	LSA_IAMAT,
	LSA_WHATSAT,
	LSA_INVALID,
	LSA_ORIGINATED,            /* flood: records its clients told it */
	LSA_RECEIVED,              /* flood: records from its neighbours */
	LSA_FORWARDED,             /* flood: copies it passed on */
	LSA_STALE,                 /* flood: records dropped as not newer */
	LSA_SYNC_SENT,             /* records sent by link-up syncs */
	LSA_SYNC_RECEIVED,
	LSA_PLACES_REQUESTS,
	LSA_PLACES_ERRORS,
	LSA_PLACES_DONE,           /* upstream calls finished, timed in places_ms */
	LSA_PLACES_MS,             /* their durations summed, in milliseconds */
	LSA_NCOUNTERS,
};

struct lsa {
	char origin[CONFIG_NAME_MAX];
	uint64_t boot;             /* the origin's start, in microseconds of its wall clock */
	uint64_t seq;              /* counts the reports of that boot */
	char version[LSA_VERSION_MAX];
	uint64_t counters[LSA_NCOUNTERS];
	struct lsa_link links[LSA_LINKS_MAX];
	size_t nlinks;
	uint64_t links_omitted;    /* links the line had no room (or the struct no slot) for */
	uint64_t age_ms;           /* age=: how long ago the sender's copy was first heard
	                              (0: from its origin now); lsa_format never writes it */
};

/* The key of COUNTER on the line ("uptime", "clients", ...). */
const char *lsa_counter_key(enum lsa_counter counter);
/* "up", "connecting" or "down". */
const char *lsa_link_state_name(enum lsa_link_state state);

/*
 * Writes A as a peer line, without LF, into BUF of SIZE bytes; its length. Links that
 * do not fit are left out and counted in omitted=; 0 when not even the rest fits.
 */
size_t lsa_format(char *buf, size_t size, const struct lsa *a);
/*
 * Parses a line lsa_format wrote (keys it does not know are skipped, so a newer node
 * may say more). False, with the reason in *WHY, for anything else.
 */
bool lsa_parse(const char *line, size_t len, struct lsa *out, const char **why);
/*
 * True when the report (BOOT, SEQ) is newer than (THAN_BOOT, THAN_SEQ): a later boot, or
 * the same boot and a later sequence number.
 */
bool lsa_newer(uint64_t boot, uint64_t seq, uint64_t than_boot, uint64_t than_seq);
/*
 * LINE (LEN bytes, a report) into BUF of SIZE bytes with its age= field, if any, replaced
 * by AGE_MS (none for 0), its fields joined by single spaces: how a node passes on a
 * report it has held. Its length, or 0 when that does not fit BUF or the field limit.
 */
size_t lsa_with_age(const char *line, size_t len, uint64_t age_ms, char *buf, size_t size);

#endif
