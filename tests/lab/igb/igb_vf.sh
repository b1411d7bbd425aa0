#!/usr/bin/env bash
# Lab check (evr-lab run --nics 0 --igb 2): QEMU's igb as an SR-IOV NIC. VFs
# carved on the first igb, MAC and VLAN set on them by the PF over rtnetlink,
# VFs on igbvf; the second igb, cabled to the first, is a test host in a netns
# with VLAN subinterfaces. Shows what QEMU's igb does with a VF's port VLAN
# (insert, strip, isolation), a VF's own VLAN filters, MAC anti-spoofing, and
# that a VF goes to vfio-pci and resets (docs/lab.md, "igb").
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
L2=$HERE/l2frame.py
fail() { echo "igb_vf: FAIL: $*" >&2; exit 1; }
say() { echo "igb_vf: $*"; }
WORK=$(mktemp -d)
trap 'ip netns del th 2>/dev/null || true; rm -rf "$WORK"' EXIT

# shellcheck source=tests/lab/igb/igb_sriov.sh
. "$HERE/igb_sriov.sh"

# --- the two igb PFs, cabled to each other ---
mapfile -t pfs <<<"$(igb_pfs)"
[ ${#pfs[@]} -eq 2 ] || fail "expected 2 igb PFs (8086:10c9), found '${pfs[*]}': run under evr-lab --igb 2"
PF=${pfs[0]} PEER=${pfs[1]}
pfdev=/sys/bus/pci/devices/$PF
pf=$(ls "$pfdev/net")
peer=$(ls "/sys/bus/pci/devices/$PEER/net")
# QEMU's igb offers 8 VFs in its SR-IOV capability; Linux's igb keeps a pool for the PF.
total=$(setpci -s "$PF" ECAP_SRIOV+0x0e.w)
[ "$((16#$total))" -eq 8 ] || fail "$PF's SR-IOV capability has TotalVFs $((16#$total)), QEMU's igb has 8"
[ "$(cat "$pfdev/sriov_totalvfs")" = 7 ] || fail "igb allows $(cat "$pfdev/sriov_totalvfs") VFs on $PF, expected 7"

# --- the test host: the peer igb in a netns, untagged and VLANs 100, 200, 300 ---
ip netns add th
ip link set "$peer" netns th
TH() { ip netns exec th "$@"; }
TH ip link set lo up
TH ip link set "$peer" name peer
# Tags stay in the frames the test host receives, so what crossed the cable is seen as it was.
TH ethtool -K peer rxvlan off >/dev/null
TH ip link set peer up
TH ip addr add 10.0.0.1/24 dev peer
for v in 100 200 300; do
    TH ip link add link peer name v$v type vlan id $v
    TH ip addr add 10.0.$((v / 100)).1/24 dev v$v
    TH ip link set v$v up
done
peer_mac=$(TH cat /sys/class/net/peer/address)

# --- VFs: PF up first, carved without a driver, MAC and VLAN from the PF, then igbvf ---
igb_carve "$PF" 2
VF=()
for i in 0 1; do
    VF[i]=$(igb_vf "$PF" $i)
    d=/sys/bus/pci/devices/${VF[i]}
    [ "$(cat "$d/device")" = 0x10ca ] || fail "VF $i (${VF[i]}) is $(cat "$d/device"), not 0x10ca"
    [ -e "$d/driver" ] && fail "VF $i (${VF[i]}) got a driver with autoprobe off"
    g=$(basename "$(readlink "$d/iommu_group")")
    [ "$g" != "$(basename "$(readlink "$pfdev/iommu_group")")" ] || fail "VF $i shares the PF's IOMMU group"
    [ "$(ls "/sys/kernel/iommu_groups/$g/devices")" = "${VF[i]}" ] || fail "VF $i's IOMMU group $g holds more than the VF"
    for bar in 0 3; do
        read -r start end _ <<<"$(sed -n "$((bar + 1))p" "$d/resource")"
        [ $((end - start + 1)) -eq 16384 ] || fail "VF $i BAR $bar is $start-$end, not 16 KiB"
    done
done
[ "${VF[0]}" != "${VF[1]}" ] || fail "both VFs at ${VF[0]}"
say "$PF: 2 VFs ${VF[*]} (8086:10ca), each alone in its IOMMU group, BARs 0 and 3 of 16 KiB"

MAC0=02:00:00:00:01:00 MAC1=02:00:00:00:01:01
ip link set "$pf" vf 0 mac $MAC0 vlan 100 || fail "setting VF 0 MAC and VLAN over netlink failed"
ip link set "$pf" vf 1 mac $MAC1 || fail "setting VF 1 MAC over netlink failed"
line0=$(ip link show "$pf" | grep -E '^ +vf 0 ')
line1=$(ip link show "$pf" | grep -E '^ +vf 1 ')
[[ "$line0" == *"link/ether $MAC0"*"vlan 100"* ]] || fail "VF 0 settings did not read back: '$line0'"
[[ "$line1" == *"link/ether $MAC1"* ]] || fail "VF 1 MAC did not read back: '$line1'"

for i in 0 1; do
    igb_bind "${VF[i]}" igbvf
    ip link set "$(ls "/sys/bus/pci/devices/${VF[i]}/net")" name vf$i
done
# The MAC the PF set reaches igbvf only through the mailbox handshake after the VF's reset.
[ "$(cat /sys/class/net/vf0/address)" = $MAC0 ] || fail "vf0 has MAC $(cat /sys/class/net/vf0/address), the PF set $MAC0: the VF-PF mailbox did not work"
[ "$(cat /sys/class/net/vf1/address)" = $MAC1 ] || fail "vf1 has MAC $(cat /sys/class/net/vf1/address), the PF set $MAC1"
ip link set vf0 up
ip link set vf1 up
for i in 0 1; do
    igb_wait_carrier vf$i
    vecs=("/sys/bus/pci/devices/${VF[i]}/msi_irqs"/*)
    nvec=${#vecs[@]}
    [ "$nvec" -eq 3 ] || fail "vf$i uses $nvec MSI-X vectors, igbvf asks for 3"
done
say "VF MAC and VLAN set by the PF over netlink; igbvf took MACs $MAC0 $MAC1 from the PF, links up, 3 MSI-X vectors each"

ip addr add 10.0.1.2/24 dev vf0
ip addr add 10.0.0.2/24 dev vf1
ping -c 3 -W 2 -q 10.0.1.1 >/dev/null || fail "vf0 (port VLAN 100) cannot ping the test host's VLAN 100"
ping -c 3 -W 2 -q 10.0.0.1 >/dev/null || fail "vf1 (no VLAN) cannot ping the test host untagged"
say "ping: vf0 (port VLAN 100) <-> test host VLAN 100, vf1 <-> test host untagged"

# rx_start [PREFIX...]: a receiver of RX_MARK frames on RX_IF, run under
# PREFIX (ip netns exec th); rx_end waits for it. Its lines: "src=MAC tags=...".
rx_start() {
    rm -f "$WORK/ready" "$WORK/sent" "$WORK/rx"
    "$@" "$L2" recv "$RX_IF" "$RX_MARK" 3 "$WORK/ready" "$WORK/sent" >"$WORK/rx" &
    rx_pid=$!
    for _ in $(seq 50); do [ -e "$WORK/ready" ] && return 0; sleep 0.1; done
    fail "the frame receiver on $RX_IF did not start"
}
# rx_end: the sender is done; the receiver keeps 3 s for frames in flight
rx_end() {
    : >"$WORK/sent"
    wait "$rx_pid" || fail "the frame receiver on $RX_IF failed"
}

# to_host IFACE SRC VLANS MARK: what reaches the test host's cable end when
# IFACE sends marked frames from SRC with the tags VLANS.
to_host() {
    RX_IF=peer RX_MARK=$4
    rx_start ip netns exec th
    "$L2" send "$1" "$peer_mac" "$2" "$3" "$4" 5
    rx_end
    sort -u "$WORK/rx" | paste -sd ' ' -
}
# to_vf IFACE DST VLANS MARK: what IFACE receives when the test host sends
# marked frames to DST with the tags VLANS.
to_vf() {
    RX_IF=$1 RX_MARK=$4
    rx_start
    TH "$L2" send peer "$2" "$peer_mac" "$3" "$4" 5
    rx_end
    sort -u "$WORK/rx" | paste -sd ' ' -
}

# expect WHAT GOT WANT: one finding about QEMU's igb, checked.
expect() {
    [ "$2" = "$3" ] || fail "$1: got '${2:-nothing}', expected '${3:-nothing}'"
    say "$1: ${2:-nothing}"
}

# Port VLAN (VMVIR "always insert", VMOLR strip, VLVF pool filter): the VF
# sees no VLAN; its frames leave tagged, and only its VLAN reaches it.
expect "vf0 (port VLAN 100) sends untagged, the cable carries" "$(to_host vf0 $MAC0 - tx-untagged)" "src=$MAC0 tags=100"
expect "vf0 sends its own tag 300, the cable carries (QinQ, 802.1Q outer)" "$(to_host vf0 $MAC0 300 tx-own-tag)" "src=$MAC0 tags=100,300"
expect "the test host sends tag 100 to vf0, vf0 gets (stripped)" "$(to_vf vf0 $MAC0 100 rx-100)" "src=$peer_mac tags=-"
expect "the test host sends untagged to vf0, vf0 gets" "$(to_vf vf0 $MAC0 - rx-untagged)" ""
expect "the test host sends tag 200 to vf0, vf0 gets" "$(to_vf vf0 $MAC0 200 rx-200)" ""

# A VF without a port VLAN: its own VLANs, asked of the PF over the mailbox.
ip link add link vf1 name vf1.200 type vlan id 200
ip link set vf1.200 up
expect "vf1 joined VLAN 200; the test host sends tag 200 to vf1, vf1 gets" "$(to_vf vf1 $MAC1 200 rx-filter-200)" "src=$peer_mac tags=200"
expect "the test host sends tag 300 (not joined) to vf1, vf1 gets" "$(to_vf vf1 $MAC1 300 rx-filter-300)" ""
expect "the test host sends untagged to vf1, vf1 gets" "$(to_vf vf1 $MAC1 - rx-vf1-untagged)" "src=$peer_mac tags=-"

# MAC anti-spoofing: the PF sets it (DTXSWC), QEMU's igb does not enforce it.
SPOOF=02:00:00:00:99:99
[[ "$(ip link show "$pf" | grep -E '^ +vf 1 ')" == *"spoof checking on"* ]] || fail "VF 1 does not report spoof checking on"
expect "vf1 (spoof checking on) sends from $SPOOF, the cable carries" "$(to_host vf1 $SPOOF - spoof-on)" "src=$SPOOF tags=-"
ip link set "$pf" vf 1 spoofchk off
expect "vf1 (spoof checking off) sends from $SPOOF, the cable carries" "$(to_host vf1 $SPOOF - spoof-off)" "src=$SPOOF tags=-"
ip link set "$pf" vf 1 spoofchk on
# The PF driver, not the NIC, keeps an administratively set MAC.
if ip link set vf1 address 02:00:00:00:01:77 2>/dev/null; then
    fail "vf1 changed the MAC the PF set"
fi
say "vf1 changing the MAC the PF set: refused by the PF over the mailbox"
# The PF takes a rate; QEMU has no rate limiter (RTTBCNRC is an unknown register to it).
ip link set "$pf" vf 1 max_tx_rate 10 || fail "max_tx_rate 10 on VF 1 refused"
[[ "$(ip link show "$pf" | grep -E '^ +vf 1 ')" == *"max_tx_rate 10Mbps"* ]] || fail "VF 1 max_tx_rate did not read back"
say "VF 1 max_tx_rate 10 accepted and read back"

for i in 0 1; do
    sum=0
    for v in "/sys/bus/pci/devices/${VF[i]}/msi_irqs"/*; do
        irq=${v##*/}
        c=$(awk -v irq="$irq:" '$1 == irq { s = 0; for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; print s }' /proc/interrupts)
        sum=$((sum + ${c:-0}))
    done
    [ "$sum" -gt 0 ] || fail "vf$i's MSI-X vectors counted no interrupt"
    say "vf$i: $sum MSI-X interrupts"
done

# The passthrough path: a VF leaves igbvf for vfio-pci.
igb_bind "${VF[1]}" vfio-pci
g=$(basename "$(readlink "/sys/bus/pci/devices/${VF[1]}/iommu_group")")
[ -c "/dev/vfio/$g" ] || fail "/dev/vfio/$g missing after binding ${VF[1]} to vfio-pci"
# vfio-pci resets a function when it is opened and released: a VF has no bus
# of its own to reset, so it needs Function Level Reset.
vfdev=/sys/bus/pci/devices/${VF[1]}
methods=$(cat "$vfdev/reset_method")
[[ " $methods " == *" flr "* ]] || fail "${VF[1]} offers no FLR (reset_method '$methods')"
echo 1 >"$vfdev/reset" || fail "resetting ${VF[1]} failed"
say "${VF[1]} on vfio-pci, /dev/vfio/$g; reset methods '$methods', reset done"
say "ok"
