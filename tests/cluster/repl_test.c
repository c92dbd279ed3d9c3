/* repl_test.c -- replication between real loyald processes over ZeroMQ.
 *
 * Every test starts a chain of nodes (lyh_chain: ids 1..N, names n1..nN, free
 * loopback ports, [peer] sections from an adjacency), drives them through the
 * client protocol and checks the promises of DESIGN.md section 2:
 *   (a) concurrent writes at three nodes: the chain converges (version vectors
 *       and digests equal), every customer reads the same at every node and
 *       equals the sum of the acknowledged changes (exactly once), and
 *       `loyalctl verify` agrees;
 *   (b) five nodes, one killed with SIGKILL under load and restarted: it
 *       catches up; then a sixth, empty node (configured from the start)
 *       catches up from the others;
 *   (c) a line 1 - 2 - 3: events of 1 reach 3 and back (transitive catch-up);
 *   (d) the peer rows of `status`: up, converged, behind 0; a killed peer shows
 *       down within ~5 s, and up again after its restart;
 *   (e) the same points redeemed at three nodes at once are spent once
 *       (rights, DESIGN.md section 5), and an uncontended redemption of a
 *       balance held elsewhere succeeds once the rights have moved.
 * Exactly once is checked by listing every event a node holds: one per
 * acknowledged transaction id, plus the rights transfers between nodes.
 * Convergence times are printed (cr_log_info) so regressions show in the log. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ledger.h"
#include "node/repl.h"
#include "proto/client.h"
#include "tests/support/check.h"
#include "tests/support/harness.h"

#define RT_READY_MS     20000
#define RT_CALL_MS      5000
#define RT_CONVERGE_MS  30000
#define RT_OP_DEADLINE  60000 /* an operation is retried (same txn) this long */
#define RT_STATUS_MS    2000
#define RT_DOWN_BOUND   5000 /* a killed peer must show down within this */
#define RT_PEER_VIEW_MS 8000 /* heartbeats (1 s) carry the views: allow a few */

static lyh_chain *s_chain;

static void s_teardown(void)
{
    lyh_chain_destroy(&s_chain);
}

TestSuite(repl, .fini = s_teardown, .timeout = 240);

static unsigned s_rand(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return (*state >> 8) & 0xffffffu;
}

/* floor(a * b / c) as the origin computes refunds (service.c). */
static int64_t s_muldiv(int64_t a, int64_t b, int64_t c)
{
    return (int64_t)((__int128)a * b / c);
}

static lyh_chain *s_new_chain(int n, const lyh_adj adj, int start)
{
    s_chain = lyh_chain_new(n, adj, NULL);
    cr_assert_not_null(s_chain, "unable to set up a chain of %d nodes", n);
    cr_assert_eq(lyh_chain_up(s_chain, 1, start, RT_READY_MS), 0, "the chain did not start");
    return s_chain;
}

/* SIGTERM every node: each must exit 0 (under LY_SANITIZE: no leak, no error). */
static void s_stop_clean(void)
{
    lyc_stop_clean(s_chain);
}

static int64_t s_converge(const char *what)
{
    return lyc_converge(s_chain, RT_CONVERGE_MS, what);
}

/* ---- client operations --------------------------------------------------- */

/* One acknowledged change and what it must have done to its customer. */
typedef struct rt_op {
    uint8_t op_type;
    uint8_t op_node;
    int op_cust;
    char op_txn[LY_ID_MAX + 1];
    int64_t op_points;   /* the acknowledged change (rp_points) */
    int64_t op_lifetime; /* its effect on lifetime points */
    int64_t op_qual;     /* its effect on qualifying points */
} rt_op;

/* Send `rq` until a reply comes (lyh_call_until: the same request, same txn,
 * is sent again while the outcome is unknown). LY_OK with `rp` holding the
 * reply (finish it), else `rp` holds nothing; LY_ETIMEDOUT after
 * `deadline_ms`. *tries counts the sends. */
static ly_err s_call_until(ly_client *c, ly_req *rq, ly_rep *rp, int deadline_ms, int *tries)
{
    return lyh_call_until(c, rq, rp, deadline_ms, tries);
}

static void s_req(ly_req *rq, int type, const char *cust, const char *txn, int64_t amount)
{
    lyh_req(rq, type, cust, txn, amount, "replication test goodwill");
}

/* A mutation that must be acknowledged; returns the change it made. */
static int64_t s_mutate_ok(const lyh_node *n, int type, const char *cust, const char *txn,
                           int64_t amount)
{
    ly_client *c = lyh_client(n, RT_CALL_MS);
    cr_assert_not_null(c);
    ly_req rq;
    ly_rep rp;
    s_req(&rq, type, cust, txn, amount);
    ly_err e = s_call_until(c, &rq, &rp, RT_OP_DEADLINE, NULL);
    cr_assert_eq(e, LY_OK, "%s %s at %s: no reply: %s", ly_msgtype_name(type), txn, n->nd_name,
                 ly_errname(e));
    cr_assert_eq(rp.rp_err, LY_OK, "%s %s (%s, %lld) at %s refused: %s: %s", ly_msgtype_name(type),
                 txn, cust, (long long)amount, n->nd_name, ly_errname((ly_err)rp.rp_err),
                 rp.rp_message);
    int64_t points = rp.rp_points;
    ly_rep_fini(&rp);
    ly_client_destroy(&c);
    return points;
}

/* The customer as node `n` sees it (history: up to LY_HIST_MAX entries). */
static void s_customer(const lyh_node *n, const char *cust, ly_rep *rp)
{
    ly_client *c = lyh_client(n, RT_CALL_MS);
    cr_assert_not_null(c);
    ly_req rq;
    ly_req_init(&rq, LY_MSG_CUSTOMER);
    snprintf(rq.rq_customer, sizeof rq.rq_customer, "%s", cust);
    rq.rq_limit = LY_HIST_MAX;
    ly_err e = s_call_until(c, &rq, rp, 20000, NULL);
    cr_assert_eq(e, LY_OK, "customer %s at %s: %s", cust, n->nd_name, ly_errname(e));
    cr_assert_eq(rp->rp_err, LY_OK, "customer %s at %s: %s: %s", cust, n->nd_name,
                 ly_errname((ly_err)rp->rp_err), rp->rp_message);
    ly_client_destroy(&c);
}

static ly_node_status s_status(int i)
{
    ly_node_status st;
    ly_err e = lyh_chain_status(s_chain, i, RT_CALL_MS, &st);
    cr_assert_eq(e, LY_OK, "status of n%d: %s", i, ly_errname(e));
    return st;
}

/* Expected view of one customer: the fold of its acknowledged changes. */
typedef struct rt_expect {
    int64_t x_net, x_lifetime, x_qual;
    uint32_t x_events; /* enroll included */
} rt_expect;

static void s_expect_add(rt_expect *x, const rt_op *op)
{
    x->x_net += op->op_points;
    x->x_lifetime += op->op_lifetime;
    x->x_qual += op->op_qual;
    x->x_events++;
}

/* The transaction ids of every acknowledged mutation (enrollments included). */
typedef struct rt_txns {
    char (*tx_ids)[LY_ID_MAX + 1];
    size_t tx_n, tx_cap;
} rt_txns;

static void s_txns_add(rt_txns *s, const char *txn)
{
    if (s->tx_n == s->tx_cap) {
        size_t cap = s->tx_cap ? 2 * s->tx_cap : 1024;
        void *p = realloc(s->tx_ids, cap * sizeof *s->tx_ids);
        cr_assert_not_null(p);
        s->tx_ids = p;
        s->tx_cap = cap;
    }
    snprintf(s->tx_ids[s->tx_n++], sizeof s->tx_ids[0], "%s", txn);
}

static void s_txns_free(rt_txns *s)
{
    free(s->tx_ids);
    memset(s, 0, sizeof *s);
}

static int s_cmp_txn(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Enroll customers 0..ncust - 1 (named by `name`), each once, at its home
 * node 1 + i % nodes, with txn "<tag>-enroll-<i>"; record each in `want` and
 * start x[i] (zeroed) with that one event. Then wait until the chain
 * converges (`what` names the step): a node accepts earns only for customers
 * it knows. */
static void s_enroll_at_homes(int ncust, int nodes, void (*name)(int, char *, size_t),
                              const char *tag, rt_expect *x, rt_txns *want, const char *what)
{
    memset(x, 0, (size_t)ncust * sizeof *x);
    for (int i = 0; i < ncust; i++) {
        char cust[32], txn[64];
        name(i, cust, sizeof cust);
        snprintf(txn, sizeof txn, "%s-enroll-%02d", tag, i);
        s_mutate_ok(lyh_chain_node(s_chain, 1 + i % nodes), LY_MSG_ENROLL, cust, txn, 0);
        s_txns_add(want, txn);
        x[i].x_events = 1;
    }
    s_converge(what);
}

/* Every event node `i` holds, per origin in seq order (client `events`
 * requests). Caller frees. */
static ly_event *s_all_events(int i, size_t *n)
{
    ly_node_status st;
    cr_assert_eq(lyh_node_status(lyh_chain_node(s_chain, i), RT_CALL_MS, &st), LY_OK);
    ly_client *c = lyh_client(lyh_chain_node(s_chain, i), RT_CALL_MS);
    cr_assert_not_null(c);
    ly_event *all = malloc((st.ns_events + 1) * sizeof *all);
    cr_assert_not_null(all);
    *n = 0;
    for (uint32_t k = 0; k < st.ns_nvv; k++) {
        uint64_t since = 0;
        for (;;) {
            ly_req rq;
            ly_rep rp;
            ly_req_init(&rq, LY_MSG_EVENTS);
            rq.rq_origin = st.ns_vv[k].origin;
            rq.rq_since = since;
            rq.rq_limit = LY_EVENTS_MAX;
            ly_err e = ly_client_call(c, &rq, &rp);
            cr_assert_eq(e, LY_OK, "events of n%d: %s", i, ly_errname(e));
            cr_assert_eq(rp.rp_err, LY_OK, "events of n%d: %s", i, rp.rp_message);
            uint32_t got = rp.rp_nevents;
            for (uint32_t j = 0; j < got; j++) {
                const ly_event *ev = &rp.rp_events[j];
                cr_assert(ev->ev_origin == st.ns_vv[k].origin && ev->ev_seq == since + 1,
                          "n%d lists %u/%llu after %u/%llu", i, ev->ev_origin,
                          (unsigned long long)ev->ev_seq, st.ns_vv[k].origin,
                          (unsigned long long)since);
                cr_assert_lt(*n, st.ns_events, "n%d lists more events than it counts", i);
                all[(*n)++] = *ev;
                since = ev->ev_seq;
            }
            ly_rep_fini(&rp);
            if (got == 0)
                break;
        }
        cr_assert_eq(since, st.ns_vv[k].seq, "n%d lists origin %u up to %llu, its vv says %llu", i,
                     st.ns_vv[k].origin, (unsigned long long)since,
                     (unsigned long long)st.ns_vv[k].seq);
    }
    ly_client_destroy(&c);
    cr_assert_eq(*n, st.ns_events, "n%d lists %zu events and counts %llu", i, *n,
                 (unsigned long long)st.ns_events);
    return all;
}

/* Exactly once at node i: its events other than rights transfers carry
 * exactly the transaction ids in `want`, each once; a transfer moves a
 * positive number of points from its origin to another node. Returns the
 * number of transfers. */
static size_t s_check_exactly_once(int i, const rt_txns *want)
{
    size_t n = 0, transfers = 0;
    ly_event *all = s_all_events(i, &n);
    rt_txns held = {0};
    for (size_t k = 0; k < n; k++) {
        const ly_event *ev = &all[k];
        if (ev->ev_type == LY_EV_TRANSFER) {
            cr_assert(ev->ev_points > 0 && ev->ev_to != 0 && ev->ev_to != ev->ev_origin,
                      "n%d holds a transfer %u/%llu of %lld points to node %u", i, ev->ev_origin,
                      (unsigned long long)ev->ev_seq, (long long)ev->ev_points, ev->ev_to);
            transfers++;
            continue;
        }
        s_txns_add(&held, ev->ev_txn);
    }
    rt_txns exp = {0};
    for (size_t k = 0; k < want->tx_n; k++)
        s_txns_add(&exp, want->tx_ids[k]);
    qsort(held.tx_ids, held.tx_n, sizeof held.tx_ids[0], s_cmp_txn);
    qsort(exp.tx_ids, exp.tx_n, sizeof exp.tx_ids[0], s_cmp_txn);
    size_t a = 0, b = 0;
    while (a < held.tx_n || b < exp.tx_n) {
        int c = a == held.tx_n ? 1 : b == exp.tx_n ? -1 : strcmp(held.tx_ids[a], exp.tx_ids[b]);
        cr_assert(c >= 0, "n%d holds an event of txn '%s' %s", i, held.tx_ids[a],
                  a > 0 && strcmp(held.tx_ids[a], held.tx_ids[a - 1]) == 0
                      ? "twice (applied more than once)"
                      : "that was never acknowledged");
        cr_assert(c <= 0, "n%d lacks the acknowledged txn '%s' (lost)", i, exp.tx_ids[b]);
        a++;
        b++;
    }
    s_txns_free(&held);
    s_txns_free(&exp);
    free(all);
    return transfers;
}

/* Check `cust` at nodes first..last: every node answers the same balance,
 * lifetime, debt, qualifying points, tier and history, and that equals `x`.
 * The history holds x's events and the rights transfers of the customer (up
 * to LY_HIST_MAX, newest first); the lookups ask for no rights prefetch, so
 * they change nothing. */
static void s_check_customer(const char *cust, const rt_expect *x, int first, int last)
{
    static ly_program pg; /* the default program: every test node runs it */
    ly_program_default(&pg);
    int64_t balance = x->x_net > 0 ? x->x_net : 0, debt = x->x_net < 0 ? -x->x_net : 0;
    const char *tier = pg.pg_tiers[ly_tier_for(&pg, x->x_qual)].ti_name;
    ly_rep *ref = malloc(sizeof *ref), *rp = malloc(sizeof *rp);
    cr_assert(ref != NULL && rp != NULL);
    for (int i = first; i <= last; i++) {
        const lyh_node *n = lyh_chain_node(s_chain, i);
        ly_rep *cur = i == first ? ref : rp;
        s_customer(n, cust, cur);
        cr_assert_eq(cur->rp_balance, balance,
                     "%s at %s: balance %lld, acknowledged changes sum to %lld (net %lld)", cust,
                     n->nd_name, (long long)cur->rp_balance, (long long)balance,
                     (long long)x->x_net);
        cr_assert_eq(cur->rp_debt, debt, "%s at %s: debt %lld, expected %lld", cust, n->nd_name,
                     (long long)cur->rp_debt, (long long)debt);
        cr_assert_eq(cur->rp_lifetime, x->x_lifetime, "%s at %s: lifetime %lld, expected %lld",
                     cust, n->nd_name, (long long)cur->rp_lifetime, (long long)x->x_lifetime);
        cr_assert_eq(cur->rp_qualifying, x->x_qual, "%s at %s: qualifying %lld, expected %lld",
                     cust, n->nd_name, (long long)cur->rp_qualifying, (long long)x->x_qual);
        cr_assert_str_eq(cur->rp_tier, tier, "%s at %s: tier %s, expected %s", cust, n->nd_name,
                         cur->rp_tier, tier);
        uint32_t own = 0;
        for (uint32_t h = 0; h < cur->rp_nhist; h++)
            own += cur->rp_hist[h].hi_type != LY_EV_TRANSFER;
        if (cur->rp_nhist < LY_HIST_MAX)
            cr_assert_eq(own, x->x_events,
                         "%s at %s: %u history entries besides rights transfers, %u acknowledged",
                         cust, n->nd_name, own, x->x_events);
        else
            cr_assert_leq(own, x->x_events, "%s at %s: %u history entries for %u acknowledged",
                          cust, n->nd_name, own, x->x_events);
        if (cur == ref)
            continue;
        cr_assert_eq(cur->rp_nhist, ref->rp_nhist, "%s: %u history entries at n%d, %u at %s", cust,
                     ref->rp_nhist, first, cur->rp_nhist, n->nd_name);
        cr_assert_eq(cur->rp_enrolled_hlc, ref->rp_enrolled_hlc, "%s: enrolled_hlc differs at %s",
                     cust, n->nd_name);
        cr_assert_eq(cur->rp_last_hlc, ref->rp_last_hlc, "%s: last_hlc differs at %s", cust,
                     n->nd_name);
        for (uint32_t h = 0; h < cur->rp_nhist; h++) {
            const ly_hist *a = &ref->rp_hist[h], *b = &cur->rp_hist[h];
            cr_assert(a->hi_hlc == b->hi_hlc && a->hi_origin == b->hi_origin &&
                          a->hi_type == b->hi_type && a->hi_points == b->hi_points &&
                          a->hi_amount == b->hi_amount && a->hi_to == b->hi_to &&
                          strcmp(a->hi_txn, b->hi_txn) == 0,
                      "%s: history[%u] differs: n%d has %s %s %+lld from n%u, %s has %s %s "
                      "%+lld from n%u",
                      cust, h, first, ly_evtype_name(a->hi_type), a->hi_txn,
                      (long long)a->hi_points, a->hi_origin, n->nd_name, ly_evtype_name(b->hi_type),
                      b->hi_txn, (long long)b->hi_points, b->hi_origin);
        }
        ly_rep_fini(rp);
    }
    ly_rep_fini(ref);
    free(ref);
    free(rp);
}

/* 1 if this loyalctl has a `verify` command. */
static int s_have_verify(void)
{
    lyh_output out;
    lyh_loyalctl(&out, 10000, "--help", NULL);
    int yes = strstr(out.ou_out, "verify") != NULL || strstr(out.ou_err, "verify") != NULL;
    lyh_output_fini(&out);
    return yes;
}

static int s_verify(int node, lyh_output *out)
{
    return lyh_loyalctl(out, 30000, "--node", lyh_chain_node(s_chain, node)->nd_listen, "verify",
                        NULL);
}

/* ---- (a) concurrent operations at every node of a 3-node mesh ------------ */

#define RA_NODES    3
#define RA_PER_NODE 2 /* client threads per node */
#define RA_THREADS  (RA_NODES * RA_PER_NODE)
#define RA_CUST     30
#define RA_OPS      120 /* attempts per thread */
#define RA_TIMEOUT  5000
/* Customers below RA_REFUNDED may have earns refunded and points taken by
 * negative adjustments, so they may end in debt; the others may not: their
 * points are only earned, given, redeemed and given back, so a debt there
 * would be a double spend (DESIGN.md invariant 4). */
#define RA_REFUNDED (RA_CUST / 2)

typedef struct ra_own {
    int o_cust;
    uint8_t o_type; /* earn or redeem */
    int o_seq;      /* txn of the original */
    int64_t o_amount, o_points, o_qual;
    int64_t o_refunded; /* amount already reversed */
} ra_own;

typedef struct ra_worker {
    int w_node, w_index;
    pthread_t w_thread;
    char w_endpoint[LYH_EP_MAX];
    unsigned w_rng;
    rt_op w_ops[RA_OPS];
    int w_nops;
    ra_own w_own[RA_OPS]; /* this thread's earns and redemptions, for reversals */
    int w_nown;
    int w_insufficient; /* refusals for lack of points (allowed) */
    int w_local;        /* refusals for lack of rights at this branch (allowed) */
    int w_retried;      /* operations whose first try had no reply */
    int w_failed;
    char w_why[512];
} ra_worker;

static ra_worker s_ra[RA_THREADS];

static void s_ra_cust(int cust, char *out, size_t cap)
{
    snprintf(out, cap, "ra-c%02d", cust);
}

static void s_ra_txn(const ra_worker *w, int seq, char *out, size_t cap)
{
    snprintf(out, cap, "ra-n%d-w%d-%04d", w->w_node, w->w_index, seq);
}

static void *s_ra_main(void *arg)
{
    ra_worker *w = arg;
    ly_client *c = lyh_client_at(lyh_chain_node(s_chain, w->w_node), w->w_endpoint, RA_TIMEOUT);
    if (c == NULL) {
        lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why, "unable to create a client for %s",
                      w->w_endpoint);
        return NULL;
    }
    for (int seq = 0; seq < RA_OPS && !w->w_failed; seq++) {
        char cust[32], txn[64];
        unsigned r = s_rand(&w->w_rng) % 100;
        int cust_i = (int)(s_rand(&w->w_rng) % RA_CUST);
        ra_own *own = NULL;
        ly_req rq;
        rt_op op = {.op_node = (uint8_t)w->w_node, .op_cust = cust_i};
        s_ra_txn(w, seq, txn, sizeof txn);
        if (r >= 75 && w->w_nown > 0) {
            /* Reverse (part of) one of this thread's own earns or redemptions:
             * nobody else reverses them, so what is left is known here. */
            own = &w->w_own[s_rand(&w->w_rng) % (unsigned)w->w_nown];
            if (own->o_refunded >= own->o_amount ||
                (own->o_type == LY_MSG_EARN && own->o_cust >= RA_REFUNDED))
                own = NULL;
        }
        if (own != NULL) {
            int64_t left = own->o_amount - own->o_refunded;
            int64_t part = s_rand(&w->w_rng) % 3 == 0 ? 0 : 1 + (int64_t)(s_rand(&w->w_rng) % left);
            op.op_type = LY_MSG_REVERSE;
            op.op_cust = own->o_cust;
            s_ra_cust(own->o_cust, cust, sizeof cust);
            s_req(&rq, LY_MSG_REVERSE, cust, txn, part);
            rq.rq_customer[0] = '\0'; /* a reverse names the original only */
            s_ra_txn(w, own->o_seq, rq.rq_ref_txn, sizeof rq.rq_ref_txn);
        } else if (r < 55) {
            op.op_type = LY_MSG_EARN;
            s_ra_cust(cust_i, cust, sizeof cust);
            s_req(&rq, LY_MSG_EARN, cust, txn, 100 + (int64_t)(s_rand(&w->w_rng) % 19901));
            if (s_rand(&w->w_rng) % 3 == 0)
                snprintf(rq.rq_category, sizeof rq.rq_category, "food");
        } else if (r < 70) {
            op.op_type = LY_MSG_REDEEM;
            s_ra_cust(cust_i, cust, sizeof cust);
            s_req(&rq, LY_MSG_REDEEM, cust, txn, 1 + (int64_t)(s_rand(&w->w_rng) % 200));
        } else {
            op.op_type = LY_MSG_ADJUST;
            s_ra_cust(cust_i, cust, sizeof cust);
            int64_t mag = 1 + (int64_t)(s_rand(&w->w_rng) % 50);
            int take = s_rand(&w->w_rng) % 3 == 0 && cust_i < RA_REFUNDED;
            s_req(&rq, LY_MSG_ADJUST, cust, txn, take ? -mag : mag);
        }

        ly_rep rp;
        int tries = 0;
        ly_err e = s_call_until(c, &rq, &rp, RT_OP_DEADLINE, &tries);
        if (e != LY_OK) {
            lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why,
                          "%s %s at n%d: no reply within %d ms: %s", ly_msgtype_name(op.op_type),
                          txn, w->w_node, RT_OP_DEADLINE, ly_errname(e));
            break;
        }
        w->w_retried += tries > 1;
        if ((rp.rp_err == LY_EINSUFFICIENT || rp.rp_err == LY_EINSUFFICIENT_LOCAL) &&
            (op.op_type == LY_MSG_REDEEM || op.op_type == LY_MSG_ADJUST)) {
            w->w_insufficient += rp.rp_err == LY_EINSUFFICIENT;
            w->w_local += rp.rp_err == LY_EINSUFFICIENT_LOCAL;
            ly_rep_fini(&rp);
            continue;
        }
        if (rp.rp_err != LY_OK) {
            lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why,
                          "%s %s (customer %s, amount %lld) at n%d refused: %s: %s",
                          ly_msgtype_name(op.op_type), txn, cust, (long long)rq.rq_amount,
                          w->w_node, ly_errname((ly_err)rp.rp_err), rp.rp_message);
            ly_rep_fini(&rp);
            break;
        }
        op.op_points = rp.rp_points;
        snprintf(op.op_txn, sizeof op.op_txn, "%s", txn);
        switch (op.op_type) {
        case LY_MSG_EARN:
            op.op_lifetime = rp.rp_points;
            op.op_qual = rq.rq_amount / 100; /* default program: 1 qualifying point per 1.00 */
            w->w_own[w->w_nown++] = (ra_own){.o_cust = cust_i,
                                             .o_type = LY_MSG_EARN,
                                             .o_seq = seq,
                                             .o_amount = rq.rq_amount,
                                             .o_points = rp.rp_points,
                                             .o_qual = op.op_qual};
            break;
        case LY_MSG_REDEEM:
            w->w_own[w->w_nown++] = (ra_own){.o_cust = cust_i,
                                             .o_type = LY_MSG_REDEEM,
                                             .o_seq = seq,
                                             .o_amount = rq.rq_amount,
                                             .o_points = -rq.rq_amount};
            if (rp.rp_points != -rq.rq_amount)
                lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why,
                              "redeem %s of %lld reported %lld points", txn,
                              (long long)rq.rq_amount, (long long)rp.rp_points);
            break;
        case LY_MSG_ADJUST:
            op.op_lifetime = rp.rp_points > 0 ? rp.rp_points : 0;
            break;
        case LY_MSG_REVERSE: {
            int64_t left = own->o_amount - own->o_refunded;
            int64_t part = rq.rq_amount ? rq.rq_amount : left;
            int64_t before = own->o_refunded, after = before + part;
            own->o_refunded = after;
            if (own->o_type == LY_MSG_EARN) {
                op.op_lifetime = rp.rp_points;
                op.op_qual = -(s_muldiv(own->o_qual, after, own->o_amount) -
                               s_muldiv(own->o_qual, before, own->o_amount));
            }
            break;
        }
        default:
            break;
        }
        w->w_ops[w->w_nops++] = op;
        ly_rep_fini(&rp);
    }
    ly_client_destroy(&c);
    return NULL;
}

Test(repl, three_nodes_concurrent_writes_converge_exactly_once)
{
    s_new_chain(RA_NODES, NULL, RA_NODES);

    rt_expect x[RA_CUST];
    rt_txns want = {0};
    s_enroll_at_homes(RA_CUST, RA_NODES, s_ra_cust, "ra", x, &want, "(a) enrollments");

    for (int t = 0; t < RA_THREADS; t++) {
        ra_worker *w = &s_ra[t];
        memset(w, 0, sizeof *w);
        w->w_node = 1 + t / RA_PER_NODE;
        w->w_index = t;
        w->w_rng = 104729u * (unsigned)(t + 1);
        snprintf(w->w_endpoint, sizeof w->w_endpoint, "%s",
                 lyh_chain_node(s_chain, w->w_node)->nd_listen);
    }
    uint64_t t0 = lyh_now_ms();
    for (int t = 0; t < RA_THREADS; t++)
        cr_assert_eq(pthread_create(&s_ra[t].w_thread, NULL, s_ra_main, &s_ra[t]), 0);
    for (int t = 0; t < RA_THREADS; t++)
        pthread_join(s_ra[t].w_thread, NULL);
    uint64_t load_ms = lyh_now_ms() - t0;

    int acked = 0, insufficient = 0, local = 0, retried = 0, by_type[LY_MSG_TYPE_MAX + 1] = {0};
    for (int t = 0; t < RA_THREADS; t++) {
        const ra_worker *w = &s_ra[t];
        cr_assert_not(w->w_failed, "client %d at n%d: %s", t, w->w_node, w->w_why);
        acked += w->w_nops;
        insufficient += w->w_insufficient;
        local += w->w_local;
        retried += w->w_retried;
        for (int i = 0; i < w->w_nops; i++) {
            s_expect_add(&x[w->w_ops[i].op_cust], &w->w_ops[i]);
            s_txns_add(&want, w->w_ops[i].op_txn);
            by_type[w->w_ops[i].op_type]++;
        }
    }
    cr_log_info("(a) %d acknowledged changes in %llu ms (earn %d, redeem %d, adjust %d, reverse "
                "%d); refused: %d for lack of points, %d for lack of rights here; %d retried",
                acked, (unsigned long long)load_ms, by_type[LY_MSG_EARN], by_type[LY_MSG_REDEEM],
                by_type[LY_MSG_ADJUST], by_type[LY_MSG_REVERSE], insufficient, local, retried);
    cr_assert_geq(by_type[LY_MSG_REVERSE], 20, "too few reversals to mean anything");
    cr_assert_geq(by_type[LY_MSG_REDEEM], 20, "too few redemptions to mean anything");

    s_converge("(a) after the concurrent load");

    /* Exactly once: every node holds one event per acknowledged change (and
     * rights transfers between nodes). */
    size_t transfers = 0;
    for (int i = 1; i <= RA_NODES; i++) {
        transfers = s_check_exactly_once(i, &want);
        ly_node_status st = s_status(i);
        cr_assert_eq(st.ns_customers, (uint64_t)RA_CUST, "n%d: %llu customers", i,
                     (unsigned long long)st.ns_customers);
        lyh_status_fini(&st);
    }
    int in_debt = 0;
    for (int i = 0; i < RA_CUST; i++) {
        char cust[32];
        s_ra_cust(i, cust, sizeof cust);
        s_check_customer(cust, &x[i], 1, RA_NODES);
        in_debt += x[i].x_net < 0;
        cr_assert(i < RA_REFUNDED || x[i].x_net >= 0,
                  "%s was never refunded nor debited, yet its redemptions exceed its points by "
                  "%lld: points spent twice",
                  cust, (long long)-x[i].x_net);
    }
    cr_log_info("(a) %zu rights transfers; %d of %d customers (refunds allowed) ended in debt",
                transfers, in_debt, RA_REFUNDED);
    s_txns_free(&want);

    if (s_have_verify()) {
        lyh_output out;
        int code = s_verify(1, &out);
        cr_assert_eq(code, 0,
                     "loyalctl verify on a converged chain exited %d\nstdout: %s\nstderr: %s", code,
                     out.ou_out, out.ou_err);
        lyh_output_fini(&out);
    } else {
        cr_log_warn("(a) loyalctl has no 'verify' command yet: the verify check did not run");
    }
    s_stop_clean();
}

/* ---- (b) kill -9 under load, restart, then a new node ------------------- */

#define RB_NODES   6 /* all configured from the start */
#define RB_RUNNING 5 /* n6 starts later, with an empty store */
#define RB_VICTIM  5
#define RB_CUST    20
#define RB_OPS_MAX 4000
#define RB_TIMEOUT 1500

typedef struct rb_worker {
    int w_node;
    pthread_t w_thread;
    char w_endpoint[LYH_EP_MAX];
    unsigned w_rng;
    rt_op *w_ops;
    int w_nops;
    int w_retried; /* operations whose outcome was unknown at first (the victim's) */
    int w_failed;
    char w_why[512];
} rb_worker;

static rb_worker s_rb[RB_RUNNING];
static atomic_int s_rb_stop;
static atomic_int s_rb_acked;

static void s_rb_cust(int cust, char *out, size_t cap)
{
    snprintf(out, cap, "rb-c%02d", cust);
}

static void *s_rb_main(void *arg)
{
    rb_worker *w = arg;
    ly_client *c = lyh_client_at(lyh_chain_node(s_chain, w->w_node), w->w_endpoint, RB_TIMEOUT);
    if (c == NULL) {
        w->w_failed = 1;
        snprintf(w->w_why, sizeof w->w_why, "unable to create a client");
        return NULL;
    }
    for (int seq = 0; seq < RB_OPS_MAX && !atomic_load(&s_rb_stop); seq++) {
        char cust[32], txn[64];
        int cust_i = (int)(s_rand(&w->w_rng) % RB_CUST);
        s_rb_cust(cust_i, cust, sizeof cust);
        snprintf(txn, sizeof txn, "rb-n%d-%05d", w->w_node, seq);
        ly_req rq;
        int adjust = s_rand(&w->w_rng) % 5 == 0;
        if (adjust)
            s_req(&rq, LY_MSG_ADJUST, cust, txn, 1 + (int64_t)(s_rand(&w->w_rng) % 40));
        else
            s_req(&rq, LY_MSG_EARN, cust, txn, 100 + (int64_t)(s_rand(&w->w_rng) % 5000));
        ly_rep rp;
        int tries = 0;
        /* The victim's client keeps retrying the same txn while its node is down. */
        ly_err e = s_call_until(c, &rq, &rp, RT_OP_DEADLINE, &tries);
        if (e != LY_OK || rp.rp_err != LY_OK) {
            w->w_failed = 1;
            snprintf(w->w_why, sizeof w->w_why, "%s at n%d: %s %s %s", txn, w->w_node,
                     ly_errname(e), e == LY_OK ? ly_errname((ly_err)rp.rp_err) : "",
                     e == LY_OK ? rp.rp_message : "");
            if (e == LY_OK)
                ly_rep_fini(&rp);
            break;
        }
        w->w_retried += tries > 1;
        w->w_ops[w->w_nops++] = (rt_op){.op_type = rq.rq_type,
                                        .op_node = (uint8_t)w->w_node,
                                        .op_cust = cust_i,
                                        .op_points = rp.rp_points,
                                        .op_lifetime = rp.rp_points,
                                        .op_qual = adjust ? 0 : rq.rq_amount / 100};
        snprintf(w->w_ops[w->w_nops - 1].op_txn, sizeof w->w_ops[0].op_txn, "%s", txn);
        atomic_fetch_add(&s_rb_acked, 1);
        ly_rep_fini(&rp);
    }
    ly_client_destroy(&c);
    return NULL;
}

/* Wait until node `i` holds, of every origin, at least what `want` holds.
 * Returns the milliseconds it took or -1. */
static int64_t s_wait_holds(int i, const ly_node_status *want, int timeout_ms)
{
    uint64_t t0 = lyh_now_ms();
    for (;;) {
        ly_node_status st;
        if (lyh_node_status(lyh_chain_node(s_chain, i), RT_STATUS_MS, &st) == LY_OK) {
            int ok = 1;
            for (uint32_t k = 0; k < want->ns_nvv && ok; k++)
                ok = lyh_status_vv(&st, want->ns_vv[k].origin) >= want->ns_vv[k].seq;
            if (ok)
                return (int64_t)(lyh_now_ms() - t0);
        }
        if (lyh_now_ms() - t0 >= (uint64_t)timeout_ms)
            return -1;
        lyh_sleep_ms(100);
    }
}

static void s_rb_sleep_load(int ms)
{
    uint64_t end = lyh_now_ms() + (uint64_t)ms;
    while (lyh_now_ms() < end)
        lyh_sleep_ms(20);
}

Test(repl, five_nodes_kill9_under_load_catch_up_then_a_new_node_joins)
{
    s_new_chain(RB_NODES, NULL, RB_RUNNING);

    rt_expect x[RB_CUST];
    rt_txns want = {0};
    s_enroll_at_homes(RB_CUST, RB_RUNNING, s_rb_cust, "rb", x, &want,
                      "(b) enrollments at five nodes");

    atomic_store(&s_rb_stop, 0);
    atomic_store(&s_rb_acked, 0);
    for (int t = 0; t < RB_RUNNING; t++) {
        rb_worker *w = &s_rb[t];
        memset(w, 0, sizeof *w);
        w->w_node = t + 1;
        w->w_rng = 15485863u * (unsigned)(t + 1);
        w->w_ops = calloc(RB_OPS_MAX, sizeof *w->w_ops);
        cr_assert_not_null(w->w_ops);
        snprintf(w->w_endpoint, sizeof w->w_endpoint, "%s",
                 lyh_chain_node(s_chain, w->w_node)->nd_listen);
        cr_assert_eq(pthread_create(&w->w_thread, NULL, s_rb_main, w), 0);
    }

    s_rb_sleep_load(1500);
    int before_kill = atomic_load(&s_rb_acked);
    cr_assert_eq(lyh_chain_kill(s_chain, RB_VICTIM), 0, "n%d was not running", RB_VICTIM);
    s_rb_sleep_load(3000);
    int while_down = atomic_load(&s_rb_acked) - before_kill;
    uint64_t t_restart = lyh_now_ms();
    cr_assert_eq(lyh_chain_up(s_chain, RB_VICTIM, RB_VICTIM, RT_READY_MS), 0,
                 "n%d did not restart after kill -9", RB_VICTIM);
    uint64_t restart_ms = lyh_now_ms() - t_restart;
    /* Catch-up under load: the victim gets everything n1 held when it came back. */
    ly_node_status snap;
    cr_assert_eq(lyh_node_status(lyh_chain_node(s_chain, 1), RT_CALL_MS, &snap), LY_OK);
    int64_t catchup_ms = s_wait_holds(RB_VICTIM, &snap, RT_CONVERGE_MS);
    if (catchup_ms < 0) {
        lyh_chain_print(s_chain);
        lyh_chain_keep(s_chain);
    }
    cr_assert_geq(catchup_ms, 0, "n%d did not catch up with n1 within %d ms of its restart",
                  RB_VICTIM, RT_CONVERGE_MS);
    s_rb_sleep_load(1000);
    atomic_store(&s_rb_stop, 1);
    for (int t = 0; t < RB_RUNNING; t++)
        pthread_join(s_rb[t].w_thread, NULL);

    int acked = 0, retried = 0;
    for (int t = 0; t < RB_RUNNING; t++) {
        rb_worker *w = &s_rb[t];
        cr_assert_not(w->w_failed, "client at n%d: %s", w->w_node, w->w_why);
        acked += w->w_nops;
        retried += w->w_retried;
        for (int i = 0; i < w->w_nops; i++) {
            s_expect_add(&x[w->w_ops[i].op_cust], &w->w_ops[i]);
            s_txns_add(&want, w->w_ops[i].op_txn);
        }
    }
    cr_assert_geq(while_down, 20, "only %d writes were acknowledged while n%d was down", while_down,
                  RB_VICTIM);
    int64_t conv_ms = s_converge("(b) five nodes after the load stopped");
    cr_log_info("(b) %d acknowledged changes; %d while n%d was down; %d with an unknown outcome "
                "retried; restart took %llu ms; n%d caught up with n1 in %" PRId64
                " ms after it answered; all five converged %" PRId64 " ms after the load stopped",
                acked, while_down, RB_VICTIM, retried, (unsigned long long)restart_ms, RB_VICTIM,
                catchup_ms, conv_ms);
    /* Exactly once at n1 and at the victim; the others hold the same events
     * (their version vectors are equal). */
    s_check_exactly_once(RB_VICTIM, &want);
    s_check_exactly_once(1, &want);
    for (int i = 0; i < RB_CUST; i++) {
        char cust[32];
        s_rb_cust(i, cust, sizeof cust);
        s_check_customer(cust, &x[i], 1, RB_RUNNING);
    }

    /* A new branch: n6, configured everywhere from the start, empty store. */
    cr_assert_not(lyh_exists(lyh_chain_node(s_chain, 6)->nd_data_dir),
                  "n6 has a store before its first start");
    uint64_t t6 = lyh_now_ms();
    cr_assert_eq(lyh_chain_up(s_chain, 6, 6, RT_READY_MS), 0, "n6 did not start");
    int64_t join_ms = s_converge("(b) n6 joined with an empty store");
    cr_log_info("(b) n6 converged %" PRId64 " ms after it answered (%llu ms after its start)",
                join_ms, (unsigned long long)(lyh_now_ms() - t6));
    s_check_exactly_once(6, &want);
    for (int i = 0; i < RB_CUST; i++) {
        char cust[32];
        s_rb_cust(i, cust, sizeof cust);
        s_check_customer(cust, &x[i], 1, RB_NODES);
    }
    s_txns_free(&want);
    for (int t = 0; t < RB_RUNNING; t++) {
        free(s_rb[t].w_ops);
        s_rb[t].w_ops = NULL;
    }
    s_stop_clean();
}

/* ---- (c) a line: 1 - 2 - 3 ------------------------------------------------ */

static void s_check_line(const rt_txns *want, const rt_expect *xa, const rt_expect *xb,
                         const rt_expect *xc)
{
    s_check_exactly_once(1, want);
    s_check_exactly_once(3, want);
    s_check_customer("line-a", xa, 1, 3);
    s_check_customer("line-b", xb, 1, 3);
    s_check_customer("line-c", xc, 1, 3);
}

Test(repl, line_topology_events_cross_the_middle_node)
{
    lyh_adj adj;
    lyh_adj_line(3, adj);
    s_new_chain(3, adj, 3);

    rt_expect xa = {0}, xc = {0}, xb = {0};
    rt_txns want = {0};
    s_mutate_ok(lyh_chain_node(s_chain, 1), LY_MSG_ENROLL, "line-a", "line-a-enroll", 0);
    s_mutate_ok(lyh_chain_node(s_chain, 3), LY_MSG_ENROLL, "line-c", "line-c-enroll", 0);
    s_mutate_ok(lyh_chain_node(s_chain, 2), LY_MSG_ENROLL, "line-b", "line-b-enroll", 0);
    s_txns_add(&want, "line-a-enroll");
    s_txns_add(&want, "line-c-enroll");
    s_txns_add(&want, "line-b-enroll");
    xa.x_events = xc.x_events = xb.x_events = 1;
    for (int i = 0; i < 5; i++) {
        char txn[64];
        snprintf(txn, sizeof txn, "line-a-earn-%d", i);
        int64_t p = s_mutate_ok(lyh_chain_node(s_chain, 1), LY_MSG_EARN, "line-a", txn, 1000);
        s_expect_add(&xa, &(rt_op){.op_points = p, .op_lifetime = p, .op_qual = 10});
        s_txns_add(&want, txn);
        snprintf(txn, sizeof txn, "line-c-earn-%d", i);
        p = s_mutate_ok(lyh_chain_node(s_chain, 3), LY_MSG_EARN, "line-c", txn, 2000);
        s_expect_add(&xc, &(rt_op){.op_points = p, .op_lifetime = p, .op_qual = 20});
        s_txns_add(&want, txn);
    }
    s_converge("(c) line 1-2-3");

    ly_node_status st1 = s_status(1), st3 = s_status(3);
    cr_assert_eq(lyh_status_vv(&st3, 1), 6, "n3 holds %llu of n1's 6 events",
                 (unsigned long long)lyh_status_vv(&st3, 1));
    cr_assert_eq(lyh_status_vv(&st1, 3), 6, "n1 holds %llu of n3's 6 events",
                 (unsigned long long)lyh_status_vv(&st1, 3));
    cr_assert_eq(st1.ns_npeers, 1, "n1 knows only n2, but shows %u peer rows", st1.ns_npeers);
    lyh_status_fini(&st1);
    lyh_status_fini(&st3);
    s_check_line(&want, &xa, &xb, &xc);

    /* Once linked, a new event at one end reaches the other end too. */
    int64_t p = s_mutate_ok(lyh_chain_node(s_chain, 3), LY_MSG_EARN, "line-a", "line-a-at-3", 500);
    s_expect_add(&xa, &(rt_op){.op_points = p, .op_lifetime = p, .op_qual = 5});
    s_txns_add(&want, "line-a-at-3");
    s_converge("(c) one more event from n3 to n1");
    s_check_line(&want, &xa, &xb, &xc);
    s_txns_free(&want);
    s_stop_clean();
}

/* ---- (d) the peer rows of status ----------------------------------------- */

/* Poll n1's status until `pred` holds for its view of peer `id`; returns the
 * milliseconds it took, or -1 (and prints the chain) after `timeout_ms`. */
typedef int (*rd_pred)(const ly_node_status *st, const ly_peer_status *p);

static int64_t s_wait_peer_view(int i, uint16_t id, rd_pred pred, int timeout_ms)
{
    uint64_t t0 = lyh_now_ms();
    for (;;) {
        ly_node_status st;
        if (lyh_chain_status(s_chain, i, RT_STATUS_MS, &st) == LY_OK) {
            const ly_peer_status *p = lyh_status_peer(&st, id);
            int ok = p != NULL && pred(&st, p);
            lyh_status_fini(&st);
            if (ok)
                return (int64_t)(lyh_now_ms() - t0);
        }
        if (lyh_now_ms() - t0 >= (uint64_t)timeout_ms) {
            lyh_chain_print(s_chain);
            return -1;
        }
        lyh_sleep_ms(50);
    }
}

static int s_up_converged(const ly_node_status *st, const ly_peer_status *p)
{
    return p->ps_up && p->ps_converged && p->ps_behind == 0 && p->ps_missing == 0 &&
           p->ps_digest == st->ns_digest && p->ps_events == st->ns_events;
}

static int s_up_knows_client(const ly_node_status *st, const ly_peer_status *p)
{
    (void)st;
    return p->ps_up && p->ps_client[0] != '\0';
}

static int s_down(const ly_node_status *st, const ly_peer_status *p)
{
    (void)st;
    return !p->ps_up;
}

static int s_behind_one(const ly_node_status *st, const ly_peer_status *p)
{
    (void)st;
    return !p->ps_up && p->ps_behind == 1 && !p->ps_converged;
}

Test(repl, status_shows_peers_up_converged_and_a_killed_one_down)
{
    s_new_chain(3, NULL, 3);
    for (int i = 1; i <= 3; i++) {
        char cust[32], txn[64];
        snprintf(cust, sizeof cust, "st-c%d", i);
        snprintf(txn, sizeof txn, "st-enroll-%d", i);
        s_mutate_ok(lyh_chain_node(s_chain, i), LY_MSG_ENROLL, cust, txn, 0);
        snprintf(txn, sizeof txn, "st-earn-%d", i);
        s_mutate_ok(lyh_chain_node(s_chain, i), LY_MSG_EARN, cust, txn, 1234);
    }
    s_converge("(d) three nodes");

    for (uint16_t id = 2; id <= 3; id++) {
        int64_t ms = s_wait_peer_view(1, id, s_up_converged, RT_PEER_VIEW_MS);
        cr_assert_geq(ms, 0, "n1 never showed n%u up, converged and behind 0", id);
    }
    ly_node_status st = s_status(1);
    cr_assert_eq(st.ns_npeers, 2, "n1 shows %u peer rows for 2 peers", st.ns_npeers);
    cr_assert_str_eq(st.ns_client, lyh_chain_node(s_chain, 1)->nd_listen);
    uint64_t received = 0;
    for (uint16_t id = 2; id <= 3; id++) {
        const ly_peer_status *p = lyh_status_peer(&st, id);
        const lyh_node *n = lyh_chain_node(s_chain, id);
        cr_assert_not_null(p, "n1 has no row for n%u", id);
        cr_assert_str_eq(p->ps_name, n->nd_name);
        cr_assert_str_eq(p->ps_endpoint, n->nd_peer_listen);
        cr_assert_str_eq(p->ps_client, n->nd_listen, "n%u announced client '%s', listens on %s", id,
                         p->ps_client, n->nd_listen);
        cr_assert_lt(p->ps_last_heard_ms, (uint64_t)LY_PEER_DOWN_MS, "n%u last heard %llu ms ago",
                     id, (unsigned long long)p->ps_last_heard_ms);
        cr_assert_eq(p->ps_lag_ms, 0);
        received += p->ps_received;
    }
    /* Each event of n2 and n3 was applied at n1 once, from whichever sent it first. */
    cr_assert_eq(received, 4, "n1 counts %llu events received from its peers, expected 4",
                 (unsigned long long)received);
    lyh_status_fini(&st);

    cr_assert_eq(lyh_chain_kill(s_chain, 2), 0);
    int64_t down_ms = s_wait_peer_view(1, 2, s_down, RT_DOWN_BOUND + 5000);
    cr_assert_geq(down_ms, 0, "n1 still shows n2 up %d ms after its kill -9", RT_DOWN_BOUND + 5000);
    cr_log_info("(d) n1 showed n2 down %" PRId64 " ms after its kill -9", down_ms);
    cr_assert_leq(down_ms, RT_DOWN_BOUND, "n1 took %" PRId64 " ms to show a killed n2 down",
                  down_ms);
    st = s_status(1);
    const ly_peer_status *p3 = lyh_status_peer(&st, 3);
    cr_assert(p3 != NULL && p3->ps_up, "n3 is not shown up while n2 is down");
    lyh_status_fini(&st);

    /* A write while n2 is away: n1 knows n2 lacks it. */
    s_mutate_ok(lyh_chain_node(s_chain, 1), LY_MSG_EARN, "st-c1", "st-while-down", 999);
    cr_assert_geq(s_wait_peer_view(1, 2, s_behind_one, RT_PEER_VIEW_MS), 0,
                  "n1 does not show n2 down and 1 event behind");

    uint64_t t0 = lyh_now_ms();
    cr_assert_eq(lyh_chain_up(s_chain, 2, 2, RT_READY_MS), 0, "n2 did not restart");
    int64_t up_ms = s_wait_peer_view(1, 2, s_up_converged, RT_PEER_VIEW_MS + 2000);
    cr_assert_geq(up_ms, 0, "n1 never showed the restarted n2 up and converged");
    cr_log_info("(d) n1 showed n2 up and converged %llu ms after its restart began",
                (unsigned long long)(lyh_now_ms() - t0));
    s_stop_clean();
}

/* ---- (e) the same points redeemed at three nodes at once ------------------ */

#define RE_CUST    8
#define RE_EARN    10000 /* minor units earned at each node: 100 points at the base tier */
#define RE_ANSWER  10000 /* a redemption is answered within this, either way */
#define RE_TIMEOUT 15000

typedef struct re_thread {
    int t_node;
    pthread_t t_thread;
    char t_endpoint[LYH_EP_MAX];
    int64_t t_amount[RE_CUST]; /* what it asked to redeem */
    uint8_t t_err[RE_CUST];    /* the answer */
    uint64_t t_ms[RE_CUST];    /* how long the answer took */
    int t_failed;
    char t_why[256];
} re_thread;

static pthread_barrier_t s_re_barrier;

static void s_re_cust(int c, char *out, size_t cap)
{
    snprintf(out, cap, "re-c%d", c);
}

static void *s_re_main(void *arg)
{
    re_thread *t = arg;
    ly_client *c = lyh_client_at(lyh_chain_node(s_chain, t->t_node), t->t_endpoint, RE_TIMEOUT);
    for (int k = 0; k < RE_CUST; k++) {
        pthread_barrier_wait(&s_re_barrier); /* all three ask at once */
        if (c == NULL || t->t_failed)
            continue;
        char cust[32], txn[64];
        s_re_cust(k, cust, sizeof cust);
        snprintf(txn, sizeof txn, "re-n%d-c%d", t->t_node, k);
        ly_req rq;
        ly_rep rp;
        s_req(&rq, LY_MSG_REDEEM, cust, txn, t->t_amount[k]);
        uint64_t t0 = lyh_now_ms();
        ly_err e = ly_client_call(c, &rq, &rp);
        t->t_ms[k] = lyh_now_ms() - t0;
        if (e != LY_OK) {
            t->t_failed = 1;
            snprintf(t->t_why, sizeof t->t_why, "redeem %s at n%d: no answer: %s", txn, t->t_node,
                     ly_errname(e));
            continue;
        }
        t->t_err[k] = rp.rp_err;
        ly_rep_fini(&rp);
    }
    if (c == NULL) {
        t->t_failed = 1;
        snprintf(t->t_why, sizeof t->t_why, "unable to create a client");
    }
    ly_client_destroy(&c);
    return NULL;
}

Test(repl, the_same_points_redeemed_at_three_nodes_at_once_are_spent_once)
{
    s_new_chain(3, NULL, 3);
    rt_expect x[RE_CUST];
    rt_txns want = {0};
    memset(x, 0, sizeof x);
    /* Each customer earns the same at every node: each node holds a third of
     * the balance as its own rights. */
    for (int k = 0; k < RE_CUST; k++) {
        char cust[32], txn[64];
        s_re_cust(k, cust, sizeof cust);
        snprintf(txn, sizeof txn, "re-enroll-%d", k);
        s_mutate_ok(lyh_chain_node(s_chain, 1), LY_MSG_ENROLL, cust, txn, 0);
        s_txns_add(&want, txn);
        x[k].x_events = 1;
    }
    s_converge("(e) enrollments");
    for (int k = 0; k < RE_CUST; k++)
        for (int i = 1; i <= 3; i++) {
            char cust[32], txn[64];
            s_re_cust(k, cust, sizeof cust);
            snprintf(txn, sizeof txn, "re-earn-%d-n%d", k, i);
            int64_t p = s_mutate_ok(lyh_chain_node(s_chain, i), LY_MSG_EARN, cust, txn, RE_EARN);
            s_expect_add(&x[k],
                         &(rt_op){.op_points = p, .op_lifetime = p, .op_qual = RE_EARN / 100});
            s_txns_add(&want, txn);
        }
    s_converge("(e) earnings at three nodes");

    /* All three nodes at once redeem two thirds of the balance (or, for odd
     * customers, all of it at one node and a third at the two others). */
    re_thread th[3];
    cr_assert_eq(pthread_barrier_init(&s_re_barrier, NULL, 3), 0);
    for (int i = 0; i < 3; i++) {
        re_thread *t = &th[i];
        memset(t, 0, sizeof *t);
        t->t_node = i + 1;
        snprintf(t->t_endpoint, sizeof t->t_endpoint, "%s",
                 lyh_chain_node(s_chain, i + 1)->nd_listen);
        for (int k = 0; k < RE_CUST; k++) {
            int64_t bal = x[k].x_net;
            t->t_amount[k] = k % 2 == 0 ? 2 * bal / 3 : (i == k % 3 ? bal : bal / 3);
        }
        cr_assert_eq(pthread_create(&t->t_thread, NULL, s_re_main, t), 0);
    }
    for (int i = 0; i < 3; i++)
        pthread_join(th[i].t_thread, NULL);
    pthread_barrier_destroy(&s_re_barrier);

    int ok = 0, refused = 0;
    uint64_t slowest = 0;
    for (int k = 0; k < RE_CUST; k++) {
        char cust[32];
        s_re_cust(k, cust, sizeof cust);
        int64_t spent = 0;
        for (int i = 0; i < 3; i++) {
            const re_thread *t = &th[i];
            cr_assert_not(t->t_failed, "n%d: %s", t->t_node, t->t_why);
            cr_assert(t->t_err[k] == LY_OK || t->t_err[k] == LY_EINSUFFICIENT ||
                          t->t_err[k] == LY_EINSUFFICIENT_LOCAL,
                      "redeem of %lld for %s at n%d: %s", (long long)t->t_amount[k], cust,
                      t->t_node, ly_errname((ly_err)t->t_err[k]));
            cr_assert_leq(t->t_ms[k], RE_ANSWER, "redeem for %s at n%d answered after %llu ms",
                          cust, t->t_node, (unsigned long long)t->t_ms[k]);
            slowest = t->t_ms[k] > slowest ? t->t_ms[k] : slowest;
            if (t->t_err[k] != LY_OK) {
                refused++;
                continue;
            }
            ok++;
            spent += t->t_amount[k];
            char txn[64];
            snprintf(txn, sizeof txn, "re-n%d-c%d", t->t_node, k);
            s_txns_add(&want, txn);
            s_expect_add(&x[k], &(rt_op){.op_points = -t->t_amount[k]});
        }
        cr_assert_geq(x[k].x_net, 0,
                      "%s: %lld points redeemed at once at three nodes out of a balance of %lld: "
                      "points spent twice",
                      cust, (long long)spent, (long long)(x[k].x_net + spent));
    }
    cr_log_info("(e) simultaneous redemptions: %d accepted, %d refused; slowest answer %llu ms", ok,
                refused, (unsigned long long)slowest);
    s_converge("(e) after the simultaneous redemptions");

    /* Uncontended, a redemption of the whole remaining balance at n2 succeeds:
     * n2 asks the others for their rights before failing the customer. */
    ly_client *c = lyh_client(lyh_chain_node(s_chain, 2), RE_TIMEOUT);
    cr_assert_not_null(c);
    int moved = 0;
    for (int k = 0; k < RE_CUST; k++) {
        if (x[k].x_net == 0)
            continue;
        char cust[32], txn[64];
        s_re_cust(k, cust, sizeof cust);
        snprintf(txn, sizeof txn, "re-rest-%d", k);
        ly_req rq;
        ly_rep rp;
        s_req(&rq, LY_MSG_REDEEM, cust, txn, x[k].x_net);
        uint64_t t0 = lyh_now_ms();
        ly_err e = ly_client_call(c, &rq, &rp);
        uint64_t ms = lyh_now_ms() - t0;
        cr_assert_eq(e, LY_OK, "redeem of the rest of %s at n2: %s", cust, ly_errname(e));
        cr_assert_eq(rp.rp_err, LY_OK,
                     "redeem of the whole balance %lld of %s at n2 with every node up: %s: %s "
                     "(redeemable here %lld)",
                     (long long)x[k].x_net, cust, ly_errname((ly_err)rp.rp_err), rp.rp_message,
                     (long long)rp.rp_available);
        cr_assert_leq(ms, RE_ANSWER, "the redemption took %llu ms", (unsigned long long)ms);
        ly_rep_fini(&rp);
        s_expect_add(&x[k], &(rt_op){.op_points = -x[k].x_net});
        s_txns_add(&want, txn);
        moved++;
    }
    ly_client_destroy(&c);
    s_converge("(e) after redeeming every remaining balance at n2");
    size_t transfers = s_check_exactly_once(1, &want);
    for (int k = 0; k < RE_CUST; k++) {
        char cust[32];
        s_re_cust(k, cust, sizeof cust);
        cr_assert_eq(x[k].x_net, 0);
        s_check_customer(cust, &x[k], 1, 3);
    }
    cr_log_info("(e) %d whole balances redeemed at n2; %zu rights transfers in all", moved,
                transfers);
    s_txns_free(&want);
    s_stop_clean();
}

/* ---- loyalctl verify --------------------------------------------------------- */

Test(repl, loyalctl_verify_agrees_only_when_every_node_does)
{
    if (!s_have_verify())
        cr_skip_test("loyalctl has no 'verify' command yet (`loyalctl --help` does not list it)");
    s_new_chain(3, NULL, 3);
    for (int i = 1; i <= 3; i++) {
        char cust[32], txn[64];
        snprintf(cust, sizeof cust, "vf-c%d", i);
        snprintf(txn, sizeof txn, "vf-enroll-%d", i);
        s_mutate_ok(lyh_chain_node(s_chain, i), LY_MSG_ENROLL, cust, txn, 0);
    }
    s_converge("verify: three nodes");
    /* Converged is not connected: n2 may have n1's events through n3 before
     * n1's hello, which announces n1's client endpoint, reached n2. verify
     * needs every node's endpoint, so wait until each node has heard each. */
    for (int i = 1; i <= 3; i++)
        for (uint16_t id = 1; id <= 3; id++)
            cr_assert(id == i || s_wait_peer_view(i, id, s_up_knows_client, RT_PEER_VIEW_MS) >= 0,
                      "n%d never heard n%u announce its client endpoint", i, id);
    for (int i = 1; i <= 3; i++) {
        lyh_output out;
        int code = s_verify(i, &out);
        cr_assert_eq(code, 0,
                     "verify via n%d on a converged chain exited %d\nstdout: %s\nstderr: %s", i,
                     code, out.ou_out, out.ou_err);
        lyh_output_fini(&out);
    }
    cr_assert_eq(lyh_chain_kill(s_chain, 3), 0);
    lyh_output out;
    int code = s_verify(1, &out);
    cr_assert_neq(code, 0, "verify exited 0 while n3 cannot be asked\nstdout: %s", out.ou_out);
    cr_log_info("verify with n3 down exited %d: %s%s", code, out.ou_out, out.ou_err);
    lyh_output_fini(&out);
    s_stop_clean();
}
