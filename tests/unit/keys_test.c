/* keys_test.c -- key files: ly_key_generate, the strict readers, roles.
 *
 * Every refusal a node or loyalctl relies on is asserted with the reason it
 * gives: wrong permissions, 39 and 41 characters, characters outside Z85, a
 * directory anyone may write, an existing key. Files live in a fresh
 * temporary directory per test. */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "common/keys.h"
#include "tests/support/harness.h"

static char s_dir[256];
static char s_why[512];

static void s_setup(void)
{
    cr_assert_eq(lyh_tmpdir("keys", s_dir, sizeof s_dir), 0);
    umask(022);
}

static void s_teardown(void)
{
    chmod(s_dir, 0700); /* a test may have left it world-writable */
    cr_assert_eq(lyh_rmtree(s_dir), 0);
}

TestSuite(keys, .init = s_setup, .fini = s_teardown);

/* DIR/NAME in the test's directory (two may be in use at once). */
static const char *s_path(const char *name)
{
    static char p[2][300];
    static int i;
    i ^= 1;
    snprintf(p[i], sizeof p[i], "%s/%s", s_dir, name);
    return p[i];
}

static void s_write(const char *name, const char *text, mode_t mode)
{
    const char *p = s_path(name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(chmod(p, mode), 0);
}

static mode_t s_mode(const char *name)
{
    struct stat st;
    cr_assert_eq(stat(s_path(name), &st), 0, "%s", name);
    return st.st_mode & 0777;
}

Test(keys, generate_writes_a_pair_that_reads_back_and_works_with_curve)
{
    ly_keypair kp, back;
    char pub[LY_KEY_Z85 + 1], derived[LY_KEY_Z85 + 1];

    umask(077); /* a strict umask must still give a readable .pub */
    cr_assert_eq(ly_key_generate(s_dir, "till-3", &kp, s_why, sizeof s_why), LY_OK, "%s", s_why);
    cr_assert(ly_key_z85_valid(kp.kp_public));
    cr_assert(ly_key_z85_valid(kp.kp_secret));
    cr_assert_eq(s_mode("till-3.key"), 0600);
    cr_assert_eq(s_mode("till-3.pub"), 0644);

    cr_assert_eq(ly_key_read_secret(s_path("till-3.key"), &back, s_why, sizeof s_why), LY_OK, "%s",
                 s_why);
    cr_assert_str_eq(back.kp_secret, kp.kp_secret);
    cr_assert_str_eq(back.kp_public, kp.kp_public);
    cr_assert_eq(ly_key_read_public(s_path("till-3.pub"), pub, s_why, sizeof s_why), LY_OK);
    cr_assert_str_eq(pub, kp.kp_public);
    /* The pair is a real Curve25519 pair: libzmq derives the same public. */
    cr_assert_eq(zmq_curve_public(derived, kp.kp_secret), 0);
    cr_assert_str_eq(derived, kp.kp_public);
    /* Either file gives the public key to loyalctl --node-key. */
    cr_assert_eq(ly_key_read_any_public(s_path("till-3.key"), pub, s_why, sizeof s_why), LY_OK);
    cr_assert_str_eq(pub, kp.kp_public);
    cr_assert_eq(ly_key_read_any_public(s_path("till-3.pub"), pub, s_why, sizeof s_why), LY_OK);
    cr_assert_str_eq(pub, kp.kp_public);
}

Test(keys, two_pairs_differ)
{
    ly_keypair a, b;
    cr_assert_eq(ly_key_generate(s_dir, "a", &a, s_why, sizeof s_why), LY_OK);
    cr_assert_eq(ly_key_generate(s_dir, "b", &b, s_why, sizeof s_why), LY_OK);
    cr_assert_str_neq(a.kp_secret, b.kp_secret);
    cr_assert_str_neq(a.kp_public, b.kp_public);
}

Test(keys, generate_never_overwrites)
{
    ly_keypair kp;
    char pub[LY_KEY_Z85 + 1];

    cr_assert_eq(ly_key_generate(s_dir, "north", &kp, s_why, sizeof s_why), LY_OK);
    cr_assert_eq(ly_key_read_public(s_path("north.pub"), pub, s_why, sizeof s_why), LY_OK);
    cr_assert_eq(ly_key_generate(s_dir, "north", &kp, s_why, sizeof s_why), LY_EEXIST);
    cr_assert(strstr(s_why, "north.key") && strstr(s_why, "already exists"), "%s", s_why);
    /* Only the .pub there: still refused, and the .key is not created. */
    s_write("south.pub", "x\n", 0644);
    cr_assert_eq(ly_key_generate(s_dir, "south", &kp, s_why, sizeof s_why), LY_EEXIST);
    cr_assert(strstr(s_why, "south.pub"), "%s", s_why);
    cr_assert_eq(access(s_path("south.key"), F_OK), -1);
    /* The first pair is untouched. */
    char again[LY_KEY_Z85 + 1];
    cr_assert_eq(ly_key_read_public(s_path("north.pub"), again, s_why, sizeof s_why), LY_OK);
    cr_assert_str_eq(again, pub);
}

Test(keys, generate_refuses_bad_names_and_directories)
{
    ly_keypair kp;
    const char *bad[] = {"",
                         ".hidden",
                         "a/b",
                         "../up",
                         "sp ace",
                         "tab\t",
                         "0123456789012345678901234567890123456789012345678901234567890123"};

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(ly_key_generate(s_dir, bad[i], &kp, s_why, sizeof s_why), LY_EINVAL, "%s",
                     bad[i]);
        cr_assert(strstr(s_why, "bad key name"), "%s", s_why);
    }
    cr_assert_eq(ly_key_generate(s_path("none"), "x", &kp, s_why, sizeof s_why), LY_EINVAL);
    cr_assert(strstr(s_why, "No such file"), "%s", s_why);
    s_write("file", "", 0644);
    cr_assert_eq(ly_key_generate(s_path("file"), "x", &kp, s_why, sizeof s_why), LY_EINVAL);
    cr_assert(strstr(s_why, "not a directory"), "%s", s_why);
    cr_assert_eq(chmod(s_dir, 01777), 0);
    cr_assert_eq(ly_key_generate(s_dir, "x", &kp, s_why, sizeof s_why), LY_EINVAL);
    cr_assert(strstr(s_why, "writable by everyone"), "%s", s_why);
    cr_assert_eq(access(s_path("x.key"), F_OK), -1);
    cr_assert_eq(chmod(s_dir, 0700), 0);
}

Test(keys, secret_with_loose_permissions_is_refused)
{
    ly_keypair kp;
    cr_assert_eq(ly_key_generate(s_dir, "n", &kp, s_why, sizeof s_why), LY_OK);
    mode_t loose[] = {0640, 0604, 0660, 0644, 0666};
    for (size_t i = 0; i < sizeof loose / sizeof loose[0]; i++) {
        cr_assert_eq(chmod(s_path("n.key"), loose[i]), 0);
        cr_assert_eq(ly_key_read_secret(s_path("n.key"), &kp, s_why, sizeof s_why), LY_ECONFIG);
        cr_assert(strstr(s_why, "n.key") && strstr(s_why, "chmod 600"), "%s", s_why);
        cr_assert_str_empty(kp.kp_secret);
    }
    cr_assert_eq(chmod(s_path("n.key"), 0400), 0);
    cr_assert_eq(ly_key_read_secret(s_path("n.key"), &kp, s_why, sizeof s_why), LY_OK, "%s", s_why);
}

Test(keys, public_writable_by_others_is_refused)
{
    ly_keypair kp;
    char pub[LY_KEY_Z85 + 1];
    cr_assert_eq(ly_key_generate(s_dir, "p", &kp, s_why, sizeof s_why), LY_OK);
    cr_assert_eq(chmod(s_path("p.pub"), 0664), 0);
    cr_assert_eq(ly_key_read_public(s_path("p.pub"), pub, s_why, sizeof s_why), LY_ECONFIG);
    cr_assert(strstr(s_why, "p.pub") && strstr(s_why, "writable"), "%s", s_why);
    cr_assert_eq(chmod(s_path("p.pub"), 0444), 0);
    cr_assert_eq(ly_key_read_public(s_path("p.pub"), pub, s_why, sizeof s_why), LY_OK);
}

Test(keys, bad_contents_are_refused_with_the_reason)
{
    ly_keypair kp;
    char pub[LY_KEY_Z85 + 1];
    cr_assert_eq(ly_key_generate(s_dir, "g", &kp, s_why, sizeof s_why), LY_OK);
    char text[128];

    /* 39 characters */
    snprintf(text, sizeof text, "%.39s\n", kp.kp_public);
    s_write("short.pub", text, 0644);
    cr_assert_eq(ly_key_read_public(s_path("short.pub"), pub, s_why, sizeof s_why), LY_ECONFIG);
    cr_assert(strstr(s_why, "short.pub") && strstr(s_why, "has 39"), "%s", s_why);
    /* 41 characters */
    snprintf(text, sizeof text, "%sx\n", kp.kp_public);
    s_write("long.pub", text, 0644);
    cr_assert_eq(ly_key_read_public(s_path("long.pub"), pub, s_why, sizeof s_why), LY_ECONFIG);
    cr_assert(strstr(s_why, "has 41"), "%s", s_why);
    /* Two newlines, a trailing space: not exactly one key. */
    snprintf(text, sizeof text, "%s\n\n", kp.kp_public);
    s_write("nl.pub", text, 0644);
    cr_assert_eq(ly_key_read_public(s_path("nl.pub"), pub, s_why, sizeof s_why), LY_ECONFIG);
    snprintf(text, sizeof text, "%s \n", kp.kp_public);
    s_write("sp.pub", text, 0644);
    cr_assert_eq(ly_key_read_public(s_path("sp.pub"), pub, s_why, sizeof s_why), LY_ECONFIG);
    /* Without the newline it is fine. */
    s_write("bare.pub", kp.kp_public, 0644);
    cr_assert_eq(ly_key_read_public(s_path("bare.pub"), pub, s_why, sizeof s_why), LY_OK);
    cr_assert_str_eq(pub, kp.kp_public);
    /* A character outside the alphabet, in the right length. */
    snprintf(text, sizeof text, "%s\n", kp.kp_public);
    text[7] = ',';
    s_write("comma.pub", text, 0644);
    cr_assert_eq(ly_key_read_public(s_path("comma.pub"), pub, s_why, sizeof s_why), LY_ECONFIG);
    cr_assert(strstr(s_why, "Z85"), "%s", s_why);
    /* Garbage far too long, an empty file, a directory, a missing file. */
    s_write("garbage.key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n", 0600);
    cr_assert_eq(ly_key_read_secret(s_path("garbage.key"), &kp, s_why, sizeof s_why), LY_ECONFIG);
    cr_assert(strstr(s_why, "garbage.key") && strstr(s_why, "more than"), "%s", s_why);
    s_write("empty.key", "", 0600);
    cr_assert_eq(ly_key_read_secret(s_path("empty.key"), &kp, s_why, sizeof s_why), LY_ECONFIG);
    cr_assert(strstr(s_why, "has 0"), "%s", s_why);
    cr_assert_eq(ly_key_read_public(s_dir, pub, s_why, sizeof s_why), LY_ECONFIG);
    cr_assert(strstr(s_why, "not a regular file"), "%s", s_why);
    cr_assert_eq(ly_key_read_public(s_path("missing.pub"), pub, s_why, sizeof s_why), LY_ECONFIG);
    cr_assert(strstr(s_why, "missing.pub") && strstr(s_why, "cannot open"), "%s", s_why);
}

Test(keys, z85_validity)
{
    cr_assert(ly_key_z85_valid("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"));
    cr_assert_not(ly_key_z85_valid("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf"));
    cr_assert_not(ly_key_z85_valid("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7x"));
    cr_assert_not(ly_key_z85_valid("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf\""));
    cr_assert_not(ly_key_z85_valid(""));
}

Test(keys, role_names_round_trip)
{
    for (int r = LY_ROLE_PEER; r < LY_ROLE_COUNT; r++)
        cr_assert_eq((int)ly_role_from_name(ly_role_name(r)), r);
    cr_assert_eq(ly_role_from_name("root"), LY_ROLE_NONE);
    cr_assert_eq(ly_role_from_name("none"), LY_ROLE_NONE);
    cr_assert_str_eq(ly_role_name(99), "none");
    cr_assert_str_eq(ly_role_name(-1), "none");
}
