/*
 * The node's log. Lines are built by hand into one buffer (the timestamp's date and time
 * formatted once per second, values quoted by runs of safe bytes) and written with one
 * write(2) when the server's loop pass ends (log_set_flush_hook) or the buffer fills;
 * fatal lines, SIGHUP's reopen and log_close write what is waiting first. Without a
 * hook (start-up, tests, tools) every line is written at once.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define QUOTE_SLOTS 4
#define QUOTE_SIZE (LOG_QUOTE_MAX + 8)
/* Bytes of log lines kept before a write; a fuller buffer is written at once. */
#define LOG_BUF_SIZE (64 * 1024)
/* Longest line; a longer message is cut. */
#define LOG_LINE_MAX 4096
/* How far behind the line before a line's time may be and still take that line's time. */
#define LOG_STAMP_BEHIND_MAX_NS 1000000000

static int log_fd = -1;
static char *log_path;
static char log_node[128];
static size_t log_node_len;
static enum log_level log_level = LOG_LEVEL_INFO;
static void (*log_flush_hook)(void);

static char log_buf[LOG_BUF_SIZE];
static size_t log_len;
static uint64_t log_dropped;
/* A write failed in the middle of a line: the next one starts on a line of its own. */
static bool log_cut;
/* Inside log_library: a library's callback may not call back into the library. */
static bool log_no_hook;

/* The "YYYY-MM-DDTHH:MM:SS" of the second LOG_STAMP_SEC, formatted once per second. */
static time_t log_stamp_sec = -1;
static char log_stamp[24];
/* The time of the line written last: the next goes behind it only with a step of the clock. */
static struct timespec log_last;

static const char *level_names[] = {
	[LOG_LEVEL_FATAL + 1] = "fatal",
	[LOG_LEVEL_WARN + 1] = "warn",
	[LOG_LEVEL_INFO + 1] = "info",
	[LOG_LEVEL_DEBUG + 1] = "debug",
};

/*
 * Opens PATH for appending, created readable by its owner and group only (it holds every
 * client's ID and place); -1 on failure with errno set. Not blocking while it opens: a
 * FIFO with no reader would hold the node (ENXIO instead); writes block as a file's do.
 */
static int log_open(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0640);
	int flags;

	if (fd >= 0 && ((flags = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

void log_flush(void)
{
	size_t off = 0;
	int fd = log_fd >= 0 ? log_fd : STDERR_FILENO;

	if (log_cut && log_len > 0 && write(fd, "\n", 1) == 1)
		log_cut = false;
	while (off < log_len) {
		ssize_t n = write(fd, log_buf + off, log_len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* Nowhere to say it (a full disk): the lines are counted, not kept. */
			for (size_t i = off; i < log_len; i++)
				log_dropped += log_buf[i] == '\n';
			log_cut = log_cut || (off > 0 && log_buf[off - 1] != '\n');
			break;
		}
		off += (size_t)n;
	}
	log_len = 0;
}

uint64_t log_lines_dropped(void)
{
	return log_dropped;
}

void log_set_flush_hook(void (*hook)(void))
{
	log_flush();
	log_flush_hook = hook;
}

int log_init(const char *node, const char *path, int verbosity)
{
	snprintf(log_node, sizeof(log_node), "%s", node != NULL ? node : "-");
	log_node_len = strlen(log_node);
	log_level = verbosity > 0 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
	free(log_path);
	log_path = NULL;
	log_flush();
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
	if (path == NULL)
		return 0;
	log_path = strdup(path);
	if (log_path == NULL)
		return -1;
	log_fd = log_open(path);
	return log_fd >= 0 ? 0 : -1;
}

int log_reopen(void)
{
	int fd;

	if (log_path == NULL)
		return 0;
	log_flush();
	fd = log_open(log_path);
	if (fd < 0)
		return -1;
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	return 0;
}

void log_close(void)
{
	log_flush();
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
	log_flush_hook = NULL;
	free(log_path);
	log_path = NULL;
}

int log_verbosity(void)
{
	return log_level;
}

bool log_enabled(enum log_level level)
{
	return level <= log_level;
}

/* Appends the decimal of V at P; returns the end. */
static char *log_put_u64(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

/* Room for a line of at least LOG_LINE_MAX bytes at the end of the buffer. */
static char *log_room(void)
{
	if (LOG_BUF_SIZE - log_len < LOG_LINE_MAX)
		log_flush();
	return log_buf + log_len;
}

/* Nanoseconds from A to B (negative when B is earlier). */
static int64_t log_ts_diff(const struct timespec *a, const struct timespec *b)
{
	return ((int64_t)b->tv_sec - (int64_t)a->tv_sec) * 1000000000 + (b->tv_nsec - a->tv_nsec);
}

/*
 * The line's start: time AT (NULL: now), level and node at P (the buffer); its end. AT
 * is a reading the caller made before (a read's) or derived (libevent's cached pass time
 * runs off the monotonic clock and may be ahead of a fresh reading), so times from the
 * two sources interleave out of order by a little: a line behind the line before it by
 * less than a second takes that line's time, and a file's times do not go back. A step
 * of the clock by more is shown as it is.
 */
static char *log_prefix(char *p, enum log_level level, const struct htime *at)
{
	struct timespec ts;
	uint32_t us;
	const char *name = level_names[level + 1];
	size_t len;
	int64_t behind;

	if (at != NULL) {
		ts.tv_sec = (time_t)at->sec;
		ts.tv_nsec = at->nsec;
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
	}
	behind = log_ts_diff(&ts, &log_last);
	if (behind > 0 && behind < LOG_STAMP_BEHIND_MAX_NS)
		ts = log_last;
	log_last = ts;
	if (ts.tv_sec != log_stamp_sec) {
		struct tm tm;

		gmtime_r(&ts.tv_sec, &tm);
		strftime(log_stamp, sizeof(log_stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		log_stamp_sec = ts.tv_sec;
	}
	memcpy(p, log_stamp, 19);       /* YYYY-MM-DDTHH:MM:SS */
	p += 19;
	*p++ = '.';
	us = (uint32_t)(ts.tv_nsec / 1000);
	for (int i = 5; i >= 0; i--) {
		p[i] = (char)('0' + us % 10);
		us /= 10;
	}
	p += 6;
	memcpy(p, "Z level=", 8);
	p += 8;
	len = strlen(name);
	memcpy(p, name, len);
	p += len;
	memcpy(p, " node=", 6);
	p += 6;
	memcpy(p, log_node, log_node_len);
	p += log_node_len;
	*p++ = ' ';
	return p;
}

/* The line at the buffer's end is complete up to END: keep it, and see it written. */
static void log_commit(char *end, enum log_level level)
{
	bool was_empty = log_len == 0;

	*end++ = '\n';
	log_len = (size_t)(end - log_buf);
	if (log_flush_hook == NULL || level == LOG_LEVEL_FATAL || log_no_hook)
		log_flush();
	else if (was_empty)
		log_flush_hook();
}

static void log_vwrite(enum log_level level, int errnum, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Writes one line: timestamp, level, node, the message, and strerror(ERRNUM) if nonzero. */
static void log_vwrite(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char *start, *p, *limit;
	int n;

	if (level > log_level)
		return;
	start = log_room();
	limit = start + LOG_LINE_MAX - 1;      /* the LF */
	p = log_prefix(start, level, NULL);
	n = vsnprintf(p, (size_t)(limit - p), fmt, ap);
	p = n < 0 ? p : n >= limit - p ? limit - 1 : p + n;
	if (errnum != 0) {
		const char *e = log_quote(strerror(errnum), strlen(strerror(errnum)));
		size_t elen = strlen(e);

		if ((size_t)(limit - p) > elen + 7) {
			memcpy(p, " error=", 7);
			memcpy(p + 7, e, elen);
			p += 7 + elen;
		}
	}
	log_commit(p, level);
}

/*
 * The first of 8 bytes (W, little-endian) that must be escaped, as its index, or 8: any
 * below 0x20 or from 0x7f, a quote or a backslash (util.h's bit tricks).
 */
static unsigned log_first_unsafe(uint64_t w)
{
	uint64_t m = swar_below(w, 0x20) | (w & SWAR_HIGHS) | swar_equal(w, '"') |
	    swar_equal(w, '\\') | swar_equal(w, 0x7f);

	return m == 0 ? 8 : swar_first(m);
}

/* Bytes from DATA[I] on, below LEN (bounded by what the caller keeps), standing for themselves. */
static size_t log_safe_run(const unsigned char *data, size_t i, size_t len)
{
	size_t start = i;

	while (len - i >= 8) {
		uint64_t w;
		unsigned k;

		memcpy(&w, data + i, 8);
		k = log_first_unsafe(w);
		i += k;
		if (k < 8)
			return i - start;
	}
	while (i < len && data[i] >= 0x20 && data[i] < 0x7f && data[i] != '"' && data[i] != '\\')
		i++;
	return i - start;
}

/* Quotes LEN bytes of DATA into OUT (room for MAX + 8) as log_quote_max; the end. */
static char *log_quote_into(char *out, const unsigned char *data, size_t len, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t keep = max < 16 ? 16 : max < LOG_QUOTE_MAX ? max : LOG_QUOTE_MAX;
	char *p = out, *cut = out + keep - 8;
	size_t i = 0;

	*p++ = '"';
	while (i < len) {
		/* A run of bytes that stand for themselves, copied at once. */
		size_t run = i + log_safe_run(data, i, len - i > keep ? i + keep : len);
		unsigned char c;

		if (run > i) {
			size_t n = run - i, room = p < cut ? (size_t)(cut - p) : 0;

			if (n > room)
				n = room;
			memcpy(p, data + i, n);
			p += n;
			i += n;
			if (i < run || (p >= cut && i < len)) {
				memcpy(p, "...", 3);
				p += 3;
				break;
			}
			continue;
		}
		if (p >= cut) {
			memcpy(p, "...", 3);
			p += 3;
			break;
		}
		c = data[i++];
		*p++ = '\\';
		if (c == '"' || c == '\\') {
			*p++ = (char)c;
		} else if (c == '\n') {
			*p++ = 'n';
		} else if (c == '\r') {
			*p++ = 'r';
		} else if (c == '\t') {
			*p++ = 't';
		} else {
			*p++ = 'x';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 0xf];
		}
	}
	*p++ = '"';
	return p;
}

/* Appends " KEY=" and then VALUE (LEN bytes) as they are at P; the end. */
static char *log_put_field(char *p, const char *key, const char *value, size_t len)
{
	size_t klen = strlen(key);

	*p++ = ' ';
	memcpy(p, key, klen);
	p[klen] = '=';
	p += klen + 1;
	memcpy(p, value, len);
	return p + len;
}

/* A hand-formatted line's start, stamped AT: the prefix, then "event=EVENT". */
static char *log_event_start(enum log_level level, const struct htime *at, const char *event)
{
	char *p = log_prefix(log_room(), level, at);

	memcpy(p, "event=", 6);
	memcpy(p + 6, event, strlen(event));
	return p + 6 + strlen(event);
}

void log_conn_line(enum log_level level, const char *event, uint64_t conn,
    const void *line, size_t len, size_t max, size_t bytes, const struct htime *at)
{
	char *p;

	if (level > log_level)
		return;
	p = log_put_u64(log_put_field(log_event_start(level, at, event), "conn", "", 0), conn);
	p = log_quote_into(log_put_field(p, "line", "", 0), line, len, max);
	p = log_put_u64(log_put_field(p, "bytes", "", 0), bytes);
	log_commit(p, level);
}

void log_link_line(enum log_level level, const char *event, uint64_t link, const char *peer,
    const void *line, size_t len, const struct htime *at)
{
	char *p;

	if (level > log_level)
		return;
	/* A node name is at most CONFIG_NAME_MAX bytes; the line fits what is left. */
	p = log_put_u64(log_put_field(log_event_start(level, at, event), "link", "", 0), link);
	p = log_put_field(p, "peer", peer, strlen(peer));
	p = log_quote_into(log_put_field(p, "line", "", 0), line, len, LOG_QUOTE_MAX);
	log_commit(p, level);
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

/* log_library's lines, written at once (no hook) by its caller. */
static void log_library_lines(enum log_level level, const char *source, const char *msg,
    uint64_t now_ms)
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

void log_library(enum log_level level, const char *source, const char *msg, uint64_t now_ms)
{
	log_no_hook = true;
	log_library_lines(level, source, msg, now_ms);
	log_no_hook = false;
}

const char *log_quote(const void *data, size_t len)
{
	return log_quote_max(data, len, LOG_QUOTE_MAX);
}

const char *log_quote_max(const void *data, size_t len, size_t max)
{
	static char slots[QUOTE_SLOTS][QUOTE_SIZE];
	static unsigned next;
	char *out = slots[next++ % QUOTE_SLOTS];

	*log_quote_into(out, data, len, max) = '\0';
	return out;
}
