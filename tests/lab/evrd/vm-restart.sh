#!/usr/bin/env bash
# The lab test evrd-lab-vm-restart: one router engine, vm-a, owns port0-1
# through the vswitch (test hosts 0 and 1 on their cable peers). Proves:
#   - evr vm console vm-a attaches to the real guest's serial console: a
#     command typed into its shell runs and its answer comes back;
#   - kill -9 of vm-a's evr-vmm: evrd sees a crash, starts vm-a again (a new
#     pid, restarts 1, last exit 137, the events say so) with the same
#     slices (the partition unchanged), the vswitch reconnects to the new
#     evr-vmm's vhost-user sockets, and both hosts reach vm-a again.
# One VM only: two nested guests at once are less reliable in the lab
# (docs/lab.md). The set-up is tools/demo.d/lib.sh's, as the demo's.
#
# usage: vm-restart.sh BUILD_DIR KERNEL INITRD
set -uo pipefail
build=$1 kernel=$2 initrd=$3
# shellcheck source=tools/demo.d/lib.sh
. "$(cd "$(dirname "$0")" && pwd)/../../../tools/demo.d/lib.sh"

vm_field() { # vm_field KEY: vm-a's KEY in evr show vms
    "$evr" -j show vms | python3 -c "import json,sys; print([v for v in json.load(sys.stdin)['vms'] if v['name'] == 'vm-a'][0]['$1'])"
}
partition() { "$evr" -j show | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["generation"], json.dumps(d["partition"]))'; }

setup_hosts 2
write_appliance "$(vm vm-a 10.0.0.10 1 shell)"
say "evrd with one router engine; evr split port0-1 vm-a"
start_evrd
"$evr" split port0-1 vm-a
"$evr" show
say "waiting for vm-a to boot (nested KVM under emulation: a minute or two)"
wait_reach 420 0 10.0.0.10 1 10.0.0.10
echo "vm-a answers hosts 0 and 1 after $SECONDS s"

say "evr vm console vm-a: a command typed into the guest's shell"
# Typed as 6 * 7 so that only the shell's answer, not the echo, says 42;
# typed again every 10 s until the answer is there or 120 s have passed (a
# loaded lab runs the nested guest's shell slowly); the end of the input
# detaches evr vm console.
: >$run/console-typed.out
(
    deadline=$((SECONDS + 120)) typed=0
    until grep -q 'evr-console-42' $run/console-typed.out || [ $SECONDS -ge $deadline ]; do
        if [ $SECONDS -ge $typed ]; then
            echo 'echo evr-console-$((6 * 7))'
            typed=$((SECONDS + 10))
        fi
        sleep 0.5
    done
) | "$evr" vm console vm-a >$run/console-typed.out 2>&1
tail -n 4 $run/console-typed.out
echo
check "the guest ran what evr vm console typed, and its answer came back" \
    grep -q 'evr-console-42' $run/console-typed.out

# from here on the guest's console is kept (run dir, vm-a.console.log)
console_keep vm-a
before=$(partition)
pid=$(vm_field pid)
say "kill -9 of vm-a's evr-vmm (pid $pid)"
kill -9 "$pid"
for _ in $(seq 300); do
    new=$(vm_field pid)
    [ "$new" != "$pid" ] && [ "$new" != 0 ] && [ "$(vm_field state)" = running ] && break
    sleep 0.2
done
"$evr" show vms
check "evrd started vm-a again (pid $pid -> $new)" test "$new" != "$pid" -a "$new" != 0
check "as a crash: restarts 1, last exit 137 (SIGKILL)" \
    test "$(vm_field restarts) $(vm_field last_exit)" = "1 137"
check "vm-a keeps its slices: the partition is unchanged" test "$(partition)" = "$before"
say "waiting for vm-a to boot again"
wait_reach 420 0 10.0.0.10 1 10.0.0.10
check "host 0 (port0) reaches vm-a again" reaches 0 10.0.0.10
check "host 1 (port1) reaches vm-a again" reaches 1 10.0.0.10

say "what evrd saw"
events=$(print_events)
echo "$events"
check "the events tell the crash and the restart" \
    grep -q "vm vm-a: pid $pid ended (exit 137); restart in" <<<"$events"
finish vm-a
