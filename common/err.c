#include "common/err.h"

#include <string.h>

static const struct {
    const char *name;
    const char *text;
} s_errs[LY_ERR_COUNT] = {
    [LY_OK] = {"ok", "success"},
    [LY_EINVAL] = {"invalid_argument", "invalid argument"},
    [LY_ENOTFOUND] = {"not_found", "not found"},
    [LY_EPROTO] = {"protocol_error", "malformed message"},
    [LY_ECONFLICT] = {"conflict", "transaction id already used with a different request"},
    [LY_ENOSPC] = {"storage_full", "storage is full"},
    [LY_EUNAVAIL] = {"unavailable", "node is unavailable"},
    [LY_ENOMEM] = {"out_of_memory", "out of memory"},
    [LY_EIO] = {"io_error", "input/output error"},
    [LY_ETIMEDOUT] = {"timeout", "no answer in time"},
    [LY_EINSUFFICIENT] = {"insufficient_points", "not enough points"},
    [LY_EEXIST] = {"already_enrolled", "customer is already enrolled"},
    [LY_EUNKNOWN_CUST] = {"unknown_customer", "customer is not enrolled"},
    [LY_EUNKNOWN_TXN] = {"unknown_transaction", "no such transaction"},
    [LY_ENOTREVERSIBLE] = {"not_reversible", "only earns and redemptions can be reversed"},
    [LY_EOVERREFUND] = {"exceeds_original", "refund exceeds what is left of the original"},
    [LY_ETOOBIG] = {"too_large", "over the size limit"},
    [LY_EVERSION] = {"unsupported_version", "unsupported version"},
    [LY_ECONFIG] = {"config_error", "configuration error"},
    [LY_EINTERNAL] = {"internal_error", "internal error"},
    [LY_EINSUFFICIENT_LOCAL] = {"insufficient_local_rights",
                                "not enough points redeemable at this branch right now"},
    [LY_ERETRY] = {"retry", "try again"},
    [LY_EFORBIDDEN] = {"forbidden", "this key may not do that"},
};

const char *ly_strerror(ly_err err)
{
    if ((unsigned)err >= LY_ERR_COUNT)
        return "unknown error";
    return s_errs[err].text;
}

const char *ly_errname(ly_err err)
{
    if ((unsigned)err >= LY_ERR_COUNT)
        return "internal_error";
    return s_errs[err].name;
}

ly_err ly_err_from_name(const char *name)
{
    for (int i = 0; i < LY_ERR_COUNT; i++)
        if (strcmp(s_errs[i].name, name) == 0)
            return (ly_err)i;
    return LY_EINTERNAL;
}
