/*
 * Every JSON document the stand-in sends, generated with yajl_gen straight
 * into an evbuffer. The legacy API is indented by three spaces and the new
 * one by two, as Google's servers do.
 */
#include <string.h>

#include <event2/buffer.h>
#include <yajl/yajl_gen.h>

#include "standin.h"

#define LEGACY_INDENT "   "
#define NEW_INDENT "  "
#define ICON_URL "https://maps.gstatic.com/mapfiles/place_api/icons/v1/png_71/"

/* A generator whose first failure sticks, checked once in json_end():
 * yajl's own sticky state still lets yajl_gen_get_buf() succeed. */
struct json {
	yajl_gen gen;
	yajl_gen_status status;
};

static void
json_print(void *ctx, const char *str, size_t len)
{
	if (evbuffer_add(ctx, str, len) != 0)
		standin_fatalx("out of memory");
}

static void
json_begin(struct json *j, struct evbuffer *out, const char *indent)
{
	if ((j->gen = yajl_gen_alloc(NULL)) == NULL)
		standin_fatalx("out of memory");
	yajl_gen_config(j->gen, yajl_gen_beautify, 1);
	yajl_gen_config(j->gen, yajl_gen_indent_string, indent);
	yajl_gen_config(j->gen, yajl_gen_print_callback, json_print, out);
	j->status = yajl_gen_status_ok;
}

/* Every string we generate is printable ASCII and every document is
 * balanced, so a failure here is a broken invariant. */
static void
json_end(struct json *j)
{
	yajl_gen_free(j->gen);
	if (j->status != yajl_gen_status_ok)
		standin_fatalx("yajl_gen failed");
}

static void
json_check(struct json *j, yajl_gen_status status)
{
	if (j->status == yajl_gen_status_ok)
		j->status = status;
}

static void
json_open(struct json *j)
{
	json_check(j, yajl_gen_map_open(j->gen));
}

static void
json_close(struct json *j)
{
	json_check(j, yajl_gen_map_close(j->gen));
}

static void
json_array_open(struct json *j)
{
	json_check(j, yajl_gen_array_open(j->gen));
}

static void
json_array_close(struct json *j)
{
	json_check(j, yajl_gen_array_close(j->gen));
}

static void
json_string(struct json *j, const char *s)
{
	json_check(j, yajl_gen_string(j->gen, (const unsigned char *)s,
	    strlen(s)));
}

static void
json_integer(struct json *j, long long value)
{
	json_check(j, yajl_gen_integer(j->gen, value));
}

static void
json_bool(struct json *j, bool value)
{
	json_check(j, yajl_gen_bool(j->gen, value));
}

static void
json_null(struct json *j)
{
	json_check(j, yajl_gen_null(j->gen));
}

static void
json_formatted(struct json *j, const char *text)
{
	json_check(j, yajl_gen_number(j->gen, text, strlen(text)));
}

/* Degrees as Google writes them: at most seven decimals, no trailing 0. */
static void
json_degrees(struct json *j, double degrees)
{
	char text[32];
	size_t len = (size_t)snprintf(text, sizeof(text), "%.7f", degrees);

	while (len > 1 && text[len - 1] == '0')
		len--;
	if (text[len - 1] == '.')
		len--;
	text[len] = '\0';
	json_formatted(j, text);
}

static void
json_rating(struct json *j, double rating)
{
	char text[16];

	snprintf(text, sizeof(text), "%.1f", rating);
	json_formatted(j, text);
}

/* A number given by a client, shown back close to how it was written. */
static void
json_echo_number(struct json *j, double value)
{
	char text[40];

	snprintf(text, sizeof(text), "%.15g", value);
	json_formatted(j, text);
}

static void
json_string_or_null(struct json *j, const char *s)
{
	if (s != NULL)
		json_string(j, s);
	else
		json_null(j);
}

static void
legacy_latlng(struct json *j, double lat, double lng)
{
	json_open(j);
	json_string(j, "lat");
	json_degrees(j, lat);
	json_string(j, "lng");
	json_degrees(j, lng);
	json_close(j);
}

static void
legacy_geometry(struct json *j, const struct place *p)
{
	json_open(j);
	json_string(j, "location");
	legacy_latlng(j, p->lat, p->lng);
	json_string(j, "viewport");
	json_open(j);
	json_string(j, "northeast");
	legacy_latlng(j, p->north, p->east);
	json_string(j, "southwest");
	legacy_latlng(j, p->south, p->west);
	json_close(j);
	json_close(j);
}

static void
place_types(struct json *j, const struct place *p)
{
	size_t i;

	json_array_open(j);
	for (i = 0; i < sizeof(p->kind->types) / sizeof(p->kind->types[0]) &&
	    p->kind->types[i] != NULL; i++)
		json_string(j, p->kind->types[i]);
	json_array_close(j);
}

static void
legacy_result(struct json *j, const struct place *p)
{
	char icon[128];

	snprintf(icon, sizeof(icon), ICON_URL "%s-71.png", p->kind->icon);
	json_open(j);
	json_string(j, "business_status");
	json_string(j, "OPERATIONAL");
	json_string(j, "geometry");
	legacy_geometry(j, p);
	json_string(j, "icon");
	json_string(j, icon);
	json_string(j, "name");
	json_string(j, p->name);
	json_string(j, "place_id");
	json_string(j, p->id);
	json_string(j, "rating");
	json_rating(j, p->rating);
	json_string(j, "reference");
	json_string(j, p->id);
	json_string(j, "scope");
	json_string(j, "GOOGLE");
	json_string(j, "types");
	place_types(j, p);
	json_string(j, "user_ratings_total");
	json_integer(j, p->rating_count);
	json_string(j, "vicinity");
	json_string(j, p->vicinity);
	json_close(j);
}

void
render_legacy_places(struct evbuffer *out, const struct place *places,
    size_t count)
{
	struct json j;
	size_t i;

	if (count == 0) {
		render_legacy_status(out, "ZERO_RESULTS", NULL);
		return;
	}
	json_begin(&j, out, LEGACY_INDENT);
	json_open(&j);
	json_string(&j, "html_attributions");
	json_array_open(&j);
	json_array_close(&j);
	json_string(&j, "results");
	json_array_open(&j);
	for (i = 0; i < count; i++)
		legacy_result(&j, &places[i]);
	json_array_close(&j);
	json_string(&j, "status");
	json_string(&j, "OK");
	json_close(&j);
	json_end(&j);
}

void
render_legacy_status(struct evbuffer *out, const char *status,
    const char *error_message)
{
	struct json j;

	json_begin(&j, out, LEGACY_INDENT);
	json_open(&j);
	if (error_message != NULL) {
		json_string(&j, "error_message");
		json_string(&j, error_message);
	}
	json_string(&j, "html_attributions");
	json_array_open(&j);
	json_array_close(&j);
	json_string(&j, "results");
	json_array_open(&j);
	json_array_close(&j);
	json_string(&j, "status");
	json_string(&j, status);
	json_close(&j);
	json_end(&j);
}

static void
new_latlng(struct json *j, double lat, double lng)
{
	json_open(j);
	json_string(j, "latitude");
	json_degrees(j, lat);
	json_string(j, "longitude");
	json_degrees(j, lng);
	json_close(j);
}

static void
new_display_name(struct json *j, const struct place *p)
{
	json_open(j);
	json_string(j, "text");
	json_string(j, p->name);
	json_string(j, "languageCode");
	json_string(j, "en");
	json_close(j);
}

static void
new_viewport(struct json *j, const struct place *p)
{
	json_open(j);
	json_string(j, "low");
	new_latlng(j, p->south, p->west);
	json_string(j, "high");
	new_latlng(j, p->north, p->east);
	json_close(j);
}

/* One place with the fields the mask asks for, as Google filters them. */
static void
new_place(struct json *j, const struct place *p, const char *mask)
{
	json_open(j);
	if (field_mask_allows(mask, "id")) {
		json_string(j, "id");
		json_string(j, p->id);
	}
	if (field_mask_allows(mask, "displayName")) {
		json_string(j, "displayName");
		new_display_name(j, p);
	}
	if (field_mask_allows(mask, "formattedAddress")) {
		json_string(j, "formattedAddress");
		json_string(j, p->address);
	}
	if (field_mask_allows(mask, "shortFormattedAddress")) {
		json_string(j, "shortFormattedAddress");
		json_string(j, p->vicinity);
	}
	if (field_mask_allows(mask, "location")) {
		json_string(j, "location");
		new_latlng(j, p->lat, p->lng);
	}
	if (field_mask_allows(mask, "types")) {
		json_string(j, "types");
		place_types(j, p);
	}
	if (field_mask_allows(mask, "rating")) {
		json_string(j, "rating");
		json_rating(j, p->rating);
	}
	if (field_mask_allows(mask, "userRatingCount")) {
		json_string(j, "userRatingCount");
		json_integer(j, p->rating_count);
	}
	if (field_mask_allows(mask, "businessStatus")) {
		json_string(j, "businessStatus");
		json_string(j, "OPERATIONAL");
	}
	if (field_mask_allows(mask, "viewport")) {
		json_string(j, "viewport");
		new_viewport(j, p);
	}
	json_close(j);
}

/* Google leaves "places" out altogether when nothing is found. */
void
render_new_places(struct evbuffer *out, const struct place *places,
    size_t count, const char *field_mask)
{
	struct json j;
	size_t i;

	json_begin(&j, out, NEW_INDENT);
	json_open(&j);
	if (count > 0) {
		json_string(&j, "places");
		json_array_open(&j);
		for (i = 0; i < count; i++)
			new_place(&j, &places[i], field_mask);
		json_array_close(&j);
	}
	json_close(&j);
	json_end(&j);
}

/* Google's error document: {"error": {"code", "message", "status"}}. */
void
render_error(struct evbuffer *out, int code, const char *status,
    const char *message)
{
	struct json j;

	json_begin(&j, out, NEW_INDENT);
	json_open(&j);
	json_string(&j, "error");
	json_open(&j);
	json_string(&j, "code");
	json_integer(&j, code);
	json_string(&j, "message");
	json_string(&j, message);
	json_string(&j, "status");
	json_string(&j, status);
	json_close(&j);
	json_close(&j);
	json_end(&j);
}

static void
stats_location(struct json *j, const struct search *s)
{
	if (!s->has_location) {
		json_null(j);
		return;
	}
	json_open(j);
	json_string(j, "lat");
	json_echo_number(j, s->lat);
	json_string(j, "lng");
	json_echo_number(j, s->lng);
	json_close(j);
}

static void
stats_last(struct json *j, const struct last_request *last)
{
	json_open(j);
	json_string(j, "method");
	json_string(j, last->method);
	json_string(j, "path");
	json_string(j, last->path);
	json_string(j, "query");
	json_string_or_null(j, last->query);
	json_string(j, "radius");
	if (last->search.has_radius)
		json_echo_number(j, last->search.radius);
	else
		json_null(j);
	json_string(j, "location");
	stats_location(j, &last->search);
	json_string(j, "maxResultCount");
	if (last->search.max_results >= 0)
		json_integer(j, last->search.max_results);
	else
		json_null(j);
	json_string(j, "api_key_present");
	json_bool(j, last->key != KEY_MISSING);
	json_string(j, "api_key_valid");
	json_bool(j, last->key == KEY_OK);
	json_string(j, "field_mask");
	json_string_or_null(j, last->field_mask);
	json_close(j);
}

void
render_stats(struct evbuffer *out, const struct stats *stats)
{
	struct json j;

	json_begin(&j, out, NEW_INDENT);
	json_open(&j);
	json_string(&j, "requests");
	json_integer(&j, (long long)stats->requests);
	json_string(&j, "connections");
	json_integer(&j, (long long)stats->connections);
	json_string(&j, "handshakes");
	json_open(&j);
	json_string(&j, "full");
	json_integer(&j, (long long)stats->handshakes_full);
	json_string(&j, "resumed");
	json_integer(&j, (long long)stats->handshakes_resumed);
	json_close(&j);
	json_string(&j, "last");
	if (stats->have_last)
		stats_last(&j, &stats->last);
	else
		json_null(&j);
	json_close(&j);
	json_end(&j);
}

void
render_fault(struct evbuffer *out, const struct fault *fault)
{
	struct json j;

	json_begin(&j, out, NEW_INDENT);
	json_open(&j);
	json_string(&j, "mode");
	json_string(&j, fault_mode_name(fault->mode));
	json_string(&j, "slow_seconds");
	json_integer(&j, fault->slow_seconds);
	json_string(&j, "status");
	json_string_or_null(&j, fault->status != NULL ? fault->status->name :
	    NULL);
	json_string(&j, "count");
	json_integer(&j, (long long)fault->count);
	json_string(&j, "close_next");
	json_integer(&j, (long long)fault->close_next);
	json_close(&j);
	json_end(&j);
}
