/*
 * Link state over the peer links (README "Link state"): this node's report, sent on any
 * change of its links and every linkstate_interval seconds; the reports of the others,
 * stored when newer and passed on to every other linked neighbour, as records are; and
 * the view of the herd that /herd and the status page read (admin/node.h).
 */
#ifndef HERD_LINKSTATE_H
#define HERD_LINKSTATE_H

#include <stdbool.h>
#include <stddef.h>

struct peer;

/*
 * Sends the report LINE (LEN bytes, no LF) to every neighbour whose link is up except
 * EXCEPT (NULL: all); peers_send_report, set by peer.c, as flood.c has its fanout.
 */
typedef void (*linkstate_fanout_cb)(const char *line, size_t len, const struct peer *except);

/* Starts reporting, at the end of peers_start; FANOUT passes reports on. */
void linkstate_start(linkstate_fanout_cb fanout);
/*
 * A link of this node went up or down: report it, at most every LINKSTATE_HOLD_MS
 * (however many changed meanwhile).
 */
void linkstate_changed(void);
/* A reload swapped the configuration: its linkstate_interval counts from now. */
void linkstate_reload(void);
/*
 * The neighbour FROM sent the LSA line LINE: stored and passed on when it is newer.
 * False, with the reason in *WHY, for a line that is no report of another node of the
 * herd (it is dropped).
 */
bool linkstate_receive(const struct peer *from, const char *line, size_t len,
    const char **why);
/*
 * A link came up: SEND (with ARG) gets every report of the others still fresh that this
 * node holds, so the neighbour knows the herd at once; a new report of this node's own
 * follows at the end of the pass, to every neighbour.
 */
void linkstate_link_up(void (*send)(void *arg, const char *line, size_t len), void *arg);
/* Stops the reports and frees what they held (shutdown). */
void linkstate_stop(void);

#endif
