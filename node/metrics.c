#include "node/metrics.h"

#include <stdlib.h>
#include <string.h>

struct ly_metrics {
    ly_metric *mr_first, *mr_last;
};

ly_metrics *ly_metrics_new(void)
{
    return calloc(1, sizeof(ly_metrics));
}

void ly_metrics_destroy(ly_metrics **regp)
{
    if (!regp || !*regp)
        return;
    ly_metric *m = (*regp)->mr_first;
    while (m) {
        ly_metric *next = m->mt_next;
        free(m);
        m = next;
    }
    free(*regp);
    *regp = NULL;
}

static int s_name_ok(const char *name)
{
    if (!name || !name[0] || (name[0] >= '0' && name[0] <= '9'))
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == ':'))
            return 0;
    return 1;
}

ly_metric *ly_metrics_find(const ly_metrics *reg, const char *name, const char *labels)
{
    if (!labels)
        labels = "";
    for (ly_metric *m = reg->mr_first; m; m = m->mt_next)
        if (strcmp(m->mt_name, name) == 0 && strcmp(m->mt_labels, labels) == 0)
            return m;
    return NULL;
}

static ly_metric *s_add(ly_metrics *reg, ly_metric_kind kind, const char *name, const char *help,
                        const char *unit, const char *labels)
{
    if (!labels)
        labels = "";
    if (!s_name_ok(name) || strlen(labels) >= LY_METRIC_LABELS_MAX ||
        ly_metrics_find(reg, name, labels))
        return NULL;
    ly_metric *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->mt_kind = kind;
    m->mt_name = name;
    m->mt_help = help ? help : "";
    m->mt_unit = unit ? unit : "";
    memcpy(m->mt_labels, labels, strlen(labels) + 1);
    if (reg->mr_last)
        reg->mr_last->mt_next = m;
    else
        reg->mr_first = m;
    reg->mr_last = m;
    return m;
}

ly_metric *ly_metrics_counter(ly_metrics *reg, const char *name, const char *help, const char *unit,
                              const char *labels)
{
    return s_add(reg, LY_METRIC_COUNTER, name, help, unit, labels);
}

int ly_metrics_counters(ly_metrics *reg, const ly_metric_def *defs, size_t n, void *base,
                        const char *labels)
{
    for (size_t i = 0; i < n; i++) {
        ly_metric *m = s_add(reg, LY_METRIC_COUNTER, defs[i].md_name, defs[i].md_help,
                             defs[i].md_unit, labels);
        if (!m)
            return -1;
        memcpy((char *)base + defs[i].md_offset, &m, sizeof m);
    }
    return 0;
}

ly_metric *ly_metrics_gauge(ly_metrics *reg, const char *name, const char *help, const char *unit,
                            const char *labels)
{
    return s_add(reg, LY_METRIC_GAUGE, name, help, unit, labels);
}

ly_metric *ly_metrics_histogram(ly_metrics *reg, const char *name, const char *help,
                                const char *unit, const char *labels, const uint64_t *bounds,
                                uint32_t nbounds)
{
    if (nbounds == 0 || nbounds > LY_METRIC_BOUNDS_MAX)
        return NULL;
    for (uint32_t i = 1; i < nbounds; i++)
        if (bounds[i] <= bounds[i - 1])
            return NULL;
    ly_metric *m = s_add(reg, LY_METRIC_HISTOGRAM, name, help, unit, labels);
    if (!m)
        return NULL;
    m->mt_nbounds = nbounds;
    memcpy(m->mt_bounds, bounds, nbounds * sizeof *bounds);
    return m;
}

const ly_metric *ly_metrics_first(const ly_metrics *reg)
{
    return reg->mr_first;
}

void ly_metric_observe(ly_metric *m, uint64_t v)
{
    if (m->mt_kind != LY_METRIC_HISTOGRAM)
        return;
    /* The first bound >= v (binary search); mt_nbounds is +Inf. */
    uint32_t lo = 0, hi = m->mt_nbounds;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (m->mt_bounds[mid] >= v)
            hi = mid;
        else
            lo = mid + 1;
    }
    m->mt_counts[lo]++;
    m->mt_value++;
    m->mt_sum += v;
}

uint64_t ly_metric_bucket(const ly_metric *m, uint32_t i)
{
    if (m->mt_kind != LY_METRIC_HISTOGRAM || i > m->mt_nbounds)
        return 0;
    uint64_t sum = 0;
    for (uint32_t b = 0; b <= i; b++)
        sum += m->mt_counts[b];
    return sum;
}

void ly_metric_snapshot(const ly_metric *m, ly_metric_snap *out)
{
    out->ms_count = m->mt_value;
    out->ms_sum = m->mt_sum;
    memcpy(out->ms_counts, m->mt_counts, sizeof out->ms_counts);
}

void ly_metric_snap_delta(ly_metric_snap *now, const ly_metric_snap *before)
{
    now->ms_count -= before->ms_count;
    now->ms_sum -= before->ms_sum;
    for (size_t b = 0; b < LY_METRIC_BOUNDS_MAX + 1; b++)
        now->ms_counts[b] -= before->ms_counts[b];
}

/* Bucket b's upper bound, the last finite one standing for +Inf. */
static uint64_t s_bound(const ly_metric *m, uint32_t b)
{
    return m->mt_bounds[b < m->mt_nbounds ? b : m->mt_nbounds - 1];
}

uint64_t ly_metric_quantile(const ly_metric *m, const ly_metric_snap *s, double q)
{
    if (m->mt_kind != LY_METRIC_HISTOGRAM || s->ms_count == 0)
        return 0;
    uint64_t want = (uint64_t)(q * (double)s->ms_count), seen = 0;
    for (uint32_t b = 0; b <= m->mt_nbounds; b++) {
        seen += s->ms_counts[b];
        if (seen > want)
            return s_bound(m, b);
    }
    return s_bound(m, m->mt_nbounds);
}

uint64_t ly_metric_highest(const ly_metric *m, const ly_metric_snap *s)
{
    if (m->mt_kind != LY_METRIC_HISTOGRAM)
        return 0;
    for (uint32_t b = m->mt_nbounds + 1; b-- > 0;)
        if (s->ms_counts[b])
            return s_bound(m, b);
    return 0;
}

const char *ly_metric_kind_name(ly_metric_kind k)
{
    switch (k) {
    case LY_METRIC_COUNTER:
        return "counter";
    case LY_METRIC_GAUGE:
        return "gauge";
    case LY_METRIC_HISTOGRAM:
        return "histogram";
    }
    return "unknown";
}
