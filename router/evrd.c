/* evrd: the controller of one appliance (docs/evrd.md, man/evrd.8).
 *
 *   evrd --appliance FILE [--control PATH] [--run-dir DIR] [--group NAME]
 *        [--vswitch PATH] [--vswitch-eal "EAL OPTIONS"] [--vmm PATH] [--no-vms]
 *
 * One thread, one poll loop: the control socket (ctl/), the pidfds of the
 * vswitch and of every VM's evr-vmm, and a signalfd. SIGTERM and SIGINT end
 * evrd cleanly (exit 0, its socket removed) and leave the vswitch and the VMs
 * running for the next evrd to adopt. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "appliance.h"
#include "backoff.h"
#include "child.h"
#include "ctl/server.h"
#include "events.h"
#include "link_watch.h"
#include "service.h"
#include "vf_host.h"
#include "vm_link.h"
#include "vm_supervisor.h"
#include "vswitch_link.h"

#ifndef EVR_VERSION
#define EVR_VERSION "dev"
#endif

#define VSWITCH_START_TIMEOUT_S 60
#define EVRD_REQUEST_MAX        (4u << 20) /* an apply carries a whole partition */

struct options {
    const char *appliance;
    const char *control;
    const char *run_dir;
    const char *group;
    const char *vswitch;
    const char *vswitch_eal;
    const char *vmm;
    bool no_vms;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: evrd --appliance FILE [--control PATH] [--run-dir DIR] [--group NAME]\n"
            "            [--vswitch PATH] [--vswitch-eal \"EAL OPTIONS\"] [--vmm PATH] [--no-vms]\n"
            "  --appliance FILE   the appliance: ports, VMs, cores (configs/appliance-*.json)\n"
            "  --control PATH     evrd's control socket [/run/evr/evrd.sock]\n"
            "  --run-dir DIR      sockets, configs and logs of the vswitch and VMs [/run/evr]\n"
            "  --group NAME       let this group use the control socket (mode 0660)\n"
            "  --vswitch PATH     the evr-vswitch to start [evr-vswitch]\n"
            "  --vswitch-eal ARGS more EAL options for it, e.g. \"--no-huge --no-pci\"\n"
            "  --vmm PATH         the evr-vmm to run each VM with [evr-vmm]\n"
            "  --no-vms           start no VM, adopt running ones (evr vm start starts one)\n");
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
            {"vmm", required_argument, NULL, 'm'},
            {"no-vms", no_argument, NULL, 'N'},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, 'V'},
            {0},
    };
    int c;

    *o = (struct options){.control = "/run/evr/evrd.sock",
                          .run_dir = "/run/evr",
                          .vswitch = "evr-vswitch",
                          .vswitch_eal = "",
                          .vmm = "evr-vmm"};
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
        case 'm':
            o->vmm = optarg;
            break;
        case 'N':
            o->no_vms = true;
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

/* Everything the loop watches. */
struct daemon {
    struct evr_appliance appliance;
    struct evr_events events;
    struct evrd d;
    struct vswitch_link link;
    struct vm_supervisor vms;
    struct vf_host vf;
    struct evrd_passthrough pt;
    struct ctl_server server;
    struct backoff vs_backoff;
    double vs_started_at, vs_retry_at; /* vs_retry_at 0: nothing pending */
};

/* How often a vswitch being started is asked whether it answers yet. */
#define VSWITCH_START_POLL_S 0.1

/* Adopts or starts the vswitch and brings it to the partition; on failure
 * schedules another try. A start does not hold the loop: it is polled from
 * it until the new vswitch answers. */
static void vswitch_up(struct daemon *m)
{
    struct evr_err err;
    bool adopted = false;
    int started;

    m->vs_retry_at = 0;
    if (m->link.pidfd < 0) {
        m->vs_started_at = evr_mono_s();
        started = vswitch_link_start(&m->link, VSWITCH_START_TIMEOUT_S, &adopted, &err);
        if (started < 0) {
            evr_events_add(&m->events, "vswitch", "vswitch", "cannot start it: %s", err.msg);
            m->vs_retry_at = evr_mono_s() + backoff_after(&m->vs_backoff, 0);
            return;
        }
        m->d.vs_pid = (int)m->link.pid;
        if (started > 0) {
            evr_events_add(&m->events, "vswitch", "vswitch", "started, pid %d, on %s",
                           (int)m->link.pid, m->link.control);
            m->vs_retry_at = evr_mono_s() + VSWITCH_START_POLL_S;
            return;
        }
        evr_events_add(&m->events, "vswitch", "vswitch", "adopted, pid %d, on %s", (int)m->link.pid,
                       m->link.control);
    } else if (m->link.start_deadline_s) {
        started = vswitch_link_poll_start(&m->link, &err);
        if (started > 0) {
            m->vs_retry_at = evr_mono_s() + VSWITCH_START_POLL_S;
            return;
        }
        if (started < 0) { /* killed: its pidfd reports the exit, which schedules the retry */
            evr_events_add(&m->events, "vswitch", "vswitch", "cannot start it: %s", err.msg);
            return;
        }
    }
    if (evrd_vswitch_sync(&m->d, &err)) {
        evr_events_add(&m->events, "vswitch", "vswitch", "cannot bring it to the partition: %s",
                       err.msg);
        m->vs_retry_at = evr_mono_s() + backoff_after(&m->vs_backoff, 0);
        return;
    }
    evr_events_add(&m->events, "vswitch", "vswitch", "carries partition generation %llu",
                   (unsigned long long)m->d.partition.generation);
}

static void vswitch_exited(struct daemon *m)
{
    pid_t pid = m->link.pid;
    int status = vswitch_link_exited(&m->link);
    double wait = backoff_after(&m->vs_backoff, evr_mono_s() - m->vs_started_at);

    evrd_vswitch_lost(&m->d);
    m->d.vs_pid = 0;
    m->d.vs_restarts++;
    evr_events_add(&m->events, "vswitch", "vswitch", "pid %d exited (status %d); restart in %.0f s",
                   (int)pid, status, wait);
    m->vs_retry_at = evr_mono_s() + wait;
}

int main(int argc, char **argv)
{
    static struct daemon m; /* large: not on the stack */
    struct options o;
    struct evr_err err;
    struct ctl_server_config scfg;
    sigset_t sigs;
    int sfd = -1, rc = 1;
    bool server_open = false;

    if (parse_args(argc, argv, &o))
        return 2;
    evr_events_init(&m.events);
    if (evr_appliance_load(&m.appliance, o.appliance, &err)) {
        fprintf(stderr, "evrd: %s\n", err.msg);
        return 1;
    }
    if (mkdir(o.run_dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "evrd: run directory %s: %s\n", o.run_dir, strerror(errno));
        evr_appliance_free(&m.appliance);
        return 1;
    }
    vswitch_link_init(&m.link, &m.appliance, o.vswitch, o.vswitch_eal, o.run_dir);
    if (vm_supervisor_init(&m.vms, &m.appliance, o.vmm, o.run_dir, &m.events, &err)) {
        fprintf(stderr, "evrd: %s\n", err.msg);
        evr_appliance_free(&m.appliance);
        return 1;
    }
    {
        struct evrd_vswitch vs = {.call = vswitch_link_call, .ctx = &m.link};
        if (evrd_init(&m.d, &m.appliance, o.run_dir, &vs, &m.events, &m.vms, &err)) {
            fprintf(stderr, "evrd: %s\n", err.msg);
            evr_appliance_free(&m.appliance);
            return 1;
        }
    }
    /* the VFs: carved, each brought to the partition (bound and set, or
     * reset and unbound); the VMs get theirs in their configuration */
    if (vf_host_open(&m.vf, "", &m.appliance, &m.vms, &m.pt, &err)) {
        fprintf(stderr, "evrd: %s\n", err.msg);
        goto out;
    }
    m.d.pt = &m.pt;
    m.vms.passthrough = evrd_vm_passthrough;
    m.vms.passthrough_ctx = &m.d;
    m.vms.links = evrd_vm_links;
    m.vms.links_ctx = &m.d;
    /* VMs still running from before an evrd restart hold functions the
     * sync must know of (and may take out of them); --no-vms starts none
     * but still adopts these: left alone they would run unwatched, shown
     * stopped, and keep functions the partition took from them */
    for (unsigned i = 0; i < m.vms.n; i++)
        vm_supervisor_adopt(&m.vms, i);
    if (evrd_passthrough_sync(&m.d, &err)) {
        fprintf(stderr, "evrd: bringing the VFs to the partition: %s\n", err.msg);
        vf_host_uncarve(&m.vf, &m.pt);
        goto out;
    }
    scfg = (struct ctl_server_config){.path = o.control,
                                      .group = CTL_NO_GROUP,
                                      .name = "evrd",
                                      .version = EVR_VERSION,
                                      .ops = evrd_ops,
                                      .n_ops = evrd_n_ops,
                                      .ctx = &m.d,
                                      .line_max = EVRD_REQUEST_MAX};
    if (o.group) {
        struct group *g = getgrnam(o.group);
        if (!g) {
            fprintf(stderr, "evrd: --group %s: no such group\n", o.group);
            goto out;
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
        goto out;
    }
    if (ctl_server_open(&m.server, &scfg, &err)) {
        fprintf(stderr, "evrd: %s\n", err.msg);
        goto out;
    }
    server_open = true;
    evr_events_add(&m.events, "evrd", "evrd",
                   "appliance %s: %u ports, %u VMs; partition generation %llu; control %s",
                   o.appliance, m.appliance.nports, m.appliance.nvms,
                   (unsigned long long)m.d.partition.generation, o.control);
    vswitch_up(&m);
    /* The first start is waited for (bounded by the start timeout), before
     * any request is served: a script's `evr split` right after evrd starts
     * finds the vswitch there. Later restarts are polled from the loop. */
    while (m.link.start_deadline_s) {
        struct pollfd p = {.fd = m.link.pidfd, .events = POLLIN};
        if (poll(&p, 1, (int)(VSWITCH_START_POLL_S * 1000)) > 0 && (p.revents & POLLIN))
            vswitch_exited(&m);
        else
            vswitch_up(&m);
    }
    for (unsigned i = 0; i < m.vms.n && !o.no_vms; i++)
        if (vm_supervisor_start(&m.vms, i, &err))
            evr_events_add(&m.events, "vm", m.appliance.vms[i].name, "cannot start it: %s",
                           err.msg);

    for (;;) {
        struct pollfd pfd[3 + EVR_APPL_VM_MAX];
        unsigned vm_slot[EVR_APPL_VM_MAX], n = 3;
        double next = m.vs_retry_at, vm_next = vm_supervisor_tick(&m.vms, evr_mono_s());
        double links_next = evrd_watch_links(&m.d, evr_mono_s());
        int timeout = -1;

        pfd[0] = (struct pollfd){.fd = ctl_server_fd(&m.server), .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = sfd, .events = POLLIN};
        pfd[2] = (struct pollfd){.fd = m.link.pidfd, .events = POLLIN};
        for (unsigned i = 0; i < m.vms.n; i++) {
            if (m.vms.vms[i].pidfd < 0)
                continue;
            vm_slot[n - 3] = i;
            pfd[n++] = (struct pollfd){.fd = m.vms.vms[i].pidfd, .events = POLLIN};
        }
        if (vm_next > 0 && (next == 0 || vm_next < next))
            next = vm_next;
        if (links_next > 0 && (next == 0 || links_next < next))
            next = links_next;
        if (next > 0) {
            double left = next - evr_mono_s();
            timeout = left > 0 ? (int)(left * 1000) + 1 : 0;
        }
        if (poll(pfd, n, timeout) < 0 && errno != EINTR) {
            fprintf(stderr, "evrd: poll: %s\n", strerror(errno));
            break;
        }
        if (pfd[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGPIPE) {
                evr_events_add(&m.events, "evrd", "evrd",
                               "%s: stopping; the vswitch and the VMs keep running",
                               strsignal((int)si.ssi_signo));
                rc = 0;
                break;
            }
        }
        if (m.link.pidfd >= 0 && (pfd[2].revents & POLLIN))
            vswitch_exited(&m);
        for (unsigned k = 3; k < n; k++)
            if (pfd[k].revents & POLLIN)
                vm_supervisor_exited(&m.vms, vm_slot[k - 3], evr_mono_s());
        if (m.vs_retry_at > 0 && evr_mono_s() >= m.vs_retry_at)
            vswitch_up(&m);
        if (pfd[0].revents)
            ctl_server_handle_ready(&m.server);
        /* a change that lost track of the vswitch (a broken connection, a
         * failed undo) leaves it to be resynced to the saved partition now,
         * not at the next change */
        if (!m.d.vs_state && m.link.pidfd >= 0 && !m.link.start_deadline_s && !m.vs_retry_at)
            m.vs_retry_at = evr_mono_s() + backoff_after(&m.vs_backoff, 0);
    }
out:
    if (server_open)
        ctl_server_close(&m.server);
    if (sfd >= 0)
        close(sfd);
    vswitch_link_release(&m.link);
    vm_supervisor_release(&m.vms);
    vf_host_close(&m.vf, &m.pt);
    evrd_fini(&m.d);
    evr_appliance_free(&m.appliance);
    return rc;
}
