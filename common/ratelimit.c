/* Fixed-window rate limiting of log lines. */
#include "ratelimit.h"

bool ratelimit_allow_burst(struct ratelimit *rl, uint64_t now_ms, uint32_t burst,
    uint64_t *held_back)
{
	if (rl->in_window == 0 || now_ms - rl->window_start_ms >= RATELIMIT_INTERVAL_MS) {
		rl->window_start_ms = now_ms;
		rl->in_window = 0;
	}
	if (rl->in_window >= burst) {
		rl->held_back++;
		return false;
	}
	rl->in_window++;
	*held_back = rl->held_back;
	rl->held_back = 0;
	return true;
}

bool ratelimit_allow(struct ratelimit *rl, uint64_t now_ms, uint64_t *held_back)
{
	return ratelimit_allow_burst(rl, now_ms, RATELIMIT_BURST, held_back);
}
