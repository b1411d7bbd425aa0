"""dpdk suite: a net_tap device as a wire port. The tap netdev DPDK creates
is bridged (a Linux bridge in the host) to the inner end of the test's veth,
so frames sent in the namespace reach the vswitch through the kernel's tap
path, not af_packet. Proves: tagged frames of a slice's VLAN reach the VM
untagged and in order, the VM's frames reach the wire tagged, and another
VLAN is kept out. The tap PMD refuses a configuration with more receive
than transmit queues (EPERM), so the port is added with rx_queues=1 (one
worker, one transmit queue)."""

import sys

from vslab import Bench, expect, frame, marker, run

COUNT = 20


def main():
    with Bench(["w0", "va"], name="tap") as b:
        tap = f"evtap{b.tag}"  # names reap_leftovers() knows
        br = f"evbr{b.tag}"
        try:
            b.ok(op="port-add", name="w0", devargs=f"net_tap0,iface={tap}", role="wire",
                 rx_queues=1)
            inner = b.ifnames["w0"][0]
            run("ip", "link", "add", br, "type", "bridge")
            for dev in (br, tap):
                run("sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
            run("ip", "link", "set", inner, "master", br)
            run("ip", "link", "set", tap, "master", br)
            run("ip", "link", "set", tap, "up")
            run("ip", "link", "set", br, "up")
            b.add_port("va", "vm")
            b.ok(op="slice-set", name="s10", uplink="w0", vm="va", mode="access", vlans=[10])

            for seq in range(COUNT):
                b.ends["w0"].send(frame(10, 1, seq))
                b.ends["w0"].send(frame(11, 2, seq))
            got = b.ends["va"].recv_all([marker(b.ends["w0"], 10)])
            expect([(v, q) for v, s, q in got if s == 1] == [(None, q) for q in range(COUNT)],
                   "tagged frames of VLAN 10 reach the VM untagged, in order, over net_tap")
            expect(not [f for f in got if f[1] == 2], "VLAN 11 does not reach the VM")

            for seq in range(COUNT):
                b.ends["va"].send(frame(None, 3, seq))
            back = b.ends["w0"].recv_all([marker(b.ends["va"])])
            expect([(v, q) for v, s, q in back if s == 3] == [(10, q) for q in range(COUNT)],
                   "the VM's frames reach the wire through the tap tagged 10, in order")
            st = b.stats_when(lambda st: st["ports"]["w0"]["drops"]["no_slice"] >= COUNT)
            expect(st["ports"]["w0"]["drops"]["no_slice"] >= COUNT,
                   "VLAN 11 frames were counted as no_slice drops")
        finally:
            run("ip", "link", "del", br, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
