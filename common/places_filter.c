/*
 * Streaming Places answers into WHATSAT JSON: a yajl callback parser drives a yajl
 * generator. Every value's position is tracked as a path ("places[].location.latitude")
 * so that the legacy copy can find the top-level "results" and "status", and the new-API
 * translation can pick the fields it maps without ever holding the whole document.
 */
#include "places_filter.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "json_out.h"
#include "places_json.h"
#include "util.h"
#include "xmalloc.h"

#define OUTPUT_FACTOR 4                   /* output cap: this many times the input cap... */
#define OUTPUT_SLACK (64 * 1024)          /* ...plus this, for the new-API skeleton */
#define PATH_TEXT_MAX 512                 /* keys are not spelled out past this length */
#define PATH_SIZE (PATH_TEXT_MAX + 4 * PLACES_FILTER_DEPTH_MAX)
#define PATH_OPAQUE '\001'                /* stands for a key no table entry can match */
#define STATUS_SIZE 64
#define MESSAGE_SIZE 512
#define PLACE_TYPES_MAX 32

/* A growable byte buffer that refuses to grow past MAX. */
struct buf {
	char *p;
	size_t len;
	size_t cap;
	size_t max;
	bool full;       /* a write was refused: it would have passed MAX */
};

/* One open container of the answer. */
struct frame {
	bool is_array;
	bool is_results;     /* the top-level "results" (legacy) or "places" (new) array */
	size_t path_len;     /* length of the container's own path */
	size_t count;        /* elements begun so far, arrays only */
};

/* Fields of a new-API place (and of its error object) that the translation keeps. */
enum field {
	F_ID,
	F_NAME,
	F_SHORT_ADDRESS,
	F_ADDRESS,
	F_LAT,
	F_LNG,
	F_LOW_LAT,
	F_LOW_LNG,
	F_HIGH_LAT,
	F_HIGH_LNG,
	F_RATING,
	F_RATING_COUNT,
	F_BUSINESS_STATUS,
	F_ICON_MASK,
	F_ICON_BACKGROUND,
	F_PRICE_LEVEL,
	F_OPEN_NOW,
	F_OPEN_NOW_REGULAR,
	F_GLOBAL_CODE,
	F_COMPOUND_CODE,
	F_TYPE,
	F_ERROR_CODE,
	F_ERROR_MESSAGE,
	F_ERROR_STATUS,
	F_COUNT,
};

enum kind {
	K_NULL,
	K_BOOL,
	K_NUMBER,
	K_STRING,
};

struct field_path {
	const char *path;
	enum field field;
	enum kind kind;
};

/* Where each kept new-API field sits in the answer, and the type it must have. */
static const struct field_path new_fields[] = {
	{ "places[].id", F_ID, K_STRING },
	{ "places[].displayName.text", F_NAME, K_STRING },
	{ "places[].shortFormattedAddress", F_SHORT_ADDRESS, K_STRING },
	{ "places[].formattedAddress", F_ADDRESS, K_STRING },
	{ "places[].location.latitude", F_LAT, K_NUMBER },
	{ "places[].location.longitude", F_LNG, K_NUMBER },
	{ "places[].viewport.low.latitude", F_LOW_LAT, K_NUMBER },
	{ "places[].viewport.low.longitude", F_LOW_LNG, K_NUMBER },
	{ "places[].viewport.high.latitude", F_HIGH_LAT, K_NUMBER },
	{ "places[].viewport.high.longitude", F_HIGH_LNG, K_NUMBER },
	{ "places[].rating", F_RATING, K_NUMBER },
	{ "places[].userRatingCount", F_RATING_COUNT, K_NUMBER },
	{ "places[].businessStatus", F_BUSINESS_STATUS, K_STRING },
	{ "places[].iconMaskBaseUri", F_ICON_MASK, K_STRING },
	{ "places[].iconBackgroundColor", F_ICON_BACKGROUND, K_STRING },
	{ "places[].priceLevel", F_PRICE_LEVEL, K_STRING },
	{ "places[].currentOpeningHours.openNow", F_OPEN_NOW, K_BOOL },
	{ "places[].regularOpeningHours.openNow", F_OPEN_NOW_REGULAR, K_BOOL },
	{ "places[].plusCode.globalCode", F_GLOBAL_CODE, K_STRING },
	{ "places[].plusCode.compoundCode", F_COMPOUND_CODE, K_STRING },
	{ "places[].types[]", F_TYPE, K_STRING },
	{ "error.code", F_ERROR_CODE, K_NUMBER },
	{ "error.message", F_ERROR_MESSAGE, K_STRING },
	{ "error.status", F_ERROR_STATUS, K_STRING },
};

/* A captured value: text in the place arena (LEN bytes at OFF), or a boolean in LEN. */
struct span {
	size_t off;
	size_t len;
	bool set;
};

struct places_filter {
	enum places_filter_api api;
	size_t bound;
	size_t max_input;
	size_t input_len;
	yajl_handle parser;
	struct json_out gen;             /* writes the document into OUT */
	struct buf out;                  /* the generator's output */
	struct buf json;                 /* the last document handed out */

	struct frame frames[PLACES_FILTER_DEPTH_MAX];
	size_t depth;
	size_t skip;                     /* open containers inside a skipped element */
	char path[PATH_SIZE];
	size_t path_len;

	bool seen_results;               /* the results (or places) array was opened */
	size_t kept;                     /* results written */
	size_t marks[PLACES_FILTER_BOUND_MAX + 1];   /* output offset before result i + 1 */
	size_t results_close;            /* output offset where "results" closes */
	bool complete;                   /* the top-level object closed */
	bool finished;
	char status[STATUS_SIZE];
	char error[MESSAGE_SIZE];

	/* New API: the place being read, and the error object. */
	struct buf arena;
	struct span fields[F_COUNT];
	struct span types[PLACE_TYPES_MAX];
	size_t ntypes;
};

/* Appends LEN bytes to B unless that would pass its cap; false if refused. */
static bool buf_add(struct buf *b, const void *data, size_t len)
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

/* Records why the answer is refused (the first reason wins); returns 0 to stop yajl. */
static int filter_fail(struct places_filter *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int filter_fail(struct places_filter *f, const char *fmt, ...)
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
static int filter_ok(struct places_filter *f)
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

	return buf_add(&f->out, s, len);
}

/* --- where we are in the answer ---------------------------------------------------- */

/* The innermost open container, or NULL at the top. */
static struct frame *frame_top(struct places_filter *f)
{
	return f->depth > 0 ? &f->frames[f->depth - 1] : NULL;
}

/* Points the path at KEY of the innermost (map) container. */
static void path_set_key(struct places_filter *f, const unsigned char *key, size_t len)
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
static bool value_begin(struct places_filter *f, bool container)
{
	struct frame *top;

	if (f->skip > 0) {
		if (container && ++f->skip + f->depth > PLACES_FILTER_DEPTH_MAX)
			filter_fail(f, "Places answer is nested deeper than %d levels",
			    PLACES_FILTER_DEPTH_MAX);
		return false;
	}
	top = frame_top(f);
	if (top != NULL && top->is_array && ++top->count > f->bound && top->is_results) {
		if (container)
			f->skip = 1;
		return false;
	}
	return true;
}

/* Opens a kept container at the current path; false when nested too deep. */
static bool frame_push(struct places_filter *f, bool is_array, const char *results_key)
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
static struct frame frame_pop(struct places_filter *f)
{
	struct frame fr = f->frames[--f->depth];

	f->path_len = fr.path_len;
	f->path[f->path_len] = '\0';
	return fr;
}

/* Copies LEN bytes of S into DST (SIZE bytes), cut if need be, NUL-terminated. */
static void copy_text(char *dst, size_t size, const char *s, size_t len)
{
	if (len >= size)
		len = size - 1;
	memcpy(dst, s, len);
	dst[len] = '\0';
}

/* --- legacy: copy the document, trimming "results" --------------------------------- */

/* After a kept value: an element of "results" just ended, so mark where. */
static void legacy_value_end(struct places_filter *f)
{
	struct frame *top = frame_top(f);

	if (top != NULL && top->is_results)
		f->marks[++f->kept] = f->out.len;
	if (f->depth == 0)
		f->complete = true;
}

/* A scalar of the legacy answer: copied, and the top-level status remembered. */
static int legacy_scalar(struct places_filter *f, enum kind kind, const char *text, size_t len,
    int boolean)
{
	if (!value_begin(f, false))
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
			copy_text(f->status, sizeof(f->status), text, len);
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
	if (!value_begin(f, true))
		return filter_ok(f);
	if (f->depth == 0 && is_array)
		return filter_fail(f, "Places answer is not a JSON object");
	if (!frame_push(f, is_array, "results"))
		return 0;
	if (is_array)
		json_array_open(&f->gen);
	else
		json_map_open(&f->gen);
	if (frame_top(f)->is_results)
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
	fr = frame_pop(f);
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
	path_set_key(f, key, len);
	json_text(&f->gen, (const char *)key, len);
	return filter_ok(f);
}

static const yajl_callbacks legacy_callbacks = {
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

/* --- new API: translate places[] into legacy results -------------------------------- */

/* The captured text of field FIELD. */
static const char *field_text(const struct places_filter *f, enum field field, size_t *len)
{
	*len = f->fields[field].len;
	return f->arena.p + f->fields[field].off;
}

static bool field_set(const struct places_filter *f, enum field field)
{
	return f->fields[field].set;
}

/* Writes "NAME": the captured string or number FIELD. */
static void gen_field(struct places_filter *f, const char *name, enum field field, bool number)
{
	size_t len;
	const char *text = field_text(f, field, &len);

	json_key(&f->gen, name);
	if (number)
		json_number(&f->gen, text, len);
	else
		json_text(&f->gen, text, len);
}

/* Writes {"lat": LAT, "lng": LNG} from two captured numbers. */
static void gen_latlng(struct places_filter *f, enum field lat, enum field lng)
{
	json_map_open(&f->gen);
	gen_field(f, "lat", lat, true);
	gen_field(f, "lng", lng, true);
	json_map_close(&f->gen);
}

/* Legacy price_level (0..4) of a new-API priceLevel, -1 when it has none. */
static int price_level(const char *text, size_t len)
{
	static const char *const levels[] = {
		"PRICE_LEVEL_FREE", "PRICE_LEVEL_INEXPENSIVE", "PRICE_LEVEL_MODERATE",
		"PRICE_LEVEL_EXPENSIVE", "PRICE_LEVEL_VERY_EXPENSIVE",
	};

	for (int i = 0; i < (int)nitems(levels); i++) {
		if (strlen(levels[i]) == len && memcmp(levels[i], text, len) == 0)
			return i;
	}
	return -1;
}

/* The "geometry" of a result, when the place had a location or a viewport. */
static void new_gen_geometry(struct places_filter *f)
{
	bool location = field_set(f, F_LAT) && field_set(f, F_LNG);
	bool viewport = field_set(f, F_LOW_LAT) && field_set(f, F_LOW_LNG) &&
	    field_set(f, F_HIGH_LAT) && field_set(f, F_HIGH_LNG);

	if (!location && !viewport)
		return;
	json_key(&f->gen, "geometry");
	json_map_open(&f->gen);
	if (location) {
		json_key(&f->gen, "location");
		gen_latlng(f, F_LAT, F_LNG);
	}
	if (viewport) {
		json_key(&f->gen, "viewport");
		json_map_open(&f->gen);
		json_key(&f->gen, "northeast");
		gen_latlng(f, F_HIGH_LAT, F_HIGH_LNG);
		json_key(&f->gen, "southwest");
		gen_latlng(f, F_LOW_LAT, F_LOW_LNG);
		json_map_close(&f->gen);
	}
	json_map_close(&f->gen);
}

/* The fields of a result that are small objects of their own in the legacy shape. */
static void new_gen_hours_and_codes(struct places_filter *f)
{
	enum field open = field_set(f, F_OPEN_NOW) ? F_OPEN_NOW : F_OPEN_NOW_REGULAR;

	if (field_set(f, open)) {
		json_key(&f->gen, "opening_hours");
		json_map_open(&f->gen);
		json_key(&f->gen, "open_now");
		json_bool(&f->gen, f->fields[open].len != 0);
		json_map_close(&f->gen);
	}
	if (field_set(f, F_ID))
		gen_field(f, "place_id", F_ID, false);
	if (field_set(f, F_GLOBAL_CODE) || field_set(f, F_COMPOUND_CODE)) {
		json_key(&f->gen, "plus_code");
		json_map_open(&f->gen);
		if (field_set(f, F_COMPOUND_CODE))
			gen_field(f, "compound_code", F_COMPOUND_CODE, false);
		if (field_set(f, F_GLOBAL_CODE))
			gen_field(f, "global_code", F_GLOBAL_CODE, false);
		json_map_close(&f->gen);
	}
}

/* Writes the place just read as one legacy result, keys in Google's legacy order. */
static void new_gen_result(struct places_filter *f)
{
	size_t len;
	const char *text;
	int level;

	json_map_open(&f->gen);
	if (field_set(f, F_BUSINESS_STATUS))
		gen_field(f, "business_status", F_BUSINESS_STATUS, false);
	new_gen_geometry(f);
	if (field_set(f, F_ICON_BACKGROUND))
		gen_field(f, "icon_background_color", F_ICON_BACKGROUND, false);
	if (field_set(f, F_ICON_MASK))
		gen_field(f, "icon_mask_base_uri", F_ICON_MASK, false);
	if (field_set(f, F_NAME))
		gen_field(f, "name", F_NAME, false);
	new_gen_hours_and_codes(f);
	if (field_set(f, F_PRICE_LEVEL)) {
		text = field_text(f, F_PRICE_LEVEL, &len);
		level = price_level(text, len);
		if (level >= 0) {
			json_key(&f->gen, "price_level");
			json_integer(&f->gen, level);
		}
	}
	if (field_set(f, F_RATING))
		gen_field(f, "rating", F_RATING, true);
	if (field_set(f, F_TYPE)) {
		json_key(&f->gen, "types");
		json_array_open(&f->gen);
		for (size_t i = 0; i < f->ntypes; i++)
			json_text(&f->gen, f->arena.p + f->types[i].off, f->types[i].len);
		json_array_close(&f->gen);
	}
	if (field_set(f, F_RATING_COUNT))
		gen_field(f, "user_ratings_total", F_RATING_COUNT, true);
	if (field_set(f, F_SHORT_ADDRESS))
		gen_field(f, "vicinity", F_SHORT_ADDRESS, false);
	else if (field_set(f, F_ADDRESS))
		gen_field(f, "vicinity", F_ADDRESS, false);
	json_map_close(&f->gen);
}

/* Forgets the previous place: a new element of "places" begins. */
static void new_place_reset(struct places_filter *f)
{
	for (int i = F_ID; i < F_ERROR_CODE; i++)
		f->fields[i].set = false;
	f->ntypes = 0;
	/* The arena also holds the error object's texts, which must survive. */
	if (!field_set(f, F_ERROR_CODE) && !field_set(f, F_ERROR_MESSAGE) &&
	    !field_set(f, F_ERROR_STATUS))
		f->arena.len = 0;
}

/* The legacy status for a google.rpc status name (or, lacking one, an HTTP code). */
static const char *new_legacy_status(const char *rpc, size_t len, long code)
{
	static const struct {
		const char *rpc;
		const char *legacy;
		long code;
	} map[] = {
		{ "INVALID_ARGUMENT", "INVALID_REQUEST", 400 },
		{ "FAILED_PRECONDITION", "INVALID_REQUEST", -1 },
		{ "OUT_OF_RANGE", "INVALID_REQUEST", -1 },
		{ "PERMISSION_DENIED", "REQUEST_DENIED", 403 },
		{ "UNAUTHENTICATED", "REQUEST_DENIED", 401 },
		{ "RESOURCE_EXHAUSTED", "OVER_QUERY_LIMIT", 429 },
	};

	for (size_t i = 0; i < nitems(map); i++) {
		if (rpc != NULL ? strlen(map[i].rpc) == len && memcmp(map[i].rpc, rpc, len) == 0 :
		    map[i].code == code)
			return map[i].legacy;
	}
	return "UNKNOWN_ERROR";
}

/* Closes "results" and writes "status" (and "error_message" for an error answer). */
static void new_gen_tail(struct places_filter *f)
{
	bool has_error = field_set(f, F_ERROR_CODE) || field_set(f, F_ERROR_MESSAGE) ||
	    field_set(f, F_ERROR_STATUS);
	const char *status = f->kept > 0 ? "OK" : "ZERO_RESULTS";
	char message[MESSAGE_SIZE] = "";
	size_t len = 0;
	const char *text;
	long code = -1;

	if (has_error) {
		if (field_set(f, F_ERROR_CODE)) {
			char number[24];

			text = field_text(f, F_ERROR_CODE, &len);
			copy_text(number, sizeof(number), text, len);
			code = strtol(number, NULL, 10);
		}
		text = field_set(f, F_ERROR_STATUS) ? field_text(f, F_ERROR_STATUS, &len) : NULL;
		status = new_legacy_status(text, len, code);
		if (field_set(f, F_ERROR_MESSAGE)) {
			text = field_text(f, F_ERROR_MESSAGE, &len);
			copy_text(message, sizeof(message), text, len);
		}
		if (message[0] == '\0')
			snprintf(message, sizeof(message), "Places answered error %ld %.*s", code,
			    field_set(f, F_ERROR_STATUS) ? (int)f->fields[F_ERROR_STATUS].len : 0,
			    field_set(f, F_ERROR_STATUS) ?
			    f->arena.p + f->fields[F_ERROR_STATUS].off : "");
	}
	f->results_close = f->out.len;
	json_array_close(&f->gen);
	json_key(&f->gen, "status");
	json_string(&f->gen, status);
	if (message[0] != '\0') {
		json_key(&f->gen, "error_message");
		json_string(&f->gen, message);
	}
	json_map_close(&f->gen);
	copy_text(f->status, sizeof(f->status), status, strlen(status));
}

/* Stores a scalar if its path is one the translation keeps. */
static void new_capture(struct places_filter *f, enum kind kind, const char *text, size_t len,
    int boolean)
{
	const struct field_path *fp = NULL;
	size_t off = f->arena.len;

	for (size_t i = 0; i < nitems(new_fields); i++) {
		if (strcmp(new_fields[i].path, f->path) == 0) {
			fp = &new_fields[i];
			break;
		}
	}
	if (fp == NULL || fp->kind != kind)
		return;
	if (kind == K_BOOL) {
		f->fields[fp->field] = (struct span){ 0, boolean != 0, true };
		return;
	}
	if (fp->field == F_TYPE && f->ntypes == PLACE_TYPES_MAX)
		return;
	if (!buf_add(&f->arena, text, len))
		return;
	if (fp->field == F_TYPE)
		f->types[f->ntypes++] = (struct span){ off, len, true };
	f->fields[fp->field] = (struct span){ off, len, true };
}

static int new_scalar(struct places_filter *f, enum kind kind, const char *text, size_t len,
    int boolean)
{
	if (!value_begin(f, false))
		return filter_ok(f);
	if (f->depth == 0)
		return filter_fail(f, "Places answer is not a JSON object");
	new_capture(f, kind, text, len, boolean);
	return filter_ok(f);
}

static int new_null(void *ctx)
{
	return new_scalar(ctx, K_NULL, NULL, 0, 0);
}

static int new_boolean(void *ctx, int value)
{
	return new_scalar(ctx, K_BOOL, NULL, 0, value);
}

static int new_number(void *ctx, const char *text, size_t len)
{
	return new_scalar(ctx, K_NUMBER, text, len, 0);
}

static int new_string(void *ctx, const unsigned char *text, size_t len)
{
	return new_scalar(ctx, K_STRING, (const char *)text, len, 0);
}

/* The top-level object opens: start the legacy document up to the "results" array. */
static void new_gen_head(struct places_filter *f)
{
	json_map_open(&f->gen);
	json_key(&f->gen, "html_attributions");
	json_array_open(&f->gen);
	json_array_close(&f->gen);
	json_key(&f->gen, "results");
	json_array_open(&f->gen);
	f->marks[0] = f->out.len;
}

static int new_start(struct places_filter *f, bool is_array)
{
	bool top = f->depth == 0;
	struct frame *parent = frame_top(f);
	bool place = !is_array && parent != NULL && parent->is_results;

	if (!value_begin(f, true))
		return filter_ok(f);
	if (top && is_array)
		return filter_fail(f, "Places answer is not a JSON object");
	if (!frame_push(f, is_array, "places"))
		return 0;
	if (top)
		new_gen_head(f);
	if (place)
		new_place_reset(f);
	return filter_ok(f);
}

static int new_end(struct places_filter *f)
{
	struct frame fr;
	struct frame *parent;

	if (f->skip > 0) {
		f->skip--;
		return filter_ok(f);
	}
	fr = frame_pop(f);
	parent = frame_top(f);
	if (!fr.is_array && parent != NULL && parent->is_results) {
		new_gen_result(f);
		f->marks[++f->kept] = f->out.len;
	}
	if (f->depth == 0) {
		new_gen_tail(f);
		f->complete = true;
	}
	return filter_ok(f);
}

static int new_start_map(void *ctx)
{
	return new_start(ctx, false);
}

static int new_start_array(void *ctx)
{
	return new_start(ctx, true);
}

static int new_end_container(void *ctx)
{
	return new_end(ctx);
}

static int new_map_key(void *ctx, const unsigned char *key, size_t len)
{
	struct places_filter *f = ctx;

	if (f->skip == 0)
		path_set_key(f, key, len);
	return filter_ok(f);
}

static const yajl_callbacks new_callbacks = {
	.yajl_null = new_null,
	.yajl_boolean = new_boolean,
	.yajl_number = new_number,
	.yajl_string = new_string,
	.yajl_start_map = new_start_map,
	.yajl_map_key = new_map_key,
	.yajl_end_map = new_end_container,
	.yajl_start_array = new_start_array,
	.yajl_end_array = new_end_container,
};

/* --- the filter ---------------------------------------------------------------------- */

struct places_filter *places_filter_new(enum places_filter_api api, size_t bound,
    size_t max_input)
{
	struct places_filter *f = xcalloc(1, sizeof(*f));

	f->api = api;
	f->bound = bound < 1 ? 1 : bound > PLACES_FILTER_BOUND_MAX ? PLACES_FILTER_BOUND_MAX :
	    bound;
	f->max_input = max_input;
	f->out.max = max_input > (SIZE_MAX - OUTPUT_SLACK) / OUTPUT_FACTOR ? SIZE_MAX / 2 :
	    max_input * OUTPUT_FACTOR + OUTPUT_SLACK;
	f->json.max = f->out.max;
	f->arena.max = max_input;
	f->parser = xcheck(yajl_alloc(api == PLACES_FILTER_NEW ? &new_callbacks :
	    &legacy_callbacks, NULL, f));
	json_out_init(&f->gen, JSON_PLACES);
	json_out_begin(&f->gen, filter_print, f);
	return f;
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

bool places_filter_feed(struct places_filter *f, const void *data, size_t len)
{
	if (f->error[0] != '\0' || f->finished)
		return false;
	if (len > f->max_input - f->input_len) {
		filter_fail(f, "Places answer is larger than %zu bytes", f->max_input);
		return false;
	}
	f->input_len += len;
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
	if (yajl_complete_parse(f->parser) != yajl_status_ok)
		return filter_parse_failed(f, NULL, 0);
	if (!f->complete) {
		filter_fail(f, "Places answer ended before its JSON did");
		return false;
	}
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

const char *places_filter_json(struct places_filter *f, size_t bound, size_t *len)
{
	if (!f->finished || f->error[0] != '\0')
		return NULL;
	f->json.len = 0;
	f->json.full = false;
	if (bound >= f->kept) {
		if (!buf_add(&f->json, f->out.p, f->out.len))
			return NULL;
	} else if (!buf_add(&f->json, f->out.p, f->marks[bound]) ||
	    !buf_add(&f->json, f->out.p + f->results_close, f->out.len - f->results_close)) {
		return NULL;
	}
	f->json.len = places_json_collapse_newlines(f->json.p, f->json.len);
	f->json.p[f->json.len] = '\0';
	*len = f->json.len;
	return f->json.p;
}
