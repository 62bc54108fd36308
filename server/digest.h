/*
 * The digest of a table (README "Peer links and the wire format", "Sync"): a tree whose
 * 65536 leaves each hold the XOR of a 64-bit keyed hash (SipHash-1-3: the sum) of every AT line whose
 * client falls in that leaf, kept up to date on every store. A leaf is the low 16 bits of
 * the table's own hash of the client ID; every node of a herd hashes with the same key
 * (digest_keys), so a client is in the same leaf everywhere and two nodes that hold the
 * same records have the same leaves. A node of the tree at depth D (0, 4, 8, 12 or 16)
 * and index I covers leaves I << (16 - D) up to the next node's; its hash is the XOR of
 * theirs, computed when asked. Two nodes compare trees top down, 16 children at a time,
 * and send each other only the records of leaves that differ. Pure code, no I/O.
 */
#ifndef HERD_DIGEST_H
#define HERD_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "siphash.h"

#define DIGEST_LEAF_BITS 16
#define DIGEST_LEAVES (1u << DIGEST_LEAF_BITS)
#define DIGEST_STEP_BITS 4                   /* a node has 16 children */
#define DIGEST_FANOUT (1u << DIGEST_STEP_BITS)
#define DIGEST_HASH_HEX 12                   /* a node's hash on the wire: its low 48 bits */
#define DIGEST_HASH_MASK ((UINT64_C(1) << (4 * DIGEST_HASH_HEX)) - 1)
#define DIGEST_SUM_HEX 8                     /* a record's sum in a LEAF line: its low half */

struct digest {
	struct siphash_key key;                  /* for the sums of lines */
	uint32_t key_id;                         /* digest_keys' ID, set by the owner */
	uint64_t leaf[DIGEST_LEAVES];
};

/*
 * The keys every node of a herd derives alike: the table's for client IDs, and the sums'.
 * ID names them on the wire (DIGEST-BEGIN) without giving them away, so that two nodes
 * whose keys differ (herd_id set differently, no secret) do not compare digests.
 */
#define DIGEST_KEY_ID_HEX 8
struct digest_keys {
	struct siphash_key table, sum;
	uint32_t id;
};
/*
 * From the herd secret (SECRET_LEN bytes) when there is one, else from HERD_ID (for
 * tests; herdd keeps a random table key and no digest without a secret, since HERD_ID
 * can be known). False if HMAC fails.
 */
bool digest_keys(const unsigned char *secret, size_t secret_len, const char *herd_id,
    struct digest_keys *out);

/* An empty digest summing with KEY; KEY_ID names the keys (digest_keys). */
void digest_init(struct digest *d, const struct siphash_key *key);
/* The sum of an AT line. */
static inline uint64_t digest_sum(const struct digest *d, const char *line, size_t len)
{
	return siphash13(&d->key, line, len);
}
/* The leaf of a client whose ID hashes (in the table) to ID_HASH. */
static inline uint32_t digest_leaf(uint32_t id_hash)
{
	return id_hash & (DIGEST_LEAVES - 1);
}
/* A record in leaf LEAF changed from a line of sum OLD_SUM (0: it is new) to NEW_SUM. */
static inline void digest_change(struct digest *d, uint32_t leaf, uint64_t old_sum,
    uint64_t new_sum)
{
	d->leaf[leaf] ^= old_sum ^ new_sum;
}
/* True when DEPTH is one of the tree's and INDEX one of its nodes. */
bool digest_node_valid(unsigned depth, uint64_t index);
/* The hash of the node at DEPTH, INDEX (valid). */
uint64_t digest_node(const struct digest *d, unsigned depth, uint32_t index);
/* The hashes of the 16 children of the node at DEPTH (below 16), INDEX. */
void digest_children(const struct digest *d, unsigned depth, uint32_t index,
    uint64_t out[DIGEST_FANOUT]);

#endif
