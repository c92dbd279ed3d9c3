/* peer.c -- msgpack encoding and decoding of peer messages (see peer.h).
 *
 * Built on the shared machinery of mpack.h: the same pre-scan, reader and
 * table-driven maps as the client codec, and the same event map as the client
 * protocol's events reply. Every key is strict: unknown keys are refused, and
 * each message type requires exactly the keys s_pm_keys lists. */
#include "proto/peer.h"

#include <stdlib.h>
#include <string.h>

#include "proto/mpack.h"

/* Wire names, indexed by ly_pmsgtype; other nodes depend on them. */
static const char *const s_names[LY_PM_TYPE_MAX + 1] = {
    [LY_PM_HELLO] = "hello",           [LY_PM_WELCOME] = "welcome",
    [LY_PM_REFUSED] = "refused",       [LY_PM_HELLO_REQUIRED] = "hello-required",
    [LY_PM_HEARTBEAT] = "heartbeat",   [LY_PM_EVENTS] = "events",
    [LY_PM_SYNC_REQ] = "sync-req",     [LY_PM_SYNC_REP] = "sync-rep",
    [LY_PM_RIGHTS_REQ] = "rights-req",
};

const char *ly_pmsgtype_name(int type)
{
    if (type < 1 || type > LY_PM_TYPE_MAX)
        return NULL;
    return s_names[type];
}

static int s_type_from_name(const char *name)
{
    for (int t = 1; t <= LY_PM_TYPE_MAX; t++)
        if (strcmp(s_names[t], name) == 0)
            return t;
    return 0;
}

static const lyp_proto s_proto = {LY_PEER_FRAME_MAX, LY_PEER_PROTO, 1, ly_pmsgtype_name,
                                  s_type_from_name};

void ly_pmsg_init(ly_pmsg *m, int type)
{
    memset(m, 0, sizeof *m);
    m->pm_type = (uint8_t)type;
}

/* Accepts NULL. Leaves the message without events, so a second fini is harmless. */
void ly_pmsg_fini(ly_pmsg *m)
{
    if (m == NULL)
        return;
    free(m->pm_events);
    m->pm_events = NULL;
    m->pm_nevents = 0;
}

/* ------------------------------------------------------------------------ */
/* Tables                                                                    */

/* A version vector entry: every key required. */
static const lyp_field s_vv_tab[] = {
    LYP_FUR("origin", ly_vv_entry, vv_origin, 1, UINT16_MAX),
    LYP_FU("incarnation", ly_vv_entry, vv_incarnation),
    LYP_FU("seq", ly_vv_entry, vv_seq),
};
static const lyp_map s_vv_map = {s_vv_tab, LYP_COUNT(s_vv_tab), NULL, NULL, NULL};

enum {
    PM_V,
    PM_T,
    PM_NODE,
    PM_INCARNATION,
    PM_NAME,
    PM_PROGRAM,
    PM_PROTO,
    PM_CLIENT,
    PM_REASON,
    PM_HLC,
    PM_DIGEST,
    PM_EVENTS,
    PM_VV,
    PM_ORIGIN,
    PM_PREV,
    PM_MAX,
    PM_MORE,
    PM_EVS,
    PM_CUSTOMER,
    PM_POINTS,
    PM_PROGRAM_HASH,
};

static const lyp_field s_pm_tab[] = {
    [PM_V] = LYP_FX("v"),
    [PM_T] = LYP_FX("t"),
    [PM_NODE] = LYP_FUR("node", ly_pmsg, pm_node, 1, UINT16_MAX),
    [PM_INCARNATION] = LYP_FU("incarnation", ly_pmsg, pm_incarnation),
    [PM_NAME] = LYP_FS("name", ly_pmsg, pm_name, LYP_C_NAME, 0),
    [PM_PROGRAM] = LYP_FU("program", ly_pmsg, pm_program),
    [PM_PROTO] = LYP_FU("proto", ly_pmsg, pm_proto),
    [PM_CLIENT] = LYP_FS("client", ly_pmsg, pm_client, LYP_C_EP, 0),
    [PM_REASON] = LYP_FS("reason", ly_pmsg, pm_reason, LYP_C_TEXTNE, 0),
    [PM_HLC] = LYP_FU("hlc", ly_pmsg, pm_hlc),
    [PM_DIGEST] = LYP_FU("digest", ly_pmsg, pm_digest),
    [PM_EVENTS] = LYP_FU("events", ly_pmsg, pm_events_total),
    [PM_VV] = LYP_FX("vv"),
    [PM_ORIGIN] = LYP_FUR("origin", ly_pmsg, pm_origin, 1, UINT16_MAX),
    [PM_PREV] = LYP_FU("prev", ly_pmsg, pm_prev),
    [PM_MAX] = LYP_FUR("max", ly_pmsg, pm_max, 1, LY_PEER_EVENTS_MAX),
    [PM_MORE] = LYP_FB("more", ly_pmsg, pm_more),
    [PM_EVS] = LYP_FX("evs"),
    [PM_CUSTOMER] = LYP_FS("customer", ly_pmsg, pm_customer, LYP_C_ID, 0),
    [PM_POINTS] = LYP_FIR("points", ly_pmsg, pm_points, 1, LY_AMOUNT_MAX),
    [PM_PROGRAM_HASH] = LYP_FU("program_hash", ly_pmsg, pm_program_hash),
};

#define PM_BASE (LYP_BIT(PM_V) | LYP_BIT(PM_T) | LYP_BIT(PM_NODE))

/* The keys of each message type: all required, no others allowed. */
static const uint64_t s_pm_keys[LY_PM_TYPE_MAX + 1] = {
    [LY_PM_HELLO] = PM_BASE | LYP_BIT(PM_INCARNATION) | LYP_BIT(PM_NAME) | LYP_BIT(PM_PROGRAM) |
                    LYP_BIT(PM_PROGRAM_HASH) | LYP_BIT(PM_PROTO) | LYP_BIT(PM_CLIENT),
    [LY_PM_WELCOME] = PM_BASE | LYP_BIT(PM_INCARNATION) | LYP_BIT(PM_NAME) | LYP_BIT(PM_PROGRAM) |
                      LYP_BIT(PM_PROGRAM_HASH) | LYP_BIT(PM_CLIENT),
    [LY_PM_REFUSED] = PM_BASE | LYP_BIT(PM_REASON),
    [LY_PM_HELLO_REQUIRED] = PM_BASE,
    [LY_PM_HEARTBEAT] = PM_BASE | LYP_BIT(PM_HLC) | LYP_BIT(PM_DIGEST) | LYP_BIT(PM_EVENTS) |
                        LYP_BIT(PM_VV) | LYP_BIT(PM_PROGRAM) | LYP_BIT(PM_PROGRAM_HASH),
    [LY_PM_EVENTS] =
        PM_BASE | LYP_BIT(PM_ORIGIN) | LYP_BIT(PM_INCARNATION) | LYP_BIT(PM_PREV) | LYP_BIT(PM_EVS),
    [LY_PM_SYNC_REQ] = PM_BASE | LYP_BIT(PM_VV) | LYP_BIT(PM_MAX),
    [LY_PM_SYNC_REP] = PM_BASE | LYP_BIT(PM_EVS) | LYP_BIT(PM_MORE),
    [LY_PM_RIGHTS_REQ] = PM_BASE | LYP_BIT(PM_CUSTOMER) | LYP_BIT(PM_POINTS),
};

/* ------------------------------------------------------------------------ */
/* Special fields: "v", "t", "vv", "evs"                                     */

static ly_err s_vv_dec(lyp_dec *d, const lyp_obj *v, ly_pmsg *m)
{
    if (v->o_type != LYP_ARRAY)
        return lyp_fail(&d->d_w, LY_EPROTO, "vv", "expected an array, got %s",
                        lyp_otype_names[v->o_type]);
    if (v->o_u > LY_PEER_VV_MAX)
        return lyp_fail(&d->d_w, LY_EPROTO, "vv", "more than %d entries", LY_PEER_VV_MAX);
    m->pm_nvv = (uint32_t)v->o_u;
    for (uint32_t i = 0; i < m->pm_nvv; i++) {
        lyp_obj el;
        uint64_t seen = 0;
        if (lyp_head(&d->d_rd, &el) != LYP_HEAD_OK)
            return lyp_trunc(d);
        ly_err rc = lyp_dec_submap(d, &s_vv_map, &el, "vv", (long)i, &m->pm_vv[i], &seen, NULL);
        if (rc != LY_OK)
            return rc;
        for (int fid = 0; fid < LYP_COUNT(s_vv_tab); fid++)
            if (!(seen & LYP_BIT(fid)))
                return lyp_fail(&d->d_w, LY_EPROTO, NULL, "vv[%u]: field '%s': missing", i,
                                s_vv_tab[fid].f_name);
    }
    return LY_OK;
}

static ly_err s_pm_dec(lyp_dec *d, int fid, const lyp_obj *v, void *base)
{
    ly_pmsg *m = base;
    switch (fid) {
    case PM_VV:
        return s_vv_dec(d, v, m);
    case PM_EVS:
        return lyp_events_dec(d, v, "evs", LY_PEER_EVENTS_MAX, &m->pm_events, &m->pm_nevents);
    default: /* "v" and "t": read by lyp_dec_vt */
        return LY_OK;
    }
}

static ly_err s_pm_enc(lyp_enc *e, int fid, const void *base)
{
    const ly_pmsg *m = base;
    switch (fid) {
    case PM_V:
        e->e_fail |= msgpack_pack_uint64(&e->e_pk, LY_PEER_PROTO);
        return LY_OK;
    case PM_T: {
        const char *name = ly_pmsgtype_name(m->pm_type);
        lyp_pack_str(e, name, strlen(name));
        return LY_OK;
    }
    case PM_VV:
        e->e_fail |= msgpack_pack_array(&e->e_pk, m->pm_nvv);
        for (uint32_t i = 0; i < m->pm_nvv; i++) {
            char saved[sizeof e->e_w.w_where];
            lyp_where_push(&e->e_w, saved, "vv", (long)i);
            ly_err rc = lyp_enc_map(e, &s_vv_map, &m->pm_vv[i], LYP_ALL(LYP_COUNT(s_vv_tab)));
            lyp_where_pop(&e->e_w, saved);
            if (rc != LY_OK)
                return rc;
        }
        return LY_OK;
    case PM_EVS:
        return lyp_events_enc(e, "evs", m->pm_events, m->pm_nevents, LY_PEER_EVENTS_MAX);
    default:
        return lyp_fail(&e->e_w, LY_EINTERNAL, NULL, "no encoder for field %d", fid);
    }
}

static const lyp_map s_pm_map = {s_pm_tab, LYP_COUNT(s_pm_tab), NULL, s_pm_dec, s_pm_enc};

/* ------------------------------------------------------------------------ */
/* What the tables cannot say                                                */

/* Checks across fields, for a message whose keys are `keys`: no version vector
 * entry twice; an events message holds the events of its origin and
 * incarnation with seqs prev+1, prev+2...; a sync-rep holds each origin's
 * events in seq order. The decoder has checked the counts and every event
 * already; the encoder checks the counts here (before reading the arrays) and
 * each event as it writes it. */
static ly_err s_pm_check(lyp_why *w, const ly_pmsg *m, uint64_t keys)
{
    if (keys & LYP_BIT(PM_VV)) {
        if (m->pm_nvv > LY_PEER_VV_MAX)
            return lyp_fail(w, LY_EINVAL, "vv", "more than %d entries", LY_PEER_VV_MAX);
        for (uint32_t i = 1; i < m->pm_nvv; i++)
            for (uint32_t j = 0; j < i; j++)
                if (m->pm_vv[i].vv_origin == m->pm_vv[j].vv_origin &&
                    m->pm_vv[i].vv_incarnation == m->pm_vv[j].vv_incarnation)
                    return lyp_fail(w, LY_EINVAL, "vv",
                                    "origin %u incarnation %u listed twice (entries %u and %u)",
                                    (unsigned)m->pm_vv[i].vv_origin,
                                    (unsigned)m->pm_vv[i].vv_incarnation, j, i);
    }
    if (!(keys & LYP_BIT(PM_EVS)))
        return LY_OK;
    if (m->pm_nevents > LY_PEER_EVENTS_MAX)
        return lyp_fail(w, LY_EINVAL, "evs", "more than %d entries", LY_PEER_EVENTS_MAX);
    if (m->pm_nevents > 0 && m->pm_events == NULL)
        return lyp_fail(w, LY_EINVAL, "evs", "no event array");
    if (m->pm_type == LY_PM_EVENTS) {
        for (uint32_t i = 0; i < m->pm_nevents; i++) {
            const ly_event *ev = &m->pm_events[i];
            if (ev->ev_origin != m->pm_origin || ev->ev_incarnation != m->pm_incarnation)
                return lyp_fail(w, LY_EINVAL, NULL,
                                "evs[%u]: event of origin %u incarnation %u in a message of "
                                "origin %u incarnation %u",
                                i, (unsigned)ev->ev_origin, (unsigned)ev->ev_incarnation,
                                (unsigned)m->pm_origin, (unsigned)m->pm_incarnation);
            uint64_t want = m->pm_prev + 1 + i; /* wraps: seq 0 is invalid anyway */
            if (ev->ev_seq != want)
                return lyp_fail(w, LY_EINVAL, NULL, "evs[%u]: seq %llu where %llu was expected", i,
                                (unsigned long long)ev->ev_seq, (unsigned long long)want);
        }
        return LY_OK;
    }
    /* sync-rep: the latest earlier event of the same origin and incarnation
     * must have a smaller seq. At most LY_PEER_EVENTS_MAX^2 / 2 comparisons. */
    for (uint32_t i = 1; i < m->pm_nevents; i++) {
        const ly_event *ev = &m->pm_events[i];
        for (uint32_t j = i; j-- > 0;) {
            const ly_event *pv = &m->pm_events[j];
            if (pv->ev_origin != ev->ev_origin || pv->ev_incarnation != ev->ev_incarnation)
                continue;
            if (ev->ev_seq <= pv->ev_seq)
                return lyp_fail(w, LY_EINVAL, NULL,
                                "evs[%u]: seq %llu of origin %u after seq %llu (evs[%u]): "
                                "not in seq order",
                                i, (unsigned long long)ev->ev_seq, (unsigned)ev->ev_origin,
                                (unsigned long long)pv->ev_seq, j);
            break;
        }
    }
    return LY_OK;
}

/* ------------------------------------------------------------------------ */
/* Encoding and decoding                                                     */

ly_err ly_pmsg_encode(const ly_pmsg *m, uint8_t **out, size_t *len)
{
    if (m == NULL || out == NULL || len == NULL || ly_pmsgtype_name(m->pm_type) == NULL)
        return LY_EINVAL;
    uint64_t keys = s_pm_keys[m->pm_type];
    lyp_enc e;
    lyp_enc_init(&e, &s_proto, m->pm_type, NULL, 0);
    ly_err rc = s_pm_check(&e.e_w, m, keys);
    if (rc == LY_OK)
        rc = lyp_enc_map(&e, &s_pm_map, m, keys);
    return lyp_enc_finish(&e, rc, out, len);
}

ly_err ly_pmsg_decode(const uint8_t *buf, size_t len, ly_pmsg *m, char *why, size_t why_len)
{
    lyp_dec d;
    uint64_t n;
    ly_pmsg_init(m, 0);
    ly_err rc = lyp_dec_start(&d, &s_proto, buf, len, why, why_len, &n);
    if (rc != LY_OK)
        return rc;
    int type;
    if ((rc = lyp_dec_vt(&d, n, 1, &type)) != LY_OK)
        return rc;
    m->pm_type = (uint8_t)type;
    d.d_type = type;
    uint64_t keys = s_pm_keys[type];
    uint64_t seen = 0;
    if ((rc = lyp_dec_map(&d, &s_pm_map, n, m, keys, &seen, NULL)) != LY_OK)
        return rc;
    for (int fid = 0; fid < LYP_COUNT(s_pm_tab); fid++)
        if ((keys & LYP_BIT(fid)) && !(seen & LYP_BIT(fid)))
            return lyp_fail(&d.d_w, LY_EPROTO, s_pm_tab[fid].f_name, "missing");
    return s_pm_check(&d.d_w, m, keys);
}
