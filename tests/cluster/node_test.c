/* node_test.c -- one real loyald: shutdown and restart, group commit under
 * load, configuration errors, bad client input, and loyalctl end to end. */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "proto/client.h"
#include "proto/codec.h"
#include "tests/support/harness.h"

#define NT_READY_MS 20000
#define NT_STOP_MS  20000
#define NT_CALL_MS  10000
#define NT_RUN_MS   20000

static lyh_node *s_node;
static char s_dir[LYH_PATH_MAX]; /* a scratch directory for config cases */

static void s_teardown(void)
{
    lyh_node_destroy(&s_node);
    if (s_dir[0]) {
        lyh_rmtree(s_dir);
        s_dir[0] = '\0';
    }
}

TestSuite(node, .fini = s_teardown, .timeout = 150);

static void s_start(const char *name)
{
    s_node = lyh_node_new(1, name, NULL);
    cr_assert_not_null(s_node, "unable to set up the node");
    cr_assert_eq(lyh_node_up(s_node, NT_READY_MS), 0, "loyald did not start");
}

/* ---- client helpers ------------------------------------------------------ */

/* A call whose reply must arrive; returns rp_err. `rp` must be finished by the caller. */
static ly_err s_call(ly_client *c, ly_req *rq, ly_rep *rp)
{
    ly_err e = ly_client_call(c, rq, rp);
    cr_assert_eq(e, LY_OK, "%s %s: transport %s", ly_msgtype_name(rq->rq_type), rq->rq_txn,
                 ly_errname(e));
    return (ly_err)rp->rp_err;
}

static void s_mutate_ok(ly_client *c, int type, const char *cust, const char *txn, int64_t amount,
                        ly_rep *rp)
{
    ly_req rq;
    ly_req_init(&rq, type);
    snprintf(rq.rq_customer, sizeof rq.rq_customer, "%s", cust);
    snprintf(rq.rq_txn, sizeof rq.rq_txn, "%s", txn);
    rq.rq_amount = amount;
    if (type == LY_MSG_ENROLL) {
        rq.rq_fields = LY_PF_NAME;
        snprintf(rq.rq_profile.pf_name, sizeof rq.rq_profile.pf_name, "Name of %s", cust);
    } else if (type == LY_MSG_ADJUST) {
        snprintf(rq.rq_reason, sizeof rq.rq_reason, "goodwill");
        snprintf(rq.rq_operator, sizeof rq.rq_operator, "tester");
    }
    ly_err e = s_call(c, &rq, rp);
    cr_assert_eq(e, LY_OK, "%s %s %s %lld: %s: %s", ly_msgtype_name(type), cust, txn,
                 (long long)amount, ly_errname(e), rp->rp_message);
}

static void s_customer(ly_client *c, const char *cust, ly_rep *rp)
{
    ly_req rq;
    ly_req_init(&rq, LY_MSG_CUSTOMER);
    snprintf(rq.rq_customer, sizeof rq.rq_customer, "%s", cust);
    rq.rq_limit = LY_HIST_MAX;
    ly_err e = s_call(c, &rq, rp);
    cr_assert_eq(e, LY_OK, "customer %s: %s", cust, ly_errname(e));
}

static ly_node_status s_status(void)
{
    ly_node_status st;
    ly_err e = lyh_node_status(s_node, NT_CALL_MS, &st);
    cr_assert_eq(e, LY_OK, "status call failed: %s", ly_errname(e));
    return st;
}

/* ---- (a) SIGTERM and restart -------------------------------------------- */

#define NA_CUST 20

typedef struct na_view {
    int64_t v_balance, v_lifetime, v_debt, v_qualifying;
    char v_tier[LY_TIER_NAME_MAX + 1];
    uint32_t v_nhist;
    char v_name[LY_NAME_MAX + 1];
} na_view;

static void s_views(ly_client *c, na_view *out)
{
    for (int i = 0; i < NA_CUST; i++) {
        char id[32];
        snprintf(id, sizeof id, "term-%02d", i);
        ly_rep rp;
        s_customer(c, id, &rp);
        out[i] = (na_view){.v_balance = rp.rp_balance,
                           .v_lifetime = rp.rp_lifetime,
                           .v_debt = rp.rp_debt,
                           .v_qualifying = rp.rp_qualifying,
                           .v_nhist = rp.rp_nhist};
        snprintf(out[i].v_tier, sizeof out[i].v_tier, "%s", rp.rp_tier);
        snprintf(out[i].v_name, sizeof out[i].v_name, "%s", rp.rp_profile.pf_name);
        ly_rep_fini(&rp);
    }
}

Test(node, sigterm_exits_0_and_restart_keeps_everything)
{
    s_start("term");
    ly_client *c = lyh_client(s_node, NT_CALL_MS);
    cr_assert_not_null(c);
    int64_t expect[NA_CUST] = {0};
    int mutations = 0;
    for (int i = 0; i < NA_CUST; i++) {
        char id[32], txn[48];
        ly_rep rp;
        snprintf(id, sizeof id, "term-%02d", i);
        snprintf(txn, sizeof txn, "term-enroll-%02d", i);
        s_mutate_ok(c, LY_MSG_ENROLL, id, txn, 0, &rp);
        ly_rep_fini(&rp);
        mutations++;
        for (int k = 0; k < 3; k++) {
            snprintf(txn, sizeof txn, "term-earn-%02d-%d", i, k);
            s_mutate_ok(c, LY_MSG_EARN, id, txn, 2500 + 100 * i, &rp);
            cr_assert_eq(rp.rp_points, 25 + i, "earn of %d minor units at Silver", 2500 + 100 * i);
            expect[i] += rp.rp_points;
            ly_rep_fini(&rp);
            mutations++;
        }
        snprintf(txn, sizeof txn, "term-redeem-%02d", i);
        s_mutate_ok(c, LY_MSG_REDEEM, id, txn, 10, &rp);
        cr_assert_eq(rp.rp_points, -10);
        expect[i] -= 10;
        ly_rep_fini(&rp);
        mutations++;
    }
    ly_rep rp;
    s_mutate_ok(c, LY_MSG_ADJUST, "term-00", "term-adjust", 7, &rp);
    expect[0] += 7;
    ly_rep_fini(&rp);
    mutations++;

    na_view before[NA_CUST], after[NA_CUST];
    s_views(c, before);
    for (int i = 0; i < NA_CUST; i++)
        cr_assert_eq(before[i].v_balance, expect[i], "term-%02d: balance %lld, expected %lld", i,
                     (long long)before[i].v_balance, (long long)expect[i]);
    ly_node_status st0 = s_status();
    cr_assert_eq(st0.ns_events, (uint64_t)mutations);
    cr_assert_eq(st0.ns_customers, (uint64_t)NA_CUST);
    ly_client_destroy(&c);

    cr_assert_eq(lyh_node_stop(s_node, NT_STOP_MS), 0, "loyald did not exit 0 on SIGTERM");
    cr_assert_eq(lyh_node_up(s_node, NT_READY_MS), 0, "loyald did not restart");

    ly_node_status st1 = s_status();
    cr_assert_eq(st1.ns_events, st0.ns_events);
    cr_assert_eq(st1.ns_customers, st0.ns_customers);
    cr_assert_eq(st1.ns_digest, st0.ns_digest, "digest %016llx before, %016llx after the restart",
                 (unsigned long long)st0.ns_digest, (unsigned long long)st1.ns_digest);
    cr_assert_eq(st1.ns_incarnation, st0.ns_incarnation, "a restart must keep the incarnation");
    cr_assert_eq(st1.ns_nvv, st0.ns_nvv);
    for (uint32_t i = 0; i < st0.ns_nvv && i < LY_VV_MAX; i++)
        cr_assert_eq(st1.ns_vv[i].seq, st0.ns_vv[i].seq);

    c = lyh_client(s_node, NT_CALL_MS);
    cr_assert_not_null(c);
    s_views(c, after);
    for (int i = 0; i < NA_CUST; i++) {
        cr_assert_eq(after[i].v_balance, before[i].v_balance, "term-%02d balance", i);
        cr_assert_eq(after[i].v_lifetime, before[i].v_lifetime, "term-%02d lifetime", i);
        cr_assert_eq(after[i].v_debt, before[i].v_debt, "term-%02d debt", i);
        cr_assert_eq(after[i].v_qualifying, before[i].v_qualifying, "term-%02d qualifying", i);
        cr_assert_eq(after[i].v_nhist, before[i].v_nhist, "term-%02d history", i);
        cr_assert_str_eq(after[i].v_tier, before[i].v_tier, "term-%02d tier", i);
        cr_assert_str_eq(after[i].v_name, before[i].v_name, "term-%02d name", i);
    }

    /* The idempotency records survived too, and new events continue the sequence. */
    s_mutate_ok(c, LY_MSG_EARN, "term-03", "term-earn-03-1", 2800, &rp);
    cr_assert_eq(rp.rp_replayed, 1, "a retry after the restart must be a replay");
    cr_assert_eq(rp.rp_points, 28);
    ly_rep_fini(&rp);
    s_mutate_ok(c, LY_MSG_EARN, "term-03", "term-after-restart", 1000, &rp);
    cr_assert_eq(rp.rp_replayed, 0);
    cr_assert_eq(rp.rp_balance, expect[3] + 10);
    ly_rep_fini(&rp);
    ly_client_destroy(&c);
    ly_node_status st2 = s_status();
    cr_assert_eq(st2.ns_events, st0.ns_events + 1);

    cr_assert_eq(lyh_node_stop(s_node, NT_STOP_MS), 0, "loyald did not exit 0 on SIGTERM");
    size_t out_len = 0;
    char *out = lyh_read_file(s_node->nd_stdout, &out_len);
    cr_assert_not_null(out);
    cr_assert_eq(out_len, 0, "the daemon wrote to stdout: %.200s", out);
    free(out);
}

/* ---- (b) 64 concurrent clients ------------------------------------------ */

#define NB_CLIENTS 64
#define NB_SHARED  4
#define NB_EARNS   10  /* per client on its own customer, and as many on a shared one */
#define NB_AMOUNT  200 /* minor units: 2 points at Silver */
#define NB_POINTS  2

typedef struct nb_client {
    int c_index;
    pthread_t c_thread;
    int c_failed;
    char c_why[700];
} nb_client;

static pthread_barrier_t s_barrier;

static void *s_load_main(void *arg)
{
    nb_client *me = arg;
    ly_client *c = lyh_client(s_node, 30000);
    pthread_barrier_wait(&s_barrier);
    if (c == NULL) {
        me->c_failed = 1;
        snprintf(me->c_why, sizeof me->c_why, "no client");
        return NULL;
    }
    for (int k = 0; k < 2 * NB_EARNS && !me->c_failed; k++) {
        ly_req rq;
        ly_rep rp;
        ly_req_init(&rq, LY_MSG_EARN);
        if (k % 2 == 0)
            snprintf(rq.rq_customer, sizeof rq.rq_customer, "own-%02d", me->c_index);
        else
            snprintf(rq.rq_customer, sizeof rq.rq_customer, "shared-%d", me->c_index % NB_SHARED);
        snprintf(rq.rq_txn, sizeof rq.rq_txn, "load-%02d-%02d", me->c_index, k);
        rq.rq_amount = NB_AMOUNT;
        ly_err e = ly_client_call(c, &rq, &rp);
        if (e != LY_OK || rp.rp_err != LY_OK || rp.rp_points != NB_POINTS || rp.rp_replayed) {
            me->c_failed = 1;
            snprintf(me->c_why, sizeof me->c_why,
                     "earn %s for %s: transport %s, reply %s (%s), points %lld, replayed %d",
                     rq.rq_txn, rq.rq_customer, ly_errname(e), ly_errname((ly_err)rp.rp_err),
                     rp.rp_message, (long long)rp.rp_points, rp.rp_replayed);
        }
        ly_rep_fini(&rp);
    }
    ly_client_destroy(&c);
    return NULL;
}

Test(node, sixty_four_concurrent_clients_all_acked_balances_exact)
{
    s_start("load");
    ly_client *c = lyh_client(s_node, NT_CALL_MS);
    cr_assert_not_null(c);
    char id[32], txn[48];
    ly_rep rp;
    for (int i = 0; i < NB_CLIENTS; i++) {
        snprintf(id, sizeof id, "own-%02d", i);
        snprintf(txn, sizeof txn, "load-enroll-own-%02d", i);
        s_mutate_ok(c, LY_MSG_ENROLL, id, txn, 0, &rp);
        ly_rep_fini(&rp);
    }
    for (int i = 0; i < NB_SHARED; i++) {
        snprintf(id, sizeof id, "shared-%d", i);
        snprintf(txn, sizeof txn, "load-enroll-shared-%d", i);
        s_mutate_ok(c, LY_MSG_ENROLL, id, txn, 0, &rp);
        ly_rep_fini(&rp);
    }

    static nb_client clients[NB_CLIENTS];
    pthread_barrier_init(&s_barrier, NULL, NB_CLIENTS);
    uint64_t t0 = lyh_now_ms();
    for (int i = 0; i < NB_CLIENTS; i++) {
        clients[i] = (nb_client){.c_index = i};
        cr_assert_eq(pthread_create(&clients[i].c_thread, NULL, s_load_main, &clients[i]), 0);
    }
    for (int i = 0; i < NB_CLIENTS; i++)
        pthread_join(clients[i].c_thread, NULL);
    uint64_t ms = lyh_now_ms() - t0;
    pthread_barrier_destroy(&s_barrier);
    for (int i = 0; i < NB_CLIENTS; i++)
        cr_assert_not(clients[i].c_failed, "client %d: %s", i, clients[i].c_why);
    cr_log_info("%d earns from %d clients in %llu ms", NB_CLIENTS * 2 * NB_EARNS, NB_CLIENTS,
                (unsigned long long)ms);

    for (int i = 0; i < NB_CLIENTS; i++) {
        snprintf(id, sizeof id, "own-%02d", i);
        s_customer(c, id, &rp);
        cr_assert_eq(rp.rp_balance, NB_EARNS * NB_POINTS, "%s: balance %lld", id,
                     (long long)rp.rp_balance);
        cr_assert_eq(rp.rp_lifetime, NB_EARNS * NB_POINTS);
        ly_rep_fini(&rp);
    }
    for (int i = 0; i < NB_SHARED; i++) {
        snprintf(id, sizeof id, "shared-%d", i);
        s_customer(c, id, &rp);
        int64_t want = (int64_t)(NB_CLIENTS / NB_SHARED) * NB_EARNS * NB_POINTS;
        cr_assert_eq(rp.rp_balance, want, "%s: balance %lld, expected %lld", id,
                     (long long)rp.rp_balance, (long long)want);
        ly_rep_fini(&rp);
    }
    ly_client_destroy(&c);
    ly_node_status st = s_status();
    cr_assert_eq(st.ns_events, (uint64_t)(NB_CLIENTS + NB_SHARED + NB_CLIENTS * 2 * NB_EARNS));
    cr_assert_eq(st.ns_customers, (uint64_t)(NB_CLIENTS + NB_SHARED));
}

/* ---- (c) configuration errors and the command line ----------------------- */

/* snprintf into a path buffer; a truncated path fails the test. */
static void s_pathf(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_pathf(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    cr_assert(n >= 0 && (size_t)n < cap, "path too long");
}

/* Entries of `dir` other than "." and "..". */
static int s_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "opendir %s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Write `body` (after a valid [node] section naming data_dir `data`) to
 * s_dir/NAME.ini, run loyald on it and expect exit 2 with "NAME.ini:LINE:" on
 * stderr for one of `lines` (0-terminated; {0}: the file name is enough), and
 * nothing created. `listen` (NULL: a free port) is the value on line 5;
 * `node_extra` goes inside [node], from line 7. */
static void s_bad_config(const char *name, const char *listen, const char *node_extra,
                         const char *body, const char *data, const int *lines)
{
    char path[LYH_PATH_MAX], text[4096], want[LYH_PATH_MAX + 32], ep[64];
    s_pathf(path, sizeof path, "%s/%s.ini", s_dir, name);
    int p1 = lyh_free_port(), p2 = lyh_free_port();
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", p1);
    snprintf(text, sizeof text,
             "[node]\n"                           /* 1 */
             "id = 1\n"                           /* 2 */
             "name = bad\n"                       /* 3 */
             "data_dir = %s\n"                    /* 4 */
             "listen = %s\n"                      /* 5 */
             "peer_listen = tcp://127.0.0.1:%d\n" /* 6 */
             "%s%s",
             data, listen ? listen : ep, p2, node_extra ? node_extra : "", body ? body : "");
    cr_assert_eq(lyh_write_file(path, text), 0);
    int before = s_count_entries(s_dir);

    lyh_output out;
    int code = lyh_loyald(&out, NT_RUN_MS, "--config", path, (char *)NULL);
    int named = 0;
    s_pathf(want, sizeof want, "%s.ini:", name);
    if (lines[0] == 0)
        named = strstr(out.ou_err, want) != NULL;
    for (int i = 0; lines[i] != 0 && !named; i++) {
        snprintf(want, sizeof want, "%s.ini:%d:", name, lines[i]);
        named = strstr(out.ou_err, want) != NULL;
    }
    int after = s_count_entries(s_dir);
    char err[600];
    snprintf(err, sizeof err, "%.590s", out.ou_err);
    lyh_output_fini(&out);
    cr_assert_eq(code, 2, "config case '%s': loyald exit code %d, expected 2; stderr: %s", name,
                 code, err);
    cr_assert(named, "config case '%s': stderr does not name %s.ini:LINE (line %d): %s", name, name,
              lines[0], err);
    cr_assert_eq(after, before, "config case '%s': loyald created files in %s", name, s_dir);
    cr_assert_not(lyh_exists(data), "config case '%s': data_dir %s was created", name, data);
}

static void s_scratch(void)
{
    cr_assert_eq(lyh_tmpdir("config", s_dir, sizeof s_dir), 0);
}

/* ---- pipelining: many requests in flight on one client --------------------- */

#define NP_N 200

/* A till or a back-office feed may send many requests on one connection
 * before the first answer: each is answered once, under its own id, and a
 * retry in the same stream is answered from the original. */
Test(node, pipelined_requests_on_one_client_are_each_answered_once)
{
    s_start("pipe");
    ly_client *c = lyh_client(s_node, NT_CALL_MS);
    cr_assert_not_null(c);
    ly_rep rp;
    s_mutate_ok(c, LY_MSG_ENROLL, "pp-1", "pp-enroll", 0, &rp);
    ly_rep_fini(&rp);

    uint64_t ids[NP_N + 1];
    int answered[NP_N + 1] = {0};
    for (int i = 0; i <= NP_N; i++) {
        ly_req rq;
        ly_req_init(&rq, LY_MSG_EARN);
        snprintf(rq.rq_customer, sizeof rq.rq_customer, "pp-1");
        /* The last one retries the first, in the same stream. */
        snprintf(rq.rq_txn, sizeof rq.rq_txn, "pp-earn-%d", i == NP_N ? 0 : i);
        rq.rq_amount = 100 * (i == NP_N ? 1 : 1 + i % 3);
        ly_rep err;
        ly_err e = ly_client_send(c, &rq, &err);
        cr_assert_eq(e, LY_OK, "send %d: %s: %s", i, ly_errname(e), err.rp_message);
        ly_rep_fini(&err);
        ids[i] = rq.rq_id;
        for (int j = 0; j < i; j++)
            cr_assert_neq(ids[j], ids[i], "requests %d and %d got the same id", j, i);
    }
    /* A request that breaks its contract is refused before it is sent. */
    ly_req bad;
    ly_req_init(&bad, LY_MSG_EARN);
    snprintf(bad.rq_txn, sizeof bad.rq_txn, "pp-bad");
    bad.rq_amount = 100;
    ly_rep err;
    cr_assert_eq(ly_client_send(c, &bad, &err), LY_EINVAL);
    cr_assert_eq(err.rp_err, LY_EINVAL);
    cr_assert_neq(err.rp_message[0], '\0', "an EINVAL without a message");
    ly_rep_fini(&err);

    int64_t points = 0;
    int replayed = 0;
    for (int n = 0; n <= NP_N; n++) {
        ly_err e = ly_client_recv(c, &rp);
        cr_assert_eq(e, LY_OK, "reply %d of %d: %s: %s", n + 1, NP_N + 1, ly_errname(e),
                     rp.rp_message);
        int i = 0;
        while (i <= NP_N && ids[i] != rp.rp_id)
            i++;
        cr_assert_leq(i, NP_N, "a reply to request id %llu, which we did not send",
                      (unsigned long long)rp.rp_id);
        cr_assert_eq(answered[i]++, 0, "request %d answered twice", i);
        cr_assert_eq(rp.rp_err, LY_OK, "earn %d: %s", i, rp.rp_message);
        cr_assert_eq(rp.rp_points, i == NP_N ? 1 : 1 + i % 3, "earn %d gave %lld points", i,
                     (long long)rp.rp_points);
        if (rp.rp_replayed) {
            replayed++;
            cr_assert(i == NP_N || i == 0, "earn %d, a first send, was answered as a retry", i);
        } else {
            points += rp.rp_points;
        }
        ly_rep_fini(&rp);
    }
    cr_assert_eq(replayed, 1, "%d replies were retries; the stream held one", replayed);
    int64_t want = 0;
    for (int i = 0; i < NP_N; i++)
        want += 1 + i % 3;
    cr_assert_eq(points, want);
    s_customer(c, "pp-1", &rp);
    cr_assert_eq(rp.rp_balance, want, "balance %lld after %d pipelined earns worth %lld",
                 (long long)rp.rp_balance, NP_N, (long long)want);
    ly_rep_fini(&rp);
    ly_client_destroy(&c);

    /* Nothing in flight: a receive times out, says so, and the client still works. */
    c = lyh_client(s_node, 300);
    cr_assert_not_null(c);
    uint64_t t0 = lyh_now_ms();
    cr_assert_eq(ly_client_recv(c, &rp), LY_ETIMEDOUT);
    cr_assert_geq(lyh_now_ms() - t0, 250);
    cr_assert_eq(rp.rp_err, LY_ETIMEDOUT);
    cr_assert_neq(rp.rp_message[0], '\0');
    ly_rep_fini(&rp);
    s_customer(c, "pp-1", &rp);
    cr_assert_eq(rp.rp_balance, want);
    ly_rep_fini(&rp);
    ly_client_destroy(&c);
}

Test(node, config_errors_exit_2_name_file_line_create_nothing)
{
    s_scratch();
    char data[LYH_PATH_MAX], body[1024];
    s_pathf(data, sizeof data, "%s/data", s_dir);
    int p = lyh_free_port(), q = lyh_free_port();

    s_bad_config("unknown_key", NULL, "lisen = tcp://127.0.0.1:7000\n", NULL, data, (int[]){7, 0});
    s_bad_config("peer_id_zero", NULL, NULL, "[peer x]\nid = 0\nendpoint = tcp://127.0.0.1:7000\n",
                 data, (int[]){8, 7, 0});
    snprintf(body, sizeof body,
             "[peer a]\n"                       /* 7 */
             "id = 2\n"                         /* 8 */
             "endpoint = tcp://127.0.0.1:%d\n"  /* 9 */
             "[peer b]\n"                       /* 10 */
             "id = 2\n"                         /* 11 */
             "endpoint = tcp://127.0.0.1:%d\n", /* 12 */
             p, q);
    s_bad_config("duplicate_peer_id", NULL, NULL, body, data, (int[]){11, 10, 0});
    snprintf(body, sizeof body, "[peer self]\nid = 1\nendpoint = tcp://127.0.0.1:%d\n", p);
    s_bad_config("peer_with_own_id", NULL, NULL, body, data, (int[]){8, 7, 0});
    s_bad_config("bad_port", "tcp://127.0.0.1:99999", NULL, NULL, data, (int[]){5, 0});
    s_bad_config("port_zero", "tcp://127.0.0.1:0", NULL, NULL, data, (int[]){5, 0});
    s_bad_config("no_port", "tcp://127.0.0.1", NULL, NULL, data, (int[]){5, 0});
    s_bad_config("not_an_endpoint", "127.0.0.1:7000", NULL, NULL, data, (int[]){5, 0});
    s_bad_config("bad_scheme", NULL, NULL, "[peer a]\nid = 2\nendpoint = http://127.0.0.1:80/\n",
                 data, (int[]){9, 0});
    s_bad_config("unknown_section", NULL, NULL, "[nodes]\nid = 3\n", data, (int[]){7, 8, 0});
    s_bad_config("not_a_number", NULL, "batch_max = lots\n", NULL, data, (int[]){7, 0});
}

Test(node, config_file_missing_exit_2)
{
    s_scratch();
    char path[LYH_PATH_MAX];
    s_pathf(path, sizeof path, "%s/nope.ini", s_dir);
    lyh_output out;
    int code = lyh_loyald(&out, NT_RUN_MS, "--config", path, (char *)NULL);
    int named = strstr(out.ou_err, "nope.ini") != NULL;
    lyh_output_fini(&out);
    cr_assert_eq(code, 2);
    cr_assert(named, "stderr does not name the missing file");
    cr_assert_eq(s_count_entries(s_dir), 0, "loyald created files");
}

Test(node, data_dir_under_a_regular_file_exit_2)
{
    s_scratch();
    char file[LYH_PATH_MAX], data[LYH_PATH_MAX + 8];
    s_pathf(file, sizeof file, "%s/plainfile", s_dir);
    cr_assert_eq(lyh_write_file(file, "not a directory\n"), 0);
    s_pathf(data, sizeof data, "%s/data", file);
    /* The config is fine; the data dir cannot be created (for root too). The
     * loader keeps no line for it, so the file name is enough. */
    s_bad_config("data_under_file", NULL, NULL, NULL, data, (int[]){0});
}

Test(node, data_dir_in_read_only_dir_exit_2)
{
    if (geteuid() == 0)
        cr_skip_test("running as root: permission checks do not apply");
    s_scratch();
    char ro[LYH_PATH_MAX], data[LYH_PATH_MAX + 8];
    s_pathf(ro, sizeof ro, "%s/readonly", s_dir);
    cr_assert_eq(mkdir(ro, 0555), 0);
    s_pathf(data, sizeof data, "%s/data", ro);
    s_bad_config("data_in_read_only", NULL, NULL, NULL, data, (int[]){0});
}

Test(node, command_line_help_version_unknown_option)
{
    lyh_output out;
    int code = lyh_loyald(&out, NT_RUN_MS, "--help", (char *)NULL);
    int mentions = strstr(out.ou_out, "--config") != NULL || strstr(out.ou_err, "--config");
    lyh_output_fini(&out);
    cr_assert_eq(code, 0, "loyald --help: exit %d", code);
    cr_assert(mentions, "loyald --help does not mention --config");

    code = lyh_loyald(&out, NT_RUN_MS, "--version", (char *)NULL);
    int has_version = strstr(out.ou_out, LY_VERSION) != NULL;
    lyh_output_fini(&out);
    cr_assert_eq(code, 0, "loyald --version: exit %d", code);
    cr_assert(has_version, "loyald --version does not print %s on stdout", LY_VERSION);

    code = lyh_loyald(&out, NT_RUN_MS, "--frobnicate", (char *)NULL);
    int said = out.ou_err_len > 0;
    lyh_output_fini(&out);
    cr_assert_eq(code, 2, "loyald --frobnicate: exit %d", code);
    cr_assert(said, "loyald --frobnicate: nothing on stderr");

    code = lyh_loyald(&out, NT_RUN_MS, "--config", (char *)NULL);
    lyh_output_fini(&out);
    cr_assert_eq(code, 2, "loyald --config (no value): exit %d", code);
}

/* ---- (d) bad client input over a raw DEALER ------------------------------ */

/* A tiny msgpack writer for hand-made frames. */
typedef struct mp_buf {
    uint8_t b[256];
    size_t n;
} mp_buf;

static void mp_raw(mp_buf *m, const void *p, size_t n)
{
    cr_assert_leq(m->n + n, sizeof m->b);
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static void mp_byte(mp_buf *m, uint8_t v)
{
    mp_raw(m, &v, 1);
}

static void mp_str(mp_buf *m, const char *s)
{
    size_t len = strlen(s);
    cr_assert_lt(len, 32);
    mp_byte(m, (uint8_t)(0xa0 | len));
    mp_raw(m, s, len);
}

static void mp_uint(mp_buf *m, uint64_t v)
{
    if (v < 128) {
        mp_byte(m, (uint8_t)v);
        return;
    }
    mp_byte(m, 0xcf);
    for (int i = 7; i >= 0; i--)
        mp_byte(m, (uint8_t)(v >> (8 * i)));
}

/* {"v":V,"t":T,"id":ID} with `extra` more pairs announced (the caller appends them). */
static void mp_head(mp_buf *m, int extra, uint64_t v, const char *t, uint64_t id)
{
    mp_byte(m, (uint8_t)(0x80 | (3 + extra)));
    mp_str(m, "v");
    mp_uint(m, v);
    mp_str(m, "t");
    mp_str(m, t);
    mp_str(m, "id");
    mp_uint(m, id);
}

typedef struct nd_case {
    const char *c_name;
    int c_nframes;
    const uint8_t *c_frame[3];
    size_t c_len[3];
    uint32_t c_allowed; /* mask of 1 << ly_err a reply may carry */
    uint64_t c_id;      /* nonzero: an error reply must echo this id */
} nd_case;

#define E(x) (1u << (x))

static void *s_zctx;

/* Send the case on a fresh DEALER and wait for at most `wait_ms` for a reply.
 * A reply must be one decodable frame with an allowed error. */
static void s_raw_case(const nd_case *k, int wait_ms)
{
    void *s = zmq_socket(s_zctx, ZMQ_DEALER);
    cr_assert_not_null(s);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    cr_assert_eq(lyh_curve_socket(s, s_node), 0);
    cr_assert_eq(zmq_connect(s, s_node->nd_listen), 0);
    for (int i = 0; i < k->c_nframes; i++) {
        int flags = i + 1 < k->c_nframes ? ZMQ_SNDMORE : 0;
        cr_assert_geq(zmq_send(s, k->c_frame[i], k->c_len[i], flags), 0, "%s: send: %s", k->c_name,
                      zmq_strerror(zmq_errno()));
    }
    zmq_pollitem_t pi = {s, 0, ZMQ_POLLIN, 0};
    int r = zmq_poll(&pi, 1, wait_ms);
    if (r > 0) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        cr_assert_geq(zmq_msg_recv(&msg, s, 0), 0);
        int more = zmq_msg_more(&msg);
        ly_rep rp;
        char why[200] = "";
        ly_err de = ly_rep_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), &rp, why, sizeof why);
        zmq_msg_close(&msg);
        cr_assert_not(more, "%s: the reply has more than one frame", k->c_name);
        cr_assert_eq(de, LY_OK, "%s: undecodable reply: %s", k->c_name, why);
        cr_log_info("%s: reply %s (%s), id %llu", k->c_name, ly_errname((ly_err)rp.rp_err),
                    rp.rp_message, (unsigned long long)rp.rp_id);
        cr_assert(rp.rp_err != LY_OK && (k->c_allowed & E(rp.rp_err)),
                  "%s: reply %s (%s) is not an allowed error", k->c_name,
                  ly_errname((ly_err)rp.rp_err), rp.rp_message);
        if (k->c_id)
            cr_assert_eq(rp.rp_id, k->c_id, "%s: the error reply does not echo id %llu (got %llu)",
                         k->c_name, (unsigned long long)k->c_id, (unsigned long long)rp.rp_id);
        ly_rep_fini(&rp);
    } else {
        cr_log_info("%s: dropped (no reply in %d ms)", k->c_name, wait_ms);
    }
    zmq_close(s);
    ly_node_status st;
    ly_err e = lyh_node_status(s_node, NT_CALL_MS, &st);
    cr_assert_eq(e, LY_OK, "after %s the node no longer answers status: %s", k->c_name,
                 ly_errname(e));
}

/* The encoded form of a valid earn; caller frees. */
static uint8_t *s_valid_earn(const char *txn, uint64_t id, size_t *len)
{
    ly_req rq;
    ly_req_init(&rq, LY_MSG_EARN);
    rq.rq_id = id;
    snprintf(rq.rq_customer, sizeof rq.rq_customer, "raw-1");
    snprintf(rq.rq_txn, sizeof rq.rq_txn, "%s", txn);
    rq.rq_amount = 1234;
    uint8_t *buf = NULL;
    cr_assert_eq(ly_req_encode(&rq, &buf, len), LY_OK);
    return buf;
}

/* A copy of a valid earn with the value of "amount" replaced by `val`. */
static uint8_t *s_with_amount(const uint8_t *src, size_t len, const uint8_t *val, size_t vlen,
                              size_t *out_len)
{
    static const uint8_t key[] = "\xa6"
                                 "amount";
    const uint8_t *at = memmem(src, len, key, sizeof key - 1);
    cr_assert_not_null(at, "no amount key in an encoded earn");
    size_t off = (size_t)(at - src) + sizeof key - 1, old = 1;
    uint8_t t = src[off];
    if (t == 0xcc || t == 0xd0)
        old = 2;
    else if (t == 0xcd || t == 0xd1)
        old = 3;
    else if (t == 0xce || t == 0xd2)
        old = 5;
    else if (t == 0xcf || t == 0xd3)
        old = 9;
    uint8_t *out = malloc(len - old + vlen);
    cr_assert_not_null(out);
    memcpy(out, src, off);
    memcpy(out + off, val, vlen);
    memcpy(out + off + vlen, src + off + old, len - off - old);
    *out_len = len - old + vlen;
    return out;
}

Test(node, bad_client_input_is_refused_and_changes_nothing)
{
    s_start("raw");
    s_zctx = zmq_ctx_new();
    cr_assert_not_null(s_zctx);
    ly_client *c = lyh_client(s_node, NT_CALL_MS);
    cr_assert_not_null(c);
    ly_rep rp;
    s_mutate_ok(c, LY_MSG_ENROLL, "raw-1", "raw-enroll", 0, &rp);
    ly_rep_fini(&rp);

    /* Positive control: a valid earn sent over the raw socket is applied. */
    size_t vlen;
    uint8_t *valid = s_valid_earn("raw-control", 4242, &vlen);
    {
        void *s = zmq_socket(s_zctx, ZMQ_DEALER);
        int zero = 0;
        zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
        cr_assert_eq(lyh_curve_socket(s, s_node), 0);
        cr_assert_eq(zmq_connect(s, s_node->nd_listen), 0);
        cr_assert_eq(zmq_send(s, valid, vlen, 0), (int)vlen);
        uint8_t buf[LY_FRAME_MAX];
        zmq_pollitem_t pi = {s, 0, ZMQ_POLLIN, 0};
        cr_assert_eq(zmq_poll(&pi, 1, NT_CALL_MS), 1, "no reply to a valid raw earn");
        int n = zmq_recv(s, buf, sizeof buf, 0);
        cr_assert_gt(n, 0);
        cr_assert_eq(ly_rep_decode(buf, (size_t)n, &rp, NULL, 0), LY_OK);
        cr_assert_eq(rp.rp_err, LY_OK, "valid raw earn refused: %s", rp.rp_message);
        cr_assert_eq(rp.rp_id, 4242);
        cr_assert_eq(rp.rp_points, 12);
        ly_rep_fini(&rp);
        zmq_close(s);
    }
    free(valid);
    ly_node_status st0 = s_status();

    /* Hand-made frames. */
    static const uint8_t garbage[] = "\xc1\xc1\xc1 this is not msgpack \xff\x00\x01";
    static const uint8_t map32[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'v', 0x01};
    static const uint8_t arr32[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
    static const uint8_t reserved[] = {0x83, 0xa1, 'v', 0x01, 0xa1, 't', 0xc1, 0xa2, 'i', 'd', 1};
    mp_buf version, unknown_type, str_type, huge_str, v_string, no_version;
    memset(&version, 0, sizeof version);
    memset(&unknown_type, 0, sizeof unknown_type);
    memset(&str_type, 0, sizeof str_type);
    memset(&huge_str, 0, sizeof huge_str);
    memset(&v_string, 0, sizeof v_string);
    memset(&no_version, 0, sizeof no_version);
    mp_head(&version, 0, 2, "status", 77);
    mp_head(&unknown_type, 0, 1, "frobnicate", 78);
    mp_head(&str_type, 0, 1, "status", 79);
    str_type.b[0] = 0x84; /* one more pair: "t" again, as an integer */
    mp_str(&str_type, "t");
    mp_uint(&str_type, 8);
    mp_head(&huge_str, 2, 1, "earn", 80);
    mp_str(&huge_str, "customer");
    mp_raw(&huge_str,
           "\xdb\xff\xff\xff\xf0"
           "abc",
           8); /* str32 of 4 GiB, 3 bytes given */
    mp_str(&huge_str, "txn");
    mp_str(&huge_str, "raw-huge");
    mp_byte(&v_string, 0x83);
    mp_str(&v_string, "v");
    mp_str(&v_string, "1");
    mp_str(&v_string, "t");
    mp_str(&v_string, "status");
    mp_str(&v_string, "id");
    mp_uint(&v_string, 81);
    mp_byte(&no_version, 0x82);
    mp_str(&no_version, "t");
    mp_str(&no_version, "status");
    mp_str(&no_version, "id");
    mp_uint(&no_version, 82);

    size_t deep_len = 10001;
    uint8_t *deep = malloc(deep_len);
    cr_assert_not_null(deep);
    memset(deep, 0x91, deep_len - 1); /* [[[[...1...]]]] */
    deep[deep_len - 1] = 0x01;
    uint8_t nested33[100];
    size_t n33 = 0;
    for (int i = 0; i < 33; i++) {
        nested33[n33++] = 0x81;
        nested33[n33++] = 0xa1;
        nested33[n33++] = 'v';
    }
    nested33[n33++] = 0x01;

    size_t big_len = LY_FRAME_MAX + 4096;
    uint8_t *big = malloc(big_len);
    cr_assert_not_null(big);
    memset(big, 'x', big_len);
    big[0] = 0x83;

    /* Variants of a valid earn (each with its own txn: none of them may apply). */
    size_t e1, e2, e3, e4, e5, e6;
    uint8_t *extra = s_valid_earn("raw-extra", 90, &e1);
    uint8_t *extra2 = malloc(e1 + 4);
    cr_assert_not_null(extra2);
    memcpy(extra2, extra, e1);
    cr_assert(extra2[0] >= 0x81 && extra2[0] < 0x8f, "encoded earn is not a small fixmap");
    extra2[0]++;
    memcpy(extra2 + e1, "\xa2zz\x01", 4);
    uint8_t *trailing = s_valid_earn("raw-trailing", 91, &e2);
    uint8_t *trailing2 = malloc(e2 + 1);
    cr_assert_not_null(trailing2);
    memcpy(trailing2, trailing, e2);
    trailing2[e2] = 0xc0;
    uint8_t *base = s_valid_earn("raw-amount", 92, &e3);
    uint8_t *zero_amt = s_with_amount(base, e3, (const uint8_t *)"\x00", 1, &e4);
    uint8_t *neg_amt = s_with_amount(base, e3, (const uint8_t *)"\xd0\xfb", 2, &e5);
    uint8_t *max_amt =
        s_with_amount(base, e3, (const uint8_t *)"\xcf\x7f\xff\xff\xff\xff\xff\xff\xff", 9, &e6);
    size_t e7;
    uint8_t *frame_a = s_valid_earn("raw-3frames-a", 93, &e7);
    size_t e8;
    uint8_t *truncated = s_valid_earn("raw-truncated", 94, &e8);

    const uint32_t proto = E(LY_EPROTO);
    const uint32_t semantic = E(LY_EPROTO) | E(LY_EINVAL);
    nd_case cases[] = {
        {"garbage bytes", 1, {garbage}, {sizeof garbage - 1}, proto, 0},
        {"empty frame", 1, {(const uint8_t *)""}, {0}, proto, 0},
        {"three frames", 3, {frame_a, frame_a, frame_a}, {e7, e7, e7}, proto, 0},
        {"frame over 64 KiB", 1, {big}, {big_len}, E(LY_ETOOBIG), 0},
        {"map32 of 4G pairs", 1, {map32}, {sizeof map32}, proto, 0},
        {"array32 of 4G items", 1, {arr32}, {sizeof arr32}, proto, 0},
        {"str32 of 4 GiB", 1, {huge_str.b}, {huge_str.n}, proto | E(LY_ETOOBIG), 0},
        {"10000 levels of nesting", 1, {deep}, {deep_len}, proto, 0},
        {"33 nested maps", 1, {nested33}, {n33}, proto, 0},
        {"reserved byte 0xc1", 1, {reserved}, {sizeof reserved}, proto, 0},
        {"version 2", 1, {version.b}, {version.n}, E(LY_EVERSION), 77},
        {"version as a string", 1, {v_string.b}, {v_string.n}, proto | E(LY_EVERSION), 81},
        {"no version", 1, {no_version.b}, {no_version.n}, proto | E(LY_EVERSION), 82},
        {"unknown type", 1, {unknown_type.b}, {unknown_type.n}, proto, 78},
        {"duplicate type key", 1, {str_type.b}, {str_type.n}, proto, 79},
        {"earn with an unknown field", 1, {extra2}, {e1 + 4}, proto, 90},
        {"earn with trailing bytes", 1, {trailing2}, {e2 + 1}, proto, 0},
        {"earn truncated", 1, {truncated}, {e8 - 1}, proto, 0},
        {"earn of amount 0", 1, {zero_amt}, {e4}, semantic, 92},
        {"earn of amount -5", 1, {neg_amt}, {e5}, semantic, 92},
        {"earn of amount INT64_MAX", 1, {max_amt}, {e6}, semantic, 92},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        s_raw_case(&cases[i], 1500);

    ly_node_status st1 = s_status();
    cr_assert_eq(st1.ns_events, st0.ns_events, "bad input changed the event count");
    cr_assert_eq(st1.ns_customers, st0.ns_customers);
    cr_assert_eq(st1.ns_digest, st0.ns_digest, "bad input changed the digest");
    s_customer(c, "raw-1", &rp);
    cr_assert_eq(rp.rp_balance, 12);
    ly_rep_fini(&rp);

    ly_client_destroy(&c);
    free(extra);
    free(extra2);
    free(trailing);
    free(trailing2);
    free(base);
    free(zero_amt);
    free(neg_amt);
    free(max_amt);
    free(frame_a);
    free(truncated);
    free(deep);
    free(big);
    zmq_ctx_term(s_zctx);
    s_zctx = NULL;
}

/* `n` status calls on `c`, `gap_ms` apart, as a till's health check would
 * make them: the slowest in µs; *failures counts those without an ok reply. */
static uint64_t s_status_probe(ly_client *c, int n, int gap_ms, int *failures)
{
    uint64_t worst = 0;
    for (int i = 0; i < n; i++) {
        ly_req rq;
        ly_rep rp;
        ly_req_init(&rq, LY_MSG_STATUS);
        uint64_t t0 = lyh_now_us();
        ly_err e = ly_client_call(c, &rq, &rp);
        uint64_t us = lyh_now_us() - t0;
        if (e != LY_OK || rp.rp_err != LY_OK)
            (*failures)++;
        worst = us > worst ? us : worst;
        ly_rep_fini(&rp);
        lyh_sleep_ms(gap_ms);
    }
    return worst;
}

/* A client that floods requests and never reads the replies. */
typedef struct nd_flood {
    atomic_int f_stop;
    long f_sent;
    const char *f_endpoint;
    int f_keys; /* lyh_curve_socket's result: -1 and the flood would never get in */
} nd_flood;

static void *s_flood_main(void *arg)
{
    nd_flood *f = arg;
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, hwm = 100000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    f->f_keys = lyh_curve_socket(s, s_node); /* without it, under CURVE nothing gets in */
    zmq_connect(s, f->f_endpoint);
    uint64_t id = 1;
    while (!atomic_load(&f->f_stop)) {
        ly_req rq;
        ly_req_init(&rq, LY_MSG_STATUS);
        rq.rq_id = id++;
        uint8_t *buf;
        size_t len;
        if (ly_req_encode(&rq, &buf, &len) != LY_OK)
            break;
        if (zmq_send(s, buf, len, ZMQ_DONTWAIT) >= 0)
            f->f_sent++;
        else
            lyh_sleep_ms(1);
        free(buf);
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    return NULL;
}

Test(node, a_client_that_never_reads_does_not_stall_others)
{
    s_start("flood");
    ly_node_status st0 = s_status();
    nd_flood f = {.f_endpoint = s_node->nd_listen};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, s_flood_main, &f), 0);
    lyh_sleep_ms(500);

    ly_client *c = lyh_client(s_node, 5000);
    cr_assert_not_null(c);
    int failures = 0;
    uint64_t worst = s_status_probe(c, 30, 50, &failures);
    atomic_store(&f.f_stop, 1);
    pthread_join(t, NULL);
    ly_client_destroy(&c);
    cr_log_info("flooder sent %ld requests; other client's worst status latency %llu us", f.f_sent,
                (unsigned long long)worst);
    cr_assert_eq(failures, 0, "%d of 30 status calls failed while another client flooded",
                 failures);
    cr_assert_lt(worst, 2000000, "a status call took %llu us while another client flooded",
                 (unsigned long long)worst);
    cr_assert_eq(f.f_keys, 0, "the flooder's socket could not be keyed");
    cr_assert_gt(f.f_sent, 1000, "the flooder could not send");
    /* The node may still be working through what the flooder left queued
     * (read and answered into the void); it must come back to a new client
     * with nothing changed. A fresh connection per try, each with its own
     * deadline, so one slow handshake on a loaded machine is not the verdict. */
    ly_node_status st1;
    ly_err e = LY_ETIMEDOUT;
    uint64_t t1 = lyh_now_ms();
    while (e != LY_OK && lyh_now_ms() - t1 < 60000)
        e = lyh_node_status(s_node, NT_CALL_MS, &st1);
    if (e != LY_OK)
        lyh_print_tail(s_node->nd_log, 40);
    cr_assert_eq(e, LY_OK, "no status answer for 60 s after the flood stopped: %s", ly_errname(e));
    cr_log_info("status after the flood answered in %llu ms",
                (unsigned long long)(lyh_now_ms() - t1));
    cr_assert_eq(st1.ns_events, st0.ns_events);
    cr_assert_eq(st1.ns_digest, st0.ns_digest);
}

/* Clients that flood and then hang up with replies unread (their kernel
 * answers the close with a reset). libzmq 4.3.4 aborts the whole process when
 * such a connection's input was stopped by the high-water mark and a ZMTP
 * heartbeat timer fires before the node drained it (libzmq #4841): one till
 * could take a branch down. loyald uses TCP keepalive instead of ZMTP
 * heartbeats; this keeps it honest. Each round, eight flooders fill their
 * queues with earns (writes, so the node drains them slowly) and reset. */
#define NH_FLOODERS 8
#define NH_ROUNDS   3

typedef struct nh_flood {
    const char *h_endpoint;
    int h_round, h_index;
    long h_sent;
    int h_keys; /* as nd_flood's f_keys */
} nh_flood;

static void *s_hangup_main(void *arg)
{
    nh_flood *h = arg;
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, hwm = 100000;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    h->h_keys = lyh_curve_socket(s, s_node);
    zmq_connect(s, h->h_endpoint);
    uint64_t t0 = lyh_now_ms();
    for (uint64_t id = 1; lyh_now_ms() - t0 < 1500; id++) {
        ly_req rq;
        ly_req_init(&rq, LY_MSG_EARN);
        rq.rq_id = id;
        snprintf(rq.rq_customer, sizeof rq.rq_customer, "hang-%d", h->h_index);
        snprintf(rq.rq_txn, sizeof rq.rq_txn, "h%d-%d-%llu", h->h_round, h->h_index,
                 (unsigned long long)id);
        rq.rq_amount = 100;
        uint8_t *buf;
        size_t len;
        if (ly_req_encode(&rq, &buf, &len) != LY_OK)
            break;
        if (zmq_send(s, buf, len, ZMQ_DONTWAIT) >= 0)
            h->h_sent++;
        else
            lyh_sleep_ms(1);
        free(buf);
    }
    zmq_close(s); /* replies unread: the close is a reset */
    zmq_ctx_term(ctx);
    return NULL;
}

Test(node, clients_that_flood_and_hang_up_do_not_take_the_node_down)
{
    s_start("hangup");
    ly_client *c = lyh_client(s_node, NT_CALL_MS);
    cr_assert_not_null(c);
    for (int i = 0; i < NH_FLOODERS; i++) {
        char cust[32];
        ly_rep rp;
        snprintf(cust, sizeof cust, "hang-%d", i);
        s_mutate_ok(c, LY_MSG_ENROLL, cust, cust, 0, &rp);
        ly_rep_fini(&rp);
    }
    ly_client_destroy(&c);
    for (int round = 0; round < NH_ROUNDS; round++) {
        nh_flood h[NH_FLOODERS];
        pthread_t t[NH_FLOODERS];
        for (int i = 0; i < NH_FLOODERS; i++) {
            h[i] = (nh_flood){.h_endpoint = s_node->nd_listen, .h_round = round, .h_index = i};
            cr_assert_eq(pthread_create(&t[i], NULL, s_hangup_main, &h[i]), 0);
        }
        long sent = 0;
        for (int i = 0; i < NH_FLOODERS; i++) {
            pthread_join(t[i], NULL);
            cr_assert_eq(h[i].h_keys, 0, "flooder %d's socket could not be keyed", i);
            sent += h[i].h_sent;
        }
        /* Past two ZMTP heartbeat intervals while the node works through the queues. */
        lyh_sleep_ms(5000);
        int code = 0;
        int alive = lyh_node_alive(s_node, &code);
        if (!alive)
            lyh_print_tail(s_node->nd_log, 20);
        cr_assert(alive,
                  "round %d: loyald died (exit code %d) after %ld requests from %d flooders "
                  "that hung up",
                  round, code, sent, NH_FLOODERS);
        cr_log_info("round %d: %ld earns sent by %d flooders that hung up; node alive", round, sent,
                    NH_FLOODERS);
    }
    /* Whatever it applied, it still answers and its state is whole. */
    ly_node_status st;
    ly_err e = LY_ETIMEDOUT;
    uint64_t t1 = lyh_now_ms();
    while (e != LY_OK && lyh_now_ms() - t1 < 60000)
        e = lyh_node_status(s_node, NT_CALL_MS, &st);
    cr_assert_eq(e, LY_OK, "no status answer after the flooders left: %s", ly_errname(e));
    cr_assert_eq(lyh_node_stop(s_node, 30000), 0, "loyald did not stop cleanly");
}

/* A thousand connections that never finish their handshake (port scanners,
 * a broken till, an attack on the store network): half send nothing, half the
 * first bytes of a ZMTP greeting. A till's status calls keep answering in
 * time while they are open, and the node closes each of them once the 5 s
 * handshake limit has passed. */
#define NO_HALF_OPEN 1000

Test(node, a_thousand_half_open_connections_do_not_stall_a_till)
{
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < NO_HALF_OPEN + 200 && rl.rlim_max >= NO_HALF_OPEN + 200) {
        rl.rlim_cur = NO_HALF_OPEN + 200;
        cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    cr_assert_geq(rl.rlim_cur, NO_HALF_OPEN + 200, "the test needs %d open files",
                  NO_HALF_OPEN + 200);
    s_start("halfopen");
    ly_client *c = lyh_client(s_node, 5000);
    cr_assert_not_null(c);
    static int fds[NO_HALF_OPEN];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s_node->nd_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static const uint8_t greeting[] = {0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f}; /* ZMTP signature */
    uint64_t t0 = lyh_now_ms();
    for (int i = 0; i < NO_HALF_OPEN; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        cr_assert_geq(fds[i], 0, "socket %d: %s", i, strerror(errno));
        cr_assert_eq(connect(fds[i], (struct sockaddr *)&sa, sizeof sa), 0, "connect %d: %s", i,
                     strerror(errno));
        if (i % 2)
            cr_assert_eq(write(fds[i], greeting, sizeof greeting), (ssize_t)sizeof greeting);
    }
    uint64_t opened_ms = lyh_now_ms() - t0;
    int failures = 0;
    uint64_t worst = s_status_probe(c, 20, 100, &failures);
    cr_log_info("%d half-open connections opened in %llu ms; a till's worst status latency %llu us",
                NO_HALF_OPEN, (unsigned long long)opened_ms, (unsigned long long)worst);
    cr_assert_eq(failures, 0, "%d of 20 status calls failed beside %d half-open connections",
                 failures, NO_HALF_OPEN);
    cr_assert_lt(worst, 2000000, "a status call took %llu us beside %d half-open connections",
                 (unsigned long long)worst, NO_HALF_OPEN);
    /* Past the handshake limit every one of them is closed by the node. */
    int closed = 0;
    uint64_t t2 = lyh_now_ms();
    while (closed < NO_HALF_OPEN && lyh_now_ms() - t2 < 20000) {
        for (int i = 0; i < NO_HALF_OPEN; i++) {
            if (fds[i] < 0)
                continue;
            struct pollfd pf = {.fd = fds[i], .events = POLLIN};
            if (poll(&pf, 1, 0) != 1)
                continue;
            uint8_t buf[256];
            ssize_t n = read(fds[i], buf, sizeof buf); /* the node's greeting, then the close */
            if (n == 0 || (n < 0 && errno == ECONNRESET)) {
                close(fds[i]);
                fds[i] = -1;
                closed++;
            }
        }
        lyh_sleep_ms(100);
    }
    uint64_t closed_ms = lyh_now_ms() - t0;
    for (int i = 0; i < NO_HALF_OPEN; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    cr_log_info("the node closed %d of %d half-open connections within %llu ms of the first",
                closed, NO_HALF_OPEN, (unsigned long long)closed_ms);
    cr_assert_eq(closed, NO_HALF_OPEN, "only %d of %d half-open connections were closed in time",
                 closed, NO_HALF_OPEN);
    ly_node_status st;
    cr_assert_eq(lyh_node_status(s_node, NT_CALL_MS, &st), LY_OK, "no status after the test");
    ly_client_destroy(&c);
}

/* The harness gives each node free ports, but another process may take one
 * before the node binds it. Then the node cannot listen, and whoever holds the
 * port must not be taken for it: the harness moves the node to new ports. */
Test(node, a_node_given_a_taken_port_is_moved_not_mistaken_for_the_holder)
{
    s_start("holder");
    lyh_node *late = lyh_node_new(2, "late", NULL);
    cr_assert_not_null(late);
    late->nd_port = s_node->nd_port; /* the holder's client port */
    snprintf(late->nd_listen, sizeof late->nd_listen, "%s", s_node->nd_listen);
    cr_assert_eq(lyh_node_write_config(late, NULL), 0);
    int up = lyh_node_up(late, NT_READY_MS);
    char listen[LYH_EP_MAX];
    snprintf(listen, sizeof listen, "%s", late->nd_listen);
    ly_node_status st;
    ly_err e = up == 0 ? lyh_node_status(late, NT_CALL_MS, &st) : LY_EUNAVAIL;
    lyh_node_destroy(&late);
    cr_assert_eq(up, 0, "the node was not moved to free ports");
    cr_assert_str_neq(listen, s_node->nd_listen, "the node still names the holder's port");
    cr_assert_eq(e, LY_OK, "status of the moved node: %s", ly_errname(e));
    cr_assert_eq(st.ns_id, 2, "node %u answered for node 2", st.ns_id);
    cr_assert_str_eq(st.ns_name, "late");
    ly_node_status held = s_status();
    cr_assert_eq(held.ns_id, 1, "the holder's port answers for node %u", held.ns_id);
}

/* ---- (e) loyalctl end to end --------------------------------------------- */

/* A minimal JSON reader: validates one document and finds members by path. */
typedef struct js {
    const char *p;
    int bad;
} js;

static void js_ws(js *j)
{
    while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
        j->p++;
}

static void js_value(js *j, int depth);

static void js_string(js *j)
{
    if (*j->p != '"') {
        j->bad = 1;
        return;
    }
    for (j->p++; *j->p && *j->p != '"'; j->p++) {
        if ((unsigned char)*j->p < 0x20) {
            j->bad = 1;
            return;
        }
        if (*j->p == '\\' && *++j->p == '\0')
            break;
    }
    if (*j->p != '"')
        j->bad = 1;
    else
        j->p++;
}

static void js_value(js *j, int depth)
{
    js_ws(j);
    if (depth > 32) {
        j->bad = 1;
        return;
    }
    char ch = *j->p;
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        j->p++;
        js_ws(j);
        if (*j->p == close) {
            j->p++;
            return;
        }
        for (;;) {
            if (ch == '{') {
                js_ws(j);
                js_string(j);
                js_ws(j);
                if (j->bad || *j->p != ':') {
                    j->bad = 1;
                    return;
                }
                j->p++;
            }
            js_value(j, depth + 1);
            js_ws(j);
            if (j->bad)
                return;
            if (*j->p == ',') {
                j->p++;
                continue;
            }
            if (*j->p == close) {
                j->p++;
                return;
            }
            j->bad = 1;
            return;
        }
    }
    if (ch == '"') {
        js_string(j);
        return;
    }
    const char *start = j->p;
    while (*j->p && strchr("0123456789+-.eEtruefalsn", *j->p))
        j->p++;
    if (j->p == start)
        j->bad = 1;
}

/* 1 if `doc` is exactly one JSON object followed by a newline. */
static int js_one_object(const char *doc)
{
    js j = {doc, 0};
    js_ws(&j);
    if (*j.p != '{')
        return 0;
    js_value(&j, 0);
    if (j.bad || strcmp(j.p, "\n") != 0)
        return 0;
    return 1;
}

/* The raw text of the member at `path` ("error.code") of a valid object:
 * written to `out` (strings keep their quotes). 0 if found, -1 if not. */
static int js_get(const char *doc, const char *path, char *out, size_t cap)
{
    js j = {doc, 0};
    char key[64];
    const char *dot = strchr(path, '.');
    size_t klen = dot ? (size_t)(dot - path) : strlen(path);
    snprintf(key, sizeof key, "\"%.*s\"", (int)klen, path);
    js_ws(&j);
    if (*j.p != '{')
        return -1;
    j.p++;
    for (;;) {
        js_ws(&j);
        if (*j.p == '}' || j.bad)
            return -1;
        const char *ks = j.p;
        js_string(&j);
        int match = (size_t)(j.p - ks) == strlen(key) && strncmp(ks, key, strlen(key)) == 0;
        js_ws(&j);
        if (j.bad || *j.p != ':')
            return -1;
        j.p++;
        js_ws(&j);
        const char *vs = j.p;
        js_value(&j, 1);
        if (j.bad)
            return -1;
        if (match) {
            if (dot)
                return js_get(vs, dot + 1, out, cap);
            snprintf(out, cap, "%.*s", (int)(j.p - vs), vs);
            return 0;
        }
        js_ws(&j);
        if (*j.p == ',')
            j.p++;
    }
}

static void s_expect_member(const char *doc, const char *path, const char *want)
{
    char got[256];
    cr_assert_eq(js_get(doc, path, got, sizeof got), 0, "no \"%s\" in %s", path, doc);
    cr_assert_str_eq(got, want, "\"%s\" is %s, expected %s in %s", path, got, want, doc);
}

/* Run loyalctl against the node with --json; expect `code` and one JSON object. */
static char *s_ctl_json(int code, const char *const args[])
{
    const char *argv[32];
    int n = 0;
    argv[n++] = "--node";
    argv[n++] = s_node->nd_listen;
    argv[n++] = "--json";
    for (int i = 0; args[i] != NULL; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    lyh_output out;
    int got = lyh_loyalctl_argv(&out, NT_RUN_MS, argv);
    cr_assert_eq(got, code, "loyalctl %s: exit %d, expected %d; stderr: %s", args[0], got, code,
                 out.ou_err);
    cr_assert(js_one_object(out.ou_out), "loyalctl %s --json: not one JSON object: '%s'", args[0],
              out.ou_out);
    char *doc = out.ou_out;
    out.ou_out = NULL;
    lyh_output_fini(&out);
    return doc;
}

Test(node, loyalctl_end_to_end)
{
    s_start("ctl");
    char *doc;

    doc = s_ctl_json(0, (const char *[]){"enroll", "cli-1", "--name", "Alice", NULL});
    s_expect_member(doc, "customer", "\"cli-1\"");
    s_expect_member(doc, "balance", "0");
    free(doc);

    doc = s_ctl_json(0, (const char *[]){"earn", "cli-1", "1299", "--txn", "cli-t1", NULL});
    s_expect_member(doc, "points", "12");
    s_expect_member(doc, "balance", "12");
    s_expect_member(doc, "lifetime_points", "12");
    s_expect_member(doc, "tier", "\"Silver\"");
    s_expect_member(doc, "replayed", "false");
    free(doc);

    doc = s_ctl_json(0, (const char *[]){"earn", "cli-1", "1299", "--txn", "cli-t1", NULL});
    s_expect_member(doc, "replayed", "true");
    s_expect_member(doc, "balance", "12");
    free(doc);

    doc = s_ctl_json(1, (const char *[]){"earn", "cli-1", "1300", "--txn", "cli-t1", NULL});
    s_expect_member(doc, "error.code", "\"conflict\"");
    free(doc);

    doc = s_ctl_json(0, (const char *[]){"redeem", "cli-1", "5", "--txn", "cli-t2", NULL});
    s_expect_member(doc, "points", "-5");
    s_expect_member(doc, "balance", "7");
    free(doc);

    doc = s_ctl_json(1, (const char *[]){"redeem", "cli-1", "100", "--txn", "cli-t3", NULL});
    s_expect_member(doc, "error.code", "\"insufficient_points\"");
    s_expect_member(doc, "error.available", "7");
    free(doc);

    doc = s_ctl_json(1, (const char *[]){"earn", "nobody", "100", "--txn", "cli-t4", NULL});
    s_expect_member(doc, "error.code", "\"unknown_customer\"");
    free(doc);

    doc = s_ctl_json(0, (const char *[]){"customer", "cli-1", NULL});
    s_expect_member(doc, "customer", "\"cli-1\"");
    s_expect_member(doc, "balance", "7");
    s_expect_member(doc, "lifetime_points", "12");
    s_expect_member(doc, "debt", "0");
    s_expect_member(doc, "profile.name", "\"Alice\"");
    free(doc);

    /* Usage errors: exit 2 and nothing sent. */
    doc = s_ctl_json(2, (const char *[]){"earn", "cli-1", NULL});
    s_expect_member(doc, "error.code", "\"invalid_argument\"");
    free(doc);
    doc = s_ctl_json(2, (const char *[]){"earn", "cli-1", "12x", "--txn", "cli-t5", NULL});
    free(doc);
    doc = s_ctl_json(2, (const char *[]){"frobnicate", NULL});
    free(doc);

    /* Nobody listening: exit 3 within about the timeout. */
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", lyh_free_port());
    lyh_output out;
    uint64_t t0 = lyh_now_ms();
    int code = lyh_loyalctl(&out, NT_RUN_MS, "--node", ep, "--timeout", "1", "--json", "status",
                            (char *)NULL);
    uint64_t ms = lyh_now_ms() - t0;
    int one = js_one_object(out.ou_out);
    char got[64] = "";
    js_get(out.ou_out, "error.code", got, sizeof got);
    lyh_output_fini(&out);
    cr_assert_eq(code, 3, "loyalctl against a closed port: exit %d", code);
    cr_assert(one, "loyalctl against a closed port: not one JSON object");
    cr_assert(strcmp(got, "\"timeout\"") == 0 || strcmp(got, "\"io_error\"") == 0,
              "loyalctl against a closed port: error code %s", got);
    cr_assert_lt(ms, 5000, "loyalctl --timeout 1 took %llu ms", (unsigned long long)ms);

    /* Human output goes to stdout, nothing to stderr. */
    code = lyh_loyalctl(&out, NT_RUN_MS, "--node", s_node->nd_listen, "customer", "cli-1",
                        (char *)NULL);
    int has_out = out.ou_out_len > 0, has_err = out.ou_err_len > 0;
    lyh_output_fini(&out);
    cr_assert_eq(code, 0);
    cr_assert(has_out && !has_err, "human output: stdout %d bytes, stderr %d bytes", has_out,
              has_err);

    ly_node_status st = s_status();
    cr_assert_eq(st.ns_events, 3, "enroll, earn, redeem: %llu events",
                 (unsigned long long)st.ns_events);
}
