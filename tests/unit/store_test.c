/* The store and the request service on a real LMDB store in a temp dir:
 * restart keeps everything, retries are idempotent, conflicts are refused,
 * refunds are bounded and exact, debt, and the map grows by itself. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/store.h"
#include "node/service.h"
#include "tests/support/harness.h"

static char s_dir[LYH_PATH_MAX];
static ly_store *s_st;
static ly_program s_pg;
static ly_hlc s_hlc;
static ly_service s_sv;

static void s_open(uint64_t map)
{
    ly_store_opts o = {.so_map_size = map};
    char why[256];
    cr_assert_eq(ly_store_open(s_dir, 1, &o, &s_st, why, sizeof why), LY_OK, "%s", why);
    s_sv.sv_store = s_st;
    s_sv.sv_hlc = &s_hlc;
    strcpy(s_sv.sv_name, "test");
}

static void setup(void)
{
    ly_log_set_level(LY_WARN);
    cr_assert_eq(lyh_tmpdir("store", s_dir, sizeof s_dir), 0);
    ly_program_default(&s_pg);
    ly_hlc_init(&s_hlc, 0, 60000);
    s_open(0);
}

static void teardown(void)
{
    ly_service_fini(&s_sv);
    ly_store_close(&s_st);
    cr_expect_eq(lyh_rmtree(s_dir), 0);
}

TestSuite(store, .init = setup, .fini = teardown);

/* Run one request in its own committed transaction. */
static ly_rep s_rep;

static ly_rep *s_do(ly_req *rq)
{
    ly_txn *t;
    cr_assert_eq(ly_store_begin(s_st, 1, &t), LY_OK);
    ly_rep_fini(&s_rep);
    ly_rep_init(&s_rep);
    int created;
    ly_err e = ly_service_exec(&s_sv, t, rq, &s_rep, NULL, &created);
    cr_assert_eq(e, LY_OK, "exec: %s", ly_errname(e));
    cr_assert_eq(ly_store_commit(&t), LY_OK);
    return &s_rep;
}

static ly_rep *s_op(int type, const char *cust, const char *txn, int64_t amount)
{
    ly_req rq;
    ly_req_init(&rq, type);
    if (cust)
        strcpy(rq.rq_customer, cust);
    if (txn)
        strcpy(rq.rq_txn, txn);
    rq.rq_amount = amount;
    if (type == LY_MSG_ADJUST) {
        strcpy(rq.rq_reason, "goodwill");
        strcpy(rq.rq_operator, "alice");
    }
    return s_do(&rq);
}

static ly_rep *s_reverse(const char *txn, const char *ref, int64_t amount)
{
    ly_req rq;
    ly_req_init(&rq, LY_MSG_REVERSE);
    strcpy(rq.rq_txn, txn);
    strcpy(rq.rq_ref_txn, ref);
    rq.rq_amount = amount;
    return s_do(&rq);
}

static ly_store_stats s_stats(void)
{
    ly_txn *t;
    ly_store_stats st;
    cr_assert_eq(ly_store_begin(s_st, 0, &t), LY_OK);
    cr_assert_eq(ly_store_stats_get(t, &st), LY_OK);
    ly_store_abort(&t);
    return st;
}

Test(store, enroll_earn_redeem_and_restart)
{
    cr_assert_eq(s_op(LY_MSG_ENROLL, "C1", "e1", 0)->rp_err, LY_OK);
    ly_rep *r = s_op(LY_MSG_EARN, "C1", "t1", 4250);
    cr_assert_eq(r->rp_err, LY_OK);
    cr_expect_eq(r->rp_points, 42);
    cr_expect_eq(r->rp_balance, 42);
    cr_expect_str_eq(r->rp_tier, "Silver");
    cr_expect_str_eq(r->rp_next_tier, "Gold");
    cr_expect_eq(r->rp_to_next, 958);
    r = s_op(LY_MSG_REDEEM, "C1", "t2", 50);
    cr_expect_eq(r->rp_err, LY_EINSUFFICIENT);
    cr_expect_eq(r->rp_available, 42);
    r = s_op(LY_MSG_REDEEM, "C1", "t3", 40);
    cr_expect_eq(r->rp_err, LY_OK);
    cr_expect_eq(r->rp_points, -40);
    cr_expect_eq(r->rp_balance, 2);
    ly_store_stats before = s_stats();
    cr_expect_eq(before.st_events, 3, "the refused redeem wrote nothing");
    cr_expect_eq(before.st_customers, 1);

    ly_store_close(&s_st);
    s_open(0);
    ly_store_stats after = s_stats();
    cr_expect_eq(after.st_events, before.st_events);
    cr_expect_eq(after.st_digest, before.st_digest);
    ly_req rq;
    ly_req_init(&rq, LY_MSG_CUSTOMER);
    strcpy(rq.rq_customer, "C1");
    r = s_do(&rq);
    cr_assert_eq(r->rp_err, LY_OK);
    cr_expect_eq(r->rp_balance, 2);
    cr_expect_eq(r->rp_lifetime, 42);
    cr_expect_eq(r->rp_nhist, 3);
    cr_expect_eq(r->rp_hist[0].hi_type, LY_EV_REDEEM, "newest first");
    cr_expect_str_eq(r->rp_hist[2].hi_txn, "e1");
}

Test(store, store_of_another_node_is_refused)
{
    ly_store_close(&s_st);
    ly_store *other;
    char why[256];
    cr_expect_eq(ly_store_open(s_dir, 2, NULL, &other, why, sizeof why), LY_ECONFIG);
    cr_expect(strstr(why, "node 1") != NULL, "%s", why);
    s_open(0);
}

Test(store, retries_are_idempotent_and_conflicts_refused)
{
    s_op(LY_MSG_ENROLL, "C1", "e1", 0);
    ly_rep *r = s_op(LY_MSG_EARN, "C1", "t1", 1000);
    cr_assert_eq(r->rp_points, 10);
    uint64_t seq = r->rp_seq;
    s_op(LY_MSG_EARN, "C1", "t2", 500);
    r = s_op(LY_MSG_EARN, "C1", "t1", 1000); /* retry */
    cr_expect_eq(r->rp_err, LY_OK);
    cr_expect_eq(r->rp_replayed, 1);
    cr_expect_eq(r->rp_points, 10);
    cr_expect_eq(r->rp_balance, 10, "the original reply's balance");
    cr_expect_eq(r->rp_seq, seq);
    r = s_op(LY_MSG_EARN, "C1", "t1", 1001); /* same id, other payload */
    cr_expect_eq(r->rp_err, LY_ECONFLICT);
    r = s_op(LY_MSG_REDEEM, "C1", "t1", 1);
    cr_expect_eq(r->rp_err, LY_ECONFLICT);
    cr_expect_eq(s_stats().st_events, 3);
    r = s_op(LY_MSG_ENROLL, "C1", "e2", 0);
    cr_expect_eq(r->rp_err, LY_EEXIST);
    r = s_op(LY_MSG_EARN, "NOPE", "t9", 100);
    cr_expect_eq(r->rp_err, LY_EUNKNOWN_CUST);
    cr_expect_eq(s_stats().st_events, 3);
}

Test(store, partial_refunds_add_up_exactly)
{
    s_op(LY_MSG_ENROLL, "C1", "e1", 0);
    ly_rep *r = s_op(LY_MSG_EARN, "C1", "buy", 999); /* 9 points for 9.99 */
    cr_assert_eq(r->rp_points, 9);
    int64_t back = 0;
    for (int i = 0; i < 3; i++) {
        char txn[16];
        snprintf(txn, sizeof txn, "ref%d", i);
        r = s_reverse(txn, "buy", 333);
        cr_assert_eq(r->rp_err, LY_OK, "%s", r->rp_message);
        back += r->rp_points;
    }
    cr_expect_eq(back, -9, "three thirds give back exactly the whole");
    cr_expect_eq(r->rp_balance, 0);
    cr_expect_eq(r->rp_lifetime, 0);
    cr_expect_eq(r->rp_qualifying, 0);
    r = s_reverse("ref9", "buy", 1);
    cr_expect_eq(r->rp_err, LY_EOVERREFUND);
    r = s_reverse("ref10", "nope", 0);
    cr_expect_eq(r->rp_err, LY_EUNKNOWN_TXN);
    r = s_reverse("ref11", "ref0", 0);
    cr_expect_eq(r->rp_err, LY_ENOTREVERSIBLE);
}

Test(store, refund_of_spent_points_is_debt)
{
    s_op(LY_MSG_ENROLL, "C1", "e1", 0);
    s_op(LY_MSG_EARN, "C1", "buy", 10000);
    cr_assert_eq(s_op(LY_MSG_REDEEM, "C1", "spend", 100)->rp_err, LY_OK);
    ly_rep *r = s_reverse("ret", "buy", 0);
    cr_assert_eq(r->rp_err, LY_OK, "a refund always succeeds");
    cr_expect_eq(r->rp_points, -100);
    cr_expect_eq(r->rp_balance, 0);
    cr_expect_eq(r->rp_debt, 100);
    r = s_op(LY_MSG_EARN, "C1", "buy2", 3000);
    cr_expect_eq(r->rp_debt, 70);
    cr_expect_eq(r->rp_balance, 0);
    cr_expect_eq(s_op(LY_MSG_REDEEM, "C1", "spend2", 1)->rp_err, LY_EINSUFFICIENT);
    r = s_reverse("undo-spend", "spend", 0); /* the reward is returned: points come back */
    cr_expect_eq(r->rp_points, 100);
    cr_expect_eq(r->rp_balance, 30);
    cr_expect_eq(r->rp_debt, 0);
}

Test(store, tier_change_is_in_history)
{
    s_op(LY_MSG_ENROLL, "C1", "e1", 0);
    ly_rep *r = s_op(LY_MSG_EARN, "C1", "big", 100000); /* 1000 qualifying: Gold */
    cr_expect_str_eq(r->rp_tier, "Gold");
    r = s_op(LY_MSG_EARN, "C1", "next", 1000); /* now earns x1.25 */
    cr_expect_eq(r->rp_points, 12);
    ly_req rq;
    ly_req_init(&rq, LY_MSG_CUSTOMER);
    strcpy(rq.rq_customer, "C1");
    r = s_do(&rq);
    cr_assert_eq(r->rp_nhist, 3);
    cr_expect_str_eq(r->rp_hist[1].hi_tier_from, "Silver");
    cr_expect_str_eq(r->rp_hist[1].hi_tier_to, "Gold");
    cr_expect_str_eq(r->rp_hist[0].hi_tier_to, "", "no change on the second earn");
    r = s_reverse("ret", "big", 0);
    cr_expect_str_eq(r->rp_tier, "Silver", "a refund takes the tier back");
}

Test(store, adjust_keeps_reason_and_never_overdraws)
{
    s_op(LY_MSG_ENROLL, "C1", "e1", 0);
    ly_rep *r = s_op(LY_MSG_ADJUST, "C1", "a1", 25);
    cr_expect_eq(r->rp_balance, 25);
    cr_expect_eq(s_op(LY_MSG_ADJUST, "C1", "a2", -26)->rp_err, LY_EINSUFFICIENT);
    cr_expect_eq(s_op(LY_MSG_ADJUST, "C1", "a3", -25)->rp_balance, 0);
    ly_txn *t;
    ly_event evs[5];
    size_t n;
    cr_assert_eq(ly_store_begin(s_st, 0, &t), LY_OK);
    cr_assert_eq(ly_store_history(t, "C1", evs, 5, &n), LY_OK);
    ly_store_abort(&t);
    cr_assert_eq(n, 3);
    cr_expect_str_eq(evs[1].ev_reason, "goodwill");
    cr_expect_str_eq(evs[1].ev_operator, "alice");
}

Test(store, apply_is_exactly_once_in_order)
{
    ly_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ev_origin = 7;
    ev.ev_incarnation = 99;
    ev.ev_hlc = 1;
    ev.ev_type = LY_EV_EARN;
    ev.ev_amount = 100;
    ev.ev_points = 1;
    strcpy(ev.ev_customer, "R1");
    ly_txn *t;
    ly_apply out;
    cr_assert_eq(ly_store_begin(s_st, 1, &t), LY_OK);
    ev.ev_seq = 2;
    cr_expect_eq(ly_store_apply(t, &ev, &out, NULL), LY_OK);
    cr_expect_eq(out, LY_GAP);
    ev.ev_seq = 1;
    cr_expect_eq(ly_store_apply(t, &ev, &out, NULL), LY_OK);
    cr_expect_eq(out, LY_APPLIED);
    cr_expect_eq(ly_store_apply(t, &ev, &out, NULL), LY_OK);
    cr_expect_eq(out, LY_DUPLICATE);
    cr_assert_eq(ly_store_commit(&t), LY_OK);
    ly_cust c;
    cr_assert_eq(ly_store_begin(s_st, 0, &t), LY_OK);
    cr_assert_eq(ly_store_cust_get(t, "R1", &c), LY_OK);
    ly_store_abort(&t);
    cr_expect_eq(c.cu_net, 1);
}

/* Run `rq` as the server does: on LY_ERETRY abort (the map grows) and replay
 * the batch, at most 4 times. Returns the last outcome. */
static ly_err s_exec_replaying(ly_req *rq)
{
    ly_err e = LY_ERETRY;
    for (int attempt = 0; attempt < 4 && e == LY_ERETRY; attempt++) {
        ly_txn *t;
        cr_assert_eq(ly_store_begin(s_st, 1, &t), LY_OK);
        ly_rep_fini(&s_rep);
        ly_rep_init(&s_rep);
        int created;
        e = ly_service_exec(&s_sv, t, rq, &s_rep, NULL, &created);
        if (e == LY_OK)
            e = ly_store_commit(&t);
        else
            ly_store_abort(&t);
    }
    return e;
}

Test(store, map_grows_by_itself)
{
    ly_store_close(&s_st);
    cr_assert_eq(lyh_rmtree(s_dir), 0); /* a new store, with a small map */
    cr_assert_eq(mkdir(s_dir, 0700), 0);
    s_open(256 << 10); /* 256 KiB: full after a few hundred events */
    uint64_t start = ly_store_map_size(s_st);
    s_op(LY_MSG_ENROLL, "C1", "e1", 0);
    int done = 0;
    for (int i = 0; i < 3000; i++) {
        char txn[32];
        snprintf(txn, sizeof txn, "t%d", i);
        ly_req rq;
        ly_req_init(&rq, LY_MSG_EARN);
        strcpy(rq.rq_customer, "C1");
        strcpy(rq.rq_txn, txn);
        rq.rq_amount = 100;
        cr_assert_eq(s_exec_replaying(&rq), LY_OK);
        done++;
    }
    cr_expect_eq(done, 3000);
    cr_expect(ly_store_map_size(s_st) > start, "map grew from %llu", (unsigned long long)start);
    cr_expect_eq(s_stats().st_events, 3001);
}

/* A checkpoint that finds the map full grows it and checkpoints at once: it
 * never leaves the store refusing writes until the next attempt (seen in a
 * chaos soak: a restarted node's map was its file's size, and the first
 * checkpoint's commit needed more). */
Test(store, a_checkpoint_into_a_full_map_grows_it_and_succeeds)
{
    ly_store_close(&s_st);
    cr_assert_eq(lyh_rmtree(s_dir), 0);
    cr_assert_eq(mkdir(s_dir, 0700), 0);
    ly_store_opts o = {.so_map_size = 128 << 10,
                       .so_checkpoint_events = 1000000,
                       .so_checkpoint_ms = 3600000,
                       .so_wal_prealloc = 1 << 20};
    char why[256];
    cr_assert_eq(ly_store_open(s_dir, 1, &o, &s_st, why, sizeof why), LY_OK, "%s", why);
    s_sv.sv_store = s_st;
    s_op(LY_MSG_ENROLL, "C1", "e1", 0);
    int checkpoints = 0;
    for (int i = 0; i < 4000; i++) {
        ly_req rq;
        ly_req_init(&rq, LY_MSG_EARN);
        snprintf(rq.rq_customer, sizeof rq.rq_customer, "C%d", i % 50);
        snprintf(rq.rq_txn, sizeof rq.rq_txn, "t%d", i);
        rq.rq_amount = 100;
        if (i % 50 == 0) { /* make sure the customer exists */
            ly_req en;
            ly_req_init(&en, LY_MSG_ENROLL);
            strcpy(en.rq_customer, rq.rq_customer);
            snprintf(en.rq_txn, sizeof en.rq_txn, "en-%d", i);
            rq = en;
        }
        ly_err e = s_exec_replaying(&rq);
        cr_assert_eq(e, LY_OK, "event %d: %s", i, ly_errname(e));
        if (i % 97 == 0) {
            e = ly_store_checkpoint(s_st);
            cr_assert_eq(e, LY_OK, "checkpoint after event %d: %s", i, ly_errname(e));
            checkpoints++;
        }
    }
    cr_expect_eq(s_stats().st_write_err, LY_OK);
    cr_expect_gt(checkpoints, 10);
}

Test(store, a_second_opener_is_refused)
{
    ly_store *other = NULL;
    char why[256] = "";
    cr_expect_eq(ly_store_open(s_dir, 1, NULL, &other, why, sizeof why), LY_ECONFIG);
    cr_expect_null(other);
    cr_expect(strstr(why, "another loyald") != NULL, "%s", why);
    cr_expect_eq(s_op(LY_MSG_ENROLL, "C1", "e1", 0)->rp_err, LY_OK, "the first one works on");
}

/* In a child process: enroll and earn for `n` customers, one batch each, with
 * a checkpoint after the first half, then die without closing the store (as
 * kill -9 would). Exit status 0 when every commit succeeded. */
static void s_child_writes_and_dies(int n)
{
    ly_store *st;
    ly_store_opts o = {.so_checkpoint_events = 10000000};
    char why[256];
    if (ly_store_open(s_dir, 1, &o, &st, why, sizeof why) != LY_OK)
        _exit(10);
    s_sv.sv_store = st;
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 2; k++) {
            ly_req rq;
            ly_req_init(&rq, k == 0 ? LY_MSG_ENROLL : LY_MSG_EARN);
            snprintf(rq.rq_customer, sizeof rq.rq_customer, "C%d", i);
            snprintf(rq.rq_txn, sizeof rq.rq_txn, "%c%d", k == 0 ? 'e' : 't', i);
            rq.rq_amount = 100 * (i + 1);
            ly_txn *t;
            ly_rep rp;
            int created;
            ly_rep_init(&rp);
            if (ly_store_begin(st, 1, &t) != LY_OK ||
                ly_service_exec(&s_sv, t, &rq, &rp, NULL, &created) != LY_OK ||
                rp.rp_err != LY_OK || ly_store_commit(&t) != LY_OK)
                _exit(11);
            ly_rep_fini(&rp);
        }
        if (i == n / 2 && ly_store_checkpoint(st) != LY_OK)
            _exit(12);
    }
    _exit(0);
}

Test(store, a_crash_loses_nothing_committed_and_replays_to_the_same_state)
{
    ly_store_close(&s_st);
    int n = 300;
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0)
        s_child_writes_and_dies(n);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);

    s_open(0); /* replays the log past the checkpoint */
    ly_store_stats st = s_stats();
    cr_expect_eq(st.st_events, 2 * (uint64_t)n, "every committed event is back");
    cr_expect_eq(st.st_customers, (uint64_t)n);
    cr_expect_eq(st.st_unckpt, 0, "the replay was checkpointed at once");
    for (int i = 0; i < n; i++) {
        char id[16];
        snprintf(id, sizeof id, "C%d", i);
        ly_req rq;
        ly_req_init(&rq, LY_MSG_CUSTOMER);
        strcpy(rq.rq_customer, id);
        ly_rep *r = s_do(&rq);
        cr_assert_eq(r->rp_err, LY_OK, "%s", id);
        cr_assert_eq(r->rp_balance, i + 1, "%s", id);
    }
    /* A retry after the crash is answered from the replayed transaction index. */
    ly_rep *r = s_op(LY_MSG_EARN, "C5", "t5", 600);
    cr_expect_eq(r->rp_err, LY_OK);
    cr_expect(r->rp_replayed, "the retry is recognised, not applied twice");
    cr_expect_eq(s_stats().st_events, 2 * (uint64_t)n);

    /* The replayed state is the state: a clean restart gives the same digest. */
    ly_store_close(&s_st);
    s_open(0);
    cr_expect_eq(s_stats().st_digest, st.st_digest);
}

/* The program versions' index is derived from the part events: built again
 * from them at open it is the same (a version an older binary refused runs
 * once the binary takes it), and the program in force with it. */
Test(store, program_index_is_rebuilt_from_the_events)
{
    const char *text = "[program]\nname = Rebuilt\nversion = 4\nminor_units = 100\n"
                       "points_per_unit = 1\n[tier Silver]\nthreshold = 0\nmultiplier = 1\n"
                       "[tier Gold]\nthreshold = 1000\nmultiplier = 2\n";
    ly_progdef *pd = malloc(sizeof *pd);
    uint8_t *buf = malloc(LY_PD_ENC_MAX);
    cr_assert(pd && buf);
    cr_assert_eq(ly_progdef_parse("t.ini", text, strlen(text), pd, NULL, 0), LY_OK);
    ly_req rq;
    ly_req_init(&rq, LY_MSG_PROGRAM_APPLY);
    strcpy(rq.rq_operator, "hq");
    rq.rq_blob = buf;
    rq.rq_blob_len = (uint32_t)ly_progdef_encode(pd, buf, LY_PD_ENC_MAX);
    cr_assert_eq(s_do(&rq)->rp_err, LY_OK, "%s", s_rep.rp_message);
    uint64_t hash = ly_progdef_hash(pd);
    for (int force = 0; force <= 1; force++) {
        ly_service_fini(&s_sv);
        ly_store_close(&s_st);
        ly_store_opts o = {.so_reindex_programs = force};
        char why[256];
        cr_assert_eq(ly_store_open(s_dir, 1, &o, &s_st, why, sizeof why), LY_OK, "%s", why);
        s_sv.sv_store = s_st;
        ly_txn *t;
        cr_assert_eq(ly_store_begin(s_st, 0, &t), LY_OK);
        ly_progrec rec;
        uint32_t next;
        int64_t next_ms;
        cr_expect_eq(ly_store_program_at(t, ly_wall_ms(), &rec, pd, &next, &next_ms), LY_OK,
                     "force %d", force);
        cr_expect_eq(rec.pr_version, 4);
        cr_expect_str_eq(rec.pr_name, "Rebuilt");
        cr_expect_eq(rec.pr_win.pi_hash, hash);
        cr_expect_str_eq(rec.pr_win.pi_operator, "hq");
        ly_store_abort(&t);
    }
    cr_expect_eq(s_op(LY_MSG_ENROLL, "C1", "enroll:C1", 0)->rp_err, LY_OK);
    cr_expect_eq(s_op(LY_MSG_EARN, "C1", "e1", 150000)->rp_points, 1500);
    cr_expect_eq(s_op(LY_MSG_EARN, "C1", "e2", 1000)->rp_points, 20, "Gold x2 of version 4");
    free(pd);
    free(buf);
}
