#include "node/service.h"

#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/log.h"

uint64_t ly_req_fingerprint(const ly_req *rq)
{
    ly_hasher h;
    ly_hasher_init(&h);
    ly_hasher_u64(&h, rq->rq_type);
    ly_hasher_str(&h, rq->rq_customer);
    ly_hasher_str(&h, rq->rq_txn);
    ly_hasher_str(&h, rq->rq_ref_txn);
    ly_hasher_str(&h, rq->rq_category);
    ly_hasher_str(&h, rq->rq_reason);
    ly_hasher_str(&h, rq->rq_operator);
    ly_hasher_u64(&h, (uint64_t)rq->rq_amount);
    ly_hasher_u64(&h, rq->rq_fields);
    const ly_profile *p = &rq->rq_profile;
    const char *pf[] = {p->pf_name, p->pf_birthday, p->pf_email, p->pf_phone, p->pf_prefs};
    for (int i = 0; i < LY_PF_COUNT; i++)
        ly_hasher_str(&h, rq->rq_fields & (1u << i) ? pf[i] : "");
    return ly_hasher_final(&h);
}

static int32_t s_today(void)
{
    return (int32_t)(ly_wall_ms() / 86400000ULL);
}

static const char *s_tier_name(const ly_program *pg, int i)
{
    return i >= 0 && i < pg->pg_ntiers ? pg->pg_tiers[i].ti_name : "";
}

/* Rights per node, and what this branch may redeem now. */
static void s_fill_rights(ly_service *sv, const ly_cust *c, ly_rep *rp)
{
    uint32_t n = 0;
    for (int i = 0; i < c->cu_nrights && n < LY_RIGHTS_REPLY_MAX; i++, n++) {
        rp->rp_rights[n].node = c->cu_rights[i].rt_node;
        rp->rp_rights[n].points = c->cu_rights[i].rt_points;
    }
    rp->rp_nrights = n;
    rp->rp_local_rights = ly_cust_redeemable(c, ly_store_node_id(sv->sv_store));
    ly_strlcpy(rp->rp_customer, c->cu_id, sizeof rp->rp_customer);
}

/* Balance, tier and progress of a customer, as of today. */
static void s_fill_summary(ly_service *sv, const ly_cust *c, ly_rep *rp)
{
    const ly_program *pg = sv->sv_program;
    ly_strlcpy(rp->rp_customer, c->cu_id, sizeof rp->rp_customer);
    rp->rp_balance = ly_cust_balance(c);
    rp->rp_debt = ly_cust_debt(c);
    rp->rp_lifetime = c->cu_lifetime;
    rp->rp_qualifying = ly_cust_qualifying(c, pg, s_today());
    int tier = ly_tier_for(pg, rp->rp_qualifying);
    ly_strlcpy(rp->rp_tier, s_tier_name(pg, tier), sizeof rp->rp_tier);
    rp->rp_next_tier[0] = '\0';
    rp->rp_to_next = 0;
    if (tier + 1 < pg->pg_ntiers) {
        ly_strlcpy(rp->rp_next_tier, s_tier_name(pg, tier + 1), sizeof rp->rp_next_tier);
        rp->rp_to_next = pg->pg_tiers[tier + 1].ti_threshold - rp->rp_qualifying;
    }
    s_fill_rights(sv, c, rp);
}

/* The customer's state; LY_EUNKNOWN_CUST (as a refusal in rp) if not enrolled.
 * Returns LY_OK with *ok = 1 when enrolled. */
static ly_err s_enrolled(ly_txn *t, const ly_req *rq, ly_rep *rp, ly_cust *c, int *ok)
{
    *ok = 0;
    ly_err e = ly_store_cust_get(t, rq->rq_customer, c);
    if (e == LY_ENOTFOUND || (e == LY_OK && c->cu_enrolls == 0)) {
        ly_rep_error(rp, rq->rq_type, rq->rq_id, LY_EUNKNOWN_CUST, "customer '%s' is not enrolled",
                     rq->rq_customer);
        return LY_OK;
    }
    if (e == LY_OK)
        *ok = 1;
    return e;
}

/* floor(a * b / c) without overflow; c > 0, a, b >= 0. */
static int64_t s_muldiv(int64_t a, int64_t b, int64_t c)
{
    return (int64_t)((__int128)a * b / c);
}

/* Answer a retry: same transaction id. Returns 1 if `rp` is the answer. */
static int s_replay(ly_service *sv, ly_txn *t, const ly_req *rq, uint64_t fp, ly_rep *rp,
                    ly_err *err)
{
    ly_txnrec r;
    *err = ly_store_txnrec_get(t, rq->rq_txn, &r);
    if (*err == LY_ENOTFOUND || (*err == LY_OK && r.tr_seq == 0)) {
        *err = LY_OK;
        return 0; /* new (or only referenced by a refund that arrived first) */
    }
    if (*err != LY_OK)
        return 1;
    if (r.tr_req_hash != fp) {
        ly_rep_error(rp, rq->rq_type, rq->rq_id, LY_ECONFLICT,
                     "transaction id '%s' was already used for a different request (%s for "
                     "customer '%s')",
                     rq->rq_txn, ly_evtype_name(r.tr_type), r.tr_customer);
        return 1;
    }
    ly_cust c;
    if ((*err = ly_store_cust_get(t, r.tr_customer, &c)) != LY_OK)
        return 1;
    s_fill_summary(sv, &c, rp);
    /* The original answer: the change and the balances just after it. */
    rp->rp_balance = r.tr_balance;
    rp->rp_lifetime = r.tr_lifetime;
    rp->rp_debt = r.tr_debt;
    rp->rp_points = r.tr_points;
    rp->rp_hlc = r.tr_hlc;
    rp->rp_origin = r.tr_origin;
    rp->rp_seq = r.tr_seq;
    rp->rp_replayed = 1;
    ly_strlcpy(rp->rp_txn, rq->rq_txn, sizeof rp->rp_txn);
    return 1;
}

static void s_copy_profile(ly_event *ev, const ly_req *rq)
{
    ev->ev_fields = rq->rq_fields & LY_PF_ALL;
    ev->ev_profile = rq->rq_profile;
}

/* Build the event of a mutation from the request and the customer's state.
 * Returns LY_OK with *ready = 1 when `ev` is to be applied; a refusal is put
 * into rp and *ready = 0. The customer is read into `c`, and *known says it
 * was (see ly_store_apply_to). */
static ly_err s_make_event(ly_service *sv, ly_txn *t, const ly_req *rq, ly_event *ev, ly_rep *rp,
                           int *ready, ly_cust *c, int *known)
{
    const ly_program *pg = sv->sv_program;
    ly_err e = LY_OK;
    int ok = 0;
    int32_t day = LY_HLC_DAY(ev->ev_hlc);
    *ready = 0;
    *known = 0;
    ly_strlcpy(ev->ev_customer, rq->rq_customer, sizeof ev->ev_customer);

    switch (rq->rq_type) {
    case LY_MSG_ENROLL:
        e = ly_store_cust_get(t, rq->rq_customer, c);
        if (e == LY_OK && c->cu_enrolls > 0) {
            ly_rep_error(rp, rq->rq_type, rq->rq_id, LY_EEXIST, "customer '%s' is already enrolled",
                         rq->rq_customer);
            break;
        }
        if (e != LY_OK && e != LY_ENOTFOUND)
            break;
        *known = e == LY_OK; /* a record with no enroll yet: events came first */
        e = LY_OK;
        ev->ev_type = LY_EV_ENROLL;
        ev->ev_points = pg->pg_join_bonus;
        s_copy_profile(ev, rq);
        *ready = 1;
        break;

    case LY_MSG_EARN: {
        if ((e = s_enrolled(t, rq, rp, c, &ok)) != LY_OK || !ok)
            break;
        *known = 1;
        int64_t q0 = ly_cust_qualifying(c, pg, day), qual;
        int tier = ly_tier_for(pg, q0);
        int64_t points = ly_earn_points(pg, rq->rq_amount, tier, rq->rq_category, &qual);
        if (points < 0 || qual < 0) {
            ly_rep_error(rp, rq->rq_type, rq->rq_id, LY_EINVAL,
                         "purchase of %lld earns more points than a balance may hold",
                         (long long)rq->rq_amount);
            break;
        }
        ev->ev_type = LY_EV_EARN;
        ev->ev_amount = rq->rq_amount;
        ev->ev_points = points;
        ev->ev_qual = qual;
        ev->ev_qual_day = day;
        ev->ev_tier_from = (uint8_t)tier;
        ev->ev_tier_to = (uint8_t)ly_tier_for(pg, q0 + qual);
        ly_strlcpy(ev->ev_category, rq->rq_category, sizeof ev->ev_category);
        *ready = 1;
        break;
    }

    case LY_MSG_REDEEM:
    case LY_MSG_ADJUST: {
        if ((e = s_enrolled(t, rq, rp, c, &ok)) != LY_OK || !ok)
            break;
        *known = 1;
        int64_t take = rq->rq_type == LY_MSG_REDEEM ? rq->rq_amount : -rq->rq_amount;
        int64_t here = ly_cust_redeemable(c, ly_store_node_id(sv->sv_store));
        if (take > 0 && take > ly_cust_balance(c)) {
            ly_rep_error(rp, rq->rq_type, rq->rq_id, LY_EINSUFFICIENT,
                         "customer '%s' has %lld points; %lld requested", rq->rq_customer,
                         (long long)ly_cust_balance(c), (long long)take);
            rp->rp_available = ly_cust_balance(c);
            s_fill_rights(sv, c, rp);
            break;
        }
        if (take > 0 && take > here) {
            /* The balance covers it but the rights are held at other branches. */
            ly_rep_error(rp, rq->rq_type, rq->rq_id, LY_EINSUFFICIENT_LOCAL,
                         "%lld of the %lld points of customer '%s' are redeemable at this branch "
                         "now; the rest is held at branches that did not answer in time",
                         (long long)here, (long long)ly_cust_balance(c), rq->rq_customer);
            rp->rp_available = here;
            s_fill_rights(sv, c, rp);
            break;
        }
        if (rq->rq_type == LY_MSG_REDEEM) {
            ev->ev_type = LY_EV_REDEEM;
            ev->ev_amount = rq->rq_amount;
            ev->ev_points = -rq->rq_amount;
        } else {
            ev->ev_type = LY_EV_ADJUST;
            ev->ev_amount = ev->ev_points = rq->rq_amount;
            ly_strlcpy(ev->ev_reason, rq->rq_reason, sizeof ev->ev_reason);
            ly_strlcpy(ev->ev_operator, rq->rq_operator, sizeof ev->ev_operator);
        }
        *ready = 1;
        break;
    }

    case LY_MSG_REVERSE: {
        ly_txnrec r;
        e = ly_store_txnrec_get(t, rq->rq_ref_txn, &r);
        if (e == LY_ENOTFOUND || (e == LY_OK && r.tr_seq == 0)) {
            e = LY_OK;
            ly_rep_error(rp, rq->rq_type, rq->rq_id, LY_EUNKNOWN_TXN, "no transaction '%s'",
                         rq->rq_ref_txn);
            break;
        }
        if (e != LY_OK)
            break;
        if (r.tr_type != LY_EV_EARN && r.tr_type != LY_EV_REDEEM) {
            ly_rep_error(rp, rq->rq_type, rq->rq_id, LY_ENOTREVERSIBLE,
                         "transaction '%s' (%s) cannot be reversed; only earns and "
                         "redemptions can",
                         rq->rq_ref_txn, ly_evtype_name(r.tr_type));
            break;
        }
        int64_t left = r.tr_amount - r.tr_refunded_amount;
        int64_t part = rq->rq_amount ? rq->rq_amount : left;
        if (left <= 0) {
            ly_rep_error(rp, rq->rq_type, rq->rq_id, LY_EOVERREFUND,
                         "transaction '%s' is already fully refunded", rq->rq_ref_txn);
            break;
        }
        if (part > left) {
            ly_rep_error(rp, rq->rq_type, rq->rq_id, LY_EOVERREFUND,
                         "transaction '%s' has %lld left to refund; %lld requested", rq->rq_ref_txn,
                         (long long)left, (long long)part);
            break;
        }
        if ((e = ly_store_cust_get(t, r.tr_customer, c)) != LY_OK)
            break;
        *known = 1;
        ly_strlcpy(ev->ev_customer, r.tr_customer, sizeof ev->ev_customer);
        ev->ev_type = LY_EV_REVERSE;
        ev->ev_ref_type = r.tr_type;
        ev->ev_amount = part;
        ly_strlcpy(ev->ev_ref_txn, rq->rq_ref_txn, sizeof ev->ev_ref_txn);
        if (r.tr_type == LY_EV_EARN) {
            /* Proportional, and cumulative so that refunds in parts add up to
             * exactly the points of the whole purchase. */
            int64_t before = r.tr_refunded_amount, after = before + part;
            ev->ev_points = -(s_muldiv(r.tr_points, after, r.tr_amount) -
                              s_muldiv(r.tr_points, before, r.tr_amount));
            ev->ev_qual = -(s_muldiv(r.tr_qual, after, r.tr_amount) -
                            s_muldiv(r.tr_qual, before, r.tr_amount));
            ev->ev_qual_day = r.tr_qual_day;
            int64_t q0 = ly_cust_qualifying(c, pg, day);
            ev->ev_tier_from = (uint8_t)ly_tier_for(pg, q0);
            ly_cust after_c = *c;
            ly_cust_apply(&after_c, ev);
            ev->ev_tier_to = (uint8_t)ly_tier_at(pg, &after_c, day);
        } else {
            ev->ev_points = part; /* the redeemed points come back */
            ev->ev_tier_from = ev->ev_tier_to = (uint8_t)ly_tier_at(pg, c, day);
        }
        *ready = 1;
        break;
    }

    case LY_MSG_SET_PROFILE:
        if ((e = s_enrolled(t, rq, rp, c, &ok)) != LY_OK || !ok)
            break;
        *known = 1;
        ev->ev_type = LY_EV_PROFILE;
        s_copy_profile(ev, rq);
        *ready = 1;
        break;

    default:
        ly_rep_error(rp, rq->rq_type, rq->rq_id, LY_EPROTO, "not a mutation");
        break;
    }
    return e;
}

static ly_err s_mutate(ly_service *sv, ly_txn *t, const ly_req *rq, ly_rep *rp, ly_event *ev_out,
                       int *created)
{
    ly_err e;
    uint64_t fp = ly_req_fingerprint(rq);
    if (s_replay(sv, t, rq, fp, rp, &e))
        return e;
    if (e != LY_OK)
        return e;

    ly_event *ev = calloc(1, sizeof *ev);
    ly_cust *c = malloc(sizeof *c); /* before the event, then after it */
    if (!ev || !c) {
        free(ev);
        free(c);
        return LY_ENOMEM;
    }
    int ready = 0, known = 0;
    ly_store *st = sv->sv_store;
    ev->ev_origin = ly_store_node_id(st);
    ev->ev_incarnation = ly_store_incarnation(st);
    ev->ev_hlc = ly_hlc_now(sv->sv_hlc);
    ev->ev_program = sv->sv_program->pg_version;
    ev->ev_req_hash = fp;
    ly_strlcpy(ev->ev_txn, rq->rq_txn, sizeof ev->ev_txn);
    if ((e = s_make_event(sv, t, rq, ev, rp, &ready, c, &known)) != LY_OK || !ready)
        goto out;
    if ((e = ly_store_next_seq(t, &ev->ev_seq)) != LY_OK)
        goto out;
    if (ly_event_validate(ev) != LY_OK) {
        /* The request passed the codec's checks, so this is a bug: refuse, never store. */
        LY_LOG(LY_ERROR, "service.bad_event", "type=%s customer=%s txn=%s",
               ly_evtype_name(ev->ev_type), ev->ev_customer, ev->ev_txn);
        ly_rep_error(rp, rq->rq_type, rq->rq_id, LY_EINTERNAL,
                     "the operation produced an invalid event");
        goto out;
    }
    ly_apply outcome;
    if ((e = ly_store_apply_to(t, ev, &outcome, c, known)) != LY_OK)
        goto out;
    if (outcome != LY_APPLIED) {
        LY_LOG(LY_ERROR, "service.not_applied", "seq=%llu outcome=%d",
               (unsigned long long)ev->ev_seq, (int)outcome);
        e = LY_EINTERNAL;
        goto out;
    }
    s_fill_summary(sv, c, rp);
    rp->rp_points = ev->ev_points;
    rp->rp_hlc = ev->ev_hlc;
    rp->rp_origin = ev->ev_origin;
    rp->rp_seq = ev->ev_seq;
    ly_strlcpy(rp->rp_txn, rq->rq_txn, sizeof rp->rp_txn);
    if (ev_out)
        *ev_out = *ev;
    *created = 1;
out:
    free(ev);
    free(c);
    return e;
}

static void s_hist_from_event(const ly_program *pg, const ly_event *ev, ly_hist *h)
{
    memset(h, 0, sizeof *h);
    h->hi_hlc = ev->ev_hlc;
    h->hi_type = ev->ev_type;
    h->hi_origin = ev->ev_origin;
    h->hi_points = ev->ev_points;
    h->hi_amount = ev->ev_amount;
    ly_strlcpy(h->hi_txn, ev->ev_txn, sizeof h->hi_txn);
    ly_strlcpy(h->hi_ref_txn, ev->ev_ref_txn, sizeof h->hi_ref_txn);
    ly_strlcpy(h->hi_category, ev->ev_category, sizeof h->hi_category);
    ly_strlcpy(h->hi_reason, ev->ev_reason, sizeof h->hi_reason);
    ly_strlcpy(h->hi_operator, ev->ev_operator, sizeof h->hi_operator);
    h->hi_to = ev->ev_to;
    if (ev->ev_tier_from != ev->ev_tier_to) {
        ly_strlcpy(h->hi_tier_from, s_tier_name(pg, ev->ev_tier_from), sizeof h->hi_tier_from);
        ly_strlcpy(h->hi_tier_to, s_tier_name(pg, ev->ev_tier_to), sizeof h->hi_tier_to);
    }
}

static ly_err s_customer(ly_service *sv, ly_txn *t, const ly_req *rq, ly_rep *rp)
{
    ly_cust *c = malloc(sizeof *c);
    ly_event *evs = malloc(LY_HIST_MAX * sizeof *evs);
    ly_err e = LY_ENOMEM;
    int ok = 0;
    if (!c || !evs)
        goto out;
    if ((e = s_enrolled(t, rq, rp, c, &ok)) != LY_OK || !ok)
        goto out;
    s_fill_summary(sv, c, rp);
    rp->rp_enrolled_hlc = c->cu_enrolled_hlc;
    rp->rp_last_hlc = c->cu_last_hlc;
    rp->rp_profile = c->cu_profile;
    rp->rp_fields = 0;
    const char *pf[] = {c->cu_profile.pf_name, c->cu_profile.pf_birthday, c->cu_profile.pf_email,
                        c->cu_profile.pf_phone, c->cu_profile.pf_prefs};
    for (int i = 0; i < LY_PF_COUNT; i++)
        if (pf[i][0]) /* a field set to "" was cleared */
            rp->rp_fields |= 1u << i;
    size_t limit = rq->rq_limit ? rq->rq_limit : LY_HIST_DEFAULT, n = 0;
    if (limit > LY_HIST_MAX)
        limit = LY_HIST_MAX;
    if ((e = ly_store_history(t, rq->rq_customer, evs, limit, &n)) != LY_OK)
        goto out;
    for (size_t i = 0; i < n; i++)
        s_hist_from_event(sv->sv_program, &evs[i], &rp->rp_hist[i]);
    rp->rp_nhist = (uint32_t)n;
out:
    free(c);
    free(evs);
    return e;
}

static ly_err s_status(ly_service *sv, ly_txn *t, ly_rep *rp)
{
    ly_store_stats st;
    ly_err e = ly_store_stats_get(t, &st);
    if (e != LY_OK)
        return e;
    ly_node_status *ns = &rp->rp_status;
    ns->ns_id = ly_store_node_id(sv->sv_store);
    ly_strlcpy(ns->ns_name, sv->sv_name, sizeof ns->ns_name);
    ns->ns_incarnation = ly_store_incarnation(sv->sv_store);
    ns->ns_program = sv->sv_program->pg_version;
    ns->ns_events = st.st_events;
    ns->ns_customers = st.st_customers;
    ns->ns_digest = st.st_digest;
    ns->ns_hlc = st.st_hlc;
    ns->ns_uptime_ms = ly_wall_ms() - sv->sv_started_ms;
    ns->ns_map_size = st.st_map_size;
    ns->ns_map_used = st.st_used;
    ns->ns_log_bytes = st.st_wal_bytes;
    ns->ns_log_events = st.st_unckpt;
    ns->ns_checkpoints = st.st_checkpoints;
    ns->ns_checkpoint_ms = st.st_ckpt_ms;
    ly_strlcpy(ns->ns_write_error, st.st_write_err == LY_OK ? "" : ly_errname(st.st_write_err),
               sizeof ns->ns_write_error);
    ly_vv_entry vv[LY_VV_MAX];
    size_t n;
    if ((e = ly_store_vv(t, vv, LY_VV_MAX, &n)) != LY_OK)
        return e;
    if (n > LY_VV_MAX)
        n = LY_VV_MAX;
    for (size_t i = 0; i < n; i++) {
        ns->ns_vv[i].origin = vv[i].vv_origin;
        ns->ns_vv[i].incarnation = vv[i].vv_incarnation;
        ns->ns_vv[i].seq = vv[i].vv_seq;
    }
    ns->ns_nvv = (uint32_t)n;
    if (sv->sv_status_hook)
        return sv->sv_status_hook(sv->sv_status_ctx, t, ns);
    return LY_OK;
}

static ly_err s_events(ly_txn *t, const ly_req *rq, ly_rep *rp)
{
    size_t limit = rq->rq_limit ? rq->rq_limit : LY_EVENTS_MAX, n = 0;
    if (limit > LY_EVENTS_MAX)
        limit = LY_EVENTS_MAX;
    rp->rp_events = malloc(limit * sizeof *rp->rp_events);
    if (!rp->rp_events)
        return LY_ENOMEM;
    ly_err e = ly_store_events(t, rq->rq_origin, rq->rq_since, rp->rp_events, limit, &n);
    rp->rp_nevents = (uint32_t)n;
    return e;
}

static ly_err s_debts(ly_txn *t, const ly_req *rq, ly_rep *rp)
{
    size_t limit = rq->rq_limit ? rq->rq_limit : LY_DEBTS_MAX, n = 0;
    if (limit > LY_DEBTS_MAX)
        limit = LY_DEBTS_MAX;
    ly_cust *cs = malloc(limit * sizeof *cs);
    rp->rp_debts = calloc(limit, sizeof *rp->rp_debts);
    if (!cs || !rp->rp_debts) {
        free(cs);
        return LY_ENOMEM;
    }
    int more = 0;
    ly_err e = ly_store_debts(t, rq->rq_customer, cs, limit, &n, &more);
    for (size_t i = 0; e == LY_OK && i < n; i++) {
        ly_debt *d = &rp->rp_debts[i];
        ly_strlcpy(d->de_customer, cs[i].cu_id, sizeof d->de_customer);
        d->de_debt = ly_cust_debt(&cs[i]);
        d->de_lifetime = cs[i].cu_lifetime;
        d->de_last_hlc = cs[i].cu_last_hlc;
    }
    rp->rp_ndebts = e == LY_OK ? (uint32_t)n : 0;
    rp->rp_more = (uint8_t)more;
    free(cs);
    return e;
}

ly_err ly_service_give_rights(ly_service *sv, ly_txn *t, const char *customer, uint16_t to,
                              int64_t want, ly_event *ev_out, int *created)
{
    *created = 0;
    ly_cust *c = malloc(sizeof *c);
    ly_event *ev = calloc(1, sizeof *ev);
    ly_err e = LY_ENOMEM;
    if (!c || !ev)
        goto out;
    e = ly_store_cust_get(t, customer, c);
    if (e == LY_ENOTFOUND) {
        e = LY_OK;
        goto out;
    }
    if (e != LY_OK)
        goto out;
    uint16_t self = ly_store_node_id(sv->sv_store);
    int64_t give = ly_cust_rights(c, self);
    if (give > want)
        give = want;
    if (give <= 0 || to == self)
        goto out;
    ev->ev_origin = self;
    ev->ev_incarnation = ly_store_incarnation(sv->sv_store);
    ev->ev_hlc = ly_hlc_now(sv->sv_hlc);
    ev->ev_program = sv->sv_program->pg_version;
    ev->ev_type = LY_EV_TRANSFER;
    ev->ev_to = to;
    ev->ev_amount = ev->ev_points = give;
    ly_strlcpy(ev->ev_customer, customer, sizeof ev->ev_customer);
    if ((e = ly_store_next_seq(t, &ev->ev_seq)) != LY_OK)
        goto out;
    ly_apply outcome;
    if ((e = ly_store_apply(t, ev, &outcome, NULL)) != LY_OK)
        goto out;
    if (outcome != LY_APPLIED) {
        e = LY_EINTERNAL;
        goto out;
    }
    *ev_out = *ev;
    *created = 1;
out:
    free(c);
    free(ev);
    return e;
}

ly_err ly_service_exec(ly_service *sv, ly_txn *t, const ly_req *rq, ly_rep *rp, ly_event *ev_out,
                       int *created)
{
    *created = 0;
    rp->rp_type = rq->rq_type;
    rp->rp_id = rq->rq_id;
    rp->rp_err = LY_OK;
    switch (rq->rq_type) {
    case LY_MSG_CUSTOMER:
        return s_customer(sv, t, rq, rp);
    case LY_MSG_STATUS:
        return s_status(sv, t, rp);
    case LY_MSG_EVENTS:
        return s_events(t, rq, rp);
    case LY_MSG_DEBTS:
        return s_debts(t, rq, rp);
    default:
        if (!ly_msgtype_is_mutation(rq->rq_type)) {
            ly_rep_error(rp, rq->rq_type, rq->rq_id, LY_EPROTO, "unknown request type %d",
                         rq->rq_type);
            return LY_OK;
        }
        return s_mutate(sv, t, rq, rp, ev_out, created);
    }
}
