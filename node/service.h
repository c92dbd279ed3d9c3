/* service.h -- executes client requests against the store: the origin side of
 * the ledger. No sockets: the server (server.h) feeds it decoded requests inside
 * its group-commit transaction, and tests can drive it directly.
 *
 * A mutation becomes one event: the service checks the request against the
 * customer's current state (enrolled? enough points? how much of the original
 * is left to refund?), computes what the event carries (points awarded, tier
 * before and after), gives it the next sequence number of this node and applies
 * it through ly_store_apply. Retries are answered from the transaction index. */
#ifndef LY_SERVICE_H
#define LY_SERVICE_H

#include <stdint.h>

#include "common/hlc.h"
#include "common/ledger.h"
#include "common/store.h"
#include "proto/msg.h"

typedef struct ly_service {
    ly_store *sv_store;           /* borrowed */
    const ly_program *sv_program; /* borrowed */
    ly_hlc *sv_hlc;               /* borrowed */
    char sv_name[64];
    uint64_t sv_started_ms;
    /* Optional: adds what the service does not know (peers, client endpoint) to
     * a status reply, inside the same transaction. */
    ly_err (*sv_status_hook)(void *ctx, ly_txn *t, ly_node_status *ns);
    void *sv_status_ctx;
} ly_service;

/* Execute `rq` in transaction `t` (a write transaction for mutations) and fill
 * `rp` (initialised by the caller). An operation refused for business reasons
 * (insufficient points, unknown customer, conflict…) is a successful execution:
 * the reason is in rp->rp_err and nothing was written. The return value is
 * LY_OK, or a store failure (LY_ERETRY, LY_ENOSPC, LY_EIO, LY_ENOMEM, LY_EPROTO)
 * after which the transaction must be aborted and `rp` is meaningless.
 * `ev_out` (may be NULL) receives the event a mutation created; *created is set
 * to 1 when it did (0 for reads, refusals and replays). */
ly_err ly_service_exec(ly_service *sv, ly_txn *t, const ly_req *rq, ly_rep *rp, ly_event *ev_out,
                       int *created);

/* Give up to `want` points of this node's rights for `customer` to node `to`:
 * creates, applies and returns (in *ev_out, *created = 1) a transfer event of
 * min(want, what this node may redeem for the customer). Nothing when it holds
 * none (*created = 0). Errors as ly_service_exec. */
ly_err ly_service_give_rights(ly_service *sv, ly_txn *t, const char *customer, uint16_t to,
                              int64_t want, ly_event *ev_out, int *created);

/* Fingerprint of a request's payload (everything but the request id). */
uint64_t ly_req_fingerprint(const ly_req *rq);

#endif
