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
 * answer to a new one.
 *
 * The contract for a till (README "What a till is told"): retry a mutation
 * of unknown outcome (a timeout, an I/O error, "unavailable") with the same
 * transaction id and the same request, at this branch or any other; the id may
 * be the receipt's own number. It counts once in the whole chain: a branch
 * that knows it answers with rp_replayed = 1 and the event that counts; one
 * that does not yet applies it, and once the branches see each other exactly
 * one of the two counts (the earliest), the same at every branch. A voided
 * duplicate never takes anything from the customer that the original did
 * not. A different request under a known id is refused (LY_ECONFLICT); made
 * at two branches that could not see each other, it is a conflict that
 * `loyalctl conflicts` lists. Ids starting with "join:" are the node's own
 * once keys and refused (LY_EINVAL). */
#ifndef LY_CLIENT_H
#define LY_CLIENT_H

#include "proto/msg.h"

typedef struct ly_client ly_client;

/* A client for `endpoint` with a per-call timeout in milliseconds. Returns NULL
 * on error (bad endpoint, out of memory). Caller owns the result. */
ly_client *ly_client_new(const char *endpoint, int timeout_ms);

/* The same over CurveZMQ: the connection is encrypted and the node knows the
 * caller by its key. `public_key` and `secret_key` are this till's or
 * operator's key pair and `server_key` the node's public key, each
 * LY_KEY_Z85 (40) characters of Z85 (common/keys.h reads key files). The node
 * refuses a key it does not list (the call times out: CURVE gives an unknown
 * key no answer) and a request its role does not allow (rp_err
 * LY_EFORBIDDEN). NULL on error, as above, or for a key that is not 40
 * characters of Z85. */
ly_client *ly_client_new_curve(const char *endpoint, int timeout_ms, const char *public_key,
                               const char *secret_key, const char *server_key);

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
