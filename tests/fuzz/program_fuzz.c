/* program_fuzz.c -- libFuzzer target for the program file parser and the
 * canonical form's decoder (common/program.h).
 *
 * The first input byte selects the mode, the rest is the input:
 *  - even: program file text for ly_progdef_parse (the seeds start with a
 *    newline, so a seed is a program file with one blank line on top);
 *  - odd: canonical bytes for ly_progdef_decode (the seeds start with 0x01).
 * Beyond "no crash, no sanitizer report" it checks:
 *  - the parser returns only the errors program.h lists, with a reason
 *    exactly when it fails; the decoder only LY_OK, LY_EPROTO or LY_EVERSION;
 *  - a parsed definition is valid; it encodes to 1..LY_PD_ENC_MAX bytes
 *    (also into a buffer of exactly that size, and not into a smaller one);
 *    the bytes decode to an equal definition, equal under memcmp too (program.h
 *    promises zeroes after every NUL); ly_progdef_write's file parses back to
 *    an equal definition; the hash is the same each time, for each copy, and
 *    not 0;
 *  - a decoded definition re-encodes to the very same bytes, and passes the
 *    same checks as a parsed one (ly_progdef_write holds for every valid
 *    definition, not only for one that came from a file);
 *  - on a line that meets every limit of a campaign, that campaign applies;
 *    the best campaign applies and gives at least the points without one
 *    (-1 only for too many points), which are ly_earn_points's under
 *    ly_progdef_to_program.
 * A broken invariant traps, which libFuzzer reports as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ledger.h"
#include "common/program.h"

#define S_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "program_fuzz: check failed: %s (line %d)\n", #cond, __LINE__);        \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

static uint8_t s_buf[LY_PD_ENC_MAX];

/* A line that meets every limit campaign `i` sets, at `amount` (0: its
 * minimum), or 0 if no day does (weekdays that its dates leave out). */
static int s_line_for(const ly_progdef *pd, int i, int64_t amount, ly_pd_line *ln)
{
    const ly_pd_campaign *cp = &pd->pd_campaigns[i];
    memset(ln, 0, sizeof *ln);
    ln->ln_amount = amount ? amount : cp->cp_min_amount > 0 ? cp->cp_min_amount : 1;
    ln->ln_category = cp->cp_categories.pl_n ? cp->cp_categories.pl_items[0] : NULL;
    ln->ln_branch = cp->cp_branches.pl_n ? cp->cp_branches.pl_items[0] : "x";
    ln->ln_tier = 0;
    if (cp->cp_tiers.pl_n)
        for (int t = 0; t < pd->pd_ntiers; t++)
            if (strcmp(pd->pd_tiers[t].ti_name, cp->cp_tiers.pl_items[0]) == 0)
                ln->ln_tier = t;
    ln->ln_minute = cp->cp_start_min;
    int32_t day = cp->cp_from ? cp->cp_from : 20000; /* 2024-10-04 */
    for (int k = 0; k < 7; k++, day++) {
        if (cp->cp_until && day > cp->cp_until)
            return 0;
        if (cp->cp_weekdays & (1u << (((day % 7) + 7 + 3) % 7))) { /* 1970-01-01: Thursday */
            ln->ln_day = day;
            return 1;
        }
    }
    return 0;
}

/* The campaign rule on lines each campaign meets: that campaign applies, the
 * best one applies and gives at least the points without campaign, which are
 * ly_earn_points's under ly_progdef_to_program. */
static void s_check_campaigns(const ly_progdef *pd)
{
    static ly_progdef plain; /* the same without campaigns */
    static ly_program pg;
    plain = *pd;
    plain.pd_ncampaigns = 0;
    memset(plain.pd_campaigns, 0, sizeof plain.pd_campaigns);
    ly_progdef_to_program(pd, &pg);
    for (int i = 0; i < pd->pd_ncampaigns; i++) {
        static const int64_t amounts[] = {0, 1, 12345, LY_AMOUNT_MAX};
        for (size_t a = 0; a < sizeof amounts / sizeof amounts[0]; a++) {
            ly_pd_line ln;
            if (!s_line_for(pd, i, amounts[a], &ln) ||
                ln.ln_amount < pd->pd_campaigns[i].cp_min_amount)
                continue;
            S_CHECK(ly_progdef_campaign_applies(pd, i, &ln));
            int which = -2, none = -2;
            int64_t best = ly_progdef_campaign_best(pd, &ln, &which);
            int64_t base = ly_progdef_campaign_best(&plain, &ln, &none);
            S_CHECK(none == -1);
            S_CHECK(base == ly_earn_points(&pg, ln.ln_amount, ln.ln_tier, ln.ln_category, NULL));
            S_CHECK(which >= -1 && which < pd->pd_ncampaigns);
            S_CHECK(which < 0 || ly_progdef_campaign_applies(pd, which, &ln));
            S_CHECK(best == -1 || (base >= 0 && best >= base));
            S_CHECK(which >= 0 || best == base);
        }
    }
}

/* Every invariant of a valid definition `pd`; returns its encoded length. */
static size_t s_check_def(const ly_progdef *pd)
{
    static ly_progdef pd2, pd3; /* large: kept off the stack */
    char why[512];
    S_CHECK(ly_progdef_validate(pd, why, sizeof why) == LY_OK && why[0] == '\0');

    size_t n = ly_progdef_encode(pd, s_buf, sizeof s_buf);
    S_CHECK(n > 0 && n <= LY_PD_ENC_MAX);
    uint8_t *exact = malloc(n); /* ASan sees a write past a buffer of just `n` */
    S_CHECK(exact != NULL);
    S_CHECK(ly_progdef_encode(pd, exact, n) == n && memcmp(exact, s_buf, n) == 0);
    S_CHECK(ly_progdef_encode(pd, exact, n - 1) == 0);
    free(exact);

    S_CHECK(ly_progdef_decode(s_buf, n, &pd2) == LY_OK);
    S_CHECK(ly_progdef_equal(pd, &pd2));
    S_CHECK(memcmp(pd, &pd2, sizeof pd2) == 0);

    char *text = NULL;
    size_t tlen = 0;
    FILE *fp = open_memstream(&text, &tlen);
    S_CHECK(fp != NULL);
    S_CHECK(ly_progdef_write(pd, fp) == 0);
    S_CHECK(fclose(fp) == 0);
    ly_err rc = ly_progdef_parse("written", text, tlen, &pd3, why, sizeof why);
    if (rc != LY_OK) {
        fprintf(stderr, "program_fuzz: written file refused: %s\n%s", why, text);
        __builtin_trap();
    }
    free(text);
    S_CHECK(ly_progdef_equal(pd, &pd3));
    S_CHECK(memcmp(pd, &pd3, sizeof pd3) == 0);

    uint64_t h = ly_progdef_hash(pd);
    S_CHECK(h != 0);
    S_CHECK(ly_progdef_hash(pd) == h && ly_progdef_hash(&pd2) == h && ly_progdef_hash(&pd3) == h);
    s_check_campaigns(pd);
    return n;
}

static void s_fuzz_text(const uint8_t *data, size_t size)
{
    static ly_progdef pd;
    char why[512];
    ly_err rc = ly_progdef_parse("fuzz.ini", (const char *)data, size, &pd, why, sizeof why);
    S_CHECK(rc == LY_OK || rc == LY_ECONFIG || rc == LY_ENOMEM);
    S_CHECK(rc == LY_OK ? why[0] == '\0' : strncmp(why, "fuzz.ini:", 9) == 0);
    if (rc == LY_OK)
        s_check_def(&pd);
}

static void s_fuzz_bytes(const uint8_t *data, size_t size)
{
    static ly_progdef pd;
    ly_err rc = ly_progdef_decode(data, size, &pd);
    S_CHECK(rc == LY_OK || rc == LY_EPROTO || rc == LY_EVERSION);
    if (rc != LY_OK)
        return;
    size_t n = s_check_def(&pd);
    S_CHECK(n == size && memcmp(s_buf, data, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        s_fuzz_bytes(data + 1, size - 1);
    else
        s_fuzz_text(data + 1, size - 1);
    return 0;
}
