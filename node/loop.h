/* loop.h -- a small event loop over one zmq_poll, in the spirit of Redis's ae.
 *
 * The modules that own a source register it: a ZeroMQ socket or a plain file
 * descriptor with a callback for "readable", a timer with a period, a hook
 * that runs before the loop sleeps again. One iteration of ly_loop_run:
 *
 *   1. poll every source, sleeping until the next timer is due, or less if a
 *      hook asked for it (ly_loop_wait_at_most, ly_loop_wake) in the
 *      iteration before; a signal (EINTR) ends the sleep like a timeout;
 *   2. run the timers that are due, in registration order;
 *   3. call the readable sources, in registration order (so the order of
 *      registration is the order of gathering);
 *   4. run every before-sleep hook, in registration order (the group commit
 *      goes here: what the sources gathered is executed, committed, answered);
 *   5. stop if asked to (ly_loop_stop, or the caller's flag), else go on.
 *
 * So an iteration that started always finishes: a stop request never leaves
 * gathered work behind. Everything runs on the caller's thread; callbacks may
 * register further sources (polled from the next iteration) and may call
 * ly_loop_stop, ly_loop_wake and ly_loop_wait_at_most. Sources cannot be
 * removed: they live as long as the loop. The loop never closes or reads a
 * socket or descriptor itself; a readable callback should read what it wants
 * (what it leaves makes the next poll return at once). */
#ifndef LY_LOOP_H
#define LY_LOOP_H

#include <signal.h>
#include <stdint.h>

#include "common/err.h"

typedef struct ly_loop ly_loop;

/* A readable source or a before-sleep hook. `ctx` is the pointer registered. */
typedef void ly_loop_fn(ly_loop *lp, void *ctx);

/* A timer; `now_ms` is ly_loop_now. */
typedef void ly_loop_timer_fn(ly_loop *lp, uint64_t now_ms, void *ctx);

/* A loop with no sources, or NULL on ENOMEM. Caller owns it. */
ly_loop *ly_loop_new(void);

/* Free the loop (not the sockets or descriptors it polled). Accepts NULL;
 * clears *lpp. Not from inside one of its callbacks. */
void ly_loop_destroy(ly_loop **lpp);

/* Call fn(lp, ctx) in every iteration in which ZeroMQ socket `sock` (borrowed:
 * it must outlive the loop, or the loop's last run) is readable. LY_OK,
 * LY_EINVAL (NULL sock or fn) or LY_ENOMEM. */
ly_err ly_loop_add_socket(ly_loop *lp, void *sock, ly_loop_fn *fn, void *ctx);

/* The same for a plain file descriptor `fd` (a pipe, a TCP socket...). */
ly_err ly_loop_add_fd(ly_loop *lp, int fd, ly_loop_fn *fn, void *ctx);

/* Call fn(lp, now, ctx) at once (in the first iteration) and then whenever
 * `period_ms` (> 0) has passed since its last run: run-with-period, no
 * catching up on missed runs. LY_OK, LY_EINVAL or LY_ENOMEM. */
ly_err ly_loop_add_timer(ly_loop *lp, uint64_t period_ms, ly_loop_timer_fn *fn, void *ctx);

/* Call fn(lp, ctx) at the end of every iteration, before the next poll.
 * LY_OK, LY_EINVAL or LY_ENOMEM. */
ly_err ly_loop_add_before_sleep(ly_loop *lp, ly_loop_fn *fn, void *ctx);

/* The next poll sleeps at most `ms` (0: it only looks). Several requests in
 * one iteration: the shortest wins. Applies to the next poll only. */
void ly_loop_wait_at_most(ly_loop *lp, int ms);

/* The next poll does not sleep: as ly_loop_wait_at_most(lp, 0). */
void ly_loop_wake(ly_loop *lp);

/* End ly_loop_run after the current iteration. */
void ly_loop_stop(ly_loop *lp);

/* Monotonic milliseconds when the current iteration woke up. */
uint64_t ly_loop_now(const ly_loop *lp);

/* Iterations run so far (polls that returned). */
uint64_t ly_loop_iterations(const ly_loop *lp);

/* The monotonic clock in milliseconds. */
uint64_t ly_loop_mono_ms(void);

/* Run iterations until ly_loop_stop is called or *stop (may be NULL; e.g. set
 * by a signal handler) is nonzero, checked before each iteration. Returns
 * LY_OK, or LY_EIO when zmq_poll failed for another reason than a signal
 * (errno says why; the iteration is not finished). */
ly_err ly_loop_run(ly_loop *lp, volatile sig_atomic_t *stop);

#endif
