/* Preloaded into evr-vswitch by test_vlan_strip.py (LD_PRELOAD): every
 * device the vswitch configures that can strip VLAN tags on receive is
 * configured to, as a NIC that strips by default would be. The vswitch
 * never asks for it; with it, net_af_packet hands a tagged frame over
 * untagged, the tag in the mbuf (RTE_MBUF_F_RX_VLAN_STRIPPED), which is the
 * case vswitch/datapath.c reinserts the tag for. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <rte_ethdev.h>

typedef int configure_fn(uint16_t port, uint16_t nb_rxq, uint16_t nb_txq,
                         const struct rte_eth_conf *conf);

int rte_eth_dev_configure(uint16_t port, uint16_t nb_rxq, uint16_t nb_txq,
                          const struct rte_eth_conf *conf)
{
    configure_fn *real = (configure_fn *)dlsym(RTLD_NEXT, "rte_eth_dev_configure");
    struct rte_eth_dev_info info;
    struct rte_eth_conf c = *conf;
    if (!real) {
        fprintf(stderr, "vlan_strip_preload: no rte_eth_dev_configure after this one\n");
        abort();
    }
    if (rte_eth_dev_info_get(port, &info) == 0 &&
        (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_VLAN_STRIP))
        c.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_VLAN_STRIP;
    return real(port, nb_rxq, nb_txq, &c);
}
