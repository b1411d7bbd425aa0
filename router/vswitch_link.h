/* evrd's hold on evr-vswitch: the process and its control connection.
 *
 * At start evrd adopts a vswitch already serving RUN_DIR/vswitch.sock (an
 * evrd restart must not restart the data plane), or starts one: EAL cores
 * and memory from the appliance, in its own session so that evrd's end is
 * not its end. Either way the process is watched through a pidfd (its pid
 * from the socket's peer credentials when adopted), so evrd learns of its
 * death at once and starts another. Nothing here waits on the vswitch
 * without a bound: a start is polled from evrd's loop, and every request is
 * bounded by VSWITCH_CALL_TIMEOUT_MS (a stopped or stuck vswitch costs evrd
 * that much once, then the connection counts as broken). */
#ifndef EVR_ROUTER_VSWITCH_LINK_H
#define EVR_ROUTER_VSWITCH_LINK_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "appliance.h"
#include "common/error.h"
#include "ctl/client.h"

/* The longest evrd waits for one vswitch reply: a slice-set's RCU wait is
 * milliseconds, a port-add of a real device can take seconds. */
#define VSWITCH_CALL_TIMEOUT_MS 10000

struct vswitch_link {
    const struct evr_appliance *appliance;
    const char *binary;    /* evr-vswitch */
    const char *eal_extra; /* more EAL options, space-separated ("--no-huge --no-pci") */
    char control[108];     /* its control socket */
    pid_t pid;             /* 0: none */
    bool child;            /* started by this evrd (reaped with waitpid) */
    int pidfd;             /* readable once the vswitch has exited; -1: none */
    bool connected;
    struct ctl_client client;
    double start_deadline_s;  /* a start under way: until when (CLOCK_MONOTONIC); 0: none */
    unsigned start_timeout_s; /* for its message */
};

void vswitch_link_init(struct vswitch_link *l, const struct evr_appliance *a, const char *binary,
                       const char *eal_extra, const char *run_dir);

/* Adopts the vswitch at the control socket (0, *adopted set), or starts
 * one (1: poll vswitch_link_poll_start until it answers, at most timeout_s
 * from now). -1 with err when it cannot be started. */
int vswitch_link_start(struct vswitch_link *l, unsigned timeout_s, bool *adopted,
                       struct evr_err *err);

/* After a start: 0 once the vswitch answers, 1 not yet, -1 past the
 * deadline (the process is killed; its pidfd then reports the exit). */
int vswitch_link_poll_start(struct vswitch_link *l, struct evr_err *err);

/* After the pidfd turned readable: reaps it, forgets the connection.
 * Returns the exit status as a shell shows it (128+signal). */
int vswitch_link_exited(struct vswitch_link *l);

/* One request (struct evrd_vswitch's call). A broken connection is ENOTCONN. */
json_t *vswitch_link_call(void *ctx, const json_t *req, struct evr_err *err);

/* Lets go of the vswitch without stopping it (evrd's exit). */
void vswitch_link_release(struct vswitch_link *l);

#endif
