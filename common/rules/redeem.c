/* redeem -- the customer spends points. ev_amount: the points (> 0);
 * ev_points = -ev_amount. The origin spends only rights it holds (DESIGN.md
 * section 5): a redemption beyond them is refused (insufficient_local_rights)
 * and the server may wait for a transfer; the store's causal gate holds back a
 * redemption whose origin's rights are not all here yet. */
#include "common/rules.h"

static int s_valid(const ly_event *ev)
{
    return ev->ev_amount > 0 && ev->ev_points == -ev->ev_amount && ev->ev_qual == 0;
}

static void s_make(const ly_origin *o, const ly_intent *in, ly_event *ev, ly_refusal *no)
{
    if (ly_rule_check_take(o, in, in->in_amount, no))
        return;
    ev->ev_amount = in->in_amount;
    ev->ev_points = -in->in_amount;
}

static void s_fold(ly_cust *c, const ly_event *ev, int sign)
{
    ly_cust_credit(c, ev, sign);
    c->cu_redeemed -= sign * ev->ev_points;
}

static int64_t s_spends(const ly_event *ev)
{
    return -ev->ev_points;
}

const ly_rule ly_rule_redeem = {
    .ru_type = LY_EV_REDEEM,
    .ru_name = "redeem",
    .ru_flags = LY_RU_NEEDS_CUST | LY_RU_IX_TXN | LY_RU_ONCE_TXN | LY_RU_IX_DEBTS,
    .ru_valid = s_valid,
    .ru_make = s_make,
    .ru_fold = s_fold,
    .ru_spends = s_spends,
};
