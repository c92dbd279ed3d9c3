/* repl.h -- replication: the peer side of a node, as a state machine.
 *
 * It owns no sockets. The server hands it decoded peer messages (with where
 * they came from), timer ticks and, for messages that carry events, the write
 * transaction of the current group commit; it answers through the send
 * callbacks in ly_repl_io. So the same logic runs over ZeroMQ in loyald and
 * over a simulated network in tests.
 *
 * What it does (see proto/peer.h for the messages):
 *  - says hello to every configured peer on its DEALER until welcomed, and
 *    again whenever a peer answers hello-required (the peer restarted);
 *  - accepts hellos on the ROUTER only from configured peers with the same
 *    protocol version, and uses nothing from a session before its hello;
 *  - applies live events exactly once and in per-origin order (ly_store_apply);
 *    a gap or a heartbeat showing events this node lacks starts a catch-up
 *    (sync-req with this node's version vector), continued while "more";
 *  - answers sync-reqs with the events the asker lacks, of every origin held;
 *  - publishes this node's new events after each commit, and a heartbeat to
 *    every peer once a second (version vector, HLC, digest);
 *  - keeps per-peer status for `loyalctl status`, its counters in the metrics
 *    registry (per peer labelled `peer="<id>"`), and the replication lag of
 *    live events (origin HLC to local commit) as the cumulative histogram
 *    loyal_repl_lag_ms; every 10 s with traffic it logs `repl.lag` p50/p90/p99
 *    of the events since the last line (a delta: nothing is reset).
 * Sends never block: a message that cannot be sent now is dropped and counted;
 * the receiver sees the gap and repairs it by catch-up. */
#ifndef LY_REPL_H
#define LY_REPL_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/hlc.h"
#include "common/store.h"
#include "node/metrics.h"
#include "node/service.h"
#include "proto/msg.h"
#include "proto/peer.h"

#define LY_HEARTBEAT_MS    1000
#define LY_PEER_DOWN_MS    3500 /* no heartbeat for this long: the peer is down */
#define LY_SYNC_TIMEOUT_MS 5000
#define LY_HELLO_RETRY_MS  1000
#define LY_SYNC_BATCH      1000 /* events asked for per sync-req */

typedef struct ly_repl ly_repl;

/* The events this node creates in one batch, in seq order: published after commit. */
typedef struct ly_evlist {
    ly_event *el_ev;
    size_t el_n, el_cap;
} ly_evlist;

/* Where a peer message came from / goes to. */
typedef struct ly_peer_addr {
    int pa_dealer;           /* >= 0: our DEALER to peer index pa_dealer (config order) */
    const uint8_t *pa_ident; /* else: a ROUTER session with this routing id */
    size_t pa_ident_len;
} ly_peer_addr;

typedef struct ly_repl_io {
    void *io_ctx;
    /* Send on our DEALER to peer `peer` (config index). 0 sent, -1 dropped. */
    int (*io_send_dealer)(void *ctx, int peer, const uint8_t *buf, size_t len);
    /* Send on our ROUTER to session `ident`. 0 sent, -1 dropped. */
    int (*io_send_router)(void *ctx, const uint8_t *ident, size_t ident_len, const uint8_t *buf,
                          size_t len);
} ly_repl_io;

/* A replication state for node `cf` over `store`; `svc` creates the transfers
 * it gives. Registers its metrics in `reg` (loyal_transfers_*_total,
 * loyal_rights_asked_total, loyal_repl_lag_ms, loyal_peer_*_total{peer}):
 * once per registry. `cf`, `store`, `hlc`, `svc`, `reg` are borrowed and must
 * outlive it. NULL on ENOMEM or if its metrics are already in `reg`. */
ly_repl *ly_repl_new(const ly_config *cf, ly_store *store, ly_hlc *hlc, ly_service *svc,
                     const ly_repl_io *io, ly_metrics *reg);
void ly_repl_destroy(ly_repl **rp);

/* 1 if the message needs the write transaction (it carries events to apply, or
 * asks for rights, which creates a transfer event). */
int ly_repl_needs_txn(const ly_pmsg *m);

/* Handle one decoded peer message. `t` is the batch's write transaction for
 * messages that need it (else may be NULL); events this node creates (a
 * transfer it gives) are appended to `created`. Returns LY_OK or a store
 * failure that requires the batch to be aborted (LY_ERETRY, LY_ENOSPC, LY_EIO…);
 * a protocol violation by the peer is logged and refused, never an error here.
 * Effects on other peers (catch-ups) are sent by ly_repl_after_commit. */
ly_err ly_repl_handle(ly_repl *r, const ly_peer_addr *from, const ly_pmsg *m, ly_txn *t,
                      ly_evlist *created);

/* Call for every peer message that needs a transaction when it is received,
 * before it waits for its batch (once per message, never again on a replayed
 * batch). A catch-up reply with more to come sends the next request at once,
 * its version vector advanced by the reply, so the peer reads and sends the
 * next part while this node applies this one. */
void ly_repl_received(ly_repl *r, const ly_peer_addr *from, const ly_pmsg *m);

/* Answer hello `m` from `from` (the peer socket) with a refusal saying `why`
 * (logged). */
void ly_repl_refuse(ly_repl *r, const ly_peer_addr *from, const ly_pmsg *m, const char *why);

/* Ask reachable peers for `need` points of rights for customer `c`, those that
 * hold most first (as this node knows from the events it holds). Returns the
 * number of requests sent: 0 means nobody can be asked now. */
int ly_repl_want_rights(ly_repl *r, const ly_cust *c, int64_t need);

/* Transfers received by this node so far (grows when rights arrive). */
uint64_t ly_repl_transfers_in(const ly_repl *r);

/* A batch is over: `committed` says whether its transaction was committed.
 * If not, the events applied from peers in it were lost and are asked for
 * again. Then publishes this node's new events `evs` (n of them, committed in
 * this batch, in seq order) to every peer and sends pending catch-up requests. */
void ly_repl_after_commit(ly_repl *r, int committed, const ly_event *evs, size_t n);

/* Timers: hellos, heartbeats, sync timeouts. Call at least every 100 ms. */
void ly_repl_tick(ly_repl *r, uint64_t now_ms);

/* Fill the peer rows of a status reply (rp_status.ns_peers, heap) and the
 * rights counters, using read transaction `t` for lag. */
ly_err ly_repl_status(ly_repl *r, ly_txn *t, ly_node_status *ns);

#endif
