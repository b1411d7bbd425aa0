/* evr-vswitch: the DPDK data plane (man/evr-vswitch.8).
 *
 *   evr-vswitch [EAL options] -- --control PATH [--config FILE]
 *               [--mbufs N] [--idle-sleep-us N]
 */
#include <getopt.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "datapath.h"

struct options {
    const char *control;
    const char *config;
    unsigned mbufs;
    unsigned idle_sleep_us;
};

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
    (void)sig;
    quit = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: evr-vswitch [EAL options] -- --control PATH [--config FILE]\n"
               "                   [--mbufs N] [--idle-sleep-us N]\n"
               "see evr-vswitch(8)\n");
}

static int parse_uint(const char *opt, const char *text, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || v < min || v > max) {
        fprintf(stderr, "evr-vswitch: %s: '%s' is not a number in %u-%u\n", opt, text, min, max);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
            {"control", required_argument, NULL, 'c'},
            {"config", required_argument, NULL, 'f'},
            {"mbufs", required_argument, NULL, 'm'},
            {"idle-sleep-us", required_argument, NULL, 'i'},
            {"help", no_argument, NULL, 'h'},
            {0},
    };
    o->mbufs = 8191;
    optind = 1;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o->control = optarg;
            break;
        case 'f':
            o->config = optarg;
            break;
        case 'm':
            if (parse_uint("--mbufs", optarg, 511, 1u << 24, &o->mbufs) < 0)
                return -1;
            break;
        case 'i':
            if (parse_uint("--idle-sleep-us", optarg, 0, 100000, &o->idle_sleep_us) < 0)
                return -1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "evr-vswitch: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!o->control) {
        fprintf(stderr, "evr-vswitch: --control PATH is required\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int eal_args = rte_eal_init(argc, argv);
    if (eal_args < 0) {
        fprintf(stderr, "evr-vswitch: EAL initialisation failed: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    argc -= eal_args;
    argv += eal_args;
    struct options opt = {0};
    if (parse_options(argc, argv, &opt) < 0) {
        rte_eal_cleanup();
        return 2;
    }

    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int status = 1;
    struct evr_err err = {0};
    static struct vs_datapath dp;
    static struct vs_control ctl;
    bool started = false, control_up = false;
    struct rte_mempool *pool = NULL;

    if (vs_datapath_init(&dp, opt.idle_sleep_us, &err) < 0)
        goto out;
    pool = rte_pktmbuf_pool_create("vs_mbufs", opt.mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                   (int)rte_socket_id());
    if (!pool) {
        evr_fail(&err, rte_errno,
                 "--mbufs: cannot create a pool of %u mbufs: %s "
                 "(raise -m or lower --mbufs)",
                 opt.mbufs, rte_strerror(rte_errno));
        goto out;
    }
    if (vs_control_init(&ctl, &dp, pool, opt.control, &err) < 0)
        goto out;
    control_up = true;
    if (vs_datapath_start(&dp, &err) < 0)
        goto out;
    started = true;
    if (opt.config && vs_control_load(&ctl, opt.config, &err) < 0)
        goto out;
    printf("evr-vswitch: ready, %u workers, control socket %s\n", dp.n_workers, opt.control);
    fflush(stdout);
    vs_control_run(&ctl, &quit);
    status = 0;
out:
    if (status)
        fprintf(stderr, "evr-vswitch: %s\n", err.msg);
    if (started)
        vs_datapath_stop(&dp);
    if (control_up)
        vs_control_fini(&ctl);
    vs_datapath_fini(&dp);
    rte_mempool_free(pool);
    rte_eal_cleanup();
    return status;
}
