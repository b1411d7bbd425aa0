"""Lab test: a PCI function as evr-vswitch's wire port. Of the lab's two
e1000e NICs (cabled to each other through a QEMU hub), the first goes to
vfio-pci and becomes the vswitch's wire port (DPDK's net_e1000_em through
VFIO and the lab's intel-iommu); the second stays on the kernel's e1000e
driver, in the test's network namespace, with VLAN subinterfaces 10, 20, 30
and 40. The VM side is af_packet stand-ins on veth pairs (tests/dpdk/vslab.py).

Proves, over the emulated wire: frames sent on a VLAN subinterface reach the
VM port of that VLAN's slice (access: tag popped; trunk: kept), complete and
in order; frames from the VM ports reach the right subinterface (access:
tag pushed); full-size frames pass both ways; an unknown VLAN is dropped and
counted; the device's link comes up.

EAL: `--no-huge --iova-mode va --base-virtaddr 0x40000000 -a BDF`. The
lab's IOMMU (QEMU's intel-iommu) maps 39-bit I/O addresses; with IOVA as VA,
DPDK's memory must lie below 512 GiB, where mmap() does not put it by
itself ("couldn't allocate memory due to IOVA exceeding limits of current
DMA mask", or DMA remapping failing with EINVAL). Under ASan every address
from 2 GiB to 16 TiB is shadow memory, so the base is 1 GiB. `-a` limits
what EAL takes at start-up to the vswitch's own function (without it, EAL
would open every function bound to vfio-pci, those meant for VMs too);
port-add of a function EAL probed at start-up configures it."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "dpdk"))
from vslab import Bench, expect, frame, marker, recv_many, run  # noqa: E402

PCI = "/sys/bus/pci/devices"
ROUNDS = 30
SUBIF_VLANS = (10, 20, 30, 40)


def sysfs(path, value=None):
    if value is None:
        with open(path) as f:
            return f.read().strip()
    with open(path, "w") as f:
        f.write(value)


def e1000e_functions():
    return sorted(d for d in os.listdir(PCI)
                  if sysfs(f"{PCI}/{d}/vendor") == "0x8086" and
                  sysfs(f"{PCI}/{d}/device") == "0x10d3")


def driver_of(bdf):
    link = f"{PCI}/{bdf}/driver"
    return os.path.basename(os.readlink(link)) if os.path.exists(link) else None


def bind(bdf, driver):
    """driver_override, unbind, drivers_probe: only `driver` can take it
    (what vfio/bind.c does, and tests/lab/core/vfio_bind.c)."""
    sysfs(f"{PCI}/{bdf}/driver_override", driver)
    if driver_of(bdf):
        sysfs(f"{PCI}/{bdf}/driver/unbind", bdf)
    sysfs("/sys/bus/pci/drivers_probe", bdf)


def full_size(vlan, stream, seq):
    """A maximum-size frame for a 1500-byte MTU: 1514 bytes untagged, 1518
    tagged (the padding after the test header is not looked at)."""
    f = frame(vlan, stream, seq)
    return f + bytes(1514 + (4 if vlan is not None else 0) - len(f))


def ns_run(b, *cmd):
    return run("ip", "netns", "exec", b.ns, *cmd)


def main():
    nics = e1000e_functions()
    expect(len(nics) >= 2, f"the lab has two e1000e NICs ({nics})")
    wire, peer = nics[0], nics[1]  # NICs 0 and 1 share a hub
    peer_if = os.listdir(f"{PCI}/{peer}/net")[0]
    bind(wire, "vfio-pci")
    expect(driver_of(wire) == "vfio-pci", f"{wire} is bound to vfio-pci")
    eal = ["--iova-mode", "va", "--base-virtaddr", "0x40000000", "-a", wire]
    try:
        with Bench(["va", "vb", "vt"], name="pci", eal=eal) as b:
            run("ip", "link", "set", peer_if, "netns", b.ns)
            ns_run(b, "sysctl", "-qw", f"net.ipv6.conf.{peer_if}.disable_ipv6=1")
            # Frames toward the VMs' MACs, not the NIC's: promiscuous.
            ns_run(b, "ip", "link", "set", peer_if, "promisc", "on", "up")
            for vlan in SUBIF_VLANS:
                sub = f"{peer_if}.{vlan}"
                # (IPv6 is off by default in the namespace: no stray frames)
                ns_run(b, "ip", "link", "add", "link", peer_if, "name", sub, "type", "vlan",
                       "id", str(vlan))
                ns_run(b, "ip", "link", "set", sub, "up")
                b.open_endpoint(f"k{vlan}", sub)

            b.ok(op="port-add", name="w0", devargs=wire, role="wire")
            ports = {p["name"]: p for p in b.ok(op="dump")["dump"]["ports"]}
            print(f"w0: {ports['w0']}")
            deadline = time.monotonic() + 20
            while not ports["w0"]["link_up"] and time.monotonic() < deadline:
                time.sleep(0.2)
                ports = {p["name"]: p for p in b.ok(op="dump")["dump"]["ports"]}
            expect(ports["w0"]["link_up"], f"{wire} (net_e1000_em) reports link up")
            for vm in ("va", "vb", "vt"):
                b.add_port(vm, "vm")
            b.ok(op="slice-set", name="acc10", uplink="w0", vm="va", mode="access", vlans=[10])
            b.ok(op="slice-set", name="acc20", uplink="w0", vm="vb", mode="access", vlans=[20])
            b.ok(op="slice-set", name="trunk30", uplink="w0", vm="vt", mode="trunk", vlans=[30])
            for e in b.ends.values():
                e.drain()
            base = b.stats()["ports"]["w0"]["drops"]["no_slice"]

            # Kernel side -> VMs: stream id = VLAN.
            for seq in range(ROUNDS):
                for vlan in SUBIF_VLANS:
                    b.ends[f"k{vlan}"].send(frame(None, vlan, seq))
            got = recv_many([b.ends[vm] for vm in ("va", "vb", "vt")],
                            [marker(b.ends[f"k{v}"]) for v in (10, 20, 30)])
            for vm, vlan, tag in (("va", 10, None), ("vb", 20, None), ("vt", 30, 30)):
                expect({s for _, s, _ in got[vm]} == {vlan},
                       f"{vm} gets only VLAN {vlan} from the e1000e wire")
                expect([(v, q) for v, s, q in got[vm]] == [(tag, q) for q in range(ROUNDS)],
                       f"VLAN {vlan} reaches {vm} complete, in order, "
                       f"{'untagged' if tag is None else 'tagged ' + str(tag)}")
            st = b.stats_when(lambda st: st["ports"]["w0"]["drops"]["no_slice"] - base >= ROUNDS)
            expect(st["ports"]["w0"]["drops"]["no_slice"] - base == ROUNDS,
                   f"the {ROUNDS} frames of unknown VLAN 40 are dropped and counted no_slice")

            # VMs -> kernel side: each lands on its VLAN's subinterface.
            for seq in range(ROUNDS):
                b.ends["va"].send(frame(None, 110, seq))
                b.ends["vb"].send(frame(None, 120, seq))
                b.ends["vt"].send(frame(30, 130, seq))
            got = recv_many([b.ends[f"k{v}"] for v in SUBIF_VLANS],
                            [marker(b.ends["va"]), marker(b.ends["vb"]), marker(b.ends["vt"], 30)])
            for sub, stream in (("k10", 110), ("k20", 120), ("k30", 130)):
                expect([(s, q) for _, s, q in got[sub]] == [(stream, q) for q in range(ROUNDS)],
                       f"VM stream {stream} arrives on {peer_if}.{sub[1:]}, complete and in order")
            expect(not got["k40"], f"nothing arrives on {peer_if}.40")

            # Full-size frames both ways through the e1000e pair.
            b.ends["k10"].send(full_size(None, 10, ROUNDS))
            got = b.ends["va"].recv_all([marker(b.ends["k10"])])
            expect([f[:2] for f in got] == [(None, 10)],
                   "a 1518-byte tagged frame from the kernel side reaches the VM popped")
            b.ends["va"].send(full_size(None, 110, ROUNDS))
            got = b.ends["k10"].recv_all([marker(b.ends["va"])])
            expect([f[:2] for f in got] == [(None, 110)],
                   f"a 1514-byte VM frame reaches {peer_if}.10")
            st = b.stats()
            dev = st["ports"]["w0"]["device"]
            print(f"w0 device counters: {dev}")
            expect(dev["ierrors"] == 0 and dev["oerrors"] == 0 and dev["imissed"] == 0,
                   "the e1000e counted no receive or transmit errors")
            for e in b.ends.values():
                expect(e.kernel_drops() == 0, f"{e.name}: the test's own socket lost nothing")
    finally:
        bind(wire, "e1000e")
        sysfs(f"{PCI}/{wire}/driver_override", "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
