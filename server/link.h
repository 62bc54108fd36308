/*
 * One TCP connection on the peer port, in either direction (README "Peer links and the
 * wire format"): line I/O with its limits, the HELLO/AUTH handshake, records handed to
 * flood.c, the table sync this node sends, heartbeat and timeouts, and one close path.
 * What a link means for a neighbour (which one it is, whether it is the live link, when
 * to redial) is its owner's, peer.c's, told through the callbacks of the one struct
 * link_owner registered with links_start. Closing a link stops its I/O at once and frees
 * it from the loop later, so sending on a closing link does nothing and no function
 * reports that a link is gone.
 */
#ifndef HERD_LINK_H
#define HERD_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/util.h>

struct link;
struct peer;
struct record;
struct sockaddr;

struct link_owner {
	/*
	 * The other end said HELLO as the node (NAME, LEN): the peer the link is for, named
	 * with link_set_name, or NULL with the reason in WHY (SIZE bytes) to refuse it.
	 */
	struct peer *(*hello)(struct link *l, const char *name, size_t len, char *why,
	    size_t size);
	/*
	 * The neighbour's AUTH verified. The owner makes L its live link, or closes it (or
	 * the link it had) by the duplicate rule; L syncs unless it was closed.
	 */
	void (*up)(struct link *l, struct peer *p);
	/* L is closing: let go of it. True when it was P's live link (P NULL: no peer yet). */
	bool (*detach)(struct link *l, struct peer *p);
	/* L is closed and its close logged: redial, or show the new state. */
	void (*closed)(struct link *l, struct peer *p);
};

/* Keeps the owner's callbacks and the herd secret KEY (the owner's); once, at start-up. */
void links_start(const struct link_owner *owner, const unsigned char *key, size_t keylen);
/*
 * What every link has yet to send: bytes its socket has not taken plus records in its
 * pending set (0 when all is out; a stop waits for that).
 */
size_t links_queued_total(void);
/* A new herd secret KEY (the owner's) for handshakes from now on (a reload). */
void links_set_secret(const unsigned char *key, size_t keylen);
/* Closes every link of P, authenticated or not, with REASON (P stops being a neighbour). */
void links_close_peer(const struct peer *p, const char *reason);
/* Closes every link and frees it (shutdown). */
void links_stop(void);

/* An inbound connection on socket FD from ADDR; it says HELLO at once. */
struct link *link_accept(evutil_socket_t fd, const char *addr);
/* An outbound link to P, the neighbour NAME at ADDR, not connected yet. */
struct link *link_new_dial(struct peer *p, const char *name, const char *addr);
/* Connects L to SA; a failure closes L (perhaps before this returns). */
void link_connect(struct link *l, const struct sockaddr *sa, int salen);
/* The single way a link ends; REASON is logged. Closing twice does nothing. */
void link_close(struct link *l, const char *reason);

/* Floods REC (an AT line) to the neighbour; true when it was queued. */
bool link_send_record(struct link *l, const struct record *rec);
/*
 * Sends the link-state report LINE (LEN bytes, no LF) to the neighbour, unless L is not
 * up or holds more than a sync window and a line: the next report says the same, newer.
 * True when it was queued.
 */
bool link_send_report(struct link *l, const char *line, size_t len);
/* Writes what waits for L's socket now, as much as it takes; its write event the rest. */
void link_write_now(struct link *l);

/* Inbound connections that have not authenticated, and the one open longest (or NULL). */
size_t links_pending(void);
struct link *links_oldest_pending(void);

uint64_t link_id(const struct link *l);
/* The other end's address, as logs show it, and its node name ("?" before its HELLO). */
const char *link_addr(const struct link *l);
const char *link_name(const struct link *l);
/* Names L's other end (NAME lives as long as the configuration). */
void link_set_name(struct link *l, const char *name);
bool link_outbound(const struct link *l);
/* Bytes waiting for the neighbour to read them. */
size_t link_queued(const struct link *l);
/* Flooded records L owes past its window (its pending set). */
size_t link_pending_records(const struct link *l);
/* Records (AT and SYNC lines) sent and received on L. */
void link_records(const struct link *l, uint64_t *sent, uint64_t *received);

#endif
