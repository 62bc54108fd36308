/* Generating WHATSAT JSON with yajl_gen. */
#include "places_json.h"

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
