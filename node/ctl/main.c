/* loyalctl -- the staff and operator CLI of a Loyal node.
 *
 * One table of subcommands; each has its own function, usage text and set of
 * options, and one option parser serves them all. Arguments are checked here
 * before anything is sent. Primary output goes to stdout (human text, or
 * exactly one JSON object with --json); errors go to stderr.
 * Exit status: 0 done, 1 refused or failed, 2 usage error, 3 no answer. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/event.h"
#include "common/hlc.h"
#include "node/ctl/ctl.h"
#include "proto/client.h"

#define S_DEFAULT_NODE      "tcp://127.0.0.1:7101"
#define S_DEFAULT_TIMEOUT_S 5.0
#define S_TIMEOUT_MIN_S     0.001
#define S_TIMEOUT_MAX_S     3600.0

static const struct {
    const char *name; /* without the leading "--" */
    const char *arg;  /* the value's placeholder in messages; NULL: a flag without value */
} s_opts[CTL_O_COUNT] = {
    [CTL_O_TXN] = {"txn", "ID"},
    [CTL_O_NAME] = {"name", "NAME"},
    [CTL_O_BIRTHDAY] = {"birthday", "YYYY-MM-DD"},
    [CTL_O_EMAIL] = {"email", "EMAIL"},
    [CTL_O_PHONE] = {"phone", "PHONE"},
    [CTL_O_PREFS] = {"prefs", "TEXT"},
    [CTL_O_CATEGORY] = {"category", "C"},
    [CTL_O_AMOUNT] = {"amount", "AMOUNT"},
    [CTL_O_REASON] = {"reason", "TEXT"},
    [CTL_O_OPERATOR] = {"operator", "NAME"},
    [CTL_O_HISTORY] = {"history", "N"},
    [CTL_O_ORIGIN] = {"origin", "ID"},
    [CTL_O_SINCE] = {"since", "SEQ"},
    [CTL_O_LIMIT] = {"limit", "N"},
    [CTL_O_CONFIG] = {"config", "FILE"},
    [CTL_O_AFTER] = {"after", "CUSTOMER"},
    [CTL_O_ALL] = {"all", NULL},
    [CTL_O_PREFETCH] = {"prefetch", NULL},
};

static const char s_exit_text[] =
    "exit status:\n"
    "  0  done\n"
    "  1  the node refused the operation or it failed (insufficient points, conflict,\n"
    "     unknown customer, ...)\n"
    "  2  usage error; nothing was sent\n"
    "  3  the node was unreachable or did not answer in time\n";

/* A value for a `key=value` line: quoted when empty or holding spaces, quotes,
 * '=' or backslashes; control characters (never valid in stored text) as '?'. */
static void s_put_value(FILE *out, const char *s)
{
    if (*s && !strpbrk(s, " \t\"\\=")) {
        for (; *s; s++)
            fputc((unsigned char)*s < 0x20 ? '?' : *s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc((unsigned char)*s < 0x20 ? '?' : *s, out);
    }
    fputc('"', out);
}

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
    default:
        printf("updated the profile of %s", rp->rp_customer);
        break;
    }
    printf(" (txn %s)%s\n", rp->rp_txn, rp->rp_replayed ? " (replayed: original result)" : "");
    ctl_print_standing(rp);
}

/* Points a transfer moved (its amount; the balance does not change). */
static int64_t s_hist_moved(const ly_hist *h)
{
    if (h->hi_amount != 0)
        return h->hi_amount;
    return h->hi_points < 0 ? -h->hi_points : h->hi_points;
}

/* The POINTS column of a history line: the signed change of the balance, or
 * for a transfer the points moved (unsigned: the balance stays). */
static const char *s_hist_points(const ly_hist *h)
{
    if (h->hi_type == LY_EV_TRANSFER)
        return ctl_num(s_hist_moved(h));
    return ctl_num_sign(h->hi_points, 1);
}

/* The details column of a history line. */
static void s_hist_details(const ly_hist *h, const ctl_names *nm, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
#define S_ADD(...)                                                                                 \
    do {                                                                                           \
        if (n < cap)                                                                               \
            n += (size_t)snprintf(buf + n, cap - n, __VA_ARGS__);                                  \
    } while (0)
    if (h->hi_type == LY_EV_TRANSFER)
        S_ADD("%s \u2192 %s", ctl_node_label(nm, h->hi_origin, 1), ctl_node_label(nm, h->hi_to, 1));
    if (h->hi_type == LY_EV_REVERSE && h->hi_ref_txn[0])
        S_ADD("refund of %s", h->hi_ref_txn);
    if (h->hi_category[0])
        S_ADD("%s%s", n ? "; " : "", h->hi_category);
    if (h->hi_reason[0])
        S_ADD("%s%s", n ? "; " : "", h->hi_reason);
    if (h->hi_operator[0])
        S_ADD("%s(by %s)", n ? " " : "", h->hi_operator);
    if (h->hi_tier_from[0] && h->hi_tier_to[0] && strcmp(h->hi_tier_from, h->hi_tier_to) != 0)
        S_ADD("%stier %s \u2192 %s", n ? "; " : "", h->hi_tier_from, h->hi_tier_to);
#undef S_ADD
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
        need_names |= rp->rp_hist[i].hi_type == LY_EV_TRANSFER;
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

static void s_json_peer(ly_json *j, const ly_peer_status *ps)
{
    char digest[17];
    ly_json_object(j);
    ly_json_kuint(j, "id", ps->ps_id);
    ly_json_kstr(j, "name", ps->ps_name);
    ly_json_kstr(j, "endpoint", ps->ps_endpoint);
    ly_json_kstr(j, "client", ps->ps_client);
    ly_json_kbool(j, "up", ps->ps_up);
    if (ps->ps_last_heard_ms == UINT64_MAX)
        ly_json_knull(j, "last_heard_ms");
    else
        ly_json_kuint(j, "last_heard_ms", ps->ps_last_heard_ms);
    ly_json_kuint(j, "behind", ps->ps_behind);
    ly_json_kuint(j, "missing", ps->ps_missing);
    ly_json_kuint(j, "lag_ms", ps->ps_lag_ms);
    ly_json_kstr(j, "digest", ctl_hex64(ps->ps_digest, digest, sizeof digest));
    ly_json_kbool(j, "converged", ps->ps_converged);
    ly_json_kuint(j, "events", ps->ps_events);
    ly_json_kuint(j, "sent", ps->ps_sent);
    ly_json_kuint(j, "received", ps->ps_received);
    ly_json_kuint(j, "dropped", ps->ps_dropped);
    ly_json_end(j);
}

/* "850 ms ago", "2m 5s ago", "never". */
static const char *s_ago(uint64_t ms, char *buf, size_t cap)
{
    char d[40];
    if (ms == UINT64_MAX)
        snprintf(buf, cap, "never");
    else if (ms < 60000)
        snprintf(buf, cap, "%s ms ago", ctl_unum(ms));
    else
        snprintf(buf, cap, "%s ago", ctl_duration(ms, d, sizeof d));
    return buf;
}

static const ctl_col s_peer_cols[] = {
    {"ID", 1},        {"NAME", 0},   {"ENDPOINT", 0}, {"STATE", 0},   {"LAST HEARD", 0},
    {"EVENTS", 1},    {"BEHIND", 1}, {"MISSING", 1},  {"LAG", 1},     {"DIGEST", 0},
    {"CONVERGED", 0}, {"SENT", 1},   {"RECEIVED", 1}, {"DROPPED", 1},
};
#define S_PEER_NCOLS ((int)(sizeof s_peer_cols / sizeof s_peer_cols[0]))

static void s_peer_row(const void *ctx, size_t i, ctl_cells c)
{
    const ly_peer_status *ps = &((const ly_node_status *)ctx)->ns_peers[i];
    int k = 0;
    snprintf(c[k++], CTL_CELL_MAX, "%u", (unsigned)ps->ps_id);
    snprintf(c[k++], CTL_CELL_MAX, "%s", ps->ps_name[0] ? ps->ps_name : "-");
    snprintf(c[k++], CTL_CELL_MAX, "%s", ps->ps_endpoint);
    snprintf(c[k++], CTL_CELL_MAX, "%s", ps->ps_up ? "up" : "down");
    s_ago(ps->ps_last_heard_ms, c[k++], CTL_CELL_MAX);
    snprintf(c[k++], CTL_CELL_MAX, "%s", ctl_unum(ps->ps_events));
    snprintf(c[k++], CTL_CELL_MAX, "%s", ctl_unum(ps->ps_behind));
    snprintf(c[k++], CTL_CELL_MAX, "%s", ctl_unum(ps->ps_missing));
    snprintf(c[k++], CTL_CELL_MAX, "%s ms", ctl_unum(ps->ps_lag_ms));
    ctl_hex64(ps->ps_digest, c[k++], CTL_CELL_MAX);
    snprintf(c[k++], CTL_CELL_MAX, "%s", ps->ps_converged ? "yes" : "no");
    snprintf(c[k++], CTL_CELL_MAX, "%s", ctl_unum(ps->ps_sent));
    snprintf(c[k++], CTL_CELL_MAX, "%s", ctl_unum(ps->ps_received));
    snprintf(c[k++], CTL_CELL_MAX, "%s", ctl_unum(ps->ps_dropped));
}

static void s_show_status_json(const ly_node_status *ns)
{
    uint32_t nvv = ns->ns_nvv < LY_VV_MAX ? ns->ns_nvv : LY_VV_MAX;
    char digest[17];
    ly_json j;
    ly_json_init(&j, stdout);
    ly_json_object(&j);
    ly_json_kobject(&j, "node");
    ly_json_kuint(&j, "id", ns->ns_id);
    ly_json_kstr(&j, "name", ns->ns_name);
    ly_json_kstr(&j, "client", ns->ns_client);
    ly_json_kuint(&j, "incarnation", ns->ns_incarnation);
    ly_json_kuint(&j, "program", ns->ns_program);
    ly_json_kuint(&j, "events", ns->ns_events);
    ly_json_kuint(&j, "customers", ns->ns_customers);
    ly_json_key(&j, "vv");
    ctl_json_vv(&j, ns);
    ly_json_karray(&j, "vv_full");
    for (uint32_t i = 0; i < nvv; i++) {
        ly_json_object(&j);
        ly_json_kuint(&j, "origin", ns->ns_vv[i].origin);
        ly_json_kuint(&j, "incarnation", ns->ns_vv[i].incarnation);
        ly_json_kuint(&j, "seq", ns->ns_vv[i].seq);
        ly_json_end(&j);
    }
    ly_json_end(&j);
    ly_json_kstr(&j, "digest", ctl_hex64(ns->ns_digest, digest, sizeof digest));
    ly_json_kuint(&j, "hlc", ns->ns_hlc);
    ly_json_kuint(&j, "uptime_ms", ns->ns_uptime_ms);
    ly_json_kuint(&j, "map_size", ns->ns_map_size);
    ly_json_kuint(&j, "map_used", ns->ns_map_used);
    ly_json_kuint(&j, "transfers_sent", ns->ns_transfers_sent);
    ly_json_kuint(&j, "transfers_received", ns->ns_transfers_received);
    ly_json_kuint(&j, "rights_pending", ns->ns_rights_pending);
    ly_json_kuint(&j, "rights_asked", ns->ns_rights_asked);
    ly_json_kobject(&j, "store");
    ly_json_kuint(&j, "log_bytes", ns->ns_log_bytes);
    ly_json_kuint(&j, "log_events", ns->ns_log_events);
    ly_json_kuint(&j, "checkpoints", ns->ns_checkpoints);
    ly_json_kuint(&j, "checkpoint_ms", ns->ns_checkpoint_ms);
    if (ns->ns_write_error[0])
        ly_json_kstr(&j, "write_error", ns->ns_write_error);
    else
        ly_json_knull(&j, "write_error");
    ly_json_end(&j);
    ly_json_end(&j);
    ly_json_karray(&j, "peers");
    for (uint32_t i = 0; i < ctl_npeers(ns); i++)
        s_json_peer(&j, &ns->ns_peers[i]);
    ly_json_end(&j);
    ly_json_end(&j);
    ly_json_finish(&j);
}

static void s_show_status(const ctl_ctx *x, const ly_req *rq, const ly_rep *rp)
{
    const ly_node_status *ns = &rp->rp_status;
    uint32_t nvv = ns->ns_nvv < LY_VV_MAX ? ns->ns_nvv : LY_VV_MAX, npeers = ctl_npeers(ns);
    char buf[64], buf2[64];
    (void)rq;
    if (x->json) {
        s_show_status_json(ns);
        return;
    }
    printf("node         %u (%s)\n", (unsigned)ns->ns_id, ns->ns_name);
    printf("client       %s\n", ns->ns_client[0] ? ns->ns_client : "- (not reported)");
    printf("incarnation  %" PRIu32 "\n", ns->ns_incarnation);
    printf("program      version %" PRIu32 "\n", ns->ns_program);
    printf("events       %s\n", ctl_unum(ns->ns_events));
    printf("customers    %s\n", ctl_unum(ns->ns_customers));
    printf("vv          ");
    for (uint32_t i = 0; i < nvv; i++)
        if (ctl_vv_first(ns, i))
            printf(" %u:%" PRIu64, (unsigned)ns->ns_vv[i].origin,
                   ns->ns_vv[ctl_vv_newest(ns, i)].seq);
    for (uint32_t i = 0; i < nvv; i++)
        if (ctl_vv_newest(ns, i) != i)
            printf(" (old incarnation %u@%" PRIu32 ":%" PRIu64 ")", (unsigned)ns->ns_vv[i].origin,
                   ns->ns_vv[i].incarnation, ns->ns_vv[i].seq);
    printf("%s\n", nvv ? "" : " -");
    printf("digest       %s\n", ctl_hex64(ns->ns_digest, buf, sizeof buf));
    printf("clock        %s\n", ctl_iso(ns->ns_hlc, buf, sizeof buf));
    printf("uptime       %s\n", ctl_duration(ns->ns_uptime_ms, buf, sizeof buf));
    printf("map          %s used of %s", ctl_bytes(ns->ns_map_used, buf, sizeof buf),
           ctl_bytes(ns->ns_map_size, buf2, sizeof buf2));
    if (ns->ns_map_size)
        printf(" (%.0f%%)", 100.0 * (double)ns->ns_map_used / (double)ns->ns_map_size);
    printf("\n");
    printf("log          %s, %s event%s since the last checkpoint; %s checkpoint%s",
           ctl_bytes(ns->ns_log_bytes, buf, sizeof buf), ctl_unum(ns->ns_log_events),
           ns->ns_log_events == 1 ? "" : "s", ctl_unum(ns->ns_checkpoints),
           ns->ns_checkpoints == 1 ? "" : "s");
    if (ns->ns_checkpoints)
        printf(", the last %s ms", ctl_unum(ns->ns_checkpoint_ms));
    printf("\n");
    if (ns->ns_write_error[0])
        printf("WRITES FAIL  %s: the last write to the store failed; writes are refused until "
               "one succeeds (nothing acknowledged is lost)\n",
               ns->ns_write_error);
    printf("transfers    %s sent, %s received (rights moved to and from other branches)\n",
           ctl_unum(ns->ns_transfers_sent), ctl_unum(ns->ns_transfers_received));
    printf("rights asks  %s pending (redemptions waiting for rights), %s sent to peers\n",
           ctl_unum(ns->ns_rights_pending), ctl_unum(ns->ns_rights_asked));
    if (npeers == 0) {
        printf("peers        none\n");
        return;
    }
    uint32_t up = 0, converged = 0;
    for (uint32_t i = 0; i < npeers; i++) {
        up += ns->ns_peers[i].ps_up != 0;
        converged += ns->ns_peers[i].ps_converged != 0;
    }
    printf("peers        %" PRIu32 ": %" PRIu32 " up, %" PRIu32 " converged with this node\n\n",
           npeers, up, converged);
    ctl_table(stdout, s_peer_cols, S_PEER_NCOLS, npeers, ns, s_peer_row);
}

static void s_json_event(ly_json *j, const ly_event *ev)
{
    char at[40], hash[17];
    ly_json_object(j);
    ly_json_kuint(j, "origin", ev->ev_origin);
    ly_json_kuint(j, "incarnation", ev->ev_incarnation);
    ly_json_kuint(j, "seq", ev->ev_seq);
    ly_json_kuint(j, "hlc", ev->ev_hlc);
    ly_json_kstr(j, "at", ctl_iso(ev->ev_hlc, at, sizeof at));
    ly_json_kstr(j, "type", ly_evtype_name(ev->ev_type));
    if (ev->ev_ref_type)
        ly_json_kstr(j, "ref_type", ly_evtype_name(ev->ev_ref_type));
    else
        ly_json_knull(j, "ref_type");
    ly_json_kuint(j, "tier_from", ev->ev_tier_from);
    ly_json_kuint(j, "tier_to", ev->ev_tier_to);
    ly_json_kuint(j, "program", ev->ev_program);
    ly_json_kint(j, "qual_day", ev->ev_qual_day);
    ly_json_kint(j, "amount", ev->ev_amount);
    ly_json_kint(j, "points", ev->ev_points);
    ly_json_kint(j, "qual", ev->ev_qual);
    if (ev->ev_type == LY_EV_TRANSFER && ev->ev_to)
        ly_json_kuint(j, "to", ev->ev_to);
    else
        ly_json_knull(j, "to");
    snprintf(hash, sizeof hash, "%016" PRIx64, ev->ev_req_hash);
    ly_json_kstr(j, "req_hash", hash);
    ly_json_kstr(j, "customer", ev->ev_customer);
    ly_json_kstr(j, "txn", ev->ev_txn);
    ly_json_kstr(j, "ref_txn", ev->ev_ref_txn);
    ly_json_kstr(j, "category", ev->ev_category);
    ly_json_kstr(j, "reason", ev->ev_reason);
    ly_json_kstr(j, "operator", ev->ev_operator);
    ly_json_karray(j, "fields");
    for (int i = 0; i < LY_PF_COUNT; i++)
        if (ev->ev_fields & ctl_pf[i].bit)
            ly_json_str(j, ctl_pf[i].name);
    ly_json_end(j);
    ly_json_kobject(j, "profile");
    for (int i = 0; i < LY_PF_COUNT; i++)
        if (ev->ev_fields & ctl_pf[i].bit)
            ly_json_kstr(j, ctl_pf[i].name, ctl_pf_value(&ev->ev_profile, i));
    ly_json_end(j);
    ly_json_end(j);
}

/* One line: ORIGIN:SEQ TIME TYPE CUSTOMER POINTS key=value...; for a
 * transfer, POINTS is the points moved and "→ node N" follows it. */
static void s_print_event(const ly_event *ev)
{
    char at[40];
    int transfer = ev->ev_type == LY_EV_TRANSFER;
    printf("%u:%" PRIu64 " %s %s ", (unsigned)ev->ev_origin, ev->ev_seq,
           ctl_iso(ev->ev_hlc, at, sizeof at), ly_evtype_name(ev->ev_type));
    s_put_value(stdout, ev->ev_customer);
    if (transfer)
        printf(" %s \u2192 node %u txn=", ctl_num(ev->ev_points), (unsigned)ev->ev_to);
    else
        printf(" %s txn=", ctl_num_sign(ev->ev_points, 1));
    s_put_value(stdout, ev->ev_txn);
    if (ev->ev_type != LY_EV_ADJUST && !transfer && ev->ev_amount != 0)
        printf(" amount=%" PRId64, ev->ev_amount);
    if (ev->ev_ref_txn[0]) {
        printf(" ref=");
        s_put_value(stdout, ev->ev_ref_txn);
        printf(" ref_type=%s", ly_evtype_name(ev->ev_ref_type));
    }
    static const struct {
        const char *key;
        size_t off;
    } texts[] = {{"category", offsetof(ly_event, ev_category)},
                 {"reason", offsetof(ly_event, ev_reason)},
                 {"operator", offsetof(ly_event, ev_operator)}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const char *v = (const char *)ev + texts[i].off;
        if (v[0]) {
            printf(" %s=", texts[i].key);
            s_put_value(stdout, v);
        }
    }
    for (int i = 0; i < LY_PF_COUNT; i++)
        if (ev->ev_fields & ctl_pf[i].bit) {
            printf(" %s=", ctl_pf[i].name);
            s_put_value(stdout, ctl_pf_value(&ev->ev_profile, i));
        }
    if (ev->ev_tier_from != ev->ev_tier_to)
        printf(" tier=%u->%u", (unsigned)ev->ev_tier_from, (unsigned)ev->ev_tier_to);
    printf(" incarnation=%" PRIu32 " program=%" PRIu32 "\n", ev->ev_incarnation, ev->ev_program);
}

static void s_show_events(const ctl_ctx *x, const ly_req *rq, const ly_rep *rp)
{
    uint32_t n = rp->rp_events ? rp->rp_nevents : 0;
    if (x->json) {
        ly_json j;
        ly_json_init(&j, stdout);
        ly_json_object(&j);
        ly_json_karray(&j, "events");
        for (uint32_t i = 0; i < n; i++)
            s_json_event(&j, &rp->rp_events[i]);
        ly_json_end(&j);
        ly_json_end(&j);
        ly_json_finish(&j);
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        s_print_event(&rp->rp_events[i]);
    if (n > 0 && n >= rq->rq_limit) {
        const ly_event *last = &rp->rp_events[n - 1];
        fprintf(stderr,
                "loyalctl: stopped at the limit of %" PRIu32 " events; more of origin %u with "
                "--origin %u --since %" PRIu64 "\n",
                rq->rq_limit, (unsigned)last->ev_origin, (unsigned)last->ev_origin, last->ev_seq);
    }
}

static int s_txn_arg(const ctl_ctx *x, ly_req *rq)
{
    return ctl_id(x, "transaction id", x->opt[CTL_O_TXN], rq->rq_txn, sizeof rq->rq_txn);
}

static int s_cmd_enroll(ctl_ctx *x)
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

static int s_cmd_earn(ctl_ctx *x)
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

static int s_cmd_redeem(ctl_ctx *x)
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

static int s_cmd_reverse(ctl_ctx *x)
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

static int s_cmd_adjust(ctl_ctx *x)
{
    ly_req rq;
    const char *op = x->opt[CTL_O_OPERATOR], *from = "--operator";
    int rc;
    ly_req_init(&rq, LY_MSG_ADJUST);
    if ((rc = ctl_customer_arg(x, &rq)) != 0 ||
        (rc = ctl_int(x, "points", x->pos[1], -LY_AMOUNT_MAX, LY_AMOUNT_MAX, &rq.rq_amount)) != 0)
        return rc;
    if (rq.rq_amount == 0)
        return ctl_usage(x, "points must not be 0");
    if ((rc = ctl_text(x, "reason", x->opt[CTL_O_REASON], LY_TEXT_MAX, rq.rq_reason,
                       sizeof rq.rq_reason)) != 0 ||
        (rc = s_txn_arg(x, &rq)) != 0)
        return rc;
    if (!rq.rq_reason[0])
        return ctl_usage(x, "the reason must not be empty");
    if (!op) {
        const char *env;
        if ((env = getenv("LOYAL_OPERATOR")) && *env) {
            op = env;
            from = "$LOYAL_OPERATOR";
        } else if ((env = getenv("USER")) && *env) {
            op = env;
            from = "$USER";
        } else {
            op = "loyalctl";
            from = "the default";
        }
    }
    if (!ly_id_valid(op) || ly_strlcpy(rq.rq_operator, op, sizeof rq.rq_operator) != 0)
        return ctl_usage(x,
                         "invalid operator '%s' (from %s; 1 to %d characters of A-Z a-z 0-9 . _ "
                         ": @ # / + -)",
                         op, from, LY_ID_MAX);
    return ctl_call(x, &rq, s_show_mutation);
}

static int s_cmd_customer(ctl_ctx *x)
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

static int s_cmd_set_profile(ctl_ctx *x)
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

static int s_cmd_status(ctl_ctx *x)
{
    ly_req rq;
    ly_req_init(&rq, LY_MSG_STATUS);
    return ctl_call(x, &rq, s_show_status);
}

static int s_cmd_events(ctl_ctx *x)
{
    ly_req rq;
    int64_t origin = 0, since = 0, limit = LY_EVENTS_MAX;
    int rc = 0;
    ly_req_init(&rq, LY_MSG_EVENTS);
    if ((x->opt[CTL_O_ORIGIN] &&
         (rc = ctl_int(x, "origin", x->opt[CTL_O_ORIGIN], 1, UINT16_MAX, &origin))) ||
        (x->opt[CTL_O_SINCE] &&
         (rc = ctl_int(x, "since", x->opt[CTL_O_SINCE], 0, INT64_MAX, &since))) ||
        (x->opt[CTL_O_LIMIT] &&
         (rc = ctl_int(x, "limit", x->opt[CTL_O_LIMIT], 1, LY_EVENTS_MAX, &limit))))
        return rc;
    rq.rq_origin = (uint16_t)origin;
    rq.rq_since = (uint64_t)since;
    rq.rq_limit = (uint32_t)limit;
    return ctl_call(x, &rq, s_show_events);
}

/* ---- debts ---- */

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

static int s_cmd_debts(ctl_ctx *x)
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

/* ---- verify ---- */

/* One node of the chain as `verify` sees it. */
typedef struct s_vnode {
    uint16_t vn_id;
    char vn_name[64];
    char vn_client[LY_ENDPOINT_MAX + 1]; /* the endpoint asked ("" if none is known) */
    int vn_answered;
    char vn_why[CTL_CELL_MAX]; /* why it did not answer */
    ly_node_status vn_st;      /* its status if it answered (without peer rows) */
    uint64_t vn_behind;        /* events of the union of all version vectors it lacks */
    int vn_digest_ok;          /* it holds the union and the reference digest */
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
    v->vn_st = rp->rp_status;
    v->vn_st.ns_peers = NULL; /* still owned by `rp` */
    v->vn_st.ns_npeers = 0;
    if (!v->vn_name[0])
        ly_strlcpy(v->vn_name, rp->rp_status.ns_name, sizeof v->vn_name);
}

/* Ask peer `v` (vn_id and vn_client set) for its status: fills vn_st, or vn_why
 * when it does not answer, refuses, or is another node than expected. */
static void s_verify_ask(const ctl_ctx *x, s_vnode *v)
{
    const char *code;
    ly_req rq;
    ly_rep rp;
    ly_req_init(&rq, LY_MSG_STATUS);
    int rc = ctl_ask(v->vn_client, x->timeout_s, &rq, &rp, &code, v->vn_why, sizeof v->vn_why);
    if (rc == CTL_EXIT_OK && rp.rp_err != LY_OK)
        snprintf(v->vn_why, sizeof v->vn_why, "refused: %s (%s)",
                 rp.rp_message[0] ? rp.rp_message : ly_strerror((ly_err)rp.rp_err),
                 ly_errname((ly_err)rp.rp_err));
    else if (rc == CTL_EXIT_OK && rp.rp_status.ns_id != v->vn_id)
        snprintf(v->vn_why, sizeof v->vn_why, "%s is node %u (%s), not node %u", v->vn_client,
                 (unsigned)rp.rp_status.ns_id, rp.rp_status.ns_name, (unsigned)v->vn_id);
    else if (rc == CTL_EXIT_OK)
        s_verify_take(v, &rp);
    ly_rep_fini(&rp);
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
    else
        snprintf(buf, cap, "agrees");
    return buf;
}

static const ctl_col s_verify_cols[] = {
    {"ID", 1},     {"NAME", 0},   {"CLIENT", 0}, {"ANSWERED", 0},
    {"EVENTS", 1}, {"DIGEST", 0}, {"STATE", 0},
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
            ly_json_key(&j, "vv");
            ctl_json_vv(&j, &v[i].vn_st);
            ly_json_knull(&j, "error");
        } else {
            ly_json_knull(&j, "events");
            ly_json_knull(&j, "digest");
            ly_json_knull(&j, "behind");
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
        differ += v[i].vn_answered && !v[i].vn_digest_ok;
    }
    if (ok && n == 1)
        printf("\nconverged, trivially: node %u reported no peers (%s events, digest %s)\n",
               (unsigned)v[0].vn_id, ctl_unum(v[0].vn_st.ns_events),
               ctl_hex64(v[0].vn_st.ns_digest, digest, sizeof digest));
    else if (ok)
        printf("\nconverged: all %zu nodes hold the same %s events, digest %s\n", n,
               ctl_unum(v[0].vn_st.ns_events),
               ctl_hex64(v[0].vn_st.ns_digest, digest, sizeof digest));
    else if (differ > 0 && answered < n)
        printf("\nnot converged: %zu of %zu nodes differ, %zu did not answer\n", differ, n,
               n - answered);
    else if (differ > 0)
        printf("\nnot converged: %zu of %zu nodes differ\n", differ, n);
    else
        printf("\nnot verified: %zu of %zu nodes did not answer\n", n - answered, n);
}

static int s_cmd_verify(ctl_ctx *x)
{
    static ly_config cf; /* large: not on the stack */
    const char *first = x->node;
    char from_config[LY_ENDPOINT_MAX + 1];
    if (x->opt[CTL_O_CONFIG]) {
        char err[512];
        if (strcmp(x->node_from, "--node") == 0)
            return ctl_usage(x, "give --node or --config, not both");
        if (ly_config_load(x->opt[CTL_O_CONFIG], &cf, err, sizeof err) != LY_OK)
            return ctl_usage(x, "%s", err);
        if (ctl_connect_form(cf.cf_listen, NULL, from_config, sizeof from_config) != 0)
            return ctl_usage(x, "cannot connect to the listen endpoint '%s' of %s", cf.cf_listen,
                             x->opt[CTL_O_CONFIG]);
        first = from_config;
    }

    ly_req rq;
    ly_rep rp;
    ly_req_init(&rq, LY_MSG_STATUS);
    int rc = ctl_call_ep(x, first, &rq, &rp);
    if (rc != CTL_EXIT_OK) {
        ly_rep_fini(&rp);
        return rc;
    }

    if (x->opt[CTL_O_CONFIG] && rp.rp_status.ns_id != cf.cf_node_id) {
        rc = ctl_fail(x, CTL_EXIT_FAILED, ly_errname(LY_EINVAL),
                      "%s is node %u (%s), but %s configures node %u", first,
                      (unsigned)rp.rp_status.ns_id, rp.rp_status.ns_name, x->opt[CTL_O_CONFIG],
                      (unsigned)cf.cf_node_id);
        ly_rep_fini(&rp);
        return rc;
    }

    /* With --config, peers configured there but missing from the status count too. */
    size_t n = 1 + ctl_npeers(&rp.rp_status),
           nconf = x->opt[CTL_O_CONFIG] ? (size_t)cf.cf_npeers : 0;
    s_vnode *v = calloc(n + nconf, sizeof *v);
    s_vvmax *um = calloc((n + nconf) * LY_VV_MAX, sizeof *um);
    if (!v || !um) {
        free(v);
        free(um);
        ly_rep_fini(&rp);
        return ctl_fail(x, CTL_EXIT_FAILED, ly_errname(LY_ENOMEM), "out of memory");
    }
    v[0].vn_id = rp.rp_status.ns_id;
    ly_strlcpy(v[0].vn_client, first, sizeof v[0].vn_client);
    s_verify_take(&v[0], &rp);
    for (size_t i = 1; i < n; i++) {
        const ly_peer_status *ps = &rp.rp_status.ns_peers[i - 1];
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
        const ly_peer_conf *pc = &cf.cf_peers[k];
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
        if (v[i].vn_client[0])
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

#define S_PROFILE_HELP                                                                             \
    "  --name NAME              the customer's name (up to 100 bytes of UTF-8)\n"                  \
    "  --birthday YYYY-MM-DD    date of birth\n"                                                   \
    "  --email EMAIL            e-mail address (up to 128 bytes)\n"                                \
    "  --phone PHONE            phone number (up to 32 bytes)\n"                                   \
    "  --prefs TEXT             preferences (up to 200 bytes)\n"                                   \
    "                           (an empty value, as in --email '', clears a field)\n"

static const ctl_cmd s_cmds[] = {
    {.name = "enroll",
     .run = s_cmd_enroll,
     .npos = 1,
     .pos = {"CUSTOMER"},
     .opts = CTL_O_PROFILE | CTL_O(CTL_O_TXN),
     .synopsis =
         "CUSTOMER [--name N] [--birthday YYYY-MM-DD] [--email E] [--phone P] [--prefs TEXT] "
         "[--txn ID]",
     .summary = "enroll a customer",
     .help = "Enroll CUSTOMER, with any profile fields given. The transaction id defaults to\n"
             "'enroll:CUSTOMER', so running the same enroll again is safe and changes nothing.\n\n"
             "options:\n" S_PROFILE_HELP
             "  --txn ID                 transaction id (default enroll:CUSTOMER)\n"},
    {.name = "earn",
     .run = s_cmd_earn,
     .npos = 2,
     .pos = {"CUSTOMER", "AMOUNT_MINOR"},
     .opts = CTL_O(CTL_O_TXN) | CTL_O(CTL_O_CATEGORY),
     .required = CTL_O(CTL_O_TXN),
     .synopsis = "CUSTOMER AMOUNT_MINOR --txn ID [--category C]",
     .summary = "award points for a purchase",
     .help = "Award CUSTOMER the points for a purchase of AMOUNT_MINOR minor currency units\n"
             "(1299 for 12.99). The node computes the points from its program and the\n"
             "customer's tier. Retrying with the same --txn returns the original result.\n\n"
             "options:\n"
             "  --txn ID                 the sale's transaction id (required)\n"
             "  --category C             purchase category, for category multipliers\n"},
    {.name = "redeem",
     .run = s_cmd_redeem,
     .npos = 2,
     .pos = {"CUSTOMER", "POINTS"},
     .opts = CTL_O(CTL_O_TXN),
     .required = CTL_O(CTL_O_TXN),
     .synopsis = "CUSTOMER POINTS --txn ID",
     .summary = "redeem points",
     .help = "Redeem POINTS from CUSTOMER's balance. Refused (exit 1, insufficient_points)\n"
             "when the customer's balance is smaller.\n\n"
             "A branch redeems only the rights it holds: the customer's points are split\n"
             "among the branches (points earned at a branch are its rights). When this\n"
             "branch holds too few, it asks the other branches to transfer rights and waits\n"
             "a bounded time; if they do not arrive in time the redemption is refused (exit\n"
             "1, insufficient_local_rights) with the points redeemable at this branch now\n"
             "(\"available\" with --json): redeem at most that many, or try again once the\n"
             "other branches can be reached.\n\n"
             "options:\n"
             "  --txn ID                 transaction id (required)\n"},
    {.name = "reverse",
     .run = s_cmd_reverse,
     .npos = 1,
     .pos = {"ORIGINAL_TXN"},
     .opts = CTL_O(CTL_O_TXN) | CTL_O(CTL_O_AMOUNT),
     .required = CTL_O(CTL_O_TXN),
     .synopsis = "ORIGINAL_TXN --txn ID [--amount AMOUNT]",
     .summary = "refund all or part of an earn or a redemption",
     .help = "Reverse the earn or redemption ORIGINAL_TXN: a refund takes back the points of\n"
             "an earn (possibly leaving a debt if they were spent), a reversed redemption\n"
             "gives the points back.\n\n"
             "options:\n"
             "  --txn ID                 the reversal's own transaction id (required)\n"
             "  --amount AMOUNT          part to reverse: minor units for an earn, points for a\n"
             "                           redemption (default: all that is left)\n"},
    {.name = "adjust",
     .run = s_cmd_adjust,
     .npos = 2,
     .pos = {"CUSTOMER", "POINTS"},
     .opts = CTL_O(CTL_O_TXN) | CTL_O(CTL_O_REASON) | CTL_O(CTL_O_OPERATOR),
     .required = CTL_O(CTL_O_TXN) | CTL_O(CTL_O_REASON),
     .synopsis = "CUSTOMER POINTS --reason TEXT --txn ID [--operator NAME]",
     .summary = "add or remove points by hand, with a reason",
     .help =
         "Add POINTS to CUSTOMER's balance, or remove them when negative (e.g. -50), as a\n"
         "goodwill gesture or a correction.\n\n"
         "options:\n"
         "  --reason TEXT            why (required, up to 200 bytes)\n"
         "  --txn ID                 transaction id (required)\n"
         "  --operator NAME          who (default $LOYAL_OPERATOR, else $USER, else loyalctl)\n"},
    {.name = "customer",
     .run = s_cmd_customer,
     .npos = 1,
     .pos = {"CUSTOMER"},
     .opts = CTL_O(CTL_O_HISTORY) | CTL_O(CTL_O_PREFETCH),
     .synopsis = "CUSTOMER [--history N] [--prefetch]",
     .summary = "show a customer's balance, tier, profile and history",
     .help = "Show CUSTOMER's balance, lifetime points, debt, tier and progress to the next\n"
             "tier, what is redeemable at this branch now and the rights each branch holds\n"
             "(\"redeemable here: 120; rights: north 120, south 30\"; a negative figure is a\n"
             "refund taken back there after the points were spent), profile, and recent\n"
             "history, newest first; a transfer line shows the rights moved between\n"
             "branches (\"transfer 50 ... node 1 (north) \u2192 node 2 (south)\").\n\n"
             "options:\n"
             "  --history N              history entries, 1 to 50 (default 10)\n"
             "  --prefetch               the card was scanned for a purchase: start moving\n"
             "                           the customer's rights to this branch now, so a\n"
             "                           redemption that follows needs no wait (a plain\n"
             "                           lookup changes nothing)\n"},
    {.name = "set-profile",
     .run = s_cmd_set_profile,
     .npos = 1,
     .pos = {"CUSTOMER"},
     .opts = CTL_O_PROFILE | CTL_O(CTL_O_TXN),
     .required = CTL_O(CTL_O_TXN),
     .synopsis =
         "CUSTOMER --txn ID [--name N] [--birthday D] [--email E] [--phone P] [--prefs TEXT]",
     .summary = "change a customer's profile",
     .help = "Set the given profile fields of CUSTOMER; the others are left as they are.\n\n"
             "options:\n"
             "  --txn ID                 transaction id (required)\n" S_PROFILE_HELP},
    {.name = "status",
     .run = s_cmd_status,
     .npos = 0,
     .pos = {NULL},
     .opts = 0,
     .synopsis = "",
     .summary = "show the node's state and its view of the other nodes",
     .help = "Show the node's id, name, client endpoint, incarnation, program version, event\n"
             "and customer counts, version vector (origin:seq), state digest, clock, uptime,\n"
             "store use; the transfers of rights it gave (sent) and received and the\n"
             "requests for rights it sent to peers, since it started, and the redemptions\n"
             "waiting for rights now (pending); then one row per peer, as this node sees\n"
             "it:\n\n"
             "  ID, NAME, ENDPOINT  the peer and its peer endpoint (from this node's config)\n"
             "  STATE               up (session established and heard recently) or down\n"
             "  LAST HEARD          time since its last message, or never\n"
             "  EVENTS              its event count, as it last announced\n"
             "  BEHIND              events this node holds that the peer lacks\n"
             "  MISSING             events the peer holds that this node lacks\n"
             "  LAG                 age of the oldest event the peer lacks (0 ms: none)\n"
             "  DIGEST              its state digest, as it last announced\n"
             "  CONVERGED           yes: same version vector and digest as this node\n"
             "  SENT, RECEIVED      events sent to it, and received from it and applied here\n"
             "  DROPPED             messages to it dropped (queue full or link down); the\n"
             "                      peer repairs such gaps by catch-up\n"},
    {.name = "verify",
     .run = s_cmd_verify,
     .npos = 0,
     .pos = {NULL},
     .opts = CTL_O(CTL_O_CONFIG),
     .synopsis = "[--timeout SECONDS] [--config FILE]",
     .summary = "check that every node of the chain holds the same state",
     .help = "Ask every node of the chain for its status and compare them. The chain is\n"
             "this node (--node, or the [node] listen endpoint of a loyald config file with\n"
             "--config) and every peer in its status, each asked at the client endpoint it\n"
             "announced (a peer that has announced none counts as not answering). Nodes are\n"
             "asked one after the other, each within --timeout (default 5 s).\n\n"
             "One line per node: id, name, client endpoint, whether it answered, its event\n"
             "count and digest, and how many events it lacks of the union of all the nodes'\n"
             "version vectors (for each origin and incarnation, the highest sequence number\n"
             "any node holds, minus its own).\n\n"
             "options:\n"
             "  --config FILE            the loyald config file of the node to start from\n"
             "                           (instead of --node; a wildcard listen host such as\n"
             "                           tcp://*:7101 is asked at 127.0.0.1)\n",
     .exit_text = "exit status:\n"
                  "  0  every node answered, and all hold the same events and the same digest\n"
                  "  1  a node differs or did not answer (or the first node refused, or is not\n"
                  "     the node that --config describes)\n"
                  "  2  usage error (or an unreadable --config file); nothing was sent\n"
                  "  3  the first node was unreachable or did not answer in time\n"},
    {.name = "debts",
     .run = s_cmd_debts,
     .npos = 0,
     .pos = {NULL},
     .opts = CTL_O(CTL_O_LIMIT) | CTL_O(CTL_O_AFTER) | CTL_O(CTL_O_ALL),
     .synopsis = "[--limit N] [--after CUSTOMER] [--all]",
     .summary = "list the customers who owe points",
     .help = "List the customers with a debt: points refunded after they were already spent.\n"
             "Their next earnings repay the debt first. One line per customer, by customer\n"
             "id: the debt, lifetime points and the time of the last activity; then how many\n"
             "customers were listed and what they owe together.\n\n"
             "options:\n"
             "  --limit N                customers per request, 1 to 100 (default 100);\n"
             "                           without --all, the most listed\n"
             "  --after CUSTOMER         start after this customer id (to continue a listing)\n"
             "  --all                    ask page after page until every debt is listed\n"},
    {.name = "events",
     .run = s_cmd_events,
     .npos = 0,
     .pos = {NULL},
     .opts = CTL_O(CTL_O_ORIGIN) | CTL_O(CTL_O_SINCE) | CTL_O(CTL_O_LIMIT),
     .synopsis = "[--origin ID] [--since SEQ] [--limit N]",
     .summary = "list the node's events",
     .help = "List the events the node holds, one per line, by origin and sequence number:\n"
             "ORIGIN:SEQ TIME TYPE CUSTOMER POINTS, then key=value fields. A transfer of\n"
             "rights shows the points moved and the receiving node (\"transfer C1 50 \u2192\n"
             "node 2\"); it does not change the balance.\n\n"
             "options:\n"
             "  --origin ID              only events created by node ID\n"
             "  --since SEQ              only events with a sequence number above SEQ\n"
             "  --limit N                at most N events, 1 to 100 (default 100)\n"},
};
#define S_NCMDS (sizeof s_cmds / sizeof s_cmds[0])

static void s_global_help(void)
{
    ctl_print_usage(stdout, NULL);
    fputs("\nStaff and operator tool for a Loyal node.\n\ncommands:\n", stdout);
    for (size_t i = 0; i < S_NCMDS; i++)
        printf("  %-12s %s\n", s_cmds[i].name, s_cmds[i].summary);
    fputs("\nglobal options (before or after the command):\n"
          "  --node ENDPOINT     the node (default $LOYAL_NODE, else " S_DEFAULT_NODE ")\n"
          "  --timeout SECONDS   how long to wait for the answer (default 5; decimals allowed)\n"
          "  --json              print exactly one JSON object on stdout\n"
          "  -h, --help          show this help; 'loyalctl COMMAND --help' shows a command's\n"
          "  --version           print the version\n\n"
          "Ids (customers, transactions, operators) are 1 to 64 characters of\n"
          "A-Z a-z 0-9 . _ : @ # / + -. Retrying a command with the same --txn is safe.\n\n",
          stdout);
    fputs(s_exit_text, stdout);
}

static void s_cmd_help(const ctl_cmd *cmd)
{
    ctl_print_usage(stdout, cmd);
    printf("\n%s\nglobal options: --node ENDPOINT, --timeout SECONDS, --json, -h/--help "
           "(see 'loyalctl --help')\n\n%s",
           cmd->help, cmd->exit_text ? cmd->exit_text : s_exit_text);
}

/* ---- the command line ---- */

static const ctl_cmd *s_find_cmd(const char *name)
{
    for (size_t i = 0; i < S_NCMDS; i++)
        if (strcmp(s_cmds[i].name, name) == 0)
            return &s_cmds[i];
    return NULL;
}

/* Index of command option `name` (`len` bytes, after "--"), or -1. */
static int s_find_opt(const char *name, size_t len)
{
    for (int i = 0; i < CTL_O_COUNT; i++)
        if (strlen(s_opts[i].name) == len && strncmp(s_opts[i].name, name, len) == 0)
            return i;
    return -1;
}

/* Options start with "--", or are "-" and a letter ("-h"); "-50" and "-" are arguments. */
static int s_is_option(const char *a)
{
    return a[0] == '-' && (a[1] == '-' || isalpha((unsigned char)a[1]));
}

static int s_parse_timeout(const char *s, double *out)
{
    char *end;
    if (!isdigit((unsigned char)s[0]) && s[0] != '.')
        return -1; /* no sign, space, hex, inf or nan */
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v) || v < S_TIMEOUT_MIN_S || v > S_TIMEOUT_MAX_S)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    ctl_ctx x = {.timeout_s = S_DEFAULT_TIMEOUT_S};
    int help = 0, version = 0, rest = 0, i;
    char err[256] = "";

    for (i = 1; i < argc && !err[0]; i++) {
        const char *a = argv[i];
        if (rest || !s_is_option(a)) {
            if (!x.cmd) {
                if (!(x.cmd = s_find_cmd(a)))
                    snprintf(err, sizeof err, "unknown command '%s'", a);
            } else if (x.npos < CTL_POS_MAX)
                x.pos[x.npos++] = a;
            else
                snprintf(err, sizeof err, "unexpected argument '%s'", a);
            continue;
        }
        if (strcmp(a, "--") == 0) {
            rest = 1;
            continue;
        }
        const char *eq = strchr(a, '='), *val = eq ? eq + 1 : NULL;
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        int o = a[1] == '-' ? s_find_opt(a + 2, len - 2) : -1;
        const char **dst = NULL;
#define S_IS(s) (len == strlen(s) && strncmp(a, s, len) == 0)
        if (S_IS("--help") || S_IS("-h") || S_IS("--version") || S_IS("--json")) {
            if (val)
                snprintf(err, sizeof err, "option '%.*s' takes no value", (int)len, a);
            else if (S_IS("--version"))
                version = 1;
            else if (S_IS("--json"))
                x.json = 1;
            else
                help = 1;
            continue;
        }
        if (S_IS("--node"))
            dst = &x.node;
        else if (S_IS("--timeout"))
            dst = &x.timeout_arg;
        else if (o >= 0 && x.cmd && (x.cmd->opts & CTL_O(o)))
            dst = &x.opt[o];
        else if (o >= 0 && !x.cmd)
            snprintf(err, sizeof err, "option '%.*s' must come after the command", (int)len, a);
        else if (x.cmd)
            snprintf(err, sizeof err, "unknown option '%.*s' for '%s'", (int)len, a, x.cmd->name);
        else
            snprintf(err, sizeof err, "unknown option '%.*s'", (int)len, a);
#undef S_IS
        if (!dst)
            continue;
        if (o >= 0 && dst == &x.opt[o] && !s_opts[o].arg) { /* a flag */
            if (val)
                snprintf(err, sizeof err, "option '%.*s' takes no value", (int)len, a);
            else if (*dst)
                snprintf(err, sizeof err, "option '%.*s' given twice", (int)len, a);
            else
                *dst = "";
            continue;
        }
        if (!val && i + 1 >= argc)
            snprintf(err, sizeof err, "option '%.*s' needs a value", (int)len, a);
        else if (*dst)
            snprintf(err, sizeof err, "option '%.*s' given twice", (int)len, a);
        else
            *dst = val ? val : argv[++i];
    }
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) { /* after an error */
        if (strcmp(argv[i], "--json") == 0)
            x.json = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            help = 1;
    }

    if (help) {
        if (x.cmd)
            s_cmd_help(x.cmd);
        else
            s_global_help();
        return CTL_EXIT_OK;
    }
    if (version) {
        if (x.json) {
            ly_json j;
            ly_json_init(&j, stdout);
            ly_json_object(&j);
            ly_json_kstr(&j, "version", LY_VERSION);
            ly_json_end(&j);
            ly_json_finish(&j);
        } else {
            printf("loyalctl %s\n", LY_VERSION);
        }
        return CTL_EXIT_OK;
    }
    if (err[0])
        return ctl_usage(&x, "%s", err);
    if (!x.cmd)
        return ctl_usage(&x, "no command given");
    if (x.npos < x.cmd->npos)
        return ctl_usage(&x, "missing %s", x.cmd->pos[x.npos]);
    if (x.npos > x.cmd->npos)
        return ctl_usage(&x, "unexpected argument '%s'", x.pos[x.cmd->npos]);
    for (int o = 0; o < CTL_O_COUNT; o++)
        if ((x.cmd->required & CTL_O(o)) && !x.opt[o])
            return ctl_usage(&x, "missing --%s %s", s_opts[o].name, s_opts[o].arg);
    if (x.timeout_arg && s_parse_timeout(x.timeout_arg, &x.timeout_s) != 0)
        return ctl_usage(&x, "invalid timeout '%s' (seconds, %g to %g)", x.timeout_arg,
                         S_TIMEOUT_MIN_S, S_TIMEOUT_MAX_S);
    const char *env = getenv("LOYAL_NODE");
    if (x.node) {
        x.node_from = "--node";
    } else if (env && *env) {
        x.node = env;
        x.node_from = "$LOYAL_NODE";
    } else {
        x.node = S_DEFAULT_NODE;
        x.node_from = "the default";
    }
    if (!ly_endpoint_valid(x.node) || strchr(x.node, '*'))
        return ctl_usage(&x, "invalid endpoint '%s' (from %s; tcp://HOST:PORT or ipc://PATH)",
                         x.node, x.node_from);

    int rc = x.cmd->run(&x);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "loyalctl: cannot write the output\n");
        return rc == CTL_EXIT_OK ? CTL_EXIT_FAILED : rc;
    }
    return rc;
}
