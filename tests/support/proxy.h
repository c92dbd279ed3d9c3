/* proxy.h -- a TCP fault proxy for cluster tests: cut, stall and slow links.
 *
 *   lyp_proxy *p = lyp_proxy_new(b->nd_peer_port);   // 127.0.0.1:free -> 127.0.0.1:target
 *   ... write "[peer b] endpoint = lyp_proxy_endpoint(p)" into a's config ...
 *   lyp_proxy_set_mode(p, LYP_MODE_BLACKHOLE, 0);    // a and b no longer hear each other
 *   lyp_proxy_set_mode(p, LYP_MODE_PASS, 0);         // healed
 *   lyp_proxy_destroy(&p);
 *
 * Each proxy owns one thread that polls its listening socket and every
 * connection pair (the accepted side and the side it opened to the target).
 * The listening socket is bound before lyp_proxy_new returns and kept until
 * lyp_proxy_destroy, so its port is never lost to another process.
 *
 * Modes (what the link looks like to both ends):
 *   PASS       bytes flow both ways as fast as both ends take them.
 *   BLACKHOLE  a partition that drops packets: connections are accepted and
 *              kept, nothing is forwarded either way (the proxy stops reading,
 *              so senders stall once the socket buffers are full), a new
 *              connection is accepted but not connected to the target, and a
 *              close by one end is not passed on. Data already inside the proxy
 *              is held. When the link heals (any other mode), held data flows
 *              on, parked connections are connected to the target, and pairs
 *              that lost one end during the blackhole are closed.
 *   RESET      every connection is closed at once with a TCP reset (both ends
 *              see it), held data is dropped, and new connections are accepted
 *              and reset at once (the connecting end sees its connection
 *              refused after the handshake).
 *   DELAY      as PASS, but every byte is held `delay_ms` after it was read
 *              before it is written on (order kept; throughput is not limited).
 * A proxy starts in PASS. A connection whose target refuses it (the target
 * process is down) is closed.
 *
 * Thread safety: every function may be called from any thread; a mode change
 * returns once the proxy thread has applied it (after lyp_proxy_set_mode(RESET)
 * no connection through the proxy is open any more).
 *
 * All functions print a reason to stderr on failure. */
#ifndef LYP_PROXY_H
#define LYP_PROXY_H

#include <stdint.h>

typedef enum lyp_mode {
    LYP_MODE_PASS = 0,
    LYP_MODE_BLACKHOLE,
    LYP_MODE_RESET,
    LYP_MODE_DELAY,
} lyp_mode;

/* "pass", "blackhole", "reset", "delay", or "?". Never NULL. */
const char *lyp_mode_name(lyp_mode mode);

typedef struct lyp_proxy lyp_proxy;

/* Counters since lyp_proxy_new (a consistent snapshot). */
typedef struct lyp_stats {
    uint64_t st_accepted;   /* connections accepted (in every mode) */
    uint64_t st_connected;  /* connections made to the target */
    uint64_t st_refused;    /* connections reset at once (RESET) or refused by the target */
    uint64_t st_open;       /* connection pairs open now */
    uint64_t st_bytes_up;   /* bytes written to the target */
    uint64_t st_bytes_down; /* bytes written back to the connecting side */
} lyp_stats;

/* A proxy listening on a free port of 127.0.0.1 that forwards every
 * connection to 127.0.0.1:`target_port` (1..65535), in PASS mode, its thread
 * running. Caller owns the result (lyp_proxy_destroy). NULL on failure. */
lyp_proxy *lyp_proxy_new(int target_port);

/* Stop the thread, close every socket, free the proxy. Accepts NULL and
 * *pp == NULL; clears *pp. */
void lyp_proxy_destroy(lyp_proxy **pp);

/* The port it listens on, and "tcp://127.0.0.1:PORT" (valid until destroy). */
int lyp_proxy_port(const lyp_proxy *p);
const char *lyp_proxy_endpoint(const lyp_proxy *p);

/* Forward new connections to `target_port` from now on (connections already
 * made stay where they are). 0, or -1 if the port is out of range. */
int lyp_proxy_set_target(lyp_proxy *p, int target_port);

/* Switch to `mode`; `delay_ms` (0..60000) is used by LYP_MODE_DELAY only.
 * Returns 0 once the proxy thread has applied the change, -1 on a bad
 * argument or if the thread is gone. */
int lyp_proxy_set_mode(lyp_proxy *p, lyp_mode mode, int delay_ms);

/* The mode last set. */
lyp_mode lyp_proxy_mode(const lyp_proxy *p);

/* Copy the counters into *out. */
void lyp_proxy_stats(const lyp_proxy *p, lyp_stats *out);

#endif
