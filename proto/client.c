/* client.c -- the client API over one ZeroMQ DEALER socket (see client.h).
 *
 * Each client owns its ZeroMQ context and one DEALER connected to the node.
 * Requests are single frames (no empty delimiter: the node's ROUTER sees
 * [routing id, request]). A call waits for the frame whose "id" matches; frames
 * with another id (stale) and multipart messages (garbage) are discarded. On a
 * timeout the socket is closed and a new one connected, so a late reply can
 * never be taken for the answer to a later call. */
#include "proto/client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/keys.h"
#include "proto/codec.h"

struct ly_client {
    void *cl_ctx;
    void *cl_sock; /* NULL after a failed reconnect: the next call tries again */
    char *cl_endpoint;
    int cl_timeout_ms;
    uint64_t cl_next_id; /* next request id; never 0 */
    int cl_curve;        /* 1: the three keys below are set on every socket */
    char cl_public[LY_KEY_Z85 + 1], cl_secret[LY_KEY_Z85 + 1], cl_server[LY_KEY_Z85 + 1];
};

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A random first request id below 2^52 (ids stay exact as JSON numbers). */
static uint64_t s_first_id(const ly_client *c)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)ts.tv_sec << 20 ^
            (uint64_t)getpid() << 40 ^ (uint64_t)(uintptr_t)c;
    }
    v &= (1ULL << 52) - 1;
    return v == 0 ? 1 : v;
}

static uint64_t s_next_id(ly_client *c)
{
    uint64_t id = c->cl_next_id++;
    if (c->cl_next_id == 0)
        c->cl_next_id = 1;
    return id;
}

/* Creates and connects the socket. Returns 0, or -1 (socket left NULL). */
static int s_open(ly_client *c)
{
    void *s = zmq_socket(c->cl_ctx, ZMQ_DEALER);
    if (s == NULL)
        return -1;
    int linger = 0, immediate = 1;
    int64_t maxmsg = LY_FRAME_MAX;
    if (zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(s, ZMQ_IMMEDIATE, &immediate, sizeof immediate) != 0 ||
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        (c->cl_curve && ly_key_curve_client(s, c->cl_public, c->cl_secret, c->cl_server) != 0) ||
        zmq_connect(s, c->cl_endpoint) != 0) {
        zmq_close(s);
        return -1;
    }
    c->cl_sock = s;
    return 0;
}

/* Drops the socket, with whatever is queued on it, and connects a new one. */
static void s_reset(ly_client *c)
{
    if (c->cl_sock != NULL)
        zmq_close(c->cl_sock);
    c->cl_sock = NULL;
    (void)s_open(c);
}

static ly_client *s_new(const char *endpoint, int timeout_ms, const char *pub, const char *sec,
                        const char *server)
{
    if (endpoint == NULL || endpoint[0] == '\0' || timeout_ms <= 0)
        return NULL;
    if (pub != NULL && (!sec || !server || !ly_key_z85_valid(pub) || !ly_key_z85_valid(sec) ||
                        !ly_key_z85_valid(server)))
        return NULL;
    ly_client *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    if (pub != NULL) {
        c->cl_curve = 1;
        memcpy(c->cl_public, pub, sizeof c->cl_public);
        memcpy(c->cl_secret, sec, sizeof c->cl_secret);
        memcpy(c->cl_server, server, sizeof c->cl_server);
    }
    c->cl_timeout_ms = timeout_ms;
    c->cl_endpoint = strdup(endpoint);
    c->cl_ctx = zmq_ctx_new();
    if (c->cl_endpoint == NULL || c->cl_ctx == NULL || s_open(c) != 0) {
        ly_client_destroy(&c);
        return NULL;
    }
    c->cl_next_id = s_first_id(c);
    return c;
}

ly_client *ly_client_new(const char *endpoint, int timeout_ms)
{
    return s_new(endpoint, timeout_ms, NULL, NULL, NULL);
}

ly_client *ly_client_new_curve(const char *endpoint, int timeout_ms, const char *public_key,
                               const char *secret_key, const char *server_key)
{
    if (public_key == NULL)
        return NULL;
    return s_new(endpoint, timeout_ms, public_key, secret_key, server_key);
}

void ly_client_destroy(ly_client **cp)
{
    if (cp == NULL || *cp == NULL)
        return;
    ly_client *c = *cp;
    if (c->cl_sock != NULL)
        zmq_close(c->cl_sock);
    if (c->cl_ctx != NULL)
        while (zmq_ctx_term(c->cl_ctx) != 0 && errno == EINTR)
            ;
    free(c->cl_endpoint);
    explicit_bzero(c->cl_secret, sizeof c->cl_secret);
    free(c);
    *cp = NULL;
}

/* Waits until the socket can take the frame, then sends it. */
static ly_err s_send(ly_client *c, const uint8_t *buf, size_t len, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - s_now_ms();
        if (left <= 0)
            return LY_ETIMEDOUT;
        zmq_pollitem_t it = {c->cl_sock, 0, ZMQ_POLLOUT, 0};
        int n = zmq_poll(&it, 1, (long)left);
        if (n < 0 && errno != EINTR)
            return LY_EIO;
        if (n <= 0 || !(it.revents & ZMQ_POLLOUT))
            continue;
        if (zmq_send(c->cl_sock, buf, len, ZMQ_DONTWAIT) == (int)len)
            return LY_OK;
        if (errno != EAGAIN && errno != EINTR)
            return LY_EIO;
    }
}

/* Discards the rest of a multipart message. */
static void s_drain(ly_client *c)
{
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        int r = zmq_msg_recv(&part, c->cl_sock, ZMQ_DONTWAIT);
        int more = r >= 0 && zmq_msg_more(&part);
        zmq_msg_close(&part);
        if (!more)
            return;
    }
}

/* Fills `rp` with a local error for the call (dropping anything it held) and
 * returns `err`. */
__attribute__((format(printf, 4, 5))) static ly_err s_local_error(ly_rep *rp, const ly_req *rq,
                                                                  ly_err err, const char *fmt, ...)
{
    ly_rep_fini(rp);
    ly_rep_reset(rp);
    ly_rep_error(rp, rq->rq_type, rq->rq_id, err, NULL);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rp->rp_message, sizeof rp->rp_message, fmt, ap);
    va_end(ap);
    return err;
}

/* Checks, encodes and sends `rq` (assigning its id). On failure fills `rp`
 * with the local error and returns it; on success leaves `rp` as it was. */
static ly_err s_send_req(ly_client *c, ly_req *rq, ly_rep *rp, int64_t deadline)
{
    char why[200];
    rq->rq_id = s_next_id(c);
    if (ly_req_check(rq, why, sizeof why) != LY_OK)
        return s_local_error(rp, rq, LY_EINVAL, "%s", why);
    uint8_t *buf;
    size_t len;
    ly_err rc = ly_req_encode(rq, &buf, &len);
    if (rc != LY_OK)
        return s_local_error(rp, rq, rc, "cannot encode the request: %s", ly_strerror(rc));
    if (c->cl_sock == NULL && s_open(c) != 0) {
        int e = errno;
        free(buf);
        return s_local_error(rp, rq, LY_EIO, "cannot connect to %s: %s", c->cl_endpoint,
                             zmq_strerror(e));
    }
    rc = s_send(c, buf, len, deadline);
    free(buf);
    if (rc == LY_EIO) {
        int e = errno;
        s_reset(c);
        return s_local_error(rp, rq, LY_EIO, "cannot send to %s: %s", c->cl_endpoint,
                             zmq_strerror(e));
    }
    if (rc == LY_ETIMEDOUT) {
        s_reset(c);
        return s_local_error(rp, rq, LY_ETIMEDOUT, "%s took no request within %d ms",
                             c->cl_endpoint, c->cl_timeout_ms);
    }
    return LY_OK;
}

/* Receives the next single-frame reply before `deadline` into `rp` (which
 * must be initialised). Returns LY_OK with *id set to the reply's request id
 * (0: the node could not read a request of ours), LY_EPROTO with *id when the
 * frame did not decode (rp holds the reason in rp_message), LY_ETIMEDOUT, or
 * LY_EIO (the socket was reset; rp holds the reason). */
static ly_err s_recv_rep(ly_client *c, ly_rep *rp, int64_t deadline, uint64_t *id)
{
    for (;;) {
        int64_t left = deadline - s_now_ms();
        if (left <= 0)
            return LY_ETIMEDOUT;
        if (c->cl_sock == NULL)
            return LY_ETIMEDOUT; /* nothing can come on no socket */
        zmq_pollitem_t it = {c->cl_sock, 0, ZMQ_POLLIN, 0};
        int n = zmq_poll(&it, 1, (long)left);
        if (n < 0 && errno != EINTR) {
            int e = errno;
            s_reset(c);
            snprintf(rp->rp_message, sizeof rp->rp_message, "cannot receive from %s: %s",
                     c->cl_endpoint, zmq_strerror(e));
            return LY_EIO;
        }
        if (n <= 0 || !(it.revents & ZMQ_POLLIN))
            continue;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, c->cl_sock, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close(&msg);
            if (e == EAGAIN || e == EINTR)
                continue;
            s_reset(c);
            snprintf(rp->rp_message, sizeof rp->rp_message, "cannot receive from %s: %s",
                     c->cl_endpoint, zmq_strerror(e));
            return LY_EIO;
        }
        if (zmq_msg_more(&msg)) { /* the protocol has single frames only */
            zmq_msg_close(&msg);
            s_drain(c);
            continue;
        }
        const uint8_t *data = zmq_msg_data(&msg);
        size_t size = zmq_msg_size(&msg);
        char why[200];
        ly_err drc = ly_rep_decode(data, size, rp, why, sizeof why);
        *id = drc == LY_OK ? rp->rp_id : ly_req_peek_id(data, size);
        zmq_msg_close(&msg);
        if (drc == LY_OK)
            return LY_OK;
        ly_rep_fini(rp);
        ly_rep_reset(rp);
        snprintf(rp->rp_message, sizeof rp->rp_message, "undecodable reply: %s", why);
        return LY_EPROTO;
    }
}

ly_err ly_client_call(ly_client *c, ly_req *rq, ly_rep *rp)
{
    ly_rep_reset(rp);
    if (c == NULL || rq == NULL) {
        ly_rep_error(rp, 0, 0, LY_EINVAL, "%s", "no client or no request");
        return LY_EINVAL;
    }
    int64_t deadline = s_now_ms() + c->cl_timeout_ms;
    ly_err rc = s_send_req(c, rq, rp, deadline);
    if (rc != LY_OK)
        return rc;
    for (;;) {
        uint64_t id = 0;
        rc = s_recv_rep(c, rp, deadline, &id);
        char msg[sizeof rp->rp_message]; /* the reason, kept while rp is reset */
        if (rc != LY_OK)
            snprintf(msg, sizeof msg, "%s", rp->rp_message);
        if (rc == LY_EIO)
            return s_local_error(rp, rq, LY_EIO, "%s", msg);
        if (rc == LY_ETIMEDOUT)
            break;
        /* A reply with id 0 answers a request the node could not read: ours. */
        if (id != 0 && id != rq->rq_id) { /* stale: the answer to an earlier call */
            ly_rep_fini(rp);
            ly_rep_reset(rp);
            continue;
        }
        if (rc == LY_EPROTO)
            return s_local_error(rp, rq, LY_EPROTO, "%s", msg);
        if (rp->rp_type != 0 && rp->rp_type != rq->rq_type)
            return s_local_error(rp, rq, LY_EPROTO, "reply of type '%s' to request type '%s'",
                                 ly_msgtype_name(rp->rp_type), ly_msgtype_name(rq->rq_type));
        return LY_OK;
    }
    s_reset(c);
    return s_local_error(rp, rq, LY_ETIMEDOUT, "no reply from %s within %d ms", c->cl_endpoint,
                         c->cl_timeout_ms);
}

ly_err ly_client_send(ly_client *c, ly_req *rq, ly_rep *err)
{
    ly_rep_reset(err);
    if (c == NULL || rq == NULL) {
        ly_rep_error(err, 0, 0, LY_EINVAL, "%s", "no client or no request");
        return LY_EINVAL;
    }
    return s_send_req(c, rq, err, s_now_ms() + c->cl_timeout_ms);
}

ly_err ly_client_recv(ly_client *c, ly_rep *rp)
{
    ly_rep_reset(rp);
    if (c == NULL) {
        ly_rep_error(rp, 0, 0, LY_EINVAL, "%s", "no client");
        return LY_EINVAL;
    }
    uint64_t id = 0;
    ly_err rc = s_recv_rep(c, rp, s_now_ms() + c->cl_timeout_ms, &id);
    if (rc == LY_OK)
        return LY_OK;
    if (rc == LY_EPROTO) {
        rp->rp_id = id;
        rp->rp_err = LY_EPROTO;
        return LY_EPROTO;
    }
    if (rc == LY_ETIMEDOUT) {
        s_reset(c);
        snprintf(rp->rp_message, sizeof rp->rp_message,
                 "no reply from %s within %d ms; requests in flight are dropped", c->cl_endpoint,
                 c->cl_timeout_ms);
    }
    rp->rp_err = rc;
    return rc;
}
