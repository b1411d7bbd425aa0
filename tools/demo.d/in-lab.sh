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
# shellcheck source=tools/demo.d/lib.sh
. "$here/lib.sh"

setup_hosts 4
write_appliance "$(vm vm-a 10.0.0.10 1)" "$(vm vm-b 10.0.0.11 2)"

say "evrd: the appliance, its vswitch and its two router engines"
start_evrd
console_keep vm-a
console_keep vm-b
"$evr" show inventory
echo
"$evr" show vms

say "evr split port0-1 vm-a; evr split port2-3 vm-b"
"$evr" split port0-1 vm-a
"$evr" split port2-3 vm-b >/dev/null
"$evr" show
echo
"$evr" show vm vm-a # its network ports: each one's link follows what it carries

say "waiting for both router engines to boot (nested KVM under emulation: a minute or two)"
wait_reach 420 0 10.0.0.10 2 10.0.0.11
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
# evrd's view of the links: vm-a's port 1 lost port1, vm-b's port that took it is up
links_after_move() {
    "$evr" -j show vm vm-a | python3 -c 'import json,sys; p=json.load(sys.stdin)["vm"]["ports"]; assert (p[1]["link"], p[1]["carries"]) == ("down", []), p' &&
        "$evr" -j show vm vm-b | python3 -c 'import json,sys; p=[x for x in json.load(sys.stdin)["vm"]["ports"] if "port1" in x["carries"]]; assert len(p) == 1 and p[0]["link"] == "up", p'
}
check "vm-a's port 1 is down, carrying nothing; vm-b's port carrying port1 is up" links_after_move
sent0=$(ping_counts $run/ping0)
check "host 0 (port0, not moved) lost no ping while port1 moved ($sent0 sent, received)" \
    test -n "$sent0" -a "${sent0% *}" = "${sent0#* }"

say "what evrd saw (evr monitor prints these as they happen)"
print_events

restarts=$("$evr" -j show vms | python3 -c 'import json,sys; print(sum(v["restarts"] for v in json.load(sys.stdin)["vms"]))')
check "no router engine crashed (evrd restarted them $restarts times)" test "$restarts" = 0

finish vm-a vm-b
