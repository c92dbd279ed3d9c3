/* peer.h -- the peer (replication) protocol between branch nodes.
 *
 * Transport: each node binds a ROUTER on `peer_listen` and connects one DEALER
 * to every configured peer's `peer_listen`. A node pushes on its DEALERs (hello,
 * heartbeats, its new events, catch-up requests) and receives the peers' pushes
 * on its ROUTER; answers to its requests (welcome, sync replies) come back on
 * the DEALER that asked. One msgpack map per frame, like the client protocol.
 *
 * Sessions: a session is one connection of a peer's DEALER to our ROUTER (the
 * ROUTER names each connection; DEALERs set no routing id, so a reconnect can
 * never be confused with, or blocked by, an old connection). Nothing from a
 * session is used before its hello is accepted; a message from an unknown
 * session is answered with hello-required, and the sender says hello again
 * (after either side restarted or the link was cut).
 *
 * Messages ("t"):
 *   hello       {node, incarnation, name, program, program_hash, proto, client}
 *                                                                  DEALER -> ROUTER
 *   welcome     {node, incarnation, name, program, program_hash, client}
 *                                                                  ROUTER -> DEALER
 *               program, program_hash: the version in force at the sender and
 *               its hash (reported, never refused: the program is events)
 *   refused     {node, reason}                                     ROUTER -> DEALER
 *   hello-required {node}                                          ROUTER -> DEALER
 *   heartbeat   {node, hlc, digest, events, vv, program, program_hash}
 *                                                                  DEALER -> ROUTER
 *               `events` here is the count of events held (pm_events_total)
 *   events      {node, origin, incarnation, prev, evs}             DEALER -> ROUTER
 *               live: the sender's own new events in seq order; `prev` is the seq
 *               before the first, so a gap is seen at once
 *   sync-req    {node, vv, max}                                    DEALER -> ROUTER
 *   rights-req  {node, customer, points}                           DEALER -> ROUTER
 *               "give me up to `points` of your rights for this customer": the
 *               receiver answers with a transfer event of its own (published like
 *               any event), or not at all if it holds none
 *   sync-rep    {node, evs, more}                                  ROUTER -> DEALER
 *               events of any origins the asker lacks (transitive catch-up),
 *               per origin in seq order, at most `max`; more = 1 if there are more
 *
 * Wire form: one map with "v" (LY_PEER_PROTO) and "t" (the name above) and
 * exactly the keys listed for its type, all required, no others:
 *   {"v":1, "t":"heartbeat", "node":2, "hlc":..., "digest":..., "events":1234,
 *    "vv":[{"origin":1, "incarnation":7, "seq":1200}, ...]}
 *   {"v":1, "t":"events", "node":2, "origin":2, "incarnation":9, "prev":41,
 *    "evs":[{"origin":2, "incarnation":9, "seq":42, "hlc":..., "type":2, ...}]}
 * The events themselves travel under "evs" ("events" is a heartbeat's count):
 * an array of event maps exactly as in the client protocol's events reply (one
 * implementation for both: every integer field of ly_event but "to", which a
 * transfer alone carries and which is written only there, its strings when
 * not empty; a key left out reads as 0 or ""); unknown keys are refused there
 * too. A transfer (type 7) is an event like any other:
 *   {"origin":2, ..., "type":7, "to":5, "amount":300, "points":300, "customer":"C1", ...}
 * and so is a program part (type 8, no customer), whose bytes are binary:
 *   {"origin":2, ..., "type":8, "program":3, "amount":700, "req_hash":..., "part":2,
 *    "parts":2, "blob":<bin 188 bytes>}
 *
 * Values (else LY_EINVAL): node and origin 1..65535; name 1..63 bytes of
 * [A-Za-z0-9._-]; client "" or an endpoint that ly_endpoint_valid accepts (at
 * most 255 bytes); reason 1..199 bytes of UTF-8 text without control
 * characters; max 1..LY_PEER_EVENTS_MAX; more a boolean; every other integer
 * anything its field holds (proto too: whether the version suits is for the
 * replication layer to say, with a refused); customer (rights-req) an id
 * (1..LY_ID_MAX bytes of [A-Za-z0-9._:@#/+-]); points (rights-req)
 * 1..LY_AMOUNT_MAX. vv: at most LY_PEER_VV_MAX entries
 * (else LY_EPROTO), each with its three keys, origin 1..65535, no (origin,
 * incarnation) twice. evs: at most LY_PEER_EVENTS_MAX events (else LY_EPROTO),
 * each valid by ly_event_validate; in an events message each of origin
 * `origin` and incarnation `incarnation`, with seqs prev+1, prev+2, ...; in a
 * sync-rep the events of each (origin, incarnation) in increasing seq order
 * (gaps allowed, origins may interleave). Empty vv and evs arrays are valid.
 *
 * Decoding is as strict as the client codec (see codec.h): limits are checked on
 * the raw bytes first (frame size, structure, counts against the bytes left),
 * and an events array is allocated only after its count is checked against
 * LY_PEER_EVENTS_MAX and against its bytes (a valid event takes 32 at least). */
#ifndef LY_PEER_H
#define LY_PEER_H

#include <stdint.h>

#include "common/event.h"
#include "common/store.h"

#define LY_PEER_PROTO                                                                              \
    3 /* 2: events may be transfers (key "to"); 3: program parts, program in hello and heartbeat   \
       */
#define LY_PEER_FRAME_MAX  (4u << 20) /* largest peer frame */
#define LY_PEER_EVENTS_MAX 2000       /* events in one events / sync-rep message */
#define LY_PEER_VV_MAX     256        /* version vector entries in one message */

typedef enum ly_pmsgtype {
    LY_PM_HELLO = 1,
    LY_PM_WELCOME = 2,
    LY_PM_REFUSED = 3,
    LY_PM_HELLO_REQUIRED = 4,
    LY_PM_HEARTBEAT = 5,
    LY_PM_EVENTS = 6,
    LY_PM_SYNC_REQ = 7,
    LY_PM_SYNC_REP = 8,
    LY_PM_RIGHTS_REQ = 9,
    LY_PM_TYPE_MAX = 9
} ly_pmsgtype;

typedef struct ly_pmsg {
    uint8_t pm_type;
    uint16_t pm_node;         /* sender's node id (all messages) */
    uint32_t pm_incarnation;  /* hello, welcome: sender's incarnation; events: of `origin` */
    char pm_name[64];         /* hello, welcome */
    uint32_t pm_program;      /* hello, welcome, heartbeat: the program version in force */
    uint64_t pm_program_hash; /* ... and its hash (ly_progdef_hash; the default's for version 0) */
    uint32_t pm_proto;        /* hello: LY_PEER_PROTO */
    char pm_client[256];      /* hello, welcome: the sender's client endpoint (for loyalctl) */
    char pm_reason[200];      /* refused */
    uint64_t pm_hlc;          /* heartbeat */
    uint64_t pm_digest;       /* heartbeat */
    uint64_t pm_events_total; /* heartbeat: events held */
    uint32_t pm_nvv;          /* heartbeat, sync-req */
    ly_vv_entry pm_vv[LY_PEER_VV_MAX];
    uint16_t pm_origin;              /* events */
    uint64_t pm_prev;                /* events */
    uint32_t pm_max;                 /* sync-req: most events wanted (1..LY_PEER_EVENTS_MAX) */
    uint8_t pm_more;                 /* sync-rep */
    char pm_customer[LY_ID_MAX + 1]; /* rights-req */
    int64_t pm_points;               /* rights-req: 1..LY_AMOUNT_MAX */
    uint32_t pm_nevents;
    ly_event *pm_events; /* events, sync-rep: heap, owned; free with ly_pmsg_fini */
} ly_pmsg;

void ly_pmsg_init(ly_pmsg *m, int type);
void ly_pmsg_fini(ly_pmsg *m);

/* Wire name ("sync-req") of a type, or NULL. */
const char *ly_pmsgtype_name(int type);

/* Encode into a new heap buffer (caller frees). Only the keys of m->pm_type
 * are written and checked (the other fields are ignored). LY_EINVAL if a field
 * breaks its contract (e.g. an invalid event, node 0, a type out of range): the
 * encoder refuses exactly what ly_pmsg_decode would refuse; LY_ETOOBIG over
 * LY_PEER_FRAME_MAX (cannot happen within the limits above: 2000 events with
 * every string and program part at its maximum take about 3.7 MB); LY_ENOMEM. */
ly_err ly_pmsg_encode(const ly_pmsg *m, uint8_t **out, size_t *len);

/* Decode one frame into `m`, which is initialised first (ly_pmsg_init: pass a
 * message that holds no events, or they leak). Strict:
 *   LY_ETOOBIG   the frame is over LY_PEER_FRAME_MAX;
 *   LY_EVERSION  "v" is an unsigned integer other than LY_PEER_PROTO (checked
 *                before anything else in the map);
 *   LY_EPROTO    the bytes cannot be a message: empty, truncated or trailing
 *                bytes, 0xc1, nesting deeper than 8, counts beyond the frame,
 *                not a map, a non-string key, an unknown "t"; an unknown,
 *                duplicate, missing or not-allowed-for-this-type key (in vv
 *                entries and event maps too); a value of the wrong msgpack type
 *                (nil, float, bin, ext..., a negative integer for an unsigned
 *                field, one above INT64_MAX for a signed one); a NUL in a
 *                string; vv or evs
 *                over their limits, or more events than the array's bytes hold;
 *   LY_EINVAL    well formed, but a value breaks its contract (see Values
 *                above): a range, a string's syntax or length, an invalid
 *                event, events not following the header or not in seq order;
 *   LY_ENOMEM.
 * `why` (may be NULL) names the problem ("evs[3]: not a valid event", "field
 * 'node': must be 1..65535"), empty on success. On error ly_pmsg_fini is still
 * safe (and needed: events may have been allocated). */
ly_err ly_pmsg_decode(const uint8_t *buf, size_t len, ly_pmsg *m, char *why, size_t why_len);

#endif
