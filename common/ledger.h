/* ledger.h -- the program's arithmetic and a customer's state, as pure functions.
 *
 * Two halves:
 *  - the program: earn points, tiers, qualifying windows;
 *  - the state and its fold: ly_cust_apply() applies one event to a customer's
 *    state; what each event type does is its rule's (rules.h, common/rules/). The fold
 *    is commutative: applying the same set of events in any order gives the same
 *    state, byte for byte (ly_cust_encode), and so the same digest.
 *
 * Balance and debt: the state keeps the net sum of all point changes. The
 * balance is max(net, 0) and the debt max(-net, 0). A refund of points already
 * spent drives net below zero (a debt); later earnings raise net and so repay
 * the debt first. Because net is a plain sum, this needs no ordering.
 *
 * Qualifying points for tiers are kept in per-day buckets (UTC days). A bucket
 * is kept while its day is within LY_QUAL_KEEP_DAYS of the newest day seen for
 * the customer; the rule depends only on the set of events, so it is
 * order-independent too. The tier at day D counts buckets in (D - window, D]. */
#ifndef LY_LEDGER_H
#define LY_LEDGER_H

#include <stdint.h>

#include "common/event.h"

#define LY_TIERS_MAX       8
#define LY_CATEGORIES_MAX  32
#define LY_WINDOW_DAYS_MAX 730
#define LY_QUAL_KEEP_DAYS  800  /* > LY_WINDOW_DAYS_MAX */
#define LY_MILLI           1000 /* multipliers and rates are in thousandths */

typedef struct ly_tier {
    char ti_name[LY_TIER_NAME_MAX + 1];
    int64_t ti_threshold; /* qualifying points in the window */
    uint32_t ti_mult;     /* earn multiplier in thousandths (1250 = x1.25) */
} ly_tier;

typedef struct ly_category {
    char ca_name[LY_CATEGORY_MAX + 1];
    uint32_t ca_mult; /* thousandths */
} ly_category;

typedef struct ly_program {
    uint32_t pg_version;
    uint32_t pg_rate;        /* points per 1.00 of currency, thousandths (1000 = 1 point) */
    uint32_t pg_minor_units; /* minor units per 1.00 of currency (100) */
    int64_t pg_join_bonus;   /* points on enrollment */
    int32_t pg_window_days;  /* rolling tier window (365) */
    int pg_ntiers;           /* >= 1; sorted by threshold, the first at 0 */
    ly_tier pg_tiers[LY_TIERS_MAX];
    int pg_ncategories;
    ly_category pg_categories[LY_CATEGORIES_MAX];
} ly_program;

/* The defaults: Silver 0 x1.0, Gold 1000 x1.25, Platinum 5000 x1.5; 1 point per
 * 1.00 (100 minor units); window 365 days; no join bonus; no categories. */
void ly_program_default(ly_program *pg);

/* Checks a program: tiers sorted with strictly increasing thresholds starting at 0,
 * multipliers in 1..100000, unique names, window 1..LY_WINDOW_DAYS_MAX. On error
 * writes a reason into `why` (if not NULL) and returns LY_EINVAL. */
ly_err ly_program_validate(const ly_program *pg, char *why, size_t why_len);

/* Multiplier (thousandths) of a category; 1000 for an unknown or empty one. */
uint32_t ly_category_mult(const ly_program *pg, const char *category);

/* Points for a purchase of `amount` minor units at tier index `tier`:
 *   floor(amount / minor_units * rate * tier multiplier * category multiplier).
 * `qual` (if not NULL) receives the qualifying points: the base points
 * floor(amount / minor_units * rate), without multipliers, so tiers do not
 * accelerate themselves. Exact integer arithmetic, no overflow for amounts up
 * to LY_AMOUNT_MAX. */
int64_t ly_earn_points(const ly_program *pg, int64_t amount, int tier, const char *category,
                       int64_t *qual);

#define LY_QUAL_BUCKETS_MAX (LY_QUAL_KEEP_DAYS + 1)
#define LY_RIGHTS_MAX       256 /* nodes that may hold rights for one customer */

/* Redeemable rights one node holds for a customer (DESIGN.md section 5). */
typedef struct ly_right {
    uint16_t rt_node;
    int64_t rt_points; /* negative: a refund there took back points already spent */
} ly_right;

typedef struct ly_qual_bucket {
    int32_t qb_day;
    int64_t qb_points;
} ly_qual_bucket;

/* One customer's materialised state: the fold of its events. */
typedef struct ly_cust {
    char cu_id[LY_ID_MAX + 1];
    uint32_t cu_enrolls;      /* number of enroll events (>= 1 when enrolled) */
    uint64_t cu_enrolled_hlc; /* earliest enroll */
    uint64_t cu_last_hlc;     /* latest activity */
    uint64_t cu_events;       /* events applied, void duplicates included */
    uint32_t cu_voided;       /* of which void: duplicates of a once key's winner */
    int64_t cu_net;           /* sum of point changes: balance - debt */
    int64_t cu_lifetime;      /* points ever earned (earns, bonuses, positive adjustments) less
                                 refunded earns */
    int64_t cu_redeemed;      /* points ever redeemed less reversed redemptions */
    ly_profile cu_profile;
    uint64_t cu_pf_hlc[LY_PF_COUNT];    /* last-writer-wins stamp of each profile field */
    uint16_t cu_pf_origin[LY_PF_COUNT]; /* tie-break for equal stamps */
    /* A manual tier (loyalctl tier): held through UTC day cu_ovr_until whatever
     * the program's model says; last writer wins by (hlc, origin). */
    char cu_ovr_tier[LY_TIER_NAME_MAX + 1];
    int32_t cu_ovr_until;
    uint64_t cu_ovr_hlc; /* 0: none ever set */
    uint16_t cu_ovr_origin;
    int32_t cu_qual_maxday; /* newest day with a qualifying change */
    int cu_nqual;           /* buckets, sorted by day, nonzero points */
    ly_qual_bucket cu_qual[LY_QUAL_BUCKETS_MAX];
    /* Rights per node, sorted by node, nonzero only. Every event credits or
     * debits its origin (an earn at A is A's to redeem, a redemption at A uses
     * A's), a transfer moves rights from its origin to ev_to. So the rights
     * always add up to cu_net, and a node that redeems only its own rights can
     * never make the chain spend the same points twice. */
    int cu_nrights;
    ly_right cu_rights[LY_RIGHTS_MAX];
} ly_cust;

/* Per-transaction-id record, kept for every event that carries a client
 * transaction id: used to answer retries with the original reply, to detect
 * conflicting reuse, and to bound refunds of an earn or redemption. */
typedef struct ly_txnrec {
    uint64_t tr_req_hash; /* fingerprint of the request that created it */
    uint16_t tr_origin;   /* event id; tr_seq == 0 while only refunds of it are known */
    uint32_t tr_incarnation;
    uint64_t tr_seq;
    uint64_t tr_hlc;
    uint8_t tr_type;            /* ly_evtype */
    uint8_t tr_tier;            /* tier index after, at the applying node */
    int64_t tr_amount;          /* the event's ev_amount */
    int64_t tr_points;          /* the event's ev_points */
    int64_t tr_qual;            /* the event's ev_qual */
    int32_t tr_qual_day;        /* the event's ev_qual_day */
    int64_t tr_refunded_amount; /* for earns/redeems: sum of ev_amount of reverses of it */
    int64_t tr_refunded_points; /* ... and of their ev_points (opposite sign to tr_points) */
    int64_t tr_refunded_qual;   /* ... and of their ev_qual */
    int64_t tr_balance;         /* customer's balance, lifetime and debt just after it */
    int64_t tr_lifetime;
    int64_t tr_debt;
    char tr_customer[LY_ID_MAX + 1];
} ly_txnrec;

/* Rights node `node` holds for the customer (may be negative). */
int64_t ly_cust_rights(const ly_cust *c, uint16_t node);

/* What node `node` may redeem for the customer now: its rights, but never more
 * than the chain-wide balance as this node knows it (so a debt is repaid first). */
int64_t ly_cust_redeemable(const ly_cust *c, uint16_t node);

/* An empty state for customer `id` (not yet enrolled). */
void ly_cust_init(ly_cust *c, const char *id);

/* Fold one event into the state. The caller guarantees each event is applied
 * once. `counts` 0: the event is a void duplicate of its once key's winner
 * (rules.h): it is counted in cu_events and cu_voided and noted (activity,
 * enrollment, profile fields) but changes no amount. ly_cust_apply(c, ev) is
 * ly_cust_apply_as(c, ev, 1). */
void ly_cust_apply_as(ly_cust *c, const ly_event *ev, int counts);
void ly_cust_apply(ly_cust *c, const ly_event *ev);

/* A counted event became void (a smaller event of its once key arrived): take
 * what it counted back out. The state is then as if it had been applied void. */
void ly_cust_unapply(ly_cust *c, const ly_event *ev);

/* Building blocks of the per-type folds (common/rules/): each keeps the
 * state's arrays sorted and free of zeros, so the fold stays commutative. */
void ly_cust_rights_add(ly_cust *c, uint16_t node, int64_t delta);
/* The balance moves by sign * ev_points, and so do the rights of the event's
 * origin (points earned at a branch are its to redeem; a redemption uses its own). */
void ly_cust_credit(ly_cust *c, const ly_event *ev, int sign);
void ly_cust_qual_add(ly_cust *c, int32_t day, int64_t delta);
/* Last writer wins per profile field of ev_fields, by (hlc, origin). */
void ly_cust_profile_apply(ly_cust *c, const ly_event *ev);

static inline int64_t ly_cust_balance(const ly_cust *c)
{
    return c->cu_net > 0 ? c->cu_net : 0;
}

static inline int64_t ly_cust_debt(const ly_cust *c)
{
    return c->cu_net < 0 ? -c->cu_net : 0;
}

/* Qualifying points counted at day `day`: buckets in (day - window, day]. */
int64_t ly_cust_qualifying(const ly_cust *c, const ly_program *pg, int32_t day);

/* Tier index at `day` (0 = the base tier). */
int ly_tier_at(const ly_program *pg, const ly_cust *c, int32_t day);

/* Tier index for a qualifying points total. */
int ly_tier_for(const ly_program *pg, int64_t qualifying);

/* Largest encoded customer state. */
#define LY_CUST_ENC_MAX (1024 + LY_QUAL_BUCKETS_MAX * 12 + LY_RIGHTS_MAX * 10)

/* Deterministic binary form of the state (the digest hashes these bytes).
 * `buf` must hold LY_CUST_ENC_MAX bytes. Returns the length written. */
size_t ly_cust_encode(const ly_cust *c, uint8_t *buf);

/* Decode ly_cust_encode's form; LY_EPROTO if malformed. */
ly_err ly_cust_decode(const uint8_t *buf, size_t len, ly_cust *c);

/* The customer's contribution to the node digest: a hash of its encoded state. */
uint64_t ly_cust_hash(const ly_cust *c);

#endif
