/* Spreading new records through the herd (SPEC section 4). */
#ifndef HERD_FLOOD_H
#define HERD_FLOOD_H

#include <stdbool.h>
#include <stddef.h>

struct peer;
struct record;

enum flood_result {
	FLOOD_STORED,    /* newer: stored and passed on to the other linked neighbours */
	FLOOD_STALE,     /* older than or equal to what the node holds: stops here */
	FLOOD_INVALID,   /* not a valid AT line */
	FLOOD_NOMEM,
};

/* A client told this node something newer: REC is stored; tell the neighbours. */
void flood_originate(const struct record *rec);

/*
 * Neighbour FROM sent the AT line LINE, flooded or (SYNC) as part of the table it sends
 * when a link comes up. A newer record is stored and sent to every other linked
 * neighbour, whichever way it came, so a sync received by one node reaches the nodes
 * behind it too.
 */
enum flood_result flood_receive(const struct peer *from, const char *line, size_t len,
    bool sync);

#endif
