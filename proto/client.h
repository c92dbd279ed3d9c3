/* client.h -- the C client API for POS integrators, loyalctl and loyalbench.
 *
 *   ly_client *c = ly_client_new("tcp://127.0.0.1:7101", 5000);
 *   ly_req rq; ly_req_init(&rq, LY_MSG_EARN);
 *   ... fill rq ...
 *   ly_rep rp;
 *   ly_err e = ly_client_call(c, &rq, &rp);  // transport outcome
 *   if (e == LY_OK && rp.rp_err == LY_OK) ... // operation outcome
 *   ly_rep_fini(&rp);
 *   ly_client_destroy(&c);
 *
 * One DEALER socket; one request in flight per client (use one client per
 * thread). A timed-out call returns LY_ETIMEDOUT and the client reconnects
 * before the next call, so a late reply to an old request is never mistaken for
 * the answer to a new one. Retrying a mutation with the same transaction id is
 * always safe. */
#ifndef LY_CLIENT_H
#define LY_CLIENT_H

#include "proto/msg.h"

typedef struct ly_client ly_client;

/* A client for `endpoint` with a per-call timeout in milliseconds. Returns NULL
 * on error (bad endpoint, out of memory). Caller owns the result. */
ly_client *ly_client_new(const char *endpoint, int timeout_ms);

/* Accepts NULL and *cp == NULL; clears *cp. */
void ly_client_destroy(ly_client **cp);

/* Send `rq` (rq_id is assigned by the client) and wait for its reply.
 * Returns LY_OK when a reply arrived (then rp->rp_err is the operation's
 * outcome), LY_ETIMEDOUT, LY_EINVAL (the request breaks its contract; nothing
 * sent), LY_EPROTO (undecodable reply), LY_EIO. `rp` is always initialised:
 * call ly_rep_fini on it. */
ly_err ly_client_call(ly_client *c, ly_req *rq, ly_rep *rp);

#endif
