/* auth.c -- the ZAP handler, the key table and the rights of each role
 * (auth.h). */
#include "node/auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "common/log.h"
#include "proto/msg.h"

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_ZAP_FRAMES   7     /* version, request id, domain, address, identity, mechanism, key */
#define S_LOG_BURST    20    /* refused handshakes logged per window, then counted only */
#define S_LOG_WINDOW   10000 /* ms */

struct ly_auth {
    ly_auth_key *au_keys; /* sorted by ak_public */
    int au_nkeys;
    void *au_zap; /* REP */
    ly_metric *au_refused;
    uint64_t au_window_ms; /* start of the current log window */
    int au_logged;         /* refusals logged in it */
};

static int s_cmp(const void *a, const void *b)
{
    return strcmp(((const ly_auth_key *)a)->ak_public, ((const ly_auth_key *)b)->ak_public);
}

/* The table of `cf`: peers (unless `roles_only`, then `keep` supplies them)
 * and role keys, sorted. */
static ly_auth_key *s_table(const ly_config *cf, const ly_auth_key *keep, int nkeep, int *n)
{
    ly_auth_key *t = calloc((size_t)(cf->cf_npeers + cf->cf_nkeys + nkeep + 1), sizeof *t);
    if (!t)
        return NULL;
    int k = 0;
    for (int i = 0; i < nkeep; i++)
        if (keep[i].ak_role == LY_ROLE_PEER)
            t[k++] = keep[i];
    for (int i = 0; !keep && i < cf->cf_npeers; i++) {
        const ly_peer_conf *p = &cf->cf_peers[i];
        if (!p->pc_public[0])
            continue;
        memcpy(t[k].ak_public, p->pc_public, sizeof t[k].ak_public);
        ly_strlcpy(t[k].ak_name, p->pc_name, sizeof t[k].ak_name);
        t[k].ak_role = LY_ROLE_PEER;
        t[k++].ak_node = p->pc_id;
    }
    for (int i = 0; i < cf->cf_nkeys; i++) {
        const ly_key_conf *kc = &cf->cf_keys[i];
        memcpy(t[k].ak_public, kc->kc_public, sizeof t[k].ak_public);
        ly_strlcpy(t[k].ak_name, kc->kc_name, sizeof t[k].ak_name);
        t[k++].ak_role = (uint8_t)kc->kc_role;
    }
    qsort(t, (size_t)k, sizeof *t, s_cmp);
    *n = k;
    return t;
}

static const ly_metric_def s_metric = {offsetof(ly_auth, au_refused),
                                       "loyal_handshakes_refused_total",
                                       "connections refused by the ZAP handler (unknown key, or a "
                                       "key of the wrong socket)",
                                       "connections"};

ly_auth *ly_auth_new(const ly_config *cf, ly_metrics *metrics)
{
    ly_auth *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->au_keys = s_table(cf, NULL, 0, &a->au_nkeys);
    if (!a->au_keys || ly_metrics_counters(metrics, &s_metric, 1, a, NULL) != 0) {
        ly_auth_destroy(&a);
        return NULL;
    }
    return a;
}

void ly_auth_destroy(ly_auth **ap)
{
    ly_auth *a = *ap;
    if (!a)
        return;
    if (a->au_zap)
        zmq_close(a->au_zap);
    free(a->au_keys);
    free(a);
    *ap = NULL;
}

ly_err ly_auth_bind(ly_auth *a, void *zmq_ctx, char *why, size_t why_len)
{
    a->au_zap = zmq_socket(zmq_ctx, ZMQ_REP);
    if (!a->au_zap)
        return LY_ENOMEM;
    int linger = 0;
    zmq_setsockopt(a->au_zap, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(a->au_zap, S_ZAP_ENDPOINT) != 0) {
        snprintf(why, why_len, "cannot bind the ZAP handler on %s: %s", S_ZAP_ENDPOINT,
                 zmq_strerror(errno));
        return LY_EUNAVAIL;
    }
    return LY_OK;
}

void *ly_auth_socket(const ly_auth *a)
{
    return a->au_zap;
}

const ly_auth_key *ly_auth_find(const ly_auth *a, const char *user_id)
{
    if (!user_id || strlen(user_id) != LY_KEY_Z85)
        return NULL;
    ly_auth_key probe;
    memcpy(probe.ak_public, user_id, sizeof probe.ak_public);
    return bsearch(&probe, a->au_keys, (size_t)a->au_nkeys, sizeof *a->au_keys, s_cmp);
}

int ly_auth_allows(int role, int type)
{
    switch (role) {
    case LY_ROLE_OPERATOR:
        return 1;
    case LY_ROLE_POS: /* and status: a till checks that its node is up and in sync */
        return type == LY_MSG_STATUS || type == LY_MSG_ENROLL || type == LY_MSG_EARN ||
               type == LY_MSG_REDEEM || type == LY_MSG_REVERSE || type == LY_MSG_CUSTOMER ||
               type == LY_MSG_SET_PROFILE;
    case LY_ROLE_AUDITOR:
        return type == LY_MSG_STATUS || type == LY_MSG_EVENTS || type == LY_MSG_DEBTS ||
               type == LY_MSG_CONFLICTS || type == LY_MSG_PROGRAM || type == LY_MSG_CUSTOMER;
    default:
        return 0;
    }
}

static uint64_t s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One frame of a reply; the last without ZMQ_SNDMORE. */
static void s_send(void *sock, const void *data, size_t len, int more)
{
    zmq_send(sock, data, len, (more ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
}

/* Decide one request already split into frames. Fills user_id on success. */
static int s_decide(ly_auth *a, zmq_msg_t *f, int nf, char *user_id, char *why, size_t why_len)
{
    if (nf != S_ZAP_FRAMES || zmq_msg_size(&f[0]) != 3 || memcmp(zmq_msg_data(&f[0]), "1.0", 3)) {
        snprintf(why, why_len, "malformed ZAP request");
        return 0;
    }
    if (zmq_msg_size(&f[5]) != 5 || memcmp(zmq_msg_data(&f[5]), "CURVE", 5) ||
        zmq_msg_size(&f[6]) != LY_KEY_BYTES) {
        snprintf(why, why_len, "not a CURVE handshake");
        return 0;
    }
    char key[LY_KEY_Z85 + 1];
    if (!zmq_z85_encode(key, zmq_msg_data(&f[6]), LY_KEY_BYTES)) {
        snprintf(why, why_len, "bad key");
        return 0;
    }
    const ly_auth_key *k = ly_auth_find(a, key);
    size_t dl = zmq_msg_size(&f[2]);
    const char *dom = zmq_msg_data(&f[2]);
    int peer_dom = dl == strlen(LY_AUTH_DOMAIN_PEER) && !memcmp(dom, LY_AUTH_DOMAIN_PEER, dl);
    int client_dom = dl == strlen(LY_AUTH_DOMAIN_CLIENT) && !memcmp(dom, LY_AUTH_DOMAIN_CLIENT, dl);
    if (!k) {
        snprintf(why, why_len, "unknown key %s", key);
        return 0;
    }
    if ((k->ak_role == LY_ROLE_PEER && !peer_dom) || (k->ak_role != LY_ROLE_PEER && !client_dom)) {
        snprintf(why, why_len, "key '%s' (%s) may not connect to the %s socket", k->ak_name,
                 ly_role_name(k->ak_role), peer_dom ? "peer" : "client");
        return 0;
    }
    memcpy(user_id, key, sizeof key);
    return 1;
}

void ly_auth_serve(ly_auth *a)
{
    for (;;) {
        /* All frames of one request: the first S_ZAP_FRAMES kept, the count of all. */
        zmq_msg_t f[S_ZAP_FRAMES];
        int nf = 0, kept = 0, more = 1;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, a->au_zap, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                break;
            }
            more = zmq_msg_more(&m);
            nf++;
            if (kept < S_ZAP_FRAMES)
                f[kept++] = m;
            else
                zmq_msg_close(&m);
        }
        if (nf == 0)
            return;
        char user_id[LY_KEY_Z85 + 1] = "", why[160] = "";
        int ok = s_decide(a, f, nf, user_id, why, sizeof why);
        /* version, request id, status code, status text, user id, metadata */
        s_send(a->au_zap, "1.0", 3, 1);
        if (kept >= 2)
            s_send(a->au_zap, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), 1);
        else
            s_send(a->au_zap, "", 0, 1);
        s_send(a->au_zap, ok ? "200" : "400", 3, 1);
        s_send(a->au_zap, ok ? "OK" : "refused", ok ? 2 : 7, 1);
        s_send(a->au_zap, user_id, strlen(user_id), 1);
        s_send(a->au_zap, "", 0, 0);
        if (!ok) {
            ly_metric_inc(a->au_refused);
            uint64_t now = s_mono_ms();
            if (now - a->au_window_ms > S_LOG_WINDOW) {
                a->au_window_ms = now;
                a->au_logged = 0;
            }
            if (a->au_logged++ < S_LOG_BURST) {
                char addr[64] = "?";
                if (kept >= 4)
                    snprintf(addr, sizeof addr, "%.*s", (int)zmq_msg_size(&f[3]),
                             (const char *)zmq_msg_data(&f[3]));
                LY_LOG(LY_WARN, "auth.refused", "address=%s why=\"%s\"%s", addr, why,
                       a->au_logged == S_LOG_BURST ? " (more refusals are only counted for a "
                                                     "while: loyal_handshakes_refused_total)"
                                                   : "");
            }
        }
        for (int i = 0; i < kept; i++)
            zmq_msg_close(&f[i]);
    }
}

ly_err ly_auth_reload(ly_auth *a, const ly_config *cf)
{
    int n;
    ly_auth_key *t = s_table(cf, a->au_keys, a->au_nkeys, &n);
    if (!t)
        return LY_ENOMEM;
    for (int i = 0; i < n; i++) {
        const ly_auth_key *old = ly_auth_find(a, t[i].ak_public);
        if (!old)
            LY_LOG(LY_INFO, "auth.key_added", "name=%s role=%s", t[i].ak_name,
                   ly_role_name(t[i].ak_role));
        else if (old->ak_role != t[i].ak_role || strcmp(old->ak_name, t[i].ak_name))
            LY_LOG(LY_INFO, "auth.key_changed", "name=%s role=%s (was %s %s)", t[i].ak_name,
                   ly_role_name(t[i].ak_role), ly_role_name(old->ak_role), old->ak_name);
    }
    for (int i = 0; i < a->au_nkeys; i++) {
        ly_auth_key *k = &a->au_keys[i];
        if (!bsearch(k, t, (size_t)n, sizeof *t, s_cmp))
            LY_LOG(LY_INFO, "auth.key_removed",
                   "name=%s role=%s: refused from its next message on, open sessions included",
                   k->ak_name, ly_role_name(k->ak_role));
    }
    free(a->au_keys);
    a->au_keys = t;
    a->au_nkeys = n;
    return LY_OK;
}

/* Wait for the monitor's next event within `left` ms, serving ZAP. */
static int s_next_event(ly_auth *a, void *mon, int left, uint16_t *event)
{
    uint64_t end = s_mono_ms() + (uint64_t)left;
    for (;;) {
        uint64_t now = s_mono_ms();
        if (now >= end)
            return 0;
        zmq_pollitem_t it[2] = {{mon, 0, ZMQ_POLLIN, 0}, {a->au_zap, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(it, 2, (long)(end - now)) < 0 && errno != EINTR)
            return 0;
        if (it[1].revents & ZMQ_POLLIN)
            ly_auth_serve(a);
        if (!(it[0].revents & ZMQ_POLLIN))
            continue;
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, mon, 0) < 0) {
            zmq_msg_close(&m);
            return 0;
        }
        int more = zmq_msg_more(&m);
        if (zmq_msg_size(&m) >= 2)
            memcpy(event, zmq_msg_data(&m), 2);
        zmq_msg_close(&m);
        while (more) { /* the endpoint frame */
            zmq_msg_init(&m);
            zmq_msg_recv(&m, mon, 0);
            more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
        return 1;
    }
}

ly_err ly_auth_self_check(ly_auth *a, void *zmq_ctx, const char *endpoint, const char *server_key,
                          int timeout_ms, char *why, size_t why_len)
{
    char pub[LY_KEY_Z85 + 1], sec[LY_KEY_Z85 + 1];
    ly_err rc = LY_EINTERNAL;
    void *s = zmq_socket(zmq_ctx, ZMQ_DEALER), *mon = NULL;
    if (!s || zmq_curve_keypair(pub, sec) != 0) {
        snprintf(why, why_len, "start-up check: cannot make a socket or a key: %s",
                 zmq_strerror(errno));
        goto out;
    }
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    ly_key_curve_client(s, pub, sec, server_key);
    explicit_bzero(sec, sizeof sec);
    static unsigned s_checks; /* one monitor endpoint per check */
    char mon_ep[64];
    snprintf(mon_ep, sizeof mon_ep, "inproc://loyal.auth.self-check.%u", s_checks++);
    if (zmq_socket_monitor(s, mon_ep,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0 ||
        !(mon = zmq_socket(zmq_ctx, ZMQ_PAIR)) || zmq_connect(mon, mon_ep) != 0 ||
        zmq_connect(s, endpoint) != 0) {
        snprintf(why, why_len, "start-up check: cannot connect to %s: %s", endpoint,
                 zmq_strerror(errno));
        goto out;
    }
    uint16_t ev = 0;
    if (!s_next_event(a, mon, timeout_ms, &ev))
        snprintf(why, why_len,
                 "start-up check: a connection to %s with an unknown key was neither refused nor "
                 "accepted within %d ms; refusing to serve",
                 endpoint, timeout_ms);
    else if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
        snprintf(why, why_len,
                 "start-up check: %s accepted an unknown key (is the ZAP handler bound?); refusing "
                 "to serve",
                 endpoint);
    else
        rc = LY_OK;
out:
    if (s) {
        zmq_socket_monitor(s, NULL, 0);
        zmq_close(s);
    }
    if (mon)
        zmq_close(mon);
    return rc;
}
