/* benchlib.h -- what the benchmark programs share: the clock, the random
 * generator and the customer pick, worker threads, latency samples and their
 * quantiles, and the parsing of numeric options and endpoint lists.
 *
 * Every program in tests/bench/ measures the same way: times in microseconds
 * from CLOCK_MONOTONIC, every sample kept (the percentiles are exact, nearest
 * rank), the same skew rule. Nothing here prints; errors are return values. */
#ifndef LYB_BENCHLIB_H
#define LYB_BENCHLIB_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LYB_CLIENTS_MAX 1024 /* the most client threads a program starts */

/* ---- clock ---- */

/* CLOCK_MONOTONIC in microseconds. */
uint64_t lyb_now_us(void);

/* Sleep `us` microseconds (resumed after a signal). */
void lyb_sleep_us(uint64_t us);

/* Sleep until lyb_now_us() reaches `us` (at once if it has). */
void lyb_sleep_until(uint64_t us);

/* ---- random numbers and the customer pick ---- */

/* The next number of the xorshift64* generator whose state is *st (nonzero). */
uint64_t lyb_rand(uint64_t *st);

/* The starting state of worker i's generator in a run that began at t0_us:
 * distinct per worker and per run. */
uint64_t lyb_seed(int i, uint64_t t0_us);

/* A customer index in 0..customers-1 (customers >= 1): uniform, or with
 * `skew` 80% of the picks among the first fifth (uniform below 5 customers). */
int lyb_pick_customer(uint64_t *rng, int customers, int skew);

/* ---- worker threads ---- */

typedef struct lyb_threads {
    pthread_t *th_v;
    int th_n; /* how many started */
} lyb_threads;

/* Start `n` threads running fn, the i-th with the argument base + i * size
 * (e.g. &workers[i] for base = workers, size = sizeof *workers; NULL for all if
 * base is NULL). Returns how many started: fewer than n if a pthread_create or
 * the allocation failed (the workers from there on never run). Join them with
 * lyb_threads_join, also when none started. */
int lyb_threads_start(lyb_threads *t, int n, void *(*fn)(void *), void *base, size_t size);

/* Wait for every thread lyb_threads_start started; frees t's array. */
void lyb_threads_join(lyb_threads *t);

/* ---- latency samples ---- */

/* Samples in microseconds; zero-initialise, free with lyb_samples_fini. */
typedef struct lyb_samples {
    uint32_t *sa_v;
    size_t sa_n, sa_cap;
    int sa_oom; /* a sample was lost for want of memory */
} lyb_samples;

/* Keep one sample (clamped to UINT32_MAX). 0 ok, -1 out of memory (sa_oom
 * is set, the samples so far are kept). */
int lyb_samples_add(lyb_samples *sa, uint64_t us);

/* Move the samples of n sets, the i-th at base + i * stride (e.g.
 * &workers[0].w_lat for base, sizeof *workers for stride), to the end of
 * *into, and sort *into. The sets are left empty (freed) either way. 0 ok, -1
 * out of memory: *into keeps only its own samples, and sa_oom is set. */
int lyb_samples_merge(lyb_samples *into, void *base, size_t stride, int n);

/* Sort in increasing order. */
void lyb_samples_sort(lyb_samples *sa);

/* The q-quantile (0..1) of sorted samples, nearest rank; q = 1 gives the
 * maximum; 0 if there are none. */
uint32_t lyb_quantile(const lyb_samples *sa, double q);

/* Free the samples; *sa is zeroed. */
void lyb_samples_fini(lyb_samples *sa);

/* ---- option values ---- */

/* The decimal integer s, which must lie in lo..hi; sets *bad (never clears
 * it) if s is empty, not a number, or out of range. */
/* A bench program's answer to a bad option or value `arg`: names it on stderr
 * ("PROG: invalid option or value 'ARG'"), prints usage(stderr), and returns
 * 2, the exit status of a usage error. */
int lyb_usage_error(const char *prog, const char *arg, void (*usage)(FILE *));

long lyb_num(const char *s, long lo, long hi, int *bad);

/* The number s (a duration in seconds, a rate), which must be > 0 and <= hi;
 * sets *bad (never clears it) otherwise. */
double lyb_real(const char *s, double hi, int *bad);

/* Split s into endpoints: at commas if `list`, else s is one endpoint. Each
 * must be 1..255 bytes; at most `max`. Returns how many, written to out[]
 * (caller owns them: free each), or -1 (an empty or long one, too many, out of
 * memory) with nothing left allocated. */
int lyb_endpoints(const char *s, int list, char **out, int max);

#endif
