/* msg.h -- client protocol messages (POS terminals, loyalctl, loyalbench).
 *
 * Transport: ZeroMQ, client DEALER -> node ROUTER on `listen`; exactly one
 * frame per message, a msgpack map with short string keys (see codec.h for
 * the wire form). Every request carries the protocol version, a type and a
 * request id that the reply echoes. Every mutation carries a client
 * transaction id (rq_txn) that makes retries safe.
 *
 * Plain structs with inline strings: a decoded message owns everything. */
#ifndef LY_MSG_H
#define LY_MSG_H

#include <stdint.h>

#include "common/event.h"
#include "common/program.h"

#define LY_PROTO_VERSION    1
#define LY_FRAME_MAX        65536 /* largest frame either side accepts */
#define LY_HIST_MAX         50    /* history entries in a customer reply */
#define LY_HIST_DEFAULT     10
#define LY_VV_MAX           64  /* version vector entries in a status reply */
#define LY_EVENTS_MAX       100 /* events in one `events` reply */
#define LY_STATUS_PEERS_MAX 64  /* peer rows in a status reply (LY_PEERS_MAX of config.h) */

typedef enum ly_msgtype {
    LY_MSG_ENROLL = 1,
    LY_MSG_EARN = 2,
    LY_MSG_REDEEM = 3,
    LY_MSG_REVERSE = 4,
    LY_MSG_ADJUST = 5,
    LY_MSG_CUSTOMER = 6,
    LY_MSG_SET_PROFILE = 7,
    LY_MSG_STATUS = 8,
    LY_MSG_EVENTS = 9,
    LY_MSG_DEBTS = 10,         /* customers with a debt (refunds of points already spent) */
    LY_MSG_CONFLICTS = 11,     /* once keys whose events carry different requests */
    LY_MSG_PROGRAM_APPLY = 12, /* a new program version (its canonical bytes) for the chain */
    LY_MSG_PROGRAM = 13,       /* the program in force (or one version) and the versions held */
    LY_MSG_TIER = 14,          /* a manual tier for a customer until a date */
    LY_MSG_TYPE_MAX = 14
} ly_msgtype;

/* Wire name of a message type ("earn"), or NULL if out of range. */
const char *ly_msgtype_name(int type);
/* Type for a wire name, or 0 if unknown. */
int ly_msgtype_from_name(const char *name);
/* 1 if the type changes state (needs a transaction id). */
int ly_msgtype_is_mutation(int type);
/* The event type (ly_evtype) a mutation creates, or 0 for a request that creates none. */
int ly_msgtype_evtype(int type);

typedef struct ly_req {
    uint8_t rq_type; /* ly_msgtype */
    uint64_t rq_id;  /* chosen by the client, echoed in the reply */
    char rq_customer[LY_ID_MAX + 1];
    char rq_txn[LY_ID_MAX + 1];     /* mutations: the client's transaction id */
    char rq_ref_txn[LY_ID_MAX + 1]; /* reverse: the original transaction */
    char rq_category[LY_CATEGORY_MAX + 1];
    char rq_reason[LY_TEXT_MAX + 1];
    char rq_operator[LY_ID_MAX + 1];
    /* earn: purchase amount in minor units (> 0); redeem: points (> 0);
     * adjust: signed points (!= 0); reverse: the part to refund, in minor units
     * for an earn and in points for a redemption (0: all that is left). */
    int64_t rq_amount;
    uint32_t rq_fields; /* enroll, set-profile: LY_PF_* mask of rq_profile fields given */
    ly_profile rq_profile;
    uint32_t rq_limit; /* customer: history entries (0: LY_HIST_DEFAULT); events, debts: count */
    /* customer: 1 = the cashier scanned the card before payment: start moving
     * the customer's rights to this branch so a redemption needs no wait. A
     * plain lookup (0) changes nothing. */
    uint8_t rq_prefetch;
    uint16_t rq_origin; /* events: only this origin (0: all) */
    uint64_t rq_since;  /* events: seq greater than this */
    /* debts: rq_customer (optional, "" for the first page) = list customers after
     * this id; rq_limit 0..LY_DEBTS_MAX. */
    /* conflicts: list the once keys after this one ("": from the first);
     * rq_limit 0..LY_CONFLICTS_MAX (0: LY_CONFLICTS_DEFAULT) */
    char rq_after[LY_ONCE_KEY_MAX + 1];
    /* program-apply: the version's canonical bytes (ly_progdef_encode), 1..
     * LY_PROGRAM_BYTES_MAX; rq_operator (required) and rq_reason (optional) say
     * who applies it and why. Heap, owned by a decoded request (ly_req_fini);
     * borrowed by the encoder. */
    uint8_t *rq_blob;
    uint32_t rq_blob_len;
    uint32_t rq_version; /* program: the version to show (0: the one in force now) */
    /* tier: the tier's name and its last day (YYYY-MM-DD, UTC), with rq_reason
     * (required) and rq_operator (optional) */
    char rq_tier[LY_TIER_NAME_MAX + 1];
    char rq_until[11];
} ly_req;

#define LY_PROGRAM_BYTES_MAX (LY_EV_BLOB_MAX * LY_EV_PARTS_MAX)
#define LY_PROGRAMS_MAX                                                                            \
    20 /* versions listed in a program reply (the frame holds 20 and 40 parts) */

/* One program version as a program reply lists it. */
enum {
    LY_PW_IN_FORCE = 1,   /* governs events now */
    LY_PW_SCHEDULED = 2,  /* its effective time is later */
    LY_PW_SUPERSEDED = 3, /* an older version (or a higher one took over) */
    LY_PW_LOST = 4,       /* the same number was applied elsewhere first: this one never ran */
};
typedef struct ly_progrow {
    uint32_t pw_version;
    uint8_t pw_state; /* LY_PW_* */
    char pw_name[64];
    int64_t pw_effective_ms; /* 0: at once */
    uint64_t pw_hlc;         /* when it was applied */
    uint16_t pw_origin;      /* where: its first part's event id */
    uint64_t pw_seq;
    uint64_t pw_hash;
    char pw_operator[LY_ID_MAX + 1];
    char pw_reason[LY_TEXT_MAX + 1];
} ly_progrow;

/* One line of a customer's history. */
typedef struct ly_hist {
    uint64_t hi_hlc;
    uint8_t hi_type; /* ly_evtype */
    uint16_t hi_origin;
    uint16_t hi_to; /* transfer: the node receiving the rights; else 0 */
    int64_t hi_points;
    int64_t hi_amount;
    char hi_txn[LY_ID_MAX + 1];
    char hi_ref_txn[LY_ID_MAX + 1];
    char hi_category[LY_CATEGORY_MAX + 1];
    char hi_reason[LY_TEXT_MAX + 1];
    char hi_operator[LY_ID_MAX + 1];
    char hi_tier_from[LY_TIER_NAME_MAX + 1]; /* both set and different when the tier changed */
    char hi_tier_to[LY_TIER_NAME_MAX + 1];
    /* 1: a void duplicate: another event with its once key (its transaction
     * id; join:<customer> for an enrollment's bonus) counts, hi_win_origin's
     * seq hi_win_seq, and this one changes no amount (rules.h) */
    uint8_t hi_void;
    uint16_t hi_win_origin;
    uint64_t hi_win_seq;
    char hi_until[11]; /* tier (a manual tier; hi_category is its name): its last day */
} ly_hist;

/* One peer as this node sees it (status reply). */
/* ns_security: how a node protects its sockets (config.h "Security"). */
enum {
    LY_SECURITY_LOOPBACK = 0, /* no keys: loopback endpoints only (protected mode) */
    LY_SECURITY_CURVE = 1,    /* CurveZMQ with keys and roles on both sockets */
    LY_SECURITY_INSECURE = 2  /* no keys, non-loopback endpoints allowed (insecure = true) */
};

typedef struct ly_peer_status {
    uint16_t ps_id;
    char ps_name[64];
    char ps_endpoint[256];     /* its peer_listen, from this node's config */
    char ps_client[256];       /* its client endpoint, as it announced it ("" until known) */
    uint8_t ps_up;             /* a session is established and it was heard recently */
    uint64_t ps_last_heard_ms; /* ms since its last message; UINT64_MAX if never */
    uint64_t ps_behind;        /* events this node holds that the peer lacks */
    uint64_t ps_missing;       /* events the peer holds that this node lacks */
    uint64_t ps_lag_ms;        /* age of the oldest event the peer lacks (0 if none) */
    uint64_t ps_digest;        /* its last announced digest */
    uint64_t ps_events;        /* its last announced event count */
    uint8_t ps_converged;      /* same version vector and digest as this node */
    uint64_t ps_sent;          /* events sent to it (live and catch-up) */
    uint64_t ps_received;      /* events received from it and applied here */
    uint64_t ps_dropped;       /* messages to it dropped (queue full or link down) */
    uint32_t ps_program;       /* the program version in force there, as it last said */
    uint64_t ps_program_hash;
} ly_peer_status;

typedef struct ly_node_status {
    uint16_t ns_id;
    char ns_name[64];
    uint32_t ns_incarnation;
    uint32_t ns_program;
    uint64_t ns_events;
    uint64_t ns_customers;
    uint64_t ns_digest;
    uint64_t ns_hlc;
    uint64_t ns_uptime_ms;
    uint64_t ns_map_size;
    uint64_t ns_map_used;
    uint32_t ns_nvv;
    struct {
        uint16_t origin;
        uint32_t incarnation;
        uint64_t seq;
    } ns_vv[LY_VV_MAX];
    char ns_client[256];            /* this node's client endpoint */
    uint64_t ns_transfers_sent;     /* rights transfers this node gave */
    uint64_t ns_transfers_received; /* rights transfers this node received */
    uint64_t ns_rights_pending;     /* redemptions waiting for rights now */
    uint64_t ns_rights_asked;       /* rights requests sent to peers */
    uint64_t ns_log_bytes;          /* store: log written since the last checkpoint */
    uint64_t ns_log_events;         /* store: events in the log only (since the last checkpoint) */
    uint64_t ns_checkpoints;        /* store: checkpoints since the node started */
    uint64_t ns_checkpoint_ms;      /* store: duration of the last checkpoint */
    char ns_write_error[32];        /* store: "" or why the last write failed (log or checkpoint) */
    uint64_t ns_duplicates; /* events held that are void duplicates of a once key's winner */
    uint64_t
        ns_conflicts; /* once keys whose events carry different requests (loyalctl conflicts) */
    uint64_t ns_program_hash;    /* the program in force: its hash (ns_program is its version) */
    uint32_t ns_program_next;    /* a version scheduled later (0: none) ... */
    uint64_t ns_program_next_ms; /* ... and when it comes in force (UTC ms) */
    uint8_t ns_security;         /* LY_SECURITY_*: how the node's sockets are protected */
    uint8_t ns_role;             /* the role of the key that asked (ly_role; 0: no keys) */
    char ns_key_name[64];        /* ... and its name ("" without keys) */
    uint32_t ns_npeers;          /* at most LY_STATUS_PEERS_MAX */
    ly_peer_status *ns_peers;    /* heap, owned by the reply: freed by ly_rep_fini */
} ly_node_status;

#define LY_RIGHTS_REPLY_MAX 64  /* rights rows in a customer reply */
#define LY_DEBTS_MAX        100 /* rows in one debts reply */

typedef struct ly_debt {
    char de_customer[LY_ID_MAX + 1];
    int64_t de_debt;
    int64_t de_lifetime;
    uint64_t de_last_hlc;
} ly_debt;

#define LY_CONFLICTS_MAX     10 /* conflicts in one reply */
#define LY_CONFLICTS_DEFAULT 10
#define LY_CONFLICT_EVENTS   3 /* events shown per conflict (the first in the once order) */

/* A conflict: one once key (a transaction id) under which branches that could
 * not see each other made different requests. Its events are in the reply's
 * rp_events, from cf_first on, smallest (hlc, origin, incarnation, seq) first. */
typedef struct ly_conflict {
    char cf_key[LY_ONCE_KEY_MAX + 1];
    uint32_t cf_total;  /* events with the key at the answering node */
    uint32_t cf_first;  /* its events: rp_events[cf_first .. cf_first + cf_n) */
    uint32_t cf_n;      /* 2..LY_CONFLICT_EVENTS */
    uint32_t cf_counts; /* the one that counts: an index in rp_events, in its range */
} ly_conflict;

typedef struct ly_rep {
    uint8_t rp_type;      /* echo of the request type (0 if the request was undecodable) */
    uint64_t rp_id;       /* echo of the request id (0 if undecodable) */
    uint8_t rp_err;       /* ly_err; LY_OK on success */
    char rp_message[256]; /* error: human message */
    /* insufficient_points: points redeemable now; insufficient_local_rights:
     * what this branch may redeem now; else 0 */
    int64_t rp_available;

    /* Customer operations (enroll, earn, redeem, reverse, adjust, customer, set-profile). */
    char rp_customer[LY_ID_MAX + 1];
    char rp_txn[LY_ID_MAX + 1]; /* mutations: the transaction id */
    int64_t rp_points;          /* mutations: the signed change this operation made */
    int64_t rp_balance;
    int64_t rp_lifetime;
    int64_t rp_debt;
    int64_t rp_qualifying; /* qualifying points in the current tier window */
    char rp_tier[LY_TIER_NAME_MAX + 1];
    char rp_next_tier[LY_TIER_NAME_MAX + 1]; /* empty at the top tier */
    int64_t rp_to_next;                      /* qualifying points still needed for it */
    char rp_tier_until[11]; /* YYYY-MM-DD: the tier is held at least to this UTC day ("": base) */
    int64_t rp_to_keep;     /* qualifying points still needed this period to keep it longer */
    char rp_tier_override[LY_TIER_NAME_MAX + 1]; /* a manual tier in force ("": none) */
    /* earn: how the points came about (for the receipt): the base points
     * (before any multiplier), the tier's and the category's multipliers in
     * thousandths (category 0: it earns nothing), the campaign that applied
     * ("" none) and the points it added. A retry's reply has rp_campaign and
     * rp_bonus_points only. */
    int64_t rp_base_points;
    char rp_earn_tier[LY_TIER_NAME_MAX + 1]; /* the tier whose multiplier applied (before it) */
    uint32_t rp_tier_mult;
    uint32_t rp_category_mult;
    char rp_campaign[LY_PD_CAMPAIGN_MAX + 1];
    int64_t rp_campaign_points;
    int64_t rp_bonus_points; /* earn: a birthday bonus credited with it (balances include it) */
    uint8_t rp_replayed;     /* 1: a retry answered from the original */
    uint64_t rp_hlc;         /* mutations: the event's timestamp */
    uint16_t rp_origin;      /* mutations: the event's id */
    uint64_t rp_seq;
    uint64_t rp_enrolled_hlc; /* customer */
    uint64_t rp_last_hlc;
    uint32_t rp_fields; /* customer: which profile fields are set */
    ly_profile rp_profile;
    uint32_t rp_nhist;
    ly_hist *rp_hist; /* customer lookups: newest first; heap, owned by the reply (NULL: none) */
    /* customer ops: redeemable rights per node (DESIGN.md section 5) */
    uint32_t rp_nrights;
    struct {
        uint16_t node;
        int64_t points;
    } rp_rights[LY_RIGHTS_REPLY_MAX];
    int64_t rp_local_rights; /* what this branch may redeem now (insufficient_local_rights too) */

    /* status: heap, owned by the reply (ly_rep_fini); NULL in every other reply */
    ly_node_status *rp_status;

    /* debts */
    uint32_t rp_ndebts;
    ly_debt *rp_debts; /* heap, owned by the reply: freed by ly_rep_fini */
    uint8_t rp_more;   /* debts: more rows after the last one */

    /* events; conflicts: the events of the conflicts */
    uint32_t rp_nevents;
    ly_event *rp_events; /* heap, owned by the reply: free with ly_rep_fini */

    /* conflicts (rp_more: more after the last one) */
    uint32_t rp_nconflicts;
    ly_conflict *rp_conflicts; /* heap, owned by the reply */

    /* program: the version shown (its part events are rp_events, in part
     * order) and the versions held, highest first (heap, owned); program-apply:
     * the version applied as one row (rp_replayed 1: it was held already) */
    uint32_t rp_program;
    uint32_t rp_nprograms;
    ly_progrow *rp_programs;
} ly_rep;

/* Zero a request/reply. ly_rep_fini frees what a reply owns (rp_hist,
 * rp_status and its ns_peers, rp_events, rp_debts, rp_conflicts).
 *
 * One ly_rep answers every request, but it is sized for the hot one: the
 * fields of a customer operation (about 2 KB, most of it the rights rows).
 * What only one kind of reply carries lives on the heap and is allocated only
 * by that kind: a lookup's history, a status, an event listing, a debts page. */
void ly_req_init(ly_req *rq, int type);
/* Frees what a decoded request owns (rq_blob); accepts NULL; the request is
 * left initialised. */
void ly_req_fini(ly_req *rq);
void ly_rep_init(ly_rep *rp);
void ly_rep_fini(ly_rep *rp);

/* As ly_rep_init, but leaves the entries of rp_rights as they are: only their
 * count is zeroed, and nothing reads an entry past its count. For a reply
 * struct reused per request (the node's, and the decoder's): about 800 bytes
 * of writes. What the reply owned must have been freed (ly_rep_fini) first. */
void ly_rep_reset(ly_rep *rp);

/* Fill an error reply for request (type, id). `fmt` may be NULL (ly_strerror used). */
void ly_rep_error(ly_rep *rp, int type, uint64_t id, ly_err err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
