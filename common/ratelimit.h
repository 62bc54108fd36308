/*
 * Rate limits for warnings a peer or client can cause over and over: at most BURST lines
 * per INTERVAL, and the next line allowed says how many were held back meanwhile. Pure
 * code; the caller passes the time in.
 */
#ifndef HERD_RATELIMIT_H
#define HERD_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit {
	uint64_t window_start_ms;
	uint32_t in_window;       /* events allowed since WINDOW_START_MS */
	uint64_t held_back;       /* events refused since the last one allowed */
};

/* The default: 10 lines per 10 s for each source. */
#define RATELIMIT_BURST 10
#define RATELIMIT_INTERVAL_MS 10000

/*
 * True when an event at NOW_MS may be logged. Then *HELD_BACK is the number of events
 * refused since the last one allowed (to log with it), and the count starts again.
 */
bool ratelimit_allow(struct ratelimit *rl, uint64_t now_ms, uint64_t *held_back);

#endif
