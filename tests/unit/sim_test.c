/* Simulation: several nodes' stores, services and replication state machines
 * in one process, wired through a simulated network that drops, duplicates,
 * reorders and delays messages and restarts nodes (DESIGN.md section 10).
 * Every schedule is seeded and reproducible; a failure prints its seed.
 *
 * Checked after the network heals: every acknowledged operation is present
 * exactly once at every node (the transaction index answers it and the event
 * counts agree), all version vectors and digests are equal, every balance is the
 * same everywhere, the rights at every node add up to the balance, and no
 * points were spent twice (there are no refunds here, so no balance may end
 * below zero). Redemptions short of local rights ask peers and wait for their
 * rights through the server's own policy (node/waits.h).
 *
 * Retry elsewhere (sim/retry_elsewhere_counts_once): a quarter of the
 * acknowledged operations lose their reply and the till retries them, same
 * id and request, at another node that may not have the original yet. Then
 * the check recomputes the once rule from the events themselves: among the
 * events of one once key the smallest (hlc, origin, incarnation, seq) counts;
 * every node must name that one (ly_store_once_counts), every balance must be
 * the sum of the points of the events that count, rights must add up to it,
 * and a balance may go below zero only by credits that became void after
 * their branch spent them (the documented debt of README "What a till is told"). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rules.h"
#include "node/metrics.h"
#include "node/repl.h"
#include "node/service.h"
#include "node/waits.h"
#include "proto/peer.h"
#include "tests/support/harness.h"

#define S_NODES     3
#define S_CUSTOMERS 6
#define S_MAX_MSGS  4096
#define S_MAX_ACKED 4096

typedef struct s_msg {
    int m_from, m_to;
    int m_to_router;  /* 1: to m_to's ROUTER from m_from's DEALER; 0: reply to m_to's DEALER */
    uint32_t m_epoch; /* connection epoch at send time: a restart cuts older messages */
    uint8_t *m_buf;
    size_t m_len;
} s_msg;

typedef struct s_node {
    int n_index;
    char n_dir[256];
    ly_config n_cf;
    ly_store *n_store;
    ly_hlc n_hlc;
    ly_service n_svc;
    ly_repl *n_repl;
    ly_metrics *n_metrics;
    ly_waits *n_waits; /* redemptions waiting for rights, as the server keeps them */
    uint32_t n_epoch;  /* restarts */
} s_node;

static s_node s_nodes[S_NODES];
static s_msg s_net[S_MAX_MSGS];
static int s_nnet;
static uint64_t s_now = 1000;
static unsigned s_seed;  /* the generator state */
static unsigned s_start; /* the schedule's seed, as printed on failure */
static struct {
    int a_node;
    char a_txn[LY_ID_MAX + 1];
} s_acked[S_MAX_ACKED];
static int s_nacked;
static int s_txn_counter;
static uint64_t s_transfers;         /* rights transfers over all schedules */
static int s_elsewhere;              /* retry a quarter of the acknowledged operations elsewhere */
static uint64_t s_retried, s_voided; /* over all schedules */

static unsigned s_rand(void)
{
    s_seed = s_seed * 1103515245u + 12345u;
    return (s_seed >> 8) & 0xffffff;
}

/* Connections are named by both ends' epochs, so a restart of either end makes
 * a new session, as a new TCP connection would. */
static void s_ident(int from, int to, char *out, size_t cap)
{
    snprintf(out, cap, "c%d-%d-%u-%u", from, to, s_nodes[from].n_epoch, s_nodes[to].n_epoch);
}

static void s_enqueue(int from, int to, int to_router, const uint8_t *buf, size_t len)
{
    if (s_nnet == S_MAX_MSGS)
        return; /* the network is full: dropped */
    s_msg *m = &s_net[s_nnet++];
    m->m_from = from;
    m->m_to = to;
    m->m_to_router = to_router;
    m->m_epoch = s_nodes[from].n_epoch * 1000u + s_nodes[to].n_epoch;
    m->m_buf = malloc(len);
    memcpy(m->m_buf, buf, len);
    m->m_len = len;
}

static int s_io_dealer(void *ctx, int peer, const uint8_t *buf, size_t len)
{
    s_node *n = ctx;
    int to = n->n_cf.cf_peers[peer].pc_id - 1;
    s_enqueue(n->n_index, to, 1, buf, len);
    return 0;
}

static int s_io_router(void *ctx, const uint8_t *ident, size_t ident_len, const uint8_t *buf,
                       size_t len)
{
    s_node *n = ctx;
    int from = -1, to = -1;
    char id[64];
    if (ident_len >= sizeof id)
        return -1;
    memcpy(id, ident, ident_len);
    id[ident_len] = '\0';
    if (sscanf(id, "c%d-%d-", &from, &to) != 2 || to != n->n_index)
        return -1;
    s_enqueue(n->n_index, from, 0, buf, len);
    return 0;
}

static void s_open(s_node *n)
{
    /* Frequent checkpoints, so restarts find every mix of checkpoint and log. */
    ly_store_opts o = {.so_map_size = 16 << 20,
                       .so_checkpoint_events = 25 + s_rand() % 50,
                       .so_wal_prealloc = 64 << 10};
    char why[256];
    cr_assert_eq(ly_store_open(n->n_dir, n->n_cf.cf_node_id, &o, &n->n_store, why, sizeof why),
                 LY_OK, "%s", why);
    ly_txn *t;
    ly_store_stats st;
    cr_assert_eq(ly_store_begin(n->n_store, 0, &t), LY_OK);
    cr_assert_eq(ly_store_stats_get(t, &st), LY_OK);
    ly_store_abort(&t);
    ly_hlc_init(&n->n_hlc, st.st_hlc, 60000);
    memset(&n->n_svc, 0, sizeof n->n_svc);
    n->n_svc.sv_store = n->n_store;
    n->n_svc.sv_hlc = &n->n_hlc;
    snprintf(n->n_svc.sv_name, sizeof n->n_svc.sv_name, "%s", n->n_cf.cf_name);
    ly_repl_io io = {n, s_io_dealer, s_io_router};
    n->n_metrics = ly_metrics_new();
    cr_assert(n->n_metrics);
    n->n_repl = ly_repl_new(&n->n_cf, n->n_store, &n->n_hlc, &n->n_svc, &io, n->n_metrics);
    cr_assert(n->n_repl);
    n->n_waits = ly_waits_new(&n->n_cf, n->n_repl, n->n_metrics);
    cr_assert(n->n_waits);
}

static void s_close(s_node *n)
{
    ly_waits_destroy(&n->n_waits);
    ly_repl_destroy(&n->n_repl);
    ly_metrics_destroy(&n->n_metrics);
    ly_service_fini(&n->n_svc);
    ly_store_close(&n->n_store);
}

/* As kill -9: no checkpoint, the next open replays the log. */
static void s_crash(s_node *n)
{
    ly_waits_destroy(&n->n_waits);
    ly_repl_destroy(&n->n_repl);
    ly_metrics_destroy(&n->n_metrics);
    ly_service_fini(&n->n_svc);
    ly_store_close_abrupt(&n->n_store);
}

static void s_setup_nodes(void)
{
    ly_log_set_level(LY_ERROR);
    s_nnet = 0;
    s_nacked = 0;
    s_now = 1000;
    for (int i = 0; i < S_NODES; i++) {
        s_node *n = &s_nodes[i];
        memset(n, 0, sizeof *n);
        n->n_index = i;
        cr_assert_eq(lyh_tmpdir("sim", n->n_dir, sizeof n->n_dir), 0);
        ly_config *cf = &n->n_cf;
        cf->cf_node_id = (uint16_t)(i + 1);
        snprintf(cf->cf_name, sizeof cf->cf_name, "n%d", i + 1);
        snprintf(cf->cf_advertise, sizeof cf->cf_advertise, "tcp://127.0.0.1:%d", 7001 + i);
        cf->cf_max_clock_ahead_ms = 60000;
        cf->cf_batch_max = 512;
        cf->cf_rights_wait_ms = 300;
        for (int j = 0; j < S_NODES; j++) {
            if (j == i)
                continue;
            ly_peer_conf *pc = &cf->cf_peers[cf->cf_npeers++];
            pc->pc_id = (uint16_t)(j + 1);
            snprintf(pc->pc_name, sizeof pc->pc_name, "n%d", j + 1);
            snprintf(pc->pc_endpoint, sizeof pc->pc_endpoint, "sim://%d", j + 1);
        }
        s_open(n);
    }
}

static void s_teardown_nodes(void)
{
    for (int i = 0; i < S_NODES; i++) {
        s_close(&s_nodes[i]);
        lyh_rmtree(s_nodes[i].n_dir);
    }
    for (int i = 0; i < s_nnet; i++)
        free(s_net[i].m_buf);
    s_nnet = 0;
}

static void s_run_request(int i, const ly_req *rq, uint64_t deadline, int crash);

/* As the server's loop: the redemptions waiting at node i run again once
 * rights arrived or their deadline passed (and may wait on, until then). */
static void s_retry_waiting(int i)
{
    uint32_t n;
    const ly_wait *wt = ly_waits_take(s_nodes[i].n_waits, s_now, &n);
    if (n == 0)
        return;
    ly_wait *copy = malloc(n * sizeof *copy); /* running them parks again */
    cr_assert(copy);
    memcpy(copy, wt, n * sizeof *copy);
    for (uint32_t k = 0; k < n; k++)
        s_run_request(i, &copy[k].wt_req, copy[k].wt_deadline, 0);
    free(copy);
}

/* What any read at node i shows at any time: with no refunds in these
 * schedules, no balance and no node's rights are ever below zero (a redemption
 * is never applied before the transfer that funded it) -- unless the customer
 * has void duplicates: a credit that became void after its branch spent it
 * leaves that branch's rights below zero (a debt if it drives the net below
 * zero), and the causal gate is off for such a customer (store.c). */
static void s_check_reads(int i)
{
    ly_txn *t;
    ly_cust *cu = malloc(sizeof *cu);
    cr_assert_eq(ly_store_begin(s_nodes[i].n_store, 0, &t), LY_OK);
    for (int c = 0; c < S_CUSTOMERS; c++) {
        char id[16];
        snprintf(id, sizeof id, "C%d", c);
        if (ly_store_cust_get(t, id, cu) != LY_OK || cu->cu_voided > 0)
            continue;
        cr_assert(cu->cu_net >= 0, "seed %u: n%d shows customer %s at %lld", s_start, i + 1, id,
                  (long long)cu->cu_net);
        /* Stronger: no node's rights are ever seen below zero, i.e. nobody's
         * spending is applied before the transfer that funded it. */
        for (int k = 0; k < cu->cu_nrights; k++)
            cr_assert(cu->cu_rights[k].rt_points >= 0,
                      "seed %u: n%d shows node %u's rights for %s at %lld", s_start, i + 1,
                      cu->cu_rights[k].rt_node, id, (long long)cu->cu_rights[k].rt_points);
    }
    ly_store_abort(&t);
    free(cu);
}

/* Take message k off the network (keep = 1: leave a copy, a duplicate). */
static void s_deliver(int k, int keep)
{
    s_msg m = s_net[k];
    if (keep) {
        uint8_t *copy = malloc(m.m_len);
        memcpy(copy, m.m_buf, m.m_len);
        s_net[k].m_buf = copy;
    } else {
        s_net[k] = s_net[--s_nnet];
    }
    s_node *to = &s_nodes[m.m_to];
    /* A message sent before either end restarted died with its connection. */
    if (m.m_epoch != s_nodes[m.m_from].n_epoch * 1000u + to->n_epoch) {
        free(m.m_buf);
        return;
    }
    ly_pmsg *pm = malloc(sizeof *pm);
    char why[200];
    ly_err e = ly_pmsg_decode(m.m_buf, m.m_len, pm, why, sizeof why);
    cr_assert_eq(e, LY_OK, "seed %u: a node sent an undecodable message: %s", s_start, why);
    char ident[64];
    ly_peer_addr from;
    if (m.m_to_router) {
        s_ident(m.m_from, m.m_to, ident, sizeof ident);
        from = (ly_peer_addr){-1, (const uint8_t *)ident, strlen(ident)};
    } else {
        int pi = -1;
        for (int i = 0; i < to->n_cf.cf_npeers; i++)
            if (to->n_cf.cf_peers[i].pc_id == m.m_from + 1)
                pi = i;
        from = (ly_peer_addr){pi, NULL, 0};
    }
    if (ly_repl_needs_txn(pm)) {
        ly_txn *t;
        ly_event created[2];
        ly_evlist list = {created, 0, 2};
        ly_repl_received(to->n_repl, &from, pm);
        cr_assert_eq(ly_store_begin(to->n_store, 1, &t), LY_OK);
        e = ly_repl_handle(to->n_repl, &from, pm, t, &list);
        cr_assert_eq(e, LY_OK, "seed %u: %s", s_start, ly_errname(e));
        cr_assert_eq(ly_store_commit(&t), LY_OK);
        ly_repl_after_commit(to->n_repl, 1, list.el_ev, list.el_n);
        cr_assert_eq(ly_store_checkpoint_due(to->n_store), LY_OK);
    } else {
        ly_repl_handle(to->n_repl, &from, pm, NULL, NULL);
    }
    ly_pmsg_fini(pm);
    free(pm);
    free(m.m_buf);
    s_check_reads(m.m_to);
    s_retry_waiting(m.m_to);
}

/* One client operation at node i; records it if acknowledged. `crash` aborts
 * the batch before commit, as a kill -9 would: nothing acknowledged. */
static void s_client_op(int i, int crash)
{
    s_node *n = &s_nodes[i];
    ly_req rq;
    int r = (int)(s_rand() % 10);
    int type = r < 1 ? LY_MSG_ENROLL : r < 7 ? LY_MSG_EARN : r < 9 ? LY_MSG_REDEEM : LY_MSG_ADJUST;
    ly_req_init(&rq, type);
    unsigned cust = s_rand() % S_CUSTOMERS;
    snprintf(rq.rq_customer, sizeof rq.rq_customer, "C%u", cust);
    /* Customers earn mostly at their home branch and redeem anywhere, so most
     * redemptions elsewhere need rights moved from home first. */
    if (type == LY_MSG_EARN && s_rand() % 4 != 0) {
        i = (int)(cust % S_NODES);
        n = &s_nodes[i];
    }
    snprintf(rq.rq_txn, sizeof rq.rq_txn, "t%d", ++s_txn_counter);
    /* Redemptions often larger than one node's rights: they need transfers. */
    rq.rq_amount = type == LY_MSG_EARN     ? 100 + s_rand() % 5000
                   : type == LY_MSG_REDEEM ? 1 + s_rand() % 120
                                           : 1 + s_rand() % 40;
    if (type == LY_MSG_ADJUST) {
        strcpy(rq.rq_reason, "goodwill");
        strcpy(rq.rq_operator, "sim");
    }
    (void)n;
    int acked = s_nacked;
    s_run_request(i, &rq, 0, crash);
    if (s_elsewhere && s_nacked > acked && s_rand() % 4 == 0) {
        /* The reply was lost: the till retries at another branch. */
        int j = (i + 1 + (int)(s_rand() % (S_NODES - 1))) % S_NODES;
        s_retried++;
        s_run_request(j, &rq, 0, 0);
    }
}

/* Execute `rq` at node i as the server would, in its own batch; `deadline`
 * is 0 for a fresh request, else the one it waited for. */
static void s_run_request(int i, const ly_req *rq_in, uint64_t deadline, int crash)
{
    s_node *n = &s_nodes[i];
    ly_req rq = *rq_in;
    ly_txn *t;
    cr_assert_eq(ly_store_begin(n->n_store, 1, &t), LY_OK);
    ly_rep *rp = malloc(sizeof *rp);
    ly_event ev;
    int created = 0, wait = 0;
    ly_rep_init(rp);
    cr_assert_eq(ly_service_exec(&n->n_svc, t, &rq, rp, &ev, &created), LY_OK);
    cr_assert(rp->rp_err != LY_OK || rp->rp_balance >= 0);
    if (rp->rp_err == LY_EINSUFFICIENT_LOCAL)
        /* As the server does: ask the peers that hold rights for the rest, and
         * wait for them (no answer yet). */
        wait = ly_waits_defer(n->n_waits, t, &rq, rp, &deadline, s_now);
    if (crash) {
        ly_store_abort(&t);
    } else {
        cr_assert_eq(ly_store_commit(&t), LY_OK);
        if (rp->rp_err == LY_OK && s_nacked < S_MAX_ACKED) {
            s_acked[s_nacked].a_node = i;
            strcpy(s_acked[s_nacked].a_txn, rq.rq_txn);
            s_nacked++;
        }
        if (wait) /* after the commit, as the server parks it */
            ly_waits_park(n->n_waits, &rq, (const uint8_t *)"", 0, deadline);
        ly_repl_after_commit(n->n_repl, 1, created ? &ev : NULL, (size_t)created);
        cr_assert_eq(ly_store_checkpoint_due(n->n_store), LY_OK);
    }
    ly_rep_fini(rp);
    free(rp);
}

static void s_restart(int i)
{
    s_crash(&s_nodes[i]); /* and the requests waiting there with it */
    s_nodes[i].n_epoch++;
    s_open(&s_nodes[i]);
}

static void s_tick_all(uint64_t step)
{
    s_now += step;
    for (int i = 0; i < S_NODES; i++)
        ly_repl_tick(s_nodes[i].n_repl, s_now);
    for (int i = 0; i < S_NODES; i++)
        s_retry_waiting(i);
}

static void s_status(int i, ly_store_stats *st, ly_vv_entry *vv, size_t *nvv)
{
    ly_txn *t;
    cr_assert_eq(ly_store_begin(s_nodes[i].n_store, 0, &t), LY_OK);
    cr_assert_eq(ly_store_stats_get(t, st), LY_OK);
    cr_assert_eq(ly_store_vv(t, vv, 16, nvv), LY_OK);
    ly_store_abort(&t);
}

static int s_converged(void)
{
    ly_store_stats a, b;
    ly_vv_entry va[16], vb[16];
    size_t na, nb;
    s_status(0, &a, va, &na);
    for (int i = 1; i < S_NODES; i++) {
        s_status(i, &b, vb, &nb);
        if (a.st_digest != b.st_digest || a.st_events != b.st_events || na != nb)
            return 0;
        for (size_t k = 0; k < na; k++)
            if (va[k].vv_origin != vb[k].vv_origin ||
                va[k].vv_incarnation != vb[k].vv_incarnation || va[k].vv_seq != vb[k].vv_seq)
                return 0;
    }
    return 1;
}

/* Heal: no more faults; deliver everything and tick until quiet and equal. */
static void s_heal_and_check(void)
{
    int rounds = 0;
    for (;;) {
        while (s_nnet > 0)
            s_deliver((int)(s_rand() % (unsigned)s_nnet), 0);
        if (s_converged())
            break;
        if (rounds++ == 2000) {
            for (int i = 0; i < S_NODES; i++) {
                ly_store_stats st;
                ly_vv_entry vv[16];
                size_t nvv;
                s_status(i, &st, vv, &nvv);
                fprintf(stderr, "n%d events=%llu digest=%016llx vv:", i + 1,
                        (unsigned long long)st.st_events, (unsigned long long)st.st_digest);
                for (size_t k = 0; k < nvv; k++)
                    fprintf(stderr, " %u.%u:%llu", vv[k].vv_origin, vv[k].vv_incarnation,
                            (unsigned long long)vv[k].vv_seq);
                fprintf(stderr, "\n");
            }
            cr_assert_fail("seed %u: no convergence after healing", s_start);
        }
        s_tick_all(250);
    }
    /* Every acknowledged operation is at every node, once. */
    for (int k = 0; k < s_nacked; k++)
        for (int i = 0; i < S_NODES; i++) {
            ly_txn *t;
            ly_txnrec rec;
            cr_assert_eq(ly_store_begin(s_nodes[i].n_store, 0, &t), LY_OK);
            ly_err e = ly_store_txnrec_get(t, s_acked[k].a_txn, &rec);
            ly_store_abort(&t);
            cr_assert(e == LY_OK && rec.tr_seq != 0,
                      "seed %u: acknowledged txn %s (at n%d) missing at n%d", s_start,
                      s_acked[k].a_txn, s_acked[k].a_node + 1, i + 1);
        }
    /* Same balances everywhere, never negative. */
    for (int c = 0; c < S_CUSTOMERS; c++) {
        char id[16];
        snprintf(id, sizeof id, "C%d", c);
        int64_t net0 = 0;
        for (int i = 0; i < S_NODES; i++) {
            ly_txn *t;
            ly_cust *cu = malloc(sizeof *cu);
            cr_assert_eq(ly_store_begin(s_nodes[i].n_store, 0, &t), LY_OK);
            ly_err e = ly_store_cust_get(t, id, cu);
            ly_store_abort(&t);
            int64_t net = e == LY_OK ? cu->cu_net : 0, rights = 0;
            for (int k = 0; e == LY_OK && k < cu->cu_nrights; k++)
                rights += cu->cu_rights[k].rt_points;
            free(cu);
            cr_assert_eq(rights, net, "seed %u: customer %s: rights add up to %lld, balance %lld",
                         s_start, id, (long long)rights, (long long)net);
            /* No refunds here: a negative net could only be a double spend
             * (with retries elsewhere: s_check_once bounds it). */
            cr_assert(s_elsewhere || net >= 0, "seed %u: customer %s overspent: %lld", s_start, id,
                      (long long)net);
            if (i == 0)
                net0 = net;
            cr_assert_eq(net, net0, "seed %u: customer %s differs at n%d", s_start, id, i + 1);
        }
    }
}

/* The once rule, recomputed from the events node 0 holds (all of them, after
 * convergence): every node names the same winner per key, and each balance is
 * the sum of the winners' points. */
#define S_EVENTS_MAX 8192

static void s_check_once(void)
{
    ly_event *evs = malloc(S_EVENTS_MAX * sizeof *evs);
    cr_assert_not_null(evs);
    size_t n;
    ly_txn *t;
    cr_assert_eq(ly_store_begin(s_nodes[0].n_store, 0, &t), LY_OK);
    cr_assert_eq(ly_store_events(t, 0, 0, evs, S_EVENTS_MAX, &n), LY_OK);
    ly_store_abort(&t);
    cr_assert(n < S_EVENTS_MAX);
    int64_t expect[S_CUSTOMERS] = {0}, void_credit[S_CUSTOMERS] = {0};
    for (size_t a = 0; a < n; a++) {
        char ka[LY_ONCE_KEY_MAX + 1], kb[LY_ONCE_KEY_MAX + 1];
        unsigned cust = (unsigned)atoi(evs[a].ev_customer + 1);
        cr_assert(cust < S_CUSTOMERS);
        int counts = 1;
        if (ly_once_key(&evs[a], ka))
            for (size_t b = 0; b < n && counts; b++)
                if (b != a && ly_once_key(&evs[b], kb) && strcmp(ka, kb) == 0 &&
                    ly_once_before(evs[b].ev_hlc, evs[b].ev_origin, evs[b].ev_incarnation,
                                   evs[b].ev_seq, evs[a].ev_hlc, evs[a].ev_origin,
                                   evs[a].ev_incarnation, evs[a].ev_seq))
                    counts = 0;
        if (counts && evs[a].ev_type != LY_EV_TRANSFER)
            expect[cust] += evs[a].ev_points;
        if (!counts) {
            s_voided++;
            if (evs[a].ev_points > 0)
                void_credit[cust] += evs[a].ev_points;
        }
        for (int i = 0; i < S_NODES; i++) {
            int named;
            uint16_t wo;
            uint64_t ws;
            cr_assert_eq(ly_store_begin(s_nodes[i].n_store, 0, &t), LY_OK);
            cr_assert_eq(ly_store_once_counts(t, &evs[a], &named, &wo, &ws), LY_OK);
            ly_store_abort(&t);
            cr_assert_eq(named, counts, "seed %u: n%d: event %u:%llu (txn %s) %s", s_start, i + 1,
                         evs[a].ev_origin, (unsigned long long)evs[a].ev_seq, evs[a].ev_txn,
                         counts ? "counts but is void there" : "is void but counts there");
        }
    }
    free(evs);
    for (int c = 0; c < S_CUSTOMERS; c++) {
        char id[16];
        snprintf(id, sizeof id, "C%d", c);
        for (int i = 0; i < S_NODES; i++) {
            ly_cust *cu = malloc(sizeof *cu);
            cr_assert_eq(ly_store_begin(s_nodes[i].n_store, 0, &t), LY_OK);
            ly_err e = ly_store_cust_get(t, id, cu);
            ly_store_abort(&t);
            int64_t net = e == LY_OK ? cu->cu_net : 0;
            free(cu);
            cr_assert_eq(net, expect[c],
                         "seed %u: customer %s at n%d: net %lld, the events that "
                         "count add up to %lld",
                         s_start, id, i + 1, (long long)net, (long long)expect[c]);
            cr_assert(net >= -void_credit[c],
                      "seed %u: customer %s overspent: %lld beyond the "
                      "%lld of voided credits",
                      s_start, id, (long long)net, (long long)void_credit[c]);
        }
    }
}

/* One seeded schedule of `steps` random actions. */
static void s_schedule(unsigned seed, int steps)
{
    s_seed = s_start = seed;
    s_txn_counter = 0;
    s_setup_nodes();
    for (int step = 0; step < steps; step++) {
        unsigned r = s_rand() % 100;
        if (r < 35) {
            s_client_op((int)(s_rand() % S_NODES), 0);
        } else if (r < 37) {
            s_client_op((int)(s_rand() % S_NODES), 1); /* killed before its commit */
        } else if (r < 75 && s_nnet > 0) {
            s_deliver((int)(s_rand() % (unsigned)s_nnet), 0); /* any order */
        } else if (r < 80 && s_nnet > 0) {
            s_deliver((int)(s_rand() % (unsigned)s_nnet), 1); /* duplicated */
        } else if (r < 88 && s_nnet > 0) {
            int k = (int)(s_rand() % (unsigned)s_nnet); /* lost */
            free(s_net[k].m_buf);
            s_net[k] = s_net[--s_nnet];
        } else if (r < 98) {
            s_tick_all(1 + s_rand() % 600);
        } else {
            s_restart((int)(s_rand() % S_NODES));
        }
    }
    s_heal_and_check();
    if (s_elsewhere)
        s_check_once();
    for (int i = 0; i < S_NODES; i++) {
        ly_txn *t;
        ly_node_status ns;
        memset(&ns, 0, sizeof ns);
        cr_assert_eq(ly_store_begin(s_nodes[i].n_store, 0, &t), LY_OK);
        cr_assert_eq(ly_repl_status(s_nodes[i].n_repl, t, &ns), LY_OK);
        ly_store_abort(&t);
        s_transfers += ns.ns_transfers_sent;
        free(ns.ns_peers);
    }
    s_teardown_nodes();
}

Test(sim, converges_exactly_once_under_faults, .timeout = 300)
{
    const char *env = getenv("LY_SIM_SEEDS");
    int seeds = env ? atoi(env) : 40;
    unsigned base = getenv("LY_SIM_SEED") ? (unsigned)atoi(getenv("LY_SIM_SEED")) : 1;
    for (int s = 0; s < seeds; s++)
        s_schedule(base + (unsigned)s, 600);
    cr_expect(s_transfers > 0, "the schedules never moved rights between nodes");
    cr_log_info("%d schedules, %llu rights transfers", seeds, (unsigned long long)s_transfers);
}

Test(sim, retry_elsewhere_counts_once, .timeout = 300)
{
    const char *env = getenv("LY_SIM_SEEDS");
    int seeds = env ? atoi(env) : 40;
    unsigned base = getenv("LY_SIM_SEED") ? (unsigned)atoi(getenv("LY_SIM_SEED")) : 1001;
    s_elsewhere = 1;
    for (int s = 0; s < seeds; s++)
        s_schedule(base + (unsigned)s, 600);
    s_elsewhere = 0;
    cr_expect(s_retried > 0 && s_voided > 0, "no retry elsewhere made a duplicate");
    cr_log_info("%d schedules: %llu retries elsewhere, %llu void duplicates", seeds,
                (unsigned long long)s_retried, (unsigned long long)s_voided);
}
