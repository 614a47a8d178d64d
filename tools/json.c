#include "cli.h"

#include <math.h>
#include <stdarg.h>

int pm_cli_usage_error(const char *sub, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "portmux %s: ", sub);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see 'portmux %s --help')\n", sub);
    return PM_EXIT_USAGE;
}

void pm_json_init(pm_json *j, FILE *f)
{
    j->f = f;
    j->depth = 0;
    j->need_comma[0] = false;
}

static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void prefix(pm_json *j, const char *key)
{
    if (j->need_comma[j->depth]) fputc(',', j->f);
    j->need_comma[j->depth] = true;
    if (key) {
        put_string(j->f, key);
        fputc(':', j->f);
    }
}

static void json_open(pm_json *j, const char *key, char c)
{
    prefix(j, key);
    fputc(c, j->f);
    if (j->depth < 31) j->depth++;
    j->need_comma[j->depth] = false;
}

void pm_json_obj_begin(pm_json *j, const char *key)
{
    json_open(j, key, '{');
}

void pm_json_obj_end(pm_json *j)
{
    fputc('}', j->f);
    if (j->depth > 0) j->depth--;
}

void pm_json_arr_begin(pm_json *j, const char *key)
{
    json_open(j, key, '[');
}

void pm_json_arr_end(pm_json *j)
{
    fputc(']', j->f);
    if (j->depth > 0) j->depth--;
}

void pm_json_str(pm_json *j, const char *key, const char *val)
{
    prefix(j, key);
    if (val)
        put_string(j->f, val);
    else
        fputs("null", j->f);
}

void pm_json_int(pm_json *j, const char *key, long long val)
{
    prefix(j, key);
    fprintf(j->f, "%lld", val);
}

void pm_json_num(pm_json *j, const char *key, double val)
{
    prefix(j, key);
    if (isfinite(val))
        fprintf(j->f, "%.12g", val);
    else
        fputs("null", j->f);
}

void pm_json_bool(pm_json *j, const char *key, bool val)
{
    prefix(j, key);
    fputs(val ? "true" : "false", j->f);
}

void pm_json_end(pm_json *j)
{
    fputc('\n', j->f);
    fflush(j->f);
}
