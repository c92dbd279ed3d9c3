#include "common/ledger.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/hash.h"
#include "common/record.h"
#include "common/rules.h"

void ly_program_default(ly_program *pg)
{
    memset(pg, 0, sizeof *pg);
    pg->pg_version = 1;
    pg->pg_rate = 1000;
    pg->pg_minor_units = 100;
    pg->pg_join_bonus = 0;
    pg->pg_window_days = 365;
    pg->pg_ntiers = 3;
    static const ly_tier tiers[] = {
        {"Silver", 0, 1000}, {"Gold", 1000, 1250}, {"Platinum", 5000, 1500}};
    memcpy(pg->pg_tiers, tiers, sizeof tiers);
}

static ly_err s_invalid(char *why, size_t why_len, const char *msg, const char *name)
{
    if (why && why_len)
        snprintf(why, why_len, msg, name);
    return LY_EINVAL;
}

ly_err ly_program_validate(const ly_program *pg, char *why, size_t why_len)
{
    if (pg->pg_rate < 1 || pg->pg_rate > 1000000)
        return s_invalid(why, why_len, "points_per_unit must be 0.001..1000%s", "");
    if (pg->pg_minor_units < 1 || pg->pg_minor_units > 1000000)
        return s_invalid(why, why_len, "minor_units must be 1..1000000%s", "");
    if (pg->pg_join_bonus < 0 || pg->pg_join_bonus > 1000000000)
        return s_invalid(why, why_len, "join_bonus must be 0..1000000000%s", "");
    if (pg->pg_window_days < 1 || pg->pg_window_days > LY_WINDOW_DAYS_MAX)
        return s_invalid(why, why_len, "tier_window_days must be 1..730%s", "");
    if (pg->pg_ntiers < 1 || pg->pg_ntiers > LY_TIERS_MAX)
        return s_invalid(why, why_len, "there must be 1..8 tiers%s", "");
    if (pg->pg_tiers[0].ti_threshold != 0)
        return s_invalid(why, why_len, "the lowest tier '%s' must have threshold 0",
                         pg->pg_tiers[0].ti_name);
    for (int i = 0; i < pg->pg_ntiers; i++) {
        const ly_tier *t = &pg->pg_tiers[i];
        if (!ly_id_valid(t->ti_name) || strlen(t->ti_name) > LY_TIER_NAME_MAX)
            return s_invalid(why, why_len, "bad tier name '%s'", t->ti_name);
        if (t->ti_mult < 1 || t->ti_mult > 100000)
            return s_invalid(why, why_len, "tier '%s': multiplier must be 0.001..100", t->ti_name);
        if (i > 0 && t->ti_threshold <= pg->pg_tiers[i - 1].ti_threshold)
            return s_invalid(why, why_len,
                             "tier '%s': thresholds must increase strictly from tier to tier",
                             t->ti_name);
        if (t->ti_threshold < 0 || t->ti_threshold > LY_AMOUNT_MAX)
            return s_invalid(why, why_len, "tier '%s': bad threshold", t->ti_name);
        for (int j = 0; j < i; j++)
            if (strcmp(pg->pg_tiers[j].ti_name, t->ti_name) == 0)
                return s_invalid(why, why_len, "tier '%s' is defined twice", t->ti_name);
    }
    if (pg->pg_ncategories < 0 || pg->pg_ncategories > LY_CATEGORIES_MAX)
        return s_invalid(why, why_len, "at most 32 categories%s", "");
    for (int i = 0; i < pg->pg_ncategories; i++) {
        const ly_category *c = &pg->pg_categories[i];
        if (!ly_id_valid(c->ca_name) || strlen(c->ca_name) > LY_CATEGORY_MAX)
            return s_invalid(why, why_len, "bad category name '%s'", c->ca_name);
        if (c->ca_mult > 100000)
            return s_invalid(why, why_len, "category '%s': multiplier must be 0..100", c->ca_name);
        for (int j = 0; j < i; j++)
            if (strcmp(pg->pg_categories[j].ca_name, c->ca_name) == 0)
                return s_invalid(why, why_len, "category '%s' is defined twice", c->ca_name);
    }
    return LY_OK;
}

uint32_t ly_category_mult(const ly_program *pg, const char *category)
{
    if (category && category[0])
        for (int i = 0; i < pg->pg_ncategories; i++)
            if (strcmp(pg->pg_categories[i].ca_name, category) == 0)
                return pg->pg_categories[i].ca_mult;
    return LY_MILLI;
}

int64_t ly_earn_points(const ly_program *pg, int64_t amount, int tier, const char *category,
                       int64_t *qual)
{
    if (amount <= 0) {
        if (qual)
            *qual = 0;
        return 0;
    }
    if (tier < 0)
        tier = 0;
    if (tier >= pg->pg_ntiers)
        tier = pg->pg_ntiers - 1;
    /* All factors are thousandths: divide by minor_units * 1000^3 once, at the end,
     * so rounding happens exactly once (floor). */
    unsigned __int128 base = (unsigned __int128)amount * pg->pg_rate;
    unsigned __int128 div = (unsigned __int128)pg->pg_minor_units * LY_MILLI;
    unsigned __int128 q = base / div;
    unsigned __int128 full = base * pg->pg_tiers[tier].ti_mult * ly_category_mult(pg, category);
    unsigned __int128 p = full / (div * LY_MILLI * LY_MILLI);
    if (qual)
        *qual = q > (unsigned __int128)LY_AMOUNT_MAX ? -1 : (int64_t)q;
    if (p > (unsigned __int128)LY_AMOUNT_MAX)
        return -1;
    return (int64_t)p;
}

void ly_cust_init(ly_cust *c, const char *id)
{
    memset(c, 0, sizeof *c);
    ly_strlcpy(c->cu_id, id, sizeof c->cu_id);
}

static char *s_pf_field(ly_profile *p, int i, size_t *cap)
{
    switch (i) {
    case 0:
        *cap = sizeof p->pf_name;
        return p->pf_name;
    case 1:
        *cap = sizeof p->pf_birthday;
        return p->pf_birthday;
    case 2:
        *cap = sizeof p->pf_email;
        return p->pf_email;
    case 3:
        *cap = sizeof p->pf_phone;
        return p->pf_phone;
    default:
        *cap = sizeof p->pf_prefs;
        return p->pf_prefs;
    }
}

/* Last writer wins per field, by (hlc, origin); an event never ties with itself. */
void ly_cust_profile_apply(ly_cust *c, const ly_event *ev)
{
    for (int i = 0; i < LY_PF_COUNT; i++) {
        if (!(ev->ev_fields & (1u << i)))
            continue;
        int newer = ev->ev_hlc > c->cu_pf_hlc[i] ||
                    (ev->ev_hlc == c->cu_pf_hlc[i] && ev->ev_origin > c->cu_pf_origin[i]);
        if (!newer)
            continue;
        size_t cap;
        char *dst = s_pf_field(&c->cu_profile, i, &cap);
        const char *src = s_pf_field((ly_profile *)&ev->ev_profile, i, &cap);
        ly_strlcpy(dst, src, cap);
        c->cu_pf_hlc[i] = ev->ev_hlc;
        c->cu_pf_origin[i] = ev->ev_origin;
    }
}

/* Add a qualifying change to its day's bucket. Buckets older than
 * LY_QUAL_KEEP_DAYS before the newest day are dropped; since the newest day only
 * grows, what is kept depends only on the set of events, not their order. */
void ly_cust_qual_add(ly_cust *c, int32_t day, int64_t delta)
{
    if (delta == 0)
        return;
    if (c->cu_nqual == 0 && c->cu_qual_maxday == 0)
        c->cu_qual_maxday = day;
    if (day > c->cu_qual_maxday)
        c->cu_qual_maxday = day;
    int32_t floor = c->cu_qual_maxday - LY_QUAL_KEEP_DAYS;
    int drop = 0;
    while (drop < c->cu_nqual && c->cu_qual[drop].qb_day <= floor)
        drop++;
    if (drop) {
        memmove(c->cu_qual, c->cu_qual + drop, (size_t)(c->cu_nqual - drop) * sizeof *c->cu_qual);
        c->cu_nqual -= drop;
    }
    if (day <= floor)
        return;
    int i = 0;
    while (i < c->cu_nqual && c->cu_qual[i].qb_day < day)
        i++;
    if (i < c->cu_nqual && c->cu_qual[i].qb_day == day) {
        c->cu_qual[i].qb_points += delta;
        if (c->cu_qual[i].qb_points == 0) {
            memmove(c->cu_qual + i, c->cu_qual + i + 1,
                    (size_t)(c->cu_nqual - i - 1) * sizeof *c->cu_qual);
            c->cu_nqual--;
        }
        return;
    }
    /* Days in (floor, maxday] are at most LY_QUAL_KEEP_DAYS: there is always room. */
    memmove(c->cu_qual + i + 1, c->cu_qual + i, (size_t)(c->cu_nqual - i) * sizeof *c->cu_qual);
    c->cu_qual[i].qb_day = day;
    c->cu_qual[i].qb_points = delta;
    c->cu_nqual++;
}

/* Add `delta` to node's rights, keeping the array sorted and free of zeros. */
void ly_cust_rights_add(ly_cust *c, uint16_t node, int64_t delta)
{
    if (delta == 0)
        return;
    int i = 0;
    while (i < c->cu_nrights && c->cu_rights[i].rt_node < node)
        i++;
    if (i < c->cu_nrights && c->cu_rights[i].rt_node == node) {
        c->cu_rights[i].rt_points += delta;
        if (c->cu_rights[i].rt_points == 0) {
            memmove(c->cu_rights + i, c->cu_rights + i + 1,
                    (size_t)(c->cu_nrights - i - 1) * sizeof *c->cu_rights);
            c->cu_nrights--;
        }
        return;
    }
    if (c->cu_nrights == LY_RIGHTS_MAX) {
        /* Rights at more nodes than LY_RIGHTS_MAX: credit the last slot's node.
         * The sum (the balance) stays right, so nothing can be spent twice; the
         * points are only attributed to another node. */
        c->cu_rights[LY_RIGHTS_MAX - 1].rt_points += delta;
        return;
    }
    memmove(c->cu_rights + i + 1, c->cu_rights + i,
            (size_t)(c->cu_nrights - i) * sizeof *c->cu_rights);
    c->cu_rights[i].rt_node = node;
    c->cu_rights[i].rt_points = delta;
    c->cu_nrights++;
}

void ly_cust_credit(ly_cust *c, const ly_event *ev, int sign)
{
    c->cu_net += sign * ev->ev_points;
    ly_cust_rights_add(c, ev->ev_origin, sign * ev->ev_points);
}

int64_t ly_cust_rights(const ly_cust *c, uint16_t node)
{
    for (int i = 0; i < c->cu_nrights; i++)
        if (c->cu_rights[i].rt_node == node)
            return c->cu_rights[i].rt_points;
    return 0;
}

int64_t ly_cust_redeemable(const ly_cust *c, uint16_t node)
{
    int64_t r = ly_cust_rights(c, node), b = ly_cust_balance(c);
    r = r < b ? r : b;
    return r > 0 ? r : 0;
}

void ly_cust_apply_as(ly_cust *c, const ly_event *ev, int counts)
{
    c->cu_events++;
    if (ev->ev_hlc > c->cu_last_hlc)
        c->cu_last_hlc = ev->ev_hlc;
    const ly_rule *ru = ly_rule_for(ev->ev_type);
    if (!ru) /* a valid event always has one (ly_event_validate) */
        return;
    if (ru->ru_note)
        ru->ru_note(c, ev);
    if (counts)
        ru->ru_fold(c, ev, 1);
    else
        c->cu_voided++;
}

void ly_cust_apply(ly_cust *c, const ly_event *ev)
{
    ly_cust_apply_as(c, ev, 1);
}

void ly_cust_unapply(ly_cust *c, const ly_event *ev)
{
    const ly_rule *ru = ly_rule_for(ev->ev_type);
    if (!ru)
        return;
    ru->ru_fold(c, ev, -1);
    c->cu_voided++;
}

int64_t ly_cust_qualifying(const ly_cust *c, const ly_program *pg, int32_t day)
{
    int64_t sum = 0;
    int32_t from = day - pg->pg_window_days;
    for (int i = 0; i < c->cu_nqual; i++)
        if (c->cu_qual[i].qb_day > from && c->cu_qual[i].qb_day <= day)
            sum += c->cu_qual[i].qb_points;
    return sum;
}

int ly_tier_for(const ly_program *pg, int64_t qualifying)
{
    int t = 0;
    for (int i = 1; i < pg->pg_ntiers; i++)
        if (qualifying >= pg->pg_tiers[i].ti_threshold)
            t = i;
    return t;
}

int ly_tier_at(const ly_program *pg, const ly_cust *c, int32_t day)
{
    return ly_tier_for(pg, ly_cust_qualifying(c, pg, day));
}

/* Customer record (little-endian, version 1): u8 version, id, u32 enrolls,
 * u64 enrolled_hlc, last_hlc, events, i64 net, lifetime, redeemed, profile
 * strings, per field u64 hlc + u16 origin, i32 maxday, u16 n, n x (i32 day, i64 points),
 * u16 m, m x (u16 node, i64 rights); then, only when needed (so older states
 * keep their bytes and digests): u32 voided (if nonzero or a manual tier
 * follows), and the manual tier: name, i32 until, u64 hlc, u16 origin. */
#define S_CUST_VERSION 2

size_t ly_cust_encode(const ly_cust *c, uint8_t *buf)
{
    ly_wr w = {buf};
    ly_wr_int(&w, S_CUST_VERSION, 1);
    ly_wr_str(&w, c->cu_id);
    ly_wr_int(&w, c->cu_enrolls, 4);
    ly_wr_int(&w, c->cu_enrolled_hlc, 8);
    ly_wr_int(&w, c->cu_last_hlc, 8);
    ly_wr_int(&w, c->cu_events, 8);
    ly_wr_int(&w, (uint64_t)c->cu_net, 8);
    ly_wr_int(&w, (uint64_t)c->cu_lifetime, 8);
    ly_wr_int(&w, (uint64_t)c->cu_redeemed, 8);
    for (int i = 0; i < LY_PF_COUNT; i++) {
        size_t cap;
        ly_wr_str(&w, s_pf_field((ly_profile *)&c->cu_profile, i, &cap));
        ly_wr_int(&w, c->cu_pf_hlc[i], 8);
        ly_wr_int(&w, c->cu_pf_origin[i], 2);
    }
    ly_wr_int(&w, (uint32_t)c->cu_qual_maxday, 4);
    ly_wr_int(&w, (uint64_t)c->cu_nqual, 2);
    for (int i = 0; i < c->cu_nqual; i++) {
        ly_wr_int(&w, (uint32_t)c->cu_qual[i].qb_day, 4);
        ly_wr_int(&w, (uint64_t)c->cu_qual[i].qb_points, 8);
    }
    ly_wr_int(&w, (uint64_t)c->cu_nrights, 2);
    for (int i = 0; i < c->cu_nrights; i++) {
        ly_wr_int(&w, c->cu_rights[i].rt_node, 2);
        ly_wr_int(&w, (uint64_t)c->cu_rights[i].rt_points, 8);
    }
    /* Written only when nonzero, so a state without duplicates keeps the bytes
     * (and digest) it had before once keys existed. */
    if (c->cu_voided || c->cu_ovr_hlc)
        ly_wr_int(&w, c->cu_voided, 4);
    if (c->cu_ovr_hlc) { /* likewise: only a customer given a manual tier has one */
        ly_wr_str(&w, c->cu_ovr_tier);
        ly_wr_int(&w, (uint32_t)c->cu_ovr_until, 4);
        ly_wr_int(&w, c->cu_ovr_hlc, 8);
        ly_wr_int(&w, c->cu_ovr_origin, 2);
    }
    return (size_t)(w.w_p - buf);
}

/* ly_cust_decode zeroes everything before cu_qual and sets cu_nrights: no
 * other field may follow cu_qual. */
_Static_assert(offsetof(ly_cust, cu_nrights) ==
                   offsetof(ly_cust, cu_qual) + sizeof(((ly_cust *)0)->cu_qual),
               "a field after cu_qual would be left unset by ly_cust_decode");
_Static_assert(offsetof(ly_cust, cu_rights) + sizeof(((ly_cust *)0)->cu_rights) == sizeof(ly_cust),
               "cu_rights must be the last field of ly_cust");

ly_err ly_cust_decode(const uint8_t *buf, size_t len, ly_cust *c)
{
    ly_rd r = {buf, buf + len, 0};
    /* Everything before the bucket and rights arrays; their entries are
     * written up to their counts, and nothing reads past a count. */
    memset(c, 0, offsetof(ly_cust, cu_qual));
    c->cu_nrights = 0;
    if (ly_rd_int(&r, 1) != S_CUST_VERSION)
        return LY_EVERSION;
    ly_rd_str(&r, c->cu_id, sizeof c->cu_id);
    c->cu_enrolls = (uint32_t)ly_rd_int(&r, 4);
    c->cu_enrolled_hlc = ly_rd_int(&r, 8);
    c->cu_last_hlc = ly_rd_int(&r, 8);
    c->cu_events = ly_rd_int(&r, 8);
    c->cu_net = (int64_t)ly_rd_int(&r, 8);
    c->cu_lifetime = (int64_t)ly_rd_int(&r, 8);
    c->cu_redeemed = (int64_t)ly_rd_int(&r, 8);
    for (int i = 0; i < LY_PF_COUNT; i++) {
        size_t cap;
        char *dst = s_pf_field(&c->cu_profile, i, &cap);
        ly_rd_str(&r, dst, cap);
        c->cu_pf_hlc[i] = ly_rd_int(&r, 8);
        c->cu_pf_origin[i] = (uint16_t)ly_rd_int(&r, 2);
    }
    c->cu_qual_maxday = (int32_t)(uint32_t)ly_rd_int(&r, 4);
    uint64_t n = ly_rd_int(&r, 2);
    if (n > LY_QUAL_BUCKETS_MAX)
        return LY_EPROTO;
    c->cu_nqual = (int)n;
    for (int i = 0; i < c->cu_nqual; i++) {
        c->cu_qual[i].qb_day = (int32_t)(uint32_t)ly_rd_int(&r, 4);
        c->cu_qual[i].qb_points = (int64_t)ly_rd_int(&r, 8);
    }
    uint64_t m = ly_rd_int(&r, 2);
    if (m > LY_RIGHTS_MAX)
        return LY_EPROTO;
    c->cu_nrights = (int)m;
    for (int i = 0; i < c->cu_nrights; i++) {
        c->cu_rights[i].rt_node = (uint16_t)ly_rd_int(&r, 2);
        c->cu_rights[i].rt_points = (int64_t)ly_rd_int(&r, 8);
    }
    int has_voided = r.r_p < r.r_end;
    if (has_voided)
        c->cu_voided = (uint32_t)ly_rd_int(&r, 4);
    if (r.r_p < r.r_end) {
        ly_rd_str(&r, c->cu_ovr_tier, sizeof c->cu_ovr_tier);
        c->cu_ovr_until = (int32_t)(uint32_t)ly_rd_int(&r, 4);
        c->cu_ovr_hlc = ly_rd_int(&r, 8);
        c->cu_ovr_origin = (uint16_t)ly_rd_int(&r, 2);
        if (c->cu_ovr_hlc == 0)
            return LY_EPROTO; /* not the canonical form */
    } else if (has_voided && c->cu_voided == 0) {
        return LY_EPROTO; /* a zero count is written only before a manual tier */
    }
    if (!ly_rd_done(&r))
        return LY_EPROTO;
    return LY_OK;
}

uint64_t ly_cust_hash(const ly_cust *c)
{
    uint8_t buf[LY_CUST_ENC_MAX];
    size_t n = ly_cust_encode(c, buf);
    return ly_hash(buf, n);
}
