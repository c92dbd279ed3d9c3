/* event.h -- the immutable event, the unit of storage and replication.
 *
 * Every change to a customer is one event with a globally unique id
 * (origin node, origin incarnation, origin seq). State is a deterministic,
 * order-independent fold of the set of events (see ledger.h), so two nodes
 * holding the same events hold the same state.
 *
 * Events are self-contained: an earn carries the points the origin awarded and
 * a reverse carries the points it takes back, so nodes never re-run earn rules.
 *
 * Strings are stored inline (fixed maximum sizes below), so an event owns all
 * it refers to and can be copied with `=`. All strings are NUL-terminated. */
#ifndef LY_EVENT_H
#define LY_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define LY_ID_MAX        64  /* customer ids, transaction ids, operator ids (bytes) */
#define LY_CATEGORY_MAX  32  /* purchase category names */
#define LY_TEXT_MAX      200 /* reasons, preferences (UTF-8 bytes) */
#define LY_NAME_MAX      100 /* customer names (UTF-8 bytes) */
#define LY_EMAIL_MAX     128
#define LY_PHONE_MAX     32
#define LY_TIER_NAME_MAX 32
#define LY_AMOUNT_MAX                                                                              \
    1000000000000LL /* 10^12 minor units or points: far above any real purchase                    \
                     */

/* Once keys (rules.h): the longest is a derived key's prefix and a customer
 * id. The join bonus's key is LY_ONCE_JOIN "<customer>"; client transaction
 * ids may not start with a derived key's prefix. */
#define LY_ONCE_KEY_MAX (LY_ID_MAX + 16)
#define LY_ONCE_JOIN    "join:"
/* "birthday <customer> <year>": the blanks keep it out of the ids' alphabet,
 * so no client transaction id (of this release or an older one) can be it. */
#define LY_ONCE_BIRTHDAY "birthday "

typedef enum ly_evtype {
    LY_EV_ENROLL = 1,  /* ev_points: join bonus */
    LY_EV_EARN = 2,    /* ev_amount: purchase (minor units); ev_points, ev_qual: awarded */
    LY_EV_REDEEM = 3,  /* ev_amount: points requested; ev_points = -ev_amount */
    LY_EV_REVERSE = 4, /* ev_ref_*: the original; ev_amount: refunded part; ev_points: change */
    LY_EV_ADJUST = 5,  /* ev_amount = ev_points: signed; ev_reason, ev_operator */
    LY_EV_PROFILE = 6, /* ev_fields: which profile fields are set */
    /* Rights move: the origin gives ev_points (= ev_amount > 0) of its redeemable
     * rights for the customer to node ev_to. The balance does not change. */
    LY_EV_TRANSFER = 7,
    /* One part of a program version (program.h): the chain's loyalty program
     * is chain data. A version's canonical form (ly_progdef_encode, ev_amount
     * bytes, hash ev_req_hash) is cut into ev_parts parts of at most
     * LY_EV_BLOB_MAX bytes, made by one origin in one batch with consecutive
     * seqs, part ev_part in ev_blob. ev_program: the version; ev_operator,
     * ev_reason: who applied it and why; no customer. */
    LY_EV_PROGRAM = 8,
    /* A bonus the program gives by itself (the birthday bonus): ev_points =
     * ev_amount > 0, ev_qual_day the birthday, once key "birthday C YEAR". */
    LY_EV_BONUS = 9,
    /* A manual tier: ev_category the tier's name, ev_qual_day its last UTC
     * day, ev_reason and ev_operator why and who; last writer wins. */
    LY_EV_TIER = 10,
} ly_evtype;

/* A program part's bytes; a program version takes up to LY_EV_PARTS_MAX parts. */
#define LY_EV_BLOB_MAX  512
#define LY_EV_PARTS_MAX 40

/* Profile fields; ev_fields / rq_fields is a mask of these bits. */
enum {
    LY_PF_NAME = 1u << 0,
    LY_PF_BIRTHDAY = 1u << 1,
    LY_PF_EMAIL = 1u << 2,
    LY_PF_PHONE = 1u << 3,
    LY_PF_PREFS = 1u << 4,
    LY_PF_ALL = (1u << 5) - 1,
};
#define LY_PF_COUNT 5

typedef struct ly_profile {
    char pf_name[LY_NAME_MAX + 1];
    char pf_birthday[11]; /* YYYY-MM-DD or empty */
    char pf_email[LY_EMAIL_MAX + 1];
    char pf_phone[LY_PHONE_MAX + 1];
    char pf_prefs[LY_TEXT_MAX + 1];
} ly_profile;

typedef struct ly_event {
    uint16_t ev_origin;      /* node id of the origin, 1..65535 */
    uint32_t ev_incarnation; /* the origin store's incarnation */
    uint64_t ev_seq;         /* 1, 2, 3... per (origin, incarnation), no gaps */
    uint64_t ev_hlc;         /* hybrid logical clock at the origin */
    uint8_t ev_type;         /* ly_evtype */
    uint8_t ev_ref_type;     /* reverse: type of the original (earn or redeem) */
    uint8_t ev_tier_from;    /* earn/reverse: tier index before, as the origin saw it */
    uint8_t ev_tier_to;      /* ... and after; equal when the tier did not change */
    uint16_t ev_to;          /* transfer: the node receiving the rights */
    uint32_t ev_program;     /* program version the origin applied */
    uint32_t ev_fields;      /* profile: LY_PF_* mask */
    int32_t ev_qual_day;     /* the UTC day (since 1970-01-01) ev_qual counts on */
    int64_t ev_amount;       /* see ly_evtype */
    int64_t ev_points;       /* signed change to the balance */
    int64_t ev_qual;         /* signed change to qualifying points */
    uint64_t ev_req_hash;    /* fingerprint of the client request (idempotency) */
    char ev_customer[LY_ID_MAX + 1];
    char ev_txn[LY_ID_MAX + 1];
    char ev_ref_txn[LY_ID_MAX + 1];
    char ev_category[LY_CATEGORY_MAX + 1];
    char ev_reason[LY_TEXT_MAX + 1];
    char ev_operator[LY_ID_MAX + 1];
    ly_profile ev_profile;
    uint8_t ev_part;      /* program: 1..ev_parts */
    uint8_t ev_parts;     /* program: 1..LY_EV_PARTS_MAX */
    uint16_t ev_blob_len; /* program: bytes in ev_blob, 1..LY_EV_BLOB_MAX; else 0 */
    uint8_t ev_blob[LY_EV_BLOB_MAX];
} ly_event;

/* Size of the largest encoded event. */
#define LY_EVENT_ENC_MAX (1400 + 4 + LY_EV_BLOB_MAX)

/* Encode `ev` into `buf` (at least LY_EVENT_ENC_MAX bytes) in the store's
 * compact binary record form (versioned). Returns the length written. */
size_t ly_event_encode(const ly_event *ev, uint8_t *buf);

/* Decode a record made by ly_event_encode. Validates every field; on error
 * returns LY_EPROTO (or LY_EVERSION) and `ev` is unspecified. */
ly_err ly_event_decode(const uint8_t *buf, size_t len, ly_event *ev);

/* A log record of the store (store.c, wal.h) holds a batch's events one after
 * the other, each framed as a 2-byte little-endian length then its record.
 * ly_event_frame writes the record `rec` of `len` (<= LY_EVENT_ENC_MAX) bytes
 * so at `dst` (room for LY_EVENT_FRAME_MAX) and returns the bytes written.
 * ly_event_unframe decodes the event at *pos of the payload `p` of `len`
 * bytes and moves *pos past it: LY_EPROTO for a length past the end, else
 * what ly_event_decode returns; on an error *pos is left as it was. */
#define LY_EVENT_FRAME_HDR 2
#define LY_EVENT_FRAME_MAX (LY_EVENT_FRAME_HDR + LY_EVENT_ENC_MAX)
size_t ly_event_frame(uint8_t *dst, const uint8_t *rec, size_t len);
ly_err ly_event_unframe(const uint8_t *p, size_t len, size_t *pos, ly_event *ev);

/* Checks that an event is within contract (types, ranges, string syntax).
 * Used on everything decoded from the store or a peer. */
ly_err ly_event_validate(const ly_event *ev);

/* Name of an event type ("earn"), or "?" */
const char *ly_evtype_name(int type);

/* 1 if `s` is a valid id: 1..LY_ID_MAX bytes of [A-Za-z0-9._:@#/+-]. */
int ly_id_valid(const char *s);

/* 1 if `s` is valid UTF-8 without control characters and at most `max` bytes. */
int ly_text_valid(const char *s, size_t max);

/* 1 if `s` is a real date YYYY-MM-DD (or empty). */
int ly_date_valid(const char *s);

/* Copy `src` into `dst` of `cap` bytes (NUL included); returns 0 if it fit, -1 if too long
 * (then dst is set to the empty string). */
int ly_strlcpy(char *dst, const char *src, size_t cap);

#endif
