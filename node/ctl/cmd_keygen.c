/* cmd_keygen.c -- `keygen`: make a CurveZMQ key pair (common/keys.h). */
#include <stdio.h>
#include <string.h>

#include "common/keys.h"
#include "node/ctl/ctl.h"

int ctl_run_keygen(ctl_ctx *x)
{
    const char *dir = x->opt[CTL_O_DIR] ? x->opt[CTL_O_DIR] : ".";
    const char *name = x->pos[0];
    char why[512], sec[4200], pub[4200];
    ly_keypair kp;
    ly_err rc;

    if (!dir[0])
        return ctl_usage(x, "--dir: empty");
    rc = ly_key_generate(dir, name, &kp, why, sizeof why);
    memset(kp.kp_secret, 0, sizeof kp.kp_secret);
    if (rc == LY_EINVAL && strncmp(why, "bad key name", 12) == 0)
        return ctl_usage(x, "%s", why);
    if (rc != LY_OK)
        return ctl_fail(x, CTL_EXIT_FAILED, ly_errname(rc), "%s", why);
    snprintf(sec, sizeof sec, "%s/%s.key", dir, name);
    snprintf(pub, sizeof pub, "%s/%s.pub", dir, name);
    if (x->json) {
        ly_json j;
        ly_json_init(&j, stdout);
        ly_json_object(&j);
        ly_json_kstr(&j, "name", name);
        ly_json_kstr(&j, "secret_file", sec);
        ly_json_kstr(&j, "public_file", pub);
        ly_json_kstr(&j, "public", kp.kp_public);
        ly_json_end(&j);
        ly_json_finish(&j);
    } else {
        printf("%s\n", kp.kp_public);
        fprintf(stderr, "loyalctl: wrote %s (secret, mode 0600) and %s (public)\n", sec, pub);
    }
    return CTL_EXIT_OK;
}
