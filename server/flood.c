/* Flooding: store what is newer, pass it on to every neighbour but its sender, stop the rest. */
#include "flood.h"

#include "herdd.h"
#include "log.h"
#include "peer.h"
#include "proto.h"
#include "stats.h"
#include "table.h"

void flood_originate(const struct record *rec)
{
	stats.flood_originated++;
	peers_flood(rec, NULL);
}

enum flood_result flood_receive(const struct peer *from, const char *line, size_t len,
    bool sync)
{
	struct at_record rec;
	const struct record *stored;

	if (sync)
		stats.sync_records_received++;
	else
		stats.flood_received++;
	if (!proto_at_parse(line, len, &rec))
		return FLOOD_INVALID;
	switch (table_offer(herdd.table, &rec, &stored)) {
	case TABLE_STORED_NEW:
	case TABLE_STORED_NEWER:
		stats.flood_forwarded += peers_flood(stored, from);
		return FLOOD_STORED;
	case TABLE_STALE:
		if (!sync)
			stats.flood_stale_dropped++;
		return FLOOD_STALE;
	case TABLE_NOMEM:
		break;
	}
	log_warnx("event=table_store_failed id=%s error=\"out of memory\"",
	    log_quote(rec.id.p, rec.id.len));
	return FLOOD_NOMEM;
}
