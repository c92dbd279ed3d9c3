/* store.c -- the LMDB store: see store.h for the layout and the contract. */
#include "common/store.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "common/hash.h"
#include "common/hlc.h"
#include "common/log.h"
#include "common/program.h"
#include "common/record.h"
#include "common/rules.h"
#include "common/wal.h"

#define LY_PATH_MAX_STORE 4200
#define S_DEFAULT_MAP     (64ULL << 20)
#define S_LOW_SPACE       (16ULL << 20) /* below this much free disk, a failed write means "full" */
#define S_CKPT_RETRY_MS   1000
#define S_WAL_PREALLOC    (16ULL << 20)
#define S_CKPT_SLOW_MS    100
#define S_REC_KEEP        (8u << 20) /* a larger log record buffer is freed after its batch */

struct ly_store {
    MDB_env *st_env;
    MDB_dbi st_events, st_customers, st_hist, st_vv, st_txn, st_meta, st_debts, st_once,
        st_programs;
    uint64_t st_programs_gen; /* bumped by every change to programs, and by every rollback */
    uint16_t st_node_id;
    uint32_t st_incarnation;
    uint64_t st_map_size;
    uint64_t st_map_max;
    int st_need_grow; /* a write ran out of map: grow at the next abort */
    int st_open_txns;
    char st_path[LY_PATH_MAX_STORE]; /* the data file, for disk-full diagnosis */

    /* Log first: everything since the last checkpoint is in st_parent (not yet
     * committed to LMDB) and in the log (durable). */
    MDB_txn *st_parent; /* NULL until needed again after a checkpoint or a rollback */
    int st_batch;       /* a write batch is open on st_parent */
    ly_wal *st_wal;
    uint64_t st_epoch; /* checkpoint number: the log's records carry it */
    uint8_t *st_rec;   /* the open batch's log record: header room, events, trailer room */
    size_t st_rec_len; /* bytes used, header room included */
    size_t st_rec_cap;
    uint32_t st_rec_count;   /* events in it */
    uint64_t st_unckpt;      /* events applied since the last checkpoint */
    uint64_t st_ckpt_at;     /* monotonic ms of the last checkpoint (or failed attempt) */
    uint32_t st_ckpt_ms_cfg; /* policy */
    uint32_t st_ckpt_events_cfg;
    ly_err st_ckpt_err;  /* the last checkpoint failed: writes are refused with this */
    ly_err st_write_err; /* why the last write failed (log or checkpoint); LY_OK once one works */
    uint64_t st_checkpoints;
    uint64_t st_ckpt_last_ms;
    uint64_t st_wal_keep; /* the log file is cut back to this size at a checkpoint */
};

struct ly_txn {
    ly_store *tx_store;
    MDB_txn *tx_txn;
    int tx_write;
    int tx_replay;      /* replaying the log: applied events are not logged again */
    int tx_failed;      /* a write failed: the transaction may only be aborted */
    int tx_meta_loaded; /* the counters below were read from meta */
    int tx_meta_dirty;
    uint64_t tx_events, tx_customers, tx_digest, tx_hlc, tx_duplicates, tx_conflicts;
};

static uint64_t s_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* LMDB reports a short write (what a nearly full disk or the file size limit
 * gives) as EIO. After a failed write, tell "full" from other I/O errors. */
static int s_disk_full(const ly_store *s)
{
    struct statvfs vfs;
    struct stat st;
    struct rlimit lim;
    if (statvfs(s->st_path, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < S_LOW_SPACE)
        return 1;
    if (stat(s->st_path, &st) == 0 && getrlimit(RLIMIT_FSIZE, &lim) == 0 &&
        lim.rlim_cur != RLIM_INFINITY && (uint64_t)st.st_size + (1 << 20) > lim.rlim_cur)
        return 1;
    return 0;
}

/* Translate an LMDB or errno code, logging the raw one. */
static ly_err s_err(ly_txn *t, int rc, const char *what)
{
    if (rc == EIO && t && s_disk_full(t->tx_store))
        rc = ENOSPC;
    switch (rc) {
    case 0:
        return LY_OK;
    case MDB_NOTFOUND:
        return LY_ENOTFOUND;
    case MDB_MAP_FULL:
        if (t) {
            t->tx_store->st_need_grow = 1;
            t->tx_failed = 1;
        }
        return LY_ERETRY;
    case ENOSPC:
    case EFBIG:
    case EDQUOT:
        LY_LOG(LY_ERROR, "store.full", "op=%s rc=%d error=\"%s\"", what, rc, mdb_strerror(rc));
        if (t)
            t->tx_failed = 1;
        return LY_ENOSPC;
    case ENOMEM:
        if (t)
            t->tx_failed = 1;
        return LY_ENOMEM;
    default:
        LY_LOG(LY_ERROR, "store.error", "op=%s rc=%d error=\"%s\"", what, rc, mdb_strerror(rc));
        if (t)
            t->tx_failed = 1;
        return LY_EIO;
    }
}

static void s_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t s_unbe(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = (v << 8) | p[i];
    return v;
}

static void s_event_key(uint8_t key[14], uint16_t origin, uint32_t inc, uint64_t seq)
{
    s_be(key, origin, 2);
    s_be(key + 2, inc, 4);
    s_be(key + 6, seq, 8);
}

/* meta values are 8-byte big-endian numbers */
static ly_err s_meta_get(ly_txn *t, const char *name, uint64_t *v)
{
    MDB_val k = {strlen(name), (void *)name}, d;
    int rc = mdb_get(t->tx_txn, t->tx_store->st_meta, &k, &d);
    if (rc == MDB_NOTFOUND) {
        *v = 0;
        return LY_ENOTFOUND;
    }
    if (rc)
        return s_err(t, rc, "meta_get");
    if (d.mv_size != 8)
        return LY_EPROTO;
    *v = s_unbe(d.mv_data, 8);
    return LY_OK;
}

static ly_err s_meta_put(ly_txn *t, const char *name, uint64_t v)
{
    uint8_t b[8];
    s_be(b, v, 8);
    MDB_val k = {strlen(name), (void *)name}, d = {8, b};
    return s_err(t, mdb_put(t->tx_txn, t->tx_store->st_meta, &k, &d, 0), "meta_put");
}

static ly_err s_meta_load(ly_txn *t)
{
    if (t->tx_meta_loaded)
        return LY_OK;
    static const char *const names[] = {"events", "customers",  "digest",
                                        "hlc",    "duplicates", "conflicts"};
    uint64_t *vals[] = {&t->tx_events, &t->tx_customers,  &t->tx_digest,
                        &t->tx_hlc,    &t->tx_duplicates, &t->tx_conflicts};
    for (int i = 0; i < 6; i++) {
        ly_err e = s_meta_get(t, names[i], vals[i]);
        if (e != LY_OK && e != LY_ENOTFOUND)
            return e;
    }
    t->tx_meta_loaded = 1;
    return LY_OK;
}

/* Write the counters back to meta if events changed them. */
static ly_err s_meta_flush(ly_txn *t)
{
    ly_err e = LY_OK;
    if (t->tx_meta_dirty && (e = s_meta_put(t, "events", t->tx_events)) == LY_OK &&
        (e = s_meta_put(t, "customers", t->tx_customers)) == LY_OK &&
        (e = s_meta_put(t, "digest", t->tx_digest)) == LY_OK &&
        (e = s_meta_put(t, "duplicates", t->tx_duplicates)) == LY_OK &&
        (e = s_meta_put(t, "conflicts", t->tx_conflicts)) == LY_OK)
        e = s_meta_put(t, "hlc", t->tx_hlc);
    if (e == LY_OK)
        t->tx_meta_dirty = 0;
    return e;
}

/* ---- the log ---- */

/* Add an applied event's record to the open batch's log record (ly_event_frame). */
static ly_err s_rec_add(ly_store *s, const uint8_t *ev, size_t len)
{
    size_t need = s->st_rec_len + LY_EVENT_FRAME_HDR + len + LY_WAL_TRAILER;
    if (need > s->st_rec_cap) {
        size_t cap = s->st_rec_cap ? s->st_rec_cap : 64 << 10;
        while (cap < need)
            cap *= 2;
        uint8_t *nb = realloc(s->st_rec, cap);
        if (!nb)
            return LY_ENOMEM;
        s->st_rec = nb;
        s->st_rec_cap = cap;
    }
    s->st_rec_len += ly_event_frame(s->st_rec + s->st_rec_len, ev, len);
    s->st_rec_count++;
    return LY_OK;
}

typedef struct s_replay {
    ly_txn *rp_txn;
    uint64_t rp_events;
} s_replay;

/* Apply one log record again (ly_wal_fn). Every event in it follows the
 * checkpoint, so anything but "applied" or "duplicate" means the log and the
 * checkpoint disagree: the store is refused rather than guessed at. */
static int s_replay_record(void *arg, const uint8_t *p, size_t len, uint32_t count)
{
    s_replay *r = arg;
    size_t pos = 0;
    ly_event *ev = malloc(sizeof *ev);
    if (!ev)
        return LY_ENOMEM;
    ly_err e = LY_OK;
    for (uint32_t i = 0; i < count && e == LY_OK; i++) {
        ly_apply out;
        if ((e = ly_event_unframe(p, len, &pos, ev)) != LY_OK ||
            (e = ly_store_apply(r->rp_txn, ev, &out, NULL)) != LY_OK)
            break;
        if (out == LY_GAP || out == LY_WAITING) {
            LY_LOG(LY_ERROR, "store.log_mismatch",
                   "origin=%u seq=%llu outcome=%s: the log does not follow the checkpoint",
                   ev->ev_origin, (unsigned long long)ev->ev_seq,
                   out == LY_GAP ? "gap" : "waiting");
            e = LY_EPROTO;
        } else if (out == LY_APPLIED) {
            r->rp_events++;
        }
    }
    if (e == LY_OK && pos != len)
        e = LY_EPROTO;
    free(ev);
    return (int)e;
}

static void s_grow(ly_store *s);

/* Make sure the long write transaction is open: begin it on the last
 * checkpoint and replay the log into it, growing the map if the replay needs
 * room. *replayed (may be NULL) receives how many events the log gave back. */
static ly_err s_parent_open(ly_store *s, uint64_t *replayed)
{
    if (replayed)
        *replayed = 0;
    if (s->st_parent)
        return LY_OK;
    for (int attempt = 0; attempt < 64; attempt++) {
        int rc = mdb_txn_begin(s->st_env, NULL, 0, &s->st_parent);
        if (rc) {
            s->st_parent = NULL;
            return s_err(NULL, rc, "begin");
        }
        ly_txn t = {.tx_store = s, .tx_txn = s->st_parent, .tx_write = 1, .tx_replay = 1};
        s_replay r = {&t, 0};
        ly_err e = ly_wal_scan(s->st_wal, s->st_epoch, s_replay_record, &r, NULL);
        if (e == LY_OK)
            e = s_meta_flush(&t);
        if (e == LY_OK) {
            s->st_unckpt = r.rp_events;
            if (replayed)
                *replayed = r.rp_events;
            return LY_OK;
        }
        mdb_txn_abort(s->st_parent);
        s->st_parent = NULL;
        if (e != LY_ERETRY)
            return e;
        s_grow(s);
    }
    return LY_ENOSPC;
}

/* Drop everything not yet in the log: the open transaction goes; the next use
 * begins a new one from the checkpoint and the log. */
static void s_rollback(ly_store *s)
{
    s->st_programs_gen++; /* a program the batch held is gone: readers look again */
    if (s->st_parent)
        mdb_txn_abort(s->st_parent);
    s->st_parent = NULL;
    s->st_batch = 0;
}

static ly_err s_open_dbis(ly_store *s, MDB_txn *txn)
{
    int rc;
    if ((rc = mdb_dbi_open(txn, "events", MDB_CREATE, &s->st_events)) ||
        (rc = mdb_dbi_open(txn, "customers", MDB_CREATE, &s->st_customers)) ||
        (rc = mdb_dbi_open(txn, "hist", MDB_CREATE, &s->st_hist)) ||
        (rc = mdb_dbi_open(txn, "vv", MDB_CREATE, &s->st_vv)) ||
        (rc = mdb_dbi_open(txn, "txn", MDB_CREATE, &s->st_txn)) ||
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &s->st_meta)) ||
        (rc = mdb_dbi_open(txn, "debts", MDB_CREATE, &s->st_debts)) ||
        (rc = mdb_dbi_open(txn, "once", MDB_CREATE, &s->st_once)) ||
        (rc = mdb_dbi_open(txn, "programs", MDB_CREATE, &s->st_programs)))
        return s_err(NULL, rc, "dbi_open");
    return LY_OK;
}

static void s_why(char *why, size_t len, const char *fmt, const char *a, const char *b)
{
    if (why && len)
        snprintf(why, len, fmt, a, b);
}

static ly_err s_programs_reindex(ly_store *s, int force);

ly_err ly_store_open(const char *dir, uint16_t node_id, const ly_store_opts *opts, ly_store **out,
                     char *why, size_t why_len)
{
    ly_err e;
    int rc;
    *out = NULL;
    ly_store *s = calloc(1, sizeof *s);
    if (!s)
        return LY_ENOMEM;
    s->st_node_id = node_id;
    /* Distinct per open, so a reader's cache of another store (or of this one
     * before a reopen) never looks current (not thread-safe: one thread per store). */
    static uint64_t opens;
    s->st_programs_gen = ++opens << 32;
    s->st_map_size = opts && opts->so_map_size ? opts->so_map_size : S_DEFAULT_MAP;
    s->st_map_max = opts ? opts->so_map_max : 0;
    s->st_ckpt_ms_cfg =
        opts && opts->so_checkpoint_ms ? opts->so_checkpoint_ms : LY_STORE_CHECKPOINT_MS;
    s->st_ckpt_events_cfg = opts && opts->so_checkpoint_events ? opts->so_checkpoint_events
                                                               : LY_STORE_CHECKPOINT_EVENTS;
    s->st_wal_keep = opts && opts->so_wal_prealloc ? opts->so_wal_prealloc : S_WAL_PREALLOC;
    if ((rc = mdb_env_create(&s->st_env)) != 0) {
        free(s);
        return s_err(NULL, rc, "env_create");
    }
    snprintf(s->st_path, sizeof s->st_path, "%s/data.mdb", dir);
    mdb_env_set_maxdbs(s->st_env, 9);
    mdb_env_set_mapsize(s->st_env, s->st_map_size);
    /* Default flags: every commit is synced (durable). No MDB_WRITEMAP: it turns
     * disk-full into SIGBUS. MDB_NOTLS: read transactions are not tied to threads. */
    if ((rc = mdb_env_open(s->st_env, dir, MDB_NOTLS, 0600)) != 0) {
        s_why(why, why_len, "cannot open store in '%s': %s", dir, mdb_strerror(rc));
        e = rc == ENOSPC ? LY_ENOSPC : LY_EIO;
        goto fail_env;
    }
    MDB_envinfo info;
    mdb_env_info(s->st_env, &info);
    s->st_map_size = info.me_mapsize; /* an existing, larger store keeps its size */
    int dead = 0;
    mdb_reader_check(s->st_env, &dead);
    if (dead)
        LY_LOG(LY_WARN, "store.stale_readers", "cleared=%d", dead);
    /* The log first: its lock keeps a second loyald out before anything is written. */
    char walpath[LY_PATH_MAX_STORE];
    snprintf(walpath, sizeof walpath, "%s/wal", dir);
    if ((e = ly_wal_open(walpath, s->st_wal_keep, &s->st_wal, why, why_len)) != LY_OK)
        goto fail_env;

    MDB_txn *txn;
    if ((rc = mdb_txn_begin(s->st_env, NULL, 0, &txn)) != 0) {
        s_why(why, why_len, "cannot begin a transaction in '%s': %s", dir, mdb_strerror(rc));
        e = s_err(NULL, rc, "open_begin");
        goto fail_env;
    }
    if ((e = s_open_dbis(s, txn)) != LY_OK) {
        s_why(why, why_len, "cannot open the databases in '%s'%s", dir, "");
        goto fail_txn;
    }
    ly_txn t = {.tx_store = s, .tx_txn = txn, .tx_write = 1};
    uint64_t schema = 0, stored_id = 0, inc = 0;
    e = s_meta_get(&t, "schema", &schema);
    if (e == LY_ENOTFOUND) {
        /* A new store: incarnations are creation times in seconds, so a store
         * rebuilt later has a larger one and sequence numbers are never reused. */
        inc = ly_wall_ms() / 1000;
        /* A log left behind by an earlier store in this directory belongs to
         * another history: start at an epoch its records cannot carry. */
        s->st_epoch = ly_wall_ms();
        if ((e = s_meta_put(&t, "schema", LY_SCHEMA_VERSION)) ||
            (e = s_meta_put(&t, "wal_epoch", s->st_epoch)) ||
            (e = s_meta_put(&t, "node_id", node_id)) || (e = s_meta_put(&t, "incarnation", inc)) ||
            (e = s_meta_put(&t, "events", 0)) || (e = s_meta_put(&t, "customers", 0)) ||
            (e = s_meta_put(&t, "digest", 0)) || (e = s_meta_put(&t, "hlc", 0))) {
            s_why(why, why_len, "cannot initialise the store in '%s': %s", dir, ly_strerror(e));
            goto fail_txn;
        }
        LY_LOG(LY_INFO, "store.created", "dir=%s node=%u incarnation=%llu", dir, node_id,
               (unsigned long long)inc);
    } else if (e != LY_OK) {
        s_why(why, why_len, "cannot read the store in '%s': %s", dir, ly_strerror(e));
        goto fail_txn;
    } else {
        if (schema != LY_SCHEMA_VERSION) {
            char a[32], b[32];
            snprintf(a, sizeof a, "%llu", (unsigned long long)schema);
            snprintf(b, sizeof b, "%d", LY_SCHEMA_VERSION);
            s_why(why, why_len, "store has schema version %s; this loyald reads version %s", a, b);
            e = LY_EVERSION;
            goto fail_txn;
        }
        if ((e = s_meta_get(&t, "node_id", &stored_id)) ||
            (e = s_meta_get(&t, "incarnation", &inc)))
            goto fail_txn;
        e = s_meta_get(&t, "wal_epoch", &s->st_epoch);
        if (e != LY_OK && e != LY_ENOTFOUND)
            goto fail_txn;
        if (stored_id != node_id) {
            char a[32], b[32];
            snprintf(a, sizeof a, "%llu", (unsigned long long)stored_id);
            snprintf(b, sizeof b, "%u", node_id);
            s_why(why, why_len, "store belongs to node %s, not to node %s (wrong data_dir?)", a, b);
            e = LY_ECONFIG;
            goto fail_txn;
        }
    }
    s->st_incarnation = (uint32_t)inc;
    if ((rc = mdb_txn_commit(txn)) != 0) {
        s_why(why, why_len, "cannot initialise the store in '%s': %s", dir, mdb_strerror(rc));
        e = s_err(NULL, rc, "open_commit");
        goto fail_env;
    }

    /* Complete the checkpoint with the log, and make that a checkpoint. */
    uint64_t t0 = s_mono_ms(), replayed = 0;
    if ((e = s_parent_open(s, &replayed)) != LY_OK) {
        s_why(why, why_len, "cannot replay the store's log in '%s': %s", dir, ly_strerror(e));
        goto fail_env;
    }
    if (replayed > 0) {
        LY_LOG(LY_INFO, "store.recovered", "events=%llu ms=%llu", (unsigned long long)replayed,
               (unsigned long long)(s_mono_ms() - t0));
        if ((e = ly_store_checkpoint(s)) != LY_OK)
            LY_LOG(LY_WARN, "store.checkpoint_deferred", "error=%s; the log keeps the events",
                   ly_errname(e));
    }
    if ((e = s_programs_reindex(s, opts && opts->so_reindex_programs)) != LY_OK) {
        s_why(why, why_len, "cannot index the program versions in '%s': %s", dir, ly_strerror(e));
        goto fail_env;
    }
    s->st_ckpt_at = s_mono_ms();
    *out = s;
    return LY_OK;

fail_txn:
    mdb_txn_abort(txn);
fail_env:
    s_rollback(s);
    mdb_env_close(s->st_env);
    ly_wal_close(&s->st_wal);
    free(s);
    return e;
}

static void s_close(ly_store **sp, int checkpoint)
{
    if (!sp || !*sp)
        return;
    ly_store *s = *sp;
    if (checkpoint && s->st_parent && s->st_unckpt > 0) {
        ly_err e = ly_store_checkpoint(s);
        if (e != LY_OK)
            LY_LOG(LY_WARN, "store.close_checkpoint_failed",
                   "error=%s; the log keeps the events for the next start", ly_errname(e));
    }
    s_rollback(s);
    mdb_env_close(s->st_env);
    ly_wal_close(&s->st_wal);
    free(s->st_rec);
    free(s);
    *sp = NULL;
}

void ly_store_close(ly_store **sp)
{
    s_close(sp, 1);
}

void ly_store_close_abrupt(ly_store **sp)
{
    s_close(sp, 0);
}

static ly_err s_checkpoint_once(ly_store *s);

/* A checkpoint whose commit finds the map full (LMDB needs pages for its free
 * list at commit) loses its transaction but not the log: grow the map and
 * checkpoint again at once, replaying the log into a new transaction, rather
 * than refuse writes until the next attempt. */
ly_err ly_store_checkpoint(ly_store *s)
{
    if (s->st_batch || s->st_open_txns > 0)
        return LY_EINTERNAL;
    ly_err e = LY_ERETRY;
    for (int attempt = 0; attempt < 16 && e == LY_ERETRY; attempt++) {
        if (attempt > 0)
            s_grow(s);
        e = s_checkpoint_once(s);
    }
    return e;
}

static ly_err s_checkpoint_once(ly_store *s)
{
    ly_err e = s_parent_open(s, NULL);
    if (e != LY_OK)
        return e;
    uint64_t t0 = s_mono_ms(), events = s->st_unckpt, bytes = ly_wal_offset(s->st_wal);
    ly_txn t = {.tx_store = s, .tx_txn = s->st_parent, .tx_write = 1};
    /* The new epoch goes in with the pages: the records of the old one, still
     * in the log, are then never replayed on top of the state that holds them. */
    if ((e = s_meta_put(&t, "wal_epoch", s->st_epoch + 1)) != LY_OK) {
        s_rollback(s);
        s_grow(s);
        return e;
    }
    int rc = mdb_txn_commit(s->st_parent); /* synced; frees the transaction either way */
    s->st_parent = NULL;
    s->st_ckpt_at = s_mono_ms();
    if (rc) {
        /* LMDB writes its meta page last, so the checkpoint on disk is still
         * the previous one, and the log still holds everything after it. */
        e = s_err(&t, rc, "checkpoint");
        if (e == LY_ERETRY && s->st_need_grow && (!s->st_map_max || s->st_map_size < s->st_map_max))
            return e; /* the caller grows the map and tries again */
        if (e == LY_ERETRY)
            e = LY_ENOSPC; /* the map may not grow any more */
        if (s->st_ckpt_err == LY_OK)
            LY_LOG(LY_ERROR, "store.checkpoint_failed",
                   "error=%s events=%llu; writes are refused until a checkpoint succeeds",
                   ly_errname(e), (unsigned long long)events);
        s->st_ckpt_err = e;
        s->st_write_err = e;
        return e;
    }
    if (s->st_ckpt_err != LY_OK)
        LY_LOG(LY_INFO, "store.checkpoint_recovered", "events=%llu; writes accepted again",
               (unsigned long long)events);
    s->st_ckpt_err = LY_OK;
    s->st_write_err = LY_OK;
    s->st_epoch++;
    ly_wal_rewind(s->st_wal, s->st_wal_keep);
    s->st_unckpt = 0;
    s->st_checkpoints++;
    s->st_ckpt_last_ms = s->st_ckpt_at - t0;
    /* A checkpoint holds the loop: a slow one shows in reply latencies. */
    LY_LOG(s->st_ckpt_last_ms >= S_CKPT_SLOW_MS ? LY_INFO : LY_DEBUG, "store.checkpoint",
           "events=%llu log_bytes=%llu ms=%llu", (unsigned long long)events,
           (unsigned long long)bytes, (unsigned long long)s->st_ckpt_last_ms);
    return LY_OK;
}

ly_err ly_store_checkpoint_due(ly_store *s)
{
    uint64_t now_ms = s_mono_ms(), since = now_ms > s->st_ckpt_at ? now_ms - s->st_ckpt_at : 0;
    int due = s->st_ckpt_err != LY_OK ? since >= S_CKPT_RETRY_MS
                                      : s->st_unckpt >= s->st_ckpt_events_cfg ||
                                            (s->st_unckpt > 0 && since >= s->st_ckpt_ms_cfg);
    return due ? ly_store_checkpoint(s) : LY_OK;
}

uint16_t ly_store_node_id(const ly_store *s)
{
    return s->st_node_id;
}

uint32_t ly_store_incarnation(const ly_store *s)
{
    return s->st_incarnation;
}

uint64_t ly_store_map_size(const ly_store *s)
{
    return s->st_map_size;
}

ly_err ly_store_begin(ly_store *s, int write, ly_txn **out)
{
    *out = NULL;
    if (s->st_batch || (write && s->st_open_txns > 0)) {
        LY_LOG(LY_ERROR, "store.misuse", "write=%d: a write batch or a read is already open",
               write);
        return LY_EINTERNAL;
    }
    ly_err e = s_parent_open(s, NULL);
    if (e != LY_OK)
        return e;
    ly_txn *t = calloc(1, sizeof *t);
    if (!t)
        return LY_ENOMEM;
    t->tx_txn = s->st_parent;
    t->tx_store = s;
    t->tx_write = write;
    if (write) {
        s->st_batch = 1;
        s->st_rec_len = LY_WAL_HEADER;
        s->st_rec_count = 0;
    }
    s->st_open_txns++;
    *out = t;
    return LY_OK;
}

static void s_grow(ly_store *s)
{
    if (!s->st_need_grow || s->st_open_txns > 0 || s->st_parent)
        return;
    uint64_t next = s->st_map_size * 2;
    if (s->st_map_max && next > s->st_map_max)
        next = s->st_map_max;
    if (next <= s->st_map_size) {
        LY_LOG(LY_ERROR, "store.map_max", "map_size=%llu: the configured maximum is reached",
               (unsigned long long)s->st_map_size);
        return;
    }
    int rc = mdb_env_set_mapsize(s->st_env, next);
    if (rc) {
        LY_LOG(LY_ERROR, "store.grow_failed", "to=%llu rc=%d error=\"%s\"",
               (unsigned long long)next, rc, mdb_strerror(rc));
        return;
    }
    LY_LOG(LY_INFO, "store.grew", "from=%llu to=%llu", (unsigned long long)s->st_map_size,
           (unsigned long long)next);
    s->st_map_size = next;
    s->st_need_grow = 0;
}

static void s_txn_free(ly_txn *t)
{
    ly_store *s = t->tx_store;
    s->st_open_txns--;
    free(t);
    s_grow(s);
}

void ly_store_abort(ly_txn **tp)
{
    if (!tp || !*tp)
        return;
    if ((*tp)->tx_write)
        s_rollback((*tp)->tx_store); /* a read only ends its view */
    s_txn_free(*tp);
    *tp = NULL;
}

ly_err ly_store_commit(ly_txn **tp)
{
    ly_txn *t = *tp;
    *tp = NULL;
    if (!t->tx_write) {
        s_txn_free(t);
        return LY_OK;
    }
    ly_store *s = t->tx_store;
    ly_err e = t->tx_failed ? LY_EINTERNAL : s_meta_flush(t);
    if (e == LY_OK && s->st_rec_count > 0) {
        /* The commit point: the batch's events, in apply order, synced in the log. */
        e = s->st_ckpt_err != LY_OK ? s->st_ckpt_err
                                    : ly_wal_append(s->st_wal, s->st_epoch, s->st_rec,
                                                    s->st_rec_len - LY_WAL_HEADER, s->st_rec_count);
        if (e == LY_EIO && s_disk_full(s))
            e = LY_ENOSPC;
        s->st_write_err = e;
    }
    if (e != LY_OK) {
        s_rollback(s);
        s_txn_free(t);
        return e;
    }
    s->st_unckpt += s->st_rec_count;
    s->st_batch = 0;
    if (s->st_rec_cap > S_REC_KEEP) { /* a rare huge batch (a long catch-up reply) */
        free(s->st_rec);
        s->st_rec = NULL;
        s->st_rec_cap = 0;
    }
    s_txn_free(t);
    return LY_OK;
}

/* ---- transaction records ---- */

#define S_TXNREC_VERSION 1
#define S_TXNREC_SIZE    (1 + 8 + 2 + 4 + 8 + 8 + 1 + 1 + 8 * 3 + 4 + 8 * 6 + 1 + LY_ID_MAX)

static size_t s_txnrec_encode(const ly_txnrec *r, uint8_t *b)
{
    ly_wr w = {b};
    ly_wr_int(&w, S_TXNREC_VERSION, 1);
    ly_wr_int(&w, r->tr_req_hash, 8);
    ly_wr_int(&w, r->tr_origin, 2);
    ly_wr_int(&w, r->tr_incarnation, 4);
    ly_wr_int(&w, r->tr_seq, 8);
    ly_wr_int(&w, r->tr_hlc, 8);
    ly_wr_int(&w, r->tr_type, 1);
    ly_wr_int(&w, r->tr_tier, 1);
    ly_wr_int(&w, (uint64_t)r->tr_amount, 8);
    ly_wr_int(&w, (uint64_t)r->tr_points, 8);
    ly_wr_int(&w, (uint64_t)r->tr_qual, 8);
    ly_wr_int(&w, (uint32_t)r->tr_qual_day, 4);
    ly_wr_int(&w, (uint64_t)r->tr_refunded_amount, 8);
    ly_wr_int(&w, (uint64_t)r->tr_refunded_points, 8);
    ly_wr_int(&w, (uint64_t)r->tr_refunded_qual, 8);
    ly_wr_int(&w, (uint64_t)r->tr_balance, 8);
    ly_wr_int(&w, (uint64_t)r->tr_lifetime, 8);
    ly_wr_int(&w, (uint64_t)r->tr_debt, 8);
    ly_wr_str(&w, r->tr_customer);
    return (size_t)(w.w_p - b);
}

static ly_err s_txnrec_decode(const uint8_t *b, size_t len, ly_txnrec *r)
{
    ly_rd rd = {b, b + len, 0};
    memset(r, 0, sizeof *r);
    if (ly_rd_int(&rd, 1) != S_TXNREC_VERSION)
        return LY_EPROTO;
    r->tr_req_hash = ly_rd_int(&rd, 8);
    r->tr_origin = (uint16_t)ly_rd_int(&rd, 2);
    r->tr_incarnation = (uint32_t)ly_rd_int(&rd, 4);
    r->tr_seq = ly_rd_int(&rd, 8);
    r->tr_hlc = ly_rd_int(&rd, 8);
    r->tr_type = (uint8_t)ly_rd_int(&rd, 1);
    r->tr_tier = (uint8_t)ly_rd_int(&rd, 1);
    r->tr_amount = (int64_t)ly_rd_int(&rd, 8);
    r->tr_points = (int64_t)ly_rd_int(&rd, 8);
    r->tr_qual = (int64_t)ly_rd_int(&rd, 8);
    r->tr_qual_day = (int32_t)(uint32_t)ly_rd_int(&rd, 4);
    r->tr_refunded_amount = (int64_t)ly_rd_int(&rd, 8);
    r->tr_refunded_points = (int64_t)ly_rd_int(&rd, 8);
    r->tr_refunded_qual = (int64_t)ly_rd_int(&rd, 8);
    r->tr_balance = (int64_t)ly_rd_int(&rd, 8);
    r->tr_lifetime = (int64_t)ly_rd_int(&rd, 8);
    r->tr_debt = (int64_t)ly_rd_int(&rd, 8);
    ly_rd_str(&rd, r->tr_customer, sizeof r->tr_customer);
    return ly_rd_done(&rd) ? LY_OK : LY_EPROTO;
}

ly_err ly_store_txnrec_get(ly_txn *t, const char *txn, ly_txnrec *out)
{
    MDB_val k = {strlen(txn), (void *)txn}, d;
    int rc = mdb_get(t->tx_txn, t->tx_store->st_txn, &k, &d);
    if (rc)
        return s_err(rc == MDB_NOTFOUND ? NULL : t, rc, "txn_get");
    return s_txnrec_decode(d.mv_data, d.mv_size, out);
}

static ly_err s_txnrec_put(ly_txn *t, const char *txn, const ly_txnrec *r)
{
    uint8_t buf[S_TXNREC_SIZE];
    MDB_val k = {strlen(txn), (void *)txn}, d = {s_txnrec_encode(r, buf), buf};
    return s_err(t, mdb_put(t->tx_txn, t->tx_store->st_txn, &k, &d, 0), "txn_put");
}

/* ---- customers, events ---- */

ly_err ly_store_cust_get(ly_txn *t, const char *id, ly_cust *out)
{
    MDB_val k = {strlen(id), (void *)id}, d;
    int rc = mdb_get(t->tx_txn, t->tx_store->st_customers, &k, &d);
    if (rc)
        return s_err(rc == MDB_NOTFOUND ? NULL : t, rc, "cust_get");
    return ly_cust_decode(d.mv_data, d.mv_size, out);
}

ly_err ly_store_event_get(ly_txn *t, uint16_t origin, uint32_t incarnation, uint64_t seq,
                          ly_event *out)
{
    uint8_t key[14];
    s_event_key(key, origin, incarnation, seq);
    MDB_val k = {sizeof key, key}, d;
    int rc = mdb_get(t->tx_txn, t->tx_store->st_events, &k, &d);
    if (rc)
        return s_err(rc == MDB_NOTFOUND ? NULL : t, rc, "event_get");
    return ly_event_decode(d.mv_data, d.mv_size, out);
}

static ly_err s_vv_get(ly_txn *t, uint16_t origin, uint32_t inc, uint64_t *seq)
{
    uint8_t key[6];
    s_be(key, origin, 2);
    s_be(key + 2, inc, 4);
    MDB_val k = {sizeof key, key}, d;
    int rc = mdb_get(t->tx_txn, t->tx_store->st_vv, &k, &d);
    *seq = 0;
    if (rc == MDB_NOTFOUND)
        return LY_OK;
    if (rc)
        return s_err(t, rc, "vv_get");
    if (d.mv_size != 8)
        return LY_EPROTO;
    *seq = s_unbe(d.mv_data, 8);
    return LY_OK;
}

ly_err ly_store_next_seq(ly_txn *t, uint64_t *seq)
{
    ly_store *s = t->tx_store;
    ly_err e = s_vv_get(t, s->st_node_id, s->st_incarnation, seq);
    if (e == LY_OK)
        (*seq)++;
    return e;
}

static size_t s_hist_key(uint8_t *key, const char *customer, uint64_t hlc, uint16_t origin,
                         uint32_t inc, uint64_t seq)
{
    size_t n = strlen(customer);
    key[0] = (uint8_t)n;
    memcpy(key + 1, customer, n);
    s_be(key + 1 + n, hlc, 8);
    s_event_key(key + 9 + n, origin, inc, seq);
    return 1 + n + 8 + 14;
}

/* ---- once keys ----
 *
 * The txn index holds one record per once key (rules.h): a client transaction
 * id, or a derived key such as join:<customer>. The record names the event
 * that counts for the key, the smallest in the once order, and the refund
 * totals of the transaction. The `once` index lists, for every key held by
 * two events or more, the ids of all of them (S_ONCE_IDS_MAX at most) and
 * whether their requests differ (a conflict). */

#define S_ONCE_VERSION  1
#define S_ONCE_CONFLICT 1u
#define S_ONCE_IDS_MAX  16
#define S_ONCE_SIZE     (1 + 1 + 4 + S_ONCE_IDS_MAX * 14)

static int s_rec_before(const ly_event *ev, const ly_txnrec *r)
{
    return ly_once_before(ev->ev_hlc, ev->ev_origin, ev->ev_incarnation, ev->ev_seq, r->tr_hlc,
                          r->tr_origin, r->tr_incarnation, r->tr_seq);
}

static int s_rec_is(const ly_txnrec *r, const ly_event *ev)
{
    return r->tr_seq == ev->ev_seq && r->tr_origin == ev->ev_origin &&
           r->tr_incarnation == ev->ev_incarnation;
}

/* The record names `ev` as the event of its key (refund totals are kept). */
static void s_txnrec_win(ly_txnrec *r, const ly_event *ev, const ly_cust *c)
{
    r->tr_req_hash = ev->ev_req_hash;
    r->tr_origin = ev->ev_origin;
    r->tr_incarnation = ev->ev_incarnation;
    r->tr_seq = ev->ev_seq;
    r->tr_hlc = ev->ev_hlc;
    r->tr_type = ev->ev_type;
    r->tr_tier = ev->ev_tier_to;
    r->tr_amount = ev->ev_amount;
    r->tr_points = ev->ev_points;
    r->tr_qual = ev->ev_qual;
    r->tr_qual_day = ev->ev_qual_day;
    r->tr_balance = ly_cust_balance(c);
    r->tr_lifetime = c->cu_lifetime;
    r->tr_debt = ly_cust_debt(c);
    ly_strlcpy(r->tr_customer, ev->ev_customer, sizeof r->tr_customer);
}

/* A second (or later) event `ev` of key `key`, whose record before it was `r`:
 * list it in the once index; `voids`: the key decides what counts (one of the
 * two is a void duplicate); `conflict`: their requests differ. */
/* 1 if events of type `type` have a once key (they may void each other). */
static int s_type_once(int type)
{
    const ly_rule *ru = ly_rule_for(type);
    return ru && (ru->ru_flags & (LY_RU_ONCE_TXN | LY_RU_ONCE_DERIVED));
}

static ly_err s_once_note(ly_txn *t, const char *key, const ly_txnrec *r, const ly_event *ev,
                          int voids, int conflict)
{
    ly_store *s = t->tx_store;
    uint8_t buf[S_ONCE_SIZE];
    MDB_val k = {strlen(key), (void *)key}, d;
    int rc = mdb_get(t->tx_txn, s->st_once, &k, &d);
    uint8_t flags = 0;
    uint32_t total = 0, n = 0;
    if (rc == 0) {
        ly_rd rd = {d.mv_data, (const uint8_t *)d.mv_data + d.mv_size, 0};
        if (ly_rd_int(&rd, 1) != S_ONCE_VERSION || d.mv_size > sizeof buf)
            return LY_EPROTO;
        flags = (uint8_t)ly_rd_int(&rd, 1);
        total = (uint32_t)ly_rd_int(&rd, 4);
        n = (uint32_t)((d.mv_size - 6) / 14);
        memcpy(buf, d.mv_data, d.mv_size);
    } else if (rc == MDB_NOTFOUND) {
        s_event_key(buf + 6, r->tr_origin, r->tr_incarnation, r->tr_seq);
        total = n = 1;
    } else {
        return s_err(t, rc, "once_get");
    }
    if (n < S_ONCE_IDS_MAX)
        s_event_key(buf + 6 + 14 * n++, ev->ev_origin, ev->ev_incarnation, ev->ev_seq);
    total++;
    if (conflict && !(flags & S_ONCE_CONFLICT)) {
        flags |= S_ONCE_CONFLICT;
        t->tx_conflicts++;
        LY_LOG(LY_WARN, "once.conflict",
               "key=%s origin=%u seq=%llu and origin=%u seq=%llu carry different requests; "
               "one counts (loyalctl conflicts)",
               key, ev->ev_origin, (unsigned long long)ev->ev_seq, r->tr_origin,
               (unsigned long long)r->tr_seq);
    }
    if (voids && s_type_once(r->tr_type)) /* of two once events one is void */
        t->tx_duplicates++;
    buf[0] = S_ONCE_VERSION;
    buf[1] = flags;
    s_be(buf + 2, total, 4);
    MDB_val nd = {6 + 14 * (size_t)n, buf};
    return s_err(t, mdb_put(t->tx_txn, s->st_once, &k, &nd, 0), "once_put");
}

/* Keep the record of `key` for `ev`: the smaller of it and the event the
 * record names counts. Returns in *won whether `ev` is now named. `voids`:
 * the key decides what counts; `ids`: it is a transaction id, so two
 * different requests under it are a conflict (two enrollments of one customer
 * under different ids share join:<customer> without conflicting). `known`:
 * the record as s_once_decide read it (all zero: none), or NULL to read it. */
static ly_err s_once_keep(ly_txn *t, const char *key, const ly_event *ev, const ly_cust *c,
                          int voids, int ids, const ly_txnrec *known, int *won)
{
    ly_txnrec r;
    ly_err e = LY_OK;
    if (known)
        r = *known;
    else if ((e = ly_store_txnrec_get(t, key, &r)) == LY_ENOTFOUND)
        memset(&r, 0, sizeof r);
    else if (e != LY_OK)
        return e;
    if (r.tr_seq != 0) {
        int conflict = ids && r.tr_req_hash != ev->ev_req_hash;
        if ((e = s_once_note(t, key, &r, ev, voids, conflict)) != LY_OK)
            return e;
    }
    /* Events with a once key compete among themselves; an event without one
     * (a profile change, a manual tier) that shares a transaction id names
     * the record only while no once event does, so that which one names it
     * never depends on the order of arrival (s_once_decide reads only once
     * events' records). */
    int held_once = r.tr_seq != 0 && s_type_once(r.tr_type);
    *won = r.tr_seq == 0 || (voids && !held_once) || (voids == held_once && s_rec_before(ev, &r));
    if (!*won)
        return LY_OK;
    s_txnrec_win(&r, ev, c); /* refund totals seen before it stay */
    return s_txnrec_put(t, key, &r);
}

/* Add (sign +1) or take back (-1) a refund's part of its original's totals. */
static ly_err s_refund_totals(ly_txn *t, const ly_event *ev, int sign)
{
    ly_txnrec r;
    ly_err e = ly_store_txnrec_get(t, ev->ev_ref_txn, &r);
    if (e == LY_ENOTFOUND) {
        /* The refund arrived before its original (possible across origins). */
        memset(&r, 0, sizeof r);
        r.tr_type = ev->ev_ref_type;
        ly_strlcpy(r.tr_customer, ev->ev_customer, sizeof r.tr_customer);
    } else if (e != LY_OK) {
        return e;
    }
    r.tr_refunded_amount += sign * ev->ev_amount;
    r.tr_refunded_points += sign * ev->ev_points;
    r.tr_refunded_qual += sign * ev->ev_qual;
    return s_txnrec_put(t, ev->ev_ref_txn, &r);
}

/* What the store holds for an event's once key before the event. */
typedef struct s_once {
    size_t so_klen; /* 0: the event has no once key */
    char so_key[LY_ONCE_KEY_MAX + 1];
    ly_txnrec so_rec; /* the key's record; all zero if there is none */
    int so_counts;    /* the event counts */
    int so_had;       /* ... and so_loser, which counted until now, is folded out */
    ly_event so_loser;
} s_once;

/* Keep the transaction index for `ev`, applied to `c` (counted or not, as
 * `o` decided): its transaction id (LY_RU_IX_TXN), its derived once key
 * (LY_RU_ONCE_JOIN), its original's refund totals if it counts
 * (LY_RU_IX_REFUNDS), and those of a refund it folded out. */
static ly_err s_index_txn(ly_txn *t, const ly_rule *ru, const ly_event *ev, const ly_cust *c,
                          const s_once *o)
{
    ly_err e;
    int won;
    /* The once key's record was read by s_once_decide: not again. */
    if ((ru->ru_flags & LY_RU_IX_TXN) && ev->ev_txn[0]) {
        const ly_txnrec *known =
            o->so_klen && strcmp(o->so_key, ev->ev_txn) == 0 ? &o->so_rec : NULL;
        e = s_once_keep(t, ev->ev_txn, ev, c, (ru->ru_flags & LY_RU_ONCE_TXN) != 0, 1, known, &won);
        if (e != LY_OK)
            return e;
    }
    if ((ru->ru_flags & LY_RU_ONCE_DERIVED) && o->so_klen &&
        (e = s_once_keep(t, o->so_key, ev, c, 1, 0, &o->so_rec, &won)) != LY_OK)
        return e;
    if ((ru->ru_flags & LY_RU_IX_REFUNDS) && o->so_counts &&
        (e = s_refund_totals(t, ev, 1)) != LY_OK)
        return e;
    if (o->so_had && o->so_loser.ev_type == LY_EV_REVERSE &&
        (e = s_refund_totals(t, &o->so_loser, -1)) != LY_OK)
        return e;
    return LY_OK;
}

/* Whether `ev` counts for its once key, given what the store holds before
 * it (fills `o`). */
static ly_err s_once_decide(ly_txn *t, const ly_event *ev, s_once *o)
{
    o->so_counts = 1;
    o->so_had = 0;
    memset(&o->so_rec, 0, sizeof o->so_rec);
    if (!(o->so_klen = ly_once_key(ev, o->so_key)))
        return LY_OK;
    ly_txnrec *r = &o->so_rec;
    ly_err e = ly_store_txnrec_get(t, o->so_key, r);
    if (e == LY_ENOTFOUND) {
        memset(r, 0, sizeof *r);
        return LY_OK;
    }
    if (e != LY_OK || r->tr_seq == 0)
        return e;
    if (!s_type_once(r->tr_type))
        return LY_OK; /* an event without a once key names it: no rival (s_once_keep) */
    if (!s_rec_before(ev, r)) {
        o->so_counts = 0;
        return LY_OK;
    }
    o->so_had = 1;
    e = ly_store_event_get(t, r->tr_origin, r->tr_incarnation, r->tr_seq, &o->so_loser);
    if (e != LY_OK) {
        LY_LOG(LY_ERROR, "store.corrupt", "once key %s names origin=%u seq=%llu, not held: %s",
               o->so_key, r->tr_origin, (unsigned long long)r->tr_seq, ly_errname(e));
        t->tx_failed = 1;
        return e == LY_ENOTFOUND ? LY_EPROTO : e;
    }
    return LY_OK;
}

/* Write customer state `c` (key `ck`, whose net was `old_net`): the debts
 * index if it entered or left a debt, the record, and its hash into the
 * digest (the caller took the old one out). */
static ly_err s_cust_put(ly_txn *t, MDB_val *ck, const ly_cust *c, int64_t old_net)
{
    ly_store *s = t->tx_store;
    int rc;
    if ((old_net < 0) != (c->cu_net < 0)) {
        MDB_val dd = {0, ""};
        rc = c->cu_net < 0 ? mdb_put(t->tx_txn, s->st_debts, ck, &dd, 0)
                           : mdb_del(t->tx_txn, s->st_debts, ck, NULL);
        if (rc)
            return s_err(t, rc, "debts_put");
    }
    uint8_t cbuf[LY_CUST_ENC_MAX];
    MDB_val cd = {ly_cust_encode(c, cbuf), cbuf};
    t->tx_digest += ly_hash(cbuf, cd.mv_size);
    if ((rc = mdb_put(t->tx_txn, s->st_customers, ck, &cd, 0)) != 0)
        return s_err(t, rc, "cust_put");
    return LY_OK;
}

/* Fold `loser` (of another customer than the event that beat it) out of its
 * customer's state, keeping the digest and the debts index. */
static ly_err s_fold_out(ly_txn *t, const ly_event *loser)
{
    ly_store *s = t->tx_store;
    ly_cust *c = malloc(sizeof *c);
    if (!c) {
        t->tx_failed = 1;
        return LY_ENOMEM;
    }
    MDB_val ck = {strlen(loser->ev_customer), (void *)loser->ev_customer}, cd;
    ly_err e = LY_OK;
    int rc = mdb_get(t->tx_txn, s->st_customers, &ck, &cd);
    if (rc) {
        e = rc == MDB_NOTFOUND ? LY_EPROTO : s_err(t, rc, "cust_get");
        t->tx_failed = 1;
        goto out;
    }
    t->tx_digest -= ly_hash(cd.mv_data, cd.mv_size);
    if ((e = ly_cust_decode(cd.mv_data, cd.mv_size, c)) != LY_OK) {
        t->tx_failed = 1;
        goto out;
    }
    int64_t old_net = c->cu_net;
    ly_cust_unapply(c, loser);
    e = s_cust_put(t, &ck, c, old_net);
out:
    free(c);
    return e;
}

/* Write `ev` (the next seq of its origin) into the event log and the version
 * vector; `rec` (LY_EVENT_ENC_MAX bytes) receives its record. */
static ly_err s_event_put(ly_txn *t, const ly_event *ev, uint8_t *rec, size_t *rec_len)
{
    ly_store *s = t->tx_store;
    int rc;
    uint8_t key[14];
    s_event_key(key, ev->ev_origin, ev->ev_incarnation, ev->ev_seq);
    MDB_val k = {sizeof key, key}, d = {ly_event_encode(ev, rec), rec};
    *rec_len = d.mv_size;
    if ((rc = mdb_put(t->tx_txn, s->st_events, &k, &d, MDB_NOOVERWRITE)) != 0) {
        if (rc == MDB_KEYEXIST) {
            LY_LOG(LY_ERROR, "store.corrupt", "event origin=%u seq=%llu held beyond the vv",
                   ev->ev_origin, (unsigned long long)ev->ev_seq);
            t->tx_failed = 1;
            return LY_EPROTO;
        }
        return s_err(t, rc, "event_put");
    }
    uint8_t vkey[6], vval[8];
    memcpy(vkey, key, 6);
    s_be(vval, ev->ev_seq, 8);
    MDB_val vk = {sizeof vkey, vkey}, vd = {sizeof vval, vval};
    return s_err(t, mdb_put(t->tx_txn, s->st_vv, &vk, &vd, 0), "vv_put");
}

/* The event is written: log it with the batch and count it. */
static ly_err s_event_done(ly_txn *t, const ly_event *ev, const uint8_t *rec, size_t rec_len,
                           ly_apply *outcome)
{
    if (!t->tx_replay && s_rec_add(t->tx_store, rec, rec_len) != LY_OK) {
        t->tx_failed = 1;
        return LY_ENOMEM;
    }
    t->tx_events++;
    if (ev->ev_hlc > t->tx_hlc)
        t->tx_hlc = ev->ev_hlc;
    t->tx_meta_dirty = 1;
    *outcome = LY_APPLIED;
    return LY_OK;
}

static ly_err s_program_note(ly_txn *t, const ly_event *ev);

ly_err ly_store_apply(ly_txn *t, const ly_event *ev, ly_apply *outcome, ly_cust *cust_after)
{
    ly_cust *c = cust_after ? cust_after : malloc(sizeof *c);
    if (!c) {
        t->tx_failed = 1;
        return LY_ENOMEM;
    }
    ly_err e = ly_store_apply_to(t, ev, outcome, c, 0);
    if (c != cust_after)
        free(c);
    return e;
}

ly_err ly_store_apply_to(ly_txn *t, const ly_event *ev, ly_apply *outcome, ly_cust *c, int known)
{
    ly_store *s = t->tx_store;
    ly_err e;
    int rc;
    uint64_t have;
    if (!t->tx_write || t->tx_failed)
        return LY_EINTERNAL;
    const ly_rule *ru = ly_rule_for(ev->ev_type);
    if (!ru)
        return LY_EPROTO; /* the caller broke the contract: only valid events */
    if ((e = s_meta_load(t)) != LY_OK)
        return e;
    if ((e = s_vv_get(t, ev->ev_origin, ev->ev_incarnation, &have)) != LY_OK)
        return e;
    if (ev->ev_seq <= have) {
        *outcome = LY_DUPLICATE;
        return LY_OK;
    }
    if (ev->ev_seq != have + 1) {
        *outcome = LY_GAP;
        return LY_OK;
    }
    if (ru->ru_flags & LY_RU_NO_CUST) { /* a program part: no customer, no history */
        uint8_t rec[LY_EVENT_ENC_MAX];
        size_t rec_len;
        if ((e = s_event_put(t, ev, rec, &rec_len)) != LY_OK ||
            (e = s_program_note(t, ev)) != LY_OK)
            return e;
        return s_event_done(t, ev, rec, rec_len, outcome);
    }

    /* The customer's state before the event (the caller may have read it). */
    MDB_val ck = {strlen(ev->ev_customer), (void *)ev->ev_customer}, cd;
    uint64_t old_hash = 0;
    int fresh = 0;
    rc = mdb_get(t->tx_txn, s->st_customers, &ck, &cd);
    if (rc == 0) {
        old_hash = ly_hash(cd.mv_data, cd.mv_size);
        if (!known && (e = ly_cust_decode(cd.mv_data, cd.mv_size, c)) != LY_OK) {
            t->tx_failed = 1;
            goto out;
        }
    } else if (rc == MDB_NOTFOUND) {
        ly_cust_init(c, ev->ev_customer);
        fresh = 1;
    } else {
        e = s_err(t, rc, "cust_get");
        goto out;
    }
    /* Causal gate: the origin spent (redeemed, took back, gave away) only rights
     * it held. If here that would drive its rights below zero, a transfer it had
     * received is not here yet: wait for it, as for a gap. What an event spends
     * is its rule's (common/rules/). */
    /* Once: the event counts unless an event of its once key comes before it;
     * if it comes before the one that counted, that one is folded out. */
    s_once once, *o = &once;
    if ((e = s_once_decide(t, ev, o)) != LY_OK)
        goto out;
    /* A void duplicate spends nothing. Once a customer has void events, an
     * origin's spend may rest on a credit that is void here (its earn lost to
     * a duplicate made elsewhere): the gate would wait for ever, so it is off
     * for that customer; it orders, the origin's own check keeps rights sound. */
    int64_t spent = o->so_counts ? ly_rule_spends(ev) : 0;
    if (spent > 0 && c->cu_voided == 0 && ly_cust_rights(c, ev->ev_origin) - spent < 0) {
        *outcome = LY_WAITING;
        goto out;
    }

    uint8_t rec[LY_EVENT_ENC_MAX];
    size_t rec_len;
    if ((e = s_event_put(t, ev, rec, &rec_len)) != LY_OK)
        goto out;

    /* Fold into the customer; the digest moves by (new hash - old hash). */
    if (fresh)
        t->tx_customers++;
    else
        t->tx_digest -= old_hash;
    int64_t old_net = c->cu_net;
    ly_cust_apply_as(c, ev, o->so_counts);
    if (o->so_had && strcmp(o->so_loser.ev_customer, ev->ev_customer) == 0)
        ly_cust_unapply(c, &o->so_loser);
    else if (o->so_had && (e = s_fold_out(t, &o->so_loser)) != LY_OK)
        goto out;
    if ((e = s_cust_put(t, &ck, c, old_net)) != LY_OK)
        goto out;
    uint8_t hkey[1 + LY_ID_MAX + 8 + 14];
    MDB_val hk = {s_hist_key(hkey, ev->ev_customer, ev->ev_hlc, ev->ev_origin, ev->ev_incarnation,
                             ev->ev_seq),
                  hkey},
            hd = {0, ""};
    if ((rc = mdb_put(t->tx_txn, s->st_hist, &hk, &hd, 0)) != 0) {
        e = s_err(t, rc, "hist_put");
        goto out;
    }
    if ((e = s_index_txn(t, ru, ev, c, o)) != LY_OK)
        goto out;
    e = s_event_done(t, ev, rec, rec_len, outcome);
out:
    return e;
}

ly_err ly_store_history(ly_txn *t, const char *customer, ly_event *out, size_t cap, size_t *n)
{
    *n = 0;
    size_t idlen = strlen(customer);
    uint8_t prefix[1 + LY_ID_MAX], seek[1 + LY_ID_MAX + 22];
    prefix[0] = (uint8_t)idlen;
    memcpy(prefix + 1, customer, idlen);
    memcpy(seek, prefix, 1 + idlen);
    memset(seek + 1 + idlen, 0xff, 22);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->tx_txn, t->tx_store->st_hist, &cur);
    if (rc)
        return s_err(NULL, rc, "cursor_open");
    MDB_val k = {sizeof seek - (LY_ID_MAX - idlen), seek}, d;
    rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
    rc = rc == 0 ? mdb_cursor_get(cur, &k, &d, MDB_PREV) : mdb_cursor_get(cur, &k, &d, MDB_LAST);
    ly_err e = LY_OK;
    while (rc == 0 && *n < cap) {
        if (k.mv_size != 1 + idlen + 22 || memcmp(k.mv_data, prefix, 1 + idlen) != 0)
            break;
        const uint8_t *id = (const uint8_t *)k.mv_data + 1 + idlen + 8;
        e = ly_store_event_get(t, (uint16_t)s_unbe(id, 2), (uint32_t)s_unbe(id + 2, 4),
                               s_unbe(id + 6, 8), &out[*n]);
        if (e != LY_OK)
            break;
        (*n)++;
        rc = mdb_cursor_get(cur, &k, &d, MDB_PREV);
    }
    mdb_cursor_close(cur);
    if (e == LY_OK && rc != 0 && rc != MDB_NOTFOUND)
        e = s_err(NULL, rc, "hist_scan");
    return e;
}

ly_err ly_store_events(ly_txn *t, uint16_t origin, uint64_t since, ly_event *out, size_t cap,
                       size_t *n)
{
    *n = 0;
    uint8_t key[14];
    s_event_key(key, origin, 0, 0);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->tx_txn, t->tx_store->st_events, &cur);
    if (rc)
        return s_err(NULL, rc, "cursor_open");
    MDB_val k = {sizeof key, key}, d;
    ly_err e = LY_OK;
    for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0 && *n < cap;
         rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
        if (k.mv_size != 14)
            continue;
        const uint8_t *kp = k.mv_data;
        if (origin && s_unbe(kp, 2) != origin)
            break;
        if (s_unbe(kp + 6, 8) <= since)
            continue;
        if ((e = ly_event_decode(d.mv_data, d.mv_size, &out[*n])) != LY_OK)
            break;
        (*n)++;
    }
    mdb_cursor_close(cur);
    if (e == LY_OK && rc != 0 && rc != MDB_NOTFOUND)
        e = s_err(NULL, rc, "events_scan");
    return e;
}

ly_err ly_store_events_after(ly_txn *t, uint16_t origin, uint32_t incarnation, uint64_t after,
                             ly_event *out, size_t cap, size_t *n)
{
    *n = 0;
    uint8_t key[14];
    s_event_key(key, origin, incarnation, after + 1);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->tx_txn, t->tx_store->st_events, &cur);
    if (rc)
        return s_err(NULL, rc, "cursor_open");
    MDB_val k = {sizeof key, key}, d;
    ly_err e = LY_OK;
    uint64_t want = after + 1;
    for (rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE); rc == 0 && *n < cap;
         rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT), want++) {
        const uint8_t *kp = k.mv_data;
        if (k.mv_size != 14 || memcmp(kp, key, 6) != 0 || s_unbe(kp + 6, 8) != want)
            break;
        if ((e = ly_event_decode(d.mv_data, d.mv_size, &out[*n])) != LY_OK)
            break;
        (*n)++;
    }
    mdb_cursor_close(cur);
    if (e == LY_OK && rc != 0 && rc != MDB_NOTFOUND)
        e = s_err(NULL, rc, "events_after");
    return e;
}

/* Open a cursor on `dbi` at its first key strictly after `after` ("" or
 * NULL: at the first key), for the paged listings: LY_OK with *cur open and
 * in *rc the cursor get's code (0, MDB_NOTFOUND, ...), or the error with
 * which the cursor could not be opened. */
static ly_err s_cursor_after(ly_txn *t, MDB_dbi dbi, const char *after, MDB_cursor **cur,
                             MDB_val *k, MDB_val *d, int *rc)
{
    if ((*rc = mdb_cursor_open(t->tx_txn, dbi, cur)) != 0)
        return s_err(NULL, *rc, "cursor_open");
    size_t alen = after ? strlen(after) : 0;
    k->mv_size = alen;
    k->mv_data = (void *)after;
    *rc = alen ? mdb_cursor_get(*cur, k, d, MDB_SET_RANGE) : mdb_cursor_get(*cur, k, d, MDB_FIRST);
    if (*rc == 0 && alen && k->mv_size == alen && memcmp(k->mv_data, after, alen) == 0)
        *rc = mdb_cursor_get(*cur, k, d, MDB_NEXT);
    return LY_OK;
}

ly_err ly_store_debts(ly_txn *t, const char *after, ly_cust *out, size_t cap, size_t *n, int *more)
{
    *n = 0;
    *more = 0;
    MDB_cursor *cur;
    MDB_val k, d;
    int rc;
    ly_err e = s_cursor_after(t, t->tx_store->st_debts, after, &cur, &k, &d, &rc);
    if (e != LY_OK)
        return e;
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
        if (*n == cap) {
            *more = 1;
            break;
        }
        char id[LY_ID_MAX + 1];
        if (k.mv_size > LY_ID_MAX)
            continue;
        memcpy(id, k.mv_data, k.mv_size);
        id[k.mv_size] = '\0';
        if ((e = ly_store_cust_get(t, id, &out[*n])) != LY_OK)
            break;
        (*n)++;
    }
    mdb_cursor_close(cur);
    if (e == LY_OK && rc != 0 && rc != MDB_NOTFOUND)
        e = s_err(NULL, rc, "debts_scan");
    return e;
}

ly_err ly_store_vv(ly_txn *t, ly_vv_entry *out, size_t cap, size_t *n)
{
    *n = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->tx_txn, t->tx_store->st_vv, &cur);
    if (rc)
        return s_err(NULL, rc, "cursor_open");
    MDB_val k, d;
    for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
        if (k.mv_size != 6 || d.mv_size != 8)
            continue;
        if (*n < cap) {
            out[*n].vv_origin = (uint16_t)s_unbe(k.mv_data, 2);
            out[*n].vv_incarnation = (uint32_t)s_unbe((const uint8_t *)k.mv_data + 2, 4);
            out[*n].vv_seq = s_unbe(d.mv_data, 8);
        }
        (*n)++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? LY_OK : s_err(NULL, rc, "vv_scan");
}

ly_err ly_store_once_counts(ly_txn *t, const ly_event *ev, int *counts, uint16_t *win_origin,
                            uint64_t *win_seq)
{
    char key[LY_ONCE_KEY_MAX + 1];
    ly_txnrec r;
    *counts = 1;
    *win_origin = 0;
    *win_seq = 0;
    if (!ly_once_key(ev, key))
        return LY_OK;
    ly_err e = ly_store_txnrec_get(t, key, &r);
    if (e == LY_ENOTFOUND)
        return LY_OK;
    if (e != LY_OK)
        return e;
    if (r.tr_seq != 0 && !s_rec_is(&r, ev)) {
        *counts = 0;
        *win_origin = r.tr_origin;
        *win_seq = r.tr_seq;
    }
    return LY_OK;
}

static int s_ev_cmp(const void *a, const void *b)
{
    const ly_event *x = a, *y = b;
    if (ly_once_before(x->ev_hlc, x->ev_origin, x->ev_incarnation, x->ev_seq, y->ev_hlc,
                       y->ev_origin, y->ev_incarnation, y->ev_seq))
        return -1;
    return ly_once_before(y->ev_hlc, y->ev_origin, y->ev_incarnation, y->ev_seq, x->ev_hlc,
                          x->ev_origin, x->ev_incarnation, x->ev_seq);
}

/* Load conflict `g` (og_key set) from its once entry `d`. */
static ly_err s_conflict_load(ly_txn *t, const MDB_val *d, ly_once_group *g)
{
    const uint8_t *p = d->mv_data;
    size_t n = (d->mv_size - 6) / 14;
    ly_event *evs = calloc(n ? n : 1, sizeof *evs);
    if (!evs)
        return LY_ENOMEM;
    g->og_total = (uint32_t)s_unbe(p + 2, 4);
    ly_err e = LY_OK;
    size_t got = 0;
    for (size_t i = 0; i < n && e == LY_OK; i++) {
        const uint8_t *id = p + 6 + 14 * i;
        e = ly_store_event_get(t, (uint16_t)s_unbe(id, 2), (uint32_t)s_unbe(id + 2, 4),
                               s_unbe(id + 6, 8), &evs[got]);
        if (e == LY_OK)
            got++;
    }
    if (e == LY_OK) {
        qsort(evs, got, sizeof *evs, s_ev_cmp);
        g->og_n = got < LY_ONCE_LIST_MAX ? (uint32_t)got : LY_ONCE_LIST_MAX;
        for (uint32_t i = 0; i < g->og_n && e == LY_OK; i++) {
            uint16_t wo;
            uint64_t ws;
            int counts;
            g->og_ev[i] = evs[i];
            e = ly_store_once_counts(t, &evs[i], &counts, &wo, &ws);
            g->og_counts[i] = (uint8_t)counts;
        }
    }
    free(evs);
    return e;
}

ly_err ly_store_conflicts(ly_txn *t, const char *after, ly_once_group *out, size_t cap, size_t *n,
                          int *more)
{
    *n = 0;
    *more = 0;
    MDB_cursor *cur;
    MDB_val k, d;
    int rc;
    ly_err e = s_cursor_after(t, t->tx_store->st_once, after, &cur, &k, &d, &rc);
    if (e != LY_OK)
        return e;
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
        const uint8_t *p = d.mv_data;
        if (d.mv_size < 6 || p[0] != S_ONCE_VERSION || k.mv_size > LY_ONCE_KEY_MAX) {
            e = LY_EPROTO;
            break;
        }
        if (!(p[1] & S_ONCE_CONFLICT))
            continue;
        if (*n == cap) {
            *more = 1;
            break;
        }
        ly_once_group *g = &out[*n];
        memcpy(g->og_key, k.mv_data, k.mv_size);
        g->og_key[k.mv_size] = '\0';
        if ((e = s_conflict_load(t, &d, g)) != LY_OK)
            break;
        (*n)++;
    }
    mdb_cursor_close(cur);
    if (e == LY_OK && rc != 0 && rc != MDB_NOTFOUND)
        e = s_err(NULL, rc, "once_scan");
    return e;
}

ly_err ly_store_stats_get(ly_txn *t, ly_store_stats *out)
{
    ly_err e = s_meta_load(t);
    if (e != LY_OK)
        return e;
    memset(out, 0, sizeof *out);
    out->st_events = t->tx_events;
    out->st_customers = t->tx_customers;
    out->st_digest = t->tx_digest;
    out->st_hlc = t->tx_hlc;
    out->st_duplicates = t->tx_duplicates;
    out->st_conflicts = t->tx_conflicts;
    MDB_envinfo info;
    MDB_stat st;
    mdb_env_info(t->tx_store->st_env, &info);
    mdb_env_stat(t->tx_store->st_env, &st);
    out->st_map_size = info.me_mapsize;
    out->st_used = (uint64_t)(info.me_last_pgno + 1) * st.ms_psize;
    ly_store *s = t->tx_store;
    out->st_wal_bytes = ly_wal_offset(s->st_wal);
    out->st_unckpt = s->st_unckpt;
    out->st_checkpoints = s->st_checkpoints;
    out->st_ckpt_ms = s->st_ckpt_last_ms;
    out->st_write_err = s->st_write_err;
    return LY_OK;
}

/* ---- programs ---- */

/* programs: version (4, big-endian) -> the version's record: the part events
 * of the version that counts (the first in the once order, like a once key's
 * winner) and up to LY_PROG_LOST_MAX of those that lost, made concurrently
 * with the same number at branches that could not see each other. */
#define S_PROGREC_FORMAT 1

static void s_progid_wr(ly_wr *w, const ly_progid *p)
{
    ly_wr_int(w, p->pi_origin, 2);
    ly_wr_int(w, p->pi_incarnation, 4);
    ly_wr_int(w, p->pi_seq, 8);
    ly_wr_int(w, p->pi_hlc, 8);
    ly_wr_int(w, p->pi_hash, 8);
    ly_wr_str(w, p->pi_operator);
    ly_wr_str(w, p->pi_name);
}

static void s_progid_rd(ly_rd *r, ly_progid *p)
{
    p->pi_origin = (uint16_t)ly_rd_int(r, 2);
    p->pi_incarnation = (uint32_t)ly_rd_int(r, 4);
    p->pi_seq = ly_rd_int(r, 8);
    p->pi_hlc = ly_rd_int(r, 8);
    p->pi_hash = ly_rd_int(r, 8);
    ly_rd_str(r, p->pi_operator, sizeof p->pi_operator);
    ly_rd_str(r, p->pi_name, sizeof p->pi_name);
}

#define S_PROGREC_MAX                                                                              \
    (1 + 4 + 4 + 8 + 1 + LY_PD_NAME_MAX + 1 + LY_TEXT_MAX + 1 +                                    \
     LY_TIERS_MAX * (1 + LY_TIER_NAME_MAX) + 4 + 1 +                                               \
     (1 + LY_PROG_LOST_MAX) * (2 + 4 + 8 + 8 + 8 + 1 + LY_ID_MAX + 1 + LY_PD_NAME_MAX))

static size_t s_progrec_encode(const ly_progrec *r, uint8_t *b)
{
    ly_wr w = {b};
    ly_wr_int(&w, S_PROGREC_FORMAT, 1);
    ly_wr_int(&w, r->pr_version, 4);
    ly_wr_int(&w, r->pr_len, 4);
    ly_wr_int(&w, (uint64_t)r->pr_effective_ms, 8);
    ly_wr_str(&w, r->pr_name);
    ly_wr_str(&w, r->pr_reason);
    ly_wr_int(&w, (uint64_t)r->pr_ntiers, 1);
    for (int i = 0; i < r->pr_ntiers; i++)
        ly_wr_str(&w, r->pr_tiers[i]);
    s_progid_wr(&w, &r->pr_win);
    ly_wr_int(&w, r->pr_nlost, 4);
    uint32_t listed = r->pr_nlost < LY_PROG_LOST_MAX ? r->pr_nlost : LY_PROG_LOST_MAX;
    ly_wr_int(&w, listed, 1);
    for (uint32_t i = 0; i < listed; i++)
        s_progid_wr(&w, &r->pr_lost[i]);
    return (size_t)(w.w_p - b);
}

static ly_err s_progrec_decode(const uint8_t *b, size_t len, ly_progrec *r)
{
    ly_rd rd = {b, b + len, 0};
    memset(r, 0, sizeof *r);
    if (ly_rd_int(&rd, 1) != S_PROGREC_FORMAT)
        return LY_EPROTO;
    r->pr_version = (uint32_t)ly_rd_int(&rd, 4);
    r->pr_len = (uint32_t)ly_rd_int(&rd, 4);
    r->pr_effective_ms = (int64_t)ly_rd_int(&rd, 8);
    ly_rd_str(&rd, r->pr_name, sizeof r->pr_name);
    ly_rd_str(&rd, r->pr_reason, sizeof r->pr_reason);
    r->pr_ntiers = (int)ly_rd_int(&rd, 1);
    if (r->pr_ntiers > LY_TIERS_MAX)
        return LY_EPROTO;
    for (int i = 0; i < r->pr_ntiers; i++)
        ly_rd_str(&rd, r->pr_tiers[i], sizeof r->pr_tiers[i]);
    s_progid_rd(&rd, &r->pr_win);
    r->pr_nlost = (uint32_t)ly_rd_int(&rd, 4);
    uint32_t listed = (uint32_t)ly_rd_int(&rd, 1);
    if (listed > LY_PROG_LOST_MAX || listed > r->pr_nlost)
        return LY_EPROTO;
    for (uint32_t i = 0; i < listed; i++)
        s_progid_rd(&rd, &r->pr_lost[i]);
    return ly_rd_done(&rd) ? LY_OK : LY_EPROTO;
}

static ly_err s_progrec_get(ly_txn *t, uint32_t version, ly_progrec *r)
{
    uint8_t key[4];
    s_be(key, version, 4);
    MDB_val k = {sizeof key, key}, d;
    int rc = mdb_get(t->tx_txn, t->tx_store->st_programs, &k, &d);
    if (rc)
        return s_err(rc == MDB_NOTFOUND ? NULL : t, rc, "program_get");
    return s_progrec_decode(d.mv_data, d.mv_size, r);
}

static ly_err s_progrec_put(ly_txn *t, const ly_progrec *r)
{
    uint8_t key[4], rec[S_PROGREC_MAX];
    s_be(key, r->pr_version, 4);
    MDB_val k = {sizeof key, key}, d = {s_progrec_encode(r, rec), rec};
    t->tx_store->st_programs_gen++;
    return s_err(t, mdb_put(t->tx_txn, t->tx_store->st_programs, &k, &d, 0), "program_put");
}

/* The canonical bytes of the version whose first part is `first` (its parts
 * are the next seqs of its origin: all held when its last part is). */
static ly_err s_program_bytes(ly_txn *t, uint16_t origin, uint32_t inc, uint64_t first,
                              uint8_t *buf, size_t cap, size_t *len, uint64_t *first_hlc)
{
    ly_event *ev = malloc(2 * sizeof *ev);
    if (!ev)
        return LY_ENOMEM;
    ly_event *head = ev + 1;
    ly_err e = LY_OK;
    *len = 0;
    for (int part = 1;; part++) {
        if ((e = ly_store_event_get(t, origin, inc, first + (uint64_t)(part - 1), ev)) != LY_OK)
            break;
        if (ev->ev_type != LY_EV_PROGRAM || ev->ev_part != part || *len + ev->ev_blob_len > cap) {
            e = LY_EPROTO;
            break;
        }
        if (part == 1) {
            if (first_hlc)
                *first_hlc = ev->ev_hlc;
            *head = *ev; /* every part must be of the same version as the first */
        } else if (ev->ev_program != head->ev_program || ev->ev_amount != head->ev_amount ||
                   ev->ev_req_hash != head->ev_req_hash || ev->ev_parts != head->ev_parts) {
            e = LY_EPROTO;
            break;
        }
        memcpy(buf + *len, ev->ev_blob, ev->ev_blob_len);
        *len += ev->ev_blob_len;
        if (part == ev->ev_parts)
            break;
    }
    free(ev);
    return e == LY_ENOTFOUND ? LY_EPROTO : e;
}

static void s_progid_of(ly_progid *p, const ly_event *ev, uint64_t first, const char *name)
{
    memset(p, 0, sizeof *p);
    p->pi_origin = ev->ev_origin;
    p->pi_incarnation = ev->ev_incarnation;
    p->pi_seq = first;
    p->pi_hlc = ev->ev_hlc;
    p->pi_hash = ev->ev_req_hash;
    ly_strlcpy(p->pi_operator, ev->ev_operator, sizeof p->pi_operator);
    ly_strlcpy(p->pi_name, name, sizeof p->pi_name);
}

static int s_progid_before(const ly_progid *a, const ly_progid *b)
{
    return ly_once_before(a->pi_hlc, a->pi_origin, a->pi_incarnation, a->pi_seq, b->pi_hlc,
                          b->pi_origin, b->pi_incarnation, b->pi_seq);
}

/* The last part of a version arrived: assemble it and record it. A version
 * whose bytes do not match its hash or do not decode (a peer's bug: the
 * origin checks what it applies) is kept as events but never runs. */
static ly_err s_program_note(ly_txn *t, const ly_event *ev)
{
    if (ev->ev_part != ev->ev_parts)
        return LY_OK;
    uint64_t first = ev->ev_seq - (uint64_t)(ev->ev_parts - 1);
    uint8_t *buf = malloc(LY_PD_ENC_MAX);
    ly_progdef *pd = malloc(sizeof *pd);
    ly_progrec *old = malloc(sizeof *old);
    ly_err e = LY_ENOMEM;
    size_t len;
    if (!buf || !pd || !old)
        goto out;
    uint64_t first_hlc = ev->ev_hlc;
    e = s_program_bytes(t, ev->ev_origin, ev->ev_incarnation, first, buf, LY_PD_ENC_MAX, &len,
                        &first_hlc);
    if (e != LY_OK && e != LY_EPROTO)
        goto out;
    if (e != LY_OK || len != (size_t)ev->ev_amount || ly_progdef_decode(buf, len, pd) != LY_OK ||
        pd->pd_version != ev->ev_program || ly_progdef_hash(pd) != ev->ev_req_hash) {
        LY_LOG(LY_ERROR, "store.program_invalid",
               "version=%u origin=%u seq=%llu: its parts do not make a valid program; it is "
               "kept as events and never runs",
               ev->ev_program, ev->ev_origin, (unsigned long long)first);
        e = LY_OK;
        goto out;
    }
    ly_progid id;
    s_progid_of(&id, ev, first, pd->pd_name);
    id.pi_hlc = first_hlc; /* when it was applied: its first part's clock */
    e = s_progrec_get(t, pd->pd_version, old);
    if (e == LY_ENOTFOUND) {
        memset(old, 0, sizeof *old);
        old->pr_version = pd->pd_version;
    } else if (e != LY_OK) {
        goto out;
    } else {
        /* The same number made twice: the first in the once order counts. */
        ly_progid lost = id;
        int wins = s_progid_before(&id, &old->pr_win);
        if (wins)
            lost = old->pr_win;
        /* The lost are listed in the once order, the first LY_PROG_LOST_MAX:
         * the same list at every node whatever the order of arrival. */
        uint32_t listed = old->pr_nlost < LY_PROG_LOST_MAX ? old->pr_nlost : LY_PROG_LOST_MAX;
        uint32_t at = 0;
        while (at < listed && s_progid_before(&old->pr_lost[at], &lost))
            at++;
        if (at < LY_PROG_LOST_MAX) {
            uint32_t keep = listed < LY_PROG_LOST_MAX ? listed : LY_PROG_LOST_MAX - 1;
            memmove(&old->pr_lost[at + 1], &old->pr_lost[at], (keep - at) * sizeof lost);
            old->pr_lost[at] = lost;
        }
        old->pr_nlost++;
        LY_LOG(LY_WARN, "store.program_lost",
               "version=%u: applied twice; origin=%u seq=%llu counts, origin=%u seq=%llu is "
               "listed as lost%s",
               pd->pd_version, wins ? id.pi_origin : old->pr_win.pi_origin,
               (unsigned long long)(wins ? id.pi_seq : old->pr_win.pi_seq), lost.pi_origin,
               (unsigned long long)lost.pi_seq,
               lost.pi_hash == (wins ? id.pi_hash : old->pr_win.pi_hash) ? " (same program)" : "");
        if (!wins) {
            e = s_progrec_put(t, old);
            goto out;
        }
    }
    old->pr_win = id;
    old->pr_len = (uint32_t)len;
    old->pr_effective_ms = pd->pd_effective_ms;
    ly_strlcpy(old->pr_name, pd->pd_name, sizeof old->pr_name);
    ly_strlcpy(old->pr_reason, ev->ev_reason, sizeof old->pr_reason);
    old->pr_ntiers = pd->pd_ntiers;
    memset(old->pr_tiers, 0, sizeof old->pr_tiers);
    for (int i = 0; i < pd->pd_ntiers; i++)
        ly_strlcpy(old->pr_tiers[i], pd->pd_tiers[i].ti_name, sizeof old->pr_tiers[i]);
    e = s_progrec_put(t, old);
out:
    free(buf);
    free(pd);
    free(old);
    return e;
}

uint64_t ly_store_programs_gen(const ly_store *s)
{
    return s->st_programs_gen;
}

ly_err ly_store_program_get(ly_txn *t, uint32_t version, ly_progrec *rec, ly_progdef *def)
{
    ly_err e = s_progrec_get(t, version, rec);
    if (e != LY_OK || !def)
        return e;
    uint8_t *buf = malloc(LY_PD_ENC_MAX);
    size_t len;
    if (!buf)
        return LY_ENOMEM;
    e = s_program_bytes(t, rec->pr_win.pi_origin, rec->pr_win.pi_incarnation, rec->pr_win.pi_seq,
                        buf, LY_PD_ENC_MAX, &len, NULL);
    if (e == LY_OK && ly_progdef_decode(buf, len, def) != LY_OK)
        e = LY_EPROTO;
    free(buf);
    return e;
}

ly_err ly_store_programs(ly_txn *t, uint32_t below, ly_progrec *out, size_t cap, size_t *n)
{
    *n = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(t->tx_txn, t->tx_store->st_programs, &cur);
    if (rc)
        return s_err(t, rc, "cursor_open");
    uint8_t key[4];
    MDB_val k = {sizeof key, key}, d;
    ly_err e = LY_OK;
    if (below > 0) {
        s_be(key, below, 4);
        rc = mdb_cursor_get(cur, &k, &d, MDB_SET_RANGE);
        rc = rc == 0 ? mdb_cursor_get(cur, &k, &d, MDB_PREV)
                     : mdb_cursor_get(cur, &k, &d, rc == MDB_NOTFOUND ? MDB_LAST : MDB_GET_CURRENT);
    } else {
        rc = mdb_cursor_get(cur, &k, &d, MDB_LAST);
    }
    for (; rc == 0 && *n < cap; rc = mdb_cursor_get(cur, &k, &d, MDB_PREV)) {
        if ((e = s_progrec_decode(d.mv_data, d.mv_size, &out[*n])) != LY_OK)
            break;
        (*n)++;
    }
    if (e == LY_OK && rc != 0 && rc != MDB_NOTFOUND)
        e = s_err(t, rc, "programs");
    mdb_cursor_close(cur);
    return e;
}

ly_err ly_store_program_at(ly_txn *t, uint64_t ms, ly_progrec *rec, ly_progdef *def,
                           uint32_t *next_version, int64_t *next_ms)
{
    ly_progrec *page = malloc(16 * sizeof *page);
    if (!page)
        return LY_ENOMEM;
    uint32_t below = 0;
    size_t n;
    ly_err e;
    *next_version = 0;
    *next_ms = 0;
    for (;;) {
        if ((e = ly_store_programs(t, below, page, 16, &n)) != LY_OK || n == 0) {
            e = e == LY_OK ? LY_ENOTFOUND : e;
            break;
        }
        size_t i = 0;
        for (; i < n && page[i].pr_effective_ms > (int64_t)ms; i++) {
            /* scheduled: the soonest one is what comes next */
            if (*next_version == 0 || page[i].pr_effective_ms < *next_ms) {
                *next_version = page[i].pr_version;
                *next_ms = page[i].pr_effective_ms;
            }
        }
        if (i < n) {
            e = ly_store_program_get(t, page[i].pr_version, rec, def);
            break;
        }
        below = page[n - 1].pr_version;
    }
    free(page);
    return e;
}

/* The programs dbi is derived from the part events. It is built again from
 * them when the rules of what makes a valid version change (bump this), and
 * on the first open of a store made before versions were indexed, so that a
 * version an older binary could not take runs once the binary can. */
#define S_PROGRAMS_INDEX 1

static ly_err s_programs_reindex(ly_store *s, int force)
{
    ly_txn *t;
    ly_err e = ly_store_begin(s, 1, &t);
    if (e != LY_OK)
        return e;
    uint64_t have = 0, events = 0, versions = 0, t0 = s_mono_ms();
    e = s_meta_get(t, "programs_index", &have);
    if (e != LY_OK && e != LY_ENOTFOUND)
        goto out;
    e = LY_OK;
    if (have == S_PROGRAMS_INDEX && !force)
        goto out; /* committed below: an abort would drop the replayed log */
    int rc = mdb_drop(t->tx_txn, s->st_programs, 0);
    if (rc) {
        e = s_err(t, rc, "programs_drop");
        goto out;
    }
    s->st_programs_gen++;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(t->tx_txn, s->st_events, &cur)) != 0) {
        e = s_err(t, rc, "cursor_open");
        goto out;
    }
    ly_event *ev = malloc(sizeof *ev);
    MDB_val k, d;
    if (!ev)
        e = LY_ENOMEM;
    for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); e == LY_OK && rc == 0;
         rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
        events++;
        if ((e = ly_event_decode(d.mv_data, d.mv_size, ev)) != LY_OK)
            break;
        if (ev->ev_type == LY_EV_PROGRAM && ev->ev_part == ev->ev_parts) {
            versions++;
            e = s_program_note(t, ev);
        }
    }
    if (e == LY_OK && rc != 0 && rc != MDB_NOTFOUND)
        e = s_err(t, rc, "events");
    mdb_cursor_close(cur);
    free(ev);
    if (e == LY_OK)
        e = s_meta_put(t, "programs_index", S_PROGRAMS_INDEX);
    if (e == LY_OK && events > 0)
        LY_LOG(LY_INFO, "store.programs_indexed", "events=%llu versions=%llu ms=%llu",
               (unsigned long long)events, (unsigned long long)versions,
               (unsigned long long)(s_mono_ms() - t0));
out:
    if (e == LY_OK)
        return ly_store_commit(&t);
    ly_store_abort(&t);
    return e;
}
