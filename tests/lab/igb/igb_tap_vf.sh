#!/usr/bin/env bash
# Inside evr-lab --nics 0 --igb-tap TAP: a VF of that igb, its MAC set by the
# PF, pings the test host on the host's end of the tap (igb_lab.sh).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
fail() { echo "igb_tap_vf: FAIL: $*" >&2; exit 1; }
# shellcheck source=tests/lab/igb/igb_sriov.sh
. "$HERE/igb_sriov.sh"
[ $# -eq 2 ] || fail "usage: igb_tap_vf.sh VF-ADDR/PREFIX PEER-ADDR"

mapfile -t pfs <<<"$(igb_pfs)"
pf=${pfs[0]}
[ ${#pfs[@]} -eq 1 ] && [ -n "$pf" ] || fail "expected one igb PF, found '${pfs[*]}': run under evr-lab --igb-tap TAP"
igb_carve "$pf" 1
vf=$(igb_vf "$pf" 0)
ip link set "$(ls "/sys/bus/pci/devices/$pf/net")" vf 0 mac 02:00:00:00:02:00
igb_bind "$vf" igbvf
dev=$(ls "/sys/bus/pci/devices/$vf/net")
ip addr add "$1" dev "$dev"
ip link set "$dev" up
igb_wait_carrier "$dev"
for i in $(seq 30); do
    if ping -c 1 -W 1 "$2" >/dev/null 2>&1; then
        echo "VF $vf pinged $2 after $i tries"
        exit 0
    fi
done
fail "VF $vf cannot ping $2"
