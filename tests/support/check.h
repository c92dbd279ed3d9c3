/* check.h -- Criterion checks shared by the cluster tests.
 *
 *   lyc_links_up(net, 20000, "(a) two nodes");       // every node sees every peer up
 *   ... load ...
 *   int64_t ms = lyc_converge(chain, 30000, "(a) after the load");
 *   lyc_stop_clean(chain);                           // every node exits 0 on SIGTERM
 *
 * Each one waits for a state of real nodes and, if it does not come, keeps
 * the nodes' directories where that helps (printed at destroy time) and fails
 * the test with an assertion whose message starts with `what` and says what
 * was awaited and for how long; the states of the nodes are printed above it.
 * For the test's main thread only (Criterion's assertions end the test).
 * Header-only: it needs Criterion, which the harness library does not link. */
#ifndef LYC_CHECK_H
#define LYC_CHECK_H

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include <inttypes.h>
#include <stdint.h>

#include "tests/support/harness.h"
#include "tests/support/net.h"

/* Wait at most `timeout_ms` until the running nodes of `ch` converge
 * (lyh_chain_wait_converged); log the time it took and return it. On a
 * timeout: keep every node's directory and fail. */
static inline int64_t lyc_converge(lyh_chain *ch, int timeout_ms, const char *what)
{
    int64_t ms = lyh_chain_wait_converged(ch, timeout_ms);
    if (ms < 0)
        lyh_chain_keep(ch);
    cr_assert_geq(ms, 0, "%s: the nodes did not converge within %d ms (states above)", what,
                  timeout_ms);
    cr_log_info("%s: converged in %" PRId64 " ms", what, ms);
    return ms;
}

/* SIGTERM every running node of `ch` (lyh_chain_stop, 20 s each): each must
 * exit 0 (under LY_SANITIZE: no leak, no error report); else fail. */
static inline void lyc_stop_clean(lyh_chain *ch)
{
    int bad = lyh_chain_stop(ch, 20000);
    cr_assert_eq(bad, 0, "%d node(s) did not exit 0 on SIGTERM (codes and logs above)", bad);
}

/* Wait at most `timeout_ms` until every node of `net` shows every other one
 * up (lyn_net_wait_links_up); return the ms it took. On a timeout: keep every
 * node's directory and fail. */
static inline int64_t lyc_links_up(lyn_net *net, int timeout_ms, const char *what)
{
    int64_t ms = lyn_net_wait_links_up(net, timeout_ms);
    if (ms < 0)
        lyn_net_keep(net);
    cr_assert_geq(ms, 0, "%s: not every node saw every peer up within %d ms (states above)", what,
                  timeout_ms);
    return ms;
}

#endif
