#include "common/hash.h"

#include <string.h>

/* The key is arbitrary but fixed for all time: digests are compared across nodes. */
static const uint64_t s_k0 = 0x4c6f79616c2d6b30ULL; /* "Loyal-k0" */
static const uint64_t s_k1 = 0x4c6f79616c2d6b31ULL; /* "Loyal-k1" */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = ROTL(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = ROTL(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = ROTL(v2, 32);                                                                         \
    } while (0)

static uint64_t s_load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t s_siphash(const uint8_t *in, size_t len, uint64_t k0, uint64_t k1)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    uint64_t v3 = 0x7465646279746573ULL ^ k1;
    const uint8_t *end = in + len - (len % 8);
    for (; in != end; in += 8) {
        uint64_t m = s_load64(in);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = ((uint64_t)len) << 56;
    for (size_t i = 0; i < len % 8; i++)
        b |= ((uint64_t)in[i]) << (8 * i);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t ly_hash(const void *data, size_t len)
{
    return s_siphash(data, len, s_k0, s_k1);
}

void ly_hasher_init(ly_hasher *h)
{
    h->hs_len = 0;
    h->hs_overflow = 0;
    h->hs_chain = 0;
}

void ly_hasher_bytes(ly_hasher *h, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        if (h->hs_len == sizeof h->hs_buf) {
            /* Fold the full buffer into the chain value and start again. */
            h->hs_chain = s_siphash(h->hs_buf, h->hs_len, s_k0 ^ h->hs_chain, s_k1);
            h->hs_len = 0;
            h->hs_overflow = 1;
        }
        size_t n = sizeof h->hs_buf - h->hs_len;
        if (n > len)
            n = len;
        memcpy(h->hs_buf + h->hs_len, p, n);
        h->hs_len += n;
        p += n;
        len -= n;
    }
}

void ly_hasher_u64(ly_hasher *h, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    ly_hasher_bytes(h, b, 8);
}

void ly_hasher_str(ly_hasher *h, const char *s)
{
    size_t n = strlen(s);
    ly_hasher_u64(h, n);
    ly_hasher_bytes(h, s, n);
}

uint64_t ly_hasher_final(ly_hasher *h)
{
    uint64_t k0 = h->hs_overflow ? s_k0 ^ h->hs_chain : s_k0;
    return s_siphash(h->hs_buf, h->hs_len, k0, s_k1);
}
