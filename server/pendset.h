/*
 * A set of records waiting for one peer link, in the order they were first added: what
 * a link that cannot take more output still owes its neighbour. Newest wins, so a record
 * that changes again while it waits is still one entry, and what the link sends when it
 * drains is the record as it is then. Records are never freed while the node runs
 * (table.h), so the set holds pointers. An entry costs 24 to 48 bytes (slots of the hash
 * index, kept under half full, and of the queue, both doubling), a set never holds more
 * entries than the table has records, and a large set's arrays are freed when it empties.
 * Pure code, no I/O.
 */
#ifndef HERD_PENDSET_H
#define HERD_PENDSET_H

#include <stdbool.h>
#include <stddef.h>

struct record;

struct pendset {
	const struct record **slots;     /* open addressing, linear probing; NULL is empty */
	size_t nslots;                   /* a power of two, or 0 before the first add */
	const struct record **queue;     /* a ring of the entries in order */
	size_t qcap, qhead, count;
};

/* Adds REC unless it is there already; true when it was added. */
bool pendset_add(struct pendset *s, const struct record *rec);
/* The oldest entry, removed from the set; NULL when the set is empty. */
const struct record *pendset_pop(struct pendset *s);
bool pendset_contains(const struct pendset *s, const struct record *rec);
static inline size_t pendset_count(const struct pendset *s)
{
	return s->count;
}
/* Bytes the set holds in its arrays. */
size_t pendset_bytes(const struct pendset *s);
/* Empties the set and frees its arrays; the set can be used again. */
void pendset_clear(struct pendset *s);

#endif
