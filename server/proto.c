/* Client protocol parsing and formatting; every rule here is from SPEC section 3. */
#include "proto.h"

#include <string.h>

#include "util.h"

/* A table, not six comparisons: the split looks at every byte of every line. */
const unsigned char proto_space[256] = {
	[' '] = 1, ['\t'] = 1, ['\r'] = 1, ['\n'] = 1, ['\f'] = 1, ['\v'] = 1,
};

/*
 * The end of the field that starts at LINE[I]: the first white space at or after I, or
 * LEN. Eight bytes at a time (util.h): a byte below 0x0E or equal to 0x20 is marked;
 * words with a byte below 0x09, no white space but marked too, go a byte at a time.
 */
static size_t proto_field_end(const char *line, size_t i, size_t len)
{
	while (len - i >= 8) {
		uint64_t w, m;

		memcpy(&w, line + i, 8);
		if (swar_below(w, 0x09) != 0)
			break;
		m = swar_below(w, 0x0e) | swar_equal(w, ' ');
		if (m != 0)
			return i + swar_first(m);
		i += 8;
	}
	while (i < len && !proto_is_space((unsigned char)line[i]))
		i++;
	return i;
}

size_t proto_split(const char *line, size_t len, struct field *fields, size_t max)
{
	size_t count = 0, i = 0;

	for (;;) {
		size_t start;

		while (i < len && proto_is_space((unsigned char)line[i]))
			i++;
		if (i == len)
			return count;
		start = i;
		i = proto_field_end(line, i, len);
		if (count < max) {
			fields[count].p = line + start;
			fields[count].len = i - start;
		}
		count++;
	}
}

bool proto_field_is(const struct field *f, const char *word)
{
	size_t n = strlen(word);

	return f->len == n && memcmp(f->p, word, n) == 0;
}

bool proto_iamat_parse(const struct field args[3], struct iamat *out)
{
	if (args[0].len > PROTO_ID_MAX)
		return false;
	if (!coord_parse(args[1].p, args[1].len, &out->coord))
		return false;
	if (!htime_parse(args[2].p, args[2].len, &out->client_time))
		return false;
	out->id = args[0];
	out->location = args[1];
	out->time = args[2];
	return true;
}

/*
 * Parses a radius DIGITS[.DIGITS] in km, 0 < r <= 50, and writes r * 1000 as exact
 * decimal metres (the decimal point moved three places) into OUT.
 */
static bool radius_parse(const struct field *f, struct whatsat *out)
{
	char whole[8], fraction[3 + PROTO_RADIUS_FRACTION];
	size_t nwhole = 0, nfraction = 0, i = 0;
	long km = 0;
	bool fraction_nonzero = false;
	size_t n = 0;

	for (; i < f->len && is_digit(f->p[i]); i++) {
		if (km <= 50)
			km = km * 10 + (f->p[i] - '0');
		if (nwhole > 0 || f->p[i] != '0') {
			if (nwhole >= sizeof(whole) - 1)
				return false;
			whole[nwhole++] = f->p[i];
		}
	}
	if (i == 0)
		return false;
	if (i < f->len) {
		if (f->p[i++] != '.' || i == f->len)
			return false;
		for (; i < f->len; i++) {
			if (!is_digit(f->p[i]))
				return false;
			if (f->p[i] != '0')
				fraction_nonzero = true;
			if (nfraction < 3 + PROTO_RADIUS_FRACTION)
				fraction[nfraction++] = f->p[i];
		}
	}
	if (km > 50 || (km == 50 && fraction_nonzero) || (km == 0 && !fraction_nonzero))
		return false;
	while (nfraction < 3)
		fraction[nfraction++] = '0';
	while (nfraction > 3 && fraction[nfraction - 1] == '0')
		nfraction--;
	/* Above 0 but below the finest metres kept: the finest, as 0 would be no radius. */
	if (nwhole == 0 && nfraction == 3 && memcmp(fraction, "000", 3) == 0) {
		memset(fraction, '0', sizeof(fraction));
		fraction[sizeof(fraction) - 1] = '1';
		nfraction = sizeof(fraction);
	}

	/* metres = whole digits followed by the first three fraction digits */
	memcpy(out->radius_metres, whole, nwhole);
	n = nwhole;
	for (size_t k = 0; k < 3; k++) {
		if (n > 0 || fraction[k] != '0')
			out->radius_metres[n++] = fraction[k];
	}
	if (n == 0)
		out->radius_metres[n++] = '0';
	if (nfraction > 3) {
		out->radius_metres[n++] = '.';
		memcpy(out->radius_metres + n, fraction + 3, nfraction - 3);
		n += nfraction - 3;
	}
	out->radius_metres[n] = '\0';
	return true;
}

/* Parses an integer bound 1..20, digits only. */
static bool bound_parse(const struct field *f, int *bound)
{
	long value = 0;

	if (f->len == 0)
		return false;
	for (size_t i = 0; i < f->len; i++) {
		if (!is_digit(f->p[i]))
			return false;
		if (value <= 20)
			value = value * 10 + (f->p[i] - '0');
	}
	if (value < 1 || value > 20)
		return false;
	*bound = (int)value;
	return true;
}

bool proto_whatsat_parse(const struct field args[3], struct whatsat *out)
{
	if (args[0].len > PROTO_ID_MAX)
		return false;
	if (!radius_parse(&args[1], out))
		return false;
	if (!bound_parse(&args[2], &out->bound))
		return false;
	out->id = args[0];
	return true;
}

/*
 * Appends LEN bytes of P to BUF at *N, keeping room for the NUL, and notes in OUT where
 * they landed; false if full.
 */
static bool append(char *buf, size_t size, size_t *n, const char *p, size_t len,
    struct field *out)
{
	if (*n + len >= size)
		return false;
	memcpy(buf + *n, p, len);
	out->p = buf + *n;
	out->len = len;
	*n += len;
	return true;
}

size_t proto_at_format(const char *server, const struct iamat *iamat, struct htime now,
    char *buf, size_t size, struct at_record *rec)
{
	char diff[HTIME_DIFF_MAX + 1];
	size_t difflen = htime_format_diff(now, iamat->client_time, diff, sizeof(diff));
	size_t n = 0;
	struct at_record local;
	struct field space;

	if (rec == NULL)
		rec = &local;
	if (!append(buf, size, &n, "AT ", 3, &space) ||
	    !append(buf, size, &n, server, strlen(server), &rec->server) ||
	    !append(buf, size, &n, " ", 1, &space) ||
	    !append(buf, size, &n, diff, difflen, &rec->diff) ||
	    !append(buf, size, &n, " ", 1, &space) ||
	    !append(buf, size, &n, iamat->id.p, iamat->id.len, &rec->id) ||
	    !append(buf, size, &n, " ", 1, &space) ||
	    !append(buf, size, &n, iamat->location.p, iamat->location.len, &rec->location) ||
	    !append(buf, size, &n, " ", 1, &space) ||
	    !append(buf, size, &n, iamat->time.p, iamat->time.len, &rec->time))
		return 0;
	buf[n] = '\0';
	rec->line = buf;
	rec->len = n;
	rec->coord = iamat->coord;
	rec->client_time = iamat->client_time;
	return n;
}

/*
 * Checks the signed time difference of an AT line as htime_format_diff writes it:
 * [+-]SECONDS.9DIGITS, seconds without leading zeros, and "+" for zero.
 */
static bool diff_valid(const struct field *f)
{
	struct htime diff;

	if (f->len < 2 || (f->p[0] != '+' && f->p[0] != '-'))
		return false;
	if (f->len < 12 || f->p[f->len - 10] != '.')
		return false;
	if (f->p[1] == '0' && f->p[2] != '.')
		return false;
	if (!htime_parse(f->p + 1, f->len - 1, &diff))
		return false;
	return f->p[0] == '+' || diff.sec != 0 || diff.nsec != 0;
}

/* True when FIELDS are LINE's words with exactly one space between them, as written. */
static bool fields_exact(const char *line, size_t len, const struct field *fields, size_t n)
{
	if (fields[0].p != line)
		return false;
	for (size_t i = 1; i < n; i++) {
		if (fields[i].p != fields[i - 1].p + fields[i - 1].len + 1 || fields[i].p[-1] != ' ')
			return false;
	}
	return fields[n - 1].p + fields[n - 1].len == line + len;
}

bool proto_at_parse(const char *line, size_t len, struct at_record *out)
{
	struct field fields[PROTO_MAX_FIELDS];
	struct iamat iamat;

	if (proto_split(line, len, fields, PROTO_MAX_FIELDS) != 6 || !fields_exact(line, len,
	    fields, 6))
		return false;
	if (!proto_field_is(&fields[0], "AT") || fields[1].len == 0 || !diff_valid(&fields[2]))
		return false;
	if (!proto_iamat_parse(&fields[3], &iamat))
		return false;
	out->line = line;
	out->len = len;
	out->server = fields[1];
	out->diff = fields[2];
	out->id = iamat.id;
	out->location = iamat.location;
	out->time = iamat.time;
	out->coord = iamat.coord;
	out->client_time = iamat.client_time;
	return true;
}
