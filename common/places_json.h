/* JSON of WHATSAT replies and Places requests, through yajl (SPEC sections 3 and 5). */
#ifndef HERD_PLACES_JSON_H
#define HERD_PLACES_JSON_H

#include <stdbool.h>
#include <stddef.h>

/*
 * The reply for a Places call that failed: {"html_attributions": [], "results": [],
 * "status": "UNKNOWN_ERROR", "error_message": MESSAGE}, formatted like other replies
 * (no blank lines, no trailing newline). Returns a malloc'd string.
 */
char *places_json_error(const char *message, size_t *len);

/*
 * Collapses every run of newlines in TEXT to one and drops leading and trailing ones,
 * in place; returns the new length.
 */
size_t places_json_collapse_newlines(char *text, size_t len);

/*
 * The X-Goog-FieldMask of new-API searches: what places_filter translates into the
 * legacy shape. rating, userRatingCount, priceLevel and currentOpeningHours put a
 * search in Google's "Enterprise" price tier; the legacy answer had them all.
 */
#define PLACES_NEW_FIELD_MASK \
	"places.id,places.displayName,places.shortFormattedAddress,places.formattedAddress," \
	"places.location,places.viewport,places.types,places.businessStatus," \
	"places.iconMaskBaseUri,places.iconBackgroundColor,places.plusCode,places.rating," \
	"places.userRatingCount,places.priceLevel,places.currentOpeningHours.openNow"

/*
 * Writes the decimal TEXT ([-]DIGITS[.DIGITS], a leading '+' allowed) as a JSON number
 * into OUT: no '+', no leading zeros. False if TEXT is not such a number or OUT is small.
 */
bool places_json_decimal(const char *text, char *out, size_t size);

/*
 * The body of a new-API searchNearby request: {"maxResultCount": BOUND,
 * "locationRestriction": {"circle": {"center": {"latitude": LATITUDE, "longitude":
 * LONGITUDE}, "radius": RADIUS}}} with the decimal texts as exact JSON numbers.
 * Returns a malloc'd string, NULL when a text is not a decimal number.
 */
char *places_json_new_request(const char *latitude, const char *longitude,
    const char *radius_metres, int bound, size_t *len);

/* Room for the query places_legacy_query writes: two coordinates and a radius. */
#define PLACES_LEGACY_QUERY_MAX 128

/*
 * The search part of a legacy request's query, "location=LAT,LNG&radius=METRES" (the
 * key follows it), into BUF. The texts are plain decimals (coord_decimal, proto's
 * radius). Returns the length, 0 if they are not decimals or do not fit.
 */
size_t places_legacy_query(const char *latitude, const char *longitude,
    const char *radius_metres, char buf[PLACES_LEGACY_QUERY_MAX]);

#endif
