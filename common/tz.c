/* tz.c -- zone names checked against the tz database; UTC instants converted
 * with libc (TZ=":NAME", tzset, localtime_r). See tz.h for the threading
 * contract: the process's TZ is switched only when the zone changes. */
#include "common/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The TZ value this module set last (":NAME"); "" before the first switch. */
static char s_tz_set[LY_TZ_NAME_MAX + 2];

__attribute__((format(printf, 3, 4))) static void s_why(char *why, size_t len, const char *fmt, ...)
{
    if (!why || !len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

/* 0 if `name` can be a zone name (see ly_tz_check), else -1 with the reason. */
static int s_name_ok(const char *name, char *why, size_t len)
{
    size_t n = strlen(name);
    if (n == 0) {
        s_why(why, len, "empty time zone name");
        return -1;
    }
    if (n > LY_TZ_NAME_MAX) {
        s_why(why, len, "time zone name too long (at most %d bytes)", LY_TZ_NAME_MAX);
        return -1;
    }
    if (name[0] == '/') {
        s_why(why, len, "time zone name starts with '/': give the name, not a path");
        return -1;
    }
    if (strstr(name, "..")) {
        s_why(why, len, "time zone name contains '..'");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                 ch == '/' || ch == '_' || ch == '+' || ch == '-';
        if (!ok) {
            s_why(why, len, "bad character in time zone name (use A-Z a-z 0-9 / _ + -)");
            return -1;
        }
    }
    return 0;
}

const char *ly_tz_dir(void)
{
    const char *dir = getenv("TZDIR");
    return dir && *dir ? dir : LY_TZ_DIR;
}

ly_err ly_tz_check(const char *name, char *why, size_t len)
{
    if (why && len)
        why[0] = '\0';
    if (!name) {
        s_why(why, len, "no time zone name");
        return LY_EINVAL;
    }
    if (s_name_ok(name, why, len) != 0)
        return LY_EINVAL;

    const char *dir = ly_tz_dir();
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path) {
        s_why(why, len, "zone directory path too long: '%.64s...'", dir);
        return LY_EINVAL;
    }

    /* O_NONBLOCK: a FIFO in the way must not hang the check. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        if (strcmp(name, LY_TZ_DEFAULT) == 0)
            return LY_OK; /* libc's own fallback is UTC */
        if (e == ENOENT || e == ENOTDIR)
            s_why(why, len, "no zone file %s", path);
        else
            s_why(why, len, "cannot open zone file %s: %s", path, strerror(e));
        return LY_ENOTFOUND;
    }
    ly_err rc = LY_OK;
    struct stat st;
    char magic[4];
    if (fstat(fd, &st) != 0) {
        s_why(why, len, "cannot examine zone file %s: %s", path, strerror(errno));
        rc = LY_ENOTFOUND;
    } else if (!S_ISREG(st.st_mode)) {
        s_why(why, len, "%s is not a zone file (not a regular file)", path);
        rc = LY_ENOTFOUND;
    } else if (read(fd, magic, sizeof magic) != (ssize_t)sizeof magic ||
               memcmp(magic, "TZif", 4) != 0) {
        s_why(why, len, "%s is not a zone file (no TZif magic)", path);
        rc = LY_ENOTFOUND;
    }
    close(fd);
    return rc;
}

ly_err ly_tz_init(ly_tz *tz, const char *name, char *why, size_t len)
{
    if (!tz) {
        s_why(why, len, "no time zone to fill");
        return LY_EINVAL;
    }
    ly_err rc = ly_tz_check(name, why, len);
    if (rc != LY_OK)
        return rc;
    memset(tz, 0, sizeof *tz);
    memcpy(tz->tz_name, name, strlen(name) + 1);
    return LY_OK;
}

void ly_tz_utc(ly_tz *tz)
{
    memset(tz, 0, sizeof *tz);
    memcpy(tz->tz_name, LY_TZ_DEFAULT, sizeof LY_TZ_DEFAULT);
}

int64_t ly_tz_days_from_civil(int64_t year, int month, int mday)
{
    /* Howard Hinnant's days_from_civil: years start in March, 400-year eras. */
    int64_t y = year - (month <= 2);
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t mp = month > 2 ? month - 3 : month + 9;
    int64_t doy = (153 * mp + 2) / 5 + mday - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void ly_tz_civil_from_days(int64_t days, int64_t *year, int *month, int *mday)
{
    /* Hinnant's civil_from_days, the inverse of the above. */
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *mday = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = yoe + era * 400 + (*month <= 2);
}

/* Makes `name` the process's zone unless it already is. */
static ly_err s_switch(const char *name)
{
    char want[sizeof s_tz_set];
    snprintf(want, sizeof want, ":%s", name);
    const char *cur = getenv("TZ");
    if (strcmp(s_tz_set, want) == 0 && cur && strcmp(cur, want) == 0)
        return LY_OK;
    /* Defensive: a hand-filled ly_tz must not reach outside the zone directory. */
    if (s_name_ok(name, NULL, 0) != 0)
        return LY_EINVAL;
    if (setenv("TZ", want, 1) != 0)
        return LY_ENOMEM;
    tzset();
    memcpy(s_tz_set, want, sizeof want);
    return LY_OK;
}

ly_err ly_tz_local(const ly_tz *tz, int64_t utc_ms, ly_localtime *out)
{
    if (!tz || !out || !memchr(tz->tz_name, '\0', sizeof tz->tz_name))
        return LY_EINVAL;
    ly_err rc = s_switch(tz->tz_name);
    if (rc != LY_OK)
        return rc;

    time_t t = (time_t)(utc_ms / 1000 - (utc_ms % 1000 < 0));
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return LY_EINVAL;
    int64_t day = ly_tz_days_from_civil((int64_t)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    if (day < INT32_MIN || day > INT32_MAX)
        return LY_EINVAL;
    out->lt_day = (int32_t)day;
    out->lt_minute = tm.tm_hour * 60 + tm.tm_min;
    out->lt_weekday = (tm.tm_wday + 6) % 7;
    out->lt_offset = (int32_t)tm.tm_gmtoff;
    return LY_OK;
}
