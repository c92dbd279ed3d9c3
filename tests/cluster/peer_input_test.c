/* peer_input_test.c -- a real loyald against a scripted peer.
 *
 * Node n1 is configured with one peer, "test" (id 9), whose endpoint is a
 * ROUTER this test binds. The test plays node 9 over raw ZeroMQ (proto/peer.h):
 *  - a DEALER connected to n1's peer_listen (the main session; like a node's
 *    DEALER it sets no routing id), on which it says hello and pushes events,
 *    heartbeats and sync-reqs; other DEALERs play other sessions;
 *  - the ROUTER that n1's own DEALER connects to, on which it welcomes n1 and
 *    receives n1's catch-up requests (and may answer them).
 * Events of origin 9 are built here with ly_event fields; the expected customer
 * state is their fold (ly_cust_apply) and the expected node digest follows from
 * it (store.h: the sum of ly_cust_hash over customers). So the checks are
 * exact: each event counted once, or the digest tells.
 *
 * (a) duplicated, reordered (a gap is dropped and repaired by catch-up) and
 *     replayed batches are applied exactly once;
 * (b) a sync-req is answered with what the asker lacks, of every origin, in
 *     bounded batches with "more";
 * (c) bad input (ROBUSTNESS.md): messages before hello, refused hellos,
 *     garbage, empty, multi-frame and oversized frames, hostile msgpack,
 *     broken event sequences, forged origins, invalid events, a replaced
 *     session. After each, n1 still serves clients and its store holds exactly
 *     what it held before (checked after a valid "sentinel" event has gone
 *     through). Also: a peer clock far ahead is clamped; rights-reqs give at
 *     most what n1 holds, and out-of-contract ones nothing. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/hlc.h"
#include "common/ledger.h"
#include "proto/client.h"
#include "proto/peer.h"
#include "tests/support/harness.h"

#define PT_ID       9 /* the test peer's node id */
#define PT_READY_MS 20000
#define PT_CALL_MS  5000
#define PT_WAIT_MS  10000 /* for an event to be applied, a reply to arrive */
#define PT_QUIET_MS 1000  /* to be sure no reply comes */
#define PT_EVS_MAX  200
#define PT_CUST     "pc-1"
#define PT_GOT_MAX  64

/* ---- the test peer -------------------------------------------------------- */

typedef struct tp {
    void *t_ctx;
    void *t_dealer; /* the main session on n1's peer_listen */
    void *t_router; /* where n1's DEALER for peer 9 connects */
    char t_endpoint[LYH_EP_MAX];
    uint32_t t_incarnation;
    int t_hb;          /* send heartbeats on t_dealer */
    uint64_t t_hb_seq; /* the seq of origin 9 they announce */
    uint64_t t_hb_next_ms;
    uint8_t t_node_ident[256]; /* n1's DEALER, as our ROUTER sees it */
    size_t t_node_ident_len;
    int t_node_hellos;  /* hellos from n1 (each welcomed) */
    int t_sync_reqs;    /* sync-reqs from n1 */
    ly_pmsg t_last_req; /* the last one (no events: nothing to free) */
    int t_auto_sync;    /* answer n1's sync-reqs at once, with s_evs up to t_offer */
    uint64_t t_offer;
    void *t_others[8];          /* other sessions' DEALERs still open (closed at teardown) */
    ly_event t_got[PT_GOT_MAX]; /* n1's live events, as pushed to us */
    uint32_t t_ngot;
    int t_node_hbs;    /* heartbeats from n1 (it sends them once welcomed) */
    int t_rights_reqs; /* rights-reqs from n1 */
    char t_rights_cust[LY_ID_MAX + 1];
} tp;

static lyh_node *s_node;
static tp s_tp;
static ly_event s_evs[PT_EVS_MAX + 1]; /* s_evs[k]: event seq k of origin 9 */
static ly_cust *s_cust;                /* fold of the origin-9 events applied */
static uint64_t s_applied;             /* origin-9 events the node must hold */
static uint64_t s_events0, s_digest0;  /* the node's store before any origin-9 event */
static uint32_t s_nvv0;                /* version vector entries before them */
static ly_client *s_client;            /* a test's client to n1 (destroyed at teardown) */

static void s_teardown(void)
{
    if (s_tp.t_dealer)
        zmq_close(s_tp.t_dealer);
    for (size_t i = 0; i < sizeof s_tp.t_others / sizeof s_tp.t_others[0]; i++)
        if (s_tp.t_others[i])
            zmq_close(s_tp.t_others[i]);
    if (s_tp.t_router)
        zmq_close(s_tp.t_router);
    if (s_tp.t_ctx)
        zmq_ctx_term(s_tp.t_ctx);
    memset(&s_tp, 0, sizeof s_tp);
    ly_client_destroy(&s_client);
    lyh_node_destroy(&s_node);
    free(s_cust);
    s_cust = NULL;
}

TestSuite(peer_input, .fini = s_teardown, .timeout = 180);

static void s_setopt_int(void *sock, int opt, int v)
{
    zmq_setsockopt(sock, opt, &v, sizeof v);
}

/* A DEALER connected to n1's peer_listen: a new session. Close it with
 * s_close (or the teardown does, so a failed case cannot block zmq_ctx_term). */
static void *s_dealer(void)
{
    void *s = zmq_socket(s_tp.t_ctx, ZMQ_DEALER);
    cr_assert_not_null(s);
    s_setopt_int(s, ZMQ_LINGER, 0);
    s_setopt_int(s, ZMQ_SNDTIMEO, 5000);
    cr_assert_eq(zmq_connect(s, s_node->nd_peer_listen), 0, "connect %s: %s",
                 s_node->nd_peer_listen, zmq_strerror(zmq_errno()));
    for (size_t i = 0; i < sizeof s_tp.t_others / sizeof s_tp.t_others[0]; i++)
        if (s_tp.t_others[i] == NULL) {
            s_tp.t_others[i] = s;
            return s;
        }
    cr_assert_fail("too many test sessions open at once");
    return NULL;
}

/* Forget `s` as an extra session (it is closed, or became the main one). */
static void s_forget(void *s)
{
    for (size_t i = 0; i < sizeof s_tp.t_others / sizeof s_tp.t_others[0]; i++)
        if (s_tp.t_others[i] == s)
            s_tp.t_others[i] = NULL;
}

static void s_close(void *s)
{
    s_forget(s);
    zmq_close(s);
}

static void s_send_raw(void *sock, const void *buf, size_t len, int flags)
{
    int rc = zmq_send(sock, buf, len, flags);
    cr_assert_eq(rc, (int)len, "send of %zu bytes: %s", len, zmq_strerror(zmq_errno()));
}

/* Encode `m` (must be valid) into a new buffer. */
static uint8_t *s_encode(const ly_pmsg *m, size_t *len)
{
    uint8_t *buf = NULL;
    ly_err e = ly_pmsg_encode(m, &buf, len);
    cr_assert_eq(e, LY_OK, "unable to encode a %s message: %s", ly_pmsgtype_name(m->pm_type),
                 ly_errname(e));
    return buf;
}

static void s_send_pmsg(void *sock, const ly_pmsg *m)
{
    size_t len;
    uint8_t *buf = s_encode(m, &len);
    s_send_raw(sock, buf, len, 0);
    free(buf);
}

static void s_hello_msg(ly_pmsg *m, uint16_t node, uint32_t proto)
{
    ly_pmsg_init(m, LY_PM_HELLO);
    m->pm_node = node;
    m->pm_incarnation = s_tp.t_incarnation;
    snprintf(m->pm_name, sizeof m->pm_name, "test-peer");
    m->pm_program = 1;
    m->pm_proto = proto;
    snprintf(m->pm_client, sizeof m->pm_client, "tcp://127.0.0.1:1");
}

static void s_vv9(ly_pmsg *m, uint64_t seq)
{
    m->pm_nvv = 0;
    if (seq > 0)
        m->pm_vv[m->pm_nvv++] = (ly_vv_entry){PT_ID, s_tp.t_incarnation, seq};
}

/* The seq of origin 9 in a message's version vector (0 if absent). */
static uint64_t s_vv_seq_of(const ly_pmsg *m)
{
    for (uint32_t i = 0; i < m->pm_nvv; i++)
        if (m->pm_vv[i].vv_origin == PT_ID && m->pm_vv[i].vv_incarnation == s_tp.t_incarnation)
            return m->pm_vv[i].vv_seq;
    return 0;
}

/* Send n1's DEALER a sync-rep with s_evs[from .. to] (from > to: none). */
static void s_sync_rep(uint64_t from, uint64_t to, int more)
{
    ly_pmsg rep;
    ly_pmsg_init(&rep, LY_PM_SYNC_REP);
    rep.pm_node = PT_ID;
    rep.pm_more = (uint8_t)more;
    if (from <= to) {
        rep.pm_events = &s_evs[from]; /* borrowed */
        rep.pm_nevents = (uint32_t)(to - from + 1);
    }
    size_t len;
    uint8_t *buf = s_encode(&rep, &len);
    cr_assert_gt(s_tp.t_node_ident_len, 0, "n1's DEALER never reached the test peer");
    s_send_raw(s_tp.t_router, s_tp.t_node_ident, s_tp.t_node_ident_len, ZMQ_SNDMORE);
    s_send_raw(s_tp.t_router, buf, len, 0);
    free(buf);
}

/* Answer a sync-req of n1 as a well-behaved peer holding s_evs[1 .. offer]. */
static void s_answer_sync(const ly_pmsg *req, uint64_t offer)
{
    uint64_t from = s_vv_seq_of(req) + 1, to = offer;
    int more = 0;
    if (from <= to && to - from + 1 > req->pm_max) {
        to = from + req->pm_max - 1;
        more = 1;
    }
    s_sync_rep(from, to, more);
}

/* Handle what n1 sent to our ROUTER: welcome its hellos, keep its sync-reqs;
 * and send our heartbeat when due. Never blocks. */
static void s_pump(void)
{
    for (;;) {
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, s_tp.t_router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            break;
        }
        zmq_msg_init(&body);
        int got = zmq_msg_more(&id) && zmq_msg_recv(&body, s_tp.t_router, 0) >= 0;
        while (got && zmq_msg_more(&body)) { /* n1 sends one frame; drop extras */
            zmq_msg_t extra;
            zmq_msg_init(&extra);
            zmq_msg_recv(&extra, s_tp.t_router, 0);
            zmq_msg_close(&extra);
            got = 0;
        }
        ly_pmsg m;
        char why[200] = "";
        ly_pmsg_init(&m, 0);
        if (got && ly_pmsg_decode(zmq_msg_data(&body), zmq_msg_size(&body), &m, why, sizeof why) ==
                       LY_OK) {
            size_t il = zmq_msg_size(&id);
            if (il <= sizeof s_tp.t_node_ident) {
                memcpy(s_tp.t_node_ident, zmq_msg_data(&id), il);
                s_tp.t_node_ident_len = il;
            }
            if (m.pm_type == LY_PM_HELLO) {
                s_tp.t_node_hellos++;
                ly_pmsg w;
                ly_pmsg_init(&w, LY_PM_WELCOME);
                w.pm_node = PT_ID;
                w.pm_incarnation = s_tp.t_incarnation;
                snprintf(w.pm_name, sizeof w.pm_name, "test-peer");
                w.pm_program = 1;
                snprintf(w.pm_client, sizeof w.pm_client, "tcp://127.0.0.1:1");
                size_t len;
                uint8_t *buf = s_encode(&w, &len);
                zmq_send(s_tp.t_router, s_tp.t_node_ident, s_tp.t_node_ident_len, ZMQ_SNDMORE);
                zmq_send(s_tp.t_router, buf, len, 0);
                free(buf);
            } else if (m.pm_type == LY_PM_SYNC_REQ) {
                s_tp.t_sync_reqs++;
                s_tp.t_last_req = m;
                if (s_tp.t_auto_sync)
                    s_answer_sync(&m, s_tp.t_offer);
            } else if (m.pm_type == LY_PM_EVENTS) {
                for (uint32_t i = 0; i < m.pm_nevents && s_tp.t_ngot < PT_GOT_MAX; i++)
                    s_tp.t_got[s_tp.t_ngot++] = m.pm_events[i];
            } else if (m.pm_type == LY_PM_HEARTBEAT) {
                s_tp.t_node_hbs++;
            } else if (m.pm_type == LY_PM_RIGHTS_REQ) {
                s_tp.t_rights_reqs++;
                snprintf(s_tp.t_rights_cust, sizeof s_tp.t_rights_cust, "%s", m.pm_customer);
            }
        } else if (got) {
            cr_log_warn("n1 sent the test peer an undecodable frame: %s", why);
        }
        ly_pmsg_fini(&m);
        zmq_msg_close(&id);
        zmq_msg_close(&body);
    }
    if (s_tp.t_hb && lyh_now_ms() >= s_tp.t_hb_next_ms) {
        s_tp.t_hb_next_ms = lyh_now_ms() + 1000;
        ly_pmsg hb;
        ly_pmsg_init(&hb, LY_PM_HEARTBEAT);
        hb.pm_node = PT_ID;
        hb.pm_hlc = ly_wall_ms() << 16;
        hb.pm_events_total = s_tp.t_hb_seq;
        s_vv9(&hb, s_tp.t_hb_seq);
        size_t len;
        uint8_t *buf = s_encode(&hb, &len);
        zmq_send(s_tp.t_dealer, buf, len, ZMQ_DONTWAIT);
        free(buf);
    }
}

/* Wait for one message on `sock` (a DEALER of ours) while pumping the ROUTER.
 * Returns 1 and fills *m (decoded; fini it), or 0 if none came in `ms`. */
static int s_recv(void *sock, int ms, ly_pmsg *m)
{
    uint64_t deadline = lyh_now_ms() + (uint64_t)ms;
    ly_pmsg_init(m, 0);
    for (;;) {
        s_pump();
        zmq_pollitem_t pi[2] = {{sock, 0, ZMQ_POLLIN, 0}, {s_tp.t_router, 0, ZMQ_POLLIN, 0}};
        uint64_t now = lyh_now_ms();
        if (now >= deadline)
            return 0;
        long wait = (long)(deadline - now);
        zmq_poll(pi, 2, wait > 100 ? 100 : wait);
        if (!(pi[0].revents & ZMQ_POLLIN))
            continue;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        cr_assert_geq(zmq_msg_recv(&msg, sock, 0), 0);
        cr_assert_not(zmq_msg_more(&msg), "n1 sent a multi-frame peer message");
        char why[200];
        ly_err e = ly_pmsg_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), m, why, sizeof why);
        zmq_msg_close(&msg);
        cr_assert_eq(e, LY_OK, "n1 sent an undecodable peer message: %s: %s", ly_errname(e), why);
        return 1;
    }
}

/* Wait for a reply of `type` on `sock`; other replies in between are a failure. */
static void s_expect(void *sock, int type, const char *after, ly_pmsg *out)
{
    ly_pmsg m;
    int got = s_recv(sock, PT_WAIT_MS, &m);
    cr_assert(got, "no %s from n1 within %d ms after %s", ly_pmsgtype_name(type), PT_WAIT_MS,
              after);
    cr_assert_eq(m.pm_type, type, "n1 answered %s with %s (reason '%s'), expected %s", after,
                 ly_pmsgtype_name(m.pm_type), m.pm_reason, ly_pmsgtype_name(type));
    cr_assert_eq(m.pm_node, 1, "%s from node %u, expected 1", ly_pmsgtype_name(type), m.pm_node);
    if (out != NULL)
        *out = m;
    else
        ly_pmsg_fini(&m);
}

static void s_open_peer(void)
{
    s_tp.t_ctx = zmq_ctx_new();
    cr_assert_not_null(s_tp.t_ctx);
    s_tp.t_router = zmq_socket(s_tp.t_ctx, ZMQ_ROUTER);
    cr_assert_not_null(s_tp.t_router);
    s_setopt_int(s_tp.t_router, ZMQ_LINGER, 0);
    int bound = -1;
    for (int i = 0; i < 5 && bound != 0; i++) {
        snprintf(s_tp.t_endpoint, sizeof s_tp.t_endpoint, "tcp://127.0.0.1:%d", lyh_free_port());
        bound = zmq_bind(s_tp.t_router, s_tp.t_endpoint);
    }
    cr_assert_eq(bound, 0, "unable to bind the test peer's ROUTER");
    s_tp.t_incarnation = (uint32_t)(lyh_now_us() & 0x7fffffff) | 1u;
}

/* Start n1 with the test peer configured, say hello on the main session. */
static void s_start(const char *name)
{
    s_cust = calloc(1, sizeof *s_cust);
    cr_assert_not_null(s_cust);
    ly_cust_init(s_cust, PT_CUST);
    s_applied = 0;
    s_open_peer();
    char extra[256];
    snprintf(extra, sizeof extra, "[peer test]\nid = %d\nendpoint = %s\n", PT_ID, s_tp.t_endpoint);
    s_node = lyh_node_new(1, name, extra);
    cr_assert_not_null(s_node, "unable to set up the node");
    cr_assert_eq(lyh_node_up(s_node, PT_READY_MS), 0, "loyald did not start");

    s_tp.t_dealer = s_dealer();
    s_forget(s_tp.t_dealer);
    ly_pmsg m;
    s_hello_msg(&m, PT_ID, LY_PEER_PROTO);
    s_send_pmsg(s_tp.t_dealer, &m);
    ly_pmsg w;
    s_expect(s_tp.t_dealer, LY_PM_WELCOME, "the test peer's hello", &w);
    ly_node_status st;
    cr_assert_eq(lyh_node_status(s_node, PT_CALL_MS, &st), LY_OK);
    cr_assert_eq(w.pm_incarnation, st.ns_incarnation, "welcome names incarnation %u, status %u",
                 w.pm_incarnation, st.ns_incarnation);
    cr_assert_str_eq(w.pm_name, name);
    cr_assert_str_eq(w.pm_client, s_node->nd_listen, "welcome announces client '%s'", w.pm_client);
    ly_pmsg_fini(&w);
    s_tp.t_hb = 1;
    s_tp.t_auto_sync = 1;

    /* Build the events of origin 9: an enroll, then earns, adjusts, redeems. */
    uint64_t hlc0 = ly_wall_ms() << 16;
    for (int k = 1; k <= PT_EVS_MAX; k++) {
        ly_event *ev = &s_evs[k];
        memset(ev, 0, sizeof *ev);
        ev->ev_origin = PT_ID;
        ev->ev_incarnation = s_tp.t_incarnation;
        ev->ev_seq = (uint64_t)k;
        ev->ev_hlc = hlc0 + (uint64_t)k;
        ev->ev_program = 1;
        ev->ev_req_hash = 0x9e3779b97f4a7c15ULL * (uint64_t)k;
        snprintf(ev->ev_customer, sizeof ev->ev_customer, "%s", PT_CUST);
        snprintf(ev->ev_txn, sizeof ev->ev_txn, "pt9-%03d", k);
        if (k == 1) {
            ev->ev_type = LY_EV_ENROLL;
            ev->ev_fields = LY_PF_NAME;
            snprintf(ev->ev_profile.pf_name, sizeof ev->ev_profile.pf_name, "Peer Customer");
        } else if (k % 7 == 0) {
            ev->ev_type = LY_EV_REDEEM;
            ev->ev_amount = 3;
            ev->ev_points = -3;
        } else if (k % 5 == 0) {
            ev->ev_type = LY_EV_ADJUST;
            ev->ev_amount = ev->ev_points = 11;
            snprintf(ev->ev_reason, sizeof ev->ev_reason, "peer goodwill");
            snprintf(ev->ev_operator, sizeof ev->ev_operator, "op9");
        } else {
            ev->ev_type = LY_EV_EARN;
            ev->ev_amount = 100 * k + 37;
            ev->ev_points = ev->ev_qual = ev->ev_amount / 100;
            ev->ev_qual_day = LY_HLC_DAY(ev->ev_hlc);
        }
        cr_assert_eq(ly_event_validate(ev), LY_OK, "test event %d is invalid", k);
    }
}

/* Remember the store as it is before any origin-9 event. */
static void s_baseline(void)
{
    ly_node_status st;
    cr_assert_eq(lyh_node_status(s_node, PT_CALL_MS, &st), LY_OK);
    cr_assert_eq(lyh_status_vv(&st, PT_ID), 0);
    s_events0 = st.ns_events;
    s_digest0 = st.ns_digest;
    s_nvv0 = st.ns_nvv;
}

/* A fresh node holds nothing: the baseline is empty. */
static void s_baseline_none(void)
{
    s_events0 = s_digest0 = 0;
    s_nvv0 = 0;
}

/* An events message of origin 9 with s_evs[first .. first + n - 1]. */
static void s_events_msg(ly_pmsg *m, uint64_t first, uint32_t n)
{
    ly_pmsg_init(m, LY_PM_EVENTS);
    m->pm_node = PT_ID;
    m->pm_origin = PT_ID;
    m->pm_incarnation = s_tp.t_incarnation;
    m->pm_prev = first - 1;
    m->pm_events = &s_evs[first]; /* borrowed: never fini'd */
    m->pm_nevents = n;
}

static uint8_t *s_events_frame(uint64_t first, uint32_t n, size_t *len)
{
    ly_pmsg m;
    s_events_msg(&m, first, n);
    return s_encode(&m, len);
}

static void s_send_events(void *sock, uint64_t first, uint32_t n)
{
    size_t len;
    uint8_t *buf = s_events_frame(first, n, &len);
    s_send_raw(sock, buf, len, 0);
    free(buf);
}

/* Check the store holds exactly the baseline plus origin-9 events 1..s_applied
 * (each once): vv, event count, digest, and the customer's balance. */
static void s_check_store(const char *what)
{
    cr_assert(lyh_node_alive(s_node, NULL), "loyald died after %s", what);
    ly_node_status st;
    ly_err e = lyh_node_status(s_node, PT_CALL_MS, &st);
    cr_assert_eq(e, LY_OK, "status after %s: %s", what, ly_errname(e));
    cr_assert_eq(lyh_status_vv(&st, PT_ID), s_applied,
                 "after %s: origin 9 at seq %llu, expected %llu", what,
                 (unsigned long long)lyh_status_vv(&st, PT_ID), (unsigned long long)s_applied);
    cr_assert_eq(st.ns_nvv, s_nvv0 + (s_applied > 0),
                 "after %s: %u version vector entries, expected %u", what, st.ns_nvv,
                 s_nvv0 + (s_applied > 0));
    cr_assert_eq(st.ns_events, s_events0 + s_applied, "after %s: %llu events, expected %llu", what,
                 (unsigned long long)st.ns_events, (unsigned long long)(s_events0 + s_applied));
    uint64_t digest = s_digest0 + (s_applied > 0 ? ly_cust_hash(s_cust) : 0);
    cr_assert_eq(st.ns_digest, digest, "after %s: digest %016llx, expected %016llx", what,
                 (unsigned long long)st.ns_digest, (unsigned long long)digest);
    if (s_applied == 0)
        return;
    ly_client *c = lyh_client(s_node, PT_CALL_MS);
    cr_assert_not_null(c);
    ly_req rq;
    ly_rep rp;
    ly_req_init(&rq, LY_MSG_CUSTOMER);
    snprintf(rq.rq_customer, sizeof rq.rq_customer, "%s", PT_CUST);
    rq.rq_limit = LY_HIST_MAX;
    e = ly_client_call(c, &rq, &rp);
    cr_assert_eq(e, LY_OK, "customer after %s: %s", what, ly_errname(e));
    cr_assert_eq(rp.rp_err, LY_OK, "customer after %s: %s", what, ly_errname((ly_err)rp.rp_err));
    cr_assert_eq(rp.rp_balance, ly_cust_balance(s_cust), "after %s: balance %lld, expected %lld",
                 what, (long long)rp.rp_balance, (long long)ly_cust_balance(s_cust));
    cr_assert_eq(rp.rp_lifetime, s_cust->cu_lifetime, "after %s: lifetime %lld, expected %lld",
                 what, (long long)rp.rp_lifetime, (long long)s_cust->cu_lifetime);
    uint32_t nhist = s_applied < LY_HIST_MAX ? (uint32_t)s_applied : LY_HIST_MAX;
    cr_assert_eq(rp.rp_nhist, nhist, "after %s: %u history entries, expected %u", what, rp.rp_nhist,
                 nhist);
    ly_rep_fini(&rp);
    ly_client_destroy(&c);
}

/* Poll until origin 9 reaches `seq` at n1 (or PT_WAIT_MS pass), then account
 * events s_applied+1..seq as applied and check the store exactly. */
static void s_wait_applied(uint64_t seq, const char *what)
{
    uint64_t deadline = lyh_now_ms() + PT_WAIT_MS, have = 0;
    for (;;) {
        s_pump();
        ly_node_status st;
        if (lyh_node_status(s_node, PT_CALL_MS, &st) == LY_OK) {
            have = lyh_status_vv(&st, PT_ID);
            if (have >= seq)
                break;
        }
        cr_assert_lt(lyh_now_ms(), deadline,
                     "after %s: origin 9 stays at seq %llu, expected %llu within %d ms", what,
                     (unsigned long long)have, (unsigned long long)seq, PT_WAIT_MS);
        lyh_sleep_ms(20);
    }
    cr_assert_eq(have, seq, "after %s: origin 9 at seq %llu, expected %llu", what,
                 (unsigned long long)have, (unsigned long long)seq);
    for (uint64_t k = s_applied + 1; k <= seq; k++)
        ly_cust_apply(s_cust, &s_evs[k]);
    s_applied = seq;
    s_tp.t_hb_seq = s_tp.t_offer = seq;
    s_check_store(what);
}

/* SIGTERM n1: it must exit 0 (under LY_SANITIZE: no leak, no error). */
static void s_stop_clean(void)
{
    int code = lyh_node_stop(s_node, 20000);
    if (code != 0)
        lyh_print_tail(s_node->nd_log, 40);
    cr_assert_eq(code, 0, "loyald exited %d on SIGTERM", code);
}

/* ---- (a) exactly once -------------------------------------------------------- */

Test(peer_input, duplicated_reordered_replayed_events_apply_exactly_once)
{
    s_start("exactly");
    s_baseline();

    s_send_events(s_tp.t_dealer, 1, 2);
    s_wait_applied(2, "events 1-2");

    s_send_events(s_tp.t_dealer, 1, 2); /* duplicate */
    s_send_events(s_tp.t_dealer, 1, 1); /* part of it again */
    s_send_events(s_tp.t_dealer, 3, 2);
    s_wait_applied(4, "a duplicated batch, then events 3-4");

    /* Reordered: 7-8 before 5-6. 7-8 is a gap: dropped, and n1 asks us to catch it
     * up. Our heartbeats still say 4, so only the gap can prompt that request; we
     * hold the answer for now. */
    s_tp.t_auto_sync = 0;
    int reqs = s_tp.t_sync_reqs;
    s_send_events(s_tp.t_dealer, 7, 2);
    uint64_t deadline = lyh_now_ms() + PT_WAIT_MS;
    while (s_tp.t_sync_reqs == reqs && lyh_now_ms() < deadline) {
        s_pump();
        lyh_sleep_ms(20);
    }
    cr_assert_gt(s_tp.t_sync_reqs, reqs,
                 "n1 did not ask the test peer for a catch-up within %d ms of a gap (7-8 after 4)",
                 PT_WAIT_MS);
    ly_pmsg req = s_tp.t_last_req;
    cr_assert_eq(req.pm_node, 1);
    cr_assert_eq(s_vv_seq_of(&req), 4, "n1's sync-req says it holds origin 9 up to %llu, not 4",
                 (unsigned long long)s_vv_seq_of(&req));
    s_check_store("a gapped batch (7-8 while 4 is the last)");

    s_send_events(s_tp.t_dealer, 5, 2);
    s_wait_applied(6, "events 5-6 after the gap");
    s_send_events(s_tp.t_dealer, 7, 2);
    s_send_events(s_tp.t_dealer, 7, 2);
    s_wait_applied(8, "events 7-8 (twice)");

    /* Answer the catch-up request late, overlapping what arrived since: 5..10. */
    s_sync_rep(5, 10, 0);
    s_wait_applied(10, "a sync-rep of 5-10 (5-8 held already)");
    s_tp.t_auto_sync = 1;

    /* Replays of old batches, live and as catch-up, then one new event. */
    s_send_events(s_tp.t_dealer, 3, 2);
    s_send_events(s_tp.t_dealer, 1, 10);
    s_send_events(s_tp.t_dealer, 9, 2);
    s_sync_rep(1, 10, 0);
    s_send_events(s_tp.t_dealer, 11, 1);
    s_wait_applied(11, "replays of 1-10, then event 11");

    /* A large batch, then the whole history again. */
    s_send_events(s_tp.t_dealer, 12, 150);
    s_send_events(s_tp.t_dealer, 1, 161);
    s_send_events(s_tp.t_dealer, 162, 1);
    s_wait_applied(162, "150 events, the whole history again, one more");
    s_stop_clean();
}

/* ---- (b) catch-up requests ----------------------------------------------------- */

/* Ask n1 for a catch-up on the main session; returns its sync-rep (fini it). */
static void s_sync_ask(const ly_vv_entry *vv, uint32_t nvv, uint32_t max, ly_pmsg *rep)
{
    ly_pmsg *req = calloc(1, sizeof *req);
    cr_assert_not_null(req);
    ly_pmsg_init(req, LY_PM_SYNC_REQ);
    req->pm_node = PT_ID;
    req->pm_max = max;
    req->pm_nvv = nvv;
    memcpy(req->pm_vv, vv, nvv * sizeof *vv);
    s_send_pmsg(s_tp.t_dealer, req);
    free(req);
    s_expect(s_tp.t_dealer, LY_PM_SYNC_REP, "a sync-req", rep);
}

static int s_same_event(const ly_event *a, const ly_event *b)
{
    return a->ev_origin == b->ev_origin && a->ev_incarnation == b->ev_incarnation &&
           a->ev_seq == b->ev_seq && a->ev_hlc == b->ev_hlc && a->ev_type == b->ev_type &&
           a->ev_amount == b->ev_amount && a->ev_points == b->ev_points &&
           a->ev_qual == b->ev_qual && a->ev_qual_day == b->ev_qual_day &&
           a->ev_fields == b->ev_fields && strcmp(a->ev_customer, b->ev_customer) == 0 &&
           strcmp(a->ev_txn, b->ev_txn) == 0 && strcmp(a->ev_reason, b->ev_reason) == 0 &&
           strcmp(a->ev_profile.pf_name, b->ev_profile.pf_name) == 0;
}

#define PB_OWN_CUST 3
#define PB_OWN_EARN 5
#define PB_OWN      (PB_OWN_CUST + PB_OWN_EARN)
#define PB_THEIRS   4

/* The event `ev` must be the one n1 holds as `own[]` (origin 1) or s_evs (origin 9). */
static void s_expect_known(const ly_event *ev, const ly_event *own, uint32_t inc1)
{
    if (ev->ev_origin == 1) {
        cr_assert(ev->ev_incarnation == inc1 && ev->ev_seq >= 1 && ev->ev_seq <= PB_OWN,
                  "sync-rep holds origin 1 incarnation %u seq %llu, n1 has incarnation %u seqs "
                  "1..%d",
                  ev->ev_incarnation, (unsigned long long)ev->ev_seq, inc1, PB_OWN);
        cr_assert(s_same_event(ev, &own[ev->ev_seq - 1]),
                  "sync-rep's event 1/%llu differs from n1's own listing of it",
                  (unsigned long long)ev->ev_seq);
    } else {
        cr_assert(ev->ev_origin == PT_ID && ev->ev_seq >= 1 && ev->ev_seq <= PB_THEIRS,
                  "sync-rep holds an event of origin %u seq %llu", ev->ev_origin,
                  (unsigned long long)ev->ev_seq);
        cr_assert(s_same_event(ev, &s_evs[ev->ev_seq]),
                  "sync-rep's event 9/%llu differs from the one the test peer sent",
                  (unsigned long long)ev->ev_seq);
    }
}

/* Per origin in seq order, starting right after what the asker holds. */
static void s_expect_order(const ly_pmsg *rep, uint64_t have1, uint64_t have9)
{
    uint64_t next1 = have1 + 1, next9 = have9 + 1;
    for (uint32_t i = 0; i < rep->pm_nevents; i++) {
        const ly_event *ev = &rep->pm_events[i];
        uint64_t *next = ev->ev_origin == 1 ? &next1 : &next9;
        cr_assert_eq(ev->ev_seq, *next,
                     "sync-rep event %u: origin %u seq %llu where seq %llu was due", i,
                     ev->ev_origin, (unsigned long long)ev->ev_seq, (unsigned long long)*next);
        (*next)++;
    }
}

Test(peer_input, sync_req_gets_what_the_asker_lacks_of_every_origin)
{
    s_start("syncer");
    /* n1's own events: enrollments and earns. */
    ly_client *c = lyh_client(s_node, PT_CALL_MS);
    cr_assert_not_null(c);
    for (int i = 0; i < PB_OWN; i++) {
        ly_req rq;
        ly_rep rp;
        ly_req_init(&rq, i < PB_OWN_CUST ? LY_MSG_ENROLL : LY_MSG_EARN);
        snprintf(rq.rq_customer, sizeof rq.rq_customer, "own-%d", i % PB_OWN_CUST);
        snprintf(rq.rq_txn, sizeof rq.rq_txn, "own-txn-%d", i);
        rq.rq_amount = i < PB_OWN_CUST ? 0 : 1000 + i;
        cr_assert_eq(ly_client_call(c, &rq, &rp), LY_OK);
        cr_assert_eq(rp.rp_err, LY_OK, "own operation %d: %s", i, rp.rp_message);
        ly_rep_fini(&rp);
    }
    ly_event own[PB_OWN];
    ly_req rq;
    ly_rep rp;
    ly_req_init(&rq, LY_MSG_EVENTS);
    rq.rq_origin = 1;
    cr_assert_eq(ly_client_call(c, &rq, &rp), LY_OK);
    cr_assert_eq(rp.rp_err, LY_OK);
    cr_assert_eq(rp.rp_nevents, PB_OWN);
    memcpy(own, rp.rp_events, sizeof own);
    ly_rep_fini(&rp);
    ly_client_destroy(&c);
    uint32_t inc1 = own[0].ev_incarnation;

    s_baseline();
    s_send_events(s_tp.t_dealer, 1, PB_THEIRS);
    s_wait_applied(PB_THEIRS, "the test peer's events");

    ly_pmsg rep;
    /* Holding all of origin 9 and nothing of n1: n1's own events. */
    ly_vv_entry vv[2] = {{PT_ID, s_tp.t_incarnation, PB_THEIRS}, {1, inc1, 0}};
    s_sync_ask(vv, 1, 1000, &rep);
    cr_assert_eq(rep.pm_nevents, PB_OWN, "asked with origin 9 held: %u events, expected n1's %d",
                 rep.pm_nevents, PB_OWN);
    cr_assert_eq(rep.pm_more, 0);
    for (uint32_t i = 0; i < rep.pm_nevents; i++) {
        cr_assert_eq(rep.pm_events[i].ev_origin, 1);
        s_expect_known(&rep.pm_events[i], own, inc1);
    }
    s_expect_order(&rep, 0, PB_THEIRS);
    ly_pmsg_fini(&rep);

    /* Holding nothing: every origin, the asker's own included. */
    s_sync_ask(vv, 0, 1000, &rep);
    cr_assert_eq(rep.pm_nevents, PB_OWN + PB_THEIRS, "asked with nothing held: %u events of %d",
                 rep.pm_nevents, PB_OWN + PB_THEIRS);
    cr_assert_eq(rep.pm_more, 0);
    for (uint32_t i = 0; i < rep.pm_nevents; i++)
        s_expect_known(&rep.pm_events[i], own, inc1);
    s_expect_order(&rep, 0, 0);
    ly_pmsg_fini(&rep);

    /* Holding part of each. */
    vv[0].vv_seq = 2;
    vv[1].vv_seq = 5;
    s_sync_ask(vv, 2, 1000, &rep);
    cr_assert_eq(rep.pm_nevents, (PB_OWN - 5) + (PB_THEIRS - 2), "asked with 1:5 9:2: %u events",
                 rep.pm_nevents);
    for (uint32_t i = 0; i < rep.pm_nevents; i++)
        s_expect_known(&rep.pm_events[i], own, inc1);
    s_expect_order(&rep, 5, 2);
    ly_pmsg_fini(&rep);

    /* Bounded batches: max 3 from nothing, until "more" is 0. */
    uint64_t have1 = 0, have9 = 0;
    int pages = 0, total = 0;
    for (;;) {
        ly_vv_entry cur[2];
        uint32_t n = 0;
        if (have9)
            cur[n++] = (ly_vv_entry){PT_ID, s_tp.t_incarnation, have9};
        if (have1)
            cur[n++] = (ly_vv_entry){1, inc1, have1};
        s_sync_ask(cur, n, 3, &rep);
        pages++;
        cr_assert_leq(rep.pm_nevents, 3, "a sync-rep for max 3 holds %u events", rep.pm_nevents);
        s_expect_order(&rep, have1, have9);
        for (uint32_t i = 0; i < rep.pm_nevents; i++) {
            s_expect_known(&rep.pm_events[i], own, inc1);
            if (rep.pm_events[i].ev_origin == 1)
                have1 = rep.pm_events[i].ev_seq;
            else
                have9 = rep.pm_events[i].ev_seq;
        }
        total += (int)rep.pm_nevents;
        int more = rep.pm_more;
        ly_pmsg_fini(&rep);
        if (!more)
            break;
        cr_assert_lt(pages, 20, "sync-reps of max 3 still say 'more' after %d pages", pages);
    }
    cr_assert_eq(total, PB_OWN + PB_THEIRS, "paging with max 3 gave %d events, expected %d", total,
                 PB_OWN + PB_THEIRS);
    cr_assert_eq(have1, PB_OWN);
    cr_assert_eq(have9, PB_THEIRS);
    cr_assert_geq(pages, (PB_OWN + PB_THEIRS + 2) / 3);
    cr_log_info("(b) %d events in %d sync-reps of at most 3", total, pages);

    /* Up to date: nothing, no "more". */
    vv[0].vv_seq = PB_THEIRS;
    vv[1].vv_seq = PB_OWN;
    s_sync_ask(vv, 2, 1000, &rep);
    cr_assert_eq(rep.pm_nevents, 0, "an up-to-date asker got %u events", rep.pm_nevents);
    cr_assert_eq(rep.pm_more, 0);
    ly_pmsg_fini(&rep);

    s_check_store("the sync-reqs (they change nothing)");
    s_stop_clean();
}

/* ---- (c) bad input ------------------------------------------------------------ */

/* Rewrite a valid frame: replace the top-level `key` (or, with ev >= 0, that key
 * of event `ev` in "evs") by an unsigned or signed integer, or drop it. */
enum { ED_UINT, ED_INT, ED_DROP, ED_STR };

typedef struct pt_edit {
    const char *e_key;
    int e_ev;
    int e_kind;
    uint64_t e_u;
    int64_t e_i;
    const char *e_s;
} pt_edit;

static int s_key_is(const msgpack_object *k, const char *name)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(name) &&
           memcmp(k->via.str.ptr, name, k->via.str.size) == 0;
}

static void s_pack_map_edited(msgpack_packer *pk, const msgpack_object_map *map, const pt_edit *ed)
{
    uint32_t n = map->size;
    for (uint32_t i = 0; i < map->size; i++)
        if (ed->e_kind == ED_DROP && s_key_is(&map->ptr[i].key, ed->e_key))
            n--;
    msgpack_pack_map(pk, n);
    for (uint32_t i = 0; i < map->size; i++) {
        const msgpack_object_kv *kv = &map->ptr[i];
        if (!s_key_is(&kv->key, ed->e_key)) {
            msgpack_pack_object(pk, kv->key);
            msgpack_pack_object(pk, kv->val);
        } else if (ed->e_kind != ED_DROP) {
            msgpack_pack_object(pk, kv->key);
            if (ed->e_kind == ED_UINT)
                msgpack_pack_uint64(pk, ed->e_u);
            else if (ed->e_kind == ED_INT)
                msgpack_pack_int64(pk, ed->e_i);
            else
                msgpack_pack_str_with_body(pk, ed->e_s, strlen(ed->e_s));
        }
    }
}

static uint8_t *s_take(msgpack_sbuffer *sb, size_t *len)
{
    *len = sb->size;
    uint8_t *out = malloc(sb->size);
    cr_assert_not_null(out);
    memcpy(out, sb->data, sb->size);
    msgpack_sbuffer_destroy(sb);
    return out;
}

/* The map `top` packed into a new frame (s_take) as it is, but for the array
 * under "evs": its elements, element ed->e_ev edited by `ed` (NULL: none),
 * followed by the elements of `more` (NULL: none). */
static uint8_t *s_repack_evs(const msgpack_object_map *top, const pt_edit *ed,
                             const msgpack_object_array *more, size_t *out_len)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, top->size);
    for (uint32_t i = 0; i < top->size; i++) {
        const msgpack_object_kv *kv = &top->ptr[i];
        msgpack_pack_object(&pk, kv->key);
        if (!s_key_is(&kv->key, "evs")) {
            msgpack_pack_object(&pk, kv->val);
            continue;
        }
        cr_assert_eq(kv->val.type, MSGPACK_OBJECT_ARRAY);
        const msgpack_object_array *arr = &kv->val.via.array;
        if (ed != NULL)
            cr_assert_lt((uint32_t)ed->e_ev, arr->size);
        msgpack_pack_array(&pk, arr->size + (more != NULL ? more->size : 0));
        for (uint32_t j = 0; j < arr->size; j++) {
            if (ed != NULL && j == (uint32_t)ed->e_ev)
                s_pack_map_edited(&pk, &arr->ptr[j].via.map, ed);
            else
                msgpack_pack_object(&pk, arr->ptr[j]);
        }
        for (uint32_t j = 0; more != NULL && j < more->size; j++)
            msgpack_pack_object(&pk, more->ptr[j]);
    }
    return s_take(&sb, out_len);
}

static uint8_t *s_edit(const uint8_t *buf, size_t len, pt_edit ed, size_t *out_len)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&up, (const char *)buf, len, &off), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(up.data.type, MSGPACK_OBJECT_MAP);
    const msgpack_object_map *top = &up.data.via.map;
    uint8_t *out;
    if (ed.e_ev < 0) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        s_pack_map_edited(&pk, top, &ed);
        out = s_take(&sb, out_len);
    } else {
        out = s_repack_evs(top, &ed, NULL, out_len);
    }
    msgpack_unpacked_destroy(&up);
    return out;
}

/* The map of frame `a` with "evs" = a's events followed by b's. */
static uint8_t *s_join_evs(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                           size_t *out_len)
{
    msgpack_unpacked ua, ub;
    msgpack_unpacked_init(&ua);
    msgpack_unpacked_init(&ub);
    size_t oa = 0, ob = 0;
    cr_assert_eq(msgpack_unpack_next(&ua, (const char *)a, alen, &oa), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(msgpack_unpack_next(&ub, (const char *)b, blen, &ob), MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *evb = NULL;
    for (uint32_t i = 0; i < ub.data.via.map.size; i++)
        if (s_key_is(&ub.data.via.map.ptr[i].key, "evs"))
            evb = &ub.data.via.map.ptr[i].val;
    cr_assert_not_null(evb);
    uint8_t *out = s_repack_evs(&ua.data.via.map, NULL, &evb->via.array, out_len);
    msgpack_unpacked_destroy(&ua);
    msgpack_unpacked_destroy(&ub);
    return out;
}

/* A valid event of origin 9 for seq `seq` that differs from s_evs[seq]: if the
 * node ever applied it, the digest would show it even after the real one. */
static ly_event s_poison(uint64_t seq)
{
    ly_event ev = s_evs[seq];
    ev.ev_type = LY_EV_EARN;
    ev.ev_amount = 999900;
    ev.ev_points = ev.ev_qual = 9999;
    ev.ev_qual_day = LY_HLC_DAY(ev.ev_hlc);
    ev.ev_reason[0] = ev.ev_operator[0] = '\0';
    snprintf(ev.ev_txn, sizeof ev.ev_txn, "poison-%llu", (unsigned long long)seq);
    return ev;
}

/* An events message of `origin` (incarnation `inc`, prev `prev`) holding `evs`. */
static uint8_t *s_frame_of(uint16_t origin, uint32_t inc, uint64_t prev, ly_event *evs, uint32_t n,
                           size_t *len)
{
    ly_pmsg m;
    ly_pmsg_init(&m, LY_PM_EVENTS);
    m.pm_node = PT_ID;
    m.pm_origin = origin;
    m.pm_incarnation = inc;
    m.pm_prev = prev;
    m.pm_events = evs;
    m.pm_nevents = n;
    return s_encode(&m, len);
}

/* Poisoned events seq .. seq + n - 1 of origin 9, as one valid message. */
static uint8_t *s_poison_frame(uint64_t seq, uint32_t n, size_t *len)
{
    ly_event evs[4];
    cr_assert_leq(n, 4);
    for (uint32_t i = 0; i < n; i++)
        evs[i] = s_poison(seq + i);
    return s_frame_of(PT_ID, s_tp.t_incarnation, seq - 1, evs, n, len);
}

/* After bad input: the next real event of origin 9 goes through the main
 * session, and then the store must hold exactly what it should. If the bad
 * input was sent on the main session itself, n1 may have forgotten that
 * session (`rehello_ok`): it then answers hello-required and we say hello
 * again; otherwise hello-required is a failure. */
static void s_sentinel(const char *after, int rehello_ok)
{
    uint64_t seq = s_applied + 1;
    uint64_t deadline = lyh_now_ms() + PT_WAIT_MS;
    int rehellos = 0, hello_out = 0;
    s_send_events(s_tp.t_dealer, seq, 1);
    for (;;) {
        ly_pmsg m;
        if (s_recv(s_tp.t_dealer, 30, &m)) {
            int type = m.pm_type;
            ly_pmsg_fini(&m);
            if (type == LY_PM_HELLO_REQUIRED) {
                /* One per message n1 did not take; one hello answers them all. */
                cr_assert(rehello_ok,
                          "after %s (on another session), n1 forgot the test peer's session",
                          after);
                if (!hello_out) {
                    cr_assert_lt(rehellos++, 3, "n1 keeps asking for hello after %s", after);
                    ly_pmsg h;
                    s_hello_msg(&h, PT_ID, LY_PEER_PROTO);
                    s_send_pmsg(s_tp.t_dealer, &h);
                    hello_out = 1;
                }
            } else if (type == LY_PM_WELCOME) {
                cr_assert(hello_out, "an unasked welcome after %s", after);
                hello_out = 0;
                s_send_events(s_tp.t_dealer, seq, 1);
            } else {
                cr_assert(type == LY_PM_SYNC_REP,
                          "unexpected %s on the test peer's session after %s",
                          ly_pmsgtype_name(type), after);
            }
        }
        ly_node_status st;
        if (!hello_out && lyh_node_status(s_node, PT_CALL_MS, &st) == LY_OK &&
            lyh_status_vv(&st, PT_ID) >= seq)
            break;
        cr_assert(lyh_node_alive(s_node, NULL), "loyald died after %s", after);
        cr_assert_lt(lyh_now_ms(), deadline,
                     "after %s, the next event (seq %llu) was not applied within %d ms%s", after,
                     (unsigned long long)seq, PT_WAIT_MS,
                     hello_out ? " (a new hello was never welcomed)" : "");
    }
    if (rehellos > 0)
        cr_log_info("(c) %s: n1 dropped the session; a new hello was welcomed", after);
    char what[160];
    snprintf(what, sizeof what, "%s (and one valid event)", after);
    s_wait_applied(seq, what);
}

/* Send one frame on the main session, then check nothing changed. */
static void s_bad_frame(const char *name, const void *buf, size_t len)
{
    s_send_raw(s_tp.t_dealer, buf, len, 0);
    s_sentinel(name, 1);
}

static size_t s_log_size(void)
{
    size_t len = 0;
    char *text = lyh_read_file(s_node->nd_log, &len);
    free(text);
    return text ? len : 0;
}

/* 1 if the node's log, from byte `from` on, holds `needle`. */
static int s_log_has(size_t from, const char *needle)
{
    size_t len = 0;
    char *text = lyh_read_file(s_node->nd_log, &len);
    int yes = text != NULL && from < len && strstr(text + from, needle) != NULL;
    free(text);
    return yes;
}

/* A hello that must be refused: a "refused" reply with a reason, a log line,
 * and nothing from that session used afterwards. */
static void s_refused_hello(const char *name, uint16_t node, uint32_t proto)
{
    size_t log_from = s_log_size();
    void *s = s_dealer();
    ly_pmsg h, r;
    s_hello_msg(&h, node, proto);
    s_send_pmsg(s, &h);
    s_expect(s, LY_PM_REFUSED, name, &r);
    cr_assert_neq(r.pm_reason[0], '\0', "%s: refused without a reason", name);
    cr_log_info("(c) %s: refused: %s", name, r.pm_reason);
    ly_pmsg_fini(&r);
    /* Its events are not used: n1 asks for a hello (or refuses again). */
    size_t len;
    ly_event ev = s_poison(s_applied + 1);
    uint8_t *buf = s_frame_of(PT_ID, s_tp.t_incarnation, s_applied, &ev, 1, &len);
    s_send_raw(s, buf, len, 0);
    free(buf);
    ly_pmsg m;
    cr_assert(s_recv(s, PT_WAIT_MS, &m), "%s: no answer to events after a refused hello", name);
    cr_assert(m.pm_type == LY_PM_HELLO_REQUIRED || m.pm_type == LY_PM_REFUSED,
              "%s: events after a refused hello answered with %s", name,
              ly_pmsgtype_name(m.pm_type));
    ly_pmsg_fini(&m);
    s_close(s);
    s_sentinel(name, 0);
    cr_assert(s_log_has(log_from, "refus"), "%s: the refusal is not in the node's log", name);
}

/* A hello that must not be welcomed (undecodable): no welcome within PT_QUIET_MS. */
static void s_unwelcome_hello(const char *name, const uint8_t *buf, size_t len)
{
    void *s = s_dealer();
    s_send_raw(s, buf, len, 0);
    ly_pmsg m;
    if (s_recv(s, PT_QUIET_MS, &m)) {
        cr_assert_neq(m.pm_type, LY_PM_WELCOME, "%s was welcomed", name);
        ly_pmsg_fini(&m);
    }
    s_close(s);
    s_sentinel(name, 0);
}

Test(peer_input, bad_input_is_refused_and_changes_nothing)
{
    s_start("bad");
    s_baseline();
    s_send_events(s_tp.t_dealer, 1, 2);
    s_wait_applied(2, "events 1-2");
    size_t len, len2;
    uint8_t *buf, *buf2, *bad;

    /* -- sessions ----------------------------------------------------------- */
    {
        void *s = s_dealer();
        buf = s_poison_frame(s_applied + 1, 1, &len);
        s_send_raw(s, buf, len, 0);
        free(buf);
        s_expect(s, LY_PM_HELLO_REQUIRED, "events before hello", NULL);
        ly_pmsg hb;
        ly_pmsg_init(&hb, LY_PM_HEARTBEAT);
        hb.pm_node = PT_ID;
        hb.pm_hlc = ly_wall_ms() << 16;
        s_vv9(&hb, 100);
        s_send_pmsg(s, &hb);
        s_expect(s, LY_PM_HELLO_REQUIRED, "a heartbeat before hello", NULL);
        ly_pmsg rq;
        ly_pmsg_init(&rq, LY_PM_SYNC_REQ);
        rq.pm_node = PT_ID;
        rq.pm_max = 100;
        s_send_pmsg(s, &rq);
        s_expect(s, LY_PM_HELLO_REQUIRED, "a sync-req before hello (no events may leak)", NULL);
        s_close(s);
        s_sentinel("messages before hello", 0);
    }
    s_refused_hello("a hello from node 10, not configured", 10, LY_PEER_PROTO);
    s_refused_hello("a hello claiming n1's own id", 1, LY_PEER_PROTO);
    s_refused_hello("a hello of the next peer protocol", PT_ID, LY_PEER_PROTO + 1);
    {
        ly_pmsg h;
        s_hello_msg(&h, PT_ID, LY_PEER_PROTO);
        buf = s_encode(&h, &len);
        bad = s_edit(buf, len, (pt_edit){"v", -1, ED_UINT, LY_PEER_PROTO + 1, 0}, &len2);
        s_unwelcome_hello("a hello whose \"v\" is the next protocol version", bad, len2);
        free(bad);
        bad = s_edit(buf, len, (pt_edit){"node", -1, ED_UINT, 0, 0}, &len2);
        s_unwelcome_hello("a hello from node 0", bad, len2);
        free(bad);
        bad = s_edit(buf, len, (pt_edit){"proto", -1, ED_DROP, 0, 0}, &len2);
        s_unwelcome_hello("a hello without \"proto\"", bad, len2);
        free(bad);
        free(buf);
    }

    /* -- frames on the main session ---------------------------------------- */
    static const uint8_t garbage[] = "\x00garbage\xff\xfe";
    s_bad_frame("garbage bytes", garbage, sizeof garbage - 1);
    s_bad_frame("an empty frame", "", 0);
    s_bad_frame("the reserved byte 0xc1", "\xc1", 1);
    buf = s_poison_frame(s_applied + 1, 1, &len);
    s_bad_frame("a truncated events message", buf, len - 1);
    bad = malloc(len + 1);
    cr_assert_not_null(bad);
    memcpy(bad, buf, len);
    bad[len] = 0xc0;
    s_bad_frame("an events message with a trailing byte", bad, len + 1);
    free(bad);
    free(buf);
    {
        static const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x00};
        static const uint8_t map32[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'v', 0x01};
        static const uint8_t str32[] = {0xdb, 0xff, 0xff, 0xff, 0xff, 'a'};
        static const uint8_t bin32[] = {0xc6, 0x7f, 0xff, 0xff, 0xff, 'a'};
        s_bad_frame("an array declaring 2^32-1 elements", arr32, sizeof arr32);
        s_bad_frame("a map declaring 2^32-1 pairs", map32, sizeof map32);
        s_bad_frame("a string declaring 4 GiB", str32, sizeof str32);
        s_bad_frame("a bin declaring 2 GiB", bin32, sizeof bin32);
    }
    {
        /* A real events message whose "evs" declares 2^31 events (and 2000 with a
         * tiny body): nothing large may be allocated for them. */
        msgpack_sbuffer sb;
        msgpack_packer pk;
        for (int k = 0; k < 2; k++) {
            msgpack_sbuffer_init(&sb);
            msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
            msgpack_pack_map(&pk, 7);
            const char *keys[] = {"v", "t", "node", "origin", "incarnation", "prev"};
            msgpack_pack_str_with_body(&pk, keys[0], 1);
            msgpack_pack_uint64(&pk, LY_PEER_PROTO);
            msgpack_pack_str_with_body(&pk, keys[1], 1);
            msgpack_pack_str_with_body(&pk, "events", 6);
            msgpack_pack_str_with_body(&pk, keys[2], 4);
            msgpack_pack_uint64(&pk, PT_ID);
            msgpack_pack_str_with_body(&pk, keys[3], 6);
            msgpack_pack_uint64(&pk, PT_ID);
            msgpack_pack_str_with_body(&pk, keys[4], 11);
            msgpack_pack_uint64(&pk, s_tp.t_incarnation);
            msgpack_pack_str_with_body(&pk, keys[5], 4);
            msgpack_pack_uint64(&pk, s_applied);
            msgpack_pack_str_with_body(&pk, "evs", 3);
            if (k == 0) {
                static const uint8_t huge[] = {0xdd, 0x7f, 0xff, 0xff, 0xff, 0x80, 0x80};
                msgpack_sbuffer_write(&sb, (const char *)huge, sizeof huge);
            } else {
                msgpack_pack_array(&pk, 2000);
                for (int i = 0; i < 2000; i++)
                    msgpack_pack_map(&pk, 0);
            }
            s_bad_frame(k == 0 ? "\"evs\" declaring 2^31 events" : "\"evs\" of 2000 empty maps",
                        sb.data, sb.size);
            msgpack_sbuffer_destroy(&sb);
        }
    }
    {
        size_t deep = 10001;
        bad = malloc(deep);
        cr_assert_not_null(bad);
        memset(bad, 0x91, deep - 1); /* [[[[...]]]] */
        bad[deep - 1] = 0x00;
        s_bad_frame("10,000 levels of nesting", bad, deep);
        s_bad_frame("33 levels of nesting", bad + deep - 34, 34);
        free(bad);
    }
    {
        /* Two valid events messages as one two-frame message: one frame only. */
        buf = s_poison_frame(s_applied + 1, 1, &len);
        buf2 = s_poison_frame(s_applied + 2, 1, &len2);
        s_send_raw(s_tp.t_dealer, buf, len, ZMQ_SNDMORE);
        s_send_raw(s_tp.t_dealer, buf2, len2, 0);
        free(buf);
        free(buf2);
        s_sentinel("a two-frame message of two valid events messages", 1);
        for (int i = 0; i < 999; i++)
            s_send_raw(s_tp.t_dealer, "\x80", 1, ZMQ_SNDMORE);
        s_send_raw(s_tp.t_dealer, "\x80", 1, 0);
        s_sentinel("a 1,000-frame message", 1);
    }
    {
        size_t big = LY_PEER_FRAME_MAX + 1;
        bad = malloc(big);
        cr_assert_not_null(bad);
        memset(bad, 'x', big);
        s_bad_frame("a frame over 4 MiB", bad, big);
        free(bad);
    }

    /* -- events out of contract: each message refused as a whole ----------- */
    {
        ly_event evs[3];
        uint64_t next = s_applied + 1;
        evs[0] = s_poison(next);
        evs[1] = s_poison(next + 2);
        buf = s_frame_of(PT_ID, s_tp.t_incarnation, next - 1, evs, 1, &len);
        buf2 = s_frame_of(PT_ID, s_tp.t_incarnation, next + 1, evs + 1, 1, &len2);
        bad = s_join_evs(buf, len, buf2, len2, &len);
        s_bad_frame("events whose seqs are not consecutive (n, n+2)", bad, len);
        free(bad);
        free(buf);
        free(buf2);

        buf = s_poison_frame(next, 2, &len);
        bad = s_edit(buf, len, (pt_edit){"prev", -1, ED_UINT, next, 0}, &len2);
        s_bad_frame("events whose 'prev' is not the seq before the first", bad, len2);
        free(bad);
        bad = s_edit(buf, len, (pt_edit){"seq", 1, ED_UINT, next, 0}, &len2);
        s_bad_frame("events with one seq twice", bad, len2);
        free(bad);
        bad = s_edit(buf, len, (pt_edit){"origin", 1, ED_UINT, 5, 0}, &len2);
        s_bad_frame("an events message of origin 9 holding an event of origin 5", bad, len2);
        free(bad);
        bad = s_edit(buf, len, (pt_edit){"incarnation", 1, ED_UINT, s_tp.t_incarnation + 1, 0},
                     &len2);
        s_bad_frame("an event of another incarnation than its message", bad, len2);
        free(bad);
        bad = s_edit(buf, len, (pt_edit){"points", 1, ED_INT, 0, -9999}, &len2);
        s_bad_frame("an earn with negative points after a valid event", bad, len2);
        free(bad);
        free(buf);

        /* A redeem whose points are not -amount, after a valid event. */
        evs[0] = s_poison(next);
        evs[1] = s_poison(next + 1);
        evs[1].ev_type = LY_EV_REDEEM;
        evs[1].ev_amount = 10;
        evs[1].ev_points = -10;
        evs[1].ev_qual = 0;
        buf = s_frame_of(PT_ID, s_tp.t_incarnation, next - 1, evs, 2, &len);
        bad = s_edit(buf, len, (pt_edit){"points", 1, ED_INT, 0, -11}, &len2);
        s_bad_frame("a redeem of 10 with points -11 after a valid event", bad, len2);
        free(bad);
        free(buf);
    }

    /* -- channels --------------------------------------------------------- */
    {
        /* A sync-rep is an answer on n1's DEALER; pushed on its ROUTER it is not used. */
        ly_event pe = s_poison(s_applied + 1);
        ly_pmsg rep;
        ly_pmsg_init(&rep, LY_PM_SYNC_REP);
        rep.pm_node = PT_ID;
        rep.pm_events = &pe;
        rep.pm_nevents = 1;
        buf = s_encode(&rep, &len);
        s_bad_frame("a sync-rep pushed on n1's ROUTER", buf, len);
        free(buf);

        /* sync-req with max out of 1..2000: no answer. */
        ly_pmsg rq;
        ly_pmsg_init(&rq, LY_PM_SYNC_REQ);
        rq.pm_node = PT_ID;
        rq.pm_max = 10;
        buf = s_encode(&rq, &len);
        uint64_t maxes[] = {0, LY_PEER_EVENTS_MAX + 1, UINT32_MAX + 1ULL};
        for (int i = 0; i < 3; i++) {
            bad = s_edit(buf, len, (pt_edit){"max", -1, ED_UINT, maxes[i], 0}, &len2);
            s_send_raw(s_tp.t_dealer, bad, len2, 0);
            free(bad);
            ly_pmsg m;
            if (s_recv(s_tp.t_dealer, PT_QUIET_MS, &m)) {
                cr_assert_neq(m.pm_type, LY_PM_SYNC_REP, "a sync-req with max %llu was answered",
                              (unsigned long long)maxes[i]);
                ly_pmsg_fini(&m);
            }
        }
        free(buf);
        s_sentinel("sync-reqs with max 0, 2001 and 2^32", 1);
    }

    /* -- the peer restarts: its new session replaces the old one --------------- */
    {
        void *fresh = s_dealer();
        ly_pmsg h;
        s_hello_msg(&h, PT_ID, LY_PEER_PROTO);
        s_send_pmsg(fresh, &h);
        s_expect(fresh, LY_PM_WELCOME, "the hello of the test peer's second session", NULL);
        buf = s_poison_frame(s_applied + 1, 1, &len);
        s_send_raw(s_tp.t_dealer, buf, len, 0);
        free(buf);
        s_expect(s_tp.t_dealer, LY_PM_HELLO_REQUIRED,
                 "events on the session that a newer hello of node 9 replaced", NULL);
        zmq_close(s_tp.t_dealer);
        s_forget(fresh);
        s_tp.t_dealer = fresh;
        s_sentinel("events on a replaced session", 0);
    }
    s_check_store("all the bad input");
    s_stop_clean();
}

/* A peer's clock far ahead is clamped (DESIGN.md section 7): n1's next event is
 * stamped at most max_clock_ahead_ms (60 s by default) ahead of its wall clock. */
Test(peer_input, a_peer_clock_far_ahead_does_not_drag_the_node_clock)
{
    s_start("clock");
    size_t log_from = s_log_size();
    ly_pmsg hb;
    ly_pmsg_init(&hb, LY_PM_HEARTBEAT);
    hb.pm_node = PT_ID;
    hb.pm_hlc = (ly_wall_ms() + 10ULL * 86400000ULL) << 16; /* ten days ahead */
    s_send_pmsg(s_tp.t_dealer, &hb);
    /* And an event stamped ten days ahead: applied (balances never depend on clocks). */
    s_evs[1].ev_hlc = hb.pm_hlc;
    s_send_events(s_tp.t_dealer, 1, 1);
    s_baseline_none();
    s_wait_applied(1, "a heartbeat and an enroll ten days ahead");

    s_client = lyh_client(s_node, PT_CALL_MS);
    cr_assert_not_null(s_client);
    ly_req rq;
    ly_rep rp;
    ly_req_init(&rq, LY_MSG_EARN);
    snprintf(rq.rq_customer, sizeof rq.rq_customer, "%s", PT_CUST);
    snprintf(rq.rq_txn, sizeof rq.rq_txn, "clock-earn");
    rq.rq_amount = 500;
    cr_assert_eq(ly_client_call(s_client, &rq, &rp), LY_OK);
    uint64_t wall = ly_wall_ms();
    cr_assert_eq(rp.rp_err, LY_OK, "earn: %s", rp.rp_message);
    uint64_t ms = LY_HLC_MS(rp.rp_hlc);
    ly_rep_fini(&rp);
    cr_assert_leq(ms, wall + 60000 + 2000,
                  "n1 stamped its event %llu ms ahead of its wall clock: a peer dragged it",
                  (unsigned long long)(ms - wall));
    cr_assert(s_log_has(log_from, "clock"), "the clamped peer clock is not in the node's log");
    s_stop_clean();
}

/* ---- (c) forged origins -------------------------------------------------------- */

/* Live events are the sender's own new events (peer.h); DESIGN.md section 8: a
 * peer may forward other origins' events in catch-up but may not invent them. */
Test(peer_input, live_events_of_an_origin_not_the_sender_are_refused)
{
    s_start("forged");
    s_client = lyh_client(s_node, PT_CALL_MS);
    ly_client *c = s_client;
    cr_assert_not_null(c);
    ly_req rq;
    ly_rep rp;
    for (int i = 0; i < 2; i++) {
        ly_req_init(&rq, i == 0 ? LY_MSG_ENROLL : LY_MSG_EARN);
        snprintf(rq.rq_customer, sizeof rq.rq_customer, "own-f");
        snprintf(rq.rq_txn, sizeof rq.rq_txn, "own-f-%d", i);
        rq.rq_amount = i == 0 ? 0 : 2500;
        cr_assert_eq(ly_client_call(c, &rq, &rp), LY_OK);
        cr_assert_eq(rp.rp_err, LY_OK, "own operation %d: %s", i, rp.rp_message);
        ly_rep_fini(&rp);
    }
    s_baseline();
    s_send_events(s_tp.t_dealer, 1, 2);
    s_wait_applied(2, "events 1-2");
    size_t len;
    uint8_t *buf;

    /* Events of n1's own origin, pushed by node 9: they would take the seq n1
     * gives its next operation. */
    ly_node_status st;
    cr_assert_eq(lyh_node_status(s_node, PT_CALL_MS, &st), LY_OK);
    uint64_t own_next = lyh_status_vv(&st, 1) + 1;
    cr_assert_eq(own_next, 3);
    ly_event ev = s_evs[1];
    ev.ev_origin = 1;
    ev.ev_incarnation = st.ns_incarnation;
    ev.ev_seq = own_next;
    snprintf(ev.ev_customer, sizeof ev.ev_customer, "forged-1");
    snprintf(ev.ev_txn, sizeof ev.ev_txn, "forged-1-1");
    buf = s_frame_of(1, st.ns_incarnation, own_next - 1, &ev, 1, &len);
    s_send_raw(s_tp.t_dealer, buf, len, 0);
    free(buf);
    s_sentinel("live events of n1's own origin (seq 3) pushed by node 9", 1);

    /* Events of a third origin, 5. */
    ev = s_evs[1];
    ev.ev_origin = 5;
    ev.ev_incarnation = 77;
    snprintf(ev.ev_customer, sizeof ev.ev_customer, "forged-5");
    snprintf(ev.ev_txn, sizeof ev.ev_txn, "forged-5-1");
    buf = s_frame_of(5, 77, 0, &ev, 1, &len);
    s_send_raw(s_tp.t_dealer, buf, len, 0);
    free(buf);
    s_sentinel("live events of origin 5 pushed by node 9", 1);

    /* n1's next operation still gets seq 3 of origin 1. */
    ly_req_init(&rq, LY_MSG_EARN);
    snprintf(rq.rq_customer, sizeof rq.rq_customer, "own-f");
    snprintf(rq.rq_txn, sizeof rq.rq_txn, "own-f-after");
    rq.rq_amount = 700;
    cr_assert_eq(ly_client_call(c, &rq, &rp), LY_OK);
    cr_assert_eq(rp.rp_err, LY_OK, "earn after the forged events: %s", rp.rp_message);
    cr_assert(rp.rp_origin == 1 && rp.rp_seq == own_next,
              "n1's next event is %u/%llu, expected 1/%llu", rp.rp_origin,
              (unsigned long long)rp.rp_seq, (unsigned long long)own_next);
    ly_rep_fini(&rp);
    s_stop_clean();
}

/* ---- (c) rights requests ------------------------------------------------------ */

static void s_rights_req_msg(ly_pmsg *m, const char *cust, int64_t points)
{
    ly_pmsg_init(m, LY_PM_RIGHTS_REQ);
    m->pm_node = PT_ID;
    snprintf(m->pm_customer, sizeof m->pm_customer, "%s", cust);
    m->pm_points = points;
}

/* Everything sent before on the main session has been handled once the next
 * origin-9 event is applied (n1 takes a session's messages in order). */
static void s_barrier(const char *after)
{
    uint64_t seq = s_applied + 1, deadline = lyh_now_ms() + PT_WAIT_MS;
    s_send_events(s_tp.t_dealer, seq, 1);
    for (;;) {
        s_pump();
        ly_node_status st;
        if (lyh_node_status(s_node, PT_CALL_MS, &st) == LY_OK && lyh_status_vv(&st, PT_ID) >= seq)
            break;
        cr_assert_lt(lyh_now_ms(), deadline, "after %s, event 9/%llu was not applied", after,
                     (unsigned long long)seq);
        lyh_sleep_ms(20);
    }
    s_applied = seq;
    s_tp.t_hb_seq = s_tp.t_offer = seq;
}

/* n1's view of customer `cust`: balance, its own rights and node 9's. */
static void s_rights_view(const char *cust, int64_t *balance, int64_t *r1, int64_t *r9,
                          int64_t *local)
{
    ly_req rq;
    ly_rep rp;
    ly_req_init(&rq, LY_MSG_CUSTOMER);
    snprintf(rq.rq_customer, sizeof rq.rq_customer, "%s", cust);
    ly_err e = ly_client_call(s_client, &rq, &rp);
    cr_assert_eq(e, LY_OK, "customer %s: %s", cust, ly_errname(e));
    cr_assert_eq(rp.rp_err, LY_OK, "customer %s: %s", cust, rp.rp_message);
    *balance = rp.rp_balance;
    *r1 = *r9 = 0;
    for (uint32_t i = 0; i < rp.rp_nrights; i++) {
        if (rp.rp_rights[i].node == 1)
            *r1 = rp.rp_rights[i].points;
        else if (rp.rp_rights[i].node == PT_ID)
            *r9 = rp.rp_rights[i].points;
    }
    *local = rp.rp_local_rights;
    ly_rep_fini(&rp);
}

/* n1's own events so far (the seq of origin 1). */
static uint64_t s_own_seq(void)
{
    ly_node_status st;
    cr_assert_eq(lyh_node_status(s_node, PT_CALL_MS, &st), LY_OK);
    return lyh_status_vv(&st, 1);
}

/* Waits until n1 has pushed its own event number seq to us. Found by its
 * sequence, not by how many pushes came before: n1's earlier events may reach
 * us before or after its first heartbeat. */
static ly_event s_wait_pushed(uint64_t seq, const char *what)
{
    uint64_t deadline = lyh_now_ms() + PT_WAIT_MS;
    for (;;) {
        for (uint32_t i = 0; i < s_tp.t_ngot; i++)
            if (s_tp.t_got[i].ev_origin == 1 && s_tp.t_got[i].ev_seq == seq)
                return s_tp.t_got[i];
        cr_assert_lt(lyh_now_ms(), deadline,
                     "n1 did not publish %s (its event %llu) to the test peer", what,
                     (unsigned long long)seq);
        s_pump();
        lyh_sleep_ms(10);
    }
}

/* peer.h: a rights-req is answered with a transfer event of the receiver's own
 * (published like any event) for at most what it holds, or not at all. */
Test(peer_input, rights_req_gives_at_most_what_the_node_holds)
{
    s_start("rights");
    s_client = lyh_client(s_node, PT_CALL_MS);
    cr_assert_not_null(s_client);
    ly_req rq;
    ly_rep rp;
    ly_req_init(&rq, LY_MSG_ENROLL);
    snprintf(rq.rq_customer, sizeof rq.rq_customer, "rq-1");
    snprintf(rq.rq_txn, sizeof rq.rq_txn, "rq-1-enroll");
    cr_assert_eq(ly_client_call(s_client, &rq, &rp), LY_OK);
    cr_assert_eq(rp.rp_err, LY_OK, "enroll: %s", rp.rp_message);
    ly_rep_fini(&rp);
    ly_req_init(&rq, LY_MSG_EARN);
    snprintf(rq.rq_customer, sizeof rq.rq_customer, "rq-1");
    snprintf(rq.rq_txn, sizeof rq.rq_txn, "rq-1-earn");
    rq.rq_amount = 10000;
    cr_assert_eq(ly_client_call(s_client, &rq, &rp), LY_OK);
    cr_assert_eq(rp.rp_err, LY_OK, "earn: %s", rp.rp_message);
    cr_assert_eq(rp.rp_points, 100);
    ly_rep_fini(&rp);
    /* n1 publishes its events to peers that welcomed it: wait until it has
     * taken our welcome (it heartbeats us from then on). */
    uint64_t deadline = lyh_now_ms() + PT_WAIT_MS;
    while (s_tp.t_node_hbs == 0 && lyh_now_ms() < deadline) {
        s_pump();
        lyh_sleep_ms(10);
    }
    cr_assert_gt(s_tp.t_node_hbs, 0, "n1 never took the test peer's welcome");

    int64_t bal, r1, r9, local;
    ly_pmsg m;
    s_rights_req_msg(&m, "rq-1", 30);
    s_send_pmsg(s_tp.t_dealer, &m);
    s_barrier("a rights-req for 30 of 100");
    cr_assert_eq(s_own_seq(), 3, "n1 did not make one transfer event for a rights-req");
    ly_event tr = s_wait_pushed(3, "the transfer");
    cr_assert(tr.ev_type == LY_EV_TRANSFER && tr.ev_origin == 1 && tr.ev_to == PT_ID &&
                  tr.ev_points == 30 && strcmp(tr.ev_customer, "rq-1") == 0,
              "n1 published %s of %lld points to node %u for '%s', expected a transfer of 30 to 9",
              ly_evtype_name(tr.ev_type), (long long)tr.ev_points, tr.ev_to, tr.ev_customer);
    s_rights_view("rq-1", &bal, &r1, &r9, &local);
    cr_assert(bal == 100 && r1 == 70 && r9 == 30 && local == 70,
              "after giving 30: balance %lld, rights n1 %lld n9 %lld, redeemable at n1 %lld",
              (long long)bal, (long long)r1, (long long)r9, (long long)local);

    s_rights_req_msg(&m, "rq-1", 500);
    s_send_pmsg(s_tp.t_dealer, &m);
    s_barrier("a rights-req for 500 of 70");
    cr_assert_eq(s_own_seq(), 4);
    tr = s_wait_pushed(4, "the second transfer");
    cr_assert(tr.ev_type == LY_EV_TRANSFER && tr.ev_to == PT_ID && tr.ev_points == 70,
              "asked for 500 of the 70 it holds, n1 gave %lld", (long long)tr.ev_points);
    s_rights_view("rq-1", &bal, &r1, &r9, &local);
    cr_assert(bal == 100 && r1 == 0 && r9 == 100 && local == 0,
              "after giving all: balance %lld, rights n1 %lld n9 %lld, redeemable at n1 %lld",
              (long long)bal, (long long)r1, (long long)r9, (long long)local);

    /* Nothing left to give, nobody to give for, out-of-contract requests and
     * requests before hello: no transfer. */
    s_rights_req_msg(&m, "rq-1", 10);
    s_send_pmsg(s_tp.t_dealer, &m);
    s_rights_req_msg(&m, "nobody", 10);
    s_send_pmsg(s_tp.t_dealer, &m);
    size_t len, len2;
    s_rights_req_msg(&m, "rq-1", 10);
    uint8_t *buf = s_encode(&m, &len), *bad;
    pt_edit edits[] = {
        {"points", -1, ED_INT, 0, 0, NULL},
        {"points", -1, ED_INT, 0, -5, NULL},
        {"points", -1, ED_UINT, (uint64_t)LY_AMOUNT_MAX + 1, 0, NULL},
        {"customer", -1, ED_STR, 0, 0, "bad id!"},
        {"customer", -1, ED_STR, 0, 0, ""},
        {"customer", -1, ED_DROP, 0, 0, NULL},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        bad = s_edit(buf, len, edits[i], &len2);
        s_send_raw(s_tp.t_dealer, bad, len2, 0);
        free(bad);
    }
    void *s = s_dealer();
    s_send_raw(s, buf, len, 0);
    s_expect(s, LY_PM_HELLO_REQUIRED, "a rights-req before hello", NULL);
    s_close(s);
    free(buf);
    s_barrier("rights-reqs that must give nothing");
    cr_assert_eq(s_own_seq(), 4, "n1 made a transfer it should not have (seq %llu)",
                 (unsigned long long)s_own_seq());

    /* n1 gave all its rights away: a redemption there is refused in bounded
     * time (after asking us, who do not answer), and spends nothing. */
    int asked = s_tp.t_rights_reqs;
    ly_req_init(&rq, LY_MSG_REDEEM);
    snprintf(rq.rq_customer, sizeof rq.rq_customer, "rq-1");
    snprintf(rq.rq_txn, sizeof rq.rq_txn, "rq-1-redeem");
    rq.rq_amount = 10;
    uint64_t t0 = lyh_now_ms();
    cr_assert_eq(ly_client_call(s_client, &rq, &rp), LY_OK);
    uint64_t ms = lyh_now_ms() - t0;
    cr_assert_eq(rp.rp_err, LY_EINSUFFICIENT_LOCAL,
                 "redeem at n1 after it gave every right away: %s: %s (available %lld)",
                 ly_errname((ly_err)rp.rp_err), rp.rp_message, (long long)rp.rp_available);
    cr_assert_eq(rp.rp_available, 0);
    ly_rep_fini(&rp);
    cr_assert_leq(ms, 5000, "the refusal took %llu ms", (unsigned long long)ms);
    for (int i = 0; i < 20 && s_tp.t_rights_reqs == asked; i++) {
        s_pump();
        lyh_sleep_ms(10);
    }
    cr_assert_gt(s_tp.t_rights_reqs, asked, "n1 did not ask node 9, which holds the rights");
    cr_assert_str_eq(s_tp.t_rights_cust, "rq-1");
    cr_assert_eq(s_own_seq(), 4, "a refused redemption made an event");
    s_rights_view("rq-1", &bal, &r1, &r9, &local);
    cr_assert(bal == 100 && r9 == 100, "balance %lld, n9 rights %lld", (long long)bal,
              (long long)r9);
    cr_log_info("(c) a redemption without local rights was refused after %llu ms",
                (unsigned long long)ms);
    s_stop_clean();
}
