# Shell helpers of the lab's evr-vmm checks (guest-checks.sh,
# reboot-checks.sh), sourced. The caller sets W (its scratch directory:
# W/ctl is the control socket, W/console the console log, W/err and W/out
# scratch files), vm_pid (the evr-vmm in the background) and failures=0.
# A VM that does not end when asked is killed after a bounded wait
# (end_vm), so one failure costs one check, not the lab's timeout.

pass() { echo "ok: $*"; }
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
# expect_refusal NAME STATUS TEXT -- CMD...: CMD exits STATUS and says TEXT on stderr
expect_refusal() {
    local name=$1 status=$2 text=$3 rc
    shift 4
    "$@" >"$W/out" 2>"$W/err"
    rc=$?
    if [ "$rc" -eq "$status" ] && grep -qF -- "$text" "$W/err"; then
        pass "$name: status $rc, \"$(head -1 "$W/err")\""
    else
        fail "$name: status $rc (want $status), stderr: $(head -3 "$W/err")"
    fi
}
ctl() { # ctl OP: the reply line of evr-vmm's control socket (tools/lib/evrctl.py), within 30 s
    timeout 30 python3 "$(dirname "$0")/../../../tools/lib/evrctl.py" "$W/ctl" "$1"
}
# end_vm SECONDS: waits at most SECONDS for evr-vmm to end, then kills it (a
# failure); its status in vm_rc.
end_vm() {
    local i
    for ((i = 0; i < $1 * 10; i++)); do
        kill -0 "$vm_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$vm_pid" 2>/dev/null; then
        fail "evr-vmm did not end within $1 s of being asked; killed"
        kill -KILL "$vm_pid"
    fi
    wait "$vm_pid"
    vm_rc=$?
    vm_pid=""
}
stop_vm() { # stop_vm: the control socket's stop, then end_vm
    ctl stop >/dev/null 2>&1
    end_vm 60
}
# wait_for TEXT SECONDS [N]: until the console shows TEXT (on N lines, default
# 1) or evr-vmm ends
wait_for() {
    local i
    for ((i = 0; i < $2 * 2; i++)); do
        [ "$(grep -cF -- "$1" "$W/console" 2>/dev/null)" -ge "${3:-1}" ] && return 0
        kill -0 "$vm_pid" 2>/dev/null || return 1
        sleep 0.5
    done
    return 1
}
# finish: the verdict; on a failure, the end of the guest's console too.
finish() {
    if [ "$failures" -ne 0 ]; then
        echo "== console of the guest"
        tail -40 "$W/console"
        echo "$failures check(s) failed"
        exit 1
    fi
    echo "all checks passed"
}
