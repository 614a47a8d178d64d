/* portmux scan's outputs: nmap-like normal text (-oN), grepable (-oG),
 * nmap XML (-oX) and JSON (-oJ). */
#ifndef PM_TOOLS_SCAN_OUTPUT_H
#define PM_TOOLS_SCAN_OUTPUT_H

#include <stdio.h>
#include <time.h>

#include "portmux/scan.h"

typedef struct pm_scan_report {
    const pm_scan_cfg *cfg;
    const pm_scan_result *res;
    const pm_scan_stats *st;
    const char *cmdline; /* "portmux scan ..." as typed */
    time_t started, finished;
    /* Service name for a port, NULL if none. */
    const char *(*service)(void *ctx, uint16_t port, uint8_t proto);
    void *svc_ctx;
} pm_scan_report;

void pm_scan_write_normal(FILE *f, const pm_scan_report *r, bool file_form);
void pm_scan_write_grep(FILE *f, const pm_scan_report *r);
void pm_scan_write_xml(FILE *f, const pm_scan_report *r);
void pm_scan_write_json(FILE *f, const pm_scan_report *r);

#endif
