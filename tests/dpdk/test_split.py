"""dpdk suite: VLAN split through evr-vswitch with real DPDK (net_af_packet
on veth pairs in a network namespace; the VM side is af_packet stand-ins,
see docs/vswitch.md). Proves: each slice receives exactly its VLANs, access
slices pop/push the tag, trunk slices keep it, unmatched traffic is dropped
and counted, a VM cannot send outside its slice, bad requests change
nothing, and adding/removing a port leaves other slices untouched."""

import collections
import os
import sys

from vslab import Bench, expect, frame, recv_many

VLANS_SENT = [None, 0, 1, 99, 100, 150, 199, 200, 299, 300, 301, 4094]
ROUNDS = 50


def by_stream(frames):
    out = collections.defaultdict(list)
    for vlan, stream, seq in frames:
        out[stream].append((vlan, seq))
    return out


def main():
    workers = int(os.environ.get("EVR_WORKERS", "1"))
    with Bench(["w0", "va", "vb", "vc", "vd"], name="split", workers=workers) as b:
        if workers > 1:
            # One queue pair cannot serve two workers: refused, and the device
            # is let go again, so the right devargs work right after.
            reply = b.request(op="port-add", name="w0", devargs=b.devargs("w0", qpairs=1),
                              role="wire")
            expect(not reply["ok"] and "field 'devargs'" in reply["error"]["message"] and
                   "qpairs=2" in reply["error"]["message"],
                   f"a port with too few queues is refused: {reply.get('error')}")
            expect(b.ok(op="dump")["dump"]["ports"] == [], "and nothing was declared")
        else:
            # More af_packet queues than the vswitch polls would lose traffic.
            reply = b.request(op="port-add", name="w0", devargs=b.devargs("w0", qpairs=9),
                              role="wire")
            expect(not reply["ok"] and "field 'devargs': qpairs=9 is above 8" in reply["error"]["message"],
                   f"a port with more queues than polled is refused: {reply.get('error')}")
        b.add_port("w0", "wire")
        for vm in ("va", "vb", "vc", "vd"):
            b.add_port(vm, "vm")
        b.ok(op="slice-set", name="trunk", uplink="w0", vm="va", mode="trunk", vlans=["100-199"])
        b.ok(op="slice-set", name="acc300", uplink="w0", vm="vb", mode="access", vlans=[300])
        b.ok(op="slice-set", name="native", uplink="w0", vm="vc", mode="access", untagged=True)
        for e in b.ends.values():
            e.drain()

        # Wire -> VMs: stream id = index into VLANS_SENT.
        for seq in range(ROUNDS):
            for stream, vlan in enumerate(VLANS_SENT):
                # One source address per stream: with several workers the
                # streams spread over the receive queues (flow hash).
                b.ends["w0"].send(frame(vlan, stream, seq, src_ip=0x0A000100 + stream))
        frames = recv_many([b.ends[vm] for vm in ("va", "vb", "vc", "vd")],
                           {"va": 3 * ROUNDS, "vb": ROUNDS, "vc": 2 * ROUNDS})
        got = {vm: by_stream(f) for vm, f in frames.items()}
        want = {
            "va": {VLANS_SENT.index(v): v for v in (100, 150, 199)},
            "vb": {VLANS_SENT.index(300): None},
            "vc": {VLANS_SENT.index(None): None, VLANS_SENT.index(0): None},
            "vd": {},
        }
        for vm, streams in want.items():
            expect(set(got[vm]) == set(streams),
                   f"{vm} receives exactly the VLANs of its slice "
                   f"({', '.join(str(VLANS_SENT[s]) if VLANS_SENT[s] is not None else 'untagged' for s in streams) or 'none'})")
            for stream, tag in streams.items():
                frames = got[vm][stream]
                expect([seq for _, seq in frames] == list(range(ROUNDS)),
                       f"{vm}: VLAN {VLANS_SENT[stream]} arrives complete and in order")
                expect(all(v == tag for v, _ in frames),
                       f"{vm}: VLAN {VLANS_SENT[stream]} arrives "
                       f"{'tagged ' + str(tag) if tag is not None else 'untagged'}")
        unmatched = sum(1 for v in VLANS_SENT if v not in (None, 0, 100, 150, 199, 300)) * ROUNDS
        st = b.stats_when(lambda st: st["ports"]["w0"]["drops"]["no_slice"] >= unmatched)
        expect(st["ports"]["w0"]["drops"]["no_slice"] == unmatched,
               f"w0 counts its {unmatched} unmatched frames as no_slice drops")
        expect(st["slices"]["trunk"]["to_vm_packets"] == 3 * ROUNDS and
               st["slices"]["acc300"]["to_vm_packets"] == ROUNDS and
               st["slices"]["native"]["to_vm_packets"] == 2 * ROUNDS,
               "per-slice counters count what each VM received")

        # VMs -> wire.
        b.ends["va"].send(frame(150, 20, 0))
        b.ends["va"].send(frame(300, 21, 0))   # another slice's VLAN
        b.ends["va"].send(frame(None, 22, 0))  # untagged is not in the trunk
        b.ends["vb"].send(frame(None, 23, 0))
        b.ends["vb"].send(frame(300, 24, 0))   # already tagged on an access slice
        b.ends["vc"].send(frame(None, 25, 0))
        b.ends["vd"].send(frame(None, 26, 0))  # no slice
        wire = {stream: vlan for vlan, stream, _ in b.ends["w0"].recv_all(3)}
        expect(wire == {20: 150, 23: 300, 25: None},
               "toward the wire: trunk keeps its tag, access pushes VLAN 300, "
               "native stays untagged, nothing else leaks")
        st = b.stats_when(lambda st: st["ports"]["vd"]["drops"]["no_slice_on_vm"] >= 1 and
                          st["slices"]["trunk"]["drops"]["vlan_not_in_slice"] >= 2 and
                          st["slices"]["acc300"]["drops"]["tagged_on_access"] >= 1)
        expect(st["slices"]["trunk"]["drops"]["vlan_not_in_slice"] == 2,
               "trunk VM sending outside its VLANs: 2 drops counted")
        expect(st["slices"]["acc300"]["drops"]["tagged_on_access"] == 1,
               "tagged frame from an access VM: dropped and counted")
        expect(st["ports"]["vd"]["drops"]["no_slice_on_vm"] == 1,
               "frame from a VM port with no slice: dropped and counted")

        # Bad requests name the field and change nothing.
        before = b.ok(op="dump")["dump"]
        bad = [
            (dict(op="slice-set", name="x", uplink="w0", vm="vd", mode="trunk",
                  vlans=["400-500", "150"]), "overlaps slice 'trunk'"),
            (dict(op="slice-set", name="x", uplink="w0", vm="vd", mode="trunk",
                  vlans=["4095"]), "'vlans'[0]"),
            (dict(op="port-add", name="bad", devargs="net_af_packet9,iface=nonexistent0",
                  role="wire"), "field 'devargs'"),
            (dict(op="port-del", name="va"), "used by slice 'trunk'"),
            (dict(op="slice-set", name="x", uplink="w0", vm="vd", mode="trunk",
                  vlans=["400"], colour="red"), "field 'colour'"),
        ]
        for req, part in bad:
            reply = b.request(**req)
            expect(not reply["ok"] and part in reply["error"]["message"],
                   f"{req['op']} refused: {reply.get('error')}")
        reply = b.ctl.send_line("{not json")
        expect('"ok":false' in reply and "not JSON" in reply, "malformed line refused")
        after = b.ok(op="dump")["dump"]
        expect(after == before, "refused requests left the tables as they were")

        # Removing a VM port that carries no slice keeps every slice working.
        b.ok(op="port-del", name="vd")
        for seq in range(ROUNDS):
            b.ends["w0"].send(frame(150, 30, seq))
            b.ends["w0"].send(frame(300, 31, seq))
        frames = recv_many([b.ends["va"], b.ends["vb"]], {"va": ROUNDS, "vb": ROUNDS})
        a, bb = by_stream(frames["va"]), by_stream(frames["vb"])
        expect([s for _, s in a[30]] == list(range(ROUNDS)) and
               [s for _, s in bb[31]] == list(range(ROUNDS)),
               "after port-del of an unused port, other slices still carry all traffic")
        for e in b.ends.values():
            expect(e.kernel_drops() == 0, f"{e.name}: the test's own socket lost nothing")
        if workers > 1:
            ports = {p["name"]: p for p in b.ok(op="dump")["dump"]["ports"]}
            expect(ports["w0"]["rx_queues"] == workers,
                   f"w0 is polled on {workers} receive queues, one per worker")
            per_worker = [w["rx_packets"] for w in b.stats()["workers"]]
            expect(len(per_worker) == workers and all(n > 0 for n in per_worker),
                   f"every worker forwarded traffic ({per_worker})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
