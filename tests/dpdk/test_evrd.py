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
  - evr join of both ports into one balance LAG of vm-a: flows from the VM
    hashed over both members (each flow on one, in order), receive merged,
    `evr show` with the members' link state; when a member's far end goes
    down every flow moves to the other and nothing is lost, and `evr
    monitor` shows the link going down and up; a move of one
    member, a VLAN of a member and another VM's join are refused (exit 3,
    naming the LAG or owner) and change nothing; the whole LAG moves;
  - evr -b: a batch that takes a member out of the LAG and gives it to
    another VM is one change; one whose line 3 is refused changes nothing
    and names the line; evr vm console of a VM not running is refused;
  - SIGTERM stops evrd with status 0 and leaves the vswitch running.

evrd runs the vswitch in its own session (an evrd crash must not take the
data plane down), so the test kills it itself at the end, and at its start
kills the vswitches of earlier runs whose test is gone."""

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time

from vslab import (FLOWS, Bench, collect, expect, expect_hashed, frame, marker, pid_gone,
                   recv_many, send_flows, skip)

VM_LINKS = ["a0", "a1", "b0", "b1"]  # vm-a.0, vm-a.1, vm-b.0, vm-b.1
# Frames per flow sent from a VM stand-in at once: its transmit queue has
# 256 entries and drops when full, as a NIC would (vhost_net_driver.c), so
# the flows and their markers (FLOWS each) must fit in it.
VM_PER_FLOW = 2


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
    # the counters behind that traffic, and one VM's view
    _, st, _ = lab.evr("show", "stats")
    sl = st["stats"]["slices"]
    expect(sl.get("port0", {}).get("uplink") == "port0" and sl["port0"].get("vm_port") == "vm-a.0"
           and sl["port0"]["to_vm_packets"] >= 40 and sl["port0"]["to_wire_packets"] >= 20
           and sl.get("port1.vm-b", {}).get("to_vm_packets", 0) >= 20,
           f"evr show stats: each slice's counters with its uplink and VM port "
           f"({ {k: (v.get('vm_port'), v['to_vm_packets'], v['to_wire_packets']) for k, v in sl.items()} })")
    _, vm, _ = lab.evr("show", "vm", "vm-a")
    ports = vm["vm"]["ports"]
    expect([(p["name"], p["link"], p["carries"]) for p in ports] == [("vm-a.0", "up", ["port0"]),
                                                                       ("vm-a.1", "down", [])],
           f"evr show vm vm-a: port 0 up with port0, port 1 down with nothing ({ports})")
    table = subprocess.run([lab.evr_bin, "-s", lab.control, "show", "stats"], stdout=subprocess.PIPE,
                           text=True).stdout
    expect("port1.vm-b" in table and "TO VM PKTS" in table, "evr show stats (the table) lists the slices")

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
    lags(b, lab)
    batches(b, lab)

    _, ev, _ = lab.evr("show", "vswitch")
    pid = ev["vswitch"]["pid"]
    lab.evrd.send_signal(signal.SIGTERM)
    rc = lab.evrd.wait(timeout=30)
    expect(rc == 0 and not os.path.exists(lab.control),
           "SIGTERM: evrd exits 0 and removes its socket")
    expect(os.path.exists(f"/proc/{pid}"), "the vswitch keeps running after evrd stops")


def lag_links(lab):
    """{member: link} of the one LAG evr show lists."""
    lags_ = lab.evr("show")[1]["lags"]
    return {m["port"]: m["link"] for m in lags_[0]["members"]} if lags_ else {}


def wait_links(lab, want):
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if lag_links(lab) == want:
            return True
        time.sleep(0.1)
    return False


def wait_events(events, kind, n):
    """Whether n events of kind came (events is filled by a reader thread)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if len([e for e in events if e["kind"] == kind]) >= n:
            return True
        time.sleep(0.1)
    return False


def lags(b, lab):
    """Both wire ports joined into one balance LAG of vm-a (on its port 0):
    flows over both members, receive merged, failover when a member's far
    end goes down; refusals; the whole LAG moved to vm-b."""
    lab.evr("free", "port0-1")
    expect(lab.owners() == {}, "evr free port0-1: nothing is given any more")
    _, reply, _ = lab.evr("join", "port0-1", "vm-a", "--lag", "balance", "-n")
    expect(reply["dry_run"] and [r["op"] for r in reply["plan"]] ==
           ["port-add", "port-add", "lag-set", "slice-set"] and lab.owners() == {},
           f"join --dry-run: the plan opens both ports, makes the LAG and its slice "
           f"({[r['op'] for r in reply['plan']]}); nothing changed")
    _, reply, _ = lab.evr("join", "port0-1", "vm-a", "--lag", "balance")
    expect(reply["partition"] == [{"slice": "port0-1", "vm": "vm-a", "mode": "vswitch", "vm_port": 0,
                                   "lag": "lag0", "lag_mode": "balance"}],
           f"evr join port0-1 vm-a --lag balance: one holding, lag0 on vm-a's port 0 "
           f"({reply['partition']})")
    expect(wait_links(lab, {"port0": "up", "port1": "up"}),
           f"evr show: lag0's members port0 and port1, both up ({lag_links(lab)})")
    others = ["a1", "b0", "b1"]
    wait_reaches(b, "w0", None, "a0", others, 70, "LAG member port0")
    wait_reaches(b, "w1", None, "a0", others, 72, "LAG member port1")
    wait_reaches(b, "w1", 300, "a0", others, 74, "LAG member port1, a tagged frame")

    for e in ("w0", "w1"):
        b.ends[e].drain()
    send_flows(b, "a0", 76, VM_PER_FLOW)
    got, tags = collect(b, "a0", ["w0", "w1"])
    expect(tags == {None}, "the VM's untagged frames leave the LAG untagged (a trunk)")
    expect_hashed(got, VM_PER_FLOW)

    monitor = subprocess.Popen([lab.evr_bin, "-j", "-s", lab.control, "monitor"],
                               stdout=subprocess.PIPE, text=True)
    events = []
    reader = threading.Thread(target=lambda: events.extend(json.loads(l) for l in monitor.stdout))
    reader.start()
    time.sleep(1)  # monitor's first call only learns where evrd's events are
    b.set_link("w1", False)
    expect(wait_links(lab, {"port0": "up", "port1": "down"}),
           f"port1's far end down: evr show says port1 down ({lag_links(lab)})")
    table = subprocess.run([lab.evr_bin, "-s", lab.control, "show"], stdout=subprocess.PIPE,
                           text=True, check=True).stdout
    expect("lag0" in table and "port0 up, port1 down" in table,
           "evr show (the table) lists lag0 with its members' links")
    b.ends["w0"].drain()
    send_flows(b, "a0", 78, VM_PER_FLOW)
    got, _ = collect(b, "a0", ["w0"])
    expect(set(got["w0"]) == set(range(FLOWS)) and
           all(got["w0"][f] == list(range(VM_PER_FLOW)) for f in got["w0"]),
           "failover: every flow leaves on port0 and nothing is lost")
    # evrd looks at the links once a second: the link stays down until the
    # monitor showed it
    expect(wait_events(events, "link", 1), "evr monitor showed a link event")
    b.set_link("w1", True)
    expect(wait_links(lab, {"port0": "up", "port1": "up"}), "port1 back up")
    wait_events(events, "link", 2)
    want = ["down (in vm-a's LAG lag0)", "up (in vm-a's LAG lag0)"]
    monitor.terminate()
    monitor.wait()
    reader.join()
    links = [(e["subject"], e["text"]) for e in events if e["kind"] == "link"]
    expect(links == [("port1", w) for w in want],
           f"evr monitor -j showed port1 going down and up again ({links})")
    # the test's socket on w1 holds ENETDOWN from the flap until read once
    b.ends["w1"].sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)

    before = lab.owners()
    for args, says in ((("move", "port1", "vm-b"), "port1 is in vm-a's LAG lag0 (port0-1)"),
                       (("split", "port1.100", "vm-b"), "port1 is vm-a's whole"),
                       (("join", "port0", "vm-b"), "port0 is vm-a's")):
        rc, _, err = lab.evr(*args, check=False)
        expect(rc == 3 and says in err, f"evr {' '.join(args)}: exit 3, '{err.strip()}'")
    expect(lab.owners() == before, "the refusals changed nothing")

    _, reply, _ = lab.evr("move", "port0-1", "vm-b")
    expect([r["op"] for r in reply["plan"]] == ["slice-set"] and
           lab.owners() == {"port0-1": ("vm-b", 0)},
           "evr move port0-1 vm-b: the whole LAG moves in one slice-set, to vm-b's port 0")
    wait_reaches(b, "w1", None, "b0", ["a0", "a1", "b1"], 80, "the moved LAG")


def batches(b, lab):
    """evr -b FILE: one transaction over several lines, or nothing."""
    good = os.path.join(lab.b.tmp.name, "good.evr")
    bad = os.path.join(lab.b.tmp.name, "bad.evr")
    with open(good, "w") as f:
        f.write("# port1 leaves the LAG for vm-a\nfree port1\n\nsplit port1 vm-a\n")
    with open(bad, "w") as f:
        f.write("free port0-1\nsplit port0 vm-a\nmove port1 vm-a\n")
    gen = lab.evr("show")[1]["generation"]
    _, reply, _ = lab.evr("-b", good)
    expect(reply["generation"] == gen + 1 and
           lab.owners() == {"port0": ("vm-b", 0), "port1": ("vm-a", 0)},
           f"evr -b: two lines, one change (generation {gen} -> {reply['generation']}): "
           f"lag0 keeps port0, port1 is vm-a's ({lab.owners()})")
    wait_reaches(b, "w1", None, "a0", ["a1", "b0", "b1"], 82, "port1 out of the LAG")
    wait_reaches(b, "w0", None, "b0", ["a0", "a1", "b1"], 84, "the LAG left with port0")
    before, gen = lab.owners(), gen + 1
    rc, _, err = lab.evr("-b", bad, check=False)
    expect(rc == 4 and f"{bad}: line 3: port1 is free" in err,
           f"a batch whose line 3 is refused: exit 4, names the file and line ({err.strip()})")
    expect(lab.owners() == before and lab.evr("show")[1]["generation"] == gen,
           "and its first two lines were not applied either")
    p = subprocess.run([lab.evr_bin, "-s", lab.control, "vm", "console", "vm-a"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    expect(p.returncode == 3 and "vm-a is stopped, not running" in p.stderr,
           f"evr vm console of a VM not running (--no-vms): exit 3 ({p.stderr.strip()})")


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
