/* evrd's watch on the links of its LAGs' members: the link changes `evr
 * monitor` shows. The vswitch knows each port's link (the device's, or a
 * kernel netdev's carrier) and fails a LAG over on its own; evrd asks it for
 * its dump at most once every EVRD_LINK_POLL_S seconds while the partition
 * has a LAG, and makes an event of each member whose link changed:
 *
 *   link port1: down (in vm-a's LAG lag0)
 *
 * A link is first learnt without an event; a vswitch not there (or not yet
 * synced) is asked nothing. */
#ifndef EVR_ROUTER_LINK_WATCH_H
#define EVR_ROUTER_LINK_WATCH_H

#include "service.h"

#define EVRD_LINK_POLL_S 1.0

/* Polls the vswitch when due at time now (seconds, monotonic); returns when
 * the next poll is due, or 0 when there is nothing to watch. */
double evrd_watch_links(struct evrd *d, double now);

#endif
