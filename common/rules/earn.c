/* earn -- points for a purchase. The origin computes the points from its
 * program and the customer's tier (ly_earn_points) and the event carries
 * them, so other nodes never re-run earn rules. ev_amount: the purchase in
 * minor units; ev_qual: the base points that count toward tiers, on day
 * ev_qual_day; ev_tier_from/to: the tier before and after, as the origin saw it. */
#include "common/rules.h"

static int s_valid(const ly_event *ev)
{
    return ev->ev_amount > 0 && ev->ev_points >= 0 && ev->ev_qual >= 0;
}

static void s_make(const ly_origin *o, const ly_intent *in, ly_event *ev, ly_refusal *no)
{
    const ly_program *pg = o->or_program;
    int64_t q0 = ly_cust_qualifying(o->or_cust, pg, o->or_day), qual;
    int tier = ly_tier_for(pg, q0);
    int64_t points = ly_earn_points(pg, in->in_amount, tier, in->in_category, &qual);
    if (points < 0 || qual < 0) {
        ly_refuse(no, LY_EINVAL, "purchase of %lld earns more points than a balance may hold",
                  (long long)in->in_amount);
        return;
    }
    ev->ev_amount = in->in_amount;
    ev->ev_points = points;
    ev->ev_qual = qual;
    ev->ev_qual_day = o->or_day;
    ev->ev_tier_from = (uint8_t)tier;
    ev->ev_tier_to = (uint8_t)ly_tier_for(pg, q0 + qual);
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
