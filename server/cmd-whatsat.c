/* WHATSAT: the stored AT line of a client and what Places knows near it. */
#include <stdlib.h>

#include <event2/buffer.h>

#include "client.h"
#include "cmd.h"
#include "herdd.h"
#include "log.h"
#include "places.h"
#include "places_json.h"
#include "stats.h"
#include "table.h"

/* Ends the reply with the JSON part and two newlines. */
static void whatsat_finish(struct reply *slot, const char *json, size_t len)
{
	struct evbuffer *buf = reply_buffer(slot);

	evbuffer_add(buf, json, len);
	evbuffer_add(buf, "\n\n", 2);
	reply_complete(slot);
}

static void whatsat_done(const char *json, size_t len, void *arg)
{
	whatsat_finish(arg, json, len);
}

static void whatsat_cancel(void *arg)
{
	places_cancel(arg);
}

/* Finishes SLOT at once with the UNKNOWN_ERROR object saying MESSAGE. */
static void whatsat_fail(struct reply *slot, const char *message)
{
	size_t len = 0;
	char *json = places_json_error(message, &len);

	if (json == NULL)
		fatalx("event=whatsat_failed error=\"out of memory\"");
	whatsat_finish(slot, json, len);
	free(json);
}

static bool cmd_whatsat_exec(struct client *c, const struct field *args, struct htime read_at)
{
	struct whatsat whatsat;
	const struct record *rec;
	struct reply *slot;
	struct places_request req;
	struct places_wait *wait;
	char latitude[COORD_DECIMAL_MAX + 1], longitude[COORD_DECIMAL_MAX + 1];

	if (!proto_whatsat_parse(args, &whatsat))
		return false;
	rec = table_get(herdd.table, whatsat.id.p, whatsat.id.len);
	if (rec == NULL)
		return false;
	stats.cmd_whatsat++;

	slot = client_reply_defer(c);
	if (slot == NULL) {
		log_warnx("event=whatsat_failed conn=%llu error=\"out of memory\"",
		    (unsigned long long)client_id(c));
		return true;
	}
	/* The reply shows the record as it was when the command was read. */
	evbuffer_add(reply_buffer(slot), rec->line, rec->len);
	evbuffer_add(reply_buffer(slot), "\n", 1);

	coord_decimal(rec->location.p, rec->coord.split, latitude);
	coord_decimal(rec->location.p + rec->coord.split, rec->location.len - rec->coord.split,
	    longitude);
	req.latitude = latitude;
	req.longitude = longitude;
	req.radius_metres = whatsat.radius_metres;
	req.bound = whatsat.bound;
	wait = places_search(herdd.places, &req, whatsat_done, slot);
	if (wait == NULL) {
		whatsat_fail(slot, "out of memory");
		return true;
	}
	reply_set_cancel(slot, whatsat_cancel, wait);
	return true;
}

const struct cmd_entry cmd_whatsat_entry = {
	.name = "WHATSAT",
	.nargs = 3,
	.exec = cmd_whatsat_exec,
};
