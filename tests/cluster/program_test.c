/* program_test.c -- one loyalty program for the whole chain, with real
 * loyald processes whose peer links run through fault proxies: the program
 * is a replicated event, not branch configuration.
 *
 *   same_rules_everywhere: the mismatch. The program is applied once
 *       at n1; the same purchase at n1 and at n2 gives the same points and the
 *       same tier, and `loyalctl verify` passes.
 *   versions_during_a_cut: n3 cut off; version 2 (Gold x3) applied at n1
 *       reaches n2 only. A purchase at n3 still earns under version 1, one at
 *       n1 under version 2; verify fails and names the program. Healed: every
 *       node runs version 2, verify passes, and the purchase made at n3 keeps
 *       the points and the version it was made under.
 *   same_version_twice: n1 and n3 cut off from each other apply different
 *       programs both numbered 2. Healed: every node runs the one applied
 *       first (by clock) and `program history` lists the other as lost, the
 *       same at every node.
 *   refused_and_kept: a version not above the newest is refused (exit 1); a
 *       bad file is refused by loyalctl with FILE:LINE and nothing is sent; a
 *       version survives kill -9; one scheduled for a later time governs only
 *       from then on.
 *   birthday_bonus_once: a customer whose birthday is today visits three
 *       branches cut off from each other: each pays the bonus, and once healed
 *       it counts once (the others are void duplicates) at every node; a
 *       birthday set today under min_set_days = 1 is not paid.
 *   manual_tier_replicates: `loyalctl tier` at n1 gives a customer Gold until
 *       a date with a reason; n2 shows it (history: tier, until, reason,
 *       operator) and earns at Gold's multiplier; a tier the program lacks and
 *       a date in the past are refused with exit 1 and change nothing.
 *   campaigns_in_local_time: n1 in Europe/Prague, n2 in America/New_York; a
 *       campaign for the current hour of Prague doubles a purchase at n1 and
 *       not the same purchase at n2 (six hours behind), at the same moment. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/tz.h"
#include "proto/client.h"
#include "tests/support/check.h"
#include "tests/support/harness.h"
#include "tests/support/net.h"

#define PT_READY_MS    20000
#define PT_CALL_MS     5000
#define PT_LINKS_MS    20000
#define PT_CONVERGE_MS 30000

static lyn_net *s_net;
static ly_rep s_rep;

static void s_teardown(void)
{
    ly_rep_fini(&s_rep);
    lyn_net_destroy(&s_net);
}

TestSuite(program, .fini = s_teardown, .timeout = 180);

static lyh_node *s_node(int i)
{
    return lyn_net_node(s_net, i);
}

/* A program file: Silver 0 x1, Gold 1000 x`gold`, version `v`, name `name`;
 * `extra` appended (may be ""). */
static const char *s_prog(uint32_t v, const char *name, const char *gold, const char *extra)
{
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "[program]\nname = %s\nversion = %u\nminor_units = 100\npoints_per_unit = 1\n%s"
             "[tier Silver]\nthreshold = 0\nmultiplier = 1\n"
             "[tier Gold]\nthreshold = 1000\nmultiplier = %s\n",
             name, v, extra, gold);
    return buf;
}

static void s_up(int n)
{
    s_net = lyn_net_new(n, NULL);
    cr_assert_not_null(s_net);
    cr_assert_eq(lyn_net_up(s_net, PT_READY_MS), 0, "the nodes did not start (see above)");
    lyc_links_up(s_net, PT_LINKS_MS, "start");
}

static void s_apply(int at, const char *text)
{
    cr_assert_eq(lyh_node_program(s_node(at), text, PT_CALL_MS), 0, "program apply at n%d", at);
}

static void s_wait_all(int n, uint32_t v)
{
    for (int i = 1; i <= n; i++)
        cr_assert_eq(lyh_node_wait_program(s_node(i), v, PT_CONVERGE_MS), 0, "n%d", i);
}

/* Cut node i off from every other node (both directions), or heal it. */
static void s_isolate(int i, int cut)
{
    cr_assert_eq(lyn_net_isolate(s_net, i, cut), 0, "n%d: a proxy refused", i);
}

static void s_heal(const char *what)
{
    cr_assert_eq(lyn_net_heal(s_net), 0);
    lyc_links_up(s_net, PT_LINKS_MS, what);
    lyc_converge(s_net->nt_chain, PT_CONVERGE_MS, what);
}

static const ly_rep *s_ok(int i, int type, const char *cust, const char *txn, int64_t amount)
{
    ly_req rq;
    lyh_req(&rq, type, cust, txn, amount, NULL);
    ly_rep_fini(&s_rep);
    ly_client *c = lyh_client(s_node(i), PT_CALL_MS);
    cr_assert_not_null(c);
    ly_err e = lyh_call_until(c, &rq, &s_rep, PT_CONVERGE_MS, NULL);
    ly_client_destroy(&c);
    cr_assert_eq(e, LY_OK, "%s %s at n%d: %s", ly_msgtype_name(type), txn, i, ly_errname(e));
    cr_assert_eq(s_rep.rp_err, LY_OK, "%s %s at n%d refused: %s", ly_msgtype_name(type), txn, i,
                 s_rep.rp_message);
    return &s_rep;
}

static ly_node_status s_status(int i)
{
    ly_node_status st;
    cr_assert_eq(lyh_node_status(s_node(i), PT_CALL_MS, &st), LY_OK, "status of n%d", i);
    return st;
}

/* loyalctl ARGS... at node i; its output in *out (finish it). */
static int s_ctl(int i, lyh_output *out, const char *a1, const char *a2, const char *a3)
{
    return lyh_loyalctl(out, PT_CALL_MS, "--node", s_node(i)->nd_listen, a1, a2, a3, (char *)NULL);
}

Test(program, same_rules_everywhere)
{
    s_up(2);
    /* Before any program: the default, version 0, identical everywhere. */
    ly_node_status a = s_status(1), b = s_status(2);
    cr_assert_eq(a.ns_program, 0);
    cr_assert_eq(b.ns_program, 0);
    cr_assert_eq(a.ns_program_hash, b.ns_program_hash);
    s_apply(1, s_prog(1, "Chain", "2", ""));
    s_wait_all(2, 1);
    s_ok(1, LY_MSG_ENROLL, "c1", "enroll:c1", 0);
    s_ok(2, LY_MSG_ENROLL, "c2", "enroll:c2", 0);
    /* 12.00 + 1000.00: Gold after the second at both branches, x2 from then on. */
    int64_t p1[3], p2[3];
    const char *t1[3] = {"a1", "a2", "a3"}, *t2[3] = {"b1", "b2", "b3"};
    int64_t amounts[3] = {1200, 100000, 5000};
    char tier1[40] = "", tier2[40] = "";
    for (int k = 0; k < 3; k++) {
        p1[k] = s_ok(1, LY_MSG_EARN, "c1", t1[k], amounts[k])->rp_points;
        snprintf(tier1, sizeof tier1, "%s", s_rep.rp_tier);
        p2[k] = s_ok(2, LY_MSG_EARN, "c2", t2[k], amounts[k])->rp_points;
        snprintf(tier2, sizeof tier2, "%s", s_rep.rp_tier);
        cr_expect_eq(p1[k], p2[k], "purchase %d: %lld points at n1, %lld at n2", k,
                     (long long)p1[k], (long long)p2[k]);
        cr_expect_str_eq(tier1, tier2, "purchase %d", k);
    }
    cr_expect_eq(p1[0], 12);
    cr_expect_eq(p1[2], 100, "Gold earns x2 under the applied program");
    cr_expect_str_eq(tier1, "Gold");
    lyc_converge(s_net->nt_chain, PT_CONVERGE_MS, "after the purchases");
    lyh_output out;
    int rc = s_ctl(2, &out, "verify", NULL, NULL);
    cr_expect_eq(rc, 0, "verify: %s%s", out.ou_out, out.ou_err);
    cr_expect(strstr(out.ou_out, "run program version 1") != NULL, "%s", out.ou_out);
    lyh_output_fini(&out);
}

Test(program, versions_during_a_cut)
{
    s_up(3);
    s_apply(1, s_prog(1, "Chain", "2", ""));
    s_wait_all(3, 1);
    s_ok(1, LY_MSG_ENROLL, "c1", "enroll:c1", 0);
    s_ok(1, LY_MSG_EARN, "c1", "gold", 150000); /* Gold */
    lyc_converge(s_net->nt_chain, PT_CONVERGE_MS, "before the cut");

    s_isolate(3, 1);
    s_apply(1, s_prog(2, "Chain v2", "3", ""));
    cr_assert_eq(lyh_node_wait_program(s_node(2), 2, PT_CONVERGE_MS), 0);
    cr_assert_eq(s_status(3).ns_program, 1, "n3 is cut off: it runs the newest it holds");
    int64_t at3 = s_ok(3, LY_MSG_EARN, "c1", "at-n3", 10000)->rp_points;
    int64_t at1 = s_ok(1, LY_MSG_EARN, "c1", "at-n1", 10000)->rp_points;
    cr_expect_eq(at3, 200, "100.00 at Gold x2 (version 1) at n3: %lld", (long long)at3);
    cr_expect_eq(at1, 300, "100.00 at Gold x3 (version 2) at n1: %lld", (long long)at1);

    lyh_output out;
    int rc = s_ctl(1, &out, "--json", "verify", NULL);
    cr_expect_eq(rc, 1, "verify during the cut must fail: %s", out.ou_out);
    cr_expect(strstr(out.ou_out, "\"program_ok\":false") != NULL, "%s", out.ou_out);
    lyh_output_fini(&out);

    s_isolate(3, 0);
    s_heal("after the cut");
    s_wait_all(3, 2);
    rc = s_ctl(3, &out, "verify", NULL, NULL);
    cr_expect_eq(rc, 0, "verify after the heal: %s%s", out.ou_out, out.ou_err);
    lyh_output_fini(&out);
    /* Never retroactive: the purchase at n3 keeps its points and version. */
    for (int i = 1; i <= 3; i++) {
        ly_req rq;
        ly_req_init(&rq, LY_MSG_EVENTS);
        rq.rq_origin = 3;
        ly_client *c = lyh_client(s_node(i), PT_CALL_MS);
        ly_rep_fini(&s_rep);
        cr_assert_eq(ly_client_call(c, &rq, &s_rep), LY_OK);
        ly_client_destroy(&c);
        int found = 0;
        for (uint32_t k = 0; k < s_rep.rp_nevents; k++) {
            const ly_event *ev = &s_rep.rp_events[k];
            if (strcmp(ev->ev_txn, "at-n3") == 0) {
                found = 1;
                cr_expect_eq(ev->ev_points, 200, "n%d", i);
                cr_expect_eq(ev->ev_program, 1, "n%d", i);
            }
        }
        cr_expect(found, "n%d holds the purchase made at n3", i);
    }
}

Test(program, same_version_twice)
{
    s_up(3);
    s_apply(1, s_prog(1, "Chain", "2", ""));
    s_wait_all(3, 1);
    s_isolate(3, 1);
    s_apply(1, s_prog(2, "From n1", "3", ""));
    lyh_sleep_ms(20); /* n3's is later by clock: n1's counts */
    s_apply(3, s_prog(2, "From n3", "4", ""));
    cr_assert_eq(lyh_node_wait_program(s_node(2), 2, PT_CONVERGE_MS), 0);
    s_isolate(3, 0);
    s_heal("after two versions 2");
    ly_node_status ref = s_status(1);
    for (int i = 1; i <= 3; i++) {
        ly_node_status st = s_status(i);
        cr_expect_eq(st.ns_program, 2, "n%d", i);
        cr_expect_eq(st.ns_program_hash, ref.ns_program_hash, "n%d runs another version 2", i);
        lyh_output out;
        int rc = s_ctl(i, &out, "--json", "program", "history");
        cr_expect_eq(rc, 0, "%s", out.ou_err);
        const char *win = strstr(out.ou_out, "\"name\":\"From n1\"");
        const char *lost = strstr(out.ou_out, "\"state\":\"lost\"");
        cr_expect(win != NULL && lost != NULL && strstr(lost, "\"name\":\"From n1\"") == NULL,
                  "n%d: the version from n1 counts, the one from n3 is listed as lost: %s", i,
                  out.ou_out);
        lyh_output_fini(&out);
        rc = s_ctl(i, &out, "program", "show", NULL);
        cr_expect(strstr(out.ou_out, "name = From n1") != NULL, "n%d: %s", i, out.ou_out);
        lyh_output_fini(&out);
    }
    /* The winner's rules apply everywhere: Gold x3. */
    s_ok(3, LY_MSG_ENROLL, "c9", "enroll:c9", 0);
    s_ok(3, LY_MSG_EARN, "c9", "g9", 150000);
    cr_expect_eq(s_ok(3, LY_MSG_EARN, "c9", "g10", 1000)->rp_points, 30);
}

Test(program, refused_and_kept)
{
    s_up(2);
    s_apply(1, s_prog(3, "Chain", "2", ""));
    s_wait_all(2, 3);
    uint64_t events = s_status(2).ns_events;
    lyh_output out;
    char path[LYH_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/older.ini", s_node(2)->nd_dir);
    cr_assert_eq(lyh_write_file(path, s_prog(2, "Older", "5", "")), 0);
    int rc = lyh_loyalctl(&out, PT_CALL_MS, "--node", s_node(2)->nd_listen, "program", "apply",
                          path, "--operator", "hq", (char *)NULL);
    cr_expect_eq(rc, 1, "an older version is refused: %s", out.ou_err);
    cr_expect(strstr(out.ou_err, "not above the newest") != NULL, "%s", out.ou_err);
    lyh_output_fini(&out);
    /* A bad file: FILE:LINE: reason, exit 2, nothing sent. */
    snprintf(path, sizeof path, "%s/bad.ini", s_node(2)->nd_dir);
    cr_assert_eq(lyh_write_file(path, "[program]\nname = X\nversion = 4\nminor_units = 100\n"
                                      "points_per_unit = 1\n[tier Silver]\nthreshold = 0\n"
                                      "multiplier = 1\n[tier Gold]\nthreshold = 0\n"
                                      "multiplier = 2\n"),
                 0);
    rc = lyh_loyalctl(&out, PT_CALL_MS, "--node", s_node(2)->nd_listen, "program", "apply", path,
                      "--operator", "hq", (char *)NULL);
    cr_expect_eq(rc, 2, "%s", out.ou_err);
    cr_expect(strstr(out.ou_err, "bad.ini:10:") != NULL, "names file and line: %s", out.ou_err);
    lyh_output_fini(&out);
    rc = lyh_loyalctl(&out, PT_CALL_MS, "program", "check", path, (char *)NULL);
    cr_expect_eq(rc, 2, "check needs no node and refuses it too: %s", out.ou_err);
    lyh_output_fini(&out);
    cr_expect_eq(s_status(2).ns_events, events, "nothing was applied");

    /* Durable: kill -9 right after an apply, restart, still in force. */
    s_apply(2, s_prog(4, "Chain v4", "2.5", ""));
    cr_assert_eq(lyh_node_kill(s_node(2)), 0);
    cr_assert_eq(lyh_node_up(s_node(2), PT_READY_MS), 0);
    cr_expect_eq(s_status(2).ns_program, 4, "version 4 survived kill -9");
    s_wait_all(2, 4);

    /* Scheduled: effective a few seconds ahead governs only from then on. */
    char extra[64];
    time_t at = time(NULL) + 4;
    struct tm tm;
    gmtime_r(&at, &tm);
    strftime(extra, sizeof extra, "effective = %Y-%m-%dT%H:%M:%SZ\n", &tm);
    s_apply(1, s_prog(5, "Chain v5", "4", extra));
    ly_node_status st = s_status(1);
    cr_expect_eq(st.ns_program, 4, "version 5 is not in force before its time");
    cr_expect_eq(st.ns_program_next, 5);
    s_ok(1, LY_MSG_ENROLL, "c5", "enroll:c5", 0);
    s_ok(1, LY_MSG_EARN, "c5", "s1", 150000);
    cr_expect_eq(s_ok(1, LY_MSG_EARN, "c5", "s2", 1000)->rp_points, 25, "x2.5 under version 4");
    while (time(NULL) <= at)
        lyh_sleep_ms(100);
    cr_expect_eq(s_ok(1, LY_MSG_EARN, "c5", "s3", 1000)->rp_points, 40, "x4 under version 5");
    cr_expect_eq(s_status(2).ns_program, 5, "n2 runs version 5 from its time too");
}

Test(program, campaigns_in_local_time)
{
    s_net = lyn_net_new(2, NULL);
    cr_assert_not_null(s_net);
    const char *zones[2] = {"Europe/Prague", "America/New_York"};
    for (int i = 1; i <= 2; i++) {
        char extra[4096];
        snprintf(extra, sizeof extra, "timezone = %s\n%s", zones[i - 1],
                 s_node(i)->nd_extra ? s_node(i)->nd_extra : "");
        cr_assert_eq(lyh_node_write_config(s_node(i), extra), 0);
    }
    cr_assert_eq(lyn_net_up(s_net, PT_READY_MS), 0, "the nodes did not start (see above)");
    lyc_links_up(s_net, PT_LINKS_MS, "start");
    /* The hour it is now in Prague, not within a minute of its end. */
    ly_tz prague;
    ly_localtime lt;
    cr_assert_eq(ly_tz_init(&prague, zones[0], NULL, 0), LY_OK);
    cr_assert_eq(ly_tz_local(&prague, (int64_t)time(NULL) * 1000, &lt), LY_OK);
    if (lt.lt_minute % 60 >= 58) {
        lyh_sleep_ms((60 - lt.lt_minute % 60) * 60000 + 2000);
        cr_assert_eq(ly_tz_local(&prague, (int64_t)time(NULL) * 1000, &lt), LY_OK);
    }
    int h = lt.lt_minute / 60;
    char extra[128];
    snprintf(extra, sizeof extra, "[campaign prague_hour]\nmultiplier = 2\nhours = %d-%d\n", h,
             h + 1);
    char prog[2048];
    snprintf(prog, sizeof prog, "%s%s", s_prog(1, "Local", "2", ""), extra);
    s_apply(1, prog);
    s_wait_all(2, 1);
    s_ok(1, LY_MSG_ENROLL, "c1", "enroll:c1", 0);
    const ly_rep *rp = s_ok(1, LY_MSG_EARN, "c1", "p1", 10000);
    cr_expect_eq(rp->rp_points, 200, "Prague at %d:xx: in the campaign", h);
    cr_expect_str_eq(rp->rp_campaign, "prague_hour");
    rp = s_ok(2, LY_MSG_EARN, "c1", "n1", 10000);
    cr_expect_eq(rp->rp_points, 100, "New York: six hours earlier, not in it");
    cr_expect_str_eq(rp->rp_campaign, "");
    cr_expect_eq(rp->rp_base_points, 100);
}

Test(program, birthday_bonus_once)
{
    s_up(3);
    /* Not within a minute of midnight UTC: "today" must not change under the test. */
    while ((time(NULL) % 86400) > 86400 - 60)
        lyh_sleep_ms(1000);
    s_apply(1, s_prog(1, "Birthdays", "2", "[bonus birthday]\npoints = 200\n"));
    s_wait_all(3, 1);
    char today[8], birthday[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(today, sizeof today, "%m-%d", &tm);
    snprintf(birthday, sizeof birthday, "1990-%.5s", today);
    if (strcmp(today, "02-29") == 0)
        snprintf(birthday, sizeof birthday, "2000-02-29");
    ly_req rq;
    lyh_req(&rq, LY_MSG_ENROLL, "bd1", "enroll:bd1", 0, NULL);
    snprintf(rq.rq_profile.pf_birthday, sizeof rq.rq_profile.pf_birthday, "%.10s", birthday);
    rq.rq_fields = LY_PF_BIRTHDAY;
    ly_client *c = lyh_client(s_node(1), PT_CALL_MS);
    ly_rep_fini(&s_rep);
    cr_assert_eq(lyh_call_until(c, &rq, &s_rep, PT_CONVERGE_MS, NULL), LY_OK);
    ly_client_destroy(&c);
    cr_assert_eq(s_rep.rp_err, LY_OK, "%s", s_rep.rp_message);
    lyc_converge(s_net->nt_chain, PT_CONVERGE_MS, "enrolled");
    for (int i = 1; i <= 3; i++)
        s_isolate(i, 1);
    for (int i = 1; i <= 3; i++) {
        char txn[16];
        snprintf(txn, sizeof txn, "bd-%d", i);
        const ly_rep *rp = s_ok(i, LY_MSG_EARN, "bd1", txn, 1000);
        cr_expect_eq(rp->rp_bonus_points, 200, "n%d pays it: it cannot know of the others", i);
        cr_expect_eq(rp->rp_balance, 210);
    }
    cr_expect_eq(s_ok(1, LY_MSG_EARN, "bd1", "bd-again", 1000)->rp_bonus_points, 0,
                 "a second visit at the same branch: paid already");
    cr_expect_eq(s_ok(1, LY_MSG_EARN, "bd1", "bd-1", 1000)->rp_bonus_points, 200,
                 "a retry of the first visit: its receipt shows the bonus again");
    cr_expect(s_rep.rp_replayed);
    for (int i = 1; i <= 3; i++)
        s_isolate(i, 0);
    s_heal("after the birthday");
    for (int i = 1; i <= 3; i++) {
        ly_node_status st = s_status(i);
        cr_expect_eq(st.ns_duplicates, 2, "n%d: two bonuses are void duplicates", i);
        ly_req q;
        ly_req_init(&q, LY_MSG_CUSTOMER);
        snprintf(q.rq_customer, sizeof q.rq_customer, "bd1");
        ly_client *k = lyh_client(s_node(i), PT_CALL_MS);
        ly_rep_fini(&s_rep);
        cr_assert_eq(ly_client_call(k, &q, &s_rep), LY_OK);
        ly_client_destroy(&k);
        cr_expect_eq(s_rep.rp_balance, 4 * 10 + 200, "n%d: the bonus once, the earns all", i);
    }

    /* A birthday set today is not paid when it must be set a day before. */
    s_apply(2, s_prog(2, "Birthdays 2", "2", "[bonus birthday]\npoints = 200\nmin_set_days = 1\n"));
    s_wait_all(3, 2);
    lyh_req(&rq, LY_MSG_ENROLL, "bd2", "enroll:bd2", 0, NULL);
    snprintf(rq.rq_profile.pf_birthday, sizeof rq.rq_profile.pf_birthday, "%.10s", birthday);
    rq.rq_fields = LY_PF_BIRTHDAY;
    c = lyh_client(s_node(2), PT_CALL_MS);
    ly_rep_fini(&s_rep);
    cr_assert_eq(lyh_call_until(c, &rq, &s_rep, PT_CONVERGE_MS, NULL), LY_OK);
    ly_client_destroy(&c);
    cr_expect_eq(s_ok(2, LY_MSG_EARN, "bd2", "bd2-1", 1000)->rp_bonus_points, 0,
                 "set today, min_set_days 1: not paid");
}

Test(program, manual_tier_replicates)
{
    s_up(2);
    s_apply(1, s_prog(1, "Manual", "2", ""));
    s_wait_all(2, 1);
    s_ok(1, LY_MSG_ENROLL, "m1", "enroll:m1", 0);
    lyh_output out;
    int rc = lyh_loyalctl(&out, PT_CALL_MS, "--node", s_node(1)->nd_listen, "tier", "m1", "Gold",
                          "--until", "2099-12-31", "--reason", "a complaint made good", "--txn",
                          "tier-1", "--operator", "anna", (char *)NULL);
    cr_assert_eq(rc, 0, "%s%s", out.ou_out, out.ou_err);
    lyh_output_fini(&out);
    rc = lyh_loyalctl(&out, PT_CALL_MS, "--node", s_node(1)->nd_listen, "tier", "m1", "Diamond",
                      "--until", "2099-12-31", "--reason", "x", "--txn", "tier-2", (char *)NULL);
    cr_expect_eq(rc, 1, "a tier the program lacks: %s", out.ou_err);
    cr_expect(strstr(out.ou_err, "no tier 'Diamond'") != NULL, "%s", out.ou_err);
    lyh_output_fini(&out);
    rc = lyh_loyalctl(&out, PT_CALL_MS, "--node", s_node(1)->nd_listen, "tier", "m1", "Silver",
                      "--until", "2001-01-01", "--reason", "x", "--txn", "tier-3", (char *)NULL);
    cr_expect_eq(rc, 1, "a day in the past: %s", out.ou_err);
    lyh_output_fini(&out);
    lyc_converge(s_net->nt_chain, PT_CONVERGE_MS, "after the manual tier");
    const ly_rep *rp = s_ok(2, LY_MSG_EARN, "m1", "m1-e1", 10000);
    cr_expect_eq(rp->rp_points, 200, "earns at Gold x2 with no points at all");
    cr_expect_str_eq(rp->rp_tier, "Gold");
    cr_expect_str_eq(rp->rp_tier_until, "2099-12-31");
    cr_expect_str_eq(rp->rp_tier_override, "Gold");
    rc = lyh_loyalctl(&out, PT_CALL_MS, "--node", s_node(2)->nd_listen, "customer", "m1",
                      (char *)NULL);
    cr_expect_eq(rc, 0);
    /* with keys the operator recorded is the key's name, not --operator */
    char by[128];
    snprintf(by, sizeof by, "Gold until 2099-12-31; a complaint made good (by %s)",
             lyh_operator("anna"));
    cr_expect(strstr(out.ou_out, by) != NULL, "the history shows it: %s", out.ou_out);
    lyh_output_fini(&out);
}
