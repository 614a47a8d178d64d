/* Arbitrary scripts against the portmux host target (src/drill/
 * host_target.c), both personalities: every system call, packet, knob and
 * count the scripts can express reaches pm_host through the adapter. Nothing
 * may crash, leak or hang; the verdict is always one of the three. */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portmux/drill.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096) return 0;
    /* The first byte picks the personality. */
    const char *pers = data[0] & 1 ? "freebsd" : "linux";
    pm_drill_parse_opts po;
    memset(&po, 0, sizeof po);
    po.personality = pers;
    po.defines[po.n_defines++] = "STANDARD";
    pm_drill_script *s = NULL;
    char err[128];
    if (pm_drill_parse((const char *)data + 1, size - 1, "fuzz", &po, &s, err, sizeof err) != 0)
        return 0;
    /* Keep virtual time short: scripts whose times are huge only wait. */
    for (size_t i = 0; i < s->n_events; i++)
        if (s->events[i].time.usecs > 100000000 || s->events[i].time.usecs_end > 100000000) {
            pm_drill_script_free(s);
            return 0;
        }
    static pm_drill_target t;
    if (!t.ctx) {
        mallopt(M_MMAP_THRESHOLD, 256 * 1024); /* a host per run: as portmux drill */
        if (pm_drill_host_open("linux", &t, err, sizeof err) < 0) abort();
    }
    pm_drill_result res;
    int rc = pm_drill_run(s, &t, NULL, NULL, &res);
    if (rc < 0 || rc > 2 || (int)res.verdict != rc) abort();
    pm_drill_script_free(s);
    return 0;
}
