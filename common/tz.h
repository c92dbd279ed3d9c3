/* tz.h -- a branch's time zone: IANA names, and UTC instants as local dates.
 *
 * A branch's zone is its node config's `timezone` (common/config.h). Campaign
 * days and hours, and birthdays, are the branch's local time (common/program.h);
 * tier periods stay UTC days, so that every branch gives a customer the same
 * tier.
 *
 * The rules come from the system's tz database (Debian package tzdata):
 * libc's localtime_r, with TZ set to ":NAME", converts. Nothing here parses a
 * zone file beyond its 4-byte magic.
 *
 * Threads: NOT thread-safe. The conversion changes the process's TZ
 * environment variable (setenv + tzset) when the zone it needs differs from
 * the one last set, so that several nodes with different zones can share one
 * process (tests do). Call ly_tz_local only from one thread, the one that owns
 * the node loops, and let no other code in the process set TZ or call tzset,
 * localtime or mktime concurrently. Child processes started afterwards inherit
 * the TZ last set. */
#ifndef LY_TZ_H
#define LY_TZ_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define LY_TZ_NAME_MAX 63                    /* bytes in a zone name; IANA's longest is 32 */
#define LY_TZ_DEFAULT  "UTC"                 /* the zone of a node config that names none */
#define LY_TZ_DIR      "/usr/share/zoneinfo" /* unless $TZDIR is set and not empty */

/* A zone, by name. Embedded, no resources: copy it freely; no fini. */
typedef struct ly_tz {
    char tz_name[LY_TZ_NAME_MAX + 1]; /* as given: "Europe/Prague" */
} ly_tz;

/* An instant as a branch sees it. */
typedef struct ly_localtime {
    int32_t lt_day;     /* local calendar date, days since 1970-01-01 */
    int32_t lt_minute;  /* local minutes after midnight, 0..1439 */
    int32_t lt_weekday; /* 0 Monday .. 6 Sunday */
    int32_t lt_offset;  /* local minus UTC, in seconds (3600 for CET, 7200 for CEST) */
} ly_localtime;

/* Checks that `name` is a zone this machine knows:
 *  - 1..LY_TZ_NAME_MAX bytes of A-Z a-z 0-9 / _ + -, not starting with '/',
 *    no ".." (a name never leaves the zone directory);
 *  - the zone directory ($TZDIR if set and not empty, else LY_TZ_DIR) holds
 *    a regular file of that name (symbolic links followed: UTC -> Etc/UTC)
 *    that starts with the TZif magic.
 * LY_TZ_DEFAULT is accepted even without the file: libc falls back to UTC
 * itself, so its conversion is right with or without tzdata.
 * Returns LY_OK, LY_EINVAL (a name that cannot be a zone) or LY_ENOTFOUND (no
 * such zone file, or not a zone file); with the reason, lowercase, in `why`
 * (`len` bytes; NULL allowed): "no zone file /usr/share/zoneinfo/Europe/Prag". */
ly_err ly_tz_check(const char *name, char *why, size_t len);

/* The zone directory names are looked up in: $TZDIR if set and not empty,
 * else LY_TZ_DIR. Borrowed: valid until the environment changes. */
const char *ly_tz_dir(void);

/* ly_tz_check, then stores the name in `tz`. On error `tz` is untouched. */
ly_err ly_tz_init(ly_tz *tz, const char *name, char *why, size_t len);

/* `tz` set to LY_TZ_DEFAULT (checks nothing, cannot fail). */
void ly_tz_utc(ly_tz *tz);

/* The local date, minute of day, weekday and offset at the branch of zone `tz`
 * at `utc_ms`, milliseconds since 1970-01-01T00:00:00Z (negative allowed).
 * Switches the process's TZ to ":NAME" first if the last zone set here (or the
 * current TZ) differs: see Threads above. `tz` must have come from ly_tz_init
 * or ly_tz_utc; a zone file removed since then converts as UTC (libc's
 * fallback), which this cannot detect, and a tzdata update is seen at the
 * next switch of zone or restart (libc reads the file at tzset).
 * Returns LY_OK, LY_EINVAL (NULL argument, a name ly_tz_check refuses as a
 * name, or a year libc cannot represent) or LY_ENOMEM (setenv failed); `out`
 * is untouched on error. */
ly_err ly_tz_local(const ly_tz *tz, int64_t utc_ms, ly_localtime *out);

/* Days since 1970-01-01 of the proleptic Gregorian date `year`-`month`-`mday`
 * (month 1..12, mday 1..31; not range-checked; exact for |year| below 10^12).
 * For tests and callers that hold a civil date: 2027-03-28 -> 20905. */
int64_t ly_tz_days_from_civil(int64_t year, int month, int mday);

/* The inverse: the proleptic Gregorian date of day `days` since 1970-01-01.
 * These two are the project's only calendar arithmetic (program files,
 * tier periods, birthdays use them). */
void ly_tz_civil_from_days(int64_t days, int64_t *year, int *month, int *mday);

#endif
