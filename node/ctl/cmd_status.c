/* cmd_status.c -- `status`: the node, and its view of its peers. */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node/ctl/ctl.h"

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
    ly_json_kuint(j, "program", ps->ps_program);
    ly_json_kstr(j, "program_hash", ctl_hex64(ps->ps_program_hash, digest, sizeof digest));
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
    {"CONVERGED", 0}, {"SENT", 1},   {"RECEIVED", 1}, {"DROPPED", 1}, {"PROGRAM", 0},
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
    const ly_node_status *ns = ctx;
    int same = ps->ps_program == ns->ns_program && ps->ps_program_hash == ns->ns_program_hash;
    snprintf(c[k++], CTL_CELL_MAX, "%" PRIu32 "%s", ps->ps_program,
             same || !ps->ps_up ? "" : " (differs)");
}

/* ns_security as --json names it. */
static const char *s_security_name(const ly_node_status *ns)
{
    switch (ns->ns_security) {
    case LY_SECURITY_LOOPBACK:
        return "loopback";
    case LY_SECURITY_CURVE:
        return "curve";
    case LY_SECURITY_INSECURE:
        return "insecure";
    default:
        return "unknown";
    }
}

/* The security line: how the node protects its sockets and, with keys, who
 * asked ("curve (you: operator 'alice')"). */
static void s_print_security(const ly_node_status *ns)
{
    switch (ns->ns_security) {
    case LY_SECURITY_LOOPBACK:
        printf("security     loopback only (no keys: the node serves this machine only)\n");
        break;
    case LY_SECURITY_CURVE:
        if (ns->ns_role != LY_ROLE_NONE && ns->ns_key_name[0])
            printf("security     curve (you: %s '%s')\n", ly_role_name(ns->ns_role),
                   ns->ns_key_name);
        else if (ns->ns_role != LY_ROLE_NONE)
            printf("security     curve (you: %s)\n", ly_role_name(ns->ns_role));
        else
            printf("security     curve\n");
        break;
    case LY_SECURITY_INSECURE:
        printf("security     INSECURE: no keys on a non-loopback endpoint (insecure = true): "
               "anyone who reaches the node may do anything\n");
        break;
    default:
        printf("security     unknown (%u)\n", (unsigned)ns->ns_security);
        break;
    }
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
    ly_json_kstr(&j, "security", s_security_name(ns));
    if (ns->ns_role != LY_ROLE_NONE)
        ly_json_kstr(&j, "role", ly_role_name(ns->ns_role));
    else
        ly_json_knull(&j, "role");
    if (ns->ns_key_name[0])
        ly_json_kstr(&j, "key_name", ns->ns_key_name);
    else
        ly_json_knull(&j, "key_name");
    ly_json_kuint(&j, "program", ns->ns_program);
    ly_json_kstr(&j, "program_hash", ctl_hex64(ns->ns_program_hash, digest, sizeof digest));
    if (ns->ns_program_next) {
        ly_json_kuint(&j, "program_next", ns->ns_program_next);
        ly_json_kuint(&j, "program_next_ms", ns->ns_program_next_ms);
    }
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
    ly_json_kuint(&j, "duplicates", ns->ns_duplicates);
    ly_json_kuint(&j, "conflicts", ns->ns_conflicts);
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
    const ly_node_status *ns = rp->rp_status;
    uint32_t nvv = ns->ns_nvv < LY_VV_MAX ? ns->ns_nvv : LY_VV_MAX, npeers = ctl_npeers(ns);
    char buf[64], buf2[64];
    (void)rq;
    if (x->json) {
        s_show_status_json(ns);
        return;
    }
    printf("node         %u (%s)\n", (unsigned)ns->ns_id, ns->ns_name);
    printf("client       %s\n", ns->ns_client[0] ? ns->ns_client : "- (not reported)");
    s_print_security(ns);
    printf("incarnation  %" PRIu32 "\n", ns->ns_incarnation);
    printf("program      version %" PRIu32 "%s, hash %s", ns->ns_program,
           ns->ns_program ? "" : " (the default: none applied)",
           ctl_hex64(ns->ns_program_hash, buf, sizeof buf));
    if (ns->ns_program_next)
        printf("; version %" PRIu32 " from %s", ns->ns_program_next,
               ctl_iso(ns->ns_program_next_ms << 16, buf2, sizeof buf2));
    printf("\n");
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
    printf("once         %s duplicate%s void (retried elsewhere; they count once), %s "
           "conflict%s%s\n",
           ctl_unum(ns->ns_duplicates), ns->ns_duplicates == 1 ? "" : "s",
           ctl_unum(ns->ns_conflicts), ns->ns_conflicts == 1 ? "" : "s",
           ns->ns_conflicts ? " (one id, different requests: loyalctl conflicts)" : "");
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

int ctl_run_status(ctl_ctx *x)
{
    ly_req rq;
    ly_req_init(&rq, LY_MSG_STATUS);
    return ctl_call(x, &rq, s_show_status);
}
