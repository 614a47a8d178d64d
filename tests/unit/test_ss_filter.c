/* ss's filter language: parsing (grammar, grouping, errors), matching with
 * the kernel's semantics, and the bytecode -- audited and interpreted as
 * the kernel does -- agreeing with the tree evaluator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <linux/inet_diag.h>

#include "portmux/ssfilter.h"

static int names(void *ctx, const char *name)
{
    (void)ctx;
    if (!strcmp(name, "ssh")) return 22;
    if (!strcmp(name, "http")) return 80;
    return -1;
}

static pm_ssf F;
static char err[256];

static int parse(const char *s)
{
    return pm_ssf_parse_str(&F, s, names, NULL, err, sizeof err);
}

static const char *canon(const char *s)
{
    static char buf[2048];
    if (parse(s) < 0) return err;
    pm_ssf_format(&F, buf, sizeof buf);
    return buf;
}

static void test_grammar(void **state)
{
    (void)state;
    assert_string_equal(canon("sport = :22"), "src *:22");
    assert_string_equal(canon("sport == 22"), "src *:22");
    assert_string_equal(canon("sport eq :ssh"), "src *:22");
    assert_string_equal(canon("dport :80"), "dst *:80");
    assert_string_equal(canon("dport != :80"), "not dst *:80");
    assert_string_equal(canon("dport neq :http"), "not dst *:80");
    assert_string_equal(canon("sport >= :1024"), "sport >= :1024");
    assert_string_equal(canon("sport ge :1024"), "sport >= :1024");
    assert_string_equal(canon("sport <= :1024"), "sport <= :1024");
    assert_string_equal(canon("sport leq :1024"), "sport <= :1024");
    /* ss: > is "not <=", < is "not >=". */
    assert_string_equal(canon("dport > :1024"), "not dport <= :1024");
    assert_string_equal(canon("dport gt :1024"), "not dport <= :1024");
    assert_string_equal(canon("dport < :1024"), "not dport >= :1024");
    assert_string_equal(canon("dport lt :1024"), "not dport >= :1024");
    assert_string_equal(canon("src 10.1.2.3/8"), "src 10.0.0.0/8");
    assert_string_equal(canon("src 10.0.0.1"), "src 10.0.0.1/32");
    assert_string_equal(canon("dst 10.0.0.0/8:443"), "dst 10.0.0.0/8:443");
    assert_string_equal(canon("dst = 192.0.2.1:53"), "dst 192.0.2.1/32:53");
    assert_string_equal(canon("dst [2001:db8::1]:443"), "dst [2001:db8::1/128]:443");
    assert_string_equal(canon("dst [2001:db8::/32]"), "dst [2001:db8::/32]");
    assert_string_equal(canon("dst 2001:db8::/32"), "dst [2001:db8::/32]");
    assert_string_equal(canon("dst ::1"), "dst [::1/128]");
    assert_string_equal(canon("dst [::ffff:127.0.0.1]"), "dst [::ffff:127.0.0.1/128]");
    assert_string_equal(canon("src *:22"), "src *:22");
    assert_string_equal(canon("src :22"), "src *:22");
    assert_string_equal(canon("src *"), "src *");
    assert_string_equal(canon("src != 10.0.0.1"), "not src 10.0.0.1/32");
    /* Operators need no blanks. */
    assert_string_equal(canon("sport>=:80"), "sport >= :80");
    assert_string_equal(canon("!(sport=:22)"), "not src *:22");
}

static void test_grouping(void **state)
{
    (void)state;
    /* ss: and/or bind equally, from the left. */
    assert_string_equal(canon("sport = :1 or sport = :2 and sport = :3"),
                        "( ( src *:1 or src *:2 ) and src *:3 )");
    assert_string_equal(canon("sport = :1 and sport = :2 or sport = :3"),
                        "( ( src *:1 and src *:2 ) or src *:3 )");
    assert_string_equal(canon("sport = :1 or ( sport = :2 and sport = :3 )"),
                        "( src *:1 or ( src *:2 and src *:3 ) )");
    /* Juxtaposition is and; not takes one term. */
    assert_string_equal(canon("src 10.0.0.1 dport = :80"), "( src 10.0.0.1/32 and dst *:80 )");
    assert_string_equal(canon("not sport = :1 and dport = :2"), "( not src *:1 and dst *:2 )");
    /* Double negation cancels, so printing never nests deeper than parsing
     * allows (a fuzz finding: 64 nested nots printed as 65). */
    assert_string_equal(canon("! ! sport = :1"), "src *:1");
    assert_string_equal(canon("! ! ! sport = :1"), "not src *:1");
    assert_string_equal(canon("not not sport > :5"), "not sport <= :5");
    assert_string_equal(canon("sport = :1 && dport = :2 || sport = :3 & dport = :4 | dport = :5"),
                        "( ( ( ( src *:1 and dst *:2 ) or src *:3 ) and dst *:4 ) or dst *:5 )");
}

static void test_states(void **state)
{
    (void)state;
    assert_int_equal(parse("state established"), 0);
    assert_int_equal(F.states, PM_SS_BIT(PM_SS_ESTABLISHED));
    assert_int_equal(F.root, -1);
    assert_int_equal(parse("state time-wait state syn-recv sport = :80"), 0);
    assert_int_equal(F.states, PM_SS_BIT(PM_SS_TIME_WAIT) | PM_SS_BIT(PM_SS_SYN_RECV));
    assert_true(F.root >= 0);
    assert_int_equal(parse("exclude listening"), 0);
    assert_int_equal(F.states, PM_SS_ALL & ~PM_SS_BIT(PM_SS_LISTEN));
    assert_int_equal(parse("state bucket"), 0);
    assert_int_equal(F.states, PM_SS_BIT(PM_SS_TIME_WAIT) | PM_SS_BIT(PM_SS_SYN_RECV));
    assert_int_equal(parse("state connected"), 0);
    assert_int_equal(F.states, PM_SS_ALL & ~(PM_SS_BIT(PM_SS_LISTEN) | PM_SS_BIT(PM_SS_CLOSE)));
    assert_int_equal(parse("state synchronized"), 0);
    assert_int_equal(F.states, PM_SS_ALL & ~(PM_SS_BIT(PM_SS_LISTEN) | PM_SS_BIT(PM_SS_CLOSE) |
                                             PM_SS_BIT(PM_SS_SYN_SENT)));
    assert_int_equal(parse("state big"), 0);
    assert_int_equal(F.states,
                     PM_SS_ALL & ~(PM_SS_BIT(PM_SS_TIME_WAIT) | PM_SS_BIT(PM_SS_SYN_RECV)));
    assert_int_equal(parse("state all"), 0);
    assert_int_equal(F.states, PM_SS_ALL);
    assert_int_equal(parse("state CLOSED state Closing"), 0);
    assert_int_equal(F.states, PM_SS_BIT(PM_SS_CLOSE) | PM_SS_BIT(PM_SS_CLOSING));
    assert_int_equal(parse(""), 0);
    assert_int_equal(F.states, 0);
    assert_int_equal(F.root, -1);
    assert_int_equal(parse("exclude all"), 0);
    assert_int_equal(F.states & PM_SS_ALL, 0);
    assert_true(F.states != 0);
}

static void expect_error(const char *s, const char *needle)
{
    assert_int_equal(parse(s), -EINVAL);
    if (!strstr(err, needle)) fail_msg("'%s': message '%s' lacks '%s'", s, err, needle);
    assert_int_equal(F.root, -1);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("sport = :70000", "70000");
    expect_error("sport = :-1", "-1");
    expect_error("sport = :nosuch", "nosuch");
    expect_error("( sport = :22", "missing ')'");
    expect_error("sport = :22 )", "unbalanced ')'");
    expect_error(")", "unexpected ')'");
    expect_error("sport", "needs a port");
    expect_error("dport >", "needs a port");
    expect_error("src", "needs an address");
    expect_error("src 300.1.1.1", "300.1.1.1");
    expect_error("src 10.0.0.0/33", "10.0.0.0/33");
    expect_error("src [::1", "missing ']'");
    expect_error("src [::1]x", "junk");
    expect_error("src < 10.0.0.1", "= or != only");
    expect_error("sport > *", "port number");
    expect_error("and sport = :1", "unexpected \"and\"");
    expect_error("sport = :1 and", "end of filter");
    expect_error("sport = :1 or or dport = :2", "unexpected \"or\"");
    expect_error("frob", "unknown term \"frob\"");
    expect_error("state nosuch", "wrong state name");
    expect_error("state", "needs a state name");
    expect_error("sport = :1 state established", "must come before");
    /* Depth and size are bounded, never a stack overflow. */
    char deep[4096] = "";
    for (int i = 0; i < 200; i++) strcat(deep, "( ");
    expect_error(deep, "nested too deeply");
    char big[8192] = "";
    for (int i = 0; i < 200; i++) strcat(big, "sport = :1 or ");
    strcat(big, "sport = :2");
    expect_error(big, "too complex");
}

static pm_diag_sock sock4(const char *l, int lp, const char *r, int rp)
{
    pm_diag_sock s = {.proto = PM_IPPROTO_TCP, .family = PM_AF_INET, .state = 1};
    int fam;
    assert_int_equal(pm_ip_parse(l, &s.laddr, &fam), 0);
    assert_int_equal(pm_ip_parse(r, &s.raddr, &fam), 0);
    s.lport = (uint16_t)lp;
    s.rport = (uint16_t)rp;
    return s;
}

static pm_diag_sock sock6(const char *l, int lp, const char *r, int rp)
{
    pm_diag_sock s = sock4("0.0.0.0", lp, "0.0.0.0", rp);
    int fam;
    s.family = PM_AF_INET6;
    assert_int_equal(pm_ip_parse(l, &s.laddr, &fam), 0);
    assert_int_equal(pm_ip_parse(r, &s.raddr, &fam), 0);
    return s;
}

static bool m(const char *expr, const pm_diag_sock *s)
{
    assert_int_equal(parse(expr), 0);
    bool tree = pm_ssf_match(&F, s);
    uint8_t bc[4096];
    int len = pm_ssf_compile(&F, bc, sizeof bc);
    assert_true(len > 0);
    assert_int_equal(pm_ssf_bc_audit(bc, (size_t)len), 0);
    assert_int_equal(pm_ssf_bc_run(bc, (size_t)len, s), tree);
    return tree;
}

static void test_match(void **state)
{
    (void)state;
    pm_diag_sock a = sock4("10.1.2.3", 40000, "192.0.2.7", 443);
    assert_true(m("sport = :40000", &a));
    assert_false(m("sport = :40001", &a));
    assert_true(m("dport = :443", &a));
    assert_true(m("sport > :39999", &a));
    assert_false(m("sport > :40000", &a));
    assert_true(m("sport >= :40000", &a));
    assert_true(m("dport < :444", &a));
    assert_false(m("dport < :443", &a));
    assert_true(m("dport <= :443", &a));
    assert_true(m("src 10.0.0.0/8", &a));
    assert_false(m("src 11.0.0.0/8", &a));
    assert_true(m("src 10.1.2.0/23", &a));
    assert_true(m("dst 192.0.2.7:443", &a));
    assert_false(m("dst 192.0.2.7:80", &a));
    assert_true(m("src 0.0.0.0/0", &a));
    /* An IPv6 prefix never matches an IPv4 socket, not even ::/0. */
    assert_false(m("src [::/0]", &a));
    assert_false(m("src [::ffff:10.1.2.3]", &a));
    assert_true(m("src *:40000", &a));
    assert_true(m("( sport = :1 or dport = :443 ) and src 10.1.2.3", &a));
    assert_false(m("sport = :1 or dport = :443 and src 10.9.9.9", &a));
    assert_true(m("not src 127.0.0.0/8", &a));

    /* A v4-mapped IPv6 socket matches IPv4 prefixes and its IPv6 form. */
    pm_diag_sock b = sock6("::ffff:127.0.0.1", 5000, "::ffff:127.0.0.1", 9000);
    assert_true(m("src 127.0.0.1", &b));
    assert_true(m("dst 127.0.0.0/8:9000", &b));
    assert_true(m("src [::ffff:127.0.0.1]", &b));
    assert_true(m("src [::/0]", &b));
    assert_true(m("src 0.0.0.0/0", &b));
    pm_diag_sock c = sock6("2001:db8::1", 22, "2001:db8:1::5", 50000);
    assert_true(m("src [2001:db8::/32]", &c));
    assert_true(m("dst [2001:db8::/32]", &c));
    assert_false(m("dst [2001:db8::/48]", &c));
    assert_true(m("dst [2001:db8:1::/48]:50000", &c));
    assert_false(m("src 0.0.0.0/0", &c));
    assert_true(m("src [::/0]", &c));
    /* No expression: everything matches; nothing compiles. */
    assert_int_equal(parse("state all"), 0);
    assert_true(pm_ssf_match(&F, &c));
    uint8_t bc[64];
    assert_int_equal(pm_ssf_compile(&F, bc, sizeof bc), 0);
}

/* Random filters over random sockets: the bytecode passes the kernel's
 * audit and the kernel's interpreter agrees with the tree evaluator. */
static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

static void gen(unsigned *seed, char *out, size_t cap, int depth)
{
    static const char *const ports[] = {"22", "80", "443", "8080", "40000", "65535", "0"};
    static const char *const hosts[] = {
        "10.0.0.0/8",      "10.1.2.3",          "127.0.0.1:22", "[::1]",
        "[2001:db8::/32]", "[::ffff:10.1.2.3]", "*:443",        ":80",
        "0.0.0.0/0",       "[::/0]:8080",       "192.0.2.0/25", "10.1.2.3/31:40000"};
    static const char *const ops[] = {"=", "!=", "<", "<=", ">", ">=", "eq", "gt", "le"};
    unsigned k = rnd(seed) % (depth > 4 ? 4 : 7);
    char a[1024], b[1024];
    switch (k) {
    case 0:
    case 1:
        snprintf(out, cap, "%s %s :%s", rnd(seed) % 2 ? "sport" : "dport", ops[rnd(seed) % 9],
                 ports[rnd(seed) % 7]);
        break;
    case 2:
    case 3:
        snprintf(out, cap, "%s %s", rnd(seed) % 2 ? "src" : "dst", hosts[rnd(seed) % 12]);
        break;
    case 4:
        gen(seed, a, sizeof a, depth + 1);
        assert_true(snprintf(out, cap, "not %s", a) < (int)cap);
        break;
    default:
        gen(seed, a, sizeof a, depth + 1);
        gen(seed, b, sizeof b, depth + 1);
        assert_true(snprintf(out, cap, "( %s %s %s )", a, rnd(seed) % 2 ? "and" : "or", b) <
                    (int)cap);
        break;
    }
}

static void test_bytecode_agrees(void **state)
{
    (void)state;
    pm_diag_sock socks[] = {
        sock4("10.1.2.3", 40000, "192.0.2.7", 443),
        sock4("127.0.0.1", 22, "127.0.0.1", 50000),
        sock4("0.0.0.0", 8080, "0.0.0.0", 0),
        sock6("::ffff:10.1.2.3", 80, "::ffff:192.0.2.100", 65535),
        sock6("2001:db8::1", 443, "2001:db8:ffff::1", 8080),
        sock6("::1", 0, "::", 22),
    };
    unsigned seed = 12345;
    char expr[4096];
    uint8_t bc[8192];
    for (int i = 0; i < 3000; i++) {
        gen(&seed, expr, sizeof expr, 0);
        if (parse(expr) < 0) fail_msg("'%s': %s", expr, err);
        int len = pm_ssf_compile(&F, bc, sizeof bc);
        assert_true(len > 0);
        if (pm_ssf_bc_audit(bc, (size_t)len) != 0) fail_msg("audit rejects '%s'", expr);
        for (size_t k = 0; k < sizeof socks / sizeof socks[0]; k++)
            if (pm_ssf_bc_run(bc, (size_t)len, &socks[k]) != pm_ssf_match(&F, &socks[k]))
                fail_msg("'%s' on socket %zu: bytecode and tree disagree", expr, k);
        /* Round trip through the canonical text. */
        char c1[8192], c2[8192];
        pm_ssf_format(&F, c1, sizeof c1);
        if (parse(c1) < 0) fail_msg("canonical '%s' does not parse: %s", c1, err);
        pm_ssf_format(&F, c2, sizeof c2);
        assert_string_equal(c1, c2);
    }
}

static void test_bytecode_layout(void **state)
{
    (void)state;
    /* As ss lays it out: a port compare is two ops; an IPv4 condition is
     * op + hostcond (8) + 4 address bytes; `or` adds a jump; `not` one too. */
    uint8_t bc[256];
    assert_int_equal(parse("sport >= :80"), 0);
    assert_int_equal(pm_ssf_compile(&F, bc, sizeof bc), 8);
    assert_int_equal(parse("src 10.0.0.0/8"), 0);
    assert_int_equal(pm_ssf_compile(&F, bc, sizeof bc), 16);
    assert_int_equal(parse("src [::1]"), 0);
    assert_int_equal(pm_ssf_compile(&F, bc, sizeof bc), 28);
    assert_int_equal(parse("sport = :1 or sport = :2"), 0);
    assert_int_equal(pm_ssf_compile(&F, bc, sizeof bc), 36);
    assert_int_equal(parse("not sport >= :1"), 0);
    assert_int_equal(pm_ssf_compile(&F, bc, sizeof bc), 12);
    /* Too small a buffer: -E2BIG, never an overrun. */
    assert_int_equal(parse("src 10.0.0.0/8 or src 11.0.0.0/8"), 0);
    assert_int_equal(pm_ssf_compile(&F, bc, 20), -E2BIG);
    /* The auditor rejects what the kernel rejects. */
    struct inet_diag_bc_op ops[2] = {{INET_DIAG_BC_S_GE, 8, 12}, {0, 0, 80}};
    assert_int_equal(pm_ssf_bc_audit((uint8_t *)ops, 8), 0);
    assert_int_equal(pm_ssf_bc_audit((uint8_t *)ops, 4), -EINVAL); /* truncated */
    ops[0].no = 14;                                                /* not a multiple of 4 */
    assert_int_equal(pm_ssf_bc_audit((uint8_t *)ops, 8), -EINVAL);
    ops[0].no = 16; /* past end + 4 */
    assert_int_equal(pm_ssf_bc_audit((uint8_t *)ops, 8), -EINVAL);
    ops[0].code = 200; /* unknown */
    ops[0].no = 12;
    assert_int_equal(pm_ssf_bc_audit((uint8_t *)ops, 8), -EINVAL);
    /* A jump into the middle of a condition. */
    assert_int_equal(parse("src 10.0.0.0/8"), 0);
    assert_int_equal(pm_ssf_compile(&F, bc, sizeof bc), 16);
    assert_int_equal(pm_ssf_bc_audit(bc, 16), 0);
    struct inet_diag_bc_op op;
    memcpy(&op, bc, sizeof op);
    op.no = 8;
    memcpy(bc, &op, sizeof op);
    assert_int_equal(pm_ssf_bc_audit(bc, 16), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grammar),         cmocka_unit_test(test_grouping),
        cmocka_unit_test(test_states),          cmocka_unit_test(test_errors),
        cmocka_unit_test(test_match),           cmocka_unit_test(test_bytecode_agrees),
        cmocka_unit_test(test_bytecode_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
