/* How long evrd waits before it starts again a process that died (the
 * vswitch, a VM): 1 s, doubling up to BACKOFF_MAX_S while the process keeps
 * dying within BACKOFF_QUICK_S of its start, back to 1 s after one that ran
 * longer. So a process that cannot start is not started in a tight loop, and
 * one that crashes now and then comes back at once. */
#ifndef EVR_ROUTER_BACKOFF_H
#define EVR_ROUTER_BACKOFF_H

#define BACKOFF_MAX_S   30.0
#define BACKOFF_QUICK_S 10.0

struct backoff {
    double next; /* the wait after the next quick death; 0: not started */
};

/* The wait before the restart of a process that ran for ran_s seconds. */
static inline double backoff_after(struct backoff *b, double ran_s)
{
    double wait;

    if (b->next < 1 || ran_s >= BACKOFF_QUICK_S)
        b->next = 1;
    wait = b->next;
    b->next = wait * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : wait * 2;
    return wait;
}

#endif
