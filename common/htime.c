/* Exact client-time arithmetic in integer nanoseconds. */
#include "htime.h"

#include <stdio.h>
#include <time.h>

#include "util.h"

#define NSEC_PER_SEC 1000000000

bool htime_parse(const char *s, size_t len, struct htime *out)
{
	size_t i = 0;
	int64_t sec = 0;
	int32_t nsec = 0;
	size_t fraction_digits;

	if (len == 0 || !is_digit(s[0]))
		return false;
	for (; i < len && is_digit(s[i]); i++) {
		if (sec > (HTIME_SEC_MAX - (s[i] - '0')) / 10)
			return false;
		sec = sec * 10 + (s[i] - '0');
	}
	if (i < len) {
		if (s[i] != '.')
			return false;
		i++;
		fraction_digits = len - i;
		if (fraction_digits < 1 || fraction_digits > 9)
			return false;
		for (size_t digits = 0; digits < 9; digits++) {
			nsec *= 10;
			if (i < len) {
				if (!is_digit(s[i]))
					return false;
				nsec += s[i++] - '0';
			}
		}
	}
	out->sec = sec;
	out->nsec = nsec;
	return true;
}

struct htime htime_now(void)
{
	struct timespec ts;
	struct htime now;

	clock_gettime(CLOCK_REALTIME, &ts);
	now.sec = ts.tv_sec;
	now.nsec = (int32_t)ts.tv_nsec;
	return now;
}

uint64_t htime_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int htime_cmp(struct htime a, struct htime b)
{
	if (a.sec != b.sec)
		return a.sec < b.sec ? -1 : 1;
	if (a.nsec != b.nsec)
		return a.nsec < b.nsec ? -1 : 1;
	return 0;
}

bool htime_too_far_ahead(struct htime t, struct htime now, int64_t max_ahead)
{
	struct htime limit = { now.sec + max_ahead, now.nsec };

	return htime_cmp(t, limit) > 0;
}

size_t htime_format_diff(struct htime a, struct htime b, char *buf, size_t size)
{
	struct htime big = a, small = b;
	char sign = '+';
	int64_t sec;
	int32_t nsec;
	int n;

	if (htime_cmp(a, b) < 0) {
		big = b;
		small = a;
		sign = '-';
	}
	sec = big.sec - small.sec;
	nsec = big.nsec - small.nsec;
	if (nsec < 0) {
		nsec += NSEC_PER_SEC;
		sec--;
	}
	n = snprintf(buf, size, "%c%lld.%09ld", sign, (long long)sec, (long)nsec);
	if (n < 0 || (size_t)n >= size)
		return 0;
	return (size_t)n;
}
