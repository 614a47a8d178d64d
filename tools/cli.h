/* Shared by the portmux subcommands: the dispatch table and small output
 * helpers. One subcommand, one file: cmd_<name>.c defines cmd_<name>(). */
#ifndef PM_TOOLS_CLI_H
#define PM_TOOLS_CLI_H

#include <stdbool.h>
#include <stdio.h>

int cmd_services(int argc, char **argv);
int cmd_ss(int argc, char **argv);
int cmd_scan(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_host(int argc, char **argv);
int cmd_drill(int argc, char **argv);

/* Exit codes: 0 ok, 1 the answer is "no"/failure, 2 usage error. */
enum { PM_EXIT_OK = 0, PM_EXIT_FAIL = 1, PM_EXIT_USAGE = 2 };

/* "portmux <sub>: message" on stderr; returns PM_EXIT_USAGE for tail calls. */
int pm_cli_usage_error(const char *sub, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Minimal JSON writer: commas and nesting are tracked for the caller. */
typedef struct pm_json {
    FILE *f;
    int depth;
    bool need_comma[32];
} pm_json;

void pm_json_init(pm_json *j, FILE *f);
void pm_json_obj_begin(pm_json *j, const char *key); /* key NULL inside arrays */
void pm_json_obj_end(pm_json *j);
void pm_json_arr_begin(pm_json *j, const char *key);
void pm_json_arr_end(pm_json *j);
void pm_json_str(pm_json *j, const char *key, const char *val); /* val NULL: null */
void pm_json_int(pm_json *j, const char *key, long long val);
void pm_json_num(pm_json *j, const char *key, double val);
void pm_json_bool(pm_json *j, const char *key, bool val);
/* Ends the document with a newline. */
void pm_json_end(pm_json *j);

#endif
