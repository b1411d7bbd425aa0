#!/usr/bin/env bash
# Runs inside the lab (real KVM): usage guest-checks.sh EVR_VMM KERNEL INITRD [NCPU]
#  1. refusals that need no guest: a kernel that is not a bzImage, memory that
#     does not fit, a pinned CPU that does not exist, no /dev/kvm; --help;
#  2. a guest that triple-faults ends evr-vmm with status 2 and a register dump;
#  3. the router-engine guest with NCPU vCPUs, its console on stdin/stdout: it
#     reaches init, sees NCPU CPUs, runs the command from the kernel command
#     line (answers console input until "quit", then exit 7) and powers off,
#     evr-vmm exiting 0; meanwhile over the 0600 control socket: pause (state
#     paused, no vCPU exit and no console output while paused), status,
#     resume (input sent while paused is answered), counters.
set -uo pipefail
VMM=$1 KERNEL=$2 INITRD=$3 NCPU=${4:-2} # NCPU: vCPUs of the router-engine guest
W=$(mktemp -d)
trap 'kill $vm_pid 2>/dev/null; rm -rf "$W"' EXIT
vm_pid=""
failures=0

. "$(dirname "$0")/vm-checks-lib.sh" # pass, fail, ..., finish

echo "== refusals"
expect_refusal "not a bzImage" 1 "not a bzImage" -- "$VMM" --kernel /etc/hostname
expect_refusal "memory does not fit" 1 "memory: 1048576 MiB does not fit in this host's" -- \
    "$VMM" --kernel "$KERNEL" --memory 1048576
expect_refusal "CPU does not exist" 1 "pin[1]: host CPU 7 does not exist" -- \
    "$VMM" --kernel "$KERNEL" --vcpus 2 --pin 1,7
echo '{"kernel": "/k", "memroy": 64}' >"$W/bad.json"
expect_refusal "unknown key in config" 1 "$W/bad.json: unknown key 'memroy'" -- \
    "$VMM" --config "$W/bad.json"
expect_refusal "no /dev/kvm" 1 "no /dev/kvm" -- \
    unshare -m sh -c 'mount -t tmpfs none /dev && exec "$0" --kernel "$1" --console none' \
    "$VMM" "$KERNEL"
"$VMM" --help >"$W/help"
missing=""
for o in config kernel initrd cmdline memory vcpus pin hugepages console control on-reboot help version; do
    grep -q -- "--$o" "$W/help" || missing="$missing --$o"
done
[ -z "$missing" ] && pass "--help describes every option" || fail "--help lacks$missing"

echo "== tiny guests: triple fault, i8042 reset, ACPI power-off"
# tiny OUT CODE: a bzImage whose 64-bit entry runs CODE (hex).
tiny() {
    python3 "$(dirname "$0")/tiny-bzimage.py" "$1" "$2"
}
# ud2: with the boot IDT empty, #UD becomes #GP, then #DF, then a triple fault.
tiny "$W/ud2.bzImage" 0f0b
"$VMM" --kernel "$W/ud2.bzImage" --memory 64 --console none >"$W/out" 2>"$W/err"
rc=$?
if [ "$rc" -eq 2 ] && grep -q "triple fault" "$W/err" && grep -q "rip=" "$W/err" && grep -q "cr0=" "$W/err"; then
    pass "triple fault: status 2 with a register dump"
    sed 's/^/    /' "$W/err"
else
    fail "triple fault: status $rc, stderr: $(cat "$W/err")"
fi

# mov al, 0xfe; out 0x64, al; hlt: the keyboard controller's reset line.
tiny "$W/reset.bzImage" b0fee664f4
expect_refusal "reset with on_reboot exit" 0 "the guest rebooted; exiting" -- \
    "$VMM" --kernel "$W/reset.bzImage" --memory 64 --console none
"$VMM" --kernel "$W/reset.bzImage" --memory 64 --console none --on-reboot restart \
    --control "$W/ctl" 2>"$W/err" &
vm_pid=$!
boots=0
for ((i = 0; i < 60 && boots < 3; i++)); do
    sleep 0.5
    boots=$(ctl status 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["boots"])' 2>/dev/null || echo 0)
done
stop_vm
if [ "$boots" -ge 3 ] && [ "$vm_rc" -eq 0 ] && grep -q "restarting it" "$W/err"; then
    pass "reset with on_reboot restart: $boots boots, then stop: status 0"
else
    fail "reset with on_reboot restart: $boots boots, status $vm_rc, stderr: $(head -3 "$W/err")"
fi
# mov ax, 5 << 10 | SLP_EN; mov dx, 0x604; out dx, ax; hlt: ACPI PM1a S5.
tiny "$W/s5.bzImage" 66b8003466ba040666eff4
expect_refusal "ACPI S5 power-off" 0 "the guest powered off" -- \
    "$VMM" --kernel "$W/s5.bzImage" --memory 64 --console none

# Huge pages: refused with a clear message when none are reserved, used when
# they are.
echo 0 >/proc/sys/vm/nr_hugepages
expect_refusal "no huge pages" 1 "huge pages are not available" -- \
    "$VMM" --kernel "$W/s5.bzImage" --memory 64 --hugepages --console none
if echo 40 >/proc/sys/vm/nr_hugepages && [ "$(cat /proc/sys/vm/nr_hugepages)" -ge 32 ]; then
    expect_refusal "guest on huge pages" 0 "the guest powered off" -- \
        "$VMM" --kernel "$W/s5.bzImage" --memory 64 --hugepages --console none
    echo 0 >/proc/sys/vm/nr_hugepages
else
    fail "could not reserve 32 huge pages in the lab"
fi

# Pinning: vCPU i's thread runs only on the host CPU pin[i].
tiny "$W/loop.bzImage" e680ebfc # out 0x80, al; jmp $-2
"$VMM" --kernel "$W/loop.bzImage" --memory 64 --console none --vcpus 2 --pin 2,1 \
    --control "$W/ctl" 2>"$W/err" &
vm_pid=$!
vcpu_pins() {
    local t
    for t in /proc/$vm_pid/task/*; do
        case "$(cat "$t/comm" 2>/dev/null)" in
        vcpu*) echo "$(cat "$t/comm")=$(sed -n 's/^Cpus_allowed_list:\s*//p' "$t/status")" ;;
        esac
    done | sort | tr '\n' ' '
}
# Under load the VM takes a while to start its vCPU threads: wait for both.
pins=""
for ((i = 0; i < 120; i++)); do
    pins=$(vcpu_pins)
    [ "$(wc -w <<<"$pins")" -eq 2 ] && break
    kill -0 "$vm_pid" 2>/dev/null || break
    sleep 0.5
done
for ((i = 0; i < 120; i++)); do [ -S "$W/ctl" ] && break; sleep 0.5; done
pins=" ${pins% }"
stop_vm
[ "$pins" = " vcpu0=2 vcpu1=1" ] && pass "pinning:$pins" || fail "pinning:$pins (want vcpu0=2 vcpu1=1)"

echo "== router-engine guest, $NCPU vCPUs, console on stdin/stdout, control socket"
# The guest answers each console line until "quit"; a ticker in the
# background, every second, shows it runs. (No double quotes: the kernel
# command line would end the value there. No read -t: busybox's drops the
# byte it read when its deadline passed meanwhile, as it does over a pause.)
run='(i=0; while :; do echo tick $i; i=$((i+1)); sleep 1; done) & while read -r line; do [ x$line = xquit ] && break; echo guest got $line; done; kill $!; echo processors=$(grep -c ^processor /proc/cpuinfo); exit 7'
: >"$W/console"
mkfifo "$W/in"
exec 3<>"$W/in" # held open: evr-vmm's stdin never sees end of file
"$VMM" --kernel "$KERNEL" --initrd "$INITRD" --vcpus "$NCPU" --memory 256 \
    --console stdout --control "$W/ctl" \
    --cmdline "console=ttyS0 panic=-1 evr_run=\"$run\"" <"$W/in" >"$W/console" 2>"$W/vm.err" &
vm_pid=$!
if wait_for "tick 1" 300; then
    pass "guest reached init and runs the command"
    [ "$(stat -c %a "$W/ctl")" = 600 ] && pass "control socket is 0600" ||
        fail "control socket mode $(stat -c %a "$W/ctl")"
    echo hello-stdin >&3
    wait_for "guest got hello-stdin" 60 && pass "console input from stdin reaches the guest" ||
        fail "the guest did not answer console input from stdin"
    r=$(ctl pause)
    [ "$r" = '{"ok":true,"state":"paused"}' ] && pass "pause: $r" || fail "pause: $r"
    r=$(ctl status)
    [[ "$r" == *'"state":"paused"'*'"vcpus":'"$NCPU"* ]] && pass "status: $r" || fail "status: $r"
    # Paused: no vCPU exit at all (a running Linux takes timer and halt
    # exits every few milliseconds) and no console output, over ten polls.
    c1=$(ctl counters)
    n1=$(wc -c <"$W/console")
    echo while-paused >&3
    still=yes
    for ((i = 0; i < 10; i++)); do
        sleep 0.2
        [ "$(ctl counters)" = "$c1" ] && [ "$(wc -c <"$W/console")" = "$n1" ] || still=no
    done
    [ "$still" = yes ] && pass "no vCPU exit and no console output while paused ($n1 bytes)" ||
        fail "the guest ran while paused: counters $c1 -> $(ctl counters), console $n1 -> $(wc -c <"$W/console") bytes"
    r=$(ctl resume)
    [ "$r" = '{"ok":true,"state":"running"}' ] && pass "resume: $r" || fail "resume: $r"
    wait_for "guest got while-paused" 120 && pass "after resume the guest answers input sent while paused" ||
        fail "no answer to input sent while paused after resume"
    r=$(ctl counters)
    if python3 -c 'import json,sys; v=json.loads(sys.argv[1])["vcpus"]; assert len(v)==int(sys.argv[2]) and v[0]["exits"]["io"]>0' "$r" "$NCPU"; then
        pass "counters: $r"
    else
        fail "counters: $r"
    fi
    echo quit >&3
    end_vm 120
else
    fail "guest did not reach the command; console ends with: $(tail -5 "$W/console")"
    stop_vm
fi
exec 3>&-
[ "$vm_rc" -eq 0 ] && pass "evr-vmm exited 0" || fail "evr-vmm exited $vm_rc: $(cat "$W/vm.err")"
grep -q "the guest powered off" "$W/vm.err" && pass "guest powered off (ACPI S5)" ||
    fail "no power-off: $(cat "$W/vm.err")"
for want in "evr-guest: init reached: $NCPU CPUs" "processors=$NCPU" "evr-guest: command exited with 7"; do
    grep -qF "$want" "$W/console" && pass "console: $want" || fail "console lacks '$want'"
done
# SIGTERM and SIGINT stop a running guest the way the control socket's stop
# does: status 0, the console and control sockets removed. (Issue 9; one
# self-contained block.)
stop_by_signal_checks() {
    local sig rc i state
    for sig in TERM INT; do
        # A script's background job starts with SIGINT ignored: give it back.
        env --default-signal=INT "$VMM" --kernel "$W/loop.bzImage" --memory 64 \
            --console "socket:$W/sig-console" --control "$W/ctl" 2>"$W/sig.err" &
        vm_pid=$!
        state=""
        for ((i = 0; i < 120; i++)); do
            state=$(ctl status 2>/dev/null)
            [[ "$state" == *'"state":"running"'* ]] && break
            kill -0 "$vm_pid" 2>/dev/null || break
            sleep 0.5
        done
        kill -s "$sig" "$vm_pid"
        wait "$vm_pid"
        rc=$?
        vm_pid=""
        if [[ "$state" == *'"state":"running"'* ]] && [ "$rc" -eq 0 ] &&
            grep -q "stopped by SIG$sig" "$W/sig.err" && [ ! -e "$W/ctl" ] &&
            [ ! -e "$W/sig-console" ]; then
            pass "SIG$sig stops the running guest: status 0, sockets removed"
        else
            fail "SIG$sig: status $rc, state before: $state, sockets left:" \
                "$(ls "$W/ctl" "$W/sig-console" 2>/dev/null), stderr: $(head -3 "$W/sig.err")"
        fi
    done
}
echo "== stop by signal"
stop_by_signal_checks

finish
