/* earn -- points for a purchase. The origin computes the points from its
 * program and the customer's tier (ly_earn_points) and the event carries
 * them, so other nodes never re-run earn rules. ev_amount: the purchase in
 * minor units; ev_qual: what counts toward tiers, on day ev_qual_day: the
 * base points (or, with qualify_on = spend, the amount; 0 for a category that
 * earns nothing); ev_tier_from/to: the tier before and after, as the origin
 * saw it; ev_reason: the campaign that applied (its name), "" for none.
 * Campaigns: the best single one that applies to the line at the branch's
 * local date and time (program.h). */
#include "common/rules.h"

static int s_valid(const ly_event *ev)
{
    return ev->ev_amount > 0 && ev->ev_points >= 0 && ev->ev_qual >= 0;
}

/* The campaign that gives line `ln` the most points (ly_progdef_campaign_best);
 * *points is left alone when none adds any. */
static void s_campaign(const ly_origin *o, const ly_intent *in, int tier, int64_t *points)
{
    const ly_progdef *pd = o->or_def;
    if (!pd || pd->pd_ncampaigns == 0)
        return;
    ly_pd_line ln = {.ln_amount = in->in_amount,
                     .ln_category = in->in_category,
                     .ln_branch = o->or_branch ? o->or_branch : "",
                     .ln_tier = tier,
                     .ln_day = o->or_local_day,
                     .ln_minute = o->or_local_minute};
    int which;
    int64_t best = ly_progdef_campaign_best(pd, &ln, &which);
    if (which < 0 || best <= *points)
        return;
    if (o->or_out) {
        ly_strlcpy(o->or_out->bd_campaign, pd->pd_campaigns[which].cp_name,
                   sizeof o->or_out->bd_campaign);
        o->or_out->bd_campaign_points = best - *points;
    }
    *points = best;
}

static void s_make(const ly_origin *o, const ly_intent *in, ly_event *ev, ly_refusal *no)
{
    const ly_program *pg = o->or_program;
    int64_t qual;
    /* The tier status once: the tier before, and (below) the one after. */
    ly_tier_status ts = {0};
    int manual = ly_rule_override(pg, o->or_cust, o->or_day), tier;
    if (manual >= 0) {
        tier = manual;
    } else if (o->or_def) {
        ly_tier_status_at(o->or_def, o->or_cust, o->or_day, &ts);
        tier = ts.ts_tier;
    } else {
        tier = ly_rule_held_tier(o, o->or_cust);
    }
    int64_t points = ly_earn_points(pg, in->in_amount, tier, in->in_category, &qual);
    uint32_t cat = ly_category_mult(pg, in->in_category);
    if (points >= 0 && qual >= 0) {
        if (o->or_out) {
            o->or_out->bd_base = qual;
            o->or_out->bd_tier_mult = pg->pg_tiers[tier].ti_mult;
            o->or_out->bd_category_mult = cat;
            o->or_out->bd_plain = points;
        }
        if (cat == 0)
            qual = 0; /* a line that earns nothing (a gift card) does not qualify either */
        else if (o->or_def && o->or_def->pd_basis == LY_PD_ON_SPEND)
            qual = in->in_amount; /* tiers count spend in minor units */
        s_campaign(o, in, tier, &points);
    }
    if (points < 0 || qual < 0) {
        ly_refuse(no, LY_EINVAL, "purchase of %lld earns more points than a balance may hold",
                  (long long)in->in_amount);
        return;
    }
    /* The campaign that applied travels with the event: history and retries show it. */
    if (o->or_out && o->or_out->bd_campaign[0])
        ly_strlcpy(ev->ev_reason, o->or_out->bd_campaign, sizeof ev->ev_reason);
    ev->ev_amount = in->in_amount;
    ev->ev_points = points;
    ev->ev_qual = qual;
    ev->ev_qual_day = o->or_day;
    ev->ev_tier_from = (uint8_t)tier;
    if (manual < 0 && o->or_def) { /* more points today only raise today's period's status */
        int after = ly_tier_for(pg, ts.ts_qualifying + qual);
        ev->ev_tier_to = (uint8_t)(after > tier ? after : tier);
    } else {
        ev->ev_tier_to = (uint8_t)ly_rule_held_tier_after(o, o->or_cust, o->or_day, qual);
    }
    ly_strlcpy(ev->ev_category, in->in_category, sizeof ev->ev_category);
}

static void s_fold(ly_cust *c, const ly_event *ev, int sign)
{
    ly_cust_credit(c, ev, sign);
    c->cu_lifetime += sign * ev->ev_points;
    ly_cust_qual_add(c, ev->ev_qual_day, sign * ev->ev_qual);
}

const ly_rule ly_rule_earn = {
    .ru_type = LY_EV_EARN,
    .ru_name = "earn",
    .ru_flags = LY_RU_NEEDS_CUST | LY_RU_IX_TXN | LY_RU_ONCE_TXN | LY_RU_IX_DEBTS,
    .ru_valid = s_valid,
    .ru_make = s_make,
    .ru_fold = s_fold,
};
