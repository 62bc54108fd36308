/* ISO 6709 decimal-degree parsing, checked on the text so that limits are exact. */
#include "coord.h"

#include <stdlib.h>
#include <string.h>

/* True for an ASCII decimal digit; isdigit() would depend on the locale. */
static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Reads one signed degree value starting at S[*pos]: sign, digits, optional fraction with
 * at least one digit. Checks |value| <= LIMIT on the digits themselves.
 */
static bool degree_parse(const char *s, size_t len, size_t *pos, int limit, double *value)
{
	size_t i = *pos, start = *pos, int_digits = 0;
	long whole = 0;
	bool fraction_nonzero = false;
	char text[64];
	size_t text_len;

	if (i >= len || (s[i] != '+' && s[i] != '-'))
		return false;
	i++;
	for (; i < len && is_digit(s[i]); i++, int_digits++) {
		if (whole <= limit)
			whole = whole * 10 + (s[i] - '0');
	}
	if (int_digits == 0)
		return false;
	if (i < len && s[i] == '.') {
		size_t frac_start = ++i;
		for (; i < len && is_digit(s[i]); i++) {
			if (s[i] != '0')
				fraction_nonzero = true;
		}
		if (i == frac_start)
			return false;
	}
	if (whole > limit || (whole == limit && fraction_nonzero))
		return false;

	/* strtod needs a terminated string; digits past the 60th do not change a double. */
	text_len = i - start;
	if (text_len > sizeof(text) - 1)
		text_len = sizeof(text) - 1;
	memcpy(text, s + start, text_len);
	text[text_len] = '\0';
	*value = strtod(text, NULL);
	*pos = i;
	return true;
}

bool coord_parse(const char *s, size_t len, struct coord *out)
{
	size_t pos = 0;
	double lat, lng;
	size_t split;

	if (!degree_parse(s, len, &pos, 90, &lat))
		return false;
	split = pos;
	if (!degree_parse(s, len, &pos, 180, &lng))
		return false;
	if (pos != len)
		return false;
	out->lat = lat;
	out->lng = lng;
	out->split = split;
	return true;
}

size_t coord_decimal(const char *s, size_t len, size_t max_fraction, char *buf, size_t size)
{
	size_t n = 0, i = 0, fraction = 0;
	bool in_fraction = false;

	if (i < len && s[i] == '+')
		i++;
	for (; i < len; i++) {
		if (s[i] == '.')
			in_fraction = true;
		else if (in_fraction && ++fraction > max_fraction)
			break;
		if (n + 1 >= size)
			return 0;
		buf[n++] = s[i];
	}
	if (n > 0 && buf[n - 1] == '.')
		n--;
	buf[n] = '\0';
	return n;
}
