/* transfer -- rights move: the origin gives ev_points (= ev_amount > 0) of
 * its rights for the customer to node ev_to; the balance does not change.
 * Only a node makes one (answering a peer's request for rights), never a
 * client, and it gives at most what it holds: a transfer is an event of the
 * giver, so rights in transit can be late but never spent twice. */
#include "common/rules.h"

static int s_valid(const ly_event *ev)
{
    return ev->ev_points > 0 && ev->ev_amount == ev->ev_points && ev->ev_qual == 0 &&
           ev->ev_to != 0 && ev->ev_to != ev->ev_origin;
}

/* in_amount: the points wanted; gives min(wanted, this node's rights). A
 * refusal (nothing to give) is LY_ENOTFOUND: nobody is answered with it. */
static void s_make(const ly_origin *o, const ly_intent *in, ly_event *ev, ly_refusal *no)
{
    int64_t give = o->or_cust ? ly_cust_rights(o->or_cust, o->or_self) : 0;
    if (give > in->in_amount)
        give = in->in_amount;
    if (give <= 0 || in->in_to == o->or_self) {
        ly_refuse(no, LY_ENOTFOUND, "no rights to give");
        return;
    }
    ev->ev_to = in->in_to;
    ev->ev_amount = ev->ev_points = give;
}

static void s_fold(ly_cust *c, const ly_event *ev, int sign)
{
    ly_cust_rights_add(c, ev->ev_origin, -sign * ev->ev_points);
    ly_cust_rights_add(c, ev->ev_to, sign * ev->ev_points);
}

static int64_t s_spends(const ly_event *ev)
{
    return ev->ev_points;
}

const ly_rule ly_rule_transfer = {
    .ru_type = LY_EV_TRANSFER,
    .ru_name = "transfer",
    .ru_flags = LY_RU_HAS_TO,
    .ru_valid = s_valid,
    .ru_make = s_make,
    .ru_fold = s_fold,
    .ru_spends = s_spends,
};
