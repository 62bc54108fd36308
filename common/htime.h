/* Exact times for the client protocol: POSIX seconds plus nanoseconds, no floating point. */
#ifndef HERD_HTIME_H
#define HERD_HTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Seconds are bounded so that a difference of two times never overflows. */
#define HTIME_SEC_MAX 999999999999999999LL   /* 18 digits */

struct htime {
	int64_t sec;
	int32_t nsec;   /* 0..999999999 */
};

/* Parses DIGITS[.1-9 DIGITS]; false for anything else or seconds above HTIME_SEC_MAX. */
bool htime_parse(const char *s, size_t len, struct htime *out);
/* The wall clock now. */
struct htime htime_now(void);
/* Milliseconds of a clock that never jumps, for timeouts and rate limits. */
uint64_t htime_mono_ms(void);
/* T, MS milliseconds earlier. */
struct htime htime_minus_ms(struct htime t, uint64_t ms);
/* -1, 0 or 1 as A is before, equal to, or after B. */
int htime_cmp(struct htime a, struct htime b);
/* True when T is more than MAX_AHEAD seconds after NOW (a clock skew no client has). */
bool htime_too_far_ahead(struct htime t, struct htime now, int64_t max_ahead);
/* Writes A - B as [+-]SECONDS.NNNNNNNNN ("+" for zero) into BUF; returns the length. */
size_t htime_format_diff(struct htime a, struct htime b, char *buf, size_t size);

/* Longest text htime_format_diff writes, without the NUL. */
#define HTIME_DIFF_MAX 30

#endif
