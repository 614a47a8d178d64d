/* The pcap writer and reader: round trip, both byte orders, nanosecond
 * files, cut and malformed files, oversized records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "portmux/pcap.h"

static void test_roundtrip(void **state)
{
    (void)state;
    char *mem = NULL;
    size_t memlen = 0;
    FILE *fp = open_memstream(&mem, &memlen);
    assert_non_null(fp);
    pm_pcap *p;
    assert_int_equal(pm_pcap_create_fp(&p, fp), 0);
    static uint8_t big[70000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)i;
    assert_int_equal(pm_pcap_write(p, big, 40, 1999999), 0);
    assert_int_equal(pm_pcap_write(p, big, 0, 2000000), 0);
    assert_int_equal(pm_pcap_write(p, big, sizeof big, 5), 0); /* cut to the snaplen */
    assert_int_equal(pm_pcap_close(p), 0);
    fclose(fp);
    assert_int_equal(memlen, 24 + 16 + 40 + 16 + 16 + PM_PCAP_SNAPLEN);
    /* The header: magic, 2.4, snaplen, LINKTYPE_RAW. */
    uint32_t magic, snap, lt;
    memcpy(&magic, mem, 4);
    memcpy(&snap, mem + 16, 4);
    memcpy(&lt, mem + 20, 4);
    assert_int_equal(magic, 0xa1b2c3d4u);
    assert_int_equal(snap, PM_PCAP_SNAPLEN);
    assert_int_equal(lt, 101);

    fp = fmemopen(mem, memlen, "rb");
    assert_int_equal(pm_pcap_open_fp(&p, fp), 0);
    uint8_t buf[PM_PCAP_SNAPLEN];
    size_t len;
    uint64_t ts;
    assert_int_equal(pm_pcap_read(p, buf, sizeof buf, &len, &ts), 1);
    assert_int_equal(len, 40);
    assert_int_equal(ts, 1999999);
    assert_memory_equal(buf, big, 40);
    assert_int_equal(pm_pcap_read(p, buf, sizeof buf, &len, &ts), 1);
    assert_int_equal(len, 0);
    assert_int_equal(ts, 2000000);
    /* Too big for the caller's buffer: skipped, reported. */
    assert_int_equal(pm_pcap_read(p, buf, 100, &len, &ts), -EMSGSIZE);
    assert_int_equal(pm_pcap_read(p, buf, sizeof buf, &len, &ts), 0);
    assert_int_equal(pm_pcap_close(p), 0);
    fclose(fp);

    /* Cut in a record header and in a record's data. */
    fp = fmemopen(mem, 24 + 10, "rb");
    assert_int_equal(pm_pcap_open_fp(&p, fp), 0);
    assert_int_equal(pm_pcap_read(p, buf, sizeof buf, &len, &ts), -EBADMSG);
    assert_int_equal(pm_pcap_close(p), -EBADMSG);
    fclose(fp);
    fp = fmemopen(mem, 24 + 16 + 39, "rb");
    assert_int_equal(pm_pcap_open_fp(&p, fp), 0);
    assert_int_equal(pm_pcap_read(p, buf, sizeof buf, &len, &ts), -EBADMSG);
    pm_pcap_close(p);
    fclose(fp);
    /* Not a pcap file. */
    fp = fmemopen(mem + 1, 30, "rb");
    assert_int_equal(pm_pcap_open_fp(&p, fp), -EBADMSG);
    fclose(fp);
    free(mem);
}

static void put32be(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

static void test_other_order_nanos(void **state)
{
    (void)state;
    /* A big-endian nanosecond file, as another machine writes it. */
    uint8_t f[24 + 16 + 4] = {0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4};
    put32be(f + 16, 65535);
    put32be(f + 20, 229); /* LINKTYPE_IPV6 */
    put32be(f + 24, 3);
    put32be(f + 28, 999999999);
    put32be(f + 32, 4);
    put32be(f + 36, 4);
    memcpy(f + 40, "\x60\x00\x00\x00", 4);
    FILE *fp = fmemopen(f, sizeof f, "rb");
    pm_pcap *p;
    assert_int_equal(pm_pcap_open_fp(&p, fp), 0);
    assert_int_equal(pm_pcap_linktype(p), PM_PCAP_LINKTYPE_IPV6);
    uint8_t buf[16];
    size_t len;
    uint64_t ts;
    assert_int_equal(pm_pcap_read(p, buf, sizeof buf, &len, &ts), 1);
    assert_int_equal(len, 4);
    assert_int_equal(ts, 3999999);
    assert_int_equal(buf[0], 0x60);
    assert_int_equal(pm_pcap_read(p, buf, sizeof buf, &len, &ts), 0);
    pm_pcap_close(p);
    fclose(fp);
    /* A fraction of a second out of range, and an absurd record length. */
    put32be(f + 28, 1000000000);
    fp = fmemopen(f, sizeof f, "rb");
    assert_int_equal(pm_pcap_open_fp(&p, fp), 0);
    assert_int_equal(pm_pcap_read(p, buf, sizeof buf, &len, &ts), -EBADMSG);
    pm_pcap_close(p);
    fclose(fp);
    put32be(f + 28, 0);
    put32be(f + 32, 0x7fffffff);
    fp = fmemopen(f, sizeof f, "rb");
    assert_int_equal(pm_pcap_open_fp(&p, fp), 0);
    assert_int_equal(pm_pcap_read(p, buf, sizeof buf, &len, &ts), -EBADMSG);
    pm_pcap_close(p);
    fclose(fp);
}

static void test_files(void **state)
{
    (void)state;
    pm_pcap *p;
    assert_int_equal(pm_pcap_open(&p, "/nonexistent/pm.pcap"), -ENOENT);
    assert_int_equal(pm_pcap_create(&p, "/nonexistent/pm.pcap"), -ENOENT);
    char path[64];
    snprintf(path, sizeof path, "/tmp/pm-pcap-test-%d.pcap", (int)getpid());
    assert_int_equal(pm_pcap_create(&p, path), 0);
    static const uint8_t pkt[20] = {0x45};
    assert_int_equal(pm_pcap_write(p, pkt, sizeof pkt, 42), 0);
    assert_int_equal(pm_pcap_flush(p), 0);
    /* A writer cannot read. */
    uint8_t buf[64];
    size_t len;
    uint64_t ts;
    assert_int_equal(pm_pcap_read(p, buf, sizeof buf, &len, &ts), -EBADF);
    assert_int_equal(pm_pcap_close(p), 0);
    assert_int_equal(pm_pcap_open(&p, path), 0);
    assert_int_equal(pm_pcap_write(p, pkt, sizeof pkt, 0), -EBADF);
    assert_int_equal(pm_pcap_read(p, buf, sizeof buf, &len, &ts), 1);
    assert_int_equal(ts, 42);
    assert_int_equal(pm_pcap_close(p), 0);
    unlink(path);
    assert_int_equal(pm_pcap_close(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_other_order_nanos),
        cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
