/*
 * Durable records (README "Durability"), when state_dir is set: every newer record the
 * table stores goes to the node's journal before any reply that acknowledges it, and
 * comes back at the next start. Without state_dir every function here does nothing.
 */
#ifndef HERD_STATE_H
#define HERD_STATE_H

#include <stdbool.h>
#include <stddef.h>

struct record;

/*
 * Start-up, before any listener opens: locks state_dir, loads the snapshot and then the
 * journals into the table, and opens a new journal. SECRET is the herd secret (empty
 * for a loopback herd without one), of which the herd ID is derived. Files of another
 * herd or node, and a state_dir the node cannot use, stop the node with a message.
 * WRITTEN is called whenever the records stored so far are in the journal (or, after
 * appends were let go on a full disk, in a snapshot), so the replies held back for them
 * may go out.
 */
void state_open(const unsigned char *secret, size_t secret_len, void (*written)(void));
/* Shutdown: writes and fsyncs what is left, stops the helpers, unlocks state_dir. */
/*
 * The node stops: a snapshot of the table as it is now, so the next start loads it
 * instead of the journals. True when DONE will run once it is written (or failed);
 * false when there is none to write (no state_dir, nothing since the last one, or it
 * could not start).
 */
bool state_snapshot_final(void (*done)(void));
void state_close(void);

/* The table stored REC (new or newer): it goes to the journal in this loop pass. */
void state_append(const struct record *rec);
/*
 * True while records are appended and not yet written, or let go and not yet in a
 * snapshot: replies wait. The first record of a loop pass queues the journal write
 * behind the other callbacks of the pass, so one write takes all of them; then WRITTEN
 * runs.
 */
bool state_pending(void);

/* Brings the clock-based state gauges (snapshot age, last fsync) up to date. */
void state_stats_refresh(void);

#endif
