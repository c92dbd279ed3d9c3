/* The metrics registry: counters only go up, histograms are cumulative with
 * fixed buckets, a delta of two snapshots gives the percentiles of what was
 * observed between them, and labels make distinct series. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <string.h>

#include "node/metrics.h"

static const uint64_t s_bounds[] = {1, 2, 5, 10, 20, 50, 100};
#define S_NB ((uint32_t)(sizeof s_bounds / sizeof s_bounds[0]))

Test(metrics, counters_only_go_up)
{
    ly_metrics *reg = ly_metrics_new();
    cr_assert(reg);
    ly_metric *c = ly_metrics_counter(reg, "loyal_things_total", "things", "", NULL);
    cr_assert(c);
    cr_assert_eq(c->mt_value, 0);
    uint64_t last = 0;
    for (int i = 0; i < 100; i++) {
        if (i % 3)
            ly_metric_inc(c);
        else
            ly_metric_add(c, (uint64_t)i);
        cr_assert_geq(c->mt_value, last);
        last = c->mt_value;
    }
    cr_assert_eq(c->mt_value, 66 + 3 * (33 * 34 / 2), "%llu", (unsigned long long)c->mt_value);
    /* Setting is for gauges: a counter ignores it. */
    ly_metric_set(c, 0);
    cr_assert_eq(c->mt_value, last);
    ly_metric *g = ly_metrics_gauge(reg, "loyal_things", "things now", "", NULL);
    cr_assert(g);
    ly_metric_set(g, 5);
    ly_metric_set(g, 2);
    cr_assert_eq(g->mt_gauge, 2);
    ly_metrics_destroy(&reg);
    cr_assert_null(reg);
    ly_metrics_destroy(NULL);
}

Test(metrics, histogram_buckets_are_cumulative)
{
    ly_metrics *reg = ly_metrics_new();
    ly_metric *h = ly_metrics_histogram(reg, "loyal_wait_ms", "waits", "ms", NULL, s_bounds, S_NB);
    cr_assert(h);
    uint64_t vals[] = {0, 1, 2, 3, 5, 6, 10, 11, 50, 99, 100, 101, 1000};
    uint64_t sum = 0;
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        ly_metric_observe(h, vals[i]);
        sum += vals[i];
    }
    cr_assert_eq(h->mt_value, sizeof vals / sizeof vals[0]);
    cr_assert_eq(h->mt_sum, sum);
    /* le=1: 0,1; le=2: +2; le=5: +3,5; le=10: +6,10; le=20: +11; le=50: +50;
     * le=100: +99,100; +Inf: +101,1000. */
    uint64_t want[] = {2, 3, 5, 7, 8, 9, 11, 13};
    for (uint32_t i = 0; i <= S_NB; i++) {
        cr_assert_eq(ly_metric_bucket(h, i), want[i], "bucket %u: %llu", i,
                     (unsigned long long)ly_metric_bucket(h, i));
        if (i > 0)
            cr_assert_geq(ly_metric_bucket(h, i), ly_metric_bucket(h, i - 1));
    }
    cr_assert_eq(ly_metric_bucket(h, S_NB), h->mt_value, "+Inf holds every observation");
    cr_assert_eq(ly_metric_bucket(h, S_NB + 1), 0);
    /* Bounds must ascend; a histogram needs at least one. */
    uint64_t bad[] = {5, 5};
    cr_assert_null(ly_metrics_histogram(reg, "loyal_bad_ms", "", "ms", NULL, bad, 2));
    cr_assert_null(ly_metrics_histogram(reg, "loyal_bad_ms", "", "ms", NULL, s_bounds, 0));
    ly_metrics_destroy(&reg);
}

Test(metrics, delta_snapshot_gives_recent_percentiles)
{
    ly_metrics *reg = ly_metrics_new();
    ly_metric *h = ly_metrics_histogram(reg, "loyal_lag_ms", "lag", "ms", NULL, s_bounds, S_NB);
    /* Before: slow observations that must not show in the delta. */
    for (int i = 0; i < 1000; i++)
        ly_metric_observe(h, 90);
    ly_metric_snap before, now;
    ly_metric_snapshot(h, &before);
    cr_assert_eq(ly_metric_quantile(h, &before, 0.5), 100);
    /* Then: 90 fast ones (<= 2) and 10 at 15 (le=20). */
    for (int i = 0; i < 90; i++)
        ly_metric_observe(h, 2);
    for (int i = 0; i < 10; i++)
        ly_metric_observe(h, 15);
    ly_metric_snapshot(h, &now);
    ly_metric_snap_delta(&now, &before);
    cr_assert_eq(now.ms_count, 100);
    cr_assert_eq(now.ms_sum, 90 * 2 + 10 * 15);
    cr_assert_eq(ly_metric_quantile(h, &now, 0.50), 2);
    cr_assert_eq(ly_metric_quantile(h, &now, 0.89), 2);
    cr_assert_eq(ly_metric_quantile(h, &now, 0.90), 20);
    cr_assert_eq(ly_metric_quantile(h, &now, 0.99), 20);
    cr_assert_eq(ly_metric_highest(h, &now), 20);
    /* Nothing was reset: the cumulative view still holds everything. */
    cr_assert_eq(h->mt_value, 1100);
    ly_metric_snap all;
    ly_metric_snapshot(h, &all);
    cr_assert_eq(ly_metric_quantile(h, &all, 0.5), 100);
    /* An empty delta, and the +Inf bucket reported as the last finite bound. */
    ly_metric_snap d1, d2;
    ly_metric_snapshot(h, &d1);
    ly_metric_snapshot(h, &d2);
    ly_metric_snap_delta(&d2, &d1);
    cr_assert_eq(ly_metric_quantile(h, &d2, 0.5), 0);
    cr_assert_eq(ly_metric_highest(h, &d2), 0);
    ly_metric_observe(h, 5000);
    ly_metric_snapshot(h, &d2);
    ly_metric_snap_delta(&d2, &d1);
    cr_assert_eq(ly_metric_quantile(h, &d2, 0.99), 100);
    ly_metrics_destroy(&reg);
}

typedef struct s_owner {
    ly_metric *o_a, *o_b;
} s_owner;

Test(metrics, counters_from_a_table)
{
    static const ly_metric_def defs[] = {
        {offsetof(s_owner, o_a), "loyal_a_total", "a", ""},
        {offsetof(s_owner, o_b), "loyal_b_total", "b", "events"},
    };
    ly_metrics *reg = ly_metrics_new();
    s_owner o = {0};
    cr_assert_eq(ly_metrics_counters(reg, defs, 2, &o, "peer=\"1\""), 0);
    cr_assert(o.o_a && o.o_b);
    cr_assert_eq(o.o_a, ly_metrics_find(reg, "loyal_a_total", "peer=\"1\""));
    cr_assert_str_eq(o.o_b->mt_unit, "events");
    /* Once per labels: the same table again is refused. */
    cr_assert_eq(ly_metrics_counters(reg, defs, 2, &o, "peer=\"1\""), -1);
    ly_metrics_destroy(&reg);
}

Test(metrics, labels_make_distinct_series)
{
    ly_metrics *reg = ly_metrics_new();
    ly_metric *a =
        ly_metrics_counter(reg, "loyal_peer_events_sent_total", "sent", "events", "peer=\"2\"");
    ly_metric *b =
        ly_metrics_counter(reg, "loyal_peer_events_sent_total", "sent", "events", "peer=\"3\"");
    cr_assert(a && b && a != b);
    /* The same name and labels twice is refused; a bad name too. */
    cr_assert_null(
        ly_metrics_counter(reg, "loyal_peer_events_sent_total", "sent", "events", "peer=\"2\""));
    cr_assert_null(ly_metrics_counter(reg, "9lives", "", "", NULL));
    cr_assert_null(ly_metrics_counter(reg, "has space", "", "", NULL));
    ly_metric_add(a, 5);
    ly_metric_inc(b);
    cr_assert_eq(ly_metrics_find(reg, "loyal_peer_events_sent_total", "peer=\"2\"")->mt_value, 5);
    cr_assert_eq(ly_metrics_find(reg, "loyal_peer_events_sent_total", "peer=\"3\"")->mt_value, 1);
    cr_assert_null(ly_metrics_find(reg, "loyal_peer_events_sent_total", NULL));
    /* Iteration: registration order, with everything a renderer needs. */
    ly_metric *g = ly_metrics_gauge(reg, "loyal_rights_pending", "waiting", "", NULL);
    cr_assert(g);
    const ly_metric *m = ly_metrics_first(reg);
    cr_assert_eq(m, a);
    cr_assert_str_eq(m->mt_labels, "peer=\"2\"");
    cr_assert_str_eq(m->mt_unit, "events");
    cr_assert_str_eq(ly_metric_kind_name(m->mt_kind), "counter");
    m = m->mt_next;
    cr_assert_eq(m, b);
    m = m->mt_next;
    cr_assert_eq(m, g);
    cr_assert_str_eq(ly_metric_kind_name(m->mt_kind), "gauge");
    cr_assert_str_eq(m->mt_labels, "");
    cr_assert_null(m->mt_next);
    ly_metrics_destroy(&reg);
}
