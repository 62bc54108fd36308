/* Unit tests of the log: a library's messages once per cause (log_library), quoting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "log.h"

static char path[] = "/tmp/herd-test-log-XXXXXX";
static char text[8192];

/* What the log holds, each line's message only (after "node=T "), lines joined by '|'. */
static const char *messages(void)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	size_t n = 0;

	text[0] = '\0';
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		const char *m = strstr(line, "node=T ");
		const char *level = strstr(line, "level=");

		if (m == NULL || level == NULL)
			continue;
		line[strcspn(line, "\n")] = '\0';
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%.*s %s", n > 0 ? "|" : "",
		    (int)strcspn(level + 6, " "), level + 6, m + 7);
	}
	if (f != NULL)
		fclose(f);
	return text;
}

static void test_library_messages_once_per_cause(void)
{
	log_library(LOG_LEVEL_WARN, "libevent", "Error from accept() call", 1000);
	log_library(LOG_LEVEL_WARN, "libevent", "Error from accept() call", 2000);
	log_library(LOG_LEVEL_WARN, "libevent", "Error from accept() call", 3000);
	CHECK_STR(messages(),
	    "warn event=libevent_message text=\"Error from accept() call\" repeated=0");

	/* A different text: the old one's two repeats are said first, at its level. */
	log_library(LOG_LEVEL_INFO, "libevent", "Nameserver 10.0.0.1:53 has failed", 4000);
	CHECK_STR(messages(),
	    "warn event=libevent_message text=\"Error from accept() call\" repeated=0|"
	    "warn event=libevent_message text=\"Error from accept() call\" repeated=2|"
	    "info event=libevent_message text=\"Nameserver 10.0.0.1:53 has failed\" repeated=0");

	/* The same text after the window: logged again, with the repeats in between. */
	log_library(LOG_LEVEL_INFO, "libevent", "Nameserver 10.0.0.1:53 has failed", 5000);
	log_library(LOG_LEVEL_INFO, "libevent", "Nameserver 10.0.0.1:53 has failed",
	    4000 + LOG_REPEAT_MS);
	CHECK(strstr(messages(), "|info event=libevent_message text=\"Nameserver 10.0.0.1:53 "
	    "has failed\" repeated=1") != NULL);

	/* Untrusted text is quoted; debug lines appear only when verbose (they are). */
	log_library(LOG_LEVEL_DEBUG, "libevent", "bad\nline", 30000);
	CHECK(strstr(messages(), "|debug event=libevent_message text=\"bad\\nline\" "
	    "repeated=0") != NULL);
}

/* log_quote_max as it was written first, a byte at a time: the reference. */
static const char *quote_reference(const unsigned char *p, size_t len, size_t max)
{
	static char out[600];
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	out[n++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];

		if (n + 8 >= max) {
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			out[n++] = '\\';
			out[n++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
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

/* The quoting that copies runs (8 bytes at a time) writes what the reference writes. */
static void test_quote_matches_reference(void)
{
	static const unsigned char alphabet[] = "aZ09 .-+\"\\\t\n\r\x7f\x80\xff\x1f\x20~";
	unsigned seed = 1;
	unsigned char data[1200];
	size_t maxes[] = { 64, 100, LOG_QUOTE_MAX };

	for (int i = 0; i < 30000; i++) {
		size_t len = (size_t)rand_r(&seed) % (i % 10 == 0 ? 1100 : 80);
		int mostly_safe = rand_r(&seed) % 2;
		size_t max = maxes[i % 3];
		const char *got;

		for (size_t k = 0; k < len; k++)
			data[k] = mostly_safe && rand_r(&seed) % 16 != 0 ? (unsigned char)('a' + k % 26) :
			    rand_r(&seed) % 3 == 0 ? (unsigned char)rand_r(&seed) :
			    alphabet[(size_t)rand_r(&seed) % (sizeof(alphabet) - 1)];
		got = log_quote_max(data, len, max);
		if (strcmp(got, quote_reference(data, len, max)) != 0) {
			CHECK_STR(got, quote_reference(data, len, max));
			break;
		}
	}
}

/* The hand-formatted hot-path lines read as the printf-formatted ones would, stamped AT. */
static void test_hand_formatted_lines(void)
{
	struct htime at = { 1700000000, 123456000 };
	FILE *f;
	char line[1024] = "";

	log_conn_line(LOG_LEVEL_INFO, "client_in", 42, "IAMAT kiwi \"x\"", 14, LOG_QUOTE_MAX,
	    15, &at);
	log_link_line(LOG_LEVEL_INFO, "peer_out", 7, "Parker", "AT Alford +0.1 k\n", 17, &at);
	log_flush();
	CHECK(strstr(messages(), "|info event=client_in conn=42 line=\"IAMAT kiwi \\\"x\\\"\" "
	    "bytes=15|info event=peer_out link=7 peer=Parker line=\"AT Alford +0.1 k\\n\"") !=
	    NULL);
	f = fopen(path, "r");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL && strstr(line, "peer_out") == NULL)
		;
	if (f != NULL)
		fclose(f);
	CHECK(strncmp(line, "2023-11-14T22:13:20.123456Z level=info node=T event=peer_out ",
	    strlen("2023-11-14T22:13:20.123456Z level=info node=T event=peer_out ")) == 0);
}

/* The stamp (YYYY-MM-DDTHH:MM:SS.UUUUUU) of the last line of the log holding WHAT, or "". */
static const char *stamp_of(const char *what)
{
	static char stamp[32];
	char line[1024];
	FILE *f = fopen(path, "r");

	stamp[0] = '\0';
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, what) != NULL)
			snprintf(stamp, sizeof(stamp), "%.26s", line);
	if (f != NULL)
		fclose(f);
	return stamp;
}

/*
 * A line stamped with a reading made a moment earlier never goes behind a line written
 * before it with a fresh one, nor a fresh one behind a reading a moment ahead (libevent's
 * cached time can be); a time further back is shown as it is.
 */
static void test_stamps_do_not_go_back(void)
{
	struct timespec now;
	struct htime earlier;
	char fresh[32];

	clock_gettime(CLOCK_REALTIME, &now);
	earlier.sec = (int64_t)now.tv_sec - 1;  /* 0.8 s before now */
	earlier.nsec = (int32_t)now.tv_nsec + 200000000;
	if (earlier.nsec >= 1000000000) {
		earlier.sec++;
		earlier.nsec -= 1000000000;
	}
	log_info("event=fresh_line");
	log_link_line(LOG_LEVEL_INFO, "peer_in", 1, "Parker", "PING 1", 6, &earlier);
	log_flush();
	snprintf(fresh, sizeof(fresh), "%s", stamp_of("event=fresh_line"));
	CHECK(fresh[0] != '\0');
	CHECK_STR(stamp_of("event=peer_in link=1 "), fresh);

	earlier.sec -= 5;
	log_link_line(LOG_LEVEL_INFO, "peer_in", 2, "Parker", "PING 2", 6, &earlier);
	log_flush();
	CHECK(strcmp(stamp_of("event=peer_in link=2 "), fresh) < 0);

	earlier.sec += 5 + 1;                   /* 0.2 s ahead of now */
	log_link_line(LOG_LEVEL_INFO, "peer_in", 3, "Parker", "PING 3", 6, &earlier);
	log_info("event=fresh_after_ahead");
	log_flush();
	snprintf(fresh, sizeof(fresh), "%s", stamp_of("event=peer_in link=3 "));
	CHECK_STR(stamp_of("event=fresh_after_ahead"), fresh);
}

int main(void)
{
	int fd = mkstemp(path);

	if (fd < 0)
		return 2;
	close(fd);
	if (log_init("T", path, 1) != 0)
		return 2;
	test_library_messages_once_per_cause();
	test_quote_matches_reference();
	test_hand_formatted_lines();
	test_stamps_do_not_go_back();
	log_close();
	unlink(path);
	return check_done("log");
}
