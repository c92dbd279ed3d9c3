/* security_test.c -- CurveZMQ, roles and "a peer speaks only for itself"
 * (issue 14, README "Security"), with real loyald processes.
 *
 * Two branches, north (1) and south (2), each with its own key; north also
 * lists a peer east (3) that never runs. Keys, made with ly_key_generate into
 * one directory: alice (operator), till (pos), audit (auditor), listed by
 * both nodes, and mallory, listed by none. The attacks are the ones a
 * stranger on the store network would try with pyzmq: a key nobody listed on
 * the peer port (the 1,000,000-point adjustment of the issue), a stolen
 * branch key that claims another branch, a till key doing what only
 * operators may, a key removed by a reload whose connection is still open.
 * Each time the node keeps serving and its store holds what it held
 * (digest and balance unchanged). */
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "common/hlc.h"
#include "common/keys.h"
#include "proto/client.h"
#include "proto/peer.h"
#include "tests/support/harness.h"

#define SC_READY_MS 20000
#define SC_CALL_MS  3000
#define SC_WAIT_MS  15000
#define SC_QUIET_MS 1500 /* to be sure nothing happens */
#define SC_CUST     "sec-1"

enum { K_NORTH, K_SOUTH, K_EAST, K_ALICE, K_TILL, K_AUDIT, K_MALLORY, K_COUNT };
static const char *const s_names[K_COUNT] = {"north", "south", "east",   "alice",
                                             "till",  "audit", "mallory"};
static ly_keypair s_kp[K_COUNT];
static char s_dir[LYH_PATH_MAX]; /* the key directory */
static lyh_node *s_north, *s_south;
static int s_east_port;

static void s_teardown(void)
{
    lyh_node_destroy(&s_north);
    lyh_node_destroy(&s_south);
    if (s_dir[0])
        lyh_rmtree(s_dir);
    s_dir[0] = '\0';
}

TestSuite(security, .fini = s_teardown, .timeout = 180);

/* s_dir/NAME.EXT in one of a few rotating buffers. */
static const char *s_file(int k, const char *ext)
{
    static char buf[8][LYH_PATH_MAX + 80];
    static int i;
    i = (i + 1) % 8;
    snprintf(buf[i], sizeof buf[i], "%s/%s.%s", s_dir, s_names[k], ext);
    return buf[i];
}

/* The keys, and the two nodes with their configs (not started). `till` 0
 * leaves the till's key out of north's config. */
static void s_north_config(int till)
{
    char extra[4096];
    snprintf(extra, sizeof extra,
             "key = %s\n"
             "\n[peer south]\nid = 2\nendpoint = %s\nkey = %s\n"
             "\n[peer east]\nid = 3\nendpoint = tcp://127.0.0.1:%d\nkey = %s\n"
             "\n[operator alice]\nkey = %s\n"
             "%s%s"
             "\n[auditor audit]\nkey = %s\n",
             s_file(K_NORTH, "key"), s_south->nd_peer_listen, s_file(K_SOUTH, "pub"), s_east_port,
             s_file(K_EAST, "pub"), s_file(K_ALICE, "pub"), till ? "\n[pos till]\nkey = " : "",
             till ? s_file(K_TILL, "pub") : "", s_file(K_AUDIT, "pub"));
    cr_assert_eq(lyh_node_write_config(s_north, extra), 0);
}

static void s_setup(void)
{
    char why[512];
    cr_assert_eq(lyh_tmpdir("keys", s_dir, sizeof s_dir), 0);
    chmod(s_dir, 0700);
    for (int k = 0; k < K_COUNT; k++)
        cr_assert_eq(ly_key_generate(s_dir, s_names[k], &s_kp[k], why, sizeof why), LY_OK, "%s",
                     why);
    s_north = lyh_node_new(1, "north", NULL);
    s_south = lyh_node_new(2, "south", NULL);
    cr_assert(s_north && s_south, "unable to set up the nodes");
    s_east_port = lyh_free_port();
    s_north_config(1);
    char extra[4096];
    snprintf(extra, sizeof extra,
             "key = %s\n"
             "\n[peer north]\nid = 1\nendpoint = %s\nkey = %s\n"
             "\n[operator alice]\nkey = %s\n"
             "\n[pos till]\nkey = %s\n",
             s_file(K_SOUTH, "key"), s_north->nd_peer_listen, s_file(K_NORTH, "pub"),
             s_file(K_ALICE, "pub"), s_file(K_TILL, "pub"));
    cr_assert_eq(lyh_node_write_config(s_south, extra), 0);
}

/* A client of node `n` (whose key is `server`) with key `k`. */
static ly_client *s_client(const lyh_node *n, int server, int k, int timeout_ms)
{
    ly_client *c = ly_client_new_curve(n->nd_listen, timeout_ms, s_kp[k].kp_public,
                                       s_kp[k].kp_secret, s_kp[server].kp_public);
    cr_assert_not_null(c);
    return c;
}

static int s_server_of(const lyh_node *n)
{
    return n == s_north ? K_NORTH : K_SOUTH;
}

/* One call of `rq` with key `k`: the transport outcome; `rp` filled on LY_OK. */
static ly_err s_call(const lyh_node *n, int k, ly_req *rq, ly_rep *rp, int timeout_ms)
{
    ly_client *c = s_client(n, s_server_of(n), k, timeout_ms);
    ly_err e = ly_client_call(c, rq, rp);
    ly_client_destroy(&c);
    return e;
}

/* Start `n` and wait until it answers alice over CURVE. */
static void s_up(lyh_node *n)
{
    cr_assert_eq(lyh_node_start(n), 0, "loyald did not start");
    uint64_t end = lyh_now_ms() + SC_READY_MS;
    while (lyh_now_ms() < end) {
        int code;
        if (!lyh_node_alive(n, &code)) {
            lyh_print_tail(n->nd_log, 30);
            cr_assert_fail("%s exited with %d", n->nd_name, code);
        }
        ly_req rq;
        ly_rep rp;
        ly_req_init(&rq, LY_MSG_STATUS);
        ly_err e = s_call(n, K_ALICE, &rq, &rp, 300);
        int ok = e == LY_OK && rp.rp_err == LY_OK;
        if (e == LY_OK)
            ly_rep_fini(&rp);
        if (ok)
            return;
        lyh_sleep_ms(50);
    }
    lyh_print_tail(n->nd_log, 30);
    cr_assert_fail("%s did not answer over CURVE", n->nd_name);
}

/* The node's status as alice sees it. */
static ly_node_status s_status(const lyh_node *n, int k)
{
    ly_req rq;
    ly_rep rp;
    ly_req_init(&rq, LY_MSG_STATUS);
    ly_err e = s_call(n, k, &rq, &rp, SC_CALL_MS);
    cr_assert_eq(e, LY_OK, "status of %s: %s", n->nd_name, ly_errname(e));
    cr_assert_eq(rp.rp_err, LY_OK, "status of %s: %s", n->nd_name, rp.rp_message);
    ly_node_status st = *rp.rp_status;
    st.ns_peers = NULL;
    st.ns_npeers = 0;
    ly_rep_fini(&rp);
    return st;
}

/* Send `rq` with key `k`; the reply's error (transport errors fail). The
 * message goes to `msg` (may be NULL). */
static int s_do(const lyh_node *n, int k, ly_req *rq, char *msg, size_t cap)
{
    ly_rep rp;
    ly_err e = s_call(n, k, rq, &rp, SC_CALL_MS);
    cr_assert_eq(e, LY_OK, "%s with key %s: no answer (%s)", ly_msgtype_name(rq->rq_type),
                 s_names[k], ly_errname(e));
    int err = rp.rp_err;
    if (msg)
        snprintf(msg, cap, "%s", rp.rp_message);
    ly_rep_fini(&rp);
    return err;
}

/* SC_CUST's balance at `n` (alice asks); -1 if unknown there. */
static int64_t s_balance(const lyh_node *n)
{
    ly_req rq;
    ly_rep rp;
    ly_req_init(&rq, LY_MSG_CUSTOMER);
    snprintf(rq.rq_customer, sizeof rq.rq_customer, "%s", SC_CUST);
    cr_assert_eq(s_call(n, K_ALICE, &rq, &rp, SC_CALL_MS), LY_OK);
    int64_t b = rp.rp_err == LY_OK ? rp.rp_balance : -1;
    ly_rep_fini(&rp);
    return b;
}

static void s_enroll_and_earn(void)
{
    ly_req rq;
    lyh_req(&rq, LY_MSG_ENROLL, SC_CUST, "sec-enroll", 0, NULL);
    cr_assert_eq(s_do(s_north, K_TILL, &rq, NULL, 0), LY_OK);
    lyh_req(&rq, LY_MSG_EARN, SC_CUST, "sec-earn", 10000, NULL);
    cr_assert_eq(s_do(s_north, K_TILL, &rq, NULL, 0), LY_OK);
}

static int s_log_has(const lyh_node *n, const char *what)
{
    char *log = lyh_read_file(n->nd_log, NULL);
    int has = log && strstr(log, what) != NULL;
    free(log);
    return has;
}

Test(security, replicates_over_curve_and_records_the_key_not_the_claimed_operator)
{
    s_setup();
    s_up(s_north);
    s_up(s_south);
    s_enroll_and_earn();
    ly_req rq;
    lyh_req(&rq, LY_MSG_ADJUST, SC_CUST, "sec-adjust", 7, "goodwill");
    snprintf(rq.rq_operator, sizeof rq.rq_operator, "mallory"); /* what the client claims */
    cr_assert_eq(s_do(s_north, K_ALICE, &rq, NULL, 0), LY_OK);
    lyh_req(&rq, LY_MSG_REVERSE, "", "sec-refund", 5000, NULL);
    snprintf(rq.rq_ref_txn, sizeof rq.rq_ref_txn, "sec-earn");
    cr_assert_eq(s_do(s_north, K_TILL, &rq, NULL, 0), LY_OK);
    int64_t want = s_balance(s_north);
    cr_assert_gt(want, 7);

    /* South gets it all over CURVE, and shows who did what. */
    uint64_t end = lyh_now_ms() + SC_WAIT_MS;
    while (s_balance(s_south) != want && lyh_now_ms() < end)
        lyh_sleep_ms(100);
    cr_assert_eq(s_balance(s_south), want, "south did not converge over CURVE");
    ly_rep rp;
    ly_req_init(&rq, LY_MSG_CUSTOMER);
    snprintf(rq.rq_customer, sizeof rq.rq_customer, "%s", SC_CUST);
    rq.rq_limit = 10;
    cr_assert_eq(s_call(s_south, K_ALICE, &rq, &rp, SC_CALL_MS), LY_OK);
    int adjust = 0, refund = 0;
    for (uint32_t i = 0; i < rp.rp_nhist; i++) {
        const ly_hist *h = &rp.rp_hist[i];
        cr_expect_str_neq(h->hi_operator, "mallory", "a claimed operator was recorded");
        if (h->hi_type == LY_EV_ADJUST)
            adjust = !strcmp(h->hi_operator, "alice");
        if (h->hi_type == LY_EV_REVERSE)
            refund = !strcmp(h->hi_operator, "till");
    }
    ly_rep_fini(&rp);
    cr_expect(adjust, "the adjustment's operator is not the key's name 'alice'");
    cr_expect(refund, "the refund's operator is not the key's name 'till'");

    ly_node_status st = s_status(s_north, K_AUDIT);
    cr_expect_eq(st.ns_security, LY_SECURITY_CURVE);
    cr_expect_eq(st.ns_role, LY_ROLE_AUDITOR);
    cr_expect_str_eq(st.ns_key_name, "audit");
}

Test(security, each_role_gets_only_its_requests_and_unknown_keys_no_answer)
{
    char msg[256];
    s_setup();
    s_up(s_north);
    s_enroll_and_earn();
    ly_node_status before = s_status(s_north, K_ALICE);

    ly_req rq;
    lyh_req(&rq, LY_MSG_ADJUST, SC_CUST, "till-adjust", 1000000, "mine");
    cr_expect_eq(s_do(s_north, K_TILL, &rq, msg, sizeof msg), LY_EFORBIDDEN);
    cr_expect(strstr(msg, "till") && strstr(msg, "pos") && strstr(msg, "adjust"),
              "the refusal names the key, its role and the request: %s", msg);
    ly_req_init(&rq, LY_MSG_EVENTS);
    cr_expect_eq(s_do(s_north, K_TILL, &rq, NULL, 0), LY_EFORBIDDEN, "a till reads the log");
    lyh_req(&rq, LY_MSG_EARN, SC_CUST, "audit-earn", 5000, NULL);
    cr_expect_eq(s_do(s_north, K_AUDIT, &rq, NULL, 0), LY_EFORBIDDEN, "an auditor earns");
    ly_req_init(&rq, LY_MSG_EVENTS);
    cr_expect_eq(s_do(s_north, K_AUDIT, &rq, NULL, 0), LY_OK, "an auditor reads the log");

    /* A key nobody listed gets no answer at all. */
    lyh_req(&rq, LY_MSG_ADJUST, SC_CUST, "mallory-adjust", 1000000, "mine");
    ly_rep rp;
    ly_err e = s_call(s_north, K_MALLORY, &rq, &rp, 1000);
    if (e == LY_OK)
        ly_rep_fini(&rp);
    cr_expect_eq(e, LY_ETIMEDOUT, "an unknown key got an answer (%s)", ly_errname(e));

    ly_node_status after = s_status(s_north, K_ALICE);
    cr_expect_eq(after.ns_digest, before.ns_digest, "a refused request changed the store");
    cr_expect_eq(after.ns_events, before.ns_events);
    cr_expect(s_log_has(s_north, "client.forbidden"), "refusals are logged");
    cr_expect(s_log_has(s_north, "auth.refused"), "refused handshakes are logged");

    /* loyalctl: forbidden is exit 1 with the reason. */
    lyh_output out;
    int rc = lyh_loyalctl(&out, 20000, "--node", s_north->nd_listen, "--key", s_file(K_TILL, "key"),
                          "--node-key", s_file(K_NORTH, "pub"), "adjust", SC_CUST, "5", "--txn",
                          "ctl-adjust", "--reason", "mine", (char *)NULL);
    cr_expect_eq(rc, 1, "loyalctl adjust with a till key: exit %d: %s", rc, out.ou_err);
    cr_expect(strstr(out.ou_err, "forbidden") || strstr(out.ou_err, "may not"), "%s", out.ou_err);
    lyh_output_fini(&out);
}

/* ---- a raw peer, as an attacker would write it ---------------------------- */

/* North still holds what it held before the attack: digest, events, balance. */
static void s_expect_unchanged(const ly_node_status *before, int64_t balance)
{
    ly_node_status after = s_status(s_north, K_ALICE);
    cr_expect_eq(after.ns_digest, before->ns_digest, "the store changed");
    cr_expect_eq(after.ns_events, before->ns_events);
    cr_expect_eq(s_balance(s_north), balance, "the balance changed");
    cr_expect(lyh_node_alive(s_north, NULL), "north died");
}

/* A DEALER on north's peer port with key `k` (-1: no CURVE at all). */
static void *s_raw_peer(void *ctx, int k)
{
    void *d = zmq_socket(ctx, ZMQ_DEALER);
    cr_assert_not_null(d);
    int linger = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    if (k >= 0) {
        cr_assert_eq(
            ly_key_curve_client(d, s_kp[k].kp_public, s_kp[k].kp_secret, s_kp[K_NORTH].kp_public),
            0);
    }
    cr_assert_eq(zmq_connect(d, s_north->nd_peer_listen), 0);
    return d;
}

static void s_send_pmsg(void *sock, const ly_pmsg *m)
{
    uint8_t *buf = NULL;
    size_t len;
    cr_assert_eq(ly_pmsg_encode(m, &buf, &len), LY_OK);
    zmq_send(sock, buf, len, ZMQ_DONTWAIT);
    free(buf);
}

static void s_hello(void *sock, uint16_t node)
{
    ly_pmsg m;
    ly_pmsg_init(&m, LY_PM_HELLO);
    m.pm_node = node;
    m.pm_incarnation = 77;
    snprintf(m.pm_name, sizeof m.pm_name, "attacker");
    m.pm_proto = LY_PEER_PROTO;
    snprintf(m.pm_client, sizeof m.pm_client, "tcp://127.0.0.1:1");
    s_send_pmsg(sock, &m);
}

/* The event: a new incarnation of `origin` adjusting +1,000,000. */
static void s_million(void *sock, uint16_t node, uint16_t origin)
{
    ly_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ev_origin = origin;
    ev.ev_incarnation = 77;
    ev.ev_seq = 1;
    ev.ev_hlc = ly_wall_ms() << 16;
    ev.ev_type = LY_EV_ADJUST;
    ev.ev_amount = ev.ev_points = 1000000;
    snprintf(ev.ev_customer, sizeof ev.ev_customer, "%s", SC_CUST);
    snprintf(ev.ev_txn, sizeof ev.ev_txn, "forged-%u-%u", node, origin);
    snprintf(ev.ev_reason, sizeof ev.ev_reason, "forged");
    snprintf(ev.ev_operator, sizeof ev.ev_operator, "nobody");
    cr_assert_eq(ly_event_validate(&ev), LY_OK);
    ly_pmsg m;
    ly_pmsg_init(&m, LY_PM_EVENTS);
    m.pm_node = node;
    m.pm_origin = origin;
    m.pm_incarnation = 77;
    m.pm_prev = 0;
    m.pm_events = &ev;
    m.pm_nevents = 1;
    s_send_pmsg(sock, &m);
}

/* The next peer message on `sock` within `ms`: its type (0: none). */
static int s_reply(void *sock, int ms, char *reason, size_t cap)
{
    zmq_pollitem_t pi = {sock, 0, ZMQ_POLLIN, 0};
    uint64_t end = lyh_now_ms() + (uint64_t)ms;
    while (lyh_now_ms() < end) {
        if (zmq_poll(&pi, 1, 100) <= 0)
            continue;
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, sock, 0) < 0)
            continue;
        ly_pmsg m;
        char why[200];
        ly_err e = ly_pmsg_decode(zmq_msg_data(&msg), zmq_msg_size(&msg), &m, why, sizeof why);
        zmq_msg_close(&msg);
        if (e != LY_OK)
            continue;
        int type = m.pm_type;
        if (reason)
            snprintf(reason, cap, "%s", m.pm_reason);
        ly_pmsg_fini(&m);
        if (type == LY_PM_HEARTBEAT)
            continue;
        return type;
    }
    return 0;
}

Test(security, a_stranger_on_the_peer_port_changes_nothing)
{
    s_setup();
    s_up(s_north);
    s_enroll_and_earn();
    ly_node_status before = s_status(s_north, K_ALICE);
    int64_t balance = s_balance(s_north);
    cr_assert_gt(balance, 0);

    void *ctx = zmq_ctx_new();
    /* The attack: a key nobody listed, hello as south, +1,000,000. */
    void *d = s_raw_peer(ctx, K_MALLORY);
    s_hello(d, 2);
    s_million(d, 2, 2);
    cr_expect_eq(s_reply(d, SC_QUIET_MS, NULL, 0), 0, "north answered an unknown key");
    zmq_close(d);
    /* No CURVE at all; a till's key on the peer port. */
    int others[] = {-1, K_TILL, K_ALICE};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        d = s_raw_peer(ctx, others[i]);
        s_hello(d, 2);
        s_million(d, 2, 2);
        cr_expect_eq(s_reply(d, SC_QUIET_MS, NULL, 0), 0, "north answered key %d", others[i]);
        zmq_close(d);
    }
    zmq_ctx_term(ctx);

    s_expect_unchanged(&before, balance);
    cr_expect(s_log_has(s_north, "auth.refused"), "the refused handshakes are not logged");
}

Test(security, a_stolen_branch_key_speaks_only_for_its_branch)
{
    char reason[200] = "";
    s_setup();
    s_up(s_north); /* south is not running: the attacker holds its key */
    s_enroll_and_earn();
    ly_node_status before = s_status(s_north, K_ALICE);
    int64_t balance = s_balance(s_north);
    cr_assert_gt(balance, 0);

    void *ctx = zmq_ctx_new();
    void *d = s_raw_peer(ctx, K_SOUTH);
    s_hello(d, 3); /* south's key claims east */
    cr_assert_eq(s_reply(d, SC_WAIT_MS, reason, sizeof reason), LY_PM_REFUSED,
                 "a hello claiming another branch was not refused");
    cr_expect(strstr(reason, "claimed node 3") != NULL, "reason: %s", reason);
    s_million(d, 3, 3);

    s_hello(d, 2); /* its own branch: welcomed */
    cr_assert_eq(s_reply(d, SC_WAIT_MS, NULL, 0), LY_PM_WELCOME);
    s_million(d, 2, 3); /* live events of another origin */
    s_million(d, 3, 3); /* speaking as east on south's session */
    lyh_sleep_ms(SC_QUIET_MS);
    zmq_close(d);
    zmq_ctx_term(ctx);

    s_expect_unchanged(&before, balance);
    cr_expect(s_log_has(s_north, "peer.forged"), "the forgery is not logged");
    cr_expect(lyh_node_alive(s_north, NULL));
}

Test(security, a_key_removed_by_sighup_loses_its_open_connection)
{
    char msg[256];
    s_setup();
    s_up(s_north);
    s_enroll_and_earn();
    ly_client *till = s_client(s_north, K_NORTH, K_TILL, SC_CALL_MS);
    ly_req rq;
    ly_rep rp;
    lyh_req(&rq, LY_MSG_EARN, SC_CUST, "open-1", 1000, NULL);
    cr_assert_eq(ly_client_call(till, &rq, &rp), LY_OK);
    cr_assert_eq(rp.rp_err, LY_OK);
    ly_rep_fini(&rp);

    /* A config that does not load: logged, the keys in force stay. */
    cr_assert_eq(lyh_write_file(s_north->nd_config, "[node]\nid = banana\n"), 0);
    cr_assert_eq(kill(s_north->nd_pid, SIGHUP), 0);
    uint64_t end = lyh_now_ms() + SC_WAIT_MS;
    while (!s_log_has(s_north, "node.reload_failed") && lyh_now_ms() < end)
        lyh_sleep_ms(50);
    cr_assert(s_log_has(s_north, "node.reload_failed"), "a bad reload is not logged");
    lyh_req(&rq, LY_MSG_EARN, SC_CUST, "open-2", 1000, NULL);
    cr_assert_eq(ly_client_call(till, &rq, &rp), LY_OK);
    cr_expect_eq(rp.rp_err, LY_OK, "a bad reload took the till's key: %s", rp.rp_message);
    ly_rep_fini(&rp);

    /* Without the till's section: its open connection is refused at once. */
    s_north_config(0);
    cr_assert_eq(kill(s_north->nd_pid, SIGHUP), 0);
    int err = LY_OK;
    end = lyh_now_ms() + SC_WAIT_MS;
    for (int i = 3; err == LY_OK && lyh_now_ms() < end; i++) {
        char txn[32];
        snprintf(txn, sizeof txn, "open-%d", i);
        lyh_req(&rq, LY_MSG_EARN, SC_CUST, txn, 1000, NULL);
        cr_assert_eq(ly_client_call(till, &rq, &rp), LY_OK);
        err = rp.rp_err;
        snprintf(msg, sizeof msg, "%s", rp.rp_message);
        ly_rep_fini(&rp);
        if (err == LY_OK)
            lyh_sleep_ms(50);
    }
    cr_expect_eq(err, LY_EFORBIDDEN, "the removed key still earns");
    cr_expect(strstr(msg, "no longer listed") != NULL, "%s", msg);
    ly_client_destroy(&till);
    /* A new connection with it gets no answer; alice is still served. */
    lyh_req(&rq, LY_MSG_EARN, SC_CUST, "after-removal", 1000, NULL);
    ly_err e = s_call(s_north, K_TILL, &rq, &rp, 1000);
    if (e == LY_OK)
        ly_rep_fini(&rp);
    cr_expect_eq(e, LY_ETIMEDOUT, "a new connection of the removed key: %s", ly_errname(e));
    cr_expect_gt(s_balance(s_north), 0);
    cr_expect(s_log_has(s_north, "auth.key_removed"));
}

/* A node on a wildcard address without keys refuses to start unless
 * insecure = true, and then says so in its status. */
Test(security, protected_mode)
{
    lyh_node *n = lyh_node_new(5, "open", NULL);
    cr_assert_not_null(n);
    char text[2048];
    int port = lyh_free_port();
    snprintf(text, sizeof text,
             "[node]\nid = 5\nname = open\ndata_dir = %s\nlisten = tcp://0.0.0.0:%d\n"
             "peer_listen = %s\n",
             n->nd_data_dir, port, n->nd_peer_listen);
    cr_assert_eq(lyh_write_file(n->nd_config, text), 0);
    lyh_output out;
    int rc = lyh_loyald(&out, 20000, "--config", n->nd_config, (char *)NULL);
    cr_expect_eq(rc, 2, "loyald on 0.0.0.0 without keys: exit %d", rc);
    cr_expect(strstr(out.ou_err, "insecure") != NULL, "%s", out.ou_err);
    lyh_output_fini(&out);

    cr_assert_eq(lyh_write_file(n->nd_config, strcat(text, "insecure = true\n")), 0);
    cr_assert_eq(lyh_node_start(n), 0);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    ly_err e = LY_ETIMEDOUT;
    ly_node_status st = {0};
    uint64_t end = lyh_now_ms() + SC_READY_MS;
    while (e != LY_OK && lyh_now_ms() < end && lyh_node_alive(n, NULL)) {
        ly_client *c = ly_client_new(ep, 300);
        ly_req rq;
        ly_rep rp;
        ly_req_init(&rq, LY_MSG_STATUS);
        e = ly_client_call(c, &rq, &rp);
        if (e == LY_OK) {
            e = (ly_err)rp.rp_err;
            if (e == LY_OK) {
                st = *rp.rp_status;
                st.ns_peers = NULL;
            }
            ly_rep_fini(&rp);
        }
        ly_client_destroy(&c);
        if (e != LY_OK)
            lyh_sleep_ms(50);
    }
    cr_expect_eq(e, LY_OK, "the insecure node did not answer");
    cr_expect_eq(st.ns_security, LY_SECURITY_INSECURE);
    cr_expect(s_log_has(n, "INSECURE"), "no warning at start");
    lyh_node_destroy(&n);

    /* The harness's nodes: loopback, no keys. */
    n = lyh_node_new(6, "local", NULL);
    cr_assert_not_null(n);
    cr_assert_eq(lyh_node_up(n, SC_READY_MS), 0);
    cr_assert_eq(lyh_node_status(n, SC_CALL_MS, &st), LY_OK);
    cr_expect_eq(st.ns_security, LY_SECURITY_LOOPBACK);
    lyh_node_destroy(&n);
}
