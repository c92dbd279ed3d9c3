/* cmd_mutate.c -- the commands that change a customer: enroll, earn, redeem,
 * reverse, adjust and set-profile; one reply shape for all of them. */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/initext.h"
#include "node/ctl/ctl.h"

/* The optional profile options into rq_profile / rq_fields. */
static int s_profile(const ctl_ctx *x, ly_req *rq)
{
    static const struct {
        int opt;
        size_t max, cap;
    } lim[LY_PF_COUNT] = {
        {CTL_O_NAME, LY_NAME_MAX, sizeof rq->rq_profile.pf_name},
        {CTL_O_BIRTHDAY, 10, sizeof rq->rq_profile.pf_birthday},
        {CTL_O_EMAIL, LY_EMAIL_MAX, sizeof rq->rq_profile.pf_email},
        {CTL_O_PHONE, LY_PHONE_MAX, sizeof rq->rq_profile.pf_phone},
        {CTL_O_PREFS, LY_TEXT_MAX, sizeof rq->rq_profile.pf_prefs},
    };
    for (int i = 0; i < LY_PF_COUNT; i++) {
        const char *v = x->opt[lim[i].opt];
        char *dst = (char *)&rq->rq_profile + ctl_pf[i].off;
        int rc;
        if (!v)
            continue;
        if (lim[i].opt == CTL_O_BIRTHDAY && !ly_date_valid(v))
            return ctl_usage(x, "invalid birthday '%s' (a real date, YYYY-MM-DD)", v);
        if ((rc = ctl_text(x, ctl_pf[i].name, v, lim[i].max, dst, lim[i].cap)) != 0)
            return rc;
        rq->rq_fields |= ctl_pf[i].bit;
    }
    return 0;
}

static int s_txn_arg(const ctl_ctx *x, ly_req *rq)
{
    return ctl_id(x, "transaction id", x->opt[CTL_O_TXN], rq->rq_txn, sizeof rq->rq_txn);
}

/* "100 base x2 (Gold) x1.5 (category); campaign spring +50": what a till
 * prints on the receipt. */
static void s_print_breakdown(const ly_rep *rp)
{
    char a[32], b[32];
    if (rp->rp_category_mult == 0) {
        printf("this category earns no points\n");
        return;
    }
    printf("%s base x%s (%s)", ctl_num(rp->rp_base_points),
           ly_ini_milli_str(rp->rp_tier_mult, a, sizeof a),
           rp->rp_earn_tier[0] ? rp->rp_earn_tier : "tier");
    if (rp->rp_category_mult != LY_MILLI)
        printf(" x%s (category)", ly_ini_milli_str(rp->rp_category_mult, b, sizeof b));
    if (rp->rp_campaign[0])
        printf("; campaign %s %s", rp->rp_campaign, ctl_num_sign(rp->rp_campaign_points, 1));
    if (rp->rp_bonus_points > 0)
        printf("; birthday bonus %s", ctl_num_sign(rp->rp_bonus_points, 1));
    printf("\n");
}

static void s_show_mutation(const ctl_ctx *x, const ly_req *rq, const ly_rep *rp)
{
    char at[40];
    if (x->json) {
        ly_json j;
        ly_json_init(&j, stdout);
        ly_json_object(&j);
        ly_json_kstr(&j, "operation", ly_msgtype_name(rp->rp_type));
        ctl_json_standing(&j, rp);
        ly_json_kint(&j, "points", rp->rp_points);
        ly_json_kstr(&j, "txn", rp->rp_txn);
        ly_json_kbool(&j, "replayed", rp->rp_replayed);
        ly_json_kobject(&j, "event");
        ly_json_kuint(&j, "origin", rp->rp_origin);
        ly_json_kuint(&j, "seq", rp->rp_seq);
        ly_json_kuint(&j, "hlc", rp->rp_hlc);
        ly_json_kstr(&j, "at", ctl_iso(rp->rp_hlc, at, sizeof at));
        ly_json_end(&j);
        if (rp->rp_type == LY_MSG_EARN) {
            ly_json_kobject(&j, "breakdown");
            if (!rp->rp_replayed) {
                ly_json_kint(&j, "base_points", rp->rp_base_points);
                ly_json_kstr(&j, "tier", rp->rp_earn_tier);
                ly_json_kuint(&j, "tier_multiplier_milli", rp->rp_tier_mult);
                ly_json_kuint(&j, "category_multiplier_milli", rp->rp_category_mult);
                ly_json_kint(&j, "campaign_points", rp->rp_campaign_points);
            }
            ly_json_kint(&j, "birthday_bonus", rp->rp_bonus_points);
            ly_json_kstr(&j, "campaign", rp->rp_campaign);
            ly_json_end(&j);
        }
        ly_json_end(&j);
        ly_json_finish(&j);
        return;
    }
    int64_t p = rp->rp_points;
    switch (rp->rp_type) {
    case LY_MSG_ENROLL:
        if (p != 0)
            printf("enrolled %s with %s %s", rp->rp_customer, ctl_num(p), ctl_points_word(p));
        else
            printf("enrolled %s", rp->rp_customer);
        break;
    case LY_MSG_EARN:
        printf("earned %s %s for %s", ctl_num(p), ctl_points_word(p), rp->rp_customer);
        break;
    case LY_MSG_REDEEM:
        printf("redeemed %s %s for %s", ctl_num(-p), ctl_points_word(p), rp->rp_customer);
        break;
    case LY_MSG_REVERSE:
        printf("reversed %s for %s: %s %s", rq->rq_ref_txn, rp->rp_customer, ctl_num_sign(p, 1),
               ctl_points_word(p));
        break;
    case LY_MSG_ADJUST:
        printf("adjusted %s by %s %s", rp->rp_customer, ctl_num_sign(p, 1), ctl_points_word(p));
        break;
    case LY_MSG_TIER:
        printf("gave %s tier %s until %s", rp->rp_customer, rq->rq_tier, rq->rq_until);
        break;
    default:
        printf("updated the profile of %s", rp->rp_customer);
        break;
    }
    printf(" (txn %s)%s\n", rp->rp_txn, rp->rp_replayed ? " (replayed: original result)" : "");
    if (rp->rp_type == LY_MSG_EARN && !rp->rp_replayed)
        s_print_breakdown(rp);
    else if (rp->rp_type == LY_MSG_EARN && (rp->rp_campaign[0] || rp->rp_bonus_points > 0)) {
        if (rp->rp_campaign[0])
            printf("campaign %s applied%s", rp->rp_campaign, rp->rp_bonus_points > 0 ? "; " : "");
        if (rp->rp_bonus_points > 0)
            printf("birthday bonus %s", ctl_num_sign(rp->rp_bonus_points, 1));
        printf("\n");
    }
    ctl_print_standing(rp);
}

int ctl_run_enroll(ctl_ctx *x)
{
    ly_req rq;
    int rc;
    ly_req_init(&rq, LY_MSG_ENROLL);
    if ((rc = ctl_customer_arg(x, &rq)) != 0 || (rc = s_profile(x, &rq)) != 0)
        return rc;
    if (x->opt[CTL_O_TXN]) {
        if ((rc = s_txn_arg(x, &rq)) != 0)
            return rc;
    } else if ((size_t)snprintf(rq.rq_txn, sizeof rq.rq_txn, "enroll:%s", rq.rq_customer) >=
               sizeof rq.rq_txn) {
        return ctl_usage(x,
                         "customer id '%s' is too long for the default transaction id "
                         "'enroll:%s'; give --txn",
                         rq.rq_customer, rq.rq_customer);
    }
    return ctl_call(x, &rq, s_show_mutation);
}

int ctl_run_earn(ctl_ctx *x)
{
    ly_req rq;
    int rc;
    ly_req_init(&rq, LY_MSG_EARN);
    if ((rc = ctl_customer_arg(x, &rq)) != 0 ||
        (rc = ctl_int(x, "amount", x->pos[1], 1, LY_AMOUNT_MAX, &rq.rq_amount)) != 0 ||
        (rc = s_txn_arg(x, &rq)) != 0)
        return rc;
    if (x->opt[CTL_O_CATEGORY] && (rc = ctl_id(x, "category", x->opt[CTL_O_CATEGORY],
                                               rq.rq_category, sizeof rq.rq_category)) != 0)
        return rc;
    return ctl_call(x, &rq, s_show_mutation);
}

int ctl_run_redeem(ctl_ctx *x)
{
    ly_req rq;
    int rc;
    ly_req_init(&rq, LY_MSG_REDEEM);
    if ((rc = ctl_customer_arg(x, &rq)) != 0 ||
        (rc = ctl_int(x, "points", x->pos[1], 1, LY_AMOUNT_MAX, &rq.rq_amount)) != 0 ||
        (rc = s_txn_arg(x, &rq)) != 0)
        return rc;
    return ctl_call(x, &rq, s_show_mutation);
}

int ctl_run_reverse(ctl_ctx *x)
{
    ly_req rq;
    int rc;
    ly_req_init(&rq, LY_MSG_REVERSE);
    if ((rc = ctl_id(x, "original transaction id", x->pos[0], rq.rq_ref_txn,
                     sizeof rq.rq_ref_txn)) != 0 ||
        (rc = s_txn_arg(x, &rq)) != 0)
        return rc;
    if (x->opt[CTL_O_AMOUNT] &&
        (rc = ctl_int(x, "amount", x->opt[CTL_O_AMOUNT], 1, LY_AMOUNT_MAX, &rq.rq_amount)) != 0)
        return rc;
    if (strcmp(rq.rq_ref_txn, rq.rq_txn) == 0)
        return ctl_usage(x, "the reversal needs its own transaction id, not '%s'", rq.rq_txn);
    return ctl_call(x, &rq, s_show_mutation);
}

/* --reason: required, not empty. */
static int s_reason(const ctl_ctx *x, ly_req *rq)
{
    int rc = ctl_text(x, "reason", x->opt[CTL_O_REASON], LY_TEXT_MAX, rq->rq_reason,
                      sizeof rq->rq_reason);
    if (rc == 0 && !rq->rq_reason[0])
        return ctl_usage(x, "the reason must not be empty");
    return rc;
}

int ctl_run_tier(ctl_ctx *x)
{
    ly_req rq;
    int rc;
    ly_req_init(&rq, LY_MSG_TIER);
    if ((rc = ctl_customer_arg(x, &rq)) != 0 ||
        (rc = ctl_id(x, "tier", x->pos[1], rq.rq_tier, sizeof rq.rq_tier)) != 0)
        return rc;
    const char *until = x->opt[CTL_O_UNTIL];
    if (!ly_date_valid(until) || !until[0] || ly_strlcpy(rq.rq_until, until, sizeof rq.rq_until))
        return ctl_usage(x, "invalid --until '%s' (a real date, YYYY-MM-DD, UTC)", until);
    if ((rc = s_reason(x, &rq)) != 0 || (rc = s_txn_arg(x, &rq)) != 0 ||
        (rc = ctl_operator(x, rq.rq_operator, sizeof rq.rq_operator)) != 0)
        return rc;
    return ctl_call(x, &rq, s_show_mutation);
}

int ctl_run_adjust(ctl_ctx *x)
{
    ly_req rq;
    int rc;
    ly_req_init(&rq, LY_MSG_ADJUST);
    if ((rc = ctl_customer_arg(x, &rq)) != 0 ||
        (rc = ctl_int(x, "points", x->pos[1], -LY_AMOUNT_MAX, LY_AMOUNT_MAX, &rq.rq_amount)) != 0)
        return rc;
    if (rq.rq_amount == 0)
        return ctl_usage(x, "points must not be 0");
    if ((rc = s_reason(x, &rq)) != 0 || (rc = s_txn_arg(x, &rq)) != 0 ||
        (rc = ctl_operator(x, rq.rq_operator, sizeof rq.rq_operator)) != 0)
        return rc;
    return ctl_call(x, &rq, s_show_mutation);
}

int ctl_run_set_profile(ctl_ctx *x)
{
    ly_req rq;
    int rc;
    ly_req_init(&rq, LY_MSG_SET_PROFILE);
    if ((rc = ctl_customer_arg(x, &rq)) != 0 || (rc = s_txn_arg(x, &rq)) != 0 ||
        (rc = s_profile(x, &rq)) != 0)
        return rc;
    if (rq.rq_fields == 0)
        return ctl_usage(x, "nothing to change: give at least one of --name, --birthday, --email, "
                            "--phone, --prefs");
    return ctl_call(x, &rq, s_show_mutation);
}
