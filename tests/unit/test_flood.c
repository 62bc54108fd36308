/*
 * Unit tests for the flood decisions: what is stored, what is passed on and to whom, what
 * stops, and how the counters move. The peer links are replaced by a recorder.
 */
#include <string.h>

#include "check.h"
#include "config.h"
#include "flood.h"
#include "herdd.h"
#include "peer.h"
#include "state.h"
#include "stats.h"
#include "table.h"

struct herdd herdd;

/* What the last peers_flood call was asked to send. */
static struct {
	int calls;
	char line[512];
	const struct peer *except;
} sent;

#define LINKED_NEIGHBOURS 2

/* What state.c was given to journal: every stored record, and only those. */
static struct {
	int calls;
	char line[512];
} journaled;

void state_append(const struct record *rec)
{
	journaled.calls++;
	snprintf(journaled.line, sizeof(journaled.line), "%s", record_line(rec));
}

size_t peers_flood(const struct record *rec, const struct peer *except)
{
	sent.calls++;
	snprintf(sent.line, sizeof(sent.line), "%s", record_line(rec));
	sent.except = except;
	return LINKED_NEIGHBOURS;
}

/* Two distinct neighbours; flood.c only compares and passes these pointers on. */
static char neighbour_a, neighbour_b;
#define FROM_A ((const struct peer *)(const void *)&neighbour_a)
#define FROM_B ((const struct peer *)(const void *)&neighbour_b)

static enum flood_result receive(const struct peer *from, const char *line, bool sync)
{
	return flood_receive(from, line, strlen(line), sync, htime_now());
}

/* The line the table holds for ID, or "" if none. */
static const char *stored_line(const char *id)
{
	const struct record *r = table_get(herdd.table, id, strlen(id));

	return r != NULL ? record_line(r) : "";
}

/* The herd the records come from: flood.c refuses records of nodes outside it. */
static const char herd_conf[] =
	"[herd]\n"
	"[node Alford]\nlisten = 127.0.0.1:1\npeer_listen = 127.0.0.1:2\n"
	"[node Bolden]\nlisten = 127.0.0.1:3\npeer_listen = 127.0.0.1:4\n"
	"[node Hamilton]\nlisten = 127.0.0.1:5\npeer_listen = 127.0.0.1:6\n"
	"[node Powell]\nlisten = 127.0.0.1:7\npeer_listen = 127.0.0.1:8\n";

static void reset(void)
{
	if (herdd.config == NULL)
		herdd.config = config_parse("test.conf", herd_conf, strlen(herd_conf), NULL);
	flood_set_fanout(peers_flood);
	table_free(herdd.table);
	herdd.table = table_new_keyed(1, 2);
	memset(&stats, 0, sizeof(stats));
	memset(&sent, 0, sizeof(sent));
	memset(&journaled, 0, sizeof(journaled));
}

static void test_newer_is_stored_and_passed_on(void)
{
	const char *line = "AT Alford +0.500000000 kiwi +34.068930-118.445127 1700000000.5";

	reset();
	CHECK_INT(receive(FROM_A, line, false), FLOOD_STORED);
	CHECK_STR(stored_line("kiwi"), line);
	CHECK_INT(sent.calls, 1);
	CHECK_STR(sent.line, line);
	CHECK(sent.except == FROM_A);
	CHECK_INT(stats.flood_received, 1);
	CHECK_INT(stats.flood_forwarded, LINKED_NEIGHBOURS);
	CHECK_INT(stats.flood_stale_dropped, 0);
	CHECK_INT(journaled.calls, 1);
	CHECK_STR(journaled.line, line);

	/* The same record again, from anyone: it stops. */
	CHECK_INT(receive(FROM_B, line, false), FLOOD_STALE);
	CHECK_INT(sent.calls, 1);
	CHECK_INT(journaled.calls, 1);
	CHECK_INT(stats.flood_received, 2);
	CHECK_INT(stats.flood_stale_dropped, 1);

	/* An older one stops too and changes nothing. */
	CHECK_INT(receive(FROM_B, "AT Bolden +9.000000000 kiwi +1+2 1699999999", false),
	    FLOOD_STALE);
	CHECK_STR(stored_line("kiwi"), line);
	CHECK_INT(sent.calls, 1);
	CHECK_INT(stats.flood_stale_dropped, 2);

	/* A newer one replaces it, byte for byte as its receiving node wrote it. */
	CHECK_INT(receive(FROM_B, "AT Bolden -0.000000001 kiwi +1+2 1700000000.500000001", false),
	    FLOOD_STORED);
	CHECK_STR(stored_line("kiwi"), "AT Bolden -0.000000001 kiwi +1+2 1700000000.500000001");
	CHECK_INT(journaled.calls, 2);
	CHECK_STR(journaled.line, "AT Bolden -0.000000001 kiwi +1+2 1700000000.500000001");
	CHECK(sent.except == FROM_B);
	CHECK_INT(stats.flood_forwarded, 2 * LINKED_NEIGHBOURS);
}

/* Equal client times: the greater line wins on every node, in whatever order they arrive. */
static void test_equal_times_settle_on_one_record(void)
{
	const char *low = "AT Alford +1.000000000 kiwi +10+10 1700000000";
	const char *high = "AT Bolden +1.000000000 kiwi +10+10 1700000000";

	reset();
	CHECK_INT(receive(FROM_A, low, false), FLOOD_STORED);
	CHECK_INT(receive(FROM_B, high, false), FLOOD_STORED);
	CHECK_STR(stored_line("kiwi"), high);
	reset();
	CHECK_INT(receive(FROM_B, high, false), FLOOD_STORED);
	CHECK_INT(receive(FROM_A, low, false), FLOOD_STALE);
	CHECK_STR(stored_line("kiwi"), high);
}

static void test_invalid_records_change_nothing(void)
{
	static const char *bad[] = {
		"AT Alford +1.000000000 kiwi +91+0 1700000000",
		"AT Alford 1.000000000 kiwi +10+10 1700000000",
		"AT Alford +1.000000000 kiwi +10+10",
		"AT Alford +1.000000000 kiwi +10+10 -5",
		"IAMAT kiwi +10+10 1700000000",
	};

	reset();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(receive(FROM_A, bad[i], false), FLOOD_INVALID);
		CHECK_INT(receive(FROM_A, bad[i], true), FLOOD_INVALID);
	}
	CHECK_INT(table_count(herdd.table), 0);
	CHECK_INT(sent.calls, 0);
	CHECK_INT(journaled.calls, 0);
}

/* A sync record that is newer is passed on like a flooded one, so it reaches the nodes behind. */
static void test_sync_records(void)
{
	const char *line = "AT Powell +0.000000000 fig +1+1 1700000001";

	reset();
	CHECK_INT(receive(FROM_A, line, true), FLOOD_STORED);
	CHECK_INT(sent.calls, 1);
	CHECK(sent.except == FROM_A);
	CHECK_INT(stats.sync_records_received, 1);
	CHECK_INT(stats.flood_received, 0);
	CHECK_INT(stats.flood_forwarded, LINKED_NEIGHBOURS);
	CHECK_INT(journaled.calls, 1);

	/* Most records of a sync are known already: counted as received, not as stale floods. */
	CHECK_INT(receive(FROM_B, line, true), FLOOD_STALE);
	CHECK_INT(stats.sync_records_received, 2);
	CHECK_INT(stats.flood_stale_dropped, 0);
	CHECK_INT(sent.calls, 1);
}

static void test_originate(void)
{
	const struct record *stored;
	struct at_record rec;
	const char *line = "AT Hamilton +0.100000000 plum +5+5 1700000002";

	reset();
	CHECK(proto_at_parse(line, strlen(line), &rec));
	CHECK_INT(table_offer(herdd.table, &rec, &stored), TABLE_STORED_NEW);
	flood_originate(stored);
	CHECK_INT(stats.flood_originated, 1);
	CHECK_INT(sent.calls, 1);
	CHECK(sent.except == NULL);
	CHECK_STR(sent.line, line);
}

/* The sync walk learns when the table grew under it, so it can start over. */
static void test_sync_walk_notices_growth(void)
{
	struct table_iter it;
	char line[128];
	size_t seen = 0;

	reset();
	for (int i = 0; i < 10; i++) {
		snprintf(line, sizeof(line), "AT Alford +0.000000000 c%d +1+1 1700000000", i);
		CHECK_INT(receive(FROM_A, line, false), FLOOD_STORED);
	}
	table_iter_init(&it, herdd.table);
	CHECK(!table_iter_stale(&it));
	CHECK(table_iter_next(&it) != NULL);
	/* An update in place keeps the layout. */
	CHECK_INT(receive(FROM_A, "AT Alford +0.000000000 c1 +1+1 1700000001", false),
	    FLOOD_STORED);
	CHECK(!table_iter_stale(&it));
	for (int i = 10; i < 1000; i++) {
		snprintf(line, sizeof(line), "AT Alford +0.000000000 c%d +1+1 1700000000", i);
		receive(FROM_A, line, false);
	}
	CHECK(table_iter_stale(&it));
	table_iter_init(&it, herdd.table);
	CHECK(!table_iter_stale(&it));
	while (table_iter_next(&it) != NULL)
		seen++;
	CHECK_INT(seen, 1000);
}

/* Only what a node of the herd wrote, in its one written form, and not from the future. */
static void test_peer_records_refused(void)
{
	char future[128];
	static const char *const malformed[] = {
		"AT Alford  +0.000000000 kiwi +1+1 1700000000",
		"AT Alford\t+0.000000000 kiwi +1+1 1700000000",
		"AT Alford +0.000000000 kiwi\v+1+1 1700000000",
		"AT Alford +0.000000000 kiwi +1+1 1700000000\r",
		"AT Alford +00.000000000 kiwi +1+1 1700000000",
	};

	reset();
	CHECK_INT(receive(FROM_A, "AT Nowhere +0.000000000 kiwi +1+1 1700000000", false),
	    FLOOD_UNKNOWN_SERVER);
	CHECK_INT(receive(FROM_A, "AT Alfor +0.000000000 kiwi +1+1 1700000000", false),
	    FLOOD_UNKNOWN_SERVER);
	CHECK_INT(receive(FROM_A, "AT \xff\xfe +0.000000000 kiwi +1+1 1700000000", false),
	    FLOOD_UNKNOWN_SERVER);
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
		CHECK_INT(receive(FROM_A, malformed[i], false), FLOOD_INVALID);
	herdd.config->max_clock_skew = 60;
	snprintf(future, sizeof(future), "AT Alford -100.000000000 kiwi +1+1 %lld",
	    (long long)htime_now().sec + 100);
	CHECK_INT(receive(FROM_A, future, false), FLOOD_FUTURE);
	snprintf(future, sizeof(future), "AT Alford -30.000000000 kiwi +1+1 %lld",
	    (long long)htime_now().sec + 30);
	CHECK_INT(receive(FROM_A, future, false), FLOOD_STORED);
	herdd.config->max_clock_skew = 86400;
	/* What no node writes (SYNC would make it longer than a peer line) goes too. */
	{
		char line[8192];
		int n = snprintf(line, sizeof(line), "AT Alford +0.000000000 long +");

		memset(line + n, '0', 4096 + 507 - (size_t)n - 19);
		n = 4096 + 507 - 19;
		n += snprintf(line + n, sizeof(line) - (size_t)n, "1-118.25 1700000000");
		line[n] = '\0';
		CHECK_INT(receive(FROM_A, line, false), FLOOD_STORED);
		memmove(line + 30, line + 29, (size_t)n - 28);
		CHECK_INT(receive(FROM_A, line, false), FLOOD_TOO_LONG);
	}
	CHECK_INT(stats.peer_records_refused, 10);
	CHECK_INT(sent.calls, 2);
	CHECK(flood_refusal(FLOOD_FUTURE) != NULL);
	CHECK(flood_refusal(FLOOD_STORED) == NULL);

	/* At max_clients, known clients still change and new ones are refused. */
	reset();
	table_set_limit(herdd.table, 1);
	CHECK_INT(receive(FROM_A, "AT Alford +0.000000000 kiwi +1+1 1700000000", false),
	    FLOOD_STORED);
	CHECK_INT(receive(FROM_A, "AT Alford +0.000000000 plum +1+1 1700000000", false),
	    FLOOD_FULL);
	CHECK_INT(receive(FROM_A, "AT Alford +0.000000000 kiwi +1+1 1700000001", false),
	    FLOOD_STORED);
	CHECK_INT(stats.clients_refused, 1);
	CHECK_INT(table_count(herdd.table), 1);
}

int main(void)
{
	test_newer_is_stored_and_passed_on();
	test_equal_times_settle_on_one_record();
	test_invalid_records_change_nothing();
	test_sync_records();
	test_originate();
	test_sync_walk_notices_growth();
	test_peer_records_refused();
	table_free(herdd.table);
	config_free(herdd.config);
	return check_done("flood");
}
