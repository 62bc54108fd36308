/*
 * The peer link protocol (README "Peer links and the wire format") as pure functions:
 * parsing and writing lines, the challenge-and-response MACs, which of two links
 * between the same pair survives, and the reconnect backoff. No I/O here.
 */
#ifndef HERD_PEERPROTO_H
#define HERD_PEERPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define PEERPROTO_VERSION "herd/3"
#define PEERPROTO_NONCE_BYTES 16
#define PEERPROTO_NONCE_HEX (2 * PEERPROTO_NONCE_BYTES)
#define PEERPROTO_MAC_HEX 64                /* HMAC-SHA256 in hex */
#define PEERPROTO_BINDING_MAX 80            /* a TLS channel binding in hex, and its tag */
#define PEERPROTO_BACKOFF_BASE_MS 200       /* first retry after 100..200 ms */
#define PEERPROTO_DIGEST_FANOUT 16          /* hashes in a DIGEST line */
#define PEERPROTO_SUMS_MAX 48               /* sums in a LEAF or WANT line */

enum peer_msg_kind {
	PEER_MSG_HELLO,        /* HELLO herd/3 NAME NONCE */
	PEER_MSG_AUTH,         /* AUTH MAC */
	PEER_MSG_AT,           /* AT ...: a record flooded because it was newer */
	PEER_MSG_SYNC,         /* SYNC AT ...: a record of the table sent on link up */
	PEER_MSG_SYNC_BEGIN,   /* SYNC-BEGIN COUNT */
	PEER_MSG_SYNC_END,     /* SYNC-END COUNT */
	PEER_MSG_DIGEST_BEGIN, /* DIGEST-BEGIN COUNT ROOT KEY: records, digest root, key ID */
	PEER_MSG_DIGEST,       /* DIGEST DEPTH INDEX H*16: the children of a tree node (48 bits) */
	PEER_MSG_LEAF,         /* LEAF INDEX S*: sums of a leaf's records (LEAF+: more follow) */
	PEER_MSG_WANT,         /* WANT INDEX S+: send the records of the leaf with these sums */
	PEER_MSG_ROUND,        /* ROUND N: the sender's turn N of the digest walk is over */
	PEER_MSG_LSA,          /* LSA NAME BOOT SEQ ...: a node's link-state report (lsa.h) */
	PEER_MSG_PING,
	PEER_MSG_PONG,
	PEER_MSG_UNKNOWN,      /* a word this version does not know: ignored */
	PEER_MSG_INVALID,      /* a known word with the wrong arguments */
};

struct peer_msg {
	enum peer_msg_kind kind;
	struct field version;  /* HELLO: checked by the caller, to log what a peer speaks */
	struct field name;     /* HELLO */
	struct field nonce;    /* HELLO */
	struct field mac;      /* AUTH */
	struct field record;   /* AT, SYNC: the whole AT line, as the receiving node wrote it */
	                       /* LSA: the whole line, which lsa_parse checks */
	uint64_t count;        /* SYNC-BEGIN, SYNC-END, DIGEST-BEGIN, ROUND */
	uint64_t root;         /* DIGEST-BEGIN */
	uint32_t key_id;       /* DIGEST-BEGIN */
	unsigned depth;        /* DIGEST */
	uint32_t index;        /* DIGEST, LEAF, WANT: the node or leaf */
	bool more;             /* LEAF+: the leaf's sums go on in the next line */
	uint64_t hashes[PEERPROTO_DIGEST_FANOUT];   /* DIGEST */
	uint32_t sums[PEERPROTO_SUMS_MAX];          /* LEAF, WANT */
	size_t nsums;
};

/* Classifies one line (without its LF); record contents are checked later by proto_at_parse. */
void peerproto_parse(const char *line, size_t len, struct peer_msg *out);
/*
 * The digest walk's lines, without LF, into BUF of SIZE bytes (enough for the longest,
 * PEERPROTO_WALK_LINE_MAX); their length. WORD is "LEAF", "LEAF+" or "WANT".
 */
#define PEERPROTO_WALK_LINE_MAX 512
size_t peerproto_format_digest(char *buf, size_t size, unsigned depth, uint32_t index,
    const uint64_t hashes[PEERPROTO_DIGEST_FANOUT]);
size_t peerproto_format_sums(char *buf, size_t size, const char *word, uint32_t index,
    const uint32_t *sums, size_t n);
/* The name of KIND for logs. */
const char *peerproto_kind_name(enum peer_msg_kind kind);

/* Fills OUT with a fresh random nonce in hex, NUL-ended; false if no randomness. */
bool peerproto_nonce(char out[PEERPROTO_NONCE_HEX + 1]);
/* Which end of the TCP connection the sender of a MAC is. */
enum peerproto_role {
	PEERPROTO_DIALLED,     /* it connected */
	PEERPROTO_ACCEPTED,    /* it accepted the connection */
};

/*
 * The MAC by which FROM answers TO's challenge: HMAC-SHA256 with KEY over the protocol
 * version, both names, both nonces and FROM's ROLE, sender first, so a MAC reflected
 * back to its author or replayed on another link does not verify, and neither does one
 * relayed between two nodes that both accepted a stranger's connection. On a TLS link
 * BINDING (hex of the channel's exporter value; NULL or "" on plaintext) is covered too,
 * so a relay between two TLS channels cannot pass the exchange on. Writes hex,
 * NUL-ended.
 */
bool peerproto_auth_mac(const void *key, size_t keylen, const char *from, const char *to,
    const char *from_nonce, const char *to_nonce, enum peerproto_role role,
    const char *binding, char out[PEERPROTO_MAC_HEX + 1]);
/* True when MAC (LEN bytes of hex) is FROM's answer, as ROLE, to TO's challenge; constant time. */
bool peerproto_auth_verify(const void *key, size_t keylen, const char *from, const char *to,
    const char *from_nonce, const char *to_nonce, enum peerproto_role role,
    const char *binding, const char *mac, size_t len);

/*
 * Two authenticated links join SELF and PEER; OLD_OUTBOUND and NEW_OUTBOUND say whether
 * SELF dialled each. True when the new one should stay and the old one close. Both ends
 * reach the same answer: the link dialled by the smaller name (byte order) survives, and
 * between two links dialled by the same side the newer one does (the old one is likely
 * half-dead, left from before the dialler restarted).
 */
bool peerproto_keep_new_link(const char *self, const char *peer, bool old_outbound,
    bool new_outbound);

/*
 * Milliseconds to wait before reconnect ATTEMPT (0 for the first after a loss): the
 * exponential step PEERPROTO_BACKOFF_BASE_MS * 2^ATTEMPT capped at CAP_MS, then "equal
 * jitter": half of the step fixed and half chosen by JITTER_RANDOM, so nodes that lost each
 * other at once do not redial in lockstep.
 */
uint32_t peerproto_backoff_ms(unsigned attempt, uint32_t cap_ms, uint32_t jitter_random);

#endif
