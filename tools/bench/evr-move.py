#!/usr/bin/env python3
"""Inside the lab (tools/bench/evr-move runs it): how long `evr move` takes
with a running router engine, and where the time goes. Figures, not a test.

usage: evr-move.py BUILD_DIR KERNEL INITRD MOVES HOTPLUG_MOVES

The lab has 2 e1000e (NIC 0 is the appliance's port0, NIC 1 its cable peer,
a test host in netns h0) and 2 igb (the first is port1, a PF that carves one
VF). evrd runs vm-a (its guest bridges its network ports on 10.0.0.10 and
has igbvf) and declares vm-b without starting it.

1. port0 moves between vm-a and vm-b MOVES times: each move is one vswitch
   slice-set and one link change of vm-a's network port (down when port0
   leaves, up when it comes back). Baseline: the same slice-set sent
   straight to the vswitch plus the same link op straight to vm-a's evr-vmm.
2. port1/vf0 moves out of vm-a's running guest (device-del, then vf-set) and
   back (vf-set, device-add) HOTPLUG_MOVES times each way. Baseline: the
   same device-del and device-add sent straight to vm-a's evr-vmm.
3. vm-b runs too, and port1/vf0 moves between the two running guests
   HOTPLUG_MOVES times (rounded up to even), each timed from the request to
   the first echo reply through the VF from the guest that took it (a test
   host on the second igb, netns h1, pings every 10 ms; the guests address
   a hot-added interface within 0.1 s). Baseline: the same moves as
   device-del straight to one evr-vmm and device-add straight to the other,
   timed the same way.
Each reply's time_us splits evrd's own work from what it waited for."""

import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import evrctl  # noqa: E402

RUN = "/run/evr"
VM_ADDR = "10.0.0.10"
VF_ADDR = {"vm-a": "10.0.1.10", "vm-b": "10.0.1.11"}


def sh(cmd, check=True):
    return subprocess.run(cmd, shell=True, check=check, text=True, capture_output=True).stdout


def lab_nic(i):
    """The netdev of lab NIC i: the lab gives it MAC 52:54:00:12:34:(16+i)."""
    mac = "52:54:00:12:34:%02x" % (16 + i)
    for n in os.listdir("/sys/class/net"):
        try:
            if open(f"/sys/class/net/{n}/address").read().strip() == mac:
                return n
        except OSError:
            pass
    raise SystemExit(f"evr-move: no lab NIC {i} (MAC {mac})")


def igb_pfs():
    pfs = []
    for d in sorted(os.listdir("/sys/bus/pci/devices")):
        p = f"/sys/bus/pci/devices/{d}"
        if open(f"{p}/vendor").read().strip() == "0x8086" and \
                open(f"{p}/device").read().strip() == "0x10c9":
            pfs.append(d)
    return pfs


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


def line(label, xs, unit="us"):
    scale = 1000.0 if unit == "ms" else 1.0
    print(f"  {label:44s} median {statistics.median(xs) / scale:9.1f} {unit}, "
          f"p99 {pct(xs, 99) / scale:9.1f} {unit}")


def first_reply_s(vm, limit):
    """Seconds until the test host in h1 gets an echo reply from vm's VF
    address, or None after `limit` s. Each ping sends every 10 ms for 1 s
    (ARP is retried every 10 ms too); it ends early on an unreachable
    error (ARP gave up), hence the loop."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        r = subprocess.run(["ip", "netns", "exec", "h1", "ping", "-n", "-q", "-c", "1", "-i",
                            "0.01", "-w", "1", VF_ADDR[vm]], capture_output=True)
        if r.returncode == 0:
            return time.perf_counter() - t0
    return None


def between_running_vms(evr, pfs, vf, moves):
    """Phase 3: vf0 between running vm-a and vm-b, to the first reply."""
    peer = os.listdir(f"/sys/bus/pci/devices/{pfs[1]}/net")[0]
    sh(f"ip netns add h1; ip link set {peer} netns h1; ip netns exec h1 ip link set lo up; "
       f"ip netns exec h1 ip link set {peer} up; ip netns exec h1 ip addr add 10.0.1.1/24 dev {peer}; "
       f"ip netns exec h1 sysctl -qw net.ipv4.neigh.{peer}.retrans_time_ms=10 "
       f"net.ipv4.neigh.{peer}.mcast_solicit=100")
    if first_reply_s("vm-a", 60) is None:
        raise SystemExit("evr-move: vm-a does not answer through port1/vf0 (h1)")
    sh(f"{evr} vm start vm-b")
    other = {"vm-a": "vm-b", "vm-b": "vm-a"}

    def timed(move, to, replies, traffic, how):
        """move() of vf0 to `to`: its round trip, then to the first reply."""
        sh("ip netns exec h1 ip neigh flush all")
        t0 = time.perf_counter()
        move()
        replies.append((time.perf_counter() - t0) * 1e6)
        s = first_reply_s(to, 30)
        if s is None:
            raise SystemExit(f"evr-move: {to} did not answer through {vf} after {how}")
        traffic.append(replies[-1] + s * 1e6)

    evr_reply, evr_traffic, direct_reply, direct_traffic = [], [], [], []
    with evrctl.Client(f"{RUN}/evrd.sock") as c:
        c.call(op="move", slices="port1/vf0", vm="vm-b")
        if first_reply_s("vm-b", 600) is None:  # vm-b's boot is in this one
            print(sh(f"tail -n 30 {RUN}/evrd.log; {evr} show vm vm-b", check=False))
            raise SystemExit("evr-move: vm-b never answered through port1/vf0")
        for i in range(moves):
            to = "vm-a" if i % 2 == 0 else "vm-b"
            timed(lambda: c.call(op="move", slices="port1/vf0", vm=to), to, evr_reply,
                  evr_traffic, "evr move")
    # vf0 is with vm-b again (an even count of moves): the same, straight
    for i in range(moves):
        to = "vm-a" if i % 2 == 0 else "vm-b"

        def straight():
            with evrctl.Client(f"{RUN}/{other[to]}.ctl") as a, evrctl.Client(f"{RUN}/{to}.ctl") as b:
                a.call(op="device-del", host=vf, timeout_ms=5000)
                b.call(op="device-add", host=vf)
        timed(straight, to, direct_reply, direct_traffic, "device-del and device-add straight")
    print(f"\nevr move port1/vf0 ({vf}) between running vm-a and vm-b: {moves} moves")
    line("evr move, round trip", evr_reply, "ms")
    line("evr move, to the first reply through the VF", evr_traffic, "ms")
    line("baseline: device-del + device-add straight", direct_reply, "ms")
    line("baseline: to the first reply through the VF", direct_traffic, "ms")
    print(f"  ratio to traffic, evr move / baseline (medians): "
          f"{statistics.median(evr_traffic) / statistics.median(direct_traffic):.2f}x")


def main():
    sys.stdout.reconfigure(line_buffering=True)  # lines as they come, through the lab's port
    build, kernel, initrd, moves, hotplug = sys.argv[1:6]
    moves = int(moves) + int(moves) % 2  # even: port0 ends at vm-a, as the baseline needs
    hotplug = int(hotplug) + int(hotplug) % 2  # even: vf0 ends where evrd has it
    evr = f"{build}/tools/evr"
    wire, peer = lab_nic(0), lab_nic(1)
    pfs = igb_pfs()
    if not pfs:
        raise SystemExit("evr-move: no igb PF (evr-lab run --igb 2)")
    os.makedirs(RUN, exist_ok=True)
    sh(f"ip link set {wire} up; ip netns add h0; ip link set {peer} netns h0; "
       f"ip netns exec h0 ip link set lo up; ip netns exec h0 ip link set {peer} up; "
       f"ip netns exec h0 ip addr add 10.0.0.1/24 dev {peer}")
    # The guest bridges its virtio-net ports on evr_addr and gives any other
    # interface (a VF, at boot or hot-added) evr_vfaddr; it looks every 0.1 s,
    # forking only for an interface it has not seen (a fork is dear in a
    # nested guest). The kernel command line takes no quotes inside evr_run.
    guest = ("ip link add br0 type bridge; ip link set br0 up; ip addr add $evr_addr/24 dev br0; "
             "while true; do for i in /sys/class/net/eth*; do [ -e $i/ifindex ] || continue; "
             "read x < $i/ifindex; [ -e /tmp/seen.$x ] && continue; : > /tmp/seen.$x; "
             "d=$(readlink $i/device/driver); n=${i##*/}; ip link set $n up; case ${d##*/} in "
             "virtio_net) ip link set $n master br0;; *) ip addr add $evr_vfaddr/24 dev $n;; "
             "esac; done; sleep 0.1; done")

    def vm(name, addr, vfaddr):
        return {"name": name, "ports": 1, "cores": [1],
                "vmm": {"kernel": kernel, "initrd": initrd, "memory": 256, "vcpus": 1,
                        "cmdline": f"console=ttyS0 panic=-1 evr_addr={addr} evr_vfaddr={vfaddr} "
                                   f'evr_run="{guest}"'}}

    appliance = {"state_dir": f"{RUN}/state", "share_cores": True,
                 "vswitch": {"cores": [0, 1], "memory": 256, "idle_sleep_us": 100},
                 "ports": [{"name": "port0", "netdev": wire},
                           {"name": "port1", "pci": pfs[0], "vfs": 1}],
                 "vms": [vm("vm-a", VM_ADDR, VF_ADDR["vm-a"]), vm("vm-b", "10.0.0.11", VF_ADDR["vm-b"])]}
    with open(f"{RUN}/appliance.json", "w") as f:
        json.dump(appliance, f)
    os.environ["EVR_SOCKET"] = f"{RUN}/evrd.sock"
    log = open(f"{RUN}/evrd.log", "w")
    evrd = subprocess.Popen([f"{build}/router/evrd", "--appliance", f"{RUN}/appliance.json",
                             "--run-dir", RUN, "--no-vms",
                             "--vswitch", f"{build}/vswitch/evr-vswitch",
                             "--vmm", f"{build}/vmm/evr-vmm",
                             "--vswitch-eal", "--no-huge --no-pci --log-level *:warning"],
                            stderr=log)
    try:
        deadline = time.monotonic() + 120
        while not os.path.exists(f"{RUN}/evrd.sock"):
            if evrd.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("evr-move: evrd did not start:\n" + open(f"{RUN}/evrd.log").read())
            time.sleep(0.1)
        sh(f"{evr} vm start vm-a; {evr} split port0 vm-a")
        deadline = time.monotonic() + 600
        while subprocess.run(f"ip netns exec h0 ping -c 1 -W 2 {VM_ADDR}", shell=True,
                             capture_output=True).returncode:
            if time.monotonic() > deadline:
                print(sh(f"tail -n 30 {RUN}/vm-a.log", check=False))
                raise SystemExit("evr-move: vm-a never answered the test host")
            time.sleep(2)
        print(f"evr-move: vm-a answers on {VM_ADDR}; {moves} moves of port0", flush=True)
        with evrctl.Client(f"{RUN}/evrd.sock") as c:
            total, waits = [], {"plan": [], "vswitch": [], "vm_link": [], "persist": [], "own": []}
            for i in range(moves):
                t0 = time.perf_counter()
                r = c.call(op="move", slices="port0", vm="vm-b" if i % 2 == 0 else "vm-a")
                rt = (time.perf_counter() - t0) * 1e6
                t = r["time_us"]
                total.append(rt)
                for k in ("plan", "vswitch", "vm_link", "persist"):
                    waits[k].append(t[k])
                waits["own"].append(rt - t["vswitch"] - t["vm_link"] - t["passthrough"])
        # the floor: the same requests straight to the vswitch and to vm-a
        direct_vs, direct_link = [], []
        with evrctl.Client(f"{RUN}/vswitch.sock") as v, evrctl.Client(f"{RUN}/vm-a.ctl") as a:
            for i in range(moves):
                away = i % 2 == 0
                t0 = time.perf_counter()
                v.call(op="slice-set", name="port0", uplink="port0", vm="vm-b.0" if away else "vm-a.0",
                       mode="trunk", vlans=["1-4094"], untagged=True)
                t1 = time.perf_counter()
                a.call(op="link", iface=0, up=not away)
                t2 = time.perf_counter()
                direct_vs.append((t1 - t0) * 1e6)
                direct_link.append((t2 - t1) * 1e6)
        print(f"\nevr move port0, vm-a <-> vm-b (vm-a running): {moves} moves")
        line("evr move, client round trip", total)
        for k in ("plan", "vswitch", "vm_link", "persist"):
            line(f"of which {k}", waits[k])
        line("evrd's own (round trip - the waits)", waits["own"])
        line("baseline: slice-set straight to the vswitch", direct_vs)
        line("baseline: link op straight to evr-vmm", direct_link)
        floor = [x + y for x, y in zip(direct_vs, direct_link)]
        line("baseline: both", floor)
        print(f"  ratio evr move / baseline (medians): "
              f"{statistics.median(total) / statistics.median(floor):.2f}x")

        # hot-plug
        sh(f"{evr} split port1/vf0 vm-a")
        vf = os.path.basename(os.readlink(f"/sys/bus/pci/devices/{pfs[0]}/virtfn0"))
        outs, ins, out_pt, in_pt = [], [], [], []
        with evrctl.Client(f"{RUN}/evrd.sock") as c:
            for i in range(hotplug):
                time.sleep(2)  # the guest takes the function it was given
                t0 = time.perf_counter()
                r = c.call(op="move", slices="port1/vf0", vm="vm-b")
                outs.append((time.perf_counter() - t0) * 1e6)
                out_pt.append(r["time_us"]["passthrough"])
                t0 = time.perf_counter()
                r = c.call(op="move", slices="port1/vf0", vm="vm-a")
                ins.append((time.perf_counter() - t0) * 1e6)
                in_pt.append(r["time_us"]["passthrough"])
        d_del, d_add = [], []
        with evrctl.Client(f"{RUN}/vm-a.ctl") as a:
            for i in range(hotplug):
                time.sleep(2)
                t0 = time.perf_counter()
                a.call(op="device-del", host=vf, timeout_ms=5000)
                t1 = time.perf_counter()
                a.call(op="device-add", host=vf)
                d_del.append((t1 - t0) * 1e6)
                d_add.append((time.perf_counter() - t1) * 1e6)
        print(f"\nevr move port1/vf0 ({vf}) out of vm-a's guest and back: {hotplug} each way")
        line("out (device-del, vf-set): round trip", outs, "ms")
        line("  of which passthrough steps", out_pt, "ms")
        line("in (vf-set, device-add): round trip", ins, "ms")
        line("  of which passthrough steps", in_pt, "ms")
        line("baseline: device-del straight to evr-vmm", d_del, "ms")
        line("baseline: device-add straight to evr-vmm", d_add, "ms")
        print(f"  ratio out / device-del (medians): "
              f"{statistics.median(outs) / statistics.median(d_del):.2f}x; "
              f"in / device-add: {statistics.median(ins) / statistics.median(d_add):.2f}x")
        between_running_vms(evr, pfs, vf, hotplug)
    finally:
        subprocess.run(f"{evr} vm stop vm-a; {evr} vm stop vm-b", shell=True, capture_output=True)
        time.sleep(2)
        evrd.terminate()
        evrd.wait()
        vs = sh(f"pgrep -f {build}/vswitch/evr-vswitch", check=False).split()
        for p in vs:
            subprocess.run(["kill", p], capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
