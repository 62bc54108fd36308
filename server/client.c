/*
 * Client connections: line reading, command dispatch, ordered replies, one close path,
 * and the limits of README "Limits": a cap on connections, a deadline for each line, an
 * idle timeout from the last command, and a client whose TCP takes none of its replies
 * for client_write_timeout is closed even while they sit in the kernel's send buffer.
 */
#include "client.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "cmd.h"
#include "herdd.h"
#include "listen.h"
#include "log.h"
#include "stats.h"
#include "util.h"

/* How often every connection's deadlines are looked at. */
#define CLIENT_SWEEP_MS 1000
/* Stop reading a client whose replies pile up, le-proxy style; resume once they drain. */
#define CLIENT_OUTPUT_HIGH (256 * 1024)

struct reply {
	TAILQ_ENTRY(reply) entry;
	struct client *client;
	struct evbuffer *buf;
	bool ready;
	void (*cancel)(void *);
	void *cancel_arg;
};

struct client {
	TAILQ_ENTRY(client) entry;
	uint64_t id;
	struct bufferevent *bev;
	char addr[ADDR_TEXT_MAX];
	TAILQ_HEAD(, reply) replies;
	size_t nreplies;
	bool eof;         /* the client half-closed: answer what is left, then close */
	bool paused;      /* reading stopped until replies drain */
	bool draining;    /* inside client_drain: it decides about pausing and closing */
	uint64_t last_command_ms;    /* the last complete line, or the accept */
	uint64_t line_started_ms;    /* when the unfinished line in the input began; 0: none */
	/* Is the client reading? Bytes written are compared with what the kernel still holds. */
	uint64_t bytes_out;          /* handed to the bufferevent, ever */
	uint64_t bytes_acked;        /* of those, the most seen gone from the kernel */
	uint64_t read_progress_ms;   /* when BYTES_ACKED last grew, or output began */
	bool output_watched;         /* output may be waiting somewhere: check it */
};

static TAILQ_HEAD(, client) clients = TAILQ_HEAD_INITIALIZER(clients);
static uint64_t next_client_id = 1;
static struct acceptor *client_acceptor;
static struct event *client_sweep;

uint64_t client_id(const struct client *c)
{
	return c->id;
}

/* The single way a client connection ends: cancel what waits, free, log REASON. */
static void client_close(struct client *c, const char *reason)
{
	struct reply *r;

	log_info("event=client_close conn=%llu peer=%s reason=\"%s\"", (unsigned long long)c->id,
	    c->addr, reason);
	while ((r = TAILQ_FIRST(&c->replies)) != NULL) {
		TAILQ_REMOVE(&c->replies, r, entry);
		if (r->cancel != NULL)
			r->cancel(r->cancel_arg);
		evbuffer_free(r->buf);
		free(r);
	}
	TAILQ_REMOVE(&clients, c, entry);
	bufferevent_free(c->bev);
	stats.clients_current--;
	free(c);
	acceptor_closed(client_acceptor);
}

void client_close_all(void)
{
	struct client *c;

	while ((c = TAILQ_FIRST(&clients)) != NULL)
		client_close(c, "node stopping");
	acceptor_free(client_acceptor);
	client_acceptor = NULL;
	if (client_sweep != NULL)
		event_free(client_sweep);
	client_sweep = NULL;
}

/* Hands LEN bytes to the socket's output, noting them for the unread-replies check. */
static void client_note_output(struct client *c, size_t len)
{
	if (!c->output_watched) {
		c->output_watched = true;
		c->read_progress_ms = htime_mono_ms();
	}
	c->bytes_out += len;
}

/* Characters of a "? LINE" reply logged: the line itself is in the client_in just before. */
#define CLIENT_LOG_ECHO_MAX 64

/* Logs one reply going out (HEAD, LEN bytes of its start): its first line and its size. */
static void client_log_out(const struct client *c, const char *head, size_t len, size_t size)
{
	const char *nl = memchr(head, '\n', len);
	size_t first = nl != NULL ? (size_t)(nl - head) : len;
	size_t shown = len >= 2 && memcmp(head, "? ", 2) == 0 ? CLIENT_LOG_ECHO_MAX :
	    LOG_QUOTE_MAX;

	log_info("event=client_out conn=%llu line=%s bytes=%zu", (unsigned long long)c->id,
	    log_quote_max(head, first, shown), size);
}

/* Logs a queued reply as it goes out; only its first line is looked at. */
static void client_log_out_buffer(const struct client *c, struct evbuffer *buf)
{
	char head[LOG_QUOTE_MAX];
	ev_ssize_t n = evbuffer_copyout(buf, head, sizeof(head));

	client_log_out(c, head, n > 0 ? (size_t)n : 0, evbuffer_get_length(buf));
}

/* True when the client should stop being read until its output drains. */
static bool client_overloaded(struct client *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev)) > CLIENT_OUTPUT_HIGH ||
	    c->nreplies >= herdd.config->client_max_pending;
}

/* Closes a half-closed client once every reply is out; true if it closed. */
static bool client_finish_if_done(struct client *c)
{
	if (c->eof && c->nreplies == 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		client_close(c, "client closed");
		return true;
	}
	return false;
}

/* Runs one line read at READ_AT; a command (not an empty line) keeps C from being idle. */
static void client_line(struct client *c, const char *line, size_t len, struct htime read_at)
{
	log_info("event=client_in conn=%llu line=%s bytes=%zu", (unsigned long long)c->id,
	    log_quote(line, len), len);
	if (cmd_run(c, line, len, read_at))
		c->last_command_ms = htime_mono_ms();
}

/*
 * Runs every complete line in the input, the last unterminated one too after EOF.
 * Enforces max_line before a newline arrives. Returns false if the client was closed.
 */
static bool client_drain(struct client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t max_line = herdd.config->max_line;
	size_t left;

	c->draining = true;
	for (;;) {
		struct evbuffer_ptr eol;
		size_t eol_len;
		char *line;

		if (client_overloaded(c)) {
			/* The rest of the line waits on us now: its deadline starts over later. */
			c->line_started_ms = 0;
			c->paused = true;
			bufferevent_disable(c->bev, EV_READ);
			c->draining = false;
			return true;
		}
		eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		if (eol.pos < 0)
			break;
		if ((size_t)eol.pos > max_line) {
			log_warnx("event=line_too_long conn=%llu bytes=%zu max_line=%zu",
			    (unsigned long long)c->id, (size_t)eol.pos, max_line);
			client_close(c, "line too long");
			return false;
		}
		line = (char *)evbuffer_pullup(in, eol.pos + 1);
		client_line(c, line, (size_t)eol.pos, htime_now());
		evbuffer_drain(in, eol.pos + 1);
		c->line_started_ms = 0;
	}
	left = evbuffer_get_length(in);
	/* The deadline of a line counts from its first byte. */
	if (left > 0 && c->line_started_ms == 0)
		c->line_started_ms = htime_mono_ms();
	if (left > max_line) {
		log_warnx("event=line_too_long conn=%llu bytes=%zu max_line=%zu newline=no",
		    (unsigned long long)c->id, left, max_line);
		client_close(c, "line too long");
		return false;
	}
	if (c->eof && left > 0) {
		client_line(c, (char *)evbuffer_pullup(in, -1), left, htime_now());
		evbuffer_drain(in, left);
	}
	c->draining = false;
	return !client_finish_if_done(c);
}

/* Writes every completed reply at the head of the queue, then resumes or finishes. */
static void client_flush(struct client *c)
{
	struct bufferevent *bev = c->bev;
	struct reply *r;

	while ((r = TAILQ_FIRST(&c->replies)) != NULL && r->ready) {
		TAILQ_REMOVE(&c->replies, r, entry);
		c->nreplies--;
		client_log_out_buffer(c, r->buf);
		client_note_output(c, evbuffer_get_length(r->buf));
		bufferevent_write_buffer(bev, r->buf);
		evbuffer_free(r->buf);
		free(r);
	}
	if (c->draining)
		return;
	if (c->paused && !client_overloaded(c)) {
		c->paused = false;
		if (!c->eof)
			bufferevent_enable(c->bev, EV_READ);
		if (!client_drain(c))
			return;
	}
	client_finish_if_done(c);
}

void client_reply(struct client *c, const char *data, size_t len)
{
	struct reply *r;

	if (TAILQ_EMPTY(&c->replies)) {
		client_log_out(c, data, len, len);
		client_note_output(c, len);
		bufferevent_write(c->bev, data, len);
		return;
	}
	r = client_reply_defer(c);
	if (r == NULL) {
		log_warnx("event=client_reply_failed conn=%llu error=\"out of memory\"",
		    (unsigned long long)c->id);
		return;
	}
	/* Even a reply lost to ENOMEM must not hold back the ones queued after it. */
	if (evbuffer_add(r->buf, data, len) < 0)
		log_warnx("event=client_reply_failed conn=%llu error=\"out of memory\"",
		    (unsigned long long)c->id);
	r->ready = true;
}

struct reply *client_reply_defer(struct client *c)
{
	struct reply *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->buf = evbuffer_new();
	if (r->buf == NULL) {
		free(r);
		return NULL;
	}
	r->client = c;
	TAILQ_INSERT_TAIL(&c->replies, r, entry);
	c->nreplies++;
	return r;
}

struct evbuffer *reply_buffer(struct reply *r)
{
	return r->buf;
}

void reply_set_cancel(struct reply *r, void (*cancel)(void *), void *arg)
{
	r->cancel = cancel;
	r->cancel_arg = arg;
}

void reply_complete(struct reply *r)
{
	r->ready = true;
	r->cancel = NULL;
	client_flush(r->client);
}

static void client_read_cb(struct bufferevent *bev, void *arg)
{
	client_drain(arg);
}

static void client_write_cb(struct bufferevent *bev, void *arg)
{
	client_flush(arg);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;

	if (what & BEV_EVENT_EOF) {
		log_debug("event=client_eof conn=%llu", (unsigned long long)c->id);
		c->eof = true;
		client_drain(c);
	} else if (what & BEV_EVENT_ERROR) {
		client_close(c, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	}
}

/*
 * True when C has left output unread for client_write_timeout: the bytes it was sent
 * have not left the kernel's send buffer (SIOCOUTQ: not yet acknowledged) for that long.
 * A client whose window is open acknowledges what it gets, and counts as reading.
 */
static bool client_not_reading(struct client *c, uint64_t now)
{
	int unacked = 0;
	uint64_t in_kernel, acked;
	size_t queued = evbuffer_get_length(bufferevent_get_output(c->bev));

	if (ioctl(bufferevent_getfd(c->bev), SIOCOUTQ, &unacked) < 0)
		unacked = 0;
	in_kernel = c->bytes_out - queued;
	acked = unacked >= 0 && (uint64_t)unacked <= in_kernel ? in_kernel - (uint64_t)unacked : 0;
	if (acked > c->bytes_acked) {
		c->bytes_acked = acked;
		c->read_progress_ms = now;
	}
	if (unacked == 0 && queued == 0) {
		c->output_watched = false;
		return false;
	}
	return now - c->read_progress_ms > (uint64_t)herdd.config->client_write_timeout * 1000;
}

/* The reason C has run out of time, or NULL. */
static const char *client_expired(struct client *c, uint64_t now)
{
	const struct herd_config *cfg = herdd.config;

	if (c->line_started_ms != 0 &&
	    now - c->line_started_ms > (uint64_t)cfg->client_line_timeout * 1000)
		return "line timeout: a line took longer than client_line_timeout";
	if (c->output_watched && client_not_reading(c, now))
		return "write timeout: replies unread for client_write_timeout";
	/* A client waiting for a slow WHATSAT, or reading a long reply, is not idle. */
	if (c->nreplies == 0 && !c->output_watched &&
	    now - c->last_command_ms > (uint64_t)cfg->client_idle_timeout * 1000)
		return "idle timeout: no command for client_idle_timeout";
	return NULL;
}

/* Once a second: closes the connections whose line, idle or write deadline passed. */
static void client_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t now = htime_mono_ms();
	struct client *c, *next;

	for (c = TAILQ_FIRST(&clients); c != NULL; c = next) {
		const char *why = client_expired(c, now);

		next = TAILQ_NEXT(c, entry);
		if (why != NULL) {
			stats.clients_timed_out++;
			client_close(c, why);
		}
	}
}

static void client_accept_cb(evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct client *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		log_warnx("event=client_reject error=\"out of memory\"");
		evutil_closesocket(fd);
		return;
	}
	c->bev = bufferevent_socket_new(herdd.base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_warnx("event=client_reject error=\"out of memory\"");
		evutil_closesocket(fd);
		free(c);
		return;
	}
	acceptor_opened(client_acceptor);
	c->id = next_client_id++;
	TAILQ_INIT(&c->replies);
	addr_format(sa, (size_t)salen, c->addr);
	c->last_command_ms = htime_mono_ms();
	TAILQ_INSERT_TAIL(&clients, c, entry);
	stats.clients_current++;
	stats.clients_total++;
	bufferevent_setcb(c->bev, client_read_cb, client_write_cb, client_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	log_info("event=client_open conn=%llu peer=%s", (unsigned long long)c->id, c->addr);
}

void client_listen(evutil_socket_t fd, void *arg)
{
	struct timeval sweep = { CLIENT_SWEEP_MS / 1000, (CLIENT_SWEEP_MS % 1000) * 1000 };

	client_acceptor = acceptor_new(fd, "client", herdd.config->max_connections,
	    client_accept_cb, NULL);
	client_sweep = event_new(herdd.base, -1, EV_PERSIST, client_sweep_cb, NULL);
	if (client_sweep == NULL || event_add(client_sweep, &sweep) < 0)
		fatalx("event=listen_failed what=client error=\"cannot start the sweep timer\"");
}
