/* evr-vmm: one router-engine VM on KVM. Reads the configuration (JSON file
 * and flags), boots the guest, serves the control socket, and ends with the
 * guest: status 0 when it powers off (or is stopped), 2 when it faults or
 * makes an exit evr-vmm cannot handle, 1 when the VM cannot be set up. */
#include "config.h"
#include "console.h"
#include "control.h"
#include "uart.h"
#include "vcpu.h"
#include "virtio_net.h"
#include "vm.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define EXIT_GUEST_FAILED 2

static const char usage_text[] =
        "usage: evr-vmm [--config FILE] [OPTION...]\n"
        "Boots one Linux guest (a bzImage) straight on KVM.\n"
        "\n"
        "  --config FILE       read the keys below from a JSON object; flags given\n"
        "                      on the command line override the file\n"
        "  --kernel PATH       bzImage to boot (key \"kernel\", required)\n"
        "  --initrd PATH       initramfs to load (key \"initrd\")\n"
        "  --cmdline TEXT      kernel command line (key \"cmdline\") [console=ttyS0]\n"
        "  --memory MIB        guest RAM in MiB, 16..1048576 (key \"memory\") [256]\n"
        "  --vcpus N           vCPUs, 1..254 (key \"vcpus\") [1]\n"
        "  --pin LIST          host CPU of each vCPU, e.g. 2,3 (key \"pin\": [2,3])\n"
        "  --hugepages[=BOOL]  back RAM with 2 MiB huge pages (key \"hugepages\") [false]\n"
        "  --console SPEC      serial console: stdout, file:PATH, socket:PATH or none\n"
        "                      (key \"console\") [stdout]\n"
        "  --control PATH      control socket, JSON lines, created 0600 (key \"control\")\n"
        "  --on-reboot WHAT    when the guest reboots: exit or restart\n"
        "                      (key \"on_reboot\") [exit]\n"
        "  --pci-test[=BOOL]   add evr's PCI test function, BARs and MSI-X\n"
        "                      (key \"pci_test\") [false]\n"
        "  --net SPEC          add a virtio-net interface after the config's: SPEC is\n"
        "                      vhost_user:PATH[,mac=MAC][,queues=N] (evr-vmm listens on\n"
        "                      PATH for the vswitch; N queue pairs, 1-8 [1]) or\n"
        "                      tap:IFNAME[,mac=MAC] (the kernel's vhost-net and a host\n"
        "                      tap: a management port), then [,link=down] to start with\n"
        "                      the link administratively down (the control socket's\n"
        "                      link op brings it up) (key \"net\": [{\"vhost_user\":\n"
        "                      PATH, \"mac\": MAC, \"queues\": N, \"link\": \"down\"},\n"
        "                      {\"tap\": IFNAME}])\n"
        "  --passthrough LIST  host PCI functions to give the guest through VFIO,\n"
        "                      e.g. 0000:00:05.0,0000:01:00.1 (key \"passthrough\":\n"
        "                      [\"0000:00:05.0\"]); bound to vfio-pci, given back on exit\n"
        "  --exit-file PATH    at the end, write the exit status there (a number and a\n"
        "                      newline; nothing when a signal kills evr-vmm), for a\n"
        "                      supervisor that is not its parent (key \"exit_file\")\n"
        "  -h, --help          this text\n"
        "  --version           print the version\n"
        "\n"
        "Exit status: 0 guest powered off, rebooted (on_reboot exit) or was stopped;\n"
        "1 the VM could not be set up (the message says why); 2 the guest triple-\n"
        "faulted or made an exit evr-vmm cannot handle (its registers go to stderr).\n"
        "See evr-vmm(1).\n";

enum { OPT_CONFIG = 256, OPT_VERSION, OPT_KEY };

static const struct option options[] = {
        {"config", required_argument, NULL, OPT_CONFIG},
        {"kernel", required_argument, NULL, OPT_KEY},
        {"initrd", required_argument, NULL, OPT_KEY},
        {"cmdline", required_argument, NULL, OPT_KEY},
        {"memory", required_argument, NULL, OPT_KEY},
        {"vcpus", required_argument, NULL, OPT_KEY},
        {"pin", required_argument, NULL, OPT_KEY},
        {"hugepages", optional_argument, NULL, OPT_KEY},
        {"console", required_argument, NULL, OPT_KEY},
        {"control", required_argument, NULL, OPT_KEY},
        {"on-reboot", required_argument, NULL, OPT_KEY},
        {"pci-test", optional_argument, NULL, OPT_KEY},
        {"net", required_argument, NULL, OPT_KEY},
        {"passthrough", required_argument, NULL, OPT_KEY},
        {"exit-file", required_argument, NULL, OPT_KEY},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
};

struct flag {
    char key[32];
    const char *value;
};

/* Returns 0 to go on, 1 when --help or --version has been answered, -1 when
 * the command line or the configuration is refused (the message is out). */
/* MSI-X keeps an eventfd per vector (msix.h): a passed-through PF may
 * have 2048, past the usual soft limit of 1024 open files. The soft limit
 * is raised to the hard one; past that, msix_init names the limit. */
static void raise_open_file_limit(void)
{
    struct rlimit lim;

    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &lim) < 0)
            fprintf(stderr, "evr-vmm: cannot raise the open-file limit to %llu: %s\n",
                    (unsigned long long)lim.rlim_max, strerror(errno));
    }
}

static int parse_args(int argc, char **argv, struct vmm_config *cfg)
{
    struct flag *flags = calloc((size_t)argc, sizeof(*flags));
    const char *config_path = NULL;
    struct config_error err;
    int nflags = 0, opt, idx, rc = -1;

    if (!flags)
        return -1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", options, &idx)) != -1) {
        switch (opt) {
        case 'h':
            fputs(usage_text, stdout);
            rc = 1;
            goto out;
        case OPT_VERSION:
            puts("evr-vmm " EVR_VERSION);
            rc = 1;
            goto out;
        case OPT_CONFIG:
            config_path = optarg;
            break;
        case OPT_KEY: {
            struct flag *f = &flags[nflags++];
            snprintf(f->key, sizeof(f->key), "%s", options[idx].name);
            for (char *p = f->key; *p; p++)
                if (*p == '-')
                    *p = '_';
            f->value = optarg ? optarg : "true";
            break;
        }
        case ':':
            fprintf(stderr, "evr-vmm: %s needs a value (see --help)\n", argv[optind - 1]);
            goto out;
        default:
            fprintf(stderr, "evr-vmm: unknown option '%s' (see --help)\n", argv[optind - 1]);
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "evr-vmm: unexpected argument '%s' (see --help)\n", argv[optind]);
        goto out;
    }
    config_defaults(cfg);
    if (config_path && config_load_file(cfg, config_path, &err)) {
        fprintf(stderr, "evr-vmm: %s\n", err.msg);
        goto out;
    }
    for (int i = 0; i < nflags; i++) {
        if (config_set(cfg, flags[i].key, flags[i].value, &err)) {
            fprintf(stderr, "evr-vmm: --%s\n", err.msg);
            goto out;
        }
    }
    if (config_check(cfg, &err)) {
        fprintf(stderr, "evr-vmm: %s\n", err.msg);
        goto out;
    }
    rc = 0;
out:
    free(flags);
    return rc;
}

static struct vmm_host host = {.lock = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER};
static const char *stop_signal_name; /* under host.lock: the signal that stopped the guest */

/* Console input goes to the UART of the VM of the current boot. */
static size_t console_to_uart(void *ctx, const uint8_t *data, size_t len)
{
    size_t n = len; /* between boots input is dropped */

    (void)ctx;
    pthread_mutex_lock(&host.lock);
    if (host.vm)
        n = uart_receive(&host.vm->machine, data, len);
    pthread_mutex_unlock(&host.lock);
    return n;
}

/* The controller's link choices (the "link" op, host.link_admin_up)
 * belong to the interface, not to one boot: each boot starts with them.
 * Called with host.lock held, in the same hold that publishes the VM, so
 * a link op cannot fall between. */
static void links_restore(struct vm *vm)
{
    struct virtio_net_link l;
    char err[128];

    for (unsigned i = 0; i < host.nnet; i++)
        if (!host.link_admin_up[i] &&
            virtio_net_set_link(&vm->machine, i, false, &l, err, sizeof(err)))
            fprintf(stderr, "evr-vmm: %s\n", err);
}

static int run(const struct vmm_config *cfg, struct console *console)
{
    for (;;) {
        struct vm *vm = calloc(1, sizeof(*vm));
        enum vm_outcome o;
        char err[512];
        bool stop;

        if (!vm) {
            fprintf(stderr, "evr-vmm: out of memory\n");
            return 1;
        }
        if (vm_create(vm, cfg, console, err, sizeof(err))) {
            fprintf(stderr, "evr-vmm: %s\n", err);
            free(vm);
            return 1;
        }
        pthread_mutex_lock(&host.lock);
        links_restore(vm);
        host.vm = vm;
        host.boots++;
        stop = host.stop_requested;
        pthread_mutex_unlock(&host.lock);
        if (stop)
            vm_stop(vm);
        o = vm_run(vm);
        pthread_mutex_lock(&host.lock);
        host.vm = NULL;
        while (host.busy) /* a device-del still waiting: it sees the VM end */
            pthread_cond_wait(&host.idle, &host.lock);
        stop = host.stop_requested;
        pthread_mutex_unlock(&host.lock);
        vm_destroy(vm);
        free(vm);
        switch (o) {
        case VM_POWEROFF:
            fprintf(stderr, "evr-vmm: the guest powered off\n");
            return 0;
        case VM_STOPPED:
            pthread_mutex_lock(&host.lock);
            if (stop_signal_name)
                fprintf(stderr, "evr-vmm: stopped by %s\n", stop_signal_name);
            else
                fprintf(stderr, "evr-vmm: stopped from the control socket\n");
            pthread_mutex_unlock(&host.lock);
            return 0;
        case VM_RESET:
            if (cfg->on_reboot == REBOOT_RESTART && !stop) {
                fprintf(stderr, "evr-vmm: the guest rebooted; restarting it\n");
                continue;
            }
            fprintf(stderr, "evr-vmm: the guest rebooted; exiting (on_reboot exit)\n");
            return 0;
        case VM_TRIPLE_FAULT:
        case VM_FAILED:
        case VM_RUNNING:
            fprintf(stderr, "evr-vmm: the guest %s\n",
                    o == VM_TRIPLE_FAULT ? "triple-faulted" : "failed");
            return EXIT_GUEST_FAILED;
        }
    }
}

/* SIGTERM and SIGINT stop the guest the way the control socket's stop does.
 * They are blocked in every thread (the mask is inherited) and taken by one
 * thread that waits for them, so no handler runs in a vCPU or device thread.
 * A signal evr-vmm was started with ignored (SIGINT of a background job of a
 * script) stays ignored, as shells intend: Linux would hand even an ignored
 * signal to sigwait once it is blocked, so it is left out of the set. */
struct stop_signals {
    sigset_t set;
    pthread_t thread;
    bool started;
};

static void *stop_signal_thread(void *arg)
{
    struct stop_signals *s = arg;

    for (;;) {
        int sig;

        if (sigwait(&s->set, &sig)) /* the one cancellation point */
            continue;
        pthread_mutex_lock(&host.lock);
        host.stop_requested = true;
        stop_signal_name = sig == SIGINT ? "SIGINT" : "SIGTERM";
        if (host.vm)
            vm_stop(host.vm);
        pthread_mutex_unlock(&host.lock);
    }
    return NULL;
}

static int stop_signals_start(struct stop_signals *s, char *err, size_t errlen)
{
    static const int sigs[] = {SIGTERM, SIGINT};
    bool any = false;
    int rc;

    memset(s, 0, sizeof(*s));
    sigemptyset(&s->set);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct sigaction old;

        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        sigaddset(&s->set, sigs[i]);
        any = true;
    }
    if (!any)
        return 0;
    rc = pthread_sigmask(SIG_BLOCK, &s->set, NULL);
    if (!rc)
        rc = pthread_create(&s->thread, NULL, stop_signal_thread, s);
    if (rc) {
        snprintf(err, errlen, "cannot start the signal thread: %s", strerror(rc));
        return -1;
    }
    s->started = true;
    return 0;
}

static void stop_signals_end(struct stop_signals *s)
{
    if (!s->started)
        return;
    pthread_cancel(s->thread);
    pthread_join(s->thread, NULL);
    s->started = false;
}

/* The exit status for a supervisor that cannot wait for evr-vmm (evrd that
 * adopted it after its own restart): written whole (a temporary file
 * renamed into place) or not at all. */
static void write_exit_file(const char *path, int status)
{
    char tmp[PATH_MAX + 8];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d\n", status) < 0 || fflush(f) || fsync(fileno(f)) || fclose(f) ||
        rename(tmp, path)) {
        fprintf(stderr, "evr-vmm: exit_file %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
}

int main(int argc, char **argv)
{
    struct vmm_config *cfg = calloc(1, sizeof(*cfg));
    struct stop_signals signals = {.started = false};
    struct console console;
    struct control control;
    bool console_opened = false, control_opened = false;
    char err[512];
    int rc = 1;

    if (!cfg) {
        fprintf(stderr, "evr-vmm: out of memory\n");
        return 1;
    }
    switch (parse_args(argc, argv, cfg)) {
    case 0:
        /* a status left by an earlier run must not describe this one */
        if (cfg->exit_file[0] && unlink(cfg->exit_file) && errno != ENOENT)
            fprintf(stderr, "evr-vmm: exit_file %s: %s\n", cfg->exit_file, strerror(errno));
        break;
    case 1:
        rc = 0;
        free(cfg);
        return rc;
    default:
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_open_file_limit();
    vcpu_signals_init();
    /* Before any other thread exists, so that every thread inherits the mask. */
    if (stop_signals_start(&signals, err, sizeof(err))) {
        fprintf(stderr, "evr-vmm: %s\n", err);
        goto out;
    }
    if (console_open(&console, cfg, err, sizeof(err))) {
        fprintf(stderr, "evr-vmm: %s\n", err);
        goto out;
    }
    console_opened = true;
    host.nnet = cfg->nnet;
    for (unsigned i = 0; i < cfg->nnet; i++)
        host.link_admin_up[i] = !cfg->net[i].link_down;
    if (cfg->control[0]) {
        if (control_open(&control, &host, cfg->control, err, sizeof(err))) {
            fprintf(stderr, "evr-vmm: %s\n", err);
            goto out;
        }
        control_opened = true;
    }
    console_start_input(&console, console_to_uart, NULL);
    rc = run(cfg, &console);
out:
    if (control_opened)
        control_close(&control);
    if (console_opened)
        console_close(&console);
    stop_signals_end(&signals);
    if (cfg->exit_file[0])
        write_exit_file(cfg->exit_file, rc);
    free(cfg);
    return rc;
}
