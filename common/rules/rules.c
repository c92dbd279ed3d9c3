/* rules.c -- the table of event types and what every type's origin checks
 * alike (see rules.h). */
#include "common/rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hlc.h"
#include "common/tz.h"

static const ly_rule *const s_rules[] = {
    [LY_EV_ENROLL] = &ly_rule_enroll,     [LY_EV_EARN] = &ly_rule_earn,
    [LY_EV_REDEEM] = &ly_rule_redeem,     [LY_EV_REVERSE] = &ly_rule_reverse,
    [LY_EV_ADJUST] = &ly_rule_adjust,     [LY_EV_PROFILE] = &ly_rule_profile,
    [LY_EV_TRANSFER] = &ly_rule_transfer, [LY_EV_PROGRAM] = &ly_rule_program,
    [LY_EV_BONUS] = &ly_rule_bonus,       [LY_EV_TIER] = &ly_rule_tier,
};

const ly_rule *ly_rule_for(int type)
{
    if (type <= 0 || (size_t)type >= sizeof s_rules / sizeof s_rules[0])
        return NULL;
    return s_rules[type];
}

const char *ly_evtype_name(int type)
{
    const ly_rule *ru = ly_rule_for(type);
    return ru ? ru->ru_name : "?";
}

void ly_refuse(ly_refusal *no, ly_err err, const char *fmt, ...)
{
    va_list ap;
    no->rf_err = err;
    va_start(ap, fmt);
    vsnprintf(no->rf_msg, sizeof no->rf_msg, fmt, ap);
    va_end(ap);
}

void ly_rule_make(const ly_rule *ru, const ly_origin *o, const ly_intent *in, ly_event *ev,
                  ly_refusal *no)
{
    no->rf_err = LY_OK;
    no->rf_available = 0;
    no->rf_rights = 0;
    no->rf_msg[0] = '\0';
    if ((ru->ru_flags & LY_RU_NEEDS_ORIGINAL) && !o->or_orig) {
        ly_refuse(no, LY_EUNKNOWN_TXN, "no transaction '%s'", in->in_ref_txn);
        return;
    }
    if ((ru->ru_flags & LY_RU_NEEDS_CUST) && (!o->or_cust || o->or_cust->cu_enrolls == 0)) {
        ly_refuse(no, LY_EUNKNOWN_CUST, "customer '%s' is not enrolled", in->in_customer);
        return;
    }
    ev->ev_type = ru->ru_type;
    ru->ru_make(o, in, ev, no);
}

int64_t ly_rule_spends(const ly_event *ev)
{
    const ly_rule *ru = ly_rule_for(ev->ev_type);
    return ru && ru->ru_spends ? ru->ru_spends(ev) : 0;
}

size_t ly_once_key(const ly_event *ev, char *key)
{
    const ly_rule *ru = ly_rule_for(ev->ev_type);
    int n = 0;
    key[0] = '\0';
    if (ru && (ru->ru_flags & LY_RU_ONCE_TXN) && ev->ev_txn[0])
        n = snprintf(key, LY_ONCE_KEY_MAX + 1, "%s", ev->ev_txn);
    else if (ru && (ru->ru_flags & LY_RU_ONCE_JOIN))
        n = snprintf(key, LY_ONCE_KEY_MAX + 1, LY_ONCE_JOIN "%s", ev->ev_customer);
    else if (ru && (ru->ru_flags & LY_RU_ONCE_BIRTHDAY)) {
        char day[16];
        ly_pd_day_str(ev->ev_qual_day, day, sizeof day);
        n = snprintf(key, LY_ONCE_KEY_MAX + 1, LY_ONCE_BIRTHDAY "%s %.4s", ev->ev_customer, day);
    }
    return n > 0 ? (size_t)n : 0;
}

int ly_once_before(uint64_t hlc_a, uint16_t origin_a, uint32_t inc_a, uint64_t seq_a,
                   uint64_t hlc_b, uint16_t origin_b, uint32_t inc_b, uint64_t seq_b)
{
    if (hlc_a != hlc_b)
        return hlc_a < hlc_b;
    if (origin_a != origin_b)
        return origin_a < origin_b;
    if (inc_a != inc_b)
        return inc_a < inc_b;
    return seq_a < seq_b;
}

int ly_once_reserved(const char *txn)
{
    /* Only join: needs refusing: the birthday key holds blanks, which no id may. */
    return strncmp(txn, LY_ONCE_JOIN, sizeof LY_ONCE_JOIN - 1) == 0;
}

int ly_rule_check_take(const ly_origin *o, const ly_intent *in, int64_t take, ly_refusal *no)
{
    const ly_cust *c = o->or_cust;
    int64_t balance = ly_cust_balance(c), here = ly_cust_redeemable(c, o->or_self);
    if (take <= 0)
        return 0;
    if (take > balance) {
        ly_refuse(no, LY_EINSUFFICIENT, "customer '%s' has %lld points; %lld requested",
                  in->in_customer, (long long)balance, (long long)take);
        no->rf_available = balance;
    } else if (take > here) {
        /* The balance covers it but the rights are held at other branches. */
        ly_refuse(no, LY_EINSUFFICIENT_LOCAL,
                  "%lld of the %lld points of customer '%s' are redeemable at this branch "
                  "now; the rest is held at branches that did not answer in time",
                  (long long)here, (long long)balance, in->in_customer);
        no->rf_available = here;
    } else {
        return 0;
    }
    no->rf_rights = 1;
    return 1;
}

int ly_rule_override(const ly_program *pg, const ly_cust *c, int32_t day)
{
    if (!c || c->cu_ovr_hlc == 0 || day > c->cu_ovr_until)
        return -1;
    for (int i = 0; i < pg->pg_ntiers; i++)
        if (strcmp(pg->pg_tiers[i].ti_name, c->cu_ovr_tier) == 0)
            return i;
    return -1;
}

int ly_rule_held_tier(const ly_origin *o, const ly_cust *c)
{
    int m = ly_rule_override(o->or_program, c, o->or_day);
    if (m >= 0)
        return m;
    if (o->or_def)
        return ly_tier_held_at(o->or_def, c, o->or_day);
    return ly_tier_at(o->or_program, c, o->or_day);
}

int ly_rule_held_tier_after(const ly_origin *o, const ly_cust *c, int32_t qday, int64_t dq)
{
    const ly_program *pg = o->or_program;
    int m = ly_rule_override(pg, c, o->or_day);
    if (m >= 0)
        return m;     /* a manual tier holds whatever the points do */
    if (!o->or_def) { /* the rolling window: what is counted on qday if it is in it */
        int64_t q = ly_cust_qualifying(c, pg, o->or_day);
        if (qday > o->or_day - pg->pg_window_days && qday <= o->or_day)
            q += dq;
        return ly_tier_for(pg, q);
    }
    ly_tier_status ts;
    ly_tier_status_at(o->or_def, c, o->or_day, &ts);
    if (dq >= 0 && qday == o->or_day) {
        /* More points today only raise the current period's status: the
         * statuses of earlier periods stay, so the best of the two holds. */
        int t = ly_tier_for(pg, ts.ts_qualifying + dq);
        return t > ts.ts_tier ? t : ts.ts_tier;
    }
    ly_cust *copy = malloc(sizeof *copy); /* a refund: fold it into a copy and ask again */
    if (!copy)
        return ts.ts_tier;
    *copy = *c;
    ly_cust_qual_add(copy, qday, dq);
    int t = ly_tier_held_at(o->or_def, copy, o->or_day);
    free(copy);
    return t;
}

/* This year's birthday of a profile date "YYYY-MM-DD" in year `y`, as days
 * since 1970-01-01 (29 February falls on 28 February in other years). */
static int32_t s_birthday_in(const char *date, int64_t y)
{
    int m = (date[5] - '0') * 10 + (date[6] - '0'), d = (date[8] - '0') * 10 + (date[9] - '0');
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m == 2 && d == 29 && !leap)
        d = 28;
    return (int32_t)ly_tz_days_from_civil(y, m, d);
}

int ly_rule_birthday_due(const ly_progdef *pd, const ly_cust *c, int32_t day, int32_t *bday)
{
    const char *bd = c->cu_profile.pf_birthday;
    if (pd->pd_bday_points <= 0 || strlen(bd) != 10 || !ly_date_valid(bd))
        return 0;
    int64_t y;
    int m, d;
    ly_tz_civil_from_days(day, &y, &m, &d);
    int32_t b = s_birthday_in(bd, y);
    if (b > day) /* a window that began last year (a birthday late in December) */
        b = s_birthday_in(bd, y - 1);
    if (day < b || day > b + pd->pd_bday_window_days)
        return 0;
    /* Set fewer than min_set_days before the birthday: not paid (a guard
     * against setting tomorrow as one's birthday). */
    int32_t set_day = LY_HLC_DAY(c->cu_pf_hlc[1]); /* the LY_PF_BIRTHDAY field's stamp */
    if (set_day > b - pd->pd_bday_min_set_days)
        return 0;
    *bday = b;
    return 1;
}
