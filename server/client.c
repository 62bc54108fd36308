/*
 * Client connections: line reading, command dispatch, ordered replies, one close path,
 * and the limits of README "Limits": a cap on connections, a deadline for each line, an
 * idle timeout from the last command, and a client whose TCP takes none of its replies
 * for client_write_timeout is closed even while they sit in the kernel's send buffer.
 *
 * A reply goes straight into the socket's output buffer while no reply waits before it;
 * behind a WHATSAT it waits in a slot of its own. Closing a connection stops its I/O and
 * its waiting searches at once, and frees it from the loop later (tmux
 * server_client_unref), so no function has to tell its caller the client is gone.
 *
 * Two system calls a request, as redis: the node reads the socket itself (one read, no
 * FIONREAD probe as bufferevent's reader makes), and writes the replies of what it read
 * at the end of the same callback; the bufferevent's write event is armed only while
 * the socket takes less than that, so no epoll_ctl happens per request.
 */
#include "client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "cmd.h"
#include "herdd.h"
#include "listen.h"
#include "log.h"
#include "peer.h"
#include "reply.h"
#include "state.h"
#include "stats.h"
#include "util.h"
#include "xmalloc.h"

/* How often every connection's deadlines are looked at. */
#define CLIENT_SWEEP_MS 1000
/* A cut client (a line over max_line) that has its replies is read this long for its EOF. */
#define CLIENT_LINGER_MS 2000
/* Stop reading a client whose replies pile up, le-proxy style; resume once they drain. */
#define CLIENT_OUTPUT_HIGH (256 * 1024)
/* Bytes one read takes at most; a level-triggered loop comes back for the rest. */
#define CLIENT_READ_SIZE (16 * 1024)
/* Reads of a client's socket at a stop, for what it sent before (1 MiB). */
#define CLIENT_STOP_READS 64
/* Reads the stop's drain takes in one pass of the loop: the stop deadline and a second
 * signal are heard between passes however many clients have sent a lot. */
#define CLIENT_STOP_PASS_READS 64
/* Characters of a "? LINE" reply logged: the line itself is in the client_in just before. */
#define CLIENT_LOG_ECHO_MAX 64

struct reply {
	TAILQ_ENTRY(reply) entry;
	struct client *client;
	struct evbuffer *buf;
	bool ready;
	void (*cancel)(void *);
	void *cancel_arg;
};

struct client {
	struct cmd_conn conn;        /* what commands see; first, so they can hand it back */
	TAILQ_ENTRY(client) entry;   /* in clients, then in closed */
	uint64_t id;
	struct bufferevent *bev;     /* its buffers, and the writes the socket could not take */
	struct event *readable;      /* the node's own reads */
	bool write_armed;            /* the bufferevent's write event is on */
	char addr[ADDR_TEXT_MAX];
	TAILQ_HEAD(, reply) replies;
	size_t nreplies;
	bool eof;                    /* no more input: answer what is left, then close */
	bool half_closed;            /* the client's own EOF came (not only the stop's end) */
	bool cut;                    /* a line passed max_line: what came before it is
					answered, what comes after is read and thrown away */
	bool shut;                   /* its replies are out: shut for writing */
	uint64_t linger_until_ms;    /* cut and shut: closed at its EOF or then */
	bool abort;                  /* closed with a reset: it would not take what is left */
	bool paused;                 /* reading stopped until replies drain */
	bool closing;                /* closed: no I/O, freed from the loop soon */
	uint64_t last_command_ms;    /* the last command, or the accept */
	uint64_t line_started_ms;    /* when the unfinished line in the input began; 0: none */
	/* Is the client reading? Bytes written are compared with what the kernel still holds. */
	uint64_t bytes_out;          /* handed to the bufferevent, ever */
	uint64_t bytes_acked;        /* of those, the most seen gone from the kernel */
	uint64_t read_progress_ms;   /* when BYTES_ACKED last grew, or output began */
	bool output_watched;         /* output may be waiting somewhere: check it */
	bool held;                   /* its output waits for this pass's journal write */
	TAILQ_ENTRY(client) held_entry;
	bool stop_queued;            /* in stopping: its unread input is taken at the stop */
	TAILQ_ENTRY(client) stop_entry;
};

TAILQ_HEAD(client_list, client);
static struct client_list clients = TAILQ_HEAD_INITIALIZER(clients);
static struct client_list closed = TAILQ_HEAD_INITIALIZER(closed);
/* Clients whose replies may acknowledge records not yet in the journal (state.h). */
static TAILQ_HEAD(, client) held = TAILQ_HEAD_INITIALIZER(held);
/* At a stop: clients whose socket may still hold what they sent, taken a few a pass. */
static TAILQ_HEAD(, client) stopping = TAILQ_HEAD_INITIALIZER(stopping);
static struct event *stop_step;
static uint64_t next_client_id = 1;
static struct acceptor *client_acceptor;
static struct event *client_sweep;
static struct event *client_reaper;
/* Where a command writes its reply while earlier ones wait: moved into a slot after. */
static struct evbuffer *client_spare;
/* The node is stopping: clients get their answers and go; then DRAINED runs. */
static bool draining;
static void (*drained)(void);
static struct event *drained_event;

static void client_drain(struct client *c);
static void client_input_ended(struct client *c);
static ssize_t client_read(struct client *c);
static void client_finish_if_done(struct client *c);
static void client_flush(struct client *c);

/* Frees a reply slot (its owner was told, or it was complete). */
static void reply_free(struct reply *r)
{
	evbuffer_free(r->buf);
	free(r);
}

/* Frees every closed connection; from the loop, so never inside one's own callback. */
static void client_reap(void)
{
	struct client *c;

	while ((c = TAILQ_FIRST(&closed)) != NULL) {
		TAILQ_REMOVE(&closed, c, entry);
		if (c->abort) {
			const struct linger reset = { 1, 0 };

			(void)setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_LINGER, &reset,
			    sizeof(reset));
		}
		event_free(c->readable);
		bufferevent_free(c->bev);
		free(c);
		stats.clients_current--;
		if (client_acceptor != NULL)
			acceptor_closed(client_acceptor);
	}
}

static void client_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	client_reap();
}

/*
 * The single way a client connection ends: log REASON, tell the owners of waiting slots,
 * stop all I/O, and free it from the loop. Closing twice is harmless.
 */
static void client_close(struct client *c, const char *reason)
{
	struct reply *r;

	if (c->closing)
		return;
	c->closing = true;
	log_info("event=client_close conn=%llu peer=%s reason=\"%s\"", (unsigned long long)c->id,
	    c->addr, reason);
	while ((r = TAILQ_FIRST(&c->replies)) != NULL) {
		TAILQ_REMOVE(&c->replies, r, entry);
		if (r->cancel != NULL)
			r->cancel(r->cancel_arg);
		reply_free(r);
	}
	c->nreplies = 0;
	if (c->held) {
		TAILQ_REMOVE(&held, c, held_entry);
		c->held = false;
	}
	if (c->stop_queued) {
		TAILQ_REMOVE(&stopping, c, stop_entry);
		c->stop_queued = false;
	}
	event_del(c->readable);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
	TAILQ_REMOVE(&clients, c, entry);
	TAILQ_INSERT_TAIL(&closed, c, entry);
	event_active(client_reaper, EV_TIMEOUT, 1);
	if (draining && TAILQ_EMPTY(&clients))
		event_active(drained_event, EV_TIMEOUT, 1);
}

static void client_drained_cb(evutil_socket_t fd, short what, void *arg)
{
	drained();
}

/*
 * The drain's next pass, after the loop has polled again: an event made active from its
 * own callback would run in this pass, and signals and timers would wait for the end.
 */
static void client_stop_next(void)
{
	static const struct timeval now = { 0, 0 };

	evtimer_add(stop_step, &now);
}

/*
 * One pass of the stop's drain: what each client sent before the stop may still be in
 * its socket, unread; it is taken (at most CLIENT_STOP_READS reads a client), and the
 * client answered as if it had half-closed. About CLIENT_STOP_PASS_READS reads a pass.
 */
static void client_stop_step_cb(evutil_socket_t fd, short what, void *arg)
{
	struct client *c;
	int reads = 0;

	while (reads < CLIENT_STOP_PASS_READS && (c = TAILQ_FIRST(&stopping)) != NULL) {
		TAILQ_REMOVE(&stopping, c, stop_entry);
		c->stop_queued = false;
		for (int i = 0; i < CLIENT_STOP_READS && !c->closing && !c->eof; i++, reads++)
			if (client_read(c) <= 0)
				break;
		if (!c->closing && !c->eof)
			client_input_ended(c);
	}
	if (!TAILQ_EMPTY(&stopping))
		client_stop_next();
}

void client_drain_all(void (*done)(void))
{
	struct client *c, *next;

	draining = true;
	drained = done;
	drained_event = xcheck(event_new(herdd.base, -1, 0, client_drained_cb, NULL));
	stop_step = xcheck(evtimer_new(herdd.base, client_stop_step_cb, NULL));
	/* Connected before the stop, perhaps with lines sent: answered like the others. */
	if (client_acceptor != NULL)
		acceptor_take_backlog(client_acceptor, herdd.config->max_connections);
	acceptor_free(client_acceptor);
	client_acceptor = NULL;
	if (TAILQ_EMPTY(&clients)) {
		event_active(drained_event, EV_TIMEOUT, 1);
		return;
	}
	/* Their read events stay on meanwhile: what they send now is read as before. */
	for (c = TAILQ_FIRST(&clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		/* Half-closed and answered, it waited for the kernel: no longer. */
		if (c->shut)
			client_finish_if_done(c);
		if (c->closing || c->eof)
			continue;
		c->stop_queued = true;
		TAILQ_INSERT_TAIL(&stopping, c, stop_entry);
	}
	client_stop_next();
}

void client_close_all(void)
{
	struct client *c;

	while ((c = TAILQ_FIRST(&clients)) != NULL)
		client_close(c, "node stopping");
	client_reap();
	acceptor_free(client_acceptor);
	client_acceptor = NULL;
	if (client_sweep != NULL)
		event_free(client_sweep);
	client_sweep = NULL;
	if (client_reaper != NULL)
		event_free(client_reaper);
	client_reaper = NULL;
	if (client_spare != NULL)
		evbuffer_free(client_spare);
	client_spare = NULL;
	if (drained_event != NULL)
		event_free(drained_event);
	drained_event = NULL;
	if (stop_step != NULL)
		event_free(stop_step);
	stop_step = NULL;
}

/* LEN more bytes went to the socket's output: the unread-replies check watches them. */
static void client_note_output(struct client *c, size_t len, uint64_t now_ms)
{
	if (!c->output_watched) {
		c->output_watched = true;
		c->read_progress_ms = now_ms;
	}
	c->bytes_out += len;
}

/* Logs one reply going out: the first line of its text at FROM in BUF, and its size. */
static void client_log_out(const struct client *c, struct evbuffer *buf, size_t from,
    size_t size, const struct htime *at)
{
	char head[LOG_QUOTE_MAX];
	struct evbuffer_ptr pos;
	struct evbuffer_iovec v[4];
	int nv = 0;
	const char *nl;
	size_t len = 0, first;

	/* Peek, not copy out: a bufferevent's output buffer is frozen at its front. */
	if (evbuffer_ptr_set(buf, &pos, from, EVBUFFER_PTR_SET) == 0)
		nv = evbuffer_peek(buf, (ev_ssize_t)sizeof(head), &pos, v, (int)nitems(v));
	/* The usual reply, one line in one piece: logged from where it is. */
	if (nv >= 1 && (nl = memchr(v[0].iov_base, '\n', v[0].iov_len)) != NULL) {
		const char *text = v[0].iov_base;

		first = (size_t)(nl - text);
		log_conn_line(LOG_LEVEL_INFO, "client_out", c->id, text, first,
		    first >= 2 && memcmp(text, "? ", 2) == 0 ? CLIENT_LOG_ECHO_MAX : LOG_QUOTE_MAX,
		    size, at);
		return;
	}
	for (int i = 0; i < nv && i < (int)nitems(v) && len < sizeof(head); i++) {
		size_t n = v[i].iov_len < sizeof(head) - len ? v[i].iov_len : sizeof(head) - len;

		memcpy(head + len, v[i].iov_base, n);
		len += n;
	}
	nl = memchr(head, '\n', len);
	first = nl != NULL ? (size_t)(nl - head) : len;
	log_conn_line(LOG_LEVEL_INFO, "client_out", c->id, head, first,
	    len >= 2 && memcmp(head, "? ", 2) == 0 ? CLIENT_LOG_ECHO_MAX : LOG_QUOTE_MAX, size, at);
}

/*
 * C's output goes out only after the journal write at the end of this pass when it may
 * acknowledge a record stored in the pass: its socket is not written until then.
 */
static void client_hold(struct client *c)
{
	if (c->held || !(state_pending() || peers_pending()))
		return;
	c->held = true;
	if (c->write_armed) {
		bufferevent_disable(c->bev, EV_WRITE);
		c->write_armed = false;
	}
	TAILQ_INSERT_TAIL(&held, c, held_entry);
}

/*
 * Writes C's output to its socket now, unless it is held for the journal or the socket
 * is already known to be full; what the socket does not take waits for the
 * bufferevent's write event.
 */
static void client_send(struct client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (c->closing || c->held || c->write_armed || evbuffer_get_length(out) == 0)
		return;
	/* The bufferevent keeps its output's front frozen; its own writer thaws it too. */
	evbuffer_unfreeze(out, 1);
	if (evbuffer_write(out, bufferevent_getfd(c->bev)) < 0 && errno != EAGAIN &&
	    errno != EINTR) {
		evbuffer_freeze(out, 1);
		client_close(c, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return;
	}
	evbuffer_freeze(out, 1);
	if (evbuffer_get_length(out) > 0) {
		c->write_armed = true;
		bufferevent_enable(c->bev, EV_WRITE);
	}
}

void client_release(void)
{
	struct client *c;

	/*
	 * The journal's write and the links' are both ends of a pass: the later one releases.
	 * Looked at for each client: one resumed by its flush runs the lines it kept, and
	 * holds the rest (itself too) for the write of what they appended.
	 */
	while (!(state_pending() || peers_pending()) && (c = TAILQ_FIRST(&held)) != NULL) {
		TAILQ_REMOVE(&held, c, held_entry);
		c->held = false;
		client_flush(c);
	}
}

/* True when the client should stop being read until its output drains. */
static bool client_overloaded(const struct client *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev)) > CLIENT_OUTPUT_HIGH ||
	    c->nreplies >= herdd.config->client_max_pending;
}

/* Bytes of C's replies the kernel has not had acknowledged (its FIN too); 0 if unknown. */
static int client_unsent(const struct client *c)
{
	int unsent = 0;

	return ioctl(bufferevent_getfd(c->bev), SIOCOUTQ, &unsent) == 0 ? unsent : 0;
}

/*
 * Closes a half-closed (or cut) client once every reply is out: shut for writing as soon
 * as the node has handed over the last one (the client sees its EOF after them), closed
 * once the kernel has delivered them. Until then it stays a connection of the node's,
 * under client_write_timeout: the kernel keeps what a closed socket still has to send,
 * for a client that does not read as long as it keeps the connection, outside every
 * limit of the node's. A cut client may still be sending: bytes that reach a closed
 * socket make the kernel reset the connection, and the replies on their way with it; it
 * is read until its EOF, for at most CLIENT_LINGER_MS. The sweep looks again each second.
 */
static void client_finish_if_done(struct client *c)
{
	int fd = bufferevent_getfd(c->bev);
	struct tcp_info info;

	if (!(c->eof || c->cut) || c->nreplies > 0 ||
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
		return;
	if (!c->shut) {
		(void)shutdown(fd, SHUT_WR);
		c->shut = true;
		/* Its FIN waits on its window too: the write deadline watches from here. */
		c->output_watched = true;
		c->read_progress_ms = htime_mono_ms();
		if (!c->eof) {
			c->linger_until_ms = htime_mono_ms() + CLIENT_LINGER_MS;
			/* Read again, now that its replies are out (client_line_too_long). */
			event_add(c->readable, NULL);
		}
	}
	if (!c->eof)
		return;
	/*
	 * SIOCOUTQ counts the FIN too until it is acknowledged, so this is mostly the
	 * sweep's to see. At a stop the node goes whatever the kernel still holds; a client
	 * that reset the connection has nothing more coming.
	 */
	if (!draining && client_unsent(c) > 0 &&
	    getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &(socklen_t){ sizeof(info) }) == 0 &&
	    info.tcpi_state != TCP_CLOSE)
		return;
	client_close(c, c->cut ? "line too long" : "client closed");
}

/* A new slot at the end of C's queue of replies. */
static struct reply *client_slot(struct client *c)
{
	struct reply *r = xcalloc(1, sizeof(*r));

	r->buf = xcheck(evbuffer_new());
	r->client = c;
	TAILQ_INSERT_TAIL(&c->replies, r, entry);
	c->nreplies++;
	return r;
}

/* cmd_conn's defer: the slot a command fills later. */
static struct reply *client_defer(struct cmd_conn *conn)
{
	return client_slot((struct client *)(void *)conn);
}

/*
 * Runs one line read at READ_AT (NOW_MS on the monotonic clock). Its reply goes into the
 * socket's output, or, behind a waiting one, into a slot of its own; a command (not an
 * empty line) keeps C from idling.
 */
static void client_line(struct client *c, const char *line, size_t len, struct htime read_at,
    uint64_t now_ms)
{
	bool queued = !TAILQ_EMPTY(&c->replies);
	struct evbuffer *out = queued ? client_spare : bufferevent_get_output(c->bev);
	size_t before = evbuffer_get_length(out);
	struct reply *r;

	log_conn_line(LOG_LEVEL_INFO, "client_in", c->id, line, len, LOG_QUOTE_MAX, len, &read_at);
	switch (cmd_run(&c->conn, line, len, read_at, out)) {
	case CMD_EMPTY:
		return;
	case CMD_WAIT:
		break;
	case CMD_INVALID:
	case CMD_DONE:
		if (queued) {
			r = client_slot(c);
			evbuffer_add_buffer(r->buf, client_spare);
			r->ready = true;
		} else {
			client_log_out(c, out, before, evbuffer_get_length(out) - before, &read_at);
			client_note_output(c, evbuffer_get_length(out) - before, now_ms);
			client_hold(c);
		}
		break;
	}
	c->last_command_ms = now_ms;
}

/*
 * Ends C at a line of BYTES bytes over max_line (NEWLINE: its LF has come): the lines
 * before it are answered, nothing after it runs, and C is closed once its replies are out.
 */
static void client_line_too_long(struct client *c, size_t bytes, bool newline)
{
	log_warnx("event=line_too_long conn=%llu bytes=%zu max_line=%zu%s",
	    (unsigned long long)c->id, bytes, herdd.config->max_line, newline ? "" :
	    " newline=no");
	c->cut = true;
	c->line_started_ms = 0;
	/* Not read while its replies are made: it could make the node read at any speed. */
	event_del(c->readable);
}

/*
 * Runs the complete lines of the LEN bytes at BUF (what was read, or C's kept input)
 * while C takes more; returns how many bytes they took. Output past the pause marks is
 * sent first; what is left (a line's start, or lines after a pause) is C's to keep.
 */
static size_t client_run_lines(struct client *c, const char *buf, size_t len)
{
	struct htime read_at = { 0, 0 };
	uint64_t now_ms = 0;
	size_t max_line = herdd.config->max_line, done = 0;
	const char *nl;

	while (!c->closing && !c->cut && (nl = memchr(buf + done, '\n', len - done)) != NULL) {
		size_t n = (size_t)(nl - (buf + done));

		if (client_overloaded(c)) {
			client_send(c);
			if (c->closing || client_overloaded(c))
				break;
		}
		if (n > max_line) {
			client_line_too_long(c, n, true);
			break;
		}
		/* One clock reading for the lines of one read: they all arrived then. */
		if (now_ms == 0) {
			read_at = htime_now();
			now_ms = htime_mono_ms();
		}
		client_line(c, buf + done, n, read_at, now_ms);
		done += n + 1;
		c->line_started_ms = 0;
	}
	return done;
}

/*
 * Runs every complete line in the input, the last unterminated one too after EOF.
 * Enforces max_line before a newline arrives, and stops reading while replies pile up.
 */
static void client_drain(struct client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t left = evbuffer_get_length(in);

	if (left > 0) {
		left -= client_run_lines(c, (const char *)evbuffer_pullup(in, -1), left);
		if (c->closing)
			return;
		evbuffer_drain(in, evbuffer_get_length(in) - left);
	}
	/* Only a line still being typed is left, unless a pause left whole lines. */
	if (!c->cut && left > herdd.config->max_line && !client_overloaded(c))
		client_line_too_long(c, left, false);
	if (c->cut) {
		evbuffer_drain(in, left);
		client_send(c);
		if (!c->closing)
			client_finish_if_done(c);
		return;
	}
	client_send(c);
	if (c->closing)
		return;
	if (client_overloaded(c)) {
		/* The rest of the line waits on us now: its deadline starts over later. */
		c->line_started_ms = 0;
		c->paused = true;
		event_del(c->readable);
		return;
	}
	/* The deadline of a line counts from its first byte. */
	if (left > 0 && c->line_started_ms == 0)
		c->line_started_ms = htime_mono_ms();
	if (c->eof && left > 0 && draining && !c->half_closed) {
		/* A line still being typed when the node stops is not a command yet. */
		log_info("event=client_line_dropped conn=%llu bytes=%zu reason=\"node stopping\"",
		    (unsigned long long)c->id, left);
		evbuffer_drain(in, left);
	} else if (c->eof && left > 0) {
		client_line(c, (char *)evbuffer_pullup(in, -1), left, htime_now(), htime_mono_ms());
		evbuffer_drain(in, left);
		c->line_started_ms = 0;
		client_send(c);
	}
	client_finish_if_done(c);
}

/* Writes every completed reply at the head of the queue, then resumes or finishes. */
static void client_flush(struct client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct reply *r;

	while ((r = TAILQ_FIRST(&c->replies)) != NULL && r->ready) {
		TAILQ_REMOVE(&c->replies, r, entry);
		c->nreplies--;
		client_log_out(c, r->buf, 0, evbuffer_get_length(r->buf), NULL);
		client_note_output(c, evbuffer_get_length(r->buf), htime_mono_ms());
		evbuffer_add_buffer(out, r->buf);
		reply_free(r);
		client_hold(c);
	}
	/* What the socket takes now counts before the pause is looked at again. */
	client_send(c);
	if (c->closing)
		return;
	if (c->paused && !client_overloaded(c)) {
		c->paused = false;
		if (!c->eof && !draining)
			event_add(c->readable, NULL);
		client_drain(c);
		return;
	}
	client_finish_if_done(c);
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

/*
 * One read, then every complete line. While nothing of C's waits in its input (the
 * usual case), the read goes to one buffer all clients share and the lines run from
 * there; only what is left over is copied into C's input.
 */
/* C sends nothing more (it half-closed, or the node stops): what it sent is answered,
 * then it is closed. */
static void client_input_ended(struct client *c)
{
	c->eof = true;
	event_del(c->readable);
	client_drain(c);
}

/* One read of C's socket, and the lines it completes; read()'s result. */
static ssize_t client_read(struct client *c)
{
	static char shared[CLIENT_READ_SIZE];
	struct evbuffer *in = bufferevent_get_input(c->bev);
	ssize_t n = read(bufferevent_getfd(c->bev), shared, sizeof(shared));
	size_t done = 0;

	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			client_close(c, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return n;
	}
	if (n == 0) {
		log_debug("event=client_eof conn=%llu", (unsigned long long)c->id);
		c->half_closed = true;
		client_input_ended(c);
		return 0;
	}
	/* Read on, so that the close does not find unread bytes (client_finish_if_done). */
	if (c->cut)
		return n;
	if (evbuffer_get_length(in) == 0) {
		done = client_run_lines(c, shared, (size_t)n);
		if (c->closing)
			return n;
		if (done == (size_t)n && !client_overloaded(c)) {
			/* All taken: nothing is kept, nothing else to check. */
			client_send(c);
			return n;
		}
	}
	/* Kept: only the bytes that came (the bufferevent keeps its input's end frozen). */
	evbuffer_unfreeze(in, 0);
	if (evbuffer_add(in, shared + done, (size_t)n - done) < 0)
		fatalx("event=out_of_memory what=\"a client's input\"");
	evbuffer_freeze(in, 0);
	client_drain(c);
	return n;
}

static void client_readable_cb(evutil_socket_t fd, short what, void *arg)
{
	client_read(arg);
}

/* The socket took all that waited: writes go straight out again. */
static void client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	c->write_armed = false;
	bufferevent_disable(bev, EV_WRITE);
	client_flush(c);
}

static void client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;

	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))
		client_close(c, what & BEV_EVENT_ERROR ?
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()) : "connection closed");
}

/*
 * True when C has left output unread for client_write_timeout: the bytes it was sent
 * have not left the kernel's send buffer (SIOCOUTQ: not yet acknowledged) for that long.
 * A client whose window is open acknowledges what it gets, and counts as reading.
 */
static bool client_not_reading(struct client *c, uint64_t now)
{
	int unacked;
	uint64_t in_kernel, acked;
	size_t queued = evbuffer_get_length(bufferevent_get_output(c->bev));

	/* Held for the journal (a disk refusing writes): the wait is the node's, not C's. */
	if (c->held) {
		c->read_progress_ms = now;
		return false;
	}
	unacked = client_unsent(c);
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

/* client_expired's reason for a client that does not read: it is closed with a reset. */
static const char client_write_timed_out[] =
    "write timeout: replies unread for client_write_timeout";

/* The reason C has run out of time, or NULL. */
static const char *client_expired(struct client *c, uint64_t now)
{
	const struct herd_config *cfg = herdd.config;

	if (c->line_started_ms != 0 &&
	    now - c->line_started_ms > (uint64_t)cfg->client_line_timeout * 1000)
		return "line timeout: a line took longer than client_line_timeout";
	if (c->output_watched && client_not_reading(c, now))
		return client_write_timed_out;
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
		const char *why;

		next = TAILQ_NEXT(c, entry);
		if (c->linger_until_ms != 0 && now >= c->linger_until_ms) {
			/* Replies the kernel still holds would outlive a plain close. */
			c->abort = client_unsent(c) > 0;
			client_close(c, "line too long");
			continue;
		}
		if (c->shut) {
			client_finish_if_done(c);
			if (c->closing)
				continue;
		}
		why = client_expired(c, now);
		if (why != NULL) {
			/* What it would not take goes, in the kernel too. */
			c->abort = why == client_write_timed_out;
			stats.clients_timed_out++;
			client_close(c, why);
		}
	}
}

static void client_accept_cb(evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct client *c = xcalloc(1, sizeof(*c));
	int one = 1;

	/* Each reply goes out when its batch is answered, not after Nagle's wait. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->bev = xcheck(bufferevent_socket_new(herdd.base, fd, BEV_OPT_CLOSE_ON_FREE));
	c->readable = xcheck(event_new(herdd.base, fd, EV_READ | EV_PERSIST, client_readable_cb,
	    c));
	acceptor_opened(client_acceptor);
	c->id = next_client_id++;
	c->conn.id = c->id;
	c->conn.defer = client_defer;
	TAILQ_INIT(&c->replies);
	addr_format(sa, (size_t)salen, c->addr);
	c->last_command_ms = htime_mono_ms();
	TAILQ_INSERT_TAIL(&clients, c, entry);
	stats.clients_current++;
	stats.clients_total++;
	bufferevent_setcb(c->bev, NULL, client_write_cb, client_event_cb, c);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	if (event_add(c->readable, NULL) < 0)
		fatalx("event=bug where=client_accept error=\"cannot add a read event\"");
	log_info("event=client_open conn=%llu peer=%s", (unsigned long long)c->id, c->addr);
}

void client_listen(evutil_socket_t fd, void *arg)
{
	struct timeval sweep = { CLIENT_SWEEP_MS / 1000, (CLIENT_SWEEP_MS % 1000) * 1000 };

	client_acceptor = acceptor_new(fd, "client", herdd.config->max_connections,
	    client_accept_cb, NULL);
	client_spare = xcheck(evbuffer_new());
	client_reaper = xcheck(event_new(herdd.base, -1, 0, client_reap_cb, NULL));
	client_sweep = xcheck(event_new(herdd.base, -1, EV_PERSIST, client_sweep_cb, NULL));
	if (event_add(client_sweep, &sweep) < 0)
		fatalx("event=listen_failed what=client error=\"cannot start the sweep timer\"");
}
