/* The earn rule under a program definition (common/rules/earn.c with
 * or_def): campaigns at the edges of their windows in the branch's local
 * time, weekdays, branches, tiers, minimum amounts, overlapping campaigns,
 * categories that earn nothing, qualifying on spend, and the breakdown the
 * cashier's receipt shows. The local date and minute are the origin's input
 * (node/service.c converts the event's time with the branch's zone,
 * common/tz.c, tested in tz_test.c); here they are given directly. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "common/ledger.h"
#include "common/program.h"
#include "common/rules.h"
#include "common/tz.h"

static ly_progdef *s_pd;
static ly_program s_pg;
static ly_cust *s_c;

static void setup(void)
{
    s_pd = calloc(1, sizeof *s_pd);
    s_c = calloc(1, sizeof *s_c);
    cr_assert(s_pd && s_c);
    ly_cust_init(s_c, "C1");
    s_c->cu_enrolls = 1;
}

static void teardown(void)
{
    free(s_pd);
    free(s_c);
}

TestSuite(earn, .init = setup, .fini = teardown);

/* Parse `campaigns` after a fixed head: Silver 0 x1, Gold 1000 x2; shoes x1.5,
 * gifts earn nothing. */
static void s_program(const char *extra)
{
    char text[4096], why[256];
    snprintf(text, sizeof text,
             "[program]\nname = T\nversion = 1\nminor_units = 100\npoints_per_unit = 1\n"
             "[tier Silver]\nthreshold = 0\nmultiplier = 1\n[tier Gold]\nthreshold = 1000\n"
             "multiplier = 2\n[category shoes]\nmultiplier = 1.5\n[category gifts]\nearns = no\n%s",
             extra);
    cr_assert_eq(ly_progdef_parse("t.ini", text, strlen(text), s_pd, why, sizeof why), LY_OK, "%s",
                 why);
    ly_progdef_to_program(s_pd, &s_pg);
}

/* An earn of `amount` in `category` at branch `branch`, local date `day`
 * (YYYY, MM, DD) and minute `minute`; the event in *ev, breakdown in *bd. */
static ly_err s_earn(int64_t amount, const char *category, const char *branch, int y, int m, int d,
                     int minute, ly_event *ev, ly_breakdown *bd)
{
    ly_origin o = {.or_program = &s_pg,
                   .or_def = s_pd,
                   .or_self = 1,
                   .or_branch = branch,
                   .or_day = (int32_t)ly_tz_days_from_civil(y, m, d),
                   .or_local_day = (int32_t)ly_tz_days_from_civil(y, m, d),
                   .or_local_minute = minute,
                   .or_cust = s_c,
                   .or_out = bd};
    ly_intent in = {.in_type = LY_EV_EARN,
                    .in_customer = "C1",
                    .in_category = category ? category : "",
                    .in_amount = amount};
    ly_refusal no;
    memset(ev, 0, sizeof *ev);
    memset(bd, 0, sizeof *bd);
    ly_rule_make(&ly_rule_earn, &o, &in, ev, &no);
    return no.rf_err;
}

/* Points for 100.00 (100 base points) at the given local time. */
static int64_t s_points_at(const char *branch, int y, int m, int d, int minute, const char **which)
{
    static ly_event ev;
    static ly_breakdown bd;
    cr_assert_eq(s_earn(10000, "", branch, y, m, d, minute, &ev, &bd), LY_OK);
    if (which)
        *which = ev.ev_reason;
    return ev.ev_points;
}

Test(earn, a_window_of_hours_is_start_inclusive_end_exclusive)
{
    s_program("[campaign evening]\nmultiplier = 2\nhours = 17-20\n");
    /* 2027-03-03 is a Wednesday. */
    cr_expect_eq(s_points_at("b1", 2027, 3, 3, 16 * 60 + 59, NULL), 100, "16:59: not yet");
    cr_expect_eq(s_points_at("b1", 2027, 3, 3, 17 * 60, NULL), 200, "17:00: from then");
    cr_expect_eq(s_points_at("b1", 2027, 3, 3, 19 * 60 + 59, NULL), 200, "19:59: still");
    cr_expect_eq(s_points_at("b1", 2027, 3, 3, 20 * 60, NULL), 100, "20:00: over");
}

Test(earn, dates_and_weekdays_are_the_branches_local_ones)
{
    s_program("[campaign march]\nmultiplier = 2\nfrom = 2027-03-01\nuntil = 2027-03-31\n"
              "weekdays = mon-fri\n");
    cr_expect_eq(s_points_at("b1", 2027, 2, 28, 600, NULL), 100, "the day before: Sunday, Feb");
    cr_expect_eq(s_points_at("b1", 2027, 3, 1, 0, NULL), 200, "first day, Monday, 00:00");
    cr_expect_eq(s_points_at("b1", 2027, 3, 6, 600, NULL), 100, "Saturday");
    cr_expect_eq(s_points_at("b1", 2027, 3, 31, 1439, NULL), 200, "last day, Wednesday, 23:59");
    cr_expect_eq(s_points_at("b1", 2027, 4, 1, 0, NULL), 100, "the day after");
    /* Two branches at the same instant, 2027-03-31T22:30Z: Prague (CEST,
     * +2) is already in April, New York (EDT, -4) still in March. */
    ly_tz prague, ny;
    ly_localtime a, b;
    cr_assert_eq(ly_tz_init(&prague, "Europe/Prague", NULL, 0), LY_OK);
    cr_assert_eq(ly_tz_init(&ny, "America/New_York", NULL, 0), LY_OK);
    int64_t at = (ly_tz_days_from_civil(2027, 3, 31) * 86400 + 22 * 3600 + 30 * 60) * 1000;
    cr_assert_eq(ly_tz_local(&prague, at, &a), LY_OK);
    cr_assert_eq(ly_tz_local(&ny, at, &b), LY_OK);
    cr_expect_eq(a.lt_day, ly_tz_days_from_civil(2027, 4, 1));
    cr_expect_eq(b.lt_day, ly_tz_days_from_civil(2027, 3, 31));
    ly_event ev;
    ly_breakdown bd;
    cr_assert_eq(s_earn(10000, "", "prague", 2027, 4, 1, a.lt_minute, &ev, &bd), LY_OK);
    cr_expect_eq(ev.ev_points, 100, "Prague: April 1st, the campaign is over");
    cr_assert_eq(s_earn(10000, "", "ny", 2027, 3, 31, b.lt_minute, &ev, &bd), LY_OK);
    cr_expect_eq(ev.ev_points, 200, "New York: still March 31st");
}

Test(earn, limits_on_branches_tiers_categories_and_amount)
{
    s_program("[campaign north]\nbonus = 50\nbranches = north\n"
              "[campaign gold]\nmultiplier = 3\ntiers = Gold\n"
              "[campaign shoes]\nbonus = 40\ncategories = shoes\nmin_amount = 5000\n");
    const char *which;
    cr_expect_eq(s_points_at("north", 2027, 3, 3, 600, &which), 150);
    cr_expect_str_eq(which, "north");
    cr_expect_eq(s_points_at("south", 2027, 3, 3, 600, &which), 100);
    cr_expect_str_eq(which, "");
    ly_event ev;
    ly_breakdown bd;
    cr_assert_eq(s_earn(4999, "shoes", "south", 2027, 3, 3, 600, &ev, &bd), LY_OK);
    cr_expect_eq(ev.ev_points, 74, "below min_amount: 49 base x1.5");
    cr_assert_eq(s_earn(5000, "shoes", "south", 2027, 3, 3, 600, &ev, &bd), LY_OK);
    cr_expect_eq(ev.ev_points, 75 + 40, "at min_amount: x1.5 and the bonus");
    /* Gold (qualifying 1000 today): x2 tier, and the Gold campaign x3 wins. */
    ly_cust_qual_add(s_c, (int32_t)ly_tz_days_from_civil(2027, 3, 3), 1000);
    cr_expect_eq(s_points_at("north", 2027, 3, 3, 600, &which), 600);
    cr_expect_str_eq(which, "gold", "x3 on Gold beats +50 at north");
}

Test(earn, overlapping_campaigns_do_not_stack_the_best_one_applies)
{
    s_program("[campaign a]\nmultiplier = 2\n[campaign b]\nmultiplier = 1.5\n"
              "[campaign c]\nbonus = 120\n[campaign d]\nmultiplier = 2\n");
    const char *which;
    cr_expect_eq(s_points_at("b1", 2027, 3, 3, 600, &which), 220, "+120 beats x2 on 100");
    cr_expect_str_eq(which, "c");
    ly_event ev;
    ly_breakdown bd;
    cr_assert_eq(s_earn(100000, "", "b1", 2027, 3, 3, 600, &ev, &bd), LY_OK);
    cr_expect_eq(ev.ev_points, 2000, "x2 beats +120 on 1000; not x2 x1.5 x2");
    cr_expect_str_eq(ev.ev_reason, "a", "on a tie the first in the file");
    cr_expect_eq(bd.bd_base, 1000);
    cr_expect_eq(bd.bd_plain, 1000);
    cr_expect_eq(bd.bd_campaign_points, 1000);
    cr_expect_str_eq(bd.bd_campaign, "a");
    cr_expect_eq(bd.bd_tier_mult, 1000);
    cr_expect_eq(bd.bd_category_mult, 1000);
}

Test(earn, a_category_that_does_not_earn_gets_nothing_and_no_campaign)
{
    s_program("[campaign all]\nbonus = 50\n");
    ly_event ev;
    ly_breakdown bd;
    cr_assert_eq(s_earn(10000, "gifts", "b1", 2027, 3, 3, 600, &ev, &bd), LY_OK);
    cr_expect_eq(ev.ev_points, 0);
    cr_expect_eq(ev.ev_qual, 0, "a gift card does not qualify for tiers either");
    cr_expect_str_eq(ev.ev_reason, "");
    cr_expect_eq(bd.bd_category_mult, 0);
    cr_assert_eq(s_earn(10000, "unknown", "b1", 2027, 3, 3, 600, &ev, &bd), LY_OK);
    cr_expect_eq(ev.ev_points, 150, "a category the file does not define earns x1");
}

Test(earn, qualifying_on_spend_counts_the_amount)
{
    s_program("[tiers]\nqualification = rolling\nwindow_days = 365\nqualify_on = spend\n");
    ly_event ev;
    ly_breakdown bd;
    cr_assert_eq(s_earn(12345, "shoes", "b1", 2027, 3, 3, 600, &ev, &bd), LY_OK);
    cr_expect_eq(ev.ev_qual, 12345, "minor units, not points");
    cr_expect_eq(ev.ev_points, 185, "123.45 x1.5 = 185.175, rounded down once at the end");
    cr_expect_eq(ev.ev_tier_to, 1, "12,345 minor units >= the Gold threshold 1000");
}

/* ---- the birthday bonus: when it is due (ly_rule_birthday_due) ---- */

static int32_t s_day(int y, int m, int d)
{
    return (int32_t)ly_tz_days_from_civil(y, m, d);
}

/* A customer whose birthday `date` was set on UTC day `set`. */
static void s_birthday(const char *date, int32_t set)
{
    strcpy(s_c->cu_profile.pf_birthday, date);
    s_c->cu_pf_hlc[1] = ((uint64_t)set * 86400000ULL) << 16;
}

Test(earn, the_birthday_bonus_is_due_on_the_day_or_within_the_window)
{
    s_program("[bonus birthday]\npoints = 200\nwindow_days = 7\nmin_set_days = 30\n");
    s_birthday("1990-06-15", s_day(2026, 1, 1));
    int32_t b = 0;
    cr_expect(!ly_rule_birthday_due(s_pd, s_c, s_day(2027, 6, 14), &b), "the day before");
    cr_expect(ly_rule_birthday_due(s_pd, s_c, s_day(2027, 6, 15), &b), "on the day");
    cr_expect_eq(b, s_day(2027, 6, 15));
    cr_expect(ly_rule_birthday_due(s_pd, s_c, s_day(2027, 6, 22), &b),
              "the last day of the window");
    cr_expect(!ly_rule_birthday_due(s_pd, s_c, s_day(2027, 6, 23), &b), "after the window");
    /* A window that runs into the new year is last year's birthday. */
    s_birthday("1990-12-29", s_day(2026, 1, 1));
    cr_expect(ly_rule_birthday_due(s_pd, s_c, s_day(2028, 1, 4), &b));
    cr_expect_eq(b, s_day(2027, 12, 29), "the key's year is the birthday's: 2027");
    /* 29 February falls on 28 February in other years. */
    s_birthday("2000-02-29", s_day(2026, 1, 1));
    cr_expect(ly_rule_birthday_due(s_pd, s_c, s_day(2027, 2, 28), &b));
    cr_expect(!ly_rule_birthday_due(s_pd, s_c, s_day(2028, 2, 28), &b), "2028 has a 29th");
    cr_expect(ly_rule_birthday_due(s_pd, s_c, s_day(2028, 2, 29), &b));
}

Test(earn, a_birthday_set_shortly_before_is_not_paid)
{
    s_program("[bonus birthday]\npoints = 200\nmin_set_days = 30\n");
    int32_t b;
    s_birthday("1990-06-15", s_day(2027, 6, 14));
    cr_expect(!ly_rule_birthday_due(s_pd, s_c, s_day(2027, 6, 15), &b), "set the day before");
    s_birthday("1990-06-15", s_day(2027, 5, 17));
    cr_expect(!ly_rule_birthday_due(s_pd, s_c, s_day(2027, 6, 15), &b), "29 days before");
    s_birthday("1990-06-15", s_day(2027, 5, 16));
    cr_expect(ly_rule_birthday_due(s_pd, s_c, s_day(2027, 6, 15), &b), "exactly 30 days before");
    s_program("");
    cr_expect(!ly_rule_birthday_due(s_pd, s_c, s_day(2027, 6, 15), &b), "no birthday bonus");
    s_program("[bonus birthday]\npoints = 200\n");
    s_c->cu_profile.pf_birthday[0] = '\0';
    cr_expect(!ly_rule_birthday_due(s_pd, s_c, s_day(2027, 6, 15), &b), "no birthday");
}

/* ---- a manual tier (loyalctl tier): in force through its last day ---- */

Test(earn, a_manual_tier_holds_through_its_last_day_then_the_model)
{
    s_program("");
    ly_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ev_type = LY_EV_TIER;
    ev.ev_origin = 2;
    ev.ev_hlc = 5ULL << 40;
    strcpy(ev.ev_category, "Gold");
    ev.ev_qual_day = s_day(2027, 1, 31);
    ly_rule_tier.ru_note(s_c, &ev);
    ly_origin o = {.or_program = &s_pg, .or_def = s_pd, .or_cust = s_c};
    o.or_day = s_day(2027, 1, 31);
    cr_expect_eq(ly_rule_held_tier(&o, s_c), 1, "Gold on its last day, without points");
    ly_event e2;
    ly_breakdown bd;
    cr_assert_eq(s_earn(10000, "", "b1", 2027, 1, 31, 600, &e2, &bd), LY_OK);
    cr_expect_eq(e2.ev_points, 200, "earns at Gold's x2");
    o.or_day = s_day(2027, 2, 1);
    cr_expect_eq(ly_rule_held_tier(&o, s_c), 0, "the day after: the points' tier again");
    /* Last writer wins, whatever the order: an older one arriving later changes nothing. */
    ly_event older = ev;
    older.ev_hlc = 4ULL << 40;
    strcpy(older.ev_category, "Silver");
    ly_rule_tier.ru_note(s_c, &older);
    cr_expect_str_eq(s_c->cu_ovr_tier, "Gold");
    /* A name the program in force does not have is no tier at all. */
    strcpy(s_c->cu_ovr_tier, "Diamond");
    o.or_day = s_day(2027, 1, 30);
    cr_expect_eq(ly_rule_override(&s_pg, s_c, o.or_day), -1);
    /* The state with a manual tier survives encoding, canonically. */
    strcpy(s_c->cu_ovr_tier, "Gold");
    static uint8_t buf[LY_CUST_ENC_MAX], buf2[LY_CUST_ENC_MAX];
    static ly_cust back;
    size_t n = ly_cust_encode(s_c, buf);
    cr_assert_eq(ly_cust_decode(buf, n, &back), LY_OK);
    cr_expect_str_eq(back.cu_ovr_tier, "Gold");
    cr_expect_eq(back.cu_ovr_until, s_day(2027, 1, 31));
    cr_expect_eq(ly_cust_encode(&back, buf2), n);
    cr_expect(memcmp(buf, buf2, n) == 0);
    /* A zero duplicate count written without a manual tier after it is refused. */
    s_c->cu_ovr_hlc = 0;
    n = ly_cust_encode(s_c, buf);
    memset(buf + n, 0, 4);
    cr_expect_eq(ly_cust_decode(buf, n + 4, &back), LY_EPROTO);
}
