/* metrics.h -- one registry of the node's named counters, gauges and histograms.
 *
 * Each module registers the metrics it owns once, at start, and keeps the
 * returned pointers; updating one is a plain add on the hot path (no lookup,
 * no lock: the node is one thread). Readers -- `status`, the log lines, a
 * future `/metrics` endpoint -- read the registry and never reset anything:
 * counters only go up and histograms are cumulative, so a reader that wants a
 * rate or a recent percentile keeps a snapshot and takes the delta.
 *
 * Names follow Prometheus: `loyal_<what>_total` for counters, base names for
 * gauges, `loyal_<what>_<unit>` for histograms. A metric is one series: the
 * same name may be registered several times with different labels (e.g.
 * `peer="2"`); a family shares its help text and unit. */
#ifndef LY_METRICS_H
#define LY_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define LY_METRIC_BOUNDS_MAX 32 /* finite histogram buckets; +Inf is implicit */
#define LY_METRIC_LABELS_MAX 64 /* bytes of a label set, e.g. `peer="2"` */

typedef enum ly_metric_kind {
    LY_METRIC_COUNTER,
    LY_METRIC_GAUGE,
    LY_METRIC_HISTOGRAM,
} ly_metric_kind;

/* One series. Read the fields freely; change values only through the
 * functions below. Owned by its registry: valid until ly_metrics_destroy. */
typedef struct ly_metric {
    ly_metric_kind mt_kind;
    const char *mt_name;                      /* borrowed: a string that outlives the registry */
    const char *mt_help;                      /* borrowed, as mt_name */
    const char *mt_unit;                      /* borrowed, as mt_name ("" for plain counts) */
    char mt_labels[LY_METRIC_LABELS_MAX];     /* copied; "" for none */
    uint64_t mt_value;                        /* counter: the total; histogram: observations */
    int64_t mt_gauge;                         /* gauge: the current value */
    uint64_t mt_sum;                          /* histogram: sum of the observed values */
    uint32_t mt_nbounds;                      /* histogram: finite buckets */
    uint64_t mt_bounds[LY_METRIC_BOUNDS_MAX]; /* histogram: upper bounds (le), ascending */
    uint64_t mt_counts[LY_METRIC_BOUNDS_MAX + 1]; /* per bucket, not cumulative; last: +Inf */
    struct ly_metric *mt_next;                    /* registration order */
} ly_metric;

typedef struct ly_metrics ly_metrics;

/* A histogram's state at one moment, for deltas. */
typedef struct ly_metric_snap {
    uint64_t ms_count, ms_sum;
    uint64_t ms_counts[LY_METRIC_BOUNDS_MAX + 1]; /* per bucket, as mt_counts */
} ly_metric_snap;

/* An empty registry, or NULL on ENOMEM. Caller owns it. */
ly_metrics *ly_metrics_new(void);

/* Free the registry and every metric in it (pointers into it become invalid).
 * Accepts NULL; clears *regp. */
void ly_metrics_destroy(ly_metrics **regp);

/* Register a counter or a gauge. `name` ([a-zA-Z_:][a-zA-Z0-9_:]*), `help`
 * and `unit` are borrowed (use literals); `labels` (NULL for none; at most
 * LY_METRIC_LABELS_MAX - 1 bytes, `key="value"` pairs joined by commas) is
 * copied. Returns the metric, owned by `reg`, starting at 0; or NULL if the
 * name is invalid, the labels too long, the same name and labels are already
 * registered, or on ENOMEM. */
ly_metric *ly_metrics_counter(ly_metrics *reg, const char *name, const char *help, const char *unit,
                              const char *labels);
ly_metric *ly_metrics_gauge(ly_metrics *reg, const char *name, const char *help, const char *unit,
                            const char *labels);

/* A counter for ly_metrics_counters: where its pointer goes, and its names. */
typedef struct ly_metric_def {
    size_t md_offset; /* offsetof the `ly_metric *` field in the owner's struct */
    const char *md_name, *md_help, *md_unit;
} ly_metric_def;

/* Register the `n` counters of table `defs`, all with `labels`, storing each
 * one's pointer in the `ly_metric *` field at `base` + md_offset. 0, or
 * -1 if one could not be registered (as ly_metrics_counter; the fields of the
 * others may be set). */
int ly_metrics_counters(ly_metrics *reg, const ly_metric_def *defs, size_t n, void *base,
                        const char *labels);

/* Register a histogram with `nbounds` (1..LY_METRIC_BOUNDS_MAX) finite
 * buckets of strictly ascending upper bounds `bounds` (copied); values above
 * the last go to the +Inf bucket. NULL as ly_metrics_counter, or if the bounds
 * are not ascending. */
ly_metric *ly_metrics_histogram(ly_metrics *reg, const char *name, const char *help,
                                const char *unit, const char *labels, const uint64_t *bounds,
                                uint32_t nbounds);

/* The metric named `name` with exactly `labels` (NULL or "" for none), or NULL. */
ly_metric *ly_metrics_find(const ly_metrics *reg, const char *name, const char *labels);

/* Iteration in registration order: ly_metrics_first, then mt_next until NULL. */
const ly_metric *ly_metrics_first(const ly_metrics *reg);

/* Counters: add `n` (they never go down). */
static inline void ly_metric_add(ly_metric *m, uint64_t n)
{
    m->mt_value += n;
}

static inline void ly_metric_inc(ly_metric *m)
{
    m->mt_value++;
}

/* Gauges: set the current value. Ignored on other kinds. */
static inline void ly_metric_set(ly_metric *m, int64_t v)
{
    if (m->mt_kind == LY_METRIC_GAUGE)
        m->mt_gauge = v;
}

/* Histograms: record one observation of `v`. Ignored on other kinds. */
void ly_metric_observe(ly_metric *m, uint64_t v);

/* Histograms: the cumulative count of bucket `i` (observations <= bound i);
 * i == mt_nbounds is the +Inf bucket, equal to mt_value. 0 past it. */
uint64_t ly_metric_bucket(const ly_metric *m, uint32_t i);

/* Histograms: copy the current state into *out. */
void ly_metric_snapshot(const ly_metric *m, ly_metric_snap *out);

/* Turn `now` into the delta `now` - `before` (both snapshots of one histogram,
 * `before` the older): the observations made between them. */
void ly_metric_snap_delta(ly_metric_snap *now, const ly_metric_snap *before);

/* The `q` quantile (0..1) of the observations in `s` (a snapshot or a delta of
 * histogram `m`): the upper bound of the first bucket whose cumulative count
 * exceeds q * count; the last finite bound for the +Inf bucket; 0 if `s` is
 * empty. */
uint64_t ly_metric_quantile(const ly_metric *m, const ly_metric_snap *s, double q);

/* The upper bound of the highest non-empty bucket of `s` (the last finite
 * bound for +Inf), 0 if empty: the largest observation, rounded up. */
uint64_t ly_metric_highest(const ly_metric *m, const ly_metric_snap *s);

/* "counter", "gauge" or "histogram". */
const char *ly_metric_kind_name(ly_metric_kind k);

#endif
