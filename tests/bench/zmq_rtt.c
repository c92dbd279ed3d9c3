/* zmq_rtt -- the transport ceiling: DEALER -> ROUTER round trips over loopback TCP.
 *
 *   zmq_rtt [--clients N] [--window W] [--seconds S] [--size BYTES] [--json]
 *
 * One ROUTER thread echoes every message back, as one loyald's client socket
 * would be answered if the node did no work. N client threads (default 1),
 * each with its own ZeroMQ context and DEALER socket as a ly_client has, send
 * one message, wait for the echo, and repeat (closed loop, like N POS clients
 * against one loyald, or loyalbench --clients N). With --window W each client
 * keeps W messages in flight and sends the next as each echo comes (as
 * loyalbench --window W), the ceiling for pipelined clients; the latency of a
 * message runs from its send to its echo. Every client makes one round
 * trip before the clock starts, so the connections are up; then they all run
 * for S seconds. Prints the round trips/s of all clients together and the
 * latency percentiles over every round trip (all kept, nearest rank: the
 * samples and the clock are benchlib.h's). A round trip that takes over 10 s
 * counts as an error.
 *
 * Exit status: 0 done, 1 ZeroMQ error, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "tests/bench/benchlib.h"

#define S_SIZE_MAX   65536
#define S_TIMEOUT_MS 10000 /* the longest a client waits for an echo */

typedef struct s_client {
    lyb_samples c_lat; /* µs per round trip */
    int c_err;         /* the ZeroMQ error (errno) that stopped the client; 0 none */
} s_client;

static void *s_ctx; /* the ROUTER's */
static char s_endpoint[256];
static long s_size = 100;
static int s_window = 1;
static atomic_int s_ready; /* clients that are connected, or failed */
static atomic_int s_go;    /* 1: measure until s_deadline_us; -1: stop at once */
static uint64_t s_deadline_us;

/* A ROUTER bound to a free loopback port, whose endpoint is s_endpoint; NULL
 * if that failed (zmq_errno() says why). */
static void *s_router_open(void)
{
    void *r = zmq_socket(s_ctx, ZMQ_ROUTER);
    int zero = 0;
    size_t len = sizeof s_endpoint;
    if (r != NULL && (zmq_setsockopt(r, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
                      zmq_bind(r, "tcp://127.0.0.1:*") != 0 ||
                      zmq_getsockopt(r, ZMQ_LAST_ENDPOINT, s_endpoint, &len) != 0)) {
        zmq_close(r);
        r = NULL;
    }
    return r;
}

/* Echo on ROUTER r until its context is terminated; closes r. */
static void *s_router_main(void *r)
{
    for (;;) {
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&id, r, 0) < 0 || zmq_msg_recv(&body, r, 0) < 0 ||
            zmq_msg_send(&id, r, ZMQ_SNDMORE) < 0 || zmq_msg_send(&body, r, 0) < 0) {
            zmq_msg_close(&id);
            zmq_msg_close(&body);
            break; /* ETERM */
        }
    }
    zmq_close(r);
    return NULL;
}

/* One message out, its echo back. 0 ok, -1 failed (zmq_errno() says why). */
static int s_round_trip(void *d, char *buf)
{
    if (zmq_send(d, buf, (size_t)s_size, 0) < 0 || zmq_recv(d, buf, (size_t)s_size, 0) < 0)
        return -1;
    return 0;
}

/* --window: W messages in flight, each carrying its send time, until the
 * deadline; then the last echoes are taken. A failure is left in c->c_err. */
static void s_run_window(s_client *c, void *d, char *buf)
{
    uint64_t now = lyb_now_us();
    for (int i = 0; i < s_window && c->c_err == 0; i++) {
        memcpy(buf, &now, sizeof now);
        if (zmq_send(d, buf, (size_t)s_size, 0) < 0)
            c->c_err = zmq_errno();
    }
    int inflight = s_window;
    while (c->c_err == 0 && inflight > 0) {
        if (zmq_recv(d, buf, (size_t)s_size, 0) < 0) {
            c->c_err = zmq_errno();
            break;
        }
        inflight--;
        uint64_t sent;
        memcpy(&sent, buf, sizeof sent);
        now = lyb_now_us();
        if (lyb_samples_add(&c->c_lat, now - sent) != 0)
            c->c_err = ENOMEM;
        if (now < s_deadline_us && atomic_load(&s_go) > 0) {
            memcpy(buf, &now, sizeof now);
            if (zmq_send(d, buf, (size_t)s_size, 0) < 0)
                c->c_err = zmq_errno();
            inflight++;
        }
    }
}

static void *s_client_main(void *arg)
{
    s_client *c = arg;
    int zero = 0, timeout = S_TIMEOUT_MS;
    void *ctx = zmq_ctx_new(), *d = ctx != NULL ? zmq_socket(ctx, ZMQ_DEALER) : NULL;
    char *buf = calloc(1, (size_t)s_size);
    if (d == NULL || buf == NULL || zmq_setsockopt(d, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(d, ZMQ_RCVTIMEO, &timeout, sizeof timeout) != 0 ||
        zmq_connect(d, s_endpoint) != 0 || s_round_trip(d, buf) != 0)
        c->c_err = buf == NULL ? ENOMEM : zmq_errno();
    atomic_fetch_add(&s_ready, 1);
    int go;
    while ((go = atomic_load(&s_go)) == 0)
        lyb_sleep_us(100);
    if (go > 0 && c->c_err == 0 && s_window > 1)
        s_run_window(c, d, buf);
    for (uint64_t now = lyb_now_us();
         s_window == 1 && go > 0 && c->c_err == 0 && now < s_deadline_us;) {
        uint64_t a = now;
        if (s_round_trip(d, buf) != 0)
            c->c_err = zmq_errno();
        now = lyb_now_us();
        if (c->c_err == 0 && lyb_samples_add(&c->c_lat, now - a) != 0)
            c->c_err = ENOMEM;
    }
    if (d != NULL)
        zmq_close(d);
    if (ctx != NULL)
        while (zmq_ctx_term(ctx) != 0 && errno == EINTR)
            ;
    free(buf);
    return NULL;
}

static void s_usage(FILE *out)
{
    fputs("usage: zmq_rtt [--clients N] [--window W] [--seconds S] [--size BYTES] [--json]\n"
          "  --clients N      client threads, each with its own context and DEALER,\n"
          "                   1..1024 (default 1)\n"
          "  --window W       messages in flight per client, 1..256 (default 1);\n"
          "                   over 1 needs --size of 8 or more\n"
          "  --seconds S      measuring time (default 3)\n"
          "  --size BYTES     message size, 1..65536 (default 100)\n"
          "  --json           one JSON line\n",
          out);
}

int main(int argc, char **argv)
{
    double seconds = 3;
    int clients = 1, json = 0, ch;
    static const struct option longopts[] = {{"clients", required_argument, 0, 'c'},
                                             {"seconds", required_argument, 0, 's'},
                                             {"size", required_argument, 0, 'z'},
                                             {"json", no_argument, 0, 'j'},
                                             {"window", required_argument, 0, 'w'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int bad = 0;
        if (ch == 'c') {
            clients = (int)lyb_num(optarg, 1, LYB_CLIENTS_MAX, &bad);
        } else if (ch == 's') {
            seconds = lyb_real(optarg, 3600, &bad);
        } else if (ch == 'w') {
            s_window = (int)lyb_num(optarg, 1, 256, &bad);
        } else if (ch == 'z') {
            s_size = lyb_num(optarg, 1, S_SIZE_MAX, &bad);
        } else if (ch == 'j') {
            json = 1;
        } else if (ch == 'h') {
            s_usage(stdout);
            return 0;
        } else {
            bad = 1;
        }
        if (bad)
            return lyb_usage_error("zmq_rtt", argv[optind - 1], s_usage);
    }
    if (optind < argc || (s_window > 1 && s_size < 8)) {
        s_usage(stderr);
        return 2;
    }

    int rc = 1;
    void *r = NULL;
    lyb_threads router = {0}, th = {0};
    lyb_samples all = {0};
    s_client *cl = calloc((size_t)clients, sizeof *cl);
    s_ctx = zmq_ctx_new();
    if (cl == NULL || s_ctx == NULL || (r = s_router_open()) == NULL ||
        lyb_threads_start(&router, 1, s_router_main, r, 0) != 1) {
        fprintf(stderr, "zmq_rtt: set-up failed: %s\n", zmq_strerror(zmq_errno()));
        if (r != NULL)
            zmq_close(r);
        goto term;
    }
    int started = lyb_threads_start(&th, clients, s_client_main, cl, sizeof *cl);
    while (atomic_load(&s_ready) < started)
        lyb_sleep_us(1000);
    uint64_t t0 = lyb_now_us();
    s_deadline_us = t0 + (uint64_t)(seconds * 1e6);
    atomic_store(&s_go, started == clients ? 1 : -1);
    lyb_threads_join(&th);
    double secs = (double)(lyb_now_us() - t0) / 1e6;
    if (started < clients) {
        fprintf(stderr, "zmq_rtt: only %d of %d client threads started\n", started, clients);
        goto term;
    }
    for (int i = 0; i < clients; i++)
        if (cl[i].c_err != 0) {
            fprintf(stderr, "zmq_rtt: client %d: %s\n", i, zmq_strerror(cl[i].c_err));
            goto term;
        }
    if (lyb_samples_merge(&all, &cl[0].c_lat, sizeof *cl, clients) != 0) {
        fprintf(stderr, "zmq_rtt: out of memory for samples\n");
        goto term;
    }
    size_t n = all.sa_n;
    double rate = (double)n / secs;
    uint32_t p50 = lyb_quantile(&all, 0.50), p90 = lyb_quantile(&all, 0.90),
             p99 = lyb_quantile(&all, 0.99), p999 = lyb_quantile(&all, 0.999),
             pmax = lyb_quantile(&all, 1);
    if (json)
        printf("{\"clients\":%d,\"window\":%d,\"size\":%ld,\"seconds\":%.3f,\"round_trips\":%zu,"
               "\"rt_per_s\":%.1f,\"p50_us\":%u,\"p90_us\":%u,\"p99_us\":%u,\"p999_us\":%u,"
               "\"max_us\":%u}\n",
               clients, s_window, s_size, secs, n, rate, p50, p90, p99, p999, pmax);
    else
        printf("zmq_rtt: %ld-byte messages, %d client%s x %d in flight: %.0f round trips/s, "
               "p50 %u us, p90 %u us, p99 %u us, p99.9 %u us, max %u us\n",
               s_size, clients, clients == 1 ? "" : "s", s_window, rate, p50, p90, p99, p999, pmax);
    rc = 0;
term:
    if (s_ctx != NULL) {
        zmq_ctx_shutdown(s_ctx);
        lyb_threads_join(&router);
        zmq_ctx_term(s_ctx);
    }
    for (int i = 0; cl != NULL && i < clients; i++)
        lyb_samples_fini(&cl[i].c_lat);
    lyb_samples_fini(&all);
    free(cl);
    return rc;
}
