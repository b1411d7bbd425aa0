"""dpdk suite: a net_af_xdp wire port (AF_XDP on the inner end of the test's
veth; libxdp attaches its XDP program in native mode, veth has XDP support,
and binds in copy mode, veth has no zero-copy). The VM side is af_packet
stand-ins. Proves: each access slice gets exactly its VLAN with the tag
popped, a trunk slice keeps its tags, frames from the VMs leave tagged,
unmatched VLANs (and untagged frames) are dropped and counted, full-size
frames pass both ways, and the port can be deleted and added again on the
same netdev (with force_copy=1 and busy_budget=0 the second time), which
DPDK 22.11 alone does not allow (see docs/vswitch.md, Pitfalls seen).

One worker: net_af_xdp gives one queue pair per netdev queue it binds
(queue_count), and veth offers one (it reports no combined channels)."""

import sys
import time

from vslab import Bench, expect, frame, recv_many, run

ROUNDS = 50
VLANS_SENT = [None, 10, 20, 30, 31, 40, 99]  # stream id = index
UNMATCHED = [None, 40, 99]


def full_size(vlan, stream, seq):
    """A maximum-size frame for a 1500-byte MTU: 1514 bytes untagged, 1518
    tagged (the padding after the test header is not looked at)."""
    f = frame(vlan, stream, seq)
    return f + bytes(1514 + (4 if vlan is not None else 0) - len(f))


def set_slices(b):
    b.ok(op="slice-set", name="acc10", uplink="w0", vm="va", mode="access", vlans=[10])
    b.ok(op="slice-set", name="acc20", uplink="w0", vm="vb", mode="access", vlans=[20])
    b.ok(op="slice-set", name="trunk", uplink="w0", vm="vt", mode="trunk", vlans=["30-31"])


def check_split(b, rounds, what):
    for seq in range(rounds):
        for stream, vlan in enumerate(VLANS_SENT):
            b.ends["w0"].send(frame(vlan, stream, seq))
    got = recv_many([b.ends[vm] for vm in ("va", "vb", "vt")],
                    {"va": rounds, "vb": rounds, "vt": 2 * rounds})
    streams = {vm: sorted({s for _, s, _ in f}) for vm, f in got.items()}
    expect(streams == {"va": [1], "vb": [2], "vt": [3, 4]},
           f"{what}: each VM gets exactly its slice's VLANs ({streams})")
    for vm, stream, tag in (("va", 1, None), ("vb", 2, None), ("vt", 3, 30), ("vt", 4, 31)):
        frames = [(v, q) for v, s, q in got[vm] if s == stream]
        expect(frames == [(tag, q) for q in range(rounds)],
               f"{what}: VLAN {VLANS_SENT[stream]} reaches {vm} complete, in order, "
               f"{'untagged' if tag is None else 'tagged ' + str(tag)}")


def main():
    # Two af_xdp opens over the run (and room for two failed ones): each
    # takes 2048 mbufs for its fill ring and DPDK 22.11 keeps them when the
    # port is closed.
    with Bench(["w0", "va", "vb", "vt"], name="afxdp", mbufs=16383) as b:
        inner = b.ifnames["w0"][0]
        devargs = f"net_af_xdp0,iface={inner}"
        b.ok(op="port-add", name="w0", devargs=devargs, role="wire")
        link = run("ip", "link", "show", inner).stdout
        mode = "native" if " xdp " in link else "generic" if "xdpgeneric" in link else None
        expect(mode is not None and "prog/xdp" in link,
               f"net_af_xdp attached an XDP program to {inner} ({mode} mode)")
        ports = {p["name"]: p for p in b.ok(op="dump")["dump"]["ports"]}
        expect(ports["w0"]["rx_queues"] == 1, "w0 is polled on its one queue")
        for vm in ("va", "vb", "vt"):
            b.add_port(vm, "vm")
        set_slices(b)
        for e in b.ends.values():
            e.drain()

        check_split(b, ROUNDS, "wire -> VMs over AF_XDP")
        unmatched = len(UNMATCHED) * ROUNDS
        st = b.stats_when(lambda st: st["ports"]["w0"]["drops"]["no_slice"] >= unmatched)
        expect(st["ports"]["w0"]["drops"]["no_slice"] == unmatched,
               f"w0 counts its {unmatched} unmatched frames (untagged, VLAN 40, 99) as no_slice")
        expect(st["ports"]["w0"]["device"]["ipackets"] == len(VLANS_SENT) * ROUNDS and
               st["ports"]["w0"]["device"]["imissed"] == 0,
               "the AF_XDP socket received every frame and missed none")

        for seq in range(ROUNDS):
            b.ends["va"].send(frame(None, 10, seq))
            b.ends["vb"].send(frame(None, 11, seq))
            b.ends["vt"].send(frame(31, 12, seq))
        wire = b.ends["w0"].recv_all(3 * ROUNDS)
        for stream, tag in ((10, 10), (11, 20), (12, 31)):
            expect([(v, q) for v, s, q in wire if s == stream] == [(tag, q) for q in range(ROUNDS)],
                   f"VM stream {stream} leaves by AF_XDP tagged {tag}, complete and in order")

        # Full-size frames both ways: the mbufs (2176 bytes, 1792 of them
        # left for the frame after the UMEM's headrooms) hold 1518 bytes.
        b.ends["w0"].send(full_size(10, 1, 0))
        b.ends["va"].send(full_size(None, 10, 1))
        got = b.ends["va"].recv_all(1)
        expect([f[:2] for f in got] == [(None, 1)], "a 1518-byte tagged frame reaches the VM popped")
        got = b.ends["w0"].recv_all(1)
        expect([f[:2] for f in got] == [(10, 10)], "a 1514-byte VM frame leaves tagged")
        lens = b.stats()["slices"]["acc10"]
        expect(lens["to_vm_bytes"] == ROUNDS * 60 + 1514 and
               lens["to_wire_bytes"] == ROUNDS * 64 + 1518,
               "slice byte counters count the popped and pushed sizes")

        # Delete and add again on the same netdev. The kernel lets go of the
        # netdev queue a moment after its socket is closed (an RCU grace
        # period, then a work item); port-del waits 100 ms for it. A loaded
        # machine may take longer: then a retry, each costing 2048 mbufs.
        b.ok(op="slice-del", name="acc10")
        b.ok(op="slice-del", name="acc20")
        b.ok(op="slice-del", name="trunk")
        b.ok(op="port-del", name="w0")
        expect("prog/xdp" not in run("ip", "link", "show", inner).stdout,
               "port-del removed the XDP program")
        for attempt in range(3):
            reply = b.request(op="port-add", name="w0", role="wire",
                              devargs=devargs + ",force_copy=1,busy_budget=0")
            if reply["ok"]:
                break
            print(f"port-add attempt {attempt + 1}: {reply['error']['message']}")
            time.sleep(0.2)
        expect(reply["ok"], f"the same netdev opens again after port-del: {reply}")
        set_slices(b)
        check_split(b, 10, "after port-del and port-add (force_copy=1, busy_budget=0)")
        for e in b.ends.values():
            expect(e.kernel_drops() == 0, f"{e.name}: the test's own socket lost nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
