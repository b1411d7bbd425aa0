/* What happened on the appliance, for `evr monitor` and `evr show events`:
 * partition changes, vswitch and VM starts, exits and restarts. A ring of
 * the last EVR_EVENTS_MAX events, each with a sequence number that never
 * repeats, so a client asks for what came after the last one it saw and
 * learns when it fell so far behind that some were dropped. */
#ifndef EVR_ROUTER_EVENTS_H
#define EVR_ROUTER_EVENTS_H

#include <jansson.h>
#include <stdint.h>

#define EVR_EVENTS_MAX 1024u

struct evr_event {
    uint64_t seq;     /* 1, 2, ... */
    double time;      /* wall clock, seconds since the epoch */
    char kind[24];    /* "partition", "vswitch", "vm" */
    char subject[32]; /* the VM, or "vswitch", or the op */
    char text[200];   /* one line for a person */
};

struct evr_events {
    uint64_t next_seq;
    struct evr_event ring[EVR_EVENTS_MAX];
};

void evr_events_init(struct evr_events *e);

/* Records one event (and prints it on stderr, evrd's log). */
void evr_events_add(struct evr_events *e, const char *kind, const char *subject, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));

/* {"events": [...after seq since...], "last": SEQ, "dropped": N}: the next
 * call passes last as since; dropped
 * counts the events after since that the ring no longer holds. */
json_t *evr_events_since(const struct evr_events *e, uint64_t since);

#endif
