/*
 * libFuzzer target for the line format of state_dir's files: the input is a file, read
 * line by line as start-up reads it. Every line that parses must be exactly what the
 * writers write for what was parsed (so no two texts mean one thing), and a payload
 * written by statefmt_line always reads back as itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "statefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Checks that LINE (LEN bytes, no LF) is what the writers make of what it parsed as. */
static void check_line(const char *line, size_t len)
{
	struct statefmt_header h;
	struct field payload;
	struct at_record rec;
	uint64_t records;
	char buf[STATEFMT_META_MAX + 8];
	size_t n;

	switch (statefmt_parse(line, len, &payload, &h, &records)) {
	case STATEFMT_RECORD:
		if (payload.p != line + STATEFMT_SUM_LEN + 1 ||
		    payload.len != len - STATEFMT_SUM_LEN - 1)
			abort();
		(void)proto_at_parse(payload.p, payload.len, &rec);
		return;
	case STATEFMT_HEADER:
		n = statefmt_header_line(buf, &h);
		break;
	case STATEFMT_END:
		n = statefmt_end_line(buf, records);
		break;
	case STATEFMT_BAD_SUM:
	case STATEFMT_MALFORMED:
		return;
	}
	if (n != len + 1 || memcmp(buf, line, len) != 0 || buf[len] != '\n')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct statefmt_header h;
	struct field payload;
	uint64_t records;
	char *line;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t len = eol != NULL ? (size_t)(eol - p) : (size_t)(end - p);

		check_line(p, len);
		p += len + 1;
	}
	/* The whole input as a payload: written, it reads back, never as a bad sum. */
	if (memchr(data, '\n', size) == NULL) {
		line = malloc(statefmt_line_size(size));
		if (line == NULL)
			return 0;
		statefmt_line(line, (const char *)data, size);
		switch (statefmt_parse(line, statefmt_line_size(size) - 1, &payload, &h,
		    &records)) {
		case STATEFMT_BAD_SUM:
			abort();
		case STATEFMT_RECORD:
			if (payload.len != size || memcmp(payload.p, data, size) != 0)
				abort();
			break;
		default:
			break;
		}
		free(line);
	}
	return 0;
}
