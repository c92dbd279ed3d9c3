/* enroll -- a customer joins; ev_points is the join bonus, credited to the
 * enrolling branch's rights. A customer may hold several enroll events (two
 * branches that enrolled them while cut off, or a retry elsewhere): each is
 * an enrollment and the earliest gives the enrollment time, but the bonus
 * counts once chain-wide: its once key is join:<customer> (LY_RU_ONCE_JOIN),
 * so only the smallest enroll's bonus counts. */
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

/* The join bonus: once per customer chain-wide (once key join:<customer>). */
static void s_fold(ly_cust *c, const ly_event *ev, int sign)
{
    ly_cust_credit(c, ev, sign);
    c->cu_lifetime += sign * ev->ev_points;
}

/* Every enroll event is an enrollment: the earliest is the enrollment time,
 * and its profile fields take part, last writer wins. */
static void s_note(ly_cust *c, const ly_event *ev)
{
    c->cu_enrolls++;
    if (c->cu_enrolled_hlc == 0 || ev->ev_hlc < c->cu_enrolled_hlc)
        c->cu_enrolled_hlc = ev->ev_hlc;
    ly_cust_profile_apply(c, ev);
}

const ly_rule ly_rule_enroll = {
    .ru_type = LY_EV_ENROLL,
    .ru_name = "enroll",
    .ru_flags = LY_RU_MAY_BE_NEW | LY_RU_IX_TXN | LY_RU_ONCE_JOIN | LY_RU_IX_DEBTS,
    .ru_valid = s_valid,
    .ru_make = s_make,
    .ru_fold = s_fold,
    .ru_note = s_note,
};
