/* store.h -- the node's durable store (LMDB). The only file that includes lmdb.h.
 *
 * One environment per node, named databases:
 *   events    origin(2) incarnation(4) seq(8), big-endian -> encoded event
 *   customers customer id -> encoded ly_cust
 *   hist      len(1) customer id, hlc(8) origin(2) incarnation(4) seq(8) -> "" (history index)
 *   vv        origin(2) incarnation(4) -> highest contiguous seq applied (8)
 *   txn       once key -> ly_txnrec: a client transaction id, or a derived key such
 *             as join:<customer> (rules.h); names the event that counts for the key
 *             (idempotency, replays, refund bookkeeping)
 *   once      once key held by two events or more -> flags (1: a conflict, their
 *             requests differ), their number, and the ids of up to 16 of them
 *   debts     customer id -> "" for every customer whose net is below zero
 *   programs  program version -> ly_progrec: the part events of the version that
 *             counts and of up to LY_PROG_LOST_MAX that lost (same number, made
 *             concurrently); written when a version's last part arrives, and
 *             built again from the events at open when its format changes
 *   meta      "schema", "node_id", "incarnation", "digest", "events", "customers", "hlc",
 *             "duplicates", "conflicts", "programs_index"
 *
 * One writer: the node's loop applies a whole batch in one write transaction
 * (group commit); ly_store_commit() makes it durable before it returns, so a
 * caller that replies only after it never acknowledges a write that could be
 * lost.
 *
 * Log first, pages later (DESIGN §4). A commit appends the batch's new events
 * to the write-ahead log (`wal`, see wal.h) and syncs that one sequential
 * write; that is the commit point. The B-tree pages stay dirty in one long
 * LMDB write transaction that spans many batches, so a customer updated a
 * hundred times between checkpoints is written once. A checkpoint
 * (ly_store_checkpoint: every `checkpoint_ms` or `checkpoint_events`) commits
 * that transaction with LMDB's own sync, in page order, and starts the log
 * over. Opening a store replays the log past the last checkpoint; the replay
 * is the ordinary exactly-once apply, so it gives the same state, byte for
 * byte. On disk there is always a synced LMDB checkpoint plus a log: a kill -9
 * or a power cut at any moment loses nothing that was acknowledged.
 *
 * Reads go through the same open transaction (read-your-writes in the one
 * thread), so they see every committed batch and never a part of an open
 * one: a read may not begin while a write batch is open (LY_EINTERNAL). Other
 * processes reading the LMDB file directly see the last checkpoint.
 *
 * The map grows by itself: when a write runs out of map space, the write
 * returns LY_ERETRY; the caller aborts the transaction (ly_store_abort grows
 * the map then) and replays the batch. Disk full or I/O failure: LY_ENOSPC or
 * LY_EIO, the batch is rolled back, the store unchanged. A failed checkpoint
 * refuses further writes with its error until a later one succeeds; reads go
 * on, and the log keeps every acknowledged write meanwhile.
 *
 * Not thread-safe: one thread per store. */
#ifndef LY_STORE_H
#define LY_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/event.h"
#include "common/ledger.h"
#include "common/program.h"
#include "common/rules.h"

#define LY_SCHEMA_VERSION 2 /* 2: events carry ev_to, customers carry rights */

/* Checkpoint policy defaults (config keys checkpoint_ms, checkpoint_events). */
#define LY_STORE_CHECKPOINT_MS     1000
#define LY_STORE_CHECKPOINT_EVENTS 20000

typedef struct ly_store ly_store;
typedef struct ly_txn ly_txn;

typedef struct ly_store_opts {
    uint64_t so_map_size; /* initial map size in bytes; 0: 64 MiB */
    uint64_t so_map_max;  /* the map never grows past this; 0: no bound */
    /* Checkpoint at least every so_checkpoint_ms while writing, or after
     * so_checkpoint_events events; 0: LY_STORE_CHECKPOINT_MS / _EVENTS. */
    uint32_t so_checkpoint_ms;
    uint32_t so_checkpoint_events;
    uint64_t so_wal_prealloc; /* bytes of log written ahead at creation; 0: 16 MiB */
    /* Build the program versions' index from the part events again at open
     * (it is rebuilt by itself when its format changes; tests force it). */
    int so_reindex_programs;
} ly_store_opts;

/* Open (or create) the store in directory `dir`, which must exist. A new store
 * gets node id `node_id` and an incarnation: its creation time in seconds, so a
 * store rebuilt later (in a later second, with a sane clock) has a larger one. An existing store
 * must have the same node id (else LY_ECONFIG) and schema version (else LY_EVERSION). Stale reader
 * slots left by killed processes are cleared. `opts` may be NULL. Errors: LY_ECONFIG, LY_EVERSION,
 * LY_EIO, LY_ENOSPC, LY_ENOMEM. On success *out owns the store; release it with ly_store_close.
 * `why` (may be NULL) receives a human reason on error. */
ly_err ly_store_open(const char *dir, uint16_t node_id, const ly_store_opts *opts, ly_store **out,
                     char *why, size_t why_len);

/* Checkpoint, then close the store; accepts NULL and *sp == NULL; clears *sp.
 * No transaction may be open. */
void ly_store_close(ly_store **sp);

/* Close without a checkpoint, as a crash would: the next open replays the log.
 * For tests that simulate crashes in one process. */
void ly_store_close_abrupt(ly_store **sp);

/* Write every page changed since the last checkpoint and sync (one LMDB
 * commit), then start the log over. Only between batches, with no read open
 * (else LY_EINTERNAL). Errors: LY_ENOSPC, LY_EIO (then writes are refused with
 * that error until a checkpoint succeeds; nothing acknowledged is lost). */
ly_err ly_store_checkpoint(ly_store *s);

/* Checkpoint if one is due (by time or by events since the last, or a retry
 * of a failed one after a second). Returns LY_OK when none was due. */
ly_err ly_store_checkpoint_due(ly_store *s);

uint16_t ly_store_node_id(const ly_store *s);
uint32_t ly_store_incarnation(const ly_store *s);
/* Current map size in bytes (grows over time). */
uint64_t ly_store_map_size(const ly_store *s);

/* Begin a transaction; `write` nonzero for the (single) write transaction. */
ly_err ly_store_begin(ly_store *s, int write, ly_txn **out);

/* Commit durably and free the transaction (clears *tp). A read transaction is
 * simply ended. On error the transaction was aborted: LY_ERETRY (map grown,
 * replay), LY_ENOSPC, LY_EIO. */
ly_err ly_store_commit(ly_txn **tp);

/* Abort and free (accepts NULL; clears *tp). Grows the map if a write ran out. */
void ly_store_abort(ly_txn **tp);

/* ly_txnrec, the transaction index record, is defined in ledger.h (the rules
 * read it to refund an original). */

/* Outcome of ly_store_apply. */
typedef enum ly_apply {
    LY_APPLIED = 0,   /* new: written */
    LY_DUPLICATE = 1, /* already held: nothing written */
    LY_GAP = 2,       /* an earlier seq of its origin is missing: nothing written */
    LY_WAITING = 3,   /* it spends rights its origin had received by a transfer that is
                         not here yet (causal order): nothing written, ask again later */
} ly_apply;

/* Apply one event in write transaction `t`: exactly once and in per-origin
 * order. If the event is the next seq of its (origin, incarnation), writes it
 * and folds it into the customer's state, the history index, the transaction
 * index, the version vector and the digest; *outcome = LY_APPLIED. Otherwise
 * nothing is written and *outcome says why. `cust_after` (may be NULL) receives
 * the customer's state after the event when it is applied (otherwise its
 * contents are unspecified). The event must be valid (ly_event_validate).
 * Errors: LY_ERETRY, LY_ENOSPC, LY_EIO, LY_EPROTO (a stored record is corrupt),
 * LY_ENOMEM; after any error the transaction must be aborted. */
ly_err ly_store_apply(ly_txn *t, const ly_event *ev, ly_apply *outcome, ly_cust *cust_after);

/* As ly_store_apply, with `c` the customer's state in and out. With `known`,
 * *c is the state ly_store_cust_get gave (LY_OK) for ev_customer in this
 * transaction, and is not decoded again (the service has just read it to
 * build the event); without, *c is only a buffer. Applied, *c is the state
 * after the event; otherwise its contents are unspecified. */
ly_err ly_store_apply_to(ly_txn *t, const ly_event *ev, ly_apply *outcome, ly_cust *c, int known);

/* The next seq this node will give its own events (vv[self] + 1). */
ly_err ly_store_next_seq(ly_txn *t, uint64_t *seq);

ly_err ly_store_cust_get(ly_txn *t, const char *id, ly_cust *out);      /* LY_ENOTFOUND */
ly_err ly_store_txnrec_get(ly_txn *t, const char *txn, ly_txnrec *out); /* LY_ENOTFOUND */
ly_err ly_store_event_get(ly_txn *t, uint16_t origin, uint32_t incarnation, uint64_t seq,
                          ly_event *out); /* LY_ENOTFOUND */

/* Up to `cap` of the customer's events, newest first (by HLC). */
ly_err ly_store_history(ly_txn *t, const char *customer, ly_event *out, size_t cap, size_t *n);

/* Up to `cap` events in key order (origin, incarnation, seq), starting at
 * origin `origin` (0: the first) and seq > `since`. With `origin` nonzero only
 * that origin's events are listed. */
ly_err ly_store_events(ly_txn *t, uint16_t origin, uint64_t since, ly_event *out, size_t cap,
                       size_t *n);

/* Up to `cap` events of (origin, incarnation) with seq > `after`, in seq order
 * (catch-up). Stops at the first missing seq (there is none below the vv). */
ly_err ly_store_events_after(ly_txn *t, uint16_t origin, uint32_t incarnation, uint64_t after,
                             ly_event *out, size_t cap, size_t *n);

/* Up to `cap` customers with a debt, in id order, after customer id `after`
 * ("" or NULL: from the first). *more = 1 if there are more. */
ly_err ly_store_debts(ly_txn *t, const char *after, ly_cust *out, size_t cap, size_t *n, int *more);

/* Whether held event `ev` counts for its once key (rules.h): *counts = 1, or
 * 0 and the id of the event that counts in *win_origin, *win_seq. */
ly_err ly_store_once_counts(ly_txn *t, const ly_event *ev, int *counts, uint16_t *win_origin,
                            uint64_t *win_seq);

#define LY_ONCE_LIST_MAX 4 /* events listed per conflict */

/* A once key whose events carry different requests. */
typedef struct ly_once_group {
    char og_key[LY_ONCE_KEY_MAX + 1];
    uint32_t og_total; /* events with the key */
    uint32_t og_n;     /* listed below: the first in the once order */
    uint8_t og_counts[LY_ONCE_LIST_MAX];
    ly_event og_ev[LY_ONCE_LIST_MAX];
} ly_once_group;

/* Up to `cap` conflicts in key order, after key `after` ("" or NULL: from the
 * first). *more = 1 if there are more. */
ly_err ly_store_conflicts(ly_txn *t, const char *after, ly_once_group *out, size_t cap, size_t *n,
                          int *more);

/* ---- programs (the loyalty program as chain data, program.h) ----
 *
 * A program version travels as part events (event.h LY_EV_PROGRAM). When its
 * last part is applied the store assembles it, checks its hash and decodes it,
 * and records it under its version. Two versions with the same number (made
 * at branches that could not see each other) are decided like once keys: the
 * first in the once order (hlc, origin, incarnation, seq of its first part)
 * counts at every node, the other is listed as lost. The program in force at
 * a time T is the highest version held whose effective time is T or earlier
 * (0: from when it is held); the same events give the same answer everywhere. */

#define LY_PROG_LOST_MAX 4

typedef struct ly_progid {
    uint16_t pi_origin; /* the first part's event id */
    uint32_t pi_incarnation;
    uint64_t pi_seq;
    uint64_t pi_hlc;  /* when it was applied (its first part's clock) */
    uint64_t pi_hash; /* ly_progdef_hash */
    char pi_operator[LY_ID_MAX + 1];
    char pi_name[LY_PD_NAME_MAX + 1]; /* the program's name */
} ly_progid;

typedef struct ly_progrec {
    uint32_t pr_version;
    uint32_t pr_len;         /* canonical bytes */
    int64_t pr_effective_ms; /* 0: at once */
    char pr_name[LY_PD_NAME_MAX + 1];
    char pr_reason[LY_TEXT_MAX + 1];
    int pr_ntiers; /* tier names, for history lines of events made under it */
    char pr_tiers[LY_TIERS_MAX][LY_TIER_NAME_MAX + 1];
    ly_progid pr_win;  /* the one that counts */
    uint32_t pr_nlost; /* versions with this number that lost; the first listed below */
    ly_progid pr_lost[LY_PROG_LOST_MAX];
} ly_progrec;

/* Up to `cap` version records, highest version first, below version `below`
 * (0: from the highest). */
ly_err ly_store_programs(ly_txn *t, uint32_t below, ly_progrec *out, size_t cap, size_t *n);

/* Version `version`'s record and (if `def` is not NULL) its definition.
 * LY_ENOTFOUND if no complete valid version of that number is held. */
ly_err ly_store_program_get(ly_txn *t, uint32_t version, ly_progrec *rec, ly_progdef *def);

/* The version in force at `ms` (UTC ms since the epoch), as above;
 * LY_ENOTFOUND if none (the chain runs ly_progdef_default). The soonest version
 * scheduled after `ms` goes in *next_version, *next_ms (0, 0 if none). */
ly_err ly_store_program_at(ly_txn *t, uint64_t ms, ly_progrec *rec, ly_progdef *def,
                           uint32_t *next_version, int64_t *next_ms);

/* A number that changes whenever the versions held may have (a version
 * recorded, or a batch rolled back): a reader caching the program in force
 * reads again when it differs. Distinct for every store opened in the process. */
uint64_t ly_store_programs_gen(const ly_store *s);

typedef struct ly_vv_entry {
    uint16_t vv_origin;
    uint32_t vv_incarnation;
    uint64_t vv_seq;
} ly_vv_entry;

/* The version vector; *n may exceed `cap` (then only `cap` entries were written). */
ly_err ly_store_vv(ly_txn *t, ly_vv_entry *out, size_t cap, size_t *n);

typedef struct ly_store_stats {
    uint64_t st_events;
    uint64_t st_customers;
    uint64_t st_digest;     /* sum over customers of ly_cust_hash, mod 2^64 */
    uint64_t st_hlc;        /* highest HLC of any event held */
    uint64_t st_duplicates; /* events void as duplicates of their once key's winner */
    uint64_t st_conflicts;  /* once keys whose events carry different requests */
    uint64_t st_map_size;
    uint64_t st_used;        /* bytes of the map in use */
    uint64_t st_wal_bytes;   /* log written since the last checkpoint */
    uint64_t st_unckpt;      /* events applied since the last checkpoint (in the log only) */
    uint64_t st_checkpoints; /* checkpoints since the store was opened */
    uint64_t st_ckpt_ms;     /* duration of the last checkpoint */
    ly_err st_write_err;     /* LY_OK, or why the last write (log append or checkpoint) failed */
} ly_store_stats;

ly_err ly_store_stats_get(ly_txn *t, ly_store_stats *out);

#endif
