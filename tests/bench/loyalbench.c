/* loyalbench -- load generator for one loyald or a chain of them.
 *
 *   loyalbench (--node EP | --nodes EP1,EP2,...) [--clients N] [--ops N | --duration S]
 *              [--rate OPS] [--customers N] [--skew] [--mix earn=90,redeem=5,customer=5]
 *              [--window W] [--category NAME[,NAME...]] [--enroll] [--timeout MS]
 *              [--json]
 *
 * N client threads, one ly_client each (one request in flight per client, or W
 * pipelined with --window W: the client sends a new request as each reply
 * comes, and latency runs from each request's send to its reply). By
 * default the loop is closed: each client sends its next request as soon as
 * the previous one is answered. With --rate the loop is open: the clients
 * together offer OPS operations per second on a fixed schedule (client i sends
 * its k-th request at start + (k * N + i) / OPS), so the offered load does not
 * drop when the node slows down; a client that falls behind sends at once
 * until it is back on schedule, and latency is measured from the scheduled
 * send time (no coordinated omission), the service time from the actual send.
 * Every operation's latency is kept, so the percentiles are exact. --nodes
 * spreads the clients round-robin over several nodes (client i talks to node
 * i mod the number of nodes), for driving a chain. --skew sends 80% of the
 * operations to 20% of the customers. --enroll first enrolls the customers
 * (and gives each 100 points so redemptions of 1 point succeed), in parallel,
 * with fixed transaction ids: running it again on the same node changes
 * nothing. --ops 0 with --enroll only enrolls. --category gives every earn a
 * purchase category (the seed earns of --enroll have none): one name, or a
 * list that each client takes round-robin (its k-th earn gets name k mod
 * their number), so a program's categories and campaigns limited to them
 * apply; without it earns carry no category. The clock, the random numbers,
 * the 80/20 rule and the percentiles are benchlib.h's, shared by every bench
 * program.
 *
 * Exit status: 0 done, 1 no operation succeeded, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/keys.h"
#include "proto/client.h"
#include "tests/bench/benchlib.h"

#define S_NODES_MAX          64
#define S_SEED_POINTS_AMOUNT 10000 /* minor units: 100 points at the base tier */
#define S_WINDOW_MAX         256
#define S_CATEGORIES_MAX     8

enum { S_OP_EARN, S_OP_REDEEM, S_OP_CUSTOMER, S_OP_COUNT };
static const char *const s_op_names[S_OP_COUNT] = {"earn", "redeem", "customer"};

typedef struct s_opts {
    const char *node; /* as given: one endpoint or the --nodes list */
    char *nodes[S_NODES_MAX];
    int nnodes;
    int clients;
    long ops; /* -1: run for `duration` */
    double duration;
    double rate; /* total offered operations/s; 0: closed loop */
    int customers;
    int skew;
    int mix[S_OP_COUNT]; /* weights */
    int enroll;
    int timeout_ms;
    int window; /* requests in flight per client (closed loop only) */
    int json;
    const char *prefix;
    char categories[S_CATEGORIES_MAX][LY_CATEGORY_MAX + 1]; /* --category */
    int ncategories;
    const char *key_file;      /* --key: this client's secret key file (CurveZMQ) */
    const char *node_key_file; /* --node-key: the node's public key file */
    ly_keypair key;
    char node_public[LY_KEY_Z85 + 1];
} s_opts;

typedef struct s_worker {
    int w_index;
    uint64_t w_rng;
    lyb_samples w_lat; /* µs per answered operation: from the scheduled send time
                        * (--rate) or the send */
    lyb_samples w_svc; /* --rate: from the actual send */
    long w_offered;    /* --rate: operations scheduled before the deadline */
    long w_late;       /* --rate: sent more than 1 ms after their scheduled time */
    long w_ok;
    long w_refused[LY_ERR_COUNT];   /* by the reply's error */
    long w_transport[LY_ERR_COUNT]; /* no reply: by the client's error */
    long w_ops_by_type[S_OP_COUNT];
    unsigned w_earns;      /* earns made: picks the next --category round-robin */
    uint32_t w_connect_us; /* the first call: TCP connect, handshake (CURVE with keys), status */
} s_worker;

static s_opts s_o;
static s_worker *s_workers;
static atomic_long s_claimed; /* operations handed out (--ops mode) */
static atomic_int s_next_enroll;
static atomic_long s_enroll_failed;
static uint64_t s_start_us, s_deadline_us;
static char s_run_id[24];

static void s_cust_id(int i, char *out, size_t cap)
{
    snprintf(out, cap, "%s-%06d", s_o.prefix, i);
}

static int s_pick_op(s_worker *w)
{
    int total = s_o.mix[0] + s_o.mix[1] + s_o.mix[2];
    int r = (int)(lyb_rand(&w->w_rng) % (uint64_t)total);
    for (int i = 0; i < S_OP_COUNT; i++) {
        if (r < s_o.mix[i])
            return i;
        r -= s_o.mix[i];
    }
    return S_OP_EARN;
}

/* The endpoint of client (or enroll thread) i: round-robin over the nodes. */
static const char *s_endpoint(int i)
{
    return s_o.nodes[i % s_o.nnodes];
}

/* A client of node endpoint i: plain, or over CurveZMQ with --key. */
static ly_client *s_client(int i)
{
    if (s_o.key_file == NULL)
        return ly_client_new(s_endpoint(i), s_o.timeout_ms);
    return ly_client_new_curve(s_endpoint(i), s_o.timeout_ms, s_o.key.kp_public, s_o.key.kp_secret,
                               s_o.node_public);
}

/* Enroll customers handed out by a shared counter; each gets a seed earn. */
static void s_enroll_part(ly_client *c)
{
    for (;;) {
        int i = atomic_fetch_add(&s_next_enroll, 1);
        if (i >= s_o.customers)
            return;
        for (int step = 0; step < 2; step++) {
            ly_req rq;
            ly_rep rp;
            ly_req_init(&rq, step == 0 ? LY_MSG_ENROLL : LY_MSG_EARN);
            s_cust_id(i, rq.rq_customer, sizeof rq.rq_customer);
            snprintf(rq.rq_txn, sizeof rq.rq_txn, "%s:%.48s", step == 0 ? "enroll" : "seed",
                     rq.rq_customer);
            if (step == 1)
                rq.rq_amount = S_SEED_POINTS_AMOUNT;
            ly_err e = ly_client_call(c, &rq, &rp);
            if (e != LY_OK || (rp.rp_err != LY_OK && rp.rp_err != LY_EEXIST)) {
                if (atomic_fetch_add(&s_enroll_failed, 1) < 5)
                    fprintf(stderr, "loyalbench: %s %s: %s\n", ly_msgtype_name(rq.rq_type),
                            rq.rq_customer,
                            e != LY_OK ? ly_errname(e) : ly_errname((ly_err)rp.rp_err));
            }
            ly_rep_fini(&rp);
        }
    }
}

/* Claims the next operation. Returns 0 when the run is over. With --rate,
 * waits for the operation's scheduled time and sets *sched (else 0). */
static int s_claim(s_worker *w, unsigned long long k, uint64_t *sched)
{
    *sched = 0;
    if (s_o.rate > 0) {
        /* Client i's k-th send: start + (k * clients + i) / rate. */
        double at = ((double)k * s_o.clients + w->w_index) / s_o.rate;
        *sched = s_start_us + (uint64_t)(at * 1e6);
        if (s_o.ops < 0 && *sched >= s_deadline_us)
            return 0;
    }
    if (s_o.ops >= 0) {
        if (atomic_fetch_add(&s_claimed, 1) >= s_o.ops)
            return 0;
    } else if (lyb_now_us() >= s_deadline_us) {
        return 0;
    }
    if (s_o.rate > 0) {
        w->w_offered++;
        uint64_t now = lyb_now_us();
        if (now < *sched)
            lyb_sleep_until(*sched);
        else if (now - *sched > 1000)
            w->w_late++;
    }
    return 1;
}

/* Fills the next request of a random operation. */
static void s_make_req(s_worker *w, ly_req *rq, unsigned long long *n)
{
    int op = s_pick_op(w);
    ly_req_init(rq, op == S_OP_EARN     ? LY_MSG_EARN
                    : op == S_OP_REDEEM ? LY_MSG_REDEEM
                                        : LY_MSG_CUSTOMER);
    int cust = lyb_pick_customer(&w->w_rng, s_o.customers, s_o.skew);
    s_cust_id(cust, rq->rq_customer, sizeof rq->rq_customer);
    if (op == S_OP_CUSTOMER) {
        rq->rq_limit = 1;
    } else {
        snprintf(rq->rq_txn, sizeof rq->rq_txn, "b%s-%d-%llu", s_run_id, w->w_index, (*n)++);
        rq->rq_amount = op == S_OP_EARN ? 100 + (int64_t)(lyb_rand(&w->w_rng) % 9901) : 1;
    }
    if (op == S_OP_EARN && s_o.ncategories > 0)
        memcpy(rq->rq_category, s_o.categories[w->w_earns++ % (unsigned)s_o.ncategories],
               sizeof rq->rq_category);
    w->w_ops_by_type[op]++;
}

/* Counts one operation's outcome: `e` the transport's, rp the reply (read
 * only when e is LY_OK). Returns -1 when out of memory. */
static int s_account(s_worker *w, ly_err e, const ly_rep *rp, uint64_t lat_us, uint64_t svc_us)
{
    if (e != LY_OK) {
        w->w_transport[e < LY_ERR_COUNT ? e : LY_EINTERNAL]++;
        return 0;
    }
    if (rp->rp_err == LY_OK)
        w->w_ok++;
    else
        w->w_refused[rp->rp_err < LY_ERR_COUNT ? rp->rp_err : LY_EINTERNAL]++;
    if (lyb_samples_add(&w->w_lat, lat_us) != 0 ||
        (s_o.rate > 0 && lyb_samples_add(&w->w_svc, svc_us) != 0))
        return -1;
    return 0;
}

/* One request in flight: send, wait, repeat. */
static void s_run_serial(s_worker *w, ly_client *c)
{
    unsigned long long n = 0;
    for (unsigned long long k = 0;; k++) {
        uint64_t sched;
        if (!s_claim(w, k, &sched))
            break;
        ly_req rq;
        ly_rep rp;
        s_make_req(w, &rq, &n);
        uint64_t t0 = lyb_now_us();
        ly_err e = ly_client_call(c, &rq, &rp);
        uint64_t t1 = lyb_now_us();
        int rc = s_account(w, e, &rp, t1 - (sched && sched < t0 ? sched : t0), t1 - t0);
        ly_rep_fini(&rp);
        if (rc != 0)
            break;
    }
}

/* --window W: up to W requests in flight, a new one sent as each is answered.
 * Latency runs from each request's send to its reply. */
static void s_run_window(s_worker *w, ly_client *c)
{
    struct {
        uint64_t id, t0;
    } fl[S_WINDOW_MAX];
    int nfl = 0, more = 1;
    unsigned long long n = 0, k = 0;
    for (;;) {
        while (more && nfl < s_o.window) {
            uint64_t sched;
            if (!s_claim(w, k++, &sched)) {
                more = 0;
                break;
            }
            ly_req rq;
            ly_rep err;
            s_make_req(w, &rq, &n);
            uint64_t t0 = lyb_now_us();
            ly_err e = ly_client_send(c, &rq, &err);
            ly_rep_fini(&err);
            if (e == LY_OK) {
                fl[nfl].id = rq.rq_id;
                fl[nfl++].t0 = t0;
                continue;
            }
            (void)s_account(w, e, NULL, 0, 0);
            if (e != LY_EINVAL) /* the client reconnected: those in flight are lost */
                for (; nfl > 0; nfl--)
                    (void)s_account(w, e, NULL, 0, 0);
        }
        if (nfl == 0)
            return;
        ly_rep rp;
        ly_err e = ly_client_recv(c, &rp);
        uint64_t t1 = lyb_now_us();
        if (e == LY_ETIMEDOUT || e == LY_EIO) {
            for (; nfl > 0; nfl--)
                (void)s_account(w, e, NULL, 0, 0);
            ly_rep_fini(&rp);
            continue;
        }
        int i = 0;
        while (i < nfl && fl[i].id != rp.rp_id)
            i++;
        if (i == nfl) { /* not ours (id 0 or unknown): the node could not read one */
            ly_rep_fini(&rp);
            continue;
        }
        int rc = s_account(w, e, &rp, t1 - fl[i].t0, t1 - fl[i].t0);
        fl[i] = fl[--nfl];
        ly_rep_fini(&rp);
        if (rc != 0)
            return;
    }
}

static void *s_worker_main(void *arg)
{
    s_worker *w = arg;
    uint64_t t0 = lyb_now_us();
    ly_client *c = s_client(w->w_index);
    if (c == NULL) {
        w->w_transport[LY_EIO]++;
        return NULL;
    }
    ly_req rq;
    ly_rep rp;
    ly_req_init(&rq, LY_MSG_STATUS);
    ly_err e = ly_client_call(c, &rq, &rp);
    w->w_connect_us = (uint32_t)(lyb_now_us() - t0);
    ly_rep_fini(&rp);
    if (e != LY_OK) {
        w->w_transport[e]++;
        ly_client_destroy(&c);
        return NULL;
    }
    if (s_o.window > 1)
        s_run_window(w, c);
    else
        s_run_serial(w, c);
    ly_client_destroy(&c);
    return NULL;
}

/* arg: the thread's index (an int). */
static void *s_enroll_main(void *arg)
{
    ly_client *c = s_client(*(const int *)arg);
    if (c == NULL) {
        atomic_fetch_add(&s_enroll_failed, 1);
        return NULL;
    }
    s_enroll_part(c);
    ly_client_destroy(&c);
    return NULL;
}

static int s_parse_mix(const char *s, int *mix)
{
    int got[S_OP_COUNT] = {0};
    char buf[256];
    if (strlen(s) >= sizeof buf)
        return -1;
    strcpy(buf, s);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (eq == NULL)
            return -1;
        *eq = '\0';
        char *end;
        errno = 0;
        long v = strtol(eq + 1, &end, 10);
        if (*end || errno || v < 0 || v > 1000000)
            return -1;
        int k = -1;
        for (int i = 0; i < S_OP_COUNT; i++)
            if (strcmp(tok, s_op_names[i]) == 0)
                k = i;
        if (k < 0)
            return -1;
        got[k] = (int)v;
    }
    if (got[0] + got[1] + got[2] <= 0)
        return -1;
    memcpy(mix, got, sizeof got);
    return 0;
}

/* --category: 1..S_CATEGORIES_MAX names (ids of 1..LY_CATEGORY_MAX bytes),
 * comma-separated, into s_o.categories. 0 ok, -1 bad. */
static int s_parse_categories(const char *s)
{
    char buf[S_CATEGORIES_MAX * (LY_CATEGORY_MAX + 1)];
    if (strlen(s) >= sizeof buf)
        return -1;
    strcpy(buf, s);
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == S_CATEGORIES_MAX || strlen(tok) > LY_CATEGORY_MAX || !ly_id_valid(tok))
            return -1;
        memset(s_o.categories[n], 0, sizeof s_o.categories[n]);
        memcpy(s_o.categories[n++], tok, strlen(tok));
    }
    if (n == 0)
        return -1;
    s_o.ncategories = n;
    return 0;
}

static void s_usage(FILE *out)
{
    fputs("usage: loyalbench (--node ENDPOINT | --nodes EP1,EP2,...) [--clients N]\n"
          "                  [--ops N | --duration SECONDS] [--rate OPS]\n"
          "                  [--customers N] [--skew] [--mix earn=90,redeem=5,customer=5]\n"
          "                  [--window W] [--category NAME[,NAME...]] [--enroll]\n"
          "                  [--timeout MS] [--prefix ID] [--key FILE --node-key FILE]\n"
          "                  [--json]\n"
          "\n"
          "  --node ENDPOINT   the node's client endpoint (tcp://HOST:PORT)\n"
          "  --nodes LIST      several nodes' client endpoints, comma-separated (at most 64):\n"
          "                    client i talks to node i mod their number\n"
          "  --clients N       concurrent clients, 1..1024 (default 8)\n"
          "  --ops N           total operations (0 with --enroll: only enroll)\n"
          "  --duration S      run for S seconds instead (default 10)\n"
          "  --rate OPS        open loop: offer OPS operations/s in total, paced per client\n"
          "                    (default: closed loop, each client sends when answered)\n"
          "  --customers N     customers PREFIX-000000.. (default 10000)\n"
          "  --skew            80% of the operations go to 20% of the customers\n"
          "  --window W        closed loop: each client keeps W requests in flight, 1..256\n"
          "                    (default 1; pipelined on one connection, like a busy till\n"
          "                    or a back-office feed)\n"
          "  --mix SPEC        operation weights (default earn=90,redeem=5,customer=5)\n"
          "  --category LIST   earns carry a purchase category: one name, or up to 8\n"
          "                    comma-separated that each client uses in turn (default:\n"
          "                    none; the program's categories and campaigns match them)\n"
          "  --enroll          enroll the customers first, 100 points each (idempotent)\n"
          "  --timeout MS      per-call timeout (default 10000)\n"
          "  --prefix ID       customer id prefix (default bench)\n"
          "  --key FILE        talk CurveZMQ with this secret key file (loyalctl keygen)\n"
          "  --node-key FILE   the node's public key file (with --key)\n"
          "  --json            print one JSON line instead of text\n",
          out);
}

int main(int argc, char **argv)
{
    s_o = (s_opts){.clients = 8,
                   .ops = -1,
                   .duration = 10,
                   .customers = 10000,
                   .mix = {90, 5, 5},
                   .timeout_ms = 10000,
                   .window = 1,
                   .prefix = "bench"};
    static const struct option longopts[] = {{"node", required_argument, 0, 'n'},
                                             {"nodes", required_argument, 0, 'N'},
                                             {"rate", required_argument, 0, 'r'},
                                             {"clients", required_argument, 0, 'c'},
                                             {"ops", required_argument, 0, 'o'},
                                             {"duration", required_argument, 0, 'd'},
                                             {"customers", required_argument, 0, 'u'},
                                             {"skew", no_argument, 0, 's'},
                                             {"mix", required_argument, 0, 'm'},
                                             {"enroll", no_argument, 0, 'e'},
                                             {"timeout", required_argument, 0, 't'},
                                             {"window", required_argument, 0, 'w'},
                                             {"prefix", required_argument, 0, 'p'},
                                             {"category", required_argument, 0, 'g'},
                                             {"json", no_argument, 0, 'j'},
                                             {"key", required_argument, 0, 'k'},
                                             {"node-key", required_argument, 0, 'K'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    int ch, bad = 0, nnode_opts = 0;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'n':
        case 'N':
            s_o.node = optarg;
            nnode_opts++;
            while (s_o.nnodes > 0)
                free(s_o.nodes[--s_o.nnodes]);
            s_o.nnodes = lyb_endpoints(optarg, ch == 'N', s_o.nodes, S_NODES_MAX);
            if (s_o.nnodes < 0) {
                s_o.nnodes = 0;
                bad = 1;
            }
            break;
        case 'r':
            s_o.rate = lyb_real(optarg, 10000000, &bad);
            break;
        case 'c':
            s_o.clients = (int)lyb_num(optarg, 1, LYB_CLIENTS_MAX, &bad);
            break;
        case 'o':
            s_o.ops = lyb_num(optarg, 0, 1000000000L, &bad);
            break;
        case 'd':
            s_o.duration = lyb_real(optarg, 86400, &bad);
            break;
        case 'u':
            s_o.customers = (int)lyb_num(optarg, 1, 100000000L, &bad);
            break;
        case 's':
            s_o.skew = 1;
            break;
        case 'm':
            if (s_parse_mix(optarg, s_o.mix) != 0)
                bad = 1;
            break;
        case 'e':
            s_o.enroll = 1;
            break;
        case 't':
            s_o.timeout_ms = (int)lyb_num(optarg, 1, 3600000L, &bad);
            break;
        case 'w':
            s_o.window = (int)lyb_num(optarg, 1, S_WINDOW_MAX, &bad);
            break;
        case 'p':
            s_o.prefix = optarg;
            if (strlen(optarg) == 0 || strlen(optarg) > 40 || !ly_id_valid(optarg))
                bad = 1;
            break;
        case 'g':
            if (s_parse_categories(optarg) != 0)
                bad = 1;
            break;
        case 'j':
            s_o.json = 1;
            break;
        case 'k':
            s_o.key_file = optarg;
            break;
        case 'K':
            s_o.node_key_file = optarg;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            bad = 1;
        }
        if (bad)
            return lyb_usage_error("loyalbench", argv[optind - 1], s_usage);
    }
    if (optind < argc || s_o.node == NULL || nnode_opts > 1 || (s_o.window > 1 && s_o.rate > 0)) {
        fprintf(stderr, "loyalbench: %s\n",
                s_o.window > 1 && s_o.rate > 0 ? "--window is for the closed loop (no --rate)"
                : nnode_opts > 1               ? "give one --node or one --nodes"
                : s_o.node                     ? "unexpected argument"
                                               : "--node or --nodes is required");
        s_usage(stderr);
        return 2;
    }
    if ((s_o.key_file == NULL) != (s_o.node_key_file == NULL)) {
        fprintf(stderr, "loyalbench: --key and --node-key go together\n");
        return 2;
    }
    if (s_o.key_file) {
        char why[256];
        if (ly_key_read_secret(s_o.key_file, &s_o.key, why, sizeof why) != LY_OK ||
            ly_key_read_any_public(s_o.node_key_file, s_o.node_public, why, sizeof why) != LY_OK) {
            fprintf(stderr, "loyalbench: %s\n", why);
            return 2;
        }
    }
    snprintf(s_run_id, sizeof s_run_id, "%lx%x", (unsigned long)time(NULL), (unsigned)getpid());

    if (s_o.enroll) {
        uint64_t t0 = lyb_now_us();
        int n = s_o.clients < 64 ? 64 : s_o.clients, *index = calloc((size_t)n, sizeof *index);
        if (index == NULL)
            return 1;
        for (int i = 0; i < n; i++)
            index[i] = i;
        lyb_threads th;
        lyb_threads_start(&th, n, s_enroll_main, index, sizeof *index);
        lyb_threads_join(&th);
        free(index);
        double secs = (double)(lyb_now_us() - t0) / 1e6;
        fprintf(stderr, "loyalbench: enrolled %d customers in %.1f s (%ld failures)\n",
                s_o.customers, secs, (long)atomic_load(&s_enroll_failed));
        if (atomic_load(&s_enroll_failed) > 0)
            return 1;
        if (s_o.ops == 0)
            return 0;
    }

    s_workers = calloc((size_t)s_o.clients, sizeof *s_workers);
    if (s_workers == NULL)
        return 1;
    uint64_t t0 = lyb_now_us();
    s_start_us = t0;
    s_deadline_us = t0 + (uint64_t)(s_o.duration * 1e6);
    for (int i = 0; i < s_o.clients; i++) {
        s_workers[i].w_index = i;
        s_workers[i].w_rng = lyb_seed(i, t0);
    }
    lyb_threads th;
    int started = lyb_threads_start(&th, s_o.clients, s_worker_main, s_workers, sizeof *s_workers);
    lyb_threads_join(&th);
    double secs = (double)(lyb_now_us() - t0) / 1e6;

    long ok = 0, offered = 0, late = 0, refused[LY_ERR_COUNT] = {0}, transport[LY_ERR_COUNT] = {0},
         by_type[S_OP_COUNT] = {0};
    /* The first call of each client: connect, handshake, one status. */
    uint32_t *conn = calloc((size_t)(started > 0 ? started : 1), sizeof *conn);
    int nconn = 0;
    for (int i = 0; conn && i < started; i++)
        if (s_workers[i].w_connect_us)
            conn[nconn++] = s_workers[i].w_connect_us;
    for (int i = 1; i < nconn; i++) /* insertion sort: at most 1024 */
        for (int j = i; j > 0 && conn[j - 1] > conn[j]; j--) {
            uint32_t t = conn[j];
            conn[j] = conn[j - 1];
            conn[j - 1] = t;
        }
    uint32_t c50 = nconn ? conn[nconn / 2] : 0, cmax = nconn ? conn[nconn - 1] : 0;
    free(conn);
    lyb_samples all = {0}, svc = {0};
    if (lyb_samples_merge(&all, &s_workers[0].w_lat, sizeof *s_workers, started) != 0 ||
        lyb_samples_merge(&svc, &s_workers[0].w_svc, sizeof *s_workers, started) != 0)
        return 1;
    size_t total = all.sa_n;
    for (int i = 0; i < started; i++) {
        s_worker *w = &s_workers[i];
        ok += w->w_ok;
        offered += w->w_offered;
        late += w->w_late;
        for (int e = 0; e < LY_ERR_COUNT; e++) {
            refused[e] += w->w_refused[e];
            transport[e] += w->w_transport[e];
        }
        for (int t = 0; t < S_OP_COUNT; t++)
            by_type[t] += w->w_ops_by_type[t];
    }
    double rate = secs > 0 ? (double)total / secs : 0;
    uint32_t p50 = lyb_quantile(&all, 0.50), p90 = lyb_quantile(&all, 0.90),
             p99 = lyb_quantile(&all, 0.99), p999 = lyb_quantile(&all, 0.999),
             pmax = lyb_quantile(&all, 1);
    uint32_t s50 = lyb_quantile(&svc, 0.50), s99 = lyb_quantile(&svc, 0.99);

    if (s_o.json) {
        printf("{\"node\":\"%s\",\"nodes\":%d,\"clients\":%d,\"window\":%d,\"customers\":%d,"
               "\"skew\":%s,"
               "\"mix\":{\"earn\":%d,\"redeem\":%d,\"customer\":%d},\"seconds\":%.3f,"
               "\"ops\":%zu,\"ok\":%ld,\"ops_per_s\":%.1f,\"p50_us\":%u,\"p90_us\":%u,"
               "\"p99_us\":%u,\"p999_us\":%u,\"max_us\":%u,",
               s_o.node, s_o.nnodes, started, s_o.window, s_o.customers,
               s_o.skew ? "true" : "false", s_o.mix[0], s_o.mix[1], s_o.mix[2], secs, total, ok,
               rate, p50, p90, p99, p999, pmax);
        if (s_o.rate > 0)
            printf("\"rate\":%.1f,\"offered\":%ld,\"late\":%ld,\"svc_p50_us\":%u,"
                   "\"svc_p99_us\":%u,",
                   s_o.rate, offered, late, s50, s99);
        printf("\"curve\":%s,\"connect_p50_us\":%u,\"connect_max_us\":%u,",
               s_o.key_file ? "true" : "false", c50, cmax);
        printf("\"category\":[");
        for (int i = 0; i < s_o.ncategories; i++)
            printf("%s\"%s\"", i ? "," : "", s_o.categories[i]);
        printf("],\"errors\":{");
        int first = 1;
        for (int e = 0; e < LY_ERR_COUNT; e++) {
            if (refused[e]) {
                printf("%s\"%s\":%ld", first ? "" : ",", ly_errname((ly_err)e), refused[e]);
                first = 0;
            }
            if (transport[e]) {
                printf("%s\"transport_%s\":%ld", first ? "" : ",", ly_errname((ly_err)e),
                       transport[e]);
                first = 0;
            }
        }
        printf("}}\n");
    } else {
        printf("loyalbench: %s, %d clients x %d in flight, %s over %d customers, mix earn=%d "
               "redeem=%d customer=%d\n",
               s_o.node, started, s_o.window, s_o.skew ? "skewed 80/20" : "uniform", s_o.customers,
               s_o.mix[0], s_o.mix[1], s_o.mix[2]);
        if (s_o.rate > 0)
            printf("open loop: %.1f ops/s offered, %ld operations scheduled, %ld sent over 1 ms "
                   "late\n",
                   s_o.rate, offered, late);
        printf("operations: %zu answered (%ld ok) in %.2f s = %.1f ops/s "
               "(earn %ld, redeem %ld, customer %ld)\n",
               total, ok, secs, rate, by_type[0], by_type[1], by_type[2]);
        if (s_o.ncategories > 0) {
            printf("earn categories, round-robin per client:");
            for (int i = 0; i < s_o.ncategories; i++)
                printf("%s%s", i ? ", " : " ", s_o.categories[i]);
            printf("\n");
        }
        printf("first call (connect, %s handshake, status) us: p50 %u  max %u\n",
               s_o.key_file ? "CurveZMQ" : "plain ZMTP", c50, cmax);
        printf("latency us%s: p50 %u  p90 %u  p99 %u  p99.9 %u  max %u\n",
               s_o.rate > 0 ? " (from the scheduled send)" : "", p50, p90, p99, p999, pmax);
        if (s_o.rate > 0)
            printf("service us (from the actual send): p50 %u  p99 %u\n", s50, s99);
        printf("errors:");
        int any = 0;
        for (int e = 0; e < LY_ERR_COUNT; e++) {
            if (refused[e]) {
                printf(" %s=%ld", ly_errname((ly_err)e), refused[e]);
                any = 1;
            }
            if (transport[e]) {
                printf(" transport_%s=%ld", ly_errname((ly_err)e), transport[e]);
                any = 1;
            }
        }
        printf("%s\n", any ? "" : " none");
    }
    lyb_samples_fini(&all);
    lyb_samples_fini(&svc);
    free(s_workers);
    for (int i = 0; i < s_o.nnodes; i++)
        free(s_o.nodes[i]);
    return ok > 0 ? 0 : 1;
}
