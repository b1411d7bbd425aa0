"""dpdk suite: evr-vmm's vhost-user frontend (vmm/vhost_user.c) against the
real backend, evr-vswitch's VM port (DPDK's vhost library as the client).
The VM is stood in for by vhost_net_driver: memfd guest memory with split
virtqueues in both RAM regions, bridged to a veth so the test sends and
receives the VM's frames. Proves: the vswitch connects to the frontend's
socket and negotiates; a VLAN 300 access slice reaches the VM with its tag
popped and other VLANs do not; the VM's frames reach the wire tagged 300;
after the vswitch is killed with SIGKILL the frontend sees the link drop,
a fresh vswitch reconnects, the frontend gives it the same rings and
traffic flows both ways again; every queue stopped with GET_VRING_BASE and
started again from the index returned carries traffic on; the driver is
killed and a new one on the same socket path is reconnected to by the
vswitch. Then the same with two queue pairs (each transmit queue carrying
frames), and pair 1 disabled with SET_VRING_ENABLE 0 (what evr-vmm sends
for a guest's VQ_PAIRS_SET 1): the vswitch takes nothing from its transmit
ring while pair 0 carries on, and once enabled again the frames held there
come out, in order."""

import os
import signal
import subprocess
import sys
import time

from vslab import Bench, expect, frame, marker, skip, stop_process
from test_vhost import ROUNDS, exchange, wait_path


class Driver:
    """vhost_net_driver on the inner end of the vmnet veth; its output goes
    to a log file that wait_line() follows."""

    def __init__(self, b, binary, sock, queue_pairs, tag=""):
        self.log_path = os.path.join(b.tmp.name, f"driver-{queue_pairs}{tag}.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [binary, "--socket", sock, "--iface", b.ifnames["vmnet"][0],
             "--queue-pairs", str(queue_pairs)],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.reader = open(self.log_path)
        self.lines = []
        self.partial = ""

    def _read(self):
        self.partial += self.reader.read()
        *done, self.partial = self.partial.split("\n")
        for line in done:
            print(f"driver: {line}")
            self.lines.append(line)
        return done

    def wait_line(self, prefix, limit=30.0):
        """The next line of the driver that starts with prefix, or None
        after limit seconds or if the driver ended."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            for line in self._read():
                if line.startswith(prefix):
                    return line
            if self.proc.poll() is not None:
                self._read()
                return None
            time.sleep(0.05)
        return None

    def stop(self):
        stop_process(self.proc)
        self.log.close()
        self._read()
        self.reader.close()
        return self.proc.returncode


def configure(b, sock, queue_pairs):
    b.add_port("w0", "wire")
    b.ok(op="port-add", name="vm-a", role="vm",
         devargs=f"net_vhost0,iface={sock},client=1,queues={queue_pairs}")
    b.ok(op="slice-set", name="s300", uplink="w0", vm="vm-a", mode="access", vlans=[300])


def second_pair(b, label):
    """exchange() sends the VM's frames with source MAC ...:01, which the
    driver puts on queue pair 1; these (...:02) take queue pair 0."""
    for seq in range(ROUNDS):
        b.ends["vmnet"].send(frame(None, 5, seq, mac_src=2))
    back = b.ends["w0"].recv_all([marker(b.ends["vmnet"], mac_src=2)])
    expect([q for v, s, q in back if s == 5] == list(range(ROUNDS)) and
           all(v == 300 for v, s, _ in back if s == 5),
           f"{label}: frames on the other queue pair reach the wire tagged 300, in order")


def idle_pair(b, drv, label):
    """Pair 1 disabled: frames the driver puts on it stay there (DPDK's vhost
    library does not dequeue a disabled ring) while pair 0 carries on; pair 1
    enabled again: they come out in order."""
    drv.proc.send_signal(signal.SIGUSR2)
    expect(drv.wait_line("pairs in use: 1") is not None, f"{label}: pair 1 disabled")
    for seq in range(ROUNDS):
        b.ends["vmnet"].send(frame(None, 6, seq, mac_src=1))
    held = b.ends["w0"].recv_all([marker(b.ends["vmnet"], mac_src=2)])
    expect(not [q for v, s, q in held if s == 6],
           f"{label}: nothing leaves a disabled queue pair ({len(held)} frames seen)")
    second_pair(b, f"{label}, pair 1 disabled")
    drv.proc.send_signal(signal.SIGUSR2)
    expect(drv.wait_line("pairs in use: 2") is not None, f"{label}: pair 1 enabled again")
    back = b.ends["w0"].recv_all([marker(b.ends["vmnet"], mac_src=1)])
    expect([q for v, s, q in back if s == 6] == list(range(ROUNDS)),
           f"{label}: the frames held in pair 1 come out once it is enabled, in order")
    exchange(b, f"{label}, pair 1 enabled again")


def restart_queues(b, drv, queue_pairs):
    """The driver stops every queue (GET_VRING_BASE) and starts it again from
    the index the vswitch gave back; traffic must flow on."""
    drv.proc.send_signal(signal.SIGUSR1)
    line = drv.wait_line("queues restarted")
    expect(line is not None and "error" not in line,
           f"{queue_pairs}qp: every queue stopped and started again")
    bases = {}
    for item in line.split(":", 1)[1].split():
        q, rest = item.split(":")
        base, avail = rest.split("/")
        bases[int(q)] = (int(base), int(avail))
    # A transmit queue is idle by now: the backend took every buffer made
    # available, so its base is the driver's avail index.
    expect(all(bases[q][0] == bases[q][1] and bases[q][0] > 0
               for q in range(1, 2 * queue_pairs, 2)),
           f"{queue_pairs}qp: GET_VRING_BASE of each transmit queue is its avail index ({bases})")
    expect(bases[0][0] > 0, f"{queue_pairs}qp: the receive queue's base counts what it received")
    expect(wait_path(b, drv, 97), f"{queue_pairs}qp, restarted queues: traffic reaches the VM")
    exchange(b, f"{queue_pairs}qp, restarted queues")
    if queue_pairs > 1:
        second_pair(b, f"{queue_pairs}qp, restarted queues")


def kill_vswitch(b):
    """SIGKILL: the backend vanishes without closing anything itself."""
    b.ctl.close()
    b.proc.send_signal(signal.SIGKILL)
    b.proc.wait(timeout=20)
    b.log.close()
    os.unlink(b.sock_path)  # a fresh start must not find the dead one's socket


def check_stopped(drv, label):
    """A driver's clean end: status 0, no backend refused, no error, and
    every transmit queue carried frames."""
    rc = drv.stop()
    expect(rc == 0, f"{label}: the driver stopped cleanly (status {rc})")
    stopped = [line for line in drv.lines if line.startswith("stopped")]
    per_pair = [int(n) for n in stopped[-1].split(":")[-1].split()] if stopped else []
    expect(per_pair and all(per_pair), f"{label}: every transmit queue carried frames ({per_pair})")
    expect(not [line for line in drv.lines if line.startswith(("refused", "error"))],
           f"{label}: no backend was refused and no error was seen")


def run(b, binary, queue_pairs):
    label = f"{queue_pairs}qp"
    sock = os.path.join(b.tmp.name, f"vm-{queue_pairs}.sock")
    drv = Driver(b, binary, sock, queue_pairs)
    try:
        expect(drv.wait_line("listening") is not None, f"{label}: the frontend listens")
        for life in range(2):
            configure(b, sock, queue_pairs)
            up = drv.wait_line("link up")
            expect(up is not None and f"connection {life + 1}," in up and
                   f"queue pairs {queue_pairs}" in up,
                   f"{label}, vswitch {life + 1}: the backend connected and negotiated "
                   f"{queue_pairs} queue pair(s)")
            expect(wait_path(b, drv, 90 + life),
                   f"{label}, vswitch {life + 1}: wire traffic reaches the VM's rings")
            exchange(b, f"{label}, vswitch {life + 1}")
            if queue_pairs > 1:
                second_pair(b, f"{label}, vswitch {life + 1}")
                idle_pair(b, drv, f"{label}, vswitch {life + 1}")
            if life == 0:
                kill_vswitch(b)
                down = drv.wait_line("link down")
                expect(down is not None, f"{label}: the frontend saw the SIGKILL as a "
                       f"link down ({down})")
                b._start_vswitch()
        restart_queues(b, drv, queue_pairs)
        expect(drv.proc.poll() is None, f"{label}: the driver is still running")
        # The VM side dies: the vswitch keeps its port and reconnects to the
        # next frontend on the same path (the dead one's socket replaced).
        drv.proc.kill()
        drv.stop()
    finally:
        if drv.proc.poll() is None:
            drv.stop()
    expect(not [line for line in drv.lines if line.startswith(("refused", "error"))],
           f"{label}: no backend was refused and no error was seen")
    drv = Driver(b, binary, sock, queue_pairs, tag="-restarted")
    try:
        up = drv.wait_line("link up")
        expect(up is not None and "connection 1," in up,
               f"{label}, VM restart: the vswitch reconnected to the new frontend")
        expect(wait_path(b, drv, 98), f"{label}, VM restart: wire traffic reaches the VM's rings")
        exchange(b, f"{label}, VM restart")
        if queue_pairs > 1:
            second_pair(b, f"{label}, VM restart")
    finally:
        check_stopped(drv, f"{label}, VM restart")


def main():
    binary = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("EVR_VHOST_DRIVER")
    if not binary:
        raise SystemExit("usage: test_vmm_vhost.py EVR-VSWITCH VHOST-NET-DRIVER")
    if os.geteuid() != 0:
        skip("needs root (network namespaces, veth, DPDK)")
    with Bench(["w0", "vmnet"], name="vmmvu") as b:
        run(b, binary, 1)
    with Bench(["w0", "vmnet"], name="vmmvu2") as b:
        run(b, binary, 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
