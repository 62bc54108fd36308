/*
 * The client line protocol (SPEC section 3) as pure functions: splitting a line into
 * fields, validating IAMAT and WHATSAT, writing and reading AT lines. No I/O here.
 */
#ifndef HERD_PROTO_H
#define HERD_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include "coord.h"
#include "htime.h"

#define PROTO_ID_MAX 255
#define PROTO_MAX_FIELDS 8        /* more than any command has, so excess is detected */
#define PROTO_RADIUS_MAX 32       /* room for the metres text proto_whatsat_parse writes */
#define PROTO_RADIUS_FRACTION 21  /* fraction digits of metres kept; finer is below any use */

struct field {
	const char *p;
	size_t len;
};

/* An AT line split into its fields, with the client's location and time parsed. */
struct at_record {
	const char *line;
	size_t len;
	struct field server, diff, id, location, time;
	struct coord coord;
	struct htime client_time;
};

struct iamat {
	struct field id, location, time;
	struct coord coord;
	struct htime client_time;
};

struct whatsat {
	struct field id;
	/* km * 1000 as decimal text, exact to PROTO_RADIUS_FRACTION fraction digits */
	char radius_metres[PROTO_RADIUS_MAX];
	int bound;
};

/* 1 for the white space of the protocol: space, tab, CR, LF, FF, VT. */
extern const unsigned char proto_space[256];

static inline bool proto_is_space(unsigned char c)
{
	return proto_space[c] != 0;
}
/*
 * Splits LINE into at most MAX fields; returns how many there are in all (which may be
 * more than MAX, so callers can reject extra fields without storing them).
 */
size_t proto_split(const char *line, size_t len, struct field *fields, size_t max);
bool proto_field_is(const struct field *f, const char *word);

/* Validates the three argument fields of IAMAT. */
bool proto_iamat_parse(const struct field args[3], struct iamat *out);
/* Validates the three argument fields of WHATSAT (0 < radius <= 50 km, 1 <= bound <= 20). */
bool proto_whatsat_parse(const struct field args[3], struct whatsat *out);

/*
 * Writes "AT SERVER DIFF ID LOCATION TIME" (no newline) for IAMAT read at NOW into BUF,
 * and, when REC is not NULL, the record of that line (fields pointing into BUF), so the
 * caller need not parse back what it just wrote. Returns the length, 0 if it does not fit.
 */
size_t proto_at_format(const char *server, const struct iamat *iamat, struct htime now,
    char *buf, size_t size, struct at_record *rec);
/*
 * Parses and validates an AT line (as flooded between nodes); fields point into LINE.
 * Only what proto_at_format could have written passes: one space between fields, none
 * around them, and the time difference in its one written form. Whether SERVER is a node
 * of the herd is the caller's to check.
 */
bool proto_at_parse(const char *line, size_t len, struct at_record *out);

#endif
