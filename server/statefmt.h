/*
 * The files of state_dir as pure functions (README "Durability"): a snapshot and the
 * record journals are text, one line each, every line "SUM PAYLOAD" where SUM is eight
 * hex digits of the CRC-32C of PAYLOAD, so a torn or flipped line is found and skipped
 * alone.
 * The first line names the herd, the node and the generation; a snapshot's last line
 * counts its records. No I/O here.
 */
#ifndef HERD_STATEFMT_H
#define HERD_STATEFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "proto.h"

#define STATEFMT_VERSION 1
#define STATEFMT_SUM_LEN 8
/* A herd ID: herd_id as configured (a node name's characters), or 16 hex digits. */
#define STATEFMT_HERD_ID_MAX CONFIG_NAME_MAX
/* Room for any header or end line. */
#define STATEFMT_META_MAX (STATEFMT_SUM_LEN + 2 * CONFIG_NAME_MAX + 96)

enum statefmt_kind {
	STATEFMT_SNAPSHOT,
	STATEFMT_JOURNAL,
};

struct statefmt_header {
	enum statefmt_kind kind;
	char herd[STATEFMT_HERD_ID_MAX];
	char node[CONFIG_NAME_MAX];
	uint64_t gen;
};

enum statefmt_line {
	STATEFMT_RECORD,        /* PAYLOAD is an AT line (not yet validated) */
	STATEFMT_HEADER,        /* the header, into HEADER */
	STATEFMT_END,           /* a snapshot's last line, its record count into RECORDS */
	STATEFMT_BAD_SUM,       /* the sum does not match: never trust any of it */
	STATEFMT_MALFORMED,     /* not a line of these files at all */
};

/* The bytes a line of a payload of LEN bytes takes, with its LF. */
size_t statefmt_line_size(size_t len);
/* Writes the line of PAYLOAD (LEN bytes) into BUF, statefmt_line_size(LEN) bytes. */
void statefmt_line(char *buf, const char *payload, size_t len);
/* Writes the header line (with LF) into BUF (STATEFMT_META_MAX); returns its length. */
size_t statefmt_header_line(char *buf, const struct statefmt_header *h);
/* Writes a snapshot's end line for RECORDS records into BUF (STATEFMT_META_MAX). */
size_t statefmt_end_line(char *buf, uint64_t records);

/*
 * Reads one line of LEN bytes (without its LF). PAYLOAD gets the payload of a record;
 * HEADER and RECORDS are filled for those lines. Anything that does not parse exactly as
 * the writers above write it is malformed.
 */
enum statefmt_line statefmt_parse(const char *line, size_t len, struct field *payload,
    struct statefmt_header *header, uint64_t *records);

/*
 * CRC-32C of LEN bytes at DATA: with the CPU's instruction where it has one, or (TABLE,
 * or a CPU without SSE 4.2) from a table; the two agree.
 */
uint32_t statefmt_crc32c(const void *data, size_t len, bool table);

/* A decimal as these files write numbers: digits, no sign, no leading zero; fits 64 bits. */
bool statefmt_number(const char *text, uint64_t *out);

/*
 * The herd ID that state files carry, into OUT (STATEFMT_HERD_ID_MAX): herd_id if it is
 * configured, else 16 hex digits of an HMAC of a fixed text under the herd secret (which
 * it does not reveal), else, for a herd without a secret, of the sorted node names.
 */
void statefmt_herd_id(const struct herd_config *cfg, const unsigned char *secret,
    size_t secret_len, char out[STATEFMT_HERD_ID_MAX]);

#endif
