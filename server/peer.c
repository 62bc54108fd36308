/*
 * Peer links (SPEC section 4): the peer listener, a dialler per neighbour with capped
 * exponential backoff, the HELLO/AUTH handshake, one surviving link per pair, heartbeat,
 * the table sync sent when a link comes up, and the output limit. The wire format and
 * the reasons behind the numbers below are in README.md, "Peer links and the wire
 * format"; the pure parts live in peerproto.c.
 */
#include "peer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "config.h"
#include "flood.h"
#include "herdd.h"
#include "listen.h"
#include "log.h"
#include "secret.h"
#include "peerproto.h"
#include "ratelimit.h"
#include "stats.h"
#include "table.h"
#include "util.h"

/* A sync is topped up to PEER_SYNC_HIGH queued bytes whenever output drains below LOW. */
#define PEER_SYNC_HIGH CONFIG_PEER_SYNC_WINDOW
#define PEER_SYNC_LOW (16 * 1024)
#define PEER_TICK_MS 250
#define PEER_PING_IDLE_MS 1000       /* PING when nothing was sent for this long */

enum link_phase {
	LINK_CONNECTING,   /* outbound, TCP connect under way */
	LINK_HELLO,        /* our HELLO is out, waiting for theirs */
	LINK_AUTH,         /* our AUTH is out, waiting for theirs */
	LINK_UP,           /* authenticated */
};

/* One TCP connection on the peer port, in either direction. */
struct link {
	TAILQ_ENTRY(link) entry;
	uint64_t id;
	struct bufferevent *bev;
	struct event *tick;
	struct peer *peer;           /* NULL for an inbound link until its HELLO */
	bool outbound;
	bool in_connect;             /* inside bufferevent_socket_connect */
	bool connect_failed;         /* ... which reported an error synchronously */
	enum link_phase phase;
	char addr[ADDR_TEXT_MAX];
	char nonce[PEERPROTO_NONCE_HEX + 1];
	char peer_nonce[PEERPROTO_NONCE_HEX + 1];
	uint64_t opened_ms, last_in_ms, last_out_ms;
	/* The sync this node sends: a walk over the table, resumed from the write callback. */
	bool syncing;
	struct table_iter sync_it;
	uint64_t sync_sent;
	/* The sync the neighbour sends. */
	uint64_t sync_received, sync_stored;
	/* Warnings the neighbour's lines cause (bad records, unknown words), rate-limited. */
	struct ratelimit warnings;
};

/* A configured neighbour and what this node knows of its link. */
struct peer {
	const struct config_node *node;
	char address[300];
	struct sockaddr_storage sa;  /* numeric peer_listen, parsed once */
	int salen;
	struct link *up;             /* the authenticated link, if any */
	struct link *dial;           /* our outbound attempt before it authenticates */
	bool resolving;
	struct evdns_getaddrinfo_request *lookup;
	struct event *retry;
	unsigned attempt;            /* reconnects scheduled since the link was last up */
	enum peer_state state;
	struct htime since;
	uint64_t sent, received, connects, connect_failures;
};

static struct peer *peers;
static size_t npeers;
static TAILQ_HEAD(, link) links = TAILQ_HEAD_INITIALIZER(links);
static struct acceptor *peer_acceptor;
static struct ratelimit eviction_notes;
static unsigned char *secret;
static size_t secret_len;
static size_t line_max;
static size_t pending_inbound;
static uint64_t next_link_id = 1;
static bool stopping;

static void link_close(struct link *l, const char *reason);
static bool link_sync_fill(struct link *l);

/* Lines about connections that have not authenticated: anyone can open those. */
#define PEER_STRANGER_LOG_BURST 100

/*
 * True when a log line about L should be skipped: L is an inbound connection that has
 * not authenticated, and such lines come faster than PEER_STRANGER_LOG_BURST per
 * interval. The first line allowed again says how many were skipped.
 */
static bool link_log_quiet(const struct link *l)
{
	static struct ratelimit stranger_logs;
	uint64_t held_back;

	if (l->outbound || l->phase == LINK_UP)
		return false;
	if (!ratelimit_allow_burst(&stranger_logs, htime_mono_ms(), PEER_STRANGER_LOG_BURST,
	    &held_back))
		return true;
	if (held_back > 0)
		log_warnx("event=peer_logs_suppressed lines=%llu reason=\"lines about "
		    "unauthenticated connections, rate-limited\"", (unsigned long long)held_back);
	return false;
}

static const char *link_peer_name(const struct link *l)
{
	return l->peer != NULL ? l->peer->node->name : "?";
}

/* Recomputes P's state for the admin view, noting when it changed. */
static void peer_update_state(struct peer *p)
{
	enum peer_state state = PEER_DOWN;

	if (p->up != NULL)
		state = PEER_UP;
	else if (p->dial != NULL || p->resolving)
		state = PEER_CONNECTING;
	if (state != p->state) {
		p->state = state;
		p->since = htime_now();
	}
}

/* Arms P's reconnect timer, unless P is linked or an attempt is already under way. */
static void peer_schedule_retry(struct peer *p)
{
	uint32_t jitter_random = 0, delay;
	struct timeval tv;

	if (stopping || p->up != NULL || p->dial != NULL || p->resolving ||
	    evtimer_pending(p->retry, NULL))
		return;
	if (RAND_bytes((unsigned char *)&jitter_random, sizeof(jitter_random)) != 1)
		jitter_random = (uint32_t)htime_mono_ms();
	delay = peerproto_backoff_ms(p->attempt, (uint32_t)herdd.config->peer_backoff_max * 1000,
	    jitter_random);
	log_info("event=peer_retry peer=%s attempt=%u delay_ms=%u", p->node->name, p->attempt,
	    delay);
	if (p->attempt < 64)
		p->attempt++;
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	/* Timers count from the loop's cached clock; make the wait start now, as logged. */
	event_base_update_cache_time(herdd.base);
	evtimer_add(p->retry, &tv);
}

/*
 * Logs one line in or out. Heartbeats on an authenticated link are debug level (sync
 * records are logged as peer_sync_in/out, also debug); everything else is info.
 */
static void link_log_line(const struct link *l, const char *dir, enum peer_msg_kind kind,
    const char *line, size_t len)
{
	static const char auth_redacted[] = "AUTH (mac)";

	if (link_log_quiet(l))
		return;
	if (l->phase == LINK_UP && (kind == PEER_MSG_PING || kind == PEER_MSG_PONG)) {
		if (log_verbosity() >= LOG_LEVEL_DEBUG)
			log_debug("event=peer_%s link=%llu peer=%s line=%s", dir,
			    (unsigned long long)l->id, link_peer_name(l), log_quote(line, len));
		return;
	}
	/* A MAC is no secret, but it is all an offline guess at a weak secret would need. */
	if (kind == PEER_MSG_AUTH) {
		line = auth_redacted;
		len = sizeof(auth_redacted) - 1;
	}
	log_info("event=peer_%s link=%llu peer=%s line=%s", dir, (unsigned long long)l->id,
	    link_peer_name(l), log_quote(line, len));
}

/*
 * Queues PREFIX, LEN bytes of DATA and a LF on L, unless that would pass the output
 * limit: then the neighbour is not reading, and L is dropped. False when L is gone.
 */
static bool link_send(struct link *l, enum peer_msg_kind kind, const char *prefix,
    const char *data, size_t len)
{
	size_t prefix_len = strlen(prefix);
	size_t queued = evbuffer_get_length(bufferevent_get_output(l->bev));

	/* The configuration makes the limit hold a few of the longest lines. */
	if (queued + prefix_len + len + 1 > herdd.config->peer_output_limit) {
		log_warnx("event=peer_output_limit link=%llu peer=%s queued=%zu limit=%zu",
		    (unsigned long long)l->id, link_peer_name(l), queued,
		    herdd.config->peer_output_limit);
		link_close(l, "output limit exceeded: neighbour not reading");
		return false;
	}
	if (prefix_len == 0)
		link_log_line(l, "out", kind, data, len);
	if ((prefix_len > 0 && bufferevent_write(l->bev, prefix, prefix_len) < 0) ||
	    bufferevent_write(l->bev, data, len) < 0 || bufferevent_write(l->bev, "\n", 1) < 0) {
		link_close(l, "out of memory");
		return false;
	}
	l->last_out_ms = htime_mono_ms();
	return true;
}

/* Sends a control line written with FMT. */
static bool link_sendf(struct link *l, enum peer_msg_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool link_sendf(struct link *l, enum peer_msg_kind kind, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		fatalx("event=bug where=link_sendf error=\"control line does not fit\"");
	return link_send(l, kind, "", line, (size_t)n);
}

/* Sends one record, flooded (AT ...) or as part of a sync (SYNC AT ...). */
static bool link_send_record(struct link *l, const struct record *rec, bool sync)
{
	if (sync) {
		if (log_verbosity() >= LOG_LEVEL_DEBUG)
			log_debug("event=peer_sync_out link=%llu peer=%s record=%s",
			    (unsigned long long)l->id, link_peer_name(l),
			    log_quote(rec->line, rec->len));
		if (!link_send(l, PEER_MSG_SYNC, "SYNC ", rec->line, rec->len))
			return false;
	} else if (!link_send(l, PEER_MSG_AT, "", rec->line, rec->len)) {
		return false;
	}
	l->peer->sent++;
	return true;
}

/* Logs why L is refused (a security event, so a warning), then closes it; returns false. */
static bool link_reject(struct link *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static bool link_reject(struct link *l, const char *fmt, ...)
{
	char reason[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (!link_log_quiet(l))
		log_warnx("event=peer_reject link=%llu address=%s peer=%s reason=%s",
		    (unsigned long long)l->id, l->addr, link_peer_name(l),
		    log_quote(reason, strlen(reason)));
	link_close(l, reason);
	return false;
}

/* The single way a link ends: log REASON, free it, let its neighbour redial if need be. */
static void link_close(struct link *l, const char *reason)
{
	struct peer *p = l->peer;

	if (p != NULL && p->up == l) {
		p->up = NULL;
		log_info("event=peer_down peer=%s link=%llu reason=%s", p->node->name,
		    (unsigned long long)l->id, log_quote(reason, strlen(reason)));
	} else if (!link_log_quiet(l)) {
		log_info("event=peer_link_close link=%llu peer=%s address=%s reason=%s",
		    (unsigned long long)l->id, link_peer_name(l), l->addr,
		    log_quote(reason, strlen(reason)));
	}
	/* A stranger that only named a neighbour is none of that neighbour's doing. */
	if (!l->outbound && l->phase != LINK_UP) {
		pending_inbound--;
		p = NULL;
	}
	if (p != NULL) {
		if (p->dial == l)
			p->dial = NULL;
		if (l->phase != LINK_UP)
			p->connect_failures++;
	}
	TAILQ_REMOVE(&links, l, entry);
	event_free(l->tick);
	bufferevent_free(l->bev);
	free(l);
	if (p != NULL) {
		peer_schedule_retry(p);
		peer_update_state(p);
	}
}

/* Starts sending the neighbour the whole table; the write callback tops it up. */
static bool link_sync_start(struct link *l)
{
	l->syncing = true;
	l->sync_sent = 0;
	table_iter_init(&l->sync_it, herdd.table);
	if (!link_sendf(l, PEER_MSG_SYNC_BEGIN, "SYNC-BEGIN %zu", table_count(herdd.table)))
		return false;
	return link_sync_fill(l);
}

/*
 * Queues sync records until PEER_SYNC_HIGH bytes wait, and SYNC-END after the last one.
 * A record that changes while the walk is under way is sent as it is then (or flooded
 * when it changes after being sent); a table that grows restarts the walk, since the
 * new layout could hide records from it. False when L is gone.
 */
static bool link_sync_fill(struct link *l)
{
	struct evbuffer *out = bufferevent_get_output(l->bev);

	while (l->syncing && evbuffer_get_length(out) < PEER_SYNC_HIGH) {
		const struct record *rec;

		if (table_iter_stale(&l->sync_it)) {
			log_info("event=peer_sync_restart link=%llu peer=%s sent=%llu "
			    "reason=\"table grew\"", (unsigned long long)l->id, link_peer_name(l),
			    (unsigned long long)l->sync_sent);
			table_iter_init(&l->sync_it, herdd.table);
		}
		rec = table_iter_next(&l->sync_it);
		if (rec == NULL) {
			l->syncing = false;
			log_info("event=peer_sync_sent link=%llu peer=%s records=%llu",
			    (unsigned long long)l->id, link_peer_name(l),
			    (unsigned long long)l->sync_sent);
			return link_sendf(l, PEER_MSG_SYNC_END, "SYNC-END %llu",
			    (unsigned long long)l->sync_sent);
		}
		if (!link_send_record(l, rec, true))
			return false;
		l->sync_sent++;
		stats.sync_records_sent++;
	}
	return true;
}

static bool link_send_hello(struct link *l)
{
	return link_sendf(l, PEER_MSG_HELLO, "HELLO %s %s %s", PEERPROTO_VERSION,
	    herdd.self->name, l->nonce);
}

/* The configured neighbour called NAME, or NULL. */
static struct peer *peer_find(const struct config_node *node)
{
	for (size_t i = 0; i < npeers; i++) {
		if (peers[i].node == node)
			return &peers[i];
	}
	return NULL;
}

/* The neighbour's HELLO: check who it is, then answer its challenge. */
static bool link_on_hello(struct link *l, const struct peer_msg *msg)
{
	char name[CONFIG_NAME_MAX];
	const struct config_node *node;
	size_t node_index;
	char mac[PEERPROTO_MAC_HEX + 1];

	if (msg->kind != PEER_MSG_HELLO)
		return link_reject(l, "%s before handshake", peerproto_kind_name(msg->kind));
	if (!proto_field_is(&msg->version, PEERPROTO_VERSION))
		return link_reject(l, "protocol version %.*s, want %s", (int)msg->version.len,
		    msg->version.p, PEERPROTO_VERSION);
	memcpy(name, msg->name.p, msg->name.len);
	name[msg->name.len] = '\0';
	node = config_find_node(herdd.config, name);
	if (node == NULL)
		return link_reject(l, "unknown node %s", log_quote(name, strlen(name)));
	node_index = (size_t)(node - herdd.config->nodes);
	if (node_index == herdd.self_index)
		return link_reject(l, "claims to be this node");
	if (!config_are_neighbours(herdd.config, herdd.self_index, node_index))
		return link_reject(l, "%s is not a neighbour", node->name);
	if (l->outbound && l->peer->node != node)
		return link_reject(l, "%s answered at the address of %s", node->name,
		    l->peer->node->name);
	l->peer = peer_find(node);
	if (memcmp(msg->nonce.p, l->nonce, PEERPROTO_NONCE_HEX) == 0)
		return link_reject(l, "our own nonce sent back");
	memcpy(l->peer_nonce, msg->nonce.p, PEERPROTO_NONCE_HEX);
	l->peer_nonce[PEERPROTO_NONCE_HEX] = '\0';
	if (!peerproto_auth_mac(secret, secret_len, herdd.self->name, node->name, l->nonce,
	    l->peer_nonce, l->outbound ? PEERPROTO_DIALLED : PEERPROTO_ACCEPTED, mac)) {
		link_close(l, "cannot compute MAC");
		return false;
	}
	l->phase = LINK_AUTH;
	return link_sendf(l, PEER_MSG_AUTH, "AUTH %s", mac);
}

/*
 * L is authenticated. If the neighbour already has a link, the tie-break keeps one of
 * the two on both ends; the survivor sends this node's table. False when L is gone.
 */
static bool link_authenticated(struct link *l)
{
	struct peer *p = l->peer;
	struct link *old = p->up;

	if (!l->outbound)
		pending_inbound--;
	l->phase = LINK_UP;
	if (p->dial == l)
		p->dial = NULL;
	if (old != NULL) {
		if (!peerproto_keep_new_link(herdd.self->name, p->node->name, old->outbound,
		    l->outbound)) {
			link_close(l, "duplicate link: the existing one stays");
			return false;
		}
		p->up = l;
		link_close(old, "duplicate link: replaced by the new one");
	}
	p->up = l;
	p->attempt = 0;
	evtimer_del(p->retry);
	p->connects++;
	peer_update_state(p);
	log_info("event=%s peer=%s link=%llu direction=%s address=%s",
	    old == NULL ? "peer_up" : "peer_link_replaced", p->node->name,
	    (unsigned long long)l->id, l->outbound ? "out" : "in", l->addr);
	return link_sync_start(l);
}

/* The neighbour's answer to our challenge. */
static bool link_on_auth(struct link *l, const struct peer_msg *msg)
{
	if (msg->kind != PEER_MSG_AUTH)
		return link_reject(l, "%s before handshake", peerproto_kind_name(msg->kind));
	/* The other end dialled when this one accepted: a relay between two accepts fails. */
	if (!peerproto_auth_verify(secret, secret_len, l->peer->node->name, herdd.self->name,
	    l->peer_nonce, l->nonce, l->outbound ? PEERPROTO_ACCEPTED : PEERPROTO_DIALLED,
	    msg->mac.p, msg->mac.len))
		return link_reject(l, "bad MAC: not the herd secret, or not the other end of "
		    "this connection");
	return link_authenticated(l);
}

/* Logs a line of the neighbour's that was skipped: at most a few per link and interval. */
static void link_warn_line(struct link *l, const char *event, const char *reason,
    const char *line, size_t len)
{
	uint64_t held_back;

	if (!ratelimit_allow(&l->warnings, htime_mono_ms(), &held_back))
		return;
	log_warnx("event=%s link=%llu peer=%s reason=%s line=%s suppressed=%llu", event,
	    (unsigned long long)l->id, link_peer_name(l), log_quote(reason, strlen(reason)),
	    log_quote(line, len), (unsigned long long)held_back);
}

/* A record from the neighbour, flooded or synced. */
static void link_on_record(struct link *l, const struct peer_msg *msg, const char *line,
    size_t len)
{
	bool sync = msg->kind == PEER_MSG_SYNC;
	enum flood_result result;

	if (sync && log_verbosity() >= LOG_LEVEL_DEBUG)
		log_debug("event=peer_sync_in link=%llu peer=%s record=%s",
		    (unsigned long long)l->id, link_peer_name(l),
		    log_quote(msg->record.p, msg->record.len));
	l->peer->received++;
	result = flood_receive(l->peer, msg->record.p, msg->record.len, sync);
	if (sync) {
		l->sync_received++;
		if (result == FLOOD_STORED)
			l->sync_stored++;
	}
	if (flood_refusal(result) != NULL)
		link_warn_line(l, result == FLOOD_FULL ? "peer_record_refused" : "peer_bad_record",
		    flood_refusal(result), line, len);
}

/* One line on an authenticated link. False when L is gone. */
static bool link_on_message(struct link *l, const struct peer_msg *msg, const char *line,
    size_t len)
{
	switch (msg->kind) {
	case PEER_MSG_AT:
	case PEER_MSG_SYNC:
		link_on_record(l, msg, line, len);
		return true;
	case PEER_MSG_SYNC_BEGIN:
		l->sync_received = 0;
		l->sync_stored = 0;
		return true;
	case PEER_MSG_SYNC_END:
		log_info("event=peer_sync_done link=%llu peer=%s received=%llu stored=%llu",
		    (unsigned long long)l->id, link_peer_name(l),
		    (unsigned long long)l->sync_received, (unsigned long long)l->sync_stored);
		return true;
	case PEER_MSG_PING:
		return link_sendf(l, PEER_MSG_PONG, "PONG");
	case PEER_MSG_PONG:
		return true;
	case PEER_MSG_UNKNOWN:
		/* A newer node may say more; what this one does not know it skips. */
		link_warn_line(l, "peer_unknown_line", "unknown message", line, len);
		return true;
	case PEER_MSG_HELLO:
	case PEER_MSG_AUTH:
	case PEER_MSG_INVALID:
		break;
	}
	log_warnx("event=peer_protocol_error link=%llu peer=%s line=%s",
	    (unsigned long long)l->id, link_peer_name(l), log_quote(line, len));
	link_close(l, "protocol error");
	return false;
}

/* An outbound connection is established: introduce this node. False when L is gone. */
static bool link_connected(struct link *l)
{
	l->phase = LINK_HELLO;
	log_info("event=peer_connected link=%llu peer=%s address=%s", (unsigned long long)l->id,
	    link_peer_name(l), l->addr);
	return link_send_hello(l);
}

/* Runs one line received on L; false when L is gone. */
static bool link_line(struct link *l, const char *line, size_t len)
{
	struct peer_msg msg;

	peerproto_parse(line, len, &msg);
	if (l->phase != LINK_UP || msg.kind != PEER_MSG_SYNC)
		link_log_line(l, "in", msg.kind, line, len);
	l->last_in_ms = htime_mono_ms();
	switch (l->phase) {
	case LINK_HELLO:
		return link_on_hello(l, &msg);
	case LINK_AUTH:
		return link_on_auth(l, &msg);
	case LINK_UP:
		return link_on_message(l, &msg, line, len);
	case LINK_CONNECTING:
		break;
	}
	fatalx("event=bug where=link_line error=\"line on a link not connected yet\"");
}

/* Runs every complete line; a line longer than line_max ends the link, LF or not. */
static void link_read_cb(struct bufferevent *bev, void *arg)
{
	struct link *l = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	/* On loopback the neighbour's HELLO can be read before libevent reports the connect. */
	if (l->phase == LINK_CONNECTING && !link_connected(l))
		return;
	for (;;) {
		size_t eol_len;
		struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		char *line;

		if (eol.pos < 0)
			break;
		if ((size_t)eol.pos > line_max) {
			link_reject(l, "line of %zu bytes, limit %zu", (size_t)eol.pos, line_max);
			return;
		}
		line = (char *)evbuffer_pullup(in, eol.pos + 1);
		if (!link_line(l, line, (size_t)eol.pos))
			return;
		evbuffer_drain(in, (size_t)eol.pos + 1);
	}
	if (evbuffer_get_length(in) > line_max)
		link_reject(l, "line of more than %zu bytes", line_max);
}

/* Output drained below PEER_SYNC_LOW: continue a sync in progress. */
static void link_write_cb(struct bufferevent *bev, void *arg)
{
	struct link *l = arg;

	if (l->phase == LINK_UP && l->syncing)
		link_sync_fill(l);
}

static void link_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct link *l = arg;
	char reason[160];

	if (l->in_connect) {
		/* bufferevent_socket_connect failed at once; link_connect cleans up. */
		l->connect_failed = true;
		return;
	}
	if (what & BEV_EVENT_CONNECTED) {
		if (l->phase == LINK_CONNECTING)
			link_connected(l);
		return;
	}
	if (what & BEV_EVENT_EOF)
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
			link_close(l, l->phase == LINK_CONNECTING ? "connect timeout" :
			    "handshake timeout");
		return;
	}
	if (now - l->last_in_ms > (uint64_t)herdd.config->peer_heartbeat_timeout * 1000) {
		link_close(l, "heartbeat timeout: nothing received for peer_heartbeat_timeout");
		return;
	}
	if (now - l->last_out_ms >= PEER_PING_IDLE_MS)
		link_sendf(l, PEER_MSG_PING, "PING");
}

/* A new link on socket FD (-1: not connected yet) to P (NULL: inbound, not known yet). */
static struct link *link_new(evutil_socket_t fd, struct peer *p, const char *addr)
{
	struct timeval tick = { 0, PEER_TICK_MS * 1000 };
	struct timeval write_limit = { herdd.config->peer_write_timeout, 0 };
	struct link *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->bev = bufferevent_socket_new(herdd.base, fd, BEV_OPT_CLOSE_ON_FREE);
	l->tick = event_new(herdd.base, -1, EV_PERSIST, link_tick_cb, l);
	if (l->bev == NULL || l->tick == NULL || !peerproto_nonce(l->nonce)) {
		if (l->bev != NULL)
			bufferevent_free(l->bev);
		if (l->tick != NULL)
			event_free(l->tick);
		free(l);
		return NULL;
	}
	l->id = next_link_id++;
	l->peer = p;
	l->outbound = p != NULL;
	l->phase = p != NULL ? LINK_CONNECTING : LINK_HELLO;
	l->opened_ms = l->last_in_ms = l->last_out_ms = htime_mono_ms();
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	bufferevent_setcb(l->bev, link_read_cb, link_write_cb, link_event_cb, l);
	bufferevent_setwatermark(l->bev, EV_WRITE, PEER_SYNC_LOW, 0);
	bufferevent_set_timeouts(l->bev, NULL, &write_limit);
	/* An outbound link has no socket yet: link_connect enables it once it has. */
	if (fd >= 0)
		bufferevent_enable(l->bev, EV_READ | EV_WRITE);
	event_add(l->tick, &tick);
	TAILQ_INSERT_TAIL(&links, l, entry);
	if (p == NULL)
		pending_inbound++;
	return l;
}

/* Dials P at SA. */
static void link_connect(struct peer *p, const struct sockaddr *sa, int salen)
{
	struct link *l = link_new(-1, p, p->address);
	int rc;

	if (l == NULL) {
		log_warnx("event=peer_connect_failed peer=%s error=\"out of memory\"", p->node->name);
		p->connect_failures++;
		peer_schedule_retry(p);
		return;
	}
	p->dial = l;
	log_info("event=peer_connecting link=%llu peer=%s address=%s", (unsigned long long)l->id,
	    p->node->name, p->address);
	l->in_connect = true;
	rc = bufferevent_socket_connect(l->bev, sa, salen);
	l->in_connect = false;
	if (rc < 0 || l->connect_failed) {
		char reason[160];

		snprintf(reason, sizeof(reason), "connect failed: %s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		link_close(l, reason);
		return;
	}
	bufferevent_enable(l->bev, EV_READ | EV_WRITE);
}

/* evdns answered for a neighbour's name: dial the first IPv4 address, else the first. */
static void peer_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	struct peer *p = arg;
	const struct evutil_addrinfo *ai, *pick = res;

	p->resolving = false;
	p->lookup = NULL;
	if (result == EVUTIL_EAI_CANCEL)
		return;
	if (result != 0 || res == NULL) {
		log_info("event=peer_connect_failed peer=%s address=%s reason=%s", p->node->name,
		    p->address, log_quote(evutil_gai_strerror(result),
		    strlen(evutil_gai_strerror(result))));
		p->connect_failures++;
		peer_schedule_retry(p);
		peer_update_state(p);
		return;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET) {
			pick = ai;
			break;
		}
	}
	link_connect(p, pick->ai_addr, (int)pick->ai_addrlen);
	evutil_freeaddrinfo(res);
	peer_update_state(p);
}

/* Starts one connection attempt to P, looking its name up first if it has one. */
static void peer_dial(struct peer *p)
{
	const struct config_addr *addr = &p->node->peer_listen;
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *req;
	char port[8];

	if (addr->kind != ADDR_NAME) {
		link_connect(p, (const struct sockaddr *)&p->sa, p->salen);
		peer_update_state(p);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
	snprintf(port, sizeof(port), "%u", addr->port);
	p->resolving = true;
	peer_update_state(p);
	req = evdns_getaddrinfo(herdd.dns, addr->host, port, &hints, peer_resolved, p);
	/* The callback may have run already (a cached or failed lookup). */
	if (p->resolving)
		p->lookup = req;
}

static void peer_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	peer_dial(arg);
}

/*
 * Makes room for one more inbound handshake: the oldest one goes. A neighbour's
 * handshake takes a round trip or two, so connections held open to fill the slots (they
 * can name a neighbour, but cannot answer its challenge) always go before it does.
 */
static void link_evict_oldest_pending(void)
{
	struct link *l;
	uint64_t held_back;

	TAILQ_FOREACH(l, &links, entry) {
		if (!l->outbound && l->phase != LINK_UP)
			break;
	}
	if (l == NULL)
		return;
	stats.peer_handshakes_evicted++;
	if (ratelimit_allow(&eviction_notes, htime_mono_ms(), &held_back))
		log_warnx("event=peer_handshake_evicted link=%llu address=%s peer=%s "
		    "reason=\"peer_handshake_max (%zu) handshakes at once: the oldest goes\" "
		    "suppressed=%llu", (unsigned long long)l->id, l->addr, link_peer_name(l),
		    herdd.config->peer_handshake_max, (unsigned long long)held_back);
	link_close(l, "handshake evicted by a newer connection");
}

static void peer_accept_cb(evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	char addr[ADDR_TEXT_MAX];
	struct link *l;

	addr_format(sa, (size_t)salen, addr);
	if (pending_inbound >= herdd.config->peer_handshake_max)
		link_evict_oldest_pending();
	l = link_new(fd, NULL, addr);
	if (l == NULL) {
		log_warnx("event=peer_reject address=%s reason=\"out of memory\"", addr);
		evutil_closesocket(fd);
		return;
	}
	if (!link_log_quiet(l))
		log_info("event=peer_link_open link=%llu address=%s", (unsigned long long)l->id,
		    addr);
	link_send_hello(l);
}

/* Accepts neighbours on FD (a listen_ready_cb). */
static void peer_listen_ready(evutil_socket_t fd, void *arg)
{
	peer_acceptor = acceptor_new(fd, "peer", 0, peer_accept_cb, NULL);
}

/*
 * Reads the herd secret once, at start-up (secret.h: a systemd credential herd.secret
 * takes precedence). Without one (allowed only when every peer_listen is loopback)
 * links authenticate with an empty key.
 */
static void secret_load(void)
{
	char source[4096];
	const char *path = secret_source(herdd.config->secret_file, "herd.secret", source,
	    sizeof(source));
	char buf[SECRET_MAX + 1];

	if (path == NULL) {
		for (size_t i = 0; i < herdd.config->nnodes; i++) {
			if (!config_addr_is_loopback(&herdd.config->nodes[i].peer_listen))
				fatalx("event=startup_failed error=\"secret_file is required: a "
				    "peer_listen is not loopback\"");
		}
		log_warnx("event=peer_links_unauthenticated reason=\"no secret_file; allowed "
		    "because every peer_listen is loopback\"");
		return;
	}
	secret_len = secret_read("secret_file", path, buf);
	secret = malloc(secret_len);
	if (secret == NULL)
		fatalx("event=startup_failed error=\"out of memory\"");
	memcpy(secret, buf, secret_len);
	OPENSSL_cleanse(buf, sizeof(buf));
}

void peers_start(void)
{
	const struct config_node *self = herdd.self;

	/* An AT line is a client's line plus the node's own fields; SYNC adds a word. */
	line_max = herdd.config->max_line + CONFIG_PEER_LINE_EXTRA;
	secret_load();
	npeers = self->nneighbours;
	peers = calloc(npeers > 0 ? npeers : 1, sizeof(*peers));
	if (peers == NULL)
		fatalx("event=startup_failed error=\"out of memory\"");
	for (size_t i = 0; i < npeers; i++) {
		struct peer *p = &peers[i];

		p->node = &herdd.config->nodes[self->neighbours[i]];
		p->state = PEER_DOWN;
		p->since = herdd.started;
		config_addr_format(&p->node->peer_listen, p->address, sizeof(p->address));
		p->retry = evtimer_new(herdd.base, peer_retry_cb, p);
		if (p->retry == NULL)
			fatalx("event=startup_failed error=\"out of memory\"");
		p->salen = sizeof(p->sa);
		if (p->node->peer_listen.kind != ADDR_NAME &&
		    evutil_parse_sockaddr_port(p->address, (struct sockaddr *)&p->sa, &p->salen) < 0)
			fatalx("event=startup_failed peer=%s address=%s error=\"cannot parse\"",
			    p->node->name, p->address);
	}
	listen_start(&self->peer_listen, "peer", peer_listen_ready, NULL);
	for (size_t i = 0; i < npeers; i++)
		peer_dial(&peers[i]);
}

void peers_stop(void)
{
	struct link *l;

	stopping = true;
	while ((l = TAILQ_FIRST(&links)) != NULL)
		link_close(l, "node stopping");
	acceptor_free(peer_acceptor);
	peer_acceptor = NULL;
	for (size_t i = 0; i < npeers; i++) {
		if (peers[i].lookup != NULL)
			evdns_getaddrinfo_cancel(peers[i].lookup);
		event_free(peers[i].retry);
	}
	free(peers);
	peers = NULL;
	npeers = 0;
	if (secret != NULL)
		OPENSSL_cleanse(secret, secret_len);
	free(secret);
	secret = NULL;
	secret_len = 0;
}

size_t peers_flood(const struct record *rec, const struct peer *except)
{
	size_t copies = 0;

	for (size_t i = 0; i < npeers; i++) {
		struct peer *p = &peers[i];

		if (p != except && p->up != NULL && link_send_record(p->up, rec, false))
			copies++;
	}
	return copies;
}

size_t peer_count(void)
{
	return npeers;
}

void peer_get_status(size_t i, struct peer_status *out)
{
	const struct peer *p = &peers[i];

	*out = (struct peer_status){ 0 };
	out->name = p->node->name;
	snprintf(out->address, sizeof(out->address), "%s", p->address);
	out->state = p->state;
	out->since = p->since;
	out->sent = p->sent;
	out->received = p->received;
	out->queued_bytes = p->up != NULL ?
	    evbuffer_get_length(bufferevent_get_output(p->up->bev)) : 0;
	out->connects = p->connects;
	out->connect_failures = p->connect_failures;
}

const char *peer_state_name(enum peer_state state)
{
	switch (state) {
	case PEER_UP:
		return "up";
	case PEER_CONNECTING:
		return "connecting";
	case PEER_DOWN:
		break;
	}
	return "down";
}
