/* Unit tests for the peer link protocol: parsing, handshake MACs, tie-break, backoff. */
#include <string.h>

#include "check.h"
#include "peerproto.h"

#define NONCE_A "00112233445566778899aabbccddeeff"
#define NONCE_B "ffeeddccbbaa99887766554433221100"
/* Computed independently with Python's hmac module over the documented message. */
#define MAC_ALFORD_PARKER "6e6466ddb21ae28d72dc7515ffa8aaf78cf2b5dcbc4bd8589e10516734093862"
#define MAC_EMPTY_KEY "00627447b36009e49e77772ce72a55f8df577b913f9073ebb3c8a9d5efc3730c"
#define MAC_ALFORD_PARKER_ACCEPTED \
	"18a4e39467b6cb515f67e1db1b67898a98f536e096566731a64759a52a60ee11"

static const char key[] = "correct horse";
#define D PEERPROTO_DIALLED

/* Parses the NUL-ended LINE. */
static struct peer_msg parse(const char *line)
{
	struct peer_msg msg;

	peerproto_parse(line, strlen(line), &msg);
	return msg;
}

static void test_parse_handshake(void)
{
	struct peer_msg m = parse("HELLO herd/3 Alford " NONCE_A);

	CHECK_INT(m.kind, PEER_MSG_HELLO);
	CHECK_MEM(m.version.p, m.version.len, "herd/3");
	CHECK_MEM(m.name.p, m.name.len, "Alford");
	CHECK_MEM(m.nonce.p, m.nonce.len, NONCE_A);
	/* The version is the caller's to judge, so it can say what the peer speaks. */
	m = parse("HELLO herd/9 Alford " NONCE_A);
	CHECK_INT(m.kind, PEER_MSG_HELLO);
	CHECK_MEM(m.version.p, m.version.len, "herd/9");

	CHECK_INT(parse("HELLO herd/3 Alford").kind, PEER_MSG_INVALID);
	CHECK_INT(parse("HELLO herd/3 Alford " NONCE_A " extra").kind, PEER_MSG_INVALID);
	CHECK_INT(parse("HELLO herd/3 Alford 00112233").kind, PEER_MSG_INVALID);
	CHECK_INT(parse("HELLO herd/3 Alford 00112233445566778899AABBCCDDEEFF").kind,
	    PEER_MSG_INVALID);
	CHECK_INT(parse("HELLO herd/3 Alford 00112233445566778899aabbccddeefg").kind,
	    PEER_MSG_INVALID);
	CHECK_INT(parse("HELLO herd/3 "
	    "a-name-of-sixty-four-bytes-is-one-more-than-config-allows-abcdef " NONCE_A).kind,
	    PEER_MSG_INVALID);

	m = parse("AUTH " MAC_ALFORD_PARKER);
	CHECK_INT(m.kind, PEER_MSG_AUTH);
	CHECK_MEM(m.mac.p, m.mac.len, MAC_ALFORD_PARKER);
	CHECK_INT(parse("AUTH").kind, PEER_MSG_INVALID);
	CHECK_INT(parse("AUTH abc").kind, PEER_MSG_INVALID);
	CHECK_INT(parse("AUTH " MAC_ALFORD_PARKER " x").kind, PEER_MSG_INVALID);
}

static void test_parse_records(void)
{
	struct peer_msg m = parse("AT Alford +0.5 kiwi +34-118 1700000000");

	CHECK_INT(m.kind, PEER_MSG_AT);
	CHECK_MEM(m.record.p, m.record.len, "AT Alford +0.5 kiwi +34-118 1700000000");
	/* Surrounding white space stays in the record, so that proto_at_parse refuses it. */
	m = parse(" AT Alford +0.5 kiwi +34-118 1700000000 \r");
	CHECK_INT(m.kind, PEER_MSG_AT);
	CHECK_MEM(m.record.p, m.record.len, " AT Alford +0.5 kiwi +34-118 1700000000 \r");
	m = parse("SYNC  AT Bolden -1.000000000 k +1+2 5");
	CHECK_INT(m.kind, PEER_MSG_SYNC);
	CHECK_MEM(m.record.p, m.record.len, " AT Bolden -1.000000000 k +1+2 5");
	m = parse("SYNC\tAT Bolden -1.000000000 k +1+2 5");
	CHECK_INT(m.kind, PEER_MSG_SYNC);
	CHECK_MEM(m.record.p, m.record.len, "\tAT Bolden -1.000000000 k +1+2 5");

	m = parse("SYNC AT Bolden -1.000000000 k +1+2 5");
	CHECK_INT(m.kind, PEER_MSG_SYNC);
	CHECK_MEM(m.record.p, m.record.len, "AT Bolden -1.000000000 k +1+2 5");
	CHECK_INT(parse("SYNC").kind, PEER_MSG_INVALID);
	CHECK_INT(parse("SYNC IAMAT k +1+2 5").kind, PEER_MSG_INVALID);

	m = parse("SYNC-BEGIN 12");
	CHECK_INT(m.kind, PEER_MSG_SYNC_BEGIN);
	CHECK_INT(m.count, 12);
	m = parse("SYNC-END 18446744073709551615");
	CHECK_INT(m.kind, PEER_MSG_INVALID);
	m = parse("SYNC-END 1844674407370955161");
	CHECK_INT(m.kind, PEER_MSG_SYNC_END);
	CHECK(m.count == 1844674407370955161ULL);
	CHECK_INT(parse("SYNC-BEGIN").kind, PEER_MSG_INVALID);
	CHECK_INT(parse("SYNC-BEGIN -1").kind, PEER_MSG_INVALID);
	CHECK_INT(parse("SYNC-BEGIN 1 2").kind, PEER_MSG_INVALID);
}

static void test_parse_other(void)
{
	CHECK_INT(parse("PING").kind, PEER_MSG_PING);
	CHECK_INT(parse("PONG").kind, PEER_MSG_PONG);
	CHECK_INT(parse("PING now").kind, PEER_MSG_INVALID);
	CHECK_INT(parse("ping").kind, PEER_MSG_UNKNOWN);
	CHECK_INT(parse("GOSSIP a b c").kind, PEER_MSG_UNKNOWN);
	CHECK_INT(parse("").kind, PEER_MSG_INVALID);
	CHECK_INT(parse(" \t ").kind, PEER_MSG_INVALID);
	CHECK_STR(peerproto_kind_name(PEER_MSG_SYNC_BEGIN), "SYNC-BEGIN");
	CHECK_STR(peerproto_kind_name(PEER_MSG_AT), "AT");
}

#define BINDING_1 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define BINDING_2 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeef0"

static void test_mac(void)
{
	char mac[PEERPROTO_MAC_HEX + 1];
	char upper[PEERPROTO_MAC_HEX + 1];

	CHECK(peerproto_auth_mac(key, strlen(key), "Alford", "Parker", NONCE_A, NONCE_B, D,
	    NULL, mac));
	CHECK_STR(mac, MAC_ALFORD_PARKER);
	CHECK(peerproto_auth_verify(key, strlen(key), "Alford", "Parker", NONCE_A, NONCE_B, D,
	    NULL, mac,
	    strlen(mac)));

	/* Reflected to its author, the names and nonces come in the other order. */
	CHECK(!peerproto_auth_verify(key, strlen(key), "Parker", "Alford", NONCE_B, NONCE_A, D,
	    NULL, mac,
	    strlen(mac)));
	CHECK(!peerproto_auth_verify(key, strlen(key), "Alford", "Parker", NONCE_B, NONCE_A, D,
	    NULL, mac,
	    strlen(mac)));
	CHECK(!peerproto_auth_verify(key, strlen(key), "Alford", "Powell", NONCE_A, NONCE_B, D,
	    NULL, mac,
	    strlen(mac)));
	CHECK(!peerproto_auth_verify("correct horsf", strlen(key), "Alford", "Parker", NONCE_A,
	    NONCE_B, D, NULL, mac, strlen(mac)));
	CHECK(!peerproto_auth_verify(key, strlen(key), "Alford", "Parker", NONCE_A, NONCE_B, D,
	    NULL, mac,
	    strlen(mac) - 1));
	for (size_t i = 0; i <= PEERPROTO_MAC_HEX; i++)
		upper[i] = (char)(mac[i] >= 'a' && mac[i] <= 'f' ? mac[i] - 'a' + 'A' : mac[i]);
	CHECK(!peerproto_auth_verify(key, strlen(key), "Alford", "Parker", NONCE_A, NONCE_B, D,
	    NULL, upper, strlen(upper)));

	/* The sender's end of the connection is in the MAC: a relay between two nodes that
	 * both accepted its connections hands each a MAC made as the accepting end. */
	CHECK(peerproto_auth_mac(key, strlen(key), "Alford", "Parker", NONCE_A, NONCE_B,
	    PEERPROTO_ACCEPTED, NULL, mac));
	CHECK_STR(mac, MAC_ALFORD_PARKER_ACCEPTED);
	CHECK(!peerproto_auth_verify(key, strlen(key), "Alford", "Parker", NONCE_A, NONCE_B, D,
	    NULL, mac, strlen(mac)));

	/* A loopback herd without a secret still runs the handshake, with an empty key. */
	CHECK(peerproto_auth_mac("", 0, "Alford", "Parker", NONCE_A, NONCE_B, D, NULL, mac));
	CHECK_STR(mac, MAC_EMPTY_KEY);
	CHECK(peerproto_auth_verify(NULL, 0, "Alford", "Parker", NONCE_A, NONCE_B, D, NULL, mac,
	    strlen(mac)));
	CHECK(!peerproto_auth_verify(key, strlen(key), "Alford", "Parker", NONCE_A, NONCE_B, D,
	    NULL, mac, strlen(mac)));

	/* On TLS the channel's exporter value is in the MAC: "" is no binding, another one
	 * (a second channel a relay opened) does not verify. */
	CHECK(peerproto_auth_mac(key, strlen(key), "Alford", "Parker", NONCE_A, NONCE_B, D, "",
	    mac));
	CHECK_STR(mac, MAC_ALFORD_PARKER);
	CHECK(peerproto_auth_mac(key, strlen(key), "Alford", "Parker", NONCE_A, NONCE_B, D,
	    BINDING_1, mac));
	CHECK(strcmp(mac, MAC_ALFORD_PARKER) != 0);
	CHECK(peerproto_auth_verify(key, strlen(key), "Alford", "Parker", NONCE_A, NONCE_B, D,
	    BINDING_1, mac, strlen(mac)));
	CHECK(!peerproto_auth_verify(key, strlen(key), "Alford", "Parker", NONCE_A, NONCE_B, D,
	    BINDING_2, mac, strlen(mac)));
	CHECK(!peerproto_auth_verify(key, strlen(key), "Alford", "Parker", NONCE_A, NONCE_B, D,
	    NULL, mac, strlen(mac)));
}

static void test_nonce(void)
{
	char a[PEERPROTO_NONCE_HEX + 1], b[PEERPROTO_NONCE_HEX + 1];
	char line[80];
	struct peer_msg m;

	CHECK(peerproto_nonce(a));
	CHECK(peerproto_nonce(b));
	CHECK_INT(strlen(a), PEERPROTO_NONCE_HEX);
	CHECK(strcmp(a, b) != 0);
	/* A nonce is what HELLO accepts. */
	snprintf(line, sizeof(line), "HELLO herd/3 Alford %s", a);
	m = parse(line);
	CHECK_INT(m.kind, PEER_MSG_HELLO);
}

/* Both ends must close the same link, whatever order they see the two in. */
static void test_keep_new_link(void)
{
	static const char *names[][2] = {
		{ "Alford", "Parker" }, { "Parker", "Alford" }, { "Bolden", "Powell" },
		{ "a", "ab" }, { "Zed", "alpha" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *x = names[i][0], *y = names[i][1];
		/* Link 1 dialled by X, link 2 dialled by Y. At X link 1 is outbound. */
		bool x_keeps_2_after_1 = peerproto_keep_new_link(x, y, true, false);
		bool x_keeps_1_after_2 = peerproto_keep_new_link(x, y, false, true);
		bool y_keeps_2_after_1 = peerproto_keep_new_link(y, x, false, true);
		bool y_keeps_1_after_2 = peerproto_keep_new_link(y, x, true, false);
		bool link1_survives = strcmp(x, y) < 0;

		CHECK(x_keeps_2_after_1 == !link1_survives);
		CHECK(x_keeps_1_after_2 == link1_survives);
		CHECK(y_keeps_2_after_1 == !link1_survives);
		CHECK(y_keeps_1_after_2 == link1_survives);
	}
	/* Two links dialled by the same side: the newer stays. */
	CHECK(peerproto_keep_new_link("Alford", "Parker", true, true));
	CHECK(peerproto_keep_new_link("Alford", "Parker", false, false));
}

static void test_backoff(void)
{
	uint32_t cap = 5000, previous_low = 0;

	/* The first retry comes within 250 ms, whatever the jitter. */
	CHECK_INT(peerproto_backoff_ms(0, cap, 0), 100);
	CHECK_INT(peerproto_backoff_ms(0, cap, 100), 200);
	CHECK_INT(peerproto_backoff_ms(0, cap, UINT32_MAX), 100 + UINT32_MAX % 101);
	for (uint32_t r = 0; r < 1000; r++) {
		uint32_t d = peerproto_backoff_ms(0, cap, r * 7919u);

		CHECK(d >= 100 && d <= 200);
	}
	/* Doubling steps, half fixed and half jitter, until the cap. */
	CHECK_INT(peerproto_backoff_ms(1, cap, 0), 200);
	CHECK_INT(peerproto_backoff_ms(1, cap, 200), 400);
	CHECK_INT(peerproto_backoff_ms(3, cap, 0), 800);
	CHECK_INT(peerproto_backoff_ms(3, cap, 800), 1600);
	for (unsigned attempt = 0; attempt < 70; attempt++) {
		uint32_t low = peerproto_backoff_ms(attempt, cap, 0);
		uint32_t high = peerproto_backoff_ms(attempt, cap, UINT32_MAX);

		CHECK(low >= previous_low);
		CHECK(high <= cap);
		CHECK(low <= high);
		previous_low = low;
	}
	CHECK_INT(peerproto_backoff_ms(1000, cap, 0), 2500);
	CHECK_INT(peerproto_backoff_ms(1000, cap, 2500), 5000);
	CHECK_INT(peerproto_backoff_ms(40, 3600000, 0), 1800000);
	/* A cap below the first step caps the first step too. */
	CHECK_INT(peerproto_backoff_ms(0, 100, 50), 100);
}

int main(void)
{
	test_parse_handshake();
	test_parse_records();
	test_parse_other();
	test_mac();
	test_nonce();
	test_keep_new_link();
	test_backoff();
	return check_done("peerproto");
}
