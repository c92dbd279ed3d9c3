/* mpack.c -- the msgpack machinery shared by the client and peer codecs (see mpack.h). */
#include "proto/mpack.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

/* ------------------------------------------------------------------------ */
/* Reasons                                                                   */

/* Writes "[where: ][field 'name': ]message" into the reason buffer; returns rc. */
ly_err lyp_fail(lyp_why *w, ly_err rc, const char *field, const char *fmt, ...)
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
void lyp_where_push(lyp_why *w, char *saved, const char *name, long index)
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

void lyp_where_pop(lyp_why *w, const char *saved)
{
    memcpy(w->w_where, saved, sizeof w->w_where);
}

/* ------------------------------------------------------------------------ */
/* Reader                                                                    */

const char *const lyp_otype_names[] = {
    [LYP_NIL] = "nil",         [LYP_BOOL] = "a boolean",   [LYP_UINT] = "an integer",
    [LYP_NEG] = "an integer",  [LYP_FLOAT] = "a float",    [LYP_STR] = "a string",
    [LYP_BIN] = "binary data", [LYP_EXT] = "an extension", [LYP_ARRAY] = "an array",
    [LYP_MAP] = "a map",
};

static uint64_t s_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

int lyp_head(lyp_rd *r, lyp_obj *o)
{
    memset(o, 0, sizeof *o);
    if (r->r_pos >= r->r_len)
        return LYP_HEAD_TRUNC;
    const uint8_t b = r->r_buf[r->r_pos++];
    size_t left = r->r_len - r->r_pos;
    size_t lenbytes = 0; /* str/bin/ext/array/map: bytes of the length field */
    size_t fixed = 0;    /* fixext: payload bytes */
    int ext = 0;         /* 1: an ext type byte precedes the payload */
    int sign = 0;

    if (b <= 0x7f) {
        o->o_type = LYP_UINT;
        o->o_u = b;
        return LYP_HEAD_OK;
    }
    if (b >= 0xe0) {
        o->o_type = LYP_NEG;
        o->o_i = (int8_t)b;
        return LYP_HEAD_OK;
    }
    if (b <= 0x8f) {
        o->o_type = LYP_MAP;
        o->o_u = b & 0x0f;
        goto container;
    }
    if (b <= 0x9f) {
        o->o_type = LYP_ARRAY;
        o->o_u = b & 0x0f;
        goto container;
    }
    if (b <= 0xbf) {
        o->o_type = LYP_STR;
        o->o_u = b & 0x1f;
        goto payload;
    }
    switch (b) {
    case 0xc0:
        o->o_type = LYP_NIL;
        return LYP_HEAD_OK;
    case 0xc1:
        return LYP_HEAD_C1;
    case 0xc2:
    case 0xc3:
        o->o_type = LYP_BOOL;
        o->o_u = b == 0xc3;
        return LYP_HEAD_OK;
    case 0xc4:
    case 0xc5:
    case 0xc6:
        o->o_type = LYP_BIN;
        lenbytes = (size_t)1 << (b - 0xc4);
        break;
    case 0xc7:
    case 0xc8:
    case 0xc9:
        o->o_type = LYP_EXT;
        lenbytes = (size_t)1 << (b - 0xc7);
        ext = 1;
        break;
    case 0xca:
    case 0xcb:
        o->o_type = LYP_FLOAT;
        fixed = b == 0xca ? 4 : 8;
        if (left < fixed)
            return LYP_HEAD_TRUNC;
        r->r_pos += fixed;
        return LYP_HEAD_OK;
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
            return LYP_HEAD_TRUNC;
        uint64_t u = s_be(r->r_buf + r->r_pos, n);
        r->r_pos += n;
        if (sign && n < 8 && (u >> (8 * n - 1)))
            u |= UINT64_MAX << (8 * n); /* sign-extend */
        if (sign && (int64_t)u < 0) {
            o->o_type = LYP_NEG;
            o->o_i = (int64_t)u;
        } else {
            o->o_type = LYP_UINT;
            o->o_u = u;
        }
        return LYP_HEAD_OK;
    }
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        o->o_type = LYP_EXT;
        fixed = (size_t)1 << (b - 0xd4);
        ext = 1;
        break;
    case 0xd9:
    case 0xda:
    case 0xdb:
        o->o_type = LYP_STR;
        lenbytes = (size_t)1 << (b - 0xd9);
        break;
    case 0xdc:
    case 0xdd:
        o->o_type = LYP_ARRAY;
        lenbytes = b == 0xdc ? 2 : 4;
        break;
    case 0xde:
    case 0xdf:
        o->o_type = LYP_MAP;
        lenbytes = b == 0xde ? 2 : 4;
        break;
    default: /* unreachable: every byte value is covered above */
        return LYP_HEAD_C1;
    }

    if (lenbytes > 0) {
        if (left < lenbytes)
            return LYP_HEAD_TRUNC;
        o->o_u = s_be(r->r_buf + r->r_pos, lenbytes);
        r->r_pos += lenbytes;
        left -= lenbytes;
    } else {
        o->o_u = fixed;
    }
    if (o->o_type == LYP_ARRAY || o->o_type == LYP_MAP)
        goto container;
    if (ext) {
        if (left < 1)
            return LYP_HEAD_TRUNC;
        r->r_pos++; /* the ext type byte */
    }
payload:
    left = r->r_len - r->r_pos;
    if (o->o_u > left)
        return LYP_HEAD_TOOLONG;
    o->o_ptr = r->r_buf + r->r_pos;
    r->r_pos += (size_t)o->o_u;
    return LYP_HEAD_OK;
container:
    left = r->r_len - r->r_pos;
    if ((o->o_type == LYP_MAP ? 2 * o->o_u : o->o_u) > left)
        return LYP_HEAD_TOOLONG;
    return LYP_HEAD_OK;
}

static uint64_t s_children(const lyp_obj *o)
{
    if (o->o_type == LYP_ARRAY)
        return o->o_u;
    if (o->o_type == LYP_MAP)
        return 2 * o->o_u;
    return 0;
}

/* Bounded: every element takes a byte, so the work is at most the frame size. */
int lyp_skip_children(lyp_rd *r, const lyp_obj *o)
{
    uint64_t pending = s_children(o);
    while (pending > 0) {
        lyp_obj c;
        if (lyp_head(r, &c) != LYP_HEAD_OK)
            return -1;
        pending += s_children(&c) - 1;
    }
    return 0;
}

int lyp_skip(lyp_rd *r)
{
    lyp_obj o;
    if (lyp_head(r, &o) != LYP_HEAD_OK)
        return -1;
    return lyp_skip_children(r, &o);
}

/* The structural check of a whole frame, before anything else reads it. */
static ly_err s_prescan(const uint8_t *buf, size_t len, size_t max, lyp_why *w)
{
    if (len > max)
        return lyp_fail(w, LY_ETOOBIG, NULL, "frame of %zu bytes is over the limit of %zu", len,
                        max);
    if (buf == NULL || len == 0)
        return lyp_fail(w, LY_EPROTO, NULL, "empty frame");
    lyp_rd r = {buf, len, 0};
    uint64_t left[LYP_DEPTH_MAX + 1]; /* elements still to read at each level */
    int sp = 0;
    left[0] = 1;
    for (;;) {
        while (sp >= 0 && left[sp] == 0)
            sp--;
        if (sp < 0)
            break;
        left[sp]--;
        size_t at = r.r_pos;
        lyp_obj o;
        switch (lyp_head(&r, &o)) {
        case LYP_HEAD_TRUNC:
            return lyp_fail(w, LY_EPROTO, NULL, "truncated message at offset %zu", at);
        case LYP_HEAD_C1:
            return lyp_fail(w, LY_EPROTO, NULL, "reserved byte 0xc1 at offset %zu", at);
        case LYP_HEAD_TOOLONG:
            return lyp_fail(w, LY_EPROTO, NULL,
                            "length or element count at offset %zu is larger than the frame", at);
        default:
            break;
        }
        if (o.o_type == LYP_ARRAY || o.o_type == LYP_MAP) {
            if (sp + 1 > LYP_DEPTH_MAX)
                return lyp_fail(w, LY_EPROTO, NULL, "nesting deeper than %d levels at offset %zu",
                                LYP_DEPTH_MAX, at);
            if (s_children(&o) > 0)
                left[++sp] = s_children(&o);
        }
    }
    if (r.r_pos != len)
        return lyp_fail(w, LY_EPROTO, NULL, "%zu trailing bytes after the message", len - r.r_pos);
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

int lyp_keyeq(const lyp_obj *k, const char *name)
{
    size_t n = strlen(name);
    return k->o_u == n && memcmp(k->o_ptr, name, n) == 0;
}

/* ------------------------------------------------------------------------ */
/* Field tables                                                              */

static uint64_t s_getu(const void *base, const lyp_field *f)
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

static void s_setu(void *base, const lyp_field *f, uint64_t u)
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

static int64_t s_geti(const void *base, const lyp_field *f)
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

static void s_seti(void *base, const lyp_field *f, int64_t i)
{
    unsigned char *p = (unsigned char *)base + f->f_off;
    if (f->f_size == 4) {
        int32_t v = (int32_t)i;
        memcpy(p, &v, sizeof v);
        return;
    }
    memcpy(p, &i, sizeof i);
}

static void s_range(const lyp_map *m, int type, int fid, int64_t *lo, uint64_t *hi, int *nonzero)
{
    *lo = m->m_tab[fid].f_lo;
    *hi = m->m_tab[fid].f_hi;
    *nonzero = 0;
    if (m->m_range != NULL)
        m->m_range(type, fid, lo, hi, nonzero);
}

/* The least value of an unsigned field: f_lo (or what m_range made of it), at
 * least 1 if it must be nonzero. */
static uint64_t s_ulo(int64_t lo, int nonzero)
{
    uint64_t u = lo > 0 ? (uint64_t)lo : 0;
    return nonzero && u == 0 ? 1 : u;
}

/* ------------------------------------------------------------------------ */
/* Validation shared by the encoders and the decoders                        */

static ly_err s_chk_uint(lyp_why *w, const char *name, uint64_t v, uint64_t lo, uint64_t hi)
{
    if (v < lo || v > hi)
        return lyp_fail(w, LY_EINVAL, name, "must be %llu..%llu", (unsigned long long)lo,
                        (unsigned long long)hi);
    return LY_OK;
}

static ly_err s_chk_int(lyp_why *w, const char *name, int64_t v, int64_t lo, int64_t hi,
                        int nonzero)
{
    if (nonzero && (v == 0 || v < lo || v > hi))
        return lyp_fail(w, LY_EINVAL, name, "must be nonzero and within %lld..%lld", (long long)lo,
                        (long long)hi);
    if (v < lo || v > hi)
        return lyp_fail(w, LY_EINVAL, name, "must be %lld..%lld", (long long)lo, (long long)hi);
    return LY_OK;
}

static ly_err s_chk_str(lyp_why *w, const lyp_field *f, const char *s)
{
    size_t n = strnlen(s, (size_t)f->f_cap + 1);
    if (n > f->f_cap)
        return lyp_fail(w, LY_EINVAL, f->f_name, "longer than %u bytes", (unsigned)f->f_cap);
    switch (f->f_chk) {
    case LYP_C_ID:
    case LYP_C_IDE:
        if (n == 0 && f->f_chk == LYP_C_IDE)
            return LY_OK;
        if (n == 0)
            return lyp_fail(w, LY_EINVAL, f->f_name, "must not be empty");
        if (!ly_id_valid(s))
            return lyp_fail(w, LY_EINVAL, f->f_name, "must be 1..%u bytes of [A-Za-z0-9._:@#/+-]",
                            (unsigned)f->f_cap);
        return LY_OK;
    case LYP_C_TEXTNE:
        if (n == 0)
            return lyp_fail(w, LY_EINVAL, f->f_name, "must not be empty");
        /* fall through */
    case LYP_C_TEXT:
        if (!ly_text_valid(s, f->f_cap))
            return lyp_fail(w, LY_EINVAL, f->f_name,
                            "must be UTF-8 text without control characters");
        return LY_OK;
    case LYP_C_DATE:
        if (!ly_date_valid(s))
            return lyp_fail(w, LY_EINVAL, f->f_name, "must be a date YYYY-MM-DD");
        return LY_OK;
    case LYP_C_NAME:
        if (n == 0)
            return lyp_fail(w, LY_EINVAL, f->f_name, "must not be empty");
        for (size_t i = 0; i < n; i++)
            if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
                return lyp_fail(w, LY_EINVAL, f->f_name, "must be 1..%u bytes of [A-Za-z0-9._-]",
                                (unsigned)f->f_cap);
        return LY_OK;
    case LYP_C_EP:
        if (n > 0 && !ly_endpoint_valid(s))
            return lyp_fail(w, LY_EINVAL, f->f_name,
                            "must be empty or an endpoint tcp://HOST:PORT or ipc://PATH");
        return LY_OK;
    default:
        return LY_OK;
    }
}

/* Checks the fields of `base` selected by `mask` against the table (string
 * syntax and length, integer ranges for message type `type`); LYP_K_SPECIAL fields
 * are checked by their own code. LY_EINVAL names the first bad field. */
ly_err lyp_check_fields(lyp_why *w, const lyp_map *m, int type, const void *base, uint64_t mask)
{
    for (int fid = 0; fid < m->m_n; fid++) {
        if (!(mask & LYP_BIT(fid)))
            continue;
        const lyp_field *f = &m->m_tab[fid];
        int64_t lo;
        uint64_t hi;
        int nonzero;
        ly_err rc = LY_OK;
        switch (f->f_kind) {
        case LYP_K_U:
            s_range(m, type, fid, &lo, &hi, &nonzero);
            rc = s_chk_uint(w, f->f_name, s_getu(base, f), s_ulo(lo, nonzero), hi);
            break;
        case LYP_K_I:
            s_range(m, type, fid, &lo, &hi, &nonzero);
            rc = s_chk_int(w, f->f_name, s_geti(base, f), lo, (int64_t)hi, nonzero);
            break;
        case LYP_K_BOOL:
            rc = s_chk_uint(w, f->f_name, s_getu(base, f), 0, 1);
            break;
        case LYP_K_STR:
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
void lyp_sanitize(char *dst, const char *src)
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

ly_err lyp_trunc(lyp_dec *d)
{
    return lyp_fail(&d->d_w, LY_EPROTO, NULL, "truncated message");
}

static ly_err s_dec_scalar(lyp_dec *d, const lyp_map *m, int fid, const lyp_obj *v, void *base)
{
    const lyp_field *f = &m->m_tab[fid];
    int64_t lo;
    uint64_t hi;
    int nonzero;
    switch (f->f_kind) {
    case LYP_K_U:
        if (v->o_type == LYP_NEG)
            return lyp_fail(&d->d_w, LY_EPROTO, f->f_name,
                            "expected an unsigned integer, got a negative one");
        if (v->o_type != LYP_UINT)
            return lyp_fail(&d->d_w, LY_EPROTO, f->f_name, "expected an unsigned integer, got %s",
                            lyp_otype_names[v->o_type]);
        s_range(m, d->d_type, fid, &lo, &hi, &nonzero);
        if (s_chk_uint(&d->d_w, f->f_name, v->o_u, s_ulo(lo, nonzero), hi) != LY_OK)
            return LY_EINVAL;
        s_setu(base, f, v->o_u);
        return LY_OK;
    case LYP_K_I: {
        int64_t i;
        if (v->o_type == LYP_UINT) {
            if (v->o_u > INT64_MAX)
                return lyp_fail(&d->d_w, LY_EPROTO, f->f_name,
                                "expected a signed 64-bit integer, got one above INT64_MAX");
            i = (int64_t)v->o_u;
        } else if (v->o_type == LYP_NEG) {
            i = v->o_i;
        } else {
            return lyp_fail(&d->d_w, LY_EPROTO, f->f_name, "expected an integer, got %s",
                            lyp_otype_names[v->o_type]);
        }
        s_range(m, d->d_type, fid, &lo, &hi, &nonzero);
        if (s_chk_int(&d->d_w, f->f_name, i, lo, (int64_t)hi, nonzero) != LY_OK)
            return LY_EINVAL;
        s_seti(base, f, i);
        return LY_OK;
    }
    case LYP_K_BOOL:
        if (v->o_type != LYP_BOOL)
            return lyp_fail(&d->d_w, LY_EPROTO, f->f_name, "expected a boolean, got %s",
                            lyp_otype_names[v->o_type]);
        s_setu(base, f, v->o_u);
        return LY_OK;
    case LYP_K_STR: {
        if (v->o_type != LYP_STR)
            return lyp_fail(&d->d_w, LY_EPROTO, f->f_name, "expected a string, got %s",
                            lyp_otype_names[v->o_type]);
        if (memchr(v->o_ptr, 0, (size_t)v->o_u) != NULL)
            return lyp_fail(&d->d_w, LY_EPROTO, f->f_name, "contains a NUL byte");
        if (v->o_u > f->f_cap)
            return lyp_fail(&d->d_w, LY_EINVAL, f->f_name, "longer than %u bytes",
                            (unsigned)f->f_cap);
        char *dst = (char *)base + f->f_off;
        memcpy(dst, v->o_ptr, (size_t)v->o_u);
        dst[v->o_u] = '\0';
        return LY_OK;
    }
    default:
        return lyp_fail(&d->d_w, LY_EINTERNAL, f->f_name, "no decoder");
    }
}

/* The table index of key `k`, or m->m_n. Encoders write a table's keys in its
 * order, so the search starts after the key found last (`hint`) and nearly
 * always ends at once; the first byte is checked before the whole name. */
static int s_find_key(const lyp_map *m, const lyp_obj *k, int hint)
{
    const char *p = (const char *)k->o_ptr;
    for (int j = 0; j < m->m_n; j++) {
        int fid = (hint + j) % m->m_n;
        const char *name = m->m_tab[fid].f_name;
        if (k->o_u > 0 && name[0] != p[0])
            continue;
        if (lyp_keyeq(k, name))
            return fid;
    }
    return m->m_n;
}

/* Decodes the `n` entries of a map (its header already read) into `base`.
 * Keys must be strings; a key of the table outside `allowed`, a duplicate, and
 * (for strict maps) an unknown key are LY_EPROTO. *seen receives the keys read;
 * *fields (may be NULL) gets the f_bit of each key read. The values read are
 * then checked with lyp_check_fields. */
ly_err lyp_dec_map(lyp_dec *d, const lyp_map *m, uint64_t n, void *base, uint64_t allowed,
                   uint64_t *seen_out, uint32_t *fields)
{
    uint64_t seen = 0;
    int hint = 0;
    for (uint64_t i = 0; i < n; i++) {
        lyp_obj k, v;
        if (lyp_head(&d->d_rd, &k) != LYP_HEAD_OK)
            return lyp_trunc(d);
        if (k.o_type != LYP_STR)
            return lyp_fail(&d->d_w, LY_EPROTO, NULL, "map key is %s, not a string",
                            lyp_otype_names[k.o_type]);
        int fid = s_find_key(m, &k, hint);
        hint = fid + 1;
        if (fid == m->m_n) {
            if (d->d_proto->p_strict) {
                char name[40];
                s_keyname(name, sizeof name, k.o_ptr, k.o_u);
                return lyp_fail(&d->d_w, LY_EPROTO, name, "unknown field");
            }
            if (lyp_skip(&d->d_rd) != 0)
                return lyp_trunc(d);
            continue;
        }
        const lyp_field *f = &m->m_tab[fid];
        if (!(allowed & LYP_BIT(fid))) {
            const char *tn = d->d_proto->p_type_name(d->d_type);
            return lyp_fail(&d->d_w, LY_EPROTO, f->f_name, "not allowed in %s%s%s",
                            tn ? "'" : "this message", tn ? tn : "", tn ? "'" : "");
        }
        if (seen & LYP_BIT(fid))
            return lyp_fail(&d->d_w, LY_EPROTO, f->f_name, "duplicate");
        seen |= LYP_BIT(fid);
        if (lyp_head(&d->d_rd, &v) != LYP_HEAD_OK)
            return lyp_trunc(d);
        ly_err rc;
        if (f->f_kind != LYP_K_SPECIAL)
            rc = s_dec_scalar(d, m, fid, &v, base);
        else if (m->m_dec != NULL)
            rc = m->m_dec(d, fid, &v, base);
        else /* a table bug */
            rc = lyp_fail(&d->d_w, LY_EINTERNAL, f->f_name, "no decoder");
        if (rc != LY_OK)
            return rc;
        if (fields != NULL)
            *fields |= f->f_bit;
    }
    if (seen_out != NULL)
        *seen_out = seen;
    return lyp_check_fields(&d->d_w, m, d->d_type, base, seen);
}

/* Reads a nested map's header into `v` (already read) and decodes it with `m`. */
ly_err lyp_dec_submap(lyp_dec *d, const lyp_map *m, const lyp_obj *v, const char *name, long index,
                      void *base, uint64_t *seen, uint32_t *fields)
{
    if (v->o_type != LYP_MAP) {
        char field[48];
        if (index >= 0)
            snprintf(field, sizeof field, "%s[%ld]", name, index);
        else
            snprintf(field, sizeof field, "%s", name);
        return lyp_fail(&d->d_w, LY_EPROTO, field, "expected a map, got %s",
                        lyp_otype_names[v->o_type]);
    }
    char saved[sizeof d->d_w.w_where];
    lyp_where_push(&d->d_w, saved, name, index);
    ly_err rc = lyp_dec_map(d, m, v->o_u, base, UINT64_MAX, seen, fields);
    lyp_where_pop(&d->d_w, saved);
    return rc;
}

void lyp_pack_str(lyp_enc *e, const char *s, size_t n)
{
    e->e_fail |= msgpack_pack_str(&e->e_pk, n);
    e->e_fail |= msgpack_pack_str_body(&e->e_pk, s, n);
}

void lyp_pack_key(lyp_enc *e, const char *key)
{
    lyp_pack_str(e, key, strlen(key));
}

/* Fields of `base` selected by `all` that the encoder writes: f_omit fields
 * are left out when empty (strings) or 0 (integers). */
uint64_t lyp_enc_mask(const lyp_map *m, const void *base, uint64_t all)
{
    uint64_t mask = 0;
    for (int fid = 0; fid < m->m_n; fid++) {
        if (!(all & LYP_BIT(fid)))
            continue;
        const lyp_field *f = &m->m_tab[fid];
        if (f->f_omit) {
            if (f->f_kind == LYP_K_STR && ((const char *)base + f->f_off)[0] == '\0')
                continue;
            if (f->f_kind == LYP_K_U && s_getu(base, f) == 0)
                continue;
            if (f->f_kind == LYP_K_I && s_geti(base, f) == 0)
                continue;
        }
        mask |= LYP_BIT(fid);
    }
    return mask;
}

/* Checks then writes the fields of `base` selected by `mask`, as one map. */
ly_err lyp_enc_map(lyp_enc *e, const lyp_map *m, const void *base, uint64_t mask)
{
    ly_err rc = lyp_check_fields(&e->e_w, m, e->e_type, base, mask);
    if (rc != LY_OK)
        return rc;
    e->e_fail |= msgpack_pack_map(&e->e_pk, (size_t)__builtin_popcountll(mask));
    for (int fid = 0; fid < m->m_n; fid++) {
        if (!(mask & LYP_BIT(fid)))
            continue;
        const lyp_field *f = &m->m_tab[fid];
        lyp_pack_key(e, f->f_name);
        switch (f->f_kind) {
        case LYP_K_U:
            e->e_fail |= msgpack_pack_uint64(&e->e_pk, s_getu(base, f));
            break;
        case LYP_K_I:
            e->e_fail |= msgpack_pack_int64(&e->e_pk, s_geti(base, f));
            break;
        case LYP_K_BOOL:
            e->e_fail |=
                s_getu(base, f) ? msgpack_pack_true(&e->e_pk) : msgpack_pack_false(&e->e_pk);
            break;
        case LYP_K_STR: {
            const char *s = (const char *)base + f->f_off;
            lyp_pack_str(e, s, strlen(s));
            break;
        }
        default:
            rc = m->m_enc != NULL ? m->m_enc(e, fid, base)
                                  : lyp_fail(&e->e_w, LY_EINTERNAL, f->f_name, "no encoder");
            if (rc != LY_OK)
                return rc;
            break;
        }
    }
    return LY_OK;
}

void lyp_enc_init(lyp_enc *e, const lyp_proto *p, int type, char *why, size_t why_len)
{
    memset(e, 0, sizeof *e);
    e->e_proto = p;
    msgpack_sbuffer_init(&e->e_sb);
    /* Most messages are a few hundred bytes: start small (msgpack-c's first
     * allocation is 8 KiB, off malloc's fast path); the buffer still doubles. */
    e->e_sb.data = malloc(LYP_ENC_FIRST);
    e->e_sb.alloc = e->e_sb.data ? LYP_ENC_FIRST : 0;
    msgpack_packer_init(&e->e_pk, &e->e_sb, msgpack_sbuffer_write);
    e->e_w.w_buf = why;
    e->e_w.w_len = why_len;
    e->e_type = type;
}

ly_err lyp_enc_finish(lyp_enc *e, ly_err rc, uint8_t **out, size_t *len)
{
    if (rc == LY_OK && e->e_fail)
        rc = LY_ENOMEM;
    if (rc == LY_OK && e->e_sb.size > e->e_proto->p_frame_max)
        rc = lyp_fail(&e->e_w, LY_ETOOBIG, NULL,
                      "encoded message of %zu bytes is over the limit of %zu", e->e_sb.size,
                      e->e_proto->p_frame_max);
    if (rc != LY_OK) {
        msgpack_sbuffer_destroy(&e->e_sb);
        return rc;
    }
    *len = e->e_sb.size;
    *out = (uint8_t *)msgpack_sbuffer_release(&e->e_sb);
    return LY_OK;
}

ly_err lyp_dec_vt(lyp_dec *d, uint64_t n, int type_required, int *type)
{
    lyp_rd save = d->d_rd;
    int has_v = 0, has_t = 0;
    uint64_t version = 0;
    lyp_obj t = {0};
    for (uint64_t i = 0; i < n; i++) {
        lyp_obj k, v;
        if (lyp_head(&d->d_rd, &k) != LYP_HEAD_OK)
            return lyp_trunc(d);
        if (k.o_type != LYP_STR)
            return lyp_fail(&d->d_w, LY_EPROTO, NULL, "map key is %s, not a string",
                            lyp_otype_names[k.o_type]);
        int is_v = lyp_keyeq(&k, "v"), is_t = lyp_keyeq(&k, "t");
        if (!is_v && !is_t) {
            if (lyp_skip(&d->d_rd) != 0)
                return lyp_trunc(d);
            continue;
        }
        if ((is_v && has_v) || (is_t && has_t))
            return lyp_fail(&d->d_w, LY_EPROTO, is_v ? "v" : "t", "duplicate");
        if (lyp_head(&d->d_rd, &v) != LYP_HEAD_OK)
            return lyp_trunc(d);
        if (is_v) {
            if (v.o_type != LYP_UINT)
                return lyp_fail(&d->d_w, LY_EPROTO, "v", "expected an unsigned integer, got %s",
                                v.o_type == LYP_NEG ? "a negative one" : lyp_otype_names[v.o_type]);
            has_v = 1;
            version = v.o_u;
        } else {
            if (v.o_type != LYP_STR)
                return lyp_fail(&d->d_w, LY_EPROTO, "t", "expected a string, got %s",
                                lyp_otype_names[v.o_type]);
            has_t = 1;
            t = v;
        }
    }
    d->d_rd = save;
    if (!has_v)
        return lyp_fail(&d->d_w, LY_EPROTO, "v", "missing");
    if (version != d->d_proto->p_version)
        return lyp_fail(&d->d_w, LY_EVERSION, "v",
                        "protocol version %llu is not supported (only %llu)",
                        (unsigned long long)version, (unsigned long long)d->d_proto->p_version);
    *type = 0;
    if (!has_t)
        return type_required ? lyp_fail(&d->d_w, LY_EPROTO, "t", "missing") : LY_OK;
    char name[32];
    if (t.o_u < sizeof name && memchr(t.o_ptr, 0, (size_t)t.o_u) == NULL) {
        memcpy(name, t.o_ptr, (size_t)t.o_u);
        name[t.o_u] = '\0';
        *type = d->d_proto->p_type_from_name(name);
    }
    if (*type == 0)
        return lyp_fail(&d->d_w, LY_EPROTO, "t", "unknown message type");
    return LY_OK;
}

ly_err lyp_dec_start(lyp_dec *d, const lyp_proto *p, const uint8_t *buf, size_t len, char *why,
                     size_t why_len, uint64_t *n)
{
    memset(d, 0, sizeof *d);
    d->d_proto = p;
    d->d_w.w_buf = why;
    d->d_w.w_len = why_len;
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    ly_err rc = s_prescan(buf, len, p->p_frame_max, &d->d_w);
    if (rc != LY_OK)
        return rc;
    d->d_rd = (lyp_rd){buf, len, 0};
    lyp_obj top;
    if (lyp_head(&d->d_rd, &top) != LYP_HEAD_OK)
        return lyp_trunc(d);
    if (top.o_type != LYP_MAP)
        return lyp_fail(&d->d_w, LY_EPROTO, NULL, "message is %s, not a map",
                        lyp_otype_names[top.o_type]);
    *n = top.o_u;
    return LY_OK;
}

/* ------------------------------------------------------------------------ */
/* Events: the one description of an event on the wire, for both protocols  */

/* Every field of ly_event; strings omitted when empty, "to" when 0 (it is
 * nonzero in a transfer only). Checked as a whole with ly_event_validate. */
static const lyp_field s_event_tab[] = {
    LYP_FU("origin", ly_event, ev_origin),
    LYP_FU("incarnation", ly_event, ev_incarnation),
    LYP_FU("seq", ly_event, ev_seq),
    LYP_FU("hlc", ly_event, ev_hlc),
    LYP_FU("type", ly_event, ev_type),
    LYP_FU("ref_type", ly_event, ev_ref_type),
    LYP_FU("tier_from", ly_event, ev_tier_from),
    LYP_FU("tier_to", ly_event, ev_tier_to),
    LYP_FUO("to", ly_event, ev_to),
    LYP_FU("program", ly_event, ev_program),
    LYP_FU("fields", ly_event, ev_fields),
    LYP_FI("qual_day", ly_event, ev_qual_day),
    LYP_FI("amount", ly_event, ev_amount),
    LYP_FI("points", ly_event, ev_points),
    LYP_FI("qual", ly_event, ev_qual),
    LYP_FU("req_hash", ly_event, ev_req_hash),
    LYP_FS("customer", ly_event, ev_customer, LYP_C_ANY, 1),
    LYP_FS("txn", ly_event, ev_txn, LYP_C_ANY, 1),
    LYP_FS("ref_txn", ly_event, ev_ref_txn, LYP_C_ANY, 1),
    LYP_FS("category", ly_event, ev_category, LYP_C_ANY, 1),
    LYP_FS("reason", ly_event, ev_reason, LYP_C_ANY, 1),
    LYP_FS("operator", ly_event, ev_operator, LYP_C_ANY, 1),
    LYP_FS("name", ly_event, ev_profile.pf_name, LYP_C_ANY, 1),
    LYP_FS("birthday", ly_event, ev_profile.pf_birthday, LYP_C_ANY, 1),
    LYP_FS("email", ly_event, ev_profile.pf_email, LYP_C_ANY, 1),
    LYP_FS("phone", ly_event, ev_profile.pf_phone, LYP_C_ANY, 1),
    LYP_FS("prefs", ly_event, ev_profile.pf_prefs, LYP_C_ANY, 1),
    LYP_FUO("part", ly_event, ev_part),
    LYP_FUO("parts", ly_event, ev_parts),
    LYP_FX("blob"), /* program parts: binary, 1..LY_EV_BLOB_MAX bytes; left out when empty */
};
#define S_EV_BLOB (LYP_COUNT(s_event_tab) - 1)

static ly_err s_event_dec(lyp_dec *d, int fid, const lyp_obj *v, void *base)
{
    ly_event *ev = base;
    (void)fid;
    if (v->o_type != LYP_BIN)
        return lyp_fail(&d->d_w, LY_EPROTO, "blob", "expected binary data, got %s",
                        lyp_otype_names[v->o_type]);
    if (v->o_u == 0 || v->o_u > LY_EV_BLOB_MAX)
        return lyp_fail(&d->d_w, LY_EINVAL, "blob", "%llu bytes, not 1..%d",
                        (unsigned long long)v->o_u, LY_EV_BLOB_MAX);
    memcpy(ev->ev_blob, v->o_ptr, (size_t)v->o_u);
    ev->ev_blob_len = (uint16_t)v->o_u;
    return LY_OK;
}

static ly_err s_event_enc(lyp_enc *e, int fid, const void *base)
{
    const ly_event *ev = base;
    (void)fid;
    e->e_fail |= msgpack_pack_bin(&e->e_pk, ev->ev_blob_len);
    e->e_fail |= msgpack_pack_bin_body(&e->e_pk, ev->ev_blob, ev->ev_blob_len);
    return LY_OK;
}

static const lyp_map s_event_map = {s_event_tab, LYP_COUNT(s_event_tab), NULL, s_event_dec,
                                    s_event_enc};

ly_err lyp_events_dec(lyp_dec *d, const lyp_obj *v, const char *name, uint32_t max, ly_event **out,
                      uint32_t *n)
{
    if (v->o_type != LYP_ARRAY)
        return lyp_fail(&d->d_w, LY_EPROTO, name, "expected an array, got %s",
                        lyp_otype_names[v->o_type]);
    if (v->o_u > max)
        return lyp_fail(&d->d_w, LY_EPROTO, name, "more than %u entries", (unsigned)max);
    if (v->o_u == 0)
        return LY_OK;
    /* A valid event takes LYP_EVENT_MIN bytes at least: nothing is allocated
     * for events the array's bytes cannot hold (the pre-scan has checked
     * that the array ends inside the frame). */
    lyp_rd probe = d->d_rd;
    if (lyp_skip_children(&probe, v) != 0)
        return lyp_trunc(d);
    size_t span = probe.r_pos - d->d_rd.r_pos;
    if (v->o_u > span / LYP_EVENT_MIN)
        return lyp_fail(&d->d_w, LY_EPROTO, name, "%llu events cannot fit in %zu bytes",
                        (unsigned long long)v->o_u, span);
    ly_event *evs = calloc((size_t)v->o_u, sizeof *evs);
    if (evs == NULL)
        return lyp_fail(&d->d_w, LY_ENOMEM, name, "out of memory");
    *out = evs;
    *n = (uint32_t)v->o_u;
    for (uint32_t i = 0; i < *n; i++) {
        lyp_obj el;
        if (lyp_head(&d->d_rd, &el) != LYP_HEAD_OK)
            return lyp_trunc(d);
        ly_err rc = lyp_dec_submap(d, &s_event_map, &el, name, (long)i, &evs[i], NULL, NULL);
        if (rc != LY_OK)
            return rc;
        if (ly_event_validate(&evs[i]) != LY_OK)
            return lyp_fail(&d->d_w, LY_EINVAL, NULL, "%s[%u]: not a valid event", name, i);
    }
    return LY_OK;
}

ly_err lyp_events_enc(lyp_enc *e, const char *name, const ly_event *evs, uint32_t n, uint32_t max)
{
    if (n > max)
        return lyp_fail(&e->e_w, LY_EINVAL, name, "more than %u entries", (unsigned)max);
    if (n > 0 && evs == NULL)
        return lyp_fail(&e->e_w, LY_EINVAL, name, "no event array");
    e->e_fail |= msgpack_pack_array(&e->e_pk, n);
    for (uint32_t i = 0; i < n; i++) {
        if (ly_event_validate(&evs[i]) != LY_OK)
            return lyp_fail(&e->e_w, LY_EINVAL, NULL, "%s[%u]: not a valid event", name, i);
        uint64_t mask = lyp_enc_mask(&s_event_map, &evs[i], LYP_ALL(s_event_map.m_n));
        if (evs[i].ev_blob_len == 0)
            mask &= ~LYP_BIT(S_EV_BLOB);
        ly_err rc = lyp_enc_map(e, &s_event_map, &evs[i], mask);
        if (rc != LY_OK)
            return rc;
    }
    return LY_OK;
}
