/* codec.h -- msgpack encoding of client messages. The only code that includes msgpack.h.
 *
 * Wire form: one msgpack map per frame, string keys.
 *   request: {"v":1, "t":"earn", "id":7, "customer":"C1", "txn":"T1", "amount":1299,
 *             "category":"food"}
 *   reply:   {"v":1, "t":"earn", "id":7, "ok":true, "customer":"C1", "points":12, ...}
 *            {"v":1, "t":"earn", "id":7, "ok":false,
 *             "error":{"code":"insufficient_points", "message":"...", "available":50}}
 * "available" is always written for insufficient_points and
 * insufficient_local_rights (rp_available: what can be redeemed, chain-wide or
 * at this branch), and for any other error whose rp_available is not 0.
 * Decoding is strict: unknown, duplicate, missing or mistyped fields, trailing
 * bytes, nesting deeper than the message needs, and container counts larger
 * than the bytes left are all refused (LY_EPROTO) before msgpack-c allocates
 * anything; a frame over LY_FRAME_MAX is refused with LY_ETOOBIG, a version
 * other than LY_PROTO_VERSION with LY_EVERSION. Decoding allocates no more than
 * a small multiple of the frame size.
 *
 * Which error a bad request gets (ly_req_decode; `why` names the field):
 *   LY_ETOOBIG   the frame is over LY_FRAME_MAX;
 *   LY_EVERSION  "v" is an unsigned integer other than LY_PROTO_VERSION (checked
 *                before anything else in the map);
 *   LY_EPROTO    the bytes cannot be a message of this type: empty, truncated or
 *                trailing bytes, reserved byte 0xc1, nesting deeper than 8,
 *                lengths or counts beyond the frame, a top level that is not a
 *                map, a non-string key, an unknown, duplicate, missing or
 *                not-allowed-for-this-type key (set-profile without any profile
 *                key counts as missing), an unknown "t", a value of the wrong
 *                msgpack type (nil, float, bool, bin or ext where a string or
 *                integer is expected, an array or map), a negative integer for an
 *                unsigned field, an integer above INT64_MAX for a signed one, a
 *                string holding a NUL byte;
 *   LY_EINVAL    the message is well formed and every value has the right type,
 *                but a value breaks its contract: an integer out of its range
 *                ("field 'amount': must be 1..1000000000000"), a string longer
 *                than its maximum, an id that is not 1..64 bytes of
 *                [A-Za-z0-9._:@#/+-], text that is not UTF-8 without control
 *                characters, an empty reason, a birthday that is not a real date.
 * The encoders apply the same checks through the same code: ly_req_encode
 * refuses with LY_EINVAL exactly the requests whose encoding ly_req_decode would
 * refuse.
 *
 * A customer-operation reply (enroll, earn, redeem, reverse, adjust, customer,
 * set-profile) always carries "rights": an array of at most
 * LY_RIGHTS_REPLY_MAX maps {node, points} (node 1..65535, both keys required;
 * an empty array when no node holds any), and "local_rights" (what this branch
 * may redeem now). A customer reply's "history" rows may be transfers (type
 * "transfer", with "to": the receiving node; "to" is left out when 0).
 *
 * A debts request takes an optional "customer" (list the customers after this
 * id; absent for the first page) and "limit" (0..LY_DEBTS_MAX). Its reply
 * carries "debts": an array of at most LY_DEBTS_MAX maps {customer, debt,
 * lifetime, last_hlc} ("customer" required; rp_debts, heap, freed by
 * ly_rep_fini) and "more" (a boolean: rows after the last one).
 *
 * A status reply carries "node" (this node: id, name, incarnation, program,
 * events, customers, digest, hlc, uptime_ms, map_size, map_used, vv, client,
 * transfers_sent, transfers_received, rights_pending, rights_asked)
 * and "peers": an array of at most LY_STATUS_PEERS_MAX maps {id, name, endpoint,
 * client, up, last_heard_ms, behind, missing, lag_ms, digest, events,
 * converged, sent, received, dropped} (ly_peer_status; up and converged are
 * booleans, last_heard_ms is UINT64_MAX for never). "peers" is always written
 * for a status reply, an empty array when the node has none; a reply without
 * it (an older node) reads as no peers. Decoded rows go to rp_status.ns_peers
 * (heap, freed by ly_rep_fini).
 *
 * Replies are decoded leniently about keys (an unknown key is skipped: a newer
 * node may add fields) but strictly about the keys known here, with the same
 * structural limits; any malformed or out-of-contract reply is LY_EPROTO (never
 * LY_EINVAL). Optional reply keys that are absent read as 0 / "". Required:
 * "v", "id", "ok", and "error" with its "code" when "ok" is false. An error
 * code this side does not know reads as LY_EINTERNAL. */
#ifndef LY_CODEC_H
#define LY_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "proto/msg.h"

/* Encode into a new heap buffer; *out (caller frees with free()) and *len set.
 * LY_EINVAL if a field breaks its contract (so a client cannot send what a node
 * would refuse), LY_ENOMEM; LY_ETOOBIG if the frame would exceed LY_FRAME_MAX
 * (a reply with many large events: send fewer). Only the fields that apply to
 * the type are written: required ones always, optional ones when set (a
 * profile field when its rq_fields/rp_fields bit is set; category, a reverse's
 * amount, limit, origin and since, a debts request's customer, when not empty
 * or 0). A reply's rp_message is sent with every byte that is not valid text
 * replaced by '?' (and ly_strerror's text when empty), never refused. */
ly_err ly_req_encode(const ly_req *rq, uint8_t **out, size_t *len);
ly_err ly_rep_encode(const ly_rep *rp, uint8_t **out, size_t *len);

/* The check ly_req_encode makes, without encoding: LY_OK, or LY_EINVAL with a
 * reason naming the field in `why` (may be NULL). For clients that want to
 * tell their user what is wrong before sending. */
ly_err ly_req_check(const ly_req *rq, char *why, size_t why_len);

/* Decode one frame. The struct is initialised first (ly_req_init/ly_rep_init:
 * pass a reply that holds no events, peer rows or debt rows). On error the
 * struct is unspecified except that ly_rep_fini is always safe; `why` (may be
 * NULL) receives a human reason naming the field (empty on success). */
ly_err ly_req_decode(const uint8_t *buf, size_t len, ly_req *rq, char *why, size_t why_len);
ly_err ly_rep_decode(const uint8_t *buf, size_t len, ly_rep *rp, char *why, size_t why_len);

/* Best effort: the request id of a frame that failed to decode, so the error
 * reply can still be matched by the client; 0 if it cannot be found. */
uint64_t ly_req_peek_id(const uint8_t *buf, size_t len);

#endif
