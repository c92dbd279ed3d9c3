/* server.h -- the node: the client service, replication and the store wired
 * onto one event loop (node/loop.h: one thread, one zmq_poll).
 *
 * Sources, in gathering order: the client ROUTER, then the peer ROUTER and one
 * DEALER per peer (peer messages that carry events join the batch, at most 16
 * per batch; the others are handled at once). Before-sleep hooks: the batch
 * (execute, commit, reply, publish), the checkpoint, and the redemptions
 * waiting for rights (node/waits.h) that are due, which start the next batch.
 * A timer ticks replication every 100 ms. Counters live in node/metrics.h.
 *
 * Clients (POS terminals, loyalctl) talk to a ROUTER socket on `listen`. The
 * loop drains every request that is ready (up to batch_max), executes them all
 * in ONE write transaction, commits it durably once (group commit), and only
 * then sends the replies. So a reply always means "on disk", and the cost of a
 * sync is shared by every request in the batch.
 *
 * Bad input never reaches the store: a frame that does not decode gets an
 * error reply (or, over the size limit, the connection is dropped by ZeroMQ);
 * the node keeps serving. */
#ifndef LY_SERVER_H
#define LY_SERVER_H

#include <signal.h>

#include "common/config.h"

typedef struct ly_server ly_server;

/* Open the store in cf->cf_data_dir (which must exist) and bind the sockets.
 * On error returns LY_ECONFIG / LY_EVERSION (wrong store for this config),
 * LY_EIO, LY_ENOSPC, LY_ENOMEM or LY_EUNAVAIL (cannot bind), with a reason in
 * `why`. Caller owns *out. `cf` must outlive the server. */
ly_err ly_server_new(const ly_config *cf, ly_server **out, char *why, size_t why_len);

/* Reload the key lists of the config file at `path` (the file `cf` was
 * loaded from) whenever *hup becomes nonzero (set by SIGHUP), within one tick;
 * *hup is cleared. A file that does not load is logged and the keys in force
 * stay; only the [pos], [operator] and [auditor] sections are taken (the rest
 * needs a restart, and the log says so when it changed). */
void ly_server_reload_on(ly_server *sv, const char *path, volatile sig_atomic_t *hup);

/* Serve until *stop becomes nonzero (e.g. set by a signal handler). The batch
 * in progress is committed and answered before it returns. Returns LY_OK, or
 * LY_EIO when the loop itself failed. */
ly_err ly_server_run(ly_server *sv, volatile sig_atomic_t *stop);

/* Close sockets (pending replies get up to one second to leave) and the store.
 * Accepts NULL; clears *svp. */
void ly_server_destroy(ly_server **svp);

#endif
