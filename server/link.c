/*
 * Peer links: one TCP connection each, from the first HELLO to its close. The wire format
 * and the reasons behind the numbers below are in README.md, "Peer links and the wire
 * format"; the pure parts live in peerproto.c, what the records mean in flood.c, and the
 * neighbours themselves in peer.c.
 */
#include "link.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "config.h"
#include "digest.h"
#include "flood.h"
#include "herdd.h"
#include "linkstate.h"
#include "log.h"
#include "pendset.h"
#include "peerproto.h"
#include "peertls.h"
#include "ratelimit.h"
#include "recon.h"
#include "stats.h"
#include "table.h"
#include "tls.h"
#include "util.h"
#include "xmalloc.h"

/*
 * Records and walk lines are written while fewer than LINK_HIGH bytes are queued; past
 * it they wait (flooded records in the link's pending set, newest wins) and the write
 * callback tops the queue up again whenever it drains below LINK_LOW.
 */
#define LINK_HIGH CONFIG_PEER_SYNC_WINDOW
#define LINK_LOW (16 * 1024)
#define LINK_TICK_MS 250
#define LINK_READ_SIZE (64 * 1024)    /* one read; the lines in it run from there */
#define LINK_FLUSH_ROUNDS 8           /* top-ups per flush before the write event goes on */
#define LINK_PING_IDLE_MS 1000        /* PING when nothing was sent for this long */
/* Lines about connections that have not authenticated: anyone can open those. */
#define LINK_STRANGER_LOG_BURST 100

enum link_phase {
	LINK_CONNECTING,   /* outbound, TCP connect under way */
	LINK_HELLO,        /* our HELLO is out, waiting for theirs */
	LINK_AUTH,         /* our AUTH is out, waiting for theirs */
	LINK_UP,           /* authenticated */
};

/*
 * The socket is read by the link's own event, into one buffer all links share; the
 * bufferevent holds what is queued for the neighbour and only writes it (its write event
 * on) while the socket is full. Otherwise output goes out at the end of the pass: in
 * peer.c's flood write, or by links_write for lines queued outside a flood.
 */
struct link {
	TAILQ_ENTRY(link) entry;     /* in links, then in closed */
	TAILQ_ENTRY(link) dirty_entry;   /* in dirty while output waits for links_write */
	uint64_t id;
	struct bufferevent *bev;     /* plaintext: the socket's; TLS: the TLS filter over RAW */
	struct bufferevent *raw;     /* TLS: the socket's, which holds what TLS wrote; NULL:
					a plaintext link */
	struct event *readable;      /* the socket's read event, once connected */
	bool dirty;
	bool write_armed;            /* the socket was full: the bufferevent writes the rest */
	bool flushing;
	struct event *tick;
	struct peer *peer;           /* the owner's; NULL for an inbound link until its HELLO */
	const char *name;            /* the neighbour's, once known */
	bool outbound;
	bool closing;
	bool in_connect;             /* inside bufferevent_socket_connect */
	bool connect_failed;         /* ... which reported an error synchronously */
	enum link_phase phase;
	char addr[ADDR_TEXT_MAX];
	char nonce[PEERPROTO_NONCE_HEX + 1];
	char peer_nonce[PEERPROTO_NONCE_HEX + 1];
	char binding[PEERTLS_BINDING_HEX + 1];   /* TLS: the channel's, in the AUTH MAC */
	uint64_t opened_ms, last_in_ms, last_out_ms;
	uint64_t records_sent, records_received;
	/* Flooded records that found the link busy: sent, as they are then, when it drains. */
	struct pendset floods;
	/* The whole table this node sends (the other end was empty), resumed as it drains. */
	bool syncing;
	bool sync_open;              /* the neighbour's SYNC-BEGIN came, its SYNC-END not yet */
	bool skipping;               /* the rest of a record refused as too long, up to its LF */
	struct table_iter sync_it;
	uint64_t sync_sent;
	/* The digest walk (recon.h): whose turn it is, its round, lines of the turn so far. */
	enum { WALK_NONE, WALK_MINE, WALK_THEIRS } turn;
	/* What this end's DIGEST-BEGIN said: both ends decide from the two said values. */
	bool digest_begun, digest_heard;
	uint64_t said_count, said_root;
	uint32_t said_key;
	bool alternate;              /* link_fill: a walk or sync line next, then a flood */
	struct recon walk;
	uint64_t round, round_out, round_in;
	uint64_t walk_started_ms, walk_sent, walk_rounds;
	/* What the neighbour's sync or walk brought. */
	uint64_t sync_received, sync_stored;
	/* Warnings the neighbour's lines cause (bad records, unknown words), rate-limited. */
	struct ratelimit warnings;
};

TAILQ_HEAD(link_list, link);
static struct link_list links = TAILQ_HEAD_INITIALIZER(links);
static struct link_list closed = TAILQ_HEAD_INITIALIZER(closed);
static struct link_list dirty = TAILQ_HEAD_INITIALIZER(dirty);
static struct event *links_write_event;
static const struct link_owner *owner;
static struct event *reaper;
static const unsigned char *secret;    /* peer.c's; empty for a loopback herd */
static size_t secret_len;
static size_t line_max;
static size_t pending_inbound;
static uint64_t next_link_id = 1;
/* The loop's time at the start of this pass (libevent caches it): for log stamps. */
static struct htime link_pass_time(void)
{
	struct timeval tv;
	struct htime t;

	if (event_base_gettimeofday_cached(herdd.base, &tv) < 0)
		return htime_now();
	t.sec = tv.tv_sec;
	t.nsec = (uint32_t)tv.tv_usec * 1000;
	return t;
}

/*
 * True when a log line about L should be skipped: L is an inbound connection that has
 * not authenticated, and such lines come faster than LINK_STRANGER_LOG_BURST per
 * interval. The first line allowed again says how many were skipped.
 */
static bool link_log_quiet(const struct link *l)
{
	static struct ratelimit stranger_logs;
	uint64_t held_back;

	if (l->outbound || l->phase == LINK_UP)
		return false;
	if (!ratelimit_allow_burst(&stranger_logs, htime_mono_ms(), LINK_STRANGER_LOG_BURST,
	    &held_back))
		return true;
	if (held_back > 0)
		log_warnx("event=peer_logs_suppressed lines=%llu reason=\"lines about "
		    "unauthenticated connections, rate-limited\"", (unsigned long long)held_back);
	return false;
}

const char *link_name(const struct link *l)
{
	return l->name != NULL ? l->name : "?";
}

/*
 * Logs one line in or out, at info as SPEC 7 asks of every line on a peer connection:
 * heartbeats, link-state reports, the walk's lines and sync records too.
 */
static void link_log_line(const struct link *l, const char *dir, enum peer_msg_kind kind,
    const char *line, size_t len)
{
	static const char auth_redacted[] = "AUTH (mac)";

	if (link_log_quiet(l))
		return;
	/* A MAC is no secret, but it is all an offline guess at a weak secret would need. */
	if (kind == PEER_MSG_AUTH) {
		line = auth_redacted;
		len = sizeof(auth_redacted) - 1;
	}
	if (log_verbosity() >= LOG_LEVEL_INFO) {
		struct htime at = link_pass_time();

		log_link_line(LOG_LEVEL_INFO, dir[0] == 'i' ? "peer_in" : "peer_out", l->id,
		    link_name(l), line, len, &at);
	}
}

static void link_raw_drained_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg);

/* Frees every closed link; from the loop, so never inside one's own callback. */
static void links_reap(void)
{
	struct link *l;

	while ((l = TAILQ_FIRST(&closed)) != NULL) {
		TAILQ_REMOVE(&closed, l, entry);
		pendset_clear(&l->floods);
		recon_clear(&l->walk);
		if (l->readable != NULL)
			event_free(l->readable);
		event_free(l->tick);
		/* The socket's bufferevent outlives the filter until libevent finalizes it. */
		if (l->raw != NULL)
			evbuffer_remove_cb(bufferevent_get_output(l->raw), link_raw_drained_cb, l);
		bufferevent_free(l->bev);
		free(l);
	}
}

static void links_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	links_reap();
}

void link_close(struct link *l, const char *reason)
{
	bool live;

	if (l->closing)
		return;
	l->closing = true;
	if (!l->outbound && l->phase != LINK_UP) {
		pending_inbound--;
		/* A stranger that only named a neighbour is none of that neighbour's doing. */
		l->peer = NULL;
	}
	live = owner->detach(l, l->peer);
	if (live)
		log_info("event=peer_down peer=%s link=%llu reason=%s", link_name(l),
		    (unsigned long long)l->id, log_quote(reason, strlen(reason)));
	else if (!link_log_quiet(l))
		log_info("event=peer_link_close link=%llu peer=%s address=%s reason=%s",
		    (unsigned long long)l->id, link_name(l), l->addr,
		    log_quote(reason, strlen(reason)));
	bufferevent_disable(l->bev, EV_READ | EV_WRITE);
	bufferevent_setcb(l->bev, NULL, NULL, NULL, NULL);
	if (l->readable != NULL)
		event_del(l->readable);
	if (l->dirty) {
		TAILQ_REMOVE(&dirty, l, dirty_entry);
		l->dirty = false;
	}
	event_del(l->tick);
	TAILQ_REMOVE(&links, l, entry);
	TAILQ_INSERT_TAIL(&closed, l, entry);
	event_active(reaper, EV_TIMEOUT, 1);
	owner->closed(l, l->peer);
}

size_t link_queued(const struct link *l)
{
	size_t queued = evbuffer_get_length(bufferevent_get_output(l->bev));

	return l->raw != NULL ? queued + evbuffer_get_length(bufferevent_get_output(l->raw)) :
	    queued;
}

/* Output waits on L: the end of the pass writes it (unless L is armed or writing now). */
static void link_mark_dirty(struct link *l)
{
	if (!l->dirty && !l->write_armed && !l->flushing) {
		l->dirty = true;
		TAILQ_INSERT_TAIL(&dirty, l, dirty_entry);
		event_active(links_write_event, EV_TIMEOUT, 1);
	}
}

/*
 * Queues PREFIX, LEN bytes of DATA and a LF on L, unless that would pass the output
 * limit: then the neighbour is not reading, and L is dropped.
 */
static void link_send(struct link *l, enum peer_msg_kind kind, const char *prefix,
    const char *data, size_t len)
{
	size_t prefix_len = strlen(prefix);
	size_t queued = link_queued(l);

	if (l->closing)
		return;
	/* The configuration makes the limit hold a sync window and a few of the longest lines. */
	if (queued + prefix_len + len + 1 > herdd.config->peer_output_limit) {
		log_warnx("event=peer_output_limit link=%llu peer=%s queued=%zu limit=%zu",
		    (unsigned long long)l->id, link_name(l), queued,
		    herdd.config->peer_output_limit);
		link_close(l, "output limit exceeded: neighbour not reading");
		return;
	}
	if (kind != PEER_MSG_AT && kind != PEER_MSG_PING && kind != PEER_MSG_PONG &&
	    kind != PEER_MSG_HELLO && kind != PEER_MSG_AUTH && kind != PEER_MSG_LSA)
		stats.sync_bytes_sent += prefix_len + len + 1;
	if (l->raw != NULL || prefix_len > 0) {
		/*
		 * One add of the whole line: a TLS filter that is writing makes a record of
		 * each add, and one that writes at the end of the pass a record of each chain
		 * of its output, so lines added in place share chains, and records (moving
		 * an evbuffer's chains in would make a record of every line). A prefixed line
		 * (SYNC) is logged whole too.
		 */
		static char *line;
		static size_t line_size;
		size_t n = prefix_len + len + 1;

		if (n > line_size) {
			line_size = n > 2 * line_size ? n : 2 * line_size;
			line = xreallocarray(line, line_size, 1);
		}
		memcpy(line, prefix, prefix_len);
		memcpy(line + prefix_len, data, len);
		line[prefix_len + len] = '\n';
		link_log_line(l, "out", kind, line, n - 1);
		bufferevent_write(l->bev, line, n);
	} else {
		link_log_line(l, "out", kind, data, len);
		bufferevent_write(l->bev, data, len);
		bufferevent_write(l->bev, "\n", 1);
	}
	link_mark_dirty(l);
}

/* TLS: the socket's buffer drained below LINK_LOW while the link owes more: refill it
 * at the end of the pass (libevent's own writes of it tell link.c nothing else). */
static void link_raw_drained_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct link *l = arg;

	if (info->n_deleted == 0 || l->closing || l->phase != LINK_UP || l->write_armed ||
	    info->orig_size < LINK_LOW || evbuffer_get_length(buf) >= LINK_LOW)
		return;
	link_mark_dirty(l);
}

/* Sends a control line written with FMT. */
static void link_sendf(struct link *l, enum peer_msg_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void link_sendf(struct link *l, enum peer_msg_kind kind, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		fatalx("event=bug where=link_sendf error=\"control line does not fit\"");
	link_send(l, kind, "", line, (size_t)n);
}

static void link_fill(struct link *l);

/*
 * TLS: the pass's lines become records now, in as few as the TLS filter makes of them,
 * into the socket's buffer, which link_write_now then writes as it writes plaintext.
 */
static void link_encrypt(struct link *l)
{
	if (l->raw == NULL || evbuffer_get_length(bufferevent_get_output(l->bev)) == 0)
		return;
	bufferevent_enable(l->bev, EV_WRITE);
	bufferevent_disable(l->bev, EV_WRITE);
}

/*
 * TLS: the socket's bufferevent writes by itself only while the link is armed; when
 * nothing waits in it, its write event stays off, so records written at the end of a
 * pass cost no epoll_ctl.
 */
static void link_raw_idle(struct link *l)
{
	if (l->raw != NULL && !l->write_armed &&
	    evbuffer_get_length(bufferevent_get_output(l->raw)) == 0)
		bufferevent_disable(l->raw, EV_WRITE);
}

void link_write_now(struct link *l)
{
	struct bufferevent *sock = l->raw != NULL ? l->raw : l->bev;
	struct evbuffer *out = bufferevent_get_output(sock);

	if (l->dirty) {
		TAILQ_REMOVE(&dirty, l, dirty_entry);
		l->dirty = false;
	}
	if (l->closing || l->write_armed || l->phase == LINK_CONNECTING)
		return;
	l->flushing = true;
	link_encrypt(l);
	for (int round = 0; round < LINK_FLUSH_ROUNDS && evbuffer_get_length(out) > 0; round++) {
		int n;

		/* The bufferevent keeps its output's front frozen; its own writer thaws it too. */
		evbuffer_unfreeze(out, 1);
		n = evbuffer_write(out, bufferevent_getfd(sock));
		evbuffer_freeze(out, 1);
		if (n > 0)
			l->last_out_ms = htime_mono_ms();
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			l->flushing = false;
			link_close(l, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
			return;
		}
		if (evbuffer_get_length(out) > 0)
			break;
		/* All taken: what the link owes next goes now too. */
		if (l->phase == LINK_UP) {
			link_fill(l);
			link_encrypt(l);
		}
	}
	l->flushing = false;
	if (!l->closing && link_queued(l) > 0) {
		/* The socket is full: the bufferevents write (and TLS encrypts) as it drains. */
		l->write_armed = true;
		bufferevent_enable(l->bev, EV_WRITE);
		if (l->raw != NULL)
			bufferevent_enable(l->raw, EV_WRITE);
	} else if (!l->closing) {
		link_raw_idle(l);
	}
}

/* The end of a pass: every link with output queued outside a flood writes it. */
static void links_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct link *l;

	while ((l = TAILQ_FIRST(&dirty)) != NULL)
		link_write_now(l);
}

/* Writes REC as an AT line now. */
static void link_write_record(struct link *l, const struct record *rec)
{
	link_send(l, PEER_MSG_AT, "", record_line(rec), record_len(rec));
	if (!l->closing)
		l->records_sent++;
}

bool link_send_report(struct link *l, const char *line, size_t len)
{
	/*
	 * A sync keeps its window full for as long as it lasts, which may be longer than
	 * linkstate_max_age: a report passes it by a line, which peer_output_limit holds.
	 */
	if (l->closing || l->phase != LINK_UP || link_queued(l) >
	    CONFIG_PEER_SYNC_WINDOW + herdd.config->max_line + CONFIG_PEER_LINE_EXTRA)
		return false;
	link_send(l, PEER_MSG_LSA, "", line, len);
	return true;
}

bool link_send_record(struct link *l, const struct record *rec)
{
	if (l->closing)
		return false;
	/* A busy link owes the record instead: once, however often it changes meanwhile. */
	if (pendset_count(&l->floods) > 0 || link_queued(l) >= LINK_HIGH) {
		if (!pendset_add(&l->floods, rec))
			stats.flood_coalesced++;
		return true;
	}
	link_write_record(l, rec);
	return !l->closing;
}

/* Logs why L is refused (a security event, so a warning), then closes it. */
static void link_reject(struct link *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void link_reject(struct link *l, const char *fmt, ...)
{
	char reason[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (!link_log_quiet(l))
		log_warnx("event=peer_reject link=%llu address=%s peer=%s reason=%s",
		    (unsigned long long)l->id, l->addr, link_name(l),
		    log_quote(reason, strlen(reason)));
	link_close(l, reason);
}

/* A line that breaks the protocol on an authenticated link: logged, and the link ends. */
static void link_protocol_error(struct link *l, const char *why)
{
	log_warnx("event=peer_protocol_error link=%llu peer=%s reason=%s",
	    (unsigned long long)l->id, link_name(l), log_quote(why, strlen(why)));
	link_close(l, "protocol error");
}

/* Logs the end of the digest walk and counts it; what it still held back goes as floods. */
static void link_walk_done(struct link *l)
{
	const struct record *rec;

	recon_finish(&l->walk);
	while ((rec = pendset_pop(&l->walk.records)) != NULL && link_send_record(l, rec))
		l->walk_sent++;
	l->turn = WALK_NONE;
	stats.sync_walk++;
	log_info("event=peer_sync_done link=%llu peer=%s mode=digest rounds=%llu "
	    "nodes_differing=%llu leaves_differing=%llu sent=%llu received=%llu stored=%llu "
	    "ms=%llu", (unsigned long long)l->id, link_name(l),
	    (unsigned long long)l->walk_rounds, (unsigned long long)l->walk.nodes_differing,
	    (unsigned long long)l->walk.leaves_differing, (unsigned long long)l->walk_sent,
	    (unsigned long long)l->sync_received, (unsigned long long)l->sync_stored,
	    (unsigned long long)(htime_mono_ms() - l->walk_started_ms));
	recon_clear(&l->walk);
}

/* This end's turn of the walk is written: say so; an empty turn ends the walk. */
static void link_end_turn(struct link *l)
{
	l->walk_rounds++;
	link_sendf(l, PEER_MSG_ROUND, "ROUND %llu", (unsigned long long)l->round);
	if (l->closing)
		return;
	if (l->round_out == 0) {
		link_walk_done(l);
		return;
	}
	l->turn = WALK_THEIRS;
	l->round_in = 0;
}

/* Sends REC as a SYNC line (of a whole-table sync or a walk); true unless L is closing. */
static bool link_send_sync_record(struct link *l, const struct record *rec)
{
	link_send(l, PEER_MSG_SYNC, "SYNC ", record_line(rec), record_len(rec));
	if (l->closing)
		return false;
	l->records_sent++;
	stats.sync_records_sent++;
	return true;
}

/* One record of the whole-table sync, or SYNC-END after the last; false when done. */
static bool link_sync_step(struct link *l)
{
	const struct record *rec;

	if (table_iter_stale(&l->sync_it)) {
		log_info("event=peer_sync_restart link=%llu peer=%s sent=%llu "
		    "reason=\"table grew\"", (unsigned long long)l->id, link_name(l),
		    (unsigned long long)l->sync_sent);
		table_iter_init(&l->sync_it, herdd.table);
	}
	rec = table_iter_next(&l->sync_it);
	if (rec == NULL) {
		l->syncing = false;
		log_info("event=peer_sync_sent link=%llu peer=%s records=%llu",
		    (unsigned long long)l->id, link_name(l), (unsigned long long)l->sync_sent);
		link_sendf(l, PEER_MSG_SYNC_END, "SYNC-END %llu", (unsigned long long)l->sync_sent);
		return false;
	}
	if (link_send_sync_record(l, rec))
		l->sync_sent++;
	return true;
}

/* One line of this end's walk turn; false when the turn has nothing more. */
static bool link_walk_step(struct link *l)
{
	char line[PEERPROTO_WALK_LINE_MAX];
	size_t len = recon_next_line(&l->walk, line, sizeof(line));
	const struct record *rec;

	if (len > 0) {
		link_send(l, line[0] == 'D' ? PEER_MSG_DIGEST : line[0] == 'L' ? PEER_MSG_LEAF :
		    PEER_MSG_WANT, "", line, len);
		l->round_out++;
		return true;
	}
	rec = pendset_pop(&l->walk.records);
	if (rec == NULL)
		return false;
	if (link_send_sync_record(l, rec)) {
		l->walk_sent++;
		l->round_out++;
	}
	return true;
}

/* One line of the whole-table sync or of this end's walk turn; false when neither has any. */
static bool link_sync_or_walk_step(struct link *l)
{
	if (l->syncing && link_sync_step(l))
		return true;
	if (l->turn == WALK_MINE) {
		if (link_walk_step(l))
			return true;
		link_end_turn(l);
	}
	return false;
}

/*
 * Tops L's output up to LINK_HIGH with the flooded records it owes and the lines of the
 * whole-table sync or of this end's walk turn (whose end it marks with ROUND), taken in
 * turn while both wait, so that neither starves the other under load.
 */
static void link_fill(struct link *l)
{
	while (!l->closing && link_queued(l) < LINK_HIGH) {
		const struct record *rec;

		l->alternate = !l->alternate;
		if (l->alternate && link_sync_or_walk_step(l))
			continue;
		rec = pendset_pop(&l->floods);
		if (rec != NULL) {
			link_write_record(l, rec);
			continue;
		}
		if (!l->alternate && link_sync_or_walk_step(l))
			continue;
		break;
	}
}

/* Starts sending the neighbour the whole table; the write callback tops it up. */
static void link_sync_start(struct link *l)
{
	l->syncing = true;
	l->sync_sent = 0;
	stats.sync_full++;
	table_iter_init(&l->sync_it, herdd.table);
	link_sendf(l, PEER_MSG_SYNC_BEGIN, "SYNC-BEGIN %zu", table_count(herdd.table));
	link_fill(l);
}

/*
 * Link up: tell the neighbour what this node holds, in three numbers (no digest, without
 * a herd secret: root and key 0). They are kept, for the decision to be the same on
 * both ends whatever changes meanwhile.
 */
static void link_digest_begin(struct link *l)
{
	const struct digest *d = table_digest(herdd.table);

	l->said_count = table_count(herdd.table);
	l->said_root = d != NULL ? digest_node(d, 0, 0) : 0;
	l->said_key = d != NULL ? d->key_id : 0;
	l->digest_begun = true;
	link_sendf(l, PEER_MSG_DIGEST_BEGIN, "DIGEST-BEGIN %llu %016llx %08x",
	    (unsigned long long)l->said_count, (unsigned long long)l->said_root,
	    (unsigned)l->said_key);
}

/* The walk begins, the other end's turn first (the dialler then takes its own). */
static void link_walk_begin(struct link *l, uint64_t peer_count)
{
	l->turn = WALK_THEIRS;
	l->round = 0;
	l->round_in = 0;
	l->walk_sent = l->walk_rounds = 0;
	l->sync_received = l->sync_stored = 0;
	l->walk_started_ms = htime_mono_ms();
	/* The count bounds what the walk may queue: no more than this node can hold (a
	 * count near 2^64 would lift the bound). */
	if (peer_count > herdd.config->max_clients)
		peer_count = herdd.config->max_clients;
	recon_init(&l->walk, herdd.table, table_digest(herdd.table), peer_count);
}

/*
 * The neighbour's DIGEST-BEGIN, against this end's: an empty neighbour gets the whole
 * table; an empty node waits for the neighbour's; without shared digest keys both send
 * their whole tables; equal roots need nothing; else the walk, the dialler first. Both
 * ends decide from the same two lines, so they agree.
 */
static void link_on_digest_begin(struct link *l, const struct peer_msg *msg)
{
	if (l->digest_heard || !l->digest_begun) {
		link_protocol_error(l, "DIGEST-BEGIN twice");
		return;
	}
	l->digest_heard = true;
	if (msg->count == 0) {
		link_sync_start(l);
		return;
	}
	if (l->said_count == 0)
		return;
	/* Digests under other keys cannot be compared: both ends send their whole tables. */
	if (msg->key_id != l->said_key || l->said_key == 0) {
		if (msg->key_id != 0 && l->said_key != 0)
			log_warnx("event=peer_digest_keys_differ link=%llu peer=%s ours=%08x "
			    "theirs=%08x reason=\"another herd secret or version: whole tables are "
			    "exchanged\"", (unsigned long long)l->id, link_name(l),
			    (unsigned)l->said_key, (unsigned)msg->key_id);
		link_sync_start(l);
		return;
	}
	if (msg->root == l->said_root) {
		stats.sync_equal++;
		log_info("event=peer_sync_done link=%llu peer=%s mode=equal records=%llu",
		    (unsigned long long)l->id, link_name(l), (unsigned long long)l->said_count);
		return;
	}
	link_walk_begin(l, msg->count);
	if (l->outbound) {
		recon_start(&l->walk);
		l->turn = WALK_MINE;
		l->round = 1;
		l->round_out = 0;
		link_fill(l);
	}
}

/* The neighbour's turn N is over: this end's turn, unless the neighbour's was empty. */
static void link_on_round(struct link *l, const struct peer_msg *msg)
{
	if (l->turn != WALK_THEIRS || msg->count != l->round + 1) {
		link_protocol_error(l, "ROUND out of turn");
		return;
	}
	l->walk_rounds++;
	if (l->round_in == 0) {
		link_walk_done(l);
		return;
	}
	l->round = msg->count + 1;
	l->turn = WALK_MINE;
	l->round_out = 0;
	recon_turn(&l->walk);
	link_fill(l);
}

static void link_send_hello(struct link *l)
{
	link_sendf(l, PEER_MSG_HELLO, "HELLO %s %s %s", PEERPROTO_VERSION, herdd.self->name,
	    l->nonce);
}

/* On TLS, the channel's exporter value for the MAC (once the handshake is done). */
static bool link_binding(struct link *l)
{
	if (l->raw == NULL || l->binding[0] != '\0')
		return true;
	return peertls_binding(bufferevent_openssl_get_ssl(l->bev), l->binding);
}

/* The neighbour's HELLO: check who it is, then answer its challenge. */
static void link_on_hello(struct link *l, const struct peer_msg *msg)
{
	char mac[PEERPROTO_MAC_HEX + 1], why[160];
	struct peer *p;

	if (msg->kind != PEER_MSG_HELLO) {
		link_reject(l, "%s before handshake", peerproto_kind_name(msg->kind));
		return;
	}
	if (!proto_field_is(&msg->version, PEERPROTO_VERSION)) {
		link_reject(l, "protocol version %.*s, this node speaks %s: run one version "
		    "across the herd", (int)msg->version.len, msg->version.p, PEERPROTO_VERSION);
		return;
	}
	if (l->raw != NULL && !peertls_authenticated_as(bufferevent_openssl_get_ssl(l->bev),
	    msg->name.p, msg->name.len)) {
		link_reject(l, "HELLO names %s but TLS authenticated another node (%s)",
		    log_quote(msg->name.p, msg->name.len), peertls_certificates() ?
		    "its certificate does not name it" : "the PSK was another node's");
		return;
	}
	p = owner->hello(l, msg->name.p, msg->name.len, why, sizeof(why));
	if (p == NULL) {
		link_reject(l, "%s", why);
		return;
	}
	l->peer = p;
	if (memcmp(msg->nonce.p, l->nonce, PEERPROTO_NONCE_HEX) == 0) {
		link_reject(l, "our own nonce sent back");
		return;
	}
	memcpy(l->peer_nonce, msg->nonce.p, PEERPROTO_NONCE_HEX);
	l->peer_nonce[PEERPROTO_NONCE_HEX] = '\0';
	if (!link_binding(l) || !peerproto_auth_mac(secret, secret_len, herdd.self->name,
	    l->name, l->nonce, l->peer_nonce, l->outbound ? PEERPROTO_DIALLED :
	    PEERPROTO_ACCEPTED, l->binding, mac)) {
		link_close(l, "cannot compute MAC");
		return;
	}
	l->phase = LINK_AUTH;
	link_sendf(l, PEER_MSG_AUTH, "AUTH %s", mac);
}

/* The neighbour's answer to our challenge; once it verifies, the link is up and syncs. */
static void link_on_auth(struct link *l, const struct peer_msg *msg)
{
	if (msg->kind != PEER_MSG_AUTH) {
		link_reject(l, "%s before handshake", peerproto_kind_name(msg->kind));
		return;
	}
	/* The other end dialled when this one accepted: a relay between two accepts fails. */
	if (!peerproto_auth_verify(secret, secret_len, l->name, herdd.self->name,
	    l->peer_nonce, l->nonce, l->outbound ? PEERPROTO_ACCEPTED : PEERPROTO_DIALLED,
	    l->binding, msg->mac.p, msg->mac.len)) {
		link_reject(l, "bad MAC: not the herd secret, or not the other end of this "
		    "connection");
		return;
	}
	if (!l->outbound)
		pending_inbound--;
	l->phase = LINK_UP;
	if (l->raw != NULL) {
		/* From now on the pass's lines are encrypted and written at its end. */
		l->write_armed = false;
		bufferevent_disable(l->bev, EV_WRITE);
		link_raw_idle(l);
	}
	owner->up(l, l->peer);
	if (!l->closing)
		link_digest_begin(l);
}

/* Logs a line of the neighbour's that was skipped: at most a few per link and interval. */
static void link_warn_line(struct link *l, const char *event, const char *reason,
    const char *line, size_t len)
{
	uint64_t held_back;

	if (!ratelimit_allow(&l->warnings, htime_mono_ms(), &held_back))
		return;
	log_warnx("event=%s link=%llu peer=%s reason=%s line=%s suppressed=%llu", event,
	    (unsigned long long)l->id, link_name(l), log_quote(reason, strlen(reason)),
	    log_quote(line, len), (unsigned long long)held_back);
}

/* What the link counts of a record from the neighbour, flooded or synced (SYNC), and the
 * warning when flood_receive refused it (RESULT); LINE (LEN bytes) is what is logged. */
static void link_count_record(struct link *l, bool sync, enum flood_result result,
    const char *line, size_t len)
{
	l->records_received++;
	if (sync) {
		l->sync_received++;
		if (result == FLOOD_STORED)
			l->sync_stored++;
		if (l->turn == WALK_THEIRS)
			l->round_in++;
	}
	if (flood_refusal(result) != NULL)
		link_warn_line(l, result == FLOOD_FULL ? "peer_record_refused" : "peer_bad_record",
		    flood_refusal(result), line, len);
}

/* A record from the neighbour, flooded or synced. */
static void link_on_record(struct link *l, const struct peer_msg *msg, const char *line,
    size_t len)
{
	bool sync = msg->kind == PEER_MSG_SYNC;
	enum flood_result result;

	result = flood_receive(l->peer, msg->record.p, msg->record.len, sync, link_pass_time());
	link_count_record(l, sync, result, line, len);
}

/* A SYNC record may come only inside a whole-table sync or the neighbour's walk turn. */
static bool link_sync_expected(const struct link *l)
{
	return l->sync_open || l->turn == WALK_THEIRS;
}

/*
 * A line of the neighbour's longer than this node takes, of which HEAD (LEN bytes) is
 * here. A record (a neighbour with a larger max_line, during a rolling change) is refused
 * as too long, the rest of it skipped, and the link kept: ending it would drop what
 * follows, and every walk would send the record again. Anything else, or before the link
 * is up, ends the link. False when the link is ended.
 */
static bool link_on_long_line(struct link *l, const char *head, size_t len)
{
	bool sync = len >= 5 && memcmp(head, "SYNC ", 5) == 0;
	size_t shown;

	if (l->phase != LINK_UP || (!sync && !(len >= 3 && memcmp(head, "AT ", 3) == 0))) {
		link_reject(l, "line of more than %zu bytes", line_max);
		return false;
	}
	if (sync && !link_sync_expected(l)) {
		link_protocol_error(l, "SYNC record outside a sync");
		return false;
	}
	/* Its start (line_max is past LOG_QUOTE_MAX), logged cut as every long line is. */
	shown = LOG_QUOTE_MAX + 1;
	link_log_line(l, "in", sync ? PEER_MSG_SYNC : PEER_MSG_AT, head, shown);
	link_count_record(l, sync, flood_receive_too_long(sync), head, shown);
	return true;
}

/* The link's input IN holds more than a line's limit and no LF: refused, or skipped. */
static void link_input_too_long(struct link *l, struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in);

	if (!link_on_long_line(l, (const char *)evbuffer_pullup(in, LOG_QUOTE_MAX + 1), len))
		return;
	evbuffer_drain(in, len);
	l->skipping = true;
}

/* DIGEST, LEAF or WANT: part of the neighbour's turn of the walk. */
static void link_on_walk_line(struct link *l, const struct peer_msg *msg, const char *line,
    size_t len)
{
	bool ok;

	if (l->turn != WALK_THEIRS) {
		link_protocol_error(l, "walk line out of turn");
		return;
	}
	l->round_in++;
	if (msg->kind == PEER_MSG_DIGEST)
		ok = recon_on_digest(&l->walk, msg->depth, msg->index, msg->hashes);
	else if (msg->kind == PEER_MSG_LEAF)
		ok = recon_on_leaf(&l->walk, msg->index, msg->sums, msg->nsums, msg->more);
	else
		ok = recon_on_want(&l->walk, msg->index, msg->sums, msg->nsums);
	if (!ok)
		link_protocol_error(l, "walk line out of place: about a node or leaf this end "
		    "did not offer, a LEAF+ run broken by another leaf, or more sums than the "
		    "tables hold");
}

/* One line on an authenticated link. */
static void link_on_message(struct link *l, const struct peer_msg *msg, const char *line,
    size_t len)
{
	const char *why;

	switch (msg->kind) {
	case PEER_MSG_SYNC:
		/* Only inside a whole-table sync or the neighbour's turn of a walk. */
		if (!link_sync_expected(l)) {
			link_protocol_error(l, "SYNC record outside a sync");
			return;
		}
		link_on_record(l, msg, line, len);
		return;
	case PEER_MSG_AT:
		link_on_record(l, msg, line, len);
		return;
	case PEER_MSG_SYNC_BEGIN:
		if (l->turn != WALK_NONE) {
			link_protocol_error(l, "SYNC-BEGIN during a walk");
			return;
		}
		if (l->sync_open) {
			link_protocol_error(l, "SYNC-BEGIN inside a sync");
			return;
		}
		l->sync_open = true;
		l->sync_received = 0;
		l->sync_stored = 0;
		return;
	case PEER_MSG_DIGEST_BEGIN:
		link_on_digest_begin(l, msg);
		return;
	case PEER_MSG_DIGEST:
	case PEER_MSG_LEAF:
	case PEER_MSG_WANT:
		link_on_walk_line(l, msg, line, len);
		return;
	case PEER_MSG_ROUND:
		link_on_round(l, msg);
		return;
	case PEER_MSG_SYNC_END:
		if (!l->sync_open) {
			link_protocol_error(l, "SYNC-END outside a sync");
			return;
		}
		l->sync_open = false;
		log_info("event=peer_sync_done link=%llu peer=%s mode=full received=%llu "
		    "stored=%llu",
		    (unsigned long long)l->id, link_name(l),
		    (unsigned long long)l->sync_received, (unsigned long long)l->sync_stored);
		return;
	case PEER_MSG_LSA:
		if (!linkstate_receive(l->peer, line, len, &why))
			link_warn_line(l, "peer_report_refused", why, line, len);
		return;
	case PEER_MSG_PING:
		link_sendf(l, PEER_MSG_PONG, "PONG");
		return;
	case PEER_MSG_PONG:
		return;
	case PEER_MSG_UNKNOWN:
		/* A newer node may say more; what this one does not know it skips. */
		link_warn_line(l, "peer_unknown_line", "unknown message", line, len);
		return;
	case PEER_MSG_HELLO:
	case PEER_MSG_AUTH:
	case PEER_MSG_INVALID:
		break;
	}
	/* An AUTH out of turn is logged as every AUTH is (link_log_line): not its MAC. */
	log_warnx("event=peer_protocol_error link=%llu peer=%s line=%s",
	    (unsigned long long)l->id, link_name(l),
	    msg->kind == PEER_MSG_AUTH ? "\"AUTH (mac)\"" : log_quote(line, len));
	link_close(l, "protocol error");
}

/* An outbound connection is established: introduce this node. */
static void link_connected(struct link *l)
{
	l->phase = LINK_HELLO;
	log_info("event=peer_connected link=%llu peer=%s address=%s", (unsigned long long)l->id,
	    link_name(l), l->addr);
	link_send_hello(l);
}

/* Runs one line received on L. */
static void link_line(struct link *l, const char *line, size_t len)
{
	struct peer_msg msg;

	peerproto_parse(line, len, &msg);
	link_log_line(l, "in", msg.kind, line, len);
	switch (l->phase) {
	case LINK_HELLO:
		link_on_hello(l, &msg);
		return;
	case LINK_AUTH:
		link_on_auth(l, &msg);
		return;
	case LINK_UP:
		link_on_message(l, &msg, line, len);
		return;
	case LINK_CONNECTING:
		break;
	}
	fatalx("event=bug where=link_line error=\"line on a link not connected yet\"");
}

/* Runs the complete lines of DATA (LEN bytes); the bytes taken, up to the last LF. */
static size_t link_run_lines(struct link *l, const char *data, size_t len)
{
	size_t done = 0;

	while (!l->closing && done < len) {
		const char *nl = memchr(data + done, '\n', len - done);
		size_t n;

		if (l->skipping) {
			if (nl == NULL)
				return len;
			l->skipping = false;
			done = (size_t)(nl - data) + 1;
			continue;
		}
		if (nl == NULL)
			break;
		n = (size_t)(nl - (data + done));
		if (n > line_max) {
			if (!link_on_long_line(l, data + done, n))
				break;
		} else {
			link_line(l, data + done, n);
		}
		done += n + 1;
	}
	return done;
}

/*
 * One read, then every complete line; a line longer than line_max ends the link, LF or
 * not, unless it is a record (link_on_long_line). A line cut by the read waits in the
 * link's input for the rest: that one line is run from there, the lines after it from
 * the shared buffer again.
 */
static void link_readable_cb(evutil_socket_t fd, short what, void *arg)
{
	static char shared[LINK_READ_SIZE];
	struct link *l = arg;
	struct evbuffer *in = bufferevent_get_input(l->bev);
	ssize_t n = read(fd, shared, sizeof(shared));
	size_t done = 0;

	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			link_close(l, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return;
	}
	if (n == 0) {
		link_close(l, "closed by the neighbour");
		return;
	}
	l->last_in_ms = htime_mono_ms();
	/* A handshake or alert record (0x16, 0x15) where HELLO should be: TLS on one end. */
	if (l->phase != LINK_UP && evbuffer_get_length(in) == 0 &&
	    (shared[0] == 0x16 || shared[0] == 0x15)) {
		link_reject(l, "the neighbour speaks TLS and this node has peer_tls off: set "
		    "peer_tls alike on every node");
		return;
	}
	if (evbuffer_get_length(in) > 0) {
		const char *nl = memchr(shared, '\n', (size_t)n);
		size_t head = nl != NULL ? (size_t)(nl - shared) + 1 : (size_t)n;

		evbuffer_unfreeze(in, 0);
		evbuffer_add(in, shared, head);
		evbuffer_freeze(in, 0);
		done = head;
		if (nl != NULL) {
			size_t len = evbuffer_get_length(in);

			if (len - 1 <= line_max)
				link_line(l, (const char *)evbuffer_pullup(in, -1), len - 1);
			else if (!link_on_long_line(l, (const char *)evbuffer_pullup(in,
			    LOG_QUOTE_MAX + 1), len - 1))
				return;
			evbuffer_drain(in, len);
		}
	}
	if (!l->closing && done < (size_t)n && evbuffer_get_length(in) == 0) {
		done += link_run_lines(l, shared + done, (size_t)n - done);
		if (!l->closing && done < (size_t)n) {
			evbuffer_unfreeze(in, 0);
			evbuffer_add(in, shared + done, (size_t)n - done);
			evbuffer_freeze(in, 0);
		}
	}
	if (!l->closing && evbuffer_get_length(in) > line_max)
		link_input_too_long(l, in);
}

/*
 * A TLS link's input: what the bufferevent decrypted, every complete line of it; the
 * rest of a line waits there for more.
 */
static void link_tls_read_cb(struct bufferevent *bev, void *arg)
{
	struct link *l = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in), done;

	if (len == 0 || l->closing)
		return;
	l->last_in_ms = htime_mono_ms();
	done = link_run_lines(l, (const char *)evbuffer_pullup(in, -1), len);
	if (l->closing)
		return;
	evbuffer_drain(in, done);
	if (evbuffer_get_length(in) > line_max)
		link_input_too_long(l, in);
}

/* Output drained below LINK_LOW: what the link owes goes next; when all is out, direct
 * writes again. */
static void link_write_cb(struct bufferevent *bev, void *arg)
{
	struct link *l = arg;

	l->last_out_ms = htime_mono_ms();
	if (l->phase == LINK_UP) {
		l->flushing = true;
		link_fill(l);
		l->flushing = false;
	}
	if (!l->closing && (l->raw == NULL || l->phase == LINK_UP) &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		/* TLS: what the socket still holds it writes itself; new lines wait for the
		 * pass's end again. */
		l->write_armed = false;
		bufferevent_disable(bev, EV_WRITE);
	}
}

/* Lines go out as soon as a pass has written them: no Nagle wait for the peer's ACK. */
static void link_nodelay(evutil_socket_t fd)
{
	int one = 1;

	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Reads on FD from now on. */
static void link_start_reading(struct link *l, evutil_socket_t fd)
{
	if (l->raw != NULL)
		return;             /* the bufferevent reads (link_tls_read_cb) */
	l->readable = xcheck(event_new(herdd.base, fd, EV_READ | EV_PERSIST, link_readable_cb, l));
	if (event_add(l->readable, NULL) < 0)
		fatalx("event=bug where=link_start_reading error=\"cannot add a read event\"");
}

static void link_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct link *l = arg;
	char reason[256];
	unsigned long tls_err = 0;

	if (l->in_connect) {
		/* bufferevent_socket_connect failed at once; link_connect closes the link. */
		l->connect_failed = true;
		return;
	}
	if (what & BEV_EVENT_CONNECTED) {
		if (l->phase == LINK_CONNECTING) {
			link_nodelay(bufferevent_getfd(bev));
			link_start_reading(l, bufferevent_getfd(bev));
			link_connected(l);
		}
		return;
	}
	if (l->raw != NULL && (what & BEV_EVENT_ERROR) &&
	    (tls_err = bufferevent_get_openssl_error(bev)) != 0) {
		char tls[120];

		/* The first is OpenSSL's reason; libevent may queue its own SSL_ERROR_* after. */
		while (bufferevent_get_openssl_error(bev) != 0)
			;
		tls_describe_failure(X509_V_OK, tls_err, tls, sizeof(tls));
		snprintf(reason, sizeof(reason), "TLS: %s%s", tls,
		    l->phase != LINK_CONNECTING && l->phase != LINK_HELLO ? "" :
		    peertls_certificates() ? " (a plaintext neighbour, or its certificate: see "
		    "peer_certificate_refused)" : " (a plaintext neighbour, peer_tls off there, "
		    "or another herd secret)");
	} else if (l->raw != NULL && l->phase == LINK_CONNECTING) {
		/* The TCP connect or the handshake's first read failed: say which. */
		int err = EVUTIL_SOCKET_ERROR();

		snprintf(reason, sizeof(reason), "connect failed: %s", err != 0 ?
		    evutil_socket_error_to_string(err) : "closed during the TLS handshake");
	} else if (what & BEV_EVENT_EOF)
		snprintf(reason, sizeof(reason), "closed by the neighbour");
	else if (what & BEV_EVENT_ERROR)
		snprintf(reason, sizeof(reason), "%s%s", l->phase == LINK_CONNECTING ?
		    "connect failed: " : "", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	else
		snprintf(reason, sizeof(reason), "write timeout: neighbour not reading");
	link_close(l, reason);
}

/* Heartbeat and timeouts: handshakes must finish, silent links die, idle ones PING. */
static void link_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct link *l = arg;
	uint64_t now = htime_mono_ms();

	if (l->phase != LINK_UP) {
		if (now - l->opened_ms > (uint64_t)herdd.config->peer_handshake_timeout * 1000)
			/* A dialled TLS link is LINK_CONNECTING until its handshake is done. */
			link_close(l, l->phase != LINK_CONNECTING ? "handshake timeout" :
			    l->raw != NULL && socket_connected(bufferevent_getfd(l->raw)) ?
			    "TLS handshake timeout" : "connect timeout");
		return;
	}
	if (now - l->last_in_ms > (uint64_t)herdd.config->peer_heartbeat_timeout * 1000) {
		link_close(l, "heartbeat timeout: nothing received for peer_heartbeat_timeout");
		return;
	}
	if (now - l->last_out_ms >= LINK_PING_IDLE_MS)
		link_sendf(l, PEER_MSG_PING, "PING");
}

/* A new link on socket FD (-1: not connected yet) from or to ADDR (the neighbour NAME). */
static struct link *link_new(evutil_socket_t fd, bool outbound, const char *addr,
    const char *name)
{
	struct timeval tick = { 0, LINK_TICK_MS * 1000 };
	struct timeval write_limit = { herdd.config->peer_write_timeout, 0 };
	struct link *l = xcalloc(1, sizeof(*l));

	if (peertls_enabled()) {
		/*
		 * A TLS filter over the socket's bufferevent: lines are encrypted at the end of
		 * the pass (link_encrypt) and the records written like plaintext, with no
		 * wait for the socket's write event.
		 */
		SSL *ssl = peertls_new();

		/* A dialler's handshake starts at once: it needs the neighbour's name. */
		if (name != NULL)
			peertls_set_peer(ssl, name);
		l->raw = xcheck(bufferevent_socket_new(herdd.base, fd, BEV_OPT_CLOSE_ON_FREE));
		l->bev = xcheck(bufferevent_openssl_filter_new(herdd.base, l->raw, ssl,
		    outbound ? BUFFEREVENT_SSL_CONNECTING : BUFFEREVENT_SSL_ACCEPTING,
		    BEV_OPT_CLOSE_ON_FREE));
		/* TLS stops filling the socket's buffer at LINK_HIGH; the rest waits as lines. */
		bufferevent_setwatermark(l->raw, EV_WRITE, 0, LINK_HIGH);
		evbuffer_add_cb(bufferevent_get_output(l->raw), link_raw_drained_cb, l);
		/* A neighbour that stops without close_notify has closed, not failed. */
		bufferevent_openssl_set_allow_dirty_shutdown(l->bev, 1);
	} else {
		l->bev = xcheck(bufferevent_socket_new(herdd.base, fd, BEV_OPT_CLOSE_ON_FREE));
	}
	l->tick = xcheck(event_new(herdd.base, -1, EV_PERSIST, link_tick_cb, l));
	if (!peerproto_nonce(l->nonce))
		fatalx("event=bug where=link_new error=\"no randomness for a nonce\"");
	l->id = next_link_id++;
	l->outbound = outbound;
	l->phase = outbound ? LINK_CONNECTING : LINK_HELLO;
	l->opened_ms = l->last_in_ms = l->last_out_ms = htime_mono_ms();
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	bufferevent_setcb(l->bev, l->raw != NULL ? link_tls_read_cb : NULL, link_write_cb,
	    link_event_cb, l);
	bufferevent_setwatermark(l->bev, EV_WRITE, LINK_LOW, 0);
	bufferevent_set_timeouts(l->bev, NULL, &write_limit);
	if (l->raw != NULL)
		l->write_armed = true;   /* TLS writes as it can until the link is up */
	else
		bufferevent_disable(l->bev, EV_READ | EV_WRITE);
	/* An outbound link has no socket yet: it reads once connected. */
	if (fd >= 0) {
		link_nodelay(fd);
		link_start_reading(l, fd);
	}
	event_add(l->tick, &tick);
	TAILQ_INSERT_TAIL(&links, l, entry);
	if (!outbound)
		pending_inbound++;
	l->name = name;
	/* Listed first: the handshake this starts may fail and close the link at once. */
	if (l->raw != NULL)
		bufferevent_enable(l->bev, EV_READ | EV_WRITE);
	return l;
}

struct link *link_accept(evutil_socket_t fd, const char *addr)
{
	struct link *l = link_new(fd, false, addr, NULL);

	if (!link_log_quiet(l))
		log_info("event=peer_link_open link=%llu address=%s", (unsigned long long)l->id,
		    addr);
	link_send_hello(l);
	return l;
}

struct link *link_new_dial(struct peer *p, const char *name, const char *addr)
{
	struct link *l = link_new(-1, true, addr, name);

	l->peer = p;
	log_info("event=peer_connecting link=%llu peer=%s address=%s", (unsigned long long)l->id,
	    l->name, addr);
	return l;
}

void link_connect(struct link *l, const struct sockaddr *sa, int salen)
{
	int rc;

	l->in_connect = true;
	rc = bufferevent_socket_connect(l->raw != NULL ? l->raw : l->bev, sa, salen);
	l->in_connect = false;
	if (rc < 0 || l->connect_failed) {
		char reason[160];

		snprintf(reason, sizeof(reason), "connect failed: %s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		link_close(l, reason);
		return;
	}
}

size_t links_pending(void)
{
	return pending_inbound;
}

struct link *links_oldest_pending(void)
{
	struct link *l;

	TAILQ_FOREACH(l, &links, entry) {
		if (!l->outbound && l->phase != LINK_UP)
			return l;
	}
	return NULL;
}

void link_set_name(struct link *l, const char *name)
{
	l->name = name;
}

uint64_t link_id(const struct link *l)
{
	return l->id;
}

const char *link_addr(const struct link *l)
{
	return l->addr;
}

bool link_outbound(const struct link *l)
{
	return l->outbound;
}

size_t link_pending_records(const struct link *l)
{
	return pendset_count(&l->floods);
}


void link_records(const struct link *l, uint64_t *sent, uint64_t *received)
{
	*sent = l->records_sent;
	*received = l->records_received;
}

void links_start(const struct link_owner *link_owner, const unsigned char *key, size_t keylen)
{
	owner = link_owner;
	secret = key;
	secret_len = keylen;
	/* An AT line is a client's line plus the node's own fields; SYNC adds a word. */
	line_max = herdd.config->max_line + CONFIG_PEER_LINE_EXTRA;
	reaper = xcheck(event_new(herdd.base, -1, 0, links_reap_cb, NULL));
	links_write_event = xcheck(event_new(herdd.base, -1, 0, links_write_cb, NULL));
}

size_t links_queued_total(void)
{
	struct link *l;
	size_t total = 0;

	TAILQ_FOREACH(l, &links, entry) {
		if (!l->closing)
			total += link_queued(l) + link_pending_records(l);
	}
	return total;
}

void links_set_secret(const unsigned char *key, size_t keylen)
{
	secret = key;
	secret_len = keylen;
}

void links_close_peer(const struct peer *p, const char *reason)
{
	struct link *l, *next;

	for (l = TAILQ_FIRST(&links); l != NULL; l = next) {
		next = TAILQ_NEXT(l, entry);
		if (l->peer == p)
			link_close(l, reason);
	}
}

void links_stop(void)
{
	struct link *l;

	while ((l = TAILQ_FIRST(&links)) != NULL)
		link_close(l, "node stopping");
	links_reap();
	if (reaper != NULL)
		event_free(reaper);
	reaper = NULL;
	if (links_write_event != NULL)
		event_free(links_write_event);
	links_write_event = NULL;
	secret = NULL;
	secret_len = 0;
}
