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
#include "common/tz.h"
#include "proto/msg.h"

/* The program in force, as the service last read it from the store. */
typedef struct ly_progstate {
    uint64_t ps_gen;          /* ly_store_programs_gen when read */
    int ps_loaded;            /* 0: never read */
    uint32_t ps_next_version; /* a version scheduled later: read again at ps_next_ms */
    int64_t ps_next_ms;
    ly_progrec ps_rec; /* version 0 (the default): pr_version 0, no parts */
    ly_progdef ps_def;
    ly_program ps_pg;          /* ps_def as ly_program, for the ledger's arithmetic */
    uint64_t ps_hash;          /* ly_progdef_hash(&ps_def) */
    ly_progrec ps_names;       /* the last other version looked up for tier names ... */
    uint32_t ps_names_version; /* ... its number ... */
    uint64_t ps_names_gen;     /* ... and the store's programs generation then */
} ly_progstate;

typedef struct ly_service {
    ly_store *sv_store; /* borrowed */
    ly_hlc *sv_hlc;     /* borrowed */
    ly_tz sv_tz;        /* the branch's time zone (campaign days and hours); "": UTC */
    char sv_name[64];
    uint64_t sv_started_ms;
    /* Optional: adds what the service does not know (peers, client endpoint) to
     * a status reply, inside the same transaction. */
    ly_err (*sv_status_hook)(void *ctx, ly_txn *t, ly_node_status *ns);
    void *sv_status_ctx;
    ly_progstate *sv_prog; /* heap, made at the first use; ly_service_fini frees it */
} ly_service;

/* Frees what the service made (its program cache); the borrowed parts stay. */
void ly_service_fini(ly_service *sv);

/* Reads the program in force again if the store's versions changed or a
 * scheduled version came in force; LY_OK or a store error. Every request
 * does this; the server also calls it after applying peers' events, so that
 * what it announces (ly_service_program) is current. */
ly_err ly_service_refresh(ly_service *sv, ly_txn *t);

/* 1 if a version scheduled for later has come in force by `now_ms` (the
 * service reads it at its next request or refresh). */
int ly_service_program_due(const ly_service *sv, uint64_t now_ms);

/* The program in force as last read: its version and hash (version 0 and the
 * default's hash before any is read or when none is held). */
void ly_service_program(const ly_service *sv, uint32_t *version, uint64_t *hash);

/* Events one request may create: a program version's parts. */
#define LY_SERVICE_EVENTS_MAX LY_EV_PARTS_MAX

/* Execute `rq` in transaction `t` (a write transaction for mutations) and fill
 * `rp` (initialised by the caller). An operation refused for business reasons
 * (insufficient points, unknown customer, conflict…) is a successful execution:
 * the reason is in rp->rp_err and nothing was written. The return value is
 * LY_OK, or a store failure (LY_ERETRY, LY_ENOSPC, LY_EIO, LY_ENOMEM, LY_EPROTO)
 * after which the transaction must be aborted and `rp` is meaningless.
 * `ev_out` (may be NULL; else room for LY_SERVICE_EVENTS_MAX events; an earn
 * makes two at most, the second a birthday bonus) receives
 * the events the request created, *created their number (1 for a customer
 * mutation, a version's parts for program-apply; 0 for reads, refusals and
 * replays). */
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
