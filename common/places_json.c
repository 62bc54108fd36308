/* Generating WHATSAT JSON and Places request bodies with json_out. */
#include "places_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"

size_t places_json_collapse_newlines(char *text, size_t len)
{
	size_t n = 0, i = 0;

	/* Line by line: memchr finds the newlines, runs of them are skipped. */
	while (i < len) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;

		if (n > 0 && end > i)
			text[n++] = '\n';
		memmove(text + n, text + i, end - i);
		n += end - i;
		for (i = end; i < len && text[i] == '\n'; i++)
			;
	}
	return n;
}

char *places_json_error(const char *message, size_t *len)
{
	struct json_out j;
	char *out;

	json_out_init(&j, JSON_PLACES);
	json_out_begin(&j, NULL, NULL);
	json_map_open(&j);
	json_key(&j, "html_attributions");
	json_array_open(&j);
	json_array_close(&j);
	json_key(&j, "results");
	json_array_open(&j);
	json_array_close(&j);
	json_string_member(&j, "status", "UNKNOWN_ERROR");
	json_text_member(&j, "error_message", message);
	json_map_close(&j);
	out = json_out_take(&j, len);
	json_out_free(&j);
	if (out != NULL) {
		*len = places_json_collapse_newlines(out, *len);
		out[*len] = '\0';
	}
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

/* Writes "NAME": DECIMAL into J; fails the document when DECIMAL is not a number. */
static void json_decimal(struct json_out *j, const char *name, const char *decimal)
{
	char number[64];

	json_key(j, name);
	if (places_json_decimal(decimal, number, sizeof(number)))
		json_number(j, number, strlen(number));
	else
		json_out_fail(j);
}

char *places_json_new_request(const char *latitude, const char *longitude,
    const char *radius_metres, int bound, size_t *len)
{
	struct json_out j;
	char *out;

	json_out_init(&j, JSON_COMPACT);
	json_out_begin(&j, NULL, NULL);
	json_map_open(&j);
	json_key(&j, "maxResultCount");
	json_integer(&j, bound);
	json_key(&j, "locationRestriction");
	json_map_open(&j);
	json_key(&j, "circle");
	json_map_open(&j);
	json_key(&j, "center");
	json_map_open(&j);
	json_decimal(&j, "latitude", latitude);
	json_decimal(&j, "longitude", longitude);
	json_map_close(&j);
	json_decimal(&j, "radius", radius_metres);
	json_map_close(&j);
	json_map_close(&j);
	json_map_close(&j);
	out = json_out_take(&j, len);
	json_out_free(&j);
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
