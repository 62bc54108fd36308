/*
 * Translating a new-API Places answer ({"places": [...]} or {"error": {...}}) into the
 * legacy shape, keys in Google's legacy order, one place at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "places_stream.h"
#include "util.h"

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
	size_t len = 0, rpc_len = 0;
	const char *text, *rpc;
	char number[24] = "";
	long code = -1;

	if (has_error) {
		if (field_set(f, F_ERROR_CODE)) {
			text = field_text(f, F_ERROR_CODE, &len);
			filter_copy_text(number, sizeof(number), text, len);
			code = strtol(number, NULL, 10);
		}
		rpc = field_set(f, F_ERROR_STATUS) ? field_text(f, F_ERROR_STATUS, &rpc_len) :
		    NULL;
		status = new_legacy_status(rpc, rpc_len, code);
		if (field_set(f, F_ERROR_MESSAGE)) {
			text = field_text(f, F_ERROR_MESSAGE, &len);
			filter_copy_text(message, sizeof(message), text, len);
		}
		/* Its code as Google wrote it, and its status: "Places answered error 429". */
		if (message[0] == '\0')
			snprintf(message, sizeof(message), "Places answered error%s%s%s%.*s",
			    number[0] != '\0' ? " " : "", number, rpc_len > 0 ? " " : "",
			    (int)rpc_len, rpc != NULL ? rpc : "");
	}
	f->results_close = f->out.len;
	json_array_close(&f->gen);
	json_string_member(&f->gen, "status", status);
	if (message[0] != '\0')
		json_text_member(&f->gen, "error_message", message);
	json_map_close(&f->gen);
	filter_copy_text(f->status, sizeof(f->status), status, strlen(status));
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
	if (!filter_buf_add(&f->arena, text, len))
		return;
	if (fp->field == F_TYPE)
		f->types[f->ntypes++] = (struct span){ off, len, true };
	f->fields[fp->field] = (struct span){ off, len, true };
}

static int new_scalar(struct places_filter *f, enum kind kind, const char *text, size_t len,
    int boolean)
{
	if (!filter_value_begin(f, false))
		return filter_ok(f);
	if (f->depth == 0)
		return filter_fail(f, "Places answer is not a JSON object");
	new_capture(f, kind, text, len, boolean);
	return filter_ok(f);
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
	struct frame *parent = filter_frame_top(f);
	bool place = !is_array && parent != NULL && parent->is_results;

	if (!filter_value_begin(f, true))
		return filter_ok(f);
	if (top && is_array)
		return filter_fail(f, "Places answer is not a JSON object");
	if (!filter_frame_push(f, is_array, "places"))
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
	fr = filter_frame_pop(f);
	parent = filter_frame_top(f);
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

static int new_map_key(struct places_filter *f, const unsigned char *key, size_t len)
{
	if (f->skip == 0)
		filter_path_key(f, key, len);
	return filter_ok(f);
}

const struct filter_ops places_new_ops = {
	.scalar = new_scalar,
	.start = new_start,
	.end = new_end,
	.key = new_map_key,
};
