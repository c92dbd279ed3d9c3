/* msg.c -- message type names and the init/fini/error helpers of msg.h. */
#include "proto/msg.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Wire names, indexed by ly_msgtype; scripts and other clients depend on them. */
static const char *const s_names[LY_MSG_TYPE_MAX + 1] = {
    [LY_MSG_ENROLL] = "enroll",           [LY_MSG_EARN] = "earn",
    [LY_MSG_REDEEM] = "redeem",           [LY_MSG_REVERSE] = "reverse",
    [LY_MSG_ADJUST] = "adjust",           [LY_MSG_CUSTOMER] = "customer",
    [LY_MSG_SET_PROFILE] = "set-profile", [LY_MSG_STATUS] = "status",
    [LY_MSG_EVENTS] = "events",           [LY_MSG_DEBTS] = "debts",
    [LY_MSG_CONFLICTS] = "conflicts",     [LY_MSG_PROGRAM_APPLY] = "program-apply",
    [LY_MSG_PROGRAM] = "program",         [LY_MSG_TIER] = "tier",
};

const char *ly_msgtype_name(int type)
{
    if (type < 1 || type > LY_MSG_TYPE_MAX)
        return NULL;
    return s_names[type];
}

int ly_msgtype_from_name(const char *name)
{
    if (name == NULL)
        return 0;
    for (int t = 1; t <= LY_MSG_TYPE_MAX; t++)
        if (strcmp(s_names[t], name) == 0)
            return t;
    return 0;
}

int ly_msgtype_evtype(int type)
{
    switch (type) {
    case LY_MSG_ENROLL:
        return LY_EV_ENROLL;
    case LY_MSG_EARN:
        return LY_EV_EARN;
    case LY_MSG_REDEEM:
        return LY_EV_REDEEM;
    case LY_MSG_REVERSE:
        return LY_EV_REVERSE;
    case LY_MSG_ADJUST:
        return LY_EV_ADJUST;
    case LY_MSG_SET_PROFILE:
        return LY_EV_PROFILE;
    case LY_MSG_TIER:
        return LY_EV_TIER;
    default:
        return 0;
    }
}

int ly_msgtype_is_mutation(int type)
{
    switch (type) {
    case LY_MSG_ENROLL:
    case LY_MSG_EARN:
    case LY_MSG_REDEEM:
    case LY_MSG_REVERSE:
    case LY_MSG_ADJUST:
    case LY_MSG_SET_PROFILE:
    case LY_MSG_TIER:
        return 1;
    default:
        return 0;
    }
}

void ly_req_init(ly_req *rq, int type)
{
    memset(rq, 0, sizeof *rq);
    rq->rq_type = (uint8_t)type;
}

void ly_req_fini(ly_req *rq)
{
    if (rq == NULL)
        return;
    free(rq->rq_blob);
    ly_req_init(rq, 0);
}

void ly_rep_init(ly_rep *rp)
{
    memset(rp, 0, sizeof *rp);
}

/* ly_rep_reset skips exactly the rights rows: nothing else may lie between
 * rp_rights and rp_local_rights. */
_Static_assert(offsetof(ly_rep, rp_local_rights) ==
                   offsetof(ly_rep, rp_rights) + sizeof(((ly_rep *)0)->rp_rights),
               "a field after rp_rights would be left unzeroed by ly_rep_reset");

void ly_rep_reset(ly_rep *rp)
{
    char *b = (char *)rp;
    size_t rights = offsetof(ly_rep, rp_rights), after = offsetof(ly_rep, rp_local_rights);
    memset(b, 0, rights);
    memset(b + after, 0, sizeof *rp - after);
}

/* Accepts NULL. Leaves `rp` initialised (empty), so a second fini is harmless. */
void ly_rep_fini(ly_rep *rp)
{
    if (rp == NULL)
        return;
    free(rp->rp_events);
    rp->rp_events = NULL;
    rp->rp_nevents = 0;
    free(rp->rp_hist);
    rp->rp_hist = NULL;
    rp->rp_nhist = 0;
    if (rp->rp_status)
        free(rp->rp_status->ns_peers);
    free(rp->rp_status);
    rp->rp_status = NULL;
    free(rp->rp_debts);
    rp->rp_debts = NULL;
    rp->rp_ndebts = 0;
    free(rp->rp_conflicts);
    rp->rp_conflicts = NULL;
    rp->rp_nconflicts = 0;
    free(rp->rp_programs);
    rp->rp_programs = NULL;
    rp->rp_nprograms = 0;
}

/* Sets rp_type, rp_id, rp_err and rp_message; every other field (rp_available
 * included: set it after this call for insufficient_points and
 * insufficient_local_rights) is left as it is,
 * because an error reply encodes only these. `rp` must have been initialised.
 * The message is truncated to fit; the encoder replaces any byte that is not
 * valid text, so a message may quote what it likes. */
void ly_rep_error(ly_rep *rp, int type, uint64_t id, ly_err err, const char *fmt, ...)
{
    rp->rp_type = (uint8_t)type;
    rp->rp_id = id;
    rp->rp_err = (uint8_t)err;
    if (fmt == NULL) {
        snprintf(rp->rp_message, sizeof rp->rp_message, "%s", ly_strerror(err));
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rp->rp_message, sizeof rp->rp_message, fmt, ap);
    va_end(ap);
}
