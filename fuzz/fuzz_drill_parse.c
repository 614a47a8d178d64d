/* The packetdrill parser on arbitrary text: it must never crash, leak or
 * hang; a script that parses must format back without trouble, and its
 * commands must go through the compatibility layer without trouble. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portmux/drill.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16) return 0;
    pm_drill_parse_opts o;
    memset(&o, 0, sizeof o);
    o.defines[o.n_defines++] = "STANDARD";
    pm_drill_script *s = NULL;
    char err[256];
    int rc = pm_drill_parse((const char *)data, size, "fuzz", &o, &s, err, sizeof err);
    if (rc == 0) {
        if (!s) abort();
        char buf[512];
        for (size_t i = 0; i < s->n_events; i++) {
            const pm_drill_event *e = &s->events[i];
            pm_drill_cmd cmd;
            switch (e->kind) {
            case PM_DRILL_EV_PACKET: pm_drill_packet_format(&e->packet, buf, sizeof buf); break;
            case PM_DRILL_EV_SYSCALL:
                for (size_t k = 0; k < e->syscall.n_args; k++) {
                    int64_t v;
                    (void)pm_drill_expr_int(e->syscall.args[k], &v);
                    pm_drill_expr_format(e->syscall.args[k], buf, sizeof buf);
                }
                pm_drill_expr_format(e->syscall.result, buf, sizeof buf);
                break;
            case PM_DRILL_EV_COMMAND:
                (void)pm_drill_command_parse(e->text, &cmd, buf, sizeof buf);
                break;
            case PM_DRILL_EV_CODE: (void)pm_drill_code_parse(e->text, &cmd, buf, sizeof buf); break;
            default: break;
            }
            if (strlen(buf) >= sizeof buf) abort();
        }
        pm_drill_script_free(s);
    } else {
        if (s) abort();
        /* Every error names its line: "N: message". */
        if (err[0] < '0' || err[0] > '9') abort();
    }
    return 0;
}
