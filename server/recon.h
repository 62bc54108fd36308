/*
 * One end of a digest walk (README "Peer links and the wire format", "Sync"): what this
 * node owes its neighbour in its next turn, worked out from the neighbour's lines of its
 * turn. The two ends take turns: one sends the children of the tree nodes it was told
 * differ (DIGEST), or the sums of a differing leaf's records (LEAF); the other compares
 * them with its own, and so on down; at a leaf each end sends the records whose sums the
 * other lacks (SYNC) and asks for the ones it lacks (WANT). What is owed waits here in
 * compact form (node numbers, sums, record pointers) and is written out as the link
 * drains, so a walk's memory is bounded by the difference and its output by the link's
 * window. Pure code: lines in, lines and records out, no I/O.
 */
#ifndef HERD_RECON_H
#define HERD_RECON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pendset.h"

struct digest;
struct record;
struct table;

/* A growable ring of 64-bit items. */
struct recon_queue {
	uint64_t *v;
	size_t cap, head, count;
};

struct recon {
	const struct table *table;
	const struct digest *digest;
	struct recon_queue items;    /* tree nodes to expand or leaves to list: depth << 32 | index */
	struct recon_queue wants;    /* sums to ask for: leaf << 32 | sum */
	struct pendset records;      /* records owed, sent as SYNC lines */
	/* The leaf being listed in LEAF lines, and its sums. */
	bool out_open;
	uint32_t out_leaf;
	uint32_t *out_sums;
	size_t out_count, out_pos, out_cap;
	/* The neighbour's sums of one leaf so far, while its LEAF+ lines come in. */
	bool in_open;
	uint32_t in_leaf;
	uint32_t *in_sums;
	size_t in_count, in_cap;
	/*
	 * Records of differing leaves that the neighbour's LEAF lines lack. Its own versions
	 * of those clients (asked for with WANT) may be newer, so they wait a round trip and
	 * go only if the table still holds them then: NEW came this turn, READY a turn ago.
	 */
	struct recon_cand *cand_new, *cand_ready;
	size_t cand_new_count, cand_new_cap, cand_ready_count, cand_ready_cap;
	/* This node's records of one leaf, sorted by sum: scratch for comparing. */
	struct recon_own *own;
	size_t own_cap;
	/*
	 * What the neighbour may answer about: tree nodes and leaves whose hashes this end
	 * sent (each answered once), and leaves it listed (WANT). Anything else is refused,
	 * so the work a walk costs is bounded by what this end sent.
	 */
	unsigned char *offered, *listed;
	uint64_t peer_count;            /* records the neighbour said it holds */
	/* What the walk found: tree nodes and leaves that differ, records owed. */
	uint64_t nodes_differing, leaves_differing, records_owed;
};

/*
 * A walk over table T with its digest D (both outlive R), with a neighbour that said it
 * holds PEER_COUNT records.
 */
void recon_init(struct recon *r, const struct table *t, const struct digest *d,
    uint64_t peer_count);
/* Frees what R holds; R can be initialised again. */
void recon_clear(struct recon *r);
/* The walk's first turn, the dialler's: the root's children. */
void recon_start(struct recon *r);
/*
 * This end's turn begins: records held back a round trip ago that the table still holds
 * are owed now (also this turn's, when there is nothing to ask for first).
 */
void recon_turn(struct recon *r);
/*
 * The neighbour's lines. False when a line does not fit the walk: about a node or leaf
 * this end did not offer (or offered and heard of already), a LEAF+ run broken by another
 * leaf, more sums than the two tables hold: a protocol error.
 */
bool recon_on_digest(struct recon *r, unsigned depth, uint32_t index, const uint64_t *hashes);
bool recon_on_leaf(struct recon *r, uint32_t leaf, const uint32_t *sums, size_t n, bool more);
bool recon_on_want(struct recon *r, uint32_t leaf, const uint32_t *sums, size_t n);
/*
 * The walk is over: the records still held back that the table holds unchanged move to
 * R->records, for the caller to send as floods (the neighbour's versions did not replace
 * them, so it lacks them or holds older ones).
 */
void recon_finish(struct recon *r);
/*
 * The next DIGEST, LEAF or WANT line this end owes, without LF, into BUF (at least
 * PEERPROTO_WALK_LINE_MAX bytes); its length, or 0 when only records are left (pop them
 * from R->records) or nothing.
 */
size_t recon_next_line(struct recon *r, char *buf, size_t size);
/* True when this end owes nothing more in its turn. */
bool recon_idle(const struct recon *r);
/* True when records wait for the next turn (the walk must not end yet). */
bool recon_holding(const struct recon *r);
/* The low half of a record's sum, as LEAF and WANT lines carry it. */
uint32_t recon_record_sum(const struct recon *r, const struct record *rec);

#endif
