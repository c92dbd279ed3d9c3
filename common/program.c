/* program.c -- the program file (libinih), its checks, canonical form and hash.
 *
 * The parser feeds libinih one line at a time through its own reader (as
 * config.c does), so it knows the line of every key; it reads section headers
 * itself (inih truncates their names and never reports an empty section) and
 * passes a line longer than inih's buffer as the key alone, keeping the value
 * aside. Each key is checked for syntax and range where it is read; what needs
 * the whole file (required keys, order of thresholds, names a campaign refers
 * to, a window's end before its start) is checked by s_check, the same
 * function ly_progdef_decode runs, which names the section and key at fault so
 * the parser can give its line.
 *
 * Nothing half-built escapes: the definition is assembled in a private
 * context and copied out only when the whole file passed. */
#include "common/program.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/hash.h"
#include "common/initext.h"
#include "common/tz.h"
#include "common/record.h"

_Static_assert(LY_PD_BRANCH_MAX == LY_NODE_NAME_MAX, "a branch is a node name");
_Static_assert(LY_PD_ITEM_MAX >= LY_CATEGORY_MAX && LY_PD_ITEM_MAX >= LY_TIER_NAME_MAX,
               "list entries hold category and tier names");

/* Tier, category and campaign names share one limit. */
#define S_LABEL_MAX LY_TIER_NAME_MAX
_Static_assert(LY_CATEGORY_MAX == S_LABEL_MAX && LY_PD_CAMPAIGN_MAX == S_LABEL_MAX,
               "one limit for names of sections");

#define S_FORMAT  1 /* version of the canonical form */
#define S_MSG_MAX 512

/* ---- sections and keys ---------------------------------------------------- */

enum { S_PROGRAM = 1, S_TIERS, S_TIER, S_CATEGORY, S_CAMPAIGN, S_JOIN, S_BIRTHDAY, S_NKINDS };
enum { K_NAME, K_VERSION, K_EFFECTIVE, K_MINOR, K_RATE, K_ROUNDING };
enum { K_QUAL, K_WINDOW, K_ON, K_DOWNGRADE, K_GRACE };
enum { K_THRESHOLD, K_TIER_MULT };
enum { K_CAT_MULT, K_EARNS };
enum {
    K_MULT,
    K_BONUS,
    K_FROM,
    K_UNTIL,
    K_WEEKDAYS,
    K_HOURS,
    K_CATEGORIES,
    K_BRANCHES,
    K_TIERS,
    K_MIN_AMOUNT
};
enum { K_POINTS, K_BDAY_WINDOW, K_BDAY_SET };
#define S_KEYS_MAX 10

static const struct {
    const char *kind;  /* as in the header: "tier" */
    const char *name;  /* the fixed name of a [bonus ...] section, else NULL */
    int named;         /* the header carries a name chosen by the file */
    unsigned required; /* bit k: key k is required */
    const char *const keys[S_KEYS_MAX + 1];
} s_kinds[S_NKINDS] = {
    [S_PROGRAM] = {"program",
                   NULL,
                   0,
                   1u << K_NAME | 1u << K_VERSION | 1u << K_MINOR | 1u << K_RATE,
                   {"name", "version", "effective", "minor_units", "points_per_unit", "rounding",
                    NULL}},
    [S_TIERS] = {"tiers",
                 NULL,
                 0,
                 1u << K_QUAL,
                 {"qualification", "window_days", "qualify_on", "downgrade", "grace_days", NULL}},
    [S_TIER] =
        {"tier", NULL, 1, 1u << K_THRESHOLD | 1u << K_TIER_MULT, {"threshold", "multiplier", NULL}},
    [S_CATEGORY] = {"category", NULL, 1, 0, {"multiplier", "earns", NULL}},
    [S_CAMPAIGN] = {"campaign",
                    NULL,
                    1,
                    0,
                    {"multiplier", "bonus", "from", "until", "weekdays", "hours", "categories",
                     "branches", "tiers", "min_amount", NULL}},
    [S_JOIN] = {"bonus", "join", 0, 1u << K_POINTS, {"points", NULL}},
    [S_BIRTHDAY] =
        {"bonus", "birthday", 0, 1u << K_POINTS, {"points", "window_days", "min_set_days", NULL}},
};

/* Where s_check found a fault: a section (kind and index among its kind) and
 * a key of it, or -1 for the section itself. */
typedef struct s_loc {
    int lo_kind; /* 0: the whole definition */
    int lo_index;
    int lo_key;
} s_loc;

static const char *const s_qual_words[] = {NULL, "rolling", "calendar", "anniversary", NULL};
static const char *const s_basis_words[] = {NULL, "base_points", "spend", NULL};
static const char *const s_down_words[] = {NULL, "to_qualified", "one_down", NULL};
static const char *const s_round_words[] = {NULL, "down", NULL};
static const char *const s_earns_words[] = {"no", "yes", NULL};
static const char *const s_day_words[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun", NULL};

/* ---- small helpers -------------------------------------------------------- */

/* 1 if the `cap` bytes at `s` hold a NUL (a string the struct can carry). */
static int s_terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

/* Tier, category and campaign names: an id (event.h) of 1..max bytes. */
static int s_label_ok(const char *s, size_t max)
{
    return ly_id_valid(s) && strlen(s) <= max;
}

/* Branch names, as the node config accepts them: 1..63 of [A-Za-z0-9._-]. */
static int s_branch_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > LY_PD_BRANCH_MAX || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
            return 0;
    return 1;
}

/* The program name: UTF-8 text (no control characters), 1..63 bytes, no
 * ';' and no surrounding blanks, so that it reads back as written. */
static int s_pname_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && ly_text_valid(s, LY_PD_NAME_MAX) && !strchr(s, ';') && s[0] != ' ' &&
           s[n - 1] != ' ';
}

/* Length of the UTF-8 sequence at `p` (shortest form, no surrogates, at most
 * U+10FFFF), or 0 if it is not one. */
static int s_utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    int n;
    unsigned cp, min;
    if (c < 0x80)
        return 1;
    if ((c & 0xe0) == 0xc0) {
        n = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* ---- days ----------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
/* `n` decimal digits at `s` into `*out`. */
static int s_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* "YYYY-MM-DD" at the start of `s` (exactly 10 bytes) into a day in range. */
static int s_parse_day(const char *s, int32_t *out)
{
    int y, m, d;
    if (strlen(s) < 10 || s[4] != '-' || s[7] != '-' || s_digits(s, 4, &y) ||
        s_digits(s + 5, 2, &m) || s_digits(s + 8, 2, &d))
        return -1;
    if (y < 2000 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    int32_t z = (int32_t)ly_tz_days_from_civil(y, m, d);
    int64_t yy;
    int mm, dd;
    ly_tz_civil_from_days(z, &yy, &mm, &dd);
    if (mm != m || dd != d) /* 2027-02-30 */
        return -1;
    *out = z;
    return 0;
}

static const char *s_day_str(int32_t day, char *buf, size_t len);

const char *ly_pd_day_str(int32_t day, char *buf, size_t len)
{
    return s_day_str(day, buf, len);
}

static const char *s_day_str(int32_t day, char *buf, size_t len)
{
    int64_t y;
    int m, d;
    ly_tz_civil_from_days(day, &y, &m, &d);
    snprintf(buf, len, "%04lld-%02d-%02d", (long long)y, m, d);
    return buf;
}

/* "2027-01-01T00:00:00Z" into ms since the epoch. */
static int s_parse_utc(const char *s, int64_t *out)
{
    int32_t day;
    int h, mi, se;
    if (strlen(s) != 20 || s_parse_day(s, &day) || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        s[19] != 'Z' || s_digits(s + 11, 2, &h) || s_digits(s + 14, 2, &mi) ||
        s_digits(s + 17, 2, &se) || h > 23 || mi > 59 || se > 59)
        return -1;
    *out = ((int64_t)day * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + se) * 1000;
    return 0;
}

static const char *s_utc_str(int64_t ms, char *buf, size_t len)
{
    int64_t s = ms / 1000;
    char day[16];
    s_day_str((int32_t)(s / 86400), day, sizeof day);
    int sod = (int)(s % 86400);
    snprintf(buf, len, "%sT%02d:%02d:%02dZ", day, sod / 3600, sod / 60 % 60, sod % 60);
    return buf;
}

/* Monday 0 .. Sunday 6; 1970-01-01 was a Thursday. */
static int s_weekday(int32_t day)
{
    return (int)(((day % 7) + 7 + 3) % 7);
}

/* ---- the check (parser and decoder) --------------------------------------- */

typedef struct s_report {
    s_loc *loc; /* may be NULL */
    char *why;  /* may be NULL */
    size_t why_len;
} s_report;

__attribute__((format(printf, 5, 6))) static ly_err s_bad(const s_report *r, int kind, int index,
                                                          int key, const char *fmt, ...)
{
    if (r->loc)
        *r->loc = (s_loc){kind, index, key};
    if (r->why && r->why_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->why, r->why_len, fmt, ap);
        va_end(ap);
    }
    return LY_EINVAL;
}

static int s_tier_index(const ly_progdef *pd, const char *name)
{
    for (int i = 0; i < pd->pd_ntiers; i++)
        if (strcmp(pd->pd_tiers[i].ti_name, name) == 0)
            return i;
    return -1;
}

static const ly_pd_category *s_category(const ly_progdef *pd, const char *name)
{
    if (name && name[0])
        for (int i = 0; i < pd->pd_ncategories; i++)
            if (strcmp(pd->pd_categories[i].pc_name, name) == 0)
                return &pd->pd_categories[i];
    return NULL;
}

static int s_in_list(const ly_pd_list *l, const char *s)
{
    for (int i = 0; i < l->pl_n; i++)
        if (strcmp(l->pl_items[i], s) == 0)
            return 1;
    return 0;
}

/* A campaign's list: entries valid for their kind, sorted, no duplicates, and
 * (categories, tiers) defined. */
static ly_err s_check_list(const ly_progdef *pd, int ci, int key, const s_report *r)
{
    const ly_pd_campaign *cp = &pd->pd_campaigns[ci];
    const ly_pd_list *l = key == K_CATEGORIES ? &cp->cp_categories
                          : key == K_BRANCHES ? &cp->cp_branches
                                              : &cp->cp_tiers;
    const char *what = s_kinds[S_CAMPAIGN].keys[key];
    if (l->pl_n < 0 || l->pl_n > LY_PD_LIST_MAX)
        return s_bad(r, S_CAMPAIGN, ci, key, "'%s' of [campaign %s]: at most %d names", what,
                     cp->cp_name, LY_PD_LIST_MAX);
    for (int i = 0; i < l->pl_n; i++) {
        const char *s = l->pl_items[i];
        if (!s_terminated(s, sizeof l->pl_items[i]))
            return s_bad(r, S_CAMPAIGN, ci, key, "'%s' of [campaign %s]: name too long", what,
                         cp->cp_name);
        int ok = key == K_BRANCHES ? s_branch_ok(s, LY_PD_BRANCH_MAX) : s_label_ok(s, S_LABEL_MAX);
        if (!ok)
            return s_bad(r, S_CAMPAIGN, ci, key, "bad name '%.64s' in '%s' of [campaign %s]", s,
                         what, cp->cp_name);
        if (i > 0 && strcmp(l->pl_items[i - 1], s) >= 0)
            return s_bad(r, S_CAMPAIGN, ci, key,
                         "'%s' of [campaign %s] is not a sorted set ('%.64s' after '%.64s')", what,
                         cp->cp_name, s, l->pl_items[i - 1]);
        if (key == K_TIERS && s_tier_index(pd, s) < 0)
            return s_bad(r, S_CAMPAIGN, ci, key,
                         "[campaign %s] names tier '%s', which has no [tier %s] section",
                         cp->cp_name, s, s);
        if (key == K_CATEGORIES) {
            const ly_pd_category *ca = s_category(pd, s);
            if (!ca)
                return s_bad(r, S_CAMPAIGN, ci, key,
                             "[campaign %s] names category '%s', which has no [category %s] "
                             "section",
                             cp->cp_name, s, s);
            if (!ca->pc_earns)
                return s_bad(r, S_CAMPAIGN, ci, key,
                             "[campaign %s] names category '%s', which does not earn (earns = "
                             "no): the campaign could never apply to it",
                             cp->cp_name, s);
        }
    }
    return LY_OK;
}

static ly_err s_check_campaign(const ly_progdef *pd, int ci, const s_report *r)
{
    const ly_pd_campaign *cp = &pd->pd_campaigns[ci];
    char a[16], b[16];
    if (!s_terminated(cp->cp_name, sizeof cp->cp_name) ||
        !s_label_ok(cp->cp_name, LY_PD_CAMPAIGN_MAX))
        return s_bad(r, S_CAMPAIGN, ci, -1, "bad campaign name");
    for (int j = 0; j < ci; j++)
        if (strcmp(pd->pd_campaigns[j].cp_name, cp->cp_name) == 0)
            return s_bad(r, S_CAMPAIGN, ci, -1, "campaign '%s' is defined twice", cp->cp_name);
    if ((cp->cp_mult == 0) == (cp->cp_bonus == 0))
        return s_bad(r, S_CAMPAIGN, ci, -1,
                     "[campaign %s] needs exactly one of 'multiplier' and 'bonus'", cp->cp_name);
    if (cp->cp_mult && (cp->cp_mult <= LY_MILLI || cp->cp_mult > LY_PD_MULT_MAX))
        return s_bad(r, S_CAMPAIGN, ci, K_MULT,
                     "'multiplier' of [campaign %s] must be above 1 and at most 100", cp->cp_name);
    if (cp->cp_bonus && (cp->cp_bonus < 0 || cp->cp_bonus > LY_PD_BONUS_MAX))
        return s_bad(r, S_CAMPAIGN, ci, K_BONUS, "'bonus' of [campaign %s] must be 1..%d",
                     cp->cp_name, LY_PD_BONUS_MAX);
    if (cp->cp_from && (cp->cp_from < LY_PD_DAY_MIN || cp->cp_from > LY_PD_DAY_MAX))
        return s_bad(r, S_CAMPAIGN, ci, K_FROM, "'from' of [campaign %s] out of range",
                     cp->cp_name);
    if (cp->cp_until && (cp->cp_until < LY_PD_DAY_MIN || cp->cp_until > LY_PD_DAY_MAX))
        return s_bad(r, S_CAMPAIGN, ci, K_UNTIL, "'until' of [campaign %s] out of range",
                     cp->cp_name);
    if (cp->cp_from && cp->cp_until && cp->cp_until < cp->cp_from)
        return s_bad(r, S_CAMPAIGN, ci, K_UNTIL,
                     "[campaign %s] ends (until %s) before it starts (from %s)", cp->cp_name,
                     s_day_str(cp->cp_until, a, sizeof a), s_day_str(cp->cp_from, b, sizeof b));
    if (cp->cp_weekdays == 0 || cp->cp_weekdays > LY_PD_EVERY_DAY)
        return s_bad(r, S_CAMPAIGN, ci, K_WEEKDAYS, "'weekdays' of [campaign %s] is empty",
                     cp->cp_name);
    if (cp->cp_start_min >= LY_PD_DAY_MINUTES || cp->cp_end_min <= cp->cp_start_min ||
        cp->cp_end_min > LY_PD_DAY_MINUTES)
        return s_bad(r, S_CAMPAIGN, ci, K_HOURS,
                     "'hours' of [campaign %s] must start before "
                     "they end, within the day",
                     cp->cp_name);
    if (cp->cp_min_amount < 0 || cp->cp_min_amount > LY_AMOUNT_MAX)
        return s_bad(r, S_CAMPAIGN, ci, K_MIN_AMOUNT, "'min_amount' of [campaign %s] out of range",
                     cp->cp_name);
    ly_err rc;
    if ((rc = s_check_list(pd, ci, K_CATEGORIES, r)) != LY_OK ||
        (rc = s_check_list(pd, ci, K_BRANCHES, r)) != LY_OK ||
        (rc = s_check_list(pd, ci, K_TIERS, r)) != LY_OK)
        return rc;
    return LY_OK;
}

/* Two years (366 + 365 days) and grace fit in LY_QUAL_KEEP_DAYS (800). */
#define S_YEARLY_GRACE_MAX (LY_QUAL_KEEP_DAYS - 731)

static ly_err s_check_tiers(const ly_progdef *pd, const s_report *r)
{
    if (pd->pd_qual < LY_PD_ROLLING || pd->pd_qual > LY_PD_ANNIVERSARY)
        return s_bad(r, S_TIERS, 0, K_QUAL, "bad qualification");
    if (pd->pd_qual == LY_PD_ROLLING &&
        (pd->pd_window_days < 1 || pd->pd_window_days > LY_PD_WINDOW_MAX))
        return s_bad(r, S_TIERS, 0, K_WINDOW, "qualification = rolling needs window_days 1..%d",
                     LY_PD_WINDOW_MAX);
    if (pd->pd_qual != LY_PD_ROLLING && pd->pd_window_days != 0)
        return s_bad(r, S_TIERS, 0, K_WINDOW,
                     "window_days applies only to qualification = rolling");
    if (pd->pd_basis < LY_PD_ON_BASE_POINTS || pd->pd_basis > LY_PD_ON_SPEND)
        return s_bad(r, S_TIERS, 0, K_ON, "bad qualify_on");
    if (pd->pd_downgrade < LY_PD_TO_QUALIFIED || pd->pd_downgrade > LY_PD_ONE_DOWN)
        return s_bad(r, S_TIERS, 0, K_DOWNGRADE, "bad downgrade");
    if (pd->pd_grace_days < 0 || pd->pd_grace_days > LY_PD_GRACE_MAX)
        return s_bad(r, S_TIERS, 0, K_GRACE, "grace_days must be 0..%d", LY_PD_GRACE_MAX);
    if (pd->pd_ntiers < 1 || pd->pd_ntiers > LY_PD_TIERS_MAX)
        return s_bad(r, 0, 0, -1, "a program needs 1..%d [tier NAME] sections", LY_PD_TIERS_MAX);
    for (int i = 0; i < pd->pd_ntiers; i++) {
        const ly_tier *t = &pd->pd_tiers[i];
        if (!s_terminated(t->ti_name, sizeof t->ti_name) ||
            !s_label_ok(t->ti_name, LY_TIER_NAME_MAX))
            return s_bad(r, S_TIER, i, -1, "bad tier name");
        for (int j = 0; j < i; j++)
            if (strcmp(pd->pd_tiers[j].ti_name, t->ti_name) == 0)
                return s_bad(r, S_TIER, i, -1, "tier '%s' is defined twice", t->ti_name);
        if (t->ti_mult < 1 || t->ti_mult > LY_PD_MULT_MAX)
            return s_bad(r, S_TIER, i, K_TIER_MULT, "'multiplier' of [tier %s] must be 0.001..100",
                         t->ti_name);
        if (t->ti_threshold < 0 || t->ti_threshold > LY_AMOUNT_MAX)
            return s_bad(r, S_TIER, i, K_THRESHOLD, "'threshold' of [tier %s] out of range",
                         t->ti_name);
        if (i == 0 && t->ti_threshold != 0)
            return s_bad(r, S_TIER, i, K_THRESHOLD,
                         "the first tier [tier %s] must have threshold 0 (it is the base tier)",
                         t->ti_name);
        if (i > 0 && t->ti_threshold <= pd->pd_tiers[i - 1].ti_threshold)
            return s_bad(r, S_TIER, i, K_THRESHOLD,
                         "threshold %lld of [tier %s] must be above %lld of [tier %s]: list "
                         "tiers by strictly increasing threshold",
                         (long long)t->ti_threshold, t->ti_name,
                         (long long)pd->pd_tiers[i - 1].ti_threshold, pd->pd_tiers[i - 1].ti_name);
    }
    /* What the tier rules read must lie within the qualifying days a customer's
     * state keeps (LY_QUAL_KEEP_DAYS, tiers.h): refuse what they could not honour. */
    if (pd->pd_qual == LY_PD_ROLLING) {
        int steps = pd->pd_downgrade == LY_PD_ONE_DOWN ? pd->pd_ntiers - 1 : 1;
        if ((int64_t)pd->pd_window_days + (int64_t)steps * pd->pd_grace_days > LY_QUAL_KEEP_DAYS)
            return s_bad(r, S_TIERS, 0, K_GRACE,
                         "window_days + grace_days%s must be at most %d (the qualifying days "
                         "kept per customer)",
                         steps > 1 ? " x the tiers one_down may step through" : "",
                         LY_QUAL_KEEP_DAYS);
    } else {
        if (pd->pd_downgrade == LY_PD_ONE_DOWN)
            return s_bad(r, S_TIERS, 0, K_DOWNGRADE,
                         "downgrade = one_down needs qualification = rolling: with yearly "
                         "periods its second step lies beyond the %d qualifying days kept per "
                         "customer",
                         LY_QUAL_KEEP_DAYS);
        if (pd->pd_grace_days > S_YEARLY_GRACE_MAX)
            return s_bad(r, S_TIERS, 0, K_GRACE,
                         "grace_days must be 0..%d with qualification = %s: a tier reached in a "
                         "year holds through the next one plus grace, within the %d qualifying "
                         "days kept per customer",
                         S_YEARLY_GRACE_MAX,
                         pd->pd_qual == LY_PD_CALENDAR ? "calendar" : "anniversary",
                         LY_QUAL_KEEP_DAYS);
    }
    return LY_OK;
}

static ly_err s_check_categories(const ly_progdef *pd, const s_report *r)
{
    if (pd->pd_ncategories < 0 || pd->pd_ncategories > LY_PD_CATEGORIES_MAX)
        return s_bad(r, 0, 0, -1, "at most %d categories", LY_PD_CATEGORIES_MAX);
    for (int i = 0; i < pd->pd_ncategories; i++) {
        const ly_pd_category *ca = &pd->pd_categories[i];
        if (!s_terminated(ca->pc_name, sizeof ca->pc_name) ||
            !s_label_ok(ca->pc_name, LY_CATEGORY_MAX))
            return s_bad(r, S_CATEGORY, i, -1, "bad category name");
        for (int j = 0; j < i; j++)
            if (strcmp(pd->pd_categories[j].pc_name, ca->pc_name) == 0)
                return s_bad(r, S_CATEGORY, i, -1, "category '%s' is defined twice", ca->pc_name);
        if (ca->pc_earns > 1)
            return s_bad(r, S_CATEGORY, i, K_EARNS, "bad earns");
        if (ca->pc_mult < 1 || ca->pc_mult > LY_PD_MULT_MAX)
            return s_bad(r, S_CATEGORY, i, K_CAT_MULT,
                         "'multiplier' of [category %s] must be 0.001..100", ca->pc_name);
        if (!ca->pc_earns && ca->pc_mult != LY_MILLI)
            return s_bad(r, S_CATEGORY, i, K_CAT_MULT,
                         "[category %s] does not earn (earns = no): it takes no multiplier",
                         ca->pc_name);
    }
    return LY_OK;
}

/* Every rule of the file on a definition; `allow_v0` for the default. */
static ly_err s_check(const ly_progdef *pd, int allow_v0, const s_report *r)
{
    if (!s_terminated(pd->pd_name, sizeof pd->pd_name) || !s_pname_ok(pd->pd_name))
        return s_bad(r, S_PROGRAM, 0, K_NAME,
                     "bad name: 1..%d bytes of UTF-8 text, no ';', no control characters, no "
                     "leading or trailing blank",
                     LY_PD_NAME_MAX);
    if (pd->pd_version == 0 && !allow_v0)
        return s_bad(r, S_PROGRAM, 0, K_VERSION, "version must be 1..4294967295");
    if (pd->pd_effective_ms != 0 &&
        (pd->pd_effective_ms < (int64_t)LY_PD_DAY_MIN * 86400000 ||
         pd->pd_effective_ms >= ((int64_t)LY_PD_DAY_MAX + 1) * 86400000 ||
         pd->pd_effective_ms % 1000 != 0))
        return s_bad(r, S_PROGRAM, 0, K_EFFECTIVE, "effective out of range");
    if (pd->pd_minor_units < 1 || pd->pd_minor_units > LY_PD_MINOR_UNITS_MAX)
        return s_bad(r, S_PROGRAM, 0, K_MINOR, "minor_units must be 1..%d", LY_PD_MINOR_UNITS_MAX);
    if (pd->pd_rate < 1 || pd->pd_rate > LY_PD_RATE_MAX)
        return s_bad(r, S_PROGRAM, 0, K_RATE, "points_per_unit must be 0.001..1000");
    if (pd->pd_rounding != LY_PD_ROUND_DOWN)
        return s_bad(r, S_PROGRAM, 0, K_ROUNDING, "bad rounding");
    ly_err rc;
    if ((rc = s_check_tiers(pd, r)) != LY_OK || (rc = s_check_categories(pd, r)) != LY_OK)
        return rc;
    if (pd->pd_ncampaigns < 0 || pd->pd_ncampaigns > LY_PD_CAMPAIGNS_MAX)
        return s_bad(r, 0, 0, -1, "at most %d campaigns", LY_PD_CAMPAIGNS_MAX);
    for (int i = 0; i < pd->pd_ncampaigns; i++)
        if ((rc = s_check_campaign(pd, i, r)) != LY_OK)
            return rc;
    if (pd->pd_join_bonus < 0 || pd->pd_join_bonus > LY_PD_JOIN_MAX)
        return s_bad(r, S_JOIN, 0, K_POINTS, "join bonus points must be 0..%d", LY_PD_JOIN_MAX);
    if (pd->pd_bday_points < 0 || pd->pd_bday_points > LY_PD_BONUS_MAX)
        return s_bad(r, S_BIRTHDAY, 0, K_POINTS, "birthday points must be 1..%d", LY_PD_BONUS_MAX);
    if (pd->pd_bday_window_days < 0 || pd->pd_bday_window_days > LY_PD_BDAY_WINDOW_MAX)
        return s_bad(r, S_BIRTHDAY, 0, K_BDAY_WINDOW, "birthday window_days must be 0..%d",
                     LY_PD_BDAY_WINDOW_MAX);
    if (pd->pd_bday_min_set_days < 0 || pd->pd_bday_min_set_days > LY_PD_BDAY_SET_MAX)
        return s_bad(r, S_BIRTHDAY, 0, K_BDAY_SET, "birthday min_set_days must be 0..%d",
                     LY_PD_BDAY_SET_MAX);
    if (pd->pd_bday_points == 0 && (pd->pd_bday_window_days || pd->pd_bday_min_set_days))
        return s_bad(r, S_BIRTHDAY, 0, -1, "a birthday rule without points");
    return LY_OK;
}

ly_err ly_progdef_validate(const ly_progdef *pd, char *why, size_t why_len)
{
    if (why && why_len)
        why[0] = '\0';
    s_report r = {NULL, why, why_len};
    return s_check(pd, 0, &r);
}

/* ---- the default ---------------------------------------------------------- */

void ly_progdef_default(ly_progdef *pd)
{
    memset(pd, 0, sizeof *pd);
    snprintf(pd->pd_name, sizeof pd->pd_name, "default");
    pd->pd_version = 0;
    pd->pd_minor_units = 100;
    pd->pd_rate = LY_MILLI;
    pd->pd_rounding = LY_PD_ROUND_DOWN;
    pd->pd_qual = LY_PD_ROLLING;
    pd->pd_window_days = 365;
    pd->pd_basis = LY_PD_ON_BASE_POINTS;
    pd->pd_downgrade = LY_PD_TO_QUALIFIED;
    static const ly_tier tiers[] = {
        {"Silver", 0, 1000}, {"Gold", 1000, 1250}, {"Platinum", 5000, 1500}};
    memcpy(pd->pd_tiers, tiers, sizeof tiers);
    pd->pd_ntiers = 3;
}

/* ---- the parser ----------------------------------------------------------- */

typedef struct s_sect {
    int se_kind;
    int se_line;                 /* of the header */
    int se_index;                /* among the sections of its kind */
    char se_label[80];           /* "[tier Gold]", for messages */
    int se_key_line[S_KEYS_MAX]; /* line each key was set on; 0 = not set */
} s_sect;

#define S_SECTS_MAX (4 + LY_PD_TIERS_MAX + LY_PD_CATEGORIES_MAX + LY_PD_CAMPAIGNS_MAX)

typedef struct s_ctx {
    const char *name; /* the file, for messages */
    const char *text;
    size_t len, pos;
    int lineno;
    char line[LY_PD_LINE_MAX + 1];
    int long_line; /* line whose value is kept in long_value (too long for inih) */
    char long_value[LY_PD_LINE_MAX + 1];
    int failed;
    int err_line; /* 0: the message is about the whole file */
    char msg[S_MSG_MAX];
    int nsects;
    int cur;            /* current section, -1 before the first */
    int seen[S_NKINDS]; /* sections of each kind */
    ly_progdef pd;
    s_sect sects[S_SECTS_MAX];
} s_ctx;

__attribute__((format(printf, 3, 4))) static void s_fail(s_ctx *c, int line, const char *fmt, ...)
{
    if (c->failed)
        return;
    c->failed = 1;
    c->err_line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
}

static s_sect *s_sect_of(s_ctx *c, int kind, int index)
{
    for (int i = 0; i < c->nsects; i++)
        if (c->sects[i].se_kind == kind && c->sects[i].se_index == index)
            return &c->sects[i];
    return NULL;
}

/* A header "[kind]" or "[kind name]"; `s` starts at '[' and is cut up in place. */
static void s_header(s_ctx *c, char *s)
{
    int line = c->lineno;
    char *kind, *name, why[128];
    if (ly_ini_header(s, &kind, &name, why, sizeof why) != 0) {
        s_fail(c, line, "%s", why);
        return;
    }

    int k = 0;
    for (int i = S_PROGRAM; i < S_NKINDS && !k; i++)
        if (strcmp(kind, s_kinds[i].kind) == 0 &&
            (!s_kinds[i].name || strcmp(name, s_kinds[i].name) == 0))
            k = i;
    if (!k) {
        if (strcmp(kind, "bonus") == 0)
            s_fail(c, line,
                   "unknown section [bonus %.64s]: the bonuses are [bonus join] and "
                   "[bonus birthday]",
                   name);
        else
            s_fail(c, line,
                   "unknown section [%.64s]: expected [program], [tiers], [tier NAME], "
                   "[category NAME], [campaign NAME], [bonus join] or [bonus birthday]",
                   kind);
        return;
    }
    size_t max = S_LABEL_MAX;
    if (s_kinds[k].named && !s_label_ok(name, max)) {
        s_fail(
            c, line,
            "bad name '%.64s' in [%s NAME]: use 1..%zu characters of A-Z a-z 0-9 . _ : @ # / + -",
            name, kind, max);
        return;
    }
    if (!s_kinds[k].named && !s_kinds[k].name && *name) {
        s_fail(c, line, "section [%s] takes no name", kind);
        return;
    }
    char label[80];
    if (*name)
        snprintf(label, sizeof label, "[%s %s]", kind, name);
    else
        snprintf(label, sizeof label, "[%s]", kind);
    for (int i = 0; i < c->nsects; i++)
        if (strcmp(c->sects[i].se_label, label) == 0) {
            s_fail(c, line, "duplicate section %s (first at line %d)", label, c->sects[i].se_line);
            return;
        }

    ly_progdef *pd = &c->pd;
    int index = 0;
    switch (k) {
    case S_TIER:
        if (pd->pd_ntiers == LY_PD_TIERS_MAX) {
            s_fail(c, line, "too many tiers (at most %d)", LY_PD_TIERS_MAX);
            return;
        }
        index = pd->pd_ntiers++;
        snprintf(pd->pd_tiers[index].ti_name, sizeof pd->pd_tiers[index].ti_name, "%s", name);
        break;
    case S_CATEGORY:
        if (pd->pd_ncategories == LY_PD_CATEGORIES_MAX) {
            s_fail(c, line, "too many categories (at most %d)", LY_PD_CATEGORIES_MAX);
            return;
        }
        index = pd->pd_ncategories++;
        snprintf(pd->pd_categories[index].pc_name, sizeof pd->pd_categories[index].pc_name, "%s",
                 name);
        pd->pd_categories[index].pc_mult = LY_MILLI;
        pd->pd_categories[index].pc_earns = 1;
        break;
    case S_CAMPAIGN: {
        if (pd->pd_ncampaigns == LY_PD_CAMPAIGNS_MAX) {
            s_fail(c, line, "too many campaigns (at most %d)", LY_PD_CAMPAIGNS_MAX);
            return;
        }
        index = pd->pd_ncampaigns++;
        ly_pd_campaign *cp = &pd->pd_campaigns[index];
        snprintf(cp->cp_name, sizeof cp->cp_name, "%s", name);
        cp->cp_weekdays = LY_PD_EVERY_DAY;
        cp->cp_end_min = LY_PD_DAY_MINUTES;
        break;
    }
    }
    c->seen[k]++;
    s_sect *se = &c->sects[c->nsects];
    memset(se, 0, sizeof *se);
    se->se_kind = k;
    se->se_line = line;
    se->se_index = index;
    memcpy(se->se_label, label, sizeof label);
    c->cur = c->nsects++;
}

/* inih's reader: one line of the text per call, checked first. */
static char *s_reader(char *str, int num, void *stream)
{
    s_ctx *c = stream;
    if (c->failed || c->pos >= c->len)
        return NULL;
    const char *p = c->text + c->pos;
    const char *nl = memchr(p, '\n', c->len - c->pos);
    size_t n = nl ? (size_t)(nl - p) + 1 : c->len - c->pos;
    c->pos += n;
    c->lineno++;
    if (n > LY_PD_LINE_MAX) {
        s_fail(c, c->lineno, "line too long (at most %d bytes)", LY_PD_LINE_MAX);
        return NULL;
    }
    if (memchr(p, '\0', n)) {
        s_fail(c, c->lineno, "NUL byte in line");
        return NULL;
    }
    memcpy(c->line, p, n);
    c->line[n] = '\0';
    char *s = c->line;
    if (c->lineno == 1 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3; /* a UTF-8 byte order mark */
    for (size_t i = 0; s[i];) {
        const unsigned char *u = (const unsigned char *)s + i;
        int len = s_utf8_len(u);
        if (!len) {
            s_fail(c, c->lineno, "not UTF-8: byte 0x%02x at column %zu", u[0], i + 1);
            return NULL;
        }
        if (u[0] < 0x20 && u[0] != '\t' && u[0] != '\r' && u[0] != '\n') {
            s_fail(c, c->lineno, "control character 0x%02x at column %zu", u[0], i + 1);
            return NULL;
        }
        i += (size_t)len;
    }
    s = ly_ini_lskip(s);
    ly_ini_rstrip(s);

    if (*s == '[') {
        char copy[LY_PD_LINE_MAX + 1];
        memcpy(copy, s, strlen(s) + 1);
        s_header(c, copy);
        if (c->failed)
            return NULL;
        snprintf(str, (size_t)num, "[-]"); /* inih needs no name: the header is read */
        return str;
    }
    if (!*s || *s == ';' || *s == '#') {
        str[0] = '\0';
        return str;
    }
    char *sep = ly_ini_find(s, "=:");
    if (*sep != '=' && *sep != ':') {
        s_fail(c, c->lineno, "expected 'key = value' or '[section]', found '%.64s'", s);
        return NULL;
    }
    int rc = ly_ini_pass(str, num, s, c->long_value, sizeof c->long_value);
    if (rc < 0) {
        s_fail(c, c->lineno, "key too long: '%.64s...'", s);
        return NULL;
    }
    if (rc > 0)
        c->long_line = c->lineno; /* the value is in long_value */
    return str;
}

/* ---- values --------------------------------------------------------------- */

static int s_number(s_ctx *c, const s_sect *se, const char *key, const char *value, int milli,
                    uint64_t lo, uint64_t hi, uint64_t *out)
{
    char why[128];
    if (ly_ini_number(value, milli, lo, hi, out, why, sizeof why) == 0)
        return 0;
    s_fail(c, c->lineno, "bad value '%.64s' for '%s' in %s: %s", value, key, se->se_label, why);
    return -1;
}

static int s_uint(s_ctx *c, const s_sect *se, const char *key, const char *value, uint64_t lo,
                  uint64_t hi, uint64_t *out)
{
    return s_number(c, se, key, value, 0, lo, hi, out);
}

static void s_milli(s_ctx *c, const s_sect *se, const char *key, const char *value, uint64_t lo,
                    uint64_t hi, uint32_t *out)
{
    uint64_t v;
    if (s_number(c, se, key, value, 1, lo, hi, &v) == 0)
        *out = (uint32_t)v; /* hi fits */
}

/* One of `words` (NULL entries skipped); its index in `*out`. */
static int s_word(s_ctx *c, const s_sect *se, const char *key, const char *value,
                  const char *const *words, int nwords, uint8_t *out)
{
    for (int i = 0; i < nwords; i++)
        if (words[i] && strcmp(value, words[i]) == 0) {
            *out = (uint8_t)i;
            return 0;
        }
    char list[128] = "";
    for (int i = 0; i < nwords; i++)
        if (words[i])
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", list[0] ? " | " : "",
                     words[i]);
    s_fail(c, c->lineno, "bad value '%.64s' for '%s' in %s: expected %s", value, key, se->se_label,
           list);
    return -1;
}

static void s_day(s_ctx *c, const s_sect *se, const char *key, const char *value, int32_t *out)
{
    if (strlen(value) != 10 || s_parse_day(value, out) != 0)
        s_fail(c, c->lineno,
               "bad date '%.64s' for '%s' in %s: expected YYYY-MM-DD (a real day, years "
               "2000..9999)",
               value, key, se->se_label);
}

/* "mon,tue", "mon-fri,sun" into a mask. */
static void s_weekdays(s_ctx *c, const s_sect *se, const char *value, uint8_t *out)
{
    char buf[LY_PD_LINE_MAX + 1];
    snprintf(buf, sizeof buf, "%s", value);
    unsigned mask = 0;
    const char *why = NULL;
    for (char *p = buf; p && !why;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma++ = '\0';
        char *tok = ly_ini_lskip(p);
        ly_ini_rstrip(tok);
        p = comma;
        char *dash = strchr(tok, '-');
        if (dash) {
            *dash++ = '\0';
            ly_ini_rstrip(tok);
        }
        int a = -1, b = -1;
        for (int i = 0; i < 7; i++) {
            if (strcasecmp(ly_ini_lskip(tok), s_day_words[i]) == 0)
                a = i;
            if (dash && strcasecmp(ly_ini_lskip(dash), s_day_words[i]) == 0)
                b = i;
        }
        if (!dash)
            b = a;
        if (!*tok && !dash)
            why = "an empty entry";
        else if (a < 0 || b < 0)
            why = "expected day names mon tue wed thu fri sat sun separated by commas, or "
                  "ranges like mon-fri";
        else if (b < a)
            why = "a range runs forward from mon to sun (write sat-sun,mon, not sat-mon)";
        else if (mask & (((1u << (b + 1)) - 1) & ~((1u << a) - 1)))
            why = "a day is listed twice";
        else
            mask |= ((1u << (b + 1)) - 1) & ~((1u << a) - 1);
    }
    if (why)
        s_fail(c, c->lineno, "bad weekdays '%.64s' in %s: %s", value, se->se_label, why);
    else
        *out = (uint8_t)mask;
}

/* "H" or "H:MM" into minutes after midnight, 0..1440. */
static int s_clock(const char *s, int *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    long h = strtol(s, &end, 10);
    long m = 0;
    if (end - s > 2)
        return -1;
    if (*end == ':') {
        if (strlen(end + 1) != 2 || end[1] < '0' || end[1] > '9' || end[2] < '0' || end[2] > '9')
            return -1;
        m = (end[1] - '0') * 10 + (end[2] - '0');
        end += 3;
    }
    if (*end || h > 24 || m > 59 || (h == 24 && m != 0))
        return -1;
    *out = (int)(h * 60 + m);
    return 0;
}

static void s_hours(s_ctx *c, const s_sect *se, const char *value, ly_pd_campaign *cp)
{
    char buf[64];
    int a = -1, b = -1;
    const char *dash = strchr(value, '-');
    if (dash && strlen(value) < sizeof buf) {
        snprintf(buf, sizeof buf, "%.*s", (int)(dash - value), value);
        ly_ini_rstrip(buf);
        char rest[64];
        snprintf(rest, sizeof rest, "%s", ly_ini_lskip((char *)dash + 1));
        if (s_clock(buf, &a) != 0 || s_clock(rest, &b) != 0)
            a = b = -1;
    }
    if (a < 0 || b <= a || a >= LY_PD_DAY_MINUTES) {
        s_fail(c, c->lineno,
               "bad hours '%.64s' in %s: expected START-END in local time, as hours (17-20) or "
               "H:MM (9:30-17), start before end, end at most 24",
               value, se->se_label);
        return;
    }
    cp->cp_start_min = (uint16_t)a;
    cp->cp_end_min = (uint16_t)b;
}

static int s_cmp_item(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* "a, b, c" into a sorted set; names checked for syntax here, existence later. */
static void s_list(s_ctx *c, const s_sect *se, const char *key, const char *value, int branches,
                   ly_pd_list *l)
{
    char buf[LY_PD_LINE_MAX + 1];
    snprintf(buf, sizeof buf, "%s", value);
    size_t max = branches ? LY_PD_BRANCH_MAX : LY_CATEGORY_MAX;
    l->pl_n = 0;
    char *p = buf;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        char *item = ly_ini_lskip(p);
        ly_ini_rstrip(item);
        if (!*item) {
            s_fail(c, c->lineno, "empty entry in '%s' of %s", key, se->se_label);
            return;
        }
        if (branches ? !s_branch_ok(item, max) : !s_label_ok(item, max)) {
            s_fail(c, c->lineno, "bad name '%.64s' in '%s' of %s", item, key, se->se_label);
            return;
        }
        for (int i = 0; i < l->pl_n; i++)
            if (strcmp(l->pl_items[i], item) == 0) {
                s_fail(c, c->lineno, "'%s' is listed twice in '%s' of %s", item, key, se->se_label);
                return;
            }
        if (l->pl_n == LY_PD_LIST_MAX) {
            s_fail(c, c->lineno, "too many names in '%s' of %s (at most %d)", key, se->se_label,
                   LY_PD_LIST_MAX);
            return;
        }
        snprintf(l->pl_items[l->pl_n++], sizeof l->pl_items[0], "%s", item);
        if (!comma)
            break;
        p = comma + 1;
    }
    qsort(l->pl_items, (size_t)l->pl_n, sizeof l->pl_items[0], s_cmp_item);
}

/* ---- keys ----------------------------------------------------------------- */

static void s_program_key(s_ctx *c, const s_sect *se, int k, const char *key, const char *value)
{
    ly_progdef *pd = &c->pd;
    uint64_t v;
    switch (k) {
    case K_NAME:
        if (!s_pname_ok(value))
            s_fail(c, c->lineno,
                   "bad name '%.64s' in [program]: 1..%d bytes of text, no ';' or control "
                   "characters",
                   value, LY_PD_NAME_MAX);
        else
            snprintf(pd->pd_name, sizeof pd->pd_name, "%s", value);
        break;
    case K_VERSION:
        if (s_uint(c, se, key, value, 1, UINT32_MAX, &v) == 0)
            pd->pd_version = (uint32_t)v;
        break;
    case K_EFFECTIVE:
        if (s_parse_utc(value, &pd->pd_effective_ms) != 0)
            s_fail(c, c->lineno,
                   "bad value '%.64s' for 'effective' in [program]: expected a UTC time like "
                   "2027-01-01T00:00:00Z (years 2000..9999)",
                   value);
        break;
    case K_MINOR:
        if (s_uint(c, se, key, value, 1, LY_PD_MINOR_UNITS_MAX, &v) == 0)
            pd->pd_minor_units = (uint32_t)v;
        break;
    case K_RATE:
        s_milli(c, se, key, value, 1, LY_PD_RATE_MAX, &pd->pd_rate);
        break;
    case K_ROUNDING:
        s_word(c, se, key, value, s_round_words, 2, &pd->pd_rounding);
        break;
    }
}

static void s_tiers_key(s_ctx *c, const s_sect *se, int k, const char *key, const char *value)
{
    ly_progdef *pd = &c->pd;
    uint64_t v;
    switch (k) {
    case K_QUAL:
        s_word(c, se, key, value, s_qual_words, 4, &pd->pd_qual);
        break;
    case K_WINDOW:
        if (s_uint(c, se, key, value, 1, LY_PD_WINDOW_MAX, &v) == 0)
            pd->pd_window_days = (int32_t)v;
        break;
    case K_ON:
        s_word(c, se, key, value, s_basis_words, 3, &pd->pd_basis);
        break;
    case K_DOWNGRADE:
        s_word(c, se, key, value, s_down_words, 3, &pd->pd_downgrade);
        break;
    case K_GRACE:
        if (s_uint(c, se, key, value, 0, LY_PD_GRACE_MAX, &v) == 0)
            pd->pd_grace_days = (int32_t)v;
        break;
    }
}

static void s_campaign_key(s_ctx *c, const s_sect *se, int k, const char *key, const char *value)
{
    ly_pd_campaign *cp = &c->pd.pd_campaigns[se->se_index];
    uint64_t v;
    switch (k) {
    case K_MULT:
        s_milli(c, se, key, value, LY_MILLI + 1, LY_PD_MULT_MAX, &cp->cp_mult);
        break;
    case K_BONUS:
        if (s_uint(c, se, key, value, 1, LY_PD_BONUS_MAX, &v) == 0)
            cp->cp_bonus = (int64_t)v;
        break;
    case K_FROM:
        s_day(c, se, key, value, &cp->cp_from);
        break;
    case K_UNTIL:
        s_day(c, se, key, value, &cp->cp_until);
        break;
    case K_WEEKDAYS:
        s_weekdays(c, se, value, &cp->cp_weekdays);
        break;
    case K_HOURS:
        s_hours(c, se, value, cp);
        break;
    case K_CATEGORIES:
        s_list(c, se, key, value, 0, &cp->cp_categories);
        break;
    case K_BRANCHES:
        s_list(c, se, key, value, 1, &cp->cp_branches);
        break;
    case K_TIERS:
        s_list(c, se, key, value, 0, &cp->cp_tiers);
        break;
    case K_MIN_AMOUNT:
        if (s_uint(c, se, key, value, 0, LY_AMOUNT_MAX, &v) == 0)
            cp->cp_min_amount = (int64_t)v;
        break;
    }
}

static void s_other_key(s_ctx *c, const s_sect *se, int k, const char *key, const char *value)
{
    ly_progdef *pd = &c->pd;
    uint64_t v;
    switch (se->se_kind) {
    case S_TIER: {
        ly_tier *t = &pd->pd_tiers[se->se_index];
        if (k == K_THRESHOLD) {
            if (s_uint(c, se, key, value, 0, LY_AMOUNT_MAX, &v) == 0)
                t->ti_threshold = (int64_t)v;
        } else {
            s_milli(c, se, key, value, 1, LY_PD_MULT_MAX, &t->ti_mult);
        }
        break;
    }
    case S_CATEGORY: {
        ly_pd_category *ca = &pd->pd_categories[se->se_index];
        if (k == K_CAT_MULT)
            s_milli(c, se, key, value, 1, LY_PD_MULT_MAX, &ca->pc_mult);
        else
            s_word(c, se, key, value, s_earns_words, 2, &ca->pc_earns);
        break;
    }
    case S_JOIN:
        if (s_uint(c, se, key, value, 0, LY_PD_JOIN_MAX, &v) == 0)
            pd->pd_join_bonus = (int64_t)v;
        break;
    case S_BIRTHDAY:
        if (k == K_POINTS && s_uint(c, se, key, value, 1, LY_PD_BONUS_MAX, &v) == 0)
            pd->pd_bday_points = (int64_t)v;
        if (k == K_BDAY_WINDOW && s_uint(c, se, key, value, 0, LY_PD_BDAY_WINDOW_MAX, &v) == 0)
            pd->pd_bday_window_days = (int32_t)v;
        if (k == K_BDAY_SET && s_uint(c, se, key, value, 0, LY_PD_BDAY_SET_MAX, &v) == 0)
            pd->pd_bday_min_set_days = (int32_t)v;
        break;
    }
}

static int s_handler(void *user, const char *section, const char *name, const char *value)
{
    s_ctx *c = user;
    (void)section; /* inih's copy may be truncated; s_header keeps the real one */
    if (c->failed)
        return 0;
    if (!name)
        return 1;
    if (!value)
        value = "";
    if (c->long_line == c->lineno)
        value = c->long_value;
    if (!*name) {
        s_fail(c, c->lineno, "missing key name before '='");
        return 0;
    }
    if (c->cur < 0) {
        s_fail(c, c->lineno, "key '%.64s' outside any section (start with [program])", name);
        return 0;
    }
    s_sect *se = &c->sects[c->cur];
    int k = -1;
    for (int i = 0; s_kinds[se->se_kind].keys[i]; i++)
        if (strcmp(name, s_kinds[se->se_kind].keys[i]) == 0)
            k = i;
    if (k < 0) {
        s_fail(c, c->lineno, "unknown key '%.64s' in %s", name, se->se_label);
        return 0;
    }
    if (se->se_key_line[k]) {
        s_fail(c, c->lineno, "duplicate key '%s' in %s (first at line %d)", name, se->se_label,
               se->se_key_line[k]);
        return 0;
    }
    se->se_key_line[k] = c->lineno;
    if (!*value) {
        s_fail(c, c->lineno, "empty value for '%s' in %s", name, se->se_label);
        return 0;
    }
    switch (se->se_kind) {
    case S_PROGRAM:
        s_program_key(c, se, k, name, value);
        break;
    case S_TIERS:
        s_tiers_key(c, se, k, name, value);
        break;
    case S_CAMPAIGN:
        s_campaign_key(c, se, k, name, value);
        break;
    default:
        s_other_key(c, se, k, name, value);
        break;
    }
    return !c->failed;
}

/* ---- after the whole file ------------------------------------------------- */

/* Rules between keys of one section, which need their lines. */
static void s_section_rules(s_ctx *c, const s_sect *se)
{
    const int *kl = se->se_key_line;
    for (int k = 0; s_kinds[se->se_kind].keys[k]; k++)
        if ((s_kinds[se->se_kind].required & (1u << k)) && !kl[k]) {
            s_fail(c, se->se_line, "missing key '%s' in %s", s_kinds[se->se_kind].keys[k],
                   se->se_label);
            return;
        }
    const ly_progdef *pd = &c->pd;
    switch (se->se_kind) {
    case S_TIERS:
        if (pd->pd_qual == LY_PD_ROLLING && !kl[K_WINDOW])
            s_fail(c, kl[K_QUAL], "qualification = rolling needs 'window_days' in [tiers]");
        else if (pd->pd_qual != LY_PD_ROLLING && kl[K_WINDOW])
            s_fail(c, kl[K_WINDOW],
                   "'window_days' applies only to qualification = rolling (line %d says %s)",
                   kl[K_QUAL], s_qual_words[pd->pd_qual]);
        break;
    case S_CATEGORY:
        if (kl[K_CAT_MULT] && !pd->pd_categories[se->se_index].pc_earns)
            s_fail(c, kl[K_CAT_MULT] > kl[K_EARNS] ? kl[K_CAT_MULT] : kl[K_EARNS],
                   "%s has 'earns = no' and a multiplier: a category that does not earn takes "
                   "no multiplier",
                   se->se_label);
        break;
    case S_CAMPAIGN:
        if (kl[K_MULT] && kl[K_BONUS])
            s_fail(c, kl[K_MULT] > kl[K_BONUS] ? kl[K_MULT] : kl[K_BONUS],
                   "%s has both 'multiplier' and 'bonus': a campaign is one or the other",
                   se->se_label);
        else if (!kl[K_MULT] && !kl[K_BONUS])
            s_fail(c, se->se_line, "%s needs 'multiplier' or 'bonus'", se->se_label);
        break;
    }
}

static void s_finish(s_ctx *c)
{
    ly_progdef *pd = &c->pd;
    if (c->nsects == 0) {
        s_fail(c, 0, "empty program file: no sections (start with [program])");
        return;
    }
    if (!c->seen[S_PROGRAM]) {
        s_fail(c, 0, "missing [program] section");
        return;
    }
    if (!c->seen[S_TIER]) {
        s_fail(c, 0,
               "no [tier NAME] section: a program needs at least its base tier "
               "(threshold = 0)");
        return;
    }
    for (int i = 0; i < c->nsects && !c->failed; i++)
        s_section_rules(c, &c->sects[i]);
    if (c->failed)
        return;
    if (!c->seen[S_TIERS])
        pd->pd_window_days = 365;

    s_loc loc = {0, 0, -1};
    char why[S_MSG_MAX];
    s_report r = {&loc, why, sizeof why};
    if (s_check(pd, 0, &r) != LY_OK) {
        const s_sect *se = loc.lo_kind ? s_sect_of(c, loc.lo_kind, loc.lo_index) : NULL;
        int line = !se                                              ? 0
                   : loc.lo_key >= 0 && se->se_key_line[loc.lo_key] ? se->se_key_line[loc.lo_key]
                                                                    : se->se_line;
        /* Thresholds out of order: name the other tier's line too (at this
         * point every threshold is in range, so that is the fault). */
        const s_sect *prev = se && loc.lo_kind == S_TIER && loc.lo_key == K_THRESHOLD
                                 ? s_sect_of(c, S_TIER, loc.lo_index - 1)
                                 : NULL;
        if (prev)
            s_fail(c, line, "%s (line %d)", why, prev->se_key_line[K_THRESHOLD]);
        else
            s_fail(c, line, "%s", why);
    }
}

ly_err ly_progdef_parse(const char *name, const char *text, size_t len, ly_progdef *out, char *why,
                        size_t why_len)
{
    if (why && why_len)
        why[0] = '\0';
    if (!name)
        name = "(program)";
    s_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        if (why && why_len)
            snprintf(why, why_len, "%s: out of memory", name);
        return LY_ENOMEM;
    }
    c->name = name;
    c->text = text ? text : "";
    c->len = text ? len : 0;
    c->cur = -1;
    ly_progdef *pd = &c->pd;
    pd->pd_rounding = LY_PD_ROUND_DOWN;
    pd->pd_qual = LY_PD_ROLLING;
    pd->pd_basis = LY_PD_ON_BASE_POINTS;
    pd->pd_downgrade = LY_PD_TO_QUALIFIED;

    if (c->len > (size_t)LY_PD_FILE_MAX) {
        s_fail(c, 0, "file too large (at most %d bytes)", LY_PD_FILE_MAX);
    } else {
        int rc = ini_parse_stream(s_reader, c, s_handler, c);
        if (rc > 0 && !c->failed)
            s_fail(c, rc, "syntax error: expected 'key = value' or '[section]'");
        else if (rc < 0 && !c->failed)
            s_fail(c, 0, "cannot parse (inih error %d)", rc);
        if (!c->failed)
            s_finish(c);
    }

    ly_err rc = LY_OK;
    if (c->failed) {
        rc = LY_ECONFIG;
        if (why && why_len) {
            if (c->err_line > 0)
                snprintf(why, why_len, "%s:%d: %s", name, c->err_line, c->msg);
            else
                snprintf(why, why_len, "%s: %s", name, c->msg);
        }
    } else {
        *out = c->pd;
    }
    free(c);
    return rc;
}

ly_err ly_progdef_load(const char *path, ly_progdef *out, char *why, size_t why_len)
{
    if (why && why_len)
        why[0] = '\0';
    if (!path || !out) {
        if (why && why_len)
            snprintf(why, why_len, "%s: no program file given", path ? path : "(null)");
        return LY_ECONFIG;
    }
    FILE *fp = fopen(path, "re");
    if (!fp) {
        if (why && why_len)
            snprintf(why, why_len, "%s: cannot open: %s", path, strerror(errno));
        return LY_ECONFIG;
    }
    /* One byte more than allowed, so that a file too large is told apart. */
    char *buf = malloc(LY_PD_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, LY_PD_FILE_MAX + 1, fp) : 0;
    int err = ferror(fp) ? errno : 0;
    fclose(fp);
    ly_err rc;
    if (!buf) {
        if (why && why_len)
            snprintf(why, why_len, "%s: out of memory", path);
        rc = LY_ENOMEM;
    } else if (err) {
        if (why && why_len)
            snprintf(why, why_len, "%s: cannot read: %s", path, strerror(err));
        rc = LY_ECONFIG;
    } else {
        rc = ly_progdef_parse(path, buf, n, out, why, why_len);
    }
    free(buf);
    return rc;
}

/* ---- the canonical form --------------------------------------------------- */

/* Record (little-endian, record.h), format S_FORMAT:
 *   u8 format, str name, u32 version, u64 effective_ms, u32 minor_units,
 *   u32 rate, u8 rounding, u8 qual, u8 basis, u8 downgrade, u16 window_days,
 *   u16 grace_days;
 *   u8 n, n x (str name, u64 threshold, u32 mult)                 tiers
 *   u8 n, n x (str name, u32 mult, u8 earns)                      categories
 *   u8 n, n x (str name, u32 mult, u64 bonus, u32 from, u32 until, u8 weekdays,
 *             u16 start_min, u16 end_min, u64 min_amount,
 *             3 x (u8 n, n x str))                                campaigns
 *   u32 join, u32 birthday points, u16 window_days, u16 min_set_days. */
_Static_assert(LY_PD_ENC_MAX == LY_PD_ENC_HEAD + 1 + LY_PD_TIERS_MAX * LY_PD_ENC_TIER + 1 +
                                    LY_PD_CATEGORIES_MAX * LY_PD_ENC_CATEGORY + 1 +
                                    LY_PD_CAMPAIGNS_MAX * LY_PD_ENC_CAMPAIGN + 4 + 4 + 2 + 2,
               "LY_PD_ENC_MAX matches the record");
_Static_assert(LY_PD_JOIN_MAX <= UINT32_MAX && LY_PD_BONUS_MAX <= UINT32_MAX, "u32 bonuses");

static void s_wr_list(ly_wr *w, const ly_pd_list *l)
{
    ly_wr_int(w, (uint64_t)l->pl_n, 1);
    for (int i = 0; i < l->pl_n; i++)
        ly_wr_str(w, l->pl_items[i]);
}

static void s_rd_list(ly_rd *r, ly_pd_list *l)
{
    uint64_t n = ly_rd_int(r, 1);
    if (n > LY_PD_LIST_MAX)
        r->r_bad = 1;
    l->pl_n = r->r_bad ? 0 : (int)n;
    for (int i = 0; i < l->pl_n; i++)
        ly_rd_str(r, l->pl_items[i], sizeof l->pl_items[i]);
}

static size_t s_encode(const ly_progdef *pd, uint8_t *buf)
{
    ly_wr w = {buf};
    ly_wr_int(&w, S_FORMAT, 1);
    ly_wr_str(&w, pd->pd_name);
    ly_wr_int(&w, pd->pd_version, 4);
    ly_wr_int(&w, (uint64_t)pd->pd_effective_ms, 8);
    ly_wr_int(&w, pd->pd_minor_units, 4);
    ly_wr_int(&w, pd->pd_rate, 4);
    ly_wr_int(&w, pd->pd_rounding, 1);
    ly_wr_int(&w, pd->pd_qual, 1);
    ly_wr_int(&w, pd->pd_basis, 1);
    ly_wr_int(&w, pd->pd_downgrade, 1);
    ly_wr_int(&w, (uint64_t)pd->pd_window_days, 2);
    ly_wr_int(&w, (uint64_t)pd->pd_grace_days, 2);
    ly_wr_int(&w, (uint64_t)pd->pd_ntiers, 1);
    for (int i = 0; i < pd->pd_ntiers; i++) {
        ly_wr_str(&w, pd->pd_tiers[i].ti_name);
        ly_wr_int(&w, (uint64_t)pd->pd_tiers[i].ti_threshold, 8);
        ly_wr_int(&w, pd->pd_tiers[i].ti_mult, 4);
    }
    ly_wr_int(&w, (uint64_t)pd->pd_ncategories, 1);
    for (int i = 0; i < pd->pd_ncategories; i++) {
        ly_wr_str(&w, pd->pd_categories[i].pc_name);
        ly_wr_int(&w, pd->pd_categories[i].pc_mult, 4);
        ly_wr_int(&w, pd->pd_categories[i].pc_earns, 1);
    }
    ly_wr_int(&w, (uint64_t)pd->pd_ncampaigns, 1);
    for (int i = 0; i < pd->pd_ncampaigns; i++) {
        const ly_pd_campaign *cp = &pd->pd_campaigns[i];
        ly_wr_str(&w, cp->cp_name);
        ly_wr_int(&w, cp->cp_mult, 4);
        ly_wr_int(&w, (uint64_t)cp->cp_bonus, 8);
        ly_wr_int(&w, (uint32_t)cp->cp_from, 4);
        ly_wr_int(&w, (uint32_t)cp->cp_until, 4);
        ly_wr_int(&w, cp->cp_weekdays, 1);
        ly_wr_int(&w, cp->cp_start_min, 2);
        ly_wr_int(&w, cp->cp_end_min, 2);
        ly_wr_int(&w, (uint64_t)cp->cp_min_amount, 8);
        s_wr_list(&w, &cp->cp_categories);
        s_wr_list(&w, &cp->cp_branches);
        s_wr_list(&w, &cp->cp_tiers);
    }
    ly_wr_int(&w, (uint64_t)pd->pd_join_bonus, 4);
    ly_wr_int(&w, (uint64_t)pd->pd_bday_points, 4);
    ly_wr_int(&w, (uint64_t)pd->pd_bday_window_days, 2);
    ly_wr_int(&w, (uint64_t)pd->pd_bday_min_set_days, 2);
    return (size_t)(w.w_p - buf);
}

size_t ly_progdef_encode(const ly_progdef *pd, uint8_t *buf, size_t cap)
{
    s_report r = {NULL, NULL, 0};
    if (!pd || s_check(pd, 1, &r) != LY_OK)
        return 0;
    if (cap >= LY_PD_ENC_MAX)
        return s_encode(pd, buf);
    uint8_t *tmp = malloc(LY_PD_ENC_MAX);
    if (!tmp)
        return 0;
    size_t n = s_encode(pd, tmp);
    if (n <= cap)
        memcpy(buf, tmp, n);
    free(tmp);
    return n <= cap ? n : 0;
}

ly_err ly_progdef_decode(const uint8_t *buf, size_t len, ly_progdef *out)
{
    ly_rd r = {buf, buf + len, 0};
    if (!buf || len == 0)
        return LY_EPROTO;
    if (ly_rd_int(&r, 1) != S_FORMAT)
        return LY_EVERSION;
    ly_progdef *pd = out;
    memset(pd, 0, sizeof *pd);
    ly_rd_str(&r, pd->pd_name, sizeof pd->pd_name);
    pd->pd_version = (uint32_t)ly_rd_int(&r, 4);
    pd->pd_effective_ms = (int64_t)ly_rd_int(&r, 8);
    pd->pd_minor_units = (uint32_t)ly_rd_int(&r, 4);
    pd->pd_rate = (uint32_t)ly_rd_int(&r, 4);
    pd->pd_rounding = (uint8_t)ly_rd_int(&r, 1);
    pd->pd_qual = (uint8_t)ly_rd_int(&r, 1);
    pd->pd_basis = (uint8_t)ly_rd_int(&r, 1);
    pd->pd_downgrade = (uint8_t)ly_rd_int(&r, 1);
    pd->pd_window_days = (int32_t)ly_rd_int(&r, 2);
    pd->pd_grace_days = (int32_t)ly_rd_int(&r, 2);
    uint64_t n = ly_rd_int(&r, 1);
    if (n > LY_PD_TIERS_MAX)
        return LY_EPROTO;
    pd->pd_ntiers = (int)n;
    for (int i = 0; i < pd->pd_ntiers; i++) {
        ly_rd_str(&r, pd->pd_tiers[i].ti_name, sizeof pd->pd_tiers[i].ti_name);
        pd->pd_tiers[i].ti_threshold = (int64_t)ly_rd_int(&r, 8);
        pd->pd_tiers[i].ti_mult = (uint32_t)ly_rd_int(&r, 4);
    }
    n = ly_rd_int(&r, 1);
    if (n > LY_PD_CATEGORIES_MAX)
        return LY_EPROTO;
    pd->pd_ncategories = (int)n;
    for (int i = 0; i < pd->pd_ncategories; i++) {
        ly_pd_category *ca = &pd->pd_categories[i];
        ly_rd_str(&r, ca->pc_name, sizeof ca->pc_name);
        ca->pc_mult = (uint32_t)ly_rd_int(&r, 4);
        ca->pc_earns = (uint8_t)ly_rd_int(&r, 1);
    }
    n = ly_rd_int(&r, 1);
    if (n > LY_PD_CAMPAIGNS_MAX)
        return LY_EPROTO;
    pd->pd_ncampaigns = (int)n;
    for (int i = 0; i < pd->pd_ncampaigns; i++) {
        ly_pd_campaign *cp = &pd->pd_campaigns[i];
        ly_rd_str(&r, cp->cp_name, sizeof cp->cp_name);
        cp->cp_mult = (uint32_t)ly_rd_int(&r, 4);
        cp->cp_bonus = (int64_t)ly_rd_int(&r, 8);
        cp->cp_from = (int32_t)(uint32_t)ly_rd_int(&r, 4);
        cp->cp_until = (int32_t)(uint32_t)ly_rd_int(&r, 4);
        cp->cp_weekdays = (uint8_t)ly_rd_int(&r, 1);
        cp->cp_start_min = (uint16_t)ly_rd_int(&r, 2);
        cp->cp_end_min = (uint16_t)ly_rd_int(&r, 2);
        cp->cp_min_amount = (int64_t)ly_rd_int(&r, 8);
        s_rd_list(&r, &cp->cp_categories);
        s_rd_list(&r, &cp->cp_branches);
        s_rd_list(&r, &cp->cp_tiers);
    }
    pd->pd_join_bonus = (int64_t)ly_rd_int(&r, 4);
    pd->pd_bday_points = (int64_t)ly_rd_int(&r, 4);
    pd->pd_bday_window_days = (int32_t)ly_rd_int(&r, 2);
    pd->pd_bday_min_set_days = (int32_t)ly_rd_int(&r, 2);
    if (!ly_rd_done(&r))
        return LY_EPROTO;
    s_report rep = {NULL, NULL, 0};
    return s_check(pd, 0, &rep) == LY_OK ? LY_OK : LY_EPROTO;
}

uint64_t ly_progdef_hash(const ly_progdef *pd)
{
    uint8_t *buf = malloc(LY_PD_ENC_MAX);
    size_t n = buf ? ly_progdef_encode(pd, buf, LY_PD_ENC_MAX) : 0;
    uint64_t h = n ? ly_hash(buf, n) : 0;
    free(buf);
    return h;
}

int ly_progdef_equal(const ly_progdef *a, const ly_progdef *b)
{
    uint8_t *ba = malloc(2 * (size_t)LY_PD_ENC_MAX);
    if (!ba)
        return 0;
    uint8_t *bb = ba + LY_PD_ENC_MAX;
    size_t na = ly_progdef_encode(a, ba, LY_PD_ENC_MAX);
    size_t nb = ly_progdef_encode(b, bb, LY_PD_ENC_MAX);
    int eq = na && na == nb && memcmp(ba, bb, na) == 0;
    free(ba);
    return eq;
}

/* ---- today's ly_program --------------------------------------------------- */

void ly_progdef_to_program(const ly_progdef *pd, ly_program *pg)
{
    memset(pg, 0, sizeof *pg);
    pg->pg_version = pd->pd_version;
    pg->pg_rate = pd->pd_rate;
    pg->pg_minor_units = pd->pd_minor_units;
    pg->pg_join_bonus = pd->pd_join_bonus;
    pg->pg_window_days = pd->pd_qual == LY_PD_ROLLING ? pd->pd_window_days : 365;
    pg->pg_ntiers = pd->pd_ntiers;
    memcpy(pg->pg_tiers, pd->pd_tiers, sizeof pg->pg_tiers);
    pg->pg_ncategories = pd->pd_ncategories;
    for (int i = 0; i < pd->pd_ncategories; i++) {
        ly_category *ca = &pg->pg_categories[i];
        memcpy(ca->ca_name, pd->pd_categories[i].pc_name, sizeof ca->ca_name);
        ca->ca_mult = pd->pd_categories[i].pc_earns ? pd->pd_categories[i].pc_mult : 0;
    }
}

/* ---- writing the file ----------------------------------------------------- */

static void s_write_list(FILE *fp, const char *key, const ly_pd_list *l)
{
    if (!l->pl_n)
        return;
    fprintf(fp, "%s = ", key);
    for (int i = 0; i < l->pl_n; i++)
        fprintf(fp, "%s%s", i ? ", " : "", l->pl_items[i]);
    fputc('\n', fp);
}

static const char *s_clock_str(int min, char *buf, size_t len)
{
    if (min % 60)
        snprintf(buf, len, "%d:%02d", min / 60, min % 60);
    else
        snprintf(buf, len, "%d", min / 60);
    return buf;
}

/* As ranges where three or more days follow each other: "mon-fri,sun". */
static void s_write_weekdays(FILE *fp, unsigned mask)
{
    if (mask == LY_PD_EVERY_DAY)
        return;
    fprintf(fp, "weekdays = ");
    const char *sep = "";
    for (int i = 0; i < 7; i++) {
        if (!(mask & (1u << i)))
            continue;
        int j = i;
        while (j + 1 < 7 && (mask & (1u << (j + 1))))
            j++;
        if (j - i >= 2) {
            fprintf(fp, "%s%s-%s", sep, s_day_words[i], s_day_words[j]);
        } else {
            fprintf(fp, "%s%s", sep, s_day_words[i]);
            j = i;
        }
        sep = ",";
        i = j;
    }
    fputc('\n', fp);
}

static void s_write_campaign(FILE *fp, const ly_pd_campaign *cp)
{
    char a[32], b[32];
    fprintf(fp, "\n[campaign %s]\n", cp->cp_name);
    if (cp->cp_mult)
        fprintf(fp, "multiplier = %s\n", ly_ini_milli_str(cp->cp_mult, a, sizeof a));
    else
        fprintf(fp, "bonus = %lld\n", (long long)cp->cp_bonus);
    if (cp->cp_from)
        fprintf(fp, "from = %s\n", s_day_str(cp->cp_from, a, sizeof a));
    if (cp->cp_until)
        fprintf(fp, "until = %s\n", s_day_str(cp->cp_until, a, sizeof a));
    s_write_weekdays(fp, cp->cp_weekdays);
    if (cp->cp_start_min != 0 || cp->cp_end_min != LY_PD_DAY_MINUTES)
        fprintf(fp, "hours = %s-%s\n", s_clock_str(cp->cp_start_min, a, sizeof a),
                s_clock_str(cp->cp_end_min, b, sizeof b));
    s_write_list(fp, "categories", &cp->cp_categories);
    s_write_list(fp, "branches", &cp->cp_branches);
    s_write_list(fp, "tiers", &cp->cp_tiers);
    if (cp->cp_min_amount)
        fprintf(fp, "min_amount = %lld\n", (long long)cp->cp_min_amount);
}

int ly_progdef_write(const ly_progdef *pd, FILE *fp)
{
    s_report r = {NULL, NULL, 0};
    if (s_check(pd, 1, &r) != LY_OK) /* version 0 too: the default is shown as a file */
        return -1;
    char a[64];
    fprintf(fp, "[program]\nname = %s\nversion = %u\n", pd->pd_name, pd->pd_version);
    if (pd->pd_effective_ms)
        fprintf(fp, "effective = %s\n", s_utc_str(pd->pd_effective_ms, a, sizeof a));
    fprintf(fp, "minor_units = %u\npoints_per_unit = %s\nrounding = %s\n", pd->pd_minor_units,
            ly_ini_milli_str(pd->pd_rate, a, sizeof a), s_round_words[pd->pd_rounding]);
    fprintf(fp, "\n[tiers]\nqualification = %s\n", s_qual_words[pd->pd_qual]);
    if (pd->pd_qual == LY_PD_ROLLING)
        fprintf(fp, "window_days = %d\n", pd->pd_window_days);
    fprintf(fp, "qualify_on = %s\ndowngrade = %s\ngrace_days = %d\n", s_basis_words[pd->pd_basis],
            s_down_words[pd->pd_downgrade], pd->pd_grace_days);
    for (int i = 0; i < pd->pd_ntiers; i++)
        fprintf(fp, "\n[tier %s]\nthreshold = %lld\nmultiplier = %s\n", pd->pd_tiers[i].ti_name,
                (long long)pd->pd_tiers[i].ti_threshold,
                ly_ini_milli_str(pd->pd_tiers[i].ti_mult, a, sizeof a));
    for (int i = 0; i < pd->pd_ncategories; i++) {
        const ly_pd_category *ca = &pd->pd_categories[i];
        fprintf(fp, "\n[category %s]\nearns = %s\n", ca->pc_name, s_earns_words[ca->pc_earns]);
        if (ca->pc_earns)
            fprintf(fp, "multiplier = %s\n", ly_ini_milli_str(ca->pc_mult, a, sizeof a));
    }
    for (int i = 0; i < pd->pd_ncampaigns; i++)
        s_write_campaign(fp, &pd->pd_campaigns[i]);
    if (pd->pd_join_bonus)
        fprintf(fp, "\n[bonus join]\npoints = %lld\n", (long long)pd->pd_join_bonus);
    if (pd->pd_bday_points)
        fprintf(fp, "\n[bonus birthday]\npoints = %lld\nwindow_days = %d\nmin_set_days = %d\n",
                (long long)pd->pd_bday_points, pd->pd_bday_window_days, pd->pd_bday_min_set_days);
    return fflush(fp) == 0 && !ferror(fp) ? 0 : -1;
}

/* ---- campaigns ------------------------------------------------------------ */

int ly_progdef_campaign_applies(const ly_progdef *pd, int i, const ly_pd_line *ln)
{
    if (i < 0 || i >= pd->pd_ncampaigns || ln->ln_amount <= 0)
        return 0;
    const ly_pd_campaign *cp = &pd->pd_campaigns[i];
    const ly_pd_category *ca = s_category(pd, ln->ln_category);
    if (ca && !ca->pc_earns)
        return 0;
    if ((cp->cp_from && ln->ln_day < cp->cp_from) || (cp->cp_until && ln->ln_day > cp->cp_until))
        return 0;
    if (!(cp->cp_weekdays & (1u << s_weekday(ln->ln_day))))
        return 0;
    if (ln->ln_minute < cp->cp_start_min || ln->ln_minute >= cp->cp_end_min)
        return 0;
    if (ln->ln_amount < cp->cp_min_amount)
        return 0;
    if (cp->cp_categories.pl_n &&
        (!ln->ln_category || !s_in_list(&cp->cp_categories, ln->ln_category)))
        return 0;
    if (cp->cp_branches.pl_n && (!ln->ln_branch || !s_in_list(&cp->cp_branches, ln->ln_branch)))
        return 0;
    if (cp->cp_tiers.pl_n && (ln->ln_tier < 0 || ln->ln_tier >= pd->pd_ntiers ||
                              !s_in_list(&cp->cp_tiers, pd->pd_tiers[ln->ln_tier].ti_name)))
        return 0;
    return 1;
}

int64_t ly_progdef_campaign_best(const ly_progdef *pd, const ly_pd_line *ln, int *which)
{
    if (which)
        *which = -1;
    const ly_pd_category *ca = s_category(pd, ln->ln_category);
    if (ln->ln_amount <= 0 || (ca && !ca->pc_earns))
        return 0;
    if (ln->ln_amount > LY_AMOUNT_MAX)
        return -1; /* keeps the product below 2^128 */
    int tier = ln->ln_tier < 0 ? 0 : ln->ln_tier >= pd->pd_ntiers ? pd->pd_ntiers - 1 : ln->ln_tier;
    /* As ly_earn_points: every factor in thousandths, one division at the end. */
    unsigned __int128 full = (unsigned __int128)ln->ln_amount * pd->pd_rate *
                             pd->pd_tiers[tier].ti_mult * (ca ? ca->pc_mult : LY_MILLI);
    unsigned __int128 div = (unsigned __int128)pd->pd_minor_units * LY_MILLI * LY_MILLI * LY_MILLI;
    unsigned __int128 plain = full / div, best = plain;
    for (int i = 0; i < pd->pd_ncampaigns; i++) {
        if (!ly_progdef_campaign_applies(pd, i, ln))
            continue;
        const ly_pd_campaign *cp = &pd->pd_campaigns[i];
        unsigned __int128 p = cp->cp_mult ? full * cp->cp_mult / (div * LY_MILLI)
                                          : plain + (unsigned __int128)cp->cp_bonus;
        if (p > best) { /* strictly: on a tie the earlier one (or none) stays */
            best = p;
            if (which)
                *which = i;
        }
    }
    return best > (unsigned __int128)LY_AMOUNT_MAX ? -1 : (int64_t)best;
}
