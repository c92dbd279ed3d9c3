/* program_traffic_test.c -- a program change replicated while every branch
 * takes purchases, with real loyald processes whose peer links run through
 * fault proxies (tests/support/net.h). The requirement: afterwards
 * every node holds identical balances, tiers and digests, and no event
 * computed under the old version changes.
 *
 *   change_mid_traffic: version 1 (Silver 0 x1, Gold 2000 x1.5, shoes x2, a
 *       x2 campaign on shoes) in force at n1..n3; one till per node makes
 *       several hundred earns for 48 customers (mixed categories and amounts,
 *       unique ids), with a few redemptions and full refunds. After a fixed
 *       number of acknowledged operations n3 is cut off and version 2 (the
 *       base tier renamed Member, Gold 1000 x3, a Platinum 4000 x4, shoes
 *       x1.25, gift cards earn nothing, no campaign) is applied at n2; n3 goes on earning under
 * version 1, is healed, and every till goes on until it has made some earns after version 2 is in
 * force everywhere. Then, once converged:
 *        - `loyalctl verify` passes at every node; every node reports the
 *          same digest and version 2 with its hash;
 *        - every node lists the same events, field by field;
 *        - every earn's points, qualifying points and campaign are what its
 *          own version (ev_program) gives for its amount, category and tier
 *          before (parsed here from the same program texts, ly_earn_points and
 *          ly_progdef_campaign_best), and its tiers before and after are
 *          that version's tiers for what its origin can have seen; every full
 *          refund takes back exactly what its earn gave, whichever version
 *          is in force; versions never go back at an origin, every event n2
 *          made after its version 2 parts is version 2 and every one before
 *          them version 1, every version 2 event is later (HLC) than them;
 *        - what each till was told (points, event id) is what every node
 *          holds; what it had acknowledged before the apply is version 1,
 *          everything n3 acknowledged while cut off is version 1, what n1 and
 *          n2 acknowledged after they ran version 2, and every till after all
 *          three did, is version 2 (so both versions were really used);
 *        - every customer has, at every node, the same balance and lifetime
 *          (the sums of its events), qualifying points and tier (version 2's
 *          tier for them), and its history names each tier change with
 *          the tier names of the event's own version. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hlc.h"
#include "common/ledger.h"
#include "common/program.h"
#include "proto/client.h"
#include "tests/support/check.h"
#include "tests/support/harness.h"
#include "tests/support/net.h"

#define TT_NODES       3
#define TT_READY_MS    20000
#define TT_CALL_MS     5000
#define TT_LINKS_MS    20000
#define TT_CONVERGE_MS 30000
#define TT_RETRY_MS    15000 /* lyh_call_until's deadline per operation */
#define TT_CUSTOMERS   48
#define TT_QUOTA       300  /* earns per till at least */
#define TT_AFTER       20   /* earns per till at least after version 2 is in force everywhere */
#define TT_SWITCH      240  /* operations acknowledged (all tills) before the change */
#define TT_CUT_OPS     40   /* operations n3 acknowledges cut off after the apply */
#define TT_OPS_MAX     1200 /* a till gives up (and fails) after this many */
#define TT_PAUSE_MS    10   /* between two operations of a till */
#define TT_WAIT_MS     30000
#define TT_EVENTS_MAX  4096 /* per node */

static const char s_v1[] = "[program]\nname = Traffic v1\nversion = 1\nminor_units = 100\n"
                           "points_per_unit = 1\n"
                           "[tier Silver]\nthreshold = 0\nmultiplier = 1\n"
                           "[tier Gold]\nthreshold = 2000\nmultiplier = 1.5\n"
                           "[category shoes]\nmultiplier = 2\n"
                           "[campaign shoes_double]\nmultiplier = 2\ncategories = shoes\n";

static const char s_v2[] = "[program]\nname = Traffic v2\nversion = 2\nminor_units = 100\n"
                           "points_per_unit = 1\n"
                           "[tier Member]\nthreshold = 0\nmultiplier = 1\n"
                           "[tier Gold]\nthreshold = 1000\nmultiplier = 3\n"
                           "[tier Platinum]\nthreshold = 4000\nmultiplier = 4\n"
                           "[category shoes]\nmultiplier = 1.25\n"
                           "[category giftcards]\nearns = no\n";

static const char *const s_categories[] = {"shoes", "food", "", "giftcards", "books", "shoes"};
#define TT_NCATEGORIES (sizeof s_categories / sizeof s_categories[0])

/* One acknowledged mutation, as the till was told. */
typedef struct s_ack {
    uint8_t ak_type; /* ly_msgtype */
    uint16_t ak_origin;
    uint64_t ak_seq;
    int64_t ak_points;
    int ak_cust;
    int ak_refunded; /* an earn this till refunded in full */
    char ak_txn[LY_ID_MAX + 1];
} s_ack;

typedef struct s_till {
    int tl_node;
    unsigned tl_seed;
    atomic_int tl_acked; /* entries of tl_acks filled (release: the entry first) */
    int tl_flag_at;      /* tl_acked when the till first saw s_v2_everywhere (-1: never) */
    int tl_earns, tl_redeems, tl_refunds;
    int64_t tl_rights[TT_CUSTOMERS]; /* this node's rights per customer: its own events' sum */
    s_ack tl_acks[TT_OPS_MAX];
    int tl_failed;
    char tl_why[512];
} s_till;

static lyn_net *s_net;
static s_till *s_tills; /* [TT_NODES] */
static ly_event *s_evs[TT_NODES + 1];
static size_t s_nevs[TT_NODES + 1];
static ly_rep s_rep;
static atomic_int s_v2_everywhere;
static atomic_int s_stop;
static pthread_t s_th[TT_NODES];
static int s_nth; /* tills started and not yet joined */

/* Stop the tills still running (an assertion failed in the main thread) and
 * join them before anything they use goes. */
static void s_join_tills(void)
{
    atomic_store(&s_stop, 1);
    for (; s_nth > 0; s_nth--)
        pthread_join(s_th[s_nth - 1], NULL);
}

static void s_teardown(void)
{
    s_join_tills();
    ly_rep_fini(&s_rep);
    lyn_net_destroy(&s_net);
    free(s_tills);
    s_tills = NULL;
    for (int i = 0; i <= TT_NODES; i++) {
        free(s_evs[i]);
        s_evs[i] = NULL;
    }
}

TestSuite(program_traffic, .fini = s_teardown, .timeout = 240);

static lyh_node *s_node(int i)
{
    return lyn_net_node(s_net, i);
}

static void s_cust_id(int k, char *out, size_t cap)
{
    snprintf(out, cap, "tc%02d", k);
}

/* ---- the tills ------------------------------------------------------------ */

static int s_acked_all(void)
{
    int n = 0;
    for (int i = 0; i < TT_NODES; i++)
        n += atomic_load(&s_tills[i].tl_acked);
    return n;
}

/* Send `rq` until it is answered and accepted; note it in the till's
 * acknowledgements. 0, or -1 with the till failed. */
static int s_till_do(s_till *t, ly_client *c, ly_req *rq, int cust)
{
    ly_rep rp;
    ly_err e = lyh_call_until(c, rq, &rp, TT_RETRY_MS, NULL);
    if (e != LY_OK) {
        lyh_fail_once(&t->tl_failed, t->tl_why, sizeof t->tl_why, "n%d: %s %s: %s", t->tl_node,
                      ly_msgtype_name(rq->rq_type), rq->rq_txn, ly_errname(e));
        return -1;
    }
    if (rp.rp_err != LY_OK) {
        lyh_fail_once(&t->tl_failed, t->tl_why, sizeof t->tl_why, "n%d: %s %s refused: %s: %s",
                      t->tl_node, ly_msgtype_name(rq->rq_type), rq->rq_txn,
                      ly_errname((ly_err)rp.rp_err), rp.rp_message);
        ly_rep_fini(&rp);
        return -1;
    }
    int k = atomic_load_explicit(&t->tl_acked, memory_order_relaxed);
    s_ack *a = &t->tl_acks[k];
    memset(a, 0, sizeof *a);
    a->ak_type = rq->rq_type;
    a->ak_origin = rp.rp_origin;
    a->ak_seq = rp.rp_seq;
    a->ak_points = rp.rp_points;
    a->ak_cust = cust;
    snprintf(a->ak_txn, sizeof a->ak_txn, "%s", rq->rq_txn);
    t->tl_rights[cust] += rp.rp_points;
    ly_rep_fini(&rp);
    atomic_store_explicit(&t->tl_acked, k + 1, memory_order_release);
    return 0;
}

/* An earlier earn of this till not yet refunded whose points this node still
 * holds as rights (so no node's rights go below zero, and every redemption of
 * a node's own rights stays within the balance), or -1. */
static int s_refundable(s_till *t, unsigned r)
{
    int n = atomic_load_explicit(&t->tl_acked, memory_order_relaxed);
    for (int tries = 0; n > 0 && tries < 16; tries++) {
        const s_ack *a = &t->tl_acks[(r + (unsigned)tries * 7919u) % (unsigned)n];
        if (a->ak_type == LY_MSG_EARN && !a->ak_refunded &&
            t->tl_rights[a->ak_cust] >= a->ak_points)
            return (int)(a - t->tl_acks);
    }
    return -1;
}

/* One till at node tl_node: earns, and every so often a redemption of this
 * node's own rights (so it never waits for or moves rights) or a full refund
 * of one of its own earns. Stops when it has made TT_QUOTA earns and TT_AFTER
 * after it saw version 2 in force everywhere. */
static void *s_till_run(void *arg)
{
    s_till *t = arg;
    ly_client *c = lyh_client(s_node(t->tl_node), TT_CALL_MS);
    if (!c) {
        lyh_fail_once(&t->tl_failed, t->tl_why, sizeof t->tl_why, "n%d: no client", t->tl_node);
        return NULL;
    }
    int after = 0;
    for (int op = 0; !atomic_load(&s_stop); op++) {
        if (t->tl_flag_at < 0 && atomic_load(&s_v2_everywhere))
            t->tl_flag_at = atomic_load_explicit(&t->tl_acked, memory_order_relaxed);
        if (t->tl_earns >= TT_QUOTA && after >= TT_AFTER)
            break;
        if (atomic_load_explicit(&t->tl_acked, memory_order_relaxed) >= TT_OPS_MAX) {
            lyh_fail_once(&t->tl_failed, t->tl_why, sizeof t->tl_why,
                          "n%d: %d operations and version 2 never in force everywhere", t->tl_node,
                          TT_OPS_MAX);
            break;
        }
        unsigned r = (unsigned)rand_r(&t->tl_seed);
        int cust = (int)(r % TT_CUSTOMERS);
        char id[16], txn[32];
        s_cust_id(cust, id, sizeof id);
        ly_req rq;
        int refund = -1;
        if (op % 23 == 22 && t->tl_rights[cust] >= 10) {
            snprintf(txn, sizeof txn, "r%d-%d", t->tl_node, op);
            int64_t pts = 10 + (int64_t)((r >> 8) % 41);
            if (pts > t->tl_rights[cust])
                pts = t->tl_rights[cust];
            lyh_req(&rq, LY_MSG_REDEEM, id, txn, pts, NULL);
            if (s_till_do(t, c, &rq, cust) != 0)
                break;
            t->tl_redeems++;
        } else if (op % 31 == 30 && (refund = s_refundable(t, r >> 4)) >= 0) {
            const s_ack *orig = &t->tl_acks[refund];
            cust = orig->ak_cust;
            s_cust_id(cust, id, sizeof id);
            snprintf(txn, sizeof txn, "f%d-%d", t->tl_node, op);
            lyh_req(&rq, LY_MSG_REVERSE, id, txn, 0, NULL); /* 0: all that is left */
            snprintf(rq.rq_ref_txn, sizeof rq.rq_ref_txn, "%s", orig->ak_txn);
            t->tl_acks[refund].ak_refunded = 1;
            if (s_till_do(t, c, &rq, cust) != 0)
                break;
            t->tl_refunds++;
        } else {
            snprintf(txn, sizeof txn, "e%d-%d", t->tl_node, op);
            int64_t amount = 100 + (int64_t)((r >> 6) % 40000); /* 1.00 .. 400.99 */
            lyh_req(&rq, LY_MSG_EARN, id, txn, amount, NULL);
            snprintf(rq.rq_category, sizeof rq.rq_category, "%s",
                     s_categories[(r >> 20) % TT_NCATEGORIES]);
            if (s_till_do(t, c, &rq, cust) != 0)
                break;
            t->tl_earns++;
            if (t->tl_flag_at >= 0)
                after++;
        }
        lyh_sleep_ms(TT_PAUSE_MS);
    }
    ly_client_destroy(&c);
    return NULL;
}

/* ---- the main thread's calls ---------------------------------------------- */

static void s_call_ok(int i, ly_req *rq, const char *what)
{
    ly_client *c = lyh_client(s_node(i), TT_CALL_MS);
    cr_assert_not_null(c);
    ly_rep_fini(&s_rep);
    ly_err e = lyh_call_until(c, rq, &s_rep, TT_RETRY_MS, NULL);
    ly_client_destroy(&c);
    cr_assert_eq(e, LY_OK, "%s at n%d: %s", what, i, ly_errname(e));
    cr_assert_eq(s_rep.rp_err, LY_OK, "%s at n%d: %s: %s", what, i,
                 ly_errname((ly_err)s_rep.rp_err), s_rep.rp_message);
}

static ly_node_status s_status(int i)
{
    ly_node_status st;
    cr_assert_eq(lyh_node_status(s_node(i), TT_CALL_MS, &st), LY_OK, "status of n%d", i);
    return st;
}

/* Wait until till `k` (0-based) has acknowledged `n` operations. */
static void s_wait_acked(int k, int n, const char *what)
{
    uint64_t end = lyh_now_ms() + TT_WAIT_MS;
    while (atomic_load(&s_tills[k].tl_acked) < n && !s_tills[k].tl_failed && lyh_now_ms() < end)
        lyh_sleep_ms(5);
    cr_assert_geq(atomic_load(&s_tills[k].tl_acked), n, "%s: the till at n%d stopped at %d: %s",
                  what, k + 1, atomic_load(&s_tills[k].tl_acked), s_tills[k].tl_why);
}

/* Every event node i holds, per origin in seq order, into s_evs[i]. */
static void s_list_events(int i)
{
    s_evs[i] = malloc(TT_EVENTS_MAX * sizeof *s_evs[i]);
    cr_assert_not_null(s_evs[i]);
    s_nevs[i] = 0;
    ly_client *c = lyh_client(s_node(i), TT_CALL_MS);
    cr_assert_not_null(c);
    for (uint16_t o = 1; o <= TT_NODES; o++) {
        uint64_t since = 0;
        for (;;) {
            ly_req rq;
            ly_req_init(&rq, LY_MSG_EVENTS);
            rq.rq_origin = o;
            rq.rq_since = since;
            rq.rq_limit = LY_EVENTS_MAX;
            ly_rep_fini(&s_rep);
            ly_err e = lyh_call_until(c, &rq, &s_rep, TT_RETRY_MS, NULL);
            cr_assert_eq(e, LY_OK, "events of n%u at n%d: %s", o, i, ly_errname(e));
            cr_assert_eq(s_rep.rp_err, LY_OK, "events at n%d: %s", i, s_rep.rp_message);
            if (s_rep.rp_nevents == 0)
                break;
            cr_assert_leq(s_nevs[i] + s_rep.rp_nevents, TT_EVENTS_MAX);
            for (uint32_t k = 0; k < s_rep.rp_nevents; k++) {
                const ly_event *ev = &s_rep.rp_events[k];
                cr_assert_eq(ev->ev_origin, o, "n%d lists an event of n%u after n%u's", i,
                             ev->ev_origin, o);
                cr_assert_gt(ev->ev_seq, since, "n%d: seqs of n%u out of order", i, o);
                s_evs[i][s_nevs[i]++] = *ev;
                since = ev->ev_seq;
            }
        }
    }
    ly_client_destroy(&c);
}

/* The same event, field by field (what replication carries). */
static void s_expect_same_event(const ly_event *a, const ly_event *b, int node)
{
    int same = a->ev_origin == b->ev_origin && a->ev_incarnation == b->ev_incarnation &&
               a->ev_seq == b->ev_seq && a->ev_hlc == b->ev_hlc && a->ev_type == b->ev_type &&
               a->ev_program == b->ev_program && a->ev_tier_from == b->ev_tier_from &&
               a->ev_tier_to == b->ev_tier_to && a->ev_amount == b->ev_amount &&
               a->ev_points == b->ev_points && a->ev_qual == b->ev_qual &&
               a->ev_qual_day == b->ev_qual_day && a->ev_req_hash == b->ev_req_hash &&
               strcmp(a->ev_customer, b->ev_customer) == 0 && strcmp(a->ev_txn, b->ev_txn) == 0 &&
               strcmp(a->ev_ref_txn, b->ev_ref_txn) == 0 &&
               strcmp(a->ev_category, b->ev_category) == 0 &&
               strcmp(a->ev_reason, b->ev_reason) == 0;
    cr_expect(same, "n%d holds n%u's seq %llu (%s %s) otherwise than n1", node, a->ev_origin,
              (unsigned long long)a->ev_seq, ly_evtype_name(a->ev_type), a->ev_txn);
}

/* ---- the test -------------------------------------------------------------- */

static ly_progdef s_def[3]; /* [1], [2]: the versions as parsed here */
static ly_program s_pg[3];

/* What earn `ev` gives under its own version: points, qualifying points and
 * the campaign's name ("" none), as the earn path computes them. 0, or -1 if
 * its version or tier is not one of this test's. */
static int s_expected_earn(const ly_event *ev, int64_t *points, int64_t *qual, const char **reason)
{
    if (ev->ev_program < 1 || ev->ev_program > 2)
        return -1;
    const ly_progdef *pd = &s_def[ev->ev_program];
    const ly_program *pg = &s_pg[ev->ev_program];
    if (ev->ev_tier_from >= pg->pg_ntiers || ev->ev_tier_to >= pg->pg_ntiers)
        return -1;
    int64_t base;
    *points = ly_earn_points(pg, ev->ev_amount, ev->ev_tier_from, ev->ev_category, &base);
    *qual = ly_category_mult(pg, ev->ev_category) == 0 ? 0 : base;
    *reason = "";
    if (pd->pd_ncampaigns > 0) {
        char branch[16];
        snprintf(branch, sizeof branch, "n%u", ev->ev_origin);
        uint64_t ms = LY_HLC_MS(ev->ev_hlc);
        ly_pd_line ln = {.ln_amount = ev->ev_amount,
                         .ln_category = ev->ev_category,
                         .ln_branch = branch,
                         .ln_tier = ev->ev_tier_from,
                         .ln_day = LY_HLC_DAY(ev->ev_hlc),
                         .ln_minute = (int)(ms % 86400000ULL / 60000ULL)};
        int which;
        int64_t best = ly_progdef_campaign_best(pd, &ln, &which);
        if (which >= 0 && best > *points) {
            *points = best;
            *reason = pd->pd_campaigns[which].cp_name;
        }
    }
    return 0;
}

/* n1's event of `origin` with `seq`, or NULL. */
static const ly_event *s_event_of(uint16_t origin, uint64_t seq)
{
    for (size_t k = 0; k < s_nevs[1]; k++)
        if (s_evs[1][k].ev_origin == origin && s_evs[1][k].ev_seq == seq)
            return &s_evs[1][k];
    return NULL;
}

/* n1's event of `origin` with transaction id `txn`, or NULL. */
static const ly_event *s_event_by_txn(uint16_t origin, const char *txn)
{
    for (size_t k = 0; k < s_nevs[1]; k++)
        if (s_evs[1][k].ev_origin == origin && strcmp(s_evs[1][k].ev_txn, txn) == 0)
            return &s_evs[1][k];
    return NULL;
}

static const ly_event *s_earn_of(const char *txn)
{
    for (size_t k = 0; k < s_nevs[1]; k++)
        if (s_evs[1][k].ev_type == LY_EV_EARN && strcmp(s_evs[1][k].ev_txn, txn) == 0)
            return &s_evs[1][k];
    return NULL;
}

/* Bounds on the qualifying points the origin of `ev` (an earn or a refund)
 * saw for its customer just before making it: all of the origin's own earlier
 * events, and at most the rest of the chain's events older by clock (every
 * event a node has seen is older by its clock than what it makes next). The
 * tiers of the event's version for these totals bound its ev_tier_from. */
static void s_qual_bounds(const ly_event *ev, int64_t *lo, int64_t *hi)
{
    int64_t own = 0, plus = 0, minus = 0;
    for (size_t k = 0; k < s_nevs[1]; k++) {
        const ly_event *f = &s_evs[1][k];
        if (strcmp(f->ev_customer, ev->ev_customer) != 0 ||
            (f->ev_type != LY_EV_EARN && f->ev_type != LY_EV_REVERSE))
            continue;
        if (f->ev_origin == ev->ev_origin) {
            if (f->ev_seq < ev->ev_seq)
                own += f->ev_qual;
        } else if (f->ev_hlc < ev->ev_hlc) {
            if (f->ev_qual > 0)
                plus += f->ev_qual;
            else
                minus += f->ev_qual;
        }
    }
    *lo = own + minus;
    *hi = own + plus;
}

/* ev_tier_from and ev_tier_to of `ev` against its version's thresholds. */
static void s_expect_tiers(const ly_event *ev)
{
    const ly_program *pg = &s_pg[ev->ev_program];
    int64_t lo, hi;
    s_qual_bounds(ev, &lo, &hi);
    int tlo = ly_tier_for(pg, lo), thi = ly_tier_for(pg, hi);
    cr_expect(ev->ev_tier_from >= tlo && ev->ev_tier_from <= thi,
              "%s %s (n%u, version %u): tier %u before, but %lld..%lld qualifying points give "
              "%d..%d",
              ly_evtype_name(ev->ev_type), ev->ev_txn, ev->ev_origin, ev->ev_program,
              ev->ev_tier_from, (long long)lo, (long long)hi, tlo, thi);
    int alo = ly_tier_for(pg, lo + ev->ev_qual), ahi = ly_tier_for(pg, hi + ev->ev_qual);
    cr_expect(ev->ev_tier_to >= alo && ev->ev_tier_to <= ahi,
              "%s %s (n%u, version %u): tier %u after, but %lld..%lld qualifying points give "
              "%d..%d",
              ly_evtype_name(ev->ev_type), ev->ev_txn, ev->ev_origin, ev->ev_program,
              ev->ev_tier_to, (long long)(lo + ev->ev_qual), (long long)(hi + ev->ev_qual), alo,
              ahi);
}

Test(program_traffic, change_mid_traffic)
{
    char why[256];
    for (uint32_t v = 1; v <= 2; v++) {
        const char *text = v == 1 ? s_v1 : s_v2;
        cr_assert_eq(ly_progdef_parse(v == 1 ? "v1.ini" : "v2.ini", text, strlen(text), &s_def[v],
                                      why, sizeof why),
                     LY_OK, "%s", why);
        ly_progdef_to_program(&s_def[v], &s_pg[v]);
    }
    uint64_t hash2 = ly_progdef_hash(&s_def[2]);

    s_net = lyn_net_new(TT_NODES, NULL);
    cr_assert_not_null(s_net);
    cr_assert_eq(lyn_net_up(s_net, TT_READY_MS), 0, "the nodes did not start (see above)");
    lyc_links_up(s_net, TT_LINKS_MS, "start");
    cr_assert_eq(lyh_node_program(s_node(1), s_v1, TT_CALL_MS), 0);
    for (int i = 1; i <= TT_NODES; i++)
        cr_assert_eq(lyh_node_wait_program(s_node(i), 1, TT_CONVERGE_MS), 0, "n%d", i);
    for (int k = 0; k < TT_CUSTOMERS; k++) {
        char id[16], txn[32];
        s_cust_id(k, id, sizeof id);
        snprintf(txn, sizeof txn, "enroll:%s", id);
        ly_req rq;
        lyh_req(&rq, LY_MSG_ENROLL, id, txn, 0, NULL);
        s_call_ok(1 + k % TT_NODES, &rq, txn);
    }
    lyc_converge(s_net->nt_chain, TT_CONVERGE_MS, "after the enrollments");

    /* The tills. */
    s_tills = calloc(TT_NODES, sizeof *s_tills);
    cr_assert_not_null(s_tills);
    for (int i = 0; i < TT_NODES; i++) {
        s_tills[i].tl_node = i + 1;
        s_tills[i].tl_seed = 0x5eed0u + (unsigned)i;
        s_tills[i].tl_flag_at = -1;
        cr_assert_eq(pthread_create(&s_th[i], NULL, s_till_run, &s_tills[i]), 0);
        s_nth++;
    }
    uint64_t t0 = lyh_now_ms();

    /* The change: after TT_SWITCH acknowledged operations, n3 cut off, version
     * 2 applied at n2. */
    uint64_t end = lyh_now_ms() + TT_WAIT_MS;
    while (s_acked_all() < TT_SWITCH && lyh_now_ms() < end)
        lyh_sleep_ms(5);
    cr_assert_geq(s_acked_all(), TT_SWITCH, "the tills stopped: %s %s %s", s_tills[0].tl_why,
                  s_tills[1].tl_why, s_tills[2].tl_why);
    cr_assert_eq(lyn_net_isolate(s_net, 3, 1), 0);
    int before[TT_NODES], applied[TT_NODES];
    for (int i = 0; i < TT_NODES; i++)
        before[i] = atomic_load(&s_tills[i].tl_acked);
    uint64_t t_switch = lyh_now_ms();
    cr_assert_eq(lyh_node_program(s_node(2), s_v2, TT_CALL_MS), 0);
    cr_assert_eq(lyh_node_wait_program(s_node(2), 2, TT_CONVERGE_MS), 0);
    cr_assert_eq(lyh_node_wait_program(s_node(1), 2, TT_CONVERGE_MS), 0);
    for (int i = 0; i < TT_NODES; i++)
        applied[i] = atomic_load(&s_tills[i].tl_acked);
    /* n3 goes on under version 1 while cut off. */
    s_wait_acked(2, applied[2] + 1 + TT_CUT_OPS, "n3 cut off");
    int healed3 = atomic_load(&s_tills[2].tl_acked);
    cr_expect_eq(s_status(3).ns_program, 1, "n3 is cut off: it runs version 1 still");
    cr_assert_eq(lyn_net_heal(s_net), 0);
    lyc_links_up(s_net, TT_LINKS_MS, "after the heal");
    for (int i = 1; i <= TT_NODES; i++)
        cr_assert_eq(lyh_node_wait_program(s_node(i), 2, TT_CONVERGE_MS), 0, "n%d", i);
    atomic_store(&s_v2_everywhere, 1);
    uint64_t t_v2 = lyh_now_ms();

    /* The tills stop by themselves (s_stop is not set before the join). */
    for (; s_nth > 0; s_nth--)
        pthread_join(s_th[s_nth - 1], NULL);
    uint64_t t_end = lyh_now_ms();
    for (int i = 0; i < TT_NODES; i++) {
        const s_till *t = &s_tills[i];
        cr_assert_eq(t->tl_failed, 0, "till at n%d: %s", t->tl_node, t->tl_why);
        cr_log_info("n%d: %d earns, %d redemptions, %d refunds; v1 up to ack %d, v2 at n1/n2 "
                    "from %d, saw v2 everywhere at %d",
                    t->tl_node, t->tl_earns, t->tl_redeems, t->tl_refunds, before[i], applied[i],
                    t->tl_flag_at);
    }
    cr_log_info("traffic %llu ms (change at %llu ms, in force everywhere at %llu ms)",
                (unsigned long long)(t_end - t0), (unsigned long long)(t_switch - t0),
                (unsigned long long)(t_v2 - t0));

    /* (a), (b) converged, verify passes, one program everywhere. */
    lyc_converge(s_net->nt_chain, TT_CONVERGE_MS, "after the traffic");
    ly_node_status ref = s_status(1);
    for (int i = 1; i <= TT_NODES; i++) {
        lyh_output out;
        int rc =
            lyh_loyalctl(&out, TT_RETRY_MS, "--node", s_node(i)->nd_listen, "verify", (char *)NULL);
        cr_expect_eq(rc, 0, "verify at n%d exited %d:\n%s%s", i, rc, out.ou_out, out.ou_err);
        lyh_output_fini(&out);
        ly_node_status st = s_status(i);
        cr_expect_eq(st.ns_program, 2, "n%d runs version %u", i, st.ns_program);
        cr_expect_eq(st.ns_program_hash, hash2, "n%d runs another version 2", i);
        cr_expect_eq(st.ns_program_next, 0, "n%d", i);
        cr_expect_eq(st.ns_digest, ref.ns_digest, "n%d: digest %016llx, n1 %016llx", i,
                     (unsigned long long)st.ns_digest, (unsigned long long)ref.ns_digest);
        cr_expect_eq(st.ns_events, ref.ns_events, "n%d", i);
        cr_expect_eq(st.ns_duplicates, 0, "n%d: unique ids, no duplicates", i);
        cr_expect_eq(st.ns_conflicts, 0, "n%d", i);
    }

    /* (c) every node holds the same events. */
    for (int i = 1; i <= TT_NODES; i++)
        s_list_events(i);
    cr_assert_eq(s_nevs[1], ref.ns_events, "n1 lists %zu events of %llu", s_nevs[1],
                 (unsigned long long)ref.ns_events);
    for (int i = 2; i <= TT_NODES; i++) {
        cr_assert_eq(s_nevs[i], s_nevs[1], "n%d lists %zu events, n1 %zu", i, s_nevs[i], s_nevs[1]);
        for (size_t k = 0; k < s_nevs[1]; k++)
            s_expect_same_event(&s_evs[1][k], &s_evs[i][k], i);
    }

    /* Version 2 itself: parts made by n2, after which n2 made only version 2. */
    const ly_event *p2 = NULL;
    uint64_t p2_last = 0;
    for (size_t k = 0; k < s_nevs[1]; k++) {
        const ly_event *ev = &s_evs[1][k];
        if (ev->ev_type == LY_EV_PROGRAM && ev->ev_program == 2) {
            if (!p2)
                p2 = ev;
            p2_last = ev->ev_seq;
        }
    }
    cr_assert_not_null(p2, "no part of version 2 is held");
    cr_expect_eq(p2->ev_origin, 2);

    /* Every event against its own version. */
    int v1_earns = 0, v2_earns = 0, campaigns = 0, zero = 0, platinum = 0;
    uint32_t last_v[TT_NODES + 1] = {0};
    int64_t balance[TT_CUSTOMERS] = {0}, lifetime[TT_CUSTOMERS] = {0},
            qualifying[TT_CUSTOMERS] = {0};
    for (size_t k = 0; k < s_nevs[1]; k++) {
        const ly_event *ev = &s_evs[1][k];
        if (ev->ev_type == LY_EV_PROGRAM)
            continue;
        uint16_t o = ev->ev_origin;
        cr_expect(ev->ev_program == 1 || ev->ev_program == 2, "n%u seq %llu (%s %s): version %u", o,
                  (unsigned long long)ev->ev_seq, ly_evtype_name(ev->ev_type), ev->ev_txn,
                  ev->ev_program);
        cr_expect_geq(ev->ev_program, last_v[o], "n%u seq %llu: version %u after %u", o,
                      (unsigned long long)ev->ev_seq, ev->ev_program, last_v[o]);
        last_v[o] = ev->ev_program;
        if (o == 2)
            cr_expect_eq(ev->ev_program, ev->ev_seq < p2->ev_seq ? 1u : 2u,
                         "n2 seq %llu (%s) against version 2 at seqs %llu..%llu: version %u",
                         (unsigned long long)ev->ev_seq, ev->ev_txn, (unsigned long long)p2->ev_seq,
                         (unsigned long long)p2_last, ev->ev_program);
        if (ev->ev_program == 2)
            cr_expect_gt(ev->ev_hlc, p2->ev_hlc, "n%u seq %llu: version 2 before it was applied", o,
                         (unsigned long long)ev->ev_seq);
        int c = -1;
        if (sscanf(ev->ev_customer, "tc%d", &c) != 1 || c < 0 || c >= TT_CUSTOMERS) {
            cr_expect_fail("n%u seq %llu: customer '%s'", o, (unsigned long long)ev->ev_seq,
                           ev->ev_customer);
            continue;
        }
        balance[c] += ev->ev_points;
        if (ev->ev_type == LY_EV_EARN) {
            int64_t pts, qual;
            const char *reason;
            if (s_expected_earn(ev, &pts, &qual, &reason) != 0) {
                cr_expect_fail("earn %s: version %u, tier %u -> %u", ev->ev_txn, ev->ev_program,
                               ev->ev_tier_from, ev->ev_tier_to);
                continue;
            }
            cr_expect_eq(ev->ev_points, pts,
                         "earn %s (n%u, %lld in '%s', tier %u): %lld points, version %u gives "
                         "%lld",
                         ev->ev_txn, o, (long long)ev->ev_amount, ev->ev_category, ev->ev_tier_from,
                         (long long)ev->ev_points, ev->ev_program, (long long)pts);
            cr_expect_eq(ev->ev_qual, qual, "earn %s: qualifying %lld, version %u gives %lld",
                         ev->ev_txn, (long long)ev->ev_qual, ev->ev_program, (long long)qual);
            cr_expect_str_eq(ev->ev_reason, reason, "earn %s: campaign under version %u",
                             ev->ev_txn, ev->ev_program);
            if (ev->ev_program == 1 && strcmp(ev->ev_category, "shoes") == 0)
                cr_expect_str_eq(ev->ev_reason, "shoes_double", "earn %s", ev->ev_txn);
            if (ev->ev_program == 2)
                cr_expect_str_eq(ev->ev_reason, "", "earn %s: no campaign in version 2",
                                 ev->ev_txn);
            v1_earns += ev->ev_program == 1;
            v2_earns += ev->ev_program == 2;
            campaigns += ev->ev_reason[0] != '\0';
            zero += ev->ev_points == 0;
            platinum += ev->ev_tier_from == 2;
            s_expect_tiers(ev);
            lifetime[c] += ev->ev_points;
            qualifying[c] += ev->ev_qual;
        } else if (ev->ev_type == LY_EV_REVERSE) {
            const ly_event *orig = s_earn_of(ev->ev_ref_txn);
            cr_expect_eq(ev->ev_ref_type, LY_EV_EARN, "refund %s", ev->ev_txn);
            cr_expect_not_null(orig, "refund %s of %s: no such earn", ev->ev_txn, ev->ev_ref_txn);
            if (orig) {
                cr_expect_eq(ev->ev_amount, orig->ev_amount, "refund %s", ev->ev_txn);
                cr_expect_eq(ev->ev_points, -orig->ev_points,
                             "refund %s (version %u) of %s (version %u): %lld, the earn gave %lld",
                             ev->ev_txn, ev->ev_program, orig->ev_txn, orig->ev_program,
                             (long long)ev->ev_points, (long long)orig->ev_points);
                cr_expect_eq(ev->ev_qual, -orig->ev_qual, "refund %s", ev->ev_txn);
            }
            if (ev->ev_program >= 1 && ev->ev_program <= 2)
                s_expect_tiers(ev);
            lifetime[c] += ev->ev_points;
            qualifying[c] += ev->ev_qual;
        } else if (ev->ev_type == LY_EV_REDEEM) {
            cr_expect_eq(ev->ev_points, -ev->ev_amount, "redemption %s", ev->ev_txn);
        } else {
            cr_expect_eq(ev->ev_type, LY_EV_ENROLL, "n%u seq %llu: %s", o,
                         (unsigned long long)ev->ev_seq, ly_evtype_name(ev->ev_type));
            cr_expect_eq(ev->ev_program, 1, "enrollment %s", ev->ev_txn);
        }
    }
    cr_log_info("%zu events: %d earns under version 1, %d under version 2; %d with the campaign, "
                "%d of no points, %d at Platinum",
                s_nevs[1], v1_earns, v2_earns, campaigns, zero, platinum);

    /* (c), (d) what each till was told is what every node holds, and each
     * version governed what it must have. */
    for (int i = 0; i < TT_NODES; i++) {
        const s_till *t = &s_tills[i];
        int n = atomic_load(&t->tl_acked), v1 = 0, v2 = 0;
        for (int k = 0; k < n; k++) {
            const s_ack *a = &t->tl_acks[k];
            const ly_event *ev = s_event_of(a->ak_origin, a->ak_seq);
            if (!ev) {
                cr_expect_fail("n%d: %s acknowledged as n%u seq %llu, not held", t->tl_node,
                               a->ak_txn, a->ak_origin, (unsigned long long)a->ak_seq);
                continue;
            }
            cr_expect_eq(a->ak_origin, t->tl_node, "%s", a->ak_txn);
            cr_expect_str_eq(ev->ev_txn, a->ak_txn);
            cr_expect_eq(ev->ev_points, a->ak_points, "%s: told %lld points, %lld held", a->ak_txn,
                         (long long)a->ak_points, (long long)ev->ev_points);
            uint32_t want = 0;
            const char *why_v = "";
            if (k < before[i]) {
                want = 1, why_v = "acknowledged before version 2 was applied";
            } else if (i == 2 && k < healed3) {
                want = 1, why_v = "made at n3 cut off, which did not hold version 2";
            } else if (i < 2 && k > applied[i]) {
                want = 2, why_v = "made after the node ran version 2";
            } else if (t->tl_flag_at >= 0 && k >= t->tl_flag_at) {
                want = 2, why_v = "made after every node ran version 2";
            }
            if (want)
                cr_expect_eq(ev->ev_program, want, "n%d %s: version %u, %s", t->tl_node, a->ak_txn,
                             ev->ev_program, why_v);
            if (a->ak_type == LY_MSG_EARN && want == 1)
                v1++;
            if (a->ak_type == LY_MSG_EARN && want == 2)
                v2++;
        }
        cr_expect_gt(v1, 0, "n%d: no earn that must be version 1", t->tl_node);
        cr_expect_gt(v2, 0, "n%d: no earn that must be version 2", t->tl_node);
    }
    cr_expect_gt(healed3 - applied[2] - 1, 0);

    /* (e) every customer: the same balance, lifetime and tier at every node. */
    int renamed = 0; /* tier changes under version 1 in the histories (n1) */
    for (int c = 0; c < TT_CUSTOMERS; c++) {
        char id[16];
        s_cust_id(c, id, sizeof id);
        int want_tier = ly_tier_for(&s_pg[2], qualifying[c]);
        char tier1[LY_TIER_NAME_MAX + 1] = "";
        for (int i = 1; i <= TT_NODES; i++) {
            ly_req rq;
            ly_req_init(&rq, LY_MSG_CUSTOMER);
            snprintf(rq.rq_customer, sizeof rq.rq_customer, "%s", id);
            rq.rq_limit = LY_HIST_MAX;
            s_call_ok(i, &rq, id);
            /* A tier change in the history is named by the event's own version. */
            for (uint32_t h = 0; h < s_rep.rp_nhist; h++) {
                const ly_hist *hi = &s_rep.rp_hist[h];
                if (!hi->hi_tier_from[0])
                    continue;
                const ly_event *ev = s_event_by_txn(hi->hi_origin, hi->hi_txn);
                if (!ev || ev->ev_program < 1 || ev->ev_program > 2 ||
                    ev->ev_tier_from >= s_pg[ev->ev_program].pg_ntiers ||
                    ev->ev_tier_to >= s_pg[ev->ev_program].pg_ntiers) {
                    cr_expect_fail("%s at n%d: history entry %s of n%u", id, i, hi->hi_txn,
                                   hi->hi_origin);
                    continue;
                }
                const ly_program *pg = &s_pg[ev->ev_program];
                cr_expect_str_eq(hi->hi_tier_from, pg->pg_tiers[ev->ev_tier_from].ti_name,
                                 "%s at n%d: %s (version %u)", id, i, hi->hi_txn, ev->ev_program);
                cr_expect_str_eq(hi->hi_tier_to, pg->pg_tiers[ev->ev_tier_to].ti_name,
                                 "%s at n%d: %s (version %u)", id, i, hi->hi_txn, ev->ev_program);
                renamed += ev->ev_program == 1 && i == 1;
            }
            cr_expect_eq(s_rep.rp_balance, balance[c] > 0 ? balance[c] : 0,
                         "%s at n%d: balance %lld, its events add up to %lld", id, i,
                         (long long)s_rep.rp_balance, (long long)balance[c]);
            cr_expect_eq(s_rep.rp_lifetime, lifetime[c], "%s at n%d: lifetime %lld, events %lld",
                         id, i, (long long)s_rep.rp_lifetime, (long long)lifetime[c]);
            cr_expect_eq(s_rep.rp_qualifying, qualifying[c], "%s at n%d", id, i);
            cr_expect_str_eq(s_rep.rp_tier, s_pg[2].pg_tiers[want_tier].ti_name,
                             "%s at n%d: %lld qualifying points", id, i, (long long)qualifying[c]);
            if (i == 1)
                snprintf(tier1, sizeof tier1, "%s", s_rep.rp_tier);
            cr_expect_str_eq(s_rep.rp_tier, tier1, "%s: tier at n%d and n1", id, i);
        }
    }
    cr_log_info("%d tier changes under version 1 named in the histories", renamed);
    lyc_stop_clean(s_net->nt_chain);
}
