/*
 * Peer links (SPEC section 4): one persistent, authenticated link per configured pair of
 * neighbours. What the admin endpoint reads of them (peer_count, peer_get_status) is
 * declared in admin/node.h.
 */
#ifndef HERD_PEER_H
#define HERD_PEER_H

#include <stdbool.h>
#include <stddef.h>

#include "node.h"

struct peer;
struct record;

/*
 * Reads the herd secret, once, at start-up before peers_start (secret.h: a systemd
 * credential herd.secret takes precedence); peers_secret gives it (NULL and 0 for a
 * loopback herd without one).
 */
void peers_load_secret(void);
const unsigned char *peers_secret(size_t *len);
/*
 * Sets up one peer per configured neighbour and starts listening and dialling. WRITTEN
 * is called whenever the records flooded so far have been handed to the neighbours'
 * sockets, so the replies held back for them may go out.
 */
void peers_start(void (*written)(void));
/*
 * True while records flooded in this loop pass wait in the links' buffers: a reply
 * that acknowledges one waits too (the pass's end writes the links first), so a node
 * that dies after a reply has almost always passed the record on.
 */
bool peers_pending(void);
/* What a reload changed among the neighbours. */
struct peers_change {
	size_t added, removed, readdressed;
};

/*
 * After a reload swapped herdd.config: links to neighbours that were removed close,
 * neighbours added are dialled, a neighbour whose peer_listen changed is dialled at the
 * new address, and the others keep their links.
 */
void peers_reload(struct peers_change *change);
/* A new herd secret: handshakes from now on use it (links up stay up). */
void peers_set_secret(const unsigned char *key, size_t len);
/* Closes every link and the peer listener (shutdown). */
void peers_stop(void);

/*
 * Sends REC to every neighbour whose link is up except EXCEPT (NULL: all of them);
 * returns how many copies were queued.
 */
size_t peers_flood(const struct record *rec, const struct peer *except);

/*
 * Sends the link-state report LINE to every neighbour whose link is up except EXCEPT
 * (NULL: all); a busy link skips it, as the next report repeats it.
 */
void peers_send_report(const char *line, size_t len, const struct peer *except);

#endif
