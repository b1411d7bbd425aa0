#!/usr/bin/env bash
# Runs inside the lab (evr-lab run --nics 0 --igb 2): usage
#   hotplug-checks.sh EVR_VMM KERNEL INITRD_IGBVF
# ACPI PCI hotplug of igb VFs into a running router-engine VM, over the
# control socket (device-add / device-del). The first igb is the NIC split
# in hardware: 2 VFs carved (docs/lab.md, "Getting VFs that carry traffic"),
# VF 0 with MAC M0 and port VLAN 100 on the host's igbvf, VF 1 with MAC M1
# and port VLAN 200 unbound. The second igb, on the same cable, is the test
# host in a netns with VLAN subinterfaces 100 and 200 (arp_ignore 1: each
# address answers only on its own VLAN). One VM (1 vCPU, 256 MiB) with the
# igbvf module, booted with VF 1 cold-plugged (--passthrough):
#   1. VF 0 added: the guest's acpiphp rescans the slot, igbvf probes it, its
#      MSI-X counts rise, it pings the test host on VLAN 100 and answers its
#      pings, it sends the test host 2 MiB over TCP and receives 2 MiB;
#      removed: the guest ejects it, it is back with the host's igbvf.
#   2. Added again, traffic again (pings, TCP both ways); with the VM paused
#      (a guest that cannot eject) device-del times out with ETIMEDOUT and
#      the VF stays assigned and carries traffic after resume; then removed
#      for real.
#   3. VF 0 added again beside VF 1: each carries 2 MiB over TCP each way on
#      its own VLAN and reaches nothing on the other's. Both removed (VF 1,
#      cold-plugged, the same way): VF 1 is unbound again as it was.
#      Refusals name the address.
# Each TCP transfer (vm-checks-lib.sh) is checked at both ends, byte count
# and MD5. The guest's RAM is in 2 MiB pages (--hugepages): QEMU's igb, like
# its e1000e, silently drops a frame whose buffer spans two guest pages the
# lab's IOMMU maps apart, which with 4 KiB pages stalls a TCP transfer now
# and then (docs/lab.md, "TCP on the lab's e1000e pair").
# Two VMs at once are less reliable in the lab (docs/lab.md, "Two nested
# router engines at once"): one VM with two VFs, and the same VM taking a
# VF again, prove the same points.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VMM=$1 KERNEL=$2 INITRD=$3
W=$(mktemp -d)
NS=th
vm_pid=""
tcp_sink_pid=""
failures=0
# shellcheck source=tests/lab/vmm/vm-checks-lib.sh
. "$HERE/vm-checks-lib.sh"
# shellcheck source=tests/lab/igb/igb_sriov.sh
. "$HERE/../igb/igb_sriov.sh"
cleanup() {
    [ -n "$vm_pid" ] && kill -KILL "$vm_pid" 2>/dev/null
    [ -n "$tcp_sink_pid" ] && kill "$tcp_sink_pid" 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
now_ms() { date +%s%3N; }
drv() { basename "$(readlink "/sys/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null; }
# call OP FIELD=VALUE...: the reply line in $W/reply, the exit status of evrctl.py
call() {
    timeout 90 python3 "$HERE/../../../tools/lib/evrctl.py" "$W/ctl" "$@" >"$W/reply" 2>&1
}

mapfile -t pfs <<<"$(igb_pfs)"
[ ${#pfs[@]} -eq 2 ] || {
    echo "FAIL: expected 2 igb PFs, found '${pfs[*]}': run under evr-lab --igb 2"
    exit 1
}
PF=${pfs[0]} PEER=${pfs[1]}
pf=$(ls "/sys/bus/pci/devices/$PF/net")
peer=$(ls "/sys/bus/pci/devices/$PEER/net")
modprobe vfio-pci 2>/dev/null

# The test host: VLANs 100 and 200 on the peer igb.
ip netns add "$NS"
ip link set "$peer" netns "$NS"
TH() { ip netns exec "$NS" "$@"; }
TH sysctl -qw net.ipv4.conf.all.arp_ignore=1
TH ip link set lo up
TH ip link set "$peer" up
for v in 100 200; do
    TH ip link add link "$peer" name v$v type vlan id $v
    TH ip addr add 10.14.$((v / 100)).1/24 dev v$v
    TH ip link set v$v up
done
tcp_sink_start "$NS"

igb_carve "$PF" 2
VF0=$(igb_vf "$PF" 0) VF1=$(igb_vf "$PF" 1)
M0=02:00:00:00:0d:00 M1=02:00:00:00:0d:01
ip link set "$pf" vf 0 mac $M0 vlan 100
ip link set "$pf" vf 1 mac $M1 vlan 200
igb_bind "$VF0" igbvf
echo "VF 0 $VF0 (MAC $M0, port VLAN 100, host driver '$(drv "$VF0")'), VF 1 $VF1 (MAC $M1, port VLAN 200, '$(drv "$VF1")')"

mkdir -p "$W/extra"
cat >"$W/extra/hp-check.sh" <<GUEST
M0=$M0 M1=$M1
GUEST
guest_tcp_fns >>"$W/extra/hp-check.sh"
cat >>"$W/extra/hp-check.sh" <<'GUEST'
# The guest's half (busybox sh): waits for what the host does and says what it
# sees, as key=value lines the host greps. Its TCP transfers (tcp_out, tcp_in_*
# from vm-checks-lib.sh) go to the test host's sink on port 5001 and come
# from the test host to port 5002 (VF 0) and 5003 (VF 1).
sysctl -qw net.ipv4.conf.all.arp_ignore=1
up() { cut -d' ' -f1 /proc/uptime; }
if_of() { for i in /sys/class/net/*; do [ "$(cat "$i/address")" = "$1" ] && echo "${i##*/}"; done; }
msix() { grep -E " $1(-|\$)" /proc/interrupts | awk '{ s += $2 } END { print s + 0 }'; }
echoes() { awk '/^Icmp:/ { if (++k == 2) print $10 }' /proc/net/snmp; }
# wait_if MAC PRESENT(1|0) SECONDS
wait_if() {
    t=0
    while [ $t -lt $(($3 * 5)) ]; do
        n=$(if_of "$1")
        { [ "$2" = 1 ] && [ -n "$n" ]; } || { [ "$2" = 0 ] && [ -z "$n" ]; } && return 0
        sleep 0.2
        t=$((t + 1))
    done
    return 1
}
# bring MAC ADDR: the interface of MAC, addressed, up, with carrier
bring() {
    n=$(if_of "$1")
    ip addr add "$2/24" dev "$n"
    ip link set "$n" up
    t=0
    while [ "$(cat /sys/class/net/$n/carrier 2>/dev/null)" != 1 ] && [ $t -lt 300 ]; do
        sleep 0.2
        t=$((t + 1))
    done
    echo "$n"
}
wait_echoes() {
    t=0
    while [ "$(echoes)" -lt "$1" ] && [ $t -lt 240 ]; do
        sleep 0.5
        t=$((t + 1))
    done
}
echo "hp-boot"
for round in 1 2; do
    wait_if $M0 1 300 || { echo "hp-up$round=absent"; exit 1; }
    echo "hp-up$round t=$(up)"
    n=$(bring $M0 10.14.1.2)
    echo "hp-if$round=$n pci=$(basename "$(readlink /sys/class/net/$n/device)") driver=$(basename "$(readlink /sys/class/net/$n/device/driver)") carrier=$(cat /sys/class/net/$n/carrier) t=$(up)"
    echo "hp-irq-mode$round=$(cat /sys/class/net/$n/device/msi_irqs/* 2>/dev/null | sort -u | tr '\n' ' ')"
    b=$(msix $n)
    ping -c 3 -W 5 10.14.1.1 >/tmp/ping 2>&1
    echo "hp-ping$round=$(grep -c 'bytes from' /tmp/ping) t=$(up)"
    echo "hp-msix$round=$b->$(msix $n)"
    tcp_out hp-out-r$round 10.14.1.1 5001
    tcp_in_start hp-in-r$round 5002
    echo "hp-ready$round"
    wait_echoes $((round * 3))
    tcp_in_end hp-in-r$round
    if [ $round = 2 ]; then
        # the host's timed-out device-del happens here; the VF must stay
        echo "hp-hold2 echoes=$(echoes)"
        wait_echoes 9
        echo "hp-still2 echoes=$(echoes) if=$(if_of $M0) msix=$(msix $n)"
    fi
    wait_if $M0 0 300 && echo "hp-gone$round t=$(up)" || echo "hp-gone$round=never"
done
wait_if $M0 1 300 && wait_if $M1 1 300 || { echo "hp-vlan=absent"; exit 1; }
a=$(bring $M0 10.14.1.2)
b=$(bring $M1 10.14.2.2)
ping -c 2 -W 3 10.14.1.1 >/dev/null 2>&1 && echo "hp-vlan100-own=ok" || echo "hp-vlan100-own=lost"
ping -c 2 -W 3 10.14.2.1 >/dev/null 2>&1 && echo "hp-vlan200-own=ok" || echo "hp-vlan200-own=lost"
tcp_out hp-out-v100 10.14.1.1 5001
tcp_out hp-out-v200 10.14.2.1 5001
tcp_in_start hp-in-v100 5002
tcp_in_start hp-in-v200 5003
echo "hp-vlan-tcp-ready"
tcp_in_end hp-in-v100
tcp_in_end hp-in-v200
# Through the other VF: the frames carry the other VLAN, so the test host's
# address on this VLAN never answers.
ip route add 10.14.2.1/32 dev "$a"
ip route add 10.14.1.1/32 dev "$b"
ping -c 2 -W 2 10.14.2.1 >/dev/null 2>&1 && echo "hp-vlan100-other=reached" || echo "hp-vlan100-other=none"
ping -c 2 -W 2 10.14.1.1 >/dev/null 2>&1 && echo "hp-vlan200-other=reached" || echo "hp-vlan200-other=none"
echo "hp-vlan-done"
wait_if $M0 0 300 && wait_if $M1 0 300 && echo "hp-vlan-gone" || echo "hp-vlan-gone=never"
GUEST
(cd "$W/extra" && echo hp-check.sh | cpio -o -H newc 2>/dev/null | gzip) >"$W/extra.cpio.gz"
cat "$INITRD" "$W/extra.cpio.gz" >"$W/initrd"

# 256 MiB of guest RAM in 2 MiB pages (see the top), with room to spare
echo 160 >/proc/sys/vm/nr_hugepages
"$VMM" --hugepages --kernel "$KERNEL" --initrd "$W/initrd" --vcpus 1 --memory 256 \
    --passthrough "$VF1" --console "file:$W/console" --control "$W/ctl" \
    --cmdline 'console=ttyS0 panic=-1 evr_run="sh /hp-check.sh; sleep 600"' 2>"$W/err" &
vm_pid=$!
wait_for "hp-boot" 300 || fail "the guest did not reach its script"
[ "$(drv "$VF1")" = vfio-pci ] && pass "the cold-plugged $VF1 is with vfio-pci" ||
    fail "the cold-plugged $VF1 is with '$(drv "$VF1")'"

# Refusals, each naming the address, leaving nothing behind.
call device-add host=0000:00:1f.7
grep -q '"ok":false' "$W/reply" && grep -q "0000:00:1f.7" "$W/reply" &&
    pass "device-add of an absent function is refused naming it: $(cat "$W/reply")" ||
    fail "device-add of an absent function: $(cat "$W/reply")"
call device-add host=nope
grep -q '"EINVAL".*host' "$W/reply" && pass "device-add of a bad address: EINVAL" ||
    fail "device-add host=nope: $(cat "$W/reply")"
call device-del host="$VF0"
grep -q '"ENOENT".*'"$VF0" "$W/reply" && pass "device-del of a function the VM lacks: ENOENT naming it" ||
    fail "device-del before add: $(cat "$W/reply")"
call device-del host="$VF0" timeout_ms=600001
grep -q '"EINVAL".*timeout_ms' "$W/reply" && pass "device-del timeout_ms out of range: EINVAL" ||
    fail "device-del timeout_ms=600001: $(cat "$W/reply")"
[ "$(drv "$VF0")" = igbvf ] && pass "after the refusals $VF0 is still with igbvf" ||
    fail "after the refusals $VF0 is with '$(drv "$VF0")'"

# add VF: device-add, its reply checked; the time it took in add_ms
add() {
    local t0
    t0=$(now_ms)
    call device-add host="$1"
    add_ms=$(($(now_ms) - t0))
    if grep -q "\"ok\":true,\"host\":\"$1\",\"guest\":\"00:0[0-9a-f].0\"" "$W/reply"; then
        pass "device-add $1 in $add_ms ms: $(cat "$W/reply")"
    else
        fail "device-add $1: $(cat "$W/reply")"
    fi
}
# del VF [TIMEOUT]: device-del; the time it took in del_ms
del() {
    local t0
    t0=$(now_ms)
    call device-del host="$1" ${2:+timeout_ms=$2}
    del_rc=$?
    del_ms=$(($(now_ms) - t0))
}
ping_guest() { # ping_guest ADDR: replies of 3 pings from the test host
    TH ping -c 3 -W 5 "$1" 2>/dev/null | grep -c 'bytes from'
}
for round in 1 2; do
    echo "== round $round"
    t0=$(now_ms)
    add "$VF0"
    [ "$(drv "$VF0")" = vfio-pci ] && pass "$VF0 is with vfio-pci while assigned" ||
        fail "$VF0 is with '$(drv "$VF0")' while assigned"
    call status
    grep -q "{\"host\":\"$VF0\",\"guest\":\"00:0" "$W/reply" &&
        pass "status lists it: $(grep -o '"passthrough":[^]]*]' "$W/reply")" || fail "status: $(cat "$W/reply")"
    wait_for "hp-up$round" 240 && echo "  device-add to the guest's igbvf interface: $(($(now_ms) - t0)) ms"
    if wait_for "hp-ready$round" 360; then
        echo "  device-add to link up, 3 pings answered and 2 MiB sent in the guest: $(($(now_ms) - t0)) ms"
        tcp_check_out hp-out-r$round "round $round, VF 0 (VLAN 100) hot-added"
        got=$(ping_guest 10.14.1.2)
        [ "$got" -ge 1 ] && pass "the test host pings the guest through the VF ($got of 3)" ||
            fail "the test host's pings to the guest: none answered"
        tcp_send 10.14.1.2 5002 hp-in-r$round
        wait_for "hp-in-r$round=" 200
        tcp_check_in hp-in-r$round "round $round, VF 0 (VLAN 100) hot-added"
    else
        fail "round $round: the guest never had the VF up"
    fi
    if [ $round = 2 ]; then
        wait_for "hp-hold2" 60
        call pause
        del "$VF0" 2000
        [ "$del_rc" = 1 ] && grep -q "\"ETIMEDOUT\",\"message\":\"guest did not eject $VF0 within 2000 ms\"" "$W/reply" &&
            pass "device-del with the guest paused: ETIMEDOUT after $del_ms ms: $(cat "$W/reply")" ||
            fail "device-del with the guest paused: $(cat "$W/reply")"
        call resume
        [ "$(drv "$VF0")" = vfio-pci ] && pass "after the timeout $VF0 stays with vfio-pci" ||
            fail "after the timeout $VF0 is with '$(drv "$VF0")'"
        call status
        grep -q "\"host\":\"$VF0\"" "$W/reply" && pass "and stays assigned (status)" ||
            fail "status after the timeout: $(cat "$W/reply")"
        got=$(ping_guest 10.14.1.2)
        [ "$got" -ge 1 ] && pass "and carries traffic after resume ($got of 3)" ||
            fail "no traffic through the VF after the timed-out device-del"
        wait_for "hp-still2" 120 || fail "the guest did not see the pings after resume"
    fi
    del "$VF0"
    [ "$del_rc" = 0 ] && grep -q "\"ok\":true,\"host\":\"$VF0\"" "$W/reply" &&
        pass "device-del $VF0: the guest ejected it, given back in $del_ms ms" ||
        fail "device-del $VF0 (${del_ms} ms): $(cat "$W/reply")"
    wait_for "hp-gone$round" 60 || true
    [ "$(drv "$VF0")" = igbvf ] && pass "$VF0 is back with the host's igbvf" ||
        fail "after device-del $VF0 is with '$(drv "$VF0")'"
    call status
    grep -q "\"passthrough\":\[{\"host\":\"$VF1\",\"guest\":\"00:01.0\"}\]" "$W/reply" &&
        pass "status lists only the cold-plugged $VF1 at 00:01.0" ||
        fail "status after device-del: $(cat "$W/reply")"
done

echo "== both VFs, VLANs 100 and 200"
add "$VF0"
call device-add host="$VF1"
grep -q '"EEXIST".*'"$VF1" "$W/reply" && pass "device-add of the cold-plugged function: EEXIST naming it" ||
    fail "device-add of an assigned function: $(cat "$W/reply")"
if wait_for "hp-vlan-tcp-ready" 420; then
    tcp_check_out hp-out-v100 "VF 0 (VLAN 100) beside VF 1"
    tcp_check_out hp-out-v200 "VF 1 (VLAN 200) beside VF 0"
    tcp_send 10.14.1.2 5002 hp-in-v100
    tcp_send 10.14.2.2 5003 hp-in-v200
    wait_for "hp-in-v200=" 200
    tcp_check_in hp-in-v100 "VF 0 (VLAN 100) beside VF 1"
    tcp_check_in hp-in-v200 "VF 1 (VLAN 200) beside VF 0"
fi
wait_for "hp-vlan-done" 300 || fail "the guest never had both VFs up"
del "$VF0"
[ "$del_rc" = 0 ] || fail "device-del $VF0: $(cat "$W/reply")"
del "$VF1"
[ "$del_rc" = 0 ] && pass "device-del of the cold-plugged $VF1 in $del_ms ms" ||
    fail "device-del $VF1: $(cat "$W/reply")"
call status
grep -q '"passthrough":\[\]' "$W/reply" && pass "status lists no function" ||
    fail "status at the end: $(cat "$W/reply")"
wait_for "hp-vlan-gone" 60 || true
[ "$(drv "$VF0")" = igbvf ] && pass "$VF0 back with igbvf" || fail "$VF0 is with '$(drv "$VF0")'"
[ -z "$(drv "$VF1")" ] && pass "$VF1 unbound again, as it was" || fail "$VF1 is with '$(drv "$VF1")'"
[ -z "$(tr -d '(null)\n' <"/sys/bus/pci/devices/$VF1/driver_override")" ] &&
    pass "$VF1's driver_override is cleared" || fail "$VF1 driver_override left"
stop_vm
[ "$vm_rc" = 0 ] && pass "evr-vmm stopped with status 0" || fail "evr-vmm ended with $vm_rc"
[ -s "$W/err" ] && sed 's/^/  evr-vmm: /' "$W/err"
grep -q "not reset" "$W/err" && fail "a VF was not reset: $(grep "not reset" "$W/err")"

grep -a "hp-\|acpiphp\|igbvf\|ACPI Error\|ACPI BIOS" "$W/console" | sed 's/^/  guest: /'
# Where the guest's retransmissions of the transfers went (figures, not
# checks): what the test host's NIC lost on receive, and what its TCP saw,
# segments out of order (one before them lost) and duplicates (a
# retransmission not needed: DSACKs sent)
echo "  test host $peer, receive losses over the run:$(for k in rx_dropped rx_missed_errors rx_fifo_errors rx_over_errors rx_crc_errors; do
    printf ' %s %s' "$k" "$(TH cat "/sys/class/net/$peer/statistics/$k")"
done)"
echo "  test host TCP over the run: $(TH awk '/^TcpExt:/ { if (!n++) { for (i = 2; i <= NF; i++) c[$i] = i } else
    print "TCPOFOQueue", $c["TCPOFOQueue"], "TCPDSACKOldSent", $c["TCPDSACKOldSent"], "TCPDSACKOfoSent", $c["TCPDSACKOfoSent"] }' /proc/net/netstat)"
want() { grep -aqE "$1" "$W/console" && pass "$2" || fail "$2 (console lacks /$1/)"; }
for r in 1 2; do
    want "hp-if$r=eth[0-9]+ pci=0000:00:0[1-9a-f].0 driver=igbvf carrier=1" \
        "round $r: the guest's igbvf probes the hot-added VF, carrier up"
    want "hp-irq-mode$r=msix .?\$" "round $r: on MSI-X"
    want "hp-ping$r=[1-3]" "round $r: the guest pings the test host on VLAN 100"
    b=$(grep -a "hp-msix$r=" "$W/console" | sed 's/.*=//; s/->.*//' | tr -dc 0-9)
    a=$(grep -a "hp-msix$r=" "$W/console" | sed 's/.*->//' | tr -dc 0-9)
    [ -n "$b" ] && [ -n "$a" ] && [ "$a" -gt "$b" ] && pass "round $r: the VF's MSI-X counts rose ($b -> $a)" ||
        fail "round $r: MSI-X counts ${b:-?} -> ${a:-?}"
    want "hp-gone$r t=" "round $r: the guest ejected the VF"
done
want "hp-still2 echoes=(9|[1-9][0-9]) if=eth" "the guest kept the VF through the timed-out device-del"
want "hp-vlan100-own=ok" "VF 0 reaches the test host on VLAN 100"
want "hp-vlan200-own=ok" "VF 1 reaches the test host on VLAN 200"
want "hp-vlan100-other=none" "VF 0's frames never reach VLAN 200"
want "hp-vlan200-other=none" "VF 1's frames never reach VLAN 100"
grep -aqE "ACPI (Error|BIOS Error)" "$W/console" && fail "the guest's ACPI reported errors"
finish
