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

static int legacy_null(void *ctx)
{
	return legacy_scalar(ctx, K_NULL, NULL, 0, 0);
}

static int legacy_boolean(void *ctx, int value)
{
	return legacy_scalar(ctx, K_BOOL, NULL, 0, value);
}

static int legacy_number(void *ctx, const char *text, size_t len)
{
	return legacy_scalar(ctx, K_NUMBER, text, len, 0);
}

static int legacy_string(void *ctx, const unsigned char *text, size_t len)
{
	return legacy_scalar(ctx, K_STRING, (const char *)text, len, 0);
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

static int legacy_start_map(void *ctx)
{
	return legacy_start(ctx, false);
}

static int legacy_start_array(void *ctx)
{
	return legacy_start(ctx, true);
}

static int legacy_end_container(void *ctx)
{
	return legacy_end(ctx);
}

static int legacy_map_key(void *ctx, const unsigned char *key, size_t len)
{
	struct places_filter *f = ctx;

	if (f->skip > 0)
		return filter_ok(f);
	filter_path_key(f, key, len);
	json_text(&f->gen, (const char *)key, len);
	return filter_ok(f);
}

const yajl_callbacks places_legacy_callbacks = {
	.yajl_null = legacy_null,
	.yajl_boolean = legacy_boolean,
	.yajl_number = legacy_number,
	.yajl_string = legacy_string,
	.yajl_start_map = legacy_start_map,
	.yajl_map_key = legacy_map_key,
	.yajl_end_map = legacy_end_container,
	.yajl_start_array = legacy_start_array,
	.yajl_end_array = legacy_end_container,
};
