/* chainwait -- poll a chain's status until it has converged; say how long it took.
 *
 *   chainwait --nodes EP1,EP2,... [--interval MS] [--timeout S] [--since-ms EPOCH_MS]
 *             [--progress] [--json]
 *
 * Every interval (default 100 ms) asks each node for its status, one after the
 * other. Records the first poll round in which every node answered, the first
 * in which some node's events count differed from its first answer's (e.g. a
 * restarted node began to catch up), the first in which they all reported the
 * same events count, and the first in which,
 * besides, every peer row of every node showed converged (same version vector
 * and digest; a node learns a peer's from its heartbeats, one a second). Times
 * are milliseconds since --since-ms (wall clock, ms since the epoch: e.g. when
 * a node was started) or else since chainwait started, taken when the round
 * that saw the condition ended. --progress prints each round's events counts
 * to stderr (* after a count: some peer row not converged; ?: never answered).
 * The clock and the option parsing are benchlib.h's.
 *
 * Exit status: 0 converged, 1 not within the timeout, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto/client.h"
#include "tests/bench/benchlib.h"

#define S_NODES_MAX 16

typedef struct s_node {
    char *n_ep;
    ly_client *n_client;
    int n_answered;        /* in the current round */
    uint64_t n_events;     /* from the last answer */
    uint64_t n_first;      /* events at its first answer */
    uint64_t n_at_change;  /* events in the round that first saw a change */
    int n_peers_converged; /* all its peer rows converged, in the last answer */
    uint32_t n_npeers;
} s_node;

static s_node s_nodes[S_NODES_MAX];
static int s_nnodes;

/* CLOCK_REALTIME in milliseconds (since the epoch). */
static uint64_t s_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The --nodes list into s_nodes. 0 ok, -1 bad. */
static int s_parse_nodes(const char *s)
{
    char *eps[S_NODES_MAX];
    int n = lyb_endpoints(s, 1, eps, S_NODES_MAX);
    for (int i = 0; i < n; i++)
        s_nodes[i].n_ep = eps[i];
    s_nnodes = n > 0 ? n : 0;
    return n > 0 ? 0 : -1;
}

/* Ask node `n` for its status; fills its fields. 0 answered, -1 not. */
static int s_poll(s_node *n, int timeout_ms)
{
    if (n->n_client == NULL)
        n->n_client = ly_client_new(n->n_ep, timeout_ms);
    if (n->n_client == NULL)
        return -1;
    ly_req rq;
    ly_rep rp;
    ly_req_init(&rq, LY_MSG_STATUS);
    ly_err e = ly_client_call(n->n_client, &rq, &rp);
    int ok = e == LY_OK && rp.rp_err == LY_OK;
    if (ok) {
        const ly_node_status *ns = rp.rp_status;
        if (!n->n_answered && n->n_first == 0)
            n->n_first = ns->ns_events;
        n->n_events = ns->ns_events;
        n->n_npeers = ns->ns_peers ? ns->ns_npeers : 0;
        n->n_peers_converged = 1;
        for (uint32_t i = 0; i < n->n_npeers; i++)
            if (!ns->ns_peers[i].ps_converged || ns->ns_peers[i].ps_behind ||
                ns->ns_peers[i].ps_missing)
                n->n_peers_converged = 0;
    }
    ly_rep_fini(&rp);
    return ok ? 0 : -1;
}

static void s_usage(FILE *out)
{
    fputs("usage: chainwait --nodes EP1,EP2,... [--interval MS] [--timeout S]\n"
          "                 [--since-ms EPOCH_MS] [--progress] [--json]\n"
          "  --nodes LIST     the nodes' client endpoints, comma-separated (at most 16)\n"
          "  --interval MS    poll period (default 100)\n"
          "  --timeout S      give up after S seconds (default 300)\n"
          "  --since-ms T     report times since wall-clock T (ms since the epoch)\n"
          "  --progress       print every round's events counts to stderr\n"
          "  --json           print one JSON line instead of text\n",
          out);
}

static void s_print(int json, int64_t t_answer, int64_t t_change, int64_t t_equal, int64_t t_conv,
                    long rounds)
{
    if (json) {
        printf("{\"converged\":%s,\"ms_answer\":%" PRId64 ",\"ms_first_change\":%" PRId64
               ",\"ms_equal\":%" PRId64 ",\"ms_converged\":%" PRId64 ",\"rounds\":%ld,\"events\":[",
               t_conv >= 0 ? "true" : "false", t_answer, t_change, t_equal, t_conv, rounds);
        for (int i = 0; i < s_nnodes; i++)
            printf("%s%" PRIu64, i ? "," : "", s_nodes[i].n_events);
        printf("],\"events_first\":[");
        for (int i = 0; i < s_nnodes; i++)
            printf("%s%" PRIu64, i ? "," : "", s_nodes[i].n_first);
        printf("],\"events_at_change\":[");
        for (int i = 0; i < s_nnodes; i++)
            printf("%s%" PRIu64, i ? "," : "", s_nodes[i].n_at_change);
        printf("]}\n");
        return;
    }
    printf("all answering after %" PRId64 " ms, first change after %" PRId64
           " ms, same events after %" PRId64 " ms, converged after %" PRId64
           " ms (%ld rounds; -1: never)\n",
           t_answer, t_change, t_equal, t_conv, rounds);
    for (int i = 0; i < s_nnodes; i++)
        printf("  %s: %" PRIu64 " events (first seen %" PRIu64 ")\n", s_nodes[i].n_ep,
               s_nodes[i].n_events, s_nodes[i].n_first);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"nodes", required_argument, 0, 'n'},   {"interval", required_argument, 0, 'i'},
        {"timeout", required_argument, 0, 't'}, {"since-ms", required_argument, 0, 's'},
        {"progress", no_argument, 0, 'p'},      {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    long interval = 100, timeout_s = 300;
    uint64_t since = 0;
    int progress = 0, json = 0, ch, bad = 0;
    char *end;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        errno = 0;
        switch (ch) {
        case 'n':
            if (s_nnodes || s_parse_nodes(optarg) != 0)
                bad = 1;
            break;
        case 'i':
            interval = lyb_num(optarg, 1, 60000, &bad);
            break;
        case 't':
            timeout_s = lyb_num(optarg, 1, 86400, &bad);
            break;
        case 's':
            since = strtoull(optarg, &end, 10);
            if (*optarg == '\0' || *end || errno)
                bad = 1;
            break;
        case 'p':
            progress = 1;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            bad = 1;
        }
        if (bad)
            return lyb_usage_error("chainwait", argv[optind - 1], s_usage);
    }
    if (optind < argc || s_nnodes == 0) {
        fprintf(stderr, "chainwait: %s\n",
                s_nnodes ? "unexpected argument" : "--nodes is required");
        s_usage(stderr);
        return 2;
    }
    uint64_t wall0 = s_wall_ms(), mono0 = lyb_now_us() / 1000u;
    if (since == 0 || since > wall0)
        since = wall0;
    uint64_t offset = wall0 - since; /* ms between --since-ms and our start */
    uint64_t deadline = mono0 + (uint64_t)timeout_s * 1000u;
    int call_timeout = interval < 1000 ? 1000 : (int)interval;
    int64_t t_answer = -1, t_change = -1, t_equal = -1, t_conv = -1;
    long rounds = 0;
    for (uint64_t next = mono0;; next += (uint64_t)interval) {
        uint64_t now = lyb_now_us() / 1000u;
        if (now < next)
            lyb_sleep_us((next - now) * 1000u);
        else
            next = now; /* a slow round: no burst to catch up */
        int all = 1;
        for (int i = 0; i < s_nnodes; i++) {
            s_node *n = &s_nodes[i];
            int ok = s_poll(n, call_timeout) == 0;
            n->n_answered = n->n_answered || ok;
            if (!ok) {
                all = 0;
                ly_client_destroy(&n->n_client); /* a fresh connection next round */
            }
        }
        rounds++;
        int64_t t = (int64_t)(offset + lyb_now_us() / 1000u - mono0);
        if (all && t_answer < 0)
            t_answer = t;
        int equal = all, conv = all, changed = 0;
        for (int i = 0; i < s_nnodes; i++) {
            equal = equal && s_nodes[i].n_events == s_nodes[0].n_events;
            conv = conv && s_nodes[i].n_peers_converged;
            changed =
                changed || (s_nodes[i].n_answered && s_nodes[i].n_events != s_nodes[i].n_first);
        }
        if (changed && t_change < 0) {
            t_change = t;
            for (int i = 0; i < s_nnodes; i++)
                s_nodes[i].n_at_change = s_nodes[i].n_events;
        }
        if (equal && t_equal < 0)
            t_equal = t;
        if (progress) {
            fprintf(stderr, "chainwait: %" PRId64 " ms:", t);
            for (int i = 0; i < s_nnodes; i++)
                fprintf(stderr, " %" PRIu64 "%s", s_nodes[i].n_events,
                        !s_nodes[i].n_answered         ? "?"
                        : s_nodes[i].n_peers_converged ? ""
                                                       : "*");
            fprintf(stderr, "\n");
        }
        if (equal && conv) {
            t_conv = t;
            break;
        }
        if (lyb_now_us() / 1000u >= deadline)
            break;
    }
    s_print(json, t_answer, t_change, t_equal, t_conv, rounds);
    for (int i = 0; i < s_nnodes; i++) {
        ly_client_destroy(&s_nodes[i].n_client);
        free(s_nodes[i].n_ep);
    }
    return t_conv >= 0 ? 0 : 1;
}
