/* tz_test.c -- ly_tz_check, ly_tz_init and ly_tz_local.
 *
 * Conversions use the system's tz database (Debian package tzdata); the
 * expected values were computed independently (Python's zoneinfo) and are
 * written out. Name checks against files of our own use a temporary $TZDIR.
 * Criterion runs each test in its own process, so TZ and TZDIR set here do
 * not leak into other tests. */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/tz.h"

#define S_MIN  60000LL
#define S_HOUR (60 * S_MIN)

static char s_why[256];

/* Milliseconds since the epoch of a UTC civil time. */
static int64_t s_utc(int y, int mo, int d, int h, int mi, int s)
{
    return (ly_tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * 1000;
}

static ly_tz s_zone(const char *name)
{
    ly_tz tz;
    ly_err rc = ly_tz_init(&tz, name, s_why, sizeof s_why);
    cr_assert_eq(rc, LY_OK, "ly_tz_init(%s): %d %s", name, rc, s_why);
    cr_assert_str_eq(tz.tz_name, name);
    return tz;
}

/* Converts and checks every field. */
static void s_at(const ly_tz *tz, int64_t ms, int32_t day, int32_t minute, int32_t weekday,
                 int32_t offset)
{
    ly_localtime lt;
    ly_err rc = ly_tz_local(tz, ms, &lt);
    cr_assert_eq(rc, LY_OK, "%s at %lld: %d", tz->tz_name, (long long)ms, rc);
    cr_assert(lt.lt_day == day && lt.lt_minute == minute && lt.lt_weekday == weekday &&
                  lt.lt_offset == offset,
              "%s at %lld: day %d minute %d weekday %d offset %d, want %d %d %d %d", tz->tz_name,
              (long long)ms, lt.lt_day, lt.lt_minute, lt.lt_weekday, lt.lt_offset, day, minute,
              weekday, offset);
}

/* Minutes of the local day `day`, counted over the UTC minutes from `from`
 * for `hours` hours. */
static int s_day_minutes(const ly_tz *tz, int64_t from, int hours, int32_t day)
{
    int n = 0;
    for (int64_t ms = from; ms < from + hours * S_HOUR; ms += S_MIN) {
        ly_localtime lt;
        cr_assert_eq(ly_tz_local(tz, ms, &lt), LY_OK);
        n += lt.lt_day == day;
    }
    return n;
}

/* ---- dates ------------------------------------------------------------------ */

Test(tz, days_from_civil)
{
    cr_assert_eq(ly_tz_days_from_civil(1970, 1, 1), 0);
    cr_assert_eq(ly_tz_days_from_civil(1969, 12, 31), -1);
    cr_assert_eq(ly_tz_days_from_civil(2000, 1, 1), 10957);
    cr_assert_eq(ly_tz_days_from_civil(2000, 3, 1), 11017); /* 2000 is a leap year */
    cr_assert_eq(ly_tz_days_from_civil(2027, 3, 28), 20905);
    cr_assert_eq(ly_tz_days_from_civil(2100, 3, 1) - ly_tz_days_from_civil(2100, 2, 28), 1);
    cr_assert_eq(ly_tz_days_from_civil(1600, 1, 1), -135140);
    /* against timegm, every first and last of a month 1900..2200 */
    for (int y = 1900; y <= 2200; y++)
        for (int m = 1; m <= 12; m++) {
            struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = 1};
            cr_assert_eq(ly_tz_days_from_civil(y, m, 1) * 86400, (int64_t)timegm(&tm));
        }
    cr_assert_eq(s_utc(2027, 3, 28, 1, 0, 0), 1806195600000LL);
}

/* ---- conversions ------------------------------------------------------------ */

Test(tz, prague_spring_forward)
{
    ly_tz tz = s_zone("Europe/Prague");
    /* 2027-03-28 01:00Z: 02:00 CET becomes 03:00 CEST */
    s_at(&tz, 1806195599000LL, 20905, 1 * 60 + 59, 6, 3600);
    s_at(&tz, 1806195599999LL, 20905, 1 * 60 + 59, 6, 3600);
    s_at(&tz, 1806195600000LL, 20905, 3 * 60, 6, 7200);
    /* the local day 2027-03-28 runs from 03-27 23:00Z to 03-28 22:00Z: 23 hours */
    s_at(&tz, s_utc(2027, 3, 27, 22, 59, 59), 20904, 1439, 5, 3600);
    s_at(&tz, s_utc(2027, 3, 27, 23, 0, 0), 20905, 0, 6, 3600);
    s_at(&tz, s_utc(2027, 3, 28, 21, 59, 0), 20905, 1439, 6, 7200);
    s_at(&tz, s_utc(2027, 3, 28, 22, 0, 0), 20906, 0, 0, 7200);
    cr_assert_eq(s_day_minutes(&tz, s_utc(2027, 3, 27, 0, 0, 0), 72, 20905), 23 * 60);
}

Test(tz, prague_fall_back)
{
    ly_tz tz = s_zone("Europe/Prague");
    /* 2027-10-31 01:00Z: 03:00 CEST becomes 02:00 CET; 02:xx happens twice */
    s_at(&tz, 1824944399000LL, 21122, 2 * 60 + 59, 6, 7200);
    s_at(&tz, 1824944400000LL, 21122, 2 * 60, 6, 3600);
    s_at(&tz, s_utc(2027, 10, 30, 22, 0, 0), 21122, 0, 6, 7200);
    s_at(&tz, s_utc(2027, 10, 31, 23, 0, 0), 21123, 0, 0, 3600);
    cr_assert_eq(s_day_minutes(&tz, s_utc(2027, 10, 30, 0, 0, 0), 72, 21122), 25 * 60);
}

Test(tz, new_york)
{
    ly_tz tz = s_zone("America/New_York");
    /* 2027-03-14 07:00Z: 02:00 EST becomes 03:00 EDT */
    s_at(&tz, 1805007599000LL, 20891, 1 * 60 + 59, 6, -18000);
    s_at(&tz, 1805007600000LL, 20891, 3 * 60, 6, -14400);
    s_at(&tz, s_utc(2027, 3, 14, 5, 0, 0), 20891, 0, 6, -18000); /* local midnight */
    s_at(&tz, s_utc(2027, 3, 15, 4, 0, 0), 20892, 0, 0, -14400); /* the next one */
    cr_assert_eq(s_day_minutes(&tz, s_utc(2027, 3, 13, 0, 0, 0), 72, 20891), 23 * 60);
    /* 2027-11-07 06:00Z: 02:00 EDT becomes 01:00 EST */
    s_at(&tz, 1825567199000LL, 21129, 1 * 60 + 59, 6, -14400);
    s_at(&tz, 1825567200000LL, 21129, 1 * 60, 6, -18000);
    cr_assert_eq(s_day_minutes(&tz, s_utc(2027, 11, 6, 0, 0, 0), 72, 21129), 25 * 60);
    /* New Year in UTC is still Thursday 2026-12-31, 22:00 in New York */
    s_at(&tz, 1798772400000LL, 20818, 22 * 60, 3, -18000);
}

Test(tz, weekdays)
{
    ly_tz utc, prague = s_zone("Europe/Prague");
    ly_tz_utc(&utc);
    /* 1970-01-01 was a Thursday; 2027-03-22 a Monday */
    s_at(&utc, 0, 0, 0, 3, 0);
    s_at(&utc, -1, -1, 1439, 2, 0); /* negative instants round down */
    s_at(&utc, -86400000LL, -1, 0, 2, 0);
    int32_t monday = (int32_t)ly_tz_days_from_civil(2027, 3, 22);
    for (int i = 0; i < 14; i++) {
        /* noon UTC is the same local day in Prague */
        int64_t ms = s_utc(2027, 3, 22 + i, 12, 0, 0);
        ly_localtime lt;
        cr_assert_eq(ly_tz_local(&prague, ms, &lt), LY_OK);
        cr_assert_eq(lt.lt_day, monday + i);
        cr_assert_eq(lt.lt_weekday, i % 7, "2027-03-%d: weekday %d", 22 + i, lt.lt_weekday);
    }
    /* Sunday 23:30 UTC is Monday 00:30 in Prague */
    s_at(&prague, s_utc(2027, 3, 21, 23, 30, 0), monday, 30, 0, 3600);
    s_at(&utc, s_utc(2027, 3, 21, 23, 30, 0), monday - 1, 23 * 60 + 30, 6, 0);
}

Test(tz, utc_default)
{
    ly_tz tz;
    ly_tz_utc(&tz);
    cr_assert_str_eq(tz.tz_name, "UTC");
    cr_assert_str_eq(LY_TZ_DEFAULT, "UTC");
    s_at(&tz, s_utc(2027, 3, 28, 1, 0, 0), 20905, 60, 6, 0);
    s_at(&tz, s_utc(2027, 7, 1, 23, 59, 59), (int32_t)ly_tz_days_from_civil(2027, 7, 1), 1439, 3,
         0);
    /* UTC needs no zone file: libc's fallback is UTC itself */
    char dir[] = "/tmp/ly-tz-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(setenv("TZDIR", dir, 1), 0);
    cr_assert_eq(ly_tz_check("UTC", s_why, sizeof s_why), LY_OK, "%s", s_why);
    cr_assert_eq(ly_tz_check("Europe/Prague", s_why, sizeof s_why), LY_ENOTFOUND);
    s_at(&tz, s_utc(2027, 3, 28, 1, 0, 0), 20905, 60, 6, 0);
    rmdir(dir);
}

Test(tz, zones_share_the_process)
{
    /* Several nodes in one process, each with its zone, interleaved */
    ly_tz p = s_zone("Europe/Prague"), n = s_zone("America/New_York"), u;
    ly_tz_utc(&u);
    int64_t ms = s_utc(2027, 3, 28, 1, 0, 0);
    for (int i = 0; i < 3; i++) {
        s_at(&p, ms, 20905, 180, 6, 7200);
        cr_assert_str_eq(getenv("TZ"), ":Europe/Prague");
        s_at(&p, ms, 20905, 180, 6, 7200); /* same zone: no switch needed */
        s_at(&n, ms, 20904, 21 * 60, 5, -14400);
        cr_assert_str_eq(getenv("TZ"), ":America/New_York");
        s_at(&u, ms, 20905, 60, 6, 0);
    }
    /* someone else changed TZ behind our back: the next conversion notices */
    s_at(&p, ms, 20905, 180, 6, 7200);
    cr_assert_eq(setenv("TZ", "UTC", 1), 0);
    tzset();
    s_at(&p, ms, 20905, 180, 6, 7200);
}

/* ---- names ------------------------------------------------------------------ */

Test(tz, known_names)
{
    static const char *const ok[] = {"UTC",         "Europe/Prague", "America/New_York",
                                     "Etc/GMT+5",   "Etc/GMT-14",    "America/Port-au-Prince",
                                     "Asia/Kolkata"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        cr_assert_eq(ly_tz_check(ok[i], s_why, sizeof s_why), LY_OK, "%s: %s", ok[i], s_why);
    ly_tz tz = s_zone("Etc/GMT+5"); /* POSIX sign: five hours behind */
    s_at(&tz, 0, -1, 19 * 60, 2, -18000);
}

Test(tz, bad_names)
{
    static const struct {
        const char *name;
        ly_err rc;
        const char *why;
    } bad[] = {
        {"", LY_EINVAL, "empty"},
        {"/usr/share/zoneinfo/UTC", LY_EINVAL, "starts with '/'"},
        {"../../../etc/passwd", LY_EINVAL, "'..'"},
        {"Europe/../UTC", LY_EINVAL, "'..'"},
        {"Europe/Prague ", LY_EINVAL, "bad character"},
        {"Europe\\Prague", LY_EINVAL, "bad character"},
        {"zone.tab", LY_EINVAL, "bad character"},
        {"Europe/Prag\n", LY_EINVAL, "bad character"},
        {"Europe/Prägue", LY_EINVAL, "bad character"},
        {"A123456789b123456789c123456789d123456789e123456789f123456789g1234", LY_EINVAL,
         "too long"},
        {"Europe/Prag", LY_ENOTFOUND, "no zone file /usr/share/zoneinfo/Europe/Prag"},
        {"europe/prague", LY_ENOTFOUND, "no zone file"},
        {"Mars/Olympus", LY_ENOTFOUND, "no zone file"},
        {"Europe", LY_ENOTFOUND, "not a regular file"},
        {"Europe/Prague/x", LY_ENOTFOUND, "no zone file"},
    };
    unsetenv("TZDIR");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ly_tz tz;
        memset(&tz, 0x5a, sizeof tz);
        ly_tz before = tz;
        ly_err rc = ly_tz_init(&tz, bad[i].name, s_why, sizeof s_why);
        cr_assert_eq(rc, bad[i].rc, "'%s': %d (%s), want %d", bad[i].name, rc, s_why, bad[i].rc);
        cr_assert(strstr(s_why, bad[i].why), "'%s': '%s' lacks '%s'", bad[i].name, s_why,
                  bad[i].why);
        cr_assert(memcmp(&tz, &before, sizeof tz) == 0, "'%s': tz changed on error", bad[i].name);
    }
    cr_assert_eq(ly_tz_check(NULL, s_why, sizeof s_why), LY_EINVAL);
    cr_assert_eq(ly_tz_check("Nope/Nope", NULL, 0), LY_ENOTFOUND);
    cr_assert_eq(ly_tz_init(NULL, "UTC", NULL, 0), LY_EINVAL);
}

Test(tz, hand_filled_zone_refused)
{
    ly_tz tz;
    ly_localtime lt;
    memset(&tz, 0, sizeof tz);
    snprintf(tz.tz_name, sizeof tz.tz_name, "../../etc/passwd");
    cr_assert_eq(ly_tz_local(&tz, 0, &lt), LY_EINVAL);
    memset(tz.tz_name, 'A', sizeof tz.tz_name); /* not terminated */
    cr_assert_eq(ly_tz_local(&tz, 0, &lt), LY_EINVAL);
    cr_assert_eq(ly_tz_local(NULL, 0, &lt), LY_EINVAL);
    ly_tz_utc(&tz);
    cr_assert_eq(ly_tz_local(&tz, 0, NULL), LY_EINVAL);
}

static void s_put(const char *path, const char *bytes, size_t n)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(bytes, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

Test(tz, tzdir_files)
{
    char dir[] = "/tmp/ly-tz-XXXXXX", p[256], q[256];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(p, sizeof p, "%s/Test", dir);
    cr_assert_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/Test/Good", dir);
    s_put(p, "TZif2\0\0\0", 8);
    snprintf(p, sizeof p, "%s/Test/Text", dir);
    s_put(p, "# not a zone\n", 13);
    snprintf(p, sizeof p, "%s/Test/Short", dir);
    s_put(p, "TZ", 2);
    snprintf(p, sizeof p, "%s/Test/Link", dir);
    cr_assert_eq(symlink("Good", p), 0);
    snprintf(p, sizeof p, "%s/Test/Dangling", dir);
    cr_assert_eq(symlink("Nowhere", p), 0);
    snprintf(p, sizeof p, "%s/Test/Fifo", dir);
    cr_assert_eq(mkfifo(p, 0644), 0);

    cr_assert_eq(setenv("TZDIR", dir, 1), 0);
    cr_assert_str_eq(ly_tz_dir(), dir);
    cr_assert_eq(ly_tz_check("Test/Good", s_why, sizeof s_why), LY_OK, "%s", s_why);
    cr_assert_eq(ly_tz_check("Test/Link", s_why, sizeof s_why), LY_OK, "%s", s_why);
    cr_assert_eq(ly_tz_check("Test/Text", s_why, sizeof s_why), LY_ENOTFOUND);
    cr_assert(strstr(s_why, "no TZif magic"), "%s", s_why);
    cr_assert_eq(ly_tz_check("Test/Short", s_why, sizeof s_why), LY_ENOTFOUND);
    cr_assert(strstr(s_why, "no TZif magic"), "%s", s_why);
    cr_assert_eq(ly_tz_check("Test/Dangling", s_why, sizeof s_why), LY_ENOTFOUND);
    cr_assert(strstr(s_why, "no zone file"), "%s", s_why);
    cr_assert_eq(ly_tz_check("Test/Fifo", s_why, sizeof s_why), LY_ENOTFOUND);
    cr_assert(strstr(s_why, "not a regular file"), "%s", s_why);
    cr_assert_eq(ly_tz_check("Test", s_why, sizeof s_why), LY_ENOTFOUND);
    snprintf(q, sizeof q, "no zone file %s/Europe/Prague", dir);
    cr_assert_eq(ly_tz_check("Europe/Prague", s_why, sizeof s_why), LY_ENOTFOUND);
    cr_assert_str_eq(s_why, q);
    /* an empty TZDIR means the default directory */
    cr_assert_eq(setenv("TZDIR", "", 1), 0);
    cr_assert_str_eq(ly_tz_dir(), "/usr/share/zoneinfo");
    cr_assert_eq(ly_tz_check("Europe/Prague", s_why, sizeof s_why), LY_OK, "%s", s_why);

    static const char *const files[] = {"Good", "Text", "Short", "Link", "Dangling", "Fifo"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/Test/%s", dir, files[i]);
        unlink(p);
    }
    snprintf(p, sizeof p, "%s/Test", dir);
    rmdir(p);
    rmdir(dir);
}
