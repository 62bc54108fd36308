/*
 * Allocation that cannot fail (tmux's xmalloc.c): running out of memory is fatal, with a
 * log line, so no caller carries an out-of-memory branch. What clients may make the node
 * allocate is bounded by the limits of README "Limits", not here.
 */
#ifndef HERD_XMALLOC_H
#define HERD_XMALLOC_H

#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
/* A NUL-ended copy of the first LEN bytes of S. */
char *xstrndup(const char *s, size_t len);
/* A copy of the SIZE bytes at P. */
void *xmemdup(const void *p, size_t size);
/* A formatted string in allocated memory. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/*
 * P, or death with a log line when P is NULL: for library calls (libevent's constructors)
 * that only fail for want of memory.
 */
#define xcheck(p) xnonnull((p), #p, __FILE__, __LINE__)
void *xnonnull(void *p, const char *what, const char *file, int line);

#endif
