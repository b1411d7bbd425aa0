#!/usr/bin/env python3
"""Figures for evr-vmm against QEMU and a bare KVM loop, inside one lab run
(tools/bench/vmm-bench runs this in the lab). Not a test: it prints medians
and ratios measured in the same run.

  time to init   from exec to the guest's "evr-guest: init reached" line,
                 same kernel, initramfs, 1 vCPU, 256 MiB (memfd) for both
  resident       VmRSS of the VMM process at that moment, and its part
                 outside guest RAM (RssAnon + RssFile; guest RAM is shmem
                 for both: evr-vmm's memfd, QEMU's memory-backend-memfd)
  port-I/O exit  exits per second of a guest looping on "out 0x80": evr-vmm
                 (tiny bzImage, counted over its control socket) against a
                 bare KVM_RUN loop (vmm-kvm-loop.c)
"""
import os, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import evrctl  # noqa: E402

vmm, kernel, initrd, loop_bin = sys.argv[1:5]
runs = int(sys.argv[5]) if len(sys.argv) > 5 else 5
work = tempfile.mkdtemp()
CMDLINE = "console=ttyS0 panic=-1"


def rss(pid):
    f = {}
    for line in open("/proc/%d/status" % pid):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            f[k] = int(v.split()[0])
    return f


xsave_warned = set()


def boot(name, argv):
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL)
    t_init, mem = None, None
    for raw in p.stdout:
        if b"XSAVE consistency problem" in raw:
            xsave_warned.add(name)
        if b"evr-guest: init reached" in raw and t_init is None:
            t_init = time.monotonic() - t0
            mem = rss(p.pid)
        if time.monotonic() - t0 > 300:
            break
    if p.poll() is None and t_init is None:
        p.kill()
    p.wait()
    if t_init is None:
        raise SystemExit("%s never reached init (status %d)" % (argv[0], p.returncode))
    return t_init, mem


evr_argv = [vmm, "--kernel", kernel, "--initrd", initrd, "--memory", "256", "--vcpus", "1",
            "--cmdline", CMDLINE]
qemu_argv = ["qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-smp", "1", "-m", "256",
             "-object", "memory-backend-memfd,id=ram,size=256M",
             "-M", "microvm,memory-backend=ram", "-nodefaults", "-no-user-config",
             "-display", "none", "-serial", "stdio", "-no-reboot",
             "-kernel", kernel, "-initrd", initrd, "-append", CMDLINE]

results = {"evr-vmm": [], "qemu microvm": []}
for i in range(runs):
    for name, argv in (("evr-vmm", evr_argv), ("qemu microvm", qemu_argv)):
        t, mem = boot(name, argv)
        results[name].append((t, mem))
        print("run %d %-12s init %.2f s  VmRSS %d KiB  outside guest RAM %d KiB" %
              (i + 1, name, t, mem["VmRSS"], mem["RssAnon"] + mem["RssFile"]), flush=True)


def med(name, f):
    return statistics.median(f(r) for r in results[name])


print()
print("%-28s %12s %14s %8s" % ("median of %d runs" % runs, "evr-vmm", "qemu microvm", "ratio"))
rows = [("time to init (s)", lambda r: r[0], "%.2f"),
        ("VmRSS at init (KiB)", lambda r: r[1]["VmRSS"], "%.0f"),
        ("outside guest RAM (KiB)", lambda r: r[1]["RssAnon"] + r[1]["RssFile"], "%.0f")]
for label, f, fmt in rows:
    a, b = med("evr-vmm", f), med("qemu microvm", f)
    print("%-28s %12s %14s %8.2f" % (label, fmt % a, fmt % b, a / b))

if xsave_warned:
    print("guest kernel warned 'XSAVE consistency problem' under: %s" % ", ".join(sorted(xsave_warned)))

# Port-I/O exits: a tiny bzImage whose 64-bit entry loops on out 0x80.
tiny = os.path.join(work, "pio.bzImage")
subprocess.run([sys.executable,
                os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "lab",
                             "vmm", "tiny-bzimage.py"),
                tiny, "e680ebfc"], check=True)  # out 0x80, al; jmp $-2


def counters(path):
    """vCPU 0's port-I/O exits, or None while the VM is not created yet (the
    control socket answers before it is, with no vCPUs)."""
    with evrctl.Client(path) as c:
        vcpus = c.call(op="counters")["vcpus"]
    return vcpus[0]["exits"]["io"] if vcpus else None


def evr_rate(seconds=3.0):
    ctl = os.path.join(work, "ctl")
    p = subprocess.Popen([vmm, "--kernel", tiny, "--memory", "64", "--console", "none",
                          "--control", ctl], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not os.path.exists(ctl) or counters(ctl) is None:
        if time.monotonic() > deadline or p.poll() is not None:
            sys.exit("evr-vmm did not start the port-I/O guest within 60 s")
        time.sleep(0.05)
    time.sleep(0.5)
    c0, t0 = counters(ctl), time.monotonic()
    time.sleep(seconds)
    c1, t1 = counters(ctl), time.monotonic()
    with evrctl.Client(ctl) as c:
        c.call(op="stop")
    p.wait()
    return (c1 - c0) / (t1 - t0)


def bare_rate(seconds=3.0):
    return float(subprocess.check_output([loop_bin, str(seconds)]).decode())


evr_rates, bare_rates = [], []
for i in range(runs):
    evr_rates.append(evr_rate())
    bare_rates.append(bare_rate())
    print("run %d port-I/O exits/s: evr-vmm %.0f  bare KVM loop %.0f" %
          (i + 1, evr_rates[-1], bare_rates[-1]), flush=True)
e, b = statistics.median(evr_rates), statistics.median(bare_rates)
print("%-28s %12.1f %14.1f %8.2f" % ("port-I/O round trip (us)", 1e6 / e, 1e6 / b, b / e))
print("(ratio column: evr-vmm / baseline; the last row's baseline is the bare KVM loop)")
