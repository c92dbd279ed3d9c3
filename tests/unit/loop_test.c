/* The event loop: timers run at their periods, a readable descriptor calls its
 * source, before-sleep hooks run once per iteration, a hook can cut the next
 * sleep short, and the loop stops when asked (after finishing the iteration). */
#include <criterion/criterion.h>
#include <unistd.h>

#include "node/loop.h"

typedef struct s_tick {
    int t_count;
    uint64_t t_first, t_last, t_min_gap;
} s_tick;

static void s_on_tick(ly_loop *lp, uint64_t now, void *ctx)
{
    s_tick *t = ctx;
    (void)lp;
    if (t->t_count == 0)
        t->t_first = now;
    else if (t->t_min_gap == 0 || now - t->t_last < t->t_min_gap)
        t->t_min_gap = now - t->t_last;
    t->t_last = now;
    t->t_count++;
}

static void s_stop_timer(ly_loop *lp, uint64_t now, void *ctx)
{
    int *runs = ctx;
    (void)now;
    if ((*runs)++ > 0) /* the first run is at once */
        ly_loop_stop(lp);
}

Test(loop, timers_fire_at_their_periods)
{
    ly_loop *lp = ly_loop_new();
    cr_assert(lp);
    s_tick fast = {0}, slow = {0};
    int stop_runs = 0;
    cr_assert_eq(ly_loop_add_timer(lp, 10, s_on_tick, &fast), LY_OK);
    cr_assert_eq(ly_loop_add_timer(lp, 40, s_on_tick, &slow), LY_OK);
    cr_assert_eq(ly_loop_add_timer(lp, 300, s_stop_timer, &stop_runs), LY_OK);
    cr_assert_eq(ly_loop_add_timer(lp, 0, s_on_tick, &fast), LY_EINVAL);
    uint64_t t0 = ly_loop_mono_ms();
    cr_assert_eq(ly_loop_run(lp, NULL), LY_OK);
    uint64_t took = ly_loop_mono_ms() - t0;
    cr_assert_geq(took, 300);
    /* Run-with-period: never more often than the period (no catching up), and
     * on an idle machine about as often. The lower bounds leave room for a
     * loaded one. */
    cr_assert_geq(fast.t_min_gap, 10, "fast timer ran %llu ms apart",
                  (unsigned long long)fast.t_min_gap);
    cr_assert_geq(slow.t_min_gap, 40);
    cr_assert_leq(fast.t_count, (int)(took / 10) + 1);
    cr_assert_leq(slow.t_count, (int)(took / 40) + 1);
    cr_assert_geq(fast.t_count, 10, "fast timer ran %d times in %llu ms", fast.t_count,
                  (unsigned long long)took);
    cr_assert_geq(slow.t_count, 3);
    cr_assert_leq(fast.t_first - t0, 50, "a timer first runs at once");
    ly_loop_destroy(&lp);
    cr_assert_null(lp);
    ly_loop_destroy(NULL);
}

typedef struct s_pipe {
    int p_fd[2];
    int p_reads, p_hooks, p_writes;
    uint64_t p_written_at, p_read_at;
    ly_loop *p_loop;
} s_pipe;

static void s_on_readable(ly_loop *lp, void *ctx)
{
    s_pipe *p = ctx;
    char c;
    cr_assert_eq(read(p->p_fd[0], &c, 1), 1);
    p->p_reads++;
    p->p_read_at = ly_loop_now(lp);
    if (p->p_reads == 2)
        ly_loop_stop(lp);
}

static void s_writer(ly_loop *lp, uint64_t now, void *ctx)
{
    s_pipe *p = ctx;
    (void)lp;
    if (p->p_writes == 0) {
        p->p_writes++; /* the first run, at once: nothing yet */
        return;
    }
    cr_assert_eq(write(p->p_fd[1], "x", 1), 1);
    p->p_written_at = now;
    p->p_writes++;
}

static void s_count_hook(ly_loop *lp, void *ctx)
{
    s_pipe *p = ctx;
    p->p_hooks++;
    cr_assert_eq((uint64_t)p->p_hooks, ly_loop_iterations(lp), "one hook run per iteration");
}

Test(loop, readable_fd_and_before_sleep)
{
    s_pipe p = {0};
    cr_assert_eq(pipe(p.p_fd), 0);
    ly_loop *lp = ly_loop_new();
    cr_assert_eq(ly_loop_add_fd(lp, p.p_fd[0], s_on_readable, &p), LY_OK);
    cr_assert_eq(ly_loop_add_fd(lp, -1, s_on_readable, &p), LY_EINVAL);
    cr_assert_eq(ly_loop_add_timer(lp, 50, s_writer, &p), LY_OK);
    cr_assert_eq(ly_loop_add_before_sleep(lp, s_count_hook, &p), LY_OK);
    cr_assert_eq(ly_loop_run(lp, NULL), LY_OK);
    /* Each byte was read once, in the iteration after the write (or the same
     * one: timers run before the sources). */
    cr_assert_eq(p.p_reads, 2);
    cr_assert_eq(p.p_writes, 3);
    cr_assert_leq(p.p_read_at - p.p_written_at, 100);
    cr_assert_eq((uint64_t)p.p_hooks, ly_loop_iterations(lp));
    /* Nothing to read: the source is not called. Timer-driven iterations only. */
    cr_assert_lt(ly_loop_iterations(lp), 10, "%llu iterations for two 50 ms periods",
                 (unsigned long long)ly_loop_iterations(lp));
    ly_loop_destroy(&lp);
    close(p.p_fd[0]);
    close(p.p_fd[1]);
}

typedef struct s_waker {
    int w_runs;
    int w_wait_ms;
    uint64_t w_at[8];
} s_waker;

/* No sources, no timers: without a wake-up the poll would sleep for ever. */
static void s_wake_hook(ly_loop *lp, void *ctx)
{
    s_waker *w = ctx;
    w->w_at[w->w_runs++] = ly_loop_mono_ms();
    if (w->w_runs == 8)
        ly_loop_stop(lp);
    else if (w->w_wait_ms)
        ly_loop_wait_at_most(lp, w->w_wait_ms);
    else
        ly_loop_wake(lp);
}

Test(loop, hooks_shorten_the_sleep)
{
    ly_loop *lp = ly_loop_new();
    s_waker w = {0};
    cr_assert_eq(ly_loop_add_before_sleep(lp, s_wake_hook, &w), LY_OK);
    /* The first poll has nothing to wait for: a hook must not hang the test
     * before it ran once, so give the loop a first wake-up. */
    ly_loop_wake(lp);
    cr_assert_eq(ly_loop_run(lp, NULL), LY_OK);
    cr_assert_eq(w.w_runs, 8);
    cr_assert_leq(w.w_at[7] - w.w_at[0], 200, "wake-ups did not sleep");
    ly_loop_destroy(&lp);

    lp = ly_loop_new();
    s_waker v = {.w_wait_ms = 20};
    cr_assert_eq(ly_loop_add_before_sleep(lp, s_wake_hook, &v), LY_OK);
    ly_loop_wake(lp);
    cr_assert_eq(ly_loop_run(lp, NULL), LY_OK);
    for (int i = 1; i < 8; i++)
        cr_assert_geq(v.w_at[i] - v.w_at[i - 1], 19, "slept %llu ms, not 20",
                      (unsigned long long)(v.w_at[i] - v.w_at[i - 1]));
    ly_loop_destroy(&lp);
}

static volatile sig_atomic_t s_flag;

static void s_flag_timer(ly_loop *lp, uint64_t now, void *ctx)
{
    int *runs = ctx;
    (void)lp;
    (void)now;
    if (++*runs == 3)
        s_flag = 1; /* as a signal handler would */
}

static void s_after_flag(ly_loop *lp, void *ctx)
{
    int *hooks = ctx;
    (void)lp;
    (*hooks)++;
}

Test(loop, stop_flag_finishes_the_iteration)
{
    ly_loop *lp = ly_loop_new();
    int runs = 0, hooks = 0;
    cr_assert_eq(ly_loop_add_timer(lp, 5, s_flag_timer, &runs), LY_OK);
    cr_assert_eq(ly_loop_add_before_sleep(lp, s_after_flag, &hooks), LY_OK);
    s_flag = 0;
    cr_assert_eq(ly_loop_run(lp, &s_flag), LY_OK);
    cr_assert_eq(runs, 3);
    /* The iteration that raised the flag ran its hooks before stopping. */
    cr_assert_eq((uint64_t)hooks, ly_loop_iterations(lp));
    /* A flag already set: no iteration at all. */
    uint64_t before = ly_loop_iterations(lp);
    cr_assert_eq(ly_loop_run(lp, &s_flag), LY_OK);
    cr_assert_eq(ly_loop_iterations(lp), before);
    ly_loop_destroy(&lp);
}
