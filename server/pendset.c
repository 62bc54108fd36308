/*
 * The pending set: a ring of record pointers for the order, and a hash index of the
 * same pointers (linear probing, deletion by backward shift, so no tombstones) for the
 * "already there" test. Both grow by doubling; they shrink only when cleared.
 */
#include "pendset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

#define PENDSET_MIN 64
#define PENDSET_KEEP 4096             /* entries of room kept when a set empties */

/* Fibonacci hashing of a pointer: records are 16-byte aligned, so the low bits go. */
static size_t pendset_slot(const struct pendset *s, const struct record *rec)
{
	uint64_t h = ((uint64_t)(uintptr_t)rec >> 4) * UINT64_C(0x9e3779b97f4a7c15);

	return (size_t)(h >> 32) & (s->nslots - 1);
}

/* Puts REC in the index, which has a free slot. */
static void pendset_index(struct pendset *s, const struct record *rec)
{
	size_t i = pendset_slot(s, rec);

	while (s->slots[i] != NULL)
		i = (i + 1) & (s->nslots - 1);
	s->slots[i] = rec;
}

/* Doubles the index and rebuilds it from the queue. */
static void pendset_grow_index(struct pendset *s)
{
	size_t n = s->nslots == 0 ? PENDSET_MIN : s->nslots * 2;

	free(s->slots);
	s->slots = xcalloc(n, sizeof(*s->slots));
	s->nslots = n;
	for (size_t i = 0; i < s->count; i++)
		pendset_index(s, s->queue[(s->qhead + i) & (s->qcap - 1)]);
}

/* Doubles the ring, keeping the order. */
static void pendset_grow_queue(struct pendset *s)
{
	size_t n = s->qcap == 0 ? PENDSET_MIN : s->qcap * 2;
	const struct record **q = xreallocarray(NULL, n, sizeof(*q));

	for (size_t i = 0; i < s->count; i++)
		q[i] = s->queue[(s->qhead + i) & (s->qcap - 1)];
	free(s->queue);
	s->queue = q;
	s->qcap = n;
	s->qhead = 0;
}

bool pendset_contains(const struct pendset *s, const struct record *rec)
{
	if (s->nslots == 0)
		return false;
	for (size_t i = pendset_slot(s, rec); s->slots[i] != NULL;
	    i = (i + 1) & (s->nslots - 1)) {
		if (s->slots[i] == rec)
			return true;
	}
	return false;
}

bool pendset_add(struct pendset *s, const struct record *rec)
{
	if (pendset_contains(s, rec))
		return false;
	if ((s->count + 1) * 2 > s->nslots)
		pendset_grow_index(s);
	if (s->count == s->qcap)
		pendset_grow_queue(s);
	pendset_index(s, rec);
	s->queue[(s->qhead + s->count) & (s->qcap - 1)] = rec;
	s->count++;
	return true;
}

/* Takes REC out of the index: the entries after it in its run move back (Knuth 6.4 R). */
static void pendset_unindex(struct pendset *s, const struct record *rec)
{
	size_t mask = s->nslots - 1, i = pendset_slot(s, rec), j;

	while (s->slots[i] != rec)
		i = (i + 1) & mask;
	s->slots[i] = NULL;
	for (j = (i + 1) & mask; s->slots[j] != NULL; j = (j + 1) & mask) {
		size_t home = pendset_slot(s, s->slots[j]);

		/* The entry at J may fill the hole at I unless its home lies in (I, J]. */
		if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
			s->slots[i] = s->slots[j];
			s->slots[j] = NULL;
			i = j;
		}
	}
}

const struct record *pendset_pop(struct pendset *s)
{
	const struct record *rec;

	if (s->count == 0)
		return NULL;
	rec = s->queue[s->qhead];
	s->qhead = (s->qhead + 1) & (s->qcap - 1);
	s->count--;
	pendset_unindex(s, rec);
	/* A burst is over: its arrays go, rather than stay at their largest for good. */
	if (s->count == 0 && s->qcap > PENDSET_KEEP)
		pendset_clear(s);
	return rec;
}

size_t pendset_bytes(const struct pendset *s)
{
	return (s->nslots + s->qcap) * sizeof(const struct record *);
}

void pendset_clear(struct pendset *s)
{
	free(s->slots);
	free(s->queue);
	memset(s, 0, sizeof(*s));
}
