/* Flooding: store what is newer, pass it on to every neighbour but its sender, stop the rest. */
#include "flood.h"

#include "config.h"
#include "herdd.h"
#include "log.h"
#include "proto.h"
#include "state.h"
#include "stats.h"
#include "table.h"

static flood_fanout_cb fanout;

void flood_set_fanout(flood_fanout_cb cb)
{
	fanout = cb;
}

/* Passes REC on to the linked neighbours but EXCEPT; how many copies went. */
static size_t flood_out(const struct record *rec, const struct peer *except)
{
	return fanout != NULL ? fanout(rec, except) : 0;
}

void flood_originate(const struct record *rec)
{
	stats.flood_originated++;
	flood_out(rec, NULL);
}

enum flood_result flood_receive(const struct peer *from, const char *line, size_t len,
    bool sync, struct htime now)
{
	struct at_record rec;
	const struct record *stored;

	/* A node writes at most max_line + 92 bytes; one this long would break every sync. */
	if (len > herdd.config->max_line + CONFIG_PEER_LINE_EXTRA - CONFIG_PEER_SYNC_PREFIX)
		return flood_receive_too_long(sync);
	if (sync)
		stats.sync_records_received++;
	else
		stats.flood_received++;
	if (!proto_at_parse(line, len, &rec)) {
		stats.peer_records_refused++;
		return FLOOD_INVALID;
	}
	if (config_find_node_len(herdd.config, rec.server.p, rec.server.len) == NULL) {
		stats.peer_records_refused++;
		return FLOOD_UNKNOWN_SERVER;
	}
	if (htime_too_far_ahead(rec.client_time, now, herdd.config->max_clock_skew)) {
		stats.peer_records_refused++;
		return FLOOD_FUTURE;
	}
	switch (table_offer(herdd.table, &rec, &stored)) {
	case TABLE_STORED_NEW:
	case TABLE_STORED_NEWER:
		state_append(stored);
		stats.flood_forwarded += flood_out(stored, from);
		return FLOOD_STORED;
	case TABLE_STALE:
		if (!sync)
			stats.flood_stale_dropped++;
		return FLOOD_STALE;
	case TABLE_FULL:
		break;
	}
	stats.clients_refused++;
	return FLOOD_FULL;
}

enum flood_result flood_receive_too_long(bool sync)
{
	if (sync)
		stats.sync_records_received++;
	else
		stats.flood_received++;
	stats.peer_records_refused++;
	return FLOOD_TOO_LONG;
}

const char *flood_refusal(enum flood_result result)
{
	switch (result) {
	case FLOOD_INVALID:
		return "not a well-formed AT line";
	case FLOOD_TOO_LONG:
		return "longer than any node writes";
	case FLOOD_UNKNOWN_SERVER:
		return "written by a node that is not in the configuration";
	case FLOOD_FUTURE:
		return "client time is more than max_clock_skew ahead";
	case FLOOD_FULL:
		return "new client and the table is full (max_clients)";
	case FLOOD_STORED:
	case FLOOD_STALE:
		break;
	}
	return NULL;
}
