/* cmd_verify.c -- `verify`: ask every node of the chain for its status and
 * compare their version vectors and digests. */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/ctl/ctl.h"

/* One node of the chain as `verify` sees it. */
typedef struct s_vnode {
    uint16_t vn_id;
    char vn_name[64];
    char vn_client[LY_ENDPOINT_MAX + 1]; /* the endpoint asked ("" if none is known) */
    char vn_key[LY_KEY_Z85 + 1];         /* with keys: its public key ("" if unknown) */
    char vn_key_from[256];               /* ... and where it came from, for messages */
    int vn_answered;
    char vn_why[CTL_CELL_MAX]; /* why it did not answer */
    ly_node_status vn_st;      /* its status if it answered (without peer rows) */
    uint64_t vn_behind;        /* events of the union of all version vectors it lacks */
    int vn_digest_ok;          /* it holds the union and the reference digest */
    int vn_program_ok;         /* it runs the program the first node that answered runs */
} s_vnode;

/* One (origin, incarnation) of the union of the version vectors. */
typedef struct s_vvmax {
    uint16_t vm_origin;
    uint32_t vm_incarnation;
    uint64_t vm_seq; /* the highest any node holds */
} s_vvmax;

/* Keep the status in `rp` as node `v`'s answer (without its peer rows). */
static void s_verify_take(s_vnode *v, const ly_rep *rp)
{
    v->vn_answered = 1;
    v->vn_st = *rp->rp_status;
    v->vn_st.ns_peers = NULL; /* still owned by `rp` */
    v->vn_st.ns_npeers = 0;
    if (!v->vn_name[0])
        ly_strlcpy(v->vn_name, rp->rp_status->ns_name, sizeof v->vn_name);
}

/* Ask peer `v` (vn_id and vn_client set; with keys vn_key too) for its status:
 * fills vn_st, or vn_why when it does not answer, refuses, or is another node
 * than expected. */
static void s_verify_ask(const ctl_ctx *x, s_vnode *v)
{
    const char *code;
    ly_req rq;
    ly_rep rp;
    ly_req_init(&rq, LY_MSG_STATUS);
    int rc = ctl_ask(x, v->vn_client, v->vn_key, v->vn_key_from, x->timeout_s, &rq, &rp, &code,
                     v->vn_why, sizeof v->vn_why);
    if (rc == CTL_EXIT_OK && rp.rp_err != LY_OK)
        snprintf(v->vn_why, sizeof v->vn_why, "refused: %s (%s)",
                 rp.rp_message[0] ? rp.rp_message : ly_strerror((ly_err)rp.rp_err),
                 ly_errname((ly_err)rp.rp_err));
    else if (rc == CTL_EXIT_OK && rp.rp_status->ns_id != v->vn_id)
        snprintf(v->vn_why, sizeof v->vn_why, "%s is node %u (%s), not node %u", v->vn_client,
                 (unsigned)rp.rp_status->ns_id, rp.rp_status->ns_name, (unsigned)v->vn_id);
    else if (rc == CTL_EXIT_OK)
        s_verify_take(v, &rp);
    ly_rep_fini(&rp);
}

/* With keys: peer `v`'s public key from the [peer] of its id in --config into
 * vn_key; without one there, vn_why says so (and it is not asked). */
static void s_verify_peer_key(const ctl_ctx *x, s_vnode *v)
{
    const ly_config *cf = x->config;
    for (int k = 0; cf && k < cf->cf_npeers; k++)
        if (cf->cf_peers[k].pc_id == v->vn_id && cf->cf_peers[k].pc_public[0]) {
            ly_strlcpy(v->vn_key, cf->cf_peers[k].pc_public, sizeof v->vn_key);
            snprintf(v->vn_key_from, sizeof v->vn_key_from, "the key of [peer %s] in %.80s",
                     cf->cf_peers[k].pc_name, x->opt[CTL_O_CONFIG]);
            return;
        }
    if (cf)
        snprintf(v->vn_why, sizeof v->vn_why,
                 "its public key is unknown: %.200s has no [peer] with id %u and a key",
                 x->opt[CTL_O_CONFIG], (unsigned)v->vn_id);
    else
        snprintf(v->vn_why, sizeof v->vn_why,
                 "its public key is unknown: with keys, give --config FILE (a node config whose "
                 "[peer] sections list the peers' keys)");
}

/* Seq of (origin, incarnation) in `ns`'s version vector, 0 if absent. */
static uint64_t s_vv_seq(const ly_node_status *ns, uint16_t origin, uint32_t incarnation)
{
    uint32_t nvv = ns->ns_nvv < LY_VV_MAX ? ns->ns_nvv : LY_VV_MAX;
    for (uint32_t i = 0; i < nvv; i++)
        if (ns->ns_vv[i].origin == origin && ns->ns_vv[i].incarnation == incarnation)
            return ns->ns_vv[i].seq;
    return 0;
}

/* Compare the nodes that answered: the union of their version vectors (in
 * `um`, room for n * LY_VV_MAX entries), each one's events behind it, and
 * each one's digest against the first node that holds the whole union.
 * Returns 1 if every node answered and all agree. */
static int s_verify_compare(s_vnode *v, size_t n, s_vvmax *um)
{
    size_t nu = 0;
    for (size_t i = 0; i < n; i++) {
        const ly_node_status *ns = &v[i].vn_st;
        uint32_t nvv = ns->ns_nvv < LY_VV_MAX ? ns->ns_nvv : LY_VV_MAX;
        for (uint32_t k = 0; v[i].vn_answered && k < nvv; k++) {
            size_t u = 0;
            while (u < nu && (um[u].vm_origin != ns->ns_vv[k].origin ||
                              um[u].vm_incarnation != ns->ns_vv[k].incarnation))
                u++;
            if (u == nu)
                um[nu++] = (s_vvmax){ns->ns_vv[k].origin, ns->ns_vv[k].incarnation, 0};
            if (ns->ns_vv[k].seq > um[u].vm_seq)
                um[u].vm_seq = ns->ns_vv[k].seq;
        }
    }
    const s_vnode *ref = NULL;
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].vn_answered) {
            ok = 0;
            continue;
        }
        v[i].vn_behind = 0;
        for (size_t u = 0; u < nu; u++) {
            uint64_t have = s_vv_seq(&v[i].vn_st, um[u].vm_origin, um[u].vm_incarnation);
            uint64_t d = um[u].vm_seq - have;
            v[i].vn_behind = v[i].vn_behind > UINT64_MAX - d ? UINT64_MAX : v[i].vn_behind + d;
        }
        if (v[i].vn_behind == 0 && !ref)
            ref = &v[i];
        v[i].vn_digest_ok =
            v[i].vn_behind == 0 && ref && v[i].vn_st.ns_digest == ref->vn_st.ns_digest;
        ok &= v[i].vn_digest_ok;
    }
    /* The same events give the same program, but a node may hold a version
     * the others lack (a cut), or run another by its clock (an effective time
     * just passing): either way the branches do not apply the same rules. */
    const s_vnode *first = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!v[i].vn_answered)
            continue;
        if (!first)
            first = &v[i];
        v[i].vn_program_ok = v[i].vn_st.ns_program == first->vn_st.ns_program &&
                             v[i].vn_st.ns_program_hash == first->vn_st.ns_program_hash;
        ok &= v[i].vn_program_ok;
    }
    return ok;
}

/* The last column of a verify line. */
static const char *s_verify_state(const s_vnode *v, char *buf, size_t cap)
{
    if (!v->vn_answered)
        snprintf(buf, cap, "%s", v->vn_why);
    else if (v->vn_behind > 0)
        snprintf(buf, cap, "differs by %s event%s", ctl_unum(v->vn_behind),
                 v->vn_behind == 1 ? "" : "s");
    else if (!v->vn_digest_ok)
        snprintf(buf, cap, "same events, different digest (state diverged)");
    else if (!v->vn_program_ok)
        snprintf(buf, cap, "runs another program (version %" PRIu32 ")", v->vn_st.ns_program);
    else
        snprintf(buf, cap, "agrees");
    if (v->vn_answered && v->vn_behind > 0 && !v->vn_program_ok) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "; runs program version %" PRIu32, v->vn_st.ns_program);
    }
    return buf;
}

static const ctl_col s_verify_cols[] = {
    {"ID", 1},     {"NAME", 0},   {"CLIENT", 0},  {"ANSWERED", 0},
    {"EVENTS", 1}, {"DIGEST", 0}, {"PROGRAM", 1}, {"STATE", 0},
};

#define S_VERIFY_NCOLS ((int)(sizeof s_verify_cols / sizeof s_verify_cols[0]))

static void s_verify_row(const void *ctx, size_t i, ctl_cells c)
{
    const s_vnode *v = &((const s_vnode *)ctx)[i];
    int k = 0;
    snprintf(c[k++], CTL_CELL_MAX, "%u", (unsigned)v->vn_id);
    snprintf(c[k++], CTL_CELL_MAX, "%s", v->vn_name[0] ? v->vn_name : "-");
    snprintf(c[k++], CTL_CELL_MAX, "%s", v->vn_client[0] ? v->vn_client : "-");
    snprintf(c[k++], CTL_CELL_MAX, "%s", v->vn_answered ? "yes" : "no");
    snprintf(c[k++], CTL_CELL_MAX, "%s", v->vn_answered ? ctl_unum(v->vn_st.ns_events) : "-");
    if (v->vn_answered)
        ctl_hex64(v->vn_st.ns_digest, c[k++], CTL_CELL_MAX);
    else
        snprintf(c[k++], CTL_CELL_MAX, "-");
    if (v->vn_answered)
        snprintf(c[k++], CTL_CELL_MAX, "%" PRIu32, v->vn_st.ns_program);
    else
        snprintf(c[k++], CTL_CELL_MAX, "-");
    s_verify_state(v, c[k++], CTL_CELL_MAX);
}

static void s_verify_json(const s_vnode *v, size_t n, int ok)
{
    char digest[17];
    ly_json j;
    ly_json_init(&j, stdout);
    ly_json_object(&j);
    ly_json_kbool(&j, "ok", ok);
    ly_json_karray(&j, "nodes");
    for (size_t i = 0; i < n; i++) {
        ly_json_object(&j);
        ly_json_kuint(&j, "id", v[i].vn_id);
        ly_json_kstr(&j, "name", v[i].vn_name);
        ly_json_kstr(&j, "client", v[i].vn_client);
        ly_json_kbool(&j, "answered", v[i].vn_answered);
        if (v[i].vn_answered) {
            ly_json_kuint(&j, "events", v[i].vn_st.ns_events);
            ly_json_kstr(&j, "digest", ctl_hex64(v[i].vn_st.ns_digest, digest, sizeof digest));
            ly_json_kuint(&j, "behind", v[i].vn_behind);
            ly_json_kuint(&j, "program", v[i].vn_st.ns_program);
            ly_json_kstr(&j, "program_hash",
                         ctl_hex64(v[i].vn_st.ns_program_hash, digest, sizeof digest));
            ly_json_kbool(&j, "program_ok", v[i].vn_program_ok);
            ly_json_key(&j, "vv");
            ctl_json_vv(&j, &v[i].vn_st);
            ly_json_knull(&j, "error");
        } else {
            ly_json_knull(&j, "events");
            ly_json_knull(&j, "digest");
            ly_json_knull(&j, "behind");
            ly_json_knull(&j, "program");
            ly_json_knull(&j, "program_hash");
            ly_json_kbool(&j, "program_ok", 0);
            ly_json_knull(&j, "vv");
            ly_json_kstr(&j, "error", v[i].vn_why);
        }
        ly_json_end(&j);
    }
    ly_json_end(&j);
    ly_json_end(&j);
    ly_json_finish(&j);
}

static void s_verify_print(const s_vnode *v, size_t n, int ok)
{
    size_t answered = 0, differ = 0;
    char digest[17];
    ctl_table(stdout, s_verify_cols, S_VERIFY_NCOLS, n, v, s_verify_row);
    for (size_t i = 0; i < n; i++) {
        answered += v[i].vn_answered != 0;
        differ += v[i].vn_answered && (!v[i].vn_digest_ok || !v[i].vn_program_ok);
    }
    if (ok && n == 1)
        printf("\nconverged, trivially: node %u reported no peers (%s events, digest %s)\n",
               (unsigned)v[0].vn_id, ctl_unum(v[0].vn_st.ns_events),
               ctl_hex64(v[0].vn_st.ns_digest, digest, sizeof digest));
    else if (ok)
        printf("\nconverged: all %zu nodes hold the same %s events, digest %s, and run program "
               "version %" PRIu32 "\n",
               n, ctl_unum(v[0].vn_st.ns_events),
               ctl_hex64(v[0].vn_st.ns_digest, digest, sizeof digest), v[0].vn_st.ns_program);
    else if (differ > 0 && answered < n)
        printf("\nnot converged: %zu of %zu nodes differ, %zu did not answer\n", differ, n,
               n - answered);
    else if (differ > 0)
        printf("\nnot converged: %zu of %zu nodes differ\n", differ, n);
    else
        printf("\nnot verified: %zu of %zu nodes did not answer\n", n - answered, n);
}

int ctl_run_verify(ctl_ctx *x)
{
    const ly_config *cf = x->config; /* with --config (loaded by main.c) */
    const char *first = x->node;

    ly_req rq;
    ly_rep rp;
    ly_req_init(&rq, LY_MSG_STATUS);
    int rc = ctl_call_ep(x, first, &rq, &rp);
    if (rc != CTL_EXIT_OK) {
        ly_rep_fini(&rp);
        return rc;
    }

    if (cf && rp.rp_status->ns_id != cf->cf_node_id) {
        rc = ctl_fail(x, CTL_EXIT_FAILED, ly_errname(LY_EINVAL),
                      "%s is node %u (%s), but %s configures node %u", first,
                      (unsigned)rp.rp_status->ns_id, rp.rp_status->ns_name, x->opt[CTL_O_CONFIG],
                      (unsigned)cf->cf_node_id);
        ly_rep_fini(&rp);
        return rc;
    }

    /* With --config, peers configured there but missing from the status count too. */
    size_t n = 1 + ctl_npeers(rp.rp_status), nconf = cf ? (size_t)cf->cf_npeers : 0;
    s_vnode *v = calloc(n + nconf, sizeof *v);
    s_vvmax *um = calloc((n + nconf) * LY_VV_MAX, sizeof *um);
    if (!v || !um) {
        free(v);
        free(um);
        ly_rep_fini(&rp);
        return ctl_fail(x, CTL_EXIT_FAILED, ly_errname(LY_ENOMEM), "out of memory");
    }
    v[0].vn_id = rp.rp_status->ns_id;
    ly_strlcpy(v[0].vn_client, first, sizeof v[0].vn_client);
    s_verify_take(&v[0], &rp);
    for (size_t i = 1; i < n; i++) {
        const ly_peer_status *ps = &rp.rp_status->ns_peers[i - 1];
        v[i].vn_id = ps->ps_id;
        ly_strlcpy(v[i].vn_name, ps->ps_name, sizeof v[i].vn_name);
        if (!ps->ps_client[0])
            snprintf(v[i].vn_why, sizeof v[i].vn_why,
                     "its client endpoint is unknown (node %u has not heard it announce one)",
                     (unsigned)v[0].vn_id);
        else if (ctl_connect_form(ps->ps_client, ps->ps_endpoint, v[i].vn_client,
                                  sizeof v[i].vn_client) != 0)
            snprintf(v[i].vn_why, sizeof v[i].vn_why,
                     "its announced client endpoint '%s' is not one to connect to", ps->ps_client);
    }
    ly_rep_fini(&rp);
    for (size_t k = 0, n0 = n; k < nconf; k++) {
        const ly_peer_conf *pc = &cf->cf_peers[k];
        size_t i = 1;
        while (i < n0 && v[i].vn_id != pc->pc_id)
            i++;
        if (i < n0)
            continue;
        v[n].vn_id = pc->pc_id;
        ly_strlcpy(v[n].vn_name, pc->pc_name, sizeof v[n].vn_name);
        snprintf(v[n].vn_why, sizeof v[n].vn_why,
                 "a peer in %.200s, but not in the status of node %u", x->opt[CTL_O_CONFIG],
                 (unsigned)v[0].vn_id);
        n++;
    }

    for (size_t i = 1; i < n; i++) {
        if (v[i].vn_client[0] && x->curve)
            s_verify_peer_key(x, &v[i]);
        if (v[i].vn_client[0] && (!x->curve || v[i].vn_key[0]))
            s_verify_ask(x, &v[i]);
    }
    int ok = s_verify_compare(v, n, um);
    if (x->json)
        s_verify_json(v, n, ok);
    else
        s_verify_print(v, n, ok);
    free(v);
    free(um);
    return ok ? CTL_EXIT_OK : CTL_EXIT_FAILED;
}
