/* redisbench -- load generator for a Redis primary (and its replica): the peer
 * a chain would otherwise pick, measured with the same workload as loyalbench.
 *
 *   redisbench --primary HOST:PORT [--replica HOST:PORT] [--clients N]
 *              [--duration S] [--customers N] [--skew] [--timeout MS] [--json]
 *
 * N client threads, one TCP connection each, one request in flight per client
 * (closed loop): `INCRBY cust:<i> <points>`, points 1..500 like an earn. The
 * customers are uniform, or with --skew 80% of the operations go to 20% of the
 * customers (loyalbench's rule, from benchlib.h like the clock and the
 * percentiles). Every answered operation's latency is kept, so the
 * percentiles are exact. The protocol (RESP) is spoken directly: a
 * parser that does no I/O (s_resp_parse) and a buffered connection around it.
 *
 * With --replica, a probe thread measures the replica's lag every ~10 ms:
 * `INCR lagprobe` on the primary (its reply n and the time it arrived), then
 * `GET lagprobe` on the replica, every 100 µs, until it reads a value >= n:
 * the lag is the time of that read minus the primary's reply. INCR rather than
 * SET of a counter of our own, so that the values keep growing across runs on
 * the same primary. A probe not seen within --timeout counts as a timeout.
 *
 * Exit status: 0 done, 1 no operation succeeded, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "tests/bench/benchlib.h"

#define S_BUF_SIZE        16384 /* a connection's read buffer */
#define S_BULK_MAX        4096  /* the largest bulk string we accept */
#define S_STR_MAX         64    /* bytes of a reply's string kept */
#define S_LAG_PERIOD_US   10000 /* between two lag probes */
#define S_LAG_POLL_US     100   /* between two reads of the replica */
#define S_RECONNECT_US    10000 /* pause after a failed connect */
#define S_EARN_POINTS_MAX 500

/* ---- RESP: replies, parsed without I/O ---- */

enum { S_REP_STATUS, S_REP_ERROR, S_REP_INT, S_REP_BULK, S_REP_NIL };

typedef struct s_reply {
    int rp_type;
    long long rp_int;       /* S_REP_INT */
    char rp_str[S_STR_MAX]; /* status, error or bulk: NUL-terminated, truncated */
    size_t rp_len;          /* the full length of the string */
} s_reply;

/* The line in buf[0..len) up to CRLF: its length (without CRLF), or -1 if no
 * CRLF is there yet. */
static long s_resp_line(const char *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n')
            return (long)i;
    return -1;
}

/* A signed decimal in line[0..n): 0 ok, -1 not a number. */
static int s_resp_num(const char *line, long n, long long *out)
{
    long i = 0;
    int neg = 0;
    long long v = 0;
    if (n > 0 && line[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == n || n - i > 18)
        return -1;
    for (; i < n; i++) {
        if (line[i] < '0' || line[i] > '9')
            return -1;
        v = v * 10 + (line[i] - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

static void s_reply_str(s_reply *rp, const char *s, size_t n)
{
    size_t keep = n < S_STR_MAX - 1 ? n : S_STR_MAX - 1;
    memcpy(rp->rp_str, s, keep);
    rp->rp_str[keep] = '\0';
    rp->rp_len = n;
}

/* Parses one reply at the start of buf[0..len) into *rp. Returns the bytes it
 * took (> 0), 0 if the reply is not complete yet, -1 on a protocol error (an
 * unknown type, a bad length, a bulk string over S_BULK_MAX, an array: none of
 * the commands we send answers with one). */
static long s_resp_parse(const char *buf, size_t len, s_reply *rp)
{
    if (len < 1)
        return 0;
    long n = s_resp_line(buf + 1, len - 1);
    if (n < 0)
        return 0; /* the caller fails when its buffer is full */
    const char *line = buf + 1;
    long head = 1 + n + 2;
    *rp = (s_reply){0};
    switch (buf[0]) {
    case '+':
    case '-':
        rp->rp_type = buf[0] == '+' ? S_REP_STATUS : S_REP_ERROR;
        s_reply_str(rp, line, (size_t)n);
        return head;
    case ':':
        rp->rp_type = S_REP_INT;
        return s_resp_num(line, n, &rp->rp_int) == 0 ? head : -1;
    case '$': {
        long long blen;
        if (s_resp_num(line, n, &blen) != 0 || blen < -1 || blen > S_BULK_MAX)
            return -1;
        if (blen == -1) {
            rp->rp_type = S_REP_NIL;
            return head;
        }
        if ((size_t)head + (size_t)blen + 2 > len)
            return 0;
        if (buf[head + blen] != '\r' || buf[head + blen + 1] != '\n')
            return -1;
        rp->rp_type = S_REP_BULK;
        s_reply_str(rp, buf + head, (size_t)blen);
        return head + (long)blen + 2;
    }
    default:
        return -1;
    }
}

/* Encodes a command of argc arguments into out[0..cap): its length, or -1 if
 * it does not fit. */
static int s_resp_cmd(char *out, size_t cap, int argc, const char *const *argv)
{
    size_t k = 0;
    int w = snprintf(out, cap, "*%d\r\n", argc);
    if (w < 0 || (size_t)w >= cap)
        return -1;
    k = (size_t)w;
    for (int i = 0; i < argc; i++) {
        size_t n = strlen(argv[i]);
        w = snprintf(out + k, cap - k, "$%zu\r\n", n);
        if (w < 0 || (size_t)w >= cap - k || cap - k - (size_t)w < n + 3)
            return -1;
        k += (size_t)w;
        memcpy(out + k, argv[i], n);
        k += n;
        out[k++] = '\r';
        out[k++] = '\n';
    }
    out[k] = '\0';
    return (int)k;
}

/* ---- a connection: one socket and its read buffer ---- */

typedef struct s_conn {
    int cn_fd; /* -1: not connected */
    const char *cn_host, *cn_port;
    char cn_buf[S_BUF_SIZE];
    size_t cn_pos, cn_len; /* unparsed bytes: cn_buf[cn_pos..cn_len) */
} s_conn;

static void s_conn_close(s_conn *cn)
{
    if (cn->cn_fd >= 0)
        close(cn->cn_fd);
    cn->cn_fd = -1;
    cn->cn_pos = cn->cn_len = 0;
}

/* Connects to cn_host:cn_port with TCP_NODELAY and send and receive timeouts
 * of timeout_ms. 0 ok, -1 failed (errno set, or EHOSTUNREACH when the name
 * does not resolve). */
static int s_conn_open(s_conn *cn, int timeout_ms)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    s_conn_close(cn);
    if (getaddrinfo(cn->cn_host, cn->cn_port, &hints, &res) != 0) {
        errno = EHOSTUNREACH;
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            int one = 1;
            struct timeval tv = {.tv_sec = timeout_ms / 1000,
                                 .tv_usec = (timeout_ms % 1000) * 1000};
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            cn->cn_fd = fd;
            break;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return cn->cn_fd >= 0 ? 0 : -1;
}

/* Sends a command and reads its reply into *rp. 0 a reply came (it may be an
 * error reply), -1 transport or protocol failure: the connection is closed
 * then, since a late reply would be taken for the next command's. */
static int s_conn_call(s_conn *cn, int argc, const char *const *argv, s_reply *rp)
{
    char cmd[512];
    int n = s_resp_cmd(cmd, sizeof cmd, argc, argv);
    if (n < 0 || cn->cn_fd < 0)
        return -1;
    for (int off = 0; off < n;) {
        ssize_t w = send(cn->cn_fd, cmd + off, (size_t)(n - off), MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto fail;
        off += (int)w;
    }
    for (;;) {
        long took = s_resp_parse(cn->cn_buf + cn->cn_pos, cn->cn_len - cn->cn_pos, rp);
        if (took < 0)
            goto fail;
        if (took > 0) {
            cn->cn_pos += (size_t)took;
            if (cn->cn_pos == cn->cn_len)
                cn->cn_pos = cn->cn_len = 0;
            return 0;
        }
        if (cn->cn_pos > 0) {
            memmove(cn->cn_buf, cn->cn_buf + cn->cn_pos, cn->cn_len - cn->cn_pos);
            cn->cn_len -= cn->cn_pos;
            cn->cn_pos = 0;
        }
        if (cn->cn_len == sizeof cn->cn_buf)
            goto fail;
        ssize_t r = recv(cn->cn_fd, cn->cn_buf + cn->cn_len, sizeof cn->cn_buf - cn->cn_len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto fail;
        cn->cn_len += (size_t)r;
    }
fail:
    s_conn_close(cn);
    return -1;
}

/* ---- the run ---- */

typedef struct s_opts {
    const char *primary, *replica; /* as given */
    char p_host[256], p_port[16], r_host[256], r_port[16];
    int clients;
    double duration;
    int customers;
    int skew;
    int timeout_ms;
    int json;
} s_opts;

typedef struct s_worker {
    int w_index;
    uint64_t w_rng;
    lyb_samples w_lat; /* µs per answered operation */
    long w_ok;
    long w_reply_errors;     /* the server answered with an error */
    long w_transport_errors; /* no answer: connect, send, receive or protocol */
    char w_first_error[S_STR_MAX];
} s_worker;

typedef struct s_probe {
    lyb_samples pr_lag; /* µs from the primary's reply to the replica's read */
    long pr_timeouts;   /* probes not seen on the replica within the timeout */
    long pr_failures;   /* the primary or the replica did not answer */
} s_probe;

static s_opts s_o;
static s_worker *s_workers;
static s_probe s_pr;
static uint64_t s_deadline_us;

static void s_worker_error(s_worker *w, const char *what)
{
    if (w->w_first_error[0] == '\0')
        snprintf(w->w_first_error, sizeof w->w_first_error, "%s", what);
}

/* Connects, retrying every S_RECONNECT_US until the deadline. 0 ok, -1 gave up. */
static int s_connect_until_deadline(s_worker *w, s_conn *cn)
{
    for (;;) {
        if (s_conn_open(cn, s_o.timeout_ms) == 0)
            return 0;
        w->w_transport_errors++;
        s_worker_error(w, strerror(errno));
        if (lyb_now_us() + S_RECONNECT_US >= s_deadline_us)
            return -1;
        lyb_sleep_us(S_RECONNECT_US);
    }
}

static void *s_worker_main(void *arg)
{
    s_worker *w = arg;
    s_conn *cn = calloc(1, sizeof *cn);
    if (cn == NULL) {
        w->w_transport_errors++;
        s_worker_error(w, "out of memory");
        return NULL;
    }
    cn->cn_fd = -1;
    cn->cn_host = s_o.p_host;
    cn->cn_port = s_o.p_port;
    while (lyb_now_us() < s_deadline_us) {
        if (cn->cn_fd < 0 && s_connect_until_deadline(w, cn) != 0)
            break;
        char key[32], points[16];
        snprintf(key, sizeof key, "cust:%d", lyb_pick_customer(&w->w_rng, s_o.customers, s_o.skew));
        snprintf(points, sizeof points, "%d", 1 + (int)(lyb_rand(&w->w_rng) % S_EARN_POINTS_MAX));
        const char *argv[] = {"INCRBY", key, points};
        s_reply rp;
        uint64_t t0 = lyb_now_us();
        int rc = s_conn_call(cn, 3, argv, &rp);
        uint64_t t1 = lyb_now_us();
        if (rc != 0) {
            w->w_transport_errors++;
            s_worker_error(w, "no reply (connection lost, timeout or protocol error)");
            continue;
        }
        if (rp.rp_type == S_REP_INT) {
            w->w_ok++;
        } else {
            w->w_reply_errors++;
            s_worker_error(w, rp.rp_type == S_REP_ERROR ? rp.rp_str : "unexpected reply type");
        }
        if (lyb_samples_add(&w->w_lat, t1 - t0) != 0)
            break;
    }
    s_conn_close(cn);
    free(cn);
    return NULL;
}

/* One probe: 0 a lag was recorded, -1 a server did not answer, 1 timed out. */
static int s_probe_once(s_conn *pri, s_conn *rep)
{
    static const char *const incr[] = {"INCR", "lagprobe"}, *const get[] = {"GET", "lagprobe"};
    s_reply rp;
    if (s_conn_call(pri, 2, incr, &rp) != 0 || rp.rp_type != S_REP_INT)
        return -1;
    uint64_t acked = lyb_now_us();
    long long want = rp.rp_int;
    for (;;) {
        if (s_conn_call(rep, 2, get, &rp) != 0)
            return -1;
        uint64_t seen = lyb_now_us();
        long long v;
        if (rp.rp_type == S_REP_BULK && s_resp_num(rp.rp_str, (long)rp.rp_len, &v) == 0 &&
            v >= want)
            return lyb_samples_add(&s_pr.pr_lag, seen - acked) == 0 ? 0 : -1;
        if (seen - acked >= (uint64_t)s_o.timeout_ms * 1000u)
            return 1;
        lyb_sleep_us(S_LAG_POLL_US);
    }
}

static void *s_probe_main(void *arg)
{
    (void)arg;
    s_conn *pri = calloc(1, sizeof *pri), *rep = calloc(1, sizeof *rep);
    if (pri == NULL || rep == NULL) {
        s_pr.pr_failures++;
        goto done;
    }
    *pri = (s_conn){.cn_fd = -1, .cn_host = s_o.p_host, .cn_port = s_o.p_port};
    *rep = (s_conn){.cn_fd = -1, .cn_host = s_o.r_host, .cn_port = s_o.r_port};
    for (uint64_t next = lyb_now_us(); next < s_deadline_us; next += S_LAG_PERIOD_US) {
        uint64_t now = lyb_now_us();
        if (now < next)
            lyb_sleep_us(next - now);
        else
            next = now; /* a slow probe: no catching up in a burst */
        if ((pri->cn_fd < 0 && s_conn_open(pri, s_o.timeout_ms) != 0) ||
            (rep->cn_fd < 0 && s_conn_open(rep, s_o.timeout_ms) != 0)) {
            s_pr.pr_failures++;
            continue;
        }
        int rc = s_probe_once(pri, rep);
        if (rc < 0)
            s_pr.pr_failures++;
        else if (rc > 0)
            s_pr.pr_timeouts++;
    }
done:
    if (pri != NULL)
        s_conn_close(pri);
    if (rep != NULL)
        s_conn_close(rep);
    free(pri);
    free(rep);
    return NULL;
}

/* Splits "HOST:PORT" (the last colon; "[v6]:PORT" too) into host and port.
 * 0 ok, -1 bad. */
static int s_split_hostport(const char *s, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s || colon[1] == '\0' || strlen(colon + 1) >= pcap)
        return -1;
    const char *h = s;
    size_t hlen = (size_t)(colon - s);
    if (h[0] == '[' && hlen >= 2 && h[hlen - 1] == ']') {
        h++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= hcap)
        return -1;
    for (const char *p = colon + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    long pn = strtol(colon + 1, NULL, 10);
    if (pn < 1 || pn > 65535)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    strcpy(port, colon + 1);
    return 0;
}

static void s_usage(FILE *out)
{
    fputs("usage: redisbench --primary HOST:PORT [--replica HOST:PORT] [--clients N]\n"
          "                  [--duration SECONDS] [--customers N] [--skew] [--timeout MS]\n"
          "                  [--json]\n"
          "\n"
          "  --primary HOST:PORT  the Redis primary the clients send INCRBY to\n"
          "  --replica HOST:PORT  its replica: probe the replication lag every 10 ms\n"
          "                       (INCR lagprobe on the primary, GET lagprobe on the replica)\n"
          "  --clients N          concurrent clients, one connection each, 1..1024 (default 8)\n"
          "  --duration S         run for S seconds (default 10)\n"
          "  --customers N        keys cust:0.. (default 10000)\n"
          "  --skew               80% of the operations go to 20% of the customers\n"
          "  --timeout MS         per-call timeout, and the longest a lag probe waits\n"
          "                       (default 10000)\n"
          "  --json               print one JSON line instead of text\n",
          out);
}

int main(int argc, char **argv)
{
    s_o = (s_opts){.clients = 8, .duration = 10, .customers = 10000, .timeout_ms = 10000};
    static const struct option longopts[] = {{"primary", required_argument, 0, 'P'},
                                             {"replica", required_argument, 0, 'R'},
                                             {"clients", required_argument, 0, 'c'},
                                             {"duration", required_argument, 0, 'd'},
                                             {"customers", required_argument, 0, 'u'},
                                             {"skew", no_argument, 0, 's'},
                                             {"timeout", required_argument, 0, 't'},
                                             {"json", no_argument, 0, 'j'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    int ch, bad = 0;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'P':
            s_o.primary = optarg;
            if (s_split_hostport(optarg, s_o.p_host, sizeof s_o.p_host, s_o.p_port,
                                 sizeof s_o.p_port) != 0)
                bad = 1;
            break;
        case 'R':
            s_o.replica = optarg;
            if (s_split_hostport(optarg, s_o.r_host, sizeof s_o.r_host, s_o.r_port,
                                 sizeof s_o.r_port) != 0)
                bad = 1;
            break;
        case 'c':
            s_o.clients = (int)lyb_num(optarg, 1, LYB_CLIENTS_MAX, &bad);
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
        case 't':
            s_o.timeout_ms = (int)lyb_num(optarg, 1, 3600000L, &bad);
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
        if (bad)
            return lyb_usage_error("redisbench", argv[optind - 1], s_usage);
    }
    if (optind < argc || s_o.primary == NULL) {
        fprintf(stderr, "redisbench: %s\n",
                s_o.primary ? "unexpected argument" : "--primary is required");
        s_usage(stderr);
        return 2;
    }

    s_workers = calloc((size_t)s_o.clients, sizeof *s_workers);
    if (s_workers == NULL)
        return 1;
    uint64_t t0 = lyb_now_us();
    s_deadline_us = t0 + (uint64_t)(s_o.duration * 1e6);
    lyb_threads probe, th;
    lyb_threads_start(&probe, s_o.replica != NULL, s_probe_main, NULL, 0);
    for (int i = 0; i < s_o.clients; i++) {
        s_workers[i].w_index = i;
        s_workers[i].w_rng = lyb_seed(i, t0);
    }
    int started = lyb_threads_start(&th, s_o.clients, s_worker_main, s_workers, sizeof *s_workers);
    lyb_threads_join(&th);
    double secs = (double)(lyb_now_us() - t0) / 1e6;
    lyb_threads_join(&probe);

    long ok = 0, reply_errors = 0, transport_errors = 0;
    const char *first_error = NULL;
    for (int i = 0; i < started; i++) {
        s_worker *w = &s_workers[i];
        ok += w->w_ok;
        reply_errors += w->w_reply_errors;
        transport_errors += w->w_transport_errors;
        if (first_error == NULL && w->w_first_error[0])
            first_error = w->w_first_error;
        if (w->w_lat.sa_oom)
            fprintf(stderr, "redisbench: client %d ran out of memory for samples\n", i);
    }
    lyb_samples all = {0};
    if (lyb_samples_merge(&all, &s_workers[0].w_lat, sizeof *s_workers, started) != 0)
        return 1;
    size_t total = all.sa_n;
    lyb_samples *lag = &s_pr.pr_lag;
    lyb_samples_sort(lag);
    double rate = secs > 0 ? (double)total / secs : 0;
    uint32_t p50 = lyb_quantile(&all, 0.50), p90 = lyb_quantile(&all, 0.90),
             p99 = lyb_quantile(&all, 0.99), p999 = lyb_quantile(&all, 0.999),
             pmax = lyb_quantile(&all, 1);
    double l50 = lyb_quantile(lag, 0.50) / 1000.0, l99 = lyb_quantile(lag, 0.99) / 1000.0,
           lmax = lyb_quantile(lag, 1) / 1000.0;

    if (s_o.json) {
        printf("{\"primary\":\"%s\",\"replica\":\"%s\",\"clients\":%d,\"customers\":%d,"
               "\"skew\":%s,\"seconds\":%.3f,\"ops\":%zu,\"ok\":%ld,\"ops_per_s\":%.1f,"
               "\"p50_us\":%u,\"p90_us\":%u,\"p99_us\":%u,\"p999_us\":%u,\"max_us\":%u,"
               "\"lag_samples\":%zu,\"lag_p50_ms\":%.3f,\"lag_p99_ms\":%.3f,"
               "\"lag_max_ms\":%.3f,\"lag_timeouts\":%ld,\"lag_failures\":%ld,"
               "\"errors\":%ld,\"reply_errors\":%ld,\"transport_errors\":%ld}\n",
               s_o.primary, s_o.replica ? s_o.replica : "", started, s_o.customers,
               s_o.skew ? "true" : "false", secs, total, ok, rate, p50, p90, p99, p999, pmax,
               lag->sa_n, l50, l99, lmax, s_pr.pr_timeouts, s_pr.pr_failures,
               reply_errors + transport_errors, reply_errors, transport_errors);
    } else {
        printf("redisbench: primary %s, %d clients, INCRBY, %s over %d customers\n", s_o.primary,
               started, s_o.skew ? "skewed 80/20" : "uniform", s_o.customers);
        printf("operations: %zu answered (%ld ok) in %.2f s = %.1f ops/s\n", total, ok, secs, rate);
        printf("latency us: p50 %u  p90 %u  p99 %u  p99.9 %u  max %u\n", p50, p90, p99, p999, pmax);
        if (s_o.replica != NULL)
            printf("replica %s lag ms: p50 %.3f  p99 %.3f  max %.3f  (%zu probes, %ld timed out, "
                   "%ld failed)\n",
                   s_o.replica, l50, l99, lmax, lag->sa_n, s_pr.pr_timeouts, s_pr.pr_failures);
        printf("errors: %ld (reply %ld, transport %ld)%s%s\n", reply_errors + transport_errors,
               reply_errors, transport_errors, first_error ? "; first: " : "",
               first_error ? first_error : "");
    }
    if (first_error != NULL && s_o.json)
        fprintf(stderr, "redisbench: first error: %s\n", first_error);
    lyb_samples_fini(&all);
    lyb_samples_fini(lag);
    free(s_workers);
    return ok > 0 ? 0 : 1;
}
