"""dpdk suite: start-up configuration and options of evr-vswitch, with real
DPDK. Proves: a --config file (JSON array of requests) is applied in order
and forwards; a config with a bad request stops the start with an error
naming the request's index and field, exit status 1 and no socket left
behind; bad options are refused with exit status 2."""

import os
import subprocess
import sys
import tempfile

from vslab import Bench, expect, frame, remove_runtime_dirs


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
    with Bench(["w0", "va"], name="cfg", config=config) as b:
        dump = b.ok(op="dump")["dump"]
        expect([p["name"] for p in dump["ports"]] == ["w0", "va"] and
               dump["slices"][0]["vlans"] == ["10-20"], "the config file was applied in order")
        for seq in range(10):
            b.ends["w0"].send(frame(15, 1, seq))
        got = b.ends["va"].recv_all(10)
        expect([q for _, _, q in got] == list(range(10)), "and the slice it declares forwards")
        check_rx_queues(b)
        binary = b.binary
        prefix = b.prefix

    try:
        check_startup_errors(binary, prefix)
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
    queues = {p["name"]: p["rx_queues"] for p in b.ok(op="dump")["dump"]["ports"]}
    expect(queues["n0"] == 1 and queues["n1"] == 8,
           f"rx_queues=1 opens one receive queue, the default all (at most 8): {queues}")
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


if __name__ == "__main__":
    sys.exit(main())
