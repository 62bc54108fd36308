/* SipHash-2-4: a keyed hash, so clients cannot choose IDs that collide in the table. */
#ifndef HERD_SIPHASH_H
#define HERD_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct siphash_key {
	uint64_t k0, k1;
};

uint64_t siphash24(const struct siphash_key *key, const void *data, size_t len);
/*
 * SipHash-1-3, about twice as fast: the sums of the table digest (digest.h), where
 * a collision only makes one sync miss a difference that the next change repairs.
 */
uint64_t siphash13(const struct siphash_key *key, const void *data, size_t len);

#endif
