/*
 * Rate limits for log lines a peer or client can cause over and over: at most a burst of
 * lines per interval, and the next line allowed says how many were held back meanwhile.
 * Pure code; the caller passes the time in.
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

/* The interval, and the burst most sources get: 10 lines per 10 s. */
#define RATELIMIT_INTERVAL_MS 10000
#define RATELIMIT_BURST 10

/*
 * True when an event at NOW_MS may be logged, BURST per interval at most. Then
 * *HELD_BACK is the number of events refused since the last one allowed (to log with
 * it), and the count starts again.
 */
bool ratelimit_allow_burst(struct ratelimit *rl, uint64_t now_ms, uint32_t burst,
    uint64_t *held_back);
/* The same with RATELIMIT_BURST. */
bool ratelimit_allow(struct ratelimit *rl, uint64_t now_ms, uint64_t *held_back);

#endif
