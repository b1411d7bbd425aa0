# shellcheck shell=bash
# Sourced by the igb lab checks: the one way to get igb VFs that carry traffic
# with the lab's Linux 6.1 and QEMU 10 (docs/lab.md, "Getting VFs that carry
# traffic"). Callers define fail MESSAGE.

# igb_pfs: the BDFs of the igb PFs (8086:10c9), one a line, in bus order.
igb_pfs() {
    local d
    for d in /sys/bus/pci/devices/*; do
        [ "$(cat "$d/vendor"):$(cat "$d/device")" = 0x8086:0x10c9 ] && echo "${d##*/}"
    done
    return 0
}

# igb_carve PF N: N VFs on PF, with no driver yet. The VFs are created
# without autoprobe: igb 6.1 probes VFs before it writes PFRSTD, and a VF
# probed then never gets its MAC or a link. The PF is up, as only its open
# path writes PFRSTD.
igb_carve() {
    local pf=$1 n=$2 dev=/sys/bus/pci/devices/$1
    ip link set "$(ls "$dev/net")" up || fail "cannot bring up $pf"
    echo 0 >"$dev/sriov_drivers_autoprobe"
    echo "$n" >"$dev/sriov_numvfs" || fail "sriov_numvfs $n refused on $pf"
}

# igb_vf PF I: the BDF of VF I of PF.
igb_vf() {
    basename "$(readlink "/sys/bus/pci/devices/$1/virtfn$2")"
}

# igb_bind VF DRIVER: bind VF to DRIVER (igbvf, vfio-pci); with autoprobe off
# only driver_override lets a VF bind.
igb_bind() {
    local vf=$1 driver=$2 dev=/sys/bus/pci/devices/$1
    [ -e "$dev/driver" ] && echo "$vf" >"$dev/driver/unbind"
    echo "$driver" >"$dev/driver_override"
    echo "$vf" >"/sys/bus/pci/drivers/$driver/bind" || fail "$driver did not bind $vf"
}

# igb_wait_carrier IFACE: wait up to 30 s for IFACE's carrier.
igb_wait_carrier() {
    local _
    for _ in $(seq 150); do
        [ "$(cat "/sys/class/net/$1/carrier" 2>/dev/null)" = 1 ] && return 0
        sleep 0.2
    done
    fail "$1 has no carrier after 30 s"
}
