/* peer_codec_test.c -- the peer protocol codec (proto/peer.h): round trips of
 * every message type with realistic events and long version vectors, and
 * strict refusals of everything out of contract, without large allocations.
 * Bad frames are made by editing good ones with msgpack-c. */
#include <criterion/criterion.h>
#include <malloc.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/peer.h"
#include "tests/support/events.h"

/* ---- helpers ------------------------------------------------------------ */

typedef struct frame {
    uint8_t *buf;
    size_t len;
} frame;

static size_t heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static frame raw(const void *bytes, size_t n)
{
    frame f = {malloc(n ? n : 1), n};
    memcpy(f.buf, bytes, n);
    return f;
}

static frame from_sbuffer(msgpack_sbuffer *sb)
{
    frame f = {(uint8_t *)sb->data, sb->size};
    return f;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* A copy of the map `src` with the entry of key `key` removed (val == NULL),
 * or its value replaced by the `n` raw msgpack bytes of `val` (appended as a
 * new entry if the key is absent). `src` is left as it is. */
static frame edit(frame src, const char *key, const void *val, size_t n)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&up, (const char *)src.buf, src.len, &off),
                 MSGPACK_UNPACK_SUCCESS);
    const msgpack_object_map *m = &up.data.via.map;
    int found = 0;
    for (uint32_t i = 0; i < m->size; i++)
        if (m->ptr[i].key.via.str.size == strlen(key) &&
            memcmp(m->ptr[i].key.via.str.ptr, key, strlen(key)) == 0)
            found = 1;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, m->size - (val == NULL && found) + (val != NULL && !found));
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object_kv *e = &m->ptr[i];
        int is_key =
            e->key.via.str.size == strlen(key) && memcmp(e->key.via.str.ptr, key, strlen(key)) == 0;
        if (is_key && val == NULL)
            continue;
        msgpack_pack_object(&pk, e->key);
        if (is_key)
            msgpack_sbuffer_write(&sb, val, n);
        else
            msgpack_pack_object(&pk, e->val);
    }
    if (val != NULL && !found) {
        pack_str(&pk, key);
        msgpack_sbuffer_write(&sb, val, n);
    }
    msgpack_unpacked_destroy(&up);
    return from_sbuffer(&sb);
}

/* Decodes `f`, expects `code` and a reason containing `part` (if not NULL);
 * checks that decoding allocated at most `alloc_max` bytes. Frees the frame. */
static void expect_x(frame f, ly_err code, const char *part, size_t alloc_max, const char *what)
{
    ly_pmsg *m = malloc(sizeof *m);
    char why[256] = "unset";
    size_t before = heap_used();
    ly_err rc = ly_pmsg_decode(f.buf, f.len, m, why, sizeof why);
    size_t after = heap_used();
    cr_expect_eq(rc, code, "%s: got %s (%s), want %s", what, ly_errname(rc), why, ly_errname(code));
    if (part)
        cr_expect(strstr(why, part) != NULL, "%s: reason '%s' lacks '%s'", what, why, part);
    if (code != LY_OK)
        cr_expect(why[0] != '\0', "%s: no reason given", what);
    else
        cr_expect_str_eq(why, "", "%s", what);
    cr_expect(after <= before + alloc_max, "%s: decoding allocated %zu bytes", what,
              after - before);
    ly_pmsg_fini(m);
    ly_pmsg_fini(m); /* twice: harmless */
    free(m);
    free(f.buf);
}

/* Allocation allowed by default: the events a message may hold. */
#define ALLOC_EVENTS ((size_t)LY_PEER_EVENTS_MAX * sizeof(ly_event) + 4096)

static void expect_pm(frame f, ly_err code, const char *part, const char *what)
{
    expect_x(f, code, part, ALLOC_EVENTS, what);
}

/* Realistic events of every type: `n` of them, event i of origin
 * origin(i), seq seq(i). */
static void fill_event(ly_event *e, uint32_t i, uint16_t origin, uint32_t inc, uint64_t seq)
{
    memset(e, 0, sizeof *e);
    e->ev_origin = origin;
    e->ev_incarnation = inc;
    e->ev_seq = seq;
    e->ev_hlc = ((uint64_t)1700000000000 + seq) << 16 | (i & 0xffff);
    e->ev_program = 3;
    e->ev_qual_day = 19700 + (int32_t)(i % 400);
    e->ev_req_hash = 0x0123456789abcdefULL * (seq + 1);
    snprintf(e->ev_customer, sizeof e->ev_customer, "CUST-%u", i % 97);
    snprintf(e->ev_txn, sizeof e->ev_txn, "pos7:%u/%llu", origin, (unsigned long long)seq);
    switch (i % 9) {
    case 0:
        lye_enroll(e, 100, LY_PF_NAME | LY_PF_EMAIL, "Åsa Öberg", "asa@example.se");
        break;
    case 1:
        lye_earn(e, 129900, 1299, 1, 2, "electronics");
        break;
    case 2:
        lye_redeem(e, 500);
        break;
    case 3:
        lye_reverse(e, LY_EV_EARN, "pos7:1/1", 10000, -100, -100);
        e->ev_tier_from = 2;
        e->ev_tier_to = 1;
        break;
    case 4:
        lye_reverse(e, LY_EV_REDEEM, "pos7:1/2", 200, 200, 0);
        break;
    case 5:
        lye_adjust(e, i % 16 == 5 ? -LY_AMOUNT_MAX : 250, "goodwill: late delivery — sorry",
                   "op.anna");
        break;
    case 6:
        lye_profile(e, LY_PF_ALL, "Ann B", "1984-02-29", "ann@example.com", "+46 70 123 45 67",
                    "email only; 日本語 ok");
        break;
    case 7:
        lye_profile(e, LY_PF_PHONE, NULL, NULL, NULL, NULL, NULL); /* cleared */
        break;
    default:
        /* A rights transfer to another node (the next id, wrapping). */
        lye_transfer(e, (uint16_t)(origin == UINT16_MAX ? 1 : origin + 1),
                     i % 18 == 8 ? LY_AMOUNT_MAX : 300);
        break;
    }
    cr_assert_eq(ly_event_validate(e), LY_OK, "sample event %u", i);
}

/* An events message body: n events of (origin, inc) from prev + 1. */
static void live_events(ly_pmsg *m, uint16_t origin, uint32_t inc, uint64_t prev, uint32_t n)
{
    m->pm_origin = origin;
    m->pm_incarnation = inc;
    m->pm_prev = prev;
    m->pm_nevents = n;
    m->pm_events = n ? calloc(n, sizeof(ly_event)) : NULL;
    for (uint32_t i = 0; i < n; i++)
        fill_event(&m->pm_events[i], i, origin, inc, prev + 1 + i);
}

/* A sync-rep body: n events of three origins, interleaved, each in seq order. */
static void catchup_events(ly_pmsg *m, uint32_t n)
{
    m->pm_nevents = n;
    m->pm_events = n ? calloc(n, sizeof(ly_event)) : NULL;
    for (uint32_t i = 0; i < n; i++)
        fill_event(&m->pm_events[i], i, (uint16_t)(1 + i % 3), 1000 + i % 3, 50 + i / 3);
}

static void fill_vv(ly_pmsg *m, uint32_t n)
{
    m->pm_nvv = n;
    for (uint32_t i = 0; i < n; i++) {
        m->pm_vv[i].vv_origin = (uint16_t)(i / 2 + 1);
        m->pm_vv[i].vv_incarnation = i % 2 ? UINT32_MAX : 7;
        m->pm_vv[i].vv_seq = i == 0 ? 0 : (uint64_t)i << 40 | i;
    }
}

/* A valid message of each type, every field it carries set (events: 5). */
static ly_pmsg *full(int type)
{
    ly_pmsg *m = malloc(sizeof *m);
    ly_pmsg_init(m, type);
    m->pm_node = 3;
    switch (type) {
    case LY_PM_HELLO:
        m->pm_proto = LY_PEER_PROTO;
        /* fall through */
    case LY_PM_WELCOME:
        m->pm_incarnation = 0xdeadbeef;
        strcpy(m->pm_name, "north-1.main_st");
        m->pm_program = 7;
        m->pm_program_hash = 0x0123456789abcdefULL;
        strcpy(m->pm_client, "tcp://127.0.0.1:7101");
        break;
    case LY_PM_REFUSED:
        strcpy(m->pm_reason, "node 3 is not in my configuration — check the [peer] sections");
        break;
    case LY_PM_HEARTBEAT:
        m->pm_hlc = 0x18c0a1b2c3d40005ULL;
        m->pm_digest = 0xfedcba9876543210ULL;
        m->pm_events_total = 123456789;
        m->pm_program = 3;
        m->pm_program_hash = 0xfeedULL;
        fill_vv(m, 5);
        break;
    case LY_PM_EVENTS:
        live_events(m, 3, 42, 1000, 5);
        break;
    case LY_PM_SYNC_REQ:
        fill_vv(m, 5);
        m->pm_max = 1000;
        break;
    case LY_PM_SYNC_REP:
        catchup_events(m, 5);
        m->pm_more = 1;
        break;
    case LY_PM_RIGHTS_REQ:
        strcpy(m->pm_customer, "CUST-42");
        m->pm_points = 1500;
        break;
    default:
        break;
    }
    return m;
}

/* Sets an inline string, zeroing the rest, so structs compare byte for byte. */
static void set(char *dst, size_t cap, const char *src)
{
    memset(dst, 0, cap);
    cr_assert(strlen(src) < cap);
    memcpy(dst, src, strlen(src));
}
#define SET(field, src) set(field, sizeof(field), src)

static void free_pm(ly_pmsg *m)
{
    ly_pmsg_fini(m);
    free(m);
}

static frame enc(const ly_pmsg *m)
{
    frame f;
    ly_err rc = ly_pmsg_encode(m, &f.buf, &f.len);
    cr_assert_eq(rc, LY_OK, "encode %s: %s", ly_pmsgtype_name(m->pm_type), ly_errname(rc));
    return f;
}

static frame enc_full(int type)
{
    ly_pmsg *m = full(type);
    frame f = enc(m);
    free_pm(m);
    return f;
}

/* Encodes, decodes, compares the structs byte for byte (`in` was zeroed by
 * ly_pmsg_init before it was filled) and checks the re-encoding is identical. */
static void pm_roundtrip(const ly_pmsg *in)
{
    const char *tn = ly_pmsgtype_name(in->pm_type);
    frame f = enc(in);
    cr_assert(f.len > 0 && f.len <= LY_PEER_FRAME_MAX);
    ly_pmsg *out = malloc(sizeof *out);
    char why[256] = "unset";
    ly_err rc = ly_pmsg_decode(f.buf, f.len, out, why, sizeof why);
    cr_assert_eq(rc, LY_OK, "decode %s: %s (%s)", tn, ly_errname(rc), why);
    cr_assert_str_eq(why, "");
    cr_assert_eq(out->pm_nevents, in->pm_nevents, "%s", tn);
    if (in->pm_nevents)
        cr_assert(memcmp(in->pm_events, out->pm_events, in->pm_nevents * sizeof(ly_event)) == 0,
                  "%s: events differ", tn);
    else
        cr_assert_null(out->pm_events);
    ly_event *keep = out->pm_events;
    out->pm_events = in->pm_events;
    cr_assert(memcmp(in, out, sizeof *out) == 0, "%s: decoded message differs", tn);
    out->pm_events = keep;
    frame g = enc(out);
    cr_assert(f.len == g.len && memcmp(f.buf, g.buf, f.len) == 0, "%s: re-encoding differs", tn);
    free_pm(out);
    free(f.buf);
    free(g.buf);
}

/* ---- names, init, fini -------------------------------------------------- */

Test(pmsg, names)
{
    const char *names[] = {NULL,        "hello",  "welcome",  "refused",  "hello-required",
                           "heartbeat", "events", "sync-req", "sync-rep", "rights-req"};
    for (int t = 1; t <= LY_PM_TYPE_MAX; t++)
        cr_assert_str_eq(ly_pmsgtype_name(t), names[t]);
    cr_assert_null(ly_pmsgtype_name(0));
    cr_assert_null(ly_pmsgtype_name(LY_PM_TYPE_MAX + 1));
    cr_assert_null(ly_pmsgtype_name(-1));
}

Test(pmsg, init_fini)
{
    ly_pmsg *m = full(LY_PM_SYNC_REP);
    cr_assert_eq(m->pm_type, LY_PM_SYNC_REP);
    ly_pmsg_fini(m);
    cr_assert_null(m->pm_events);
    cr_assert_eq(m->pm_nevents, 0);
    ly_pmsg_fini(m);
    ly_pmsg_fini(NULL);
    free(m);
}

/* ---- round trips -------------------------------------------------------- */

Test(pmsg, roundtrip_every_type)
{
    for (int t = 1; t <= LY_PM_TYPE_MAX; t++) {
        ly_pmsg *m = full(t);
        pm_roundtrip(m);
        free_pm(m);
    }
}

Test(pmsg, roundtrip_hello_edges)
{
    ly_pmsg *m = full(LY_PM_HELLO);
    m->pm_node = UINT16_MAX;
    m->pm_incarnation = UINT32_MAX;
    m->pm_program = UINT32_MAX;
    m->pm_proto = 0; /* any version: the replication layer decides */
    memset(m->pm_name, 'n', sizeof m->pm_name - 1);
    SET(m->pm_client, ""); /* not known */
    pm_roundtrip(m);
    m->pm_node = 1;
    m->pm_incarnation = 0;
    SET(m->pm_name, "x");
    SET(m->pm_client, "tcp://[::1]:65535");
    pm_roundtrip(m);
    SET(m->pm_client, "ipc:///run/loyal/client.sock");
    pm_roundtrip(m);
    SET(m->pm_client, "tcp://*:7101");
    pm_roundtrip(m);
    m->pm_type = LY_PM_WELCOME;
    m->pm_proto = 0;
    pm_roundtrip(m);
    free_pm(m);

    m = full(LY_PM_REFUSED);
    memset(m->pm_reason, 'r', sizeof m->pm_reason - 1);
    pm_roundtrip(m);
    free_pm(m);
}

Test(pmsg, roundtrip_long_vv)
{
    ly_pmsg *m = full(LY_PM_HEARTBEAT);
    fill_vv(m, LY_PEER_VV_MAX);
    m->pm_hlc = UINT64_MAX;
    m->pm_digest = 0;
    m->pm_events_total = UINT64_MAX;
    pm_roundtrip(m);
    m->pm_nvv = 0;
    memset(m->pm_vv, 0, sizeof m->pm_vv);
    pm_roundtrip(m);
    free_pm(m);

    m = full(LY_PM_SYNC_REQ);
    fill_vv(m, LY_PEER_VV_MAX);
    m->pm_max = LY_PEER_EVENTS_MAX;
    pm_roundtrip(m);
    m->pm_max = 1;
    m->pm_nvv = 0; /* a new node: it has nothing */
    memset(m->pm_vv, 0, sizeof m->pm_vv);
    pm_roundtrip(m);
    free_pm(m);
}

Test(pmsg, roundtrip_many_events)
{
    ly_pmsg *m = malloc(sizeof *m);
    ly_pmsg_init(m, LY_PM_EVENTS);
    m->pm_node = 9;
    live_events(m, 9, 3, 0, LY_PEER_EVENTS_MAX);
    pm_roundtrip(m);
    ly_pmsg_fini(m);
    live_events(m, 9, UINT32_MAX, UINT64_MAX - 2, 2); /* seqs up to UINT64_MAX */
    pm_roundtrip(m);
    ly_pmsg_fini(m);
    live_events(m, 9, 3, 77, 0); /* none */
    pm_roundtrip(m);
    ly_pmsg_fini(m);
    /* The events of another origin, forwarded: the codec allows it. */
    live_events(m, 4, 3, 77, 3);
    pm_roundtrip(m);
    free_pm(m);

    m = malloc(sizeof *m);
    ly_pmsg_init(m, LY_PM_SYNC_REP);
    m->pm_node = 2;
    catchup_events(m, LY_PEER_EVENTS_MAX);
    m->pm_more = 1;
    pm_roundtrip(m);
    ly_pmsg_fini(m);
    m->pm_more = 0; /* nothing missing */
    pm_roundtrip(m);
    free_pm(m);
}

Test(pmsg, largest_frame_fits)
{
    /* The most events, every string at its maximum: still under the frame limit. */
    ly_pmsg *m = malloc(sizeof *m);
    ly_pmsg_init(m, LY_PM_EVENTS);
    m->pm_node = 1;
    live_events(m, 1, 1, 0, LY_PEER_EVENTS_MAX);
    for (uint32_t i = 0; i < m->pm_nevents; i++) {
        ly_event *e = &m->pm_events[i];
        e->ev_type = LY_EV_ADJUST;
        e->ev_to = 0;
        e->ev_amount = e->ev_points = -LY_AMOUNT_MAX;
        e->ev_qual = 0;
        e->ev_fields = LY_PF_ALL;
        memset(e->ev_customer, 'c', LY_ID_MAX);
        memset(e->ev_txn, 't', LY_ID_MAX);
        memset(e->ev_ref_txn, 'f', LY_ID_MAX);
        memset(e->ev_category, 'k', LY_CATEGORY_MAX);
        memset(e->ev_operator, 'o', LY_ID_MAX);
        memset(e->ev_reason, 'r', LY_TEXT_MAX);
        memset(e->ev_profile.pf_name, 'n', LY_NAME_MAX);
        memset(e->ev_profile.pf_email, 'e', LY_EMAIL_MAX);
        memset(e->ev_profile.pf_phone, 'p', LY_PHONE_MAX);
        memset(e->ev_profile.pf_prefs, 'q', LY_TEXT_MAX);
        strcpy(e->ev_profile.pf_birthday, "2000-01-01");
        cr_assert_eq(ly_event_validate(e), LY_OK);
    }
    pm_roundtrip(m);
    free_pm(m);
}

/* The wire form, pinned: what another implementation must send. */
Test(pmsg, wire_form)
{
    ly_pmsg *m = malloc(sizeof *m);
    ly_pmsg_init(m, LY_PM_HELLO_REQUIRED);
    m->pm_node = 1;
    frame f = enc(m);
    static const uint8_t want[] = {0x83, 0xa1, 'v', LY_PEER_PROTO, 0xa1, 't', 0xae, 'h', 'e',
                                   'l',  'l',  'o', '-',           'r',  'e', 'q',  'u', 'i',
                                   'r',  'e',  'd', 0xa4,          'n',  'o', 'd',  'e', 0x01};
    cr_assert(f.len == sizeof want && memcmp(f.buf, want, sizeof want) == 0);
    free(f.buf);
    free(m);

    /* A heartbeat written by hand, keys in another order. */
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 9);
    pack_str(&pk, "program_hash");
    msgpack_pack_uint64(&pk, 99);
    pack_str(&pk, "program");
    msgpack_pack_uint64(&pk, 4);
    pack_str(&pk, "vv");
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 3);
    pack_str(&pk, "seq");
    msgpack_pack_uint64(&pk, 5);
    pack_str(&pk, "origin");
    msgpack_pack_uint64(&pk, 1);
    pack_str(&pk, "incarnation");
    msgpack_pack_uint64(&pk, 9);
    pack_str(&pk, "events");
    msgpack_pack_uint64(&pk, 42);
    pack_str(&pk, "t");
    pack_str(&pk, "heartbeat");
    pack_str(&pk, "node");
    msgpack_pack_uint64(&pk, 2);
    pack_str(&pk, "digest");
    msgpack_pack_uint64(&pk, 77);
    pack_str(&pk, "hlc");
    msgpack_pack_uint64(&pk, 1ULL << 50);
    pack_str(&pk, "v");
    msgpack_pack_uint64(&pk, LY_PEER_PROTO);
    m = malloc(sizeof *m);
    char why[256];
    cr_assert_eq(ly_pmsg_decode((uint8_t *)sb.data, sb.size, m, why, sizeof why), LY_OK, "%s", why);
    cr_assert_eq(m->pm_type, LY_PM_HEARTBEAT);
    cr_assert_eq(m->pm_node, 2);
    cr_assert_eq(m->pm_events_total, 42);
    cr_assert_eq(m->pm_digest, 77);
    cr_assert_eq(m->pm_hlc, 1ULL << 50);
    cr_assert_eq(m->pm_nvv, 1);
    cr_assert_eq(m->pm_vv[0].vv_origin, 1);
    cr_assert_eq(m->pm_vv[0].vv_incarnation, 9);
    cr_assert_eq(m->pm_vv[0].vv_seq, 5);
    cr_assert_eq(m->pm_program, 4);
    cr_assert_eq(m->pm_program_hash, 99);
    free_pm(m);
    msgpack_sbuffer_destroy(&sb);

    /* Events travel under "evs"; "events" is a heartbeat's count. */
    f = enc_full(LY_PM_EVENTS);
    cr_assert_not_null(memmem(f.buf, f.len,
                              "\xa3"
                              "evs\x95",
                              5));
    free(f.buf);
    f = enc_full(LY_PM_SYNC_REP);
    cr_assert_not_null(memmem(f.buf, f.len,
                              "\xa3"
                              "evs\x95",
                              5));
    cr_assert_not_null(memmem(f.buf, f.len, "\xa4more\xc3", 6));
    free(f.buf);
}

/* ---- keys: missing, unknown, not allowed, wrong types -------------------- */

/* The keys of each type, in the order the encoder writes them, with their kind. */
enum { KU_, KS_, KB_, KA_, KI_, KN_ }; /* KI_: a signed integer; KN_: a negative value */
typedef struct keydef {
    const char *k;
    int kind;
} keydef;

static const keydef *keys_of(int type)
{
    static const keydef hello[] = {
        {"v", KU_},       {"t", KS_},     {"node", KU_},   {"incarnation", KU_},  {"name", KS_},
        {"program", KU_}, {"proto", KU_}, {"client", KS_}, {"program_hash", KU_}, {NULL, 0}};
    static const keydef welcome[] = {
        {"v", KU_},    {"t", KS_},       {"node", KU_},   {"incarnation", KU_},
        {"name", KS_}, {"program", KU_}, {"client", KS_}, {"program_hash", KU_},
        {NULL, 0}};
    static const keydef refused[] = {
        {"v", KU_}, {"t", KS_}, {"node", KU_}, {"reason", KS_}, {NULL, 0}};
    static const keydef hreq[] = {{"v", KU_}, {"t", KS_}, {"node", KU_}, {NULL, 0}};
    static const keydef hb[] = {
        {"v", KU_},      {"t", KS_},      {"node", KU_}, {"program", KU_},      {"hlc", KU_},
        {"digest", KU_}, {"events", KU_}, {"vv", KA_},   {"program_hash", KU_}, {NULL, 0}};
    static const keydef ev[] = {{"v", KU_},           {"t", KS_},    {"node", KU_}, {"origin", KU_},
                                {"incarnation", KU_}, {"prev", KU_}, {"evs", KA_},  {NULL, 0}};
    static const keydef sreq[] = {{"v", KU_},  {"t", KS_},   {"node", KU_},
                                  {"vv", KA_}, {"max", KU_}, {NULL, 0}};
    static const keydef srep[] = {{"v", KU_},   {"t", KS_},    {"node", KU_},
                                  {"evs", KA_}, {"more", KB_}, {NULL, 0}};
    static const keydef rreq[] = {{"v", KU_},        {"t", KS_},      {"node", KU_},
                                  {"customer", KS_}, {"points", KI_}, {NULL, 0}};
    static const keydef *all[] = {NULL, hello, welcome, refused, hreq, hb, ev, sreq, srep, rreq};
    return all[type];
}

Test(pmsg_bad, encoder_writes_exactly_the_keys)
{
    for (int t = 1; t <= LY_PM_TYPE_MAX; t++) {
        frame f = enc_full(t);
        const keydef *kd = keys_of(t);
        size_t n = 0;
        while (kd[n].k)
            n++;
        cr_assert_eq(f.buf[0], 0x80 | n, "%s: %zu keys", ly_pmsgtype_name(t), n);
        for (size_t i = 0; i < n; i++) {
            uint8_t key[16] = {(uint8_t)(0xa0 | strlen(kd[i].k))};
            memcpy(key + 1, kd[i].k, strlen(kd[i].k));
            cr_assert_not_null(memmem(f.buf, f.len, key, 1 + strlen(kd[i].k)), "%s: key %s",
                               ly_pmsgtype_name(t), kd[i].k);
        }
        free(f.buf);
    }
}

Test(pmsg_bad, missing_keys)
{
    for (int t = 1; t <= LY_PM_TYPE_MAX; t++) {
        frame f = enc_full(t);
        for (const keydef *kd = keys_of(t); kd->k; kd++) {
            char part[64], what[64];
            snprintf(part, sizeof part, "field '%s': missing", kd->k);
            snprintf(what, sizeof what, "%s without %s", ly_pmsgtype_name(t), kd->k);
            expect_pm(edit(f, kd->k, NULL, 0), LY_EPROTO, part, what);
        }
        free(f.buf);
    }
}

Test(pmsg_bad, unknown_and_not_allowed_keys)
{
    static const char *const every[] = {"node",   "incarnation", "name",   "program",     "proto",
                                        "client", "reason",      "hlc",    "digest",      "events",
                                        "vv",     "origin",      "prev",   "max",         "more",
                                        "evs",    "customer",    "points", "program_hash"};
    for (int t = 1; t <= LY_PM_TYPE_MAX; t++) {
        frame f = enc_full(t);
        char what[96];
        snprintf(what, sizeof what, "%s with an unknown key", ly_pmsgtype_name(t));
        expect_pm(edit(f, "shiny", "\x01", 1), LY_EPROTO, "field 'shiny': unknown field", what);
        snprintf(what, sizeof what, "%s with an unknown nested key", ly_pmsgtype_name(t));
        expect_pm(edit(f, "x", "\x81\xa1y\x90", 4), LY_EPROTO, "unknown field", what);
        /* Every key of the protocol that this type does not carry. */
        for (size_t i = 0; i < sizeof every / sizeof every[0]; i++) {
            int has = 0;
            for (const keydef *kd = keys_of(t); kd->k; kd++)
                has |= strcmp(kd->k, every[i]) == 0;
            if (has)
                continue;
            char part[96];
            snprintf(part, sizeof part, "field '%s': not allowed in '%s'", every[i],
                     ly_pmsgtype_name(t));
            snprintf(what, sizeof what, "%s with %s", ly_pmsgtype_name(t), every[i]);
            expect_pm(edit(f, every[i], "\x01", 1), LY_EPROTO, part, what);
        }
        free(f.buf);
    }
}

Test(pmsg_bad, duplicate_keys)
{
    frame f = enc_full(LY_PM_HEARTBEAT);
    /* Append a second "node": edit() would replace it, so add it by hand. */
    f.buf = realloc(f.buf, f.len + 6);
    f.buf[0]++;
    memcpy(f.buf + f.len, "\xa4node\x02", 6);
    f.len += 6;
    expect_pm(f, LY_EPROTO, "field 'node': duplicate", "duplicate node");
    f = enc_full(LY_PM_HELLO);
    f.buf = realloc(f.buf, f.len + 4);
    f.buf[0]++;
    memcpy(f.buf + f.len, "\xa1v\x01", 3);
    f.len += 3;
    expect_pm(f, LY_EPROTO, "field 'v': duplicate", "duplicate v");
}

Test(pmsg_bad, wrong_types)
{
    static const struct {
        const char *bytes;
        size_t n;
        int kind; /* the one kind of key it suits */
        const char *name;
    } vals[] = {
        {"\xc0", 1, -1, "nil"},
        {"\xcb\x40\x29\x00\x00\x00\x00\x00\x00", 9, -1, "float"},
        {"\xca\x41\x48\x00\x00", 5, -1, "float32"},
        {"\xc4\x01"
         "1",
         3, -1, "bin"},
        {"\xd4\x01\x01", 3, -1, "ext"},
        {"\xff", 1, KN_, "negative"},
        {"\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 9, KN_, "INT64_MIN"},
        {"\xa1"
         "1",
         2, KS_, "string"},
        {"\xc3", 1, KB_, "true"},
        {"\x01", 1, KU_, "uint"},
        {"\x90", 1, KA_, "array"},
        {"\x80", 1, -1, "map"},
    };
    for (int t = 1; t <= LY_PM_TYPE_MAX; t++) {
        frame f = enc_full(t);
        for (const keydef *kd = keys_of(t); kd->k; kd++)
            for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
                /* A signed field takes any integer: its range is a value check. */
                if (vals[i].kind == kd->kind ||
                    (kd->kind == KI_ && (vals[i].kind == KU_ || vals[i].kind == KN_)))
                    continue;
                char part[64], what[96];
                snprintf(part, sizeof part, "field '%s'", kd->k);
                snprintf(what, sizeof what, "%s: %s as %s", ly_pmsgtype_name(t), kd->k,
                         vals[i].name);
                expect_pm(edit(f, kd->k, vals[i].bytes, vals[i].n), LY_EPROTO, part, what);
            }
        free(f.buf);
    }
}

/* ---- values ------------------------------------------------------------- */

/* Replaces key `k` of a full message of type `t` with `n` raw bytes; expects `code`. */
static void expect_val(int t, const char *k, const void *bytes, size_t n, ly_err code,
                       const char *part, const char *what)
{
    frame f = enc_full(t);
    expect_pm(edit(f, k, bytes, n), code, part, what);
    free(f.buf);
}

static void expect_str(int t, const char *k, const char *s, ly_err code, const char *what)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_str(&pk, strlen(s));
    msgpack_pack_str_body(&pk, s, strlen(s));
    char part[64];
    snprintf(part, sizeof part, "field '%s'", k);
    expect_val(t, k, sb.data, sb.size, code, code == LY_OK ? NULL : part, what);
    msgpack_sbuffer_destroy(&sb);
}

Test(pmsg_bad, integer_ranges)
{
    for (int t = 1; t <= LY_PM_TYPE_MAX; t++) {
        expect_val(t, "node", "\x00", 1, LY_EINVAL, "field 'node': must be 1..65535", "node 0");
        expect_val(t, "node", "\xce\x00\x01\x00\x00", 5, LY_EINVAL, "field 'node'", "node 65536");
        expect_val(t, "node", "\xcd\xff\xff", 3, LY_OK, NULL, "node 65535");
    }
    expect_val(LY_PM_HELLO, "incarnation", "\xcf\x00\x00\x00\x01\x00\x00\x00\x00", 9, LY_EINVAL,
               "field 'incarnation'", "incarnation 2^32");
    expect_val(LY_PM_HELLO, "program", "\xcf\x00\x00\x00\x01\x00\x00\x00\x00", 9, LY_EINVAL,
               "field 'program'", "program 2^32");
    expect_val(LY_PM_HELLO, "proto", "\xcf\x00\x00\x00\x01\x00\x00\x00\x00", 9, LY_EINVAL,
               "field 'proto'", "proto 2^32");
    expect_val(LY_PM_EVENTS, "origin", "\x00", 1, LY_EINVAL, "field 'origin'", "origin 0");
    expect_val(LY_PM_EVENTS, "incarnation", "\xce\x00\x00\x00\x2a", 5, LY_OK, NULL,
               "incarnation 42 as uint32");
    expect_val(LY_PM_SYNC_REQ, "max", "\x00", 1, LY_EINVAL, "field 'max': must be 1..2000",
               "max 0");
    expect_val(LY_PM_SYNC_REQ, "max", "\xcd\x07\xd1", 3, LY_EINVAL, "field 'max'", "max 2001");
    expect_val(LY_PM_SYNC_REQ, "max", "\xcd\x07\xd0", 3, LY_OK, NULL, "max 2000");
    expect_val(LY_PM_HEARTBEAT, "hlc", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9, LY_OK, NULL,
               "hlc UINT64_MAX");
    expect_val(LY_PM_SYNC_REP, "more", "\xc2", 1, LY_OK, NULL, "more false");

    /* rights-req points: 1..LY_AMOUNT_MAX; a negative integer is in type, out of range. */
    const char *pts = "field 'points': must be 1..1000000000000";
    expect_val(LY_PM_RIGHTS_REQ, "points", "\x00", 1, LY_EINVAL, pts, "points 0");
    expect_val(LY_PM_RIGHTS_REQ, "points", "\xff", 1, LY_EINVAL, pts, "points -1");
    expect_val(LY_PM_RIGHTS_REQ, "points", "\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 9, LY_EINVAL,
               pts, "points INT64_MIN");
    expect_val(LY_PM_RIGHTS_REQ, "points", "\xcf\x00\x00\x00\xe8\xd4\xa5\x10\x01", 9, LY_EINVAL,
               pts, "points 10^12 + 1");
    expect_val(LY_PM_RIGHTS_REQ, "points", "\xcf\x00\x00\x00\xe8\xd4\xa5\x10\x00", 9, LY_OK, NULL,
               "points 10^12");
    expect_val(LY_PM_RIGHTS_REQ, "points", "\x01", 1, LY_OK, NULL, "points 1");
    expect_val(LY_PM_RIGHTS_REQ, "points", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9, LY_EPROTO,
               "field 'points': expected a signed 64-bit integer", "points UINT64_MAX");
}

Test(pmsg_bad, strings)
{
    expect_str(LY_PM_HELLO, "name", "", LY_EINVAL, "empty name");
    expect_str(LY_PM_HELLO, "name", "north branch", LY_EINVAL, "name with a space");
    expect_str(LY_PM_WELCOME, "name", "göteborg", LY_EINVAL, "name not ASCII");
    expect_str(LY_PM_WELCOME, "name", "a:b", LY_EINVAL, "name with a colon");
    char s[300];
    memset(s, 'n', 64);
    s[64] = '\0';
    expect_str(LY_PM_HELLO, "name", s, LY_EINVAL, "64-byte name");
    s[63] = '\0';
    expect_str(LY_PM_HELLO, "name", s, LY_OK, "63-byte name");
    expect_str(LY_PM_HELLO, "name", "A.z_0-9", LY_OK, "every name character class");

    expect_str(LY_PM_HELLO, "client", "", LY_OK, "empty client");
    expect_str(LY_PM_HELLO, "client", "localhost:7101", LY_EINVAL, "client without a scheme");
    expect_str(LY_PM_WELCOME, "client", "tcp://host:0", LY_EINVAL, "client port 0");
    expect_str(LY_PM_WELCOME, "client", "tcp://ho st:1", LY_EINVAL, "client with a space");
    expect_str(LY_PM_HELLO, "client", "tcp://h:1\n", LY_EINVAL, "client with a newline");
    strcpy(s, "tcp://");
    memset(s + 6, 'h', 250);
    strcpy(s + 256, ":1");
    expect_str(LY_PM_HELLO, "client", s, LY_EINVAL, "258-byte client");

    expect_str(LY_PM_REFUSED, "reason", "", LY_EINVAL, "empty reason");
    expect_str(LY_PM_REFUSED, "reason", "bad\x01reason", LY_EINVAL, "control character");
    expect_str(LY_PM_REFUSED, "reason", "bad \xff utf-8", LY_EINVAL, "invalid UTF-8");
    memset(s, 'r', 200);
    s[200] = '\0';
    expect_str(LY_PM_REFUSED, "reason", s, LY_EINVAL, "200-byte reason");
    s[199] = '\0';
    expect_str(LY_PM_REFUSED, "reason", s, LY_OK, "199-byte reason");

    expect_val(LY_PM_HELLO, "name", "\xa3n\x00x", 4, LY_EPROTO, "NUL byte", "NUL in name");

    /* rights-req customer: an id. */
    expect_str(LY_PM_RIGHTS_REQ, "customer", "", LY_EINVAL, "empty customer");
    expect_str(LY_PM_RIGHTS_REQ, "customer", "C 1", LY_EINVAL, "customer with a space");
    expect_str(LY_PM_RIGHTS_REQ, "customer", "caf\xc3\xa9", LY_EINVAL, "customer not id syntax");
    expect_str(LY_PM_RIGHTS_REQ, "customer", "C\n", LY_EINVAL, "customer with a newline");
    memset(s, 'c', 65);
    s[65] = '\0';
    expect_str(LY_PM_RIGHTS_REQ, "customer", s, LY_EINVAL, "65-byte customer");
    s[64] = '\0';
    expect_str(LY_PM_RIGHTS_REQ, "customer", s, LY_OK, "64-byte customer");
    expect_str(LY_PM_RIGHTS_REQ, "customer", "a.Z_0:9@#/+-", LY_OK, "every id character class");
    expect_val(LY_PM_RIGHTS_REQ, "customer",
               "\xa3"
               "C\0"
               "1",
               4, LY_EPROTO, "NUL byte", "NUL in customer");
    expect_val(LY_PM_REFUSED, "reason", "\xa3r\x00x", 4, LY_EPROTO, "NUL byte", "NUL in reason");
}

Test(pmsg_bad, version_and_type)
{
    for (int t = 1; t <= LY_PM_TYPE_MAX; t++) {
        char next[2] = {(char)(LY_PEER_PROTO + 1), 0};
        expect_val(t, "v", next, 1, LY_EVERSION, "field 'v'", "v: the next protocol");
        expect_val(t, "v", "\x00", 1, LY_EVERSION, "field 'v'", "v 0");
    }
    /* The version is looked at first, whatever else is wrong. */
    frame f = enc_full(LY_PM_HELLO);
    frame g = edit(f, "v", "\x07", 1);
    frame h = edit(g, "node", "\xc0", 1);
    frame i = edit(h, "t", "\xa3zzz", 4);
    expect_pm(i, LY_EVERSION, "protocol version 7", "v 7 with a nil node and unknown t");
    free(f.buf);
    free(g.buf);
    free(h.buf);

    expect_str(LY_PM_HELLO, "t", "HELLO", LY_EPROTO, "t in capitals");
    expect_str(LY_PM_HELLO, "t", "hello ", LY_EPROTO, "t with a space");
    expect_str(LY_PM_HELLO, "t", "earn", LY_EPROTO, "a client type");
    expect_str(LY_PM_HELLO, "t", "", LY_EPROTO, "empty t");
    expect_str(LY_PM_HELLO, "t", "hello-required-and-more-than-32-bytes", LY_EPROTO, "long t");
    expect_val(LY_PM_HELLO, "t", "\xa5hel\x00o", 6, LY_EPROTO, "field 't'", "NUL in t");
    /* A hello frame that claims to be a welcome: proto is not allowed there. */
    expect_val(LY_PM_HELLO, "t", "\xa7welcome", 8, LY_EPROTO,
               "field 'proto': not allowed in 'welcome'", "hello re-typed as welcome");
}

/* ---- version vectors ---------------------------------------------------- */

Test(pmsg_bad, vv)
{
    for (int t = LY_PM_HEARTBEAT; t <= LY_PM_SYNC_REQ; t += LY_PM_SYNC_REQ - LY_PM_HEARTBEAT) {
        ly_pmsg *m = full(t);
        fill_vv(m, LY_PEER_VV_MAX);
        frame f = enc(m);
        /* 257 entries: add one more to the array16 header and the body. */
        uint8_t *vv = memmem(f.buf, f.len, "\xa2vv\xdc\x01\x00", 6);
        cr_assert_not_null(vv);
        vv[5] = 0x01; /* 257 */
        static const uint8_t extra[] = {0x83, 0xa6, 'o', 'r',  'i',  'g', 'i', 'n', 0xcd, 0x10,
                                        0x00, 0xab, 'i', 'n',  'c',  'a', 'r', 'n', 'a',  't',
                                        'i',  'o',  'n', 0x00, 0xa3, 's', 'e', 'q', 0x01};
        size_t at = (size_t)(vv + 6 - f.buf);
        frame g = {malloc(f.len + sizeof extra), f.len + sizeof extra};
        memcpy(g.buf, f.buf, at);
        memcpy(g.buf + at, extra, sizeof extra);
        memcpy(g.buf + at + sizeof extra, f.buf + at, f.len - at);
        expect_pm(g, LY_EPROTO, "field 'vv': more than 256 entries", "257 vv entries");
        free(f.buf);

        /* Entry keys. */
#define B(lit) lit, sizeof(lit) - 1
        static const struct {
            const char *bytes;
            size_t n;
            ly_err code;
            const char *part;
        } bad[] = {
            {B("\x91\x82\xa6origin\x01\xa3seq\x01"), LY_EPROTO,
             "vv[0]: field 'incarnation': missing"},
            {B("\x91\x82\xabincarnation\x01\xa3seq\x01"), LY_EPROTO,
             "vv[0]: field 'origin': missing"},
            {B("\x91\x82\xa6origin\x01\xabincarnation\x01"), LY_EPROTO,
             "vv[0]: field 'seq': missing"},
            {B("\x91\x83\xa6origin\x01\xabincarnation\x01\xa3seq\xc0"), LY_EPROTO,
             "vv[0]: field 'seq'"},
            {B("\x91\x84\xa6origin\x01\xabincarnation\x01\xa3seq\x01\xa1x\x01"), LY_EPROTO,
             "vv[0]: field 'x': unknown field"},
            {B("\x91\x84\xa6origin\x01\xabincarnation\x01\xa3seq\x01\xa3seq\x02"), LY_EPROTO,
             "vv[0]: field 'seq': duplicate"},
            {B("\x91\x83\xa6origin\x00\xabincarnation\x01\xa3seq\x01"), LY_EINVAL,
             "vv[0]: field 'origin': must be 1..65535"},
            {B("\x91\x83\xa6origin\x01\xabincarnation\xff\xa3seq\x01"), LY_EPROTO,
             "vv[0]: field 'incarnation'"},
            {B("\x91\x83\xa6origin\x01\xabincarnation\xcf\x00\x00\x00\x01\x00\x00\x00\x00"
               "\xa3seq\x01"),
             LY_EINVAL, "vv[0]: field 'incarnation': must be 0..4294967295"},
            {B("\x91\x01"), LY_EPROTO, "field 'vv[0]': expected a map"},
            {B("\x92\x83\xa6origin\x01\xabincarnation\x01\xa3seq\x01"
               "\x83\xa6origin\x01\xabincarnation\x01\xa3seq\x05"),
             LY_EINVAL, "origin 1 incarnation 1 listed twice"},
            {B("\x92\x83\xa6origin\x01\xabincarnation\x01\xa3seq\x01"
               "\x83\xa6origin\x01\xabincarnation\x02\xa3seq\x05"),
             LY_OK, NULL},
            {B("\x90"), LY_OK, NULL},
            {B("\xdd\xff\xff\xff\xff"), LY_EPROTO, "larger than the frame"},
        };
#undef B
        frame base = enc_full(t);
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            char what[64];
            snprintf(what, sizeof what, "%s vv case %zu", ly_pmsgtype_name(t), i);
            expect_x(edit(base, "vv", bad[i].bytes, bad[i].n), bad[i].code, bad[i].part, 4096,
                     what);
        }
        free(base.buf);
        free_pm(m);
    }
}

/* ---- events ------------------------------------------------------------- */

/* A full message of type `t` whose "evs" is `n` raw bytes, plus a padding
 * string of `pad` bytes under an unknown key after it (decoding stops at the
 * events first). */
static frame with_evs(int t, const void *bytes, size_t n, size_t pad)
{
    frame f = enc_full(t);
    frame g = edit(f, "evs", bytes, n);
    free(f.buf);
    if (pad == 0)
        return g;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    char *p = malloc(pad);
    memset(p, 'p', pad);
    msgpack_pack_str(&pk, pad);
    msgpack_pack_str_body(&pk, p, pad);
    frame h = edit(g, "zpad", sb.data, sb.size);
    free(p);
    free(g.buf);
    msgpack_sbuffer_destroy(&sb);
    return h;
}

Test(pmsg_bad, events_counts_and_allocation)
{
    for (int t = LY_PM_EVENTS; t <= LY_PM_SYNC_REP; t += LY_PM_SYNC_REP - LY_PM_EVENTS) {
        /* Declared huge, tiny body: refused by the pre-scan, nothing allocated. */
        static const uint8_t huge32[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
        expect_x(with_evs(t, huge32, sizeof huge32, 0), LY_EPROTO, "larger than the frame", 1024,
                 "evs array32 of 2^32-1");
        static const uint8_t huge16[] = {0xdc, 0xff, 0xff};
        expect_x(with_evs(t, huge16, sizeof huge16, 0), LY_EPROTO, "larger than the frame", 1024,
                 "evs array16 of 65535");
        /* Over the limit, with a body to match. */
        size_t n = LY_PEER_EVENTS_MAX + 1;
        uint8_t *over = malloc(3 + n);
        over[0] = 0xdc;
        over[1] = (uint8_t)(n >> 8);
        over[2] = (uint8_t)n;
        memset(over + 3, 0x80, n);
        expect_x(with_evs(t, over, 3 + n, 0), LY_EPROTO, "field 'evs': more than 2000 entries",
                 1024, "2001 events");
        /* At the limit, but the bytes cannot hold that many events. */
        n = LY_PEER_EVENTS_MAX;
        over[1] = (uint8_t)(n >> 8);
        over[2] = (uint8_t)n;
        expect_x(with_evs(t, over, 3 + n, 0), LY_EPROTO, "cannot fit", 1024, "2000 empty events");
        /* ... even with padding after the array. */
        expect_x(with_evs(t, over, 3 + n, 100000), LY_EPROTO, "cannot fit", 1024,
                 "2000 empty events and padding");
        free(over);
        /* Bytes enough for two events: the first is looked at. */
        uint8_t two[2 + 2 + 70] = {0x92, 0x80, 0xd9, 70};
        memset(two + 4, 'x', 70);
        expect_x(with_evs(t, two, sizeof two, 0), LY_EINVAL, "evs[0]: not a valid event",
                 2 * sizeof(ly_event) + 1024, "an empty event");
        two[1] = 0xc0;
        expect_x(with_evs(t, two, sizeof two, 0), LY_EPROTO, "field 'evs[0]': expected a map",
                 2 * sizeof(ly_event) + 1024, "nil for an event");
    }
}

/* The encoder refuses `m` (LY_EINVAL): the decoder's checks are the encoder's. */
static void expect_enc_refuses(const ly_pmsg *m, const char *what)
{
    uint8_t *buf = NULL;
    size_t len;
    cr_expect_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "%s", what);
    free(buf);
}

/* Appends the map of one event, as the encoder writes it, to `sb`. */
static void pack_event(msgpack_sbuffer *sb, const ly_event *ev)
{
    ly_pmsg *r = malloc(sizeof *r);
    ly_pmsg_init(r, LY_PM_SYNC_REP);
    r->pm_node = 1;
    r->pm_nevents = 1;
    r->pm_events = (ly_event *)ev;
    frame f = enc(r);
    free(r);
    uint8_t *at = memmem(f.buf, f.len,
                         "\xa3"
                         "evs\x91",
                         5);
    cr_assert_not_null(at);
    at += 5;
    msgpack_sbuffer_write(sb, (const char *)at, f.len - (size_t)(at - f.buf));
    free(f.buf);
}

/* A frame of type "events" (with header origin/incarnation/prev) or
 * "sync-rep" (more false) holding `n` events as they are, whatever their
 * order: what a faulty or hostile peer might send. */
static frame evs_frame(int type, const ly_event *evs, uint32_t n, uint16_t origin, uint32_t inc,
                       uint64_t prev)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, type == LY_PM_EVENTS ? 7 : 5);
    pack_str(&pk, "v");
    msgpack_pack_uint64(&pk, LY_PEER_PROTO);
    pack_str(&pk, "t");
    pack_str(&pk, ly_pmsgtype_name(type));
    pack_str(&pk, "node");
    msgpack_pack_uint64(&pk, 1);
    if (type == LY_PM_EVENTS) {
        pack_str(&pk, "origin");
        msgpack_pack_uint64(&pk, origin);
        pack_str(&pk, "incarnation");
        msgpack_pack_uint64(&pk, inc);
        pack_str(&pk, "prev");
        msgpack_pack_uint64(&pk, prev);
    } else {
        pack_str(&pk, "more");
        msgpack_pack_false(&pk);
    }
    pack_str(&pk, "evs");
    msgpack_pack_array(&pk, n);
    for (uint32_t i = 0; i < n; i++)
        pack_event(&sb, &evs[i]);
    return from_sbuffer(&sb);
}

static frame live_frame(const ly_pmsg *m, uint16_t origin, uint32_t inc, uint64_t prev)
{
    return evs_frame(LY_PM_EVENTS, m->pm_events, m->pm_nevents, origin, inc, prev);
}

Test(pmsg_bad, live_events_must_follow_the_header)
{
    ly_pmsg *m = malloc(sizeof *m);
    ly_pmsg_init(m, LY_PM_EVENTS);
    m->pm_node = 3;
    live_events(m, 3, 42, 1000, 6);
    expect_pm(live_frame(m, 3, 42, 1000), LY_OK, NULL, "the frame builder itself");

    expect_pm(live_frame(m, 3, 42, 999), LY_EINVAL, "evs[0]: seq 1001 where 1000 was expected",
              "first seq not prev + 1");
    expect_pm(live_frame(m, 3, 42, 1001), LY_EINVAL, "evs[0]", "first seq not prev + 1 (below)");
    expect_pm(live_frame(m, 4, 42, 1000), LY_EINVAL, "evs[0]: event of origin 3",
              "origin differs from the header");
    expect_pm(live_frame(m, 3, 43, 1000), LY_EINVAL, "incarnation 42",
              "incarnation differs from the header");
    m->pm_prev = 999;
    expect_enc_refuses(m, "encoder: first seq not prev + 1");
    m->pm_prev = 1000;
    m->pm_origin = 4;
    expect_enc_refuses(m, "encoder: origin differs");
    m->pm_origin = 3;
    m->pm_incarnation = 1;
    expect_enc_refuses(m, "encoder: incarnation differs");
    m->pm_incarnation = 42;

    /* A gap inside, a repeat, a swap, a stranger. */
    m->pm_events[3].ev_seq = 1005;
    expect_pm(live_frame(m, 3, 42, 1000), LY_EINVAL, "evs[3]: seq 1005 where 1004", "gap inside");
    expect_enc_refuses(m, "encoder: gap inside");
    m->pm_events[3].ev_seq = 1003;
    expect_pm(live_frame(m, 3, 42, 1000), LY_EINVAL, "evs[3]", "repeat inside");
    m->pm_events[3].ev_seq = 1004;
    ly_event tmp = m->pm_events[1];
    m->pm_events[1] = m->pm_events[2];
    m->pm_events[2] = tmp;
    expect_pm(live_frame(m, 3, 42, 1000), LY_EINVAL, "evs[1]", "swapped");
    expect_enc_refuses(m, "encoder: swapped");
    m->pm_events[2] = m->pm_events[1];
    m->pm_events[1] = tmp;
    m->pm_events[5].ev_origin = 5;
    expect_pm(live_frame(m, 3, 42, 1000), LY_EINVAL, "evs[5]: event of origin 5",
              "an event of another origin at the end");
    expect_enc_refuses(m, "encoder: another origin");
    m->pm_events[5].ev_origin = 3;
    m->pm_events[4].ev_incarnation = 41;
    expect_pm(live_frame(m, 3, 42, 1000), LY_EINVAL, "evs[4]", "an event of another incarnation");
    m->pm_events[4].ev_incarnation = 42;
    expect_pm(live_frame(m, 3, 42, 1000), LY_OK, NULL, "repaired");
    free_pm(m);
}

Test(pmsg_bad, sync_rep_events_in_seq_order_per_origin)
{
    ly_pmsg *m = full(LY_PM_SYNC_REP);
    ly_pmsg_fini(m);
    catchup_events(m, 9); /* origins 1,2,3,1,2,3,... seqs 50,50,50,51,51,51,... */
    frame f = enc(m);
    expect_pm(f, LY_OK, NULL, "interleaved origins");
    m->pm_events[4].ev_seq = 50; /* origin 2 again at 50 */
    expect_enc_refuses(m, "encoder: repeat of origin 2");
    m->pm_events[4].ev_seq = 49;
    expect_enc_refuses(m, "encoder: origin 2 going back");
    m->pm_events[4].ev_seq = 51;
    m->pm_events[7].ev_seq = 60; /* gaps are allowed: in seq order is what counts */
    f = enc(m);
    expect_pm(f, LY_OK, NULL, "a gap in a sync-rep");
    /* Same origin, other incarnation: another sequence. */
    m->pm_events[4].ev_seq = 1;
    m->pm_events[4].ev_incarnation = 5;
    f = enc(m);
    expect_pm(f, LY_OK, NULL, "another incarnation starts again");
    m->pm_events[4].ev_incarnation = m->pm_events[1].ev_incarnation;
    expect_enc_refuses(m, "encoder: back to the first incarnation");

    /* The decoder: the same rule. */
    ly_pmsg *e = malloc(sizeof *e);
    ly_pmsg_init(e, LY_PM_EVENTS);
    e->pm_node = 1;
    live_events(e, 1, 1, 10, 3);
    e->pm_events[2].ev_seq = 11; /* after 12: out of order */
    expect_pm(evs_frame(LY_PM_SYNC_REP, e->pm_events, 3, 0, 0, 0), LY_EINVAL,
              "evs[2]: seq 11 of origin 1 after seq 12 (evs[1])", "sync-rep out of order");
    e->pm_events[2].ev_seq = 12;
    expect_pm(evs_frame(LY_PM_SYNC_REP, e->pm_events, 3, 0, 0, 0), LY_EINVAL, "evs[2]",
              "sync-rep with a repeat");
    e->pm_events[2].ev_seq = 13;
    e->pm_events[1].ev_incarnation = 2; /* another sequence: 11 (inc 1), 12 (inc 2), 13 (inc 1) */
    expect_pm(evs_frame(LY_PM_SYNC_REP, e->pm_events, 3, 0, 0, 0), LY_OK, NULL,
              "sync-rep with two incarnations of one origin");
    free_pm(e);
    free_pm(m);
}

Test(pmsg_bad, invalid_events)
{
    for (int t = LY_PM_EVENTS; t <= LY_PM_SYNC_REP; t += LY_PM_SYNC_REP - LY_PM_EVENTS) {
        ly_pmsg *m = full(t);
        /* A redeem (event 2) whose points are not -amount. */
        cr_assert_eq(m->pm_events[2].ev_type, LY_EV_REDEEM);
        frame f = enc(m);
        uint8_t *pts = memmem(f.buf, f.len, "\xa6points\xd1\xfe\x0c", 10); /* -500 */
        cr_assert_not_null(pts);
        pts[9] = 0x0d; /* -499 */
        expect_pm(f, LY_EINVAL, "evs[2]: not a valid event", "redeem with points != -amount");
        m->pm_events[2].ev_points = -499;
        expect_enc_refuses(m, "encoder: invalid redeem");
        m->pm_events[2].ev_points = -500;

        /* Other invalid events: each checked by ly_event_validate on both sides. */
        for (int c = 0; c < 6; c++) {
            ly_event keep = m->pm_events[c % 5];
            ly_event *e = &m->pm_events[c % 5];
            switch (c) {
            case 0:
                e->ev_customer[0] = '\0';
                break;
            case 1:
                e->ev_hlc = 0;
                break;
            case 2:
                e->ev_type = 99;
                break;
            case 3:
                e->ev_ref_type = LY_EV_ADJUST;
                break;
            case 4:
                e->ev_profile.pf_birthday[0] = '\0';
                strcpy(e->ev_txn, "has space");
                break;
            default:
                e->ev_fields = 1u << 7;
                break;
            }
            cr_assert_neq(ly_event_validate(e), LY_OK, "case %d", c);
            expect_enc_refuses(m, "encoder: invalid event");
            *e = keep;
        }
        pm_roundtrip(m);

        /* Event fields: unknown key, wrong type, out of the field's width. */
        f = enc(m);
        uint8_t *k = memmem(f.buf, f.len, "\xa8req_hash", 9);
        cr_assert_not_null(k);
        memcpy(k + 1, "zzz_hash", 8);
        expect_pm(f, LY_EPROTO, "evs[0]: field 'zzz_hash': unknown field", "unknown event key");
        f = enc(m);
        uint8_t *ty = memmem(f.buf, f.len, "\xa4type\x01", 6);
        cr_assert_not_null(ty);
        ty[5] = 0xc0;
        expect_pm(f, LY_EPROTO, "evs[0]: field 'type'", "event type nil");
        f = enc(m);
        ty = memmem(f.buf, f.len, "\xa4type\x01", 6);
        ty[5] = 0xa1; /* a one-byte string: the next byte ('r' of ref_type's key) is its body */
        expect_pm(f, LY_EPROTO, NULL, "event type as a string");
        f = enc(m);
        uint8_t *qd = memmem(f.buf, f.len, "\xa8qual_day", 9);
        cr_assert_not_null(qd);
        /* qual_day is an int32: 2^31 is out of its width. */
        size_t at = (size_t)(qd + 9 - f.buf);
        size_t vlen = f.buf[at] == 0xcd ? 3 : f.buf[at] == 0xce ? 5 : 1;
        frame g = {malloc(f.len - vlen + 9), f.len - vlen + 9};
        memcpy(g.buf, f.buf, at);
        memcpy(g.buf + at, "\xcf\x00\x00\x00\x00\x80\x00\x00\x00", 9);
        memcpy(g.buf + at + 9, f.buf + at + vlen, f.len - at - vlen);
        expect_pm(g, LY_EINVAL, "evs[0]: field 'qual_day'", "qual_day 2^31");
        free(f.buf);
        free_pm(m);
    }
}

/* ---- rights: transfers and rights-req ----------------------------------- */

/* Events of origin 3 from seq 11: an earn, a transfer of 300 to node 5, a redeem. */
static void transfer_events(ly_pmsg *m)
{
    live_events(m, 3, 42, 10, 3);
    fill_event(&m->pm_events[0], 1, 3, 42, 11);
    fill_event(&m->pm_events[1], 8, 3, 42, 12);
    fill_event(&m->pm_events[2], 2, 3, 42, 13);
    ly_event *t = &m->pm_events[1];
    cr_assert_eq(t->ev_type, LY_EV_TRANSFER);
    t->ev_to = 5;
    t->ev_amount = t->ev_points = 300;
    cr_assert_eq(ly_event_validate(t), LY_OK);
}

Test(pmsg, roundtrip_transfers)
{
    ly_pmsg *m = full(LY_PM_EVENTS);
    ly_pmsg_fini(m);
    transfer_events(m);
    pm_roundtrip(m);
    frame f = enc(m);
    /* The transfer carries "to"; the other events do not. */
    const uint8_t *to = memmem(f.buf, f.len, "\xa2to\x05", 4);
    cr_assert_not_null(to);
    cr_assert_null(memmem(to + 4, f.len - (size_t)(to + 4 - f.buf), "\xa2to", 3), "one 'to' only");
    cr_assert_not_null(memmem(f.buf, f.len, "\xa4type\x07", 6));
    free(f.buf);
    /* Extremes: to 65535, the largest amount. */
    m->pm_events[1].ev_to = UINT16_MAX;
    m->pm_events[1].ev_amount = m->pm_events[1].ev_points = LY_AMOUNT_MAX;
    pm_roundtrip(m);
    free_pm(m);

    /* A sync-rep of many origins, a transfer every ninth event. */
    m = full(LY_PM_SYNC_REP);
    ly_pmsg_fini(m);
    catchup_events(m, 90);
    uint32_t transfers = 0;
    for (uint32_t i = 0; i < m->pm_nevents; i++)
        transfers += m->pm_events[i].ev_type == LY_EV_TRANSFER;
    cr_assert_eq(transfers, 10);
    pm_roundtrip(m);
    free_pm(m);
}

Test(pmsg, events_without_transfers_have_no_to)
{
    /* Events of the other types are written as before transfers existed. */
    ly_pmsg *m = full(LY_PM_EVENTS);
    ly_pmsg_fini(m);
    live_events(m, 3, 42, 0, 8); /* every type but transfer */
    frame f = enc(m);
    cr_assert_null(memmem(f.buf, f.len, "\xa2to", 3));
    free(f.buf);
    free_pm(m);
}

/* An events frame for m's events, each packed by hand with every integer key
 * and its non-empty strings, valid or not (the encoder would refuse an invalid
 * event). */
static frame raw_live_frame(const ly_pmsg *m)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 7);
    pack_str(&pk, "v");
    msgpack_pack_uint64(&pk, LY_PEER_PROTO);
    pack_str(&pk, "t");
    pack_str(&pk, "events");
    pack_str(&pk, "node");
    msgpack_pack_uint64(&pk, m->pm_node);
    pack_str(&pk, "origin");
    msgpack_pack_uint64(&pk, m->pm_origin);
    pack_str(&pk, "incarnation");
    msgpack_pack_uint64(&pk, m->pm_incarnation);
    pack_str(&pk, "prev");
    msgpack_pack_uint64(&pk, m->pm_prev);
    pack_str(&pk, "evs");
    msgpack_pack_array(&pk, m->pm_nevents);
    for (uint32_t i = 0; i < m->pm_nevents; i++) {
        const ly_event *e = &m->pm_events[i];
        const struct {
            const char *k;
            uint64_t u;
        } us[] = {{"origin", e->ev_origin},
                  {"incarnation", e->ev_incarnation},
                  {"seq", e->ev_seq},
                  {"hlc", e->ev_hlc},
                  {"type", e->ev_type},
                  {"ref_type", e->ev_ref_type},
                  {"tier_from", e->ev_tier_from},
                  {"tier_to", e->ev_tier_to},
                  {"to", e->ev_to},
                  {"program", e->ev_program},
                  {"fields", e->ev_fields},
                  {"req_hash", e->ev_req_hash}};
        const struct {
            const char *k;
            int64_t i;
        } is[] = {{"qual_day", e->ev_qual_day},
                  {"amount", e->ev_amount},
                  {"points", e->ev_points},
                  {"qual", e->ev_qual}};
        const struct {
            const char *k;
            const char *s;
        } ss[] = {{"customer", e->ev_customer}, {"txn", e->ev_txn},
                  {"ref_txn", e->ev_ref_txn},   {"category", e->ev_category},
                  {"reason", e->ev_reason},     {"operator", e->ev_operator}};
        size_t n = sizeof us / sizeof us[0] + sizeof is / sizeof is[0];
        for (size_t j = 0; j < sizeof ss / sizeof ss[0]; j++)
            n += ss[j].s[0] != '\0';
        msgpack_pack_map(&pk, n);
        for (size_t j = 0; j < sizeof us / sizeof us[0]; j++) {
            pack_str(&pk, us[j].k);
            msgpack_pack_uint64(&pk, us[j].u);
        }
        for (size_t j = 0; j < sizeof is / sizeof is[0]; j++) {
            pack_str(&pk, is[j].k);
            msgpack_pack_int64(&pk, is[j].i);
        }
        for (size_t j = 0; j < sizeof ss / sizeof ss[0]; j++)
            if (ss[j].s[0] != '\0') {
                pack_str(&pk, ss[j].k);
                pack_str(&pk, ss[j].s);
            }
    }
    return from_sbuffer(&sb);
}

Test(pmsg_bad, transfer_events)
{
    ly_pmsg *m = full(LY_PM_EVENTS);
    ly_pmsg_fini(m);
    transfer_events(m);
    ly_event *t = &m->pm_events[1];
    const ly_event keep = *t;
    /* Invalid transfers: checked by ly_event_validate on both sides. */
    for (int c = 0; c < 7; c++) {
        *t = keep;
        const char *what = "?";
        switch (c) {
        case 0:
            t->ev_to = 0;
            what = "transfer without to";
            break;
        case 1:
            t->ev_to = t->ev_origin;
            what = "transfer to its own origin";
            break;
        case 2:
            t->ev_points = 299;
            what = "transfer points != amount";
            break;
        case 3:
            t->ev_amount = t->ev_points = 0;
            what = "transfer of 0";
            break;
        case 4:
            t->ev_amount = t->ev_points = -300;
            what = "negative transfer";
            break;
        case 5:
            t->ev_qual = 300;
            what = "transfer with qualifying points";
            break;
        default:
            t->ev_type = LY_EV_EARN; /* an earn with a "to" */
            t->ev_qual = 3;
            what = "earn with to";
            break;
        }
        cr_assert_neq(ly_event_validate(t), LY_OK, "%s", what);
        expect_enc_refuses(m, what);
        expect_pm(raw_live_frame(m), LY_EINVAL, "evs[1]: not a valid event", what);
    }
    *t = keep;
    expect_pm(raw_live_frame(m), LY_OK, NULL, "repaired, every key written");

    /* "to": an unsigned 16-bit integer. */
    frame f = enc(m);
    uint8_t *to = memmem(f.buf, f.len, "\xa2to\x05", 4);
    cr_assert_not_null(to);
    to[3] = 0xc0;
    expect_pm(raw(f.buf, f.len), LY_EPROTO, "evs[1]: field 'to'", "to nil");
    to[3] = 0xff;
    expect_pm(raw(f.buf, f.len), LY_EPROTO, "evs[1]: field 'to'", "to -1");
    to[3] = 0xa1; /* a one-byte string: the next byte is its body */
    expect_pm(raw(f.buf, f.len), LY_EPROTO, NULL, "to as a string");
    size_t at = (size_t)(to + 3 - f.buf);
    frame g = {malloc(f.len + 4), f.len + 4};
    memcpy(g.buf, f.buf, at);
    memcpy(g.buf + at, "\xce\x00\x01\x00\x00", 5); /* 65536 */
    memcpy(g.buf + at + 5, f.buf + at + 1, f.len - at - 1);
    expect_pm(g, LY_EINVAL, "evs[1]: field 'to': must be 0..65535", "to 65536");
    free(f.buf);

    /* An event that is not a transfer may say "to": 0 (the key read as absent). */
    ly_pmsg *e = full(LY_PM_EVENTS);
    f = enc(e);
    uint8_t *ty = memmem(f.buf, f.len, "\xa4type\x01", 6);
    cr_assert_not_null(ty);
    size_t tat = (size_t)(ty - f.buf);
    frame h = {malloc(f.len + 4), f.len + 4};
    memcpy(h.buf, f.buf, tat);
    memcpy(h.buf + tat, "\xa2to\x00", 4);
    memcpy(h.buf + tat + 4, f.buf + tat, f.len - tat);
    /* One more key in evs[0]: its map16 header follows "evs" and the array header. */
    uint8_t *evs = memmem(h.buf, h.len,
                          "\xa3"
                          "evs\x95\xde\x00",
                          7);
    cr_assert_not_null(evs);
    evs[7]++;
    expect_pm(h, LY_OK, NULL, "an earn with to 0");
    free(f.buf);
    free_pm(e);
    free_pm(m);
}

Test(pmsg, roundtrip_rights_req)
{
    ly_pmsg *m = full(LY_PM_RIGHTS_REQ);
    pm_roundtrip(m);
    m->pm_node = UINT16_MAX;
    m->pm_points = LY_AMOUNT_MAX;
    memset(m->pm_customer, 'c', LY_ID_MAX);
    pm_roundtrip(m);
    m->pm_points = 1;
    SET(m->pm_customer, "x");
    pm_roundtrip(m);
    free_pm(m);

    /* Pinned: {"v":2,"t":"rights-req","node":3,"customer":"C1","points":1500} */
    m = malloc(sizeof *m);
    ly_pmsg_init(m, LY_PM_RIGHTS_REQ);
    m->pm_node = 3;
    strcpy(m->pm_customer, "C1");
    m->pm_points = 1500;
    frame f = enc(m);
    static const uint8_t want[] = {0x85, 0xa1, 'v', LY_PEER_PROTO, 0xa1, 't',  0xaa, 'r',  'i',
                                   'g',  'h',  't', 's',           '-',  'r',  'e',  'q',  0xa4,
                                   'n',  'o',  'd', 'e',           0x03, 0xa8, 'c',  'u',  's',
                                   't',  'o',  'm', 'e',           'r',  0xa2, 'C',  '1',  0xa6,
                                   'p',  'o',  'i', 'n',           't',  's',  0xcd, 0x05, 0xdc};
    cr_assert(f.len == sizeof want && memcmp(f.buf, want, sizeof want) == 0);
    free(f.buf);
    free(m);
}

/* ---- structure ---------------------------------------------------------- */

Test(pmsg_bad, structure)
{
    expect_pm(raw("", 0), LY_EPROTO, "empty frame", "empty");
    ly_pmsg *m = malloc(sizeof *m);
    char why[64];
    cr_assert_eq(ly_pmsg_decode(NULL, 0, m, why, sizeof why), LY_EPROTO);
    cr_assert_eq(ly_pmsg_decode(NULL, 0, m, NULL, 0), LY_EPROTO, "why may be NULL");
    free(m);
    expect_pm(raw("\x01", 1), LY_EPROTO, "not a map", "an integer");
    expect_pm(raw("\x91\x80", 2), LY_EPROTO, "not a map", "an array");
    expect_pm(raw("\x81\x01\x01", 3), LY_EPROTO, "not a string", "integer key");
    expect_pm(raw("\x81\xa1v\xc1", 4), LY_EPROTO, "0xc1", "reserved byte");

    /* Nesting: 33 and 10,000 levels. */
    for (size_t levels = 33; levels <= 10000; levels += 10000 - 33) {
        frame f = {malloc(levels + 1), levels + 1};
        memset(f.buf, 0x91, levels);
        f.buf[levels] = 0x01;
        expect_pm(f, LY_EPROTO, "nesting", "deep nesting");
    }

    /* Trailing bytes and every truncation of real messages. */
    for (int t = 1; t <= LY_PM_TYPE_MAX; t++) {
        frame f = enc_full(t);
        frame g = {malloc(f.len + 1), f.len + 1};
        memcpy(g.buf, f.buf, f.len);
        g.buf[f.len] = 0xc0;
        expect_pm(g, LY_EPROTO, "1 trailing bytes", "message plus nil");
        for (size_t n = 0; n < f.len; n++) {
            ly_pmsg *p = malloc(sizeof *p);
            ly_err rc = ly_pmsg_decode(f.buf, n, p, why, sizeof why);
            cr_expect_eq(rc, LY_EPROTO, "%s truncated to %zu: %s", ly_pmsgtype_name(t), n,
                         ly_errname(rc));
            ly_pmsg_fini(p);
            free(p);
        }
        free(f.buf);
    }

    /* Frame size: over the limit is LY_ETOOBIG before anything is read. */
    uint8_t *big = calloc(1, LY_PEER_FRAME_MAX + 1);
    expect_pm(raw(big, LY_PEER_FRAME_MAX + 1), LY_ETOOBIG, "over the limit", "4 MiB + 1");
    expect_pm(raw(big, LY_PEER_FRAME_MAX), LY_EPROTO, "trailing", "4 MiB of zeros");
    free(big);
    /* A valid message padded up to the limit by an unknown key: refused as unknown, not as big. */
    frame f = with_evs(LY_PM_SYNC_REP, "\x90", 1, 0);
    frame g = edit(f, "zpad", "\xc0", 1);
    size_t pad = LY_PEER_FRAME_MAX - g.len + 1 - 5; /* str32 header replaces nil */
    free(g.buf);
    g = with_evs(LY_PM_SYNC_REP, "\x90", 1, pad);
    cr_assert_eq(g.len, LY_PEER_FRAME_MAX, "%zu", g.len);
    expect_pm(g, LY_EPROTO, "field 'zpad': unknown field", "4 MiB exactly");
    free(f.buf);
}

/* ---- the encoder -------------------------------------------------------- */

Test(pmsg_enc, refuses_invalid)
{
    uint8_t *buf;
    size_t len;
    ly_pmsg *m = full(LY_PM_HELLO);
    cr_assert_eq(ly_pmsg_encode(NULL, &buf, &len), LY_EINVAL);
    cr_assert_eq(ly_pmsg_encode(m, NULL, &len), LY_EINVAL);
    cr_assert_eq(ly_pmsg_encode(m, &buf, NULL), LY_EINVAL);
    m->pm_type = 0;
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "type 0");
    m->pm_type = LY_PM_TYPE_MAX + 1;
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "type 9");
    m->pm_type = LY_PM_HELLO;
    m->pm_node = 0;
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "node 0");
    m->pm_node = 1;
    strcpy(m->pm_name, "");
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "empty name");
    strcpy(m->pm_name, "a b");
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "bad name");
    memset(m->pm_name, 'x', sizeof m->pm_name); /* not terminated */
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "unterminated name");
    strcpy(m->pm_name, "ok");
    strcpy(m->pm_client, "nope");
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "bad client");
    strcpy(m->pm_client, "");
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_OK);
    free(buf);
    free_pm(m);

    m = full(LY_PM_REFUSED);
    m->pm_reason[0] = '\0';
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "empty reason");
    strcpy(m->pm_reason, "tab\there");
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "control character in reason");
    free_pm(m);

    m = full(LY_PM_SYNC_REQ);
    m->pm_max = 0;
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "max 0");
    m->pm_max = LY_PEER_EVENTS_MAX + 1;
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "max 2001");
    m->pm_max = 1;
    m->pm_nvv = LY_PEER_VV_MAX + 1;
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "257 vv entries");
    fill_vv(m, 3);
    m->pm_vv[2] = m->pm_vv[0];
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "duplicate vv entry");
    m->pm_vv[2].vv_incarnation++;
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_OK, "same origin, other incarnation");
    free(buf);
    m->pm_vv[1].vv_origin = 0;
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "vv origin 0");
    free_pm(m);

    m = full(LY_PM_SYNC_REP);
    m->pm_more = 2;
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "more 2");
    m->pm_more = 0;
    ly_event *keep = m->pm_events;
    m->pm_events = NULL;
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "events without an array");
    m->pm_events = keep;
    m->pm_nevents = LY_PEER_EVENTS_MAX + 1;
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "2001 events");
    m->pm_nevents = 5;
    free_pm(m);

    m = full(LY_PM_EVENTS);
    m->pm_origin = 0;
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "origin 0");
    free_pm(m);

    m = full(LY_PM_RIGHTS_REQ);
    m->pm_points = 0;
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "points 0");
    m->pm_points = -5;
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "points -5");
    m->pm_points = LY_AMOUNT_MAX + 1;
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "points over LY_AMOUNT_MAX");
    m->pm_points = 5;
    m->pm_customer[0] = '\0';
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "empty customer");
    strcpy(m->pm_customer, "C 1");
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "bad customer");
    memset(m->pm_customer, 'c', sizeof m->pm_customer); /* not terminated */
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "unterminated customer");
    strcpy(m->pm_customer, "C1");
    m->pm_node = 0;
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_EINVAL, "node 0");
    free_pm(m);
}

Test(pmsg_enc, ignores_fields_of_other_types)
{
    for (int t = 1; t <= LY_PM_TYPE_MAX; t++) {
        ly_pmsg *clean = full(t);
        frame a = enc(clean);
        ly_pmsg *m = full(t);
        /* Everything the type does not carry, set to something (valid or not). */
        if (t != LY_PM_HELLO && t != LY_PM_WELCOME) {
            strcpy(m->pm_name, "not a name!");
            strcpy(m->pm_client, "nope");
        }
        if (t != LY_PM_HELLO && t != LY_PM_WELCOME && t != LY_PM_HEARTBEAT) {
            m->pm_program = 5;
            m->pm_program_hash = 6;
        }
        if (t != LY_PM_HELLO)
            m->pm_proto = 99;
        if (t != LY_PM_REFUSED)
            strcpy(m->pm_reason, "bad\x01");
        if (t != LY_PM_HEARTBEAT) {
            m->pm_hlc = 1;
            m->pm_digest = 2;
            m->pm_events_total = 3;
        }
        if (t != LY_PM_HEARTBEAT && t != LY_PM_SYNC_REQ)
            m->pm_nvv = LY_PEER_VV_MAX + 100;
        if (t != LY_PM_EVENTS) {
            m->pm_origin = 0;
            m->pm_prev = 9;
        }
        if (t != LY_PM_SYNC_REQ)
            m->pm_max = 0;
        if (t != LY_PM_SYNC_REP)
            m->pm_more = 7;
        if (t != LY_PM_EVENTS && t != LY_PM_SYNC_REP)
            m->pm_nevents = LY_PEER_EVENTS_MAX + 1; /* no array: never looked at */
        if (t != LY_PM_EVENTS && t != LY_PM_HELLO && t != LY_PM_WELCOME)
            m->pm_incarnation = 12345;
        if (t != LY_PM_RIGHTS_REQ) {
            strcpy(m->pm_customer, "not an id");
            m->pm_points = -1;
        }
        frame b = enc(m);
        cr_assert(a.len == b.len && memcmp(a.buf, b.buf, a.len) == 0, "%s", ly_pmsgtype_name(t));
        if (t != LY_PM_EVENTS && t != LY_PM_SYNC_REP)
            m->pm_nevents = 0;
        free(a.buf);
        free(b.buf);
        free_pm(clean);
        free_pm(m);
    }
}
