/* Once keys on a real store: a transaction counts once whatever the order in
 * which its original and its duplicates (the same transaction id made at
 * other branches) arrive. Every interleaving of the branches' event streams
 * gives the same customer state, byte for byte, and the same digest; the
 * winner is the smallest (hlc, origin, incarnation, seq); a voided
 * redemption gives its branch's rights back; a refund applies to the
 * transaction, whichever of its events counts; a join bonus counts once per
 * customer; different requests under one id are listed as a conflict. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rules.h"
#include "common/store.h"
#include "tests/support/harness.h"

#define S_MAX_EVENTS 8

static ly_program s_pg;

static void setup(void)
{
    ly_log_set_level(LY_ERROR);
    ly_program_default(&s_pg);
}

TestSuite(once, .init = setup);

/* An event of `origin`, seq `seq`, at `hlc`, of customer C1; the request
 * fingerprint stands for the request: equal for a retry, else different. */
static ly_event s_ev(int type, uint16_t origin, uint64_t seq, uint64_t hlc, const char *txn,
                     int64_t amount, int64_t points, uint64_t req)
{
    ly_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ev_origin = origin;
    ev.ev_incarnation = 7;
    ev.ev_seq = seq;
    ev.ev_hlc = hlc << 16;
    ev.ev_type = (uint8_t)type;
    ev.ev_program = 1;
    ev.ev_req_hash = req;
    ev.ev_amount = amount;
    ev.ev_points = points;
    strcpy(ev.ev_customer, "C1");
    strcpy(ev.ev_txn, txn);
    ev.ev_qual_day = 20000;
    switch (type) {
    case LY_EV_EARN:
        ev.ev_qual = amount / 100;
        break;
    case LY_EV_REDEEM:
        ev.ev_points = -amount;
        break;
    case LY_EV_ADJUST:
        ev.ev_amount = ev.ev_points = points;
        strcpy(ev.ev_reason, "goodwill");
        break;
    case LY_EV_PROFILE:
        ev.ev_fields = LY_PF_NAME;
        strcpy(ev.ev_profile.pf_name, "Ann");
        break;
    case LY_EV_TIER:
        strcpy(ev.ev_category, "Gold");
        strcpy(ev.ev_reason, "made good");
        break;
    default:
        break;
    }
    if (type != LY_EV_REVERSE) /* s_reverse sets the rest */
        cr_assert_eq(ly_event_validate(&ev), LY_OK, "test event %d invalid", type);
    return ev;
}

static ly_event s_reverse(uint16_t origin, uint64_t seq, uint64_t hlc, const char *txn,
                          const char *ref, int64_t amount, int64_t points, uint64_t req)
{
    ly_event ev = s_ev(LY_EV_REVERSE, origin, seq, hlc, txn, amount, points, req);
    ev.ev_ref_type = LY_EV_EARN;
    strcpy(ev.ev_ref_txn, ref);
    ev.ev_qual = -amount / 100;
    cr_assert_eq(ly_event_validate(&ev), LY_OK);
    return ev;
}

/* What a store holds after applying events in one order. */
typedef struct s_result {
    uint8_t sr_cust[LY_CUST_ENC_MAX];
    size_t sr_len;
    ly_cust sr_c;
    ly_store_stats sr_st;
    ly_txnrec sr_rec; /* of s_rec_key, if set */
    int sr_has_rec;
    size_t sr_nconflicts;
    ly_once_group sr_conflict;
} s_result;

static const char *s_rec_key;

/* Apply evs[order[0]], evs[order[1]], ... to a fresh store, each in its own
 * committed batch (as replication would), and read the result. */
static void s_run(const ly_event *evs, const int *order, int n, s_result *r)
{
    char dir[LYH_PATH_MAX];
    cr_assert_eq(lyh_tmpdir("once", dir, sizeof dir), 0);
    ly_store_opts o = {.so_wal_prealloc = 1 << 16};
    ly_store *st;
    char why[256];
    cr_assert_eq(ly_store_open(dir, 9, &o, &st, why, sizeof why), LY_OK, "%s", why);
    for (int i = 0; i < n; i++) {
        ly_txn *t;
        ly_apply out;
        cr_assert_eq(ly_store_begin(st, 1, &t), LY_OK);
        cr_assert_eq(ly_store_apply(t, &evs[order[i]], &out, NULL), LY_OK);
        cr_assert_eq(out, LY_APPLIED, "event %d (step %d) not applied: %d", order[i], i, out);
        cr_assert_eq(ly_store_commit(&t), LY_OK);
    }
    ly_txn *t;
    cr_assert_eq(ly_store_begin(st, 0, &t), LY_OK);
    cr_assert_eq(ly_store_cust_get(t, "C1", &r->sr_c), LY_OK);
    r->sr_len = ly_cust_encode(&r->sr_c, r->sr_cust);
    cr_assert_eq(ly_store_stats_get(t, &r->sr_st), LY_OK);
    r->sr_has_rec = s_rec_key && ly_store_txnrec_get(t, s_rec_key, &r->sr_rec) == LY_OK;
    int more;
    cr_assert_eq(ly_store_conflicts(t, NULL, &r->sr_conflict, 1, &r->sr_nconflicts, &more), LY_OK);
    ly_store_abort(&t);
    ly_store_close(&st);
    cr_assert_eq(lyh_rmtree(dir), 0);
}

/* Every order of the n events that keeps each origin's seqs increasing (the
 * orders replication can deliver); calls back with each. Returns the count. */
static int s_orders(const ly_event *evs, int n, void (*fn)(const int *order, void *arg), void *arg)
{
    int order[S_MAX_EVENTS], used[S_MAX_EVENTS] = {0}, depth = 0, count = 0;
    order[0] = -1;
    while (depth >= 0) {
        /* advance order[depth] to the next usable event */
        int i = order[depth] + 1;
        if (order[depth] >= 0)
            used[order[depth]] = 0;
        for (; i < n; i++) {
            if (used[i])
                continue;
            int ok = 1; /* an earlier seq of its origin must be placed already */
            for (int j = 0; j < n; j++)
                if (!used[j] && j != i && evs[j].ev_origin == evs[i].ev_origin &&
                    evs[j].ev_seq < evs[i].ev_seq)
                    ok = 0;
            if (ok)
                break;
        }
        if (i == n) {
            depth--;
            continue;
        }
        order[depth] = i;
        used[i] = 1;
        if (depth == n - 1) {
            fn(order, arg);
            count++;
            continue;
        }
        order[++depth] = -1;
    }
    return count;
}

typedef struct s_same {
    const ly_event *ss_evs;
    int ss_n;
    s_result ss_first;
    int ss_have;
} s_same;

static void s_same_cb(const int *order, void *arg)
{
    s_same *x = arg;
    s_result *r = malloc(sizeof *r);
    cr_assert_not_null(r);
    s_run(x->ss_evs, order, x->ss_n, x->ss_have ? r : &x->ss_first);
    if (x->ss_have) {
        cr_assert_eq(r->sr_len, x->ss_first.sr_len, "state size differs by arrival order");
        cr_assert_eq(memcmp(r->sr_cust, x->ss_first.sr_cust, r->sr_len), 0,
                     "state differs by arrival order");
        cr_assert_eq(r->sr_st.st_digest, x->ss_first.sr_st.st_digest);
        cr_assert_eq(r->sr_st.st_duplicates, x->ss_first.sr_st.st_duplicates);
        cr_assert_eq(r->sr_st.st_conflicts, x->ss_first.sr_st.st_conflicts);
        if (s_rec_key) {
            cr_assert_eq(r->sr_has_rec, x->ss_first.sr_has_rec);
            cr_assert_eq(r->sr_rec.tr_origin, x->ss_first.sr_rec.tr_origin);
            cr_assert_eq(r->sr_rec.tr_seq, x->ss_first.sr_rec.tr_seq);
            cr_assert_eq(r->sr_rec.tr_refunded_amount, x->ss_first.sr_rec.tr_refunded_amount);
        }
    }
    x->ss_have = 1;
    free(r);
}

/* All delivery orders give one state; returns it in *out. */
static void s_all_orders_same(const ly_event *evs, int n, s_result *out, int min_orders)
{
    s_same *x = calloc(1, sizeof *x);
    cr_assert_not_null(x);
    x->ss_evs = evs;
    x->ss_n = n;
    int count = s_orders(evs, n, s_same_cb, x);
    cr_assert_geq(count, min_orders, "only %d orders", count);
    *out = x->ss_first;
    free(x);
}

/* The base every scenario starts from: C1 enrolled at node 1, 1,000 points
 * earned there (seq 2) and 500 at node 2 (seq 1). */
static int s_base(ly_event *evs)
{
    evs[0] = s_ev(LY_EV_ENROLL, 1, 1, 10, "en-1", 0, 0, 1);
    evs[1] = s_ev(LY_EV_EARN, 1, 2, 11, "e-1", 100000, 1000, 2);
    evs[2] = s_ev(LY_EV_EARN, 2, 1, 12, "e-2", 50000, 500, 3);
    return 3;
}

Test(once, a_retried_earn_counts_once_in_every_order)
{
    ly_event evs[S_MAX_EVENTS];
    int n = s_base(evs);
    /* The till's earn X was made at node 1 (Gold: 125 points) and, retried,
     * at node 2 (Silver there: 100 points) with a smaller clock: node 2's counts. */
    evs[n++] = s_ev(LY_EV_EARN, 1, 3, 31, "X", 10000, 125, 42);
    evs[n++] = s_ev(LY_EV_EARN, 2, 2, 30, "X", 10000, 100, 42);
    s_result r;
    s_rec_key = "X";
    s_all_orders_same(evs, n, &r, 10);
    cr_expect_eq(r.sr_c.cu_net, 1600);
    cr_expect_eq(r.sr_c.cu_lifetime, 1600);
    cr_expect_eq(ly_cust_rights(&r.sr_c, 1), 1000);
    cr_expect_eq(ly_cust_rights(&r.sr_c, 2), 600);
    cr_expect_eq(r.sr_c.cu_voided, 1);
    cr_expect_eq(r.sr_c.cu_events, 5);
    cr_expect_eq(r.sr_st.st_duplicates, 1);
    cr_expect_eq(r.sr_st.st_conflicts, 0);
    cr_expect_eq(r.sr_nconflicts, 0);
    cr_expect_eq(r.sr_rec.tr_origin, 2);
    cr_expect_eq(r.sr_rec.tr_points, 100);
}

Test(once, a_voided_redemption_gives_its_branch_rights_back)
{
    ly_event evs[S_MAX_EVENTS];
    int n = s_base(evs);
    /* Redemption R of 300 at node 2 first (smaller clock), retried at node 1. */
    evs[n++] = s_ev(LY_EV_REDEEM, 2, 2, 30, "R", 300, 0, 42);
    evs[n++] = s_ev(LY_EV_REDEEM, 1, 3, 31, "R", 300, 0, 42);
    s_result r;
    s_rec_key = "R";
    s_all_orders_same(evs, n, &r, 10);
    cr_expect_eq(r.sr_c.cu_net, 1200);
    cr_expect_eq(r.sr_c.cu_redeemed, 300);
    cr_expect_eq(ly_cust_rights(&r.sr_c, 1), 1000,
                 "node 1's redemption is void: its rights are back");
    cr_expect_eq(ly_cust_rights(&r.sr_c, 2), 200);
    cr_expect_eq(r.sr_rec.tr_origin, 2);
}

Test(once, a_retried_adjust_and_profile_change_count_once)
{
    ly_event evs[S_MAX_EVENTS];
    int n = s_base(evs);
    evs[n++] = s_ev(LY_EV_ADJUST, 1, 3, 30, "A", 0, -40, 42);
    evs[n++] = s_ev(LY_EV_ADJUST, 2, 2, 31, "A", 0, -40, 42);
    evs[n++] = s_ev(LY_EV_PROFILE, 1, 4, 32, "P", 0, 0, 43);
    evs[n++] = s_ev(LY_EV_PROFILE, 2, 3, 33, "P", 0, 0, 43);
    s_result r;
    s_rec_key = "A";
    s_all_orders_same(evs, n, &r, 35);
    cr_expect_eq(r.sr_c.cu_net, 1460);
    cr_expect_eq(ly_cust_rights(&r.sr_c, 1), 960);
    cr_expect_eq(ly_cust_rights(&r.sr_c, 2), 500);
    cr_expect_str_eq(r.sr_c.cu_profile.pf_name, "Ann");
    cr_expect_eq(r.sr_c.cu_voided, 1, "profile changes take part, last writer wins");
}

Test(once, a_join_bonus_counts_once_however_often_a_customer_is_enrolled)
{
    /* Two branches enroll C1 while cut off (different ids), a third retries
     * node 1's enrollment: three enrollments, one bonus of 50. */
    ly_event evs[S_MAX_EVENTS];
    int n = 0;
    evs[n++] = s_ev(LY_EV_ENROLL, 1, 1, 20, "en-a", 0, 50, 1);
    evs[n++] = s_ev(LY_EV_ENROLL, 2, 1, 21, "en-b", 0, 50, 2);
    evs[n++] = s_ev(LY_EV_ENROLL, 3, 1, 19, "en-a", 0, 50, 1);
    s_result r;
    s_rec_key = LY_ONCE_JOIN "C1";
    s_all_orders_same(evs, n, &r, 6);
    cr_expect_eq(r.sr_c.cu_net, 50);
    cr_expect_eq(r.sr_c.cu_lifetime, 50);
    cr_expect_eq(ly_cust_rights(&r.sr_c, 3), 50, "the earliest enrollment's bonus counts");
    cr_expect_eq(r.sr_c.cu_nrights, 1);
    cr_expect_eq(r.sr_c.cu_enrolls, 3);
    cr_expect_eq(r.sr_c.cu_enrolled_hlc, (uint64_t)19 << 16);
    cr_expect_eq(r.sr_rec.tr_origin, 3);
    cr_expect_eq(r.sr_st.st_duplicates, 2);
    cr_expect_eq(r.sr_st.st_conflicts, 0, "two enrollments under two ids do not conflict");
}

Test(once, a_refund_applies_to_the_transaction_whichever_event_counts)
{
    ly_event evs[S_MAX_EVENTS];
    int n = s_base(evs);
    /* Earn X at node 1 (clock 31) and its retry at node 2 (clock 30: counts),
     * both 100 points; node 1 then refunds X in full against the one it knew.
     * The refund takes the points back once, in every order. */
    evs[n++] = s_ev(LY_EV_EARN, 1, 3, 31, "X", 10000, 100, 42);
    evs[n++] = s_ev(LY_EV_EARN, 2, 2, 30, "X", 10000, 100, 42);
    evs[n++] = s_reverse(1, 4, 40, "RX", "X", 10000, -100, 50);
    s_result r;
    s_rec_key = "X";
    s_all_orders_same(evs, n, &r, 15);
    cr_expect_eq(r.sr_c.cu_net, 1500);
    cr_expect_eq(r.sr_c.cu_lifetime, 1500);
    cr_expect_eq(r.sr_rec.tr_origin, 2);
    cr_expect_eq(r.sr_rec.tr_refunded_amount, 10000);
    cr_expect_eq(r.sr_rec.tr_refunded_points, -100);
}

Test(once, a_retried_refund_takes_back_once)
{
    ly_event evs[S_MAX_EVENTS];
    int n = s_base(evs);
    evs[n++] = s_reverse(1, 3, 40, "RX", "e-1", 50000, -500, 50);
    evs[n++] = s_reverse(2, 2, 41, "RX", "e-1", 50000, -500, 50);
    s_result r;
    s_rec_key = "e-1";
    s_all_orders_same(evs, n, &r, 10);
    cr_expect_eq(r.sr_c.cu_net, 1000);
    cr_expect_eq(r.sr_rec.tr_refunded_amount, 50000, "the void refund is not in the totals");
    cr_expect_eq(ly_cust_rights(&r.sr_c, 1), 500);
    cr_expect_eq(ly_cust_rights(&r.sr_c, 2), 500);
}

Test(once, three_branches_retrying_one_id_count_it_once)
{
    ly_event evs[S_MAX_EVENTS];
    int n = 0;
    evs[n++] = s_ev(LY_EV_ENROLL, 1, 1, 10, "en-1", 0, 0, 1);
    evs[n++] = s_ev(LY_EV_EARN, 1, 2, 32, "X", 10000, 100, 42);
    evs[n++] = s_ev(LY_EV_EARN, 2, 1, 31, "X", 10000, 100, 42);
    evs[n++] = s_ev(LY_EV_EARN, 3, 1, 31, "X", 10000, 100, 42); /* equal clock: node 2 wins */
    s_result r;
    s_rec_key = "X";
    s_all_orders_same(evs, n, &r, 12);
    cr_expect_eq(r.sr_c.cu_net, 100);
    cr_expect_eq(ly_cust_rights(&r.sr_c, 2), 100);
    cr_expect_eq(r.sr_c.cu_nrights, 1);
    cr_expect_eq(r.sr_rec.tr_origin, 2);
    cr_expect_eq(r.sr_st.st_duplicates, 2);
}

Test(once, different_requests_under_one_id_are_a_conflict_one_counts)
{
    ly_event evs[S_MAX_EVENTS];
    int n = s_base(evs);
    evs[n++] = s_ev(LY_EV_EARN, 1, 3, 30, "X", 10000, 100, 42);
    evs[n++] = s_ev(LY_EV_EARN, 2, 2, 31, "X", 90000, 900, 43);
    s_result r;
    s_rec_key = "X";
    s_all_orders_same(evs, n, &r, 10);
    cr_expect_eq(r.sr_c.cu_net, 1600);
    cr_expect_eq(r.sr_st.st_conflicts, 1);
    cr_expect_eq(r.sr_st.st_duplicates, 1);
    cr_assert_eq(r.sr_nconflicts, 1);
    const ly_once_group *g = &r.sr_conflict;
    cr_expect_str_eq(g->og_key, "X");
    cr_expect_eq(g->og_total, 2);
    cr_assert_eq(g->og_n, 2);
    cr_expect_eq(g->og_ev[0].ev_origin, 1);
    cr_expect(g->og_counts[0]);
    cr_expect_eq(g->og_ev[1].ev_origin, 2);
    cr_expect_eq(g->og_ev[1].ev_amount, 90000);
    cr_expect(!g->og_counts[1]);
}

Test(once, a_spend_resting_on_a_voided_credit_is_not_held_back)
{
    /* Node 1 earned X (clock 31) and spent it; node 2's retry of X (clock 30)
     * counts. Wherever node 2's event arrives first, node 1's redemption
     * rests on a void credit: it must still apply (no stalled replication),
     * and the rights still add up to the balance. */
    ly_event evs[S_MAX_EVENTS];
    int n = 0;
    evs[n++] = s_ev(LY_EV_ENROLL, 1, 1, 10, "en-1", 0, 0, 1);
    evs[n++] = s_ev(LY_EV_EARN, 1, 2, 31, "X", 10000, 100, 42);
    evs[n++] = s_ev(LY_EV_REDEEM, 1, 3, 32, "R", 100, 0, 44);
    evs[n++] = s_ev(LY_EV_EARN, 2, 1, 30, "X", 10000, 100, 42);
    s_result r;
    s_rec_key = "X";
    s_all_orders_same(evs, n, &r, 4);
    cr_expect_eq(r.sr_c.cu_net, 0);
    cr_expect_eq(ly_cust_rights(&r.sr_c, 1), -100);
    cr_expect_eq(ly_cust_rights(&r.sr_c, 2), 100);
    cr_expect_eq(ly_cust_redeemable(&r.sr_c, 2), 0, "node 2 may not spend the points again");
}

Test(once, a_reserved_prefix_is_not_a_transaction_id)
{
    ly_event ev = s_ev(LY_EV_EARN, 1, 1, 10, "e", 10000, 100, 1);
    strcpy(ev.ev_txn, LY_ONCE_JOIN "C1");
    cr_expect_eq(ly_event_validate(&ev), LY_EPROTO);
    cr_expect(ly_once_reserved("join:x"));
    cr_expect(!ly_once_reserved("joint-1"));
}

Test(once, an_event_without_a_once_key_never_voids_one_sharing_its_id)
{
    ly_event evs[S_MAX_EVENTS];
    int n = s_base(evs);
    /* A manual tier (no once key) and an earn under one transaction id, the
     * tier earlier by clock: in every order the earn counts (found by review:
     * before, a node that had the tier first voided the earn). */
    evs[n++] = s_ev(LY_EV_TIER, 1, 3, 20, "T", 0, 0, 7);
    evs[n++] = s_ev(LY_EV_EARN, 2, 2, 30, "T", 10000, 100, 8);
    evs[n++] = s_ev(LY_EV_PROFILE, 2, 3, 25, "T", 0, 0, 9);
    s_result r;
    s_rec_key = "T";
    s_all_orders_same(evs, n, &r, 10);
    cr_expect_eq(r.sr_c.cu_net, 1600, "the earn counts");
    cr_expect_eq(r.sr_c.cu_voided, 0);
    cr_expect_str_eq(r.sr_c.cu_ovr_tier, "Gold");
    cr_expect_str_eq(r.sr_c.cu_profile.pf_name, "Ann");
    cr_expect_eq(r.sr_rec.tr_type, LY_EV_EARN, "the once event names the record");
}

Test(once, a_birthday_key_is_outside_the_ids_alphabet)
{
    /* A client id an older release accepted stays valid... */
    ly_event ev = s_ev(LY_EV_EARN, 1, 1, 10, "birthday:promo-17", 10000, 100, 1);
    cr_expect_eq(ly_event_validate(&ev), LY_OK);
    cr_expect(!ly_once_reserved("birthday:promo-17"));
    /* ...and the bonus's derived key can never be one. */
    ly_event b = s_ev(LY_EV_BONUS, 1, 2, 11, "", 200, 200, 2);
    b.ev_qual_day = 20600;
    char key[LY_ONCE_KEY_MAX + 1];
    cr_assert(ly_once_key(&b, key) > 0);
    cr_expect_str_eq(key, "birthday C1 2026");
    cr_expect(!ly_id_valid(key));
}
