/* The write-ahead log on a real file: records come back in order, a torn or
 * corrupt record ends the log and the next append takes its place, records of
 * another epoch are never read, and a second opener is refused. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/wal.h"
#include "tests/support/harness.h"

static char s_dir[LYH_PATH_MAX];
static char s_path[LYH_PATH_MAX + 8];
static ly_wal *s_wal;

static void setup(void)
{
    ly_log_set_level(LY_ERROR);
    cr_assert_eq(lyh_tmpdir("wal", s_dir, sizeof s_dir), 0);
    snprintf(s_path, sizeof s_path, "%s/wal", s_dir);
    char why[256];
    cr_assert_eq(ly_wal_open(s_path, 64 << 10, &s_wal, why, sizeof why), LY_OK, "%s", why);
}

static void teardown(void)
{
    ly_wal_close(&s_wal);
    cr_expect_eq(lyh_rmtree(s_dir), 0);
}

TestSuite(wal, .init = setup, .fini = teardown);

/* Append a record whose payload is `len` bytes of `fill`; returns its size on disk. */
static size_t s_append(uint64_t epoch, char fill, size_t len)
{
    uint8_t *rec = malloc(LY_WAL_HEADER + len + LY_WAL_TRAILER);
    memset(rec + LY_WAL_HEADER, fill, len);
    cr_assert_eq(ly_wal_append(s_wal, epoch, rec, len, (uint32_t)len), LY_OK);
    free(rec);
    return LY_WAL_HEADER + len + LY_WAL_TRAILER;
}

typedef struct s_seen {
    int n;
    char fill[16];
    size_t len[16];
} s_seen;

static int s_collect(void *arg, const uint8_t *p, size_t len, uint32_t count)
{
    s_seen *s = arg;
    cr_assert_eq(count, len, "the count travels with the record");
    for (size_t i = 0; i < len; i++)
        cr_assert_eq(p[i], p[0], "payload byte %zu changed", i);
    if (s->n < 16) {
        s->fill[s->n] = len ? (char)p[0] : 0;
        s->len[s->n] = len;
    }
    s->n++;
    return 0;
}

static s_seen s_scan(uint64_t epoch)
{
    s_seen s = {0};
    cr_assert_eq(ly_wal_scan(s_wal, epoch, s_collect, &s, NULL), LY_OK);
    return s;
}

static void s_reopen(void)
{
    char why[256];
    ly_wal_close(&s_wal);
    cr_assert_eq(ly_wal_open(s_path, 64 << 10, &s_wal, why, sizeof why), LY_OK, "%s", why);
}

static void s_poke(uint64_t off, uint8_t byte)
{
    int fd = open(s_path, O_RDWR);
    cr_assert(fd >= 0);
    cr_assert_eq(pwrite(fd, &byte, 1, (off_t)off), 1);
    close(fd);
}

Test(wal, records_come_back_in_order_after_reopen)
{
    s_append(7, 'a', 100);
    s_append(7, 'b', 5000);
    s_append(7, 'c', 1);
    s_reopen();
    s_seen s = s_scan(7);
    cr_assert_eq(s.n, 3);
    cr_expect_eq(s.fill[0], 'a');
    cr_expect_eq(s.len[1], 5000);
    cr_expect_eq(s.fill[2], 'c');
    cr_expect_eq(s_scan(6).n, 0, "another epoch's records are not this log");
    cr_expect_eq(s_scan(8).n, 0);
}

Test(wal, a_corrupt_record_ends_the_log_and_the_next_append_replaces_it)
{
    size_t a = s_append(3, 'a', 200);
    size_t b = s_append(3, 'b', 300);
    s_append(3, 'c', 400);
    s_poke(a + b + LY_WAL_HEADER + 17, 'X'); /* one byte of the third payload */
    s_reopen();
    s_seen s = s_scan(3);
    cr_assert_eq(s.n, 2, "the corrupt third record and anything after it are not read");
    cr_assert_eq(ly_wal_offset(s_wal), a + b);
    s_append(3, 'd', 50);
    s_reopen();
    s = s_scan(3);
    cr_assert_eq(s.n, 3);
    cr_expect_eq(s.fill[2], 'd');
}

Test(wal, a_torn_tail_is_ignored)
{
    size_t a = s_append(1, 'a', 100);
    s_append(1, 'b', 100);
    /* A crash in the middle of the second write: its end never reached the disk. */
    s_poke(a + LY_WAL_HEADER + 100 + 3, 0);
    s_reopen();
    cr_expect_eq(s_scan(1).n, 1);
    /* A header that claims more than the file holds is torn too. */
    ly_wal_close(&s_wal);
    cr_assert_eq(truncate(s_path, (off_t)(a + 30)), 0);
    char why[256];
    cr_assert_eq(ly_wal_open(s_path, 0, &s_wal, why, sizeof why), LY_OK, "%s", why);
    cr_expect_eq(s_scan(1).n, 1);
}

Test(wal, rewind_starts_a_new_epoch_over_the_old_records)
{
    s_append(1, 'a', 1000);
    s_append(1, 'b', 1000);
    ly_wal_rewind(s_wal, 64 << 10);
    cr_assert_eq(ly_wal_offset(s_wal), 0);
    s_append(2, 'z', 10); /* shorter than what it overwrites */
    s_reopen();
    s_seen s = s_scan(2);
    cr_assert_eq(s.n, 1, "the rest of the old records is not read as the new epoch");
    cr_expect_eq(s.fill[0], 'z');
    cr_expect_eq(s_scan(1).n, 0, "the old epoch is gone from the start of the file");
}

Test(wal, preallocates_and_cuts_back_to_its_size)
{
    struct stat st;
    cr_assert_eq(stat(s_path, &st), 0);
    cr_expect_eq(st.st_size, 64 << 10, "appends overwrite blocks written ahead");
    for (int i = 0; i < 20; i++)
        s_append(1, 'x', 8000);
    cr_assert_eq(stat(s_path, &st), 0);
    cr_expect_gt(st.st_size, 64 << 10);
    ly_wal_rewind(s_wal, 64 << 10);
    cr_assert_eq(stat(s_path, &st), 0);
    cr_expect_eq(st.st_size, 64 << 10);
}

Test(wal, a_second_opener_is_refused)
{
    ly_wal *other = NULL;
    char why[256] = "";
    cr_assert_eq(ly_wal_open(s_path, 0, &other, why, sizeof why), LY_ECONFIG);
    cr_expect_null(other);
    cr_expect(strstr(why, "another loyald") != NULL, "%s", why);
}

static int s_stop_at_second(void *arg, const uint8_t *p, size_t len, uint32_t count)
{
    (void)p;
    (void)len;
    (void)count;
    return ++*(int *)arg == 2 ? (int)LY_EPROTO : 0;
}

Test(wal, a_callback_error_stops_the_scan)
{
    s_append(1, 'a', 10);
    s_append(1, 'b', 10);
    s_append(1, 'c', 10);
    int calls = 0;
    uint64_t records = 99;
    cr_expect_eq(ly_wal_scan(s_wal, 1, s_stop_at_second, &calls, &records), LY_EPROTO);
    cr_expect_eq(calls, 2);
    cr_expect_eq(records, 1);
}
