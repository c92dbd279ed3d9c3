/* once_test.c -- exactly once anywhere, with real loyald processes whose peer
 * links run through fault proxies (tests/support/net.h): a transaction
 * retried at another branch before its original reached it counts once in
 * the whole chain, whatever the order the branches see them in.
 *
 *   retry_elsewhere_counts_once: n1 cut off; an earn and a redemption
 *       acknowledged at n1 (the till never saw the replies) are retried with
 *       the same ids at n2. Healed: every node shows them once (the one with
 *       the smaller clock counts, the other is a void duplicate in the
 *       history), the voided redemption's branch has its rights back, a retry
 *       at n3 is answered as a replay of the one that counts, and `loyalctl
 *       verify` passes.
 *   kill_between_commit_and_reply: n1 commits an earn while cut off and is
 *       killed with -9 before anything leaves it; the till retries at n2. n1
 *       restarts with the event (durable), the link heals: once.
 *   three_branches_at_once: the same id at three cut-off branches at the same
 *       moment (three threads): once, two duplicates at every node.
 *   a_conflict_is_listed: one id, two different sales at two cut-off
 *       branches: one counts everywhere, `loyalctl conflicts --json` lists
 *       both with their branches and which one counts, status counts it.
 *   join_bonus_once: two cut-off branches enroll the same customer (their
 *       own ids): one join bonus chain-wide. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "proto/client.h"
#include "tests/support/check.h"
#include "tests/support/harness.h"
#include "tests/support/net.h"

#define OT_READY_MS    20000
#define OT_CALL_MS     5000
#define OT_LINKS_MS    20000
#define OT_CONVERGE_MS 30000
#define OT_RUN_MS      15000
#define OT_BONUS       50

static lyn_net *s_net;
static ly_rep s_rep;

static void s_teardown(void)
{
    ly_rep_fini(&s_rep);
    lyn_net_destroy(&s_net);
}

TestSuite(once, .fini = s_teardown, .timeout = 120);

static lyh_node *s_node(int i)
{
    return lyn_net_node(s_net, i);
}

static void s_up(int n)
{
    s_net = lyn_net_new(n, NULL);
    cr_assert_not_null(s_net);
    cr_assert_eq(lyn_net_up(s_net, OT_READY_MS), 0, "the nodes did not start (see above)");
    lyc_links_up(s_net, OT_LINKS_MS, "start");
    /* The default program with a join bonus, applied once for the chain. */
    cr_assert_eq(lyh_node_program(s_node(1),
                                  "[program]\nname = Once test\nversion = 1\nminor_units = 100\n"
                                  "points_per_unit = 1\n[tier Silver]\nthreshold = 0\n"
                                  "multiplier = 1\n[tier Gold]\nthreshold = 1000\n"
                                  "multiplier = 1.25\n[tier Platinum]\nthreshold = 5000\n"
                                  "multiplier = 1.5\n[bonus join]\npoints = 50\n",
                                  5000),
                 0);
    for (int i = 1; i <= n; i++)
        cr_assert_eq(lyh_node_wait_program(s_node(i), 1, OT_LINKS_MS), 0);
}

/* Cut node i off from every other node (both directions), or heal it. */
static void s_isolate(int i, int cut)
{
    cr_assert_eq(lyn_net_isolate(s_net, i, cut), 0, "n%d: a proxy refused", i);
}

static void s_heal(const char *what)
{
    cr_assert_eq(lyn_net_heal(s_net), 0);
    lyc_links_up(s_net, OT_LINKS_MS, what);
    lyc_converge(s_net->nt_chain, OT_CONVERGE_MS, what);
}

/* One request to node i; the reply in *rp (finish it). */
static ly_err s_call(int i, ly_req *rq, ly_rep *rp)
{
    ly_client *c = lyh_client(s_node(i), OT_CALL_MS);
    cr_assert_not_null(c);
    ly_err e = lyh_call_until(c, rq, rp, OT_RUN_MS, NULL);
    ly_client_destroy(&c);
    return e;
}

/* A mutation at node i that must succeed; returns the reply (s_rep). */
static const ly_rep *s_ok(int i, int type, const char *cust, const char *txn, int64_t amount)
{
    ly_req rq;
    lyh_req(&rq, type, cust, txn, amount, "once test goodwill");
    ly_rep_fini(&s_rep);
    ly_err e = s_call(i, &rq, &s_rep);
    cr_assert_eq(e, LY_OK, "%s %s at n%d: %s", ly_msgtype_name(type), txn, i, ly_errname(e));
    cr_assert_eq(s_rep.rp_err, LY_OK, "%s %s at n%d refused: %s: %s", ly_msgtype_name(type), txn, i,
                 ly_errname((ly_err)s_rep.rp_err), s_rep.rp_message);
    return &s_rep;
}

/* The customer at node i with its history (s_rep). */
static const ly_rep *s_lookup(int i, const char *cust)
{
    ly_req rq;
    ly_req_init(&rq, LY_MSG_CUSTOMER);
    snprintf(rq.rq_customer, sizeof rq.rq_customer, "%s", cust);
    rq.rq_limit = LY_HIST_MAX;
    ly_rep_fini(&s_rep);
    cr_assert_eq(s_call(i, &rq, &s_rep), LY_OK);
    cr_assert_eq(s_rep.rp_err, LY_OK, "customer %s at n%d: %s", cust, i, s_rep.rp_message);
    return &s_rep;
}

static int64_t s_rights_of(const ly_rep *rp, uint16_t node)
{
    for (uint32_t k = 0; k < rp->rp_nrights; k++)
        if (rp->rp_rights[k].node == node)
            return rp->rp_rights[k].points;
    return 0;
}

static ly_node_status s_status(int i)
{
    ly_node_status st;
    cr_assert_eq(lyh_node_status(s_node(i), OT_CALL_MS, &st), LY_OK);
    return st;
}

/* Entries of txn `txn` in a history: how many, how many void, and the id of
 * the one that counts. */
static void s_hist_of(const ly_rep *rp, const char *txn, int *n, int *voids, uint16_t *origin,
                      uint64_t *seq)
{
    *n = *voids = 0;
    *origin = 0;
    *seq = 0;
    for (uint32_t k = 0; k < rp->rp_nhist; k++) {
        const ly_hist *h = &rp->rp_hist[k];
        if (strcmp(h->hi_txn, txn) != 0)
            continue;
        (*n)++;
        if (h->hi_void) {
            (*voids)++;
            *origin = h->hi_win_origin;
            *seq = h->hi_win_seq;
        }
    }
}

static void s_verify_ok(void)
{
    lyh_output out;
    int code = lyh_loyalctl(&out, OT_RUN_MS, "--node", s_node(1)->nd_listen, "verify", NULL);
    cr_expect_eq(code, 0, "loyalctl verify exited %d:\n%s%s", code, out.ou_out, out.ou_err);
    lyh_output_fini(&out);
}

Test(once, retry_elsewhere_counts_once)
{
    s_up(3);
    s_ok(1, LY_MSG_ENROLL, "C1", "en-C1", 0);
    s_ok(1, LY_MSG_EARN, "C1", "base-1", 100000);                        /* 1,000 points of n1's */
    int64_t b2 = s_ok(2, LY_MSG_EARN, "C1", "base-2", 50000)->rp_points; /* 625 (Gold) of n2's */
    lyc_converge(s_net->nt_chain, OT_CONVERGE_MS, "base");

    s_isolate(1, 1);
    const ly_rep *rp = s_ok(1, LY_MSG_EARN, "C1", "sale-9", 20000);
    int64_t pts = rp->rp_points; /* 250: Gold earns x1.25 */
    cr_assert_eq(pts, 250);
    s_ok(1, LY_MSG_REDEEM, "C1", "pay-9", 300);
    /* The till never heard back: it retries both at n2, which has not seen them. */
    rp = s_ok(2, LY_MSG_EARN, "C1", "sale-9", 20000);
    cr_assert_eq(rp->rp_replayed, 0, "n2 cannot know the original yet");
    uint16_t o2 = rp->rp_origin;
    uint64_t q2 = rp->rp_seq;
    cr_assert_eq(o2, 2);
    rp = s_ok(2, LY_MSG_REDEEM, "C1", "pay-9", 300);
    cr_assert_eq(rp->rp_replayed, 0);
    s_heal("after the retries elsewhere");

    for (int i = 1; i <= 3; i++) {
        rp = s_lookup(i, "C1");
        cr_expect_eq(rp->rp_balance, OT_BONUS + 1000 + b2 + pts - 300, "n%d: balance %lld", i,
                     (long long)rp->rp_balance);
        cr_expect_eq(rp->rp_lifetime, OT_BONUS + 1000 + b2 + pts, "n%d: lifetime %lld", i,
                     (long long)rp->rp_lifetime);
        cr_expect_eq(rp->rp_debt, 0);
        int64_t sum = 0;
        for (uint32_t k = 0; k < rp->rp_nrights; k++)
            sum += rp->rp_rights[k].points;
        cr_expect_eq(sum, rp->rp_balance, "n%d: rights add up to %lld", i, (long long)sum);
        int n, voids;
        uint16_t wo;
        uint64_t ws;
        s_hist_of(rp, "sale-9", &n, &voids, &wo, &ws);
        cr_expect_eq(n, 2, "n%d: both events of sale-9 are in the history", i);
        cr_expect_eq(voids, 1, "n%d: one of them is void", i);
        s_hist_of(rp, "pay-9", &n, &voids, &wo, &ws);
        cr_expect_eq(n, 2);
        cr_expect_eq(voids, 1);
        /* n1's events came first (smaller clocks): they count; n2 has its
         * redemption's 300 points of rights back and its earn's points off. */
        cr_expect_eq(s_rights_of(rp, 1), OT_BONUS + 1000 + pts - 300, "n%d: n1's rights", i);
        cr_expect_eq(s_rights_of(rp, 2), b2, "n%d: n2's rights", i);
        ly_node_status st = s_status(i);
        cr_expect_eq(st.ns_duplicates, 2, "n%d: %llu duplicates", i,
                     (unsigned long long)st.ns_duplicates);
        cr_expect_eq(st.ns_conflicts, 0);
    }
    /* A third retry, at n3: a replay of the one that counts (n1's), not n2's. */
    rp = s_ok(3, LY_MSG_EARN, "C1", "sale-9", 20000);
    cr_expect_eq(rp->rp_replayed, 1);
    cr_expect_eq(rp->rp_origin, 1);
    cr_expect_eq(rp->rp_points, pts);
    cr_expect(rp->rp_origin != o2 || rp->rp_seq != q2);
    rp = s_ok(2, LY_MSG_REDEEM, "C1", "pay-9", 300);
    cr_expect_eq(rp->rp_replayed, 1, "n2 now answers its own retry as a replay");
    cr_expect_eq(rp->rp_origin, 1);
    /* What staff see: the duplicate in the history, and status counts. */
    lyh_output out;
    int code = lyh_loyalctl(&out, OT_RUN_MS, "--node", s_node(3)->nd_listen, "customer", "C1",
                            "--history", "20", NULL);
    cr_expect_eq(code, 0);
    cr_log_info("customer C1 at n3:\n%s", out.ou_out);
    cr_expect_not_null(strstr(out.ou_out, "DUPLICATE of node 1 (n1) seq "));
    lyh_output_fini(&out);
    code = lyh_loyalctl(&out, OT_RUN_MS, "--node", s_node(3)->nd_listen, "--json", "customer", "C1",
                        NULL);
    cr_expect_eq(code, 0);
    cr_expect_not_null(strstr(out.ou_out, "\"void\":true,\"duplicate_of\":{\"origin\":1,"));
    lyh_output_fini(&out);
    code = lyh_loyalctl(&out, OT_RUN_MS, "--node", s_node(3)->nd_listen, "status", NULL);
    cr_expect_not_null(strstr(out.ou_out, "once         2 duplicates void"), "%s", out.ou_out);
    lyh_output_fini(&out);
    s_verify_ok();
    lyc_stop_clean(s_net->nt_chain);
}

Test(once, kill_between_commit_and_reply)
{
    s_up(2);
    s_ok(1, LY_MSG_ENROLL, "C2", "en-C2", 0);
    lyc_converge(s_net->nt_chain, OT_CONVERGE_MS, "base");
    s_isolate(1, 1);
    s_ok(1, LY_MSG_EARN, "C2", "sale-k", 40000); /* committed (durable) at n1 */
    cr_assert_eq(lyh_node_kill(s_node(1)), 0);   /* kill -9: the reply is "lost" */
    const ly_rep *rp = s_ok(2, LY_MSG_EARN, "C2", "sale-k", 40000);
    cr_assert_eq(rp->rp_replayed, 0);
    cr_assert_eq(lyh_node_up(s_node(1), OT_READY_MS), 0);
    s_heal("after the restart");
    for (int i = 1; i <= 2; i++) {
        rp = s_lookup(i, "C2");
        cr_expect_eq(rp->rp_balance, OT_BONUS + 400, "n%d: balance %lld", i,
                     (long long)rp->rp_balance);
        ly_node_status st = s_status(i);
        cr_expect_eq(st.ns_duplicates, 1);
    }
    s_verify_ok();
    lyc_stop_clean(s_net->nt_chain);
}

typedef struct s_till {
    int tl_node;
    ly_err tl_e;
    ly_rep tl_rep;
} s_till;

static void *s_till_run(void *arg)
{
    s_till *t = arg;
    ly_req rq;
    lyh_req(&rq, LY_MSG_EARN, "C3", "sale-3", 30000, NULL);
    ly_client *c = lyh_client(s_node(t->tl_node), OT_CALL_MS);
    t->tl_e = c ? lyh_call_until(c, &rq, &t->tl_rep, OT_RUN_MS, NULL) : LY_ENOMEM;
    ly_client_destroy(&c);
    return NULL;
}

Test(once, three_branches_at_once)
{
    s_up(3);
    s_ok(1, LY_MSG_ENROLL, "C3", "en-C3", 0);
    lyc_converge(s_net->nt_chain, OT_CONVERGE_MS, "base");
    for (int i = 1; i <= 3; i++)
        s_isolate(i, 1);
    s_till tills[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        memset(&tills[i], 0, sizeof tills[i]);
        tills[i].tl_node = i + 1;
        cr_assert_eq(pthread_create(&th[i], NULL, s_till_run, &tills[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(tills[i].tl_e, LY_OK);
        cr_expect_eq(tills[i].tl_rep.rp_err, LY_OK, "n%d: %s", i + 1, tills[i].tl_rep.rp_message);
        cr_expect_eq(tills[i].tl_rep.rp_points, 300);
        ly_rep_fini(&tills[i].tl_rep);
    }
    s_heal("after three branches took one sale");
    uint16_t win = 0;
    for (int i = 1; i <= 3; i++) {
        const ly_rep *rp = s_lookup(i, "C3");
        cr_expect_eq(rp->rp_balance, OT_BONUS + 300, "n%d: balance %lld", i,
                     (long long)rp->rp_balance);
        int n, voids;
        uint16_t wo;
        uint64_t ws;
        s_hist_of(rp, "sale-3", &n, &voids, &wo, &ws);
        cr_expect_eq(n, 3);
        cr_expect_eq(voids, 2);
        if (i == 1)
            win = wo;
        cr_expect_eq(wo, win, "n%d names another event as the one that counts", i);
        cr_expect_eq(s_status(i).ns_duplicates, 2);
    }
    s_verify_ok();
    lyc_stop_clean(s_net->nt_chain);
}

Test(once, a_conflict_is_listed)
{
    s_up(3);
    s_ok(1, LY_MSG_ENROLL, "C4", "en-C4", 0);
    lyc_converge(s_net->nt_chain, OT_CONVERGE_MS, "base");
    s_isolate(1, 1);
    s_ok(1, LY_MSG_EARN, "C4", "rcpt-1", 10000); /* 100 points */
    s_ok(2, LY_MSG_EARN, "C4", "rcpt-1", 90000); /* another sale, same receipt number */
    s_heal("after the conflict");
    for (int i = 1; i <= 3; i++) {
        const ly_rep *rp = s_lookup(i, "C4");
        cr_expect_eq(rp->rp_balance, OT_BONUS + 100, "n%d: balance %lld (n1's sale counts)", i,
                     (long long)rp->rp_balance);
        ly_node_status st = s_status(i);
        cr_expect_eq(st.ns_conflicts, 1);
        cr_expect_eq(st.ns_duplicates, 1);
    }
    lyh_output out;
    int code =
        lyh_loyalctl(&out, OT_RUN_MS, "--node", s_node(3)->nd_listen, "--json", "conflicts", NULL);
    cr_assert_eq(code, 0, "conflicts exited %d: %s", code, out.ou_err);
    cr_log_info("conflicts --json: %s", out.ou_out);
    cr_expect_not_null(strstr(out.ou_out, "\"key\":\"rcpt-1\""));
    cr_expect_not_null(strstr(out.ou_out, "\"events_total\":2"));
    cr_expect_not_null(strstr(out.ou_out, "\"counts\":{\"origin\":1,"));
    cr_expect_not_null(strstr(out.ou_out, "\"counts\":true,\"branch\":\"n1\""));
    cr_expect_not_null(strstr(out.ou_out, "\"counts\":false,\"branch\":\"n2\""));
    cr_expect_not_null(strstr(out.ou_out, "\"amount\":90000"));
    cr_expect_not_null(strstr(out.ou_out, "\"more\":false"));
    lyh_output_fini(&out);
    code = lyh_loyalctl(&out, OT_RUN_MS, "--node", s_node(2)->nd_listen, "conflicts", NULL);
    cr_expect_eq(code, 0);
    cr_log_info("conflicts:\n%s", out.ou_out);
    cr_expect_not_null(strstr(out.ou_out, "COUNTS"));
    cr_expect_not_null(strstr(out.ou_out, "1 conflict listed"));
    lyh_output_fini(&out);
    /* The id is taken: a retry of either sale anywhere is told so, or replayed. */
    ly_req rq;
    lyh_req(&rq, LY_MSG_EARN, "C4", "rcpt-1", 90000, NULL);
    ly_rep_fini(&s_rep);
    cr_assert_eq(s_call(3, &rq, &s_rep), LY_OK);
    cr_expect_eq(s_rep.rp_err, LY_ECONFLICT);
    s_ok(2, LY_MSG_EARN, "C4", "rcpt-1", 10000);
    cr_expect_eq(s_rep.rp_replayed, 1);
    s_verify_ok();
    lyc_stop_clean(s_net->nt_chain);
}

Test(once, join_bonus_once)
{
    s_up(2);
    s_isolate(1, 1);
    s_ok(1, LY_MSG_ENROLL, "C5", "en-C5-a", 0);
    s_ok(2, LY_MSG_ENROLL, "C5", "en-C5-b", 0);
    s_heal("after two enrollments");
    for (int i = 1; i <= 2; i++) {
        const ly_rep *rp = s_lookup(i, "C5");
        cr_expect_eq(rp->rp_balance, OT_BONUS, "n%d: balance %lld: one join bonus", i,
                     (long long)rp->rp_balance);
        cr_expect_eq(rp->rp_lifetime, OT_BONUS);
        ly_node_status st = s_status(i);
        cr_expect_eq(st.ns_duplicates, 1);
        cr_expect_eq(st.ns_conflicts, 0);
    }
    /* A client may not use the node's own keys as a transaction id. */
    ly_req rq;
    lyh_req(&rq, LY_MSG_EARN, "C5", "join:C5", 1000, NULL);
    ly_rep_fini(&s_rep);
    cr_assert_eq(s_call(1, &rq, &s_rep), LY_OK);
    cr_expect_eq(s_rep.rp_err, LY_EINVAL);
    s_verify_ok();
    lyc_stop_clean(s_net->nt_chain);
}
