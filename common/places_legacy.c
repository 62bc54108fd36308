/* Copying a legacy Places answer, with at most the filter's bound of "results". */
#include <string.h>

#include "places_stream.h"

/* After a kept value: an element of "results" just ended, so mark where. */
static void legacy_value_end(struct places_filter *f)
{
	struct frame *top = filter_frame_top(f);

	if (top != NULL && top->is_results)
		f->marks[++f->kept] = f->out.len;
	if (f->depth == 0)
		f->complete = true;
}

/* A scalar of the legacy answer: copied, and the top-level status remembered. */
static int legacy_scalar(struct places_filter *f, enum kind kind, const char *text, size_t len,
    int boolean)
{
	if (!filter_value_begin(f, false))
		return filter_ok(f);
	if (f->depth == 0)
		return filter_fail(f, "Places answer is not a JSON object");
	switch (kind) {
	case K_NULL:
		json_null(&f->gen);
		break;
	case K_BOOL:
		json_bool(&f->gen, boolean);
		break;
	case K_NUMBER:
		json_number(&f->gen, text, len);
		break;
	case K_STRING:
		json_text(&f->gen, text, len);
		if (strcmp(f->path, "status") == 0)
			filter_copy_text(f->status, sizeof(f->status), text, len);
		break;
	}
	legacy_value_end(f);
	return filter_ok(f);
}

static int legacy_start(struct places_filter *f, bool is_array)
{
	if (!filter_value_begin(f, true))
		return filter_ok(f);
	if (f->depth == 0 && is_array)
		return filter_fail(f, "Places answer is not a JSON object");
	if (!filter_frame_push(f, is_array, "results"))
		return 0;
	if (is_array)
		json_array_open(&f->gen);
	else
		json_map_open(&f->gen);
	if (filter_frame_top(f)->is_results)
		f->marks[0] = f->out.len;
	return filter_ok(f);
}

static int legacy_end(struct places_filter *f)
{
	struct frame fr;

	if (f->skip > 0) {
		f->skip--;
		return filter_ok(f);
	}
	fr = filter_frame_pop(f);
	if (fr.is_results)
		f->results_close = f->out.len;
	if (fr.is_array)
		json_array_close(&f->gen);
	else
		json_map_close(&f->gen);
	legacy_value_end(f);
	return filter_ok(f);
}

static int legacy_map_key(struct places_filter *f, const unsigned char *key, size_t len)
{
	if (f->skip > 0)
		return filter_ok(f);
	filter_path_key(f, key, len);
	json_text(&f->gen, (const char *)key, len);
	return filter_ok(f);
}

const struct filter_ops places_legacy_ops = {
	.scalar = legacy_scalar,
	.start = legacy_start,
	.end = legacy_end,
	.key = legacy_map_key,
};
