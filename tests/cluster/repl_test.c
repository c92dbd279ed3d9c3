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
 *       down within ~5 s, and up again after its restart.
 * Convergence times are printed (cr_log_info) so regressions show in the log. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ledger.h"
#include "node/repl.h"
#include "proto/client.h"
#include "tests/support/harness.h"

#define RT_READY_MS     20000
#define RT_CALL_MS      5000
#define RT_CONVERGE_MS  30000
#define RT_OP_DEADLINE  60000 /* an operation is retried (same txn) this long */
#define RT_RETRY_MS     100
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
    int bad = lyh_chain_stop(s_chain, 20000);
    cr_assert_eq(bad, 0, "%d node(s) did not exit 0 on SIGTERM (codes and logs above)", bad);
}

static int64_t s_converge(const char *what)
{
    int64_t ms = lyh_chain_wait_converged(s_chain, RT_CONVERGE_MS);
    if (ms < 0)
        lyh_chain_keep(s_chain);
    cr_assert_geq(ms, 0, "%s: the chain did not converge within %d ms (states above)", what,
                  RT_CONVERGE_MS);
    cr_log_info("%s: converged in %" PRId64 " ms", what, ms);
    return ms;
}

/* ---- client operations --------------------------------------------------- */

/* One acknowledged change and what it must have done to its customer. */
typedef struct rt_op {
    uint8_t op_type;
    uint8_t op_node;
    int op_cust;
    int64_t op_points;   /* the acknowledged change (rp_points) */
    int64_t op_lifetime; /* its effect on lifetime points */
    int64_t op_qual;     /* its effect on qualifying points */
} rt_op;

/* Send `rq` until a reply comes (a transport failure or "unavailable" leaves
 * the outcome unknown: the same request, same txn, is sent again). Returns the
 * transport outcome of the last try: LY_OK with `rp` holding the reply, or
 * LY_ETIMEDOUT after `deadline_ms`. *tries counts the sends. */
static ly_err s_call_until(ly_client *c, ly_req *rq, ly_rep *rp, int deadline_ms, int *tries)
{
    uint64_t deadline = lyh_now_ms() + (uint64_t)deadline_ms;
    for (int n = 1;; n++) {
        ly_err e = ly_client_call(c, rq, rp);
        if (tries)
            *tries = n;
        if (e == LY_OK && rp->rp_err != LY_EUNAVAIL)
            return LY_OK;
        ly_rep_fini(rp);
        if (lyh_now_ms() >= deadline)
            return e == LY_OK ? LY_ETIMEDOUT : e;
        lyh_sleep_ms(RT_RETRY_MS);
    }
}

static void s_req(ly_req *rq, int type, const char *cust, const char *txn, int64_t amount)
{
    ly_req_init(rq, type);
    snprintf(rq->rq_customer, sizeof rq->rq_customer, "%s", cust);
    snprintf(rq->rq_txn, sizeof rq->rq_txn, "%s", txn);
    rq->rq_amount = amount;
    if (type == LY_MSG_ENROLL) {
        rq->rq_fields = LY_PF_NAME;
        snprintf(rq->rq_profile.pf_name, sizeof rq->rq_profile.pf_name, "Name of %s", cust);
    } else if (type == LY_MSG_ADJUST) {
        snprintf(rq->rq_reason, sizeof rq->rq_reason, "replication test goodwill");
        snprintf(rq->rq_operator, sizeof rq->rq_operator, "tester");
    }
}

/* A mutation that must be acknowledged; returns the change it made. */
static int64_t s_mutate_ok(const lyh_node *n, int type, const char *cust, const char *txn,
                           int64_t amount)
{
    ly_client *c = ly_client_new(n->nd_listen, RT_CALL_MS);
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
    ly_client *c = ly_client_new(n->nd_listen, RT_CALL_MS);
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

/* Check `cust` at nodes first..last: every node answers the same (balance,
 * lifetime, debt, qualifying, tier, history) and that equals `x`. */
static void s_check_customer(const char *cust, const rt_expect *x, int first, int last)
{
    static ly_program pg; /* the default program: every test node runs it */
    ly_program_default(&pg);
    int64_t balance = x->x_net > 0 ? x->x_net : 0, debt = x->x_net < 0 ? -x->x_net : 0;
    const char *tier = pg.pg_tiers[ly_tier_for(&pg, x->x_qual)].ti_name;
    uint32_t nhist = x->x_events < LY_HIST_MAX ? x->x_events : LY_HIST_MAX;
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
        cr_assert_eq(cur->rp_nhist, nhist, "%s at %s: %u history entries, expected %u", cust,
                     n->nd_name, cur->rp_nhist, nhist);
        if (cur == ref)
            continue;
        cr_assert_eq(cur->rp_enrolled_hlc, ref->rp_enrolled_hlc, "%s: enrolled_hlc differs", cust);
        cr_assert_eq(cur->rp_last_hlc, ref->rp_last_hlc, "%s: last_hlc differs at %s", cust,
                     n->nd_name);
        for (uint32_t h = 0; h < nhist; h++) {
            const ly_hist *a = &ref->rp_hist[h], *b = &cur->rp_hist[h];
            cr_assert(a->hi_hlc == b->hi_hlc && a->hi_origin == b->hi_origin &&
                          a->hi_type == b->hi_type && a->hi_points == b->hi_points &&
                          a->hi_amount == b->hi_amount && strcmp(a->hi_txn, b->hi_txn) == 0,
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

static void s_ra_fail(ra_worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_ra_fail(ra_worker *w, const char *fmt, ...)
{
    if (w->w_failed)
        return;
    w->w_failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->w_why, sizeof w->w_why, fmt, ap);
    va_end(ap);
}

static void *s_ra_main(void *arg)
{
    ra_worker *w = arg;
    ly_client *c = ly_client_new(w->w_endpoint, RA_TIMEOUT);
    if (c == NULL) {
        s_ra_fail(w, "unable to create a client for %s", w->w_endpoint);
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
            if (own->o_refunded >= own->o_amount)
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
            s_req(&rq, LY_MSG_ADJUST, cust, txn, s_rand(&w->w_rng) % 3 == 0 ? -mag : mag);
        }

        ly_rep rp;
        int tries = 0;
        ly_err e = s_call_until(c, &rq, &rp, RT_OP_DEADLINE, &tries);
        if (e != LY_OK) {
            s_ra_fail(w, "%s %s at n%d: no reply within %d ms: %s", ly_msgtype_name(op.op_type),
                      txn, w->w_node, RT_OP_DEADLINE, ly_errname(e));
            break;
        }
        w->w_retried += tries > 1;
        if (rp.rp_err == LY_EINSUFFICIENT &&
            (op.op_type == LY_MSG_REDEEM || op.op_type == LY_MSG_ADJUST)) {
            w->w_insufficient++;
            ly_rep_fini(&rp);
            continue;
        }
        if (rp.rp_err != LY_OK) {
            s_ra_fail(w, "%s %s (customer %s, amount %lld) at n%d refused: %s: %s",
                      ly_msgtype_name(op.op_type), txn, cust, (long long)rq.rq_amount, w->w_node,
                      ly_errname((ly_err)rp.rp_err), rp.rp_message);
            ly_rep_fini(&rp);
            break;
        }
        op.op_points = rp.rp_points;
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
                s_ra_fail(w, "redeem %s of %lld reported %lld points", txn, (long long)rq.rq_amount,
                          (long long)rp.rp_points);
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

    /* Each customer is enrolled once, at its home node. */
    rt_expect x[RA_CUST];
    memset(x, 0, sizeof x);
    for (int i = 0; i < RA_CUST; i++) {
        char cust[32], txn[64];
        s_ra_cust(i, cust, sizeof cust);
        snprintf(txn, sizeof txn, "ra-enroll-%02d", i);
        s_mutate_ok(lyh_chain_node(s_chain, 1 + i % RA_NODES), LY_MSG_ENROLL, cust, txn, 0);
        x[i].x_events = 1;
    }
    /* A node accepts earns only for customers it knows: wait for the enrollments. */
    s_converge("(a) enrollments");

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

    int acked = 0, insufficient = 0, retried = 0, by_type[LY_MSG_TYPE_MAX + 1] = {0};
    for (int t = 0; t < RA_THREADS; t++) {
        const ra_worker *w = &s_ra[t];
        cr_assert_not(w->w_failed, "client %d at n%d: %s", t, w->w_node, w->w_why);
        acked += w->w_nops;
        insufficient += w->w_insufficient;
        retried += w->w_retried;
        for (int i = 0; i < w->w_nops; i++) {
            s_expect_add(&x[w->w_ops[i].op_cust], &w->w_ops[i]);
            by_type[w->w_ops[i].op_type]++;
        }
    }
    cr_log_info("(a) %d acknowledged changes in %llu ms (earn %d, redeem %d, adjust %d, reverse "
                "%d); %d refused for lack of points; %d retried",
                acked, (unsigned long long)load_ms, by_type[LY_MSG_EARN], by_type[LY_MSG_REDEEM],
                by_type[LY_MSG_ADJUST], by_type[LY_MSG_REVERSE], insufficient, retried);
    cr_assert_geq(by_type[LY_MSG_REVERSE], 20, "too few reversals to mean anything");
    cr_assert_geq(by_type[LY_MSG_REDEEM], 20, "too few redemptions to mean anything");

    s_converge("(a) after the concurrent load");

    /* Exactly once: every node holds one event per acknowledged change. */
    for (int i = 1; i <= RA_NODES; i++) {
        ly_node_status st = s_status(i);
        cr_assert_eq(st.ns_events, (uint64_t)(RA_CUST + acked),
                     "n%d holds %llu events for %d enrollments and %d acknowledged changes", i,
                     (unsigned long long)st.ns_events, RA_CUST, acked);
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
    }
    cr_log_info("(a) %d of %d customers ended in debt (refunds of spent points, or the same "
                "points redeemed at two nodes at once)",
                in_debt, RA_CUST);

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
    ly_client *c = ly_client_new(w->w_endpoint, RB_TIMEOUT);
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
    memset(x, 0, sizeof x);
    for (int i = 0; i < RB_CUST; i++) {
        char cust[32], txn[64];
        s_rb_cust(i, cust, sizeof cust);
        snprintf(txn, sizeof txn, "rb-enroll-%02d", i);
        s_mutate_ok(lyh_chain_node(s_chain, 1 + i % RB_RUNNING), LY_MSG_ENROLL, cust, txn, 0);
        x[i].x_events = 1;
    }
    s_converge("(b) enrollments at five nodes");

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
        for (int i = 0; i < w->w_nops; i++)
            s_expect_add(&x[w->w_ops[i].op_cust], &w->w_ops[i]);
    }
    cr_assert_geq(while_down, 20, "only %d writes were acknowledged while n%d was down", while_down,
                  RB_VICTIM);
    int64_t conv_ms = s_converge("(b) five nodes after the load stopped");
    cr_log_info("(b) %d acknowledged changes; %d while n%d was down; %d with an unknown outcome "
                "retried; restart took %llu ms; n%d caught up with n1 in %" PRId64
                " ms after it answered; all five converged %" PRId64 " ms after the load stopped",
                acked, while_down, RB_VICTIM, retried, (unsigned long long)restart_ms, RB_VICTIM,
                catchup_ms, conv_ms);
    for (int i = 1; i <= RB_RUNNING; i++) {
        ly_node_status st = s_status(i);
        cr_assert_eq(st.ns_events, (uint64_t)(RB_CUST + acked),
                     "n%d holds %llu events for %d acknowledged mutations", i,
                     (unsigned long long)st.ns_events, RB_CUST + acked);
        lyh_status_fini(&st);
    }
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
    ly_node_status st6 = s_status(6);
    cr_assert_eq(st6.ns_events, (uint64_t)(RB_CUST + acked), "n6 holds %llu events, expected %d",
                 (unsigned long long)st6.ns_events, RB_CUST + acked);
    lyh_status_fini(&st6);
    for (int i = 0; i < RB_CUST; i++) {
        char cust[32];
        s_rb_cust(i, cust, sizeof cust);
        s_check_customer(cust, &x[i], 1, RB_NODES);
    }
    for (int t = 0; t < RB_RUNNING; t++) {
        free(s_rb[t].w_ops);
        s_rb[t].w_ops = NULL;
    }
    s_stop_clean();
}

/* ---- (c) a line: 1 - 2 - 3 ------------------------------------------------ */

Test(repl, line_topology_events_cross_the_middle_node)
{
    lyh_adj adj;
    lyh_adj_line(3, adj);
    s_new_chain(3, adj, 3);

    rt_expect xa = {0}, xc = {0}, xb = {0};
    s_mutate_ok(lyh_chain_node(s_chain, 1), LY_MSG_ENROLL, "line-a", "line-a-enroll", 0);
    s_mutate_ok(lyh_chain_node(s_chain, 3), LY_MSG_ENROLL, "line-c", "line-c-enroll", 0);
    s_mutate_ok(lyh_chain_node(s_chain, 2), LY_MSG_ENROLL, "line-b", "line-b-enroll", 0);
    xa.x_events = xc.x_events = xb.x_events = 1;
    for (int i = 0; i < 5; i++) {
        char txn[64];
        snprintf(txn, sizeof txn, "line-a-earn-%d", i);
        int64_t p = s_mutate_ok(lyh_chain_node(s_chain, 1), LY_MSG_EARN, "line-a", txn, 1000);
        s_expect_add(&xa, &(rt_op){.op_points = p, .op_lifetime = p, .op_qual = 10});
        snprintf(txn, sizeof txn, "line-c-earn-%d", i);
        p = s_mutate_ok(lyh_chain_node(s_chain, 3), LY_MSG_EARN, "line-c", txn, 2000);
        s_expect_add(&xc, &(rt_op){.op_points = p, .op_lifetime = p, .op_qual = 20});
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
    s_check_customer("line-a", &xa, 1, 3);
    s_check_customer("line-c", &xc, 1, 3);
    s_check_customer("line-b", &xb, 1, 3);

    /* Once linked, a new event at one end reaches the other end too. */
    int64_t p = s_mutate_ok(lyh_chain_node(s_chain, 3), LY_MSG_EARN, "line-a", "line-a-at-3", 500);
    s_expect_add(&xa, &(rt_op){.op_points = p, .op_lifetime = p, .op_qual = 5});
    s_converge("(c) one more event from n3 to n1");
    s_check_customer("line-a", &xa, 1, 3);
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
