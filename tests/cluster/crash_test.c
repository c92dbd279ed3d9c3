/* crash_test.c -- kill -9 a loyald in the middle of a write stream.
 *
 * Eight client threads drive 10,000 mutations (mostly earns, some redeems and
 * adjusts) against one real loyald. Every acknowledged transaction is recorded
 * with the points change the node reported. Half way through, the main thread
 * kills the node with SIGKILL; the clients see timeouts, keep the operation
 * whose outcome is unknown and retry it with the same transaction id once the
 * node is back. Then the checker asks:
 *   - lost = 0:       every acknowledged transaction is still known to the node
 *                     (a re-send is answered as a replay with the same points);
 *   - duplicated = 0: each customer's balance and lifetime points equal the sum
 *                     of its acknowledged changes, and the node holds exactly one
 *                     event per acknowledged mutation.
 * Customers are partitioned among the threads, so each thread knows the exact
 * balance of its customers and sizes redemptions within it (no debt arises). */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/client.h"
#include "tests/support/harness.h"

#define CT_THREADS         8
#define CT_CUSTOMERS       200
#define CT_OPS             10000
#define CT_OPS_PER_THREAD  (CT_OPS / CT_THREADS)
#define CT_CUST_PER_THREAD (CT_CUSTOMERS / CT_THREADS)
#define CT_KILL_AT         5000
#define CT_TIMEOUT_MS      2000
#define CT_OP_DEADLINE_MS  60000
#define CT_RETRY_PAUSE_MS  100
#define CT_READY_MS        20000

/* One acknowledged operation. The request is rebuilt from these fields, so a
 * re-send carries the very same payload. */
typedef struct ct_op {
    uint8_t op_type;     /* LY_MSG_ENROLL, _EARN, _REDEEM, _ADJUST */
    uint8_t op_retried;  /* its first attempt had an unknown outcome */
    uint8_t op_replayed; /* the acknowledgement was a replay */
    int op_cust;         /* customer index 0..CT_CUSTOMERS-1 */
    int op_seq;          /* per-thread sequence: part of the txn id */
    int64_t op_amount;
    int64_t op_points; /* rp_points of the acknowledgement */
} ct_op;

typedef struct ct_worker {
    int w_index;
    pthread_t w_thread;
    const char *w_endpoint;
    unsigned w_rng;
    ct_op w_ops[CT_CUST_PER_THREAD + CT_OPS_PER_THREAD];
    int w_nops;
    int64_t w_balance[CT_CUSTOMERS]; /* known balances of this thread's customers */
    int w_unknown;                   /* operations whose outcome was unknown at first */
    int w_unknown_replayed;          /* ... and turned out to have been committed */
    int w_failed;
    char w_why[512];
    atomic_int w_saw_failure; /* saw a transport failure (the node was down) */
    atomic_int w_done;
} ct_worker;

static lyh_node *s_node;
static ct_worker s_workers[CT_THREADS];
static atomic_int s_acked; /* acknowledged operations (enrolls not counted) */

static void s_teardown(void)
{
    lyh_node_destroy(&s_node);
}

TestSuite(crash, .fini = s_teardown, .timeout = 240);

static unsigned s_rand(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return (*state >> 8) & 0xffffffu;
}

static void s_cust_id(int cust, char *out, size_t cap)
{
    snprintf(out, cap, "cust-%03d", cust);
}

static void s_build(int worker, const ct_op *op, ly_req *rq)
{
    ly_req_init(rq, op->op_type);
    s_cust_id(op->op_cust, rq->rq_customer, sizeof rq->rq_customer);
    snprintf(rq->rq_txn, sizeof rq->rq_txn, "crash-w%d-%05d", worker, op->op_seq);
    rq->rq_amount = op->op_amount;
    switch (op->op_type) {
    case LY_MSG_ENROLL:
        rq->rq_amount = 0;
        rq->rq_fields = LY_PF_NAME;
        snprintf(rq->rq_profile.pf_name, sizeof rq->rq_profile.pf_name, "Customer %d", op->op_cust);
        break;
    case LY_MSG_EARN:
        snprintf(rq->rq_category, sizeof rq->rq_category, "%s", op->op_seq % 3 == 0 ? "food" : "");
        break;
    case LY_MSG_ADJUST:
        snprintf(rq->rq_reason, sizeof rq->rq_reason, "crash test correction %d", op->op_seq);
        snprintf(rq->rq_operator, sizeof rq->rq_operator, "op-%d", worker);
        break;
    default:
        break;
    }
}

/* The points change a fresh operation must report, or INT64_MIN if it depends
 * on the tier (earns). */
static int64_t s_expected_points(const ct_op *op)
{
    switch (op->op_type) {
    case LY_MSG_ENROLL:
        return 0; /* default program: no join bonus */
    case LY_MSG_REDEEM:
        return -op->op_amount;
    case LY_MSG_ADJUST:
        return op->op_amount;
    default:
        return INT64_MIN;
    }
}

/* Run `op` until it is acknowledged: a transport failure means the outcome is
 * unknown, so the same request (same txn) is sent again. Returns 0 when
 * acknowledged (op_points set), -1 on a definite failure (w_why set). */
static int s_execute(ct_worker *w, ly_client *c, ct_op *op)
{
    uint64_t deadline = lyh_now_ms() + CT_OP_DEADLINE_MS;
    int attempts = 0;
    for (;;) {
        ly_req rq;
        ly_rep rp;
        s_build(w->w_index, op, &rq);
        ly_err e = ly_client_call(c, &rq, &rp);
        attempts++;
        if (e == LY_OK && rp.rp_err == LY_OK) {
            int rc = 0;
            int64_t want = s_expected_points(op);
            if (strcmp(rp.rp_txn, rq.rq_txn) != 0 || strcmp(rp.rp_customer, rq.rq_customer) != 0)
                lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why,
                              "%s: reply names txn '%s' customer '%s'", rq.rq_txn, rp.rp_txn,
                              rp.rp_customer);
            else if (attempts == 1 && rp.rp_replayed)
                lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why,
                              "%s: first attempt answered as a replay", rq.rq_txn);
            else if (want != INT64_MIN && rp.rp_points != want)
                lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why,
                              "%s: %s of %lld reported points %lld, expected %lld", rq.rq_txn,
                              ly_msgtype_name(op->op_type), (long long)op->op_amount,
                              (long long)rp.rp_points, (long long)want);
            else if (op->op_type == LY_MSG_EARN && rp.rp_points < op->op_amount / 100)
                lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why,
                              "%s: earn of %lld minor units gave only %lld points", rq.rq_txn,
                              (long long)op->op_amount, (long long)rp.rp_points);
            else if (rp.rp_balance != w->w_balance[op->op_cust] + rp.rp_points || rp.rp_debt != 0)
                lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why,
                              "%s: balance %lld debt %lld after %+lld, expected balance %lld",
                              rq.rq_txn, (long long)rp.rp_balance, (long long)rp.rp_debt,
                              (long long)rp.rp_points,
                              (long long)(w->w_balance[op->op_cust] + rp.rp_points));
            if (w->w_failed)
                rc = -1;
            op->op_points = rp.rp_points;
            op->op_retried = attempts > 1;
            op->op_replayed = rp.rp_replayed;
            if (attempts > 1) {
                w->w_unknown++;
                w->w_unknown_replayed += rp.rp_replayed ? 1 : 0;
            }
            ly_rep_fini(&rp);
            return rc;
        }
        if (e == LY_OK && rp.rp_err != LY_EUNAVAIL) {
            lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why,
                          "%s (%s, amount %lld) refused: %s: %s", rq.rq_txn,
                          ly_msgtype_name(op->op_type), (long long)op->op_amount,
                          ly_errname((ly_err)rp.rp_err), rp.rp_message);
            ly_rep_fini(&rp);
            return -1;
        }
        ly_rep_fini(&rp);
        if (e != LY_OK)
            atomic_store(&w->w_saw_failure, 1);
        if (lyh_now_ms() >= deadline) {
            lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why,
                          "%s: no acknowledgement after %d attempts in %d ms (last: %s)", rq.rq_txn,
                          attempts, CT_OP_DEADLINE_MS, ly_errname(e));
            return -1;
        }
        lyh_sleep_ms(CT_RETRY_PAUSE_MS);
    }
}

static int s_record(ct_worker *w, ly_client *c, ct_op *op)
{
    if (s_execute(w, c, op) != 0)
        return -1;
    w->w_balance[op->op_cust] += op->op_points;
    w->w_ops[w->w_nops++] = *op;
    return 0;
}

static void *s_worker_main(void *arg)
{
    ct_worker *w = arg;
    ly_client *c = lyh_client_at(s_node, w->w_endpoint, CT_TIMEOUT_MS);
    if (c == NULL) {
        lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why, "unable to create a client for %s",
                      w->w_endpoint);
        goto done;
    }
    int seq = 0;
    /* This thread's customers: index % CT_THREADS == w_index. */
    for (int k = 0; k < CT_CUST_PER_THREAD; k++) {
        ct_op op = {
            .op_type = LY_MSG_ENROLL, .op_cust = k * CT_THREADS + w->w_index, .op_seq = seq++};
        if (s_record(w, c, &op) != 0)
            goto done;
    }
    for (int i = 0; i < CT_OPS_PER_THREAD; i++) {
        int cust = (int)(s_rand(&w->w_rng) % CT_CUST_PER_THREAD) * CT_THREADS + w->w_index;
        int64_t bal = w->w_balance[cust];
        unsigned r = s_rand(&w->w_rng) % 100;
        ct_op op = {.op_cust = cust, .op_seq = seq++};
        if (r < 12 && bal > 0) {
            op.op_type = LY_MSG_REDEEM;
            int64_t cap = bal < 400 ? bal : 400;
            op.op_amount = 1 + (int64_t)(s_rand(&w->w_rng) % (unsigned)cap);
        } else if (r < 20) {
            op.op_type = LY_MSG_ADJUST;
            int64_t mag = 1 + (int64_t)(s_rand(&w->w_rng) % 50);
            if (s_rand(&w->w_rng) % 2 == 0 && bal >= mag)
                op.op_amount = -mag;
            else
                op.op_amount = mag;
        } else {
            op.op_type = LY_MSG_EARN;
            op.op_amount = 100 + (int64_t)(s_rand(&w->w_rng) % 19901);
        }
        if (s_record(w, c, &op) != 0)
            goto done;
        atomic_fetch_add(&s_acked, 1);
    }
done:
    ly_client_destroy(&c);
    atomic_store(&w->w_done, 1);
    return NULL;
}

/* Verification pass of one worker: every acknowledged op, re-sent unchanged,
 * must come back as a replay with the same points change. */
typedef struct ct_verify {
    ct_worker *v_worker;
    const char *v_endpoint;
    int v_failed;
    char v_why[512];
} ct_verify;

static void *s_verify_main(void *arg)
{
    ct_verify *v = arg;
    ct_worker *w = v->v_worker;
    ly_client *c = lyh_client_at(s_node, v->v_endpoint, 10000);
    if (c == NULL) {
        v->v_failed = 1;
        snprintf(v->v_why, sizeof v->v_why, "unable to create a client");
        return NULL;
    }
    for (int i = 0; i < w->w_nops && !v->v_failed; i++) {
        const ct_op *op = &w->w_ops[i];
        ly_req rq;
        ly_rep rp;
        s_build(w->w_index, op, &rq);
        ly_err e = ly_client_call(c, &rq, &rp);
        if (e != LY_OK || rp.rp_err != LY_OK) {
            v->v_failed = 1;
            snprintf(v->v_why, sizeof v->v_why, "re-send of acknowledged %s failed: %s %s %s",
                     rq.rq_txn, ly_errname(e), ly_errname((ly_err)rp.rp_err), rp.rp_message);
        } else if (!rp.rp_replayed || rp.rp_points != op->op_points) {
            v->v_failed = 1;
            snprintf(v->v_why, sizeof v->v_why,
                     "re-send of acknowledged %s (%s %lld): replayed=%d points=%lld, "
                     "expected replayed=1 points=%lld (lost or applied twice)",
                     rq.rq_txn, ly_msgtype_name(op->op_type), (long long)op->op_amount,
                     rp.rp_replayed, (long long)rp.rp_points, (long long)op->op_points);
        }
        ly_rep_fini(&rp);
    }
    ly_client_destroy(&c);
    return NULL;
}

static int s_all_failed_or_done(void)
{
    for (int t = 0; t < CT_THREADS; t++)
        if (!atomic_load(&s_workers[t].w_saw_failure) && !atomic_load(&s_workers[t].w_done))
            return 0;
    return 1;
}

static int s_any_done(void)
{
    for (int t = 0; t < CT_THREADS; t++)
        if (atomic_load(&s_workers[t].w_done))
            return 1;
    return 0;
}

Test(crash, kill9_mid_stream_loses_nothing_duplicates_nothing)
{
    s_node = lyh_node_new(1, "crash", NULL);
    cr_assert_not_null(s_node, "unable to set up the node");
    cr_assert_eq(lyh_node_up(s_node, CT_READY_MS), 0, "loyald did not start");

    for (int t = 0; t < CT_THREADS; t++) {
        ct_worker *w = &s_workers[t];
        w->w_index = t;
        w->w_endpoint = s_node->nd_listen;
        w->w_rng = 7919u * (unsigned)(t + 1);
        cr_assert_eq(pthread_create(&w->w_thread, NULL, s_worker_main, w), 0);
    }

    /* Wait for half the stream, then pull the plug. */
    uint64_t deadline = lyh_now_ms() + 90000;
    while (atomic_load(&s_acked) < CT_KILL_AT && !s_any_done() && lyh_now_ms() < deadline)
        lyh_sleep_ms(2);
    cr_assert_eq(lyh_node_kill(s_node), 0, "the node was not running when it was to be killed");
    int acked_at_kill = atomic_load(&s_acked); /* the node is dead and reaped now */
    cr_assert_lt(acked_at_kill, CT_OPS, "the stream ended before the kill");
    cr_assert_geq(acked_at_kill, CT_KILL_AT, "only %d acknowledgements before the kill deadline",
                  acked_at_kill);

    /* Every running client must notice the node is gone before it comes back. */
    deadline = lyh_now_ms() + 4 * CT_TIMEOUT_MS + 5000;
    while (!s_all_failed_or_done() && lyh_now_ms() < deadline)
        lyh_sleep_ms(10);
    cr_assert(s_all_failed_or_done(), "a client never noticed the node was down");
    int acked_while_down = atomic_load(&s_acked) - acked_at_kill;

    cr_assert_eq(lyh_node_up(s_node, CT_READY_MS), 0, "loyald did not restart after kill -9");

    for (int t = 0; t < CT_THREADS; t++)
        pthread_join(s_workers[t].w_thread, NULL);
    int unknown = 0, unknown_replayed = 0;
    for (int t = 0; t < CT_THREADS; t++) {
        ct_worker *w = &s_workers[t];
        cr_assert_not(w->w_failed, "client %d: %s", t, w->w_why);
        cr_assert_eq(w->w_nops, CT_CUST_PER_THREAD + CT_OPS_PER_THREAD);
        unknown += w->w_unknown;
        unknown_replayed += w->w_unknown_replayed;
    }
    cr_log_info("kill -9 after %d acks; %d acked while down (in flight at the kill); %d unknown "
                "outcomes, %d of them had been committed",
                acked_at_kill, acked_while_down, unknown, unknown_replayed);
    cr_assert_eq(atomic_load(&s_acked), CT_OPS);
    cr_assert_geq(unknown, 1, "no operation had an unknown outcome: the kill was not exercised");
    cr_assert_leq(
        acked_while_down, CT_THREADS,
        "%d acknowledgements arrived after the node was reaped (at most one in flight per "
        "client)",
        acked_while_down);

    /* No acknowledged transaction lost or doubled: re-sending each one is a replay. */
    ct_verify ver[CT_THREADS];
    pthread_t vt[CT_THREADS];
    for (int t = 0; t < CT_THREADS; t++) {
        ver[t] = (ct_verify){.v_worker = &s_workers[t], .v_endpoint = s_node->nd_listen};
        cr_assert_eq(pthread_create(&vt[t], NULL, s_verify_main, &ver[t]), 0);
    }
    for (int t = 0; t < CT_THREADS; t++)
        pthread_join(vt[t], NULL);
    for (int t = 0; t < CT_THREADS; t++)
        cr_assert_not(ver[t].v_failed, "client %d: %s", t, ver[t].v_why);

    /* Balances and lifetime points are exactly the sums of the acknowledged changes. */
    ly_client *c = lyh_client(s_node, 10000);
    cr_assert_not_null(c);
    for (int cust = 0; cust < CT_CUSTOMERS; cust++) {
        ct_worker *w = &s_workers[cust % CT_THREADS];
        int64_t sum = 0, lifetime = 0;
        int nops = 0;
        for (int i = 0; i < w->w_nops; i++) {
            const ct_op *op = &w->w_ops[i];
            if (op->op_cust != cust)
                continue;
            nops++;
            sum += op->op_points;
            if (op->op_points > 0 && (op->op_type == LY_MSG_EARN || op->op_type == LY_MSG_ADJUST))
                lifetime += op->op_points;
        }
        ly_req rq;
        ly_rep rp;
        ly_req_init(&rq, LY_MSG_CUSTOMER);
        s_cust_id(cust, rq.rq_customer, sizeof rq.rq_customer);
        rq.rq_limit = 1;
        ly_err e = ly_client_call(c, &rq, &rp);
        cr_assert_eq(e, LY_OK, "customer %s: %s", rq.rq_customer, ly_errname(e));
        cr_assert_eq(rp.rp_err, LY_OK, "customer %s: %s", rq.rq_customer,
                     ly_errname((ly_err)rp.rp_err));
        cr_assert_eq(rp.rp_balance, sum, "customer %s (%d acked ops): balance %lld, acked sum %lld",
                     rq.rq_customer, nops, (long long)rp.rp_balance, (long long)sum);
        cr_assert_eq(rp.rp_debt, 0, "customer %s: debt %lld", rq.rq_customer,
                     (long long)rp.rp_debt);
        cr_assert_eq(rp.rp_lifetime, lifetime, "customer %s: lifetime %lld, acked earnings %lld",
                     rq.rq_customer, (long long)rp.rp_lifetime, (long long)lifetime);
        ly_rep_fini(&rp);
    }
    ly_client_destroy(&c);

    /* One event per acknowledged mutation, enrolls included. */
    ly_node_status st;
    cr_assert_eq(lyh_node_status(s_node, 10000, &st), LY_OK);
    cr_assert_eq(st.ns_events, (uint64_t)(CT_OPS + CT_CUSTOMERS),
                 "the node holds %llu events for %d acknowledged mutations",
                 (unsigned long long)st.ns_events, CT_OPS + CT_CUSTOMERS);
    cr_assert_eq(st.ns_customers, (uint64_t)CT_CUSTOMERS);

    cr_assert_eq(lyh_node_stop(s_node, 20000), 0, "loyald did not exit 0 on SIGTERM");
}
