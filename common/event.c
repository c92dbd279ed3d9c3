#include "common/event.h"

#include "common/record.h"
#include "common/rules.h"

#include <string.h>

/* The store's record form of an event (little-endian, version 1):
 *   u8 version, u16 origin, u32 incarnation, u64 seq, u64 hlc, u8 type, u8 ref_type,
 *   u8 tier_from, u8 tier_to, u16 to, u32 program, u32 fields, i32 qual_day, i64 amount,
 *   i64 points, i64 qual, u64 req_hash, then strings as u8 length + bytes:
 *   customer, txn, ref_txn, category, reason, operator, name, birthday, email, phone, prefs;
 * version 3 adds u8 part, u8 parts, u16 blob length and the blob's bytes
 * (program parts). Version 2 records (no program parts) still decode. */
#define S_RECORD_VERSION 3
#define S_RECORD_V2      2

_Static_assert(LY_EVENT_ENC_MAX >= 1 + 2 + 4 + 8 + 8 + 4 * 1 + 2 + 4 * 3 + 8 * 4 +
                                       (1 + LY_ID_MAX) * 5 + (1 + LY_CATEGORY_MAX) +
                                       (1 + LY_TEXT_MAX) * 2 + (1 + LY_NAME_MAX) + 11 +
                                       (1 + LY_EMAIL_MAX) + (1 + LY_PHONE_MAX) + 4 + LY_EV_BLOB_MAX,
               "LY_EVENT_ENC_MAX holds the largest record");

size_t ly_event_encode(const ly_event *ev, uint8_t *buf)
{
    ly_wr w = {buf};
    ly_wr_int(&w, S_RECORD_VERSION, 1);
    ly_wr_int(&w, ev->ev_origin, 2);
    ly_wr_int(&w, ev->ev_incarnation, 4);
    ly_wr_int(&w, ev->ev_seq, 8);
    ly_wr_int(&w, ev->ev_hlc, 8);
    ly_wr_int(&w, ev->ev_type, 1);
    ly_wr_int(&w, ev->ev_ref_type, 1);
    ly_wr_int(&w, ev->ev_tier_from, 1);
    ly_wr_int(&w, ev->ev_tier_to, 1);
    ly_wr_int(&w, ev->ev_to, 2);
    ly_wr_int(&w, ev->ev_program, 4);
    ly_wr_int(&w, ev->ev_fields, 4);
    ly_wr_int(&w, (uint32_t)ev->ev_qual_day, 4);
    ly_wr_int(&w, (uint64_t)ev->ev_amount, 8);
    ly_wr_int(&w, (uint64_t)ev->ev_points, 8);
    ly_wr_int(&w, (uint64_t)ev->ev_qual, 8);
    ly_wr_int(&w, ev->ev_req_hash, 8);
    ly_wr_str(&w, ev->ev_customer);
    ly_wr_str(&w, ev->ev_txn);
    ly_wr_str(&w, ev->ev_ref_txn);
    ly_wr_str(&w, ev->ev_category);
    ly_wr_str(&w, ev->ev_reason);
    ly_wr_str(&w, ev->ev_operator);
    ly_wr_str(&w, ev->ev_profile.pf_name);
    ly_wr_str(&w, ev->ev_profile.pf_birthday);
    ly_wr_str(&w, ev->ev_profile.pf_email);
    ly_wr_str(&w, ev->ev_profile.pf_phone);
    ly_wr_str(&w, ev->ev_profile.pf_prefs);
    ly_wr_int(&w, ev->ev_part, 1);
    ly_wr_int(&w, ev->ev_parts, 1);
    ly_wr_int(&w, ev->ev_blob_len, 2);
    ly_wr_bytes(&w, ev->ev_blob, ev->ev_blob_len);
    return (size_t)(w.w_p - buf);
}

ly_err ly_event_decode(const uint8_t *buf, size_t len, ly_event *ev)
{
    ly_rd r = {buf, buf + len, 0};
    memset(ev, 0, sizeof *ev);
    uint64_t version = ly_rd_int(&r, 1);
    if (!r.r_bad && version != S_RECORD_VERSION && version != S_RECORD_V2)
        return LY_EVERSION;
    ev->ev_origin = (uint16_t)ly_rd_int(&r, 2);
    ev->ev_incarnation = (uint32_t)ly_rd_int(&r, 4);
    ev->ev_seq = ly_rd_int(&r, 8);
    ev->ev_hlc = ly_rd_int(&r, 8);
    ev->ev_type = (uint8_t)ly_rd_int(&r, 1);
    ev->ev_ref_type = (uint8_t)ly_rd_int(&r, 1);
    ev->ev_tier_from = (uint8_t)ly_rd_int(&r, 1);
    ev->ev_tier_to = (uint8_t)ly_rd_int(&r, 1);
    ev->ev_to = (uint16_t)ly_rd_int(&r, 2);
    ev->ev_program = (uint32_t)ly_rd_int(&r, 4);
    ev->ev_fields = (uint32_t)ly_rd_int(&r, 4);
    ev->ev_qual_day = (int32_t)(uint32_t)ly_rd_int(&r, 4);
    ev->ev_amount = (int64_t)ly_rd_int(&r, 8);
    ev->ev_points = (int64_t)ly_rd_int(&r, 8);
    ev->ev_qual = (int64_t)ly_rd_int(&r, 8);
    ev->ev_req_hash = ly_rd_int(&r, 8);
    ly_rd_str(&r, ev->ev_customer, sizeof ev->ev_customer);
    ly_rd_str(&r, ev->ev_txn, sizeof ev->ev_txn);
    ly_rd_str(&r, ev->ev_ref_txn, sizeof ev->ev_ref_txn);
    ly_rd_str(&r, ev->ev_category, sizeof ev->ev_category);
    ly_rd_str(&r, ev->ev_reason, sizeof ev->ev_reason);
    ly_rd_str(&r, ev->ev_operator, sizeof ev->ev_operator);
    ly_rd_str(&r, ev->ev_profile.pf_name, sizeof ev->ev_profile.pf_name);
    ly_rd_str(&r, ev->ev_profile.pf_birthday, sizeof ev->ev_profile.pf_birthday);
    ly_rd_str(&r, ev->ev_profile.pf_email, sizeof ev->ev_profile.pf_email);
    ly_rd_str(&r, ev->ev_profile.pf_phone, sizeof ev->ev_profile.pf_phone);
    ly_rd_str(&r, ev->ev_profile.pf_prefs, sizeof ev->ev_profile.pf_prefs);
    if (version == S_RECORD_VERSION) {
        ev->ev_part = (uint8_t)ly_rd_int(&r, 1);
        ev->ev_parts = (uint8_t)ly_rd_int(&r, 1);
        ev->ev_blob_len = (uint16_t)ly_rd_int(&r, 2);
        ly_rd_bytes(&r, ev->ev_blob, sizeof ev->ev_blob, ev->ev_blob_len);
    }
    if (!ly_rd_done(&r))
        return LY_EPROTO;
    return ly_event_validate(ev);
}

size_t ly_event_frame(uint8_t *dst, const uint8_t *rec, size_t len)
{
    ly_wr w = {dst};
    ly_wr_int(&w, len, LY_EVENT_FRAME_HDR);
    ly_wr_bytes(&w, rec, len);
    return LY_EVENT_FRAME_HDR + len;
}

ly_err ly_event_unframe(const uint8_t *p, size_t len, size_t *pos, ly_event *ev)
{
    if (*pos > len)
        return LY_EPROTO;
    ly_rd rd = {p + *pos, p + len, 0};
    size_t n = (size_t)ly_rd_int(&rd, LY_EVENT_FRAME_HDR);
    if (rd.r_bad || (size_t)(rd.r_end - rd.r_p) < n)
        return LY_EPROTO;
    ly_err e = ly_event_decode(rd.r_p, n, ev);
    if (e == LY_OK)
        *pos += LY_EVENT_FRAME_HDR + n;
    return e;
}

static int s_abs_ok(int64_t v)
{
    return v >= -LY_AMOUNT_MAX && v <= LY_AMOUNT_MAX;
}

ly_err ly_event_validate(const ly_event *ev)
{
    if (ev->ev_origin == 0 || ev->ev_seq == 0 || ev->ev_hlc == 0)
        return LY_EPROTO;
    const ly_rule *ru = ly_rule_for(ev->ev_type);
    if (!ru)
        return LY_EPROTO;
    /* A program part names no customer; every other event names one. */
    if ((ru->ru_flags & LY_RU_NO_CUST) ? ev->ev_customer[0] != '\0' : !ly_id_valid(ev->ev_customer))
        return LY_EPROTO;
    if (ev->ev_type != LY_EV_PROGRAM &&
        (ev->ev_part != 0 || ev->ev_parts != 0 || ev->ev_blob_len != 0))
        return LY_EPROTO;
    if (ev->ev_blob_len > LY_EV_BLOB_MAX)
        return LY_EPROTO;
    /* A derived once key's prefix is not a transaction id (it would share
     * the key's record in the txn index). */
    if (ev->ev_txn[0] && (!ly_id_valid(ev->ev_txn) || ly_once_reserved(ev->ev_txn)))
        return LY_EPROTO;
    if (ev->ev_ref_txn[0] && !ly_id_valid(ev->ev_ref_txn))
        return LY_EPROTO;
    if (ev->ev_category[0] && !ly_id_valid(ev->ev_category))
        return LY_EPROTO;
    if (ev->ev_operator[0] && !ly_id_valid(ev->ev_operator))
        return LY_EPROTO;
    if (!ly_text_valid(ev->ev_reason, LY_TEXT_MAX) ||
        !ly_text_valid(ev->ev_profile.pf_name, LY_NAME_MAX) ||
        !ly_text_valid(ev->ev_profile.pf_email, LY_EMAIL_MAX) ||
        !ly_text_valid(ev->ev_profile.pf_phone, LY_PHONE_MAX) ||
        !ly_text_valid(ev->ev_profile.pf_prefs, LY_TEXT_MAX) ||
        !ly_date_valid(ev->ev_profile.pf_birthday))
        return LY_EPROTO;
    if (!s_abs_ok(ev->ev_amount) || !s_abs_ok(ev->ev_points) || !s_abs_ok(ev->ev_qual))
        return LY_EPROTO;
    if (ev->ev_fields & ~(uint32_t)LY_PF_ALL)
        return LY_EPROTO;
    /* The type's own contract: common/rules/ (one file per type). */
    if ((ev->ev_to != 0 && !(ru->ru_flags & LY_RU_HAS_TO)) || !ru->ru_valid(ev))
        return LY_EPROTO;
    return LY_OK;
}

int ly_id_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n >= LY_ID_MAX)
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("._:@#/+-", c)))
            return 0;
    }
    return n > 0;
}

int ly_text_valid(const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    if (n > max)
        return 0;
    while (*p) {
        unsigned c = *p;
        int extra;
        unsigned cp;
        if (c < 0x20 || c == 0x7f)
            return 0;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            extra = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            extra = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            extra = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        for (int i = 1; i <= extra; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        /* Overlong forms, surrogates, beyond U+10FFFF, C1 controls. */
        if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
            (extra == 3 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
            (cp >= 0x80 && cp < 0xa0))
            return 0;
        p += extra + 1;
    }
    return 1;
}

int ly_date_valid(const char *s)
{
    if (!s[0])
        return 1;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || m < 1 || m > 12 || d < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int max = mdays[m - 1] + (m == 2 && leap);
    return d <= max;
}

int ly_strlcpy(char *dst, const char *src, size_t cap)
{
    size_t n = strlen(src);
    if (n >= cap) {
        if (cap)
            dst[0] = '\0';
        return -1;
    }
    memcpy(dst, src, n + 1);
    return 0;
}
