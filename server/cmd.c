/* Dispatching client lines to commands; anything that is not a valid command gets "?". */
#include "cmd.h"

#include <string.h>

#include "client.h"
#include "herdd.h"
#include "stats.h"
#include "util.h"

static const struct cmd_entry *cmd_table[] = {
	&cmd_iamat_entry,
	&cmd_whatsat_entry,
};

/* Answers "? " and the line exactly as received. */
static void cmd_invalid(struct client *c, const char *line, size_t len)
{
	char *out = herdd.scratch;

	stats.cmd_invalid++;
	/* max_line bounds LEN and the scratch buffer is larger than max_line + 3. */
	memcpy(out, "? ", 2);
	memcpy(out + 2, line, len);
	out[len + 2] = '\n';
	client_reply(c, out, len + 3);
}

bool cmd_run(struct client *c, const char *line, size_t len, struct htime read_at)
{
	struct field fields[PROTO_MAX_FIELDS];
	size_t nfields = proto_split(line, len, fields, PROTO_MAX_FIELDS);

	if (nfields == 0)
		return false;
	for (size_t i = 0; i < nitems(cmd_table); i++) {
		const struct cmd_entry *entry = cmd_table[i];

		if (!proto_field_is(&fields[0], entry->name))
			continue;
		if (nfields == entry->nargs + 1 && entry->exec(c, fields + 1, read_at))
			return true;
		break;
	}
	cmd_invalid(c, line, len);
	return true;
}
