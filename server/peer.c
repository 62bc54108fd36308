/*
 * The neighbours (SPEC section 4): one per configured pair, each with a dialler (evdns
 * for names, capped exponential backoff), the live link and the duplicate rule, its
 * status for the admin endpoint, and the flood fan-out. The peer listener accepts links;
 * what happens on a link is link.c's, which calls back here (struct link_owner).
 */
#include "peer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "config.h"
#include "flood.h"
#include "herdd.h"
#include "link.h"
#include "linkstate.h"
#include "listen.h"
#include "log.h"
#include "peerproto.h"
#include "peertls.h"
#include "ratelimit.h"
#include "secret.h"
#include "stats.h"
#include "util.h"
#include "xmalloc.h"

/* A link up this long has held: the next loss retries from the shortest backoff. */
#define PEER_STABLE_MS 5000

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
	struct peer_lookup *asked;   /* the lookup's context, while one is under way */
	struct event *retry;
	unsigned attempt;            /* reconnects scheduled since a link last held */
	uint64_t up_ms;              /* when the live link came up */
	enum peer_state state;
	struct htime since;
	/* Records over links that have closed; the live link's are added when asked. */
	uint64_t sent, received;
	uint64_t connects, connect_failures;
};

/*
 * A name lookup of a peer's: evdns calls back even after a cancel, later, so the peer is
 * reached through this, which a cancel detaches (the peer may be freed meanwhile).
 */
struct peer_lookup {
	struct peer *peer;           /* NULL once cancelled */
};

static struct peer **peers;    /* one allocation each: links point at theirs */
static size_t npeers;
static struct acceptor *peer_acceptor;
static struct ratelimit eviction_notes;
static unsigned char *secret;
static size_t secret_len;
/* Records of this pass wait in the links' buffers; the event writes them at its end. */
static bool flood_unwritten;
static struct event *flood_written_event;
static void (*flood_written)(void);
static void peers_flood_written_cb(evutil_socket_t fd, short what, void *arg);
static bool stopping;

/* Recomputes P's state for the admin view, noting when it changed. */
static void peer_update_state(struct peer *p)
{
	enum peer_state state = PEER_DOWN;

	if (p->up != NULL)
		state = PEER_UP;
	else if (p->dial != NULL || p->resolving)
		state = PEER_CONNECTING;
	if (state != p->state) {
		/* Reports say connecting too, but a dial to a dead neighbour is no news. */
		if ((state == PEER_UP) != (p->state == PEER_UP))
			linkstate_changed();
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

/* link_owner.hello: the neighbour a HELLO names, when it is one of this node's. */
static struct peer *peer_link_hello(struct link *l, const char *name, size_t len, char *why,
    size_t size)
{
	const struct config_node *node = config_find_node_len(herdd.config, name, len);
	struct peer *p = NULL;

	if (node == NULL) {
		snprintf(why, size, "unknown node %s", log_quote(name, len));
		return NULL;
	}
	if (node == herdd.self) {
		snprintf(why, size, "claims to be this node");
		return NULL;
	}
	for (size_t i = 0; i < npeers; i++) {
		if (strcmp(peers[i]->node->name, node->name) == 0)
			p = peers[i];
	}
	if (p == NULL) {
		/* A node of the herd: its name in the refusal's log line (peer=). A dialled
		 * link keeps the name of the node it dialled. */
		if (!link_outbound(l))
			link_set_name(l, node->name);
		snprintf(why, size, "%s is not a neighbour", node->name);
		return NULL;
	}
	if (link_outbound(l) && strcmp(link_name(l), node->name) != 0) {
		snprintf(why, size, "%s answered at the address of %s", node->name, link_name(l));
		return NULL;
	}
	link_set_name(l, node->name);
	return p;
}

/* Gives a new link the link-state reports this node holds. */
static void peer_send_report(void *arg, const char *line, size_t len)
{
	link_send_report(arg, line, len);
}

/*
 * link_owner.up: L authenticated. If P already has a link, the tie-break keeps one of
 * the two on both ends.
 */
static void peer_link_up(struct link *l, struct peer *p)
{
	struct link *old = p->up;

	if (p->dial == l)
		p->dial = NULL;
	if (old != NULL) {
		if (!peerproto_keep_new_link(herdd.self->name, p->node->name, link_outbound(old),
		    link_outbound(l))) {
			link_close(l, "duplicate link: the existing one stays");
			return;
		}
		p->up = l;
		link_close(old, "duplicate link: replaced by the new one");
	}
	p->up = l;
	p->up_ms = htime_mono_ms();
	evtimer_del(p->retry);
	p->connects++;
	peer_update_state(p);
	log_info("event=%s peer=%s link=%llu direction=%s address=%s", old == NULL ? "peer_up" :
	    "peer_link_replaced", p->node->name, (unsigned long long)link_id(l),
	    link_outbound(l) ? "out" : "in", link_addr(l));
	linkstate_link_up(peer_send_report, l);
}

/* link_owner.detach: L is closing; its records count as P's from now on. */
static bool peer_link_detach(struct link *l, struct peer *p)
{
	uint64_t sent, received;
	bool live;

	if (p == NULL)
		return false;
	live = p->up == l;
	if (live) {
		p->up = NULL;
		/* A link that falls at once (a line over this node's limit, say) backs off. */
		if (htime_mono_ms() - p->up_ms >= PEER_STABLE_MS)
			p->attempt = 0;
	}
	/* Our dial that never authenticated: a failed attempt. */
	if (p->dial == l) {
		p->dial = NULL;
		p->connect_failures++;
	}
	link_records(l, &sent, &received);
	p->sent += sent;
	p->received += received;
	return live;
}

/* link_owner.closed: redial when need be. */
static void peer_link_closed(struct link *l, struct peer *p)
{
	if (p == NULL)
		return;
	peer_schedule_retry(p);
	peer_update_state(p);
}

static const struct link_owner peer_link_owner = {
	.hello = peer_link_hello,
	.up = peer_link_up,
	.detach = peer_link_detach,
	.closed = peer_link_closed,
};

/* Dials P at SA. */
static void peer_connect(struct peer *p, const struct sockaddr *sa, int salen)
{
	p->dial = link_new_dial(p, p->node->name, p->address);
	link_connect(p->dial, sa, salen);
}

/* evdns answered for a neighbour's name: dial the first IPv4 address, else the first. */
static void peer_resolved(int result, struct evutil_addrinfo *res, void *arg)
{
	struct peer_lookup *asked = arg;
	struct peer *p = asked->peer;
	const struct evutil_addrinfo *ai, *pick = res;

	free(asked);
	if (p == NULL || result == EVUTIL_EAI_CANCEL) {
		/* Cancelled: the peer went, or asks again elsewhere. */
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return;
	}
	p->resolving = false;
	p->lookup = NULL;
	p->asked = NULL;
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
	peer_connect(p, pick->ai_addr, (int)pick->ai_addrlen);
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
		peer_connect(p, (const struct sockaddr *)&p->sa, p->salen);
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
	p->asked = xcalloc(1, sizeof(*p->asked));
	p->asked->peer = p;
	peer_update_state(p);
	req = evdns_getaddrinfo(herdd.dns, addr->host, port, &hints, peer_resolved, p->asked);
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
 * can name a neighbour, but cannot answer its challenge) go before it does, unless a
 * stranger opens more than peer_handshake_max of them within that round trip.
 */
static void peer_evict_oldest_pending(void)
{
	struct link *l = links_oldest_pending();
	uint64_t held_back;

	if (l == NULL)
		return;
	stats.peer_handshakes_evicted++;
	if (ratelimit_allow(&eviction_notes, htime_mono_ms(), &held_back))
		log_warnx("event=peer_handshake_evicted link=%llu address=%s peer=%s "
		    "reason=\"peer_handshake_max (%zu) handshakes at once: the oldest goes\" "
		    "suppressed=%llu", (unsigned long long)link_id(l), link_addr(l), link_name(l),
		    herdd.config->peer_handshake_max, (unsigned long long)held_back);
	link_close(l, "handshake evicted by a newer connection");
}

/* A connection on the peer port: a handshake slot, the oldest one's if all are taken. */
static void peer_accept_cb(evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	char addr[ADDR_TEXT_MAX];

	addr_format(sa, (size_t)salen, addr);
	/* The evicted one is freed when the pass ends, after at most ACCEPT_BATCH accepts
	 * (listen.c), not after libevent has taken the whole backlog. */
	if (links_pending() >= herdd.config->peer_handshake_max)
		peer_evict_oldest_pending();
	link_accept(fd, addr);
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
void peers_load_secret(void)
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
		return;
	}
	secret_len = secret_read("secret_file", path, buf);
	secret = xmalloc(secret_len);
	memcpy(secret, buf, secret_len);
	OPENSSL_cleanse(buf, sizeof(buf));
}

const unsigned char *peers_secret(size_t *len)
{
	*len = secret_len;
	return secret;
}

/* Takes P's address from its node; false (and logged) when it cannot be parsed. */
static bool peer_set_address(struct peer *p)
{
	config_addr_format(&p->node->peer_listen, p->address, sizeof(p->address));
	p->salen = sizeof(p->sa);
	if (p->node->peer_listen.kind != ADDR_NAME &&
	    evutil_parse_sockaddr_port(p->address, (struct sockaddr *)&p->sa, &p->salen) < 0) {
		log_warnx("event=peer_address_invalid peer=%s address=%s", p->node->name,
		    p->address);
		return false;
	}
	return true;
}

/* A peer for neighbour NODE, not yet dialled (peer_set_address comes next). */
static struct peer *peer_new(const struct config_node *node)
{
	struct peer *p = xcalloc(1, sizeof(*p));

	p->node = node;
	p->state = PEER_DOWN;
	p->since = htime_now();
	p->retry = xcheck(evtimer_new(herdd.base, peer_retry_cb, p));
	return p;
}

/* Ends whatever P has under way: its links close with REASON, lookups and retries stop. */
static void peer_disconnect(struct peer *p, const char *reason)
{
	bool was_stopping = stopping;

	stopping = true;         /* no retry is scheduled by the links' closing */
	links_close_peer(p, reason);
	stopping = was_stopping;
	if (p->asked != NULL) {
		/* Its callback comes later and finds no peer. */
		p->asked->peer = NULL;
		p->asked = NULL;
		if (p->lookup != NULL)
			evdns_getaddrinfo_cancel(p->lookup);
	}
	p->lookup = NULL;
	p->resolving = false;
	evtimer_del(p->retry);
	p->attempt = 0;
	peer_update_state(p);
}

static void peer_free(struct peer *p)
{
	peer_disconnect(p, "no longer a neighbour");
	event_free(p->retry);
	free(p);
}

void peers_start(void (*written)(void))
{
	const struct config_node *self = herdd.self;

	enum peer_tls want = herdd.config->peer_tls;
	char why[300];

	if (secret == NULL)
		log_warnx("event=peer_links_unauthenticated reason=\"no secret_file; allowed "
		    "because every peer_listen is loopback\"");
	if (want == PEER_TLS_ON && secret == NULL)
		log_warnx("event=peer_tls_off reason=\"peer_tls is on but there is no herd "
		    "secret to key TLS with: links are plaintext, allowed because every "
		    "peer_listen is loopback\"");
	if (herdd.config->peer_ca_file != NULL && secret == NULL)
		fatalx("event=startup_failed what=peer_ca_file error=\"peer certificates need "
		    "a herd secret too (secret_file): the AUTH exchange inside TLS uses it\"");
	if (secret != NULL && want == PEER_TLS_ON &&
	    !peertls_init(secret, secret_len, why, sizeof(why)))
		fatalx("event=startup_failed what=peer_tls error=%s", log_quote(why, strlen(why)));
	log_info("event=peer_transport tls=%s%s", peertls_enabled() ? "on" : "off",
	    !peertls_enabled() ? "" : peertls_certificates() ?
	    " version=TLSv1.3 auth=certificate" : " version=TLSv1.3 auth=psk");
	links_start(&peer_link_owner, secret, secret_len);
	flood_written = written;
	flood_written_event = xcheck(event_new(herdd.base, -1, 0, peers_flood_written_cb, NULL));
	flood_set_fanout(peers_flood);
	npeers = self->nneighbours;
	peers = xcalloc(npeers > 0 ? npeers : 1, sizeof(*peers));
	for (size_t i = 0; i < npeers; i++) {
		peers[i] = peer_new(&herdd.config->nodes[self->neighbours[i]]);
		peers[i]->since = herdd.started;
		if (!peer_set_address(peers[i]))
			fatalx("event=startup_failed peer=%s address=%s error=\"cannot parse\"",
			    peers[i]->node->name, peers[i]->address);
	}
	listen_start(&self->peer_listen, "peer", peer_listen_ready, NULL);
	for (size_t i = 0; i < npeers; i++)
		peer_dial(peers[i]);
	linkstate_start(peers_send_report);
}

/* Takes the peer of the neighbour named NAME out of LIST (its slot NULL), or NULL. */
static struct peer *peer_take(struct peer **list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		struct peer *p = list[i];

		if (p != NULL && strcmp(p->node->name, name) == 0) {
			list[i] = NULL;
			return p;
		}
	}
	return NULL;
}

void peers_reload(struct peers_change *change)
{
	const struct config_node *self = herdd.self;
	struct peer **old = peers;
	size_t nold = npeers;
	struct peer **fresh = xcalloc(self->nneighbours > 0 ? self->nneighbours : 1,
	    sizeof(*fresh));

	*change = (struct peers_change){ 0 };
	for (size_t i = 0; i < self->nneighbours; i++) {
		const struct config_node *node = &herdd.config->nodes[self->neighbours[i]];
		struct peer *p = peer_take(old, nold, node->name);
		char now[sizeof(p->address)];

		if (p == NULL) {
			p = peer_new(node);
			fresh[i] = p;
			change->added++;
			if (peer_set_address(p)) {
				log_info("event=peer_added peer=%s address=%s", node->name,
				    p->address);
				peer_dial(p);
			}
			continue;
		}
		/* Kept: it reads the new file's node from now on. */
		fresh[i] = p;
		p->node = node;
		config_addr_format(&node->peer_listen, now, sizeof(now));
		if (strcmp(p->address, now) == 0)
			continue;
		log_info("event=peer_readdressed peer=%s from=%s to=%s", node->name, p->address,
		    now);
		change->readdressed++;
		peer_disconnect(p, "its peer_listen changed");
		if (peer_set_address(p))
			peer_dial(p);
	}
	for (size_t k = 0; k < nold; k++) {
		if (old[k] == NULL)
			continue;
		log_info("event=peer_removed peer=%s", old[k]->node->name);
		change->removed++;
		peer_free(old[k]);
	}
	free(old);
	peers = fresh;
	npeers = self->nneighbours;
}

/* Wipes and frees the herd secret this node holds. */
static void peers_forget_secret(void)
{
	if (secret != NULL)
		OPENSSL_cleanse(secret, secret_len);
	free(secret);
	secret = NULL;
	secret_len = 0;
}

void peers_set_secret(const unsigned char *key, size_t len)
{
	unsigned char *copy = len > 0 ? xmalloc(len) : NULL;

	if (len > 0)
		memcpy(copy, key, len);
	links_set_secret(copy, len);
	if (peertls_enabled())
		peertls_set_secret(copy, len);
	peers_forget_secret();
	secret = copy;
	secret_len = len;
}

void peers_stop(void)
{
	stopping = true;
	linkstate_stop();
	links_stop();
	acceptor_free(peer_acceptor);
	peer_acceptor = NULL;
	for (size_t i = 0; i < npeers; i++)
		peer_free(peers[i]);
	free(peers);
	peers = NULL;
	npeers = 0;
	event_free(flood_written_event);
	flood_written_event = NULL;
	flood_unwritten = false;
	peertls_free();
	peers_forget_secret();
}

void peers_send_report(const char *line, size_t len, const struct peer *except)
{
	for (size_t i = 0; i < npeers; i++)
		if (peers[i] != except && peers[i]->up != NULL)
			link_send_report(peers[i]->up, line, len);
}

size_t peers_flood(const struct record *rec, const struct peer *except)
{
	size_t copies = 0;

	for (size_t i = 0; i < npeers; i++) {
		struct peer *p = peers[i];

		if (p != except && p->up != NULL && link_send_record(p->up, rec))
			copies++;
	}
	/*
	 * The first flood of a pass writes the links at its end, before the replies; the
	 * log's write, queued when the pass logged its first line, goes after them.
	 */
	if (copies > 0 && !flood_unwritten) {
		flood_unwritten = true;
		event_active(flood_written_event, EV_TIMEOUT, 1);
		if (herdd.log_write != NULL &&
		    event_pending(herdd.log_write, EV_TIMEOUT, NULL)) {
			event_del(herdd.log_write);
			event_active(herdd.log_write, EV_TIMEOUT, 1);
		}
	}
	return copies;
}

bool peers_pending(void)
{
	return flood_unwritten;
}

/* The end of a pass that flooded: every link's queue to its socket, then the replies. */
static void peers_flood_written_cb(evutil_socket_t fd, short what, void *arg)
{
	for (size_t i = 0; i < npeers; i++) {
		if (peers[i]->up != NULL)
			link_write_now(peers[i]->up);
	}
	flood_unwritten = false;
	flood_written();
}

size_t peer_count(void)
{
	return npeers;
}

void peer_get_status(size_t i, struct peer_status *out)
{
	const struct peer *p = peers[i];

	*out = (struct peer_status){ 0 };
	out->name = p->node->name;
	snprintf(out->address, sizeof(out->address), "%s", p->address);
	out->state = p->state;
	out->since = p->since;
	out->sent = p->sent;
	out->received = p->received;
	if (p->up != NULL) {
		uint64_t sent, received;

		link_records(p->up, &sent, &received);
		out->sent += sent;
		out->received += received;
		out->queued_bytes = link_queued(p->up);
		out->pending_records = link_pending_records(p->up);
	}
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
