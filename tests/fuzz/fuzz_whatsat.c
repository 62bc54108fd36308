/*
 * libFuzzer target for WHATSAT through the request builder: the first line of an input
 * is an IAMAT, the rest a WHATSAT. A stored location of any valid text and a valid
 * WHATSAT become the texts of a Places request (coord_decimal, the radius in metres),
 * which the legacy query and the new API's JSON body must take, meaning the same place.
 * (A radius under 1e-21 m is sent as 0: README, "Client protocol decisions".)
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "places_json.h"
#include "proto.h"
#include "table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The value of a decimal text of any length, as a double, for comparison only. */
static double text_value(const char *p, size_t len)
{
	char buf[8192];

	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return strtod(buf, NULL);
}

/* One degree value: the request's text must be the client's number, cut at 12 digits. */
static void check_degree(const char *p, size_t len, double limit,
    char out[COORD_DECIMAL_MAX + 1])
{
	size_t n = coord_decimal(p, len, out);
	double value = strtod(out, NULL);

	if (n == 0 || n > COORD_DECIMAL_MAX || strlen(out) != n)
		abort();
	if (fabs(value) > limit || fabs(value - text_value(p, len)) > 1e-11)
		abort();
}

/* The number at PATH of the parsed body. */
static double body_number(yajl_val body, const char **path)
{
	yajl_val v = yajl_tree_get(body, path, yajl_t_number);

	if (v == NULL)
		abort();
	return YAJL_GET_DOUBLE(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct table *t;
	const char *line = (const char *)data, *nl = memchr(line, '\n', size);
	struct field f[PROTO_MAX_FIELDS];
	struct iamat iamat;
	struct whatsat whatsat;
	struct at_record rec;
	const struct record *stored;
	struct at_record fields;
	char at[8192], lat[COORD_DECIMAL_MAX + 1], lng[COORD_DECIMAL_MAX + 1];
	char query[PLACES_LEGACY_QUERY_MAX], *body;
	struct htime now = { 1700000000, 0 };
	size_t len;
	yajl_val tree;
	const char *lat_path[] = { "locationRestriction", "circle", "center", "latitude", NULL };
	const char *lng_path[] = { "locationRestriction", "circle", "center", "longitude", NULL };
	const char *radius_path[] = { "locationRestriction", "circle", "radius", NULL };

	if (t == NULL)
		t = table_new_keyed(3, 4);
	if (nl == NULL)
		return 0;
	if (proto_split(line, (size_t)(nl - line), f, PROTO_MAX_FIELDS) != 4 ||
	    !proto_field_is(&f[0], "IAMAT") || !proto_iamat_parse(f + 1, &iamat))
		return 0;
	len = proto_at_format("Alford", &iamat, now, at, sizeof(at), &rec);
	if (len == 0)
		return 0;
	table_offer(t, &rec, &stored);
	line = nl + 1;
	size -= (size_t)(line - (const char *)data);
	if (proto_split(line, size, f, PROTO_MAX_FIELDS) != 4 ||
	    !proto_field_is(&f[0], "WHATSAT") || !proto_whatsat_parse(f + 1, &whatsat))
		return 0;
	stored = table_get(t, whatsat.id.p, whatsat.id.len);
	if (stored == NULL)
		return 0;

	/* What cmd-whatsat.c does with the stored record. */
	record_fields(stored, &fields);
	check_degree(fields.location.p, fields.coord.split, 90, lat);
	check_degree(fields.location.p + fields.coord.split,
	    fields.location.len - fields.coord.split, 180, lng);
	if (places_legacy_query(lat, lng, whatsat.radius_metres, query) == 0)
		abort();
	body = places_json_new_request(lat, lng, whatsat.radius_metres, whatsat.bound, &len);
	if (body == NULL)
		abort();
	tree = yajl_tree_parse(body, NULL, 0);
	if (tree == NULL)
		abort();
	if (body_number(tree, lat_path) != strtod(lat, NULL) ||
	    body_number(tree, lng_path) != strtod(lng, NULL) ||
	    body_number(tree, radius_path) > 50000 || body_number(tree, radius_path) < 0)
		abort();
	yajl_tree_free(tree);
	free(body);
	return 0;
}
