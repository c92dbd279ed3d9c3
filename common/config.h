/* config.h -- the node's INI configuration (parsed with libinih).
 *
 *   [node]
 *   id = 1                              ; 1..65535, unique in the chain
 *   name = north
 *   data_dir = ./data/north             ; relative paths are relative to the config file
 *   listen = tcp://127.0.0.1:7101       ; POS terminals and loyalctl
 *   peer_listen = tcp://127.0.0.1:7102  ; the other branches (required with peers)
 *   advertise = tcp://10.0.0.5:7101     ; client endpoint announced to peers (default: listen)
 *   log_level = info                    ; debug | info | warn | error
 *   batch_max = 512                     ; most requests in one group commit
 *   map_size_mb = 64                    ; initial LMDB map; it grows by itself
 *   max_clock_ahead_ms = 60000          ; HLC clamp for peers' clocks
 *   rights_wait_ms = 300                ; how long a redemption waits for rights from peers
 *   checkpoint_ms = 1000                ; write the store's pages at least this often (10..60000)
 *   checkpoint_events = 20000           ; ... or after this many events (100..10000000)
 *   timezone = Europe/Prague            ; the branch's IANA zone (default UTC): campaign
 *                                       ; days and hours, birthdays (common/tz.h)
 *   key = keys/north.key                ; this node's secret key file: CurveZMQ on every
 *                                       ; socket (see "Security" below)
 *   insecure = false                    ; true: allow non-loopback endpoints without a key
 *
 *   [peer south]
 *   id = 2
 *   endpoint = tcp://127.0.0.1:7202
 *   key = keys/south.pub                ; the peer's public key (required with [node] key)
 *
 *   [pos till-1]                        ; a till: customer operations
 *   key = keys/till-1.pub
 *   [operator alice]                    ; staff and head office: everything
 *   key = keys/alice.pub
 *   [auditor hq-audit]                  ; read-only
 *   key = keys/hq-audit.pub
 *
 * Security. With [node] key set, both sockets speak CurveZMQ: a connection
 * is accepted only from a key listed here, and each message is allowed or
 * refused by the role of its key (a [peer] key: replication on peer_listen;
 * [pos], [operator], [auditor] keys: the client socket, see node/server.c).
 * The section's name is the key's name, recorded as the operator of what the
 * key does. Names are unique across the role sections; a public key appears
 * at most once in the file. Role sections need [node] key. Without a key the
 * node is in protected mode: every endpoint must be loopback (127.x.x.x,
 * localhost, [::1], ipc://) unless insecure = true, which the node then
 * reports in every status. Key files are read when the config is loaded
 * (common/keys.h says what is refused); relative paths are relative to the
 * config file, like data_dir.
 *
 * The loyalty program is chain data, not a node setting: a [program], [tier
 * NAME] or [category NAME] section is refused, with what to do instead (put
 * them in a program file, see deploy/program.example.ini and common/program.h,
 * and run 'loyalctl program apply FILE' once at any branch).
 *
 * timezone names a zone file under $TZDIR or /usr/share/zoneinfo (Debian
 * package tzdata), checked when the config is loaded ("unknown time zone
 * 'Europe/Prag'"); UTC is accepted even without tzdata. The node keeps the
 * name; common/tz.h converts with it. Nothing in the node uses it yet: the
 * program's campaigns and birthdays (common/program.h) are to.
 *
 * Every error names the file and line: "north.ini:7: unknown key 'lisen' in [node]". */
#ifndef LY_CONFIG_H
#define LY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/ledger.h"
#include "common/log.h"
#include "common/keys.h"
#include "common/tz.h"

#define LY_PEERS_MAX     64
#define LY_ENDPOINT_MAX  255
#define LY_NODE_NAME_MAX 63
#define LY_PATH_MAX      4095
#define LY_KEYS_MAX      512 /* keys in the role sections */

/* A key of a role section: [pos NAME], [operator NAME] or [auditor NAME]. */
typedef struct ly_key_conf {
    char kc_name[LY_NODE_NAME_MAX + 1];
    ly_role kc_role;
    char kc_public[LY_KEY_Z85 + 1];
} ly_key_conf;

typedef struct ly_peer_conf {
    uint16_t pc_id;
    char pc_name[LY_NODE_NAME_MAX + 1];
    char pc_endpoint[LY_ENDPOINT_MAX + 1];
    char pc_public[LY_KEY_Z85 + 1]; /* its key ("" without [node] key) */
} ly_peer_conf;

typedef struct ly_config {
    uint16_t cf_node_id;
    char cf_name[LY_NODE_NAME_MAX + 1];
    char cf_data_dir[LY_PATH_MAX + 1]; /* resolved against the config file's directory */
    char cf_listen[LY_ENDPOINT_MAX + 1];
    char cf_peer_listen[LY_ENDPOINT_MAX + 1]; /* required when there are peers */
    char cf_advertise[LY_ENDPOINT_MAX + 1];   /* client endpoint announced to peers (listen) */
    ly_level cf_log_level;
    uint32_t cf_batch_max;
    uint64_t cf_map_size_mb;
    uint64_t cf_max_clock_ahead_ms;
    uint32_t cf_rights_wait_ms; /* 0: answer at once with what is redeemable here */
    uint32_t cf_checkpoint_ms;  /* store checkpoint policy (see store.h) */
    uint32_t cf_checkpoint_events;
    char cf_timezone[LY_TZ_NAME_MAX + 1]; /* IANA name with a zone file here (LY_TZ_DEFAULT) */
    int cf_npeers;
    ly_peer_conf cf_peers[LY_PEERS_MAX];
    int cf_curve;                      /* 1: [node] key is set, cf_key holds the pair */
    ly_keypair cf_key;                 /* this node's key pair */
    char cf_key_file[LY_PATH_MAX + 1]; /* resolved path of [node] key */
    int cf_insecure;                   /* [node] insecure = true */
    int cf_nkeys;
    ly_key_conf cf_keys[LY_KEYS_MAX];
} ly_config;

/* Load and validate `path`. Nothing is created. On error returns LY_ECONFIG
 * and writes "PATH:LINE: message" (or "PATH: message") into `err`. */
ly_err ly_config_load(const char *path, ly_config *out, char *err, size_t err_len);

/* 1 if `ep` is an endpoint loyald can bind or connect: tcp://HOST:PORT with
 * port 1..65535 (or * for bind), or ipc://PATH. */
int ly_endpoint_valid(const char *ep);

#endif
