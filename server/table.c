/*
 * The client table: chained hashing over a power-of-two bucket array for lookups, and a
 * skip list (Pugh 1990, p = 1/4) threading the same records in ID order for paging. A
 * record's height is drawn from a generator seeded by the hash key, so clients cannot
 * choose IDs that make the list degenerate; with p = 1/4 a record carries 1.33 order
 * pointers on average.
 */
#include "table.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "digest.h"
#include "log.h"
#include "siphash.h"
#include "xmalloc.h"

#define TABLE_MIN_BUCKETS 64
#define TABLE_LEVELS 16           /* enough for 4^16 records */

struct table {
	struct record **buckets;
	size_t nbuckets;          /* a power of two */
	size_t count;
	size_t limit;
	struct siphash_key key;
	struct record *head[TABLE_LEVELS];   /* the first record of each level */
	/* The NULL link ending each level, and the record with the greatest ID: a record
	 * past it (a snapshot loads in ID order) is appended without a search. */
	struct record **tail[TABLE_LEVELS];
	struct record *last;
	unsigned levels;                     /* levels in use */
	uint64_t rng;                        /* xorshift64 state for record heights */
	struct digest *digest;               /* kept up to date when set */
};

/* Allocates an empty table hashing with the key (K0, K1). */
static struct table *table_alloc(uint64_t k0, uint64_t k1)
{
	struct table *t = xcalloc(1, sizeof(*t));

	t->nbuckets = TABLE_MIN_BUCKETS;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	t->key.k0 = k0;
	t->key.k1 = k1;
	t->limit = SIZE_MAX;
	t->levels = 1;
	for (unsigned i = 0; i < TABLE_LEVELS; i++)
		t->tail[i] = &t->head[i];
	t->rng = (k0 ^ (k1 << 1)) | 1;
	return t;
}

struct table *table_new(void)
{
	uint64_t k[2] = { 0, 0 };

	if (getrandom(k, sizeof(k), 0) != (ssize_t)sizeof(k))
		fatal("event=startup_failed error=\"no random hash key for the client table\"");
	return table_alloc(k[0], k[1]);
}

struct table *table_new_keyed(uint64_t k0, uint64_t k1)
{
	return table_alloc(k0, k1);
}

void table_free(struct table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct record *r = t->buckets[i], *next;

		for (; r != NULL; r = next) {
			next = r->next;
			if (r->spilled)
				free((void *)record_line(r));
			free(r);
		}
	}
	free(t->buckets);
	free(t);
}

void table_set_limit(struct table *t, size_t max)
{
	t->limit = max;
}

size_t table_count(const struct table *t)
{
	return t->count;
}

int table_id_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* True when REC's ID sorts before (ID, LEN). */
static bool id_before(const struct record *rec, const char *id, size_t len)
{
	return table_id_cmp(record_line(rec) + rec->id_off, rec->id_len, id, len) < 0;
}

void record_fields(const struct record *r, struct at_record *out)
{
	if (!proto_at_parse(record_line(r), r->len, out))
		fatalx("event=bug where=record_fields error=\"a stored line does not parse\"");
}

/* A record height: 1, then one more level with probability 1/4 each time. */
static unsigned table_draw_levels(struct table *t)
{
	unsigned levels = 1;
	uint64_t x = t->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	t->rng = x;
	while (levels < TABLE_LEVELS && (x & 3) == 0) {
		levels++;
		x >>= 2;
	}
	return levels;
}

/*
 * Fills BEFORE[i] with the link at level i that points at the first record whose ID is
 * not before (ID, LEN): the head's, or a record's order[i].
 */
static void table_find_order(struct table *t, const char *id, size_t len,
    struct record ***before)
{
	struct record **links = t->head;

	if (t->last != NULL && id_before(t->last, id, len)) {
		for (unsigned i = 0; i < TABLE_LEVELS; i++)
			before[i] = t->tail[i];
		return;
	}
	for (unsigned i = TABLE_LEVELS; i-- > t->levels;)
		before[i] = &t->head[i];
	for (unsigned i = t->levels; i-- > 0;) {
		while (links[i] != NULL && id_before(links[i], id, len))
			links = links[i]->order;
		before[i] = &links[i];
	}
}

/* Threads a new record R into the ID order. */
static void table_link_order(struct table *t, struct record *r)
{
	struct record **before[TABLE_LEVELS];

	table_find_order(t, record_line(r) + r->id_off, r->id_len, before);
	for (unsigned i = 0; i < r->levels; i++) {
		r->order[i] = *before[i];
		*before[i] = r;
		if (r->order[i] == NULL)
			t->tail[i] = &r->order[i];
	}
	if (r->order[0] == NULL)
		t->last = r;
	if (r->levels > t->levels)
		t->levels = r->levels;
}

const struct record *table_after(const struct table *t, const char *id, size_t len)
{
	struct record *const *links = t->head;

	for (unsigned i = t->levels; i-- > 0;) {
		while (links[i] != NULL &&
		    table_id_cmp(record_line(links[i]) + links[i]->id_off, links[i]->id_len, id, len) <= 0)
			links = links[i]->order;
	}
	return links[0];
}

const struct record *table_first(const struct table *t)
{
	return t->head[0];
}

const struct record *table_next_by_id(const struct record *rec)
{
	return rec->order[0];
}

/* Finds the record for ID with precomputed HASH, or NULL. */
static struct record *table_find(const struct table *t, uint64_t hash, const char *id,
    size_t len)
{
	struct record *r = t->buckets[hash & (t->nbuckets - 1)];

	for (; r != NULL; r = r->next) {
		/* The ID is past the links, often in the record's second cache line. */
		__builtin_prefetch((const char *)r + 64);
		if (r->hash == (uint32_t)hash && r->id_len == len &&
		    memcmp(record_line(r) + r->id_off, id, len) == 0)
			return r;
	}
	return NULL;
}

const struct record *table_get(const struct table *t, const char *id, size_t len)
{
	return table_find(t, siphash24(&t->key, id, len), id, len);
}

/* Doubles the bucket array once chains get long on average. */
static void table_grow(struct table *t)
{
	size_t n = t->nbuckets * 2;
	struct record **buckets = xcalloc(n, sizeof(*buckets));

	for (size_t i = 0; i < t->nbuckets; i++) {
		struct record *r = t->buckets[i], *next;

		for (; r != NULL; r = next) {
			next = r->next;
			r->next = buckets[r->hash & (n - 1)];
			buckets[r->hash & (n - 1)] = r;
		}
	}
	free(t->buckets);
	t->buckets = buckets;
	t->nbuckets = n;
}

/* Puts REC's line into R: in its own room when it fits, else in a block of its own. */
static void record_assign(struct record *r, const struct at_record *rec)
{
	char *room = (char *)&r->order[r->levels];
	char *line;

	if (r->spilled) {
		line = xreallocarray((void *)record_line(r), rec->len + 1, 1);
		memcpy(room, &line, sizeof(line));
	} else if (rec->len + 1 <= r->room) {
		line = room;
	} else {
		line = xmalloc(rec->len + 1);
		memcpy(room, &line, sizeof(line));
		r->spilled = 1;
	}
	/* A node name and a time difference are short: an ID starts within 3+63+1+30+1. */
	if (rec->id.p - rec->line > UINT8_MAX || rec->id.len > UINT8_MAX)
		fatalx("event=bug where=record_assign error=\"an ID past byte 255 of its line\"");
	memcpy(line, rec->line, rec->len);
	line[rec->len] = '\0';
	r->len = (uint32_t)rec->len;
	r->id_off = (uint8_t)(rec->id.p - rec->line);
	r->id_len = (uint8_t)rec->id.len;
}

/* The client time of R: its line's last field. */
static struct htime record_client_time(const struct record *r)
{
	const char *line = record_line(r), *sp = line + r->len;
	struct htime t = { 0, 0 };

	while (sp > line && sp[-1] != ' ')
		sp--;
	if (sp == line || !htime_parse(sp, (size_t)(line + r->len - sp), &t))
		fatalx("event=bug where=record_client_time error=\"a stored line has no time\"");
	return t;
}

bool table_record_newer(const struct at_record *a, const struct record *b)
{
	int c = htime_cmp(a->client_time, record_client_time(b));
	size_t common;

	if (c != 0)
		return c > 0;
	common = a->len < b->len ? a->len : b->len;
	c = memcmp(a->line, record_line(b), common);
	if (c != 0)
		return c > 0;
	return a->len > b->len;
}

uint64_t table_prefetch(const struct table *t, const char *id, size_t len)
{
	uint64_t hash = siphash24(&t->key, id, len);

	__builtin_prefetch(&t->buckets[hash & (t->nbuckets - 1)]);
	return hash;
}

enum table_offer_result table_offer(struct table *t, const struct at_record *rec,
    const struct record **stored)
{
	return table_offer_hashed(t, rec, siphash24(&t->key, rec->id.p, rec->id.len), stored);
}

enum table_offer_result table_offer_hashed(struct table *t, const struct at_record *rec,
    uint64_t hash, const struct record **stored)
{
	struct record *r = table_find(t, hash, rec->id.p, rec->id.len);
	size_t bucket, size;
	unsigned levels;

	if (r != NULL) {
		*stored = r;
		if (!table_record_newer(rec, r))
			return TABLE_STALE;
		if (t->digest != NULL)
			digest_change(t->digest, digest_leaf(r->hash),
			    digest_sum(t->digest, record_line(r), r->len),
			    digest_sum(t->digest, rec->line, rec->len));
		record_assign(r, rec);
		return TABLE_STORED_NEWER;
	}
	if (t->count >= t->limit)
		return TABLE_FULL;
	levels = table_draw_levels(t);
	/*
	 * Just the links and the line, no spare room but what glibc's malloc would round
	 * up to anyway (chunks of 16 bytes, 8 of them its own): a line a few bytes longer
	 * later still fits.
	 */
	size = sizeof(*r) + levels * sizeof(r->order[0]) + rec->len + 1;
	size = ((size + 8 + 15) & ~(size_t)15) - 8;
	r = xcalloc(1, size);
	r->levels = (uint8_t)levels;
	r->room = (uint32_t)(size - sizeof(*r) - levels * sizeof(r->order[0]));
	record_assign(r, rec);
	table_link_order(t, r);
	r->hash = (uint32_t)hash;
	bucket = r->hash & (t->nbuckets - 1);
	r->next = t->buckets[bucket];
	t->buckets[bucket] = r;
	t->count++;
	if (t->digest != NULL)
		digest_change(t->digest, digest_leaf(r->hash), 0,
		    digest_sum(t->digest, rec->line, rec->len));
	if (t->count > t->nbuckets)
		table_grow(t);
	*stored = r;
	return TABLE_STORED_NEW;
}

void table_iter_init(struct table_iter *it, const struct table *t)
{
	it->table = t;
	it->bucket = 0;
	it->rec = NULL;
	it->nbuckets = t->nbuckets;
}

bool table_iter_stale(const struct table_iter *it)
{
	return it->nbuckets != it->table->nbuckets;
}

const struct record *table_iter_next(struct table_iter *it)
{
	if (it->rec != NULL)
		it->rec = it->rec->next;
	while (it->rec == NULL) {
		if (it->bucket >= it->table->nbuckets)
			return NULL;
		it->rec = it->table->buckets[it->bucket++];
	}
	return it->rec;
}

void table_set_digest(struct table *t, struct digest *d)
{
	t->digest = d;
	for (size_t i = 0; i < t->nbuckets; i++) {
		for (const struct record *r = t->buckets[i]; r != NULL; r = r->next)
			digest_change(d, digest_leaf(r->hash), 0,
			    digest_sum(d, record_line(r), r->len));
	}
}

const struct digest *table_digest(const struct table *t)
{
	return t->digest;
}

void table_leaf_iter_init(struct table_leaf_iter *it, const struct table *t, uint32_t leaf)
{
	it->table = t;
	it->leaf = leaf;
	it->bucket = leaf & (t->nbuckets - 1);
	it->rec = NULL;
	it->started = false;
}

const struct record *table_leaf_iter_next(struct table_leaf_iter *it)
{
	const struct table *t = it->table;

	for (;;) {
		it->rec = it->rec != NULL ? it->rec->next : NULL;
		while (it->rec == NULL) {
			/* Leaf L's clients are in the buckets congruent to L modulo the leaves. */
			if (it->started)
				it->bucket += DIGEST_LEAVES;
			it->started = true;
			if (it->bucket >= t->nbuckets)
				return NULL;
			it->rec = t->buckets[it->bucket];
		}
		if (digest_leaf(it->rec->hash) == it->leaf)
			return it->rec;
	}
}
