/* evr: the command line of an evr appliance, for people and for scripts
 * (man/evr.8). Each verb is one request to evrd's control socket; -j prints
 * evrd's reply as it is (stable JSON), the default prints it as tables.
 *
 * Exit status: 0 done (or held already), 1 evrd unreachable or a system
 * error, 2 bad usage or a bad value, 3 conflict (owned by another VM, no
 * free VM port, the VM not running), 4 not found (no such VM, a free slice
 * moved). */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console.h"
#include "ctl/client.h"
#include "print.h"

#define EXIT_SYSTEM   1
#define EXIT_USAGE    2
#define EXIT_CONFLICT 3
#define EXIT_NOTFOUND 4

struct cli {
    bool json;
    bool dry_run;
    const char *socket;
    const char *batch; /* evr -b FILE: names the file in evrd's refusals */
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: evr [-j] [-n] [-s SOCKET] VERB ...   or   evr [-j] [-n] -b FILE\n"
            "  evr split SLICES VM [--passthrough] [--vm-port N] [--vlan V]\n"
            "                                                      give free slices to VM\n"
            "  evr join PORTS VM [--lag active-backup|balance]     make ports one LAG of VM\n"
            "  evr move SLICES VM [--passthrough|--vswitch] [--vlan V]\n"
            "                                                      give owned slices to VM\n"
            "  evr free SLICES                                     take slices from their owners\n"
            "  evr apply FILE                                      make the partition FILE's\n"
            "  evr show [partition|inventory|vswitch|vms|stats]    what there is [partition]\n"
            "  evr show vm VM                                      one VM: state, holdings,\n"
            "                                                      ports and their links\n"
            "  evr vm start|stop|console VM, evr vm list           run a router engine, or\n"
            "                                                      attach to its serial console\n"
            "  evr monitor                                         events as they happen\n"
            "SLICES: port0-7, port8.100-199 (VLANs), port2/vf0-3 (VFs), comma-separated\n"
            "  --vlan V        the VFs' port VLAN: the NIC tags their frames with V and gives\n"
            "                  them V's frames only (VF slices)\n"
            "  -b, --batch FILE  split, join, move and free lines of FILE as one change:\n"
            "                    all of them or none\n"
            "  -j, --json      print evrd's JSON reply\n"
            "  -n, --dry-run   print the plan and the partition it gives; change nothing\n"
            "  -s, --socket    evrd's control socket [$EVR_SOCKET or /run/evr/evrd.sock]\n"
            "exit: 0 done, 1 system error, 2 usage, 3 conflict, 4 not found\n");
}

static int exit_for(int code)
{
    switch (code) {
    case EINVAL:
        return EXIT_USAGE;
    case EBUSY:
    case ENOSPC:
    case EEXIST:
    case ESRCH:
        return EXIT_CONFLICT;
    case ENOENT:
        return EXIT_NOTFOUND;
    default:
        return EXIT_SYSTEM;
    }
}

/* Sends req (taken) to evrd; returns its reply, or NULL with the reason
 * said and *status the exit status. */
static json_t *ask(const struct cli *cli, json_t *req, int *status)
{
    struct ctl_client c;
    struct evr_err err;
    json_t *reply;

    *status = 0;
    if (ctl_client_open(&c, cli->socket, NULL, &err)) {
        fprintf(stderr, "evr: evrd at %s: %s\n", cli->socket, err.msg);
        json_decref(req);
        *status = EXIT_SYSTEM;
        return NULL;
    }
    reply = ctl_client_call(&c, req, &err);
    ctl_client_close(&c);
    json_decref(req);
    if (!reply) {
        fprintf(stderr, "evr: %s%s%s\n", cli->batch ? cli->batch : "", cli->batch ? ": " : "",
                err.msg);
        *status = exit_for(err.code);
    }
    return reply;
}

/* Sends req (taken) and prints the reply the verb's way. */
static int call(const struct cli *cli, json_t *req, void (*print)(const json_t *reply))
{
    json_t *reply;
    int status;

    if (cli->dry_run)
        json_object_set_new(req, "dry_run", json_true());
    reply = ask(cli, req, &status);
    if (!reply)
        return status;
    json_object_del(reply, "ok");
    if (cli->json) {
        char *text = json_dumps(reply, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(text ? text : "{}");
        free(text);
    } else {
        print(reply);
    }
    json_decref(reply);
    return 0;
}

/* The integer value of option name, min..max; says what is wrong when not. */
static int int_option(const char *op, const char *name, const char *text, long min, long max,
                      long *out)
{
    char *end;

    errno = 0;
    *out = strtol(text, &end, 10);
    if (errno || *end || end == text || *out < min || *out > max) {
        fprintf(stderr, "evr %s: %s '%s' is not a number %ld-%ld\n", op, name, text, min, max);
        return -1;
    }
    return 0;
}

/* The request of split, move, join (SLICES VM [--passthrough|--vswitch]
 * [--vm-port N] [--vlan V] [--lag MODE]) or free (SLICES), from the verb's
 * arguments (argv[0] is the verb); NULL, the reason said, for bad usage. */
static json_t *change_request(int argc, char **argv)
{
    static const struct option longs[] = {
            {"passthrough", no_argument, NULL, 'p'},   {"vswitch", no_argument, NULL, 'w'},
            {"vm-port", required_argument, NULL, 'k'}, {"vlan", required_argument, NULL, 'l'},
            {"lag", required_argument, NULL, 'g'},     {0},
    };
    const char *op = argv[0];
    bool is_free = !strcmp(op, "free"), is_join = !strcmp(op, "join");
    json_t *req = json_pack("{s:s}", "op", op);
    int c;

    /* 0, not 1: glibc then starts afresh (a batch parses many lines), and
     * permutes, so options may follow the slices and the VM as the man page
     * shows them (the verb-level parse before stops at the verb) */
    optind = 0;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        long k;
        if (c != '?' &&
            (is_free || (c == 'g' && !is_join) || (is_join && (c == 'p' || c == 'l')))) {
            fprintf(stderr, "evr %s: that option is not one of %s's\n", op, op);
            c = '?';
        }
        switch (c) {
        case 'g':
            if (strcmp(optarg, "active-backup") && strcmp(optarg, "balance")) {
                fprintf(stderr, "evr join: --lag '%s' is not active-backup or balance\n", optarg);
                json_decref(req);
                return NULL;
            }
            json_object_set_new(req, "lag", json_string(optarg));
            break;
        case 'p':
        case 'w':
            json_object_set_new(req, "mode", json_string(c == 'p' ? "passthrough" : "vswitch"));
            break;
        case 'k':
        case 'l':
            if (int_option(op, c == 'k' ? "--vm-port" : "--vlan", optarg, c == 'k' ? 0 : 1,
                           c == 'k' ? 255 : 4094, &k)) {
                json_decref(req);
                return NULL;
            }
            json_object_set_new(req, c == 'k' ? "vm_port" : "vlan", json_integer(k));
            break;
        default:
            json_decref(req);
            return NULL;
        }
    }
    if (is_free ? argc - optind != 1 : argc - optind != 2) {
        if (is_free)
            fprintf(stderr, "evr free: wants SLICES (evr free port3)\n");
        else
            fprintf(stderr, "evr %s: wants %s and a VM (evr %s port0-3 vm-a)\n", op,
                    is_join ? "PORTS" : "SLICES", op);
        json_decref(req);
        return NULL;
    }
    json_object_set_new(req, "slices", json_string(argv[optind]));
    if (!is_free)
        json_object_set_new(req, "vm", json_string(argv[optind + 1]));
    return req;
}

static int change_verb(const struct cli *cli, int argc, char **argv)
{
    json_t *req = change_request(argc, argv);
    return req ? call(cli, req, print_change) : EXIT_USAGE;
}

#define BATCH_WORDS 16

/* evr -b FILE: a line a change, as on the command line without "evr"
 * (split port0-3 vm-a); blank lines and lines starting with '#' are
 * skipped. The changes go to evrd as one batch: one transaction. */
static int batch(struct cli *cli, const char *file)
{
    FILE *f = fopen(file, "r");
    json_t *changes = json_array();
    char *line = NULL;
    size_t cap = 0;
    unsigned number = 0;
    int rc = 0;

    if (!f) {
        fprintf(stderr, "evr: -b %s: %s\n", file, strerror(errno));
        json_decref(changes);
        return EXIT_USAGE;
    }
    while (!rc && getline(&line, &cap, f) >= 0) {
        char *words[BATCH_WORDS + 1], *save = NULL, *w;
        int n = 0;
        json_t *req;
        number++;
        for (w = strtok_r(line, " \t\r\n", &save); w && n <= BATCH_WORDS;
             w = strtok_r(NULL, " \t\r\n", &save))
            words[n++] = w;
        if (n == 0 || words[0][0] == '#')
            continue;
        words[n < BATCH_WORDS ? n : BATCH_WORDS] = NULL;
        if (n > BATCH_WORDS || (strcmp(words[0], "split") && strcmp(words[0], "move") &&
                                strcmp(words[0], "join") && strcmp(words[0], "free"))) {
            fprintf(stderr, "evr: %s: line %u: %s\n", file, number,
                    n > BATCH_WORDS ? "too many words"
                                    : "a batch line is split, join, move or free");
            rc = EXIT_USAGE;
            break;
        }
        req = change_request(n, words);
        if (!req) {
            fprintf(stderr, "evr: %s: line %u: bad usage (above)\n", file, number);
            rc = EXIT_USAGE;
            break;
        }
        json_object_set_new(req, "line", json_integer(number));
        json_array_append_new(changes, req);
    }
    free(line);
    fclose(f);
    if (!rc && json_array_size(changes) == 0) {
        fprintf(stderr, "evr: %s: no change in it\n", file);
        rc = EXIT_USAGE;
    }
    if (rc) {
        json_decref(changes);
        return rc;
    }
    cli->batch = file;
    return call(cli, json_pack("{s:s, s:o}", "op", "batch", "changes", changes), print_change);
}

/* apply FILE: the holdings as `evr show -j` prints them (an object with
 * "partition"), or the bare array. */
static int apply_verb(const struct cli *cli, int argc, char **argv)
{
    json_error_t jerr;
    json_t *doc, *holdings;

    if (argc != 2) {
        fprintf(stderr, "evr apply: wants a FILE (the output of evr show -j, or its array)\n");
        return EXIT_USAGE;
    }
    doc = json_load_file(argv[1], JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        fprintf(stderr, "evr apply: %s: line %d column %d: %s\n", argv[1], jerr.line, jerr.column,
                jerr.text);
        return EXIT_USAGE;
    }
    holdings = json_is_array(doc) ? doc : json_object_get(doc, "partition");
    if (!json_is_array(holdings)) {
        fprintf(stderr,
                "evr apply: %s: expected an array of holdings, or an object with "
                "\"partition\"\n",
                argv[1]);
        json_decref(doc);
        return EXIT_USAGE;
    }
    json_incref(holdings);
    json_decref(doc);
    return call(cli, json_pack("{s:s, s:o}", "op", "apply", "holdings", holdings), print_change);
}

static int show_verb(const struct cli *cli, int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "partition";
    bool vm = !strcmp(what, "vm");

    if (argc > (vm ? 3 : 2) || (vm && argc < 3)) {
        fprintf(stderr, "evr show: one of partition, inventory, vswitch, vms, vm NAME, stats\n");
        return EXIT_USAGE;
    }
    if (cli->dry_run) {
        fprintf(stderr, "evr show: --dry-run is for changes\n");
        return EXIT_USAGE;
    }
    if (vm)
        return call(cli, json_pack("{s:s, s:s, s:s}", "op", "show", "what", what, "name", argv[2]),
                    print_vm);
    return call(cli, json_pack("{s:s, s:s}", "op", "show", "what", what),
                !strcmp(what, "inventory") ? print_inventory
                : !strcmp(what, "vswitch") ? print_vswitch
                : !strcmp(what, "vms")     ? print_vms
                : !strcmp(what, "stats")   ? print_stats
                                           : print_partition);
}

/* evr vm console VM: evrd says where the console is (while the VM runs),
 * evr attaches this terminal to it (console.h). */
static int console_verb(const struct cli *cli, const char *vm)
{
    struct evr_err err;
    json_t *reply;
    int rc;

    if (cli->dry_run || cli->json) {
        fprintf(stderr, "evr vm console: neither -n nor -j: it attaches a terminal\n");
        return EXIT_USAGE;
    }
    reply = ask(cli, json_pack("{s:s, s:s}", "op", "vm-console", "name", vm), &rc);
    if (!reply)
        return rc;
    rc = console_attach(vm, json_string_value(json_object_get(reply, "console")), &err);
    if (rc)
        fprintf(stderr, "evr vm console: %s\n", err.msg);
    json_decref(reply);
    return rc ? EXIT_SYSTEM : 0;
}

static int vm_verb(const struct cli *cli, int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "list"))
        return call(cli, json_pack("{s:s, s:s}", "op", "show", "what", "vms"), print_vms);
    if (argc == 3 && !strcmp(argv[1], "console"))
        return console_verb(cli, argv[2]);
    if (argc != 3 || (strcmp(argv[1], "start") && strcmp(argv[1], "stop"))) {
        fprintf(stderr, "evr vm: start VM, stop VM, console VM or list\n");
        return EXIT_USAGE;
    }
    return call(cli,
                json_pack("{s:s, s:s}", "op", strcmp(argv[1], "start") ? "vm-stop" : "vm-start",
                          "name", argv[2]),
                print_nothing);
}

/* Events as they come: evrd keeps them numbered, evr asks for the ones after
 * the last it printed, five times a second. Ends with evrd (status 1). */
static int monitor_verb(const struct cli *cli)
{
    struct ctl_client c;
    struct evr_err err;
    json_int_t since = -1;

    if (ctl_client_open(&c, cli->socket, NULL, &err)) {
        fprintf(stderr, "evr: evrd at %s: %s\n", cli->socket, err.msg);
        return EXIT_SYSTEM;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (;;) {
        json_t *req = since < 0 ? json_pack("{s:s}", "op", "events")
                                : json_pack("{s:s, s:I}", "op", "events", "since", since);
        json_t *reply = ctl_client_call(&c, req, &err), *ev;
        size_t i;

        json_decref(req);
        if (!reply) {
            fprintf(stderr, "evr monitor: %s\n", err.msg);
            ctl_client_close(&c);
            return EXIT_SYSTEM;
        }
        /* the first call only learns where evrd is: events from now on */
        if (since >= 0) {
            if (json_integer_value(json_object_get(reply, "dropped")))
                fprintf(stderr, "evr monitor: %lld events were dropped before they were read\n",
                        (long long)json_integer_value(json_object_get(reply, "dropped")));
            json_array_foreach(json_object_get(reply, "events"), i, ev) print_event(ev, cli->json);
        }
        since = json_integer_value(json_object_get(reply, "last"));
        json_decref(reply);
        usleep(200 * 1000);
    }
}

int main(int argc, char **argv)
{
    static const struct option longs[] = {
            {"json", no_argument, NULL, 'j'},         {"dry-run", no_argument, NULL, 'n'},
            {"socket", required_argument, NULL, 's'}, {"batch", required_argument, NULL, 'b'},
            {"help", no_argument, NULL, 'h'},         {0},
    };
    const char *batch_file = NULL;
    struct cli cli = {.socket = getenv("EVR_SOCKET") ? getenv("EVR_SOCKET") : "/run/evr/evrd.sock"};
    const char *verb;
    int c;

    /* options before the verb; "+" stops at the first word */
    while ((c = getopt_long(argc, argv, "+jns:b:h", longs, NULL)) != -1) {
        switch (c) {
        case 'b':
            batch_file = optarg;
            break;
        case 'j':
            cli.json = true;
            break;
        case 'n':
            cli.dry_run = true;
            break;
        case 's':
            cli.socket = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (batch_file) {
        if (optind < argc) {
            fprintf(stderr, "evr: -b FILE takes no verb: the changes are in FILE\n");
            return EXIT_USAGE;
        }
        return batch(&cli, batch_file);
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    verb = argv[optind];
    argc -= optind;
    argv += optind;
    /* -j and -n may follow the verb too (evr split port3 vm-b -n): slices
     * and VM names never start with '-' */
    {
        int kept = 1;
        for (int i = 1; i < argc; i++) {
            if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json"))
                cli.json = true;
            else if (!strcmp(argv[i], "-n") || !strcmp(argv[i], "--dry-run"))
                cli.dry_run = true;
            else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
                usage(stdout);
                return 0;
            } else
                argv[kept++] = argv[i];
        }
        argc = kept;
        argv[argc] = NULL;
    }
    if (!strcmp(verb, "split") || !strcmp(verb, "move") || !strcmp(verb, "join") ||
        !strcmp(verb, "free"))
        return change_verb(&cli, argc, argv);
    if (!strcmp(verb, "apply"))
        return apply_verb(&cli, argc, argv);
    if (!strcmp(verb, "show"))
        return show_verb(&cli, argc, argv);
    if (!strcmp(verb, "vm"))
        return vm_verb(&cli, argc, argv);
    if (!strcmp(verb, "monitor"))
        return argc == 1 ? monitor_verb(&cli)
                         : (fprintf(stderr, "evr monitor: no arguments\n"), EXIT_USAGE);
    if (!strcmp(verb, "help")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "evr: unknown verb '%s' (split, join, move, free, apply, show, vm, monitor)\n",
            verb);
    return EXIT_USAGE;
}
