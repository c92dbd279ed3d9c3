/* lmdb_baseline -- the raw storage ceilings: durable LMDB commits per second,
 * and (--log) synced appends to a preallocated log per second.
 *
 *   lmdb_baseline --dir DIR [--keys N] [--batch B] [--seconds S] [--value-size BYTES]
 *                 [--nosync] [--json]
 *   lmdb_baseline --log --dir DIR [--batch B] [--seconds S] [--value-size BYTES]
 *                 [--nosync] [--json]
 *
 * LMDB: fills a fresh environment in DIR (created if missing, must be empty)
 * with N keys, then for S seconds commits transactions of B puts each, to
 * random existing keys, with values of the given size. Default flags: every
 * commit is synced to disk, as loyald's checkpoints are. Prints commits/s and
 * puts/s.
 *
 * --log: what loyald's store does to commit a batch (common/wal.c). Writes
 * 16 MiB of zeros to DIR/log (created, or emptied first) and syncs them; then
 * for S seconds writes records of B events of the given size (default 150
 * bytes) with pwrite at increasing offsets, starting over at offset 0 when the
 * next record would pass the end of those 16 MiB, and fdatasyncs after each.
 * The file never grows, so a sync flushes data blocks, not the file's size.
 * Prints records/s, events/s (records/s x B) and the latency of one write +
 * sync. The file is left in DIR.
 *
 * All samples and the clock come from benchlib.h.
 * Exit status: 0 done, 1 LMDB or I/O error, 2 usage error. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/bench/benchlib.h"

#define S_FILL_BATCH 10000
#define S_VALUE_MAX  4000
#define S_LOG_AREA   (16u << 20) /* --log: the zeros written first, as loyald's log */
#define S_LOG_CHUNK  (1u << 20)  /* --log: they are written 1 MiB at a time */
#define S_LOG_EVENT  150         /* --log: the default bytes per event */

/* Keys are 8-byte big-endian indexes: spread over the B-tree like customer ids. */
static void s_key(uint64_t i, uint8_t *k)
{
    /* Scramble so neighbouring indexes land on different pages. */
    uint64_t x = i * 0x9E3779B97F4A7C15ULL;
    for (int b = 0; b < 8; b++)
        k[b] = (uint8_t)(x >> (56 - 8 * b));
}

static int s_check(int rc, const char *what)
{
    if (rc != 0)
        fprintf(stderr, "lmdb_baseline: %s: %s\n", what, mdb_strerror(rc));
    return rc;
}

/* Write buf[0..len) at off in one call, as the log does. 0 ok, -1 failed
 * (errno set; EIO for a short write). */
static int s_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
    ssize_t n = pwrite(fd, buf, len, (off_t)off);
    if (n >= 0 && (size_t)n != len)
        errno = EIO;
    return (size_t)n == len ? 0 : -1;
}

/* --log: one run, as the comment at the top says; returns the exit status. */
static int s_log_run(const char *dir, long batch, long esize, double seconds, int nosync, int json)
{
    uint64_t rlen = (uint64_t)batch * (uint64_t)esize, records = 0, wraps = 0, off = 0;
    if (rlen > S_LOG_AREA) {
        fprintf(stderr, "lmdb_baseline: a record of %llu bytes does not fit in %u MiB\n",
                (unsigned long long)rlen, S_LOG_AREA >> 20);
        return 2;
    }
    int rc = 1;
    char path[4096];
    lyb_samples lat = {0};
    /* Zeros to preallocate with, then the record. */
    uint8_t *rec = calloc(1, rlen > S_LOG_CHUNK ? rlen : S_LOG_CHUNK);
    snprintf(path, sizeof path, "%s/log", dir);
    int fd = rec != NULL ? open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    if (fd < 0) {
        fprintf(stderr, "lmdb_baseline: unable to open '%s': %s\n", path,
                rec != NULL ? strerror(errno) : "out of memory");
        goto close_fd;
    }
    uint64_t t_pre = lyb_now_us();
    for (uint64_t at = 0; at < S_LOG_AREA; at += S_LOG_CHUNK)
        if (s_pwrite(fd, rec, S_LOG_CHUNK, at) != 0)
            goto io_error;
    if (fdatasync(fd) != 0)
        goto io_error;
    double prealloc_s = (double)(lyb_now_us() - t_pre) / 1e6;

    memset(rec, 0xab, rlen);
    uint64_t t0 = lyb_now_us(), deadline = t0 + (uint64_t)(seconds * 1e6), now = t0;
    while (now < deadline) {
        if (off + rlen > S_LOG_AREA) {
            off = 0;
            wraps++;
        }
        memcpy(rec, &records, rlen < sizeof records ? rlen : sizeof records); /* each differs */
        uint64_t a = now;
        if (s_pwrite(fd, rec, rlen, off) != 0 || (!nosync && fdatasync(fd) != 0))
            goto io_error;
        now = lyb_now_us();
        if (lyb_samples_add(&lat, now - a) != 0) {
            fprintf(stderr, "lmdb_baseline: out of memory for samples\n");
            goto close_fd;
        }
        off += rlen;
        records++;
    }
    double secs = (double)(now - t0) / 1e6;
    double rps = (double)records / secs, eps = rps * (double)batch;
    lyb_samples_sort(&lat);
    uint32_t p50 = lyb_quantile(&lat, 0.5), p99 = lyb_quantile(&lat, 0.99),
             pmax = lyb_quantile(&lat, 1);
    if (json)
        printf("{\"log\":true,\"batch\":%ld,\"event_size\":%ld,\"record_bytes\":%llu,"
               "\"area_bytes\":%u,\"sync\":%s,\"seconds\":%.3f,\"records\":%llu,"
               "\"wraps\":%llu,\"records_per_s\":%.1f,\"events_per_s\":%.1f,"
               "\"record_us\":%.1f,\"p50_us\":%u,\"p99_us\":%u,\"max_us\":%u,"
               "\"prealloc_s\":%.2f}\n",
               batch, esize, (unsigned long long)rlen, S_LOG_AREA, nosync ? "false" : "true", secs,
               (unsigned long long)records, (unsigned long long)wraps, rps, eps,
               records ? 1e6 * secs / (double)records : 0.0, p50, p99, pmax, prealloc_s);
    else
        printf("lmdb_baseline --log: batch %ld, %ld-byte events (%llu-byte records), %s: "
               "%.0f records/s, %.0f events/s (write%s p50 %u us, p99 %u us)\n",
               batch, esize, (unsigned long long)rlen, nosync ? "no sync" : "fdatasync", rps, eps,
               nosync ? "" : " + fdatasync", p50, p99);
    rc = 0;
    goto close_fd;

io_error:
    fprintf(stderr, "lmdb_baseline: unable to write '%s': %s\n", path, strerror(errno));
close_fd:
    if (fd >= 0)
        close(fd);
    free(rec);
    lyb_samples_fini(&lat);
    return rc;
}

static void s_usage(FILE *out)
{
    fputs("usage: lmdb_baseline [--log] --dir DIR [--keys N] [--batch B] [--seconds S]\n"
          "                     [--value-size BYTES] [--nosync] [--json]\n"
          "  --log              measure synced appends to a preallocated log, not LMDB\n"
          "  --dir DIR          a new or empty directory for the environment (--log:\n"
          "                     for the file DIR/log)\n"
          "  --keys N           records in the database (default 10000; not with --log)\n"
          "  --batch B          puts per commit (--log: events per record; default 1)\n"
          "  --seconds S        measuring time (default 5)\n"
          "  --value-size N     bytes per value (default 100; --log: per event, 150)\n"
          "  --nosync           MDB_NOSYNC (--log: no fdatasync): not durable (CPU ceiling)\n"
          "  --json             one JSON line\n",
          out);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    long keys = 10000, batch = 1, vsize = 0;
    double seconds = 5;
    int nosync = 0, json = 0, log_mode = 0, keys_given = 0;
    static const struct option longopts[] = {
        {"log", no_argument, 0, 'l'},           {"dir", required_argument, 0, 'd'},
        {"keys", required_argument, 0, 'k'},    {"batch", required_argument, 0, 'b'},
        {"seconds", required_argument, 0, 's'}, {"value-size", required_argument, 0, 'v'},
        {"nosync", no_argument, 0, 'n'},        {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case 'd':
            dir = optarg;
            break;
        case 'l':
            log_mode = 1;
            break;
        case 'k':
            keys = lyb_num(optarg, 1, 100000000L, &bad);
            keys_given = 1;
            break;
        case 'b':
            batch = lyb_num(optarg, 1, 100000, &bad);
            break;
        case 's':
            seconds = lyb_real(optarg, 3600, &bad);
            break;
        case 'v':
            vsize = lyb_num(optarg, 1, S_VALUE_MAX, &bad);
            break;
        case 'n':
            nosync = 1;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            bad = 1;
        }
        if (bad)
            return lyb_usage_error("lmdb_baseline", argv[optind - 1], s_usage);
    }
    if (dir == NULL || optind < argc || (log_mode && keys_given)) {
        if (log_mode && keys_given)
            fprintf(stderr, "lmdb_baseline: --keys does not go with --log\n");
        s_usage(stderr);
        return 2;
    }
    if (vsize == 0)
        vsize = log_mode ? S_LOG_EVENT : 100;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "lmdb_baseline: unable to create '%s': %s\n", dir, strerror(errno));
        return 1;
    }
    if (log_mode)
        return s_log_run(dir, batch, vsize, seconds, nosync, json);

    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    int rc = 1;
    uint8_t kbuf[8], vbuf[S_VALUE_MAX];
    memset(vbuf, 0xab, sizeof vbuf);
    size_t map = (size_t)keys * (size_t)(vsize + 64) * 3 + (64u << 20);
    if (s_check(mdb_env_create(&env), "env_create") ||
        s_check(mdb_env_set_mapsize(env, map), "set_mapsize") ||
        s_check(mdb_env_open(env, dir, nosync ? MDB_NOSYNC : 0, 0644), "env_open"))
        goto close_env;
    if (s_check(mdb_txn_begin(env, NULL, 0, &txn), "txn_begin") ||
        s_check(mdb_dbi_open(txn, NULL, 0, &dbi), "dbi_open") ||
        s_check(mdb_txn_commit(txn), "commit"))
        goto close_env;
    txn = NULL;

    /* Fill. */
    uint64_t t_fill = lyb_now_us();
    for (long i = 0; i < keys;) {
        if (s_check(mdb_txn_begin(env, NULL, 0, &txn), "txn_begin"))
            goto close_env;
        for (long n = 0; n < S_FILL_BATCH && i < keys; n++, i++) {
            s_key((uint64_t)i, kbuf);
            MDB_val k = {sizeof kbuf, kbuf}, v = {(size_t)vsize, vbuf};
            if (s_check(mdb_put(txn, dbi, &k, &v, 0), "put"))
                goto abort_txn;
        }
        if (s_check(mdb_txn_commit(txn), "commit")) {
            txn = NULL;
            goto close_env;
        }
        txn = NULL;
    }
    mdb_env_sync(env, 1);
    double fill_s = (double)(lyb_now_us() - t_fill) / 1e6;

    /* Measure. */
    uint64_t rng = 0x2545F4914F6CDD1DULL, commits = 0;
    uint64_t t0 = lyb_now_us(), deadline = t0 + (uint64_t)(seconds * 1e6), now = t0;
    while (now < deadline) {
        if (s_check(mdb_txn_begin(env, NULL, 0, &txn), "txn_begin"))
            goto close_env;
        for (long n = 0; n < batch; n++) {
            s_key(lyb_rand(&rng) % (uint64_t)keys, kbuf);
            vbuf[n % vsize] ^= 1;
            MDB_val k = {sizeof kbuf, kbuf}, v = {(size_t)vsize, vbuf};
            if (s_check(mdb_put(txn, dbi, &k, &v, 0), "put"))
                goto abort_txn;
        }
        int crc = mdb_txn_commit(txn);
        txn = NULL;
        if (s_check(crc, "commit"))
            goto close_env;
        commits++;
        now = lyb_now_us();
    }
    double secs = (double)(now - t0) / 1e6;
    double cps = (double)commits / secs, pps = cps * (double)batch;
    if (json)
        printf("{\"keys\":%ld,\"batch\":%ld,\"value_size\":%ld,\"sync\":%s,\"seconds\":%.3f,"
               "\"commits\":%llu,\"commits_per_s\":%.1f,\"puts_per_s\":%.1f,"
               "\"commit_us\":%.1f,\"fill_s\":%.2f}\n",
               keys, batch, vsize, nosync ? "false" : "true", secs, (unsigned long long)commits,
               cps, pps, commits ? 1e6 * secs / (double)commits : 0.0, fill_s);
    else
        printf("lmdb_baseline: %ld keys, batch %ld, %ld-byte values, %s: %.0f commits/s, "
               "%.0f puts/s (%.1f us per commit)\n",
               keys, batch, vsize, nosync ? "MDB_NOSYNC" : "durable", cps, pps,
               commits ? 1e6 * secs / (double)commits : 0.0);
    rc = 0;
    goto close_env;

abort_txn:
    mdb_txn_abort(txn);
close_env:
    mdb_env_close(env);
    return rc;
}
