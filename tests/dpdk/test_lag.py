"""dpdk suite: two wire ports joined into one LAG toward one VM port, with
real DPDK (net_af_packet on veth pairs in a network namespace). Proves:
transmit is hashed per flow over the members (each flow on one member, in
order), receive is merged, a member whose link goes down hands its flows to
the other with nothing lost once the vswitch saw the link change, no member
up means drops counted as no_lag_member, and active-backup uses one member."""

import sys
import time

from vslab import (FLOWS, PER_FLOW, Bench, collect, expect, expect_hashed, frame, marker,
                   send_flows)


def sent_by(b, port):
    """Frames the member's device took for transmission (its own counter:
    a member whose far end is down shows nothing on the far side whether
    the vswitch sent to it or not)."""
    return b.stats()["ports"][port]["device"]["opackets"]


def main():
    with Bench(["w0", "w1", "va"], name="lag") as b:
        b.add_port("w0", "wire")
        b.add_port("w1", "wire")
        b.add_port("va", "vm")
        b.ok(op="lag-set", name="bond", members=["w0", "w1"], mode="balance", hash="l34")
        b.ok(op="slice-set", name="s", uplink="bond", vm="va", mode="access", vlans=[42])
        for e in b.ends.values():
            e.drain()

        send_flows(b, "va", 1)
        got, tags = collect(b, "va", ["w0", "w1"])
        expect(tags == {42}, "every frame toward the LAG carries the slice's VLAN 42")
        expect_hashed(got)

        for seq in range(20):
            b.ends["w0"].send(frame(42, 2, seq))
            b.ends["w1"].send(frame(42, 3, seq))
        rx = b.ends["va"].recv_all([marker(b.ends["w0"], 42), marker(b.ends["w1"], 42)])
        expect(sorted((s, q) for _, s, q in rx) == sorted([(2, q) for q in range(20)] +
                                                           [(3, q) for q in range(20)]) and
               all(v is None for v, _, _ in rx),
               "receive is merged: both members reach the VM, tag popped")

        b.set_link("w1", False)
        expect(b.wait_link("w1", False), "the vswitch sees w1's carrier go down")
        w1_before = sent_by(b, "w1")
        send_flows(b, "va", 4)
        got, _ = collect(b, "va", ["w0"])
        expect(set(got["w0"]) == set(range(FLOWS)) and
               all(got["w0"][f] == list(range(PER_FLOW)) for f in got["w0"]),
               "with w1 down every flow moves to w0 and nothing is lost")
        expect(sent_by(b, "w1") == w1_before, "and the vswitch sent nothing to w1")

        b.set_link("w0", False)
        expect(b.wait_link("w0", False), "the vswitch sees w0's carrier go down")
        before = b.stats()["slices"]["s"]["drops"]["no_lag_member"]
        send_flows(b, "va", 5)
        after = b.stats_when(lambda st: st["slices"]["s"]["drops"]["no_lag_member"] - before >=
                             FLOWS * PER_FLOW)["slices"]["s"]["drops"]["no_lag_member"]
        expect(after - before == FLOWS * PER_FLOW,
               "with no member up, frames are dropped and counted as no_lag_member")

        b.set_link("w1", True)
        expect(b.wait_link("w1", True), "the vswitch sees w1 come back")
        b.ends["w1"].drain()
        send_flows(b, "va", 6)
        got, _ = collect(b, "va", ["w1"])
        expect(set(got["w1"]) == set(range(FLOWS)), "w1 alone carries every flow again")

        b.set_link("w0", True)
        expect(b.wait_link("w0", True), "the vswitch sees w0 come back")
        # An operator taking a member out (admin down) has the same effect.
        b.ok(op="port-set", name="w0", admin="down")
        for e in b.ends.values():
            e.drain()
        w0_before = sent_by(b, "w0")
        send_flows(b, "va", 8)
        got, _ = collect(b, "va", ["w0", "w1"])
        expect(set(got["w1"]) == set(range(FLOWS)) and not got["w0"] and
               sent_by(b, "w0") == w0_before,
               "with w0 admin down every flow leaves on w1, w0 sends nothing")
        b.ok(op="port-set", name="w0", admin="up")

        b.ok(op="lag-set", name="bond", members=["w0", "w1"], mode="active-backup")
        for e in b.ends.values():
            e.drain()
        w1_before = sent_by(b, "w1")
        send_flows(b, "va", 7)
        got, _ = collect(b, "va", ["w0", "w1"])
        expect(set(got["w0"]) == set(range(FLOWS)) and not got["w1"] and
               sent_by(b, "w1") == w1_before,
               "active-backup: all flows on the first member that is up, the other sends nothing")
        for e in b.ends.values():
            expect(e.kernel_drops() == 0, f"{e.name}: the test's own socket lost nothing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
