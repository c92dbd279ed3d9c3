/* keys.c -- CurveZMQ key files: reading them strictly, making new pairs. */
#include "common/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

static const char s_z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                            ".-:+=^!/*?&<>()[]{}@%$#";

static const char *const s_roles[LY_ROLE_COUNT] = {"none", "peer", "pos", "operator", "auditor"};

const char *ly_role_name(int role)
{
    if (role < 0 || role >= LY_ROLE_COUNT)
        return "none";
    return s_roles[role];
}

ly_role ly_role_from_name(const char *name)
{
    for (int r = LY_ROLE_PEER; r < LY_ROLE_COUNT; r++)
        if (strcmp(name, s_roles[r]) == 0)
            return (ly_role)r;
    return LY_ROLE_NONE;
}

int ly_key_curve_client(void *sock, const char *public_key, const char *secret_key,
                        const char *server_key)
{
    return zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, server_key, LY_KEY_Z85) != 0 ||
                   zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, public_key, LY_KEY_Z85) != 0 ||
                   zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, secret_key, LY_KEY_Z85) != 0
               ? -1
               : 0;
}

int ly_key_z85_valid(const char *s)
{
    uint8_t raw[LY_KEY_BYTES];

    if (strlen(s) != LY_KEY_Z85)
        return 0;
    for (const char *p = s; *p; p++)
        if (strchr(s_z85, *p) == NULL)
            return 0;
    /* Every character may be in the alphabet and a group of five still
     * overflow 32 bits ("#####"); libzmq refuses those. */
    return zmq_z85_decode(raw, s) != NULL;
}

/* Read the one key in `path` into out (LY_KEY_Z85 + 1 bytes). secret: the
 * file must not be readable or writable by group or others; otherwise only
 * not writable by them. */
static ly_err s_read(const char *path, int secret, char *out, char *why, size_t why_len)
{
    char buf[LY_KEY_Z85 + 8];
    struct stat st;
    ssize_t n;
    size_t len;
    int fd, full;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_len, "%s: cannot open: %s", path, strerror(errno));
        return LY_ECONFIG;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, why_len, "%s: not a regular file", path);
        close(fd);
        return LY_ECONFIG;
    }
    if (secret && (st.st_mode & (S_IRWXG | S_IRWXO))) {
        snprintf(why, why_len,
                 "%s: a secret key must be readable by its owner only (mode %03o; chmod 600 %s)",
                 path, (unsigned)(st.st_mode & 0777), path);
        close(fd);
        return LY_ECONFIG;
    }
    if (!secret && (st.st_mode & (S_IWGRP | S_IWOTH))) {
        snprintf(why, why_len,
                 "%s: a public key file must not be writable by group or others (mode %03o; "
                 "chmod 644 %s)",
                 path, (unsigned)(st.st_mode & 0777), path);
        close(fd);
        return LY_ECONFIG;
    }
    len = 0;
    while (len < sizeof buf && (n = read(fd, buf + len, sizeof buf - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            snprintf(why, why_len, "%s: cannot read: %s", path, strerror(errno));
            close(fd);
            return LY_ECONFIG;
        }
        len += (size_t)n;
    }
    close(fd);
    full = len == sizeof buf;
    if (len > 0 && buf[len - 1] == '\n')
        len--;
    if (len != LY_KEY_Z85) {
        snprintf(why, why_len, "%s: a key is %d characters of Z85, this file has %s%zu", path,
                 LY_KEY_Z85, full ? "more than " : "", len);
        return LY_ECONFIG;
    }
    memcpy(out, buf, LY_KEY_Z85);
    out[LY_KEY_Z85] = '\0';
    if (!ly_key_z85_valid(out)) {
        snprintf(why, why_len, "%s: not a Z85 key (a character outside the Z85 alphabet)", path);
        out[0] = '\0';
        return LY_ECONFIG;
    }
    return LY_OK;
}

ly_err ly_key_read_secret(const char *path, ly_keypair *kp, char *why, size_t why_len)
{
    ly_err rc;

    memset(kp, 0, sizeof *kp);
    rc = s_read(path, 1, kp->kp_secret, why, why_len);
    if (rc != LY_OK)
        return rc;
    if (zmq_curve_public(kp->kp_public, kp->kp_secret) != 0) {
        snprintf(why, why_len, "%s: cannot derive the public key: %s (libzmq without CURVE?)", path,
                 zmq_strerror(zmq_errno()));
        memset(kp, 0, sizeof *kp);
        return LY_ECONFIG;
    }
    return LY_OK;
}

ly_err ly_key_read_public(const char *path, char *pub, char *why, size_t why_len)
{
    size_t n = strlen(path);

    pub[0] = '\0';
    /* A secret key would pass for a public one: never list a secret. */
    if (n > 4 && strcmp(path + n - 4, ".key") == 0) {
        snprintf(why, why_len, "%s: is a secret key file; give its public key (NAME.pub)", path);
        return LY_ECONFIG;
    }
    return s_read(path, 0, pub, why, why_len);
}

ly_err ly_key_read_any_public(const char *path, char *pub, char *why, size_t why_len)
{
    size_t n = strlen(path);
    ly_keypair kp;
    ly_err rc;

    if (n > 4 && strcmp(path + n - 4, ".key") == 0) {
        rc = ly_key_read_secret(path, &kp, why, why_len);
        if (rc == LY_OK)
            memcpy(pub, kp.kp_public, sizeof kp.kp_public);
        memset(&kp, 0, sizeof kp);
        return rc;
    }
    return ly_key_read_public(path, pub, why, why_len);
}

static int s_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 63 || name[0] == '.')
        return 0;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

/* Create `path` exclusively with `mode` and write `z85` and a newline to it,
 * durably. -1 with errno on failure (EEXIST if it was there). */
static int s_write_new(const char *path, mode_t mode, const char *z85)
{
    char line[LY_KEY_Z85 + 1];
    int fd, saved;

    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -1;
    memcpy(line, z85, LY_KEY_Z85);
    line[LY_KEY_Z85] = '\n';
    /* The umask may have taken bits away; a .pub should still be 0644. */
    if (fchmod(fd, mode) != 0 || write(fd, line, sizeof line) != (ssize_t)sizeof line ||
        fsync(fd) != 0) {
        saved = errno ? errno : EIO;
        close(fd);
        unlink(path);
        errno = saved;
        return -1;
    }
    memset(line, 0, sizeof line);
    return close(fd);
}

ly_err ly_key_generate(const char *dir, const char *name, ly_keypair *kp, char *why, size_t why_len)
{
    char sec_path[4096], pub_path[4096];
    struct stat st;
    int dfd;

    memset(kp, 0, sizeof *kp);
    if (!s_name_ok(name)) {
        snprintf(why, why_len,
                 "bad key name '%s': 1 to 63 characters of letters, digits, '.', '_' and '-', "
                 "not starting with '.'",
                 name);
        return LY_EINVAL;
    }
    if (stat(dir, &st) != 0) {
        snprintf(why, why_len, "%s: %s", dir, strerror(errno));
        return LY_EINVAL;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(why, why_len, "%s: not a directory", dir);
        return LY_EINVAL;
    }
    if (st.st_mode & S_IWOTH) {
        snprintf(why, why_len,
                 "%s: writable by everyone, anyone could replace the key files there; use a "
                 "directory of your own (--dir)",
                 dir);
        return LY_EINVAL;
    }
    if ((size_t)snprintf(sec_path, sizeof sec_path, "%s/%s.key", dir, name) >= sizeof sec_path ||
        (size_t)snprintf(pub_path, sizeof pub_path, "%s/%s.pub", dir, name) >= sizeof pub_path) {
        snprintf(why, why_len, "%s: path too long", dir);
        return LY_EINVAL;
    }
    if (lstat(sec_path, &st) == 0 || lstat(pub_path, &st) == 0) {
        snprintf(why, why_len, "%s: already exists; a key is never overwritten",
                 lstat(sec_path, &st) == 0 ? sec_path : pub_path);
        return LY_EEXIST;
    }
    if (zmq_curve_keypair(kp->kp_public, kp->kp_secret) != 0) {
        snprintf(why, why_len, "cannot make a key pair: %s (libzmq without CURVE?)",
                 zmq_strerror(zmq_errno()));
        memset(kp, 0, sizeof *kp);
        return LY_EIO;
    }
    if (s_write_new(sec_path, 0600, kp->kp_secret) != 0) {
        int e = errno;
        snprintf(why, why_len, "%s: %s", sec_path, strerror(e));
        memset(kp, 0, sizeof *kp);
        return e == EEXIST ? LY_EEXIST : LY_EIO;
    }
    if (s_write_new(pub_path, 0644, kp->kp_public) != 0) {
        int e = errno;
        snprintf(why, why_len, "%s: %s", pub_path, strerror(e));
        unlink(sec_path);
        memset(kp, 0, sizeof *kp);
        return e == EEXIST ? LY_EEXIST : LY_EIO;
    }
    /* The names too must survive a crash. */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return LY_OK;
}
