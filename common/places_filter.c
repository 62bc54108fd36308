/*
 * Streaming Places answers into WHATSAT JSON: a yajl callback parser drives a yajl
 * generator. Every value's position is tracked as a path ("places[].location.latitude")
 * so that the legacy copy (places_legacy.c) can find the top-level "results" and
 * "status", and the new-API translation (places_new.c) can pick the fields it maps
 * without ever holding the whole document. This file: the buffers, the path, and the
 * calls of places_filter.h.
 */
#include "places_filter.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "places_json.h"
#include "places_stream.h"
#include "util.h"
#include "xmalloc.h"

#define OUTPUT_FACTOR 4                   /* output cap: this many times the input cap... */
#define OUTPUT_SLACK (64 * 1024)          /* ...plus this, for the new-API skeleton */

/* Appends LEN bytes to B unless that would pass its cap; false if refused. */
bool filter_buf_add(struct buf *b, const void *data, size_t len)
{
	if (b->full)
		return false;
	if (len > b->max - b->len) {
		b->full = true;
		return false;
	}
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap > 0 ? b->cap : 1024;

		while (cap < b->len + len + 1)
			cap *= 2;
		b->p = xreallocarray(b->p, cap, 1);
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return true;
}

int filter_fail(struct places_filter *f, const char *fmt, ...)
{
	va_list ap;

	if (f->error[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(f->error, sizeof(f->error), fmt, ap);
		va_end(ap);
	}
	return 0;
}

/* What a callback returns: 1 to go on, 0 once anything went wrong. */
int filter_ok(struct places_filter *f)
{
	if (f->error[0] != '\0')
		return 0;
	if (f->out.full)
		return filter_fail(f, "Places answer is too large to reformat (over %zu bytes)",
		    f->out.max);
	if (f->arena.full)
		return filter_fail(f, "Places answer holds more than %zu bytes of text",
		    f->arena.max);
	if (!json_out_ok(&f->gen))
		return filter_fail(f, "cannot reformat the Places answer (%s)",
		    json_out_error(&f->gen));
	return 1;
}

/* The generator's sink: the output buffer, capped. */
static bool filter_print(void *arg, const char *s, size_t len)
{
	struct places_filter *f = arg;

	return filter_buf_add(&f->out, s, len);
}

size_t filter_input_pos(const struct places_filter *f)
{
	size_t pos = f->chunk_base + yajl_get_bytes_consumed(f->parser);

	return pos < f->out.len ? pos : f->out.len;
}

/* --- where we are in the answer ---------------------------------------------------- */

/* The innermost open container, or NULL at the top. */
struct frame *filter_frame_top(struct places_filter *f)
{
	return f->depth > 0 ? &f->frames[f->depth - 1] : NULL;
}

/* Points the path at KEY of the innermost (map) container. */
void filter_path_key(struct places_filter *f, const unsigned char *key, size_t len)
{
	size_t n = f->frames[f->depth - 1].path_len;
	bool plain = n + 1 + len <= PATH_TEXT_MAX && memchr(key, '.', len) == NULL &&
	    memchr(key, '[', len) == NULL && memchr(key, '\0', len) == NULL;

	if (n > 0)
		f->path[n++] = '.';
	if (plain) {
		memcpy(f->path + n, key, len);
		n += len;
	} else {
		f->path[n++] = PATH_OPAQUE;
	}
	f->path[n] = '\0';
	f->path_len = n;
}

/*
 * Called as any value starts: counts array elements and decides whether the value is
 * kept. Elements of the results array past the bound are skipped whole.
 */
bool filter_value_begin(struct places_filter *f, bool container)
{
	struct frame *top;

	if (f->skip > 0) {
		if (container && ++f->skip + f->depth > PLACES_FILTER_DEPTH_MAX)
			filter_fail(f, "Places answer is nested deeper than %d levels",
			    PLACES_FILTER_DEPTH_MAX);
		return false;
	}
	top = filter_frame_top(f);
	if (top != NULL && top->is_array && ++top->count > f->bound && top->is_results) {
		if (container)
			f->skip = 1;
		return false;
	}
	return true;
}

/* Opens a kept container at the current path; false when nested too deep. */
bool filter_frame_push(struct places_filter *f, bool is_array, const char *results_key)
{
	struct frame *fr;

	if (f->depth + f->skip >= PLACES_FILTER_DEPTH_MAX) {
		filter_fail(f, "Places answer is nested deeper than %d levels",
		    PLACES_FILTER_DEPTH_MAX);
		return false;
	}
	fr = &f->frames[f->depth++];
	fr->is_array = is_array;
	fr->is_results = is_array && f->depth == 2 && strcmp(f->path, results_key) == 0;
	if (fr->is_results) {
		/* Duplicate keys have no agreed meaning, and a second array would pass the bound. */
		if (f->seen_results) {
			filter_fail(f, "Places answer has two \"%s\" arrays", results_key);
			return false;
		}
		f->seen_results = true;
	}
	fr->path_len = f->path_len;
	fr->count = 0;
	if (is_array) {
		memcpy(f->path + f->path_len, "[]", 3);
		f->path_len += 2;
	}
	return true;
}

/* Closes the innermost container; the path goes back to the container's own. */
struct frame filter_frame_pop(struct places_filter *f)
{
	struct frame fr = f->frames[--f->depth];

	f->path_len = fr.path_len;
	f->path[f->path_len] = '\0';
	return fr;
}

/*
 * Copies LEN bytes of S into DST (SIZE bytes), cut if need be, NUL-terminated; a NUL in
 * S (an escaped \u0000) becomes '?', as yajl writes what it cannot decode.
 */
void filter_copy_text(char *dst, size_t size, const char *s, size_t len)
{
	if (len >= size)
		len = size - 1;
	for (size_t i = 0; i < len; i++)
		dst[i] = s[i] != '\0' ? s[i] : '?';
	dst[len] = '\0';
}

/* --- yajl's callbacks, handed to the API's ops ------------------------------------ */

static int filter_null(void *ctx)
{
	struct places_filter *f = ctx;

	return f->ops->scalar(f, K_NULL, NULL, 0, 0);
}

static int filter_boolean(void *ctx, int value)
{
	struct places_filter *f = ctx;

	return f->ops->scalar(f, K_BOOL, NULL, 0, value);
}

static int filter_number(void *ctx, const char *text, size_t len)
{
	struct places_filter *f = ctx;

	return f->ops->scalar(f, K_NUMBER, text, len, 0);
}

static int filter_string(void *ctx, const unsigned char *text, size_t len)
{
	struct places_filter *f = ctx;

	return f->ops->scalar(f, K_STRING, (const char *)text, len, 0);
}

static int filter_start_map(void *ctx)
{
	struct places_filter *f = ctx;

	return f->ops->start(f, false);
}

static int filter_start_array(void *ctx)
{
	struct places_filter *f = ctx;

	return f->ops->start(f, true);
}

static int filter_end(void *ctx)
{
	struct places_filter *f = ctx;

	return f->ops->end(f);
}

static int filter_map_key(void *ctx, const unsigned char *key, size_t len)
{
	struct places_filter *f = ctx;

	return f->ops->key(f, key, len);
}

static const yajl_callbacks filter_callbacks = {
	.yajl_null = filter_null,
	.yajl_boolean = filter_boolean,
	.yajl_number = filter_number,
	.yajl_string = filter_string,
	.yajl_start_map = filter_start_map,
	.yajl_map_key = filter_map_key,
	.yajl_end_map = filter_end,
	.yajl_start_array = filter_start_array,
	.yajl_end_array = filter_end,
};

/* --- the filter ---------------------------------------------------------------------- */

/* Sets up F, zeroed but for the memory of its buffers, as a new filter. */
static void filter_setup(struct places_filter *f, enum places_filter_api api, size_t bound,
    size_t max_input)
{
	f->api = api;
	f->bound = bound < 1 ? 1 : bound > PLACES_FILTER_BOUND_MAX ? PLACES_FILTER_BOUND_MAX :
	    bound;
	f->max_input = max_input;
	f->out.max = max_input > (SIZE_MAX - OUTPUT_SLACK) / OUTPUT_FACTOR ? SIZE_MAX / 2 :
	    max_input * OUTPUT_FACTOR + OUTPUT_SLACK;
	f->json.max = f->out.max;
	f->arena.max = max_input;
	f->ops = api == PLACES_FILTER_NEW ? &places_new_ops : &places_legacy_ops;
	f->parser = xcheck(yajl_alloc(&filter_callbacks, NULL, f));
	/* filter_check_utf8 checks every byte, and more strictly. */
	yajl_config(f->parser, yajl_dont_validate_strings, 1);
	if (api == PLACES_FILTER_NEW) {
		if (f->gen.gen == NULL)
			json_out_init(&f->gen, JSON_PLACES);
		json_out_begin(&f->gen, filter_print, f);
	}
}

struct places_filter *places_filter_new(enum places_filter_api api, size_t bound,
    size_t max_input)
{
	struct places_filter *f = xcalloc(1, sizeof(*f));

	filter_setup(f, api, bound, max_input);
	return f;
}

/* An empty buffer that keeps B's memory. */
static struct buf buf_emptied(const struct buf *b)
{
	return (struct buf){ .p = b->p, .cap = b->cap };
}

void places_filter_reset(struct places_filter *f, enum places_filter_api api, size_t bound,
    size_t max_input)
{
	struct buf out = buf_emptied(&f->out), json = buf_emptied(&f->json);
	struct buf arena = buf_emptied(&f->arena);
	struct json_out gen = f->gen;

	yajl_free(f->parser);
	*f = (struct places_filter){ .out = out, .json = json, .arena = arena, .gen = gen };
	filter_setup(f, api, bound, max_input);
}

size_t places_filter_memory(const struct places_filter *f)
{
	return f->out.cap + f->json.cap + f->arena.cap;
}

void places_filter_free(struct places_filter *f)
{
	if (f == NULL)
		return;
	if (f->parser != NULL)
		yajl_free(f->parser);
	json_out_free(&f->gen);
	free(f->out.p);
	free(f->json.p);
	free(f->arena.p);
	free(f);
}

/* Turns a yajl parse failure into the filter's error, unless a callback set one. */
static bool filter_parse_failed(struct places_filter *f, const unsigned char *data, size_t len)
{
	unsigned char *why;
	size_t n;

	if (f->error[0] != '\0')
		return false;
	why = yajl_get_error(f->parser, 0, data, len);
	if (why == NULL) {
		filter_fail(f, "Places answer is not valid JSON");
		return false;
	}
	n = strlen((const char *)why);
	while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == ' '))
		n--;
	filter_fail(f, "Places answer is not valid JSON (%.*s)", (int)n, (const char *)why);
	yajl_free_error(f->parser, why);
	return false;
}

/*
 * Checks the answer's bytes as UTF-8 as they come: yajl's own check lets overlongs,
 * encoded surrogates and values past U+10FFFF through, and a reply is passed on as it
 * came. A sequence may go on in the next piece.
 */
static bool filter_check_utf8(struct places_filter *f, const char *p, size_t len)
{
	size_t i = 0, n;
	bool cut;

	while (f->utf8_len > 0 && i < len) {
		f->utf8_part[f->utf8_len++] = p[i++];
		n = utf8_prefix(f->utf8_part, f->utf8_len, &cut);
		if (n == f->utf8_len)
			f->utf8_len = 0;
		else if (!cut)
			return filter_fail(f, "Places answer is not valid JSON (byte 0x%02x at "
			    "%zu is not UTF-8)", (unsigned char)f->utf8_part[0],
			    f->input_len + i - f->utf8_len);
	}
	if (f->utf8_len > 0)
		return true;
	n = i + utf8_prefix(p + i, len - i, &cut);
	if (n < len && !cut)
		return filter_fail(f, "Places answer is not valid JSON (byte 0x%02x at %zu is not "
		    "UTF-8)", (unsigned char)p[n], f->input_len + n);
	memcpy(f->utf8_part, p + n, len - n);
	f->utf8_len = len - n;
	return true;
}

enum { ESC_TEXT, ESC_BACKSLASH, ESC_HEX };

/*
 * New API: the translation writes strings as yajl decoded them, and yajl decodes the
 * \u escape of a lone surrogate as '?' or as a wrong character (it pairs a high one
 * with whatever escape follows), so those escapes are refused as the text streams by.
 * In JSON a backslash is only ever the start of an escape in a string.
 */
static bool filter_check_escapes(struct places_filter *f, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		const char *next;
		bool high, low;
		int digit;

		switch (f->esc_state) {
		case ESC_TEXT:
			if (p[i] != '\\' && f->esc_want_low)
				break;
			next = memchr(p + i, '\\', len - i);
			if (next == NULL)
				return true;
			i = (size_t)(next - p);
			f->esc_state = ESC_BACKSLASH;
			continue;
		case ESC_BACKSLASH:
			if (p[i] != 'u' && f->esc_want_low)
				break;
			f->esc_state = p[i] == 'u' ? ESC_HEX : ESC_TEXT;
			f->esc_value = 0;
			continue;
		default:     /* ESC_HEX + the digits read so far */
			digit = hex_value(p[i]);
			if (digit < 0) {
				f->esc_state = ESC_TEXT;     /* not JSON: yajl refuses it */
				continue;
			}
			f->esc_value = f->esc_value << 4 | (unsigned)digit;
			if (++f->esc_state < ESC_HEX + 4)
				continue;
			f->esc_state = ESC_TEXT;
			high = f->esc_value >= 0xd800 && f->esc_value <= 0xdbff;
			low = f->esc_value >= 0xdc00 && f->esc_value <= 0xdfff;
			if (low != f->esc_want_low)
				break;
			f->esc_want_low = high;
			continue;
		}
		return filter_fail(f, "Places answer has a \\u escape of a lone surrogate (at "
		    "byte %zu)", f->input_len + i);
	}
	return true;
}

bool places_filter_feed(struct places_filter *f, const void *data, size_t len)
{
	if (f->error[0] != '\0' || f->finished)
		return false;
	if (len > f->max_input - f->input_len) {
		filter_fail(f, "Places answer is larger than %zu bytes", f->max_input);
		return false;
	}
	if (!filter_check_utf8(f, data, len) ||
	    (f->api == PLACES_FILTER_NEW && !filter_check_escapes(f, data, len)))
		return false;
	f->input_len += len;
	if (f->api == PLACES_FILTER_LEGACY) {
		f->chunk_base = f->out.len;
		if (!filter_buf_add(&f->out, data, len))
			return filter_ok(f) != 0;
		if (memchr(data, '\v', len) != NULL || memchr(data, '\f', len) != NULL ||
		    memchr(data, '\r', len) != NULL)
			f->odd_space = true;
	}
	if (yajl_parse(f->parser, data, len) != yajl_status_ok)
		return filter_parse_failed(f, data, len);
	return true;
}

bool places_filter_finish(struct places_filter *f)
{
	if (f->error[0] != '\0' || f->finished)
		return f->error[0] == '\0';
	f->finished = true;
	if (f->input_len == 0) {
		filter_fail(f, "Places answer is empty");
		return false;
	}
	if (f->utf8_len > 0) {
		filter_fail(f, "Places answer is not valid JSON (it ends inside a UTF-8 "
		    "sequence)");
		return false;
	}
	f->chunk_base = f->out.len;     /* yajl ends by parsing a space of its own */
	if (yajl_complete_parse(f->parser) != yajl_status_ok)
		return filter_parse_failed(f, NULL, 0);
	if (!f->complete) {
		filter_fail(f, "Places answer ended before its JSON did");
		return false;
	}
	if (f->api == PLACES_FILTER_NEW)
		f->doc_end = f->out.len;
	return filter_ok(f) != 0;
}

const char *places_filter_error(const struct places_filter *f)
{
	return f->error;
}

const char *places_filter_status(const struct places_filter *f)
{
	return f->finished && f->error[0] == '\0' ? f->status : "";
}

size_t places_filter_results(const struct places_filter *f)
{
	return f->kept;
}

/*
 * White space a reply should not have, in valid JSON only ever between tokens: carriage
 * returns go (a client that takes CR for white space would see "\r\n\r\n" as the end of
 * the reply), vertical tabs and form feeds, which yajl accepts, become spaces. In place;
 * returns the new length.
 */
static size_t filter_plain_space(char *text, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\r')
			continue;
		text[n++] = text[i] == '\v' || text[i] == '\f' ? ' ' : text[i];
	}
	return n;
}

const char *places_filter_json(struct places_filter *f, size_t bound, size_t *len)
{
	if (!f->finished || f->error[0] != '\0')
		return NULL;
	f->json.len = 0;
	f->json.full = false;
	if (bound > f->kept)
		bound = f->kept;
	if (!f->seen_results) {
		if (!filter_buf_add(&f->json, f->out.p + f->doc_start, f->doc_end - f->doc_start))
			return NULL;
	} else if (!filter_buf_add(&f->json, f->out.p + f->doc_start,
	    f->marks[bound] - f->doc_start) ||
	    !filter_buf_add(&f->json, f->out.p + f->results_close,
	    f->doc_end - f->results_close)) {
		return NULL;
	}
	if (f->odd_space)
		f->json.len = filter_plain_space(f->json.p, f->json.len);
	f->json.len = places_json_collapse_newlines(f->json.p, f->json.len);
	f->json.p[f->json.len] = '\0';
	*len = f->json.len;
	return f->json.p;
}
