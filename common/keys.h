/* keys.h -- CurveZMQ key files and the roles keys are given.
 *
 *   ly_keypair kp;
 *   ly_key_generate("/etc/loyal/keys", "till-3", &kp, why, sizeof why);
 *       // writes till-3.key (the secret, mode 0600) and till-3.pub
 *   ly_key_read_secret("/etc/loyal/keys/north.key", &kp, why, sizeof why);
 *   ly_key_read_public("/etc/loyal/keys/till-3.pub", pub, why, sizeof why);
 *
 * A key file holds one key as exactly LY_KEY_Z85 characters of Z85 (the
 * ZeroMQ text form of a 32-byte Curve25519 key), optionally followed by one
 * newline, and nothing else. NAME.key holds a secret key; its public key is
 * derived from it (zmq_curve_public), so the pair can never disagree. NAME.pub
 * holds the public key, which is what a node's config lists and what a till or
 * an operator's loyalctl needs of the node it talks to.
 *
 * Refused, with the file and the reason: a file that cannot be read; a
 * length other than 40 (39 or 41 characters are named as such); a character
 * outside the Z85 alphabet; a secret file readable or writable by group or
 * others ("chmod 600 FILE"); a public file writable by group or others
 * (anyone could put their own key in its place); a file that is not a
 * regular file. ly_key_generate refuses a NAME that is not 1..63 characters
 * of [A-Za-z0-9._-], a directory writable by others (a world-writable
 * directory lets anyone swap the files; a sticky /tmp-like one too), and
 * existing files (it never overwrites a key).
 *
 * Roles: a node's config maps each configured public key to one role, which
 * decides the messages its holder may send (node/auth.h enforces it; README
 * "Security"). The names are here so the config, the node and loyalctl share
 * them. */
#ifndef LY_KEYS_H
#define LY_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define LY_KEY_Z85   40 /* characters of a key in Z85 */
#define LY_KEY_BYTES 32 /* bytes of a key */

typedef struct ly_keypair {
    char kp_public[LY_KEY_Z85 + 1]; /* Z85, NUL-terminated */
    char kp_secret[LY_KEY_Z85 + 1]; /* Z85, NUL-terminated ("" if only the public is known) */
} ly_keypair;

/* The roles a key may have (config sections of the same names). */
typedef enum ly_role {
    LY_ROLE_NONE = 0, /* no keys configured: everything is allowed (loopback only) */
    LY_ROLE_PEER,     /* another branch node: replication on the peer socket only */
    LY_ROLE_POS,      /* a till: enroll, earn, redeem, reverse, customer lookups, profiles */
    LY_ROLE_OPERATOR, /* staff and head office: everything on the client socket */
    LY_ROLE_AUDITOR,  /* read-only: status, events, reports, the program */
    LY_ROLE_COUNT
} ly_role;

/* "peer", "pos", "operator", "auditor" ("none" for LY_ROLE_NONE). Never NULL. */
const char *ly_role_name(int role);

/* The role called `name`, or LY_ROLE_NONE. */
ly_role ly_role_from_name(const char *name);

/* 1 if `s` is exactly LY_KEY_Z85 characters of the Z85 alphabet. */
int ly_key_z85_valid(const char *s);

/* Make ZeroMQ socket `sock` a CurveZMQ client with the key pair
 * `public_key`/`secret_key` (Z85) of a server whose key is `server_key`,
 * before it connects. 0, or -1 (errno from zmq_setsockopt). */
int ly_key_curve_client(void *sock, const char *public_key, const char *secret_key,
                        const char *server_key);

/* Read the secret key file `path`; fill kp with it and its public key.
 * LY_OK, or LY_ECONFIG with "PATH: reason" in `why`. */
ly_err ly_key_read_secret(const char *path, ly_keypair *kp, char *why, size_t why_len);

/* Read the public key file `path` into `pub` (LY_KEY_Z85 + 1 bytes). A
 * path ending in ".key" is refused: a secret key file where a public key is
 * expected is a mistake that would hand the secret around.
 * LY_OK, or LY_ECONFIG with "PATH: reason" in `why`. */
ly_err ly_key_read_public(const char *path, char *pub, char *why, size_t why_len);

/* Read a key file that may hold either kind: a secret key file (mode 0600 and
 * so on, as above) gives its public key; a public one gives itself. For
 * loyalctl, which is handed a node's .pub or, on the node's own box, its
 * .key. Fills pub (LY_KEY_Z85 + 1 bytes). */
ly_err ly_key_read_any_public(const char *path, char *pub, char *why, size_t why_len);

/* Make a new key pair and write DIR/NAME.key (mode 0600, created exclusively)
 * and DIR/NAME.pub (0644). On any failure nothing is left behind. LY_OK,
 * LY_EEXIST (a file is there; nothing written), LY_EINVAL (bad name or
 * directory), LY_EIO; `why` says which and why. */
ly_err ly_key_generate(const char *dir, const char *name, ly_keypair *kp, char *why,
                       size_t why_len);

#endif
