/* The node's log: plain stdio, one fprintf per event, flushed per line. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUOTE_SLOTS 4
#define QUOTE_SIZE (LOG_QUOTE_MAX + 8)

static FILE *log_file;
static char *log_path;
static char log_node[128];
static enum log_level log_level = LOG_LEVEL_INFO;

static const char *level_names[] = {
	[LOG_LEVEL_FATAL + 1] = "fatal",
	[LOG_LEVEL_WARN + 1] = "warn",
	[LOG_LEVEL_INFO + 1] = "info",
	[LOG_LEVEL_DEBUG + 1] = "debug",
};

/* Opens PATH for appending, line-buffered; NULL on failure with errno set. */
static FILE *log_open(const char *path)
{
	FILE *f = fopen(path, "a");

	if (f != NULL)
		setvbuf(f, NULL, _IOLBF, 0);
	return f;
}

int log_init(const char *node, const char *path, int verbosity)
{
	snprintf(log_node, sizeof(log_node), "%s", node != NULL ? node : "-");
	log_level = verbosity > 0 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
	free(log_path);
	log_path = NULL;
	if (path == NULL) {
		log_file = stderr;
		setvbuf(stderr, NULL, _IOLBF, 0);
		return 0;
	}
	log_path = strdup(path);
	if (log_path == NULL)
		return -1;
	log_file = log_open(path);
	return log_file != NULL ? 0 : -1;
}

int log_reopen(void)
{
	FILE *f;

	if (log_path == NULL)
		return 0;
	f = log_open(log_path);
	if (f == NULL)
		return -1;
	if (log_file != NULL && log_file != stderr)
		fclose(log_file);
	log_file = f;
	return 0;
}

void log_close(void)
{
	if (log_file != NULL && log_file != stderr)
		fclose(log_file);
	log_file = NULL;
	free(log_path);
	log_path = NULL;
}

int log_verbosity(void)
{
	return log_level;
}

static void log_vwrite(enum log_level level, int errnum, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Writes one line: timestamp, level, node, the message, and strerror(ERRNUM) if nonzero. */
static void log_vwrite(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	FILE *f = log_file != NULL ? log_file : stderr;
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	if (level > log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(f, "%s.%06ldZ level=%s node=%s ", stamp, ts.tv_nsec / 1000, level_names[level + 1],
	    log_node);
	vfprintf(f, fmt, ap);
	if (errnum != 0)
		fprintf(f, " error=%s", log_quote(strerror(errnum), strlen(strerror(errnum))));
	fputc('\n', f);
}

void log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

void log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_WARN, 0, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_INFO, 0, fmt, ap);
	va_end(ap);
}

void log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_DEBUG, 0, fmt, ap);
	va_end(ap);
}

void fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_FATAL, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_FATAL, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

/* The format of a library's message line. */
#define LIBRARY_LINE "event=%s_message text=%s repeated=%llu"

/* One line for a library's message, with how often it came unlogged before it. */
static void log_library_line(enum log_level level, const char *source, const char *msg,
    uint64_t repeated)
{
	const char *text = log_quote(msg, strlen(msg));

	if (level <= LOG_LEVEL_WARN)
		log_warnx(LIBRARY_LINE, source, text, (unsigned long long)repeated);
	else if (level == LOG_LEVEL_INFO)
		log_info(LIBRARY_LINE, source, text, (unsigned long long)repeated);
	else
		log_debug(LIBRARY_LINE, source, text, (unsigned long long)repeated);
}

void log_library(enum log_level level, const char *source, const char *msg, uint64_t now_ms)
{
	static char last[256], last_source[32];
	static enum log_level last_level;
	static uint64_t last_ms, repeats;
	bool same = strncmp(msg, last, sizeof(last) - 1) == 0 &&
	    strcmp(source, last_source) == 0;

	if (same && now_ms - last_ms < LOG_REPEAT_MS) {
		repeats++;
		return;
	}
	if (!same && repeats > 0)
		log_library_line(last_level, last_source, last, repeats);
	log_library_line(level, source, msg, same ? repeats : 0);
	snprintf(last, sizeof(last), "%s", msg);
	snprintf(last_source, sizeof(last_source), "%s", source);
	last_level = level;
	last_ms = now_ms;
	repeats = 0;
}

const char *log_quote(const void *data, size_t len)
{
	return log_quote_max(data, len, LOG_QUOTE_MAX);
}

const char *log_quote_max(const void *data, size_t len, size_t max)
{
	static char slots[QUOTE_SLOTS][QUOTE_SIZE];
	static unsigned next;
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = data;
	char *out = slots[next++ % QUOTE_SLOTS];
	size_t n = 0;

	out[n++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];

		if (n + 8 >= max || n + 8 >= QUOTE_SIZE) {
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c == '\n') {
			out[n++] = '\\';
			out[n++] = 'n';
		} else if (c == '\r') {
			out[n++] = '\\';
			out[n++] = 'r';
		} else if (c == '\t') {
			out[n++] = '\\';
			out[n++] = 't';
		} else if (c < 0x20 || c >= 0x7f) {
			out[n++] = '\\';
			out[n++] = 'x';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 0xf];
		} else {
			out[n++] = (char)c;
		}
	}
	out[n++] = '"';
	out[n] = '\0';
	return out;
}
