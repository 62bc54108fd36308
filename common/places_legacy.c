/*
 * A legacy Places answer, kept as it came with at most the filter's bound of "results".
 * The answer is already in the shape a WHATSAT reply has, so it is not written again:
 * its bytes are kept in the filter's output buffer as they arrive, the parser's events
 * say where the top-level object and each element of "results" end, and the reply is
 * the text up to the last kept result joined to the text after the last result.
 *
 * Only the first three levels matter (the object, its members, the elements of
 * "results"); below them the parser's events are only counted, in f->skip, as they
 * are inside an element past the bound. Most of an answer is down there.
 */
#include <string.h>

#include "places_stream.h"

/* The results array is the innermost open container: a value now is one of its elements. */
static bool in_results(struct places_filter *f)
{
	return f->depth == 2 && f->frames[1].is_results;
}

/* Counts the element of "results" that begins; false if it is past the bound. */
static bool results_element_kept(struct places_filter *f)
{
	return ++f->frames[1].count <= f->bound;
}

/* An element of "results" ended here; KEPT if it is one of the first BOUND. */
static void results_element_end(struct places_filter *f, bool kept)
{
	size_t pos = filter_input_pos(f);

	if (kept)
		f->marks[++f->kept] = pos;
	f->results_close = pos;
}

static int legacy_scalar(struct places_filter *f, enum kind kind, const char *text, size_t len,
    int boolean)
{
	(void)boolean;
	if (f->skip > 0 || f->depth > 2)
		return 1;
	if (f->depth == 0)
		return filter_fail(f, "Places answer is not a JSON object");
	if (in_results(f))
		results_element_end(f, results_element_kept(f));
	else if (kind == K_STRING && f->depth == 1 && strcmp(f->path, "status") == 0)
		filter_copy_text(f->status, sizeof(f->status), text, len);
	return 1;
}

static int legacy_start(struct places_filter *f, bool is_array)
{
	size_t pos;

	if (f->skip > 0 || f->depth > 2 || (in_results(f) && !results_element_kept(f))) {
		if (f->skip + f->depth >= PLACES_FILTER_DEPTH_MAX)
			return filter_fail(f, "Places answer is nested deeper than %d levels",
			    PLACES_FILTER_DEPTH_MAX);
		f->skip++;
		return 1;
	}
	pos = filter_input_pos(f);
	if (f->depth == 0) {
		if (is_array)
			return filter_fail(f, "Places answer is not a JSON object");
		f->doc_start = pos - 1;     /* the '{' just lexed */
	}
	if (!filter_frame_push(f, is_array, "results"))
		return 0;
	if (filter_frame_top(f)->is_results) {
		f->marks[0] = pos;
		f->results_close = pos;
	}
	return 1;
}

static int legacy_end(struct places_filter *f)
{
	if (f->skip > 0) {
		if (--f->skip == 0 && in_results(f))
			results_element_end(f, false);
		return 1;
	}
	filter_frame_pop(f);
	if (in_results(f))
		results_element_end(f, true);
	if (f->depth == 0) {
		f->complete = true;
		f->doc_end = filter_input_pos(f);
	}
	return 1;
}

static int legacy_map_key(struct places_filter *f, const unsigned char *key, size_t len)
{
	if (f->skip == 0 && f->depth == 1)
		filter_path_key(f, key, len);
	return 1;
}

const struct filter_ops places_legacy_ops = {
	.scalar = legacy_scalar,
	.start = legacy_start,
	.end = legacy_end,
	.key = legacy_map_key,
};
