/* program_test.c -- the program file (common/program.h): parsing, every
 * refusal with its line, the canonical form under truncation and garbling,
 * writing back, the bridge to ly_program and the campaign combination rule. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/program.h"

static char s_why[1024];

/* The repository root, from this file's path (tests/unit/program_test.c). */
static const char *s_root(void)
{
    static char root[4096];
    snprintf(root, sizeof root, "%s", __FILE__);
    char *p = strstr(root, "/tests/unit/");
    cr_assert_not_null(p, "cannot find the source tree from %s", __FILE__);
    *p = '\0';
    return root;
}

static ly_err s_parse(const char *text, ly_progdef *pd)
{
    return ly_progdef_parse("t.ini", text, strlen(text), pd, s_why, sizeof s_why);
}

static ly_progdef *s_new(void)
{
    ly_progdef *pd = calloc(1, sizeof *pd);
    cr_assert_not_null(pd);
    return pd;
}

static ly_progdef *s_example(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/deploy/program.example.ini", s_root());
    ly_progdef *pd = s_new();
    cr_assert_eq(ly_progdef_load(path, pd, s_why, sizeof s_why), LY_OK, "%s", s_why);
    return pd;
}

#define S_HEAD                                                                                     \
    "[program]\nname = T\nversion = 1\nminor_units = 100\npoints_per_unit = 1\n"                   \
    "[tier Silver]\nthreshold = 0\nmultiplier = 1\n"
/* S_HEAD is 8 lines: what follows starts at line 9. */

Test(program, example_parses_to_the_expected_values)
{
    ly_progdef *pd = s_example();
    cr_expect_str_eq(pd->pd_name, "Example Rewards");
    cr_expect_eq(pd->pd_version, 1);
    cr_expect_eq(pd->pd_effective_ms, 1798761600000LL); /* 2027-01-01T00:00:00Z */
    cr_expect_eq(pd->pd_minor_units, 100);
    cr_expect_eq(pd->pd_rate, 1000);
    cr_expect_eq(pd->pd_rounding, LY_PD_ROUND_DOWN);
    cr_expect_eq(pd->pd_qual, LY_PD_ROLLING);
    cr_expect_eq(pd->pd_window_days, 365);
    cr_expect_eq(pd->pd_basis, LY_PD_ON_BASE_POINTS);
    cr_expect_eq(pd->pd_downgrade, LY_PD_ONE_DOWN);
    cr_expect_eq(pd->pd_grace_days, 30);
    cr_assert_eq(pd->pd_ntiers, 3);
    cr_expect_str_eq(pd->pd_tiers[1].ti_name, "Gold");
    cr_expect_eq(pd->pd_tiers[1].ti_threshold, 1000);
    cr_expect_eq(pd->pd_tiers[1].ti_mult, 1250);
    cr_expect_eq(pd->pd_tiers[2].ti_mult, 1500);
    cr_assert_eq(pd->pd_ncategories, 2);
    cr_expect_str_eq(pd->pd_categories[0].pc_name, "electronics");
    cr_expect_eq(pd->pd_categories[0].pc_mult, 2000);
    cr_expect_eq(pd->pd_categories[0].pc_earns, 1);
    cr_expect_eq(pd->pd_categories[1].pc_earns, 0);
    cr_expect_eq(pd->pd_categories[1].pc_mult, 1000);
    cr_assert_eq(pd->pd_ncampaigns, 2);
    const ly_pd_campaign *hh = &pd->pd_campaigns[0], *sp = &pd->pd_campaigns[1];
    cr_expect_str_eq(hh->cp_name, "happy-hour");
    cr_expect_eq(hh->cp_mult, 2000);
    cr_expect_eq(hh->cp_bonus, 0);
    cr_expect_eq(hh->cp_weekdays, 0x1f);
    cr_expect_eq(hh->cp_start_min, 17 * 60);
    cr_expect_eq(hh->cp_end_min, 20 * 60);
    cr_expect_eq(hh->cp_from, 0);
    cr_expect_eq(hh->cp_until, 0);
    cr_expect_str_eq(sp->cp_name, "spring");
    cr_expect_eq(sp->cp_mult, 0);
    cr_expect_eq(sp->cp_bonus, 50);
    cr_expect_eq(sp->cp_from, 20878); /* 2027-03-01 */
    cr_expect_eq(sp->cp_until, 20908);
    cr_expect_eq(sp->cp_weekdays, LY_PD_EVERY_DAY);
    cr_expect_eq(sp->cp_start_min, 0);
    cr_expect_eq(sp->cp_end_min, 1440);
    cr_expect_eq(sp->cp_min_amount, 5000);
    cr_assert_eq(sp->cp_tiers.pl_n, 2);
    cr_expect_str_eq(sp->cp_tiers.pl_items[0], "Gold");
    cr_expect_str_eq(sp->cp_tiers.pl_items[1], "Platinum");
    cr_assert_eq(sp->cp_branches.pl_n, 2);
    cr_expect_str_eq(sp->cp_branches.pl_items[0], "north");
    cr_expect_eq(sp->cp_categories.pl_n, 0);
    cr_expect_eq(pd->pd_join_bonus, 100);
    cr_expect_eq(pd->pd_bday_points, 200);
    cr_expect_eq(pd->pd_bday_window_days, 7);
    cr_expect_eq(pd->pd_bday_min_set_days, 30);
    cr_expect_eq(ly_progdef_validate(pd, s_why, sizeof s_why), LY_OK, "%s", s_why);
    free(pd);
}

Test(program, minimal_file_takes_the_documented_defaults)
{
    ly_progdef *pd = s_new();
    cr_assert_eq(s_parse(S_HEAD, pd), LY_OK, "%s", s_why);
    cr_expect_eq(pd->pd_effective_ms, 0);
    cr_expect_eq(pd->pd_rounding, LY_PD_ROUND_DOWN);
    cr_expect_eq(pd->pd_qual, LY_PD_ROLLING);
    cr_expect_eq(pd->pd_window_days, 365);
    cr_expect_eq(pd->pd_basis, LY_PD_ON_BASE_POINTS);
    cr_expect_eq(pd->pd_downgrade, LY_PD_TO_QUALIFIED);
    cr_expect_eq(pd->pd_grace_days, 0);
    cr_expect_eq(pd->pd_ncategories + pd->pd_ncampaigns, 0);
    cr_expect_eq(pd->pd_join_bonus + pd->pd_bday_points, 0);
    free(pd);
}

Test(program, calendar_and_spend_and_sections_in_any_order)
{
    ly_progdef *pd = s_new();
    /* A campaign may name a tier defined further down; the weekday list is a set. */
    const char *text =
        "[campaign weekend]\nbonus = 10\nweekdays = sun, sat\ntiers = Gold\n"
        "hours = 9:30 - 17\n" S_HEAD "[tier Gold]\nthreshold = 100000\nmultiplier = 1.001\n"
        "[tiers]\nqualification = calendar\nqualify_on = spend\n";
    cr_assert_eq(s_parse(text, pd), LY_OK, "%s", s_why);
    cr_expect_eq(pd->pd_qual, LY_PD_CALENDAR);
    cr_expect_eq(pd->pd_window_days, 0);
    cr_expect_eq(pd->pd_basis, LY_PD_ON_SPEND);
    cr_expect_eq(pd->pd_tiers[1].ti_mult, 1001);
    cr_expect_eq(pd->pd_campaigns[0].cp_weekdays, 0x60);
    cr_expect_eq(pd->pd_campaigns[0].cp_start_min, 9 * 60 + 30);
    cr_expect_eq(pd->pd_campaigns[0].cp_end_min, 17 * 60);
    free(pd);
}

Test(program, crlf_bom_comments_and_blanks)
{
    ly_progdef *pd = s_new(), *want = s_new();
    cr_assert_eq(s_parse(S_HEAD, want), LY_OK, "%s", s_why);
    const char *text = "\xEF\xBB\xBF; a program\r\n[program]\r\n  name = T ; inline\r\n"
                       "version=1\r\n\tminor_units = 100\r\npoints_per_unit = 1.000\r\n"
                       "\r\n# hash comment\r\n[ tier  Silver ] ; base\r\nthreshold = 0\r\n"
                       "multiplier = 1";
    cr_assert_eq(s_parse(text, pd), LY_OK, "%s", s_why);
    cr_expect(ly_progdef_equal(pd, want));
    free(pd);
    free(want);
}

/* ---- refusals --------------------------------------------------------------- */

typedef struct s_bad_case {
    const char *text;
    int line; /* 0: a message about the whole file */
    const char *says;
} s_bad_case;

static const s_bad_case s_bad_cases[] = {
    /* sections and keys */
    {S_HEAD "[promo]\n", 9, "unknown section [promo]"},
    {S_HEAD "[bonus xmas]\npoints = 1\n", 9, "unknown section [bonus xmas]"},
    {S_HEAD "[tiers x]\nqualification = calendar\n", 9, "takes no name"},
    {S_HEAD "[tier Gold]\nmutliplier = 2\n", 10, "unknown key 'mutliplier' in [tier Gold]"},
    {S_HEAD "colour = red\n", 9, "unknown key 'colour' in [tier Silver]"},
    {S_HEAD "[tier Silver]\n", 9, "duplicate section [tier Silver] (first at line 6)"},
    {S_HEAD "[program]\n", 9, "duplicate section [program] (first at line 1)"},
    {S_HEAD "threshold = 0\n", 9, "duplicate key 'threshold' in [tier Silver] (first at line 7)"},
    {"name = x\n" S_HEAD, 1, "outside any section"},
    {S_HEAD "just words\n", 9, "expected 'key = value'"},
    {S_HEAD "[tier Gold\n", 9, "missing ']'"},
    {S_HEAD "[tier bad,name]\n", 9, "bad name 'bad,name'"},
    {S_HEAD "[campaign c]\nbonus =\n", 10, "empty value for 'bonus'"},
    /* required keys */
    {"[program]\nname = T\nminor_units = 100\npoints_per_unit = 1\n[tier S]\nthreshold = "
     "0\nmultiplier = 1\n",
     1, "missing key 'version' in [program]"},
    {S_HEAD "[tier Gold]\nthreshold = 10\n", 9, "missing key 'multiplier' in [tier Gold]"},
    {S_HEAD "[tiers]\ngrace_days = 3\n", 9, "missing key 'qualification' in [tiers]"},
    {S_HEAD "[bonus birthday]\nwindow_days = 3\n", 9, "missing key 'points' in [bonus birthday]"},
    {S_HEAD "[campaign c]\nfrom = 2027-01-01\n", 9, "[campaign c] needs 'multiplier' or 'bonus'"},
    {S_HEAD "[campaign c]\nbonus = 5\nmultiplier = 2\n", 11, "both 'multiplier' and 'bonus'"},
    {S_HEAD "[tiers]\nqualification = rolling\n", 10, "needs 'window_days'"},
    {S_HEAD "[tiers]\nqualification = anniversary\nwindow_days = 30\n", 11,
     "applies only to qualification = rolling (line 10 says anniversary)"},
    {S_HEAD "[category g]\nearns = no\nmultiplier = 2\n", 11, "takes no multiplier"},
    {"[program]\nname = T\nversion = 1\nminor_units = 100\npoints_per_unit = 1\n", 0,
     "no [tier NAME] section"},
    {"[tier S]\nthreshold = 0\nmultiplier = 1\n", 0, "missing [program] section"},
    /* tiers */
    {S_HEAD "[tier Gold]\nthreshold = 1000\nmultiplier = 2\n[tier Plat]\nthreshold = "
            "1000\nmultiplier = 3\n",
     13, "threshold 1000 of [tier Plat] must be above 1000 of [tier Gold]"},
    {S_HEAD "[tier Gold]\nthreshold = 1000\nmultiplier = 2\n[tier Plat]\nthreshold = "
            "999\nmultiplier = 3\n",
     13, "strictly increasing threshold (line 10)"},
    {"[program]\nname = T\nversion = 1\nminor_units = 100\npoints_per_unit = 1\n[tier "
     "S]\nthreshold = 5\nmultiplier = 1\n",
     7, "must have threshold 0"},
    {S_HEAD "[tier a]\nthreshold=1\nmultiplier=1\n[tier b]\nthreshold=2\nmultiplier=1\n[tier "
            "c]\nthreshold=3\nmultiplier=1\n[tier d]\nthreshold=4\nmultiplier=1\n[tier "
            "e]\nthreshold=5\nmultiplier=1\n[tier f]\nthreshold=6\nmultiplier=1\n[tier "
            "g]\nthreshold=7\nmultiplier=1\n[tier h]\n",
     30, "too many tiers (at most 8)"},
    /* multipliers and numbers */
    {S_HEAD "[tier Gold]\nthreshold = 10\nmultiplier = 0\n", 11,
     "bad value '0' for 'multiplier' in [tier Gold]: expected a number 0.001..100"},
    {S_HEAD "[tier Gold]\nthreshold = 10\nmultiplier = 1000000000\n", 11, "expected a number"},
    {S_HEAD "[tier Gold]\nthreshold = 10\nmultiplier = 100.001\n", 11, "0.001..100"},
    {S_HEAD "[tier Gold]\nthreshold = 10\nmultiplier = 1.2345\n", 11, "at most 3 decimals"},
    {S_HEAD "[tier Gold]\nthreshold = 10\nmultiplier = 1.\n", 11, "expected a number"},
    {S_HEAD "[tier Gold]\nthreshold = 10\nmultiplier = -1\n", 11, "expected a number"},
    {S_HEAD "[category e]\nmultiplier = 0\n", 10, "expected a number 0.001..100"},
    {S_HEAD "[campaign c]\nmultiplier = 1\n", 10, "expected a number above 1..100"},
    {S_HEAD "[campaign c]\nmultiplier = 1000000000\n", 10, "expected a number above 1..100"},
    {S_HEAD "[campaign c]\nbonus = 0\n", 10, "expected an integer 1..1000000"},
    {S_HEAD "[tier Gold]\nthreshold = 1000000000001\nmultiplier = 2\n", 10,
     "expected an integer 0..1000000000000"},
    {"[program]\nname = T\nversion = 0\n", 3, "expected an integer 1..4294967295"},
    {"[program]\nname = T\nversion = 4294967296\n", 3, "expected an integer 1..4294967295"},
    {"[program]\nname = T\nversion = 99999999999999999999999\n", 3, "expected an integer"},
    {"[program]\nname = T\nversion = +1\n", 3, "expected an integer"},
    {"[program]\nminor_units = 0\n", 2, "expected an integer 1..1000000"},
    {"[program]\npoints_per_unit = 1000.001\n", 2, "0.001..1000"},
    {"[program]\nrounding = up\n", 2, "bad value 'up' for 'rounding' in [program]: expected down"},
    {"[program]\nname = a;b\n", 2, "bad name"},
    {"[program]\neffective = 2027-01-01\n", 2, "expected a UTC time like 2027-01-01T00:00:00Z"},
    {"[program]\neffective = 2027-01-01T24:00:00Z\n", 2, "expected a UTC time"},
    {"[program]\neffective = 1999-12-31T00:00:00Z\n", 2, "years 2000..9999"},
    {S_HEAD "[tiers]\nqualification = monthly\n", 10, "expected rolling | calendar | anniversary"},
    {S_HEAD "[tiers]\nqualification = rolling\nwindow_days = 731\n", 11, "1..730"},
    {S_HEAD "[tiers]\nqualification = calendar\ngrace_days = 367\n", 11, "0..366"},
    {S_HEAD "[tiers]\nqualification = calendar\ngrace_days = 70\n", 11, "grace_days must be 0..69"},
    {S_HEAD "[tiers]\nqualification = anniversary\ndowngrade = one_down\n", 11,
     "one_down needs qualification = rolling"},
    {S_HEAD "[tiers]\nqualification = rolling\nwindow_days = 730\ngrace_days = 71\n", 12,
     "at most 800"},
    {S_HEAD "[tiers]\nqualification = calendar\ndowngrade = two_down\n", 11,
     "expected to_qualified | one_down"},
    {S_HEAD "[category e]\nearns = maybe\n", 10, "expected no | yes"},
    {S_HEAD "[bonus join]\npoints = 1000000001\n", 10, "0..1000000000"},
    {S_HEAD "[bonus birthday]\npoints = 5\nwindow_days = 91\n", 11, "0..90"},
    {S_HEAD "[bonus birthday]\npoints = 5\nmin_set_days = 367\n", 11, "0..366"},
    /* campaigns */
    {S_HEAD "[campaign c]\nbonus = 5\nfrom = 2027-03-10\nuntil = 2027-03-09\n", 12,
     "[campaign c] ends (until 2027-03-09) before it starts (from 2027-03-10)"},
    {S_HEAD "[campaign c]\nbonus = 5\nuntil = 2027-03-09\nfrom = 2027-03-10\n", 11,
     "ends (until 2027-03-09) before it starts"},
    {S_HEAD "[campaign c]\nbonus = 5\nfrom = 2027-02-30\n", 11, "bad date '2027-02-30'"},
    {S_HEAD "[campaign c]\nbonus = 5\nfrom = 27-02-01\n", 11, "expected YYYY-MM-DD"},
    {S_HEAD "[campaign c]\nbonus = 5\nweekdays = mon,funday\n", 11,
     "bad weekdays 'mon,funday' in [campaign c]: expected day names"},
    {S_HEAD "[campaign c]\nbonus = 5\nweekdays = sat-mon\n", 11, "a range runs forward"},
    {S_HEAD "[campaign c]\nbonus = 5\nweekdays = mon,,tue\n", 11, "an empty entry"},
    {S_HEAD "[campaign c]\nbonus = 5\nweekdays = mon-fri,wed\n", 11, "a day is listed twice"},
    {S_HEAD "[campaign c]\nbonus = 5\nweekdays = mon,\n", 11, "an empty entry"},
    {S_HEAD "[campaign c]\nbonus = 5\nhours = 20-17\n", 11, "bad hours '20-17'"},
    {S_HEAD "[campaign c]\nbonus = 5\nhours = 25-3\n", 11, "bad hours"},
    {S_HEAD "[campaign c]\nbonus = 5\nhours = 17\n", 11, "bad hours"},
    {S_HEAD "[campaign c]\nbonus = 5\nhours = 17:7-18\n", 11, "bad hours"},
    {S_HEAD "[campaign c]\nbonus = 5\nhours = 17-24:30\n", 11, "bad hours"},
    {S_HEAD "[campaign c]\nbonus = 5\nhours = 17-17\n", 11, "start before end"},
    {S_HEAD "[campaign c]\nbonus = 5\ntiers = Silver, Gold\n", 11,
     "[campaign c] names tier 'Gold', which has no [tier Gold] section"},
    {S_HEAD "[campaign c]\nbonus = 5\ncategories = shoes\n", 11,
     "names category 'shoes', which has no [category shoes] section"},
    {S_HEAD "[category g]\nearns = no\n[campaign c]\nbonus = 5\ncategories = g\n", 13,
     "which does not earn"},
    {S_HEAD "[campaign c]\nbonus = 5\nbranches = north, north\n", 11, "'north' is listed twice"},
    {S_HEAD "[campaign c]\nbonus = 5\nbranches = a,b,c,d,e,f,g,h,i\n", 11,
     "too many names in 'branches' of [campaign c] (at most 8)"},
    {S_HEAD "[campaign c]\nbonus = 5\nbranches = a b\n", 11, "bad name 'a b'"},
    {S_HEAD "[campaign c]\nbonus = 5\nbranches = a,,b\n", 11, "empty entry"},
    {S_HEAD "[campaign c]\nbonus = 5\nmin_amount = -5\n", 11, "expected an integer"},
    {S_HEAD "[campaign c]\nbonus = 5\n[campaign c]\n", 11, "duplicate section [campaign c]"},
    /* bytes */
    {S_HEAD "; caf\xc3\n", 9, "not UTF-8: byte 0xc3 at column 6"},
    {S_HEAD "; \xff\n", 9, "not UTF-8"},
    {S_HEAD "; \xc0\xaf overlong\n", 9, "not UTF-8"},
    {S_HEAD "; \x01\n", 9, "control character 0x01"},
    {"", 0, "empty program file"},
    {"; only a comment\n\n   \n# another\n", 0, "empty program file"},
};

Test(program, refusals_name_the_line_and_the_reason)
{
    ly_progdef *pd = s_new();
    for (size_t i = 0; i < sizeof s_bad_cases / sizeof s_bad_cases[0]; i++) {
        const s_bad_case *bc = &s_bad_cases[i];
        memset(pd, 0xab, sizeof *pd);
        ly_err rc = s_parse(bc->text, pd);
        cr_expect_eq(rc, LY_ECONFIG, "case %zu accepted:\n%s", i, bc->text);
        char prefix[32];
        if (bc->line)
            snprintf(prefix, sizeof prefix, "t.ini:%d: ", bc->line);
        else
            snprintf(prefix, sizeof prefix, "t.ini: ");
        cr_expect(strncmp(s_why, prefix, strlen(prefix)) == 0, "case %zu: want '%s', got '%s'", i,
                  prefix, s_why);
        cr_expect_not_null(strstr(s_why, bc->says), "case %zu: want '%s' in '%s'", i, bc->says,
                           s_why);
        /* Refused whole: nothing written to the caller's definition. */
        const uint8_t *b = (const uint8_t *)pd;
        size_t j = 0;
        while (j < sizeof *pd && b[j] == 0xab)
            j++;
        cr_expect_eq(j, sizeof *pd, "case %zu: out was written", i);
    }
    free(pd);
}

Test(program, refuses_a_nul_byte_a_long_line_and_a_large_file)
{
    ly_progdef *pd = s_new();
    const char nul[] = S_HEAD "; a\0b\n";
    cr_expect_eq(ly_progdef_parse("t.ini", nul, sizeof nul - 1, pd, s_why, sizeof s_why),
                 LY_ECONFIG);
    cr_expect_str_eq(s_why, "t.ini:9: NUL byte in line");

    size_t cap = 4096;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    int n = snprintf(text, cap, S_HEAD "; ");
    memset(text + n, 'x', LY_PD_LINE_MAX);
    strcpy(text + n + LY_PD_LINE_MAX, "\n");
    cr_expect_eq(s_parse(text, pd), LY_ECONFIG);
    cr_expect_str_eq(s_why, "t.ini:9: line too long (at most 1024 bytes)");
    /* A line of exactly the limit (newline included) is fine. */
    text[n + LY_PD_LINE_MAX - 3] = '\n';
    text[n + LY_PD_LINE_MAX - 2] = '\0';
    cr_expect_eq(s_parse(text, pd), LY_OK, "%s", s_why);
    free(text);

    char *big = malloc(LY_PD_FILE_MAX + 2);
    cr_assert_not_null(big);
    memset(big, '\n', LY_PD_FILE_MAX + 1);
    cr_expect_eq(ly_progdef_parse("t.ini", big, LY_PD_FILE_MAX + 1, pd, s_why, sizeof s_why),
                 LY_ECONFIG);
    cr_expect_str_eq(s_why, "t.ini: file too large (at most 262144 bytes)");
    free(big);

    cr_expect_eq(ly_progdef_load("/nonexistent/p.ini", pd, s_why, sizeof s_why), LY_ECONFIG);
    cr_expect_str_eq(s_why, "/nonexistent/p.ini: cannot open: No such file or directory");
    cr_expect_eq(ly_progdef_load("/tmp", pd, s_why, sizeof s_why), LY_ECONFIG);
    cr_expect_not_null(strstr(s_why, "/tmp: cannot read"), "%s", s_why);
    free(pd);
}

/* Eight 63-byte branch names: a line longer than inih's own buffer. */
Test(program, long_list_line_parses)
{
    char text[2048];
    int n = snprintf(text, sizeof text, S_HEAD "[campaign c]\nbonus = 5\nbranches = ");
    for (int i = 0; i < LY_PD_LIST_MAX; i++) {
        n += snprintf(text + n, sizeof text - (size_t)n, "%s", i ? ", " : "");
        for (int j = 0; j < LY_PD_BRANCH_MAX; j++)
            text[n++] = (char)('a' + (7 - i));
        text[n] = '\0';
    }
    snprintf(text + n, sizeof text - (size_t)n, " ; eight of them\nmin_amount = 7\n");
    ly_progdef *pd = s_new();
    cr_assert_eq(s_parse(text, pd), LY_OK, "%s", s_why);
    const ly_pd_list *l = &pd->pd_campaigns[0].cp_branches;
    cr_assert_eq(l->pl_n, 8);
    cr_expect_eq(l->pl_items[0][0], 'a'); /* sorted */
    cr_expect_eq(strlen(l->pl_items[7]), 63);
    cr_expect_eq(pd->pd_campaigns[0].cp_min_amount, 7);
    free(pd);
}

Test(program, lists_are_sets)
{
    ly_progdef *a = s_new(), *b = s_new();
    const char *t1 = S_HEAD "[tier G]\nthreshold = 5\nmultiplier = 2\n"
                            "[campaign c]\nbonus = 5\ntiers = G, Silver\nweekdays = tue,mon\n";
    const char *t2 = S_HEAD "[tier G]\nthreshold = 5\nmultiplier = 2\n"
                            "[campaign c]\nbonus = 5\ntiers = Silver,G\nweekdays = mon-tue\n";
    cr_assert_eq(s_parse(t1, a), LY_OK, "%s", s_why);
    cr_assert_eq(s_parse(t2, b), LY_OK, "%s", s_why);
    cr_expect(ly_progdef_equal(a, b));
    cr_expect_eq(ly_progdef_hash(a), ly_progdef_hash(b));
    cr_expect_eq(memcmp(a, b, sizeof *a), 0);
    free(a);
    free(b);
}

/* ---- the canonical form ------------------------------------------------------ */

/* Every array and list full, every string at its longest. */
static ly_progdef *s_full(void)
{
    ly_progdef *pd = s_new();
    memset(pd->pd_name, 'N', LY_PD_NAME_MAX);
    pd->pd_version = UINT32_MAX;
    pd->pd_effective_ms = ((int64_t)LY_PD_DAY_MAX * 86400 + 86399) * 1000;
    pd->pd_minor_units = LY_PD_MINOR_UNITS_MAX;
    pd->pd_rate = LY_PD_RATE_MAX;
    pd->pd_rounding = LY_PD_ROUND_DOWN;
    pd->pd_qual = LY_PD_ROLLING;
    pd->pd_window_days = LY_PD_WINDOW_MAX;
    pd->pd_basis = LY_PD_ON_SPEND;
    pd->pd_downgrade = LY_PD_ONE_DOWN;
    pd->pd_grace_days = 10; /* 730 + 7 x 10: the most one_down may look back (800) */
    pd->pd_ntiers = LY_PD_TIERS_MAX;
    for (int i = 0; i < LY_PD_TIERS_MAX; i++) {
        memset(pd->pd_tiers[i].ti_name, 'a' + i, LY_TIER_NAME_MAX);
        pd->pd_tiers[i].ti_threshold = i ? LY_AMOUNT_MAX - (LY_PD_TIERS_MAX - i) : 0;
        pd->pd_tiers[i].ti_mult = LY_PD_MULT_MAX;
    }
    pd->pd_ncategories = LY_PD_CATEGORIES_MAX;
    for (int i = 0; i < LY_PD_CATEGORIES_MAX; i++) {
        memset(pd->pd_categories[i].pc_name, 'c', LY_CATEGORY_MAX);
        pd->pd_categories[i].pc_name[0] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"[i];
        pd->pd_categories[i].pc_mult = (uint32_t)(1 + i);
        pd->pd_categories[i].pc_earns = 1;
    }
    pd->pd_ncampaigns = LY_PD_CAMPAIGNS_MAX;
    for (int i = 0; i < LY_PD_CAMPAIGNS_MAX; i++) {
        ly_pd_campaign *cp = &pd->pd_campaigns[i];
        memset(cp->cp_name, 'p', LY_PD_CAMPAIGN_MAX);
        cp->cp_name[0] = (char)('A' + i);
        if (i % 2)
            cp->cp_mult = LY_PD_MULT_MAX;
        else
            cp->cp_bonus = LY_PD_BONUS_MAX;
        cp->cp_from = LY_PD_DAY_MIN;
        cp->cp_until = LY_PD_DAY_MAX;
        cp->cp_weekdays = 0x55;
        cp->cp_start_min = 570;
        cp->cp_end_min = 1439;
        cp->cp_min_amount = LY_AMOUNT_MAX;
        cp->cp_categories.pl_n = cp->cp_branches.pl_n = cp->cp_tiers.pl_n = LY_PD_LIST_MAX;
        for (int j = 0; j < LY_PD_LIST_MAX; j++) {
            snprintf(cp->cp_categories.pl_items[j], sizeof cp->cp_categories.pl_items[j], "%s",
                     pd->pd_categories[j].pc_name);
            memset(cp->cp_branches.pl_items[j], 'b', LY_PD_BRANCH_MAX);
            cp->cp_branches.pl_items[j][0] = (char)('0' + j);
            snprintf(cp->cp_tiers.pl_items[j], sizeof cp->cp_tiers.pl_items[j], "%s",
                     pd->pd_tiers[j].ti_name);
        }
    }
    pd->pd_join_bonus = LY_PD_JOIN_MAX;
    pd->pd_bday_points = LY_PD_BONUS_MAX;
    pd->pd_bday_window_days = LY_PD_BDAY_WINDOW_MAX;
    pd->pd_bday_min_set_days = LY_PD_BDAY_SET_MAX;
    cr_assert_eq(ly_progdef_validate(pd, s_why, sizeof s_why), LY_OK, "%s", s_why);
    return pd;
}

static void s_roundtrip_bytes(const ly_progdef *pd)
{
    uint8_t *a = malloc(LY_PD_ENC_MAX), *b = malloc(LY_PD_ENC_MAX);
    ly_progdef *back = s_new();
    size_t na = ly_progdef_encode(pd, a, LY_PD_ENC_MAX);
    cr_assert_gt(na, 0);
    cr_assert_eq(ly_progdef_decode(a, na, back), LY_OK);
    size_t nb = ly_progdef_encode(back, b, LY_PD_ENC_MAX);
    cr_expect_eq(na, nb);
    cr_expect_eq(memcmp(a, b, na), 0);
    cr_expect(ly_progdef_equal(pd, back));
    cr_expect_eq(ly_progdef_hash(pd), ly_progdef_hash(back));
    free(a);
    free(b);
    free(back);
}

Test(program, encode_decode_encode_gives_the_same_bytes)
{
    ly_progdef *ex = s_example(), *full = s_full();
    s_roundtrip_bytes(ex);
    s_roundtrip_bytes(full);
    uint8_t *buf = malloc(LY_PD_ENC_MAX);
    cr_expect_eq(ly_progdef_encode(full, buf, LY_PD_ENC_MAX), LY_PD_ENC_MAX,
                 "LY_PD_ENC_MAX is the exact bound");
    cr_expect_eq(ly_progdef_encode(full, buf, LY_PD_ENC_MAX - 1), 0, "too small a buffer");
    size_t n = ly_progdef_encode(ex, buf, LY_PD_ENC_MAX);
    cr_expect_lt(n, 600, "a typical program is small (%zu bytes)", n);
    cr_expect_eq(ly_progdef_encode(ex, buf, n), n, "an exact buffer suffices");
    cr_expect_neq(ly_progdef_hash(ex), ly_progdef_hash(full));
    ex->pd_version++;
    cr_expect(!ly_progdef_equal(ex, full));
    free(buf);
    free(ex);
    free(full);
}

Test(program, encode_refuses_an_invalid_definition)
{
    ly_progdef *pd = s_example();
    uint8_t *buf = malloc(LY_PD_ENC_MAX);
    pd->pd_tiers[1].ti_mult = 0;
    cr_expect_eq(ly_progdef_encode(pd, buf, LY_PD_ENC_MAX), 0);
    cr_expect_eq(ly_progdef_hash(pd), 0);
    cr_expect_eq(ly_progdef_validate(pd, s_why, sizeof s_why), LY_EINVAL);
    cr_expect_not_null(strstr(s_why, "'multiplier' of [tier Gold]"), "%s", s_why);
    pd->pd_tiers[1].ti_mult = 1250;
    memset(pd->pd_name, 'x', sizeof pd->pd_name); /* no NUL */
    cr_expect_eq(ly_progdef_encode(pd, buf, LY_PD_ENC_MAX), 0);
    free(buf);
    free(pd);
}

/* Anything decode accepts is a valid definition whose encoding is the input:
 * the form has one spelling per definition. */
static void s_decode_check(const uint8_t *b, size_t n, ly_progdef *pd, uint8_t *re, size_t *ok)
{
    if (ly_progdef_decode(b, n, pd) != LY_OK)
        return;
    (*ok)++;
    cr_assert_eq(ly_progdef_validate(pd, NULL, 0), LY_OK);
    size_t m = ly_progdef_encode(pd, re, LY_PD_ENC_MAX);
    cr_assert(m == n && memcmp(re, b, n) == 0, "accepted bytes are not canonical");
}

Test(program, decode_refuses_truncated_extended_and_garbled_bytes)
{
    ly_progdef *ex = s_example(), *pd = s_new();
    uint8_t *buf = malloc(LY_PD_ENC_MAX + 1), *re = malloc(LY_PD_ENC_MAX);
    size_t n = ly_progdef_encode(ex, buf, LY_PD_ENC_MAX);
    cr_assert_gt(n, 0);
    size_t ok = 0;
    for (size_t len = 0; len < n; len++) {
        uint8_t *cut = malloc(len ? len : 1); /* exact size: ASan sees any over-read */
        memcpy(cut, buf, len);
        cr_expect_neq(ly_progdef_decode(cut, len, pd), LY_OK, "truncated at %zu accepted", len);
        free(cut);
    }
    buf[n] = 0;
    cr_expect_eq(ly_progdef_decode(buf, n + 1, pd), LY_EPROTO, "a trailing byte");
    cr_expect_eq(ly_progdef_decode(NULL, 0, pd), LY_EPROTO);

    uint8_t saved = buf[0];
    buf[0] = 2;
    cr_expect_eq(ly_progdef_decode(buf, n, pd), LY_EVERSION);
    buf[0] = saved;

    static const uint8_t vals[] = {0x00, 0x01, 0x02, 0x7f, 0x80, 0xff};
    uint8_t *copy = malloc(n);
    for (size_t i = 1; i < n; i++) {
        memcpy(copy, buf, n);
        for (int bit = 0; bit < 8; bit++) {
            copy[i] = buf[i] ^ (uint8_t)(1u << bit);
            s_decode_check(copy, n, pd, re, &ok);
        }
        for (size_t v = 0; v < sizeof vals; v++) {
            copy[i] = vals[v];
            s_decode_check(copy, n, pd, re, &ok);
        }
    }
    /* Some garbling only changes a value within range (a threshold, a bonus):
     * those decode, and are canonical; most must not. */
    cr_expect_gt(ok, 0);
    cr_expect_lt(ok, (n - 1) * 14 / 2, "%zu of %zu garbled records accepted", ok, (n - 1) * 14);

    /* A few garbles the checks must catch, field by field. */
    ly_progdef *bad = s_new();
    *bad = *ex;
    bad->pd_version = 0;
    cr_expect_eq(ly_progdef_decode(buf, ly_progdef_encode(bad, buf, LY_PD_ENC_MAX), pd), LY_EPROTO,
                 "version 0 travels nowhere");
    free(copy);
    free(bad);
    free(buf);
    free(re);
    free(pd);
    free(ex);
}

/* Definitions the encoder writes but the decoder refuses must not exist:
 * break one rule at a time in a copy of the full definition and check that
 * validate refuses it and encode writes nothing. */
Test(program, validate_catches_each_rule)
{
    ly_progdef *full = s_full(), *pd = s_new();
    uint8_t *buf = malloc(LY_PD_ENC_MAX);
#define S_BREAK(stmt)                                                                              \
    do {                                                                                           \
        *pd = *full;                                                                               \
        stmt;                                                                                      \
        cr_expect_eq(ly_progdef_validate(pd, NULL, 0), LY_EINVAL, "%s", #stmt);                    \
        cr_expect_eq(ly_progdef_encode(pd, buf, LY_PD_ENC_MAX), 0, "%s", #stmt);                   \
    } while (0)
    S_BREAK(pd->pd_name[0] = '\0');
    S_BREAK(pd->pd_name[0] = ';');
    S_BREAK(pd->pd_effective_ms += 1);
    S_BREAK(pd->pd_minor_units = 0);
    S_BREAK(pd->pd_rate = LY_PD_RATE_MAX + 1);
    S_BREAK(pd->pd_rounding = 2);
    S_BREAK(pd->pd_qual = 4);
    S_BREAK(pd->pd_qual = LY_PD_CALENDAR);
    S_BREAK(pd->pd_window_days = 0);
    S_BREAK(pd->pd_basis = 0);
    S_BREAK(pd->pd_downgrade = 3);
    S_BREAK(pd->pd_grace_days = LY_PD_GRACE_MAX + 1);
    S_BREAK(pd->pd_ntiers = 0);
    S_BREAK(pd->pd_ntiers = LY_PD_TIERS_MAX + 1);
    S_BREAK(pd->pd_tiers[0].ti_threshold = 1);
    S_BREAK(pd->pd_tiers[3].ti_threshold = pd->pd_tiers[2].ti_threshold);
    S_BREAK(pd->pd_tiers[3].ti_mult = LY_PD_MULT_MAX + 1);
    S_BREAK(strcpy(pd->pd_tiers[3].ti_name, pd->pd_tiers[2].ti_name));
    S_BREAK(strcpy(pd->pd_tiers[3].ti_name, "a b"));
    S_BREAK(pd->pd_categories[4].pc_mult = 0);
    S_BREAK(pd->pd_categories[4].pc_earns = 2);
    S_BREAK(pd->pd_categories[20].pc_earns = 0); /* with a multiplier other than 1 */
    S_BREAK(strcpy(pd->pd_categories[4].pc_name, pd->pd_categories[3].pc_name));
    S_BREAK(pd->pd_ncategories = LY_PD_CATEGORIES_MAX + 1);
    S_BREAK(pd->pd_ncampaigns = LY_PD_CAMPAIGNS_MAX + 1);
    S_BREAK(pd->pd_campaigns[0].cp_mult = 2000); /* and a bonus */
    S_BREAK(pd->pd_campaigns[1].cp_mult = 0);    /* neither */
    S_BREAK(pd->pd_campaigns[1].cp_mult = LY_MILLI);
    S_BREAK(pd->pd_campaigns[0].cp_bonus = LY_PD_BONUS_MAX + 1);
    S_BREAK(pd->pd_campaigns[0].cp_from = LY_PD_DAY_MIN - 1);
    S_BREAK(pd->pd_campaigns[0].cp_until = LY_PD_DAY_MAX + 1);
    S_BREAK((pd->pd_campaigns[0].cp_from = LY_PD_DAY_MIN + 6,
             pd->pd_campaigns[0].cp_until = LY_PD_DAY_MIN + 5));
    S_BREAK(pd->pd_campaigns[0].cp_weekdays = 0);
    S_BREAK(pd->pd_campaigns[0].cp_weekdays = 0x80);
    S_BREAK(pd->pd_campaigns[0].cp_end_min = pd->pd_campaigns[0].cp_start_min);
    S_BREAK(pd->pd_campaigns[0].cp_end_min = LY_PD_DAY_MINUTES + 1);
    S_BREAK(pd->pd_campaigns[0].cp_min_amount = -1);
    S_BREAK(strcpy(pd->pd_campaigns[5].cp_name, pd->pd_campaigns[4].cp_name));
    S_BREAK(pd->pd_campaigns[2].cp_tiers.pl_n = LY_PD_LIST_MAX + 1);
    S_BREAK(strcpy(pd->pd_campaigns[2].cp_tiers.pl_items[1], "nosuchtier"));
    S_BREAK(strcpy(pd->pd_campaigns[2].cp_categories.pl_items[1], "Zzz"));
    S_BREAK(strcpy(pd->pd_campaigns[2].cp_branches.pl_items[1], "0")); /* unsorted */
    S_BREAK(strcpy(pd->pd_campaigns[2].cp_branches.pl_items[1], "a;b"));
    S_BREAK(pd->pd_join_bonus = LY_PD_JOIN_MAX + 1);
    S_BREAK(pd->pd_bday_points = 0);
    S_BREAK(pd->pd_bday_window_days = LY_PD_BDAY_WINDOW_MAX + 1);
    S_BREAK(pd->pd_bday_min_set_days = -1);
#undef S_BREAK
    free(buf);
    free(pd);
    free(full);
}

/* ---- writing back ------------------------------------------------------------ */

static void s_write_parse(const ly_progdef *pd)
{
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    cr_assert_not_null(fp);
    cr_assert_eq(ly_progdef_write(pd, fp), 0);
    fclose(fp);
    ly_progdef *back = s_new();
    cr_assert_eq(ly_progdef_parse("w.ini", text, len, back, s_why, sizeof s_why), LY_OK, "%s\n%s",
                 s_why, text);
    cr_expect(ly_progdef_equal(pd, back), "%s", text);
    cr_expect_eq(memcmp(pd, back, sizeof *pd), 0);
    free(back);
    free(text);
}

Test(program, write_parses_back_to_the_same_definition)
{
    ly_progdef *ex = s_example(), *full = s_full(), *pd = s_new();
    s_write_parse(ex);
    s_write_parse(full);
    const char *text = S_HEAD "[tiers]\nqualification = anniversary\ngrace_days = 5\n"
                              "[campaign c]\nmultiplier = 1.005\nhours = 0:05-23:59\n"
                              "weekdays = sun\nuntil = 2030-12-31\n"
                              "[category x]\n[campaign d]\nbonus = 1\ncategories = x\n";
    cr_assert_eq(s_parse(text, pd), LY_OK, "%s", s_why);
    s_write_parse(pd);
    /* Every weekday set, written as days and ranges (mon-wed,fri), reads back. */
    for (unsigned mask = 1; mask <= LY_PD_EVERY_DAY; mask++) {
        pd->pd_campaigns[0].cp_weekdays = (uint8_t)mask;
        s_write_parse(pd);
    }
    ly_progdef def;
    ly_progdef_default(&def);
    /* The default is written (loyalctl program show prints it) with its
     * version 0, which the parser then refuses: it cannot be applied. */
    char *dtext = NULL;
    size_t dlen = 0;
    FILE *fp = open_memstream(&dtext, &dlen);
    cr_expect_eq(ly_progdef_write(&def, fp), 0, "the default is written");
    fclose(fp);
    cr_expect(strstr(dtext, "version = 0\n") != NULL, "%s", dtext);
    ly_progdef back;
    cr_expect_eq(ly_progdef_parse("default.ini", dtext, dlen, &back, NULL, 0), LY_ECONFIG,
                 "version 0 is not a program file to apply");
    free(dtext);
    free(pd);
    free(ex);
    free(full);
}

/* ---- the bridge and the default ---------------------------------------------- */

Test(program, default_through_the_bridge_is_ly_program_default)
{
    ly_progdef def;
    ly_progdef_default(&def);
    ly_program got, want;
    ly_progdef_to_program(&def, &got);
    ly_program_default(&want);
    cr_expect_eq(got.pg_version, 0, "the default program is version 0 (issue 12)");
    /* ledger.c's ly_program_default still says version 1: compare the rest. */
    want.pg_version = 0;
    cr_expect_eq(memcmp(&got, &want, sizeof got), 0);
    cr_expect_eq(ly_program_validate(&got, s_why, sizeof s_why), LY_OK, "%s", s_why);
    cr_expect_eq(ly_progdef_validate(&def, NULL, 0), LY_EINVAL, "version 0 is never applied");
    uint8_t buf[1024];
    cr_expect_gt(ly_progdef_encode(&def, buf, sizeof buf), 0, "but it has a hash");
    cr_expect_neq(ly_progdef_hash(&def), 0);
}

Test(program, bridge_keeps_the_earn_arithmetic)
{
    ly_progdef *ex = s_example();
    ly_program pg;
    ly_progdef_to_program(ex, &pg);
    cr_assert_eq(ly_program_validate(&pg, s_why, sizeof s_why), LY_OK, "%s", s_why);
    cr_expect_eq(pg.pg_version, 1);
    cr_expect_eq(pg.pg_join_bonus, 100);
    cr_expect_eq(pg.pg_window_days, 365);
    cr_expect_eq(ly_category_mult(&pg, "electronics"), 2000);
    cr_expect_eq(ly_category_mult(&pg, "giftcards"), 0, "a category that does not earn");
    cr_expect_eq(ly_earn_points(&pg, 10000, 1, "electronics", NULL), 250);
    cr_expect_eq(ly_earn_points(&pg, 10000, 1, "giftcards", NULL), 0);
    ex->pd_qual = LY_PD_CALENDAR;
    ex->pd_window_days = 0;
    ly_progdef_to_program(ex, &pg);
    cr_expect_eq(pg.pg_window_days, 365);
    free(ex);
}

/* ---- campaigns ---------------------------------------------------------------- */

/* 2027-03-01 was a Monday. */
#define S_MON_MAR1 20878

Test(program, campaign_limits)
{
    ly_progdef *ex = s_example();
    ly_pd_line ln = {10000, NULL, "north", 0, S_MON_MAR1 - 7, 17 * 60};
    cr_expect(ly_progdef_campaign_applies(ex, 0, &ln), "happy hour on a Monday at 17:00");
    ln.ln_minute = 20 * 60 - 1;
    cr_expect(ly_progdef_campaign_applies(ex, 0, &ln), "19:59");
    ln.ln_minute = 20 * 60;
    cr_expect(!ly_progdef_campaign_applies(ex, 0, &ln), "20:00 is past the end");
    ln.ln_minute = 17 * 60 - 1;
    cr_expect(!ly_progdef_campaign_applies(ex, 0, &ln), "16:59");
    ln.ln_minute = 18 * 60;
    ln.ln_day = S_MON_MAR1 - 2;
    cr_expect(!ly_progdef_campaign_applies(ex, 0, &ln), "a Saturday");
    ln.ln_day = S_MON_MAR1 + 4;
    cr_expect(ly_progdef_campaign_applies(ex, 0, &ln), "a Friday");
    ln.ln_category = "giftcards";
    cr_expect(!ly_progdef_campaign_applies(ex, 0, &ln), "a category that does not earn");

    /* spring: Gold and up, north and south, 2027-03-01..31, at least 50.00. */
    ly_pd_line sp = {5000, NULL, "north", 1, S_MON_MAR1, 0};
    cr_expect(ly_progdef_campaign_applies(ex, 1, &sp));
    sp.ln_day = S_MON_MAR1 - 1;
    cr_expect(!ly_progdef_campaign_applies(ex, 1, &sp), "the day before from");
    sp.ln_day = S_MON_MAR1 + 30;
    cr_expect(ly_progdef_campaign_applies(ex, 1, &sp), "until is inclusive");
    sp.ln_day = S_MON_MAR1 + 31;
    cr_expect(!ly_progdef_campaign_applies(ex, 1, &sp), "the day after until");
    sp.ln_day = S_MON_MAR1;
    sp.ln_amount = 4999;
    cr_expect(!ly_progdef_campaign_applies(ex, 1, &sp), "below min_amount");
    sp.ln_amount = 5000;
    sp.ln_tier = 0;
    cr_expect(!ly_progdef_campaign_applies(ex, 1, &sp), "Silver is not listed");
    sp.ln_tier = 1;
    sp.ln_branch = "east";
    cr_expect(!ly_progdef_campaign_applies(ex, 1, &sp), "another branch");
    sp.ln_branch = NULL;
    cr_expect(!ly_progdef_campaign_applies(ex, 1, &sp), "no branch");
    cr_expect(!ly_progdef_campaign_applies(ex, 2, &sp), "no such campaign");
    free(ex);
}

Test(program, the_best_single_campaign_applies)
{
    ly_progdef *ex = s_example();
    ly_program pg;
    ly_progdef_to_program(ex, &pg);
    int which;
    /* No campaign: exactly ly_earn_points. */
    ly_pd_line ln = {12345, "electronics", "east", 1, S_MON_MAR1 + 5, 12 * 60};
    cr_expect_eq(ly_progdef_campaign_best(ex, &ln, &which),
                 ly_earn_points(&pg, 12345, 1, "electronics", NULL));
    cr_expect_eq(which, -1);
    /* Happy hour alone: x2 on top, rounded once: 123.45 x 1.25 x 2 x 2 = 617.25. */
    ln.ln_minute = 18 * 60;
    ln.ln_day = S_MON_MAR1 - 7;
    cr_expect_eq(ly_progdef_campaign_best(ex, &ln, &which), 617);
    cr_expect_eq(which, 0);
    /* Both apply (a Monday in March at north, Gold, 60.00): happy hour gives
     * floor(60 x 1.25 x 2) = 150, spring 75 + 50 = 125: happy hour wins, and
     * the two do not stack (not 200, not 300). */
    ly_pd_line both = {6000, NULL, "north", 1, S_MON_MAR1, 18 * 60};
    cr_assert(ly_progdef_campaign_applies(ex, 0, &both) &&
              ly_progdef_campaign_applies(ex, 1, &both));
    cr_expect_eq(ly_progdef_campaign_best(ex, &both, &which), 150);
    cr_expect_eq(which, 0);
    /* At 400.00 the bonus is worth less still; at a small amount it is worth more:
     * Gold 50.00: happy hour 125, spring 62 + 50 = 112; make the bonus 100: 162. */
    ex->pd_campaigns[1].cp_bonus = 100;
    both.ln_amount = 5000;
    cr_expect_eq(ly_progdef_campaign_best(ex, &both, &which), 162);
    cr_expect_eq(which, 1);
    /* A tie goes to the campaign listed first: bonus 63 gives 62 + 63 = 125 = happy hour. */
    ex->pd_campaigns[1].cp_bonus = 63;
    cr_expect_eq(ly_progdef_campaign_best(ex, &both, &which), 125);
    cr_expect_eq(which, 0);
    /* A category that does not earn: nothing, whatever campaign runs. */
    both.ln_category = "giftcards";
    cr_expect_eq(ly_progdef_campaign_best(ex, &both, &which), 0);
    cr_expect_eq(which, -1);
    /* A multiplier that adds nothing after rounding is not named. */
    ly_pd_line tiny = {1, NULL, "north", 0, S_MON_MAR1, 18 * 60};
    cr_expect_eq(ly_progdef_campaign_best(ex, &tiny, &which), 0);
    cr_expect_eq(which, -1);
    /* Amounts out of contract. */
    tiny.ln_amount = LY_AMOUNT_MAX + 1;
    cr_expect_eq(ly_progdef_campaign_best(ex, &tiny, &which), -1);
    tiny.ln_amount = INT64_MAX;
    cr_expect_eq(ly_progdef_campaign_best(ex, &tiny, &which), -1);
    tiny.ln_amount = -5;
    cr_expect_eq(ly_progdef_campaign_best(ex, &tiny, &which), 0);
    cr_expect(!ly_progdef_campaign_applies(ex, 0, &tiny));
    free(ex);
}

/* ---- garbage text --------------------------------------------------------------- */

static uint32_t s_rand(uint32_t *state)
{
    *state = *state * 1103515245u + 12345u;
    return *state >> 8;
}

/* The example file with bytes replaced, inserted or deleted at random: the
 * parser never crashes (run it under LY_SANITIZE), and whatever it accepts
 * is valid, writes back to itself and encodes canonically. */
Test(program, mutated_files_are_refused_or_consistent)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/deploy/program.example.ini", s_root());
    FILE *fp = fopen(path, "r");
    cr_assert_not_null(fp);
    static char orig[8192];
    size_t n = fread(orig, 1, sizeof orig, fp);
    fclose(fp);
    static const char alphabet[] = "[]=;,-:# \n\t0129.aZ_\xc3\xa9\xff";
    ly_progdef *pd = s_new(), *back = s_new();
    uint8_t *buf = malloc(LY_PD_ENC_MAX);
    uint32_t st = 12345;
    int accepted = 0;
    static char text[8192 + 64];
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = n;
        memcpy(text, orig, n);
        int edits = 1 + (int)(s_rand(&st) % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = s_rand(&st) % len;
            char ch = alphabet[s_rand(&st) % (sizeof alphabet - 1)];
            switch (s_rand(&st) % 3) {
            case 0:
                text[at] = ch;
                break;
            case 1:
                memmove(text + at + 1, text + at, len - at);
                text[at] = ch;
                len++;
                break;
            default:
                memmove(text + at, text + at + 1, len - at - 1);
                len--;
                break;
            }
        }
        if (ly_progdef_parse("m.ini", text, len, pd, s_why, sizeof s_why) != LY_OK) {
            cr_assert(strncmp(s_why, "m.ini:", 6) == 0, "%s", s_why);
            continue;
        }
        accepted++;
        cr_assert_eq(ly_progdef_validate(pd, s_why, sizeof s_why), LY_OK, "%s", s_why);
        size_t m = ly_progdef_encode(pd, buf, LY_PD_ENC_MAX);
        cr_assert_gt(m, 0);
        cr_assert_eq(ly_progdef_decode(buf, m, back), LY_OK);
        cr_assert(ly_progdef_equal(pd, back));
        if (accepted % 16 == 1)
            s_write_parse(pd);
    }
    cr_expect_gt(accepted, 0, "some edits only touch comments or values in range");
    cr_expect_lt(accepted, 3000);
    free(buf);
    free(pd);
    free(back);
}

/* The canonical form is replicated and hashed: its bytes for a given
 * definition must never change within a format version. If this fails, the
 * encoding changed: bump the format byte (S_FORMAT) and keep decoding the old
 * one, or nodes of two releases will disagree on the program's hash. */
Test(program, canonical_bytes_are_pinned)
{
    const char *text = S_HEAD "[tier Gold]\nthreshold = 1000\nmultiplier = 1.25\n"
                              "[category g]\nearns = no\n"
                              "[campaign c]\nmultiplier = 2\nweekdays = sat-sun\nhours = 9-12\n"
                              "from = 2027-03-01\ntiers = Gold\nbranches = north\n"
                              "[bonus birthday]\npoints = 5\nwindow_days = 2\n";
    ly_progdef *pd = s_new();
    cr_assert_eq(s_parse(text, pd), LY_OK, "%s", s_why);
    uint8_t buf[512];
    size_t n = ly_progdef_encode(pd, buf, sizeof buf);
    char hex[1025] = "";
    for (size_t i = 0; i < n; i++)
        sprintf(hex + 2 * i, "%02x", buf[i]);
    /* u8 format 1, "T", version 1, effective 0, minor 100, rate 1000, down,
     * rolling, base_points, to_qualified, window 365, grace 0, 2 tiers, 1
     * category (mult 1000, earns 0), 1 campaign (x2, no bonus, from day
     * 20878, until 0, weekdays 0x60, 540..720 min, min 0, lists), join 0,
     * birthday 5 / 2 / 0. */
    cr_expect_eq(n, 138);
    cr_expect_str_eq(
        hex, "01015401000000000000000000000064000000e8030000010101016d010000020653696c76657200"
             "00000000000000e803000004476f6c64e803000000000000e2040000010167e803000000010163d0"
             "07000000000000000000008e51000000000000601c02d00200000000000000000001056e6f727468"
             "0104476f6c64000000000500000002000000");
    cr_expect_eq(ly_progdef_hash(pd), 0xfdb9b02953f5967fULL);
    free(pd);
}
