/* WHATSAT: the stored AT line of a client and what Places knows near it. */
#include <event2/buffer.h>

#include "cmd.h"
#include "herdd.h"
#include "places.h"
#include "reply.h"
#include "stats.h"
#include "table.h"

/* Ends the reply with the JSON part and two newlines. */
static void whatsat_done(const char *json, size_t len, void *arg)
{
	struct reply *slot = arg;
	struct evbuffer *buf = reply_buffer(slot);

	evbuffer_add(buf, json, len);
	evbuffer_add(buf, "\n\n", 2);
	reply_complete(slot);
}

static void whatsat_cancel(void *arg)
{
	places_cancel(arg);
}

static enum cmd_retval cmd_whatsat_exec(struct cmd_conn *conn, const struct field *args,
    struct htime read_at, struct evbuffer *out)
{
	struct whatsat whatsat;
	const struct record *rec;
	struct reply *slot;
	struct places_request req;
	struct places_wait *search;
	struct at_record fields;
	char latitude[COORD_DECIMAL_MAX + 1], longitude[COORD_DECIMAL_MAX + 1];

	if (!proto_whatsat_parse(args, &whatsat))
		return CMD_INVALID;
	rec = table_get(herdd.table, whatsat.id.p, whatsat.id.len);
	if (rec == NULL)
		return CMD_INVALID;
	stats.cmd_whatsat++;

	slot = conn->defer(conn);
	/* The reply shows the record as it was when the command was read. */
	evbuffer_add(reply_buffer(slot), record_line(rec), record_len(rec));
	evbuffer_add(reply_buffer(slot), "\n", 1);

	record_fields(rec, &fields);
	coord_decimal(fields.location.p, fields.coord.split, latitude);
	coord_decimal(fields.location.p + fields.coord.split,
	    fields.location.len - fields.coord.split, longitude);
	req.latitude = latitude;
	req.longitude = longitude;
	req.radius_metres = whatsat.radius_metres;
	req.bound = whatsat.bound;
	req.requester = conn->id;
	search = places_search(herdd.places, &req, whatsat_done, slot);
	reply_set_cancel(slot, whatsat_cancel, search);
	return CMD_WAIT;
}

const struct cmd_entry cmd_whatsat_entry = {
	.name = "WHATSAT",
	.nargs = 3,
	.exec = cmd_whatsat_exec,
};
