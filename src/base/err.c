#include "portmux/err.h"

#include <string.h>

static const struct {
    const char *name, *text;
} own[PM_E_COUNT] = {
    [PM_E_TRUNCATED - PM_ERR_BASE] = {"E_TRUNCATED", "truncated header"},
    [PM_E_VERSION - PM_ERR_BASE] = {"E_VERSION", "IP version is neither 4 nor 6"},
    [PM_E_IHL - PM_ERR_BASE] = {"E_IHL", "IPv4 header length below 5 or past the packet"},
    [PM_E_TOTLEN - PM_ERR_BASE] = {"E_TOTLEN", "IPv4 total length disagrees with the packet"},
    [PM_E_PAYLEN - PM_ERR_BASE] = {"E_PAYLEN", "IPv6 payload length past the buffer"},
    [PM_E_EXTHDR - PM_ERR_BASE] = {"E_EXTHDR", "IPv6 extension header chain overruns or loops"},
    [PM_E_CHECKSUM - PM_ERR_BASE] = {"E_CHECKSUM", "bad checksum"},
    [PM_E_DOFF - PM_ERR_BASE] = {"E_DOFF", "TCP data offset below 5 or past the segment"},
    [PM_E_OPTLEN -
        PM_ERR_BASE] = {"E_OPTLEN", "option length 0 or 1, wrong for its kind, or past the header"},
    [PM_E_URGPTR - PM_ERR_BASE] = {"E_URGPTR", "urgent pointer past the data"},
    [PM_E_UDPLEN - PM_ERR_BASE] = {"E_UDPLEN", "UDP length below 8 or past the datagram"},
    [PM_E_ICMP - PM_ERR_BASE] = {"E_ICMP", "ICMP error with an unusable quoted packet"},
    [PM_E_ADDR - PM_ERR_BASE] = {"E_ADDR", "address not allowed on the wire"},
    [PM_E_PROTO - PM_ERR_BASE] = {"E_PROTO", "transport protocol not handled"},
    [PM_E_FRAGMENT - PM_ERR_BASE] = {"E_FRAGMENT", "IP fragment (not reassembled)"},
    [PM_E_OPTDUP - PM_ERR_BASE] = {"E_OPTDUP", "TCP option kind repeated"},
};

/* The errno values portmux returns, named as Linux names them. */
static const struct {
    int e;
    const char *name;
} errnames[] = {
    {EPERM, "EPERM"},
    {ENOENT, "ENOENT"},
    {EINTR, "EINTR"},
    {EIO, "EIO"},
    {EBADF, "EBADF"},
    {EAGAIN, "EAGAIN"},
    {ENOMEM, "ENOMEM"},
    {EACCES, "EACCES"},
    {EFAULT, "EFAULT"},
    {EBUSY, "EBUSY"},
    {EEXIST, "EEXIST"},
    {EINVAL, "EINVAL"},
    {ENFILE, "ENFILE"},
    {EMFILE, "EMFILE"},
    {ENOSPC, "ENOSPC"},
    {EPIPE, "EPIPE"},
    {ERANGE, "ERANGE"},
    {ENOSYS, "ENOSYS"},
    {ENOTSOCK, "ENOTSOCK"},
    {EDESTADDRREQ, "EDESTADDRREQ"},
    {EMSGSIZE, "EMSGSIZE"},
    {EPROTOTYPE, "EPROTOTYPE"},
    {ENOPROTOOPT, "ENOPROTOOPT"},
    {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
    {EOPNOTSUPP, "EOPNOTSUPP"},
    {EAFNOSUPPORT, "EAFNOSUPPORT"},
    {EADDRINUSE, "EADDRINUSE"},
    {EADDRNOTAVAIL, "EADDRNOTAVAIL"},
    {ENETDOWN, "ENETDOWN"},
    {ENETUNREACH, "ENETUNREACH"},
    {ECONNABORTED, "ECONNABORTED"},
    {ECONNRESET, "ECONNRESET"},
    {ENOBUFS, "ENOBUFS"},
    {EISCONN, "EISCONN"},
    {ENOTCONN, "ENOTCONN"},
    {ESHUTDOWN, "ESHUTDOWN"},
    {ETIMEDOUT, "ETIMEDOUT"},
    {ECONNREFUSED, "ECONNREFUSED"},
    {EHOSTDOWN, "EHOSTDOWN"},
    {EHOSTUNREACH, "EHOSTUNREACH"},
    {EALREADY, "EALREADY"},
    {EINPROGRESS, "EINPROGRESS"},
    {EBADMSG, "EBADMSG"},
    {EPROTO, "EPROTO"},
    {ENODATA, "ENODATA"},
};

const char *pm_strerror(int err)
{
    int e = err < 0 ? -err : err;
    if (e >= PM_ERR_BASE && e < PM_E__END) return own[e - PM_ERR_BASE].text;
    if (e == 0) return "success";
    return strerror(e);
}

const char *pm_errname(int err)
{
    int e = err < 0 ? -err : err;
    if (e >= PM_ERR_BASE && e < PM_E__END) return own[e - PM_ERR_BASE].name;
    if (e == 0) return "OK";
    for (size_t i = 0; i < sizeof errnames / sizeof errnames[0]; i++)
        if (errnames[i].e == e) return errnames[i].name;
    return "E?";
}
