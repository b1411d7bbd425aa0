# Shell helpers of the lab's evr-vmm checks (guest-checks.sh,
# reboot-checks.sh, hotplug-checks.sh, passthrough-checks.sh), sourced. The
# caller sets W (its scratch directory: W/ctl is the control socket, W/console
# the console log, W/err and W/out scratch files), vm_pid (the evr-vmm in the
# background) and failures=0. A caller that boots its VMs one after another,
# each with a console log of its own, W/console-NAME, names the current one
# in vm_console (W/console when unset).
# A VM that does not end when asked is killed after a bounded wait
# (end_vm), so one failure costs one check, not the lab's timeout.

pass() { echo "ok: $*"; }
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}
# expect_refusal NAME STATUS TEXT -- CMD...: CMD exits STATUS and says TEXT on stderr
expect_refusal() {
    local name=$1 status=$2 text=$3 rc
    shift 4
    "$@" >"$W/out" 2>"$W/err"
    rc=$?
    if [ "$rc" -eq "$status" ] && grep -qF -- "$text" "$W/err"; then
        pass "$name: status $rc, \"$(head -1 "$W/err")\""
    else
        fail "$name: status $rc (want $status), stderr: $(head -3 "$W/err")"
    fi
}
ctl() { # ctl OP: the reply line of evr-vmm's control socket (tools/lib/evrctl.py), within 30 s
    timeout 30 python3 "$(dirname "$0")/../../../tools/lib/evrctl.py" "$W/ctl" "$1"
}
# end_vm SECONDS: waits at most SECONDS for evr-vmm to end, then kills it (a
# failure); its status in vm_rc.
end_vm() {
    local i
    for ((i = 0; i < $1 * 10; i++)); do
        kill -0 "$vm_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$vm_pid" 2>/dev/null; then
        fail "evr-vmm did not end within $1 s of being asked; killed"
        kill -KILL "$vm_pid"
    fi
    wait "$vm_pid"
    vm_rc=$?
    vm_pid=""
}
stop_vm() { # stop_vm: the control socket's stop, then end_vm
    ctl stop >/dev/null 2>&1
    end_vm 60
}
# wait_for TEXT SECONDS [N]: until the console shows TEXT (on N lines, default
# 1) or evr-vmm ends
wait_for() {
    local i
    for ((i = 0; i < $2 * 2; i++)); do
        [ "$(grep -acF -- "$1" "${vm_console:-$W/console}" 2>/dev/null)" -ge "${3:-1}" ] && return 0
        kill -0 "$vm_pid" 2>/dev/null || return 1
        sleep 0.5
    done
    return 1
}
# finish [LINES]: the verdict; on a failure, the last LINES (40) of each
# console log too (W/console, W/console-NAME).
finish() {
    local c name
    if [ "$failures" -ne 0 ]; then
        for c in "$W/console" "$W"/console-*; do
            [ -f "$c" ] || continue
            name=${c##*/console}
            echo "== console of the guest${name:+ (${name#-})}"
            tail -"${1:-40}" "$c"
        done
        echo "$failures check(s) failed"
        exit 1
    fi
    echo "all checks passed"
}

# TCP transfers between a guest and the test host, 2 MiB each way, checked
# at both ends by byte count and MD5. The test host's end is
# tests/lab/tcp-peer.py in its network namespace (tcp_sink_start, tcp_send);
# the guest's is busybox nc, in functions guest_tcp_fns writes into the
# guest's script; tcp_check_out and tcp_check_in compare the two ends. A
# transfer that fails says what each end saw: bytes, MD5, the guest's
# retransmitted segments, both ends' sockets. A passed-through function that
# carries TCP needs its guest's RAM in 2 MiB pages (evr-vmm --hugepages):
# docs/lab.md, "TCP on the lab's e1000e pair".
TCP_BYTES=2097152
TCP_COUNTS='retrans=-*[0-9]* timeouts=-*[0-9]* dsacks=-*[0-9]*' # a grep pattern
TCP_PEER=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tcp-peer.py
# guest_tcp_fns: prints the guest's half, busybox sh, for the guest's script:
#   tcp_out TAG HOST PORT  TCP_BYTES random bytes to the sink at HOST:PORT;
#                          prints TAG-md5=HEX, then TAG-rc=STATUS COUNTS
#   tcp_in_start TAG PORT  a listener on PORT, in the background
#   tcp_in_end TAG         waits (150 s at most) for the listener's
#                          connection to end; prints TAG=BYTES md5=HEX COUNTS
# COUNTS, what the guest's TCP (all its sockets) did meanwhile: "retrans=N
# timeouts=N dsacks=N", segments retransmitted, retransmission timeouts, and
# DSACKs received (the peer telling it a retransmission was not needed). A
# transfer that does not end prints the guest's sockets as TAG-diag lines.
guest_tcp_fns() {
    cat <<GUEST
TCP_BYTES=$TCP_BYTES
GUEST
    cat <<'GUEST'
tcp_counts() {
    echo "$(awk '/^Tcp:/ { if (++k == 2) print $13 }' /proc/net/snmp)" \
        "$(awk '/^TcpExt:/ { if (!n++) { for (i = 2; i <= NF; i++) c[$i] = i } else print $c["TCPTimeouts"], $c["TCPDSACKRecv"] }' /proc/net/netstat)"
}
tcp_since() { # tcp_since "COUNTS": COUNTS since tcp_counts said COUNTS
    echo "$1 $(tcp_counts)" | awk '{ print "retrans=" $4 - $1, "timeouts=" $5 - $2, "dsacks=" $6 - $3 }'
}
tcp_diag() {
    awk -v t="$1" 'NR > 1 { print t "-diag: socket", $2, $3, "state", $4, "queues", $5, "retransmits", $7 }' /proc/net/tcp
}
tcp_out() {
    local c rc
    head -c "$TCP_BYTES" /dev/urandom >"/tmp/$1"
    echo "$1-md5=$(md5sum <"/tmp/$1" | cut -d' ' -f1)"
    c=$(tcp_counts)
    timeout 120 nc "$2" "$3" <"/tmp/$1"
    rc=$?
    [ $rc = 0 ] || tcp_diag "$1"
    echo "$1-rc=$rc $(tcp_since "$c")"
}
tcp_in_start() {
    # busybox nc ends when its input does: a FIFO held open never does
    [ -p /tmp/tcp-never ] || mkfifo /tmp/tcp-never
    exec 3<>/tmp/tcp-never
    tcp_counts >"/tmp/$1.counts"
    nc -l -p "$2" <&3 >"/tmp/$1" &
    echo $! >"/tmp/$1.pid"
}
tcp_in_end() {
    local p t=0
    p=$(cat "/tmp/$1.pid")
    while kill -0 "$p" 2>/dev/null && [ $t -lt 150 ]; do
        sleep 1
        t=$((t + 1))
    done
    kill -0 "$p" 2>/dev/null && tcp_diag "$1" && kill "$p"
    echo "$1=$(wc -c <"/tmp/$1") md5=$(md5sum <"/tmp/$1" | cut -d' ' -f1) $(tcp_since "$(cat "/tmp/$1.counts")")"
}
GUEST
}
# tcp_sink_start NETNS: the test host's sink (tcp-peer.py sink 5001) in
# NETNS, its report in W/tcp-sink, its pid in tcp_sink_pid (the caller's
# cleanup kills it); the TCP_BYTES the test host sends in W/tcp-to-guest,
# their MD5 in tcp_to_guest_md5.
tcp_sink_start() {
    tcp_ns=$1
    ip netns exec "$tcp_ns" python3 "$TCP_PEER" sink 5001 >"$W/tcp-sink" 2>&1 &
    tcp_sink_pid=$!
    head -c "$TCP_BYTES" /dev/urandom >"$W/tcp-to-guest"
    tcp_to_guest_md5=$(md5sum <"$W/tcp-to-guest" | cut -d' ' -f1)
}
# tcp_send ADDR PORT TAG: the test host sends W/tcp-to-guest to the guest's
# tcp_in_start TAG PORT at ADDR; what tcp-peer.py said in W/tcp-send-TAG
tcp_send() {
    timeout 170 ip netns exec "$tcp_ns" python3 "$TCP_PEER" send "$1" "$2" "$W/tcp-to-guest" \
        >"$W/tcp-send-$3" 2>&1 || echo "tcp-peer.py send ended with status $?" >>"$W/tcp-send-$3"
}
tcp_ends() { # tcp_ends TAG: what else each end has to say of a failed transfer
    echo "  the test host's sockets: $(ip netns exec "$tcp_ns" ss -tin 2>&1 | tr -s ' \t\n' ' ')"
    grep -a "$1-diag" "${vm_console:-$W/console}" | sed 's/^/  guest: /'
}
# tcp_check_out TAG WHAT: the guest's tcp_out TAG (on its console) against
# the test host's sink; WHAT names the function and VLAN
tcp_check_out() {
    local md5 end rc i
    md5=$(grep -ao "$1-md5=[0-9a-f]*" "${vm_console:-$W/console}" | tail -1 | sed 's/.*=//')
    end=$(grep -ao "$1-rc=[0-9]* $TCP_COUNTS" "${vm_console:-$W/console}" | tail -1)
    rc=${end#*-rc=}
    end=${end:+its nc ended with status ${rc%% *}; the TCP of the guest meanwhile: ${rc#* }}
    # the sink reports once it has read the end, which can be just after
    # the guest's nc has ended
    for ((i = 0; i < 20; i++)); do
        [ -n "$md5" ] && grep -q "^sink got $TCP_BYTES md5 $md5\$" "$W/tcp-sink" && break
        sleep 0.5
    done
    if [ -n "$md5" ] && [ "${rc%% *}" = 0 ] && grep -q "^sink got $TCP_BYTES md5 $md5\$" "$W/tcp-sink"; then
        pass "$2, guest to test host: $TCP_BYTES bytes over TCP, MD5 $md5 at both ends ($end)"
    else
        fail "$2, guest to test host over TCP: the guest sent $TCP_BYTES bytes, MD5 ${md5:-not reported}," \
            "${end:-its nc never ended}; the test host's sink, every connection so far: $(tr '\n' ';' <"$W/tcp-sink")"
        tcp_ends "$1"
    fi
}
# tcp_check_in TAG WHAT: what the guest's tcp_in_end TAG reported against
# what tcp_send TAG sent
tcp_check_in() {
    local got
    got=$(grep -ao "$1=[0-9]* md5=[0-9a-f]* $TCP_COUNTS" "${vm_console:-$W/console}" | tail -1)
    if [ "${got%% retrans=*}" = "$1=$TCP_BYTES md5=$tcp_to_guest_md5" ]; then
        pass "$2, test host to guest: $TCP_BYTES bytes over TCP, MD5 $tcp_to_guest_md5 at both ends (the TCP of the guest meanwhile: retrans=${got##* retrans=})"
    else
        fail "$2, test host to guest over TCP: the test host sent $TCP_BYTES bytes, MD5 $tcp_to_guest_md5" \
            "($(tr '\n' ' ' <"$W/tcp-send-$1")); the guest got ${got:-nothing it reported}"
        tcp_ends "$1"
    fi
}
