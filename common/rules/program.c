/* program -- one part of a program version (program.h): the loyalty program
 * as chain data. A version's canonical bytes (ev_amount of them, SipHash
 * ev_req_hash) travel in ev_parts consecutive events of one origin, part
 * ev_part carrying bytes [(ev_part - 1) * LY_EV_BLOB_MAX, ...) in ev_blob.
 * They touch no customer: the store assembles the version when its last part
 * arrives (store.c s_program_note) and every node picks the same program for
 * a time from the versions it holds. */
#include "common/rules.h"

#include <string.h>

/* Bytes part `part` (1-based) of a version of `total` bytes carries. */
static size_t s_part_len(int64_t total, int part)
{
    int64_t off = (int64_t)(part - 1) * LY_EV_BLOB_MAX;
    int64_t left = total - off;
    return left > LY_EV_BLOB_MAX ? LY_EV_BLOB_MAX : (size_t)left;
}

int ly_program_parts(int64_t total)
{
    return total > 0 ? (int)((total + LY_EV_BLOB_MAX - 1) / LY_EV_BLOB_MAX) : 0;
}

static int s_valid(const ly_event *ev)
{
    if (ev->ev_program == 0 || ev->ev_amount <= 0 ||
        ev->ev_amount > LY_EV_BLOB_MAX * LY_EV_PARTS_MAX)
        return 0;
    if (ev->ev_parts != ly_program_parts(ev->ev_amount) || ev->ev_part < 1 ||
        ev->ev_part > ev->ev_parts || ev->ev_blob_len != s_part_len(ev->ev_amount, ev->ev_part))
        return 0;
    return ev->ev_points == 0 && ev->ev_qual == 0 && ev->ev_qual_day == 0 && ev->ev_fields == 0 &&
           ev->ev_txn[0] == '\0' && ev->ev_ref_txn[0] == '\0' && ev->ev_category[0] == '\0' &&
           ev->ev_ref_type == 0 && ev->ev_tier_from == 0 && ev->ev_tier_to == 0 &&
           ev->ev_profile.pf_name[0] == '\0' && ev->ev_profile.pf_birthday[0] == '\0' &&
           ev->ev_profile.pf_email[0] == '\0' && ev->ev_profile.pf_phone[0] == '\0' &&
           ev->ev_profile.pf_prefs[0] == '\0';
}

/* Part in_part of the version in in_blob (the service has checked that the
 * version is new and the bytes decode). */
static void s_make(const ly_origin *o, const ly_intent *in, ly_event *ev, ly_refusal *no)
{
    (void)o;
    int parts = ly_program_parts((int64_t)in->in_blob_len);
    if (parts < 1 || parts > LY_EV_PARTS_MAX || in->in_part < 1 || in->in_part > parts) {
        ly_refuse(no, LY_EINVAL, "a program of %zu bytes has no part %d", in->in_blob_len,
                  in->in_part);
        return;
    }
    ev->ev_program = in->in_version;
    ev->ev_req_hash = in->in_hash;
    ev->ev_amount = (int64_t)in->in_blob_len;
    ev->ev_part = (uint8_t)in->in_part;
    ev->ev_parts = (uint8_t)parts;
    ev->ev_blob_len = (uint16_t)s_part_len(ev->ev_amount, in->in_part);
    memcpy(ev->ev_blob, in->in_blob + (size_t)(in->in_part - 1) * LY_EV_BLOB_MAX, ev->ev_blob_len);
    ly_strlcpy(ev->ev_operator, in->in_operator ? in->in_operator : "", sizeof ev->ev_operator);
    ly_strlcpy(ev->ev_reason, in->in_reason ? in->in_reason : "", sizeof ev->ev_reason);
}

/* No customer: nothing to count (the store keeps the version, not a fold). */
static void s_fold(ly_cust *c, const ly_event *ev, int sign)
{
    (void)c, (void)ev, (void)sign;
}

const ly_rule ly_rule_program = {
    .ru_type = LY_EV_PROGRAM,
    .ru_name = "program",
    .ru_flags = LY_RU_NO_CUST | LY_RU_MAY_BE_NEW,
    .ru_valid = s_valid,
    .ru_make = s_make,
    .ru_fold = s_fold,
};
