/* main.c -- loyalctl's entry point: the global option parser, --help and
 * --version, and the dispatch through the command table (cmds.c) to a
 * command's run function once what it needs (ctl_cmd.needs) is in place.
 * Arguments are checked before anything is sent. Primary output goes to stdout
 * (human text, or exactly one JSON object with --json); errors go to stderr.
 * Exit status: 0 done, 1 refused or failed, 2 usage error, 3 no answer. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/keys.h"
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
    [CTL_O_VERSION] = {"version", "N"},
    [CTL_O_UNTIL] = {"until", "YYYY-MM-DD"},
    [CTL_O_DIR] = {"dir", "DIR"},
};

static const char s_exit_text[] =
    "exit status:\n"
    "  0  done\n"
    "  1  the node refused the operation or it failed (insufficient points, conflict,\n"
    "     unknown customer, ...)\n"
    "  2  usage error; nothing was sent\n"
    "  3  the node was unreachable or did not answer in time\n";

static void s_global_help(void)
{
    ctl_print_usage(stdout, NULL);
    fputs("\nStaff and operator tool for a Loyal node.\n\ncommands:\n", stdout);
    for (size_t i = 0; i < ctl_ncmds; i++)
        printf("  %-16s %s\n", ctl_cmds[i].name, ctl_cmds[i].summary);
    fputs("\nglobal options (before or after the command):\n"
          "  --node ENDPOINT     the node (default $LOYAL_NODE, else " S_DEFAULT_NODE ")\n"
          "  --timeout SECONDS   how long to wait for the answer (default 5; decimals allowed)\n"
          "  --key FILE          this operator's or till's secret key file, NAME.key from\n"
          "                      'loyalctl keygen' (default $LOYAL_KEY): talk CurveZMQ\n"
          "  --node-key FILE     the node's public key file, its NAME.pub (or on the node's\n"
          "                      own machine its NAME.key); default: with --config the\n"
          "                      config's [node] key, else $LOYAL_NODE_KEY\n"
          "  --json              print exactly one JSON object on stdout\n"
          "  -h, --help          show this help; 'loyalctl COMMAND --help' shows a command's\n"
          "  --version           print the version\n\n"
          "Ids (customers, transactions, operators) are 1 to 64 characters of\n"
          "A-Z a-z 0-9 . _ : @ # / + -; transaction ids may not start with 'join:'.\n"
          "Retrying a command with the same --txn is safe, at this node or any other:\n"
          "the transaction counts once in the whole chain.\n\n"
          "A node with a key ([node] key in its config) answers only over CurveZMQ, and\n"
          "only keys its config lists, each with a role (pos, operator, auditor) that\n"
          "decides what it may do: give --key and --node-key together, or neither (a\n"
          "node without keys serves only its own machine). An unknown key, or a wrong\n"
          "node key, gets no answer (exit 3); a request the key's role does not allow is\n"
          "refused (exit 1, forbidden).\n\n",
          stdout);
    fputs(s_exit_text, stdout);
}

static void s_cmd_help(const ctl_cmd *cmd)
{
    ctl_print_usage(stdout, cmd);
    printf("\n%s\nglobal options: --node ENDPOINT, --timeout SECONDS, --key FILE, --node-key FILE, "
           "--json,\n-h/--help (see 'loyalctl --help')\n\n%s",
           cmd->help, cmd->exit_text ? cmd->exit_text : s_exit_text);
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

/* CTL_NEEDS_NODE: the node from --node, else $LOYAL_NODE, else the default,
 * into x->node. Returns 0, or the usage error's exit status. */
static int s_need_node(ctl_ctx *x)
{
    const char *env = getenv("LOYAL_NODE");
    if (x->node) {
        x->node_from = "--node";
    } else if (env && *env) {
        x->node = env;
        x->node_from = "$LOYAL_NODE";
    } else {
        x->node = S_DEFAULT_NODE;
        x->node_from = "the default";
    }
    if (!ly_endpoint_valid(x->node) || strchr(x->node, '*'))
        return ctl_usage(x, "invalid endpoint '%s' (from %s; tcp://HOST:PORT or ipc://PATH)",
                         x->node, x->node_from);
    return 0;
}

/* CTL_NEEDS_CONFIG with --config FILE (after s_need_node): load the file into
 * x->config and make its [node] listen endpoint the node to ask. Returns 0, or
 * the usage error's exit status (nothing was sent). */
static int s_need_config(ctl_ctx *x)
{
    static ly_config cf; /* large: not on the stack */
    char err[512];
    if (strcmp(x->node_from, "--node") == 0)
        return ctl_usage(x, "give --node or --config, not both");
    if (ly_config_load(x->opt[CTL_O_CONFIG], &cf, err, sizeof err) != LY_OK)
        return ctl_usage(x, "%s", err);
    /* loyalctl needs the node's public key only; the loader read its secret. */
    explicit_bzero(cf.cf_key.kp_secret, sizeof cf.cf_key.kp_secret);
    if (ctl_connect_form(cf.cf_listen, NULL, x->config_node, sizeof x->config_node) != 0)
        return ctl_usage(x, "cannot connect to the listen endpoint '%s' of %s", cf.cf_listen,
                         x->opt[CTL_O_CONFIG]);
    x->config = &cf;
    x->node = x->config_node;
    x->node_from = "--config";
    return 0;
}

/* CTL_NEEDS_NODE, after s_need_config: this operator's key pair from --key
 * or $LOYAL_KEY, and the node's public key from --node-key, else with
 * --config the config's [node] key (the config then decides: without a key
 * there the environment's keys are not used), else $LOYAL_NODE_KEY. Both or
 * neither; with both x->curve is 1. Returns 0, or the usage error's exit
 * status (nothing was sent; no secret is left in x). */
static int s_need_keys(ctl_ctx *x)
{
    const char *key = x->key_arg, *key_from = "--key";
    const char *nk = x->node_key_arg, *nk_from = "--node-key";
    const ly_config *cf = x->config;
    const char *env;
    char why[LY_PATH_MAX + 256];

    if (cf && !nk && !key && !cf->cf_curve)
        return 0; /* a node without keys: $LOYAL_KEY is for others */
    if (!key && (env = getenv("LOYAL_KEY")) && *env) {
        key = env;
        key_from = "$LOYAL_KEY";
    }
    if (!cf && !nk && (env = getenv("LOYAL_NODE_KEY")) && *env) {
        nk = env;
        nk_from = "$LOYAL_NODE_KEY";
    }
    int have_nk = nk || (cf && cf->cf_curve);
    if (!key && !have_nk)
        return 0;
    if (!key)
        return ctl_usage(x,
                         "the node's public key is given (%s) but not this operator's key: give "
                         "--key FILE (or set $LOYAL_KEY), the secret key the node lists for you",
                         cf && !nk ? "by the [node] key of --config" : nk_from);
    if (!have_nk && cf)
        return ctl_usage(x,
                         "%s is given but %s has no [node] key, so the node uses no keys: give "
                         "--node-key FILE if it does, or drop %s",
                         key_from, x->opt[CTL_O_CONFIG], key_from);
    if (!have_nk)
        return ctl_usage(x,
                         "%s is given but not the node's public key: give --node-key FILE (the "
                         "node's NAME.pub) or set $LOYAL_NODE_KEY",
                         key_from);
    if (nk) {
        if (ly_key_read_any_public(nk, x->node_public, why, sizeof why) != LY_OK)
            return ctl_usage(x, "bad node key file (from %s): %s", nk_from, why);
        snprintf(x->node_key_from, sizeof x->node_key_from, "the node key %s (%s)", nk, nk_from);
    } else {
        /* cf_key.kp_public is derived from the node's own secret: it cannot
         * disagree with the key the node serves with. */
        ly_strlcpy(x->node_public, cf->cf_key.kp_public, sizeof x->node_public);
        snprintf(x->node_key_from, sizeof x->node_key_from, "the [node] key %s of %s",
                 cf->cf_key_file, x->opt[CTL_O_CONFIG]);
    }
    if (ly_key_read_secret(key, &x->key, why, sizeof why) != LY_OK) {
        explicit_bzero(&x->key, sizeof x->key);
        return ctl_usage(x, "bad key file (from %s): %s", key_from, why);
    }
    x->key_file = key;
    x->curve = 1;
    return 0;
}

int main(int argc, char **argv)
{
    ctl_ctx x = {.timeout_s = S_DEFAULT_TIMEOUT_S};
    int help = 0, version = 0, rest = 0, i;
    const char *family = NULL; /* "program": the next word names the command */
    char err[256] = "";

    for (i = 1; i < argc && !err[0]; i++) {
        const char *a = argv[i];
        if (rest || !s_is_option(a)) {
            if (!x.cmd && family) {
                char full[64];
                snprintf(full, sizeof full, "%s %s", family, a);
                if (!(x.cmd = ctl_find_cmd(full)))
                    snprintf(err, sizeof err, "unknown command '%s' (see 'loyalctl --help')", full);
                family = NULL;
            } else if (!x.cmd) {
                if (ctl_is_family(a))
                    family = a;
                else if (!(x.cmd = ctl_find_cmd(a)))
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
        int version_opt = x.cmd && (x.cmd->opts & CTL_O(CTL_O_VERSION)) && S_IS("--version");
        if (!version_opt && (S_IS("--help") || S_IS("-h") || S_IS("--version") || S_IS("--json"))) {
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
        else if (S_IS("--key"))
            dst = &x.key_arg;
        else if (S_IS("--node-key"))
            dst = &x.node_key_arg;
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
    if (!x.cmd && family)
        return ctl_usage(&x, "'%s' needs a command after it: %s check, apply, show or history",
                         family, family);
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
    int rc;
    if ((x.cmd->needs & CTL_NEEDS_NODE) && (rc = s_need_node(&x)) != 0)
        return rc;
    if ((x.cmd->needs & CTL_NEEDS_CONFIG) && x.opt[CTL_O_CONFIG] && (rc = s_need_config(&x)) != 0)
        return rc;
    if ((x.cmd->needs & CTL_NEEDS_NODE) && (rc = s_need_keys(&x)) != 0)
        return rc;

    rc = x.cmd->run(&x);
    explicit_bzero(&x.key, sizeof x.key);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "loyalctl: cannot write the output\n");
        return rc == CTL_EXIT_OK ? CTL_EXIT_FAILED : rc;
    }
    return rc;
}
