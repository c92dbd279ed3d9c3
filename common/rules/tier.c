/* tier -- a manual tier: staff give a customer tier ev_category (a tier's
 * name) through UTC day ev_qual_day (inclusive), with a reason and an
 * operator (loyalctl tier). Last writer wins by (hlc, origin), like a profile
 * field, so the order of arrival does not matter and a retry elsewhere sets
 * the same; it needs no once key. While it runs it replaces the program's
 * tier model (ly_rule_override); afterwards the model holds again. Points do
 * not move. */
#include "common/rules.h"

#include <string.h>

static int s_valid(const ly_event *ev)
{
    return ev->ev_points == 0 && ev->ev_qual == 0 && ev->ev_amount == 0 && ev->ev_fields == 0 &&
           ly_id_valid(ev->ev_category) && strlen(ev->ev_category) <= LY_TIER_NAME_MAX &&
           ev->ev_qual_day >= LY_PD_DAY_MIN && ev->ev_qual_day <= LY_PD_DAY_MAX &&
           ev->ev_txn[0] != '\0' && ev->ev_reason[0] != '\0';
}

/* in_category: the tier (the service checked the program has it); in_day: the last day. */
static void s_make(const ly_origin *o, const ly_intent *in, ly_event *ev, ly_refusal *no)
{
    const ly_program *pg = o->or_program;
    int known = 0;
    for (int i = 0; i < pg->pg_ntiers; i++)
        known |= strcmp(pg->pg_tiers[i].ti_name, in->in_category) == 0;
    if (!known) {
        char names[LY_TIERS_MAX * (LY_TIER_NAME_MAX + 2) + 1] = "";
        for (int i = 0; i < pg->pg_ntiers; i++) {
            strcat(names, i ? ", " : "");
            strcat(names, pg->pg_tiers[i].ti_name);
        }
        ly_refuse(no, LY_EINVAL, "program version %u has no tier '%s' (it has %s)", pg->pg_version,
                  in->in_category, names);
        return;
    }
    if (in->in_day < o->or_day || in->in_day > LY_PD_DAY_MAX) {
        char until[16], today[16];
        ly_refuse(no, LY_EINVAL, "the end date %s is before today (%s, UTC)",
                  ly_pd_day_str(in->in_day, until, sizeof until),
                  ly_pd_day_str(o->or_day, today, sizeof today));
        return;
    }
    ly_strlcpy(ev->ev_category, in->in_category, sizeof ev->ev_category);
    ev->ev_qual_day = in->in_day;
    ly_strlcpy(ev->ev_reason, in->in_reason, sizeof ev->ev_reason);
    ly_strlcpy(ev->ev_operator, in->in_operator ? in->in_operator : "", sizeof ev->ev_operator);
}

static void s_fold(ly_cust *c, const ly_event *ev, int sign)
{
    (void)c, (void)ev, (void)sign;
}

/* Last writer wins, counted or not (a retry elsewhere carries the same). */
static void s_note(ly_cust *c, const ly_event *ev)
{
    if (ev->ev_hlc > c->cu_ovr_hlc ||
        (ev->ev_hlc == c->cu_ovr_hlc && ev->ev_origin > c->cu_ovr_origin)) {
        ly_strlcpy(c->cu_ovr_tier, ev->ev_category, sizeof c->cu_ovr_tier);
        c->cu_ovr_until = ev->ev_qual_day;
        c->cu_ovr_hlc = ev->ev_hlc;
        c->cu_ovr_origin = ev->ev_origin;
    }
}

const ly_rule ly_rule_tier = {
    .ru_type = LY_EV_TIER,
    .ru_name = "tier",
    .ru_flags = LY_RU_NEEDS_CUST | LY_RU_IX_TXN,
    .ru_valid = s_valid,
    .ru_make = s_make,
    .ru_fold = s_fold,
    .ru_note = s_note,
};
