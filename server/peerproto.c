/* The peer link protocol: line classification, handshake MACs, tie-break and backoff. */
#include "peerproto.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "config.h"
#include "util.h"

#define PEERPROTO_MAX_FIELDS (3 + PEERPROTO_SUMS_MAX + 1)

/* True when F is exactly LEN lower-case hex digits. */
static bool field_is_hex(const struct field *f, size_t len)
{
	if (f->len != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = f->p[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return true;
}

/* Parses a decimal count of at most 19 digits, so it fits a uint64_t. */
static bool field_count(const struct field *f, uint64_t *out)
{
	return decimal_parse(f->p, f->len, out);
}

/* Parses exactly DIGITS lower-case hex digits (at most 16). */
static bool field_hex(const struct field *f, size_t digits, uint64_t *out)
{
	uint64_t value = 0;

	if (!field_is_hex(f, digits))
		return false;
	for (size_t i = 0; i < digits; i++) {
		char c = f->p[i];

		value = value << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
	}
	*out = value;
	return true;
}

/* A tree node or leaf index in decimal, below 2^16 + 1, without leading zeros. */
static bool field_index(const struct field *f, uint32_t *out)
{
	uint64_t v;

	if (f->len > 1 && f->p[0] == '0')
		return false;
	if (f->len > 6 || !field_count(f, &v) || v > 65536)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* LEAF, LEAF+ and WANT: an index, then N - 2 sums of 8 hex digits. */
static bool parse_sums(const struct field *fields, size_t n, struct peer_msg *out)
{
	if (n < 2 || n - 2 > PEERPROTO_SUMS_MAX || !field_index(&fields[1], &out->index))
		return false;
	for (size_t i = 2; i < n; i++) {
		uint64_t v;

		if (!field_hex(&fields[i], 8, &v))
			return false;
		out->sums[i - 2] = (uint32_t)v;
	}
	out->nsums = n - 2;
	return true;
}

/*
 * The record of an AT or SYNC line: everything from START to the end of LINE, white space
 * included, so that a record not in its one written form fails proto_at_parse.
 */
static struct field record_field(const char *line, size_t len, const char *start)
{
	struct field f = { start, (size_t)(line + len - start) };

	return f;
}

void peerproto_parse(const char *line, size_t len, struct peer_msg *out)
{
	struct field fields[PEERPROTO_MAX_FIELDS];
	size_t n;

	/* Records, the bulk of a link's lines: proto_at_parse checks the rest of them. */
	out->kind = PEER_MSG_INVALID;
	if (len > 3 && memcmp(line, "AT ", 3) == 0) {
		out->kind = PEER_MSG_AT;
		out->record = record_field(line, len, line);
		return;
	}
	if (len > 8 && memcmp(line, "SYNC AT ", 8) == 0) {
		out->kind = PEER_MSG_SYNC;
		out->record = record_field(line, len, line + 5);
		return;
	}
	if (len > 4 && memcmp(line, "LSA ", 4) == 0) {
		out->kind = PEER_MSG_LSA;
		out->record = record_field(line, len, line);
		return;
	}
	n = proto_split(line, len, fields, PEERPROTO_MAX_FIELDS);
	memset(out, 0, sizeof(*out));
	out->kind = PEER_MSG_INVALID;
	if (n == 0)
		return;
	if (proto_field_is(&fields[0], "HELLO")) {
		if (n == 4 && fields[2].len > 0 && fields[2].len < CONFIG_NAME_MAX &&
		    field_is_hex(&fields[3], PEERPROTO_NONCE_HEX)) {
			out->kind = PEER_MSG_HELLO;
			out->version = fields[1];
			out->name = fields[2];
			out->nonce = fields[3];
		}
	} else if (proto_field_is(&fields[0], "AUTH")) {
		if (n == 2 && field_is_hex(&fields[1], PEERPROTO_MAC_HEX)) {
			out->kind = PEER_MSG_AUTH;
			out->mac = fields[1];
		}
	} else if (proto_field_is(&fields[0], "AT")) {
		out->kind = PEER_MSG_AT;
		out->record = record_field(line, len, line);
	} else if (proto_field_is(&fields[0], "SYNC")) {
		if (n > 1 && proto_field_is(&fields[1], "AT")) {
			/* Only one space after SYNC is the record's; any other byte stays in it. */
			out->kind = PEER_MSG_SYNC;
			out->record = record_field(line, len, fields[0].p + (fields[0].p[4] == ' ' ?
			    5 : 4));
		}
	} else if (proto_field_is(&fields[0], "SYNC-BEGIN")) {
		if (n == 2 && field_count(&fields[1], &out->count))
			out->kind = PEER_MSG_SYNC_BEGIN;
	} else if (proto_field_is(&fields[0], "SYNC-END")) {
		if (n == 2 && field_count(&fields[1], &out->count))
			out->kind = PEER_MSG_SYNC_END;
	} else if (proto_field_is(&fields[0], "DIGEST-BEGIN")) {
		uint64_t key_id;

		if (n == 4 && field_count(&fields[1], &out->count) &&
		    field_hex(&fields[2], 16, &out->root) && field_hex(&fields[3], 8, &key_id)) {
			out->kind = PEER_MSG_DIGEST_BEGIN;
			out->key_id = (uint32_t)key_id;
		}
	} else if (proto_field_is(&fields[0], "DIGEST")) {
		uint64_t depth;
		bool ok = n == 3 + PEERPROTO_DIGEST_FANOUT && field_count(&fields[1], &depth) &&
		    depth < 16 && depth % 4 == 0 && field_index(&fields[2], &out->index) &&
		    out->index < (UINT32_C(1) << depth);

		for (size_t i = 0; ok && i < PEERPROTO_DIGEST_FANOUT; i++)
			ok = field_hex(&fields[3 + i], 12, &out->hashes[i]);
		if (ok) {
			out->kind = PEER_MSG_DIGEST;
			out->depth = (unsigned)depth;
		}
	} else if (proto_field_is(&fields[0], "LEAF") || proto_field_is(&fields[0], "LEAF+")) {
		if (parse_sums(fields, n, out) && out->index < 65536) {
			out->kind = PEER_MSG_LEAF;
			out->more = fields[0].len == 5;
		}
	} else if (proto_field_is(&fields[0], "WANT")) {
		if (parse_sums(fields, n, out) && out->nsums > 0 && out->index < 65536)
			out->kind = PEER_MSG_WANT;
	} else if (proto_field_is(&fields[0], "ROUND")) {
		if (n == 2 && field_count(&fields[1], &out->count))
			out->kind = PEER_MSG_ROUND;
	} else if (proto_field_is(&fields[0], "PING")) {
		if (n == 1)
			out->kind = PEER_MSG_PING;
	} else if (proto_field_is(&fields[0], "PONG")) {
		if (n == 1)
			out->kind = PEER_MSG_PONG;
	} else {
		out->kind = PEER_MSG_UNKNOWN;
	}
}

const char *peerproto_kind_name(enum peer_msg_kind kind)
{
	switch (kind) {
	case PEER_MSG_HELLO:
		return "HELLO";
	case PEER_MSG_AUTH:
		return "AUTH";
	case PEER_MSG_AT:
		return "AT";
	case PEER_MSG_SYNC:
		return "SYNC";
	case PEER_MSG_SYNC_BEGIN:
		return "SYNC-BEGIN";
	case PEER_MSG_SYNC_END:
		return "SYNC-END";
	case PEER_MSG_DIGEST_BEGIN:
		return "DIGEST-BEGIN";
	case PEER_MSG_DIGEST:
		return "DIGEST";
	case PEER_MSG_LEAF:
		return "LEAF";
	case PEER_MSG_WANT:
		return "WANT";
	case PEER_MSG_ROUND:
		return "ROUND";
	case PEER_MSG_LSA:
		return "LSA";
	case PEER_MSG_PING:
		return "PING";
	case PEER_MSG_PONG:
		return "PONG";
	case PEER_MSG_UNKNOWN:
		return "unknown";
	case PEER_MSG_INVALID:
		break;
	}
	return "invalid";
}

bool peerproto_nonce(char out[PEERPROTO_NONCE_HEX + 1])
{
	unsigned char raw[PEERPROTO_NONCE_BYTES];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return false;
	hex_encode(raw, sizeof(raw), out);
	return true;
}

bool peerproto_auth_mac(const void *key, size_t keylen, const char *from, const char *to,
    const char *from_nonce, const char *to_nonce, enum peerproto_role role,
    const char *binding, char out[PEERPROTO_MAC_HEX + 1])
{
	/* HMAC() wants a non-NULL key even when it is empty (a loopback herd without a secret). */
	static const unsigned char empty_key[1];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char msg[4 * CONFIG_NAME_MAX + 2 * PEERPROTO_NONCE_HEX + PEERPROTO_BINDING_MAX];
	bool bound = binding != NULL && *binding != '\0';
	int n = snprintf(msg, sizeof(msg), "%s AUTH\n%s\n%s\n%s\n%s\n%s%s%s", PEERPROTO_VERSION,
	    from, to, from_nonce, to_nonce, role == PEERPROTO_DIALLED ? "dialled" : "accepted",
	    bound ? "\ntls " : "", bound ? binding : "");

	if (n < 0 || (size_t)n >= sizeof(msg) || keylen > INT32_MAX)
		return false;
	if (HMAC(EVP_sha256(), keylen > 0 ? key : empty_key, (int)keylen,
	    (const unsigned char *)msg, (size_t)n, md, &mdlen) == NULL || mdlen * 2 != PEERPROTO_MAC_HEX)
		return false;
	hex_encode(md, mdlen, out);
	OPENSSL_cleanse(md, sizeof(md));
	return true;
}

bool peerproto_auth_verify(const void *key, size_t keylen, const char *from, const char *to,
    const char *from_nonce, const char *to_nonce, enum peerproto_role role,
    const char *binding, const char *mac, size_t len)
{
	char want[PEERPROTO_MAC_HEX + 1];

	if (len != PEERPROTO_MAC_HEX ||
	    !peerproto_auth_mac(key, keylen, from, to, from_nonce, to_nonce, role, binding, want))
		return false;
	return CRYPTO_memcmp(want, mac, PEERPROTO_MAC_HEX) == 0;
}

bool peerproto_keep_new_link(const char *self, const char *peer, bool old_outbound,
    bool new_outbound)
{
	const char *old_dialler = old_outbound ? self : peer;
	const char *new_dialler = new_outbound ? self : peer;

	if (old_outbound == new_outbound)
		return true;
	return strcmp(new_dialler, old_dialler) < 0;
}

uint32_t peerproto_backoff_ms(unsigned attempt, uint32_t cap_ms, uint32_t jitter_random)
{
	uint32_t step = PEERPROTO_BACKOFF_BASE_MS;

	for (unsigned i = 0; i < attempt && step < cap_ms && step <= UINT32_MAX / 2; i++)
		step *= 2;
	if (step > cap_ms)
		step = cap_ms;
	return step / 2 + jitter_random % (step - step / 2 + 1);
}

size_t peerproto_format_digest(char *buf, size_t size, unsigned depth, uint32_t index,
    const uint64_t hashes[PEERPROTO_DIGEST_FANOUT])
{
	int n = snprintf(buf, size, "DIGEST %u %u", depth, (unsigned)index);

	for (size_t i = 0; i < PEERPROTO_DIGEST_FANOUT && n > 0 && (size_t)n < size; i++)
		n += snprintf(buf + n, size - (size_t)n, " %012llx",
		    (unsigned long long)(hashes[i] & ((UINT64_C(1) << 48) - 1)));
	if (n < 0 || (size_t)n >= size)
		return 0;
	return (size_t)n;
}

size_t peerproto_format_sums(char *buf, size_t size, const char *word, uint32_t index,
    const uint32_t *sums, size_t n)
{
	int len = snprintf(buf, size, "%s %u", word, (unsigned)index);

	for (size_t i = 0; i < n && len > 0 && (size_t)len < size; i++)
		len += snprintf(buf + len, size - (size_t)len, " %08x", (unsigned)sums[i]);
	if (len < 0 || (size_t)len >= size)
		return 0;
	return (size_t)len;
}
