"""Test bench for evr-vswitch on the host: veth pairs whose outer ends live
in a network namespace made for the test, the vswitch on the inner ends
(net_af_packet), AF_PACKET sockets on the outer ends to send and receive,
and a client for the control socket.

Everything a Bench makes is named after its test's pid (namespace
evrt-NAME-PID, veths evPIDiN/evPIDoN, tap evtapPID, bridge evbrPID, DPDK
runtime /var/run/dpdk/evrtPID*). It is removed on exit, and a Bench starting
removes what tests whose pid is gone left behind: meson gives a test it
times out 0.5 s between SIGTERM and SIGKILL, not enough to clean up. The
vswitch and any DPDK process a test starts die with it (PR_SET_PDEATHSIG).

Frames are collected until marker frames sent after the test's frames, along
the same paths, came through: no test waits for a time of silence."""

import collections
import ctypes
import glob
import itertools
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "lib"))
import evrctl  # noqa: E402

CLONE_NEWNET = 0x40000000
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 1 << 4
ETH_P_ALL = 0x0003
SO_RCVBUFFORCE = 33
SO_TIMESTAMPNS = 35
PACKET_STATISTICS = 6
PR_SET_PDEATHSIG = 1
MAGIC = b"EVRT"
MARKER_STREAM = 0xFFFF  # stream id of marker frames, never a test's
_marker_seq = itertools.count()

_libc = ctypes.CDLL(None, use_errno=True)
_cpus = os.sched_getaffinity(0)  # before a Bench pins the test to one CPU


def run(*cmd, check=True):
    return subprocess.run(cmd, check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def die_with_parent():
    """preexec_fn for a test's child processes: SIGKILL when the test dies,
    so a test killed by meson leaves no vswitch or testpmd running; and the
    CPUs the test had before it pinned itself (see Bench)."""
    if _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    os.sched_setaffinity(0, _cpus)


def pid_gone(pid):
    """Whether no process has this pid (names made by a test carry it)."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return False


def reap_leftovers():
    """Removes namespaces, links and DPDK runtime directories named after
    the pid of a test that no longer runs (see the module's docstring)."""
    for ns in json.loads(run("ip", "-j", "netns", "list").stdout or "[]"):
        m = re.fullmatch(r"evrt-[\w-]+-(\d+)", ns["name"])
        if m and pid_gone(m.group(1)):
            run("ip", "netns", "del", ns["name"], check=False)
    for link in json.loads(run("ip", "-j", "link", "show").stdout or "[]"):
        m = re.fullmatch(r"ev(?:tap|br)?(\d+)(?:[io]\d+)?", link["ifname"])
        if m and pid_gone(m.group(1)):
            run("ip", "link", "del", link["ifname"], check=False)
    for path in glob.glob("/var/run/dpdk/evrt*"):
        m = re.match(r"evrt(\d+)", os.path.basename(path))
        if m and pid_gone(m.group(1)):
            shutil.rmtree(path, ignore_errors=True)


def stop_process(proc, timeout=20):
    """SIGTERM, then SIGKILL if the process has not ended within timeout."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def skip(why):
    """Exit 77 (meson's skip), or 1 where a skip must not pass for success:
    under CI=true and under tools/test (EVR_TEST_NO_SKIP=1), which run on a
    machine set up for every suite."""
    if os.environ.get("CI") == "true" or os.environ.get("EVR_TEST_NO_SKIP") == "1":
        print(f"FAIL: would skip, but skips are failures here (CI / tools/test): {why}")
        sys.exit(1)
    print(f"SKIP: {why}")
    sys.exit(77)


def frame(vlan, stream, seq, src_ip=0x0A000001, sport=1000, mac_src=1):
    """A 64-byte UDP/IPv4 frame (60 on the wire without FCS; more when tagged)
    carrying MAGIC, a stream id and a sequence number."""
    eth = bytes([2, 0, 0, 0, 0, 0x10, 2, 0, 0, 0, 0, mac_src])
    if vlan is not None:
        eth += struct.pack("!HH", 0x8100, vlan)
    eth += b"\x08\x00"
    payload = MAGIC + struct.pack("!HI", stream, seq)
    udp = struct.pack("!HHHH", sport, 4789, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     struct.pack("!I", src_ip), bytes([10, 0, 0, 2]))
    pkt = eth + ip + udp
    return pkt + bytes(max(0, 60 + (4 if vlan is not None else 0) - len(pkt)))


def parse(data, aux_vlan):
    """(vlan or None, stream, seq) of a test frame, or None for other frames.
    The kernel hands VLAN tags of received frames over out of band (auxdata)."""
    off = 12
    vlan = aux_vlan
    if data[off:off + 2] == b"\x81\x00":
        vlan = struct.unpack("!H", data[off + 2:off + 4])[0] & 0xFFF
        off += 4
    if data[off:off + 2] != b"\x08\x00":
        return None
    p = off + 2 + 20 + 8
    if data[p:p + 4] != MAGIC:
        return None
    stream, seq = struct.unpack("!HI", data[p + 4:p + 10])
    return vlan, stream, seq


class Endpoint:
    """An AF_PACKET socket on the outer end of a veth (inside the namespace)."""

    def __init__(self, sock, name):
        self.sock = sock
        self.name = name
        self.rx_time = {}  # (stream, seq) -> when the kernel received it (CLOCK_REALTIME)

    def send(self, data):
        while True:
            try:
                self.sock.send(data)
                return
            except BlockingIOError:
                select.select([], [self.sock], [], 0.1)
            except OSError as e:
                if e.errno == 105:  # ENOBUFS: the device queue is full for a moment
                    time.sleep(0.0005)
                    continue
                raise

    def _read_ready(self, got):
        """Reads what is queued; False when the link is down (nothing comes)."""
        while True:
            try:
                data, anc, _, _ = self.sock.recvmsg(2048, socket.CMSG_SPACE(20) +
                                                    socket.CMSG_SPACE(16), socket.MSG_DONTWAIT)
            except BlockingIOError:
                return True
            except OSError as e:
                if e.errno == 100:  # ENETDOWN: this end's link is down, it gets nothing
                    return False
                raise
            aux_vlan, when = None, None
            for level, typ, cdata in anc:
                if level == SOL_PACKET and typ == PACKET_AUXDATA:
                    status, _, _, _, _, tci, _ = struct.unpack("IIIHHHH", cdata[:20])
                    if status & TP_STATUS_VLAN_VALID:
                        aux_vlan = tci & 0xFFF
                elif level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", cdata[:16])
                    when = sec + nsec * 1e-9
            f = parse(data, aux_vlan)
            if f:
                got.append(f)
                self.rx_time[f[1:]] = when

    def recv_all(self, markers, limit=30.0):
        """recv_many() of this endpoint alone."""
        return recv_many([self], markers, limit)[self.name]

    def wait_any(self, limit):
        """Test frames, as soon as at least one came, or none after `limit`
        seconds (a probe for a path coming up)."""
        got = []
        deadline = time.monotonic() + limit
        while not got and time.monotonic() < deadline:
            select.select([self.sock], [], [], max(0.0, deadline - time.monotonic()))
            if not self._read_ready(got):
                break
        return [f for f in got if f[1] != MARKER_STREAM]

    def kernel_drops(self):
        """Frames the kernel dropped because this socket's buffer was full
        (reading resets the count)."""
        packets, drops = struct.unpack("II", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        return drops

    def drain(self):
        """Drops what is queued on the socket now."""
        self._read_ready([])


# LAG tests: FLOWS flows of PER_FLOW frames each, every flow its own
# addresses (hence its own bucket of the vswitch's flow hash).
FLOWS = 64
PER_FLOW = 5


def flow(n):
    """frame() options of flow n."""
    return {"src_ip": 0x0A000100 + n, "sport": 2000 + n}


def send_flows(b, src, stream, per_flow=PER_FLOW):
    """Every flow's frames from endpoint src, untagged, interleaved."""
    for seq in range(per_flow):
        for f in range(FLOWS):
            b.ends[src].send(frame(None, stream, seq * FLOWS + f, **flow(f)))


def collect(b, src, members):
    """member -> {flow: [seq...]}, and the set of VLAN tags seen, for one
    send_flows() worth of frames from src."""
    out, tags = {}, set()
    # A marker on every flow: each follows its flow to its member.
    frames = recv_many([b.ends[m] for m in members],
                       [marker(b.ends[src], **flow(f)) for f in range(FLOWS)])
    for m in members:
        flows = collections.defaultdict(list)
        for vlan, _, seq in frames[m]:
            tags.add(vlan)
            flows[seq % FLOWS].append(seq // FLOWS)
        out[m] = flows
    return out, tags


def expect_hashed(got, per_flow=PER_FLOW):
    """Checks collect()'s result over two members: each flow on exactly one
    member, the flows spread over both, each complete and in order."""
    (m0, f0), (m1, f1) = got.items()
    on0, on1 = set(f0), set(f1)
    expect(not (on0 & on1) and on0 | on1 == set(range(FLOWS)),
           f"each of {FLOWS} flows leaves on exactly one member")
    expect(len(on0) >= FLOWS // 4 and len(on1) >= FLOWS // 4,
           f"the flows are spread over both members ({m0} {len(on0)}, {m1} {len(on1)})")
    expect(all(flows[f] == list(range(per_flow)) for flows in got.values() for f in flows),
           "each flow arrives complete and in order")


def marker(src, vlan=None, **options):
    """A marker for recv_many(): sent from endpoint `src` with `vlan` and
    frame() options (src_ip, sport: the flow, hence the receive queue, of
    the test frames it follows)."""
    return (src, vlan, options)


def recv_many(ends, markers, limit=30.0):
    """Test frames that reached `ends`: {name: [(vlan, stream, seq)]}, marker
    frames left out. Reads until each of `markers` (see marker()) came
    through, twice: the second round is sent once the first arrived, so the
    vswitch takes it in a later receive burst than every frame sent before
    the call, and the kernel delivers it after everything the vswitch sent
    before it, to any of `ends`. Then what is queued is read once more. A
    marker that does not arrive within `limit` seconds is a failure."""
    got = {e.name: [] for e in ends}
    live = list(ends)
    deadline = time.monotonic() + limit
    for _ in range(2):
        pending = set()
        for src, vlan, options in markers:
            seq = next(_marker_seq)
            src.send(frame(vlan, MARKER_STREAM, seq, **options))
            pending.add(seq)
        while pending and live and time.monotonic() < deadline:
            r, _, _ = select.select([e.sock for e in live], [], [],
                                    max(0.0, deadline - time.monotonic()))
            for e in live[:]:
                if e.sock in r and not e._read_ready(got[e.name]):
                    live.remove(e)
            for frames in got.values():
                pending -= {q for _, s, q in frames if s == MARKER_STREAM}
        if pending:
            raise AssertionError(f"{len(pending)} of {len(markers)} marker frames did not reach "
                                 f"{', '.join(e.name for e in ends)} within {limit} s")
    for e in live:
        e._read_ready(got[e.name])
    return {name: [f for f in frames if f[1] != MARKER_STREAM] for name, frames in got.items()}


class Bench:
    def __init__(self, links, workers=1, name="split", config=None, mbufs=4095,
                 eal=("--no-pci",), idle_sleep_us=100, vswitch_env=None):
        if os.geteuid() != 0:
            skip("needs root (network namespaces, veth, DPDK)")
        self.binary = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("EVR_VSWITCH")
        if not self.binary:
            raise SystemExit("usage: test.py PATH-TO-evr-vswitch (or set EVR_VSWITCH)")
        self.bad_exit = None
        reap_leftovers()
        # One CPU for the test's own sends: frames queued by the kernel on
        # two CPUs' backlogs could overtake each other (and a marker the
        # frames it follows) before the vswitch saw them. The first CPU the
        # test may use: CPU 0 on the host, CPU 1 in the lab, which keeps
        # CPU 0 free of the nested guests this test's children run
        # (docs/lab.md, "Issue 9's cause").
        os.sched_setaffinity(0, {min(_cpus)})
        self.tag = str(os.getpid())  # in every name, see the module's docstring
        self.ns = f"evrt-{name}-{self.tag}"
        self.prefix = f"evrt{self.tag}"
        self.links = links
        self.ifnames = {}
        self.ends = {}
        self.proc = None
        self.tmp = tempfile.TemporaryDirectory(prefix="evr-vswitch-test-")
        self.sock_path = os.path.join(self.tmp.name, "control.sock")
        self.log_path = os.path.join(self.tmp.name, "vswitch.log")
        self.workers = workers
        self.config = config  # callable(bench) -> list of requests, written to --config
        self.mbufs = mbufs
        self.eal = list(eal)  # EAL options beyond memory, lcores and file prefix
        # Workers sleep this long when idle, leaving CPU 1 to the test's
        # kernel work on a 2-CPU machine; None: the vswitch's default, 0.
        self.idle_sleep_us = idle_sleep_us
        self.vswitch_env = vswitch_env  # added to the vswitch's environment
        self.ctl = None  # evrctl.Client
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame_):
        raise SystemExit(f"signal {signum}")

    def __enter__(self):
        try:
            self._setup()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        if exc_type is None and self.bad_exit is not None:
            raise AssertionError(f"evr-vswitch exited with status {self.bad_exit} "
                                 "(sanitizer report or error above)")
        return False

    def _setup(self):
        run("ip", "netns", "add", self.ns)
        run("ip", "netns", "exec", self.ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1")
        for i, link in enumerate(self.links):
            inner = f"ev{self.tag}i{i}"
            outer = f"ev{self.tag}o{i}"
            run("ip", "link", "add", inner, "type", "veth", "peer", "name", outer, "netns", self.ns)
            run("sysctl", "-qw", f"net.ipv6.conf.{inner}.disable_ipv6=1")
            run("ip", "link", "set", inner, "up")
            run("ip", "netns", "exec", self.ns, "ip", "link", "set", outer, "up")
            self.ifnames[link] = (inner, outer)
        self._open_endpoints()
        self._start_vswitch()

    def _open_endpoints(self):
        for link, (_, outer) in self.ifnames.items():
            self.open_endpoint(link, outer)

    def open_endpoint(self, name, ifname):
        """An AF_PACKET endpoint on netdev `ifname` of the test's namespace,
        kept as self.ends[name]."""
        root = os.open("/proc/self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.ns}", os.O_RDONLY)
        try:
            if _libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
            s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            s.bind((ifname, 0))
            s.setblocking(False)
            self.ends[name] = Endpoint(s, name)
        finally:
            if _libc.setns(root, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
            os.close(root)
            os.close(target)

    def _start_vswitch(self):
        # Main lcore on CPU 0, every worker on CPU 1: two CPUs on the CI box.
        lcores = ",".join(["0@0"] + [f"{i}@1" for i in range(1, self.workers + 1)])
        cmd = [self.binary, "--no-huge", "-m", "256", "--lcores", lcores, "--main-lcore", "0",
               *self.eal, "--file-prefix", self.prefix, "--log-level", "*:warning",
               "--", "--control", self.sock_path, "--mbufs", str(self.mbufs)]
        if self.idle_sleep_us is not None:
            cmd += ["--idle-sleep-us", str(self.idle_sleep_us)]
        if self.config:
            path = os.path.join(self.tmp.name, "config.json")
            with open(path, "w") as f:
                json.dump(self.config(self), f)
            cmd += ["--config", path]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(self.vswitch_env or {})},
                                     preexec_fn=die_with_parent)
        deadline = time.monotonic() + 60
        while not os.path.exists(self.sock_path):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"evr-vswitch did not start:\n{open(self.log_path).read()}")
            time.sleep(0.05)
        mode = os.stat(self.sock_path).st_mode & 0o777
        if mode != 0o600:
            raise SystemExit(f"control socket mode is {mode:o}, not 600")
        self.ctl = evrctl.Client(self.sock_path)

    def request(self, **req):
        try:
            return self.ctl.request(**req)
        except ConnectionError:
            raise SystemExit(f"evr-vswitch closed the control socket:\n{open(self.log_path).read()}")

    def ok(self, **req):
        reply = self.request(**req)
        if not reply.get("ok"):
            raise AssertionError(f"{req} failed: {reply}")
        return reply

    def devargs(self, link, qpairs=None):
        inner = self.ifnames[link][0]
        n = list(self.ifnames).index(link)
        # A deep ring rides out the worker being descheduled on a shared machine.
        return f"net_af_packet{n},iface={inner},qpairs={qpairs or self.workers},framecnt=4096"

    def add_port(self, link, role, qpairs=None):
        return self.ok(op="port-add", name=link, devargs=self.devargs(link, qpairs), role=role)

    def set_link(self, link, up):
        outer = self.ifnames[link][1]
        run("ip", "netns", "exec", self.ns, "ip", "link", "set", outer, "up" if up else "down")

    def restart_vswitch(self):
        """Stops the vswitch (SIGTERM) and starts a fresh one with no config."""
        self.ctl.close()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=20)
        if rc != 0:
            print(open(self.log_path).read())
            raise AssertionError(f"evr-vswitch exited with status {rc} on SIGTERM")
        self.log.close()
        self._start_vswitch()

    def stats(self):
        return self.ok(op="stats")["stats"]

    def ethdev_info(self, device):
        """What DPDK's ethdev layer in the vswitch process says of `device`
        (its name in devargs, e.g. net_null7): queue counts, offloads,
        state. Read over DPDK's telemetry socket, not the vswitch's control
        socket, so a test checks the device, not the vswitch's account."""
        path = f"/var/run/dpdk/{self.prefix}/dpdk_telemetry.v2"
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.connect(path)
            s.recv(16384)  # the greeting: version, pid, max_output_len

            def query(q):
                s.send(q.encode())
                return json.loads(s.recv(1 << 20))

            for port in query("/ethdev/list")["/ethdev/list"]:
                info = query(f"/ethdev/info,{port}")["/ethdev/info"]
                if info["name"] == device:
                    return info
        raise AssertionError(f"DPDK telemetry at {path} lists no device {device}")

    def wait_link(self, port, up, limit=10.0):
        """True once the vswitch's dump shows port's link_up == up (links
        are polled by the vswitch, so a change shows a moment later)."""
        deadline = time.monotonic() + limit
        while True:
            ports = {p["name"]: p for p in self.ok(op="dump")["dump"]["ports"]}
            if ports[port]["link_up"] == up:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def stats_when(self, cond, limit=20.0):
        """Stats once cond(stats) holds, or the last stats after `limit`
        seconds: counters trail the frames a test saw by a few microseconds,
        and a loaded CI box may stretch that; the caller asserts on them."""
        deadline = time.monotonic() + limit
        while True:
            st = self.stats()
            if cond(st) or time.monotonic() > deadline:
                return st
            time.sleep(0.05)

    def close(self):
        if self.ctl:
            self.ctl.close()
        if self.proc:
            stop_process(self.proc)
        if self.proc and self.proc.returncode not in (0, None):
            print(f"evr-vswitch exited with {self.proc.returncode}:\n{open(self.log_path).read()}")
            self.bad_exit = self.proc.returncode
        for e in self.ends.values():
            e.sock.close()
        for inner, _ in self.ifnames.values():
            run("ip", "link", "del", inner, check=False)
        run("ip", "netns", "del", self.ns, check=False)
        remove_runtime_dirs(self.prefix)
        self.tmp.cleanup()


def remove_runtime_dirs(prefix):
    """DPDK leaves /var/run/dpdk/<file-prefix>/ behind even under --no-huge."""
    for path in glob.glob(f"/var/run/dpdk/{glob.escape(prefix)}*"):
        shutil.rmtree(path, ignore_errors=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}")
