/* Dispatching client lines to commands; anything that is not a valid command gets "?". */
#include "cmd.h"

#include <event2/buffer.h>

#include "stats.h"
#include "util.h"

static const struct cmd_entry *cmd_table[] = {
	&cmd_iamat_entry,
	&cmd_whatsat_entry,
};

/* The command LINE's first field names, or NULL. */
static const struct cmd_entry *cmd_find(const struct field *name)
{
	for (size_t i = 0; i < nitems(cmd_table); i++) {
		if (proto_field_is(name, cmd_table[i]->name))
			return cmd_table[i];
	}
	return NULL;
}

enum cmd_retval cmd_run(struct cmd_conn *conn, const char *line, size_t len,
    struct htime read_at, struct evbuffer *out)
{
	struct field fields[PROTO_MAX_FIELDS];
	size_t nfields = proto_split(line, len, fields, PROTO_MAX_FIELDS);
	const struct cmd_entry *entry;
	enum cmd_retval rv = CMD_INVALID;

	if (nfields == 0)
		return CMD_EMPTY;
	entry = cmd_find(&fields[0]);
	if (entry != NULL && nfields == entry->nargs + 1)
		rv = entry->exec(conn, fields + 1, read_at, out);
	if (rv == CMD_INVALID) {
		/* "? " and the line exactly as received. */
		stats.cmd_invalid++;
		evbuffer_add(out, "? ", 2);
		evbuffer_add(out, line, len);
		evbuffer_add(out, "\n", 1);
	}
	return rv;
}
