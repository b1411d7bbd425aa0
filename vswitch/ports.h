/* Opening and closing DPDK ethdevs from devargs (a PCI address or a vdev
 * such as "net_af_packet0,iface=eth1" or "net_vhost0,iface=/run/vm0.sock").
 * Each port gets one transmit queue per worker (a worker never shares a
 * queue; net_af_xdp gets one per receive queue, it pairs them) and as many
 * receive queues as the device has, up to VS_RXQ_MAX: devices that spread
 * traffic over several queues (af_packet's qpairs, af_xdp's queue_count)
 * must have every queue polled. */
#ifndef EVR_VSWITCH_PORTS_H
#define EVR_VSWITCH_PORTS_H

#include <stdint.h>

#include "config.h"

struct rte_mempool;

/* Probes and starts the device. *n_rxq: the receive queues to open, 0 for
 * all the device has (at most VS_RXQ_MAX); on return the ones opened. */
int vs_port_open(const char *devargs, unsigned n_workers, struct rte_mempool *pool,
                 uint16_t *port_id, uint16_t *n_rxq, struct evr_err *err);
void vs_port_close(uint16_t port_id);
/* Link state; 1 up, 0 down. The PMDs over a kernel netdev (af_packet,
 * af_xdp, pcap) report "up" whatever the netdev does, so for them it is the
 * carrier of the netdev named by the devargs' iface=. */
int vs_port_link_up(uint16_t port_id, const char *devargs);

#endif
