/* fmt.c -- human formatting that several loyalctl commands share (ctl.h). */
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/hlc.h"
#include "node/ctl/ctl.h"

/* `v` with thousands separators ("-1,240"; "+12" if `plus` and v > 0), in one
 * of a few rotating static buffers: valid until the 8th call after this one. */
const char *ctl_num_sign(int64_t v, int plus)
{
    static char bufs[8][32];
    static unsigned next;
    char *b = bufs[next++ % 8], digits[24];
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int n = snprintf(digits, sizeof digits, "%" PRIu64, u), o = 0;
    if (v < 0)
        b[o++] = '-';
    else if (plus && v > 0)
        b[o++] = '+';
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            b[o++] = ',';
        b[o++] = digits[i];
    }
    b[o] = '\0';
    return b;
}

const char *ctl_num(int64_t v)
{
    return ctl_num_sign(v, 0);
}

const char *ctl_unum(uint64_t v)
{
    return ctl_num_sign(v > INT64_MAX ? INT64_MAX : (int64_t)v, 0);
}

const char *ctl_points_word(int64_t v)
{
    return v == 1 || v == -1 ? "point" : "points";
}

/* HLC timestamp -> "2026-11-23T10:00:00.123Z"; "-" for 0. */
const char *ctl_iso(uint64_t hlc, char *buf, size_t cap)
{
    uint64_t ms = LY_HLC_MS(hlc);
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (hlc == 0 || !gmtime_r(&t, &tm)) {
        snprintf(buf, cap, "-");
        return buf;
    }
    size_t n = strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, cap - n, ".%03uZ", (unsigned)(ms % 1000));
    return buf;
}

const char *ctl_duration(uint64_t ms, char *buf, size_t cap)
{
    uint64_t s = ms / 1000, d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
    if (d > 0)
        snprintf(buf, cap, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m", d, h, m);
    else if (h > 0)
        snprintf(buf, cap, "%" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", h, m, s % 60);
    else if (m > 0)
        snprintf(buf, cap, "%" PRIu64 "m %" PRIu64 "s", m, s % 60);
    else
        snprintf(buf, cap, "%" PRIu64 ".%03" PRIu64 "s", s, ms % 1000);
    return buf;
}

const char *ctl_bytes(uint64_t n, char *buf, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%" PRIu64 " B", n);
    else
        snprintf(buf, cap, "%.1f %s", v, units[u]);
    return buf;
}

void ctl_parts_init(ctl_parts *t, char *buf, size_t cap)
{
    t->tx_buf = buf;
    t->tx_cap = cap;
    t->tx_n = 0;
    buf[0] = '\0';
}

void ctl_catf(ctl_parts *t, const char *sep, const char *fmt, ...)
{
    if (t->tx_n > 0 && t->tx_n < t->tx_cap)
        t->tx_n += (size_t)snprintf(t->tx_buf + t->tx_n, t->tx_cap - t->tx_n, "%s", sep);
    if (t->tx_n >= t->tx_cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    t->tx_n += (size_t)vsnprintf(t->tx_buf + t->tx_n, t->tx_cap - t->tx_n, fmt, ap);
    va_end(ap);
}

void ctl_cat_reason(ctl_parts *t, const char *category, const char *reason, const char *op)
{
    if (category[0])
        ctl_catf(t, "; ", "%s", category);
    if (reason[0])
        ctl_catf(t, "; ", "%s", reason);
    if (op[0])
        ctl_catf(t, " ", "(by %s)", op);
}

const char *ctl_hex64(uint64_t v, char *buf, size_t cap)
{
    snprintf(buf, cap, "%016" PRIx64, v);
    return buf;
}

/* Display width of UTF-8 text: its code points. */
static int s_width(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void s_pad(FILE *out, int n)
{
    for (; n > 0; n--)
        fputc(' ', out);
}

/* Print `nrows` rows under the headings of `cols`, each column as wide as its
 * widest cell, two spaces apart. `row` is called twice per row (measure, print). */
void ctl_table(FILE *out, const ctl_col *cols, int ncols, size_t nrows, const void *ctx,
               ctl_row_fn row)
{
    int width[CTL_COLS_MAX];
    ctl_cells cells;
    for (int c = 0; c < ncols; c++)
        width[c] = s_width(cols[c].head);
    for (size_t i = 0; i < nrows; i++) {
        row(ctx, i, cells);
        for (int c = 0; c < ncols; c++) {
            int w = s_width(cells[c]);
            width[c] = w > width[c] ? w : width[c];
        }
    }
    for (size_t i = 0; i <= nrows; i++) {
        if (i > 0)
            row(ctx, i - 1, cells);
        for (int c = 0; c < ncols; c++) {
            const char *v = i == 0 ? cols[c].head : cells[c];
            int pad = width[c] - s_width(v), last = c == ncols - 1;
            if (c > 0)
                s_pad(out, 2);
            if (cols[c].right)
                s_pad(out, pad);
            fputs(v, out);
            if (!cols[c].right && !last)
                s_pad(out, pad);
        }
        fputc('\n', out);
    }
}

const ctl_pf_field ctl_pf[LY_PF_COUNT] = {
    {LY_PF_NAME, "name", offsetof(ly_profile, pf_name)},
    {LY_PF_BIRTHDAY, "birthday", offsetof(ly_profile, pf_birthday)},
    {LY_PF_EMAIL, "email", offsetof(ly_profile, pf_email)},
    {LY_PF_PHONE, "phone", offsetof(ly_profile, pf_phone)},
    {LY_PF_PREFS, "prefs", offsetof(ly_profile, pf_prefs)},
};

/* Profile field i of `pf`; a field that was set and later cleared is "". */
const char *ctl_pf_value(const ly_profile *pf, int i)
{
    return (const char *)pf + ctl_pf[i].off;
}

void ctl_json_error(const char *code, const char *message, int with_available, int64_t available)
{
    ly_json j;
    ly_json_init(&j, stdout);
    ly_json_object(&j);
    ly_json_kobject(&j, "error");
    ly_json_kstr(&j, "code", code);
    ly_json_kstr(&j, "message", message);
    if (with_available)
        ly_json_kint(&j, "available", available);
    ly_json_end(&j);
    ly_json_end(&j);
    ly_json_finish(&j);
}

void ctl_json_standing(ly_json *j, const ly_rep *rp)
{
    ly_json_kstr(j, "customer", rp->rp_customer);
    ly_json_kint(j, "balance", rp->rp_balance);
    ly_json_kint(j, "lifetime_points", rp->rp_lifetime);
    ly_json_kint(j, "debt", rp->rp_debt);
    ly_json_kstr(j, "tier", rp->rp_tier);
    ly_json_kint(j, "qualifying", rp->rp_qualifying);
    if (rp->rp_next_tier[0]) {
        ly_json_kstr(j, "next_tier", rp->rp_next_tier);
        ly_json_kint(j, "to_next_tier", rp->rp_to_next);
    } else {
        ly_json_knull(j, "next_tier");
        ly_json_knull(j, "to_next_tier");
    }
    if (rp->rp_tier_until[0])
        ly_json_kstr(j, "tier_until", rp->rp_tier_until);
    else
        ly_json_knull(j, "tier_until");
    ly_json_kint(j, "to_keep_tier", rp->rp_to_keep);
    ly_json_kbool(j, "tier_by_hand", rp->rp_tier_override[0] != '\0');
}

void ctl_print_standing(const ly_rep *rp)
{
    printf("balance %s  lifetime %s  debt %s  tier %s (%s qualifying; ", ctl_num(rp->rp_balance),
           ctl_num(rp->rp_lifetime), ctl_num(rp->rp_debt), rp->rp_tier, ctl_num(rp->rp_qualifying));
    if (rp->rp_next_tier[0])
        printf("%s to %s)", ctl_num(rp->rp_to_next), rp->rp_next_tier);
    else
        printf("top tier)");
    if (rp->rp_tier_until[0])
        printf("; %s held until %s%s", rp->rp_tier, rp->rp_tier_until,
               rp->rp_tier_override[0] ? " (set by hand)" : "");
    if (rp->rp_to_keep > 0)
        printf(", %s more this period keep%s it longer", ctl_num(rp->rp_to_keep),
               rp->rp_to_keep == 1 ? "s" : "");
    printf("\n");
}

/* The peer rows the reply holds (0 if none were decoded). */
uint32_t ctl_npeers(const ly_node_status *ns)
{
    return ns->ns_peers ? ns->ns_npeers : 0;
}

/* Index in ns_vv of the entry for ns_vv[i]'s origin with the highest incarnation. */
uint32_t ctl_vv_newest(const ly_node_status *ns, uint32_t i)
{
    uint32_t best = i;
    for (uint32_t k = 0; k < ns->ns_nvv; k++)
        if (ns->ns_vv[k].origin == ns->ns_vv[i].origin &&
            ns->ns_vv[k].incarnation > ns->ns_vv[best].incarnation)
            best = k;
    return best;
}

/* 1 if ns_vv[i] is the first entry of its origin (so each origin is listed once). */
int ctl_vv_first(const ly_node_status *ns, uint32_t i)
{
    for (uint32_t k = 0; k < i; k++)
        if (ns->ns_vv[k].origin == ns->ns_vv[i].origin)
            return 0;
    return 1;
}

/* The "vv" object: origin -> seq of its newest incarnation. */
void ctl_json_vv(ly_json *j, const ly_node_status *ns)
{
    uint32_t nvv = ns->ns_nvv < LY_VV_MAX ? ns->ns_nvv : LY_VV_MAX;
    char key[16];
    ly_json_object(j);
    for (uint32_t i = 0; i < nvv; i++) {
        if (!ctl_vv_first(ns, i))
            continue;
        snprintf(key, sizeof key, "%u", (unsigned)ns->ns_vv[i].origin);
        ly_json_kuint(j, key, ns->ns_vv[ctl_vv_newest(ns, i)].seq);
    }
    ly_json_end(j);
}
