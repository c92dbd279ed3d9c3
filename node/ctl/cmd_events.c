/* cmd_events.c -- `events`: the node's event log, one line or object per event. */
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/event.h"
#include "node/ctl/ctl.h"

/* A value for a `key=value` line: quoted when empty or holding spaces, quotes,
 * '=' or backslashes; control characters (never valid in stored text) as '?'. */
static void s_put_value(FILE *out, const char *s)
{
    if (*s && !strpbrk(s, " \t\"\\=")) {
        for (; *s; s++)
            fputc((unsigned char)*s < 0x20 ? '?' : *s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc((unsigned char)*s < 0x20 ? '?' : *s, out);
    }
    fputc('"', out);
}

void ctl_json_event_fields(ly_json *j, const ly_event *ev)
{
    char at[40], hash[17];
    ly_json_kuint(j, "origin", ev->ev_origin);
    ly_json_kuint(j, "incarnation", ev->ev_incarnation);
    ly_json_kuint(j, "seq", ev->ev_seq);
    ly_json_kuint(j, "hlc", ev->ev_hlc);
    ly_json_kstr(j, "at", ctl_iso(ev->ev_hlc, at, sizeof at));
    ly_json_kstr(j, "type", ly_evtype_name(ev->ev_type));
    if (ev->ev_ref_type)
        ly_json_kstr(j, "ref_type", ly_evtype_name(ev->ev_ref_type));
    else
        ly_json_knull(j, "ref_type");
    ly_json_kuint(j, "tier_from", ev->ev_tier_from);
    ly_json_kuint(j, "tier_to", ev->ev_tier_to);
    ly_json_kuint(j, "program", ev->ev_program);
    ly_json_kint(j, "qual_day", ev->ev_qual_day);
    ly_json_kint(j, "amount", ev->ev_amount);
    ly_json_kint(j, "points", ev->ev_points);
    ly_json_kint(j, "qual", ev->ev_qual);
    if (ev->ev_type == LY_EV_TRANSFER && ev->ev_to)
        ly_json_kuint(j, "to", ev->ev_to);
    else
        ly_json_knull(j, "to");
    ly_json_kstr(j, "req_hash", ctl_hex64(ev->ev_req_hash, hash, sizeof hash));
    ly_json_kstr(j, "customer", ev->ev_customer);
    ly_json_kstr(j, "txn", ev->ev_txn);
    ly_json_kstr(j, "ref_txn", ev->ev_ref_txn);
    ly_json_kstr(j, "category", ev->ev_category);
    ly_json_kstr(j, "reason", ev->ev_reason);
    ly_json_kstr(j, "operator", ev->ev_operator);
    if (ev->ev_type == LY_EV_PROGRAM) { /* a part of program version ev_program */
        ly_json_kuint(j, "part", ev->ev_part);
        ly_json_kuint(j, "parts", ev->ev_parts);
        ly_json_kuint(j, "part_bytes", ev->ev_blob_len);
    }
    ly_json_karray(j, "fields");
    for (int i = 0; i < LY_PF_COUNT; i++)
        if (ev->ev_fields & ctl_pf[i].bit)
            ly_json_str(j, ctl_pf[i].name);
    ly_json_end(j);
    ly_json_kobject(j, "profile");
    for (int i = 0; i < LY_PF_COUNT; i++)
        if (ev->ev_fields & ctl_pf[i].bit)
            ly_json_kstr(j, ctl_pf[i].name, ctl_pf_value(&ev->ev_profile, i));
    ly_json_end(j);
}

static void s_json_event(ly_json *j, const ly_event *ev)
{
    ly_json_object(j);
    ctl_json_event_fields(j, ev);
    ly_json_end(j);
}

/* One line: ORIGIN:SEQ TIME TYPE CUSTOMER POINTS key=value...; for a
 * transfer, POINTS is the points moved and "→ node N" follows it. */
static void s_print_event(const ly_event *ev)
{
    char at[40];
    int transfer = ev->ev_type == LY_EV_TRANSFER;
    printf("%u:%" PRIu64 " %s %s ", (unsigned)ev->ev_origin, ev->ev_seq,
           ctl_iso(ev->ev_hlc, at, sizeof at), ly_evtype_name(ev->ev_type));
    s_put_value(stdout, ev->ev_customer);
    if (transfer)
        printf(" %s \u2192 node %u txn=", ctl_num(ev->ev_points), (unsigned)ev->ev_to);
    else if (ev->ev_type == LY_EV_PROGRAM)
        printf(" version %" PRIu32 " part %u/%u (%u of %" PRId64 " bytes) txn=", ev->ev_program,
               (unsigned)ev->ev_part, (unsigned)ev->ev_parts, (unsigned)ev->ev_blob_len,
               ev->ev_amount);
    else
        printf(" %s txn=", ctl_num_sign(ev->ev_points, 1));
    s_put_value(stdout, ev->ev_txn);
    if (ev->ev_type != LY_EV_ADJUST && ev->ev_type != LY_EV_PROGRAM && !transfer &&
        ev->ev_amount != 0)
        printf(" amount=%" PRId64, ev->ev_amount);
    if (ev->ev_ref_txn[0]) {
        printf(" ref=");
        s_put_value(stdout, ev->ev_ref_txn);
        printf(" ref_type=%s", ly_evtype_name(ev->ev_ref_type));
    }
    static const struct {
        const char *key;
        size_t off;
    } texts[] = {{"category", offsetof(ly_event, ev_category)},
                 {"reason", offsetof(ly_event, ev_reason)},
                 {"operator", offsetof(ly_event, ev_operator)}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        const char *v = (const char *)ev + texts[i].off;
        if (v[0]) {
            printf(" %s=", texts[i].key);
            s_put_value(stdout, v);
        }
    }
    for (int i = 0; i < LY_PF_COUNT; i++)
        if (ev->ev_fields & ctl_pf[i].bit) {
            printf(" %s=", ctl_pf[i].name);
            s_put_value(stdout, ctl_pf_value(&ev->ev_profile, i));
        }
    if (ev->ev_tier_from != ev->ev_tier_to)
        printf(" tier=%u->%u", (unsigned)ev->ev_tier_from, (unsigned)ev->ev_tier_to);
    printf(" incarnation=%" PRIu32 " program=%" PRIu32 "\n", ev->ev_incarnation, ev->ev_program);
}

static void s_show_events(const ctl_ctx *x, const ly_req *rq, const ly_rep *rp)
{
    uint32_t n = rp->rp_events ? rp->rp_nevents : 0;
    if (x->json) {
        ly_json j;
        ly_json_init(&j, stdout);
        ly_json_object(&j);
        ly_json_karray(&j, "events");
        for (uint32_t i = 0; i < n; i++)
            s_json_event(&j, &rp->rp_events[i]);
        ly_json_end(&j);
        ly_json_end(&j);
        ly_json_finish(&j);
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        s_print_event(&rp->rp_events[i]);
    if (n > 0 && n >= rq->rq_limit) {
        const ly_event *last = &rp->rp_events[n - 1];
        fprintf(stderr,
                "loyalctl: stopped at the limit of %" PRIu32 " events; more of origin %u with "
                "--origin %u --since %" PRIu64 "\n",
                rq->rq_limit, (unsigned)last->ev_origin, (unsigned)last->ev_origin, last->ev_seq);
    }
}

int ctl_run_events(ctl_ctx *x)
{
    ly_req rq;
    int64_t origin = 0, since = 0, limit = LY_EVENTS_MAX;
    int rc = 0;
    ly_req_init(&rq, LY_MSG_EVENTS);
    if ((x->opt[CTL_O_ORIGIN] &&
         (rc = ctl_int(x, "origin", x->opt[CTL_O_ORIGIN], 1, UINT16_MAX, &origin))) ||
        (x->opt[CTL_O_SINCE] &&
         (rc = ctl_int(x, "since", x->opt[CTL_O_SINCE], 0, INT64_MAX, &since))) ||
        (x->opt[CTL_O_LIMIT] &&
         (rc = ctl_int(x, "limit", x->opt[CTL_O_LIMIT], 1, LY_EVENTS_MAX, &limit))))
        return rc;
    rq.rq_origin = (uint16_t)origin;
    rq.rq_since = (uint64_t)since;
    rq.rq_limit = (uint32_t)limit;
    return ctl_call(x, &rq, s_show_events);
}
