/* rules.h -- the loyalty rules per event type: everything the node does with
 * one kind of event, in one place.
 *
 * Each event type has one entry (ly_rule) in one file of common/rules/
 * (enroll.c, earn.c, ...), and that entry is the whole story of the type:
 *  - ru_valid:  its contract, checked on every event decoded from a peer or the
 *               store (after the checks common to all types in ly_event_validate);
 *  - ru_make:   how the origin makes it from a client's intent and the state it
 *               read (the business checks: enrolled? enough points, enough
 *               rights here? how much of the original is left to refund?), or
 *               why it refuses;
 *  - ru_fold:   what it counts in a customer's state (balance, rights,
 *               lifetime, qualifying points): linear in `sign`, so that
 *               sign -1 takes exactly back what sign +1 added. Only the event
 *               that counts for its once key is folded (see below);
 *  - ru_note:   what every event of the type does, counted or not (an
 *               enrollment, last-writer-wins profile fields); may be NULL;
 *  - ru_spends: the rights its origin spends with it, which the store's causal
 *               gate checks (an origin never spends rights it did not hold);
 *  - ru_flags:  what the origin must read before ru_make (LY_RU_NEEDS_*) and
 *               which store indexes the event touches beyond the event log,
 *               the customer record and the history (LY_RU_IX_*).
 * The store (store.c) and the service (node/service.c) ask this table instead
 * of switching on types. Adding an event type is one new file with its entry,
 * its line in the table (rules/rules.c), its codec fields and its tests.
 *
 * Once keys (DESIGN.md 5b). An event that changes a balance carries a once
 * key: its client transaction id (LY_RU_ONCE_TXN), or a key the node derives
 * (LY_RU_ONCE_JOIN: join:<customer>, the join bonus). Among all events with
 * the same key the one with the smallest (hlc, origin, incarnation, seq)
 * counts, the same one at every node whatever the arrival order; the others
 * are void duplicates: they are kept and shown, they are noted (ru_note) but
 * not folded (ru_fold). When a smaller one arrives later, the store folds the
 * old winner out (sign -1) and the new one in. A voided redemption thus gives
 * its branch's rights back. Rights transfers have no once key (a node makes
 * each one once); profile changes need none (last writer wins per field).
 *
 * Everything here is a pure function of its arguments: no store, no clock, no
 * I/O. The origin reads what ru_flags ask for and passes it in ly_origin. */
#ifndef LY_RULES_H
#define LY_RULES_H

#include <stdint.h>

#include "common/event.h"
#include "common/ledger.h"
#include "common/program.h"
#include "common/tiers.h"

/* What the origin reads before ru_make, and the indexes an event touches. */
enum {
    LY_RU_NEEDS_CUST = 1u << 0,     /* the customer's state (refused if not enrolled) */
    LY_RU_NEEDS_ORIGINAL = 1u << 1, /* the original transaction's record (ev_ref_txn) */
    LY_RU_MAY_BE_NEW = 1u << 2,     /* the customer may be unknown (enroll) */
    LY_RU_HAS_TO = 1u << 3,         /* ev_to names a receiving node (transfer) */
    LY_RU_NO_CUST = 1u << 4,        /* names no customer (program parts): no fold, no history */
    LY_RU_IX_TXN = 1u << 8,         /* its transaction id goes in the txn index (retries) */
    LY_RU_IX_REFUNDS = 1u << 9,     /* adds its amount to the original's refund totals */
    LY_RU_IX_DEBTS = 1u << 10,      /* changes the net balance: may enter or leave debts */
    LY_RU_ONCE_TXN = 1u << 16,      /* once key: the transaction id */
    LY_RU_ONCE_JOIN = 1u << 17,     /* once key: join:<customer> */
    LY_RU_ONCE_BIRTHDAY = 1u << 18, /* once key: "birthday <customer> <year of ev_qual_day>" */
};

/* LY_ONCE_KEY_MAX, LY_ONCE_JOIN and LY_ONCE_BIRTHDAY: event.h. Derived keys
 * (join:, "birthday ") are the node's: LY_RU_ONCE_DERIVED. */
#define LY_RU_ONCE_DERIVED (LY_RU_ONCE_JOIN | LY_RU_ONCE_BIRTHDAY)

/* What a client asks the origin to do, as the rules see it (the service maps
 * a decoded request onto this; pointers are borrowed for the call). */
typedef struct ly_intent {
    uint8_t in_type; /* ly_evtype to create */
    const char *in_customer;
    const char *in_ref_txn; /* reverse: the original's transaction id */
    const char *in_category;
    const char *in_reason;
    const char *in_operator;
    int64_t in_amount;  /* as in ly_req rq_amount; transfer: the points wanted */
    uint16_t in_to;     /* transfer: the receiving node */
    uint32_t in_fields; /* LY_PF_* mask of in_profile fields given */
    const ly_profile *in_profile;
    /* program: part in_part (1-based) of version in_version, whose canonical
     * bytes (ly_progdef_encode) are in_blob and hash in_hash */
    const uint8_t *in_blob;
    size_t in_blob_len;
    int in_part;
    uint32_t in_version;
    uint64_t in_hash;
    int32_t in_day; /* bonus: the birthday it is for (days since 1970-01-01) */
} ly_intent;

/* How an earn's points came about, for the cashier's receipt (the reply). */
typedef struct ly_breakdown {
    int64_t bd_base;           /* points before any multiplier */
    uint32_t bd_tier_mult;     /* the customer's tier's, thousandths */
    uint32_t bd_category_mult; /* the category's (0: it earns nothing), thousandths */
    int64_t bd_plain;          /* points without a campaign */
    char bd_campaign[LY_PD_CAMPAIGN_MAX + 1]; /* the campaign that applied, "" none */
    int64_t bd_campaign_points;               /* what it added */
} ly_breakdown;

/* What the origin knows when it makes an event. */
typedef struct ly_origin {
    const ly_program *or_program;
    const ly_progdef *or_def; /* the same program in full (campaigns); NULL: or_program only */
    uint16_t or_self;         /* this node */
    const char *or_branch;    /* this node's name (campaigns limited to branches) */
    int32_t or_day;           /* the event's UTC day (LY_HLC_DAY of its timestamp) */
    int32_t or_local_day;     /* ... its date at the branch (the node's time zone) */
    int or_local_minute;      /* ... and its minute of the day there, 0..1439 */
    const ly_cust *or_cust;   /* the customer's state; NULL when there is no record */
    const ly_txnrec *or_orig; /* LY_RU_NEEDS_ORIGINAL: the original; NULL if unknown */
    ly_breakdown *or_out;     /* earn: filled with how the points came about (may be NULL) */
} ly_origin;

/* Why the origin refuses a request (nothing is written). */
typedef struct ly_refusal {
    ly_err rf_err;        /* LY_OK: the event is made */
    int64_t rf_available; /* insufficient_points / _local_rights: what can be taken now */
    uint8_t rf_rights;    /* 1: the reply shows the customer's rights */
    char rf_msg[256];
} ly_refusal;

typedef struct ly_rule {
    uint8_t ru_type; /* ly_evtype */
    const char *ru_name;
    uint32_t ru_flags; /* LY_RU_* */
    /* 1 if `ev` keeps this type's contract. */
    int (*ru_valid)(const ly_event *ev);
    /* Complete `ev`, whose header (id, clock, program, customer, txn) is set and
     * whose other fields are zero, from `in` and `o`; or fill `no` and leave `ev`
     * unspecified. Never NULL: a type only nodes make (transfer) has one too. */
    void (*ru_make)(const ly_origin *o, const ly_intent *in, ly_event *ev, ly_refusal *no);
    /* What the event counts, times `sign` (+1 fold in, -1 take back out). */
    void (*ru_fold)(ly_cust *c, const ly_event *ev, int sign);
    /* What every event of the type does, counted or void; NULL: nothing. */
    void (*ru_note)(ly_cust *c, const ly_event *ev);
    /* Rights of ev_origin this event spends (>= 0); NULL: none. */
    int64_t (*ru_spends)(const ly_event *ev);
} ly_rule;

/* The rule of event type `type`, or NULL for a type that does not exist. */
const ly_rule *ly_rule_for(int type);

/* The origin's side: the checks every type shares (ru_flags), then ru_make.
 * On a refusal `no->rf_err` is set and `ev` is unspecified. */
void ly_rule_make(const ly_rule *ru, const ly_origin *o, const ly_intent *in, ly_event *ev,
                  ly_refusal *no);

/* Rights of its origin that `ev` spends (0 for an unknown type). */
int64_t ly_rule_spends(const ly_event *ev);

/* The once key of `ev` into `key` (LY_ONCE_KEY_MAX + 1 bytes): its length, or
 * 0 (key "") if the event has none. */
size_t ly_once_key(const ly_event *ev, char *key);

/* 1 if `ev_a` comes before `ev_b` in the once order: (hlc, origin,
 * incarnation, seq). The smaller of two events with one once key counts. */
int ly_once_before(uint64_t hlc_a, uint16_t origin_a, uint32_t inc_a, uint64_t seq_a,
                   uint64_t hlc_b, uint16_t origin_b, uint32_t inc_b, uint64_t seq_b);

/* 1 if `txn` starts with the prefix of a derived once key that an id could
 * spell (join:): such ids are the node's, never a client's. */
int ly_once_reserved(const char *txn);

/* ---- for the rule files (common/rules/ *.c) ---- */

/* Fill a refusal: `err` and a printf-style message. */
void ly_refuse(ly_refusal *no, ly_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The manual tier of `c` in force at `day` as an index in `pg`'s tiers, or -1
 * (none, expired, or a name the program does not have). */
int ly_rule_override(const ly_program *pg, const ly_cust *c, int32_t day);

/* The tier customer `c` holds at o->or_day: a manual tier in force, else the program's tier model
 * (tiers.h) with or_def, else the rolling window of or_program. */
int ly_rule_held_tier(const ly_origin *o, const ly_cust *c);

/* The tier `c` would hold at o->or_day after `dq` more qualifying points on
 * day `qday` (what folding the event and asking again gives). */
int ly_rule_held_tier_after(const ly_origin *o, const ly_cust *c, int32_t qday, int64_t dq);

/* 1 if the birthday bonus of `pd` is due for `c` at local date `day` (an
 * earn there): the profile has a birthday B (this year's, 29 February on 28
 * February in other years; last year's while its window runs into January),
 * B <= day <= B + window_days, and the birthday was set (its profile field's
 * stamp, a UTC day) at least min_set_days before B. Stores B in *bday. The
 * caller checks that B's year was not paid yet (once key "birthday C YEAR"). */
int ly_rule_birthday_due(const ly_progdef *pd, const ly_cust *c, int32_t day, int32_t *bday);

/* Refuse taking `take` > 0 points (redeem, negative adjust) beyond the balance
 * or beyond what this node may redeem. Returns 1 if refused. */
int ly_rule_check_take(const ly_origin *o, const ly_intent *in, int64_t take, ly_refusal *no);

/* The ly_rule entries, one per file of common/rules/. */
extern const ly_rule ly_rule_enroll, ly_rule_earn, ly_rule_redeem, ly_rule_reverse, ly_rule_adjust,
    ly_rule_profile, ly_rule_transfer, ly_rule_program, ly_rule_bonus, ly_rule_tier;

/* Parts a program version of `total` canonical bytes takes (0 if total <= 0). */
int ly_program_parts(int64_t total);

#endif
