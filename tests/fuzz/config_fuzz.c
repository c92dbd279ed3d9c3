/* config_fuzz.c -- libFuzzer target for the node config parser (common/config.h).
 *
 * ly_config_load reads only a file (it resolves data_dir against the file's
 * directory), so each input is written to node.ini in a directory of its own,
 * made once under $TMPDIR (or /tmp) and removed at exit; the data_dir seeds
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
 *    NUL-terminated.
 * A broken invariant traps, which libFuzzer reports as a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"

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

static void s_cleanup(void)
{
    unlink(s_path);
    rmdir(s_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(s_dir, sizeof s_dir, "%s/config_fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(s_dir)) {
        perror("config_fuzz: mkdtemp");
        abort();
    }
    snprintf(s_path, sizeof s_path, "%s/node.ini", s_dir);
    atexit(s_cleanup);
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
    for (int i = 0; i < cf->cf_npeers; i++) {
        const ly_peer_conf *p = &cf->cf_peers[i];
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
    FILE *fp = fopen(s_path, "we");
    S_CHECK(fp != NULL);
    S_CHECK(fwrite(data, 1, size, fp) == size);
    S_CHECK(fclose(fp) == 0);

    static ly_config cf;
    static char err[1024];
    memset(&cf, 0xa5, sizeof cf);
    ly_err e = ly_config_load(s_path, &cf, err, sizeof err);
    S_CHECK(e == LY_OK || e == LY_ECONFIG);
    if (e == LY_OK) {
        s_check(&cf);
    } else {
        S_CHECK(err[0] != '\0');
        S_CHECK(strncmp(err, s_path, strlen(s_path)) == 0);
    }
    return 0;
}
