/* Allocation wrappers: out of memory is fatal. */
#include "xmalloc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* The one out-of-memory end, for everything below. */
static _Noreturn void xmalloc_fail(size_t size)
{
	fatalx("event=out_of_memory bytes=%zu", size);
}

void *xmalloc(size_t size)
{
	void *p = malloc(size == 0 ? 1 : size);

	if (p == NULL)
		xmalloc_fail(size);
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size);

	if (p == NULL)
		xmalloc_fail(nmemb * size);
	return p;
}

void *xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	void *p;

	if (size != 0 && nmemb > SIZE_MAX / size)
		fatalx("event=out_of_memory error=\"%zu elements of %zu bytes overflow\"", nmemb, size);
	p = realloc(ptr, nmemb * size == 0 ? 1 : nmemb * size);
	if (p == NULL)
		xmalloc_fail(nmemb * size);
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t len)
{
	char *copy = xmalloc(len + 1);

	memcpy(copy, s, len);
	copy[len] = '\0';
	return copy;
}

void *xmemdup(const void *p, size_t size)
{
	void *copy = xmalloc(size);

	memcpy(copy, p, size);
	return copy;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	char first[256];
	va_list copy;
	char *s;
	int len;

	/* Most strings fit the first try; longer ones are written again at their size. */
	va_copy(copy, ap);
	len = vsnprintf(first, sizeof(first), fmt, copy);
	va_end(copy);
	if (len < 0)
		fatalx("event=bug where=xvasprintf error=\"bad format\"");
	if ((size_t)len < sizeof(first))
		return xstrndup(first, (size_t)len);
	s = xmalloc((size_t)len + 1);
	vsnprintf(s, (size_t)len + 1, fmt, ap);
	return s;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void *xnonnull(void *p, const char *what, const char *file, int line)
{
	if (p == NULL)
		fatalx("event=out_of_memory what=%s at=%s:%d", log_quote(what, strlen(what)), file,
		    line);
	return p;
}
