"""dpdk suite: evrd and evr end to end on the host, with the real vswitch.

evrd starts evr-vswitch (EAL --no-huge) for an appliance of two wire ports
(veth pairs whose far ends are the test's) and two VMs with two network
ports each; every VM port is stood in for by vhost_net_driver (evr-vmm's
vhost-user frontend bridged to a veth the test reads), as evr-vmm will
serve it. Everything is driven through the `evr` command line (-j), as an
operator or a script would. Proves:
  - evr split gives a whole port (every VLAN, untagged too) and a VLAN range
    to the VMs, and traffic follows both ways; other VLANs go nowhere;
  - a conflicting split is refused with exit 3 naming the owner, and changes
    nothing; --dry-run prints the plan and changes nothing;
  - evr move of a whole port while frames flow: every frame sent after the
    reply reaches the new owner, none is lost;
  - kill -9 of evrd while moves are being made, at three instants: the
    restarted evrd adopts the same vswitch, its partition is the old or the
    new one, and traffic goes where it says;
  - kill -9 of the vswitch: evrd starts another and traffic comes back;
  - SIGTERM stops evrd with status 0 and leaves the vswitch running.

evrd runs the vswitch in its own session (an evrd crash must not take the
data plane down), so the test kills it itself at the end, and at its start
kills the vswitches of earlier runs whose test is gone."""

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

from vslab import Bench, expect, frame, marker, pid_gone, recv_many, skip

VM_LINKS = ["a0", "a1", "b0", "b1"]  # vm-a.0, vm-a.1, vm-b.0, vm-b.1


def reap_old_vswitches():
    """vswitches started by evrd for a test that is gone (--file-prefix evrtPID)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        for i, word in enumerate(cmd[:-1]):
            m = re.fullmatch(rb"evrt(\d+)evrd", cmd[i + 1]) if word == b"--file-prefix" else None
            if m and pid_gone(m.group(1)):
                os.kill(int(pid), signal.SIGKILL)


class EvrdBench(Bench):
    """A Bench whose vswitch evrd starts, not the bench."""

    def _start_vswitch(self):
        pass


class Lab:
    def __init__(self, b, evrd, evr, driver, vswitch):
        self.b, self.evrd_bin, self.evr_bin, self.vswitch = b, evrd, evr, vswitch
        self.run_dir = os.path.join(b.tmp.name, "run")
        self.control = os.path.join(b.tmp.name, "evrd.sock")
        self.appliance = os.path.join(b.tmp.name, "appliance.json")
        self.evrd = None
        self.evrd_logs = []
        os.makedirs(self.run_dir)
        with open(self.appliance, "w") as f:
            json.dump({
                "state_dir": os.path.join(b.tmp.name, "state"),
                "vswitch": {"cores": [0, 1], "memory": 256},
                "ports": [
                    {"name": "port0", "netdev": b.ifnames["w0"][0]},
                    {"name": "port1", "devargs": f"net_af_packet1,iface={b.ifnames['w1'][0]},framecnt=4096"},
                ],
                "vms": [{"name": n, "ports": 2, "cores": [c], "vmm": {"kernel": "/nonexistent"}}
                        for n, c in (("vm-a", 2), ("vm-b", 3))],
            }, f)
        self.drivers = {}
        for link in VM_LINKS:
            sock = os.path.join(self.run_dir, f"vm-{link[0]}.{link[1]}.sock")
            log = open(os.path.join(b.tmp.name, f"driver-{link}.log"), "w")
            self.drivers[link] = subprocess.Popen(
                [driver, "--socket", sock, "--iface", b.ifnames[link][0]],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def start_evrd(self):
        log = os.path.join(self.b.tmp.name, f"evrd-{len(self.evrd_logs)}.log")
        self.evrd_logs.append(log)
        self.evrd = subprocess.Popen(
            [self.evrd_bin, "--appliance", self.appliance, "--control", self.control,
             "--run-dir", self.run_dir, "--vswitch", self.vswitch, "--no-vms",
             "--vswitch-eal", f"--no-huge --no-pci --file-prefix {self.b.prefix}evrd "
                              "--log-level *:warning"],
            stdout=open(log, "w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.evrd.poll() is not None:
                raise AssertionError(f"evrd exited {self.evrd.returncode}:\n{open(log).read()}")
            if os.path.exists(self.control):
                st = self.evr("show", "vswitch", check=False)
                if st[0] == 0 and st[1]["vswitch"]["synced"]:
                    return st[1]["vswitch"]
            time.sleep(0.1)
        raise AssertionError(f"evrd never had the vswitch synced:\n{open(log).read()}")

    def evr(self, *args, check=True):
        """Runs evr -j ARGS; returns (status, reply or None, stderr)."""
        p = subprocess.run([self.evr_bin, "-j", "-s", self.control, *args],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        reply = json.loads(p.stdout) if p.stdout.strip() else None
        if check and p.returncode != 0:
            raise AssertionError(f"evr {' '.join(args)}: status {p.returncode}: {p.stderr}")
        return p.returncode, reply, p.stderr

    def owners(self):
        """{slice: (vm, vm_port)} as evrd shows it."""
        _, reply, _ = self.evr("show")
        return {h["slice"]: (h["vm"], h.get("vm_port")) for h in reply["partition"]}

    def vswitch_pid(self):
        return self.evr("show", "vswitch")[1]["vswitch"]["pid"]

    def close(self):
        pid = 0
        if self.evrd and self.evrd.poll() is None:
            try:
                pid = self.vswitch_pid()
            except Exception:
                pass
            self.evrd.kill()
            self.evrd.wait()
        for p in self.drivers.values():
            p.kill()
            p.wait()
        for proc_pid in [pid] if pid else []:
            try:
                os.kill(proc_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        reap_old_vswitches_of(self.b.prefix)


def reap_old_vswitches_of(prefix):
    """The vswitch of this bench, whoever started it (evrd restarts it)."""
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if f"{prefix}evrd".encode() in cmd and "--file-prefix".encode() in cmd:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass


def reaches(b, src, vlan, dests, stream, count=20, via=None):
    """Sends count frames from src on vlan; returns {dest: [seq...]} of what
    each of dests received (ends are drained of other streams), read until a
    marker from src came through behind them: on vlan, or on via (a VLAN of
    src that one of dests owns) when vlan is to reach none of them."""
    for seq in range(count):
        b.ends[src].send(frame(vlan, stream, seq))
    received = recv_many([b.ends[d] for d in dests],
                         [marker(b.ends[src], vlan if via is None else via)])
    got = {}
    for d in dests:
        frames = received[d]
        got[d] = [q for v, s, q in frames if s == stream and v == vlan]
        other = [(v, s) for v, s, q in frames if s == stream and v != vlan]
        if other:
            print(f"{d} got stream {stream} with another tag: {other[:3]}")
    return got


def wait_reaches(b, src, vlan, dest, others, stream, label):
    """Probes until traffic from src on vlan reaches dest (a vhost link comes
    up a moment after a port is added), then checks a full round."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        b.ends[src].send(frame(vlan, stream + 1000, 0))
        if b.ends[dest].wait_any(0.5):
            break
    for e in [dest, *others]:
        b.ends[e].drain()
    got = reaches(b, src, vlan, [dest, *others], stream)
    expect(got[dest] == list(range(20)) and not any(got[o] for o in others),
           f"{label}: {src} VLAN {vlan} reaches {dest} only, complete and in order "
           f"({ {k: len(v) for k, v in got.items()} })")


def main():
    if os.geteuid() != 0:
        skip("needs root (network namespaces, veth, DPDK)")
    if len(sys.argv) < 5:
        raise SystemExit("usage: test_evrd.py EVR-VSWITCH EVRD EVR VHOST-NET-DRIVER")
    vswitch, evrd, evr, driver = map(os.path.abspath, sys.argv[1:5])
    reap_old_vswitches()
    with EvrdBench(["w0", "w1", *VM_LINKS], name="evrd") as b:
        lab = Lab(b, evrd, evr, driver, vswitch)
        try:
            run(b, lab)
        finally:
            lab.close()
    return 0


def run(b, lab):
    vs = lab.start_evrd()
    expect(vs["pid"] > 0, f"evrd started the vswitch (pid {vs['pid']})")

    rc, reply, _ = lab.evr("split", "port0", "vm-a")
    expect(reply["changed"] and reply["generation"] == 1, "split port0 vm-a: generation 1")
    rc, reply, _ = lab.evr("split", "port1.100-199", "vm-b")
    expect(reply["generation"] == 2, "split port1.100-199 vm-b: generation 2")
    expect(lab.owners() == {"port0": ("vm-a", 0), "port1.100-199": ("vm-b", 0)},
           "evr show: port0 on vm-a's port 0, port1.100-199 on vm-b's port 0")
    wait_reaches(b, "w0", None, "a0", ["a1", "b0", "b1"], 1, "whole port")
    wait_reaches(b, "w0", 7, "a0", ["a1", "b0", "b1"], 2, "whole port")
    wait_reaches(b, "w1", 150, "b0", ["a0", "a1", "b1"], 3, "VLAN slice")
    got = reaches(b, "w1", 250, VM_LINKS, 4, via=150)
    expect(not any(got.values()), "port1 VLAN 250 belongs to nobody and reaches no VM")
    got = reaches(b, "a0", 9, ["w0", "w1"], 5)
    expect(got["w0"] == list(range(20)) and not got["w1"],
           f"vm-a's frames leave on port0 only, tagged as sent ({ {k: len(v) for k, v in got.items()} })")

    rc, _, err = lab.evr("split", "port0", "vm-b", check=False)
    expect(rc == 3 and "port0 is vm-a's" in err, f"a conflicting split: exit 3, names the owner ({err.strip()})")
    rc, _, err = lab.evr("split", "port9", "vm-b", check=False)
    expect(rc == 2 and "no such port" in err, f"a port the appliance lacks: exit 2 ({err.strip()})")
    rc, reply, _ = lab.evr("move", "port0", "vm-b", "--dry-run")
    expect(reply["dry_run"] and [r["op"] for r in reply["plan"]] == ["slice-set"],
           "move --dry-run: the plan is one slice-set")
    expect(lab.owners()["port0"] == ("vm-a", 0), "the dry run changed nothing")
    # options after the slices and the VM, as man/evr.8 writes them
    rc, reply, err = lab.evr("split", "port1.300", "vm-a", "--vm-port", "1", "--dry-run", check=False)
    expect(rc == 0 and reply["dry_run"] and
           ("port1.300", "vm-a", 1) in [(h["slice"], h["vm"], h.get("vm_port")) for h in reply["partition"]],
           f"split port1.300 vm-a --vm-port 1 -n: options may follow the VM ({rc}, {err.strip()})")

    move_under_traffic(b, lab)
    kill_evrd_during_moves(b, lab)

    old = lab.vswitch_pid()
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        st = lab.evr("show", "vswitch")[1]["vswitch"]
        if st["synced"] and st["pid"] not in (0, old):
            break
        time.sleep(0.2)
    expect(st["synced"] and st["pid"] != old and st["restarts"] >= 1,
           f"kill -9 of the vswitch: evrd started another (pid {st['pid']}) and synced it")
    owner_link = {"vm-a": "a", "vm-b": "b"}
    vm, k = lab.owners()["port0"]
    wait_reaches(b, "w0", None, f"{owner_link[vm]}{k}", [l for l in VM_LINKS if l != f"{owner_link[vm]}{k}"],
                 60, "after the vswitch restart")
    _, ev, _ = lab.evr("show", "vswitch")
    pid = ev["vswitch"]["pid"]
    lab.evrd.send_signal(signal.SIGTERM)
    rc = lab.evrd.wait(timeout=30)
    expect(rc == 0 and not os.path.exists(lab.control),
           "SIGTERM: evrd exits 0 and removes its socket")
    expect(os.path.exists(f"/proc/{pid}"), "the vswitch keeps running after evrd stops")


def move_under_traffic(b, lab):
    """Frames flow on port0 at a steady pace while it moves from vm-a to
    vm-b: none is lost, and every one sent after the reply reaches vm-b."""
    sent = []
    stop = threading.Event()
    moved_at = []

    def sender():
        seq = 0
        while not stop.is_set():
            b.ends["w0"].send(frame(None, 40, seq))
            sent.append((seq, time.monotonic()))
            seq += 1
            time.sleep(0.002)

    for e in VM_LINKS:
        b.ends[e].drain()
    t = threading.Thread(target=sender)
    t.start()
    time.sleep(0.5)
    lab.evr("move", "port0", "vm-b")
    moved_at.append(time.monotonic())
    time.sleep(0.5)
    stop.set()
    t.join()
    received = recv_many([b.ends[e] for e in VM_LINKS], [marker(b.ends["w0"])])
    got = {e: [q for v, s, q in received[e] if s == 40] for e in VM_LINKS}
    after = [q for q, when in sent if when > moved_at[0]]
    expect(lab.owners()["port0"] == ("vm-b", 1), "port0 is now on vm-b's port 1")
    expect(sorted(got["a0"] + got["b1"]) == [q for q, _ in sent] and not got["a1"] and not got["b0"],
           f"the move lost no frame ({len(sent)} sent, {len(got['a0'])} to vm-a, "
           f"{len(got['b1'])} to vm-b)")
    expect(after and set(after) <= set(got["b1"]),
           f"all {len(after)} frames sent after the reply reached vm-b")


def kill_evrd_during_moves(b, lab):
    """A client moves port0 back and forth; evrd is killed with SIGKILL at a
    random instant, three times. Each restart adopts the same vswitch and
    serves a partition that is the old or the new one, which traffic then
    follows."""
    rng = random.Random(os.getpid())
    vswitch = lab.vswitch_pid()
    link = {("vm-a", 0): "a0", ("vm-b", 1): "b1", ("vm-a", 1): "a1", ("vm-b", 0): "b0"}
    for round_ in range(3):
        stop = threading.Event()

        def mover():
            targets = ["vm-a", "vm-b"]
            i = 0
            while not stop.is_set():
                lab.evr("move", "port0", targets[i % 2], check=False)
                i += 1

        t = threading.Thread(target=mover)
        t.start()
        time.sleep(0.3 + rng.random() * 0.7)
        lab.evrd.kill()
        lab.evrd.wait()
        stop.set()
        t.join()
        st = lab.start_evrd()
        expect(st["pid"] == vswitch, f"kill -9 of evrd, round {round_ + 1}: the restarted evrd "
               "adopted the running vswitch")
        owner = lab.owners()["port0"]
        expect(owner in (("vm-a", 0), ("vm-b", 1)), f"round {round_ + 1}: port0 is whole, on {owner}")
        dest = link[owner]
        wait_reaches(b, "w0", None, dest, [l for l in VM_LINKS if l != dest], 50 + round_,
                     f"round {round_ + 1}: the vswitch carries what evrd says")


if __name__ == "__main__":
    sys.exit(main())
