/* Unit tests of the client table: newest wins, ties broken by the AT line, growth. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "table.h"

/* Not a table answer: the line was refused before it reached the table. */
#define NOT_AN_AT_LINE (-1)

/* Offers the AT line LINE (a string literal kept alive by the caller) to T. */
static int offer(struct table *t, const char *line)
{
	struct at_record rec;
	const struct record *stored;

	if (!proto_at_parse(line, strlen(line), &rec))
		return NOT_AN_AT_LINE;
	return (int)table_offer(t, &rec, &stored);
}

/* The stored AT line for ID, or "". */
static const char *stored_line(struct table *t, const char *id)
{
	const struct record *r = table_get(t, id, strlen(id));

	return r != NULL ? record_line(r) : "";
}

static void test_newest_wins(void)
{
	struct table *t = table_new_keyed(1, 2);

	CHECK_INT(offer(t, "AT Alford +0.5 kiwi +1+1 100"), NOT_AN_AT_LINE);  /* bad diff */
	CHECK_INT(offer(t, "AT Alford +0.500000000 kiwi +1+1 100"), TABLE_STORED_NEW);
	CHECK_INT(table_count(t), 1);
	CHECK_INT(offer(t, "AT Bolden +0.500000000 kiwi +2+2 99.999999999"), TABLE_STALE);
	CHECK_STR(stored_line(t, "kiwi"), "AT Alford +0.500000000 kiwi +1+1 100");
	CHECK_INT(offer(t, "AT Bolden +0.500000000 kiwi +2+2 100.000000001"), TABLE_STORED_NEWER);
	CHECK_STR(stored_line(t, "kiwi"), "AT Bolden +0.500000000 kiwi +2+2 100.000000001");
	CHECK_INT(table_count(t), 1);
	/* the same record again is not newer */
	CHECK_INT(offer(t, "AT Bolden +0.500000000 kiwi +2+2 100.000000001"), TABLE_STALE);
	/* 100.5 and 100.500000000 are the same time */
	CHECK_INT(offer(t, "AT Alford +0.000000000 lime +1+1 100.5"), TABLE_STORED_NEW);
	CHECK_INT(offer(t, "AT Alford +0.000000000 lime +1+1 100.500000000"), TABLE_STORED_NEWER);
	CHECK(table_get(t, "none", 4) == NULL);
	table_free(t);
}

static void test_tie_break(void)
{
	const char *a = "AT Alford +1.000000000 kiwi +1+1 100";
	const char *b = "AT Bolden +1.000000000 kiwi +1+1 100";
	struct table *t1 = table_new_keyed(1, 2), *t2 = table_new_keyed(3, 4);

	/* whatever order the records arrive in, both tables settle on the greater line */
	offer(t1, a);
	CHECK_INT(offer(t1, b), TABLE_STORED_NEWER);
	offer(t2, b);
	CHECK_INT(offer(t2, a), TABLE_STALE);
	CHECK_STR(stored_line(t1, "kiwi"), b);
	CHECK_STR(stored_line(t2, "kiwi"), b);
	/* a longer line with the same prefix is greater */
	CHECK_INT(offer(t1, "AT Bolden +1.000000000 kiwi +1+1 100.0"), TABLE_STORED_NEWER);
	table_free(t1);
	table_free(t2);
}

static void test_many(void)
{
	struct table *t = table_new();
	struct table_iter it;
	char line[128];
	size_t seen = 0;
	const struct record *r;
	static unsigned char marks[20000];

	for (int i = 0; i < 20000; i++) {
		snprintf(line, sizeof(line), "AT Alford +0.000000000 client-%d +1+1 %d", i, i);
		if (offer(t, line) != TABLE_STORED_NEW)
			CHECK(!"store failed");
	}
	CHECK_INT(table_count(t), 20000);
	for (int i = 0; i < 20000; i += 997) {
		char id[32];
		int n = snprintf(id, sizeof(id), "client-%d", i);
		const struct record *rec = table_get(t, id, (size_t)n);
		struct at_record f;

		CHECK(rec != NULL);
		record_fields(rec, &f);
		CHECK(f.client_time.sec == i);
	}
	table_iter_init(&it, t);
	while ((r = table_iter_next(&it)) != NULL) {
		struct at_record f;
		int i;

		record_fields(r, &f);
		i = (int)f.client_time.sec;

		if (i >= 0 && i < 20000 && !marks[i]) {
			marks[i] = 1;
			seen++;
		}
	}
	CHECK_INT(seen, 20000);
	table_free(t);
}

static void test_binary_ids(void)
{
	struct table *t = table_new_keyed(5, 6);
	const char line[] = "AT Alford +0.000000000 a\0\xff" "b +1+1 1";
	struct at_record rec;
	const struct record *stored;

	CHECK(proto_at_parse(line, sizeof(line) - 1, &rec));
	CHECK_INT(rec.id.len, 4);
	CHECK_INT(table_offer(t, &rec, &stored), TABLE_STORED_NEW);
	CHECK(table_get(t, "a\0\xff" "b", 4) != NULL);
	CHECK(table_get(t, "a", 1) == NULL);
	CHECK_INT(stored->len, sizeof(line) - 1);
	table_free(t);
}

/* IDs as bytes of every value and length, made from a fixed seed. */
static size_t random_id(unsigned *seed, char *id)
{
	size_t len = 1 + (size_t)(rand_r(seed) % 6);

	for (size_t i = 0; i < len; i++) {
		/* Few byte values, so IDs share prefixes and some repeat. */
		static const char bytes[] = { 'a', 'b', 'z', '\0', (char)0x80, (char)0xff };

		id[i] = bytes[rand_r(seed) % sizeof(bytes)];
	}
	return len;
}

/* Offers a record for the binary ID (ID, LEN), with time WHEN. */
static int offer_id(struct table *t, const char *id, size_t len, int when)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "AT Alford +0.000000000 ");
	struct at_record rec;
	const struct record *stored;

	memcpy(line + n, id, len);
	n += (int)len;
	n += snprintf(line + n, sizeof(line) - (size_t)n, " +1+1 %d", when);
	if (!proto_at_parse(line, (size_t)n, &rec))
		return NOT_AN_AT_LINE;
	return (int)table_offer(t, &rec, &stored);
}

/* The ID order threads every record once, sorted, and table_after seeks into it. */
static void test_id_order(void)
{
	struct table *t = table_new_keyed(7, 8);
	unsigned seed = 42;
	char id[8];
	size_t count = 0, walked = 0;
	const struct record *r, *prev = NULL;

	CHECK(table_first(t) == NULL);
	CHECK(table_after(t, "a", 1) == NULL);
	for (int i = 0; i < 5000; i++) {
		size_t len = random_id(&seed, id);
		int res = offer_id(t, id, len, i);

		if (res == TABLE_STORED_NEW)
			count++;
		else if (res != TABLE_STORED_NEWER)
			CHECK(!"offer failed");
	}
	CHECK_INT(table_count(t), count);
	for (r = table_first(t); r != NULL; r = table_next_by_id(r)) {
		if (prev != NULL && table_id_cmp(record_id(prev).p, record_id(prev).len, record_id(r).p,
		    record_id(r).len) >= 0)
			CHECK(!"out of order");
		prev = r;
		walked++;
	}
	CHECK_INT(walked, count);

	/* table_after returns the first ID strictly greater, for IDs held or not. */
	seed = 7;
	for (int i = 0; i < 2000; i++) {
		size_t len = random_id(&seed, id);
		const struct record *after = table_after(t, id, len), *want = table_first(t);

		while (want != NULL && table_id_cmp(record_id(want).p, record_id(want).len, id, len) <= 0)
			want = table_next_by_id(want);
		if (after != want)
			CHECK(!"table_after");
	}
	CHECK(table_after(t, "\xff\xff\xff\xff\xff\xff\xff", 7) == NULL);
	table_free(t);
}

/* True when T's ID order holds exactly WANT records, sorted, and table_after agrees. */
static bool order_ok(const struct table *t, size_t want)
{
	const struct record *r, *prev = NULL;
	size_t walked = 0;

	for (r = table_first(t); r != NULL; r = table_next_by_id(r)) {
		if (prev != NULL && (table_id_cmp(record_id(prev).p, record_id(prev).len,
		    record_id(r).p, record_id(r).len) >= 0 ||
		    table_after(t, record_id(prev).p, record_id(prev).len) != r))
			return false;
		prev = r;
		walked++;
	}
	return walked == want;
}

/*
 * IDs in ascending order (a snapshot loading) take the append path; records before
 * the last, between, and after it again keep the order whole.
 */
static void test_ascending_then_anywhere(void)
{
	struct table *t = table_new_keyed(3, 4);
	char id[16];
	unsigned seed = 9;
	size_t count = 0;

	for (int i = 0; i < 3000; i++) {
		snprintf(id, sizeof(id), "m%05d", i * 2);
		CHECK_INT(offer_id(t, id, strlen(id), 1), TABLE_STORED_NEW);
	}
	CHECK(order_ok(t, 3000));
	CHECK(memcmp(record_id(table_first(t)).p, "m00000", 6) == 0);
	/* Between, before the first, and past the last, mixed. */
	for (int i = 0; i < 3000; i++) {
		snprintf(id, sizeof(id), "m%05d", i * 2 + 1);
		CHECK_INT(offer_id(t, id, strlen(id), 1), TABLE_STORED_NEW);
		snprintf(id, sizeof(id), "a%05d", 3000 - i);
		CHECK_INT(offer_id(t, id, strlen(id), 1), TABLE_STORED_NEW);
		snprintf(id, sizeof(id), "z%05d", i);
		CHECK_INT(offer_id(t, id, strlen(id), 1), TABLE_STORED_NEW);
	}
	CHECK(order_ok(t, 12000));
	count = 12000;
	for (int i = 0; i < 3000; i++) {
		size_t len = random_id(&seed, id);

		if (offer_id(t, id, len, 1) == TABLE_STORED_NEW)
			count++;
	}
	CHECK(order_ok(t, count));
	table_free(t);
}

/*
 * A newer line longer than the record's allocation moves to a block of its own and the
 * record stays put (pointers to it stay good); shorter and longer lines after that, and
 * the ID order, lookups and fields, all keep working.
 */
static void test_lines_that_grow(void)
{
	struct table *t = table_new_keyed(5, 6);
	char line[1200], loc[1100];
	const struct record *first, *r;
	struct at_record f;

	CHECK_INT(offer(t, "AT Alford +0.000000000 grow +1+1 1"), TABLE_STORED_NEW);
	CHECK_INT(offer(t, "AT Alford +0.000000000 a +1+1 1"), TABLE_STORED_NEW);
	CHECK_INT(offer(t, "AT Alford +0.000000000 z +1+1 1"), TABLE_STORED_NEW);
	first = table_get(t, "grow", 4);
	for (int i = 2; i < 60; i++) {
		/* Lengths go up and down: 1 to 1000 fraction digits of latitude. */
		int digits = (i * 37) % 1000 + 1;

		snprintf(loc, sizeof(loc), "+1.%0*d+1", digits, 7);
		snprintf(line, sizeof(line), "AT Bolden -%d.000000000 grow %s %d", i, loc, i);
		CHECK_INT(offer(t, line), TABLE_STORED_NEWER);
		r = table_get(t, "grow", 4);
		CHECK(r == first);
		CHECK_STR(record_line(r), line);
		CHECK_INT(record_len(r), strlen(line));
		record_fields(r, &f);
		CHECK(f.client_time.sec == i);
		CHECK_INT(f.location.len, strlen(loc));
		CHECK(memcmp(record_id(r).p, "grow", 4) == 0 && record_id(r).len == 4);
	}
	CHECK(order_ok(t, 3));
	CHECK(table_after(t, "a", 1) == first);
	table_free(t);
}

/* At the limit, stored clients still change and new IDs are refused. */
static void test_limit(void)
{
	struct table *t = table_new_keyed(1, 2);

	table_set_limit(t, 2);
	CHECK_INT(offer_id(t, "a", 1, 1), TABLE_STORED_NEW);
	CHECK_INT(offer_id(t, "b", 1, 1), TABLE_STORED_NEW);
	CHECK_INT(offer_id(t, "c", 1, 1), TABLE_FULL);
	CHECK_INT(offer_id(t, "a", 1, 2), TABLE_STORED_NEWER);
	CHECK_INT(offer_id(t, "b", 1, 0), TABLE_STALE);
	CHECK_INT(table_count(t), 2);
	CHECK(table_get(t, "c", 1) == NULL);
	table_free(t);
}

int main(void)
{
	test_newest_wins();
	test_tie_break();
	test_many();
	test_binary_ids();
	test_id_order();
	test_ascending_then_anywhere();
	test_lines_that_grow();
	test_limit();
	return check_done("test_table");
}
