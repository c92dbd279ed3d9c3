/* records_fuzz.c -- libFuzzer target for the store's record decoders.
 *
 * The first input byte selects the decoder (its value modulo 3), the rest is
 * the decoder's input:
 *  - 0: ly_event_decode (common/event.h; record versions 2 and 3). A decoded
 *    event passes ly_event_validate; ly_event_encode's bytes (at most
 *    LY_EVENT_ENC_MAX) decode again to an identical struct (memcmp: the decoder
 *    zeroes the event first) and re-encode to identical bytes;
 *  - 1: ly_cust_decode (common/ledger.h). A decoded state encodes (at most
 *    LY_CUST_ENC_MAX bytes) to exactly the input: the form is canonical, since
 *    the node digest hashes it;
 *  - 2: the write-ahead log's scan (common/wal.h). wal.h has no pure parser,
 *    only ly_wal_scan on an open log, so the input becomes the content of a
 *    memfd that ly_wal_open opens through /proc/self/fd (prealloc 0: nothing is
 *    written to it). The epoch scanned is the first record's (bytes 8..15 of
 *    the input). Every record the scan hands over lies where the format says
 *    (magic, length and epoch read from the input at the offset the scan has
 *    reached), its payload is the input's bytes there, and its checksum is
 *    ly_hash of the header and payload; a second scan gives the same records;
 *    an append after the scan is read back by a third one (which may read on:
 *    the input's bytes after the appended record can be valid records too).
 *    Each record's payload is read as the store's replay reads it: framed
 *    events (ly_event_unframe), each decoded one checked as in mode 0.
 * A broken invariant traps, which libFuzzer reports as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/event.h"
#include "common/hash.h"
#include "common/ledger.h"
#include "common/log.h"
#include "common/wal.h"

#define S_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "records_fuzz: check failed: %s (line %d)\n", #cond, __LINE__);        \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

static uint64_t s_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void s_event(const uint8_t *data, size_t size)
{
    static ly_event a, b;
    static uint8_t enc1[LY_EVENT_ENC_MAX + 64], enc2[LY_EVENT_ENC_MAX + 64];
    ly_err e = ly_event_decode(data, size, &a);
    S_CHECK(e == LY_OK || e == LY_EPROTO || e == LY_EVERSION);
    if (e != LY_OK)
        return;
    S_CHECK(ly_event_validate(&a) == LY_OK);
    size_t n1 = ly_event_encode(&a, enc1);
    S_CHECK(n1 > 0 && n1 <= LY_EVENT_ENC_MAX);
    S_CHECK(ly_event_decode(enc1, n1, &b) == LY_OK);
    S_CHECK(memcmp(&a, &b, sizeof a) == 0);
    size_t n2 = ly_event_encode(&b, enc2);
    S_CHECK(n2 == n1 && memcmp(enc1, enc2, n1) == 0);
}

static void s_cust(const uint8_t *data, size_t size)
{
    static ly_cust c;
    static uint8_t enc[LY_CUST_ENC_MAX + 64];
    ly_err e = ly_cust_decode(data, size, &c);
    S_CHECK(e == LY_OK || e == LY_EPROTO || e == LY_EVERSION);
    if (e != LY_OK)
        return;
    size_t n = ly_cust_encode(&c, enc);
    S_CHECK(n > 0 && n <= LY_CUST_ENC_MAX);
    S_CHECK(n == size && memcmp(enc, data, n) == 0);
}

/* A log record's payload as the store's replay reads it (ly_event_unframe):
 * each event it gives lies where its frame says, passes the checks of
 * s_event, and framed again (ly_event_frame) gives the payload's bytes back. */
static void s_batch(const uint8_t *p, size_t len, uint32_t count)
{
    static ly_event ev;
    static uint8_t framed[LY_EVENT_FRAME_MAX + 64];
    size_t pos = 0;
    for (uint32_t i = 0; i < count && pos < len; i++) {
        size_t at = pos;
        ly_err e = ly_event_unframe(p, len, &pos, &ev);
        S_CHECK(e == LY_OK || e == LY_EPROTO || e == LY_EVERSION);
        if (e != LY_OK) {
            S_CHECK(pos == at);
            return;
        }
        S_CHECK(pos > at + LY_EVENT_FRAME_HDR && pos <= len);
        const uint8_t *rec = p + at + LY_EVENT_FRAME_HDR;
        size_t n = pos - at - LY_EVENT_FRAME_HDR;
        s_event(rec, n); /* decodes it again: validate, re-encode, round trip */
        S_CHECK(ly_event_frame(framed, rec, n) == pos - at);
        S_CHECK(memcmp(framed, p + at, pos - at) == 0);
    }
}

typedef struct s_scan {
    const uint8_t *data;
    size_t size;
    uint64_t epoch;
    uint64_t off; /* where the next record starts */
    uint64_t n;
} s_scan;

static int s_record(void *arg, const uint8_t *payload, size_t len, uint32_t count)
{
    s_scan *s = arg;
    uint64_t off = s->off;
    S_CHECK(len <= LY_WAL_REC_MAX);
    S_CHECK(off + LY_WAL_HEADER + len + LY_WAL_TRAILER <= s->size);
    const uint8_t *h = s->data + off;
    S_CHECK(s_le(h, 4) == 0x3157594cu); /* "LYW1" */
    S_CHECK(s_le(h + 4, 4) == len);
    S_CHECK(s_le(h + 8, 8) == s->epoch);
    S_CHECK(s_le(h + 16, 4) == count);
    S_CHECK(len == 0 || memcmp(payload, h + LY_WAL_HEADER, len) == 0);
    S_CHECK(s_le(h + LY_WAL_HEADER + len, 8) == ly_hash(h, LY_WAL_HEADER + len));
    s->off = off + LY_WAL_HEADER + len + LY_WAL_TRAILER;
    s->n++;
    s_batch(payload, len, count);
    return 0;
}

static int s_count(void *arg, const uint8_t *payload, size_t len, uint32_t count)
{
    (void)payload;
    (void)len;
    (void)count;
    ++*(uint64_t *)arg;
    return 0;
}

static void s_wal(const uint8_t *data, size_t size)
{
    int fd = memfd_create("records_fuzz_wal", MFD_CLOEXEC);
    S_CHECK(fd >= 0);
    size_t done = 0;
    while (done < size) {
        ssize_t k = write(fd, data + done, size - done);
        S_CHECK(k > 0);
        done += (size_t)k;
    }
    char path[64], why[256];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ly_wal *w = NULL;
    S_CHECK(ly_wal_open(path, 0, &w, why, sizeof why) == LY_OK);
    s_scan s = {data, size, size >= 16 ? s_le(data + 8, 8) : 0, 0, 0};
    uint64_t records = 0;
    S_CHECK(ly_wal_scan(w, s.epoch, s_record, &s, &records) == LY_OK);
    S_CHECK(records == s.n && ly_wal_offset(w) == s.off && s.off <= size);
    uint64_t again = 0, seen = 0;
    S_CHECK(ly_wal_scan(w, s.epoch, s_count, &seen, &again) == LY_OK);
    S_CHECK(again == records && seen == records && ly_wal_offset(w) == s.off);
    uint8_t rec[LY_WAL_HEADER + 3 + LY_WAL_TRAILER] = {0};
    memcpy(rec + LY_WAL_HEADER, "abc", 3);
    S_CHECK(ly_wal_append(w, s.epoch, rec, 3, 7) == LY_OK);
    seen = 0;
    S_CHECK(ly_wal_scan(w, s.epoch, s_count, &seen, &again) == LY_OK);
    /* What followed the end may be valid records of the epoch again: at least one more. */
    S_CHECK(again >= records + 1 && ly_wal_offset(w) >= s.off + sizeof rec);
    ly_wal_close(&w);
    S_CHECK(w == NULL);
    close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ly_log_set_level(LY_ERROR); /* torn records are expected here: no warning per run */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    switch (data[0] % 3) {
    case 0:
        s_event(data + 1, size - 1);
        break;
    case 1:
        s_cust(data + 1, size - 1);
        break;
    default:
        s_wal(data + 1, size - 1);
        break;
    }
    return 0;
}
