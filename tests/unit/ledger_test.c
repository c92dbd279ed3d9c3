/* The ledger rules and the fold: rounding, multipliers, tiers, window edges,
 * debt, and order independence. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hlc.h"
#include "common/ledger.h"

static ly_program pg;

static void setup(void)
{
    ly_program_default(&pg);
    pg.pg_ncategories = 2;
    strcpy(pg.pg_categories[0].ca_name, "electronics");
    pg.pg_categories[0].ca_mult = 2000;
    strcpy(pg.pg_categories[1].ca_name, "giftcards");
    pg.pg_categories[1].ca_mult = 0;
}

TestSuite(ledger, .init = setup);

Test(ledger, earn_rounds_down_once)
{
    int64_t q;
    cr_expect_eq(ly_earn_points(&pg, 1299, 0, NULL, &q), 12); /* 12.99 -> 12 */
    cr_expect_eq(q, 12);
    cr_expect_eq(ly_earn_points(&pg, 99, 0, NULL, &q), 0);
    cr_expect_eq(ly_earn_points(&pg, 100, 0, NULL, &q), 1);
    /* Gold x1.25: 12.99 * 1.25 = 16.2375 -> 16; qualifying stays the base 12. */
    cr_expect_eq(ly_earn_points(&pg, 1299, 1, NULL, &q), 16);
    cr_expect_eq(q, 12);
    /* Platinum x1.5 on 3.33 = 4.995 -> 4: one floor at the end, not per factor. */
    cr_expect_eq(ly_earn_points(&pg, 333, 2, NULL, NULL), 4);
    /* Category x2 at Gold: 10.00 * 1.25 * 2 = 25. */
    cr_expect_eq(ly_earn_points(&pg, 1000, 1, "electronics", &q), 25);
    cr_expect_eq(q, 10);
    cr_expect_eq(ly_earn_points(&pg, 1000, 0, "giftcards", NULL), 0);
    cr_expect_eq(ly_earn_points(&pg, 1000, 0, "unknown-category", NULL), 10);
}

Test(ledger, earn_rate_and_no_overflow)
{
    pg.pg_rate = 1500; /* 1.5 points per 1.00 */
    cr_expect_eq(ly_earn_points(&pg, 1000, 0, NULL, NULL), 15);
    pg.pg_rate = 1000;
    int64_t q;
    int64_t p = ly_earn_points(&pg, LY_AMOUNT_MAX, 2, "electronics", &q);
    cr_expect_eq(p, LY_AMOUNT_MAX / 100 * 3); /* 10^10 currency * 1.5 * 2 */
    cr_expect_eq(q, LY_AMOUNT_MAX / 100);
    pg.pg_rate = 1000000;
    cr_expect_eq(ly_earn_points(&pg, LY_AMOUNT_MAX, 2, "electronics", NULL), -1);
}

Test(ledger, program_validation)
{
    char why[128];
    cr_expect_eq(ly_program_validate(&pg, why, sizeof why), LY_OK);
    ly_program bad = pg;
    bad.pg_tiers[1].ti_threshold = 0;
    cr_expect_eq(ly_program_validate(&bad, why, sizeof why), LY_EINVAL);
    cr_expect(strstr(why, "Gold") != NULL, "%s", why);
    bad = pg;
    bad.pg_tiers[0].ti_threshold = 10;
    cr_expect_eq(ly_program_validate(&bad, why, sizeof why), LY_EINVAL);
    bad = pg;
    strcpy(bad.pg_categories[1].ca_name, "electronics");
    cr_expect_eq(ly_program_validate(&bad, why, sizeof why), LY_EINVAL);
    bad = pg;
    bad.pg_window_days = 0;
    cr_expect_eq(ly_program_validate(&bad, why, sizeof why), LY_EINVAL);
}

static uint64_t s_seq;

static ly_event s_ev(int type, int32_t day, int64_t points, int64_t qual)
{
    ly_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ev_origin = 1;
    ev.ev_incarnation = 1;
    ev.ev_seq = ++s_seq;
    ev.ev_hlc = ((uint64_t)day * 86400000ULL + 1000) << 16 | (s_seq & 0xff);
    ev.ev_type = (uint8_t)type;
    strcpy(ev.ev_customer, "C1");
    ev.ev_points = points;
    ev.ev_qual = qual;
    ev.ev_qual_day = day;
    if (type == LY_EV_EARN)
        ev.ev_amount = points * 100 + 1;
    if (type == LY_EV_REDEEM)
        ev.ev_amount = -points;
    if (type == LY_EV_REVERSE) {
        ev.ev_ref_type = LY_EV_EARN;
        strcpy(ev.ev_ref_txn, "T0");
    }
    return ev;
}

Test(ledger, tiers_and_window_edges)
{
    ly_cust c;
    ly_cust_init(&c, "C1");
    const int32_t D = 20000;
    ly_event e1 = s_ev(LY_EV_EARN, D - 365, 600, 600); /* just outside the window at D */
    ly_event e2 = s_ev(LY_EV_EARN, D - 364, 399, 399); /* the oldest day inside */
    ly_cust_apply(&c, &e1);
    ly_cust_apply(&c, &e2);
    cr_expect_eq(ly_cust_qualifying(&c, &pg, D - 1), 999);
    cr_expect_eq(ly_tier_at(&pg, &c, D - 1), 0);
    cr_expect_eq(ly_cust_qualifying(&c, &pg, D), 399);
    ly_event e3 = s_ev(LY_EV_EARN, D, 601, 601);
    ly_cust_apply(&c, &e3);
    cr_expect_eq(ly_cust_qualifying(&c, &pg, D), 1000);
    cr_expect_eq(ly_tier_at(&pg, &c, D), 1, "exactly the threshold is Gold");
    cr_expect_eq(ly_tier_at(&pg, &c, D + 1), 0, "a day later e2 leaves the window");
    cr_expect_eq(ly_tier_for(&pg, 4999), 1);
    cr_expect_eq(ly_tier_for(&pg, 5000), 2);
    cr_expect_eq(ly_cust_balance(&c), 1600);
    cr_expect_eq(c.cu_lifetime, 1600);
}

Test(ledger, refund_of_spent_points_becomes_debt_repaid_first)
{
    ly_cust c;
    ly_cust_init(&c, "C1");
    ly_event earn = s_ev(LY_EV_EARN, 20000, 100, 100);
    ly_event redeem = s_ev(LY_EV_REDEEM, 20000, -100, 0);
    ly_event refund = s_ev(LY_EV_REVERSE, 20001, -100, -100);
    refund.ev_qual_day = 20000;
    ly_cust_apply(&c, &earn);
    ly_cust_apply(&c, &redeem);
    ly_cust_apply(&c, &refund);
    cr_expect_eq(ly_cust_balance(&c), 0);
    cr_expect_eq(ly_cust_debt(&c), 100);
    cr_expect_eq(c.cu_lifetime, 0);
    cr_expect_eq(ly_cust_qualifying(&c, &pg, 20001), 0);
    ly_event later = s_ev(LY_EV_EARN, 20002, 30, 30);
    ly_cust_apply(&c, &later);
    cr_expect_eq(ly_cust_balance(&c), 0, "earnings repay the debt first");
    cr_expect_eq(ly_cust_debt(&c), 70);
    ly_event more = s_ev(LY_EV_EARN, 20003, 90, 90);
    ly_cust_apply(&c, &more);
    cr_expect_eq(ly_cust_balance(&c), 20);
    cr_expect_eq(ly_cust_debt(&c), 0);
}

Test(ledger, profile_last_writer_wins)
{
    ly_cust a, b;
    ly_cust_init(&a, "C1");
    ly_cust_init(&b, "C1");
    ly_event p1 = s_ev(LY_EV_PROFILE, 20000, 0, 0), p2 = s_ev(LY_EV_PROFILE, 20001, 0, 0);
    p1.ev_fields = LY_PF_NAME | LY_PF_EMAIL;
    strcpy(p1.ev_profile.pf_name, "Ann");
    strcpy(p1.ev_profile.pf_email, "ann@example.org");
    p2.ev_fields = LY_PF_NAME;
    strcpy(p2.ev_profile.pf_name, "Anne");
    ly_cust_apply(&a, &p1);
    ly_cust_apply(&a, &p2);
    ly_cust_apply(&b, &p2);
    ly_cust_apply(&b, &p1);
    cr_expect_str_eq(a.cu_profile.pf_name, "Anne");
    cr_expect_str_eq(b.cu_profile.pf_name, "Anne");
    cr_expect_str_eq(b.cu_profile.pf_email, "ann@example.org");
    cr_expect_eq(ly_cust_hash(&a), ly_cust_hash(&b));
}

/* The fold is commutative: any order of the same events gives the same bytes. */
Test(ledger, order_independent)
{
    enum { N = 400 };
    static ly_event evs[N];
    srand(12345);
    s_seq = 0;
    for (int i = 0; i < N; i++) {
        int32_t day = 20000 + rand() % 1200; /* spans more than LY_QUAL_KEEP_DAYS */
        int r = rand() % 6;
        if (r <= 2) {
            evs[i] = s_ev(LY_EV_EARN, day, 1 + rand() % 500, 1 + rand() % 400);
        } else if (r == 3) {
            evs[i] = s_ev(LY_EV_REDEEM, day, -(1 + rand() % 300), 0);
        } else if (r == 4) {
            evs[i] = s_ev(LY_EV_REVERSE, day, -(rand() % 100), -(rand() % 100));
            evs[i].ev_qual_day = day - rand() % 900;
        } else {
            evs[i] = s_ev(LY_EV_PROFILE, day, 0, 0);
            evs[i].ev_fields = 1u << (rand() % LY_PF_COUNT);
            evs[i].ev_hlc = (uint64_t)(rand() % 50) << 16; /* ties in time: origin decides */
            evs[i].ev_origin = (uint16_t)(1 + rand() % 3);
            snprintf(evs[i].ev_profile.pf_name, sizeof evs[i].ev_profile.pf_name, "n%d", i);
            strcpy(evs[i].ev_profile.pf_birthday, "1990-01-02");
        }
    }
    ly_cust ref;
    ly_cust_init(&ref, "C1");
    for (int i = 0; i < N; i++)
        ly_cust_apply(&ref, &evs[i]);
    static uint8_t a[LY_CUST_ENC_MAX], b[LY_CUST_ENC_MAX];
    size_t alen = ly_cust_encode(&ref, a);
    for (int round = 0; round < 20; round++) {
        for (int i = N - 1; i > 0; i--) {
            int j = rand() % (i + 1);
            ly_event t = evs[i];
            evs[i] = evs[j];
            evs[j] = t;
        }
        ly_cust c;
        ly_cust_init(&c, "C1");
        for (int i = 0; i < N; i++)
            ly_cust_apply(&c, &evs[i]);
        size_t blen = ly_cust_encode(&c, b);
        cr_assert_eq(alen, blen, "round %d", round);
        cr_assert(memcmp(a, b, alen) == 0, "round %d: state differs", round);
        cr_assert_eq(ly_cust_hash(&c), ly_cust_hash(&ref));
    }
    ly_cust back;
    cr_assert_eq(ly_cust_decode(a, alen, &back), LY_OK);
    size_t clen = ly_cust_encode(&back, b);
    cr_assert(clen == alen && memcmp(a, b, alen) == 0, "decode/encode round trip");
}

Test(ledger, event_record_round_trip_and_corruption)
{
    ly_event ev = s_ev(LY_EV_EARN, 20000, 12, 12);
    strcpy(ev.ev_txn, "T-1");
    strcpy(ev.ev_category, "electronics");
    uint8_t buf[LY_EVENT_ENC_MAX];
    size_t n = ly_event_encode(&ev, buf);
    ly_event back;
    cr_assert_eq(ly_event_decode(buf, n, &back), LY_OK);
    cr_expect(memcmp(&ev, &back, sizeof ev) == 0);
    cr_expect_eq(ly_event_decode(buf, n - 1, &back), LY_EPROTO, "truncated");
    buf[0] = 9;
    cr_expect_eq(ly_event_decode(buf, n, &back), LY_EVERSION);
    ev.ev_type = LY_EV_REDEEM; /* points must be -amount */
    cr_expect_eq(ly_event_validate(&ev), LY_EPROTO);
}

Test(ledger, syntax_checks)
{
    cr_expect(ly_id_valid("C-000123"));
    cr_expect(!ly_id_valid(""));
    cr_expect(!ly_id_valid("has space"));
    char longid[LY_ID_MAX + 2];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    cr_expect(!ly_id_valid(longid));
    cr_expect(ly_text_valid("Zoë Müller", 100));
    cr_expect(!ly_text_valid("bad\xff", 100));
    cr_expect(!ly_text_valid("\xc0\xaf", 100), "overlong");
    cr_expect(!ly_text_valid("tab\there", 100));
    cr_expect(ly_date_valid("2024-02-29"));
    cr_expect(!ly_date_valid("2023-02-29"));
    cr_expect(!ly_date_valid("2023-13-01"));
    cr_expect(!ly_date_valid("23-01-01"));
}

Test(ledger, hlc_monotonic_and_clamped)
{
    ly_hlc c;
    ly_hlc_init(&c, 0, 1000);
    uint64_t a = ly_hlc_now_at(&c, 5000);
    uint64_t b = ly_hlc_now_at(&c, 4000); /* the wall clock stepped back */
    cr_expect(b > a);
    cr_expect_eq(ly_hlc_merge_at(&c, (uint64_t)100000 << 16, 5000), 1, "far ahead: clamped");
    cr_expect_eq(LY_HLC_MS(c.hl_last), 6000);
    cr_expect_eq(ly_hlc_merge_at(&c, (uint64_t)5500 << 16, 5000), 0);
    cr_expect(ly_hlc_now_at(&c, 5000) > ((uint64_t)6000 << 16));
}
