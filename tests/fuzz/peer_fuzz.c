/* peer_fuzz.c -- libFuzzer target for the peer protocol decoder (proto/peer.h).
 *
 * Feeds every input to ly_pmsg_decode and checks, beyond "no crash, no
 * sanitizer report":
 *  - the decoder returns only the errors peer.h lists, with a reason exactly
 *    when it fails, and never holds more than the limits allow;
 *  - a decoded message re-encodes (the encoder accepts all that the decoder
 *    accepts), decodes again to the same struct and the same events, and
 *    re-encodes to the same bytes.
 * Any violation aborts, which libFuzzer reports as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/peer.h"

#define S_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "peer_fuzz: check failed: %s (line %d)\n", #cond, __LINE__);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ly_pmsg m, m2; /* large: kept off the stack */
    char why[256];
    ly_err rc = ly_pmsg_decode(data, size, &m, why, sizeof why);
    S_CHECK(rc == LY_OK || rc == LY_EPROTO || rc == LY_EINVAL || rc == LY_EVERSION ||
            rc == LY_ETOOBIG || rc == LY_ENOMEM);
    S_CHECK(rc == LY_OK ? why[0] == '\0' : why[0] != '\0');
    S_CHECK(m.pm_nvv <= LY_PEER_VV_MAX && m.pm_nevents <= LY_PEER_EVENTS_MAX);
    S_CHECK((m.pm_nevents == 0) == (m.pm_events == NULL));
    if (rc != LY_OK) {
        ly_pmsg_fini(&m);
        return 0;
    }
    S_CHECK(ly_pmsgtype_name(m.pm_type) != NULL && m.pm_node != 0);
    for (uint32_t i = 0; i < m.pm_nevents; i++)
        S_CHECK(ly_event_validate(&m.pm_events[i]) == LY_OK);
    if (m.pm_type == LY_PM_RIGHTS_REQ)
        S_CHECK(m.pm_points >= 1 && m.pm_points <= LY_AMOUNT_MAX && ly_id_valid(m.pm_customer));

    uint8_t *b1 = NULL, *b2 = NULL;
    size_t n1 = 0, n2 = 0;
    S_CHECK(ly_pmsg_encode(&m, &b1, &n1) == LY_OK);
    S_CHECK(n1 <= LY_PEER_FRAME_MAX);
    S_CHECK(ly_pmsg_decode(b1, n1, &m2, why, sizeof why) == LY_OK);
    S_CHECK(m2.pm_nevents == m.pm_nevents);
    if (m.pm_nevents > 0)
        S_CHECK(memcmp(m.pm_events, m2.pm_events, m.pm_nevents * sizeof(ly_event)) == 0);
    ly_event *keep = m2.pm_events;
    m2.pm_events = m.pm_events;
    S_CHECK(memcmp(&m, &m2, sizeof m) == 0);
    m2.pm_events = keep;
    S_CHECK(ly_pmsg_encode(&m2, &b2, &n2) == LY_OK);
    S_CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0);
    free(b1);
    free(b2);
    ly_pmsg_fini(&m2);
    ly_pmsg_fini(&m);
    return 0;
}
