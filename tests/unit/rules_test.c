/* The rules table (common/rules/): one complete entry per event type, the
 * origin's checks and refusals, what each type spends, and the refund's tier
 * computed without folding a copy of the state (checked against the fold). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/ledger.h"
#include "common/rules.h"

static ly_program pg;

static void setup(void)
{
    ly_program_default(&pg);
}

TestSuite(rules, .init = setup);

static ly_event s_event(int type, uint16_t origin, int64_t amount, int64_t points)
{
    ly_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ev_type = (uint8_t)type;
    ev.ev_origin = origin;
    ev.ev_incarnation = 1;
    ev.ev_seq = 1;
    ev.ev_hlc = 1000;
    ev.ev_amount = amount;
    ev.ev_points = points;
    strcpy(ev.ev_customer, "C1");
    return ev;
}

Test(rules, one_complete_entry_per_type)
{
    static const char *const names[] = {"",        "enroll", "earn",    "redeem",
                                        "reverse", "adjust", "profile", "transfer",
                                        "program", "bonus",  "tier"};
    cr_assert_null(ly_rule_for(0));
    cr_assert_null(ly_rule_for(11));
    cr_assert_null(ly_rule_for(-1));
    for (int t = LY_EV_ENROLL; t <= LY_EV_TIER; t++) {
        const ly_rule *ru = ly_rule_for(t);
        cr_assert_not_null(ru, "type %d", t);
        cr_expect_eq(ru->ru_type, t);
        cr_expect_str_eq(ru->ru_name, names[t]);
        cr_expect_str_eq(ly_evtype_name(t), names[t]);
        cr_expect(ru->ru_valid && ru->ru_make && ru->ru_fold, "type %d lacks a hook", t);
    }
    cr_expect_str_eq(ly_evtype_name(99), "?");
    /* Only a transfer names a receiving node; only a reverse refunds an original. */
    for (int t = LY_EV_ENROLL; t <= LY_EV_TRANSFER; t++) {
        uint32_t f = ly_rule_for(t)->ru_flags;
        cr_expect_eq(!!(f & LY_RU_HAS_TO), t == LY_EV_TRANSFER, "type %d", t);
        cr_expect_eq(!!(f & LY_RU_IX_REFUNDS), t == LY_EV_REVERSE, "type %d", t);
        cr_expect_eq(!!(f & LY_RU_NEEDS_ORIGINAL), t == LY_EV_REVERSE, "type %d", t);
    }
}

Test(rules, what_each_type_spends)
{
    ly_event redeem = s_event(LY_EV_REDEEM, 1, 40, -40);
    ly_event give = s_event(LY_EV_TRANSFER, 1, 25, 25);
    give.ev_to = 2;
    ly_event take = s_event(LY_EV_ADJUST, 1, -7, -7);
    ly_event gift = s_event(LY_EV_ADJUST, 1, 7, 7);
    ly_event earn = s_event(LY_EV_EARN, 1, 1000, 10);
    ly_event back = s_event(LY_EV_REVERSE, 1, 10, 10);
    back.ev_ref_type = LY_EV_REDEEM;
    cr_expect_eq(ly_rule_spends(&redeem), 40);
    cr_expect_eq(ly_rule_spends(&give), 25);
    cr_expect_eq(ly_rule_spends(&take), 7);
    cr_expect_eq(ly_rule_spends(&gift), 0);
    cr_expect_eq(ly_rule_spends(&earn), 0);
    cr_expect_eq(ly_rule_spends(&back), 0); /* a refund always succeeds */
}

/* A customer with `points` earned at node 1 and rights moved to node 2. */
static void s_customer(ly_cust *c, int64_t at1, int64_t at2)
{
    ly_cust_init(c, "C1");
    ly_event en = s_event(LY_EV_ENROLL, 1, 0, 0);
    ly_cust_apply(c, &en);
    ly_event e1 = s_event(LY_EV_EARN, 1, (at1 + at2) * 100, at1 + at2);
    ly_cust_apply(c, &e1);
    if (at2) {
        ly_event tr = s_event(LY_EV_TRANSFER, 1, at2, at2);
        tr.ev_to = 2;
        ly_cust_apply(c, &tr);
    }
}

static ly_refusal s_make(int type, const ly_cust *c, uint16_t self, int64_t amount, ly_event *ev)
{
    ly_origin o = {.or_program = &pg, .or_self = self, .or_day = 20000, .or_cust = c};
    ly_profile pf;
    memset(&pf, 0, sizeof pf);
    ly_intent in = {.in_customer = "C1",
                    .in_ref_txn = "",
                    .in_category = "",
                    .in_reason = "goodwill",
                    .in_operator = "ann",
                    .in_amount = amount,
                    .in_fields = LY_PF_NAME,
                    .in_profile = &pf};
    ly_refusal no;
    *ev = s_event(type, self, 0, 0);
    ly_rule_make(ly_rule_for(type), &o, &in, ev, &no);
    return no;
}

Test(rules, the_origin_refuses_what_it_may_not_do)
{
    ly_cust c;
    ly_event ev;
    /* Not enrolled: every customer operation but enroll is refused. */
    ly_cust_init(&c, "C1");
    cr_expect_eq(s_make(LY_EV_EARN, NULL, 1, 100, &ev).rf_err, LY_EUNKNOWN_CUST);
    cr_expect_eq(s_make(LY_EV_REDEEM, &c, 1, 1, &ev).rf_err, LY_EUNKNOWN_CUST);
    cr_expect_eq(s_make(LY_EV_PROFILE, &c, 1, 0, &ev).rf_err, LY_EUNKNOWN_CUST);
    cr_expect_eq(s_make(LY_EV_ENROLL, NULL, 1, 0, &ev).rf_err, LY_OK);
    /* 60 here at node 1, 40 at node 2. */
    s_customer(&c, 60, 40);
    cr_expect_eq(s_make(LY_EV_ENROLL, &c, 1, 0, &ev).rf_err, LY_EEXIST);
    ly_refusal no = s_make(LY_EV_REDEEM, &c, 1, 101, &ev);
    cr_expect_eq(no.rf_err, LY_EINSUFFICIENT);
    cr_expect_eq(no.rf_available, 100);
    cr_expect(no.rf_rights);
    no = s_make(LY_EV_REDEEM, &c, 1, 61, &ev);
    cr_expect_eq(no.rf_err, LY_EINSUFFICIENT_LOCAL);
    cr_expect_eq(no.rf_available, 60);
    no = s_make(LY_EV_ADJUST, &c, 2, -41, &ev);
    cr_expect_eq(no.rf_err, LY_EINSUFFICIENT_LOCAL);
    cr_expect_eq(no.rf_available, 40);
    cr_expect_eq(s_make(LY_EV_ADJUST, &c, 2, 500, &ev).rf_err, LY_OK); /* a gift needs no rights */
    cr_expect_eq(ev.ev_points, 500);
    cr_expect_str_eq(ev.ev_reason, "goodwill");
    no = s_make(LY_EV_REDEEM, &c, 1, 60, &ev);
    cr_expect_eq(no.rf_err, LY_OK);
    cr_expect_eq(ev.ev_points, -60);
    cr_expect_eq(ly_event_validate(&ev), LY_OK);
    /* A transfer gives at most what the node holds, and nothing to itself. */
    ly_origin o = {.or_program = &pg, .or_self = 2, .or_day = 20000, .or_cust = &c};
    ly_intent in = {.in_customer = "C1", .in_amount = 100, .in_to = 1};
    ev = s_event(LY_EV_TRANSFER, 2, 0, 0);
    ly_rule_make(&ly_rule_transfer, &o, &in, &ev, &no);
    cr_expect_eq(no.rf_err, LY_OK);
    cr_expect_eq(ev.ev_points, 40);
    cr_expect_eq(ev.ev_to, 1);
    in.in_to = 2;
    ly_rule_make(&ly_rule_transfer, &o, &in, &ev, &no);
    cr_expect_neq(no.rf_err, LY_OK);
    o.or_cust = NULL;
    in.in_to = 1;
    ly_rule_make(&ly_rule_transfer, &o, &in, &ev, &no);
    cr_expect_neq(no.rf_err, LY_OK);
}

Test(rules, refunds_need_their_original_and_never_exceed_it)
{
    ly_cust c;
    s_customer(&c, 100, 0);
    ly_txnrec r;
    memset(&r, 0, sizeof r);
    r.tr_type = LY_EV_EARN;
    r.tr_seq = 2;
    r.tr_amount = 10000;
    r.tr_points = 100;
    r.tr_qual = 100;
    r.tr_qual_day = 20000;
    ly_origin o = {.or_program = &pg, .or_self = 1, .or_day = 20000, .or_cust = &c};
    ly_intent in = {.in_customer = "C1", .in_ref_txn = "sale-1", .in_amount = 3333};
    ly_event ev = s_event(LY_EV_REVERSE, 1, 0, 0);
    ly_refusal no;
    ly_rule_make(&ly_rule_reverse, &o, &in, &ev, &no);
    cr_expect_eq(no.rf_err, LY_EUNKNOWN_TXN);
    o.or_orig = &r;
    ly_rule_make(&ly_rule_reverse, &o, &in, &ev, &no);
    cr_expect_eq(no.rf_err, LY_OK);
    cr_expect_eq(ev.ev_points, -33);
    cr_expect_eq(ev.ev_ref_type, LY_EV_EARN);
    cr_expect_eq(ly_event_validate(&ev), LY_OK);
    r.tr_refunded_amount = 9000;
    ly_rule_make(&ly_rule_reverse, &o, &in, &ev, &no);
    cr_expect_eq(no.rf_err, LY_EOVERREFUND);
    in.in_amount = 0; /* all that is left */
    ly_rule_make(&ly_rule_reverse, &o, &in, &ev, &no);
    cr_expect_eq(no.rf_err, LY_OK);
    cr_expect_eq(ev.ev_amount, 1000);
    r.tr_type = LY_EV_ADJUST;
    ly_rule_make(&ly_rule_reverse, &o, &in, &ev, &no);
    cr_expect_eq(no.rf_err, LY_ENOTREVERSIBLE);
}

/* The refund's ev_tier_to is computed from the window's qualifying points;
 * it must equal what folding the refund into a copy and asking the tier
 * gives, whatever the buckets and days (the fold is the truth). */
Test(rules, refund_tier_matches_the_fold)
{
    srand(7);
    ly_cust *c = malloc(sizeof *c), *after = malloc(sizeof *after);
    for (int round = 0; round < 2000; round++) {
        ly_cust_init(c, "C1");
        ly_event en = s_event(LY_EV_ENROLL, 1, 0, 0);
        ly_cust_apply(c, &en);
        int32_t today = 20000 + rand() % 50;
        int nearn = 1 + rand() % 6;
        ly_txnrec r;
        memset(&r, 0, sizeof r);
        for (int i = 0; i < nearn; i++) {
            ly_event e = s_event(LY_EV_EARN, 1, 0, 0);
            e.ev_qual_day = today - rand() % 500;
            e.ev_qual = 1 + rand() % 3000;
            e.ev_points = e.ev_qual;
            e.ev_amount = e.ev_qual * 100;
            ly_cust_apply(c, &e);
            r.tr_type = LY_EV_EARN;
            r.tr_seq = 2;
            r.tr_amount = e.ev_amount;
            r.tr_points = e.ev_points;
            r.tr_qual = e.ev_qual;
            r.tr_qual_day = e.ev_qual_day;
        }
        ly_origin o = {
            .or_program = &pg, .or_self = 1, .or_day = today, .or_cust = c, .or_orig = &r};
        ly_intent in = {.in_customer = "C1", .in_ref_txn = "sale", .in_amount = 0};
        if (rand() % 2)
            in.in_amount = 1 + rand() % r.tr_amount;
        ly_event ev = s_event(LY_EV_REVERSE, 1, 0, 0);
        ly_refusal no;
        ly_rule_make(&ly_rule_reverse, &o, &in, &ev, &no);
        cr_assert_eq(no.rf_err, LY_OK);
        *after = *c;
        ly_cust_apply(after, &ev);
        cr_assert_eq(ev.ev_tier_to, ly_tier_at(&pg, after, today), "round %d", round);
        cr_assert_eq(ev.ev_tier_from, ly_tier_at(&pg, c, today), "round %d", round);
    }
    free(c);
    free(after);
}
