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

struct htime htime_minus_ms(struct htime t, uint64_t ms)
{
	t.sec -= (int64_t)(ms / 1000);
	t.nsec -= (int32_t)(ms % 1000) * 1000000;
	if (t.nsec < 0) {
		t.nsec += 1000000000;
		t.sec--;
	}
	return t;
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
	char digits[20];
	size_t n = 0, len = 0;

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
	/* By hand, not snprintf: this is on every IAMAT's path. */
	do {
		digits[n++] = (char)('0' + sec % 10);
		sec /= 10;
	} while (sec > 0);
	if (1 + n + 1 + 9 >= size)
		return 0;
	buf[len++] = sign;
	while (n > 0)
		buf[len++] = digits[--n];
	buf[len++] = '.';
	for (int i = 8; i >= 0; i--) {
		buf[len + (size_t)i] = (char)('0' + nsec % 10);
		nsec /= 10;
	}
	len += 9;
	buf[len] = '\0';
	return len;
}
