#include "node/waits.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "node/service.h"

struct ly_waits {
    const ly_config *w_cf;
    ly_repl *w_repl;
    ly_wait *w_pending;
    uint32_t w_npending, w_cap;
    uint64_t w_seen_transfers; /* ly_repl_transfers_in at the last take */
    struct {
        char pf_customer[LY_ID_MAX + 1];
        uint64_t pf_at;
    } w_prefetch[LY_WAITS_PREFETCH_SLOTS];
    int w_prefetch_next;
    ly_cust *w_cust; /* scratch */
    ly_metric *w_gauge;
};

ly_waits *ly_waits_new(const ly_config *cf, ly_repl *repl, ly_metrics *reg)
{
    ly_waits *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->w_cf = cf;
    w->w_repl = repl;
    w->w_cap = cf->cf_batch_max < LY_WAITS_PENDING_MAX ? cf->cf_batch_max : LY_WAITS_PENDING_MAX;
    w->w_pending = calloc(w->w_cap ? w->w_cap : 1, sizeof *w->w_pending);
    w->w_cust = malloc(sizeof *w->w_cust);
    w->w_gauge =
        ly_metrics_gauge(reg, "loyal_rights_pending",
                         "redemptions waiting for rights from peers now", "requests", NULL);
    if (!w->w_pending || !w->w_cust || !w->w_gauge) {
        ly_waits_destroy(&w);
        return NULL;
    }
    return w;
}

void ly_waits_destroy(ly_waits **wp)
{
    if (!wp || !*wp)
        return;
    if ((*wp)->w_gauge)
        ly_metric_set((*wp)->w_gauge, 0);
    free((*wp)->w_pending);
    free((*wp)->w_cust);
    free(*wp);
    *wp = NULL;
}

uint32_t ly_waits_count(const ly_waits *w)
{
    return w->w_npending;
}

/* Ask peers for the rights a request lacks. Returns 1 if anyone was asked. */
static int s_want_rights(ly_waits *w, ly_txn *t, const char *customer, int64_t need)
{
    if (need <= 0 || w->w_cf->cf_npeers == 0)
        return 0;
    if (ly_store_cust_get(t, customer, w->w_cust) != LY_OK)
        return 0;
    return ly_repl_want_rights(w->w_repl, w->w_cust, need) > 0;
}

void ly_waits_prefetch(ly_waits *w, ly_txn *t, const ly_rep *rp, uint64_t now)
{
    if (rp->rp_local_rights >= rp->rp_balance)
        return;
    for (int i = 0; i < LY_WAITS_PREFETCH_SLOTS; i++)
        if (now - w->w_prefetch[i].pf_at < LY_WAITS_PREFETCH_MS &&
            strcmp(w->w_prefetch[i].pf_customer, rp->rp_customer) == 0)
            return;
    if (!s_want_rights(w, t, rp->rp_customer, rp->rp_balance - rp->rp_local_rights))
        return;
    ly_strlcpy(w->w_prefetch[w->w_prefetch_next].pf_customer, rp->rp_customer,
               sizeof w->w_prefetch[0].pf_customer);
    w->w_prefetch[w->w_prefetch_next].pf_at = now;
    w->w_prefetch_next = (w->w_prefetch_next + 1) % LY_WAITS_PREFETCH_SLOTS;
}

int ly_waits_defer(ly_waits *w, ly_txn *t, const ly_req *rq, const ly_rep *rp, uint64_t *deadline,
                   uint64_t now)
{
    if (w->w_cf->cf_rights_wait_ms == 0)
        return 0;
    if (*deadline)
        return now < *deadline; /* asked already: wait on */
    int64_t want = rq->rq_type == LY_MSG_REDEEM ? rq->rq_amount : -rq->rq_amount;
    if (w->w_npending >= w->w_cap || !s_want_rights(w, t, rq->rq_customer, want - rp->rp_available))
        return 0;
    *deadline = now + w->w_cf->cf_rights_wait_ms;
    return 1;
}

int ly_waits_attach(ly_waits *w, const ly_req *rq, const uint8_t *ident, size_t ident_len)
{
    if (!ly_msgtype_is_mutation(rq->rq_type))
        return 0;
    for (uint32_t i = 0; i < w->w_npending; i++) {
        ly_wait *wt = &w->w_pending[i];
        if (strcmp(wt->wt_req.rq_txn, rq->rq_txn) != 0)
            continue;
        if (ly_req_fingerprint(&wt->wt_req) != ly_req_fingerprint(rq))
            return -1;
        memcpy(wt->wt_ident, ident, ident_len);
        wt->wt_ident_len = ident_len;
        wt->wt_req.rq_id = rq->rq_id;
        return 1;
    }
    return 0;
}

int ly_waits_park(ly_waits *w, const ly_req *rq, const uint8_t *ident, size_t ident_len,
                  uint64_t deadline)
{
    if (w->w_npending >= w->w_cap || ident_len > LY_WAITS_IDENT_MAX)
        return -1;
    ly_wait *wt = &w->w_pending[w->w_npending++];
    memcpy(wt->wt_ident, ident, ident_len);
    wt->wt_ident_len = ident_len;
    wt->wt_req = *rq;
    wt->wt_req.rq_blob = NULL; /* the batch item keeps what it owns (only redemptions wait) */
    wt->wt_req.rq_blob_len = 0;
    wt->wt_deadline = deadline;
    ly_metric_set(w->w_gauge, w->w_npending);
    return 0;
}

const ly_wait *ly_waits_take(ly_waits *w, uint64_t now, uint32_t *n)
{
    *n = 0;
    if (w->w_npending == 0)
        return NULL;
    uint64_t in = ly_repl_transfers_in(w->w_repl);
    int due = in != w->w_seen_transfers;
    for (uint32_t i = 0; i < w->w_npending && !due; i++)
        due = w->w_pending[i].wt_deadline <= now;
    if (!due)
        return NULL;
    w->w_seen_transfers = in;
    *n = w->w_npending;
    w->w_npending = 0;
    ly_metric_set(w->w_gauge, 0);
    return w->w_pending;
}

int ly_waits_timeout(const ly_waits *w, uint64_t now, int max_ms)
{
    /* Rights arrived for a waiting redemption: answer it now, not at the next tick. */
    if (w->w_npending > 0 && ly_repl_transfers_in(w->w_repl) != w->w_seen_transfers)
        return 0;
    uint64_t wait = max_ms < 0 ? UINT64_MAX : (uint64_t)max_ms;
    for (uint32_t i = 0; i < w->w_npending; i++) {
        uint64_t d = w->w_pending[i].wt_deadline;
        uint64_t left = d > now ? d - now : 0;
        if (left < wait)
            wait = left;
    }
    return wait == UINT64_MAX ? -1 : (int)wait;
}
