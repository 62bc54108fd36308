/*
 * The client table: the newest AT record of every client, keyed by client ID, in a
 * chained hash table with SipHash so that lookups and updates stay O(1) whatever IDs
 * clients choose, and in a skip list by ID so that the admin endpoint pages through it
 * in O(log n + page). Pure code, no I/O.
 */
#ifndef HERD_TABLE_H
#define HERD_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto.h"

/*
 * One client's newest record, in one allocation of just its size: the links, then the
 * AT line as its receiving node wrote it, NUL-ended. A record whose line outgrows the
 * allocation keeps the new line in a block of its own (SPILLED; the record stays where
 * it is, so pointers to it stay valid). The other fields of the line are found again
 * when they are needed (record_fields), which is rare: WHATSAT and /clients.
 */
struct record {
	struct record *next;       /* hash chain */
	uint32_t hash;             /* low half of the ID's SipHash */
	uint32_t len;              /* the AT line's bytes */
	uint8_t id_off, id_len;    /* the client ID in the line (at most 255 bytes) */
	uint8_t levels;            /* how many of ORDER this record has */
	uint8_t spilled;
	uint32_t room;             /* bytes the allocation has for the line and its NUL */
	struct record *order[];    /* the next records by ID, one per skip-list level */
};

/* The AT line of R, NUL-ended. */
static inline const char *record_line(const struct record *r)
{
	const char *inline_line = (const char *)&r->order[r->levels];
	const char *spilled;

	if (!r->spilled)
		return inline_line;
	memcpy(&spilled, inline_line, sizeof(spilled));
	return spilled;
}

static inline size_t record_len(const struct record *r)
{
	return r->len;
}

static inline struct field record_id(const struct record *r)
{
	struct field id = { record_line(r) + r->id_off, r->id_len };

	return id;
}

/* Every field of R's line, its coordinates and client time, into OUT. */
void record_fields(const struct record *r, struct at_record *out);

enum table_offer_result {
	TABLE_STORED_NEW,      /* first record for this client */
	TABLE_STORED_NEWER,    /* replaced an older record */
	TABLE_STALE,           /* older than or equal to the stored record: nothing changed */
	TABLE_FULL,            /* a new client, and the table holds its limit already */
};

struct table;

/* A table whose hash key comes from the system's random source (none is fatal). */
struct table *table_new(void);
/* A table with a fixed hash key, for tests that want reproducible layouts. */
struct table *table_new_keyed(uint64_t k0, uint64_t k1);
void table_free(struct table *t);
/* At most MAX clients (the default is no limit); records for new IDs past it are refused. */
void table_set_limit(struct table *t, size_t max);

/* Stores REC if it is newer than what the table holds for its client (SPEC section 3). */
enum table_offer_result table_offer(struct table *t, const struct at_record *rec,
    const struct record **stored);
/*
 * The same in two steps, for a caller with other work to do meanwhile: table_prefetch
 * hashes the ID and starts loading its bucket (a cache miss at a million clients) and
 * returns the hash, which table_offer_hashed then takes for REC (of the same ID).
 */
uint64_t table_prefetch(const struct table *t, const char *id, size_t len);
enum table_offer_result table_offer_hashed(struct table *t, const struct at_record *rec,
    uint64_t hash, const struct record **stored);
const struct record *table_get(const struct table *t, const char *id, size_t len);
size_t table_count(const struct table *t);

/* True when A is newer than B: greater client time, then greater AT line in byte order. */
bool table_record_newer(const struct at_record *a, const struct record *b);

/* Compares client IDs in byte order (unsigned, a prefix first); <0, 0 or >0 like memcmp. */
int table_id_cmp(const char *a, size_t alen, const char *b, size_t blen);
/* The record with the smallest ID greater than (ID, LEN), or NULL; O(log n). */
const struct record *table_after(const struct table *t, const char *id, size_t len);
/* The first record by ID (NULL when the table is empty), and the one after REC. */
const struct record *table_first(const struct table *t);
const struct record *table_next_by_id(const struct record *rec);

/* Walks every record, in no particular order; the table must not change meanwhile. */
struct table_iter {
	const struct table *table;
	size_t bucket;
	const struct record *rec;
	size_t nbuckets;           /* the layout the walk started on */
};
void table_iter_init(struct table_iter *it, const struct table *t);
const struct record *table_iter_next(struct table_iter *it);
/*
 * True when the table grew since IT started, so that IT may skip or repeat records. A
 * walk that spans event-loop turns (a peer sync) restarts then. Records are never
 * freed, so continuing a walk over a changed table is safe, only incomplete.
 */
bool table_iter_stale(const struct table_iter *it);

/*
 * The digest (digest.h) that every store from now on keeps up to date; the records
 * already in T are added to it first. D (caller's) starts empty and outlives T's use.
 * Every node of a herd must key its table alike (digest_keys) for leaves to agree.
 */
struct digest;
void table_set_digest(struct table *t, struct digest *d);
const struct digest *table_digest(const struct table *t);

/* Walks the records of one digest leaf: O(its records + buckets / leaves). */
struct table_leaf_iter {
	const struct table *table;
	uint32_t leaf;
	size_t bucket;
	const struct record *rec;
	bool started;
};
void table_leaf_iter_init(struct table_leaf_iter *it, const struct table *t, uint32_t leaf);
/* The next record of the leaf; the table must not change between calls. */
const struct record *table_leaf_iter_next(struct table_leaf_iter *it);

#endif
