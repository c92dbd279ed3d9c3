/* err.h -- the one error enum of Loyal.
 *
 * 0 is success. Every function that can fail returns an ly_err; library codes
 * (LMDB, errno, ZeroMQ) are translated at the boundary and the raw code logged.
 * Each error has a stable machine name (ly_errname: "insufficient_points") that
 * appears in replies and in `--json` output; scripts depend on these names, so
 * they are never renamed. */
#ifndef LY_ERR_H
#define LY_ERR_H

typedef enum ly_err {
    LY_OK = 0,
    LY_EINVAL,              /* bad argument or field: "invalid_argument" */
    LY_ENOTFOUND,           /* no such customer / transaction: "not_found" */
    LY_EPROTO,              /* malformed message: "protocol_error" */
    LY_ECONFLICT,           /* same transaction id, different payload: "conflict" */
    LY_ENOSPC,              /* storage full: "storage_full" */
    LY_EUNAVAIL,            /* node cannot serve now (shutting down, store failed): "unavailable" */
    LY_ENOMEM,              /* out of memory: "out_of_memory" */
    LY_EIO,                 /* storage or system I/O error: "io_error" */
    LY_ETIMEDOUT,           /* no answer in time: "timeout" */
    LY_EINSUFFICIENT,       /* redeem more than the balance: "insufficient_points" */
    LY_EEXIST,              /* customer already enrolled: "already_enrolled" */
    LY_EUNKNOWN_CUST,       /* customer not enrolled: "unknown_customer" */
    LY_EUNKNOWN_TXN,        /* reverse of a transaction never seen: "unknown_transaction" */
    LY_ENOTREVERSIBLE,      /* reverse of something not an earn or redeem: "not_reversible" */
    LY_EOVERREFUND,         /* refund beyond what is left of the original: "exceeds_original" */
    LY_ETOOBIG,             /* message or field over its size limit: "too_large" */
    LY_EVERSION,            /* unsupported protocol or schema version: "unsupported_version" */
    LY_ECONFIG,             /* configuration error: "config_error" */
    LY_EINTERNAL,           /* a bug: "internal_error" */
    LY_EINSUFFICIENT_LOCAL, /* balance suffices, rights here do not: "insufficient_local_rights" */
    LY_ERETRY,              /* internal: the store grew its map, replay the batch: "retry" */
    LY_EFORBIDDEN,          /* the sender's key may not do that: "forbidden" */
    LY_ERR_COUNT
} ly_err;

/* Human text for an error, lowercase, no trailing period. Never NULL. */
const char *ly_strerror(ly_err err);

/* Stable machine name of an error, as sent on the wire. Never NULL. */
const char *ly_errname(ly_err err);

/* The error named `name` (as ly_errname gives it), or LY_EINTERNAL if unknown. */
ly_err ly_err_from_name(const char *name);

#endif
