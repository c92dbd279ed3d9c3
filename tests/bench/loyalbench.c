/* loyalbench -- closed-loop load generator for one loyald.
 *
 *   loyalbench --node EP [--clients N] [--ops N | --duration S] [--customers N] [--skew]
 *              [--mix earn=90,redeem=5,customer=5] [--enroll] [--timeout MS] [--json]
 *
 * N client threads, one ly_client each, each sending its next request as soon
 * as the previous one is answered. Every operation's latency is kept, so the
 * percentiles are exact. --skew sends 80% of the operations to 20% of the
 * customers. --enroll first enrolls the customers (and gives each 100 points
 * so redemptions of 1 point succeed), in parallel, with fixed transaction ids:
 * running it again on the same node changes nothing. --ops 0 with --enroll only
 * enrolls.
 *
 * Exit status: 0 done, 1 no operation succeeded, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto/client.h"

#define S_CLIENTS_MAX        1024
#define S_SEED_POINTS_AMOUNT 10000 /* minor units: 100 points at the base tier */

enum { S_OP_EARN, S_OP_REDEEM, S_OP_CUSTOMER, S_OP_COUNT };
static const char *const s_op_names[S_OP_COUNT] = {"earn", "redeem", "customer"};

typedef struct s_opts {
    const char *node;
    int clients;
    long ops; /* -1: run for `duration` */
    double duration;
    int customers;
    int skew;
    int mix[S_OP_COUNT]; /* weights */
    int enroll;
    int timeout_ms;
    int json;
    const char *prefix;
} s_opts;

typedef struct s_worker {
    int w_index;
    pthread_t w_thread;
    unsigned long long w_rng;
    uint32_t *w_lat; /* microseconds, one per answered operation */
    size_t w_nlat, w_caplat;
    long w_ok;
    long w_refused[LY_ERR_COUNT];   /* by the reply's error */
    long w_transport[LY_ERR_COUNT]; /* no reply: by the client's error */
    long w_ops_by_type[S_OP_COUNT];
    int w_oom;
} s_worker;

static s_opts s_o;
static s_worker *s_workers;
static atomic_long s_claimed; /* operations handed out (--ops mode) */
static atomic_int s_next_enroll;
static atomic_long s_enroll_failed;
static uint64_t s_deadline_us;
static char s_run_id[24];

static uint64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* xorshift64* */
static uint64_t s_rand(unsigned long long *st)
{
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return *st * 2685821657736338717ULL;
}

static void s_cust_id(int i, char *out, size_t cap)
{
    snprintf(out, cap, "%s-%06d", s_o.prefix, i);
}

static int s_pick_customer(s_worker *w)
{
    int n = s_o.customers;
    if (!s_o.skew || n < 5)
        return (int)(s_rand(&w->w_rng) % (uint64_t)n);
    int hot = n / 5;
    if (s_rand(&w->w_rng) % 100 < 80)
        return (int)(s_rand(&w->w_rng) % (uint64_t)hot);
    return hot + (int)(s_rand(&w->w_rng) % (uint64_t)(n - hot));
}

static int s_pick_op(s_worker *w)
{
    int total = s_o.mix[0] + s_o.mix[1] + s_o.mix[2];
    int r = (int)(s_rand(&w->w_rng) % (uint64_t)total);
    for (int i = 0; i < S_OP_COUNT; i++) {
        if (r < s_o.mix[i])
            return i;
        r -= s_o.mix[i];
    }
    return S_OP_EARN;
}

static int s_record(s_worker *w, uint32_t us)
{
    if (w->w_nlat == w->w_caplat) {
        size_t cap = w->w_caplat ? w->w_caplat * 2 : 65536;
        uint32_t *nl = realloc(w->w_lat, cap * sizeof *nl);
        if (nl == NULL) {
            w->w_oom = 1;
            return -1;
        }
        w->w_lat = nl;
        w->w_caplat = cap;
    }
    w->w_lat[w->w_nlat++] = us;
    return 0;
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

static void *s_worker_main(void *arg)
{
    s_worker *w = arg;
    ly_client *c = ly_client_new(s_o.node, s_o.timeout_ms);
    if (c == NULL) {
        w->w_transport[LY_EIO]++;
        return NULL;
    }
    unsigned long long n = 0;
    for (;;) {
        if (s_o.ops >= 0) {
            if (atomic_fetch_add(&s_claimed, 1) >= s_o.ops)
                break;
        } else if (s_now_us() >= s_deadline_us) {
            break;
        }
        int op = s_pick_op(w);
        ly_req rq;
        ly_rep rp;
        ly_req_init(&rq, op == S_OP_EARN     ? LY_MSG_EARN
                         : op == S_OP_REDEEM ? LY_MSG_REDEEM
                                             : LY_MSG_CUSTOMER);
        s_cust_id(s_pick_customer(w), rq.rq_customer, sizeof rq.rq_customer);
        if (op == S_OP_CUSTOMER) {
            rq.rq_limit = 1;
        } else {
            snprintf(rq.rq_txn, sizeof rq.rq_txn, "b%s-%d-%llu", s_run_id, w->w_index, n++);
            rq.rq_amount = op == S_OP_EARN ? 100 + (int64_t)(s_rand(&w->w_rng) % 9901) : 1;
        }
        uint64_t t0 = s_now_us();
        ly_err e = ly_client_call(c, &rq, &rp);
        uint64_t us = s_now_us() - t0;
        w->w_ops_by_type[op]++;
        if (e != LY_OK) {
            w->w_transport[e < LY_ERR_COUNT ? e : LY_EINTERNAL]++;
        } else {
            if (rp.rp_err == LY_OK)
                w->w_ok++;
            else
                w->w_refused[rp.rp_err < LY_ERR_COUNT ? rp.rp_err : LY_EINTERNAL]++;
            if (s_record(w, us > UINT32_MAX ? UINT32_MAX : (uint32_t)us) != 0) {
                ly_rep_fini(&rp);
                break;
            }
        }
        ly_rep_fini(&rp);
    }
    ly_client_destroy(&c);
    return NULL;
}

static void *s_enroll_main(void *arg)
{
    (void)arg;
    ly_client *c = ly_client_new(s_o.node, s_o.timeout_ms);
    if (c == NULL) {
        atomic_fetch_add(&s_enroll_failed, 1);
        return NULL;
    }
    s_enroll_part(c);
    ly_client_destroy(&c);
    return NULL;
}

static int s_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (0..1) of sorted samples, nearest rank. */
static uint32_t s_quantile(const uint32_t *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
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

static void s_usage(FILE *out)
{
    fputs("usage: loyalbench --node ENDPOINT [--clients N] [--ops N | --duration SECONDS]\n"
          "                  [--customers N] [--skew] [--mix earn=90,redeem=5,customer=5]\n"
          "                  [--enroll] [--timeout MS] [--prefix ID] [--json]\n"
          "\n"
          "  --node ENDPOINT   the node's client endpoint (tcp://HOST:PORT)\n"
          "  --clients N       concurrent closed-loop clients, 1..1024 (default 8)\n"
          "  --ops N           total operations (0 with --enroll: only enroll)\n"
          "  --duration S      run for S seconds instead (default 10)\n"
          "  --customers N     customers PREFIX-000000.. (default 10000)\n"
          "  --skew            80% of the operations go to 20% of the customers\n"
          "  --mix SPEC        operation weights (default earn=90,redeem=5,customer=5)\n"
          "  --enroll          enroll the customers first, 100 points each (idempotent)\n"
          "  --timeout MS      per-call timeout (default 10000)\n"
          "  --prefix ID       customer id prefix (default bench)\n"
          "  --json            print one JSON line instead of text\n",
          out);
}

static long s_num(const char *s, long lo, long hi, int *bad)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end || errno || v < lo || v > hi)
        *bad = 1;
    return v;
}

int main(int argc, char **argv)
{
    s_o = (s_opts){.clients = 8,
                   .ops = -1,
                   .duration = 10,
                   .customers = 10000,
                   .mix = {90, 5, 5},
                   .timeout_ms = 10000,
                   .prefix = "bench"};
    static const struct option longopts[] = {{"node", required_argument, 0, 'n'},
                                             {"clients", required_argument, 0, 'c'},
                                             {"ops", required_argument, 0, 'o'},
                                             {"duration", required_argument, 0, 'd'},
                                             {"customers", required_argument, 0, 'u'},
                                             {"skew", no_argument, 0, 's'},
                                             {"mix", required_argument, 0, 'm'},
                                             {"enroll", no_argument, 0, 'e'},
                                             {"timeout", required_argument, 0, 't'},
                                             {"prefix", required_argument, 0, 'p'},
                                             {"json", no_argument, 0, 'j'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    int ch, bad = 0;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'n':
            s_o.node = optarg;
            break;
        case 'c':
            s_o.clients = (int)s_num(optarg, 1, S_CLIENTS_MAX, &bad);
            break;
        case 'o':
            s_o.ops = s_num(optarg, 0, 1000000000L, &bad);
            break;
        case 'd': {
            char *end;
            s_o.duration = strtod(optarg, &end);
            if (*end || !(s_o.duration > 0 && s_o.duration <= 86400))
                bad = 1;
            break;
        }
        case 'u':
            s_o.customers = (int)s_num(optarg, 1, 100000000L, &bad);
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
            s_o.timeout_ms = (int)s_num(optarg, 1, 3600000L, &bad);
            break;
        case 'p':
            s_o.prefix = optarg;
            if (strlen(optarg) == 0 || strlen(optarg) > 40 || !ly_id_valid(optarg))
                bad = 1;
            break;
        case 'j':
            s_o.json = 1;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            bad = 1;
        }
        if (bad) {
            fprintf(stderr, "loyalbench: invalid option or value '%s'\n", argv[optind - 1]);
            s_usage(stderr);
            return 2;
        }
    }
    if (optind < argc || s_o.node == NULL) {
        fprintf(stderr, "loyalbench: %s\n",
                s_o.node ? "unexpected argument" : "--node is required");
        s_usage(stderr);
        return 2;
    }
    snprintf(s_run_id, sizeof s_run_id, "%lx%x", (unsigned long)time(NULL), (unsigned)getpid());

    if (s_o.enroll) {
        uint64_t t0 = s_now_us();
        int n = s_o.clients < 64 ? 64 : s_o.clients;
        pthread_t *th = calloc((size_t)n, sizeof *th);
        if (th == NULL)
            return 1;
        for (int i = 0; i < n; i++)
            if (pthread_create(&th[i], NULL, s_enroll_main, NULL) != 0)
                n = i;
        for (int i = 0; i < n; i++)
            pthread_join(th[i], NULL);
        free(th);
        double secs = (double)(s_now_us() - t0) / 1e6;
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
    uint64_t t0 = s_now_us();
    s_deadline_us = t0 + (uint64_t)(s_o.duration * 1e6);
    int started = 0;
    for (int i = 0; i < s_o.clients; i++) {
        s_workers[i].w_index = i;
        s_workers[i].w_rng = 0x9E3779B97F4A7C15ULL * (unsigned long long)(i + 1) ^ t0;
        if (pthread_create(&s_workers[i].w_thread, NULL, s_worker_main, &s_workers[i]) != 0)
            break;
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(s_workers[i].w_thread, NULL);
    double secs = (double)(s_now_us() - t0) / 1e6;

    size_t total = 0;
    long ok = 0, refused[LY_ERR_COUNT] = {0}, transport[LY_ERR_COUNT] = {0},
         by_type[S_OP_COUNT] = {0};
    for (int i = 0; i < started; i++)
        total += s_workers[i].w_nlat;
    uint32_t *all = malloc((total ? total : 1) * sizeof *all);
    if (all == NULL)
        return 1;
    size_t k = 0;
    for (int i = 0; i < started; i++) {
        s_worker *w = &s_workers[i];
        memcpy(all + k, w->w_lat, w->w_nlat * sizeof *all);
        k += w->w_nlat;
        ok += w->w_ok;
        for (int e = 0; e < LY_ERR_COUNT; e++) {
            refused[e] += w->w_refused[e];
            transport[e] += w->w_transport[e];
        }
        for (int t = 0; t < S_OP_COUNT; t++)
            by_type[t] += w->w_ops_by_type[t];
        free(w->w_lat);
    }
    qsort(all, total, sizeof *all, s_cmp_u32);
    double rate = secs > 0 ? (double)total / secs : 0;
    uint32_t p50 = s_quantile(all, total, 0.50), p90 = s_quantile(all, total, 0.90),
             p99 = s_quantile(all, total, 0.99), p999 = s_quantile(all, total, 0.999),
             pmax = total ? all[total - 1] : 0;

    if (s_o.json) {
        printf("{\"node\":\"%s\",\"clients\":%d,\"customers\":%d,\"skew\":%s,"
               "\"mix\":{\"earn\":%d,\"redeem\":%d,\"customer\":%d},\"seconds\":%.3f,"
               "\"ops\":%zu,\"ok\":%ld,\"ops_per_s\":%.1f,\"p50_us\":%u,\"p90_us\":%u,"
               "\"p99_us\":%u,\"p999_us\":%u,\"max_us\":%u,\"errors\":{",
               s_o.node, started, s_o.customers, s_o.skew ? "true" : "false", s_o.mix[0],
               s_o.mix[1], s_o.mix[2], secs, total, ok, rate, p50, p90, p99, p999, pmax);
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
        printf("loyalbench: %s, %d clients, %s over %d customers, mix earn=%d redeem=%d "
               "customer=%d\n",
               s_o.node, started, s_o.skew ? "skewed 80/20" : "uniform", s_o.customers, s_o.mix[0],
               s_o.mix[1], s_o.mix[2]);
        printf("operations: %zu answered (%ld ok) in %.2f s = %.1f ops/s "
               "(earn %ld, redeem %ld, customer %ld)\n",
               total, ok, secs, rate, by_type[0], by_type[1], by_type[2]);
        printf("latency us: p50 %u  p90 %u  p99 %u  p99.9 %u  max %u\n", p50, p90, p99, p999, pmax);
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
    free(all);
    free(s_workers);
    return ok > 0 ? 0 : 1;
}
