/* UDP probe payloads: what a service must receive before it answers. */
#ifndef PM_SCAN_PAYLOADS_H
#define PM_SCAN_PAYLOADS_H

#include <stddef.h>
#include <stdint.h>

/* The payload nmap sends to port (empty for ports without one). */
void pm_scan_payload(uint16_t port, const uint8_t **data, size_t *len);

#endif
