/* UDP probe payloads for the services that stay silent on an empty
 * datagram: DNS (53) and SNMP (161), built here field by field to carry
 * what nmap's probes carry, so the two scans draw the same answers. */
#include <stdbool.h>
#include <string.h>

#include "scan/payloads.h"

/* RFC 1035 4.1.1: a header-only message, ID 0, opcode 2 (STATUS), no
 * questions. Any DNS server answers it, if only with NOTIMP. */
static const uint8_t dns_status[12] = {0, 0, 2 << 3, 0, 0, 0, 0, 0, 0, 0, 0, 0};

/* BER (X.690) writer: tag, short or long length, contents. */
typedef struct ber {
    uint8_t b[96];
    size_t n;
} ber;

static void put(ber *w, const void *p, size_t n)
{
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void tlv(ber *w, uint8_t tag, const ber *inner)
{
    uint8_t h[2] = {tag, (uint8_t)inner->n}; /* all lengths here < 128 */
    put(w, h, 2);
    put(w, inner->b, inner->n);
}

static void integer(ber *w, unsigned long v)
{
    uint8_t c[5];
    size_t n = 0;
    /* minimal two's complement, a 0 byte in front of a set top bit */
    uint8_t tmp[5];
    size_t k = 0;
    do tmp[k++] = (uint8_t)v, v >>= 8;
    while (v);
    if (tmp[k - 1] & 0x80) tmp[k++] = 0;
    while (k) c[n++] = tmp[--k];
    uint8_t h[2] = {0x02, (uint8_t)n};
    put(w, h, 2);
    put(w, c, n);
}

static void octets(ber *w, const char *s)
{
    uint8_t h[2] = {0x04, (uint8_t)strlen(s)};
    put(w, h, 2);
    put(w, s, strlen(s));
}

/* RFC 3412 6 / RFC 3414 2.4: an SNMPv3 GetRequest with empty USM
 * parameters and the reportable flag: an agent answers with a Report
 * (usmStatsUnknownEngineIDs) that reveals it without any credentials. */
static size_t snmpv3_get(uint8_t *out)
{
    ber global = {0}, usm = {0}, usm_seq = {0}, usm_oct = {0}, pdu = {0}, vbl = {0}, scoped = {0},
        msg = {0}, all = {0};
    integer(&global, 0x4a69); /* msgID */
    integer(&global, 65507);  /* msgMaxSize */
    octets(&global, "\x04");  /* msgFlags: reportable */
    integer(&global, 3);      /* msgSecurityModel: USM */
    octets(&usm, "");         /* msgAuthoritativeEngineID */
    integer(&usm, 0);         /* msgAuthoritativeEngineBoots */
    integer(&usm, 0);         /* msgAuthoritativeEngineTime */
    octets(&usm, "");         /* msgUserName */
    octets(&usm, "");         /* msgAuthenticationParameters */
    octets(&usm, "");         /* msgPrivacyParameters */
    tlv(&usm_seq, 0x30, &usm);
    tlv(&usm_oct, 0x04, &usm_seq); /* msgSecurityParameters: an OCTET STRING */
    integer(&pdu, 0x37f0);         /* request-id */
    integer(&pdu, 0);              /* error-status */
    integer(&pdu, 0);              /* error-index */
    tlv(&pdu, 0x30, &vbl);         /* no variable bindings */
    octets(&scoped, "");           /* contextEngineID */
    octets(&scoped, "");           /* contextName */
    tlv(&scoped, 0xa0, &pdu);      /* GetRequest-PDU */
    integer(&msg, 3);              /* msgVersion */
    tlv(&msg, 0x30, &global);
    put(&msg, usm_oct.b, usm_oct.n);
    tlv(&msg, 0x30, &scoped);
    tlv(&all, 0x30, &msg);
    memcpy(out, all.b, all.n);
    return all.n;
}

void pm_scan_payload(uint16_t port, const uint8_t **data, size_t *len)
{
    static uint8_t snmp[96];
    static size_t snmp_len;
    switch (port) {
    case 53:
        *data = dns_status;
        *len = sizeof dns_status;
        return;
    case 161:
        if (!snmp_len) snmp_len = snmpv3_get(snmp);
        *data = snmp;
        *len = snmp_len;
        return;
    default: *data = NULL; *len = 0;
    }
}
