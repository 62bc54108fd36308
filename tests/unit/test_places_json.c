/* Unit tests of WHATSAT JSON: formatting, the streaming filter, new-API requests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "check.h"
#include "json_out.h"
#include "places_filter.h"
#include "places_json.h"

#define BODY_MAX (1024 * 1024)

static void test_collapse(void)
{
	char a[] = "\n\n{\n\n\n  \"a\": 1\n}\n\n";
	char b[] = "x\ny";
	char c[] = "\n\n";
	size_t n;

	n = places_json_collapse_newlines(a, strlen(a));
	CHECK_MEM(a, n, "{\n  \"a\": 1\n}");
	n = places_json_collapse_newlines(b, strlen(b));
	CHECK_MEM(b, n, "x\ny");
	CHECK_INT(places_json_collapse_newlines(c, strlen(c)), 0);
}

static void test_error(void)
{
	size_t len = 0;
	char *json = places_json_error("timed out after 5 s \"quoted\"", &len);
	char errbuf[128];
	yajl_val tree, v;
	const char *status_path[] = { "status", NULL };
	const char *message_path[] = { "error_message", NULL };
	const char *results_path[] = { "results", NULL };

	CHECK(json != NULL);
	if (json == NULL)
		return;
	CHECK_INT(strlen(json), len);
	CHECK(strstr(json, "\n\n") == NULL);
	CHECK(len > 0 && json[len - 1] == '}');
	tree = yajl_tree_parse(json, errbuf, sizeof(errbuf));
	CHECK(tree != NULL);
	if (tree != NULL) {
		v = yajl_tree_get(tree, status_path, yajl_t_string);
		CHECK_STR(v != NULL ? v->u.string : NULL, "UNKNOWN_ERROR");
		v = yajl_tree_get(tree, message_path, yajl_t_string);
		CHECK_STR(v != NULL ? v->u.string : NULL, "timed out after 5 s \"quoted\"");
		v = yajl_tree_get(tree, results_path, yajl_t_array);
		CHECK(v != NULL && YAJL_GET_ARRAY(v)->len == 0);
		yajl_tree_free(tree);
	}
	free(json);
}

/* Error texts come from outside (a reason phrase) or were cut to fit: valid UTF-8 out. */
static void test_error_utf8(void)
{
	static const struct {
		const char *message;
		const char *want;
	} cases[] = {
		{ "Places answered HTTP 500 x\xff", "Places answered HTTP 500 x\xef\xbf\xbd" },
		{ "cut \xc3\xa9\xc3", "cut \xc3\xa9" },
		{ "cut \xe2\x82", "cut " },
		{ "\xed\xa0\x80!", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!" },
	};
	const char *message_path[] = { "error_message", NULL };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = 0;
		char *json = places_json_error(cases[i].message, &len);
		yajl_val tree;

		CHECK(json != NULL && utf8_valid(json, len));
		tree = json != NULL ? yajl_tree_parse(json, NULL, 0) : NULL;
		CHECK(tree != NULL);
		if (tree != NULL) {
			yajl_val v = yajl_tree_get(tree, message_path, yajl_t_string);

			CHECK_STR(v != NULL ? v->u.string : NULL, cases[i].want);
			yajl_tree_free(tree);
		}
		free(json);
	}
}

/* A legacy answer with COUNT results, as Google formats it (blank line included). */
static char *legacy_body(size_t count)
{
	size_t size = 512 + count * 512, n = 0;
	char *body = malloc(size);

	n += (size_t)snprintf(body + n, size - n,
	    "{\n   \"html_attributions\" : [],\n\n   \"next_page_token\" : \"tok\",\n"
	    "   \"results\" : [");
	for (size_t i = 0; i < count; i++)
		n += (size_t)snprintf(body + n, size - n,
		    "%s\n      {\"geometry\": {\"location\": {\"lat\": 34.0689301%zu, "
		    "\"lng\": -118.4451}}, \"name\": \"Place %zu\", \"place_id\": \"id%zu\", "
		    "\"rating\": 4.5, \"types\": [\"cafe\", \"food\"], \"open\": true, "
		    "\"price\": null, \"results\": [1, 2, 3]}", i > 0 ? "," : "", i, i, i);
	snprintf(body + n, size - n, "\n   ],\n   \"status\" : \"%s\"\n}\n",
	    count > 0 ? "OK" : "ZERO_RESULTS");
	return body;
}

/* Runs TEXT through a new filter in pieces of STEP bytes; NULL if it was refused. */
static struct places_filter *filter_run(enum places_filter_api api, size_t bound,
    const char *text, size_t step, size_t max_input)
{
	struct places_filter *f = places_filter_new(api, bound, max_input);
	size_t len = strlen(text);
	bool ok = true;

	CHECK(f != NULL);
	for (size_t i = 0; ok && i < len; i += step)
		ok = places_filter_feed(f, text + i, len - i < step ? len - i : step);
	if (ok)
		ok = places_filter_finish(f);
	if (!ok) {
		places_filter_free(f);
		return NULL;
	}
	return f;
}

/* The filtered document with BOUND results, parsed; NULL (and a failed check) if not JSON. */
static yajl_val filter_tree(struct places_filter *f, size_t bound)
{
	char errbuf[128];
	size_t len = 0;
	const char *json = places_filter_json(f, bound, &len);
	yajl_val tree;

	CHECK(json != NULL);
	if (json == NULL)
		return NULL;
	CHECK_INT(strlen(json), len);
	CHECK(strstr(json, "\n\n") == NULL);
	CHECK(len > 0 && json[len - 1] == '}' && json[0] == '{');
	tree = yajl_tree_parse(json, errbuf, sizeof(errbuf));
	CHECK(tree != NULL);
	return tree;
}

/* The string at PATH ("a", "b", NULL-terminated) of TREE, or NULL. */
static const char *tree_string(yajl_val tree, const char **path)
{
	yajl_val v = yajl_tree_get(tree, path, yajl_t_string);

	return v != NULL ? YAJL_GET_STRING(v) : NULL;
}

/* The length of the array at PATH, -1 if there is none. */
static long tree_array_len(yajl_val tree, const char **path)
{
	yajl_val v = yajl_tree_get(tree, path, yajl_t_array);

	return v != NULL ? (long)YAJL_GET_ARRAY(v)->len : -1;
}

static void test_legacy_trim(void)
{
	char *body = legacy_body(5);
	const char *results[] = { "results", NULL };
	const char *status[] = { "status", NULL };
	const char *token[] = { "next_page_token", NULL };
	const char *attributions[] = { "html_attributions", NULL };
	struct places_filter *f = filter_run(PLACES_FILTER_LEGACY, 2, body, 1 << 20, BODY_MAX);
	yajl_val tree, first, name, inner;
	const char *name_path[] = { "name", NULL };
	const char *inner_path[] = { "results", NULL };

	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK_STR(places_filter_status(f), "OK");
	CHECK_INT(places_filter_results(f), 2);
	tree = filter_tree(f, 2);
	if (tree != NULL) {
		CHECK_INT(tree_array_len(tree, results), 2);
		CHECK_INT(tree_array_len(tree, attributions), 0);
		CHECK_STR(tree_string(tree, status), "OK");
		CHECK_STR(tree_string(tree, token), "tok");
		first = YAJL_GET_ARRAY(yajl_tree_get(tree, results, yajl_t_array))->values[0];
		name = yajl_tree_get(first, name_path, yajl_t_string);
		CHECK_STR(name != NULL ? YAJL_GET_STRING(name) : NULL, "Place 0");
		/* Only the top-level "results" is trimmed. */
		inner = yajl_tree_get(first, inner_path, yajl_t_array);
		CHECK(inner != NULL && YAJL_GET_ARRAY(inner)->len == 3);
		yajl_tree_free(tree);
	}
	tree = filter_tree(f, 1);
	if (tree != NULL) {
		CHECK_INT(tree_array_len(tree, results), 1);
		CHECK_STR(tree_string(tree, status), "OK");
		yajl_tree_free(tree);
	}
	places_filter_free(f);
	free(body);
}

/* One answer fed in any pieces, trimmed later or while streaming, gives the same bytes. */
static void test_legacy_trim_equivalence(void)
{
	char *body = legacy_body(20);
	struct places_filter *all = filter_run(PLACES_FILTER_LEGACY, 20, body, 7, BODY_MAX);

	CHECK(all != NULL);
	for (size_t bound = 1; all != NULL && bound <= 20; bound++) {
		struct places_filter *one = filter_run(PLACES_FILTER_LEGACY, bound, body, 1,
		    BODY_MAX);
		size_t a_len = 0, b_len = 0;
		const char *a, *b;
		char *copy;

		CHECK(one != NULL);
		if (one == NULL)
			continue;
		a = places_filter_json(all, bound, &a_len);
		copy = a != NULL ? strndup(a, a_len) : NULL;
		b = places_filter_json(one, bound, &b_len);
		CHECK(copy != NULL && b != NULL);
		if (copy != NULL && b != NULL)
			CHECK_MEM(b, b_len, copy);
		CHECK_INT(places_filter_results(one), bound);
		free(copy);
		places_filter_free(one);
	}
	places_filter_free(all);
	free(body);
}

static void test_legacy_zero_results(void)
{
	char *body = legacy_body(0);
	struct places_filter *f = filter_run(PLACES_FILTER_LEGACY, 5, body, 3, BODY_MAX);
	const char *results[] = { "results", NULL };
	yajl_val tree;

	CHECK(f != NULL);
	if (f != NULL) {
		CHECK_STR(places_filter_status(f), "ZERO_RESULTS");
		tree = filter_tree(f, 5);
		CHECK(tree != NULL && tree_array_len(tree, results) == 0);
		yajl_tree_free(tree);
		places_filter_free(f);
	}
	free(body);
}

/* The document a filter with BOUND makes of TEXT, as a malloc'd string; NULL if refused. */
static char *filter_text(const char *text, size_t bound, size_t step)
{
	struct places_filter *f = filter_run(PLACES_FILTER_LEGACY, bound, text, step, BODY_MAX);
	const char *json;
	size_t len = 0;
	char *copy = NULL;

	if (f == NULL)
		return NULL;
	json = places_filter_json(f, bound, &len);
	if (json != NULL)
		copy = strndup(json, len);
	places_filter_free(f);
	return copy;
}

/*
 * A legacy answer is passed on as Places wrote it: its own spacing and key order, cut
 * after the last kept result, with white space around the document, blank lines and
 * carriage returns dropped, and yajl's extra white space (vertical tab, form feed) made
 * spaces.
 */
static void test_legacy_verbatim(void)
{
	static const char body[] =
	    "\r\n  {\n\n   \"html_attributions\" : [],\r\n   \"results\" : [\n"
	    "      { \"name\" : \"A\", \"n\": 1.50e+3 },\n"
	    "      {\"name\":\"B \\\"x\\\" }\"},\n"
	    "      {\"name\": \"C\"}\n"
	    "   ],\v\"status\"\f: \"OK\"\n}\n\n";
	static const char *const want[] = {
	    NULL,
	    "{\n   \"html_attributions\" : [],\n   \"results\" : [\n"
	    "      { \"name\" : \"A\", \"n\": 1.50e+3 }\n"
	    "   ], \"status\" : \"OK\"\n}",
	    "{\n   \"html_attributions\" : [],\n   \"results\" : [\n"
	    "      { \"name\" : \"A\", \"n\": 1.50e+3 },\n"
	    "      {\"name\":\"B \\\"x\\\" }\"}\n"
	    "   ], \"status\" : \"OK\"\n}",
	};
	char *got;

	for (size_t bound = 1; bound <= 2; bound++) {
		for (size_t step = 1; step <= 64; step *= 4) {
			got = filter_text(body, bound, step);
			CHECK_STR(got, want[bound]);
			free(got);
		}
	}
	/* Every result kept: all of the document. */
	got = filter_text(body, 3, 5);
	CHECK(got != NULL && strstr(got, "\"C\"}\n   ], \"status\"") != NULL);
	free(got);
	/* CRLF answers: no carriage return is left to make "\r\n\r\n" a blank line. */
	got = filter_text("{\"results\": [1,\r\n\r\n 2],\r\n\"status\": \"OK\"}\r\n", 1, 3);
	CHECK_STR(got, "{\"results\": [1],\n\"status\": \"OK\"}");
	free(got);
	/* Elements that are not objects are cut the same way. */
	got = filter_text("{\"results\": [1, [2, [3]], \"x\", null], \"status\": \"OK\"}", 2, 3);
	CHECK_STR(got, "{\"results\": [1, [2, [3]]], \"status\": \"OK\"}");
	free(got);
	/* A "results" that is not the top-level one is not cut. */
	got = filter_text("{\"a\": {\"results\": [1, 2, 3]}, \"results\": [4, 5, 6]}", 1, 2);
	CHECK_STR(got, "{\"a\": {\"results\": [1, 2, 3]}, \"results\": [4]}");
	free(got);
}

/* A filter refuses TEXT, fed in pieces of STEP bytes, for REASON. */
static void check_refused_in_pieces(enum places_filter_api api, const char *text,
    size_t max_input, size_t step, const char *reason)
{
	struct places_filter *f = places_filter_new(api, 5, max_input);
	size_t len = strlen(text);
	bool ok = true;

	for (size_t i = 0; ok && i < len; i += step)
		ok = places_filter_feed(f, text + i, len - i < step ? len - i : step);
	ok = ok && places_filter_finish(f);

	CHECK(!ok);
	if (strstr(places_filter_error(f), reason) == NULL) {
		check_failures++;
		fprintf(stderr, "refusing %.40s: \"%s\" does not say \"%s\"\n", text,
		    places_filter_error(f), reason);
	}
	CHECK(places_filter_json(f, 5, &(size_t){ 0 }) == NULL);
	CHECK_STR(places_filter_status(f), "");
	places_filter_free(f);
}

static void check_refused(enum places_filter_api api, const char *text, size_t max_input,
    const char *reason)
{
	check_refused_in_pieces(api, text, max_input, strlen(text) + 1, reason);
}

/*
 * Every byte of an answer is checked as UTF-8 (RFC 3629), wherever the pieces split it:
 * yajl's own check let overlongs, encoded surrogates and values past U+10FFFF through,
 * and a legacy reply passes the text on as it came.
 */
static void test_utf8(void)
{
	static const char *const bad[] = {
		"\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80",
		"\xf7\xbf\xbf\xbf", "\xff", "\x80", "\xc3(", "\xe2\x82(",
	};
	static const char good[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf";
	static const size_t steps[] = { 1, 2, 3, 5, 4096 };
	char text[256];

	for (int api = PLACES_FILTER_LEGACY; api <= PLACES_FILTER_NEW; api++) {
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(text, sizeof(text), "{\"%s\": [{\"id\": \"a%sb\"}]}",
			    api == PLACES_FILTER_NEW ? "places" : "results", bad[i]);
			for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++)
				check_refused_in_pieces(api, text, BODY_MAX, steps[k],
				    "not UTF-8");
		}
		check_refused(api, "{\"a\": \"\xe2\x82", BODY_MAX, "ends inside a UTF-8 sequence");
	}
	snprintf(text, sizeof(text), "{\"results\": [\"%s\"], \"status\": \"OK\"}", good);
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		char *got = filter_text(text, 5, steps[k]);

		CHECK_STR(got, text);
		free(got);
	}
}

/* The new API decodes strings: a \u escape of a lone surrogate is refused, pairs are fine. */
static void test_new_escapes(void)
{
	static const char *const lone[] = {
		"\\udc00", "\\uDFFF", "\\ud800", "\\ud800\\u0041", "\\ud800\\ud800", "\\ud800x",
		"\\ud800\\n", "\\uDBFF\\\\",
	};
	static const size_t steps[] = { 1, 2, 7, 4096 };
	const char *place_id[] = { "results", NULL };
	char text[256];
	struct places_filter *f;
	yajl_val tree, r0, v;

	for (size_t i = 0; i < sizeof(lone) / sizeof(lone[0]); i++) {
		snprintf(text, sizeof(text), "{\"places\": [{\"id\": \"a%sb\"}]}", lone[i]);
		for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++)
			check_refused_in_pieces(PLACES_FILTER_NEW, text, BODY_MAX, steps[k],
			    "lone surrogate");
	}
	/* A pair decodes to its character; an escaped backslash before "ud800" is no escape. */
	f = filter_run(PLACES_FILTER_NEW, 5, "{\"places\": [{\"id\": \"\\ud83d\\ude00 "
	    "\\\\ud800\"}]}", 3, BODY_MAX);
	CHECK(f != NULL);
	if (f == NULL)
		return;
	tree = filter_tree(f, 5);
	if (tree != NULL) {
		r0 = yajl_tree_get(tree, place_id, yajl_t_array);
		r0 = r0 != NULL && YAJL_GET_ARRAY(r0)->len > 0 ? YAJL_GET_ARRAY(r0)->values[0] :
		    NULL;
		v = r0 != NULL ? yajl_tree_get(r0, (const char *[]){ "place_id", NULL },
		    yajl_t_string) : NULL;
		CHECK_STR(v != NULL ? YAJL_GET_STRING(v) : NULL, "\xf0\x9f\x98\x80 \\ud800");
		yajl_tree_free(tree);
	}
	places_filter_free(f);
	/* Legacy answers are passed on as written: the escape stays an escape. */
	{
		char *got = filter_text("{\"results\": [\"\\ud800\"]}", 5, 2);

		CHECK_STR(got, "{\"results\": [\"\\ud800\"]}");
		free(got);
	}
}

static void test_refusals(void)
{
	char deep[200] = "{\"a\": ";
	char deep_skipped[400] = "{\"results\": [";
	size_t n;

	for (int api = PLACES_FILTER_LEGACY; api <= PLACES_FILTER_NEW; api++) {
		check_refused(api, "{\"results\": [1, 2", BODY_MAX, "not valid JSON");
		check_refused(api, "{\"results\": ]}", BODY_MAX, "not valid JSON");
		check_refused(api, "<html>500</html>", BODY_MAX, "not valid JSON");
		check_refused(api, "{\"a\": 1} {\"b\": 2}", BODY_MAX, "not valid JSON");
		check_refused(api, "{\"a\": \"\xff\xfe\"}", BODY_MAX, "not valid JSON");
		check_refused(api, "[1, 2]", BODY_MAX, "not a JSON object");
		check_refused(api, "\"OK\"", BODY_MAX, "not a JSON object");
		check_refused(api, "", BODY_MAX, "empty");
		check_refused(api, "   \n", BODY_MAX, "not valid JSON");
		check_refused(api, "{\"status\": \"OK\", \"pad\": \"0123456789\"}", 20,
		    "larger than 20 bytes");
	}
	check_refused(PLACES_FILTER_LEGACY, "{\"results\": [], \"results\": []}", BODY_MAX,
	    "two");
	check_refused(PLACES_FILTER_NEW, "{\"places\": [], \"places\": []}", BODY_MAX, "two");

	n = strlen(deep);
	for (int i = 0; i < PLACES_FILTER_DEPTH_MAX; i++)
		deep[n++] = '[';
	deep[n] = '\0';
	check_refused(PLACES_FILTER_LEGACY, deep, BODY_MAX, "nested deeper");
	check_refused(PLACES_FILTER_NEW, deep, BODY_MAX, "nested deeper");
	/* Depth counts inside skipped results too. */
	n = strlen(deep_skipped);
	for (int i = 0; i < 6; i++)
		n += (size_t)sprintf(deep_skipped + n, "%d, ", i);
	for (int i = 0; i < PLACES_FILTER_DEPTH_MAX; i++)
		deep_skipped[n++] = '[';
	deep_skipped[n] = '\0';
	check_refused(PLACES_FILTER_LEGACY, deep_skipped, BODY_MAX, "nested deeper");
	/* And inside a kept result. */
	n = strlen("{\"results\": [");
	deep_skipped[n] = '\0';
	for (int i = 0; i < PLACES_FILTER_DEPTH_MAX; i++)
		deep_skipped[n++] = '[';
	deep_skipped[n] = '\0';
	check_refused(PLACES_FILTER_LEGACY, deep_skipped, BODY_MAX, "nested deeper");
}

/* Depth up to the cap is fine, one more is not. */
static void test_depth_limit(void)
{
	char text[128] = "{\"a\": ";
	size_t n = strlen(text);
	struct places_filter *f;

	for (int i = 1; i < PLACES_FILTER_DEPTH_MAX; i++)
		text[n++] = '[';
	for (int i = 1; i < PLACES_FILTER_DEPTH_MAX; i++)
		text[n++] = ']';
	text[n++] = '}';
	text[n] = '\0';
	f = filter_run(PLACES_FILTER_LEGACY, 5, text, 5, BODY_MAX);
	CHECK(f != NULL);
	places_filter_free(f);
}

static const char new_body[] =
    "{\n  \"places\": [\n"
    "    {\"id\": \"ChIJ1\", \"displayName\": {\"text\": \"Cafe \\\"One\\\"\", "
    "\"languageCode\": \"en\"}, \"formattedAddress\": \"1 Long St, LA\", "
    "\"shortFormattedAddress\": \"1 Long St\", \"location\": {\"latitude\": "
    "34.0689301, \"longitude\": -118.4451278}, \"viewport\": {\"low\": {\"latitude\": 34.06, "
    "\"longitude\": -118.45}, \"high\": {\"latitude\": 34.07, \"longitude\": -118.44}}, "
    "\"types\": [\"cafe\", \"food\", \"point_of_interest\"], \"rating\": 4.5, "
    "\"userRatingCount\": 120, \"businessStatus\": \"OPERATIONAL\", \"priceLevel\": "
    "\"PRICE_LEVEL_MODERATE\", \"currentOpeningHours\": {\"openNow\": true, "
    "\"periods\": [{\"open\": {\"day\": 1}}]}, \"plusCode\": {\"globalCode\": "
    "\"8553324W+H2\", \"compoundCode\": \"324W+H2 LA\"}, \"photos\": [{\"name\": "
    "\"p\", \"authorAttributions\": [{\"displayName\": \"x\"}]}]},\n"
    "    {\"id\": \"ChIJ2\", \"displayName\": {\"text\": \"Two\"}, \"formattedAddress\": "
    "\"2 Long St, LA\", \"rating\": \"not a number\", \"types\": []},\n"
    "    {\"id\": \"ChIJ3\", \"displayName\": {\"text\": \"Three\"}}\n"
    "  ]\n}\n";

static void test_new_translation(void)
{
	struct places_filter *f = filter_run(PLACES_FILTER_NEW, 2, new_body, 11, BODY_MAX);
	const char *results[] = { "results", NULL };
	const char *status[] = { "status", NULL };
	const char *attributions[] = { "html_attributions", NULL };
	const char *name[] = { "name", NULL };
	const char *vicinity[] = { "vicinity", NULL };
	const char *place_id[] = { "place_id", NULL };
	const char *lat[] = { "geometry", "location", "lat", NULL };
	const char *ne_lng[] = { "geometry", "viewport", "northeast", "lng", NULL };
	const char *types[] = { "types", NULL };
	const char *rating[] = { "rating", NULL };
	const char *total[] = { "user_ratings_total", NULL };
	const char *business[] = { "business_status", NULL };
	const char *price[] = { "price_level", NULL };
	const char *open_now[] = { "opening_hours", "open_now", NULL };
	const char *global[] = { "plus_code", "global_code", NULL };
	const char *message[] = { "error_message", NULL };
	yajl_val tree, r0, r1, v;
	size_t len = 0;
	const char *json;

	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK_STR(places_filter_status(f), "OK");
	CHECK_INT(places_filter_results(f), 2);
	json = places_filter_json(f, 2, &len);
	/* Numbers keep the digits Google sent. */
	CHECK(json != NULL && strstr(json, "34.0689301") != NULL);
	CHECK(json != NULL && strstr(json, "-118.4451278") != NULL);
	tree = filter_tree(f, 2);
	if (tree == NULL) {
		places_filter_free(f);
		return;
	}
	CHECK_INT(tree_array_len(tree, results), 2);
	CHECK_INT(tree_array_len(tree, attributions), 0);
	CHECK_STR(tree_string(tree, status), "OK");
	CHECK(yajl_tree_get(tree, message, yajl_t_any) == NULL);
	r0 = YAJL_GET_ARRAY(yajl_tree_get(tree, results, yajl_t_array))->values[0];
	r1 = YAJL_GET_ARRAY(yajl_tree_get(tree, results, yajl_t_array))->values[1];
	CHECK_STR(tree_string(r0, name), "Cafe \"One\"");
	CHECK_STR(tree_string(r0, vicinity), "1 Long St");
	CHECK_STR(tree_string(r0, place_id), "ChIJ1");
	v = yajl_tree_get(r0, lat, yajl_t_number);
	CHECK(v != NULL && YAJL_GET_DOUBLE(v) > 34.0689 && YAJL_GET_DOUBLE(v) < 34.069);
	v = yajl_tree_get(r0, ne_lng, yajl_t_number);
	CHECK(v != NULL && YAJL_GET_DOUBLE(v) == -118.44);
	CHECK_INT(tree_array_len(r0, types), 3);
	v = yajl_tree_get(r0, rating, yajl_t_number);
	CHECK(v != NULL && YAJL_GET_DOUBLE(v) == 4.5);
	v = yajl_tree_get(r0, total, yajl_t_number);
	CHECK(v != NULL && YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) == 120);
	CHECK_STR(tree_string(r0, business), "OPERATIONAL");
	v = yajl_tree_get(r0, price, yajl_t_number);
	CHECK(v != NULL && YAJL_GET_INTEGER(v) == 2);
	CHECK(yajl_tree_get(r0, open_now, yajl_t_true) != NULL);
	CHECK_STR(tree_string(r0, global), "8553324W+H2");
	/* Missing fields stay out; a wrongly typed one is dropped; the address stands in. */
	CHECK_STR(tree_string(r1, name), "Two");
	CHECK_STR(tree_string(r1, vicinity), "2 Long St, LA");
	CHECK(yajl_tree_get(r1, rating, yajl_t_any) == NULL);
	CHECK(yajl_tree_get(r1, lat, yajl_t_any) == NULL);
	yajl_tree_free(tree);
	tree = filter_tree(f, 1);
	CHECK(tree != NULL && tree_array_len(tree, results) == 1);
	yajl_tree_free(tree);
	places_filter_free(f);
}

/* The status and error_message a new-API answer BODY translates to. */
/* A reset filter, whatever it held, makes what a new one makes, in its old memory. */
static void test_filter_reset(void)
{
	char *body = legacy_body(20);
	char *fresh = filter_text(body, 3, 1 << 20);
	struct places_filter *f = places_filter_new(PLACES_FILTER_NEW, 2, BODY_MAX);
	const char *json;
	size_t len = 0, memory;

	/* First a refused answer, then a whole one, then each API after the other. */
	CHECK(!places_filter_feed(f, "{\"places\": [}", 14));
	places_filter_reset(f, PLACES_FILTER_LEGACY, 20, BODY_MAX);
	CHECK(places_filter_feed(f, body, strlen(body)) && places_filter_finish(f));
	CHECK(places_filter_memory(f) >= strlen(body));
	for (int round = 0; round < 3; round++) {
		places_filter_reset(f, PLACES_FILTER_NEW, 5, BODY_MAX);
		CHECK_STR(places_filter_error(f), "");
		CHECK(places_filter_feed(f, new_body, strlen(new_body)) && places_filter_finish(f));
		CHECK_STR(places_filter_status(f), "OK");
		places_filter_reset(f, PLACES_FILTER_LEGACY, 3, BODY_MAX);
		CHECK_INT(places_filter_results(f), 0);
		CHECK_STR(places_filter_status(f), "");
		CHECK(places_filter_feed(f, body, strlen(body)) && places_filter_finish(f));
		json = places_filter_json(f, 3, &len);
		CHECK(json != NULL && fresh != NULL);
		if (json != NULL && fresh != NULL)
			CHECK_MEM(json, len, fresh);
		CHECK_INT(places_filter_results(f), 3);
		/* The memory grown in the first round serves the others. */
		if (round == 0)
			memory = places_filter_memory(f);
	}
	CHECK_INT(places_filter_memory(f), memory);
	places_filter_free(f);
	free(fresh);
	free(body);
}

static void check_new_status(const char *body, const char *want_status, const char *want_message)
{
	struct places_filter *f = filter_run(PLACES_FILTER_NEW, 5, body, 4, BODY_MAX);
	const char *status[] = { "status", NULL };
	const char *message[] = { "error_message", NULL };
	const char *results[] = { "results", NULL };
	yajl_val tree;

	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK_STR(places_filter_status(f), want_status);
	tree = filter_tree(f, 5);
	if (tree != NULL) {
		CHECK_STR(tree_string(tree, status), want_status);
		CHECK_INT(tree_array_len(tree, results), 0);
		if (want_message != NULL)
			CHECK_STR(tree_string(tree, message), want_message);
		else
			CHECK(yajl_tree_get(tree, message, yajl_t_any) == NULL);
		yajl_tree_free(tree);
	}
	places_filter_free(f);
}

static void test_new_statuses(void)
{
	check_new_status("{}", "ZERO_RESULTS", NULL);
	check_new_status("{\"places\": []}", "ZERO_RESULTS", NULL);
	check_new_status("{\"error\": {\"code\": 403, \"message\": \"Denied.\", "
	    "\"status\": \"PERMISSION_DENIED\"}}", "REQUEST_DENIED", "Denied.");
	check_new_status("{\"error\": {\"code\": 429, \"message\": \"Quota.\", "
	    "\"status\": \"RESOURCE_EXHAUSTED\"}}", "OVER_QUERY_LIMIT", "Quota.");
	check_new_status("{\"error\": {\"code\": 400, \"message\": \"Bad.\", "
	    "\"status\": \"INVALID_ARGUMENT\"}}", "INVALID_REQUEST", "Bad.");
	check_new_status("{\"error\": {\"code\": 500, \"message\": \"Oops.\", "
	    "\"status\": \"INTERNAL\"}}", "UNKNOWN_ERROR", "Oops.");
	check_new_status("{\"error\": {\"code\": 429}}", "OVER_QUERY_LIMIT",
	    "Places answered error 429");
	check_new_status("{\"error\": {\"code\": 1e400, \"status\": \"PERMISSION_DENIED\"}}",
	    "REQUEST_DENIED", "Places answered error 1e400 PERMISSION_DENIED");
	check_new_status("{\"error\": {\"status\": \"UNAUTHENTICATED\"}}", "REQUEST_DENIED",
	    "Places answered error UNAUTHENTICATED");
	check_new_status("{\"error\": {\"code\": 400, \"message\": \"before\\u0000after\"}}",
	    "INVALID_REQUEST", "before?after");
}

/* Google's message, cut to fit, still ends on a whole character. */
static void test_new_long_message(void)
{
	char body[2048], want[512];
	size_t n = (size_t)snprintf(body, sizeof(body), "{\"error\": {\"code\": 400, "
	    "\"message\": \"");
	size_t w = 0;

	for (int i = 0; i < 600; i++) {
		memcpy(body + n, "\xc3\xa9", 2);
		n += 2;
		if (w + 2 < sizeof(want)) {
			memcpy(want + w, "\xc3\xa9", 2);
			w += 2;
		}
	}
	want[w] = '\0';
	snprintf(body + n, sizeof(body) - n, "\"}}");
	check_new_status(body, "INVALID_REQUEST", want);
}

static void test_decimal(void)
{
	char out[16];

	CHECK(places_json_decimal("+034.50", out, sizeof(out)));
	CHECK_STR(out, "34.50");
	CHECK(places_json_decimal("-0.5", out, sizeof(out)));
	CHECK_STR(out, "-0.5");
	CHECK(places_json_decimal("007", out, sizeof(out)));
	CHECK_STR(out, "7");
	CHECK(places_json_decimal("0", out, sizeof(out)));
	CHECK_STR(out, "0");
	CHECK(places_json_decimal("10000", out, sizeof(out)));
	CHECK_STR(out, "10000");
	CHECK(!places_json_decimal("-", out, sizeof(out)));
	CHECK(!places_json_decimal("1.", out, sizeof(out)));
	CHECK(!places_json_decimal(".5", out, sizeof(out)));
	CHECK(!places_json_decimal("1e5", out, sizeof(out)));
	CHECK(!places_json_decimal("", out, sizeof(out)));
	CHECK(!places_json_decimal("123456789012345678", out, sizeof(out)));
}

static void test_new_request(void)
{
	size_t len = 0;
	char *body = places_json_new_request("+034.068930", "-118.445127", "1500.5", 7, &len);
	const char *max[] = { "maxResultCount", NULL };
	const char *lat[] = { "locationRestriction", "circle", "center", "latitude", NULL };
	const char *lng[] = { "locationRestriction", "circle", "center", "longitude", NULL };
	const char *radius[] = { "locationRestriction", "circle", "radius", NULL };
	char errbuf[128];
	yajl_val tree, v;

	CHECK(body != NULL);
	if (body == NULL)
		return;
	CHECK_INT(strlen(body), len);
	CHECK(strstr(body, "34.068930") != NULL && strstr(body, "034") == NULL);
	tree = yajl_tree_parse(body, errbuf, sizeof(errbuf));
	CHECK(tree != NULL);
	if (tree != NULL) {
		v = yajl_tree_get(tree, max, yajl_t_number);
		CHECK(v != NULL && YAJL_GET_INTEGER(v) == 7);
		v = yajl_tree_get(tree, lat, yajl_t_number);
		CHECK(v != NULL && YAJL_GET_DOUBLE(v) == 34.06893);
		v = yajl_tree_get(tree, lng, yajl_t_number);
		CHECK(v != NULL && YAJL_GET_DOUBLE(v) == -118.445127);
		v = yajl_tree_get(tree, radius, yajl_t_number);
		CHECK(v != NULL && YAJL_GET_DOUBLE(v) == 1500.5);
		yajl_tree_free(tree);
	}
	free(body);
	CHECK(places_json_new_request("34", "abc", "10", 5, &len) == NULL);
}

static void test_legacy_query(void)
{
	char buf[PLACES_LEGACY_QUERY_MAX];

	CHECK_INT(places_legacy_query("34.068930", "-118.445127", "10000", buf), 43);
	CHECK_STR(buf, "location=34.068930,-118.445127&radius=10000");
	CHECK(places_legacy_query("-179.123456789012", "-89.123456789012",
	    "49999.999999999999999999999", buf) > 0);
	CHECK_INT(places_legacy_query("34&key=x", "1", "1", buf), 0);
	CHECK_INT(places_legacy_query("", "1", "1", buf), 0);
	CHECK_INT(places_legacy_query("1", "+1", "1", buf), 0);
	CHECK_INT(places_legacy_query("1", "1", "1.", buf) > 0, 1);
	CHECK_INT(places_legacy_query("1", "1", ".5", buf), 0);
}

int main(void)
{
	test_collapse();
	test_error();
	test_error_utf8();
	test_legacy_trim();
	test_legacy_trim_equivalence();
	test_legacy_zero_results();
	test_legacy_verbatim();
	test_refusals();
	test_utf8();
	test_new_escapes();
	test_depth_limit();
	test_new_translation();
	test_new_statuses();
	test_new_long_message();
	test_filter_reset();
	test_decimal();
	test_new_request();
	test_legacy_query();
	return check_done("test_places_json");
}
