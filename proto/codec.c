/* codec.c -- msgpack encoding and decoding of client messages (see codec.h).
 *
 * Built on the shared machinery of mpack.h (pre-scan, reader, table-driven
 * maps, the event map the peer protocol uses too). Requests are decoded
 * strictly, replies leniently about unknown keys. */
#include "proto/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "proto/mpack.h"

_Static_assert(LY_STATUS_PEERS_MAX >= LY_PEERS_MAX, "a status reply must hold every peer");

static const lyp_proto s_req_proto = {LY_FRAME_MAX, LY_PROTO_VERSION, 1, ly_msgtype_name,
                                      ly_msgtype_from_name};
static const lyp_proto s_rep_proto = {LY_FRAME_MAX, LY_PROTO_VERSION, 0, ly_msgtype_name,
                                      ly_msgtype_from_name};

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
    RQ_PREFETCH,
    RQ_AFTER,
    RQ_BYTES,
    RQ_VERSION,
    RQ_TIER,
    RQ_UNTIL,
};

static const lyp_field s_req_tab[] = {
    [RQ_V] = LYP_FX("v"),
    [RQ_T] = LYP_FX("t"),
    [RQ_ID] = LYP_FU("id", ly_req, rq_id),
    [RQ_CUSTOMER] = LYP_FS("customer", ly_req, rq_customer, LYP_C_ID, 0),
    [RQ_TXN] = LYP_FS("txn", ly_req, rq_txn, LYP_C_ID, 0),
    [RQ_REF_TXN] = LYP_FS("ref_txn", ly_req, rq_ref_txn, LYP_C_ID, 0),
    [RQ_CATEGORY] = LYP_FS("category", ly_req, rq_category, LYP_C_ID, 0),
    [RQ_REASON] = LYP_FS("reason", ly_req, rq_reason, LYP_C_TEXTNE, 0),
    [RQ_OPERATOR] = LYP_FS("operator", ly_req, rq_operator, LYP_C_ID, 0),
    [RQ_AMOUNT] = LYP_FI("amount", ly_req, rq_amount),
    [RQ_NAME] = LYP_FP("name", ly_req, rq_profile.pf_name, LYP_C_TEXT, 0, LY_PF_NAME),
    [RQ_BIRTHDAY] =
        LYP_FP("birthday", ly_req, rq_profile.pf_birthday, LYP_C_DATE, 0, LY_PF_BIRTHDAY),
    [RQ_EMAIL] = LYP_FP("email", ly_req, rq_profile.pf_email, LYP_C_TEXT, 0, LY_PF_EMAIL),
    [RQ_PHONE] = LYP_FP("phone", ly_req, rq_profile.pf_phone, LYP_C_TEXT, 0, LY_PF_PHONE),
    [RQ_PREFS] = LYP_FP("prefs", ly_req, rq_profile.pf_prefs, LYP_C_TEXT, 0, LY_PF_PREFS),
    [RQ_LIMIT] = LYP_FU("limit", ly_req, rq_limit),
    [RQ_ORIGIN] = LYP_FU("origin", ly_req, rq_origin),
    [RQ_SINCE] = LYP_FU("since", ly_req, rq_since),
    [RQ_PREFETCH] = LYP_FB("prefetch", ly_req, rq_prefetch),
    [RQ_AFTER] = LYP_FS("after", ly_req, rq_after, LYP_C_TEXT, 0),
    [RQ_BYTES] = LYP_FX("program"), /* program-apply: binary, 1..LY_PROGRAM_BYTES_MAX */
    [RQ_VERSION] = LYP_FUR("version", ly_req, rq_version, 1, UINT32_MAX),
    [RQ_TIER] = LYP_FS("tier", ly_req, rq_tier, LYP_C_ID, 0),
    [RQ_UNTIL] = LYP_FS("until", ly_req, rq_until, LYP_C_DATE, 0),
};

#define RQ_PROFILE                                                                                 \
    (LYP_BIT(RQ_NAME) | LYP_BIT(RQ_BIRTHDAY) | LYP_BIT(RQ_EMAIL) | LYP_BIT(RQ_PHONE) |             \
     LYP_BIT(RQ_PREFS))
#define RQ_BASE (LYP_BIT(RQ_V) | LYP_BIT(RQ_T) | LYP_BIT(RQ_ID))

/* Keys each request type requires and accepts besides RQ_BASE. */
static const struct {
    uint64_t required;
    uint64_t optional;
} s_req_rules[LY_MSG_TYPE_MAX + 1] = {
    [LY_MSG_ENROLL] = {LYP_BIT(RQ_CUSTOMER) | LYP_BIT(RQ_TXN), RQ_PROFILE},
    [LY_MSG_EARN] = {LYP_BIT(RQ_CUSTOMER) | LYP_BIT(RQ_TXN) | LYP_BIT(RQ_AMOUNT),
                     LYP_BIT(RQ_CATEGORY)},
    [LY_MSG_REDEEM] = {LYP_BIT(RQ_CUSTOMER) | LYP_BIT(RQ_TXN) | LYP_BIT(RQ_AMOUNT), 0},
    [LY_MSG_REVERSE] = {LYP_BIT(RQ_TXN) | LYP_BIT(RQ_REF_TXN),
                        LYP_BIT(RQ_AMOUNT) | LYP_BIT(RQ_OPERATOR)},
    [LY_MSG_ADJUST] = {LYP_BIT(RQ_CUSTOMER) | LYP_BIT(RQ_TXN) | LYP_BIT(RQ_AMOUNT) |
                           LYP_BIT(RQ_REASON) | LYP_BIT(RQ_OPERATOR),
                       0},
    [LY_MSG_CUSTOMER] = {LYP_BIT(RQ_CUSTOMER), LYP_BIT(RQ_LIMIT) | LYP_BIT(RQ_PREFETCH)},
    [LY_MSG_SET_PROFILE] = {LYP_BIT(RQ_CUSTOMER) | LYP_BIT(RQ_TXN), RQ_PROFILE},
    [LY_MSG_STATUS] = {0, 0},
    [LY_MSG_EVENTS] = {0, LYP_BIT(RQ_ORIGIN) | LYP_BIT(RQ_SINCE) | LYP_BIT(RQ_LIMIT)},
    [LY_MSG_DEBTS] = {0, LYP_BIT(RQ_CUSTOMER) | LYP_BIT(RQ_LIMIT)},
    [LY_MSG_CONFLICTS] = {0, LYP_BIT(RQ_AFTER) | LYP_BIT(RQ_LIMIT)},
    [LY_MSG_PROGRAM_APPLY] = {LYP_BIT(RQ_BYTES) | LYP_BIT(RQ_OPERATOR), LYP_BIT(RQ_REASON)},
    [LY_MSG_PROGRAM] = {0, LYP_BIT(RQ_VERSION)},
    [LY_MSG_TIER] = {LYP_BIT(RQ_CUSTOMER) | LYP_BIT(RQ_TXN) | LYP_BIT(RQ_TIER) | LYP_BIT(RQ_UNTIL) |
                         LYP_BIT(RQ_REASON),
                     LYP_BIT(RQ_OPERATOR)},
};

static void s_req_range(int type, int fid, int64_t *lo, uint64_t *hi, int *nonzero)
{
    if (fid == RQ_AMOUNT) {
        *lo = type == LY_MSG_REVERSE ? 0 : type == LY_MSG_ADJUST ? -LY_AMOUNT_MAX : 1;
        *hi = LY_AMOUNT_MAX;
        *nonzero = type == LY_MSG_ADJUST;
    } else if (fid == RQ_LIMIT) {
        *hi = type == LY_MSG_EVENTS      ? LY_EVENTS_MAX
              : type == LY_MSG_DEBTS     ? LY_DEBTS_MAX
              : type == LY_MSG_CONFLICTS ? LY_CONFLICTS_MAX
                                         : LY_HIST_MAX;
    }
}

static ly_err s_req_special_dec(lyp_dec *d, int fid, const lyp_obj *v, void *base)
{
    ly_req *rq = base;
    /* "v" and "t" were read by lyp_dec_vt: scalars of the right type. */
    if (fid != RQ_BYTES)
        return LY_OK;
    if (v->o_type != LYP_BIN)
        return lyp_fail(&d->d_w, LY_EPROTO, "program", "expected binary data, got %s",
                        lyp_otype_names[v->o_type]);
    if (v->o_u == 0 || v->o_u > LY_PROGRAM_BYTES_MAX)
        return lyp_fail(&d->d_w, LY_EINVAL, "program", "%llu bytes, not 1..%d",
                        (unsigned long long)v->o_u, LY_PROGRAM_BYTES_MAX);
    free(rq->rq_blob); /* a key given twice is refused after this: no leak either way */
    if ((rq->rq_blob = malloc((size_t)v->o_u)) == NULL)
        return lyp_fail(&d->d_w, LY_ENOMEM, "program", "out of memory");
    memcpy(rq->rq_blob, v->o_ptr, (size_t)v->o_u);
    rq->rq_blob_len = (uint32_t)v->o_u;
    return LY_OK;
}

static ly_err s_req_special_enc(lyp_enc *e, int fid, const void *base)
{
    const ly_req *rq = base;
    if (fid == RQ_V) {
        e->e_fail |= msgpack_pack_uint64(&e->e_pk, LY_PROTO_VERSION);
    } else if (fid == RQ_BYTES) {
        if (rq->rq_blob == NULL || rq->rq_blob_len == 0 || rq->rq_blob_len > LY_PROGRAM_BYTES_MAX)
            return lyp_fail(&e->e_w, LY_EINVAL, "program", "%u bytes, not 1..%d",
                            (unsigned)rq->rq_blob_len, LY_PROGRAM_BYTES_MAX);
        e->e_fail |= msgpack_pack_bin(&e->e_pk, rq->rq_blob_len);
        e->e_fail |= msgpack_pack_bin_body(&e->e_pk, rq->rq_blob, rq->rq_blob_len);
    } else {
        const char *name = ly_msgtype_name(rq->rq_type);
        lyp_pack_str(e, name, strlen(name));
    }
    return LY_OK;
}

static const lyp_map s_req_map = {s_req_tab, LYP_COUNT(s_req_tab), s_req_range, s_req_special_dec,
                                  s_req_special_enc};

/* The keys an encoder writes for `rq`, after checking what the table cannot. */
static ly_err s_req_mask(lyp_why *w, const ly_req *rq, uint64_t *mask)
{
    int type = rq->rq_type;
    if (ly_msgtype_name(type) == NULL)
        return lyp_fail(w, LY_EINVAL, "t", "unknown message type %d", type);
    uint64_t allowed = s_req_rules[type].optional;
    uint64_t m = RQ_BASE | s_req_rules[type].required;
    if (allowed & RQ_PROFILE) {
        if (rq->rq_fields & ~(uint32_t)LY_PF_ALL)
            return lyp_fail(w, LY_EINVAL, "fields", "unknown profile field bits 0x%x",
                            (unsigned)rq->rq_fields);
        if (type == LY_MSG_SET_PROFILE && rq->rq_fields == 0)
            return lyp_fail(w, LY_EINVAL, NULL,
                            "set-profile: at least one profile field is required");
        for (int fid = RQ_NAME; fid <= RQ_PREFS; fid++)
            if (rq->rq_fields & s_req_tab[fid].f_bit)
                m |= LYP_BIT(fid);
    }
    if ((allowed & LYP_BIT(RQ_CUSTOMER)) && rq->rq_customer[0] != '\0')
        m |= LYP_BIT(RQ_CUSTOMER);
    if ((allowed & LYP_BIT(RQ_CATEGORY)) && rq->rq_category[0] != '\0')
        m |= LYP_BIT(RQ_CATEGORY);
    if ((allowed & LYP_BIT(RQ_AMOUNT)) && rq->rq_amount != 0)
        m |= LYP_BIT(RQ_AMOUNT);
    if ((allowed & LYP_BIT(RQ_LIMIT)) && rq->rq_limit != 0)
        m |= LYP_BIT(RQ_LIMIT);
    if ((allowed & LYP_BIT(RQ_ORIGIN)) && rq->rq_origin != 0)
        m |= LYP_BIT(RQ_ORIGIN);
    if ((allowed & LYP_BIT(RQ_SINCE)) && rq->rq_since != 0)
        m |= LYP_BIT(RQ_SINCE);
    if ((allowed & LYP_BIT(RQ_PREFETCH)) && rq->rq_prefetch)
        m |= LYP_BIT(RQ_PREFETCH);
    if ((allowed & LYP_BIT(RQ_AFTER)) && rq->rq_after[0] != '\0')
        m |= LYP_BIT(RQ_AFTER);
    if ((allowed & LYP_BIT(RQ_REASON)) && rq->rq_reason[0] != '\0')
        m |= LYP_BIT(RQ_REASON);
    if ((allowed & LYP_BIT(RQ_OPERATOR)) && rq->rq_operator[0] != '\0')
        m |= LYP_BIT(RQ_OPERATOR);
    if ((allowed & LYP_BIT(RQ_VERSION)) && rq->rq_version != 0)
        m |= LYP_BIT(RQ_VERSION);
    *mask = m;
    return lyp_check_fields(w, &s_req_map, type, rq, m);
}

ly_err ly_req_check(const ly_req *rq, char *why, size_t why_len)
{
    lyp_why w = {why, why_len, ""};
    if (why != NULL && why_len > 0)
        why[0] = '\0';
    if (rq == NULL)
        return lyp_fail(&w, LY_EINVAL, NULL, "no request");
    uint64_t mask = 0;
    return s_req_mask(&w, rq, &mask);
}

ly_err ly_req_encode(const ly_req *rq, uint8_t **out, size_t *len)
{
    if (rq == NULL || out == NULL || len == NULL)
        return LY_EINVAL;
    lyp_enc e;
    lyp_enc_init(&e, &s_req_proto, rq->rq_type, NULL, 0);
    uint64_t mask = 0;
    ly_err rc = s_req_mask(&e.e_w, rq, &mask);
    if (rc == LY_OK)
        rc = lyp_enc_map(&e, &s_req_map, rq, mask);
    return lyp_enc_finish(&e, rc, out, len);
}

ly_err ly_req_decode(const uint8_t *buf, size_t len, ly_req *rq, char *why, size_t why_len)
{
    lyp_dec d;
    uint64_t n;
    ly_req_init(rq, 0);
    ly_err rc = lyp_dec_start(&d, &s_req_proto, buf, len, why, why_len, &n);
    if (rc != LY_OK)
        return rc;
    int type;
    if ((rc = lyp_dec_vt(&d, n, 1, &type)) != LY_OK)
        return rc;
    rq->rq_type = (uint8_t)type;
    d.d_type = type;
    uint64_t required = RQ_BASE | s_req_rules[type].required;
    uint64_t seen = 0;
    rc = lyp_dec_map(&d, &s_req_map, n, rq, required | s_req_rules[type].optional, &seen,
                     &rq->rq_fields);
    if (rc != LY_OK)
        return rc;
    for (int fid = 0; fid < LYP_COUNT(s_req_tab); fid++)
        if ((required & LYP_BIT(fid)) && !(seen & LYP_BIT(fid)))
            return lyp_fail(&d.d_w, LY_EPROTO, s_req_tab[fid].f_name, "missing");
    if (type == LY_MSG_SET_PROFILE && !(seen & RQ_PROFILE))
        return lyp_fail(&d.d_w, LY_EPROTO, NULL,
                        "set-profile: at least one profile field is required");
    return LY_OK;
}

uint64_t ly_req_peek_id(const uint8_t *buf, size_t len)
{
    lyp_dec d;
    uint64_t n;
    if (lyp_dec_start(&d, &s_req_proto, buf, len, NULL, 0, &n) != LY_OK)
        return 0;
    for (uint64_t i = 0; i < n; i++) {
        lyp_obj k, v;
        if (lyp_head(&d.d_rd, &k) != LYP_HEAD_OK)
            return 0;
        if (k.o_type == LYP_STR && lyp_keyeq(&k, "id")) {
            if (lyp_head(&d.d_rd, &v) != LYP_HEAD_OK || v.o_type != LYP_UINT)
                return 0;
            return v.o_u;
        }
        if (lyp_skip_children(&d.d_rd, &k) != 0 || lyp_skip(&d.d_rd) != 0)
            return 0;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Replies: nested maps                                                      */

static const lyp_field s_prof_tab[] = {
    LYP_FP("name", ly_profile, pf_name, LYP_C_TEXT, 0, LY_PF_NAME),
    LYP_FP("birthday", ly_profile, pf_birthday, LYP_C_DATE, 0, LY_PF_BIRTHDAY),
    LYP_FP("email", ly_profile, pf_email, LYP_C_TEXT, 0, LY_PF_EMAIL),
    LYP_FP("phone", ly_profile, pf_phone, LYP_C_TEXT, 0, LY_PF_PHONE),
    LYP_FP("prefs", ly_profile, pf_prefs, LYP_C_TEXT, 0, LY_PF_PREFS),
};
static const lyp_map s_prof_map = {s_prof_tab, LYP_COUNT(s_prof_tab), NULL, NULL, NULL};

enum { HI_TYPE = 1 };
static const lyp_field s_hist_tab[] = {
    LYP_FU("hlc", ly_hist, hi_hlc),
    [HI_TYPE] = LYP_FX("type"),
    LYP_FU("origin", ly_hist, hi_origin),
    LYP_FUO("to", ly_hist, hi_to),
    LYP_FI("points", ly_hist, hi_points),
    LYP_FI("amount", ly_hist, hi_amount),
    LYP_FS("txn", ly_hist, hi_txn, LYP_C_IDE, 1),
    LYP_FS("ref_txn", ly_hist, hi_ref_txn, LYP_C_IDE, 1),
    LYP_FS("category", ly_hist, hi_category, LYP_C_IDE, 1),
    LYP_FS("reason", ly_hist, hi_reason, LYP_C_TEXT, 1),
    LYP_FS("operator", ly_hist, hi_operator, LYP_C_IDE, 1),
    LYP_FS("tier_from", ly_hist, hi_tier_from, LYP_C_TEXT, 1),
    LYP_FS("tier_to", ly_hist, hi_tier_to, LYP_C_TEXT, 1),
    LYP_FUO("void", ly_hist, hi_void),
    LYP_FUO("win_origin", ly_hist, hi_win_origin),
    LYP_FUO("win_seq", ly_hist, hi_win_seq),
    LYP_FS("until", ly_hist, hi_until, LYP_C_DATE, 1),
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

static ly_err s_hist_dec(lyp_dec *d, int fid, const lyp_obj *v, void *base)
{
    ly_hist *hi = base;
    (void)fid;
    if (v->o_type != LYP_STR)
        return lyp_fail(&d->d_w, LY_EPROTO, "type", "expected a string, got %s",
                        lyp_otype_names[v->o_type]);
    int t = s_evtype_from(v->o_ptr, v->o_u);
    if (t == 0)
        return lyp_fail(&d->d_w, LY_EPROTO, "type", "unknown event type");
    hi->hi_type = (uint8_t)t;
    return LY_OK;
}

static ly_err s_hist_enc(lyp_enc *e, int fid, const void *base)
{
    const ly_hist *hi = base;
    (void)fid;
    const char *name = ly_evtype_name(hi->hi_type);
    if (strcmp(name, "?") == 0)
        return lyp_fail(&e->e_w, LY_EINVAL, "type", "unknown event type %d", hi->hi_type);
    lyp_pack_str(e, name, strlen(name));
    return LY_OK;
}

static const lyp_map s_hist_map = {s_hist_tab, LYP_COUNT(s_hist_tab), NULL, s_hist_dec, s_hist_enc};

typedef __typeof__(((ly_node_status *)0)->ns_vv[0]) s_vv;
static const lyp_field s_vv_tab[] = {
    LYP_FU("origin", s_vv, origin),
    LYP_FU("incarnation", s_vv, incarnation),
    LYP_FU("seq", s_vv, seq),
};
static const lyp_map s_vv_map = {s_vv_tab, LYP_COUNT(s_vv_tab), NULL, NULL, NULL};

enum { NS_VV = 11 };
static const lyp_field s_node_tab[] = {
    LYP_FU("id", ly_node_status, ns_id),
    LYP_FS("name", ly_node_status, ns_name, LYP_C_TEXT, 0),
    LYP_FU("incarnation", ly_node_status, ns_incarnation),
    LYP_FU("program", ly_node_status, ns_program),
    LYP_FU("events", ly_node_status, ns_events),
    LYP_FU("customers", ly_node_status, ns_customers),
    LYP_FU("digest", ly_node_status, ns_digest),
    LYP_FU("hlc", ly_node_status, ns_hlc),
    LYP_FU("uptime_ms", ly_node_status, ns_uptime_ms),
    LYP_FU("map_size", ly_node_status, ns_map_size),
    LYP_FU("map_used", ly_node_status, ns_map_used),
    [NS_VV] = LYP_FX("vv"),
    LYP_FS("client", ly_node_status, ns_client, LYP_C_TEXT, 0),
    LYP_FU("transfers_sent", ly_node_status, ns_transfers_sent),
    LYP_FU("transfers_received", ly_node_status, ns_transfers_received),
    LYP_FU("rights_pending", ly_node_status, ns_rights_pending),
    LYP_FU("rights_asked", ly_node_status, ns_rights_asked),
    LYP_FU("log_bytes", ly_node_status, ns_log_bytes),
    LYP_FU("log_events", ly_node_status, ns_log_events),
    LYP_FU("checkpoints", ly_node_status, ns_checkpoints),
    LYP_FU("checkpoint_ms", ly_node_status, ns_checkpoint_ms),
    LYP_FS("write_error", ly_node_status, ns_write_error, LYP_C_TEXT, 1),
    LYP_FUO("duplicates", ly_node_status, ns_duplicates),
    LYP_FUO("conflicts", ly_node_status, ns_conflicts),
    LYP_FU("program_hash", ly_node_status, ns_program_hash),
    LYP_FUO("program_next", ly_node_status, ns_program_next),
    LYP_FUO("program_next_ms", ly_node_status, ns_program_next_ms),
    LYP_FUO("security", ly_node_status, ns_security),
    LYP_FUO("role", ly_node_status, ns_role),
    LYP_FS("key_name", ly_node_status, ns_key_name, LYP_C_TEXT, 1),
};

static ly_err s_node_dec(lyp_dec *d, int fid, const lyp_obj *v, void *base)
{
    ly_node_status *ns = base;
    (void)fid;
    if (v->o_type != LYP_ARRAY)
        return lyp_fail(&d->d_w, LY_EPROTO, "vv", "expected an array, got %s",
                        lyp_otype_names[v->o_type]);
    if (v->o_u > LY_VV_MAX)
        return lyp_fail(&d->d_w, LY_EPROTO, "vv", "more than %d entries", LY_VV_MAX);
    ns->ns_nvv = (uint32_t)v->o_u;
    for (uint32_t i = 0; i < ns->ns_nvv; i++) {
        lyp_obj el;
        if (lyp_head(&d->d_rd, &el) != LYP_HEAD_OK)
            return lyp_trunc(d);
        ly_err rc = lyp_dec_submap(d, &s_vv_map, &el, "vv", (long)i, &ns->ns_vv[i], NULL, NULL);
        if (rc != LY_OK)
            return rc;
    }
    return LY_OK;
}

static ly_err s_node_enc(lyp_enc *e, int fid, const void *base)
{
    const ly_node_status *ns = base;
    (void)fid;
    if (ns->ns_nvv > LY_VV_MAX)
        return lyp_fail(&e->e_w, LY_EINVAL, "vv", "more than %d entries", LY_VV_MAX);
    e->e_fail |= msgpack_pack_array(&e->e_pk, ns->ns_nvv);
    for (uint32_t i = 0; i < ns->ns_nvv; i++) {
        ly_err rc = lyp_enc_map(e, &s_vv_map, &ns->ns_vv[i], LYP_ALL(LYP_COUNT(s_vv_tab)));
        if (rc != LY_OK)
            return rc;
    }
    return LY_OK;
}

static const lyp_map s_node_map = {s_node_tab, LYP_COUNT(s_node_tab), NULL, s_node_dec, s_node_enc};

/* One row of "peers" in a status reply. */
static const lyp_field s_peer_tab[] = {
    LYP_FU("id", ly_peer_status, ps_id),
    LYP_FS("name", ly_peer_status, ps_name, LYP_C_TEXT, 0),
    LYP_FS("endpoint", ly_peer_status, ps_endpoint, LYP_C_TEXT, 0),
    LYP_FS("client", ly_peer_status, ps_client, LYP_C_TEXT, 0),
    LYP_FB("up", ly_peer_status, ps_up),
    LYP_FU("last_heard_ms", ly_peer_status, ps_last_heard_ms),
    LYP_FU("behind", ly_peer_status, ps_behind),
    LYP_FU("missing", ly_peer_status, ps_missing),
    LYP_FU("lag_ms", ly_peer_status, ps_lag_ms),
    LYP_FU("digest", ly_peer_status, ps_digest),
    LYP_FU("events", ly_peer_status, ps_events),
    LYP_FB("converged", ly_peer_status, ps_converged),
    LYP_FU("sent", ly_peer_status, ps_sent),
    LYP_FU("received", ly_peer_status, ps_received),
    LYP_FU("dropped", ly_peer_status, ps_dropped),
    LYP_FU("program", ly_peer_status, ps_program),
    LYP_FU("program_hash", ly_peer_status, ps_program_hash),
};
static const lyp_map s_peer_map = {s_peer_tab, LYP_COUNT(s_peer_tab), NULL, NULL, NULL};

/* "peers": at most LY_STATUS_PEERS_MAX rows into ns->ns_peers (heap, owned by the reply). */
static ly_err s_peers_dec(lyp_dec *d, const lyp_obj *v, ly_node_status *ns)
{
    if (v->o_type != LYP_ARRAY)
        return lyp_fail(&d->d_w, LY_EPROTO, "peers", "expected an array, got %s",
                        lyp_otype_names[v->o_type]);
    if (v->o_u > LY_STATUS_PEERS_MAX)
        return lyp_fail(&d->d_w, LY_EPROTO, "peers", "more than %d entries", LY_STATUS_PEERS_MAX);
    if (v->o_u == 0)
        return LY_OK;
    ns->ns_peers = calloc((size_t)v->o_u, sizeof *ns->ns_peers);
    if (ns->ns_peers == NULL)
        return lyp_fail(&d->d_w, LY_ENOMEM, "peers", "out of memory");
    ns->ns_npeers = (uint32_t)v->o_u;
    for (uint32_t i = 0; i < ns->ns_npeers; i++) {
        lyp_obj el;
        if (lyp_head(&d->d_rd, &el) != LYP_HEAD_OK)
            return lyp_trunc(d);
        ly_err rc =
            lyp_dec_submap(d, &s_peer_map, &el, "peers", (long)i, &ns->ns_peers[i], NULL, NULL);
        if (rc != LY_OK)
            return rc;
    }
    return LY_OK;
}

/* "peers" is always written for a status reply, an empty array when there are none. */
static ly_err s_peers_enc(lyp_enc *e, const ly_node_status *ns)
{
    if (ns->ns_npeers > LY_STATUS_PEERS_MAX)
        return lyp_fail(&e->e_w, LY_EINVAL, "peers", "more than %d entries", LY_STATUS_PEERS_MAX);
    if (ns->ns_npeers > 0 && ns->ns_peers == NULL)
        return lyp_fail(&e->e_w, LY_EINVAL, "peers", "no peer array");
    e->e_fail |= msgpack_pack_array(&e->e_pk, ns->ns_npeers);
    for (uint32_t i = 0; i < ns->ns_npeers; i++) {
        char saved[sizeof e->e_w.w_where];
        lyp_where_push(&e->e_w, saved, "peers", (long)i);
        ly_err rc = lyp_enc_map(e, &s_peer_map, &ns->ns_peers[i], LYP_ALL(s_peer_map.m_n));
        lyp_where_pop(&e->e_w, saved);
        if (rc != LY_OK)
            return rc;
    }
    return LY_OK;
}

/* One row of "rights" in a customer-op reply: both keys required. */
typedef __typeof__(((ly_rep *)0)->rp_rights[0]) s_right;
static const lyp_field s_right_tab[] = {
    LYP_FUR("node", s_right, node, 1, UINT16_MAX),
    LYP_FI("points", s_right, points),
};
static const lyp_map s_right_map = {s_right_tab, LYP_COUNT(s_right_tab), NULL, NULL, NULL};

/* One row of "debts" in a debts reply: "customer" required. */
enum { DE_CUSTOMER };
static const lyp_field s_debt_tab[] = {
    [DE_CUSTOMER] = LYP_FS("customer", ly_debt, de_customer, LYP_C_ID, 0),
    LYP_FI("debt", ly_debt, de_debt),
    LYP_FI("lifetime", ly_debt, de_lifetime),
    LYP_FU("last_hlc", ly_debt, de_last_hlc),
};
static const lyp_map s_debt_map = {s_debt_tab, LYP_COUNT(s_debt_tab), NULL, NULL, NULL};

static ly_err s_rights_dec(lyp_dec *d, const lyp_obj *v, ly_rep *rp)
{
    if (v->o_type != LYP_ARRAY)
        return lyp_fail(&d->d_w, LY_EPROTO, "rights", "expected an array, got %s",
                        lyp_otype_names[v->o_type]);
    if (v->o_u > LY_RIGHTS_REPLY_MAX)
        return lyp_fail(&d->d_w, LY_EPROTO, "rights", "more than %d entries", LY_RIGHTS_REPLY_MAX);
    /* Entries past the count may hold an older reply's (ly_rep_reset): each
     * entry is zeroed as it is decoded, and counted once it is. */
    uint32_t n = (uint32_t)v->o_u;
    rp->rp_nrights = 0;
    for (uint32_t i = 0; i < n; i++) {
        lyp_obj el;
        uint64_t seen = 0;
        if (lyp_head(&d->d_rd, &el) != LYP_HEAD_OK)
            return lyp_trunc(d);
        memset(&rp->rp_rights[i], 0, sizeof rp->rp_rights[i]);
        rp->rp_nrights = i + 1;
        ly_err rc =
            lyp_dec_submap(d, &s_right_map, &el, "rights", (long)i, &rp->rp_rights[i], &seen, NULL);
        if (rc != LY_OK)
            return rc;
        for (int fid = 0; fid < LYP_COUNT(s_right_tab); fid++)
            if (!(seen & LYP_BIT(fid)))
                return lyp_fail(&d->d_w, LY_EPROTO, NULL, "rights[%u]: field '%s': missing", i,
                                s_right_tab[fid].f_name);
    }
    return LY_OK;
}

/* "rights" is always written for a customer operation, an empty array when there are none. */
static ly_err s_rights_enc(lyp_enc *e, const ly_rep *rp)
{
    if (rp->rp_nrights > LY_RIGHTS_REPLY_MAX)
        return lyp_fail(&e->e_w, LY_EINVAL, "rights", "more than %d entries", LY_RIGHTS_REPLY_MAX);
    e->e_fail |= msgpack_pack_array(&e->e_pk, rp->rp_nrights);
    for (uint32_t i = 0; i < rp->rp_nrights; i++) {
        char saved[sizeof e->e_w.w_where];
        lyp_where_push(&e->e_w, saved, "rights", (long)i);
        ly_err rc = lyp_enc_map(e, &s_right_map, &rp->rp_rights[i], LYP_ALL(s_right_map.m_n));
        lyp_where_pop(&e->e_w, saved);
        if (rc != LY_OK)
            return rc;
    }
    return LY_OK;
}

/* One row of "conflicts": every field required. */
static const lyp_field s_conflict_tab[] = {
    LYP_FS("key", ly_conflict, cf_key, LYP_C_TEXTNE, 0),
    LYP_FU("total", ly_conflict, cf_total),
    LYP_FU("first", ly_conflict, cf_first),
    LYP_FUR("n", ly_conflict, cf_n, 2, LY_CONFLICT_EVENTS),
    LYP_FU("counts", ly_conflict, cf_counts),
};
static const lyp_map s_conflict_map = {s_conflict_tab, LYP_COUNT(s_conflict_tab), NULL, NULL, NULL};

/* "conflicts": at most LY_CONFLICTS_MAX rows into rp->rp_conflicts (heap). */
static ly_err s_conflicts_dec(lyp_dec *d, const lyp_obj *v, ly_rep *rp)
{
    if (v->o_type != LYP_ARRAY)
        return lyp_fail(&d->d_w, LY_EPROTO, "conflicts", "expected an array, got %s",
                        lyp_otype_names[v->o_type]);
    if (v->o_u > LY_CONFLICTS_MAX)
        return lyp_fail(&d->d_w, LY_EPROTO, "conflicts", "more than %d entries", LY_CONFLICTS_MAX);
    free(rp->rp_conflicts); /* a second "conflicts" key: the last one counts */
    rp->rp_nconflicts = 0;
    rp->rp_conflicts = v->o_u ? calloc((size_t)v->o_u, sizeof *rp->rp_conflicts) : NULL;
    if (v->o_u && !rp->rp_conflicts)
        return lyp_fail(&d->d_w, LY_ENOMEM, "conflicts", "out of memory");
    for (uint32_t i = 0; i < (uint32_t)v->o_u; i++) {
        lyp_obj el;
        uint64_t seen = 0;
        if (lyp_head(&d->d_rd, &el) != LYP_HEAD_OK)
            return lyp_trunc(d);
        rp->rp_nconflicts = i + 1;
        ly_err rc = lyp_dec_submap(d, &s_conflict_map, &el, "conflicts", (long)i,
                                   &rp->rp_conflicts[i], &seen, NULL);
        if (rc != LY_OK)
            return rc;
        for (int fid = 0; fid < LYP_COUNT(s_conflict_tab); fid++)
            if (!(seen & LYP_BIT(fid)))
                return lyp_fail(&d->d_w, LY_EPROTO, NULL, "conflicts[%u]: field '%s': missing", i,
                                s_conflict_tab[fid].f_name);
    }
    return LY_OK;
}

/* The rows must point into the events: checked once both are decoded. */
static ly_err s_conflicts_check(lyp_why *w, const ly_rep *rp)
{
    for (uint32_t i = 0; i < rp->rp_nconflicts; i++) {
        const ly_conflict *cf = &rp->rp_conflicts[i];
        if ((uint64_t)cf->cf_first + cf->cf_n > rp->rp_nevents || cf->cf_n > cf->cf_total ||
            cf->cf_counts < cf->cf_first || cf->cf_counts >= cf->cf_first + cf->cf_n)
            return lyp_fail(w, LY_EPROTO, "conflicts", "entry %u points outside its events", i);
    }
    return LY_OK;
}

static ly_err s_conflicts_enc(lyp_enc *e, const ly_rep *rp)
{
    if (rp->rp_nconflicts > LY_CONFLICTS_MAX)
        return lyp_fail(&e->e_w, LY_EINVAL, "conflicts", "more than %d entries", LY_CONFLICTS_MAX);
    if (rp->rp_nconflicts > 0 && rp->rp_conflicts == NULL)
        return lyp_fail(&e->e_w, LY_EINVAL, "conflicts", "no conflict array");
    ly_err rc = s_conflicts_check(&e->e_w, rp);
    if (rc != LY_OK)
        return lyp_fail(&e->e_w, LY_EINVAL, "conflicts", "an entry points outside its events");
    e->e_fail |= msgpack_pack_array(&e->e_pk, rp->rp_nconflicts);
    for (uint32_t i = 0; i < rp->rp_nconflicts; i++) {
        char saved[sizeof e->e_w.w_where];
        lyp_where_push(&e->e_w, saved, "conflicts", (long)i);
        rc = lyp_enc_map(e, &s_conflict_map, &rp->rp_conflicts[i], LYP_ALL(s_conflict_map.m_n));
        lyp_where_pop(&e->e_w, saved);
        if (rc != LY_OK)
            return rc;
    }
    return LY_OK;
}

/* "debts": at most LY_DEBTS_MAX rows into rp->rp_debts (heap, owned by the reply). */
static ly_err s_debts_dec(lyp_dec *d, const lyp_obj *v, ly_rep *rp)
{
    if (v->o_type != LYP_ARRAY)
        return lyp_fail(&d->d_w, LY_EPROTO, "debts", "expected an array, got %s",
                        lyp_otype_names[v->o_type]);
    if (v->o_u > LY_DEBTS_MAX)
        return lyp_fail(&d->d_w, LY_EPROTO, "debts", "more than %d entries", LY_DEBTS_MAX);
    if (v->o_u == 0)
        return LY_OK;
    rp->rp_debts = calloc((size_t)v->o_u, sizeof *rp->rp_debts);
    if (rp->rp_debts == NULL)
        return lyp_fail(&d->d_w, LY_ENOMEM, "debts", "out of memory");
    rp->rp_ndebts = (uint32_t)v->o_u;
    for (uint32_t i = 0; i < rp->rp_ndebts; i++) {
        lyp_obj el;
        uint64_t seen = 0;
        if (lyp_head(&d->d_rd, &el) != LYP_HEAD_OK)
            return lyp_trunc(d);
        ly_err rc =
            lyp_dec_submap(d, &s_debt_map, &el, "debts", (long)i, &rp->rp_debts[i], &seen, NULL);
        if (rc != LY_OK)
            return rc;
        if (!(seen & LYP_BIT(DE_CUSTOMER)))
            return lyp_fail(&d->d_w, LY_EPROTO, NULL, "debts[%u]: field 'customer': missing", i);
    }
    return LY_OK;
}

/* "debts" is always written for a debts reply, an empty array when there are none. */
static ly_err s_debts_enc(lyp_enc *e, const ly_rep *rp)
{
    if (rp->rp_ndebts > LY_DEBTS_MAX)
        return lyp_fail(&e->e_w, LY_EINVAL, "debts", "more than %d entries", LY_DEBTS_MAX);
    if (rp->rp_ndebts > 0 && rp->rp_debts == NULL)
        return lyp_fail(&e->e_w, LY_EINVAL, "debts", "no debt array");
    e->e_fail |= msgpack_pack_array(&e->e_pk, rp->rp_ndebts);
    for (uint32_t i = 0; i < rp->rp_ndebts; i++) {
        char saved[sizeof e->e_w.w_where];
        lyp_where_push(&e->e_w, saved, "debts", (long)i);
        ly_err rc = lyp_enc_map(e, &s_debt_map, &rp->rp_debts[i], LYP_ALL(s_debt_map.m_n));
        lyp_where_pop(&e->e_w, saved);
        if (rc != LY_OK)
            return rc;
    }
    return LY_OK;
}

/* One row of "programs": "version" and "state" required. */
enum { PW_VERSION, PW_STATE };
static const lyp_field s_progrow_tab[] = {
    [PW_VERSION] = LYP_FUR("version", ly_progrow, pw_version, 1, UINT32_MAX),
    [PW_STATE] = LYP_FUR("state", ly_progrow, pw_state, LY_PW_IN_FORCE, LY_PW_LOST),
    LYP_FS("name", ly_progrow, pw_name, LYP_C_TEXT, 0),
    LYP_FI("effective_ms", ly_progrow, pw_effective_ms),
    LYP_FU("hlc", ly_progrow, pw_hlc),
    LYP_FU("origin", ly_progrow, pw_origin),
    LYP_FU("seq", ly_progrow, pw_seq),
    LYP_FU("hash", ly_progrow, pw_hash),
    LYP_FS("operator", ly_progrow, pw_operator, LYP_C_IDE, 1),
    LYP_FS("reason", ly_progrow, pw_reason, LYP_C_TEXT, 1),
};
static const lyp_map s_progrow_map = {s_progrow_tab, LYP_COUNT(s_progrow_tab), NULL, NULL, NULL};

static ly_err s_programs_dec(lyp_dec *d, const lyp_obj *v, ly_rep *rp)
{
    if (v->o_type != LYP_ARRAY)
        return lyp_fail(&d->d_w, LY_EPROTO, "programs", "expected an array, got %s",
                        lyp_otype_names[v->o_type]);
    if (v->o_u > LY_PROGRAMS_MAX)
        return lyp_fail(&d->d_w, LY_EPROTO, "programs", "more than %d entries", LY_PROGRAMS_MAX);
    free(rp->rp_programs); /* a second "programs" key: the last one counts */
    rp->rp_nprograms = 0;
    rp->rp_programs = v->o_u ? calloc((size_t)v->o_u, sizeof *rp->rp_programs) : NULL;
    if (v->o_u && !rp->rp_programs)
        return lyp_fail(&d->d_w, LY_ENOMEM, "programs", "out of memory");
    for (uint32_t i = 0; i < (uint32_t)v->o_u; i++) {
        lyp_obj el;
        uint64_t seen = 0;
        if (lyp_head(&d->d_rd, &el) != LYP_HEAD_OK)
            return lyp_trunc(d);
        rp->rp_nprograms = i + 1;
        ly_err rc = lyp_dec_submap(d, &s_progrow_map, &el, "programs", (long)i, &rp->rp_programs[i],
                                   &seen, NULL);
        if (rc != LY_OK)
            return rc;
        if (!(seen & LYP_BIT(PW_VERSION)) || !(seen & LYP_BIT(PW_STATE)))
            return lyp_fail(&d->d_w, LY_EPROTO, NULL, "programs[%u]: version or state missing", i);
    }
    return LY_OK;
}

static ly_err s_programs_enc(lyp_enc *e, const ly_rep *rp)
{
    if (rp->rp_nprograms > LY_PROGRAMS_MAX)
        return lyp_fail(&e->e_w, LY_EINVAL, "programs", "more than %d entries", LY_PROGRAMS_MAX);
    if (rp->rp_nprograms > 0 && rp->rp_programs == NULL)
        return lyp_fail(&e->e_w, LY_EINVAL, "programs", "no program array");
    e->e_fail |= msgpack_pack_array(&e->e_pk, rp->rp_nprograms);
    for (uint32_t i = 0; i < rp->rp_nprograms; i++) {
        char saved[sizeof e->e_w.w_where];
        const ly_progrow *pw = &rp->rp_programs[i];
        lyp_where_push(&e->e_w, saved, "programs", (long)i);
        ly_err rc = lyp_enc_map(e, &s_progrow_map, pw,
                                lyp_enc_mask(&s_progrow_map, pw, LYP_ALL(s_progrow_map.m_n)));
        lyp_where_pop(&e->e_w, saved);
        if (rc != LY_OK)
            return rc;
    }
    return LY_OK;
}

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
    RP_PEERS,
    RP_EVENTS,
    RP_RIGHTS,
    RP_LOCAL_RIGHTS,
    RP_DEBTS,
    RP_MORE,
    RP_CONFLICTS,
    RP_PROGRAM,
    RP_PROGRAMS,
    RP_BASE_POINTS,
    RP_EARN_TIER,
    RP_TIER_MULT,
    RP_CATEGORY_MULT,
    RP_CAMPAIGN,
    RP_CAMPAIGN_POINTS,
    RP_TIER_UNTIL,
    RP_TO_KEEP,
    RP_BONUS_POINTS,
    RP_TIER_OVERRIDE,
};

static const lyp_field s_rep_tab[] = {
    [RP_V] = LYP_FX("v"),
    [RP_T] = LYP_FX("t"),
    [RP_ID] = LYP_FU("id", ly_rep, rp_id),
    [RP_OK] = LYP_FX("ok"),
    [RP_ERROR] = LYP_FX("error"),
    [RP_CUSTOMER] = LYP_FS("customer", ly_rep, rp_customer, LYP_C_IDE, 0),
    [RP_TXN] = LYP_FS("txn", ly_rep, rp_txn, LYP_C_IDE, 0),
    [RP_POINTS] = LYP_FI("points", ly_rep, rp_points),
    [RP_BALANCE] = LYP_FI("balance", ly_rep, rp_balance),
    [RP_LIFETIME] = LYP_FI("lifetime_points", ly_rep, rp_lifetime),
    [RP_DEBT] = LYP_FI("debt", ly_rep, rp_debt),
    [RP_QUALIFYING] = LYP_FI("qualifying", ly_rep, rp_qualifying),
    [RP_TIER] = LYP_FS("tier", ly_rep, rp_tier, LYP_C_TEXT, 0),
    [RP_NEXT_TIER] = LYP_FS("next_tier", ly_rep, rp_next_tier, LYP_C_TEXT, 1),
    [RP_TO_NEXT] = LYP_FI("to_next_tier", ly_rep, rp_to_next),
    [RP_REPLAYED] = LYP_FB("replayed", ly_rep, rp_replayed),
    [RP_HLC] = LYP_FU("hlc", ly_rep, rp_hlc),
    [RP_ORIGIN] = LYP_FU("origin", ly_rep, rp_origin),
    [RP_SEQ] = LYP_FU("seq", ly_rep, rp_seq),
    [RP_ENROLLED] = LYP_FU("enrolled_hlc", ly_rep, rp_enrolled_hlc),
    [RP_LAST] = LYP_FU("last_hlc", ly_rep, rp_last_hlc),
    [RP_PROFILE] = LYP_FX("profile"),
    [RP_HISTORY] = LYP_FX("history"),
    [RP_NODE] = LYP_FX("node"),
    [RP_PEERS] = LYP_FX("peers"),
    [RP_EVENTS] = LYP_FX("events"),
    [RP_RIGHTS] = LYP_FX("rights"),
    [RP_LOCAL_RIGHTS] = LYP_FI("local_rights", ly_rep, rp_local_rights),
    [RP_DEBTS] = LYP_FX("debts"),
    [RP_MORE] = LYP_FB("more", ly_rep, rp_more),
    [RP_CONFLICTS] = LYP_FX("conflicts"),
    [RP_PROGRAM] = LYP_FU("program", ly_rep, rp_program),
    [RP_PROGRAMS] = LYP_FX("programs"),
    [RP_BASE_POINTS] = LYP_FI("base_points", ly_rep, rp_base_points),
    [RP_EARN_TIER] = LYP_FS("earn_tier", ly_rep, rp_earn_tier, LYP_C_TEXT, 1),
    [RP_TIER_MULT] = LYP_FU("tier_multiplier_milli", ly_rep, rp_tier_mult),
    [RP_CATEGORY_MULT] = LYP_FU("category_multiplier_milli", ly_rep, rp_category_mult),
    [RP_CAMPAIGN] = LYP_FS("campaign", ly_rep, rp_campaign, LYP_C_TEXT, 1),
    [RP_CAMPAIGN_POINTS] = LYP_FI("campaign_points", ly_rep, rp_campaign_points),
    [RP_TIER_UNTIL] = LYP_FS("tier_until", ly_rep, rp_tier_until, LYP_C_DATE, 1),
    [RP_TO_KEEP] = LYP_FI("to_keep_tier", ly_rep, rp_to_keep),
    [RP_BONUS_POINTS] = LYP_FI("bonus_points", ly_rep, rp_bonus_points),
    [RP_TIER_OVERRIDE] = LYP_FS("tier_override", ly_rep, rp_tier_override, LYP_C_TEXT, 1),
};

enum { ER_CODE, ER_MESSAGE, ER_AVAILABLE };
static const lyp_field s_err_tab[] = {
    [ER_CODE] = LYP_FX("code"),
    [ER_MESSAGE] = LYP_FS("message", ly_rep, rp_message, LYP_C_TEXT, 0),
    [ER_AVAILABLE] = LYP_FI("available", ly_rep, rp_available),
};

static ly_err s_err_dec(lyp_dec *d, int fid, const lyp_obj *v, void *base)
{
    ly_rep *rp = base;
    (void)fid;
    char name[32];
    if (v->o_type != LYP_STR)
        return lyp_fail(&d->d_w, LY_EPROTO, "code", "expected a string, got %s",
                        lyp_otype_names[v->o_type]);
    if (v->o_u >= sizeof name || memchr(v->o_ptr, 0, (size_t)v->o_u) != NULL)
        return lyp_fail(&d->d_w, LY_EPROTO, "code", "not an error name");
    memcpy(name, v->o_ptr, (size_t)v->o_u);
    name[v->o_u] = '\0';
    /* An error this side does not know (a newer node) reads as internal_error. */
    ly_err err = ly_err_from_name(name);
    if (err == LY_OK)
        return lyp_fail(&d->d_w, LY_EPROTO, "code", "'ok' is not an error");
    rp->rp_err = (uint8_t)err;
    return LY_OK;
}

static const lyp_map s_err_map = {s_err_tab, LYP_COUNT(s_err_tab), NULL, s_err_dec, NULL};

/* The reply's status, allocated at the first status field decoded. */
static ly_err s_status_of(lyp_dec *d, ly_rep *rp)
{
    if (rp->rp_status == NULL && (rp->rp_status = calloc(1, sizeof *rp->rp_status)) == NULL)
        return lyp_fail(&d->d_w, LY_ENOMEM, "node", "out of memory");
    return LY_OK;
}

static ly_err s_rep_dec(lyp_dec *d, int fid, const lyp_obj *v, void *base)
{
    ly_rep *rp = base;
    ly_err rc;
    switch (fid) {
    case RP_OK:
        if (v->o_type != LYP_BOOL)
            return lyp_fail(&d->d_w, LY_EPROTO, "ok", "expected a boolean, got %s",
                            lyp_otype_names[v->o_type]);
        d->d_ok = (int)v->o_u;
        return LY_OK;
    case RP_ERROR: {
        uint64_t seen = 0;
        if ((rc = lyp_dec_submap(d, &s_err_map, v, "error", -1, rp, &seen, NULL)) != LY_OK)
            return rc;
        if (!(seen & LYP_BIT(ER_CODE)))
            return lyp_fail(&d->d_w, LY_EPROTO, "error.code", "missing");
        if (rp->rp_message[0] == '\0')
            snprintf(rp->rp_message, sizeof rp->rp_message, "%s", ly_strerror(rp->rp_err));
        return LY_OK;
    }
    case RP_PROFILE:
        return lyp_dec_submap(d, &s_prof_map, v, "profile", -1, &rp->rp_profile, NULL,
                              &rp->rp_fields);
    case RP_NODE:
        if ((rc = s_status_of(d, rp)) != LY_OK)
            return rc;
        return lyp_dec_submap(d, &s_node_map, v, "node", -1, rp->rp_status, NULL, NULL);
    case RP_HISTORY:
        if (v->o_type != LYP_ARRAY)
            return lyp_fail(&d->d_w, LY_EPROTO, "history", "expected an array, got %s",
                            lyp_otype_names[v->o_type]);
        if (v->o_u > LY_HIST_MAX)
            return lyp_fail(&d->d_w, LY_EPROTO, "history", "more than %d entries", LY_HIST_MAX);
        rp->rp_nhist = 0;
        free(rp->rp_hist); /* a second "history" key: the last one counts */
        rp->rp_hist = v->o_u ? calloc((size_t)v->o_u, sizeof *rp->rp_hist) : NULL;
        if (v->o_u && !rp->rp_hist)
            return lyp_fail(&d->d_w, LY_ENOMEM, "history", "out of memory");
        for (uint32_t i = 0; i < (uint32_t)v->o_u; i++) {
            lyp_obj el;
            uint64_t seen = 0;
            if (lyp_head(&d->d_rd, &el) != LYP_HEAD_OK)
                return lyp_trunc(d);
            rp->rp_nhist = i + 1;
            rc = lyp_dec_submap(d, &s_hist_map, &el, "history", (long)i, &rp->rp_hist[i], &seen,
                                NULL);
            if (rc != LY_OK)
                return rc;
            if (!(seen & LYP_BIT(HI_TYPE)))
                return lyp_fail(&d->d_w, LY_EPROTO, "history.type", "missing");
        }
        return LY_OK;
    case RP_PEERS:
        if ((rc = s_status_of(d, rp)) != LY_OK)
            return rc;
        return s_peers_dec(d, v, rp->rp_status);
    case RP_EVENTS:
        return lyp_events_dec(d, v, "events", LY_EVENTS_MAX, &rp->rp_events, &rp->rp_nevents);
    case RP_RIGHTS:
        return s_rights_dec(d, v, rp);
    case RP_DEBTS:
        return s_debts_dec(d, v, rp);
    case RP_CONFLICTS:
        return s_conflicts_dec(d, v, rp);
    case RP_PROGRAMS:
        return s_programs_dec(d, v, rp);
    default: /* "v" and "t": read by lyp_dec_vt */
        return LY_OK;
    }
}

static ly_err s_rep_enc(lyp_enc *e, int fid, const void *base)
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
        lyp_pack_str(e, name, strlen(name));
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
        lyp_sanitize(clean, msg);
        if (clean[0] == '\0')
            snprintf(clean, sizeof clean, "%s", ly_strerror((ly_err)rp->rp_err));
        int avail = rp->rp_err == LY_EINSUFFICIENT || rp->rp_err == LY_EINSUFFICIENT_LOCAL ||
                    rp->rp_available != 0;
        const char *code = ly_errname((ly_err)rp->rp_err);
        e->e_fail |= msgpack_pack_map(&e->e_pk, avail ? 3 : 2);
        lyp_pack_key(e, "code");
        lyp_pack_str(e, code, strlen(code));
        lyp_pack_key(e, "message");
        lyp_pack_str(e, clean, strlen(clean));
        if (avail) {
            lyp_pack_key(e, "available");
            e->e_fail |= msgpack_pack_int64(&e->e_pk, rp->rp_available);
        }
        return LY_OK;
    }
    case RP_PROFILE: {
        if (rp->rp_fields & ~(uint32_t)LY_PF_ALL)
            return lyp_fail(&e->e_w, LY_EINVAL, "fields", "unknown profile field bits 0x%x",
                            (unsigned)rp->rp_fields);
        uint64_t mask = 0;
        for (int i = 0; i < LYP_COUNT(s_prof_tab); i++)
            if (rp->rp_fields & s_prof_tab[i].f_bit)
                mask |= LYP_BIT(i);
        lyp_where_push(&e->e_w, saved, "profile", -1);
        rc = lyp_enc_map(e, &s_prof_map, &rp->rp_profile, mask);
        lyp_where_pop(&e->e_w, saved);
        return rc;
    }
    case RP_HISTORY:
        if (rp->rp_nhist > LY_HIST_MAX)
            return lyp_fail(&e->e_w, LY_EINVAL, "history", "more than %d entries", LY_HIST_MAX);
        if (rp->rp_nhist > 0 && rp->rp_hist == NULL)
            return lyp_fail(&e->e_w, LY_EINVAL, "history", "%u entries but no rows",
                            (unsigned)rp->rp_nhist);
        e->e_fail |= msgpack_pack_array(&e->e_pk, rp->rp_nhist);
        for (uint32_t i = 0; i < rp->rp_nhist; i++) {
            const ly_hist *hi = &rp->rp_hist[i];
            lyp_where_push(&e->e_w, saved, "history", (long)i);
            rc = lyp_enc_map(e, &s_hist_map, hi,
                             lyp_enc_mask(&s_hist_map, hi, LYP_ALL(LYP_COUNT(s_hist_tab))));
            lyp_where_pop(&e->e_w, saved);
            if (rc != LY_OK)
                return rc;
        }
        return LY_OK;
    case RP_NODE:
        if (rp->rp_status == NULL)
            return lyp_fail(&e->e_w, LY_EINVAL, "node", "a status reply without a status");
        lyp_where_push(&e->e_w, saved, "node", -1);
        rc = lyp_enc_map(e, &s_node_map, rp->rp_status, LYP_ALL(LYP_COUNT(s_node_tab)));
        lyp_where_pop(&e->e_w, saved);
        return rc;
    case RP_PEERS:
        return s_peers_enc(e, rp->rp_status); /* after RP_NODE, which checked it */
    case RP_EVENTS:
        return lyp_events_enc(e, "events", rp->rp_events, rp->rp_nevents, LY_EVENTS_MAX);
    case RP_RIGHTS:
        return s_rights_enc(e, rp);
    case RP_DEBTS:
        return s_debts_enc(e, rp);
    case RP_CONFLICTS:
        return s_conflicts_enc(e, rp);
    case RP_PROGRAMS:
        return s_programs_enc(e, rp);
    default:
        return lyp_fail(&e->e_w, LY_EINTERNAL, NULL, "no encoder for field %d", fid);
    }
}

static const lyp_map s_rep_map = {s_rep_tab, LYP_COUNT(s_rep_tab), NULL, s_rep_dec, s_rep_enc};

ly_err ly_rep_encode(const ly_rep *rp, uint8_t **out, size_t *len)
{
    if (rp == NULL || out == NULL || len == NULL)
        return LY_EINVAL;
    int type = rp->rp_type;
    if (type != 0 && ly_msgtype_name(type) == NULL)
        return LY_EINVAL;
    if (rp->rp_err >= LY_ERR_COUNT)
        return LY_EINVAL;
    uint64_t mask = LYP_BIT(RP_V) | LYP_BIT(RP_ID) | LYP_BIT(RP_OK);
    if (type != 0)
        mask |= LYP_BIT(RP_T);
    if (rp->rp_err != LY_OK) {
        mask |= LYP_BIT(RP_ERROR);
    } else if (type == LY_MSG_STATUS) {
        mask |= LYP_BIT(RP_NODE) | LYP_BIT(RP_PEERS);
    } else if (type == LY_MSG_EVENTS) {
        mask |= LYP_BIT(RP_EVENTS);
    } else if (type == LY_MSG_DEBTS) {
        mask |= LYP_BIT(RP_DEBTS) | LYP_BIT(RP_MORE);
    } else if (type == LY_MSG_CONFLICTS) {
        mask |= LYP_BIT(RP_CONFLICTS) | LYP_BIT(RP_EVENTS) | LYP_BIT(RP_MORE);
    } else if (type == LY_MSG_PROGRAM) {
        mask |= LYP_BIT(RP_PROGRAM) | LYP_BIT(RP_PROGRAMS) | LYP_BIT(RP_EVENTS);
    } else if (type == LY_MSG_PROGRAM_APPLY) {
        mask |= LYP_BIT(RP_PROGRAM) | LYP_BIT(RP_PROGRAMS) | LYP_BIT(RP_REPLAYED);
    } else if (type != 0) {
        mask |= LYP_BIT(RP_CUSTOMER) | LYP_BIT(RP_POINTS) | LYP_BIT(RP_BALANCE) |
                LYP_BIT(RP_LIFETIME) | LYP_BIT(RP_DEBT) | LYP_BIT(RP_QUALIFYING) |
                LYP_BIT(RP_TIER) | LYP_BIT(RP_NEXT_TIER) | LYP_BIT(RP_TO_NEXT) |
                LYP_BIT(RP_TIER_UNTIL) | LYP_BIT(RP_TO_KEEP) | LYP_BIT(RP_TIER_OVERRIDE) |
                LYP_BIT(RP_REPLAYED) | LYP_BIT(RP_HLC) | LYP_BIT(RP_ORIGIN) | LYP_BIT(RP_SEQ) |
                LYP_BIT(RP_RIGHTS) | LYP_BIT(RP_LOCAL_RIGHTS);
        if (ly_msgtype_is_mutation(type))
            mask |= LYP_BIT(RP_TXN);
        if (type == LY_MSG_EARN)
            mask |= LYP_BIT(RP_BASE_POINTS) | LYP_BIT(RP_EARN_TIER) | LYP_BIT(RP_TIER_MULT) |
                    LYP_BIT(RP_CATEGORY_MULT) | LYP_BIT(RP_CAMPAIGN) | LYP_BIT(RP_CAMPAIGN_POINTS) |
                    LYP_BIT(RP_BONUS_POINTS);
        if (type == LY_MSG_CUSTOMER)
            mask |=
                LYP_BIT(RP_ENROLLED) | LYP_BIT(RP_LAST) | LYP_BIT(RP_PROFILE) | LYP_BIT(RP_HISTORY);
        mask = lyp_enc_mask(&s_rep_map, rp, mask);
    } else {
        return LY_EINVAL; /* a success must say what it answers */
    }
    lyp_enc e;
    lyp_enc_init(&e, &s_rep_proto, type, NULL, 0);
    ly_err rc = lyp_enc_map(&e, &s_rep_map, rp, mask);
    return lyp_enc_finish(&e, rc, out, len);
}

ly_err ly_rep_decode(const uint8_t *buf, size_t len, ly_rep *rp, char *why, size_t why_len)
{
    lyp_dec d;
    uint64_t n;
    ly_rep_reset(rp);
    ly_err rc = lyp_dec_start(&d, &s_rep_proto, buf, len, why, why_len, &n);
    int type = 0;
    if (rc == LY_OK)
        rc = lyp_dec_vt(&d, n, 0, &type);
    uint64_t seen = 0;
    if (rc == LY_OK) {
        rp->rp_type = (uint8_t)type;
        rc = lyp_dec_map(&d, &s_rep_map, n, rp, UINT64_MAX, &seen, NULL);
    }
    if (rc == LY_OK && !(seen & LYP_BIT(RP_ID)))
        rc = lyp_fail(&d.d_w, LY_EPROTO, "id", "missing");
    if (rc == LY_OK && !(seen & LYP_BIT(RP_OK)))
        rc = lyp_fail(&d.d_w, LY_EPROTO, "ok", "missing");
    if (rc == LY_OK && d.d_ok && (seen & LYP_BIT(RP_ERROR)))
        rc = lyp_fail(&d.d_w, LY_EPROTO, "error", "present in a successful reply");
    if (rc == LY_OK && !d.d_ok && !(seen & LYP_BIT(RP_ERROR)))
        rc = lyp_fail(&d.d_w, LY_EPROTO, "error", "missing in a failed reply");
    if (rc == LY_OK && d.d_ok && type == LY_MSG_STATUS && !(seen & LYP_BIT(RP_NODE)))
        rc = lyp_fail(&d.d_w, LY_EPROTO, "node", "missing in a status reply");
    if (rc == LY_OK && d.d_ok && type == LY_MSG_CONFLICTS)
        rc = s_conflicts_check(&d.d_w, rp);
    /* A reply is not checked against a request: any value it should not hold
     * makes it undecodable, not an invalid argument. */
    if (rc == LY_EINVAL)
        rc = LY_EPROTO;
    return rc;
}
