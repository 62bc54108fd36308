/* IAMAT: a client says where it is; answer with the AT line, store it, flood it. */
#include <stdlib.h>

#include "client.h"
#include "cmd.h"
#include "flood.h"
#include "herdd.h"
#include "log.h"
#include "ratelimit.h"
#include "stats.h"
#include "table.h"

/* Warnings about a full table, for the whole node: any client can cause them. */
static struct ratelimit full_warnings;

/* A new client ID met a full table: counted, and logged now and then. */
static void iamat_refused(struct client *c, const struct at_record *rec)
{
	uint64_t held_back;

	stats.clients_refused++;
	if (ratelimit_allow(&full_warnings, htime_mono_ms(), &held_back))
		log_warnx("event=client_refused conn=%llu id=%s reason=\"the table holds "
		    "max_clients (%zu)\" suppressed=%llu", (unsigned long long)client_id(c),
		    log_quote(rec->id.p, rec->id.len), herdd.config->max_clients,
		    (unsigned long long)held_back);
}

static bool cmd_iamat_exec(struct client *c, const struct field *args, struct htime read_at)
{
	struct iamat iamat;
	struct at_record rec;
	const struct record *stored;
	size_t len;

	if (!proto_iamat_parse(args, &iamat))
		return false;
	/* A time far ahead would win over every later report, at every node, for ever. */
	if (htime_too_far_ahead(iamat.client_time, read_at, herdd.config->max_clock_skew))
		return false;
	len = proto_at_format(herdd.self->name, &iamat, read_at, herdd.scratch,
	    herdd.scratch_size - 1, &rec);
	if (len == 0)
		fatalx("event=bug where=cmd_iamat error=\"AT line does not fit the scratch buffer\"");

	switch (table_offer(herdd.table, &rec, &stored)) {
	case TABLE_STORED_NEW:
	case TABLE_STORED_NEWER:
		flood_originate(stored);
		break;
	case TABLE_STALE:
		log_debug("event=iamat_stale conn=%llu id=%s", (unsigned long long)client_id(c),
		    log_quote(rec.id.p, rec.id.len));
		break;
	case TABLE_FULL:
		iamat_refused(c, &rec);
		return false;
	}
	stats.cmd_iamat++;
	herdd.scratch[len] = '\n';
	client_reply(c, herdd.scratch, len + 1);
	return true;
}

const struct cmd_entry cmd_iamat_entry = {
	.name = "IAMAT",
	.nargs = 3,
	.exec = cmd_iamat_exec,
};
