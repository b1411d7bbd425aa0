#!/usr/bin/env bash
# Lab check: netdevsim gives a device with 8 ports and 4 VFs on its first
# port, and a VF's MAC and VLAN set over rtnetlink (iproute2) read back.
set -euo pipefail
fail() { echo "netdevsim_vf: $*" >&2; exit 1; }

[ -w /sys/bus/netdevsim/new_device ] || fail "netdevsim is not loaded (/sys/bus/netdevsim/new_device missing)"
id=$((RANDOM % 1000 + 100))
echo "$id 8" >/sys/bus/netdevsim/new_device || fail "new_device '$id 8' refused"
trap 'echo $id >/sys/bus/netdevsim/del_device 2>/dev/null || true' EXIT
dev=/sys/bus/netdevsim/devices/netdevsim$id
for _ in $(seq 50); do
    [ "$(ls "$dev/net" 2>/dev/null | wc -l)" -eq 8 ] && break
    sleep 0.1
done
ports=$(ls "$dev/net" | wc -l)
[ "$ports" -eq 8 ] || fail "netdevsim$id has $ports netdevs, expected 8"
echo 4 >"$dev/sriov_numvfs" || fail "sriov_numvfs 4 refused"
[ "$(cat "$dev/sriov_numvfs")" = 4 ] || fail "sriov_numvfs reads $(cat "$dev/sriov_numvfs")"

# The PF port lists the VFs (netdevsim names its first port p1).
port0=""
for n in "$dev"/net/*; do
    ip link show "${n##*/}" | grep -qE '^ +vf 3 ' && port0=${n##*/} && break
done
[ -n "$port0" ] || fail "no port of netdevsim$id lists VFs 0-3"
ip link set "$port0" vf 2 mac 02:00:00:00:00:22 vlan 100 qos 3 ||
    fail "setting VF 2 MAC and VLAN over netlink failed"
line=$(ip link show "$port0" | grep -E '^ +vf 2 ' || true)
echo "netdevsim_vf: $port0: ${line# *}"
[[ "$line" == *"link/ether 02:00:00:00:00:22"* ]] || fail "VF 2 MAC did not read back: '$line'"
[[ "$line" == *"vlan 100, qos 3"* ]] || fail "VF 2 VLAN did not read back: '$line'"
if ip link set "$port0" vf 9 mac 02:00:00:00:00:99 2>/dev/null; then
    fail "VF 9 of 4 was accepted"
fi
echo "netdevsim_vf: 8 ports, 4 VFs, VF MAC and VLAN read back over netlink"
