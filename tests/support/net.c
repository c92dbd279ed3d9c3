/* net.c -- nodes whose peer links all run through fault proxies (see net.h). */
#include "tests/support/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_CONFIG_MAX 8192

lyh_node *lyn_net_node(const lyn_net *net, int i)
{
    return lyh_chain_node(net->nt_chain, i);
}

lyp_proxy *lyn_net_link(const lyn_net *net, int from, int to)
{
    if (from < 1 || from > net->nt_n || to < 1 || to > net->nt_n || from == to)
        return NULL;
    return net->nt_px[from - 1][to - 1];
}

/* 1 if `port` is one a node of the net was given (and binds when it starts). */
static int s_port_taken(const lyn_net *net, int port)
{
    for (int i = 1; i <= net->nt_n; i++) {
        const lyh_node *nd = lyn_net_node(net, i);
        if (nd->nd_port == port || nd->nd_peer_port == port)
            return 1;
    }
    return 0;
}

/* A proxy to `target` on a port no node was given. Keeps the unlucky proxies
 * (so that the next one is handed another port) until a good one is bound,
 * at most 8 of them. NULL on failure. */
static lyp_proxy *s_proxy_new(const lyn_net *net, int target)
{
    lyp_proxy *bad[8] = {0}, *p = NULL;
    int nbad = 0;
    while ((p = lyp_proxy_new(target)) != NULL && s_port_taken(net, lyp_proxy_port(p)) && nbad < 8)
        bad[nbad++] = p;
    if (p != NULL && s_port_taken(net, lyp_proxy_port(p))) {
        fprintf(stderr, "net: every proxy port offered was a node's port\n");
        lyp_proxy_destroy(&p);
    }
    for (int k = 0; k < nbad; k++)
        lyp_proxy_destroy(&bad[k]);
    return p;
}

/* Node i's `extra` config: `node_extra`, then one [peer] section per other
 * node whose endpoint is the proxy of that direction. 0 or -1. */
static int s_write_config(const lyn_net *net, int i, const char *node_extra)
{
    char *text = malloc(S_CONFIG_MAX);
    if (text == NULL)
        return -1;
    int rc = -1;
    int w = snprintf(text, S_CONFIG_MAX, "%s", node_extra ? node_extra : "");
    if (w < 0 || w >= S_CONFIG_MAX)
        goto too_long;
    size_t len = (size_t)w;
    for (int j = 1; j <= net->nt_n; j++) {
        if (j == i)
            continue;
        w = lyh_peer_section(text + len, S_CONFIG_MAX - len, lyn_net_node(net, j),
                             lyp_proxy_endpoint(lyn_net_link(net, i, j)));
        if (w < 0)
            goto too_long;
        len += (size_t)w;
    }
    rc = lyh_node_write_config(lyn_net_node(net, i), text);
    if (rc != 0)
        fprintf(stderr, "net: unable to write n%d's config\n", i);
    free(text);
    return rc;

too_long:
    fprintf(stderr, "net: the config of n%d is too long\n", i);
    free(text);
    return rc;
}

lyn_net *lyn_net_new(int n, const char *node_extra)
{
    if (n < 2 || n > LYH_CHAIN_MAX) {
        fprintf(stderr, "net: a net has 2..%d nodes, not %d\n", LYH_CHAIN_MAX, n);
        return NULL;
    }
    lyn_net *net = calloc(1, sizeof *net);
    if (net == NULL)
        return NULL;
    lyh_adj none;
    memset(none, 0, sizeof none); /* the peers are written here, through proxies */
    net->nt_n = n;
    net->nt_chain = lyh_chain_new(n, none, NULL);
    if (net->nt_chain == NULL)
        goto fail;
    for (int i = 1; i <= n; i++)
        for (int j = 1; j <= n; j++)
            if (i != j) {
                net->nt_px[i - 1][j - 1] = s_proxy_new(net, lyn_net_node(net, j)->nd_peer_port);
                if (net->nt_px[i - 1][j - 1] == NULL) {
                    fprintf(stderr, "net: unable to start proxy n%d -> n%d\n", i, j);
                    goto fail;
                }
            }
    for (int i = 1; i <= n; i++)
        if (s_write_config(net, i, node_extra) != 0)
            goto fail;
    return net;

fail:
    fprintf(stderr, "net: unable to set up %d nodes\n", n);
    lyn_net_destroy(&net);
    return NULL;
}

int lyn_net_up(lyn_net *net, int timeout_ms)
{
    for (int i = 1; i <= net->nt_n; i++) {
        lyh_node *nd = lyn_net_node(net, i);
        if (lyh_node_up(nd, timeout_ms) != 0) {
            fprintf(stderr, "net: n%d did not start\n", i);
            return -1;
        }
        /* The start may have had to take other ports: aim the proxies there. */
        for (int k = 1; k <= net->nt_n; k++)
            if (k != i && lyp_proxy_set_target(lyn_net_link(net, k, i), nd->nd_peer_port) != 0) {
                fprintf(stderr, "net: unable to aim proxy n%d -> n%d at port %d\n", k, i,
                        nd->nd_peer_port);
                return -1;
            }
    }
    return 0;
}

int lyn_net_isolate(lyn_net *net, int i, int cut)
{
    lyp_mode m = cut ? LYP_MODE_BLACKHOLE : LYP_MODE_PASS;
    for (int j = 1; j <= net->nt_n; j++)
        if (j != i && (lyp_proxy_set_mode(lyn_net_link(net, i, j), m, 0) != 0 ||
                       lyp_proxy_set_mode(lyn_net_link(net, j, i), m, 0) != 0))
            return -1;
    return 0;
}

int lyn_net_heal(lyn_net *net)
{
    int rc = 0;
    for (int i = 1; i <= net->nt_n; i++)
        for (int j = 1; j <= net->nt_n; j++)
            if (i != j && lyp_proxy_set_mode(lyn_net_link(net, i, j), LYP_MODE_PASS, 0) != 0) {
                fprintf(stderr, "net: unable to heal link n%d -> n%d\n", i, j);
                rc = -1;
            }
    return rc;
}

/* 1 if node i answers status and shows every other node up. */
static int s_sees_all_up(const lyn_net *net, int i)
{
    ly_node_status st;
    if (lyh_chain_status(net->nt_chain, i, LYN_STATUS_MS, &st) != LY_OK)
        return 0;
    int ok = 1;
    for (int j = 1; j <= net->nt_n && ok; j++) {
        const ly_peer_status *p = lyh_status_peer(&st, (uint16_t)j);
        ok = j == i || (p != NULL && p->ps_up);
    }
    lyh_status_fini(&st);
    return ok;
}

int64_t lyn_net_wait_links_up(lyn_net *net, int timeout_ms)
{
    uint64_t t0 = lyh_now_ms();
    for (;;) {
        int ok = 1;
        for (int i = 1; i <= net->nt_n && ok; i++)
            ok = s_sees_all_up(net, i);
        if (ok)
            return (int64_t)(lyh_now_ms() - t0);
        if (lyh_now_ms() - t0 >= (uint64_t)timeout_ms) {
            lyh_chain_print(net->nt_chain);
            return -1;
        }
        lyh_sleep_ms(100);
    }
}

void lyn_net_keep(lyn_net *net)
{
    if (net != NULL && net->nt_chain != NULL)
        lyh_chain_keep(net->nt_chain);
}

void lyn_net_destroy(lyn_net **netp)
{
    if (netp == NULL || *netp == NULL)
        return;
    lyn_net *net = *netp;
    lyh_chain_destroy(&net->nt_chain);
    for (int i = 0; i < LYH_CHAIN_MAX; i++)
        for (int j = 0; j < LYH_CHAIN_MAX; j++)
            lyp_proxy_destroy(&net->nt_px[i][j]);
    free(net);
    *netp = NULL;
}
