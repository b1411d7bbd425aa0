# The guest's end of lib.sh's TCP rounds (busybox sh, put into a router
# engine's initramfs by lib.sh's initrd_with and run in the background from
# its evr_run). It needs evr_addr, the address of the interface under test
# (as many of lib.sh's guests set it), and evr_peer, the test host, whose
# sink (tests/lab/tcp-peer.py sink 5001) takes what the guest sends.
#
# A round, one after the other, as the test host asks (tcp_round):
#   the test host connects to port 5002 and sends the round's name (a kick);
#   the guest samples the interrupts of the interface holding evr_addr,
#   listens on port 5003 and prints "tcp-agent: NAME ready ...";
#   the test host sends its file to port 5003; the guest prints what it got
#   ("NAME in bytes=B md5=M"), sends 2 MiB of its own to evr_peer:5001
#   ("NAME out bytes=B md5=M rc=RC") and prints the interrupts again
#   ("NAME done ..."). The name is the test host's, so a line of an earlier
#   round or boot is never taken for this one's.
# The interrupts are sampled at the kick, not at boot: a hot-added function
# has an interface (and interrupts) of its own.
say() { echo "tcp-agent: $*"; }
# the interface holding evr_addr (none while the guest has no function)
ifname() { ip -4 -o addr show | awk -v a="$evr_addr" '{ split($4, p, "/"); if (p[1] == a) { print $2; exit } }'; }
# the interrupts of interface $1's lines, named after it (eth0, eth0-rx-0, ...)
irqs() { awk -v n="$1" '$NF == n || index($NF, n "-") == 1 { s += $2 } END { print s + 0 }' /proc/interrupts; }
# how its device interrupts: msix, msi, or none of them (INTx)
irq_mode() { cat /sys/class/net/"$1"/device/msi_irqs/* 2>/dev/null | sort -u | tr '\n' ',' | sed 's/,$//'; }
# a socket listening on port 5003 (0x138B)
listening() { grep -q '^ *[0-9]*: [0-9A-F]*:138B [0-9A-F]*:0000 0A' /proc/net/tcp; }
md5() { md5sum <"$1" | cut -d' ' -f1; }

# busybox nc -l ends when its input does: a FIFO held open never does
mkfifo /tmp/tcp-agent.never
exec 3<>/tmp/tcp-agent.never
while :; do
    nc -l -p 5002 <&3 >/tmp/tcp-agent.kick 2>/dev/null || sleep 1
    name=$(head -c 64 /tmp/tcp-agent.kick | tr -dc 'a-z0-9-')
    [ -n "$name" ] || continue
    n=$(ifname)
    if [ -z "$n" ]; then
        say "$name no interface holds $evr_addr"
        continue
    fi
    nc -l -p 5003 <&3 >/tmp/tcp-agent.in 2>/dev/null &
    rx=$!
    t=0
    while ! listening && [ $t -lt 100 ]; do
        sleep 0.1
        t=$((t + 1))
    done
    say "$name ready if=$n mode=$(irq_mode "$n") irqs=$(irqs "$n")"
    # the test host's file: nc ends when the test host closes (150 s at most)
    t=0
    while kill -0 $rx 2>/dev/null && [ $t -lt 150 ]; do
        sleep 1
        t=$((t + 1))
    done
    kill $rx 2>/dev/null
    say "$name in bytes=$(wc -c </tmp/tcp-agent.in) md5=$(md5 /tmp/tcp-agent.in)"
    dd if=/dev/urandom of=/tmp/tcp-agent.out bs=65536 count=32 2>/dev/null
    timeout 120 nc "$evr_peer" 5001 </tmp/tcp-agent.out
    rc=$?
    say "$name out bytes=$(wc -c </tmp/tcp-agent.out) md5=$(md5 /tmp/tcp-agent.out) rc=$rc"
    # a transfer that did not end: what the device and TCP did
    [ $rc = 0 ] || say "$name diag $n: $(for k in tx_packets rx_packets tx_dropped rx_dropped; do
        echo "$k=$(cat /sys/class/net/"$n"/statistics/$k)"
    done | tr '\n' ' ')$(awk '/^Tcp:/ { if (++k == 2) print "RetransSegs=" $13 }' /proc/net/snmp)"
    say "$name done if=$n irqs=$(irqs "$n")"
done
