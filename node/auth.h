/* auth.h -- who may connect and what each key may send (CurveZMQ, ZAP).
 *
 *   ly_auth *a = ly_auth_new(cf, metrics);
 *   ly_auth_bind(a, zmq_ctx, why, sizeof why);   // before any CURVE socket binds
 *   ... the loop serves ly_auth_socket(a) with ly_auth_serve(a) ...
 *   const ly_auth_key *k = ly_auth_find(a, zmq_msg_gets(&msg, "User-Id"));
 *   if (!k || !ly_auth_allows(k->ak_role, rq.rq_type)) ... forbidden
 *
 * With [node] key set (config.h "Security"), both of the node's ROUTERs are
 * CURVE servers and every connection goes through the ZAP handler here
 * (ZeroMQ RFC 27), bound on inproc://zeromq.zap.01 in the server's context
 * before the sockets bind: libzmq accepts every key when no handler is bound,
 * so the server checks at start-up that an unknown key is refused
 * (ly_auth_self_check) and refuses to serve otherwise. The ZAP domain says
 * which socket asks: "client" admits [pos], [operator] and [auditor] keys,
 * "peer" admits [peer] keys; anything else is refused (status 400) and
 * counted. The handler answers with the key itself (Z85) as User-Id, which
 * libzmq attaches to every message of the connection.
 *
 * Authorization is per message, against the table in force: a key removed by
 * a reload (SIGHUP) finds nothing from its next message on, open sessions
 * included, and a key whose role changed gets its new role's rights. The
 * routing id and the payload never decide who sent a message. */
#ifndef LY_AUTH_H
#define LY_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/err.h"
#include "node/metrics.h"

#define LY_AUTH_DOMAIN_CLIENT "client"
#define LY_AUTH_DOMAIN_PEER   "peer"

typedef struct ly_auth_key {
    char ak_public[LY_KEY_Z85 + 1];
    char ak_name[LY_NODE_NAME_MAX + 1]; /* section name: the operator recorded */
    uint8_t ak_role;                    /* ly_role */
    uint16_t ak_node;                   /* LY_ROLE_PEER: the node id configured for the key */
} ly_auth_key;

typedef struct ly_auth ly_auth;

/* The key table of `cf` (its peers and role sections). NULL if out of memory. */
ly_auth *ly_auth_new(const ly_config *cf, ly_metrics *metrics);
void ly_auth_destroy(ly_auth **ap);

/* Bind the ZAP handler's REP socket in `zmq_ctx`. LY_OK or LY_EUNAVAIL. */
ly_err ly_auth_bind(ly_auth *a, void *zmq_ctx, char *why, size_t why_len);

/* The REP socket, for the loop to poll. */
void *ly_auth_socket(const ly_auth *a);

/* Answer every ZAP request waiting (never blocks). */
void ly_auth_serve(ly_auth *a);

/* The key whose Z85 public key is `user_id`, or NULL (NULL user_id too). */
const ly_auth_key *ly_auth_find(const ly_auth *a, const char *user_id);

/* Replace the role sections' keys with those of `cf` (the peers stay: their
 * sockets were made for their keys). Logs what was added and removed. */
ly_err ly_auth_reload(ly_auth *a, const ly_config *cf);

/* 1 if a key of `role` may send client request `type` (LY_MSG_*). */
int ly_auth_allows(int role, int type);

/* Connect a CURVE client with a fresh random key to `endpoint` and check,
 * serving ZAP meanwhile, that the handshake is refused within `timeout_ms`.
 * LY_OK if it was; LY_EINTERNAL (with why) if the unknown key got in or
 * nothing was decided in time. */
ly_err ly_auth_self_check(ly_auth *a, void *zmq_ctx, const char *endpoint, const char *server_key,
                          int timeout_ms, char *why, size_t why_len);

#endif
