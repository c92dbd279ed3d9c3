/* benchlib.c -- the benchmark programs' shared helpers: see benchlib.h. */
#include "tests/bench/benchlib.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S_SAMPLES_FIRST 65536 /* the first allocation of a sample set */

uint64_t lyb_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void lyb_sleep_us(uint64_t us)
{
    struct timespec ts = {.tv_sec = (time_t)(us / 1000000u),
                          .tv_nsec = (long)(us % 1000000u) * 1000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

void lyb_sleep_until(uint64_t us)
{
    struct timespec ts = {.tv_sec = (time_t)(us / 1000000u),
                          .tv_nsec = (long)(us % 1000000u) * 1000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

uint64_t lyb_rand(uint64_t *st)
{
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return *st * 2685821657736338717ULL;
}

uint64_t lyb_seed(int i, uint64_t t0_us)
{
    return 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1) ^ t0_us;
}

int lyb_pick_customer(uint64_t *rng, int customers, int skew)
{
    if (!skew || customers < 5)
        return (int)(lyb_rand(rng) % (uint64_t)customers);
    int hot = customers / 5;
    if (lyb_rand(rng) % 100 < 80)
        return (int)(lyb_rand(rng) % (uint64_t)hot);
    return hot + (int)(lyb_rand(rng) % (uint64_t)(customers - hot));
}

int lyb_threads_start(lyb_threads *t, int n, void *(*fn)(void *), void *base, size_t size)
{
    *t = (lyb_threads){0};
    t->th_v = calloc(n > 0 ? (size_t)n : 1, sizeof *t->th_v);
    if (t->th_v == NULL)
        return 0;
    for (int i = 0; i < n; i++) {
        void *arg = base != NULL ? (char *)base + (size_t)i * size : NULL;
        if (pthread_create(&t->th_v[i], NULL, fn, arg) != 0)
            break;
        t->th_n++;
    }
    return t->th_n;
}

void lyb_threads_join(lyb_threads *t)
{
    for (int i = 0; i < t->th_n; i++)
        pthread_join(t->th_v[i], NULL);
    free(t->th_v);
    *t = (lyb_threads){0};
}

/* Room for `more` samples in sa. 0 ok, -1 out of memory. */
static int s_reserve(lyb_samples *sa, size_t more)
{
    if (sa->sa_cap - sa->sa_n >= more)
        return 0;
    size_t cap = sa->sa_cap ? sa->sa_cap * 2 : S_SAMPLES_FIRST;
    if (cap < sa->sa_n + more)
        cap = sa->sa_n + more;
    uint32_t *nv = realloc(sa->sa_v, cap * sizeof *nv);
    if (nv == NULL) {
        sa->sa_oom = 1;
        return -1;
    }
    sa->sa_v = nv;
    sa->sa_cap = cap;
    return 0;
}

int lyb_samples_add(lyb_samples *sa, uint64_t us)
{
    if (s_reserve(sa, 1) != 0)
        return -1;
    sa->sa_v[sa->sa_n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    return 0;
}

static lyb_samples *s_set(void *base, size_t stride, int i)
{
    return (lyb_samples *)((char *)base + (size_t)i * stride);
}

int lyb_samples_merge(lyb_samples *into, void *base, size_t stride, int n)
{
    size_t more = 0;
    for (int i = 0; i < n; i++)
        more += s_set(base, stride, i)->sa_n;
    int rc = s_reserve(into, more);
    for (int i = 0; i < n; i++) {
        lyb_samples *sa = s_set(base, stride, i);
        if (rc == 0 && sa->sa_n) {
            memcpy(into->sa_v + into->sa_n, sa->sa_v, sa->sa_n * sizeof *sa->sa_v);
            into->sa_n += sa->sa_n;
        }
        lyb_samples_fini(sa);
    }
    lyb_samples_sort(into);
    return rc;
}

static int s_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void lyb_samples_sort(lyb_samples *sa)
{
    if (sa->sa_n > 1)
        qsort(sa->sa_v, sa->sa_n, sizeof *sa->sa_v, s_cmp_u32);
}

uint32_t lyb_quantile(const lyb_samples *sa, double q)
{
    size_t n = sa->sa_n;
    if (n == 0)
        return 0;
    size_t rank = (size_t)(q * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sa->sa_v[rank - 1];
}

void lyb_samples_fini(lyb_samples *sa)
{
    free(sa->sa_v);
    *sa = (lyb_samples){0};
}

int lyb_usage_error(const char *prog, const char *arg, void (*usage)(FILE *))
{
    fprintf(stderr, "%s: invalid option or value '%s'\n", prog, arg);
    usage(stderr);
    return 2;
}

long lyb_num(const char *s, long lo, long hi, int *bad)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end || errno || v < lo || v > hi)
        *bad = 1;
    return v;
}

double lyb_real(const char *s, double hi, int *bad)
{
    char *end;
    double v = strtod(s, &end);
    if (*end || !(v > 0 && v <= hi))
        *bad = 1;
    return v;
}

int lyb_endpoints(const char *s, int list, char **out, int max)
{
    int n = 0;
    for (const char *p = s;; p++) {
        size_t len = list ? strcspn(p, ",") : strlen(p);
        if (len == 0 || len > 255 || n == max || (out[n] = strndup(p, len)) == NULL)
            break;
        n++;
        p += len;
        if (*p == '\0')
            return n;
    }
    while (n > 0)
        free(out[--n]);
    return -1;
}
