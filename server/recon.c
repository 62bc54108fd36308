/* The digest walk of one link end: compare what the neighbour sent, queue what it lacks. */
#include "recon.h"

#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "peerproto.h"
#include "table.h"
#include "xmalloc.h"

#define RECON_QUEUE_MIN 64

struct recon_own {
	uint32_t sum;
	const struct record *rec;
};

struct recon_cand {
	uint32_t sum;
	const struct record *rec;
};

static void queue_push(struct recon_queue *q, uint64_t item)
{
	if (q->count == q->cap) {
		size_t n = q->cap == 0 ? RECON_QUEUE_MIN : q->cap * 2;
		uint64_t *v = xreallocarray(NULL, n, sizeof(*v));

		for (size_t i = 0; i < q->count; i++)
			v[i] = q->v[(q->head + i) & (q->cap - 1)];
		free(q->v);
		q->v = v;
		q->cap = n;
		q->head = 0;
	}
	q->v[(q->head + q->count) & (q->cap - 1)] = item;
	q->count++;
}

static uint64_t queue_peek(const struct recon_queue *q)
{
	return q->v[q->head];
}

static uint64_t queue_pop(struct recon_queue *q)
{
	uint64_t item = q->v[q->head];

	q->head = (q->head + 1) & (q->cap - 1);
	q->count--;
	return item;
}

/* Appends V to the growable array *A of *COUNT entries and room for *CAP. */
static void sums_push(uint32_t **a, size_t *count, size_t *cap, uint32_t v)
{
	if (*count == *cap) {
		*cap = *cap == 0 ? RECON_QUEUE_MIN : *cap * 2;
		*a = xreallocarray(*a, *cap, sizeof(**a));
	}
	(*a)[(*count)++] = v;
}

/* Tree nodes by number: the root, then each level's nodes in order, then the leaves. */
#define RECON_INNER_NODES (1 + 16 + 256 + 4096)
#define RECON_NODES (RECON_INNER_NODES + DIGEST_LEAVES)

static size_t node_number(unsigned depth, uint32_t index)
{
	static const size_t first[] = { 0, 1, 17, 273, 4369 };

	return first[depth / DIGEST_STEP_BITS] + index;
}

static bool bit_take(unsigned char *bits, size_t n)
{
	bool set = (bits[n / 8] >> (n % 8)) & 1;

	bits[n / 8] &= (unsigned char)~(1u << (n % 8));
	return set;
}

static bool bit_get(const unsigned char *bits, size_t n)
{
	return (bits[n / 8] >> (n % 8)) & 1;
}

static void bit_set(unsigned char *bits, size_t n)
{
	bits[n / 8] |= (unsigned char)(1u << (n % 8));
}

void recon_init(struct recon *r, const struct table *t, const struct digest *d,
    uint64_t peer_count)
{
	memset(r, 0, sizeof(*r));
	r->table = t;
	r->digest = d;
	r->peer_count = peer_count;
	r->offered = xcalloc((RECON_NODES + 7) / 8, 1);
	r->listed = xcalloc((DIGEST_LEAVES + 7) / 8, 1);
	/* DIGEST-BEGIN gave the root's hash. */
	bit_set(r->offered, node_number(0, 0));
}

void recon_clear(struct recon *r)
{
	free(r->items.v);
	free(r->wants.v);
	pendset_clear(&r->records);
	free(r->out_sums);
	free(r->in_sums);
	free(r->own);
	free(r->cand_new);
	free(r->cand_ready);
	free(r->offered);
	free(r->listed);
	memset(r, 0, sizeof(*r));
}

void recon_start(struct recon *r)
{
	queue_push(&r->items, 0);
}

uint32_t recon_record_sum(const struct recon *r, const struct record *rec)
{
	return (uint32_t)digest_sum(r->digest, record_line(rec), record_len(rec));
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

static int cmp_own(const void *a, const void *b)
{
	return cmp_u32(&((const struct recon_own *)a)->sum, &((const struct recon_own *)b)->sum);
}

/* This node's records of LEAF with their sums, sorted by sum, into R->own; how many. */
static size_t recon_collect(struct recon *r, uint32_t leaf)
{
	struct table_leaf_iter it;
	const struct record *rec;
	size_t n = 0;

	table_leaf_iter_init(&it, r->table, leaf);
	while ((rec = table_leaf_iter_next(&it)) != NULL) {
		if (n == r->own_cap) {
			r->own_cap = r->own_cap == 0 ? RECON_QUEUE_MIN : r->own_cap * 2;
			r->own = xreallocarray(r->own, r->own_cap, sizeof(*r->own));
		}
		r->own[n].sum = recon_record_sum(r, rec);
		r->own[n].rec = rec;
		n++;
	}
	if (n > 1)
		qsort(r->own, n, sizeof(*r->own), cmp_own);
	return n;
}

/*
 * True while what the neighbour's lines made this end queue stays within what an honest
 * walk can: every tree node and leaf twice over, and every record of the table.
 */
static bool recon_bounded(const struct recon *r)
{
	uint64_t records = table_count(r->table) > r->peer_count ? table_count(r->table) :
	    r->peer_count;
	uint64_t cap = 2 * (uint64_t)RECON_NODES + 2 * records + PEERPROTO_SUMS_MAX;

	return r->items.count + r->wants.count + r->cand_new_count + r->in_count <= cap;
}

bool recon_on_digest(struct recon *r, unsigned depth, uint32_t index, const uint64_t *hashes)
{
	uint64_t own[DIGEST_FANOUT];

	if (!digest_node_valid(depth, index) || depth >= DIGEST_LEAF_BITS || !recon_bounded(r) ||
	    !bit_take(r->offered, node_number(depth, index)))
		return false;
	digest_children(r->digest, depth, index, own);
	for (uint32_t j = 0; j < DIGEST_FANOUT; j++) {
		uint64_t child = (uint64_t)index * DIGEST_FANOUT + j;

		if ((own[j] & DIGEST_HASH_MASK) == (hashes[j] & DIGEST_HASH_MASK))
			continue;
		r->nodes_differing++;
		if (depth + DIGEST_STEP_BITS == DIGEST_LEAF_BITS)
			r->leaves_differing++;
		queue_push(&r->items, (uint64_t)(depth + DIGEST_STEP_BITS) << 32 | child);
	}
	return true;
}

/* Owes the neighbour REC, unless it owes it already. */
static void recon_owe(struct recon *r, const struct record *rec)
{
	if (pendset_add(&r->records, rec))
		r->records_owed++;
}

bool recon_on_leaf(struct recon *r, uint32_t leaf, const uint32_t *sums, size_t n, bool more)
{
	size_t own, i = 0, j = 0;

	if (leaf >= DIGEST_LEAVES || (r->in_open && r->in_leaf != leaf) || !recon_bounded(r) ||
	    !bit_get(r->offered, node_number(DIGEST_LEAF_BITS, leaf)))
		return false;
	r->in_open = true;
	r->in_leaf = leaf;
	for (size_t k = 0; k < n; k++)
		sums_push(&r->in_sums, &r->in_count, &r->in_cap, sums[k]);
	if (more)
		return true;
	/* The whole leaf: send what it lacks, ask for what this node lacks. */
	r->in_open = false;
	bit_take(r->offered, node_number(DIGEST_LEAF_BITS, leaf));
	if (r->in_count > 1)
		qsort(r->in_sums, r->in_count, sizeof(*r->in_sums), cmp_u32);
	own = recon_collect(r, leaf);
	while (i < own || j < r->in_count) {
		if (j == r->in_count || (i < own && r->own[i].sum < r->in_sums[j])) {
			if (r->cand_new_count == r->cand_new_cap) {
				r->cand_new_cap = r->cand_new_cap == 0 ? RECON_QUEUE_MIN :
				    r->cand_new_cap * 2;
				r->cand_new = xreallocarray(r->cand_new, r->cand_new_cap,
				    sizeof(*r->cand_new));
			}
			r->cand_new[r->cand_new_count].sum = r->own[i].sum;
			r->cand_new[r->cand_new_count++].rec = r->own[i++].rec;
		} else if (i == own || r->in_sums[j] < r->own[i].sum) {
			queue_push(&r->wants, (uint64_t)leaf << 32 | r->in_sums[j++]);
		} else {
			uint32_t same = r->own[i].sum;

			while (i < own && r->own[i].sum == same)
				i++;
			while (j < r->in_count && r->in_sums[j] == same)
				j++;
		}
	}
	r->in_count = 0;
	return true;
}

bool recon_on_want(struct recon *r, uint32_t leaf, const uint32_t *sums, size_t n)
{
	uint32_t sorted[PEERPROTO_SUMS_MAX];
	size_t own;

	if (leaf >= DIGEST_LEAVES || n > PEERPROTO_SUMS_MAX || !bit_get(r->listed, leaf))
		return false;
	if (n == 0)
		return true;
	memcpy(sorted, sums, n * sizeof(*sums));
	qsort(sorted, n, sizeof(*sorted), cmp_u32);
	own = recon_collect(r, leaf);
	/* A sum no record has any more: it changed since, and was flooded then. */
	for (size_t i = 0; i < own; i++) {
		if (bsearch(&r->own[i].sum, sorted, n, sizeof(*sorted), cmp_u32) != NULL)
			recon_owe(r, r->own[i].rec);
	}
	return true;
}

/* The next LEAF or LEAF+ line of the leaf being listed. */
static size_t recon_leaf_line(struct recon *r, char *buf, size_t size)
{
	size_t left = r->out_count - r->out_pos;
	size_t n = left > PEERPROTO_SUMS_MAX ? PEERPROTO_SUMS_MAX : left;
	size_t len = peerproto_format_sums(buf, size, n < left ? "LEAF+" : "LEAF", r->out_leaf,
	    n > 0 ? r->out_sums + r->out_pos : NULL, n);

	r->out_pos += n;
	if (r->out_pos == r->out_count)
		r->out_open = false;
	return len;
}

size_t recon_next_line(struct recon *r, char *buf, size_t size)
{
	if (r->out_open)
		return recon_leaf_line(r, buf, size);
	if (r->items.count > 0) {
		uint64_t item = queue_pop(&r->items);
		unsigned depth = (unsigned)(item >> 32);
		uint32_t index = (uint32_t)item;

		if (depth < DIGEST_LEAF_BITS) {
			uint64_t own[DIGEST_FANOUT];

			digest_children(r->digest, depth, index, own);
			/* The neighbour may answer about each of these children, once. */
			for (uint32_t j = 0; j < DIGEST_FANOUT; j++)
				bit_set(r->offered, node_number(depth + DIGEST_STEP_BITS,
				    index * DIGEST_FANOUT + j));
			return peerproto_format_digest(buf, size, depth, index, own);
		}
		bit_set(r->listed, index);
		/* Sums as they are now: a record that changed since was flooded. */
		r->out_count = r->out_pos = 0;
		for (size_t i = 0, n = recon_collect(r, index); i < n; i++)
			sums_push(&r->out_sums, &r->out_count, &r->out_cap, r->own[i].sum);
		r->out_leaf = index;
		r->out_open = true;
		return recon_leaf_line(r, buf, size);
	}
	if (r->wants.count > 0) {
		uint32_t sums[PEERPROTO_SUMS_MAX];
		uint32_t leaf = (uint32_t)(queue_peek(&r->wants) >> 32);
		size_t n = 0;

		while (n < PEERPROTO_SUMS_MAX && r->wants.count > 0 &&
		    (uint32_t)(queue_peek(&r->wants) >> 32) == leaf)
			sums[n++] = (uint32_t)queue_pop(&r->wants);
		return peerproto_format_sums(buf, size, "WANT", leaf, sums, n);
	}
	return 0;
}

/* Owes the held records the table still holds as they were (a newer one replaced the rest). */
static void recon_release(struct recon *r, const struct recon_cand *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (recon_record_sum(r, c[i].rec) == c[i].sum)
			recon_owe(r, c[i].rec);
	}
}

void recon_turn(struct recon *r)
{
	struct recon_cand *swap = r->cand_ready;
	size_t swap_cap = r->cand_ready_cap;

	recon_release(r, r->cand_ready, r->cand_ready_count);
	r->cand_ready_count = 0;
	/* Nothing to ask for: the neighbour has nothing newer to send first. */
	if (r->wants.count == 0) {
		recon_release(r, r->cand_new, r->cand_new_count);
		r->cand_new_count = 0;
	}
	r->cand_ready = r->cand_new;
	r->cand_ready_cap = r->cand_new_cap;
	r->cand_ready_count = r->cand_new_count;
	r->cand_new = swap;
	r->cand_new_cap = swap_cap;
	r->cand_new_count = 0;
}

void recon_finish(struct recon *r)
{
	recon_release(r, r->cand_ready, r->cand_ready_count);
	recon_release(r, r->cand_new, r->cand_new_count);
	r->cand_ready_count = r->cand_new_count = 0;
}

bool recon_holding(const struct recon *r)
{
	return r->cand_new_count > 0 || r->cand_ready_count > 0;
}

bool recon_idle(const struct recon *r)
{
	return !r->out_open && r->items.count == 0 && r->wants.count == 0 &&
	    pendset_count(&r->records) == 0;
}
