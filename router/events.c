/* The event ring (events.h). */
#include "events.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void evr_events_init(struct evr_events *e)
{
    memset(e, 0, sizeof(*e));
    e->next_seq = 1;
}

void evr_events_add(struct evr_events *e, const char *kind, const char *subject, const char *fmt,
                    ...)
{
    struct evr_event *ev = &e->ring[e->next_seq % EVR_EVENTS_MAX];
    struct timespec now;
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &now);
    memset(ev, 0, sizeof(*ev));
    ev->seq = e->next_seq++;
    ev->time = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
    snprintf(ev->kind, sizeof(ev->kind), "%s", kind);
    snprintf(ev->subject, sizeof(ev->subject), "%s", subject);
    va_start(ap, fmt);
    /* the if: GCC 12's ASan build sees a null fmt path in the inlined callers */
    if (vsnprintf(ev->text, sizeof(ev->text), fmt ? fmt : "", ap) < 0)
        ev->text[0] = 0;
    va_end(ap);
    if (strcmp(ev->kind, ev->subject))
        fprintf(stderr, "evrd: %s %s: %s\n", ev->kind, ev->subject, ev->text);
    else
        fprintf(stderr, "evrd: %s: %s\n", ev->kind, ev->text);
}

json_t *evr_events_since(const struct evr_events *e, uint64_t since)
{
    uint64_t last = e->next_seq - 1, first = since + 1, oldest, dropped = 0;
    json_t *list = json_array();

    oldest = last >= EVR_EVENTS_MAX ? last - EVR_EVENTS_MAX + 1 : 1;
    if (first < oldest) {
        dropped = oldest - first;
        first = oldest;
    }
    for (uint64_t s = first; s <= last; s++) {
        const struct evr_event *ev = &e->ring[s % EVR_EVENTS_MAX];
        json_array_append_new(list, json_pack("{s:I, s:f, s:s, s:s, s:s}", "seq",
                                              (json_int_t)ev->seq, "time", ev->time, "kind",
                                              ev->kind, "subject", ev->subject, "text", ev->text));
    }
    return json_pack("{s:o, s:I, s:I}", "events", list, "last", (json_int_t)last, "dropped",
                     (json_int_t)dropped);
}
