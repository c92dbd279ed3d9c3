/* config_test.c -- ly_config_load and ly_endpoint_valid.
 *
 * Every error case asserts LY_ECONFIG and that the message starts with
 * "PATH:LINE: " (or "PATH: ") for the right line. Configs are written to a
 * fresh temporary directory per test. Tests about permissions drop to the
 * "nobody" user (effective ids only) when run as root, since root may write
 * anywhere. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/initext.h"

static char s_dir[512];       /* the test's temporary directory, as created */
static char s_real[PATH_MAX]; /* ... with symlinks resolved */
static char s_path[PATH_MAX]; /* the last config written */
static char s_err[1024];

static int s_chmod_dir(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DNR)
        chmod(p, 0700);
    return 0;
}

static int s_rm(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

static void s_setup(void)
{
    /* As root, some tests read the config as "nobody" (s_become_nobody), who
     * must be able to reach it: $TMPDIR may lie below a private directory (a
     * clone in a `mktemp -d` directory), /tmp never does. */
    const char *tmp = geteuid() == 0 ? NULL : getenv("TMPDIR");
    snprintf(s_dir, sizeof s_dir, "%s/ly-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(s_dir), "mkdtemp: %s", strerror(errno));
    cr_assert_not_null(realpath(s_dir, s_real));
}

static void s_teardown(void)
{
    nftw(s_dir, s_chmod_dir, 16, FTW_PHYS);
    nftw(s_dir, s_rm, 16, FTW_PHYS | FTW_DEPTH);
}

TestSuite(config, .init = s_setup, .fini = s_teardown);

/* Writes `text` to `name` in the test directory; returns its path. */
static const char *s_write(const char *name, const char *text)
{
    snprintf(s_path, sizeof s_path, "%s/%s", s_dir, name);
    FILE *f = fopen(s_path, "w");
    cr_assert_not_null(f, "fopen %s: %s", s_path, strerror(errno));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
    return s_path;
}

static void s_mkdir(const char *name, mode_t mode)
{
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", s_dir, name);
    cr_assert_eq(mkdir(p, mode), 0, "mkdir %s: %s", p, strerror(errno));
    cr_assert_eq(chmod(p, mode), 0);
}

static int s_exists(const char *name)
{
    char p[PATH_MAX];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", s_dir, name);
    return stat(p, &st) == 0;
}

static ly_err s_load_text(const char *text, ly_config *cf)
{
    return ly_config_load(s_write("t.ini", text), cf, s_err, sizeof s_err);
}

/* Loads `text` and expects LY_ECONFIG with "PATH:LINE: " (LINE 0: "PATH: ")
 * followed by a message containing `needle`. */
static void s_expect_at(const char *path, ly_err rc, int line, const char *needle)
{
    char prefix[PATH_MAX + 32];
    if (line > 0)
        snprintf(prefix, sizeof prefix, "%s:%d: ", path, line);
    else
        snprintf(prefix, sizeof prefix, "%s: ", path);
    cr_assert_eq(rc, LY_ECONFIG, "expected LY_ECONFIG, got %d (%s)", rc, s_err);
    cr_assert(strncmp(s_err, prefix, strlen(prefix)) == 0, "expected prefix '%s' in '%s'", prefix,
              s_err);
    cr_assert(strstr(s_err + strlen(prefix), needle) != NULL, "expected '%s' in '%s'", needle,
              s_err);
}

static void s_expect(const char *text, int line, const char *needle)
{
    static ly_config cf;
    ly_err rc = s_load_text(text, &cf);
    s_expect_at(s_path, rc, line, needle);
}

static void s_expect_ok(const char *text, ly_config *cf)
{
    ly_err rc = s_load_text(text, cf);
    cr_assert_eq(rc, LY_OK, "expected success, got %d: %s", rc, s_err);
}

/* What a node config with a section of the program says, after "PATH:LINE: ". */
#define MOVED                                                                                      \
    " is no longer a node setting: the loyalty program is chain data since version 0.1.0; move "   \
    "[program], [tier] and [category] into a program file (see deploy/program.example.ini) and "   \
    "run 'loyalctl program apply FILE' once at any branch"

/* Loads `text` and expects exactly "PATH:LINE: LABEL" MOVED. */
static void s_expect_moved(const char *text, int line, const char *label)
{
    static ly_config cf;
    char want[PATH_MAX + 512];
    ly_err rc = s_load_text(text, &cf);
    snprintf(want, sizeof want, "%s:%d: %s" MOVED, s_path, line, label);
    cr_assert_eq(rc, LY_ECONFIG, "expected LY_ECONFIG, got %d (%s)", rc, s_err);
    cr_assert_str_eq(s_err, want);
}

/* Lines 1..5. */
#define NODE                                                                                       \
    "[node]\n"                                                                                     \
    "id = 1\n"                                                                                     \
    "name = north\n"                                                                               \
    "data_dir = data/north\n"                                                                      \
    "listen = tcp://127.0.0.1:7101\n"

/* Switches the effective user to nobody when root; returns 1 if it did. */
static int s_become_nobody(void)
{
    if (geteuid() != 0)
        return 0;
    cr_assert_eq(chmod(s_dir, 0755), 0);
    cr_assert_eq(setegid(65534), 0, "setegid: %s", strerror(errno));
    cr_assert_eq(seteuid(65534), 0, "seteuid: %s", strerror(errno));
    return 1;
}

static void s_become_root(int was)
{
    if (!was)
        return;
    cr_assert_eq(seteuid(0), 0);
    cr_assert_eq(setegid(0), 0);
}

/* ---- valid configs -------------------------------------------------------- */

Test(config, full)
{
    static ly_config cf;
    s_expect_ok("; north branch\n"
                "[node]\n"
                "id = 1\n"
                "name = north\n"
                "data_dir = data/north      ; relative to this file\n"
                "listen = tcp://127.0.0.1:7101\n"
                "peer_listen = tcp://*:7102\n"
                "log_level = debug\n"
                "batch_max = 100\n"
                "map_size_mb = 128\n"
                "max_clock_ahead_ms = 5000\n"
                "checkpoint_ms = 250\n"
                "checkpoint_events = 5000\n"
                "timezone = Europe/Prague\n"
                "insecure = true            ; peer_listen is not loopback and there is no key\n"
                "\n"
                "[peer south]\n"
                "id = 2\n"
                "endpoint = tcp://127.0.0.1:7202\n"
                "[peer east]\n"
                "  id = 3\n"
                "  endpoint: tcp://[::1]:7302\n",
                &cf);
    cr_assert_eq(cf.cf_node_id, 1);
    cr_assert_str_eq(cf.cf_name, "north");
    char want[PATH_MAX + 32];
    snprintf(want, sizeof want, "%s/data/north", s_real);
    cr_assert_str_eq(cf.cf_data_dir, want);
    cr_assert_str_eq(cf.cf_listen, "tcp://127.0.0.1:7101");
    cr_assert_str_eq(cf.cf_peer_listen, "tcp://*:7102");
    cr_assert_eq(cf.cf_log_level, LY_DEBUG);
    cr_assert_eq(cf.cf_batch_max, 100);
    cr_assert_eq(cf.cf_map_size_mb, 128);
    cr_assert_eq(cf.cf_max_clock_ahead_ms, 5000);
    cr_assert_eq(cf.cf_checkpoint_ms, 250);
    cr_assert_eq(cf.cf_checkpoint_events, 5000);
    cr_assert_str_eq(cf.cf_timezone, "Europe/Prague");

    cr_assert_eq(cf.cf_npeers, 2);
    cr_assert_eq(cf.cf_peers[0].pc_id, 2);
    cr_assert_str_eq(cf.cf_peers[0].pc_name, "south");
    cr_assert_str_eq(cf.cf_peers[0].pc_endpoint, "tcp://127.0.0.1:7202");
    cr_assert_eq(cf.cf_peers[1].pc_id, 3);
    cr_assert_str_eq(cf.cf_peers[1].pc_name, "east");
    cr_assert_str_eq(cf.cf_peers[1].pc_endpoint, "tcp://[::1]:7302");
    cr_assert(!s_exists("data"), "loading must create nothing");
}

Test(config, defaults)
{
    static ly_config cf;
    s_expect_ok(NODE, &cf);
    cr_assert_eq(cf.cf_log_level, LY_INFO);
    cr_assert_eq(cf.cf_batch_max, 512);
    cr_assert_eq(cf.cf_map_size_mb, 64);
    cr_assert_eq(cf.cf_max_clock_ahead_ms, 60000);
    cr_assert_eq(cf.cf_checkpoint_ms, 1000);
    cr_assert_eq(cf.cf_checkpoint_events, 20000);
    cr_assert_eq(cf.cf_npeers, 0);
    cr_assert_str_eq(cf.cf_peer_listen, "");
    cr_assert_str_eq(cf.cf_timezone, "UTC");
}

/* ---- the program is no longer a node setting ---------------------------- */

Test(config, program_section_refused)
{
    s_expect_moved(NODE "[program]\npoints_per_unit = 0.001\n[category food]\nmultiplier = 3\n", 6,
                   "[program]");
    s_expect_moved(NODE "\n; the old way\n[program]\nversion = 7\n", 8, "[program]");
    /* before [node], and the first of several */
    s_expect_moved("[program]\nversion = 2\n" NODE "[tier Gold]\n", 1, "[program]");
    /* an empty one, and one with a name, are refused the same */
    s_expect_moved(NODE "[program]\n", 6, "[program]");
    s_expect_moved(NODE "[program main]\n", 6, "[program main]");
}

Test(config, tier_sections_refused)
{
    s_expect_moved(NODE "[tier Member]\nthreshold = 0\nmultiplier = 1\n"
                        "[tier VIP]\nthreshold = 500\nmultiplier = 3\n",
                   6, "[tier Member]");
    /* after a peer; blanks in the header are tidied in the message */
    s_expect_moved(NODE "[peer south]\nid = 2\nendpoint = tcp://h:7202\n\n  [ tier   Gold ]  ; x\n",
                   10, "[tier Gold]");
    s_expect_moved(NODE "[tier]\n", 6, "[tier]");
}

Test(config, category_sections_refused)
{
    s_expect_moved(NODE "[category electronics]\nmultiplier = 2\n", 6, "[category electronics]");
    s_expect_moved(NODE "peer_listen = tcp://127.0.0.1:7102\n[category gift-cards]\n", 7,
                   "[category gift-cards]");
}

Test(config, moved_section_loads_nothing)
{
    /* the refusal leaves `out` as it was, and the error before it still wins */
    static ly_config cf, before;
    memset(&cf, 0xAB, sizeof cf);
    before = cf;
    const char *p = s_write("t.ini", NODE "[tier Gold]\nthreshold = 0\n");
    ly_err rc = ly_config_load(p, &cf, s_err, sizeof s_err);
    s_expect_at(p, rc, 6, "[tier Gold] is no longer a node setting");
    cr_assert(memcmp(&cf, &before, sizeof cf) == 0, "out must be left untouched on error");
    s_expect(NODE "batch_max = 0\n[program]\n", 6, "batch_max");
}

Test(config, decimals_exact)
{
    /* The node config read these as [tier] multipliers; the same helper now
     * reads the program file's (common/initext.h), so its table stays here. */
    static const struct {
        const char *text;
        uint64_t milli;
    } ok[] = {{"1", 1000},  {"1.25", 1250},  {"0.5", 500},      {"1.005", 1005}, {"2.1", 2100},
              {"0.001", 1}, {"100", 100000}, {"99.999", 99999}, {"1.10", 1100},  {"007.5", 7500}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 0;
        cr_assert_eq(ly_ini_milli(ok[i].text, &v), 0, "%s refused", ok[i].text);
        cr_assert_eq(v, ok[i].milli, "%s -> %llu, want %llu", ok[i].text, (unsigned long long)v,
                     (unsigned long long)ok[i].milli);
    }
    static const char *const bad[] = {"1.2345", "1.",   ".5",  "1.2.3", "1e3", "-1",    "+1",
                                      "",       "0x10", "1,5", "1 .5",  "nan", "0.0001"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 12345;
        cr_assert_eq(ly_ini_milli(bad[i], &v), -1, "'%s' accepted", bad[i]);
        cr_assert_eq(v, 12345, "'%s': out changed", bad[i]);
    }
    /* "0" and "100.001" were refused by the multiplier's range 0.001..100 */
    char why[128];
    uint64_t v;
    cr_assert_eq(ly_ini_number("0", 1, 1, 100000, &v, why, sizeof why), -1);
    cr_assert_eq(ly_ini_number("100.001", 1, 1, 100000, &v, why, sizeof why), -1);
    cr_assert(strstr(why, "expected a number 0.001..100 with at most 3 decimals"), "%s", why);
}

Test(config, relative_data_dir)
{
    static ly_config cf;
    char want[PATH_MAX + 64];
    s_mkdir("conf", 0755);
    s_mkdir("conf/existing", 0755);

    /* ../ walks out of the config's directory; the result is absolute and tidy */
    s_write("conf/n.ini", "[node]\nid = 1\nname = n\ndata_dir = ../data//./north/\n"
                          "listen = ipc:///tmp/ly-n.sock\n");
    cr_assert_eq(ly_config_load(s_path, &cf, s_err, sizeof s_err), LY_OK, "%s", s_err);
    snprintf(want, sizeof want, "%s/data/north", s_real);
    cr_assert_str_eq(cf.cf_data_dir, want);

    /* an existing directory resolves fully */
    s_write("conf/n.ini", "[node]\nid = 1\nname = n\ndata_dir = ./existing\n"
                          "listen = tcp://127.0.0.1:7101\n");
    cr_assert_eq(ly_config_load(s_path, &cf, s_err, sizeof s_err), LY_OK, "%s", s_err);
    snprintf(want, sizeof want, "%s/conf/existing", s_real);
    cr_assert_str_eq(cf.cf_data_dir, want);

    /* a relative config path: still against the file's directory, not the cwd */
    char cwd[PATH_MAX];
    cr_assert_not_null(getcwd(cwd, sizeof cwd));
    cr_assert_eq(chdir(s_dir), 0);
    s_write("conf/n.ini", "[node]\nid = 1\nname = n\ndata_dir = d\nlisten = tcp://127.0.0.1:1\n");
    ly_err rc = ly_config_load("conf/n.ini", &cf, s_err, sizeof s_err);
    cr_assert_eq(chdir(cwd), 0);
    cr_assert_eq(rc, LY_OK, "%s", s_err);
    snprintf(want, sizeof want, "%s/conf/d", s_real);
    cr_assert_str_eq(cf.cf_data_dir, want);

    /* an absolute data_dir is kept */
    char text[PATH_MAX + 200];
    snprintf(text, sizeof text,
             "[node]\nid = 1\nname = n\ndata_dir = %s/abs/x\nlisten = tcp://127.0.0.1:1\n", s_real);
    s_write("conf/n.ini", text);
    cr_assert_eq(ly_config_load(s_path, &cf, s_err, sizeof s_err), LY_OK, "%s", s_err);
    snprintf(want, sizeof want, "%s/abs/x", s_real);
    cr_assert_str_eq(cf.cf_data_dir, want);
    cr_assert(!s_exists("data") && !s_exists("conf/d") && !s_exists("abs"));
}

Test(config, long_data_dir_line)
{
    /* longer than libinih's 200-byte line buffer */
    static ly_config cf;
    char rel[1200] = "";
    for (int i = 0; i < 20; i++)
        strcat(rel, "a-rather-long-directory-name-for-testing-0123456789/");
    strcat(rel, "end");
    char text[2048];
    snprintf(text, sizeof text,
             "[node]\nid = 1\nname = n\ndata_dir = %s   ; a comment\nlisten = tcp://127.0.0.1:1\n",
             rel);
    s_expect_ok(text, &cf);
    char want[PATH_MAX + 1300];
    snprintf(want, sizeof want, "%s/%s", s_real, rel);
    cr_assert_str_eq(cf.cf_data_dir, want);
}

/* A comment line longer than inih's buffer (fuzz_config: it was split at an
 * '=' it does not have, reading and writing past the line's end). */
Test(config, long_comment_line)
{
    static char text[4096];
    static ly_config cf;
    char comment[301];
    memset(comment, 'c', sizeof comment - 1);
    comment[sizeof comment - 1] = '\0';
    for (int i = 0; i < 2; i++) {
        const char *mark = i ? "#" : ";";
        snprintf(text, sizeof text, "%s %s\n" NODE "%s %s\nlog_level = warn\n", mark, comment, mark,
                 comment);
        s_expect_ok(text, &cf);
        cr_assert_eq(cf.cf_log_level, LY_WARN);
        snprintf(text, sizeof text, "%s %s", mark, comment); /* no newline at the end */
        s_expect(text, 0, "missing [node] section");
    }
}

Test(config, syntax_variants)
{
    /* BOM, CRLF, ':' separators, comments of both kinds, indentation */
    static ly_config cf;
    s_expect_ok("\xEF\xBB\xBF# comment\r\n"
                "[node]  ; the node\r\n"
                "    id: 1\r\n"
                "name=north\r\n"
                "data_dir = data\r\n"
                "\tlisten = tcp://127.0.0.1:7101 ; inline\r\n",
                &cf);
    cr_assert_eq(cf.cf_node_id, 1);
    cr_assert_str_eq(cf.cf_listen, "tcp://127.0.0.1:7101");
}

Test(config, timezone)
{
    static ly_config cf;
    static const char *const ok[] = {"Europe/Prague", "America/New_York", "UTC", "Etc/GMT+5",
                                     "America/Argentina/Buenos_Aires"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, NODE "timezone = %s   ; the branch's zone\n", ok[i]);
        s_expect_ok(text, &cf);
        cr_assert_str_eq(cf.cf_timezone, ok[i]);
    }
    /* unknown zones: the exact message */
    static const char *const unknown[] = {"Europe/Prag", "europe/prague", "Europe", "CEST",
                                          "Mars/Olympus_Mons"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        char text[512], want[PATH_MAX + 256];
        snprintf(text, sizeof text, NODE "timezone = %s\n", unknown[i]);
        ly_err rc = s_load_text(text, &cf);
        snprintf(want, sizeof want,
                 "%s:6: unknown time zone '%s' (an IANA name such as Europe/Prague; see "
                 "/usr/share/zoneinfo)",
                 s_path, unknown[i]);
        cr_assert_eq(rc, LY_ECONFIG, "%s: %d", unknown[i], rc);
        cr_assert_str_eq(s_err, want);
    }
    /* names that cannot be zones never reach the file system */
    s_expect(NODE "timezone = ../../../etc/passwd\n", 6, "bad time zone '../../../etc/passwd'");
    s_expect(NODE "timezone = /usr/share/zoneinfo/UTC\n", 6, "starts with '/'");
    s_expect(NODE "timezone = Europe/Prague,UTC\n", 6, "bad character");
    s_expect(NODE "timezone = Europe/ Prague\n", 6, "bad character");
    s_expect(NODE "timezone =\n", 6, "bad time zone '': empty time zone name");
    s_expect("[node]\ntimezone = Europe/Prag\nid = 1\n", 2, "unknown time zone 'Europe/Prag'");
    s_expect(NODE "[peer south]\ntimezone = UTC\n", 7, "unknown key 'timezone' in [peer south]");
}

Test(config, timezone_dir)
{
    /* $TZDIR names the zone directory, in the check and in the message */
    static ly_config cf;
    char tzdir[PATH_MAX + 16];
    snprintf(tzdir, sizeof tzdir, "%s/zoneinfo", s_dir);
    s_mkdir("zoneinfo", 0755);
    s_mkdir("zoneinfo/Test", 0755);
    s_write("zoneinfo/Test/Zone", "TZif2 and more");
    s_write("zoneinfo/Test/Text", "not a zone\n");
    cr_assert_eq(setenv("TZDIR", tzdir, 1), 0);
    s_expect_ok(NODE "timezone = Test/Zone\n", &cf);
    cr_assert_str_eq(cf.cf_timezone, "Test/Zone");
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "(an IANA name such as Europe/Prague; see %s)", tzdir);
    s_expect(NODE "timezone = Europe/Prague\n", 6, want);
    s_expect(NODE "timezone = Test/Text\n", 6, "unknown time zone 'Test/Text'");
    s_expect_ok(NODE "timezone = UTC\n", &cf); /* even without its file */
    cr_assert_eq(unsetenv("TZDIR"), 0);
    s_expect_ok(NODE "timezone = Europe/Prague\n", &cf);
}

/* ---- the file itself ------------------------------------------------------ */

Test(config, missing_file)
{
    static ly_config cf;
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/nope.ini", s_dir);
    ly_err rc = ly_config_load(p, &cf, s_err, sizeof s_err);
    s_expect_at(p, rc, 0, "cannot open: No such file or directory");
}

Test(config, directory_as_file)
{
    static ly_config cf;
    ly_err rc = ly_config_load(s_dir, &cf, s_err, sizeof s_err);
    s_expect_at(s_dir, rc, 0, "is a directory");
}

Test(config, unreadable_file)
{
    static ly_config cf;
    const char *p = s_write("t.ini", NODE);
    cr_assert_eq(chmod(p, 0), 0);
    int was = s_become_nobody();
    ly_err rc = ly_config_load(p, &cf, s_err, sizeof s_err);
    s_become_root(was);
    s_expect_at(p, rc, 0, "cannot open: Permission denied");
}

Test(config, empty_file)
{
    s_expect("", 0, "missing [node] section");
    s_expect("; only a comment\n", 0, "missing [node] section");
    s_expect_moved("; only a comment\n[program]\nversion = 2\n", 2, "[program]");
}

/* ---- syntax ----------------------------------------------------------------- */

Test(config, syntax_errors)
{
    s_expect(NODE "batch_max 5\n", 6, "expected 'key = value' or '[section]', found 'batch_max 5'");
    /* ':' separates too, as in Python's configparser */
    s_expect(NODE "peer_listen tcp://127.0.0.1:7102\n", 6, "unknown key 'peer_listen tcp'");
    s_expect(NODE "[peer south\nid = 2\n", 6, "missing ']'");
    s_expect(NODE "[peer south ;x]\n", 6, "missing ']'");
    s_expect(NODE "[peer south] id = 2\n", 6, "unexpected text after ']'");
    s_expect(NODE "= 5\n", 6, "missing key name");
    s_expect("id = 1\n" NODE, 1, "outside any section");
}

Test(config, nul_byte)
{
    const char text[] = NODE "batch_max = 5\0junk\n";
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/nul.ini", s_dir);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, sizeof text - 1, f), sizeof text - 1);
    fclose(f);
    static ly_config cf;
    ly_err rc = ly_config_load(p, &cf, s_err, sizeof s_err);
    s_expect_at(p, rc, 6, "NUL byte");
}

Test(config, unknown_section)
{
    s_expect(NODE "[nodes]\nid = 2\n", 6, "unknown section [nodes]");
    s_expect(NODE "\n[bogus thing]\n", 7, "unknown section [bogus thing]"); /* no keys */
    s_expect(NODE "[Node]\n", 6, "unknown section [Node]");
    s_expect(NODE "[]\n", 6, "unknown section []");
    s_expect(NODE "[peer]\nid = 2\n", 6, "section [peer] needs a name");
    s_expect(NODE "[node main]\n", 6, "section [node] takes no name");
    s_expect(NODE "[peer so/uth]\n", 6, "bad peer name 'so/uth'");
    s_expect(NODE "[tiers]\n", 6,
             "unknown section [tiers] (expected [node], [peer NAME], [pos NAME], "
             "[operator NAME] or [auditor NAME])");
    /* the program's sections are refused whatever their name */
    s_expect_moved(NODE "[program main]\n", 6, "[program main]");
    s_expect_moved(NODE "[tier Gold;x]\n", 6, "[tier Gold;x]");
    s_expect_moved(NODE "[category a-very-long-category-name-over-32-bytes]\n", 6,
                   "[category a-very-long-category-name-over-32-bytes]");
}

Test(config, unknown_key)
{
    s_expect("[node]\nid = 1\nname = north\ndata_dir = d\nlisten = tcp://127.0.0.1:7101\n"
             "\nlisen = tcp://127.0.0.1:7101\n",
             7, "unknown key 'lisen' in [node]");
    s_expect(NODE "[peer south]\nid = 2\nport = 7202\n", 8, "unknown key 'port' in [peer south]");
    s_expect(NODE "tier_window_days = 365\n", 6, "unknown key 'tier_window_days' in [node]");
    s_expect(NODE "join_bonus = 50\n", 6, "unknown key 'join_bonus' in [node]");
    /* the header is refused before any of its keys is looked at */
    s_expect_moved(NODE "[program]\nrate = 2\n", 6, "[program]");
    s_expect_moved(NODE "[tier Gold]\nthreshold = 0\nmult = 2\n", 6, "[tier Gold]");
    s_expect_moved(NODE "[category food]\nthreshold = 0\n", 6, "[category food]");
    s_expect("[node]\nID = 1\n", 2, "unknown key 'ID' in [node]");
}

Test(config, duplicate_key)
{
    s_expect(NODE "id = 2\n", 6, "duplicate key 'id' in [node] (first at line 2)");
    s_expect(NODE "[peer south]\nid = 2\nendpoint = tcp://h:1\nendpoint = tcp://h:2\n", 9,
             "duplicate key 'endpoint' in [peer south] (first at line 8)");
    s_expect(NODE "timezone = UTC\ntimezone = Europe/Prague\n", 7,
             "duplicate key 'timezone' in [node] (first at line 6)");
    s_expect_moved(NODE "[tier Base]\nthreshold = 0\nthreshold = 0\n", 6, "[tier Base]");
}

Test(config, duplicate_section)
{
    s_expect(NODE "[node]\n", 6, "duplicate section [node] (first at line 1)");
    /* the first of the program's sections is refused: no duplicate to find */
    s_expect_moved(NODE "[program]\nversion = 2\n[program]\n", 6, "[program]");
    s_expect_moved(NODE "[tier Base]\nthreshold = 0\nmultiplier = 1\n[tier Base]\n", 6,
                   "[tier Base]");
    s_expect_moved(NODE "[category food]\nmultiplier = 2\n\n[category food]\n", 6,
                   "[category food]");
}

/* ---- values ------------------------------------------------------------------ */

Test(config, bad_numbers)
{
    s_expect("[node]\nid = 0\n", 2,
             "bad value '0' for 'id' in [node]: expected an integer 1..65535");
    s_expect("[node]\nid = 65536\n", 2, "expected an integer 1..65535");
    s_expect("[node]\nid = abc\n", 2, "bad value 'abc' for 'id'");
    s_expect("[node]\nid = -1\n", 2, "expected an integer 1..65535");
    s_expect("[node]\nid = 1.5\n", 2, "expected an integer 1..65535");
    s_expect("[node]\nid = 99999999999999999999999\n", 2, "expected an integer 1..65535");
    s_expect("[node]\nid =\n", 2, "bad value '' for 'id'");
    s_expect(NODE "batch_max = 0\n", 6, "'batch_max' in [node]: expected an integer 1..4096");
    s_expect(NODE "batch_max = 4097\n", 6, "expected an integer 1..4096");
    s_expect(NODE "map_size_mb = 1048577\n", 6, "expected an integer 1..1048576");
    s_expect(NODE "max_clock_ahead_ms = 0\n", 6, "'max_clock_ahead_ms' in [node]");
    s_expect(NODE "checkpoint_ms = 5\n", 6,
             "'checkpoint_ms' in [node]: expected an integer 10..60000");
    s_expect(NODE "checkpoint_events = 99\n", 6, "expected an integer 100..10000000");
    s_expect(NODE "[peer south]\nid = 70000\n", 7, "'id' in [peer south]: expected an integer");
    /* the program's values are no longer read: their section is refused */
    s_expect_moved(NODE "[program]\nversion = 0\n", 6, "[program]");
    s_expect_moved(NODE "[program]\npoints_per_unit = 1.0001\n", 6, "[program]");
    s_expect_moved(NODE "[program]\nminor_units = 0\n", 6, "[program]");
    s_expect_moved(NODE "[program]\njoin_bonus = 1000000001\n", 6, "[program]");
    s_expect_moved(NODE "[program]\ntier_window_days = 731\n", 6, "[program]");
    s_expect_moved(NODE "[tier Base]\nthreshold = x\n", 6, "[tier Base]");
    s_expect_moved(NODE "[category food]\nmultiplier = 101\n", 6, "[category food]");
    s_expect(NODE "log_level = verbose\n", 6, "expected debug, info, warn or error");
}

Test(config, bad_names)
{
    s_expect("[node]\nid = 1\nname = no rth\n", 3, "bad name 'no rth'");
    s_expect("[node]\nid = 1\nname =\n", 3, "bad name ''");
    s_expect("[node]\nid = 1\nname = "
             "a123456789b123456789c123456789d123456789e123456789f123456789g1234\n",
             3, "bad name");
}

Test(config, bad_endpoint)
{
    s_expect(NODE "peer_listen = tcp://127.0.0.1\n", 6,
             "bad endpoint 'tcp://127.0.0.1' for 'peer_listen' in [node]");
    s_expect(NODE "peer_listen = tcp://127.0.0.1:0\n", 6, "bad endpoint");
    s_expect(NODE "peer_listen = tcp://127.0.0.1:65536\n", 6, "bad endpoint");
    s_expect(NODE "peer_listen = udp://127.0.0.1:7102\n", 6, "bad endpoint");
    s_expect(NODE "peer_listen =\n", 6, "bad endpoint ''");
    s_expect("[node]\nlisten = tcp://:7101\n", 2, "bad endpoint 'tcp://:7101' for 'listen'");
    s_expect(NODE "[peer south]\nid = 2\nendpoint = tcp://127.0.0.1:x\n", 8,
             "bad endpoint 'tcp://127.0.0.1:x' for 'endpoint' in [peer south]");
    s_expect(NODE "[peer south]\nid = 2\nendpoint = tcp://*:7202\n", 8, "not '*'");
    s_expect(NODE "[peer south]\nid = 2\nendpoint = tcp://127.0.0.1:*\n", 8, "not '*'");
}

Test(config, endpoint_valid)
{
    static const char *const ok[] = {
        "tcp://127.0.0.1:7101", "tcp://*:7101",          "tcp://localhost:1",
        "tcp://[::1]:65535",    "tcp://127.0.0.1:*",     "tcp://branch-7.example.com:7101",
        "ipc:///tmp/ly.sock",   "ipc://relative/path.s", "ipc://@abstract"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        cr_assert(ly_endpoint_valid(ok[i]), "%s should be valid", ok[i]);
    char long_ipc[200] = "ipc://";
    memset(long_ipc + 6, 'x', 108);
    static const char *const bad[] = {"",
                                      "tcp://",
                                      "tcp://127.0.0.1",
                                      "tcp://127.0.0.1:",
                                      "tcp://:1",
                                      "tcp://h:0",
                                      "tcp://h:65536",
                                      "tcp://h:99999999",
                                      "tcp://h:-1",
                                      "tcp://h:+1",
                                      "tcp://h:1x",
                                      "tcp://a b:1",
                                      "ipc://",
                                      "inproc://x",
                                      "udp://h:1",
                                      "TCP://h:1",
                                      "tcp://[::1:1",
                                      "tcp://h\n:1",
                                      "pgm://eth0;239.1.1.1:5555"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert(!ly_endpoint_valid(bad[i]), "'%s' should be invalid", bad[i]);
    cr_assert(!ly_endpoint_valid(long_ipc));
    cr_assert(!ly_endpoint_valid(NULL));
    char huge[400] = "tcp://";
    memset(huge + 6, 'h', 300);
    strcat(huge, ":1");
    cr_assert(!ly_endpoint_valid(huge));
}

Test(config, listen_equals_peer_listen)
{
    s_expect(NODE "peer_listen = tcp://127.0.0.1:7101\n", 6,
             "listen 'tcp://127.0.0.1:7101' and peer_listen 'tcp://127.0.0.1:7101' are the same "
             "address (lines 5 and 6)");
    s_expect(NODE "peer_listen = tcp://*:7101\n", 6, "are the same address (lines 5 and 6)");
    s_expect("[node]\npeer_listen = ipc:///tmp/x\nid = 1\nname = n\ndata_dir = d\n"
             "listen = ipc:///tmp/x\n",
             6, "are the same address (lines 2 and 6)");
}

/* ---- cross checks ------------------------------------------------------------ */

/* With peers, a listen the peers cannot connect to needs an advertise: a
 * wildcard host, and a wildcard port too (fuzz_config found 'listen =
 * tcp://127.0.0.1:*' accepted, and announced to the peers as it was). */
Test(config, wildcard_listen_needs_advertise)
{
#define NODE_AT(listen) "[node]\nid = 1\nname = north\ndata_dir = d\nlisten = " listen "\n"
#define PEERED(listen)                                                                             \
    "[node]\nid = 1\nname = north\ndata_dir = d\nlisten = " listen "\n"                            \
    "peer_listen = tcp://127.0.0.1:7102\n[peer south]\nid = 2\nendpoint = tcp://127.0.0.1:7202\n"
    s_expect(PEERED("tcp://*:7101"), 5, "is a wildcard address: set 'advertise'");
    s_expect(PEERED("tcp://0.0.0.0:7101"), 5, "is a wildcard address");
    s_expect(PEERED("tcp://127.0.0.1:*"), 5,
             "listen 'tcp://127.0.0.1:*' is a wildcard address: set 'advertise'");
    s_expect(PEERED("ipc://*"), 5, "is a wildcard address");
    static ly_config cf;
    s_expect_ok(PEERED("tcp://127.0.0.1:*\nadvertise = tcp://10.0.0.5:7101\ninsecure = true"), &cf);
    cr_assert_str_eq(cf.cf_advertise, "tcp://10.0.0.5:7101");
    s_expect_ok(NODE_AT("tcp://127.0.0.1:*"), &cf); /* no peers: nobody is told */
    cr_assert_str_eq(cf.cf_advertise, "tcp://127.0.0.1:*");
#undef PEERED
#undef NODE_AT
}

Test(config, missing_required)
{
    s_expect("[node]\nname = n\ndata_dir = d\nlisten = tcp://h:1\n", 1,
             "missing key 'id' in [node]");
    s_expect("[node]\nid = 1\ndata_dir = d\nlisten = tcp://h:1\n", 1,
             "missing key 'name' in [node]");
    s_expect("[node]\nid = 1\nname = n\nlisten = tcp://h:1\n", 1,
             "missing key 'data_dir' in [node]");
    s_expect("\n[node]\nid = 1\nname = n\ndata_dir = d\n", 2, "missing key 'listen' in [node]");
    s_expect(NODE "[peer south]\nid = 2\n", 6, "missing key 'endpoint' in [peer south]");
    s_expect(NODE "[peer south]\nendpoint = tcp://h:1\n", 6, "missing key 'id' in [peer south]");
    s_expect_moved(NODE "[tier Base]\nthreshold = 0\n", 6, "[tier Base]");
    s_expect_moved(NODE "[tier Base]\nmultiplier = 1\n", 6, "[tier Base]");
    s_expect_moved(NODE "[category food]\n", 6, "[category food]");
}

Test(config, duplicate_node_id)
{
    /* a peer with the node's own id */
    s_expect(NODE "[peer south]\nid = 1\nendpoint = tcp://h:7202\n", 7,
             "duplicate node id 1: [peer south] has the id of [node] (line 2)");
    /* ... with the node section after the peer */
    s_expect("[peer south]\nid = 1\nendpoint = tcp://h:7202\n" NODE, 5,
             "duplicate node id 1: [node] has the id of [peer south] (line 2)");
    /* two peers with the same id */
    s_expect(NODE "[peer south]\nid = 2\nendpoint = tcp://h:7202\n"
                  "[peer east]\nid = 2\nendpoint = tcp://h:7302\n",
             10, "duplicate node id 2: [peer east] has the id of [peer south] (line 7)");
}

Test(config, duplicate_peer_name)
{
    s_expect(NODE "[peer south]\nid = 2\nendpoint = tcp://h:7202\n"
                  "[peer south]\nid = 3\nendpoint = tcp://h:7302\n",
             9, "duplicate peer name 'south': [peer south] is already at line 6");
    s_expect(NODE "[peer north]\nid = 2\nendpoint = tcp://h:7202\n", 6,
             "peer name 'north' is the node's own name ([node] name at line 3)");
}

Test(config, duplicate_peer_endpoint)
{
    s_expect(NODE "[peer south]\nid = 2\nendpoint = tcp://h:7202\n"
                  "[peer east]\nid = 3\nendpoint = tcp://h:7202\n",
             11,
             "duplicate endpoint 'tcp://h:7202': [peer east] has the endpoint of [peer south] "
             "(line 8)");
    s_expect(NODE "peer_listen = tcp://127.0.0.1:7102\n"
                  "[peer south]\nid = 2\nendpoint = tcp://127.0.0.1:7102\n",
             9, "is this node's own peer_listen (line 6)");
    s_expect(NODE "peer_listen = tcp://0.0.0.0:7102\ninsecure = true\n"
                  "[peer south]\nid = 2\nendpoint = tcp://127.0.0.1:7102\n",
             10, "is this node's own peer_listen (line 6)");
}

/* Every branch binds the same port on its own machine: a wildcard bind is not
 * the peer on another host at that port. */
Test(config, wildcard_bind_and_peers_on_the_same_port)
{
    static ly_config cf;
    s_expect_ok(NODE "peer_listen = tcp://0.0.0.0:7102\ninsecure = true\n"
                     "[peer south]\nid = 2\nendpoint = tcp://10.0.2.5:7102\n"
                     "[peer west]\nid = 3\nendpoint = tcp://10.0.3.5:7102\n",
                &cf);
    cr_assert_eq(cf.cf_npeers, 2);
    cr_assert_str_eq(cf.cf_peers[1].pc_endpoint, "tcp://10.0.3.5:7102");
}

Test(config, tier_order)
{
    /* the node config no longer orders tiers: the first [tier] is refused */
    s_expect_moved(NODE "[tier Base]\nthreshold = 10\nmultiplier = 1\n", 6, "[tier Base]");
    s_expect_moved(NODE "[tier Base]\nthreshold = 0\nmultiplier = 1\n"
                        "[tier Gold]\nthreshold = 1000\nmultiplier = 2\n"
                        "[tier Silver]\nthreshold = 500\nmultiplier = 1.5\n",
                   6, "[tier Base]");
}

Test(config, too_many_sections)
{
    char text[8192] = NODE;
    for (int i = 0; i < LY_TIERS_MAX + 1; i++) {
        char t[128];
        snprintf(t, sizeof t, "[tier T%d]\nthreshold = %d\nmultiplier = 1\n", i, i * 10);
        strcat(text, t);
    }
    s_expect_moved(text, 6, "[tier T0]");
    /* peers are still bounded */
    char peers[16384] = NODE "peer_listen = tcp://127.0.0.1:7102\n";
    for (int i = 0; i < LY_PEERS_MAX + 1; i++) {
        char t[128];
        snprintf(t, sizeof t, "[peer p%d]\nid = %d\nendpoint = tcp://127.0.0.1:%d\n", i, i + 2,
                 8000 + i);
        strcat(peers, t);
    }
    s_expect(peers, 7 + 3 * LY_PEERS_MAX, "too many peers (at most 64)");
}

/* ---- the data directory ---------------------------------------------------------- */

Test(config, data_dir_not_a_directory)
{
    s_write("file", "x");
    s_expect("[node]\nid = 1\nname = n\ndata_dir = file\nlisten = tcp://h:1\n", 4,
             "is not a directory");
    s_expect("[node]\nid = 1\nname = n\ndata_dir = file/sub/dir\nlisten = tcp://h:1\n", 4,
             "parent '");
    cr_assert(strstr(s_err, "/file' is not a directory"), "%s", s_err);
}

Test(config, data_dir_not_writable)
{
    s_mkdir("ro", 0755);
    s_mkdir("ro/existing", 0555);
    char ro[PATH_MAX + 8];
    snprintf(ro, sizeof ro, "%s/ro", s_dir);
    cr_assert_eq(chmod(ro, 0555), 0);
    s_write("t.ini", "[node]\nid = 1\nname = n\ndata_dir = ro/new/data\nlisten = tcp://h:1\n");
    chmod(s_path, 0644);
    static ly_config cf;
    int was = s_become_nobody();
    ly_err rc = ly_config_load(s_path, &cf, s_err, sizeof s_err);
    s_become_root(was);
    char want[PATH_MAX * 2 + 64];
    snprintf(want, sizeof want, "data_dir '%s/ro/new/data': parent '%s/ro' is not writable", s_real,
             s_real);
    s_expect_at(s_path, rc, 4, want);

    s_write("t.ini", "[node]\nid = 1\nname = n\ndata_dir = ro/existing\nlisten = tcp://h:1\n");
    chmod(s_path, 0644);
    was = s_become_nobody();
    rc = ly_config_load(s_path, &cf, s_err, sizeof s_err);
    s_become_root(was);
    s_expect_at(s_path, rc, 4, "/ro/existing' is not writable");
    cr_assert(!s_exists("ro/new"), "loading must create nothing");
}

Test(config, nothing_created_on_error)
{
    /* an error found after data_dir was read, and one in the data dir check */
    s_expect("[node]\nid = 1\nname = n\ndata_dir = a/b/c\nlisten = tcp://127.0.0.1:1\nbogus = 1\n",
             6, "unknown key 'bogus'");
    s_expect("[node]\nid = 1\nname = n\ndata_dir = a/b/c\nlisten = tcp://127.0.0.1:1\n"
             "[peer x]\nid = 1\nendpoint = tcp://127.0.0.1:2\n",
             7, "duplicate node id");
    cr_assert(!s_exists("a"), "loading must create nothing");
    static ly_config cf;
    s_expect_ok("[node]\nid = 1\nname = n\ndata_dir = a/b/c\nlisten = tcp://127.0.0.1:1\n", &cf);
    cr_assert(!s_exists("a"), "loading must create nothing");
}

Test(config, out_untouched_on_error)
{
    static ly_config cf, before;
    memset(&cf, 0xAB, sizeof cf);
    before = cf;
    const char *p = s_write("t.ini", NODE "batch_max = 0\n");
    ly_err rc = ly_config_load(p, &cf, s_err, sizeof s_err);
    s_expect_at(p, rc, 6, "batch_max");
    cr_assert(memcmp(&cf, &before, sizeof cf) == 0, "out must be left untouched on error");
}

Test(config, small_or_no_error_buffer)
{
    static ly_config cf;
    char small[8];
    memset(small, 'x', sizeof small);
    cr_assert_eq(ly_config_load(s_write("t.ini", "[node]\nid = 0\n"), &cf, small, sizeof small),
                 LY_ECONFIG);
    cr_assert_eq(strlen(small), sizeof small - 1);
    cr_assert_eq(ly_config_load(s_path, &cf, NULL, 0), LY_ECONFIG);
}

/* ---- keys and protected mode ---------------------------------------------- */

/* A key pair NAME.key / NAME.pub in the test directory; its public key in `pub`. */
static void s_keygen(const char *name, char *pub)
{
    ly_keypair kp;
    char why[512];
    cr_assert_eq(ly_key_generate(s_dir, name, &kp, why, sizeof why), LY_OK, "%s", why);
    memcpy(pub, kp.kp_public, sizeof kp.kp_public);
}

Test(config, keys_and_roles)
{
    char north[41], south[41], till[41], alice[41], audit[41];
    s_keygen("north", north);
    s_keygen("south", south);
    s_keygen("till-1", till);
    s_keygen("alice", alice);
    s_keygen("audit", audit);
    static ly_config cf;
    s_expect_ok(NODE "key = north.key\n"
                     "peer_listen = tcp://0.0.0.0:7102\n" /* keys: any address may be bound */
                     "[peer south]\nid = 2\nendpoint = tcp://10.0.0.2:7202\nkey = south.pub\n"
                     "[pos till-1]\nkey = till-1.pub\n"
                     "[operator alice]\nkey = alice.pub\n"
                     "[auditor audit]\nkey = audit.pub\n",
                &cf);
    cr_assert_eq(cf.cf_curve, 1);
    cr_assert_eq(cf.cf_insecure, 0);
    cr_assert_str_eq(cf.cf_key.kp_public, north);
    cr_assert_eq(strlen(cf.cf_key.kp_secret), 40);
    cr_assert_str_eq(cf.cf_peers[0].pc_public, south);
    cr_assert_eq(cf.cf_nkeys, 3);
    cr_assert_str_eq(cf.cf_keys[0].kc_name, "till-1");
    cr_assert_eq(cf.cf_keys[0].kc_role, LY_ROLE_POS);
    cr_assert_str_eq(cf.cf_keys[0].kc_public, till);
    cr_assert_str_eq(cf.cf_keys[1].kc_name, "alice");
    cr_assert_eq(cf.cf_keys[1].kc_role, LY_ROLE_OPERATOR);
    cr_assert_str_eq(cf.cf_keys[1].kc_public, alice);
    cr_assert_eq(cf.cf_keys[2].kc_role, LY_ROLE_AUDITOR);
    cr_assert_str_eq(cf.cf_keys[2].kc_public, audit);
    char want[PATH_MAX + 32];
    snprintf(want, sizeof want, "%s/north.key", s_dir);
    cr_assert_str_eq(cf.cf_key_file, want);
}

Test(config, key_errors)
{
    char north[41], south[41], till[41];
    s_keygen("north", north);
    s_keygen("south", south);
    s_keygen("till", till);
    /* the roles need the node's own key, and so does a peer's key */
    s_expect(NODE "[pos till]\nkey = till.pub\n", 6, "[pos till] has a key but [node] has none");
    s_expect(NODE "peer_listen = tcp://127.0.0.1:7102\n[peer south]\nid = 2\n"
                  "endpoint = tcp://127.0.0.1:7202\nkey = south.pub\n",
             10, "[peer south] has a key but [node] has none");
    /* with the node's key, every peer needs one */
    s_expect(NODE "key = north.key\npeer_listen = tcp://127.0.0.1:7102\n"
                  "[peer south]\nid = 2\nendpoint = tcp://127.0.0.1:7202\n",
             8, "missing key 'key' in [peer south]");
    /* one name, one key */
    s_expect(NODE "key = north.key\n[pos till]\nkey = till.pub\n[operator till]\nkey = south.pub\n",
             9, "duplicate key name 'till': [pos till] is already at line 7");
    s_expect(NODE "key = north.key\n[pos a]\nkey = till.pub\n[operator b]\nkey = till.pub\n", 9,
             "[operator b] has the same public key as [pos a] (line 7)");
    s_expect(NODE "key = north.key\n[pos a]\nkey = north.pub\n", 7,
             "[pos a] has the same public key as [node]");
    s_expect(NODE "key = north.key\n[pos bad/name]\nkey = till.pub\n", 7, "bad key name");
    s_expect(NODE "key = north.key\n[pos]\nkey = till.pub\n", 7, "needs a name");
    s_expect(NODE "key = north.key\n[pos a]\n", 7, "missing key 'key' in [pos a]");
    /* key files: the reason and the file */
    s_expect(NODE "key = nowhere.key\n", 6, "key of [node]: ");
    cr_assert(strstr(s_err, "nowhere.key"), "%s", s_err);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/north.key", s_dir);
    cr_assert_eq(chmod(path, 0644), 0);
    s_expect(NODE "key = north.key\n", 6, "chmod 600");
    cr_assert_eq(chmod(path, 0600), 0);
    s_write("short.pub", "0123456789012345678901234567890123456789"); /* 40: fine length */
    s_write("short.pub", "012345678901234567890123456789012345678");
    s_expect(NODE "key = north.key\n[pos a]\nkey = short.pub\n", 8, "key of [pos a]: ");
    cr_assert(strstr(s_err, "39"), "%s", s_err);
    s_expect(NODE "key = north.key\n[pos a]\nkey = north.key\n", 8, "key of [pos a]: ");
    s_expect(NODE "insecure = maybe\n", 6, "expected true or false");
}

Test(config, protected_mode)
{
    /* no key: loopback only */
    s_expect("[node]\nid = 1\nname = n\ndata_dir = d\nlisten = tcp://0.0.0.0:7101\n", 5,
             "listen 'tcp://0.0.0.0:7101' is not a loopback address and [node] has no key");
    s_expect("[node]\nid = 1\nname = n\ndata_dir = d\nlisten = tcp://*:7101\n", 5,
             "protected mode");
    s_expect(NODE "peer_listen = tcp://127.0.0.1:7102\n[peer s]\nid = 2\n"
                  "endpoint = tcp://10.1.1.1:7202\n",
             9, "endpoint 'tcp://10.1.1.1:7202' of [peer s] is not a loopback address");
    static ly_config cf;
    s_expect_ok(NODE
                "peer_listen = ipc:///tmp/x.sock\n[peer s]\nid = 2\n"
                "endpoint = tcp://localhost:7202\n[peer t]\nid = 3\nendpoint = tcp://[::1]:7302\n",
                &cf);
    cr_assert_eq(cf.cf_curve, 0);
    /* insecure = true: on purpose */
    s_expect_ok("[node]\nid = 1\nname = n\ndata_dir = d\nlisten = tcp://0.0.0.0:7101\n"
                "insecure = true\n",
                &cf);
    cr_assert_eq(cf.cf_insecure, 1);
}
