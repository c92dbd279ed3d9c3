/* loyalctl -- the staff and operator CLI of a Loyal node.
 *
 * One table of subcommands; each has its own function, usage text and set of
 * options, and one option parser serves them all. Arguments are checked here
 * before anything is sent. Primary output goes to stdout (human text, or
 * exactly one JSON object with --json); errors go to stderr.
 * Exit status: 0 done, 1 refused or failed, 2 usage error, 3 no answer. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/event.h"
#include "common/hlc.h"
#include "node/json.h"
#include "proto/client.h"

#define S_DEFAULT_NODE      "tcp://127.0.0.1:7101"
#define S_DEFAULT_TIMEOUT_S 5.0
#define S_TIMEOUT_MIN_S     0.001
#define S_TIMEOUT_MAX_S     3600.0
#define S_POS_MAX           2

enum { S_EXIT_OK = 0, S_EXIT_FAILED = 1, S_EXIT_USAGE = 2, S_EXIT_UNREACHABLE = 3 };

/* Command options; each command accepts a subset (a mask of S_O bits). */
enum {
    O_TXN,
    O_NAME,
    O_BIRTHDAY,
    O_EMAIL,
    O_PHONE,
    O_PREFS,
    O_CATEGORY,
    O_AMOUNT,
    O_REASON,
    O_OPERATOR,
    O_HISTORY,
    O_ORIGIN,
    O_SINCE,
    O_LIMIT,
    O_COUNT
};
#define S_O(o)      (1u << (o))
#define S_O_PROFILE (S_O(O_NAME) | S_O(O_BIRTHDAY) | S_O(O_EMAIL) | S_O(O_PHONE) | S_O(O_PREFS))

static const struct {
    const char *name; /* without the leading "--" */
    const char *arg;  /* the value's placeholder in messages */
} s_opts[O_COUNT] = {
    [O_TXN] = {"txn", "ID"},
    [O_NAME] = {"name", "NAME"},
    [O_BIRTHDAY] = {"birthday", "YYYY-MM-DD"},
    [O_EMAIL] = {"email", "EMAIL"},
    [O_PHONE] = {"phone", "PHONE"},
    [O_PREFS] = {"prefs", "TEXT"},
    [O_CATEGORY] = {"category", "C"},
    [O_AMOUNT] = {"amount", "AMOUNT"},
    [O_REASON] = {"reason", "TEXT"},
    [O_OPERATOR] = {"operator", "NAME"},
    [O_HISTORY] = {"history", "N"},
    [O_ORIGIN] = {"origin", "ID"},
    [O_SINCE] = {"since", "SEQ"},
    [O_LIMIT] = {"limit", "N"},
};

typedef struct s_ctx s_ctx;

typedef struct s_cmd {
    const char *name;
    int (*run)(s_ctx *x);
    int npos;                   /* positional arguments, exactly */
    const char *pos[S_POS_MAX]; /* their names */
    uint32_t opts;              /* accepted options */
    uint32_t required;          /* options that must be given */
    const char *synopsis;       /* arguments after the command name */
    const char *summary;        /* one line for the command list */
    const char *help;           /* the rest of `loyalctl CMD --help` */
} s_cmd;

struct s_ctx {
    const s_cmd *cmd;
    const char *node;
    const char *node_from; /* where `node` came from, for messages */
    const char *timeout_arg;
    double timeout_s;
    int json;
    int npos;
    const char *pos[S_POS_MAX];
    const char *opt[O_COUNT]; /* NULL: not given */
};

typedef void (*s_show_fn)(const s_ctx *x, const ly_req *rq, const ly_rep *rp);

static const char s_exit_text[] =
    "exit status:\n"
    "  0  done\n"
    "  1  the node refused the operation or it failed (insufficient points, conflict,\n"
    "     unknown customer, ...)\n"
    "  2  usage error; nothing was sent\n"
    "  3  the node was unreachable or did not answer in time\n";

static const char s_global_synopsis[] =
    "usage: loyalctl [--node ENDPOINT] [--timeout SECONDS] [--json] COMMAND [ARGS...]\n";

/* ---- formatting helpers ---- */

/* `v` with thousands separators ("-1,240"; "+12" if `plus` and v > 0), in one
 * of a few rotating static buffers: valid until the 8th call after this one. */
static const char *s_num_sign(int64_t v, int plus)
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

static const char *s_num(int64_t v)
{
    return s_num_sign(v, 0);
}

static const char *s_unum(uint64_t v)
{
    return s_num_sign(v > INT64_MAX ? INT64_MAX : (int64_t)v, 0);
}

/* HLC timestamp -> "2026-11-23T10:00:00.123Z"; "-" for 0. */
static const char *s_iso(uint64_t hlc, char *buf, size_t cap)
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

static const char *s_duration(uint64_t ms, char *buf, size_t cap)
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

static const char *s_bytes(uint64_t n, char *buf, size_t cap)
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

/* A value for a `key=value` line: quoted when empty or holding spaces, quotes,
 * '=' or backslashes; control characters (never valid in stored text) as '?'. */
static void s_put_value(FILE *out, const char *s)
{
    if (*s && !strpbrk(s, " \t\"\\=")) {
        for (; *s; s++)
            fputc((unsigned char)*s < 0x20 ? '?' : *s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc((unsigned char)*s < 0x20 ? '?' : *s, out);
    }
    fputc('"', out);
}

static const struct {
    uint32_t bit;
    const char *name;
    size_t off;
} s_pf[LY_PF_COUNT] = {
    {LY_PF_NAME, "name", offsetof(ly_profile, pf_name)},
    {LY_PF_BIRTHDAY, "birthday", offsetof(ly_profile, pf_birthday)},
    {LY_PF_EMAIL, "email", offsetof(ly_profile, pf_email)},
    {LY_PF_PHONE, "phone", offsetof(ly_profile, pf_phone)},
    {LY_PF_PREFS, "prefs", offsetof(ly_profile, pf_prefs)},
};

/* Profile field i of `pf`; a field that was set and later cleared is "". */
static const char *s_pf_value(const ly_profile *pf, int i)
{
    return (const char *)pf + s_pf[i].off;
}

/* ---- errors ---- */

static void s_json_error(const char *code, const char *message, int with_available,
                         int64_t available)
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

static void s_print_usage(FILE *out, const s_cmd *cmd)
{
    if (cmd)
        fprintf(out, "usage: loyalctl [OPTIONS] %s%s%s\n", cmd->name, cmd->synopsis[0] ? " " : "",
                cmd->synopsis);
    else
        fputs(s_global_synopsis, out);
}

/* A usage error: one line, the usage, and (with --json) the error object. Returns 2. */
static int s_usage(const s_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int s_usage(const s_ctx *x, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "loyalctl: %s\n", msg);
    s_print_usage(stderr, x->cmd);
    fprintf(stderr, "run 'loyalctl %s%s--help' for details\n", x->cmd ? x->cmd->name : "",
            x->cmd ? " " : "");
    if (x->json)
        s_json_error(ly_errname(LY_EINVAL), msg, 0, 0);
    return S_EXIT_USAGE;
}

/* A failure outside the operation itself (no answer, bad reply). Returns `rc`. */
static int s_fail(const s_ctx *x, int rc, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int s_fail(const s_ctx *x, int rc, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "loyalctl: %s\n", msg);
    if (x->json)
        s_json_error(code, msg, 0, 0);
    return rc;
}

/* The node refused the operation (rp_err != LY_OK). Returns 1. */
static int s_refused(const s_ctx *x, const ly_rep *rp)
{
    ly_err e = (ly_err)rp->rp_err;
    const char *msg = rp->rp_message[0] ? rp->rp_message : ly_strerror(e);
    int with_available = e == LY_EINSUFFICIENT || rp->rp_available != 0;
    if (with_available)
        fprintf(stderr, "loyalctl: %s (%s; %s points available)\n", msg, ly_errname(e),
                s_num(rp->rp_available));
    else
        fprintf(stderr, "loyalctl: %s (%s)\n", msg, ly_errname(e));
    if (x->json)
        s_json_error(ly_errname(e), msg, with_available, rp->rp_available);
    return S_EXIT_FAILED;
}

/* ---- argument checks: each returns 0 or the usage error's exit code ---- */

static int s_id(const s_ctx *x, const char *what, const char *s, char *dst, size_t cap)
{
    if (!ly_id_valid(s) || ly_strlcpy(dst, s, cap) != 0)
        return s_usage(x, "invalid %s '%s' (1 to %zu characters of A-Z a-z 0-9 . _ : @ # / + -)",
                       what, s, cap - 1);
    return 0;
}

static int s_text(const s_ctx *x, const char *what, const char *s, size_t max, char *dst,
                  size_t cap)
{
    if (!ly_text_valid(s, max) || ly_strlcpy(dst, s, cap) != 0)
        return s_usage(x,
                       "invalid %s '%s' (UTF-8 text without control characters, at most %zu "
                       "bytes)",
                       what, s, max);
    return 0;
}

static int s_int(const s_ctx *x, const char *what, const char *s, int64_t min, int64_t max,
                 int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || isspace((unsigned char)*s) || *end)
        return s_usage(x, "invalid %s '%s' (not a whole number)", what, s);
    if (errno == ERANGE || v < min || v > max)
        return s_usage(x, "%s '%s' is out of range (%" PRId64 " to %" PRId64 ")", what, s, min,
                       max);
    *out = v;
    return 0;
}

/* The optional profile options into rq_profile / rq_fields. */
static int s_profile(const s_ctx *x, ly_req *rq)
{
    static const struct {
        int opt;
        size_t max, cap;
    } lim[LY_PF_COUNT] = {
        {O_NAME, LY_NAME_MAX, sizeof rq->rq_profile.pf_name},
        {O_BIRTHDAY, 10, sizeof rq->rq_profile.pf_birthday},
        {O_EMAIL, LY_EMAIL_MAX, sizeof rq->rq_profile.pf_email},
        {O_PHONE, LY_PHONE_MAX, sizeof rq->rq_profile.pf_phone},
        {O_PREFS, LY_TEXT_MAX, sizeof rq->rq_profile.pf_prefs},
    };
    for (int i = 0; i < LY_PF_COUNT; i++) {
        const char *v = x->opt[lim[i].opt];
        char *dst = (char *)&rq->rq_profile + s_pf[i].off;
        int rc;
        if (!v)
            continue;
        if (lim[i].opt == O_BIRTHDAY && !ly_date_valid(v))
            return s_usage(x, "invalid birthday '%s' (a real date, YYYY-MM-DD)", v);
        if ((rc = s_text(x, s_pf[i].name, v, lim[i].max, dst, lim[i].cap)) != 0)
            return rc;
        rq->rq_fields |= s_pf[i].bit;
    }
    return 0;
}

/* ---- talking to the node ---- */

static int s_call(const s_ctx *x, ly_req *rq, s_show_fn show)
{
    int timeout_ms = (int)(x->timeout_s * 1000.0 + 0.5);
    ly_client *c = ly_client_new(x->node, timeout_ms);
    if (!c)
        return s_fail(x, S_EXIT_UNREACHABLE, ly_errname(LY_EIO), "cannot connect to '%s'", x->node);
    ly_rep rp;
    ly_err e = ly_client_call(c, rq, &rp);
    int rc;
    if (e == LY_ETIMEDOUT)
        rc = s_fail(x, S_EXIT_UNREACHABLE, ly_errname(e), "no answer from %s within %g s", x->node,
                    x->timeout_s);
    else if (e == LY_EIO)
        rc = s_fail(x, S_EXIT_UNREACHABLE, ly_errname(e), "cannot talk to %s: %s", x->node,
                    ly_strerror(e));
    else if (e == LY_EINVAL)
        rc = s_usage(x, "the client library refused the request: %s", ly_strerror(e));
    else if (e != LY_OK)
        rc = s_fail(x, S_EXIT_FAILED, ly_errname(e), "bad answer from %s: %s", x->node,
                    ly_strerror(e));
    else if (rp.rp_err != LY_OK)
        rc = s_refused(x, &rp);
    else if (rp.rp_type != rq->rq_type)
        rc = s_fail(x, S_EXIT_FAILED, ly_errname(LY_EPROTO), "%s answered '%s' to '%s'", x->node,
                    ly_msgtype_name(rp.rp_type) ? ly_msgtype_name(rp.rp_type) : "?",
                    ly_msgtype_name(rq->rq_type));
    else {
        show(x, rq, &rp);
        rc = S_EXIT_OK;
    }
    ly_rep_fini(&rp);
    ly_client_destroy(&c);
    return rc;
}

/* ---- showing replies ---- */

static void s_json_standing(ly_json *j, const ly_rep *rp)
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
}

static void s_print_standing(const ly_rep *rp)
{
    printf("balance %s  lifetime %s  debt %s  tier %s (%s qualifying; ", s_num(rp->rp_balance),
           s_num(rp->rp_lifetime), s_num(rp->rp_debt), rp->rp_tier, s_num(rp->rp_qualifying));
    if (rp->rp_next_tier[0])
        printf("%s to %s)\n", s_num(rp->rp_to_next), rp->rp_next_tier);
    else
        printf("top tier)\n");
}

static const char *s_points_word(int64_t v)
{
    return v == 1 || v == -1 ? "point" : "points";
}

static void s_show_mutation(const s_ctx *x, const ly_req *rq, const ly_rep *rp)
{
    char at[40];
    if (x->json) {
        ly_json j;
        ly_json_init(&j, stdout);
        ly_json_object(&j);
        ly_json_kstr(&j, "operation", ly_msgtype_name(rp->rp_type));
        s_json_standing(&j, rp);
        ly_json_kint(&j, "points", rp->rp_points);
        ly_json_kstr(&j, "txn", rp->rp_txn);
        ly_json_kbool(&j, "replayed", rp->rp_replayed);
        ly_json_kobject(&j, "event");
        ly_json_kuint(&j, "origin", rp->rp_origin);
        ly_json_kuint(&j, "seq", rp->rp_seq);
        ly_json_kuint(&j, "hlc", rp->rp_hlc);
        ly_json_kstr(&j, "at", s_iso(rp->rp_hlc, at, sizeof at));
        ly_json_end(&j);
        ly_json_end(&j);
        ly_json_finish(&j);
        return;
    }
    int64_t p = rp->rp_points;
    switch (rp->rp_type) {
    case LY_MSG_ENROLL:
        if (p != 0)
            printf("enrolled %s with %s %s", rp->rp_customer, s_num(p), s_points_word(p));
        else
            printf("enrolled %s", rp->rp_customer);
        break;
    case LY_MSG_EARN:
        printf("earned %s %s for %s", s_num(p), s_points_word(p), rp->rp_customer);
        break;
    case LY_MSG_REDEEM:
        printf("redeemed %s %s for %s", s_num(-p), s_points_word(p), rp->rp_customer);
        break;
    case LY_MSG_REVERSE:
        printf("reversed %s for %s: %s %s", rq->rq_ref_txn, rp->rp_customer, s_num_sign(p, 1),
               s_points_word(p));
        break;
    case LY_MSG_ADJUST:
        printf("adjusted %s by %s %s", rp->rp_customer, s_num_sign(p, 1), s_points_word(p));
        break;
    default:
        printf("updated the profile of %s", rp->rp_customer);
        break;
    }
    printf(" (txn %s)%s\n", rp->rp_txn, rp->rp_replayed ? " (replayed: original result)" : "");
    s_print_standing(rp);
}

/* The details column of a history line. */
static void s_hist_details(const ly_hist *h, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
#define S_ADD(...)                                                                                 \
    do {                                                                                           \
        if (n < cap)                                                                               \
            n += (size_t)snprintf(buf + n, cap - n, __VA_ARGS__);                                  \
    } while (0)
    if (h->hi_type == LY_EV_REVERSE && h->hi_ref_txn[0])
        S_ADD("refund of %s", h->hi_ref_txn);
    if (h->hi_category[0])
        S_ADD("%s%s", n ? "; " : "", h->hi_category);
    if (h->hi_reason[0])
        S_ADD("%s%s", n ? "; " : "", h->hi_reason);
    if (h->hi_operator[0])
        S_ADD("%s(by %s)", n ? " " : "", h->hi_operator);
    if (h->hi_tier_from[0] && h->hi_tier_to[0] && strcmp(h->hi_tier_from, h->hi_tier_to) != 0)
        S_ADD("%stier %s \u2192 %s", n ? "; " : "", h->hi_tier_from, h->hi_tier_to);
#undef S_ADD
}

static void s_json_optstr(ly_json *j, const char *key, const char *s)
{
    if (s[0])
        ly_json_kstr(j, key, s);
}

static void s_show_customer_json(const ly_rep *rp)
{
    char at[40];
    ly_json j;
    ly_json_init(&j, stdout);
    ly_json_object(&j);
    s_json_standing(&j, rp);
    ly_json_kobject(&j, "profile");
    for (int i = 0; i < LY_PF_COUNT; i++)
        if ((rp->rp_fields & s_pf[i].bit) && s_pf_value(&rp->rp_profile, i)[0])
            ly_json_kstr(&j, s_pf[i].name, s_pf_value(&rp->rp_profile, i));
    ly_json_end(&j);
    if (rp->rp_enrolled_hlc)
        ly_json_kstr(&j, "enrolled_at", s_iso(rp->rp_enrolled_hlc, at, sizeof at));
    else
        ly_json_knull(&j, "enrolled_at");
    if (rp->rp_last_hlc)
        ly_json_kstr(&j, "last_activity_at", s_iso(rp->rp_last_hlc, at, sizeof at));
    else
        ly_json_knull(&j, "last_activity_at");
    ly_json_karray(&j, "history");
    for (uint32_t i = 0; i < rp->rp_nhist && i < LY_HIST_MAX; i++) {
        const ly_hist *h = &rp->rp_hist[i];
        ly_json_object(&j);
        ly_json_kstr(&j, "at", s_iso(h->hi_hlc, at, sizeof at));
        ly_json_kstr(&j, "type", ly_evtype_name(h->hi_type));
        ly_json_kint(&j, "points", h->hi_points);
        if (h->hi_amount != 0)
            ly_json_kint(&j, "amount", h->hi_amount);
        s_json_optstr(&j, "txn", h->hi_txn);
        s_json_optstr(&j, "ref_txn", h->hi_ref_txn);
        s_json_optstr(&j, "category", h->hi_category);
        s_json_optstr(&j, "reason", h->hi_reason);
        s_json_optstr(&j, "operator", h->hi_operator);
        s_json_optstr(&j, "tier_from", h->hi_tier_from);
        s_json_optstr(&j, "tier_to", h->hi_tier_to);
        ly_json_kuint(&j, "origin", h->hi_origin);
        ly_json_end(&j);
    }
    ly_json_end(&j);
    ly_json_end(&j);
    ly_json_finish(&j);
}

static void s_show_customer(const s_ctx *x, const ly_req *rq, const ly_rep *rp)
{
    char at[40], details[LY_TEXT_MAX + LY_ID_MAX * 2 + 128];
    (void)rq;
    if (x->json) {
        s_show_customer_json(rp);
        return;
    }
    printf("customer %s\n", rp->rp_customer);
    s_print_standing(rp);
    for (int i = 0; i < LY_PF_COUNT; i++)
        if ((rp->rp_fields & s_pf[i].bit) && s_pf_value(&rp->rp_profile, i)[0])
            printf("%-9s %s\n", s_pf[i].name, s_pf_value(&rp->rp_profile, i));
    printf("%-9s %s\n", "enrolled", s_iso(rp->rp_enrolled_hlc, at, sizeof at));
    printf("%-9s %s\n", "last", s_iso(rp->rp_last_hlc, at, sizeof at));
    uint32_t nhist = rp->rp_nhist < LY_HIST_MAX ? rp->rp_nhist : LY_HIST_MAX;
    if (nhist == 0)
        return;
    int wpts = (int)strlen("POINTS"), wtxn = (int)strlen("TXN");
    for (uint32_t i = 0; i < nhist; i++) {
        int n = (int)strlen(s_num_sign(rp->rp_hist[i].hi_points, 1));
        int t = (int)strlen(rp->rp_hist[i].hi_txn);
        wpts = n > wpts ? n : wpts;
        wtxn = t > wtxn ? t : wtxn;
    }
    printf("\nhistory, newest first:\n%-24s  %-7s  %*s  %-*s  DETAILS\n", "TIME", "TYPE", wpts,
           "POINTS", wtxn, "TXN");
    for (uint32_t i = 0; i < nhist; i++) {
        const ly_hist *h = &rp->rp_hist[i];
        s_hist_details(h, details, sizeof details);
        printf("%-24s  %-7s  %*s  %s", s_iso(h->hi_hlc, at, sizeof at), ly_evtype_name(h->hi_type),
               wpts, s_num_sign(h->hi_points, 1), h->hi_txn);
        if (details[0])
            printf("%*s  %s", wtxn - (int)strlen(h->hi_txn), "", details);
        printf("\n");
    }
}

/* Index in ns_vv of the entry for ns_vv[i]'s origin with the highest incarnation. */
static uint32_t s_vv_newest(const ly_node_status *ns, uint32_t i)
{
    uint32_t best = i;
    for (uint32_t k = 0; k < ns->ns_nvv; k++)
        if (ns->ns_vv[k].origin == ns->ns_vv[i].origin &&
            ns->ns_vv[k].incarnation > ns->ns_vv[best].incarnation)
            best = k;
    return best;
}

/* 1 if ns_vv[i] is the first entry of its origin (so each origin is listed once). */
static int s_vv_first(const ly_node_status *ns, uint32_t i)
{
    for (uint32_t k = 0; k < i; k++)
        if (ns->ns_vv[k].origin == ns->ns_vv[i].origin)
            return 0;
    return 1;
}

static void s_show_status(const s_ctx *x, const ly_req *rq, const ly_rep *rp)
{
    const ly_node_status *ns = &rp->rp_status;
    uint32_t nvv = ns->ns_nvv < LY_VV_MAX ? ns->ns_nvv : LY_VV_MAX;
    char digest[17], buf[64], buf2[64];
    (void)rq;
    snprintf(digest, sizeof digest, "%016" PRIx64, ns->ns_digest);
    if (x->json) {
        ly_json j;
        ly_json_init(&j, stdout);
        ly_json_object(&j);
        ly_json_kobject(&j, "node");
        ly_json_kuint(&j, "id", ns->ns_id);
        ly_json_kstr(&j, "name", ns->ns_name);
        ly_json_kuint(&j, "incarnation", ns->ns_incarnation);
        ly_json_kuint(&j, "program", ns->ns_program);
        ly_json_kuint(&j, "events", ns->ns_events);
        ly_json_kuint(&j, "customers", ns->ns_customers);
        ly_json_kobject(&j, "vv");
        for (uint32_t i = 0; i < nvv; i++) {
            if (!s_vv_first(ns, i))
                continue;
            snprintf(buf, sizeof buf, "%u", (unsigned)ns->ns_vv[i].origin);
            ly_json_kuint(&j, buf, ns->ns_vv[s_vv_newest(ns, i)].seq);
        }
        ly_json_end(&j);
        ly_json_karray(&j, "vv_full");
        for (uint32_t i = 0; i < nvv; i++) {
            ly_json_object(&j);
            ly_json_kuint(&j, "origin", ns->ns_vv[i].origin);
            ly_json_kuint(&j, "incarnation", ns->ns_vv[i].incarnation);
            ly_json_kuint(&j, "seq", ns->ns_vv[i].seq);
            ly_json_end(&j);
        }
        ly_json_end(&j);
        ly_json_kstr(&j, "digest", digest);
        ly_json_kuint(&j, "hlc", ns->ns_hlc);
        ly_json_kuint(&j, "uptime_ms", ns->ns_uptime_ms);
        ly_json_kuint(&j, "map_size", ns->ns_map_size);
        ly_json_kuint(&j, "map_used", ns->ns_map_used);
        ly_json_end(&j);
        ly_json_karray(&j, "peers");
        ly_json_end(&j);
        ly_json_end(&j);
        ly_json_finish(&j);
        return;
    }
    printf("node         %u (%s)\n", (unsigned)ns->ns_id, ns->ns_name);
    printf("incarnation  %" PRIu32 "\n", ns->ns_incarnation);
    printf("program      version %" PRIu32 "\n", ns->ns_program);
    printf("events       %s\n", s_unum(ns->ns_events));
    printf("customers    %s\n", s_unum(ns->ns_customers));
    printf("vv          ");
    for (uint32_t i = 0; i < nvv; i++)
        if (s_vv_first(ns, i))
            printf(" %u:%" PRIu64, (unsigned)ns->ns_vv[i].origin,
                   ns->ns_vv[s_vv_newest(ns, i)].seq);
    for (uint32_t i = 0; i < nvv; i++)
        if (s_vv_newest(ns, i) != i)
            printf(" (old incarnation %u@%" PRIu32 ":%" PRIu64 ")", (unsigned)ns->ns_vv[i].origin,
                   ns->ns_vv[i].incarnation, ns->ns_vv[i].seq);
    printf("%s\n", nvv ? "" : " -");
    printf("digest       %s\n", digest);
    printf("clock        %s\n", s_iso(ns->ns_hlc, buf, sizeof buf));
    printf("uptime       %s\n", s_duration(ns->ns_uptime_ms, buf, sizeof buf));
    printf("map          %s used of %s", s_bytes(ns->ns_map_used, buf, sizeof buf),
           s_bytes(ns->ns_map_size, buf2, sizeof buf2));
    if (ns->ns_map_size)
        printf(" (%.0f%%)", 100.0 * (double)ns->ns_map_used / (double)ns->ns_map_size);
    printf("\n");
}

static void s_json_event(ly_json *j, const ly_event *ev)
{
    char at[40], hash[17];
    ly_json_object(j);
    ly_json_kuint(j, "origin", ev->ev_origin);
    ly_json_kuint(j, "incarnation", ev->ev_incarnation);
    ly_json_kuint(j, "seq", ev->ev_seq);
    ly_json_kuint(j, "hlc", ev->ev_hlc);
    ly_json_kstr(j, "at", s_iso(ev->ev_hlc, at, sizeof at));
    ly_json_kstr(j, "type", ly_evtype_name(ev->ev_type));
    if (ev->ev_ref_type)
        ly_json_kstr(j, "ref_type", ly_evtype_name(ev->ev_ref_type));
    else
        ly_json_knull(j, "ref_type");
    ly_json_kuint(j, "tier_from", ev->ev_tier_from);
    ly_json_kuint(j, "tier_to", ev->ev_tier_to);
    ly_json_kuint(j, "program", ev->ev_program);
    ly_json_kint(j, "qual_day", ev->ev_qual_day);
    ly_json_kint(j, "amount", ev->ev_amount);
    ly_json_kint(j, "points", ev->ev_points);
    ly_json_kint(j, "qual", ev->ev_qual);
    snprintf(hash, sizeof hash, "%016" PRIx64, ev->ev_req_hash);
    ly_json_kstr(j, "req_hash", hash);
    ly_json_kstr(j, "customer", ev->ev_customer);
    ly_json_kstr(j, "txn", ev->ev_txn);
    ly_json_kstr(j, "ref_txn", ev->ev_ref_txn);
    ly_json_kstr(j, "category", ev->ev_category);
    ly_json_kstr(j, "reason", ev->ev_reason);
    ly_json_kstr(j, "operator", ev->ev_operator);
    ly_json_karray(j, "fields");
    for (int i = 0; i < LY_PF_COUNT; i++)
        if (ev->ev_fields & s_pf[i].bit)
            ly_json_str(j, s_pf[i].name);
    ly_json_end(j);
    ly_json_kobject(j, "profile");
    for (int i = 0; i < LY_PF_COUNT; i++)
        if (ev->ev_fields & s_pf[i].bit)
            ly_json_kstr(j, s_pf[i].name, s_pf_value(&ev->ev_profile, i));
    ly_json_end(j);
    ly_json_end(j);
}

/* One line: ORIGIN:SEQ TIME TYPE CUSTOMER POINTS key=value... */
static void s_print_event(const ly_event *ev)
{
    char at[40];
    printf("%u:%" PRIu64 " %s %s ", (unsigned)ev->ev_origin, ev->ev_seq,
           s_iso(ev->ev_hlc, at, sizeof at), ly_evtype_name(ev->ev_type));
    s_put_value(stdout, ev->ev_customer);
    printf(" %s txn=", s_num_sign(ev->ev_points, 1));
    s_put_value(stdout, ev->ev_txn);
    if (ev->ev_type != LY_EV_ADJUST && ev->ev_amount != 0)
        printf(" amount=%" PRId64, ev->ev_amount);
    if (ev->ev_ref_txn[0]) {
        printf(" ref=");
        s_put_value(stdout, ev->ev_ref_txn);
        printf(" ref_type=%s", ly_evtype_name(ev->ev_ref_type));
    }
    static const struct {
        const char *key;
        size_t off;
    } texts[] = {{"category", offsetof(ly_event, ev_category)},
                 {"reason", offsetof(ly_event, ev_reason)},
                 {"operator", offsetof(ly_event, ev_operator)}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const char *v = (const char *)ev + texts[i].off;
        if (v[0]) {
            printf(" %s=", texts[i].key);
            s_put_value(stdout, v);
        }
    }
    for (int i = 0; i < LY_PF_COUNT; i++)
        if (ev->ev_fields & s_pf[i].bit) {
            printf(" %s=", s_pf[i].name);
            s_put_value(stdout, s_pf_value(&ev->ev_profile, i));
        }
    if (ev->ev_tier_from != ev->ev_tier_to)
        printf(" tier=%u->%u", (unsigned)ev->ev_tier_from, (unsigned)ev->ev_tier_to);
    printf(" incarnation=%" PRIu32 " program=%" PRIu32 "\n", ev->ev_incarnation, ev->ev_program);
}

static void s_show_events(const s_ctx *x, const ly_req *rq, const ly_rep *rp)
{
    uint32_t n = rp->rp_events ? rp->rp_nevents : 0;
    if (x->json) {
        ly_json j;
        ly_json_init(&j, stdout);
        ly_json_object(&j);
        ly_json_karray(&j, "events");
        for (uint32_t i = 0; i < n; i++)
            s_json_event(&j, &rp->rp_events[i]);
        ly_json_end(&j);
        ly_json_end(&j);
        ly_json_finish(&j);
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        s_print_event(&rp->rp_events[i]);
    if (n > 0 && n >= rq->rq_limit) {
        const ly_event *last = &rp->rp_events[n - 1];
        fprintf(stderr,
                "loyalctl: stopped at the limit of %" PRIu32 " events; more of origin %u with "
                "--origin %u --since %" PRIu64 "\n",
                rq->rq_limit, (unsigned)last->ev_origin, (unsigned)last->ev_origin, last->ev_seq);
    }
}

/* ---- the commands ---- */

static int s_customer_arg(const s_ctx *x, ly_req *rq)
{
    return s_id(x, "customer id", x->pos[0], rq->rq_customer, sizeof rq->rq_customer);
}

static int s_txn_arg(const s_ctx *x, ly_req *rq)
{
    return s_id(x, "transaction id", x->opt[O_TXN], rq->rq_txn, sizeof rq->rq_txn);
}

static int s_cmd_enroll(s_ctx *x)
{
    ly_req rq;
    int rc;
    ly_req_init(&rq, LY_MSG_ENROLL);
    if ((rc = s_customer_arg(x, &rq)) != 0 || (rc = s_profile(x, &rq)) != 0)
        return rc;
    if (x->opt[O_TXN]) {
        if ((rc = s_txn_arg(x, &rq)) != 0)
            return rc;
    } else if ((size_t)snprintf(rq.rq_txn, sizeof rq.rq_txn, "enroll:%s", rq.rq_customer) >=
               sizeof rq.rq_txn) {
        return s_usage(x,
                       "customer id '%s' is too long for the default transaction id "
                       "'enroll:%s'; give --txn",
                       rq.rq_customer, rq.rq_customer);
    }
    return s_call(x, &rq, s_show_mutation);
}

static int s_cmd_earn(s_ctx *x)
{
    ly_req rq;
    int rc;
    ly_req_init(&rq, LY_MSG_EARN);
    if ((rc = s_customer_arg(x, &rq)) != 0 ||
        (rc = s_int(x, "amount", x->pos[1], 1, LY_AMOUNT_MAX, &rq.rq_amount)) != 0 ||
        (rc = s_txn_arg(x, &rq)) != 0)
        return rc;
    if (x->opt[O_CATEGORY] &&
        (rc = s_id(x, "category", x->opt[O_CATEGORY], rq.rq_category, sizeof rq.rq_category)) != 0)
        return rc;
    return s_call(x, &rq, s_show_mutation);
}

static int s_cmd_redeem(s_ctx *x)
{
    ly_req rq;
    int rc;
    ly_req_init(&rq, LY_MSG_REDEEM);
    if ((rc = s_customer_arg(x, &rq)) != 0 ||
        (rc = s_int(x, "points", x->pos[1], 1, LY_AMOUNT_MAX, &rq.rq_amount)) != 0 ||
        (rc = s_txn_arg(x, &rq)) != 0)
        return rc;
    return s_call(x, &rq, s_show_mutation);
}

static int s_cmd_reverse(s_ctx *x)
{
    ly_req rq;
    int rc;
    ly_req_init(&rq, LY_MSG_REVERSE);
    if ((rc = s_id(x, "original transaction id", x->pos[0], rq.rq_ref_txn, sizeof rq.rq_ref_txn)) !=
            0 ||
        (rc = s_txn_arg(x, &rq)) != 0)
        return rc;
    if (x->opt[O_AMOUNT] &&
        (rc = s_int(x, "amount", x->opt[O_AMOUNT], 1, LY_AMOUNT_MAX, &rq.rq_amount)) != 0)
        return rc;
    if (strcmp(rq.rq_ref_txn, rq.rq_txn) == 0)
        return s_usage(x, "the reversal needs its own transaction id, not '%s'", rq.rq_txn);
    return s_call(x, &rq, s_show_mutation);
}

static int s_cmd_adjust(s_ctx *x)
{
    ly_req rq;
    const char *op = x->opt[O_OPERATOR], *from = "--operator";
    int rc;
    ly_req_init(&rq, LY_MSG_ADJUST);
    if ((rc = s_customer_arg(x, &rq)) != 0 ||
        (rc = s_int(x, "points", x->pos[1], -LY_AMOUNT_MAX, LY_AMOUNT_MAX, &rq.rq_amount)) != 0)
        return rc;
    if (rq.rq_amount == 0)
        return s_usage(x, "points must not be 0");
    if ((rc = s_text(x, "reason", x->opt[O_REASON], LY_TEXT_MAX, rq.rq_reason,
                     sizeof rq.rq_reason)) != 0 ||
        (rc = s_txn_arg(x, &rq)) != 0)
        return rc;
    if (!rq.rq_reason[0])
        return s_usage(x, "the reason must not be empty");
    if (!op) {
        const char *env;
        if ((env = getenv("LOYAL_OPERATOR")) && *env) {
            op = env;
            from = "$LOYAL_OPERATOR";
        } else if ((env = getenv("USER")) && *env) {
            op = env;
            from = "$USER";
        } else {
            op = "loyalctl";
            from = "the default";
        }
    }
    if (!ly_id_valid(op) || ly_strlcpy(rq.rq_operator, op, sizeof rq.rq_operator) != 0)
        return s_usage(x,
                       "invalid operator '%s' (from %s; 1 to %d characters of A-Z a-z 0-9 . _ "
                       ": @ # / + -)",
                       op, from, LY_ID_MAX);
    return s_call(x, &rq, s_show_mutation);
}

static int s_cmd_customer(s_ctx *x)
{
    ly_req rq;
    int64_t n = 0;
    int rc;
    ly_req_init(&rq, LY_MSG_CUSTOMER);
    if ((rc = s_customer_arg(x, &rq)) != 0)
        return rc;
    if (x->opt[O_HISTORY] && (rc = s_int(x, "history", x->opt[O_HISTORY], 1, LY_HIST_MAX, &n)) != 0)
        return rc;
    rq.rq_limit = (uint32_t)n;
    return s_call(x, &rq, s_show_customer);
}

static int s_cmd_set_profile(s_ctx *x)
{
    ly_req rq;
    int rc;
    ly_req_init(&rq, LY_MSG_SET_PROFILE);
    if ((rc = s_customer_arg(x, &rq)) != 0 || (rc = s_txn_arg(x, &rq)) != 0 ||
        (rc = s_profile(x, &rq)) != 0)
        return rc;
    if (rq.rq_fields == 0)
        return s_usage(x, "nothing to change: give at least one of --name, --birthday, --email, "
                          "--phone, --prefs");
    return s_call(x, &rq, s_show_mutation);
}

static int s_cmd_status(s_ctx *x)
{
    ly_req rq;
    ly_req_init(&rq, LY_MSG_STATUS);
    return s_call(x, &rq, s_show_status);
}

static int s_cmd_events(s_ctx *x)
{
    ly_req rq;
    int64_t origin = 0, since = 0, limit = LY_EVENTS_MAX;
    int rc = 0;
    ly_req_init(&rq, LY_MSG_EVENTS);
    if ((x->opt[O_ORIGIN] && (rc = s_int(x, "origin", x->opt[O_ORIGIN], 1, UINT16_MAX, &origin))) ||
        (x->opt[O_SINCE] && (rc = s_int(x, "since", x->opt[O_SINCE], 0, INT64_MAX, &since))) ||
        (x->opt[O_LIMIT] && (rc = s_int(x, "limit", x->opt[O_LIMIT], 1, LY_EVENTS_MAX, &limit))))
        return rc;
    rq.rq_origin = (uint16_t)origin;
    rq.rq_since = (uint64_t)since;
    rq.rq_limit = (uint32_t)limit;
    return s_call(x, &rq, s_show_events);
}

#define S_PROFILE_HELP                                                                             \
    "  --name NAME              the customer's name (up to 100 bytes of UTF-8)\n"                  \
    "  --birthday YYYY-MM-DD    date of birth\n"                                                   \
    "  --email EMAIL            e-mail address (up to 128 bytes)\n"                                \
    "  --phone PHONE            phone number (up to 32 bytes)\n"                                   \
    "  --prefs TEXT             preferences (up to 200 bytes)\n"                                   \
    "                           (an empty value, as in --email '', clears a field)\n"

static const s_cmd s_cmds[] = {
    {.name = "enroll",
     .run = s_cmd_enroll,
     .npos = 1,
     .pos = {"CUSTOMER"},
     .opts = S_O_PROFILE | S_O(O_TXN),
     .synopsis =
         "CUSTOMER [--name N] [--birthday YYYY-MM-DD] [--email E] [--phone P] [--prefs TEXT] "
         "[--txn ID]",
     .summary = "enroll a customer",
     .help = "Enroll CUSTOMER, with any profile fields given. The transaction id defaults to\n"
             "'enroll:CUSTOMER', so running the same enroll again is safe and changes nothing.\n\n"
             "options:\n" S_PROFILE_HELP
             "  --txn ID                 transaction id (default enroll:CUSTOMER)\n"},
    {.name = "earn",
     .run = s_cmd_earn,
     .npos = 2,
     .pos = {"CUSTOMER", "AMOUNT_MINOR"},
     .opts = S_O(O_TXN) | S_O(O_CATEGORY),
     .required = S_O(O_TXN),
     .synopsis = "CUSTOMER AMOUNT_MINOR --txn ID [--category C]",
     .summary = "award points for a purchase",
     .help = "Award CUSTOMER the points for a purchase of AMOUNT_MINOR minor currency units\n"
             "(1299 for 12.99). The node computes the points from its program and the\n"
             "customer's tier. Retrying with the same --txn returns the original result.\n\n"
             "options:\n"
             "  --txn ID                 the sale's transaction id (required)\n"
             "  --category C             purchase category, for category multipliers\n"},
    {.name = "redeem",
     .run = s_cmd_redeem,
     .npos = 2,
     .pos = {"CUSTOMER", "POINTS"},
     .opts = S_O(O_TXN),
     .required = S_O(O_TXN),
     .synopsis = "CUSTOMER POINTS --txn ID",
     .summary = "redeem points",
     .help = "Redeem POINTS from CUSTOMER's balance. Refused (exit 1, insufficient_points)\n"
             "when the customer has fewer points redeemable here.\n\n"
             "options:\n"
             "  --txn ID                 transaction id (required)\n"},
    {.name = "reverse",
     .run = s_cmd_reverse,
     .npos = 1,
     .pos = {"ORIGINAL_TXN"},
     .opts = S_O(O_TXN) | S_O(O_AMOUNT),
     .required = S_O(O_TXN),
     .synopsis = "ORIGINAL_TXN --txn ID [--amount AMOUNT]",
     .summary = "refund all or part of an earn or a redemption",
     .help = "Reverse the earn or redemption ORIGINAL_TXN: a refund takes back the points of\n"
             "an earn (possibly leaving a debt if they were spent), a reversed redemption\n"
             "gives the points back.\n\n"
             "options:\n"
             "  --txn ID                 the reversal's own transaction id (required)\n"
             "  --amount AMOUNT          part to reverse: minor units for an earn, points for a\n"
             "                           redemption (default: all that is left)\n"},
    {.name = "adjust",
     .run = s_cmd_adjust,
     .npos = 2,
     .pos = {"CUSTOMER", "POINTS"},
     .opts = S_O(O_TXN) | S_O(O_REASON) | S_O(O_OPERATOR),
     .required = S_O(O_TXN) | S_O(O_REASON),
     .synopsis = "CUSTOMER POINTS --reason TEXT --txn ID [--operator NAME]",
     .summary = "add or remove points by hand, with a reason",
     .help =
         "Add POINTS to CUSTOMER's balance, or remove them when negative (e.g. -50), as a\n"
         "goodwill gesture or a correction.\n\n"
         "options:\n"
         "  --reason TEXT            why (required, up to 200 bytes)\n"
         "  --txn ID                 transaction id (required)\n"
         "  --operator NAME          who (default $LOYAL_OPERATOR, else $USER, else loyalctl)\n"},
    {.name = "customer",
     .run = s_cmd_customer,
     .npos = 1,
     .pos = {"CUSTOMER"},
     .opts = S_O(O_HISTORY),
     .synopsis = "CUSTOMER [--history N]",
     .summary = "show a customer's balance, tier, profile and history",
     .help = "Show CUSTOMER's balance, lifetime points, debt, tier and progress to the next\n"
             "tier, profile, and recent history, newest first.\n\n"
             "options:\n"
             "  --history N              history entries, 1 to 50 (default 10)\n"},
    {.name = "set-profile",
     .run = s_cmd_set_profile,
     .npos = 1,
     .pos = {"CUSTOMER"},
     .opts = S_O_PROFILE | S_O(O_TXN),
     .required = S_O(O_TXN),
     .synopsis =
         "CUSTOMER --txn ID [--name N] [--birthday D] [--email E] [--phone P] [--prefs TEXT]",
     .summary = "change a customer's profile",
     .help = "Set the given profile fields of CUSTOMER; the others are left as they are.\n\n"
             "options:\n"
             "  --txn ID                 transaction id (required)\n" S_PROFILE_HELP},
    {.name = "status",
     .run = s_cmd_status,
     .npos = 0,
     .pos = {NULL},
     .opts = 0,
     .synopsis = "",
     .summary = "show the node's state",
     .help = "Show the node's id, name, incarnation, program version, event and customer\n"
             "counts, version vector (origin:seq), state digest, clock, uptime and store use.\n"},
    {.name = "events",
     .run = s_cmd_events,
     .npos = 0,
     .pos = {NULL},
     .opts = S_O(O_ORIGIN) | S_O(O_SINCE) | S_O(O_LIMIT),
     .synopsis = "[--origin ID] [--since SEQ] [--limit N]",
     .summary = "list the node's events",
     .help = "List the events the node holds, one per line, by origin and sequence number.\n\n"
             "options:\n"
             "  --origin ID              only events created by node ID\n"
             "  --since SEQ              only events with a sequence number above SEQ\n"
             "  --limit N                at most N events, 1 to 100 (default 100)\n"},
};
#define S_NCMDS (sizeof s_cmds / sizeof s_cmds[0])

static void s_global_help(void)
{
    fputs(s_global_synopsis, stdout);
    fputs("\nStaff and operator tool for a Loyal node.\n\ncommands:\n", stdout);
    for (size_t i = 0; i < S_NCMDS; i++)
        printf("  %-12s %s\n", s_cmds[i].name, s_cmds[i].summary);
    fputs("\nglobal options (before or after the command):\n"
          "  --node ENDPOINT     the node (default $LOYAL_NODE, else " S_DEFAULT_NODE ")\n"
          "  --timeout SECONDS   how long to wait for the answer (default 5; decimals allowed)\n"
          "  --json              print exactly one JSON object on stdout\n"
          "  -h, --help          show this help; 'loyalctl COMMAND --help' shows a command's\n"
          "  --version           print the version\n\n"
          "Ids (customers, transactions, operators) are 1 to 64 characters of\n"
          "A-Z a-z 0-9 . _ : @ # / + -. Retrying a command with the same --txn is safe.\n\n",
          stdout);
    fputs(s_exit_text, stdout);
}

static void s_cmd_help(const s_cmd *cmd)
{
    s_print_usage(stdout, cmd);
    printf("\n%s\nglobal options: --node ENDPOINT, --timeout SECONDS, --json, -h/--help "
           "(see 'loyalctl --help')\n\n%s",
           cmd->help, s_exit_text);
}

/* ---- the command line ---- */

static const s_cmd *s_find_cmd(const char *name)
{
    for (size_t i = 0; i < S_NCMDS; i++)
        if (strcmp(s_cmds[i].name, name) == 0)
            return &s_cmds[i];
    return NULL;
}

/* Index of command option `name` (`len` bytes, after "--"), or -1. */
static int s_find_opt(const char *name, size_t len)
{
    for (int i = 0; i < O_COUNT; i++)
        if (strlen(s_opts[i].name) == len && strncmp(s_opts[i].name, name, len) == 0)
            return i;
    return -1;
}

/* Options start with "--", or are "-" and a letter ("-h"); "-50" and "-" are arguments. */
static int s_is_option(const char *a)
{
    return a[0] == '-' && (a[1] == '-' || isalpha((unsigned char)a[1]));
}

static int s_parse_timeout(const char *s, double *out)
{
    char *end;
    if (!isdigit((unsigned char)s[0]) && s[0] != '.')
        return -1; /* no sign, space, hex, inf or nan */
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v) || v < S_TIMEOUT_MIN_S || v > S_TIMEOUT_MAX_S)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    s_ctx x = {.timeout_s = S_DEFAULT_TIMEOUT_S};
    int help = 0, version = 0, rest = 0, i;
    char err[256] = "";

    for (i = 1; i < argc && !err[0]; i++) {
        const char *a = argv[i];
        if (rest || !s_is_option(a)) {
            if (!x.cmd) {
                if (!(x.cmd = s_find_cmd(a)))
                    snprintf(err, sizeof err, "unknown command '%s'", a);
            } else if (x.npos < S_POS_MAX)
                x.pos[x.npos++] = a;
            else
                snprintf(err, sizeof err, "unexpected argument '%s'", a);
            continue;
        }
        if (strcmp(a, "--") == 0) {
            rest = 1;
            continue;
        }
        const char *eq = strchr(a, '='), *val = eq ? eq + 1 : NULL;
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        int o = a[1] == '-' ? s_find_opt(a + 2, len - 2) : -1;
        const char **dst = NULL;
#define S_IS(s) (len == strlen(s) && strncmp(a, s, len) == 0)
        if (S_IS("--help") || S_IS("-h") || S_IS("--version") || S_IS("--json")) {
            if (val)
                snprintf(err, sizeof err, "option '%.*s' takes no value", (int)len, a);
            else if (S_IS("--version"))
                version = 1;
            else if (S_IS("--json"))
                x.json = 1;
            else
                help = 1;
            continue;
        }
        if (S_IS("--node"))
            dst = &x.node;
        else if (S_IS("--timeout"))
            dst = &x.timeout_arg;
        else if (o >= 0 && x.cmd && (x.cmd->opts & S_O(o)))
            dst = &x.opt[o];
        else if (o >= 0 && !x.cmd)
            snprintf(err, sizeof err, "option '%.*s' must come after the command", (int)len, a);
        else if (x.cmd)
            snprintf(err, sizeof err, "unknown option '%.*s' for '%s'", (int)len, a, x.cmd->name);
        else
            snprintf(err, sizeof err, "unknown option '%.*s'", (int)len, a);
#undef S_IS
        if (!dst)
            continue;
        if (!val && i + 1 >= argc)
            snprintf(err, sizeof err, "option '%.*s' needs a value", (int)len, a);
        else if (*dst)
            snprintf(err, sizeof err, "option '%.*s' given twice", (int)len, a);
        else
            *dst = val ? val : argv[++i];
    }
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) { /* after an error */
        if (strcmp(argv[i], "--json") == 0)
            x.json = 1;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            help = 1;
    }

    if (help) {
        if (x.cmd)
            s_cmd_help(x.cmd);
        else
            s_global_help();
        return S_EXIT_OK;
    }
    if (version) {
        if (x.json) {
            ly_json j;
            ly_json_init(&j, stdout);
            ly_json_object(&j);
            ly_json_kstr(&j, "version", LY_VERSION);
            ly_json_end(&j);
            ly_json_finish(&j);
        } else {
            printf("loyalctl %s\n", LY_VERSION);
        }
        return S_EXIT_OK;
    }
    if (err[0])
        return s_usage(&x, "%s", err);
    if (!x.cmd)
        return s_usage(&x, "no command given");
    if (x.npos < x.cmd->npos)
        return s_usage(&x, "missing %s", x.cmd->pos[x.npos]);
    if (x.npos > x.cmd->npos)
        return s_usage(&x, "unexpected argument '%s'", x.pos[x.cmd->npos]);
    for (int o = 0; o < O_COUNT; o++)
        if ((x.cmd->required & S_O(o)) && !x.opt[o])
            return s_usage(&x, "missing --%s %s", s_opts[o].name, s_opts[o].arg);
    if (x.timeout_arg && s_parse_timeout(x.timeout_arg, &x.timeout_s) != 0)
        return s_usage(&x, "invalid timeout '%s' (seconds, %g to %g)", x.timeout_arg,
                       S_TIMEOUT_MIN_S, S_TIMEOUT_MAX_S);
    const char *env = getenv("LOYAL_NODE");
    if (x.node) {
        x.node_from = "--node";
    } else if (env && *env) {
        x.node = env;
        x.node_from = "$LOYAL_NODE";
    } else {
        x.node = S_DEFAULT_NODE;
        x.node_from = "the default";
    }
    if (!ly_endpoint_valid(x.node) || strchr(x.node, '*'))
        return s_usage(&x, "invalid endpoint '%s' (from %s; tcp://HOST:PORT or ipc://PATH)", x.node,
                       x.node_from);

    int rc = x.cmd->run(&x);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "loyalctl: cannot write the output\n");
        return rc == S_EXIT_OK ? S_EXIT_FAILED : rc;
    }
    return rc;
}
