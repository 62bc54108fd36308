/*
 * Unit tests of the client commands through cmd_run, with a fake connection: every
 * command, every way a line gets "? ", the AT reply written in place, and a WHATSAT
 * that waits for a (fake) Places and completes its slot later, or is cancelled.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "check.h"
#include "cmd.h"
#include "config.h"
#include "flood.h"
#include "herdd.h"
#include "peer.h"
#include "places.h"
#include "reply.h"
#include "state.h"
#include "stats.h"
#include "table.h"

struct herdd herdd;

static const char herd_conf[] =
	"[herd]\n"
	"max_clock_skew = 60\n"
	"[node Alford]\nlisten = 127.0.0.1:1\npeer_listen = 127.0.0.1:2\n";

/* Fake links: flood.c's fan-out is only counted. */
static int floods;

size_t peers_flood(const struct record *rec, const struct peer *except)
{
	floods++;
	return 0;
}

/* Records given to state.c for the journal: each newer one. */
static int journaled;

void state_append(const struct record *rec)
{
	journaled++;
}

/* Fake reply slots, as client.c's. */
struct reply {
	struct evbuffer *buf;
	bool complete;
	void (*cancel)(void *);
	void *cancel_arg;
};

static struct reply slots[4];
static int nslots;

static struct reply *fake_defer(struct cmd_conn *conn)
{
	struct reply *r = &slots[nslots++];

	r->buf = evbuffer_new();
	return r;
}

struct evbuffer *reply_buffer(struct reply *r)
{
	return r->buf;
}

void reply_complete(struct reply *r)
{
	r->complete = true;
}

void reply_set_cancel(struct reply *r, void (*cancel)(void *), void *arg)
{
	r->cancel = cancel;
	r->cancel_arg = arg;
}

/* A fake Places: remembers the search and its callback. */
static struct {
	int searches, cancels;
	struct places_request req;
	char latitude[32], longitude[32], radius[40];
	places_done_cb done;
	void *arg;
} places;
static char wait_token;

struct places_wait *places_search(struct places *p, const struct places_request *req,
    places_done_cb done, void *arg)
{
	places.searches++;
	snprintf(places.latitude, sizeof(places.latitude), "%s", req->latitude);
	snprintf(places.longitude, sizeof(places.longitude), "%s", req->longitude);
	snprintf(places.radius, sizeof(places.radius), "%s", req->radius_metres);
	places.req = *req;
	places.done = done;
	places.arg = arg;
	return (struct places_wait *)(void *)&wait_token;
}

void places_cancel(struct places_wait *w)
{
	if (w == (struct places_wait *)(void *)&wait_token)
		places.cancels++;
}

static struct cmd_conn conn = { 7, fake_defer };
static struct evbuffer *out;
static const struct htime read_at = { 1700000000, 500000000 };

/* Runs LINE; returns what cmd_run said, with the reply (as a string) in *REPLY. */
static enum cmd_retval run(const char *line, char **reply)
{
	enum cmd_retval rv;
	size_t len;

	evbuffer_drain(out, evbuffer_get_length(out));
	rv = cmd_run(&conn, line, strlen(line), read_at, out);
	len = evbuffer_get_length(out);
	*reply = malloc(len + 1);
	evbuffer_remove(out, *reply, len);
	(*reply)[len] = '\0';
	return rv;
}

/* LINE gets "? LINE\n", and nothing changes. */
static void check_invalid(const char *line)
{
	char *reply, want[512];
	uint64_t invalid = stats.cmd_invalid;

	snprintf(want, sizeof(want), "? %s\n", line);
	CHECK_INT(run(line, &reply), CMD_INVALID);
	CHECK_STR(reply, want);
	CHECK_INT(stats.cmd_invalid, invalid + 1);
	free(reply);
}

static void test_iamat(void)
{
	char *reply;

	CHECK_INT(run("IAMAT kiwi +34.068930-118.445127 1700000000.25", &reply), CMD_DONE);
	CHECK_STR(reply, "AT Alford +0.250000000 kiwi +34.068930-118.445127 1700000000.25\n");
	CHECK_INT(stats.cmd_iamat, 1);
	CHECK_INT(floods, 1);
	CHECK_INT(journaled, 1);
	CHECK(table_get(herdd.table, "kiwi", 4) != NULL);
	free(reply);
	/* An older report is answered as it is, and changes nothing. */
	CHECK_INT(run("IAMAT kiwi +1+1 1600000000", &reply), CMD_DONE);
	CHECK_STR(reply, "AT Alford +100000000.500000000 kiwi +1+1 1600000000\n");
	CHECK_INT(floods, 1);
	CHECK_INT(journaled, 1);
	CHECK_STR(strstr(record_line(table_get(herdd.table, "kiwi", 4)), " +34") + 1,
	    "+34.068930-118.445127 "
	    "1700000000.25");
	free(reply);
	/* White space of every kind between fields, CRLF: the reply keeps the client's bytes. */
	CHECK_INT(run("\tIAMAT  plum\v+1+2\f1700000000\r", &reply), CMD_DONE);
	CHECK_STR(reply, "AT Alford +0.500000000 plum +1+2 1700000000\n");
	free(reply);
}

static void test_invalid(void)
{
	char *reply;

	check_invalid("iamat kiwi +1+1 1");                       /* commands are case-sensitive */
	check_invalid("HELLO");
	check_invalid("AT Alford +0.000000000 kiwi +1+1 1");      /* clients may not speak for nodes */
	check_invalid("IAMAT kiwi +1+1");                         /* too few fields */
	check_invalid("IAMAT kiwi +1+1 1 extra");                 /* too many */
	check_invalid("IAMAT kiwi 34-118 1");                     /* location */
	check_invalid("IAMAT kiwi +91+0 1");
	check_invalid("IAMAT kiwi +1+1 -5");                      /* time */
	check_invalid("IAMAT kiwi +1+1 1700000100");              /* more than max_clock_skew ahead */
	check_invalid("WHATSAT kiwi 0 5");                        /* radius */
	check_invalid("WHATSAT kiwi 51 5");
	check_invalid("WHATSAT kiwi 10 21");                      /* bound */
	check_invalid("WHATSAT nobody 10 5");                     /* unknown client */
	check_invalid("WHATSAT kiwi 10");
	/* At max_clients a new ID is refused, a known one still moves. */
	table_set_limit(herdd.table, table_count(herdd.table));
	check_invalid("IAMAT newcomer +1+1 1700000000");
	CHECK_INT(run("IAMAT plum +3+3 1700000001", &reply), CMD_DONE);
	free(reply);
	table_set_limit(herdd.table, 1000);
	/* An empty line: no reply at all. */
	CHECK_INT(run(" \t\r", &reply), CMD_EMPTY);
	CHECK_STR(reply, "");
	free(reply);
	CHECK_INT(stats.cmd_invalid, 15);
}

static void test_whatsat_waits(void)
{
	char *reply;
	const struct record *rec = table_get(herdd.table, "kiwi", 4);

	CHECK_INT(run("WHATSAT kiwi 10 5", &reply), CMD_WAIT);
	CHECK_STR(reply, "");
	free(reply);
	CHECK_INT(stats.cmd_whatsat, 1);
	CHECK_INT(nslots, 1);
	CHECK_INT(places.searches, 1);
	CHECK_STR(places.latitude, "34.068930");
	CHECK_STR(places.longitude, "-118.445127");
	CHECK_STR(places.radius, "10000");
	CHECK_INT(places.req.bound, 5);
	/* The slot holds the stored AT line until Places answers. */
	CHECK(!slots[0].complete);
	CHECK(slots[0].cancel != NULL);
	CHECK_INT(evbuffer_get_length(slots[0].buf), rec->len + 1);
	places.done("{\"results\": []}", 15, places.arg);
	CHECK(slots[0].complete);
	{
		size_t len = evbuffer_get_length(slots[0].buf);
		char *text = malloc(len + 1);

		evbuffer_remove(slots[0].buf, text, len);
		text[len] = '\0';
		CHECK(strncmp(text, record_line(rec), record_len(rec)) == 0);
		CHECK_STR(text + record_len(rec), "\n{\"results\": []}\n\n");
		free(text);
	}

	/* A connection gone before the answer cancels the search. */
	CHECK_INT(run("WHATSAT plum 0.5 20", &reply), CMD_WAIT);
	free(reply);
	CHECK_STR(places.radius, "500");
	slots[1].cancel(slots[1].cancel_arg);
	CHECK_INT(places.cancels, 1);
}

int main(void)
{
	herdd.config = config_parse("test.conf", herd_conf, strlen(herd_conf), NULL);
	herdd.self = &herdd.config->nodes[0];
	herdd.table = table_new_keyed(1, 2);
	flood_set_fanout(peers_flood);
	out = evbuffer_new();
	test_iamat();
	test_invalid();
	test_whatsat_waits();
	for (int i = 0; i < nslots; i++)
		evbuffer_free(slots[i].buf);
	evbuffer_free(out);
	table_free(herdd.table);
	config_free(herdd.config);
	return check_done("cmd");
}
