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
 * One DEALER socket; one thread at a time per client. ly_client_call has one
 * request in flight; ly_client_send/ly_client_recv (below) pipeline many. A
 * timed-out call returns LY_ETIMEDOUT and the client reconnects before the
 * next call, so a late reply to an old request is never mistaken for the
 * answer to a new one. Retrying a mutation with the same transaction id is
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
 * sent), LY_EPROTO (undecodable reply), LY_EIO. `rp` is always initialised
 * (as by ly_rep_reset: history and rights entries past their counts are not
 * part of the reply): call ly_rep_fini on it. */
ly_err ly_client_call(ly_client *c, ly_req *rq, ly_rep *rp);

/* Pipelining: many requests in flight on one client, for back-office loads and
 * busy tills. The node answers each request of a connection in the order of
 * its group commits, not always in the order sent; match replies by rp_id.
 *
 *   ly_client_send(c, &rq1, &err);   // rq1.rq_id assigned
 *   ly_client_send(c, &rq2, &err);
 *   ly_client_recv(c, &rp);          // rp.rp_id is rq1.rq_id or rq2.rq_id
 *
 * ly_client_send returns LY_OK when the request was handed to the socket, or
 * the error (also filled into `err`, which the caller finishes with
 * ly_rep_fini): LY_EINVAL (the request breaks its contract; nothing sent),
 * LY_EIO, LY_ETIMEDOUT (the node took nothing within the timeout).
 *
 * ly_client_recv waits up to the client's timeout for the next reply. LY_OK:
 * rp->rp_id names the request it answers (0: a request the node could not
 * read). LY_EPROTO: undecodable (rp_id from the frame when it has one).
 * LY_ETIMEDOUT or LY_EIO: the client reconnected and every request in flight
 * is dropped; their outcome is unknown until retried with the same transaction
 * id, which is always safe. `rp` is always initialised: call ly_rep_fini.
 *
 * Do not mix with ly_client_call while replies are outstanding: a call takes
 * only its own reply and discards the others. */
ly_err ly_client_send(ly_client *c, ly_req *rq, ly_rep *err);
ly_err ly_client_recv(ly_client *c, ly_rep *rp);

#endif
