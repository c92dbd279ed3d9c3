/* program.h -- the loyalty program as chain data: the program file, its
 * checks, its canonical binary form and its hash.
 *
 * A program definition (ly_progdef) is what head office writes in a program
 * file and applies once; it travels to every branch inside a replicated
 * program event (issue 12), so every node holding the same events runs the
 * same rules. This module holds no I/O beyond reading and writing the file:
 * parse text, check, encode, decode, hash, print. Nothing here knows about
 * events, stores or sockets.
 *
 * ---- The program file ------------------------------------------------------
 *
 * INI, read with libinih like the node config (config.h): `key = value`; a
 * line starting with `;` or `#` is a comment, and so is the rest of a line
 * from a `;` that follows a blank (so a value cannot hold " ;"); names
 * of sections and keys are case-sensitive, leading whitespace is ignored (no
 * continuation lines). The file is UTF-8 (a byte order mark is allowed), at
 * most LY_PD_FILE_MAX bytes, lines at most LY_PD_LINE_MAX bytes. Every
 * section and every key may appear once; an unknown section or key is an
 * error. Sections may come in any order; the definition keeps tiers,
 * categories and campaigns in the order of the file.
 *
 *   [program]
 *   name = Acme Rewards          ; required; 1..63 bytes of UTF-8 text, no ';'
 *                                ; and no control characters
 *   version = 3                  ; required; 1..4294967295; versions only increase
 *   effective = 2027-01-01T00:00:00Z
 *                                ; optional UTC time (exactly this form, years
 *                                ; 2000..9999); omitted: in force at once
 *   minor_units = 100            ; required; minor units per 1.00 of currency, 1..1000000
 *   points_per_unit = 1          ; required; points per 1.00 of currency,
 *                                ; 0.001..1000, at most 3 decimals
 *   rounding = down              ; optional; the only rule: each purchase's points
 *                                ; are rounded down (floor) once, after every
 *                                ; multiplier (ledger.h ly_earn_points)
 *
 *   [tiers]                      ; optional; omitted: rolling 365, base_points,
 *                                ; to_qualified, grace_days 0 (today's rule)
 *   qualification = rolling      ; required in [tiers]: rolling | calendar | anniversary
 *                                ;  rolling: qualifying in the window_days UTC days
 *                                ;    up to and including today;
 *                                ;  calendar: in the UTC calendar year;
 *                                ;  anniversary: in the year from the customer's
 *                                ;    enrollment day (UTC), renewed each anniversary
 *   window_days = 365            ; 1..730; required with rolling, refused otherwise
 *   qualify_on = base_points     ; optional: base_points (points before any
 *                                ; multiplier, the default) | spend (purchase
 *                                ; amounts in minor units, less refunds)
 *   downgrade = to_qualified     ; optional: to_qualified (the default) | one_down
 *                                ; (one_down only with rolling, see below)
 *   grace_days = 0               ; optional, 0..366; with calendar or anniversary
 *                                ; at most 69; with rolling, window_days +
 *                                ; grace_days (x the tiers minus one for one_down)
 *                                ; at most 800: the rules read only the 800 days of
 *                                ; qualifying points a customer's state keeps
 *                                ; (LY_QUAL_KEEP_DAYS, tiers.h)
 *                                ; A customer who reaches a tier in a period holds it
 *                                ; to the end of the next period plus grace_days (for
 *                                ; rolling, a period is one day: the tier holds for
 *                                ; grace_days after the points fall below it). Then
 *                                ; the tier drops: to_qualified to the tier the last
 *                                ; period qualifies for, one_down by one tier (never
 *                                ; below the qualified one).
 *
 *   [tier Silver]                ; at least one; 1..8 tiers, names 1..32 bytes of
 *   threshold = 0                ;   A-Z a-z 0-9 . _ : @ # / + -; both keys required;
 *   multiplier = 1               ;   thresholds 0..10^12, listed in strictly increasing
 *                                ;   order, the first 0 (the base tier); in base points
 *                                ;   or in minor units of spend (qualify_on);
 *                                ;   multiplier 0.001..100, at most 3 decimals
 *
 *   [category giftcards]         ; 0..32, names like tiers' (1..32 bytes)
 *   earns = no                   ; optional: yes (the default) | no: a line of this
 *                                ;   category earns nothing, no campaign applies to it
 *   multiplier = 2               ; optional, 0.001..100 (default 1); refused with earns = no
 *
 *   [campaign spring]            ; 0..16, names like tiers' (1..32 bytes)
 *   multiplier = 2               ; exactly one of multiplier (above 1, at most 100, at
 *   bonus = 50                   ;   most 3 decimals) and bonus (fixed points, 1..1000000)
 *   from = 2027-03-01            ; optional first day, inclusive (branch local date)
 *   until = 2027-03-31           ; optional last day, inclusive; not before from
 *   weekdays = mon-fri,sun       ; optional: mon tue wed thu fri sat sun, lists and
 *                                ;   ranges (mon-fri, no wrap-around); default every day
 *   hours = 17-20                ; optional, branch local time: from 17:00 up to but not
 *                                ;   including 20:00; H or H:MM, end up to 24, start
 *                                ;   before end (no wrap past midnight); default all day
 *   categories = shoes, bags     ; optional lists of 1..8 names separated by commas:
 *   branches = north, south      ;   categories and tiers must be defined in this file
 *   tiers = Gold, Platinum       ;   (a category must earn); branches are node names
 *                                ;   (1..63 bytes of A-Z a-z 0-9 . _ -); a list is
 *                                ;   a set: kept sorted, duplicates refused
 *   min_amount = 5000            ; optional: purchases of at least this many minor units
 *
 *   [bonus join]                 ; optional; points required: 0..10^9, on enrollment,
 *   points = 100                 ;   once per customer chain-wide (once key join:C)
 *
 *   [bonus birthday]             ; optional; points required: 1..1000000
 *   points = 200
 *   window_days = 7              ; optional, 0..90 (default 0)
 *   min_set_days = 30            ; optional, 0..366 (default 0)
 *
 * Dates are YYYY-MM-DD with years 2000..9999. Time zones are not in the
 * program file: a branch's zone is its node config's; campaign days and hours
 * are that branch's local time, tier periods are UTC days so that every branch
 * gives a customer the same tier.
 *
 * Rules the file states but this module does not run (the earn path does):
 *  - Campaigns: a campaign applies to a purchase line (an earn: one amount,
 *    one category) when every limit it sets holds (local day, weekday and
 *    time at the branch, category, branch, the customer's tier before the
 *    purchase, amount) and the line's category earns; a category the file
 *    does not define earns x1 and meets no campaign's categories list.
 *    Campaigns do NOT stack: the best single applicable campaign applies,
 *    the one that gives the most points for that line (a multiplier m gives
 *    floor(amount / minor_units x rate x tier x category x m), rounded once;
 *    a bonus b gives the points without campaign + b); on a tie the campaign
 *    listed first in the file, and one that adds nothing is not applied.
 *    ly_progdef_campaign_best implements the choice. Why not multiply: five
 *    overlapping x2 campaigns would give x32, which no one means.
 *  - Birthday: credited on the customer's first earn (at any branch) on the
 *    birthday or within window_days after it (0: on the day only), local date
 *    of that branch; a 29 February birthday falls on 28 February in other
 *    years. Once per customer per year chain-wide, once key "birthday C YEAR"
 *    (the year of the birthday). Not paid if the profile's birthday was set
 *    fewer than min_set_days days before the birthday.
 *
 * Every error names the file and line: "spring.ini:12: unknown key 'mutliplier'
 * in [campaign spring]"; errors about the whole file have no line ("spring.ini:
 * missing [program] section"). A file with any error is refused whole.
 *
 * ---- The canonical form ----------------------------------------------------
 *
 * ly_progdef_encode writes a versioned little-endian record (record.h) of
 * every field in a fixed order; equal definitions give equal bytes, and the
 * bytes are what ly_progdef_hash hashes. It is at most LY_PD_ENC_MAX bytes
 * (19,428: every array and list full, every name at its longest; the example
 * program is about 300), so a program event can be far larger than any other
 * event (LY_EVENT_ENC_MAX is 1,400): its record and peer message need room
 * for LY_PD_ENC_MAX plus the event's own fields. Anything ly_progdef_decode
 * accepts is canonical: encoding it again gives the same bytes. */
#ifndef LY_PROGRAM_H
#define LY_PROGRAM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"
#include "common/ledger.h"

#define LY_PD_FILE_MAX       (256 * 1024)      /* bytes in a program file */
#define LY_PD_LINE_MAX       1024              /* bytes in one line, newline included */
#define LY_PD_NAME_MAX       63                /* program name, UTF-8 bytes */
#define LY_PD_TIERS_MAX      LY_TIERS_MAX      /* 8 */
#define LY_PD_CATEGORIES_MAX LY_CATEGORIES_MAX /* 32 */
#define LY_PD_CAMPAIGNS_MAX  16
#define LY_PD_CAMPAIGN_MAX   32 /* bytes in a campaign name */
#define LY_PD_LIST_MAX       8  /* entries in a campaign's categories, branches or tiers */
#define LY_PD_BRANCH_MAX     63 /* a node name (config.h LY_NODE_NAME_MAX) */
#define LY_PD_ITEM_MAX       LY_PD_BRANCH_MAX /* the longest list entry */

/* Ranges (multipliers and rates in thousandths, LY_MILLI). */
#define LY_PD_RATE_MAX        1000000 /* points_per_unit 1000 */
#define LY_PD_MULT_MAX        100000  /* multipliers x100 */
#define LY_PD_MINOR_UNITS_MAX 1000000
#define LY_PD_JOIN_MAX        1000000000         /* join bonus points */
#define LY_PD_BONUS_MAX       1000000            /* a campaign's bonus, the birthday's points */
#define LY_PD_WINDOW_MAX      LY_WINDOW_DAYS_MAX /* 730 */
#define LY_PD_GRACE_MAX       366
#define LY_PD_BDAY_WINDOW_MAX 90
#define LY_PD_BDAY_SET_MAX    366
#define LY_PD_DAY_MIN         10957   /* 2000-01-01, days since 1970-01-01 */
#define LY_PD_DAY_MAX         2932896 /* 9999-12-31 */
#define LY_PD_EVERY_DAY       0x7f    /* weekday mask: bit 0 Monday .. bit 6 Sunday */
#define LY_PD_DAY_MINUTES     1440

typedef enum ly_pd_qual {
    LY_PD_ROLLING = 1,
    LY_PD_CALENDAR = 2,
    LY_PD_ANNIVERSARY = 3,
} ly_pd_qual;

typedef enum ly_pd_basis {
    LY_PD_ON_BASE_POINTS = 1,
    LY_PD_ON_SPEND = 2,
} ly_pd_basis;

typedef enum ly_pd_downgrade {
    LY_PD_TO_QUALIFIED = 1,
    LY_PD_ONE_DOWN = 2,
} ly_pd_downgrade;

typedef enum ly_pd_rounding {
    LY_PD_ROUND_DOWN = 1, /* floor, once per purchase line */
} ly_pd_rounding;

typedef struct ly_pd_category {
    char pc_name[LY_CATEGORY_MAX + 1];
    uint32_t pc_mult; /* thousandths, 1..LY_PD_MULT_MAX; 1000 when it does not earn */
    uint8_t pc_earns; /* 1 yes, 0 no */
} ly_pd_category;

/* A set of names: sorted (strcmp), no duplicates, pl_n 0..LY_PD_LIST_MAX;
 * empty = no limit. */
typedef struct ly_pd_list {
    int pl_n;
    char pl_items[LY_PD_LIST_MAX][LY_PD_ITEM_MAX + 1];
} ly_pd_list;

typedef struct ly_pd_campaign {
    char cp_name[LY_PD_CAMPAIGN_MAX + 1];
    uint32_t cp_mult;         /* thousandths 1001..LY_PD_MULT_MAX, or 0 for a bonus campaign */
    int64_t cp_bonus;         /* points 1..LY_PD_BONUS_MAX, or 0 for a multiplier campaign */
    int32_t cp_from;          /* first day, days since 1970-01-01 (local date); 0: no start */
    int32_t cp_until;         /* last day, inclusive; 0: no end; >= cp_from when both set */
    uint8_t cp_weekdays;      /* bit 0 Monday .. bit 6 Sunday, 1..LY_PD_EVERY_DAY */
    uint16_t cp_start_min;    /* local minutes after midnight: [start, end), 0..1439 */
    uint16_t cp_end_min;      /* start + 1 .. LY_PD_DAY_MINUTES */
    int64_t cp_min_amount;    /* minor units, 0 (no minimum) .. LY_AMOUNT_MAX */
    ly_pd_list cp_categories; /* names of the definition's earning categories */
    ly_pd_list cp_branches;   /* node names */
    ly_pd_list cp_tiers;      /* names of the definition's tiers */
} ly_pd_campaign;

/* A program definition. Plain data: copy it with `=`; every string is
 * NUL-terminated and the bytes after the NUL are zero in what this module
 * fills, so two definitions built here compare equal with memcmp exactly when
 * ly_progdef_equal says so. */
typedef struct ly_progdef {
    char pd_name[LY_PD_NAME_MAX + 1];
    uint32_t pd_version;     /* >= 1; 0 only for ly_progdef_default */
    int64_t pd_effective_ms; /* UTC, ms since the epoch, whole seconds; 0 = at once */
    uint32_t pd_minor_units; /* per 1.00 of currency */
    uint32_t pd_rate;        /* points per 1.00, thousandths */
    uint8_t pd_rounding;     /* ly_pd_rounding */
    uint8_t pd_qual;         /* ly_pd_qual */
    uint8_t pd_basis;        /* ly_pd_basis */
    uint8_t pd_downgrade;    /* ly_pd_downgrade */
    int32_t pd_window_days;  /* rolling: 1..LY_PD_WINDOW_MAX; otherwise 0 */
    int32_t pd_grace_days;   /* 0..LY_PD_GRACE_MAX */
    int pd_ntiers;           /* 1..LY_PD_TIERS_MAX, thresholds strictly increasing from 0 */
    ly_tier pd_tiers[LY_PD_TIERS_MAX];
    int pd_ncategories;
    ly_pd_category pd_categories[LY_PD_CATEGORIES_MAX];
    int pd_ncampaigns;
    ly_pd_campaign pd_campaigns[LY_PD_CAMPAIGNS_MAX];
    int64_t pd_join_bonus;        /* 0..LY_PD_JOIN_MAX */
    int64_t pd_bday_points;       /* 0 (no birthday bonus) or 1..LY_PD_BONUS_MAX */
    int32_t pd_bday_window_days;  /* 0..LY_PD_BDAY_WINDOW_MAX; 0 without a birthday bonus */
    int32_t pd_bday_min_set_days; /* 0..LY_PD_BDAY_SET_MAX; 0 without a birthday bonus */
} ly_progdef;

/* The largest encoded definition: every array and list full, every string at
 * its maximum. */
#define LY_PD_ENC_TIER     (1 + LY_TIER_NAME_MAX + 8 + 4)
#define LY_PD_ENC_CATEGORY (1 + LY_CATEGORY_MAX + 4 + 1)
#define LY_PD_ENC_LIST(m)  (1 + LY_PD_LIST_MAX * (1 + (m)))
#define LY_PD_ENC_CAMPAIGN                                                                         \
    (1 + LY_PD_CAMPAIGN_MAX + 4 + 8 + 4 + 4 + 1 + 2 + 2 + 8 + LY_PD_ENC_LIST(LY_CATEGORY_MAX) +    \
     LY_PD_ENC_LIST(LY_PD_BRANCH_MAX) + LY_PD_ENC_LIST(LY_TIER_NAME_MAX))
#define LY_PD_ENC_HEAD (1 + 1 + LY_PD_NAME_MAX + 4 + 8 + 4 + 4 + 4 + 2 + 2)
#define LY_PD_ENC_MAX                                                                              \
    (LY_PD_ENC_HEAD + 1 + LY_PD_TIERS_MAX * LY_PD_ENC_TIER + 1 +                                   \
     LY_PD_CATEGORIES_MAX * LY_PD_ENC_CATEGORY + 1 + LY_PD_CAMPAIGNS_MAX * LY_PD_ENC_CAMPAIGN +    \
     4 + 4 + 2 + 2)

/* The documented default program as version 0: what a chain runs before any
 * program is applied, identical everywhere. Silver 0 x1, Gold 1000 x1.25,
 * Platinum 5000 x1.5; rolling 365 days on base points, to_qualified, no
 * grace; 1 point per 1.00 (100 minor units), rounding down; no categories,
 * campaigns or bonuses; name "default". Not a valid program to apply
 * (version 0): ly_progdef_validate and ly_progdef_decode refuse it. */
void ly_progdef_default(ly_progdef *pd);

/* Reads and checks the program file `path`. On success fills `out` and
 * returns LY_OK. On error returns LY_ECONFIG (LY_ENOMEM if out of memory),
 * writes nothing to `out` and puts "PATH:LINE: reason" or "PATH: reason" into
 * `why` (if not NULL; cut to `why_len` bytes). */
ly_err ly_progdef_load(const char *path, ly_progdef *out, char *why, size_t why_len);

/* The same from `len` bytes at `text` (need not be NUL-terminated; a NUL
 * byte is an error); `name` stands for the path in messages. For tests, for
 * `loyalctl program check -` and for a node given the text. */
ly_err ly_progdef_parse(const char *name, const char *text, size_t len, ly_progdef *out, char *why,
                        size_t why_len);

/* Checks a definition against every rule the parser enforces (ranges, order,
 * names, references, canonical form: sorted lists, zeroes where a field does
 * not apply). LY_OK, or LY_EINVAL with a reason in `why` (if not NULL). */
ly_err ly_progdef_validate(const ly_progdef *pd, char *why, size_t why_len);

/* 1 if `a` and `b` are the same definition (same canonical bytes). */
int ly_progdef_equal(const ly_progdef *a, const ly_progdef *b);

/* Writes the canonical form of `pd` into `buf` of `cap` bytes. Returns the
 * length, or 0 if `pd` is not valid (version 0 is accepted, for the default)
 * or `cap` is too small; LY_PD_ENC_MAX always suffices. */
size_t ly_progdef_encode(const ly_progdef *pd, uint8_t *buf, size_t cap);

/* Decodes ly_progdef_encode's form, as a peer may have sent it: refuses
 * (LY_EPROTO) short, long or malformed input and anything ly_progdef_validate
 * refuses, version 0 included; LY_EVERSION for an unknown format version.
 * `out` is unspecified on error. */
ly_err ly_progdef_decode(const uint8_t *buf, size_t len, ly_progdef *out);

/* SipHash (hash.h) of the canonical form; equal on every node for equal
 * definitions. 0 if `pd` cannot be encoded. */
uint64_t ly_progdef_hash(const ly_progdef *pd);

/* Fills today's ly_program from `pd` so ly_earn_points and ly_tier_at keep
 * working: version, rate, minor units, join bonus, tiers, categories (one
 * that does not earn gets multiplier 0). pg_window_days is the rolling
 * window; for calendar and anniversary, which ly_program cannot express, 365.
 * Campaigns, the birthday bonus, qualify_on, downgrade and grace have no
 * place there and are left out. */
void ly_progdef_to_program(const ly_progdef *pd, ly_program *pg);

/* Writes `pd` as a program file that ly_progdef_parse reads back to an equal
 * definition (every key explicit, comments none). Returns 0, or -1 if a write
 * failed (errno set by stdio) or `pd` is not valid (version 0 is accepted, for
 * the default, whose file the parser then refuses for its version). */
int ly_progdef_write(const ly_progdef *pd, FILE *fp);

/* Day `day` (days since 1970-01-01) as "YYYY-MM-DD" into `buf` (11 bytes). */
const char *ly_pd_day_str(int32_t day, char *buf, size_t len);

/* ---- campaigns: the combination rule ---------------------------------- */

/* One purchase line as the earn path sees it at the branch. */
typedef struct ly_pd_line {
    int64_t ln_amount;       /* minor units, > 0 */
    const char *ln_category; /* NULL or "" for none */
    const char *ln_branch;   /* this node's name */
    int ln_tier;             /* the customer's tier index in the definition */
    int32_t ln_day;          /* local date at the branch, days since 1970-01-01 */
    int ln_minute;           /* local minutes after midnight, 0..1439 */
} ly_pd_line;

/* Both take a valid `pd` (ly_progdef_validate). */

/* 1 if campaign `i` of `pd` applies to `ln`: every limit it sets holds and the
 * line's category earns. */
int ly_progdef_campaign_applies(const ly_progdef *pd, int i, const ly_pd_line *ln);

/* The points for `ln` under the best single applicable campaign (the most
 * points; the first in the file on a tie), or without campaign if none
 * applies: stores the campaign's index (or -1) in `*which` (if not NULL) and
 * returns the points (0 for a category that does not earn or an amount not
 * above 0; -1 for an amount above LY_AMOUNT_MAX or points that would be, as
 * ly_earn_points). */
int64_t ly_progdef_campaign_best(const ly_progdef *pd, const ly_pd_line *ln, int *which);

#endif
