/* The admin endpoint's JSON writers, streaming through one reusable yajl generator. */
#include "json_out.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "util.h"

static const char replacement_char[] = "\xef\xbf\xbd";   /* U+FFFD in UTF-8 */

/* yajl's print callback: appends generated text to the current document's buffer. */
static void json_out_print(void *ctx, const char *text, size_t len)
{
	struct json_out *j = ctx;

	if (evbuffer_add(j->sink, text, len) < 0)
		j->sink_failed = true;
}

bool json_out_init(struct json_out *j)
{
	*j = (struct json_out){ 0 };
	j->gen = yajl_gen_alloc(NULL);
	if (j->gen == NULL)
		return false;
	if (!yajl_gen_config(j->gen, yajl_gen_validate_utf8, 1) ||
	    !yajl_gen_config(j->gen, yajl_gen_print_callback, json_out_print, j)) {
		json_out_free(j);
		return false;
	}
	return true;
}

void json_out_free(struct json_out *j)
{
	if (j->gen != NULL)
		yajl_gen_free(j->gen);
	free(j->scratch);
	*j = (struct json_out){ 0 };
}

yajl_gen json_out_begin(struct json_out *j, struct evbuffer *sink)
{
	j->sink = sink;
	j->sink_failed = false;
	yajl_gen_reset(j->gen, NULL);
	return j->gen;
}

bool json_out_ok(const struct json_out *j)
{
	return !j->sink_failed;
}

/* Makes the scratch buffer hold at least SIZE bytes; it only ever grows. */
static bool json_scratch_reserve(struct json_out *j, size_t size)
{
	char *p;

	if (size <= j->scratch_size)
		return true;
	p = realloc(j->scratch, size);
	if (p == NULL)
		return false;
	j->scratch = p;
	j->scratch_size = size;
	return true;
}

bool json_map_open(yajl_gen g)
{
	return yajl_gen_map_open(g) == yajl_gen_status_ok;
}

bool json_map_close(yajl_gen g)
{
	return yajl_gen_map_close(g) == yajl_gen_status_ok;
}

bool json_array_open(yajl_gen g)
{
	return yajl_gen_array_open(g) == yajl_gen_status_ok;
}

bool json_array_close(yajl_gen g)
{
	return yajl_gen_array_close(g) == yajl_gen_status_ok;
}

bool json_null(yajl_gen g)
{
	return yajl_gen_null(g) == yajl_gen_status_ok;
}

bool json_key(yajl_gen g, const char *key)
{
	return json_string(g, key);
}

bool json_string(yajl_gen g, const char *s)
{
	return yajl_gen_string(g, (const unsigned char *)s, strlen(s)) == yajl_gen_status_ok;
}

bool json_u64(yajl_gen g, uint64_t value)
{
	char text[24];
	int n = snprintf(text, sizeof(text), "%" PRIu64, value);

	return yajl_gen_number(g, text, (size_t)n) == yajl_gen_status_ok;
}

bool json_fixed(yajl_gen g, double value, int decimals)
{
	char text[64];
	int n;

	if (!isfinite(value))
		return false;
	n = snprintf(text, sizeof(text), "%.*f", decimals, value);
	if (n <= 0 || (size_t)n >= sizeof(text))
		return false;
	return yajl_gen_number(g, text, (size_t)n) == yajl_gen_status_ok;
}

bool json_time(yajl_gen g, struct htime t)
{
	time_t sec = (time_t)t.sec;
	struct tm tm;
	char text[64];
	size_t n;

	if (gmtime_r(&sec, &tm) == NULL)
		return false;
	n = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
	if (n == 0)
		return false;
	snprintf(text + n, sizeof(text) - n, ".%06dZ", (int)(t.nsec / 1000));
	return json_string(g, text);
}

/*
 * Length of the well-formed UTF-8 sequence at the start of (P, LEN), or 0 if it is not
 * one (RFC 3629 table 3-7: overlongs, surrogates and values above U+10FFFF are not).
 */
static size_t utf8_sequence(const unsigned char *p, size_t len)
{
	unsigned char c = p[0];
	size_t need;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (len < need || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < need; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	}
	return need;
}

bool utf8_valid(const char *p, size_t len)
{
	const unsigned char *s = (const unsigned char *)p;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_sequence(s + i, len - i);

		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

/* Writes (P, LEN) with each invalid byte replaced by U+FFFD. */
static bool json_string_replaced(struct json_out *j, const char *p, size_t len)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t n = 0;

	if (len > (SIZE_MAX - 1) / 3 || !json_scratch_reserve(j, len * 3 + 1))
		return false;
	for (size_t i = 0; i < len;) {
		size_t seq = utf8_sequence(s + i, len - i);

		if (seq == 0) {
			memcpy(j->scratch + n, replacement_char, 3);
			n += 3;
			i++;
		} else {
			memcpy(j->scratch + n, p + i, seq);
			n += seq;
			i += seq;
		}
	}
	return yajl_gen_string(j->gen, (const unsigned char *)j->scratch, n) ==
	    yajl_gen_status_ok;
}

/* Writes (P, LEN) as lower-case hex digits. */
static bool json_string_hex(struct json_out *j, const char *p, size_t len)
{
	if (len > (SIZE_MAX - 1) / 2 || !json_scratch_reserve(j, len * 2 + 1))
		return false;
	hex_encode((const unsigned char *)p, len, j->scratch);
	return yajl_gen_string(j->gen, (const unsigned char *)j->scratch, len * 2) ==
	    yajl_gen_status_ok;
}

bool json_bytes_member(struct json_out *j, const char *key, const char *p, size_t len)
{
	char hex_key[64];

	if (utf8_valid(p, len)) {
		return json_key(j->gen, key) &&
		    yajl_gen_string(j->gen, (const unsigned char *)p, len) == yajl_gen_status_ok;
	}
	if ((size_t)snprintf(hex_key, sizeof(hex_key), "%s_hex", key) >= sizeof(hex_key))
		return false;
	return json_key(j->gen, key) && json_string_replaced(j, p, len) &&
	    json_key(j->gen, hex_key) && json_string_hex(j, p, len);
}

bool json_degree_member(struct json_out *j, const char *key, const char *p, size_t len)
{
	size_t i = 1, start, n = 0;

	if (len < 2 || (p[0] != '+' && p[0] != '-') || !is_digit(p[1]))
		return false;
	while (i + 1 < len && p[i] == '0' && is_digit(p[i + 1]))
		i++;
	start = i;
	while (i < len && is_digit(p[i]))
		i++;
	if (i < len) {
		if (p[i] != '.' || i + 1 == len)
			return false;
		for (i++; i < len; i++) {
			if (!is_digit(p[i]))
				return false;
		}
	}
	if (!json_scratch_reserve(j, len - start + 2))
		return false;
	if (p[0] == '-')
		j->scratch[n++] = '-';
	memcpy(j->scratch + n, p + start, len - start);
	n += len - start;
	return json_key(j->gen, key) && yajl_gen_number(j->gen, j->scratch, n) ==
	    yajl_gen_status_ok;
}
