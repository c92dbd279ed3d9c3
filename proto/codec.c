/* codec.c -- msgpack encoding and decoding of client messages (see codec.h).
 *
 * Encoding uses msgpack-c's packer into an msgpack_sbuffer. Decoding does not use
 * msgpack-c's unpacker: a frame is first pre-scanned without allocating (every
 * header read with bounds checks, reserved byte 0xc1 refused, declared lengths
 * and element counts checked against the bytes left, nesting bounded by
 * S_DEPTH_MAX, exactly one object and no trailing bytes), then a small reader
 * walks the validated bytes and copies what it needs into the structs.
 *
 * Messages are described by field tables (s_field): the same table drives the
 * decoder, the encoder and the validation both share (s_check_fields), so a
 * value the decoder refuses is also a value the encoder refuses. */
#include "proto/codec.h"

#include <msgpack.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_DEPTH_MAX 8 /* container nesting; the deepest message (status) needs 4 */

/* ------------------------------------------------------------------------ */
/* Reasons                                                                   */

typedef struct s_why {
    char *w_buf; /* may be NULL */
    size_t w_len;
    char w_where[48]; /* path of the map being read or written ("history[3]"), "" at the top */
} s_why;

/* Writes "[where: ][field 'name': ]message" into the reason buffer; returns rc. */
__attribute__((format(printf, 4, 5))) static ly_err s_fail(s_why *w, ly_err rc, const char *field,
                                                           const char *fmt, ...)
{
    if (w == NULL || w->w_buf == NULL || w->w_len == 0)
        return rc;
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *sep = w->w_where[0] ? ": " : "";
    if (field != NULL)
        snprintf(w->w_buf, w->w_len, "%s%sfield '%s': %s", w->w_where, sep, field, msg);
    else
        snprintf(w->w_buf, w->w_len, "%s%s%s", w->w_where, sep, msg);
    return rc;
}

/* Enters a nested map for reasons; the previous path is saved into `saved`. */
static void s_where_push(s_why *w, char *saved, const char *name, long index)
{
    memcpy(saved, w->w_where, sizeof w->w_where);
    const char *dot = saved[0] ? "." : "";
    int n;
    if (index >= 0)
        n = snprintf(w->w_where, sizeof w->w_where, "%s%s%s[%ld]", saved, dot, name, index);
    else
        n = snprintf(w->w_where, sizeof w->w_where, "%s%s%s", saved, dot, name);
    if (n < 0)
        w->w_where[0] = '\0';
}

static void s_where_pop(s_why *w, const char *saved)
{
    memcpy(w->w_where, saved, sizeof w->w_where);
}

/* ------------------------------------------------------------------------ */
/* Reader                                                                    */

enum s_otype { S_NIL, S_BOOL, S_UINT, S_NEG, S_FLOAT, S_STR, S_BIN, S_EXT, S_ARRAY, S_MAP };

static const char *const s_otype_names[] = {
    [S_NIL] = "nil",         [S_BOOL] = "a boolean",   [S_UINT] = "an integer",
    [S_NEG] = "an integer",  [S_FLOAT] = "a float",    [S_STR] = "a string",
    [S_BIN] = "binary data", [S_EXT] = "an extension", [S_ARRAY] = "an array",
    [S_MAP] = "a map",
};

typedef struct s_obj {
    int o_type;
    uint64_t o_u;         /* UINT: value; BOOL: 0/1; STR/BIN/EXT: bytes; ARRAY/MAP: elements */
    int64_t o_i;          /* NEG: value (< 0) */
    const uint8_t *o_ptr; /* STR/BIN/EXT: payload, inside the frame */
} s_obj;

typedef struct s_rd {
    const uint8_t *r_buf;
    size_t r_len;
    size_t r_pos;
} s_rd;

enum { S_HEAD_OK = 0, S_HEAD_TRUNC, S_HEAD_C1, S_HEAD_TOOLONG };

static uint64_t s_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Reads the header of one object at the cursor. Scalars and the payloads of
 * str/bin/ext are consumed whole; for an array or map the cursor stops at the
 * first element. Checks bounds: a length or element count larger than the bytes
 * left is S_HEAD_TOOLONG (every element takes at least one byte). */
static int s_head(s_rd *r, s_obj *o)
{
    memset(o, 0, sizeof *o);
    if (r->r_pos >= r->r_len)
        return S_HEAD_TRUNC;
    const uint8_t b = r->r_buf[r->r_pos++];
    size_t left = r->r_len - r->r_pos;
    size_t lenbytes = 0; /* str/bin/ext/array/map: bytes of the length field */
    size_t fixed = 0;    /* fixext: payload bytes */
    int ext = 0;         /* 1: an ext type byte precedes the payload */
    int sign = 0;

    if (b <= 0x7f) {
        o->o_type = S_UINT;
        o->o_u = b;
        return S_HEAD_OK;
    }
    if (b >= 0xe0) {
        o->o_type = S_NEG;
        o->o_i = (int8_t)b;
        return S_HEAD_OK;
    }
    if (b <= 0x8f) {
        o->o_type = S_MAP;
        o->o_u = b & 0x0f;
        goto container;
    }
    if (b <= 0x9f) {
        o->o_type = S_ARRAY;
        o->o_u = b & 0x0f;
        goto container;
    }
    if (b <= 0xbf) {
        o->o_type = S_STR;
        o->o_u = b & 0x1f;
        goto payload;
    }
    switch (b) {
    case 0xc0:
        o->o_type = S_NIL;
        return S_HEAD_OK;
    case 0xc1:
        return S_HEAD_C1;
    case 0xc2:
    case 0xc3:
        o->o_type = S_BOOL;
        o->o_u = b == 0xc3;
        return S_HEAD_OK;
    case 0xc4:
    case 0xc5:
    case 0xc6:
        o->o_type = S_BIN;
        lenbytes = (size_t)1 << (b - 0xc4);
        break;
    case 0xc7:
    case 0xc8:
    case 0xc9:
        o->o_type = S_EXT;
        lenbytes = (size_t)1 << (b - 0xc7);
        ext = 1;
        break;
    case 0xca:
    case 0xcb:
        o->o_type = S_FLOAT;
        fixed = b == 0xca ? 4 : 8;
        if (left < fixed)
            return S_HEAD_TRUNC;
        r->r_pos += fixed;
        return S_HEAD_OK;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
        sign = b >= 0xd0;
        size_t n = (size_t)1 << ((b - 0xcc) & 3);
        if (left < n)
            return S_HEAD_TRUNC;
        uint64_t u = s_be(r->r_buf + r->r_pos, n);
        r->r_pos += n;
        if (sign && n < 8 && (u >> (8 * n - 1)))
            u |= UINT64_MAX << (8 * n); /* sign-extend */
        if (sign && (int64_t)u < 0) {
            o->o_type = S_NEG;
            o->o_i = (int64_t)u;
        } else {
            o->o_type = S_UINT;
            o->o_u = u;
        }
        return S_HEAD_OK;
    }
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        o->o_type = S_EXT;
        fixed = (size_t)1 << (b - 0xd4);
        ext = 1;
        break;
    case 0xd9:
    case 0xda:
    case 0xdb:
        o->o_type = S_STR;
        lenbytes = (size_t)1 << (b - 0xd9);
        break;
    case 0xdc:
    case 0xdd:
        o->o_type = S_ARRAY;
        lenbytes = b == 0xdc ? 2 : 4;
        break;
    case 0xde:
    case 0xdf:
        o->o_type = S_MAP;
        lenbytes = b == 0xde ? 2 : 4;
        break;
    default: /* unreachable: every byte value is covered above */
        return S_HEAD_C1;
    }

    if (lenbytes > 0) {
        if (left < lenbytes)
            return S_HEAD_TRUNC;
        o->o_u = s_be(r->r_buf + r->r_pos, lenbytes);
        r->r_pos += lenbytes;
        left -= lenbytes;
    } else {
        o->o_u = fixed;
    }
    if (o->o_type == S_ARRAY || o->o_type == S_MAP)
        goto container;
    if (ext) {
        if (left < 1)
            return S_HEAD_TRUNC;
        r->r_pos++; /* the ext type byte */
    }
payload:
    left = r->r_len - r->r_pos;
    if (o->o_u > left)
        return S_HEAD_TOOLONG;
    o->o_ptr = r->r_buf + r->r_pos;
    r->r_pos += (size_t)o->o_u;
    return S_HEAD_OK;
container:
    left = r->r_len - r->r_pos;
    if ((o->o_type == S_MAP ? 2 * o->o_u : o->o_u) > left)
        return S_HEAD_TOOLONG;
    return S_HEAD_OK;
}

static uint64_t s_children(const s_obj *o)
{
    if (o->o_type == S_ARRAY)
        return o->o_u;
    if (o->o_type == S_MAP)
        return 2 * o->o_u;
    return 0;
}

/* Skips what follows the header `o` just read (the elements of an array or map).
 * Bounded: every element takes a byte, so the work is at most the frame size. */
static int s_skip_children(s_rd *r, const s_obj *o)
{
    uint64_t pending = s_children(o);
    while (pending > 0) {
        s_obj c;
        if (s_head(r, &c) != S_HEAD_OK)
            return -1;
        pending += s_children(&c) - 1;
    }
    return 0;
}

static int s_skip(s_rd *r)
{
    s_obj o;
    if (s_head(r, &o) != S_HEAD_OK)
        return -1;
    return s_skip_children(r, &o);
}

/* The structural check of a whole frame, before anything else reads it. */
static ly_err s_prescan(const uint8_t *buf, size_t len, s_why *w)
{
    if (len > LY_FRAME_MAX)
        return s_fail(w, LY_ETOOBIG, NULL, "frame of %zu bytes is over the limit of %d", len,
                      LY_FRAME_MAX);
    if (buf == NULL || len == 0)
        return s_fail(w, LY_EPROTO, NULL, "empty frame");
    s_rd r = {buf, len, 0};
    uint64_t left[S_DEPTH_MAX + 1]; /* elements still to read at each level */
    int sp = 0;
    left[0] = 1;
    for (;;) {
        while (sp >= 0 && left[sp] == 0)
            sp--;
        if (sp < 0)
            break;
        left[sp]--;
        size_t at = r.r_pos;
        s_obj o;
        switch (s_head(&r, &o)) {
        case S_HEAD_TRUNC:
            return s_fail(w, LY_EPROTO, NULL, "truncated message at offset %zu", at);
        case S_HEAD_C1:
            return s_fail(w, LY_EPROTO, NULL, "reserved byte 0xc1 at offset %zu", at);
        case S_HEAD_TOOLONG:
            return s_fail(w, LY_EPROTO, NULL,
                          "length or element count at offset %zu is larger than the frame", at);
        default:
            break;
        }
        if (o.o_type == S_ARRAY || o.o_type == S_MAP) {
            if (sp + 1 > S_DEPTH_MAX)
                return s_fail(w, LY_EPROTO, NULL, "nesting deeper than %d levels at offset %zu",
                              S_DEPTH_MAX, at);
            if (s_children(&o) > 0)
                left[++sp] = s_children(&o);
        }
    }
    if (r.r_pos != len)
        return s_fail(w, LY_EPROTO, NULL, "%zu trailing bytes after the message", len - r.r_pos);
    return LY_OK;
}

/* Key bytes as printable text for a reason: ASCII graphic characters kept,
 * anything else shown as '?', at most 32 characters. */
static void s_keyname(char *dst, size_t cap, const uint8_t *p, uint64_t n)
{
    size_t j = 0;
    for (uint64_t i = 0; i < n && j + 4 < cap && i < 32; i++)
        dst[j++] = (p[i] > 0x20 && p[i] < 0x7f && p[i] != '\'') ? (char)p[i] : '?';
    if (n > 32 && j + 4 <= cap) {
        memcpy(dst + j, "...", 3);
        j += 3;
    }
    dst[j] = '\0';
}

static int s_keyeq(const s_obj *k, const char *name)
{
    size_t n = strlen(name);
    return k->o_u == n && memcmp(k->o_ptr, name, n) == 0;
}

/* ------------------------------------------------------------------------ */
/* Field tables                                                              */

enum s_kind {
    K_U,      /* unsigned integer field of f_size bytes, 0..f_hi */
    K_I,      /* signed integer field of f_size bytes, f_lo..f_hi */
    K_BOOL,   /* uint8_t 0/1 */
    K_STR,    /* char[f_cap + 1] */
    K_SPECIAL /* handled by the map's callbacks */
};

enum s_chk {
    C_ANY,    /* any string without NUL (the owner validates it further) */
    C_ID,     /* an id: ly_id_valid, at most f_cap bytes */
    C_IDE,    /* an id or empty */
    C_TEXT,   /* ly_text_valid: UTF-8 without control characters, may be empty */
    C_TEXTNE, /* as C_TEXT, not empty */
    C_DATE    /* YYYY-MM-DD or empty */
};

typedef struct s_field {
    const char *f_name; /* the wire key */
    uint8_t f_kind;     /* s_kind */
    uint8_t f_size;     /* K_U, K_I, K_BOOL: bytes of the C field */
    uint8_t f_chk;      /* K_STR: s_chk */
    uint8_t f_omit;     /* K_STR: the encoder leaves the key out when the string is empty */
    uint16_t f_cap;     /* K_STR: most bytes, NUL excluded */
    uint32_t f_bit;     /* profile fields: the LY_PF_* bit the key stands for */
    size_t f_off;       /* offset in the struct the table describes */
    int64_t f_lo;       /* K_I: least value */
    uint64_t f_hi;      /* K_U, K_I: greatest value */
} s_field;

#define S_MSIZE(T, m) sizeof(((T *)0)->m)
#define F_U(n, T, m)                                                                               \
    {                                                                                              \
        .f_name = n, .f_kind = K_U, .f_size = S_MSIZE(T, m), .f_off = offsetof(T, m),              \
        .f_hi = UINT64_MAX >> (64 - 8 * S_MSIZE(T, m))                                             \
    }
#define F_I(n, T, m)                                                                               \
    {                                                                                              \
        .f_name = n, .f_kind = K_I, .f_size = S_MSIZE(T, m), .f_off = offsetof(T, m),              \
        .f_lo = -(int64_t)(UINT64_MAX >> (65 - 8 * S_MSIZE(T, m))) - 1,                            \
        .f_hi = UINT64_MAX >> (65 - 8 * S_MSIZE(T, m))                                             \
    }
#define F_B(n, T, m)                                                                               \
    {                                                                                              \
        .f_name = n, .f_kind = K_BOOL, .f_size = 1, .f_off = offsetof(T, m), .f_hi = 1             \
    }
#define F_S(n, T, m, chk, omit)                                                                    \
    {                                                                                              \
        .f_name = n, .f_kind = K_STR, .f_chk = chk, .f_omit = omit, .f_cap = S_MSIZE(T, m) - 1,    \
        .f_off = offsetof(T, m)                                                                    \
    }
#define F_P(n, T, m, chk, omit, bit)                                                               \
    {                                                                                              \
        .f_name = n, .f_kind = K_STR, .f_chk = chk, .f_omit = omit, .f_cap = S_MSIZE(T, m) - 1,    \
        .f_off = offsetof(T, m), .f_bit = bit                                                      \
    }
#define F_X(n)                                                                                     \
    {                                                                                              \
        .f_name = n, .f_kind = K_SPECIAL                                                           \
    }
#define S_BIT(fid) (1ULL << (fid))
#define S_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

typedef struct s_dec s_dec;
typedef struct s_enc s_enc;

/* A map described by a table. */
typedef struct s_map {
    const s_field *m_tab;
    int m_n;
    int m_strict; /* unknown keys refused (requests) rather than skipped (replies) */
    /* Optional: narrows the range of an integer field for message type `type`. */
    void (*m_range)(int type, int fid, int64_t *lo, uint64_t *hi, int *nonzero);
    /* K_SPECIAL fields: decode the value whose header is `v`; encode key's value. */
    ly_err (*m_dec)(s_dec *d, int fid, const s_obj *v, void *base);
    ly_err (*m_enc)(s_enc *e, int fid, const void *base);
} s_map;

struct s_dec {
    s_rd d_rd;
    s_why d_w;
    int d_type; /* request type (per-type ranges) */
    int d_ok;   /* reply: value of "ok" */
};

struct s_enc {
    msgpack_sbuffer e_sb;
    msgpack_packer e_pk;
    int e_fail; /* a pack call failed (out of memory) */
    s_why e_w;
    int e_type;
};

static uint64_t s_getu(const void *base, const s_field *f)
{
    const unsigned char *p = (const unsigned char *)base + f->f_off;
    switch (f->f_size) {
    case 1: {
        uint8_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    case 2: {
        uint16_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    default: {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    }
}

static void s_setu(void *base, const s_field *f, uint64_t u)
{
    unsigned char *p = (unsigned char *)base + f->f_off;
    switch (f->f_size) {
    case 1: {
        uint8_t v = (uint8_t)u;
        memcpy(p, &v, sizeof v);
        break;
    }
    case 2: {
        uint16_t v = (uint16_t)u;
        memcpy(p, &v, sizeof v);
        break;
    }
    case 4: {
        uint32_t v = (uint32_t)u;
        memcpy(p, &v, sizeof v);
        break;
    }
    default:
        memcpy(p, &u, sizeof u);
        break;
    }
}

static int64_t s_geti(const void *base, const s_field *f)
{
    const unsigned char *p = (const unsigned char *)base + f->f_off;
    if (f->f_size == 4) {
        int32_t v;
        memcpy(&v, p, sizeof v);
        return v;
    }
    int64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void s_seti(void *base, const s_field *f, int64_t i)
{
    unsigned char *p = (unsigned char *)base + f->f_off;
    if (f->f_size == 4) {
        int32_t v = (int32_t)i;
        memcpy(p, &v, sizeof v);
        return;
    }
    memcpy(p, &i, sizeof i);
}

static void s_range(const s_map *m, int type, int fid, int64_t *lo, uint64_t *hi, int *nonzero)
{
    *lo = m->m_tab[fid].f_lo;
    *hi = m->m_tab[fid].f_hi;
    *nonzero = 0;
    if (m->m_range != NULL)
        m->m_range(type, fid, lo, hi, nonzero);
}

/* ------------------------------------------------------------------------ */
/* Validation shared by the encoders and the decoders                        */

static ly_err s_chk_uint(s_why *w, const char *name, uint64_t v, uint64_t hi)
{
    if (v > hi)
        return s_fail(w, LY_EINVAL, name, "must be 0..%llu", (unsigned long long)hi);
    return LY_OK;
}

static ly_err s_chk_int(s_why *w, const char *name, int64_t v, int64_t lo, int64_t hi, int nonzero)
{
    if (nonzero && (v == 0 || v < lo || v > hi))
        return s_fail(w, LY_EINVAL, name, "must be nonzero and within %lld..%lld", (long long)lo,
                      (long long)hi);
    if (v < lo || v > hi)
        return s_fail(w, LY_EINVAL, name, "must be %lld..%lld", (long long)lo, (long long)hi);
    return LY_OK;
}

static ly_err s_chk_str(s_why *w, const s_field *f, const char *s)
{
    size_t n = strnlen(s, (size_t)f->f_cap + 1);
    if (n > f->f_cap)
        return s_fail(w, LY_EINVAL, f->f_name, "longer than %u bytes", (unsigned)f->f_cap);
    switch (f->f_chk) {
    case C_ID:
    case C_IDE:
        if (n == 0 && f->f_chk == C_IDE)
            return LY_OK;
        if (n == 0)
            return s_fail(w, LY_EINVAL, f->f_name, "must not be empty");
        if (!ly_id_valid(s))
            return s_fail(w, LY_EINVAL, f->f_name, "must be 1..%u bytes of [A-Za-z0-9._:@#/+-]",
                          (unsigned)f->f_cap);
        return LY_OK;
    case C_TEXTNE:
        if (n == 0)
            return s_fail(w, LY_EINVAL, f->f_name, "must not be empty");
        /* fall through */
    case C_TEXT:
        if (!ly_text_valid(s, f->f_cap))
            return s_fail(w, LY_EINVAL, f->f_name, "must be UTF-8 text without control characters");
        return LY_OK;
    case C_DATE:
        if (!ly_date_valid(s))
            return s_fail(w, LY_EINVAL, f->f_name, "must be a date YYYY-MM-DD");
        return LY_OK;
    default:
        return LY_OK;
    }
}

/* Checks the fields of `base` selected by `mask` against the table (string
 * syntax and length, integer ranges for message type `type`); K_SPECIAL fields
 * are checked by their own code. LY_EINVAL names the first bad field. */
static ly_err s_check_fields(s_why *w, const s_map *m, int type, const void *base, uint64_t mask)
{
    for (int fid = 0; fid < m->m_n; fid++) {
        if (!(mask & S_BIT(fid)))
            continue;
        const s_field *f = &m->m_tab[fid];
        int64_t lo;
        uint64_t hi;
        int nonzero;
        ly_err rc = LY_OK;
        switch (f->f_kind) {
        case K_U:
            s_range(m, type, fid, &lo, &hi, &nonzero);
            rc = s_chk_uint(w, f->f_name, s_getu(base, f), hi);
            break;
        case K_I:
            s_range(m, type, fid, &lo, &hi, &nonzero);
            rc = s_chk_int(w, f->f_name, s_geti(base, f), lo, (int64_t)hi, nonzero);
            break;
        case K_BOOL:
            rc = s_chk_uint(w, f->f_name, s_getu(base, f), 1);
            break;
        case K_STR:
            rc = s_chk_str(w, f, (const char *)base + f->f_off);
            break;
        default:
            break;
        }
        if (rc != LY_OK)
            return rc;
    }
    return LY_OK;
}

/* Replaces every byte of `src` that is not part of valid text (see
 * ly_text_valid) by '?'; `dst` has room for strlen(src) + 1 bytes. */
static void s_sanitize(char *dst, const char *src)
{
    const unsigned char *p = (const unsigned char *)src;
    size_t j = 0;
    while (*p) {
        unsigned c = *p;
        size_t extra = 0;
        unsigned cp = 0;
        if (c >= 0x20 && c < 0x7f) {
            dst[j++] = (char)c;
            p++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            extra = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3;
            cp = c & 0x07;
        }
        size_t i = 1;
        for (; extra > 0 && i <= extra; i++) {
            if ((p[i] & 0xc0) != 0x80)
                break;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        int ok = extra > 0 && i > extra && !(extra == 1 && cp < 0x80) &&
                 !(extra == 2 && cp < 0x800) && !(extra == 3 && cp < 0x10000) &&
                 !(cp >= 0xd800 && cp <= 0xdfff) && cp <= 0x10ffff && !(cp >= 0x80 && cp < 0xa0);
        if (ok) {
            memcpy(dst + j, p, extra + 1);
            j += extra + 1;
            p += extra + 1;
        } else {
            dst[j++] = '?';
            p++;
        }
    }
    dst[j] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Generic map decoding and encoding                                         */

static ly_err s_trunc(s_dec *d)
{
    return s_fail(&d->d_w, LY_EPROTO, NULL, "truncated message");
}

static ly_err s_dec_scalar(s_dec *d, const s_map *m, int fid, const s_obj *v, void *base)
{
    const s_field *f = &m->m_tab[fid];
    int64_t lo;
    uint64_t hi;
    int nonzero;
    switch (f->f_kind) {
    case K_U:
        if (v->o_type == S_NEG)
            return s_fail(&d->d_w, LY_EPROTO, f->f_name,
                          "expected an unsigned integer, got a negative one");
        if (v->o_type != S_UINT)
            return s_fail(&d->d_w, LY_EPROTO, f->f_name, "expected an unsigned integer, got %s",
                          s_otype_names[v->o_type]);
        s_range(m, d->d_type, fid, &lo, &hi, &nonzero);
        if (s_chk_uint(&d->d_w, f->f_name, v->o_u, hi) != LY_OK)
            return LY_EINVAL;
        s_setu(base, f, v->o_u);
        return LY_OK;
    case K_I: {
        int64_t i;
        if (v->o_type == S_UINT) {
            if (v->o_u > INT64_MAX)
                return s_fail(&d->d_w, LY_EPROTO, f->f_name,
                              "expected a signed 64-bit integer, got one above INT64_MAX");
            i = (int64_t)v->o_u;
        } else if (v->o_type == S_NEG) {
            i = v->o_i;
        } else {
            return s_fail(&d->d_w, LY_EPROTO, f->f_name, "expected an integer, got %s",
                          s_otype_names[v->o_type]);
        }
        s_range(m, d->d_type, fid, &lo, &hi, &nonzero);
        if (s_chk_int(&d->d_w, f->f_name, i, lo, (int64_t)hi, nonzero) != LY_OK)
            return LY_EINVAL;
        s_seti(base, f, i);
        return LY_OK;
    }
    case K_BOOL:
        if (v->o_type != S_BOOL)
            return s_fail(&d->d_w, LY_EPROTO, f->f_name, "expected a boolean, got %s",
                          s_otype_names[v->o_type]);
        s_setu(base, f, v->o_u);
        return LY_OK;
    case K_STR: {
        if (v->o_type != S_STR)
            return s_fail(&d->d_w, LY_EPROTO, f->f_name, "expected a string, got %s",
                          s_otype_names[v->o_type]);
        if (memchr(v->o_ptr, 0, (size_t)v->o_u) != NULL)
            return s_fail(&d->d_w, LY_EPROTO, f->f_name, "contains a NUL byte");
        if (v->o_u > f->f_cap)
            return s_fail(&d->d_w, LY_EINVAL, f->f_name, "longer than %u bytes",
                          (unsigned)f->f_cap);
        char *dst = (char *)base + f->f_off;
        memcpy(dst, v->o_ptr, (size_t)v->o_u);
        dst[v->o_u] = '\0';
        return LY_OK;
    }
    default:
        return s_fail(&d->d_w, LY_EINTERNAL, f->f_name, "no decoder");
    }
}

/* Decodes the `n` entries of a map (its header already read) into `base`.
 * Keys must be strings; a key of the table outside `allowed`, a duplicate, and
 * (for strict maps) an unknown key are LY_EPROTO. *seen receives the keys read;
 * *fields (may be NULL) gets the f_bit of each key read. The values read are
 * then checked with s_check_fields. */
static ly_err s_dec_map(s_dec *d, const s_map *m, uint64_t n, void *base, uint64_t allowed,
                        uint64_t *seen_out, uint32_t *fields)
{
    uint64_t seen = 0;
    for (uint64_t i = 0; i < n; i++) {
        s_obj k, v;
        if (s_head(&d->d_rd, &k) != S_HEAD_OK)
            return s_trunc(d);
        if (k.o_type != S_STR)
            return s_fail(&d->d_w, LY_EPROTO, NULL, "map key is %s, not a string",
                          s_otype_names[k.o_type]);
        int fid = 0;
        while (fid < m->m_n && !s_keyeq(&k, m->m_tab[fid].f_name))
            fid++;
        if (fid == m->m_n) {
            if (m->m_strict) {
                char name[40];
                s_keyname(name, sizeof name, k.o_ptr, k.o_u);
                return s_fail(&d->d_w, LY_EPROTO, name, "unknown field");
            }
            if (s_skip(&d->d_rd) != 0)
                return s_trunc(d);
            continue;
        }
        const s_field *f = &m->m_tab[fid];
        if (!(allowed & S_BIT(fid))) {
            const char *tn = ly_msgtype_name(d->d_type);
            return s_fail(&d->d_w, LY_EPROTO, f->f_name, "not allowed in %s%s%s",
                          tn ? "'" : "this message", tn ? tn : "", tn ? "'" : "");
        }
        if (seen & S_BIT(fid))
            return s_fail(&d->d_w, LY_EPROTO, f->f_name, "duplicate");
        seen |= S_BIT(fid);
        if (s_head(&d->d_rd, &v) != S_HEAD_OK)
            return s_trunc(d);
        ly_err rc;
        if (f->f_kind == K_SPECIAL)
            rc = m->m_dec(d, fid, &v, base);
        else
            rc = s_dec_scalar(d, m, fid, &v, base);
        if (rc != LY_OK)
            return rc;
        if (fields != NULL)
            *fields |= f->f_bit;
    }
    if (seen_out != NULL)
        *seen_out = seen;
    return s_check_fields(&d->d_w, m, d->d_type, base, seen);
}

/* Reads a nested map's header into `v` (already read) and decodes it with `m`. */
static ly_err s_dec_submap(s_dec *d, const s_map *m, const s_obj *v, const char *name, long index,
                           void *base, uint64_t *seen, uint32_t *fields)
{
    if (v->o_type != S_MAP)
        return s_fail(&d->d_w, LY_EPROTO, name, "expected a map, got %s", s_otype_names[v->o_type]);
    char saved[sizeof d->d_w.w_where];
    s_where_push(&d->d_w, saved, name, index);
    ly_err rc = s_dec_map(d, m, v->o_u, base, UINT64_MAX, seen, fields);
    s_where_pop(&d->d_w, saved);
    return rc;
}

static void s_pack_str(s_enc *e, const char *s, size_t n)
{
    e->e_fail |= msgpack_pack_str(&e->e_pk, n);
    e->e_fail |= msgpack_pack_str_body(&e->e_pk, s, n);
}

static void s_pack_key(s_enc *e, const char *key)
{
    s_pack_str(e, key, strlen(key));
}

/* Fields of `base` selected by `all` that the encoder writes: f_omit strings
 * are left out when empty. */
static uint64_t s_enc_mask(const s_map *m, const void *base, uint64_t all)
{
    uint64_t mask = 0;
    for (int fid = 0; fid < m->m_n; fid++) {
        if (!(all & S_BIT(fid)))
            continue;
        const s_field *f = &m->m_tab[fid];
        if (f->f_kind == K_STR && f->f_omit && ((const char *)base + f->f_off)[0] == '\0')
            continue;
        mask |= S_BIT(fid);
    }
    return mask;
}

/* Checks then writes the fields of `base` selected by `mask`, as one map. */
static ly_err s_enc_map(s_enc *e, const s_map *m, const void *base, uint64_t mask)
{
    ly_err rc = s_check_fields(&e->e_w, m, e->e_type, base, mask);
    if (rc != LY_OK)
        return rc;
    e->e_fail |= msgpack_pack_map(&e->e_pk, (size_t)__builtin_popcountll(mask));
    for (int fid = 0; fid < m->m_n; fid++) {
        if (!(mask & S_BIT(fid)))
            continue;
        const s_field *f = &m->m_tab[fid];
        s_pack_key(e, f->f_name);
        switch (f->f_kind) {
        case K_U:
            e->e_fail |= msgpack_pack_uint64(&e->e_pk, s_getu(base, f));
            break;
        case K_I:
            e->e_fail |= msgpack_pack_int64(&e->e_pk, s_geti(base, f));
            break;
        case K_BOOL:
            e->e_fail |=
                s_getu(base, f) ? msgpack_pack_true(&e->e_pk) : msgpack_pack_false(&e->e_pk);
            break;
        case K_STR: {
            const char *s = (const char *)base + f->f_off;
            s_pack_str(e, s, strlen(s));
            break;
        }
        default:
            rc = m->m_enc(e, fid, base);
            if (rc != LY_OK)
                return rc;
            break;
        }
    }
    return LY_OK;
}

static void s_enc_init(s_enc *e, int type, char *why, size_t why_len)
{
    memset(e, 0, sizeof *e);
    msgpack_sbuffer_init(&e->e_sb);
    msgpack_packer_init(&e->e_pk, &e->e_sb, msgpack_sbuffer_write);
    e->e_w.w_buf = why;
    e->e_w.w_len = why_len;
    e->e_type = type;
}

/* Hands the buffer over on success; frees it otherwise. */
static ly_err s_enc_finish(s_enc *e, ly_err rc, uint8_t **out, size_t *len)
{
    if (rc == LY_OK && e->e_fail)
        rc = LY_ENOMEM;
    if (rc == LY_OK && e->e_sb.size > LY_FRAME_MAX)
        rc = s_fail(&e->e_w, LY_ETOOBIG, NULL,
                    "encoded message of %zu bytes is over the limit of %d", e->e_sb.size,
                    LY_FRAME_MAX);
    if (rc != LY_OK) {
        msgpack_sbuffer_destroy(&e->e_sb);
        return rc;
    }
    *len = e->e_sb.size;
    *out = (uint8_t *)msgpack_sbuffer_release(&e->e_sb);
    return LY_OK;
}

/* Version and type: the first look at a top-level map, before strict decoding,
 * so that a message of another protocol version is reported as LY_EVERSION
 * whatever else it holds. The cursor is left where it was. */
static ly_err s_dec_vt(s_dec *d, uint64_t n, int type_required, int *type)
{
    s_rd save = d->d_rd;
    int has_v = 0, has_t = 0;
    uint64_t version = 0;
    s_obj t = {0};
    for (uint64_t i = 0; i < n; i++) {
        s_obj k, v;
        if (s_head(&d->d_rd, &k) != S_HEAD_OK)
            return s_trunc(d);
        if (k.o_type != S_STR)
            return s_fail(&d->d_w, LY_EPROTO, NULL, "map key is %s, not a string",
                          s_otype_names[k.o_type]);
        int is_v = s_keyeq(&k, "v"), is_t = s_keyeq(&k, "t");
        if (!is_v && !is_t) {
            if (s_skip(&d->d_rd) != 0)
                return s_trunc(d);
            continue;
        }
        if ((is_v && has_v) || (is_t && has_t))
            return s_fail(&d->d_w, LY_EPROTO, is_v ? "v" : "t", "duplicate");
        if (s_head(&d->d_rd, &v) != S_HEAD_OK)
            return s_trunc(d);
        if (is_v) {
            if (v.o_type != S_UINT)
                return s_fail(&d->d_w, LY_EPROTO, "v", "expected an unsigned integer, got %s",
                              v.o_type == S_NEG ? "a negative one" : s_otype_names[v.o_type]);
            has_v = 1;
            version = v.o_u;
        } else {
            if (v.o_type != S_STR)
                return s_fail(&d->d_w, LY_EPROTO, "t", "expected a string, got %s",
                              s_otype_names[v.o_type]);
            has_t = 1;
            t = v;
        }
    }
    d->d_rd = save;
    if (!has_v)
        return s_fail(&d->d_w, LY_EPROTO, "v", "missing");
    if (version != LY_PROTO_VERSION)
        return s_fail(&d->d_w, LY_EVERSION, "v", "protocol version %llu is not supported (only %d)",
                      (unsigned long long)version, LY_PROTO_VERSION);
    *type = 0;
    if (!has_t)
        return type_required ? s_fail(&d->d_w, LY_EPROTO, "t", "missing") : LY_OK;
    char name[16];
    if (t.o_u < sizeof name && memchr(t.o_ptr, 0, (size_t)t.o_u) == NULL) {
        memcpy(name, t.o_ptr, (size_t)t.o_u);
        name[t.o_u] = '\0';
        *type = ly_msgtype_from_name(name);
    }
    if (*type == 0)
        return s_fail(&d->d_w, LY_EPROTO, "t", "unknown message type");
    return LY_OK;
}

/* Checks the frame and reads the header of its top-level map. */
static ly_err s_dec_start(s_dec *d, const uint8_t *buf, size_t len, char *why, size_t why_len,
                          uint64_t *n)
{
    memset(d, 0, sizeof *d);
    d->d_w.w_buf = why;
    d->d_w.w_len = why_len;
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    ly_err rc = s_prescan(buf, len, &d->d_w);
    if (rc != LY_OK)
        return rc;
    d->d_rd = (s_rd){buf, len, 0};
    s_obj top;
    if (s_head(&d->d_rd, &top) != S_HEAD_OK)
        return s_trunc(d);
    if (top.o_type != S_MAP)
        return s_fail(&d->d_w, LY_EPROTO, NULL, "message is %s, not a map",
                      s_otype_names[top.o_type]);
    *n = top.o_u;
    return LY_OK;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                  */

enum {
    RQ_V,
    RQ_T,
    RQ_ID,
    RQ_CUSTOMER,
    RQ_TXN,
    RQ_REF_TXN,
    RQ_CATEGORY,
    RQ_REASON,
    RQ_OPERATOR,
    RQ_AMOUNT,
    RQ_NAME,
    RQ_BIRTHDAY,
    RQ_EMAIL,
    RQ_PHONE,
    RQ_PREFS,
    RQ_LIMIT,
    RQ_ORIGIN,
    RQ_SINCE,
};

static const s_field s_req_tab[] = {
    [RQ_V] = F_X("v"),
    [RQ_T] = F_X("t"),
    [RQ_ID] = F_U("id", ly_req, rq_id),
    [RQ_CUSTOMER] = F_S("customer", ly_req, rq_customer, C_ID, 0),
    [RQ_TXN] = F_S("txn", ly_req, rq_txn, C_ID, 0),
    [RQ_REF_TXN] = F_S("ref_txn", ly_req, rq_ref_txn, C_ID, 0),
    [RQ_CATEGORY] = F_S("category", ly_req, rq_category, C_ID, 0),
    [RQ_REASON] = F_S("reason", ly_req, rq_reason, C_TEXTNE, 0),
    [RQ_OPERATOR] = F_S("operator", ly_req, rq_operator, C_ID, 0),
    [RQ_AMOUNT] = F_I("amount", ly_req, rq_amount),
    [RQ_NAME] = F_P("name", ly_req, rq_profile.pf_name, C_TEXT, 0, LY_PF_NAME),
    [RQ_BIRTHDAY] = F_P("birthday", ly_req, rq_profile.pf_birthday, C_DATE, 0, LY_PF_BIRTHDAY),
    [RQ_EMAIL] = F_P("email", ly_req, rq_profile.pf_email, C_TEXT, 0, LY_PF_EMAIL),
    [RQ_PHONE] = F_P("phone", ly_req, rq_profile.pf_phone, C_TEXT, 0, LY_PF_PHONE),
    [RQ_PREFS] = F_P("prefs", ly_req, rq_profile.pf_prefs, C_TEXT, 0, LY_PF_PREFS),
    [RQ_LIMIT] = F_U("limit", ly_req, rq_limit),
    [RQ_ORIGIN] = F_U("origin", ly_req, rq_origin),
    [RQ_SINCE] = F_U("since", ly_req, rq_since),
};

#define RQ_PROFILE                                                                                 \
    (S_BIT(RQ_NAME) | S_BIT(RQ_BIRTHDAY) | S_BIT(RQ_EMAIL) | S_BIT(RQ_PHONE) | S_BIT(RQ_PREFS))
#define RQ_BASE (S_BIT(RQ_V) | S_BIT(RQ_T) | S_BIT(RQ_ID))

/* Keys each request type requires and accepts besides RQ_BASE. */
static const struct {
    uint64_t required;
    uint64_t optional;
} s_req_rules[LY_MSG_TYPE_MAX + 1] = {
    [LY_MSG_ENROLL] = {S_BIT(RQ_CUSTOMER) | S_BIT(RQ_TXN), RQ_PROFILE},
    [LY_MSG_EARN] = {S_BIT(RQ_CUSTOMER) | S_BIT(RQ_TXN) | S_BIT(RQ_AMOUNT), S_BIT(RQ_CATEGORY)},
    [LY_MSG_REDEEM] = {S_BIT(RQ_CUSTOMER) | S_BIT(RQ_TXN) | S_BIT(RQ_AMOUNT), 0},
    [LY_MSG_REVERSE] = {S_BIT(RQ_TXN) | S_BIT(RQ_REF_TXN), S_BIT(RQ_AMOUNT)},
    [LY_MSG_ADJUST] = {S_BIT(RQ_CUSTOMER) | S_BIT(RQ_TXN) | S_BIT(RQ_AMOUNT) | S_BIT(RQ_REASON) |
                           S_BIT(RQ_OPERATOR),
                       0},
    [LY_MSG_CUSTOMER] = {S_BIT(RQ_CUSTOMER), S_BIT(RQ_LIMIT)},
    [LY_MSG_SET_PROFILE] = {S_BIT(RQ_CUSTOMER) | S_BIT(RQ_TXN), RQ_PROFILE},
    [LY_MSG_STATUS] = {0, 0},
    [LY_MSG_EVENTS] = {0, S_BIT(RQ_ORIGIN) | S_BIT(RQ_SINCE) | S_BIT(RQ_LIMIT)},
};

static void s_req_range(int type, int fid, int64_t *lo, uint64_t *hi, int *nonzero)
{
    if (fid == RQ_AMOUNT) {
        *lo = type == LY_MSG_REVERSE ? 0 : type == LY_MSG_ADJUST ? -LY_AMOUNT_MAX : 1;
        *hi = LY_AMOUNT_MAX;
        *nonzero = type == LY_MSG_ADJUST;
    } else if (fid == RQ_LIMIT) {
        *hi = type == LY_MSG_EVENTS ? LY_EVENTS_MAX : LY_HIST_MAX;
    }
}

static ly_err s_req_special_dec(s_dec *d, int fid, const s_obj *v, void *base)
{
    /* "v" and "t" were read by s_dec_vt: scalars of the right type. */
    (void)d, (void)fid, (void)v, (void)base;
    return LY_OK;
}

static ly_err s_req_special_enc(s_enc *e, int fid, const void *base)
{
    const ly_req *rq = base;
    if (fid == RQ_V) {
        e->e_fail |= msgpack_pack_uint64(&e->e_pk, LY_PROTO_VERSION);
    } else {
        const char *name = ly_msgtype_name(rq->rq_type);
        s_pack_str(e, name, strlen(name));
    }
    return LY_OK;
}

static const s_map s_req_map = {s_req_tab,   S_COUNT(s_req_tab), 1,
                                s_req_range, s_req_special_dec,  s_req_special_enc};

/* The keys an encoder writes for `rq`, after checking what the table cannot. */
static ly_err s_req_mask(s_why *w, const ly_req *rq, uint64_t *mask)
{
    int type = rq->rq_type;
    if (ly_msgtype_name(type) == NULL)
        return s_fail(w, LY_EINVAL, "t", "unknown message type %d", type);
    uint64_t allowed = s_req_rules[type].optional;
    uint64_t m = RQ_BASE | s_req_rules[type].required;
    if (allowed & RQ_PROFILE) {
        if (rq->rq_fields & ~(uint32_t)LY_PF_ALL)
            return s_fail(w, LY_EINVAL, "fields", "unknown profile field bits 0x%x",
                          (unsigned)rq->rq_fields);
        if (type == LY_MSG_SET_PROFILE && rq->rq_fields == 0)
            return s_fail(w, LY_EINVAL, NULL,
                          "set-profile: at least one profile field is required");
        for (int fid = RQ_NAME; fid <= RQ_PREFS; fid++)
            if (rq->rq_fields & s_req_tab[fid].f_bit)
                m |= S_BIT(fid);
    }
    if ((allowed & S_BIT(RQ_CATEGORY)) && rq->rq_category[0] != '\0')
        m |= S_BIT(RQ_CATEGORY);
    if ((allowed & S_BIT(RQ_AMOUNT)) && rq->rq_amount != 0)
        m |= S_BIT(RQ_AMOUNT);
    if ((allowed & S_BIT(RQ_LIMIT)) && rq->rq_limit != 0)
        m |= S_BIT(RQ_LIMIT);
    if ((allowed & S_BIT(RQ_ORIGIN)) && rq->rq_origin != 0)
        m |= S_BIT(RQ_ORIGIN);
    if ((allowed & S_BIT(RQ_SINCE)) && rq->rq_since != 0)
        m |= S_BIT(RQ_SINCE);
    *mask = m;
    return s_check_fields(w, &s_req_map, type, rq, m);
}

ly_err ly_req_check(const ly_req *rq, char *why, size_t why_len)
{
    s_why w = {why, why_len, ""};
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    if (rq == NULL)
        return s_fail(&w, LY_EINVAL, NULL, "no request");
    uint64_t mask = 0;
    return s_req_mask(&w, rq, &mask);
}

ly_err ly_req_encode(const ly_req *rq, uint8_t **out, size_t *len)
{
    if (rq == NULL || out == NULL || len == NULL)
        return LY_EINVAL;
    s_enc e;
    s_enc_init(&e, rq->rq_type, NULL, 0);
    uint64_t mask = 0;
    ly_err rc = s_req_mask(&e.e_w, rq, &mask);
    if (rc == LY_OK)
        rc = s_enc_map(&e, &s_req_map, rq, mask);
    return s_enc_finish(&e, rc, out, len);
}

ly_err ly_req_decode(const uint8_t *buf, size_t len, ly_req *rq, char *why, size_t why_len)
{
    s_dec d;
    uint64_t n;
    ly_req_init(rq, 0);
    ly_err rc = s_dec_start(&d, buf, len, why, why_len, &n);
    if (rc != LY_OK)
        return rc;
    int type;
    if ((rc = s_dec_vt(&d, n, 1, &type)) != LY_OK)
        return rc;
    rq->rq_type = (uint8_t)type;
    d.d_type = type;
    uint64_t required = RQ_BASE | s_req_rules[type].required;
    uint64_t seen = 0;
    rc = s_dec_map(&d, &s_req_map, n, rq, required | s_req_rules[type].optional, &seen,
                   &rq->rq_fields);
    if (rc != LY_OK)
        return rc;
    for (int fid = 0; fid < S_COUNT(s_req_tab); fid++)
        if ((required & S_BIT(fid)) && !(seen & S_BIT(fid)))
            return s_fail(&d.d_w, LY_EPROTO, s_req_tab[fid].f_name, "missing");
    if (type == LY_MSG_SET_PROFILE && !(seen & RQ_PROFILE))
        return s_fail(&d.d_w, LY_EPROTO, NULL,
                      "set-profile: at least one profile field is required");
    return LY_OK;
}

uint64_t ly_req_peek_id(const uint8_t *buf, size_t len)
{
    s_dec d;
    uint64_t n;
    if (s_dec_start(&d, buf, len, NULL, 0, &n) != LY_OK)
        return 0;
    for (uint64_t i = 0; i < n; i++) {
        s_obj k, v;
        if (s_head(&d.d_rd, &k) != S_HEAD_OK)
            return 0;
        if (k.o_type == S_STR && s_keyeq(&k, "id")) {
            if (s_head(&d.d_rd, &v) != S_HEAD_OK || v.o_type != S_UINT)
                return 0;
            return v.o_u;
        }
        if (s_skip_children(&d.d_rd, &k) != 0 || s_skip(&d.d_rd) != 0)
            return 0;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Replies: nested maps                                                      */

static const s_field s_prof_tab[] = {
    F_P("name", ly_profile, pf_name, C_TEXT, 0, LY_PF_NAME),
    F_P("birthday", ly_profile, pf_birthday, C_DATE, 0, LY_PF_BIRTHDAY),
    F_P("email", ly_profile, pf_email, C_TEXT, 0, LY_PF_EMAIL),
    F_P("phone", ly_profile, pf_phone, C_TEXT, 0, LY_PF_PHONE),
    F_P("prefs", ly_profile, pf_prefs, C_TEXT, 0, LY_PF_PREFS),
};
static const s_map s_prof_map = {s_prof_tab, S_COUNT(s_prof_tab), 0, NULL, NULL, NULL};

enum { HI_TYPE = 1 };
static const s_field s_hist_tab[] = {
    F_U("hlc", ly_hist, hi_hlc),
    [HI_TYPE] = F_X("type"),
    F_U("origin", ly_hist, hi_origin),
    F_I("points", ly_hist, hi_points),
    F_I("amount", ly_hist, hi_amount),
    F_S("txn", ly_hist, hi_txn, C_IDE, 1),
    F_S("ref_txn", ly_hist, hi_ref_txn, C_IDE, 1),
    F_S("category", ly_hist, hi_category, C_IDE, 1),
    F_S("reason", ly_hist, hi_reason, C_TEXT, 1),
    F_S("operator", ly_hist, hi_operator, C_IDE, 1),
    F_S("tier_from", ly_hist, hi_tier_from, C_TEXT, 1),
    F_S("tier_to", ly_hist, hi_tier_to, C_TEXT, 1),
};

/* The event type whose ly_evtype_name is the `n` bytes at `p`, or 0. */
static int s_evtype_from(const uint8_t *p, uint64_t n)
{
    for (int t = 1; t <= UINT8_MAX; t++) {
        const char *name = ly_evtype_name(t);
        if (strcmp(name, "?") != 0 && strlen(name) == n && memcmp(name, p, (size_t)n) == 0)
            return t;
    }
    return 0;
}

static ly_err s_hist_dec(s_dec *d, int fid, const s_obj *v, void *base)
{
    ly_hist *hi = base;
    (void)fid;
    if (v->o_type != S_STR)
        return s_fail(&d->d_w, LY_EPROTO, "type", "expected a string, got %s",
                      s_otype_names[v->o_type]);
    int t = s_evtype_from(v->o_ptr, v->o_u);
    if (t == 0)
        return s_fail(&d->d_w, LY_EPROTO, "type", "unknown event type");
    hi->hi_type = (uint8_t)t;
    return LY_OK;
}

static ly_err s_hist_enc(s_enc *e, int fid, const void *base)
{
    const ly_hist *hi = base;
    (void)fid;
    const char *name = ly_evtype_name(hi->hi_type);
    if (strcmp(name, "?") == 0)
        return s_fail(&e->e_w, LY_EINVAL, "type", "unknown event type %d", hi->hi_type);
    s_pack_str(e, name, strlen(name));
    return LY_OK;
}

static const s_map s_hist_map = {s_hist_tab, S_COUNT(s_hist_tab), 0, NULL, s_hist_dec, s_hist_enc};

typedef __typeof__(((ly_node_status *)0)->ns_vv[0]) s_vv;
static const s_field s_vv_tab[] = {
    F_U("origin", s_vv, origin),
    F_U("incarnation", s_vv, incarnation),
    F_U("seq", s_vv, seq),
};
static const s_map s_vv_map = {s_vv_tab, S_COUNT(s_vv_tab), 0, NULL, NULL, NULL};

enum { NS_VV = 11 };
static const s_field s_node_tab[] = {
    F_U("id", ly_node_status, ns_id),
    F_S("name", ly_node_status, ns_name, C_TEXT, 0),
    F_U("incarnation", ly_node_status, ns_incarnation),
    F_U("program", ly_node_status, ns_program),
    F_U("events", ly_node_status, ns_events),
    F_U("customers", ly_node_status, ns_customers),
    F_U("digest", ly_node_status, ns_digest),
    F_U("hlc", ly_node_status, ns_hlc),
    F_U("uptime_ms", ly_node_status, ns_uptime_ms),
    F_U("map_size", ly_node_status, ns_map_size),
    F_U("map_used", ly_node_status, ns_map_used),
    [NS_VV] = F_X("vv"),
};

static ly_err s_node_dec(s_dec *d, int fid, const s_obj *v, void *base)
{
    ly_node_status *ns = base;
    (void)fid;
    if (v->o_type != S_ARRAY)
        return s_fail(&d->d_w, LY_EPROTO, "vv", "expected an array, got %s",
                      s_otype_names[v->o_type]);
    if (v->o_u > LY_VV_MAX)
        return s_fail(&d->d_w, LY_EPROTO, "vv", "more than %d entries", LY_VV_MAX);
    ns->ns_nvv = (uint32_t)v->o_u;
    for (uint32_t i = 0; i < ns->ns_nvv; i++) {
        s_obj el;
        if (s_head(&d->d_rd, &el) != S_HEAD_OK)
            return s_trunc(d);
        ly_err rc = s_dec_submap(d, &s_vv_map, &el, "vv", (long)i, &ns->ns_vv[i], NULL, NULL);
        if (rc != LY_OK)
            return rc;
    }
    return LY_OK;
}

static ly_err s_node_enc(s_enc *e, int fid, const void *base)
{
    const ly_node_status *ns = base;
    (void)fid;
    if (ns->ns_nvv > LY_VV_MAX)
        return s_fail(&e->e_w, LY_EINVAL, "vv", "more than %d entries", LY_VV_MAX);
    e->e_fail |= msgpack_pack_array(&e->e_pk, ns->ns_nvv);
    for (uint32_t i = 0; i < ns->ns_nvv; i++) {
        ly_err rc = s_enc_map(e, &s_vv_map, &ns->ns_vv[i], S_BIT(S_COUNT(s_vv_tab)) - 1);
        if (rc != LY_OK)
            return rc;
    }
    return LY_OK;
}

static const s_map s_node_map = {s_node_tab, S_COUNT(s_node_tab), 0, NULL, s_node_dec, s_node_enc};

/* Events: every field of ly_event; strings omitted when empty. Checked as a
 * whole with ly_event_validate. */
static const s_field s_event_tab[] = {
    F_U("origin", ly_event, ev_origin),
    F_U("incarnation", ly_event, ev_incarnation),
    F_U("seq", ly_event, ev_seq),
    F_U("hlc", ly_event, ev_hlc),
    F_U("type", ly_event, ev_type),
    F_U("ref_type", ly_event, ev_ref_type),
    F_U("tier_from", ly_event, ev_tier_from),
    F_U("tier_to", ly_event, ev_tier_to),
    F_U("program", ly_event, ev_program),
    F_U("fields", ly_event, ev_fields),
    F_I("qual_day", ly_event, ev_qual_day),
    F_I("amount", ly_event, ev_amount),
    F_I("points", ly_event, ev_points),
    F_I("qual", ly_event, ev_qual),
    F_U("req_hash", ly_event, ev_req_hash),
    F_S("customer", ly_event, ev_customer, C_ANY, 1),
    F_S("txn", ly_event, ev_txn, C_ANY, 1),
    F_S("ref_txn", ly_event, ev_ref_txn, C_ANY, 1),
    F_S("category", ly_event, ev_category, C_ANY, 1),
    F_S("reason", ly_event, ev_reason, C_ANY, 1),
    F_S("operator", ly_event, ev_operator, C_ANY, 1),
    F_S("name", ly_event, ev_profile.pf_name, C_ANY, 1),
    F_S("birthday", ly_event, ev_profile.pf_birthday, C_ANY, 1),
    F_S("email", ly_event, ev_profile.pf_email, C_ANY, 1),
    F_S("phone", ly_event, ev_profile.pf_phone, C_ANY, 1),
    F_S("prefs", ly_event, ev_profile.pf_prefs, C_ANY, 1),
};
static const s_map s_event_map = {s_event_tab, S_COUNT(s_event_tab), 0, NULL, NULL, NULL};

/* ------------------------------------------------------------------------ */
/* Replies: the top level                                                    */

enum {
    RP_V,
    RP_T,
    RP_ID,
    RP_OK,
    RP_ERROR,
    RP_CUSTOMER,
    RP_TXN,
    RP_POINTS,
    RP_BALANCE,
    RP_LIFETIME,
    RP_DEBT,
    RP_QUALIFYING,
    RP_TIER,
    RP_NEXT_TIER,
    RP_TO_NEXT,
    RP_REPLAYED,
    RP_HLC,
    RP_ORIGIN,
    RP_SEQ,
    RP_ENROLLED,
    RP_LAST,
    RP_PROFILE,
    RP_HISTORY,
    RP_NODE,
    RP_EVENTS,
};

static const s_field s_rep_tab[] = {
    [RP_V] = F_X("v"),
    [RP_T] = F_X("t"),
    [RP_ID] = F_U("id", ly_rep, rp_id),
    [RP_OK] = F_X("ok"),
    [RP_ERROR] = F_X("error"),
    [RP_CUSTOMER] = F_S("customer", ly_rep, rp_customer, C_IDE, 0),
    [RP_TXN] = F_S("txn", ly_rep, rp_txn, C_IDE, 0),
    [RP_POINTS] = F_I("points", ly_rep, rp_points),
    [RP_BALANCE] = F_I("balance", ly_rep, rp_balance),
    [RP_LIFETIME] = F_I("lifetime_points", ly_rep, rp_lifetime),
    [RP_DEBT] = F_I("debt", ly_rep, rp_debt),
    [RP_QUALIFYING] = F_I("qualifying", ly_rep, rp_qualifying),
    [RP_TIER] = F_S("tier", ly_rep, rp_tier, C_TEXT, 0),
    [RP_NEXT_TIER] = F_S("next_tier", ly_rep, rp_next_tier, C_TEXT, 1),
    [RP_TO_NEXT] = F_I("to_next_tier", ly_rep, rp_to_next),
    [RP_REPLAYED] = F_B("replayed", ly_rep, rp_replayed),
    [RP_HLC] = F_U("hlc", ly_rep, rp_hlc),
    [RP_ORIGIN] = F_U("origin", ly_rep, rp_origin),
    [RP_SEQ] = F_U("seq", ly_rep, rp_seq),
    [RP_ENROLLED] = F_U("enrolled_hlc", ly_rep, rp_enrolled_hlc),
    [RP_LAST] = F_U("last_hlc", ly_rep, rp_last_hlc),
    [RP_PROFILE] = F_X("profile"),
    [RP_HISTORY] = F_X("history"),
    [RP_NODE] = F_X("node"),
    [RP_EVENTS] = F_X("events"),
};

enum { ER_CODE, ER_MESSAGE, ER_AVAILABLE };
static const s_field s_err_tab[] = {
    [ER_CODE] = F_X("code"),
    [ER_MESSAGE] = F_S("message", ly_rep, rp_message, C_TEXT, 0),
    [ER_AVAILABLE] = F_I("available", ly_rep, rp_available),
};

static ly_err s_err_dec(s_dec *d, int fid, const s_obj *v, void *base)
{
    ly_rep *rp = base;
    (void)fid;
    char name[32];
    if (v->o_type != S_STR)
        return s_fail(&d->d_w, LY_EPROTO, "code", "expected a string, got %s",
                      s_otype_names[v->o_type]);
    if (v->o_u >= sizeof name || memchr(v->o_ptr, 0, (size_t)v->o_u) != NULL)
        return s_fail(&d->d_w, LY_EPROTO, "code", "not an error name");
    memcpy(name, v->o_ptr, (size_t)v->o_u);
    name[v->o_u] = '\0';
    /* An error this side does not know (a newer node) reads as internal_error. */
    ly_err err = ly_err_from_name(name);
    if (err == LY_OK)
        return s_fail(&d->d_w, LY_EPROTO, "code", "'ok' is not an error");
    rp->rp_err = (uint8_t)err;
    return LY_OK;
}

static const s_map s_err_map = {s_err_tab, S_COUNT(s_err_tab), 0, NULL, s_err_dec, NULL};

static ly_err s_rep_dec(s_dec *d, int fid, const s_obj *v, void *base)
{
    ly_rep *rp = base;
    ly_err rc;
    switch (fid) {
    case RP_OK:
        if (v->o_type != S_BOOL)
            return s_fail(&d->d_w, LY_EPROTO, "ok", "expected a boolean, got %s",
                          s_otype_names[v->o_type]);
        d->d_ok = (int)v->o_u;
        return LY_OK;
    case RP_ERROR: {
        uint64_t seen = 0;
        if ((rc = s_dec_submap(d, &s_err_map, v, "error", -1, rp, &seen, NULL)) != LY_OK)
            return rc;
        if (!(seen & S_BIT(ER_CODE)))
            return s_fail(&d->d_w, LY_EPROTO, "error.code", "missing");
        if (rp->rp_message[0] == '\0')
            snprintf(rp->rp_message, sizeof rp->rp_message, "%s", ly_strerror(rp->rp_err));
        return LY_OK;
    }
    case RP_PROFILE:
        return s_dec_submap(d, &s_prof_map, v, "profile", -1, &rp->rp_profile, NULL,
                            &rp->rp_fields);
    case RP_NODE:
        return s_dec_submap(d, &s_node_map, v, "node", -1, &rp->rp_status, NULL, NULL);
    case RP_HISTORY:
        if (v->o_type != S_ARRAY)
            return s_fail(&d->d_w, LY_EPROTO, "history", "expected an array, got %s",
                          s_otype_names[v->o_type]);
        if (v->o_u > LY_HIST_MAX)
            return s_fail(&d->d_w, LY_EPROTO, "history", "more than %d entries", LY_HIST_MAX);
        rp->rp_nhist = (uint32_t)v->o_u;
        for (uint32_t i = 0; i < rp->rp_nhist; i++) {
            s_obj el;
            uint64_t seen = 0;
            if (s_head(&d->d_rd, &el) != S_HEAD_OK)
                return s_trunc(d);
            rc =
                s_dec_submap(d, &s_hist_map, &el, "history", (long)i, &rp->rp_hist[i], &seen, NULL);
            if (rc != LY_OK)
                return rc;
            if (!(seen & S_BIT(HI_TYPE)))
                return s_fail(&d->d_w, LY_EPROTO, "history.type", "missing");
        }
        return LY_OK;
    case RP_EVENTS:
        if (v->o_type != S_ARRAY)
            return s_fail(&d->d_w, LY_EPROTO, "events", "expected an array, got %s",
                          s_otype_names[v->o_type]);
        if (v->o_u > LY_EVENTS_MAX)
            return s_fail(&d->d_w, LY_EPROTO, "events", "more than %d entries", LY_EVENTS_MAX);
        if (v->o_u == 0)
            return LY_OK;
        /* At most LY_EVENTS_MAX, and no more than the elements the frame holds. */
        rp->rp_events = calloc((size_t)v->o_u, sizeof *rp->rp_events);
        if (rp->rp_events == NULL)
            return s_fail(&d->d_w, LY_ENOMEM, "events", "out of memory");
        rp->rp_nevents = (uint32_t)v->o_u;
        for (uint32_t i = 0; i < rp->rp_nevents; i++) {
            s_obj el;
            if (s_head(&d->d_rd, &el) != S_HEAD_OK)
                return s_trunc(d);
            rc = s_dec_submap(d, &s_event_map, &el, "events", (long)i, &rp->rp_events[i], NULL,
                              NULL);
            if (rc != LY_OK)
                return rc;
            if (ly_event_validate(&rp->rp_events[i]) != LY_OK)
                return s_fail(&d->d_w, LY_EPROTO, NULL, "events[%u]: not a valid event", i);
        }
        return LY_OK;
    default: /* "v" and "t": read by s_dec_vt */
        return LY_OK;
    }
}

static ly_err s_rep_enc(s_enc *e, int fid, const void *base)
{
    const ly_rep *rp = base;
    ly_err rc;
    char saved[sizeof e->e_w.w_where];
    switch (fid) {
    case RP_V:
        e->e_fail |= msgpack_pack_uint64(&e->e_pk, LY_PROTO_VERSION);
        return LY_OK;
    case RP_T: {
        const char *name = ly_msgtype_name(rp->rp_type);
        s_pack_str(e, name, strlen(name));
        return LY_OK;
    }
    case RP_OK:
        e->e_fail |=
            rp->rp_err == LY_OK ? msgpack_pack_true(&e->e_pk) : msgpack_pack_false(&e->e_pk);
        return LY_OK;
    case RP_ERROR: {
        /* The message is human text: sent cleaned rather than refused. */
        char msg[sizeof rp->rp_message];
        size_t n = strnlen(rp->rp_message, sizeof msg - 1);
        memcpy(msg, rp->rp_message, n);
        msg[n] = '\0';
        char clean[sizeof msg];
        s_sanitize(clean, msg);
        if (clean[0] == '\0')
            snprintf(clean, sizeof clean, "%s", ly_strerror((ly_err)rp->rp_err));
        int avail = rp->rp_err == LY_EINSUFFICIENT || rp->rp_available != 0;
        const char *code = ly_errname((ly_err)rp->rp_err);
        e->e_fail |= msgpack_pack_map(&e->e_pk, avail ? 3 : 2);
        s_pack_key(e, "code");
        s_pack_str(e, code, strlen(code));
        s_pack_key(e, "message");
        s_pack_str(e, clean, strlen(clean));
        if (avail) {
            s_pack_key(e, "available");
            e->e_fail |= msgpack_pack_int64(&e->e_pk, rp->rp_available);
        }
        return LY_OK;
    }
    case RP_PROFILE: {
        if (rp->rp_fields & ~(uint32_t)LY_PF_ALL)
            return s_fail(&e->e_w, LY_EINVAL, "fields", "unknown profile field bits 0x%x",
                          (unsigned)rp->rp_fields);
        uint64_t mask = 0;
        for (int i = 0; i < S_COUNT(s_prof_tab); i++)
            if (rp->rp_fields & s_prof_tab[i].f_bit)
                mask |= S_BIT(i);
        s_where_push(&e->e_w, saved, "profile", -1);
        rc = s_enc_map(e, &s_prof_map, &rp->rp_profile, mask);
        s_where_pop(&e->e_w, saved);
        return rc;
    }
    case RP_HISTORY:
        if (rp->rp_nhist > LY_HIST_MAX)
            return s_fail(&e->e_w, LY_EINVAL, "history", "more than %d entries", LY_HIST_MAX);
        e->e_fail |= msgpack_pack_array(&e->e_pk, rp->rp_nhist);
        for (uint32_t i = 0; i < rp->rp_nhist; i++) {
            const ly_hist *hi = &rp->rp_hist[i];
            s_where_push(&e->e_w, saved, "history", (long)i);
            rc = s_enc_map(e, &s_hist_map, hi,
                           s_enc_mask(&s_hist_map, hi, S_BIT(S_COUNT(s_hist_tab)) - 1));
            s_where_pop(&e->e_w, saved);
            if (rc != LY_OK)
                return rc;
        }
        return LY_OK;
    case RP_NODE:
        s_where_push(&e->e_w, saved, "node", -1);
        rc = s_enc_map(e, &s_node_map, &rp->rp_status, S_BIT(S_COUNT(s_node_tab)) - 1);
        s_where_pop(&e->e_w, saved);
        return rc;
    case RP_EVENTS:
        if (rp->rp_nevents > LY_EVENTS_MAX)
            return s_fail(&e->e_w, LY_EINVAL, "events", "more than %d entries", LY_EVENTS_MAX);
        if (rp->rp_nevents > 0 && rp->rp_events == NULL)
            return s_fail(&e->e_w, LY_EINVAL, "events", "no event array");
        e->e_fail |= msgpack_pack_array(&e->e_pk, rp->rp_nevents);
        for (uint32_t i = 0; i < rp->rp_nevents; i++) {
            const ly_event *ev = &rp->rp_events[i];
            if (ly_event_validate(ev) != LY_OK)
                return s_fail(&e->e_w, LY_EINVAL, NULL, "events[%u]: not a valid event", i);
            rc = s_enc_map(e, &s_event_map, ev,
                           s_enc_mask(&s_event_map, ev, S_BIT(S_COUNT(s_event_tab)) - 1));
            if (rc != LY_OK)
                return rc;
        }
        return LY_OK;
    default:
        return s_fail(&e->e_w, LY_EINTERNAL, NULL, "no encoder for field %d", fid);
    }
}

static const s_map s_rep_map = {s_rep_tab, S_COUNT(s_rep_tab), 0, NULL, s_rep_dec, s_rep_enc};

ly_err ly_rep_encode(const ly_rep *rp, uint8_t **out, size_t *len)
{
    if (rp == NULL || out == NULL || len == NULL)
        return LY_EINVAL;
    int type = rp->rp_type;
    if (type != 0 && ly_msgtype_name(type) == NULL)
        return LY_EINVAL;
    if (rp->rp_err >= LY_ERR_COUNT)
        return LY_EINVAL;
    uint64_t mask = S_BIT(RP_V) | S_BIT(RP_ID) | S_BIT(RP_OK);
    if (type != 0)
        mask |= S_BIT(RP_T);
    if (rp->rp_err != LY_OK) {
        mask |= S_BIT(RP_ERROR);
    } else if (type == LY_MSG_STATUS) {
        mask |= S_BIT(RP_NODE);
    } else if (type == LY_MSG_EVENTS) {
        mask |= S_BIT(RP_EVENTS);
    } else if (type != 0) {
        mask |= S_BIT(RP_CUSTOMER) | S_BIT(RP_POINTS) | S_BIT(RP_BALANCE) | S_BIT(RP_LIFETIME) |
                S_BIT(RP_DEBT) | S_BIT(RP_QUALIFYING) | S_BIT(RP_TIER) | S_BIT(RP_NEXT_TIER) |
                S_BIT(RP_TO_NEXT) | S_BIT(RP_REPLAYED) | S_BIT(RP_HLC) | S_BIT(RP_ORIGIN) |
                S_BIT(RP_SEQ);
        if (ly_msgtype_is_mutation(type))
            mask |= S_BIT(RP_TXN);
        if (type == LY_MSG_CUSTOMER)
            mask |= S_BIT(RP_ENROLLED) | S_BIT(RP_LAST) | S_BIT(RP_PROFILE) | S_BIT(RP_HISTORY);
        mask = s_enc_mask(&s_rep_map, rp, mask);
    } else {
        return LY_EINVAL; /* a success must say what it answers */
    }
    s_enc e;
    s_enc_init(&e, type, NULL, 0);
    ly_err rc = s_enc_map(&e, &s_rep_map, rp, mask);
    return s_enc_finish(&e, rc, out, len);
}

ly_err ly_rep_decode(const uint8_t *buf, size_t len, ly_rep *rp, char *why, size_t why_len)
{
    s_dec d;
    uint64_t n;
    ly_rep_init(rp);
    ly_err rc = s_dec_start(&d, buf, len, why, why_len, &n);
    int type = 0;
    if (rc == LY_OK)
        rc = s_dec_vt(&d, n, 0, &type);
    uint64_t seen = 0;
    if (rc == LY_OK) {
        rp->rp_type = (uint8_t)type;
        rc = s_dec_map(&d, &s_rep_map, n, rp, UINT64_MAX, &seen, NULL);
    }
    if (rc == LY_OK && !(seen & S_BIT(RP_ID)))
        rc = s_fail(&d.d_w, LY_EPROTO, "id", "missing");
    if (rc == LY_OK && !(seen & S_BIT(RP_OK)))
        rc = s_fail(&d.d_w, LY_EPROTO, "ok", "missing");
    if (rc == LY_OK && d.d_ok && (seen & S_BIT(RP_ERROR)))
        rc = s_fail(&d.d_w, LY_EPROTO, "error", "present in a successful reply");
    if (rc == LY_OK && !d.d_ok && !(seen & S_BIT(RP_ERROR)))
        rc = s_fail(&d.d_w, LY_EPROTO, "error", "missing in a failed reply");
    /* A reply is not checked against a request: any value it should not hold
     * makes it undecodable, not an invalid argument. */
    if (rc == LY_EINVAL)
        rc = LY_EPROTO;
    return rc;
}
