/*
 * libFuzzer target for the peer wire decoder and the peer AT path: every input is a
 * stream of lines as a neighbour would send them after the handshake. Each line goes
 * through peerproto_parse, and records through flood_receive into a table, as
 * server/peer.c does, and the digest walk's lines through recon.c, whose answers must
 * be lines the decoder reads back as their kind and records of the table; link-state
 * reports through lsa_parse, which must read back what lsa_format writes of them, and
 * the herd map and its view; the invariants below must hold whatever the neighbour sends.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "digest.h"
#include "flood.h"
#include "herdd.h"
#include "herdmap.h"
#include "lsa.h"
#include "peerproto.h"
#include "recon.h"
#include "state.h"
#include "table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct herdd herdd;
static struct digest digest;
static struct recon walk;
static struct herdmap map;
static struct herdview view;
static uint64_t clock_ms;

/* No journal here: what flood_receive stores stays in the table. */
void state_append(const struct record *rec)
{
}

static const char herd_conf[] =
	"[herd]\n"
	"[node Alford]\nlisten = 127.0.0.1:1\npeer_listen = 127.0.0.1:2\npeers = Parker\n"
	"[node Bolden]\nlisten = 127.0.0.1:3\npeer_listen = 127.0.0.1:4\npeers = Parker\n"
	"[node Parker]\nlisten = 127.0.0.1:5\npeer_listen = 127.0.0.1:6\n";

/*
 * True when R is what proto_at_format writes: its fields one space apart make the whole
 * line, and its time difference is the one text htime_format_diff gives for that value.
 */
static bool record_is_written_form(const struct record *stored)
{
	struct htime zero = { 0, 0 }, diff;
	char text[HTIME_DIFF_MAX + 1];
	struct at_record fields, *r = &fields;
	size_t n;

	record_fields(stored, &fields);

	if (r->len != 3 + r->server.len + 1 + r->diff.len + 1 + r->id.len + 1 +
	    r->location.len + 1 + r->time.len || memcmp(r->line, "AT ", 3) != 0 ||
	    r->server.p != r->line + 3 || r->time.p + r->time.len != r->line + r->len)
		return false;
	if (r->diff.len < 2 || !htime_parse(r->diff.p + 1, r->diff.len - 1, &diff))
		return false;
	n = r->diff.p[0] == '-' ? htime_format_diff(zero, diff, text, sizeof(text)) :
	    htime_format_diff(diff, zero, text, sizeof(text));
	return n == r->diff.len && memcmp(text, r->diff.p, n) == 0;
}

/* A refused line ends the link, and the walk with it: a new one begins. */
static void walk_restart(void)
{
	recon_clear(&walk);
	recon_init(&walk, herdd.table, &digest, 100);
	/* The root's children, as if this end had sent them: answers about them are taken. */
	recon_start(&walk);
}

/* Everything the walk owes now: each line must parse as what it is, each record be held. */
static void drain_walk(void)
{
	char line[PEERPROTO_WALK_LINE_MAX];
	size_t len;
	const struct record *rec;

	recon_turn(&walk);
	recon_finish(&walk);
	while ((len = recon_next_line(&walk, line, sizeof(line))) > 0) {
		struct peer_msg msg;

		peerproto_parse(line, len, &msg);
		if (msg.kind != PEER_MSG_DIGEST && msg.kind != PEER_MSG_LEAF &&
		    msg.kind != PEER_MSG_WANT)
			abort();
	}
	while ((rec = pendset_pop(&walk.records)) != NULL) {
		struct field id = record_id(rec);

		if (table_get(herdd.table, id.p, id.len) != rec)
			abort();
	}
	if (!recon_idle(&walk))
		abort();
}

/*
 * A report as linkstate.c takes it: what parses is written back and parses the same,
 * and goes into the herd map, whose view of the herd must hang together.
 */
static void peer_report(const char *line, size_t len)
{
	struct lsa a, b;
	const char *why;
	char out[8192];
	size_t n;

	if (!lsa_parse(line, len, &a, &why)) {
		if (why == NULL)
			abort();
		return;
	}
	n = lsa_format(out, sizeof(out), &a);
	if (n == 0 || !lsa_parse(out, n, &b, &why) || strcmp(a.origin, b.origin) != 0 ||
	    a.boot != b.boot || a.seq != b.seq || strcmp(a.version, b.version) != 0 ||
	    memcmp(a.counters, b.counters, sizeof(a.counters)) != 0 || a.nlinks != b.nlinks ||
	    a.links_omitted != b.links_omitted)
		abort();
	for (size_t i = 0; i < a.nlinks; i++)
		if (strcmp(a.links[i].peer, b.links[i].peer) != 0 ||
		    a.links[i].state != b.links[i].state)
			abort();
	/* Passed on with an age, as a greeting does: the same report, that old. */
	n = lsa_with_age(line, len, 1234, out, sizeof(out));
	if (n > 0 && (!lsa_parse(out, n, &b, &why) || b.age_ms != 1234 || a.seq != b.seq ||
	    a.boot != b.boot || a.nlinks != b.nlinks))
		abort();
	clock_ms += 700;
	if (config_find_node(herdd.config, a.origin) == NULL)
		return;
	herdmap_offer(&map, &a, line, len, clock_ms, htime_now(), 3000);
	herdview_build(&view, herdd.config, 0, &a, &map, clock_ms, 3000);
	if (view.nnodes != herdd.config->nnodes || view.nreachable == 0 ||
	    view.npartitions == 0 || view.npartitions > view.nnodes || !view.nodes[0].reachable)
		abort();
	for (size_t i = 0; i < view.nlinks; i++)
		if (view.links[i].state == HERDVIEW_LINK_UP &&
		    view.nodes[view.links[i].a].partition != view.nodes[view.links[i].b].partition)
			abort();
}

/* Checks what the decoder says of one line, and runs records as the node would. */
static void peer_line(const char *line, size_t len)
{
	struct peer_msg msg;
	enum flood_result result;
	const struct record *stored;
	struct at_record rec;

	peerproto_parse(line, len, &msg);
	switch (msg.kind) {
	case PEER_MSG_HELLO:
		if (msg.name.len == 0 || msg.name.len >= CONFIG_NAME_MAX ||
		    msg.nonce.len != PEERPROTO_NONCE_HEX)
			abort();
		break;
	case PEER_MSG_AUTH:
		if (msg.mac.len != PEERPROTO_MAC_HEX)
			abort();
		/* Whatever the MAC, checking it must hold up (the answer is almost surely no). */
		(void)peerproto_auth_verify("k", 1, "Parker", "Alford", "00", "11", PEERPROTO_DIALLED,
		    NULL, msg.mac.p, msg.mac.len);
		(void)peerproto_auth_verify("k", 1, "Parker", "Alford", "00", "11", PEERPROTO_DIALLED,
		    "00ff", msg.mac.p, msg.mac.len);
		break;
	case PEER_MSG_AT:
	case PEER_MSG_SYNC:
		if (msg.record.p < line || msg.record.p + msg.record.len > line + len)
			abort();
		result = flood_receive(NULL, msg.record.p, msg.record.len,
		    msg.kind == PEER_MSG_SYNC, htime_now());
		if (result != FLOOD_STORED)
			break;
		/* What was stored is the record byte for byte, in its written form, by a node. */
		if (!proto_at_parse(msg.record.p, msg.record.len, &rec))
			abort();
		stored = table_get(herdd.table, rec.id.p, rec.id.len);
		if (stored == NULL || record_len(stored) != msg.record.len ||
		    memcmp(record_line(stored), msg.record.p, msg.record.len) != 0 ||
		    !record_is_written_form(stored))
			abort();
		record_fields(stored, &rec);
		if (config_find_node_len(herdd.config, rec.server.p, rec.server.len) == NULL)
			abort();
		break;
	case PEER_MSG_DIGEST:
		if (!digest_node_valid(msg.depth, msg.index) || msg.depth >= DIGEST_LEAF_BITS)
			abort();
		/* Refused (not offered, or answered already): the link would end. */
		if (!recon_on_digest(&walk, msg.depth, msg.index, msg.hashes))
			walk_restart();
		break;
	case PEER_MSG_LEAF:
		if (msg.index >= DIGEST_LEAVES || msg.nsums > PEERPROTO_SUMS_MAX)
			abort();
		/* A LEAF+ run broken by another leaf is refused, not taken in. */
		if (!recon_on_leaf(&walk, msg.index, msg.sums, msg.nsums, msg.more))
			walk_restart();
		break;
	case PEER_MSG_WANT:
		if (msg.index >= DIGEST_LEAVES || msg.nsums == 0 || msg.nsums > PEERPROTO_SUMS_MAX)
			abort();
		if (!recon_on_want(&walk, msg.index, msg.sums, msg.nsums))
			walk_restart();
		break;
	case PEER_MSG_ROUND:
		drain_walk();
		break;
	case PEER_MSG_LSA:
		peer_report(line, len);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	if (herdd.config == NULL) {
		herdd.config = config_parse("fuzz.conf", herd_conf, strlen(herd_conf), NULL);
		if (herdd.config == NULL)
			abort();
		herdd.table = table_new_keyed(1, 2);
		table_set_limit(herdd.table, 100000);
		digest_init(&digest, &(struct siphash_key){ 3, 4 });
		table_set_digest(herdd.table, &digest);
	}
	recon_init(&walk, herdd.table, &digest, 100);
	recon_start(&walk);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		peer_line(p, len);
		p += len + 1;
	}
	drain_walk();
	recon_clear(&walk);
	return 0;
}
