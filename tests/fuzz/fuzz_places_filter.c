/*
 * libFuzzer target: any bytes through the streaming Places filter, both APIs, fed in two
 * pieces, through one filter reset between inputs. Never a crash or a leak, and an
 * accepted answer keeps the filter's promises (UTF-8 by RFC 3629 among them).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "json_out.h"
#include "places_filter.h"

#define FUZZ_MAX_INPUT 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The number of top-level "results" of JSON, which must parse; -1 if it has none. */
static long results_of(const char *json)
{
	static const char *path[] = { "results", NULL };
	char errbuf[64];
	yajl_val tree = yajl_tree_parse(json, errbuf, sizeof(errbuf));
	yajl_val results;
	long n;

	if (tree == NULL)
		__builtin_trap();
	results = yajl_tree_get(tree, path, yajl_t_array);
	n = results != NULL ? (long)YAJL_GET_ARRAY(results)->len : -1;
	yajl_tree_free(tree);
	return n;
}

/* Runs DATA through one filter, cut at SPLIT, and checks every bound it can serve. */
static void fuzz_one(enum places_filter_api api, size_t bound, const uint8_t *data,
    size_t size, size_t split)
{
	/* One filter serves every input, reset in between as a node reuses its filters. */
	static struct places_filter *f;
	bool ok;

	if (f == NULL)
		f = places_filter_new(api, bound, FUZZ_MAX_INPUT);
	else
		places_filter_reset(f, api, bound, FUZZ_MAX_INPUT);
	ok = places_filter_feed(f, data, split) && places_filter_feed(f, data + split, size - split)
	    && places_filter_finish(f);
	if (ok != (places_filter_error(f)[0] == '\0'))
		__builtin_trap();
	if (ok) {
		if (places_filter_results(f) > bound)
			__builtin_trap();
		for (size_t b = 1; b <= bound; b++) {
			size_t len = 0;
			const char *json = places_filter_json(f, b, &len);
			long n;

			if (json == NULL || len == 0 || strlen(json) != len ||
			    strstr(json, "\n\n") != NULL || json[len - 1] == '\n' ||
			    !utf8_valid(json, len))
				__builtin_trap();
			n = results_of(json);
			if (n > (long)b || (api == PLACES_FILTER_NEW && n < 0))
				__builtin_trap();
		}
	} else if (places_filter_json(f, bound, &(size_t){ 0 }) != NULL) {
		__builtin_trap();
	}
}

/* The first byte picks the bound and where to cut the rest. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t bound, split;

	if (size < 1)
		return 0;
	bound = 1 + data[0] % 4;
	data++;
	size--;
	split = size > 0 ? (size_t)(data[0] * 31u) % (size + 1) : 0;
	fuzz_one(PLACES_FILTER_LEGACY, bound, data, size, split);
	fuzz_one(PLACES_FILTER_NEW, bound, data, size, split);
	return 0;
}
