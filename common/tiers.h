/* tiers.h -- the tier a customer holds on a day, under a program
 * definition's [tiers] section (program.h): rolling, calendar or anniversary
 * qualification, grace_days, and the to_qualified or one_down downgrade.
 *
 * Pure: a function of (program definition, customer state, day). No I/O, no
 * clock, no allocation; it reads only pd's tiers and settings and the
 * customer's first cu_nqual (at most LY_QUAL_BUCKETS_MAX) buckets, so two
 * nodes holding the same events give a customer the same tier.
 *
 * Units. The buckets (ledger.h cu_qual) hold whatever the earn path recorded
 * for qualify_on: base points or minor units of spend. This module only adds
 * buckets and compares the totals with the tiers' thresholds; "points" below
 * means that unit.
 *
 * ---- The rules ---------------------------------------------------------------
 *
 * D is the day asked about (UTC days since 1970-01-01). Only buckets on days
 * up to D count: a day in the past is evaluated as it was then.
 * Q(total) is the tier a total reaches: the highest tier whose threshold is
 * at most the total (the base tier for anything below tier 1's, negative
 * totals included): ly_tier_for's rule.
 *
 * Periods.
 *  - rolling N (window_days): the period of day e is the window of the N days
 *    e-N+1 .. e. For holding a tier, each day is a period of its own.
 *  - calendar: the UTC calendar year, 1 January .. 31 December.
 *  - anniversary: the year from the customer's enrollment day A =
 *    LY_HLC_DAY(cu_enrolled_hlc): from the anniversary of A in one year to the
 *    day before its anniversary in the next. An enrollment on 29 February has
 *    its anniversary on 28 February in other years (as the birthday bonus,
 *    program.h), so its periods are 365 days except the one that ends on a
 *    29 February's eve (2027-02-28 .. 2028-02-28: 366). Periods before the
 *    enrollment are laid out the same way. A customer not enrolled
 *    (cu_enrolls 0) counts from 1970-01-01, so its periods are calendar years.
 *
 * Statuses. Every period that has begun by D gives a status: the tier Q of
 * its total (the current period's up to D, so a tier counts from the day the
 * total reaches it). The held tier at D is the highest value any status has
 * at D; every status has the base tier's value once it ends.
 *  - to_qualified: a status keeps its tier
 *      rolling: from its day e through e + G (G = grace_days), i.e. the tier
 *        holds for G days after the points fall below it. G = 0 is exactly
 *        today's rule, ly_tier_for(ly_cust_qualifying(...));
 *      calendar, anniversary: through the end of the next period plus G.
 *    Then it is gone, so the customer drops to the tier of the newest status
 *    still live: the last completed period's (or the current one's if
 *    higher).
 *  - one_down: as to_qualified, then the status steps down one tier at a
 *    time instead of ending:
 *      calendar, anniversary: tier - j through the end of the (j+1)th period
 *        after its own, plus G (Platinum reached in 2025: Platinum through
 *        2026-12-31 + G, Gold through 2027-12-31 + G, ...);
 *      rolling: each step lasts G days: tier through e + G, tier - 1 on
 *        e+G+1 .. e+2G, tier - 2 on e+2G+1 .. e+3G, ... (a one-day step
 *        after the grace would make one_down mean nothing). With G = 0,
 *        one_down is to_qualified.
 *    The held tier is never below the current period's tier ("never below
 *    the qualified one"): that status counts too.
 *
 * How far back. The buckets reach back LY_QUAL_KEEP_DAYS days from the
 * customer's newest qualifying day (ledger.h); older ones are dropped by the
 * fold. So the rules read only the LY_TIER_HORIZON_DAYS (= LY_QUAL_KEEP_DAYS,
 * 800) days D-799 .. D, and a status lasts at most until the 800th day counted
 * from the first day of its period: a status of a period starting on day s
 * has its value only through s + 799. At a day D on or after cu_qual_maxday
 * (today, at a node holding the customer's events) every bucket of D-799 .. D
 * is kept, so the tier then depends only on the events, never on which old
 * buckets a later event made the fold drop, and more points never lower it.
 * For an earlier D, buckets on days up to cu_qual_maxday - 800 are gone and
 * count as zero.
 * What the bound cuts (each case tested):
 *  - rolling, to_qualified: exact while N + G <= 800 (always for N <= 434);
 *    otherwise the grace of a window ends on its first day + 799 (N = 730:
 *    at most 70 days of grace); one_down: exact while N + s * G <= 800 for
 *    a fall of s tiers;
 *  - calendar, anniversary, to_qualified: holding through the next period is
 *    always exact (two periods are at most 731 days); grace is exact for
 *    G <= 69 and otherwise ends on the first day of the status's period +
 *    799 (a tier reached in 2025 holds at most through 2027-03-11);
 *  - one_down chains are bounded the same way: with yearly periods a step
 *    below a tier reached in period k ends at the latest on k's first day +
 *    799 (Platinum in 2025, nothing after: Platinum through 2026-12-31, Gold
 *    2027-01-01 .. 2027-03-11, then the qualified tier); rolling steps end
 *    on the window's first day + 799.
 * LY_TIER_HORIZON_DAYS follows LY_QUAL_KEEP_DAYS, so keeping more buckets
 * lifts the bounds without a change here.
 *
 * ---- The status ----------------------------------------------------------- */
#ifndef LY_TIERS_H
#define LY_TIERS_H

#include <stdint.h>

#include "common/ledger.h"
#include "common/program.h"

#define LY_TIER_HORIZON_DAYS LY_QUAL_KEEP_DAYS /* days D-799 .. D are read */

typedef struct ly_tier_status {
    int ts_tier;           /* tier index held at the day (0 = base) */
    int ts_qualified;      /* tier the current period's total reaches */
    int64_t ts_qualifying; /* the current period's total: its buckets from its first day
                              through `day`; clamped to int64 */
    int32_t ts_period_start, ts_period_end; /* the current period, days since 1970-01-01,
                                               inclusive; rolling: day-N+1 .. day */
    int32_t ts_held_until; /* last day (inclusive) of the unbroken run from `day` on which the
                              held tier (or a higher one) holds if no qualifying points are
                              added or taken back after `day`: new points can only extend
                              it. 0 at the base tier */
    int64_t ts_to_next;    /* points still needed in the current period to reach the tier
                              above the held one (which then holds at once); 0 at the top */
    int64_t ts_to_keep;    /* points still needed in the current period to keep the held
                              tier: calendar, anniversary: to qualify for it this period,
                              so that it holds through the end of the next one; 0 if it
                              already holds that far (qualified; within the 800-day horizon
                              no grace or one_down step of an older period reaches that
                              far). rolling: for today's window to reach it again;
                              0 if it does (the grace then starts afresh). 0 at the base
                              tier */
} ly_tier_status;

/* Fills `out` with customer `c`'s tier status at `day` under `pd`.
 * `pd` is valid (ly_progdef_validate); out-of-range fields are clamped, never
 * trusted for memory (tiers 1..LY_PD_TIERS_MAX, window 1..LY_PD_WINDOW_MAX,
 * grace 0..LY_PD_GRACE_MAX, an unknown qualification is rolling, an unknown
 * downgrade to_qualified). `day` is clamped to 0..LY_PD_DAY_MAX. A negative
 * cu_nqual counts as 0 and one above LY_QUAL_BUCKETS_MAX as that. The
 * buckets need not be sorted. Cost: O(LY_TIER_HORIZON_DAYS + cu_nqual) time,
 * about 14 KB of stack. */
void ly_tier_status_at(const ly_progdef *pd, const ly_cust *c, int32_t day, ly_tier_status *out);

/* The held tier alone: ly_tier_status_at(...).ts_tier. */
int ly_tier_held_at(const ly_progdef *pd, const ly_cust *c, int32_t day);

#endif
