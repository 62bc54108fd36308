/*
 * Unit tests of the admin endpoint's pure parts: JSON for odd client IDs, degree
 * numbers, percent-decoding, the /clients query, and paging over a real table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <yajl/yajl_tree.h>

#include "check.h"
#include "clients_view.h"
#include "json_out.h"
#include "table.h"

static struct json_out json;
static struct evbuffer *out;
static char text[8192];

/* Starts a document into the shared buffer, emptied first. */
static struct json_out *begin(void)
{
	evbuffer_drain(out, evbuffer_get_length(out));
	json_out_begin(&json, admin_json_sink, out);
	return &json;
}

/* The document written since begin(), NUL-ended, checked to parse back as JSON. */
static const char *document(void)
{
	size_t len = evbuffer_get_length(out);
	char err[128];
	yajl_val tree;

	if (len >= sizeof(text))
		len = sizeof(text) - 1;
	evbuffer_copyout(out, text, len);
	text[len] = '\0';
	tree = yajl_tree_parse(text, err, sizeof(err));
	CHECK(tree != NULL);
	if (tree == NULL)
		fprintf(stderr, "not JSON (%s): %s\n", err, text);
	yajl_tree_free(tree);
	return text;
}

/* {KEY: the bytes (P, LEN)} as json_bytes_member writes it. */
static const char *bytes_object(const char *p, size_t len)
{
	struct json_out *j = begin();

	json_map_open(j);
	json_bytes_member(j, "id", p, len);
	json_map_close(j);
	CHECK(json_out_ok(j));
	return document();
}

static void test_utf8_valid(void)
{
	CHECK(utf8_valid("", 0));
	CHECK(utf8_valid("kiwi.cs.ucla.edu", 16));
	CHECK(utf8_valid("caf\xc3\xa9", 5));
	CHECK(utf8_valid("\xe2\x82\xac", 3));             /* euro sign */
	CHECK(utf8_valid("\xf0\x90\x8d\x88", 4));         /* U+10348 */
	CHECK(utf8_valid("\xf4\x8f\xbf\xbf", 4));         /* U+10FFFF */
	CHECK(utf8_valid("a\0b", 3));
	CHECK(!utf8_valid("caf\xe9", 4));                 /* Latin-1 */
	CHECK(!utf8_valid("\xc0\xaf", 2));                /* overlong '/' */
	CHECK(!utf8_valid("\xe0\x80\xaf", 3));            /* overlong '/' */
	CHECK(!utf8_valid("\xed\xa0\x80", 3));            /* surrogate */
	CHECK(!utf8_valid("\xf4\x90\x80\x80", 4));        /* above U+10FFFF */
	CHECK(!utf8_valid("\xe2\x82", 2));                /* cut short */
	CHECK(!utf8_valid("\x80", 1));
	CHECK(!utf8_valid("\xff", 1));
}

static void test_odd_ids(void)
{
	CHECK_STR(bytes_object("kiwi", 4), "{\"id\":\"kiwi\"}");
	CHECK_STR(bytes_object("caf\xc3\xa9", 5), "{\"id\":\"caf\xc3\xa9\"}");
	CHECK_STR(bytes_object("caf\xe9", 4),
	    "{\"id\":\"caf\xef\xbf\xbd\",\"id_hex\":\"636166e9\"}");
	/* each invalid byte is one U+FFFD; valid sequences around them stay */
	CHECK_STR(bytes_object("\xff\xc3\xa9\xed\xa0\x80", 6),
	    "{\"id\":\"\xef\xbf\xbd\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\","
	    "\"id_hex\":\"ffc3a9eda080\"}");
	CHECK_STR(bytes_object("q\"b\\s/", 6), "{\"id\":\"q\\\"b\\\\s/\"}");
	CHECK_STR(bytes_object("a\x01z", 3), "{\"id\":\"a\\u0001z\"}");
	CHECK_STR(bytes_object("a\0b", 3), "{\"id\":\"a\\u0000b\"}");
	CHECK_STR(bytes_object("\x7f<>&", 4), "{\"id\":\"\x7f<>&\"}");
}

/* {"d": DEGREE} or "" when json_degree_member refuses the text. */
static const char *degree(const char *s)
{
	struct json_out *j = begin();

	json_map_open(j);
	json_degree_member(j, "d", s, strlen(s));
	json_map_close(j);
	return json_out_ok(j) ? document() : "";
}

static void test_degrees(void)
{
	CHECK_STR(degree("+34.068930"), "{\"d\":34.068930}");
	CHECK_STR(degree("-118.445127"), "{\"d\":-118.445127}");
	CHECK_STR(degree("-034.5"), "{\"d\":-34.5}");
	CHECK_STR(degree("+000"), "{\"d\":0}");
	CHECK_STR(degree("-0"), "{\"d\":-0}");
	CHECK_STR(degree("+00.25"), "{\"d\":0.25}");
	CHECK_STR(degree("+90.000000000000000000001"), "{\"d\":90.000000000000000000001}");
	CHECK_STR(degree("34"), "");
	CHECK_STR(degree("+"), "");
	CHECK_STR(degree("+.5"), "");
	CHECK_STR(degree("+3."), "");
	CHECK_STR(degree("+3a"), "");
	CHECK_STR(degree("+3.5.1"), "");
}

static void test_time_and_numbers(void)
{
	struct json_out *j = begin();

	json_array_open(j);
	json_time(j, (struct htime){ 1700000000, 123456789 });
	json_u64(j, UINT64_MAX);
	json_fixed(j, 2.5, 3);
	json_null(j);
	json_array_close(j);
	CHECK(json_out_ok(j));
	CHECK_STR(json_out_error(j), "");
	CHECK_STR(document(),
	    "[\"2023-11-14T22:13:20.123456Z\",18446744073709551615,2.500,null]");

	/* A value with no JSON form fails the document, and nothing after it is written. */
	j = begin();
	json_array_open(j);
	json_u64(j, 7);
	json_fixed(j, 1.0 / 0.0, 3);
	CHECK(!json_out_ok(j));
	json_null(j);
	json_array_close(j);
	CHECK(!json_out_ok(j));
	CHECK_STR(json_out_error(j), "a value with no JSON form");
	CHECK(evbuffer_get_length(out) == 2);      /* "[7" and no more */
}

/* Takes nothing: stands for an evbuffer that cannot grow. */
static bool refusing_sink(void *arg, const char *p, size_t len)
{
	(void)arg, (void)p, (void)len;
	return false;
}

static void test_failures(void)
{
	struct json_out *j = begin();

	/* yajl's own refusals: a number where a key belongs, text that is not UTF-8 */
	json_map_open(j);
	json_u64(j, 1);
	CHECK(!json_out_ok(j));
	CHECK_STR(json_out_error(j), "a key that is not a string");
	j = begin();
	json_text(j, "caf\xe9", 4);
	CHECK_STR(json_out_error(j), "a string that is not UTF-8");
	/* a sink that refuses text */
	json_out_begin(j, refusing_sink, NULL);
	json_map_open(j);
	CHECK(!json_out_ok(j));
	CHECK_STR(json_out_error(j), "the output was refused");
	/* a new document starts clean */
	j = begin();
	json_string(j, "ok");
	CHECK(json_out_ok(j));
	CHECK_STR(document(), "\"ok\"");
}

/* The decoded text of S, "<error>" if percent_decode refuses it. */
static const char *decoded(const char *s, size_t size)
{
	static char buf[64];
	size_t len;

	if (!percent_decode(s, strlen(s), buf, size, &len))
		return "<error>";
	buf[len] = '\0';
	return buf;
}

static void test_percent_decode(void)
{
	char buf[8];
	size_t len = 99;

	CHECK_STR(decoded("kiwi", 63), "kiwi");
	CHECK_STR(decoded("a%2Bb%2bc", 63), "a+b+c");
	CHECK_STR(decoded("a+b", 63), "a+b");
	CHECK_STR(decoded("caf%E9", 63), "caf\xe9");
	CHECK_STR(decoded("%25%41", 63), "%A");
	CHECK_STR(decoded("", 63), "");
	CHECK_STR(decoded("%", 63), "<error>");
	CHECK_STR(decoded("%4", 63), "<error>");
	CHECK_STR(decoded("ab%4", 63), "<error>");
	CHECK_STR(decoded("%zz", 63), "<error>");
	CHECK_STR(decoded("%%41", 63), "<error>");
	CHECK_STR(decoded("abcd", 4), "abcd");
	CHECK_STR(decoded("abcde", 4), "<error>");
	CHECK(percent_decode("a%00b", 5, buf, sizeof(buf), &len));
	CHECK_INT(len, 3);
	CHECK(memcmp(buf, "a\0b", 3) == 0);
}

static void test_query(void)
{
	struct clients_query q;
	const char *why = NULL;

	CHECK(clients_query_parse(NULL, &q, &why));
	CHECK_INT(q.limit, CLIENTS_LIMIT_DEFAULT);
	CHECK_INT(q.after_len, 0);
	CHECK(clients_query_parse("", &q, &why));
	CHECK(clients_query_parse("limit=5", &q, &why));
	CHECK_INT(q.limit, 5);
	CHECK(clients_query_parse("after=a%2Bb&limit=1000", &q, &why));
	CHECK_INT(q.limit, 1000);
	CHECK_MEM(q.after, q.after_len, "a+b");
	CHECK(clients_query_parse("&&limit=3&", &q, &why));
	CHECK_INT(q.limit, 3);
	CHECK(clients_query_parse("after=", &q, &why));
	CHECK_INT(q.after_len, 0);
	/* SPEC's own spelling, both empty: the first page at the default size. */
	CHECK(clients_query_parse("limit=&after=", &q, &why));
	CHECK_INT(q.limit, CLIENTS_LIMIT_DEFAULT);
	CHECK_INT(q.after_len, 0);

	CHECK(!clients_query_parse("limit=0", &q, &why));
	CHECK(why != NULL && strstr(why, "limit") != NULL);
	CHECK(!clients_query_parse("limit=1001", &q, &why));
	CHECK(!clients_query_parse("limit", &q, &why));
	CHECK(!clients_query_parse("limit=&limit=5", &q, &why));
	CHECK(!clients_query_parse("limit=+5", &q, &why));
	CHECK(!clients_query_parse("limit=5x", &q, &why));
	CHECK(!clients_query_parse("limit=99999999999999999999", &q, &why));
	CHECK(!clients_query_parse("limit=5&limit=6", &q, &why));
	CHECK(!clients_query_parse("after=a&after=b", &q, &why));
	CHECK(!clients_query_parse("after=%zz", &q, &why));
	CHECK(!clients_query_parse("offset=5", &q, &why));
	CHECK(why != NULL && strstr(why, "unknown") != NULL);
}

/* Offers "AT Alford +0.000000000 ID +1+1 100" to T; ID may hold any non-space bytes. */
static void offer_id(struct table *t, const char *id, size_t len)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "AT Alford +0.000000000 %.*s +1+1 100", (int)len, id);
	struct at_record rec;
	const struct record *stored;

	CHECK(proto_at_parse(line, (size_t)n, &rec));
	CHECK_INT(table_offer(t, &rec, &stored), TABLE_STORED_NEW);
}

static int compare_ids(const void *a, const void *b)
{
	const char *const *x = a, *const *y = b;

	return table_id_cmp(*x, strlen(*x), *y, strlen(*y));
}

static void test_id_order(void)
{
	CHECK(table_id_cmp("a", 1, "b", 1) < 0);
	CHECK(table_id_cmp("a", 1, "ab", 2) < 0);
	CHECK(table_id_cmp("ab", 2, "a", 1) > 0);
	CHECK(table_id_cmp("Z", 1, "a", 1) < 0);
	CHECK(table_id_cmp("\xff", 1, "z", 1) > 0);   /* bytes compare unsigned */
	CHECK(table_id_cmp("kiwi", 4, "kiwi", 4) == 0);
}

/* Pages through a table of 2,000 IDs with several limits; every ID once, in order. */
static void test_paging(void)
{
	enum { N = 2000 };
	static char ids[N][16];
	static const char *sorted[N];
	static const struct record *page[CLIENTS_LIMIT_MAX];
	static const size_t limits[] = { 1, 7, 100, 1000 };
	struct table *t = table_new_keyed(5, 6);
	bool more;

	for (int i = 0; i < N; i++) {
		/* mixed lengths and high bytes, so byte order differs from numeric order */
		snprintf(ids[i], sizeof(ids[i]), "%s%d", i % 3 == 0 ? "\xc3\xa9" : i % 3 == 1 ?
		    "Z" : "z\xff", (i * 7919) % 10007);
		offer_id(t, ids[i], strlen(ids[i]));
		sorted[i] = ids[i];
	}
	qsort(sorted, N, sizeof(sorted[0]), compare_ids);

	for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
		size_t seen = 0, pages = 0, after_len = 0;
		const char *after = "";

		for (;;) {
			size_t n = clients_page(t, after, after_len, page, limits[l], &more);

			pages++;
			for (size_t i = 0; i < n && seen < N; i++, seen++) {
				if (record_id(page[i]).len != strlen(sorted[seen]) ||
				    memcmp(record_id(page[i]).p, sorted[seen], record_id(page[i]).len) != 0) {
					CHECK(!"page out of order");
					fprintf(stderr, "limit %zu: entry %zu is %.*s, want %s\n",
					    limits[l], seen, (int)record_id(page[i]).len, record_id(page[i]).p,
					    sorted[seen]);
					seen = N;
					break;
				}
			}
			if (!more || n == 0)
				break;
			CHECK_INT(n, limits[l]);
			after = record_id(page[n - 1]).p;
			after_len = record_id(page[n - 1]).len;
		}
		CHECK_INT(seen, N);
		CHECK_INT(pages, (N + limits[l] - 1) / limits[l]);
	}

	/* past the last ID: nothing, and nothing more */
	CHECK_INT(clients_page(t, "\xff\xff", 2, page, 10, &more), 0);
	CHECK(!more);
	/* an AFTER that is not an ID still bounds the page */
	CHECK_INT(clients_page(t, "Z", 1, page, 1, &more), 1);
	CHECK(more);
	for (int i = 0; i < N; i++) {
		if (compare_ids(&sorted[i], &(const char *){ "Z" }) > 0) {
			CHECK_MEM(record_id(page[0]).p, record_id(page[0]).len, sorted[i]);
			break;
		}
	}
	table_free(t);
}

static void test_record_json(void)
{
	struct table *t = table_new_keyed(1, 2);
	const char *line = "AT Alford -0.250000000 caf\xe9 -034.5+118 100.000000001";
	struct at_record rec;
	const struct record *stored;

	CHECK(proto_at_parse(line, strlen(line), &rec));
	CHECK_INT(table_offer(t, &rec, &stored), TABLE_STORED_NEW);
	clients_json_record(begin(), stored);
	CHECK(json_out_ok(&json));
	CHECK_STR(document(),
	    "{\"id\":\"caf\xef\xbf\xbd\",\"id_hex\":\"636166e9\",\"latitude\":-34.5,"
	    "\"longitude\":118,\"client_time\":\"100.000000001\",\"server\":\"Alford\","
	    "\"time_diff\":\"-0.250000000\",\"at\":\"AT Alford -0.250000000 caf\xef\xbf\xbd "
	    "-034.5+118 100.000000001\",\"at_hex\":\"415420416c666f7264202d302e323530303030303030"
	    "20636166e9202d3033342e352b313138203130302e303030303030303031\"}");
	table_free(t);
}

int main(void)
{
	out = evbuffer_new();
	if (out == NULL)
		return 2;
	json_out_init(&json, JSON_COMPACT);
	test_utf8_valid();
	test_odd_ids();
	test_degrees();
	test_time_and_numbers();
	test_failures();
	test_percent_decode();
	test_query();
	test_id_order();
	test_paging();
	test_record_json();
	json_out_free(&json);
	evbuffer_free(out);
	return check_done("admin_view");
}
