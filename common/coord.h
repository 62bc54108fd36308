/* ISO 6709 locations as clients send them: [+-]DEG[.FRAC][+-]DEG[.FRAC]. */
#ifndef HERD_COORD_H
#define HERD_COORD_H

#include <stdbool.h>
#include <stddef.h>

struct coord {
	double lat;
	double lng;
	size_t split;   /* offset of the longitude's sign in the text */
};

/* Validates the text exactly (|lat| <= 90, |lng| <= 180, no rounding) and fills OUT. */
bool coord_parse(const char *s, size_t len, struct coord *out);

/*
 * Writes one degree value of the text (START, LEN) as a plain decimal for an upstream
 * API: no leading '+', at most MAX_FRACTION fraction digits. Returns the length written,
 * 0 if it does not fit.
 */
size_t coord_decimal(const char *s, size_t len, size_t max_fraction, char *buf, size_t size);

#endif
