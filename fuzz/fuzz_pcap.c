/* The pcap reader on arbitrary files: never reads past a record, never
 * returns a length beyond the buffer, ends in 0 or an error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "portmux/pcap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    FILE *fp = fmemopen((void *)data, size, "rb");
    if (!fp) return 0;
    pm_pcap *p;
    if (pm_pcap_open_fp(&p, fp) == 0) {
        static uint8_t buf[2048];
        size_t len;
        uint64_t ts;
        int r, n = 0;
        while ((r = pm_pcap_read(p, buf, sizeof buf, &len, &ts)) == 1 || r == -EMSGSIZE) {
            if (r == 1 && len > sizeof buf) abort();
            if (++n > 100000) abort(); /* each record consumes >= 16 bytes */
        }
        pm_pcap_close(p);
    }
    fclose(fp);
    return 0;
}
