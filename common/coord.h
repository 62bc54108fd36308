/* ISO 6709 locations as clients send them: [+-]DEG[.FRAC][+-]DEG[.FRAC]. */
#ifndef HERD_COORD_H
#define HERD_COORD_H

#include <stdbool.h>
#include <stddef.h>

/* Fraction digits passed on to an upstream API; 1e-12 degree is below a micrometre. */
#define COORD_FRACTION_MAX 12
/* Longest text coord_decimal writes, without the NUL: sign, 3 digits, point, fraction. */
#define COORD_DECIMAL_MAX (1 + 3 + 1 + COORD_FRACTION_MAX)

struct coord {
	size_t split;   /* offset of the longitude's sign in the text */
};

/*
 * Validates the text exactly (|lat| <= 90, |lng| <= 180, checked on the digits, so any
 * number of leading zeros or fraction digits is fine) and fills OUT.
 */
bool coord_parse(const char *s, size_t len, struct coord *out);

/*
 * Writes one degree value of a valid location (the text before or from coord.split) as
 * the plain decimal an upstream API takes: no '+', no leading zeros, at most
 * COORD_FRACTION_MAX fraction digits (cut, not rounded). Whatever the length of the
 * client's text, the result fits BUF. Returns its length.
 */
size_t coord_decimal(const char *s, size_t len, char buf[COORD_DECIMAL_MAX + 1]);

#endif
