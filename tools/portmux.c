/* portmux: one command, one subcommand per concept. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} subcommands[] = {
    {"services", cmd_services, "look up ports and service names (IANA registry, RFC 6335 classes)"},
    {"ss", cmd_ss, "list sockets, as ss does, with port classes and exhaustion analysis"},
    {"scan", cmd_scan, "scan ports: open, closed, filtered (connect, SYN, UDP)"},
    {"sim", cmd_sim, "plan TIME_WAIT and ephemeral port capacity"},
    {"host", cmd_host, "run the portmux stack on a TUN device"},
    {"drill", cmd_drill, "run packetdrill scripts against the library in virtual time"},
};
#define N_SUB (sizeof subcommands / sizeof subcommands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: portmux <command> [options]\n\n"
               "portmux is the transport multiplexing layer of an operating system --\n"
               "ports, sockets, the 5-tuple connection table, TIME_WAIT -- as a library\n"
               "and the tools around it.\n\ncommands:\n");
    for (size_t i = 0; i < N_SUB; i++)
        fprintf(f, "  %-9s %s\n", subcommands[i].name, subcommands[i].summary);
    fprintf(f, "\n'portmux <command> --help' describes each command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return PM_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return PM_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("portmux 0.1.0\n");
        return PM_EXIT_OK;
    }
    for (size_t i = 0; i < N_SUB; i++)
        if (!strcmp(argv[1], subcommands[i].name)) return subcommands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "portmux: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return PM_EXIT_USAGE;
}
