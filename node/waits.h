/* waits.h -- redemptions waiting for rights from peers, and the prefetch that
 * spares them the wait: the policy, as a state machine with no sockets.
 *
 * A redemption refused for lack of local rights (LY_EINSUFFICIENT_LOCAL: the
 * balance suffices, the rights held here do not) asks the peers that hold
 * rights for the rest (ly_repl_want_rights) and waits, unanswered, until
 * rights arrive or its deadline (rights_wait_ms after the first refusal)
 * passes; then it is executed again, and answered whatever it gives. A
 * customer lookup with the prefetch flag (a cashier scanned the card) starts
 * moving the customer's rights here at once, at most once per
 * LY_WAITS_PREFETCH_MS per customer.
 *
 * The owner feeds it what the service said (inside the batch's transaction),
 * parks the requests it says should wait after the commit, and takes them back
 * into a batch when ly_waits_take says they are due; the client's routing id
 * travels with a waiting request as opaque bytes. So the server and the
 * simulation (tests/unit/sim_test.c) run the same policy. */
#ifndef LY_WAITS_H
#define LY_WAITS_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/store.h"
#include "node/metrics.h"
#include "node/repl.h"
#include "proto/msg.h"

#define LY_WAITS_IDENT_MAX      256
#define LY_WAITS_PENDING_MAX    256  /* waiting redemptions at most (and batch_max) */
#define LY_WAITS_PREFETCH_SLOTS 64   /* customers remembered for the prefetch limit */
#define LY_WAITS_PREFETCH_MS    2000 /* a customer's rights are fetched at most this often */

/* A redemption waiting for rights, with its client. */
typedef struct ly_wait {
    uint8_t wt_ident[LY_WAITS_IDENT_MAX]; /* the client's routing id (opaque) */
    size_t wt_ident_len;
    ly_req wt_req;
    uint64_t wt_deadline; /* monotonic ms: answered by then */
} ly_wait;

typedef struct ly_waits ly_waits;

/* The policy for node `cf` (rights_wait_ms: 0 never waits; batch_max bounds
 * the waiting list, as does LY_WAITS_PENDING_MAX), asking through `repl`.
 * Registers the gauge loyal_rights_pending in `reg` (once per registry).
 * `cf`, `repl` and `reg` are borrowed and must outlive it. NULL on ENOMEM or
 * if the gauge is already in `reg`. */
ly_waits *ly_waits_new(const ly_config *cf, ly_repl *repl, ly_metrics *reg);

/* Accepts NULL; clears *wp. Waiting requests are forgotten (never answered). */
void ly_waits_destroy(ly_waits **wp);

/* `rq` was refused with LY_EINSUFFICIENT_LOCAL (`rp`, in transaction `t`).
 * *deadline is 0 for a fresh request, else the deadline it waited for. A fresh
 * one asks the peers for what it lacks and, if anyone was asked and the list
 * has room, gets *deadline = now + rights_wait_ms. Returns 1 if it should
 * wait (no reply now: park it after the commit), 0 to answer the refusal. */
int ly_waits_defer(ly_waits *w, ly_txn *t, const ly_req *rq, const ly_rep *rp, uint64_t *deadline,
                   uint64_t now);

/* A customer lookup `rp` (answered OK, asked with prefetch) in transaction
 * `t`: ask peers for the rights this node lacks for the whole balance, unless
 * asked for that customer in the last LY_WAITS_PREFETCH_MS. */
void ly_waits_prefetch(ly_waits *w, ly_txn *t, const ly_rep *rp, uint64_t now);

/* A request `rq` from client `ident` whose transaction id may be waiting: a
 * retry must not be answered on its own (the waiting copy may commit later),
 * so it takes the waiting copy's place (its client and request id), and the
 * one answer goes to the newest request. Returns 1 if attached (do not execute
 * or answer it), 0 if no mutation of that transaction waits, -1 if one waits
 * with a different payload (answer LY_ECONFLICT). */
int ly_waits_attach(ly_waits *w, const ly_req *rq, const uint8_t *ident, size_t ident_len);

/* Park `rq` of client `ident` (at most LY_WAITS_IDENT_MAX bytes) until
 * `deadline`. Returns 0, or -1 when the list is full (answer it now). */
int ly_waits_park(ly_waits *w, const ly_req *rq, const uint8_t *ident, size_t ident_len,
                  uint64_t deadline);

/* If rights arrived since the last take (ly_repl_transfers_in grew) or a
 * deadline passed, empties the list and returns its entries (*n of them) to
 * execute again; else NULL and *n = 0. The entries are borrowed: valid until
 * the next ly_waits_park or ly_waits_attach (copy them out first). */
const ly_wait *ly_waits_take(ly_waits *w, uint64_t now, uint32_t *n);

/* How long a poll may sleep, at most `max_ms` (< 0: no limit, and -1 is
 * returned when nothing waits), so that waiting requests are taken in time: 0
 * when rights already arrived for them. */
int ly_waits_timeout(const ly_waits *w, uint64_t now, int max_ms);

/* Requests waiting now. */
uint32_t ly_waits_count(const ly_waits *w);

#endif
