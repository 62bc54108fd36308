/* Unit tests of the client protocol: time, coordinates, fields, IAMAT, WHATSAT, AT lines. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "coord.h"
#include "htime.h"
#include "proto.h"

/* Fields of a C string, for tests. */
static struct field F(const char *s)
{
	struct field f = { s, strlen(s) };

	return f;
}

static bool time_ok(const char *s)
{
	struct htime t;

	return htime_parse(s, strlen(s), &t);
}

static bool coord_ok(const char *s)
{
	struct coord c;

	return coord_parse(s, strlen(s), &c);
}

static void test_time_parse(void)
{
	struct htime t;

	CHECK(htime_parse("1621464827.959498503", 20, &t));
	CHECK_INT(t.sec, 1621464827);
	CHECK_INT(t.nsec, 959498503);
	CHECK(htime_parse("1700000000.5", 12, &t));
	CHECK_INT(t.nsec, 500000000);
	CHECK(time_ok("1700000000"));
	CHECK(time_ok("0"));
	CHECK(time_ok("0.000000001"));
	CHECK(time_ok("999999999999999999"));
	CHECK(!time_ok("9999999999999999999"));
	CHECK(!time_ok("1700000000."));
	CHECK(!time_ok("-5"));
	CHECK(!time_ok("+5"));
	CHECK(!time_ok("1e9"));
	CHECK(!time_ok("1700000000.1234567891"));   /* 10 fraction digits */
	CHECK(time_ok("1700000000.123456789"));
	CHECK(!time_ok(""));
	CHECK(!time_ok(".5"));
	CHECK(!time_ok("17a"));
	CHECK(!time_ok("1.2.3"));
}

/* Formats A - B for the given times, as an AT line would. */
static const char *diff(const char *a, const char *b)
{
	static char buf[64];
	struct htime ta, tb;

	htime_parse(a, strlen(a), &ta);
	htime_parse(b, strlen(b), &tb);
	htime_format_diff(ta, tb, buf, sizeof(buf));
	return buf;
}

static void test_time_diff(void)
{
	CHECK_STR(diff("1621464828.223372889", "1621464827.959498503"), "+0.263874386");
	CHECK_STR(diff("5", "5"), "+0.000000000");
	CHECK_STR(diff("5", "5.000000001"), "-0.000000001");
	CHECK_STR(diff("1700000000", "1700000010.25"), "-10.250000000");
	CHECK_STR(diff("1700000000.9", "1600000000.95"), "+99999999.950000000");
	CHECK_STR(diff("1700000000", "999999999999999999"), "-999999998299999999.000000000");
	CHECK_STR(diff("2", "1.999999999"), "+0.000000001");

	/* The hand formatting writes what printf would, for times of every size. */
	unsigned seed = 3;
	for (int i = 0; i < 20000; i++) {
		struct htime a = { (int64_t)rand_r(&seed) * rand_r(&seed) % 1000000000000LL,
		    rand_r(&seed) % 1000000000 };
		struct htime b = { (int64_t)rand_r(&seed) % 2000000000, rand_r(&seed) % 1000000000 };
		char got[64], want[64];
		int64_t sec;
		long nsec;
		bool neg;
		struct htime big, small;

		if (i % 7 == 0)
			b = a;
		neg = htime_cmp(a, b) < 0;
		big = neg ? b : a;
		small = neg ? a : b;
		sec = big.sec - small.sec;
		nsec = big.nsec - small.nsec;
		if (nsec < 0) {
			nsec += 1000000000;
			sec--;
		}
		snprintf(want, sizeof(want), "%c%lld.%09ld", neg ? '-' : '+', (long long)sec, nsec);
		CHECK_INT(htime_format_diff(a, b, got, sizeof(got)), strlen(want));
		if (strcmp(got, want) != 0)
			CHECK_STR(got, want);
	}
	/* Too small a buffer: nothing, as snprintf's truncation was refused before. */
	CHECK_INT(htime_format_diff((struct htime){ 10, 0 }, (struct htime){ 0, 0 }, (char[13]){ 0 },
	    13), 0);
	CHECK_INT(htime_format_diff((struct htime){ 10, 0 }, (struct htime){ 0, 0 }, (char[14]){ 0 },
	    14), 13);
}

static void test_coord(void)
{
	struct coord c;

	CHECK(coord_parse("+34.068930-118.445127", 21, &c));
	CHECK_INT(c.split, 10);
	/* Limits are checked on the digits, so leading zeros and long fractions are fine. */
	CHECK(coord_ok("+0000000000000000000000000000000000000000000000000000000000000000000000"
	    "34.5-118.25"));
	CHECK(coord_ok("+34.5000000000000000000000000000000000000000000000000000000000000000001"
	    "-0000000000000000000000000000000000000000000000000000000000000000000180"));
	CHECK(!coord_ok("+0000000000000000000000000000000000000000000000000000000000000000000000"
	    "90.5-118.25"));
	CHECK(coord_ok("+34-118"));
	CHECK(coord_ok("-90+180"));
	CHECK(coord_ok("+90.000+180.0000"));
	CHECK(coord_ok("+0+0"));
	CHECK(coord_ok("+089.5-0179.25"));
	CHECK(!coord_ok("+090.5-0179.25"));
	CHECK(!coord_ok("+34.-118"));
	CHECK(!coord_ok("34-118"));
	CHECK(!coord_ok("+34.068930+-118.445127"));
	CHECK(!coord_ok("+91-118"));
	CHECK(!coord_ok("+90.0000001+0"));
	CHECK(!coord_ok("+0+180.1"));
	CHECK(!coord_ok("+0-181"));
	CHECK(!coord_ok("+34"));
	CHECK(!coord_ok("+34-118x"));
	CHECK(!coord_ok("+34-118.5.5"));
	CHECK(!coord_ok("+3e1-118"));
	CHECK(!coord_ok(""));
	CHECK(!coord_ok("+.5+1"));
	CHECK(!coord_ok("+1000000000000000000000-1"));
}

static void test_coord_decimal(void)
{
	char buf[COORD_DECIMAL_MAX + 1];
	const char *zeros = "+0000000000000000000000000000000000000000000000000000000000000000"
	    "00000034.5";
	const char *longest = "-000179.12345678901299999999";

	CHECK_INT(coord_decimal("+34.068930", 10, buf), 9);
	CHECK_STR(buf, "34.068930");
	coord_decimal("-118.445127", 11, buf);
	CHECK_STR(buf, "-118.445127");
	coord_decimal("+1.12345678901234", 17, buf);
	CHECK_STR(buf, "1.123456789012");
	coord_decimal("-5", 2, buf);
	CHECK_STR(buf, "-5");
	coord_decimal("+0", 2, buf);
	CHECK_STR(buf, "0");
	coord_decimal("-00.50", 6, buf);
	CHECK_STR(buf, "-0.50");
	/* Any valid length fits: leading zeros go, the fraction is cut. */
	CHECK_INT(coord_decimal(zeros, strlen(zeros), buf), 4);
	CHECK_STR(buf, "34.5");
	CHECK_INT(coord_decimal(longest, strlen(longest), buf), COORD_DECIMAL_MAX);
	CHECK_STR(buf, "-179.123456789012");
}

static void test_split(void)
{
	for (int c = 0; c < 256; c++) {
		bool want = c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';

		if (proto_is_space((unsigned char)c) != want)
			CHECK(!"proto_is_space");
	}
	/* The split 8 bytes at a time finds what a byte-at-a-time split finds, for any bytes. */
	{
		static const char some[] = " \t\r\n\f\v\x01\x08\x09\x0e\x1f!~\x7f\x80\xa0\xff" "aZ0+-.";
		unsigned seed = 5;
		char line[200];

		for (int i = 0; i < 50000; i++) {
			size_t len = (size_t)rand_r(&seed) % sizeof(line), n, want = 0, k = 0;
			struct field got[PROTO_MAX_FIELDS];

			for (size_t j = 0; j < len; j++)
				line[j] = rand_r(&seed) % 4 == 0 ? some[(size_t)rand_r(&seed) %
				    (sizeof(some) - 1)] : rand_r(&seed) % 3 == 0 ? (char)rand_r(&seed) :
				    (char)('a' + j % 26);
			n = proto_split(line, len, got, PROTO_MAX_FIELDS);
			while (k < len) {
				size_t start;

				while (k < len && proto_is_space((unsigned char)line[k]))
					k++;
				if (k == len)
					break;
				start = k;
				while (k < len && !proto_is_space((unsigned char)line[k]))
					k++;
				if (want < PROTO_MAX_FIELDS && (got[want].p != line + start ||
				    got[want].len != k - start)) {
					CHECK(!"a field where the byte-at-a-time split has none");
					break;
				}
				want++;
			}
			if (n != want) {
				CHECK_INT(n, want);
				break;
			}
		}
	}
	struct field f[4];
	const char *line = " \tIAMAT  a\x0b" "b\f\r";

	CHECK_INT(proto_split(line, strlen(line), f, 4), 3);
	CHECK(proto_field_is(&f[0], "IAMAT"));
	CHECK(proto_field_is(&f[1], "a"));
	CHECK(proto_field_is(&f[2], "b"));
	CHECK_INT(proto_split("", 0, f, 4), 0);
	CHECK_INT(proto_split(" \r\t", 3, f, 4), 0);
	CHECK_INT(proto_split("a b c d e f", 11, f, 4), 6);
	/* NUL is not white space: it belongs to a field */
	CHECK_INT(proto_split("a\0b c", 5, f, 4), 2);
	CHECK_INT(f[0].len, 3);
}

static void test_iamat(void)
{
	struct field args[3] = { F("kiwi.cs.ucla.edu"), F("+34.068930-118.445127"),
		F("1621464827.959498503") };
	struct iamat iamat;
	struct at_record rec, parsed;
	char id[300];
	char line[512];
	struct htime now = { 1621464828, 223372889 };
	size_t n;

	CHECK(proto_iamat_parse(args, &iamat));
	n = proto_at_format("Alford", &iamat, now, line, sizeof(line), &rec);
	CHECK_STR(line, "AT Alford +0.263874386 kiwi.cs.ucla.edu +34.068930-118.445127 "
	    "1621464827.959498503");
	CHECK_INT(n, strlen(line));
	CHECK_INT(rec.len, n);
	CHECK(proto_field_is(&rec.server, "Alford"));
	CHECK(proto_field_is(&rec.diff, "+0.263874386"));
	CHECK(proto_field_is(&rec.id, "kiwi.cs.ucla.edu"));
	CHECK(proto_field_is(&rec.location, "+34.068930-118.445127"));
	CHECK(proto_field_is(&rec.time, "1621464827.959498503"));
	CHECK_INT(rec.client_time.nsec, 959498503);
	CHECK(proto_at_parse(line, n, &parsed) && parsed.id.p == rec.id.p);
	CHECK_INT(proto_at_format("Alford", &iamat, now, line, 20, NULL), 0);

	/* a future client time gives a negative difference */
	now.sec = 1621464820;
	now.nsec = 0;
	proto_at_format("Bolden", &iamat, now, line, sizeof(line), NULL);
	CHECK_STR(line, "AT Bolden -7.959498503 kiwi.cs.ucla.edu +34.068930-118.445127 "
	    "1621464827.959498503");

	memset(id, 'x', 255);
	args[0].p = id;
	args[0].len = 255;
	CHECK(proto_iamat_parse(args, &iamat));
	args[0].len = 256;
	CHECK(!proto_iamat_parse(args, &iamat));
	args[0] = F("kiwi");
	args[1] = F("+34.-118");
	CHECK(!proto_iamat_parse(args, &iamat));
	args[1] = F("+34-118");
	args[2] = F("-5");
	CHECK(!proto_iamat_parse(args, &iamat));
}

/* Parses WHATSAT arguments RADIUS and BOUND for client "kiwi". */
static bool whatsat(const char *radius, const char *bound, struct whatsat *w)
{
	struct field args[3] = { F("kiwi"), F(radius), F(bound) };

	return proto_whatsat_parse(args, w);
}

static void test_whatsat(void)
{
	struct whatsat w;

	CHECK(whatsat("10", "5", &w));
	CHECK_STR(w.radius_metres, "10000");
	CHECK_INT(w.bound, 5);
	CHECK(whatsat("50", "20", &w));
	CHECK_STR(w.radius_metres, "50000");
	CHECK(whatsat("50.000", "1", &w));
	CHECK_STR(w.radius_metres, "50000");
	CHECK(whatsat("0.5", "1", &w));
	CHECK_STR(w.radius_metres, "500");
	CHECK(whatsat("0.0005", "1", &w));
	CHECK_STR(w.radius_metres, "0.5");
	CHECK(whatsat("1.2345678", "01", &w));
	CHECK_STR(w.radius_metres, "1234.5678");
	CHECK_INT(w.bound, 1);
	CHECK(whatsat("007.25", "7", &w));
	CHECK_STR(w.radius_metres, "7250");
	CHECK(whatsat("0.000000000000000000000001", "1", &w));
	CHECK_STR(w.radius_metres, "0.000000000000000000001");
	/* Finer than the metres kept: the smallest kept, never 0 (SPEC: 0 < r). */
	CHECK(whatsat("0.0000000000000000000000001", "1", &w));
	CHECK_STR(w.radius_metres, "0.000000000000000000001");
	CHECK(whatsat("0.000000000000000000000000000000000000009", "1", &w));
	CHECK_STR(w.radius_metres, "0.000000000000000000001");
	CHECK(whatsat("0.0000000000000000000000019", "1", &w));
	CHECK_STR(w.radius_metres, "0.000000000000000000001");
	CHECK(!whatsat("0", "5", &w));
	CHECK(!whatsat("0.000", "5", &w));
	CHECK(!whatsat("50.1", "5", &w));
	CHECK(!whatsat("50.0000001", "5", &w));
	CHECK(!whatsat("51", "5", &w));
	CHECK(!whatsat("-1", "5", &w));
	CHECK(!whatsat("+1", "5", &w));
	CHECK(!whatsat("1.", "5", &w));
	CHECK(!whatsat(".5", "5", &w));
	CHECK(!whatsat("1e1", "5", &w));
	CHECK(!whatsat("10", "0", &w));
	CHECK(!whatsat("10", "21", &w));
	CHECK(!whatsat("10", "5.0", &w));
	CHECK(!whatsat("10", "-5", &w));
	CHECK(!whatsat("10", "99999999999999999999", &w));
	CHECK(whatsat("10", "20", &w));
}

static void test_at_parse(void)
{
	const char *line = "AT Alford +0.263873386 kiwi.cs.ucla.edu +34.068930-118.445127 "
	    "1621464827.959498503";
	struct at_record rec;

	CHECK(proto_at_parse(line, strlen(line), &rec));
	CHECK(proto_field_is(&rec.server, "Alford"));
	CHECK(proto_field_is(&rec.diff, "+0.263873386"));
	CHECK(proto_field_is(&rec.id, "kiwi.cs.ucla.edu"));
	CHECK(proto_field_is(&rec.location, "+34.068930-118.445127"));
	CHECK_INT(rec.client_time.sec, 1621464827);
	CHECK_INT(rec.client_time.nsec, 959498503);
	CHECK(!proto_at_parse("AT Alford +0.26 kiwi +1+1 1", 27, &rec));
	CHECK(!proto_at_parse("AT Alford 0.263873386 kiwi +1+1 1", 33, &rec));
	CHECK(!proto_at_parse("AT Alford +0.263873386 kiwi +1+1", 32, &rec));
	CHECK(!proto_at_parse("IAMAT Alford +0.263873386 kiwi +1+1 1", 37, &rec));
	CHECK(!proto_at_parse("AT Alford +0.263873386 kiwi +91+1 1", 35, &rec));
	CHECK(proto_at_parse("AT Alford -12.000000000 kiwi +1+1 1", 35, &rec));
}

/* A peer's record passes only in the one form proto_at_format writes. */
static void test_at_parse_exact(void)
{
	static const char *const refused[] = {
		" AT Alford +0.000000001 kiwi +1+1 1",    /* space before */
		"AT Alford +0.000000001 kiwi +1+1 1 ",    /* space after */
		"AT Alford +0.000000001 kiwi +1+1 1\r",   /* CR after */
		"AT  Alford +0.000000001 kiwi +1+1 1",    /* two spaces */
		"AT Alford\t+0.000000001 kiwi +1+1 1",    /* tab */
		"AT Alford +0.000000001\vkiwi +1+1 1",    /* vertical tab */
		"AT Alford +0.000000001 kiwi\f+1+1 1",    /* form feed */
		"AT Alford +0.000000001 kiwi +1+1\r1",    /* CR between */
		"AT Alford +00.000000001 kiwi +1+1 1",    /* leading zero */
		"AT Alford +012.000000001 kiwi +1+1 1",
		"AT Alford -0.000000000 kiwi +1+1 1",     /* zero is written "+" */
		"AT Alford +0.0000000001 kiwi +1+1 1",    /* ten fraction digits */
		"AT Alford +.000000001 kiwi +1+1 1",
	};
	struct at_record rec;

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		if (proto_at_parse(refused[i], strlen(refused[i]), &rec)) {
			CHECK(!"refused");
			fprintf(stderr, "  accepted: \"%s\"\n", refused[i]);
		}
	}
	CHECK(proto_at_parse("AT Alford +0.000000000 kiwi +1+1 1", 34, &rec));
	CHECK(proto_at_parse("AT Alford -0.000000001 kiwi +1+1 1", 34, &rec));
	CHECK(proto_at_parse("AT Alford +10.000000001 kiwi +1+1 1", 35, &rec));
}

/* Every AT line proto_at_format writes parses back to the same fields. */
static void test_at_format_parses_back(void)
{
	const char *lines[][3] = {
		{ "kiwi", "+34.068930-118.445127", "1621464827.959498503" },
		{ "x", "+0-0", "0" },
		{ "\xff\xfe", "-90+180", "1700000000.5" },
	};
	struct htime now = { 1700000000, 1 };

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct field args[3];
		struct iamat iamat;
		struct at_record rec, back;
		char buf[256];
		size_t n;

		for (size_t k = 0; k < 3; k++) {
			args[k].p = lines[i][k];
			args[k].len = strlen(lines[i][k]);
		}
		CHECK(proto_iamat_parse(args, &iamat));
		n = proto_at_format("Alford", &iamat, now, buf, sizeof(buf), &rec);
		CHECK(n > 0);
		CHECK(proto_at_parse(buf, n, &back));
		CHECK_INT(back.id.len, rec.id.len);
		CHECK_INT(back.diff.len, rec.diff.len);
	}
}

int main(void)
{
	test_time_parse();
	test_time_diff();
	test_coord();
	test_coord_decimal();
	test_split();
	test_iamat();
	test_whatsat();
	test_at_parse();
	test_at_parse_exact();
	test_at_format_parses_back();
	return check_done("test_proto");
}
