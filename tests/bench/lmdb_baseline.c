/* lmdb_baseline -- the raw storage ceiling: durable LMDB commits per second.
 *
 *   lmdb_baseline --dir DIR [--keys N] [--batch B] [--seconds S] [--value-size BYTES]
 *                 [--nosync] [--json]
 *
 * Fills a fresh environment in DIR (created if missing, must be empty) with N
 * keys, then for S seconds commits transactions of B puts each, to random
 * existing keys, with values of the given size. Default flags: every commit is
 * synced to disk, as loyald's group commit is. Prints commits/s and puts/s.
 * Exit status: 0 done, 1 LMDB error, 2 usage error. */
#include <errno.h>
#include <getopt.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define S_FILL_BATCH 10000
#define S_VALUE_MAX  4000

static uint64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t s_rand(uint64_t *st)
{
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return *st * 2685821657736338717ULL;
}

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

static void s_usage(FILE *out)
{
    fputs("usage: lmdb_baseline --dir DIR [--keys N] [--batch B] [--seconds S]\n"
          "                     [--value-size BYTES] [--nosync] [--json]\n"
          "  --dir DIR          a new or empty directory for the environment\n"
          "  --keys N           records in the database (default 10000)\n"
          "  --batch B          puts per commit (default 1)\n"
          "  --seconds S        measuring time (default 5)\n"
          "  --value-size N     bytes per value (default 100)\n"
          "  --nosync           MDB_NOSYNC: not durable (CPU ceiling)\n"
          "  --json             one JSON line\n",
          out);
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    long keys = 10000, batch = 1, vsize = 100;
    double seconds = 5;
    int nosync = 0, json = 0;
    static const struct option longopts[] = {{"dir", required_argument, 0, 'd'},
                                             {"keys", required_argument, 0, 'k'},
                                             {"batch", required_argument, 0, 'b'},
                                             {"seconds", required_argument, 0, 's'},
                                             {"value-size", required_argument, 0, 'v'},
                                             {"nosync", no_argument, 0, 'n'},
                                             {"json", no_argument, 0, 'j'},
                                             {"help", no_argument, 0, 'h'},
                                             {0, 0, 0, 0}};
    int ch;
    char *end;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int bad = 0;
        errno = 0;
        switch (ch) {
        case 'd':
            dir = optarg;
            break;
        case 'k':
            keys = strtol(optarg, &end, 10);
            bad = *end || errno || keys < 1 || keys > 100000000L;
            break;
        case 'b':
            batch = strtol(optarg, &end, 10);
            bad = *end || errno || batch < 1 || batch > 100000;
            break;
        case 's':
            seconds = strtod(optarg, &end);
            bad = *end || !(seconds > 0 && seconds <= 3600);
            break;
        case 'v':
            vsize = strtol(optarg, &end, 10);
            bad = *end || errno || vsize < 1 || vsize > S_VALUE_MAX;
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
        if (bad) {
            fprintf(stderr, "lmdb_baseline: invalid option or value '%s'\n", argv[optind - 1]);
            s_usage(stderr);
            return 2;
        }
    }
    if (dir == NULL || optind < argc) {
        s_usage(stderr);
        return 2;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "lmdb_baseline: unable to create '%s': %s\n", dir, strerror(errno));
        return 1;
    }

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
    uint64_t t_fill = s_now_us();
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
    double fill_s = (double)(s_now_us() - t_fill) / 1e6;

    /* Measure. */
    uint64_t rng = 0x2545F4914F6CDD1DULL, commits = 0;
    uint64_t t0 = s_now_us(), deadline = t0 + (uint64_t)(seconds * 1e6), now = t0;
    while (now < deadline) {
        if (s_check(mdb_txn_begin(env, NULL, 0, &txn), "txn_begin"))
            goto close_env;
        for (long n = 0; n < batch; n++) {
            s_key(s_rand(&rng) % (uint64_t)keys, kbuf);
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
        now = s_now_us();
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
