/* harness.h -- helpers for tests that start real loyald / loyalctl processes.
 *
 *   lyh_node *n = lyh_node_new(1, "north", NULL);  // temp dir, free ports, config
 *   lyh_node_up(n, 10000);                          // start, wait until it answers
 *   ... ly_client_new(n->nd_listen, ...) ...
 *   int code = lyh_node_stop(n, 10000);             // SIGTERM, exit code
 *   lyh_node_destroy(&n);                           // kill if running, remove the dir
 *
 * Every process the harness starts is recorded; lyh_kill_all() (registered with
 * atexit on the first start) sends SIGKILL to those still running, and each child
 * also asks the kernel for SIGKILL when the thread that started it dies
 * (PR_SET_PDEATHSIG), so a failed or timed-out test leaves no daemon behind.
 * Start nodes from a thread that outlives them (the test's main thread).
 *
 * Temporary directories are removed by lyh_node_destroy / lyh_rmtree unless the
 * environment sets LYH_KEEP=1 (then the path is printed to stderr instead), or
 * the test called lyh_node_keep() on a failure path.
 *
 * Functions return 0 (or a documented value) on success and -1 on failure, with
 * a reason printed to stderr: a harness failure is a test failure, and the log
 * says why. Not thread-safe per object; distinct objects may be used from
 * distinct threads. */
#ifndef LYH_HARNESS_H
#define LYH_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/keys.h"
#include "proto/client.h"
#include "proto/msg.h"

#define LYH_PATH_MAX 1024
#define LYH_EP_MAX   64

/* Exit code of lyh_node_stop / lyh_run when the process did not end in time
 * (it was then killed with SIGKILL). A process ended by signal S reports 128 + S. */
#define LYH_TIMEDOUT (-1)

/* A free TCP port on 127.0.0.1 (bound to port 0, read back, closed), or -1.
 * Another process may take it before the caller binds it; tests accept that
 * small race. */
int lyh_free_port(void);

/* Create a fresh directory "$TMPDIR/loyal-TAG-XXXXXX" (TMPDIR defaults to /tmp)
 * and write its path into `out` (`cap` bytes). 0 or -1. */
int lyh_tmpdir(const char *tag, char *out, size_t cap);

/* Remove `path` and everything below it (no-op if it does not exist). 0 or -1. */
int lyh_rmtree(const char *path);

/* Write `text` to `path` (created or truncated, mode 0644). 0 or -1. */
int lyh_write_file(const char *path, const char *text);

/* Read a whole file into a new NUL-terminated heap buffer (caller frees), or NULL. */
char *lyh_read_file(const char *path, size_t *len);

/* Print the last `lines` lines of `path` to stderr, framed with its name. */
void lyh_print_tail(const char *path, int lines);

/* 1 if `path` exists (any type), else 0. */
int lyh_exists(const char *path);

/* Monotonic clock in milliseconds / microseconds. */
uint64_t lyh_now_ms(void);
uint64_t lyh_now_us(void);

/* Sleep for `ms` milliseconds (restarted on EINTR). */
void lyh_sleep_ms(int ms);

/* One loyald process, its directory and its configuration. */
typedef struct lyh_node {
    uint16_t nd_id;
    char nd_name[64];
    char nd_dir[LYH_PATH_MAX];      /* the temporary directory (owned) */
    char nd_config[LYH_PATH_MAX];   /* nd_dir/node.ini */
    char nd_data_dir[LYH_PATH_MAX]; /* nd_dir/data (created by loyald) */
    char nd_log[LYH_PATH_MAX];      /* nd_dir/loyald.log: the daemon's stderr (appended) */
    char nd_stdout[LYH_PATH_MAX];   /* nd_dir/loyald.out: the daemon's stdout (appended) */
    int nd_port;                    /* client port: nd_listen */
    int nd_peer_port;               /* peer port: nd_peer_listen */
    char nd_listen[LYH_EP_MAX];     /* tcp://127.0.0.1:nd_port */
    char nd_peer_listen[LYH_EP_MAX];
    pid_t nd_pid;           /* the running daemon, 0 if none */
    int nd_keep;            /* 1: lyh_node_destroy keeps nd_dir and prints its path */
    int nd_ready_once;      /* it has answered once: its ports are its own from then on */
    uint64_t nd_started_ms; /* lyh_now_ms() when the running daemon was spawned */
    char *nd_extra;         /* the `extra` config text (owned), kept for rewrites */
    /* With LYH_CURVE=1 (lyh_curve): the node's key pair, made in nd_dir. */
    char nd_key_file[LYH_PATH_MAX]; /* nd_dir/NAME.key ("" without CURVE) */
    char nd_pub_file[LYH_PATH_MAX]; /* nd_dir/NAME.pub */
    char nd_public[LY_KEY_Z85 + 1];
} lyh_node;

/* A node with id `id` and name `name` in a new temporary directory, two free
 * ports and a config file: [node] id, name, data_dir, listen, peer_listen,
 * log_level = info, followed by `extra` verbatim (may be NULL; e.g. [peer]
 * sections or "batch_max = 64" -- note that text placed right after the header
 * lands in the [node] section). Not started. Caller owns the result; NULL on
 * failure.
 *
 * With LYH_CURVE=1 in the environment (lyh_curve), the suite runs as a chain
 * with keys would: each node gets a key pair in its directory and [node] key
 * before `extra`, an [operator harness] section after it names the harness's
 * operator key (one per test process, in a directory of its own), the chains'
 * [peer] sections carry the peers' public keys, and lyh_client, the status
 * helpers and lyh_loyalctl speak CurveZMQ with the operator key (lyh_loyalctl
 * adds --key, and --node-key to --node ENDPOINT of a harness node; for verify
 * it gives --config of that node's config instead, which names the node's and
 * its peers' keys). A test whose `extra` sets
 * keys of its own runs without LYH_CURVE. */
lyh_node *lyh_node_new(uint16_t id, const char *name, const char *extra);

/* Rewrite the config file with the same id, name, dirs and ports and a new
 * `extra` (NULL: none), which is kept for later rewrites. */
int lyh_node_write_config(lyh_node *n, const char *extra);

/* Start loyald --config nd_config, stderr appended to nd_log and stdout to
 * nd_stdout. Does not wait. -1 if already running or the spawn failed. */
int lyh_node_start(lyh_node *n);

/* Wait until the node answers a status call (each try with a short timeout),
 * for at most `timeout_ms`. On failure (process exited, or no answer in time)
 * prints why and the tail of nd_log and returns -1; a process that exited is
 * reaped (nd_pid = 0), one that hangs is left running. */
int lyh_node_wait_ready(lyh_node *n, int timeout_ms);

/* lyh_node_start + lyh_node_wait_ready. Before the node has ever answered,
 * a start that fails because another process took one of its ports (the race
 * of lyh_free_port) is retried with new ports, at most 3 times; after that the
 * ports never change, so a restart keeps the node's address. */
int lyh_node_up(lyh_node *n, int timeout_ms);

/* SIGTERM and wait at most `timeout_ms` for the exit. Returns the exit code
 * (0..255), 128 + signal if it died by a signal, or LYH_TIMEDOUT (then it was
 * killed with SIGKILL and reaped; the log tail is printed). -1 is never
 * ambiguous with an exit code. Returns LYH_TIMEDOUT too if no process runs. */
int lyh_node_stop(lyh_node *n, int timeout_ms);

/* SIGKILL the daemon and reap it. 0, or -1 if it was not running. */
int lyh_node_kill(lyh_node *n);

/* 1 if the daemon is still running (reaps it and clears nd_pid if it exited;
 * then *exit_code, if not NULL, receives its code as for lyh_node_stop). */
int lyh_node_alive(lyh_node *n, int *exit_code);

/* One status call to the node with `timeout_ms`. Returns the transport outcome
 * (ly_client_call) or, if a reply came, the reply's rp_err; fills *out on LY_OK,
 * without the peer rows (ns_peers NULL, ns_npeers 0: lyh_node_status_peers
 * keeps them). */
ly_err lyh_node_status(const lyh_node *n, int timeout_ms, ly_node_status *out);

/* Keep the directory at destroy time (call on a failure path). */
void lyh_node_keep(lyh_node *n);

/* Kill the daemon if it runs, remove the directory (unless kept or LYH_KEEP=1,
 * then print its path), free the node. Accepts NULL and *np == NULL; clears *np. */
void lyh_node_destroy(lyh_node **np);

/* The captured outcome of a process run to completion. */
typedef struct lyh_output {
    int ou_code;  /* exit code, 128 + signal, or LYH_TIMEDOUT */
    char *ou_out; /* stdout, NUL-terminated (heap; never NULL after lyh_run) */
    size_t ou_out_len;
    char *ou_err; /* stderr, NUL-terminated (heap; never NULL after lyh_run) */
    size_t ou_err_len;
} lyh_output;

/* Run argv[0] (a path; argv is NULL-terminated) with stdin from /dev/null,
 * capturing stdout and stderr, for at most `timeout_ms` (then SIGKILL). Fills
 * `out` (release with lyh_output_fini) and returns out->ou_code, or -2 if the
 * process could not be started (out is still initialised). */
int lyh_run(const char *const argv[], int timeout_ms, lyh_output *out);

/* lyh_run of LY_LOYALCTL_PATH / LY_LOYALD_PATH with the NULL-terminated
 * argument list that follows `timeout_ms`. */
int lyh_loyalctl(lyh_output *out, int timeout_ms, ...);
int lyh_loyald(lyh_output *out, int timeout_ms, ...);

/* Apply the program file text `text` at node `n` (loyalctl program apply,
 * operator "test"; the file is written into the node's directory). Returns
 * loyalctl's exit status; on failure its stderr is printed. */
int lyh_node_program(const lyh_node *n, const char *text, int timeout_ms);

/* Wait until node `n` reports program `version` in force: 0, or -1 at the
 * timeout (the version it reports is printed). */
int lyh_node_wait_program(const lyh_node *n, uint32_t version, int timeout_ms);

/* Same with an argument vector (NULL-terminated, without argv[0]). */
int lyh_loyalctl_argv(lyh_output *out, int timeout_ms, const char *const args[]);

/* Free what lyh_run captured; accepts a zeroed or finished struct. */
void lyh_output_fini(lyh_output *out);

/* SIGKILL and reap every process the harness started that still runs. */
void lyh_kill_all(void);

/* ---- CurveZMQ ----------------------------------------------------------- */

/* 1 if the environment sets LYH_CURVE=1 (read once). */
int lyh_curve(void);

/* The harness operator key's files and name ("harness"), made on first use;
 * NULL without CURVE or if they could not be made (the reason is printed). */
const char *lyh_operator_key_file(void);
const char *lyh_operator_pub_file(void);
#define LYH_OPERATOR "harness"

/* The operator a node records for what the harness's clients do: `asked`
 * (the --operator or request field) without CURVE, the key's name
 * LYH_OPERATOR with it (a key's name is the operator, README "Security"). */
const char *lyh_operator(const char *asked);

/* Make the ZeroMQ socket `sock` a client of node `n` as lyh_client would:
 * with CURVE a CurveZMQ client with the operator key, else nothing. Call
 * before zmq_connect. 0, or -1 (printed). */
int lyh_curve_socket(void *sock, const lyh_node *n);

/* Write "[peer NAME]" with the id of node `peer`, `endpoint` (its
 * peer_listen, or a proxy in front of it) and, with CURVE, its public key
 * file, after a blank line, into `out` of `cap` bytes. Returns the length, or
 * -1 if it did not fit. */
int lyh_peer_section(char *out, size_t cap, const lyh_node *peer, const char *endpoint);

/* A client of node `n` on its listen endpoint, or on `endpoint` (a proxy in
 * front of it): ly_client_new, or with CURVE ly_client_new_curve with the
 * operator key and the node's public key. NULL on failure. */
ly_client *lyh_client(const lyh_node *n, int timeout_ms);
ly_client *lyh_client_at(const lyh_node *n, const char *endpoint, int timeout_ms);

/* ---- client calls and worker threads ------------------------------------- */

/* Pause of lyh_call_until between two sends. */
#define LYH_RETRY_MS 100

/* Send `rq` on `c` until a reply comes: a timeout, an I/O failure or a reply
 * "unavailable" leaves the outcome unknown, so the same request (same txn) is
 * sent again after LYH_RETRY_MS, until `deadline_ms` have passed. Returns the
 * transport outcome of the last try: LY_OK with `rp` holding the reply (the
 * caller finishes it with ly_rep_fini; rp_err may be any error but
 * LY_EUNAVAIL); otherwise `rp` holds nothing, and the result is the last
 * transport error, LY_ETIMEDOUT if the last try got "unavailable", or at once
 * any error other than LY_ETIMEDOUT and LY_EIO (the request itself is wrong:
 * retrying cannot help). *tries (if not NULL) receives the number of sends. */
ly_err lyh_call_until(ly_client *c, ly_req *rq, ly_rep *rp, int deadline_ms, int *tries);

/* A request of `type` for customer `cust` with txn `txn` and `amount`
 * (ly_req_init first); an enrollment also carries the name "Name of <cust>",
 * an adjustment the reason `reason` and the operator "tester". */
void lyh_req(ly_req *rq, int type, const char *cust, const char *txn, int64_t amount,
             const char *reason);

/* Note the first failure of a worker thread (Criterion's assertions belong to
 * the test's main thread, which checks *failed after the join): if *failed is
 * 0, set it to 1 and write the formatted reason into `why` (`cap` bytes,
 * truncated); if it is already set, change nothing. */
void lyh_fail_once(int *failed, char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- status with peer rows ---------------------------------------------- */

/* As lyh_node_status, but *out keeps the reply's peer rows (ns_peers, heap):
 * release them with lyh_status_fini. On failure *out holds no rows. */
ly_err lyh_node_status_peers(const lyh_node *n, int timeout_ms, ly_node_status *out);

/* Free the peer rows of a status filled by lyh_node_status_peers; accepts a
 * status without rows. */
void lyh_status_fini(ly_node_status *st);

/* The row of peer `id` in `st`, or NULL. Valid while `st` holds its rows. */
const ly_peer_status *lyh_status_peer(const ly_node_status *st, uint16_t id);

/* The highest contiguous seq `st` holds of `origin` (any incarnation), 0 if none. */
uint64_t lyh_status_vv(const ly_node_status *st, uint16_t origin);

/* ---- chains of nodes (replication) --------------------------------------- */

#define LYH_CHAIN_MAX 16

/* adj[i][j] != 0: node i + 1 lists node j + 1 as a peer. */
typedef uint8_t lyh_adj[LYH_CHAIN_MAX][LYH_CHAIN_MAX];

/* Every node knows every other one. */
void lyh_adj_mesh(int n, lyh_adj adj);

/* A line: node i knows nodes i - 1 and i + 1 only. */
void lyh_adj_line(int n, lyh_adj adj);

/*   lyh_chain *ch = lyh_chain_new(3, NULL, NULL);  // n1..n3, full mesh
 *   lyh_chain_up(ch, 1, 3, 20000);                 // start them, wait until they answer
 *   int64_t ms = lyh_chain_wait_converged(ch, 30000);
 *   lyh_chain_destroy(&ch);
 *
 * Node i (1-based) has id i, name "n<i>", its own temporary directory and free
 * ports (lyh_node_new), and a config with `node_extra` in [node] followed by a
 * [peer n<j>] section (id, endpoint = its peer_listen) for every j it knows.
 * Every node is configured from the start, so a node started later (a new
 * branch) is already known to the others. */
typedef struct lyh_chain {
    int ch_n;
    lyh_node *ch_nodes[LYH_CHAIN_MAX]; /* [i - 1]: node i */
    lyh_adj ch_adj;
    char *ch_node_extra; /* owned; "" if none */
} lyh_chain;

/* `n` nodes (1..LYH_CHAIN_MAX) with adjacency `adj` (NULL: full mesh) and extra
 * [node] settings `node_extra` (NULL: none, e.g. "batch_max = 64\n"). Nothing
 * is started. Caller owns the result; NULL on failure. */
lyh_chain *lyh_chain_new(int n, const lyh_adj adj, const char *node_extra);

/* Node i (1..ch_n), borrowed from the chain. */
lyh_node *lyh_chain_node(const lyh_chain *ch, int i);

/* Start nodes first..last (1-based) that do not run, and wait until each
 * answers (at most `timeout_ms` each). If a start had to take new ports (see
 * lyh_node_up), the configs that name them are rewritten and the running nodes
 * concerned restarted, so every config stays true. 0 or -1. */
int lyh_chain_up(lyh_chain *ch, int first, int last, int timeout_ms);

/* kill -9 node i and reap it. 0, or -1 if it did not run. */
int lyh_chain_kill(lyh_chain *ch, int i);

/* Status of node i with its peer rows (lyh_node_status_peers). */
ly_err lyh_chain_status(const lyh_chain *ch, int i, int timeout_ms, ly_node_status *out);

/* Poll every running node (nd_pid != 0) each 100 ms until all answer status
 * with identical version vectors (as sets of origin, incarnation, seq),
 * identical digests and equal event counts. Returns the milliseconds it took,
 * or -1 after `timeout_ms` (then prints each node's vv, digest and peer rows,
 * and the tail of each log). */
int64_t lyh_chain_wait_converged(lyh_chain *ch, int timeout_ms);

/* Print each running node's status (vv, digest, events, peer rows) to stderr. */
void lyh_chain_print(const lyh_chain *ch);

/* SIGTERM every running node and wait at most `timeout_ms` for each. Returns
 * how many did not exit 0 (each is named on stderr with its code and log
 * tail; under LY_SANITIZE a leak or error report makes the code nonzero). */
int lyh_chain_stop(lyh_chain *ch, int timeout_ms);

/* Keep every node's directory at destroy time (call on a failure path). */
void lyh_chain_keep(lyh_chain *ch);

/* Destroy every node (lyh_node_destroy) and the chain. Accepts NULL and
 * *chp == NULL; clears *chp. */
void lyh_chain_destroy(lyh_chain **chp);

#endif
