/* portmux drill: packetdrill scripts, parsed into a model and run in
 * virtual time against a target behind an abstract interface.
 *
 * The language is packetdrill's (google/packetdrill, with the nplab/FreeBSD
 * additions the tcp-testsuite uses: #ifdef sections and the "..." sequence
 * wildcard), plus two extensions: strace-form socket addresses and a "uid"
 * event. docs/drill.md describes the subset, the extensions, the backtick
 * compatibility table and the target interface.
 *
 * Lifetime: pm_drill_parse returns a script that owns every string,
 * expression and packet it holds (one arena); pm_drill_script_free frees it. */
#ifndef PORTMUX_DRILL_H
#define PORTMUX_DRILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "portmux/addr.h"
#include "portmux/wire.h"

/* ---- Script model ----------------------------------------------------- */

#define PM_DRILL_MAX_DEFINES 16
#define PM_DRILL_ERRLEN      256

typedef enum pm_drill_time_kind {
    PM_DRILL_TIME_NONE,      /* an init or cleanup command: no time */
    PM_DRILL_TIME_ABSOLUTE,  /* 0.1 */
    PM_DRILL_TIME_RELATIVE,  /* +0.1: after the previous event completed */
    PM_DRILL_TIME_ANY,       /* *: outbound packets only */
    PM_DRILL_TIME_ABS_RANGE, /* 0.1~0.2 or 0.1...0.2: outbound packets only */
    PM_DRILL_TIME_REL_RANGE, /* +0.1~+0.2 or +0.1...+0.2 */
} pm_drill_time_kind;

typedef struct pm_drill_time {
    pm_drill_time_kind kind;
    int64_t usecs;     /* start (or only) time */
    int64_t usecs_end; /* ranges: end */
} pm_drill_time;

/* Syscall arguments and results, as written. */
typedef enum pm_drill_expr_kind {
    PM_DX_ELLIPSIS, /* ... */
    PM_DX_INT,      /* 3, -1, 0x02 */
    PM_DX_WORD,     /* SOCK_STREAM, O_NONBLOCK */
    PM_DX_STRING,   /* "abc" (str_ellipsis: "abc"...) */
    PM_DX_LIST,     /* [a, b] */
    PM_DX_STRUCT,   /* {a, b} or {name=value, ...} */
    PM_DX_BINARY,   /* a | b, name = value: op is "|" or "=" */
    PM_DX_CALL,     /* htons(80), inet_addr("1.2.3.4"), name(args...) */
    PM_DX_SOCKADDR, /* strace form {sa_family=AF_INET, ...}: sa */
} pm_drill_expr_kind;

typedef struct pm_drill_expr {
    pm_drill_expr_kind kind;
    int line;
    int64_t num;     /* INT */
    bool hex;        /* INT written in hex */
    const char *str; /* WORD, STRING, CALL name, BINARY op */
    bool str_ellipsis;
    struct pm_drill_expr **items; /* LIST, STRUCT, CALL args; BINARY: lhs, rhs */
    size_t n_items;
    pm_sockaddr sa; /* SOCKADDR */
} pm_drill_expr;

typedef struct pm_drill_syscall {
    const char *name;
    pm_drill_expr **args;
    size_t n_args;
    pm_drill_expr *result;  /* = 0, = -1, = 0x02, = ... */
    const char *errno_name; /* "EINPROGRESS", or NULL */
    const char *note;       /* text inside the trailing (...), or NULL */
    int64_t end_usecs;      /* "START...END name(...)": the blocking call's end
                               (relative to START when START is), else -1 */
} pm_drill_syscall;

/* What an expected ('>') packet does not check. Set bits mean "don't care". */
enum {
    PM_DRILL_IGN_OPTIONS = 1u << 0, /* <...> */
    PM_DRILL_IGN_WIN = 1u << 1,     /* no "win" */
    PM_DRILL_IGN_SEQ = 1u << 2,     /* "...(len)" sequence wildcard */
    PM_DRILL_IGN_TOS = 1u << 3,     /* no [tos]/[ecn] given */
    PM_DRILL_IGN_TTL = 1u << 4,     /* no (ttl N) given */
    PM_DRILL_IGN_FLOWLABEL = 1u << 5,
    PM_DRILL_IGN_PORTS = 1u << 6,     /* no explicit "sport>dport" */
    PM_DRILL_IGN_ADDRS = 1u << 7,     /* no explicit "ipv4 a > b:" prefix */
    PM_DRILL_IGN_ECN_ECT01 = 1u << 8, /* [ect01]: ECT(0) or ECT(1) both fine */
    PM_DRILL_IGN_PAYLOAD = 1u << 10,  /* bytes are not compared (script has
                                         only the length) */
};

enum { PM_DRILL_ECN_NONE = -1 }; /* no ECN check */

typedef struct pm_drill_packet {
    char dir;      /* '<' inbound (injected), '>' outbound (expected) */
    uint8_t proto; /* PM_IPPROTO_TCP, _UDP, _ICMP (_ICMPV6 for v6) */
    /* The packet as a repr. Addresses are the script's (config local and
     * remote, or the explicit prefix); ports are 0 unless explicit; TCP
     * seq/ack are script-relative; payload points nowhere (NULL) and
     * payload_len says how many bytes. */
    pm_packet pkt;
    uint32_t ignore;   /* PM_DRILL_IGN_* */
    int ecn;           /* PM_DRILL_ECN_NONE or 0..3 to check */
    bool tos_given;    /* (tos 0x..) given: check whole byte */
    const char *flags; /* as written: "S", "S.", "F.", "." */
    bool ack_given;    /* "ack N" written */
    /* ICMP: names as written, resolved type/code, MTU, the quoted packet. */
    const char *icmp_type_name, *icmp_code_name;
    int64_t icmp_mtu;         /* -1 when absent */
    uint8_t icmp_inner_proto; /* TCP or UDP */
    uint32_t icmp_inner_seq;  /* quoted TCP seq (script-relative) */
    uint32_t icmp_inner_len;  /* quoted payload length */
} pm_drill_packet;

typedef enum pm_drill_event_kind {
    PM_DRILL_EV_PACKET,
    PM_DRILL_EV_SYSCALL,
    PM_DRILL_EV_COMMAND, /* `shell command` */
    PM_DRILL_EV_CODE,    /* %{ python }% */
    PM_DRILL_EV_UID,     /* extension: "+0 uid 1000" */
} pm_drill_event_kind;

typedef struct pm_drill_event {
    pm_drill_event_kind kind;
    int line;
    pm_drill_time time;
    pm_drill_packet packet;   /* PACKET */
    pm_drill_syscall syscall; /* SYSCALL */
    const char *text;         /* COMMAND, CODE: the text inside */
    uint32_t uid;             /* UID */
} pm_drill_event;

typedef struct pm_drill_option {
    const char *name;  /* without the leading "--" */
    const char *value; /* raw text after '=', or NULL */
    int line;
} pm_drill_option;

/* The run configuration, from the script's options (and the command line). */
typedef struct pm_drill_config {
    int ip_version;          /* 4, 6, or 46 = ipv4-mapped-ipv6 */
    int64_t tolerance_usecs; /* packetdrill default 4000 */
    int tcp_ts_tick_usecs;   /* 0: outbound TS val not checked */
    pm_ip local_ip, remote_ip;
    uint16_t bind_port;    /* local port for bind(..., ...) : 8080 */
    uint16_t connect_port; /* remote port for connect(..., ...) : 8080 */
    uint16_t remote_port;  /* the script's remote port for passive opens */
    uint16_t mss;
    const char *personality; /* "linux" unless set */
} pm_drill_config;

typedef struct pm_drill_script {
    const char *path;
    pm_drill_option *options;
    size_t n_options;
    pm_drill_event *events;
    size_t n_events;
    pm_drill_config config;
    struct pm_drill_arena *arena; /* private */
} pm_drill_script;

typedef struct pm_drill_parse_opts {
    const char *defines[PM_DRILL_MAX_DEFINES]; /* -D NAME */
    size_t n_defines;
    const char *personality; /* NULL: "linux" */
} pm_drill_parse_opts;

/* Parses text (len bytes, need not be NUL-terminated). On success returns 0
 * and *out; on error returns -EINVAL and writes "LINE: message" into err
 * (errcap bytes). Never crashes on any input. */
int pm_drill_parse(const char *text, size_t len, const char *path, const pm_drill_parse_opts *opts,
                   pm_drill_script **out, char *err, size_t errcap);
void pm_drill_script_free(pm_drill_script *s);

/* Evaluates an integer expression: INT, a known symbolic constant (Linux
 * values: SOCK_STREAM, O_NONBLOCK, SOL_SOCKET, SO_REUSEADDR, ...), a | b,
 * htons(N)/htonl(N) (returned in host order), [N] (one-element list).
 * Returns 0 or -EINVAL. */
int pm_drill_expr_int(const pm_drill_expr *e, int64_t *out);
/* Linux errno value for "EINPROGRESS" etc., or 0 when unknown. */
int pm_drill_errno_value(const char *name);
/* Value of a symbolic constant, 0 or -ENOENT. */
int pm_drill_symbol(const char *name, int64_t *out);
/* Writes the expression as a script would; returns chars (snprintf rules). */
int pm_drill_expr_format(const pm_drill_expr *e, char *buf, size_t cap);
/* Writes a script packet in packetdrill's notation ("S. 0:0(0) ack 1 win
 * 65535 <mss 1460,sackOK,eol,eol>"). */
int pm_drill_packet_format(const pm_drill_packet *p, char *buf, size_t cap);

/* ---- Backtick commands: the compatibility layer ------------------------ */

typedef enum pm_drill_tcp_state {
    PM_DRILL_ST_CLOSED,
    PM_DRILL_ST_LISTEN,
    PM_DRILL_ST_SYN_SENT,
    PM_DRILL_ST_SYN_RCVD,
    PM_DRILL_ST_ESTABLISHED,
    PM_DRILL_ST_CLOSE_WAIT,
    PM_DRILL_ST_FIN_WAIT_1,
    PM_DRILL_ST_CLOSING,
    PM_DRILL_ST_LAST_ACK,
    PM_DRILL_ST_FIN_WAIT_2,
    PM_DRILL_ST_TIME_WAIT,
    PM_DRILL_ST__COUNT
} pm_drill_tcp_state;

/* "TIME_WAIT", "SYN_RCVD", ... (FreeBSD's sockstat spelling). */
const char *pm_drill_state_name(pm_drill_tcp_state s);
/* Accepts FreeBSD (TIME_WAIT, SYN_RCVD), ss (TIME-WAIT, SYN-RECV, ESTAB),
 * Linux TCPI_ (TCPI_SYN_RECEIVED, TCP_SYN_RECV) spellings; -1 if unknown. */
int pm_drill_state_parse(const char *name);

typedef enum pm_drill_cmd_kind {
    PM_DRILL_CMD_KNOB,  /* sysctl -w NAME=VALUE */
    PM_DRILL_CMD_COUNT, /* sockstat/ss ... | grep -c STATE | grep N */
    PM_DRILL_CMD_DROP,  /* tcpdrop -s STATE (FreeBSD 11+), tcpdrop -a */
    PM_DRILL_CMD_STATE, /* %{ assert tcpi_state == TCPI_X }% */
    PM_DRILL_CMD_UID,   /* uid N (extension) */
} pm_drill_cmd_kind;

typedef struct pm_drill_cmd {
    pm_drill_cmd_kind kind;
    /* KNOB: a canonical knob name (docs/drill.md), one or two values, and
     * the sysctl as written. */
    const char *knob;
    int64_t value, value2;
    int n_values;
    char sysctl[96];
    /* COUNT, DROP: which sockets. family 0 = any, 4, 6; proto 0 = any;
     * port 0 = any; state -1 = any (DROP -a). */
    int family;
    uint8_t proto;
    uint16_t port;
    int state;
    int64_t expect; /* COUNT: the N asserted */
    /* STATE: the target fd whose state is asserted, and the state. */
    int64_t fd;
    uint32_t uid; /* UID */
    /* Written by the target: COUNT the number of sockets, STATE the state. */
    int64_t answer;
} pm_drill_cmd;

/* Translates a backtick command line. Returns 0 and fills *cmd; -ENOTSUP
 * (with why in err) when the command is outside the compatibility layer. */
int pm_drill_command_parse(const char *line, pm_drill_cmd *cmd, char *err, size_t errcap);
/* Translates a %{ code }% snippet (only "assert tcpi_state == TCPI_X"). */
int pm_drill_code_parse(const char *code, pm_drill_cmd *cmd, char *err, size_t errcap);

/* ---- The target: what a script runs against ---------------------------- */

/* Returned by syscall() for a call that would block; it is retried as time
 * passes and packets arrive, until it completes. */
#define PM_DRILL_BLOCKED (-100000)

#define PM_DRILL_MAX_ARGS 8

/* One syscall, with the script's arguments resolved: fd numbers mapped
 * from the script's to the target's, "..." socket addresses filled in from
 * the config (bind: local_ip:bind_port; connect/sendto: remote_ip:
 * connect_port), symbolic constants evaluated where they are integers. */
typedef struct pm_drill_call {
    const char *name;
    size_t n_args;
    const pm_drill_expr *args[PM_DRILL_MAX_ARGS]; /* as written */
    bool arg_is_int[PM_DRILL_MAX_ARGS];
    int64_t arg_int[PM_DRILL_MAX_ARGS]; /* valid when arg_is_int; fds mapped */
    bool arg_is_sa[PM_DRILL_MAX_ARGS];
    pm_sockaddr arg_sa[PM_DRILL_MAX_ARGS];
    int domain; /* AF for "socket(..., ...)": the config's */
    /* Written by the target: out-values it produced (getsockopt's optval,
     * accept's peer address), checked against what the script wrote. */
    bool out_is_int[PM_DRILL_MAX_ARGS];
    int64_t out_int[PM_DRILL_MAX_ARGS];
    bool out_is_sa[PM_DRILL_MAX_ARGS];
    pm_sockaddr out_sa[PM_DRILL_MAX_ARGS];
} pm_drill_call;

typedef struct pm_drill_target {
    void *ctx;
    /* Start afresh for one script: config (addresses, personality) known. */
    int (*reset)(void *ctx, const pm_drill_config *cfg);
    /* Returns the result (>= 0), a negative errno (-EINPROGRESS), or
     * PM_DRILL_BLOCKED; fd-returning calls return the target's fd. */
    int64_t (*syscall)(void *ctx, pm_drill_call *call, uint64_t now);
    /* One inbound IP packet. */
    int (*inject)(void *ctx, const uint8_t *pkt, size_t len, uint64_t now);
    /* Next outbound IP packet into buf: its length, or 0 when none. */
    int (*output)(void *ctx, uint8_t *buf, size_t cap, uint64_t now);
    /* When the target next needs advance(); UINT64_MAX for never. */
    uint64_t (*next_deadline)(void *ctx);
    void (*advance)(void *ctx, uint64_t now);
    /* A translated backtick command or code assertion: 0, -ENOTSUP (the
     * script is skipped), or another negative errno (the script fails). */
    int (*command)(void *ctx, pm_drill_cmd *cmd, uint64_t now);
} pm_drill_target;

/* ---- Running a script -------------------------------------------------- */

typedef enum pm_drill_verdict {
    PM_DRILL_PASS,
    PM_DRILL_FAIL,
    PM_DRILL_SKIP, /* unsupported command, or no target */
} pm_drill_verdict;

typedef struct pm_drill_result {
    pm_drill_verdict verdict;
    int line;                  /* of the failing / skipping event */
    char msg[PM_DRILL_ERRLEN]; /* "live packet field tcp_ack_seq: expected..." */
    char expected[256];        /* script packet, packetdrill notation */
    char actual[256];          /* live packet mapped to script space */
    int64_t expected_usecs, actual_usecs;
    size_t events_run;
    uint64_t end_usecs; /* virtual time at the end */
} pm_drill_result;

/* Called for every packet crossing the virtual wire (for --pcap). */
typedef void (*pm_drill_trace_fn)(void *arg, char dir, const uint8_t *pkt, size_t len,
                                  uint64_t usecs);

/* Runs the script against the target in virtual time. target NULL: skipped
 * ("no target available"). Always fills *res. Returns 0 (pass), 1 (fail),
 * 2 (skip). */
int pm_drill_run(const pm_drill_script *s, const pm_drill_target *target, pm_drill_trace_fn trace,
                 void *trace_arg, pm_drill_result *res);

/* ---- The Linux kernel as a target (the oracle) ------------------------- */

/* Opens a target that is the running kernel: real system calls, packets
 * through the existing TUN device `tun` (up, with the script's local
 * address and a route to its remote one), real time (advance() sleeps).
 * Returns 0 or a negative errno with why in err. */
int pm_drill_kernel_open(const char *tun, pm_drill_target *out, char *err, size_t errcap);
void pm_drill_kernel_close(pm_drill_target *t);

#endif
