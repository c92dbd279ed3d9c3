/* peer.h -- the peer (replication) protocol between branch nodes.
 *
 * Transport: each node binds a ROUTER on `peer_listen` and connects one DEALER
 * to every configured peer's `peer_listen`. A node pushes on its DEALERs (hello,
 * heartbeats, its new events, catch-up requests) and receives the peers' pushes
 * on its ROUTER; answers to its requests (welcome, sync replies) come back on
 * the DEALER that asked. One msgpack map per frame, like the client protocol.
 *
 * Sessions: a DEALER's routing id is "n<node>-<boot nonce>", so a receiver can
 * tell a restarted sender from the old one. Nothing from a session is used
 * before its hello is accepted; a message from an unknown session is answered
 * with hello-required, and the sender says hello again (after a restart of the
 * receiver, say).
 *
 * Messages ("t"):
 *   hello       {node, incarnation, name, program, proto, client}  DEALER -> ROUTER
 *   welcome     {node, incarnation, name, program, client}         ROUTER -> DEALER
 *   refused     {node, reason}                                     ROUTER -> DEALER
 *   hello-required {node}                                          ROUTER -> DEALER
 *   heartbeat   {node, hlc, digest, events, vv}                    DEALER -> ROUTER
 *   events      {node, origin, incarnation, prev, events}          DEALER -> ROUTER
 *               live: the sender's own new events in seq order; `prev` is the seq
 *               before the first, so a gap is seen at once
 *   sync-req    {node, vv, max}                                    DEALER -> ROUTER
 *   sync-rep    {node, events, more}                               ROUTER -> DEALER
 *               events of any origins the asker lacks (transitive catch-up),
 *               per origin in seq order, at most `max`; more = 1 if there are more
 *
 * Decoding is as strict as the client codec (see codec.h): limits are checked on
 * the raw bytes first, every event is validated with ly_event_validate. */
#ifndef LY_PEER_H
#define LY_PEER_H

#include <stdint.h>

#include "common/event.h"
#include "common/store.h"

#define LY_PEER_PROTO 1
#define LY_PEER_FRAME_MAX (4u << 20) /* largest peer frame */
#define LY_PEER_EVENTS_MAX 2000      /* events in one events / sync-rep message */
#define LY_PEER_VV_MAX 256           /* version vector entries in one message */

typedef enum ly_pmsgtype {
    LY_PM_HELLO = 1,
    LY_PM_WELCOME = 2,
    LY_PM_REFUSED = 3,
    LY_PM_HELLO_REQUIRED = 4,
    LY_PM_HEARTBEAT = 5,
    LY_PM_EVENTS = 6,
    LY_PM_SYNC_REQ = 7,
    LY_PM_SYNC_REP = 8,
    LY_PM_TYPE_MAX = 8
} ly_pmsgtype;

typedef struct ly_pmsg {
    uint8_t pm_type;
    uint16_t pm_node;         /* sender's node id (all messages) */
    uint32_t pm_incarnation;  /* hello, welcome: sender's incarnation; events: of `origin` */
    char pm_name[64];         /* hello, welcome */
    uint32_t pm_program;      /* hello, welcome: program version */
    uint32_t pm_proto;        /* hello: LY_PEER_PROTO */
    char pm_client[256];      /* hello, welcome: the sender's client endpoint (for loyalctl) */
    char pm_reason[200];      /* refused */
    uint64_t pm_hlc;          /* heartbeat */
    uint64_t pm_digest;       /* heartbeat */
    uint64_t pm_events_total; /* heartbeat: events held */
    uint32_t pm_nvv;          /* heartbeat, sync-req */
    ly_vv_entry pm_vv[LY_PEER_VV_MAX];
    uint16_t pm_origin; /* events */
    uint64_t pm_prev;   /* events */
    uint32_t pm_max;    /* sync-req: most events wanted (1..LY_PEER_EVENTS_MAX) */
    uint8_t pm_more;    /* sync-rep */
    uint32_t pm_nevents;
    ly_event *pm_events; /* events, sync-rep: heap, owned; free with ly_pmsg_fini */
} ly_pmsg;

void ly_pmsg_init(ly_pmsg *m, int type);
void ly_pmsg_fini(ly_pmsg *m);

/* Wire name ("sync-req") of a type, or NULL. */
const char *ly_pmsgtype_name(int type);

/* Encode into a new heap buffer (caller frees). LY_EINVAL if a field breaks its
 * contract (e.g. an invalid event, node 0), LY_ETOOBIG over LY_PEER_FRAME_MAX. */
ly_err ly_pmsg_encode(const ly_pmsg *m, uint8_t **out, size_t *len);

/* Decode one frame; strict: unknown/missing/mistyped keys -> LY_EPROTO, bad
 * values and invalid events -> LY_EINVAL, wrong "v" -> LY_EVERSION, frame over
 * LY_PEER_FRAME_MAX -> LY_ETOOBIG. For events messages, every event must have
 * origin == pm_origin, incarnation == pm_incarnation and consecutive seqs
 * starting at pm_prev + 1 (else LY_EINVAL). `why` names the problem. On error
 * ly_pmsg_fini is still safe. */
ly_err ly_pmsg_decode(const uint8_t *buf, size_t len, ly_pmsg *m, char *why, size_t why_len);

#endif
