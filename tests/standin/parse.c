/*
 * Input interpretation, free of I/O: request parameters and bodies, the
 * field mask, the /_control body, and key redaction.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <yajl/yajl_tree.h>

#include "standin.h"

static const struct status_info statuses[] = {
	{ "ZERO_RESULTS", NULL, 200, NULL, NULL },
	{ "REQUEST_DENIED", "The provided API key is invalid.", 403,
	    "PERMISSION_DENIED", "Permission denied on the API key." },
	{ "OVER_QUERY_LIMIT",
	    "You have exceeded your daily request quota for this API.", 429,
	    "RESOURCE_EXHAUSTED", "Quota exceeded for this API." },
	{ "INVALID_REQUEST", "Invalid request.", 400, "INVALID_ARGUMENT",
	    "Invalid request." },
};

static const char *const mode_names[] = {
	[FAULT_OK] = "ok",
	[FAULT_HTTP500] = "http500",
	[FAULT_SLOW] = "slow",
	[FAULT_TRUNCATED] = "truncated",
	[FAULT_INVALID] = "invalid",
	[FAULT_CLOSE] = "close",
	[FAULT_STATUS] = "status",
};

/* A finite decimal number; unless end_ok is given it must fill `text`.
 * 0 on success. */
static int
parse_double(const char *text, const char **end_ok, double *out)
{
	char *end;

	if (text == NULL)
		return -1;
	errno = 0;
	*out = strtod(text, &end);
	if (end == text || errno != 0 || !isfinite(*out))
		return -1;
	if (end_ok != NULL)
		*end_ok = end;
	else if (*end != '\0')
		return -1;
	return 0;
}

static bool
location_in_range(double lat, double lng)
{
	return fabs(lat) <= 90.0 && fabs(lng) <= 180.0;
}

static bool
radius_in_range(double radius)
{
	return radius > 0.0 && radius <= RADIUS_MAX_METRES;
}

static void
search_init(struct search *out)
{
	memset(out, 0, sizeof(*out));
	out->max_results = -1;
}

/* Fills only what parses, so /_stats shows a half-valid request too. */
void
parse_legacy_search(const char *location, const char *radius,
    struct search *out)
{
	const char *comma;

	search_init(out);
	if (parse_double(location, &comma, &out->lat) == 0 && *comma == ',' &&
	    parse_double(comma + 1, NULL, &out->lng) == 0 &&
	    location_in_range(out->lat, out->lng))
		out->has_location = true;
	out->has_radius = parse_double(radius, NULL, &out->radius) == 0 &&
	    radius_in_range(out->radius);

	if (location == NULL)
		out->error = "Invalid request. Missing the 'location' parameter.";
	else if (!out->has_location)
		out->error = "Invalid request. Invalid 'location' parameter.";
	else if (radius == NULL)
		out->error = "Invalid request. Missing the 'radius' parameter.";
	else if (!out->has_radius)
		out->error = "Invalid request. Invalid 'radius' parameter.";
}

/* yajl's tree parser has no depth limit and frees recursively: refuse
 * deep documents before parsing. */
static bool
json_depth_within(const char *text, size_t len, int limit)
{
	int depth = 0;
	bool in_string = false;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = text[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '{' || c == '[') {
			if (++depth > limit)
				return false;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return true;
}

static bool
tree_double(yajl_val root, const char **path, double *out)
{
	yajl_val v = yajl_tree_get(root, path, yajl_t_number);

	if (v == NULL || !YAJL_IS_DOUBLE(v) || !isfinite(YAJL_GET_DOUBLE(v)))
		return false;
	*out = YAJL_GET_DOUBLE(v);
	return true;
}

static const char *
new_search_fields(yajl_val root, struct search *out)
{
	static const char *lat_path[] = { "locationRestriction", "circle",
	    "center", "latitude", NULL };
	static const char *lng_path[] = { "locationRestriction", "circle",
	    "center", "longitude", NULL };
	static const char *radius_path[] = { "locationRestriction", "circle",
	    "radius", NULL };
	static const char *max_path[] = { "maxResultCount", NULL };
	yajl_val max;

	if (!YAJL_IS_OBJECT(root))
		return "Invalid JSON payload received. Expected an object.";
	out->has_location = tree_double(root, lat_path, &out->lat) &&
	    tree_double(root, lng_path, &out->lng) &&
	    location_in_range(out->lat, out->lng);
	out->has_radius = tree_double(root, radius_path, &out->radius) &&
	    radius_in_range(out->radius);

	max = yajl_tree_get(root, max_path, yajl_t_any);
	if (max != NULL) {
		if (!YAJL_IS_INTEGER(max) || YAJL_GET_INTEGER(max) < 1 ||
		    YAJL_GET_INTEGER(max) > NEW_API_MAX_RESULTS)
			return "max_result_count must be between 1 and 20.";
		out->max_results = (long)YAJL_GET_INTEGER(max);
	}
	if (!out->has_location)
		return "location_restriction.circle.center is missing or invalid.";
	if (!out->has_radius)
		return "location_restriction.circle.radius must be greater than "
		    "0 and at most 50000.";
	return NULL;
}

void
parse_new_search(const char *body, size_t len, struct search *out)
{
	char errbuf[128];
	yajl_val root;

	search_init(out);
	if (!json_depth_within(body, len, JSON_DEPTH_MAX)) {
		out->error = "Invalid JSON payload received. Nesting too deep.";
		return;
	}
	root = yajl_tree_parse(body, errbuf, sizeof(errbuf));
	if (root == NULL) {
		out->error = "Invalid JSON payload received.";
		return;
	}
	out->error = new_search_fields(root, out);
	yajl_tree_free(root);
}

/* Does the X-Goog-FieldMask ask for places.<field>? Like Google, a mask
 * entry may name the field, a part of it, or everything. */
bool
field_mask_allows(const char *mask, const char *field)
{
	size_t flen = strlen(field);
	const char *p = mask;

	while (*p != '\0') {
		size_t len;
		const char *entry;

		p += strspn(p, " \t,");
		entry = p;
		len = strcspn(p, ",");
		p += len;
		while (len > 0 && isspace((unsigned char)entry[len - 1]))
			len--;
		if ((len == 1 && entry[0] == '*') ||
		    (len == 6 && strncmp(entry, "places", 6) == 0) ||
		    (len == 8 && strncmp(entry, "places.*", 8) == 0))
			return true;
		if (len >= 7 + flen && strncmp(entry, "places.", 7) == 0 &&
		    strncmp(entry + 7, field, flen) == 0 &&
		    (len == 7 + flen || entry[7 + flen] == '.'))
			return true;
	}
	return false;
}

void
fault_defaults(struct fault *out)
{
	out->mode = FAULT_OK;
	out->slow_seconds = 0;
	out->status = NULL;
	out->count = PLACES_DEFAULT;
	out->close_next = 0;
}

const char *
fault_mode_name(enum fault_mode mode)
{
	return mode_names[mode];
}

/* A decimal integer in [0, max], the whole of `text`; -1 when not. */
static long
parse_bounded(const char *text, long max)
{
	char *end;
	long value;

	if (!isdigit((unsigned char)*text))
		return -1;
	errno = 0;
	value = strtol(text, &end, 10);
	if (*end != '\0' || errno != 0 || value > max)
		return -1;
	return value;
}

static const struct status_info *
status_lookup(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (strcmp(statuses[i].name, name) == 0)
			return &statuses[i];
	return NULL;
}

/* MODE is a mode name, or slow=SECONDS, or status=NAME. */
static const char *
fault_parse_mode(char *value, struct fault *out)
{
	char *arg = strchr(value, '=');
	size_t i;
	long seconds;

	if (arg != NULL)
		*arg++ = '\0';
	for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
		if (strcmp(value, mode_names[i]) == 0)
			break;
	if (i == sizeof(mode_names) / sizeof(mode_names[0]))
		return "unknown mode";
	out->mode = (enum fault_mode)i;
	if (out->mode == FAULT_SLOW) {
		seconds = arg == NULL ? -1 : parse_bounded(arg, SLOW_SECONDS_MAX);
		if (seconds < 0)
			return "slow needs =SECONDS, 0 to 600";
		out->slow_seconds = (unsigned)seconds;
	} else if (out->mode == FAULT_STATUS) {
		out->status = arg == NULL ? NULL : status_lookup(arg);
		if (out->status == NULL)
			return "status needs =ZERO_RESULTS, REQUEST_DENIED, "
			    "OVER_QUERY_LIMIT or INVALID_REQUEST";
	} else if (arg != NULL) {
		return "this mode takes no argument";
	}
	return NULL;
}

static const char *
fault_parse_pair(char *pair, struct fault *out)
{
	char *value = strchr(pair, '=');
	long count;

	if (value == NULL)
		return "expected name=value";
	*value++ = '\0';
	if (strcmp(pair, "mode") == 0)
		return fault_parse_mode(value, out);
	if (strcmp(pair, "close_next") == 0) {
		count = parse_bounded(value, 1000);
		if (count < 0)
			return "close_next must be 0 to 1000";
		out->close_next = (unsigned)count;
		return NULL;
	}
	if (strcmp(pair, "count") == 0) {
		count = parse_bounded(value, PLACES_MAX);
		if (count < 0)
			return "count must be 0 to 60";
		out->count = (size_t)count;
		return NULL;
	}
	return "unknown setting (mode, count, close_next)";
}

/*
 * The /_control body: settings "name=value" separated by '&' or white
 * space. Every body starts from the defaults, so an empty one resets.
 * Returns NULL, or what is wrong; `out` is only changed on success.
 */
const char *
fault_parse(const char *body, struct fault *out)
{
	struct fault next;
	char *copy, *cursor, *pair;
	const char *error = NULL;

	if ((copy = strdup(body)) == NULL)
		standin_fatalx("out of memory");
	fault_defaults(&next);
	cursor = copy;
	while (error == NULL && (pair = strsep(&cursor, "& \t\r\n")) != NULL)
		if (*pair != '\0')
			error = fault_parse_pair(pair, &next);
	free(copy);
	if (error == NULL)
		*out = next;
	return error;
}

/* Copy a query string with the value of every key= parameter hidden. */
void
redact_query(const char *query, struct evbuffer *out)
{
	const char *p = query;

	while (*p != '\0') {
		size_t len = strcspn(p, "&");

		if (len >= 4 && strncmp(p, "key=", 4) == 0)
			evbuffer_add(out, "key=REDACTED", 12);
		else
			evbuffer_add(out, p, len);
		p += len;
		if (*p == '&')
			evbuffer_add(out, p++, 1);
	}
}

/* A NUL-terminated copy in printable ASCII, safe to log and to put in JSON. */
char *
printable_copy(const char *text)
{
	char *copy = strdup(text);
	char *p;

	if (copy == NULL)
		standin_fatalx("out of memory");
	for (p = copy; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	return copy;
}
