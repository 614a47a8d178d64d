/* pcap capture files of raw IP packets (LINKTYPE_RAW, 101): every packet
 * starts with its IPv4 or IPv6 header, as on a TUN device. The writer is
 * what `--pcap FILE` uses; the reader lets tests and tools read captures
 * back (also tcpdump's or tshark's, in either byte order, micro- or
 * nanosecond). Time is passed in, in microseconds, like everywhere in
 * portmux. Part of libportmux_sys: it does I/O. */
#ifndef PORTMUX_PCAP_H
#define PORTMUX_PCAP_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PM_PCAP_LINKTYPE_RAW  101 /* raw IPv4 or IPv6 */
#define PM_PCAP_LINKTYPE_IPV4 228
#define PM_PCAP_LINKTYPE_IPV6 229
#define PM_PCAP_SNAPLEN       65535
#define PM_PCAP_MAX_CAPLEN    262144 /* larger records make the file malformed */

typedef struct pm_pcap pm_pcap;

/* Writing. create truncates path ("-" is stdout) and writes the file
 * header; create_fp writes to a stream the caller keeps (close leaves it
 * open). 0 or a negative errno. */
int pm_pcap_create(pm_pcap **out, const char *path);
int pm_pcap_create_fp(pm_pcap **out, FILE *fp);
/* One packet at now_us; beyond PM_PCAP_SNAPLEN bytes it is cut (the
 * record keeps the original length). 0 or a negative errno. */
int pm_pcap_write(pm_pcap *p, const uint8_t *pkt, size_t len, uint64_t now_us);
int pm_pcap_flush(pm_pcap *p);

/* Reading. 0, -ENOENT..., or -EBADMSG for a file that is not pcap. */
int pm_pcap_open(pm_pcap **out, const char *path);
int pm_pcap_open_fp(pm_pcap **out, FILE *fp);
uint32_t pm_pcap_linktype(const pm_pcap *p);
/* The next packet: 1 with *len (bytes captured) and *ts_us set, 0 at the
 * end of the file, -EBADMSG for a cut or malformed record, -EMSGSIZE if
 * it does not fit in cap (it is skipped). */
int pm_pcap_read(pm_pcap *p, uint8_t *buf, size_t cap, size_t *len, uint64_t *ts_us);

/* Flushes, closes (what it opened) and frees; the first error seen by
 * any call, or 0. NULL is fine. */
int pm_pcap_close(pm_pcap *p);

#endif
