"""Lab test: a router-engine VM with a 2-queue-pair virtio-net interface on
evr-vswitch (VIRTIO_NET_F_MQ, the control queue evr-vmm serves), and its
link state set by the controller surviving a guest reboot.

usage: test_vm_net_mq.py EVR-VSWITCH EVR-VMM KERNEL INITRD

The vswitch's wire port is a veth (net_af_packet) whose other end, in the
test's namespace, carries VLAN 100 (10.100.0.1/24); the VM port is
net_vhost with queues=2 connecting to evr-vmm's socket as the client. One
VM under evr-vmm (2 vCPUs, 256 MiB, on_reboot restart), interface
{"queues": 2}, on an access slice of VLAN 100: eth0 10.100.0.2. The guest
gets the Debian ethtool (with its libraries, from the lab's root) and
answers HTTP: a blob, and CGI commands (ethtool -L/-l/-S, ping from one
vCPU with taskset, reboot).

Proves: Linux's virtio_net negotiates MQ and, with 2 CPUs, asks for 2 pairs
at probe (VQ_PAIRS_SET through the control queue: evr-vmm says "2 queue
pairs in use", the guest has rx-0, rx-1, tx-0, tx-1 and ethtool -l says
combined 2 of 2); ping and a 512 KiB HTTP transfer (SHA-256 compared); a
ping sent from vCPU 0 leaves on the guest's transmit queue 0 and one from
vCPU 1 on queue 1, seen both in the guest (ethtool -S tx_queue_N_packets)
and in the vswitch (DPDK's per-queue receive counters of the VM port, over
telemetry); ethtool -L eth0 combined 1 reaches evr-vmm ("1 queue pair in
use"), vCPU 1's ping then leaves on queue 0 and the vswitch's queue 1 count
stands still; combined 2 brings queue 1 back. Then the controller's
link-down (evr-vmm's control socket) and a guest reboot (on_reboot restart):
the new boot comes up with the vswitch reconnected but its carrier down
(admin state kept), and link-up brings carrier and traffic back.

The vswitch runs one worker, which transmits toward the VM on DPDK queue 0
only: the guest receives on queue 0 (docs/vswitch.md, VM ports). Passed
in 169 s on 2026-11-29 (docs/vmm.md has the per-queue counts)."""

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "dpdk"))
from vslab import Bench, expect, run  # noqa: E402
from test_vm_net import Vm, make_initrd  # noqa: E402

BOOT_LIMIT = 420
MAC = "02:00:00:00:0c:01"
GUEST_ADDR = "10.100.0.2"

GUEST = r"""
# The guest's half (busybox sh): eth0 on VLAN 100's access slice, a blob
# and CGI commands over HTTP, every carrier change of eth0 on the console.
e=eth0
ip link set $e up
ip addr add 10.100.0.2/24 dev $e
mkdir -p /www/cgi-bin
dd if=/dev/urandom of=/www/blob bs=1024 count=512 2>/dev/null
cat >/www/cgi-bin/run <<'EOF'
#!/bin/sh
echo "Content-Type: text/plain"
echo
case "$QUERY_STRING" in
combined1) ethtool -L eth0 combined 1 2>&1; echo "rc=$?" ;;
combined2) ethtool -L eth0 combined 2 2>&1; echo "rc=$?" ;;
channels) ethtool -l eth0 2>&1 ;;
stats) ethtool -S eth0 2>&1 ;;
ping0) taskset 1 ping -c 20 -i 0.2 -W 2 10.100.0.1 >/dev/null 2>&1; echo "rc=$?" ;;
ping1) taskset 2 ping -c 20 -i 0.2 -W 2 10.100.0.1 >/dev/null 2>&1; echo "rc=$?" ;;
reboot) (sleep 2; reboot -f) >/dev/null 2>&1 </dev/null & echo "rebooting" ;;
*) echo "unknown command" ;;
esac
EOF
chmod +x /www/cgi-bin/run
httpd -p 80 -h /www
q=$(cd /sys/class/net/$e/queues && echo *)
echo "evr-net: ready mac=$(cat /sys/class/net/$e/address) queues=$q sha=$(sha256sum /www/blob | cut -d' ' -f1)"
"""  # make_initrd appends test_vm_net's CARRIER_LOOP


class MqVm(Vm):
    """Vm (test_vm_net.py) with 2 vCPUs, one interface of 2 queue pairs and
    on_reboot restart."""

    def __init__(self, vmm, kernel, initrd, tmp):
        super().__init__("vm-mq", vmm, kernel, initrd, tmp, "mq",
                         net=lambda sock: [{"vhost_user": sock, "mac": MAC, "queues": 2}],
                         vcpus=2, on_reboot="restart")

    def vmm_says(self, text):
        with open(self.err_path, errors="replace") as f:
            return f.read().count(text)


def add_ethtool(initrd, tmp):
    """The initrd with the lab's /usr/sbin/ethtool as /bin/ethtool and the
    libraries it loads at the paths it loads them from."""
    extra = os.path.join(tmp, "ethtool-root")
    binary = shutil.which("ethtool") or "/usr/sbin/ethtool"
    os.makedirs(os.path.join(extra, "bin"))
    shutil.copy(binary, os.path.join(extra, "bin", "ethtool"))
    for line in run("ldd", binary).stdout.splitlines():
        m = re.search(r"(/\S+) \(0x", line)
        if not m:
            continue
        dest = os.path.join(extra, m.group(1).lstrip("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copy(os.path.realpath(m.group(1)), dest)
    cpio = subprocess.run("find . | cpio -o -H newc 2>/dev/null | gzip", shell=True, cwd=extra,
                          check=True, stdout=subprocess.PIPE).stdout
    with open(initrd, "ab") as out:
        out.write(cpio)


def ns_run(b, *cmd, check=False):
    return run("ip", "netns", "exec", b.ns, *cmd, check=check)


def pings(b, count=3):
    return ns_run(b, "ping", "-c", str(count), "-W", "2", "-i", "0.3", GUEST_ADDR).returncode == 0


def http(b, path, timeout=120):
    """GET http://GUEST_ADDR/path from the test's namespace: the body (bytes),
    or None."""
    code = ("import sys,urllib.request;"
            "sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1],timeout=int(sys.argv[2]))"
            ".read())")
    r = subprocess.run(["ip", "netns", "exec", b.ns, sys.executable, "-c", code,
                        f"http://{GUEST_ADDR}/{path}", str(timeout)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if r.returncode != 0:
        print(f"GET /{path}: {r.stderr.decode(errors='replace').strip()[-300:]}")
        return None
    return r.stdout


def cgi(b, command):
    body = http(b, f"cgi-bin/run?{command}")
    return body.decode(errors="replace") if body is not None else ""


def guest_tx(b):
    """ethtool -S eth0's transmit packets per queue in the guest."""
    out = cgi(b, "stats")
    return {int(q): int(n) for q, n in re.findall(r"tx_queue_(\d+)_packets: (\d+)", out)}


def vswitch_rx(b, device="net_vhost0"):
    """DPDK's receive packets per queue of the VM port (what the guest sent
    on each of its transmit queues), over the vswitch's telemetry."""
    path = f"/var/run/dpdk/{b.prefix}/dpdk_telemetry.v2"
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.connect(path)
        s.recv(16384)

        def query(q):
            s.send(q.encode())
            return json.loads(s.recv(1 << 20))

        for port in query("/ethdev/list")["/ethdev/list"]:
            if query(f"/ethdev/info,{port}")["/ethdev/info"]["name"] == device:
                return query(f"/ethdev/stats,{port}")["/ethdev/stats"]["q_ipackets"]
    raise AssertionError(f"telemetry lists no {device}")


def ping_from(b, cpu, label):
    """The guest pings the test host from vCPU `cpu`: the packets each side
    counted per queue, before and after."""
    g0, v0 = guest_tx(b), vswitch_rx(b)
    out = cgi(b, f"ping{cpu}")
    expect("rc=0" in out, f"{label}: the guest's ping from vCPU {cpu} is answered ({out.strip()})")
    g1, v1 = guest_tx(b), vswitch_rx(b)
    return ({q: g1.get(q, 0) - g0.get(q, 0) for q in (0, 1)},
            {q: v1[q] - v0[q] for q in (0, 1)})


def set_combined(b, vm, pairs, times):
    """ethtool -L eth0 combined `pairs` in the guest, seen by evr-vmm for the
    `times`th time; then vCPU 1's ping, counted per queue."""
    out = cgi(b, f"combined{pairs}")
    expect("rc=0" in out, f"ethtool -L eth0 combined {pairs} ({out.strip()})")
    said = f"net0: {pairs} queue pair{'s' if pairs > 1 else ''} in use"
    expect(vm.vmm_says(said) == times, f"evr-vmm took VQ_PAIRS_SET {pairs} ('{said}')")
    g, v = ping_from(b, 1, f"{pairs} pair(s)")
    print(f"{pairs} pair(s), ping from vCPU 1: guest tx per queue {g}, vswitch rx per queue {v}")
    return g, v


def main():
    if len(sys.argv) != 5:
        raise SystemExit(__doc__.split("\n\n")[1])
    vswitch, vmm, kernel, initrd = sys.argv[1:5]
    sys.argv[1:] = [vswitch]  # what Bench reads
    tmp = tempfile.mkdtemp(prefix="evr-vm-net-mq-")
    guest_initrd = make_initrd(initrd, tmp, GUEST)
    add_ethtool(guest_initrd, tmp)
    vm = None
    ok = False
    try:
        with Bench(["w0"], name="vmmq") as b:
            inner, outer = b.ifnames["w0"]
            # The namespace's TCP goes through a veth to net_af_packet, which
            # takes frames as they are: no checksum left to a device, no
            # segmentation offload (a 64 KiB GSO frame would be cut), no GRO.
            ns_run(b, "ethtool", "-K", outer, "tx", "off", "tso", "off", "gso", "off", "gro",
                   "off", check=True)
            run("ethtool", "-K", inner, "tx", "off", "tso", "off", "gso", "off", "gro", "off")
            ns_run(b, "ip", "link", "add", "link", outer, "name", f"{outer}.100", "type", "vlan",
                   "id", "100", check=True)
            ns_run(b, "ip", "addr", "add", "10.100.0.1/24", "dev", f"{outer}.100", check=True)
            ns_run(b, "ip", "link", "set", f"{outer}.100", "up", check=True)
            vm = MqVm(vmm, kernel, guest_initrd, tmp)
            deadline = time.monotonic() + 30
            while not os.path.exists(vm.sock) and time.monotonic() < deadline:
                time.sleep(0.1)
            expect(os.path.exists(vm.sock), f"evr-vmm listens on {vm.sock}")
            b.add_port("w0", "wire")
            b.ok(op="port-add", name="vm", role="vm",
                 devargs=f"net_vhost0,iface={vm.sock},client=1,queues=2")
            b.ok(op="slice-set", name="s100", uplink="w0", vm="vm", mode="access", vlans=[100])

            m = vm.wait_line(r"evr-net: ready mac=(\S+) queues=(.*) sha=([0-9a-f]{64})",
                             limit=BOOT_LIMIT)
            expect(m is not None, "the guest booted and configured eth0")
            sha = m.group(3)
            expect(m.group(1) == MAC, f"eth0 has the config's MAC {MAC}")
            expect(m.group(2).split() == ["rx-0", "rx-1", "tx-0", "tx-1"],
                   f"the guest's virtio_net runs 2 queue pairs ({m.group(2)})")
            expect(vm.vmm_says("net0: 2 queue pairs in use") == 1,
                   "evr-vmm took VQ_PAIRS_SET 2 from the control queue at probe")
            expect(vm.wait_carrier("1"), "carrier up")
            expect(pings(b), f"VLAN 100 reaches the VM (ping {GUEST_ADDR})")
            body = http(b, "blob")
            expect(body is not None and hashlib.sha256(body).hexdigest() == sha,
                   "a 512 KiB HTTP transfer arrives intact")
            ch = cgi(b, "channels")
            expect(re.findall(r"Combined:\s+(\d+)", ch) == ["2", "2"],
                   f"ethtool -l: combined 2 of at most 2 ({' '.join(ch.split())})")

            # Each vCPU's ping leaves on its own transmit queue (XPS).
            for cpu in (0, 1):
                g, v = ping_from(b, cpu, "2 pairs")
                other = 1 - cpu
                print(f"ping from vCPU {cpu}: guest tx per queue {g}, vswitch rx per queue {v}")
                # (the HTTP exchanges that run the commands add a few packets
                # on either queue)
                expect(g[cpu] >= 20 and v[cpu] >= 20 and g[cpu] > g[other] + 10,
                       f"vCPU {cpu}'s 20 pings leave on queue {cpu}: guest {g}, vswitch {v}")

            # ethtool -L combined 1: the guest's VQ_PAIRS_SET 1 reaches evr-vmm,
            # which disables pair 1's rings on the vswitch; the vswitch's
            # queue 1 then stands still. combined 2 brings it back.
            g, v = set_combined(b, vm, 1, 1)
            expect(g[0] >= 20 and v[0] >= 20 and v[1] == 0,
                   f"with 1 pair vCPU 1's pings leave on queue 0 (guest {g}, vswitch {v})")
            g, v = set_combined(b, vm, 2, 2)
            expect(g[1] >= 20 and v[1] >= 20,
                   f"pair 1 carries vCPU 1's pings again (guest {g}, vswitch {v})")

            # The controller's link-down outlives a guest reboot.
            out = cgi(b, "reboot")
            expect("rebooting" in out, "the guest is asked to reboot")
            deadline = time.monotonic() + 30
            down = {}
            while time.monotonic() < deadline:
                down = vm.request(op="link", iface=0, up=False)
                if down.get("ok"):
                    break
                time.sleep(0.5)  # between boots: EAGAIN, try again
            expect(down.get("ok") and not down["admin_up"], f"link-down accepted ({down})")
            deadline = time.monotonic() + BOOT_LIMIT
            while time.monotonic() < deadline and \
                    len([ln for ln in vm.lines() if "evr-net: ready" in ln]) < 2:
                time.sleep(1)
            lines = vm.lines()
            readies = [i for i, ln in enumerate(lines) if "evr-net: ready" in ln]
            expect(len(readies) == 2, "the guest rebooted (on_reboot restart) and came up again")
            st = vm.request(op="status")
            expect(st.get("boots") == 2, f"evr-vmm counts 2 boots ({st})")
            # The new boot's backend: the vswitch reconnects to the new socket.
            deadline = time.monotonic() + 60
            link = {}
            while time.monotonic() < deadline:
                link = vm.request(op="link", iface=0)
                if link.get("backend"):
                    break
                time.sleep(0.5)
            expect(link.get("backend") and not link["admin_up"] and not link["up"],
                   f"after the reboot: the vswitch reconnected, the link is still down ({link})")
            time.sleep(2)
            after = [ln for ln in vm.lines()[readies[1]:] if "evr-net: carrier=" in ln]
            expect(after and all(ln.endswith("carrier=0") for ln in after),
                   f"the new boot's guest sees carrier 0 ({after})")
            expect(not pings(b, 1), "and is not reached")
            up = vm.request(op="link", iface=0, up=True)
            expect(up.get("ok") and up["up"], "link-up accepted")
            expect(vm.wait_carrier("1"), "the new boot's guest sees its carrier come up")
            expect(pings(b), "and is reached again")
            ok = True
    finally:
        if vm:
            rc = vm.stop()
            if not ok or rc != 0:
                vm.dump()
            if ok:
                expect(rc == 0, "evr-vmm exits 0 when stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
