/* tiers.c -- the held tier under a program definition's [tiers] rules (tiers.h).
 *
 * The customer's buckets in the horizon D-799 .. D are summed once into
 * prefix sums; every period or window total is then a difference of two.
 * Days are int64 inside, so no arithmetic near the ends of int32 can wrap;
 * totals are __int128, so no bucket values can overflow. */
#include "common/tiers.h"

#include <string.h>

#include "common/hlc.h"
#include "common/tz.h"

#define S_H LY_TIER_HORIZON_DAYS

typedef struct s_ctx {
    int ntiers;
    int64_t thr[LY_PD_TIERS_MAX];
    int qual;     /* ly_pd_qual */
    int one_down; /* 1 for one_down */
    int64_t n;    /* rolling window */
    int64_t g;    /* grace days */
    int64_t d;    /* the day */
    int64_t lo;   /* d - S_H + 1: the first day read */
    int64_t anchor_m, anchor_d;
    __int128 pre[S_H + 1]; /* pre[i]: buckets on days lo .. lo + i - 1 */
} s_ctx;

/* ---- civil dates (the arithmetic is tz.h's) ------------------------------ */

static int s_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* The anniversary in year y; 29 February falls on 28 February in other years. */
static int64_t s_anniversary(const s_ctx *x, int64_t y)
{
    int64_t dd = x->anchor_d;
    if (x->anchor_m == 2 && dd == 29 && !s_leap(y))
        dd = 28;
    return ly_tz_days_from_civil(y, (int)x->anchor_m, (int)dd);
}

/* The calendar or anniversary period holding `day`: [*s, *e]. */
static void s_period(const s_ctx *x, int64_t day, int64_t *s, int64_t *e)
{
    int64_t y;
    int m, d;
    ly_tz_civil_from_days(day, &y, &m, &d);
    if (x->qual == LY_PD_CALENDAR) {
        *s = ly_tz_days_from_civil(y, 1, 1);
        *e = ly_tz_days_from_civil(y, 12, 31);
        return;
    }
    int64_t a = s_anniversary(x, y);
    if (day >= a) {
        *s = a;
        *e = s_anniversary(x, y + 1) - 1;
    } else {
        *s = s_anniversary(x, y - 1);
        *e = a - 1;
    }
}

/* ---- totals ---------------------------------------------------------------- */

/* Buckets on days a .. b, read only within lo .. d. */
static __int128 s_total(const s_ctx *x, int64_t a, int64_t b)
{
    if (a < x->lo)
        a = x->lo;
    if (b > x->d)
        b = x->d;
    if (a > b)
        return 0;
    return x->pre[b - x->lo + 1] - x->pre[a - x->lo];
}

static int s_tier_for(const s_ctx *x, __int128 total)
{
    int t = 0;
    for (int i = 1; i < x->ntiers; i++)
        if (total >= x->thr[i])
            t = i;
    return t;
}

static int64_t s_clamp64(__int128 v)
{
    if (v > INT64_MAX)
        return INT64_MAX;
    if (v < INT64_MIN)
        return INT64_MIN;
    return (int64_t)v;
}

/* The tier of the rolling window ending on e (all of it lies in the horizon
 * for every e the callers pass). */
static int s_roll_q(const s_ctx *x, int64_t e)
{
    return s_tier_for(x, s_total(x, e - x->n + 1, e));
}

/* ---- rolling ------------------------------------------------------------- */

/* The value at age days (>= 0) of a status of tier q. */
static int s_roll_value(const s_ctx *x, int q, int64_t age)
{
    if (age <= x->g)
        return q;
    if (!x->one_down || x->g == 0)
        return 0;
    int64_t j = (age - 1) / x->g;
    return j < q ? q - (int)j : 0;
}

/* The last age at which a status of tier q still has at least tier t (q >= t):
 * its grace, for one_down (q - t + 1) steps of G days; never past the horizon. */
static int64_t s_roll_reach(const s_ctx *x, int q, int t)
{
    int64_t len = x->one_down ? (int64_t)(q - t + 1) * x->g : x->g;
    return len < S_H - x->n ? len : S_H - x->n;
}

static void s_rolling(const s_ctx *x, ly_tier_status *out)
{
    int64_t d = x->d, first = d - S_H + x->n; /* the oldest window wholly in the horizon */
    __int128 total = s_total(x, d - x->n + 1, d);
    out->ts_qualifying = s_clamp64(total);
    out->ts_qualified = s_tier_for(x, total);
    out->ts_period_start = (int32_t)(d - x->n + 1);
    out->ts_period_end = (int32_t)d;

    int held = out->ts_qualified;
    for (int64_t e = first; e < d; e++) {
        int v = s_roll_value(x, s_roll_q(x, e), d - e);
        if (v > held)
            held = v;
    }
    out->ts_tier = held;
    if (held == 0)
        return;

    /* Each window e of tier >= held covers the days e .. e + reach. The run
     * from d lasts while some window at or before the day covers it; windows
     * after d still hold the points of d's window that have not yet left. */
    int64_t cover = d - 1;
    for (int64_t e = first; e <= d + S_H; e++) {
        int q = s_roll_q(x, e);
        if (q >= held && e + s_roll_reach(x, q, held) > cover)
            cover = e + s_roll_reach(x, q, held);
        if (e >= d && cover < e)
            break; /* day e is the first one not covered */
    }
    out->ts_held_until = (int32_t)cover;
    if (out->ts_qualified < held)
        out->ts_to_keep = s_clamp64((__int128)x->thr[held] - total);
}

/* Rolling without grace (the default rules, and the hot path of every earn):
 * the held tier is today's window's, so the same answer as s_rolling comes
 * from the buckets alone, without the horizon's prefix sums. The tier holds
 * until the first day its window, losing its oldest buckets one by one,
 * falls below the threshold (tiers_test checks it against s_rolling). */
static void s_rolling_plain(const s_ctx *x, const ly_qual_bucket *q, int nq, ly_tier_status *out)
{
    int64_t d = x->d, from = d - x->n + 1;
    __int128 total = 0;
    int first = nq;
    for (int i = 0; i < nq; i++)
        if (q[i].qb_day >= from && q[i].qb_day <= d) {
            total += q[i].qb_points;
            if (first == nq)
                first = i;
        }
    out->ts_qualifying = s_clamp64(total);
    out->ts_tier = out->ts_qualified = s_tier_for(x, total);
    out->ts_period_start = (int32_t)from;
    out->ts_period_end = (int32_t)d;
    if (out->ts_tier == 0)
        return;
    /* Buckets are sorted by day: they leave the window oldest first. */
    __int128 thr = x->thr[out->ts_tier], left = total;
    int64_t until = d + S_H; /* the general rule's last day looked at */
    for (int i = first; i < nq && q[i].qb_day <= d; i++) {
        left -= q[i].qb_points;
        if (left < thr) {
            until = q[i].qb_day + x->n - 1;
            break;
        }
    }
    out->ts_held_until = (int32_t)(until > d ? until : d);
}

/* ---- calendar and anniversary -------------------------------------------- */

/* The end of the j-th period after the one ending on e (j >= 1). */
static int64_t s_end_after(const s_ctx *x, int64_t e, int j)
{
    int64_t s;
    for (int i = 0; i < j; i++)
        s_period(x, e + 1, &s, &e);
    return e;
}

/* The last day a status of tier q from the period [s, e] has at least tier t. */
static int64_t s_per_reach(const s_ctx *x, int64_t s, int64_t e, int q, int t)
{
    int64_t last = s_end_after(x, e, x->one_down ? q - t + 1 : 1) + x->g;
    return last < s + S_H - 1 ? last : s + S_H - 1;
}

static void s_periodic(const s_ctx *x, ly_tier_status *out)
{
    int64_t d = x->d, ps, pe;
    s_period(x, d, &ps, &pe);
    __int128 total = s_total(x, ps, d);
    out->ts_qualifying = s_clamp64(total);
    out->ts_qualified = s_tier_for(x, total);
    out->ts_period_start = (int32_t)ps;
    out->ts_period_end = (int32_t)pe;

    /* The statuses: the current period and each completed one wholly in the
     * horizon (each is at least 365 days, so at most three). */
    enum { S_MAXP = S_H / 365 + 2 };
    int64_t st[S_MAXP], en[S_MAXP];
    int q[S_MAXP], np = 0;
    int64_t s = ps, e = pe;
    while (np < S_MAXP && s >= x->lo) {
        st[np] = s;
        en[np] = e;
        q[np] = s_tier_for(x, s_total(x, s, e));
        np++;
        s_period(x, s - 1, &s, &e);
    }

    int held = out->ts_qualified;
    for (int k = 1; k < np; k++) {
        /* The tier minus the steps down already past, or 0 past the horizon. */
        int v = 0;
        for (int t = q[k]; t > v; t--)
            if (s_per_reach(x, st[k], en[k], q[k], t) >= d)
                v = t;
        if (v > held)
            held = v;
    }
    out->ts_tier = held;
    if (held == 0)
        return;

    int64_t until = d;
    for (int k = 0; k < np; k++)
        if (q[k] >= held && s_per_reach(x, st[k], en[k], q[k], held) > until)
            until = s_per_reach(x, st[k], en[k], q[k], held);
    out->ts_held_until = (int32_t)until;
    if (until < s_end_after(x, pe, 1))
        out->ts_to_keep = s_clamp64((__int128)x->thr[held] - total);
}

/* ---- the entry points ------------------------------------------------------ */

void ly_tier_status_at(const ly_progdef *pd, const ly_cust *c, int32_t day, ly_tier_status *out)
{
    s_ctx x;
    memset(out, 0, sizeof *out);

    x.ntiers = pd->pd_ntiers < 1                 ? 1
               : pd->pd_ntiers > LY_PD_TIERS_MAX ? LY_PD_TIERS_MAX
                                                 : pd->pd_ntiers;
    for (int i = 0; i < x.ntiers; i++)
        x.thr[i] = pd->pd_tiers[i].ti_threshold;
    x.qual = pd->pd_qual == LY_PD_CALENDAR || pd->pd_qual == LY_PD_ANNIVERSARY ? pd->pd_qual
                                                                               : LY_PD_ROLLING;
    x.one_down = pd->pd_downgrade == LY_PD_ONE_DOWN;
    x.n = pd->pd_window_days < 1                  ? 1
          : pd->pd_window_days > LY_PD_WINDOW_MAX ? LY_PD_WINDOW_MAX
                                                  : pd->pd_window_days;
    x.g = pd->pd_grace_days < 0                 ? 0
          : pd->pd_grace_days > LY_PD_GRACE_MAX ? LY_PD_GRACE_MAX
                                                : pd->pd_grace_days;
    x.d = day < 0 ? 0 : day > LY_PD_DAY_MAX ? LY_PD_DAY_MAX : day;
    x.lo = x.d - S_H + 1;

    int nq = c->cu_nqual < 0                     ? 0
             : c->cu_nqual > LY_QUAL_BUCKETS_MAX ? LY_QUAL_BUCKETS_MAX
                                                 : c->cu_nqual;
    if (x.qual == LY_PD_ROLLING && x.g == 0) {
        s_rolling_plain(&x, c->cu_qual, nq, out);
        if (out->ts_tier + 1 < x.ntiers)
            out->ts_to_next = s_clamp64((__int128)x.thr[out->ts_tier + 1] - out->ts_qualifying);
        return;
    }

    int64_t ay;
    int am, ad;
    ly_tz_civil_from_days(c->cu_enrolls ? LY_HLC_DAY(c->cu_enrolled_hlc) : 0, &ay, &am, &ad);
    x.anchor_m = am;
    x.anchor_d = ad;

    /* Daily totals of the horizon, then their prefix sums. */
    memset(x.pre, 0, sizeof x.pre);
    for (int i = 0; i < nq; i++) {
        int64_t b = c->cu_qual[i].qb_day;
        if (b >= x.lo && b <= x.d)
            x.pre[b - x.lo + 1] += c->cu_qual[i].qb_points;
    }
    for (int i = 1; i <= S_H; i++)
        x.pre[i] += x.pre[i - 1];

    if (x.qual == LY_PD_ROLLING)
        s_rolling(&x, out);
    else
        s_periodic(&x, out);

    if (out->ts_tier + 1 < x.ntiers)
        out->ts_to_next = s_clamp64((__int128)x.thr[out->ts_tier + 1] - out->ts_qualifying);
}

int ly_tier_held_at(const ly_progdef *pd, const ly_cust *c, int32_t day)
{
    ly_tier_status ts;
    ly_tier_status_at(pd, c, day, &ts);
    return ts.ts_tier;
}
