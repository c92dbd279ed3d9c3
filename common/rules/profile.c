/* profile -- a change of profile fields (ev_fields: which, ev_profile: the
 * values; "" clears a field). Last writer wins per field by (hlc, origin), so
 * the order of arrival does not matter. Points do not move. */
#include "common/rules.h"

static int s_valid(const ly_event *ev)
{
    return ev->ev_points == 0 && ev->ev_qual == 0 && ev->ev_fields != 0;
}

static void s_make(const ly_origin *o, const ly_intent *in, ly_event *ev, ly_refusal *no)
{
    (void)o;
    (void)no;
    ev->ev_fields = in->in_fields & LY_PF_ALL;
    ev->ev_profile = *in->in_profile;
}

/* Nothing to count: a profile change has no amount. */
static void s_fold(ly_cust *c, const ly_event *ev, int sign)
{
    (void)c, (void)ev, (void)sign;
}

/* Every profile change takes part, last writer wins per field: a retry of it
 * elsewhere sets the same values, so it needs no once key. */
static void s_note(ly_cust *c, const ly_event *ev)
{
    ly_cust_profile_apply(c, ev);
}

const ly_rule ly_rule_profile = {
    .ru_type = LY_EV_PROFILE,
    .ru_name = "profile",
    .ru_flags = LY_RU_NEEDS_CUST | LY_RU_IX_TXN,
    .ru_valid = s_valid,
    .ru_make = s_make,
    .ru_fold = s_fold,
    .ru_note = s_note,
};
