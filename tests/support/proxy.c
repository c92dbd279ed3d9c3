/* proxy.c -- a TCP fault proxy for cluster tests (see proxy.h).
 *
 * One thread per proxy, one poll over: a wake-up pipe (mode changes, stop),
 * the listening socket and both sides of every connection pair. Bytes read
 * from side d are queued in chunks stamped with the time they may leave
 * (now + delay in DELAY mode) and written to the other side in order; a queue
 * holding S_QUEUE_MAX bytes stops reading from its side (back-pressure). */
#include "tests/support/proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define S_READ_MAX    65536
#define S_QUEUE_MAX   (1u << 20) /* bytes held per direction before reading stops */
#define S_BACKLOG     128
#define S_ACCEPT_MAX  32 /* connections accepted per wake-up */
#define S_DELAY_MAX   60000
#define S_POLL_IDLE   1000 /* ms: the thread wakes at least this often */
#define S_SIDE_CLIENT 0    /* the accepted side */
#define S_SIDE_TARGET 1    /* the side connected to the target */

typedef struct s_chunk {
    struct s_chunk *c_next;
    uint64_t c_due_us; /* may be written from this time on (DELAY) */
    size_t c_len, c_off;
    unsigned char c_data[];
} s_chunk;

typedef struct s_queue {
    s_chunk *q_head, *q_tail;
    size_t q_bytes;
} s_queue;

/* One proxied connection: cn_fd[S_SIDE_CLIENT] was accepted, cn_fd[S_SIDE_TARGET]
 * goes to the target (-1 while parked in a blackhole). cn_q[d] holds what was
 * read from side d and is still to be written to side 1 - d. */
typedef struct s_conn {
    int cn_fd[2];
    int cn_connecting; /* the target side's connect is in progress */
    int cn_eof[2];     /* side d sent its FIN */
    int cn_lost;       /* one side went away during a blackhole */
    int cn_dead;       /* closed: removed at the end of the round */
    s_queue cn_q[2];
} s_conn;

struct lyp_proxy {
    int px_listen;
    int px_port;
    char px_endpoint[64];
    int px_wake[2];
    pthread_t px_thread;
    int px_thread_ok;
    _Atomic int px_mode_pub; /* lyp_proxy_mode without the lock */

    pthread_mutex_t px_lock; /* guards the fields down to px_stats */
    pthread_cond_t px_cond;
    lyp_mode px_want;
    int px_want_delay;
    int px_target;
    uint64_t px_req, px_ack; /* mode changes asked for / applied */
    int px_stop;
    int px_gone; /* the thread has ended */
    lyp_stats px_stats;

    /* Owned by the proxy thread. */
    lyp_mode px_mode;
    int px_delay_ms;
    s_conn *px_conns;
    int px_nconns, px_cap;
    lyp_stats px_local;
    struct pollfd *px_pfd;
    int px_pfd_cap;
    unsigned char px_buf[S_READ_MAX];
};

const char *lyp_mode_name(lyp_mode mode)
{
    switch (mode) {
    case LYP_MODE_PASS:
        return "pass";
    case LYP_MODE_BLACKHOLE:
        return "blackhole";
    case LYP_MODE_RESET:
        return "reset";
    case LYP_MODE_DELAY:
        return "delay";
    }
    return "?";
}

static uint64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- queues --------------------------------------------------------------- */

static int s_queue_push(s_queue *q, const unsigned char *data, size_t len, uint64_t due_us)
{
    s_chunk *c = malloc(sizeof *c + len);
    if (c == NULL)
        return -1;
    c->c_next = NULL;
    c->c_due_us = due_us;
    c->c_len = len;
    c->c_off = 0;
    memcpy(c->c_data, data, len);
    if (q->q_tail != NULL)
        q->q_tail->c_next = c;
    else
        q->q_head = c;
    q->q_tail = c;
    q->q_bytes += len;
    return 0;
}

static void s_queue_clear(s_queue *q)
{
    while (q->q_head != NULL) {
        s_chunk *c = q->q_head;
        q->q_head = c->c_next;
        free(c);
    }
    q->q_tail = NULL;
    q->q_bytes = 0;
}

/* 1 if the head of `q` may be written now in `mode`. */
static int s_queue_ready(const s_queue *q, lyp_mode mode, uint64_t now_us)
{
    if (q->q_head == NULL)
        return 0;
    return mode != LYP_MODE_DELAY || q->q_head->c_due_us <= now_us;
}

/* ---- sockets -------------------------------------------------------------- */

static void s_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Close `fd` with a TCP reset rather than a FIN. */
static void s_close_reset(int fd)
{
    if (fd < 0)
        return;
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}

static void s_conn_close(s_conn *cn, int reset)
{
    for (int d = 0; d < 2; d++) {
        if (cn->cn_fd[d] >= 0) {
            if (reset)
                s_close_reset(cn->cn_fd[d]);
            else
                close(cn->cn_fd[d]);
        }
        cn->cn_fd[d] = -1;
        s_queue_clear(&cn->cn_q[d]);
    }
    cn->cn_dead = 1;
}

/* Start the connection of `cn` to the target. On failure the pair is closed
 * (the connecting side sees a reset). */
static void s_conn_connect(lyp_proxy *p, s_conn *cn, int target)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "proxy %d: socket: %s\n", p->px_port, strerror(errno));
        s_conn_close(cn, 1);
        return;
    }
    s_nodelay(fd);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)target);
    cn->cn_fd[S_SIDE_TARGET] = fd;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        cn->cn_connecting = 0;
        p->px_local.st_connected++;
    } else if (errno == EINPROGRESS) {
        cn->cn_connecting = 1;
    } else {
        p->px_local.st_refused++;
        s_conn_close(cn, 1);
    }
}

/* A finished non-blocking connect: 0 connected, -1 refused or failed. */
static int s_connect_result(int fd)
{
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return -1;
    return err == 0 ? 0 : -1;
}

static s_conn *s_conn_add(lyp_proxy *p, int fd)
{
    if (p->px_nconns == p->px_cap) {
        int cap = p->px_cap ? p->px_cap * 2 : 16;
        s_conn *grown = realloc(p->px_conns, (size_t)cap * sizeof *grown);
        if (grown == NULL)
            return NULL;
        p->px_conns = grown;
        p->px_cap = cap;
    }
    s_conn *cn = &p->px_conns[p->px_nconns++];
    memset(cn, 0, sizeof *cn);
    cn->cn_fd[S_SIDE_CLIENT] = fd;
    cn->cn_fd[S_SIDE_TARGET] = -1;
    return cn;
}

static void s_accept_all(lyp_proxy *p, int target)
{
    for (int i = 0; i < S_ACCEPT_MAX; i++) {
        int fd = accept4(p->px_listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                fprintf(stderr, "proxy %d: accept: %s\n", p->px_port, strerror(errno));
            return;
        }
        p->px_local.st_accepted++;
        if (p->px_mode == LYP_MODE_RESET) {
            p->px_local.st_refused++;
            s_close_reset(fd);
            continue;
        }
        s_nodelay(fd);
        s_conn *cn = s_conn_add(p, fd);
        if (cn == NULL) {
            fprintf(stderr, "proxy %d: out of memory\n", p->px_port);
            s_close_reset(fd);
            continue;
        }
        if (p->px_mode != LYP_MODE_BLACKHOLE)
            s_conn_connect(p, cn, target);
    }
}

/* ---- mode changes ------------------------------------------------------- */

static void s_apply_mode(lyp_proxy *p, lyp_mode mode, int delay_ms, int target)
{
    lyp_mode old = p->px_mode;
    p->px_mode = mode;
    p->px_delay_ms = delay_ms;
    for (int i = 0; i < p->px_nconns; i++) {
        s_conn *cn = &p->px_conns[i];
        if (cn->cn_dead)
            continue;
        if (mode == LYP_MODE_RESET) {
            s_conn_close(cn, 1);
            continue;
        }
        if (old != LYP_MODE_BLACKHOLE || mode == LYP_MODE_BLACKHOLE)
            continue;
        /* Healing: an end that went away meanwhile is gone for the other one
         * too; a parked connection reaches the target now. */
        if (cn->cn_lost)
            s_conn_close(cn, 1);
        else if (cn->cn_fd[S_SIDE_TARGET] < 0)
            s_conn_connect(p, cn, target);
    }
}

/* ---- the thread --------------------------------------------------------- */

/* Read what side `d` offers into cn_q[d]. */
static void s_conn_read(lyp_proxy *p, s_conn *cn, int d)
{
    ssize_t n = recv(cn->cn_fd[d], p->px_buf, sizeof p->px_buf, 0);
    if (n > 0) {
        uint64_t due = s_now_us();
        if (p->px_mode == LYP_MODE_DELAY)
            due += (uint64_t)p->px_delay_ms * 1000u;
        if (s_queue_push(&cn->cn_q[d], p->px_buf, (size_t)n, due) != 0) {
            fprintf(stderr, "proxy %d: out of memory\n", p->px_port);
            s_conn_close(cn, 1);
        }
    } else if (n == 0) {
        cn->cn_eof[d] = 1;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        s_conn_close(cn, 1); /* reset by that end: reset the other one too */
    }
}

/* Write to side `d` what is ready in cn_q[1 - d]. */
static void s_conn_write(lyp_proxy *p, s_conn *cn, int d, uint64_t now_us)
{
    s_queue *q = &cn->cn_q[1 - d];
    while (s_queue_ready(q, p->px_mode, now_us)) {
        s_chunk *c = q->q_head;
        ssize_t n = send(cn->cn_fd[d], c->c_data + c->c_off, c->c_len - c->c_off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                s_conn_close(cn, 1);
            return;
        }
        if (d == S_SIDE_TARGET)
            p->px_local.st_bytes_up += (uint64_t)n;
        else
            p->px_local.st_bytes_down += (uint64_t)n;
        c->c_off += (size_t)n;
        q->q_bytes -= (size_t)n;
        if (c->c_off < c->c_len)
            return; /* the socket is full */
        q->q_head = c->c_next;
        if (q->q_head == NULL)
            q->q_tail = NULL;
        free(c);
    }
}

/* Poll events for both sides of `cn` in the current mode. */
static void s_conn_events(const lyp_proxy *p, const s_conn *cn, uint64_t now_us, short ev[2])
{
    ev[0] = ev[1] = 0;
    if (p->px_mode == LYP_MODE_BLACKHOLE) {
        /* Only learn that an end went away; move nothing. */
        for (int d = 0; d < 2; d++)
            ev[d] = cn->cn_fd[d] >= 0 ? POLLRDHUP : 0;
        return;
    }
    if (cn->cn_connecting) {
        ev[S_SIDE_TARGET] = POLLOUT;
        if (!cn->cn_eof[S_SIDE_CLIENT] && cn->cn_q[S_SIDE_CLIENT].q_bytes < S_QUEUE_MAX)
            ev[S_SIDE_CLIENT] = POLLIN;
        return;
    }
    for (int d = 0; d < 2; d++) {
        if (cn->cn_fd[d] < 0)
            continue;
        if (!cn->cn_eof[d] && cn->cn_q[d].q_bytes < S_QUEUE_MAX)
            ev[d] |= POLLIN;
        if (s_queue_ready(&cn->cn_q[1 - d], p->px_mode, now_us))
            ev[d] |= POLLOUT;
    }
}

static void s_conn_handle(lyp_proxy *p, s_conn *cn, const short rev[2], uint64_t now_us)
{
    if (p->px_mode == LYP_MODE_BLACKHOLE) {
        for (int d = 0; d < 2; d++) {
            if (cn->cn_fd[d] >= 0 && (rev[d] & (POLLRDHUP | POLLHUP | POLLERR))) {
                close(cn->cn_fd[d]); /* nothing reaches the other end */
                cn->cn_fd[d] = -1;
                cn->cn_lost = 1;
            }
        }
        if (cn->cn_fd[0] < 0 && cn->cn_fd[1] < 0)
            s_conn_close(cn, 0);
        return;
    }
    if (cn->cn_connecting) {
        if (rev[S_SIDE_TARGET] & (POLLOUT | POLLERR | POLLHUP)) {
            if (s_connect_result(cn->cn_fd[S_SIDE_TARGET]) != 0) {
                p->px_local.st_refused++;
                s_conn_close(cn, 1);
                return;
            }
            cn->cn_connecting = 0;
            p->px_local.st_connected++;
        }
        if (rev[S_SIDE_CLIENT] & POLLERR) {
            s_conn_close(cn, 1);
            return;
        }
        if (rev[S_SIDE_CLIENT] & (POLLIN | POLLHUP))
            s_conn_read(p, cn, S_SIDE_CLIENT);
        return;
    }
    for (int d = 0; d < 2 && !cn->cn_dead; d++) {
        if (rev[d] & POLLERR) {
            s_conn_close(cn, 1);
            return;
        }
        if ((rev[d] & (POLLIN | POLLHUP)) && !cn->cn_eof[d] && cn->cn_q[d].q_bytes < S_QUEUE_MAX)
            s_conn_read(p, cn, d);
        if (!cn->cn_dead && (rev[d] & POLLOUT))
            s_conn_write(p, cn, d, now_us);
        if (!cn->cn_dead && (rev[d] & POLLHUP) && cn->cn_eof[d]) {
            s_conn_close(cn, 1);
            return;
        }
    }
    /* An end that closed, once what it sent has been passed on: close the pair. */
    for (int d = 0; d < 2 && !cn->cn_dead; d++)
        if (cn->cn_eof[d] && cn->cn_q[d].q_head == NULL)
            s_conn_close(cn, 0);
}

/* Drop the pairs closed this round. */
static void s_compact(lyp_proxy *p)
{
    int j = 0;
    for (int i = 0; i < p->px_nconns; i++)
        if (!p->px_conns[i].cn_dead)
            p->px_conns[j++] = p->px_conns[i];
    p->px_nconns = j;
}

/* The poll timeout: until the first delayed chunk is due, else S_POLL_IDLE. */
static int s_timeout(const lyp_proxy *p, uint64_t now_us)
{
    if (p->px_mode != LYP_MODE_DELAY)
        return S_POLL_IDLE;
    uint64_t first = UINT64_MAX;
    for (int i = 0; i < p->px_nconns; i++)
        for (int d = 0; d < 2; d++) {
            const s_chunk *c = p->px_conns[i].cn_q[d].q_head;
            if (c != NULL && c->c_due_us < first)
                first = c->c_due_us;
        }
    if (first == UINT64_MAX)
        return S_POLL_IDLE;
    if (first <= now_us)
        return 0;
    uint64_t ms = (first - now_us + 999) / 1000;
    return ms < S_POLL_IDLE ? (int)ms : S_POLL_IDLE;
}

static int s_pfd_reserve(lyp_proxy *p, int n)
{
    if (n <= p->px_pfd_cap)
        return 0;
    int cap = p->px_pfd_cap ? p->px_pfd_cap : 16;
    while (cap < n)
        cap *= 2;
    struct pollfd *grown = realloc(p->px_pfd, (size_t)cap * sizeof *grown);
    if (grown == NULL)
        return -1;
    p->px_pfd = grown;
    p->px_pfd_cap = cap;
    return 0;
}

static void *s_main(void *arg)
{
    lyp_proxy *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->px_lock);
        int stop = p->px_stop, target = p->px_target;
        if (p->px_ack != p->px_req) {
            s_apply_mode(p, p->px_want, p->px_want_delay, target);
            p->px_ack = p->px_req;
        }
        p->px_local.st_open = 0;
        for (int i = 0; i < p->px_nconns; i++)
            p->px_local.st_open += !p->px_conns[i].cn_dead;
        p->px_stats = p->px_local;
        pthread_cond_broadcast(&p->px_cond);
        pthread_mutex_unlock(&p->px_lock);
        if (stop)
            break;
        s_compact(p);

        uint64_t now = s_now_us();
        if (s_pfd_reserve(p, 2 + 2 * p->px_nconns) != 0) {
            fprintf(stderr, "proxy %d: out of memory\n", p->px_port);
            struct timespec ts = {0, 10000000L};
            nanosleep(&ts, NULL);
            continue;
        }
        struct pollfd *pf = p->px_pfd;
        pf[0] = (struct pollfd){p->px_wake[0], POLLIN, 0};
        pf[1] = (struct pollfd){p->px_listen, POLLIN, 0};
        for (int i = 0; i < p->px_nconns; i++) {
            short ev[2];
            s_conn_events(p, &p->px_conns[i], now, ev);
            for (int d = 0; d < 2; d++) {
                int fd = p->px_conns[i].cn_fd[d];
                /* A side with nothing to wait for is left out (poll would still
                 * report a hang-up on it, in a busy loop). */
                pf[2 + 2 * i + d] = (struct pollfd){ev[d] ? fd : -1, ev[d], 0};
            }
        }
        int r = poll(pf, (nfds_t)(2 + 2 * p->px_nconns), s_timeout(p, now));
        if (r < 0) {
            if (errno != EINTR)
                fprintf(stderr, "proxy %d: poll: %s\n", p->px_port, strerror(errno));
            continue;
        }
        if (pf[0].revents & POLLIN) {
            char drain[64];
            while (read(p->px_wake[0], drain, sizeof drain) > 0)
                ;
        }
        now = s_now_us();
        int nconns = p->px_nconns; /* pairs accepted below have no poll entry yet */
        for (int i = 0; i < nconns; i++) {
            short rev[2] = {pf[2 + 2 * i].revents, pf[2 + 2 * i + 1].revents};
            if ((rev[0] | rev[1]) != 0 && !p->px_conns[i].cn_dead)
                s_conn_handle(p, &p->px_conns[i], rev, now);
        }
        if (pf[1].revents & POLLIN)
            s_accept_all(p, target);
    }
    for (int i = 0; i < p->px_nconns; i++)
        if (!p->px_conns[i].cn_dead)
            s_conn_close(&p->px_conns[i], 1);
    p->px_nconns = 0;
    pthread_mutex_lock(&p->px_lock);
    p->px_gone = 1;
    pthread_cond_broadcast(&p->px_cond);
    pthread_mutex_unlock(&p->px_lock);
    return NULL;
}

/* ---- API -------------------------------------------------------------------- */

static void s_wake(lyp_proxy *p)
{
    char one = 1;
    ssize_t n = write(p->px_wake[1], &one, 1);
    (void)n; /* a full pipe wakes the thread as well */
}

lyp_proxy *lyp_proxy_new(int target_port)
{
    if (target_port < 1 || target_port > 65535) {
        fprintf(stderr, "proxy: target port %d out of range\n", target_port);
        return NULL;
    }
    lyp_proxy *p = calloc(1, sizeof *p);
    if (p == NULL) {
        fprintf(stderr, "proxy: out of memory\n");
        return NULL;
    }
    p->px_listen = p->px_wake[0] = p->px_wake[1] = -1;
    p->px_target = target_port;
    pthread_mutex_init(&p->px_lock, NULL);
    pthread_cond_init(&p->px_cond, NULL);

    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    p->px_listen = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->px_listen < 0 || bind(p->px_listen, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(p->px_listen, S_BACKLOG) != 0 ||
        getsockname(p->px_listen, (struct sockaddr *)&sa, &len) != 0) {
        fprintf(stderr, "proxy: unable to listen on 127.0.0.1: %s\n", strerror(errno));
        goto fail;
    }
    p->px_port = ntohs(sa.sin_port);
    snprintf(p->px_endpoint, sizeof p->px_endpoint, "tcp://127.0.0.1:%d", p->px_port);
    if (pipe2(p->px_wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        fprintf(stderr, "proxy %d: pipe: %s\n", p->px_port, strerror(errno));
        goto fail;
    }
    if (pthread_create(&p->px_thread, NULL, s_main, p) != 0) {
        fprintf(stderr, "proxy %d: unable to start its thread\n", p->px_port);
        goto fail;
    }
    p->px_thread_ok = 1;
    return p;

fail:
    lyp_proxy_destroy(&p);
    return NULL;
}

void lyp_proxy_destroy(lyp_proxy **pp)
{
    if (pp == NULL || *pp == NULL)
        return;
    lyp_proxy *p = *pp;
    *pp = NULL;
    if (p->px_thread_ok) {
        pthread_mutex_lock(&p->px_lock);
        p->px_stop = 1;
        pthread_mutex_unlock(&p->px_lock);
        s_wake(p);
        pthread_join(p->px_thread, NULL);
    }
    for (int i = 0; i < p->px_nconns; i++)
        if (!p->px_conns[i].cn_dead)
            s_conn_close(&p->px_conns[i], 1);
    free(p->px_conns);
    free(p->px_pfd);
    if (p->px_listen >= 0)
        close(p->px_listen);
    for (int i = 0; i < 2; i++)
        if (p->px_wake[i] >= 0)
            close(p->px_wake[i]);
    pthread_cond_destroy(&p->px_cond);
    pthread_mutex_destroy(&p->px_lock);
    free(p);
}

int lyp_proxy_port(const lyp_proxy *p)
{
    return p->px_port;
}

const char *lyp_proxy_endpoint(const lyp_proxy *p)
{
    return p->px_endpoint;
}

int lyp_proxy_set_target(lyp_proxy *p, int target_port)
{
    if (target_port < 1 || target_port > 65535) {
        fprintf(stderr, "proxy %d: target port %d out of range\n", p->px_port, target_port);
        return -1;
    }
    pthread_mutex_lock(&p->px_lock);
    p->px_target = target_port;
    pthread_mutex_unlock(&p->px_lock);
    return 0;
}

int lyp_proxy_set_mode(lyp_proxy *p, lyp_mode mode, int delay_ms)
{
    if ((int)mode < (int)LYP_MODE_PASS || (int)mode > (int)LYP_MODE_DELAY || delay_ms < 0 ||
        delay_ms > S_DELAY_MAX) {
        fprintf(stderr, "proxy %d: bad mode %d or delay %d ms\n", p->px_port, (int)mode, delay_ms);
        return -1;
    }
    pthread_mutex_lock(&p->px_lock);
    p->px_want = mode;
    p->px_want_delay = delay_ms;
    uint64_t req = ++p->px_req;
    atomic_store(&p->px_mode_pub, (int)mode);
    s_wake(p);
    while (p->px_ack < req && !p->px_gone)
        pthread_cond_wait(&p->px_cond, &p->px_lock);
    int rc = p->px_ack >= req ? 0 : -1;
    pthread_mutex_unlock(&p->px_lock);
    if (rc != 0)
        fprintf(stderr, "proxy %d: its thread has ended\n", p->px_port);
    return rc;
}

lyp_mode lyp_proxy_mode(const lyp_proxy *p)
{
    return (lyp_mode)atomic_load(&((lyp_proxy *)p)->px_mode_pub);
}

void lyp_proxy_stats(const lyp_proxy *p, lyp_stats *out)
{
    lyp_proxy *q = (lyp_proxy *)p; /* the lock is not part of the value */
    pthread_mutex_lock(&q->px_lock);
    *out = q->px_stats;
    pthread_mutex_unlock(&q->px_lock);
}
