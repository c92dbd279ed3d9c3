/* call.c -- loyalctl's node I/O: asking a node, reporting failures and
 * refusals, node names, endpoints to connect to (ctl.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "node/ctl/ctl.h"

int ctl_fail(const ctl_ctx *x, int rc, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "loyalctl: %s\n", msg);
    if (x->json)
        ctl_json_error(code, msg, 0, 0);
    return rc;
}

/* The node refused the operation `rq` (rp_err != LY_OK). Returns 1. */
static int s_refused(const ctl_ctx *x, const ly_req *rq, const ly_rep *rp)
{
    ly_err e = (ly_err)rp->rp_err;
    const char *msg = rp->rp_message[0] ? rp->rp_message : ly_strerror(e);
    char keymsg[512];
    if (e == LY_EFORBIDDEN && !rp->rp_message[0] && x->curve) {
        snprintf(keymsg, sizeof keymsg, "the key %s may not do that", x->key_file);
        msg = keymsg;
    }
    if (e == LY_EINSUFFICIENT_LOCAL) {
        /* The balance suffices, this branch's rights do not, and the other
         * branches did not transfer theirs in time (DESIGN.md section 5). */
        char full[512], asked[64] = "";
        int64_t a = rp->rp_available > 0 ? rp->rp_available : 0;
        if (rq->rq_type == LY_MSG_REDEEM || (rq->rq_type == LY_MSG_ADJUST && rq->rq_amount < 0))
            snprintf(asked, sizeof asked, " (%s requested)",
                     ctl_num(rq->rq_amount < 0 ? -rq->rq_amount : rq->rq_amount));
        if (a > 0)
            snprintf(full, sizeof full,
                     "only %s %s redeemable at this branch now%s; the rest of the balance is "
                     "held at other branches that could not be reached in time",
                     ctl_num(a), a == 1 ? "point is" : "points are", asked);
        else
            snprintf(full, sizeof full,
                     "no points are redeemable at this branch now%s; the balance is held at "
                     "other branches that could not be reached in time",
                     asked);
        fprintf(stderr, "loyalctl: %s (%s)\n", full, ly_errname(e));
        if (x->json)
            ctl_json_error(ly_errname(e), full, 1, a);
        return CTL_EXIT_FAILED;
    }
    int with_available = e == LY_EINSUFFICIENT || rp->rp_available != 0;
    if (with_available)
        fprintf(stderr, "loyalctl: %s (%s; %s points available)\n", msg, ly_errname(e),
                ctl_num(rp->rp_available));
    else
        fprintf(stderr, "loyalctl: %s (%s)\n", msg, ly_errname(e));
    if (x->json)
        ctl_json_error(ly_errname(e), msg, with_available, rp->rp_available);
    return CTL_EXIT_FAILED;
}

/* Ask `ep` for `rq` and wait up to `timeout_s` seconds, over CurveZMQ with
 * x->curve (ctl.h). Returns CTL_EXIT_OK when `rp` holds the node's answer: a
 * refusal (rp_err != LY_OK) or a reply of the request's type. Otherwise
 * returns the exit status, with the error's name in *code and a message in
 * `why`. `rp` is always initialised: the caller calls ly_rep_fini. */
int ctl_ask(const ctl_ctx *x, const char *ep, const char *server_key, const char *server_from,
            double timeout_s, ly_req *rq, ly_rep *rp, const char **code, char *why, size_t cap)
{
    int timeout_ms = (int)(timeout_s * 1000.0 + 0.5);
    ly_client *c;
    ly_rep_init(rp);
    if (!server_key)
        server_key = x->node_public;
    if (!server_from)
        server_from = x->node_key_from;
    if (x->curve)
        c = ly_client_new_curve(ep, timeout_ms, x->key.kp_public, x->key.kp_secret, server_key);
    else
        c = ly_client_new(ep, timeout_ms);
    if (!c) {
        *code = ly_errname(LY_EIO);
        snprintf(why, cap, "cannot connect to '%s'", ep);
        return CTL_EXIT_UNREACHABLE;
    }
    ly_err e = ly_client_call(c, rq, rp);
    ly_client_destroy(&c);
    *code = ly_errname(e);
    if (e == LY_ETIMEDOUT) {
        if (x->curve) /* CURVE gives an unknown key, or a wrong server key, no answer */
            snprintf(why, cap,
                     "no answer from %s within %g s (with keys: the node may not list the key "
                     "%s, or %s may not be this node's key)",
                     ep, timeout_s, x->key_file, server_from);
        else
            snprintf(why, cap, "no answer from %s within %g s", ep, timeout_s);
        return CTL_EXIT_UNREACHABLE;
    }
    if (e == LY_EIO) {
        snprintf(why, cap, "cannot talk to %s: %s", ep, ly_strerror(e));
        return CTL_EXIT_UNREACHABLE;
    }
    if (e == LY_EINVAL) {
        snprintf(why, cap, "the client library refused the request: %s", ly_strerror(e));
        return CTL_EXIT_USAGE;
    }
    if (e != LY_OK) {
        snprintf(why, cap, "bad answer from %s: %s", ep, ly_strerror(e));
        return CTL_EXIT_FAILED;
    }
    if (rp->rp_err == LY_OK && rp->rp_type != rq->rq_type) {
        *code = ly_errname(LY_EPROTO);
        snprintf(why, cap, "%s answered '%s' to '%s'", ep,
                 ly_msgtype_name(rp->rp_type) ? ly_msgtype_name(rp->rp_type) : "?",
                 ly_msgtype_name(rq->rq_type));
        return CTL_EXIT_FAILED;
    }
    return CTL_EXIT_OK;
}

/* Ask `ep` for `rq`; on failure report it (stderr, and the JSON error with
 * --json) and return its exit status. On CTL_EXIT_OK `rp` holds a successful
 * reply of the request's type. The caller calls ly_rep_fini on `rp` either way. */
int ctl_call_ep(const ctl_ctx *x, const char *ep, ly_req *rq, ly_rep *rp)
{
    const char *code;
    char why[512];
    int rc = ctl_ask(x, ep, NULL, NULL, x->timeout_s, rq, rp, &code, why, sizeof why);
    if (rc == CTL_EXIT_USAGE)
        return ctl_usage(x, "%s", why);
    if (rc != CTL_EXIT_OK)
        return ctl_fail(x, rc, code, "%s", why);
    if (rp->rp_err != LY_OK)
        return s_refused(x, rq, rp);
    return CTL_EXIT_OK;
}

int ctl_call(const ctl_ctx *x, ly_req *rq, ctl_show_fn show)
{
    ly_rep rp;
    int rc = ctl_call_ep(x, x->node, rq, &rp);
    if (rc == CTL_EXIT_OK)
        show(x, rq, &rp);
    ly_rep_fini(&rp);
    return rc;
}

/* Fill `nm` from the node's status, asked within min(--timeout, 2 s). Best
 * effort: on any failure `nm` stays empty (nodes are then shown by id) and
 * nothing is reported, since the command itself already has its answer. */
void ctl_names_load(const ctl_ctx *x, ctl_names *nm)
{
    const char *code;
    char why[512];
    ly_req rq;
    ly_rep rp;
    nm->nm_n = 0;
    ly_req_init(&rq, LY_MSG_STATUS);
    int rc = ctl_ask(x, x->node, NULL, NULL, x->timeout_s < 2.0 ? x->timeout_s : 2.0, &rq, &rp,
                     &code, why, sizeof why);
    if (rc == CTL_EXIT_OK && rp.rp_err == LY_OK) {
        const ly_node_status *ns = rp.rp_status;
        uint32_t np = ns->ns_peers ? ns->ns_npeers : 0;
        nm->nm_node[nm->nm_n].id = ns->ns_id;
        ly_strlcpy(nm->nm_node[nm->nm_n++].name, ns->ns_name, sizeof nm->nm_node[0].name);
        for (uint32_t i = 0; i < np && i < LY_STATUS_PEERS_MAX; i++) {
            nm->nm_node[nm->nm_n].id = ns->ns_peers[i].ps_id;
            ly_strlcpy(nm->nm_node[nm->nm_n++].name, ns->ns_peers[i].ps_name,
                       sizeof nm->nm_node[0].name);
        }
    }
    ly_rep_fini(&rp);
}

/* The name of node `id`, or NULL if `nm` does not know it. */
static const char *s_node_name(const ctl_names *nm, uint16_t id)
{
    for (uint32_t i = 0; nm && i < nm->nm_n; i++)
        if (nm->nm_node[i].id == id && nm->nm_node[i].name[0])
            return nm->nm_node[i].name;
    return NULL;
}

/* Node `id` for people: with `with_id`, "node 2 (south)", else "south"; "node
 * 2" either way if its name is unknown. In one of a few rotating static
 * buffers: valid until the 8th call after this one. */
const char *ctl_node_label(const ctl_names *nm, uint16_t id, int with_id)
{
    static char bufs[8][96];
    static unsigned next;
    char *b = bufs[next++ % 8];
    const char *name = s_node_name(nm, id);
    if (id == 0) /* no node has id 0: the reply did not say */
        snprintf(b, sizeof bufs[0], "node ?");
    else if (!name)
        snprintf(b, sizeof bufs[0], "node %u", (unsigned)id);
    else if (with_id)
        snprintf(b, sizeof bufs[0], "node %u (%s)", (unsigned)id, name);
    else
        snprintf(b, sizeof bufs[0], "%s", name);
    return b;
}

/* 1 if `h` (`n` bytes) is a host that means "every interface" for a bind. */
static int s_wildcard_host(const char *h, size_t n)
{
    return (n == 1 && h[0] == '*') || (n == 7 && memcmp(h, "0.0.0.0", 7) == 0) ||
           (n == 4 && memcmp(h, "[::]", 4) == 0);
}

/* The host of "tcp://HOST:PORT" (`*len` bytes; the port follows it), or NULL
 * if `ep` is NULL or no TCP endpoint. */
static const char *s_tcp_host(const char *ep, size_t *len)
{
    const char *colon;
    if (!ep || strncmp(ep, "tcp://", 6) != 0 || !(colon = strrchr(ep + 6, ':')))
        return NULL;
    *len = (size_t)(colon - (ep + 6));
    return ep + 6;
}

/* `ep` as an endpoint to connect to, into `dst`: a wildcard TCP host (as in a
 * bind address: "*", 0.0.0.0 or [::]) is replaced by the host of `like` (a TCP
 * endpoint that reaches the same machine) or, without one, by 127.0.0.1.
 * Returns 0, or -1 (and `dst` empty) if the result is no endpoint one can
 * connect to. */
int ctl_connect_form(const char *ep, const char *like, char *dst, size_t cap)
{
    size_t n = 0, ln = 0;
    const char *host = s_tcp_host(ep, &n), *lhost = s_tcp_host(like, &ln);
    int rc;
    if (!host || !s_wildcard_host(host, n))
        rc = ly_strlcpy(dst, ep, cap);
    else if (lhost && ln > 0 && !s_wildcard_host(lhost, ln))
        rc = (size_t)snprintf(dst, cap, "tcp://%.*s%s", (int)ln, lhost, host + n) >= cap;
    else
        rc = (size_t)snprintf(dst, cap, "tcp://127.0.0.1%s", host + n) >= cap;
    if (rc != 0 || !ly_endpoint_valid(dst) || strchr(dst, '*')) {
        dst[0] = '\0';
        return -1;
    }
    return 0;
}
