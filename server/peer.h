/*
 * Peer links (SPEC section 4): one persistent, authenticated link per configured pair of
 * neighbours. This header is also the read-only view the admin endpoint has of them.
 */
#ifndef HERD_PEER_H
#define HERD_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "htime.h"

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
	uint64_t connects;          /* times the link came up */
	uint64_t connect_failures;  /* dials or handshakes that failed */
};

/* Sets up one peer per configured neighbour and starts listening and dialling. */
void peers_start(void);
/* Closes every link and the peer listener (shutdown). */
void peers_stop(void);

struct peer;
struct record;

/*
 * Sends REC to every neighbour whose link is up except EXCEPT (NULL: all of them);
 * returns how many copies were queued.
 */
size_t peers_flood(const struct record *rec, const struct peer *except);

/* Neighbours of this node, in configuration order; I in 0..peer_count()-1. */
size_t peer_count(void);
void peer_get_status(size_t i, struct peer_status *out);
const char *peer_state_name(enum peer_state state);

#endif
