"""Lab test: router-engine VMs on evr-vswitch through virtio-net, the
datapath in DPDK's vhost library, never in evr-vmm.

usage: test_vm_net.py EVR-VSWITCH EVR-VMM KERNEL INITRD

The lab's first e1000e goes to vfio-pci as the vswitch's wire port (as in
tests/lab/vswitch/test_pci_wire.py, whose EAL options this takes); the
second, its cable peer, stays on the kernel's driver in a network namespace
as the test host, with VLAN 100 (10.100.0.1/24) and VLAN 200
(10.200.0.1/24). Two VMs under evr-vmm (1 vCPU, 256 MiB, the lab kernel and
the mkguest initramfs plus a script of this test's own), each with one
virtio-net interface whose vhost-user socket the vswitch's VM port connects
to as the client:

  vm-a  trunk slice, VLAN 100: eth0.100 10.100.0.2, eth0.200 10.200.0.3;
        eth1 192.168.77.2, the management port: the kernel's vhost-net with
        the lab's tap evrmgmt-a (192.168.77.1) as its backend
  vm-b  access slice, VLAN 200: eth0 10.200.0.2

Proves: each VM's interface has the MAC of its config and carrier up, in
the config's order (vm-a's eth1 is the tap); the management port answers a
ping from the lab's side; VLAN
100 reaches vm-a and VLAN 200 reaches vm-b (ping, and an HTTP transfer of
512 KiB whose SHA-256 matches the guest's); VLAN 200 moved to vm-a
(vm-b's slice deleted, vm-a's trunk slice set to VLANs 100 and 200) carries the test host's traffic to vm-a and no longer to
vm-b; the controller's link-down of vm-b's interface (evr-vmm's control
socket) shows as carrier 0 in vm-b and link-up brings it back; kill -9 of
the vswitch takes both guests' carrier down, and a fresh vswitch with the
same ports brings it and the traffic back, with both evr-vmm processes and
their guests untouched (same boot, no restart)."""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "dpdk"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vswitch"))
from vslab import Bench, evrctl, expect, run, stop_process  # noqa: E402
from test_pci_wire import bind, driver_of, e1000e_functions, sysfs, PCI  # noqa: E402
from test_vmm_vhost import kill_vswitch  # noqa: E402

BOOT_LIMIT = 420  # two nested guests booting at once under TCG
MACS = {"vm-a": "02:00:00:00:0a:01", "vm-b": "02:00:00:00:0b:01"}
MGMT_MAC = "02:00:00:00:0a:99"
MGMT_TAP = "evrmgmt-a"

GUEST = r"""
# The guest's half (busybox sh): addresses by role, a 512 KiB file served
# over HTTP, and every carrier change of eth0 on the console.
role=$1
e=eth0
vlan() { ip link add link $e name $e.$1 type vlan id $1 || vconfig add $e $1; }
ip link set $e up
if [ "$role" = a ]; then
    vlan 100 && ip addr add 10.100.0.2/24 dev $e.100 && ip link set $e.100 up
    vlan 200 && ip addr add 10.200.0.3/24 dev $e.200 && ip link set $e.200 up
    ip addr add 192.168.77.2/24 dev eth1 && ip link set eth1 up
    echo "evr-net: mgmt mac=$(cat /sys/class/net/eth1/address)"
else
    ip addr add 10.200.0.2/24 dev $e
fi
mkdir -p /www
dd if=/dev/urandom of=/www/blob bs=1024 count=512 2>/dev/null
httpd -p 80 -h /www
echo "evr-net: ready mac=$(cat /sys/class/net/$e/address) sha=$(sha256sum /www/blob | cut -d' ' -f1)"
"""
# The end of every guest script: each carrier change of $e on the console.
CARRIER_LOOP = r"""
last=
while :; do
    c=$(cat /sys/class/net/$e/carrier 2>/dev/null)
    if [ "$c" != "$last" ]; then echo "evr-net: carrier=$c"; last=$c; fi
    usleep 200000
done
"""


class Vm:
    """One evr-vmm process with its console file and control socket. net:
    a function of the vhost-user socket path giving the "net" list (by
    default this test's, by role); keys: more of the VM config (vcpus,
    on_reboot)."""

    def __init__(self, name, vmm, kernel, initrd, tmp, role, net=None, **keys):
        self.name = name
        self.sock = os.path.join(tmp, f"{name}.0.sock")  # evrd's RUN_DIR/VM.K.sock
        self.control = os.path.join(tmp, f"{name}.control")
        self.console = os.path.join(tmp, f"{name}.console")
        self.err_path = os.path.join(tmp, f"{name}.err")
        cfg = os.path.join(tmp, f"{name}.json")
        if net is None:
            ifaces = [{"vhost_user": self.sock, "mac": MACS[name]}]
            if role == "a":
                ifaces.append({"tap": MGMT_TAP, "mac": MGMT_MAC})
        else:
            ifaces = net(self.sock)
        with open(cfg, "w") as f:
            json.dump({"kernel": kernel, "initrd": initrd, "memory": 256, "vcpus": 1,
                       "console": f"file:{self.console}", "control": self.control,
                       "cmdline": f'console=ttyS0 quiet panic=-1 evr_run="sh /net-guest.sh {role}"',
                       "net": ifaces, **keys}, f)
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen([vmm, "--config", cfg], stdout=self.err,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def lines(self):
        """The guest's complete console lines of interest: the UART writes a
        byte at a time, so a line without its newline yet is left out (a
        half-written "sha=..." once failed the check it fed)."""
        try:
            with open(self.console, errors="replace") as f:
                return [ln.strip() for ln in f if ln.endswith("\n") and
                        ("evr-net:" in ln or "evr-guest:" in ln)]
        except FileNotFoundError:
            return []

    def wait_line(self, pattern, after=0, limit=60.0):
        """The first console line matching pattern among those after the
        first `after` ones; None after limit seconds."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            lines = self.lines()
            for ln in lines[after:]:
                m = re.search(pattern, ln)
                if m:
                    return m
            if self.proc.poll() is not None:
                return None
            time.sleep(0.5)
        return None

    def carrier(self):
        states = [ln for ln in self.lines() if "evr-net: carrier=" in ln]
        return states[-1].rsplit("=", 1)[1] if states else None

    def wait_carrier(self, value, limit=60.0):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.carrier() == value:
                return True
            time.sleep(0.5)
        return False

    def request(self, **req):
        with evrctl.Client(self.control) as c:
            return c.request(**req)

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.request(op="stop")
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired, ValueError, evrctl.Error):
                stop_process(self.proc)
        self.err.close()
        return self.proc.returncode

    def dump(self):
        print(f"--- {self.name} evr-vmm:\n{open(self.err_path).read()}")
        print(f"--- {self.name} console (last lines):")
        try:
            print("".join(open(self.console, errors="replace").readlines()[-40:]))
        except FileNotFoundError:
            pass


def ns_run(b, *cmd, check=False):
    return run("ip", "netns", "exec", b.ns, *cmd, check=check)


def pings(b, addr, count=3):
    r = ns_run(b, "ping", "-c", str(count), "-W", "2", "-i", "0.3", addr)
    return r.returncode == 0


def fetch_sha(b, addr):
    code = ("import hashlib,sys,urllib.request;"
            "print(hashlib.sha256(urllib.request.urlopen(sys.argv[1],timeout=60).read()).hexdigest())")
    r = ns_run(b, sys.executable, "-c", code, f"http://{addr}/blob")
    return r.stdout.strip() if r.returncode == 0 else f"failed: {r.stderr.strip()[-200:]}"


def vswitch_ports(b, vms, vlans_a):
    b.ok(op="port-add", name="w0", devargs=b.wire, role="wire")
    for i, vm in enumerate(vms):
        b.ok(op="port-add", name=vm.name, role="vm",
             devargs=f"net_vhost{i},iface={vm.sock},client=1,queues=1")
    b.ok(op="slice-set", name="sa", uplink="w0", vm="vm-a", mode="trunk", vlans=vlans_a)


def wire_up(b):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ports = {p["name"]: p for p in b.ok(op="dump")["dump"]["ports"]}
        if ports["w0"]["link_up"]:
            return True
        time.sleep(0.3)
    return False


def make_initrd(initrd, tmp, script=GUEST):
    """The initrd with script as /net-guest.sh."""
    extra = os.path.join(tmp, "extra")
    os.makedirs(extra)
    with open(os.path.join(extra, "net-guest.sh"), "w") as f:
        f.write(script + CARRIER_LOOP)
    cpio = subprocess.run("echo net-guest.sh | cpio -o -H newc 2>/dev/null | gzip",
                          shell=True, cwd=extra, check=True, stdout=subprocess.PIPE).stdout
    path = os.path.join(tmp, "initrd")
    with open(path, "wb") as out, open(initrd, "rb") as base:
        out.write(base.read())
        out.write(cpio)
    return path


def main():
    if len(sys.argv) != 5:
        raise SystemExit(__doc__.split("\n\n")[1])
    vswitch, vmm, kernel, initrd = sys.argv[1:5]
    sys.argv[1:] = [vswitch]  # what Bench reads
    nics = e1000e_functions()
    expect(len(nics) >= 2, f"the lab has two e1000e NICs ({nics})")
    wire, peer = nics[0], nics[1]
    peer_if = os.listdir(f"{PCI}/{peer}/net")[0]
    bind(wire, "vfio-pci")
    expect(driver_of(wire) == "vfio-pci", f"{wire} is bound to vfio-pci")
    tmp = tempfile.mkdtemp(prefix="evr-vm-net-")
    guest_initrd = make_initrd(initrd, tmp)
    eal = ["--iova-mode", "va", "--base-virtaddr", "0x40000000", "-a", wire]
    vms = []
    ok = False
    try:
        # The vswitch first, while the lab is idle (EAL start-up under ASan
        # is slow enough without two guests booting); then the VMs, whose
        # sockets the VM ports connect to as clients.
        with Bench([], name="vmnet", eal=eal) as b:
            b.wire = wire
            vms += [Vm("vm-a", vmm, kernel, guest_initrd, tmp, "a"),
                    Vm("vm-b", vmm, kernel, guest_initrd, tmp, "b")]
            a, vb = vms
            for vm in vms:
                deadline = time.monotonic() + 30
                while not os.path.exists(vm.sock) and time.monotonic() < deadline:
                    time.sleep(0.1)
                expect(os.path.exists(vm.sock), f"{vm.name}: evr-vmm listens on {vm.sock}")
            run("ip", "link", "set", peer_if, "netns", b.ns)
            ns_run(b, "ip", "link", "set", peer_if, "up", check=True)
            for vlan in (100, 200):
                sub = f"{peer_if}.{vlan}"
                ns_run(b, "ip", "link", "add", "link", peer_if, "name", sub, "type", "vlan", "id",
                       str(vlan), check=True)
                ns_run(b, "ip", "addr", "add", f"10.{vlan}.0.1/24", "dev", sub, check=True)
                ns_run(b, "ip", "link", "set", sub, "up", check=True)
            vswitch_ports(b, vms, [100])
            b.ok(op="slice-set", name="sb", uplink="w0", vm="vm-b", mode="access", vlans=[200])
            expect(wire_up(b), f"{wire} (net_e1000_em) reports link up")

            ready = {}
            for vm in vms:
                m = vm.wait_line(r"evr-net: ready mac=([0-9a-f:]{17}) sha=([0-9a-f]{64})",
                                 limit=BOOT_LIMIT)
                expect(m is not None, f"{vm.name} booted and configured its interface")
                ready[vm.name] = m
                expect(m.group(1) == MACS[vm.name], f"{vm.name}: eth0 has the config's MAC "
                       f"{MACS[vm.name]} (read from the device's configuration space)")
            m = a.wait_line(r"evr-net: mgmt mac=(\S+)", limit=10)
            expect(m is not None and m.group(1) == MGMT_MAC,
                   f"vm-a: eth1 is the management port, MAC {MGMT_MAC}")
            run("ip", "addr", "add", "192.168.77.1/24", "dev", MGMT_TAP)
            run("ip", "link", "set", MGMT_TAP, "up")
            r = run("ping", "-c", "3", "-W", "2", "-i", "0.3", "192.168.77.2", check=False)
            expect(r.returncode == 0, "the management port (vhost-net + tap) answers a ping from "
                   "the lab's side")
            for vm in vms:
                expect(vm.wait_carrier("1"), f"{vm.name}: carrier up (VIRTIO_NET_S_LINK_UP)")
                link = vm.request(op="link", iface=0)
                expect(link.get("ok") and link["backend"] and link["up"],
                       f"{vm.name}: evr-vmm's control socket says the backend is there, link up")

            expect(pings(b, "10.100.0.2"), "VLAN 100 reaches vm-a (ping 10.100.0.2)")
            expect(pings(b, "10.200.0.2"), "VLAN 200 reaches vm-b (ping 10.200.0.2)")
            for vm, addr in ((a, "10.100.0.2"), (vb, "10.200.0.2")):
                sha = fetch_sha(b, addr)
                expect(sha == ready[vm.name].group(2),
                       f"a 512 KiB HTTP transfer from {vm.name} over its VLAN arrives intact "
                       f"({sha[:16]})")
            expect(not pings(b, "10.200.0.3", 1), "vm-a's VLAN 200 address is not reached yet")

            # VLAN 200 moved to vm-a (a VM port carries one slice: vm-b's goes,
            # vm-a's trunk takes both VLANs), and the controller takes vm-b's
            # link down.
            b.ok(op="slice-del", name="sb")
            b.ok(op="slice-set", name="sa", uplink="w0", vm="vm-a", mode="trunk", vlans=[100, 200])
            down = vb.request(op="link", iface=0, up=False)
            expect(down.get("ok") and not down["admin_up"] and not down["up"],
                   f"link-down of vm-b's interface accepted: {down}")
            expect(vb.wait_carrier("0"), "vm-b sees its carrier go down (configuration interrupt)")
            expect(a.carrier() == "1", "vm-a's carrier stays up")
            expect(pings(b, "10.200.0.3"), "VLAN 200 now reaches vm-a (ping 10.200.0.3)")
            expect(fetch_sha(b, "10.200.0.3") == ready["vm-a"].group(2),
                   "an HTTP transfer from vm-a over VLAN 200 arrives intact")
            expect(not pings(b, "10.200.0.2", 2), "vm-b no longer gets VLAN 200")
            up = vb.request(op="link", iface=0, up=True)
            expect(up.get("ok") and up["up"], "link-up of vm-b's interface accepted")
            expect(vb.wait_carrier("1"), "vm-b sees its carrier come back")

            # kill -9 of the vswitch: both guests lose carrier; a new one
            # with the same ports brings it and the traffic back.
            kill_vswitch(b)
            for vm in vms:
                expect(vm.wait_carrier("0"), f"{vm.name}: carrier down when the vswitch dies")
            b._start_vswitch()
            vswitch_ports(b, vms, [100, 200])
            expect(wire_up(b), "the restarted vswitch's wire port is up")
            for vm in vms:
                expect(vm.wait_carrier("1"), f"{vm.name}: carrier up again (the same rings "
                       "replayed to the new backend)")
            expect(pings(b, "10.100.0.2"), "after the restart VLAN 100 reaches vm-a")
            expect(pings(b, "10.200.0.3"), "after the restart VLAN 200 reaches vm-a")
            expect(fetch_sha(b, "10.100.0.2") == ready["vm-a"].group(2),
                   "after the restart an HTTP transfer from vm-a arrives intact")
            for vm in vms:
                st = vm.request(op="status")
                expect(vm.proc.poll() is None and st.get("boots") == 1,
                       f"{vm.name}: the same evr-vmm and boot throughout ({st})")
                expect(len([ln for ln in vm.lines() if "evr-net: ready" in ln]) == 1,
                       f"{vm.name}: the guest never restarted")
            ok = True
    finally:
        for vm in vms:
            rc = vm.stop()
            if not ok or rc != 0:
                vm.dump()
            if ok:
                expect(rc == 0, f"{vm.name}: evr-vmm exits 0 when stopped")
        bind(wire, "e1000e")
        sysfs(f"{PCI}/{wire}/driver_override", "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
