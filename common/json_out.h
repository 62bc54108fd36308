/*
 * Writing JSON, the one way herd does it: a reusable yajl generator whose writers never
 * return a status. The first failure (a yajl_gen error, a value that cannot be written,
 * or a sink that refuses text) is kept, every writer after it does nothing, and the
 * caller checks json_out_ok once when the document is done. No I/O: the text goes to the
 * sink the document was begun with, or into a buffer json_out_take hands over.
 */
#ifndef HERD_JSON_OUT_H
#define HERD_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_gen.h>

#include "htime.h"

/* Takes generated text; false when it cannot (the document then fails). */
typedef bool json_sink(void *arg, const char *text, size_t len);

enum json_style {
	JSON_COMPACT,    /* no whitespace, strings checked for UTF-8: the admin endpoint */
	JSON_PLACES,     /* beautified with three-space indents, as Google's answers are;
			    strings are not checked for UTF-8 (the filter's come from yajl's
			    parser, which has checked them) */
};

enum json_fault {
	JSON_FAULT_NONE,
	JSON_FAULT_YAJL,     /* a yajl_gen call failed; see yajl_status */
	JSON_FAULT_VALUE,    /* a value has no JSON form (not finite, not a degree, ...) */
	JSON_FAULT_SINK,     /* the sink refused text */
};

struct json_out {
	yajl_gen gen;
	json_sink *sink;              /* NULL: text collects in OWN for json_out_take */
	void *sink_arg;
	enum json_fault fault;        /* the first failure of the current document */
	yajl_gen_status yajl_status;  /* for JSON_FAULT_YAJL */
	char *own;
	size_t own_len, own_size;
	char *scratch;                /* reused for text rewritten before yajl sees it */
	size_t scratch_size;
};

/* Sets up the generator in STYLE; running out of memory is fatal. */
void json_out_init(struct json_out *j, enum json_style style);
void json_out_free(struct json_out *j);
/* Starts a new document whose text goes to SINK(ARG, ...), or to J itself if SINK is NULL. */
void json_out_begin(struct json_out *j, json_sink *sink, void *arg);
/* True while no write of the current document failed. */
bool json_out_ok(const struct json_out *j);
/* Fails the current document: the caller has a value with no JSON form. */
void json_out_fail(struct json_out *j);
/* Why the document failed, for a log line or an error message ("" while it did not). */
const char *json_out_error(const struct json_out *j);
/*
 * The text of a document begun without a sink, as a malloc'd NUL-terminated string of
 * *LEN bytes that the caller frees; NULL if the document failed.
 */
char *json_out_take(struct json_out *j, size_t *len);

void json_map_open(struct json_out *j);
void json_map_close(struct json_out *j);
void json_array_open(struct json_out *j);
void json_array_close(struct json_out *j);
void json_null(struct json_out *j);
void json_bool(struct json_out *j, bool value);
/* A map key or string value from a C string, or from LEN bytes at P. */
void json_key(struct json_out *j, const char *key);
void json_string(struct json_out *j, const char *s);
void json_text(struct json_out *j, const char *p, size_t len);
/* A number from text the caller has already checked is a JSON number. */
void json_number(struct json_out *j, const char *text, size_t len);
void json_integer(struct json_out *j, long long value);
void json_u64(struct json_out *j, uint64_t value);
/* VALUE with exactly DECIMALS fraction digits, e.g. 12.345 for 3; fails if not finite. */
void json_fixed(struct json_out *j, double value, int decimals);
/* T as RFC 3339 UTC with microseconds: "2026-01-02T03:04:05.678901Z". */
void json_time(struct json_out *j, struct htime t);

/* KEY and its value, for the members of an object. */
void json_string_member(struct json_out *j, const char *key, const char *s);
void json_u64_member(struct json_out *j, const char *key, uint64_t value);

/*
 * Writes KEY with the bytes (P, LEN) as a string. JSON strings are Unicode, and client
 * IDs are arbitrary bytes: when the bytes are not valid UTF-8, every invalid byte is
 * written as U+FFFD and a second member KEY_hex carries the exact bytes in hex.
 */
void json_bytes_member(struct json_out *j, const char *key, const char *p, size_t len);
/*
 * Writes KEY with S, a text that came from outside or was cut to fit a buffer, as valid
 * UTF-8: a sequence cut off at its end is left out, any other invalid byte is written
 * as U+FFFD.
 */
void json_text_member(struct json_out *j, const char *key, const char *s);
/*
 * Writes KEY with one ISO 6709 degree value ("+034.50", "-118") as a JSON number with
 * the client's exact digits: no '+', no leading zeros. Fails if the text is not such a
 * value.
 */
void json_degree_member(struct json_out *j, const char *key, const char *p, size_t len);

/* True when (P, LEN) is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates). */
bool utf8_valid(const char *p, size_t len);
/*
 * How many bytes at the start of (P, LEN) are well-formed UTF-8; *CUT says whether what
 * follows them is a sequence that LEN cut short (it may go on in the next piece of a
 * stream) rather than invalid. Returns LEN when all of it is.
 */
size_t utf8_prefix(const char *p, size_t len, bool *cut);

#endif
