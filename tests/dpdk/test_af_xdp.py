"""dpdk suite: a net_af_xdp wire port (AF_XDP on the inner end of the test's
veth; libxdp attaches its XDP program in native mode, veth has XDP support,
and binds in copy mode, veth has no zero-copy). The VM side is af_packet
stand-ins. Proves: each access slice gets exactly its VLAN with the tag
popped, a trunk slice keeps its tags, frames from the VMs leave tagged,
unmatched VLANs (and untagged frames) are dropped and counted, full-size
frames pass both ways, and the port can be deleted and added again on the
same netdev (with force_copy=1 and busy_budget=0 the second time), which
DPDK 22.11 alone does not allow (see docs/vswitch.md, Pitfalls seen). The
kernel's own view of the netdev queue (netdev netlink family, queue-get: its
xsk attribute) shows the AF_XDP socket bound, and its release after
port-del is waited for explicitly before the port is added again.

One worker: net_af_xdp gives one queue pair per netdev queue it binds
(queue_count), and veth offers one (it reports no combined channels)."""

import socket
import struct
import sys
import time

from vslab import Bench, expect, frame, marker, recv_many, run

ROUNDS = 50
VLANS_SENT = [None, 10, 20, 30, 31, 40, 99]  # stream id = index
UNMATCHED = [None, 40, 99]


NETLINK_GENERIC = 16
GENL_ID_CTRL, CTRL_CMD_GETFAMILY, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME = 0x10, 3, 1, 2
NLMSG_ERROR, NLM_F_REQUEST = 2, 1
# include/uapi/linux/netdev.h
NETDEV_CMD_QUEUE_GET = 10
NETDEV_A_QUEUE_ID, NETDEV_A_QUEUE_IFINDEX, NETDEV_A_QUEUE_TYPE, NETDEV_A_QUEUE_XSK = 1, 2, 3, 7
NETDEV_QUEUE_TYPE_RX = 0


def _nlattr(kind, payload):
    a = struct.pack("HH", 4 + len(payload), kind) + payload
    return a + bytes(-len(a) % 4)


def _genl(sock, family, cmd, payload):
    """One generic netlink request: its reply's attributes {type: bytes}."""
    body = struct.pack("BBH", cmd, 1, 0) + payload
    sock.send(struct.pack("IHHII", 16 + len(body), family, NLM_F_REQUEST, 1, 0) + body)
    data = sock.recv(65536)
    length, kind = struct.unpack_from("IH", data)
    if kind == NLMSG_ERROR:
        raise OSError(-struct.unpack_from("i", data, 16)[0], "generic netlink request")
    out, off = {}, 20
    while off + 4 <= length:
        alen, akind = struct.unpack_from("HH", data, off)
        out[akind & 0x3FFF] = data[off + 4:off + alen]
        off += (alen + 3) & ~3
    return out


def xsk_bound(ifname):
    """Whether the kernel has an AF_XDP socket bound to receive queue 0 of
    ifname (netdev queue-get's xsk attribute); None when the kernel cannot
    say (no netdev family or no queue-get: older than Linux 6.8)."""
    try:
        return _queue_has_xsk(ifname)
    except OSError as e:
        print(f"note: netdev queue-get: {e}")
        return None


def _queue_has_xsk(ifname):
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC) as s:
        fam = _genl(s, GENL_ID_CTRL, CTRL_CMD_GETFAMILY,
                    _nlattr(CTRL_ATTR_FAMILY_NAME, b"netdev\0"))[CTRL_ATTR_FAMILY_ID]
        q = _genl(s, struct.unpack("H", fam[:2])[0], NETDEV_CMD_QUEUE_GET,
                  _nlattr(NETDEV_A_QUEUE_IFINDEX, struct.pack("I", socket.if_nametoindex(ifname))) +
                  _nlattr(NETDEV_A_QUEUE_TYPE, struct.pack("I", NETDEV_QUEUE_TYPE_RX)) +
                  _nlattr(NETDEV_A_QUEUE_ID, struct.pack("I", 0)))
    return NETDEV_A_QUEUE_XSK in q


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
                    [marker(b.ends["w0"], v) for v in (10, 20, 30, 31)])
    streams = {vm: sorted({s for _, s, _ in f}) for vm, f in got.items()}
    expect(streams == {"va": [1], "vb": [2], "vt": [3, 4]},
           f"{what}: each VM gets exactly its slice's VLANs ({streams})")
    for vm, stream, tag in (("va", 1, None), ("vb", 2, None), ("vt", 3, 30), ("vt", 4, 31)):
        frames = [(v, q) for v, s, q in got[vm] if s == stream]
        expect(frames == [(tag, q) for q in range(rounds)],
               f"{what}: VLAN {VLANS_SENT[stream]} reaches {vm} complete, in order, "
               f"{'untagged' if tag is None else 'tagged ' + str(tag)}")


def main():
    # Two af_xdp opens over the run (and room to spare): each takes 2048
    # mbufs for its fill ring and DPDK 22.11 keeps them when the port is
    # closed.
    with Bench(["w0", "va", "vb", "vt"], name="afxdp", mbufs=16383) as b:
        inner = b.ifnames["w0"][0]
        devargs = f"net_af_xdp0,iface={inner}"
        b.ok(op="port-add", name="w0", devargs=devargs, role="wire")
        link = run("ip", "link", "show", inner).stdout
        mode = "native" if " xdp " in link else "generic" if "xdpgeneric" in link else None
        expect(mode is not None and "prog/xdp" in link,
               f"net_af_xdp attached an XDP program to {inner} ({mode} mode)")
        # Kernels whose queue-get has no xsk attribute say False here; they
        # cannot tell when the queue is released either (below).
        kernel_tells = xsk_bound(inner)
        print(f"the kernel reports an AF_XDP socket on {inner}'s queue 0: {kernel_tells}")
        info = b.ethdev_info("net_af_xdp0")
        expect(info["nb_rx_queues"] == 1 and info["rxq_state"] == [1],
               f"w0's device runs one receive queue, started ({info['rxq_state']})")
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
        # and the 4 markers of check_split, each sent twice (recv_many)
        expect(st["ports"]["w0"]["device"]["ipackets"] == len(VLANS_SENT) * ROUNDS + 8 and
               st["ports"]["w0"]["device"]["imissed"] == 0,
               "the AF_XDP socket received every frame and missed none")

        for seq in range(ROUNDS):
            b.ends["va"].send(frame(None, 10, seq))
            b.ends["vb"].send(frame(None, 11, seq))
            b.ends["vt"].send(frame(31, 12, seq))
        wire = b.ends["w0"].recv_all([marker(b.ends[vm], v)
                                      for vm, v in (("va", None), ("vb", None), ("vt", 31))])
        for stream, tag in ((10, 10), (11, 20), (12, 31)):
            expect([(v, q) for v, s, q in wire if s == stream] == [(tag, q) for q in range(ROUNDS)],
                   f"VM stream {stream} leaves by AF_XDP tagged {tag}, complete and in order")

        # Full-size frames both ways: the mbufs (2176 bytes, 1792 of them
        # left for the frame after the UMEM's headrooms) hold 1518 bytes.
        b.ends["w0"].send(full_size(10, 1, 0))
        b.ends["va"].send(full_size(None, 10, 1))
        got = b.ends["va"].recv_all([marker(b.ends["w0"], 10)])
        expect([f[:2] for f in got] == [(None, 1)], "a 1518-byte tagged frame reaches the VM popped")
        got = b.ends["w0"].recv_all([marker(b.ends["va"])])
        expect([f[:2] for f in got] == [(10, 10)], "a 1514-byte VM frame leaves tagged")
        lens = b.stats()["slices"]["acc10"]
        # Besides: 2 rounds of markers to va, each time 60 bytes popped,
        # and 2 from va, each time 64 bytes pushed.
        expect(lens["to_vm_bytes"] == ROUNDS * 60 + 1514 + 4 * 60 and
               lens["to_wire_bytes"] == ROUNDS * 64 + 1518 + 4 * 64,
               "slice byte counters count the popped and pushed sizes")

        # Delete and add again on the same netdev. The kernel lets go of the
        # netdev queue a moment after its socket is closed (an RCU grace
        # period, then a work item; port-del waits 100 ms for it): the test
        # waits until the kernel says the queue is free, then adds once.
        b.ok(op="slice-del", name="acc10")
        b.ok(op="slice-del", name="acc20")
        b.ok(op="slice-del", name="trunk")
        b.ok(op="port-del", name="w0")
        expect("prog/xdp" not in run("ip", "link", "show", inner).stdout,
               "port-del removed the XDP program")
        # A kernel that cannot tell gets bounded retries instead, each
        # costing 2048 mbufs.
        attempts = 1
        if kernel_tells:
            deadline = time.monotonic() + 20
            while xsk_bound(inner) and time.monotonic() < deadline:
                time.sleep(0.01)
            expect(not xsk_bound(inner), f"the kernel released {inner}'s queue 0")
        else:
            attempts = 3
        for attempt in range(attempts):
            reply = b.request(op="port-add", name="w0", role="wire",
                              devargs=devargs + ",force_copy=1,busy_budget=0")
            if reply["ok"] or attempt + 1 == attempts:
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
