#include "node/ctl/json.h"

#include <inttypes.h>

void ly_json_init(ly_json *j, FILE *out)
{
    *j = (ly_json){.js_out = out};
}

/* Called before every value and key: checks the position and writes the comma. */
static int s_begin_item(ly_json *j, int is_key)
{
    if (j->js_bad || j->js_done) {
        j->js_bad = 1;
        return -1;
    }
    if (j->js_depth == 0) {
        if (is_key) {
            j->js_bad = 1;
            return -1;
        }
        return 0;
    }
    int in_object = j->js_close[j->js_depth - 1] == '}';
    if (is_key ? !in_object || j->js_key : in_object && !j->js_key) {
        j->js_bad = 1;
        return -1;
    }
    if (j->js_key) { /* the value of a key: the comma came before the key */
        j->js_key = 0;
        return 0;
    }
    if (j->js_any[j->js_depth - 1])
        fputc(',', j->js_out);
    j->js_any[j->js_depth - 1] = 1;
    return 0;
}

/* After a scalar or a closed container: at depth 0 the document is complete. */
static void s_end_item(ly_json *j)
{
    if (j->js_depth == 0)
        j->js_done = 1;
}

/* Length of the valid UTF-8 sequence at `p` (NUL-terminated), or 0 if invalid. */
static int s_utf8_len(const unsigned char *p)
{
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;
    int n;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0; /* overlong */
    else if (c == 0xED)
        hi = 0x9F; /* surrogates */
    else if (c == 0xF0)
        lo = 0x90; /* overlong */
    else if (c == 0xF4)
        hi = 0x8F; /* above U+10FFFF */
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (int i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}

static void s_put_string(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', out);
    while (*p) {
        if (*p == '"' || *p == '\\') {
            fputc('\\', out);
            fputc(*p++, out);
        } else if (*p < 0x20 || *p == 0x7F) {
            fprintf(out, "\\u%04x", *p++);
        } else {
            int n = s_utf8_len(p);
            if (n == 0) {
                fputs("\\ufffd", out);
                p++;
            } else {
                fwrite(p, 1, (size_t)n, out);
                p += n;
            }
        }
    }
    fputc('"', out);
}

static void s_open(ly_json *j, char open, char close)
{
    if (s_begin_item(j, 0) != 0)
        return;
    if (j->js_depth == LY_JSON_DEPTH_MAX) {
        j->js_bad = 1;
        return;
    }
    fputc(open, j->js_out);
    j->js_close[j->js_depth] = close;
    j->js_any[j->js_depth] = 0;
    j->js_depth++;
}

void ly_json_object(ly_json *j)
{
    s_open(j, '{', '}');
}

void ly_json_array(ly_json *j)
{
    s_open(j, '[', ']');
}

void ly_json_end(ly_json *j)
{
    if (j->js_bad || j->js_depth == 0 || j->js_key) {
        j->js_bad = 1;
        return;
    }
    fputc(j->js_close[--j->js_depth], j->js_out);
    s_end_item(j);
}

void ly_json_key(ly_json *j, const char *key)
{
    if (s_begin_item(j, 1) != 0)
        return;
    s_put_string(j->js_out, key);
    fputc(':', j->js_out);
    j->js_key = 1;
}

void ly_json_str(ly_json *j, const char *s)
{
    if (s_begin_item(j, 0) != 0)
        return;
    s_put_string(j->js_out, s);
    s_end_item(j);
}

void ly_json_int(ly_json *j, int64_t v)
{
    if (s_begin_item(j, 0) != 0)
        return;
    fprintf(j->js_out, "%" PRId64, v);
    s_end_item(j);
}

void ly_json_uint(ly_json *j, uint64_t v)
{
    if (s_begin_item(j, 0) != 0)
        return;
    fprintf(j->js_out, "%" PRIu64, v);
    s_end_item(j);
}

void ly_json_bool(ly_json *j, int v)
{
    if (s_begin_item(j, 0) != 0)
        return;
    fputs(v ? "true" : "false", j->js_out);
    s_end_item(j);
}

void ly_json_null(ly_json *j)
{
    if (s_begin_item(j, 0) != 0)
        return;
    fputs("null", j->js_out);
    s_end_item(j);
}

void ly_json_kstr(ly_json *j, const char *key, const char *s)
{
    ly_json_key(j, key);
    ly_json_str(j, s);
}

void ly_json_kint(ly_json *j, const char *key, int64_t v)
{
    ly_json_key(j, key);
    ly_json_int(j, v);
}

void ly_json_kuint(ly_json *j, const char *key, uint64_t v)
{
    ly_json_key(j, key);
    ly_json_uint(j, v);
}

void ly_json_kbool(ly_json *j, const char *key, int v)
{
    ly_json_key(j, key);
    ly_json_bool(j, v);
}

void ly_json_knull(ly_json *j, const char *key)
{
    ly_json_key(j, key);
    ly_json_null(j);
}

void ly_json_kobject(ly_json *j, const char *key)
{
    ly_json_key(j, key);
    ly_json_object(j);
}

void ly_json_karray(ly_json *j, const char *key)
{
    ly_json_key(j, key);
    ly_json_array(j);
}

int ly_json_finish(ly_json *j)
{
    if (!j->js_done)
        j->js_bad = 1;
    fputc('\n', j->js_out);
    if (fflush(j->js_out) != 0 || ferror(j->js_out))
        return -1;
    return j->js_bad ? -1 : 0;
}
