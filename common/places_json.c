/* Generating WHATSAT JSON with yajl_gen. */
#include "places_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

/* Adds a string to G; yajl_gen_status is sticky, so callers check once at the end. */
static yajl_gen_status gen_string(yajl_gen g, const char *s)
{
	return yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

/* A generator formatted like Google's answers: beautified with three-space indents. */
static yajl_gen gen_new(void)
{
	yajl_gen g = yajl_gen_alloc(NULL);

	if (g == NULL)
		return NULL;
	yajl_gen_config(g, yajl_gen_beautify, 1);
	yajl_gen_config(g, yajl_gen_indent_string, "   ");
	return g;
}

size_t places_json_collapse_newlines(char *text, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		if (text[i] == '\n' && (n == 0 || text[n - 1] == '\n'))
			continue;
		text[n++] = text[i];
	}
	while (n > 0 && text[n - 1] == '\n')
		n--;
	return n;
}

/* Copies G's output, newlines collapsed, into a malloc'd string. */
static char *gen_finish(yajl_gen g, size_t *len)
{
	const unsigned char *buf;
	size_t n;
	char *out = NULL;

	if (yajl_gen_get_buf(g, &buf, &n) != yajl_gen_status_ok)
		return NULL;
	out = malloc(n + 1);
	if (out != NULL) {
		memcpy(out, buf, n);
		n = places_json_collapse_newlines(out, n);
		out[n] = '\0';
		*len = n;
	}
	return out;
}

char *places_json_error(const char *message, size_t *len)
{
	yajl_gen g = gen_new();
	int failed = 0;
	char *out;

	if (g == NULL)
		return NULL;
	failed |= yajl_gen_map_open(g);
	failed |= gen_string(g, "html_attributions");
	failed |= yajl_gen_array_open(g);
	failed |= yajl_gen_array_close(g);
	failed |= gen_string(g, "results");
	failed |= yajl_gen_array_open(g);
	failed |= yajl_gen_array_close(g);
	failed |= gen_string(g, "status");
	failed |= gen_string(g, "UNKNOWN_ERROR");
	failed |= gen_string(g, "error_message");
	failed |= gen_string(g, message);
	failed |= yajl_gen_map_close(g);
	out = failed ? NULL : gen_finish(g, len);
	yajl_gen_free(g);
	return out;
}

bool places_json_decimal(const char *text, char *out, size_t size)
{
	const char *p = text;
	size_t n = 0, digits = 0;

	if (*p == '-') {
		if (size < 2)
			return false;
		out[n++] = '-';
		p++;
	} else if (*p == '+') {
		p++;
	}
	while (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
		p++;
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (n + 1 >= size)
			return false;
		out[n++] = *p;
	}
	if (digits == 0)
		return false;
	if (*p == '.') {
		if (n + 1 >= size)
			return false;
		out[n++] = *p++;
		for (digits = 0; *p >= '0' && *p <= '9'; p++, digits++) {
			if (n + 1 >= size)
				return false;
			out[n++] = *p;
		}
		if (digits == 0)
			return false;
	}
	if (*p != '\0' || n >= size)
		return false;
	out[n] = '\0';
	return true;
}

/* Writes "NAME": DECIMAL into G; false when DECIMAL is not a decimal number. */
static bool gen_decimal(yajl_gen g, const char *name, const char *decimal)
{
	char number[64];

	if (!places_json_decimal(decimal, number, sizeof(number)))
		return false;
	return gen_string(g, name) == yajl_gen_status_ok &&
	    yajl_gen_number(g, number, strlen(number)) == yajl_gen_status_ok;
}

char *places_json_new_request(const char *latitude, const char *longitude,
    const char *radius_metres, int bound, size_t *len)
{
	yajl_gen g = yajl_gen_alloc(NULL);
	const unsigned char *buf;
	size_t n;
	bool ok;
	char *out = NULL;

	if (g == NULL)
		return NULL;
	ok = yajl_gen_map_open(g) == yajl_gen_status_ok &&
	    gen_string(g, "maxResultCount") == yajl_gen_status_ok &&
	    yajl_gen_integer(g, bound) == yajl_gen_status_ok &&
	    gen_string(g, "locationRestriction") == yajl_gen_status_ok &&
	    yajl_gen_map_open(g) == yajl_gen_status_ok &&
	    gen_string(g, "circle") == yajl_gen_status_ok &&
	    yajl_gen_map_open(g) == yajl_gen_status_ok &&
	    gen_string(g, "center") == yajl_gen_status_ok &&
	    yajl_gen_map_open(g) == yajl_gen_status_ok &&
	    gen_decimal(g, "latitude", latitude) &&
	    gen_decimal(g, "longitude", longitude) &&
	    yajl_gen_map_close(g) == yajl_gen_status_ok &&
	    gen_decimal(g, "radius", radius_metres) &&
	    yajl_gen_map_close(g) == yajl_gen_status_ok &&
	    yajl_gen_map_close(g) == yajl_gen_status_ok &&
	    yajl_gen_map_close(g) == yajl_gen_status_ok &&
	    yajl_gen_get_buf(g, &buf, &n) == yajl_gen_status_ok;
	if (ok)
		out = malloc(n + 1);
	if (out != NULL) {
		memcpy(out, buf, n);
		out[n] = '\0';
		*len = n;
	}
	yajl_gen_free(g);
	return out;
}

/* True for [-]DIGITS[.DIGITS]: nothing a URL query would need to escape. */
static bool plain_decimal(const char *s)
{
	size_t i = *s == '-' ? 1 : 0, digits = 0;

	for (; s[i] >= '0' && s[i] <= '9'; i++)
		digits++;
	if (s[i] == '.') {
		for (i++; s[i] >= '0' && s[i] <= '9'; i++)
			;
	}
	return digits > 0 && s[i] == '\0';
}

size_t places_legacy_query(const char *latitude, const char *longitude,
    const char *radius_metres, char buf[PLACES_LEGACY_QUERY_MAX])
{
	int n;

	if (!plain_decimal(latitude) || !plain_decimal(longitude) || !plain_decimal(radius_metres))
		return 0;
	n = snprintf(buf, PLACES_LEGACY_QUERY_MAX, "location=%s,%s&radius=%s", latitude,
	    longitude, radius_metres);
	return n > 0 && n < PLACES_LEGACY_QUERY_MAX ? (size_t)n : 0;
}
