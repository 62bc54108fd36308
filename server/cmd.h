/*
 * Client commands, tmux style: each command file exports one entry (name, argument
 * count, handler) and cmd.c dispatches through the table. A command writes its reply
 * into the buffer the caller hands it, or takes a slot for a reply that comes later;
 * it knows the connection only as a struct cmd_conn, so commands can run without one
 * (tests/unit/test_cmd.c).
 */
#ifndef HERD_CMD_H
#define HERD_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "htime.h"
#include "proto.h"

struct evbuffer;
struct reply;

enum cmd_retval {
	CMD_EMPTY,     /* a line with no fields: no reply */
	CMD_INVALID,   /* the reply is "? LINE" */
	CMD_DONE,      /* the reply is in the buffer */
	CMD_WAIT,      /* the reply comes later, in a slot the command took */
};

/* The connection a command came on, as commands see it. */
struct cmd_conn {
	uint64_t id;                                      /* its number in logs */
	/* The next reply slot of the connection, to fill and complete later. */
	struct reply *(*defer)(struct cmd_conn *conn);
};

struct cmd_entry {
	const char *name;
	size_t nargs;
	/*
	 * Runs the command: CMD_DONE after appending the reply to OUT, CMD_WAIT after taking
	 * a slot, CMD_INVALID (OUT untouched) when the arguments do not make a command.
	 */
	enum cmd_retval (*exec)(struct cmd_conn *conn, const struct field *args,
	    struct htime read_at, struct evbuffer *out);
};

extern const struct cmd_entry cmd_iamat_entry;
extern const struct cmd_entry cmd_whatsat_entry;

/*
 * Runs one client line (without its LF) read at READ_AT, appending its reply to OUT:
 * the command's, or "? LINE" for an invalid one (CMD_INVALID). CMD_WAIT: the command
 * took a slot; CMD_EMPTY: no fields, no reply.
 */
enum cmd_retval cmd_run(struct cmd_conn *conn, const char *line, size_t len,
    struct htime read_at, struct evbuffer *out);

#endif
