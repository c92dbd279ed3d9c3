#include "node/repl.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "node/metrics.h"

typedef struct s_peer {
    const ly_peer_conf *p_conf;
    /* Our DEALER to the peer: its hello state and our requests. */
    int p_welcomed;
    int p_refused;       /* its last answer to our hello was a refusal */
    int p_hello_tries;   /* hellos since the last welcome: the retry backs off */
    uint64_t p_hello_ms; /* when we last said hello */
    int p_sync_inflight; /* catch-up requests sent whose replies have not come yet */
    uint64_t p_sync_ms;
    int p_need_sync;   /* ask it for a catch-up at the next chance */
    int p_uncommitted; /* events from it were applied in the current batch */
    /* Its DEALER's session on our ROUTER: what it told us. */
    int p_session;
    uint8_t p_ident[256];
    size_t p_ident_len;
    uint32_t p_incarnation;
    char p_client[256];
    uint64_t p_last_heard_ms; /* 0: never */
    int p_have_hb;
    uint64_t p_hlc, p_digest, p_events;
    uint32_t p_program; /* the program in force there, as it last said, and its hash */
    uint64_t p_program_hash;
    uint32_t p_nvv;
    ly_vv_entry p_vv[LY_PEER_VV_MAX];
    /* In the registry, labelled peer="<id>". */
    ly_metric *p_sent, *p_received, *p_dropped, *p_duplicates, *p_gaps;
    uint64_t p_clamp_logged_ms;
} s_peer;

/* Replication lag: wall time at the local commit minus the event's HLC at the
 * origin, for every event applied from a peer's live batches (not catch-up),
 * in ms; a cumulative histogram in the registry (the last finite bucket, 10 s,
 * stands for everything slower in the log line). */
#define S_LAG_PENDING   8192
#define S_LAG_REPORT_MS 10000

static const uint64_t s_lag_bounds[] = {0,    1,    2,    3,    5,    7,    10,   15,  20,
                                        30,   50,   70,   100,  150,  200,  300,  500, 700,
                                        1000, 1500, 2000, 3000, 5000, 7000, 10000};

struct ly_repl {
    const ly_config *r_cf;
    ly_store *r_store;
    ly_hlc *r_hlc;
    ly_service *r_svc;
    ly_repl_io r_io;
    ly_metric *r_transfers_in, *r_transfers_out, *r_rights_asked;
    int r_npeers;
    s_peer *r_peers;
    uint64_t r_now;
    uint64_t r_hb_ms;
    /* This node's committed view, refreshed after each batch. */
    uint32_t r_nvv;
    ly_vv_entry r_vv[LY_PEER_VV_MAX];
    uint64_t r_digest, r_events;
    ly_event *r_evbuf;                     /* LY_PEER_EVENTS_MAX events for sync replies */
    uint64_t r_pending_hlc[S_LAG_PENDING]; /* applied in this batch, not yet committed */
    uint32_t r_npending;
    ly_metric *r_lag;        /* cumulative */
    ly_metric_snap r_lag_at; /* r_lag at the last `repl.lag` line */
    uint64_t r_lag_report_ms;
    ly_pmsg *r_out; /* scratch outgoing message */
};

static void s_refresh_view(ly_repl *r)
{
    ly_txn *t;
    ly_store_stats st;
    size_t n = 0;
    if (ly_store_begin(r->r_store, 0, &t) != LY_OK)
        return;
    if (ly_store_stats_get(t, &st) == LY_OK &&
        ly_store_vv(t, r->r_vv, LY_PEER_VV_MAX, &n) == LY_OK) {
        r->r_nvv = (uint32_t)(n > LY_PEER_VV_MAX ? LY_PEER_VV_MAX : n);
        r->r_digest = st.st_digest;
        r->r_events = st.st_events;
    }
    ly_store_abort(&t);
}

#define S_COUNTER(type, field, name, help, unit)                                                   \
    {                                                                                              \
        offsetof(type, field), name, help, unit                                                    \
    }
static const ly_metric_def s_peer_counters[] = {
    S_COUNTER(s_peer, p_sent, "loyal_peer_events_sent_total",
              "events sent to the peer (live and catch-up)", "events"),
    S_COUNTER(s_peer, p_received, "loyal_peer_events_received_total",
              "events from the peer applied here", "events"),
    S_COUNTER(s_peer, p_dropped, "loyal_peer_messages_dropped_total",
              "messages to the peer dropped because they could not go at once", "messages"),
    S_COUNTER(s_peer, p_duplicates, "loyal_peer_duplicates_total",
              "events from the peer already held", "events"),
    S_COUNTER(s_peer, p_gaps, "loyal_peer_gaps_total",
              "events from the peer that did not follow (caught up later)", "events"),
};

static const ly_metric_def s_repl_counters[] = {
    S_COUNTER(ly_repl, r_transfers_in, "loyal_transfers_received_total",
              "rights transfers to this node applied", ""),
    S_COUNTER(ly_repl, r_transfers_out, "loyal_transfers_sent_total",
              "rights transfers this node gave", ""),
    S_COUNTER(ly_repl, r_rights_asked, "loyal_rights_asked_total", "rights requests sent to peers",
              "requests"),
};

/* Register r's metrics, those of each peer labelled peer="<id>". 0 or -1. */
static int s_open_metrics(ly_repl *r, ly_metrics *reg)
{
    if (ly_metrics_counters(reg, s_repl_counters,
                            sizeof s_repl_counters / sizeof s_repl_counters[0], r, NULL) != 0)
        return -1;
    r->r_lag = ly_metrics_histogram(reg, "loyal_repl_lag_ms",
                                    "live events: wall time at the local commit minus the "
                                    "origin's HLC",
                                    "ms", NULL, s_lag_bounds,
                                    sizeof s_lag_bounds / sizeof s_lag_bounds[0]);
    if (!r->r_lag)
        return -1;
    for (int i = 0; i < r->r_npeers; i++) {
        char lb[32];
        snprintf(lb, sizeof lb, "peer=\"%u\"", r->r_peers[i].p_conf->pc_id);
        if (ly_metrics_counters(reg, s_peer_counters,
                                sizeof s_peer_counters / sizeof s_peer_counters[0], &r->r_peers[i],
                                lb) != 0)
            return -1;
    }
    return 0;
}

ly_repl *ly_repl_new(const ly_config *cf, ly_store *store, ly_hlc *hlc, ly_service *svc,
                     const ly_repl_io *io, ly_metrics *reg)
{
    ly_repl *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->r_cf = cf;
    r->r_store = store;
    r->r_hlc = hlc;
    r->r_svc = svc;
    r->r_io = *io;
    r->r_npeers = cf->cf_npeers;
    r->r_peers = calloc((size_t)(cf->cf_npeers ? cf->cf_npeers : 1), sizeof *r->r_peers);
    r->r_evbuf = malloc(LY_PEER_EVENTS_MAX * sizeof *r->r_evbuf);
    r->r_out = malloc(sizeof *r->r_out);
    if (!r->r_peers || !r->r_evbuf || !r->r_out) {
        ly_repl_destroy(&r);
        return NULL;
    }
    for (int i = 0; i < r->r_npeers; i++)
        r->r_peers[i].p_conf = &cf->cf_peers[i];
    if (s_open_metrics(r, reg) != 0) {
        ly_repl_destroy(&r);
        return NULL;
    }
    s_refresh_view(r);
    return r;
}

void ly_repl_destroy(ly_repl **rp)
{
    if (!rp || !*rp)
        return;
    free((*rp)->r_peers);
    free((*rp)->r_evbuf);
    free((*rp)->r_out);
    free(*rp);
    *rp = NULL;
}

int ly_repl_needs_txn(const ly_pmsg *m)
{
    return m->pm_type == LY_PM_EVENTS || m->pm_type == LY_PM_SYNC_REP ||
           m->pm_type == LY_PM_RIGHTS_REQ;
}

uint64_t ly_repl_transfers_in(const ly_repl *r)
{
    return r->r_transfers_in->mt_value;
}

/* ---- sending ---- */

static ly_pmsg *s_msg(ly_repl *r, int type)
{
    ly_pmsg_init(r->r_out, type);
    r->r_out->pm_node = r->r_cf->cf_node_id;
    return r->r_out;
}

static int s_encode(ly_repl *r, const ly_pmsg *m, uint8_t **buf, size_t *len)
{
    ly_err e = ly_pmsg_encode(m, buf, len);
    if (e != LY_OK) {
        LY_LOG(LY_ERROR, "peer.encode_failed", "type=%s error=%s", ly_pmsgtype_name(m->pm_type),
               ly_errname(e));
        return -1;
    }
    (void)r;
    return 0;
}

static int s_to_dealer(ly_repl *r, int pi, const ly_pmsg *m)
{
    uint8_t *buf;
    size_t len;
    if (s_encode(r, m, &buf, &len) != 0)
        return -1;
    int rc = r->r_io.io_send_dealer(r->r_io.io_ctx, pi, buf, len);
    free(buf);
    if (rc != 0)
        ly_metric_inc(r->r_peers[pi].p_dropped);
    return rc;
}

static int s_to_router(ly_repl *r, const uint8_t *ident, size_t ident_len, const ly_pmsg *m)
{
    uint8_t *buf;
    size_t len;
    if (s_encode(r, m, &buf, &len) != 0)
        return -1;
    int rc = r->r_io.io_send_router(r->r_io.io_ctx, ident, ident_len, buf, len);
    free(buf);
    return rc;
}

static void s_fill_vv(ly_repl *r, ly_pmsg *m)
{
    m->pm_nvv = r->r_nvv;
    memcpy(m->pm_vv, r->r_vv, r->r_nvv * sizeof *r->r_vv);
}

/* What a peer says of its program (hello, welcome, heartbeat): shown in the
 * peer table; a difference is logged when it appears (it lasts until the
 * program events reach both; verify reports it). */
static void s_peer_program(ly_repl *r, s_peer *p, const ly_pmsg *m)
{
    uint32_t ours;
    uint64_t our_hash;
    ly_service_program(r->r_svc, &ours, &our_hash);
    int differed = p->p_program != ours || p->p_program_hash != our_hash;
    int differs = m->pm_program != ours || m->pm_program_hash != our_hash;
    if (differs && (!differed || p->p_program != m->pm_program))
        LY_LOG(LY_WARN, "peer.program_differs", "peer=%s its=%u ours=%u its_hash=%016llx",
               p->p_conf->pc_name, m->pm_program, ours, (unsigned long long)m->pm_program_hash);
    p->p_program = m->pm_program;
    p->p_program_hash = m->pm_program_hash;
}

static void s_heartbeat(ly_repl *r, int pi)
{
    ly_pmsg *m = s_msg(r, LY_PM_HEARTBEAT);
    m->pm_hlc = r->r_hlc->hl_last;
    m->pm_digest = r->r_digest;
    m->pm_events_total = r->r_events;
    ly_service_program(r->r_svc, &m->pm_program, &m->pm_program_hash);
    s_fill_vv(r, m);
    s_to_dealer(r, pi, m);
}

static void s_hello(ly_repl *r, int pi)
{
    ly_pmsg *m = s_msg(r, LY_PM_HELLO);
    m->pm_incarnation = ly_store_incarnation(r->r_store);
    snprintf(m->pm_name, sizeof m->pm_name, "%s", r->r_cf->cf_name);
    ly_service_program(r->r_svc, &m->pm_program, &m->pm_program_hash);
    m->pm_proto = LY_PEER_PROTO;
    snprintf(m->pm_client, sizeof m->pm_client, "%s", r->r_cf->cf_advertise);
    s_to_dealer(r, pi, m);
    r->r_peers[pi].p_hello_ms = r->r_now ? r->r_now : 1;
    r->r_peers[pi].p_hello_tries++;
}

/* Raise `m`'s version vector to the events in `evs` (a catch-up reply: per
 * origin, contiguous after what we hold). */
static void s_vv_advance(ly_pmsg *m, const ly_event *evs, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = 0;
        while (k < m->pm_nvv && (m->pm_vv[k].vv_origin != evs[i].ev_origin ||
                                 m->pm_vv[k].vv_incarnation != evs[i].ev_incarnation))
            k++;
        if (k == m->pm_nvv) {
            if (m->pm_nvv == LY_PEER_VV_MAX)
                continue;
            m->pm_vv[k].vv_origin = evs[i].ev_origin;
            m->pm_vv[k].vv_incarnation = evs[i].ev_incarnation;
            m->pm_vv[k].vv_seq = 0;
            m->pm_nvv++;
        }
        if (evs[i].ev_seq > m->pm_vv[k].vv_seq)
            m->pm_vv[k].vv_seq = evs[i].ev_seq;
    }
}

/* Ask the peer for what we lack. With `after` (a catch-up reply not applied
 * yet), ask for what follows it: the peer reads and sends the next part while
 * this node applies this one. If that part does not follow after all (the
 * batch failed), its events are gaps and a plain request repairs them. */
static void s_request_sync_after(ly_repl *r, int pi, const ly_pmsg *after)
{
    s_peer *p = &r->r_peers[pi];
    if (!p->p_welcomed || p->p_sync_inflight)
        return;
    ly_pmsg *m = s_msg(r, LY_PM_SYNC_REQ);
    s_fill_vv(r, m);
    if (after)
        s_vv_advance(m, after->pm_events, after->pm_nevents);
    m->pm_max = LY_SYNC_BATCH;
    if (s_to_dealer(r, pi, m) == 0) {
        p->p_sync_inflight++;
        p->p_sync_ms = r->r_now;
        p->p_need_sync = 0;
        LY_LOG(LY_DEBUG, "peer.sync_req", "peer=%s pipelined=%d", p->p_conf->pc_name,
               after != NULL);
    }
}

static void s_request_sync(ly_repl *r, int pi)
{
    s_request_sync_after(r, pi, NULL);
}

/* ---- version vectors ---- */

static uint64_t s_vv_seq(const ly_vv_entry *vv, uint32_t n, uint16_t origin, uint32_t inc)
{
    for (uint32_t i = 0; i < n; i++)
        if (vv[i].vv_origin == origin && vv[i].vv_incarnation == inc)
            return vv[i].vv_seq;
    return 0;
}

/* Events in `a` that `b` lacks. */
static uint64_t s_vv_ahead(const ly_vv_entry *a, uint32_t na, const ly_vv_entry *b, uint32_t nb)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < na; i++) {
        uint64_t have = s_vv_seq(b, nb, a[i].vv_origin, a[i].vv_incarnation);
        if (a[i].vv_seq > have)
            sum += a[i].vv_seq - have;
    }
    return sum;
}

/* ---- receiving ---- */

static s_peer *s_peer_by_id(ly_repl *r, uint16_t id, int *index)
{
    for (int i = 0; i < r->r_npeers; i++)
        if (r->r_peers[i].p_conf->pc_id == id) {
            if (index)
                *index = i;
            return &r->r_peers[i];
        }
    return NULL;
}

static s_peer *s_peer_by_ident(ly_repl *r, const uint8_t *ident, size_t len)
{
    for (int i = 0; i < r->r_npeers; i++) {
        s_peer *p = &r->r_peers[i];
        if (p->p_session && p->p_ident_len == len && memcmp(p->p_ident, ident, len) == 0)
            return p;
    }
    return NULL;
}

static void s_merge_clock(ly_repl *r, s_peer *p, uint64_t hlc)
{
    if (ly_hlc_merge(r->r_hlc, hlc) && r->r_now - p->p_clamp_logged_ms > 60000) {
        p->p_clamp_logged_ms = r->r_now;
        LY_LOG(LY_WARN, "peer.clock_ahead",
               "peer=%s hlc_ms=%llu bound_ms=%llu: clamped; check that peer's clock",
               p->p_conf->pc_name, (unsigned long long)LY_HLC_MS(hlc),
               (unsigned long long)r->r_cf->cf_max_clock_ahead_ms);
    }
}

/* Count one outcome of an apply. */
static void s_count(ly_repl *r, s_peer *p, const ly_event *ev, int live, ly_apply out,
                    uint64_t *applied, uint64_t *dups, uint64_t *gaps)
{
    if (out == LY_APPLIED) {
        (*applied)++;
        /* Lag is measured on live events: catch-up of old events says nothing
         * about how fast the links are. */
        if (live && r->r_npending < S_LAG_PENDING)
            r->r_pending_hlc[r->r_npending++] = LY_HLC_MS(ev->ev_hlc);
        if (ev->ev_type == LY_EV_TRANSFER && ev->ev_to == r->r_cf->cf_node_id)
            ly_metric_inc(r->r_transfers_in);
        s_merge_clock(r, p, ev->ev_hlc);
        if (ev->ev_origin == r->r_cf->cf_node_id)
            LY_LOG(LY_WARN, "peer.own_event",
                   "peer=%s seq=%llu: a peer held an event of this node that its store "
                   "lacked (store restored from an old copy?)",
                   p->p_conf->pc_name, (unsigned long long)ev->ev_seq);
    } else if (out == LY_DUPLICATE) {
        (*dups)++;
    } else {
        (*gaps)++;
    }
}

/* Apply the events of a live batch or a catch-up reply, exactly once each.
 * An event waiting for a transfer of another origin later in the same message
 * is tried again after it (up to a few rounds while that makes progress). */
static ly_err s_apply(ly_repl *r, s_peer *p, const ly_pmsg *m, ly_txn *t)
{
    uint64_t applied = 0, dups = 0, gaps = 0, left = 0;
    uint8_t *done = calloc(m->pm_nevents ? m->pm_nevents : 1, 1);
    if (!done)
        return LY_ENOMEM;
    /* Rounds while they make progress: an event that waits for a transfer of
     * another origin later in this message (and the events of its origin after
     * it) is applied once that transfer is. */
    for (int round = 0; round < 4; round++) {
        uint64_t progress = 0;
        left = 0;
        for (uint32_t i = 0; i < m->pm_nevents; i++) {
            if (done[i])
                continue;
            const ly_event *ev = &m->pm_events[i];
            ly_apply out;
            ly_err e = ly_store_apply(t, ev, &out, NULL);
            if (e != LY_OK) {
                free(done);
                return e;
            }
            if (out == LY_APPLIED || out == LY_DUPLICATE) {
                done[i] = 1;
                progress += out == LY_APPLIED;
                s_count(r, p, ev, m->pm_type == LY_PM_EVENTS, out, &applied, &dups, &gaps);
            } else {
                left++;
            }
        }
        if (left == 0 || progress == 0)
            break;
    }
    free(done);
    gaps += left; /* gaps, or waiting for a transfer: catch-up brings what is missing */
    ly_metric_add(p->p_received, applied);
    ly_metric_add(p->p_duplicates, dups);
    if (applied)
        p->p_uncommitted = 1;
    if (gaps) {
        ly_metric_add(p->p_gaps, gaps);
        p->p_need_sync = 1;
        LY_LOG(LY_DEBUG, "peer.gap", "peer=%s events=%llu: catching up", p->p_conf->pc_name,
               (unsigned long long)gaps);
    }
    return LY_OK;
}

static void s_refuse(ly_repl *r, const ly_peer_addr *from, const ly_pmsg *m, const char *why)
{
    LY_LOG(LY_WARN, "peer.refused", "node=%u name=%s reason=\"%s\"", m->pm_node, m->pm_name, why);
    ly_pmsg *out = s_msg(r, LY_PM_REFUSED);
    snprintf(out->pm_reason, sizeof out->pm_reason, "%s", why);
    s_to_router(r, from->pa_ident, from->pa_ident_len, out);
}

void ly_repl_refuse(ly_repl *r, const ly_peer_addr *from, const ly_pmsg *m, const char *why)
{
    s_refuse(r, from, m, why);
}

static void s_on_hello(ly_repl *r, const ly_peer_addr *from, const ly_pmsg *m)
{
    char why[200];
    int pi;
    s_peer *p = s_peer_by_id(r, m->pm_node, &pi);
    if (m->pm_proto != LY_PEER_PROTO) {
        snprintf(why, sizeof why, "peer protocol %u; node %u speaks %u", m->pm_proto,
                 r->r_cf->cf_node_id, LY_PEER_PROTO);
        s_refuse(r, from, m, why);
        return;
    }
    if (m->pm_node == r->r_cf->cf_node_id) {
        snprintf(why, sizeof why, "node id %u is this node's own id", m->pm_node);
        s_refuse(r, from, m, why);
        return;
    }
    if (!p) {
        snprintf(why, sizeof why, "node %u is not a configured peer of node %u", m->pm_node,
                 r->r_cf->cf_node_id);
        s_refuse(r, from, m, why);
        return;
    }
    if (from->pa_ident_len > sizeof p->p_ident)
        return;
    int fresh = !p->p_session || p->p_incarnation != m->pm_incarnation;
    p->p_session = 1;
    memcpy(p->p_ident, from->pa_ident, from->pa_ident_len);
    p->p_ident_len = from->pa_ident_len;
    p->p_incarnation = m->pm_incarnation;
    snprintf(p->p_client, sizeof p->p_client, "%s", m->pm_client);
    p->p_last_heard_ms = r->r_now;
    s_peer_program(r, p, m);
    LY_LOG(fresh ? LY_INFO : LY_DEBUG, "peer.session", "peer=%s id=%u incarnation=%u client=%s",
           p->p_conf->pc_name, m->pm_node, m->pm_incarnation, m->pm_client);
    ly_pmsg *out = s_msg(r, LY_PM_WELCOME);
    out->pm_incarnation = ly_store_incarnation(r->r_store);
    snprintf(out->pm_name, sizeof out->pm_name, "%s", r->r_cf->cf_name);
    ly_service_program(r->r_svc, &out->pm_program, &out->pm_program_hash);
    snprintf(out->pm_client, sizeof out->pm_client, "%s", r->r_cf->cf_advertise);
    s_to_router(r, from->pa_ident, from->pa_ident_len, out);
    /* It may have missed our events while it was away: it asks by itself, but
     * our next heartbeat tells it at once. */
    (void)pi;
}

/* One origin's events the asker lacks, read in chunks for the merge below. */
typedef struct s_cursor {
    uint16_t cu_origin;
    uint32_t cu_inc;
    uint64_t cu_next; /* next seq to read from the store */
    uint64_t cu_last; /* the last seq we hold */
    ly_event cu_buf[32];
    size_t cu_n, cu_i; /* events in cu_buf, and the next one to hand out */
} s_cursor;

static ly_err s_cursor_fill(ly_txn *t, s_cursor *c)
{
    if (c->cu_i < c->cu_n || c->cu_next > c->cu_last)
        return LY_OK;
    size_t want = sizeof c->cu_buf / sizeof c->cu_buf[0];
    c->cu_i = c->cu_n = 0;
    ly_err e = ly_store_events_after(t, c->cu_origin, c->cu_inc, c->cu_next - 1, c->cu_buf, want,
                                     &c->cu_n);
    if (e == LY_OK && c->cu_n == 0)
        c->cu_next = c->cu_last + 1; /* nothing more is readable */
    c->cu_next += c->cu_n;
    return e;
}

/* Answer a catch-up request: what the asker lacks, of every origin we hold, in
 * HLC order across origins. The HLC respects causality (a node merges the clock
 * of every event it applies before it creates its next one), so a reply cut at
 * `max` is a causal prefix: a redemption never comes without the transfer that
 * funded it, and the asker always makes progress. */
static void s_serve_sync(ly_repl *r, s_peer *p, const ly_peer_addr *from, const ly_pmsg *m)
{
    ly_txn *t;
    if (ly_store_begin(r->r_store, 0, &t) != LY_OK)
        return;
    ly_vv_entry vv[LY_PEER_VV_MAX];
    size_t nvv = 0, n = 0, nc = 0;
    size_t cap = m->pm_max < LY_PEER_EVENTS_MAX ? m->pm_max : LY_PEER_EVENTS_MAX;
    int more = 0;
    if (ly_store_vv(t, vv, LY_PEER_VV_MAX, &nvv) != LY_OK)
        nvv = 0;
    if (nvv > LY_PEER_VV_MAX)
        nvv = LY_PEER_VV_MAX;
    s_cursor *cs = calloc(nvv ? nvv : 1, sizeof *cs);
    if (!cs) {
        ly_store_abort(&t);
        return;
    }
    for (size_t i = 0; i < nvv; i++) {
        uint64_t have = s_vv_seq(m->pm_vv, m->pm_nvv, vv[i].vv_origin, vv[i].vv_incarnation);
        if (vv[i].vv_seq <= have)
            continue;
        cs[nc].cu_origin = vv[i].vv_origin;
        cs[nc].cu_inc = vv[i].vv_incarnation;
        cs[nc].cu_next = have + 1;
        cs[nc].cu_last = vv[i].vv_seq;
        nc++;
    }
    while (n < cap) {
        s_cursor *best = NULL;
        for (size_t i = 0; i < nc; i++) {
            if (s_cursor_fill(t, &cs[i]) != LY_OK || cs[i].cu_i == cs[i].cu_n)
                continue;
            if (!best || cs[i].cu_buf[cs[i].cu_i].ev_hlc < best->cu_buf[best->cu_i].ev_hlc)
                best = &cs[i];
        }
        if (!best)
            break;
        r->r_evbuf[n++] = best->cu_buf[best->cu_i++];
    }
    for (size_t i = 0; i < nc && !more; i++)
        more = cs[i].cu_i < cs[i].cu_n || cs[i].cu_next <= cs[i].cu_last;
    free(cs);
    ly_store_abort(&t);
    ly_pmsg *out = s_msg(r, LY_PM_SYNC_REP);
    out->pm_events = r->r_evbuf;
    out->pm_nevents = (uint32_t)n;
    out->pm_more = (uint8_t)more;
    if (s_to_router(r, from->pa_ident, from->pa_ident_len, out) == 0)
        ly_metric_add(p->p_sent, n);
    else
        ly_metric_inc(p->p_dropped);
    out->pm_events = NULL; /* borrowed */
    out->pm_nevents = 0;
    LY_LOG(LY_DEBUG, "peer.sync_served", "peer=%s events=%zu more=%d", p->p_conf->pc_name, n, more);
}

static ly_err s_on_dealer(ly_repl *r, int pi, const ly_pmsg *m, ly_txn *t)
{
    s_peer *p = &r->r_peers[pi];
    if (m->pm_node != p->p_conf->pc_id) {
        LY_LOG(LY_WARN, "peer.wrong_node", "endpoint=%s expected=%u answered=%u",
               p->p_conf->pc_endpoint, p->p_conf->pc_id, m->pm_node);
        p->p_welcomed = 0;
        return LY_OK;
    }
    switch (m->pm_type) {
    case LY_PM_WELCOME:
        if (!p->p_welcomed)
            LY_LOG(LY_INFO, "peer.welcomed", "peer=%s id=%u incarnation=%u", p->p_conf->pc_name,
                   m->pm_node, m->pm_incarnation);
        p->p_welcomed = 1;
        s_peer_program(r, p, m);
        p->p_refused = 0;
        p->p_hello_tries = 0;
        p->p_need_sync = 1; /* catch up on every (re)connection */
        s_heartbeat(r, pi); /* so it knows our state at once, not in a second */
        return LY_OK;
    case LY_PM_REFUSED:
        if (!p->p_refused)
            LY_LOG(LY_ERROR, "peer.refused_us", "peer=%s reason=\"%s\"", p->p_conf->pc_name,
                   m->pm_reason);
        p->p_welcomed = 0;
        p->p_refused = 1;
        return LY_OK;
    case LY_PM_HELLO_REQUIRED:
        /* It restarted, or our connection is new to it: say hello again. */
        if (p->p_welcomed)
            LY_LOG(LY_INFO, "peer.rehello", "peer=%s", p->p_conf->pc_name);
        p->p_welcomed = 0;
        p->p_sync_inflight = 0;
        s_hello(r, pi);
        return LY_OK;
    case LY_PM_SYNC_REP: {
        /* The next request went out when it arrived (ly_repl_received). */
        ly_err e = t ? s_apply(r, p, m, t) : LY_EINTERNAL;
        if (m->pm_more && !p->p_sync_inflight)
            p->p_need_sync = 1;
        return e;
    }
    default:
        LY_LOG(LY_WARN, "peer.unexpected", "peer=%s type=%s on its reply channel",
               p->p_conf->pc_name, ly_pmsgtype_name(m->pm_type));
        return LY_OK;
    }
}

/* A peer asks for rights: give what we hold, as a transfer event of ours. */
static ly_err s_give(ly_repl *r, s_peer *p, const ly_pmsg *m, ly_txn *t, ly_evlist *created)
{
    if (!t || !created || created->el_n == created->el_cap)
        return LY_OK; /* no room in this batch: the asker's wait runs out */
    int made = 0;
    ly_err e = ly_service_give_rights(r->r_svc, t, m->pm_customer, p->p_conf->pc_id, m->pm_points,
                                      &created->el_ev[created->el_n], &made);
    if (e == LY_OK && made) {
        created->el_n++;
        ly_metric_inc(r->r_transfers_out);
        LY_LOG(LY_DEBUG, "rights.given", "peer=%s customer=%s points=%lld", p->p_conf->pc_name,
               m->pm_customer, (long long)created->el_ev[created->el_n - 1].ev_points);
    }
    return e;
}

static ly_err s_on_router(ly_repl *r, const ly_peer_addr *from, const ly_pmsg *m, ly_txn *t,
                          ly_evlist *created)
{
    if (m->pm_type == LY_PM_HELLO) {
        s_on_hello(r, from, m);
        return LY_OK;
    }
    s_peer *p = s_peer_by_ident(r, from->pa_ident, from->pa_ident_len);
    if (!p) {
        /* Nothing from a session is used before its hello. */
        ly_pmsg *out = s_msg(r, LY_PM_HELLO_REQUIRED);
        s_to_router(r, from->pa_ident, from->pa_ident_len, out);
        LY_LOG(LY_DEBUG, "peer.hello_required", "node=%u type=%s", m->pm_node,
               ly_pmsgtype_name(m->pm_type));
        return LY_OK;
    }
    if (m->pm_node != p->p_conf->pc_id) {
        LY_LOG(LY_WARN, "peer.node_mismatch", "session of %s claims node %u; dropped",
               p->p_conf->pc_name, m->pm_node);
        return LY_OK;
    }
    p->p_last_heard_ms = r->r_now;
    switch (m->pm_type) {
    case LY_PM_HEARTBEAT:
        p->p_have_hb = 1;
        p->p_hlc = m->pm_hlc;
        p->p_digest = m->pm_digest;
        s_peer_program(r, p, m);
        p->p_events = m->pm_events_total;
        p->p_nvv = m->pm_nvv;
        memcpy(p->p_vv, m->pm_vv, m->pm_nvv * sizeof *m->pm_vv);
        s_merge_clock(r, p, m->pm_hlc);
        if (s_vv_ahead(m->pm_vv, m->pm_nvv, r->r_vv, r->r_nvv) > 0)
            p->p_need_sync = 1; /* anti-entropy: it has events we lack */
        return LY_OK;
    case LY_PM_EVENTS:
        /* Live batches carry the sender's own events only; events of other
         * origins travel in catch-up replies. */
        if (m->pm_origin != p->p_conf->pc_id) {
            LY_LOG(LY_WARN, "peer.foreign_live_events", "peer=%s origin=%u events=%u; dropped",
                   p->p_conf->pc_name, m->pm_origin, m->pm_nevents);
            return LY_OK;
        }
        return t ? s_apply(r, p, m, t) : LY_EINTERNAL;
    case LY_PM_SYNC_REQ:
        s_serve_sync(r, p, from, m);
        return LY_OK;
    case LY_PM_RIGHTS_REQ:
        return s_give(r, p, m, t, created);
    default:
        LY_LOG(LY_WARN, "peer.unexpected", "peer=%s type=%s on its push channel",
               p->p_conf->pc_name, ly_pmsgtype_name(m->pm_type));
        return LY_OK;
    }
}

ly_err ly_repl_handle(ly_repl *r, const ly_peer_addr *from, const ly_pmsg *m, ly_txn *t,
                      ly_evlist *created)
{
    if (from->pa_dealer >= 0 && from->pa_dealer < r->r_npeers)
        return s_on_dealer(r, from->pa_dealer, m, t);
    if (from->pa_dealer < 0 && from->pa_ident)
        return s_on_router(r, from, m, t, created);
    return LY_OK;
}

void ly_repl_received(ly_repl *r, const ly_peer_addr *from, const ly_pmsg *m)
{
    if (m->pm_type != LY_PM_SYNC_REP || from->pa_dealer < 0 || from->pa_dealer >= r->r_npeers)
        return;
    s_peer *p = &r->r_peers[from->pa_dealer];
    if (p->p_sync_inflight > 0)
        p->p_sync_inflight--;
    /* Only the reply to the last request outstanding asks for more: should
     * two requests ever be out (a timeout asked again), their replies do not
     * each start a stream of their own. */
    if (p->p_sync_inflight == 0 && m->pm_more && m->pm_nevents > 0 &&
        m->pm_node == p->p_conf->pc_id)
        s_request_sync_after(r, from->pa_dealer, m);
}

int ly_repl_want_rights(ly_repl *r, const ly_cust *c, int64_t need)
{
    /* Holders, most rights first. */
    int order[LY_RIGHTS_MAX], n = 0;
    for (int i = 0; i < c->cu_nrights; i++)
        if (c->cu_rights[i].rt_points > 0 && c->cu_rights[i].rt_node != r->r_cf->cf_node_id)
            order[n++] = i;
    for (int i = 1; i < n; i++)
        for (int j = i;
             j > 0 && c->cu_rights[order[j]].rt_points > c->cu_rights[order[j - 1]].rt_points;
             j--) {
            int tmp = order[j];
            order[j] = order[j - 1];
            order[j - 1] = tmp;
        }
    int sent = 0;
    for (int k = 0; k < n && need > 0; k++) {
        const ly_right *rt = &c->cu_rights[order[k]];
        int pi;
        s_peer *p = s_peer_by_id(r, rt->rt_node, &pi);
        if (!p || !p->p_welcomed)
            continue; /* not a peer of ours, or not reachable now */
        ly_pmsg *m = s_msg(r, LY_PM_RIGHTS_REQ);
        snprintf(m->pm_customer, sizeof m->pm_customer, "%s", c->cu_id);
        m->pm_points = rt->rt_points < need ? rt->rt_points : need;
        if (s_to_dealer(r, pi, m) == 0) {
            need -= m->pm_points;
            sent++;
            ly_metric_inc(r->r_rights_asked);
        }
    }
    return sent;
}

static void s_lag_record(ly_repl *r, int committed)
{
    if (committed && r->r_npending) {
        uint64_t now = ly_wall_ms();
        for (uint32_t i = 0; i < r->r_npending; i++)
            ly_metric_observe(r->r_lag, now > r->r_pending_hlc[i] ? now - r->r_pending_hlc[i] : 0);
    }
    r->r_npending = 0;
}

/* Every 10 s with traffic: one log line with the replication lag percentiles
 * of the events since the last line (a delta of the cumulative histogram). */
static void s_lag_report(ly_repl *r)
{
    if (r->r_now - r->r_lag_report_ms < S_LAG_REPORT_MS)
        return;
    r->r_lag_report_ms = r->r_now;
    ly_metric_snap d;
    ly_metric_snapshot(r->r_lag, &d);
    ly_metric_snap_delta(&d, &r->r_lag_at);
    if (d.ms_count == 0)
        return;
    ly_metric_snapshot(r->r_lag, &r->r_lag_at);
    LY_LOG(LY_INFO, "repl.lag", "events=%llu p50_ms=%llu p90_ms=%llu p99_ms=%llu max_ms=%llu",
           (unsigned long long)d.ms_count,
           (unsigned long long)ly_metric_quantile(r->r_lag, &d, 0.50),
           (unsigned long long)ly_metric_quantile(r->r_lag, &d, 0.90),
           (unsigned long long)ly_metric_quantile(r->r_lag, &d, 0.99),
           (unsigned long long)ly_metric_highest(r->r_lag, &d));
}

void ly_repl_after_commit(ly_repl *r, int committed, const ly_event *evs, size_t n)
{
    s_lag_record(r, committed);
    for (int i = 0; i < r->r_npeers; i++) {
        s_peer *p = &r->r_peers[i];
        if (p->p_uncommitted && !committed)
            p->p_need_sync = 1; /* what it sent us was lost with the batch: ask again */
        p->p_uncommitted = 0;
    }
    s_refresh_view(r);
    if (committed && n > 0) {
        for (int i = 0; i < r->r_npeers; i++) {
            s_peer *p = &r->r_peers[i];
            if (!p->p_welcomed)
                continue; /* it catches up when it says hello */
            for (size_t off = 0; off < n; off += LY_PEER_EVENTS_MAX) {
                size_t k = n - off < LY_PEER_EVENTS_MAX ? n - off : LY_PEER_EVENTS_MAX;
                ly_pmsg *m = s_msg(r, LY_PM_EVENTS);
                m->pm_origin = r->r_cf->cf_node_id;
                m->pm_incarnation = ly_store_incarnation(r->r_store);
                m->pm_prev = evs[off].ev_seq - 1;
                m->pm_events = (ly_event *)(evs + off);
                m->pm_nevents = (uint32_t)k;
                if (s_to_dealer(r, i, m) == 0)
                    ly_metric_add(p->p_sent, k);
                m->pm_events = NULL;
                m->pm_nevents = 0;
            }
        }
    }
    for (int i = 0; i < r->r_npeers; i++)
        if (r->r_peers[i].p_need_sync)
            s_request_sync(r, i);
}

void ly_repl_tick(ly_repl *r, uint64_t now_ms)
{
    r->r_now = now_ms;
    s_lag_report(r);
    for (int i = 0; i < r->r_npeers; i++) {
        s_peer *p = &r->r_peers[i];
        /* 100 ms, 200, 400... up to LY_HELLO_RETRY_MS (5x that after a refusal). */
        uint64_t retry = p->p_hello_tries >= 4 ? LY_HELLO_RETRY_MS : 100ULL << p->p_hello_tries;
        if (p->p_refused)
            retry = 5 * LY_HELLO_RETRY_MS;
        if (!p->p_welcomed && (p->p_hello_ms == 0 || now_ms - p->p_hello_ms >= retry))
            s_hello(r, i);
        if (p->p_sync_inflight && now_ms - p->p_sync_ms > LY_SYNC_TIMEOUT_MS) {
            p->p_sync_inflight = 0;
            p->p_need_sync = 1;
        }
        if (p->p_need_sync)
            s_request_sync(r, i);
    }
    if (now_ms - r->r_hb_ms >= LY_HEARTBEAT_MS) {
        r->r_hb_ms = now_ms;
        for (int i = 0; i < r->r_npeers; i++) {
            if (r->r_peers[i].p_welcomed)
                s_heartbeat(r, i);
        }
    }
}

ly_err ly_repl_status(ly_repl *r, ly_txn *t, ly_node_status *ns)
{
    ly_vv_entry vv[LY_PEER_VV_MAX];
    size_t nvv = 0;
    ly_store_stats st;
    ly_err e;
    if ((e = ly_store_vv(t, vv, LY_PEER_VV_MAX, &nvv)) != LY_OK ||
        (e = ly_store_stats_get(t, &st)) != LY_OK)
        return e;
    if (nvv > LY_PEER_VV_MAX)
        nvv = LY_PEER_VV_MAX;
    snprintf(ns->ns_client, sizeof ns->ns_client, "%s", r->r_cf->cf_advertise);
    /* Counters: read from the registry, never reset. */
    ns->ns_transfers_sent = r->r_transfers_out->mt_value;
    ns->ns_transfers_received = r->r_transfers_in->mt_value;
    ns->ns_rights_asked = r->r_rights_asked->mt_value;
    ns->ns_npeers = 0;
    if (r->r_npeers == 0)
        return LY_OK;
    ns->ns_peers = calloc((size_t)r->r_npeers, sizeof *ns->ns_peers);
    if (!ns->ns_peers)
        return LY_ENOMEM;
    uint64_t wall = ly_wall_ms();
    for (int i = 0; i < r->r_npeers; i++) {
        s_peer *p = &r->r_peers[i];
        ly_peer_status *ps = &ns->ns_peers[i];
        ps->ps_id = p->p_conf->pc_id;
        snprintf(ps->ps_name, sizeof ps->ps_name, "%s", p->p_conf->pc_name);
        snprintf(ps->ps_endpoint, sizeof ps->ps_endpoint, "%s", p->p_conf->pc_endpoint);
        snprintf(ps->ps_client, sizeof ps->ps_client, "%s", p->p_client);
        ps->ps_last_heard_ms = p->p_last_heard_ms ? r->r_now - p->p_last_heard_ms : UINT64_MAX;
        ps->ps_up =
            p->p_session && p->p_last_heard_ms && r->r_now - p->p_last_heard_ms < LY_PEER_DOWN_MS;
        ps->ps_digest = p->p_digest;
        ps->ps_program = p->p_program;
        ps->ps_program_hash = p->p_program_hash;
        ps->ps_events = p->p_events;
        ps->ps_sent = p->p_sent->mt_value;
        ps->ps_received = p->p_received->mt_value;
        ps->ps_dropped = p->p_dropped->mt_value;
        if (p->p_have_hb) {
            ps->ps_behind = s_vv_ahead(vv, (uint32_t)nvv, p->p_vv, p->p_nvv);
            ps->ps_missing = s_vv_ahead(p->p_vv, p->p_nvv, vv, (uint32_t)nvv);
            ps->ps_converged =
                ps->ps_behind == 0 && ps->ps_missing == 0 && p->p_digest == st.st_digest;
        }
        /* Lag: the age of the oldest event it lacks. */
        uint64_t oldest = 0;
        for (size_t k = 0; p->p_have_hb && k < nvv; k++) {
            uint64_t have = s_vv_seq(p->p_vv, p->p_nvv, vv[k].vv_origin, vv[k].vv_incarnation);
            ly_event ev;
            if (vv[k].vv_seq > have &&
                ly_store_event_get(t, vv[k].vv_origin, vv[k].vv_incarnation, have + 1, &ev) ==
                    LY_OK &&
                (oldest == 0 || LY_HLC_MS(ev.ev_hlc) < oldest))
                oldest = LY_HLC_MS(ev.ev_hlc);
        }
        ps->ps_lag_ms = oldest && wall > oldest ? wall - oldest : 0;
    }
    ns->ns_npeers = (uint32_t)r->r_npeers;
    return LY_OK;
}
