/* loyald -- the Loyal branch node. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "common/config.h"
#include "common/log.h"
#include "node/server.h"

static volatile sig_atomic_t s_stop, s_hup;

static void s_on_signal(int sig)
{
    if (sig == SIGHUP)
        s_hup = 1;
    else
        s_stop = 1;
}

/* A node with many tills and peers holds a descriptor per connection: raise
 * the soft limit to the hard one. */
static void s_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void s_usage(FILE *f)
{
    fprintf(f, "usage: loyald --config FILE [--log-level LEVEL]\n"
               "\n"
               "Runs one Loyal branch node in the foreground; logs go to stderr.\n"
               "\n"
               "  -c, --config FILE     the node's INI configuration (required)\n"
               "  -l, --log-level LEVEL debug, info, warn or error (overrides the config)\n"
               "  -h, --help            this help\n"
               "  -V, --version         print the version\n"
               "\n"
               "SIGTERM or SIGINT: finish the batch in progress, answer it, stop.\n"
               "SIGHUP: reload the key lists ([pos], [operator], [auditor] sections) of the\n"
               "config; a removed key loses access at once, open connections included.\n"
               "Exit codes: 0 stopped cleanly, 1 runtime failure, 2 usage or configuration "
               "error.\n");
}

/* mkdir -p with mode 0700 for the parts it creates. */
static int s_mkdirs(const char *path)
{
    char buf[LY_PATH_MAX + 1];
    if (ly_strlcpy(buf, path, sizeof buf) != 0)
        return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *config = NULL, *level = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            s_usage(stdout);
            return 0;
        } else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
            printf("loyald %s\n", LY_VERSION);
            return 0;
        } else if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && i + 1 < argc) {
            config = argv[++i];
        } else if (!strncmp(a, "--config=", 9)) {
            config = a + 9;
        } else if ((!strcmp(a, "-l") || !strcmp(a, "--log-level")) && i + 1 < argc) {
            level = argv[++i];
        } else {
            fprintf(stderr, "loyald: unknown or incomplete option '%s'\n", a);
            s_usage(stderr);
            return 2;
        }
    }
    if (!config) {
        fprintf(stderr, "loyald: --config FILE is required\n");
        s_usage(stderr);
        return 2;
    }
    static ly_config cf;
    char err[512];
    if (ly_config_load(config, &cf, err, sizeof err) != LY_OK) {
        fprintf(stderr, "loyald: %s\n", err);
        return 2;
    }
    ly_log_set_level(cf.cf_log_level);
    if (level) {
        ly_level lv;
        if (ly_log_parse_level(level, &lv) != 0) {
            fprintf(stderr, "loyald: bad log level '%s' (debug, info, warn, error)\n", level);
            return 2;
        }
        ly_log_set_level(lv);
    }
    ly_log_set_tag(cf.cf_name);
    if (s_mkdirs(cf.cf_data_dir) != 0) {
        fprintf(stderr, "loyald: cannot create data_dir '%s': %s\n", cf.cf_data_dir,
                strerror(errno));
        return 2;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal; /* no SA_RESTART: zmq_poll returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    s_raise_nofile();
    ly_server *sv;
    char why[512] = "";
    ly_err e = ly_server_new(&cf, &sv, why, sizeof why);
    if (e != LY_OK) {
        LY_LOG(LY_ERROR, "node.start_failed", "error=%s why=\"%s\"", ly_errname(e), why);
        fprintf(stderr, "loyald: %s\n", why[0] ? why : ly_strerror(e));
        return e == LY_ECONFIG || e == LY_EVERSION ? 2 : 1;
    }
    ly_server_reload_on(sv, config, &s_hup);
    e = ly_server_run(sv, &s_stop);
    ly_server_destroy(&sv);
    LY_LOG(LY_INFO, "node.stopped", "clean=%s", e == LY_OK ? "yes" : "no");
    return e == LY_OK ? 0 : 1;
}
