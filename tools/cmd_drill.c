/* portmux drill: packetdrill scripts in virtual time (docs/drill.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "portmux/drill.h"
#include "portmux/drill_host.h"
#include "portmux/pcap.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: portmux drill [options] SCRIPT.pkt...\n\n"
               "Runs packetdrill scripts against the portmux stack in virtual time.\n\n"
               "options:\n"
               "  -D NAME              define NAME for #ifdef NAME sections (repeatable)\n"
               "  --personality NAME   host personality: linux (default), freebsd, ...\n"
               "  --parse-only         check the scripts' syntax only\n"
               "  --kernel TUN         run against the Linux kernel through the TUN device\n"
               "                       TUN (real time; the oracle for scripts)\n"
               "  --pcap FILE          write the packets exchanged (virtual timestamps)\n"
               "  --tap                TAP output for CI\n"
               "  --junit FILE         JUnit XML report in FILE\n"
               "  --json               one JSON object per script; the last line is the\n"
               "                       summary {passed, failed, skipped, seconds}\n"
               "  -v, --verbose        print every script's result, not only failures\n"
               "  --help               this text\n\n"
               "Exit: 0 all passed (skips listed), 1 a failure or parse error, 2 usage,\n"
               "77 nothing passed because everything was skipped.\n");
}

/* The target the scripts run against: a portmux host (drill_host.h). */
static pm_drill_target host_target;
static const pm_drill_target *make_target(const char *personality)
{
    if (host_target.ctx) pm_drill_host_close(&host_target);
    if (pm_drill_host_open(personality, &host_target) < 0) return NULL;
    return &host_target;
}

static char *read_file(const char *path, size_t *len, char *err, size_t errcap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "%s", strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        if (cap >= (64u << 20)) {
            snprintf(err, errcap, "file larger than 64 MiB");
            free(buf);
            buf = NULL;
            break;
        }
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    if (!buf && !err[0]) snprintf(err, errcap, "out of memory");
    if (buf && ferror(f)) {
        snprintf(err, errcap, "read error");
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

typedef struct pcap_ctx {
    pm_pcap *p;
    uint64_t base; /* per-script offset, so scripts follow each other */
} pcap_ctx;

static void pcap_trace(void *arg, char dir, const uint8_t *pkt, size_t len, uint64_t usecs)
{
    (void)dir;
    pcap_ctx *c = arg;
    (void)pm_pcap_write(c->p, pkt, len, c->base + usecs);
}

static void xml_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\n') fputc(*s, f);
        }
    }
}

typedef struct outcome {
    const char *path;
    pm_drill_result res;
    bool parse_error;
} outcome;

int cmd_drill(int argc, char **argv)
{
    pm_drill_parse_opts po;
    memset(&po, 0, sizeof po);
    const char *pcap = NULL, *junit = NULL, *kernel_tun = NULL;
    bool parse_only = false, tap = false, json = false, verbose = false;
    const char **scripts = calloc((size_t)argc + 1, sizeof *scripts);
    size_t n_scripts = 0;
    if (!scripts) return PM_EXIT_FAIL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            free(scripts);
            return PM_EXIT_OK;
        } else if (!strcmp(a, "-D") || !strncmp(a, "-D", 2)) {
            const char *name = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
            if (!name || !*name) {
                free(scripts);
                return pm_cli_usage_error("drill", "-D needs a NAME");
            }
            if (po.n_defines == PM_DRILL_MAX_DEFINES) {
                free(scripts);
                return pm_cli_usage_error("drill", "at most %d -D names", PM_DRILL_MAX_DEFINES);
            }
            po.defines[po.n_defines++] = name;
        } else if (!strcmp(a, "--kernel")) {
            if (i + 1 >= argc) {
                free(scripts);
                return pm_cli_usage_error("drill", "--kernel needs a TUN device name");
            }
            kernel_tun = argv[++i];
        } else if (!strcmp(a, "--personality") || !strcmp(a, "--pcap") || !strcmp(a, "--junit")) {
            if (i + 1 >= argc) {
                free(scripts);
                return pm_cli_usage_error("drill", "%s needs a value", a);
            }
            const char *v = argv[++i];
            if (a[2] == 'p' && a[3] == 'e')
                po.personality = v;
            else if (a[2] == 'p')
                pcap = v;
            else
                junit = v;
        } else if (!strcmp(a, "--parse-only")) {
            parse_only = true;
        } else if (!strcmp(a, "--tap")) {
            tap = true;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = true;
        } else if (a[0] == '-' && a[1]) {
            free(scripts);
            return pm_cli_usage_error("drill", "unknown option '%s'", a);
        } else {
            scripts[n_scripts++] = a;
        }
    }
    if (n_scripts == 0) {
        free(scripts);
        return pm_cli_usage_error("drill", "no SCRIPT.pkt given");
    }
    const char *personality = po.personality ? po.personality : "linux";
    const pm_drill_target *target = parse_only ? NULL : make_target(personality);
    pm_drill_target kt;
    if (kernel_tun && !parse_only) {
        char err[200];
        if (pm_drill_kernel_open(kernel_tun, &kt, err, sizeof err) < 0) {
            fprintf(stderr, "portmux drill: --kernel: %s\n", err);
            free(scripts);
            return PM_EXIT_FAIL;
        }
        target = &kt;
    }
    pcap_ctx pc = {NULL, 0};
    if (pcap && !parse_only) {
        int rc = pm_pcap_create(&pc.p, pcap);
        if (rc < 0) {
            fprintf(stderr, "portmux drill: %s: %s\n", pcap, strerror(-rc));
            if (target == &kt) pm_drill_kernel_close(&kt);
            free(scripts);
            return PM_EXIT_FAIL;
        }
    }
    outcome *out = calloc(n_scripts, sizeof *out);
    if (!out) {
        pm_pcap_close(pc.p);
        if (target == &kt) pm_drill_kernel_close(&kt);
        free(scripts);
        return PM_EXIT_FAIL;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t passed = 0, failed = 0, skipped = 0;
    FILE *hf = json ? stderr : stdout; /* human lines */
    if (tap) printf("1..%zu\n", n_scripts);
    for (size_t i = 0; i < n_scripts; i++) {
        outcome *o = &out[i];
        o->path = scripts[i];
        char err[PM_DRILL_ERRLEN] = "";
        size_t len = 0;
        char *text = read_file(scripts[i], &len, err, sizeof err);
        pm_drill_script *s = NULL;
        if (text && pm_drill_parse(text, len, scripts[i], &po, &s, err, sizeof err) == 0) {
            if (parse_only) {
                o->res.verdict = PM_DRILL_PASS;
                snprintf(o->res.msg, sizeof o->res.msg, "%zu events", s->n_events);
                /* Commands outside the compatibility layer would skip the
                 * script when it runs: say so now. */
                for (size_t k = 0; k < s->n_events; k++) {
                    const pm_drill_event *ev = &s->events[k];
                    pm_drill_cmd cmd;
                    char why[200];
                    int rc = 0;
                    if (ev->kind == PM_DRILL_EV_COMMAND)
                        rc = pm_drill_command_parse(ev->text, &cmd, why, sizeof why);
                    else if (ev->kind == PM_DRILL_EV_CODE)
                        rc = pm_drill_code_parse(ev->text, &cmd, why, sizeof why);
                    if (rc < 0)
                        fprintf(stderr, "%s:%d: warning: %s (the script would be skipped)\n",
                                scripts[i], ev->line, why);
                }
            } else {
                pm_drill_run(s, target, pc.p ? pcap_trace : NULL, &pc, &o->res);
                pc.base += o->res.end_usecs + 1000000;
            }
        } else {
            o->parse_error = true;
            o->res.verdict = PM_DRILL_FAIL;
            /* err is "LINE: message" (or a file error). */
            char *colon = strchr(err, ':');
            o->res.line = text && colon ? atoi(err) : 0;
            snprintf(o->res.msg, sizeof o->res.msg, "%s",
                     text && colon ? colon + 2
                     : err[0]      ? err
                                   : "cannot read");
        }
        free(text);
        pm_drill_script_free(s);
        const pm_drill_result *r = &o->res;
        const char *verdict = r->verdict == PM_DRILL_PASS   ? "pass"
                              : r->verdict == PM_DRILL_FAIL ? "fail"
                                                            : "skip";
        if (r->verdict == PM_DRILL_PASS)
            passed++;
        else if (r->verdict == PM_DRILL_FAIL)
            failed++;
        else
            skipped++;
        if (tap) {
            if (r->verdict == PM_DRILL_PASS)
                printf("ok %zu - %s\n", i + 1, o->path);
            else if (r->verdict == PM_DRILL_SKIP)
                printf("ok %zu - %s # SKIP %s\n", i + 1, o->path, r->msg);
            else
                printf("not ok %zu - %s # %s:%d: %s\n", i + 1, o->path, o->path, r->line, r->msg);
        }
        if (r->verdict == PM_DRILL_FAIL) {
            fprintf(tap ? stderr : hf, "%s:%d: %s%s\n", o->path, r->line,
                    o->parse_error ? "parse error: " : "error handling event: ", r->msg);
            if (r->expected[0])
                fprintf(tap ? stderr : hf, "script packet: %9.6f %s\n", r->expected_usecs / 1e6,
                        r->expected);
            if (r->actual[0])
                fprintf(tap ? stderr : hf, "actual packet: %9.6f %s\n", r->actual_usecs / 1e6,
                        r->actual);
        } else if (!tap && (verbose || r->verdict == PM_DRILL_SKIP) && !parse_only) {
            fprintf(hf, "%s: %s%s%s\n", o->path, verdict, r->msg[0] ? ": " : "", r->msg);
        } else if (!tap && verbose) {
            fprintf(hf, "%s: ok (%s)\n", o->path, r->msg);
        }
        if (json) {
            pm_json j;
            pm_json_init(&j, stdout);
            pm_json_obj_begin(&j, NULL);
            pm_json_str(&j, "script", o->path);
            pm_json_str(&j, "result", verdict);
            if (r->verdict != PM_DRILL_PASS) {
                pm_json_int(&j, "line", r->line);
                pm_json_str(&j, "message", r->msg);
            }
            if (r->expected[0]) pm_json_str(&j, "expected", r->expected);
            if (r->actual[0]) pm_json_str(&j, "actual", r->actual);
            pm_json_obj_end(&j);
            pm_json_end(&j);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (pm_pcap_close(pc.p) < 0) {
        fprintf(stderr, "portmux drill: %s: write error\n", pcap);
        failed++;
    }
    if (junit) {
        FILE *jf = fopen(junit, "w");
        if (!jf) {
            fprintf(stderr, "portmux drill: %s: %s\n", junit, strerror(errno));
            failed++;
        } else {
            fprintf(jf,
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"portmux "
                    "drill\" tests=\"%zu\" failures=\"%zu\" skipped=\"%zu\" time=\"%.6f\">\n",
                    n_scripts, failed, skipped, secs);
            for (size_t i = 0; i < n_scripts; i++) {
                fputs("  <testcase classname=\"drill\" name=\"", jf);
                xml_text(jf, out[i].path);
                fputs("\">", jf);
                const pm_drill_result *r = &out[i].res;
                if (r->verdict != PM_DRILL_PASS) {
                    fputs(r->verdict == PM_DRILL_FAIL ? "<failure message=\""
                                                      : "<skipped message=\"",
                          jf);
                    fprintf(jf, "line %d: ", r->line);
                    xml_text(jf, r->msg);
                    fputs("\">", jf);
                    if (r->expected[0]) {
                        fputs("script packet: ", jf);
                        xml_text(jf, r->expected);
                        fputs("\nactual packet: ", jf);
                        xml_text(jf, r->actual);
                    }
                    fputs(r->verdict == PM_DRILL_FAIL ? "</failure>" : "</skipped>", jf);
                }
                fputs("</testcase>\n", jf);
            }
            fputs("</testsuite>\n", jf);
            fclose(jf);
        }
    }
    if (!tap)
        fprintf(hf, "portmux drill: %zu passed, %zu failed, %zu skipped (%zu scripts, %.3f s)%s\n",
                passed, failed, skipped, n_scripts, secs,
                !parse_only && !target ? "; no target available: the portmux host is not built"
                                       : "");
    if (json) {
        pm_json j;
        pm_json_init(&j, stdout);
        pm_json_obj_begin(&j, NULL);
        pm_json_int(&j, "passed", (long long)passed);
        pm_json_int(&j, "failed", (long long)failed);
        pm_json_int(&j, "skipped", (long long)skipped);
        pm_json_num(&j, "seconds", secs);
        pm_json_obj_end(&j);
        pm_json_end(&j);
    }
    if (target == &kt) pm_drill_kernel_close(&kt);
    free(out);
    free(scripts);
    if (failed) return PM_EXIT_FAIL;
    if (passed == 0 && skipped > 0) return 77;
    return PM_EXIT_OK;
}
