/* evrd: the controller of one appliance (docs/evrd.md, man/evrd.8).
 *
 *   evrd --appliance FILE [--control PATH] [--run-dir DIR] [--group NAME]
 *        [--vswitch PATH] [--vswitch-eal "EAL OPTIONS"]
 *
 * One thread, one poll loop: the control socket (ctl/), the vswitch's pidfd
 * and a signalfd. SIGTERM and SIGINT end evrd cleanly (exit 0, its socket
 * removed) and leave the vswitch running for the next evrd to adopt. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "appliance.h"
#include "ctl/server.h"
#include "service.h"
#include "vswitch_link.h"

#ifndef EVR_VERSION
#define EVR_VERSION "dev"
#endif

#define VSWITCH_START_TIMEOUT_S 60
#define RESTART_BACKOFF_MAX_S   30

struct options {
    const char *appliance;
    const char *control;
    const char *run_dir;
    const char *group;
    const char *vswitch;
    const char *vswitch_eal;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: evrd --appliance FILE [--control PATH] [--run-dir DIR] [--group NAME]\n"
               "            [--vswitch PATH] [--vswitch-eal \"EAL OPTIONS\"]\n"
               "  --appliance FILE   the appliance: ports, VMs, cores (configs/appliance-*.json)\n"
               "  --control PATH     evrd's control socket [/run/evr/evrd.sock]\n"
               "  --run-dir DIR      sockets of the vswitch and the VMs [/run/evr]\n"
               "  --group NAME       let this group use the control socket (mode 0660)\n"
               "  --vswitch PATH     the evr-vswitch to start [evr-vswitch]\n"
               "  --vswitch-eal ARGS more EAL options for it, e.g. \"--no-huge --no-pci\"\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longs[] = {
            {"appliance", required_argument, NULL, 'a'},
            {"control", required_argument, NULL, 'c'},
            {"run-dir", required_argument, NULL, 'r'},
            {"group", required_argument, NULL, 'g'},
            {"vswitch", required_argument, NULL, 'v'},
            {"vswitch-eal", required_argument, NULL, 'e'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {0},
    };
    int c;

    *o = (struct options){.control = "/run/evr/evrd.sock",
                          .run_dir = "/run/evr",
                          .vswitch = "evr-vswitch",
                          .vswitch_eal = ""};
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'a':
            o->appliance = optarg;
            break;
        case 'c':
            o->control = optarg;
            break;
        case 'r':
            o->run_dir = optarg;
            break;
        case 'g':
            o->group = optarg;
            break;
        case 'v':
            o->vswitch = optarg;
            break;
        case 'e':
            o->vswitch_eal = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("evrd %s\n", EVR_VERSION);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "evrd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return -1;
    }
    if (!o->appliance) {
        fprintf(stderr, "evrd: --appliance FILE is required\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Adopts or starts the vswitch and brings it to the partition. */
static int bring_up_vswitch(struct vswitch_link *link, struct evrd *d)
{
    struct evr_err err;
    bool adopted;

    if (vswitch_link_start(link, VSWITCH_START_TIMEOUT_S, &adopted, &err)) {
        fprintf(stderr, "evrd: vswitch: %s\n", err.msg);
        return -1;
    }
    fprintf(stderr, "evrd: vswitch pid %d %s on %s\n", (int)link->pid,
            adopted ? "adopted" : "started", link->control);
    if (evrd_vswitch_sync(d, &err)) {
        fprintf(stderr, "evrd: vswitch: cannot bring it to the partition: %s\n", err.msg);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct evr_appliance appliance; /* large: not on the stack */
    struct options o;
    struct evr_err err;
    struct evrd d;
    struct vswitch_link link;
    struct ctl_server server;
    struct ctl_server_config scfg;
    sigset_t sigs;
    int sfd, rc = 1;
    double restart_at = 0, backoff = 1, started_at = 0;

    if (parse_args(argc, argv, &o))
        return 2;
    if (evr_appliance_load(&appliance, o.appliance, &err)) {
        fprintf(stderr, "evrd: %s\n", err.msg);
        return 1;
    }
    if (mkdir(o.run_dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "evrd: run directory %s: %s\n", o.run_dir, strerror(errno));
        evr_appliance_free(&appliance);
        return 1;
    }
    vswitch_link_init(&link, &appliance, o.vswitch, o.vswitch_eal, o.run_dir);
    {
        struct evrd_vswitch vs = {.call = vswitch_link_call, .ctx = &link};
        if (evrd_init(&d, &appliance, o.run_dir, &vs, &err)) {
            fprintf(stderr, "evrd: %s\n", err.msg);
            evr_appliance_free(&appliance);
            return 1;
        }
    }
    scfg = (struct ctl_server_config){.path = o.control,
                                      .group = CTL_NO_GROUP,
                                      .name = "evrd",
                                      .version = EVR_VERSION,
                                      .ops = evrd_ops,
                                      .n_ops = evrd_n_ops,
                                      .ctx = &d};
    if (o.group) {
        struct group *g = getgrnam(o.group);
        if (!g) {
            fprintf(stderr, "evrd: --group %s: no such group\n", o.group);
            goto out_evrd;
        }
        scfg.group = g->gr_gid;
    }

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGPIPE);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (sfd < 0) {
        fprintf(stderr, "evrd: signalfd: %s\n", strerror(errno));
        goto out_evrd;
    }
    if (ctl_server_open(&server, &scfg, &err)) {
        fprintf(stderr, "evrd: %s\n", err.msg);
        close(sfd);
        goto out_evrd;
    }
    fprintf(stderr, "evrd: appliance %s: %u ports, %u VMs, partition generation %llu; control %s\n",
            o.appliance, appliance.nports, appliance.nvms,
            (unsigned long long)d.partition.generation, o.control);
    started_at = now_s();
    if (bring_up_vswitch(&link, &d))
        restart_at = now_s() + backoff;

    for (;;) {
        struct pollfd pfd[3] = {
                {.fd = ctl_server_fd(&server), .events = POLLIN},
                {.fd = sfd, .events = POLLIN},
                {.fd = link.pidfd, .events = POLLIN},
        };
        int timeout = -1;

        if (restart_at > 0) {
            double left = restart_at - now_s();
            timeout = left > 0 ? (int)(left * 1000) + 1 : 0;
        }
        if (poll(pfd, 3, timeout) < 0 && errno != EINTR) {
            fprintf(stderr, "evrd: poll: %s\n", strerror(errno));
            break;
        }
        if (pfd[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGPIPE) {
                fprintf(stderr, "evrd: %s: stopping; the vswitch keeps running\n",
                        strsignal((int)si.ssi_signo));
                rc = 0;
                break;
            }
        }
        if (link.pidfd >= 0 && (pfd[2].revents & POLLIN)) {
            pid_t pid = link.pid;
            int status = vswitch_link_exited(&link);
            evrd_vswitch_lost(&d);
            d.vs_restarts++;
            /* a vswitch that dies soon after its start is not started in a loop */
            backoff = now_s() - started_at < 10 ? backoff * 2 : 1;
            if (backoff > RESTART_BACKOFF_MAX_S)
                backoff = RESTART_BACKOFF_MAX_S;
            fprintf(stderr,
                    "evrd: the vswitch (pid %d) exited (status %d); restarting it in %.0f s\n",
                    (int)pid, status, backoff);
            restart_at = now_s() + backoff;
        }
        if (restart_at > 0 && now_s() >= restart_at) {
            started_at = now_s();
            restart_at = 0;
            if (link.pidfd >= 0) /* up, but the sync failed: try the sync alone */
                restart_at = evrd_vswitch_sync(&d, &err) ? now_s() + backoff : 0;
            else if (bring_up_vswitch(&link, &d))
                restart_at = now_s() + backoff;
        }
        if (pfd[0].revents)
            ctl_server_handle_ready(&server);
    }
    ctl_server_close(&server);
    close(sfd);
out_evrd:
    vswitch_link_release(&link);
    evrd_fini(&d);
    evr_appliance_free(&appliance);
    return rc;
}
