/* args.c -- loyalctl's usage errors and argument checks (ctl.h). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "node/ctl/ctl.h"

static const char s_global_synopsis[] =
    "usage: loyalctl [--node ENDPOINT] [--timeout SECONDS] [--key FILE --node-key FILE] [--json]\n"
    "                COMMAND [ARGS...]\n";

void ctl_print_usage(FILE *out, const ctl_cmd *cmd)
{
    if (cmd)
        fprintf(out, "usage: loyalctl [OPTIONS] %s%s%s\n", cmd->name, cmd->synopsis[0] ? " " : "",
                cmd->synopsis);
    else
        fputs(s_global_synopsis, out);
}

int ctl_usage(const ctl_ctx *x, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "loyalctl: %s\n", msg);
    ctl_print_usage(stderr, x->cmd);
    fprintf(stderr, "run 'loyalctl %s%s--help' for details\n", x->cmd ? x->cmd->name : "",
            x->cmd ? " " : "");
    if (x->json)
        ctl_json_error(ly_errname(LY_EINVAL), msg, 0, 0);
    return CTL_EXIT_USAGE;
}

int ctl_id(const ctl_ctx *x, const char *what, const char *s, char *dst, size_t cap)
{
    if (!ly_id_valid(s) || ly_strlcpy(dst, s, cap) != 0)
        return ctl_usage(x, "invalid %s '%s' (1 to %zu characters of A-Z a-z 0-9 . _ : @ # / + -)",
                         what, s, cap - 1);
    return 0;
}

int ctl_text(const ctl_ctx *x, const char *what, const char *s, size_t max, char *dst, size_t cap)
{
    if (!ly_text_valid(s, max) || ly_strlcpy(dst, s, cap) != 0)
        return ctl_usage(x,
                         "invalid %s '%s' (UTF-8 text without control characters, at most %zu "
                         "bytes)",
                         what, s, max);
    return 0;
}

int ctl_int(const ctl_ctx *x, const char *what, const char *s, int64_t min, int64_t max,
            int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || isspace((unsigned char)*s) || *end)
        return ctl_usage(x, "invalid %s '%s' (not a whole number)", what, s);
    if (errno == ERANGE || v < min || v > max)
        return ctl_usage(x, "%s '%s' is out of range (%" PRId64 " to %" PRId64 ")", what, s, min,
                         max);
    *out = v;
    return 0;
}

int ctl_customer_arg(const ctl_ctx *x, ly_req *rq)
{
    return ctl_id(x, "customer id", x->pos[0], rq->rq_customer, sizeof rq->rq_customer);
}

int ctl_operator(const ctl_ctx *x, char *dst, size_t cap)
{
    const char *op = x->opt[CTL_O_OPERATOR], *from = "--operator";
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
    if (!ly_id_valid(op) || ly_strlcpy(dst, op, cap) != 0)
        return ctl_usage(x,
                         "invalid operator '%s' (from %s; 1 to %d characters of A-Z a-z 0-9 . _ "
                         ": @ # / + -)",
                         op, from, LY_ID_MAX);
    return 0;
}
