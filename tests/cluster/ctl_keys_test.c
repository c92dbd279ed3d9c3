/* ctl_keys_test.c -- loyalctl against a node with CurveZMQ keys: --key and
 * --node-key (and their environment defaults), the security line of
 * `status`, what a wrong or unknown key gets (no answer, exit 3, with a
 * message that says why it may be), bad key files (exit 2, nothing sent),
 * a role that may not do something (exit 1, forbidden), and `verify --config`
 * taking the node's key from its config.
 *
 * Each test starts one node whose keys it makes itself (ly_key_generate into
 * the node's directory) and configures explicitly: [node] key, [operator
 * alice], [pos till]. The harness's readiness check asks without keys, so
 * the node is started with lyh_node_start and waited for here with alice's
 * key. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/keys.h"
#include "proto/client.h"
#include "tests/support/harness.h"

#define CK_READY_MS 20000
#define CK_RUN_MS   20000

static lyh_node *s_node;
static char s_keys[LYH_PATH_MAX + 8];      /* nd_dir/keys */
static char s_paths[8][LYH_PATH_MAX + 64]; /* see s_key */
static ly_keypair s_alice, s_north;

static void s_teardown(void)
{
    lyh_node_destroy(&s_node);
}

TestSuite(ctl_keys, .fini = s_teardown, .timeout = 150);

/* s_keys/FILE, in one of a few rotating buffers. */
static const char *s_key(const char *file)
{
    static int i;
    i = (i + 1) % 8;
    snprintf(s_paths[i], sizeof s_paths[i], "%s/%s", s_keys, file);
    return s_paths[i];
}

static void s_gen(const char *name, ly_keypair *kp)
{
    char why[512];
    ly_keypair tmp;
    ly_keypair *k = kp ? kp : &tmp;
    cr_assert_eq(ly_key_generate(s_keys, name, k, why, sizeof why), LY_OK, "%s", why);
}

/* Wait until the node answers a status call over CURVE with alice's key. */
static int s_wait_curve(lyh_node *n, int timeout_ms)
{
    uint64_t end = lyh_now_ms() + (uint64_t)timeout_ms;
    while (lyh_now_ms() < end) {
        int code;
        if (!lyh_node_alive(n, &code)) {
            fprintf(stderr, "loyald exited with %d\n", code);
            lyh_print_tail(n->nd_log, 30);
            return -1;
        }
        ly_client *c = ly_client_new_curve(n->nd_listen, 300, s_alice.kp_public, s_alice.kp_secret,
                                           s_north.kp_public);
        if (!c)
            return -1;
        ly_req rq;
        ly_rep rp;
        ly_req_init(&rq, LY_MSG_STATUS);
        ly_err e = ly_client_call(c, &rq, &rp);
        int ok = e == LY_OK && rp.rp_err == LY_OK;
        ly_rep_fini(&rp);
        ly_client_destroy(&c);
        if (ok)
            return 0;
        lyh_sleep_ms(50);
    }
    fprintf(stderr, "loyald did not answer over CURVE within %d ms\n", timeout_ms);
    lyh_print_tail(n->nd_log, 30);
    return -1;
}

/* A node "north" with keys north (its own), alice (operator), till (pos),
 * and a key "stranger" it does not list; started and answering. */
static void s_start(void)
{
    char extra[1024];
    unsetenv("LOYAL_KEY");
    unsetenv("LOYAL_NODE_KEY");
    s_node = lyh_node_new(1, "north", NULL);
    cr_assert_not_null(s_node, "unable to set up the node");
    snprintf(s_keys, sizeof s_keys, "%s/keys", s_node->nd_dir);
    cr_assert_eq(mkdir(s_keys, 0700), 0);
    s_gen("north", &s_north);
    s_gen("alice", &s_alice);
    s_gen("till", NULL);
    s_gen("stranger", NULL);
    /* Right after the header: these lines land in [node]. */
    snprintf(extra, sizeof extra,
             "key = keys/north.key\n"
             "\n[operator alice]\nkey = keys/alice.pub\n"
             "\n[pos till]\nkey = keys/till.pub\n");
    cr_assert_eq(lyh_node_write_config(s_node, extra), 0);
    cr_assert_eq(lyh_node_start(s_node), 0, "loyald did not start");
    cr_assert_eq(s_wait_curve(s_node, CK_READY_MS), 0, "loyald did not answer with keys");
}

/* loyalctl --node NODE ARGS... (NULL-terminated), captured in `out`. */
#define S_CTL(out, ...)                                                                            \
    lyh_loyalctl((out), CK_RUN_MS, "--node", s_node->nd_listen, __VA_ARGS__, (char *)NULL)

Test(ctl_keys, status_with_keys_says_curve_and_who_asks)
{
    lyh_output out;
    s_start();

    int rc = S_CTL(&out, "--key", s_key("alice.key"), "--node-key", s_key("north.pub"), "--json",
                   "status");
    cr_assert_eq(rc, 0, "%s", out.ou_err);
    cr_expect(strstr(out.ou_out, "\"security\":\"curve\"") != NULL, "%s", out.ou_out);
    cr_expect(strstr(out.ou_out, "\"role\":\"operator\"") != NULL, "%s", out.ou_out);
    cr_expect(strstr(out.ou_out, "\"key_name\":\"alice\"") != NULL, "%s", out.ou_out);
    cr_expect(strstr(out.ou_out, "\"name\":\"north\"") != NULL, "the old fields stay: %s",
              out.ou_out);
    lyh_output_fini(&out);

    /* Human text; the node's .key gives its public key too (on the node's box). */
    rc = S_CTL(&out, "--key", s_key("alice.key"), "--node-key", s_key("north.key"), "status");
    cr_assert_eq(rc, 0, "%s", out.ou_err);
    cr_expect(strstr(out.ou_out, "security     curve (you: operator 'alice')") != NULL, "%s",
              out.ou_out);
    lyh_output_fini(&out);

    /* The environment's defaults; a pos key sees its own role. */
    setenv("LOYAL_KEY", s_key("till.key"), 1);
    setenv("LOYAL_NODE_KEY", s_key("north.pub"), 1);
    rc = S_CTL(&out, "--json", "status");
    unsetenv("LOYAL_KEY");
    unsetenv("LOYAL_NODE_KEY");
    cr_assert_eq(rc, 0, "%s", out.ou_err);
    cr_expect(strstr(out.ou_out, "\"role\":\"pos\"") != NULL, "%s", out.ou_out);
    cr_expect(strstr(out.ou_out, "\"key_name\":\"till\"") != NULL, "%s", out.ou_out);
    lyh_output_fini(&out);
}

Test(ctl_keys, a_wrong_node_key_or_an_unknown_key_gets_no_answer_and_says_why)
{
    lyh_output out;
    s_start();

    int rc = S_CTL(&out, "--timeout", "1", "--key", s_key("alice.key"), "--node-key",
                   s_key("stranger.pub"), "status");
    cr_expect_eq(rc, 3, "a wrong node key: %s", out.ou_err);
    cr_expect(strstr(out.ou_err, "no answer from") != NULL, "%s", out.ou_err);
    cr_expect(strstr(out.ou_err, "stranger.pub") && strstr(out.ou_err, "may not be this node's"),
              "names the node key it used: %s", out.ou_err);
    lyh_output_fini(&out);

    rc = S_CTL(&out, "--timeout", "1", "--json", "--key", s_key("stranger.key"), "--node-key",
               s_key("north.pub"), "status");
    cr_expect_eq(rc, 3, "a key the node does not list: %s", out.ou_err);
    cr_expect(strstr(out.ou_err, "may not list the key") && strstr(out.ou_err, "stranger.key"),
              "%s", out.ou_err);
    cr_expect(strstr(out.ou_out, "\"code\":\"timeout\"") != NULL, "%s", out.ou_out);
    lyh_output_fini(&out);

    /* Without keys a CURVE node does not answer either. */
    rc = S_CTL(&out, "--timeout", "1", "status");
    cr_expect_eq(rc, 3, "no keys: %s", out.ou_err);
    lyh_output_fini(&out);
}

Test(ctl_keys, bad_key_files_and_half_the_keys_are_usage_errors)
{
    lyh_output out;
    char loose[LYH_PATH_MAX + 64], short39[LYH_PATH_MAX + 64];
    s_start();

    /* A copy of alice's secret readable by everyone. */
    snprintf(loose, sizeof loose, "%s/loose.key", s_keys);
    char *text = lyh_read_file(s_key("alice.key"), NULL);
    cr_assert_not_null(text);
    cr_assert_eq(lyh_write_file(loose, text), 0); /* mode 0644 */
    cr_assert_eq(chmod(loose, 0644), 0);
    free(text);
    int rc = S_CTL(&out, "--key", loose, "--node-key", s_key("north.pub"), "status");
    cr_expect_eq(rc, 2, "%s", out.ou_err);
    cr_expect(strstr(out.ou_err, loose) && strstr(out.ou_err, "chmod 600"), "%s", out.ou_err);
    cr_expect_eq(out.ou_out_len, 0, "nothing on stdout: %s", out.ou_out);
    lyh_output_fini(&out);

    /* A 39-character secret. */
    snprintf(short39, sizeof short39, "%s/short.key", s_keys);
    char k39[LY_KEY_Z85 + 1];
    memcpy(k39, s_alice.kp_secret, LY_KEY_Z85 - 1);
    k39[LY_KEY_Z85 - 1] = '\0';
    cr_assert_eq(lyh_write_file(short39, k39), 0);
    cr_assert_eq(chmod(short39, 0600), 0);
    rc = S_CTL(&out, "--json", "--key", short39, "--node-key", s_key("north.pub"), "status");
    cr_expect_eq(rc, 2, "%s", out.ou_err);
    cr_expect(strstr(out.ou_err, short39) && strstr(out.ou_err, "39"), "%s", out.ou_err);
    cr_expect(strstr(out.ou_out, "\"code\":\"invalid_argument\"") != NULL, "%s", out.ou_out);
    lyh_output_fini(&out);

    /* A bad node key file: named too. */
    rc = S_CTL(&out, "--key", s_key("alice.key"), "--node-key", short39 /* 0600, 39 chars */,
               "status");
    cr_expect_eq(rc, 2, "%s", out.ou_err);
    cr_expect(strstr(out.ou_err, short39) != NULL, "%s", out.ou_err);
    lyh_output_fini(&out);

    /* One key without the other. */
    rc = S_CTL(&out, "--key", s_key("alice.key"), "status");
    cr_expect_eq(rc, 2, "%s", out.ou_err);
    cr_expect(strstr(out.ou_err, "--node-key") != NULL, "%s", out.ou_err);
    lyh_output_fini(&out);
    rc = S_CTL(&out, "--node-key", s_key("north.pub"), "status");
    cr_expect_eq(rc, 2, "%s", out.ou_err);
    cr_expect(strstr(out.ou_err, "--key") != NULL, "%s", out.ou_err);
    lyh_output_fini(&out);
    setenv("LOYAL_KEY", s_key("alice.key"), 1);
    rc = S_CTL(&out, "status");
    unsetenv("LOYAL_KEY");
    cr_expect_eq(rc, 2, "$LOYAL_KEY without a node key: %s", out.ou_err);
    cr_expect(strstr(out.ou_err, "$LOYAL_KEY") != NULL, "%s", out.ou_err);
    lyh_output_fini(&out);

    /* keygen needs no keys: a bad --key is not even read. */
    rc = lyh_loyalctl(&out, CK_RUN_MS, "--key", loose, "keygen", "later", "--dir", s_keys,
                      (char *)NULL);
    cr_expect_eq(rc, 0, "%s", out.ou_err);
    lyh_output_fini(&out);
}

Test(ctl_keys, a_pos_key_may_not_adjust)
{
    lyh_output out;
    s_start();

    int rc =
        S_CTL(&out, "--key", s_key("till.key"), "--node-key", s_key("north.pub"), "enroll", "c-1");
    cr_assert_eq(rc, 0, "a till may enroll: %s", out.ou_err);
    lyh_output_fini(&out);

    rc = S_CTL(&out, "--key", s_key("till.key"), "--node-key", s_key("north.pub"), "--json",
               "adjust", "c-1", "50", "--reason", "goodwill", "--txn", "adj-1");
    cr_expect_eq(rc, 1, "%s", out.ou_err);
    cr_expect(strstr(out.ou_out, "\"code\":\"forbidden\"") != NULL, "%s", out.ou_out);
    cr_expect(strstr(out.ou_err, "(forbidden)") != NULL, "%s", out.ou_err);
    lyh_output_fini(&out);

    rc = S_CTL(&out, "--key", s_key("alice.key"), "--node-key", s_key("north.pub"), "adjust", "c-1",
               "50", "--reason", "goodwill", "--txn", "adj-2");
    cr_expect_eq(rc, 0, "an operator may: %s", out.ou_err);
    lyh_output_fini(&out);
}

Test(ctl_keys, verify_with_config_takes_the_node_key_from_it)
{
    lyh_output out;
    s_start();

    int rc = lyh_loyalctl(&out, CK_RUN_MS, "--key", s_key("alice.key"), "verify", "--config",
                          s_node->nd_config, (char *)NULL);
    cr_expect_eq(rc, 0, "%s", out.ou_err);
    cr_expect(strstr(out.ou_out, "converged") != NULL, "%s", out.ou_out);
    lyh_output_fini(&out);

    /* The config says the node uses keys: without --key that is a usage error. */
    rc = lyh_loyalctl(&out, CK_RUN_MS, "verify", "--config", s_node->nd_config, (char *)NULL);
    cr_expect_eq(rc, 2, "%s", out.ou_err);
    cr_expect(strstr(out.ou_err, "--key") != NULL, "%s", out.ou_err);
    lyh_output_fini(&out);
}
