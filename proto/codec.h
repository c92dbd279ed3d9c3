/* codec.h -- msgpack encoding of client messages. The only code that includes msgpack.h.
 *
 * Wire form: one msgpack map per frame, string keys.
 *   request: {"v":1, "t":"earn", "id":7, "customer":"C1", "txn":"T1", "amount":1299,
 *             "category":"food"}
 *   reply:   {"v":1, "t":"earn", "id":7, "ok":true, "customer":"C1", "points":12, ...}
 *            {"v":1, "t":"earn", "id":7, "ok":false,
 *             "error":{"code":"insufficient_points", "message":"...", "available":50}}
 * Decoding is strict: unknown, duplicate, missing or mistyped fields, trailing
 * bytes, nesting deeper than the message needs, and container counts larger
 * than the bytes left are all refused (LY_EPROTO) before msgpack-c allocates
 * anything; a frame over LY_FRAME_MAX is refused with LY_ETOOBIG, a version
 * other than LY_PROTO_VERSION with LY_EVERSION. Decoding allocates no more than
 * a small multiple of the frame size. */
#ifndef LY_CODEC_H
#define LY_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "proto/msg.h"

/* Encode into a new heap buffer; *out (caller frees with free()) and *len set.
 * LY_EINVAL if a field breaks its contract (so a client cannot send what a node
 * would refuse), LY_ENOMEM. */
ly_err ly_req_encode(const ly_req *rq, uint8_t **out, size_t *len);
ly_err ly_rep_encode(const ly_rep *rp, uint8_t **out, size_t *len);

/* Decode one frame. On error the struct is unspecified except that ly_rep_fini
 * is always safe; `why` (may be NULL) receives a human reason naming the field. */
ly_err ly_req_decode(const uint8_t *buf, size_t len, ly_req *rq, char *why, size_t why_len);
ly_err ly_rep_decode(const uint8_t *buf, size_t len, ly_rep *rp, char *why, size_t why_len);

/* Best effort: the request id of a frame that failed to decode, so the error
 * reply can still be matched by the client; 0 if it cannot be found. */
uint64_t ly_req_peek_id(const uint8_t *buf, size_t len);

#endif
