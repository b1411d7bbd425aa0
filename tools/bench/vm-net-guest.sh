# The guest's half of tools/bench/vm-net.py (busybox sh, appended to the
# mkguest initramfs with pktgen). Arguments, from evr_run on the command line:
#   send|recv  ADDR  PEER  PEER_MAC  VLAN  REPS  MIB  PPS_SECONDS  TCP_BOUND
# ADDR and PEER are /24 addresses on eth0 (on eth0.VLAN when VLAN is not 0).
# recv: counts what each TCP connection on port 5001 brings.
# send: once PEER answers a ping, REPS times: a TCP transfer of MIB MiB
# (busybox nc, timed on the guest's clock, stopped after TCP_BOUND s; a
# failed one prints the kernel's last messages), then PPS_SECONDS of 60-byte
# frames (64 with the FCS) from the kernel's pktgen to PEER_MAC. Every
# phase is framed by "bench: ... begin" and "bench: ... end" lines, which
# the host reads to sample its counters.
role=$1 addr=$2 peer=$3 peer_mac=$4 vlan=$5 reps=$6 mib=$7 pps_s=$8 bound=$9
say() { echo "bench: $*"; }
uptime_cs() { awk '{ printf "%d\n", $1 * 100 }' /proc/uptime; }
# TCP segments retransmitted so far (RetransSegs in /proc/net/snmp)
retrans() { awk '/^Tcp:/ { if (++k == 2) print $13 }' /proc/net/snmp; }
ip link set eth0 up
dev=eth0
if [ "$vlan" != 0 ]; then
    dev=eth0.$vlan
    ip link add link eth0 name "$dev" type vlan id "$vlan" || vconfig add eth0 "$vlan"
    ip link set "$dev" up
fi
ip addr add "$addr/24" dev "$dev"

if [ "$role" = recv ]; then
    # busybox nc ends when its input ends: a FIFO held open gives it an
    # input that never does.
    mkfifo /tmp/never
    exec 3<>/tmp/never
    say "ready recv mac=$(cat /sys/class/net/eth0/address)"
    while :; do
        n=$(nc -l -p 5001 <&3 | wc -c)
        say "received $n bytes"
    done
fi

t=0
until ping -c 1 -W 2 "$peer" >/dev/null 2>&1; do
    t=$((t + 1))
    [ $t -lt 150 ] || { say "peer $peer unreachable"; exit 1; }
done
say "ready send mac=$(cat /sys/class/net/eth0/address)"
pg=/proc/net/pktgen
echo "add_device eth0" >$pg/kpktgend_0 || { say "no pktgen"; exit 1; }
for kv in "count 0" "pkt_size 60" "delay 0" "clone_skb 0" "dst $peer" "dst_mac $peer_mac" \
    "udp_dst_min 9" "udp_dst_max 9"; do
    echo "$kv" >$pg/eth0
done
[ "$vlan" != 0 ] && echo "vlan_id $vlan" >$pg/eth0
i=1
while [ $i -le "$reps" ]; do
    sleep 2
    say "tcp $i begin"
    r0=$(retrans)
    t0=$(uptime_cs)
    dd if=/dev/zero bs=65536 count=$((mib * 16)) 2>/dev/null | timeout "$bound" nc "$peer" 5001
    rc=$?
    t1=$(uptime_cs)
    say "tcp $i end rc=$rc mib=$mib cs=$((t1 - t0)) retrans=$(($(retrans) - r0))"
    [ $rc = 0 ] || dmesg | tail -20 | sed 's/^/bench: dmesg: /'
    sleep 2
    say "pps $i begin"
    echo start >$pg/pgctrl &
    sleep "$pps_s"
    echo stop >$pg/pgctrl
    wait
    # pktgen's own account: frames sent and the microseconds it ran
    say "pps $i end sent=$(sed -n 's/.*pkts-sofar: \([0-9]*\).*/\1/p' $pg/eth0)" \
        "usec=$(sed -n 's/^Result: OK: \([0-9]*\)(.*/\1/p' $pg/eth0)"
    i=$((i + 1))
done
# The host samples the VM's exit counters when it reads an "end" line: stay
# up a moment so that the last phase's are still there (they go with the VM).
sleep 5
say "done"
