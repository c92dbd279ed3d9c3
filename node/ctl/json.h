/* json.h -- a small streaming JSON writer (for loyalctl's --json output).
 *
 *   ly_json j;
 *   ly_json_init(&j, stdout);
 *   ly_json_object(&j);
 *   ly_json_kstr(&j, "customer", "C1");
 *   ly_json_kint(&j, "balance", 120);
 *   ly_json_end(&j);
 *   if (ly_json_finish(&j) != 0) ... // misuse or write error
 *
 * Output is compact, on one line. Commas and colons are placed by the writer.
 * Strings are escaped: '"' and '\' with a backslash, control characters
 * (and DEL) as \u00XX; valid UTF-8 passes through unchanged and each byte of
 * an invalid sequence becomes \ufffd, so the document is always valid JSON.
 * Misuse (a value without a key inside an object, a key outside an object,
 * unbalanced or too deep containers, a second top-level value) writes nothing
 * for the offending call and makes ly_json_finish fail. */
#ifndef LY_JSON_H
#define LY_JSON_H

#include <stdint.h>
#include <stdio.h>

#define LY_JSON_DEPTH_MAX 16

typedef struct ly_json {
    FILE *js_out;                            /* borrowed; not closed */
    int js_depth;                            /* open containers */
    char js_close[LY_JSON_DEPTH_MAX];        /* '}' or ']' for each open container */
    unsigned char js_any[LY_JSON_DEPTH_MAX]; /* 1 once the container holds an item */
    int js_key;                              /* a key was written; its value comes next */
    int js_done;                             /* the top-level value is complete */
    int js_bad;                              /* misuse seen */
} ly_json;

/* Start a document written to `out` (borrowed for the writer's lifetime). */
void ly_json_init(ly_json *j, FILE *out);

/* Open an object or array; ly_json_end closes the innermost one. */
void ly_json_object(ly_json *j);
void ly_json_array(ly_json *j);
void ly_json_end(ly_json *j);

/* A member name inside an object; the next call writes its value. */
void ly_json_key(ly_json *j, const char *key);

/* Values. `s` must not be NULL (use ly_json_null). */
void ly_json_str(ly_json *j, const char *s);
void ly_json_int(ly_json *j, int64_t v);
void ly_json_uint(ly_json *j, uint64_t v);
void ly_json_bool(ly_json *j, int v);
void ly_json_null(ly_json *j);

/* Key and value in one call. */
void ly_json_kstr(ly_json *j, const char *key, const char *s);
void ly_json_kint(ly_json *j, const char *key, int64_t v);
void ly_json_kuint(ly_json *j, const char *key, uint64_t v);
void ly_json_kbool(ly_json *j, const char *key, int v);
void ly_json_knull(ly_json *j, const char *key);
void ly_json_kobject(ly_json *j, const char *key);
void ly_json_karray(ly_json *j, const char *key);

/* End the document with a newline and flush. Returns 0 if one complete value
 * was written without misuse or write error, -1 otherwise. */
int ly_json_finish(ly_json *j);

#endif
