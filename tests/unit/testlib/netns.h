/* Setting up a network namespace of our own, for the tests (and the
 * benchmarks) that use the Linux kernel as the oracle or the peer: enter
 * it, bring lo up, write its sysctls, open a TUN device in it. Nothing set
 * here outlives the process. Header-only: each test is one executable. */
#ifndef PM_TESTLIB_NETNS_H
#define PM_TESTLIB_NETNS_H

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Moves this process into a new network namespace (it goes with the last
 * process in it); on failure says why as a SKIP line and returns -1. */
static inline int netns_enter(void)
{
    if (unshare(CLONE_NEWNET) != 0) {
        printf("SKIP: unshare(CLONE_NEWNET): %s (needs root)\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* Writes text to a file, a sysctl of this namespace under /proc/sys:
 * 0 or -errno (-EIO for a short write). */
static inline int netns_write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int err = n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
    close(fd);
    return err;
}

/* Brings up lo, down in a fresh namespace: 0 or -errno. */
static inline int netns_lo_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    int r = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (r == 0) {
        ifr.ifr_flags |= IFF_UP;
        r = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    int err = r < 0 ? -errno : 0;
    close(fd);
    return err;
}

/* Opens a TUN device name (IPv4/IPv6 packets, no packet information
 * header), the fd opened with O_RDWR | flags; still down, no address.
 * On failure says why as a SKIP line and returns -1. */
static inline int netns_tun_open(const char *name, int flags)
{
    int fd = open("/dev/net/tun", O_RDWR | flags);
    if (fd < 0) {
        printf("SKIP: /dev/net/tun: %s\n", strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
        printf("SKIP: TUNSETIFF: %s\n", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

#endif
