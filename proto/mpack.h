/* mpack.h -- the msgpack machinery shared by the client codec (codec.c) and the
 * peer codec (peer.c). Private to proto/: nothing outside this directory
 * includes it, and only proto/ includes msgpack.h.
 *
 * Decoding does not use msgpack-c's unpacker. A frame is first pre-scanned
 * without allocating (lyp_dec_start: every header read with bounds checks,
 * reserved byte 0xc1 refused, declared lengths and element counts checked
 * against the bytes left, nesting bounded by LYP_DEPTH_MAX, exactly one object
 * and no trailing bytes, size at most the protocol's frame limit); then a small
 * reader (lyp_head) walks the validated bytes and copies what it needs into the
 * structs. Encoding uses msgpack-c's packer into an msgpack_sbuffer.
 *
 * Messages are described by field tables (lyp_field, lyp_map): the same table
 * drives the decoder, the encoder and the validation both share
 * (lyp_check_fields), so a value the decoder refuses is also a value the
 * encoder refuses. Fields the table cannot describe (arrays, nested maps, "v"
 * and "t") are LYP_K_SPECIAL and handled by the map's callbacks.
 *
 * Every function that fails writes a reason into the lyp_why it is given and
 * returns the error: LY_EPROTO for structure and types, LY_EINVAL for values
 * out of contract, LY_ETOOBIG, LY_EVERSION, LY_ENOMEM. */
#ifndef LY_MPACK_H
#define LY_MPACK_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/event.h"

#define LYP_DEPTH_MAX 8    /* container nesting; the deepest message (status) needs 4 */
#define LYP_ENC_FIRST 1024 /* bytes of an encoder's first buffer */

/* The fewest bytes a valid event map can take: it needs at least the keys
 * origin, seq, hlc, type and customer with nonzero / nonempty values (36
 * bytes). An events array declaring more events than its bytes can hold at
 * this size is refused before anything is allocated for it. */
#define LYP_EVENT_MIN 32

/* ---- reasons ------------------------------------------------------------ */

typedef struct lyp_why {
    char *w_buf; /* may be NULL */
    size_t w_len;
    char w_where[48]; /* path of the map being read or written ("history[3]"), "" at the top */
} lyp_why;

/* Writes "[where: ][field 'name': ]message" into the reason buffer; returns rc. */
__attribute__((format(printf, 4, 5))) ly_err lyp_fail(lyp_why *w, ly_err rc, const char *field,
                                                      const char *fmt, ...);

/* Enters a nested map for reasons; the previous path is saved into `saved`
 * (sizeof w_where bytes). */
void lyp_where_push(lyp_why *w, char *saved, const char *name, long index);
void lyp_where_pop(lyp_why *w, const char *saved);

/* ---- reader ------------------------------------------------------------- */

enum lyp_otype {
    LYP_NIL,
    LYP_BOOL,
    LYP_UINT,
    LYP_NEG,
    LYP_FLOAT,
    LYP_STR,
    LYP_BIN,
    LYP_EXT,
    LYP_ARRAY,
    LYP_MAP
};

/* "a string", "nil"...: for reasons, indexed by lyp_otype. */
extern const char *const lyp_otype_names[];

typedef struct lyp_obj {
    int o_type;
    uint64_t o_u;         /* UINT: value; BOOL: 0/1; STR/BIN/EXT: bytes; ARRAY/MAP: elements */
    int64_t o_i;          /* NEG: value (< 0) */
    const uint8_t *o_ptr; /* STR/BIN/EXT: payload, inside the frame */
} lyp_obj;

typedef struct lyp_rd {
    const uint8_t *r_buf;
    size_t r_len;
    size_t r_pos;
} lyp_rd;

enum { LYP_HEAD_OK = 0, LYP_HEAD_TRUNC, LYP_HEAD_C1, LYP_HEAD_TOOLONG };

/* Reads the header of one object at the cursor. Scalars and the payloads of
 * str/bin/ext are consumed whole; for an array or map the cursor stops at the
 * first element. Checks bounds: a length or element count larger than the bytes
 * left is LYP_HEAD_TOOLONG (every element takes at least one byte). */
int lyp_head(lyp_rd *r, lyp_obj *o);

/* Skips the elements of the array or map whose header `o` was just read
 * (nothing for a scalar); 0 or -1 if the frame ends first. */
int lyp_skip_children(lyp_rd *r, const lyp_obj *o);

/* Skips one whole object; 0 or -1. */
int lyp_skip(lyp_rd *r);

/* 1 if the string object `k` holds exactly `name`. */
int lyp_keyeq(const lyp_obj *k, const char *name);

/* ---- field tables ------------------------------------------------------- */

enum lyp_kind {
    LYP_K_U,      /* unsigned integer field of f_size bytes, f_lo..f_hi */
    LYP_K_I,      /* signed integer field of f_size bytes, f_lo..f_hi */
    LYP_K_BOOL,   /* uint8_t 0/1 */
    LYP_K_STR,    /* char[f_cap + 1] */
    LYP_K_SPECIAL /* handled by the map's callbacks */
};

enum lyp_chk {
    LYP_C_ANY,    /* any string without NUL (the owner validates it further) */
    LYP_C_ID,     /* an id: ly_id_valid, at most f_cap bytes */
    LYP_C_IDE,    /* an id or empty */
    LYP_C_TEXT,   /* ly_text_valid: UTF-8 without control characters, may be empty */
    LYP_C_TEXTNE, /* as LYP_C_TEXT, not empty */
    LYP_C_DATE,   /* YYYY-MM-DD or empty */
    LYP_C_NAME,   /* a node name: 1..f_cap bytes of [A-Za-z0-9._-] */
    LYP_C_EP      /* an endpoint (ly_endpoint_valid) or empty */
};

typedef struct lyp_field {
    const char *f_name; /* the wire key */
    uint8_t f_kind;     /* lyp_kind */
    uint8_t f_size;     /* K_U, K_I, K_BOOL: bytes of the C field */
    uint8_t f_chk;      /* K_STR: lyp_chk */
    uint8_t f_omit;     /* the encoder leaves the key out when the string is empty (K_STR)
                         * or the integer is 0 (K_U, K_I) */
    uint16_t f_cap;     /* K_STR: most bytes, NUL excluded */
    uint32_t f_bit;     /* profile fields: the LY_PF_* bit the key stands for */
    size_t f_off;       /* offset in the struct the table describes */
    int64_t f_lo;       /* K_U, K_I: least value */
    uint64_t f_hi;      /* K_U, K_I: greatest value */
} lyp_field;

#define LYP_MSIZE(T, m) sizeof(((T *)0)->m)
/* Unsigned, the whole range of the C field. */
#define LYP_FU(n, T, m)                                                                            \
    {                                                                                              \
        .f_name = n, .f_kind = LYP_K_U, .f_size = LYP_MSIZE(T, m), .f_off = offsetof(T, m),        \
        .f_hi = UINT64_MAX >> (64 - 8 * LYP_MSIZE(T, m))                                           \
    }
/* Unsigned, the whole range of the C field; the encoder leaves it out when 0. */
#define LYP_FUO(n, T, m)                                                                           \
    {                                                                                              \
        .f_name = n, .f_kind = LYP_K_U, .f_size = LYP_MSIZE(T, m), .f_off = offsetof(T, m),        \
        .f_hi = UINT64_MAX >> (64 - 8 * LYP_MSIZE(T, m)), .f_omit = 1                              \
    }
/* Unsigned, lo..hi (within the C field's range). */
#define LYP_FUR(n, T, m, lo, hi)                                                                   \
    {                                                                                              \
        .f_name = n, .f_kind = LYP_K_U, .f_size = LYP_MSIZE(T, m), .f_off = offsetof(T, m),        \
        .f_lo = lo, .f_hi = hi                                                                     \
    }
/* Signed, the whole range of the C field. */
#define LYP_FI(n, T, m)                                                                            \
    {                                                                                              \
        .f_name = n, .f_kind = LYP_K_I, .f_size = LYP_MSIZE(T, m), .f_off = offsetof(T, m),        \
        .f_lo = -(int64_t)(UINT64_MAX >> (65 - 8 * LYP_MSIZE(T, m))) - 1,                          \
        .f_hi = UINT64_MAX >> (65 - 8 * LYP_MSIZE(T, m))                                           \
    }
/* Signed, lo..hi (within the C field's range). */
#define LYP_FIR(n, T, m, lo, hi)                                                                   \
    {                                                                                              \
        .f_name = n, .f_kind = LYP_K_I, .f_size = LYP_MSIZE(T, m), .f_off = offsetof(T, m),        \
        .f_lo = lo, .f_hi = hi                                                                     \
    }
#define LYP_FB(n, T, m)                                                                            \
    {                                                                                              \
        .f_name = n, .f_kind = LYP_K_BOOL, .f_size = 1, .f_off = offsetof(T, m), .f_hi = 1         \
    }
#define LYP_FS(n, T, m, chk, omit)                                                                 \
    {                                                                                              \
        .f_name = n, .f_kind = LYP_K_STR, .f_chk = chk, .f_omit = omit,                            \
        .f_cap = LYP_MSIZE(T, m) - 1, .f_off = offsetof(T, m)                                      \
    }
/* A profile field: a string standing for LY_PF_* bit `bit`. */
#define LYP_FP(n, T, m, chk, omit, bit)                                                            \
    {                                                                                              \
        .f_name = n, .f_kind = LYP_K_STR, .f_chk = chk, .f_omit = omit,                            \
        .f_cap = LYP_MSIZE(T, m) - 1, .f_off = offsetof(T, m), .f_bit = bit                        \
    }
#define LYP_FX(n)                                                                                  \
    {                                                                                              \
        .f_name = n, .f_kind = LYP_K_SPECIAL                                                       \
    }
#define LYP_BIT(fid) (1ULL << (fid))
#define LYP_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))
/* Every field of a table of `n` entries. */
#define LYP_ALL(n) (LYP_BIT(n) - 1)

typedef struct lyp_dec lyp_dec;
typedef struct lyp_enc lyp_enc;

/* A map described by a table (at most 63 fields). */
typedef struct lyp_map {
    const lyp_field *m_tab;
    int m_n;
    /* Optional: narrows the range of an integer field for message type `type`. */
    void (*m_range)(int type, int fid, int64_t *lo, uint64_t *hi, int *nonzero);
    /* LYP_K_SPECIAL fields: decode the value whose header is `v`; encode the key's value. */
    ly_err (*m_dec)(lyp_dec *d, int fid, const lyp_obj *v, void *base);
    ly_err (*m_enc)(lyp_enc *e, int fid, const void *base);
} lyp_map;

/* What differs between the protocols (and between requests and replies). */
typedef struct lyp_proto {
    size_t p_frame_max;                      /* larger frames: LY_ETOOBIG */
    uint64_t p_version;                      /* the only "v" accepted and the one written */
    int p_strict;                            /* 1: unknown keys refused; 0: skipped (replies) */
    const char *(*p_type_name)(int type);    /* wire name of a type, or NULL */
    int (*p_type_from_name)(const char *nm); /* type of a wire name, or 0 */
} lyp_proto;

struct lyp_dec {
    const lyp_proto *d_proto;
    lyp_rd d_rd;
    lyp_why d_w;
    int d_type; /* message type (per-type ranges, reasons) */
    int d_ok;   /* client reply: value of "ok" */
};

struct lyp_enc {
    const lyp_proto *e_proto;
    msgpack_sbuffer e_sb;
    msgpack_packer e_pk;
    int e_fail; /* a pack call failed (out of memory) */
    lyp_why e_w;
    int e_type;
};

/* ---- validation shared by the encoders and the decoders ----------------- */

/* Checks the fields of `base` selected by `mask` against the table (string
 * syntax and length, integer ranges for message type `type`); LYP_K_SPECIAL
 * fields are checked by their own code. LY_EINVAL names the first bad field. */
ly_err lyp_check_fields(lyp_why *w, const lyp_map *m, int type, const void *base, uint64_t mask);

/* Replaces every byte of `src` that is not part of valid text (see
 * ly_text_valid) by '?'; `dst` has room for strlen(src) + 1 bytes. */
void lyp_sanitize(char *dst, const char *src);

/* ---- decoding ----------------------------------------------------------- */

/* Pre-scans the frame (see the top of this file) and reads the header of its
 * top-level map: *n receives its entry count. `why` (may be NULL) is cleared. */
ly_err lyp_dec_start(lyp_dec *d, const lyp_proto *p, const uint8_t *buf, size_t len, char *why,
                     size_t why_len, uint64_t *n);

/* Version and type: the first look at a top-level map of `n` entries, before
 * strict decoding, so that a message of another protocol version is reported
 * as LY_EVERSION whatever else it holds. The cursor is left where it was.
 * *type is 0 when "t" is absent and not required. */
ly_err lyp_dec_vt(lyp_dec *d, uint64_t n, int type_required, int *type);

/* "truncated message" (cannot happen after the pre-scan; handled all the same). */
ly_err lyp_trunc(lyp_dec *d);

/* Decodes the `n` entries of a map (its header already read) into `base`.
 * Keys must be strings; a key of the table outside `allowed`, a duplicate, and
 * (for a strict protocol) an unknown key are LY_EPROTO. *seen (may be NULL)
 * receives the keys read; *fields (may be NULL) gets the f_bit of each key
 * read. The values read are then checked with lyp_check_fields. */
ly_err lyp_dec_map(lyp_dec *d, const lyp_map *m, uint64_t n, void *base, uint64_t allowed,
                   uint64_t *seen, uint32_t *fields);

/* Decodes the nested map whose header is `v` with `m` (every key allowed);
 * reasons name it `name` (`name[index]` when index >= 0). */
ly_err lyp_dec_submap(lyp_dec *d, const lyp_map *m, const lyp_obj *v, const char *name, long index,
                      void *base, uint64_t *seen, uint32_t *fields);

/* Decodes the array of event maps whose header is `v`, under key `name`: at
 * most `max` events (else LY_EPROTO), and no more than the array's bytes can
 * hold at LYP_EVENT_MIN bytes each (LY_EPROTO), checked before the array of
 * count x sizeof(ly_event) is allocated (LY_ENOMEM). Every event is checked
 * with ly_event_validate (LY_EINVAL "name[i]: not a valid event"). *out and *n
 * are set as soon as the array exists, so the caller frees it on error too;
 * an empty array leaves them NULL and 0. */
ly_err lyp_events_dec(lyp_dec *d, const lyp_obj *v, const char *name, uint32_t max, ly_event **out,
                      uint32_t *n);

/* ---- encoding ----------------------------------------------------------- */

void lyp_enc_init(lyp_enc *e, const lyp_proto *p, int type, char *why, size_t why_len);

/* Hands the buffer over on success (*out, caller frees); frees it otherwise.
 * `rc` is the result so far; LY_ENOMEM if a pack call failed, LY_ETOOBIG over
 * the protocol's frame limit. */
ly_err lyp_enc_finish(lyp_enc *e, ly_err rc, uint8_t **out, size_t *len);

void lyp_pack_str(lyp_enc *e, const char *s, size_t n);
void lyp_pack_key(lyp_enc *e, const char *key);

/* Fields of `base` selected by `all` that the encoder writes: f_omit fields
 * are left out when empty (strings) or 0 (integers). */
uint64_t lyp_enc_mask(const lyp_map *m, const void *base, uint64_t all);

/* Checks then writes the fields of `base` selected by `mask`, as one map. */
ly_err lyp_enc_map(lyp_enc *e, const lyp_map *m, const void *base, uint64_t mask);

/* Writes `n` events (at most `max`, each valid by ly_event_validate, else
 * LY_EINVAL) as an array of event maps: every integer field but "to" (only a
 * transfer has one, and it is written only there, so an event of any other
 * type has the same bytes as before transfers existed), the strings that are
 * not empty. `name` is the key, for reasons. */
ly_err lyp_events_enc(lyp_enc *e, const char *name, const ly_event *evs, uint32_t n, uint32_t max);

#endif
