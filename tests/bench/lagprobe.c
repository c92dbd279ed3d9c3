/* lagprobe -- how long a write at one node takes to reach every node of a chain.
 *
 *   lagprobe --nodes EP1,EP2,... (--earn CUSTOMER | --program FILE --operator NAME)
 *            [--repeat N] [--gap-ms MS] [--interval-us US] [--timeout S] [--json]
 *
 * N times (default 10), with MS milliseconds (default 200) between the end of
 * one sample and the next write: makes one write at the first node, then polls
 * every node's status, US microseconds (default 500) between rounds, until
 * every node shows it; a node is polled until it does, then no more. Each
 * round sends its status requests to every node still polled before it reads
 * the answers, so the nodes answer in parallel; a node's time is taken when
 * its answer is read. A sample's time for a node runs from just before the
 * write's request was sent to the answer that first showed it (so the first
 * node's time includes its own commit), on CLOCK_MONOTONIC; the sample's time
 * is the largest of them: when the last node had it. Before the first sample
 * every node is asked once (connections made).
 *
 *   --earn CUSTOMER     an earn of 10.00 for CUSTOMER (enrolled at the first
 *                       node if it is not, and awaited at every node before the
 *                       first sample). A node shows it when its status's
 *                       version vector holds the earn's origin at the earn's
 *                       seq or above: give a customer nothing else writes, and
 *                       write nothing else at the first node, so the seq is
 *                       this earn's alone.
 *   --program FILE      applies FILE's program (loyalctl program apply's
 *                       request, operator NAME) as version V + i in sample i
 *                       (0-based), V the file's version: versions only
 *                       increase, so V must be above every version the chain
 *                       holds. Give FILE without `effective` (in force at once).
 *                       A node shows it when its status reports version V + i
 *                       in force.
 *
 * The same status request is the poll in both modes, so both pay the same
 * polling. The first node must be the one written to and its origin must not
 * restart (a new incarnation's seqs start again).
 *
 * Output: per sample the time until every node showed it (all_ms) and until
 * the first node's reply (local_ms), per node the median, and the median and
 * maximum of all_ms; milliseconds with three decimals. --json prints one line:
 *   {"mode":"earn","nodes":5,"samples":10,"timeouts":0,"all_ms":[...],
 *    "local_ms":[...],"node1_ms":[...],...,"node_p50_ms":[...],"p50_ms":X,"max_ms":Y,
 *    "parts":P,"bytes":B}   (parts and bytes: --program's size; 0 for --earn)
 * A sample that timed out (S seconds, default 30) counts -1 and is left out
 * of the median and the maximum. The median of an even number of samples is
 * the mean of the two middle ones.
 *
 * Exit status: 0 every sample seen everywhere, 1 a write failed or a sample
 * timed out, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/program.h"
#include "common/rules.h"
#include "proto/client.h"
#include "tests/bench/benchlib.h"

#define S_NODES_MAX   16
#define S_REPEAT_MAX  1000
#define S_EARN_AMOUNT 1000 /* minor units: 10.00 */

typedef struct s_node {
    char *n_ep;
    ly_client *n_client;
} s_node;

typedef struct s_probe {
    int pb_earn; /* 1 --earn, 0 --program */
    const char *pb_customer;
    ly_progdef pb_pd; /* --program: the file's definition */
    uint8_t pb_buf[LY_PD_ENC_MAX];
    const char *pb_operator;
    /* what the current sample waits for */
    uint16_t pb_origin;
    uint64_t pb_seq;
    uint32_t pb_version;
} s_probe;

static s_node s_nodes[S_NODES_MAX];
static int s_nnodes;
static int s_timeout_ms = 30000;
static char s_run_id[24];

/* Node i's client, connected on first use. NULL if it cannot be made. */
static ly_client *s_client(int i)
{
    if (s_nodes[i].n_client == NULL)
        s_nodes[i].n_client = ly_client_new(s_nodes[i].n_ep, s_timeout_ms);
    return s_nodes[i].n_client;
}

/* Sends node i a status request. 0 sent, -1 not. */
static int s_ask(int i)
{
    ly_client *c = s_client(i);
    if (c == NULL)
        return -1;
    ly_req rq;
    ly_rep err;
    ly_req_init(&rq, LY_MSG_STATUS);
    ly_err e = ly_client_send(c, &rq, &err);
    ly_rep_fini(&err);
    return e == LY_OK ? 0 : -1;
}

/* Node i's answer to s_ask: 1 if its status shows what `pb` waits for, 0 if
 * not, -1 no answer. */
static int s_shows(int i, const s_probe *pb)
{
    ly_rep rp;
    ly_err e = ly_client_recv(s_nodes[i].n_client, &rp);
    int rc = -1;
    if (e == LY_OK && rp.rp_err == LY_OK && rp.rp_status) {
        const ly_node_status *ns = rp.rp_status;
        rc = 0;
        if (!pb->pb_earn) {
            rc = ns->ns_program == pb->pb_version;
        } else {
            for (uint32_t k = 0; k < ns->ns_nvv && k < LY_VV_MAX; k++)
                if (ns->ns_vv[k].origin == pb->pb_origin && ns->ns_vv[k].seq >= pb->pb_seq)
                    rc = 1;
        }
    }
    ly_rep_fini(&rp);
    return rc;
}

/* One status round over every node (before the first sample: connections
 * made, nodes answering). 0 all answered, -1 not. */
static int s_warm(const s_probe *pb)
{
    int rc = 0;
    for (int k = 0; k < s_nnodes; k++)
        if (s_ask(k) != 0 || s_shows(k, pb) < 0) {
            fprintf(stderr, "lagprobe: %s does not answer\n", s_nodes[k].n_ep);
            rc = -1;
        }
    return rc;
}

/* One request to the first node; prints why it failed. 0 ok, -1 failed. */
static int s_call0(ly_req *rq, ly_rep *rp, const char *what)
{
    ly_client *c = s_client(0);
    ly_err e = c ? ly_client_call(c, rq, rp) : LY_EIO;
    if (c == NULL)
        ly_rep_init(rp);
    if (e == LY_OK && rp->rp_err == LY_OK)
        return 0;
    fprintf(stderr, "lagprobe: %s at %s: %s%s%s\n", what, s_nodes[0].n_ep,
            e != LY_OK ? ly_errname(e) : ly_errname((ly_err)rp->rp_err),
            e == LY_OK && rp->rp_message[0] ? ": " : "", e == LY_OK ? rp->rp_message : "");
    return -1;
}

/* Sample i's write at the first node; sets what the sample waits for. */
static int s_write(s_probe *pb, int i)
{
    ly_req rq;
    ly_rep rp;
    int rc;
    if (pb->pb_earn) {
        ly_req_init(&rq, LY_MSG_EARN);
        snprintf(rq.rq_customer, sizeof rq.rq_customer, "%s", pb->pb_customer);
        snprintf(rq.rq_txn, sizeof rq.rq_txn, "lagprobe-%s-%d", s_run_id, i);
        rq.rq_amount = S_EARN_AMOUNT;
        rc = s_call0(&rq, &rp, "earn");
        pb->pb_origin = rp.rp_origin;
        pb->pb_seq = rp.rp_seq;
    } else {
        ly_progdef pd = pb->pb_pd;
        pd.pd_version = pb->pb_pd.pd_version + (uint32_t)i;
        size_t len = ly_progdef_encode(&pd, pb->pb_buf, sizeof pb->pb_buf);
        ly_req_init(&rq, LY_MSG_PROGRAM_APPLY);
        snprintf(rq.rq_operator, sizeof rq.rq_operator, "%s", pb->pb_operator);
        snprintf(rq.rq_reason, sizeof rq.rq_reason, "lagprobe sample %d", i + 1);
        rq.rq_blob = pb->pb_buf; /* borrowed */
        rq.rq_blob_len = (uint32_t)len;
        rc = s_call0(&rq, &rp, "program apply");
        rq.rq_blob = NULL;
        pb->pb_version = pd.pd_version;
        if (rc == 0 && rp.rp_replayed) {
            fprintf(stderr, "lagprobe: version %" PRIu32 " was held already\n", pd.pd_version);
            rc = -1;
        }
    }
    ly_rep_fini(&rp);
    return rc;
}

/* --earn: enroll the customer at the first node (an existing one is fine) and
 * wait until every node holds the enrollment. 0 ok, -1 failed. */
static int s_enroll(s_probe *pb)
{
    ly_req rq;
    ly_rep rp;
    ly_req_init(&rq, LY_MSG_ENROLL);
    snprintf(rq.rq_customer, sizeof rq.rq_customer, "%s", pb->pb_customer);
    snprintf(rq.rq_txn, sizeof rq.rq_txn, "lagprobe-enroll:%.40s", pb->pb_customer);
    ly_client *c = s_client(0);
    ly_err e = c ? ly_client_call(c, &rq, &rp) : LY_EIO;
    if (c == NULL)
        ly_rep_init(&rp);
    int ok = e == LY_OK && (rp.rp_err == LY_OK || rp.rp_err == LY_EEXIST);
    if (!ok)
        fprintf(stderr, "lagprobe: enroll %s at %s: %s\n", pb->pb_customer, s_nodes[0].n_ep,
                e != LY_OK ? ly_errname(e) : ly_errname((ly_err)rp.rp_err));
    ly_rep_fini(&rp);
    if (!ok)
        return -1;
    uint64_t deadline = lyb_now_us() + (uint64_t)s_timeout_ms * 1000u;
    for (int i = 0; i < s_nnodes; i++) {
        for (;;) {
            ly_req_init(&rq, LY_MSG_CUSTOMER);
            snprintf(rq.rq_customer, sizeof rq.rq_customer, "%s", pb->pb_customer);
            rq.rq_limit = 1;
            c = s_client(i);
            e = c ? ly_client_call(c, &rq, &rp) : LY_EIO;
            if (c == NULL)
                ly_rep_init(&rp);
            ok = e == LY_OK && rp.rp_err == LY_OK;
            ly_rep_fini(&rp);
            if (ok)
                break;
            if (lyb_now_us() >= deadline) {
                fprintf(stderr, "lagprobe: %s did not reach %s\n", pb->pb_customer,
                        s_nodes[i].n_ep);
                return -1;
            }
            lyb_sleep_us(10000);
        }
    }
    return 0;
}

static int s_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median of the n values of v that are >= 0 (timeouts are -1); -1 if none. */
static double s_median(const double *v, int n)
{
    double *w = malloc(sizeof *w * (size_t)(n > 0 ? n : 1));
    int m = 0;
    if (w == NULL)
        return -1;
    for (int i = 0; i < n; i++)
        if (v[i] >= 0)
            w[m++] = v[i];
    qsort(w, (size_t)m, sizeof *w, s_cmp_double);
    double r = m == 0 ? -1 : m % 2 ? w[m / 2] : (w[m / 2 - 1] + w[m / 2]) / 2;
    free(w);
    return r;
}

static void s_print_list(const char *key, const double *v, int n)
{
    printf("\"%s\":[", key);
    for (int i = 0; i < n; i++)
        printf("%s%.3f", i ? "," : "", v[i]);
    printf("],");
}

static void s_usage(FILE *out)
{
    fputs("usage: lagprobe --nodes EP1,EP2,... (--earn CUSTOMER | --program FILE --operator NAME)\n"
          "                [--repeat N] [--gap-ms MS] [--interval-us US] [--timeout S] [--json]\n"
          "  --nodes LIST      the nodes' client endpoints, comma-separated (at most 16);\n"
          "                    the write goes to the first\n"
          "  --earn CUSTOMER   each sample is an earn for CUSTOMER (enrolled if needed)\n"
          "  --program FILE    each sample applies FILE's program, version V + i\n"
          "  --operator NAME   who applies it (with --program)\n"
          "  --repeat N        samples, 1..1000 (default 10)\n"
          "  --gap-ms MS       pause between samples (default 200)\n"
          "  --interval-us US  pause between poll rounds (default 500)\n"
          "  --timeout S       give up on a sample after S seconds (default 30)\n"
          "  --json            print one JSON line instead of text\n",
          out);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"nodes", required_argument, 0, 'n'},
                                             {"earn", required_argument, 0, 'e'},
                                             {"program", required_argument, 0, 'p'},
                                             {"operator", required_argument, 0, 'o'},
                                             {"repeat", required_argument, 0, 'r'},
                                             {"gap-ms", required_argument, 0, 'g'},
                                             {"interval-us", required_argument, 0, 'i'},
                                             {"timeout", required_argument, 0, 't'},
                                             {"json", no_argument, 0, 'j'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    static s_probe pb;
    const char *program = NULL;
    long repeat = 10, gap_ms = 200, interval_us = 500;
    int json = 0, ch, bad = 0;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'n': {
            char *eps[S_NODES_MAX];
            int n = s_nnodes ? -1 : lyb_endpoints(optarg, 1, eps, S_NODES_MAX);
            for (int i = 0; i < n; i++)
                s_nodes[i].n_ep = eps[i];
            s_nnodes = n > 0 ? n : s_nnodes;
            bad = n <= 0;
            break;
        }
        case 'e':
            pb.pb_customer = optarg;
            pb.pb_earn = 1;
            bad = strlen(optarg) > LY_ID_MAX || !ly_id_valid(optarg);
            break;
        case 'p':
            program = optarg;
            break;
        case 'o':
            pb.pb_operator = optarg;
            bad = strlen(optarg) > LY_ID_MAX || !ly_id_valid(optarg);
            break;
        case 'r':
            repeat = lyb_num(optarg, 1, S_REPEAT_MAX, &bad);
            break;
        case 'g':
            gap_ms = lyb_num(optarg, 0, 600000, &bad);
            break;
        case 'i':
            interval_us = lyb_num(optarg, 0, 1000000, &bad);
            break;
        case 't':
            s_timeout_ms = (int)lyb_num(optarg, 1, 3600, &bad) * 1000;
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
            return lyb_usage_error("lagprobe", argv[optind - 1], s_usage);
    }
    const char *why = optind < argc                  ? "unexpected argument"
                      : s_nnodes == 0                ? "--nodes is required"
                      : !pb.pb_earn == !program      ? "give one of --earn and --program"
                      : program && !pb.pb_operator   ? "--program needs --operator"
                      : pb.pb_earn && pb.pb_operator ? "--operator is for --program"
                                                     : NULL;
    if (why) {
        fprintf(stderr, "lagprobe: %s\n", why);
        s_usage(stderr);
        return 2;
    }
    snprintf(s_run_id, sizeof s_run_id, "%lx%x", (unsigned long)time(NULL), (unsigned)getpid());
    size_t bytes = 0;
    if (program) {
        char msg[512];
        if (ly_progdef_load(program, &pb.pb_pd, msg, sizeof msg) != LY_OK) {
            fprintf(stderr, "lagprobe: %s\n", msg);
            return 2;
        }
        if (pb.pb_pd.pd_version > UINT32_MAX - (uint32_t)repeat) {
            fprintf(stderr, "lagprobe: version %" PRIu32 " + %ld samples is too high\n",
                    pb.pb_pd.pd_version, repeat);
            return 2;
        }
        bytes = ly_progdef_encode(&pb.pb_pd, pb.pb_buf, sizeof pb.pb_buf);
    } else if (s_enroll(&pb) != 0) {
        return 1;
    }
    if (s_warm(&pb) != 0)
        return 1;

    int n = (int)repeat, failed = 0, timeouts = 0, done = 0;
    double *all = calloc((size_t)n, sizeof *all), *local = calloc((size_t)n, sizeof *local);
    double *node_ms = calloc((size_t)n * (size_t)s_nnodes, sizeof *node_ms);
    if (!all || !local || !node_ms)
        return 1;
    for (int i = 0; i < n; i++) {
        if (i > 0)
            lyb_sleep_us((uint64_t)gap_ms * 1000u);
        uint64_t t0 = lyb_now_us();
        if (s_write(&pb, i) != 0) {
            failed = 1;
            break;
        }
        local[i] = (double)(lyb_now_us() - t0) / 1000.0;
        uint64_t deadline = t0 + (uint64_t)s_timeout_ms * 1000u;
        int seen[S_NODES_MAX] = {0}, left = s_nnodes;
        for (;;) {
            int asked[S_NODES_MAX] = {0};
            for (int k = 0; k < s_nnodes; k++) /* all at once: the nodes answer in parallel */
                asked[k] = !seen[k] && s_ask(k) == 0;
            for (int k = 0; k < s_nnodes; k++) {
                if (seen[k])
                    continue;
                int rc = asked[k] ? s_shows(k, &pb) : -1;
                if (rc < 0) {
                    ly_client_destroy(&s_nodes[k].n_client); /* a fresh connection next round */
                } else if (rc) {
                    seen[k] = 1;
                    left--;
                    node_ms[(size_t)k * (size_t)n + (size_t)i] =
                        (double)(lyb_now_us() - t0) / 1000.0;
                }
            }
            if (left == 0 || lyb_now_us() >= deadline)
                break;
            if (interval_us > 0)
                lyb_sleep_us((uint64_t)interval_us);
        }
        all[i] = 0;
        for (int k = 0; k < s_nnodes; k++) {
            double *v = &node_ms[(size_t)k * (size_t)n + (size_t)i];
            if (!seen[k])
                *v = -1;
            else if (*v > all[i])
                all[i] = *v;
        }
        if (left > 0) {
            all[i] = -1;
            timeouts++;
            fprintf(stderr, "lagprobe: sample %d not seen at %d node(s) within %d s\n", i + 1, left,
                    s_timeout_ms / 1000);
        }
        done = i + 1;
    }
    double p50 = s_median(all, done), mx = -1;
    for (int i = 0; i < done; i++)
        mx = all[i] > mx ? all[i] : mx;
    int parts = program ? ly_program_parts((int64_t)bytes) : 0;
    if (json) {
        printf("{\"mode\":\"%s\",\"nodes\":%d,\"samples\":%d,\"timeouts\":%d,",
               pb.pb_earn ? "earn" : "program", s_nnodes, done, timeouts);
        s_print_list("all_ms", all, done);
        s_print_list("local_ms", local, done);
        for (int k = 0; k < s_nnodes; k++) {
            char key[32];
            snprintf(key, sizeof key, "node%d_ms", k + 1);
            s_print_list(key, &node_ms[(size_t)k * (size_t)n], done);
        }
        printf("\"node_p50_ms\":[");
        for (int k = 0; k < s_nnodes; k++)
            printf("%s%.3f", k ? "," : "", s_median(&node_ms[(size_t)k * (size_t)n], done));
        printf("],\"p50_ms\":%.3f,\"max_ms\":%.3f,\"parts\":%d,\"bytes\":%zu}\n", p50, mx, parts,
               bytes);
    } else {
        printf("lagprobe: %s at %s, %d samples over %d nodes", pb.pb_earn ? "earn" : "program",
               s_nodes[0].n_ep, done, s_nnodes);
        if (program)
            printf(" (%zu bytes, %d parts, versions %" PRIu32 "..%" PRIu32 ")", bytes, parts,
                   pb.pb_pd.pd_version, pb.pb_pd.pd_version + (uint32_t)(done ? done - 1 : 0));
        printf("\nevery node after ms: p50 %.3f  max %.3f  (%d timed out)\n", p50, mx, timeouts);
        for (int k = 0; k < s_nnodes; k++)
            printf("  %s: p50 %.3f ms\n", s_nodes[k].n_ep,
                   s_median(&node_ms[(size_t)k * (size_t)n], done));
    }
    free(all);
    free(local);
    free(node_ms);
    for (int k = 0; k < s_nnodes; k++) {
        ly_client_destroy(&s_nodes[k].n_client);
        free(s_nodes[k].n_ep);
    }
    return failed || timeouts ? 1 : 0;
}
