#include "node/server.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/hlc.h"
#include "common/log.h"
#include "common/store.h"
#include "node/auth.h"
#include "node/loop.h"
#include "node/metrics.h"
#include "node/repl.h"
#include "node/service.h"
#include "node/waits.h"
#include "proto/codec.h"
#include "proto/peer.h"

#define S_IDENT_MAX          256
#define S_RETRIES            8  /* map growths in a row before a batch is refused */
#define S_PEER_ITEMS_MAX     16 /* peer event messages in one batch (each up to 2000 events) */
#define S_PROGRAMS_PER_BATCH 2  /* program-apply requests in one batch */
#define S_TICK_MS            100
#define S_HANDSHAKE_MS       5000 /* a connection that has not finished its handshake is dropped */
#define S_SELF_CHECK_MS      3000

/* One message of a batch: a client request (and, once executed, its encoded
 * reply) or a peer message that carries events. */
typedef struct s_item {
    int it_peer; /* 0: client request; 1: peer message */
    uint8_t it_ident[S_IDENT_MAX];
    size_t it_ident_len;
    int it_decoded; /* client: it_req is valid; else it_reply is already an error */
    ly_req it_req;
    uint8_t *it_reply;
    size_t it_reply_len;
    ly_pmsg *it_pmsg;     /* peer: heap */
    int it_dealer;        /* peer: >= 0 came on our DEALER to that peer, else on the ROUTER */
    uint64_t it_deadline; /* client: a redemption waiting for rights until then (0: fresh) */
    int it_defer;         /* client: no reply yet, wait for rights */
    int it_short;         /* client: refused for lack of local rights (nothing written) */
    uint8_t it_role;      /* client: the role of the sender's key (LY_ROLE_NONE: no keys) */
    char it_key_name[LY_NODE_NAME_MAX + 1]; /* ... and its name */
} s_item;

_Static_assert(S_IDENT_MAX == LY_WAITS_IDENT_MAX, "a waiting request keeps its client's ident");

struct ly_server {
    const ly_config *sv_cf;
    ly_store *sv_store;
    ly_hlc sv_hlc;
    ly_service sv_service;
    ly_repl *sv_repl;
    void *sv_ctx;
    void *sv_clients;  /* ROUTER on listen */
    void *sv_peers;    /* ROUTER on peer_listen (NULL without peers) */
    void **sv_dealers; /* one DEALER per configured peer */
    ly_loop *sv_loop;
    struct s_dealer_src {
        ly_server *ds_sv;
        int ds_peer;
    } * sv_dealer_src; /* the context of each DEALER's source */
    s_item *sv_batch;
    uint32_t sv_batch_cap;
    uint32_t sv_n;        /* items gathered for the next batch */
    int sv_peer_items;    /* of which peer messages */
    ly_rep *sv_rep;       /* scratch reply */
    ly_evlist sv_created; /* this node's events created in the current batch */
    ly_waits *sv_waits;   /* redemptions waiting for rights; the prefetch */
    ly_metrics *sv_metrics;
    ly_metric *sv_batches, *sv_requests, *sv_dropped_replies, *sv_bad_frames, *sv_bad_peer;
    ly_metric *sv_forbidden, *sv_forged;
    ly_auth *sv_auth;              /* NULL without [node] key */
    const s_item *sv_current;      /* the client request being executed (for status) */
    const char *sv_config_path;    /* for reloads */
    volatile sig_atomic_t *sv_hup; /* set by SIGHUP: reload the keys */
};

static void s_set_int(void *sock, int opt, int v)
{
    zmq_setsockopt(sock, opt, &v, sizeof v);
}

/* ---- replication I/O: never blocks; a message that cannot go now is dropped ---- */

static int s_send_dealer(void *ctx, int peer, const uint8_t *buf, size_t len)
{
    ly_server *sv = ctx;
    return zmq_send(sv->sv_dealers[peer], buf, len, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

static int s_send_router(void *ctx, const uint8_t *ident, size_t ident_len, const uint8_t *buf,
                         size_t len)
{
    ly_server *sv = ctx;
    if (zmq_send(sv->sv_peers, ident, ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    return zmq_send(sv->sv_peers, buf, len, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

static ly_err s_status_hook(void *ctx, ly_txn *t, ly_node_status *ns)
{
    ly_server *sv = ctx;
    const ly_metric *pending = ly_metrics_find(sv->sv_metrics, "loyal_rights_pending", NULL);
    ns->ns_rights_pending = pending && pending->mt_gauge > 0 ? (uint64_t)pending->mt_gauge : 0;
    ns->ns_security = sv->sv_cf->cf_curve      ? LY_SECURITY_CURVE
                      : sv->sv_cf->cf_insecure ? LY_SECURITY_INSECURE
                                               : LY_SECURITY_LOOPBACK;
    if (sv->sv_current) {
        ns->ns_role = sv->sv_current->it_role;
        ly_strlcpy(ns->ns_key_name, sv->sv_current->it_key_name, sizeof ns->ns_key_name);
    }
    return ly_repl_status(sv->sv_repl, t, ns);
}

/* How a dead connection is noticed: by the kernel, with TCP keepalive probes
 * on an idle connection (5 s idle, then 3 probes 1 s apart) and a bound on
 * unacknowledged data (TCP_USER_TIMEOUT, 8 s). Not with ZMTP heartbeats:
 * libzmq 4.3.4 aborts the process when a heartbeat timer fires on a
 * connection whose input was stopped by the high-water mark and which was
 * then reset (libzmq #4841), so one till that floods and hangs up could take
 * the branch down (node_test clients_that_flood_and_hang_up...). */
static void s_liveness(void *sock)
{
    s_set_int(sock, ZMQ_TCP_KEEPALIVE, 1);
    s_set_int(sock, ZMQ_TCP_KEEPALIVE_IDLE, 5);
    s_set_int(sock, ZMQ_TCP_KEEPALIVE_INTVL, 1);
    s_set_int(sock, ZMQ_TCP_KEEPALIVE_CNT, 3);
    s_set_int(sock, ZMQ_TCP_MAXRT, 8000);
}

static ly_err s_bind(ly_server *sv, void **sock, const char *ep, int64_t maxmsg, const char *domain,
                     char *why, size_t why_len)
{
    *sock = zmq_socket(sv->sv_ctx, ZMQ_ROUTER);
    if (!*sock)
        return LY_ENOMEM;
    if (sv->sv_cf->cf_curve) {
        s_set_int(*sock, ZMQ_CURVE_SERVER, 1);
        zmq_setsockopt(*sock, ZMQ_CURVE_SECRETKEY, sv->sv_cf->cf_key.kp_secret, LY_KEY_Z85);
        zmq_setsockopt(*sock, ZMQ_ZAP_DOMAIN, domain, strlen(domain));
    }
    s_set_int(*sock, ZMQ_HANDSHAKE_IVL, S_HANDSHAKE_MS);
    zmq_setsockopt(*sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    s_set_int(*sock, ZMQ_ROUTER_MANDATORY, 1); /* unroutable replies fail, not vanish */
    s_set_int(*sock, ZMQ_LINGER, 1000);
    s_set_int(*sock, ZMQ_SNDHWM, 10000);
    s_set_int(*sock, ZMQ_RCVHWM, 10000);
    /* Room for every till of a big store reconnecting at once after a restart
     * (libzmq's default is 100; the kernel caps it at net.core.somaxconn). */
    s_set_int(*sock, ZMQ_BACKLOG, 1024);
    s_liveness(*sock);
    if (zmq_bind(*sock, ep) != 0) {
        snprintf(why, why_len, "cannot listen on '%s': %s", ep, zmq_strerror(errno));
        return LY_EUNAVAIL;
    }
    return LY_OK;
}

#define S_COUNTER(field, name, help, unit)                                                         \
    {                                                                                              \
        offsetof(ly_server, field), name, help, unit                                               \
    }
static const ly_metric_def s_counters[] = {
    S_COUNTER(sv_batches, "loyal_batches_total", "batches executed (one write transaction each)",
              ""),
    S_COUNTER(sv_requests, "loyal_requests_total",
              "messages executed in batches (client requests and peer messages that carry "
              "events)",
              "messages"),
    S_COUNTER(sv_dropped_replies, "loyal_replies_dropped_total",
              "replies that could not be sent (client gone or not reading)", "replies"),
    S_COUNTER(sv_bad_frames, "loyal_bad_frames_total", "client requests that did not decode",
              "frames"),
    S_COUNTER(sv_bad_peer, "loyal_bad_peer_messages_total", "peer messages dropped as malformed",
              "messages"),
    S_COUNTER(sv_forbidden, "loyal_forbidden_total",
              "client requests refused because the sender's key may not send them", "requests"),
    S_COUNTER(sv_forged, "loyal_peer_forged_total",
              "peer messages dropped because they spoke for another node than the key's",
              "messages"),
};

static ly_err s_open_metrics(ly_server *sv)
{
    sv->sv_metrics = ly_metrics_new();
    if (!sv->sv_metrics ||
        ly_metrics_counters(sv->sv_metrics, s_counters, sizeof s_counters / sizeof s_counters[0],
                            sv, NULL) != 0)
        return LY_ENOMEM;
    return LY_OK;
}

static ly_err s_open_peers(ly_server *sv, char *why, size_t why_len)
{
    const ly_config *cf = sv->sv_cf;
    ly_repl_io io = {sv, s_send_dealer, s_send_router};
    sv->sv_repl = ly_repl_new(cf, sv->sv_store, &sv->sv_hlc, &sv->sv_service, &io, sv->sv_metrics);
    sv->sv_dealers = calloc((size_t)(cf->cf_npeers ? cf->cf_npeers : 1), sizeof *sv->sv_dealers);
    if (sv->sv_repl)
        sv->sv_waits = ly_waits_new(cf, sv->sv_repl, sv->sv_metrics);
    if (!sv->sv_repl || !sv->sv_waits || !sv->sv_dealers)
        return LY_ENOMEM;
    sv->sv_service.sv_status_hook = s_status_hook;
    sv->sv_service.sv_status_ctx = sv;
    if (cf->cf_npeers == 0)
        return LY_OK;
    ly_err e = s_bind(sv, &sv->sv_peers, cf->cf_peer_listen, LY_PEER_FRAME_MAX, LY_AUTH_DOMAIN_PEER,
                      why, why_len);
    if (e != LY_OK)
        return e;
    for (int i = 0; i < cf->cf_npeers; i++) {
        void *d = zmq_socket(sv->sv_ctx, ZMQ_DEALER);
        if (!d)
            return LY_ENOMEM;
        sv->sv_dealers[i] = d;
        int64_t maxmsg = LY_PEER_FRAME_MAX;
        zmq_setsockopt(d, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
        s_set_int(d, ZMQ_LINGER, 0);
        s_set_int(d, ZMQ_IMMEDIATE, 1); /* queue nothing for a peer that is not connected */
        s_set_int(d, ZMQ_SNDHWM, 1000);
        s_set_int(d, ZMQ_RCVHWM, 1000);
        s_set_int(d, ZMQ_RECONNECT_IVL, 100);
        s_set_int(d, ZMQ_RECONNECT_IVL_MAX, 1000); /* back off to 1 s for a dead peer */
        s_liveness(d);
        s_set_int(d, ZMQ_HANDSHAKE_IVL, S_HANDSHAKE_MS);
        if (cf->cf_curve) /* we know the peer by its key; it knows us by ours */
            ly_key_curve_client(d, cf->cf_key.kp_public, cf->cf_key.kp_secret,
                                cf->cf_peers[i].pc_public);
        if (zmq_connect(d, cf->cf_peers[i].pc_endpoint) != 0) {
            snprintf(why, why_len, "cannot connect to peer '%s' at '%s': %s",
                     cf->cf_peers[i].pc_name, cf->cf_peers[i].pc_endpoint, zmq_strerror(errno));
            return LY_EUNAVAIL;
        }
    }
    return LY_OK;
}

static ly_err s_wire(ly_server *sv);

/* The address a socket bound to `sock` can be reached at from here. */
static void s_local_endpoint(void *sock, char *ep, size_t cap)
{
    size_t len = cap;
    if (zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, ep, &len) != 0)
        ep[0] = '\0';
    char *p;
    if ((p = strstr(ep, "://0.0.0.0:")) != NULL) {
        char rest[LY_ENDPOINT_MAX + 1];
        ly_strlcpy(rest, p + 10, sizeof rest);
        snprintf(p, cap - (size_t)(p - ep), "://127.0.0.1%s", rest);
    } else if ((p = strstr(ep, "://[::]:")) != NULL) {
        char rest[LY_ENDPOINT_MAX + 1];
        ly_strlcpy(rest, p + 7, sizeof rest);
        snprintf(p, cap - (size_t)(p - ep), "://[::1]%s", rest);
    }
}

/* An unknown key must be refused on both sockets before the node serves. */
static ly_err s_self_check(ly_server *sv, char *why, size_t why_len)
{
    void *socks[2] = {sv->sv_clients, sv->sv_peers};
    for (int i = 0; i < 2; i++) {
        if (!socks[i])
            continue;
        char ep[LY_ENDPOINT_MAX + 64];
        s_local_endpoint(socks[i], ep, sizeof ep);
        ly_err e = ly_auth_self_check(sv->sv_auth, sv->sv_ctx, ep, sv->sv_cf->cf_key.kp_public,
                                      S_SELF_CHECK_MS, why, why_len);
        if (e != LY_OK)
            return e;
    }
    return LY_OK;
}

ly_err ly_server_new(const ly_config *cf, ly_server **out, char *why, size_t why_len)
{
    *out = NULL;
    ly_server *sv = calloc(1, sizeof *sv);
    if (!sv)
        return LY_ENOMEM;
    sv->sv_cf = cf;
    ly_err e;
    ly_store_opts so = {.so_map_size = cf->cf_map_size_mb << 20,
                        .so_checkpoint_ms = cf->cf_checkpoint_ms,
                        .so_checkpoint_events = cf->cf_checkpoint_events};
    if ((e = ly_store_open(cf->cf_data_dir, cf->cf_node_id, &so, &sv->sv_store, why, why_len)))
        goto fail;

    /* Start the clock above every timestamp already stored: the wall clock may
     * have stepped back while the node was down. */
    ly_txn *t;
    ly_store_stats st;
    sv->sv_service.sv_store = sv->sv_store;
    sv->sv_service.sv_hlc = &sv->sv_hlc;
    if ((e = ly_store_begin(sv->sv_store, 0, &t)) != LY_OK)
        goto fail;
    if ((e = ly_store_stats_get(t, &st)) == LY_OK &&
        (e = ly_service_refresh(&sv->sv_service, t)) != LY_OK) /* the program in force */
        snprintf(why, why_len, "the store's program versions cannot be read (%s): %s",
                 ly_errname(e), cf->cf_data_dir);
    ly_store_abort(&t);
    if (e != LY_OK)
        goto fail;
    ly_hlc_init(&sv->sv_hlc, st.st_hlc, cf->cf_max_clock_ahead_ms);

    ly_strlcpy(sv->sv_service.sv_name, cf->cf_name, sizeof sv->sv_service.sv_name);
    if ((e = ly_tz_init(&sv->sv_service.sv_tz, cf->cf_timezone, why, why_len)) != LY_OK) {
        e = LY_ECONFIG; /* checked when the config was read: the zone file went away */
        goto fail;
    }
    sv->sv_service.sv_started_ms = ly_wall_ms();

    sv->sv_batch_cap = cf->cf_batch_max + S_PEER_ITEMS_MAX;
    sv->sv_batch = calloc(sv->sv_batch_cap, sizeof *sv->sv_batch);
    sv->sv_rep = malloc(sizeof *sv->sv_rep);
    /* Each client request creates at most two events (an earn and a birthday
     * bonus), each peer message at most one; a program version takes up to
     * LY_SERVICE_EVENTS_MAX (at most S_PROGRAMS_PER_BATCH such requests run
     * per batch, the others are asked to try again). */
    sv->sv_created.el_cap = 2 * sv->sv_batch_cap + S_PROGRAMS_PER_BATCH * LY_SERVICE_EVENTS_MAX;
    sv->sv_created.el_ev = malloc(sv->sv_created.el_cap * sizeof *sv->sv_created.el_ev);
    sv->sv_dealer_src = calloc((size_t)cf->cf_npeers + 1, sizeof *sv->sv_dealer_src);
    sv->sv_loop = ly_loop_new();
    sv->sv_ctx = zmq_ctx_new();
    if (!sv->sv_batch || !sv->sv_rep || !sv->sv_created.el_ev || !sv->sv_dealer_src ||
        !sv->sv_loop || !sv->sv_ctx) {
        e = LY_ENOMEM;
        goto fail;
    }
    if ((e = s_open_metrics(sv)) != LY_OK)
        goto fail;
    /* The ZAP handler before any CURVE socket: without it libzmq admits every key. */
    if (cf->cf_curve && (!(sv->sv_auth = ly_auth_new(cf, sv->sv_metrics)) ||
                         (e = ly_auth_bind(sv->sv_auth, sv->sv_ctx, why, why_len)) != LY_OK)) {
        e = e != LY_OK ? e : LY_ENOMEM;
        goto fail;
    }
    if ((e = s_bind(sv, &sv->sv_clients, cf->cf_listen, LY_FRAME_MAX, LY_AUTH_DOMAIN_CLIENT, why,
                    why_len)) != LY_OK)
        goto fail;
    if ((e = s_open_peers(sv, why, why_len)) != LY_OK)
        goto fail;
    if (cf->cf_curve && (e = s_self_check(sv, why, why_len)) != LY_OK)
        goto fail;
    if ((e = s_wire(sv)) != LY_OK)
        goto fail;
    if (cf->cf_curve)
        LY_LOG(LY_INFO, "node.security", "curve key=%s peers=%d keys=%d", cf->cf_key_file,
               cf->cf_npeers, cf->cf_nkeys);
    else if (cf->cf_insecure)
        LY_LOG(LY_WARN, "node.security",
               "INSECURE: no keys and insecure = true; anyone who can reach %s may do anything",
               cf->cf_listen);
    else
        LY_LOG(LY_INFO, "node.security",
               "protected mode: no keys, loopback endpoints only (set [node] key to serve other "
               "machines)");
    LY_LOG(LY_INFO, "node.listening",
           "id=%u name=%s listen=%s peer_listen=%s peers=%d data_dir=%s incarnation=%u "
           "events=%llu customers=%llu program=%u",
           cf->cf_node_id, cf->cf_name, cf->cf_listen,
           cf->cf_peer_listen[0] ? cf->cf_peer_listen : "-", cf->cf_npeers, cf->cf_data_dir,
           ly_store_incarnation(sv->sv_store), (unsigned long long)st.st_events,
           (unsigned long long)st.st_customers, sv->sv_service.sv_prog->ps_def.pd_version);
    *out = sv;
    return LY_OK;
fail:
    ly_server_destroy(&sv);
    return e;
}

static void s_item_clear(s_item *it)
{
    it->it_short = 0;
    free(it->it_reply);
    it->it_reply = NULL;
    if (it->it_pmsg) {
        ly_pmsg_fini(it->it_pmsg);
        free(it->it_pmsg);
        it->it_pmsg = NULL;
    }
}

void ly_server_destroy(ly_server **svp)
{
    if (!svp || !*svp)
        return;
    ly_server *sv = *svp;
    if (sv->sv_clients)
        zmq_close(sv->sv_clients);
    if (sv->sv_peers)
        zmq_close(sv->sv_peers);
    for (int i = 0; sv->sv_dealers && i < sv->sv_cf->cf_npeers; i++)
        if (sv->sv_dealers[i])
            zmq_close(sv->sv_dealers[i]);
    ly_auth_destroy(&sv->sv_auth);
    if (sv->sv_ctx)
        zmq_ctx_term(sv->sv_ctx);
    if (sv->sv_batch) {
        for (uint32_t i = 0; i < sv->sv_batch_cap; i++) {
            s_item_clear(&sv->sv_batch[i]);
            ly_req_fini(&sv->sv_batch[i].it_req);
        }
        free(sv->sv_batch);
    }
    ly_waits_destroy(&sv->sv_waits);
    ly_repl_destroy(&sv->sv_repl);
    free(sv->sv_dealers);
    free(sv->sv_dealer_src);
    ly_loop_destroy(&sv->sv_loop);
    free(sv->sv_rep);
    free(sv->sv_created.el_ev);
    ly_service_fini(&sv->sv_service);
    ly_store_close(&sv->sv_store);
    ly_metrics_destroy(&sv->sv_metrics);
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
    ly_rep_reset(rp);
    ly_rep_error(rp, type, id, err, "%s", why && why[0] ? why : ly_strerror(err));
    s_set_reply(it, rp);
    ly_rep_fini(rp);
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

/* Receive [ident] body from a ROUTER (ident = NULL for a DEALER). Returns 1 with
 * a message, 0 when none is ready, -1 for a malformed one (already drained). */
static int s_recv(void *sock, uint8_t *ident, size_t *ident_len, zmq_msg_t *body)
{
    if (ident) {
        zmq_msg_t id;
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            return 0;
        }
        int ok = zmq_msg_more(&id) && zmq_msg_size(&id) <= S_IDENT_MAX;
        *ident_len = zmq_msg_size(&id);
        if (ok)
            memcpy(ident, zmq_msg_data(&id), *ident_len);
        zmq_msg_close(&id);
        if (!ok) {
            s_drain_frames(sock);
            return -1;
        }
    }
    zmq_msg_init(body);
    if (zmq_msg_recv(body, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(body);
        return ident ? -1 : 0;
    }
    if (zmq_msg_more(body)) {
        s_drain_frames(sock);
        zmq_msg_close(body);
        return -2; /* more than one frame */
    }
    return 1;
}

/* A retry of a transaction that is still waiting for rights is answered with
 * its waiting copy (ly_waits_attach). Returns 1 if `it` was attached (it is
 * then no item of the batch); a different payload gets a conflict reply. */
static int s_attach_pending(ly_server *sv, s_item *it)
{
    int rc = ly_waits_attach(sv->sv_waits, &it->it_req, it->it_ident, it->it_ident_len);
    if (rc < 0) {
        it->it_decoded = 0;
        s_error_reply(sv, it, it->it_req.rq_type, it->it_req.rq_id, LY_ECONFLICT,
                      "transaction id already used for a different request that is waiting "
                      "for points from other branches");
        return 0;
    }
    return rc;
}

/* With keys: may the sender of `it` (its key `user_id`, the ZAP User-Id of
 * the connection) send it? Looked up in the table in force, so a key removed
 * by a reload is refused from its next message on. If so, records the key's
 * role and name in `it` and makes the key's name the operator of what it
 * changes; if not, gives `it` a forbidden reply and returns 0. */
static int s_authorize(ly_server *sv, s_item *it, const char *user_id)
{
    ly_req *rq = &it->it_req;
    const ly_auth_key *k = ly_auth_find(sv->sv_auth, user_id);
    char why[200];
    if (k && ly_auth_allows(k->ak_role, rq->rq_type)) {
        it->it_role = k->ak_role;
        ly_strlcpy(it->it_key_name, k->ak_name, sizeof it->it_key_name);
        if (rq->rq_type == LY_MSG_ADJUST || rq->rq_type == LY_MSG_PROGRAM_APPLY ||
            rq->rq_type == LY_MSG_TIER || rq->rq_type == LY_MSG_REVERSE)
            ly_strlcpy(rq->rq_operator, k->ak_name, sizeof rq->rq_operator);
        return 1;
    }
    ly_metric_inc(sv->sv_forbidden);
    if (k)
        snprintf(why, sizeof why, "key '%s' (%s) may not send %s", k->ak_name,
                 ly_role_name(k->ak_role), ly_msgtype_name(rq->rq_type));
    else /* removed by a reload while its connection was open */
        snprintf(why, sizeof why, "this key is no longer listed by node %u",
                 (unsigned)sv->sv_cf->cf_node_id);
    LY_LOG(LY_WARN, "client.forbidden", "key=%s role=%s type=%s id=%llu", k ? k->ak_name : "-",
           k ? ly_role_name(k->ak_role) : "-", ly_msgtype_name(rq->rq_type),
           (unsigned long long)rq->rq_id);
    it->it_decoded = 0;
    s_error_reply(sv, it, rq->rq_type, rq->rq_id, LY_EFORBIDDEN, why);
    return 0;
}

/* Read ready client requests into the batch. */
static uint32_t s_gather_clients(ly_server *sv, uint32_t n)
{
    while (n < sv->sv_cf->cf_batch_max) {
        s_item *it = &sv->sv_batch[n];
        zmq_msg_t body;
        int rc = s_recv(sv->sv_clients, it->it_ident, &it->it_ident_len, &body);
        if (rc == 0)
            break;
        if (rc == -1)
            continue;
        it->it_peer = 0;
        it->it_decoded = 0;
        it->it_deadline = 0;
        it->it_defer = 0;
        if (rc == -2) {
            ly_metric_inc(sv->sv_bad_frames);
            s_error_reply(sv, it, 0, 0, LY_EPROTO, "a request is exactly one frame");
        } else {
            char why[200] = "";
            const uint8_t *data = zmq_msg_data(&body);
            size_t len = zmq_msg_size(&body);
            ly_req_fini(&it->it_req); /* what the item's last request owned */
            ly_err e = ly_req_decode(data, len, &it->it_req, why, sizeof why);
            it->it_role = LY_ROLE_NONE;
            it->it_key_name[0] = '\0';
            if (e == LY_OK && sv->sv_auth && !s_authorize(sv, it, zmq_msg_gets(&body, "User-Id"))) {
                zmq_msg_close(&body);
                n++; /* answered with forbidden */
                continue;
            }
            if (e == LY_OK) {
                it->it_decoded = 1;
                if (s_attach_pending(sv, it)) {
                    zmq_msg_close(&body);
                    continue; /* answered with its waiting copy */
                }
            } else {
                ly_metric_inc(sv->sv_bad_frames);
                uint64_t id = ly_req_peek_id(data, len);
                LY_LOG(LY_INFO, "client.bad_request", "error=%s id=%llu why=\"%s\"", ly_errname(e),
                       (unsigned long long)id, why);
                s_error_reply(sv, it, 0, id, e, why);
            }
            zmq_msg_close(&body);
        }
        n++;
    }
    return n;
}

/* With keys: a peer speaks only for itself. On the peer socket the node id
 * of every message must be the node configured for the sender's key (the
 * ZAP User-Id `user_id`); so a hello claims only the key's own node, and the
 * live events of a session (which repl.c holds to the session's node) are
 * the key's own. On a DEALER, which we connected with the peer's server key,
 * the answers must come from that peer. Catch-up replies carry events of any
 * origin: anti-entropy stays transitive. Returns 0 (logged, counted, the
 * message dropped; a forged hello is refused) when `m` speaks for another. */
static int s_peer_speaks_for_itself(ly_server *sv, const ly_peer_addr *from, const ly_pmsg *m,
                                    const char *user_id)
{
    char why[200];
    if (from->pa_dealer >= 0) {
        const ly_peer_conf *pc = &sv->sv_cf->cf_peers[from->pa_dealer];
        if (m->pm_node == pc->pc_id)
            return 1;
        snprintf(why, sizeof why, "the connection to peer %s (node %u) answered as node %u",
                 pc->pc_name, (unsigned)pc->pc_id, (unsigned)m->pm_node);
    } else {
        const ly_auth_key *k = ly_auth_find(sv->sv_auth, user_id);
        if (k && k->ak_role == LY_ROLE_PEER && m->pm_node == k->ak_node)
            return 1;
        if (k && k->ak_role == LY_ROLE_PEER)
            snprintf(why, sizeof why, "the key of peer %s (node %u) claimed node %u", k->ak_name,
                     (unsigned)k->ak_node, (unsigned)m->pm_node);
        else
            snprintf(why, sizeof why, "the sender's key is not a listed peer key");
    }
    ly_metric_inc(sv->sv_forged);
    LY_LOG(LY_WARN, "peer.forged", "type=%s node=%u: %s; dropped", ly_pmsgtype_name(m->pm_type),
           (unsigned)m->pm_node, why);
    if (from->pa_dealer < 0 && m->pm_type == LY_PM_HELLO)
        ly_repl_refuse(sv->sv_repl, from, m, why);
    return 0;
}

/* Read ready peer messages from `sock`. Those that carry events join the batch;
 * the others are handled at once. Returns the new batch size. */
static uint32_t s_gather_peer(ly_server *sv, void *sock, int dealer, uint32_t n, int *peer_items)
{
    while (*peer_items < S_PEER_ITEMS_MAX && n < sv->sv_batch_cap) {
        s_item *it = &sv->sv_batch[n];
        zmq_msg_t body;
        int rc = s_recv(sock, dealer < 0 ? it->it_ident : NULL, &it->it_ident_len, &body);
        if (rc == 0)
            break;
        if (rc < 0) {
            ly_metric_inc(sv->sv_bad_peer);
            LY_LOG(LY_WARN, "peer.bad_frame", "channel=%s: not one frame; dropped",
                   dealer < 0 ? "push" : "reply");
            continue;
        }
        ly_pmsg *m = malloc(sizeof *m);
        char why[200] = "", user_id[LY_KEY_Z85 + 1] = "";
        const char *uid = sv->sv_auth && dealer < 0 ? zmq_msg_gets(&body, "User-Id") : NULL;
        if (uid)
            ly_strlcpy(user_id, uid, sizeof user_id);
        ly_err e = m ? ly_pmsg_decode(zmq_msg_data(&body), zmq_msg_size(&body), m, why, sizeof why)
                     : LY_ENOMEM;
        zmq_msg_close(&body);
        if (e != LY_OK) {
            ly_metric_inc(sv->sv_bad_peer);
            LY_LOG(LY_WARN, "peer.bad_message", "channel=%s error=%s why=\"%s\"; dropped",
                   dealer < 0 ? "push" : "reply", ly_errname(e), why);
            if (m) {
                ly_pmsg_fini(m);
                free(m);
            }
            continue;
        }
        ly_peer_addr from = {dealer, dealer < 0 ? it->it_ident : NULL, it->it_ident_len};
        if (sv->sv_auth && !s_peer_speaks_for_itself(sv, &from, m, user_id)) {
            ly_pmsg_fini(m);
            free(m);
            continue;
        }
        if (!ly_repl_needs_txn(m)) {
            ly_repl_handle(sv->sv_repl, &from, m, NULL, NULL);
            ly_pmsg_fini(m);
            free(m);
            continue;
        }
        ly_repl_received(sv->sv_repl, &from, m);
        it->it_peer = 1;
        it->it_defer = 0;
        it->it_pmsg = m;
        it->it_dealer = dealer;
        (*peer_items)++;
        n++;
    }
    return n;
}

/* Execute the batch in one transaction and commit it. */
static ly_err s_execute(ly_server *sv, uint32_t n)
{
    ly_err e = LY_OK;
    for (int attempt = 0; attempt < S_RETRIES; attempt++) {
        ly_txn *t;
        sv->sv_created.el_n = 0;
        if ((e = ly_store_begin(sv->sv_store, 1, &t)) != LY_OK)
            return e;
        for (uint32_t i = 0; i < n && e == LY_OK; i++) {
            s_item *it = &sv->sv_batch[i];
            if (it->it_peer) {
                ly_peer_addr from = {it->it_dealer, it->it_dealer < 0 ? it->it_ident : NULL,
                                     it->it_ident_len};
                e = ly_repl_handle(sv->sv_repl, &from, it->it_pmsg, t, &sv->sv_created);
                continue;
            }
            if (!it->it_decoded)
                continue;
            ly_rep *rp = sv->sv_rep;
            int created;
            ly_rep_reset(rp);
            it->it_defer = 0;
            it->it_short = 0;
            if (it->it_req.rq_type == LY_MSG_PROGRAM_APPLY &&
                sv->sv_created.el_cap - sv->sv_created.el_n < LY_SERVICE_EVENTS_MAX) {
                s_error_reply(sv, it, it->it_req.rq_type, it->it_req.rq_id, LY_EUNAVAIL,
                              "too many program versions in one batch; try again");
                continue;
            }
            sv->sv_current = it; /* for the status hook: who asked */
            e = ly_service_exec(&sv->sv_service, t, &it->it_req, rp,
                                &sv->sv_created.el_ev[sv->sv_created.el_n], &created);
            sv->sv_current = NULL;
            if (e == LY_OK) {
                s_set_reply(it, rp);
                sv->sv_created.el_n += (size_t)created;
                it->it_short = rp->rp_err == LY_EINSUFFICIENT_LOCAL;
                if (it->it_short)
                    it->it_defer = ly_waits_defer(sv->sv_waits, t, &it->it_req, rp,
                                                  &it->it_deadline, ly_loop_mono_ms());
                else if (rp->rp_err == LY_OK && it->it_req.rq_type == LY_MSG_CUSTOMER &&
                         it->it_req.rq_prefetch)
                    ly_waits_prefetch(sv->sv_waits, t, rp, ly_loop_mono_ms());
            }
            ly_rep_fini(rp);
        }
        if (e == LY_OK) /* a version a peer sent may be in force now: announce it */
            e = ly_service_refresh(&sv->sv_service, t);
        if (e == LY_OK)
            e = ly_store_commit(&t);
        else
            ly_store_abort(&t);
        if (e != LY_ERETRY)
            return e;
        LY_LOG(LY_INFO, "server.batch_replay", "messages=%u attempt=%d", n, attempt + 1);
    }
    return LY_ENOSPC;
}

static void s_send_replies(ly_server *sv, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        s_item *it = &sv->sv_batch[i];
        /* A refusal for lack of rights while a copy of the same transaction
         * waits for them (parked earlier in this batch): wait with it. */
        if (!it->it_peer && !it->it_defer && it->it_short && it->it_deadline == 0 &&
            s_attach_pending(sv, it)) {
            s_item_clear(it);
            continue;
        }
        if (!it->it_peer && it->it_defer &&
            ly_waits_park(sv->sv_waits, &it->it_req, it->it_ident, it->it_ident_len,
                          it->it_deadline) == 0) {
            /* Waits for rights: answered by a later batch. */
            s_item_clear(it);
            it->it_defer = 0;
            continue;
        }
        if (!it->it_peer && it->it_reply &&
            (zmq_send(sv->sv_clients, it->it_ident, it->it_ident_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) <
                 0 ||
             zmq_send(sv->sv_clients, it->it_reply, it->it_reply_len, ZMQ_DONTWAIT) < 0)) {
            /* The client is gone or does not read: its reply is dropped, nobody waits. */
            ly_metric_inc(sv->sv_dropped_replies);
            LY_LOG(LY_DEBUG, "client.reply_dropped", "error=\"%s\"", zmq_strerror(errno));
        }
        s_item_clear(it);
    }
}

static void s_process(ly_server *sv, uint32_t n)
{
    ly_err e = s_execute(sv, n);
    if (e != LY_OK) {
        /* Nothing of this batch was committed: every request gets the error. */
        LY_LOG(LY_ERROR, "server.batch_failed", "messages=%u error=%s", n, ly_errname(e));
        ly_err shown = e == LY_ENOSPC ? LY_ENOSPC : LY_EUNAVAIL;
        for (uint32_t i = 0; i < n; i++) {
            s_item *it = &sv->sv_batch[i];
            if (!it->it_peer && it->it_decoded) {
                it->it_defer = 0;
                s_error_reply(sv, it, it->it_req.rq_type, it->it_req.rq_id, shown,
                              e == LY_ENOSPC ? "storage is full; nothing was changed"
                                             : "storage failed; nothing was changed");
            }
        }
        sv->sv_created.el_n = 0;
    }
    /* Acknowledge, then publish: both only after the commit. */
    s_send_replies(sv, n);
    ly_repl_after_commit(sv->sv_repl, e == LY_OK, sv->sv_created.el_ev, sv->sv_created.el_n);
    ly_metric_inc(sv->sv_batches);
    ly_metric_add(sv->sv_requests, n);
}

/* Put the waiting redemptions back into the batch when rights arrived or a
 * deadline passed. Returns the batch size. */
static uint32_t s_gather_pending(ly_server *sv, uint64_t now)
{
    uint32_t n;
    const ly_wait *wt = ly_waits_take(sv->sv_waits, now, &n);
    for (uint32_t i = 0; i < n; i++) {
        s_item *it = &sv->sv_batch[i];
        it->it_peer = 0;
        it->it_decoded = 1;
        it->it_defer = 0;
        memcpy(it->it_ident, wt[i].wt_ident, wt[i].wt_ident_len);
        it->it_ident_len = wt[i].wt_ident_len;
        ly_req_fini(&it->it_req);
        it->it_req = wt[i].wt_req;
        it->it_deadline = wt[i].wt_deadline;
        it->it_role = LY_ROLE_NONE;
        it->it_key_name[0] = '\0';
    }
    return n;
}

/* ---- the wiring: sources gather into the batch, a before-sleep hook runs it ---- */

static void s_on_zap(ly_loop *lp, void *ctx)
{
    ly_server *sv = ctx;
    (void)lp;
    ly_auth_serve(sv->sv_auth);
}

static void s_on_clients(ly_loop *lp, void *ctx)
{
    ly_server *sv = ctx;
    (void)lp;
    sv->sv_n = s_gather_clients(sv, sv->sv_n);
}

static void s_on_peer_router(ly_loop *lp, void *ctx)
{
    ly_server *sv = ctx;
    (void)lp;
    sv->sv_n = s_gather_peer(sv, sv->sv_peers, -1, sv->sv_n, &sv->sv_peer_items);
}

static void s_on_dealer(ly_loop *lp, void *ctx)
{
    struct s_dealer_src *ds = ctx;
    ly_server *sv = ds->ds_sv;
    (void)lp;
    sv->sv_n =
        s_gather_peer(sv, sv->sv_dealers[ds->ds_peer], ds->ds_peer, sv->sv_n, &sv->sv_peer_items);
}

void ly_server_reload_on(ly_server *sv, const char *path, volatile sig_atomic_t *hup)
{
    sv->sv_config_path = path;
    sv->sv_hup = hup;
}

/* SIGHUP: the key lists of the config file again (ly_server_reload_on). */
static void s_reload(ly_server *sv)
{
    char why[512] = "";
    ly_config *cf = malloc(sizeof *cf);
    ly_err e = cf ? ly_config_load(sv->sv_config_path, cf, why, sizeof why) : LY_ENOMEM;
    if (e != LY_OK) {
        LY_LOG(LY_WARN, "node.reload_failed", "config=%s why=\"%s\"; the keys in force stay",
               sv->sv_config_path, why[0] ? why : ly_strerror(e));
    } else if (!sv->sv_auth || !cf->cf_curve ||
               strcmp(cf->cf_key.kp_public, sv->sv_cf->cf_key.kp_public)) {
        LY_LOG(LY_WARN, "node.reload_failed",
               "config=%s: %s; restart the node for that, the keys in force stay",
               sv->sv_config_path,
               !sv->sv_auth    ? "the node runs without keys (protected mode)"
               : !cf->cf_curve ? "the file has no [node] key now"
                               : "the file names another [node] key");
    } else {
        int peers_changed = cf->cf_npeers != sv->sv_cf->cf_npeers;
        for (int i = 0; !peers_changed && i < cf->cf_npeers; i++)
            peers_changed = strcmp(cf->cf_peers[i].pc_public, sv->sv_cf->cf_peers[i].pc_public) ||
                            cf->cf_peers[i].pc_id != sv->sv_cf->cf_peers[i].pc_id;
        if (peers_changed)
            LY_LOG(LY_WARN, "node.reload_peers",
                   "config=%s: the [peer] sections changed; they take effect at the next restart",
                   sv->sv_config_path);
        e = ly_auth_reload(sv->sv_auth, cf);
        LY_LOG(e == LY_OK ? LY_INFO : LY_WARN, "node.reloaded", "config=%s keys=%d result=%s",
               sv->sv_config_path, cf->cf_nkeys, ly_errname(e));
    }
    if (cf) {
        explicit_bzero(cf->cf_key.kp_secret, sizeof cf->cf_key.kp_secret);
        free(cf);
    }
}

static void s_on_tick(ly_loop *lp, uint64_t now, void *ctx)
{
    ly_server *sv = ctx;
    (void)lp;
    if (sv->sv_hup && *sv->sv_hup) {
        *sv->sv_hup = 0;
        s_reload(sv);
    }
    if (ly_service_program_due(&sv->sv_service, ly_wall_ms())) {
        /* A scheduled version came in force while idle: announce it now. */
        ly_txn *t;
        if (ly_store_begin(sv->sv_store, 0, &t) == LY_OK) {
            ly_service_refresh(&sv->sv_service, t);
            ly_store_abort(&t);
        }
    }
    ly_repl_tick(sv->sv_repl, now);
}

/* The group commit: what the sources gathered is executed, committed,
 * answered, published. */
static void s_on_batch(ly_loop *lp, void *ctx)
{
    ly_server *sv = ctx;
    (void)lp;
    if (sv->sv_n > 0)
        s_process(sv, sv->sv_n);
    sv->sv_n = 0;
    sv->sv_peer_items = 0;
}

/* Between batches, after the replies: the pages of what the log holds. */
static void s_on_checkpoint(ly_loop *lp, void *ctx)
{
    ly_server *sv = ctx;
    (void)lp;
    ly_store_checkpoint_due(sv->sv_store);
}

/* Waiting redemptions whose rights arrived or whose deadline passed start the
 * next batch (before the clients gathered with it); else the loop wakes in
 * time for the earliest deadline. */
static void s_on_pending(ly_loop *lp, void *ctx)
{
    ly_server *sv = ctx;
    uint64_t now = ly_loop_mono_ms();
    sv->sv_n = s_gather_pending(sv, now);
    if (sv->sv_n > 0)
        ly_loop_wake(lp);
    else if (ly_waits_count(sv->sv_waits) > 0)
        ly_loop_wait_at_most(lp, ly_waits_timeout(sv->sv_waits, now, S_TICK_MS));
}

/* Sources in gathering order: clients, then peers (S_PEER_ITEMS_MAX). */
static ly_err s_wire(ly_server *sv)
{
    ly_loop *lp = sv->sv_loop;
    ly_err e;
    /* ZAP first: a connection's handshake is decided before its messages are read. */
    if (sv->sv_auth &&
        (e = ly_loop_add_socket(lp, ly_auth_socket(sv->sv_auth), s_on_zap, sv)) != LY_OK)
        return e;
    if ((e = ly_loop_add_socket(lp, sv->sv_clients, s_on_clients, sv)) != LY_OK)
        return e;
    if (sv->sv_peers && (e = ly_loop_add_socket(lp, sv->sv_peers, s_on_peer_router, sv)) != LY_OK)
        return e;
    for (int i = 0; i < sv->sv_cf->cf_npeers; i++) {
        sv->sv_dealer_src[i] = (struct s_dealer_src){sv, i};
        if ((e = ly_loop_add_socket(lp, sv->sv_dealers[i], s_on_dealer, &sv->sv_dealer_src[i])) !=
            LY_OK)
            return e;
    }
    if ((e = ly_loop_add_timer(lp, S_TICK_MS, s_on_tick, sv)) != LY_OK ||
        (e = ly_loop_add_before_sleep(lp, s_on_batch, sv)) != LY_OK ||
        (e = ly_loop_add_before_sleep(lp, s_on_checkpoint, sv)) != LY_OK ||
        (e = ly_loop_add_before_sleep(lp, s_on_pending, sv)) != LY_OK)
        return e;
    return LY_OK;
}

ly_err ly_server_run(ly_server *sv, volatile sig_atomic_t *stop)
{
    LY_LOG(LY_INFO, "node.ready", "name=%s", sv->sv_cf->cf_name);
    if (ly_loop_run(sv->sv_loop, stop) != LY_OK) {
        LY_LOG(LY_ERROR, "server.poll_failed", "error=\"%s\"", zmq_strerror(errno));
        return LY_EIO;
    }
    LY_LOG(LY_INFO, "node.stopping",
           "batches=%llu requests=%llu bad_frames=%llu bad_peer_messages=%llu "
           "dropped_replies=%llu",
           (unsigned long long)sv->sv_batches->mt_value,
           (unsigned long long)sv->sv_requests->mt_value,
           (unsigned long long)sv->sv_bad_frames->mt_value,
           (unsigned long long)sv->sv_bad_peer->mt_value,
           (unsigned long long)sv->sv_dropped_replies->mt_value);
    return LY_OK;
}
