"""Lab test: a router-engine VM with a 2-queue-pair virtio-net interface on
evr-vswitch (VIRTIO_NET_F_MQ, the control queue evr-vmm serves), and its
link state set by the controller surviving a guest reboot.

usage: test_vm_net_mq.py EVR-VSWITCH EVR-VMM KERNEL INITRD

The vswitch's wire port is a veth (net_af_packet) whose other end, in the
test's namespace, carries VLAN 100 (10.100.0.1/24); the VM port is
net_vhost with queues=2 connecting to evr-vmm's socket as the client. One
VM under evr-vmm (2 vCPUs, 256 MiB, on_reboot restart, its console on a
unix socket), interface {"queues": 2}, on an access slice of VLAN 100: eth0
10.100.0.2. The guest gets the Debian ethtool (with its libraries, from the
lab's root), serves a blob over HTTP and takes the test's commands on its
console (ethtool -L/-l/-S, ping from one vCPU with taskset, a static
neighbour, reboot): never over eth0, whose per-queue counts they would add
to.

Proves: Linux's virtio_net negotiates MQ and, with 2 CPUs, asks for 2 pairs
at probe (VQ_PAIRS_SET through the control queue: evr-vmm says "2 queue
pairs in use", the guest has rx-0, rx-1, tx-0, tx-1 and ethtool -l says
combined 2 of 2); ping and a 512 KiB HTTP transfer (SHA-256 compared); 20
pings sent from vCPU 0 leave on the guest's transmit queue 0 and 20 from
vCPU 1 on queue 1, with nothing on the other queue, seen both in the guest
(ethtool -S tx_queue_N_packets) and in the vswitch (DPDK's per-queue
receive counters of the VM port, over telemetry); ethtool -L eth0 combined
1 reaches evr-vmm ("1 queue pair in use") and vCPU 1's 20 pings then leave
on queue 0, none on queue 1; combined 2 brings them back to queue 1. Then
the controller's link-down (evr-vmm's control socket) and a guest reboot
(on_reboot restart): the new boot comes up with the vswitch reconnected but
its carrier down (admin state kept), and link-up brings carrier and
traffic back.

The per-queue counts are exact because during each count eth0 carries the
guest's 20 echo requests and nothing else: no command crosses it (they use
the console), each side has the other as a permanent neighbour (no ARP),
the guest has no IPv6 on eth0 (no router solicitations or MLD reports),
and the guest counts only once its TCP connections (the HTTP transfer's)
are done; the guest's ICMP echo requests sent over the window are checked
to equal the packets counted.

The vswitch runs one worker, which transmits toward the VM on DPDK queue 0
only: the guest receives on queue 0 (docs/vswitch.md, VM ports). docs/vmm.md
has the run times and the counts."""

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "dpdk"))
from vslab import Bench, expect, run  # noqa: E402
from test_vm_net import Vm, make_initrd  # noqa: E402

BOOT_LIMIT = 420
MAC = "02:00:00:00:0c:01"
GUEST_ADDR = "10.100.0.2"
HOST_ADDR = "10.100.0.1"
PINGS = 20  # what the guest's ping command sends

GUEST = r"""
# The guest's half (busybox sh): eth0 on VLAN 100's access slice, a blob
# over HTTP, the test's commands from the console and every carrier change
# of eth0 on the console.
e=eth0
# No IPv6 on eth0: its router solicitations and MLD reports would be
# transmit packets that no per-queue count asked for.
for c in all $e; do
    f=/proc/sys/net/ipv6/conf/$c/disable_ipv6
    [ -e $f ] && echo 1 >$f
done
ip link set $e up
ip addr add 10.100.0.2/24 dev $e
mkdir -p /www
dd if=/dev/urandom of=/www/blob bs=1024 count=512 2>/dev/null
httpd -p 80 -h /www

# snmp LINE FIELD: FIELD of /proc/net/snmp's LINE (Icmp, Tcp, ...).
snmp() {
    awk -v t="$1:" -v f="$2" '$1 == t { if (!(f in col)) { for (i = 2; i <= NF; i++) col[$i] = i }
                              else print $col[f] }' /proc/net/snmp
}
# busy: the TCP connections that may still send (any state but LISTEN and
# TIME_WAIT, which send nothing unasked).
busy() {
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
        awk '$4 ~ /^[0-9A-F][0-9A-F]$/ && $4 != "0A" && $4 != "06" { print $2 ">" $3 ":" $4 }'
}
# counts: once no TCP connection may send any more (at most 60 s), the
# transmit packets per queue (ethtool -S) and the ICMP echo requests, TCP
# segments and UDP datagrams sent so far.
counts() {
    i=0
    while [ -n "$(busy)" ] && [ $i -lt 300 ]; do usleep 200000; i=$((i + 1)); done
    q=$(ethtool -S $e 2>&1 | sed -n 's/^ *tx_queue_\([0-9]*\)_packets: \([0-9]*\)$/tx\1=\2/p')
    echo "busy=[$(busy | tr '\n' ' ')]" $q "echos=$(snmp Icmp OutEchos)" \
        "tcp=$(snmp Tcp OutSegs) udp=$(snmp Udp OutDatagrams)"
}
# The test's commands, "N COMMAND [ARG]" on the console, each answered by
# "evr-net: did N RESULT" (one line).
serve() {
    while read -r n cmd arg; do
        case "$cmd" in
        counts) out=$(counts) ;;
        ping) taskset "$arg" ping -c 20 -i 0.2 -W 2 10.100.0.1 >/dev/null 2>&1; out="rc=$?" ;;
        combined) r=$(ethtool -L $e combined "$arg" 2>&1); out="rc=$? $r" ;;
        channels) out=$(ethtool -l $e 2>&1) ;;
        neigh) r=$(arp -i $e -s 10.100.0.1 "$arg" 2>&1); out="rc=$? $r $(ip neigh show dev $e)" ;;
        reboot) (sleep 2; reboot -f) >/dev/null 2>&1 </dev/null & out=rebooting ;;
        *) out="unknown command '$cmd'" ;;
        esac
        echo "evr-net: did $n $(echo $out)"
    done
}
stty -F /dev/ttyS0 -echo
serve </dev/ttyS0 &
q=$(cd /sys/class/net/$e/queues && echo *)
echo "evr-net: ready mac=$(cat /sys/class/net/$e/address) queues=$q sha=$(sha256sum /www/blob | cut -d' ' -f1)"
"""  # make_initrd appends test_vm_net's CARRIER_LOOP


class MqVm(Vm):
    """Vm (test_vm_net.py) with 2 vCPUs, one interface of 2 queue pairs,
    on_reboot restart and its console on a unix socket: a thread copies
    what the guest prints to the console file Vm reads, command() writes
    to the guest."""

    def __init__(self, vmm, kernel, initrd, tmp):
        con = os.path.join(tmp, "vm-mq.con")
        super().__init__("vm-mq", vmm, kernel, initrd, tmp, "mq",
                         net=lambda sock: [{"vhost_user": sock, "mac": MAC, "queues": 2}],
                         vcpus=2, on_reboot="restart", console=f"socket:{con}")
        self.seq = 0
        self.conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.conn.connect(con)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise AssertionError(f"evr-vmm does not listen on its console socket {con}")
                time.sleep(0.05)
        self.copier = threading.Thread(target=self._copy_console, daemon=True)
        self.copier.start()

    def _copy_console(self):
        with open(self.console, "ab") as f:
            while True:
                try:
                    data = self.conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                f.write(data)
                f.flush()

    def command(self, text, limit=120):
        """The guest's one-line answer to `text` sent on its console."""
        self.seq += 1
        self.conn.sendall(f"{self.seq} {text}\n".encode())
        m = self.wait_line(rf"evr-net: did {self.seq} (.*)$", limit=limit)
        if m is None:
            raise AssertionError(f"the guest does not answer '{text}' on its console")
        return m.group(1)

    def stop(self):
        rc = super().stop()
        self.copier.join(timeout=10)  # the console socket closes with evr-vmm
        self.conn.close()
        return rc

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


def fetch_blob(b):
    """GET http://GUEST_ADDR/blob from the test's namespace: the body
    (bytes), or None."""
    code = ("import sys,urllib.request;"
            "sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1],timeout=120).read())")
    r = subprocess.run(["ip", "netns", "exec", b.ns, sys.executable, "-c", code,
                        f"http://{GUEST_ADDR}/blob"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if r.returncode != 0:
        print(f"GET /blob: {r.stderr.decode(errors='replace').strip()[-300:]}")
        return None
    return r.stdout


def guest_counts(vm):
    """The guest's counts (its `counts` command) once its TCP connections
    are done: the transmit packets per queue in use ({0: .., 1: ..}; ethtool -S
    lists only those) and the packets sent ({"echos": .., "tcp": ..,
    "udp": ..})."""
    out = vm.command("counts")
    m = re.fullmatch(r"busy=\[(.*?)\] (.*)", out)
    got = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))} if m else {}
    if not {"tx0", "echos", "tcp", "udp"} <= got.keys():
        raise AssertionError(f"the guest's counts do not parse ({out})")
    if m.group(1).strip():
        raise AssertionError(f"the guest's TCP connections are not done ({m.group(1)})")
    return ({int(k[2:]): n for k, n in got.items() if k.startswith("tx")},
            {k: got[k] for k in ("echos", "tcp", "udp")})


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


def ping_from(b, vm, cpu, pairs, queue):
    """With `pairs` queue pairs in use, the guest pings the test host PINGS
    times from vCPU `cpu`, nothing else crossing eth0 between the counts:
    checks that both sides counted exactly those packets, all on transmit
    queue `queue`."""
    label = f"{pairs} pair{'s' if pairs > 1 else ''}"
    (g0, s0), v0 = guest_counts(vm), vswitch_rx(b)
    out = vm.command(f"ping {1 << cpu}")
    expect(out == "rc=0", f"{label}: the guest's {PINGS} pings from vCPU {cpu} are answered "
           f"({out})")
    (g1, s1), v1 = guest_counts(vm), vswitch_rx(b)
    expect(g0.keys() == g1.keys() == set(range(pairs)),
           f"{label}: the guest has {pairs} transmit queues in use ({g0}, {g1})")
    g = {q: g1[q] - g0[q] for q in g1}
    v = {q: v1[q] - v0[q] for q in (0, 1)}
    sent = {k: s1[k] - s0[k] for k in s1}
    print(f"{label}, {PINGS} pings from vCPU {cpu}: guest tx per queue {g}, vswitch rx per queue "
          f"{v}, the guest's sent packets {sent}")
    expect(sent == {"echos": PINGS, "tcp": 0, "udp": 0} and sum(g.values()) == PINGS,
           f"{label}: the guest sent its {PINGS} echo requests and nothing else ({sent}, "
           f"transmit queues {g})")
    expect(all(n == (PINGS if q == queue else 0) for q, n in [*g.items(), *v.items()]),
           f"{label}: vCPU {cpu}'s {PINGS} pings leave on queue {queue} and none on another: "
           f"guest {g}, vswitch {v}")


def set_combined(b, vm, pairs, times):
    """ethtool -L eth0 combined `pairs` in the guest, seen by evr-vmm for the
    `times`th time."""
    out = vm.command(f"combined {pairs}")
    expect(out.startswith("rc=0"), f"ethtool -L eth0 combined {pairs} ({out})")
    said = f"net0: {pairs} queue pair{'s' if pairs > 1 else ''} in use"
    expect(vm.vmm_says(said) == times, f"evr-vmm took VQ_PAIRS_SET {pairs} ('{said}')")


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
            # Each side has the other as a permanent neighbour (the guest's
            # from a command below): no ARP crosses eth0 while it counts.
            ns_run(b, "ip", "neigh", "replace", GUEST_ADDR, "lladdr", MAC, "dev", f"{outer}.100",
                   "nud", "permanent", check=True)
            host_mac = ns_run(b, "cat", f"/sys/class/net/{outer}/address",
                              check=True).stdout.strip()
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
            out = vm.command(f"neigh {host_mac}")
            permanent = rf"{re.escape(HOST_ADDR)} .*lladdr {host_mac}.* PERMANENT"
            expect(out.startswith("rc=0") and re.search(permanent, out) is not None,
                   f"the guest has {HOST_ADDR} as a permanent neighbour ({out})")
            expect(vm.wait_carrier("1"), "carrier up")
            expect(pings(b), f"VLAN 100 reaches the VM (ping {GUEST_ADDR})")
            body = fetch_blob(b)
            expect(body is not None and hashlib.sha256(body).hexdigest() == sha,
                   "a 512 KiB HTTP transfer arrives intact")
            ch = vm.command("channels")
            expect(re.findall(r"Combined:\s+(\d+)", ch) == ["2", "2"],
                   f"ethtool -l: combined 2 of at most 2 ({ch})")

            # Each vCPU's pings leave on its own transmit queue (XPS).
            for cpu in (0, 1):
                ping_from(b, vm, cpu, pairs=2, queue=cpu)

            # ethtool -L combined 1: the guest's VQ_PAIRS_SET 1 reaches evr-vmm,
            # which disables pair 1's rings on the vswitch; vCPU 1's pings
            # then leave on queue 0. combined 2 brings them back to queue 1.
            set_combined(b, vm, 1, 1)
            ping_from(b, vm, 1, pairs=1, queue=0)
            set_combined(b, vm, 2, 2)
            ping_from(b, vm, 1, pairs=2, queue=1)

            # The controller's link-down outlives a guest reboot.
            out = vm.command("reboot")
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
            expect(vm.wait_line(r"evr-net: carrier=", after=readies[1]) is not None,
                   "the new boot's guest reports its carrier")
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
