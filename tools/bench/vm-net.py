#!/usr/bin/env python3
"""Network figures of router-engine VMs inside one lab run (tools/bench/vm-net
runs this in the lab). Not a test: it prints medians, spreads and ratios
against baselines measured in the same run, interleaved round by round.

usage: vm-net.py vswitch     EVR-VSWITCH EVR-VMM KERNEL INITRD ROUNDS REPS MIB PPS_SECONDS TCP_BOUND
       vm-net.py passthrough EVR-VSWITCH EVR-VMM KERNEL INITRD ROUNDS REPS MIB PPS_SECONDS TCP_BOUND

Both modes run the same guest (tools/bench/vm-net-guest.sh): a TCP transfer
of MIB MiB with busybox nc, timed on the sender's clock and stopped after
TCP_BOUND s (then only its counted rate is kept), and PPS_SECONDS of
60-byte frames (64 with the FCS) from the sender kernel's pktgen; REPS of
each per boot, ROUNDS boots of every configuration, interleaved. Guests:
1 vCPU, 256 MiB memfd RAM (in 2 MiB pages in passthrough mode), the lab kernel; each VMM process pinned to one
lab CPU with taskset, never CPU 0 (docs/lab.md, issue 9's cause).

vswitch (issue 10): VM to VM through evr-vswitch. vm-a's VM port and vm-b's
each have an access slice of VLAN 100, on two wire ports that are the two
ends of a veth pair (net_af_packet), so a frame from vm-a leaves tagged on
one and comes back on the other to vm-b. The vswitch has one worker on lab
CPU 1 (idle sleep 100 us, as evrd runs it), vm-a is on CPU 0, vm-b on CPU 1.
The same guests run under evr-vmm (virtio-net over vhost-user) and under
QEMU -accel kvm (-M q35, -netdev vhost-user, virtio-net-pci modern only,
its offloads, control queue and multi-queue off: the feature set evr-vmm
offers), both serving the vhost-user socket the vswitch connects to.
Throughput and packets per second are what the vswitch delivered into
vm-b's port over the phase (its slice's counters), and the VM exits are the
lab kernel's KVM counters of both VMs (debugfs kvm/PID-FD/exits) over the
same phase, per 1000 frames the vswitch delivered into either VM.

passthrough (issue 13): one guest and the lab's second e1000e, its cable
peer, in a network namespace (10.13.0.1 on VLAN 100) receiving the
transfer and the frames (its own counters). The guest's interface is the
lab's first e1000e given to evr-vmm (passthrough key), the same function to
QEMU (-device vfio-pci), or a virtio-net port of evr-vmm on evr-vswitch,
whose wire port is that e1000e through vfio-pci (a trunk slice of VLAN 100).
VM exits per 1000 frames the peer received and sent. Beside the counted
rates, pktgen's own (frames sent over the microseconds it ran) and the
sender's clock for TCP: the console lines that frame a phase can reach the
host late, and the peer's counters then cover a shifted window."""

import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(ROOT, "tools", "lib"))
sys.path.insert(0, os.path.join(ROOT, "tests", "dpdk"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "vswitch"))
import evrctl  # noqa: E402
from vslab import Bench, die_with_parent, stop_process  # noqa: E402
from test_pci_wire import PCI, bind, driver_of, e1000e_functions, sysfs  # noqa: E402

BOOT_LIMIT = 480  # s; two nested guests booting at once under TCG
MACS = {"vm-a": "02:00:00:00:0a:01", "vm-b": "02:00:00:00:0b:01"}
VLAN = 100
# QEMU's virtio-net with what evr-vmm's offers (vmm/virtio_net.c): modern
# only, MAC, status, merged receive buffers, indirect descriptors, event
# index; no offloads, no control queue, one queue pair.
QEMU_NET_OPTS = ("disable-legacy=on,csum=off,guest_csum=off,gso=off,host_tso4=off,"
                 "host_tso6=off,host_ecn=off,host_ufo=off,guest_tso4=off,guest_tso6=off,"
                 "guest_ecn=off,guest_ufo=off,ctrl_vq=off,ctrl_rx=off,ctrl_vlan=off,"
                 "ctrl_mac_addr=off,guest_announce=off,mq=off,mrg_rxbuf=on,event_idx=on,"
                 "indirect_desc=on")


def log(msg):
    print(msg, flush=True)


def run(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def mount_debugfs():
    if not os.path.isdir("/sys/kernel/debug/kvm"):
        run("mount", "-t", "debugfs", "debugfs", "/sys/kernel/debug", check=False)
    if not os.path.isdir("/sys/kernel/debug/kvm"):
        raise SystemExit("no /sys/kernel/debug/kvm in the lab: cannot count VM exits")


def kvm_exits(pid):
    """The lab kernel's exit counters of the VM process pid, per VM (its
    debugfs directory kvm/PID-FD, summed over vCPUs):
    {dir: {"exits":, "io_exits":, ...}}. A counter that cannot be read is
    an error, not a zero: a phase's figure would be off by all of it."""
    per_vm = {}
    for d in glob.glob(f"/sys/kernel/debug/kvm/{pid}-*"):
        counters = {}
        for name in ("exits", "io_exits", "mmio_exits", "halt_exits", "irq_exits"):
            with open(os.path.join(d, name)) as f:
                counters[name] = int(f.read())
        per_vm[d] = counters
    return per_vm


def exits_between(before, after, kinds):
    """Exits of the given kinds from one kvm_exits sample to the next; NaN
    when the VMs differ between the two (a guest that powered off before
    the phase's end was sampled: its counters are gone, not zero)."""
    if not before or before.keys() != after.keys():
        return float("nan")
    return sum(after[d][k] - before[d][k] for d in before for k in kinds)


def make_initrd(initrd, tmp):
    extra = os.path.join(tmp, "extra")
    os.makedirs(extra, exist_ok=True)
    shutil.copy(os.path.join(HERE, "vm-net-guest.sh"), os.path.join(extra, "bench.sh"))
    cpio = subprocess.run("echo bench.sh | cpio -o -H newc 2>/dev/null | gzip", shell=True,
                          cwd=extra, check=True, stdout=subprocess.PIPE).stdout
    path = os.path.join(tmp, "initrd")
    with open(path, "wb") as out, open(initrd, "rb") as base:
        out.write(base.read())
        out.write(cpio)
    return path


class Guest:
    """One VMM process (evr-vmm or QEMU) running one guest of the benchmark,
    pinned to one lab CPU; its console in a file."""

    def __init__(self, vmm_kind, name, cpu, tmp, kernel, initrd, guest_args, net, evr_vmm,
                 huge=False):
        self.kind, self.name = vmm_kind, name
        self.console = os.path.join(tmp, f"{vmm_kind}-{name}.console")
        self.control = os.path.join(tmp, f"{vmm_kind}-{name}.control")
        self.err_path = os.path.join(tmp, f"{vmm_kind}-{name}.err")
        for p in (self.console, self.control):
            if os.path.exists(p):
                os.unlink(p)
        cmdline = f'console=ttyS0 quiet panic=-1 evr_run="sh /bench.sh {guest_args}"'
        if vmm_kind == "evr":
            cfg = {"kernel": kernel, "initrd": initrd, "memory": 256, "vcpus": 1,
                   "console": f"file:{self.console}", "control": self.control,
                   "cmdline": cmdline, "hugepages": huge}
            if net[0] == "vhost_user":
                cfg["net"] = [{"vhost_user": net[1], "mac": MACS[name]}]
            else:
                cfg["passthrough"] = [net[1]]
            path = os.path.join(tmp, f"{name}.json")
            with open(path, "w") as f:
                json.dump(cfg, f)
            argv = [evr_vmm, "--config", path]
        else:
            backend = ("memory-backend-file,id=ram,size=256M,share=on,mem-path=/dev/hugepages"
                       if huge else "memory-backend-memfd,id=ram,size=256M,share=on")
            argv = ["qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-smp", "1",
                    "-m", "256", "-object", backend,
                    "-M", "q35,memory-backend=ram", "-nodefaults", "-no-user-config",
                    "-display", "none", "-serial", f"file:{self.console}", "-no-reboot",
                    "-kernel", kernel, "-initrd", initrd, "-append", cmdline]
            if net[0] == "vhost_user":
                argv += ["-chardev", f"socket,id=vu0,path={net[1]},server=on,wait=off",
                         "-netdev", "vhost-user,id=n0,chardev=vu0",
                         "-device", f"virtio-net-pci,netdev=n0,mac={MACS[name]},{QEMU_NET_OPTS}"]
            else:
                argv += ["-device", f"vfio-pci,host={net[1]}"]
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(["taskset", "-c", str(cpu)] + argv, stdout=self.err,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     preexec_fn=die_with_parent)

    def lines(self):
        try:
            with open(self.console, errors="replace") as f:
                return [ln.strip() for ln in f if ln.endswith("\n") and "bench:" in ln]
        except FileNotFoundError:
            return []

    def wait_line(self, pattern, after=0, limit=60.0):
        """(index, match) of the first bench line matching pattern after the
        first `after` ones; None after limit s or when the VMM ended."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            lines = self.lines()
            for i, ln in enumerate(lines[after:], after):
                m = re.search(pattern, ln)
                if m:
                    return i, m
            if self.proc.poll() is not None:
                return None
            time.sleep(0.05)
        return None

    def exits(self):
        return kvm_exits(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None and self.kind == "evr":
            try:
                with evrctl.Client(self.control) as c:
                    c.request(op="stop")
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired, ValueError, evrctl.Error):
                pass
        stop_process(self.proc)
        self.err.close()
        return self.proc.returncode

    def tail(self):
        out = [f"--- {self.kind} {self.name}: exit {self.proc.returncode}"]
        out += open(self.err_path, errors="replace").read().splitlines()[-15:]
        try:
            out += open(self.console, errors="replace").read().splitlines()[-25:]
        except FileNotFoundError:
            pass
        return "\n".join(out)


def wait_sockets(paths, guests, limit=60):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if all(os.path.exists(p) for p in paths):
            return
        for g in guests:
            if g.proc.poll() is not None:
                raise RuntimeError(f"{g.kind} {g.name} ended before listening")
        time.sleep(0.1)
    raise RuntimeError(f"no vhost-user socket after {limit} s: {paths}")


def follow_phases(sender, guests, counters, reps, results, label):
    """Samples `counters()` and every guest's exits at each begin/end line of
    the sender and records per phase: tcp (MiB/s on the guest's clock, the
    counters' rate) and pps."""
    after = 0
    for _ in range(2 * reps):
        got = sender.wait_line(r"bench: (tcp|pps) (\d+) begin", after, limit=900)
        if got is None:
            raise RuntimeError(f"{label}: the sender stopped before a phase")
        after, m = got[0] + 1, got[1]
        phase = m.group(1)
        c0, e0, t0 = counters(), [g.exits() for g in guests], time.monotonic()
        got = sender.wait_line(rf"bench: {phase} \d+ end(.*)", after, limit=900)
        if got is None:
            raise RuntimeError(f"{label}: the sender stopped inside a {phase} phase")
        c1, e1, t1 = counters(), [g.exits() for g in guests], time.monotonic()
        after, end = got[0] + 1, got[1].group(1)
        def per_kframe(*kinds):
            n = sum(exits_between(a, b, kinds) for a, b in zip(e0, e1))
            frames = c1["frames"] - c0["frames"]
            return 1000.0 * n / frames if frames else float("nan")

        rec = {"exits": sum(exits_between(a, b, ["exits"]) for a, b in zip(e0, e1)),
               "frames": c1["frames"] - c0["frames"],
               "exits_per_kframe": per_kframe("exits"),
               "io_mmio_per_kframe": per_kframe("io_exits", "mmio_exits"),
               "halt_per_kframe": per_kframe("halt_exits"), "seconds": t1 - t0}
        if phase == "tcp":
            mm = re.search(r"rc=(\d+) mib=(\d+) cs=(\d+)", end)
            rc, mib, cs = int(mm.group(1)), int(mm.group(2)), int(mm.group(3))
            # A transfer that failed or was stopped at its bound has no
            # time of its own; the counted rate over the phase stays.
            if rc != 0 or cs == 0:
                rec["failed"] = end.strip()
                rec["mib_s"] = float("nan")
            else:
                rec["mib_s"] = mib / (cs / 100.0)
            mm = re.search(r"retrans=(\d+)", end)
            rec["retrans"] = int(mm.group(1)) if mm else None
            rec["counted_mib_s"] = (c1["bytes"] - c0["bytes"]) / (t1 - t0) / 2**20
        else:
            rec["pps"] = (c1["packets"] - c0["packets"]) / (t1 - t0)
            mm = re.search(r"sent=(\d+) usec=(\d+)", end)
            rec["sent_pps"] = (int(mm.group(1)) / (int(mm.group(2)) / 1e6)
                               if mm and int(mm.group(2)) else float("nan"))
        results.setdefault((label, phase), []).append(rec)
        log(f"  {label:22s} {phase}: " + "  ".join(
            f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.items()))


def vswitch_bench(vswitch, eal):
    """evr-vswitch as the lab tests run it (tests/dpdk/vslab.py): main lcore
    on CPU 0, one worker on CPU 1 sleeping 100 us when idle."""
    sys.argv[1:] = [vswitch]  # where Bench takes the binary from
    return Bench([], name="bench", eal=eal, mbufs=8191)


def vswitch_round(vmm_kind, evr_vmm, vs, tmp, kernel, initrd, reps, phases, results):
    socks = {n: os.path.join(tmp, f"{n}.vhost.sock") for n in MACS}
    for p in socks.values():
        if os.path.exists(p):
            os.unlink(p)
    args = {"vm-a": f"send 10.0.0.1 10.0.0.2 {MACS['vm-b']} 0 {phases}",
            "vm-b": f"recv 10.0.0.2 10.0.0.1 {MACS['vm-a']} 0 0 0 0 0"}
    guests = [Guest(vmm_kind, n, cpu, tmp, kernel, initrd, args[n], ("vhost_user", socks[n]),
                    evr_vmm)
              for cpu, n in enumerate(("vm-a", "vm-b"), start=1)]
    label = "evr-vmm" if vmm_kind == "evr" else "qemu -accel kvm"
    try:
        wait_sockets(socks.values(), guests)
        for i, (n, w) in enumerate((("vm-a", "w0"), ("vm-b", "w1"))):
            vs.ok(op="port-add", name=n, role="vm",
                  devargs=f"net_vhost{i},iface={socks[n]},client=1,queues=1")
            vs.ok(op="slice-set", name=f"s-{n}", uplink=w, vm=n, mode="access", vlans=[VLAN])
        t0 = time.monotonic()
        if guests[0].wait_line(r"bench: ready send", limit=BOOT_LIMIT) is None:
            raise RuntimeError(f"{label}: vm-a did not reach vm-b within {BOOT_LIMIT} s")
        log(f"  {label}: both guests up, vm-a reached vm-b ({time.monotonic() - t0:.0f} s)")

        def counters():
            st = vs.stats()["slices"]
            return {"packets": st["s-vm-b"]["to_vm_packets"],
                    "bytes": st["s-vm-b"]["to_vm_bytes"],
                    "frames": st["s-vm-a"]["to_vm_packets"] + st["s-vm-b"]["to_vm_packets"]}

        follow_phases(guests[0], guests, counters, reps, results, label)
        got = guests[1].lines()
        log(f"  {label}: vm-b " + "; ".join(ln for ln in got if "received" in ln))
    except RuntimeError:
        for g in guests:
            g.stop()
            log(g.tail())
        raise
    finally:
        for g in guests:
            g.stop()
        for n in MACS:
            vs.ctl.request(op="slice-del", name=f"s-{n}")
            vs.ctl.request(op="port-del", name=n)


def bench_vswitch(vswitch, vmm, kernel, initrd, rounds, reps, phases):
    tmp = tempfile.mkdtemp(prefix="evr-bench-vm-")
    initrd = make_initrd(initrd, tmp)
    run("ip", "link", "add", "evbw0", "type", "veth", "peer", "name", "evbw1")
    results, failures = {}, []
    try:
        for i in ("evbw0", "evbw1"):
            run("sysctl", "-qw", f"net.ipv6.conf.{i}.disable_ipv6=1")
            run("ip", "link", "set", i, "up")
        with vswitch_bench(vswitch, ["--no-pci"]) as vs:
            for i, w in enumerate(("w0", "w1")):
                vs.ok(op="port-add", name=w, role="wire",
                      devargs=f"net_af_packet{i},iface=evbw{i},qpairs=1,framecnt=4096")
            for r in range(rounds):
                order = ("evr", "qemu") if r % 2 == 0 else ("qemu", "evr")
                for kind in order:
                    log(f"round {r + 1}: {kind}")
                    try:
                        vswitch_round(kind, vmm, vs, tmp, kernel, initrd, reps, phases,
                                      results)
                    except RuntimeError as e:
                        failures.append(f"round {r + 1} {kind}: {e}")
                        log(f"  FAILED (recorded, the round goes on): {e}")
    finally:
        run("ip", "link", "del", "evbw0", check=False)
    report(results, failures, "evr-vmm", ["qemu -accel kvm"],
           "VM to VM through evr-vswitch (vm-a -> vm-b)")


def ns_run(ns, *cmd, check=True):
    return run("ip", "netns", "exec", ns, *cmd, check=check)


# The peer's TCP sink: each connection in a thread of its own, so that one
# transfer that never ends (its FIN lost with the guest's stalled sender)
# does not hold up the accept of the next ones, whose data would otherwise
# wait in the listen queue until their window closes: stalls that only
# followed the first (docs/lab.md, "TCP on the lab's e1000e pair").
SINK = r"""
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5001)); s.listen(4)
def serve(c):
    n = 0
    while True:
        b = c.recv(1 << 16)
        if not b: break
        n += len(b)
    c.close(); print("received", n, flush=True)
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
"""


def bench_passthrough(vswitch, vmm, kernel, initrd, rounds, reps, phases):
    nics = e1000e_functions()
    if len(nics) < 2:
        raise SystemExit(f"the lab has {len(nics)} e1000e, 2 needed (evr-lab run --nics 2)")
    fn, peer = nics[0], nics[1]
    peer_if = os.listdir(f"{PCI}/{peer}/net")[0]
    peer_mac = sysfs(f"{PCI}/{peer}/net/{peer_if}/address")
    run("modprobe", "vfio-pci", check=False)
    # Every guest of this mode has its RAM in 2 MiB pages: QEMU's e1000e
    # drops a frame whose buffer spans two 4 KiB pages the lab's IOMMU maps
    # apart (docs/lab.md, "TCP on the lab's e1000e pair"), which stalls TCP
    # through a passed-through function; the other two get the same RAM.
    sysfs("/proc/sys/vm/nr_hugepages", "160")
    if int(sysfs("/proc/sys/vm/nr_hugepages")) < 128:
        raise SystemExit("the lab could not reserve 128 huge pages for a 256 MiB guest")
    tmp = tempfile.mkdtemp(prefix="evr-bench-pt-")
    initrd = make_initrd(initrd, tmp)
    ns = "evr-bench-peer"
    run("ip", "netns", "add", ns)
    sink = None
    results, failures = {}, []
    try:
        run("ip", "link", "set", peer_if, "netns", ns)
        ns_run(ns, "ip", "link", "set", peer_if, "up")
        ns_run(ns, "ip", "link", "set", "lo", "up")
        ns_run(ns, "ip", "link", "add", "link", peer_if, "name", "peer.100", "type", "vlan",
               "id", str(VLAN))
        ns_run(ns, "ip", "addr", "add", "10.13.0.1/24", "dev", "peer.100")
        ns_run(ns, "ip", "link", "set", "peer.100", "up")
        sink = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SINK],
                                stdout=open(os.path.join(tmp, "sink.log"), "w"),
                                stderr=subprocess.STDOUT, preexec_fn=die_with_parent)

        def peer_counters():
            def stat(k):
                return int(ns_run(ns, "cat", f"/sys/class/net/{peer_if}/statistics/{k}").stdout)
            rx, tx, rxb = stat("rx_packets"), stat("tx_packets"), stat("rx_bytes")
            return {"packets": rx, "bytes": rxb, "frames": rx + tx}

        args = f"send 10.13.0.2 10.13.0.1 {peer_mac} {VLAN} {phases}"
        configs = ("evr passthrough", "qemu vfio-pci", "evr vswitch")
        for r in range(rounds):
            order = configs if r % 2 == 0 else tuple(reversed(configs))
            for cfg in order:
                log(f"round {r + 1}: {cfg}")
                try:
                    pt_round(cfg, fn, vswitch, vmm, kernel, initrd, tmp, args, reps,
                             peer_counters, results)
                except RuntimeError as e:
                    failures.append(f"round {r + 1} {cfg}: {e}")
                    log(f"  FAILED (recorded, the round goes on): {e}")
                finally:
                    if driver_of(fn) != "e1000e":
                        bind(fn, "e1000e")
                    sysfs(f"{PCI}/{fn}/driver_override", "\n")
        log("  peer: " + "; ".join(open(os.path.join(tmp, "sink.log")).read().split("\n")[-8:]))
    finally:
        if sink:
            stop_process(sink)
        run("ip", "netns", "del", ns, check=False)
    report(results, failures, "evr passthrough", ["qemu vfio-pci", "evr vswitch"],
           f"one guest to its cable peer (e1000e {fn} -> {peer})")


def pt_round(cfg, fn, vswitch, vmm, kernel, initrd, tmp, args, reps, counters, results):
    vs = None
    guest = None
    try:
        if cfg == "evr vswitch":
            bind(fn, "vfio-pci")
            vs = vswitch_bench(vswitch, ["--iova-mode", "va", "--base-virtaddr", "0x40000000",
                                         "-a", fn]).__enter__()
            sock = os.path.join(tmp, "vm-a.vhost.sock")
            if os.path.exists(sock):
                os.unlink(sock)
            guest = Guest("evr", "vm-a", 1, tmp, kernel, initrd, args, ("vhost_user", sock),
                          vmm, huge=True)
            wait_sockets([sock], [guest])
            vs.ok(op="port-add", name="w0", role="wire", devargs=fn)
            vs.ok(op="port-add", name="vm-a", role="vm",
                  devargs=f"net_vhost0,iface={sock},client=1,queues=1")
            vs.ok(op="slice-set", name="s", uplink="w0", vm="vm-a", mode="trunk", vlans=[VLAN])
        elif cfg == "qemu vfio-pci":
            bind(fn, "vfio-pci")
            guest = Guest("qemu", "vm-a", 1, tmp, kernel, initrd, args, ("vfio", fn), vmm,
                          huge=True)
        else:
            guest = Guest("evr", "vm-a", 1, tmp, kernel, initrd, args, ("vfio", fn), vmm,
                          huge=True)
        t0 = time.monotonic()
        if guest.wait_line(r"bench: ready send", limit=BOOT_LIMIT) is None:
            raise RuntimeError(f"{cfg}: the guest did not reach its peer within {BOOT_LIMIT} s")
        log(f"  {cfg}: guest up, peer reached ({time.monotonic() - t0:.0f} s)")
        follow_phases(guest, [guest], counters, reps, results, cfg)
    except RuntimeError:
        if guest:
            guest.stop()
            log(guest.tail())
        raise
    finally:
        if guest:
            guest.stop()
        if vs:
            vs.close()


def med_spread(values):
    values = [v for v in values if v == v]  # NaN out
    if not values:
        return None, None, None
    return statistics.median(values), min(values), max(values)


def report(results, failures, base, others, what):
    cpu = run("lscpu").stdout
    model = next((ln.split(":", 1)[1].strip() for ln in cpu.splitlines()
                  if ln.startswith("Model name")), "unknown")
    log("")
    log(f"{what}; lab CPU: {model} (nested KVM under the lab's TCG)")
    rows = [("tcp", "mib_s", "TCP MiB/s (sender's clock)"),
            ("tcp", "counted_mib_s", "TCP MiB/s (counted)"),
            ("tcp", "exits_per_kframe", "exits / 1000 frames, TCP"),
            ("tcp", "io_mmio_per_kframe", "  of which io_exits+mmio_exits"),
            ("tcp", "halt_per_kframe", "  of which halt_exits"),
            ("pps", "pps", "64-byte frames/s (counted)"),
            ("pps", "sent_pps", "64-byte frames/s (pktgen)"),
            ("pps", "exits_per_kframe", "exits / 1000 frames, 64 B"),
            ("pps", "io_mmio_per_kframe", "  of which io_exits+mmio_exits"),
            ("pps", "halt_per_kframe", "  of which halt_exits")]
    labels = [base] + others
    log(f"{'median (min-max), n':30s}" + "".join(f"{lb:>36s}" for lb in labels) +
        "".join(f"{'ratio to ' + o:>26s}" for o in others))
    for phase, key, title in rows:
        cells, meds = [], []
        for lb in labels:
            recs = results.get((lb, phase), [])
            values = [r[key] for r in recs if r[key] == r[key]]  # NaN out
            m, lo, hi = med_spread(values)
            meds.append(m)
            cells.append("-" if m is None else f"{m:.1f} ({lo:.1f}-{hi:.1f}) n={len(values)}")
        ratios = [f"{meds[0] / m:.2f}" if meds[0] is not None and m else "-" for m in meds[1:]]
        log(f"{title:30s}" + "".join(f" {c:>35s}" for c in cells) +
            "".join(f"{x:>26s}" for x in ratios))
    log("ratios: " + base + " / the other; for exits, lower is better")
    for (lb, phase), recs in sorted(results.items()):
        for r in recs:
            if "failed" in r:
                log(f"failed transfer: {lb}: {r['failed']} (its counted rate is in the table)")
    for f in failures:
        log(f"failed run: {f}")


def main():
    if len(sys.argv) != 11 or sys.argv[1] not in ("vswitch", "passthrough"):
        raise SystemExit(__doc__.split("\n\n")[1])
    mode, vswitch, vmm, kernel, initrd = sys.argv[1:6]
    rounds, reps, mib, pps_s, bound = (int(x) for x in sys.argv[6:11])
    phases = f"{reps} {mib} {pps_s} {bound}"  # the sender's arguments after VLAN
    mount_debugfs()
    if not shutil.which("qemu-system-x86_64"):
        raise SystemExit("qemu-system-x86_64 not found in the lab")
    if mode == "vswitch":
        bench_vswitch(vswitch, vmm, kernel, initrd, rounds, reps, phases)
    else:
        bench_passthrough(vswitch, vmm, kernel, initrd, rounds, reps, phases)
    return 0


if __name__ == "__main__":
    sys.exit(main())
