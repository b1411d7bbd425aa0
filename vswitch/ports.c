/* DPDK port lifecycle for the vswitch. */
#include "ports.h"

#include <errno.h>
#include <limits.h>
#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_mempool.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "tables.h"
#include "xsk_leftovers.h"

#define RX_DESC 1024u
#define TX_DESC 1024u
/* The mbufs net_af_xdp puts in each queue's fill ring at setup (its
 * ETH_AF_XDP_DFLT_NUM_DESCS, libxdp's default ring size). */
#define AF_XDP_FILL_MBUFS 2048u

static void device_name(const char *devargs, char *out, size_t size)
{
    size_t n = strcspn(devargs, ",");
    if (n >= size)
        n = size - 1;
    memcpy(out, devargs, n);
    out[n] = '\0';
}

static bool is_driver(const struct rte_eth_dev_info *info, const char *name)
{
    return info->driver_name && strcmp(info->driver_name, name) == 0;
}

static int configure(uint16_t port, unsigned n_workers, struct rte_mempool *pool, uint16_t *n_rxq,
                     struct evr_err *err)
{
    struct rte_eth_dev_info info;
    int rc = rte_eth_dev_info_get(port, &info);
    if (rc != 0) {
        evr_fail(err, -rc, "field 'devargs': cannot query device: %s", strerror(-rc));
        return -1;
    }
    bool af_packet = is_driver(&info, "net_af_packet");
    bool af_xdp = is_driver(&info, "net_af_xdp");
    if (info.max_tx_queues < n_workers) {
        evr_fail(err, EINVAL,
                 "field 'devargs': the device has %u transmit queues and the vswitch runs %u "
                 "workers (for net_af_packet add qpairs=%u, for net_af_xdp queue_count=%u)",
                 info.max_tx_queues, n_workers, n_workers, n_workers);
        return -1;
    }
    /* af_packet fans flows out over all its qpairs from the start, and
     * af_xdp's XDP program steers each netdev queue to its own socket: a
     * queue left unpolled would swallow its share (af_xdp: hand it to the
     * kernel stack instead of the vswitch). */
    const char *all_queues = af_packet ? "qpairs" : af_xdp ? "queue_count" : NULL;
    if (all_queues && info.max_rx_queues > VS_RXQ_MAX) {
        evr_fail(err, EINVAL, "field 'devargs': %s=%u is above %u", all_queues, info.max_rx_queues,
                 VS_RXQ_MAX);
        return -1;
    }
    /* af_xdp's UMEM is the mbuf pool itself, registered as one range from
     * its first chunk: mbufs of a second chunk would lie outside it. */
    if (af_xdp && pool->nb_mem_chunks != 1) {
        evr_fail(err, EINVAL,
                 "field 'devargs': net_af_xdp needs the mbuf pool in one virtually contiguous "
                 "chunk, it has %u (give EAL more memory, or --iova-mode va)",
                 pool->nb_mem_chunks);
        return -1;
    }
    uint16_t rxq = info.max_rx_queues < VS_RXQ_MAX ? info.max_rx_queues : VS_RXQ_MAX;
    /* Each af_xdp queue fills its fill ring from the pool at setup, and DPDK
     * 22.11 does not give those mbufs back when the port is closed: say so
     * instead of failing the queue setup with EINVAL. */
    if (af_xdp && rte_mempool_avail_count(pool) < (unsigned)rxq * AF_XDP_FILL_MBUFS) {
        evr_fail(err, EINVAL,
                 "field 'devargs': net_af_xdp takes %u mbufs per queue (%u queues) and the pool "
                 "has %u free (raise --mbufs)",
                 AF_XDP_FILL_MBUFS, rxq, rte_mempool_avail_count(pool));
        return -1;
    }
    if (*n_rxq) {
        /* Asked for: a device whose queues are all sources of their own
         * (af_packet's fanout) cannot have fewer polled than it has. */
        if (*n_rxq > info.max_rx_queues) {
            evr_fail(err, EINVAL, "field 'rx_queues': the device has %u receive queues",
                     info.max_rx_queues);
            return -1;
        }
        if (all_queues && *n_rxq != info.max_rx_queues) {
            evr_fail(err, EINVAL, "field 'rx_queues': %s spreads traffic over all its %u queues",
                     info.driver_name, info.max_rx_queues);
            return -1;
        }
        rxq = *n_rxq;
    }
    if (rxq == 0) {
        evr_fail(err, EINVAL, "field 'devargs': the device has no receive queue");
        return -1;
    }
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof(conf));
    if (rxq > 1 && info.flow_type_rss_offloads) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf =
                info.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP);
    }
    /* Each worker transmits on its own queue; af_xdp pairs every receive
     * queue with a transmit queue (it refuses other counts), and its
     * receive queues are at least the workers (max_tx_queues above). */
    uint16_t txq = af_xdp ? rxq : (uint16_t)n_workers;
    rc = rte_eth_dev_configure(port, rxq, txq, &conf);
    if (rc != 0) {
        evr_fail(err, -rc, "field 'devargs': configure failed: %s", strerror(-rc));
        return -1;
    }
    uint16_t nb_rxd = RX_DESC, nb_txd = TX_DESC;
    rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd);
    int socket = rte_eth_dev_socket_id(port);
    for (uint16_t q = 0; q < rxq; q++) {
        rc = rte_eth_rx_queue_setup(port, q, nb_rxd, (unsigned)socket, NULL, pool);
        if (rc != 0) {
            evr_fail(err, -rc, "field 'devargs': receive queue %u setup failed: %s", q,
                     strerror(-rc));
            return -1;
        }
    }
    for (uint16_t q = 0; q < txq; q++) {
        rc = rte_eth_tx_queue_setup(port, q, nb_txd, (unsigned)socket, NULL);
        if (rc != 0) {
            evr_fail(err, -rc, "field 'devargs': transmit queue %u setup failed: %s", q,
                     strerror(-rc));
            return -1;
        }
    }
    /* Promiscuous: slices carry frames for the VMs' MACs, not the port's. */
    rc = rte_eth_promiscuous_enable(port);
    if (rc != 0 && rc != -ENOTSUP) {
        evr_fail(err, -rc, "field 'devargs': promiscuous mode failed: %s", strerror(-rc));
        return -1;
    }
    rc = rte_eth_dev_start(port);
    if (rc != 0) {
        evr_fail(err, -rc, "field 'devargs': start failed: %s", strerror(-rc));
        return -1;
    }
    *n_rxq = rxq;
    return 0;
}

static void detach(uint16_t port)
{
    struct rte_eth_dev_info info;
    struct rte_device *dev = NULL;
    if (rte_eth_dev_info_get(port, &info) == 0)
        dev = info.device;
    rte_eth_dev_close(port);
    if (dev)
        rte_dev_remove(dev);
}

/* The value of key=VALUE in devargs (after the device name), or an empty
 * string; out has size bytes. */
static void devargs_value(const char *devargs, const char *key, char *out, size_t size)
{
    out[0] = '\0';
    size_t klen = strlen(key);
    for (const char *p = strchr(devargs, ','); p; p = strchr(p + 1, ',')) {
        if (strncmp(p + 1, key, klen) != 0 || p[1 + klen] != '=')
            continue;
        const char *v = p + 2 + klen;
        size_t n = strcspn(v, ",");
        if (n >= size)
            n = size - 1;
        memcpy(out, v, n);
        out[n] = '\0';
    }
}

/* A vhost-user socket the vswitch listens on carries a VM's traffic: only
 * its owner may connect (0600, like the control socket). DPDK binds it
 * while the port is configured; the umask around that keeps group and
 * others out from the start, the chmod makes the mode exact. */
static int vhost_server_socket(const char *devargs, char *path, size_t size)
{
    char client[8];
    if (strncmp(devargs, "net_vhost", strlen("net_vhost")) != 0)
        return 0;
    devargs_value(devargs, "client", client, sizeof(client));
    if (client[0] && strcmp(client, "0") != 0)
        return 0; /* the socket is the VM's, not ours */
    devargs_value(devargs, "iface", path, size);
    return path[0] != '\0';
}

static int probe_and_configure(const char *devargs, const char *name, unsigned n_workers,
                               struct rte_mempool *pool, uint16_t *port_id, uint16_t *n_rxq,
                               struct evr_err *err);

/* The AF_XDP sockets each open net_af_xdp port created, by DPDK port id:
 * what to close after DPDK has closed the port (xsk_leftovers.h). */
static struct vs_xsk_sockets port_xsks[VS_DPDK_PORT_MAX];

int vs_port_open(const char *devargs, unsigned n_workers, struct rte_mempool *pool,
                 uint16_t *port_id, uint16_t *n_rxq, struct evr_err *err)
{
    char name[RTE_DEV_NAME_MAX_LEN], sock[PATH_MAX];
    device_name(devargs, name, sizeof(name));
    bool vhost_server = vhost_server_socket(devargs, sock, sizeof(sock));
    /* vdevs are matched to their driver by name prefix */
    bool af_xdp = strncmp(name, "net_af_xdp", strlen("net_af_xdp")) == 0;
    struct vs_xsk_sockets xsk_before, xsk_created;
    if (af_xdp)
        vs_xsk_sockets_list(&xsk_before);
    mode_t old_umask = umask(0077); /* only the control thread creates files */
    int rc = probe_and_configure(devargs, name, n_workers, pool, port_id, n_rxq, err);
    umask(old_umask);
    if (af_xdp) {
        vs_xsk_sockets_list(&xsk_created);
        vs_xsk_sockets_new_since(&xsk_created, &xsk_before);
        if (rc == 0)
            port_xsks[*port_id] = xsk_created;
        else
            vs_xsk_sockets_close_left(&xsk_created); /* the failed open closed the device */
    }
    if (rc == 0 && vhost_server && chmod(sock, 0600) != 0 && errno != ENOENT) {
        evr_fail(err, errno, "field 'devargs': cannot chmod 0600 '%.128s': %s", sock,
                 strerror(errno));
        vs_port_close(*port_id);
        return -1;
    }
    return rc;
}

static int probe_and_configure(const char *devargs, const char *name, unsigned n_workers,
                               struct rte_mempool *pool, uint16_t *port_id, uint16_t *n_rxq,
                               struct evr_err *err)
{
    int rc = rte_dev_probe(devargs);
    if (rc != 0) {
        evr_fail(err, -rc, "field 'devargs': cannot probe '%s': %s", devargs,
                 rc == -EEXIST ? "the device is already in use" : strerror(-rc));
        return -1;
    }
    uint16_t port;
    if (rte_eth_dev_get_port_by_name(name, &port) != 0) {
        evr_fail(err, EINVAL, "field 'devargs': '%s' probed but no ethdev is named '%s'", devargs,
                 name);
        return -1;
    }
    if (port >= VS_DPDK_PORT_MAX) {
        evr_fail(err, EINVAL, "field 'devargs': DPDK port id %u is too high", port);
        detach(port);
        return -1;
    }
    if (configure(port, n_workers, pool, n_rxq, err) != 0) {
        detach(port);
        return -1;
    }
    *port_id = port;
    return 0;
}

void vs_port_close(uint16_t port_id)
{
    rte_eth_dev_stop(port_id);
    detach(port_id);
    if (port_id < VS_DPDK_PORT_MAX) {
        vs_xsk_sockets_close_left(&port_xsks[port_id]);
        port_xsks[port_id].n = 0;
    }
}

static int netdev_carrier(const char *devargs)
{
    const char *iface = strstr(devargs, ",iface=");
    if (!iface)
        return -1;
    iface += strlen(",iface=");
    size_t n = strcspn(iface, ",");
    char path[128];
    if (n == 0 || n >= 64 || memchr(iface, '/', n))
        return -1;
    snprintf(path, sizeof(path), "/sys/class/net/%.*s/carrier", (int)n, iface);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0; /* the netdev is gone or down: no carrier to read */
    int c = fgetc(f);
    fclose(f);
    return c == '1';
}

int vs_port_link_up(uint16_t port_id, const char *devargs)
{
    static const char *const netdev_pmds[] = {"net_af_packet", "net_af_xdp", "net_pcap"};
    struct rte_eth_dev_info info;
    if (rte_eth_dev_info_get(port_id, &info) == 0 && info.driver_name) {
        for (size_t i = 0; i < sizeof(netdev_pmds) / sizeof(netdev_pmds[0]); i++) {
            if (strcmp(info.driver_name, netdev_pmds[i]) != 0)
                continue;
            int carrier = netdev_carrier(devargs);
            if (carrier >= 0)
                return carrier;
        }
    }
    struct rte_eth_link link;
    if (rte_eth_link_get_nowait(port_id, &link) != 0)
        return 1;
    return link.link_status == RTE_ETH_LINK_UP;
}
