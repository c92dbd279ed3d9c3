/* codec_fuzz.c -- libFuzzer target for the client protocol decoders.
 *
 * Feeds every input to ly_req_decode, ly_rep_decode and ly_req_peek_id, and
 * checks, beyond "no crash, no sanitizer report":
 *  - the decoders return only the errors codec.h lists;
 *  - a decoded request re-encodes, decodes again to the same struct (and the
 *    same program bytes, which live on the heap), and re-encodes to the same
 *    bytes; ly_req_peek_id finds its id; what it owns is freed, so
 *    LeakSanitizer sees a decoder that leaks;
 *  - a decoded reply holds no more rows than the limits allow, and only rows
 *    and events within contract;
 *  - a decoded reply that re-encodes (the reply decoder is lenient, so it may
 *    hold what the encoder refuses or leaves out) decodes again to the same
 *    peer, debt, program and rights rows, and re-encodes to the same bytes.
 * Any violation aborts, which libFuzzer reports as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/codec.h"
#include "proto/msg.h"

#define S_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "codec_fuzz: check failed: %s (line %d)\n", #cond, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void s_fuzz_req(const uint8_t *data, size_t size)
{
    ly_req rq, rq2;
    char why[256];
    ly_err rc = ly_req_decode(data, size, &rq, why, sizeof why);
    S_CHECK(rc == LY_OK || rc == LY_EPROTO || rc == LY_EINVAL || rc == LY_EVERSION ||
            rc == LY_ETOOBIG);
    S_CHECK(rc == LY_OK ? why[0] == '\0' : why[0] != '\0');
    uint64_t peek = ly_req_peek_id(data, size);
    if (rc != LY_OK) {
        ly_req_fini(&rq); /* it may hold a program's bytes read before the fault */
        return;
    }
    S_CHECK(peek == rq.rq_id);
    S_CHECK(ly_req_check(&rq, why, sizeof why) == LY_OK);
    S_CHECK((rq.rq_blob != NULL) == (rq.rq_blob_len > 0));
    S_CHECK(rq.rq_blob_len <= LY_PROGRAM_BYTES_MAX);

    uint8_t *b1 = NULL, *b2 = NULL;
    size_t n1 = 0, n2 = 0;
    S_CHECK(ly_req_encode(&rq, &b1, &n1) == LY_OK);
    S_CHECK(ly_req_decode(b1, n1, &rq2, why, sizeof why) == LY_OK);
    /* The program's bytes are on the heap: compare them, then the rest. */
    S_CHECK(rq2.rq_blob_len == rq.rq_blob_len);
    if (rq.rq_blob_len > 0)
        S_CHECK(memcmp(rq.rq_blob, rq2.rq_blob, rq.rq_blob_len) == 0);
    uint8_t *keep = rq2.rq_blob;
    rq2.rq_blob = rq.rq_blob;
    S_CHECK(memcmp(&rq, &rq2, sizeof rq) == 0);
    rq2.rq_blob = keep;
    S_CHECK(ly_req_encode(&rq2, &b2, &n2) == LY_OK);
    S_CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0);
    free(b1);
    free(b2);
    ly_req_fini(&rq2);
    ly_req_fini(&rq);
}

static void s_fuzz_rep(const uint8_t *data, size_t size)
{
    static ly_rep rp, rp2; /* large: kept off the stack */
    char why[256];
    ly_err rc = ly_rep_decode(data, size, &rp, why, sizeof why);
    S_CHECK(rc == LY_OK || rc == LY_EPROTO || rc == LY_EVERSION || rc == LY_ETOOBIG ||
            rc == LY_ENOMEM);
    S_CHECK(rp.rp_nevents <= LY_EVENTS_MAX && rp.rp_nhist <= LY_HIST_MAX &&
            rp.rp_nrights <= LY_RIGHTS_REPLY_MAX && rp.rp_ndebts <= LY_DEBTS_MAX);
    S_CHECK(rp.rp_nhist == 0 || rp.rp_hist != NULL);
    if (rp.rp_status) {
        S_CHECK(rp.rp_status->ns_nvv <= LY_VV_MAX &&
                rp.rp_status->ns_npeers <= LY_STATUS_PEERS_MAX);
        S_CHECK((rp.rp_status->ns_npeers == 0) == (rp.rp_status->ns_peers == NULL));
    }
    /* A successful status reply always carries its status. */
    S_CHECK(rc != LY_OK || rp.rp_type != LY_MSG_STATUS || rp.rp_err != LY_OK || rp.rp_status);
    S_CHECK((rp.rp_ndebts == 0) == (rp.rp_debts == NULL));
    S_CHECK(rp.rp_nprograms <= LY_PROGRAMS_MAX && (rp.rp_nprograms == 0 || rp.rp_programs));
    if (rc != LY_OK) {
        ly_rep_fini(&rp);
        return;
    }
    S_CHECK(rp.rp_err < LY_ERR_COUNT);
    for (uint32_t i = 0; i < rp.rp_nrights; i++)
        S_CHECK(rp.rp_rights[i].node != 0);
    for (uint32_t i = 0; i < rp.rp_ndebts; i++)
        S_CHECK(rp.rp_debts[i].de_customer[0] != '\0');
    for (uint32_t i = 0; i < rp.rp_nevents; i++)
        S_CHECK(ly_event_validate(&rp.rp_events[i]) == LY_OK);
    uint8_t *b1 = NULL, *b2 = NULL;
    size_t n1 = 0, n2 = 0;
    rc = ly_rep_encode(&rp, &b1, &n1);
    S_CHECK(rc == LY_OK || rc == LY_EINVAL || rc == LY_ETOOBIG);
    if (rc == LY_OK) {
        S_CHECK(ly_rep_decode(b1, n1, &rp2, why, sizeof why) == LY_OK);
        S_CHECK(rp2.rp_type == rp.rp_type && rp2.rp_id == rp.rp_id && rp2.rp_err == rp.rp_err);
        if (rp.rp_type == LY_MSG_STATUS && rp.rp_err == LY_OK) {
            S_CHECK(rp2.rp_status->ns_npeers == rp.rp_status->ns_npeers);
            if (rp.rp_status->ns_npeers > 0)
                S_CHECK(memcmp(rp.rp_status->ns_peers, rp2.rp_status->ns_peers,
                               rp.rp_status->ns_npeers * sizeof(ly_peer_status)) == 0);
        }
        if (rp.rp_type == LY_MSG_DEBTS && rp.rp_err == LY_OK) {
            S_CHECK(rp2.rp_ndebts == rp.rp_ndebts && rp2.rp_more == rp.rp_more);
            if (rp.rp_ndebts > 0)
                S_CHECK(memcmp(rp.rp_debts, rp2.rp_debts, rp.rp_ndebts * sizeof(ly_debt)) == 0);
        }
        if ((rp.rp_type == LY_MSG_PROGRAM || rp.rp_type == LY_MSG_PROGRAM_APPLY) &&
            rp.rp_err == LY_OK) {
            S_CHECK(rp2.rp_program == rp.rp_program && rp2.rp_nprograms == rp.rp_nprograms);
            if (rp.rp_nprograms > 0)
                S_CHECK(memcmp(rp.rp_programs, rp2.rp_programs,
                               rp.rp_nprograms * sizeof(ly_progrow)) == 0);
        }
        if (rp.rp_type != 0 && rp.rp_type != LY_MSG_STATUS && rp.rp_type != LY_MSG_EVENTS &&
            rp.rp_type != LY_MSG_DEBTS && rp.rp_err == LY_OK) {
            S_CHECK(rp2.rp_nrights == rp.rp_nrights && rp2.rp_local_rights == rp.rp_local_rights);
            S_CHECK(memcmp(rp.rp_rights, rp2.rp_rights, rp.rp_nrights * sizeof rp.rp_rights[0]) ==
                    0);
        }
        S_CHECK(ly_rep_encode(&rp2, &b2, &n2) == LY_OK);
        S_CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0);
        ly_rep_fini(&rp2);
    }
    free(b1);
    free(b2);
    ly_rep_fini(&rp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_fuzz_req(data, size);
    s_fuzz_rep(data, size);
    return 0;
}
