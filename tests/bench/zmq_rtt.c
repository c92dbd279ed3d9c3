/* zmq_rtt -- the network ceiling: DEALER -> ROUTER round trips over loopback TCP.
 *
 *   zmq_rtt [--seconds S] [--size BYTES] [--json]
 *
 * A ROUTER thread echoes every message back; the main thread's DEALER sends one
 * message, waits for the echo, and repeats (closed loop, like one loyald client
 * without any work on the server). Prints round trips/s and latency percentiles.
 * Exit status: 0 done, 1 ZeroMQ error, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define S_SIZE_MAX 65536

static void *s_ctx;
static char s_endpoint[256];
static pthread_barrier_t s_bound;
static int s_router_ok;

static uint64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Echo until the context is terminated. */
static void *s_router_main(void *arg)
{
    (void)arg;
    void *r = zmq_socket(s_ctx, ZMQ_ROUTER);
    int zero = 0;
    size_t len = sizeof s_endpoint;
    if (r != NULL) {
        zmq_setsockopt(r, ZMQ_LINGER, &zero, sizeof zero);
        s_router_ok = zmq_bind(r, "tcp://127.0.0.1:*") == 0 &&
                      zmq_getsockopt(r, ZMQ_LAST_ENDPOINT, s_endpoint, &len) == 0;
    }
    pthread_barrier_wait(&s_bound);
    if (!s_router_ok) {
        if (r != NULL)
            zmq_close(r);
        return NULL;
    }
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

static int s_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static uint32_t s_quantile(const uint32_t *v, size_t n, double q)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)(q * (double)n + 0.999999);
    rank = rank < 1 ? 1 : rank > n ? n : rank;
    return v[rank - 1];
}

int main(int argc, char **argv)
{
    double seconds = 3;
    long size = 100;
    int json = 0, ch;
    char *end;
    static const struct option longopts[] = {{"seconds", required_argument, 0, 's'},
                                             {"size", required_argument, 0, 'z'},
                                             {"json", no_argument, 0, 'j'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int bad = 0;
        errno = 0;
        if (ch == 's') {
            seconds = strtod(optarg, &end);
            bad = *end || !(seconds > 0 && seconds <= 3600);
        } else if (ch == 'z') {
            size = strtol(optarg, &end, 10);
            bad = *end || errno || size < 1 || size > S_SIZE_MAX;
        } else if (ch == 'j') {
            json = 1;
        } else if (ch == 'h') {
            puts("usage: zmq_rtt [--seconds S] [--size BYTES] [--json]");
            return 0;
        } else {
            bad = 1;
        }
        if (bad) {
            fputs("usage: zmq_rtt [--seconds S] [--size BYTES] [--json]\n", stderr);
            return 2;
        }
    }

    s_ctx = zmq_ctx_new();
    if (s_ctx == NULL)
        return 1;
    pthread_t rt;
    pthread_barrier_init(&s_bound, NULL, 2);
    if (pthread_create(&rt, NULL, s_router_main, NULL) != 0)
        return 1;
    pthread_barrier_wait(&s_bound);
    int rc = 1;
    void *d = NULL;
    uint32_t *lat = NULL;
    size_t n = 0, cap = 1 << 20;
    char *buf = calloc(1, (size_t)size);
    lat = malloc(cap * sizeof *lat);
    if (!s_router_ok || buf == NULL || lat == NULL) {
        fprintf(stderr, "zmq_rtt: set-up failed: %s\n", zmq_strerror(zmq_errno()));
        goto term;
    }
    d = zmq_socket(s_ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(d, s_endpoint) != 0)
        goto term;
    uint64_t t0 = s_now_us(), deadline = t0 + (uint64_t)(seconds * 1e6), now = t0;
    while (now < deadline) {
        uint64_t a = now;
        if (zmq_send(d, buf, (size_t)size, 0) < 0 || zmq_recv(d, buf, (size_t)size, 0) < 0) {
            fprintf(stderr, "zmq_rtt: %s\n", zmq_strerror(zmq_errno()));
            goto term;
        }
        now = s_now_us();
        if (n == cap) {
            uint32_t *nl = realloc(lat, 2 * cap * sizeof *lat);
            if (nl == NULL)
                goto term;
            lat = nl;
            cap *= 2;
        }
        lat[n++] = (uint32_t)(now - a);
    }
    double secs = (double)(now - t0) / 1e6;
    qsort(lat, n, sizeof *lat, s_cmp_u32);
    if (json)
        printf("{\"size\":%ld,\"seconds\":%.3f,\"round_trips\":%zu,\"rt_per_s\":%.1f,"
               "\"p50_us\":%u,\"p99_us\":%u}\n",
               size, secs, n, (double)n / secs, s_quantile(lat, n, 0.5), s_quantile(lat, n, 0.99));
    else
        printf("zmq_rtt: %ld-byte messages: %.0f round trips/s, p50 %u us, p99 %u us\n", size,
               (double)n / secs, s_quantile(lat, n, 0.5), s_quantile(lat, n, 0.99));
    rc = 0;
term:
    if (d != NULL)
        zmq_close(d);
    zmq_ctx_shutdown(s_ctx);
    pthread_join(rt, NULL);
    zmq_ctx_term(s_ctx);
    pthread_barrier_destroy(&s_bound);
    free(buf);
    free(lat);
    return rc;
}
