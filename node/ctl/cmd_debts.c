/* cmd_debts.c -- `debts`: the customers who owe points, page by page. */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/ctl/ctl.h"

/* The rows gathered from one or more debts replies. */
typedef struct s_debts {
    ly_debt *dl_rows; /* heap */
    size_t dl_n, dl_cap;
    int dl_more; /* the node has rows after the last one */
} s_debts;

static const ctl_col s_debt_cols[] = {
    {"CUSTOMER", 0},
    {"DEBT", 1},
    {"LIFETIME", 1},
    {"LAST ACTIVITY", 0},
};

#define S_DEBT_NCOLS ((int)(sizeof s_debt_cols / sizeof s_debt_cols[0]))

static void s_debt_row(const void *ctx, size_t i, ctl_cells c)
{
    const ly_debt *d = &((const s_debts *)ctx)->dl_rows[i];
    int k = 0;
    snprintf(c[k++], CTL_CELL_MAX, "%s", d->de_customer);
    snprintf(c[k++], CTL_CELL_MAX, "%s", ctl_num(d->de_debt));
    snprintf(c[k++], CTL_CELL_MAX, "%s", ctl_num(d->de_lifetime));
    ctl_iso(d->de_last_hlc, c[k++], CTL_CELL_MAX);
}

/* Append the rows of `rp`. Returns 0, or -1 when out of memory. */
static int s_debts_add(s_debts *dl, const ly_rep *rp)
{
    size_t n = rp->rp_debts ? rp->rp_ndebts : 0;
    if (n > LY_DEBTS_MAX)
        n = LY_DEBTS_MAX;
    if (dl->dl_n + n > dl->dl_cap) {
        size_t cap = dl->dl_cap ? dl->dl_cap * 2 : 128;
        while (cap < dl->dl_n + n)
            cap *= 2;
        ly_debt *rows = realloc(dl->dl_rows, cap * sizeof *rows);
        if (!rows)
            return -1;
        dl->dl_rows = rows;
        dl->dl_cap = cap;
    }
    if (n > 0)
        memcpy(dl->dl_rows + dl->dl_n, rp->rp_debts, n * sizeof *rp->rp_debts);
    dl->dl_n += n;
    dl->dl_more = rp->rp_more != 0;
    return 0;
}

static void s_debts_show(const ctl_ctx *x, const s_debts *dl, uint32_t limit)
{
    char at[40];
    if (x->json) {
        ly_json j;
        ly_json_init(&j, stdout);
        ly_json_object(&j);
        ly_json_karray(&j, "debts");
        for (size_t i = 0; i < dl->dl_n; i++) {
            const ly_debt *d = &dl->dl_rows[i];
            ly_json_object(&j);
            ly_json_kstr(&j, "customer", d->de_customer);
            ly_json_kint(&j, "debt", d->de_debt);
            ly_json_kint(&j, "lifetime_points", d->de_lifetime);
            if (d->de_last_hlc)
                ly_json_kstr(&j, "last_activity_at", ctl_iso(d->de_last_hlc, at, sizeof at));
            else
                ly_json_knull(&j, "last_activity_at");
            ly_json_end(&j);
        }
        ly_json_end(&j);
        ly_json_kbool(&j, "more", dl->dl_more);
        ly_json_end(&j);
        ly_json_finish(&j);
        return;
    }
    if (dl->dl_n == 0) {
        if (x->opt[CTL_O_AFTER])
            printf("no customer after %s owes points\n", x->opt[CTL_O_AFTER]);
        else
            printf("no customer owes points\n");
        return;
    }
    int64_t total = 0;
    for (size_t i = 0; i < dl->dl_n; i++)
        total =
            dl->dl_rows[i].de_debt > INT64_MAX - total ? INT64_MAX : total + dl->dl_rows[i].de_debt;
    ctl_table(stdout, s_debt_cols, S_DEBT_NCOLS, dl->dl_n, dl, s_debt_row);
    printf("\n%zu customer%s listed, owing %s %s%s\n", dl->dl_n, dl->dl_n == 1 ? "" : "s",
           ctl_num(total), ctl_points_word(total), dl->dl_more ? " (more follow)" : "");
    if (dl->dl_more)
        fprintf(stderr,
                "loyalctl: stopped at the limit of %" PRIu32 " customers; more with --after %s, "
                "or all with --all\n",
                limit, dl->dl_rows[dl->dl_n - 1].de_customer);
}

int ctl_run_debts(ctl_ctx *x)
{
    int64_t limit = LY_DEBTS_MAX;
    char after[LY_ID_MAX + 1] = "";
    int rc = 0, all = x->opt[CTL_O_ALL] != NULL;
    if (x->opt[CTL_O_LIMIT] &&
        (rc = ctl_int(x, "limit", x->opt[CTL_O_LIMIT], 1, LY_DEBTS_MAX, &limit)))
        return rc;
    if (x->opt[CTL_O_AFTER] &&
        (rc = ctl_id(x, "customer id", x->opt[CTL_O_AFTER], after, sizeof after)))
        return rc;

    s_debts dl = {0};
    for (;;) {
        ly_req rq;
        ly_rep rp;
        ly_req_init(&rq, LY_MSG_DEBTS);
        rq.rq_limit = (uint32_t)limit;
        ly_strlcpy(rq.rq_customer, after, sizeof rq.rq_customer);
        rc = ctl_call_ep(x, x->node, &rq, &rp);
        size_t got = rp.rp_debts ? rp.rp_ndebts : 0;
        if (rc == CTL_EXIT_OK && s_debts_add(&dl, &rp) != 0)
            rc = ctl_fail(x, CTL_EXIT_FAILED, ly_errname(LY_ENOMEM), "out of memory");
        ly_rep_fini(&rp);
        if (rc != CTL_EXIT_OK || !all || !dl.dl_more)
            break;
        /* The next page starts after the last row; a node that says "more" but
         * does not move forward would make this loop forever. */
        const char *last = got > 0 ? dl.dl_rows[dl.dl_n - 1].de_customer : NULL;
        if (!last || strcmp(last, after) <= 0) {
            rc = ctl_fail(x, CTL_EXIT_FAILED, ly_errname(LY_EPROTO),
                          "%s answered a debts page that does not advance past '%s'", x->node,
                          after);
            break;
        }
        ly_strlcpy(after, last, sizeof after);
    }
    if (rc == CTL_EXIT_OK)
        s_debts_show(x, &dl, (uint32_t)limit);
    free(dl.dl_rows);
    return rc;
}
