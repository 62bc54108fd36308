/* IAMAT: a client says where it is; answer with the AT line, store it, flood it. */
#include <string.h>
#include <sys/uio.h>

#include <event2/buffer.h>

#include "cmd.h"
#include "config.h"
#include "flood.h"
#include "herdd.h"
#include "log.h"
#include "ratelimit.h"
#include "state.h"
#include "stats.h"
#include "table.h"

/* Warnings about a full table, for the whole node: any client can cause them. */
static struct ratelimit full_warnings;

/* A new client ID met a full table: counted, and logged now and then. */
static void iamat_refused(const struct cmd_conn *conn, const struct at_record *rec)
{
	uint64_t held_back;

	stats.clients_refused++;
	if (ratelimit_allow(&full_warnings, htime_mono_ms(), &held_back))
		log_warnx("event=client_refused conn=%llu id=%s reason=\"the table holds "
		    "max_clients (%zu)\" suppressed=%llu", (unsigned long long)conn->id,
		    log_quote(rec->id.p, rec->id.len), herdd.config->max_clients,
		    (unsigned long long)held_back);
}

/*
 * The AT line is written straight into OUT's free space (no copy), stored from there,
 * and committed with its LF only when the command succeeds.
 */
static enum cmd_retval cmd_iamat_exec(struct cmd_conn *conn, const struct field *args,
    struct htime read_at, struct evbuffer *out)
{
	struct iamat iamat;
	struct at_record rec;
	const struct record *stored;
	struct evbuffer_iovec space;
	size_t len;
	uint64_t hash;

	if (!proto_iamat_parse(args, &iamat))
		return CMD_INVALID;
	/* The bucket loads while the AT line is formatted. */
	hash = table_prefetch(herdd.table, iamat.id.p, iamat.id.len);
	/* A time far ahead would win over every later report, at every node, for ever. */
	if (htime_too_far_ahead(iamat.client_time, read_at, herdd.config->max_clock_skew))
		return CMD_INVALID;
	/*
	 * Room for the longest AT line of these fields (the time difference at its longest),
	 * the NUL proto_at_format keeps room for, and the LF: a small buffer the allocator
	 * reuses, not one of max_line.
	 */
	if (evbuffer_reserve_space(out, 3 + strlen(herdd.self->name) + 1 + HTIME_DIFF_MAX + 1 +
	    iamat.id.len + 1 + iamat.location.len + 1 + iamat.time.len + 1 + 1, &space, 1) != 1)
		fatalx("event=out_of_memory what=\"the reply of an IAMAT\"");
	len = proto_at_format(herdd.self->name, &iamat, read_at, space.iov_base,
	    space.iov_len - 1, &rec);
	if (len == 0)
		fatalx("event=bug where=cmd_iamat error=\"AT line longer than max_line + %d\"",
		    CONFIG_PEER_LINE_EXTRA);

	switch (table_offer_hashed(herdd.table, &rec, hash, &stored)) {
	case TABLE_STORED_NEW:
	case TABLE_STORED_NEWER:
		state_append(stored);
		flood_originate(stored);
		break;
	case TABLE_STALE:
		log_debug("event=iamat_stale conn=%llu id=%s", (unsigned long long)conn->id,
		    log_quote(rec.id.p, rec.id.len));
		break;
	case TABLE_FULL:
		iamat_refused(conn, &rec);
		return CMD_INVALID;
	}
	stats.cmd_iamat++;
	((char *)space.iov_base)[len] = '\n';
	space.iov_len = len + 1;
	evbuffer_commit_space(out, &space, 1);
	return CMD_DONE;
}

const struct cmd_entry cmd_iamat_entry = {
	.name = "IAMAT",
	.nargs = 3,
	.exec = cmd_iamat_exec,
};
