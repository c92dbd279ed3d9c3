/* The tier rules of tiers.h: the edges a customer relies on (the last day held
 * and the first dropped, year boundaries, leap years, anniversaries), one_down
 * against to_qualified, points to the next tier and to keep one, the 800-day
 * horizon, the equivalence with ledger.c's rolling rule, and a literal second
 * reading of the rules (s_oracle) compared on random customers. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hlc.h"
#include "common/ledger.h"
#include "common/program.h"
#include "common/tiers.h"

#define BASE     0
#define SILVER   1
#define GOLD     2
#define PLATINUM 3

static ly_progdef pd;
static ly_cust cu;

/* ---- helpers ----------------------------------------------------------------- */

static int s_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int s_mdays(int y, int m)
{
    static const int md[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && s_leap(y) ? 29 : md[m - 1];
}

/* Days since 1970-01-01 by counting (a second way, apart from tiers.c's). */
static int32_t s_day(int y, int m, int d)
{
    int32_t n = 0;
    for (int i = 1970; i < y; i++)
        n += s_leap(i) ? 366 : 365;
    for (int i = 1; i < m; i++)
        n += s_mdays(y, i);
    return n + d - 1;
}

static void s_ymd(int32_t day, int *y, int *m, int *d)
{
    *y = 1970;
    while (day >= (s_leap(*y) ? 366 : 365))
        day -= s_leap((*y)++) ? 366 : 365;
    *m = 1;
    while (day >= s_mdays(*y, *m))
        day -= s_mdays(*y, (*m)++);
    *d = day + 1;
}

/* Base 0, Silver 100, Gold 1000, Platinum 5000. */
static void s_program(int qual, int window, int grace, int downgrade)
{
    static const char *names[] = {"Base", "Silver", "Gold", "Platinum"};
    static const int64_t thr[] = {0, 100, 1000, 5000};
    ly_progdef_default(&pd);
    pd.pd_version = 1;
    pd.pd_ntiers = 4;
    memset(pd.pd_tiers, 0, sizeof pd.pd_tiers);
    for (int i = 0; i < 4; i++) {
        strcpy(pd.pd_tiers[i].ti_name, names[i]);
        pd.pd_tiers[i].ti_threshold = thr[i];
        pd.pd_tiers[i].ti_mult = 1000;
    }
    pd.pd_qual = (uint8_t)qual;
    pd.pd_window_days = qual == LY_PD_ROLLING ? window : 0;
    pd.pd_grace_days = grace;
    pd.pd_downgrade = (uint8_t)downgrade;
    /* Not checked with ly_progdef_validate: it refuses rules whose look-back
     * exceeds the kept buckets (one_down with yearly periods, long grace),
     * and some tests here pin exactly how the module bounds those. */
}

static void s_enroll(ly_cust *c, int32_t day)
{
    c->cu_enrolls = 1;
    c->cu_enrolled_hlc = ((uint64_t)day * 86400000ULL + 3600000ULL) << 16;
}

static ly_tier_status s_at(int32_t day)
{
    ly_tier_status ts;
    ly_tier_status_at(&pd, &cu, day, &ts);
    return ts;
}

static int s_tier(int32_t day)
{
    return ly_tier_held_at(&pd, &cu, day);
}

/* `tier` is held through `last` and not on the day after. */
static void s_expect_drop(int32_t last, int tier, int after)
{
    int y, m, d;
    s_ymd(last, &y, &m, &d);
    cr_expect_eq(s_tier(last), tier, "on %04d-%02d-%02d: tier %d, expected %d", y, m, d,
                 s_tier(last), tier);
    cr_expect_eq(s_tier(last + 1), after, "the day after %04d-%02d-%02d: tier %d, expected %d", y,
                 m, d, s_tier(last + 1), after);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t s_rand(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void setup(void)
{
    ly_cust_init(&cu, "c1");
}

TestSuite(tiers, .init = setup);

/* ---- no buckets ---------------------------------------------------------- */

Test(tiers, no_buckets_is_the_base_tier_everywhere)
{
    static const int quals[] = {LY_PD_ROLLING, LY_PD_CALENDAR, LY_PD_ANNIVERSARY};
    for (int q = 0; q < 3; q++)
        for (int dg = LY_PD_TO_QUALIFIED; dg <= LY_PD_ONE_DOWN; dg++) {
            s_program(quals[q], 365, 30, dg);
            ly_tier_status ts = s_at(s_day(2026, 5, 17));
            cr_expect_eq(ts.ts_tier, BASE);
            cr_expect_eq(ts.ts_qualified, BASE);
            cr_expect_eq(ts.ts_qualifying, 0);
            cr_expect_eq(ts.ts_held_until, 0);
            cr_expect_eq(ts.ts_to_next, 100);
            cr_expect_eq(ts.ts_to_keep, 0);
        }
    s_program(LY_PD_ROLLING, 365, 0, LY_PD_TO_QUALIFIED);
    ly_tier_status ts = s_at(s_day(2026, 5, 17));
    cr_expect_eq(ts.ts_period_start, s_day(2025, 5, 18));
    cr_expect_eq(ts.ts_period_end, s_day(2026, 5, 17));
    s_program(LY_PD_CALENDAR, 0, 0, LY_PD_TO_QUALIFIED);
    ts = s_at(s_day(2026, 5, 17));
    cr_expect_eq(ts.ts_period_start, s_day(2026, 1, 1));
    cr_expect_eq(ts.ts_period_end, s_day(2026, 12, 31));
    /* One tier only: nothing to reach. */
    pd.pd_ntiers = 1;
    cr_expect_eq(s_at(s_day(2026, 5, 17)).ts_to_next, 0);
}

/* ---- today's rule ----------------------------------------------------------- */

Test(tiers, rolling_without_grace_is_todays_rule)
{
    ly_program pg;
    for (int round = 0; round < 300; round++) {
        int window = 1 + (int)s_rand(LY_PD_WINDOW_MAX);
        if (round % 5 == 0)
            window = round % 10 ? 365 : LY_PD_WINDOW_MAX;
        s_program(LY_PD_ROLLING, window, 0, LY_PD_TO_QUALIFIED);
        ly_progdef_to_program(&pd, &pg);
        ly_cust_init(&cu, "r");
        int32_t start = s_day(2024, 1, 1) + (int32_t)s_rand(400);
        int n = (int)s_rand(60);
        for (int i = 0; i < n; i++) {
            int64_t pts = (int64_t)s_rand(1500);
            if (s_rand(8) == 0)
                pts = -pts; /* a refund */
            ly_cust_qual_add(&cu, start + (int32_t)s_rand(1200), pts);
        }
        for (int k = 0; k < 20; k++) {
            int32_t day = start - 50 + (int32_t)s_rand(2200);
            ly_tier_status ts = s_at(day);
            int64_t q = ly_cust_qualifying(&cu, &pg, day);
            cr_assert_eq(ts.ts_tier, ly_tier_for(&pg, q), "round %d day %d window %d", round, day,
                         window);
            cr_assert_eq(ts.ts_tier, ly_tier_at(&pg, &cu, day));
            cr_assert_eq(ts.ts_qualifying, q);
            cr_assert_eq(ts.ts_qualified, ts.ts_tier);
            cr_assert_eq(ts.ts_to_keep, 0);
        }
    }
}

/* ---- rolling with grace ---------------------------------------------------- */

Test(tiers, rolling_grace_last_day_held_first_day_dropped)
{
    int32_t x = s_day(2026, 3, 10);
    ly_cust_qual_add(&cu, x, 1200);
    s_program(LY_PD_ROLLING, 365, 0, LY_PD_TO_QUALIFIED);
    cr_expect_eq(s_tier(x - 1), BASE);
    cr_expect_eq(s_tier(x), GOLD);
    s_expect_drop(x + 364, GOLD, BASE); /* the window x+365-364 .. x+364 still holds x */
    cr_expect_eq(s_at(x).ts_held_until, x + 364);

    s_program(LY_PD_ROLLING, 365, 30, LY_PD_TO_QUALIFIED);
    s_expect_drop(x + 394, GOLD, BASE);
    ly_tier_status ts = s_at(x + 380);
    cr_expect_eq(ts.ts_tier, GOLD);
    cr_expect_eq(ts.ts_qualified, BASE);
    cr_expect_eq(ts.ts_qualifying, 0);
    cr_expect_eq(ts.ts_held_until, x + 394);
    cr_expect_eq(ts.ts_to_keep, 1000); /* earned that day, the window is Gold again */
    cr_expect_eq(ts.ts_to_next, 5000);

    /* Points that fall out one by one: Gold lasts 30 days after the window
     * drops below 1000, not after the last point leaves. */
    ly_cust_qual_add(&cu, x + 100, 300);
    cr_expect_eq(s_tier(x + 370), GOLD);
    cr_expect_eq(s_at(x + 364).ts_qualifying, 1500);
    cr_expect_eq(s_at(x + 365).ts_qualifying, 300);
    s_expect_drop(x + 394, GOLD, SILVER);
    s_expect_drop(x + 464 + 30, SILVER, BASE);
}

Test(tiers, rolling_one_down_steps_one_tier_per_grace)
{
    int32_t x = s_day(2026, 1, 5);
    ly_cust_qual_add(&cu, x, 6000);
    s_program(LY_PD_ROLLING, 365, 30, LY_PD_ONE_DOWN);
    s_expect_drop(x + 364 + 30, PLATINUM, GOLD);
    s_expect_drop(x + 364 + 60, GOLD, SILVER);
    s_expect_drop(x + 364 + 90, SILVER, BASE);
    cr_expect_eq(s_at(x).ts_held_until, x + 394);
    cr_expect_eq(s_at(x + 395).ts_held_until, x + 424);
    /* Never below the qualified tier: 150 points on x+400 keep Silver. */
    ly_cust_qual_add(&cu, x + 400, 150);
    s_expect_drop(x + 364 + 60, GOLD, SILVER);
    cr_expect_eq(s_tier(x + 600), SILVER);
    /* grace 0: one_down is to_qualified. */
    ly_cust_init(&cu, "c2");
    ly_cust_qual_add(&cu, x, 6000);
    s_program(LY_PD_ROLLING, 365, 0, LY_PD_ONE_DOWN);
    s_expect_drop(x + 364, PLATINUM, BASE);
}

/* ---- calendar ----------------------------------------------------------------- */

Test(tiers, calendar_holds_through_next_year_and_drops_on_new_year)
{
    ly_cust_qual_add(&cu, s_day(2025, 6, 15), 1000);
    s_program(LY_PD_CALENDAR, 0, 0, LY_PD_TO_QUALIFIED);
    cr_expect_eq(s_tier(s_day(2025, 6, 14)), BASE);
    cr_expect_eq(s_tier(s_day(2025, 6, 15)), GOLD);
    s_expect_drop(s_day(2026, 12, 31), GOLD, BASE);
    ly_tier_status ts = s_at(s_day(2025, 12, 31));
    cr_expect_eq(ts.ts_held_until, s_day(2026, 12, 31));
    cr_expect_eq(ts.ts_qualified, GOLD);
    cr_expect_eq(ts.ts_to_keep, 0);
    ts = s_at(s_day(2026, 1, 1)); /* a new period: nothing yet */
    cr_expect_eq(ts.ts_tier, GOLD);
    cr_expect_eq(ts.ts_qualified, BASE);
    cr_expect_eq(ts.ts_qualifying, 0);
    cr_expect_eq(ts.ts_period_start, s_day(2026, 1, 1));
    cr_expect_eq(ts.ts_period_end, s_day(2026, 12, 31));
    cr_expect_eq(ts.ts_to_keep, 1000);
    cr_expect_eq(ts.ts_held_until, s_day(2026, 12, 31));

    s_program(LY_PD_CALENDAR, 0, 30, LY_PD_TO_QUALIFIED);
    s_expect_drop(s_day(2027, 1, 30), GOLD, BASE);
    cr_expect_eq(s_at(s_day(2025, 7, 1)).ts_held_until, s_day(2027, 1, 30));
    /* In the grace, 2027 starts like any year: what 2026 reached counts. */
    ly_cust_qual_add(&cu, s_day(2026, 2, 1), 200);
    s_expect_drop(s_day(2027, 1, 30), GOLD, SILVER);
    s_expect_drop(s_day(2027, 12, 31) + 30, SILVER, BASE);
}

Test(tiers, calendar_last_day_of_the_year_counts_in_that_year)
{
    s_program(LY_PD_CALENDAR, 0, 0, LY_PD_TO_QUALIFIED);
    ly_cust_qual_add(&cu, s_day(2025, 12, 31), 600);
    ly_cust_qual_add(&cu, s_day(2026, 1, 1), 600);
    cr_expect_eq(s_at(s_day(2025, 12, 31)).ts_qualifying, 600);
    cr_expect_eq(s_at(s_day(2026, 1, 1)).ts_qualifying, 600);
    cr_expect_eq(s_tier(s_day(2026, 6, 1)), SILVER);
    /* the same two purchases in a rolling window make Gold */
    s_program(LY_PD_ROLLING, 365, 0, LY_PD_TO_QUALIFIED);
    cr_expect_eq(s_tier(s_day(2026, 6, 1)), GOLD);
}

/* ---- one customer under every rule ------------------------------------------- */

Test(tiers, calendar_rolling_anniversary_on_the_same_customer)
{
    s_enroll(&cu, s_day(2025, 3, 10));
    ly_cust_qual_add(&cu, s_day(2025, 12, 20), 600);
    ly_cust_qual_add(&cu, s_day(2026, 1, 10), 600);

    s_program(LY_PD_CALENDAR, 0, 0, LY_PD_TO_QUALIFIED);
    cr_expect_eq(s_tier(s_day(2026, 1, 10)), SILVER);
    s_expect_drop(s_day(2027, 12, 31), SILVER, BASE);

    s_program(LY_PD_ROLLING, 365, 0, LY_PD_TO_QUALIFIED);
    cr_expect_eq(s_tier(s_day(2026, 1, 9)), SILVER);
    cr_expect_eq(s_tier(s_day(2026, 1, 10)), GOLD);
    s_expect_drop(s_day(2026, 12, 19), GOLD, SILVER);
    s_expect_drop(s_day(2027, 1, 9), SILVER, BASE);

    s_program(LY_PD_ANNIVERSARY, 0, 0, LY_PD_TO_QUALIFIED);
    ly_tier_status ts = s_at(s_day(2026, 1, 10));
    cr_expect_eq(ts.ts_tier, GOLD);
    cr_expect_eq(ts.ts_period_start, s_day(2025, 3, 10));
    cr_expect_eq(ts.ts_period_end, s_day(2026, 3, 9));
    cr_expect_eq(ts.ts_held_until, s_day(2027, 3, 9));
    cr_expect_eq(s_tier(s_day(2026, 1, 9)), SILVER);
    s_expect_drop(s_day(2027, 3, 9), GOLD, BASE);
    ts = s_at(s_day(2026, 3, 10));
    cr_expect_eq(ts.ts_period_start, s_day(2026, 3, 10));
    cr_expect_eq(ts.ts_period_end, s_day(2027, 3, 9));
    cr_expect_eq(ts.ts_qualifying, 0);
}

/* ---- leap years ------------------------------------------------------------ */

Test(tiers, leap_years)
{
    s_program(LY_PD_CALENDAR, 0, 0, LY_PD_TO_QUALIFIED);
    ly_tier_status ts = s_at(s_day(2024, 2, 29));
    cr_expect_eq(ts.ts_period_start, s_day(2024, 1, 1));
    cr_expect_eq(ts.ts_period_end, s_day(2024, 12, 31));
    cr_expect_eq(ts.ts_period_end - ts.ts_period_start + 1, 366);
    ly_cust_qual_add(&cu, s_day(2024, 2, 29), 1000);
    s_expect_drop(s_day(2025, 12, 31), GOLD, BASE);
    /* grace counts days: 31 December 2024 + 60 is 1 March 2025 (no 29 February) */
    s_program(LY_PD_CALENDAR, 0, 60, LY_PD_TO_QUALIFIED);
    ly_cust_init(&cu, "c2");
    ly_cust_qual_add(&cu, s_day(2023, 5, 1), 1000);
    s_expect_drop(s_day(2025, 3, 1), GOLD, BASE);
    /* ... and 31 December 2027 + 60 is 29 February 2028 */
    ly_cust_init(&cu, "c3");
    ly_cust_qual_add(&cu, s_day(2026, 5, 1), 1000);
    s_expect_drop(s_day(2028, 2, 29), GOLD, BASE);

    /* Enrolled on 29 February: anniversaries on 28 February in other years. */
    s_program(LY_PD_ANNIVERSARY, 0, 0, LY_PD_TO_QUALIFIED);
    ly_cust_init(&cu, "c4");
    s_enroll(&cu, s_day(2024, 2, 29));
    static const int32_t starts[][3] = {{2024, 2, 29}, {2025, 2, 28}, {2026, 2, 28},
                                        {2027, 2, 28}, {2028, 2, 29}, {2029, 2, 28}};
    for (int i = 0; i + 1 < 6; i++) {
        int32_t s = s_day(starts[i][0], starts[i][1], starts[i][2]);
        int32_t e = s_day(starts[i + 1][0], starts[i + 1][1], starts[i + 1][2]) - 1;
        ts = s_at(s);
        cr_expect_eq(ts.ts_period_start, s, "period %d", i);
        cr_expect_eq(ts.ts_period_end, e, "period %d", i);
        ts = s_at(e);
        cr_expect_eq(ts.ts_period_start, s, "period %d", i);
    }
    cr_expect_eq(s_at(s_day(2027, 2, 28)).ts_period_end, s_day(2028, 2, 28)); /* 366 days */
    ly_cust_qual_add(&cu, s_day(2025, 2, 27), 1000); /* the last day of the first year */
    s_expect_drop(s_day(2026, 2, 27), GOLD, BASE);

    /* Enrolled on 1 March 2023: the first year ends on 29 February 2024. */
    ly_cust_init(&cu, "c5");
    s_enroll(&cu, s_day(2023, 3, 1));
    ts = s_at(s_day(2024, 2, 29));
    cr_expect_eq(ts.ts_period_start, s_day(2023, 3, 1));
    cr_expect_eq(ts.ts_period_end, s_day(2024, 2, 29));
    ly_cust_qual_add(&cu, s_day(2024, 2, 29), 1000);
    s_expect_drop(s_day(2025, 2, 28), GOLD, BASE);
}

Test(tiers, not_enrolled_anniversary_is_the_calendar_year)
{
    s_program(LY_PD_ANNIVERSARY, 0, 0, LY_PD_TO_QUALIFIED);
    ly_tier_status ts = s_at(s_day(2026, 7, 4));
    cr_expect_eq(ts.ts_period_start, s_day(2026, 1, 1));
    cr_expect_eq(ts.ts_period_end, s_day(2026, 12, 31));
}

/* ---- one_down against to_qualified ------------------------------------------ */

Test(tiers, one_down_against_to_qualified)
{
    ly_cust_qual_add(&cu, s_day(2025, 4, 1), 6000); /* Platinum in 2025 */
    ly_cust_qual_add(&cu, s_day(2026, 4, 1), 150);  /* Silver in 2026 */

    s_program(LY_PD_CALENDAR, 0, 0, LY_PD_TO_QUALIFIED);
    s_expect_drop(s_day(2026, 12, 31), PLATINUM, SILVER);
    s_expect_drop(s_day(2027, 12, 31), SILVER, BASE);

    s_program(LY_PD_CALENDAR, 0, 0, LY_PD_ONE_DOWN);
    s_expect_drop(s_day(2026, 12, 31), PLATINUM, GOLD);
    /* The step would last through 2027; the horizon ends it on 2025-01-01 + 799. */
    cr_expect_eq(s_day(2025, 1, 1) + 799, s_day(2027, 3, 11));
    s_expect_drop(s_day(2027, 3, 11), GOLD, SILVER);
    cr_expect_eq(s_at(s_day(2027, 1, 1)).ts_held_until, s_day(2027, 3, 11));
    s_expect_drop(s_day(2027, 12, 31), SILVER, BASE);

    /* Never below the qualified one: Gold reached in 2027 holds. */
    ly_cust_qual_add(&cu, s_day(2027, 2, 1), 1000);
    cr_expect_eq(s_tier(s_day(2027, 3, 12)), GOLD);
    cr_expect_eq(s_tier(s_day(2028, 12, 31)), GOLD);
}

Test(tiers, one_down_chains_within_the_horizon)
{
    /* Anniversary from 1 October: Platinum reached in the period from
     * 2025-10-01; the next period 2026-10-01 .. 2027-09-30 holds it; one_down
     * gives Gold from 2027-10-01 until 2025-10-01 + 799 = 2027-12-09. */
    s_enroll(&cu, s_day(2020, 10, 1));
    ly_cust_qual_add(&cu, s_day(2025, 10, 1), 6000);
    s_program(LY_PD_ANNIVERSARY, 0, 0, LY_PD_ONE_DOWN);
    cr_expect_eq(s_day(2025, 10, 1) + 799, s_day(2027, 12, 9));
    s_expect_drop(s_day(2027, 9, 30), PLATINUM, GOLD);
    s_expect_drop(s_day(2027, 12, 9), GOLD, BASE);
    /* A tier reached later in that first period keeps its step no longer:
     * the bound counts from the period's first day. */
    ly_cust_init(&cu, "c2");
    s_enroll(&cu, s_day(2020, 10, 1));
    ly_cust_qual_add(&cu, s_day(2026, 9, 30), 6000);
    s_expect_drop(s_day(2027, 9, 30), PLATINUM, GOLD);
    s_expect_drop(s_day(2027, 12, 9), GOLD, BASE);
}

/* ---- the horizon --------------------------------------------------------- */

Test(tiers, grace_beyond_the_horizon_is_cut)
{
    ly_cust_qual_add(&cu, s_day(2025, 8, 1), 1000);
    s_program(LY_PD_CALENDAR, 0, 69, LY_PD_TO_QUALIFIED); /* exact: 2026-12-31 + 69 */
    s_expect_drop(s_day(2027, 3, 10), GOLD, BASE);
    s_program(LY_PD_CALENDAR, 0, 70, LY_PD_TO_QUALIFIED); /* 2027-03-11, still exact */
    s_expect_drop(s_day(2027, 3, 11), GOLD, BASE);
    s_program(LY_PD_CALENDAR, 0, 100, LY_PD_TO_QUALIFIED); /* would be 2027-04-10 */
    s_expect_drop(s_day(2027, 3, 11), GOLD, BASE);
    cr_expect_eq(s_at(s_day(2026, 12, 1)).ts_held_until, s_day(2027, 3, 11));
    s_program(LY_PD_CALENDAR, 0, LY_PD_GRACE_MAX, LY_PD_ONE_DOWN);
    s_expect_drop(s_day(2027, 3, 11), GOLD, BASE);

    /* rolling 730 with 100 days of grace: a window's status lasts to its first
     * day + 799, i.e. 70 days after its last. */
    ly_cust_init(&cu, "c2");
    int32_t x = s_day(2025, 5, 5);
    ly_cust_qual_add(&cu, x, 1000);
    s_program(LY_PD_ROLLING, 730, 100, LY_PD_TO_QUALIFIED);
    s_expect_drop(x + 729 + 70, GOLD, BASE);
    cr_expect_eq(s_at(x).ts_held_until, x + 799);
    s_program(LY_PD_ROLLING, 730, 60, LY_PD_TO_QUALIFIED); /* exact */
    s_expect_drop(x + 729 + 60, GOLD, BASE);
    s_program(LY_PD_ROLLING, 365, LY_PD_GRACE_MAX, LY_PD_TO_QUALIFIED); /* exact: 365 + 366 */
    s_expect_drop(x + 364 + LY_PD_GRACE_MAX, GOLD, BASE);
}

Test(tiers, pruned_buckets_never_lower_todays_tier)
{
    /* A purchase 801 days after the first makes the fold drop the first
     * bucket; the tier at the new newest day does not read it anyway. */
    int32_t x = s_day(2025, 1, 1);
    ly_cust_qual_add(&cu, x, 1000);
    s_program(LY_PD_CALENDAR, 0, 100, LY_PD_TO_QUALIFIED);
    int32_t y = x + 790;
    int before = s_tier(y);
    cr_expect_eq(before, GOLD);
    ly_cust_qual_add(&cu, y, 10);
    cr_expect_eq(cu.cu_nqual, 2);
    cr_expect_eq(s_tier(y), GOLD);
    ly_cust_qual_add(&cu, x + 800, 10);
    cr_expect_eq(cu.cu_nqual, 2); /* x is gone */
    cr_expect_eq(s_tier(x + 800), BASE);
    /* ... as it was before, with x still there */
    ly_cust_init(&cu, "c2");
    ly_cust_qual_add(&cu, x, 1000);
    cr_expect_eq(s_tier(x + 800), BASE);
    cr_expect_eq(s_tier(x + 799), GOLD);
}

/* ---- points to the next tier and to keep one --------------------------------- */

Test(tiers, points_to_next_and_to_keep)
{
    s_program(LY_PD_CALENDAR, 0, 0, LY_PD_TO_QUALIFIED);
    ly_cust_qual_add(&cu, s_day(2025, 3, 1), 1200); /* Gold in 2025 */
    ly_cust_qual_add(&cu, s_day(2026, 3, 1), 300);
    ly_tier_status ts = s_at(s_day(2026, 6, 1));
    cr_expect_eq(ts.ts_tier, GOLD);
    cr_expect_eq(ts.ts_qualified, SILVER);
    cr_expect_eq(ts.ts_qualifying, 300);
    cr_expect_eq(ts.ts_to_next, 4700);
    cr_expect_eq(ts.ts_to_keep, 700);
    cr_expect_eq(ts.ts_held_until, s_day(2026, 12, 31));
    /* exactly the missing 700 */
    ly_cust_qual_add(&cu, s_day(2026, 6, 1), 699);
    cr_expect_eq(s_at(s_day(2026, 6, 1)).ts_to_keep, 1);
    ly_cust_qual_add(&cu, s_day(2026, 6, 1), 1);
    ts = s_at(s_day(2026, 6, 1));
    cr_expect_eq(ts.ts_to_keep, 0);
    cr_expect_eq(ts.ts_qualified, GOLD);
    cr_expect_eq(ts.ts_held_until, s_day(2027, 12, 31));
    /* a refund takes it back */
    ly_cust_qual_add(&cu, s_day(2026, 3, 1), -300);
    ts = s_at(s_day(2026, 6, 1));
    cr_expect_eq(ts.ts_qualifying, 700);
    cr_expect_eq(ts.ts_to_keep, 300);
    /* Platinum: the top, nothing next */
    ly_cust_qual_add(&cu, s_day(2026, 7, 1), 4300);
    ts = s_at(s_day(2026, 7, 1));
    cr_expect_eq(ts.ts_tier, PLATINUM);
    cr_expect_eq(ts.ts_to_next, 0);
    cr_expect_eq(ts.ts_to_keep, 0);

    /* Grace does not keep it through the next period: Platinum of 2026 would
     * hold through 2027-12-31 + 366 = 2028-12-31, the whole of 2028, but the
     * horizon ends it on 2026-01-01 + 799 = 2028-03-10: 2027 must qualify. */
    ly_cust_init(&cu, "c2");
    ly_cust_qual_add(&cu, s_day(2026, 1, 10), 6000);
    s_program(LY_PD_CALENDAR, 0, LY_PD_GRACE_MAX, LY_PD_TO_QUALIFIED);
    ts = s_at(s_day(2027, 1, 1));
    cr_expect_eq(ts.ts_held_until, s_day(2028, 3, 10));
    cr_expect_eq(s_day(2026, 1, 1) + 799, s_day(2028, 3, 10));
    cr_expect_eq(ts.ts_to_keep, 5000);
}

Test(tiers, refund_in_a_period_lowers_it)
{
    s_program(LY_PD_CALENDAR, 0, 0, LY_PD_TO_QUALIFIED);
    ly_cust_qual_add(&cu, s_day(2025, 3, 1), 1000);
    cr_expect_eq(s_tier(s_day(2026, 6, 1)), GOLD);
    ly_cust_qual_add(&cu, s_day(2025, 3, 1), -1);
    cr_expect_eq(s_tier(s_day(2026, 6, 1)), SILVER);
    ly_cust_qual_add(&cu, s_day(2025, 2, 1), -2000);
    ly_tier_status ts = s_at(s_day(2025, 12, 31));
    cr_expect_eq(ts.ts_tier, BASE);
    cr_expect_eq(ts.ts_qualifying, -1001);
    cr_expect_eq(ts.ts_to_next, 1101);
}

/* ---- robustness ------------------------------------------------------------- */

Test(tiers, out_of_range_input_reads_nothing_outside)
{
    s_program(LY_PD_ROLLING, 365, 10, LY_PD_ONE_DOWN);
    for (int i = 0; i < LY_QUAL_BUCKETS_MAX; i++) {
        cu.cu_qual[i].qb_day = (int32_t)(s_day(2026, 1, 1) - (int32_t)s_rand(1000));
        cu.cu_qual[i].qb_points = i % 2 ? INT64_MAX : INT64_MIN + 1; /* unsorted, huge */
    }
    cu.cu_nqual = LY_QUAL_BUCKETS_MAX + 1000;
    ly_tier_status ts = s_at(s_day(2026, 1, 1));
    cr_expect_geq(ts.ts_tier, 0);
    cr_expect_lt(ts.ts_tier, 4);
    cu.cu_nqual = -7;
    ts = s_at(s_day(2026, 1, 1));
    cr_expect_eq(ts.ts_tier, 0);
    cr_expect_eq(ts.ts_qualifying, 0);
    cu.cu_nqual = 1;
    cu.cu_qual[0].qb_day = INT32_MIN;
    ts = s_at(INT32_MAX);
    cr_expect_eq(ts.ts_period_end, LY_PD_DAY_MAX);
    ts = s_at(INT32_MIN);
    cr_expect_eq(ts.ts_period_end, 0);
    /* a definition out of its ranges is clamped */
    pd.pd_ntiers = 99;
    pd.pd_window_days = 100000;
    pd.pd_grace_days = -3;
    pd.pd_qual = 77;
    ts = s_at(s_day(2026, 1, 1));
    cr_expect_eq(ts.ts_period_end - ts.ts_period_start + 1, LY_PD_WINDOW_MAX);
    pd.pd_ntiers = 0;
    ts = s_at(s_day(2026, 1, 1));
    cr_expect_eq(ts.ts_tier, 0);
    cr_expect_eq(ts.ts_to_next, 0);
}

/* ---- a literal second reading, on random customers ------------------------------ */

/* The period of `day`, by walking dates (calendar and anniversary). */
static void s_oracle_period(int32_t anchor, int32_t day, int32_t *s, int32_t *e)
{
    int y, m, d, am, ad;
    s_ymd(day, &y, &m, &d);
    if (pd.pd_qual == LY_PD_CALENDAR) {
        *s = s_day(y, 1, 1);
        *e = s_day(y + 1, 1, 1) - 1;
        return;
    }
    int ay;
    s_ymd(anchor, &ay, &am, &ad);
    int32_t a = s_day(y, am, am == 2 && ad == 29 && !s_leap(y) ? 28 : ad);
    int yy = day >= a ? y : y - 1;
    *s = s_day(yy, am, am == 2 && ad == 29 && !s_leap(yy) ? 28 : ad);
    *e = s_day(yy + 1, am, am == 2 && ad == 29 && !s_leap(yy + 1) ? 28 : ad) - 1;
}

/* Buckets on a .. b up to `upto`, by scanning them all. */
static int64_t s_oracle_sum(int32_t a, int32_t b, int32_t upto)
{
    int64_t sum = 0;
    for (int i = 0; i < cu.cu_nqual; i++) {
        int32_t dd = cu.cu_qual[i].qb_day;
        if (dd >= a && dd <= b && dd <= upto)
            sum += cu.cu_qual[i].qb_points;
    }
    return sum;
}

static int s_oracle_q(int64_t total)
{
    int t = 0;
    for (int i = 1; i < pd.pd_ntiers; i++)
        if (total >= pd.pd_tiers[i].ti_threshold)
            t = i;
    return t;
}

static int s_oracle(int32_t day)
{
    int32_t g = pd.pd_grace_days, oldest = day - (LY_QUAL_KEEP_DAYS - 1);
    int down = pd.pd_downgrade == LY_PD_ONE_DOWN, best = 0;
    if (pd.pd_qual == LY_PD_ROLLING) {
        int32_t n = pd.pd_window_days;
        for (int32_t e = day; e - n + 1 >= oldest; e--) {
            int q = s_oracle_q(s_oracle_sum(e - n + 1, e, day)), v = 0;
            int32_t age = day - e;
            if (age <= g)
                v = q;
            else if (down && g > 0)
                v = q - (age - 1) / g;
            if (v > best)
                best = v;
        }
        return best;
    }
    int32_t anchor = cu.cu_enrolls ? LY_HLC_DAY(cu.cu_enrolled_hlc) : 0, s, e;
    s_oracle_period(anchor, day, &s, &e);
    best = s_oracle_q(s_oracle_sum(s, e, day));
    for (;;) {
        s_oracle_period(anchor, s - 1, &s, &e);
        if (s < oldest)
            break;
        int q = s_oracle_q(s_oracle_sum(s, e, day));
        /* j: the ends of later periods (plus grace) already past */
        int j = 0;
        int32_t ne = e, ns;
        for (int m = 1; m <= 8; m++) {
            s_oracle_period(anchor, ne + 1, &ns, &ne);
            if (day > ne + g)
                j = m;
        }
        int v = down ? q - j : j == 0 ? q : 0;
        if (v > best)
            best = v;
    }
    return best;
}

Test(tiers, random_customers_against_a_literal_reading)
{
    static const int quals[] = {LY_PD_ROLLING, LY_PD_CALENDAR, LY_PD_ANNIVERSARY};
    static const int graces[] = {0, 1, 7, 30, 69, 70, 71, 120, 366};
    static const int windows[] = {1, 30, 365, 366, 434, 435, 700, 730};
    for (int round = 0; round < 1200; round++) {
        int qual = quals[round % 3];
        s_program(qual, windows[s_rand(8)], graces[s_rand(9)],
                  s_rand(2) ? LY_PD_ONE_DOWN : LY_PD_TO_QUALIFIED);
        ly_cust_init(&cu, "r");
        int32_t start = s_day(2023, 1, 1) + (int32_t)s_rand(800);
        if (s_rand(4))
            s_enroll(&cu, start - (int32_t)s_rand(3000));
        if (round % 11 == 0)
            s_enroll(&cu, s_day(2020, 2, 29));
        int n = (int)s_rand(12);
        for (int i = 0; i < n; i++) {
            static const int64_t amounts[] = {50, 100, 600, 1000, 4000, 5000, 7000};
            int64_t pts = amounts[s_rand(7)];
            if (s_rand(6) == 0)
                pts = -pts / 2;
            ly_cust_qual_add(&cu, start + (int32_t)s_rand(1100), pts);
        }
        int32_t maxday = cu.cu_nqual ? cu.cu_qual_maxday : start;
        for (int k = 0; k < 6; k++) {
            /* mostly on or after the newest day, where the rules are exact */
            int32_t day = maxday - 300 + (int32_t)s_rand(1400);
            ly_tier_status ts = s_at(day);
            int want = s_oracle(day);
            cr_assert_eq(ts.ts_tier, want, "round %d qual %d window %d grace %d down %d day %d",
                         round, qual, pd.pd_window_days, pd.pd_grace_days, pd.pd_downgrade, day);
            cr_assert_geq(ts.ts_tier, ts.ts_qualified);
            if (ts.ts_tier == 0) {
                cr_assert_eq(ts.ts_held_until, 0);
                cr_assert_eq(ts.ts_to_keep, 0);
                continue;
            }
            cr_assert_eq(ts.ts_to_next, ts.ts_tier == 3 ? 0
                                                        : pd.pd_tiers[ts.ts_tier + 1].ti_threshold -
                                                              ts.ts_qualifying);
            if (day < maxday)
                continue;
            /* held_until: the tier or more through it, less the day after */
            cr_assert_geq(ts.ts_held_until, day);
            for (int i = 0; i < 24; i++) {
                int32_t y = i == 0 ? ts.ts_held_until
                                   : day + (int32_t)s_rand((uint32_t)(ts.ts_held_until - day + 1));
                cr_assert_geq(s_tier(y), ts.ts_tier, "round %d day %d y %d", round, day, y);
            }
            cr_assert_lt(s_tier(ts.ts_held_until + 1), ts.ts_tier, "round %d day %d", round, day);
            cr_assert_lt(s_oracle(ts.ts_held_until + 1), ts.ts_tier);
            /* to_keep: that many more points on the day keep the tier through
             * the next period (rolling: make the window reach it again) */
            if (ts.ts_to_keep > 0) {
                ly_cust saved = cu;
                ly_cust_qual_add(&cu, day, ts.ts_to_keep);
                ly_tier_status after = s_at(day);
                cr_assert_eq(after.ts_qualified, ts.ts_tier);
                if (qual != LY_PD_ROLLING)
                    cr_assert_geq(after.ts_held_until, ts.ts_period_end + 365);
                ly_cust_qual_add(&cu, day, -1);
                cr_assert_lt(s_at(day).ts_qualified, ts.ts_tier);
                cu = saved;
            }
            /* more points never lower the tier */
            ly_cust saved = cu;
            ly_cust_qual_add(&cu, day - (int32_t)s_rand(400), 100 + (int64_t)s_rand(3000));
            cr_assert_geq(s_tier(day), ts.ts_tier);
            cu = saved;
        }
    }
}
