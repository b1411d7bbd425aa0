#!/usr/bin/env bash
# evr's main job inside the lab appliance (tools/demo runs it there, and so
# does the lab test evrd-lab-demo, which fails on any failed check):
#
#   an appliance of 4 front-panel ports (the lab's e1000e NICs 0, 2, 4, 6;
#   each one's cable peer, NIC 1, 3, 5, 7, is a test host in its own network
#   namespace, 10.0.0.1-4) and two router engines, vm-a and vm-b, run by
#   evrd: evr-vswitch and one evr-vmm per VM. Each VM bridges all its
#   virtio-net ports and answers on 10.0.0.10 (vm-a) or 10.0.0.11 (vm-b), so
#   a test host reaches the VM that owns its port, and only that one.
#
#   evr split port0-1 vm-a; evr split port2-3 vm-b; pings show who reaches
#   whom; then evr move port1 vm-b while host 1 and host 0 ping all along:
#   host 1 switches from vm-a to vm-b, host 0 (port0, not moved) loses nothing.
#
# usage: in-lab.sh BUILD_DIR KERNEL INITRD
set -uo pipefail
build=$1 kernel=$2 initrd=$3
here=$(cd "$(dirname "$0")" && pwd)
run=/run/evr
export EVR_SOCKET=$run/evrd.sock
evr="$build/tools/evr"
failures=0

say() { printf '\n== %s\n' "$*"; }
check() { # check "what" command...: prints ok/FAIL, counts failures
    local what=$1
    shift
    if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi
}
# The netdev of lab NIC i: the lab gives NIC i the MAC 52:54:00:12:34:(16+i).
nic() {
    local mac d
    mac=$(printf '52:54:00:12:34:%02x' $((16 + $1)))
    for d in /sys/class/net/*; do
        [ -f "$d/address" ] && [ "$(cat "$d/address")" = "$mac" ] && { basename "$d"; return; }
    done
    echo "no lab NIC $1 (MAC $mac): run the lab with --nics 8" >&2
    exit 1
}
host() { ip netns exec "h$1" "${@:2}"; } # host N COMMAND...
# Whether host N gets an answer from address A within a few tries.
reaches() { host "$1" ping -c 1 -W 2 "$2" >/dev/null 2>&1 ||
    host "$1" ping -c 2 -W 2 "$2" >/dev/null 2>&1; }
unreachable() { ! host "$1" ping -c 3 -W 2 "$2" >/dev/null 2>&1; }

mkdir -p "$run"
ports=() vm_ports=""
for n in 0 1 2 3; do
    wire=$(nic $((2 * n))) peer=$(nic $((2 * n + 1)))
    ip link set "$wire" up
    ip netns add "h$n"
    ip link set "$peer" netns "h$n"
    host $n ip link set lo up
    host $n ip link set "$peer" up
    host $n ip addr add "10.0.0.$((n + 1))/24" dev "$peer"
    ports+=("{\"name\": \"port$n\", \"netdev\": \"$wire\"}")
done
# The guest bridges its ports (the kernel command line knows only double
# quotes, so the script uses none) and stays up until evrd stops it.
bridge='ip link add br0 type bridge; for i in /sys/class/net/eth*; do ip link set ${i##*/} master br0; done; ip link set br0 up; ip addr add $evr_addr/24 dev br0; echo bridged: $(ls /sys/class/net/br0/brif); sleep 100000'
vm() { # name address core
    printf '{"name": "%s", "ports": 3, "cores": [%s], "vmm": {"kernel": "%s", "initrd": "%s", "memory": 256, "vcpus": 1, "cmdline": "console=ttyS0 panic=-1 evr_addr=%s evr_run=\\"%s\\""}}' \
        "$1" "$3" "$kernel" "$initrd" "$2" "$bridge"
}
cat >$run/appliance.json <<EOF
{"state_dir": "$run/state", "share_cores": true,
 "vswitch": {"cores": [0, 1], "memory": 256, "idle_sleep_us": 100},
 "ports": [$(IFS=,; echo "${ports[*]}")],
 "vms": [$(vm vm-a 10.0.0.10 0), $(vm vm-b 10.0.0.11 1)]}
EOF

say "evrd: the appliance, its vswitch and its two router engines"
"$build/router/evrd" --appliance $run/appliance.json --run-dir $run \
    --vswitch "$build/vswitch/evr-vswitch" --vmm "$build/vmm/evr-vmm" \
    --vswitch-eal "--no-huge --no-pci --log-level *:warning" 2>$run/evrd.log &
evrd_pid=$!
for _ in $(seq 600); do [ -S $EVR_SOCKET ] || ! kill -0 $evrd_pid 2>/dev/null && break; sleep 0.1; done
if ! kill -0 $evrd_pid 2>/dev/null || [ ! -S $EVR_SOCKET ]; then
    echo "FAIL: evrd did not start; its log:"
    cat $run/evrd.log
    exit 1
fi
"$evr" show inventory
echo
"$evr" show vms

say "evr split port0-1 vm-a; evr split port2-3 vm-b"
"$evr" split port0-1 vm-a
"$evr" split port2-3 vm-b >/dev/null
"$evr" show

say "waiting for both router engines to boot (nested KVM under emulation: a minute or two)"
deadline=$((SECONDS + 420))
until reaches 0 10.0.0.10 && reaches 2 10.0.0.11; do
    if [ $SECONDS -ge $deadline ]; then
        echo "FAIL: the router engines did not answer within 420 s"
        "$evr" show vms
        tail -n 30 $run/vm-a.log $run/vm-b.log $run/evrd.log
        exit 1
    fi
    sleep 2
done
echo "both answer after $SECONDS s"
say "who reaches whom"
for n in 0 1 2 3; do
    a=no b=no
    reaches $n 10.0.0.10 && a=yes
    reaches $n 10.0.0.11 && b=yes
    echo "host $n (port$n): vm-a $a, vm-b $b"
    if [ $n -lt 2 ]; then want="yes no"; else want="no yes"; fi
    check "host $n reaches its port's owner only" test "$a $b" = "$want"
done

say "evr move port1 vm-b, while hosts 0 and 1 ping (5 a second for 10 s)"
host 0 ping -c 50 -i 0.2 -W 5 10.0.0.10 >$run/ping0 2>&1 &
p0=$!
host 1 ping -c 50 -i 0.2 -W 5 10.0.0.11 >$run/ping1 2>&1 &
p1=$!
sleep 4
"$evr" move port1 vm-b
wait $p0 $p1
"$evr" show
echo
tail -n 2 $run/ping0 | sed 's/^/host 0 -> vm-a: /'
tail -n 2 $run/ping1 | sed 's/^/host 1 -> vm-b: /'
check "host 1 reaches vm-b after the move" reaches 1 10.0.0.11
check "host 1 no longer reaches vm-a" unreachable 1 10.0.0.10
sent0=$(sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p' $run/ping0)
check "host 0 (port0, not moved) lost no ping while port1 moved ($sent0 sent, received)" \
    test -n "$sent0" -a "${sent0% *}" = "${sent0#* }"

say "what evrd saw (evr monitor prints these as they happen)"
python3 "$here/../lib/evrctl.py" $EVR_SOCKET events since=0 |
    python3 -c 'import json,sys; [print(e["kind"], e["subject"] + ":", e["text"]) for e in json.load(sys.stdin)["events"]]'

restarts=$("$evr" -j show vms | python3 -c 'import json,sys; print(sum(v["restarts"] for v in json.load(sys.stdin)["vms"]))')
check "no router engine crashed (evrd restarted them $restarts times)" test "$restarts" = 0

kill -TERM $evrd_pid
wait $evrd_pid
echo "== evrd stopped (status $?); the VMs and the vswitch end with the lab"
if [ $failures -ne 0 ]; then
    echo "$failures checks failed; evrd's log:"
    cat $run/evrd.log
    for vm in vm-a vm-b; do
        echo "== $vm's evr-vmm log (the last 60 lines)"
        tail -n 60 $run/$vm.log
    done
    exit 1
fi
