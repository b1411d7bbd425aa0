/* evrd's child processes (evr-vswitch, one evr-vmm per VM): how they are
 * started and watched, one way for both.
 *
 * A child runs in its own session with no signal blocked (evrd blocks its
 * signals for a signalfd, and a blocked mask is inherited), so evrd's end is
 * not its end and a SIGTERM to evrd's group does not reach it. evrd watches
 * it through a pidfd, readable once it has exited; the same holds for a
 * process it adopts (its pid from the peer credentials of its socket). */
#ifndef EVR_ROUTER_CHILD_H
#define EVR_ROUTER_CHILD_H

#include <sys/types.h>

#include "common/error.h"

/* A pidfd of pid (pidfd_open), or -1 with errno. */
int evr_pidfd_open(pid_t pid);

/* Starts argv[0] (a PATH lookup) with argv; its stdout and stderr appended
 * to log when log is not NULL (else evrd's). Returns the pid with *pidfd
 * set, or -1 with err naming what: the child is killed and reaped when its
 * pidfd cannot be had. An exec failure shows as exit status 127. */
pid_t evr_child_spawn(char *const argv[], const char *log, int *pidfd, struct evr_err *err);

/* CLOCK_MONOTONIC in seconds: evrd's one clock for timers and timings. */
double evr_mono_s(void);

#endif
