"""dpdk suite: start-up configuration and options of evr-vswitch, with real
DPDK. Proves: a --config file (JSON array of requests) is applied in order
and forwards; a config with a bad request stops the start with an error
naming the request's index and field, exit status 1 and no socket left
behind; bad options are refused with exit status 2. The --control socket
(evr-vswitch(8)): made under PATH.new and renamed into place, a stale socket
at PATH replaced, any other file there refused (exit 1, left alone); SIGINT
ends the vswitch with status 0 and removes the socket. The bench's vswitch
runs with the production default --idle-sleep-us (0: workers never sleep)."""

import ctypes
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

from vslab import Bench, die_with_parent, evrctl, expect, frame, marker, remove_runtime_dirs

IN_CREATE, IN_MOVED_TO = 0x100, 0x80
_libc = ctypes.CDLL(None, use_errno=True)


def config(b):
    return [
        {"op": "port-add", "name": "w0", "devargs": b.devargs("w0"), "role": "wire"},
        {"op": "port-add", "name": "va", "devargs": b.devargs("va"), "role": "vm"},
        {"op": "slice-set", "name": "s", "uplink": "w0", "vm": "va", "mode": "trunk",
         "vlans": ["10-20"]},
    ]


def run_vswitch(binary, tail, prefix):
    eal = [binary, "--no-huge", "-m", "128", "--lcores", "0@0,1@1", "--main-lcore", "0",
           "--no-pci", "--file-prefix", prefix, "--log-level", "*:warning", "--"]
    r = subprocess.run(eal + tail, capture_output=True, text=True, timeout=60)
    # Exit statuses are checked below; a sanitizer report must not hide in them.
    expect("Sanitizer" not in r.stderr, f"no sanitizer report for {tail}")
    return r


def main():
    with Bench(["w0", "va"], name="cfg", config=config, idle_sleep_us=None) as b:
        dump = b.ok(op="dump")["dump"]
        expect([p["name"] for p in dump["ports"]] == ["w0", "va"] and
               dump["slices"][0]["vlans"] == ["10-20"], "the config file was applied in order")
        for seq in range(10):
            b.ends["w0"].send(frame(15, 1, seq))
        got = b.ends["va"].recv_all([marker(b.ends["w0"], 15)])
        expect([q for _, _, q in got] == list(range(10)), "and the slice it declares forwards")
        check_rx_queues(b)
        binary = b.binary
        prefix = b.prefix

    try:
        check_startup_errors(binary, prefix)
        check_control_socket(binary, prefix)
    finally:
        remove_runtime_dirs(prefix)
    return 0


def check_rx_queues(b):
    """port-add's rx_queues: opens that many receive queues; out of bounds
    is refused without changing anything. (af_packet's refusal is not tried
    here: a second af_packet socket on a test veth would join the first's
    fanout group.)"""
    b.ok(op="port-add", name="n0", devargs="net_null7,no-rx=1", role="vm", rx_queues=1)
    b.ok(op="port-add", name="n1", devargs="net_null8,no-rx=1", role="vm")
    queues = {n: b.ethdev_info(d)["nb_rx_queues"] for n, d in (("n0", "net_null7"),
                                                               ("n1", "net_null8"))}
    expect(queues == {"n0": 1, "n1": 8},
           f"rx_queues=1 opens one receive queue, the default all (at most 8), "
           f"as the devices say: {queues}")
    dump = {p["name"]: p["rx_queues"] for p in b.ok(op="dump")["dump"]["ports"]}
    expect(dump["n0"] == 1 and dump["n1"] == 8, f"and the dump says so too: {dump}")
    for extra, part in (({"rx_queues": 9}, "field 'rx_queues': must be a number 1-8"),
                        ({"rx_queues": 0}, "field 'rx_queues': must be a number 1-8"),
                        ({"rx_queues": "2"}, "field 'rx_queues': must be a number 1-8")):
        r = b.request(op="port-add", name="n2", devargs="net_null9,no-rx=1", role="vm", **extra)
        expect(not r["ok"] and part in r["error"]["message"], f"rx_queues {extra} refused: {r}")
    expect([p["name"] for p in b.ok(op="dump")["dump"]["ports"]] == ["w0", "va", "n0", "n1"],
           "the refused port-adds left nothing behind")
    b.ok(op="port-del", name="n0")
    b.ok(op="port-del", name="n1")


def check_startup_errors(binary, prefix):
    with tempfile.TemporaryDirectory(prefix="evr-vswitch-cfg-") as tmp:
        sock = os.path.join(tmp, "c.sock")
        bad = os.path.join(tmp, "bad.json")
        with open(bad, "w") as f:
            f.write('[{"op":"port-add","name":"n0","devargs":"net_null0,no-rx=1","role":"wire"},'
                    '{"op":"port-add","name":"n1","devargs":"net_null1,no-rx=1","role":"vm"},'
                    '{"op":"slice-set","name":"s","uplink":"n0","vm":"nope","mode":"trunk",'
                    '"vlans":[5]}]')
        r = run_vswitch(binary, ["--control", sock, "--config", bad], prefix + "b")
        expect(r.returncode == 1 and "[2]: slice-set: field 'vm': no port 'nope'" in r.stderr,
               f"bad config refused with exit 1 naming request and field: {r.stderr.strip()!r}")
        expect(not os.path.exists(sock), "no control socket is left behind")

        notjson = os.path.join(tmp, "notjson.json")
        with open(notjson, "w") as f:
            f.write('[{"op":"dump"},\n  {"op": }]')
        r = run_vswitch(binary, ["--control", sock, "--config", notjson], prefix + "j")
        expect(r.returncode == 1 and "line 2" in r.stderr,
               f"malformed config refused with its line: {r.stderr.strip()!r}")

        for tail, part in ((["--mbufs", "12x", "--control", sock], "--mbufs: '12x'"),
                           (["--mbufs", "1"], "--mbufs: '1' is not a number in 511-"),
                           ([], "--control PATH is required"),
                           (["--control", sock, "extra"], "unexpected argument 'extra'")):
            r = run_vswitch(binary, tail, prefix + "o")
            expect(r.returncode == 2 and part in r.stderr,
                   f"option error {tail}: exit 2, {part!r}")


def dir_events(fd):
    """(mask, name) of the inotify events queued on fd."""
    out = []
    try:
        data = os.read(fd, 65536)
    except BlockingIOError:
        return out
    off = 0
    while off < len(data):
        _, mask, _, length = struct.unpack_from("iIII", data, off)
        name = data[off + 16:off + 16 + length].rstrip(b"\0").decode()
        out.append((mask, name))
        off += 16 + length
    return out


def start_vswitch(binary, sock, prefix):
    eal = [binary, "--no-huge", "-m", "128", "--lcores", "0@0,1@1", "--main-lcore", "0",
           "--no-pci", "--file-prefix", prefix, "--log-level", "*:warning", "--"]
    return subprocess.Popen(eal + ["--control", sock], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=die_with_parent)


def answers(sock):
    """Whether a vswitch listens at sock and answers a dump."""
    try:
        with evrctl.Client(sock, timeout=30) as c:
            return c.request(op="dump")["ok"] is True
    except (ConnectionRefusedError, FileNotFoundError):
        return False


def check_control_socket(binary, prefix):
    with tempfile.TemporaryDirectory(prefix="evr-vswitch-ctl-") as tmp:
        sock = os.path.join(tmp, "c.sock")
        # A stale socket: bound, then its owner gone.
        stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stale.bind(sock)
        stale.close()
        ino = _libc.inotify_init1(os.O_NONBLOCK)
        if ino < 0 or _libc.inotify_add_watch(ino, tmp.encode(), IN_CREATE | IN_MOVED_TO) < 0:
            raise OSError(ctypes.get_errno(), "inotify")
        proc = start_vswitch(binary, sock, prefix + "s")
        try:
            deadline = time.monotonic() + 60
            while not answers(sock) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            expect(answers(sock),
                   "a stale socket at --control is replaced: the new vswitch answers there")
            events = dir_events(ino)
            expect((IN_MOVED_TO, "c.sock") in events and (IN_CREATE, "c.sock") not in events and
                   (IN_CREATE, "c.sock.new") in events,
                   f"the socket was made as c.sock.new and renamed into place ({events})")
            expect(sorted(os.listdir(tmp)) == ["c.sock"], f"nothing else is left: {os.listdir(tmp)}")
            proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=30)
            expect(proc.returncode == 0 and "Sanitizer" not in out,
                   f"SIGINT ends the vswitch with status 0 (status {proc.returncode}) {out.strip()}")
            expect(not os.path.exists(sock), "and removes its control socket")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            os.close(ino)

        with open(sock, "w") as f:
            f.write("not a socket\n")
        proc = start_vswitch(binary, sock, prefix + "n")
        out, _ = proc.communicate(timeout=60)
        expect(proc.returncode == 1 and f"'{sock}' exists and is not a socket" in out,
               f"a file that is not a socket at --control is refused: status {proc.returncode}, "
               f"{out.strip()!r}")
        expect(open(sock).read() == "not a socket\n", "and left as it was")


if __name__ == "__main__":
    sys.exit(main())
