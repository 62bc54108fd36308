/* Spreading new records through the herd (SPEC section 4). */
#ifndef HERD_FLOOD_H
#define HERD_FLOOD_H

#include <stdbool.h>
#include <stddef.h>

#include "htime.h"

struct peer;
struct record;

enum flood_result {
	FLOOD_STORED,          /* newer: stored and passed on to the other linked neighbours */
	FLOOD_STALE,           /* older than or equal to what the node holds: stops here */
	FLOOD_INVALID,         /* not an AT line as proto_at_format writes it */
	FLOOD_TOO_LONG,        /* longer than any node writes: its SYNC line would not pass */
	FLOOD_UNKNOWN_SERVER,  /* written by a node that is not in the configuration */
	FLOOD_FUTURE,          /* client time more than max_clock_skew ahead of this clock */
	FLOOD_FULL,            /* a new client, and the table holds max_clients */
};

/*
 * Who passes a record on to the neighbours whose link is up, except EXCEPT (NULL: all),
 * returning how many copies went: peers_flood, set by peer.c at start (tests set their
 * own). flood.c knows the neighbours only through it, so it includes nothing of theirs.
 */
typedef size_t (*flood_fanout_cb)(const struct record *rec, const struct peer *except);
void flood_set_fanout(flood_fanout_cb fanout);

/* A client told this node something newer: REC is stored; tell the neighbours. */
void flood_originate(const struct record *rec);

/*
 * Neighbour FROM sent the AT line LINE, flooded or (SYNC) as part of the table it sends
 * when a link comes up. A newer record is stored and sent to every other linked
 * neighbour, whichever way it came, so a sync received by one node reaches the nodes
 * behind it too. Only a well-formed line of a node of the herd is considered at all.
 * NOW is the time to check the client time against (the caller's, cached per pass).
 */
enum flood_result flood_receive(const struct peer *from, const char *line, size_t len,
    bool sync, struct htime now);

/*
 * A record the link could not take whole, longer than its line limit (a neighbour with a
 * larger max_line): counted as flood_receive counts one that is too long; FLOOD_TOO_LONG.
 */
enum flood_result flood_receive_too_long(bool sync);

/* Why a record was refused, for logs; NULL for FLOOD_STORED and FLOOD_STALE. */
const char *flood_refusal(enum flood_result result);

#endif
