/* enroll -- a customer joins; ev_points is the join bonus, credited to the
 * enrolling branch's rights. A customer may hold several enroll events (two
 * branches that enrolled them while cut off): the earliest counts as the
 * enrollment time, and each adds its bonus (see README "Not yet"). */
#include "common/rules.h"

static int s_valid(const ly_event *ev)
{
    return ev->ev_points >= 0 && ev->ev_qual == 0;
}

static void s_make(const ly_origin *o, const ly_intent *in, ly_event *ev, ly_refusal *no)
{
    if (o->or_cust && o->or_cust->cu_enrolls > 0) {
        ly_refuse(no, LY_EEXIST, "customer '%s' is already enrolled", in->in_customer);
        return;
    }
    ev->ev_points = o->or_program->pg_join_bonus;
    ev->ev_fields = in->in_fields & LY_PF_ALL;
    ev->ev_profile = *in->in_profile;
}

static void s_fold(ly_cust *c, const ly_event *ev)
{
    ly_cust_credit(c, ev);
    c->cu_enrolls++;
    if (c->cu_enrolled_hlc == 0 || ev->ev_hlc < c->cu_enrolled_hlc)
        c->cu_enrolled_hlc = ev->ev_hlc;
    c->cu_lifetime += ev->ev_points;
    ly_cust_profile_apply(c, ev);
}

const ly_rule ly_rule_enroll = {
    .ru_type = LY_EV_ENROLL,
    .ru_name = "enroll",
    .ru_flags = LY_RU_MAY_BE_NEW | LY_RU_IX_TXN | LY_RU_IX_DEBTS,
    .ru_valid = s_valid,
    .ru_make = s_make,
    .ru_fold = s_fold,
};
