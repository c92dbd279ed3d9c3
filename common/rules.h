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
 *  - ru_fold:   how it changes a customer's state (the type-specific part of
 *               ly_cust_apply; the fold must stay commutative);
 *  - ru_spends: the rights its origin spends with it, which the store's causal
 *               gate checks (an origin never spends rights it did not hold);
 *  - ru_flags:  what the origin must read before ru_make (LY_RU_NEEDS_*) and
 *               which store indexes the event touches beyond the event log,
 *               the customer record and the history (LY_RU_IX_*).
 * The store (store.c) and the service (node/service.c) ask this table instead
 * of switching on types. Adding an event type is one new file with its entry,
 * its line in the table (rules/rules.c), its codec fields and its tests.
 *
 * Everything here is a pure function of its arguments: no store, no clock, no
 * I/O. The origin reads what ru_flags ask for and passes it in ly_origin. */
#ifndef LY_RULES_H
#define LY_RULES_H

#include <stdint.h>

#include "common/event.h"
#include "common/ledger.h"

/* What the origin reads before ru_make, and the indexes an event touches. */
enum {
    LY_RU_NEEDS_CUST = 1u << 0,     /* the customer's state (refused if not enrolled) */
    LY_RU_NEEDS_ORIGINAL = 1u << 1, /* the original transaction's record (ev_ref_txn) */
    LY_RU_MAY_BE_NEW = 1u << 2,     /* the customer may be unknown (enroll) */
    LY_RU_HAS_TO = 1u << 3,         /* ev_to names a receiving node (transfer) */
    LY_RU_IX_TXN = 1u << 8,         /* its transaction id goes in the txn index (retries) */
    LY_RU_IX_REFUNDS = 1u << 9,     /* adds its amount to the original's refund totals */
    LY_RU_IX_DEBTS = 1u << 10,      /* changes the net balance: may enter or leave debts */
};

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
} ly_intent;

/* What the origin knows when it makes an event. */
typedef struct ly_origin {
    const ly_program *or_program;
    uint16_t or_self;         /* this node */
    int32_t or_day;           /* the event's UTC day (LY_HLC_DAY of its timestamp) */
    const ly_cust *or_cust;   /* the customer's state; NULL when there is no record */
    const ly_txnrec *or_orig; /* LY_RU_NEEDS_ORIGINAL: the original; NULL if unknown */
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
    /* The type-specific part of the fold (see ly_cust_apply). */
    void (*ru_fold)(ly_cust *c, const ly_event *ev);
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

/* ---- for the rule files (common/rules/ *.c) ---- */

/* Fill a refusal: `err` and a printf-style message. */
void ly_refuse(ly_refusal *no, ly_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Refuse taking `take` > 0 points (redeem, negative adjust) beyond the balance
 * or beyond what this node may redeem. Returns 1 if refused. */
int ly_rule_check_take(const ly_origin *o, const ly_intent *in, int64_t take, ly_refusal *no);

/* The ly_rule entries, one per file of common/rules/. */
extern const ly_rule ly_rule_enroll, ly_rule_earn, ly_rule_redeem, ly_rule_reverse, ly_rule_adjust,
    ly_rule_profile, ly_rule_transfer;

#endif
