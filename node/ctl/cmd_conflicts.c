/* cmd_conflicts.c -- `conflicts`: transaction ids (once keys) under which
 * branches made different requests, with the one that counts. */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/ctl/ctl.h"

/* What the request of an event was, for people: amount, refund, category,
 * reason, operator, profile fields. */
static void s_request(const ly_event *ev, char *buf, size_t cap)
{
    ctl_parts t;
    ctl_parts_init(&t, buf, cap);
    if (ev->ev_type == LY_EV_EARN)
        ctl_catf(&t, "", "purchase %s", ctl_num(ev->ev_amount));
    else if (ev->ev_type == LY_EV_REVERSE)
        ctl_catf(&t, "", "refund of %s (%s)", ev->ev_ref_txn, ctl_num(ev->ev_amount));
    ctl_cat_reason(&t, ev->ev_category, ev->ev_type == LY_EV_EARN ? "" : ev->ev_reason,
                   ev->ev_operator);
    for (int i = 0; i < LY_PF_COUNT; i++)
        if (ev->ev_fields & ctl_pf[i].bit)
            ctl_catf(&t, "; ", "%s=%s", ctl_pf[i].name, ctl_pf_value(&ev->ev_profile, i));
}

static const ctl_col s_cols[] = {
    {"KEY", 0},  {"STATE", 0},    {"BRANCH", 0}, {"EVENT", 0},   {"TIME", 0},
    {"TYPE", 0}, {"CUSTOMER", 0}, {"POINTS", 1}, {"REQUEST", 0},
};
#define S_NCOLS ((int)(sizeof s_cols / sizeof s_cols[0]))

typedef struct s_view {
    const ly_rep *sv_rp;
    const ctl_names *sv_nm;
    uint32_t (*sv_rows)[2]; /* per row: conflict, event index */
} s_view;

static void s_row(const void *ctx, size_t i, ctl_cells c)
{
    const s_view *v = ctx;
    const ly_conflict *cf = &v->sv_rp->rp_conflicts[v->sv_rows[i][0]];
    uint32_t k = v->sv_rows[i][1];
    const ly_event *ev = &v->sv_rp->rp_events[k];
    int col = 0;
    snprintf(c[col++], CTL_CELL_MAX, "%s", k == cf->cf_first ? cf->cf_key : "");
    snprintf(c[col++], CTL_CELL_MAX, "%s", k == cf->cf_counts ? "COUNTS" : "void");
    snprintf(c[col++], CTL_CELL_MAX, "%s", ctl_node_label(v->sv_nm, ev->ev_origin, 0));
    snprintf(c[col++], CTL_CELL_MAX, "%u:%" PRIu64, (unsigned)ev->ev_origin, ev->ev_seq);
    ctl_iso(ev->ev_hlc, c[col++], CTL_CELL_MAX);
    snprintf(c[col++], CTL_CELL_MAX, "%s", ly_evtype_name(ev->ev_type));
    snprintf(c[col++], CTL_CELL_MAX, "%s", ev->ev_customer);
    snprintf(c[col++], CTL_CELL_MAX, "%s", ctl_num_sign(ev->ev_points, 1));
    s_request(ev, c[col++], CTL_CELL_MAX);
}

static void s_show_json(const ly_rep *rp, const ctl_names *nm)
{
    ly_json j;
    ly_json_init(&j, stdout);
    ly_json_object(&j);
    ly_json_karray(&j, "conflicts");
    for (uint32_t i = 0; i < rp->rp_nconflicts; i++) {
        const ly_conflict *cf = &rp->rp_conflicts[i];
        const ly_event *win = &rp->rp_events[cf->cf_counts];
        ly_json_object(&j);
        ly_json_kstr(&j, "key", cf->cf_key);
        ly_json_kuint(&j, "events_total", cf->cf_total);
        ly_json_kobject(&j, "counts");
        ly_json_kuint(&j, "origin", win->ev_origin);
        ly_json_kuint(&j, "incarnation", win->ev_incarnation);
        ly_json_kuint(&j, "seq", win->ev_seq);
        ly_json_end(&j);
        ly_json_karray(&j, "events");
        for (uint32_t k = cf->cf_first; k < cf->cf_first + cf->cf_n; k++) {
            const ly_event *ev = &rp->rp_events[k];
            ly_json_object(&j);
            ly_json_kbool(&j, "counts", k == cf->cf_counts);
            ly_json_kstr(&j, "branch", ctl_node_label(nm, ev->ev_origin, 0));
            ctl_json_event_fields(&j, ev);
            ly_json_end(&j);
        }
        ly_json_end(&j);
        ly_json_end(&j);
    }
    ly_json_end(&j);
    ly_json_kbool(&j, "more", rp->rp_more);
    ly_json_end(&j);
    ly_json_finish(&j);
}

static int s_show(const ctl_ctx *x, const ly_rep *rp, const ctl_names *nm, uint32_t limit)
{
    if (x->json) {
        s_show_json(rp, nm);
        return CTL_EXIT_OK;
    }
    if (rp->rp_nconflicts == 0) {
        if (x->opt[CTL_O_AFTER])
            printf("no conflict after %s\n", x->opt[CTL_O_AFTER]);
        else
            printf("no conflicts: no transaction id was used for two different requests\n");
        return CTL_EXIT_OK;
    }
    size_t nrows = 0;
    for (uint32_t i = 0; i < rp->rp_nconflicts; i++)
        nrows += rp->rp_conflicts[i].cf_n;
    uint32_t(*rows)[2] = calloc(nrows, sizeof *rows);
    if (!rows)
        return ctl_fail(x, CTL_EXIT_FAILED, ly_errname(LY_ENOMEM), "out of memory");
    size_t r = 0;
    for (uint32_t i = 0; i < rp->rp_nconflicts; i++) {
        const ly_conflict *cf = &rp->rp_conflicts[i];
        /* The one that counts first, then the void ones in order. */
        rows[r][0] = i, rows[r++][1] = cf->cf_counts;
        for (uint32_t k = cf->cf_first; k < cf->cf_first + cf->cf_n; k++)
            if (k != cf->cf_counts)
                rows[r][0] = i, rows[r++][1] = k;
    }
    s_view v = {rp, nm, rows};
    ctl_table(stdout, s_cols, S_NCOLS, nrows, &v, s_row);
    free(rows);
    uint32_t hidden = 0;
    for (uint32_t i = 0; i < rp->rp_nconflicts; i++)
        hidden += rp->rp_conflicts[i].cf_total - rp->rp_conflicts[i].cf_n;
    printf("\n%u conflict%s listed%s; the one marked COUNTS is what every branch shows, the "
           "others change nothing\n",
           (unsigned)rp->rp_nconflicts, rp->rp_nconflicts == 1 ? "" : "s",
           rp->rp_more ? " (more follow)" : "");
    if (hidden)
        printf("%u later event%s with these keys not shown\n", (unsigned)hidden,
               hidden == 1 ? "" : "s");
    if (rp->rp_more)
        fprintf(stderr,
                "loyalctl: stopped at the limit of %" PRIu32 " conflicts; more with --after %s\n",
                limit, rp->rp_conflicts[rp->rp_nconflicts - 1].cf_key);
    return CTL_EXIT_OK;
}

int ctl_run_conflicts(ctl_ctx *x)
{
    int64_t limit = LY_CONFLICTS_DEFAULT;
    int rc;
    if (x->opt[CTL_O_LIMIT] &&
        (rc = ctl_int(x, "limit", x->opt[CTL_O_LIMIT], 1, LY_CONFLICTS_MAX, &limit)))
        return rc;
    const char *after = x->opt[CTL_O_AFTER] ? x->opt[CTL_O_AFTER] : "";
    if (strlen(after) > LY_ONCE_KEY_MAX || (after[0] && !ly_text_valid(after, LY_ONCE_KEY_MAX)))
        return ctl_usage(x, "--after: not a transaction id or once key: '%s'", after);

    ly_req rq;
    ly_rep rp;
    ly_req_init(&rq, LY_MSG_CONFLICTS);
    rq.rq_limit = (uint32_t)limit;
    ly_strlcpy(rq.rq_after, after, sizeof rq.rq_after);
    rc = ctl_call_ep(x, x->node, &rq, &rp);
    if (rc == CTL_EXIT_OK) {
        ctl_names *nm = calloc(1, sizeof *nm);
        if (nm && rp.rp_nconflicts)
            ctl_names_load(x, nm);
        rc = s_show(x, &rp, nm, (uint32_t)limit);
        free(nm);
    }
    ly_rep_fini(&rp);
    return rc;
}
