/* config.c -- load and validate the node's INI configuration (libinih).
 *
 * libinih does the key = value splitting and the comments; this file feeds it
 * one line at a time through its own reader, so it knows the exact line of
 * every key, and it reads section headers itself: inih truncates section
 * names to 49 bytes and never reports a section that holds no key, and both
 * an unknown and a duplicate section must be errors. The reader also strips
 * leading whitespace, which turns inih's multi-line values off (an indented
 * line is an ordinary line here), and passes lines longer than inih's fixed
 * buffer as the key alone, keeping the value aside (long data_dir paths).
 *
 * Nothing is written: the file is read, the data directory is only examined.
 * On error the caller's `out` is left untouched. */
#include "common/config.h"
#include "common/initext.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/store.h"
#include "common/tz.h"

#define S_FILE_MAX     (1024 * 1024) /* bytes in a config file */
#define S_LINE_MAX     8192          /* bytes in one line */
#define S_MSG_MAX      1024
#define S_IPC_PATH_MAX 107 /* sizeof(sockaddr_un.sun_path) - 1 */
#define S_HOST_MAX     253

/* Defaults and ranges of [node]. */
#define S_BATCH_MAX_DEFAULT   512
#define S_BATCH_MAX_MAX       4096
#define S_MAP_SIZE_MB_DEFAULT 64
#define S_MAP_SIZE_MB_MAX     1048576
#define S_CLOCK_AHEAD_DEFAULT 60000
#define S_CLOCK_AHEAD_MAX     86400000 /* one day */

/* The version whose node config stopped holding the loyalty program: fixed
 * text, it must not follow later version bumps. */
#define S_PROGRAM_MOVED_IN "0.1.0"

enum { S_NODE = 1, S_PEER, S_POS, S_OPERATOR, S_AUDITOR, S_KIND_LAST = S_AUDITOR };

/* Sections the node config held before the program became chain data; they
 * are refused, with what to do instead (s_header_parse). */
static const char *const s_moved_kinds[] = {"program", "tier", "category"};

/* Keys of each section kind; the index is the key's slot in s_sect.se_key_line. */
enum {
    K_ID,
    K_NAME,
    K_DATA_DIR,
    K_LISTEN,
    K_PEER_LISTEN,
    K_LOG_LEVEL,
    K_BATCH,
    K_MAP,
    K_CLOCK,
    K_ADVERTISE,
    K_RIGHTS_WAIT,
    K_CKPT_MS,
    K_CKPT_EVENTS,
    K_TIMEZONE,
    K_KEY,
    K_INSECURE
};
enum { K_PEER_ID, K_ENDPOINT, K_PEER_KEY };
enum { K_ROLE_KEY };
#define S_KEYS_MAX 16

static const struct {
    const char *kind;
    int named; /* 1 if the header carries a name: [peer south] */
    const char *const keys[S_KEYS_MAX + 1];
} s_kinds[] = {
    [S_NODE] = {"node",
                0,
                {"id", "name", "data_dir", "listen", "peer_listen", "log_level", "batch_max",
                 "map_size_mb", "max_clock_ahead_ms", "advertise", "rights_wait_ms",
                 "checkpoint_ms", "checkpoint_events", "timezone", "key", "insecure", NULL}},
    [S_PEER] = {"peer", 1, {"id", "endpoint", "key", NULL}},
    [S_POS] = {"pos", 1, {"key", NULL}},
    [S_OPERATOR] = {"operator", 1, {"key", NULL}},
    [S_AUDITOR] = {"auditor", 1, {"key", NULL}},
};

/* The role of a role section's keys. */
static ly_role s_role_of(int kind)
{
    return kind == S_POS ? LY_ROLE_POS : kind == S_OPERATOR ? LY_ROLE_OPERATOR : LY_ROLE_AUDITOR;
}

typedef struct s_sect {
    int se_kind;
    int se_line;                          /* line of the header */
    int se_index;                         /* peer or key index in the config */
    char se_label[LY_NODE_NAME_MAX + 16]; /* "[peer south]", for messages */
    int se_key_line[S_KEYS_MAX];          /* line each key was set on; 0 = not set */
} s_sect;

#define S_SECTS_MAX (1 + LY_PEERS_MAX + LY_KEYS_MAX)

typedef struct s_ctx {
    const char *path;
    FILE *fp;
    char *line; /* getline's buffer */
    size_t line_cap;
    size_t bytes;
    int lineno;
    int long_line;    /* line whose value is kept in long_value (too long for inih) */
    char *long_value; /* owned */
    int err_line;     /* 0: no line, the message is about the whole file */
    int failed;
    char msg[S_MSG_MAX];
    int nsects;
    int sects_cap; /* sects grows on demand: most files have a handful */
    int cur;       /* current section, -1 before the first */
    int node;
    char data_dir[LY_PATH_MAX + 1]; /* as written */
    ly_config cf;
    s_sect *sects; /* owned; at most S_SECTS_MAX */
} s_ctx;

__attribute__((format(printf, 3, 4))) static void s_fail(s_ctx *c, int line, const char *fmt, ...)
{
    if (c->failed)
        return;
    c->failed = 1;
    c->err_line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
}

/* ---- strings and numbers ----------------------------------------------- */

/* 1 if `s` is 1..max bytes of [A-Za-z0-9._-]. */
static int s_name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
            return 0;
    return 1;
}

/* 1 if `s` holds no control characters. */
static int s_printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

/* ---- endpoints ---------------------------------------------------------- */

/* Splits "tcp://HOST:PORT"; host and port point into `ep`. */
static int s_tcp_split(const char *ep, const char **host, size_t *host_len, const char **port)
{
    if (strncmp(ep, "tcp://", 6) != 0)
        return -1;
    const char *h = ep + 6;
    const char *colon = strrchr(h, ':');
    if (!colon)
        return -1;
    *host = h;
    *host_len = (size_t)(colon - h);
    *port = colon + 1;
    return 0;
}

static int s_host_ok(const char *h, size_t n)
{
    if (n == 0 || n > S_HOST_MAX)
        return 0;
    if (n == 1 && h[0] == '*')
        return 1;
    if (h[0] == '[') { /* [IPv6] with an optional %zone */
        if (n < 3 || h[n - 1] != ']')
            return 0;
        for (size_t i = 1; i < n - 1; i++)
            if (!isxdigit((unsigned char)h[i]) && !strchr(":.%", h[i]) &&
                !isalnum((unsigned char)h[i]))
                return 0;
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)h[i]) && !strchr(".-_", h[i]))
            return 0;
    return 1;
}

static int s_port_ok(const char *p)
{
    uint64_t v;
    if (strcmp(p, "*") == 0)
        return 1;
    if (strlen(p) > 5 || ly_ini_uint(p, &v) != 0)
        return 0;
    return v >= 1 && v <= 65535;
}

int ly_endpoint_valid(const char *ep)
{
    if (!ep || strlen(ep) > LY_ENDPOINT_MAX || !s_printable(ep))
        return 0;
    if (strncmp(ep, "ipc://", 6) == 0) {
        size_t n = strlen(ep + 6);
        return n > 0 && n <= S_IPC_PATH_MAX;
    }
    const char *host, *port;
    size_t host_len;
    if (s_tcp_split(ep, &host, &host_len, &port) != 0)
        return 0;
    return s_host_ok(host, host_len) && s_port_ok(port);
}

/* 1 if a valid endpoint names one address to connect to (no '*'). */
static int s_connectable(const char *ep)
{
    const char *host, *port;
    size_t host_len;
    if (s_tcp_split(ep, &host, &host_len, &port) != 0)
        return strcmp(ep, "ipc://*") != 0;
    return !(host_len == 1 && host[0] == '*') && strcmp(port, "*") != 0;
}

static int s_loopback(const char *ep);

/* 1 if endpoint `a` is the address `b` is bound to: the same string, or TCP
 * on the same port with the same host or a wildcard one. With `a_remote`, `a`
 * is a peer's endpoint to connect to and `b` this node's bind: a wildcard
 * bind is then reached through it only from this machine (every branch binds
 * 0.0.0.0:7102 on its own machine and names the others tcp://10.0.2.5:7102).
 * Without it, both are binds of this node, which clash. */
static int s_addr_match(const char *a, const char *b, int a_remote)
{
    const char *ha, *pa, *hb, *pb;
    size_t la, lb;
    if (strcmp(a, b) == 0)
        return 1;
    if (s_tcp_split(a, &ha, &la, &pa) != 0 || s_tcp_split(b, &hb, &lb, &pb) != 0)
        return 0;
    if (strcmp(pa, pb) != 0 || strcmp(pa, "*") == 0)
        return 0;
    int wild_a = (la == 1 && ha[0] == '*') || (la == 7 && memcmp(ha, "0.0.0.0", 7) == 0);
    int wild_b = (lb == 1 && hb[0] == '*') || (lb == 7 && memcmp(hb, "0.0.0.0", 7) == 0);
    if (wild_b && a_remote)
        return wild_a || s_loopback(a);
    return wild_a || wild_b || (la == lb && memcmp(ha, hb, la) == 0);
}

/* ---- sections ----------------------------------------------------------- */

static s_sect *s_find_sect(s_ctx *c, int kind, const char *label)
{
    for (int i = 0; i < c->nsects; i++)
        if (c->sects[i].se_kind == kind && strcmp(c->sects[i].se_label, label) == 0)
            return &c->sects[i];
    return NULL;
}

/* A header line "[kind name]"; `s` starts at '[' and is cut up in place. */
static void s_header_parse(s_ctx *c, char *s)
{
    int line = c->lineno;
    char *end = ly_ini_find(s + 1, "]");
    if (*end != ']') {
        s_fail(c, line, "missing ']' in section header");
        return;
    }
    char *rest = ly_ini_lskip(end + 1);
    if (*rest && *rest != ';' && *rest != '#') {
        s_fail(c, line, "unexpected text after ']': '%.64s'", rest);
        return;
    }
    *end = '\0';
    char *kind = ly_ini_lskip(s + 1);
    ly_ini_rstrip(kind);
    char *name = kind;
    while (*name && !isspace((unsigned char)*name))
        name++;
    if (*name) {
        *name = '\0';
        name = ly_ini_lskip(name + 1);
    }

    for (size_t i = 0; i < sizeof s_moved_kinds / sizeof s_moved_kinds[0]; i++)
        if (strcmp(kind, s_moved_kinds[i]) == 0) {
            s_fail(c, line,
                   "[%.64s%s%.64s] is no longer a node setting: the loyalty program is chain "
                   "data since version " S_PROGRAM_MOVED_IN "; move [program], [tier] and "
                   "[category] into a program file (see deploy/program.example.ini) and run "
                   "'loyalctl program apply FILE' once at any branch",
                   kind, *name ? " " : "", name);
            return;
        }
    int k = 0;
    for (int i = S_NODE; i <= S_KIND_LAST; i++)
        if (strcmp(kind, s_kinds[i].kind) == 0)
            k = i;
    if (k == 0) {
        s_fail(c, line,
               "unknown section [%.64s%s%.64s] (expected [node], [peer NAME], [pos NAME], "
               "[operator NAME] or [auditor NAME])",
               kind, *name ? " " : "", name);
        return;
    }
    if (!s_kinds[k].named && *name) {
        s_fail(c, line, "section [%s] takes no name (found '%.64s')", kind, name);
        return;
    }
    if (s_kinds[k].named && !*name) {
        s_fail(c, line, "section [%s] needs a name: [%s NAME]", kind, kind);
        return;
    }
    if (k == S_PEER && !s_name_ok(name, LY_NODE_NAME_MAX)) {
        s_fail(c, line, "bad peer name '%.64s': use 1..%d characters of A-Z a-z 0-9 . _ -", name,
               LY_NODE_NAME_MAX);
        return;
    }
    if (k >= S_POS && !s_name_ok(name, LY_NODE_NAME_MAX)) {
        s_fail(c, line, "bad key name '%.64s' in [%s]: use 1..%d characters of A-Z a-z 0-9 . _ -",
               name, kind, LY_NODE_NAME_MAX);
        return;
    }
    /* A key's name is who did what it does: one name, one key, whatever the role. */
    for (int i = 0; k >= S_POS && i < c->nsects; i++)
        if (c->sects[i].se_kind >= S_POS &&
            strcmp(c->cf.cf_keys[c->sects[i].se_index].kc_name, name) == 0) {
            s_fail(c, line, "duplicate key name '%s': %s is already at line %d", name,
                   c->sects[i].se_label, c->sects[i].se_line);
            return;
        }

    char label[sizeof c->sects[0].se_label];
    snprintf(label, sizeof label, "[%s%s%s]", kind, *name ? " " : "", name);
    const s_sect *dup = s_find_sect(c, k, label);
    if (dup) {
        if (k == S_PEER)
            s_fail(c, line, "duplicate peer name '%s': %s is already at line %d", name, label,
                   dup->se_line);
        else
            s_fail(c, line, "duplicate section %s (first at line %d)", label, dup->se_line);
        return;
    }

    if (c->nsects == c->sects_cap) {
        int cap = c->sects_cap ? c->sects_cap * 2 : 8;
        s_sect *grown = realloc(c->sects, (size_t)cap * sizeof *grown);
        if (!grown) {
            s_fail(c, line, "out of memory");
            return;
        }
        c->sects = grown;
        c->sects_cap = cap;
    }

    ly_config *cf = &c->cf;
    int index = 0;
    switch (k) {
    case S_PEER:
        if (cf->cf_npeers == LY_PEERS_MAX) {
            s_fail(c, line, "too many peers (at most %d)", LY_PEERS_MAX);
            return;
        }
        index = cf->cf_npeers++;
        snprintf(cf->cf_peers[index].pc_name, sizeof cf->cf_peers[index].pc_name, "%s", name);
        break;
    case S_NODE:
        c->node = c->nsects;
        break;
    default: /* a role section */
        if (cf->cf_nkeys == LY_KEYS_MAX) {
            s_fail(c, line, "too many keys (at most %d in [pos], [operator] and [auditor])",
                   LY_KEYS_MAX);
            return;
        }
        index = cf->cf_nkeys++;
        snprintf(cf->cf_keys[index].kc_name, sizeof cf->cf_keys[index].kc_name, "%s", name);
        cf->cf_keys[index].kc_role = s_role_of(k);
        break;
    }

    s_sect *se = &c->sects[c->nsects];
    memset(se, 0, sizeof *se);
    se->se_kind = k;
    se->se_line = line;
    se->se_index = index;
    memcpy(se->se_label, label, sizeof label);
    c->cur = c->nsects++;
}

/* The same on a copy: inih must still see the line as written. */
static void s_header(s_ctx *c, const char *line)
{
    char *s = strdup(line);
    if (!s) {
        s_fail(c, c->lineno, "out of memory");
        return;
    }
    s_header_parse(c, s);
    free(s);
}

/* ---- the reader: one line per call -------------------------------------- */

static char *s_reader(char *str, int num, void *stream)
{
    s_ctx *c = stream;
    if (c->failed)
        return NULL;
    errno = 0;
    ssize_t n = getline(&c->line, &c->line_cap, c->fp);
    if (n < 0) {
        if (ferror(c->fp))
            s_fail(c, 0, "cannot read: %s", strerror(errno ? errno : EIO));
        return NULL;
    }
    c->lineno++;
    c->bytes += (size_t)n;
    if (c->bytes > S_FILE_MAX) {
        s_fail(c, 0, "file too large (at most %d bytes)", S_FILE_MAX);
        return NULL;
    }
    if ((size_t)n != strlen(c->line)) {
        s_fail(c, c->lineno, "NUL byte in line");
        return NULL;
    }
    if (n > S_LINE_MAX) {
        s_fail(c, c->lineno, "line too long (at most %d bytes)", S_LINE_MAX);
        return NULL;
    }

    char *s = c->line;
    if (c->lineno == 1 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3; /* a UTF-8 byte order mark */
    s = ly_ini_lskip(s);
    ly_ini_rstrip(s);

    if (*s == '[') {
        s_header(c, s);
    } else if (*s && *s != ';' && *s != '#') {
        char *sep = ly_ini_find(s, "=:");
        if (*sep != '=' && *sep != ':')
            s_fail(c, c->lineno, "expected 'key = value' or '[section]', found '%.64s'", s);
    }
    if (c->failed)
        return NULL;

    size_t len = strlen(s);
    if (num > 0 && len < (size_t)num) {
        memcpy(str, s, len + 1);
        return str;
    }
    if (*s == '[') { /* header already read; inih needs no name */
        snprintf(str, (size_t)num, "[-]");
        return str;
    }
    if (*s == ';' || *s == '#') { /* a comment has no '=' to split at: nothing for inih */
        str[0] = '\0';
        return str;
    }
    /* A key = value line longer than inih's buffer: pass the key, keep the
     * value here, treated as inih would (inline comment, whitespace). */
    char *sep = ly_ini_find(s, "=:");
    char *value = sep + 1;
    *sep = '\0';
    ly_ini_rstrip(s);
    char *comment = ly_ini_find(value, NULL);
    *comment = '\0';
    value = ly_ini_lskip(value);
    ly_ini_rstrip(value);
    if (num < 2 || strlen(s) + 2 > (size_t)num) {
        s_fail(c, c->lineno, "key too long: '%.64s...'", s);
        return NULL;
    }
    free(c->long_value);
    c->long_value = strdup(value);
    if (!c->long_value) {
        s_fail(c, c->lineno, "out of memory");
        return NULL;
    }
    c->long_line = c->lineno;
    snprintf(str, (size_t)num, "%s=", s);
    return str;
}

/* ---- keys --------------------------------------------------------------- */

static int s_uint(s_ctx *c, const s_sect *se, const char *key, const char *value, uint64_t lo,
                  uint64_t hi, uint64_t *out)
{
    uint64_t v;
    if (ly_ini_uint(value, &v) != 0 || v < lo || v > hi) {
        s_fail(c, c->lineno, "bad value '%.64s' for '%s' in %s: expected an integer %llu..%llu",
               value, key, se->se_label, (unsigned long long)lo, (unsigned long long)hi);
        return -1;
    }
    *out = v;
    return 0;
}

static void s_endpoint(s_ctx *c, const s_sect *se, const char *key, const char *value, char *dst)
{
    if (!ly_endpoint_valid(value)) {
        s_fail(c, c->lineno,
               "bad endpoint '%.300s' for '%s' in %s: expected tcp://HOST:PORT (port 1..65535 "
               "or *) or ipc://PATH",
               value, key, se->se_label);
        return;
    }
    snprintf(dst, LY_ENDPOINT_MAX + 1, "%s", value);
}

/* An IANA zone name this machine has a zone file for (common/tz.h). */
static void s_timezone(s_ctx *c, const char *value)
{
    char why[256];
    switch (ly_tz_check(value, why, sizeof why)) {
    case LY_OK:
        snprintf(c->cf.cf_timezone, sizeof c->cf.cf_timezone, "%s", value);
        return;
    case LY_EINVAL:
        s_fail(c, c->lineno, "bad time zone '%.64s': %s (an IANA name such as Europe/Prague)",
               s_printable(value) ? value : "?", why);
        return;
    default:
        s_fail(c, c->lineno,
               "unknown time zone '%.64s' (an IANA name such as Europe/Prague; see %.256s)", value,
               ly_tz_dir());
        return;
    }
}

/* The path of a key file as written, resolved against the config file's
 * directory when relative, into `out` (LY_PATH_MAX + 1 bytes). 0 or -1. */
static int s_key_path(s_ctx *c, const s_sect *se, const char *value, char *out)
{
    if (!*value || !s_printable(value)) {
        s_fail(c, c->lineno, "bad key file '%.64s' in %s", s_printable(value) ? value : "?",
               se->se_label);
        return -1;
    }
    int n;
    const char *slash = strrchr(c->path, '/');
    if (value[0] == '/' || !slash)
        n = snprintf(out, LY_PATH_MAX + 1, "%s", value);
    else
        n = snprintf(out, LY_PATH_MAX + 1, "%.*s/%s", (int)(slash - c->path), c->path, value);
    if (n < 0 || n > LY_PATH_MAX) {
        s_fail(c, c->lineno, "key file path too long in %s (at most %d bytes)", se->se_label,
               LY_PATH_MAX);
        return -1;
    }
    return 0;
}

/* A public key file for a peer or a role section. */
static void s_public_key(s_ctx *c, const s_sect *se, const char *value, char *pub)
{
    char *path = malloc(LY_PATH_MAX + 1);
    char why[LY_PATH_MAX + 256];
    if (!path) {
        s_fail(c, c->lineno, "out of memory");
        return;
    }
    if (s_key_path(c, se, value, path) == 0 &&
        ly_key_read_public(path, pub, why, sizeof why) != LY_OK)
        s_fail(c, c->lineno, "key of %s: %s", se->se_label, why);
    free(path);
}

static void s_node_key(s_ctx *c, const s_sect *se, int k, const char *key, const char *value)
{
    ly_config *cf = &c->cf;
    uint64_t v;
    switch (k) {
    case K_ID:
        if (s_uint(c, se, key, value, 1, 65535, &v) == 0)
            cf->cf_node_id = (uint16_t)v;
        break;
    case K_NAME:
        if (!s_name_ok(value, LY_NODE_NAME_MAX))
            s_fail(c, c->lineno,
                   "bad name '%.64s' in [node]: use 1..%d characters of A-Z a-z 0-9 . _ -", value,
                   LY_NODE_NAME_MAX);
        else
            snprintf(cf->cf_name, sizeof cf->cf_name, "%s", value);
        break;
    case K_DATA_DIR:
        if (!*value)
            s_fail(c, c->lineno, "empty data_dir in [node]");
        else if (!s_printable(value))
            s_fail(c, c->lineno, "control character in data_dir");
        else if (strlen(value) > LY_PATH_MAX)
            s_fail(c, c->lineno, "data_dir too long (at most %d bytes)", LY_PATH_MAX);
        else
            snprintf(c->data_dir, sizeof c->data_dir, "%s", value);
        break;
    case K_LISTEN:
        s_endpoint(c, se, key, value, cf->cf_listen);
        break;
    case K_PEER_LISTEN:
        s_endpoint(c, se, key, value, cf->cf_peer_listen);
        break;
    case K_RIGHTS_WAIT:
        /* Bounded well below clients' timeouts (loyalctl's default is 5 s). */
        if (s_uint(c, se, key, value, 0, 2000, &v) == 0)
            cf->cf_rights_wait_ms = (uint32_t)v;
        break;
    case K_CKPT_MS:
        if (s_uint(c, se, key, value, 10, 60000, &v) == 0)
            cf->cf_checkpoint_ms = (uint32_t)v;
        break;
    case K_CKPT_EVENTS:
        if (s_uint(c, se, key, value, 100, 10000000, &v) == 0)
            cf->cf_checkpoint_events = (uint32_t)v;
        break;
    case K_ADVERTISE:
        s_endpoint(c, se, key, value, cf->cf_advertise);
        if (strstr(cf->cf_advertise, ":*") || strstr(cf->cf_advertise, "://*"))
            s_fail(c, c->lineno, "advertise '%s' must be an address others can connect to",
                   cf->cf_advertise);
        break;
    case K_LOG_LEVEL:
        if (ly_log_parse_level(value, &cf->cf_log_level) != 0)
            s_fail(c, c->lineno,
                   "bad value '%.64s' for 'log_level' in [node]: expected debug, info, warn or "
                   "error",
                   value);
        break;
    case K_BATCH:
        if (s_uint(c, se, key, value, 1, S_BATCH_MAX_MAX, &v) == 0)
            cf->cf_batch_max = (uint32_t)v;
        break;
    case K_MAP:
        if (s_uint(c, se, key, value, 1, S_MAP_SIZE_MB_MAX, &v) == 0)
            cf->cf_map_size_mb = v;
        break;
    case K_CLOCK:
        if (s_uint(c, se, key, value, 1, S_CLOCK_AHEAD_MAX, &v) == 0)
            cf->cf_max_clock_ahead_ms = v;
        break;
    case K_TIMEZONE:
        s_timezone(c, value);
        break;
    case K_KEY: {
        char why[LY_PATH_MAX + 256];
        if (s_key_path(c, se, value, cf->cf_key_file) != 0)
            break;
        if (ly_key_read_secret(cf->cf_key_file, &cf->cf_key, why, sizeof why) != LY_OK)
            s_fail(c, c->lineno, "key of [node]: %s", why);
        else
            cf->cf_curve = 1;
        break;
    }
    case K_INSECURE:
        if (strcmp(value, "true") == 0)
            cf->cf_insecure = 1;
        else if (strcmp(value, "false") == 0)
            cf->cf_insecure = 0;
        else
            s_fail(c, c->lineno,
                   "bad value '%.64s' for 'insecure' in [node]: expected true or false",
                   s_printable(value) ? value : "?");
        break;
    }
}

static void s_peer_key(s_ctx *c, const s_sect *se, int k, const char *key, const char *value)
{
    ly_peer_conf *pc = &c->cf.cf_peers[se->se_index];
    uint64_t v;
    if (k == K_PEER_ID) {
        if (s_uint(c, se, key, value, 1, 65535, &v) == 0)
            pc->pc_id = (uint16_t)v;
        return;
    }
    if (k == K_PEER_KEY) {
        s_public_key(c, se, value, pc->pc_public);
        return;
    }
    s_endpoint(c, se, key, value, pc->pc_endpoint);
    if (!c->failed && !s_connectable(value))
        s_fail(c, c->lineno,
               "bad endpoint '%.300s' for 'endpoint' in %s: a peer needs a host and a port to "
               "connect to, not '*'",
               value, se->se_label);
}

static int s_handler(void *user, const char *section, const char *name, const char *value)
{
    s_ctx *c = user;
    (void)section; /* inih's copy may be truncated; s_header keeps the real one */
    if (c->failed)
        return 0;
    if (!name)
        return 1; /* a section start, if inih was built to report them */
    if (!value)
        value = "";
    if (c->long_line == c->lineno)
        value = c->long_value;
    if (!*name) {
        s_fail(c, c->lineno, "missing key name before '='");
        return 0;
    }
    if (c->cur < 0) {
        s_fail(c, c->lineno, "key '%.64s' outside any section (start with [node])", name);
        return 0;
    }
    s_sect *se = &c->sects[c->cur];
    int k = -1;
    for (int i = 0; s_kinds[se->se_kind].keys[i]; i++)
        if (strcmp(name, s_kinds[se->se_kind].keys[i]) == 0)
            k = i;
    if (k < 0) {
        s_fail(c, c->lineno, "unknown key '%.64s' in %s", name, se->se_label);
        return 0;
    }
    if (se->se_key_line[k]) {
        s_fail(c, c->lineno, "duplicate key '%s' in %s (first at line %d)", name, se->se_label,
               se->se_key_line[k]);
        return 0;
    }
    se->se_key_line[k] = c->lineno;

    if (se->se_kind == S_NODE)
        s_node_key(c, se, k, name, value);
    else if (se->se_kind == S_PEER)
        s_peer_key(c, se, k, name, value);
    else
        s_public_key(c, se, value, c->cf.cf_keys[se->se_index].kc_public);
    return !c->failed;
}

/* ---- checks after the whole file is read -------------------------------- */

static void s_required(s_ctx *c)
{
    for (int i = 0; i < c->nsects && !c->failed; i++) {
        const s_sect *se = &c->sects[i];
        for (int k = 0; s_kinds[se->se_kind].keys[k]; k++) {
            int optional = (se->se_kind == S_NODE && k >= K_PEER_LISTEN) ||
                           (se->se_kind == S_PEER && k == K_PEER_KEY);
            if (!optional && !se->se_key_line[k]) {
                s_fail(c, se->se_line, "missing key '%s' in %s", s_kinds[se->se_kind].keys[k],
                       se->se_label);
                break;
            }
        }
    }
}

/* The section of a peer, by index. */
static const s_sect *s_peer_sect(const s_ctx *c, int index)
{
    for (int i = 0; i < c->nsects; i++)
        if (c->sects[i].se_kind == S_PEER && c->sects[i].se_index == index)
            return &c->sects[i];
    return NULL;
}

/* Node ids and names are unique; endpoints too. Errors name both lines. */
static void s_unique(s_ctx *c)
{
    const ly_config *cf = &c->cf;
    const s_sect *node = &c->sects[c->node];
    for (int i = 0; i < cf->cf_npeers && !c->failed; i++) {
        const ly_peer_conf *p = &cf->cf_peers[i];
        const s_sect *ps = s_peer_sect(c, i);
        int pl = ps->se_key_line[K_PEER_ID], nl = node->se_key_line[K_ID];
        if (p->pc_id == cf->cf_node_id) {
            if (pl > nl)
                s_fail(c, pl, "duplicate node id %u: %s has the id of [node] (line %d)", p->pc_id,
                       ps->se_label, nl);
            else
                s_fail(c, nl, "duplicate node id %u: [node] has the id of %s (line %d)", p->pc_id,
                       ps->se_label, pl);
            return;
        }
        if (strcmp(p->pc_name, cf->cf_name) == 0) {
            s_fail(c, ps->se_line, "peer name '%s' is the node's own name ([node] name at line %d)",
                   p->pc_name, node->se_key_line[K_NAME]);
            return;
        }
        if (s_addr_match(p->pc_endpoint, cf->cf_listen, 1) ||
            (cf->cf_peer_listen[0] && s_addr_match(p->pc_endpoint, cf->cf_peer_listen, 1))) {
            int own = s_addr_match(p->pc_endpoint, cf->cf_listen, 1) ? K_LISTEN : K_PEER_LISTEN;
            s_fail(c, ps->se_key_line[K_ENDPOINT],
                   "endpoint '%s' of %s is this node's own %s (line %d)", p->pc_endpoint,
                   ps->se_label, own == K_LISTEN ? "listen" : "peer_listen",
                   node->se_key_line[own]);
            return;
        }
        for (int j = 0; j < i; j++) {
            const ly_peer_conf *q = &cf->cf_peers[j];
            const s_sect *qs = s_peer_sect(c, j);
            if (p->pc_id == q->pc_id) {
                s_fail(c, pl, "duplicate node id %u: %s has the id of %s (line %d)", p->pc_id,
                       ps->se_label, qs->se_label, qs->se_key_line[K_PEER_ID]);
                return;
            }
            if (strcmp(p->pc_endpoint, q->pc_endpoint) == 0) {
                s_fail(c, ps->se_key_line[K_ENDPOINT],
                       "duplicate endpoint '%s': %s has the endpoint of %s (line %d)",
                       p->pc_endpoint, ps->se_label, qs->se_label, qs->se_key_line[K_ENDPOINT]);
                return;
            }
        }
    }
    if (cf->cf_npeers > 0 && !node->se_key_line[K_ADVERTISE] &&
        (strstr(cf->cf_listen, "://*") || !s_connectable(cf->cf_listen) ||
         strstr(cf->cf_listen, "://0.0.0.0:") || strstr(cf->cf_listen, "://[::]:"))) {
        s_fail(c, node->se_key_line[K_LISTEN],
               "listen '%s' is a wildcard address: set 'advertise' to the address branches and "
               "loyalctl should connect to",
               cf->cf_listen);
        return;
    }
    if (cf->cf_npeers > 0 && !cf->cf_peer_listen[0]) {
        s_fail(c, node->se_line,
               "[node] has peers but no peer_listen: the peers could not send to this node");
        return;
    }
    if (cf->cf_peer_listen[0] && s_addr_match(cf->cf_listen, cf->cf_peer_listen, 0)) {
        int l = node->se_key_line[K_LISTEN], pl = node->se_key_line[K_PEER_LISTEN];
        s_fail(c, l > pl ? l : pl,
               "listen '%s' and peer_listen '%s' are the same address (lines %d and %d)",
               cf->cf_listen, cf->cf_peer_listen, l < pl ? l : pl, l > pl ? l : pl);
    }
}

/* 1 if `ep` can only be reached from this machine: ipc://, or TCP on
 * 127.x.x.x, localhost or [::1]. */
static int s_loopback(const char *ep)
{
    const char *host, *port;
    size_t n;
    if (strncmp(ep, "ipc://", 6) == 0)
        return 1;
    if (s_tcp_split(ep, &host, &n, &port) != 0)
        return 0;
    return (n > 4 && memcmp(host, "127.", 4) == 0) ||
           (n == 9 && memcmp(host, "localhost", 9) == 0) ||
           (n == 5 && memcmp(host, "[::1]", 5) == 0);
}

/* The public key section `se` gives ("" if none). */
static const char *s_sect_public(const s_ctx *c, const s_sect *se)
{
    return se->se_kind == S_PEER  ? c->cf.cf_peers[se->se_index].pc_public
           : se->se_kind >= S_POS ? c->cf.cf_keys[se->se_index].kc_public
           : c->cf.cf_curve       ? c->cf.cf_key.kp_public
                                  : "";
}

/* The line of the section whose public key is `pub`, at or after index `from`. */
static const s_sect *s_key_owner(const s_ctx *c, const char *pub, int from)
{
    for (int i = from; i < c->nsects; i++) {
        const s_sect *se = &c->sects[i];
        const char *k = s_sect_public(c, se);
        if (*k && strcmp(k, pub) == 0)
            return se;
    }
    return NULL;
}

/* Keys need the node's own key; with one, every peer needs its key; each
 * public key once; without keys only loopback endpoints (protected mode). */
static void s_security(s_ctx *c)
{
    const ly_config *cf = &c->cf;
    const s_sect *node = &c->sects[c->node];
    for (int i = 0; i < c->nsects; i++) {
        const s_sect *se = &c->sects[i];
        int keyed = se->se_kind == S_PEER ? se->se_key_line[K_PEER_KEY] != 0 : se->se_kind >= S_POS;
        if (cf->cf_curve && se->se_kind == S_PEER && !keyed) {
            s_fail(c, se->se_line,
                   "missing key 'key' in %s: with [node] key every peer needs its public key "
                   "(its NAME.pub from loyalctl keygen)",
                   se->se_label);
            return;
        }
        if (!cf->cf_curve && keyed) {
            s_fail(c, se->se_kind == S_PEER ? se->se_key_line[K_PEER_KEY] : se->se_line,
                   "%s has a key but [node] has none: set [node] key to this node's secret key "
                   "file (loyalctl keygen NAME)",
                   se->se_label);
            return;
        }
        const s_sect *twin;
        const char *pub = s_sect_public(c, se);
        if (*pub && (twin = s_key_owner(c, pub, i + 1)) != NULL) {
            s_fail(c, twin->se_line,
                   "%s has the same public key as %s (line %d): one key, one holder",
                   twin->se_label, se->se_label, se->se_line);
            return;
        }
    }
    if (cf->cf_curve || cf->cf_insecure)
        return;
    struct {
        const char *ep;
        const char *what;
        int line;
    } eps[3] = {{cf->cf_listen, "listen", node->se_key_line[K_LISTEN]},
                {cf->cf_peer_listen, "peer_listen", node->se_key_line[K_PEER_LISTEN]},
                {cf->cf_advertise, "advertise", node->se_key_line[K_ADVERTISE]}};
    for (int i = 0; i < 3; i++)
        if (eps[i].ep[0] && !s_loopback(eps[i].ep)) {
            s_fail(c, eps[i].line,
                   "%s '%s' is not a loopback address and [node] has no key: without keys a node "
                   "serves only this machine (protected mode); set [node] key (loyalctl keygen), "
                   "or insecure = true to run without protection on purpose",
                   eps[i].what, eps[i].ep);
            return;
        }
    for (int i = 0; i < cf->cf_npeers; i++)
        if (!s_loopback(cf->cf_peers[i].pc_endpoint)) {
            const s_sect *ps = s_peer_sect(c, i);
            s_fail(c, ps->se_key_line[K_ENDPOINT],
                   "endpoint '%s' of %s is not a loopback address and [node] has no key: "
                   "replication between machines needs keys (protected mode); set [node] key, or "
                   "insecure = true to run without protection on purpose",
                   cf->cf_peers[i].pc_endpoint, ps->se_label);
            return;
        }
}

/* Lexically tidies an absolute path: no "//", no "." components, no trailing '/'. */
static void s_tidy(char *p)
{
    char *w = p;
    const char *r = p;
    while (*r) {
        if (r[0] == '/' && (r[1] == '/' || r[1] == '\0')) {
            r++;
        } else if (r[0] == '/' && r[1] == '.' && (r[2] == '/' || r[2] == '\0')) {
            r += 2;
        } else {
            *w++ = *r++;
        }
    }
    if (w == p)
        *w++ = '/';
    *w = '\0';
}

/* Resolves data_dir against the config file's directory and checks it is (or
 * could be created as) a usable directory, creating nothing. */
static void s_data_dir(s_ctx *c)
{
    int line = c->sects[c->node].se_key_line[K_DATA_DIR];
    size_t cap = 2 * (size_t)PATH_MAX + LY_PATH_MAX + 8;
    char *full = malloc(cap), *probe = malloc(cap), *real = malloc(PATH_MAX);
    char *cfgdir = strdup(c->path);
    if (!full || !probe || !real || !cfgdir) {
        s_fail(c, line, "out of memory");
        goto out;
    }

    if (c->data_dir[0] == '/') {
        snprintf(full, cap, "%s", c->data_dir);
    } else {
        char *slash = strrchr(cfgdir, '/');
        if (!slash)
            snprintf(cfgdir, strlen(cfgdir) + 1, ".");
        else if (slash == cfgdir)
            slash[1] = '\0';
        else
            *slash = '\0';
        if (!realpath(cfgdir, real)) {
            s_fail(c, line, "cannot resolve the config file's directory '%s': %s", cfgdir,
                   strerror(errno));
            goto out;
        }
        snprintf(full, cap, "%s/%s", real, c->data_dir);
    }
    s_tidy(full);

    /* Walk up to the nearest existing ancestor (or the path itself). */
    snprintf(probe, cap, "%s", full);
    struct stat st;
    while (stat(probe, &st) != 0) {
        char *slash = strrchr(probe, '/');
        if (slash == probe) {
            probe[1] = '\0';
            if (stat(probe, &st) != 0) {
                s_fail(c, line, "data_dir '%s': cannot examine '/': %s", full, strerror(errno));
                goto out;
            }
            break;
        }
        *slash = '\0';
    }
    int exists = strcmp(probe, full) == 0;
    if (!S_ISDIR(st.st_mode)) {
        if (exists)
            s_fail(c, line, "data_dir '%s' is not a directory", full);
        else
            s_fail(c, line, "data_dir '%s': parent '%s' is not a directory", full, probe);
        goto out;
    }
    int mode = exists ? R_OK | W_OK | X_OK : W_OK | X_OK;
    if (faccessat(AT_FDCWD, probe, mode, AT_EACCESS) != 0) {
        if (exists)
            s_fail(c, line, "data_dir '%s' is not writable: %s", full, strerror(errno));
        else
            s_fail(c, line, "data_dir '%s': parent '%s' is not writable", full, probe);
        goto out;
    }
    /* The existing part with symlinks and ".." resolved, then the rest. */
    if (!realpath(probe, real)) {
        s_fail(c, line, "data_dir '%s': cannot resolve '%s': %s", full, probe, strerror(errno));
        goto out;
    }
    const char *rest = full + strlen(probe);
    if (strcmp(probe, "/") == 0 && *rest != '/' && *rest)
        rest = full; /* the ancestor is the root; keep the leading '/' */
    if (strcmp(real, "/") == 0 && *rest == '/')
        real[0] = '\0';
    int n = snprintf(c->cf.cf_data_dir, sizeof c->cf.cf_data_dir, "%s%s", real, rest);
    if (n < 0 || (size_t)n >= sizeof c->cf.cf_data_dir)
        s_fail(c, line, "data_dir '%s' is too long (at most %d bytes once resolved)", full,
               LY_PATH_MAX);
out:
    free(full);
    free(probe);
    free(real);
    free(cfgdir);
}

/* ---- entry point -------------------------------------------------------- */

/* `cf` is zeroed already (the context is calloc'ed): a second memset of the
 * ~90 KiB struct was a fifth of the config fuzzer's time. */
static void s_defaults(ly_config *cf)
{
    cf->cf_log_level = LY_INFO;
    cf->cf_batch_max = S_BATCH_MAX_DEFAULT;
    cf->cf_map_size_mb = S_MAP_SIZE_MB_DEFAULT;
    cf->cf_max_clock_ahead_ms = S_CLOCK_AHEAD_DEFAULT;
    cf->cf_rights_wait_ms = 300;
    cf->cf_checkpoint_ms = LY_STORE_CHECKPOINT_MS;
    cf->cf_checkpoint_events = LY_STORE_CHECKPOINT_EVENTS;
    snprintf(cf->cf_timezone, sizeof cf->cf_timezone, "%s", LY_TZ_DEFAULT);
}

static void s_load(s_ctx *c)
{
    c->fp = fopen(c->path, "re");
    if (!c->fp) {
        s_fail(c, 0, "cannot open: %s", strerror(errno));
        return;
    }
    struct stat st;
    if (fstat(fileno(c->fp), &st) != 0) {
        s_fail(c, 0, "cannot examine: %s", strerror(errno));
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        s_fail(c, 0, "is a directory, not a config file");
        return;
    }

    int rc = ini_parse_stream(s_reader, c, s_handler, c);
    if (rc > 0 && (!c->failed || (c->err_line > 0 && rc < c->err_line))) {
        c->failed = 0;
        s_fail(c, rc, "syntax error: expected 'key = value' or '[section]'");
    } else if (rc < 0 && !c->failed) {
        s_fail(c, 0, "cannot parse (inih error %d)", rc);
    }
    if (c->failed)
        return;

    if (c->node < 0) {
        s_fail(c, 0, "missing [node] section");
        return;
    }
    s_required(c);
    if (!c->failed)
        s_unique(c);
    if (!c->failed)
        s_data_dir(c);
    if (!c->failed)
        s_security(c);
}

ly_err ly_config_load(const char *path, ly_config *out, char *err, size_t err_len)
{
    if (err && err_len)
        err[0] = '\0';
    if (!path || !out) {
        if (err && err_len)
            snprintf(err, err_len, "%s: no config file given", path ? path : "(null)");
        return LY_ECONFIG;
    }
    s_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        if (err && err_len)
            snprintf(err, err_len, "%s: out of memory", path);
        return LY_ECONFIG;
    }
    c->path = path;
    c->cur = -1;
    c->node = -1;
    s_defaults(&c->cf);

    s_load(c);

    ly_err rc = LY_OK;
    if (c->failed) {
        rc = LY_ECONFIG;
        if (err && err_len) {
            if (c->err_line > 0)
                snprintf(err, err_len, "%s:%d: %s", path, c->err_line, c->msg);
            else
                snprintf(err, err_len, "%s: %s", path, c->msg);
        }
    } else {
        *out = c->cf;
        if (!out->cf_advertise[0])
            snprintf(out->cf_advertise, sizeof out->cf_advertise, "%s", out->cf_listen);
    }
    if (c->fp)
        fclose(c->fp);
    explicit_bzero(c->cf.cf_key.kp_secret, sizeof c->cf.cf_key.kp_secret);
    free(c->line);
    free(c->long_value);
    free(c->sects);
    free(c);
    return rc;
}
