/* The registry's file loader: the one place in libportmux that does file
 * I/O (tests/cli/test_purity.sh exempts exactly this object). It reads one
 * services(5) file at start-up, never on the packet path. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "portmux/services.h"

/* IANA's registry as Debian's libwireshark-data ships it; then netbase's. */
static const char *const default_paths[] = {
    "/usr/share/wireshark/services",
    "/etc/services",
};

static int load_file(pm_registry **out, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -errno;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int err = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= PM_REGISTRY_MAX_FILE) {
                err = -EFBIG;
                break;
            }
            size_t ncap = cap ? cap * 2 : 1u << 18;
            char *nbuf = realloc(buf, ncap);
            if (!nbuf) {
                err = -ENOMEM;
                break;
            }
            buf = nbuf;
            cap = ncap;
        }
        errno = 0;
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) err = errno ? -errno : -EIO; /* -EISDIR for a directory */
            break;
        }
    }
    fclose(f);
    if (!err) err = pm_registry_parse(out, buf, len, path);
    free(buf);
    return err;
}

int pm_registry_load(pm_registry **out, const char *path)
{
    *out = NULL;
    if (path) return load_file(out, path);
    const char *env = getenv("PORTMUX_SERVICES");
    if (env && *env) return load_file(out, env); /* overrides the defaults */
    for (size_t i = 0; i < sizeof default_paths / sizeof default_paths[0]; i++) {
        int err = load_file(out, default_paths[i]);
        if (err != -ENOENT) return err;
    }
    return -ENOENT;
}
