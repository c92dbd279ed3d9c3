/* events.h -- the type-specific part of sample events, for codec tests.
 *
 *   memset(e, 0, sizeof *e);
 *   e->ev_origin = 2; ... the common fields (origin, seq, hlc, customer, txn) ...
 *   lye_earn(e, 1299, 12, 0, 1, "food");       // type and the fields of an earn
 *   cr_assert_eq(ly_event_validate(e), LY_OK);
 *
 * Each function sets ev_type and the fields that type carries, to the values
 * given, and nothing else: start from a zeroed event. A string argument is
 * copied (truncated to its field) and NULL leaves the field as it is. Whether
 * the result is valid is the caller's to check (ly_event_validate).
 * Header-only (static inline): the unit tests include it. */
#ifndef LYE_EVENTS_H
#define LYE_EVENTS_H

#include <stdint.h>
#include <stdio.h>

#include "common/event.h"

#define LYE_SET(field, src)                                                                        \
    do {                                                                                           \
        if ((src) != NULL)                                                                         \
            snprintf((field), sizeof(field), "%s", (src));                                         \
    } while (0)

/* A profile change of the fields in `fields` (LY_PF_*), to the strings given
 * (NULL: the field stays empty, i.e. cleared if it is in `fields`). */
static inline void lye_profile(ly_event *e, uint32_t fields, const char *name, const char *birthday,
                               const char *email, const char *phone, const char *prefs)
{
    e->ev_type = LY_EV_PROFILE;
    e->ev_fields = fields;
    LYE_SET(e->ev_profile.pf_name, name);
    LYE_SET(e->ev_profile.pf_birthday, birthday);
    LYE_SET(e->ev_profile.pf_email, email);
    LYE_SET(e->ev_profile.pf_phone, phone);
    LYE_SET(e->ev_profile.pf_prefs, prefs);
}

/* An enrollment with a join bonus of `points` and a profile (as lye_profile). */
static inline void lye_enroll(ly_event *e, int64_t points, uint32_t fields, const char *name,
                              const char *email)
{
    lye_profile(e, fields, name, NULL, email, NULL, NULL);
    e->ev_type = LY_EV_ENROLL;
    e->ev_points = points;
}

/* An earn of `amount` minor units giving `points` (as many qualifying
 * points), moving the tier from `tier_from` to `tier_to`. */
static inline void lye_earn(ly_event *e, int64_t amount, int64_t points, uint8_t tier_from,
                            uint8_t tier_to, const char *category)
{
    e->ev_type = LY_EV_EARN;
    e->ev_amount = amount;
    e->ev_points = e->ev_qual = points;
    e->ev_tier_from = tier_from;
    e->ev_tier_to = tier_to;
    LYE_SET(e->ev_category, category);
}

/* A redemption of `amount` points (ev_points = -amount). */
static inline void lye_redeem(ly_event *e, int64_t amount)
{
    e->ev_type = LY_EV_REDEEM;
    e->ev_amount = amount;
    e->ev_points = -amount;
}

/* A refund of `amount` of the `ref_type` (LY_EV_EARN or LY_EV_REDEEM)
 * `ref_txn`, changing the balance by `points` and qualifying points by `qual`. */
static inline void lye_reverse(ly_event *e, uint8_t ref_type, const char *ref_txn, int64_t amount,
                               int64_t points, int64_t qual)
{
    e->ev_type = LY_EV_REVERSE;
    e->ev_ref_type = ref_type;
    LYE_SET(e->ev_ref_txn, ref_txn);
    e->ev_amount = amount;
    e->ev_points = points;
    e->ev_qual = qual;
}

/* A goodwill adjustment of `points` (ev_amount = ev_points). */
static inline void lye_adjust(ly_event *e, int64_t points, const char *reason, const char *op)
{
    e->ev_type = LY_EV_ADJUST;
    e->ev_amount = e->ev_points = points;
    LYE_SET(e->ev_reason, reason);
    LYE_SET(e->ev_operator, op);
}

/* A transfer of `points` rights to node `to` (ev_amount = ev_points). */
static inline void lye_transfer(ly_event *e, uint16_t to, int64_t points)
{
    e->ev_type = LY_EV_TRANSFER;
    e->ev_to = to;
    e->ev_amount = e->ev_points = points;
}

#endif
