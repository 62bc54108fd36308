/* JSON of WHATSAT replies, through yajl (SPEC section 3). */
#ifndef HERD_PLACES_JSON_H
#define HERD_PLACES_JSON_H

#include <stddef.h>

/*
 * The reply for a Places call that failed: {"html_attributions": [], "results": [],
 * "status": "UNKNOWN_ERROR", "error_message": MESSAGE}, formatted like other replies
 * (no blank lines, no trailing newline). Returns a malloc'd string, NULL on ENOMEM.
 */
char *places_json_error(const char *message, size_t *len);

/*
 * Collapses every run of newlines in TEXT to one and drops leading and trailing ones,
 * in place; returns the new length.
 */
size_t places_json_collapse_newlines(char *text, size_t len);

#endif
