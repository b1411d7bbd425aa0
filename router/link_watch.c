/* The LAG members' link changes as events (link_watch.h). */
#include "link_watch.h"

#include <stdio.h>
#include <string.h>

#include "lag.h"

enum { LINK_UNKNOWN, LINK_UP, LINK_DOWN };

double evrd_watch_links(struct evrd *d, double now)
{
    json_t *req, *dump, *lags, *lag, *m;
    size_t i, k;

    if (!evr_lag_any(&d->partition)) {
        memset(d->link_seen, LINK_UNKNOWN, sizeof(d->link_seen));
        return 0;
    }
    if (now < d->links_next)
        return d->links_next;
    d->links_next = now + EVRD_LINK_POLL_S;
    if (!d->vs_state)
        return d->links_next;
    req = json_pack("{s:s}", "op", "dump");
    {
        struct evr_err why;
        dump = d->vswitch.call(d->vswitch.ctx, req, &why);
    }
    json_decref(req);
    if (!dump)
        return d->links_next; /* the vswitch's loss is seen by its watcher */
    lags = evr_lag_show(&d->partition, d->appliance, json_object_get(dump, "dump"));
    json_array_foreach(lags, i, lag)
    {
        json_array_foreach(json_object_get(lag, "members"), k, m)
        {
            const char *port = json_string_value(json_object_get(m, "port"));
            const char *link = json_string_value(json_object_get(m, "link"));
            const struct evr_appl_port *ap;
            unsigned number, idx;
            uint8_t state = !strcmp(link, "up")     ? LINK_UP
                            : !strcmp(link, "down") ? LINK_DOWN
                                                    : LINK_UNKNOWN;
            if (sscanf(port, "port%u", &number) != 1 ||
                !(ap = evr_appliance_port(d->appliance, number)))
                continue;
            idx = (unsigned)(ap - d->appliance->ports);
            if (state != LINK_UNKNOWN && d->link_seen[idx] != LINK_UNKNOWN &&
                state != d->link_seen[idx])
                evr_events_add(d->events, "link", port, "%s (in %s's LAG %s)", link,
                               json_string_value(json_object_get(lag, "vm")),
                               json_string_value(json_object_get(lag, "name")));
            d->link_seen[idx] = state;
        }
    }
    json_decref(lags);
    json_decref(dump);
    return d->links_next;
}
