/* keygen_test.c -- `loyalctl keygen` as an operator runs it: the files it
 * writes, their modes, its refusals and exit statuses, its --json. No node
 * is needed. Each test works in a fresh temporary directory. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/keys.h"
#include "tests/support/harness.h"

#define KG_MS 10000

static char s_dir[256];

static void s_setup(void)
{
    cr_assert_eq(lyh_tmpdir("keygen", s_dir, sizeof s_dir), 0);
}

static void s_teardown(void)
{
    chmod(s_dir, 0700); /* a test may have left it world-writable */
    cr_assert_eq(lyh_rmtree(s_dir), 0);
}

TestSuite(keygen, .init = s_setup, .fini = s_teardown);

/* DIR/NAME in the test's directory (two may be in use at once). */
static const char *s_path(const char *name)
{
    static char p[2][300];
    static int i;
    i ^= 1;
    snprintf(p[i], sizeof p[i], "%s/%s", s_dir, name);
    return p[i];
}

Test(keygen, writes_a_pair_prints_the_public_and_never_overwrites)
{
    lyh_output out;
    ly_keypair kp;
    char why[512], pub[LY_KEY_Z85 + 1];
    struct stat st;

    int rc = lyh_loyalctl(&out, KG_MS, "keygen", "till-3", "--dir", s_dir, (char *)NULL);
    cr_assert_eq(rc, 0, "%s", out.ou_err);
    cr_assert_eq(stat(s_path("till-3.key"), &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(stat(s_path("till-3.pub"), &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0644);
    cr_assert_eq(ly_key_read_secret(s_path("till-3.key"), &kp, why, sizeof why), LY_OK, "%s", why);
    cr_assert_eq(ly_key_read_public(s_path("till-3.pub"), pub, why, sizeof why), LY_OK, "%s", why);
    cr_expect_str_eq(pub, kp.kp_public, "the .pub is the secret's public key");
    cr_expect_eq(out.ou_out_len, LY_KEY_Z85 + 1);
    cr_expect(strncmp(out.ou_out, pub, LY_KEY_Z85) == 0, "prints the public key: %s", out.ou_out);
    lyh_output_fini(&out);

    rc = lyh_loyalctl(&out, KG_MS, "keygen", "till-3", "--dir", s_dir, (char *)NULL);
    cr_expect_eq(rc, 1, "an existing key is refused: %s", out.ou_err);
    cr_expect(strstr(out.ou_err, "till-3.key") && strstr(out.ou_err, "already exists"), "%s",
              out.ou_err);
    lyh_output_fini(&out);
    ly_keypair again;
    cr_assert_eq(ly_key_read_secret(s_path("till-3.key"), &again, why, sizeof why), LY_OK);
    cr_expect_str_eq(again.kp_secret, kp.kp_secret, "the first key is untouched");
}

Test(keygen, json_names_the_files_and_the_key)
{
    lyh_output out;
    char why[512], pub[LY_KEY_Z85 + 1], want[1024];

    int rc = lyh_loyalctl(&out, KG_MS, "--json", "keygen", "north", "--dir", s_dir, (char *)NULL);
    cr_assert_eq(rc, 0, "%s", out.ou_err);
    cr_assert_eq(ly_key_read_public(s_path("north.pub"), pub, why, sizeof why), LY_OK, "%s", why);
    snprintf(want, sizeof want,
             "{\"name\":\"north\",\"secret_file\":\"%s/north.key\",\"public_file\":\"%s/"
             "north.pub\",\"public\":\"%s\"}",
             s_dir, s_dir, pub);
    /* No Z85 character needs escaping in JSON (the alphabet has no '"' or '\\'). */
    cr_expect(strncmp(out.ou_out, want, strlen(want)) == 0, "%s\nwant %s", out.ou_out, want);
    lyh_output_fini(&out);
}

Test(keygen, refuses_bad_names_and_unsafe_directories)
{
    lyh_output out;
    char missing[300];

    int rc = lyh_loyalctl(&out, KG_MS, "keygen", "../x", "--dir", s_dir, (char *)NULL);
    cr_expect_eq(rc, 2, "a bad name is a usage error: %s", out.ou_err);
    cr_expect(strstr(out.ou_err, "bad key name") != NULL, "%s", out.ou_err);
    lyh_output_fini(&out);

    cr_assert_eq(chmod(s_dir, 01777), 0);
    rc = lyh_loyalctl(&out, KG_MS, "keygen", "x", "--dir", s_dir, (char *)NULL);
    cr_expect_eq(rc, 1, "%s", out.ou_err);
    cr_expect(strstr(out.ou_err, "writable by everyone") != NULL, "%s", out.ou_err);
    lyh_output_fini(&out);
    cr_expect_eq(access(s_path("x.key"), F_OK), -1, "nothing written");
    cr_expect_eq(access(s_path("x.pub"), F_OK), -1, "nothing written");
    cr_assert_eq(chmod(s_dir, 0700), 0);

    snprintf(missing, sizeof missing, "%s/none", s_dir);
    rc = lyh_loyalctl(&out, KG_MS, "keygen", "x", "--dir", missing, (char *)NULL);
    cr_expect_eq(rc, 1, "%s", out.ou_err);
    cr_expect(strstr(out.ou_err, missing) != NULL, "%s", out.ou_err);
    lyh_output_fini(&out);

    rc = lyh_loyalctl(&out, KG_MS, "keygen", (char *)NULL);
    cr_expect_eq(rc, 2, "NAME is required: %s", out.ou_err);
    lyh_output_fini(&out);
}
