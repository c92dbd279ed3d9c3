#include "node/service.h"

#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/rules.h"

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
    if (rq->rq_type == LY_MSG_TIER) { /* only there: older requests keep their fingerprints */
        ly_hasher_str(&h, rq->rq_tier);
        ly_hasher_str(&h, rq->rq_until);
    }
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

/* ---- the program in force ---- */

void ly_service_fini(ly_service *sv)
{
    free(sv->sv_prog);
    sv->sv_prog = NULL;
}

static void s_prog_default(ly_progstate *ps)
{
    memset(&ps->ps_rec, 0, sizeof ps->ps_rec);
    ly_progdef_default(&ps->ps_def);
    ly_strlcpy(ps->ps_rec.pr_name, ps->ps_def.pd_name, sizeof ps->ps_rec.pr_name);
    ps->ps_rec.pr_ntiers = ps->ps_def.pd_ntiers;
    for (int i = 0; i < ps->ps_def.pd_ntiers; i++)
        ly_strlcpy(ps->ps_rec.pr_tiers[i], ps->ps_def.pd_tiers[i].ti_name,
                   sizeof ps->ps_rec.pr_tiers[i]);
}

/* The program in force at `now` (ms), read again only if it may differ. */
static ly_err s_refresh_at(ly_service *sv, ly_txn *t, uint64_t now)
{
    if (!sv->sv_prog && !(sv->sv_prog = calloc(1, sizeof *sv->sv_prog)))
        return LY_ENOMEM;
    ly_progstate *ps = sv->sv_prog;
    uint64_t gen = ly_store_programs_gen(sv->sv_store);
    if (ps->ps_loaded && ps->ps_gen == gen &&
        (ps->ps_next_version == 0 || (int64_t)now < ps->ps_next_ms))
        return LY_OK;
    uint32_t before = ps->ps_loaded ? ps->ps_def.pd_version : UINT32_MAX;
    ly_err e = ly_store_program_at(t, now, &ps->ps_rec, &ps->ps_def, &ps->ps_next_version,
                                   &ps->ps_next_ms);
    if (e == LY_ENOTFOUND)
        s_prog_default(ps);
    else if (e != LY_OK)
        return e;
    ly_progdef_to_program(&ps->ps_def, &ps->ps_pg);
    ps->ps_hash = ly_progdef_hash(&ps->ps_def);
    ps->ps_gen = gen;
    ps->ps_loaded = 1;
    if (before != ps->ps_def.pd_version)
        LY_LOG(LY_INFO, "program.in_force", "version=%u name=\"%s\" hash=%016llx next=%u",
               ps->ps_def.pd_version, ps->ps_def.pd_name, (unsigned long long)ps->ps_hash,
               ps->ps_next_version);
    return LY_OK;
}

ly_err ly_service_refresh(ly_service *sv, ly_txn *t)
{
    return s_refresh_at(sv, t, ly_wall_ms());
}

int ly_service_program_due(const ly_service *sv, uint64_t now_ms)
{
    const ly_progstate *ps = sv->sv_prog;
    return ps && ps->ps_loaded && ps->ps_next_version != 0 && (int64_t)now_ms >= ps->ps_next_ms;
}

void ly_service_program(const ly_service *sv, uint32_t *version, uint64_t *hash)
{
    if (sv->sv_prog && sv->sv_prog->ps_loaded) {
        *version = sv->sv_prog->ps_def.pd_version;
        *hash = sv->sv_prog->ps_hash;
        return;
    }
    ly_progdef *pd = malloc(sizeof *pd);
    *version = 0;
    *hash = 0;
    if (pd) {
        ly_progdef_default(pd);
        *hash = ly_progdef_hash(pd);
        free(pd);
    }
}

/* The program in force, read again if needed. */
static ly_err s_prog(ly_service *sv, ly_txn *t, const ly_progstate **out)
{
    ly_err e = ly_service_refresh(sv, t);
    *out = sv->sv_prog;
    return e;
}

/* The name of tier `i` of version `version` (an event's ev_program): the
 * names of the version it was made under. */
static const char *s_tier_name_of(ly_service *sv, ly_txn *t, uint32_t version, int i)
{
    ly_progstate *ps = sv->sv_prog;
    const ly_progrec *r = &ps->ps_rec;
    if (version != ps->ps_def.pd_version) {
        /* Read again when the versions held may have changed (a batch rolled
         * back, another copy of the number won). */
        uint64_t gen = ly_store_programs_gen(sv->sv_store);
        if (ps->ps_names_version != version || ps->ps_names_gen != gen) {
            ps->ps_names_version = version;
            ps->ps_names_gen = gen;
            if (version == 0) {
                ly_progstate *d = malloc(sizeof *d);
                if (d) {
                    s_prog_default(d);
                    ps->ps_names = d->ps_rec;
                    free(d);
                }
            } else if (ly_store_program_get(t, version, &ps->ps_names, NULL) != LY_OK) {
                ps->ps_names = ps->ps_rec; /* not held (made before programs were events) */
            }
        }
        r = &ps->ps_names;
    }
    return i >= 0 && i < r->pr_ntiers ? r->pr_tiers[i] : "";
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
    const ly_program *pg = &sv->sv_prog->ps_pg;
    ly_strlcpy(rp->rp_customer, c->cu_id, sizeof rp->rp_customer);
    rp->rp_balance = ly_cust_balance(c);
    rp->rp_debt = ly_cust_debt(c);
    rp->rp_lifetime = c->cu_lifetime;
    /* The tier by the program's model (tiers.h): held, until when, and what
     * this period still needs for the next one and to keep it. */
    ly_tier_status ts;
    ly_tier_status_at(&sv->sv_prog->ps_def, c, s_today(), &ts);
    rp->rp_qualifying = ts.ts_qualifying;
    int tier = ts.ts_tier, manual = ly_rule_override(pg, c, s_today());
    rp->rp_tier_override[0] = '\0';
    if (manual >= 0) { /* staff set it, until a day: it holds whatever the points do */
        tier = manual;
        ts.ts_held_until = c->cu_ovr_until;
        ts.ts_to_keep = 0;
        ts.ts_to_next =
            tier + 1 < pg->pg_ntiers ? pg->pg_tiers[tier + 1].ti_threshold - ts.ts_qualifying : 0;
        if (ts.ts_to_next < 0) /* the points reach further than the tier given by hand */
            ts.ts_to_next = 0;
        ly_strlcpy(rp->rp_tier_override, c->cu_ovr_tier, sizeof rp->rp_tier_override);
    }
    ly_strlcpy(rp->rp_tier, s_tier_name(pg, tier), sizeof rp->rp_tier);
    rp->rp_next_tier[0] = '\0';
    rp->rp_to_next = 0;
    if (tier + 1 < pg->pg_ntiers) {
        ly_strlcpy(rp->rp_next_tier, s_tier_name(pg, tier + 1), sizeof rp->rp_next_tier);
        rp->rp_to_next = ts.ts_to_next;
    }
    rp->rp_tier_until[0] = '\0';
    if (tier > 0 && ts.ts_held_until > 0)
        ly_pd_day_str(ts.ts_held_until, rp->rp_tier_until, sizeof rp->rp_tier_until);
    rp->rp_to_keep = tier > 0 ? ts.ts_to_keep : 0;
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
    if (r.tr_type == LY_EV_EARN) { /* the campaign it earned under travels with the event */
        ly_event *ev = malloc(sizeof *ev);
        if (!ev) {
            *err = LY_ENOMEM;
            return 1;
        }
        if ((*err = ly_store_event_get(t, r.tr_origin, r.tr_incarnation, r.tr_seq, ev)) == LY_OK)
            ly_strlcpy(rp->rp_campaign, ev->ev_reason, sizeof rp->rp_campaign);
        /* A birthday bonus paid with it is its origin's next event (s_mutate
         * makes both in one request): the receipt of a retry shows it too. */
        if (*err == LY_OK) {
            ly_err e2 = ly_store_event_get(t, r.tr_origin, r.tr_incarnation, r.tr_seq + 1, ev);
            if (e2 == LY_OK && ev->ev_type == LY_EV_BONUS &&
                strcmp(ev->ev_customer, r.tr_customer) == 0)
                rp->rp_bonus_points = ev->ev_points;
            else if (e2 != LY_OK && e2 != LY_ENOTFOUND)
                *err = e2;
        }
        free(ev);
    }
    return 1;
}

/* The header every event this node makes starts with; the rest is zero. */
static void s_event_header(ly_service *sv, const char *customer, ly_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->ev_origin = ly_store_node_id(sv->sv_store);
    ev->ev_incarnation = ly_store_incarnation(sv->sv_store);
    ev->ev_hlc = ly_hlc_now(sv->sv_hlc);
    ev->ev_program = sv->sv_prog->ps_def.pd_version;
    ly_strlcpy(ev->ev_customer, customer, sizeof ev->ev_customer);
}

/* The branch's local date and time at HLC timestamp `hlc` (its zone; UTC if
 * none is set or the zone cannot be read). */
static void s_local(const ly_service *sv, uint64_t hlc, ly_localtime *lt)
{
    ly_tz utc;
    ly_tz_utc(&utc);
    if (ly_tz_local(sv->sv_tz.tz_name[0] ? &sv->sv_tz : &utc, (int64_t)LY_HLC_MS(hlc), lt) != LY_OK)
        ly_tz_local(&utc, (int64_t)LY_HLC_MS(hlc), lt);
}

/* Make an event of rule `ru`: read what the rule needs (the customer, the
 * original), build the header, let the rule complete it or refuse (*no), then
 * give it the next seq and apply it. On success *c is the customer after it
 * and *applied = 1. Store failures are returned. */
static ly_err s_make(ly_service *sv, ly_txn *t, const ly_rule *ru, ly_intent *in, const char *txn,
                     uint64_t fp, ly_event *ev, ly_cust *c, ly_refusal *no, int *applied,
                     ly_breakdown *out)
{
    ly_err e;
    ly_txnrec orig;
    const ly_progstate *ps;
    if ((e = s_prog(sv, t, &ps)) != LY_OK)
        return e;
    ly_origin o = {.or_program = &ps->ps_pg,
                   .or_def = &ps->ps_def,
                   .or_self = ly_store_node_id(sv->sv_store),
                   .or_branch = sv->sv_name,
                   .or_out = out};
    int need_cust = !(ru->ru_flags & LY_RU_NO_CUST);
    *applied = 0;
    if (ru->ru_flags & LY_RU_NEEDS_ORIGINAL) {
        e = ly_store_txnrec_get(t, in->in_ref_txn, &orig);
        if (e == LY_OK && orig.tr_seq != 0) {
            o.or_orig = &orig;
            in->in_customer = orig.tr_customer; /* a refund is the original's customer's */
        } else if (e == LY_OK || e == LY_ENOTFOUND) {
            need_cust = 0; /* refused below: unknown transaction */
        } else {
            return e;
        }
    }
    if (need_cust) {
        e = ly_store_cust_get(t, in->in_customer, c);
        if (e == LY_OK)
            o.or_cust = c;
        else if (e != LY_ENOTFOUND || (ru->ru_flags & LY_RU_NEEDS_ORIGINAL))
            return e; /* an original's customer always has a record */
    }
    s_event_header(sv, in->in_customer, ev);
    if (ly_service_program_due(sv, LY_HLC_MS(ev->ev_hlc))) {
        /* The event's clock (which may run ahead of this node's wall clock)
         * has reached a scheduled version: it is made under that one. */
        if ((e = s_refresh_at(sv, t, LY_HLC_MS(ev->ev_hlc))) != LY_OK)
            return e;
        ev->ev_program = ps->ps_def.pd_version;
    }
    ev->ev_req_hash = fp;
    ly_strlcpy(ev->ev_txn, txn, sizeof ev->ev_txn);
    o.or_day = LY_HLC_DAY(ev->ev_hlc);
    if (ru->ru_type == LY_EV_EARN) { /* campaigns run on the branch's local date and time */
        ly_localtime lt;
        s_local(sv, ev->ev_hlc, &lt);
        o.or_local_day = (int32_t)lt.lt_day;
        o.or_local_minute = lt.lt_minute;
    }
    ly_rule_make(ru, &o, in, ev, no);
    if (no->rf_err != LY_OK)
        return LY_OK;
    if ((e = ly_store_next_seq(t, &ev->ev_seq)) != LY_OK)
        return e;
    if (ly_event_validate(ev) != LY_OK) {
        /* The request passed the codec's checks, so this is a bug: refuse, never store. */
        LY_LOG(LY_ERROR, "service.bad_event", "type=%s customer=%s txn=%s",
               ly_evtype_name(ev->ev_type), ev->ev_customer, ev->ev_txn);
        ly_refuse(no, LY_EINTERNAL, "the operation produced an invalid event");
        return LY_OK;
    }
    ly_apply outcome;
    if ((e = ly_store_apply_to(t, ev, &outcome, c, o.or_cust != NULL)) != LY_OK)
        return e;
    if (outcome != LY_APPLIED) {
        LY_LOG(LY_ERROR, "service.not_applied", "seq=%llu outcome=%d",
               (unsigned long long)ev->ev_seq, (int)outcome);
        return LY_EINTERNAL;
    }
    *applied = 1;
    return LY_OK;
}

static ly_err s_birthday(ly_service *sv, ly_txn *t, ly_cust *c, int32_t day, ly_event *ev,
                         int64_t *points)
{
    const ly_progdef *pd = &sv->sv_prog->ps_def;
    int32_t b;
    *points = 0;
    if (!ly_rule_birthday_due(pd, c, day, &b))
        return LY_OK;
    char key[LY_ONCE_KEY_MAX + 1], bday[16];
    ly_pd_day_str(b, bday, sizeof bday);
    snprintf(key, sizeof key, LY_ONCE_BIRTHDAY "%s %.4s", c->cu_id, bday);
    ly_txnrec r;
    ly_err e = ly_store_txnrec_get(t, key, &r);
    if (e == LY_OK && r.tr_seq != 0)
        return LY_OK; /* paid already (here or at a branch it heard from) */
    if (e != LY_OK && e != LY_ENOTFOUND)
        return e;
    ly_intent in = {.in_type = LY_EV_BONUS,
                    .in_customer = c->cu_id,
                    .in_amount = pd->pd_bday_points,
                    .in_day = b};
    char id[LY_ID_MAX + 1];
    ly_strlcpy(id, c->cu_id, sizeof id);
    in.in_customer = id;
    /* Equal bonuses made at two cut-off branches are duplicates, not a conflict. */
    uint64_t fp = ly_hash(key, strlen(key)) ^ (uint64_t)pd->pd_bday_points;
    ly_refusal no;
    int applied;
    if ((e = s_make(sv, t, &ly_rule_bonus, &in, "", fp, ev, c, &no, &applied, NULL)) != LY_OK)
        return e;
    if (applied)
        *points = ev->ev_points;
    return LY_OK;
}

static ly_err s_mutate(ly_service *sv, ly_txn *t, const ly_req *rq, ly_rep *rp, ly_event *ev_out,
                       int *created)
{
    ly_err e;
    uint64_t fp = ly_req_fingerprint(rq);
    if (ly_once_reserved(rq->rq_txn)) {
        ly_rep_error(rp, rq->rq_type, rq->rq_id, LY_EINVAL,
                     "transaction id '%s' is reserved: ids starting with '" LY_ONCE_JOIN
                     "' are the node's own once keys",
                     rq->rq_txn);
        return LY_OK;
    }
    if (s_replay(sv, t, rq, fp, rp, &e))
        return e;
    if (e != LY_OK)
        return e;
    const ly_rule *ru = ly_rule_for(ly_msgtype_evtype(rq->rq_type));
    if (!ru) {
        ly_rep_error(rp, rq->rq_type, rq->rq_id, LY_EPROTO, "not a mutation");
        return LY_OK;
    }

    ly_event *ev = malloc(sizeof *ev);
    ly_cust *c = malloc(sizeof *c); /* before the event, then after it */
    if (!ev || !c) {
        free(ev);
        free(c);
        return LY_ENOMEM;
    }
    ly_intent in = {.in_type = ru->ru_type,
                    .in_customer = rq->rq_customer,
                    .in_ref_txn = rq->rq_ref_txn,
                    .in_category = rq->rq_category,
                    .in_reason = rq->rq_reason,
                    .in_operator = rq->rq_operator,
                    .in_amount = rq->rq_amount,
                    .in_fields = rq->rq_fields,
                    .in_profile = &rq->rq_profile};
    if (rq->rq_type == LY_MSG_TIER) {
        in.in_category = rq->rq_tier;
        in.in_day = (int32_t)ly_tz_days_from_civil(atoi(rq->rq_until), atoi(rq->rq_until + 5),
                                                   atoi(rq->rq_until + 8));
    }
    ly_refusal no;
    int applied;
    ly_breakdown bd = {0};
    if ((e = s_make(sv, t, ru, &in, rq->rq_txn, fp, ev, c, &no, &applied, &bd)) != LY_OK)
        goto out;
    if (!applied) {
        ly_rep_error(rp, rq->rq_type, rq->rq_id, no.rf_err, "%s", no.rf_msg);
        rp->rp_available = no.rf_available;
        if (no.rf_rights)
            s_fill_rights(sv, c, rp);
        goto out;
    }
    int made = 1;
    if (ev_out)
        ev_out[0] = *ev;
    if (ev->ev_type == LY_EV_EARN && bd.bd_category_mult != 0) { /* a gift card is no visit */
        ly_localtime lt;
        ly_event *bonus = malloc(sizeof *bonus);
        if (!bonus) {
            e = LY_ENOMEM;
            goto out;
        }
        s_local(sv, ev->ev_hlc, &lt);
        e = s_birthday(sv, t, c, (int32_t)lt.lt_day, bonus, &rp->rp_bonus_points);
        if (e == LY_OK && rp->rp_bonus_points > 0 && ev_out)
            ev_out[made] = *bonus;
        made += e == LY_OK && rp->rp_bonus_points > 0;
        free(bonus);
        if (e != LY_OK)
            goto out;
    }
    s_fill_summary(sv, c, rp);
    rp->rp_points = ev->ev_points;
    if (ev->ev_type == LY_EV_EARN) {
        rp->rp_base_points = bd.bd_base;
        ly_strlcpy(rp->rp_earn_tier, s_tier_name(&sv->sv_prog->ps_pg, ev->ev_tier_from),
                   sizeof rp->rp_earn_tier);
        rp->rp_tier_mult = bd.bd_tier_mult;
        rp->rp_category_mult = bd.bd_category_mult;
        ly_strlcpy(rp->rp_campaign, bd.bd_campaign, sizeof rp->rp_campaign);
        rp->rp_campaign_points = bd.bd_campaign_points;
    }
    rp->rp_hlc = ev->ev_hlc;
    rp->rp_origin = ev->ev_origin;
    rp->rp_seq = ev->ev_seq;
    ly_strlcpy(rp->rp_txn, rq->rq_txn, sizeof rp->rp_txn);
    *created = made;
out:
    free(ev);
    free(c);
    return e;
}

static void s_hist_from_event(ly_service *sv, ly_txn *t, const ly_event *ev, ly_hist *h)
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
    if (ev->ev_type == LY_EV_TIER)
        ly_pd_day_str(ev->ev_qual_day, h->hi_until, sizeof h->hi_until);
    if (ev->ev_tier_from != ev->ev_tier_to) {
        ly_strlcpy(h->hi_tier_from, s_tier_name_of(sv, t, ev->ev_program, ev->ev_tier_from),
                   sizeof h->hi_tier_from);
        ly_strlcpy(h->hi_tier_to, s_tier_name_of(sv, t, ev->ev_program, ev->ev_tier_to),
                   sizeof h->hi_tier_to);
    }
}

static ly_err s_customer(ly_service *sv, ly_txn *t, const ly_req *rq, ly_rep *rp)
{
    size_t limit = rq->rq_limit ? rq->rq_limit : LY_HIST_DEFAULT, n = 0;
    if (limit > LY_HIST_MAX)
        limit = LY_HIST_MAX;
    ly_cust *c = malloc(sizeof *c);
    ly_event *evs = malloc(limit * sizeof *evs); /* the entries asked for, not LY_HIST_MAX */
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
    if ((e = ly_store_history(t, rq->rq_customer, evs, limit, &n)) != LY_OK)
        goto out;
    if (n > 0 && !(rp->rp_hist = malloc(n * sizeof *rp->rp_hist))) {
        e = LY_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        ly_hist *h = &rp->rp_hist[i];
        int counts;
        s_hist_from_event(sv, t, &evs[i], h);
        if ((e = ly_store_once_counts(t, &evs[i], &counts, &h->hi_win_origin, &h->hi_win_seq)) !=
            LY_OK)
            goto out;
        h->hi_void = (uint8_t)!counts;
    }
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
    ly_node_status *ns = rp->rp_status = calloc(1, sizeof *rp->rp_status);
    if (!ns)
        return LY_ENOMEM;
    ns->ns_id = ly_store_node_id(sv->sv_store);
    ly_strlcpy(ns->ns_name, sv->sv_name, sizeof ns->ns_name);
    ns->ns_incarnation = ly_store_incarnation(sv->sv_store);
    const ly_progstate *ps;
    if ((e = s_prog(sv, t, &ps)) != LY_OK)
        return e;
    ns->ns_program = ps->ps_def.pd_version;
    ns->ns_program_hash = ps->ps_hash;
    ns->ns_program_next = ps->ps_next_version;
    ns->ns_program_next_ms = (uint64_t)ps->ps_next_ms;
    ns->ns_events = st.st_events;
    ns->ns_customers = st.st_customers;
    ns->ns_digest = st.st_digest;
    ns->ns_hlc = st.st_hlc;
    ns->ns_duplicates = st.st_duplicates;
    ns->ns_conflicts = st.st_conflicts;
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

/* A page of conflicts: once keys whose events carry different requests. */
static ly_err s_conflicts(ly_txn *t, const ly_req *rq, ly_rep *rp)
{
    size_t limit = rq->rq_limit ? rq->rq_limit : LY_CONFLICTS_DEFAULT, n = 0;
    if (limit > LY_CONFLICTS_MAX)
        limit = LY_CONFLICTS_MAX;
    ly_once_group *gs = calloc(limit, sizeof *gs);
    rp->rp_conflicts = calloc(limit, sizeof *rp->rp_conflicts);
    rp->rp_events = calloc(limit * LY_CONFLICT_EVENTS, sizeof *rp->rp_events);
    if (!gs || !rp->rp_conflicts || !rp->rp_events) {
        free(gs);
        return LY_ENOMEM;
    }
    int more = 0;
    ly_err e = ly_store_conflicts(t, rq->rq_after, gs, limit, &n, &more);
    uint32_t nev = 0, nc = 0;
    for (size_t i = 0; e == LY_OK && i < n; i++) {
        const ly_once_group *g = &gs[i];
        uint32_t k = g->og_n < LY_CONFLICT_EVENTS ? g->og_n : LY_CONFLICT_EVENTS, counts = nev;
        if (k < 2)
            continue; /* an event it names is not here: nothing to show */
        ly_conflict *cf = &rp->rp_conflicts[nc++];
        ly_strlcpy(cf->cf_key, g->og_key, sizeof cf->cf_key);
        cf->cf_total = g->og_total;
        cf->cf_first = nev;
        cf->cf_n = k;
        for (uint32_t j = 0; j < k; j++) {
            if (g->og_counts[j])
                counts = nev;
            rp->rp_events[nev++] = g->og_ev[j];
        }
        cf->cf_counts = counts;
    }
    rp->rp_nconflicts = e == LY_OK ? nc : 0;
    rp->rp_nevents = e == LY_OK ? nev : 0;
    rp->rp_more = (uint8_t)more;
    free(gs);
    return e;
}

/* ---- program versions ---- */

static uint8_t s_prog_state(const ly_progstate *ps, const ly_progrec *r, int64_t now)
{
    if (r->pr_version == ps->ps_def.pd_version)
        return LY_PW_IN_FORCE;
    if (r->pr_version > ps->ps_def.pd_version && r->pr_effective_ms > now)
        return LY_PW_SCHEDULED;
    return LY_PW_SUPERSEDED;
}

static void s_prog_row(ly_progrow *w, const ly_progrec *r, const ly_progid *id, uint8_t state)
{
    memset(w, 0, sizeof *w);
    w->pw_version = r->pr_version;
    w->pw_state = state;
    ly_strlcpy(w->pw_name, id->pi_name, sizeof w->pw_name);
    w->pw_effective_ms = r->pr_effective_ms;
    w->pw_hlc = id->pi_hlc;
    w->pw_origin = id->pi_origin;
    w->pw_seq = id->pi_seq;
    w->pw_hash = id->pi_hash;
    ly_strlcpy(w->pw_operator, id->pi_operator, sizeof w->pw_operator);
    if (id == &r->pr_win)
        ly_strlcpy(w->pw_reason, r->pr_reason, sizeof w->pw_reason);
}

/* Up to LY_PROGRAMS_MAX rows: the versions up to `top` (0: all), highest
 * first, each followed by those of its number that lost. */
static ly_err s_prog_rows(ly_service *sv, ly_txn *t, uint32_t top, ly_rep *rp)
{
    const ly_progstate *ps = sv->sv_prog;
    ly_progrec *recs = malloc(LY_PROGRAMS_MAX * sizeof *recs);
    rp->rp_programs = calloc(LY_PROGRAMS_MAX, sizeof *rp->rp_programs);
    if (!recs || !rp->rp_programs) {
        free(recs);
        return LY_ENOMEM;
    }
    size_t n;
    int64_t now = (int64_t)ly_wall_ms();
    ly_err e = ly_store_programs(t, top ? top + 1 : 0, recs, LY_PROGRAMS_MAX, &n);
    uint32_t k = 0;
    for (size_t i = 0; e == LY_OK && i < n && k < LY_PROGRAMS_MAX; i++) {
        s_prog_row(&rp->rp_programs[k++], &recs[i], &recs[i].pr_win,
                   s_prog_state(ps, &recs[i], now));
        uint32_t lost = recs[i].pr_nlost < LY_PROG_LOST_MAX ? recs[i].pr_nlost : LY_PROG_LOST_MAX;
        for (uint32_t j = 0; j < lost && k < LY_PROGRAMS_MAX; j++)
            s_prog_row(&rp->rp_programs[k++], &recs[i], &recs[i].pr_lost[j], LY_PW_LOST);
    }
    rp->rp_nprograms = e == LY_OK ? k : 0;
    free(recs);
    return e;
}

/* program: the version asked for (or the one in force) as its part events,
 * and the versions held up to it. */
static ly_err s_program_show(ly_service *sv, ly_txn *t, const ly_req *rq, ly_rep *rp)
{
    const ly_progstate *ps = sv->sv_prog;
    uint32_t v = rq->rq_version ? rq->rq_version : ps->ps_def.pd_version;
    rp->rp_program = v;
    if (v != 0) {
        ly_progrec rec;
        ly_err e = ly_store_program_get(t, v, &rec, NULL);
        if (e == LY_ENOTFOUND) {
            ly_rep_error(rp, rq->rq_type, rq->rq_id, LY_ENOTFOUND,
                         "no program version %u is held here", v);
            return LY_OK;
        }
        if (e != LY_OK)
            return e;
        int parts = ly_program_parts(rec.pr_len);
        if (!(rp->rp_events = calloc((size_t)parts, sizeof *rp->rp_events)))
            return LY_ENOMEM;
        for (int i = 0; i < parts; i++)
            if ((e = ly_store_event_get(t, rec.pr_win.pi_origin, rec.pr_win.pi_incarnation,
                                        rec.pr_win.pi_seq + (uint64_t)i, &rp->rp_events[i])) !=
                LY_OK)
                return e;
        rp->rp_nevents = (uint32_t)parts;
    }
    return s_prog_rows(sv, t, rq->rq_version, rp);
}

/* program-apply: a new version becomes the parts of one batch of this node. */
static ly_err s_program_apply(ly_service *sv, ly_txn *t, const ly_req *rq, ly_rep *rp,
                              ly_event *ev_out, int *created)
{
    ly_progdef *pd = malloc(sizeof *pd);
    ly_progrec *top = malloc(sizeof *top);
    ly_event *ev = malloc(sizeof *ev);
    ly_cust *c = malloc(sizeof *c);
    ly_err e = LY_ENOMEM;
    if (!pd || !top || !ev || !c)
        goto out;
    e = LY_OK;
    char why[200] = "";
    if (!rq->rq_blob || ly_progdef_decode(rq->rq_blob, rq->rq_blob_len, pd) != LY_OK ||
        ly_progdef_validate(pd, why, sizeof why) != LY_OK) {
        ly_rep_error(rp, rq->rq_type, rq->rq_id, LY_EINVAL,
                     "not a valid program definition%s%s (loyalctl program check FILE says why)",
                     why[0] ? ": " : "", why);
        goto out;
    }
    uint64_t hash = ly_progdef_hash(pd);
    size_t n;
    if ((e = ly_store_programs(t, 0, top, 1, &n)) != LY_OK)
        goto out;
    rp->rp_program = pd->pd_version;
    if (n == 1 && top->pr_version == pd->pd_version && top->pr_win.pi_hash == hash) {
        /* applied already (a retry, or the same file twice): nothing new */
        rp->rp_replayed = 1;
        e = s_prog_rows(sv, t, pd->pd_version, rp);
        if (e == LY_OK && rp->rp_nprograms > 1)
            rp->rp_nprograms = 1;
        goto out;
    }
    if (n == 1 && top->pr_version >= pd->pd_version) {
        ly_rep_error(rp, rq->rq_type, rq->rq_id, LY_ECONFLICT,
                     "version %u is not above the newest version held here (%u, \"%s\", applied "
                     "by %s at node %u%s); versions only increase: give the file a higher version",
                     pd->pd_version, top->pr_version, top->pr_name,
                     top->pr_win.pi_operator[0] ? top->pr_win.pi_operator : "?",
                     top->pr_win.pi_origin,
                     top->pr_version == pd->pd_version ? ", with different content" : "");
        goto out;
    }
    uint8_t *canon = malloc(LY_PD_ENC_MAX);
    size_t len = canon ? ly_progdef_encode(pd, canon, LY_PD_ENC_MAX) : 0;
    if (!canon || len == 0) {
        free(canon);
        e = canon ? LY_EINTERNAL : LY_ENOMEM;
        goto out;
    }
    int parts = ly_program_parts((int64_t)len);
    ly_intent in = {.in_type = LY_EV_PROGRAM,
                    .in_customer = "",
                    .in_reason = rq->rq_reason,
                    .in_operator = rq->rq_operator,
                    .in_blob = canon,
                    .in_blob_len = len,
                    .in_version = pd->pd_version,
                    .in_hash = hash};
    for (int part = 1; part <= parts && e == LY_OK; part++) {
        ly_refusal no;
        int applied;
        in.in_part = part;
        e = s_make(sv, t, &ly_rule_program, &in, "", hash, ev, c, &no, &applied, NULL);
        if (e == LY_OK && !applied) {
            /* the checks above passed, so this is a bug: the batch is dropped */
            LY_LOG(LY_ERROR, "service.program_part", "version=%u part=%d: %s", pd->pd_version, part,
                   no.rf_msg);
            e = LY_EINTERNAL;
        }
        if (e == LY_OK && ev_out)
            ev_out[part - 1] = *ev;
    }
    free(canon);
    if (e != LY_OK)
        goto out;
    *created = parts;
    LY_LOG(LY_INFO, "program.applied",
           "version=%u name=\"%s\" parts=%d bytes=%zu hash=%016llx operator=%s effective_ms=%lld",
           pd->pd_version, pd->pd_name, parts, len, (unsigned long long)hash, rq->rq_operator,
           (long long)pd->pd_effective_ms);
    if ((e = ly_service_refresh(sv, t)) == LY_OK &&
        (e = s_prog_rows(sv, t, pd->pd_version, rp)) == LY_OK && rp->rp_nprograms > 1)
        rp->rp_nprograms = 1;
out:
    free(pd);
    free(top);
    free(ev);
    free(c);
    return e;
}

ly_err ly_service_give_rights(ly_service *sv, ly_txn *t, const char *customer, uint16_t to,
                              int64_t want, ly_event *ev_out, int *created)
{
    *created = 0;
    ly_cust *c = malloc(sizeof *c);
    ly_event *ev = malloc(sizeof *ev);
    ly_err e = LY_ENOMEM;
    if (!c || !ev)
        goto out;
    ly_intent in = {
        .in_type = LY_EV_TRANSFER, .in_customer = customer, .in_amount = want, .in_to = to};
    ly_refusal no;
    int applied;
    e = s_make(sv, t, &ly_rule_transfer, &in, "", 0, ev, c, &no, &applied, NULL);
    if (e == LY_OK && applied) {
        *ev_out = *ev;
        *created = 1;
    }
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
    ly_err e = ly_service_refresh(sv, t);
    if (e != LY_OK)
        return e;
    switch (rq->rq_type) {
    case LY_MSG_PROGRAM:
        return s_program_show(sv, t, rq, rp);
    case LY_MSG_PROGRAM_APPLY:
        return s_program_apply(sv, t, rq, rp, ev_out, created);
    case LY_MSG_CUSTOMER:
        return s_customer(sv, t, rq, rp);
    case LY_MSG_STATUS:
        return s_status(sv, t, rp);
    case LY_MSG_EVENTS:
        return s_events(t, rq, rp);
    case LY_MSG_DEBTS:
        return s_debts(t, rq, rp);
    case LY_MSG_CONFLICTS:
        return s_conflicts(t, rq, rp);
    default:
        if (!ly_msgtype_is_mutation(rq->rq_type)) {
            ly_rep_error(rp, rq->rq_type, rq->rq_id, LY_EPROTO, "unknown request type %d",
                         rq->rq_type);
            return LY_OK;
        }
        return s_mutate(sv, t, rq, rp, ev_out, created);
    }
}
