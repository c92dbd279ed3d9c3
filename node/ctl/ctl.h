/* ctl.h -- what the files of loyalctl share; the header is the manual.
 *
 * loyalctl is a command table over one file per command or family, the way
 * git keeps builtin/:
 *   main.c          the global option parser, --help/--version, dispatch
 *   cmds.c          the command table: arguments, options, needs, help texts
 *   args.c          usage errors and argument checks
 *   call.c          node I/O: ask, call, failures, node names, endpoints
 *   fmt.c           human formatting several commands share, JSON errors
 *   cmd_<name>.c    a command or family: its checks, request and output
 *                   (cmd_conflicts.c: `conflicts`)
 *   json.c          the streaming JSON writer (json.h)
 * Primary output goes to stdout (human text, or exactly one JSON document
 * with --json); errors go to stderr as "loyalctl: MESSAGE". Every command
 * exits with one of the CTL_EXIT_ statuses. */
#ifndef LY_CTL_H
#define LY_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/config.h"
#include "common/keys.h"
#include "node/ctl/json.h"
#include "proto/client.h"

/* ---- exit statuses, options, the context and the table ---- */

enum {
    CTL_EXIT_OK = 0,         /* done */
    CTL_EXIT_FAILED = 1,     /* the node refused the operation, or it failed */
    CTL_EXIT_USAGE = 2,      /* usage error; nothing was sent */
    CTL_EXIT_UNREACHABLE = 3 /* the node was unreachable or did not answer in time */
};

/* Command options (given after the command name). A command accepts a subset,
 * a mask of CTL_O() bits; main.c holds each one's name and value placeholder. */
enum {
    CTL_O_TXN,
    CTL_O_NAME,
    CTL_O_BIRTHDAY,
    CTL_O_EMAIL,
    CTL_O_PHONE,
    CTL_O_PREFS,
    CTL_O_CATEGORY,
    CTL_O_AMOUNT,
    CTL_O_REASON,
    CTL_O_OPERATOR,
    CTL_O_HISTORY,
    CTL_O_ORIGIN,
    CTL_O_SINCE,
    CTL_O_LIMIT,
    CTL_O_CONFIG,
    CTL_O_AFTER,
    CTL_O_ALL,
    CTL_O_PREFETCH,
    CTL_O_VERSION, /* --version N: a command's option; elsewhere the global flag */
    CTL_O_UNTIL,
    CTL_O_DIR,
    CTL_O_COUNT
};
#define CTL_O(o) (1u << (o))
#define CTL_O_PROFILE                                                                              \
    (CTL_O(CTL_O_NAME) | CTL_O(CTL_O_BIRTHDAY) | CTL_O(CTL_O_EMAIL) | CTL_O(CTL_O_PHONE) |         \
     CTL_O(CTL_O_PREFS))

#define CTL_POS_MAX 2 /* positional arguments of a command, at most */

/* What a command needs before it runs (ctl_cmd.needs); main.c provides it or
 * fails with a usage error, so the run function can rely on it. A command
 * that needs nothing (`program check FILE`) runs without a node.
 * The role a command needs will be added here by the security issue. */
enum {
    CTL_NEEDS_NODE = 1u << 0,  /* x->node: from --node, $LOYAL_NODE or the default; checked;
                                * and the keys (x->curve), if any are given */
    CTL_NEEDS_CONFIG = 1u << 1 /* with CTL_NEEDS_NODE: may start from a loyald config; with
                                * --config FILE (not with --node) x->config is that file and
                                * x->node its [node] listen endpoint (a wildcard host is asked
                                * at 127.0.0.1) */
};

typedef struct ctl_ctx ctl_ctx;

/* One command of the table. */
typedef struct ctl_cmd {
    const char *name;
    int (*run)(ctl_ctx *x);       /* checks its arguments, does the work, reports any error
                                   * itself; returns a CTL_EXIT_ status */
    int npos;                     /* positional arguments, exactly */
    const char *pos[CTL_POS_MAX]; /* their names */
    uint32_t opts;                /* accepted options (CTL_O bits) */
    uint32_t required;            /* options that must be given */
    uint32_t needs;               /* CTL_NEEDS_ bits */
    const char *synopsis;         /* arguments after the command name */
    const char *summary;          /* one line for the command list */
    const char *help;             /* the rest of `loyalctl CMD --help` */
    const char *exit_text;        /* its exit statuses, if not the common ones */
} ctl_cmd;

/* The parsed command line. Built by main.c; strings are borrowed from argv
 * or the environment and live as long as the process. */
struct ctl_ctx {
    const ctl_cmd *cmd;           /* NULL until the command name is parsed */
    const char *node;             /* the node to ask */
    const char *node_from;        /* where `node` came from, for messages */
    const char *timeout_arg;      /* --timeout as given, or NULL */
    double timeout_s;             /* seconds to wait for each answer */
    int json;                     /* --json */
    int npos;                     /* positional arguments given */
    const char *pos[CTL_POS_MAX]; /* ... and their values */
    const char *opt[CTL_O_COUNT]; /* NULL: not given; a flag given is "" */
    const ly_config *config;      /* CTL_NEEDS_CONFIG with --config: the loaded file; else NULL */
    char config_node[LY_ENDPOINT_MAX + 1]; /* `node` when it comes from `config` */
    /* CurveZMQ (CTL_NEEDS_NODE). The key file of this operator or till comes
     * from --key, else $LOYAL_KEY; the node's public key from --node-key (a
     * .pub, or the node's .key), else with --config the config's [node] key,
     * else $LOYAL_NODE_KEY. Both or neither: one without the other is a usage
     * error, as is a key file that does not read (common/keys.h). With both,
     * x->curve is 1 and every call goes over CurveZMQ; main.c wipes the
     * secret before it exits. */
    const char *key_arg;                  /* --key as given, or NULL */
    const char *node_key_arg;             /* --node-key as given, or NULL */
    int curve;                            /* 1: `key` and `node_public` are set */
    ly_keypair key;                       /* this operator's key pair */
    const char *key_file;                 /* its file, for messages */
    char node_public[LY_KEY_Z85 + 1];     /* the node's public key (Z85) */
    char node_key_from[LY_PATH_MAX + 64]; /* where it came from, for messages
                                           * ("the node key FILE (--node-key)") */
};

/* ---- the command table (cmds.c) ---- */

extern const ctl_cmd ctl_cmds[];
extern const size_t ctl_ncmds;

/* The command called `name`, or NULL. A family of commands ("program check",
 * "program apply", ...) is named by its words joined by one space:
 * ctl_is_family("program") is 1 and main.c reads the next word with it. */
const ctl_cmd *ctl_find_cmd(const char *name);
int ctl_is_family(const char *word);

/* The run functions, one file per command or family. */
int ctl_run_enroll(ctl_ctx *x);          /* cmd_mutate.c */
int ctl_run_earn(ctl_ctx *x);            /* cmd_mutate.c */
int ctl_run_redeem(ctl_ctx *x);          /* cmd_mutate.c */
int ctl_run_reverse(ctl_ctx *x);         /* cmd_mutate.c */
int ctl_run_adjust(ctl_ctx *x);          /* cmd_mutate.c */
int ctl_run_set_profile(ctl_ctx *x);     /* cmd_mutate.c */
int ctl_run_customer(ctl_ctx *x);        /* cmd_customer.c */
int ctl_run_status(ctl_ctx *x);          /* cmd_status.c */
int ctl_run_events(ctl_ctx *x);          /* cmd_events.c */
int ctl_run_debts(ctl_ctx *x);           /* cmd_debts.c */
int ctl_run_verify(ctl_ctx *x);          /* cmd_verify.c */
int ctl_run_keygen(ctl_ctx *x);          /* cmd_keygen.c */
int ctl_run_conflicts(ctl_ctx *x);       /* cmd_conflicts.c */
int ctl_run_tier(ctl_ctx *x);            /* cmd_mutate.c */
int ctl_run_program_check(ctl_ctx *x);   /* cmd_program.c */
int ctl_run_program_apply(ctl_ctx *x);   /* cmd_program.c */
int ctl_run_program_show(ctl_ctx *x);    /* cmd_program.c */
int ctl_run_program_history(ctl_ctx *x); /* cmd_program.c */

/* The keys of an event object as `events --json` writes them (cmd_events.c),
 * into an object the caller opened. */
void ctl_json_event_fields(ly_json *j, const ly_event *ev);

/* ---- usage errors and argument checks (args.c) ---- */

/* The usage line of `cmd` ("usage: loyalctl [OPTIONS] earn CUSTOMER ..."), or
 * with NULL the global one, to `out`. */
void ctl_print_usage(FILE *out, const ctl_cmd *cmd);

/* A usage error: "loyalctl: MESSAGE", the usage and where to find help on
 * stderr, and with --json the error object (code "invalid_argument") on stdout.
 * Returns CTL_EXIT_USAGE. */
int ctl_usage(const ctl_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The argument checks return 0, or report a usage error and return its exit
 * status. `what` names the argument in the message.
 * ctl_id: an id (ly_id_valid) into `dst` (`cap` bytes with the NUL).
 * ctl_text: UTF-8 text without control characters, at most `max` bytes.
 * ctl_int: a whole number in [min, max] into *out (untouched on error). */
int ctl_id(const ctl_ctx *x, const char *what, const char *s, char *dst, size_t cap);
int ctl_text(const ctl_ctx *x, const char *what, const char *s, size_t max, char *dst, size_t cap);
int ctl_int(const ctl_ctx *x, const char *what, const char *s, int64_t min, int64_t max,
            int64_t *out);

/* Who does it: --operator, else $LOYAL_OPERATOR, else $USER, else "loyalctl",
 * into `dst` (`cap` bytes); a usage error if it is not an id. */
int ctl_operator(const ctl_ctx *x, char *dst, size_t cap);

/* The CUSTOMER argument (x->pos[0]) into rq->rq_customer, as ctl_id. */
int ctl_customer_arg(const ctl_ctx *x, ly_req *rq);

/* ---- talking to nodes (call.c) ---- */

/* Ask `ep` for `rq` and wait up to `timeout_s` seconds; reports nothing.
 * With x->curve the call goes over CurveZMQ with x->key, to a node whose
 * public key is `server_key` (NULL: x->node_public), described by
 * `server_from` for messages (NULL: x->node_key_from); without x->curve both
 * are ignored.
 * Returns CTL_EXIT_OK when `rp` holds the node's answer: a refusal (rp_err !=
 * LY_OK) or a reply of the request's type. Otherwise returns the exit status
 * (CTL_EXIT_UNREACHABLE: no answer, which with keys says the node may not
 * know this key or that the server key may be wrong; CTL_EXIT_USAGE: the
 * client library refused the request, nothing was sent; CTL_EXIT_FAILED: a bad
 * answer), with the error's name in *code (static) and a message in `why`
 * (`cap` bytes). `rp` is always initialised: the caller calls ly_rep_fini. */
int ctl_ask(const ctl_ctx *x, const char *ep, const char *server_key, const char *server_from,
            double timeout_s, ly_req *rq, ly_rep *rp, const char **code, char *why, size_t cap);

/* Ask `ep` (the node x->node_public is the key of, with keys) for `rq`
 * within x->timeout_s. On failure or refusal reports it
 * (stderr, and with --json the error object) and returns its exit status; on
 * CTL_EXIT_OK `rp` holds a successful reply of the request's type. The caller
 * calls ly_rep_fini on `rp` either way. */
int ctl_call_ep(const ctl_ctx *x, const char *ep, ly_req *rq, ly_rep *rp);

/* Shows a successful reply `rp` to `rq` on stdout (human, or JSON with --json). */
typedef void (*ctl_show_fn)(const ctl_ctx *x, const ly_req *rq, const ly_rep *rp);

/* ctl_call_ep at x->node, then `show` on success. Returns the exit status. */
int ctl_call(const ctl_ctx *x, ly_req *rq, ctl_show_fn show);

/* A failure outside the operation itself (no answer, bad reply, out of
 * memory): "loyalctl: MESSAGE" on stderr and with --json the error object
 * with `code`. Returns `rc`. */
int ctl_fail(const ctl_ctx *x, int rc, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Names of the chain's nodes as one node knows them (itself and its peers). */
typedef struct ctl_names {
    uint32_t nm_n;
    struct {
        uint16_t id;
        char name[64];
    } nm_node[1 + LY_STATUS_PEERS_MAX];
} ctl_names;

/* Fill `nm` from x->node's status, asked within min(--timeout, 2 s). Best
 * effort: on any failure `nm` stays empty (nodes are then shown by id) and
 * nothing is reported. `nm` is large: keep it off the stack. */
void ctl_names_load(const ctl_ctx *x, ctl_names *nm);

/* Node `id` for people: with `with_id`, "node 2 (south)", else "south"; "node
 * 2" either way if `nm` (may be NULL) does not know its name, "node ?" for id
 * 0. In one of a few rotating static buffers: valid until the 8th call after. */
const char *ctl_node_label(const ctl_names *nm, uint16_t id, int with_id);

/* `ep` as an endpoint to connect to, into `dst`: a wildcard TCP host (as in a
 * bind address: "*", 0.0.0.0 or [::]) is replaced by the host of `like` (a TCP
 * endpoint that reaches the same machine; may be NULL) or, without one, by
 * 127.0.0.1. Returns 0, or -1 (and `dst` empty) if the result is no endpoint
 * one can connect to. */
int ctl_connect_form(const char *ep, const char *like, char *dst, size_t cap);

/* ---- human formatting (fmt.c) ---- */

/* `v` with thousands separators ("-1,240"; "+12" if `plus` and v > 0).
 * ctl_num: without the plus; ctl_unum: unsigned, capped at INT64_MAX. The
 * result is in one of a few rotating static buffers: valid until the 8th call
 * of these three after this one. */
const char *ctl_num_sign(int64_t v, int plus);
const char *ctl_num(int64_t v);
const char *ctl_unum(uint64_t v);

/* "point" for 1 and -1, else "points". */
const char *ctl_points_word(int64_t v);

/* These write into `buf` (`cap` bytes) and return it.
 * ctl_iso: an HLC timestamp as "2026-11-23T10:00:00.123Z" (24 bytes); "-" for 0.
 * ctl_duration: "2d 3h 4m", "3h 4m 5s", "4m 5s" or "5.123s".
 * ctl_bytes: "512 B", "42.1 KiB", ... up to TiB.
 * ctl_hex64: 16 lowercase hex digits (cap >= 17). */
const char *ctl_iso(uint64_t hlc, char *buf, size_t cap);
const char *ctl_duration(uint64_t ms, char *buf, size_t cap);
const char *ctl_bytes(uint64_t n, char *buf, size_t cap);
const char *ctl_hex64(uint64_t v, char *buf, size_t cap);

/* A details text built part by part into a caller's buffer (truncated at
 * its size): ctl_catf writes `sep` first unless the text is still empty. */
typedef struct ctl_parts {
    char *tx_buf;
    size_t tx_cap, tx_n;
} ctl_parts;
void ctl_parts_init(ctl_parts *t, char *buf, size_t cap);
void ctl_catf(ctl_parts *t, const char *sep, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The parts an event's request and history line share: "CATEGORY; REASON
 * (by OPERATOR)", each only if set. */
void ctl_cat_reason(ctl_parts *t, const char *category, const char *reason, const char *op);

/* Aligned tables: columns as wide as their widest cell (in code points), two
 * spaces apart, text left-aligned and numbers right-aligned. */
#define CTL_COLS_MAX 16
#define CTL_CELL_MAX 512

typedef struct ctl_col {
    const char *head;
    int right; /* 1: right-aligned (numbers) */
} ctl_col;

typedef char ctl_cells[CTL_COLS_MAX][CTL_CELL_MAX];

/* Fills the cells of row `i` (text, truncated to CTL_CELL_MAX - 1 bytes). */
typedef void (*ctl_row_fn)(const void *ctx, size_t i, ctl_cells cells);

/* Print the headings of `cols` and `nrows` rows to `out`. `row` is called
 * twice per row (measure, print) with `ctx`. */
void ctl_table(FILE *out, const ctl_col *cols, int ncols, size_t nrows, const void *ctx,
               ctl_row_fn row);

/* The profile fields: their bit in rq_fields/rp_fields/ev_fields, their name
 * (as in options and JSON) and their offset in ly_profile. */
typedef struct ctl_pf_field {
    uint32_t bit;
    const char *name;
    size_t off;
} ctl_pf_field;
extern const ctl_pf_field ctl_pf[LY_PF_COUNT];

/* Profile field i of `pf` (borrowed from it); a field set and later cleared is "". */
const char *ctl_pf_value(const ly_profile *pf, int i);

/* {"error":{"code","message"[,"available"]}} on stdout, for --json. */
void ctl_json_error(const char *code, const char *message, int with_available, int64_t available);

/* A customer's standing from a reply: the JSON members customer, balance,
 * lifetime_points, debt, tier, qualifying, next_tier, to_next_tier into the
 * open object; or the line "balance B  lifetime L  debt D  tier T (...)". */
void ctl_json_standing(ly_json *j, const ly_rep *rp);
void ctl_print_standing(const ly_rep *rp);

/* Status replies. ctl_npeers: the peer rows it holds (0 if none were decoded).
 * ctl_vv_first: 1 if ns_vv[i] is the first entry of its origin; ctl_vv_newest:
 * the index of the entry of ns_vv[i]'s origin with the highest incarnation.
 * ctl_json_vv: the "vv" object (origin -> seq of its newest incarnation) as
 * the next value. */
uint32_t ctl_npeers(const ly_node_status *ns);
int ctl_vv_first(const ly_node_status *ns, uint32_t i);
uint32_t ctl_vv_newest(const ly_node_status *ns, uint32_t i);
void ctl_json_vv(ly_json *j, const ly_node_status *ns);

#endif
