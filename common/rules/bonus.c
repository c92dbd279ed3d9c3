/* bonus -- points the program gives by itself: the birthday bonus
 * (program.h [bonus birthday]). ev_points = ev_amount > 0; ev_qual_day: the
 * birthday it is for (its date that year); ev_reason: "birthday". Its once
 * key is "birthday <customer> <year>" (LY_RU_ONCE_BIRTHDAY): however many
 * branches pay it while cut off from each other, it counts once chain-wide,
 * the smallest in the once order. A bonus does not qualify for tiers. */
#include "common/rules.h"

static int s_valid(const ly_event *ev)
{
    return ev->ev_points > 0 && ev->ev_amount == ev->ev_points && ev->ev_qual == 0 &&
           ev->ev_qual_day >= LY_PD_DAY_MIN && ev->ev_qual_day <= LY_PD_DAY_MAX &&
           ev->ev_txn[0] == '\0' && ev->ev_fields == 0;
}

/* in_amount: the points; in_day: the birthday (the service decided it is due). */
static void s_make(const ly_origin *o, const ly_intent *in, ly_event *ev, ly_refusal *no)
{
    (void)o;
    if (in->in_amount <= 0 || in->in_day < LY_PD_DAY_MIN || in->in_day > LY_PD_DAY_MAX) {
        ly_refuse(no, LY_EINVAL, "no bonus to give");
        return;
    }
    ev->ev_points = ev->ev_amount = in->in_amount;
    ev->ev_qual_day = in->in_day;
    ly_strlcpy(ev->ev_reason, "birthday", sizeof ev->ev_reason);
}

static void s_fold(ly_cust *c, const ly_event *ev, int sign)
{
    ly_cust_credit(c, ev, sign);
    c->cu_lifetime += sign * ev->ev_points;
}

const ly_rule ly_rule_bonus = {
    .ru_type = LY_EV_BONUS,
    .ru_name = "bonus",
    .ru_flags = LY_RU_NEEDS_CUST | LY_RU_ONCE_BIRTHDAY | LY_RU_IX_DEBTS,
    .ru_valid = s_valid,
    .ru_make = s_make,
    .ru_fold = s_fold,
};
