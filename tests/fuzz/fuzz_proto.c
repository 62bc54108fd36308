/*
 * libFuzzer target for the client protocol: every input is one client line, run
 * through the same parsing as the node (split, IAMAT, WHATSAT, AT) and, when valid,
 * formatted and stored in a table, checking the invariants that must hold.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stores an AT line and checks it reads back byte for byte. */
static void store(struct table *t, const char *line, size_t len)
{
	struct at_record rec;
	const struct record *stored;

	if (!proto_at_parse(line, len, &rec))
		return;
	table_offer(t, &rec, &stored);
	if (table_get(t, rec.id.p, rec.id.len) != stored)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct table *t;
	const char *line = (const char *)data;
	struct field fields[PROTO_MAX_FIELDS];
	size_t n = proto_split(line, size, fields, PROTO_MAX_FIELDS);
	struct iamat iamat;
	struct whatsat whatsat;
	char at[8192];
	struct htime now = { 1700000000, 123456789 };

	if (t == NULL)
		t = table_new_keyed(1, 2);
	store(t, line, size);
	if (n != 4)
		return 0;
	if (proto_iamat_parse(fields + 1, &iamat)) {
		size_t len = proto_at_format("Alford", &iamat, now, at, sizeof(at), NULL);

		/* what the node writes must parse back as the same record */
		if (len == 0)
			abort();
		store(t, at, len);
	}
	if (proto_whatsat_parse(fields + 1, &whatsat)) {
		if (whatsat.bound < 1 || whatsat.bound > 20)
			abort();
		double metres = strtod(whatsat.radius_metres, NULL);

		if (metres < 0 || metres > 50000 || strlen(whatsat.radius_metres) == 0)
			abort();
	}
	return 0;
}
