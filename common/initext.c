/* initext.c -- text helpers for INI files (initext.h). */
#include "common/initext.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "common/ledger.h"

char *ly_ini_lskip(char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return s;
}

void ly_ini_rstrip(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
}

char *ly_ini_find(char *s, const char *chars)
{
    int was_space = 0;
    while (*s && (!chars || !strchr(chars, *s)) && !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return s;
}

int ly_ini_uint(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int ly_ini_milli(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    int digits = 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (++digits > 15)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (digits == 0)
        return -1;
    v *= LY_MILLI;
    if (*s == '.') {
        uint64_t scale = LY_MILLI / 10;
        int places = 0;
        for (s++; *s >= '0' && *s <= '9'; s++) {
            if (++places > 3)
                return -1;
            v += (uint64_t)(*s - '0') * scale;
            scale /= 10;
        }
        if (places == 0)
            return -1;
    }
    if (*s)
        return -1;
    *out = v;
    return 0;
}

const char *ly_ini_milli_str(uint64_t v, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%llu.%03llu", (unsigned long long)(v / LY_MILLI),
                     (unsigned long long)(v % LY_MILLI));
    if (n < 0 || (size_t)n >= len)
        return buf;
    while (n > 0 && buf[n - 1] == '0')
        buf[--n] = '\0';
    if (n > 0 && buf[n - 1] == '.')
        buf[--n] = '\0';
    return buf;
}

int ly_ini_number(const char *s, int milli, uint64_t lo, uint64_t hi, uint64_t *out, char *why,
                  size_t len)
{
    uint64_t v;
    int rc = milli ? ly_ini_milli(s, &v) : ly_ini_uint(s, &v);
    if (rc == 0 && v >= lo && v <= hi) {
        *out = v;
        return 0;
    }
    if (!milli) {
        snprintf(why, len, "expected an integer %llu..%llu", (unsigned long long)lo,
                 (unsigned long long)hi);
    } else {
        char los[32], his[32];
        int above = lo > LY_MILLI && lo % LY_MILLI == 1; /* 1.001: "above 1" */
        snprintf(why, len, "expected a number %s%s..%s with at most 3 decimals",
                 above ? "above " : "", ly_ini_milli_str(above ? lo - 1 : lo, los, sizeof los),
                 ly_ini_milli_str(hi, his, sizeof his));
    }
    return -1;
}

int ly_ini_header(char *s, char **kind, char **name, char *why, size_t len)
{
    char *end = ly_ini_find(s + 1, "]");
    if (*end != ']') {
        snprintf(why, len, "missing ']' in section header");
        return -1;
    }
    char *rest = ly_ini_lskip(end + 1);
    if (*rest && *rest != ';' && *rest != '#') {
        snprintf(why, len, "unexpected text after ']': '%.64s'", rest);
        return -1;
    }
    *end = '\0';
    char *k = ly_ini_lskip(s + 1);
    ly_ini_rstrip(k);
    char *n = k;
    while (*n && !isspace((unsigned char)*n))
        n++;
    if (*n) {
        *n = '\0';
        n = ly_ini_lskip(n + 1);
    }
    *kind = k;
    *name = n;
    return 0;
}

int ly_ini_pass(char *str, int num, char *s, char *value, size_t cap)
{
    size_t len = strlen(s);
    if (num > 0 && len < (size_t)num) {
        memcpy(str, s, len + 1);
        return 0;
    }
    char *sep = ly_ini_find(s, "=:");
    char *v = *sep ? sep + 1 : sep;
    *sep = '\0';
    ly_ini_rstrip(s);
    *ly_ini_find(v, NULL) = '\0';
    v = ly_ini_lskip(v);
    ly_ini_rstrip(v);
    if (num < 2 || strlen(s) + 2 > (size_t)num || strlen(v) >= cap)
        return -1;
    memcpy(value, v, strlen(v) + 1);
    snprintf(str, (size_t)num, "%s=", s);
    return 1;
}
