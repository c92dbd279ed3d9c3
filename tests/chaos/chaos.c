/* chaos.c -- loyalchaos: Jepsen-style chaos runs against real loyald processes.
 *
 *   loyalchaos [--nodes N] [--duration SECONDS] [--seed S] [--customers N] [--hot K]
 *              [--clients-per-node C] [--heal-every SECONDS] [--max-faults F]
 *              [--retry-elsewhere PCT] [--think MS] [--call-ms MS] [--quiet] [--verbose]
 *
 * The real-process complement of tests/unit/sim_test.c (which runs thousands of
 * seeded schedules inside one process): it starts N loyald nodes (default 5) in
 * a full mesh whose every peer link runs through its own TCP fault proxy
 * (tests/support/proxy.h), one proxy per direction: node i's [peer n<j>]
 * endpoint is proxy (i, j), which forwards to node j's peer_listen. Client
 * ports are never proxied. Then, for --duration seconds of load:
 *
 * Workload. C client threads per node (default 2), each talking to its own
 * branch like a POS terminal: earns (some in the category "electronics", x2),
 * redemptions of random sizes and of the whole balance right after a card scan
 * (a lookup with prefetch), so that many need a transfer of rights; refunds of
 * the thread's earlier acknowledged earns and redemptions (full or partial; a
 * quarter of them at another branch, where the original may not have arrived
 * yet); goodwill adjustments (+ and -); profile changes; enrollments of new
 * customers. --customers N customers (default 200) are enrolled before the
 * load, N / 10 more during it; --hot K of them (default 5) get 60% of all
 * operations, at every branch at once. Every operation is recorded with its
 * transaction id and outcome: acknowledged (with rp_points and the event id
 * the reply names), refused (a business refusal: insufficient points or local
 * rights, unknown customer or transaction), or unknown (a timeout, an I/O
 * error, "unavailable": the node is down, stopped or slow; --call-ms, default
 * 3000, is how long a call waits). An unknown outcome is retried later with
 * the same transaction id and payload until it is decided -- at the same
 * branch, as a POS does; with --retry-elsewhere PCT that share of the retries
 * goes to a random other branch, as a web shop or a batch import talking to
 * "any node" does. A refusal is conclusive only when no branch's attempt is
 * still without an answer (that branch may have applied it); until then the
 * operation stays pending, and after a heal it is asked at its own branch, or
 * at the branch whose attempt is still unanswered.
 * A reader thread looks customers up at random branches and polls status.
 *
 * Once keys (--retry-elsewhere). A retry elsewhere of an operation that was
 * applied at the first branch but has not reached the second is applied there
 * too: two events of one transaction. The nodes count a transaction once
 * chain-wide, and the checker recomputes that rule from the events it lists,
 * on its own: every event but a rights transfer has a once key, its
 * transaction id (an enroll: join:<customer>; the runner enrolls each customer
 * with one operation, so both select the same events); of a key's events the
 * smallest by (hlc, origin, incarnation, seq) counts, the others are void:
 * every node holds them (and counts them in its version vector), but they
 * change no balance, lifetime, qualifying points, rights or refund totals.
 * Profile changes have no once key at the nodes (last writer wins per field):
 * their duplicates are counted apart, and a replay names the smallest. A
 * voided earn takes its branch's rights back, a voided redemption gives them
 * back: a branch that spent a voided credit before it saw the one that counts
 * ends with rights below zero, and the customer may end with a debt. That is
 * the documented behaviour, and the checks below allow exactly that much: the
 * voided credits (earns, positive adjustments, join bonuses) made at a branch.
 * Without --retry-elsewhere an operation only ever reaches one branch: there
 * are no void events, every allowance is 0, and the checks on the
 * acknowledgements apply as they are. Duplicates need an unknown outcome
 * whose first attempt was applied: a shorter --call-ms makes more of them.
 *
 * Faults, on a schedule drawn from the seed before the run starts (so --seed S
 * replays the same schedule; the threads' timing is not replayed): kill -9 and
 * restart on the same data directory, SIGSTOP/SIGCONT, one node cut off from
 * all others, a majority/minority split, a ring (each node hears only its two
 * neighbours), one black-holed link (one direction), delayed links (20-500 ms)
 * and connection resets. Cuts are black holes or resets. At most --max-faults
 * (default 2) at once, each healed after 0.2-5 s (one in ten after 5-12 s, long
 * enough for the peers to see it). --verbose logs each fault and heal with its
 * wall-clock time, to line up with the nodes' logs. Every --heal-every seconds
 * (default 30) and at the end, a checkpoint heals everything, lets the clients
 * decide their unknown outcomes, waits (at most 60 s) until the chain has
 * converged, records how long that took after the heal, and checks:
 *
 *   lost          every acknowledged transaction has an event, held by every
 *                 node, and the event id its reply named is one of its events;
 *                 a sample of them (every one with a voided duplicate, all
 *                 whose outcome was once unknown up to 2000, and a few hundred
 *                 others) sent again to every node is answered as a replay
 *                 (rp_replayed = 1) naming the event that counts, with its
 *                 points (the id the first reply named, unless a smaller
 *                 duplicate arrived later);
 *   duplicated    a transaction id has one event, or with --retry-elsewhere at
 *                 most one per branch it was sent to (each branch knows its
 *                 own), and exactly one of them counts: every node's replay
 *                 names it (see lost), every node's status counts as many
 *                 void duplicates (ns_duplicates) as the checker found, and the
 *                 history of a customer with void events (its newest
 *                 LY_HIST_MAX entries, at every node) shows the one that
 *                 counts as counting and every other one as void, naming it;
 *                 every node's event count equals the sum of its version
 *                 vector (contiguous seqs);
 *   phantom       every event but a rights transfer belongs to an operation of
 *                 this run that was not refused, was made by a branch the
 *                 operation was sent to, and has its type, customer and amount
 *                 (the points of the one its reply named: see seq);
 *   conflict      the events of one once key carry the same request
 *                 fingerprint (the runner retries the same payload), and every
 *                 node's status counts as many conflicts (ns_conflicts);
 *   balance       at every node, for every customer, balance - debt = the sum
 *                 of ev_points of the events that count, and (if none of the
 *                 customer's events is void) = the sum of rp_points of the
 *                 acknowledged operations; debt <= points taken back by
 *                 refunds of earns + voided credits; all nodes show the same
 *                 balance, debt, lifetime, tier and rights;
 *   rights        the rights rows add up to balance - debt, local rights =
 *                 min(own row, balance) >= 0, and no node's row is below minus
 *                 the points refunds of earns took back there and the voided
 *                 credits made there (else it redeemed rights it did not hold);
 *   double_spend  per customer, over the events that count: redeemed +
 *                 negative adjustments - refunds of redemptions <= earned +
 *                 positive adjustments + join bonuses + voided credits (and,
 *                 if none is void, the same over the acknowledgements);
 *   verify        `loyalctl verify` exits 0 (same events and digest everywhere);
 *   seq           the same event id holds the same event at every node (no seq
 *                 reused); a node's incarnation never changes (its store is
 *                 kept across kill -9) and its own version-vector entry never
 *                 goes down; it always covers every seq it acknowledged and
 *                 every seq of it any node was seen holding (else "lost";
 *                 checked on every status the reader polls and after every
 *                 restart);
 *   negative      no read during the run (reader, replies) shows a balance or
 *                 debt below zero, both above zero, a debt larger than what
 *                 refunds of earns sent so far can take back plus, for every
 *                 credit sent to a second, third... branch, the most points
 *                 one more event of it could carry (the program's best tier),
 *                 rights rows that do not add up, or local rights outside
 *                 0..balance;
 *   reply         no unexpected refusal (earns, positive adjustments, refunds
 *                 at the original's branch always succeed), a first attempt is
 *                 never answered as a replay, acknowledged points match the
 *                 request (a redemption takes exactly what was asked);
 *   undecided     every unknown outcome is decided within 60 s of a heal;
 *   convergence   the chain converges within 60 s of every heal;
 *   exit          every node exits 0 on SIGTERM at the end.
 *
 * --duration counts load time; checkpoints come on top (a few seconds each).
 * The summary gives the operations by type and outcome; the once-key figures
 * (retries sent elsewhere, operations tried at more than one branch, keys with
 * duplicates, duplicates voided and conflicts as the checker and the nodes'
 * status count them, and the voided credits with what of them was spent
 * before the one that counts was seen: the allowance the rights and
 * double_spend checks used); the faults by kind, the violations by
 * kind and the convergence time after the heals (p50, p99, max). Exit
 * status: 0 no violation; 1 a violation (the seed is printed again, and the
 * nodes' directories are kept: LYH_KEEP paths on stderr); 2 a usage error, or
 * the chain could not be set up. The seed is --seed, else the
 * environment's LY_CHAOS_SEED, else drawn from the clock (and printed).
 * SIGINT/SIGTERM end the run early (exit 1, no final check). */
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/ledger.h"
#include "proto/client.h"
#include "tests/support/harness.h"
#include "tests/support/net.h"
#include "tests/support/proxy.h"

#define CH_NODES_MAX      LYH_CHAIN_MAX
#define CH_READY_MS       30000
#define CH_CALL_MS        3000  /* a client call (--call-ms); no reply by then: unknown */
#define CH_CHECK_CALL_MS  10000 /* calls of the checker */
#define CH_READ_CALL_MS   1500  /* the reader's calls */
#define CH_CONVERGE_MS    60000
#define CH_DECIDE_MS      60000 /* after a heal every unknown outcome is decided within this */
#define CH_VERIFY_MS      15000
#define CH_HOT_PCT        60
#define CH_REPLAY_SAMPLE  300  /* acknowledged operations replayed per checkpoint ... */
#define CH_REPLAY_UNKNOWN 2000 /* ... plus at most this many whose outcome was once unknown */
#define CH_VIOL_PRINT     100  /* violations printed in full */
#define CH_ACTIVE_MAX     8
#define CH_EVENTS_PAGE    LY_EVENTS_MAX

/* A counter through a strong 32-bit mix (lowbias32): consecutive draws are
 * independent enough for schedules drawn a few values at a time. */
static unsigned s_rand(unsigned *state)
{
    uint32_t x = *state += 0x9e3779b9u;
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

/* 0..n-1 (n > 0). */
static unsigned s_below(unsigned *state, unsigned n)
{
    return s_rand(state) % n;
}

/* ---- options ---------------------------------------------------------------- */

typedef struct ch_opts {
    int o_nodes;
    int o_duration; /* seconds of load */
    unsigned o_seed;
    int o_customers;
    int o_hot;
    int o_cpn;        /* client threads per node */
    int o_heal_every; /* seconds between checkpoints */
    int o_max_faults;
    int o_retry_elsewhere; /* percent of retries sent to another branch */
    int o_think_ms;        /* pause between a client's operations */
    int o_call_ms;         /* a client call's timeout */
    int o_quiet;
    int o_verbose;
} ch_opts;

static ch_opts s_o = {
    .o_nodes = 5,
    .o_duration = 60,
    .o_customers = 200,
    .o_hot = 5,
    .o_cpn = 2,
    .o_heal_every = 30,
    .o_max_faults = 2,
    .o_retry_elsewhere = 0,
    .o_think_ms = 2,
    .o_call_ms = CH_CALL_MS,
};

static void s_usage(FILE *f)
{
    fprintf(f,
            "usage: loyalchaos [--nodes N] [--duration SECONDS] [--seed S] [--customers N]\n"
            "                  [--hot K] [--clients-per-node C] [--heal-every SECONDS]\n"
            "                  [--max-faults F] [--retry-elsewhere PCT] [--think MS]\n"
            "                  [--call-ms MS]\n"
            "                  [--quiet] [--verbose]\n"
            "\n"
            "Runs N loyald nodes (2..%d, default 5) whose peer links go through fault\n"
            "proxies, loads them from client threads at every node while killing,\n"
            "stopping, partitioning, slowing and resetting on a seeded schedule, heals\n"
            "and checks the invariants every --heal-every seconds (default 30) and at\n"
            "the end. Exit 0: no violation; 1: a violation; 2: usage or setup error.\n"
            "The seed defaults to $LY_CHAOS_SEED, else the clock. With LYH_CURVE=1 every\n"
            "node has a key and the clients talk CurveZMQ with an operator key.\n",
            CH_NODES_MAX);
}

static int s_int_arg(const char *name, const char *v, long lo, long hi, long *out)
{
    char *end;
    if (v == NULL) {
        fprintf(stderr, "loyalchaos: %s needs a value\n", name);
        return -1;
    }
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || x < lo || x > hi) {
        fprintf(stderr, "loyalchaos: %s '%s' is not a number in %ld..%ld\n", name, v, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

static int s_parse_seed(const char *what, const char *v, unsigned *out)
{
    char *end;
    unsigned long x = strtoul(v, &end, 10);
    if (*v == '\0' || *end != '\0' || x > 0xffffffffUL) {
        fprintf(stderr, "loyalchaos: %s '%s' is not a number in 0..4294967295\n", what, v);
        return -1;
    }
    *out = (unsigned)x;
    return 0;
}

/* 0 ok, 1 help printed, -1 usage error. */
static int s_parse(int argc, char **argv)
{
    int have_seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long x;
        int *dst = NULL;
        long lo = 0, hi = 0;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            s_usage(stdout);
            return 1;
        } else if (strcmp(a, "--quiet") == 0) {
            s_o.o_quiet = 1;
            continue;
        } else if (strcmp(a, "--verbose") == 0) {
            s_o.o_verbose = 1;
            continue;
        } else if (strcmp(a, "--seed") == 0) {
            if (v == NULL || s_parse_seed("--seed", v, &s_o.o_seed) != 0)
                return -1;
            have_seed = 1;
            i++;
            continue;
        } else if (strcmp(a, "--nodes") == 0) {
            dst = &s_o.o_nodes, lo = 2, hi = CH_NODES_MAX;
        } else if (strcmp(a, "--duration") == 0) {
            dst = &s_o.o_duration, lo = 1, hi = 7 * 24 * 3600;
        } else if (strcmp(a, "--customers") == 0) {
            dst = &s_o.o_customers, lo = 1, hi = 100000;
        } else if (strcmp(a, "--hot") == 0) {
            dst = &s_o.o_hot, lo = 0, hi = 100000;
        } else if (strcmp(a, "--clients-per-node") == 0) {
            dst = &s_o.o_cpn, lo = 1, hi = 16;
        } else if (strcmp(a, "--heal-every") == 0) {
            dst = &s_o.o_heal_every, lo = 5, hi = 24 * 3600;
        } else if (strcmp(a, "--max-faults") == 0) {
            dst = &s_o.o_max_faults, lo = 0, hi = CH_ACTIVE_MAX;
        } else if (strcmp(a, "--retry-elsewhere") == 0) {
            dst = &s_o.o_retry_elsewhere, lo = 0, hi = 100;
        } else if (strcmp(a, "--think") == 0) {
            dst = &s_o.o_think_ms, lo = 0, hi = 10000;
        } else if (strcmp(a, "--call-ms") == 0) {
            dst = &s_o.o_call_ms, lo = 50, hi = 60000;
        } else {
            fprintf(stderr, "loyalchaos: unknown option '%s'\n", a);
            return -1;
        }
        if (s_int_arg(a, v, lo, hi, &x) != 0)
            return -1;
        *dst = (int)x;
        i++;
    }
    if (s_o.o_hot > s_o.o_customers) {
        fprintf(stderr, "loyalchaos: --hot %d exceeds --customers %d\n", s_o.o_hot,
                s_o.o_customers);
        return -1;
    }
    if (!have_seed) {
        const char *env = getenv("LY_CHAOS_SEED");
        if (env != NULL && env[0] != '\0') {
            if (s_parse_seed("LY_CHAOS_SEED", env, &s_o.o_seed) != 0)
                return -1;
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            s_o.o_seed = (unsigned)ts.tv_nsec ^ (unsigned)ts.tv_sec ^ ((unsigned)getpid() << 16);
        }
    }
    return 0;
}

/* ---- violations ------------------------------------------------------------- */

typedef enum ch_vkind {
    CH_V_LOST,
    CH_V_DUP,
    CH_V_PHANTOM,
    CH_V_BALANCE,
    CH_V_RIGHTS,
    CH_V_DOUBLE_SPEND,
    CH_V_VERIFY,
    CH_V_SEQ,
    CH_V_NEGATIVE,
    CH_V_REPLY,
    CH_V_UNDECIDED,
    CH_V_CONVERGE,
    CH_V_EXIT,
    CH_V_CONFLICT,
    CH_V_HARNESS,
    CH_V_COUNT
} ch_vkind;

static const char *const s_vnames[CH_V_COUNT] = {
    "lost",         "duplicated",  "phantom", "balance",  "rights",
    "double_spend", "verify",      "seq",     "negative", "reply",
    "undecided",    "convergence", "exit",    "conflict", "harness",
};

static atomic_long s_vcount[CH_V_COUNT];
static atomic_long s_vprinted;
static atomic_int s_interrupted;

static void s_violation(ch_vkind kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_violation(ch_vkind kind, const char *fmt, ...)
{
    atomic_fetch_add(&s_vcount[kind], 1);
    if (atomic_fetch_add(&s_vprinted, 1) >= CH_VIOL_PRINT)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "loyalchaos: violation [%s] (seed %u): %s\n", s_vnames[kind], s_o.o_seed, msg);
}

static long s_violations(void)
{
    long n = 0;
    for (int k = 0; k < CH_V_COUNT; k++)
        n += atomic_load(&s_vcount[k]);
    return n;
}

static void s_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void s_info(const char *fmt, ...)
{
    if (s_o.o_quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

/* Milliseconds since the start, and the wall-clock time (UTC, as the node logs
 * show it) of such a moment. */
static uint64_t s_mono0, s_wall0_ms;

static uint32_t s_ms(void)
{
    return (uint32_t)(lyh_now_ms() - s_mono0);
}

static void s_wall(uint32_t ms, char *out, size_t cap)
{
    uint64_t w = s_wall0_ms + ms;
    time_t sec = (time_t)(w / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    snprintf(out, cap, "%02d:%02d:%02d.%03uZ", tm.tm_hour, tm.tm_min, tm.tm_sec,
             (unsigned)(w % 1000));
}

/* ---- the network --------------------------------------------------------------- */

static lyn_net *s_net;     /* the nodes and their links (tests/support/net.h) */
static lyh_chain *s_chain; /* s_net's nodes, borrowed */
static int s_n;
/* The mode each link (lyn_net_link(s_net, i + 1, j + 1)) is set to now. */
static lyp_mode s_link_mode[CH_NODES_MAX][CH_NODES_MAX];
static int s_link_delay[CH_NODES_MAX][CH_NODES_MAX];

static lyh_node *s_node(int i)
{
    return lyh_chain_node(s_chain, i);
}

/* The program the nodes run: the defaults and one category (s_net_up), of
 * which s_pg is a model for bounds on what an event may carry. */
#define CH_CATEGORY      "electronics"
#define CH_CATEGORY_MULT "2"
static ly_program s_pg;

static void s_program_model(void)
{
    ly_program_default(&s_pg);
    snprintf(s_pg.pg_categories[0].ca_name, sizeof s_pg.pg_categories[0].ca_name, "%s",
             CH_CATEGORY);
    s_pg.pg_categories[0].ca_mult = (uint32_t)atoi(CH_CATEGORY_MULT) * LY_MILLI;
    s_pg.pg_ncategories = 1;
}

/* The program file applied at n1 once the nodes are up (s_pg's rules). */
static const char s_program_text[] = "[program]\nname = Chaos\nversion = 1\nminor_units = 100\n"
                                     "points_per_unit = 1\n[tier Silver]\nthreshold = 0\n"
                                     "multiplier = 1\n[tier Gold]\nthreshold = 1000\n"
                                     "multiplier = 1.25\n[tier Platinum]\nthreshold = 5000\n"
                                     "multiplier = 1.5\n[category " CH_CATEGORY "]\n"
                                     "multiplier = " CH_CATEGORY_MULT "\n";

/* Nodes 1..n, every ordered pair linked through its own proxy, all started,
 * the program applied and in force at every node. */
static int s_net_up(void)
{
    s_program_model();
    s_net = lyn_net_new(s_n, NULL);
    if (s_net == NULL)
        return -1;
    s_chain = s_net->nt_chain;
    for (int i = 0; i < s_n; i++)
        for (int j = 0; j < s_n; j++)
            s_link_mode[i][j] = LYP_MODE_PASS;
    if (lyn_net_up(s_net, CH_READY_MS) != 0 ||
        lyh_node_program(s_node(1), s_program_text, CH_CHECK_CALL_MS) != 0)
        return -1;
    for (int i = 1; i <= s_n; i++)
        if (lyh_node_wait_program(s_node(i), 1, CH_READY_MS) != 0)
            return -1;
    return 0;
}

static void s_net_down(int keep)
{
    if (keep)
        lyn_net_keep(s_net);
    lyn_net_destroy(&s_net);
    s_chain = NULL;
}

/* ---- what is known of each node ------------------------------------------------ */

static pthread_mutex_t s_mon_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t s_incarnation[CH_NODES_MAX + 1];       /* as first seen; 0 before */
static uint64_t s_own_max[CH_NODES_MAX + 1];           /* highest own vv seq seen in a status */
static _Atomic uint64_t s_acked_max[CH_NODES_MAX + 1]; /* highest seq of an acknowledged event */
static _Atomic uint64_t s_held_max[CH_NODES_MAX + 1];  /* highest seq of it any node showed held */
static atomic_int s_down[CH_NODES_MAX + 1];            /* 1: killed, 2: stopped */

static void s_raise(_Atomic uint64_t *v, uint64_t to)
{
    uint64_t cur = atomic_load(v);
    while (to > cur && !atomic_compare_exchange_weak(v, &cur, to))
        ;
}

/* Check a status of node i: `acked` is s_acked_max[i] and `held` s_held_max[i],
 * both read before the call. An event of i that was acknowledged, or that any
 * node showed it held, was committed at i: i must hold it from then on. */
static void s_monitor(int i, const ly_node_status *st, uint64_t acked, uint64_t held,
                      const char *when)
{
    uint64_t own = 0, sum = 0;
    int incs = 0;
    uint32_t inc = 0;
    for (uint32_t k = 0; k < st->ns_nvv && k < LY_VV_MAX; k++) {
        sum += st->ns_vv[k].seq;
        if (st->ns_vv[k].origin >= 1 && st->ns_vv[k].origin <= s_n)
            s_raise(&s_held_max[st->ns_vv[k].origin], st->ns_vv[k].seq);
        if (st->ns_vv[k].origin == i) {
            incs++;
            own = st->ns_vv[k].seq;
            inc = st->ns_vv[k].incarnation;
        }
    }
    if (st->ns_id != i)
        s_violation(CH_V_HARNESS, "n%d answered status as node %u (%s)", i, (unsigned)st->ns_id,
                    when);
    if (st->ns_nvv <= LY_VV_MAX && sum != st->ns_events)
        s_violation(CH_V_DUP,
                    "n%d holds %" PRIu64 " events but its version vector sums to %" PRIu64 " (%s)",
                    i, st->ns_events, sum, when);
    if (incs > 1)
        s_violation(CH_V_SEQ, "n%d's version vector holds %d incarnations of its own events (%s)",
                    i, incs, when);
    if (incs == 1 && inc != st->ns_incarnation)
        s_violation(CH_V_SEQ, "n%d runs incarnation %u but its events are of incarnation %u (%s)",
                    i, st->ns_incarnation, inc, when);
    pthread_mutex_lock(&s_mon_lock);
    if (s_incarnation[i] == 0)
        s_incarnation[i] = st->ns_incarnation;
    else if (s_incarnation[i] != st->ns_incarnation)
        s_violation(CH_V_SEQ, "n%d's incarnation changed from %u to %u (%s)", i, s_incarnation[i],
                    st->ns_incarnation, when);
    if (own < s_own_max[i])
        s_violation(CH_V_SEQ,
                    "n%d's own version-vector entry went down from %" PRIu64 " to %" PRIu64 " (%s)",
                    i, s_own_max[i], own, when);
    else
        s_own_max[i] = own;
    pthread_mutex_unlock(&s_mon_lock);
    if (own < acked)
        s_violation(CH_V_LOST,
                    "n%d holds its own events up to seq %" PRIu64
                    " but acknowledged an event with seq %" PRIu64 " (%s)",
                    i, own, acked, when);
    else if (own < held)
        s_violation(CH_V_LOST,
                    "n%d holds its own events up to seq %" PRIu64 ", but a node showed its event "
                    "%" PRIu64 " held before (%s): a committed event was lost",
                    i, own, held, when);
}

/* One status of node i through `c`, checked by s_monitor. LY_OK or why not. */
static ly_err s_status_check(ly_client *c, int i, const char *when, ly_node_status *out)
{
    ly_req rq;
    ly_rep *rp = malloc(sizeof *rp);
    if (rp == NULL)
        return LY_ENOMEM;
    uint64_t acked = atomic_load(&s_acked_max[i]), held = atomic_load(&s_held_max[i]);
    ly_req_init(&rq, LY_MSG_STATUS);
    ly_err e = ly_client_call(c, &rq, rp);
    if (e == LY_OK)
        e = (ly_err)rp->rp_err;
    if (e == LY_OK) {
        s_monitor(i, rp->rp_status, acked, held, when);
        if (out != NULL) {
            *out = *rp->rp_status;
            out->ns_peers = NULL;
            out->ns_npeers = 0;
        }
    }
    ly_rep_fini(rp);
    free(rp);
    return e;
}

/* ---- customers ------------------------------------------------------------------- */

static int s_ncust;                   /* enrolled before the load */
static int s_ncust_all;               /* ... plus those enrolled during it */
static atomic_int *s_cust_ready;      /* 1: its enrollment was acknowledged */
static _Atomic int64_t *s_refund_cap; /* points of earns a refund was sent for */
/* At most the credits (earns, positive adjustments, join bonuses) of voided
 * duplicates: for each such operation sent to a second, third... branch, the
 * most points one more event of it could carry (s_credit_max). A voided
 * credit its branch spent before it saw the one that counts leaves a debt. */
static _Atomic int64_t *s_void_cap;

/* What a debt of customer k can come from so far (a read after a reply). */
static int64_t s_debt_cap(int k)
{
    return atomic_load(&s_refund_cap[k]) + atomic_load(&s_void_cap[k]);
}

static void s_cust_name(int k, char *out, size_t cap)
{
    snprintf(out, cap, "c%05d", k);
}

/* ---- operations -------------------------------------------------------------------- */

enum { CH_INVOKED = 0, CH_ACKED, CH_REFUSED, CH_UNKNOWN };

enum {
    CH_OF_WAS_UNKNOWN = 1u << 0,   /* some attempt had no answer */
    CH_OF_FULL = 1u << 1,          /* reverse: amount 0 = all that is left */
    CH_OF_CAPPED = 1u << 2,        /* earn: its points count toward the refund cap */
    CH_OF_REFUNDED_AWAY = 1u << 3, /* earn/redeem: a refund of it went to another branch */
    CH_OF_INCONCLUSIVE = 1u << 4,  /* a refusal came from a branch other than op_node */
    CH_OF_LATE = 1u << 5,          /* enroll of a customer during the load */
    CH_OF_DRAIN = 1u << 6,         /* redeem of the whole balance seen at a card scan */
    CH_OF_AWAY = 1u << 7,          /* reverse: sent to a branch other than the original's */
    CH_OF_CONFLICT = 1u << 8,      /* its events carry different request fingerprints */
};

typedef struct ch_op {
    uint8_t op_type;      /* LY_MSG_* */
    uint8_t op_state;     /* CH_INVOKED .. CH_UNKNOWN */
    uint8_t op_err;       /* refused: the ly_err */
    uint8_t op_node;      /* the branch it is sent to */
    uint16_t op_flags;    /* CH_OF_* */
    uint8_t op_nevents;   /* events with its transaction id seen in the listings */
    uint8_t op_pending;   /* in its worker's pending list */
    uint8_t op_ref_type;  /* reverse: LY_MSG_EARN or LY_MSG_REDEEM */
    uint8_t op_idseen;    /* the event its reply named was listed, with its transaction id */
    uint32_t op_first_ms; /* first attempt, ms since the start (wall clock in violations) */
    uint32_t op_last_ms;  /* the answer that decided it (or the last attempt) */
    uint16_t op_origin;   /* acknowledged: the event id the reply named */
    uint16_t op_tries;
    int32_t op_cust;
    int32_t op_ref; /* reverse: index of the original among the worker's ops */
    uint64_t op_seq;
    int64_t op_amount;   /* as sent */
    int64_t op_points;   /* acknowledged: rp_points */
    int64_t op_reserved; /* earn/redeem: amount refunded by acknowledged or unknown refunds */
    uint16_t op_sent;    /* bit k: an attempt went to node k + 1 */
    uint16_t op_unk;     /* bit k: an attempt at node k + 1 had no answer, and none came since */
    /* Its once key's events (as the checker lists them): the one that counts,
     * the smallest by (hlc, origin, incarnation, seq), and the request
     * fingerprint of the first one listed. Valid when op_nevents > 0. */
    uint16_t op_win_origin;
    uint32_t op_win_inc;
    uint64_t op_win_seq;
    uint64_t op_win_hlc;
    int64_t op_win_points;
    uint64_t op_req_hash;
} ch_op;

typedef struct ch_worker {
    int w_id; /* 1..; 0 is the setup */
    int w_node;
    pthread_t w_thread;
    unsigned w_rng;
    ch_op *w_ops;
    size_t w_nops, w_cap;
    size_t *w_pending; /* indices of ops with an unknown outcome */
    size_t w_npending, w_pending_cap;
    size_t *w_refundable; /* indices of acknowledged earns and redemptions */
    size_t w_nrefundable, w_refundable_cap;
    int w_next_late; /* next customer this worker enrolls during the load */
    ly_client *w_cli[CH_NODES_MAX + 1];
    ly_rep *w_rp;
    uint64_t w_retry_at; /* ms: next retry of a pending op */
    size_t w_checked;    /* ops before this index had their events accounted */
    size_t w_replayed;   /* ops before this index were considered for the replay sample */
    uint64_t w_lookups, w_lookups_failed, w_drains;
    uint64_t w_elsewhere; /* retries sent to a branch other than the op's */
} ch_worker;

static ch_worker *s_workers; /* [0]: the setup's enrollments; [1..s_nworkers] */
static int s_nworkers;
static int s_running;          /* worker threads started and not yet told to stop */
static atomic_long s_ops_made; /* for the progress lines */

static void s_txn(int worker, size_t idx, char *out, size_t cap)
{
    snprintf(out, cap, "w%d-%zu", worker, idx);
}

/* Parse "w<worker>-<idx>"; 0 if it is one of ours (the op exists), else -1. */
static int s_txn_parse(const char *txn, int *worker, size_t *idx)
{
    unsigned w;
    size_t i;
    int used = 0;
    if (sscanf(txn, "w%u-%zu%n", &w, &i, &used) != 2 || txn[used] != '\0')
        return -1;
    if (w > (unsigned)s_nworkers || i >= s_workers[w].w_nops)
        return -1;
    char again[LY_ID_MAX + 1];
    s_txn((int)w, i, again, sizeof again);
    if (strcmp(again, txn) != 0)
        return -1;
    *worker = (int)w;
    *idx = i;
    return 0;
}

static const char *const s_profile_names[] = {"Ada",     "Grace", "Edsger",
                                              "Barbara", "Ken",   "Frances"};

/* The category of an earn: every fourth one. */
static const char *s_category(size_t idx)
{
    return idx % 4 == 0 ? CH_CATEGORY : "";
}

/* The request of op `idx` of worker `w`: a pure function of the op, so that a
 * retry sends the same payload. */
static void s_build(const ch_worker *w, size_t idx, ly_req *rq)
{
    const ch_op *op = &w->w_ops[idx];
    ly_req_init(rq, op->op_type);
    s_txn(w->w_id, idx, rq->rq_txn, sizeof rq->rq_txn);
    if (op->op_type != LY_MSG_REVERSE)
        s_cust_name(op->op_cust, rq->rq_customer, sizeof rq->rq_customer);
    switch (op->op_type) {
    case LY_MSG_ENROLL:
        rq->rq_fields = LY_PF_NAME;
        snprintf(rq->rq_profile.pf_name, sizeof rq->rq_profile.pf_name, "Customer %d", op->op_cust);
        break;
    case LY_MSG_EARN:
        rq->rq_amount = op->op_amount;
        snprintf(rq->rq_category, sizeof rq->rq_category, "%s", s_category(idx));
        break;
    case LY_MSG_REDEEM:
        rq->rq_amount = op->op_amount;
        break;
    case LY_MSG_ADJUST:
        rq->rq_amount = op->op_amount;
        snprintf(rq->rq_reason, sizeof rq->rq_reason, "chaos %s",
                 op->op_amount > 0 ? "goodwill" : "correction");
        snprintf(rq->rq_operator, sizeof rq->rq_operator, "chaos-w%d", w->w_id);
        break;
    case LY_MSG_REVERSE:
        rq->rq_amount = op->op_amount;
        s_txn(w->w_id, (size_t)op->op_ref, rq->rq_ref_txn, sizeof rq->rq_ref_txn);
        break;
    case LY_MSG_SET_PROFILE: {
        unsigned f = 1u + (unsigned)(idx % LY_PF_ALL);
        rq->rq_fields = f;
        ly_profile *p = &rq->rq_profile;
        if (f & LY_PF_NAME)
            snprintf(p->pf_name, sizeof p->pf_name, "%s %zu",
                     s_profile_names[idx % (sizeof s_profile_names / sizeof *s_profile_names)],
                     idx);
        if (f & LY_PF_BIRTHDAY)
            snprintf(p->pf_birthday, sizeof p->pf_birthday, "19%02zu-%02zu-%02zu", 50 + idx % 50,
                     1 + idx % 12, 1 + idx % 28);
        if (f & LY_PF_EMAIL)
            snprintf(p->pf_email, sizeof p->pf_email, "w%d.%zu@example.com", w->w_id, idx);
        if (f & LY_PF_PHONE)
            snprintf(p->pf_phone, sizeof p->pf_phone, "+49 30 %07zu", idx % 10000000);
        if (f & LY_PF_PREFS)
            snprintf(p->pf_prefs, sizeof p->pf_prefs, "%s", idx % 2 ? "email" : "no mail");
        break;
    }
    default:
        break;
    }
}

/* The most points one event of op `idx` of `w` can credit (earn, positive
 * adjustment, join bonus; 0 for the others): an earn at the tier that pays
 * most, as the model of the program (s_pg) computes it. */
static int64_t s_credit_max(const ch_worker *w, size_t idx)
{
    const ch_op *op = &w->w_ops[idx];
    int64_t most = 0;
    switch (op->op_type) {
    case LY_MSG_EARN:
        for (int t = 0; t < s_pg.pg_ntiers; t++) {
            int64_t p = ly_earn_points(&s_pg, op->op_amount, t, s_category(idx), NULL);
            most = p > most ? p : most;
        }
        return most;
    case LY_MSG_ADJUST:
        return op->op_amount > 0 ? op->op_amount : 0;
    case LY_MSG_ENROLL:
        return s_pg.pg_join_bonus;
    default:
        return 0;
    }
}

/* Append an op to w (owned by w's thread, or by the controller while w is
 * parked). Returns its index, or SIZE_MAX when out of memory. */
static size_t s_op_new(ch_worker *w)
{
    if (w->w_nops == w->w_cap) {
        size_t cap = w->w_cap ? w->w_cap * 2 : 4096;
        ch_op *ops = realloc(w->w_ops, cap * sizeof *ops);
        if (ops == NULL)
            return SIZE_MAX;
        w->w_ops = ops;
        w->w_cap = cap;
    }
    memset(&w->w_ops[w->w_nops], 0, sizeof w->w_ops[0]);
    w->w_ops[w->w_nops].op_ref = -1;
    atomic_fetch_add(&s_ops_made, 1);
    return w->w_nops++;
}

static int s_push(size_t **arr, size_t *n, size_t *cap, size_t v)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        size_t *a = realloc(*arr, nc * sizeof *a);
        if (a == NULL)
            return -1;
        *arr = a;
        *cap = nc;
    }
    (*arr)[(*n)++] = v;
    return 0;
}

static ly_client *s_cli(ch_worker *w, int node)
{
    if (w->w_cli[node] == NULL)
        w->w_cli[node] = lyh_client(s_node(node), s_o.o_call_ms);
    return w->w_cli[node];
}

/* A business refusal the model allows for this op at `node`. */
static int s_refusal_ok(const ch_op *op, int node, ly_err err)
{
    /* A customer enrolled during the load at another branch may not be known here yet. */
    if (op->op_type != LY_MSG_ENROLL && op->op_type != LY_MSG_REVERSE && op->op_cust >= s_ncust &&
        err == LY_EUNKNOWN_CUST)
        return 1;
    switch (op->op_type) {
    case LY_MSG_REDEEM:
        return err == LY_EINSUFFICIENT || err == LY_EINSUFFICIENT_LOCAL;
    case LY_MSG_ADJUST:
        return op->op_amount < 0 && (err == LY_EINSUFFICIENT || err == LY_EINSUFFICIENT_LOCAL);
    case LY_MSG_REVERSE:
        /* The original may not have reached another branch yet. */
        return err == LY_EUNKNOWN_TXN && ((op->op_flags & CH_OF_AWAY) || node != op->op_node);
    default:
        return 0;
    }
}

static void s_unpend(ch_worker *w, size_t idx)
{
    ch_op *op = &w->w_ops[idx];
    if (!op->op_pending)
        return;
    op->op_pending = 0;
    for (size_t k = 0; k < w->w_npending; k++)
        if (w->w_pending[k] == idx) {
            w->w_pending[k] = w->w_pending[--w->w_npending];
            break;
        }
}

/* Send op `idx` of `w` to `node` once and record what came back. Returns the
 * op's state afterwards. */
static int s_send(ch_worker *w, size_t idx, int node)
{
    ch_op *op = &w->w_ops[idx];
    ly_req rq;
    char txn[LY_ID_MAX + 1];
    s_build(w, idx, &rq);
    snprintf(txn, sizeof txn, "%s", rq.rq_txn);
    ly_client *c = s_cli(w, node);
    ly_rep *rp = w->w_rp;
    uint16_t bit = (uint16_t)(1u << (node - 1));
    if (!(op->op_sent & bit)) {
        /* A second branch may make a duplicate of it, which the first may have
         * spent before it sees the one that counts (bounded before the call,
         * for any read that follows the reply). */
        if (op->op_sent != 0)
            atomic_fetch_add(&s_void_cap[op->op_cust], s_credit_max(w, idx));
        op->op_sent |= bit;
    }
    op->op_tries++;
    if (op->op_tries == 1)
        op->op_first_ms = s_ms();
    ly_err e = c != NULL ? ly_client_call(c, &rq, rp) : LY_ENOMEM;
    op->op_last_ms = s_ms();
    if (c == NULL)
        ly_rep_init(rp);
    if (e == LY_EINVAL || e == LY_ENOMEM || e == LY_EPROTO) {
        s_violation(CH_V_REPLY, "%s %s at n%d: the call failed: %s", ly_msgtype_name(op->op_type),
                    txn, node, ly_errname(e));
    }
    if (e != LY_OK || rp->rp_err == LY_EUNAVAIL) {
        ly_rep_fini(rp);
        op->op_flags |= CH_OF_WAS_UNKNOWN;
        op->op_unk |= bit;
        op->op_state = CH_UNKNOWN;
        if (!op->op_pending) {
            if (s_push(&w->w_pending, &w->w_npending, &w->w_pending_cap, idx) == 0)
                op->op_pending = 1;
        }
        return op->op_state;
    }
    ly_err err = (ly_err)rp->rp_err;
    op->op_unk &= (uint16_t)~bit; /* `node` answered: it holds no event of it unknown to it */
    if (err == LY_OK) {
        op->op_state = CH_ACKED;
        op->op_points = rp->rp_points;
        op->op_origin = rp->rp_origin;
        op->op_seq = rp->rp_seq;
        if (rp->rp_origin >= 1 && rp->rp_origin <= s_n)
            s_raise(&s_acked_max[rp->rp_origin], rp->rp_seq);
        if (rp->rp_replayed && op->op_tries == 1 && !(op->op_flags & CH_OF_WAS_UNKNOWN))
            s_violation(CH_V_REPLY, "%s %s at n%d: a first attempt was answered as a replay",
                        ly_msgtype_name(op->op_type), txn, node);
        if (rp->rp_balance < 0 || rp->rp_debt < 0 || (rp->rp_balance > 0 && rp->rp_debt > 0))
            s_violation(CH_V_NEGATIVE, "%s %s at n%d answered balance %" PRId64 " debt %" PRId64,
                        ly_msgtype_name(op->op_type), txn, node, rp->rp_balance, rp->rp_debt);
        switch (op->op_type) {
        case LY_MSG_EARN:
            if (rp->rp_points <= 0)
                s_violation(CH_V_REPLY, "earn %s of %" PRId64 " at n%d gave %" PRId64 " points",
                            txn, op->op_amount, node, rp->rp_points);
            break;
        case LY_MSG_REDEEM:
        case LY_MSG_ADJUST: {
            int64_t want = op->op_type == LY_MSG_REDEEM ? -op->op_amount : op->op_amount;
            if (rp->rp_points != want)
                s_violation(CH_V_REPLY,
                            "%s %s of %" PRId64 " at n%d changed the balance by %" PRId64,
                            ly_msgtype_name(op->op_type), txn, op->op_amount, node, rp->rp_points);
            break;
        }
        case LY_MSG_REVERSE:
            if ((op->op_ref_type == LY_MSG_EARN && rp->rp_points > 0) ||
                (op->op_ref_type == LY_MSG_REDEEM && rp->rp_points < 0) ||
                (op->op_ref_type == LY_MSG_REDEEM && op->op_amount > 0 &&
                 rp->rp_points != op->op_amount))
                s_violation(CH_V_REPLY,
                            "refund %s (%" PRId64 ") of a %s at n%d changed the "
                            "balance by %" PRId64,
                            txn, op->op_amount, ly_msgtype_name(op->op_ref_type), node,
                            rp->rp_points);
            break;
        case LY_MSG_ENROLL:
            if (op->op_flags & CH_OF_LATE)
                atomic_store(&s_cust_ready[op->op_cust], 1);
            break;
        default:
            break;
        }
        if (op->op_type == LY_MSG_EARN || op->op_type == LY_MSG_REDEEM)
            s_push(&w->w_refundable, &w->w_nrefundable, &w->w_refundable_cap, idx);
        s_unpend(w, idx);
        ly_rep_fini(rp);
        return op->op_state;
    }
    /* A refusal. */
    int ok = s_refusal_ok(op, node, err);
    if (ok && (op->op_type == LY_MSG_REDEEM || op->op_type == LY_MSG_ADJUST) &&
        (rp->rp_available < 0 ||
         rp->rp_available >= (op->op_amount < 0 ? -op->op_amount : op->op_amount))) {
        s_violation(CH_V_REPLY, "%s %s of %" PRId64 " at n%d refused %s with %" PRId64 " available",
                    ly_msgtype_name(op->op_type), txn, op->op_amount, node, ly_errname(err),
                    rp->rp_available);
    }
    if (!ok)
        s_violation(CH_V_REPLY, "%s %s (customer c%05d, amount %" PRId64 ") at n%d refused: %s: %s",
                    ly_msgtype_name(op->op_type), txn, op->op_cust, op->op_amount, node,
                    ly_errname(err), rp->rp_message);
    if (op->op_unk != 0) {
        /* Another branch had no answer (op_node's first attempt, or a retry
         * elsewhere): it may have applied it, and it counts once it arrives. */
        op->op_flags |= CH_OF_INCONCLUSIVE;
        ly_rep_fini(rp);
        return op->op_state;
    }
    op->op_state = CH_REFUSED;
    op->op_err = (uint8_t)err;
    if (op->op_type == LY_MSG_REVERSE && op->op_ref >= 0) {
        ch_op *orig = &w->w_ops[op->op_ref];
        orig->op_reserved -= op->op_amount > 0 ? op->op_amount : orig->op_amount;
    }
    s_unpend(w, idx);
    ly_rep_fini(rp);
    return op->op_state;
}

/* ---- the workers ----------------------------------------------------------------- */

static void s_check_read(const ly_rep *rp, int node, int cust, int64_t cap, const char *who);

/* The controller sets the phase; in CH_PAUSE and CH_STOP every worker decides
 * its pending ops and then counts itself settled (s_settled, reset with each
 * new phase), and in CH_PAUSE waits for the next phase. */
enum { CH_RUN = 0, CH_PAUSE, CH_STOP };
static pthread_mutex_t s_phase_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_phase_cond = PTHREAD_COND_INITIALIZER;
static int s_phase;
static unsigned s_phase_gen;    /* bumped by every s_set_phase */
static int s_settled;           /* workers settled in this phase */
static atomic_int s_phase_hint; /* s_phase, read without the lock */

static int s_pick_cust(ch_worker *w)
{
    if (s_o.o_hot > 0 && s_below(&w->w_rng, 100) < CH_HOT_PCT)
        return (int)s_below(&w->w_rng, (unsigned)s_o.o_hot);
    int k = (int)s_below(&w->w_rng, (unsigned)s_ncust_all);
    if (!atomic_load(&s_cust_ready[k]))
        k = (int)s_below(&w->w_rng, (unsigned)s_ncust);
    return k;
}

/* A lookup at w's branch, with prefetch when the card is scanned at the till
 * before a redemption; checked like the reader's. The balance seen, or -1. */
static int64_t s_lookup(ch_worker *w, int cust, int prefetch)
{
    ly_req rq;
    ly_req_init(&rq, LY_MSG_CUSTOMER);
    s_cust_name(cust, rq.rq_customer, sizeof rq.rq_customer);
    rq.rq_prefetch = (uint8_t)prefetch;
    rq.rq_limit = 1;
    ly_client *c = s_cli(w, w->w_node);
    w->w_lookups++;
    if (c == NULL)
        return -1;
    ly_err e = ly_client_call(c, &rq, w->w_rp);
    int64_t bal = -1;
    if (e == LY_OK && w->w_rp->rp_err == LY_OK) {
        bal = w->w_rp->rp_balance;
        s_check_read(w->w_rp, w->w_node, cust, s_debt_cap(cust), "client");
    } else {
        w->w_lookups_failed++;
    }
    ly_rep_fini(w->w_rp);
    return bal;
}

/* A refund of one of w's acknowledged earns or redemptions; SIZE_MAX if none fits. */
static size_t s_new_refund(ch_worker *w)
{
    for (int tries = 0; tries < 4 && w->w_nrefundable > 0; tries++) {
        size_t k = s_below(&w->w_rng, (unsigned)w->w_nrefundable);
        size_t oi = w->w_refundable[k];
        ch_op *orig = &w->w_ops[oi];
        int64_t left = orig->op_amount - orig->op_reserved;
        if (left <= 0) {
            w->w_refundable[k] = w->w_refundable[--w->w_nrefundable];
            continue;
        }
        int node = orig->op_origin >= 1 && orig->op_origin <= s_n ? orig->op_origin : w->w_node;
        int away = s_n > 1 && s_below(&w->w_rng, 100) < 25;
        if (away) {
            int other = 1 + (int)s_below(&w->w_rng, (unsigned)(s_n - 1));
            node = other >= node ? other + 1 : other;
        }
        /* "All that is left" is only exact where every earlier refund of it is known. */
        int full = !away && !(orig->op_flags & CH_OF_REFUNDED_AWAY) && orig->op_reserved == 0 &&
                   s_below(&w->w_rng, 2) == 0;
        int64_t part =
            full ? left
                 : 1 + (int64_t)s_below(&w->w_rng, (unsigned)(left < 1000000 ? left : 1000000));
        size_t idx = s_op_new(w);
        if (idx == SIZE_MAX)
            return SIZE_MAX;
        orig = &w->w_ops[oi];
        ch_op *op = &w->w_ops[idx];
        op->op_type = LY_MSG_REVERSE;
        op->op_ref_type = orig->op_type;
        op->op_ref = (int32_t)oi;
        op->op_cust = orig->op_cust;
        op->op_node = (uint8_t)node;
        op->op_amount = full ? 0 : part;
        if (full)
            op->op_flags |= CH_OF_FULL;
        orig->op_reserved += part;
        if (away) {
            orig->op_flags |= CH_OF_REFUNDED_AWAY;
            op->op_flags |= CH_OF_AWAY;
        }
        if (orig->op_type == LY_MSG_EARN && !(orig->op_flags & CH_OF_CAPPED)) {
            atomic_fetch_add(&s_refund_cap[orig->op_cust], orig->op_points);
            orig->op_flags |= CH_OF_CAPPED;
        }
        return idx;
    }
    return SIZE_MAX;
}

/* Draw and send one new operation. */
static void s_new_op(ch_worker *w)
{
    unsigned r = s_below(&w->w_rng, 100);
    size_t idx = SIZE_MAX;
    if (r >= 55 && r < 69)
        idx = s_new_refund(w);
    if (idx == SIZE_MAX && r >= 96 && w->w_next_late < s_ncust_all) {
        idx = s_op_new(w);
        if (idx == SIZE_MAX)
            return;
        ch_op *op = &w->w_ops[idx];
        op->op_type = LY_MSG_ENROLL;
        op->op_cust = w->w_next_late;
        op->op_flags |= CH_OF_LATE;
        op->op_node = (uint8_t)w->w_node;
        w->w_next_late += s_nworkers;
    }
    if (idx == SIZE_MAX) {
        int cust = s_pick_cust(w);
        int type, flags = 0;
        int64_t amount;
        if (r < 35 || (r >= 55 && r < 69) || r >= 96) {
            type = LY_MSG_EARN;
            amount = 100 + (int64_t)s_below(&w->w_rng, 29901);
        } else if (r < 49) {
            type = LY_MSG_REDEEM;
            amount = 1 + (int64_t)s_below(&w->w_rng, 400);
        } else if (r < 55) {
            int64_t bal = s_lookup(w, cust, 1);
            if (bal <= 0)
                return;
            w->w_drains++;
            type = LY_MSG_REDEEM;
            amount = bal;
            flags = CH_OF_DRAIN;
        } else if (r < 85) {
            type = LY_MSG_ADJUST;
            amount = 1 + (int64_t)s_below(&w->w_rng, 50);
            if (s_below(&w->w_rng, 100) < 40)
                amount = -amount;
        } else if (r < 93) {
            type = LY_MSG_SET_PROFILE;
            amount = 0;
        } else {
            s_lookup(w, cust, 0);
            return;
        }
        idx = s_op_new(w);
        if (idx == SIZE_MAX)
            return;
        ch_op *op = &w->w_ops[idx];
        op->op_type = (uint8_t)type;
        op->op_cust = cust;
        op->op_amount = amount;
        op->op_flags = (uint8_t)flags;
        op->op_node = (uint8_t)w->w_node;
    }
    s_send(w, idx, w->w_ops[idx].op_node);
}

/* Retry the oldest pending op (same payload), at its branch or, with
 * --retry-elsewhere, sometimes at another. */
static void s_retry(ch_worker *w)
{
    if (w->w_npending == 0)
        return;
    size_t k = s_below(&w->w_rng, (unsigned)w->w_npending);
    size_t idx = w->w_pending[k];
    ch_op *op = &w->w_ops[idx];
    int node = op->op_node;
    if (s_o.o_retry_elsewhere > 0 && s_n > 1 &&
        (int)s_below(&w->w_rng, 100) < s_o.o_retry_elsewhere) {
        int other = 1 + (int)s_below(&w->w_rng, (unsigned)(s_n - 1));
        node = other >= node ? other + 1 : other;
        w->w_elsewhere++;
    }
    s_send(w, idx, node);
}

/* Where to ask about a pending op when the links are healed: its own branch,
 * unless that one has answered since and only another branch's attempt is
 * still without an answer (that branch may have applied it: it would say so). */
static int s_decide_at(const ch_op *op)
{
    if (op->op_unk == 0 || (op->op_unk & (1u << (op->op_node - 1))))
        return op->op_node;
    return 1 + __builtin_ctz(op->op_unk);
}

/* Decide every pending op (links healed, nodes up): retry until none is left or
 * CH_DECIDE_MS has passed. */
static void s_decide_all(ch_worker *w)
{
    uint64_t deadline = lyh_now_ms() + CH_DECIDE_MS;
    while (w->w_npending > 0 && lyh_now_ms() < deadline && !atomic_load(&s_interrupted)) {
        size_t n = w->w_npending;
        for (size_t k = 0; k < n && k < w->w_npending; k++) {
            size_t idx = w->w_pending[k];
            ch_op *op = &w->w_ops[idx];
            /* A refusal elsewhere was not conclusive: now ask op_node itself
             * (or the branch whose attempt may have been applied). */
            int node = s_decide_at(op);
            w->w_elsewhere += node != op->op_node;
            s_send(w, idx, node);
        }
        if (w->w_npending > 0)
            lyh_sleep_ms(100);
    }
}

static void *s_worker_main(void *arg)
{
    ch_worker *w = arg;
    for (;;) {
        int phase = atomic_load(&s_phase_hint);
        if (phase != CH_RUN) {
            s_decide_all(w);
            pthread_mutex_lock(&s_phase_lock);
            /* Settle once in each phase other than CH_RUN; leave in CH_STOP. */
            while (s_phase != CH_RUN) {
                unsigned gen = s_phase_gen;
                s_settled++;
                pthread_cond_broadcast(&s_phase_cond);
                if (s_phase == CH_STOP) {
                    pthread_mutex_unlock(&s_phase_lock);
                    return NULL;
                }
                while (s_phase_gen == gen)
                    pthread_cond_wait(&s_phase_cond, &s_phase_lock);
            }
            pthread_mutex_unlock(&s_phase_lock);
            continue;
        }
        uint64_t now = lyh_now_ms();
        if (w->w_npending > 0 && now >= w->w_retry_at) {
            s_retry(w);
            w->w_retry_at = now + 200 + s_below(&w->w_rng, 800);
        } else {
            s_new_op(w);
        }
        if (s_o.o_think_ms > 0)
            lyh_sleep_ms((int)s_below(&w->w_rng, (unsigned)s_o.o_think_ms * 2 + 1));
    }
    return NULL;
}

/* Set the phase; with CH_PAUSE or CH_STOP wait (at most `timeout_ms`) until
 * every running worker has decided its pending ops and settled. 0, or -1 on
 * timeout. */
static int s_set_phase(int phase, int timeout_ms)
{
    pthread_mutex_lock(&s_phase_lock);
    s_phase = phase;
    s_phase_gen++;
    s_settled = 0;
    atomic_store(&s_phase_hint, phase);
    pthread_cond_broadcast(&s_phase_cond);
    int rc = 0;
    if (phase != CH_RUN) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (s_settled < s_running && rc == 0)
            if (pthread_cond_timedwait(&s_phase_cond, &s_phase_lock, &until) != 0)
                rc = -1;
    }
    pthread_mutex_unlock(&s_phase_lock);
    return rc;
}

/* Tell the workers to decide what is pending and end (once). 0, or -1 if they
 * did not settle in time. */
static int s_stop_workers(int timeout_ms)
{
    pthread_mutex_lock(&s_phase_lock);
    int stopped = s_phase == CH_STOP;
    pthread_mutex_unlock(&s_phase_lock);
    return stopped ? 0 : s_set_phase(CH_STOP, timeout_ms);
}

/* ---- the reader -------------------------------------------------------------------- */

static atomic_int s_reader_stop;
static atomic_long s_reads, s_read_fails, s_status_reads;

/* The checks every read of a customer must pass, at any time. */
static void s_check_read(const ly_rep *rp, int node, int cust, int64_t cap, const char *who)
{
    int64_t sum = 0;
    int bad = rp->rp_nrights > LY_RIGHTS_REPLY_MAX;
    for (uint32_t k = 0; k < rp->rp_nrights && k < LY_RIGHTS_REPLY_MAX; k++) {
        sum += rp->rp_rights[k].points;
        bad |= rp->rp_rights[k].node == 0;
    }
    if (rp->rp_balance < 0 || rp->rp_debt < 0 || (rp->rp_balance > 0 && rp->rp_debt > 0))
        s_violation(CH_V_NEGATIVE, "%s: c%05d at n%d: balance %" PRId64 ", debt %" PRId64, who,
                    cust, node, rp->rp_balance, rp->rp_debt);
    else if (rp->rp_debt > cap)
        s_violation(CH_V_NEGATIVE,
                    "%s: c%05d at n%d shows a debt of %" PRId64
                    " (a negative balance), but refunds of earns sent so far can take back "
                    "at most %" PRId64,
                    who, cust, node, rp->rp_debt, cap);
    if (bad || sum != rp->rp_balance - rp->rp_debt)
        s_violation(CH_V_RIGHTS,
                    "%s: c%05d at n%d: rights rows add up to %" PRId64
                    " (%u rows), balance - debt is %" PRId64,
                    who, cust, node, sum, rp->rp_nrights, rp->rp_balance - rp->rp_debt);
    if (rp->rp_local_rights < 0 || rp->rp_local_rights > rp->rp_balance)
        s_violation(CH_V_RIGHTS, "%s: c%05d at n%d may redeem %" PRId64 " of a balance of %" PRId64,
                    who, cust, node, rp->rp_local_rights, rp->rp_balance);
}

static void *s_reader_main(void *arg)
{
    unsigned rng = *(unsigned *)arg;
    ly_client *c[CH_NODES_MAX + 1] = {0};
    ly_rep *rp = malloc(sizeof *rp);
    for (int i = 1; i <= s_n; i++)
        c[i] = lyh_client(s_node(i), CH_READ_CALL_MS);
    for (long it = 0; rp != NULL && !atomic_load(&s_reader_stop); it++) {
        int i = 1 + (int)s_below(&rng, (unsigned)s_n);
        if (c[i] == NULL || atomic_load(&s_down[i]) != 0) {
            lyh_sleep_ms(5);
            continue;
        }
        if (it % 8 == 0) {
            if (s_status_check(c[i], i, "status polled during the load", NULL) == LY_OK)
                atomic_fetch_add(&s_status_reads, 1);
            continue;
        }
        int cust = (int)s_below(&rng, (unsigned)s_ncust);
        ly_req rq;
        ly_req_init(&rq, LY_MSG_CUSTOMER);
        s_cust_name(cust, rq.rq_customer, sizeof rq.rq_customer);
        rq.rq_limit = 1;
        ly_err e = ly_client_call(c[i], &rq, rp);
        if (e == LY_OK && rp->rp_err == LY_OK) {
            int64_t cap = s_debt_cap(cust); /* after the reply */
            s_check_read(rp, i, cust, cap, "reader");
            atomic_fetch_add(&s_reads, 1);
        } else {
            if (e == LY_OK && rp->rp_err != LY_EUNAVAIL)
                s_violation(CH_V_REPLY, "reader: c%05d at n%d: %s: %s", cust, i,
                            ly_errname((ly_err)rp->rp_err), rp->rp_message);
            atomic_fetch_add(&s_read_fails, 1);
        }
        ly_rep_fini(rp);
        lyh_sleep_ms(3);
    }
    for (int i = 1; i <= s_n; i++)
        ly_client_destroy(&c[i]);
    free(rp);
    return NULL;
}

/* ---- the fault schedule ------------------------------------------------------------- */

typedef enum ch_fkind {
    CH_F_KILL,
    CH_F_STOP,
    CH_F_ISOLATE,
    CH_F_SPLIT,
    CH_F_RING,
    CH_F_LINK,
    CH_F_DELAY,
    CH_F_RESET,
    CH_F_KINDS
} ch_fkind;

static const char *const s_fnames[CH_F_KINDS] = {
    "kill -9 + restart", "sigstop/sigcont", "one node cut off",  "majority/minority split", "ring",
    "black-holed link",  "delayed links",   "connection resets",
};
static const int s_fweight[CH_F_KINDS] = {24, 10, 14, 12, 6, 12, 10, 12};

typedef struct ch_fault {
    uint8_t f_kind;
    uint8_t f_state;                /* 0 planned, 1 active, 2 over */
    lyp_mode f_cut;                 /* cuts: LYP_MODE_BLACKHOLE or LYP_MODE_RESET */
    int f_node;                     /* kill, stop, isolate */
    int f_delay_ms;                 /* delay */
    uint32_t f_links[CH_NODES_MAX]; /* bit j of [i]: the link n(i+1) -> n(j+1) is affected */
    uint64_t f_start, f_end;        /* ms of load time */
} ch_fault;

static ch_fault *s_plan;
static size_t s_nplan;
static uint64_t *s_checkpoints; /* ms of load time; the last is the end */
static size_t s_ncheckpoints;
static long s_faults_done[CH_F_KINDS];

static void s_cut_pair(ch_fault *f, int a, int b)
{
    f->f_links[a - 1] |= 1u << (b - 1);
    f->f_links[b - 1] |= 1u << (a - 1);
}

/* Fill the link bits of a partition or link fault. */
static void s_plan_links(ch_fault *f, unsigned *rng)
{
    int n = s_n;
    switch (f->f_kind) {
    case CH_F_ISOLATE:
        for (int k = 1; k <= n; k++)
            if (k != f->f_node)
                s_cut_pair(f, f->f_node, k);
        break;
    case CH_F_SPLIT: {
        uint32_t side = 0;
        int m = 1 + (int)s_below(rng, (unsigned)(n / 2)); /* the minority: 1 .. n/2 nodes */
        while (__builtin_popcount(side) < m)
            side |= 1u << s_below(rng, (unsigned)n);
        for (int a = 1; a <= n; a++)
            for (int b = a + 1; b <= n; b++)
                if (((side >> (a - 1)) & 1) != ((side >> (b - 1)) & 1))
                    s_cut_pair(f, a, b);
        break;
    }
    case CH_F_RING: {
        int perm[CH_NODES_MAX];
        for (int k = 0; k < n; k++)
            perm[k] = k + 1;
        for (int k = n - 1; k > 0; k--) {
            int j = (int)s_below(rng, (unsigned)(k + 1));
            int t = perm[k];
            perm[k] = perm[j];
            perm[j] = t;
        }
        int pos[CH_NODES_MAX + 1];
        for (int k = 0; k < n; k++)
            pos[perm[k]] = k;
        for (int a = 1; a <= n; a++)
            for (int b = a + 1; b <= n; b++) {
                int d = abs(pos[a] - pos[b]);
                if (d != 1 && d != n - 1)
                    s_cut_pair(f, a, b);
            }
        break;
    }
    case CH_F_LINK: {
        int a = 1 + (int)s_below(rng, (unsigned)n);
        int b = 1 + (int)s_below(rng, (unsigned)(n - 1));
        b += b >= a;
        f->f_links[a - 1] |= 1u << (b - 1);
        break;
    }
    case CH_F_DELAY: {
        int links = 1 + (int)s_below(rng, 3);
        for (int k = 0; k < links; k++) {
            int a = 1 + (int)s_below(rng, (unsigned)n);
            int b = 1 + (int)s_below(rng, (unsigned)(n - 1));
            b += b >= a;
            f->f_links[a - 1] |= 1u << (b - 1);
        }
        f->f_delay_ms = 20 + (int)s_below(rng, 481);
        break;
    }
    case CH_F_RESET: {
        int a = 1 + (int)s_below(rng, (unsigned)n);
        int b = 1 + (int)s_below(rng, (unsigned)(n - 1));
        b += b >= a;
        s_cut_pair(f, a, b);
        break;
    }
    default:
        break;
    }
}

/* Draw the whole schedule from the seed: checkpoints every --heal-every
 * seconds, faults between them, at most --max-faults at once, never two on
 * one node's process at once, each over before the next checkpoint. */
static int s_plan_make(unsigned seed)
{
    unsigned rng = seed ^ 0x5eedf00du;
    uint64_t dur = (uint64_t)s_o.o_duration * 1000;
    uint64_t every = (uint64_t)s_o.o_heal_every * 1000;
    size_t ncp = (size_t)(dur / every) + 2;
    s_checkpoints = calloc(ncp, sizeof *s_checkpoints);
    if (s_checkpoints == NULL)
        return -1;
    for (uint64_t t = every; t + every / 4 < dur; t += every)
        s_checkpoints[s_ncheckpoints++] = t;
    s_checkpoints[s_ncheckpoints++] = dur;

    size_t cap = 256;
    s_plan = calloc(cap, sizeof *s_plan);
    if (s_plan == NULL)
        return -1;
    int total = 0;
    for (int k = 0; k < CH_F_KINDS; k++)
        total += s_fweight[k];
    uint64_t busy[CH_NODES_MAX + 1] = {0}; /* node faults: the node is taken until */
    size_t cp = 0;
    uint64_t t = 1000 + s_below(&rng, 1000);
    while (t < dur && s_o.o_max_faults > 0) {
        while (cp < s_ncheckpoints && s_checkpoints[cp] <= t)
            cp++;
        uint64_t limit = cp < s_ncheckpoints ? s_checkpoints[cp] : dur;
        int active = 0;
        for (size_t k = s_nplan; k > 0; k--) {
            if (s_plan[k - 1].f_start + 10000 < t)
                break;
            active += s_plan[k - 1].f_end > t;
        }
        if (active < s_o.o_max_faults) {
            ch_fault f;
            memset(&f, 0, sizeof f);
            int pick = (int)s_below(&rng, (unsigned)total), kind = 0;
            while (pick >= s_fweight[kind])
                pick -= s_fweight[kind++];
            if (kind == CH_F_RING && s_n < 4)
                kind = CH_F_SPLIT;
            f.f_kind = (uint8_t)kind;
            f.f_cut = s_below(&rng, 100) < 70 ? LYP_MODE_BLACKHOLE : LYP_MODE_RESET;
            /* Mostly short; one in ten long enough for the peers to see the node or
             * link down (heartbeats) and catch up by anti-entropy afterwards. */
            uint64_t d = kind == CH_F_RESET        ? 200 + s_below(&rng, 800)
                         : s_below(&rng, 100) < 10 ? 5000 + s_below(&rng, 7000)
                                                   : 1000 + s_below(&rng, 4000);
            f.f_start = t;
            f.f_end = t + d;
            if (f.f_end + 300 > limit)
                f.f_end = limit > t + 500 ? limit - 300 : t;
            int ok = f.f_end > t + 150;
            if (ok && (kind == CH_F_KILL || kind == CH_F_STOP || kind == CH_F_ISOLATE)) {
                int node = 1 + (int)s_below(&rng, (unsigned)s_n);
                if (kind != CH_F_ISOLATE && busy[node] > t)
                    ok = 0;
                f.f_node = node;
                if (ok && kind != CH_F_ISOLATE)
                    busy[node] = f.f_end + 200;
            }
            if (ok) {
                s_plan_links(&f, &rng);
                if (s_nplan == cap) {
                    ch_fault *p = realloc(s_plan, cap * 2 * sizeof *p);
                    if (p == NULL)
                        return -1;
                    s_plan = p;
                    cap *= 2;
                }
                s_plan[s_nplan++] = f;
            }
        }
        t += 300 + s_below(&rng, 1200);
        if (cp < s_ncheckpoints && t >= limit && limit < dur)
            t = limit + 500 + s_below(&rng, 1000);
    }
    return 0;
}

/* ---- applying faults ---------------------------------------------------------------- */

static ch_fault *s_active[CH_ACTIVE_MAX + 1];
static int s_nactive;

/* Set every proxy to what the active faults ask (a cut wins over a delay). */
static void s_links_apply(void)
{
    for (int i = 0; i < s_n; i++)
        for (int j = 0; j < s_n; j++) {
            if (i == j)
                continue;
            lyp_mode mode = LYP_MODE_PASS;
            int delay = 0;
            for (int k = 0; k < s_nactive; k++) {
                const ch_fault *f = s_active[k];
                if (!((f->f_links[i] >> j) & 1))
                    continue;
                if (f->f_kind == CH_F_DELAY) {
                    delay = f->f_delay_ms > delay ? f->f_delay_ms : delay;
                } else {
                    lyp_mode cut = f->f_kind == CH_F_RESET  ? LYP_MODE_RESET
                                   : f->f_kind == CH_F_LINK ? LYP_MODE_BLACKHOLE
                                                            : f->f_cut;
                    if (mode != LYP_MODE_BLACKHOLE)
                        mode = cut;
                }
            }
            if (mode == LYP_MODE_PASS && delay > 0)
                mode = LYP_MODE_DELAY;
            if (mode == LYP_MODE_DELAY ? (s_link_mode[i][j] != mode || s_link_delay[i][j] != delay)
                                       : s_link_mode[i][j] != mode) {
                if (lyp_proxy_set_mode(lyn_net_link(s_net, i + 1, j + 1), mode, delay) != 0)
                    s_violation(CH_V_HARNESS, "unable to set link n%d -> n%d to %s", i + 1, j + 1,
                                lyp_mode_name(mode));
                s_link_mode[i][j] = mode;
                s_link_delay[i][j] = delay;
            }
        }
}

/* Restart node i (killed) and check it kept its incarnation and its events. */
static int s_restart(int i)
{
    lyh_node *nd = s_node(i);
    /* While a node is down, the kernel may hand its port to some other
     * connection as an ephemeral port: then the start fails and a later one
     * may succeed. */
    int up = -1;
    for (int tries = 0; tries < 5 && up != 0; tries++) {
        if (tries > 0) {
            fprintf(stderr, "loyalchaos: n%d did not restart; trying again\n", i);
            lyh_sleep_ms(1000);
        }
        up = lyh_node_up(nd, CH_READY_MS);
        if (up != 0 && nd->nd_pid > 0)
            break; /* it runs but does not answer: no second process beside it */
    }
    if (up != 0) {
        s_violation(CH_V_HARNESS, "n%d did not restart on its data directory", i);
        return -1;
    }
    atomic_store(&s_down[i], 0);
    ly_client *c = lyh_client(nd, CH_CHECK_CALL_MS);
    ly_err e = c != NULL ? s_status_check(c, i, "after a restart", NULL) : LY_ENOMEM;
    if (e != LY_OK)
        s_violation(CH_V_HARNESS, "n%d restarted but gave no status: %s", i, ly_errname(e));
    ly_client_destroy(&c);
    return 0;
}

static int s_fault_start(ch_fault *f)
{
    lyh_node *nd = f->f_node ? s_node(f->f_node) : NULL;
    if (s_o.o_verbose) {
        char at[32], links[512];
        size_t len = 0;
        links[0] = '\0';
        for (int i = 0; i < s_n; i++)
            for (int j = 0; j < s_n; j++)
                if (((f->f_links[i] >> j) & 1) && len + 16 < sizeof links)
                    len +=
                        (size_t)snprintf(links + len, sizeof links - len, " %d>%d", i + 1, j + 1);
        s_wall(s_ms(), at, sizeof at);
        fprintf(stderr, "loyalchaos: %s fault: %s, n%d, %s, %" PRIu64 " ms; links:%s\n", at,
                s_fnames[f->f_kind], f->f_node, lyp_mode_name(f->f_cut), f->f_end - f->f_start,
                len ? links : " none");
    }
    if (f->f_kind == CH_F_KILL) {
        atomic_store(&s_down[f->f_node], 1);
        if (lyh_node_kill(nd) != 0) {
            s_violation(CH_V_HARNESS, "n%d was not running when it was to be killed", f->f_node);
            return -1;
        }
    } else if (f->f_kind == CH_F_STOP) {
        atomic_store(&s_down[f->f_node], 2);
        if (nd->nd_pid <= 0 || kill(nd->nd_pid, SIGSTOP) != 0) {
            s_violation(CH_V_HARNESS, "unable to stop n%d", f->f_node);
            return -1;
        }
    }
    f->f_state = 1;
    s_active[s_nactive++] = f;
    s_faults_done[f->f_kind]++;
    s_links_apply();
    return 0;
}

static int s_fault_end(ch_fault *f)
{
    int rc = 0;
    if (s_o.o_verbose) {
        char at[32];
        s_wall(s_ms(), at, sizeof at);
        fprintf(stderr, "loyalchaos: %s healed: %s, n%d\n", at, s_fnames[f->f_kind], f->f_node);
    }
    for (int k = 0; k < s_nactive; k++)
        if (s_active[k] == f) {
            s_active[k] = s_active[--s_nactive];
            break;
        }
    f->f_state = 2;
    s_links_apply();
    if (f->f_kind == CH_F_KILL) {
        rc = s_restart(f->f_node);
    } else if (f->f_kind == CH_F_STOP) {
        lyh_node *nd = s_node(f->f_node);
        if (nd->nd_pid <= 0 || kill(nd->nd_pid, SIGCONT) != 0) {
            s_violation(CH_V_HARNESS, "unable to continue n%d", f->f_node);
            rc = -1;
        }
        atomic_store(&s_down[f->f_node], 0);
    }
    return rc;
}

static int s_heal_all(void)
{
    int rc = 0;
    while (s_nactive > 0)
        rc |= s_fault_end(s_active[s_nactive - 1]);
    s_links_apply();
    for (int i = 1; i <= s_n; i++) {
        int code = 0;
        if (!lyh_node_alive(s_node(i), &code)) {
            s_violation(CH_V_EXIT, "n%d died by itself (exit code %d); restarting it", i, code);
            lyh_print_tail(s_node(i)->nd_log, 30);
            rc |= s_restart(i);
        }
    }
    return rc;
}

/* ---- the checker -------------------------------------------------------------------- */

static ly_client *s_ccli[CH_NODES_MAX + 1]; /* the checker's clients */
static ly_rep *s_crp;
static int64_t *s_conv_ms; /* convergence after each heal */
static size_t s_nconv;
static long s_replays_checked, s_events_checked, s_customer_checks;
static uint64_t s_checked_seq[CH_NODES_MAX + 1]; /* events listed per origin */
static uint64_t s_transfers;

/* A call of the checker to node i; retried on a timeout. LY_OK: *rp holds the reply. */
static ly_err s_ccall(int i, ly_req *rq, ly_rep *rp)
{
    ly_err e = LY_ETIMEDOUT;
    for (int tries = 0; tries < 3; tries++) {
        e = ly_client_call(s_ccli[i], rq, rp);
        if (e == LY_OK && rp->rp_err != LY_EUNAVAIL)
            return LY_OK;
        ly_rep_fini(rp);
        lyh_sleep_ms(200);
    }
    return e == LY_OK ? LY_EUNAVAIL : e;
}

static uint64_t s_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t k = 0; k < n; k++) {
        h ^= b[k];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t s_event_print(const ly_event *ev)
{
    uint64_t h = 14695981039346656037ULL;
#define CH_H(x) h = s_fnv(h, &(x), sizeof(x))
    CH_H(ev->ev_origin);
    CH_H(ev->ev_incarnation);
    CH_H(ev->ev_seq);
    CH_H(ev->ev_hlc);
    CH_H(ev->ev_type);
    CH_H(ev->ev_ref_type);
    CH_H(ev->ev_to);
    CH_H(ev->ev_fields);
    CH_H(ev->ev_amount);
    CH_H(ev->ev_points);
    CH_H(ev->ev_qual);
    CH_H(ev->ev_req_hash);
#undef CH_H
    h = s_fnv(h, ev->ev_customer, strlen(ev->ev_customer) + 1);
    h = s_fnv(h, ev->ev_txn, strlen(ev->ev_txn) + 1);
    h = s_fnv(h, ev->ev_ref_txn, strlen(ev->ev_ref_txn) + 1);
    h = s_fnv(h, &ev->ev_part, sizeof ev->ev_part);
    h = s_fnv(h, ev->ev_blob, ev->ev_blob_len);
    return h;
}

/* The once keys, as the checker folds them from the events it lists. An
 * event's once key is its transaction id, or join:<customer> for an enroll;
 * as the runner enrolls each customer with one operation, both select the
 * events of one operation (an enroll of c under another operation's id is a
 * phantom), so a key's events are those accounted to its op (op_win_*).
 * Profile changes have no once key at the nodes (rules.h: last writer wins
 * per field, and a retry carries the same fields): their duplicates are
 * counted apart, and a replay names the smallest one all the same. */
typedef struct ch_voids {
    long cv_events;                         /* its events that do not count */
    long cv_dups;                           /* ... and its duplicated profile changes */
    int64_t cv_credit;                      /* their credits (earns, + adjustments, join bonuses) */
    int64_t cv_credit_at[CH_NODES_MAX + 1]; /* ... by the node that made them */
} ch_voids;

static ch_voids *s_voids;   /* [customer] */
static long s_voided;       /* events that do not count: duplicates of their key's winner */
static long s_prof_dups;    /* duplicated profile changes (no once key at the nodes) */
static long s_dup_keys;     /* once keys (and profile changes) with more than one event */
static long s_hist_checked; /* history entries whose void / counts was checked */
/* At the last checkpoint: the nodes' own counts (status), lowest and highest. */
static uint64_t s_ns_dup_lo, s_ns_dup_hi, s_ns_conf_lo, s_ns_conf_hi;
static int s_ns_seen;
static long s_conflicts; /* once keys whose events carry different request fingerprints */
/* At the last check: the voided credits (the double_spend and rights
 * allowance), what of it was spent, and by how many customers. */
static int64_t s_allowed, s_used;
static long s_used_custs;

/* Whether `ev` comes before op's winner: (hlc, origin, incarnation, seq). */
static int s_ev_before(const ly_event *ev, const ch_op *op)
{
    if (ev->ev_hlc != op->op_win_hlc)
        return ev->ev_hlc < op->op_win_hlc;
    if (ev->ev_origin != op->op_win_origin)
        return ev->ev_origin < op->op_win_origin;
    if (ev->ev_incarnation != op->op_win_inc)
        return ev->ev_incarnation < op->op_win_inc;
    return ev->ev_seq < op->op_win_seq;
}

static void s_win(ch_op *op, const ly_event *ev)
{
    op->op_win_origin = ev->ev_origin;
    op->op_win_inc = ev->ev_incarnation;
    op->op_win_seq = ev->ev_seq;
    op->op_win_hlc = ev->ev_hlc;
    op->op_win_points = ev->ev_points;
}

/* An event of op made by `origin` with `points` does not count. */
static void s_void(const ch_op *op, uint16_t origin, int64_t points)
{
    ch_voids *v = &s_voids[op->op_cust];
    int credit = op->op_type == LY_MSG_EARN || op->op_type == LY_MSG_ENROLL ||
                 (op->op_type == LY_MSG_ADJUST && points > 0);
    v->cv_dups++;
    if (op->op_type == LY_MSG_SET_PROFILE) {
        s_prof_dups++;
        return;
    }
    v->cv_events++;
    s_voided++;
    if (credit && points > 0) {
        v->cv_credit += points;
        if (origin >= 1 && origin <= s_n)
            v->cv_credit_at[origin] += points;
    }
}

/* Whether op says which ev_amount its events carry: the amount sent (a full
 * refund's is what was left, an enrollment's and a profile's none). */
static int s_says_amount(const ch_op *op)
{
    switch (op->op_type) {
    case LY_MSG_EARN:
    case LY_MSG_REDEEM:
    case LY_MSG_ADJUST:
        return 1;
    case LY_MSG_REVERSE:
        return !(op->op_flags & CH_OF_FULL);
    default:
        return 0;
    }
}

/* Account one event (as listed by n1) against the operations. */
static void s_account_event(const ly_event *ev)
{
    s_events_checked++;
    if (ev->ev_type == LY_EV_PROGRAM) { /* the run's program (s_net_up), made at n1 */
        if (ev->ev_origin != 1 || ev->ev_program != 1)
            s_violation(CH_V_PHANTOM, "program event %u:%" PRIu64 " (version %u) was never applied",
                        (unsigned)ev->ev_origin, ev->ev_seq, (unsigned)ev->ev_program);
        return;
    }
    if (ev->ev_type == LY_EV_TRANSFER) {
        s_transfers++;
        if (ev->ev_txn[0] != '\0' || ev->ev_points <= 0 || ev->ev_to == ev->ev_origin)
            s_violation(CH_V_PHANTOM,
                        "transfer %u:%" PRIu64 " is malformed (txn '%s', %" PRId64
                        " points to n%u)",
                        (unsigned)ev->ev_origin, ev->ev_seq, ev->ev_txn, ev->ev_points,
                        (unsigned)ev->ev_to);
        return;
    }
    int wi;
    size_t idx;
    if (s_txn_parse(ev->ev_txn, &wi, &idx) != 0) {
        s_violation(CH_V_PHANTOM,
                    "event %u:%" PRIu64 " (%s of %s) has transaction id '%s', "
                    "which no client of this run sent",
                    (unsigned)ev->ev_origin, ev->ev_seq, ly_evtype_name(ev->ev_type),
                    ev->ev_customer, ev->ev_txn);
        return;
    }
    ch_op *op = &s_workers[wi].w_ops[idx];
    char cust[32];
    s_cust_name(op->op_cust, cust, sizeof cust);
    if (op->op_nevents < UINT8_MAX)
        op->op_nevents++;
    /* Each branch knows its own transaction ids: one event per branch it was
     * sent to at most, and only one in all unless retries go elsewhere. */
    int branches = __builtin_popcount(op->op_sent);
    if (op->op_nevents > (s_o.o_retry_elsewhere > 0 ? branches : 1))
        s_violation(CH_V_DUP,
                    "%s (%s of %s at n%u, sent to %d branch%s) has %u events; this one is "
                    "%u:%" PRIu64 " (the reply named %u:%" PRIu64 ")",
                    ev->ev_txn, ly_msgtype_name(op->op_type), cust, (unsigned)op->op_node, branches,
                    branches == 1 ? "" : "es", (unsigned)op->op_nevents, (unsigned)ev->ev_origin,
                    ev->ev_seq, (unsigned)op->op_origin, op->op_seq);
    if (ev->ev_origin < 1 || ev->ev_origin > s_n || !(op->op_sent & (1u << (ev->ev_origin - 1))))
        s_violation(CH_V_PHANTOM, "event %u:%" PRIu64 " applies %s, which was never sent to n%u",
                    (unsigned)ev->ev_origin, ev->ev_seq, ev->ev_txn, (unsigned)ev->ev_origin);
    if (op->op_state == CH_REFUSED) {
        char first[32], last[32];
        s_wall(op->op_first_ms, first, sizeof first);
        s_wall(op->op_last_ms, last, sizeof last);
        s_violation(CH_V_PHANTOM,
                    "%s (%s of %s, %" PRId64 ", at n%u) was refused (%s) at %s after %u attempts "
                    "(the first at %s), but event %u:%" PRIu64 " applies it",
                    ev->ev_txn, ly_msgtype_name(op->op_type), cust, op->op_amount,
                    (unsigned)op->op_node, ly_errname((ly_err)op->op_err), last,
                    (unsigned)op->op_tries, first, (unsigned)ev->ev_origin, ev->ev_seq);
    }
    if ((int)ev->ev_type != ly_msgtype_evtype(op->op_type) || strcmp(ev->ev_customer, cust) != 0)
        s_violation(CH_V_PHANTOM,
                    "event %u:%" PRIu64 " with %s is a %s of %s, the operation a %s "
                    "of %s",
                    (unsigned)ev->ev_origin, ev->ev_seq, ev->ev_txn, ly_evtype_name(ev->ev_type),
                    ev->ev_customer, ly_msgtype_name(op->op_type), cust);
    if (op->op_state == CH_ACKED && ev->ev_origin == op->op_origin && ev->ev_seq == op->op_seq)
        op->op_idseen = 1;
    if (op->op_state == CH_ACKED && ev->ev_origin == op->op_origin && ev->ev_seq == op->op_seq &&
        ev->ev_points != op->op_points)
        s_violation(CH_V_SEQ,
                    "%s was acknowledged as event %u:%" PRIu64 " with %" PRId64
                    " points, but that event holds %" PRId64 " points",
                    ev->ev_txn, (unsigned)op->op_origin, op->op_seq, op->op_points, ev->ev_points);
    if (s_says_amount(op) && ev->ev_amount != op->op_amount)
        s_violation(CH_V_PHANTOM,
                    "event %u:%" PRIu64 " applies %s (%s of %s) with the amount %" PRId64
                    ", but %" PRId64 " was sent",
                    (unsigned)ev->ev_origin, ev->ev_seq, ev->ev_txn, ly_msgtype_name(op->op_type),
                    cust, ev->ev_amount, op->op_amount);

    /* The once key: the smallest event counts, every other one is void. */
    if (op->op_nevents == 1) {
        s_win(op, ev);
        op->op_req_hash = ev->ev_req_hash;
        return;
    }
    if (op->op_nevents == 2)
        s_dup_keys++;
    if (ev->ev_req_hash != op->op_req_hash && !(op->op_flags & CH_OF_CONFLICT)) {
        op->op_flags |= CH_OF_CONFLICT;
        s_conflicts++;
        s_violation(CH_V_CONFLICT,
                    "%s (%s of %s): event %u:%" PRIu64 " carries the request fingerprint "
                    "%016" PRIx64 ", an earlier one %016" PRIx64 ", but every attempt sent the "
                    "same request",
                    ev->ev_txn, ly_msgtype_name(op->op_type), cust, (unsigned)ev->ev_origin,
                    ev->ev_seq, ev->ev_req_hash, op->op_req_hash);
    }
    if (s_ev_before(ev, op)) {
        s_void(op, op->op_win_origin, op->op_win_points);
        s_win(op, ev);
    } else {
        s_void(op, ev->ev_origin, ev->ev_points);
    }
}

/* List the events of `origin` with seq in (from, to] at node i into prints[],
 * accounting each (s_account_event) if `account`. Returns how many were listed
 * in order, or -1 on a failed call. */
static long s_list(int i, uint16_t origin, uint64_t from, uint64_t to, uint64_t *prints,
                   int account)
{
    uint64_t at = from;
    while (at < to) {
        ly_req rq;
        ly_req_init(&rq, LY_MSG_EVENTS);
        rq.rq_origin = origin;
        rq.rq_since = at;
        rq.rq_limit = CH_EVENTS_PAGE;
        if (s_ccall(i, &rq, s_crp) != LY_OK)
            return -1;
        if (s_crp->rp_err != LY_OK) {
            s_violation(CH_V_REPLY, "events of %u since %" PRIu64 " at n%d: %s", (unsigned)origin,
                        at, i, ly_errname((ly_err)s_crp->rp_err));
            ly_rep_fini(s_crp);
            return -1;
        }
        uint32_t got = s_crp->rp_nevents;
        int stop = got == 0;
        for (uint32_t k = 0; k < got && at < to; k++) {
            const ly_event *ev = &s_crp->rp_events[k];
            if (ev->ev_origin != origin || ev->ev_seq != at + 1) {
                stop = 1;
                break;
            }
            prints[at - from] = s_event_print(ev);
            if (account)
                s_account_event(ev);
            at++;
        }
        ly_rep_fini(s_crp);
        if (stop)
            break;
    }
    return (long)(at - from);
}

/* Every node holds the same events under the same ids; account them. `vv`: the
 * converged version vector (of n1). */
static void s_check_events(const ly_node_status *vv)
{
    for (uint32_t k = 0; k < vv->ns_nvv && k < LY_VV_MAX; k++) {
        uint16_t o = vv->ns_vv[k].origin;
        uint64_t to = vv->ns_vv[k].seq;
        if (o < 1 || o > s_n) {
            s_violation(CH_V_PHANTOM,
                        "n1 holds events of origin %u, which is not a node of this "
                        "chain",
                        (unsigned)o);
            continue;
        }
        uint64_t from = s_checked_seq[o];
        if (to <= from)
            continue;
        size_t cnt = (size_t)(to - from);
        uint64_t *ref = malloc(cnt * sizeof *ref), *other = malloc(cnt * sizeof *other);
        if (ref == NULL || other == NULL) {
            s_violation(CH_V_HARNESS, "out of memory listing %zu events", cnt);
            free(ref);
            free(other);
            return;
        }
        long got = s_list(1, o, from, to, ref, 1);
        if (got != (long)cnt) {
            s_violation(CH_V_LOST,
                        "n1 listed %ld of the events %u:%" PRIu64 "..%" PRIu64
                        " its version vector covers",
                        got, (unsigned)o, from + 1, to);
        } else {
            for (int i = 2; i <= s_n; i++) {
                long g = s_list(i, o, from, to, other, 0);
                if (g != (long)cnt) {
                    s_violation(CH_V_LOST,
                                "n%d listed %ld of the events %u:%" PRIu64 "..%" PRIu64
                                " (n1 holds them all)",
                                i, g, (unsigned)o, from + 1, to);
                    continue;
                }
                for (size_t q = 0; q < cnt; q++)
                    if (other[q] != ref[q]) {
                        s_violation(CH_V_SEQ,
                                    "event %u:%" PRIu64 " differs at n1 and n%d: one "
                                    "event id names two events",
                                    (unsigned)o, from + 1 + q, i);
                        break;
                    }
            }
            s_checked_seq[o] = to;
        }
        free(ref);
        free(other);
    }
    /* Every decided operation has its events now: one if acknowledged, none if refused. */
    for (int wi = 0; wi <= s_nworkers; wi++) {
        ch_worker *w = &s_workers[wi];
        int blocked = 0;
        for (size_t idx = w->w_checked; idx < w->w_nops; idx++) {
            ch_op *op = &w->w_ops[idx];
            if (op->op_state != CH_ACKED && op->op_state != CH_REFUSED) {
                blocked = 1;
                continue;
            }
            if (op->op_state == CH_ACKED && op->op_nevents == 0) {
                char txn[LY_ID_MAX + 1];
                s_txn(w->w_id, idx, txn, sizeof txn);
                s_violation(CH_V_LOST,
                            "%s (%s of c%05d, %" PRId64 " points, acknowledged by n%d "
                            "as event %u:%" PRIu64 ") is held by no node",
                            txn, ly_msgtype_name(op->op_type), op->op_cust, op->op_points,
                            op->op_node, (unsigned)op->op_origin, op->op_seq);
                op->op_nevents = 1; /* reported once */
                op->op_idseen = 1;
            } else if (op->op_state == CH_ACKED && !op->op_idseen) {
                char txn[LY_ID_MAX + 1];
                s_txn(w->w_id, idx, txn, sizeof txn);
                s_violation(CH_V_SEQ,
                            "%s (%s of c%05d) was acknowledged by n%d as event %u:%" PRIu64
                            ", but that event id holds another event and its own event has "
                            "another id",
                            txn, ly_msgtype_name(op->op_type), op->op_cust, op->op_node,
                            (unsigned)op->op_origin, op->op_seq);
                op->op_idseen = 1; /* reported once */
            }
            if (!blocked)
                w->w_checked = idx + 1;
        }
    }
}

/* What operations say about one customer: the acknowledged ones by their
 * replies' rp_points, or the once keys by the ev_points of their winners. */
typedef struct ch_sums {
    int64_t a_net;        /* sum of the points */
    int64_t a_earned;     /* earns + positive adjustments + join bonuses */
    int64_t a_spent;      /* redemptions + negative adjustments */
    int64_t a_given_back; /* refunds of redemptions */
    int64_t a_taken_back; /* refunds of earns (positive) */
    int64_t a_taken_at[CH_NODES_MAX + 1];
} ch_sums;

typedef struct ch_acct {
    ch_sums a_ack; /* the acknowledged operations (rp_points, and the node the reply named) */
    ch_sums a_win; /* the events that count (ev_points, and the node that made them) */
    int a_undecided;
} ch_acct;

/* Add an operation of `op`'s kind that changed the balance by `points` at `node`. */
static void s_sum(ch_sums *a, const ch_op *op, int64_t points, int node)
{
    a->a_net += points;
    switch (op->op_type) {
    case LY_MSG_ENROLL:
    case LY_MSG_EARN:
        a->a_earned += points;
        break;
    case LY_MSG_ADJUST:
        if (points > 0)
            a->a_earned += points;
        else
            a->a_spent += -points;
        break;
    case LY_MSG_REDEEM:
        a->a_spent += -points;
        break;
    case LY_MSG_REVERSE:
        if (op->op_ref_type == LY_MSG_REDEEM) {
            a->a_given_back += points;
        } else {
            a->a_taken_back += -points;
            if (node >= 1 && node <= s_n)
                a->a_taken_at[node] += -points;
        }
        break;
    default:
        break;
    }
}

static void s_accounts(ch_acct *acct)
{
    memset(acct, 0, (size_t)s_ncust_all * sizeof *acct);
    for (int wi = 0; wi <= s_nworkers; wi++) {
        const ch_worker *w = &s_workers[wi];
        for (size_t idx = 0; idx < w->w_nops; idx++) {
            const ch_op *op = &w->w_ops[idx];
            ch_acct *a = &acct[op->op_cust];
            if (op->op_nevents > 0)
                s_sum(&a->a_win, op, op->op_win_points, op->op_win_origin);
            if (op->op_state != CH_ACKED) {
                a->a_undecided += op->op_state != CH_REFUSED;
                continue;
            }
            s_sum(&a->a_ack, op, op->op_points, op->op_origin);
        }
    }
}

static int64_t s_rights_of(const ly_rep *rp, int node)
{
    for (uint32_t k = 0; k < rp->rp_nrights && k < LY_RIGHTS_REPLY_MAX; k++)
        if (rp->rp_rights[k].node == node)
            return rp->rp_rights[k].points;
    return 0;
}

/* The history node i shows of a customer with duplicates (its newest
 * LY_HIST_MAX events) against the once keys: the event that counts is not
 * void, every other one of its key is void and names it. */
static void s_check_hist(const ly_rep *rp, int i, const char *cust)
{
    for (uint32_t q = 0; q < rp->rp_nhist && rp->rp_hist != NULL; q++) {
        const ly_hist *h = &rp->rp_hist[q];
        int wi;
        size_t idx;
        if (h->hi_type == LY_EV_TRANSFER || h->hi_type == LY_EV_PROFILE ||
            s_txn_parse(h->hi_txn, &wi, &idx) != 0)
            continue; /* transfers and profiles have no once key; phantoms are reported */
        const ch_op *op = &s_workers[wi].w_ops[idx];
        if (op->op_nevents == 0)
            continue; /* not listed: reported as lost or phantom */
        s_hist_checked++;
        int counts = h->hi_origin == op->op_win_origin && h->hi_hlc == op->op_win_hlc;
        if (counts && h->hi_void)
            s_violation(CH_V_DUP,
                        "%s at n%d: the history shows %s's event of n%u as void (naming %u:%" PRIu64
                        " as the one that counts), but it is the smallest of its %u",
                        cust, i, h->hi_txn, (unsigned)h->hi_origin, (unsigned)h->hi_win_origin,
                        h->hi_win_seq, (unsigned)op->op_nevents);
        else if (!counts && !h->hi_void)
            s_violation(CH_V_DUP,
                        "%s at n%d: the history counts %s's event of n%u, and %u:%" PRIu64
                        " counts for it too (the smallest of its %u): two count",
                        cust, i, h->hi_txn, (unsigned)h->hi_origin, (unsigned)op->op_win_origin,
                        op->op_win_seq, (unsigned)op->op_nevents);
        else if (!counts &&
                 (h->hi_win_origin != op->op_win_origin || h->hi_win_seq != op->op_win_seq))
            s_violation(
                CH_V_DUP,
                "%s at n%d: the history shows %s's event of n%u as a duplicate of %u:%" PRIu64
                ", but %u:%" PRIu64 " counts (the smallest of its %u)",
                cust, i, h->hi_txn, (unsigned)h->hi_origin, (unsigned)h->hi_win_origin,
                h->hi_win_seq, (unsigned)op->op_win_origin, op->op_win_seq,
                (unsigned)op->op_nevents);
    }
}

/* Every customer at every node against the acknowledged operations. */
static void s_check_customers(void)
{
    ch_acct *acct = calloc((size_t)s_ncust_all, sizeof *acct);
    ly_rep *first = malloc(sizeof *first);
    if (acct == NULL || first == NULL) {
        s_violation(CH_V_HARNESS, "out of memory checking customers");
        free(acct);
        free(first);
        return;
    }
    s_accounts(acct);
    s_allowed = s_used = 0;
    s_used_custs = 0;
    for (int k = 0; k < s_ncust_all; k++) {
        const ch_sums *ack = &acct[k].a_ack, *win = &acct[k].a_win;
        const ch_voids *v = &s_voids[k];
        char cust[32];
        s_cust_name(k, cust, sizeof cust);
        if (!atomic_load(&s_cust_ready[k]))
            continue;
        /* A voided credit its branch spent before it saw the one that counts is
         * spent without a counting credit: allowed up to the voided credits. */
        int64_t over = win->a_spent - win->a_given_back - win->a_earned;
        s_allowed += v->cv_credit;
        if (over > 0 && over <= v->cv_credit) {
            s_used += over;
            s_used_custs++;
        }
        if (over > v->cv_credit)
            s_violation(CH_V_DOUBLE_SPEND,
                        "%s: %" PRId64 " points redeemed or taken by "
                        "adjustments (less %" PRId64 " given back by refunds) of %" PRId64
                        " earned (by the events that count; %" PRId64 " more were credited by "
                        "voided duplicates)",
                        cust, win->a_spent, win->a_given_back, win->a_earned, v->cv_credit);
        else if (v->cv_events == 0 && ack->a_spent - ack->a_given_back > ack->a_earned)
            s_violation(CH_V_DOUBLE_SPEND,
                        "%s: %" PRId64 " points redeemed or taken by "
                        "adjustments (less %" PRId64 " given back by refunds) of %" PRId64
                        " earned",
                        cust, ack->a_spent, ack->a_given_back, ack->a_earned);
        int have_first = 0;
        for (int i = 1; i <= s_n; i++) {
            ly_req rq;
            ly_req_init(&rq, LY_MSG_CUSTOMER);
            snprintf(rq.rq_customer, sizeof rq.rq_customer, "%s", cust);
            rq.rq_limit = v->cv_events > 0 ? LY_HIST_MAX : 1;
            ly_err e = s_ccall(i, &rq, s_crp);
            if (e != LY_OK || s_crp->rp_err != LY_OK) {
                s_violation(e == LY_OK ? CH_V_LOST : CH_V_HARNESS, "%s at n%d: %s", cust, i,
                            e == LY_OK ? ly_errname((ly_err)s_crp->rp_err) : ly_errname(e));
                if (e == LY_OK)
                    ly_rep_fini(s_crp);
                continue;
            }
            s_customer_checks++;
            const ly_rep *rp = s_crp;
            s_check_read(rp, i, k, win->a_taken_back + v->cv_credit, "checkpoint");
            if (v->cv_events > 0)
                s_check_hist(rp, i, cust);
            int64_t got = rp->rp_balance - rp->rp_debt;
            if (!acct[k].a_undecided && got != win->a_net)
                s_violation(CH_V_BALANCE,
                            "%s at n%d: balance %" PRId64 " debt %" PRId64 " (net %" PRId64
                            "), but the events that count add up to %" PRId64 " (earned %" PRId64
                            ", spent %" PRId64 ", refunds gave back %" PRId64
                            " and took back %" PRId64 "; %ld voided)",
                            cust, i, rp->rp_balance, rp->rp_debt, got, win->a_net, win->a_earned,
                            win->a_spent, win->a_given_back, win->a_taken_back, v->cv_events);
            else if (!acct[k].a_undecided && v->cv_events == 0 && got != ack->a_net)
                s_violation(CH_V_BALANCE,
                            "%s at n%d: balance %" PRId64 " debt %" PRId64 " (net %" PRId64
                            "), but the acknowledged operations add up to %" PRId64
                            " (earned %" PRId64 ", spent %" PRId64 ", refunds gave back %" PRId64
                            " and took back %" PRId64 ")",
                            cust, i, rp->rp_balance, rp->rp_debt, got, ack->a_net, ack->a_earned,
                            ack->a_spent, ack->a_given_back, ack->a_taken_back);
            int64_t own = s_rights_of(rp, i);
            int64_t may = own < 0 ? 0 : own < rp->rp_balance ? own : rp->rp_balance;
            if (rp->rp_local_rights != may)
                s_violation(CH_V_RIGHTS,
                            "%s at n%d: may redeem %" PRId64 ", but its row holds "
                            "%" PRId64 " of a balance of %" PRId64,
                            cust, i, rp->rp_local_rights, own, rp->rp_balance);
            /* A row goes below zero by what refunds of earns took back there,
             * and by voided credits made there, which it may have spent or
             * given away before it saw the ones that count. */
            for (uint32_t q = 0; q < rp->rp_nrights && q < LY_RIGHTS_REPLY_MAX; q++) {
                int x = rp->rp_rights[q].node;
                int in = x >= 1 && x <= s_n;
                int64_t taken = in ? win->a_taken_at[x] : 0, voided = in ? v->cv_credit_at[x] : 0;
                if (rp->rp_rights[q].points < -(taken + voided))
                    s_violation(CH_V_RIGHTS,
                                "%s at n%d: n%d holds %" PRId64 " rights, but refunds "
                                "of earns there took back only %" PRId64 " and voided credits "
                                "made there come to %" PRId64 ": n%d redeemed rights it did not "
                                "hold",
                                cust, i, x, rp->rp_rights[q].points, taken, voided, x);
            }
            if (!have_first) {
                *first = *rp;
                first->rp_events = NULL; /* owned by rp: not kept */
                first->rp_debts = NULL;
                first->rp_status = NULL;
                first->rp_hist = NULL;
                first->rp_conflicts = NULL;
                have_first = 1;
            } else {
                int same = rp->rp_balance == first->rp_balance && rp->rp_debt == first->rp_debt &&
                           rp->rp_lifetime == first->rp_lifetime &&
                           strcmp(rp->rp_tier, first->rp_tier) == 0 &&
                           rp->rp_nrights == first->rp_nrights;
                for (int x = 1; x <= s_n && same; x++)
                    same = s_rights_of(rp, x) == s_rights_of(first, x);
                if (!same)
                    s_violation(CH_V_BALANCE,
                                "%s: n1 shows balance %" PRId64 " debt %" PRId64
                                " lifetime %" PRId64 " tier %s, n%d balance %" PRId64
                                " debt %" PRId64 " lifetime %" PRId64 " tier %s (or their "
                                "rights differ), in a converged chain",
                                cust, first->rp_balance, first->rp_debt, first->rp_lifetime,
                                first->rp_tier, i, rp->rp_balance, rp->rp_debt, rp->rp_lifetime,
                                rp->rp_tier);
            }
            ly_rep_fini(s_crp);
        }
    }
    free(first);
    free(acct);
}

/* Send an acknowledged op again to every node: each must answer it as a replay
 * of the event that counts (the one its reply named, unless a duplicate came
 * before it), with that event's points. */
static void s_replay_one(ch_worker *w, size_t idx)
{
    const ch_op *op = &w->w_ops[idx];
    int known = op->op_nevents > 0;
    uint16_t want_origin = known ? op->op_win_origin : op->op_origin;
    uint64_t want_seq = known ? op->op_win_seq : op->op_seq;
    int64_t want_points = known ? op->op_win_points : op->op_points;
    for (int i = 1; i <= s_n; i++) {
        ly_req rq;
        s_build(w, idx, &rq);
        ly_err e = s_ccall(i, &rq, s_crp);
        s_replays_checked++;
        if (e != LY_OK) {
            s_violation(CH_V_HARNESS, "replay of %s at n%d: %s", rq.rq_txn, i, ly_errname(e));
            continue;
        }
        const ly_rep *rp = s_crp;
        if (rp->rp_err != LY_OK)
            s_violation(CH_V_LOST,
                        "%s (%s of c%05d, acknowledged as %u:%" PRIu64 ") sent again "
                        "to n%d: refused %s: %s",
                        rq.rq_txn, ly_msgtype_name(op->op_type), op->op_cust,
                        (unsigned)op->op_origin, op->op_seq, i, ly_errname((ly_err)rp->rp_err),
                        rp->rp_message);
        else if (!rp->rp_replayed)
            s_violation(CH_V_LOST,
                        "%s (%s of c%05d, acknowledged as %u:%" PRIu64 ") sent again "
                        "to n%d was applied anew as %u:%" PRIu64 ": its transaction index lacked "
                        "it",
                        rq.rq_txn, ly_msgtype_name(op->op_type), op->op_cust,
                        (unsigned)op->op_origin, op->op_seq, i, (unsigned)rp->rp_origin,
                        rp->rp_seq);
        else if (rp->rp_points != want_points || rp->rp_origin != want_origin ||
                 rp->rp_seq != want_seq)
            s_violation(rp->rp_origin != want_origin || rp->rp_seq != want_seq ? CH_V_DUP
                                                                               : CH_V_REPLY,
                        "%s sent again to n%d: replayed as %u:%" PRIu64 " with %" PRId64
                        " points; acknowledged as %u:%" PRIu64 " with %" PRId64
                        " points, and the event that counts of its %u is %u:%" PRIu64
                        " with %" PRId64 " points",
                        rq.rq_txn, i, (unsigned)rp->rp_origin, rp->rp_seq, rp->rp_points,
                        (unsigned)op->op_origin, op->op_seq, op->op_points,
                        (unsigned)op->op_nevents, (unsigned)want_origin, want_seq, want_points);
        ly_rep_fini(s_crp);
    }
}

static void s_check_replays(unsigned *rng)
{
    size_t fresh = 0, unknown = 0;
    for (int wi = 0; wi <= s_nworkers; wi++) {
        const ch_worker *w = &s_workers[wi];
        for (size_t idx = w->w_replayed; idx < w->w_nops; idx++)
            fresh += w->w_ops[idx].op_state == CH_ACKED;
    }
    for (int wi = 0; wi <= s_nworkers; wi++) {
        ch_worker *w = &s_workers[wi];
        int blocked = 0;
        for (size_t idx = w->w_replayed; idx < w->w_nops; idx++) {
            const ch_op *op = &w->w_ops[idx];
            if (op->op_state != CH_ACKED) {
                blocked |= op->op_state != CH_REFUSED;
            } else {
                /* Every key with duplicates; those once unknown up to a bound. */
                int pick = op->op_nevents > 1 ||
                           ((op->op_flags & CH_OF_WAS_UNKNOWN) && unknown < CH_REPLAY_UNKNOWN);
                unknown += pick;
                if (!pick && fresh > 0)
                    pick = s_below(rng, (unsigned)fresh) < CH_REPLAY_SAMPLE;
                if (pick)
                    s_replay_one(w, idx);
            }
            if (!blocked)
                w->w_replayed = idx + 1;
        }
    }
}

static void s_check_verify(void)
{
    uint64_t t0 = lyh_now_ms();
    for (;;) {
        lyh_output out;
        int code = lyh_loyalctl(&out, 60000, "--node", s_node(1)->nd_listen, "verify", NULL);
        if (code == 0) {
            lyh_output_fini(&out);
            return;
        }
        /* A rights request that arrives after its redemption gave up is still
         * honoured: a late transfer may be on its way. Give it a moment. */
        if (lyh_now_ms() - t0 >= CH_VERIFY_MS) {
            s_violation(CH_V_VERIFY, "loyalctl verify exited %d:\n%s%s", code, out.ou_out,
                        out.ou_err);
            lyh_output_fini(&out);
            return;
        }
        lyh_output_fini(&out);
        lyh_sleep_ms(500);
    }
}

/* Heal, decide, converge, check. Returns 0, or -1 if the run cannot go on. */
static int s_checkpoint(int final, int number, unsigned *rng)
{
    uint64_t t0 = lyh_now_ms();
    if (s_heal_all() != 0)
        return -1;
    uint64_t healed = lyh_now_ms();
    if ((final ? s_stop_workers(CH_DECIDE_MS + 30000)
               : s_set_phase(CH_PAUSE, CH_DECIDE_MS + 30000)) != 0) {
        s_violation(CH_V_UNDECIDED, "the clients did not settle within %d s of a heal",
                    CH_DECIDE_MS / 1000 + 30);
        return -1;
    }
    for (int wi = 1; wi <= s_nworkers; wi++) {
        const ch_worker *w = &s_workers[wi];
        for (size_t k = 0; k < w->w_npending; k++) {
            size_t idx = w->w_pending[k];
            s_violation(CH_V_UNDECIDED,
                        "w%d-%zu (%s at n%d) still has no answer %d s after "
                        "the heal (%u tries)",
                        w->w_id, idx, ly_msgtype_name(w->w_ops[idx].op_type), w->w_ops[idx].op_node,
                        CH_DECIDE_MS / 1000, (unsigned)w->w_ops[idx].op_tries);
        }
    }
    int64_t conv = lyh_chain_wait_converged(s_chain, CH_CONVERGE_MS);
    if (conv < 0) {
        s_violation(CH_V_CONVERGE,
                    "the chain did not converge within %d s of heal %d (states "
                    "above)",
                    CH_CONVERGE_MS / 1000, number);
        return -1;
    }
    int64_t conv_ms = (int64_t)(lyh_now_ms() - healed);
    s_conv_ms[s_nconv++] = conv_ms;
    ly_node_status ref;
    memset(&ref, 0, sizeof ref);
    uint64_t dups[CH_NODES_MAX + 1] = {0}, confs[CH_NODES_MAX + 1] = {0};
    int have[CH_NODES_MAX + 1] = {0};
    for (int i = 1; i <= s_n; i++) {
        ly_node_status st;
        ly_err e = s_status_check(s_ccli[i], i, "at a checkpoint", &st);
        if (e != LY_OK)
            s_violation(CH_V_HARNESS, "status of n%d at a checkpoint: %s", i, ly_errname(e));
        else {
            dups[i] = st.ns_duplicates;
            confs[i] = st.ns_conflicts;
            have[i] = 1;
        }
        if (e == LY_OK && i == 1)
            ref = st;
    }
    long before = s_violations();
    if (ref.ns_id == 1)
        s_check_events(&ref);
    /* Converged: every node holds the events the checker listed, and so the
     * same void duplicates and conflicts. */
    s_ns_seen = 0;
    for (int i = 1; i <= s_n && ref.ns_id == 1; i++) {
        if (!have[i])
            continue;
        if (dups[i] != (uint64_t)s_voided)
            s_violation(CH_V_DUP,
                        "n%d counts %" PRIu64 " void duplicates, the once keys of the events "
                        "listed give %ld",
                        i, dups[i], s_voided);
        if (confs[i] != (uint64_t)s_conflicts)
            s_violation(CH_V_CONFLICT,
                        "n%d counts %" PRIu64 " conflicts, the once keys of the events listed "
                        "give %ld",
                        i, confs[i], s_conflicts);
        if (!s_ns_seen || dups[i] < s_ns_dup_lo)
            s_ns_dup_lo = dups[i];
        if (!s_ns_seen || dups[i] > s_ns_dup_hi)
            s_ns_dup_hi = dups[i];
        if (!s_ns_seen || confs[i] < s_ns_conf_lo)
            s_ns_conf_lo = confs[i];
        if (!s_ns_seen || confs[i] > s_ns_conf_hi)
            s_ns_conf_hi = confs[i];
        s_ns_seen = 1;
    }
    s_check_customers();
    s_check_replays(rng);
    s_check_verify();
    long found = s_violations() - before;
    s_info("loyalchaos: checkpoint %d%s: healed in %" PRIu64 " ms, converged %" PRId64
           " ms after the heal; %" PRIu64 " events, %ld new violations; checked in %" PRIu64
           " ms\n",
           number, final ? " (final)" : "", healed - t0, conv_ms, ref.ns_events, found,
           lyh_now_ms() - healed - (uint64_t)conv_ms);
    if (!final)
        s_set_phase(CH_RUN, 0);
    return 0;
}

/* ---- the summary --------------------------------------------------------------------- */

static int s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void s_summary(uint64_t wall_ms)
{
    enum { T = LY_MSG_TYPE_MAX + 1 };
    long total[T] = {0}, acked[T] = {0}, refused[T] = {0}, unknown[T] = {0}, undecided[T] = {0},
         retries[T] = {0}, drains = 0, drain_ok = 0;
    long why[T][LY_ERR_COUNT];
    memset(why, 0, sizeof why);
    for (int wi = 0; wi <= s_nworkers; wi++) {
        const ch_worker *w = &s_workers[wi];
        for (size_t idx = 0; idx < w->w_nops; idx++) {
            const ch_op *op = &w->w_ops[idx];
            int t = op->op_type;
            total[t]++;
            retries[t] += op->op_tries > 1 ? op->op_tries - 1 : 0;
            unknown[t] += (op->op_flags & CH_OF_WAS_UNKNOWN) != 0;
            if (op->op_flags & CH_OF_DRAIN) {
                drains++;
                drain_ok += op->op_state == CH_ACKED;
            }
            if (op->op_state == CH_ACKED)
                acked[t]++;
            else if (op->op_state == CH_REFUSED) {
                refused[t]++;
                why[t][op->op_err < LY_ERR_COUNT ? op->op_err : LY_EINTERNAL]++;
            } else
                undecided[t]++;
        }
    }
    printf("\nloyalchaos summary (seed %u): %d nodes, %d s of load, %.1f s in all, %d clients, "
           "%d+%d customers (%d hot)%s\n",
           s_o.o_seed, s_n, s_o.o_duration, (double)wall_ms / 1000.0, s_nworkers, s_ncust,
           s_ncust_all - s_ncust, s_o.o_hot, lyh_curve() ? ", CurveZMQ" : "");
    printf("\noperations     total    acked  refused  once-unknown  undecided  retries\n");
    long all[6] = {0};
    static const int order[] = {LY_MSG_ENROLL,  LY_MSG_EARN,   LY_MSG_REDEEM,
                                LY_MSG_REVERSE, LY_MSG_ADJUST, LY_MSG_SET_PROFILE};
    for (size_t q = 0; q < sizeof order / sizeof *order; q++) {
        int t = order[q];
        printf("  %-11s %8ld %8ld %8ld %13ld %10ld %8ld\n", ly_msgtype_name(t), total[t], acked[t],
               refused[t], unknown[t], undecided[t], retries[t]);
        all[0] += total[t];
        all[1] += acked[t];
        all[2] += refused[t];
        all[3] += unknown[t];
        all[4] += undecided[t];
        all[5] += retries[t];
    }
    printf("  %-11s %8ld %8ld %8ld %13ld %10ld %8ld\n", "all", all[0], all[1], all[2], all[3],
           all[4], all[5]);
    printf("  refusals:");
    int any = 0;
    for (size_t q = 0; q < sizeof order / sizeof *order; q++)
        for (int e = 0; e < LY_ERR_COUNT; e++)
            if (why[order[q]][e] > 0) {
                printf("%s %s %s %ld", any ? "," : "", ly_msgtype_name(order[q]),
                       ly_errname((ly_err)e), why[order[q]][e]);
                any = 1;
            }
    printf("%s\n", any ? "" : " none");
    long lookups = 0;
    for (int wi = 1; wi <= s_nworkers; wi++)
        lookups += (long)s_workers[wi].w_lookups;
    printf("  whole-balance redemptions after a card scan: %ld, %ld acknowledged; client lookups "
           "%ld; reader: %ld customer reads (%ld without answer), %ld status polls\n",
           drains, drain_ok, lookups, atomic_load(&s_reads), atomic_load(&s_read_fails),
           atomic_load(&s_status_reads));
    printf("  events checked %ld (%" PRIu64 " rights transfers); customer checks %ld; replays "
           "checked %ld\n",
           s_events_checked, s_transfers, s_customer_checks, s_replays_checked);
    long elsewhere = 0, spread = 0;
    for (int wi = 0; wi <= s_nworkers; wi++) {
        const ch_worker *w = &s_workers[wi];
        elsewhere += (long)w->w_elsewhere;
        for (size_t idx = 0; idx < w->w_nops; idx++)
            spread += __builtin_popcount(w->w_ops[idx].op_sent) > 1;
    }
    char ns_dup[64] = "?", ns_conf[64] = "?";
    if (s_ns_seen && s_ns_dup_lo == s_ns_dup_hi)
        snprintf(ns_dup, sizeof ns_dup, "%" PRIu64, s_ns_dup_lo);
    else if (s_ns_seen)
        snprintf(ns_dup, sizeof ns_dup, "%" PRIu64 "..%" PRIu64, s_ns_dup_lo, s_ns_dup_hi);
    if (s_ns_seen && s_ns_conf_lo == s_ns_conf_hi)
        snprintf(ns_conf, sizeof ns_conf, "%" PRIu64, s_ns_conf_lo);
    else if (s_ns_seen)
        snprintf(ns_conf, sizeof ns_conf, "%" PRIu64 "..%" PRIu64, s_ns_conf_lo, s_ns_conf_hi);
    printf("\nonce keys (retries elsewhere: %d%%)\n"
           "  operations %ld; retries sent elsewhere %ld (%ld operations tried at more than one "
           "branch)\n"
           "  keys with duplicates %ld; duplicates voided %ld (the nodes' status: %s); "
           "duplicated profile changes %ld (no once key: last writer wins)\n"
           "  conflicts %ld (the nodes' status: %s); history entries checked %ld\n"
           "  voided credits %" PRId64 " points, of which %" PRId64 " spent before the one that "
           "counts was seen (%ld customers): the rights and double_spend allowance\n",
           s_o.o_retry_elsewhere, all[0], elsewhere, spread, s_dup_keys, s_voided, ns_dup,
           s_prof_dups, s_conflicts, ns_conf, s_hist_checked, s_allowed, s_used, s_used_custs);

    long nf = 0;
    printf("\nfaults\n");
    for (int k = 0; k < CH_F_KINDS; k++) {
        printf("  %-24s %6ld\n", s_fnames[k], s_faults_done[k]);
        nf += s_faults_done[k];
    }
    printf("  %-24s %6ld (partitions: %ld)\n", "all", nf,
           s_faults_done[CH_F_ISOLATE] + s_faults_done[CH_F_SPLIT] + s_faults_done[CH_F_RING]);

    printf("\nconvergence after heal: %zu heals", s_nconv);
    if (s_nconv > 0) {
        int64_t *v = malloc(s_nconv * sizeof *v);
        if (v != NULL) {
            memcpy(v, s_conv_ms, s_nconv * sizeof *v);
            qsort(v, s_nconv, sizeof *v, s_cmp_i64);
            /* Nearest rank: the smallest value with at least p% of them at or below it. */
            printf(", p50 %" PRId64 " ms, p99 %" PRId64 " ms, max %" PRId64 " ms",
                   v[(s_nconv * 50 + 99) / 100 - 1], v[(s_nconv * 99 + 99) / 100 - 1],
                   v[s_nconv - 1]);
            free(v);
        }
    }
    printf("\n\nviolations");
    long nv = 0;
    for (int k = 0; k < CH_V_COUNT; k++) {
        long c = atomic_load(&s_vcount[k]);
        nv += c;
        if (c > 0)
            printf("%s %s %ld", nv == c ? ":" : ",", s_vnames[k], c);
    }
    printf("%s\n", nv == 0 ? ": none" : "");
    char retry_arg[64] = "";
    int len = 0;
    if (s_o.o_retry_elsewhere > 0)
        len = snprintf(retry_arg, sizeof retry_arg, " --retry-elsewhere %d", s_o.o_retry_elsewhere);
    if (s_o.o_call_ms != CH_CALL_MS && len >= 0 && (size_t)len < sizeof retry_arg)
        snprintf(retry_arg + len, sizeof retry_arg - (size_t)len, " --call-ms %d", s_o.o_call_ms);
    printf("%s (seed %u; replay the schedule: loyalchaos --seed %u --nodes %d --duration %d "
           "--customers %d --hot %d --clients-per-node %d --heal-every %d --max-faults %d%s)\n",
           nv == 0 ? "PASS" : "FAIL", s_o.o_seed, s_o.o_seed, s_n, s_o.o_duration, s_o.o_customers,
           s_o.o_hot, s_o.o_cpn, s_o.o_heal_every, s_o.o_max_faults, retry_arg);
    fflush(stdout);
}

/* ---- main ------------------------------------------------------------------------------ */

static void s_on_signal(int sig)
{
    (void)sig;
    atomic_store(&s_interrupted, 1);
}

/* Enroll the first s_ncust customers (round robin over the nodes) as ops of
 * the setup worker [0]. 0 or -1. */
static int s_enroll_all(void)
{
    ch_worker *w = &s_workers[0];
    for (int k = 0; k < s_ncust; k++) {
        size_t idx = s_op_new(w);
        if (idx == SIZE_MAX)
            return -1;
        ch_op *op = &w->w_ops[idx];
        op->op_type = LY_MSG_ENROLL;
        op->op_cust = k;
        op->op_node = (uint8_t)(1 + k % s_n);
        uint64_t deadline = lyh_now_ms() + 30000;
        while (s_send(w, idx, op->op_node) != CH_ACKED) {
            if (w->w_ops[idx].op_state == CH_REFUSED || lyh_now_ms() >= deadline) {
                fprintf(stderr, "loyalchaos: enrolling c%05d at n%d failed\n", k, op->op_node);
                return -1;
            }
            lyh_sleep_ms(100);
            op = &w->w_ops[idx];
        }
        atomic_store(&s_cust_ready[k], 1);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int p = s_parse(argc, argv);
    if (p != 0)
        return p > 0 ? 0 : 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    s_n = s_o.o_nodes;
    s_ncust = s_o.o_customers;
    s_ncust_all = s_ncust + (s_ncust / 10);
    s_nworkers = s_n * s_o.o_cpn;
    fprintf(stderr,
            "loyalchaos: seed %u (replay: --seed %u or LY_CHAOS_SEED=%u), %d nodes, %d s of "
            "load%s\n",
            s_o.o_seed, s_o.o_seed, s_o.o_seed, s_n, s_o.o_duration,
            lyh_curve() ? ", every node keyed (CurveZMQ, LYH_CURVE=1)" : "");
    uint64_t t_begin = lyh_now_ms();
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    s_mono0 = t_begin;
    s_wall0_ms = (uint64_t)wall.tv_sec * 1000 + (uint64_t)wall.tv_nsec / 1000000;
    int rc = 2;
    unsigned rng = s_o.o_seed;
    unsigned reader_rng = s_rand(&rng) ^ 0xa5a5a5u;
    pthread_t reader;
    int reader_started = 0, workers_started = 0;

    s_cust_ready = calloc((size_t)s_ncust_all, sizeof *s_cust_ready);
    s_refund_cap = calloc((size_t)s_ncust_all, sizeof *s_refund_cap);
    s_void_cap = calloc((size_t)s_ncust_all, sizeof *s_void_cap);
    s_voids = calloc((size_t)s_ncust_all, sizeof *s_voids);
    s_workers = calloc((size_t)s_nworkers + 1, sizeof *s_workers);
    s_crp = malloc(sizeof *s_crp);
    if (s_cust_ready == NULL || s_refund_cap == NULL || s_void_cap == NULL || s_voids == NULL ||
        s_workers == NULL || s_crp == NULL || s_plan_make(s_o.o_seed) != 0) {
        fprintf(stderr, "loyalchaos: out of memory\n");
        goto out;
    }
    s_conv_ms = calloc(s_ncheckpoints + 1, sizeof *s_conv_ms);
    if (s_conv_ms == NULL)
        goto out;
    for (int wi = 0; wi <= s_nworkers; wi++) {
        ch_worker *w = &s_workers[wi];
        w->w_id = wi;
        w->w_node = wi == 0 ? 1 : 1 + (wi - 1) % s_n;
        w->w_rng = s_rand(&rng) ^ (unsigned)wi;
        w->w_next_late = s_ncust + (wi > 0 ? wi - 1 : 0);
        w->w_rp = malloc(sizeof *w->w_rp);
        if (w->w_rp == NULL)
            goto out;
    }
    if (s_o.o_verbose) {
        long planned[CH_F_KINDS] = {0};
        for (size_t k = 0; k < s_nplan; k++)
            planned[s_plan[k].f_kind]++;
        fprintf(stderr, "loyalchaos: %zu faults planned, %zu checkpoints:", s_nplan,
                s_ncheckpoints);
        for (int k = 0; k < CH_F_KINDS; k++)
            fprintf(stderr, "%s %s %ld", k ? "," : "", s_fnames[k], planned[k]);
        fprintf(stderr, "\n");
    }

    if (s_net_up() != 0) {
        fprintf(stderr, "loyalchaos: unable to set up the chain\n");
        goto out;
    }
    for (int i = 1; i <= s_n; i++) {
        s_ccli[i] = lyh_client(s_node(i), CH_CHECK_CALL_MS);
        if (s_ccli[i] == NULL)
            goto out;
    }
    if (s_enroll_all() != 0)
        goto out;
    if (lyh_chain_wait_converged(s_chain, CH_CONVERGE_MS) < 0) {
        fprintf(stderr, "loyalchaos: the chain did not converge after the enrollments\n");
        goto out;
    }
    for (int i = 1; i <= s_n; i++)
        if (s_status_check(s_ccli[i], i, "at the start", NULL) != LY_OK)
            goto out;
    s_info("loyalchaos: %d nodes up, %d customers enrolled, %zu faults planned; load starts\n", s_n,
           s_ncust, s_nplan);

    rc = 1;
    if (pthread_create(&reader, NULL, s_reader_main, &reader_rng) != 0)
        goto out;
    reader_started = 1;
    for (int wi = 1; wi <= s_nworkers; wi++) {
        if (pthread_create(&s_workers[wi].w_thread, NULL, s_worker_main, &s_workers[wi]) != 0) {
            fprintf(stderr, "loyalchaos: unable to start client thread %d\n", wi);
            goto out;
        }
        workers_started = wi;
        s_running = wi;
    }

    uint64_t run0 = lyh_now_ms(), paused = 0, last_note = 0;
    size_t next = 0, cp = 0;
    int broken = 0;
    while (!atomic_load(&s_interrupted) && !broken) {
        uint64_t pt = lyh_now_ms() - run0 - paused;
        for (int k = 0; k < s_nactive; k++)
            if (s_active[k]->f_end <= pt) {
                broken |= s_fault_end(s_active[k]) != 0;
                k = -1; /* the list changed */
            }
        while (!broken && next < s_nplan && s_plan[next].f_start <= pt) {
            if (s_nactive < CH_ACTIVE_MAX)
                broken |= s_fault_start(&s_plan[next]) != 0;
            next++;
        }
        if (broken)
            break;
        if (cp < s_ncheckpoints && pt >= s_checkpoints[cp]) {
            if (cp == s_ncheckpoints - 1)
                break; /* the final checkpoint follows the loop */
            uint64_t c0 = lyh_now_ms();
            if (s_checkpoint(0, (int)cp + 1, &rng) != 0)
                broken = 1;
            paused += lyh_now_ms() - c0;
            cp++;
            continue;
        }
        if (pt - last_note >= 10000) {
            last_note = pt;
            long ops = atomic_load(&s_ops_made), nf = 0;
            for (int k = 0; k < CH_F_KINDS; k++)
                nf += s_faults_done[k];
            s_info("loyalchaos: %" PRIu64 " s: %ld operations, %ld faults, %ld violations\n",
                   pt / 1000, ops, nf, s_violations());
        }
        lyh_sleep_ms(20);
    }
    if (atomic_load(&s_interrupted)) {
        fprintf(stderr, "loyalchaos: interrupted; no final check\n");
        s_stop_workers(5000);
        s_violation(CH_V_HARNESS, "interrupted");
    } else if (!broken) {
        broken = s_checkpoint(1, (int)s_ncheckpoints, &rng) != 0;
    } else {
        s_heal_all();
    }
    s_stop_workers(CH_DECIDE_MS + 30000);
    for (int wi = 1; wi <= workers_started; wi++)
        pthread_join(s_workers[wi].w_thread, NULL);
    workers_started = 0;
    atomic_store(&s_reader_stop, 1);
    pthread_join(reader, NULL);
    reader_started = 0;
    if (!broken && !atomic_load(&s_interrupted)) {
        int bad = lyh_chain_stop(s_chain, 30000);
        if (bad > 0)
            s_violation(CH_V_EXIT, "%d node(s) did not exit 0 on SIGTERM (codes and logs above)",
                        bad);
    }
    s_summary(lyh_now_ms() - t_begin);
    rc = s_violations() > 0 ? 1 : 0;

out:
    if (workers_started > 0) {
        s_stop_workers(5000);
        for (int wi = 1; wi <= workers_started; wi++)
            pthread_join(s_workers[wi].w_thread, NULL);
    }
    if (reader_started) {
        atomic_store(&s_reader_stop, 1);
        pthread_join(reader, NULL);
    }
    for (int i = 1; i <= CH_NODES_MAX; i++)
        ly_client_destroy(&s_ccli[i]);
    for (int i = 1; s_chain != NULL && i <= s_n; i++)
        if (atomic_load(&s_down[i]) == 2 && s_node(i)->nd_pid > 0)
            kill(s_node(i)->nd_pid, SIGCONT);
    if (rc != 0)
        fprintf(stderr, "loyalchaos: %s (seed %u)\n", rc == 1 ? "FAILED" : "setup failed",
                s_o.o_seed);
    s_net_down(rc == 1 && !atomic_load(&s_interrupted));
    if (s_workers != NULL)
        for (int wi = 0; wi <= s_nworkers; wi++) {
            ch_worker *w = &s_workers[wi];
            for (int i = 0; i <= CH_NODES_MAX; i++)
                ly_client_destroy(&w->w_cli[i]);
            free(w->w_ops);
            free(w->w_pending);
            free(w->w_refundable);
            free(w->w_rp);
        }
    free(s_workers);
    free(s_cust_ready);
    free(s_refund_cap);
    free(s_void_cap);
    free(s_voids);
    free(s_crp);
    free(s_plan);
    free(s_checkpoints);
    free(s_conv_ms);
    return rc;
}
