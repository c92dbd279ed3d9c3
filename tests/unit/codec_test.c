/* codec_test.c -- the client protocol codec: round trips of every message type,
 * and every kind of bad input from ROBUSTNESS.md refused with the right error,
 * without large allocations. Frames are built with msgpack-c's packer. */
#include <criterion/criterion.h>
#include <malloc.h>
#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"
#include "proto/msg.h"
#include "tests/support/events.h"

/* ---- frame building ----------------------------------------------------- */

enum { V_U, V_I, V_S, V_NIL, V_F, V_BIN, V_TRUE, V_ARR0, V_MAP0, V_DEL };

/* One map entry of a test frame. V_S takes `n` bytes of `s` (n == 0: strlen). */
typedef struct kv {
    const char *k;
    int t;
    uint64_t u;
    int64_t i;
    const char *s;
    size_t n;
} kv;

#define KU(k, v)                                                                                   \
    {                                                                                              \
        k, V_U, (uint64_t)(v), 0, NULL, 0                                                          \
    }
#define KI(k, v)                                                                                   \
    {                                                                                              \
        k, V_I, 0, (int64_t)(v), NULL, 0                                                           \
    }
#define KS(k, v)                                                                                   \
    {                                                                                              \
        k, V_S, 0, 0, v, 0                                                                         \
    }
#define KSN(k, v, len)                                                                             \
    {                                                                                              \
        k, V_S, 0, 0, v, len                                                                       \
    }
#define KT(k, t)                                                                                   \
    {                                                                                              \
        k, t, 0, 0, NULL, 0                                                                        \
    }
#define KEND                                                                                       \
    {                                                                                              \
        NULL, 0, 0, 0, NULL, 0                                                                     \
    }

typedef struct frame {
    uint8_t *buf;
    size_t len;
} frame;

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_val(msgpack_packer *pk, const kv *e)
{
    switch (e->t) {
    case V_U:
        msgpack_pack_uint64(pk, e->u);
        break;
    case V_I:
        msgpack_pack_int64(pk, e->i);
        break;
    case V_S:
        pack_str(pk, e->s, e->n ? e->n : strlen(e->s));
        break;
    case V_NIL:
        msgpack_pack_nil(pk);
        break;
    case V_F:
        msgpack_pack_double(pk, 12.5);
        break;
    case V_BIN:
        msgpack_pack_bin(pk, 2);
        msgpack_pack_bin_body(pk, "C1", 2);
        break;
    case V_TRUE:
        msgpack_pack_true(pk);
        break;
    case V_ARR0:
        msgpack_pack_array(pk, 0);
        break;
    case V_MAP0:
        msgpack_pack_map(pk, 0);
        break;
    }
}

static size_t kv_count(const kv *l)
{
    size_t n = 0;
    while (l && l[n].k)
        n++;
    return n;
}

static const kv *kv_find(const kv *l, const char *k)
{
    for (size_t i = 0; l && l[i].k; i++)
        if (strcmp(l[i].k, k) == 0)
            return &l[i];
    return NULL;
}

/* A map of `base`, with the entries of `over` replacing (or, V_DEL, removing)
 * the entries of the same key and the others appended. */
static frame mk(const kv *base, const kv *over)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    size_t n = 0;
    for (size_t i = 0; i < kv_count(base); i++) {
        const kv *o = kv_find(over, base[i].k);
        n += !(o && o->t == V_DEL);
    }
    for (size_t i = 0; i < kv_count(over); i++)
        n += !kv_find(base, over[i].k) && over[i].t != V_DEL;
    msgpack_pack_map(&pk, n);
    for (size_t i = 0; i < kv_count(base); i++) {
        const kv *o = kv_find(over, base[i].k);
        if (o && o->t == V_DEL)
            continue;
        pack_str(&pk, base[i].k, strlen(base[i].k));
        pack_val(&pk, o ? o : &base[i]);
    }
    for (size_t i = 0; i < kv_count(over); i++) {
        if (kv_find(base, over[i].k) || over[i].t == V_DEL)
            continue;
        pack_str(&pk, over[i].k, strlen(over[i].k));
        pack_val(&pk, &over[i]);
    }
    frame f = {(uint8_t *)sb.data, sb.size};
    return f;
}

static frame raw(const void *bytes, size_t n)
{
    frame f = {malloc(n ? n : 1), n};
    memcpy(f.buf, bytes, n);
    return f;
}

/* mk(base, NULL) with one more entry: the key `key` (a fixstr, shorter than
 * 32 bytes) and, as its value, the `n` raw msgpack bytes of `val`. */
static frame mk_plus(const kv *base, const char *key, const void *val, size_t n)
{
    size_t kn = strlen(key);
    cr_assert_lt(kn, 32);
    frame f = mk(base, NULL);
    f.buf[0]++; /* one more entry in the fixmap */
    f.buf = realloc(f.buf, f.len + 1 + kn + n);
    cr_assert_not_null(f.buf);
    f.buf[f.len] = (uint8_t)(0xa0 | kn);
    memcpy(f.buf + f.len + 1, key, kn);
    if (n)
        memcpy(f.buf + f.len + 1 + kn, val, n);
    f.len += 1 + kn + n;
    return f;
}

/* mk_plus with a value of `n` (< 65536) empty maps in an array16. */
static frame mk_plus_maps(const kv *base, const char *key, size_t n)
{
    uint8_t *val = malloc(3 + n);
    cr_assert_not_null(val);
    val[0] = 0xdc;
    val[1] = (uint8_t)(n >> 8);
    val[2] = (uint8_t)n;
    memset(val + 3, 0x80, n);
    frame f = mk_plus(base, key, val, 3 + n);
    free(val);
    return f;
}

/* A value given as raw msgpack bytes, and what decoding must say of it:
 * `code`, and a reason containing `part` (if not NULL). */
typedef struct raw_case {
    const uint8_t *bytes;
    size_t n;
    ly_err code;
    const char *part;
} raw_case;

static void expect_rep(frame f, ly_err code, const char *part, const char *what);

/* Each case as the value of `key` appended to `base` (mk_plus), decoded as a
 * reply (expect_rep), named "<label> case <index>". */
static void expect_rep_cases(const kv *base, const char *key, const raw_case *rows, size_t n,
                             const char *label)
{
    for (size_t i = 0; i < n; i++) {
        char what[64];
        snprintf(what, sizeof what, "%s case %zu", label, i);
        expect_rep(mk_plus(base, key, rows[i].bytes, rows[i].n), rows[i].code, rows[i].part, what);
    }
}

static const kv k_earn[] = {
    KU("v", 1),         KS("t", "earn"),        KU("id", 7), KS("customer", "C1"), KS("txn", "T1"),
    KI("amount", 1299), KS("category", "food"), KEND};

static size_t heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

/* Decodes `f` as a request, expects `code` (and `why` containing `part`, if
 * not NULL), and checks that decoding allocated nothing. Frees the frame. */
static void expect_req(frame f, ly_err code, const char *part, const char *what)
{
    ly_req rq;
    char why[256] = "unset";
    size_t before = heap_used();
    ly_err rc = ly_req_decode(f.buf, f.len, &rq, why, sizeof why);
    size_t after = heap_used();
    cr_expect_eq(rc, code, "%s: got %s (%s), want %s", what, ly_errname(rc), why, ly_errname(code));
    if (part)
        cr_expect(strstr(why, part) != NULL, "%s: reason '%s' lacks '%s'", what, why, part);
    if (code != LY_OK)
        cr_expect(why[0] != '\0', "%s: no reason given", what);
    cr_expect(after <= before, "%s: decoding a request allocated %zu bytes", what, after - before);
    free(f.buf);
}

/* Same for replies: allocation bounded by the events a reply may hold. */
static void expect_rep(frame f, ly_err code, const char *part, const char *what)
{
    ly_rep *rp = malloc(sizeof *rp);
    char why[256] = "unset";
    size_t before = heap_used();
    ly_err rc = ly_rep_decode(f.buf, f.len, rp, why, sizeof why);
    size_t after = heap_used();
    cr_expect_eq(rc, code, "%s: got %s (%s), want %s", what, ly_errname(rc), why, ly_errname(code));
    if (part)
        cr_expect(strstr(why, part) != NULL, "%s: reason '%s' lacks '%s'", what, why, part);
    cr_expect(after < before + LY_EVENTS_MAX * sizeof(ly_event) + 4096,
              "%s: decoding a reply allocated %zu bytes", what, after - before);
    ly_rep_fini(rp);
    free(rp);
    free(f.buf);
}

/* ---- names and helpers -------------------------------------------------- */

Test(msg, names)
{
    const char *names[] = {NULL,     "enroll",    "earn",          "redeem",  "reverse",
                           "adjust", "customer",  "set-profile",   "status",  "events",
                           "debts",  "conflicts", "program-apply", "program", "tier"};
    for (int t = 1; t <= LY_MSG_TYPE_MAX; t++) {
        cr_assert_str_eq(ly_msgtype_name(t), names[t]);
        cr_assert_eq(ly_msgtype_from_name(names[t]), t);
    }
    cr_assert_null(ly_msgtype_name(0));
    cr_assert_null(ly_msgtype_name(LY_MSG_TYPE_MAX + 1));
    cr_assert_null(ly_msgtype_name(-1));
    cr_assert_eq(ly_msgtype_from_name("Earn"), 0);
    cr_assert_eq(ly_msgtype_from_name(""), 0);
    cr_assert_eq(ly_msgtype_from_name(NULL), 0);
    int mut[] = {0, 1, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 1};
    for (int t = 0; t <= LY_MSG_TYPE_MAX; t++)
        cr_assert_eq(ly_msgtype_is_mutation(t), mut[t], "type %d", t);
}

Test(msg, rep_error)
{
    ly_rep rp;
    ly_rep_init(&rp);
    ly_rep_error(&rp, LY_MSG_REDEEM, 9, LY_EINSUFFICIENT, NULL);
    cr_assert_eq(rp.rp_type, LY_MSG_REDEEM);
    cr_assert_eq(rp.rp_id, 9);
    cr_assert_eq(rp.rp_err, LY_EINSUFFICIENT);
    cr_assert_str_eq(rp.rp_message, ly_strerror(LY_EINSUFFICIENT));
    ly_rep_error(&rp, LY_MSG_REDEEM, 9, LY_EINSUFFICIENT, "only %d points", 40);
    cr_assert_str_eq(rp.rp_message, "only 40 points");
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ly_rep_error(&rp, 1, 1, LY_EINVAL, "%s", big);
    cr_assert_eq(strlen(rp.rp_message), sizeof rp.rp_message - 1);
    ly_rep_fini(&rp);
    ly_rep_fini(&rp);
    ly_rep_fini(NULL);
}

/* ---- request round trips ------------------------------------------------ */

static void req_roundtrip(const ly_req *in)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char why[256] = "";
    cr_assert_eq(ly_req_check(in, why, sizeof why), LY_OK, "check: %s", why);
    cr_assert_eq(ly_req_encode(in, &buf, &len), LY_OK, "type %d", in->rq_type);
    cr_assert(len > 0 && len <= LY_FRAME_MAX);
    ly_req out;
    ly_err rc = ly_req_decode(buf, len, &out, why, sizeof why);
    cr_assert_eq(rc, LY_OK, "type %d: %s (%s)", in->rq_type, ly_errname(rc), why);
    cr_assert_str_eq(why, "");
    cr_assert(memcmp(in, &out, sizeof out) == 0, "type %d: decoded request differs", in->rq_type);
    cr_assert_eq(ly_req_peek_id(buf, len), in->rq_id);
    free(buf);
}

Test(req, roundtrip_every_type)
{
    ly_req rq;

    ly_req_init(&rq, LY_MSG_ENROLL);
    rq.rq_id = 1;
    strcpy(rq.rq_customer, "C-001");
    strcpy(rq.rq_txn, "pos1:0001");
    req_roundtrip(&rq);
    rq.rq_fields = LY_PF_ALL;
    strcpy(rq.rq_profile.pf_name, "Zoë Ångström");
    strcpy(rq.rq_profile.pf_birthday, "1990-02-28");
    strcpy(rq.rq_profile.pf_email, "zoe@example.com");
    strcpy(rq.rq_profile.pf_phone, "+46 70 123 45 67");
    strcpy(rq.rq_profile.pf_prefs, "no paper receipts");
    req_roundtrip(&rq);

    ly_req_init(&rq, LY_MSG_EARN);
    rq.rq_id = UINT64_MAX;
    strcpy(rq.rq_customer, "C1");
    strcpy(rq.rq_txn, "T1");
    rq.rq_amount = LY_AMOUNT_MAX;
    req_roundtrip(&rq);
    strcpy(rq.rq_category, "food");
    rq.rq_amount = 1;
    req_roundtrip(&rq);

    ly_req_init(&rq, LY_MSG_REDEEM);
    rq.rq_id = 3;
    strcpy(rq.rq_customer, "C1");
    strcpy(rq.rq_txn, "T2");
    rq.rq_amount = 500;
    req_roundtrip(&rq);

    ly_req_init(&rq, LY_MSG_REVERSE);
    rq.rq_id = 4;
    strcpy(rq.rq_txn, "T3");
    strcpy(rq.rq_ref_txn, "T1");
    req_roundtrip(&rq);
    rq.rq_amount = 250;
    req_roundtrip(&rq);

    ly_req_init(&rq, LY_MSG_ADJUST);
    rq.rq_id = 5;
    strcpy(rq.rq_customer, "C1");
    strcpy(rq.rq_txn, "T4");
    rq.rq_amount = -LY_AMOUNT_MAX;
    strcpy(rq.rq_reason, "goodwill: late delivery");
    strcpy(rq.rq_operator, "alice@branch1");
    req_roundtrip(&rq);

    ly_req_init(&rq, LY_MSG_CUSTOMER);
    rq.rq_id = 6;
    strcpy(rq.rq_customer, "C1");
    req_roundtrip(&rq);
    rq.rq_limit = LY_HIST_MAX;
    req_roundtrip(&rq);

    ly_req_init(&rq, LY_MSG_SET_PROFILE);
    rq.rq_id = 7;
    strcpy(rq.rq_customer, "C1");
    strcpy(rq.rq_txn, "T5");
    rq.rq_fields = LY_PF_EMAIL | LY_PF_BIRTHDAY;
    strcpy(rq.rq_profile.pf_email, "");
    strcpy(rq.rq_profile.pf_birthday, "2000-02-29");
    req_roundtrip(&rq);

    ly_req_init(&rq, LY_MSG_STATUS);
    rq.rq_id = 8;
    req_roundtrip(&rq);

    ly_req_init(&rq, LY_MSG_EVENTS);
    rq.rq_id = 9;
    req_roundtrip(&rq);
    rq.rq_origin = 65535;
    rq.rq_since = UINT64_MAX;
    rq.rq_limit = LY_EVENTS_MAX;
    req_roundtrip(&rq);

    ly_req_init(&rq, LY_MSG_DEBTS);
    rq.rq_id = 10;
    req_roundtrip(&rq); /* the first page, the default count */
    rq.rq_limit = LY_DEBTS_MAX;
    req_roundtrip(&rq);
    strcpy(rq.rq_customer, "C-0042"); /* the page after C-0042 */
    req_roundtrip(&rq);
    rq.rq_limit = 1;
    memset(rq.rq_customer, 'z', LY_ID_MAX);
    req_roundtrip(&rq);
}

Test(req, decode_handwritten_frame)
{
    frame f = mk(k_earn, NULL);
    ly_req rq;
    char why[128];
    cr_assert_eq(ly_req_decode(f.buf, f.len, &rq, why, sizeof why), LY_OK, "%s", why);
    cr_assert_eq(rq.rq_type, LY_MSG_EARN);
    cr_assert_eq(rq.rq_id, 7);
    cr_assert_str_eq(rq.rq_customer, "C1");
    cr_assert_str_eq(rq.rq_txn, "T1");
    cr_assert_eq(rq.rq_amount, 1299);
    cr_assert_str_eq(rq.rq_category, "food");
    free(f.buf);

    /* Integers may come in any msgpack width, signed forms included. */
    static const uint8_t small[] = {
        0x86, 0xa1, 'v', 0xd0, 0x01, 0xa1, 't',  0xa4, 'e', 'a',  'r',  'n',  0xa2, 'i',
        'd',  0xd3, 0,   0,    0,    0,    0,    0,    0,   0x2a, 0xa8, 'c',  'u',  's',
        't',  'o',  'm', 'e',  'r',  0xd9, 0x02, 'C',  '1', 0xa3, 't',  'x',  'n',  0xda,
        0x00, 0x02, 'T', '1',  0xa6, 'a',  'm',  'o',  'u', 'n',  't',  0xcd, 0x01, 0x00};
    cr_assert_eq(ly_req_decode(small, sizeof small, &rq, why, sizeof why), LY_OK, "%s", why);
    cr_assert_eq(rq.rq_id, 42);
    cr_assert_eq(rq.rq_amount, 256);
    /* A NULL reason buffer is fine. */
    cr_assert_eq(ly_req_decode(small, sizeof small, &rq, NULL, 0), LY_OK);
}

/* ---- bad requests: structure -------------------------------------------- */

Test(req_bad, empty_and_oversized)
{
    expect_req(raw("", 0), LY_EPROTO, "empty", "empty frame");
    ly_req rq;
    cr_assert_eq(ly_req_decode(NULL, 0, &rq, NULL, 0), LY_EPROTO);

    /* A well-formed frame over the limit: one huge string value. */
    size_t n = LY_FRAME_MAX + 1 - 12;
    char *big = malloc(n);
    memset(big, 'a', n);
    kv over[] = {KSN("category", big, n), KEND};
    frame f = mk(k_earn, over);
    cr_assert(f.len > LY_FRAME_MAX);
    expect_req(f, LY_ETOOBIG, "limit", "frame over LY_FRAME_MAX");
    free(big);
}

Test(req_bad, huge_declared_counts)
{
    static const struct {
        const char *what;
        uint8_t bytes[6];
        size_t n;
    } cases[] = {
        {"array32 of 2^32-1", {0xdd, 0xff, 0xff, 0xff, 0xff}, 5},
        {"map32 of 2^32-1", {0xdf, 0xff, 0xff, 0xff, 0xff}, 5},
        {"map16 of 65535", {0xde, 0xff, 0xff}, 3},
        {"array16 of 65535", {0xdc, 0xff, 0xff}, 3},
        {"str32 of 4 GiB", {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}, 6},
        {"bin32 of 4 GiB", {0xc6, 0xff, 0xff, 0xff, 0xff, 'a'}, 6},
        {"ext32 of 4 GiB", {0xc9, 0xff, 0xff, 0xff, 0xff, 1}, 6},
        {"fixmap of 15 with nothing", {0x8f}, 1},
        {"map of 1 with half an entry", {0x81, 0xa1}, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_req(raw(cases[i].bytes, cases[i].n), LY_EPROTO, NULL, cases[i].what);

    /* The same inside a valid-looking request. */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    pack_str(&pk, "v", 1);
    msgpack_pack_uint8(&pk, 1);
    pack_str(&pk, "x", 1);
    static const uint8_t tail[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
    msgpack_sbuffer_write(&sb, (const char *)tail, sizeof tail);
    frame f = {(uint8_t *)sb.data, sb.size};
    expect_req(f, LY_EPROTO, "larger than the frame", "nested array32 of 2^32-1");
}

static frame nested(size_t levels, uint8_t opener)
{
    frame f = {malloc(levels + 2), levels + 1};
    memset(f.buf, opener, levels);
    f.buf[levels] = 0x01;
    return f;
}

Test(req_bad, deep_nesting)
{
    expect_req(nested(33, 0x91), LY_EPROTO, "nesting", "33 nested arrays");
    expect_req(nested(10000, 0x91), LY_EPROTO, "nesting", "10000 nested arrays");
    /* Maps: {"a": {"a": ... 1}} */
    size_t levels = 10000;
    frame f = {malloc(levels * 3 + 1), levels * 3 + 1};
    for (size_t i = 0; i < levels; i++) {
        f.buf[3 * i] = 0x81;
        f.buf[3 * i + 1] = 0xa1;
        f.buf[3 * i + 2] = 'a';
    }
    f.buf[levels * 3] = 0x01;
    expect_req(f, LY_EPROTO, "nesting", "10000 nested maps");
    /* Eight levels are structurally fine; this is then not a map. */
    expect_req(nested(8, 0x91), LY_EPROTO, "not a map", "8 nested arrays");
    expect_req(nested(9, 0x91), LY_EPROTO, "nesting", "9 nested arrays");
}

Test(req_bad, reserved_byte_c1)
{
    static const uint8_t top[] = {0xc1};
    expect_req(raw(top, 1), LY_EPROTO, "0xc1", "0xc1 alone");
    static const uint8_t inside[] = {0x82, 0xa1, 'v', 0x01, 0xa1, 'x', 0xc1};
    expect_req(raw(inside, sizeof inside), LY_EPROTO, "0xc1", "0xc1 as a value");
}

Test(req_bad, truncated_and_trailing)
{
    frame f = mk(k_earn, NULL);
    for (size_t n = 0; n < f.len; n++)
        expect_req(raw(f.buf, n), LY_EPROTO, NULL, "truncated earn");
    frame g = {malloc(f.len + 1), f.len + 1};
    memcpy(g.buf, f.buf, f.len);
    g.buf[f.len] = 0x00;
    expect_req(g, LY_EPROTO, "trailing", "earn plus one byte");
    frame h = {malloc(f.len * 2), f.len * 2};
    memcpy(h.buf, f.buf, f.len);
    memcpy(h.buf + f.len, f.buf, f.len);
    expect_req(h, LY_EPROTO, "trailing", "two messages in one frame");
    free(f.buf);
}

Test(req_bad, not_a_map)
{
    static const uint8_t arr[] = {0x92, 0x01, 0x02};
    expect_req(raw(arr, sizeof arr), LY_EPROTO, "not a map", "array");
    static const uint8_t num[] = {0x07};
    expect_req(raw(num, 1), LY_EPROTO, "not a map", "integer");
    static const uint8_t intkey[] = {0x81, 0x01, 0x01};
    expect_req(raw(intkey, sizeof intkey), LY_EPROTO, "key", "integer key");
}

/* ---- bad requests: fields ----------------------------------------------- */

Test(req_bad, version_and_type)
{
    kv v2[] = {KU("v", 2), KEND};
    expect_req(mk(k_earn, v2), LY_EVERSION, "field 'v'", "v = 2");
    kv v2u[] = {KU("v", 2), KS("zzz", "new field"), KT("amount", V_F), KEND};
    expect_req(mk(k_earn, v2u), LY_EVERSION, "field 'v'", "v = 2 with unknown fields");
    kv v0[] = {KU("v", 0), KEND};
    expect_req(mk(k_earn, v0), LY_EVERSION, NULL, "v = 0");
    kv vdel[] = {KT("v", V_DEL), KEND};
    expect_req(mk(k_earn, vdel), LY_EPROTO, "field 'v': missing", "v missing");
    kv vstr[] = {KS("v", "1"), KEND};
    expect_req(mk(k_earn, vstr), LY_EPROTO, "field 'v'", "v as a string");
    kv vneg[] = {KI("v", -1), KEND};
    expect_req(mk(k_earn, vneg), LY_EPROTO, "field 'v'", "v negative");
    kv tdel[] = {KT("t", V_DEL), KEND};
    expect_req(mk(k_earn, tdel), LY_EPROTO, "field 't': missing", "t missing");
    kv tbad[] = {KS("t", "steal"), KEND};
    expect_req(mk(k_earn, tbad), LY_EPROTO, "field 't'", "unknown t");
    kv tnul[] = {KSN("t", "earn\0", 5), KEND};
    expect_req(mk(k_earn, tnul), LY_EPROTO, "field 't'", "t with NUL");
    kv tbin[] = {KT("t", V_BIN), KEND};
    expect_req(mk(k_earn, tbin), LY_EPROTO, "field 't'", "t as bin");
}

Test(req_bad, wrong_types)
{
    static const struct {
        const char *key;
        int t;
    } cases[] = {
        {"amount", V_NIL},  {"amount", V_F},   {"amount", V_TRUE},   {"amount", V_ARR0},
        {"amount", V_MAP0}, {"amount", V_BIN}, {"customer", V_NIL},  {"customer", V_BIN},
        {"customer", V_U},  {"customer", V_F}, {"customer", V_MAP0}, {"txn", V_TRUE},
        {"id", V_NIL},      {"id", V_S},       {"id", V_F},          {"category", V_ARR0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kv over[] = {{cases[i].key, cases[i].t, 5, 0, "5", 0}, KEND};
        char want[64];
        snprintf(want, sizeof want, "field '%s'", cases[i].key);
        expect_req(mk(k_earn, over), LY_EPROTO, want, cases[i].key);
    }
    kv idneg[] = {KI("id", -1), KEND};
    expect_req(mk(k_earn, idneg), LY_EPROTO, "field 'id'", "negative id");
    kv big[] = {KU("amount", (uint64_t)INT64_MAX + 1), KEND};
    expect_req(mk(k_earn, big), LY_EPROTO, "INT64_MAX", "amount above INT64_MAX");
    kv umax[] = {KU("amount", UINT64_MAX), KEND};
    expect_req(mk(k_earn, umax), LY_EPROTO, "field 'amount'", "amount UINT64_MAX");
}

Test(req_bad, duplicate_unknown_missing_not_allowed)
{
    static const kv dup[] = {
        KU("v", 1),      KS("t", "earn"),  KU("id", 7),          KS("customer", "C1"),
        KS("txn", "T1"), KI("amount", 10), KS("customer", "C2"), KEND};
    expect_req(mk(dup, NULL), LY_EPROTO, "field 'customer': duplicate", "duplicate customer");
    static const kv dupv[] = {KU("v", 1), KU("v", 1), KS("t", "status"), KU("id", 7), KEND};
    expect_req(mk(dupv, NULL), LY_EPROTO, "duplicate", "duplicate v");
    static const kv dupid[] = {KU("v", 1), KS("t", "status"), KU("id", 7), KU("id", 7), KEND};
    expect_req(mk(dupid, NULL), LY_EPROTO, "field 'id': duplicate", "duplicate id");
    kv unk[] = {KS("colour", "red"), KEND};
    expect_req(mk(k_earn, unk), LY_EPROTO, "field 'colour': unknown", "unknown key");
    kv weird[] = {{"bad\x01key", V_U, 1, 0, NULL, 0}, KEND};
    expect_req(mk(k_earn, weird), LY_EPROTO, "field 'bad?key': unknown", "unprintable key");
    kv notallowed[] = {KS("reason", "why not"), KEND};
    expect_req(mk(k_earn, notallowed), LY_EPROTO, "field 'reason': not allowed in 'earn'",
               "reason in earn");
    kv profile_in_earn[] = {KS("name", "Ann"), KEND};
    expect_req(mk(k_earn, profile_in_earn), LY_EPROTO, "not allowed", "name in earn");
    static const char *required[] = {"id", "customer", "txn", "amount"};
    for (size_t i = 0; i < 4; i++) {
        kv del[] = {KT(required[i], V_DEL), KEND};
        char want[64];
        snprintf(want, sizeof want, "field '%s': missing", required[i]);
        expect_req(mk(k_earn, del), LY_EPROTO, want, required[i]);
    }
    static const kv status[] = {KU("v", 1), KS("t", "status"), KU("id", 1), KEND};
    expect_req(mk(status, NULL), LY_OK, NULL, "status");
    kv status_cust[] = {KS("customer", "C1"), KEND};
    expect_req(mk(status, status_cust), LY_EPROTO, "not allowed", "customer in status");

    static const kv rev[] = {KU("v", 1),      KS("t", "reverse"),  KU("id", 1),
                             KS("txn", "T9"), KS("ref_txn", "T1"), KEND};
    expect_req(mk(rev, NULL), LY_OK, NULL, "reverse");
    kv rev_nref[] = {KT("ref_txn", V_DEL), KEND};
    expect_req(mk(rev, rev_nref), LY_EPROTO, "field 'ref_txn': missing", "reverse w/o ref_txn");
    kv rev_cust[] = {KS("customer", "C1"), KEND};
    expect_req(mk(rev, rev_cust), LY_EPROTO, "not allowed", "customer in reverse");

    static const kv adj[] = {KU("v", 1),           KS("t", "adjust"),     KU("id", 1),
                             KS("customer", "C1"), KS("txn", "T9"),       KI("amount", -5),
                             KS("reason", "oops"), KS("operator", "op1"), KEND};
    expect_req(mk(adj, NULL), LY_OK, NULL, "adjust");
    static const char *adj_req[] = {"reason", "operator", "amount", "txn", "customer"};
    for (size_t i = 0; i < 5; i++) {
        kv del[] = {KT(adj_req[i], V_DEL), KEND};
        expect_req(mk(adj, del), LY_EPROTO, "missing", adj_req[i]);
    }

    static const kv sp[] = {KU("v", 1),           KS("t", "set-profile"), KU("id", 1),
                            KS("customer", "C1"), KS("txn", "T9"),        KEND};
    expect_req(mk(sp, NULL), LY_EPROTO, "at least one profile field", "set-profile, no field");
    kv sp_email[] = {KS("email", "a@b.c"), KEND};
    expect_req(mk(sp, sp_email), LY_OK, NULL, "set-profile with email");
}

Test(req_bad, ids_and_text)
{
    struct {
        const char *key;
        const char *val;
        size_t n;
        ly_err code;
    } cases[] = {
        {"customer", "\xff\xfe", 0, LY_EINVAL},
        {"customer", "caf\xc3\xa9", 0, LY_EINVAL}, /* valid UTF-8, but not id syntax */
        {"customer", "C\0001", 3, LY_EPROTO},
        {"customer", "C 1", 0, LY_EINVAL},
        {"customer", "", 0, LY_EINVAL},
        {"customer", "C\n", 0, LY_EINVAL},
        {"txn", "\xc0\xaf", 0, LY_EINVAL},
        {"txn", "T\0", 2, LY_EPROTO},
        {"category", "123456789012345678901234567890123", 0, LY_EINVAL}, /* 33 bytes */
        {"customer", "12345678901234567890123456789012345678901234567890123456789012345", 0,
         LY_EINVAL}, /* 65 bytes */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kv over[] = {KSN(cases[i].key, cases[i].val, cases[i].n), KEND};
        char want[64];
        snprintf(want, sizeof want, "field '%s'", cases[i].key);
        expect_req(mk(k_earn, over), cases[i].code, want, cases[i].val);
    }
    /* 64 bytes is the maximum id, 32 the maximum category. */
    kv ok64[] = {KS("customer", "1234567890123456789012345678901234567890123456789012345678901234"),
                 KS("category", "12345678901234567890123456789012"), KEND};
    expect_req(mk(k_earn, ok64), LY_OK, NULL, "64-byte id");

    static const kv enr[] = {KU("v", 1),           KS("t", "enroll"), KU("id", 1),
                             KS("customer", "C1"), KS("txn", "T1"),   KEND};
    kv bday[] = {KS("birthday", "2023-02-29"), KEND};
    expect_req(mk(enr, bday), LY_EINVAL, "field 'birthday'", "not a real date");
    kv bday2[] = {KS("birthday", "1990-1-1"), KEND};
    expect_req(mk(enr, bday2), LY_EINVAL, "field 'birthday'", "bad date form");
    kv name_ctl[] = {KS("name", "Ann\tB"), KEND};
    expect_req(mk(enr, name_ctl), LY_EINVAL, "field 'name'", "control character in name");
    kv name_utf[] = {KS("name", "Ann \xed\xa0\x80"), KEND};
    expect_req(mk(enr, name_utf), LY_EINVAL, "field 'name'", "surrogate in name");
    char longname[LY_NAME_MAX + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    kv name_long[] = {KS("name", longname), KEND};
    expect_req(mk(enr, name_long), LY_EINVAL, "longer than 100 bytes", "101-byte name");
    kv all[] = {KS("name", "Ann"), KS("birthday", ""), KS("email", "a@b"),
                KS("phone", "1"),  KS("prefs", "x"),   KEND};
    expect_req(mk(enr, all), LY_OK, NULL, "enroll with every profile field");

    static const kv adj[] = {KU("v", 1),           KS("t", "adjust"),     KU("id", 1),
                             KS("customer", "C1"), KS("txn", "T9"),       KI("amount", -5),
                             KS("reason", "oops"), KS("operator", "op1"), KEND};
    kv empty_reason[] = {KS("reason", ""), KEND};
    empty_reason[0].n = 0;
    expect_req(mk(adj, empty_reason), LY_EINVAL, "field 'reason': must not be empty",
               "empty reason");
    kv bad_op[] = {KS("operator", "Bob Smith"), KEND};
    expect_req(mk(adj, bad_op), LY_EINVAL, "field 'operator'", "operator with a space");
}

Test(req_bad, amounts_and_ranges)
{
    struct {
        const char *type;
        int64_t amount;
        ly_err code;
    } cases[] = {
        {"earn", 0, LY_EINVAL},         {"earn", -1, LY_EINVAL},
        {"earn", INT64_MIN, LY_EINVAL}, {"earn", LY_AMOUNT_MAX + 1, LY_EINVAL},
        {"earn", INT64_MAX, LY_EINVAL}, {"earn", 1, LY_OK},
        {"earn", LY_AMOUNT_MAX, LY_OK}, {"redeem", 0, LY_EINVAL},
        {"redeem", -100, LY_EINVAL},    {"redeem", LY_AMOUNT_MAX + 1, LY_EINVAL},
        {"redeem", 100, LY_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kv over[] = {KS("t", cases[i].type), KI("amount", cases[i].amount), KEND, KEND};
        if (strcmp(cases[i].type, "redeem") == 0)
            over[2] = (kv)KT("category", V_DEL);
        char what[64];
        snprintf(what, sizeof what, "%s %lld", cases[i].type, (long long)cases[i].amount);
        expect_req(mk(k_earn, over), cases[i].code,
                   cases[i].code == LY_OK ? NULL : "field 'amount': must be 1..1000000000000",
                   what);
    }
    static const kv adj[] = {KU("v", 1),           KS("t", "adjust"),     KU("id", 1),
                             KS("customer", "C1"), KS("txn", "T9"),       KI("amount", -5),
                             KS("reason", "oops"), KS("operator", "op1"), KEND};
    int64_t adj_bad[] = {0, LY_AMOUNT_MAX + 1, -LY_AMOUNT_MAX - 1, INT64_MIN};
    for (size_t i = 0; i < 4; i++) {
        kv over[] = {KI("amount", adj_bad[i]), KEND};
        expect_req(mk(adj, over), LY_EINVAL, "nonzero", "adjust amount");
    }
    kv adj_max[] = {KI("amount", -LY_AMOUNT_MAX), KEND};
    expect_req(mk(adj, adj_max), LY_OK, NULL, "adjust -max");

    static const kv rev[] = {KU("v", 1),      KS("t", "reverse"),  KU("id", 1),
                             KS("txn", "T9"), KS("ref_txn", "T1"), KEND};
    kv rev0[] = {KI("amount", 0), KEND};
    expect_req(mk(rev, rev0), LY_OK, NULL, "reverse amount 0");
    kv revneg[] = {KI("amount", -1), KEND};
    expect_req(mk(rev, revneg), LY_EINVAL, "must be 0..1000000000000", "reverse amount -1");

    static const kv cust[] = {KU("v", 1), KS("t", "customer"), KU("id", 1), KS("customer", "C1"),
                              KEND};
    kv lim[] = {KU("limit", LY_HIST_MAX + 1), KEND};
    expect_req(mk(cust, lim), LY_EINVAL, "field 'limit': must be 0..50", "limit 51");
    kv limhuge[] = {KU("limit", 1ULL << 40), KEND};
    expect_req(mk(cust, limhuge), LY_EINVAL, "field 'limit'", "limit 2^40");
    kv limneg[] = {KI("limit", -1), KEND};
    expect_req(mk(cust, limneg), LY_EPROTO, "field 'limit'", "limit -1");
    kv lim50[] = {KU("limit", LY_HIST_MAX), KEND};
    expect_req(mk(cust, lim50), LY_OK, NULL, "limit 50");

    static const kv evs[] = {KU("v", 1), KS("t", "events"), KU("id", 1), KEND};
    kv elim[] = {KU("limit", LY_EVENTS_MAX + 1), KEND};
    expect_req(mk(evs, elim), LY_EINVAL, "field 'limit': must be 0..100", "events limit 101");
    kv orig[] = {KU("origin", 65536), KEND};
    expect_req(mk(evs, orig), LY_EINVAL, "field 'origin': must be 0..65535", "origin 65536");
    kv since[] = {KU("since", UINT64_MAX), KU("origin", 65535), KU("limit", 100), KEND};
    expect_req(mk(evs, since), LY_OK, NULL, "events, all options");
    kv since_neg[] = {KI("since", -1), KEND};
    expect_req(mk(evs, since_neg), LY_EPROTO, "field 'since'", "since -1");
}

Test(req_bad, debts)
{
    static const kv debts[] = {KU("v", 1), KS("t", "debts"), KU("id", 1), KEND};
    expect_req(mk(debts, NULL), LY_OK, NULL, "debts, no options");
    kv both[] = {KS("customer", "C9"), KU("limit", LY_DEBTS_MAX), KEND};
    expect_req(mk(debts, both), LY_OK, NULL, "debts after C9, 100 rows");
    kv lim0[] = {KU("limit", 0), KEND};
    expect_req(mk(debts, lim0), LY_OK, NULL, "debts limit 0 (the default)");
    kv lim[] = {KU("limit", LY_DEBTS_MAX + 1), KEND};
    expect_req(mk(debts, lim), LY_EINVAL, "field 'limit': must be 0..100", "debts limit 101");
    kv limneg[] = {KI("limit", -1), KEND};
    expect_req(mk(debts, limneg), LY_EPROTO, "field 'limit'", "debts limit -1");
    kv limstr[] = {KS("limit", "10"), KEND};
    expect_req(mk(debts, limstr), LY_EPROTO, "field 'limit'", "debts limit as a string");
    /* "customer" is optional here, but an id when given. */
    kv cempty[] = {KS("customer", ""), KEND};
    expect_req(mk(debts, cempty), LY_EINVAL, "field 'customer': must not be empty",
               "debts after an empty id");
    kv cbad[] = {KS("customer", "C 9"), KEND};
    expect_req(mk(debts, cbad), LY_EINVAL, "field 'customer'", "debts after a bad id");
    kv cnil[] = {KT("customer", V_NIL), KEND};
    expect_req(mk(debts, cnil), LY_EPROTO, "field 'customer'", "debts customer nil");
    kv cnul[] = {KSN("customer", "C\0009", 3), KEND};
    expect_req(mk(debts, cnul), LY_EPROTO, "field 'customer'", "debts customer with NUL");
    /* Keys of other types. */
    static const char *const other[] = {"txn",    "amount", "origin", "since",
                                        "reason", "name",   "after"};
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        kv over[] = {KU(other[i], 1), KEND};
        char want[64];
        snprintf(want, sizeof want, "field '%s': not allowed in 'debts'", other[i]);
        expect_req(mk(debts, over), LY_EPROTO, want, other[i]);
    }
    kv unk[] = {KU("page", 1), KEND};
    expect_req(mk(debts, unk), LY_EPROTO, "field 'page': unknown", "debts with an unknown key");
    kv iddel[] = {KT("id", V_DEL), KEND};
    expect_req(mk(debts, iddel), LY_EPROTO, "field 'id': missing", "debts without id");
    /* "customer" stays required where it was. */
    static const kv cust[] = {KU("v", 1), KS("t", "customer"), KU("id", 1), KEND};
    expect_req(mk(cust, NULL), LY_EPROTO, "field 'customer': missing", "customer without id");
}

/* ---- request encoding refuses what a node would refuse ------------------- */

static void expect_enc(const ly_req *rq, const char *part, const char *what)
{
    uint8_t *buf = (uint8_t *)"untouched";
    size_t len = 12345;
    char why[256] = "";
    cr_expect_eq(ly_req_encode(rq, &buf, &len), LY_EINVAL, "%s", what);
    cr_expect_eq(ly_req_check(rq, why, sizeof why), LY_EINVAL, "%s", what);
    if (part)
        cr_expect(strstr(why, part) != NULL, "%s: reason '%s' lacks '%s'", what, why, part);
}

static void earn_req(ly_req *rq)
{
    ly_req_init(rq, LY_MSG_EARN);
    rq->rq_id = 1;
    strcpy(rq->rq_customer, "C1");
    strcpy(rq->rq_txn, "T1");
    rq->rq_amount = 100;
}

Test(req_enc, refuses_invalid)
{
    ly_req rq;
    earn_req(&rq);
    strcpy(rq.rq_customer, "C 1");
    expect_enc(&rq, "field 'customer'", "bad id syntax");
    earn_req(&rq);
    rq.rq_txn[0] = '\0';
    expect_enc(&rq, "field 'txn': must not be empty", "missing txn");
    earn_req(&rq);
    memset(rq.rq_customer, 'a', sizeof rq.rq_customer); /* not terminated */
    expect_enc(&rq, "field 'customer': longer than 64", "unterminated id");
    earn_req(&rq);
    rq.rq_amount = 0;
    expect_enc(&rq, "field 'amount': must be 1..1000000000000", "earn amount 0");
    earn_req(&rq);
    rq.rq_amount = LY_AMOUNT_MAX + 1;
    expect_enc(&rq, "field 'amount'", "earn amount too big");
    earn_req(&rq);
    strcpy(rq.rq_category, "fo od");
    expect_enc(&rq, "field 'category'", "bad category");

    ly_req_init(&rq, LY_MSG_ADJUST);
    strcpy(rq.rq_customer, "C1");
    strcpy(rq.rq_txn, "T1");
    strcpy(rq.rq_operator, "op");
    strcpy(rq.rq_reason, "r");
    expect_enc(&rq, "nonzero", "adjust 0");
    rq.rq_amount = 5;
    rq.rq_reason[0] = '\0';
    expect_enc(&rq, "field 'reason'", "adjust without reason");

    ly_req_init(&rq, LY_MSG_CUSTOMER);
    strcpy(rq.rq_customer, "C1");
    rq.rq_limit = LY_HIST_MAX + 1;
    expect_enc(&rq, "field 'limit'", "limit 51");

    ly_req_init(&rq, LY_MSG_DEBTS);
    rq.rq_limit = LY_DEBTS_MAX + 1;
    expect_enc(&rq, "field 'limit': must be 0..100", "debts limit 101");
    rq.rq_limit = 0;
    strcpy(rq.rq_customer, "C 1");
    expect_enc(&rq, "field 'customer'", "debts after a bad id");

    ly_req_init(&rq, LY_MSG_SET_PROFILE);
    strcpy(rq.rq_customer, "C1");
    strcpy(rq.rq_txn, "T1");
    expect_enc(&rq, "at least one", "set-profile without fields");
    rq.rq_fields = 1u << 7;
    expect_enc(&rq, "profile field bits", "unknown profile bit");
    rq.rq_fields = LY_PF_BIRTHDAY;
    strcpy(rq.rq_profile.pf_birthday, "1999-13-01");
    expect_enc(&rq, "field 'birthday'", "bad birthday");

    ly_req_init(&rq, 0);
    expect_enc(&rq, "field 't'", "type 0");
    ly_req_init(&rq, LY_MSG_TYPE_MAX + 1);
    expect_enc(&rq, "field 't'", "type 11");

    ly_req_init(&rq, LY_MSG_REVERSE);
    strcpy(rq.rq_txn, "T2");
    expect_enc(&rq, "field 'ref_txn'", "reverse without ref_txn");
    strcpy(rq.rq_ref_txn, "T1");
    rq.rq_amount = -3;
    expect_enc(&rq, "field 'amount'", "reverse negative");

    uint8_t *buf;
    size_t len;
    cr_assert_eq(ly_req_encode(NULL, &buf, &len), LY_EINVAL);
    cr_assert_eq(ly_req_check(NULL, NULL, 0), LY_EINVAL);
}

Test(req_enc, ignores_fields_of_other_types)
{
    ly_req rq;
    earn_req(&rq);
    strcpy(rq.rq_reason, "not sent");
    rq.rq_limit = 9;
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ly_req_encode(&rq, &buf, &len), LY_OK);
    ly_req out;
    cr_assert_eq(ly_req_decode(buf, len, &out, NULL, 0), LY_OK);
    cr_assert_str_eq(out.rq_reason, "");
    cr_assert_eq(out.rq_limit, 0);
    free(buf);

    /* A debts request carries no txn, amount, origin or since. */
    ly_req_init(&rq, LY_MSG_DEBTS);
    strcpy(rq.rq_txn, "T 1");
    rq.rq_amount = -1;
    rq.rq_origin = 4;
    rq.rq_since = 9;
    cr_assert_eq(ly_req_encode(&rq, &buf, &len), LY_OK);
    cr_assert_eq(ly_req_decode(buf, len, &out, NULL, 0), LY_OK);
    cr_assert_eq(out.rq_type, LY_MSG_DEBTS);
    cr_assert_str_eq(out.rq_customer, "");
    cr_assert_str_eq(out.rq_txn, "");
    cr_assert_eq(out.rq_amount, 0);
    cr_assert_eq(out.rq_origin, 0);
    cr_assert_eq(out.rq_since, 0);
    free(buf);
}

Test(req, peek_id)
{
    frame f = mk(k_earn, NULL);
    cr_assert_eq(ly_req_peek_id(f.buf, f.len), 7);
    free(f.buf);
    kv bad[] = {KS("customer", "C 1"), KI("amount", 0), KS("junk", "x"), KU("id", 99), KEND};
    f = mk(k_earn, bad);
    cr_assert_eq(ly_req_peek_id(f.buf, f.len), 99);
    ly_req rq;
    cr_assert_neq(ly_req_decode(f.buf, f.len, &rq, NULL, 0), LY_OK);
    free(f.buf);
    kv noid[] = {KT("id", V_DEL), KEND};
    f = mk(k_earn, noid);
    cr_assert_eq(ly_req_peek_id(f.buf, f.len), 0);
    free(f.buf);
    static const uint8_t junk[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    cr_assert_eq(ly_req_peek_id(junk, sizeof junk), 0);
    cr_assert_eq(ly_req_peek_id(NULL, 0), 0);
    static const uint8_t mapkey[] = {0x82, 0x81, 0x01, 0x02, 0x03, 0xa2, 'i', 'd', 0x05};
    cr_assert_eq(ly_req_peek_id(mapkey, sizeof mapkey), 5);
}

/* ---- replies ------------------------------------------------------------ */

/* Encodes `in`, decodes it, and checks that the decoded reply encodes to the
 * same bytes. With `exact` (for a reply built from a zeroed struct, with no
 * stale bytes after its strings or past its counts) the structs must also be
 * byte-for-byte equal. */
static void rep_roundtrip_x(const ly_rep *in, int exact)
{
    uint8_t *buf = NULL, *buf2 = NULL;
    size_t len = 0, len2 = 0;
    char why[256] = "";
    ly_err rc = ly_rep_encode(in, &buf, &len);
    cr_assert_eq(rc, LY_OK, "encode type %d: %s", in->rp_type, ly_errname(rc));
    /* Zeroed: the decoder writes array entries only up to their counts. */
    ly_rep *out = calloc(1, sizeof *out);
    rc = ly_rep_decode(buf, len, out, why, sizeof why);
    cr_assert_eq(rc, LY_OK, "decode type %d: %s (%s)", in->rp_type, ly_errname(rc), why);
    cr_assert_eq(ly_rep_encode(out, &buf2, &len2), LY_OK);
    cr_assert(len == len2 && memcmp(buf, buf2, len) == 0, "type %d: re-encoding differs",
              in->rp_type);
    cr_assert_eq(out->rp_nevents, in->rp_nevents);
    if (in->rp_nevents)
        cr_assert(memcmp(in->rp_events, out->rp_events, in->rp_nevents * sizeof(ly_event)) == 0,
                  "events differ");
    /* The parts only one kind of reply carries: decoded only for that kind. */
    if (in->rp_type == LY_MSG_STATUS && in->rp_err == LY_OK) {
        cr_assert_not_null(out->rp_status, "a status reply decodes its status");
        cr_assert_eq(out->rp_status->ns_npeers, in->rp_status->ns_npeers);
        if (in->rp_status->ns_npeers)
            cr_assert(memcmp(in->rp_status->ns_peers, out->rp_status->ns_peers,
                             in->rp_status->ns_npeers * sizeof(ly_peer_status)) == 0,
                      "peers differ");
    } else {
        cr_assert_null(out->rp_status, "type %d: only a status reply carries a status",
                       in->rp_type);
    }
    cr_assert_eq(out->rp_nhist, in->rp_nhist);
    if (in->rp_nhist)
        cr_assert(memcmp(in->rp_hist, out->rp_hist, in->rp_nhist * sizeof(ly_hist)) == 0,
                  "history differs");
    else
        cr_assert_null(out->rp_hist);
    cr_assert_eq(out->rp_ndebts, in->rp_ndebts);
    if (in->rp_ndebts)
        cr_assert(memcmp(in->rp_debts, out->rp_debts, in->rp_ndebts * sizeof(ly_debt)) == 0,
                  "debts differ");
    else
        cr_assert_null(out->rp_debts);
    cr_assert_eq(out->rp_nconflicts, in->rp_nconflicts);
    if (in->rp_nconflicts)
        cr_assert(memcmp(in->rp_conflicts, out->rp_conflicts,
                         in->rp_nconflicts * sizeof(ly_conflict)) == 0,
                  "conflicts differ");
    else
        cr_assert_null(out->rp_conflicts);
    cr_assert_eq(out->rp_nprograms, in->rp_nprograms);
    if (in->rp_nprograms)
        cr_assert(
            memcmp(in->rp_programs, out->rp_programs, in->rp_nprograms * sizeof(ly_progrow)) == 0,
            "program rows differ");
    if (exact) {
        ly_rep keep = *out;
        if (out->rp_status) {
            ly_node_status st = *out->rp_status;
            st.ns_peers = in->rp_status->ns_peers;
            cr_assert(memcmp(in->rp_status, &st, sizeof st) == 0, "type %d: status differs",
                      in->rp_type);
        }
        out->rp_events = in->rp_events;
        out->rp_status = in->rp_status;
        out->rp_hist = in->rp_hist;
        out->rp_debts = in->rp_debts;
        out->rp_conflicts = in->rp_conflicts;
        out->rp_programs = in->rp_programs;
        cr_assert(memcmp(in, out, sizeof *out) == 0, "type %d: decoded reply differs", in->rp_type);
        *out = keep;
    }
    ly_rep_fini(out);
    free(out);
    free(buf);
    free(buf2);
}

static void rep_roundtrip(const ly_rep *in)
{
    rep_roundtrip_x(in, 1);
}

static void rep_roundtrip_reused(const ly_rep *in)
{
    rep_roundtrip_x(in, 0);
}

/* A reply with room for its kind's heap part (a lookup's history, a status),
 * as a test fills it; free_rep releases it. */
static ly_rep *new_rep(int type, uint64_t id)
{
    ly_rep *rp = malloc(sizeof *rp);
    ly_rep_init(rp);
    rp->rp_type = (uint8_t)type;
    rp->rp_id = id;
    if (type == LY_MSG_CUSTOMER)
        cr_assert_not_null(rp->rp_hist = calloc(LY_HIST_MAX, sizeof *rp->rp_hist));
    if (type == LY_MSG_STATUS)
        cr_assert_not_null(rp->rp_status = calloc(1, sizeof *rp->rp_status));
    return rp;
}

static void free_rep(ly_rep *rp)
{
    ly_rep_fini(rp);
    free(rp);
}

static void fill_customer_op(ly_rep *rp)
{
    strcpy(rp->rp_customer, "C1");
    if (ly_msgtype_is_mutation(rp->rp_type))
        strcpy(rp->rp_txn, "T1");
    rp->rp_points = -120;
    rp->rp_balance = 880;
    rp->rp_lifetime = 5000;
    rp->rp_debt = 0;
    rp->rp_qualifying = 1999;
    strcpy(rp->rp_tier, "Gold");
    strcpy(rp->rp_next_tier, "Platinum");
    rp->rp_to_next = 3001;
    rp->rp_replayed = 1;
    rp->rp_hlc = 0x123456789abcULL << 16;
    rp->rp_origin = 3;
    rp->rp_seq = 77;
    rp->rp_nrights = 3;
    rp->rp_rights[0].node = 1;
    rp->rp_rights[0].points = 500;
    rp->rp_rights[1].node = 3;
    rp->rp_rights[1].points = 400;
    rp->rp_rights[2].node = 9;
    rp->rp_rights[2].points = -20; /* a refund there took back points already spent */
    rp->rp_local_rights = 400;
}

Test(rep, roundtrip_customer_ops)
{
    for (int t = LY_MSG_ENROLL; t <= LY_MSG_SET_PROFILE; t++) {
        if (t == LY_MSG_CUSTOMER)
            continue;
        ly_rep *rp = new_rep(t, 100 + (uint64_t)t);
        fill_customer_op(rp);
        rep_roundtrip(rp);
        rp->rp_next_tier[0] = '\0'; /* top tier: key left out */
        rp->rp_to_next = 0;
        rp->rp_replayed = 0;
        rp->rp_debt = 40;
        rp->rp_nrights = 0; /* no node holds any: an empty array */
        rp->rp_local_rights = 0;
        rep_roundtrip_reused(rp);
        /* The most rows, every node and points extreme. */
        rp->rp_nrights = LY_RIGHTS_REPLY_MAX;
        for (uint32_t i = 0; i < rp->rp_nrights; i++) {
            rp->rp_rights[i].node = (uint16_t)(i == 0 ? 1 : UINT16_MAX - (LY_RIGHTS_REPLY_MAX - i));
            rp->rp_rights[i].points = i % 2 ? INT64_MAX - i : INT64_MIN + i;
        }
        rp->rp_local_rights = INT64_MIN;
        rep_roundtrip_reused(rp);
        free_rep(rp);
    }
}

Test(rep, customer_ops_always_carry_rights)
{
    for (int t = LY_MSG_ENROLL; t <= LY_MSG_SET_PROFILE; t++) {
        ly_rep *rp = new_rep(t, 1);
        fill_customer_op(rp);
        rp->rp_nrights = 0;
        rp->rp_local_rights = 0;
        uint8_t *buf;
        size_t len;
        cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
        cr_assert_not_null(memmem(buf, len, "\xa6rights\x90", 8), "type %d: empty rights", t);
        cr_assert_not_null(memmem(buf, len,
                                  "\xac"
                                  "local_rights\x00",
                                  14),
                           "type %d: local_rights 0", t);
        free(buf);
        rp->rp_nrights = 1;
        rp->rp_rights[0].node = 7;
        rp->rp_rights[0].points = 1;
        cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
        static const uint8_t row[] = {0xa6, 'r',  'i', 'g', 'h', 't', 's',  0x91,
                                      0x82, 0xa4, 'n', 'o', 'd', 'e', 0x07, 0xa6,
                                      'p',  'o',  'i', 'n', 't', 's', 0x01};
        cr_assert_not_null(memmem(buf, len, row, sizeof row), "type %d: one row", t);
        free(buf);
        free_rep(rp);
    }
    /* Other replies carry none, whatever the struct holds. */
    static const int others[] = {LY_MSG_STATUS, LY_MSG_EVENTS, LY_MSG_DEBTS};
    for (size_t i = 0; i < 3; i++) {
        ly_rep *rp = new_rep(others[i], 1);
        fill_customer_op(rp);
        uint8_t *buf;
        size_t len;
        cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
        cr_assert_null(memmem(buf, len, "\xa6rights", 7), "type %d", others[i]);
        cr_assert_null(memmem(buf, len, "\xaclocal_rights", 13), "type %d", others[i]);
        free(buf);
        free_rep(rp);
    }
    /* An error reply neither. */
    ly_rep *rp = new_rep(0, 0);
    fill_customer_op(rp);
    ly_rep_error(rp, LY_MSG_REDEEM, 4, LY_EINSUFFICIENT_LOCAL, NULL);
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    cr_assert_null(memmem(buf, len, "\xa6rights", 7));
    cr_assert_null(memmem(buf, len, "\xaclocal_rights", 13));
    free(buf);
    free_rep(rp);
}

Test(rep, roundtrip_customer_with_history_and_profile)
{
    ly_rep *rp = new_rep(LY_MSG_CUSTOMER, 5);
    fill_customer_op(rp);
    rp->rp_enrolled_hlc = 1ULL << 40;
    rp->rp_last_hlc = 1ULL << 41;
    rp->rp_fields = LY_PF_NAME | LY_PF_BIRTHDAY | LY_PF_PREFS;
    strcpy(rp->rp_profile.pf_name, "Zoë");
    strcpy(rp->rp_profile.pf_birthday, "1980-12-31");
    strcpy(rp->rp_profile.pf_prefs, "");
    rp->rp_nhist = LY_HIST_MAX;
    for (uint32_t i = 0; i < rp->rp_nhist; i++) {
        ly_hist *hi = &rp->rp_hist[i];
        hi->hi_hlc = (uint64_t)(1000 - i) << 16;
        hi->hi_type = (uint8_t)(1 + i % 7);
        hi->hi_origin = (uint16_t)(1 + i % 3);
        if (hi->hi_type == LY_EV_TRANSFER)
            hi->hi_to = (uint16_t)(i == 6 ? UINT16_MAX : 4);
        hi->hi_points = (int64_t)i * 7 - 100;
        hi->hi_amount = (int64_t)i * 100;
        snprintf(hi->hi_txn, sizeof hi->hi_txn, "T%u", i);
        if (hi->hi_type == LY_EV_REVERSE)
            strcpy(hi->hi_ref_txn, "T0");
        if (hi->hi_type == LY_EV_EARN)
            strcpy(hi->hi_category, "food");
        if (hi->hi_type == LY_EV_ADJUST) {
            strcpy(hi->hi_reason, "goodwill — sorry");
            strcpy(hi->hi_operator, "op1");
        }
        if (i == 3) {
            strcpy(hi->hi_tier_from, "Silver");
            strcpy(hi->hi_tier_to, "Gold");
        }
    }
    rep_roundtrip(rp);
    /* Transfers appear in the history by name, with "to"; other rows have no "to". */
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    cr_assert_not_null(memmem(buf, len,
                              "\xa4type\xa8"
                              "transfer\xa6origin\x01\xa2to\xcd\xff\xff",
                              28));
    cr_assert_not_null(memmem(buf, len,
                              "\xa4type\xa8"
                              "transfer\xa6origin\x02\xa2to\x04",
                              26));
    size_t tos = 0;
    for (const uint8_t *p = buf; (p = memmem(p, len - (size_t)(p - buf), "\xa2to", 3)) != NULL;
         p += 3)
        tos++;
    cr_assert_eq(tos, LY_HIST_MAX / 7, "a 'to' in the transfers only");
    free(buf);
    rp->rp_nhist = 0;
    rp->rp_fields = 0;
    memset(&rp->rp_profile, 0, sizeof rp->rp_profile);
    rep_roundtrip_reused(rp);
    free_rep(rp);
}

/* A reply struct is reused (the client library and the node decode into the
 * same one over and over, and ly_rep_reset leaves array entries alone): what a
 * decode yields must not depend on what the struct held before. Decoding into
 * bytes of garbage and into zeros gives the same reply, field for field, within
 * the counts; a row whose optional fields are absent comes out with them empty. */
Test(rep, decoding_into_a_used_struct_leaves_nothing_stale)
{
    ly_rep *rp = new_rep(LY_MSG_CUSTOMER, 6);
    fill_customer_op(rp);
    rp->rp_nhist = 2;
    rp->rp_hist[0] = (ly_hist){.hi_hlc = 5ULL << 16,
                               .hi_type = LY_EV_EARN,
                               .hi_origin = 1,
                               .hi_points = 10,
                               .hi_amount = 1000};
    strcpy(rp->rp_hist[0].hi_txn, "T-plain");
    rp->rp_hist[1] = (ly_hist){.hi_hlc = 4ULL << 16,
                               .hi_type = LY_EV_ADJUST,
                               .hi_origin = 2,
                               .hi_points = 5,
                               .hi_amount = 5};
    strcpy(rp->rp_hist[1].hi_txn, "T-adj");
    strcpy(rp->rp_hist[1].hi_reason, "late delivery");
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    ly_rep *clean = calloc(1, sizeof *clean), *used = malloc(sizeof *used);
    memset(used, 0xa5, sizeof *used);
    used->rp_events = NULL; /* what a finished reply holds: nothing owned */
    used->rp_debts = NULL;
    used->rp_status = NULL;
    used->rp_hist = NULL;
    cr_assert_eq(ly_rep_decode(buf, len, clean, NULL, 0), LY_OK);
    cr_assert_eq(ly_rep_decode(buf, len, used, NULL, 0), LY_OK);
    cr_assert_eq(used->rp_nhist, 2);
    cr_assert_eq(used->rp_nrights, 3);
    cr_assert_str_eq(used->rp_hist[0].hi_reason, "", "an absent reason came out as '%s'",
                     used->rp_hist[0].hi_reason);
    cr_assert_str_eq(used->rp_hist[0].hi_category, "");
    cr_assert_eq(used->rp_hist[0].hi_to, 0);
    cr_assert_str_eq(used->rp_hist[1].hi_reason, "late delivery");
    size_t head = offsetof(ly_rep, rp_hist), mid = head + sizeof used->rp_hist;
    cr_assert(memcmp(clean, used, head) == 0, "fields before the history differ");
    cr_assert(memcmp(clean->rp_hist, used->rp_hist, 2 * sizeof(ly_hist)) == 0,
              "history rows differ");
    cr_assert(memcmp((char *)clean + mid, (char *)used + mid, offsetof(ly_rep, rp_rights) - mid) ==
                  0,
              "fields between the history and the rights differ");
    cr_assert(memcmp(clean->rp_rights, used->rp_rights, 3 * sizeof clean->rp_rights[0]) == 0,
              "rights rows differ");
    size_t tail = offsetof(ly_rep, rp_local_rights);
    cr_assert(memcmp((char *)clean + tail, (char *)used + tail, sizeof *used - tail) == 0,
              "fields after the rights differ");
    ly_rep_fini(clean);
    ly_rep_fini(used);
    free(clean);
    free(used);
    free(buf);
    free_rep(rp);
}

/* The largest customer reply: LY_HIST_MAX history rows and LY_RIGHTS_REPLY_MAX
 * rights rows with every field at its largest still fit in one frame. */
Test(rep, largest_customer_reply_fits)
{
    ly_rep *rp = new_rep(LY_MSG_CUSTOMER, UINT64_MAX);
    memset(rp->rp_customer, 'c', LY_ID_MAX);
    rp->rp_points = rp->rp_balance = rp->rp_lifetime = rp->rp_debt = INT64_MIN;
    rp->rp_qualifying = rp->rp_to_next = rp->rp_local_rights = INT64_MIN;
    memset(rp->rp_tier, 't', LY_TIER_NAME_MAX);
    memset(rp->rp_next_tier, 'n', LY_TIER_NAME_MAX);
    rp->rp_replayed = 1;
    rp->rp_hlc = rp->rp_seq = rp->rp_enrolled_hlc = rp->rp_last_hlc = UINT64_MAX;
    rp->rp_origin = UINT16_MAX;
    rp->rp_fields = LY_PF_ALL;
    memset(rp->rp_profile.pf_name, 'n', LY_NAME_MAX);
    strcpy(rp->rp_profile.pf_birthday, "2000-01-01");
    memset(rp->rp_profile.pf_email, 'e', LY_EMAIL_MAX);
    memset(rp->rp_profile.pf_phone, 'p', LY_PHONE_MAX);
    memset(rp->rp_profile.pf_prefs, 'q', LY_TEXT_MAX);
    rp->rp_nhist = LY_HIST_MAX;
    for (uint32_t i = 0; i < rp->rp_nhist; i++) {
        ly_hist *hi = &rp->rp_hist[i];
        hi->hi_hlc = UINT64_MAX;
        hi->hi_type = LY_EV_TRANSFER; /* the longest type name */
        hi->hi_origin = hi->hi_to = UINT16_MAX;
        hi->hi_points = hi->hi_amount = INT64_MIN;
        memset(hi->hi_txn, 'x', LY_ID_MAX);
        memset(hi->hi_ref_txn, 'r', LY_ID_MAX);
        memset(hi->hi_category, 'k', LY_CATEGORY_MAX);
        memset(hi->hi_reason, 'w', LY_TEXT_MAX);
        memset(hi->hi_operator, 'o', LY_ID_MAX);
        memset(hi->hi_tier_from, 'f', LY_TIER_NAME_MAX);
        memset(hi->hi_tier_to, 'g', LY_TIER_NAME_MAX);
    }
    rp->rp_nrights = LY_RIGHTS_REPLY_MAX;
    for (uint32_t i = 0; i < rp->rp_nrights; i++) {
        rp->rp_rights[i].node = (uint16_t)(UINT16_MAX - i);
        rp->rp_rights[i].points = INT64_MIN;
    }
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    cr_log_info("largest customer reply: %zu bytes of %d", len, LY_FRAME_MAX);
    cr_assert(len <= LY_FRAME_MAX, "%zu bytes", len);
    free(buf);
    rep_roundtrip(rp);
    free_rep(rp);
}

Test(rep, roundtrip_status)
{
    ly_rep *rp = new_rep(LY_MSG_STATUS, 11);
    ly_node_status *ns = rp->rp_status;
    ns->ns_id = 65535;
    strcpy(ns->ns_name, "branch-göteborg");
    ns->ns_incarnation = UINT32_MAX;
    ns->ns_program = 4;
    ns->ns_events = 123456789;
    ns->ns_customers = 4242;
    ns->ns_digest = 0xfedcba9876543210ULL;
    ns->ns_hlc = UINT64_MAX;
    ns->ns_uptime_ms = 86400000;
    ns->ns_map_size = 1ULL << 30;
    ns->ns_map_used = 1ULL << 20;
    ns->ns_nvv = LY_VV_MAX;
    for (uint32_t i = 0; i < ns->ns_nvv; i++) {
        ns->ns_vv[i].origin = (uint16_t)(i + 1);
        ns->ns_vv[i].incarnation = i * 3;
        ns->ns_vv[i].seq = (uint64_t)i << 33;
    }
    strcpy(ns->ns_client, "tcp://10.1.2.3:7101");
    ns->ns_transfers_sent = 12;
    ns->ns_transfers_received = UINT64_MAX;
    ns->ns_rights_pending = 3;
    ns->ns_rights_asked = 1ULL << 40;
    ns->ns_log_bytes = 5 << 20;
    ns->ns_log_events = 31337;
    ns->ns_checkpoints = 9;
    ns->ns_checkpoint_ms = 12;
    strcpy(ns->ns_write_error, "storage_full");
    rep_roundtrip(rp); /* no peers: an empty "peers" array */
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    cr_assert_not_null(memmem(buf, len, "\xaetransfers_sent\x0c", 16));
    cr_assert_not_null(
        memmem(buf, len, "\xb2transfers_received\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 28));
    cr_assert_not_null(memmem(buf, len, "\xaerights_pending\x03", 16));
    cr_assert_not_null(memmem(buf, len, "\xacrights_asked\xcf", 14));
    free(buf);
    ns->ns_nvv = 0;
    rep_roundtrip_reused(rp);
    free_rep(rp);
}

static void fill_peers(ly_node_status *ns, uint32_t n)
{
    ns->ns_peers = calloc(n, sizeof *ns->ns_peers);
    ns->ns_npeers = n;
    for (uint32_t i = 0; i < n; i++) {
        ly_peer_status *ps = &ns->ns_peers[i];
        ps->ps_id = (uint16_t)(i + 2);
        snprintf(ps->ps_name, sizeof ps->ps_name, "branch-%u", i + 2);
        snprintf(ps->ps_endpoint, sizeof ps->ps_endpoint, "tcp://10.0.%u.1:7102", i);
        if (i % 3 != 2)
            snprintf(ps->ps_client, sizeof ps->ps_client, "tcp://10.0.%u.1:7101", i);
        ps->ps_up = i % 3 != 2;
        ps->ps_last_heard_ms = i % 3 == 2 ? UINT64_MAX : 250 + i;
        ps->ps_behind = i * 10;
        ps->ps_missing = i % 5;
        ps->ps_lag_ms = i * 1000;
        ps->ps_digest = 0x9e3779b97f4a7c15ULL * (i + 1);
        ps->ps_events = 1000000 + i;
        ps->ps_converged = i % 2;
        ps->ps_sent = 1ULL << (i % 64);
        ps->ps_received = i;
        ps->ps_dropped = UINT64_MAX - i;
    }
}

Test(rep, roundtrip_status_with_peers)
{
    ly_rep *rp = new_rep(LY_MSG_STATUS, 13);
    ly_node_status *ns = rp->rp_status;
    ns->ns_id = 1;
    strcpy(ns->ns_name, "north");
    strcpy(ns->ns_client, "tcp://*:7101");
    ns->ns_nvv = 2;
    ns->ns_vv[0].origin = 1;
    ns->ns_vv[0].seq = 10;
    ns->ns_vv[1].origin = 2;
    ns->ns_vv[1].seq = 20;
    fill_peers(ns, LY_STATUS_PEERS_MAX);
    rep_roundtrip(rp);
    ns->ns_npeers = 1;
    rep_roundtrip_reused(rp);
    ly_rep_fini(rp); /* frees the status with its peer rows */
    cr_assert_null(rp->rp_status);
    cr_assert_null(rp->rp_hist);
    ly_rep_fini(rp); /* twice: harmless */
    free_rep(rp);
}

Test(rep, status_peers_always_written)
{
    ly_rep *rp = new_rep(LY_MSG_STATUS, 1);
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    cr_assert_not_null(memmem(buf, len, "\xa5peers\x90", 7), "empty peers array");
    cr_assert_not_null(memmem(buf, len,
                              "\xa6"
                              "client\xa0",
                              8),
                       "empty client string");
    free(buf);
    /* Not a status reply: no peers key, even if the struct holds some. */
    rp->rp_type = LY_MSG_EARN;
    fill_customer_op(rp);
    fill_peers(rp->rp_status, 2);
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    cr_assert_null(memmem(buf, len, "peers", 5));
    free(buf);
    free_rep(rp);
}

/* A status reply {"v":1,"t":"status","id":1,"ok":true,"node":{"id":1},"peers":<value>},
 * the value given as raw bytes. */
static frame status_frame(const uint8_t *peers, size_t n)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, peers ? 6 : 5);
    pack_str(&pk, "v", 1);
    msgpack_pack_uint64(&pk, 1);
    pack_str(&pk, "t", 1);
    pack_str(&pk, "status", 6);
    pack_str(&pk, "id", 2);
    msgpack_pack_uint64(&pk, 1);
    pack_str(&pk, "ok", 2);
    msgpack_pack_true(&pk);
    pack_str(&pk, "node", 4);
    msgpack_pack_map(&pk, 1);
    pack_str(&pk, "id", 2);
    msgpack_pack_uint64(&pk, 1);
    if (peers) {
        pack_str(&pk, "peers", 5);
        msgpack_sbuffer_write(&sb, (const char *)peers, n);
    }
    frame f = {malloc(sb.size), sb.size};
    memcpy(f.buf, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return f;
}

Test(rep_bad, status_peers)
{
    /* An older node sends no "peers" and no "client": read as none. */
    frame f = status_frame(NULL, 0);
    ly_rep *rp = malloc(sizeof *rp);
    char why[256];
    cr_assert_eq(ly_rep_decode(f.buf, f.len, rp, why, sizeof why), LY_OK, "%s", why);
    cr_assert_eq(rp->rp_status->ns_npeers, 0);
    cr_assert_null(rp->rp_status->ns_peers);
    cr_assert_str_eq(rp->rp_status->ns_client, "");
    cr_assert_eq(rp->rp_status->ns_transfers_sent, 0);
    cr_assert_eq(rp->rp_status->ns_rights_asked, 0);
    free_rep(rp);
    free(f.buf);

    static const uint8_t empty[] = {0x90};
    expect_rep(status_frame(empty, sizeof empty), LY_OK, NULL, "empty peers");
    static const uint8_t one[] = {0x91, 0x82, 0xa2, 'i', 'd', 0x07, 0xa2, 'u', 'p', 0xc3};
    f = status_frame(one, sizeof one);
    rp = malloc(sizeof *rp);
    cr_assert_eq(ly_rep_decode(f.buf, f.len, rp, why, sizeof why), LY_OK, "%s", why);
    cr_assert_eq(rp->rp_status->ns_npeers, 1);
    cr_assert_eq(rp->rp_status->ns_peers[0].ps_id, 7);
    cr_assert_eq(rp->rp_status->ns_peers[0].ps_up, 1);
    cr_assert_eq(rp->rp_status->ns_peers[0].ps_last_heard_ms, 0, "absent: 0");
    free_rep(rp);
    free(f.buf);

    static const uint8_t as_map[] = {0x80};
    expect_rep(status_frame(as_map, sizeof as_map), LY_EPROTO, "field 'peers'", "peers as a map");
    static const uint8_t not_map[] = {0x91, 0x01};
    expect_rep(status_frame(not_map, sizeof not_map), LY_EPROTO, "field 'peers[0]'",
               "a peer row that is not a map");
    static const uint8_t up_int[] = {0x91, 0x81, 0xa2, 'u', 'p', 0x01};
    expect_rep(status_frame(up_int, sizeof up_int), LY_EPROTO, "peers[0]: field 'up'",
               "up as an integer");
    static const uint8_t id_big[] = {0x91, 0x81, 0xa2, 'i', 'd', 0xce, 0x00, 0x01, 0x00, 0x00};
    expect_rep(status_frame(id_big, sizeof id_big), LY_EPROTO, "peers[0]: field 'id'",
               "peer id 65536");
    static const uint8_t name_ctl[] = {0x91, 0x81, 0xa4, 'n', 'a', 'm', 'e', 0xa2, 'a', '\n'};
    expect_rep(status_frame(name_ctl, sizeof name_ctl), LY_EPROTO, "peers[0]: field 'name'",
               "control character in a peer name");
    uint8_t many[3 + LY_STATUS_PEERS_MAX + 1] = {0xdc, 0x00, LY_STATUS_PEERS_MAX + 1};
    memset(many + 3, 0x80, LY_STATUS_PEERS_MAX + 1);
    expect_rep(status_frame(many, sizeof many), LY_EPROTO, "more than 64", "65 peer rows");
    static const uint8_t huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    expect_rep(status_frame(huge, sizeof huge), LY_EPROTO, "larger than the frame",
               "peers array32 of 2^32-1");

    /* "client" of the node: a string. */
    ly_rep *st = new_rep(LY_MSG_STATUS, 1);
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ly_rep_encode(st, &buf, &len), LY_OK);
    uint8_t *cl = memmem(buf, len,
                         "\xa6"
                         "client\xa0",
                         8);
    cr_assert_not_null(cl);
    cl[7] = 0xc0; /* nil */
    expect_rep(raw(buf, len), LY_EPROTO, "node: field 'client'", "client nil");
    free(buf);
    free_rep(st);
}

static void sample_events(ly_event *ev, uint32_t n)
{
    memset(ev, 0, n * sizeof *ev);
    for (uint32_t i = 0; i < n; i++) {
        ly_event *e = &ev[i];
        e->ev_origin = (uint16_t)(1 + i % 4);
        e->ev_incarnation = 7;
        e->ev_seq = i + 1;
        e->ev_hlc = ((uint64_t)1700000000000 + i) << 16;
        e->ev_program = 2;
        e->ev_qual_day = 19700 + (int32_t)i;
        e->ev_req_hash = 0x0123456789abcdefULL * (i + 1);
        snprintf(e->ev_customer, sizeof e->ev_customer, "C%u", i % 10);
        snprintf(e->ev_txn, sizeof e->ev_txn, "T%u", i);
        switch (i % 7) {
        case 0:
            lye_enroll(e, 50, LY_PF_NAME, "Ann", NULL);
            break;
        case 1:
            lye_earn(e, 1299, 12, 0, 1, "food");
            break;
        case 2:
            lye_redeem(e, 10);
            break;
        case 3:
            lye_reverse(e, LY_EV_EARN, "T1", 1299, -12, -12);
            break;
        case 4:
            lye_adjust(e, -5, "correction", "op1");
            break;
        case 5:
            lye_transfer(e, (uint16_t)(e->ev_origin % 4 + 1), 40);
            break;
        default:
            lye_profile(e, LY_PF_ALL, "Ann B", "1970-01-01", "ann@example.com", "+1 555 0100",
                        "email only");
            break;
        }
        cr_assert_eq(ly_event_validate(e), LY_OK, "sample event %u", i);
    }
}

Test(rep, roundtrip_events)
{
    ly_rep *rp = new_rep(LY_MSG_EVENTS, 12);
    rep_roundtrip(rp); /* none */
    rp->rp_nevents = LY_EVENTS_MAX;
    rp->rp_events = calloc(LY_EVENTS_MAX, sizeof(ly_event));
    sample_events(rp->rp_events, rp->rp_nevents);
    rep_roundtrip(rp);
    uint32_t transfers = 0;
    for (uint32_t i = 0; i < rp->rp_nevents; i++)
        transfers += rp->rp_events[i].ev_type == LY_EV_TRANSFER;
    cr_assert_eq(transfers, LY_EVENTS_MAX / 7);
    /* A transfer alone: type 7 with "to". */
    rp->rp_nevents = 1;
    rp->rp_events[0] = rp->rp_events[5];
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    cr_assert_not_null(memmem(buf, len, "\xa4type\x07", 6));
    cr_assert_not_null(memmem(buf, len, "\xa2to\x03", 4)); /* origin 2 gives to 3 */
    free(buf);
    rep_roundtrip(rp);
    ly_rep_fini(rp);
    cr_assert_null(rp->rp_events);
    cr_assert_eq(rp->rp_nevents, 0);
    free_rep(rp);
}

Test(rep_bad, transfer_events)
{
    ly_rep *rp = new_rep(LY_MSG_EVENTS, 1);
    rp->rp_events = calloc(6, sizeof(ly_event));
    rp->rp_nevents = 6;
    sample_events(rp->rp_events, 6);
    cr_assert_eq(rp->rp_events[5].ev_type, LY_EV_TRANSFER);
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    uint8_t *to = memmem(buf, len, "\xa2to\x03", 4);
    cr_assert_not_null(to);
    to[3] = 0x02; /* to its own origin */
    expect_rep(raw(buf, len), LY_EPROTO, "not a valid event", "transfer to its origin");
    to[3] = 0x00; /* a transfer to nobody */
    expect_rep(raw(buf, len), LY_EPROTO, "not a valid event", "transfer to 0");
    to[3] = 0xc0;
    expect_rep(raw(buf, len), LY_EPROTO, "events[5]: field 'to'", "to nil");
    to[3] = 0xff;
    expect_rep(raw(buf, len), LY_EPROTO, "events[5]: field 'to'", "to -1");
    free(buf);
    /* The encoder refuses what the decoder refuses. */
    rp->rp_events[5].ev_to = 0;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "transfer without to");
    rp->rp_events[5].ev_to = 3;
    rp->rp_events[5].ev_points = 41;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "transfer points != amount");
    rp->rp_events[5].ev_points = 40;
    rp->rp_events[1].ev_to = 3;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "earn with to");
    rp->rp_events[1].ev_to = 0;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    free(buf);
    free_rep(rp);
}

Test(rep, roundtrip_errors)
{
    ly_rep *rp = new_rep(0, 0);
    ly_rep_error(rp, LY_MSG_REDEEM, 21, LY_EINSUFFICIENT, "only %d points available", 50);
    rp->rp_available = 50;
    rep_roundtrip(rp);
    rp->rp_available = 0; /* still sent for insufficient_points */
    rep_roundtrip(rp);
    ly_rep_init(rp);
    ly_rep_error(rp, LY_MSG_REDEEM, 22, LY_EINSUFFICIENT_LOCAL, "only %d points here", 30);
    rp->rp_available = 30;
    rep_roundtrip(rp);
    rp->rp_available = 0; /* still sent for insufficient_local_rights */
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    cr_assert_not_null(memmem(buf, len,
                              "\xb9insufficient_local_rights\xa7message\xb3only 30 points "
                              "here\xa9"
                              "available\x00",
                              65));
    free(buf);
    rep_roundtrip(rp);
    ly_rep *out = malloc(sizeof *out);
    rp->rp_available = 30;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    cr_assert_eq(ly_rep_decode(buf, len, out, NULL, 0), LY_OK);
    cr_assert_eq(out->rp_err, LY_EINSUFFICIENT_LOCAL);
    cr_assert_eq(out->rp_available, 30);
    free(buf);
    free(out);
    ly_rep_error(rp, 0, 0, LY_EPROTO, "undecodable request");
    rp->rp_available = 0;
    rep_roundtrip_reused(rp);
    for (int e = 1; e < LY_ERR_COUNT; e++) {
        ly_rep_init(rp);
        ly_rep_error(rp, LY_MSG_EARN, (uint64_t)e, (ly_err)e, NULL);
        rep_roundtrip(rp);
    }
    free_rep(rp);
}

static void fill_debts(ly_rep *rp, uint32_t n)
{
    rp->rp_debts = n ? calloc(n, sizeof *rp->rp_debts) : NULL;
    rp->rp_ndebts = n;
    for (uint32_t i = 0; i < n; i++) {
        ly_debt *de = &rp->rp_debts[i];
        snprintf(de->de_customer, sizeof de->de_customer, "C-%04u", i);
        de->de_debt = 100 + i;
        de->de_lifetime = (int64_t)i * 1000;
        de->de_last_hlc = ((uint64_t)1700000000000 + i) << 16;
    }
}

/* A conflicts page: each row points at its events in rp_events. */
static void fill_conflicts(ly_rep *rp, uint32_t n)
{
    rp->rp_nconflicts = n;
    rp->rp_conflicts = calloc(n ? n : 1, sizeof *rp->rp_conflicts);
    rp->rp_nevents = n * LY_CONFLICT_EVENTS;
    rp->rp_events = calloc(rp->rp_nevents ? rp->rp_nevents : 1, sizeof(ly_event));
    cr_assert(rp->rp_conflicts && rp->rp_events);
    for (uint32_t i = 0; i < rp->rp_nevents; i++) {
        /* The largest events there are: profile changes with every field full. */
        ly_event *e = &rp->rp_events[i];
        sample_events(e, 1);
        e->ev_seq = i + 1;
        char name[LY_NAME_MAX + 1], email[LY_EMAIL_MAX + 1], prefs[LY_TEXT_MAX + 1];
        memset(name, 'n', LY_NAME_MAX), name[LY_NAME_MAX] = '\0';
        memset(email, 'e', LY_EMAIL_MAX), email[LY_EMAIL_MAX] = '\0';
        memset(prefs, 'p', LY_TEXT_MAX), prefs[LY_TEXT_MAX] = '\0';
        memset(e->ev_customer, 'c', LY_ID_MAX), e->ev_customer[LY_ID_MAX] = '\0';
        memset(e->ev_txn, 't', LY_ID_MAX), e->ev_txn[LY_ID_MAX] = '\0';
        e->ev_type = LY_EV_PROFILE;
        e->ev_points = e->ev_amount = 0;
        lye_profile(e, LY_PF_ALL, name, "1970-01-01", email, "+1 555 0100 555 0100 555 0100",
                    prefs);
        cr_assert_eq(ly_event_validate(e), LY_OK);
    }
    for (uint32_t i = 0; i < n; i++) {
        ly_conflict *cf = &rp->rp_conflicts[i];
        snprintf(cf->cf_key, sizeof cf->cf_key, "T-%u", i);
        cf->cf_total = LY_CONFLICT_EVENTS + i;
        cf->cf_first = i * LY_CONFLICT_EVENTS;
        cf->cf_n = LY_CONFLICT_EVENTS;
        cf->cf_counts = cf->cf_first + i % LY_CONFLICT_EVENTS;
    }
}

Test(rep, roundtrip_conflicts)
{
    ly_rep *rp = new_rep(LY_MSG_CONFLICTS, 15);
    rep_roundtrip(rp); /* none */
    fill_conflicts(rp, LY_CONFLICTS_MAX);
    rp->rp_more = 1;
    rep_roundtrip(rp);
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    cr_assert(len <= LY_FRAME_MAX, "the largest conflicts page takes %zu bytes", len);
    free(buf);
    free_rep(rp);
}

Test(rep_bad, conflicts_pointing_outside_their_events)
{
    ly_rep *rp = new_rep(LY_MSG_CONFLICTS, 1);
    fill_conflicts(rp, 2);
    uint8_t *buf;
    size_t len;
    /* The encoder refuses a row beyond the events, or counting none of its own. */
    rp->rp_conflicts[1].cf_first = 5;
    cr_expect_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL);
    rp->rp_conflicts[1].cf_first = 3;
    rp->rp_conflicts[1].cf_counts = 0;
    cr_expect_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL);
    rp->rp_conflicts[1].cf_counts = 4;
    /* A node that sends one is refused by the decoder: "first" patched to 5. */
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    uint8_t *p = memmem(buf, len,
                        "\xa5"
                        "first\x03",
                        7);
    cr_assert_not_null(p);
    p[6] = 0x05;
    expect_rep((frame){buf, len}, LY_EPROTO, "outside its events", "conflict beyond its events");
    free_rep(rp);
}

Test(rep, roundtrip_debts)
{
    ly_rep *rp = new_rep(LY_MSG_DEBTS, 14);
    rep_roundtrip(rp); /* none: an empty array, more false */
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    cr_assert_not_null(memmem(buf, len,
                              "\xa5"
                              "debts\x90",
                              7));
    cr_assert_not_null(memmem(buf, len, "\xa4more\xc2", 6));
    cr_assert_null(memmem(buf, len, "customer", 8), "no customer-op keys");
    cr_assert_null(memmem(buf, len, "balance", 7));
    free(buf);

    fill_debts(rp, LY_DEBTS_MAX);
    rp->rp_more = 1;
    rp->rp_debts[0].de_debt = INT64_MAX;
    rp->rp_debts[1].de_lifetime = INT64_MIN;
    rp->rp_debts[2].de_last_hlc = UINT64_MAX;
    memset(rp->rp_debts[3].de_customer, 'z', LY_ID_MAX);
    rep_roundtrip(rp);
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    cr_assert(len <= LY_FRAME_MAX);
    static const uint8_t row[] = {0x84, 0xa8, 'c',  'u', 's', 't', 'o',  'm', 'e', 'r', 0xa6,
                                  'C',  '-',  '0',  '0', '0', '5', 0xa4, 'd', 'e', 'b', 't',
                                  0x69, 0xa8, 'l',  'i', 'f', 'e', 't',  'i', 'm', 'e', 0xcd,
                                  0x13, 0x88, 0xa8, 'l', 'a', 's', 't',  '_', 'h', 'l', 'c'};
    cr_assert_not_null(memmem(buf, len, row, sizeof row), "row 5 as pinned");
    cr_assert_not_null(memmem(buf, len, "\xa4more\xc3", 6));
    free(buf);
    ly_rep_fini(rp);
    cr_assert_null(rp->rp_debts);
    cr_assert_eq(rp->rp_ndebts, 0);
    ly_rep_fini(rp);

    /* A debts reply that failed: only the error. */
    ly_rep_init(rp);
    ly_rep_error(rp, LY_MSG_DEBTS, 3, LY_EUNAVAIL, NULL);
    rep_roundtrip(rp);
    free_rep(rp);
}

Test(rep, error_message_cleaned)
{
    ly_rep *rp = new_rep(0, 0);
    ly_rep_error(rp, LY_MSG_EARN, 3, LY_EINVAL, "bad id '%s'\n",
                 "\xff\xfe"
                 "C\x01");
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    ly_rep *out = malloc(sizeof *out);
    char why[128];
    cr_assert_eq(ly_rep_decode(buf, len, out, why, sizeof why), LY_OK, "%s", why);
    cr_assert_str_eq(out->rp_message, "bad id '??C?'?");
    cr_assert_eq(out->rp_err, LY_EINVAL);
    free(buf);
    /* An empty message is sent as the error's text. */
    rp->rp_message[0] = '\0';
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    cr_assert_eq(ly_rep_decode(buf, len, out, NULL, 0), LY_OK);
    cr_assert_str_eq(out->rp_message, ly_strerror(LY_EINVAL));
    free(buf);
    free(out);
    free_rep(rp);
}

Test(rep_enc, refuses_invalid)
{
    uint8_t *buf;
    size_t len;
    ly_rep *rp = new_rep(0, 1);
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "success without a type");
    rp->rp_type = LY_MSG_TYPE_MAX + 1;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "unknown type");
    rp->rp_type = LY_MSG_EARN;
    rp->rp_err = LY_ERR_COUNT;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "unknown error");
    rp->rp_err = LY_OK;
    fill_customer_op(rp);
    strcpy(rp->rp_customer, "C 1");
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "bad customer id");
    fill_customer_op(rp);
    strcpy(rp->rp_tier, "Gold\n");
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "bad tier name");
    free_rep(rp);

    rp = new_rep(LY_MSG_CUSTOMER, 1);
    fill_customer_op(rp);
    rp->rp_nhist = LY_HIST_MAX + 1;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "too much history");
    rp->rp_nhist = 1;
    rp->rp_hist[0].hi_type = 99;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "unknown history type");
    rp->rp_hist[0].hi_type = LY_EV_EARN;
    rp->rp_fields = 1u << 9;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "unknown profile bits");
    rp->rp_fields = 0;
    rp->rp_nrights = LY_RIGHTS_REPLY_MAX + 1;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "65 rights rows");
    rp->rp_nrights = 2;
    rp->rp_rights[1].node = 0;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "rights of node 0");
    rp->rp_rights[1].node = 2;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    free(buf);
    free_rep(rp);

    rp = new_rep(LY_MSG_DEBTS, 1);
    rp->rp_ndebts = 1;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "debts without an array");
    fill_debts(rp, LY_DEBTS_MAX + 1);
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "101 debt rows");
    rp->rp_ndebts = 3;
    rp->rp_debts[2].de_customer[0] = '\0';
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "a debt row without a customer");
    strcpy(rp->rp_debts[2].de_customer, "C 2");
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "a debt row with a bad id");
    strcpy(rp->rp_debts[2].de_customer, "C2");
    rp->rp_more = 2;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "more 2");
    rp->rp_more = 1;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    free(buf);
    free_rep(rp);

    rp = new_rep(LY_MSG_STATUS, 1);
    rp->rp_status->ns_nvv = LY_VV_MAX + 1;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "too many vv entries");
    rp->rp_status->ns_nvv = 0;
    strcpy(rp->rp_status->ns_client, "tcp://x:1\t");
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "control character in client");
    rp->rp_status->ns_client[0] = '\0';
    rp->rp_status->ns_npeers = 1;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "peers without an array");
    fill_peers(rp->rp_status, LY_STATUS_PEERS_MAX);
    rp->rp_status->ns_npeers = LY_STATUS_PEERS_MAX + 1;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "too many peers");
    rp->rp_status->ns_npeers = 3;
    rp->rp_status->ns_peers[2].ps_up = 2;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "up not a boolean");
    rp->rp_status->ns_peers[2].ps_up = 1;
    strcpy(rp->rp_status->ns_peers[1].ps_name, "bad\x01name");
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "control character in a peer name");
    free_rep(rp);

    rp = new_rep(LY_MSG_EVENTS, 1);
    rp->rp_nevents = 1;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "events without an array");
    rp->rp_events = calloc(LY_EVENTS_MAX + 1, sizeof(ly_event));
    sample_events(rp->rp_events, LY_EVENTS_MAX + 1);
    rp->rp_nevents = LY_EVENTS_MAX + 1;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "too many events");
    rp->rp_nevents = 2;
    rp->rp_events[1].ev_seq = 0;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_EINVAL, "invalid event");
    /* 100 events with every string at its maximum do not fit in one frame. */
    for (uint32_t i = 0; i < LY_EVENTS_MAX; i++) {
        ly_event *e = &rp->rp_events[i];
        memset(e, 0, sizeof *e);
        e->ev_origin = 1;
        e->ev_seq = i + 1;
        e->ev_hlc = 1ULL << 20;
        e->ev_type = LY_EV_ADJUST;
        e->ev_amount = e->ev_points = 1;
        memset(e->ev_customer, 'c', LY_ID_MAX);
        memset(e->ev_txn, 't', LY_ID_MAX);
        memset(e->ev_operator, 'o', LY_ID_MAX);
        memset(e->ev_reason, 'r', LY_TEXT_MAX);
        memset(e->ev_profile.pf_prefs, 'p', LY_TEXT_MAX);
        memset(e->ev_profile.pf_name, 'n', LY_NAME_MAX);
        cr_assert_eq(ly_event_validate(e), LY_OK);
    }
    rp->rp_nevents = LY_EVENTS_MAX;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_ETOOBIG, "100 large events");
    rp->rp_nevents = 20;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK, "20 large events");
    free(buf);
    free_rep(rp);
}

/* ---- bad replies -------------------------------------------------------- */

static const kv k_ok[] = {KU("v", 1),           KS("t", "earn"),    KU("id", 7), KT("ok", V_TRUE),
                          KS("customer", "C1"), KI("balance", 100), KEND};

Test(rep_bad, lenient_about_unknown_keys)
{
    kv extra[] = {KS("shiny_new_field", "x"), KT("nested_new", V_MAP0), KEND};
    expect_rep(mk(k_ok, extra), LY_OK, NULL, "unknown keys skipped");
    /* An unknown key holding nested containers is skipped whole. */
    static const uint8_t val[] = {0x82, 0xa1, 'a', 0x92, 0x01, 0x80, 0xa1, 'b', 0x91, 0x91, 0x90};
    expect_rep(mk_plus(k_ok, "new", val, sizeof val), LY_OK, NULL,
               "unknown key with nested containers");
}

Test(rep_bad, strict_about_known_keys)
{
    kv bal[] = {KS("balance", "100"), KEND};
    expect_rep(mk(k_ok, bal), LY_EPROTO, "field 'balance'", "balance as a string");
    kv balf[] = {KT("balance", V_F), KEND};
    expect_rep(mk(k_ok, balf), LY_EPROTO, "field 'balance'", "balance as a float");
    kv okint[] = {KU("ok", 1), KEND};
    expect_rep(mk(k_ok, okint), LY_EPROTO, "field 'ok'", "ok as an integer");
    kv okdel[] = {KT("ok", V_DEL), KEND};
    expect_rep(mk(k_ok, okdel), LY_EPROTO, "field 'ok': missing", "ok missing");
    kv iddel[] = {KT("id", V_DEL), KEND};
    expect_rep(mk(k_ok, iddel), LY_EPROTO, "field 'id': missing", "id missing");
    kv v2[] = {KU("v", 2), KS("balance", "changed meaning"), KEND};
    expect_rep(mk(k_ok, v2), LY_EVERSION, "field 'v'", "v = 2");
    kv tbad[] = {KS("t", "teleport"), KEND};
    expect_rep(mk(k_ok, tbad), LY_EPROTO, "field 't'", "unknown t");
    kv tdel[] = {KT("t", V_DEL), KEND};
    expect_rep(mk(k_ok, tdel), LY_OK, NULL, "no t");
    kv cust[] = {KS("customer", "C\0001"), KEND};
    cust[0].n = 3;
    expect_rep(mk(k_ok, cust), LY_EPROTO, "field 'customer'", "NUL in customer");
    kv cust2[] = {KS("customer", "C 1"), KEND};
    expect_rep(mk(k_ok, cust2), LY_EPROTO, "field 'customer'", "bad customer id");
    kv tier[] = {KS("tier", "123456789012345678901234567890123"), KEND};
    expect_rep(mk(k_ok, tier), LY_EPROTO, "field 'tier'", "33-byte tier");
    kv origin[] = {KU("origin", 70000), KEND};
    expect_rep(mk(k_ok, origin), LY_EPROTO, "field 'origin'", "origin 70000");
    kv bal_big[] = {KU("balance", UINT64_MAX), KEND};
    expect_rep(mk(k_ok, bal_big), LY_EPROTO, "field 'balance'", "balance above INT64_MAX");
    kv hist[] = {KT("history", V_MAP0), KEND};
    expect_rep(mk(k_ok, hist), LY_EPROTO, "field 'history'", "history as a map");
    kv prof[] = {KT("profile", V_ARR0), KEND};
    expect_rep(mk(k_ok, prof), LY_EPROTO, "field 'profile'", "profile as an array");
    static const kv dup[] = {KU("v", 1),         KS("t", "earn"),  KU("id", 7), KT("ok", V_TRUE),
                             KI("balance", 100), KI("balance", 5), KEND};
    expect_rep(mk(dup, NULL), LY_EPROTO, "field 'balance': duplicate", "duplicate balance");
}

Test(rep_bad, error_replies)
{
    static const kv base[] = {KU("v", 1), KS("t", "redeem"), KU("id", 7), KEND};
    /* {"ok": false} without "error" */
    kv noerr[] = {{"ok", V_TRUE, 0, 0, NULL, 0}, KEND};
    frame f = mk(base, noerr);
    f.buf[f.len - 1] = 0xc2; /* false */
    expect_rep(f, LY_EPROTO, "field 'error': missing", "failure without error");

    /* Build {"v":1,"t":"redeem","id":7,"ok":false,"error":{...}} by hand. */
    for (int variant = 0; variant < 6; variant++) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 5);
        pack_str(&pk, "v", 1);
        msgpack_pack_uint8(&pk, 1);
        pack_str(&pk, "t", 1);
        pack_str(&pk, "redeem", 6);
        pack_str(&pk, "id", 2);
        msgpack_pack_uint8(&pk, 7);
        pack_str(&pk, "ok", 2);
        if (variant == 4)
            msgpack_pack_true(&pk);
        else
            msgpack_pack_false(&pk);
        pack_str(&pk, "error", 5);
        const char *code = variant == 1   ? "brand_new_error"
                           : variant == 2 ? "ok"
                                          : "insufficient_points";
        msgpack_pack_map(&pk, variant == 3 ? 1 : 4);
        if (variant != 3) {
            pack_str(&pk, "code", 4);
            pack_str(&pk, code, strlen(code));
        }
        pack_str(&pk, "available", 9);
        if (variant == 5)
            msgpack_pack_nil(&pk);
        else
            msgpack_pack_int64(&pk, 50);
        if (variant != 3) {
            pack_str(&pk, "message", 7);
            pack_str(&pk, "only 50", 7);
            pack_str(&pk, "hint", 4); /* unknown: skipped */
            pack_str(&pk, "x", 1);
        }
        ly_rep *rp = malloc(sizeof *rp);
        char why[128] = "";
        ly_err rc = ly_rep_decode((const uint8_t *)sb.data, sb.size, rp, why, sizeof why);
        switch (variant) {
        case 0:
            cr_expect_eq(rc, LY_OK, "%s", why);
            cr_expect_eq(rp->rp_err, LY_EINSUFFICIENT);
            cr_expect_eq(rp->rp_available, 50);
            cr_expect_str_eq(rp->rp_message, "only 50");
            break;
        case 1:
            cr_expect_eq(rc, LY_OK, "%s", why);
            cr_expect_eq(rp->rp_err, LY_EINTERNAL, "an unknown code reads as internal_error");
            break;
        case 2:
            cr_expect_eq(rc, LY_EPROTO, "code 'ok' in an error");
            break;
        case 3:
            cr_expect_eq(rc, LY_EPROTO, "error without code");
            cr_expect(strstr(why, "code") != NULL, "%s", why);
            break;
        case 4:
            cr_expect_eq(rc, LY_EPROTO, "error in a success");
            break;
        default:
            cr_expect_eq(rc, LY_EPROTO, "available as nil");
            cr_expect(strstr(why, "error: field 'available'") != NULL, "%s", why);
            break;
        }
        ly_rep_fini(rp);
        free_rep(rp);
        msgpack_sbuffer_destroy(&sb);
    }
}

/* {"v":1,"t":"events","id":1,"ok":true,"events":<array header>} + body */
static frame events_frame(const uint8_t *hdr, size_t hn, const uint8_t *body, size_t bn)
{
    static const kv base[] = {KU("v", 1), KS("t", "events"), KU("id", 1), KT("ok", V_TRUE), KEND};
    uint8_t *val = malloc(hn + bn);
    cr_assert_not_null(val);
    memcpy(val, hdr, hn);
    if (bn)
        memcpy(val + hn, body, bn);
    frame f = mk_plus(base, "events", val, hn + bn);
    free(val);
    return f;
}

Test(rep_bad, events_and_lists)
{
    static const uint8_t huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    expect_rep(events_frame(huge, sizeof huge, NULL, 0), LY_EPROTO, "larger than the frame",
               "events array32 of 2^32-1");
    uint8_t many[101 + 3];
    many[0] = 0xdc;
    many[1] = 0;
    many[2] = 101;
    memset(many + 3, 0x80, 101);
    expect_rep(events_frame(many, 3, many + 3, 101), LY_EPROTO, "more than 100",
               "101 empty events");
    /* Fewer bytes than a valid event needs (LYP_EVENT_MIN): refused before
     * anything is allocated for them. */
    uint8_t one_empty[] = {0x91, 0x80};
    expect_rep(events_frame(one_empty, 1, one_empty + 1, 1), LY_EPROTO, "cannot fit",
               "an empty event alone");
    uint8_t hundred[3 + 100];
    hundred[0] = 0xdc;
    hundred[1] = 0;
    hundred[2] = 100;
    memset(hundred + 3, 0x80, 100);
    expect_rep(events_frame(hundred, 3, hundred + 3, 100), LY_EPROTO, "cannot fit",
               "100 empty events");
    /* With room for two events: the first is looked at. */
    uint8_t two[2 + 2 + 70] = {0x92, 0x80, 0xd9, 70};
    memset(two + 4, 'x', 70);
    expect_rep(events_frame(two, 1, two + 1, sizeof two - 1), LY_EPROTO,
               "events[0]: not a valid event", "an empty event");
    two[1] = 0x01;
    expect_rep(events_frame(two, 1, two + 1, sizeof two - 1), LY_EPROTO,
               "field 'events[0]': expected a map", "event not a map");

    /* A valid event with a wrong-typed field. */
    ly_rep *rp = new_rep(LY_MSG_EVENTS, 1);
    rp->rp_events = calloc(1, sizeof(ly_event));
    rp->rp_nevents = 1;
    sample_events(rp->rp_events, 1);
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ly_rep_encode(rp, &buf, &len), LY_OK);
    uint8_t *seq = memmem(buf, len, "\xa3seq\x01", 5);
    cr_assert_not_null(seq);
    seq[4] = 0xc0; /* nil */
    expect_rep(raw(buf, len), LY_EPROTO, "events[0]: field 'seq'", "event seq nil");
    seq[4] = 0x00; /* seq 0: not a valid event */
    expect_rep(raw(buf, len), LY_EPROTO, "not a valid event", "event seq 0");
    free(buf);
    free_rep(rp);

    /* History and vv over their limits. */
    static const kv cbase[] = {KU("v", 1), KS("t", "customer"), KU("id", 1), KT("ok", V_TRUE),
                               KEND};
    expect_rep(mk_plus_maps(cbase, "history", 51), LY_EPROTO, "more than 50", "51 history entries");

    ly_rep *st = new_rep(LY_MSG_STATUS, 1);
    st->rp_status->ns_nvv = 1;
    st->rp_status->ns_vv[0].origin = 1;
    cr_assert_eq(ly_rep_encode(st, &buf, &len), LY_OK);
    uint8_t *vv = memmem(buf, len, "\xa2vv\x91", 4);
    cr_assert_not_null(vv);
    vv[3] = 0xdc; /* array16 of 0x8? entries: count larger than the frame */
    expect_rep(raw(buf, len), LY_EPROTO, NULL, "vv count beyond the frame");
    free(buf);
    free_rep(st);
}

Test(rep_bad, structural)
{
    expect_rep(raw("", 0), LY_EPROTO, "empty", "empty reply");
    expect_rep(nested(33, 0x91), LY_EPROTO, "nesting", "33 levels");
    expect_rep(nested(10000, 0x91), LY_EPROTO, "nesting", "10000 levels");
    static const uint8_t c1[] = {0x81, 0xa1, 'v', 0xc1};
    expect_rep(raw(c1, sizeof c1), LY_EPROTO, "0xc1", "0xc1");
    frame f = mk(k_ok, NULL);
    for (size_t n = 0; n < f.len; n++)
        expect_rep(raw(f.buf, n), LY_EPROTO, NULL, "truncated reply");
    f.buf = realloc(f.buf, f.len + 1);
    f.buf[f.len++] = 0xc0;
    expect_rep(f, LY_EPROTO, "trailing", "reply plus nil");
    uint8_t *big = calloc(1, LY_FRAME_MAX + 1);
    expect_rep(raw(big, LY_FRAME_MAX + 1), LY_ETOOBIG, NULL, "reply over LY_FRAME_MAX");
    free(big);
    /* Deep but legal nesting of an unknown key's value (depth 8) is skipped. */
    static const uint8_t deep[] = {0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x90};
    /* 7 arrays: depth 8 with the top-level map */
    expect_rep(mk_plus(k_ok, "z", deep, sizeof deep), LY_OK, NULL, "depth 8");
}

Test(rep_bad, debts)
{
    static const kv base[] = {KU("v", 1), KS("t", "debts"), KU("id", 1), KT("ok", V_TRUE), KEND};
    /* An older node, or no debts: none, more false. */
    frame f = mk(base, NULL);
    ly_rep *rp = malloc(sizeof *rp);
    cr_assert_eq(ly_rep_decode(f.buf, f.len, rp, NULL, 0), LY_OK);
    cr_assert_eq(rp->rp_ndebts, 0);
    cr_assert_null(rp->rp_debts);
    cr_assert_eq(rp->rp_more, 0);
    free_rep(rp);
    free(f.buf);

    kv more_int[] = {KU("more", 1), KEND};
    expect_rep(mk(base, more_int), LY_EPROTO, "field 'more'", "more as an integer");
    kv as_map[] = {KT("debts", V_MAP0), KEND};
    expect_rep(mk(base, as_map), LY_EPROTO, "field 'debts'", "debts as a map");

    /* Rows, given as raw bytes after the base map. */
#define B(lit) (const uint8_t *)lit, sizeof(lit) - 1
    static const raw_case rows[] = {
        {B("\x90"), LY_OK, NULL},
        {B("\x91\x81\xa8"
           "customer\xa2"
           "C1"),
         LY_OK, NULL},
        {B("\x91\x82\xa8"
           "customer\xa2"
           "C1\xa4"
           "hint\x01"),
         LY_OK, NULL}, /* an unknown key in a row: skipped */
        {B("\x91\x81\xa4"
           "debt\x05"),
         LY_EPROTO, "debts[0]: field 'customer': missing"},
        {B("\x91\x01"), LY_EPROTO, "field 'debts[0]': expected a map"},
        {B("\x91\x81\xa8"
           "customer\xa3"
           "C 1"),
         LY_EPROTO, "debts[0]: field 'customer'"},
        {B("\x91\x81\xa8"
           "customer\xa0"),
         LY_EPROTO, "debts[0]: field 'customer': must not be empty"},
        {B("\x91\x82\xa8"
           "customer\xa2"
           "C1\xa4"
           "debt\xa1"
           "5"),
         LY_EPROTO, "debts[0]: field 'debt'"},
        {B("\x91\x82\xa8"
           "customer\xa2"
           "C1\xa8last_hlc\xff"),
         LY_EPROTO, "debts[0]: field 'last_hlc'"},
        {B("\x91\x82\xa8"
           "customer\xa2"
           "C1\xa8lifetime\xcf\xff\xff\xff\xff\xff\xff\xff\xff"),
         LY_EPROTO, "debts[0]: field 'lifetime'"},
        {B("\x92\x81\xa8"
           "customer\xa2"
           "C1\x81\xa8"
           "customer\xa1"
           "\xff"),
         LY_EPROTO, "debts[1]: field 'customer'"},
        {B("\xdd\xff\xff\xff\xff"), LY_EPROTO, "larger than the frame"},
    };
#undef B
    expect_rep_cases(base, "debts", rows, sizeof rows / sizeof rows[0], "debts row");
    /* 101 rows. */
    expect_rep(mk_plus_maps(base, "debts", LY_DEBTS_MAX + 1), LY_EPROTO,
               "field 'debts': more than 100 entries", "101 debt rows");
}

Test(rep_bad, rights)
{
    /* An older node sends no "rights" and no "local_rights": read as none. */
    frame f = mk(k_ok, NULL);
    ly_rep *rp = malloc(sizeof *rp);
    cr_assert_eq(ly_rep_decode(f.buf, f.len, rp, NULL, 0), LY_OK);
    cr_assert_eq(rp->rp_nrights, 0);
    cr_assert_eq(rp->rp_local_rights, 0);
    free_rep(rp);
    free(f.buf);

    kv lr[] = {KS("local_rights", "5"), KEND};
    expect_rep(mk(k_ok, lr), LY_EPROTO, "field 'local_rights'", "local_rights as a string");
    kv lrbig[] = {KU("local_rights", UINT64_MAX), KEND};
    expect_rep(mk(k_ok, lrbig), LY_EPROTO, "field 'local_rights'", "local_rights over INT64_MAX");
    kv lrneg[] = {KI("local_rights", -5), KEND};
    expect_rep(mk(k_ok, lrneg), LY_OK, NULL, "local_rights negative");
    kv as_map[] = {KT("rights", V_MAP0), KEND};
    expect_rep(mk(k_ok, as_map), LY_EPROTO, "field 'rights'", "rights as a map");

#define B(lit) (const uint8_t *)lit, sizeof(lit) - 1
    static const raw_case rows[] = {
        {B("\x90"), LY_OK, NULL},
        {B("\x91\x82\xa4node\x01\xa6points\xff"), LY_OK, NULL},
        {B("\x91\x83\xa4node\x01\xa6points\x01\xa4"
           "from\x02"),
         LY_OK, NULL}, /* an unknown key in a row: skipped */
        {B("\x91\x81\xa6points\x01"), LY_EPROTO, "rights[0]: field 'node': missing"},
        {B("\x91\x81\xa4node\x01"), LY_EPROTO, "rights[0]: field 'points': missing"},
        {B("\x91\x82\xa4node\x00\xa6points\x01"), LY_EPROTO,
         "rights[0]: field 'node': must be 1..65535"},
        {B("\x91\x82\xa4node\xce\x00\x01\x00\x00\xa6points\x01"), LY_EPROTO,
         "rights[0]: field 'node'"},
        {B("\x91\x82\xa4node\x01\xa6points\xc0"), LY_EPROTO, "rights[0]: field 'points'"},
        {B("\x91\x83\xa4node\x01\xa6points\x01\xa4node\x02"), LY_EPROTO,
         "rights[0]: field 'node': duplicate"},
        {B("\x91\xc0"), LY_EPROTO, "field 'rights[0]': expected a map"},
        {B("\xdd\xff\xff\xff\xff"), LY_EPROTO, "larger than the frame"},
    };
#undef B
    expect_rep_cases(k_ok, "rights", rows, sizeof rows / sizeof rows[0], "rights row");
    /* 65 rows. */
    expect_rep(mk_plus_maps(k_ok, "rights", LY_RIGHTS_REPLY_MAX + 1), LY_EPROTO,
               "field 'rights': more than 64 entries", "65 rights rows");
}

Test(rep_bad, history_transfer)
{
    static const kv cbase[] = {KU("v", 1), KS("t", "customer"), KU("id", 1), KT("ok", V_TRUE),
                               KEND};
#define B(lit) (const uint8_t *)lit, sizeof(lit) - 1
    static const raw_case rows[] = {
        {B("\x91\x83\xa4type\xa8transfer\xa6origin\x02\xa2to\x05"), LY_OK, NULL},
        {B("\x91\x81\xa4type\xa8transfer"), LY_OK, NULL},
        {B("\x91\x81\xa4type\xa8Transfer"), LY_EPROTO, "history[0]: field 'type': unknown"},
        {B("\x91\x81\xa4type\x07"), LY_EPROTO, "history[0]: field 'type': expected a string"},
        {B("\x91\x82\xa4type\xa8transfer\xa2to\xce\x00\x01\x00\x00"), LY_EPROTO,
         "history[0]: field 'to'"},
        {B("\x91\x82\xa4type\xa8transfer\xa2to\xff"), LY_EPROTO, "history[0]: field 'to'"},
        {B("\x91\x81\xa2to\x05"), LY_EPROTO, "history.type"},
    };
#undef B
    expect_rep_cases(cbase, "history", rows, sizeof rows / sizeof rows[0], "history");
    /* Case 0 in full: a transfer row. */
    frame g = mk_plus(cbase, "history", rows[0].bytes, rows[0].n);
    ly_rep *rp = malloc(sizeof *rp);
    cr_assert_eq(ly_rep_decode(g.buf, g.len, rp, NULL, 0), LY_OK);
    cr_assert_eq(rp->rp_nhist, 1);
    cr_assert_eq(rp->rp_hist[0].hi_type, LY_EV_TRANSFER);
    cr_assert_eq(rp->rp_hist[0].hi_origin, 2);
    cr_assert_eq(rp->rp_hist[0].hi_to, 5);
    free_rep(rp);
    free(g.buf);
}

/* ---- programs: program-apply, program, the earn's breakdown ---- */

Test(rep, roundtrip_earn_breakdown)
{
    ly_rep *rp = new_rep(LY_MSG_EARN, 5);
    fill_customer_op(rp);
    rp->rp_replayed = 0;
    rp->rp_base_points = 100;
    strcpy(rp->rp_earn_tier, "Gold");
    rp->rp_tier_mult = 2000;
    rp->rp_category_mult = 1500;
    strcpy(rp->rp_campaign, "spring");
    rp->rp_campaign_points = 150;
    rp->rp_bonus_points = 200;
    strcpy(rp->rp_tier_until, "2027-12-31");
    rp->rp_to_keep = 1234;
    rep_roundtrip(rp);
    free_rep(rp);
}

Test(rep, roundtrip_program_with_parts_and_rows)
{
    ly_rep *rp = new_rep(LY_MSG_PROGRAM, 6);
    rp->rp_program = 3;
    rp->rp_nevents = 2;
    cr_assert_not_null(rp->rp_events = calloc(2, sizeof *rp->rp_events));
    for (int i = 0; i < 2; i++) {
        ly_event *ev = &rp->rp_events[i];
        ev->ev_origin = 2;
        ev->ev_incarnation = 9;
        ev->ev_seq = 10 + (uint64_t)i;
        ev->ev_hlc = 1ULL << 40;
        ev->ev_type = LY_EV_PROGRAM;
        ev->ev_program = 3;
        ev->ev_amount = LY_EV_BLOB_MAX + 7;
        ev->ev_req_hash = 0xabcdef;
        ev->ev_part = (uint8_t)(i + 1);
        ev->ev_parts = 2;
        ev->ev_blob_len = i == 0 ? LY_EV_BLOB_MAX : 7;
        for (int k = 0; k < ev->ev_blob_len; k++)
            ev->ev_blob[k] = (uint8_t)(k * 7 + i); /* NULs and every byte value */
        strcpy(ev->ev_operator, "hq-anna");
        cr_assert_eq(ly_event_validate(ev), LY_OK);
    }
    rp->rp_nprograms = 2;
    cr_assert_not_null(rp->rp_programs = calloc(2, sizeof *rp->rp_programs));
    for (int i = 0; i < 2; i++) {
        ly_progrow *w = &rp->rp_programs[i];
        w->pw_version = 3;
        w->pw_state = i ? LY_PW_LOST : LY_PW_IN_FORCE;
        strcpy(w->pw_name, i ? "From n3" : "From n1");
        w->pw_effective_ms = i ? 0 : 1798761600000LL;
        w->pw_hlc = (2ULL + (uint64_t)i) << 40;
        w->pw_origin = (uint16_t)(1 + 2 * i);
        w->pw_seq = 4;
        w->pw_hash = 0x0123456789abcdefULL + (uint64_t)i;
        strcpy(w->pw_operator, "hq");
        strcpy(w->pw_reason, i ? "" : "spring program");
    }
    rep_roundtrip(rp);
    rp->rp_type = LY_MSG_PROGRAM_APPLY;
    rp->rp_nprograms = 1;
    rp->rp_replayed = 1;
    free(rp->rp_events);
    rp->rp_events = NULL;
    rp->rp_nevents = 0;
    rep_roundtrip(rp);
    free_rep(rp);
}

Test(req, program_apply_carries_the_bytes)
{
    uint8_t bytes[300];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (uint8_t)(255 - i);
    ly_req rq;
    ly_req_init(&rq, LY_MSG_PROGRAM_APPLY);
    rq.rq_id = 8;
    strcpy(rq.rq_operator, "hq-anna");
    strcpy(rq.rq_reason, "spring");
    rq.rq_blob = bytes;
    rq.rq_blob_len = sizeof bytes;
    uint8_t *buf = NULL;
    size_t len = 0;
    char why[256];
    cr_assert_eq(ly_req_encode(&rq, &buf, &len), LY_OK);
    ly_req out;
    cr_assert_eq(ly_req_decode(buf, len, &out, why, sizeof why), LY_OK, "%s", why);
    cr_expect_eq(out.rq_type, LY_MSG_PROGRAM_APPLY);
    cr_expect_str_eq(out.rq_operator, "hq-anna");
    cr_expect_str_eq(out.rq_reason, "spring");
    cr_assert_eq(out.rq_blob_len, sizeof bytes);
    cr_expect(memcmp(out.rq_blob, bytes, sizeof bytes) == 0);
    ly_req_fini(&out);
    cr_expect_null(out.rq_blob, "fini frees and clears");
    free(buf);
    /* No bytes, too many, or without an operator: refused by the encoder. */
    rq.rq_blob_len = 0;
    cr_expect_eq(ly_req_encode(&rq, &buf, &len), LY_EINVAL);
    rq.rq_blob_len = LY_PROGRAM_BYTES_MAX + 1;
    cr_expect_eq(ly_req_encode(&rq, &buf, &len), LY_EINVAL);
    rq.rq_blob_len = sizeof bytes;
    rq.rq_operator[0] = '\0';
    cr_expect_eq(ly_req_encode(&rq, &buf, &len), LY_EINVAL);
    /* program: an optional version, 1..2^32-1. */
    ly_req_init(&rq, LY_MSG_PROGRAM);
    rq.rq_id = 9;
    req_roundtrip(&rq);
    rq.rq_version = 7;
    req_roundtrip(&rq);
}
