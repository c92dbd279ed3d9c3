/* cmd_program.c -- `program check|apply|show|history`: the chain's loyalty
 * program as chain data (common/program.h). `check` reads a program file and
 * needs no node; `apply` sends its canonical form to a node, which makes it a
 * replicated program version; `show` prints a version back as a program
 * file; `history` lists the versions the node holds. */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/program.h"
#include "common/rules.h"
#include "node/ctl/ctl.h"

static const char *const s_states[] = {"?", "in force", "scheduled", "superseded", "lost"};
static const char *const s_state_keys[] = {"?", "in_force", "scheduled", "superseded", "lost"};

static const char *s_state(uint8_t st, int json)
{
    if (st < LY_PW_IN_FORCE || st > LY_PW_LOST)
        st = 0;
    return json ? s_state_keys[st] : s_states[st];
}

/* "2027-01-01T00:00:00.000Z", or "at once" for 0. */
static const char *s_effective(int64_t ms, char *buf, size_t cap)
{
    if (ms <= 0) {
        snprintf(buf, cap, "at once");
        return buf;
    }
    return ctl_iso((uint64_t)ms << 16, buf, cap);
}

/* Reads and checks the FILE argument. A bad file is a usage error (exit 2,
 * "FILE:LINE: reason"): nothing is sent. */
static int s_load(const ctl_ctx *x, ly_progdef *pd)
{
    char why[512];
    ly_err e = ly_progdef_load(x->pos[0], pd, why, sizeof why);
    if (e == LY_OK)
        return CTL_EXIT_OK;
    fprintf(stderr, "loyalctl: %s\n", why);
    if (x->json)
        ctl_json_error(ly_errname(e), why, 0, 0);
    return e == LY_ENOMEM ? CTL_EXIT_FAILED : CTL_EXIT_USAGE;
}

static void s_counts(const ly_progdef *pd, char *buf, size_t cap)
{
    snprintf(buf, cap, "%d tier%s, %d categor%s, %d campaign%s", pd->pd_ntiers,
             pd->pd_ntiers == 1 ? "" : "s", pd->pd_ncategories,
             pd->pd_ncategories == 1 ? "y" : "ies", pd->pd_ncampaigns,
             pd->pd_ncampaigns == 1 ? "" : "s");
}

int ctl_run_program_check(ctl_ctx *x)
{
    ly_progdef *pd = malloc(sizeof *pd);
    uint8_t *buf = malloc(LY_PD_ENC_MAX);
    int rc = CTL_EXIT_FAILED;
    if (!pd || !buf) {
        rc = ctl_fail(x, CTL_EXIT_FAILED, ly_errname(LY_ENOMEM), "out of memory");
        goto out;
    }
    if ((rc = s_load(x, pd)) != CTL_EXIT_OK)
        goto out;
    size_t len = ly_progdef_encode(pd, buf, LY_PD_ENC_MAX);
    char hash[17], eff[40], counts[128];
    ctl_hex64(ly_progdef_hash(pd), hash, sizeof hash);
    s_effective(pd->pd_effective_ms, eff, sizeof eff);
    s_counts(pd, counts, sizeof counts);
    if (x->json) {
        ly_json j;
        ly_json_init(&j, stdout);
        ly_json_object(&j);
        ly_json_kstr(&j, "file", x->pos[0]);
        ly_json_kbool(&j, "valid", 1);
        ly_json_kuint(&j, "version", pd->pd_version);
        ly_json_kstr(&j, "name", pd->pd_name);
        ly_json_kint(&j, "effective_ms", pd->pd_effective_ms);
        ly_json_kstr(&j, "hash", hash);
        ly_json_kuint(&j, "bytes", len);
        ly_json_kuint(&j, "parts", (uint64_t)ly_program_parts((int64_t)len));
        ly_json_kuint(&j, "tiers", (uint64_t)pd->pd_ntiers);
        ly_json_kuint(&j, "categories", (uint64_t)pd->pd_ncategories);
        ly_json_kuint(&j, "campaigns", (uint64_t)pd->pd_ncampaigns);
        ly_json_end(&j);
        ly_json_finish(&j);
    } else {
        printf("%s: valid: program \"%s\" version %" PRIu32 ", effective %s; %s; %zu bytes, "
               "hash %s\n",
               x->pos[0], pd->pd_name, pd->pd_version, eff, counts, len, hash);
    }
    rc = CTL_EXIT_OK;
out:
    free(pd);
    free(buf);
    return rc;
}

static void s_json_row(ly_json *j, const ly_progrow *w, const ctl_names *nm)
{
    char hash[17];
    ly_json_object(j);
    ly_json_kuint(j, "version", w->pw_version);
    ly_json_kstr(j, "state", s_state(w->pw_state, 1));
    ly_json_kstr(j, "name", w->pw_name);
    ly_json_kint(j, "effective_ms", w->pw_effective_ms);
    ly_json_kuint(j, "applied_ms", w->pw_hlc >> 16);
    ly_json_kuint(j, "origin", w->pw_origin);
    ly_json_kstr(j, "branch", ctl_node_label(nm, w->pw_origin, 0));
    ly_json_kuint(j, "seq", w->pw_seq);
    ly_json_kstr(j, "hash", ctl_hex64(w->pw_hash, hash, sizeof hash));
    ly_json_kstr(j, "operator", w->pw_operator);
    ly_json_kstr(j, "reason", w->pw_reason);
    ly_json_end(j);
}

int ctl_run_program_apply(ctl_ctx *x)
{
    ly_progdef *pd = malloc(sizeof *pd);
    uint8_t *buf = malloc(LY_PD_ENC_MAX);
    int rc = CTL_EXIT_FAILED;
    ly_req rq;
    ly_rep rp;
    ly_req_init(&rq, LY_MSG_PROGRAM_APPLY);
    ly_rep_init(&rp);
    if (!pd || !buf) {
        rc = ctl_fail(x, CTL_EXIT_FAILED, ly_errname(LY_ENOMEM), "out of memory");
        goto out;
    }
    if ((rc = ctl_operator(x, rq.rq_operator, sizeof rq.rq_operator)) != 0)
        goto out;
    if (x->opt[CTL_O_REASON] && (rc = ctl_text(x, "--reason", x->opt[CTL_O_REASON], LY_TEXT_MAX,
                                               rq.rq_reason, sizeof rq.rq_reason)) != 0)
        goto out;
    if ((rc = s_load(x, pd)) != CTL_EXIT_OK)
        goto out;
    size_t len = ly_progdef_encode(pd, buf, LY_PD_ENC_MAX);
    rq.rq_blob = buf; /* borrowed: not freed by the request */
    rq.rq_blob_len = (uint32_t)len;
    rc = ctl_call_ep(x, x->node, &rq, &rp);
    rq.rq_blob = NULL;
    if (rc != CTL_EXIT_OK)
        goto out;
    const ly_progrow *w = rp.rp_nprograms ? &rp.rp_programs[0] : NULL;
    if (x->json) {
        ly_json j;
        ly_json_init(&j, stdout);
        ly_json_object(&j);
        ly_json_kuint(&j, "version", rp.rp_program);
        ly_json_kbool(&j, "replayed", rp.rp_replayed);
        ly_json_kuint(&j, "parts", (uint64_t)ly_program_parts((int64_t)len));
        if (w) {
            ly_json_key(&j, "program");
            s_json_row(&j, w, NULL);
        }
        ly_json_end(&j);
        ly_json_finish(&j);
    } else {
        char hash[17], eff[40];
        ctl_hex64(ly_progdef_hash(pd), hash, sizeof hash);
        s_effective(pd->pd_effective_ms, eff, sizeof eff);
        if (rp.rp_replayed)
            printf("program version %" PRIu32 " \"%s\" was applied already (same content, hash "
                   "%s): nothing changed\n",
                   pd->pd_version, pd->pd_name, hash);
        else
            printf("applied program version %" PRIu32 " \"%s\" (%d part%s, hash %s), effective "
                   "%s; it %s\nit reaches the other branches like any event: "
                   "'loyalctl verify' shows when every branch runs it\n",
                   pd->pd_version, pd->pd_name, ly_program_parts((int64_t)len),
                   ly_program_parts((int64_t)len) == 1 ? "" : "s", hash, eff,
                   w && w->pw_state == LY_PW_IN_FORCE ? "is in force now at this branch"
                                                      : "is scheduled at this branch");
    }
out:
    ly_rep_fini(&rp);
    free(pd);
    free(buf);
    return rc;
}

/* The version the reply carries as part events, decoded. */
static int s_assemble(const ly_rep *rp, ly_progdef *pd)
{
    uint8_t *buf = malloc(LY_PD_ENC_MAX);
    size_t len = 0;
    int ok = buf != NULL && rp->rp_nevents > 0;
    for (uint32_t i = 0; ok && i < rp->rp_nevents; i++) {
        const ly_event *ev = &rp->rp_events[i];
        ok = ev->ev_type == LY_EV_PROGRAM && ev->ev_part == i + 1 &&
             ev->ev_parts == rp->rp_nevents && len + ev->ev_blob_len <= LY_PD_ENC_MAX;
        if (ok) {
            memcpy(buf + len, ev->ev_blob, ev->ev_blob_len);
            len += ev->ev_blob_len;
        }
    }
    ok = ok && ly_progdef_decode(buf, len, pd) == LY_OK;
    free(buf);
    return ok;
}

static int s_ask_program(ctl_ctx *x, uint32_t version, ly_rep *rp)
{
    ly_req rq;
    ly_req_init(&rq, LY_MSG_PROGRAM);
    rq.rq_version = version;
    return ctl_call_ep(x, x->node, &rq, rp);
}

static int s_version_opt(ctl_ctx *x, uint32_t *v)
{
    int64_t n = 0;
    int rc;
    *v = 0;
    if (x->opt[CTL_O_VERSION] &&
        (rc = ctl_int(x, "--version", x->opt[CTL_O_VERSION], 1, UINT32_MAX, &n)) != 0)
        return rc;
    *v = (uint32_t)n;
    return 0;
}

int ctl_run_program_show(ctl_ctx *x)
{
    uint32_t version;
    int rc = s_version_opt(x, &version);
    if (rc)
        return rc;
    ly_rep rp;
    ly_progdef *pd = malloc(sizeof *pd);
    if (!pd)
        return ctl_fail(x, CTL_EXIT_FAILED, ly_errname(LY_ENOMEM), "out of memory");
    if ((rc = s_ask_program(x, version, &rp)) != CTL_EXIT_OK)
        goto out;
    if (rp.rp_program == 0)
        ly_progdef_default(pd);
    else if (!s_assemble(&rp, pd)) {
        rc = ctl_fail(x, CTL_EXIT_FAILED, ly_errname(LY_EPROTO),
                      "the node's answer does not hold program version %" PRIu32, rp.rp_program);
        goto out;
    }
    const ly_progrow *w = NULL, *next = NULL;
    for (uint32_t i = 0; i < rp.rp_nprograms; i++) {
        const ly_progrow *r = &rp.rp_programs[i];
        if (r->pw_version == rp.rp_program && r->pw_state != LY_PW_LOST && !w)
            w = r;
        if (r->pw_state == LY_PW_SCHEDULED && (!next || r->pw_effective_ms < next->pw_effective_ms))
            next = r;
    }
    char *text = NULL;
    size_t tlen = 0;
    FILE *mf = open_memstream(&text, &tlen);
    int wrote = mf && ly_progdef_write(pd, mf) == 0;
    if (mf)
        fclose(mf);
    if (!wrote) {
        free(text);
        rc = ctl_fail(x, CTL_EXIT_FAILED, ly_errname(LY_ENOMEM), "could not write the program");
        goto out;
    }
    char hash[17], eff[40], when[40];
    ctl_hex64(ly_progdef_hash(pd), hash, sizeof hash);
    if (x->json) {
        ly_json j;
        ly_json_init(&j, stdout);
        ly_json_object(&j);
        ly_json_kuint(&j, "version", rp.rp_program);
        ly_json_kstr(&j, "state",
                     rp.rp_program == 0 ? "in_force"
                     : w                ? s_state(w->pw_state, 1)
                                        : "?");
        ly_json_kstr(&j, "name", pd->pd_name);
        ly_json_kstr(&j, "hash", hash);
        ly_json_kint(&j, "effective_ms", pd->pd_effective_ms);
        ly_json_kbool(&j, "default", rp.rp_program == 0);
        if (w) {
            ly_json_key(&j, "applied");
            s_json_row(&j, w, NULL);
        }
        if (next) {
            ly_json_key(&j, "scheduled");
            s_json_row(&j, next, NULL);
        }
        ly_json_kstr(&j, "text", text);
        ly_json_end(&j);
        ly_json_finish(&j);
    } else {
        if (rp.rp_program == 0)
            printf("; the default program, version 0: no program has been applied to this "
                   "chain\n; (loyalctl program apply FILE replaces it)\n");
        else
            printf("; program version %" PRIu32 " (%s), hash %s, effective %s\n; applied %s at "
                   "node %u by %s%s%s\n",
                   rp.rp_program, w ? s_state(w->pw_state, 0) : "?", hash,
                   s_effective(pd->pd_effective_ms, eff, sizeof eff),
                   w ? ctl_iso(w->pw_hlc, when, sizeof when) : "?", w ? w->pw_origin : 0,
                   w && w->pw_operator[0] ? w->pw_operator : "?", w && w->pw_reason[0] ? ": " : "",
                   w ? w->pw_reason : "");
        if (next && next->pw_version != rp.rp_program)
            printf("; version %" PRIu32 " is scheduled from %s (loyalctl program show --version "
                   "%" PRIu32 ")\n",
                   next->pw_version, s_effective(next->pw_effective_ms, eff, sizeof eff),
                   next->pw_version);
        fputs(text, stdout);
    }
    free(text);
out:
    ly_rep_fini(&rp);
    free(pd);
    return rc;
}

static const ctl_col s_cols[] = {
    {"VERSION", 1}, {"STATE", 0}, {"NAME", 0}, {"EFFECTIVE", 0}, {"APPLIED", 0},
    {"BRANCH", 0},  {"BY", 0},    {"HASH", 0}, {"REASON", 0},
};
#define S_NCOLS ((int)(sizeof s_cols / sizeof s_cols[0]))

typedef struct s_view {
    const ly_rep *sv_rp;
    const ctl_names *sv_nm;
} s_view;

static void s_row(const void *ctx, size_t i, ctl_cells c)
{
    const s_view *v = ctx;
    const ly_progrow *w = &v->sv_rp->rp_programs[i];
    int col = 0;
    snprintf(c[col++], CTL_CELL_MAX, "%" PRIu32, w->pw_version);
    snprintf(c[col++], CTL_CELL_MAX, "%s", s_state(w->pw_state, 0));
    snprintf(c[col++], CTL_CELL_MAX, "%s", w->pw_name);
    s_effective(w->pw_effective_ms, c[col++], CTL_CELL_MAX);
    ctl_iso(w->pw_hlc, c[col++], CTL_CELL_MAX);
    snprintf(c[col++], CTL_CELL_MAX, "%s", ctl_node_label(v->sv_nm, w->pw_origin, 1));
    snprintf(c[col++], CTL_CELL_MAX, "%s", w->pw_operator[0] ? w->pw_operator : "-");
    ctl_hex64(w->pw_hash, c[col++], CTL_CELL_MAX);
    snprintf(c[col++], CTL_CELL_MAX, "%s", w->pw_reason);
}

int ctl_run_program_history(ctl_ctx *x)
{
    uint32_t version;
    int rc = s_version_opt(x, &version);
    if (rc)
        return rc;
    ly_rep rp;
    if ((rc = s_ask_program(x, version, &rp)) != CTL_EXIT_OK) {
        ly_rep_fini(&rp);
        return rc;
    }
    ctl_names *nm = calloc(1, sizeof *nm);
    if (nm && rp.rp_nprograms)
        ctl_names_load(x, nm);
    if (x->json) {
        ly_json j;
        ly_json_init(&j, stdout);
        ly_json_object(&j);
        ly_json_kuint(&j, "in_force", rp.rp_program);
        ly_json_karray(&j, "programs");
        for (uint32_t i = 0; i < rp.rp_nprograms; i++)
            s_json_row(&j, &rp.rp_programs[i], nm);
        ly_json_end(&j);
        ly_json_end(&j);
        ly_json_finish(&j);
    } else if (rp.rp_nprograms == 0) {
        printf("no program has been applied: the chain runs the default program, version 0\n");
    } else {
        s_view v = {&rp, nm};
        ctl_table(stdout, s_cols, S_NCOLS, rp.rp_nprograms, &v, s_row);
        uint32_t lost = 0;
        for (uint32_t i = 0; i < rp.rp_nprograms; i++)
            lost += rp.rp_programs[i].pw_state == LY_PW_LOST;
        if (lost)
            printf("\n%" PRIu32 " version%s lost: the same number was applied at another branch "
                   "first (earlier clock); a lost one ran only at its branch until the branches "
                   "met, and "
                   "what was earned under it keeps its points\n",
                   lost, lost == 1 ? "" : "s");
        if (rp.rp_nprograms == LY_PROGRAMS_MAX)
            fprintf(stderr,
                    "loyalctl: the %d newest shown; older ones with --version N (lists N and "
                    "below)\n",
                    LY_PROGRAMS_MAX);
    }
    free(nm);
    ly_rep_fini(&rp);
    return CTL_EXIT_OK;
}
