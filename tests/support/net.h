/* net.h -- nodes whose peer links all run through fault proxies (proxy.h).
 *
 *   lyn_net *net = lyn_net_new(3, "rights_wait_ms = 300\n"); // n1..n3, 6 proxies, configs
 *   lyn_net_up(net, 20000);                                  // start them, wait until they answer
 *   lyn_net_wait_links_up(net, 20000);                       // every node sees every peer up
 *   lyp_proxy_set_mode(lyn_net_link(net, 1, 2), LYP_MODE_BLACKHOLE, 0); // n1's pushes to n2 cut
 *   ... lyh_chain_wait_converged(net->nt_chain, 30000) ...
 *   lyn_net_destroy(&net);
 *
 * Every ordered pair of nodes i, j has its own proxy (i, j): node i's
 * [peer n<j>] endpoint is that proxy, which forwards to node j's peer_listen
 * (i's DEALER talks to j's ROUTER through it). Cutting one proxy cuts what i
 * pushes to j and the answers j sends back on that connection; cutting both
 * (i, j) and (j, i) cuts the pair. Client ports are never proxied.
 *
 * The nodes are those of a lyh_chain without adjacency (the chain writes no
 * [peer] sections; this file writes them). Do not call lyh_chain_up on
 * nt_chain: it would rewrite the configs without the proxies. Restart a node
 * with lyh_node_up (its ports no longer change once it has answered).
 *
 * No port race: a proxy binds its port at once, but a node's ports are only
 * picked (lyh_free_port) until it starts, so a proxy could be handed one of
 * them; lyn_net_new never keeps a proxy on a port a node of the net was given.
 *
 * Functions return 0 (or a documented value) on success and -1 on failure,
 * with a reason printed to stderr, as in harness.h. Not thread-safe per net;
 * the proxies themselves may be used from any thread (proxy.h). */
#ifndef LYN_NET_H
#define LYN_NET_H

#include <stdint.h>

#include "tests/support/harness.h"
#include "tests/support/proxy.h"

/* Each status call of lyn_net_wait_links_up waits at most this long. */
#define LYN_STATUS_MS 2000

typedef struct lyn_net {
    int nt_n;
    lyh_chain *nt_chain;                            /* owned: nodes 1..nt_n */
    lyp_proxy *nt_px[LYH_CHAIN_MAX][LYH_CHAIN_MAX]; /* [i - 1][j - 1]: proxy (i, j), owned */
} lyn_net;

/* `n` nodes (2..LYH_CHAIN_MAX), ids 1..n, names n1..nn (lyh_chain_new), every
 * ordered pair linked through its own proxy (in PASS mode), and each node's
 * config written: [node] settings, then `node_extra` verbatim (NULL: none;
 * text right after the header lands in [node], e.g. "batch_max = 1\n"; it may
 * also open sections of its own), then one [peer n<j>] section per other node
 * with the endpoint of proxy (i, j). Nothing is started. Caller owns the
 * result (lyn_net_destroy); NULL on failure. */
lyn_net *lyn_net_new(int n, const char *node_extra);

/* Node i (1..nt_n), borrowed from the net; NULL if out of range. */
lyh_node *lyn_net_node(const lyn_net *net, int i);

/* Proxy (from, to): what node `from` pushes to node `to` goes through it.
 * Borrowed from the net; NULL if out of range or from == to. */
lyp_proxy *lyn_net_link(const lyn_net *net, int from, int to);

/* Start nodes 1..nt_n in order (lyh_node_up, at most `timeout_ms` each) and
 * wait until each answers. If a start had to take new ports (see lyh_node_up),
 * the proxies toward that node are aimed at its new peer port (the proxies'
 * own ports, the ones in the configs, never change). 0 or -1 (the first node
 * that did not start is named). */
int lyn_net_up(lyn_net *net, int timeout_ms);

/* Set every proxy to PASS. 0, or -1 if one refused (named on stderr). */
int lyn_net_heal(lyn_net *net);

/* Cut node i off from every other node, both directions (cut 1: BLACKHOLE),
 * or link it again (cut 0: PASS). 0, or -1 if a proxy refused. */
int lyn_net_isolate(lyn_net *net, int i, int cut);

/* Poll the status of every node (LYN_STATUS_MS per call, every 100 ms) until
 * each shows every other node up in its peer rows. Returns the milliseconds it
 * took, or -1 after `timeout_ms` (then prints every node's status). */
int64_t lyn_net_wait_links_up(lyn_net *net, int timeout_ms);

/* Keep every node's directory at destroy time (call on a failure path). */
void lyn_net_keep(lyn_net *net);

/* Destroy the nodes (lyh_chain_destroy: killed if running, directories
 * removed unless kept), then the proxies, then the net. Accepts NULL and
 * *netp == NULL; clears *netp. */
void lyn_net_destroy(lyn_net **netp);

#endif
