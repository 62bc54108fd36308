/* A minimal assertion kit for the unit tests: every failed check prints where and why,
 * the test keeps going, and the exit status says whether anything failed. */
#ifndef HERD_CHECK_H
#define HERD_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(cond) do { \
	check_count++; \
	if (!(cond)) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
	} \
} while (0)

#define CHECK_INT(got, want) do { \
	long long check_g_ = (long long)(got), check_w_ = (long long)(want); \
	check_count++; \
	if (check_g_ != check_w_) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: %s = %lld, want %lld\n", __FILE__, __LINE__, #got, \
		    check_g_, check_w_); \
	} \
} while (0)

#define CHECK_STR(got, want) do { \
	const char *check_g_ = (got), *check_w_ = (want); \
	check_count++; \
	if (check_g_ == NULL || strcmp(check_g_, check_w_) != 0) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: %s = \"%s\", want \"%s\"\n", __FILE__, __LINE__, #got, \
		    check_g_ ? check_g_ : "(null)", check_w_); \
	} \
} while (0)

#define CHECK_MEM(got, gotlen, want) do { \
	const char *check_w_ = (want); \
	size_t check_gl_ = (gotlen); \
	check_count++; \
	if (check_gl_ != strlen(check_w_) || memcmp((got), check_w_, check_gl_) != 0) { \
		check_failures++; \
		fprintf(stderr, "%s:%d: %s = \"%.*s\", want \"%s\"\n", __FILE__, __LINE__, #got, \
		    (int)check_gl_, (const char *)(got), check_w_); \
	} \
} while (0)

/* Ends main(): prints a summary and returns the exit status. */
static inline int check_done(const char *name)
{
	fprintf(stderr, "%s: %d checks, %d failed\n", name, check_count, check_failures);
	return check_failures == 0 ? 0 : 1;
}

#endif
