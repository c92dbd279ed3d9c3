/* records_seedgen.c -- writes records_seed/ for records_fuzz.c with the real
 * encoders: events of every type (record version 3, and version 2 where no
 * program part is carried), customer states folded from them, and
 * write-ahead logs of such records. Built with the fuzz targets; run by hand:
 *   build/fuzz/tests/fuzz/records_seedgen tests/fuzz/records_seed */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/event.h"
#include "common/hash.h"
#include "common/ledger.h"
#include "common/wal.h"

static const char *s_dir;

static void s_write(const char *name, int mode, const uint8_t *p, size_t n)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp || fputc(mode, fp) == EOF || fwrite(p, 1, n, fp) != n || fclose(fp) != 0) {
        perror(path);
        exit(1);
    }
}

static uint64_t s_seq;

static ly_event s_ev(int type)
{
    ly_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ev_origin = 1;
    ev.ev_incarnation = 7;
    ev.ev_seq = ++s_seq;
    ev.ev_hlc = (20000ULL * 86400000ULL + s_seq * 1000) << 16;
    ev.ev_type = (uint8_t)type;
    ev.ev_program = 1;
    ev.ev_qual_day = 20000;
    strcpy(ev.ev_customer, "C1");
    snprintf(ev.ev_txn, sizeof ev.ev_txn, "T%llu", (unsigned long long)s_seq);
    ev.ev_req_hash = 0x1234567890abcdefULL + s_seq;
    return ev;
}

static int s_events(ly_event *evs)
{
    int n = 0;
    ly_event ev = s_ev(LY_EV_ENROLL);
    ev.ev_points = 100;
    evs[n++] = ev;
    ev = s_ev(LY_EV_EARN);
    ev.ev_amount = 12345;
    ev.ev_points = 123;
    ev.ev_qual = 123;
    strcpy(ev.ev_category, "food");
    evs[n++] = ev;
    ev = s_ev(LY_EV_REDEEM);
    ev.ev_amount = 50;
    ev.ev_points = -50;
    evs[n++] = ev;
    ev = s_ev(LY_EV_REVERSE);
    ev.ev_ref_type = LY_EV_EARN;
    strcpy(ev.ev_ref_txn, "T2");
    ev.ev_amount = 1000;
    ev.ev_points = -10;
    ev.ev_qual = -10;
    evs[n++] = ev;
    ev = s_ev(LY_EV_ADJUST);
    ev.ev_amount = ev.ev_points = 25;
    strcpy(ev.ev_reason, "goodwill");
    strcpy(ev.ev_operator, "alice");
    evs[n++] = ev;
    ev = s_ev(LY_EV_PROFILE);
    ev.ev_fields = LY_PF_ALL;
    strcpy(ev.ev_profile.pf_name, "Jana Nov\xc3\xa1kov\xc3\xa1");
    strcpy(ev.ev_profile.pf_birthday, "1990-02-28");
    strcpy(ev.ev_profile.pf_email, "jana@example.com");
    strcpy(ev.ev_profile.pf_phone, "+420123456789");
    strcpy(ev.ev_profile.pf_prefs, "no paper receipts");
    evs[n++] = ev;
    ev = s_ev(LY_EV_TRANSFER);
    ev.ev_to = 2;
    ev.ev_amount = ev.ev_points = 40;
    evs[n++] = ev;
    ev = s_ev(LY_EV_BONUS);
    ev.ev_amount = ev.ev_points = 200;
    ev.ev_txn[0] = '\0'; /* its once key is the birthday's */
    evs[n++] = ev;
    ev = s_ev(LY_EV_TIER);
    strcpy(ev.ev_category, "gold");
    ev.ev_qual_day = 20365;
    strcpy(ev.ev_reason, "vip");
    strcpy(ev.ev_operator, "bob");
    evs[n++] = ev;
    ev = s_ev(LY_EV_PROGRAM);
    ev.ev_customer[0] = '\0';
    ev.ev_txn[0] = '\0';
    ev.ev_program = 2;
    ev.ev_qual_day = 0;
    ev.ev_amount = 12;
    ev.ev_part = 1;
    ev.ev_parts = 1;
    ev.ev_blob_len = 12;
    memcpy(ev.ev_blob, "LYPD program", 12);
    ev.ev_req_hash = ly_hash(ev.ev_blob, 12);
    strcpy(ev.ev_reason, "spring");
    strcpy(ev.ev_operator, "carol");
    evs[n++] = ev;
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: records_seedgen DIR\n");
        return 2;
    }
    s_dir = argv[1];
    static ly_event evs[16];
    static uint8_t buf[LY_CUST_ENC_MAX + LY_EVENT_ENC_MAX];
    char name[64];
    int n = s_events(evs);
    ly_cust c;
    ly_cust_init(&c, "C1");
    for (int i = 0; i < n; i++) {
        ly_err e = ly_event_validate(&evs[i]);
        if (e != LY_OK) {
            fprintf(stderr, "event %d (%s) invalid: %s\n", i, ly_evtype_name(evs[i].ev_type),
                    ly_strerror(e));
            continue;
        }
        size_t len = ly_event_encode(&evs[i], buf);
        snprintf(name, sizeof name, "event_%s", ly_evtype_name(evs[i].ev_type));
        s_write(name, 0, buf, len);
        if (evs[i].ev_blob_len == 0 && buf[0] == 3 && len >= 4) {
            buf[0] = 2; /* version 2: the same without part, parts and blob length */
            snprintf(name, sizeof name, "event_v2_%s", ly_evtype_name(evs[i].ev_type));
            s_write(name, 0, buf, len - 4);
        }
        if (evs[i].ev_customer[0]) {
            ly_cust_apply(&c, &evs[i]);
            len = ly_cust_encode(&c, buf);
            snprintf(name, sizeof name, "cust_after_%02d_%s", i, ly_evtype_name(evs[i].ev_type));
            s_write(name, 1, buf, len);
        }
    }
    ly_cust_init(&c, "empty");
    s_write("cust_empty", 1, buf, ly_cust_encode(&c, buf));

    /* A log of epoch 5 as the store writes it (framed events, ly_event_frame): a
     * record per event (count 1), a batch of two, a torn one. */
    size_t off = 0;
    for (int i = 0; i <= n; i++) {
        int k = i < n ? 1 : 2;
        uint8_t *rec = buf + off, *p = rec + LY_WAL_HEADER;
        size_t len = 0;
        for (int j = 0; j < k; j++) {
            uint8_t one[LY_EVENT_ENC_MAX];
            size_t m = ly_event_encode(&evs[(i + j) % n], one);
            len += ly_event_frame(p + len, one, m);
        }
        uint8_t hdr[LY_WAL_HEADER] = {'L', 'Y', 'W', '1', 0, 0, 0, 0, 5, 0, 0, 0,
                                      0,   0,   0,   0,   0, 0, 0, 0, 0, 0, 0, 0};
        for (int b = 0; b < 4; b++)
            hdr[4 + b] = (uint8_t)(len >> (8 * b));
        hdr[16] = (uint8_t)k;
        memcpy(rec, hdr, sizeof hdr);
        uint64_t h = ly_hash(rec, LY_WAL_HEADER + len);
        for (int b = 0; b < 8; b++)
            rec[LY_WAL_HEADER + len + b] = (uint8_t)(h >> (8 * b));
        off += LY_WAL_HEADER + len + LY_WAL_TRAILER;
        if (off > sizeof buf - LY_EVENT_ENC_MAX * 3)
            break;
        if (i == 1)
            s_write("wal_two", 2, buf, off);
    }
    s_write("wal_log", 2, buf, off);
    s_write("wal_torn", 2, buf, off - 5);
    return 0;
}
