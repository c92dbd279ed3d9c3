#include "node/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/hlc.h"
#include "common/log.h"
#include "common/store.h"
#include "node/service.h"
#include "proto/codec.h"

#define S_IDENT_MAX 256
#define S_RETRIES   8 /* map growths in a row before a batch is refused */

/* One request of a batch and, once executed, its encoded reply. */
typedef struct s_item {
    uint8_t it_ident[S_IDENT_MAX];
    size_t it_ident_len;
    int it_decoded; /* it_req holds a valid request; else it_reply is already an error */
    ly_req it_req;
    uint8_t *it_reply;
    size_t it_reply_len;
} s_item;

struct ly_server {
    const ly_config *sv_cf;
    ly_store *sv_store;
    ly_hlc sv_hlc;
    ly_service sv_service;
    void *sv_ctx;
    void *sv_clients; /* ROUTER */
    s_item *sv_batch;
    ly_rep *sv_rep; /* scratch reply */
    uint64_t sv_batches, sv_requests, sv_dropped_replies, sv_bad_frames;
};

static void s_set_int(void *sock, int opt, int v)
{
    zmq_setsockopt(sock, opt, &v, sizeof v);
}

ly_err ly_server_new(const ly_config *cf, ly_server **out, char *why, size_t why_len)
{
    *out = NULL;
    ly_server *sv = calloc(1, sizeof *sv);
    if (!sv)
        return LY_ENOMEM;
    sv->sv_cf = cf;
    ly_err e;
    ly_store_opts so = {.so_map_size = cf->cf_map_size_mb << 20};
    if ((e = ly_store_open(cf->cf_data_dir, cf->cf_node_id, &so, &sv->sv_store, why, why_len)))
        goto fail;

    /* Start the clock above every timestamp already stored: the wall clock may
     * have stepped back while the node was down. */
    ly_txn *t;
    ly_store_stats st;
    if ((e = ly_store_begin(sv->sv_store, 0, &t)) != LY_OK)
        goto fail;
    e = ly_store_stats_get(t, &st);
    ly_store_abort(&t);
    if (e != LY_OK)
        goto fail;
    ly_hlc_init(&sv->sv_hlc, st.st_hlc, cf->cf_max_clock_ahead_ms);

    sv->sv_service.sv_store = sv->sv_store;
    sv->sv_service.sv_program = &cf->cf_program;
    sv->sv_service.sv_hlc = &sv->sv_hlc;
    ly_strlcpy(sv->sv_service.sv_name, cf->cf_name, sizeof sv->sv_service.sv_name);
    sv->sv_service.sv_started_ms = ly_wall_ms();

    sv->sv_batch = calloc(cf->cf_batch_max, sizeof *sv->sv_batch);
    sv->sv_rep = malloc(sizeof *sv->sv_rep);
    sv->sv_ctx = zmq_ctx_new();
    if (!sv->sv_batch || !sv->sv_rep || !sv->sv_ctx) {
        e = LY_ENOMEM;
        goto fail;
    }
    sv->sv_clients = zmq_socket(sv->sv_ctx, ZMQ_ROUTER);
    if (!sv->sv_clients) {
        e = LY_ENOMEM;
        goto fail;
    }
    int64_t maxmsg = LY_FRAME_MAX;
    zmq_setsockopt(sv->sv_clients, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    s_set_int(sv->sv_clients, ZMQ_ROUTER_MANDATORY, 1); /* unroutable replies fail, not vanish */
    s_set_int(sv->sv_clients, ZMQ_LINGER, 1000);
    s_set_int(sv->sv_clients, ZMQ_SNDHWM, 10000);
    s_set_int(sv->sv_clients, ZMQ_RCVHWM, 10000);
    s_set_int(sv->sv_clients, ZMQ_HEARTBEAT_IVL, 5000);
    s_set_int(sv->sv_clients, ZMQ_HEARTBEAT_TIMEOUT, 15000);
    if (zmq_bind(sv->sv_clients, cf->cf_listen) != 0) {
        snprintf(why, why_len, "cannot listen on '%s': %s", cf->cf_listen, zmq_strerror(errno));
        e = LY_EUNAVAIL;
        goto fail;
    }
    if (cf->cf_npeers > 0)
        LY_LOG(LY_WARN, "node.peers_idle",
               "peers=%d: this version serves one branch; replication links are not opened",
               cf->cf_npeers);
    LY_LOG(LY_INFO, "node.listening",
           "id=%u name=%s listen=%s data_dir=%s incarnation=%u events=%llu customers=%llu "
           "program=%u",
           cf->cf_node_id, cf->cf_name, cf->cf_listen, cf->cf_data_dir,
           ly_store_incarnation(sv->sv_store), (unsigned long long)st.st_events,
           (unsigned long long)st.st_customers, cf->cf_program.pg_version);
    *out = sv;
    return LY_OK;
fail:
    ly_server_destroy(&sv);
    return e;
}

void ly_server_destroy(ly_server **svp)
{
    if (!svp || !*svp)
        return;
    ly_server *sv = *svp;
    if (sv->sv_clients)
        zmq_close(sv->sv_clients);
    if (sv->sv_ctx)
        zmq_ctx_term(sv->sv_ctx);
    if (sv->sv_batch) {
        for (uint32_t i = 0; i < sv->sv_cf->cf_batch_max; i++)
            free(sv->sv_batch[i].it_reply);
        free(sv->sv_batch);
    }
    free(sv->sv_rep);
    ly_store_close(&sv->sv_store);
    free(sv);
    *svp = NULL;
}

static void s_set_reply(s_item *it, ly_rep *rp)
{
    free(it->it_reply);
    it->it_reply = NULL;
    it->it_reply_len = 0;
    ly_err e;
    /* An event listing may not fit one frame: send fewer (the client asks on). */
    while ((e = ly_rep_encode(rp, &it->it_reply, &it->it_reply_len)) == LY_ETOOBIG &&
           rp->rp_nevents > 1)
        rp->rp_nevents /= 2;
    if (e != LY_OK) {
        LY_LOG(LY_ERROR, "server.encode_failed", "type=%d id=%llu error=%s", rp->rp_type,
               (unsigned long long)rp->rp_id, ly_errname(e));
        ly_rep_error(rp, rp->rp_type, rp->rp_id, LY_EINTERNAL, "the reply could not be encoded");
        rp->rp_nevents = 0;
        if (ly_rep_encode(rp, &it->it_reply, &it->it_reply_len) != LY_OK)
            it->it_reply = NULL;
    }
}

static void s_error_reply(ly_server *sv, s_item *it, int type, uint64_t id, ly_err err,
                          const char *why)
{
    ly_rep *rp = sv->sv_rep;
    ly_rep_init(rp);
    ly_rep_error(rp, type, id, err, "%s", why && why[0] ? why : ly_strerror(err));
    s_set_reply(it, rp);
}

static void s_drain_frames(void *sock)
{
    int more = 1;
    size_t sz = sizeof more;
    while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        zmq_msg_recv(&m, sock, ZMQ_DONTWAIT);
        zmq_msg_close(&m);
    }
}

/* Read up to batch_max ready requests without blocking. Returns the count. */
static uint32_t s_gather(ly_server *sv)
{
    uint32_t n = 0;
    while (n < sv->sv_cf->cf_batch_max) {
        s_item *it = &sv->sv_batch[n];
        zmq_msg_t ident, body;
        zmq_msg_init(&ident);
        if (zmq_msg_recv(&ident, sv->sv_clients, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ident);
            break;
        }
        if (!zmq_msg_more(&ident) || zmq_msg_size(&ident) > S_IDENT_MAX) {
            zmq_msg_close(&ident);
            s_drain_frames(sv->sv_clients);
            continue;
        }
        it->it_ident_len = zmq_msg_size(&ident);
        memcpy(it->it_ident, zmq_msg_data(&ident), it->it_ident_len);
        zmq_msg_close(&ident);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&body, sv->sv_clients, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&body);
            continue;
        }
        int more = zmq_msg_more(&body);
        it->it_decoded = 0;
        if (more) {
            s_drain_frames(sv->sv_clients);
            sv->sv_bad_frames++;
            s_error_reply(sv, it, 0, 0, LY_EPROTO, "a request is exactly one frame");
        } else {
            char why[200] = "";
            const uint8_t *data = zmq_msg_data(&body);
            size_t len = zmq_msg_size(&body);
            ly_err e = ly_req_decode(data, len, &it->it_req, why, sizeof why);
            if (e == LY_OK) {
                it->it_decoded = 1;
            } else {
                sv->sv_bad_frames++;
                uint64_t id = ly_req_peek_id(data, len);
                LY_LOG(LY_INFO, "client.bad_request", "error=%s id=%llu why=\"%s\"", ly_errname(e),
                       (unsigned long long)id, why);
                s_error_reply(sv, it, 0, id, e, why);
            }
        }
        zmq_msg_close(&body);
        n++;
    }
    return n;
}

/* Execute the decoded requests of the batch in one transaction and commit it. */
static ly_err s_execute(ly_server *sv, uint32_t n)
{
    ly_err e = LY_OK;
    for (int attempt = 0; attempt < S_RETRIES; attempt++) {
        ly_txn *t;
        if ((e = ly_store_begin(sv->sv_store, 1, &t)) != LY_OK)
            return e;
        for (uint32_t i = 0; i < n && e == LY_OK; i++) {
            s_item *it = &sv->sv_batch[i];
            if (!it->it_decoded)
                continue;
            ly_rep *rp = sv->sv_rep;
            int created;
            ly_rep_init(rp);
            e = ly_service_exec(&sv->sv_service, t, &it->it_req, rp, NULL, &created);
            if (e == LY_OK)
                s_set_reply(it, rp);
            ly_rep_fini(rp);
        }
        if (e == LY_OK)
            e = ly_store_commit(&t);
        else
            ly_store_abort(&t);
        if (e != LY_ERETRY)
            return e;
        LY_LOG(LY_INFO, "server.batch_replay", "requests=%u attempt=%d", n, attempt + 1);
    }
    return LY_ENOSPC;
}

static void s_send(ly_server *sv, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        s_item *it = &sv->sv_batch[i];
        if (!it->it_reply)
            continue;
        if (zmq_send(sv->sv_clients, it->it_ident, it->it_ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) <
                0 ||
            zmq_send(sv->sv_clients, it->it_reply, it->it_reply_len, ZMQ_DONTWAIT) < 0) {
            /* The client is gone or does not read: its reply is dropped, nobody waits. */
            sv->sv_dropped_replies++;
            LY_LOG(LY_DEBUG, "client.reply_dropped", "error=\"%s\"", zmq_strerror(errno));
        }
        free(it->it_reply);
        it->it_reply = NULL;
    }
}

static void s_process(ly_server *sv, uint32_t n)
{
    ly_err e = s_execute(sv, n);
    if (e != LY_OK) {
        /* Nothing of this batch was committed: every request gets the error. */
        LY_LOG(LY_ERROR, "server.batch_failed", "requests=%u error=%s", n, ly_errname(e));
        ly_err shown = e == LY_ENOSPC ? LY_ENOSPC : LY_EUNAVAIL;
        for (uint32_t i = 0; i < n; i++) {
            s_item *it = &sv->sv_batch[i];
            if (it->it_decoded)
                s_error_reply(sv, it, it->it_req.rq_type, it->it_req.rq_id, shown,
                              e == LY_ENOSPC ? "storage is full; nothing was changed"
                                             : "storage failed; nothing was changed");
        }
    }
    s_send(sv, n);
    sv->sv_batches++;
    sv->sv_requests += n;
}

ly_err ly_server_run(ly_server *sv, volatile sig_atomic_t *stop)
{
    zmq_pollitem_t items[] = {{sv->sv_clients, 0, ZMQ_POLLIN, 0}};
    LY_LOG(LY_INFO, "node.ready", "name=%s", sv->sv_cf->cf_name);
    while (!*stop) {
        int rc = zmq_poll(items, 1, 1000);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            LY_LOG(LY_ERROR, "server.poll_failed", "error=\"%s\"", zmq_strerror(errno));
            return LY_EIO;
        }
        uint32_t n = s_gather(sv);
        if (n > 0)
            s_process(sv, n);
    }
    LY_LOG(LY_INFO, "node.stopping",
           "batches=%llu requests=%llu bad_frames=%llu "
           "dropped_replies=%llu",
           (unsigned long long)sv->sv_batches, (unsigned long long)sv->sv_requests,
           (unsigned long long)sv->sv_bad_frames, (unsigned long long)sv->sv_dropped_replies);
    return LY_OK;
}
