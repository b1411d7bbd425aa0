"""dpdk suite: a VM port over vhost-user, with real DPDK on both sides. The
vswitch serves the vhost-user socket (net_vhost); the VM is stood in for by
a second DPDK process, dpdk-testpmd with a virtio_user port (the same
virtio-net driver logic a guest runs) io-forwarding to a pcap port on a
veth, so the test sees what the "VM" received and can send as the VM.
Proves: a slice reaches a vhost-user VM port with its tag popped, other
VLANs do not, the VM's frames reach the wire with the tag pushed, the VM
side can go away and come back (VM restart) on the same socket (vswitch as
vhost-user server), and the vswitch can restart while the VM stays up
(vswitch as vhost-user client, reconnecting)."""

import os
import stat
import shutil
import subprocess
import sys
import time

from vslab import Bench, die_with_parent, expect, frame, marker, skip, stop_process

ROUNDS = 40


class FakeVm:
    """dpdk-testpmd: virtio_user on the vhost-user socket <-> af_packet."""

    def __init__(self, b, sock, iface, tag, server=False):
        testpmd = shutil.which("dpdk-testpmd")
        if not testpmd:
            skip("dpdk-testpmd not found (Debian package dpdk-dev)")
        self.log_path = os.path.join(b.tmp.name, f"vm-{tag}.log")
        # Both lcores on CPU 0: the vswitch's worker has CPU 1.
        cmd = [testpmd, "--no-huge", "-m", "256", "--lcores", "0@0,1@0", "--main-lcore", "0",
               "--no-pci", "--file-prefix", f"{b.prefix}vm{tag}", "--log-level", "*:warning",
               "--vdev", f"virtio_user0,path={sock},queues=1{',server=1' if server else ''}",
               # net_pcap, not net_af_packet: af_packet's fanout group id is
               # pid ^ ifindex, which can collide with the vswitch's own.
               "--vdev", f"net_pcap0,rx_iface_in={iface},tx_iface={iface}",
               # Link-state interrupts stay on: virtio_user reconnects from them.
               "--", "--forward-mode=io", "--nb-cores=1", "--total-num-mbufs=4096",
               "--stats-period=1"]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)

    def stop(self):
        stop_process(self.proc)
        self.log.close()


def wait_path(b, vm, stream):
    """Sends probes from the wire until one reaches the VM's far side; the
    vhost-user link comes up a moment after the VM process starts."""
    deadline = time.monotonic() + 30
    seq = 0
    while time.monotonic() < deadline:
        b.ends["w0"].send(frame(300, stream, seq))
        seq += 1
        if b.ends["vmnet"].wait_any(0.3):
            # Probes still on their way come before this marker: none of
            # them is left to turn up among the test's frames.
            b.ends["vmnet"].recv_all([marker(b.ends["w0"], 300)])
            return True
        if vm.proc.poll() is not None:
            break
    print(open(vm.log_path).read())
    return False


def exchange(b, label):
    """Wire <-> VM both ways on the VLAN 300 access slice."""
    for seq in range(ROUNDS):
        b.ends["w0"].send(frame(300, 1, seq))
        b.ends["w0"].send(frame(301, 2, seq))
        b.ends["w0"].send(frame(None, 3, seq))
    got = b.ends["vmnet"].recv_all([marker(b.ends["w0"], 300)])
    expect([q for v, s, q in got if s == 1] == list(range(ROUNDS)) and
           all(v is None for v, s, _ in got if s == 1),
           f"{label}: VLAN 300 arrives complete, in order, tag popped")
    expect(not [s for _, s, _ in got if s != 1],
           f"{label}: VLAN 301 and untagged frames do not reach it")
    for seq in range(ROUNDS):
        b.ends["vmnet"].send(frame(None, 4, seq))
    back = b.ends["w0"].recv_all([marker(b.ends["vmnet"])])
    expect([q for v, s, q in back if s == 4] == list(range(ROUNDS)) and
           all(v == 300 for v, s, _ in back if s == 4),
           f"{label}: the VM's frames reach the wire tagged 300, in order")


def configure(b, sock, client):
    b.add_port("w0", "wire")
    devargs = f"net_vhost0,iface={sock}" + (",client=1" if client else "")
    b.ok(op="port-add", name="vm-a", devargs=devargs, role="vm")
    b.ok(op="slice-set", name="s300", uplink="w0", vm="vm-a", mode="access", vlans=[300])


def vswitch_restart(b):
    """vhost-user client mode: the VM (virtio_user as the socket server)
    stays up while the vswitch restarts and reconnects."""
    sock = os.path.join(b.tmp.name, "vm-b.sock")
    vm = FakeVm(b, sock, b.ifnames["vmnet"][0], "srv", server=True)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.05)
        for life in range(2):
            if life:
                b.restart_vswitch()
            configure(b, sock, client=True)
            expect(wait_path(b, vm, 95 + life),
                   f"vswitch start {life + 1}: reconnects to the running VM")
            exchange(b, f"vswitch start {life + 1}")
    finally:
        vm.stop()


def main():
    with Bench(["w0", "vmnet"], name="vhost") as b:
        sock = os.path.join(b.tmp.name, "vm-a.sock")
        configure(b, sock, client=False)
        mode = os.stat(sock).st_mode
        expect(stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600,
               f"the vhost-user socket is 0600 (it is {stat.S_IMODE(mode):o})")
        expect(b.wait_link("vm-a", False, limit=0),
               "the VM port's link is down in the dump before a VM connects")
        for life in range(2):
            vm = FakeVm(b, sock, b.ifnames["vmnet"][0], life)
            try:
                expect(wait_path(b, vm, 90 + life),
                       f"VM start {life + 1}: traffic reaches the VM over vhost-user")
                expect(b.wait_link("vm-a", True),
                       f"VM start {life + 1}: the VM port's link is up in the dump")
                exchange(b, f"VM start {life + 1}")
            finally:
                vm.stop()
            expect(b.wait_link("vm-a", False),
                   f"VM stop {life + 1}: the VM port's link is down in the dump")
        st = b.stats_when(lambda st: st["ports"]["w0"]["drops"]["no_slice"] >= 2 * 2 * ROUNDS)
        expect(st["ports"]["w0"]["drops"]["no_slice"] >= 2 * 2 * ROUNDS,
               "the unmatched frames were counted as no_slice drops")
        b.restart_vswitch()
        vswitch_restart(b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
