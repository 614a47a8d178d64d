/* The names a script may use: symbolic constants (Linux's values, as
 * packetdrill's symbols_linux.c resolves them on Linux), errno names, ICMP
 * types and codes (packetdrill's spelling), TCP state names. */
#include <errno.h>
#include <string.h>

#include "drill/drill_int.h"

static const struct {
    const char *name;
    int64_t v;
} symbols[] = {
    {"AF_UNSPEC", 0},
    {"AF_INET", 2},
    {"AF_INET6", 10},
    {"PF_INET", 2},
    {"PF_INET6", 10},
    {"SOCK_STREAM", 1},
    {"SOCK_DGRAM", 2},
    {"SOCK_RAW", 3},
    {"SOCK_NONBLOCK", 04000},
    {"SOCK_CLOEXEC", 02000000},
    {"IPPROTO_IP", 0},
    {"IPPROTO_ICMP", 1},
    {"IPPROTO_TCP", 6},
    {"IPPROTO_UDP", 17},
    {"IPPROTO_IPV6", 41},
    {"IPPROTO_ICMPV6", 58},
    {"IPPROTO_RAW", 255},
    {"SOL_IP", 0},
    {"SOL_SOCKET", 1},
    {"SOL_TCP", 6},
    {"SOL_UDP", 17},
    {"SOL_IPV6", 41},
    {"SO_DEBUG", 1},
    {"SO_REUSEADDR", 2},
    {"SO_TYPE", 3},
    {"SO_ERROR", 4},
    {"SO_DONTROUTE", 5},
    {"SO_BROADCAST", 6},
    {"SO_SNDBUF", 7},
    {"SO_RCVBUF", 8},
    {"SO_KEEPALIVE", 9},
    {"SO_OOBINLINE", 10},
    {"SO_PRIORITY", 12},
    {"SO_LINGER", 13},
    {"SO_REUSEPORT", 15},
    {"SO_RCVLOWAT", 18},
    {"SO_SNDLOWAT", 19},
    {"SO_RCVTIMEO", 20},
    {"SO_SNDTIMEO", 21},
    {"SO_BINDTODEVICE", 25},
    {"SO_ACCEPTCONN", 30},
    {"SO_SNDBUFFORCE", 32},
    {"SO_RCVBUFFORCE", 33},
    {"SO_PROTOCOL", 38},
    {"SO_DOMAIN", 39},
    {"SO_ZEROCOPY", 60},
    {"TCP_NODELAY", 1},
    {"TCP_MAXSEG", 2},
    {"TCP_CORK", 3},
    {"TCP_KEEPIDLE", 4},
    {"TCP_KEEPINTVL", 5},
    {"TCP_KEEPCNT", 6},
    {"TCP_SYNCNT", 7},
    {"TCP_LINGER2", 8},
    {"TCP_DEFER_ACCEPT", 9},
    {"TCP_WINDOW_CLAMP", 10},
    {"TCP_INFO", 11},
    {"TCP_QUICKACK", 12},
    {"TCP_CONGESTION", 13},
    {"TCP_MD5SIG", 14},
    {"TCP_USER_TIMEOUT", 18},
    {"TCP_FASTOPEN", 23},
    {"TCP_NOTSENT_LOWAT", 25},
    {"TCP_FASTOPEN_CONNECT", 30},
    {"IP_TOS", 1},
    {"IP_TTL", 2},
    {"IP_MTU_DISCOVER", 10},
    {"IP_RECVERR", 11},
    {"IP_FREEBIND", 15},
    {"IP_BIND_ADDRESS_NO_PORT", 24},
    {"IP_LOCAL_PORT_RANGE", 51},
    {"IPV6_UNICAST_HOPS", 16},
    {"IPV6_RECVERR", 25},
    {"IPV6_V6ONLY", 26},
    {"IPV6_TCLASS", 67},
    {"F_DUPFD", 0},
    {"F_GETFD", 1},
    {"F_SETFD", 2},
    {"F_GETFL", 3},
    {"F_SETFL", 4},
    {"FD_CLOEXEC", 1},
    {"O_RDONLY", 0},
    {"O_WRONLY", 1},
    {"O_RDWR", 2},
    {"O_NONBLOCK", 04000},
    {"O_NDELAY", 04000},
    {"SHUT_RD", 0},
    {"SHUT_WR", 1},
    {"SHUT_RDWR", 2},
    {"MSG_OOB", 0x1},
    {"MSG_PEEK", 0x2},
    {"MSG_DONTROUTE", 0x4},
    {"MSG_TRUNC", 0x20},
    {"MSG_DONTWAIT", 0x40},
    {"MSG_EOR", 0x80},
    {"MSG_WAITALL", 0x100},
    {"MSG_ERRQUEUE", 0x2000},
    {"MSG_NOSIGNAL", 0x4000},
    {"MSG_MORE", 0x8000},
    {"MSG_FASTOPEN", 0x20000000},
    {"POLLIN", 0x1},
    {"POLLPRI", 0x2},
    {"POLLOUT", 0x4},
    {"POLLERR", 0x8},
    {"POLLHUP", 0x10},
    {"POLLNVAL", 0x20},
    {"POLLRDNORM", 0x40},
    {"POLLRDBAND", 0x80},
    {"POLLWRNORM", 0x100},
    {"POLLWRBAND", 0x200},
    {"POLLRDHUP", 0x2000},
    {"INADDR_ANY", 0},
    {"INADDR_LOOPBACK", 0x7f000001},
    {"NULL", 0},
};

int pm_drill_symbol(const char *name, int64_t *out)
{
    if (!name) return -ENOENT;
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++)
        if (!strcmp(symbols[i].name, name)) {
            *out = symbols[i].v;
            return 0;
        }
    return -ENOENT;
}

static const struct {
    const char *name;
    int e;
} errnos[] = {
    {"EPERM", EPERM},
    {"ENOENT", ENOENT},
    {"EINTR", EINTR},
    {"EIO", EIO},
    {"EBADF", EBADF},
    {"EAGAIN", EAGAIN},
    {"EWOULDBLOCK", EWOULDBLOCK},
    {"ENOMEM", ENOMEM},
    {"EACCES", EACCES},
    {"EFAULT", EFAULT},
    {"EBUSY", EBUSY},
    {"EEXIST", EEXIST},
    {"EINVAL", EINVAL},
    {"ENFILE", ENFILE},
    {"EMFILE", EMFILE},
    {"ENOSPC", ENOSPC},
    {"EPIPE", EPIPE},
    {"ERANGE", ERANGE},
    {"ENOSYS", ENOSYS},
    {"ENOTSOCK", ENOTSOCK},
    {"EDESTADDRREQ", EDESTADDRREQ},
    {"EMSGSIZE", EMSGSIZE},
    {"EPROTOTYPE", EPROTOTYPE},
    {"ENOPROTOOPT", ENOPROTOOPT},
    {"EPROTONOSUPPORT", EPROTONOSUPPORT},
    {"ESOCKTNOSUPPORT", ESOCKTNOSUPPORT},
    {"EOPNOTSUPP", EOPNOTSUPP},
    {"ENOTSUP", ENOTSUP},
    {"EPFNOSUPPORT", EPFNOSUPPORT},
    {"EAFNOSUPPORT", EAFNOSUPPORT},
    {"EADDRINUSE", EADDRINUSE},
    {"EADDRNOTAVAIL", EADDRNOTAVAIL},
    {"ENETDOWN", ENETDOWN},
    {"ENETUNREACH", ENETUNREACH},
    {"ENETRESET", ENETRESET},
    {"ECONNABORTED", ECONNABORTED},
    {"ECONNRESET", ECONNRESET},
    {"ENOBUFS", ENOBUFS},
    {"EISCONN", EISCONN},
    {"ENOTCONN", ENOTCONN},
    {"ESHUTDOWN", ESHUTDOWN},
    {"ETIMEDOUT", ETIMEDOUT},
    {"ECONNREFUSED", ECONNREFUSED},
    {"EHOSTDOWN", EHOSTDOWN},
    {"EHOSTUNREACH", EHOSTUNREACH},
    {"EALREADY", EALREADY},
    {"EINPROGRESS", EINPROGRESS},
};

int pm_drill_errno_value(const char *name)
{
    if (!name) return 0;
    for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
        if (!strcmp(errnos[i].name, name)) return errnos[i].e;
    return 0;
}

const char *pm_drill_errno_name(int e)
{
    if (e < 0) e = -e;
    for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
        if (errnos[i].e == e) return errnos[i].name;
    return NULL;
}

/* ---- ICMP names (packetdrill's icmp_packet.c spelling) ----------------- */

typedef struct {
    int v;
    const char *name;
} named;

static const named icmp4_types[] = {
    {0, "echo_reply"},          {3, "unreachable"},
    {4, "source_quench"},       {5, "redirect"},
    {8, "echo_request"},        {11, "time_exceeded"},
    {12, "parameter_problem"},  {13, "timestamp_request"},
    {14, "timestamp_reply"},    {15, "information_request"},
    {16, "information_reply"},  {17, "address_mask_request"},
    {18, "address_mask_reply"}, {-1, NULL},
};
static const named icmp4_unreach[] = {
    {0, "net_unreachable"},
    {1, "host_unreachable"},
    {2, "protocol_unreachable"},
    {3, "port_unreachable"},
    {4, "frag_needed"},
    {5, "source_route_failed"},
    {6, "net_unknown"},
    {7, "host_unknown"},
    {8, "source_host_isolated"},
    {9, "net_prohibited"},
    {10, "host_prohibited"},
    {11, "net_unreachable_for_tos"},
    {12, "host_unreachable_for_tos"},
    {13, "packet_filtered"},
    {14, "precedence_violation"},
    {15, "precedence_cutoff"},
    {-1, NULL},
};
static const named icmp6_types[] = {
    {1, "unreachable"},    {2, "packet_too_big"}, {3, "time_exceeded"}, {4, "parameter_problem"},
    {128, "echo_request"}, {129, "echo_reply"},   {-1, NULL},
};
static const named icmp6_unreach[] = {
    {0, "net_unreachable"},
    {0, "no_route"},
    {1, "admin_prohibited"},
    {2, "not_neighbour"},
    {3, "address_unreachable"},
    {4, "port_unreachable"},
    {-1, NULL},
};
static const named icmp6_time[] = {
    {0, "exceeded_hop_limit"}, {1, "exceeded_frag_time"}, {-1, NULL}};
static const named icmp6_param[] = {
    {0, "header_field"}, {1, "unknown_next_header"}, {2, "unknown_option"}, {-1, NULL}};

static int lookup(const named *t, const char *name)
{
    for (; t->name; t++)
        if (!strcmp(t->name, name)) return t->v;
    return -1;
}

/* "type_N" / "code_N": tcpdump-style numeric names. */
static int numeric(const char *name, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl) || !name[pl]) return -1;
    int v = 0;
    for (const char *p = name + pl; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
        if (v > 255) return -1;
    }
    return v;
}

int pm_drill_icmp_type(int version, const char *name)
{
    if (!name) return -1;
    int n = numeric(name, "type_");
    if (n >= 0) return n;
    return lookup(version == 6 ? icmp6_types : icmp4_types, name);
}

int pm_drill_icmp_code(int version, int type, const char *name)
{
    if (!name) return 0; /* packetdrill: a missing code means 0 */
    int n = numeric(name, "code_");
    if (n >= 0) return n;
    const named *t = NULL;
    if (version == 6)
        t = type == 1 ? icmp6_unreach : type == 3 ? icmp6_time : type == 4 ? icmp6_param : NULL;
    else
        t = type == 3 ? icmp4_unreach : NULL;
    return t ? lookup(t, name) : -1;
}

/* ---- TCP states --------------------------------------------------------- */

static const char *const state_names[PM_DRILL_ST__COUNT] = {
    "CLOSED",     "LISTEN",  "SYN_SENT", "SYN_RCVD",   "ESTABLISHED", "CLOSE_WAIT",
    "FIN_WAIT_1", "CLOSING", "LAST_ACK", "FIN_WAIT_2", "TIME_WAIT",
};

const char *pm_drill_state_name(pm_drill_tcp_state s)
{
    return (unsigned)s < PM_DRILL_ST__COUNT ? state_names[s] : "?";
}

int pm_drill_state_parse(const char *name)
{
    static const struct {
        const char *alias;
        pm_drill_tcp_state s;
    } aliases[] = {
        /* ss(8) */
        {"UNCONN", PM_DRILL_ST_CLOSED},
        {"ESTAB", PM_DRILL_ST_ESTABLISHED},
        {"SYN-SENT", PM_DRILL_ST_SYN_SENT},
        {"SYN-RECV", PM_DRILL_ST_SYN_RCVD},
        {"FIN-WAIT-1", PM_DRILL_ST_FIN_WAIT_1},
        {"FIN-WAIT-2", PM_DRILL_ST_FIN_WAIT_2},
        {"TIME-WAIT", PM_DRILL_ST_TIME_WAIT},
        {"CLOSE-WAIT", PM_DRILL_ST_CLOSE_WAIT},
        {"LAST-ACK", PM_DRILL_ST_LAST_ACK},
        /* Linux tcp_states.h / FreeBSD tcp_fsm.h spellings */
        {"CLOSE", PM_DRILL_ST_CLOSED},
        {"SYN_RECV", PM_DRILL_ST_SYN_RCVD},
        {"SYN_RECEIVED", PM_DRILL_ST_SYN_RCVD},
        {"FIN_WAIT1", PM_DRILL_ST_FIN_WAIT_1},
        {"FIN_WAIT2", PM_DRILL_ST_FIN_WAIT_2},
    };
    if (!name) return -1;
    const char *n = name;
    if (!strncmp(n, "TCPI_", 5) || !strncmp(n, "TCPS_", 5))
        n += 5;
    else if (!strncmp(n, "TCP_", 4))
        n += 4;
    for (int i = 0; i < PM_DRILL_ST__COUNT; i++)
        if (!strcmp(state_names[i], n)) return i;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcmp(aliases[i].alias, n)) return (int)aliases[i].s;
    return -1;
}
