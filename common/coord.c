/* ISO 6709 decimal-degree parsing, checked on the text so that limits are exact. */
#include "coord.h"

#include "util.h"

/*
 * Reads one signed degree value starting at S[*pos]: sign, digits, optional fraction with
 * at least one digit. Checks |value| <= LIMIT on the digits themselves.
 */
static bool degree_parse(const char *s, size_t len, size_t *pos, int limit)
{
	size_t i = *pos, int_digits = 0;
	long whole = 0;
	bool fraction_nonzero = false;

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
	*pos = i;
	return true;
}

bool coord_parse(const char *s, size_t len, struct coord *out)
{
	size_t pos = 0;
	size_t split;

	if (!degree_parse(s, len, &pos, 90))
		return false;
	split = pos;
	if (!degree_parse(s, len, &pos, 180))
		return false;
	if (pos != len)
		return false;
	out->split = split;
	return true;
}

size_t coord_decimal(const char *s, size_t len, char buf[COORD_DECIMAL_MAX + 1])
{
	size_t n = 0, i = 0, digits = 0, fraction = 0;

	if (i < len && (s[i] == '+' || s[i] == '-')) {
		if (s[i] == '-')
			buf[n++] = '-';
		i++;
	}
	/* Valid text has at most three digits before the point once leading zeros go. */
	while (i + 1 < len && s[i] == '0' && is_digit(s[i + 1]))
		i++;
	for (; i < len && is_digit(s[i]) && digits < 3; i++, digits++)
		buf[n++] = s[i];
	if (i + 1 < len && s[i] == '.') {
		buf[n++] = '.';
		for (i++; i < len && is_digit(s[i]) && fraction < COORD_FRACTION_MAX; i++, fraction++)
			buf[n++] = s[i];
	}
	buf[n] = '\0';
	return n;
}
