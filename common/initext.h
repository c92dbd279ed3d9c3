/* initext.h -- text helpers shared by the INI files Loyal reads with libinih
 * (the node config, config.c, and the program file, program.c).
 *
 * No I/O and no state: strings are examined or cut up in place. */
#ifndef LY_INITEXT_H
#define LY_INITEXT_H

#include <stddef.h>
#include <stdint.h>

/* The first byte of `s` that is not white space. */
char *ly_ini_lskip(char *s);

/* Cuts trailing white space off `s`. */
void ly_ini_rstrip(char *s);

/* inih's find_chars_or_comment: the first of `chars` (NULL: none) or an
 * inline comment (';' after white space) in `s`, or its terminating NUL.
 * Kept identical so that a reader and inih agree on where a key ends. */
char *ly_ini_find(char *s, const char *chars);

/* A decimal integer: digits only, no sign, no overflow. 0, or -1 if `s` is
 * not one (`*out` untouched). */
int ly_ini_uint(const char *s, uint64_t *out);

/* A decimal with up to 3 places, in thousandths: "1.25" -> 1250, exact; at
 * most 15 integer digits, no sign, no exponent, no bare '.'. 0 or -1. */
int ly_ini_milli(const char *s, uint64_t *out);

/* Thousandths as the shortest decimal that ly_ini_milli reads back:
 * 1250 -> "1.25", 2000 -> "2", 1 -> "0.001". Returns `buf`. */
const char *ly_ini_milli_str(uint64_t v, char *buf, size_t len);

/* ly_ini_uint or ly_ini_milli (`milli`) within lo..hi: 0, or -1 with what
 * was expected in `why` ("expected an integer 1..65535", "expected a number
 * 0.001..100 with at most 3 decimals"; "above 1..100" for lo 1.001). */
int ly_ini_number(const char *s, int milli, uint64_t lo, uint64_t hi, uint64_t *out, char *why,
                  size_t len);

/* Splits a header line "[kind]" or "[kind name]" (`s` at its '[', cut up in
 * place): `*kind` and `*name` ("" if none) point into `s`, blanks trimmed.
 * 0, or -1 with the reason in `why` (of `len` bytes): a missing ']', text
 * other than a comment after it. */
int ly_ini_header(char *s, char **kind, char **name, char *why, size_t len);

/* Hands the stripped key line `s` (cut up in place) to inih's line buffer
 * `str` of `num` bytes. A line that fits is copied whole: returns 0. One that
 * does not is passed as "key=" and its value, as inih would read it (inline
 * comment and surrounding blanks cut off), is copied into `value` of `cap`
 * bytes: returns 1, and the caller uses `value` for that line. -1 if even the
 * key does not fit, or the value does not fit `cap`. */
int ly_ini_pass(char *str, int num, char *s, char *value, size_t cap);

#endif
