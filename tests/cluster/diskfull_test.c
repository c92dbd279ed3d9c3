/* Disk full: a node whose store cannot grow any more answers writes with
 * storage_full, keeps serving reads, loses no acknowledged write, and works
 * again once there is room. Twice: when the write-ahead log cannot grow, and
 * when a checkpoint cannot write the data file (the log still can).
 *
 * The full disk is simulated with RLIMIT_FSIZE, inherited by the daemon: LMDB's
 * writes past the limit fail with EFBIG, just as they fail with ENOSPC on a
 * full filesystem (SIGXFSZ is ignored so the write returns the error). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "proto/client.h"
#include "tests/support/harness.h"

static ly_rep s_rep;

static ly_err s_enroll(ly_client *c, int i)
{
    ly_req rq;
    ly_req_init(&rq, LY_MSG_ENROLL);
    snprintf(rq.rq_customer, sizeof rq.rq_customer, "CUST-%06d", i);
    snprintf(rq.rq_txn, sizeof rq.rq_txn, "enroll-%06d", i);
    rq.rq_fields = LY_PF_NAME | LY_PF_PREFS;
    snprintf(rq.rq_profile.pf_name, sizeof rq.rq_profile.pf_name, "Customer number %d", i);
    memset(rq.rq_profile.pf_prefs, 'p', 150); /* bigger records: the store fills sooner */
    ly_rep_fini(&s_rep);
    ly_err e = ly_client_call(c, &rq, &s_rep);
    return e == LY_OK ? (ly_err)s_rep.rp_err : e;
}

/* Nonzero if the node's log holds the line `id`. */
static int s_logged(const lyh_node *n, const char *id)
{
    FILE *f = fopen(n->nd_log, "r");
    char line[2048];
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, id) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* `extra`: the node's [node] settings. `ckpt_first`: with frequent
 * checkpoints the data file reaches the limit before the log does, so the
 * refusal comes from a failed checkpoint; else from the log. */
static void s_full_disk(const char *extra, int ckpt_first)
{
    lyh_node *n = lyh_node_new(1, "full", extra);
    cr_assert(n);
    cr_assert_eq(lyh_node_up(n, 10000), 0);
    ly_client *c = lyh_client(n, 5000);
    cr_assert(c);
    cr_assert_eq(s_enroll(c, 0), LY_OK);
    ly_client_destroy(&c);
    cr_assert_eq(lyh_node_stop(n, 10000), 0);

    char mdb[LYH_PATH_MAX + 16];
    snprintf(mdb, sizeof mdb, "%s/data.mdb", n->nd_data_dir);
    struct stat st;
    cr_assert_eq(stat(mdb, &st), 0);

    /* Restart with room for about 300 KB more. */
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim.rlim_cur = (rlim_t)st.st_size + (300 << 10);
    lim.rlim_max = old.rlim_max;
    signal(SIGXFSZ, SIG_IGN);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int started = lyh_node_start(n);
    setrlimit(RLIMIT_FSIZE, &old);
    cr_assert_eq(started, 0);
    cr_assert_eq(lyh_node_wait_ready(n, 10000), 0);

    c = lyh_client(n, 5000);
    int acked = 1, full = 0, i;
    for (i = 1; i < 20000 && !full; i++) {
        ly_err e = s_enroll(c, i);
        if (e == LY_OK)
            acked++;
        else if (e == LY_ENOSPC)
            full = 1;
        else
            cr_assert_fail("enroll %d: %s (%s)", i, ly_errname(e), s_rep.rp_message);
    }
    cr_assert(full, "the store never filled up (%d enrolls)", acked);
    cr_expect(strstr(s_rep.rp_message, "full") != NULL, "%s", s_rep.rp_message);

    /* Still serving: reads work, further writes are refused cleanly. */
    ly_node_status ns;
    cr_assert_eq(lyh_node_status(n, 5000, &ns), LY_OK);
    cr_expect_eq(ns.ns_events, (uint64_t)acked, "no partial write became visible");
    cr_expect_str_eq(ns.ns_write_error, "storage_full", "status says why writes are refused");
    cr_expect_gt(ns.ns_log_events, 0, "the acknowledged writes wait in the log");
    cr_expect_eq(s_logged(n, "store.checkpoint_failed"), ckpt_first,
                 "a failed checkpoint %s have refused the writes",
                 ckpt_first ? "should" : "should not");
    cr_expect_eq(s_enroll(c, i + 1), LY_ENOSPC);
    ly_req rq;
    ly_req_init(&rq, LY_MSG_CUSTOMER);
    strcpy(rq.rq_customer, "CUST-000001");
    ly_rep_fini(&s_rep);
    cr_assert_eq(ly_client_call(c, &rq, &s_rep), LY_OK);
    cr_expect_eq(s_rep.rp_err, LY_OK);
    int alive = lyh_node_alive(n, NULL);
    cr_expect(alive, "the node must survive a full disk");
    ly_client_destroy(&c);
    cr_assert_eq(lyh_node_stop(n, 10000), 0);

    /* Room again: everything acknowledged is there, and writes succeed. */
    cr_assert_eq(lyh_node_up(n, 10000), 0);
    cr_assert_eq(lyh_node_status(n, 5000, &ns), LY_OK);
    cr_expect_eq(ns.ns_events, (uint64_t)acked);
    cr_expect_str_eq(ns.ns_write_error, "");
    cr_expect_eq(ns.ns_log_events, 0, "the log was replayed and checkpointed at start");
    c = lyh_client(n, 5000);
    for (int k = 0; k < acked; k++) {
        ly_req_init(&rq, LY_MSG_CUSTOMER);
        snprintf(rq.rq_customer, sizeof rq.rq_customer, "CUST-%06d", k);
        ly_rep_fini(&s_rep);
        cr_assert_eq(ly_client_call(c, &rq, &s_rep), LY_OK);
        cr_assert_eq(s_rep.rp_err, LY_OK, "acknowledged customer %d is missing", k);
    }
    cr_expect_eq(s_enroll(c, i + 2), LY_OK);
    ly_client_destroy(&c);
    ly_rep_fini(&s_rep);
    cr_expect_eq(lyh_node_stop(n, 10000), 0);
    lyh_node_destroy(&n);
}

Test(diskfull, the_log_fills, .timeout = 240)
{
    /* No checkpoint while it fills: only the log grows. */
    s_full_disk("map_size_mb = 1\ncheckpoint_ms = 60000\ncheckpoint_events = 10000000\n", 0);
}

Test(diskfull, a_checkpoint_fails, .timeout = 240)
{
    s_full_disk("map_size_mb = 1\ncheckpoint_events = 100\n", 1);
}
