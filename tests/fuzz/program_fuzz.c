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
 *    definition, not only for one that came from a file).
 * A broken invariant traps, which libFuzzer reports as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/program.h"

#define S_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "program_fuzz: check failed: %s (line %d)\n", #cond, __LINE__);        \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

static uint8_t s_buf[LY_PD_ENC_MAX];

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
