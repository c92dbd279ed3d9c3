/* adjust -- a goodwill adjustment or correction: ev_amount = ev_points,
 * signed, never 0, with a reason (required) and an operator. A positive one
 * counts toward lifetime points but not toward tiers; a negative one is taken
 * like a redemption (never below zero, only from rights held here). */
#include "common/rules.h"

static int s_valid(const ly_event *ev)
{
    return ev->ev_points != 0 && ev->ev_amount == ev->ev_points && ev->ev_qual == 0 &&
           ev->ev_reason[0];
}

static void s_make(const ly_origin *o, const ly_intent *in, ly_event *ev, ly_refusal *no)
{
    if (ly_rule_check_take(o, in, -in->in_amount, no))
        return;
    ev->ev_amount = ev->ev_points = in->in_amount;
    ly_strlcpy(ev->ev_reason, in->in_reason, sizeof ev->ev_reason);
    ly_strlcpy(ev->ev_operator, in->in_operator, sizeof ev->ev_operator);
}

static void s_fold(ly_cust *c, const ly_event *ev, int sign)
{
    ly_cust_credit(c, ev, sign);
    if (ev->ev_points > 0)
        c->cu_lifetime += sign * ev->ev_points;
}

static int64_t s_spends(const ly_event *ev)
{
    return ev->ev_points < 0 ? -ev->ev_points : 0;
}

const ly_rule ly_rule_adjust = {
    .ru_type = LY_EV_ADJUST,
    .ru_name = "adjust",
    .ru_flags = LY_RU_NEEDS_CUST | LY_RU_IX_TXN | LY_RU_ONCE_TXN | LY_RU_IX_DEBTS,
    .ru_valid = s_valid,
    .ru_make = s_make,
    .ru_fold = s_fold,
    .ru_spends = s_spends,
};
