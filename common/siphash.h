/* SipHash-2-4: a keyed hash, so clients cannot choose IDs that collide in the table. */
#ifndef HERD_SIPHASH_H
#define HERD_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

struct siphash_key {
	uint64_t k0, k1;
};

uint64_t siphash24(const struct siphash_key *key, const void *data, size_t len);

#endif
