/* The table digest: key derivation, and node hashes folded from the leaves. */
#include "digest.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

bool digest_keys(const unsigned char *secret, size_t secret_len, const char *herd_id,
    struct digest_keys *out)
{
	static const char label[] = "herd digest keys v1";
	static const char id_label[] = "herd digest key id v1";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const void *key = secret_len > 0 ? (const void *)secret : (const void *)herd_id;
	size_t keylen = secret_len > 0 ? secret_len : strlen(herd_id);

	if (keylen == 0 || keylen > INT32_MAX ||
	    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)label,
	    sizeof(label) - 1, md, &mdlen) == NULL || mdlen < 32)
		return false;
	memcpy(&out->table.k0, md, 8);
	memcpy(&out->table.k1, md + 8, 8);
	memcpy(&out->sum.k0, md + 16, 8);
	memcpy(&out->sum.k1, md + 24, 8);
	if (HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)id_label,
	    sizeof(id_label) - 1, md, &mdlen) == NULL || mdlen < 4)
		return false;
	out->id = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 | md[3];
	OPENSSL_cleanse(md, sizeof(md));
	return true;
}

void digest_init(struct digest *d, const struct siphash_key *key)
{
	memset(d->leaf, 0, sizeof(d->leaf));
	d->key = *key;
	d->key_id = 0;
}

bool digest_node_valid(unsigned depth, uint64_t index)
{
	return depth <= DIGEST_LEAF_BITS && depth % DIGEST_STEP_BITS == 0 &&
	    index < ((uint64_t)1 << depth);
}

uint64_t digest_node(const struct digest *d, unsigned depth, uint32_t index)
{
	size_t width = (size_t)1 << (DIGEST_LEAF_BITS - depth);
	const uint64_t *leaf = d->leaf + (size_t)index * width;
	uint64_t h = 0;

	for (size_t i = 0; i < width; i++)
		h ^= leaf[i];
	return h;
}

void digest_children(const struct digest *d, unsigned depth, uint32_t index,
    uint64_t out[DIGEST_FANOUT])
{
	for (uint32_t j = 0; j < DIGEST_FANOUT; j++)
		out[j] = digest_node(d, depth + DIGEST_STEP_BITS, index * DIGEST_FANOUT + j);
}
