/*
 * Unit tests of the sync's pure parts: the digest kept on every store (equal to one
 * computed afresh, alike on two nodes that hold the same records in another order), the
 * walk over a leaf's records, the pending set, and whole digest walks between two tables
 * in memory (recon.c), which must leave both holding the newest record of every client
 * while sending a small part of what a whole-table sync would.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "digest.h"
#include "pendset.h"
#include "peerproto.h"
#include "proto.h"
#include "recon.h"
#include "table.h"

#define K0 UINT64_C(0x0706050403020100)
#define K1 UINT64_C(0x0f0e0d0c0b0a0908)

static const struct siphash_key sum_key = { 11, 22 };

/* A table keyed as a herd node's, with its digest. */
struct node {
	struct table *t;
	struct digest d;
};

static void node_init(struct node *n)
{
	n->t = table_new_keyed(K0, K1);
	digest_init(&n->d, &sum_key);
	table_set_digest(n->t, &n->d);
}

static void node_free(struct node *n)
{
	table_free(n->t);
}

/* Offers "AT SERVER +0.000000001 ID +1+1 TIME" to N; the table's result. */
static enum table_offer_result put(struct node *n, const char *server, const char *id,
    unsigned long time)
{
	char line[256];
	struct at_record rec;
	const struct record *stored;

	snprintf(line, sizeof(line), "AT %s +0.000000001 %s +1+1 %lu", server, id, time);
	if (!proto_at_parse(line, strlen(line), &rec))
		return TABLE_FULL;
	return table_offer(n->t, &rec, &stored);
}

/* Offers an AT line as a peer's SYNC would bring it. */
static void put_line(struct node *n, const char *line, size_t len)
{
	struct at_record rec;
	const struct record *stored;

	CHECK(proto_at_parse(line, len, &rec));
	table_offer(n->t, &rec, &stored);
}

/*
 * The digest of N's records computed afresh through the leaf walk, compared with the kept
 * one; the walk must also meet every record exactly once.
 */
static bool digest_matches_records(const struct node *n)
{
	size_t seen = 0;

	for (uint32_t leaf = 0; leaf < DIGEST_LEAVES; leaf++) {
		struct table_leaf_iter it;
		const struct record *r;
		uint64_t x = 0;

		table_leaf_iter_init(&it, n->t, leaf);
		while ((r = table_leaf_iter_next(&it)) != NULL) {
			x ^= digest_sum(&n->d, record_line(r), record_len(r));
			seen++;
		}
		if (x != n->d.leaf[leaf])
			return false;
	}
	return seen == table_count(n->t);
}

static void test_digest_kept_on_every_store(void)
{
	struct node a, b;
	char id[32];

	node_init(&a);
	node_init(&b);
	CHECK(digest_node(&a.d, 0, 0) == 0);
	/* The same records reached in another order, with older ones in between. */
	for (int i = 0; i < 300; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		CHECK_INT(put(&a, "Alford", id, 100), TABLE_STORED_NEW);
		CHECK_INT(put(&a, "Alford", id, 200 + (unsigned long)i), TABLE_STORED_NEWER);
	}
	for (int i = 299; i >= 0; i--) {
		snprintf(id, sizeof(id), "c%d", i);
		CHECK_INT(put(&b, "Alford", id, 200 + (unsigned long)i), TABLE_STORED_NEW);
		CHECK_INT(put(&b, "Alford", id, 100), TABLE_STALE);
	}
	CHECK(digest_node(&a.d, 0, 0) != 0);
	CHECK(digest_node(&a.d, 0, 0) == digest_node(&b.d, 0, 0));
	CHECK(memcmp(a.d.leaf, b.d.leaf, sizeof(a.d.leaf)) == 0);
	CHECK(digest_matches_records(&a));

	/* One client moves at A: exactly one leaf and its ancestors differ. */
	CHECK_INT(put(&a, "Parker", "c7", 9999), TABLE_STORED_NEWER);
	CHECK(digest_node(&a.d, 0, 0) != digest_node(&b.d, 0, 0));
	{
		int differ = 0;

		for (uint32_t i = 0; i < DIGEST_LEAVES; i++)
			differ += a.d.leaf[i] != b.d.leaf[i];
		CHECK_INT(differ, 1);
	}
	/* Folding: a node is the XOR of its children at every depth. */
	for (unsigned depth = 0; depth < DIGEST_LEAF_BITS; depth += DIGEST_STEP_BITS) {
		uint64_t children[DIGEST_FANOUT], x = 0;

		digest_children(&a.d, depth, 0, children);
		for (int j = 0; j < 16; j++)
			x ^= children[j];
		CHECK(x == digest_node(&a.d, depth, 0));
	}
	CHECK(digest_node_valid(16, 65535));
	CHECK(!digest_node_valid(16, 65536));
	CHECK(!digest_node_valid(6, 0));
	CHECK(!digest_node_valid(20, 0));
	node_free(&a);
	node_free(&b);
}

static void test_digest_set_on_a_full_table_and_grown_table(void)
{
	struct node a, late;
	char id[32];

	/* Enough records that the buckets outnumber the leaves (the congruent-bucket walk). */
	node_init(&a);
	late.t = table_new_keyed(K0, K1);
	for (int i = 0; i < 70000; i++) {
		snprintf(id, sizeof(id), "grow%d", i);
		put(&a, "Alford", id, 5);
		put(&late, "Alford", id, 5);
	}
	CHECK(digest_matches_records(&a));
	/* A digest set on a table that holds records already starts from them. */
	digest_init(&late.d, &sum_key);
	table_set_digest(late.t, &late.d);
	CHECK(memcmp(late.d.leaf, a.d.leaf, sizeof(a.d.leaf)) == 0);
	node_free(&late);
	node_free(&a);
}

/* SipHash vectors computed by an independent Python implementation of the paper's
 * algorithm (its 2-4 output checked against the reference vector a129ca6149be45e5). */
static void test_siphash_vectors(void)
{
	const struct siphash_key key = { K0, K1 };
	unsigned char msg[15];
	const char line[] = "AT Alford +0.000000001 kiwi +1+1 100";

	for (int i = 0; i < 15; i++)
		msg[i] = (unsigned char)i;
	CHECK(siphash24(&key, msg, 15) == UINT64_C(0xa129ca6149be45e5));
	CHECK(siphash13(&key, msg, 15) == UINT64_C(0xd320d86d2a519956));
	CHECK(siphash13(&key, line, strlen(line)) == UINT64_C(0xb96a3cfadd7f651e));
}

static void test_digest_keys(void)
{
	struct digest_keys a, b, c;

	CHECK(digest_keys((const unsigned char *)"s3cret", 6, "ignored", &a));
	CHECK(digest_keys((const unsigned char *)"s3cret", 6, "other", &b));
	CHECK(memcmp(&a, &b, sizeof(a)) == 0);
	CHECK(digest_keys(NULL, 0, "0123456789abcdef", &c));
	CHECK(memcmp(&a, &c, sizeof(a)) != 0);
	CHECK(a.table.k0 != a.sum.k0);
	CHECK(!digest_keys(NULL, 0, "", &c));
}

/* Records for the pending set: distinct addresses are all it looks at. */
static struct record *fake(size_t i)
{
	static _Alignas(16) unsigned char pool[5000][16];

	return (struct record *)(void *)pool[i];
}

static void test_pendset(void)
{
	struct pendset s = { 0 };
	size_t model_head = 0, popped = 0;

	CHECK(pendset_pop(&s) == NULL);
	CHECK(!pendset_contains(&s, fake(1)));
	for (size_t i = 0; i < 3000; i++)
		CHECK(pendset_add(&s, fake(i)));
	/* A record already waiting is not added again however often it comes. */
	for (size_t i = 0; i < 3000; i += 7)
		CHECK(!pendset_add(&s, fake(i)));
	CHECK_INT(pendset_count(&s), 3000);
	CHECK(pendset_bytes(&s) <= 3000 * 3 * sizeof(void *) * 2);
	/* First in, first out; popped ones may come again and go to the back. */
	for (size_t i = 0; i < 1500; i++) {
		const struct record *r = pendset_pop(&s);

		CHECK(r == fake(model_head));
		CHECK(!pendset_contains(&s, r));
		model_head++;
		popped++;
	}
	for (size_t i = 0; i < 3000; i++)
		CHECK(pendset_contains(&s, fake(i)) == (i >= 1500));
	CHECK(pendset_add(&s, fake(3)));
	CHECK(pendset_add(&s, fake(4000)));
	for (size_t i = 1500; i < 3000; i++)
		CHECK(pendset_pop(&s) == fake(i));
	CHECK(pendset_pop(&s) == fake(3));
	CHECK(pendset_pop(&s) == fake(4000));
	CHECK(pendset_pop(&s) == NULL);
	/* Deletions by backward shift keep every probe run whole: a long random run. */
	{
		unsigned char in[5000] = { 0 };
		unsigned seed = 12345;
		size_t count = 0;

		for (int step = 0; step < 200000; step++) {
			size_t i;

			seed = seed * 1103515245 + 12345;
			i = (seed >> 8) % 5000;
			if ((seed >> 4) % 3 != 0) {
				CHECK(pendset_add(&s, fake(i)) == !in[i]);
				count += !in[i];
				in[i] = 1;
			} else if (count > 0) {
				const struct record *r = pendset_pop(&s);

				in[((const unsigned char (*)[16])(const void *)r) - (const unsigned char (*)[16])(const void *)fake(0)] = 0;
				count--;
			}
			if (step % 20000 == 0) {
				for (size_t j = 0; j < 5000; j++)
					CHECK(pendset_contains(&s, fake(j)) == in[j]);
			}
		}
		CHECK_INT(pendset_count(&s), count);
	}
	pendset_clear(&s);
	CHECK_INT(pendset_count(&s), 0);
	CHECK(pendset_add(&s, fake(1)));
	pendset_clear(&s);
}

/* Bytes and lines of one simulated walk. */
struct walk_cost {
	size_t bytes, lines, records, turns;
};

/* One end's whole turn, delivered to the other end as its lines would arrive. */
static size_t walk_turn(struct recon *from, struct recon *to, struct node *to_node,
    struct walk_cost *cost)
{
	char line[PEERPROTO_WALK_LINE_MAX];
	size_t len, sent = 0;
	const struct record *rec;

	recon_turn(from);
	while ((len = recon_next_line(from, line, sizeof(line))) > 0) {
		struct peer_msg m;

		peerproto_parse(line, len, &m);
		switch (m.kind) {
		case PEER_MSG_DIGEST:
			CHECK(recon_on_digest(to, m.depth, m.index, m.hashes));
			break;
		case PEER_MSG_LEAF:
			CHECK(recon_on_leaf(to, m.index, m.sums, m.nsums, m.more));
			break;
		case PEER_MSG_WANT:
			CHECK(recon_on_want(to, m.index, m.sums, m.nsums));
			break;
		default:
			CHECK(!"a walk line that does not parse");
		}
		if (getenv("WALK_TRACE") != NULL)
			fprintf(stderr, "> %.*s\n", (int)len, line);
		cost->bytes += len + 1;
		cost->lines++;
		sent++;
	}
	while ((rec = pendset_pop(&from->records)) != NULL) {
		if (getenv("WALK_TRACE") != NULL)
			fprintf(stderr, "> SYNC %s\n", record_line(rec));
		cost->bytes += 5 + record_len(rec) + 1;      /* "SYNC " LINE LF */
		cost->records++;
		put_line(to_node, record_line(rec), record_len(rec));
		sent++;
	}
	cost->bytes += 9;                                /* "ROUND N" */
	cost->turns++;
	return sent;
}

/* A whole walk from A (the dialler) until a turn is empty. */
static struct walk_cost walk(struct node *a, struct node *b)
{
	struct recon ra, rb;
	struct walk_cost cost = { 0 };

	recon_init(&ra, a->t, &a->d, table_count(b->t));
	recon_init(&rb, b->t, &b->d, table_count(a->t));
	recon_start(&ra);
	for (int turn = 0; turn < 40; turn++) {
		bool a_turn = turn % 2 == 0;

		if (walk_turn(a_turn ? &ra : &rb, a_turn ? &rb : &ra, a_turn ? b : a, &cost) == 0 &&
		    !recon_holding(a_turn ? &ra : &rb))
			break;
	}
	CHECK(recon_idle(&ra));
	CHECK(recon_idle(&rb));
	recon_finish(&ra);
	recon_finish(&rb);
	CHECK_INT(pendset_count(&ra.records) + pendset_count(&rb.records), 0);
	recon_clear(&ra);
	recon_clear(&rb);
	return cost;
}

/* The bytes of every record of T as SYNC lines: what a whole-table sync sends. */
static size_t full_sync_bytes(const struct table *t)
{
	struct table_iter it;
	const struct record *r;
	size_t bytes = 0;

	table_iter_init(&it, t);
	while ((r = table_iter_next(&it)) != NULL)
		bytes += 5 + record_len(r) + 1;
	return bytes;
}

/* True when A and B hold the same line for every client. */
static bool same_tables(const struct node *a, const struct node *b)
{
	struct table_iter it;
	const struct record *r;

	if (table_count(a->t) != table_count(b->t))
		return false;
	table_iter_init(&it, a->t);
	while ((r = table_iter_next(&it)) != NULL) {
		struct field id = record_id(r);
		const struct record *o = table_get(b->t, id.p, id.len);

		if (o == NULL || strcmp(record_line(o), record_line(r)) != 0)
			return false;
	}
	return true;
}

static void test_walk_sends_only_the_difference(void)
{
	struct node a, b;
	struct walk_cost cost;
	char id[32];
	size_t full;
	const int clients = 50000, moved = 500;

	node_init(&a);
	node_init(&b);
	for (int i = 0; i < clients; i++) {
		snprintf(id, sizeof(id), "client%07d.example.com", i);
		put(&a, "Alford", id, 1000);
		put(&b, "Alford", id, 1000);
	}
	/* A partition: clients move on both sides, some new ones appear on each. */
	for (int i = 0; i < moved; i++) {
		snprintf(id, sizeof(id), "client%07d.example.com", i * 97 % clients);
		put(i % 2 ? &a : &b, i % 2 ? "Alford" : "Parker", id, 2000 + (unsigned long)i);
	}
	put(&a, "Alford", "only-at-a", 5);
	put(&b, "Parker", "only-at-b", 5);
	/* The same client moved on both sides: the later time wins at both. */
	put(&a, "Alford", "client0000001.example.com", 7000);
	put(&b, "Parker", "client0000001.example.com", 7001);
	full = full_sync_bytes(a.t);
	cost = walk(&a, &b);
	CHECK(same_tables(&a, &b));
	CHECK(digest_node(&a.d, 0, 0) == digest_node(&b.d, 0, 0));
	CHECK(strstr(record_line(table_get(a.t, "client0000001.example.com", 25)), "Parker") != NULL);
	/* Each moved client crosses once or twice (both versions), and little else. */
	CHECK(cost.records >= (size_t)moved);
	CHECK(cost.records <= 3 * (size_t)moved);
	CHECK(cost.bytes * 8 < full);
	fprintf(stderr, "walk: %zu clients, %d moved: %zu bytes in %zu turns (%zu records), "
	    "whole table %zu bytes (%.1f%%)\n", (size_t)clients, moved, cost.bytes, cost.turns,
	    cost.records, full, 100.0 * (double)cost.bytes / (double)full);

	/* Equal tables: the first turn finds nothing to expand. */
	cost = walk(&a, &b);
	CHECK_INT(cost.records, 0);
	CHECK(cost.turns <= 2);
	node_free(&a);
	node_free(&b);
}

static void test_walk_to_an_empty_table_and_a_crowded_leaf(void)
{
	struct node a, b;
	struct walk_cost cost;
	char id[32];

	node_init(&a);
	node_init(&b);
	for (int i = 0; i < 2000; i++) {
		snprintf(id, sizeof(id), "e%d", i);
		put(&a, "Alford", id, 10);
	}
	cost = walk(&b, &a);
	CHECK(same_tables(&a, &b));
	CHECK_INT(cost.records, 2000);

	/* Many clients in one leaf (IDs found by the table's hash): LEAF+ lines. */
	node_free(&b);
	node_init(&b);
	{
		const struct siphash_key table_key = { K0, K1 };
		int in_leaf = 0;

		for (int i = 0; in_leaf < 100; i++) {
			snprintf(id, sizeof(id), "crowd%d", i);
			if (digest_leaf((uint32_t)siphash24(&table_key, id, strlen(id))) != 77)
				continue;
			put(&b, "Parker", id, 20);
			if (in_leaf % 3 == 0)
				put(&a, "Parker", id, 19);
			in_leaf++;
		}
	}
	cost = walk(&a, &b);
	CHECK(same_tables(&a, &b));
	node_free(&a);
	node_free(&b);
}

/*
 * A neighbour answers only about what this end sent it, and each node once: a DIGEST
 * about a node never offered, or one offered and answered already, is refused, and so
 * are LEAF and WANT lines about leaves this end did not offer or list.
 */
static void test_walk_answers_only_what_was_offered(void)
{
	struct node a;
	struct recon r;
	uint64_t hashes[DIGEST_FANOUT];
	char line[PEERPROTO_WALK_LINE_MAX];
	uint32_t sum = 1;

	node_init(&a);
	put(&a, "Alford", "x", 1);
	recon_init(&r, a.t, &a.d, 1);
	for (int j = 0; j < 16; j++)
		hashes[j] = UINT64_C(0xabcdef) + (uint64_t)j;
	CHECK(!recon_on_digest(&r, 12, 7, hashes));
	CHECK(!recon_on_leaf(&r, 3, NULL, 0, false));
	CHECK(!recon_on_want(&r, 3, &sum, 1));
	/* The root was offered by DIGEST-BEGIN: once. */
	CHECK(recon_on_digest(&r, 0, 0, hashes));
	CHECK(!recon_on_digest(&r, 0, 0, hashes));
	/* Its children, queued because they differ, are offered when sent. */
	CHECK(!recon_on_digest(&r, 4, 2, hashes));
	CHECK(recon_next_line(&r, line, sizeof(line)) > 0);
	CHECK(strncmp(line, "DIGEST 4 0 ", 11) == 0);
	CHECK(recon_on_digest(&r, 8, 5, hashes));
	CHECK(!recon_on_digest(&r, 8, 5, hashes));
	recon_clear(&r);
	node_free(&a);
}

/* Two IDs in one leaf (by the table's hash). */
static void ids_in_one_leaf(uint32_t leaf, char *x, char *y, size_t size)
{
	const struct siphash_key table_key = { K0, K1 };
	int found = 0;

	for (int i = 0; found < 2; i++) {
		char id[32];

		snprintf(id, sizeof(id), "same%d", i);
		if (digest_leaf((uint32_t)siphash24(&table_key, id, strlen(id))) != leaf)
			continue;
		snprintf(found == 0 ? x : y, size, "%s", id);
		found++;
	}
}

/*
 * A record held back for a round trip is not lost when the neighbour's next turn is
 * empty because the record it was asked for changed meanwhile (and was flooded): the
 * walk's end sends what is still held.
 */
static void test_walk_end_sends_what_was_held_back(void)
{
	struct node a, b;
	struct recon ra, rb;
	struct walk_cost cost = { 0 };
	char x[32], y[32];
	const struct record *rec;

	node_init(&a);
	node_init(&b);
	ids_in_one_leaf(99, x, y, sizeof(x));
	put(&a, "Alford", y, 1);
	put(&b, "Parker", x, 1);
	recon_init(&ra, a.t, &a.d, 1);
	recon_init(&rb, b.t, &b.d, 1);
	recon_start(&ra);
	/* Turns 1-5: the tree down to leaf 99 and A's LEAF; B holds x back, wants y. */
	for (int turn = 0; turn < 5; turn++)
		CHECK(walk_turn(turn % 2 == 0 ? &ra : &rb, turn % 2 == 0 ? &rb : &ra,
		    turn % 2 == 0 ? &b : &a, &cost) > 0);
	/* Y moves at A before B's WANT comes: the flood takes it to B, the WANT finds none. */
	put(&a, "Alford", y, 2);
	put(&b, "Alford", y, 2);
	CHECK(walk_turn(&rb, &ra, &a, &cost) > 0);
	CHECK(recon_holding(&rb));
	CHECK_INT(walk_turn(&ra, &rb, &b, &cost), 0);
	/* The walk is over: B sends what it still holds, as a flood. */
	recon_finish(&rb);
	while ((rec = pendset_pop(&rb.records)) != NULL)
		put_line(&a, record_line(rec), record_len(rec));
	CHECK(same_tables(&a, &b));
	recon_clear(&ra);
	recon_clear(&rb);
	node_free(&a);
	node_free(&b);
}

int main(void)
{
	test_digest_kept_on_every_store();
	test_digest_set_on_a_full_table_and_grown_table();
	test_siphash_vectors();
	test_digest_keys();
	test_pendset();
	test_walk_sends_only_the_difference();
	test_walk_to_an_empty_table_and_a_crowded_leaf();
	test_walk_answers_only_what_was_offered();
	test_walk_end_sends_what_was_held_back();
	return check_done("digest");
}
