/*
 * Unit tests for the line format of state_dir's files: every line round-trips, a
 * changed byte fails its sum, only what the writers write parses, and the herd ID
 * depends on what it should (herd_id, the secret, the set of node names) and nothing
 * else.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "statefmt.h"

/* Parses the line in BUF of LEN bytes with its LF. */
static enum statefmt_line parse(const char *buf, size_t len, struct field *payload,
    struct statefmt_header *h, uint64_t *records)
{
	return statefmt_parse(buf, len - 1, payload, h, records);
}

/* The line of PAYLOAD, as the writers make it, into BUF; its length with the LF. */
static size_t encode(char *buf, const char *payload)
{
	statefmt_line(buf, payload, strlen(payload));
	return statefmt_line_size(strlen(payload));
}

/* The sums are CRC-32C: the standard check value, and both ways of computing it agree. */
static void test_crc32c(void)
{
	unsigned char data[300];
	unsigned seed = 8;

	CHECK(statefmt_crc32c("123456789", 9, false) == 0xe3069283u);
	CHECK(statefmt_crc32c("123456789", 9, true) == 0xe3069283u);
	CHECK(statefmt_crc32c("", 0, false) == 0);
	for (int i = 0; i < 2000; i++) {
		size_t len = (size_t)rand_r(&seed) % sizeof(data);

		for (size_t k = 0; k < len; k++)
			data[k] = (unsigned char)rand_r(&seed);
		if (statefmt_crc32c(data, len, false) != statefmt_crc32c(data, len, true)) {
			CHECK(!"the instruction and the table disagree");
			break;
		}
	}
}

static void test_record_lines(void)
{
	const char *at = "AT Alford +0.250000000 kiwi +34.068930-118.445127 1700000000.25";
	char buf[256];
	struct field payload;
	struct statefmt_header h;
	uint64_t records;
	size_t len = encode(buf, at);

	CHECK_INT(len, 8 + 1 + strlen(at) + 1);
	CHECK(buf[8] == ' ' && buf[len - 1] == '\n');
	CHECK_INT(parse(buf, len, &payload, &h, &records), STATEFMT_RECORD);
	CHECK_INT(payload.len, strlen(at));
	CHECK(memcmp(payload.p, at, payload.len) == 0);

	/* Any one byte of the payload changed: the sum says so. */
	for (size_t i = 9; i < len - 1; i++) {
		char copy[256];

		memcpy(copy, buf, len);
		copy[i] ^= 0x01;
		if (parse(copy, len, &payload, &h, &records) != STATEFMT_BAD_SUM)
			CHECK(!"a changed byte passed its sum");
	}
	/* A sum digit changed (still hex) fails too; a non-hex one is not a sum at all. */
	buf[0] = buf[0] == '0' ? '1' : '0';
	CHECK_INT(parse(buf, len, &payload, &h, &records), STATEFMT_BAD_SUM);
	buf[0] = 'g';
	CHECK_INT(parse(buf, len, &payload, &h, &records), STATEFMT_MALFORMED);
	buf[0] = 'A';
	CHECK_INT(parse(buf, len, &payload, &h, &records), STATEFMT_MALFORMED);
	len = encode(buf, at);
	buf[8] = 'x';
	CHECK_INT(parse(buf, len, &payload, &h, &records), STATEFMT_MALFORMED);
	CHECK_INT(statefmt_parse("0123abcd", 8, &payload, &h, &records), STATEFMT_MALFORMED);
	CHECK_INT(statefmt_parse("", 0, &payload, &h, &records), STATEFMT_MALFORMED);
	/* A good sum over something that is no line of these files. */
	len = encode(buf, "IAMAT kiwi +1+1 1700000000");
	CHECK_INT(parse(buf, len, &payload, &h, &records), STATEFMT_MALFORMED);
}

static void test_header_and_end(void)
{
	struct statefmt_header h = { .kind = STATEFMT_JOURNAL, .gen = 18446744073709551615ULL };
	struct statefmt_header back;
	struct field payload;
	uint64_t records = 0;
	char buf[STATEFMT_META_MAX];
	size_t len;

	strcpy(h.herd, "0123456789abcdef");
	strcpy(h.node, "Alford");
	len = statefmt_header_line(buf, &h);
	CHECK(memcmp(buf + 9, "HERD-STATE 1 journal herd=0123456789abcdef node=Alford "
	    "gen=18446744073709551615\n", len - 9) == 0);
	CHECK_INT(parse(buf, len, &payload, &back, &records), STATEFMT_HEADER);
	CHECK_INT(back.kind, STATEFMT_JOURNAL);
	CHECK_STR(back.herd, "0123456789abcdef");
	CHECK_STR(back.node, "Alford");
	CHECK(back.gen == h.gen);
	h.kind = STATEFMT_SNAPSHOT;
	h.gen = 0;
	len = statefmt_header_line(buf, &h);
	CHECK_INT(parse(buf, len, &payload, &back, &records), STATEFMT_HEADER);
	CHECK_INT(back.kind, STATEFMT_SNAPSHOT);
	CHECK(back.gen == 0);

	len = statefmt_end_line(buf, 1000000);
	CHECK_INT(parse(buf, len, &payload, &back, &records), STATEFMT_END);
	CHECK(records == 1000000);

	/* Only what the writers write: each of these has a good sum and is refused. */
	static const char *const bad[] = {
		"HERD-STATE 2 journal herd=a node=Alford gen=1",
		"HERD-STATE 1 diary herd=a node=Alford gen=1",
		"HERD-STATE 1 journal herd=a node=Alford gen=01",
		"HERD-STATE 1 journal herd=a node=Alford gen=-1",
		"HERD-STATE 1 journal herd=a node=Alford gen=99999999999999999999",
		"HERD-STATE 1 journal herd=a node=Alford gen=1 extra",
		"HERD-STATE 1 journal herd= node=Alford gen=1",
		"HERD-STATE 1 journal herd=a/b node=Alford gen=1",
		"HERD-STATE 1 journal node=Alford herd=a gen=1",
		"HERD-STATE 1 journal herd=a node=Alford  gen=1",
		"HERD-STATE 1 journal herd=a node=Alford gen=",
		("HERD-STATE 1 journal herd=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    " node=Alford gen=1"),
		"END records=",
		"END records=1 more",
		"END  records=1",
		"ENDS records=1",
		"END records=007",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[256];

		len = encode(line, bad[i]);
		if (parse(line, len, &payload, &back, &records) != STATEFMT_MALFORMED)
			CHECK(!"a header or END line the writers never write was accepted");
	}
}

static struct herd_config *herd(const char *text)
{
	struct herd_config *cfg = config_parse("test.conf", text, strlen(text), NULL);

	CHECK(cfg != NULL);
	return cfg;
}

#define NODE_A "[node Alford]\nlisten = 127.0.0.1:1\npeer_listen = 127.0.0.1:2\n"
#define NODE_B "[node Bolden]\nlisten = 127.0.0.1:3\npeer_listen = 127.0.0.1:4\n"
#define NODE_C "[node Hamilton]\nlisten = 127.0.0.1:5\npeer_listen = 127.0.0.1:6\n"

static void test_herd_id(void)
{
	struct herd_config *ab = herd("[herd]\n" NODE_A NODE_B);
	struct herd_config *ba = herd("[herd]\nmax_line = 100\n" NODE_B NODE_A);
	struct herd_config *abc = herd("[herd]\n" NODE_A NODE_B NODE_C);
	struct herd_config *named = herd("[herd]\nherd_id = west-1\n" NODE_A NODE_B);
	const unsigned char s1[] = "correct horse battery staple", s2[] = "another secret";
	char a[STATEFMT_HERD_ID_MAX], b[STATEFMT_HERD_ID_MAX];

	/* Without a secret: the set of node names, whatever their order or other keys. */
	statefmt_herd_id(ab, NULL, 0, a);
	statefmt_herd_id(ba, NULL, 0, b);
	CHECK_INT(strlen(a), 16);
	CHECK_STR(a, b);
	statefmt_herd_id(abc, NULL, 0, b);
	CHECK(strcmp(a, b) != 0);

	/* With one: the secret alone, never shown. */
	statefmt_herd_id(ab, s1, sizeof(s1) - 1, a);
	statefmt_herd_id(abc, s1, sizeof(s1) - 1, b);
	CHECK_STR(a, b);
	CHECK_INT(strlen(a), 16);
	CHECK(strstr(a, "horse") == NULL);
	statefmt_herd_id(ab, s2, sizeof(s2) - 1, b);
	CHECK(strcmp(a, b) != 0);

	/* herd_id as configured wins over both. */
	statefmt_herd_id(named, s1, sizeof(s1) - 1, a);
	CHECK_STR(a, "west-1");
	statefmt_herd_id(named, NULL, 0, a);
	CHECK_STR(a, "west-1");

	config_free(ab);
	config_free(ba);
	config_free(abc);
	config_free(named);
}

int main(void)
{
	test_crc32c();
	test_record_lines();
	test_header_and_end();
	test_herd_id();
	return check_done("test_statefmt");
}
