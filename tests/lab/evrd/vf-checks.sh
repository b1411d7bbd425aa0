#!/usr/bin/env bash
# Runs inside the lab (evr-lab run --nics 0 --igb 2): evrd gives an igb VF
# to a router-engine VM (the passthrough mode of evr split), usage
#   vf-checks.sh BUILD_DIR KERNEL INITRD
# INITRD has the igbvf module; the VMs get it with lib.sh's tcp-agent.sh
# added. The first igb is the appliance's port0, a PF that carves 2 VFs; the
# second, on the same cable, is the test host in a netns, untagged
# 10.0.0.1, VLAN 100 10.0.1.1 and VLAN 200 10.0.2.1, with the TCP sink of
# the rounds (tests/lab/tcp-peer.py).
#
#   evrd starts: the VFs are carved (autoprobe off), unbound, clean;
#   evr split port0/vf0 vm-a --vlan 100: VF 0 on vfio-pci, its MAC (evrd's,
#     from vm-a/port0/vf0) and port VLAN 100 set by the PF;
#   evr vm start vm-a: evr-vmm gets the VF from its configuration, the
#     guest's igbvf takes the MAC, the test host pings the guest on VLAN 100
#     and not untagged, and the guest pings the test host; a TCP round
#     (lib.sh's tcp_round): 2 MiB each way between the test host and the
#     guest over VLAN 100, byte counts and MD5 sums checked at both ends,
#     the VF's MSI-X interrupts in the guest rising across it;
#   kill -9 of evr-vmm: evrd restarts the VM, its configuration still has
#     the VF, and the guest answers again;
#   at runtime (evr-vmm's ACPI hot-plug): evr move port0/vf0 vm-b --vlan 200
#     (vm-b declared, not running) takes the VF out of vm-a's running guest
#     and gives it vm-b's MAC and VLAN 200; evr move port0/vf0 vm-a --vlan
#     100 hot-adds it back, and the guest answers on VLAN 100 again and
#     runs a TCP round through the hot-added VF;
#   with "two" (evrd-lab-vf-two, two nested guests at once): vm-b started
#     too, and evr move port0/vf0 vm-b --vlan 200 takes the VF from running
#     vm-a to running vm-b, whose guest answers on VLAN 200 and runs a TCP
#     round over it; evr split port0/vf1 vm-a --vlan 100 hot-adds the
#     second VF to vm-a, and with a VF in each running VM each answers on
#     its own VLAN (not untagged) and runs a TCP round over it; evr vm stop
#     vm-b gives the VF back to vfio-pci (evrd bound it there; vm-b still
#     owns it, with its MAC and VLAN);
#   evr vm stop vm-a: the VF it owns back with vfio-pci; evr free port0/vf0
#     (and port0/vf1 in two mode): each VF is reset (no MAC, no VLAN) and
#     unbound, as it was carved.
set -uo pipefail
build=$1 kernel=$2 initrd=$3 mode=${4:-one}
# shellcheck source=tools/demo.d/lib.sh
. "$(cd "$(dirname "$0")" && pwd)/../../../tools/demo.d/lib.sh"
evrd_pid=""

cleanup() {
    pkill_vm vm-a
    pkill_vm vm-b
    [ -n "$evrd_pid" ] && kill -TERM "$evrd_pid" 2>/dev/null
    ip netns del th 2>/dev/null
    on_exit
}
# vm_pid [VM], vm_state [VM]: VM's (vm-a's) evr-vmm pid and state in evrd's own report
vm_field() { "$evr" -j show vms | python3 -c 'import json,sys; print([v[sys.argv[1]] for v in json.load(sys.stdin)["vms"] if v["name"] == sys.argv[2]][0])' "$1" "$2"; }
vm_pid() { vm_field pid "${1:-vm-a}"; }
vm_state() { vm_field state "${1:-vm-a}"; }
pkill_vm() {
    local p
    p=$(vm_pid "$1" 2>/dev/null) && [ "${p:-0}" -gt 0 ] && kill -TERM "$p" 2>/dev/null
    return 0
}
trap cleanup EXIT
TH() { ip netns exec th "$@"; }
drv() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null; }
vf_line() { ip link show "$pf_if" | grep -E "^ +vf $1 "; }
# guest_answers [ADDRESS]: a guest answers the test host at ADDRESS (vm-a's
# on VLAN 100) within 420 s (a nested boot)
guest_answers() {
    local deadline=$((SECONDS + 420))
    until TH ping -c 1 -W 2 "${1:-10.0.1.2}" >/dev/null 2>&1; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 2
    done
}

pfs=()
for d in /sys/bus/pci/devices/*; do
    [ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x8086:0x10c9 ] && pfs+=("${d##*/}")
done
[ ${#pfs[@]} -eq 2 ] || { echo "FAIL: expected 2 igb PFs, found '${pfs[*]}' (evr-lab run --igb 2)"; exit 1; }
PF=${pfs[0]} PEER=${pfs[1]}
pf_if=$(ls "/sys/bus/pci/devices/$PF/net")
peer_if=$(ls "/sys/bus/pci/devices/$PEER/net")
modprobe vfio-pci 2>/dev/null
echo "port0: igb PF $PF ($pf_if); the test host: $PEER ($peer_if) in netns th"

ip netns add th
ip link set "$peer_if" netns th
TH ip link set lo up
TH ip link set "$peer_if" name peer
TH ip link set peer up
TH ip addr add 10.0.0.1/24 dev peer
TH ip link add link peer name v100 type vlan id 100
TH ip addr add 10.0.1.1/24 dev v100
TH ip link set v100 up
TH ip link add link peer name v200 type vlan id 200
TH ip addr add 10.0.2.1/24 dev v200
TH ip link set v200 up

mkdir -p $run
tcp_sink_start th
initrd_with "$initrd" $run/initrd-vf "$tcp_agent"
# The VMs' RAM in 2 MiB pages (their "hugepages"), 128 of them each and a
# margin for a VM restarted while its last process's pages are freed: QEMU's
# igb drops a TX frame whose buffer spans two 4 KiB pages the lab's IOMMU
# maps apart, and TCP would stall now and then (docs/lab.md, "TCP on the
# lab's e1000e pair").
reserve_hugepages 272
# The guest addresses every VF interface it gets (at boot or hot-added) on
# its VLAN's subnet (evr_addr) and the untagged one (evr_untagged), stays
# up, and pings the test host (evr_peer) once a link is up. The kernel
# command line carries no quotes inside evr_run. tcp-agent.sh runs the TCP
# rounds in the background.
guest='sh /tcp-agent.sh & pinged=0; while true; do for i in /sys/class/net/eth*; do n=${i##*/}; [ -e $i ] || continue; ip -4 addr show dev $n | grep -q $evr_addr/ || { ip link set $n up; ip addr add $evr_addr/24 dev $n; ip addr add $evr_untagged/24 dev $n; echo vf-guest: $n $(cat $i/address) driver $(basename $(readlink $i/device/driver)) configured; }; [ $pinged = 0 ] && grep -q 1 $i/carrier 2>/dev/null && ping -c 3 -W 2 $evr_peer >/dev/null && pinged=1 && echo vf-guest: ping ok; done; sleep 1; done'
vm() { # name VLAN-address peer untagged-address
    printf '{"name": "%s", "ports": 0, "cores": [1], "vmm": {"kernel": "%s", "initrd": "%s", "memory": 256, "hugepages": true, "vcpus": 1, "cmdline": "console=ttyS0 panic=-1 evr_addr=%s evr_peer=%s evr_untagged=%s evr_run=\\"%s\\""}}' \
        "$1" "$kernel" "$run/initrd-vf" "$2" "$3" "$4" "$guest"
}
cat >$run/appliance.json <<EOF
{"state_dir": "$run/state", "share_cores": true,
 "vswitch": {"cores": [0, 1], "memory": 256, "idle_sleep_us": 1000},
 "ports": [{"name": "port0", "pci": "$PF", "vfs": 2}],
 "vms": [$(vm vm-a 10.0.1.2 10.0.1.1 10.0.0.2), $(vm vm-b 10.0.2.2 10.0.2.1 10.0.0.3)]}
EOF

say "evrd starts with --no-vms: port0's PF carves its VFs"
[ "$(cat /sys/bus/pci/devices/$PF/sriov_numvfs)" = 0 ] || echo "note: $PF had VFs already"
start_evrd --no-vms
"$evr" show inventory
VF0=$(basename "$(readlink "/sys/bus/pci/devices/$PF/virtfn0")")
VF1=$(basename "$(readlink "/sys/bus/pci/devices/$PF/virtfn1")")
check "$PF has 2 VFs ($VF0 $VF1), carved with autoprobe off" \
    test "$(cat /sys/bus/pci/devices/$PF/sriov_numvfs) $(cat /sys/bus/pci/devices/$PF/sriov_drivers_autoprobe)" = "2 0"
check "the free VFs have no driver" test "$(drv "$VF0")$(drv "$VF1")" = ""
check "the free VFs are clean (no MAC, no VLAN)" \
    bash -c "ip link show $pf_if | grep -E '^ +vf [01] ' | grep -v vlan | grep -c 'link/ether 00:00:00:00:00:00' | grep -qx 2"
check "the inventory lists port0's PF and its VFs" \
    bash -c "'$evr' -j show inventory | python3 -c 'import json,sys; p=json.load(sys.stdin)[\"inventory\"][\"ports\"][0]; assert p[\"pci\"] == \"$PF\" and p[\"carved\"] == 2 and [v[\"host\"] for v in p[\"vf\"]] == [\"$VF0\", \"$VF1\"], p'"

say "refusals change nothing"
out=$("$evr" split port0 vm-a --passthrough 2>&1)
rc=$?
echo "$out"
check "port0's PF given whole is refused (exit 2), naming the reason" \
    test "$rc" = 2 -a -n "$(echo "$out" | grep 'carves VFs')"
"$evr" split port0/vf9 vm-a >/dev/null 2>&1
check "a VF port0 does not have is refused (exit 2)" test $? = 2

say "evr split port0/vf0 vm-a --vlan 100"
"$evr" split port0/vf0 vm-a --vlan 100
rc=$?
check "the split succeeded" test $rc = 0
mac=$("$evr" -j show inventory | python3 -c 'import json,sys; print(json.load(sys.stdin)["inventory"]["ports"][0]["vf"][0]["mac"])')
echo "VF 0: $(vf_line 0)"
check "VF 0 ($VF0) is on vfio-pci" test "$(drv "$VF0")" = vfio-pci
check "VF 0 has evrd's MAC $mac (locally administered) and VLAN 100" \
    bash -c "[[ '$mac' == 02:* ]] && ip link show $pf_if | grep -E '^ +vf 0 ' | grep -q 'link/ether $mac.*vlan 100'"
check "VF 1 stays free and unbound" test "$(drv "$VF1")" = ""
check "vm-a's evr-vmm configuration will have the VF" \
    bash -c "'$evr' vm start vm-a && python3 -c 'import json; c=json.load(open(\"$run/vm-a.json\")); assert c[\"passthrough\"] == [\"$VF0\"], c'"

console_keep vm-a

say "vm-a boots with the VF (nested KVM under emulation: a minute or two)"
if guest_answers; then
    echo "vm-a answers after $SECONDS s"
    check "the test host reaches the guest on VLAN 100" TH ping -c 3 -W 2 10.0.1.2
    check "the guest's MAC is the one evrd set on the VF ($mac)" \
        bash -c "ip netns exec th ip neigh show 10.0.1.2 | grep -q '$mac'"
    check "untagged frames do not reach the VF (its port VLAN is 100)" \
        bash -c "! ip netns exec th ping -c 3 -W 2 10.0.0.2 >/dev/null 2>&1"
    check "the guest pinged the test host (VLAN 100)" \
        bash -c "for i in \$(seq 120); do grep -aq 'vf-guest: ping ok' $run/vm-a.console.log 2>/dev/null && exit 0; sleep 1; done; exit 1"
    say "TCP with vm-a over VLAN 100"
    tcp_round vm-a th 10.0.1.2 "vm-a on VLAN 100"
else
    check "vm-a answered on VLAN 100 within 420 s" false
fi

say "kill -9 of vm-a's evr-vmm: evrd restarts it with its VF"
pid=$(vm_pid)
kill -9 "$pid"
for _ in $(seq 300); do p=$(vm_pid); [ "${p:-0}" -gt 0 ] && [ "$p" != "$pid" ] && break; sleep 0.2; done
check "evrd restarted vm-a (pid $pid, now $(vm_pid))" test "$(vm_pid)" != "$pid" -a "$(vm_pid)" -gt 0
check "its configuration still has the VF" \
    python3 -c "import json; c=json.load(open('$run/vm-a.json')); assert c['passthrough'] == ['$VF0'], c"
check "the restarted guest answers on VLAN 100 again" guest_answers

# move_timed SLICE VM [ARGS]: evr move, printing where its time went
move_timed() {
    "$evr" -j move "$@" >$run/move.json
    local rc=$?
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("moved: plan", [s["op"] for s in r["plan"]], "time_us", r["time_us"])' $run/move.json
    return $rc
}
say "at runtime: evr move port0/vf0 vm-b --vlan 200 (vm-b stopped): vm-a's guest lets the VF go (hot-unplug)"
move_timed port0/vf0 vm-b --vlan 200
check "the move succeeded" test $? = 0
mac_b=$("$evr" -j show inventory | python3 -c 'import json,sys; print(json.load(sys.stdin)["inventory"]["ports"][0]["vf"][0]["mac"])')
echo "VF 0: $(vf_line 0)"
check "VF 0 is with vfio-pci again, out of the guest" test "$(drv "$VF0")" = vfio-pci
check "VF 0 has vm-b's MAC ($mac_b, not $mac) and VLAN 200" \
    bash -c "[ '$mac_b' != '$mac' ] && ip link show $pf_if | grep -E '^ +vf 0 ' | grep -q 'link/ether $mac_b.*vlan 200'"
check "vm-a's guest no longer answers on VLAN 100" bash -c "! ip netns exec th ping -c 2 -W 2 10.0.1.2 >/dev/null 2>&1"
check "vm-a still runs" test "$(vm_state)" = running
say "evr move port0/vf0 vm-a --vlan 100: hot-added to the running guest"
TH ip neigh flush all
configured=$(grep -ac 'vf-guest: .* configured' $run/vm-a.console.log)
move_timed port0/vf0 vm-a --vlan 100
check "the move succeeded" test $? = 0
check "the guest answers on VLAN 100 again, through the hot-added VF" guest_answers
check "with vm-a's MAC again ($mac)" bash -c "ip netns exec th ip neigh show 10.0.1.2 | grep -q '$mac'"
check "the guest configured the hot-added VF's interface" \
    test "$(grep -ac 'vf-guest: .* configured' $run/vm-a.console.log)" -gt "$configured"
say "TCP with vm-a through the hot-added VF"
tcp_round vm-a th 10.0.1.2 "vm-a on VLAN 100 (the VF hot-added)"

if [ "$mode" = two ]; then
    say "two running VMs: evr vm start vm-b; evr move port0/vf0 vm-b --vlan 200 from running vm-a"
    console_keep vm-b
    "$evr" vm start vm-b
    deadline=$((SECONDS + 420))
    until grep -aq 'evr-guest: init reached' $run/vm-b.console.log 2>/dev/null || [ $SECONDS -ge $deadline ]; do sleep 2; done
    check "vm-b's guest booted (no VF yet)" grep -aq 'evr-guest: init reached' $run/vm-b.console.log
    TH ip neigh flush all
    move_timed port0/vf0 vm-b --vlan 200
    check "the move succeeded, as device-del, vf-set, device-add" \
        python3 -c "import json; assert [s['op'] for s in json.load(open('$run/move.json'))['plan']] == ['device-del', 'vf-set', 'device-add']"
    check "vm-b's guest answers on VLAN 200 through the VF" guest_answers 10.0.2.2
    check "with vm-b's MAC ($mac_b)" bash -c "ip netns exec th ip neigh show 10.0.2.2 | grep -q '$mac_b'"
    check "untagged frames do not reach vm-b's VF (its port VLAN is 200)" \
        bash -c "! ip netns exec th ping -c 3 -W 2 10.0.0.3 >/dev/null 2>&1"
    check "vm-a's guest no longer answers on VLAN 100" bash -c "! ip netns exec th ping -c 2 -W 2 10.0.1.2 >/dev/null 2>&1"
    say "TCP with vm-b over VLAN 200, through the VF that came from vm-a"
    tcp_round vm-b th 10.0.2.2 "vm-b on VLAN 200 (the VF moved from running vm-a)"
    say "a VF in each running VM: evr split port0/vf1 vm-a --vlan 100 (hot-added beside vm-b's VF 0)"
    TH ip neigh flush all
    "$evr" split port0/vf1 vm-a --vlan 100
    check "the split succeeded" test $? = 0
    mac_a1=$("$evr" -j show inventory | python3 -c 'import json,sys; print(json.load(sys.stdin)["inventory"]["ports"][0]["vf"][1]["mac"])')
    echo "VF 0: $(vf_line 0)"
    echo "VF 1: $(vf_line 1)"
    check "VF 1 ($VF1) has vm-a's MAC for it ($mac_a1) and VLAN 100" \
        bash -c "ip link show $pf_if | grep -E '^ +vf 1 ' | grep -q 'link/ether $mac_a1.*vlan 100'"
    check "VF 0 is still vm-b's: its MAC ($mac_b) and VLAN 200" \
        bash -c "ip link show $pf_if | grep -E '^ +vf 0 ' | grep -q 'link/ether $mac_b.*vlan 200'"
    check "vm-a's guest answers on VLAN 100 through VF 1" guest_answers 10.0.1.2
    check "with VF 1's MAC ($mac_a1)" bash -c "ip netns exec th ip neigh show 10.0.1.2 | grep -q '$mac_a1'"
    check "vm-b's guest still answers on VLAN 200 through VF 0" TH ping -c 3 -W 2 10.0.2.2
    check "untagged frames reach neither VM" \
        bash -c "! ip netns exec th ping -c 2 -W 2 10.0.0.2 >/dev/null 2>&1 && ! ip netns exec th ping -c 2 -W 2 10.0.0.3 >/dev/null 2>&1"
    say "TCP with each VM over its own VF and VLAN, both VFs in use"
    tcp_round vm-a th 10.0.1.2 "vm-a on VLAN 100 (VF 1, beside vm-b's VF 0)"
    tcp_round vm-b th 10.0.2.2 "vm-b on VLAN 200 (VF 0, beside vm-a's VF 1)"
    say "evr vm stop vm-b: the VF it owns goes back to vfio-pci"
    "$evr" vm stop vm-b
    for _ in $(seq 150); do [ "$(vm_state vm-b)" = stopped ] && break; sleep 0.2; done
    check "vm-b stopped" test "$(vm_state vm-b)" = stopped
    echo "VF 0: $(vf_line 0)"
    check "vm-b's evr-vmm gave VF 0 back to vfio-pci, where evrd had bound it" test "$(drv "$VF0")" = vfio-pci
    check "vm-b's evr-vmm reset the VF without a complaint (its log)" bash -c "! grep -E 'evr-vmm: passthrough .*(reset|RESET)' $run/vm-b.log"
    check "VF 0 is still vm-b's: its MAC ($mac_b) and VLAN 200" \
        bash -c "ip link show $pf_if | grep -E '^ +vf 0 ' | grep -q 'link/ether $mac_b.*vlan 200'"
fi

say "evr vm stop vm-a; evr free port0/vf0"
"$evr" vm stop vm-a
for _ in $(seq 150); do [ "$(vm_state)" = stopped ] && break; sleep 0.2; done
check "vm-a stopped" test "$(vm_state)" = stopped
check "the VF is back with vfio-pci while a VM owns it" test "$(drv "$VF0")" = vfio-pci
check "vm-a's evr-vmm reset the VF at each removal and stop without a complaint (its log)" bash -c "! grep -E 'evr-vmm: passthrough .*(reset|RESET)' $run/vm-a.log"
"$evr" free port0/vf0
echo "VF 0: $(vf_line 0)"
check "the freed VF is reset: no MAC, no VLAN" \
    bash -c "ip link show $pf_if | grep -E '^ +vf 0 ' | grep 'link/ether 00:00:00:00:00:00' | grep -vq vlan"
check "the freed VF is unbound, its override cleared" \
    test "$(drv "$VF0")" = "" -a "$(cat /sys/bus/pci/devices/$VF0/driver_override)" = "(null)"
if [ "$mode" = two ]; then
    check "VF 1, vm-a's, is with vfio-pci after vm-a's stop" test "$(drv "$VF1")" = vfio-pci
    "$evr" free port0/vf1
    echo "VF 1: $(vf_line 1)"
    check "VF 1 freed: reset (no MAC, no VLAN) and unbound" \
        bash -c "ip link show $pf_if | grep -E '^ +vf 1 ' | grep 'link/ether 00:00:00:00:00:00' | grep -vq vlan && [ ! -e /sys/bus/pci/devices/$VF1/driver ]"
fi
"$evr" show inventory

say "what evrd saw"
print_events

finish vm-a vm-b
evrd_pid=""
grep -a 'vf-guest:' $run/vm-a.console.log
echo "all checks passed"
