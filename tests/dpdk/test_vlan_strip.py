"""dpdk suite: wire and VM ports whose devices strip VLAN tags on receive.
evr-vswitch never asks a device to strip; a preloaded library
(vlan_strip_preload.c) makes every device that can (net_af_packet) strip, as
a NIC doing it by default would. Proves: the devices do strip (DPDK's own
account of their receive offloads), and the vswitch classifies their frames
as they were on the wire (vswitch/datapath.c puts the tag back): an access
slice's VLAN reaches its VM popped, a trunk slice's keeps its tag both
ways, another VLAN and untagged frames are dropped as no_slice, and a VM's
tagged frame on an access slice is refused as tagged_on_access."""

import os
import sys

from vslab import Bench, expect, frame, marker, recv_many

ROUNDS = 20
RX_OFFLOAD_VLAN_STRIP = 1  # RTE_ETH_RX_OFFLOAD_VLAN_STRIP


def main():
    preload = sys.argv[2]
    env = {"LD_PRELOAD": preload,
           # ASan must come first in the library list; the preloaded
           # library uses no memory of its own, so the order does not matter.
           "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}
    with Bench(["w0", "va", "vt"], name="strip", vswitch_env=env) as b:
        b.add_port("w0", "wire")
        b.add_port("va", "vm")
        b.add_port("vt", "vm")
        for dev in ("net_af_packet0", "net_af_packet1", "net_af_packet2"):
            offloads = b.ethdev_info(dev)["rx_offloads"]
            expect(offloads & RX_OFFLOAD_VLAN_STRIP,
                   f"{dev} strips VLAN tags on receive (rx_offloads {offloads:#x})")
        b.ok(op="slice-set", name="acc", uplink="w0", vm="va", mode="access", vlans=[10])
        b.ok(op="slice-set", name="trunk", uplink="w0", vm="vt", mode="trunk", vlans=["20-21"])
        for e in b.ends.values():
            e.drain()

        for seq in range(ROUNDS):
            for stream, vlan in enumerate((10, 20, 21, 30, None)):
                b.ends["w0"].send(frame(vlan, stream, seq))
        got = recv_many([b.ends["va"], b.ends["vt"]],
                        [marker(b.ends["w0"], 10), marker(b.ends["w0"], 20)])
        expect([(v, s, q) for v, s, q in got["va"]] == [(None, 0, q) for q in range(ROUNDS)],
               "VLAN 10 (stripped by the device) reaches the access VM popped, complete, in order")
        expect(sorted((s, q, v) for v, s, q in got["vt"]) ==
               sorted([(1, q, 20) for q in range(ROUNDS)] + [(2, q, 21) for q in range(ROUNDS)]),
               "VLANs 20 and 21 reach the trunk VM with their tags, complete")
        st = b.stats_when(lambda st: st["ports"]["w0"]["drops"]["no_slice"] >= 2 * ROUNDS)
        expect(st["ports"]["w0"]["drops"]["no_slice"] == 2 * ROUNDS,
               "VLAN 30 and untagged frames are dropped as no_slice, not taken for untagged")

        for seq in range(ROUNDS):
            b.ends["vt"].send(frame(21, 5, seq))
            b.ends["va"].send(frame(None, 6, seq))
            b.ends["va"].send(frame(10, 7, seq))  # tagged on an access slice
        wire = b.ends["w0"].recv_all([marker(b.ends["vt"], 21), marker(b.ends["va"])])
        expect([(v, q) for v, s, q in wire if s == 5] == [(21, q) for q in range(ROUNDS)],
               "the trunk VM's tagged frames (stripped by its device) leave with tag 21, in order")
        expect([(v, q) for v, s, q in wire if s == 6] == [(10, q) for q in range(ROUNDS)],
               "the access VM's frames leave tagged 10, in order")
        expect(not [f for f in wire if f[1] == 7], "the access VM's own tagged frames do not leave")
        st = b.stats_when(lambda st: st["slices"]["acc"]["drops"]["tagged_on_access"] >= ROUNDS)
        expect(st["slices"]["acc"]["drops"]["tagged_on_access"] == ROUNDS,
               "they are refused as tagged_on_access: the stripped tag was seen")
        for e in b.ends.values():
            expect(e.kernel_drops() == 0, f"{e.name}: the test's own socket lost nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
