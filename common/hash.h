/* hash.h -- SipHash-2-4, a keyed 64-bit hash with good diffusion.
 *
 * Used for the state digest and for request fingerprints (idempotency). The
 * key is fixed: the values must be equal on every node of a chain. */
#ifndef LY_HASH_H
#define LY_HASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of `len` bytes at `data` under the fixed Loyal key. */
uint64_t ly_hash(const void *data, size_t len);

/* Incremental hashing of several fields: feed them, then finish. Each field is
 * length-delimited, so ("ab","c") and ("a","bc") differ. */
typedef struct ly_hasher {
    uint8_t hs_buf[4096];
    size_t hs_len;
    int hs_overflow; /* more than 4096 bytes fed: the tail is folded in by chaining */
    uint64_t hs_chain;
} ly_hasher;

void ly_hasher_init(ly_hasher *h);
void ly_hasher_bytes(ly_hasher *h, const void *data, size_t len);
void ly_hasher_str(ly_hasher *h, const char *s);
void ly_hasher_u64(ly_hasher *h, uint64_t v);
uint64_t ly_hasher_final(ly_hasher *h);

#endif
