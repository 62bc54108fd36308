/* JSON writers over one reusable yajl generator, with one sticky failure per document. */
#include "json_out.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"
#include "xmalloc.h"

#define PLACES_INDENT "   "          /* Google's legacy answers use three spaces */

static const char replacement_char[] = "\xef\xbf\xbd";   /* U+FFFD in UTF-8 */

/* Grows *P (of *SIZE bytes) to hold at least NEED; it only ever grows. */
static void reserve(char **p, size_t *size, size_t need)
{
	size_t n = *size > 0 ? *size : 256;

	if (need <= *size)
		return;
	while (n < need)
		n = n > SIZE_MAX / 2 ? need : n * 2;
	*p = xreallocarray(*p, n, 1);
	*size = n;
}

/* yajl's print callback: hands generated text to the document's sink. */
static void json_out_print(void *ctx, const char *text, size_t len)
{
	struct json_out *j = ctx;

	if (j->fault != JSON_FAULT_NONE)
		return;
	if (j->sink == NULL) {
		reserve(&j->own, &j->own_size, j->own_len + len + 1);
		memcpy(j->own + j->own_len, text, len);
		j->own_len += len;
	} else if (!j->sink(j->sink_arg, text, len)) {
		j->fault = JSON_FAULT_SINK;
	}
}

void json_out_init(struct json_out *j, enum json_style style)
{
	*j = (struct json_out){ 0 };
	j->gen = xcheck(yajl_gen_alloc(NULL));
	yajl_gen_config(j->gen, yajl_gen_print_callback, json_out_print, j);
	if (style == JSON_COMPACT)
		yajl_gen_config(j->gen, yajl_gen_validate_utf8, 1);
	if (style == JSON_PLACES) {
		yajl_gen_config(j->gen, yajl_gen_beautify, 1);
		yajl_gen_config(j->gen, yajl_gen_indent_string, PLACES_INDENT);
	}
}

void json_out_free(struct json_out *j)
{
	if (j->gen != NULL)
		yajl_gen_free(j->gen);
	free(j->own);
	free(j->scratch);
	*j = (struct json_out){ 0 };
}

void json_out_begin(struct json_out *j, json_sink *sink, void *arg)
{
	j->sink = sink;
	j->sink_arg = arg;
	j->fault = JSON_FAULT_NONE;
	j->yajl_status = yajl_gen_status_ok;
	j->own_len = 0;
	yajl_gen_reset(j->gen, NULL);
}

bool json_out_ok(const struct json_out *j)
{
	return j->fault == JSON_FAULT_NONE;
}

const char *json_out_error(const struct json_out *j)
{
	static const char *const yajl_errors[] = {
		[yajl_gen_keys_must_be_strings] = "a key that is not a string",
		[yajl_max_depth_exceeded] = "nested too deep",
		[yajl_gen_in_error_state] = "generator in error state",
		[yajl_gen_generation_complete] = "text after the document",
		[yajl_gen_invalid_number] = "an invalid number",
		[yajl_gen_no_buf] = "no buffer",
		[yajl_gen_invalid_string] = "a string that is not UTF-8",
	};

	switch (j->fault) {
	case JSON_FAULT_NONE:
		return "";
	case JSON_FAULT_VALUE:
		return "a value with no JSON form";
	case JSON_FAULT_SINK:
		return "the output was refused";
	case JSON_FAULT_YAJL:
		break;
	}
	if ((size_t)j->yajl_status < nitems(yajl_errors) && yajl_errors[j->yajl_status] != NULL)
		return yajl_errors[j->yajl_status];
	return "yajl_gen error";
}

char *json_out_take(struct json_out *j, size_t *len)
{
	char *text;

	if (j->sink != NULL || !json_out_ok(j))
		return NULL;
	text = xmalloc(j->own_len + 1);
	memcpy(text, j->own, j->own_len);
	text[j->own_len] = '\0';
	*len = j->own_len;
	return text;
}

/* Keeps the first failure of the document. */
static void check(struct json_out *j, yajl_gen_status status)
{
	if (status != yajl_gen_status_ok && j->fault == JSON_FAULT_NONE) {
		j->fault = JSON_FAULT_YAJL;
		j->yajl_status = status;
	}
}

void json_out_fail(struct json_out *j)
{
	if (j->fault == JSON_FAULT_NONE)
		j->fault = JSON_FAULT_VALUE;
}

void json_map_open(struct json_out *j)
{
	if (json_out_ok(j))
		check(j, yajl_gen_map_open(j->gen));
}

void json_map_close(struct json_out *j)
{
	if (json_out_ok(j))
		check(j, yajl_gen_map_close(j->gen));
}

void json_array_open(struct json_out *j)
{
	if (json_out_ok(j))
		check(j, yajl_gen_array_open(j->gen));
}

void json_array_close(struct json_out *j)
{
	if (json_out_ok(j))
		check(j, yajl_gen_array_close(j->gen));
}

void json_null(struct json_out *j)
{
	if (json_out_ok(j))
		check(j, yajl_gen_null(j->gen));
}

void json_bool(struct json_out *j, bool value)
{
	if (json_out_ok(j))
		check(j, yajl_gen_bool(j->gen, value));
}

void json_key(struct json_out *j, const char *key)
{
	json_text(j, key, strlen(key));
}

void json_string(struct json_out *j, const char *s)
{
	json_text(j, s, strlen(s));
}

void json_text(struct json_out *j, const char *p, size_t len)
{
	if (json_out_ok(j))
		check(j, yajl_gen_string(j->gen, (const unsigned char *)p, len));
}

void json_number(struct json_out *j, const char *text, size_t len)
{
	if (json_out_ok(j))
		check(j, yajl_gen_number(j->gen, text, len));
}

void json_integer(struct json_out *j, long long value)
{
	if (json_out_ok(j))
		check(j, yajl_gen_integer(j->gen, value));
}

void json_u64(struct json_out *j, uint64_t value)
{
	char text[24];
	int n = snprintf(text, sizeof(text), "%" PRIu64, value);

	json_number(j, text, (size_t)n);
}

void json_fixed(struct json_out *j, double value, int decimals)
{
	char text[64];
	int n;

	if (!isfinite(value)) {
		json_out_fail(j);
		return;
	}
	n = snprintf(text, sizeof(text), "%.*f", decimals, value);
	if (n <= 0 || (size_t)n >= sizeof(text)) {
		json_out_fail(j);
		return;
	}
	json_number(j, text, (size_t)n);
}

void json_time(struct json_out *j, struct htime t)
{
	time_t sec = (time_t)t.sec;
	struct tm tm;
	char text[64];
	size_t n;

	if (gmtime_r(&sec, &tm) == NULL ||
	    (n = strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
		json_out_fail(j);
		return;
	}
	snprintf(text + n, sizeof(text) - n, ".%06dZ", (int)(t.nsec / 1000));
	json_string(j, text);
}

#define UTF8_CUT SIZE_MAX   /* utf8_sequence: the sequence goes on past the end */

/*
 * Length of the well-formed UTF-8 sequence at the start of (P, LEN), 0 if it is not one
 * (RFC 3629 table 3-7: overlongs, surrogates and values above U+10FFFF are not), or
 * UTF8_CUT if LEN ends inside what would be one.
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
	for (size_t i = 1; i < need; i++) {
		if (i == len)
			return UTF8_CUT;
		if (p[i] < lo || p[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return need;
}

size_t utf8_prefix(const char *p, size_t len, bool *cut)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t i = 0;

	*cut = false;
	while (i < len) {
		uint64_t word;
		size_t n;

		/* Eight bytes of ASCII at a time: most of any text is. */
		if (len - i >= sizeof(word)) {
			memcpy(&word, s + i, sizeof(word));
			if ((word & UINT64_C(0x8080808080808080)) == 0) {
				i += sizeof(word);
				continue;
			}
		}
		n = utf8_sequence(s + i, len - i);
		if (n == 0 || n == UTF8_CUT) {
			*cut = n == UTF8_CUT;
			return i;
		}
		i += n;
	}
	return len;
}

bool utf8_valid(const char *p, size_t len)
{
	bool cut;

	return utf8_prefix(p, len, &cut) == len;
}

void json_string_member(struct json_out *j, const char *key, const char *s)
{
	json_key(j, key);
	json_string(j, s);
}

void json_u64_member(struct json_out *j, const char *key, uint64_t value)
{
	json_key(j, key);
	json_u64(j, value);
}

/* Writes (P, LEN) with each invalid byte replaced by U+FFFD. */
static void json_string_replaced(struct json_out *j, const char *p, size_t len)
{
	const unsigned char *s = (const unsigned char *)p;
	size_t n = 0;

	reserve(&j->scratch, &j->scratch_size, len > SIZE_MAX / 3 ? SIZE_MAX : len * 3);
	for (size_t i = 0; i < len;) {
		size_t seq = utf8_sequence(s + i, len - i);

		if (seq == 0 || seq == UTF8_CUT) {
			memcpy(j->scratch + n, replacement_char, 3);
			n += 3;
			i++;
		} else {
			memcpy(j->scratch + n, p + i, seq);
			n += seq;
			i += seq;
		}
	}
	json_text(j, j->scratch, n);
}

void json_text_member(struct json_out *j, const char *key, const char *s)
{
	size_t len = strlen(s);

	/* A text cut to fit a buffer ends before the sequence it cut. */
	for (size_t k = 1; k <= 3 && k <= len; k++) {
		if (utf8_sequence((const unsigned char *)s + len - k, k) == UTF8_CUT) {
			len -= k;
			break;
		}
	}
	json_key(j, key);
	if (utf8_valid(s, len))
		json_text(j, s, len);
	else
		json_string_replaced(j, s, len);
}

/* Writes (P, LEN) as lower-case hex digits (hex_encode also writes a NUL after them). */
static void json_string_hex(struct json_out *j, const char *p, size_t len)
{
	reserve(&j->scratch, &j->scratch_size, len > SIZE_MAX / 2 - 1 ? SIZE_MAX : len * 2 + 1);
	hex_encode((const unsigned char *)p, len, j->scratch);
	json_text(j, j->scratch, len * 2);
}

void json_bytes_member(struct json_out *j, const char *key, const char *p, size_t len)
{
	char hex_key[64];

	json_key(j, key);
	if (utf8_valid(p, len)) {
		json_text(j, p, len);
		return;
	}
	json_string_replaced(j, p, len);
	if ((size_t)snprintf(hex_key, sizeof(hex_key), "%s_hex", key) >= sizeof(hex_key)) {
		json_out_fail(j);
		return;
	}
	json_key(j, hex_key);
	json_string_hex(j, p, len);
}

void json_degree_member(struct json_out *j, const char *key, const char *p, size_t len)
{
	size_t i = 1, start, n = 0;

	if (len < 2 || (p[0] != '+' && p[0] != '-') || !is_digit(p[1])) {
		json_out_fail(j);
		return;
	}
	while (i + 1 < len && p[i] == '0' && is_digit(p[i + 1]))
		i++;
	start = i;
	while (i < len && is_digit(p[i]))
		i++;
	if (i < len) {
		if (p[i] != '.' || i + 1 == len) {
			json_out_fail(j);
			return;
		}
		for (i++; i < len; i++) {
			if (!is_digit(p[i])) {
				json_out_fail(j);
				return;
			}
		}
	}
	reserve(&j->scratch, &j->scratch_size, len - start + 2);
	if (p[0] == '-')
		j->scratch[n++] = '-';
	memcpy(j->scratch + n, p + start, len - start);
	n += len - start;
	json_key(j, key);
	json_number(j, j->scratch, n);
}
