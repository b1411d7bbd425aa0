#!/usr/bin/env bash
# The evr-lab contract, from the outside: CMD's status comes back, stdout and
# stderr stay apart, arguments and -e values survive quoting, the current
# directory carries over, --out is writable, a tap NIC reaches a host test
# host, and a hung command ends in 124 within the timeout instead of a hang.
# The command runs on lab CPUs 1 and 2 of the 3, and a nested guest on lab
# CPU 0 makes the run a lab failure (issue 9's cause, docs/lab.md).
# usage: lab_contract.sh EVR_LAB KVM_PIO
set -euo pipefail
LAB=$1 KVM_PIO=$2
fail() { echo "lab_contract: $*" >&2; exit 1; }
work=$(mktemp -d)
ns=evrlab-host$$
trap 'rm -rf "$work"; ip netns del $ns 2>/dev/null || true' EXIT
cd "$work"

set +e
"$LAB" run --nics 0 --out "$work/out" -e 'GREETING=hello  world' -- \
    bash -c 'echo "out:$GREETING:$1:$PWD"; echo err >&2; echo kept >"$EVR_LAB_OUT/f"
             cpus=$(taskset -pc $$); [ "${cpus##*: }" = 1,2 ] || { echo "on CPUs ${cpus##*: }" >&2; exit 8; }
             [ -c /dev/kvm ] && exit 7' \
    _ 'a b' >"$work/stdout" 2>"$work/stderr"
rc=$?
set -e
[ "$rc" -eq 7 ] || fail "status $rc, expected the command's 7 (stderr: $(cat "$work/stderr"))"
[ "$(cat "$work/stdout")" = "out:hello  world:a b:$work" ] || fail "stdout was '$(cat "$work/stdout")'"
grep -qx err "$work/stderr" || fail "stderr lacks the command's 'err': '$(cat "$work/stderr")'"
grep -q out: "$work/stderr" && fail "stdout leaked into stderr"
[ "$(cat "$work/out/f" 2>/dev/null)" = kept ] || fail "--out did not carry a file back"
echo "lab_contract: status, stdout/stderr, quoting, cwd, --out and CPUs 1-2 hold"

set +e
"$LAB" run --nics 0 -- taskset -c 0 "$KVM_PIO" 1000 >/dev/null 2>"$work/stderr"
rc=$?
set -e
[ "$rc" -eq 125 ] && grep -q "a nested guest ran on lab CPU 0" "$work/stderr" ||
    fail "a nested guest pinned to lab CPU 0 gave status $rc (want 125, named): $(cat "$work/stderr")"
echo "lab_contract: a nested guest on lab CPU 0 is the lab's failure (125), named"

set +e
start=$(date +%s)
"$LAB" run --nics 0 --timeout 15 -- sleep 600 >/dev/null 2>"$work/stderr"
rc=$?
set -e
[ "$rc" -eq 124 ] || fail "a hung command gave status $rc, expected 124"
grep -q "did not finish within 15s" "$work/stderr" || fail "no timeout message: $(cat "$work/stderr")"
echo "lab_contract: a hung command ends with 124 after $(($(date +%s) - start)) s (limit 15 s)"

set +e
"$LAB" run --nics 0 --bogus -- true 2>"$work/stderr"
rc=$?
set -e
[ "$rc" -eq 125 ] && grep -q "unknown option '--bogus'" "$work/stderr" || fail "a bad option gave $rc: $(cat "$work/stderr")"
echo "lab_contract: a bad option is refused by name with 125"

# A tap NIC reaches a test host: QEMU creates evrlabt<pid> on the host, this
# script moves it into a network namespace of its own, and the lab pings it.
tap=evrlabt$(($$ % 100000))
ip netns add "$ns"
(
    for _ in $(seq 600); do
        if ip link set "$tap" netns "$ns" 2>/dev/null; then
            ip -n "$ns" addr add 10.199.0.1/24 dev "$tap"
            ip -n "$ns" link set "$tap" up
            exit 0
        fi
        sleep 0.1
    done
) &
mover=$!
set +e
"$LAB" run --nics 0 --tap "$tap" -- bash -c '
    dev=$(ls /sys/class/net | grep "^eth" | head -n1)
    ip addr add 10.199.0.2/24 dev "$dev" && ip link set "$dev" up || exit 3
    for i in $(seq 60); do ping -c1 -W1 10.199.0.1 >/dev/null 2>&1 && { echo "ping ok after $i tries"; exit 0; }; done
    exit 4' >"$work/stdout" 2>"$work/stderr"
rc=$?
set -e
wait "$mover" || fail "the tap $tap never appeared on the host"
[ "$rc" -eq 0 ] || fail "the lab could not ping the test host through --tap (status $rc): $(cat "$work/stderr")"
echo "lab_contract: --tap NIC reaches a test host in a netns ($(cat "$work/stdout"))"

# A lab that stalls in its own boot, before the command runs, is the lab's
# failure: evr-lab stops it and runs the command again in a new lab, up
# to four labs in all (docs/lab.md, "A lab that stalls in its own boot"). A stand-in QEMU
# (EVR_LAB_QEMU) plays the lab: per attempt, from a list, it either stalls
# (an RCU stall report on the console, or nothing at all), or reports issue
# 9's fault the way guest-init's watcher does (its kvm_exit line and the
# command killed), or reports the command's status the way guest-init does.
cat >"$work/fake-qemu" <<'FAKE'
#!/usr/bin/env bash
[ "${1:-}" = --version ] && { echo "QEMU emulator version 10.0.2"; exit 0; }
console=""
for a in "$@"; do case "$a" in file:*console.log) console=${a#file:} ;; esac; done
[ -n "$console" ] || { echo "fake-qemu: no console file in $*" >&2; exit 1; }
n=$(($(cat "$FAKE_DIR/attempts" 2>/dev/null || echo 0) + 1))
echo "$n" >"$FAKE_DIR/attempts"
case "$(echo "$FAKE_PLAN" | cut -d, -f"$n")" in
rcu) echo "[   24.1] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:" >>"$console"; exec sleep 600 ;;
silent) exec sleep 600 ;;
vmcb) echo "evr-lab-init: running command" >>"$console"
   echo " vcpu0-284 [000] 22.066315: kvm_exit: vcpu 0 reason npf rip 0xffffffffc048920c" >"$(dirname "$console")/ctl/lab-fault"
   echo 137 >"$(dirname "$console")/ctl/status"; exit 0 ;;
*) echo "evr-lab-init: running command" >>"$console"
   echo 0 >"$(dirname "$console")/ctl/status"; exit 0 ;;
esac
FAKE
chmod +x "$work/fake-qemu"
# stalled PLAN EXPECT-STATUS TEXT [ENV...]: evr-lab with the stand-in
stalled() {
    local plan=$1 want=$2 text=$3 rc
    shift 3
    rm -f "$work/attempts"
    set +e
    env EVR_LAB_QEMU="$work/fake-qemu" FAKE_DIR="$work" FAKE_PLAN="$plan" "$@" \
        "$LAB" run --nics 0 --timeout 120 -- true >/dev/null 2>"$work/stderr"
    rc=$?
    set -e
    [ "$rc" -eq "$want" ] && grep -q "$text" "$work/stderr" ||
        fail "a lab stalling as '$plan' gave status $rc (want $want and '$text'): $(cat "$work/stderr")"
    echo "lab_contract: a lab stalling as '$plan': status $rc after $(cat "$work/attempts") labs"
}
stalled rcu,pass 0 "running the command again in a new lab"
stalled rcu,rcu,rcu,pass 0 "lab 4 of at most 4"
stalled rcu,rcu,rcu,rcu 125 "it happened in each of 4 labs"
stalled vmcb,pass 0 "reason npf rip 0xffffffffc048920c"
stalled vmcb,rcu,vmcb,vmcb 125 "it happened in each of 4 labs"
stalled silent,pass 0 "no command after 3 s" EVR_LAB_BOOT_LIMIT=3
