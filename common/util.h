/* Small helpers every part of herd uses the same way. */
#ifndef HERD_UTIL_H
#define HERD_UTIL_H

#include <stdbool.h>
#include <stddef.h>

struct sockaddr;

/* The number of elements of the array A. */
#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* Room for any address addr_format writes: "[v6addr]:port". */
#define ADDR_TEXT_MAX 64

/* True for an ASCII decimal digit; isdigit() would depend on the locale. */
static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Writes LEN bytes of IN as lower-case hex into OUT (2 * LEN bytes, then a NUL). */
void hex_encode(const unsigned char *in, size_t len, char *out);

/* Writes SA as "host:port" or "[v6addr]:port", numerically, into BUF; "?" if it cannot. */
const char *addr_format(const struct sockaddr *sa, size_t salen, char buf[ADDR_TEXT_MAX]);

#endif
