/* config_fuzz.c -- libFuzzer target for the node config parser (common/config.h).
 *
 * ly_config_load reads only a file (it resolves data_dir against the file's
 * directory), so each input is written to node.ini in a directory of its own,
 * made once under /dev/shm ($LY_FUZZ_TMPDIR, else $TMPDIR or /tmp without
 * one) and removed at exit; the data_dir seeds
 * name lie in it or are absolute. Beyond "no crash, no leak, no sanitizer
 * report" it checks:
 *  - the result is LY_OK or LY_ECONFIG; on LY_ECONFIG the message is not empty
 *    and begins with the file's path (config.h: "PATH:LINE: message");
 *  - an accepted config is within the documented ranges: node id 1..65535; a
 *    name of 1..LY_NODE_NAME_MAX characters; an absolute data_dir; listen a
 *    valid endpoint, and advertise (listen by default) too, one the peers can
 *    connect to when there are peers; 0..LY_PEERS_MAX peers, each with an id
 *    1..65535 unlike the node's and every other peer's, a name unlike the
 *    node's, and a valid endpoint it can connect to, distinct from the
 *    others'; peer_listen set when there are peers; log level, batch_max,
 *    map_size_mb, max_clock_ahead_ms, rights_wait_ms, checkpoint_ms and
 *    checkpoint_events within their ranges; a time zone named; every string
 *    NUL-terminated; with [node] key a valid pair, a valid key for every
 *    peer, no two holders (node, peers, role sections) with one key; role
 *    sections only with [node] key; without a key and without insecure,
 *    loopback endpoints only (protected mode).
 * The key files the seeds name (north.key, south.pub, ... and three bad ones)
 * are made in the directory at start.
 * A broken invariant traps, which libFuzzer reports as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/keys.h"

#define S_CHECK(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "config_fuzz: check failed: %s (line %d)\n", #cond, __LINE__);         \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

#define S_TERMINATED(a) (memchr((a), '\0', sizeof(a)) != NULL)

static char s_dir[4096];
static char s_path[4200];
static int s_show;

/* The key files the seeds name, made in s_dir at start: good pairs
 * (loyalctl keygen's files), a secret readable by others, a 39-character
 * public key and one with a character outside Z85. */
static const char *const s_pairs[] = {"north", "south", "west", "till-1", "alice", "audit"};
#define S_NPAIRS (int)(sizeof s_pairs / sizeof s_pairs[0])
static const struct {
    const char *name;
    const char *text;
    int mode;
} s_bad[] = {
    {"open.key", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\n", 0644},
    {"short.pub", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf\n", 0644},
    {"garbage.pub", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf\"\n", 0644},
};
#define S_NBAD (int)(sizeof s_bad / sizeof s_bad[0])

static void s_in_dir(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", s_dir, name);
}

static void s_cleanup(void)
{
    char p[4200];
    unlink(s_path);
    for (int i = 0; i < S_NPAIRS; i++) {
        char n[128];
        snprintf(n, sizeof n, "%s.key", s_pairs[i]);
        s_in_dir(p, sizeof p, n);
        unlink(p);
        snprintf(n, sizeof n, "%s.pub", s_pairs[i]);
        s_in_dir(p, sizeof p, n);
        unlink(p);
    }
    for (int i = 0; i < S_NBAD; i++) {
        s_in_dir(p, sizeof p, s_bad[i].name);
        unlink(p);
    }
    rmdir(s_dir);
}

static void s_key_files(void)
{
    char why[512], p[4200];
    for (int i = 0; i < S_NPAIRS; i++) {
        ly_keypair kp;
        if (ly_key_generate(s_dir, s_pairs[i], &kp, why, sizeof why) != LY_OK) {
            fprintf(stderr, "config_fuzz: %s\n", why);
            abort();
        }
    }
    for (int i = 0; i < S_NBAD; i++) {
        s_in_dir(p, sizeof p, s_bad[i].name);
        FILE *fp = fopen(p, "we");
        if (!fp || fputs(s_bad[i].text, fp) < 0 || fclose(fp) != 0 || chmod(p, s_bad[i].mode)) {
            perror(p);
            abort();
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* A tmpfs when there is one: each input is a file created and removed,
     * about twice as fast there as on ext4. LY_FUZZ_TMPDIR overrides it. */
    const char *tmp = getenv("LY_FUZZ_TMPDIR");
    if (!tmp || !*tmp)
        tmp = access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(s_dir, sizeof s_dir, "%s/config_fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(s_dir)) {
        perror("config_fuzz: mkdtemp");
        abort();
    }
    snprintf(s_path, sizeof s_path, "%s/node.ini", s_dir);
    atexit(s_cleanup);
    s_key_files();
    s_show = getenv("LY_FUZZ_SHOW") != NULL;
    return 0;
}

/* An endpoint a peer can connect to: tcp:// without a '*' host or port, or an
 * ipc:// path other than ZeroMQ's "pick one" '*'. */
static int s_connectable(const char *ep)
{
    if (strncmp(ep, "tcp://", 6) == 0) {
        const char *colon = strrchr(ep, ':');
        return ep[6] != '*' && !(colon && colon[1] == '*');
    }
    return strcmp(ep, "ipc://*") != 0;
}

/* Reachable only from this machine: ipc://, or TCP whose host (up to the last
 * ':') is 127.x..., localhost or [::1]. */
static int s_loopback(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0)
        return 1;
    if (strncmp(ep, "tcp://", 6) != 0)
        return 0;
    const char *host = ep + 6, *colon = strrchr(host, ':');
    size_t n = colon ? (size_t)(colon - host) : strlen(host);
    return (n > 4 && memcmp(host, "127.", 4) == 0) ||
           (n == 9 && memcmp(host, "localhost", 9) == 0) ||
           (n == 5 && memcmp(host, "[::1]", 5) == 0);
}

static void s_check(const ly_config *cf)
{
    S_CHECK(cf->cf_node_id >= 1);
    S_CHECK(S_TERMINATED(cf->cf_name) && cf->cf_name[0]);
    S_CHECK(S_TERMINATED(cf->cf_data_dir) && cf->cf_data_dir[0] == '/');
    S_CHECK(S_TERMINATED(cf->cf_listen) && ly_endpoint_valid(cf->cf_listen));
    S_CHECK(S_TERMINATED(cf->cf_advertise) && ly_endpoint_valid(cf->cf_advertise));
    if (cf->cf_npeers > 0)
        S_CHECK(s_connectable(cf->cf_advertise));
    S_CHECK(S_TERMINATED(cf->cf_peer_listen));
    S_CHECK(!cf->cf_peer_listen[0] || ly_endpoint_valid(cf->cf_peer_listen));
    S_CHECK(cf->cf_log_level >= LY_DEBUG && cf->cf_log_level <= LY_ERROR);
    S_CHECK(cf->cf_batch_max >= 1 && cf->cf_batch_max <= 4096);
    S_CHECK(cf->cf_map_size_mb >= 1 && cf->cf_map_size_mb <= 1048576);
    S_CHECK(cf->cf_max_clock_ahead_ms >= 1 && cf->cf_max_clock_ahead_ms <= 86400000);
    S_CHECK(cf->cf_rights_wait_ms <= 2000);
    S_CHECK(cf->cf_checkpoint_ms >= 10 && cf->cf_checkpoint_ms <= 60000);
    S_CHECK(cf->cf_checkpoint_events >= 100 && cf->cf_checkpoint_events <= 10000000);
    S_CHECK(S_TERMINATED(cf->cf_timezone) && cf->cf_timezone[0]);
    S_CHECK(cf->cf_npeers >= 0 && cf->cf_npeers <= LY_PEERS_MAX);
    S_CHECK(cf->cf_npeers == 0 || cf->cf_peer_listen[0]);
    /* Keys: [node] key gives a pair; with it every peer has a key, without it
     * none and no role section either; every key valid Z85, and no two
     * holders share one. */
    S_CHECK(cf->cf_curve == 0 || cf->cf_curve == 1);
    S_CHECK(cf->cf_insecure == 0 || cf->cf_insecure == 1);
    S_CHECK(S_TERMINATED(cf->cf_key.kp_public) && S_TERMINATED(cf->cf_key.kp_secret));
    S_CHECK(S_TERMINATED(cf->cf_key_file));
    if (cf->cf_curve) {
        S_CHECK(ly_key_z85_valid(cf->cf_key.kp_public) && ly_key_z85_valid(cf->cf_key.kp_secret));
        S_CHECK(cf->cf_key_file[0] == '/');
    }
    S_CHECK(cf->cf_nkeys >= 0 && cf->cf_nkeys <= LY_KEYS_MAX);
    S_CHECK(cf->cf_nkeys == 0 || cf->cf_curve);
    for (int i = 0; i < cf->cf_nkeys; i++) {
        const ly_key_conf *k = &cf->cf_keys[i];
        S_CHECK(S_TERMINATED(k->kc_name) && k->kc_name[0]);
        S_CHECK(k->kc_role == LY_ROLE_POS || k->kc_role == LY_ROLE_OPERATOR ||
                k->kc_role == LY_ROLE_AUDITOR);
        S_CHECK(S_TERMINATED(k->kc_public) && ly_key_z85_valid(k->kc_public));
        S_CHECK(strcmp(k->kc_public, cf->cf_key.kp_public) != 0);
        for (int j = 0; j < i; j++)
            S_CHECK(strcmp(k->kc_public, cf->cf_keys[j].kc_public) != 0);
        for (int j = 0; j < cf->cf_npeers; j++)
            S_CHECK(strcmp(k->kc_public, cf->cf_peers[j].pc_public) != 0);
    }
    /* Protected mode: without a key and without insecure, only loopback. */
    if (!cf->cf_curve && !cf->cf_insecure) {
        S_CHECK(s_loopback(cf->cf_listen) && s_loopback(cf->cf_advertise));
        S_CHECK(!cf->cf_peer_listen[0] || s_loopback(cf->cf_peer_listen));
        for (int i = 0; i < cf->cf_npeers; i++)
            S_CHECK(s_loopback(cf->cf_peers[i].pc_endpoint));
    }
    for (int i = 0; i < cf->cf_npeers; i++) {
        const ly_peer_conf *p = &cf->cf_peers[i];
        S_CHECK(S_TERMINATED(p->pc_public));
        S_CHECK(cf->cf_curve ? ly_key_z85_valid(p->pc_public) : p->pc_public[0] == '\0');
        if (cf->cf_curve)
            S_CHECK(strcmp(p->pc_public, cf->cf_key.kp_public) != 0);
        for (int j = 0; j < i && cf->cf_curve; j++)
            S_CHECK(strcmp(p->pc_public, cf->cf_peers[j].pc_public) != 0);
        S_CHECK(p->pc_id >= 1 && p->pc_id != cf->cf_node_id);
        S_CHECK(S_TERMINATED(p->pc_name) && p->pc_name[0]);
        S_CHECK(strcmp(p->pc_name, cf->cf_name) != 0);
        S_CHECK(S_TERMINATED(p->pc_endpoint) && ly_endpoint_valid(p->pc_endpoint));
        S_CHECK(s_connectable(p->pc_endpoint));
        for (int j = 0; j < i; j++) {
            S_CHECK(p->pc_id != cf->cf_peers[j].pc_id);
            S_CHECK(strcmp(p->pc_endpoint, cf->cf_peers[j].pc_endpoint) != 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A new file each time: truncating one makes ext4 flush it at close
     * (auto_da_alloc), which took half the time. */
    unlink(s_path);
    FILE *fp = fopen(s_path, "wxe");
    S_CHECK(fp != NULL);
    S_CHECK(fwrite(data, 1, size, fp) == size);
    S_CHECK(fclose(fp) == 0);

    static ly_config cf;
    static char err[1024];
    memset(&cf, 0xa5, sizeof cf);
    ly_err e = ly_config_load(s_path, &cf, err, sizeof err);
    if (s_show) /* LY_FUZZ_SHOW=1: what each input gives, to check the seeds */
        fprintf(stderr, "config_fuzz: %s\n", e == LY_OK ? "accepted" : err);
    S_CHECK(e == LY_OK || e == LY_ECONFIG);
    if (e == LY_OK) {
        s_check(&cf);
    } else {
        S_CHECK(err[0] != '\0');
        S_CHECK(strncmp(err, s_path, strlen(s_path)) == 0);
    }
    return 0;
}
