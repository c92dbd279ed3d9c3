#include "node/loop.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <zmq.h>

typedef struct s_source {
    ly_loop_fn *so_fn;
    void *so_ctx;
} s_source;

typedef struct s_timer {
    uint64_t ti_period, ti_next; /* ti_next 0: due at once */
    ly_loop_timer_fn *ti_fn;
    void *ti_ctx;
} s_timer;

struct ly_loop {
    zmq_pollitem_t *lp_items; /* parallel to lp_sources */
    s_source *lp_sources;
    int lp_nsources, lp_sources_cap;
    s_timer *lp_timers;
    int lp_ntimers, lp_timers_cap;
    s_source *lp_hooks;
    int lp_nhooks, lp_hooks_cap;
    int lp_wait; /* the next poll's limit set by a hook, -1: none */
    int lp_stop;
    uint64_t lp_now, lp_iterations;
};

uint64_t ly_loop_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000ULL + (uint64_t)ts.tv_nsec / 1000000ULL;
}

ly_loop *ly_loop_new(void)
{
    ly_loop *lp = calloc(1, sizeof *lp);
    if (!lp)
        return NULL;
    lp->lp_wait = -1;
    lp->lp_now = ly_loop_mono_ms();
    return lp;
}

void ly_loop_destroy(ly_loop **lpp)
{
    if (!lpp || !*lpp)
        return;
    free((*lpp)->lp_items);
    free((*lpp)->lp_sources);
    free((*lpp)->lp_timers);
    free((*lpp)->lp_hooks);
    free(*lpp);
    *lpp = NULL;
}

/* `arr` (n used of *cap, `size` bytes each) with room for one more: the same
 * or a new block, or NULL on ENOMEM (`arr` and *cap unchanged). */
static void *s_grow(void *arr, int n, int *cap, size_t size)
{
    if (n < *cap)
        return arr;
    int ncap = *cap ? *cap * 2 : 4;
    void *p = realloc(arr, (size_t)ncap * size);
    if (p)
        *cap = ncap;
    return p;
}

static ly_err s_add_item(ly_loop *lp, void *sock, int fd, ly_loop_fn *fn, void *ctx)
{
    if (!fn)
        return LY_EINVAL;
    int cap = lp->lp_sources_cap; /* the items grow in step with the sources */
    s_source *so = s_grow(lp->lp_sources, lp->lp_nsources, &cap, sizeof *so);
    if (!so)
        return LY_ENOMEM;
    lp->lp_sources = so;
    cap = lp->lp_sources_cap;
    zmq_pollitem_t *items = s_grow(lp->lp_items, lp->lp_nsources, &cap, sizeof *items);
    if (!items)
        return LY_ENOMEM;
    lp->lp_items = items;
    lp->lp_sources_cap = cap;
    lp->lp_items[lp->lp_nsources] = (zmq_pollitem_t){sock, fd, ZMQ_POLLIN, 0};
    lp->lp_sources[lp->lp_nsources] = (s_source){fn, ctx};
    lp->lp_nsources++;
    return LY_OK;
}

ly_err ly_loop_add_socket(ly_loop *lp, void *sock, ly_loop_fn *fn, void *ctx)
{
    return sock ? s_add_item(lp, sock, -1, fn, ctx) : LY_EINVAL;
}

ly_err ly_loop_add_fd(ly_loop *lp, int fd, ly_loop_fn *fn, void *ctx)
{
    return fd >= 0 ? s_add_item(lp, NULL, fd, fn, ctx) : LY_EINVAL;
}

ly_err ly_loop_add_timer(ly_loop *lp, uint64_t period_ms, ly_loop_timer_fn *fn, void *ctx)
{
    if (!fn || period_ms == 0)
        return LY_EINVAL;
    s_timer *ti = s_grow(lp->lp_timers, lp->lp_ntimers, &lp->lp_timers_cap, sizeof *ti);
    if (!ti)
        return LY_ENOMEM;
    lp->lp_timers = ti;
    lp->lp_timers[lp->lp_ntimers++] = (s_timer){period_ms, 0, fn, ctx};
    return LY_OK;
}

ly_err ly_loop_add_before_sleep(ly_loop *lp, ly_loop_fn *fn, void *ctx)
{
    if (!fn)
        return LY_EINVAL;
    s_source *ho = s_grow(lp->lp_hooks, lp->lp_nhooks, &lp->lp_hooks_cap, sizeof *ho);
    if (!ho)
        return LY_ENOMEM;
    lp->lp_hooks = ho;
    lp->lp_hooks[lp->lp_nhooks++] = (s_source){fn, ctx};
    return LY_OK;
}

void ly_loop_wait_at_most(ly_loop *lp, int ms)
{
    if (ms < 0)
        ms = 0;
    if (lp->lp_wait < 0 || ms < lp->lp_wait)
        lp->lp_wait = ms;
}

void ly_loop_wake(ly_loop *lp)
{
    ly_loop_wait_at_most(lp, 0);
}

void ly_loop_stop(ly_loop *lp)
{
    lp->lp_stop = 1;
}

uint64_t ly_loop_now(const ly_loop *lp)
{
    return lp->lp_now;
}

uint64_t ly_loop_iterations(const ly_loop *lp)
{
    return lp->lp_iterations;
}

/* The poll's timeout: until the next timer, or a hook's limit; -1 for none. */
static long s_timeout(const ly_loop *lp, uint64_t now)
{
    long wait = lp->lp_wait;
    for (int i = 0; i < lp->lp_ntimers && wait != 0; i++) {
        uint64_t next = lp->lp_timers[i].ti_next;
        long left = next > now ? (long)(next - now) : 0;
        if (wait < 0 || left < wait)
            wait = left;
    }
    return wait;
}

ly_err ly_loop_run(ly_loop *lp, volatile sig_atomic_t *stop)
{
    lp->lp_stop = 0;
    while (!lp->lp_stop && !(stop && *stop)) {
        int rc = zmq_poll(lp->lp_items, lp->lp_nsources, s_timeout(lp, ly_loop_mono_ms()));
        if (rc < 0 && errno != EINTR)
            return LY_EIO;
        lp->lp_wait = -1;
        lp->lp_now = ly_loop_mono_ms();
        lp->lp_iterations++;
        for (int i = 0; i < lp->lp_ntimers; i++) {
            s_timer *ti = &lp->lp_timers[i];
            if (ti->ti_next <= lp->lp_now) {
                ti->ti_next = lp->lp_now + ti->ti_period;
                ti->ti_fn(lp, lp->lp_now, ti->ti_ctx);
            }
        }
        /* A signal ends the poll without events; the iteration still runs. */
        int n = rc > 0 ? lp->lp_nsources : 0;
        for (int i = 0; i < n; i++)
            if (lp->lp_items[i].revents & ZMQ_POLLIN)
                lp->lp_sources[i].so_fn(lp, lp->lp_sources[i].so_ctx);
        for (int i = 0; i < lp->lp_nhooks; i++)
            lp->lp_hooks[i].so_fn(lp, lp->lp_hooks[i].so_ctx);
    }
    return LY_OK;
}
