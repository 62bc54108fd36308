/*
 * JSON output for the admin endpoint: one reusable yajl generator that streams each
 * document straight into an evbuffer, and small writers whose bool result folds every
 * yajl_gen status into one check. No I/O beyond appending to the evbuffer.
 */
#ifndef HERD_JSON_OUT_H
#define HERD_JSON_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yajl/yajl_gen.h>

#include "htime.h"

struct evbuffer;

struct json_out {
	yajl_gen gen;
	struct evbuffer *sink;   /* where the current document goes */
	bool sink_failed;        /* appending to SINK failed (out of memory) */
	char *scratch;           /* reused for text that must be rewritten before yajl sees it */
	size_t scratch_size;
};

/* Sets up the generator (compact output, UTF-8 validated); false when out of memory. */
bool json_out_init(struct json_out *j);
void json_out_free(struct json_out *j);
/* Starts a new document that is appended to SINK; returns the generator to write with. */
yajl_gen json_out_begin(struct json_out *j, struct evbuffer *sink);
/* False if any text of the current document could not be appended to its buffer. */
bool json_out_ok(const struct json_out *j);

/* Writers: each returns false if any yajl_gen call failed. */
bool json_map_open(yajl_gen g);
bool json_map_close(yajl_gen g);
bool json_array_open(yajl_gen g);
bool json_array_close(yajl_gen g);
bool json_null(yajl_gen g);
bool json_key(yajl_gen g, const char *key);
bool json_string(yajl_gen g, const char *s);
bool json_u64(yajl_gen g, uint64_t value);
/* VALUE with exactly DECIMALS fraction digits, e.g. 12.345 for 3. */
bool json_fixed(yajl_gen g, double value, int decimals);
/* T as RFC 3339 UTC with microseconds: "2026-01-02T03:04:05.678901Z". */
bool json_time(yajl_gen g, struct htime t);

/*
 * Writes KEY with the bytes (P, LEN) as a string. JSON strings are Unicode, and client
 * IDs are arbitrary bytes: when the bytes are not valid UTF-8, every invalid byte is
 * written as U+FFFD and a second member KEY_hex carries the exact bytes in hex.
 */
bool json_bytes_member(struct json_out *j, const char *key, const char *p, size_t len);
/*
 * Writes KEY with one ISO 6709 degree value ("+034.50", "-118") as a JSON number with
 * the client's exact digits: no '+', no leading zeros. False if the text is not such
 * a value.
 */
bool json_degree_member(struct json_out *j, const char *key, const char *p, size_t len);

/* True when (P, LEN) is well-formed UTF-8 (RFC 3629: no overlongs, no surrogates). */
bool utf8_valid(const char *p, size_t len);

#endif
