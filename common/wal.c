/* wal.c -- the write-ahead log: see wal.h for the format and the contract. */
#include "common/wal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/record.h"

#define S_MAGIC 0x3157594cu /* "LYW1" read as a little-endian integer */
#define S_CHUNK (1u << 20)

struct ly_wal {
    int wl_fd;
    uint64_t wl_off;  /* where the next record goes */
    uint64_t wl_size; /* the file's size */
    char wl_path[4200];
};

static void s_why(char *why, size_t len, const char *what, const char *path, int err)
{
    if (why && len)
        snprintf(why, len, "cannot %s '%s': %s", what, path, strerror(err));
}

static ly_err s_errno(int err)
{
    switch (err) {
    case ENOSPC:
    case EFBIG:
    case EDQUOT:
        return LY_ENOSPC;
    case ENOMEM:
        return LY_ENOMEM;
    default:
        return LY_EIO;
    }
}

static int s_pwrite_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = ENOSPC;
            return -1;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int s_pread_all(int fd, uint8_t *p, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Make the file's directory entry durable (a new file). */
static void s_sync_dir(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

/* Write zeros up to `size` so later appends overwrite existing blocks. */
static void s_prealloc(ly_wal *w, uint64_t size)
{
    if (w->wl_size >= size)
        return;
    uint8_t *zero = calloc(1, S_CHUNK);
    if (!zero)
        return;
    uint64_t off = w->wl_size;
    while (off < size) {
        size_t n = size - off < S_CHUNK ? (size_t)(size - off) : S_CHUNK;
        if (s_pwrite_all(w->wl_fd, zero, n, off) != 0) {
            LY_LOG(LY_WARN, "wal.prealloc_short", "path=%s size=%llu error=\"%s\"", w->wl_path,
                   (unsigned long long)off, strerror(errno));
            break;
        }
        off += n;
    }
    free(zero);
    if (fdatasync(w->wl_fd) == 0)
        w->wl_size = off;
}

ly_err ly_wal_open(const char *path, uint64_t prealloc, ly_wal **out, char *why, size_t why_len)
{
    *out = NULL;
    ly_wal *w = calloc(1, sizeof *w);
    if (!w)
        return LY_ENOMEM;
    snprintf(w->wl_path, sizeof w->wl_path, "%s", path);
    struct stat st;
    int existed = stat(path, &st) == 0;
    w->wl_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (w->wl_fd < 0) {
        int err = errno;
        s_why(why, why_len, "open the log", path, err);
        free(w);
        return s_errno(err);
    }
    if (flock(w->wl_fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        if (err == EWOULDBLOCK) {
            if (why && why_len)
                snprintf(why, why_len,
                         "the store's log '%s' is locked: another loyald uses this data_dir", path);
        } else {
            s_why(why, why_len, "lock", path, err);
        }
        close(w->wl_fd);
        free(w);
        return err == EWOULDBLOCK ? LY_ECONFIG : LY_EIO;
    }
    if (fstat(w->wl_fd, &st) != 0) {
        int err = errno;
        s_why(why, why_len, "stat", path, err);
        close(w->wl_fd);
        free(w);
        return LY_EIO;
    }
    w->wl_size = (uint64_t)st.st_size;
    s_prealloc(w, prealloc);
    if (!existed)
        s_sync_dir(path);
    *out = w;
    return LY_OK;
}

void ly_wal_close(ly_wal **wp)
{
    if (!wp || !*wp)
        return;
    close((*wp)->wl_fd); /* releases the lock */
    free(*wp);
    *wp = NULL;
}

ly_err ly_wal_scan(ly_wal *w, uint64_t epoch, ly_wal_fn fn, void *arg, uint64_t *records)
{
    uint64_t off = 0, n = 0;
    uint8_t *buf = NULL;
    size_t cap = 0;
    ly_err e = LY_OK;
    if (records)
        *records = 0;
    for (;;) {
        uint8_t h[LY_WAL_HEADER];
        if (off + LY_WAL_HEADER + LY_WAL_TRAILER > w->wl_size ||
            s_pread_all(w->wl_fd, h, sizeof h, off) != 0)
            break;
        ly_rd rd = {h, h + sizeof h, 0};
        uint32_t magic = (uint32_t)ly_rd_int(&rd, 4);
        uint32_t len = (uint32_t)ly_rd_int(&rd, 4);
        uint64_t ep = ly_rd_int(&rd, 8);
        uint32_t count = (uint32_t)ly_rd_int(&rd, 4);
        if (magic != S_MAGIC || ep != epoch || len > LY_WAL_REC_MAX ||
            off + LY_WAL_HEADER + len + LY_WAL_TRAILER > w->wl_size)
            break;
        size_t total = LY_WAL_HEADER + (size_t)len + LY_WAL_TRAILER;
        if (total > cap) {
            uint8_t *nb = realloc(buf, total);
            if (!nb) {
                e = LY_ENOMEM;
                break;
            }
            buf = nb;
            cap = total;
        }
        if (s_pread_all(w->wl_fd, buf, total, off) != 0)
            break;
        ly_rd tr = {buf + total - LY_WAL_TRAILER, buf + total, 0};
        if (ly_rd_int(&tr, 8) != ly_hash(buf, total - LY_WAL_TRAILER)) {
            LY_LOG(LY_WARN, "wal.torn_record", "path=%s offset=%llu; the log ends here", w->wl_path,
                   (unsigned long long)off);
            break;
        }
        int rc = fn(arg, buf + LY_WAL_HEADER, len, count);
        if (rc) {
            e = (ly_err)rc;
            break;
        }
        off += total;
        n++;
    }
    free(buf);
    w->wl_off = off;
    if (records)
        *records = n;
    return e;
}

ly_err ly_wal_append(ly_wal *w, uint64_t epoch, uint8_t *rec, size_t len, uint32_t count)
{
    if (len > LY_WAL_REC_MAX)
        return LY_ETOOBIG;
    ly_wr hw = {rec};
    ly_wr_int(&hw, S_MAGIC, 4);
    ly_wr_int(&hw, len, 4);
    ly_wr_int(&hw, epoch, 8);
    ly_wr_int(&hw, count, 4);
    ly_wr_int(&hw, 0, 4);
    size_t total = LY_WAL_HEADER + len + LY_WAL_TRAILER;
    ly_wr tw = {rec + LY_WAL_HEADER + len};
    ly_wr_int(&tw, ly_hash(rec, LY_WAL_HEADER + len), 8);
    if (s_pwrite_all(w->wl_fd, rec, total, w->wl_off) != 0 || fdatasync(w->wl_fd) != 0) {
        int err = errno;
        LY_LOG(LY_ERROR, "wal.write_failed", "path=%s offset=%llu bytes=%zu error=\"%s\"",
               w->wl_path, (unsigned long long)w->wl_off, total, strerror(err));
        return s_errno(err);
    }
    w->wl_off += total;
    if (w->wl_off > w->wl_size)
        w->wl_size = w->wl_off;
    return LY_OK;
}

void ly_wal_rewind(ly_wal *w, uint64_t keep)
{
    w->wl_off = 0;
    if (w->wl_size > keep && ftruncate(w->wl_fd, (off_t)keep) == 0)
        w->wl_size = keep;
}

uint64_t ly_wal_offset(const ly_wal *w)
{
    return w->wl_off;
}
