/* harness.c -- processes, ports and temporary directories for cluster tests. */
#include "tests/support/harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/client.h"

#define S_CHILDREN_MAX    256
#define S_READY_TRY_MS    500
#define S_TAIL_LINES      40
#define S_UPTIME_SLACK_MS 250 /* wall clocks: the node's uptime vs our spawn time */
#define S_ARGS_MAX        64

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t s_children[S_CHILDREN_MAX];
static int s_atexit_done;

/* ---- small utilities ---------------------------------------------------- */

uint64_t lyh_now_ms(void)
{
    return lyh_now_us() / 1000;
}

uint64_t lyh_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void lyh_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* One port the kernel says is free now. */
static int s_some_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "harness: socket: %s\n", strerror(errno));
        return -1;
    }
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    socklen_t len = sizeof sa;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        fprintf(stderr, "harness: unable to find a free port: %s\n", strerror(errno));
    else
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* The kernel may hand out a port again as soon as it is closed, before the
 * node it was meant for has bound it: a chain's ports are picked before any of
 * its nodes starts. So a port this process handed out recently is not handed
 * out again. (Another process may still take one: lyh_node_up retries.) */
#define S_RECENT_PORTS 1024

int lyh_free_port(void)
{
    static int recent[S_RECENT_PORTS];
    static unsigned next;
    for (int tries = 0; tries < 64; tries++) {
        int port = s_some_free_port();
        if (port <= 0)
            return port;
        int seen = 0;
        for (unsigned i = 0; i < S_RECENT_PORTS && !seen; i++)
            seen = recent[i] == port;
        if (!seen) {
            recent[next++ % S_RECENT_PORTS] = port;
            return port;
        }
    }
    fprintf(stderr, "harness: the kernel keeps offering ports handed out already\n");
    return -1;
}

int lyh_tmpdir(const char *tag, char *out, size_t cap)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    int n = snprintf(out, cap, "%s/loyal-%s-XXXXXX", base, tag ? tag : "test");
    if (n < 0 || (size_t)n >= cap) {
        fprintf(stderr, "harness: temporary path too long\n");
        return -1;
    }
    if (mkdtemp(out) == NULL) {
        fprintf(stderr, "harness: mkdtemp '%s': %s\n", out, strerror(errno));
        return -1;
    }
    return 0;
}

static int s_make_writable(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_D || flag == FTW_DNR)
        chmod(path, 0700);
    return 0;
}

static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT) {
        fprintf(stderr, "harness: unable to remove '%s': %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

int lyh_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    /* A test may have made a directory read-only on purpose: undo that first. */
    if (S_ISDIR(st.st_mode))
        nftw(path, s_make_writable, 16, FTW_PHYS);
    return nftw(path, s_remove, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

int lyh_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "harness: unable to write '%s': %s\n", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text);
    int rc = fwrite(text, 1, len, f) == len ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "harness: unable to write '%s'\n", path);
    return rc;
}

char *lyh_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        if (got == 0)
            break;
        n += got;
    }
    fclose(f);
    if (buf == NULL)
        return NULL;
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    return buf;
}

void lyh_print_tail(const char *path, int lines)
{
    size_t len = 0;
    char *text = lyh_read_file(path, &len);
    if (text == NULL) {
        fprintf(stderr, "harness: (no log at '%s')\n", path);
        return;
    }
    size_t start = len;
    int seen = 0;
    while (start > 0) {
        if (text[start - 1] == '\n' && start != len && ++seen >= lines)
            break;
        start--;
    }
    fprintf(stderr, "---- last lines of %s ----\n%s%s---- end ----\n", path, text + start,
            len > 0 && text[len - 1] != '\n' ? "\n" : "");
    free(text);
}

int lyh_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* ---- child processes ---------------------------------------------------- */

void lyh_kill_all(void)
{
    pthread_mutex_lock(&s_lock);
    for (int i = 0; i < S_CHILDREN_MAX; i++) {
        if (s_children[i] > 0) {
            kill(s_children[i], SIGKILL);
            waitpid(s_children[i], NULL, 0);
            s_children[i] = 0;
        }
    }
    pthread_mutex_unlock(&s_lock);
}

static void s_track(pid_t pid)
{
    pthread_mutex_lock(&s_lock);
    if (!s_atexit_done) {
        atexit(lyh_kill_all);
        s_atexit_done = 1;
    }
    for (int i = 0; i < S_CHILDREN_MAX; i++) {
        if (s_children[i] == 0) {
            s_children[i] = pid;
            break;
        }
    }
    pthread_mutex_unlock(&s_lock);
}

static void s_untrack(pid_t pid)
{
    pthread_mutex_lock(&s_lock);
    for (int i = 0; i < S_CHILDREN_MAX; i++)
        if (s_children[i] == pid)
            s_children[i] = 0;
    pthread_mutex_unlock(&s_lock);
}

static int s_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return LYH_TIMEDOUT;
}

/* Wait for `pid` at most `timeout_ms` (< 0: forever). Returns its code, or
 * LYH_TIMEDOUT if it still runs. */
static int s_wait(pid_t pid, int timeout_ms)
{
    uint64_t deadline = lyh_now_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, timeout_ms < 0 ? 0 : WNOHANG);
        if (r == pid) {
            s_untrack(pid);
            return s_code(status);
        }
        if (r < 0 && errno != EINTR) {
            s_untrack(pid);
            return LYH_TIMEDOUT;
        }
        if (timeout_ms >= 0 && lyh_now_ms() >= deadline)
            return LYH_TIMEDOUT;
        if (r == 0)
            lyh_sleep_ms(5);
    }
}

static void s_kill_wait(pid_t pid)
{
    kill(pid, SIGKILL);
    s_wait(pid, -1);
}

/* fork + exec argv[0] with the given descriptors as 0, 1 and 2. Only
 * async-signal-safe calls happen between fork and exec. */
static pid_t s_spawn(const char *const argv[], int fd0, int fd1, int fd2)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "harness: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGPIPE, SIG_DFL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (dup2(fd0, 0) < 0 || dup2(fd1, 1) < 0 || dup2(fd2, 2) < 0)
            _exit(127);
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    s_track(pid);
    return pid;
}

/* ---- nodes -------------------------------------------------------------- */

int lyh_node_write_config(lyh_node *n, const char *extra)
{
    char text[8192];
    if (extra != n->nd_extra) {
        char *copy = strdup(extra ? extra : "");
        if (copy == NULL)
            return -1;
        free(n->nd_extra);
        n->nd_extra = copy;
    }
    extra = n->nd_extra;
    char key[LYH_PATH_MAX + 16] = "", op[LYH_PATH_MAX + 64] = "";
    if (n->nd_key_file[0]) {
        snprintf(key, sizeof key, "key = %s\n", n->nd_key_file);
        snprintf(op, sizeof op, "\n[operator %s]\nkey = %s\n", LYH_OPERATOR,
                 lyh_operator_pub_file());
    }
    int len = snprintf(text, sizeof text,
                       "; written by the test harness\n"
                       "[node]\n"
                       "id = %u\n"
                       "name = %s\n"
                       "data_dir = %s\n"
                       "listen = %s\n"
                       "peer_listen = %s\n"
                       "log_level = info\n"
                       "%s%s%s",
                       (unsigned)n->nd_id, n->nd_name, n->nd_data_dir, n->nd_listen,
                       n->nd_peer_listen, key, extra ? extra : "", op);
    if (len < 0 || (size_t)len >= sizeof text) {
        fprintf(stderr, "harness: config too long\n");
        return -1;
    }
    return lyh_write_file(n->nd_config, text);
}

static int s_path(char *out, const char *dir, const char *name)
{
    int len = snprintf(out, LYH_PATH_MAX, "%s/%s", dir, name);
    return len > 0 && len < LYH_PATH_MAX ? 0 : -1;
}

static int s_pick_ports(lyh_node *n)
{
    n->nd_port = lyh_free_port();
    do
        n->nd_peer_port = lyh_free_port();
    while (n->nd_peer_port == n->nd_port && n->nd_port > 0);
    if (n->nd_port <= 0 || n->nd_peer_port <= 0)
        return -1;
    snprintf(n->nd_listen, sizeof n->nd_listen, "tcp://127.0.0.1:%d", n->nd_port);
    snprintf(n->nd_peer_listen, sizeof n->nd_peer_listen, "tcp://127.0.0.1:%d", n->nd_peer_port);
    return 0;
}

/* ---- CurveZMQ (LYH_CURVE=1) ------------------------------------------------ */

static pthread_once_t s_curve_once = PTHREAD_ONCE_INIT;
static int s_curve_on;
static char s_op_dir[LYH_PATH_MAX], s_op_key[LYH_PATH_MAX], s_op_pub[LYH_PATH_MAX];
static ly_keypair s_op_kp;

/* The nodes alive, for lyh_loyalctl's --node and --config (under s_lock). */
#define S_NODES_MAX 256
static lyh_node *s_nodes[S_NODES_MAX];

static void s_op_cleanup(void)
{
    const char *keep = getenv("LYH_KEEP");
    if (s_op_dir[0] && !(keep && strcmp(keep, "1") == 0))
        lyh_rmtree(s_op_dir);
    explicit_bzero(&s_op_kp, sizeof s_op_kp);
}

static void s_curve_init(void)
{
    const char *v = getenv("LYH_CURVE");
    s_curve_on = v != NULL && strcmp(v, "1") == 0;
    if (!s_curve_on)
        return;
    char why[LYH_PATH_MAX + 256] = "a path too long";
    if (lyh_tmpdir("harness-keys", s_op_dir, sizeof s_op_dir) != 0) {
        fprintf(stderr, "harness: unable to make the operator key's directory\n");
        s_op_dir[0] = '\0';
        return;
    }
    atexit(s_op_cleanup);
    if (ly_key_generate(s_op_dir, LYH_OPERATOR, &s_op_kp, why, sizeof why) != LY_OK ||
        s_path(s_op_key, s_op_dir, LYH_OPERATOR ".key") != 0 ||
        s_path(s_op_pub, s_op_dir, LYH_OPERATOR ".pub") != 0) {
        fprintf(stderr, "harness: unable to make the operator key: %s\n", why);
        s_op_key[0] = s_op_pub[0] = '\0';
    }
}

int lyh_curve(void)
{
    pthread_once(&s_curve_once, s_curve_init);
    return s_curve_on;
}

const char *lyh_operator_key_file(void)
{
    return lyh_curve() && s_op_key[0] ? s_op_key : NULL;
}

const char *lyh_operator_pub_file(void)
{
    return lyh_curve() && s_op_pub[0] ? s_op_pub : NULL;
}

const char *lyh_operator(const char *asked)
{
    return lyh_curve() ? LYH_OPERATOR : asked;
}

ly_client *lyh_client_at(const lyh_node *n, const char *endpoint, int timeout_ms)
{
    if (!lyh_curve())
        return ly_client_new(endpoint, timeout_ms);
    if (!s_op_key[0] || !n->nd_public[0]) {
        fprintf(stderr, "harness: no keys for a CurveZMQ client of %s\n", n->nd_name);
        return NULL;
    }
    return ly_client_new_curve(endpoint, timeout_ms, s_op_kp.kp_public, s_op_kp.kp_secret,
                               n->nd_public);
}

int lyh_peer_section(char *out, size_t cap, const lyh_node *peer, const char *endpoint)
{
    int w = snprintf(out, cap, "\n[peer %s]\nid = %u\nendpoint = %s\n%s%s%s", peer->nd_name,
                     (unsigned)peer->nd_id, endpoint, peer->nd_pub_file[0] ? "key = " : "",
                     peer->nd_pub_file, peer->nd_pub_file[0] ? "\n" : "");
    return w >= 0 && (size_t)w < cap ? w : -1;
}

int lyh_curve_socket(void *sock, const lyh_node *n)
{
    if (!lyh_curve())
        return 0;
    if (!s_op_key[0] || !n->nd_public[0] ||
        ly_key_curve_client(sock, s_op_kp.kp_public, s_op_kp.kp_secret, n->nd_public) != 0) {
        fprintf(stderr, "harness: unable to make a CurveZMQ socket for %s\n", n->nd_name);
        return -1;
    }
    return 0;
}

ly_client *lyh_client(const lyh_node *n, int timeout_ms)
{
    return lyh_client_at(n, n->nd_listen, timeout_ms);
}

/* The node's key pair NAME.key and NAME.pub in its directory. 0 or -1. */
static int s_node_keys(lyh_node *n)
{
    char why[LYH_PATH_MAX + 256];
    ly_keypair kp;
    if (lyh_operator_pub_file() == NULL)
        return -1;
    if (ly_key_generate(n->nd_dir, n->nd_name, &kp, why, sizeof why) != LY_OK) {
        fprintf(stderr, "harness: unable to make the key of node %s: %s\n", n->nd_name, why);
        return -1;
    }
    snprintf(n->nd_public, sizeof n->nd_public, "%s", kp.kp_public);
    explicit_bzero(&kp, sizeof kp);
    int a = snprintf(n->nd_key_file, sizeof n->nd_key_file, "%s/%s.key", n->nd_dir, n->nd_name);
    int b = snprintf(n->nd_pub_file, sizeof n->nd_pub_file, "%s/%s.pub", n->nd_dir, n->nd_name);
    return a > 0 && (size_t)a < sizeof n->nd_key_file && b > 0 && (size_t)b < sizeof n->nd_pub_file
               ? 0
               : -1;
}

static void s_register(lyh_node *n)
{
    pthread_mutex_lock(&s_lock);
    for (int i = 0; i < S_NODES_MAX; i++)
        if (s_nodes[i] == NULL) {
            s_nodes[i] = n;
            break;
        }
    pthread_mutex_unlock(&s_lock);
}

static void s_unregister(const lyh_node *n)
{
    pthread_mutex_lock(&s_lock);
    for (int i = 0; i < S_NODES_MAX; i++)
        if (s_nodes[i] == n)
            s_nodes[i] = NULL;
    pthread_mutex_unlock(&s_lock);
}

/* The public key file and the config file of the keyed node whose listen
 * endpoint is `endpoint`, copied into pub and config (LYH_PATH_MAX bytes
 * each) under the lock. 1 if found, else 0. */
static int s_node_files(const char *endpoint, char *pub, char *config)
{
    int found = 0;
    pthread_mutex_lock(&s_lock);
    for (int i = 0; i < S_NODES_MAX && !found; i++) {
        const lyh_node *n = s_nodes[i];
        if (n != NULL && n->nd_key_file[0] && strcmp(n->nd_listen, endpoint) == 0) {
            snprintf(pub, LYH_PATH_MAX, "%s", n->nd_pub_file);
            snprintf(config, LYH_PATH_MAX, "%s", n->nd_config);
            found = 1;
        }
    }
    pthread_mutex_unlock(&s_lock);
    return found;
}

lyh_node *lyh_node_new(uint16_t id, const char *name, const char *extra)
{
    lyh_node *n = calloc(1, sizeof *n);
    if (n == NULL)
        return NULL;
    n->nd_id = id;
    snprintf(n->nd_name, sizeof n->nd_name, "%s", name);
    if (lyh_tmpdir(name, n->nd_dir, sizeof n->nd_dir) != 0)
        goto fail_free;
    if (s_path(n->nd_config, n->nd_dir, "node.ini") != 0 ||
        s_path(n->nd_data_dir, n->nd_dir, "data") != 0 ||
        s_path(n->nd_log, n->nd_dir, "loyald.log") != 0 ||
        s_path(n->nd_stdout, n->nd_dir, "loyald.out") != 0)
        goto fail_dir;
    if (lyh_curve() && s_node_keys(n) != 0)
        goto fail_dir;
    if (s_pick_ports(n) != 0 || lyh_node_write_config(n, extra) != 0)
        goto fail_dir;
    s_register(n);
    return n;

fail_dir:
    lyh_rmtree(n->nd_dir);
fail_free:
    free(n->nd_extra);
    free(n);
    return NULL;
}

int lyh_node_start(lyh_node *n)
{
    if (n->nd_pid > 0) {
        fprintf(stderr, "harness: node %s already running (pid %d)\n", n->nd_name, (int)n->nd_pid);
        return -1;
    }
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int err = open(n->nd_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int out = open(n->nd_stdout, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int rc = -1;
    if (in < 0 || err < 0 || out < 0) {
        fprintf(stderr, "harness: unable to open the logs in '%s': %s\n", n->nd_dir,
                strerror(errno));
        goto done;
    }
    const char *argv[] = {LY_LOYALD_PATH, "--config", n->nd_config, NULL};
    pid_t pid = s_spawn(argv, in, out, err);
    if (pid > 0) {
        n->nd_pid = pid;
        n->nd_started_ms = lyh_now_ms();
        rc = 0;
    }
done:
    if (in >= 0)
        close(in);
    if (err >= 0)
        close(err);
    if (out >= 0)
        close(out);
    return rc;
}

int lyh_node_alive(lyh_node *n, int *exit_code)
{
    if (n->nd_pid <= 0)
        return 0;
    int code = s_wait(n->nd_pid, 0);
    if (code == LYH_TIMEDOUT)
        return 1;
    n->nd_pid = 0;
    if (exit_code != NULL)
        *exit_code = code;
    return 0;
}

ly_err lyh_node_status(const lyh_node *n, int timeout_ms, ly_node_status *out)
{
    ly_client *c = lyh_client(n, timeout_ms);
    if (c == NULL)
        return LY_ENOMEM;
    ly_req rq;
    ly_rep rp;
    ly_req_init(&rq, LY_MSG_STATUS);
    ly_err e = ly_client_call(c, &rq, &rp);
    if (e == LY_OK)
        e = (ly_err)rp.rp_err;
    if (e == LY_OK && out != NULL) {
        *out = *rp.rp_status;
        out->ns_peers = NULL; /* freed by ly_rep_fini: see lyh_node_status_peers */
        out->ns_npeers = 0;
    }
    ly_rep_fini(&rp);
    ly_client_destroy(&c);
    return e;
}

/* As lyh_node_wait_ready; prints the log tail on failure only if `loud`. */
static int s_wait_ready(lyh_node *n, int timeout_ms, int loud)
{
    uint64_t deadline = lyh_now_ms() + (uint64_t)timeout_ms;
    ly_client *c = lyh_client(n, S_READY_TRY_MS);
    if (c == NULL) {
        fprintf(stderr, "harness: unable to create a client for %s\n", n->nd_listen);
        return -1;
    }
    int rc = -1;
    ly_err last = LY_ETIMEDOUT;
    int told = 0; /* that another node answers: said once */
    for (;;) {
        int code = -1;
        if (!lyh_node_alive(n, &code)) {
            fprintf(stderr, "harness: loyald (%s) is not running (exit code %d)\n", n->nd_name,
                    code);
            break;
        }
        uint64_t t0 = lyh_now_ms();
        ly_req rq;
        ly_rep rp;
        ly_req_init(&rq, LY_MSG_STATUS);
        last = ly_client_call(c, &rq, &rp);
        if (last == LY_OK)
            last = (ly_err)rp.rp_err;
        /* Ready means this very process answered. Another loyald (of this
         * chain, or of a test running beside it) may hold the port this one
         * was given and could not bind: it answers with its own id or name,
         * or with an uptime from before this one was started. */
        const ly_node_status *ns = rp.rp_status;
        int other = last == LY_OK &&
                    (ns->ns_id != n->nd_id || strcmp(ns->ns_name, n->nd_name) != 0 ||
                     ns->ns_uptime_ms > lyh_now_ms() - n->nd_started_ms + S_UPTIME_SLACK_MS);
        if (other && !told) {
            told = 1;
            fprintf(stderr,
                    "harness: %s answers for node %u '%s' with node %u '%s', up %llu ms "
                    "(started %llu ms ago): not this one\n",
                    n->nd_listen, n->nd_id, n->nd_name, ns->ns_id, ns->ns_name,
                    (unsigned long long)ns->ns_uptime_ms,
                    (unsigned long long)(lyh_now_ms() - n->nd_started_ms));
        }
        if (other)
            last = LY_ECONFLICT;
        ly_rep_fini(&rp);
        if (last == LY_OK) {
            rc = 0;
            break;
        }
        if (lyh_now_ms() >= deadline) {
            fprintf(stderr, "harness: loyald (%s) did not answer on %s within %d ms: %s\n",
                    n->nd_name, n->nd_listen, timeout_ms, ly_errname(last));
            break;
        }
        if (lyh_now_ms() - t0 < 50)
            lyh_sleep_ms(50);
    }
    ly_client_destroy(&c);
    if (rc == 0)
        n->nd_ready_once = 1;
    else if (loud)
        lyh_print_tail(n->nd_log, S_TAIL_LINES);
    return rc;
}

int lyh_node_wait_ready(lyh_node *n, int timeout_ms)
{
    return s_wait_ready(n, timeout_ms, 1);
}

/* 1 if the log, from byte `from` on, says an address was in use. */
static int s_log_says_in_use(const lyh_node *n, size_t from)
{
    size_t len = 0;
    char *text = lyh_read_file(n->nd_log, &len);
    int yes = text != NULL && from < len && strstr(text + from, "in use") != NULL;
    free(text);
    return yes;
}

int lyh_node_up(lyh_node *n, int timeout_ms)
{
    for (int attempt = 0;; attempt++) {
        struct stat st;
        size_t from = stat(n->nd_log, &st) == 0 ? (size_t)st.st_size : 0;
        if (lyh_node_start(n) != 0)
            return -1;
        int may_retry = !n->nd_ready_once && attempt < 3;
        if (s_wait_ready(n, timeout_ms, !may_retry) == 0)
            return 0;
        if (!may_retry || n->nd_pid != 0 || !s_log_says_in_use(n, from)) {
            if (may_retry)
                lyh_print_tail(n->nd_log, S_TAIL_LINES);
            return -1;
        }
        fprintf(stderr, "harness: a port of node %s was taken; retrying with new ports\n",
                n->nd_name);
        if (s_pick_ports(n) != 0 || lyh_node_write_config(n, n->nd_extra) != 0)
            return -1;
    }
}

int lyh_node_stop(lyh_node *n, int timeout_ms)
{
    if (n->nd_pid <= 0)
        return LYH_TIMEDOUT;
    kill(n->nd_pid, SIGTERM);
    int code = s_wait(n->nd_pid, timeout_ms);
    if (code == LYH_TIMEDOUT) {
        fprintf(stderr, "harness: loyald (%s) did not stop within %d ms of SIGTERM\n", n->nd_name,
                timeout_ms);
        lyh_print_tail(n->nd_log, S_TAIL_LINES);
        s_kill_wait(n->nd_pid);
    }
    n->nd_pid = 0;
    return code;
}

int lyh_node_kill(lyh_node *n)
{
    if (n->nd_pid <= 0)
        return -1;
    s_kill_wait(n->nd_pid);
    n->nd_pid = 0;
    return 0;
}

void lyh_node_keep(lyh_node *n)
{
    n->nd_keep = 1;
}

void lyh_node_destroy(lyh_node **np)
{
    if (np == NULL || *np == NULL)
        return;
    lyh_node *n = *np;
    *np = NULL;
    s_unregister(n);
    if (n->nd_pid > 0)
        s_kill_wait(n->nd_pid);
    const char *keep = getenv("LYH_KEEP");
    if (n->nd_keep || (keep != NULL && strcmp(keep, "1") == 0))
        fprintf(stderr, "harness: kept the directory of node %s: %s\n", n->nd_name, n->nd_dir);
    else
        lyh_rmtree(n->nd_dir);
    free(n->nd_extra);
    free(n);
}

/* ---- running a command to completion ------------------------------------ */

typedef struct s_buf {
    char *b_data;
    size_t b_len;
    size_t b_cap;
} s_buf;

static int s_buf_read(s_buf *b, int fd)
{
    if (b->b_cap - b->b_len < 4097) {
        size_t cap = b->b_cap ? b->b_cap * 2 : 8192;
        char *nd = realloc(b->b_data, cap);
        if (nd == NULL)
            return -1;
        b->b_data = nd;
        b->b_cap = cap;
    }
    ssize_t got = read(fd, b->b_data + b->b_len, b->b_cap - b->b_len - 1);
    if (got < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : -1;
    if (got == 0)
        return 0;
    b->b_len += (size_t)got;
    return 1;
}

static char *s_buf_take(s_buf *b, size_t *len)
{
    if (b->b_data == NULL)
        b->b_data = malloc(1);
    if (b->b_data == NULL)
        return NULL;
    b->b_data[b->b_len] = '\0';
    *len = b->b_len;
    return b->b_data;
}

void lyh_output_fini(lyh_output *out)
{
    free(out->ou_out);
    free(out->ou_err);
    memset(out, 0, sizeof *out);
}

int lyh_run(const char *const argv[], int timeout_ms, lyh_output *out)
{
    memset(out, 0, sizeof *out);
    out->ou_code = -2;
    int po[2] = {-1, -1}, pe[2] = {-1, -1};
    int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    s_buf bo = {0}, be = {0};
    pid_t pid = -1;
    if (in < 0 || pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0) {
        fprintf(stderr, "harness: pipe: %s\n", strerror(errno));
        goto done;
    }
    pid = s_spawn(argv, in, po[1], pe[1]);
    close(po[1]);
    close(pe[1]);
    po[1] = pe[1] = -1;
    if (pid < 0)
        goto done;

    uint64_t deadline = lyh_now_ms() + (uint64_t)timeout_ms;
    int open_o = 1, open_e = 1, timed_out = 0;
    while (open_o || open_e) {
        uint64_t now = lyh_now_ms();
        if (now >= deadline) {
            timed_out = 1;
            break;
        }
        struct pollfd pf[2] = {{open_o ? po[0] : -1, POLLIN, 0}, {open_e ? pe[0] : -1, POLLIN, 0}};
        int r = poll(pf, 2, (int)(deadline - now));
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0)
            continue;
        if (open_o && (pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
            open_o = s_buf_read(&bo, po[0]) > 0;
        if (open_e && (pf[1].revents & (POLLIN | POLLHUP | POLLERR)))
            open_e = s_buf_read(&be, pe[0]) > 0;
    }
    if (timed_out) {
        fprintf(stderr, "harness: '%s' did not finish within %d ms\n", argv[0], timeout_ms);
        s_kill_wait(pid);
        out->ou_code = LYH_TIMEDOUT;
    } else {
        int left = (int)(deadline > lyh_now_ms() ? deadline - lyh_now_ms() : 0);
        out->ou_code = s_wait(pid, left + 1000);
        if (out->ou_code == LYH_TIMEDOUT)
            s_kill_wait(pid);
    }
done:
    if (in >= 0)
        close(in);
    for (int i = 0; i < 2; i++) {
        if (po[i] >= 0)
            close(po[i]);
        if (pe[i] >= 0)
            close(pe[i]);
    }
    out->ou_out = s_buf_take(&bo, &out->ou_out_len);
    out->ou_err = s_buf_take(&be, &out->ou_err_len);
    return out->ou_code;
}

/* The arguments of `ap` (NULL-terminated) into args[] (S_ARGS_MAX + 1). */
static void s_args_va(const char **args, va_list ap)
{
    int n = 0;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < S_ARGS_MAX)
        args[n++] = a;
    args[n] = NULL;
}

int lyh_loyalctl(lyh_output *out, int timeout_ms, ...)
{
    const char *args[S_ARGS_MAX + 1];
    va_list ap;
    va_start(ap, timeout_ms);
    s_args_va(args, ap);
    va_end(ap);
    return lyh_loyalctl_argv(out, timeout_ms, args);
}

int lyh_loyald(lyh_output *out, int timeout_ms, ...)
{
    const char *argv[S_ARGS_MAX + 2];
    va_list ap;
    va_start(ap, timeout_ms);
    argv[0] = LY_LOYALD_PATH;
    s_args_va(argv + 1, ap);
    va_end(ap);
    return lyh_run(argv, timeout_ms, out);
}

int lyh_node_program(const lyh_node *n, const char *text, int timeout_ms)
{
    static unsigned seq;
    char path[LYH_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/program-%u.ini", n->nd_dir, ++seq);
    if (lyh_write_file(path, text) != 0)
        return -1;
    lyh_output out;
    int rc = lyh_loyalctl(&out, timeout_ms, "--node", n->nd_listen, "program", "apply", path,
                          "--operator", "test", (char *)NULL);
    if (rc != 0)
        fprintf(stderr, "program apply at %s: exit %d: %s", n->nd_name, rc, out.ou_err);
    lyh_output_fini(&out);
    return rc;
}

int lyh_node_wait_program(const lyh_node *n, uint32_t version, int timeout_ms)
{
    uint64_t end = lyh_now_ms() + (uint64_t)timeout_ms;
    ly_node_status st = {0};
    ly_err e;
    do {
        if ((e = lyh_node_status(n, 1000, &st)) == LY_OK && st.ns_program == version)
            return 0;
        lyh_sleep_ms(50);
    } while (lyh_now_ms() < end);
    fprintf(stderr, "%s: program version %u not in force after %d ms (it reports %u, %s)\n",
            n->nd_name, version, timeout_ms, e == LY_OK ? st.ns_program : 0, ly_errname(e));
    return -1;
}

/* 1 if loyalctl's global option `opt` takes a value. */
static int s_ctl_global_value(const char *opt)
{
    return strcmp(opt, "--node") == 0 || strcmp(opt, "--timeout") == 0 ||
           strcmp(opt, "--key") == 0 || strcmp(opt, "--node-key") == 0;
}

int lyh_loyalctl_argv(lyh_output *out, int timeout_ms, const char *const args[])
{
    const char *argv[S_ARGS_MAX + 8];
    char pub[LYH_PATH_MAX], config[LYH_PATH_MAX];
    int nargs = 0, n = 0, keyed = 0, verify = 0, at = -1;
    while (args[nargs] != NULL)
        nargs++;
    if (nargs > S_ARGS_MAX) {
        fprintf(stderr, "harness: loyalctl with %d arguments (at most %d)\n", nargs, S_ARGS_MAX);
        memset(out, 0, sizeof *out);
        out->ou_out = strdup("");
        out->ou_err = strdup("");
        out->ou_code = -2;
        return -2;
    }
    argv[n++] = LY_LOYALCTL_PATH;
    /* With CURVE, for --node ENDPOINT of a harness node, unless the test
     * chose keys itself: the operator key and the node's public key; verify
     * asks every node, so it gets --config of the node's config file instead
     * of --node, as an operator at the branch would run it (the config names
     * the node's and its peers' keys). Another endpoint is left alone. The
     * command is the first argument that is neither a global option nor its
     * value. */
    int cmd_seen = 0;
    for (int i = 0; lyh_curve() && i < nargs; i++) {
        keyed |= strcmp(args[i], "--key") == 0 || strcmp(args[i], "--node-key") == 0 ||
                 strcmp(args[i], "--config") == 0;
        if (!cmd_seen && args[i][0] != '-') {
            cmd_seen = 1;
            verify = strcmp(args[i], "verify") == 0;
        }
        if (!cmd_seen && at < 0 && strcmp(args[i], "--node") == 0 && i + 1 < nargs &&
            s_node_files(args[i + 1], pub, config))
            at = i;
        if (!cmd_seen && s_ctl_global_value(args[i]))
            i++;
    }
    if (keyed || lyh_operator_key_file() == NULL)
        at = -1;
    if (at >= 0) {
        argv[n++] = "--key";
        argv[n++] = lyh_operator_key_file();
    }
    for (int i = 0; i < nargs; i++) {
        if (i == at && verify) {
            i++; /* --node ENDPOINT: --config below */
            continue;
        }
        argv[n++] = args[i];
        if (i == at) {
            argv[n++] = args[++i];
            argv[n++] = "--node-key";
            argv[n++] = pub;
        }
    }
    if (at >= 0 && verify) {
        argv[n++] = "--config";
        argv[n++] = config;
    }
    argv[n] = NULL; /* at most 1 + 2 + S_ARGS_MAX + 2 + 1 entries */
    return lyh_run(argv, timeout_ms, out);
}

/* ---- client calls and worker threads ------------------------------------- */

ly_err lyh_call_until(ly_client *c, ly_req *rq, ly_rep *rp, int deadline_ms, int *tries)
{
    uint64_t deadline = lyh_now_ms() + (uint64_t)deadline_ms;
    for (int n = 1;; n++) {
        ly_err e = ly_client_call(c, rq, rp);
        if (tries)
            *tries = n;
        if (e == LY_OK && rp->rp_err != LY_EUNAVAIL)
            return LY_OK;
        ly_rep_fini(rp);
        if (e != LY_OK && e != LY_ETIMEDOUT && e != LY_EIO)
            return e; /* the request itself is wrong: retrying cannot help */
        if (lyh_now_ms() >= deadline)
            return e == LY_OK ? LY_ETIMEDOUT : e;
        lyh_sleep_ms(LYH_RETRY_MS);
    }
}

void lyh_req(ly_req *rq, int type, const char *cust, const char *txn, int64_t amount,
             const char *reason)
{
    ly_req_init(rq, type);
    snprintf(rq->rq_customer, sizeof rq->rq_customer, "%s", cust);
    snprintf(rq->rq_txn, sizeof rq->rq_txn, "%s", txn);
    rq->rq_amount = amount;
    if (type == LY_MSG_ENROLL) {
        rq->rq_fields = LY_PF_NAME;
        snprintf(rq->rq_profile.pf_name, sizeof rq->rq_profile.pf_name, "Name of %s", cust);
    } else if (type == LY_MSG_ADJUST) {
        snprintf(rq->rq_reason, sizeof rq->rq_reason, "%s", reason);
        snprintf(rq->rq_operator, sizeof rq->rq_operator, "tester");
    }
}

void lyh_fail_once(int *failed, char *why, size_t cap, const char *fmt, ...)
{
    if (*failed)
        return;
    *failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
}

/* ---- status with peer rows ---------------------------------------------- */

ly_err lyh_node_status_peers(const lyh_node *n, int timeout_ms, ly_node_status *out)
{
    memset(out, 0, sizeof *out);
    ly_client *c = lyh_client(n, timeout_ms);
    if (c == NULL)
        return LY_ENOMEM;
    ly_req rq;
    ly_rep rp;
    ly_req_init(&rq, LY_MSG_STATUS);
    ly_err e = ly_client_call(c, &rq, &rp);
    if (e == LY_OK)
        e = (ly_err)rp.rp_err;
    if (e == LY_OK) {
        *out = *rp.rp_status; /* the rows move to *out */
        rp.rp_status->ns_peers = NULL;
        rp.rp_status->ns_npeers = 0;
    }
    ly_rep_fini(&rp);
    ly_client_destroy(&c);
    return e;
}

void lyh_status_fini(ly_node_status *st)
{
    free(st->ns_peers);
    st->ns_peers = NULL;
    st->ns_npeers = 0;
}

const ly_peer_status *lyh_status_peer(const ly_node_status *st, uint16_t id)
{
    for (uint32_t i = 0; i < st->ns_npeers && st->ns_peers != NULL; i++)
        if (st->ns_peers[i].ps_id == id)
            return &st->ns_peers[i];
    return NULL;
}

uint64_t lyh_status_vv(const ly_node_status *st, uint16_t origin)
{
    uint64_t seq = 0;
    for (uint32_t i = 0; i < st->ns_nvv && i < LY_VV_MAX; i++)
        if (st->ns_vv[i].origin == origin && st->ns_vv[i].seq > seq)
            seq = st->ns_vv[i].seq;
    return seq;
}

/* ---- chains of nodes ------------------------------------------------------ */

#define S_CHAIN_EXTRA_MAX 6144
#define S_CHAIN_POLL_MS   100
#define S_CHAIN_CALL_MS   2000
#define S_CHAIN_TAIL      15

void lyh_adj_mesh(int n, lyh_adj adj)
{
    memset(adj, 0, sizeof(lyh_adj));
    for (int i = 0; i < n && i < LYH_CHAIN_MAX; i++)
        for (int j = 0; j < n && j < LYH_CHAIN_MAX; j++)
            adj[i][j] = i != j;
}

void lyh_adj_line(int n, lyh_adj adj)
{
    memset(adj, 0, sizeof(lyh_adj));
    for (int i = 0; i + 1 < n && i + 1 < LYH_CHAIN_MAX; i++)
        adj[i][i + 1] = adj[i + 1][i] = 1;
}

lyh_node *lyh_chain_node(const lyh_chain *ch, int i)
{
    return i >= 1 && i <= ch->ch_n ? ch->ch_nodes[i - 1] : NULL;
}

/* The `extra` config text node i should have now: the chain's [node] settings,
 * then one [peer] section per node it knows. 0 or -1 (too long). */
static int s_chain_extra(const lyh_chain *ch, int i, char *out, size_t cap)
{
    size_t len = 0;
    int w = snprintf(out, cap, "%s", ch->ch_node_extra);
    if (w < 0 || (size_t)w >= cap)
        return -1;
    len = (size_t)w;
    for (int j = 1; j <= ch->ch_n; j++) {
        if (!ch->ch_adj[i - 1][j - 1] || j == i)
            continue;
        const lyh_node *p = ch->ch_nodes[j - 1];
        w = lyh_peer_section(out + len, cap - len, p, p->nd_peer_listen);
        if (w < 0)
            return -1;
        len += (size_t)w;
    }
    return 0;
}

/* Make every config name the peers' current ports; a running node whose config
 * changed is restarted. 0 or -1. */
static int s_chain_sync_configs(lyh_chain *ch, int timeout_ms)
{
    char *text = malloc(S_CHAIN_EXTRA_MAX);
    if (text == NULL)
        return -1;
    int rc = 0;
    for (int round = 0; round < 4; round++) {
        int changed = 0;
        for (int i = 1; i <= ch->ch_n && rc == 0; i++) {
            lyh_node *n = ch->ch_nodes[i - 1];
            if (s_chain_extra(ch, i, text, S_CHAIN_EXTRA_MAX) != 0) {
                fprintf(stderr, "harness: the config of node %s is too long\n", n->nd_name);
                rc = -1;
                break;
            }
            if (n->nd_extra != NULL && strcmp(n->nd_extra, text) == 0)
                continue;
            changed = 1;
            if (lyh_node_write_config(n, text) != 0) {
                rc = -1;
                break;
            }
            if (n->nd_pid > 0) {
                fprintf(stderr, "harness: restarting node %s: a peer's ports changed\n",
                        n->nd_name);
                lyh_node_stop(n, timeout_ms);
                if (lyh_node_up(n, timeout_ms) != 0)
                    rc = -1;
            }
        }
        if (rc != 0 || !changed)
            break;
    }
    free(text);
    return rc;
}

lyh_chain *lyh_chain_new(int n, const lyh_adj adj, const char *node_extra)
{
    if (n < 1 || n > LYH_CHAIN_MAX) {
        fprintf(stderr, "harness: a chain has 1..%d nodes, not %d\n", LYH_CHAIN_MAX, n);
        return NULL;
    }
    lyh_chain *ch = calloc(1, sizeof *ch);
    if (ch == NULL)
        return NULL;
    ch->ch_n = n;
    if (adj != NULL)
        memcpy(ch->ch_adj, adj, sizeof(lyh_adj));
    else
        lyh_adj_mesh(n, ch->ch_adj);
    ch->ch_node_extra = strdup(node_extra ? node_extra : "");
    if (ch->ch_node_extra == NULL)
        goto fail;
    for (int i = 1; i <= n; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        ch->ch_nodes[i - 1] = lyh_node_new((uint16_t)i, name, NULL);
        if (ch->ch_nodes[i - 1] == NULL)
            goto fail;
    }
    /* All ports are known now: write the real configs. */
    if (s_chain_sync_configs(ch, 0) != 0)
        goto fail;
    return ch;

fail:
    fprintf(stderr, "harness: unable to set up a chain of %d nodes\n", n);
    lyh_chain_destroy(&ch);
    return NULL;
}

int lyh_chain_up(lyh_chain *ch, int first, int last, int timeout_ms)
{
    if (first < 1 || last > ch->ch_n || first > last) {
        fprintf(stderr, "harness: no nodes %d..%d in a chain of %d\n", first, last, ch->ch_n);
        return -1;
    }
    for (int i = first; i <= last; i++) {
        lyh_node *n = ch->ch_nodes[i - 1];
        if (n->nd_pid > 0)
            continue;
        if (lyh_node_up(n, timeout_ms) != 0) {
            fprintf(stderr, "harness: node %s of the chain did not start\n", n->nd_name);
            return -1;
        }
    }
    return s_chain_sync_configs(ch, timeout_ms);
}

int lyh_chain_kill(lyh_chain *ch, int i)
{
    lyh_node *n = lyh_chain_node(ch, i);
    return n != NULL ? lyh_node_kill(n) : -1;
}

ly_err lyh_chain_status(const lyh_chain *ch, int i, int timeout_ms, ly_node_status *out)
{
    const lyh_node *n = lyh_chain_node(ch, i);
    if (n == NULL) {
        memset(out, 0, sizeof *out);
        return LY_EINVAL;
    }
    return lyh_node_status_peers(n, timeout_ms, out);
}

/* 1 if the two statuses hold the same version vector (as sets). */
static int s_same_vv(const ly_node_status *a, const ly_node_status *b)
{
    if (a->ns_nvv != b->ns_nvv)
        return 0;
    for (uint32_t i = 0; i < a->ns_nvv && i < LY_VV_MAX; i++) {
        int found = 0;
        for (uint32_t j = 0; j < b->ns_nvv && j < LY_VV_MAX && !found; j++)
            found = a->ns_vv[i].origin == b->ns_vv[j].origin &&
                    a->ns_vv[i].incarnation == b->ns_vv[j].incarnation &&
                    a->ns_vv[i].seq == b->ns_vv[j].seq;
        if (!found)
            return 0;
    }
    return 1;
}

static void s_print_status(const char *name, const ly_node_status *st)
{
    fprintf(stderr, "  %s: id=%u events=%llu customers=%llu digest=%016llx vv={", name,
            (unsigned)st->ns_id, (unsigned long long)st->ns_events,
            (unsigned long long)st->ns_customers, (unsigned long long)st->ns_digest);
    for (uint32_t i = 0; i < st->ns_nvv && i < LY_VV_MAX; i++)
        fprintf(stderr, "%s%u/%u:%llu", i ? " " : "", (unsigned)st->ns_vv[i].origin,
                (unsigned)st->ns_vv[i].incarnation, (unsigned long long)st->ns_vv[i].seq);
    fprintf(stderr, "}\n");
    for (uint32_t i = 0; i < st->ns_npeers && st->ns_peers != NULL; i++) {
        const ly_peer_status *p = &st->ns_peers[i];
        fprintf(stderr,
                "    peer %u %s: up=%u last_heard_ms=%lld behind=%llu missing=%llu "
                "lag_ms=%llu converged=%u digest=%016llx events=%llu sent=%llu received=%llu "
                "dropped=%llu\n",
                (unsigned)p->ps_id, p->ps_name, (unsigned)p->ps_up,
                p->ps_last_heard_ms == UINT64_MAX ? -1LL : (long long)p->ps_last_heard_ms,
                (unsigned long long)p->ps_behind, (unsigned long long)p->ps_missing,
                (unsigned long long)p->ps_lag_ms, (unsigned)p->ps_converged,
                (unsigned long long)p->ps_digest, (unsigned long long)p->ps_events,
                (unsigned long long)p->ps_sent, (unsigned long long)p->ps_received,
                (unsigned long long)p->ps_dropped);
    }
}

void lyh_chain_print(const lyh_chain *ch)
{
    for (int i = 1; i <= ch->ch_n; i++) {
        const lyh_node *n = ch->ch_nodes[i - 1];
        if (n->nd_pid <= 0) {
            fprintf(stderr, "  %s: not running\n", n->nd_name);
            continue;
        }
        ly_node_status st;
        ly_err e = lyh_node_status_peers(n, S_CHAIN_CALL_MS, &st);
        if (e != LY_OK)
            fprintf(stderr, "  %s: no status: %s\n", n->nd_name, ly_errname(e));
        else
            s_print_status(n->nd_name, &st);
        lyh_status_fini(&st);
    }
}

int64_t lyh_chain_wait_converged(lyh_chain *ch, int timeout_ms)
{
    uint64_t t0 = lyh_now_ms();
    ly_node_status *st = calloc(LYH_CHAIN_MAX, sizeof *st);
    if (st == NULL)
        return -1;
    int64_t took = -1;
    for (;;) {
        uint64_t round = lyh_now_ms();
        int ok = 1, first = -1;
        for (int i = 0; i < ch->ch_n && ok; i++) {
            lyh_node *n = ch->ch_nodes[i];
            if (n->nd_pid <= 0)
                continue;
            if (lyh_node_status(n, S_CHAIN_CALL_MS, &st[i]) != LY_OK) {
                ok = 0;
                break;
            }
            if (first < 0)
                first = i;
            else
                ok = st[i].ns_digest == st[first].ns_digest &&
                     st[i].ns_events == st[first].ns_events && s_same_vv(&st[i], &st[first]);
        }
        if (ok) {
            took = (int64_t)(lyh_now_ms() - t0);
            break;
        }
        if (lyh_now_ms() - t0 >= (uint64_t)timeout_ms)
            break;
        uint64_t spent = lyh_now_ms() - round;
        if (spent < S_CHAIN_POLL_MS)
            lyh_sleep_ms((int)(S_CHAIN_POLL_MS - spent));
    }
    free(st);
    if (took < 0) {
        fprintf(stderr, "harness: the chain did not converge within %d ms:\n", timeout_ms);
        lyh_chain_print(ch);
        for (int i = 0; i < ch->ch_n; i++)
            if (ch->ch_nodes[i]->nd_pid > 0 || lyh_exists(ch->ch_nodes[i]->nd_log))
                lyh_print_tail(ch->ch_nodes[i]->nd_log, S_CHAIN_TAIL);
    }
    return took;
}

int lyh_chain_stop(lyh_chain *ch, int timeout_ms)
{
    int bad = 0;
    for (int i = 0; i < ch->ch_n; i++) {
        lyh_node *n = ch->ch_nodes[i];
        if (n->nd_pid <= 0)
            continue;
        int code = lyh_node_stop(n, timeout_ms);
        if (code != 0) {
            fprintf(stderr, "harness: node %s exited %d on SIGTERM\n", n->nd_name, code);
            if (code != LYH_TIMEDOUT) /* lyh_node_stop printed the tail already */
                lyh_print_tail(n->nd_log, S_TAIL_LINES);
            bad++;
        }
    }
    return bad;
}

void lyh_chain_keep(lyh_chain *ch)
{
    for (int i = 0; i < ch->ch_n; i++)
        if (ch->ch_nodes[i] != NULL)
            lyh_node_keep(ch->ch_nodes[i]);
}

void lyh_chain_destroy(lyh_chain **chp)
{
    if (chp == NULL || *chp == NULL)
        return;
    lyh_chain *ch = *chp;
    *chp = NULL;
    for (int i = 0; i < ch->ch_n; i++)
        lyh_node_destroy(&ch->ch_nodes[i]);
    free(ch->ch_node_extra);
    free(ch);
}
