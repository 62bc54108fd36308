/*
 * Client commands, tmux style: each command file exports one entry (name, argument
 * count, handler) and cmd.c dispatches through the table.
 */
#ifndef HERD_CMD_H
#define HERD_CMD_H

#include <stdbool.h>
#include <stddef.h>

#include "htime.h"
#include "proto.h"

struct client;

struct cmd_entry {
	const char *name;
	size_t nargs;
	/* Runs the command; false means the line is invalid and gets "? LINE". */
	bool (*exec)(struct client *c, const struct field *args, struct htime read_at);
};

extern const struct cmd_entry cmd_iamat_entry;
extern const struct cmd_entry cmd_whatsat_entry;

/* Runs one client line (without its LF) read at READ_AT; false for a line with no fields. */
bool cmd_run(struct client *c, const char *line, size_t len, struct htime read_at);

#endif
