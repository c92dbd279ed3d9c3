/* rights_test.c -- safe redemption (DESIGN.md section 5) between real loyald
 * processes whose peer links run through fault proxies (tests/support/proxy.h).
 *
 * Every pair of nodes i, j is linked by two proxies, one per direction: node
 * i's [peer n<j>] endpoint is proxy (i, j), which forwards to node j's
 * peer_listen (i's DEALER talks to j's ROUTER through it). Cutting one proxy
 * cuts what i pushes to j and the answers j sends back on that connection;
 * cutting both cuts the pair. Client ports are never proxied. Every node runs
 * with rights_wait_ms = RR_WAIT_MS.
 *
 *   proxy:      the proxy itself: pass, blackhole, delay, reset, heal.
 *   (a) partitioned_double_redeem_*: 100 points earned at n1 and replicated to
 *       n2; both links cut (blackhole, or reset); 100 redeemed at n1 and at n2 at
 *       the same moment: at most 100 points in total are redeemed (n1 succeeds,
 *       n2 answers insufficient_local_rights, available 0, after its wait);
 *       healed: both converge to balance 0, no rights left anywhere.
 *   (b) transfer_on_redeem: links up, 100 earned at n1, redeemed at n2 as soon
 *       as n2 holds the earn: the redemption succeeds within the wait, after a
 *       transfer from n1; both show balance 0 and no rights.
 *   (b2) prefetch_on_card_scan_moves_rights_here: a lookup with prefetch at
 *       n2 moves n1's rights to n2; then, with both links cut, n2 redeems them
 *       at once and n1 can no longer.
 *   (c) random_partitions: 5 nodes, 20 customers, one client thread per node
 *       doing earns, redemptions (of random sizes, and of the whole balance
 *       right after a lookup), refunds and goodwill adjustments for RC_RUN_MS
 *       while a controller cuts, slows and heals random links on a seeded
 *       schedule and a reader polls customers at random nodes. The seed is
 *       printed; LY_RIGHTS_SEED=<seed> replays the schedule (thread timing is
 *       not replayed). What is checked is listed above Test(rights,
 *       random_partitions).
 *   (d) one_way_cut_shows_no_debt_and_keeps_local_rights: n3 receives n2's
 *       events but nothing of n1's; a redemption at n2 of points earned at n1
 *       must not show at n3 as a debt, and n3 must still redeem points earned
 *       and held there.
 *   (e) catch_up_past_a_redemption_of_transferred_rights: n3 away while n1
 *       redeems points n2 transferred to it and then makes 1200 more events:
 *       back, n3 catches up (the chain converges within RR_CONVERGE_MS). */
#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proto/client.h"
#include "tests/support/check.h"
#include "tests/support/harness.h"
#include "tests/support/net.h"
#include "tests/support/proxy.h"

#define RR_READY_MS     20000
#define RR_CALL_MS      5000
#define RR_OP_DEADLINE  20000 /* a mutation without a reply is retried (same txn) this long */
#define RR_STATUS_MS    2000
#define RR_LINKS_UP_MS  20000
#define RR_CONVERGE_MS  30000
#define RR_WAIT_MS      300  /* [node] rights_wait_ms of every node here */
#define RR_ANSWER_SLACK 1500 /* a redemption is answered within RR_WAIT_MS + this */
#define RR_NODES_MAX    5

/* The nodes and their links (tests/support/net.h). */
static lyn_net *s_net;
static int s_n;

/* Replies used by the test's main thread: static, so that a failed assertion
 * (which ends the test process) leaves no leak report behind. */
static ly_rep s_rep_main, s_rep_aux;
static const char *s_node_extra = ""; /* more [node] settings for every node of a test */

static void s_teardown(void)
{
    lyn_net_destroy(&s_net);
    s_n = 0;
}

TestSuite(rights, .fini = s_teardown, .timeout = 150);

static unsigned s_rand(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return (*state >> 8) & 0xffffffu;
}

static lyh_node *s_node(int i)
{
    return lyn_net_node(s_net, i);
}

static lyp_proxy *s_link(int from, int to)
{
    return lyn_net_link(s_net, from, to);
}

/* ---- the network ---------------------------------------------------------- */

/* Nodes 1..n, every ordered pair linked through its own proxy, all started;
 * every node runs with rights_wait_ms = RR_WAIT_MS and s_node_extra. */
static void s_net_up(int n)
{
    char extra[1024];
    int w = snprintf(extra, sizeof extra, "rights_wait_ms = %d\n%s", RR_WAIT_MS, s_node_extra);
    cr_assert(w > 0 && (size_t)w < sizeof extra);
    s_n = n;
    s_net = lyn_net_new(n, extra);
    cr_assert_not_null(s_net, "unable to set up %d nodes", n);
    cr_assert_eq(lyn_net_up(s_net, RR_READY_MS), 0, "the nodes did not start (see above)");
}

static void s_set_link(int from, int to, lyp_mode mode, int delay_ms)
{
    cr_assert_eq(lyp_proxy_set_mode(s_link(from, to), mode, delay_ms), 0,
                 "unable to set link n%d -> n%d to %s", from, to, lyp_mode_name(mode));
}

static void s_heal_all(void)
{
    cr_assert_eq(lyn_net_heal(s_net), 0, "unable to heal every link (see above)");
}

static void s_links_up(const char *what)
{
    lyc_links_up(s_net, RR_LINKS_UP_MS, what);
}

static int64_t s_converge(const char *what)
{
    return lyc_converge(s_net->nt_chain, RR_CONVERGE_MS, what);
}

/* SIGTERM every node: each must exit 0 (under LY_SANITIZE: no leak, no error). */
static void s_stop_clean(void)
{
    lyc_stop_clean(s_net->nt_chain);
}

/* Wait until node `i` holds event `seq` of `origin`. Returns the ms it took or -1. */
static int64_t s_wait_holds(int i, uint16_t origin, uint64_t seq, int timeout_ms)
{
    uint64_t t0 = lyh_now_ms();
    for (;;) {
        ly_node_status st;
        if (lyh_node_status(s_node(i), RR_STATUS_MS, &st) == LY_OK &&
            lyh_status_vv(&st, origin) >= seq)
            return (int64_t)(lyh_now_ms() - t0);
        if (lyh_now_ms() - t0 >= (uint64_t)timeout_ms)
            return -1;
        lyh_sleep_ms(20);
    }
}

/* ---- client operations ------------------------------------------------------ */

/* Send `rq` until a reply comes (lyh_call_until: the same request, same txn,
 * is sent again while the outcome is unknown). LY_OK with `rp` holding the
 * reply (finish it); else `rp` holds nothing. */
static ly_err s_call_until(ly_client *c, ly_req *rq, ly_rep *rp, int deadline_ms)
{
    return lyh_call_until(c, rq, rp, deadline_ms, NULL);
}

static void s_req(ly_req *rq, int type, const char *cust, const char *txn, int64_t amount)
{
    lyh_req(rq, type, cust, txn, amount, "rights test goodwill");
}

/* A mutation at node `i` that must be acknowledged; its reply goes to *out. */
static void s_mutate_ok(int i, int type, const char *cust, const char *txn, int64_t amount,
                        ly_rep *out)
{
    ly_client *c = lyh_client(s_node(i), RR_CALL_MS);
    cr_assert_not_null(c);
    ly_req rq;
    s_req(&rq, type, cust, txn, amount);
    ly_err e = s_call_until(c, &rq, out, RR_OP_DEADLINE);
    ly_client_destroy(&c);
    cr_assert_eq(e, LY_OK, "%s %s at n%d: no reply: %s", ly_msgtype_name(type), txn, i,
                 ly_errname(e));
    cr_assert_eq(out->rp_err, LY_OK, "%s %s (%s, %lld) at n%d refused: %s: %s",
                 ly_msgtype_name(type), txn, cust, (long long)amount, i,
                 ly_errname((ly_err)out->rp_err), out->rp_message);
}

/* A redemption at node `i` of points held elsewhere that must succeed once
 * the rights it asks for have moved: a refusal for lack of local rights
 * (nothing written; the transfer may just be slower than rights_wait_ms on
 * a loaded machine) is retried with the same txn until RR_OP_DEADLINE. */
static void s_redeem_when_moved(int i, const char *cust, const char *txn, int64_t points,
                                ly_rep *out)
{
    ly_client *c = lyh_client(s_node(i), RR_CALL_MS);
    cr_assert_not_null(c);
    uint64_t end = lyh_now_ms() + RR_OP_DEADLINE;
    ly_err e;
    for (;;) {
        ly_req rq;
        s_req(&rq, LY_MSG_REDEEM, cust, txn, points);
        e = s_call_until(c, &rq, out, RR_OP_DEADLINE);
        if (e != LY_OK || out->rp_err != LY_EINSUFFICIENT_LOCAL || lyh_now_ms() >= end)
            break;
        ly_rep_fini(out);
        lyh_sleep_ms(100);
    }
    ly_client_destroy(&c);
    cr_assert_eq(e, LY_OK, "redeem %s at n%d: no reply: %s", txn, i, ly_errname(e));
    cr_assert_eq(out->rp_err, LY_OK, "redeem %s (%s, %lld) at n%d refused: %s: %s", txn, cust,
                 (long long)points, i, ly_errname((ly_err)out->rp_err), out->rp_message);
}

/* The customer as node `i` sees it (history: none). */
static void s_customer(int i, const char *cust, ly_rep *rp)
{
    ly_client *c = lyh_client(s_node(i), RR_CALL_MS);
    cr_assert_not_null(c);
    ly_req rq;
    ly_req_init(&rq, LY_MSG_CUSTOMER);
    snprintf(rq.rq_customer, sizeof rq.rq_customer, "%s", cust);
    ly_err e = s_call_until(c, &rq, rp, RR_OP_DEADLINE);
    ly_client_destroy(&c);
    cr_assert_eq(e, LY_OK, "customer %s at n%d: %s", cust, i, ly_errname(e));
    cr_assert_eq(rp->rp_err, LY_OK, "customer %s at n%d: %s: %s", cust, i,
                 ly_errname((ly_err)rp->rp_err), rp->rp_message);
}

/* Sum of the rights rows of a customer reply; -1 in *bad if a row is malformed. */
static int64_t s_rights_sum(const ly_rep *rp, int *bad)
{
    int64_t sum = 0;
    *bad = rp->rp_nrights > LY_RIGHTS_REPLY_MAX;
    for (uint32_t k = 0; k < rp->rp_nrights && k < LY_RIGHTS_REPLY_MAX; k++) {
        sum += rp->rp_rights[k].points;
        if (rp->rp_rights[k].node == 0)
            *bad = 1;
    }
    return sum;
}

/* The rights row of node `node` in a customer reply (0 if there is none). */
static int64_t s_rights_of(const ly_rep *rp, uint16_t node)
{
    for (uint32_t k = 0; k < rp->rp_nrights && k < LY_RIGHTS_REPLY_MAX; k++)
        if (rp->rp_rights[k].node == node)
            return rp->rp_rights[k].points;
    return 0;
}

static void s_print_rights(const char *what, const ly_rep *rp)
{
    char line[1024];
    size_t len = 0;
    line[0] = '\0';
    for (uint32_t k = 0; k < rp->rp_nrights && k < LY_RIGHTS_REPLY_MAX && len < 900; k++) {
        int w = snprintf(line + len, sizeof line - len, " n%u:%lld",
                         (unsigned)rp->rp_rights[k].node, (long long)rp->rp_rights[k].points);
        if (w > 0)
            len += (size_t)w;
    }
    cr_log_info("%s: balance %lld debt %lld local %lld rights {%s }", what,
                (long long)rp->rp_balance, (long long)rp->rp_debt, (long long)rp->rp_local_rights,
                line);
}

/* Every node shows `cust` with balance `balance`, no debt and no rights but
 * zero rows, and may redeem nothing of it. */
static void s_check_settled(const char *cust, int64_t balance)
{
    ly_rep *rp = &s_rep_aux;
    for (int i = 1; i <= s_n; i++) {
        s_customer(i, cust, rp);
        char what[64];
        snprintf(what, sizeof what, "%s at n%d", cust, i);
        s_print_rights(what, rp);
        int bad = 0;
        int64_t sum = s_rights_sum(rp, &bad);
        cr_assert_not(bad, "%s: malformed rights rows (%u rows)", what, rp->rp_nrights);
        cr_assert_eq(rp->rp_balance, balance, "%s: balance %lld, expected %lld", what,
                     (long long)rp->rp_balance, (long long)balance);
        cr_assert_eq(rp->rp_debt, 0, "%s: debt %lld, expected none", what, (long long)rp->rp_debt);
        cr_assert_eq(sum, rp->rp_balance - rp->rp_debt,
                     "%s: rights rows add up to %lld, balance - debt is %lld", what, (long long)sum,
                     (long long)(rp->rp_balance - rp->rp_debt));
        for (uint32_t k = 0; k < rp->rp_nrights && k < LY_RIGHTS_REPLY_MAX; k++)
            cr_assert_geq(rp->rp_rights[k].points, 0,
                          "%s: n%u holds %lld rights, but nothing was refunded", what,
                          (unsigned)rp->rp_rights[k].node, (long long)rp->rp_rights[k].points);
        int64_t own = s_rights_of(rp, (uint16_t)i);
        int64_t may = own < 0 ? 0 : own < balance ? own : balance;
        cr_assert_eq(rp->rp_local_rights, may,
                     "%s: local rights %lld, but its row holds %lld of a balance of %lld", what,
                     (long long)rp->rp_local_rights, (long long)own, (long long)balance);
        ly_rep_fini(rp);
    }
}

static ly_node_status s_status(int i)
{
    ly_node_status st;
    ly_err e = lyh_node_status(s_node(i), RR_CALL_MS, &st);
    cr_assert_eq(e, LY_OK, "status of n%d: %s", i, ly_errname(e));
    return st;
}

/* Status of node `i` with its peer rows (lyh_status_fini them). */
static ly_node_status s_status_peers(int i)
{
    ly_node_status st;
    ly_err e = lyh_chain_status(s_net->nt_chain, i, RR_CALL_MS, &st);
    cr_assert_eq(e, LY_OK, "status of n%d: %s", i, ly_errname(e));
    return st;
}

/* Two nodes, links up (`what` names the step); `cust` enrolled and 100 points
 * earned at n1 (txns "<tag>-enroll" and "<tag>-earn"), and the earn held by
 * n2 (asked by status only: a customer lookup at n2 may start moving rights
 * toward it). Returns how many ms after the earn's reply n2 held it. */
static int64_t s_two_nodes_earned(const char *what, const char *tag, const char *cust)
{
    s_net_up(2);
    s_links_up(what);
    ly_rep *rp = &s_rep_main;
    char txn[64];
    snprintf(txn, sizeof txn, "%s-enroll", tag);
    s_mutate_ok(1, LY_MSG_ENROLL, cust, txn, 0, rp);
    ly_rep_fini(rp);
    snprintf(txn, sizeof txn, "%s-earn", tag);
    s_mutate_ok(1, LY_MSG_EARN, cust, txn, 10000, rp);
    cr_assert_eq(rp->rp_points, 100, "an earn of 100.00 gave %lld points",
                 (long long)rp->rp_points);
    uint64_t seq = rp->rp_seq;
    ly_rep_fini(rp);
    int64_t held = s_wait_holds(2, 1, seq, RR_CONVERGE_MS);
    cr_assert_geq(held, 0, "n2 never received n1's earn");
    return held;
}

/* ---- the proxy itself --------------------------------------------------------- */

/* A new TCP socket, and 127.0.0.1:`port` in *sa. */
static int s_socket(int port, struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa->sin_port = htons((uint16_t)port);
    return fd;
}

static int s_listen_any(int *port)
{
    struct sockaddr_in sa;
    int fd = s_socket(0, &sa);
    socklen_t len = sizeof sa;
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(fd, 16), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static int s_connect_port(int port)
{
    struct sockaddr_in sa;
    int fd = s_socket(port, &sa);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0, "connect to %d: %s", port,
                 strerror(errno));
    return fd;
}

/* 1 if `fd` becomes readable (data, end of file or an error) within `ms`. */
static int s_readable(int fd, int ms)
{
    struct pollfd pf = {fd, POLLIN, 0};
    return poll(&pf, 1, ms) == 1;
}

/* Accept one connection on `lfd` within `ms`, or -1. */
static int s_accept_within(int lfd, int ms)
{
    if (!s_readable(lfd, ms))
        return -1;
    return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

static void s_send_str(int fd, const char *s)
{
    cr_assert_eq(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s), "send: %s",
                 strerror(errno));
}

/* Read exactly strlen(want) bytes within `ms` and compare. */
static void s_expect_str(int fd, const char *want, int ms, const char *what)
{
    char got[64] = {0};
    size_t n = 0, len = strlen(want);
    uint64_t end = lyh_now_ms() + (uint64_t)ms;
    while (n < len) {
        uint64_t now = lyh_now_ms();
        cr_assert(now < end && s_readable(fd, (int)(end - now)), "%s: %zu of %zu bytes in %d ms",
                  what, n, len, ms);
        ssize_t r = recv(fd, got + n, len - n, 0);
        cr_assert_gt(r, 0, "%s: connection ended (%s)", what, r < 0 ? strerror(errno) : "eof");
        n += (size_t)r;
    }
    cr_assert_str_eq(got, want, "%s", what);
}

/* 1 if the connection on `fd` ended (end of file or reset) within `ms`. */
static int s_ended_within(int fd, int ms)
{
    char b[256];
    uint64_t end = lyh_now_ms() + (uint64_t)ms;
    for (;;) {
        uint64_t now = lyh_now_ms();
        if (now >= end || !s_readable(fd, (int)(end - now)))
            return 0;
        ssize_t r = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            return 1;
    }
}

Test(rights, proxy_pass_blackhole_delay_reset_heal)
{
    int port, lfd = s_listen_any(&port);
    lyp_proxy *p = lyp_proxy_new(port);
    cr_assert_not_null(p);
    cr_assert_eq(lyp_proxy_mode(p), LYP_MODE_PASS);

    /* pass */
    int c1 = s_connect_port(lyp_proxy_port(p));
    int s1 = s_accept_within(lfd, 2000);
    cr_assert_geq(s1, 0, "pass: the target saw no connection");
    s_send_str(c1, "hello");
    s_expect_str(s1, "hello", 2000, "pass: client -> target");
    s_send_str(s1, "world");
    s_expect_str(c1, "world", 2000, "pass: target -> client");

    /* blackhole: nothing moves, a new connection is parked, a close is not passed on */
    cr_assert_eq(lyp_proxy_set_mode(p, LYP_MODE_BLACKHOLE, 0), 0);
    s_send_str(c1, "held-up");
    s_send_str(s1, "held-dn");
    cr_assert_not(s_readable(s1, 300), "blackhole: data reached the target");
    cr_assert_not(s_readable(c1, 50), "blackhole: data reached the client");
    int c2 = s_connect_port(lyp_proxy_port(p)); /* accepted by the proxy */
    cr_assert_eq(s_accept_within(lfd, 300), -1, "blackhole: a new connection reached the target");
    int c3 = s_connect_port(lyp_proxy_port(p));
    int s3 = -1;
    cr_assert_eq(lyp_proxy_set_mode(p, LYP_MODE_PASS, 0), 0);
    /* heal: held data flows on, parked connections reach the target */
    s_expect_str(s1, "held-up", 2000, "heal: held data client -> target");
    s_expect_str(c1, "held-dn", 2000, "heal: held data target -> client");
    int s2 = s_accept_within(lfd, 2000);
    cr_assert_geq(s2, 0, "heal: the parked connection did not reach the target");
    s3 = s_accept_within(lfd, 2000);
    cr_assert_geq(s3, 0, "heal: the second parked connection did not reach the target");
    /* Which accepted socket belongs to which client is not known: c2 and c3 say. */
    s_send_str(c2, "c2");
    s_send_str(c3, "c3");
    char b2[3] = {0}, b3[3] = {0};
    cr_assert(s_readable(s2, 2000) && recv(s2, b2, 2, 0) == 2);
    cr_assert(s_readable(s3, 2000) && recv(s3, b3, 2, 0) == 2);
    cr_assert(strcmp(b2, b3) != 0 && (strcmp(b2, "c2") == 0 || strcmp(b2, "c3") == 0));
    if (strcmp(b2, "c3") == 0) {
        int t = s2;
        s2 = s3;
        s3 = t;
    }
    /* A close during a blackhole reaches the other end only at the heal. */
    cr_assert_eq(lyp_proxy_set_mode(p, LYP_MODE_BLACKHOLE, 0), 0);
    close(c2);
    cr_assert_not(s_ended_within(s2, 400), "blackhole: a close was passed on");
    cr_assert_eq(lyp_proxy_set_mode(p, LYP_MODE_PASS, 0), 0);
    cr_assert(s_ended_within(s2, 2000), "heal: the pair that lost its client stayed open");
    close(s2);

    /* delay */
    cr_assert_eq(lyp_proxy_set_mode(p, LYP_MODE_DELAY, 250), 0);
    uint64_t t0 = lyh_now_ms();
    s_send_str(c1, "slow");
    s_expect_str(s1, "slow", 3000, "delay: client -> target");
    uint64_t took = lyh_now_ms() - t0;
    cr_assert_geq(took, 240, "delay 250 ms: the bytes took %llu ms", (unsigned long long)took);
    cr_assert_eq(lyp_proxy_set_mode(p, LYP_MODE_PASS, 0), 0);
    t0 = lyh_now_ms();
    s_send_str(s1, "fast");
    s_expect_str(c1, "fast", 2000, "pass again: target -> client");
    cr_assert_lt(lyh_now_ms() - t0, 200);

    /* reset: every connection ends at both ends, a new one is refused */
    cr_assert_eq(lyp_proxy_set_mode(p, LYP_MODE_RESET, 0), 0);
    cr_assert(s_ended_within(c1, 2000), "reset: the client side stayed open");
    cr_assert(s_ended_within(s1, 2000), "reset: the target side stayed open");
    cr_assert(s_ended_within(c3, 2000), "reset: the second client stayed open");
    cr_assert(s_ended_within(s3, 2000), "reset: the second target side stayed open");
    int c4 = s_connect_port(lyp_proxy_port(p));
    cr_assert(s_ended_within(c4, 2000), "reset: a new connection was kept");
    cr_assert_eq(s_accept_within(lfd, 200), -1, "reset: a new connection reached the target");
    lyp_stats st;
    lyp_proxy_stats(p, &st);
    cr_assert_geq(st.st_refused, 1);
    cr_assert_eq(st.st_open, 0, "reset: %llu pairs still open", (unsigned long long)st.st_open);

    /* and back to pass: new connections work again */
    cr_assert_eq(lyp_proxy_set_mode(p, LYP_MODE_PASS, 0), 0);
    int c5 = s_connect_port(lyp_proxy_port(p));
    int s5 = s_accept_within(lfd, 2000);
    cr_assert_geq(s5, 0, "pass after reset: no connection");
    s_send_str(c5, "again");
    s_expect_str(s5, "again", 2000, "pass after reset");
    lyp_proxy_stats(p, &st);
    cr_log_info("proxy: accepted %llu connected %llu refused %llu up %llu down %llu bytes",
                (unsigned long long)st.st_accepted, (unsigned long long)st.st_connected,
                (unsigned long long)st.st_refused, (unsigned long long)st.st_bytes_up,
                (unsigned long long)st.st_bytes_down);
    cr_assert_eq(st.st_accepted, 5);
    cr_assert_eq(st.st_connected, 4);

    int fds[] = {c1, s1, c3, s3, c4, c5, s5, lfd};
    for (size_t k = 0; k < sizeof fds / sizeof fds[0]; k++)
        close(fds[k]);
    lyp_proxy_destroy(&p);
    cr_assert_null(p);
}

/* ---- (a) the same points redeemed at two cut-off branches -------------------- */

typedef struct ra_redeem {
    int r_node;
    const char *r_cust;
    pthread_barrier_t *r_start;
    ly_err r_transport;
    uint8_t r_err;
    int64_t r_points, r_available, r_local;
    uint64_t r_ms;
    char r_message[256];
} ra_redeem;

static void *s_ra_redeem(void *arg)
{
    ra_redeem *r = arg;
    ly_client *c = lyh_client(s_node(r->r_node), RR_CALL_MS);
    ly_req rq;
    ly_rep *rp = malloc(sizeof *rp);
    r->r_transport = LY_ENOMEM;
    if (c != NULL && rp != NULL) {
        /* Connect first, so both redemptions leave at the same moment. */
        ly_req_init(&rq, LY_MSG_STATUS);
        if (ly_client_call(c, &rq, rp) == LY_OK)
            ly_rep_fini(rp);
    }
    pthread_barrier_wait(r->r_start);
    if (c == NULL || rp == NULL)
        goto done;
    char txn[64];
    snprintf(txn, sizeof txn, "pd-redeem-at-n%d", r->r_node);
    s_req(&rq, LY_MSG_REDEEM, r->r_cust, txn, 100);
    uint64_t t0 = lyh_now_ms();
    r->r_transport = ly_client_call(c, &rq, rp);
    r->r_ms = lyh_now_ms() - t0;
    if (r->r_transport == LY_OK) {
        r->r_err = rp->rp_err;
        r->r_points = rp->rp_points;
        r->r_available = rp->rp_available;
        r->r_local = rp->rp_local_rights;
        snprintf(r->r_message, sizeof r->r_message, "%s", rp->rp_message);
        ly_rep_fini(rp);
    }
done:
    free(rp);
    ly_client_destroy(&c);
    return NULL;
}

static void s_partitioned_double_redeem(lyp_mode cut)
{
    const char *cust = "pd-c1";
    s_two_nodes_earned("(a) two nodes", "pd", cust); /* n2: balance 100, no rights */
    ly_rep *rp = &s_rep_main;

    s_set_link(1, 2, cut, 0);
    s_set_link(2, 1, cut, 0);

    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    ra_redeem r[2];
    pthread_t th[2];
    for (int k = 0; k < 2; k++) {
        memset(&r[k], 0, sizeof r[k]);
        r[k].r_node = k + 1;
        r[k].r_cust = cust;
        r[k].r_start = &start;
        cr_assert_eq(pthread_create(&th[k], NULL, s_ra_redeem, &r[k]), 0);
    }
    for (int k = 0; k < 2; k++)
        pthread_join(th[k], NULL);
    pthread_barrier_destroy(&start);

    int64_t redeemed = 0;
    for (int k = 0; k < 2; k++) {
        cr_log_info("(a, %s) redeem 100 at n%d: %s %s (points %lld, available %lld, local "
                    "rights %lld) after %llu ms",
                    lyp_mode_name(cut), r[k].r_node, ly_errname(r[k].r_transport),
                    r[k].r_transport == LY_OK ? ly_errname((ly_err)r[k].r_err) : "-",
                    (long long)r[k].r_points, (long long)r[k].r_available, (long long)r[k].r_local,
                    (unsigned long long)r[k].r_ms);
        cr_assert_eq(r[k].r_transport, LY_OK, "redeem at n%d: no reply within %d ms: %s",
                     r[k].r_node, RR_CALL_MS, ly_errname(r[k].r_transport));
        if (r[k].r_err == LY_OK)
            redeemed += -r[k].r_points;
    }
    /* The invariant first, then the expected way of keeping it. */
    cr_assert_leq(redeemed, 100, "double spend: %lld points redeemed of a balance of 100",
                  (long long)redeemed);
    cr_assert_eq(r[0].r_err, LY_OK, "n1 holds all the rights but refused: %s: %s",
                 ly_errname((ly_err)r[0].r_err), r[0].r_message);
    cr_assert_eq(r[0].r_points, -100);
    cr_assert_eq(r[1].r_err, LY_EINSUFFICIENT_LOCAL,
                 "n2 (no rights, cut off) answered %s (%s), expected insufficient_local_rights",
                 ly_errname((ly_err)r[1].r_err), r[1].r_message);
    cr_assert_eq(r[1].r_available, 0, "n2 holds no rights but says %lld are available",
                 (long long)r[1].r_available);
    cr_assert_eq(r[1].r_local, 0, "n2 holds no rights but reports local rights %lld",
                 (long long)r[1].r_local);
    cr_assert_leq(r[1].r_ms, (uint64_t)(RR_WAIT_MS + RR_ANSWER_SLACK),
                  "n2 answered after %llu ms; rights_wait_ms is %d", (unsigned long long)r[1].r_ms,
                  RR_WAIT_MS);
    if (cut == LYP_MODE_BLACKHOLE)
        /* n2 cannot tell a silent n1 from a slow one: it must have waited. */
        cr_assert_geq(r[1].r_ms, (uint64_t)(RR_WAIT_MS * 9 / 10),
                      "n2 gave up after %llu ms, before its wait of %d ms",
                      (unsigned long long)r[1].r_ms, RR_WAIT_MS);

    /* Still cut off: n2 shows the balance it knows, and that it may redeem none. */
    s_customer(2, cust, rp);
    s_print_rights("(a) n2 while cut off", rp);
    cr_assert_eq(rp->rp_balance, 100, "n2 while cut off shows balance %lld",
                 (long long)rp->rp_balance);
    cr_assert_eq(rp->rp_local_rights, 0, "n2 while cut off may redeem %lld",
                 (long long)rp->rp_local_rights);
    cr_assert_eq(s_rights_of(rp, 1), 100, "n2 while cut off shows n1 with %lld rights",
                 (long long)s_rights_of(rp, 1));
    ly_rep_fini(rp);

    s_heal_all();
    s_converge("(a) healed");
    s_check_settled(cust, 0);
    s_converge("(a) after the lookups");
    s_stop_clean();
}

Test(rights, partitioned_double_redeem_blackhole)
{
    s_partitioned_double_redeem(LYP_MODE_BLACKHOLE);
}

Test(rights, partitioned_double_redeem_reset)
{
    s_partitioned_double_redeem(LYP_MODE_RESET);
}

/* ---- (b) a redemption that needs a transfer ---------------------------------- */

Test(rights, transfer_on_redeem)
{
    const char *cust = "tr-c1";
    int64_t held = s_two_nodes_earned("(b) two nodes", "tr", cust);
    ly_rep *rp = &s_rep_main;

    /* At once: n2 holds no rights of its own, n1 holds 100. */
    ly_client *c = lyh_client(s_node(2), RR_CALL_MS);
    cr_assert_not_null(c);
    ly_req rq;
    s_req(&rq, LY_MSG_REDEEM, cust, "tr-redeem", 100);
    uint64_t t0 = lyh_now_ms();
    ly_err e = ly_client_call(c, &rq, rp);
    uint64_t ms = lyh_now_ms() - t0;
    ly_client_destroy(&c);
    cr_assert_eq(e, LY_OK, "redeem at n2: no reply: %s", ly_errname(e));
    cr_log_info("(b) n2 held the earn %" PRId64 " ms after it was made; redeem 100 at n2: %s in "
                "%llu ms",
                held, ly_errname((ly_err)rp->rp_err), (unsigned long long)ms);
    cr_assert_eq(rp->rp_err, LY_OK,
                 "redeem 100 at n2 (balance 100, all rights at n1, links up) refused after %llu "
                 "ms: %s: %s (available %lld)",
                 (unsigned long long)ms, ly_errname((ly_err)rp->rp_err), rp->rp_message,
                 (long long)rp->rp_available);
    cr_assert_leq(ms, (uint64_t)(RR_WAIT_MS + RR_ANSWER_SLACK),
                  "the redemption took %llu ms; rights_wait_ms is %d", (unsigned long long)ms,
                  RR_WAIT_MS);
    cr_assert_eq(rp->rp_points, -100);
    cr_assert_eq(rp->rp_balance, 0);
    cr_assert_eq(rp->rp_origin, 2, "the redemption is an event of n%u", (unsigned)rp->rp_origin);
    s_print_rights("(b) redeem reply at n2", rp);
    int bad = 0;
    cr_assert_eq(s_rights_sum(rp, &bad), 0, "n2's reply: rights rows do not add up to 0");
    cr_assert_eq(s_rights_of(rp, 2), 0, "n2's own row after the redemption: %lld",
                 (long long)s_rights_of(rp, 2));
    ly_rep_fini(rp);

    s_converge("(b) after the transfer");
    s_check_settled(cust, 0);
    ly_node_status st1 = s_status(1), st2 = s_status(2);
    cr_log_info(
        "(b) n1: transfers sent %llu received %llu; n2: sent %llu received %llu asked %llu",
        (unsigned long long)st1.ns_transfers_sent, (unsigned long long)st1.ns_transfers_received,
        (unsigned long long)st2.ns_transfers_sent, (unsigned long long)st2.ns_transfers_received,
        (unsigned long long)st2.ns_rights_asked);
    cr_assert_geq(st1.ns_transfers_sent, 1, "n1 reports no transfer given");
    cr_assert_geq(st2.ns_transfers_received, 1, "n2 reports no transfer received");
    cr_assert_geq(st2.ns_rights_asked, 1, "n2 reports no rights request sent");
    cr_assert_eq(st2.ns_rights_pending, 0, "n2 still has %llu redemptions waiting",
                 (unsigned long long)st2.ns_rights_pending);
    /* The rights moved through the proxies, not some other way. */
    for (int i = 1; i <= 2; i++) {
        lyp_stats ps;
        lyp_proxy_stats(s_link(i, 3 - i), &ps);
        cr_assert_gt(ps.st_bytes_up, 0, "nothing went through the link n%d -> n%d", i, 3 - i);
    }
    s_stop_clean();
}

/* ---- (b2) the card is scanned: rights move before the redemption ---------- */

/* Poll customer `cust` at node `i` (plain lookups) until its local rights are
 * `want`. Returns the ms it took or -1. */
static int64_t s_wait_local_rights(int i, const char *cust, int64_t want, int timeout_ms)
{
    ly_client *c = lyh_client(s_node(i), RR_CALL_MS);
    cr_assert_not_null(c);
    ly_rep *rp = &s_rep_aux;
    uint64_t t0 = lyh_now_ms();
    int64_t took = -1;
    for (;;) {
        ly_req rq;
        ly_req_init(&rq, LY_MSG_CUSTOMER);
        snprintf(rq.rq_customer, sizeof rq.rq_customer, "%s", cust);
        if (ly_client_call(c, &rq, rp) == LY_OK) {
            int64_t have = rp->rp_err == LY_OK ? rp->rp_local_rights : -1;
            ly_rep_fini(rp);
            if (have == want) {
                took = (int64_t)(lyh_now_ms() - t0);
                break;
            }
        }
        if (lyh_now_ms() - t0 >= (uint64_t)timeout_ms)
            break;
        lyh_sleep_ms(10);
    }
    ly_client_destroy(&c);
    return took;
}

Test(rights, prefetch_on_card_scan_moves_rights_here)
{
    const char *cust = "pf-c1";
    s_two_nodes_earned("(b2) two nodes", "pf", cust);
    ly_rep *rp = &s_rep_main;

    /* A plain lookup moves nothing. */
    s_customer(2, cust, rp);
    cr_assert_eq(rp->rp_balance, 100);
    cr_assert_eq(rp->rp_local_rights, 0, "n2 holds %lld rights before any scan",
                 (long long)rp->rp_local_rights);
    ly_rep_fini(rp);
    cr_assert_lt(s_wait_local_rights(2, cust, 100, 500), 0,
                 "a plain lookup at n2 moved n1's rights to n2");

    /* The card is scanned at n2. */
    ly_client *c = lyh_client(s_node(2), RR_CALL_MS);
    cr_assert_not_null(c);
    ly_req rq;
    ly_req_init(&rq, LY_MSG_CUSTOMER);
    snprintf(rq.rq_customer, sizeof rq.rq_customer, "%s", cust);
    rq.rq_prefetch = 1;
    ly_err e = s_call_until(c, &rq, rp, RR_OP_DEADLINE);
    ly_client_destroy(&c);
    cr_assert_eq(e, LY_OK, "lookup with prefetch at n2: %s", ly_errname(e));
    cr_assert_eq(rp->rp_err, LY_OK, "lookup with prefetch at n2: %s: %s",
                 ly_errname((ly_err)rp->rp_err), rp->rp_message);
    cr_assert_eq(rp->rp_balance, 100);
    ly_rep_fini(rp);
    int64_t moved = s_wait_local_rights(2, cust, 100, 2000);
    cr_assert_geq(moved, 0,
                  "2 s after a scan with prefetch at n2, n2 does not hold the 100 rights");
    cr_log_info("(b2) n2 held the customer's 100 rights %" PRId64 " ms after the scan", moved);

    /* Cut off: n2 redeems at once what it holds; n1 holds nothing any more. */
    s_set_link(1, 2, LYP_MODE_RESET, 0);
    s_set_link(2, 1, LYP_MODE_RESET, 0);
    uint64_t t0 = lyh_now_ms();
    s_mutate_ok(2, LY_MSG_REDEEM, cust, "pf-redeem-n2", 100, rp);
    uint64_t ms = lyh_now_ms() - t0;
    cr_assert_eq(rp->rp_points, -100);
    ly_rep_fini(rp);
    cr_assert_lt(ms, (uint64_t)RR_WAIT_MS, "n2 held the rights but took %llu ms to redeem",
                 (unsigned long long)ms);
    c = lyh_client(s_node(1), RR_CALL_MS);
    cr_assert_not_null(c);
    s_req(&rq, LY_MSG_REDEEM, cust, "pf-redeem-n1", 100);
    e = s_call_until(c, &rq, rp, RR_OP_DEADLINE);
    ly_client_destroy(&c);
    cr_assert_eq(e, LY_OK);
    cr_assert_eq(rp->rp_err, LY_EINSUFFICIENT_LOCAL,
                 "n1 gave its rights away but answered %s (%s) to a redemption of 100",
                 ly_errname((ly_err)rp->rp_err), rp->rp_message);
    cr_assert_eq(rp->rp_available, 0);
    ly_rep_fini(rp);

    s_heal_all();
    s_converge("(b2) healed");
    s_check_settled(cust, 0);
    s_stop_clean();
}

/* ---- (c) random partitions under load ----------------------------------------- */

#define RC_NODES   5
#define RC_CUST    20
#define RC_RUN_MS  30000
#define RC_OPS_MAX 20000 /* per worker */
/* A redemption is answered within the wait + this. Not a speed check: on a
 * loaded machine (CI, ASan, the flake hunt's CPU hog) an answer took 4.7 s. A
 * redemption left waiting for good shows as the client's retry deadline,
 * RR_OP_DEADLINE (20 s), well past this bound. */
#define RC_SLACK_MS  10000
#define RC_STEPS_MAX 400
#define RC_WHY       512

typedef struct rc_op {
    uint8_t op_type;     /* LY_MSG_EARN, _REDEEM, _REVERSE, _ADJUST */
    uint8_t op_ref_type; /* reverse: LY_MSG_EARN or LY_MSG_REDEEM */
    int op_cust;
    int64_t op_points; /* the acknowledged change (rp_points) */
} rc_op;

/* One of a worker's acknowledged earns or redemptions: only that worker
 * reverses it, so what is left of it is known. */
typedef struct rc_own {
    int o_cust;
    uint8_t o_type;
    int o_seq;
    int64_t o_amount, o_points, o_refunded;
    int o_capped; /* its points were added to the customer's refund bound */
} rc_own;

typedef struct rc_worker {
    int w_node;
    pthread_t w_thread;
    unsigned w_rng;
    rc_op *w_ops;
    int w_nops;
    rc_own *w_own;
    int w_nown;
    int w_insufficient, w_insufficient_local, w_redeem_ok;
    /* lookups followed by a redemption of the whole balance: tried, ok, refused
     * insufficient_points, refused insufficient_local_rights */
    int w_drains, w_drain_ok, w_drain_short, w_drain_local;
    uint64_t w_redeem_max_ms, w_local_max_ms;
    int w_failed;
    char w_why[RC_WHY];
} rc_worker;

static rc_worker s_rc[RC_NODES];
static atomic_int s_rc_stop;
/* Per customer: an upper bound of the points refunds of earns may take back
 * (the points of every earn a refund was sent for, added before it is sent). */
static _Atomic int64_t s_rc_refund_cap[RC_CUST];

static void s_rc_cust(int cust, char *out, size_t cap)
{
    snprintf(out, cap, "rc-c%02d", cust);
}

static void s_rc_txn(int node, int seq, char *out, size_t cap)
{
    snprintf(out, cap, "rc-n%d-%05d", node, seq);
}

static void *s_rc_main(void *arg)
{
    rc_worker *w = arg;
    ly_client *c = lyh_client(s_node(w->w_node), RR_CALL_MS);
    ly_rep *rp = malloc(sizeof *rp);
    if (c == NULL || rp == NULL) {
        lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why, "unable to create a client for n%d",
                      w->w_node);
        goto done;
    }
    for (int seq = 0; seq < RC_OPS_MAX && !w->w_failed && !atomic_load(&s_rc_stop); seq++) {
        char cust[32], txn[64];
        unsigned r = s_rand(&w->w_rng) % 100;
        int cust_i = (int)(s_rand(&w->w_rng) % RC_CUST);
        rc_own *own = NULL;
        int drain = 0;
        ly_req rq;
        rc_op op = {.op_cust = cust_i};
        s_rc_txn(w->w_node, seq, txn, sizeof txn);
        if (r >= 80 && r < 96 && w->w_nown > 0) {
            own = &w->w_own[s_rand(&w->w_rng) % (unsigned)w->w_nown];
            if (own->o_refunded >= own->o_amount)
                own = NULL;
        }
        if (own != NULL) {
            int64_t left = own->o_amount - own->o_refunded;
            int64_t part = s_rand(&w->w_rng) % 2 ? 0 : 1 + (int64_t)(s_rand(&w->w_rng) % left);
            op.op_type = LY_MSG_REVERSE;
            op.op_ref_type = own->o_type;
            op.op_cust = own->o_cust;
            s_req(&rq, LY_MSG_REVERSE, "", txn, part);
            s_rc_txn(w->w_node, own->o_seq, rq.rq_ref_txn, sizeof rq.rq_ref_txn);
            if (own->o_type == LY_MSG_EARN && !own->o_capped) {
                atomic_fetch_add(&s_rc_refund_cap[own->o_cust], own->o_points);
                own->o_capped = 1;
            }
        } else if (r < 35) {
            op.op_type = LY_MSG_EARN;
            s_rc_cust(cust_i, cust, sizeof cust);
            s_req(&rq, LY_MSG_EARN, cust, txn, 100 + (int64_t)(s_rand(&w->w_rng) % 29901));
        } else if (r < 72) {
            op.op_type = LY_MSG_REDEEM;
            s_rc_cust(cust_i, cust, sizeof cust);
            s_req(&rq, LY_MSG_REDEEM, cust, txn, 1 + (int64_t)(s_rand(&w->w_rng) % 450));
        } else if (r < 80) {
            /* At the till: the card is scanned (a lookup with prefetch, which
             * starts moving rights here), then the whole balance shown is
             * redeemed.
             * This keeps balances near 0, where rights are scarce and
             * refunds of earns leave debts. */
            op.op_type = LY_MSG_REDEEM;
            s_rc_cust(cust_i, cust, sizeof cust);
            ly_req_init(&rq, LY_MSG_CUSTOMER);
            snprintf(rq.rq_customer, sizeof rq.rq_customer, "%s", cust);
            rq.rq_prefetch = 1;
            ly_err e = s_call_until(c, &rq, rp, RR_OP_DEADLINE);
            if (e != LY_OK || rp->rp_err != LY_OK) {
                lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why, "customer %s at n%d: %s %s",
                              cust, w->w_node, ly_errname(e),
                              e == LY_OK ? ly_errname((ly_err)rp->rp_err) : "");
                if (e == LY_OK)
                    ly_rep_fini(rp);
                break;
            }
            int64_t all = rp->rp_balance;
            ly_rep_fini(rp);
            if (all <= 0)
                continue;
            w->w_drains++;
            drain = 1;
            s_req(&rq, LY_MSG_REDEEM, cust, txn, all);
        } else {
            op.op_type = LY_MSG_ADJUST;
            s_rc_cust(cust_i, cust, sizeof cust);
            s_req(&rq, LY_MSG_ADJUST, cust, txn, 1 + (int64_t)(s_rand(&w->w_rng) % 50));
        }
        uint64_t t0 = lyh_now_ms();
        ly_err e = s_call_until(c, &rq, rp, RR_OP_DEADLINE);
        uint64_t ms = lyh_now_ms() - t0;
        if (e != LY_OK) {
            lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why,
                          "%s %s at n%d: no reply within %d s: %s", ly_msgtype_name(op.op_type),
                          txn, w->w_node, RR_OP_DEADLINE / 1000, ly_errname(e));
            break;
        }
        if (op.op_type == LY_MSG_REDEEM && ms > w->w_redeem_max_ms)
            w->w_redeem_max_ms = ms;
        if (op.op_type == LY_MSG_REDEEM && rp->rp_err == LY_EINSUFFICIENT) {
            w->w_insufficient++;
            w->w_drain_short += drain;
            if (rp->rp_available < 0 || rp->rp_available >= rq.rq_amount)
                lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why,
                              "redeem %s of %lld at n%d: insufficient_points with available %lld",
                              txn, (long long)rq.rq_amount, w->w_node, (long long)rp->rp_available);
            ly_rep_fini(rp);
            continue;
        }
        if (op.op_type == LY_MSG_REDEEM && rp->rp_err == LY_EINSUFFICIENT_LOCAL) {
            w->w_insufficient_local++;
            w->w_drain_local += drain;
            if (ms > w->w_local_max_ms)
                w->w_local_max_ms = ms;
            if (rp->rp_available < 0 || rp->rp_available >= rq.rq_amount)
                lyh_fail_once(
                    &w->w_failed, w->w_why, sizeof w->w_why,
                    "redeem %s of %lld at n%d: insufficient_local_rights with available %lld", txn,
                    (long long)rq.rq_amount, w->w_node, (long long)rp->rp_available);
            ly_rep_fini(rp);
            continue;
        }
        if (rp->rp_err != LY_OK) {
            /* Earns, goodwill and refunds always succeed (refunds may leave a debt). */
            lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why,
                          "%s %s (customer %d, amount %lld) at n%d refused: %s: %s",
                          ly_msgtype_name(op.op_type), txn, op.op_cust, (long long)rq.rq_amount,
                          w->w_node, ly_errname((ly_err)rp->rp_err), rp->rp_message);
            ly_rep_fini(rp);
            break;
        }
        op.op_points = rp->rp_points;
        switch (op.op_type) {
        case LY_MSG_EARN:
            if (rp->rp_points <= 0)
                lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why,
                              "earn %s of %lld gave %lld points", txn, (long long)rq.rq_amount,
                              (long long)rp->rp_points);
            w->w_own[w->w_nown++] = (rc_own){.o_cust = cust_i,
                                             .o_type = LY_MSG_EARN,
                                             .o_seq = seq,
                                             .o_amount = rq.rq_amount,
                                             .o_points = rp->rp_points};
            break;
        case LY_MSG_REDEEM:
            w->w_redeem_ok++;
            w->w_drain_ok += drain;
            if (rp->rp_points != -rq.rq_amount)
                lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why,
                              "redeem %s of %lld reported %lld points", txn,
                              (long long)rq.rq_amount, (long long)rp->rp_points);
            w->w_own[w->w_nown++] = (rc_own){.o_cust = cust_i,
                                             .o_type = LY_MSG_REDEEM,
                                             .o_seq = seq,
                                             .o_amount = rq.rq_amount,
                                             .o_points = rp->rp_points};
            break;
        case LY_MSG_REVERSE: {
            int64_t left = own->o_amount - own->o_refunded;
            own->o_refunded += rq.rq_amount ? rq.rq_amount : left;
            if ((own->o_type == LY_MSG_EARN && rp->rp_points > 0) ||
                (own->o_type == LY_MSG_REDEEM && rp->rp_points < 0))
                lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why,
                              "refund %s of a %s changed the balance by %lld", txn,
                              ly_msgtype_name(own->o_type), (long long)rp->rp_points);
            break;
        }
        default:
            if (rp->rp_points != rq.rq_amount)
                lyh_fail_once(&w->w_failed, w->w_why, sizeof w->w_why,
                              "goodwill %s of %lld changed the balance by %lld", txn,
                              (long long)rq.rq_amount, (long long)rp->rp_points);
            break;
        }
        w->w_ops[w->w_nops++] = op;
        ly_rep_fini(rp);
    }
done:
    free(rp);
    ly_client_destroy(&c);
    return NULL;
}

/* The reader: customer lookups at random nodes while the load runs. */
typedef struct rc_reader {
    pthread_t r_thread;
    unsigned r_rng;
    int r_reads, r_debts;
    int r_failed;     /* a lookup failed: the reader stopped */
    int r_violations; /* reads that broke a rule (the reader goes on) */
    char r_why[RC_WHY + 64];
    char r_dump[16384]; /* the first offending reply: rights and history */
} rc_reader;

/* Describe customer reply `rp` from node `i` into `out`: rights rows, then the
 * history (newest first). */
static void s_dump_reply(const ly_rep *rp, int i, char *out, size_t cap)
{
    size_t len = 0;
#define S_PUT(...)                                                                                 \
    do {                                                                                           \
        int w_ = snprintf(out + len, cap - len, __VA_ARGS__);                                      \
        if (w_ > 0)                                                                                \
            len = len + (size_t)w_ < cap ? len + (size_t)w_ : cap - 1;                             \
    } while (0)
    S_PUT("%s at n%d: balance %lld debt %lld local %lld rights {", rp->rp_customer, i,
          (long long)rp->rp_balance, (long long)rp->rp_debt, (long long)rp->rp_local_rights);
    for (uint32_t k = 0; k < rp->rp_nrights && k < LY_RIGHTS_REPLY_MAX; k++)
        S_PUT(" n%u:%lld", (unsigned)rp->rp_rights[k].node, (long long)rp->rp_rights[k].points);
    S_PUT(" }; history (newest first, %u entries):\n", rp->rp_nhist);
    for (uint32_t h = 0; h < rp->rp_nhist && h < LY_HIST_MAX; h++) {
        const ly_hist *x = &rp->rp_hist[h];
        S_PUT("    hlc=%llu n%u %-8s %+lld txn=%s%s%s\n", (unsigned long long)x->hi_hlc,
              (unsigned)x->hi_origin, ly_evtype_name(x->hi_type), (long long)x->hi_points,
              x->hi_txn[0] ? x->hi_txn : "-", x->hi_ref_txn[0] ? " ref=" : "", x->hi_ref_txn);
    }
#undef S_PUT
}

static rc_reader s_reader;

static void *s_reader_main(void *arg)
{
    rc_reader *r = arg;
    ly_client *c[RC_NODES] = {0};
    ly_rep *rp = malloc(sizeof *rp);
    for (int i = 0; i < RC_NODES; i++)
        c[i] = lyh_client(s_node(i + 1), RR_CALL_MS);
    for (int i = 0; i < RC_NODES; i++)
        if (c[i] == NULL || rp == NULL) {
            lyh_fail_once(&r->r_failed, r->r_why, sizeof r->r_why,
                          "unable to create the reader's clients");
            goto done;
        }
    while (!atomic_load(&s_rc_stop) && !r->r_failed) {
        int i = (int)(s_rand(&r->r_rng) % RC_NODES), cust_i = (int)(s_rand(&r->r_rng) % RC_CUST);
        ly_req rq;
        ly_req_init(&rq, LY_MSG_CUSTOMER);
        rq.rq_limit = LY_HIST_MAX;
        s_rc_cust(cust_i, rq.rq_customer, sizeof rq.rq_customer);
        ly_err e = s_call_until(c[i], &rq, rp, RR_OP_DEADLINE);
        if (e != LY_OK || rp->rp_err != LY_OK) {
            lyh_fail_once(&r->r_failed, r->r_why, sizeof r->r_why, "customer %s at n%d: %s %s",
                          rq.rq_customer, i + 1, ly_errname(e),
                          e == LY_OK ? ly_errname((ly_err)rp->rp_err) : "");
            if (e == LY_OK)
                ly_rep_fini(rp);
            break;
        }
        int64_t cap = atomic_load(&s_rc_refund_cap[cust_i]); /* after the reply */
        int bad = 0, first = r->r_violations == 0, dummy = 0;
        int64_t sum = s_rights_sum(rp, &bad);
        r->r_reads++;
        r->r_debts += rp->rp_debt > 0;
        char why[RC_WHY];
        why[0] = '\0';
        if (rp->rp_balance < 0 || rp->rp_debt < 0 || (rp->rp_balance > 0 && rp->rp_debt > 0))
            lyh_fail_once(&dummy, why, sizeof why, "%s at n%d: balance %lld, debt %lld",
                          rq.rq_customer, i + 1, (long long)rp->rp_balance, (long long)rp->rp_debt);
        else if (rp->rp_debt > cap)
            lyh_fail_once(
                &dummy, why, sizeof why,
                "%s at n%d shows a debt of %lld (a negative balance), but refunds of earns "
                "sent so far can take back at most %lld points",
                rq.rq_customer, i + 1, (long long)rp->rp_debt, (long long)cap);
        else if (bad || sum != rp->rp_balance - rp->rp_debt)
            lyh_fail_once(&dummy, why, sizeof why,
                          "%s at n%d: rights rows add up to %lld (%u rows), balance - debt is %lld",
                          rq.rq_customer, i + 1, (long long)sum, rp->rp_nrights,
                          (long long)(rp->rp_balance - rp->rp_debt));
        else if (rp->rp_local_rights < 0 || rp->rp_local_rights > rp->rp_balance)
            lyh_fail_once(&dummy, why, sizeof why,
                          "%s at n%d: may redeem %lld of a balance of %lld", rq.rq_customer, i + 1,
                          (long long)rp->rp_local_rights, (long long)rp->rp_balance);
        if (dummy) {
            r->r_violations++;
            if (first) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                snprintf(r->r_why, sizeof r->r_why, "%s (read at %lld.%03ld)", why,
                         (long long)ts.tv_sec, ts.tv_nsec / 1000000);
                s_dump_reply(rp, i + 1, r->r_dump, sizeof r->r_dump);
            }
        }
        ly_rep_fini(rp);
        lyh_sleep_ms(10);
    }
done:
    for (int i = 0; i < RC_NODES; i++)
        ly_client_destroy(&c[i]);
    free(rp);
    return NULL;
}

/* The controller: a seeded schedule of link faults. */
typedef struct rc_ctl {
    pthread_t c_thread;
    unsigned c_rng;
    int c_steps, c_cuts, c_heals;
    int c_failed;
    char c_why[RC_WHY];
} rc_ctl;

static rc_ctl s_ctl;

static int s_ctl_set(rc_ctl *c, int from, int to, lyp_mode mode, int delay_ms)
{
    if (lyp_proxy_set_mode(s_link(from, to), mode, delay_ms) != 0) {
        lyh_fail_once(&c->c_failed, c->c_why, sizeof c->c_why,
                      "unable to set link n%d -> n%d to %s", from, to, lyp_mode_name(mode));
        return -1;
    }
    return 0;
}

static void *s_ctl_main(void *arg)
{
    rc_ctl *c = arg;
    while (!atomic_load(&s_rc_stop) && !c->c_failed && c->c_steps < RC_STEPS_MAX) {
        lyh_sleep_ms(200 + (int)(s_rand(&c->c_rng) % 1000));
        if (atomic_load(&s_rc_stop))
            break;
        unsigned r = s_rand(&c->c_rng) % 100;
        int from = 1 + (int)(s_rand(&c->c_rng) % RC_NODES);
        int to = 1 + (int)(s_rand(&c->c_rng) % (RC_NODES - 1));
        to += to >= from; /* any node but `from` */
        lyp_mode cut = s_rand(&c->c_rng) % 2 ? LYP_MODE_BLACKHOLE : LYP_MODE_RESET;
        c->c_steps++;
        if (r < 35) { /* one direction of one pair */
            s_ctl_set(c, from, to, cut, 0);
            c->c_cuts++;
        } else if (r < 50) { /* both directions of one pair */
            s_ctl_set(c, from, to, cut, 0);
            s_ctl_set(c, to, from, cut, 0);
            c->c_cuts += 2;
        } else if (r < 60) { /* a slow link */
            s_ctl_set(c, from, to, LYP_MODE_DELAY, 20 + (int)(s_rand(&c->c_rng) % 400));
        } else if (r < 68) { /* a branch cut off from everyone */
            for (int k = 1; k <= RC_NODES; k++)
                if (k != from) {
                    s_ctl_set(c, from, k, cut, 0);
                    s_ctl_set(c, k, from, cut, 0);
                    c->c_cuts += 2;
                }
        } else if (r < 92) { /* heal one pair */
            s_ctl_set(c, from, to, LYP_MODE_PASS, 0);
            s_ctl_set(c, to, from, LYP_MODE_PASS, 0);
            c->c_heals++;
        } else { /* heal everything */
            for (int i = 1; i <= RC_NODES; i++)
                for (int j = 1; j <= RC_NODES; j++)
                    if (i != j)
                        s_ctl_set(c, i, j, LYP_MODE_PASS, 0);
            c->c_heals++;
        }
    }
    return NULL;
}

static unsigned s_seed(void)
{
    const char *env = getenv("LY_RIGHTS_SEED");
    if (env != NULL && env[0] != '\0') {
        char *end;
        unsigned long v = strtoul(env, &end, 10);
        cr_assert(*end == '\0' && v <= 0xffffffffUL, "LY_RIGHTS_SEED='%s' is not a number", env);
        return (unsigned)v;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (unsigned)(ts.tv_nsec ^ ts.tv_sec ^ ((long)getpid() << 16));
}

/* What (c) checks, per customer, from the operations acknowledged to the
 * clients (every operation got a reply: a node's client port is never cut):
 *   E  = points of acknowledged earns + acknowledged goodwill adjustments (> 0);
 *   R  = points of acknowledged redemptions;
 *   RR = points given back by acknowledged refunds of redemptions;
 *   RE = points taken back by acknowledged refunds of earns.
 *   1. no double spend: R - RR <= E. Refunds of earns are not subtracted from
 *      E: a refund always succeeds, also of points already spent, and then
 *      leaves a debt; so also debt <= RE at the end.
 *   2. exactly once: after the heal, at every node balance - debt = E + RR -
 *      R - RE.
 *   3. during the run, every customer read at any node shows balance >= 0,
 *      debt >= 0, not both > 0, a debt no larger than the points of the earns
 *      a refund had been sent for by then (a debt without such a refund is a
 *      negative balance), rights rows adding up to balance - debt, and local
 *      rights in 0..balance.
 *   4. after the heal: every node converges (same version vector, digest and
 *      event count), at every node each customer's rights rows add up to
 *      balance - debt, and all nodes show the same balance and debt.
 *   5. the bounded counter: after the heal, the rights row of every node X is
 *      >= -(points taken back by acknowledged refunds of earns made at X); a
 *      lower row means X redeemed rights it did not hold (not checked during
 *      the run: a node may apply X's redemption before the transfer that
 *      gave X the rights, when they come from different origins).
 *   6. refusals of redemptions are only insufficient_points or
 *      insufficient_local_rights, with 0 <= available < the amount asked;
 *      every redemption is answered within rights_wait_ms + RC_SLACK_MS.
 *   7. rights did move (some transfer happened) and every node exits 0. */
Test(rights, random_partitions)
{
    unsigned seed = s_seed();
    fprintf(stderr, "rights_test random_partitions: seed %u (replay: LY_RIGHTS_SEED=%u)\n", seed,
            seed);
    cr_log_info("(c) seed %u (replay: LY_RIGHTS_SEED=%u)", seed, seed);
    s_net_up(RC_NODES);
    s_links_up("(c) five nodes");
    ly_rep *rp = &s_rep_main;
    for (int k = 0; k < RC_CUST; k++) {
        char cust[32], txn[64];
        s_rc_cust(k, cust, sizeof cust);
        snprintf(txn, sizeof txn, "rc-enroll-%02d", k);
        s_mutate_ok(1 + k % RC_NODES, LY_MSG_ENROLL, cust, txn, 0, rp);
        cr_assert_eq(rp->rp_points, 0, "enroll gave %lld points", (long long)rp->rp_points);
        ly_rep_fini(rp);
        atomic_store(&s_rc_refund_cap[k], 0);
    }
    s_converge("(c) enrollments");

    atomic_store(&s_rc_stop, 0);
    unsigned rng = seed;
    for (int t = 0; t < RC_NODES; t++) {
        rc_worker *w = &s_rc[t];
        memset(w, 0, sizeof *w);
        w->w_node = t + 1;
        w->w_rng = s_rand(&rng) ^ (unsigned)(t + 1);
        w->w_ops = calloc(RC_OPS_MAX, sizeof *w->w_ops);
        w->w_own = calloc(RC_OPS_MAX, sizeof *w->w_own);
        cr_assert(w->w_ops != NULL && w->w_own != NULL);
    }
    memset(&s_reader, 0, sizeof s_reader);
    s_reader.r_rng = s_rand(&rng);
    memset(&s_ctl, 0, sizeof s_ctl);
    s_ctl.c_rng = s_rand(&rng);
    for (int t = 0; t < RC_NODES; t++)
        cr_assert_eq(pthread_create(&s_rc[t].w_thread, NULL, s_rc_main, &s_rc[t]), 0);
    cr_assert_eq(pthread_create(&s_reader.r_thread, NULL, s_reader_main, &s_reader), 0);
    cr_assert_eq(pthread_create(&s_ctl.c_thread, NULL, s_ctl_main, &s_ctl), 0);
    lyh_sleep_ms(RC_RUN_MS);
    atomic_store(&s_rc_stop, 1);
    pthread_join(s_ctl.c_thread, NULL);
    pthread_join(s_reader.r_thread, NULL);
    for (int t = 0; t < RC_NODES; t++)
        pthread_join(s_rc[t].w_thread, NULL);
    s_heal_all();

    int acked = 0, redeemed = 0, insufficient = 0, local = 0, drains = 0, drain_ok = 0;
    int drain_short = 0, drain_local = 0;
    uint64_t redeem_max = 0, local_max = 0;
    for (int t = 0; t < RC_NODES; t++) {
        rc_worker *w = &s_rc[t];
        if (w->w_failed)
            cr_log_error("(c) seed %u: client at n%d: %s", seed, w->w_node, w->w_why);
        acked += w->w_nops;
        redeemed += w->w_redeem_ok;
        insufficient += w->w_insufficient;
        local += w->w_insufficient_local;
        drains += w->w_drains;
        drain_ok += w->w_drain_ok;
        drain_short += w->w_drain_short;
        drain_local += w->w_drain_local;
        redeem_max = w->w_redeem_max_ms > redeem_max ? w->w_redeem_max_ms : redeem_max;
        local_max = w->w_local_max_ms > local_max ? w->w_local_max_ms : local_max;
    }
    cr_log_info("(c) seed %u: %d link steps (%d cuts, %d heals); %d acknowledged changes, %d "
                "redemptions, %d refused insufficient_points, %d insufficient_local_rights "
                "(slowest %llu ms; slowest redemption %llu ms); whole-balance redemptions "
                "after a lookup: %d tried, %d ok, %d insufficient_points, %d "
                "insufficient_local_rights; %d reads, %d showing a debt",
                seed, s_ctl.c_steps, s_ctl.c_cuts, s_ctl.c_heals, acked, redeemed, insufficient,
                local, (unsigned long long)local_max, (unsigned long long)redeem_max, drains,
                drain_ok, drain_short, drain_local, s_reader.r_reads, s_reader.r_debts);
    for (int t = 0; t < RC_NODES; t++)
        cr_assert_not(s_rc[t].w_failed, "(c) seed %u: client at n%d: %s", seed, s_rc[t].w_node,
                      s_rc[t].w_why);
    cr_assert_not(s_ctl.c_failed, "(c) seed %u: controller: %s", seed, s_ctl.c_why);
    cr_assert_not(s_reader.r_failed, "(c) seed %u: reader: %s", seed, s_reader.r_why);
    if (s_reader.r_violations > 0)
        cr_log_error("(c) seed %u: %d of %d customer reads broke a rule; the first: %s\n%s", seed,
                     s_reader.r_violations, s_reader.r_reads, s_reader.r_why, s_reader.r_dump);
    cr_assert_leq(redeem_max, (uint64_t)(RR_WAIT_MS + RC_SLACK_MS),
                  "(c) seed %u: a redemption took %llu ms; rights_wait_ms is %d", seed,
                  (unsigned long long)redeem_max, RR_WAIT_MS);
    cr_assert_geq(s_reader.r_reads, 100, "(c) only %d customer reads", s_reader.r_reads);
    cr_assert_geq(redeemed, 20, "(c) only %d redemptions succeeded", redeemed);

    s_converge("(c) healed after the load");
    int end_debts = 0;
    int64_t end_balance = 0;
    for (int k = 0; k < RC_CUST; k++) {
        int64_t e = 0, r = 0, rr = 0, re = 0, re_at[RC_NODES + 1] = {0};
        for (int t = 0; t < RC_NODES; t++)
            for (int i = 0; i < s_rc[t].w_nops; i++) {
                const rc_op *op = &s_rc[t].w_ops[i];
                if (op->op_cust != k)
                    continue;
                if (op->op_type == LY_MSG_EARN || op->op_type == LY_MSG_ADJUST)
                    e += op->op_points;
                else if (op->op_type == LY_MSG_REDEEM)
                    r += -op->op_points;
                else if (op->op_ref_type == LY_MSG_REDEEM)
                    rr += op->op_points;
                else {
                    re += -op->op_points;
                    re_at[s_rc[t].w_node] += -op->op_points;
                }
            }
        char cust[32];
        s_rc_cust(k, cust, sizeof cust);
        cr_assert_leq(r - rr, e,
                      "(c) seed %u: double spend: %s: %lld points redeemed (less %lld given back "
                      "by refunds) of %lld earned",
                      seed, cust, (long long)r, (long long)rr, (long long)e);
        int64_t net = e + rr - r - re;
        for (int i = 1; i <= RC_NODES; i++) {
            s_customer(i, cust, rp);
            int bad = 0;
            int64_t sum = s_rights_sum(rp, &bad);
            int64_t got = rp->rp_balance - rp->rp_debt;
            if (got != net || bad || sum != got) {
                char what[64];
                snprintf(what, sizeof what, "(c) %s at n%d", cust, i);
                s_print_rights(what, rp);
            }
            cr_assert_eq(got, net,
                         "(c) seed %u: %s at n%d: balance %lld debt %lld; acknowledged: earned "
                         "%lld, redeemed %lld, refunds gave back %lld and took back %lld: net "
                         "%lld",
                         seed, cust, i, (long long)rp->rp_balance, (long long)rp->rp_debt,
                         (long long)e, (long long)r, (long long)rr, (long long)re, (long long)net);
            cr_assert(!bad && sum == got,
                      "(c) seed %u: %s at n%d: rights rows add up to %lld (%u rows), balance - "
                      "debt is %lld",
                      seed, cust, i, (long long)sum, rp->rp_nrights, (long long)got);
            cr_assert_leq(rp->rp_debt, re, "(c) seed %u: %s at n%d: debt %lld, refunds took %lld",
                          seed, cust, i, (long long)rp->rp_debt, (long long)re);
            for (uint32_t q = 0; q < rp->rp_nrights && q < LY_RIGHTS_REPLY_MAX; q++) {
                uint16_t x = rp->rp_rights[q].node;
                int64_t floor = x >= 1 && x <= RC_NODES ? -re_at[x] : 0;
                cr_assert_geq(rp->rp_rights[q].points, floor,
                              "(c) seed %u: %s at n%d: n%u holds %lld rights, but refunds of "
                              "earns there took back only %lld: n%u redeemed rights it did not "
                              "hold",
                              seed, cust, i, (unsigned)x, (long long)rp->rp_rights[q].points,
                              (long long)-floor, (unsigned)x);
            }
            if (i == 1) {
                end_debts += rp->rp_debt > 0;
                end_balance += rp->rp_balance;
            }
            ly_rep_fini(rp);
        }
    }
    cr_log_info("(c) seed %u: at the end %d of %d customers owe points; balances sum to %lld", seed,
                end_debts, RC_CUST, (long long)end_balance);
    /* Lookups may move rights: the nodes must agree again afterwards. */
    s_converge("(c) after the lookups");
    uint64_t transfers = 0;
    for (int i = 1; i <= RC_NODES; i++) {
        ly_node_status st = s_status(i);
        transfers += st.ns_transfers_received;
        cr_assert_eq(st.ns_rights_pending, 0, "(c) n%d still has %llu redemptions waiting", i,
                     (unsigned long long)st.ns_rights_pending);
    }
    cr_log_info("(c) seed %u: %llu rights transfers received in all", seed,
                (unsigned long long)transfers);
    cr_assert_gt(transfers, 0, "(c) seed %u: no rights ever moved", seed);
    cr_assert_eq(s_reader.r_violations, 0,
                 "(c) seed %u: %d of %d customer reads during the run broke a rule; the first: %s "
                 "(reply above)",
                 seed, s_reader.r_violations, s_reader.r_reads, s_reader.r_why);
    for (int t = 0; t < RC_NODES; t++) {
        free(s_rc[t].w_ops);
        free(s_rc[t].w_own);
        s_rc[t].w_ops = NULL;
        s_rc[t].w_own = NULL;
    }
    s_stop_clean();
}

/* ---- (d) a one-way cut: a redemption seen before the points it spent -------- */

#define RD_WATCH_MS 1500 /* n3 is watched this long after n2's redemption */

/* n3 hears n2's live events but nothing of n1 (n1 -> n3 cut) and cannot ask
 * anyone for what it misses (n3 -> n1 and n3 -> n2 cut). 100 points are
 * earned at n1 and redeemed at n2 (after a transfer from n1): n3 then holds
 * the redemption but neither the earn nor the transfer. The customer owes
 * nothing, so n3 must not show a debt; and n3 must redeem the points earned
 * and held there. */
Test(rights, one_way_cut_shows_no_debt_and_keeps_local_rights)
{
    const char *cust = "ow-c1";
    s_net_up(3);
    s_links_up("(d) three nodes");
    ly_rep *rp = &s_rep_main;
    s_mutate_ok(1, LY_MSG_ENROLL, cust, "ow-enroll", 0, rp);
    uint64_t seq = rp->rp_seq;
    ly_rep_fini(rp);
    for (int i = 2; i <= 3; i++)
        cr_assert_geq(s_wait_holds(i, 1, seq, RR_CONVERGE_MS), 0, "n%d never got the enroll", i);

    s_set_link(1, 3, LYP_MODE_BLACKHOLE, 0);
    s_set_link(3, 1, LYP_MODE_BLACKHOLE, 0);
    s_set_link(3, 2, LYP_MODE_BLACKHOLE, 0);
    s_mutate_ok(1, LY_MSG_EARN, cust, "ow-earn-n1", 10000, rp);
    cr_assert_eq(rp->rp_points, 100);
    uint64_t earn_seq = rp->rp_seq;
    ly_rep_fini(rp);
    cr_assert_geq(s_wait_holds(2, 1, earn_seq, RR_CONVERGE_MS), 0, "n2 never got n1's earn");
    s_redeem_when_moved(2, cust, "ow-redeem-n2", 100, rp);
    uint64_t redeem_seq = rp->rp_seq;
    ly_rep_fini(rp);

    /* n2's live batch reaches n3 at once. Whether n3 applies the redemption now
     * or holds it until it has what the redemption spent is the node's choice;
     * what it shows must be true either way. */
    int64_t debt = 0;
    uint64_t t0 = lyh_now_ms();
    while (lyh_now_ms() - t0 < RD_WATCH_MS) {
        s_customer(3, cust, rp);
        if (rp->rp_debt > debt) {
            debt = rp->rp_debt;
            s_print_rights("(d) n3 while it lacks n1's earn", rp);
        }
        ly_rep_fini(rp);
        lyh_sleep_ms(20);
    }
    ly_node_status st3 = s_status_peers(3);
    const ly_peer_status *p2 = lyh_status_peer(&st3, 2);
    int heard = p2 != NULL && p2->ps_up;
    uint64_t has_earn = lyh_status_vv(&st3, 1), has_redeem = lyh_status_vv(&st3, 2);
    lyh_status_fini(&st3);
    cr_assert(heard, "n3 does not hear n2 over the open link n2 -> n3");
    cr_assert_lt(has_earn, earn_seq, "the cut did not hold: n3 has n1's earn (seq %llu)",
                 (unsigned long long)earn_seq);
    cr_log_info("(d) n3 %s n2's redemption (seq %llu) without n1's earn",
                has_redeem >= redeem_seq ? "applied" : "held back", (unsigned long long)redeem_seq);

    /* n3 redeems points earned and held there. */
    s_mutate_ok(3, LY_MSG_EARN, cust, "ow-earn-n3", 5000, rp);
    cr_assert_eq(rp->rp_points, 50);
    ly_rep_fini(rp);
    ly_client *c = lyh_client(s_node(3), RR_CALL_MS);
    cr_assert_not_null(c);
    ly_req rq;
    s_req(&rq, LY_MSG_REDEEM, cust, "ow-redeem-n3", 50);
    ly_err e = s_call_until(c, &rq, rp, RR_OP_DEADLINE);
    ly_client_destroy(&c);
    cr_assert_eq(e, LY_OK, "redeem at n3: no reply: %s", ly_errname(e));
    int redeemed = rp->rp_err == LY_OK;
    cr_log_info("(d) n3: largest debt shown %lld; redeem 50 (earned there): %s: %s (available "
                "%lld, local rights %lld)",
                (long long)debt, ly_errname((ly_err)rp->rp_err), rp->rp_message,
                (long long)rp->rp_available, (long long)rp->rp_local_rights);
    ly_rep_fini(rp);
    cr_assert_eq(debt, 0,
                 "n3 showed a debt of %lld for a customer who owes nothing (it applied n2's "
                 "redemption without n1's earn and transfer that it spent)",
                 (long long)debt);
    cr_assert(redeemed, "n3 refused to redeem 50 points earned and held there (see above)");

    s_heal_all();
    s_converge("(d) healed");
    s_check_settled(cust, 0);
    s_stop_clean();
}

/* ---- (e) catch-up after a long cut, past a redemption of transferred rights -- */

#define RE_BULK 1200 /* events n1 makes while n3 is away: more than one catch-up batch */

/* n3 is cut off. n1 redeems points earned at n2 (after n2's transfer to n1),
 * then makes RE_BULK more events. When n3 is back, the first event of n1 it
 * lacks is that redemption, which needs n2's transfer: n3 must still catch up
 * (whatever order its peers send the missing events in). */
Test(rights, catch_up_past_a_redemption_of_transferred_rights)
{
    s_net_up(3);
    s_links_up("(e) three nodes");
    ly_rep *rp = &s_rep_main;
    s_mutate_ok(2, LY_MSG_ENROLL, "lc-x", "lc-enroll-x", 0, rp);
    ly_rep_fini(rp);
    s_mutate_ok(2, LY_MSG_ENROLL, "lc-y", "lc-enroll-y", 0, rp);
    uint64_t seq = rp->rp_seq;
    ly_rep_fini(rp);
    for (int i = 1; i <= 3; i += 2)
        cr_assert_geq(s_wait_holds(i, 2, seq, RR_CONVERGE_MS), 0, "n%d never got the enrolls", i);

    /* Reset, not blackhole: what n1 and n2 push meanwhile is lost, not held
     * up, so only catch-up can bring it. */
    for (int k = 1; k <= 2; k++) {
        s_set_link(k, 3, LYP_MODE_RESET, 0);
        s_set_link(3, k, LYP_MODE_RESET, 0);
    }
    s_mutate_ok(2, LY_MSG_EARN, "lc-x", "lc-earn-x", 10000, rp);
    seq = rp->rp_seq;
    ly_rep_fini(rp);
    cr_assert_geq(s_wait_holds(1, 2, seq, RR_CONVERGE_MS), 0, "n1 never got n2's earn");
    s_mutate_ok(1, LY_MSG_REDEEM, "lc-x", "lc-redeem-x", 100, rp);
    cr_assert_eq(rp->rp_seq, 1, "the redemption is n1's event %llu, expected its first",
                 (unsigned long long)rp->rp_seq);
    ly_rep_fini(rp);

    ly_client *c = lyh_client(s_node(1), RR_CALL_MS);
    cr_assert_not_null(c);
    uint64_t t0 = lyh_now_ms();
    for (int i = 0; i < RE_BULK; i++) {
        char txn[64];
        ly_req rq;
        snprintf(txn, sizeof txn, "lc-bulk-%04d", i);
        s_req(&rq, LY_MSG_EARN, "lc-y", txn, 100);
        ly_err e = s_call_until(c, &rq, rp, RR_OP_DEADLINE);
        cr_assert_eq(e, LY_OK, "earn %s at n1: %s", txn, ly_errname(e));
        cr_assert_eq(rp->rp_err, LY_OK, "earn %s at n1: %s", txn, ly_errname((ly_err)rp->rp_err));
        ly_rep_fini(rp);
    }
    ly_client_destroy(&c);
    cr_log_info("(e) n1 made %d events in %llu ms while n3 was away", RE_BULK,
                (unsigned long long)(lyh_now_ms() - t0));
    ly_node_status st3 = s_status(3);
    cr_assert_eq(lyh_status_vv(&st3, 1), 0, "the cut did not hold: n3 has n1's events");

    s_heal_all();
    s_converge("(e) n3 back");
    s_check_settled("lc-x", 0);
    s_stop_clean();
}

/* ---- (d) a retry of a redemption that waits for rights ----------------------- */

typedef struct s_retry {
    int r_node;
    ly_req r_rq;
    ly_rep r_rep;
    ly_err r_err;
    uint64_t r_ms;
} s_retry;

static void *s_retry_main(void *arg)
{
    s_retry *r = arg;
    ly_client *c = lyh_client(s_node(r->r_node), RR_CALL_MS);
    uint64_t t0 = lyh_now_ms();
    r->r_err = c ? ly_client_call(c, &r->r_rq, &r->r_rep) : LY_ENOMEM;
    r->r_ms = lyh_now_ms() - t0;
    ly_client_destroy(&c);
    return NULL;
}

/* A POS gives up on a redemption that is parked waiting for rights and sends
 * it again (same transaction). The retry must share the parked copy's fate: an
 * answer "refused" while the parked copy later commits would tell the
 * customer no points were taken when they were (found by the chaos runner,
 * fixed in ba0cb7a; with that fix undone this test fails). */
Test(rights, a_retry_shares_the_fate_of_its_waiting_copy)
{
    const char *cust = "rt-c1";
    /* One waiting slot (the slots are min(batch_max, 256)): the retry cannot
     * wait on its own and is answered at once, as when a busy branch has filled
     * its slots or lost the peer that holds the rights. */
    s_node_extra = "batch_max = 1\n";
    s_two_nodes_earned("(d) two nodes", "rt", cust);
    ly_rep *rp = &s_rep_main;

    /* n1's transfer to n2 is held in the link until it heals. */
    s_set_link(1, 2, LYP_MODE_BLACKHOLE, 0);
    ly_req rq;
    s_req(&rq, LY_MSG_REDEEM, cust, "rt-redeem", 100);
    ly_client *impatient = lyh_client(s_node(2), 60);
    cr_assert_not_null(impatient);
    ly_err e = ly_client_call(impatient, &rq, rp);
    ly_client_destroy(&impatient);
    cr_assert_eq(e, LY_ETIMEDOUT, "the first copy should wait for rights, got %s (%s)",
                 ly_errname(e), e == LY_OK ? ly_errname((ly_err)rp->rp_err) : "-");

    s_retry r = {.r_node = 2, .r_rq = rq};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, s_retry_main, &r), 0);
    lyh_sleep_ms(30);
    s_set_link(1, 2, LYP_MODE_PASS, 0);
    pthread_join(th, NULL);
    cr_assert_eq(r.r_err, LY_OK, "the retry got no reply: %s", ly_errname(r.r_err));
    cr_log_info("(d) the retry was answered %s after %llu ms", ly_errname((ly_err)r.r_rep.rp_err),
                (unsigned long long)r.r_ms);

    s_converge("(d) after the retry");
    /* What the retry said is what happened, at every node. */
    if (r.r_rep.rp_err == LY_OK) {
        cr_expect_eq(r.r_rep.rp_points, -100);
        s_check_settled(cust, 0);
    } else {
        cr_expect_eq(r.r_rep.rp_err, LY_EINSUFFICIENT_LOCAL, "%s: %s",
                     ly_errname((ly_err)r.r_rep.rp_err), r.r_rep.rp_message);
        s_check_settled(cust, 100); /* refused: nothing may have been taken */
    }
    ly_rep_fini(&r.r_rep);
    s_stop_clean();
}
