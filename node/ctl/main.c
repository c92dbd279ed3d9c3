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
#include "node/ctl/ctl.h"
#include "proto/client.h"

#define S_DEFAULT_NODE      "tcp://127.0.0.1:7101"
#define S_DEFAULT_TIMEOUT_S 5.0
#define S_TIMEOUT_MIN_S     0.001
#define S_TIMEOUT_MAX_S     3600.0

static const struct {
    const char *name; /* without the leading "--" */
    const char *arg;  /* the value's placeholder in messages; NULL: a flag without value */
} s_opts[CTL_O_COUNT] = {
    [CTL_O_TXN] = {"txn", "ID"},
    [CTL_O_NAME] = {"name", "NAME"},
    [CTL_O_BIRTHDAY] = {"birthday", "YYYY-MM-DD"},
    [CTL_O_EMAIL] = {"email", "EMAIL"},
    [CTL_O_PHONE] = {"phone", "PHONE"},
    [CTL_O_PREFS] = {"prefs", "TEXT"},
    [CTL_O_CATEGORY] = {"category", "C"},
    [CTL_O_AMOUNT] = {"amount", "AMOUNT"},
    [CTL_O_REASON] = {"reason", "TEXT"},
    [CTL_O_OPERATOR] = {"operator", "NAME"},
    [CTL_O_HISTORY] = {"history", "N"},
    [CTL_O_ORIGIN] = {"origin", "ID"},
    [CTL_O_SINCE] = {"since", "SEQ"},
    [CTL_O_LIMIT] = {"limit", "N"},
    [CTL_O_CONFIG] = {"config", "FILE"},
    [CTL_O_AFTER] = {"after", "CUSTOMER"},
    [CTL_O_ALL] = {"all", NULL},
    [CTL_O_PREFETCH] = {"prefetch", NULL},
};

static const char s_exit_text[] =
    "exit status:\n"
    "  0  done\n"
    "  1  the node refused the operation or it failed (insufficient points, conflict,\n"
    "     unknown customer, ...)\n"
    "  2  usage error; nothing was sent\n"
    "  3  the node was unreachable or did not answer in time\n";

#define S_PROFILE_HELP                                                                             \
    "  --name NAME              the customer's name (up to 100 bytes of UTF-8)\n"                  \
    "  --birthday YYYY-MM-DD    date of birth\n"                                                   \
    "  --email EMAIL            e-mail address (up to 128 bytes)\n"                                \
    "  --phone PHONE            phone number (up to 32 bytes)\n"                                   \
    "  --prefs TEXT             preferences (up to 200 bytes)\n"                                   \
    "                           (an empty value, as in --email '', clears a field)\n"

static const ctl_cmd s_cmds[] = {
    {.name = "enroll",
     .run = ctl_run_enroll,
     .npos = 1,
     .pos = {"CUSTOMER"},
     .opts = CTL_O_PROFILE | CTL_O(CTL_O_TXN),
     .synopsis =
         "CUSTOMER [--name N] [--birthday YYYY-MM-DD] [--email E] [--phone P] [--prefs TEXT] "
         "[--txn ID]",
     .summary = "enroll a customer",
     .help = "Enroll CUSTOMER, with any profile fields given. The transaction id defaults to\n"
             "'enroll:CUSTOMER', so running the same enroll again is safe and changes nothing.\n\n"
             "options:\n" S_PROFILE_HELP
             "  --txn ID                 transaction id (default enroll:CUSTOMER)\n"},
    {.name = "earn",
     .run = ctl_run_earn,
     .npos = 2,
     .pos = {"CUSTOMER", "AMOUNT_MINOR"},
     .opts = CTL_O(CTL_O_TXN) | CTL_O(CTL_O_CATEGORY),
     .required = CTL_O(CTL_O_TXN),
     .synopsis = "CUSTOMER AMOUNT_MINOR --txn ID [--category C]",
     .summary = "award points for a purchase",
     .help = "Award CUSTOMER the points for a purchase of AMOUNT_MINOR minor currency units\n"
             "(1299 for 12.99). The node computes the points from its program and the\n"
             "customer's tier. Retrying with the same --txn returns the original result.\n\n"
             "options:\n"
             "  --txn ID                 the sale's transaction id (required)\n"
             "  --category C             purchase category, for category multipliers\n"},
    {.name = "redeem",
     .run = ctl_run_redeem,
     .npos = 2,
     .pos = {"CUSTOMER", "POINTS"},
     .opts = CTL_O(CTL_O_TXN),
     .required = CTL_O(CTL_O_TXN),
     .synopsis = "CUSTOMER POINTS --txn ID",
     .summary = "redeem points",
     .help = "Redeem POINTS from CUSTOMER's balance. Refused (exit 1, insufficient_points)\n"
             "when the customer's balance is smaller.\n\n"
             "A branch redeems only the rights it holds: the customer's points are split\n"
             "among the branches (points earned at a branch are its rights). When this\n"
             "branch holds too few, it asks the other branches to transfer rights and waits\n"
             "a bounded time; if they do not arrive in time the redemption is refused (exit\n"
             "1, insufficient_local_rights) with the points redeemable at this branch now\n"
             "(\"available\" with --json): redeem at most that many, or try again once the\n"
             "other branches can be reached.\n\n"
             "options:\n"
             "  --txn ID                 transaction id (required)\n"},
    {.name = "reverse",
     .run = ctl_run_reverse,
     .npos = 1,
     .pos = {"ORIGINAL_TXN"},
     .opts = CTL_O(CTL_O_TXN) | CTL_O(CTL_O_AMOUNT),
     .required = CTL_O(CTL_O_TXN),
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
     .run = ctl_run_adjust,
     .npos = 2,
     .pos = {"CUSTOMER", "POINTS"},
     .opts = CTL_O(CTL_O_TXN) | CTL_O(CTL_O_REASON) | CTL_O(CTL_O_OPERATOR),
     .required = CTL_O(CTL_O_TXN) | CTL_O(CTL_O_REASON),
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
     .run = ctl_run_customer,
     .npos = 1,
     .pos = {"CUSTOMER"},
     .opts = CTL_O(CTL_O_HISTORY) | CTL_O(CTL_O_PREFETCH),
     .synopsis = "CUSTOMER [--history N] [--prefetch]",
     .summary = "show a customer's balance, tier, profile and history",
     .help = "Show CUSTOMER's balance, lifetime points, debt, tier and progress to the next\n"
             "tier, what is redeemable at this branch now and the rights each branch holds\n"
             "(\"redeemable here: 120; rights: north 120, south 30\"; a negative figure is a\n"
             "refund taken back there after the points were spent), profile, and recent\n"
             "history, newest first; a transfer line shows the rights moved between\n"
             "branches (\"transfer 50 ... node 1 (north) \u2192 node 2 (south)\").\n\n"
             "options:\n"
             "  --history N              history entries, 1 to 50 (default 10)\n"
             "  --prefetch               the card was scanned for a purchase: start moving\n"
             "                           the customer's rights to this branch now, so a\n"
             "                           redemption that follows needs no wait (a plain\n"
             "                           lookup changes nothing)\n"},
    {.name = "set-profile",
     .run = ctl_run_set_profile,
     .npos = 1,
     .pos = {"CUSTOMER"},
     .opts = CTL_O_PROFILE | CTL_O(CTL_O_TXN),
     .required = CTL_O(CTL_O_TXN),
     .synopsis =
         "CUSTOMER --txn ID [--name N] [--birthday D] [--email E] [--phone P] [--prefs TEXT]",
     .summary = "change a customer's profile",
     .help = "Set the given profile fields of CUSTOMER; the others are left as they are.\n\n"
             "options:\n"
             "  --txn ID                 transaction id (required)\n" S_PROFILE_HELP},
    {.name = "status",
     .run = ctl_run_status,
     .npos = 0,
     .pos = {NULL},
     .opts = 0,
     .synopsis = "",
     .summary = "show the node's state and its view of the other nodes",
     .help = "Show the node's id, name, client endpoint, incarnation, program version, event\n"
             "and customer counts, version vector (origin:seq), state digest, clock, uptime,\n"
             "store use; the transfers of rights it gave (sent) and received and the\n"
             "requests for rights it sent to peers, since it started, and the redemptions\n"
             "waiting for rights now (pending); then one row per peer, as this node sees\n"
             "it:\n\n"
             "  ID, NAME, ENDPOINT  the peer and its peer endpoint (from this node's config)\n"
             "  STATE               up (session established and heard recently) or down\n"
             "  LAST HEARD          time since its last message, or never\n"
             "  EVENTS              its event count, as it last announced\n"
             "  BEHIND              events this node holds that the peer lacks\n"
             "  MISSING             events the peer holds that this node lacks\n"
             "  LAG                 age of the oldest event the peer lacks (0 ms: none)\n"
             "  DIGEST              its state digest, as it last announced\n"
             "  CONVERGED           yes: same version vector and digest as this node\n"
             "  SENT, RECEIVED      events sent to it, and received from it and applied here\n"
             "  DROPPED             messages to it dropped (queue full or link down); the\n"
             "                      peer repairs such gaps by catch-up\n"},
    {.name = "verify",
     .run = ctl_run_verify,
     .npos = 0,
     .pos = {NULL},
     .opts = CTL_O(CTL_O_CONFIG),
     .synopsis = "[--timeout SECONDS] [--config FILE]",
     .summary = "check that every node of the chain holds the same state",
     .help = "Ask every node of the chain for its status and compare them. The chain is\n"
             "this node (--node, or the [node] listen endpoint of a loyald config file with\n"
             "--config) and every peer in its status, each asked at the client endpoint it\n"
             "announced (a peer that has announced none counts as not answering). Nodes are\n"
             "asked one after the other, each within --timeout (default 5 s).\n\n"
             "One line per node: id, name, client endpoint, whether it answered, its event\n"
             "count and digest, and how many events it lacks of the union of all the nodes'\n"
             "version vectors (for each origin and incarnation, the highest sequence number\n"
             "any node holds, minus its own).\n\n"
             "options:\n"
             "  --config FILE            the loyald config file of the node to start from\n"
             "                           (instead of --node; a wildcard listen host such as\n"
             "                           tcp://*:7101 is asked at 127.0.0.1)\n",
     .exit_text = "exit status:\n"
                  "  0  every node answered, and all hold the same events and the same digest\n"
                  "  1  a node differs or did not answer (or the first node refused, or is not\n"
                  "     the node that --config describes)\n"
                  "  2  usage error (or an unreadable --config file); nothing was sent\n"
                  "  3  the first node was unreachable or did not answer in time\n"},
    {.name = "debts",
     .run = ctl_run_debts,
     .npos = 0,
     .pos = {NULL},
     .opts = CTL_O(CTL_O_LIMIT) | CTL_O(CTL_O_AFTER) | CTL_O(CTL_O_ALL),
     .synopsis = "[--limit N] [--after CUSTOMER] [--all]",
     .summary = "list the customers who owe points",
     .help = "List the customers with a debt: points refunded after they were already spent.\n"
             "Their next earnings repay the debt first. One line per customer, by customer\n"
             "id: the debt, lifetime points and the time of the last activity; then how many\n"
             "customers were listed and what they owe together.\n\n"
             "options:\n"
             "  --limit N                customers per request, 1 to 100 (default 100);\n"
             "                           without --all, the most listed\n"
             "  --after CUSTOMER         start after this customer id (to continue a listing)\n"
             "  --all                    ask page after page until every debt is listed\n"},
    {.name = "events",
     .run = ctl_run_events,
     .npos = 0,
     .pos = {NULL},
     .opts = CTL_O(CTL_O_ORIGIN) | CTL_O(CTL_O_SINCE) | CTL_O(CTL_O_LIMIT),
     .synopsis = "[--origin ID] [--since SEQ] [--limit N]",
     .summary = "list the node's events",
     .help = "List the events the node holds, one per line, by origin and sequence number:\n"
             "ORIGIN:SEQ TIME TYPE CUSTOMER POINTS, then key=value fields. A transfer of\n"
             "rights shows the points moved and the receiving node (\"transfer C1 50 \u2192\n"
             "node 2\"); it does not change the balance.\n\n"
             "options:\n"
             "  --origin ID              only events created by node ID\n"
             "  --since SEQ              only events with a sequence number above SEQ\n"
             "  --limit N                at most N events, 1 to 100 (default 100)\n"},
};
#define S_NCMDS (sizeof s_cmds / sizeof s_cmds[0])

static void s_global_help(void)
{
    ctl_print_usage(stdout, NULL);
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

static void s_cmd_help(const ctl_cmd *cmd)
{
    ctl_print_usage(stdout, cmd);
    printf("\n%s\nglobal options: --node ENDPOINT, --timeout SECONDS, --json, -h/--help "
           "(see 'loyalctl --help')\n\n%s",
           cmd->help, cmd->exit_text ? cmd->exit_text : s_exit_text);
}

/* ---- the command line ---- */

static const ctl_cmd *s_find_cmd(const char *name)
{
    for (size_t i = 0; i < S_NCMDS; i++)
        if (strcmp(s_cmds[i].name, name) == 0)
            return &s_cmds[i];
    return NULL;
}

/* Index of command option `name` (`len` bytes, after "--"), or -1. */
static int s_find_opt(const char *name, size_t len)
{
    for (int i = 0; i < CTL_O_COUNT; i++)
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
    ctl_ctx x = {.timeout_s = S_DEFAULT_TIMEOUT_S};
    int help = 0, version = 0, rest = 0, i;
    char err[256] = "";

    for (i = 1; i < argc && !err[0]; i++) {
        const char *a = argv[i];
        if (rest || !s_is_option(a)) {
            if (!x.cmd) {
                if (!(x.cmd = s_find_cmd(a)))
                    snprintf(err, sizeof err, "unknown command '%s'", a);
            } else if (x.npos < CTL_POS_MAX)
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
        else if (o >= 0 && x.cmd && (x.cmd->opts & CTL_O(o)))
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
        if (o >= 0 && dst == &x.opt[o] && !s_opts[o].arg) { /* a flag */
            if (val)
                snprintf(err, sizeof err, "option '%.*s' takes no value", (int)len, a);
            else if (*dst)
                snprintf(err, sizeof err, "option '%.*s' given twice", (int)len, a);
            else
                *dst = "";
            continue;
        }
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
        return CTL_EXIT_OK;
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
        return CTL_EXIT_OK;
    }
    if (err[0])
        return ctl_usage(&x, "%s", err);
    if (!x.cmd)
        return ctl_usage(&x, "no command given");
    if (x.npos < x.cmd->npos)
        return ctl_usage(&x, "missing %s", x.cmd->pos[x.npos]);
    if (x.npos > x.cmd->npos)
        return ctl_usage(&x, "unexpected argument '%s'", x.pos[x.cmd->npos]);
    for (int o = 0; o < CTL_O_COUNT; o++)
        if ((x.cmd->required & CTL_O(o)) && !x.opt[o])
            return ctl_usage(&x, "missing --%s %s", s_opts[o].name, s_opts[o].arg);
    if (x.timeout_arg && s_parse_timeout(x.timeout_arg, &x.timeout_s) != 0)
        return ctl_usage(&x, "invalid timeout '%s' (seconds, %g to %g)", x.timeout_arg,
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
        return ctl_usage(&x, "invalid endpoint '%s' (from %s; tcp://HOST:PORT or ipc://PATH)",
                         x.node, x.node_from);

    int rc = x.cmd->run(&x);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "loyalctl: cannot write the output\n");
        return rc == CTL_EXIT_OK ? CTL_EXIT_FAILED : rc;
    }
    return rc;
}
