#!/usr/bin/env bash
# Runs inside the lab (real KVM): usage reboot-checks.sh EVR_VMM KERNEL INITRD
# The router-engine guest on 1 vCPU, started from a valid --config file with
# flags overriding two of its keys, its console on a unix socket:
#  - the --config file is taken (kernel, initrd, command line, console,
#    control) and --memory 192 and --on-reboot restart override its memory
#    (256) and on_reboot (exit): status and the guest report 192 MiB, and the
#    reboot below restarts instead of exiting;
#  - bytes written to the console socket reach the guest, which answers them;
#  - the guest writes the FADT's reset value to the ACPI reset register (port
#    0x608, through /dev/port): evr-vmm boots it again (boots 2, init reached
#    twice, the same socket client sees both boots); stop ends it, status 0.
set -uo pipefail
VMM=$1 KERNEL=$2 INITRD=$3
W=$(mktemp -d)
trap 'kill $vm_pid $client_pid 2>/dev/null; rm -rf "$W"' EXIT
vm_pid="" client_pid=""
failures=0

. "$(dirname "$0")/vm-checks-lib.sh" # pass, fail, ..., finish

# console_client SOCKET: the console socket's one client in the background,
# appending what the guest prints to W/console and sending what is written
# to the FIFO W/in.
console_client() {
    python3 - "$1" "$W/console" "$W/in" <<'PY' &
import os, select, socket, sys, time
path, log, fifo = sys.argv[1:]
deadline = time.monotonic() + 120
while True:
    try:
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"console socket {path} did not come up in 120 s")
        time.sleep(0.1)
inp = os.open(fifo, os.O_RDWR)  # read-write: never end of file
with open(log, "ab", buffering=0) as out:
    while True:
        r, _, _ = select.select([s, inp], [], [])
        if s in r:
            data = s.recv(4096)
            if not data:
                break
            out.write(data)
        if inp in r:
            s.sendall(os.read(inp, 4096))
PY
    client_pid=$!
}
say() { echo "$1" >"$W/in"; } # a line to the guest's console

# Each boot: report memory, then wait for a console line; "reset" writes 1
# to port 0x608 (the reset register the FADT names, value 1). No double
# quotes: the kernel command line ends the value at the next one.
run='echo booted $(grep MemTotal /proc/meminfo); read -r how; echo guest got $how; if [ x$how = xreset ]; then printf \\001 | dd of=/dev/port bs=1 seek=1544 count=1 2>/dev/null; sleep 5; echo reset register ignored $((6 * 7)); fi'
python3 - "$W/vm.json" "$KERNEL" "$INITRD" "$W" "$run" <<'PY'
import json, sys
out, kernel, initrd, w, run = sys.argv[1:]
json.dump({"kernel": kernel, "initrd": initrd, "memory": 256, "vcpus": 1,
           "cmdline": f'console=ttyS0 panic=-1 evr_then=shell evr_run="{run}"',
           "console": f"socket:{w}/con", "control": f"{w}/ctl", "on_reboot": "exit"},
          open(out, "w"), indent=1)
PY
: >"$W/console"
mkfifo "$W/in"
"$VMM" --config "$W/vm.json" --memory 192 --on-reboot restart 2>"$W/vm.err" &
vm_pid=$!
console_client "$W/con"

echo "== --config with flags over it, console socket, ACPI reset register, on_reboot restart"
if wait_for "booted MemTotal:" 300; then
    pass "the guest booted from the --config file"
    [ "$(stat -c %a "$W/con")" = 600 ] && pass "console socket is 0600" ||
        fail "console socket mode $(stat -c %a "$W/con")"
    r=$(ctl status)
    [[ "$r" == *'"memory_mib":192'*'"boots":1'* ]] && pass "status: --memory 192 overrides the file's 256: $r" ||
        fail "status: $r (want memory_mib 192, boots 1)"
    kib=$(grep -ao 'booted MemTotal: *[0-9]*' "$W/console" | head -1 | grep -o '[0-9]*$')
    # At most 192 MiB, what the kernel keeps aside being less than 64 MiB.
    [ "$kib" -gt 131072 ] && [ "$kib" -le 196608 ] && pass "the guest has ${kib} KiB: 192 MiB of RAM" ||
        fail "the guest has $kib KiB (want 128-192 MiB)"
    say reset
    wait_for "guest got reset" 60 && pass "console input through the socket reaches the guest" ||
        fail "the guest did not answer input sent through the console socket"
    if wait_for "booted MemTotal:" 300 2; then
        pass "the guest booted again after writing the ACPI reset register"
    else
        fail "no second boot after the reset register write"
    fi
    r=$(ctl status)
    [[ "$r" == *'"boots":2'* ]] && pass "status after the reset: $r" || fail "status after the reset: $r"
    grep -q "the guest rebooted; restarting it" "$W/vm.err" &&
        pass "--on-reboot restart overrides the file's on_reboot exit" ||
        fail "no restart: $(cat "$W/vm.err")"
    # (the command line the kernel prints has the text, not the 42)
    grep -q "reset register ignored 42" "$W/console" && fail "the guest went on after the reset register write"
    say stay
    wait_for "guest got stay" 60 && pass "the same socket client talks to the second boot" ||
        fail "the second boot did not answer console input"
    stop_vm
else
    fail "the guest did not boot; console ends with: $(tail -5 "$W/console")"
    stop_vm
fi
[ "$vm_rc" -eq 0 ] && grep -q "stopped from the control socket" "$W/vm.err" &&
    pass "stop: evr-vmm exited 0" || fail "evr-vmm exited $vm_rc: $(cat "$W/vm.err")"
finish
