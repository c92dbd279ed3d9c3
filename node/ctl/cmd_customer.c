/* cmd_customer.c -- `customer`: standing, rights per branch, profile, history. */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/event.h"
#include "node/ctl/ctl.h"

/* Points a transfer moved (its amount; the balance does not change). */
static int64_t s_hist_moved(const ly_hist *h)
{
    if (h->hi_amount != 0)
        return h->hi_amount;
    return h->hi_points < 0 ? -h->hi_points : h->hi_points;
}

/* The POINTS column of a history line: the signed change of the balance, or
 * for a transfer the points moved (unsigned: the balance stays); a void
 * duplicate's in parentheses (they do not count). */
static const char *s_hist_points(const ly_hist *h)
{
    static char buf[40];
    if (h->hi_type == LY_EV_TRANSFER)
        return ctl_num(s_hist_moved(h));
    if (!h->hi_void)
        return ctl_num_sign(h->hi_points, 1);
    snprintf(buf, sizeof buf, "(%s)", ctl_num_sign(h->hi_points, 1));
    return buf;
}

/* The details column of a history line. */
static void s_hist_details(const ly_hist *h, const ctl_names *nm, char *buf, size_t cap)
{
    ctl_parts t;
    ctl_parts_init(&t, buf, cap);
    if (h->hi_type == LY_EV_TRANSFER)
        ctl_catf(&t, "", "%s \u2192 %s", ctl_node_label(nm, h->hi_origin, 1),
                 ctl_node_label(nm, h->hi_to, 1));
    if (h->hi_type == LY_EV_REVERSE && h->hi_ref_txn[0])
        ctl_catf(&t, "", "refund of %s", h->hi_ref_txn);
    if (h->hi_type == LY_EV_EARN) { /* an earn's reason is the campaign that applied */
        if (h->hi_category[0])
            ctl_catf(&t, "; ", "%s", h->hi_category);
        if (h->hi_reason[0])
            ctl_catf(&t, "; ", "campaign %s", h->hi_reason);
    } else if (h->hi_type == LY_EV_TIER) { /* a manual tier: its name and last day */
        ctl_catf(&t, "; ", "%s until %s", h->hi_category, h->hi_until);
        ctl_cat_reason(&t, "", h->hi_reason, h->hi_operator);
    } else {
        ctl_cat_reason(&t, h->hi_category, h->hi_reason, h->hi_operator);
    }
    if (h->hi_tier_from[0] && h->hi_tier_to[0] && strcmp(h->hi_tier_from, h->hi_tier_to) != 0)
        ctl_catf(&t, "; ", "tier %s \u2192 %s", h->hi_tier_from, h->hi_tier_to);
    if (h->hi_void && h->hi_type == LY_EV_ENROLL) /* still an enrollment; its bonus is void */
        ctl_catf(&t, "; ", "join bonus counted once, by %s seq %llu",
                 ctl_node_label(nm, h->hi_win_origin, 1), (unsigned long long)h->hi_win_seq);
    else if (h->hi_void)
        ctl_catf(&t, "; ", "DUPLICATE of %s seq %llu: does not count",
                 ctl_node_label(nm, h->hi_win_origin, 1), (unsigned long long)h->hi_win_seq);
}

static void s_json_optstr(ly_json *j, const char *key, const char *s)
{
    if (s[0])
        ly_json_kstr(j, key, s);
}

/* Rights rows the reply holds. */
static uint32_t s_nrights(const ly_rep *rp)
{
    return rp->rp_nrights < LY_RIGHTS_REPLY_MAX ? rp->rp_nrights : LY_RIGHTS_REPLY_MAX;
}

static void s_show_customer_json(const ly_rep *rp)
{
    char at[40], key[16];
    ly_json j;
    ly_json_init(&j, stdout);
    ly_json_object(&j);
    ctl_json_standing(&j, rp);
    ly_json_kint(&j, "local_rights", rp->rp_local_rights);
    ly_json_kobject(&j, "rights");
    for (uint32_t i = 0; i < s_nrights(rp); i++) {
        snprintf(key, sizeof key, "%u", (unsigned)rp->rp_rights[i].node);
        ly_json_kint(&j, key, rp->rp_rights[i].points);
    }
    ly_json_end(&j);
    ly_json_kobject(&j, "profile");
    for (int i = 0; i < LY_PF_COUNT; i++)
        if ((rp->rp_fields & ctl_pf[i].bit) && ctl_pf_value(&rp->rp_profile, i)[0])
            ly_json_kstr(&j, ctl_pf[i].name, ctl_pf_value(&rp->rp_profile, i));
    ly_json_end(&j);
    if (rp->rp_enrolled_hlc)
        ly_json_kstr(&j, "enrolled_at", ctl_iso(rp->rp_enrolled_hlc, at, sizeof at));
    else
        ly_json_knull(&j, "enrolled_at");
    if (rp->rp_last_hlc)
        ly_json_kstr(&j, "last_activity_at", ctl_iso(rp->rp_last_hlc, at, sizeof at));
    else
        ly_json_knull(&j, "last_activity_at");
    ly_json_karray(&j, "history");
    for (uint32_t i = 0; i < rp->rp_nhist && i < LY_HIST_MAX; i++) {
        const ly_hist *h = &rp->rp_hist[i];
        ly_json_object(&j);
        ly_json_kstr(&j, "at", ctl_iso(h->hi_hlc, at, sizeof at));
        ly_json_kstr(&j, "type", ly_evtype_name(h->hi_type));
        ly_json_kint(&j, "points", h->hi_points);
        if (h->hi_amount != 0)
            ly_json_kint(&j, "amount", h->hi_amount);
        s_json_optstr(&j, "txn", h->hi_txn);
        s_json_optstr(&j, "ref_txn", h->hi_ref_txn);
        s_json_optstr(&j, "category", h->hi_category);
        s_json_optstr(&j, "reason", h->hi_reason);
        s_json_optstr(&j, "operator", h->hi_operator);
        s_json_optstr(&j, "tier_from", h->hi_tier_from);
        s_json_optstr(&j, "tier_to", h->hi_tier_to);
        ly_json_kuint(&j, "origin", h->hi_origin);
        if (h->hi_void) {
            ly_json_kbool(&j, "void", 1);
            ly_json_kobject(&j, "duplicate_of");
            ly_json_kuint(&j, "origin", h->hi_win_origin);
            ly_json_kuint(&j, "seq", h->hi_win_seq);
            ly_json_end(&j);
        }
        if (h->hi_type == LY_EV_TRANSFER && h->hi_to)
            ly_json_kuint(&j, "to", h->hi_to);
        else if (h->hi_type == LY_EV_TRANSFER)
            ly_json_knull(&j, "to"); /* the node did not say */
        ly_json_end(&j);
    }
    ly_json_end(&j);
    ly_json_end(&j);
    ly_json_finish(&j);
}

/* "redeemable here: 120; rights: north 120, south 30" */
static void s_print_rights(const ly_rep *rp, const ctl_names *nm)
{
    printf("redeemable here: %s; rights: ", ctl_num(rp->rp_local_rights));
    for (uint32_t i = 0; i < s_nrights(rp); i++)
        printf("%s%s %s", i ? ", " : "", ctl_node_label(nm, rp->rp_rights[i].node, 0),
               ctl_num(rp->rp_rights[i].points));
    printf("%s\n", s_nrights(rp) ? "" : "none");
}

static void s_show_customer(const ctl_ctx *x, const ly_req *rq, const ly_rep *rp)
{
    static ctl_names nm; /* large: not on the stack */
    char at[40], details[LY_TEXT_MAX + LY_ID_MAX * 2 + 256];
    uint32_t nhist = rp->rp_nhist < LY_HIST_MAX ? rp->rp_nhist : LY_HIST_MAX;
    int need_names = s_nrights(rp) > 0;
    (void)rq;
    if (x->json) {
        s_show_customer_json(rp);
        return;
    }
    for (uint32_t i = 0; i < nhist; i++)
        need_names |= rp->rp_hist[i].hi_type == LY_EV_TRANSFER || rp->rp_hist[i].hi_void;
    if (need_names)
        ctl_names_load(x, &nm);
    printf("customer %s\n", rp->rp_customer);
    ctl_print_standing(rp);
    s_print_rights(rp, &nm);
    for (int i = 0; i < LY_PF_COUNT; i++)
        if ((rp->rp_fields & ctl_pf[i].bit) && ctl_pf_value(&rp->rp_profile, i)[0])
            printf("%-9s %s\n", ctl_pf[i].name, ctl_pf_value(&rp->rp_profile, i));
    printf("%-9s %s\n", "enrolled", ctl_iso(rp->rp_enrolled_hlc, at, sizeof at));
    printf("%-9s %s\n", "last", ctl_iso(rp->rp_last_hlc, at, sizeof at));
    if (nhist == 0)
        return;
    int wpts = (int)strlen("POINTS"), wtxn = (int)strlen("TXN"), wtype = 7;
    for (uint32_t i = 0; i < nhist; i++) {
        int n = (int)strlen(s_hist_points(&rp->rp_hist[i]));
        int t = (int)strlen(rp->rp_hist[i].hi_txn);
        int y = (int)strlen(ly_evtype_name(rp->rp_hist[i].hi_type));
        wpts = n > wpts ? n : wpts;
        wtxn = t > wtxn ? t : wtxn;
        wtype = y > wtype ? y : wtype;
    }
    printf("\nhistory, newest first:\n%-24s  %-*s  %*s  %-*s  DETAILS\n", "TIME", wtype, "TYPE",
           wpts, "POINTS", wtxn, "TXN");
    for (uint32_t i = 0; i < nhist; i++) {
        const ly_hist *h = &rp->rp_hist[i];
        s_hist_details(h, &nm, details, sizeof details);
        printf("%-24s  %-*s  %*s  %s", ctl_iso(h->hi_hlc, at, sizeof at), wtype,
               ly_evtype_name(h->hi_type), wpts, s_hist_points(h), h->hi_txn);
        if (details[0])
            printf("%*s  %s", wtxn - (int)strlen(h->hi_txn), "", details);
        printf("\n");
    }
}

int ctl_run_customer(ctl_ctx *x)
{
    ly_req rq;
    int64_t n = 0;
    int rc;
    ly_req_init(&rq, LY_MSG_CUSTOMER);
    if ((rc = ctl_customer_arg(x, &rq)) != 0)
        return rc;
    if (x->opt[CTL_O_HISTORY] &&
        (rc = ctl_int(x, "history", x->opt[CTL_O_HISTORY], 1, LY_HIST_MAX, &n)) != 0)
        return rc;
    rq.rq_limit = (uint32_t)n;
    rq.rq_prefetch = x->opt[CTL_O_PREFETCH] != NULL;
    return ctl_call(x, &rq, s_show_customer);
}
