/*
 * One log per node: a line per event, "TIMESTAMP level=LEVEL node=NAME key=value ...",
 * timestamps in UTC. Messages are key=value text; quote untrusted bytes with log_quote.
 * Lines collect in a buffer of 64 KiB, written when the hook's owner calls log_flush
 * (herdd: once per loop pass), when it fills, and at once for a fatal line.
 */
#ifndef HERD_LOG_H
#define HERD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "htime.h"

enum log_level {
	LOG_LEVEL_FATAL = -1,    /* fatal and fatalx: the line before the node exits */
	LOG_LEVEL_WARN = 0,
	LOG_LEVEL_INFO = 1,
	LOG_LEVEL_DEBUG = 2,
};

/* PATH NULL logs to stderr. VERBOSITY 0 logs warnings and info, 1 or more adds debug. */
int log_init(const char *node, const char *path, int verbosity);
/* Reopens the log file (SIGHUP), so that rotation works; 0 on success. */
int log_reopen(void);
void log_close(void);
int log_verbosity(void);
/* True when lines of LEVEL are logged. */
bool log_enabled(enum log_level level);

/*
 * HOOK is called when a line goes into an empty buffer; its owner then calls log_flush
 * soon (herdd: at the end of the loop pass). Without a hook, every line is written at
 * once. Setting it writes what is waiting.
 */
void log_set_flush_hook(void (*hook)(void));
/* Writes the waiting lines; lines a failed write could not take are dropped. */
void log_flush(void);
/* Lines dropped so far because the log could not be written. */
uint64_t log_lines_dropped(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Milliseconds within which a library's same message again is counted, not logged. */
#define LOG_REPEAT_MS 10000

/*
 * A library's own message (libevent's "Error from accept() call") as one line,
 * "event=SOURCE_message text=... repeated=N", once per cause: the same text again within
 * LOG_REPEAT_MS of its line is only counted. N is how often the text came unlogged before
 * this line; when a different text comes, the old one's count is logged first. NOW_MS
 * is a monotonic clock.
 */
void log_library(enum log_level level, const char *source, const char *msg, uint64_t now_ms);

/*
 * The hot path's line, formatted by hand: "event=EVENT conn=CONN line=\"...\" bytes=BYTES",
 * the LEN bytes of LINE quoted as log_quote_max(LINE, LEN, MAX) does, stamped AT (the
 * time its caller already has, e.g. when the line was read; NULL: now).
 */
void log_conn_line(enum log_level level, const char *event, uint64_t conn,
    const void *line, size_t len, size_t max, size_t bytes, const struct htime *at);

/* The same for a peer link: "event=EVENT link=LINK peer=PEER line=\"...\"". */
void log_link_line(enum log_level level, const char *event, uint64_t link, const char *peer,
    const void *line, size_t len, const struct htime *at);

/* Characters of a quoted value at most; a client's 4 KB line is logged as its first part. */
#define LOG_QUOTE_MAX 512

/*
 * Quotes DATA for a log field: "..." with \" \\ \t \r \n and \xNN for other bytes that
 * are not printable ASCII. The result lives in one of a few rotating static buffers, so
 * up to four quoted values can appear in one log call. Values longer than LOG_QUOTE_MAX
 * characters are cut with "..."; log their length beside them.
 */
const char *log_quote(const void *data, size_t len);
/* The same, cut at MAX (at most LOG_QUOTE_MAX) characters. */
const char *log_quote_max(const void *data, size_t len, size_t max);

#endif
