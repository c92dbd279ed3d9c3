/* reverse -- a refund of an earlier earn or redemption (ev_ref_txn, whose
 * type is ev_ref_type), in full or in part (ev_amount: minor units of the
 * purchase for an earn, points for a redemption). A refund always succeeds:
 * points already spent become a debt (the net goes below zero) that later
 * earnings repay first. Refunds of an earn take back points and qualifying
 * points in proportion, cumulatively, so refunds in parts add up exactly to
 * the whole. The original's record keeps the refund totals (LY_RU_IX_REFUNDS),
 * which bound what is left to refund. */
#include "common/rules.h"

static int s_valid(const ly_event *ev)
{
    if (!ev->ev_ref_txn[0] || ev->ev_amount < 0)
        return 0;
    if (ev->ev_ref_type == LY_EV_EARN)
        return ev->ev_points <= 0 && ev->ev_qual <= 0;
    if (ev->ev_ref_type == LY_EV_REDEEM)
        return ev->ev_points >= 0 && ev->ev_qual == 0;
    return 0;
}

/* floor(a * b / c) without overflow; c > 0, a, b >= 0. */
static int64_t s_muldiv(int64_t a, int64_t b, int64_t c)
{
    return (int64_t)((__int128)a * b / c);
}

static void s_make(const ly_origin *o, const ly_intent *in, ly_event *ev, ly_refusal *no)
{
    const ly_txnrec *r = o->or_orig;
    if (r->tr_type != LY_EV_EARN && r->tr_type != LY_EV_REDEEM) {
        ly_refuse(no, LY_ENOTREVERSIBLE,
                  "transaction '%s' (%s) cannot be reversed; only earns and redemptions can",
                  in->in_ref_txn, ly_evtype_name(r->tr_type));
        return;
    }
    int64_t left = r->tr_amount - r->tr_refunded_amount;
    int64_t part = in->in_amount ? in->in_amount : left;
    if (left <= 0) {
        ly_refuse(no, LY_EOVERREFUND, "transaction '%s' is already fully refunded", in->in_ref_txn);
        return;
    }
    if (part > left) {
        ly_refuse(no, LY_EOVERREFUND, "transaction '%s' has %lld left to refund; %lld requested",
                  in->in_ref_txn, (long long)left, (long long)part);
        return;
    }
    const ly_cust *c = o->or_cust;
    ev->ev_ref_type = r->tr_type;
    ev->ev_amount = part;
    ly_strlcpy(ev->ev_operator, in->in_operator ? in->in_operator : "", sizeof ev->ev_operator);
    ly_strlcpy(ev->ev_ref_txn, in->in_ref_txn, sizeof ev->ev_ref_txn);
    if (r->tr_type == LY_EV_EARN) {
        int64_t before = r->tr_refunded_amount, after = before + part;
        ev->ev_points = -(s_muldiv(r->tr_points, after, r->tr_amount) -
                          s_muldiv(r->tr_points, before, r->tr_amount));
        ev->ev_qual = -(s_muldiv(r->tr_qual, after, r->tr_amount) -
                        s_muldiv(r->tr_qual, before, r->tr_amount));
        ev->ev_qual_day = r->tr_qual_day;
        ev->ev_tier_from = (uint8_t)ly_rule_held_tier(o, c);
        /* The tier after: what folding the refund into the state and asking
         * again would give. */
        ev->ev_tier_to = (uint8_t)ly_rule_held_tier_after(o, c, ev->ev_qual_day, ev->ev_qual);
    } else {
        ev->ev_points = part; /* the redeemed points come back */
        ev->ev_tier_from = ev->ev_tier_to = (uint8_t)ly_rule_held_tier(o, c);
    }
}

static void s_fold(ly_cust *c, const ly_event *ev, int sign)
{
    ly_cust_credit(c, ev, sign);
    if (ev->ev_ref_type == LY_EV_EARN) {
        c->cu_lifetime += sign * ev->ev_points;
        ly_cust_qual_add(c, ev->ev_qual_day, sign * ev->ev_qual);
    } else {
        c->cu_redeemed -= sign * ev->ev_points;
    }
}

const ly_rule ly_rule_reverse = {
    .ru_type = LY_EV_REVERSE,
    .ru_name = "reverse",
    /* The customer is the original's (whose record the origin holds); not
     * LY_RU_NEEDS_CUST: its enroll may not have reached this node yet. */
    .ru_flags =
        LY_RU_NEEDS_ORIGINAL | LY_RU_IX_TXN | LY_RU_ONCE_TXN | LY_RU_IX_REFUNDS | LY_RU_IX_DEBTS,
    .ru_valid = s_valid,
    .ru_make = s_make,
    .ru_fold = s_fold,
};
