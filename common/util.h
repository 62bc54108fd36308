/* Small helpers every part of herd uses the same way. */
#ifndef HERD_UTIL_H
#define HERD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;
struct stat;

/* The number of elements of the array A. */
#define nitems(a) (sizeof(a) / sizeof((a)[0]))

/* Room for any address addr_format writes: "[v6addr]:port". */
#define ADDR_TEXT_MAX 64

/*
 * Eight bytes at a time (log quoting, the field split): the high bit of each byte of
 * swar_below(W, N) marks a byte of W below N (N at most 0x80). A borrow can also mark
 * bytes after a marked one, never before it, so the lowest mark (a little-endian load:
 * the first byte in memory) is exact; swar_first gives its index.
 */
#define SWAR_ONES 0x0101010101010101ULL
#define SWAR_HIGHS 0x8080808080808080ULL

static inline uint64_t swar_below(uint64_t w, unsigned n)
{
	return (w - SWAR_ONES * n) & ~w & SWAR_HIGHS;
}

/* Marks the bytes of W equal to C. */
static inline uint64_t swar_equal(uint64_t w, unsigned char c)
{
	return swar_below(w ^ (SWAR_ONES * c), 1);
}

/* The index of the first marked byte of M (not 0). */
static inline unsigned swar_first(uint64_t m)
{
	return (unsigned)__builtin_ctzll(m) / 8;
}

/* True for an ASCII decimal digit; isdigit() would depend on the locale. */
static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The value of one ASCII hex digit, or -1. */
static inline int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses 1 to 19 ASCII digits (so any of them fits) into *OUT; false for anything else. */
bool decimal_parse(const char *p, size_t len, uint64_t *out);

/* Writes LEN bytes of IN as lower-case hex into OUT (2 * LEN bytes, then a NUL). */
void hex_encode(const unsigned char *in, size_t len, char *out);

/* Writes SA as "host:port" or "[v6addr]:port", numerically, into BUF; "?" if it cannot. */
const char *addr_format(const struct sockaddr *sa, size_t salen, char buf[ADDR_TEXT_MAX]);
/*
 * Opens PATH for reading without waiting (a FIFO would wait for a writer, and the loop
 * with it), and fills *ST: the descriptor, or -1 with errno set, EINVAL when PATH is
 * not a regular file.
 */
int file_open_regular(const char *path, struct stat *st);
/* True when FD (-1: none yet) is a socket whose connect has completed. */
bool socket_connected(int fd);

#endif
