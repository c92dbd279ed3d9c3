/* record.h -- little-endian binary records: the store's formats for events,
 * customer states and transaction records are written and read with these.
 *
 * Integers are 1..8 bytes, little-endian; strings are a 1-byte length then the
 * bytes (no NUL). A reader never reads past its end: any short or malformed
 * read sets r_bad, returns 0 / "", and every later read does the same, so a
 * decoder checks once at the end (ly_rd_done). */
#ifndef LY_RECORD_H
#define LY_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct ly_wr {
    uint8_t *w_p; /* next byte to write; the caller sized the buffer */
} ly_wr;

static inline void ly_wr_int(ly_wr *w, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        *w->w_p++ = (uint8_t)(v >> (8 * i));
}

/* `s` must be at most 255 bytes (every field that uses this is shorter). */
static inline void ly_wr_str(ly_wr *w, const char *s)
{
    size_t n = strlen(s);
    *w->w_p++ = (uint8_t)n;
    memcpy(w->w_p, s, n);
    w->w_p += n;
}

static inline void ly_wr_bytes(ly_wr *w, const void *p, size_t n)
{
    memcpy(w->w_p, p, n);
    w->w_p += n;
}

typedef struct ly_rd {
    const uint8_t *r_p, *r_end;
    int r_bad;
} ly_rd;

static inline uint64_t ly_rd_int(ly_rd *r, int bytes)
{
    if (r->r_bad || r->r_end - r->r_p < bytes) {
        r->r_bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = (v << 8) | r->r_p[i];
    r->r_p += bytes;
    return v;
}

/* Into `dst` of `cap` bytes; a string that does not fit or holds a NUL is bad. */
static inline void ly_rd_str(ly_rd *r, char *dst, size_t cap)
{
    size_t n = (size_t)ly_rd_int(r, 1);
    if (r->r_bad || n >= cap || (size_t)(r->r_end - r->r_p) < n || memchr(r->r_p, '\0', n)) {
        r->r_bad = 1;
        dst[0] = '\0';
        return;
    }
    memcpy(dst, r->r_p, n);
    dst[n] = '\0';
    r->r_p += n;
}

/* `n` bytes into `dst` of `cap` bytes; more than `cap` or past the end is bad. */
static inline void ly_rd_bytes(ly_rd *r, void *dst, size_t cap, size_t n)
{
    if (r->r_bad || n > cap || (size_t)(r->r_end - r->r_p) < n) {
        r->r_bad = 1;
        return;
    }
    memcpy(dst, r->r_p, n);
    r->r_p += n;
}

/* 1 if every read succeeded and the whole record was read. */
static inline int ly_rd_done(const ly_rd *r)
{
    return !r->r_bad && r->r_p == r->r_end;
}

#endif
