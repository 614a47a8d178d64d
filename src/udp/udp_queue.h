/* A UDP socket's receive queue: whole datagrams in a byte ring, each with
 * its source, so boundaries are kept (RFC 768; Linux sk_receive_queue
 * charged against SO_RCVBUF). Pure; the memory is the caller's. */
#ifndef PM_UDP_QUEUE_H
#define PM_UDP_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "portmux/addr.h"

typedef struct pm_udp_queue {
    uint8_t *buf;
    uint32_t cap;   /* ring bytes */
    uint32_t limit; /* SO_RCVBUF charge limit, <= cap */
    uint32_t head, used, count;
    uint32_t bytes; /* payload bytes queued */
} pm_udp_queue;

void pm_udp_queue_init(pm_udp_queue *q, uint8_t *buf, uint32_t cap);
/* 0, or -ENOBUFS when the datagram does not fit (Linux: UDP_MIB_RCVBUFERRORS). */
int pm_udp_queue_push(pm_udp_queue *q, const pm_sockaddr *from, const void *data, size_t len);
/* Copies the oldest datagram (truncated to cap) and drops it: its full
 * length, or -EAGAIN when empty. */
long pm_udp_queue_pop(pm_udp_queue *q, pm_sockaddr *from, void *data, size_t cap);
/* Length of the next datagram, or -1 if none. */
long pm_udp_queue_peek_len(const pm_udp_queue *q);

#endif
