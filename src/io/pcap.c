/* pcap files (the libpcap format, https://www.tcpdump.org/manpages/pcap-savefile.5.html):
 * a 24-byte file header, then per packet a 16-byte record header and the
 * captured bytes. Written in host byte order, as libpcap does; read in
 * either order. */
#include "portmux/pcap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC_US 0xa1b2c3d4u
#define MAGIC_NS 0xa1b23c4du

struct pm_pcap {
    FILE *fp;
    bool own; /* close fp at the end */
    bool writing;
    bool swap;  /* reading a file of the other byte order */
    bool nanos; /* reading nanosecond timestamps */
    uint32_t linktype;
    int err; /* first error, sticky */
};

static uint32_t sw32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24);
}

static uint32_t rd32(const pm_pcap *p, const uint8_t *b)
{
    uint32_t v;
    memcpy(&v, b, 4);
    return p->swap ? sw32(v) : v;
}

static int fail(pm_pcap *p, int err)
{
    if (!p->err) p->err = err;
    return err;
}

static int io_err(pm_pcap *p)
{
    return fail(p, errno ? -errno : -EIO);
}

static int put(pm_pcap *p, const void *b, size_t n)
{
    if (p->err) return p->err;
    if (n && fwrite(b, 1, n, p->fp) != n) return io_err(p);
    return 0;
}

static int start_write(pm_pcap **out, FILE *fp, bool own)
{
    pm_pcap *p = calloc(1, sizeof *p);
    if (!p) {
        if (own) fclose(fp);
        return -ENOMEM;
    }
    p->fp = fp;
    p->own = own;
    p->writing = true;
    p->linktype = PM_PCAP_LINKTYPE_RAW;
    struct {
        uint32_t magic;
        uint16_t major, minor;
        int32_t thiszone;
        uint32_t sigfigs, snaplen, linktype;
    } h = {MAGIC_US, 2, 4, 0, 0, PM_PCAP_SNAPLEN, PM_PCAP_LINKTYPE_RAW};
    int err = put(p, &h, sizeof h);
    if (err) {
        pm_pcap_close(p);
        return err;
    }
    *out = p;
    return 0;
}

int pm_pcap_create(pm_pcap **out, const char *path)
{
    if (strcmp(path, "-") == 0) return start_write(out, stdout, false);
    FILE *fp = fopen(path, "wb");
    if (!fp) return -errno;
    return start_write(out, fp, true);
}

int pm_pcap_create_fp(pm_pcap **out, FILE *fp)
{
    return start_write(out, fp, false);
}

int pm_pcap_write(pm_pcap *p, const uint8_t *pkt, size_t len, uint64_t now_us)
{
    if (!p->writing) return -EBADF;
    size_t cap = len > PM_PCAP_SNAPLEN ? PM_PCAP_SNAPLEN : len;
    uint32_t rec[4] = {(uint32_t)(now_us / 1000000), (uint32_t)(now_us % 1000000), (uint32_t)cap,
                       len > UINT32_MAX ? UINT32_MAX : (uint32_t)len};
    int err = put(p, rec, sizeof rec);
    return err ? err : put(p, pkt, cap);
}

int pm_pcap_flush(pm_pcap *p)
{
    if (p->err) return p->err;
    if (fflush(p->fp)) return io_err(p);
    return 0;
}

static int start_read(pm_pcap **out, FILE *fp, bool own)
{
    pm_pcap *p = calloc(1, sizeof *p);
    if (!p) {
        if (own) fclose(fp);
        return -ENOMEM;
    }
    p->fp = fp;
    p->own = own;
    uint8_t h[24];
    int err = 0;
    if (fread(h, 1, sizeof h, fp) != sizeof h) {
        err = ferror(fp) ? -EIO : -EBADMSG;
    } else {
        uint32_t m;
        memcpy(&m, h, 4);
        if (m == MAGIC_US || m == MAGIC_NS) {
            p->nanos = m == MAGIC_NS;
        } else if (sw32(m) == MAGIC_US || sw32(m) == MAGIC_NS) {
            p->swap = true;
            p->nanos = sw32(m) == MAGIC_NS;
        } else {
            err = -EBADMSG;
        }
        /* The link type's low 16 bits; the rest are FCS flags. */
        p->linktype = rd32(p, h + 20) & 0xffff;
    }
    if (err) {
        pm_pcap_close(p);
        return err;
    }
    *out = p;
    return 0;
}

int pm_pcap_open(pm_pcap **out, const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return -errno;
    return start_read(out, fp, true);
}

int pm_pcap_open_fp(pm_pcap **out, FILE *fp)
{
    return start_read(out, fp, false);
}

uint32_t pm_pcap_linktype(const pm_pcap *p)
{
    return p->linktype;
}

int pm_pcap_read(pm_pcap *p, uint8_t *buf, size_t cap, size_t *len, uint64_t *ts_us)
{
    if (p->writing) return -EBADF;
    if (p->err) return p->err;
    uint8_t r[16];
    size_t got = fread(r, 1, sizeof r, p->fp);
    if (got == 0 && feof(p->fp)) return 0;
    if (got != sizeof r) return fail(p, ferror(p->fp) ? -EIO : -EBADMSG);
    uint32_t sec = rd32(p, r), frac = rd32(p, r + 4), caplen = rd32(p, r + 8);
    if (caplen > PM_PCAP_MAX_CAPLEN || frac >= (p->nanos ? 1000000000u : 1000000u))
        return fail(p, -EBADMSG);
    if (caplen > cap) {
        if (fseek(p->fp, (long)caplen, SEEK_CUR)) return fail(p, -EBADMSG);
        return -EMSGSIZE;
    }
    if (caplen && fread(buf, 1, caplen, p->fp) != caplen)
        return fail(p, ferror(p->fp) ? -EIO : -EBADMSG);
    *len = caplen;
    *ts_us = (uint64_t)sec * 1000000 + (p->nanos ? frac / 1000 : frac);
    return 1;
}

int pm_pcap_close(pm_pcap *p)
{
    if (!p) return 0;
    int err = p->err;
    if (p->writing && !err && fflush(p->fp)) err = errno ? -errno : -EIO;
    if (p->own && fclose(p->fp) && !err) err = errno ? -errno : -EIO;
    free(p);
    return err;
}
