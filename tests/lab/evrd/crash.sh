#!/usr/bin/env bash
# The lab test evrd-lab-crash: evrd's transactions against the real
# evr-vswitch and one running router engine, vm-a (the real guest under
# evr-vmm, nested KVM). vm-b is declared but never started (evrd runs with
# --no-vms and starts vm-a alone: two nested guests at once are not reliable
# in the lab yet, docs/lab.md): a slice given to vm-b reaches nobody.
# Test hosts: h0 on port0's cable, h1 on port1's, h2 bonded (active-backup)
# over port2's and port3's. vm-a bridges its three virtio-net ports and
# answers on 10.0.0.10. Proves:
#   1. kill -9 of evrd inside a move's transaction: once with the vswitch
#      stopped (SIGSTOP) until the move's slice-set waits in its socket, so
#      the vswitch carries the move and the disk does not; then at random
#      instants of a stream of moves. After each restart (adopting the
#      vswitch and vm-a) the partition is the old or the new one, whole, the
#      vswitch's slices (its own dump) are the partition's, vm-a runs on, and
#      h1 reaches vm-a exactly when port1 is vm-a's;
#   2. evr join port2,port3 vm-a --lag active-backup: h2 reaches vm-a; port2's
#      cable cut (both ends down: the lab's cables are QEMU hubs, which carry
#      no link state): evr show says port2 down, h2 reaches vm-a over port3;
#      the cable back: port2 up;
#   3. conflicting changes are refused (exit 3, naming slice and owner) and
#      change nothing: generation, partition, vswitch slices, traffic;
#   4. port1 moved to vm-b and back while h0 (port0) and h2 (the LAG) ping:
#      none of their pings is lost.
#
# usage: crash.sh BUILD_DIR KERNEL INITRD
set -uo pipefail
build=$1 kernel=$2 initrd=$3
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/demo.d/lib.sh
. "$here/../../../tools/demo.d/lib.sh"
evrctl() { python3 "$here/../../../tools/lib/evrctl.py" "$@"; }

# generation and partition of evr show -j, one line
partition() { "$evr" -j show | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["generation"], json.dumps(d["partition"]))'; }
# the owner and VM port of whole port $1 ("vm-a.1"), or "free"
owner() {
    "$evr" -j show | python3 -c '
import json, sys
for h in json.load(sys.stdin)["partition"]:
    if sys.argv[1] in h["slice"].split(","):
        print("%s.%d" % (h["vm"], h["vm_port"])); break
else:
    print("free")' "$1"
}
vm_pid() { "$evr" -j show vms | python3 -c 'import json,sys; print([v for v in json.load(sys.stdin)["vms"] if v["name"] == "vm-a"][0]["pid"])'; }
vswitch_pid() { "$evr" -j show vswitch | python3 -c 'import json,sys; print(json.load(sys.stdin)["vswitch"]["pid"])'; }
# the vswitch's slices as "UPLINK>VM_PORT" pairs, sorted, from its own dump
vswitch_slices() {
    evrctl $run/vswitch.sock dump | python3 -c '
import json, sys
print(" ".join(sorted("%s>%s" % (s["uplink"], s["vm"]) for s in json.load(sys.stdin)["dump"]["slices"])))'
}
# the same pairs as evr show -j's partition says they must be; fails on a
# slice that is not whole ports or a LAG
partition_slices() {
    "$evr" -j show | python3 -c '
import json, re, sys
pairs = []
for h in json.load(sys.stdin)["partition"]:
    to = "%s.%d" % (h["vm"], h["vm_port"])
    if h.get("lag"):
        pairs.append("%s>%s" % (h["lag"], to))
        continue
    for s in h["slice"].split(","):
        m = re.fullmatch(r"port(\d+)(?:-(\d+))?", s)
        if not m:
            sys.exit("not a whole port: %s" % s)
        pairs += ["port%d>%s" % (n, to) for n in range(int(m[1]), int(m[2] or m[1]) + 1)]
print(" ".join(sorted(pairs)))'
}
# Whether a request waits unread on the vswitch's control socket (the
# vswitch stopped): a socket of its own, of that path, with bytes to read.
# ss cannot say (the lab kernel has no unix_diag), so each such socket is
# taken out of the vswitch (pidfd_getfd) and asked (FIONREAD).
request_waits() {
    python3 - "$vs_pid" "$run/vswitch.sock" <<'EOF'
import ctypes, fcntl, os, struct, sys, termios
pid, path = int(sys.argv[1]), sys.argv[2]
lines = [l.split() for l in open("/proc/net/unix").read().splitlines()[1:]]
# bound as PATH.new and renamed (ctl/listen.c): /proc/net/unix keeps the first
inodes = {f"socket:[{l[6]}]" for l in lines if len(l) > 7 and l[7] in (path, path + ".new")}
libc = ctypes.CDLL(None, use_errno=True)
pidfd = os.pidfd_open(pid)
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        if os.readlink(f"/proc/{pid}/fd/{fd}") not in inodes:
            continue
    except OSError:
        continue
    mine = libc.syscall(438, pidfd, int(fd), 0)  # pidfd_getfd
    if mine < 0:
        continue
    try:
        n = struct.unpack("i", fcntl.ioctl(mine, termios.FIONREAD, b"\0" * 4))[0]
    except OSError:  # the listening socket
        n = 0
    os.close(mine)
    if n > 0:
        sys.exit(0)
sys.exit(1)
EOF
}
# Until evr show vswitch says the vswitch carries the partition (a restarted
# evrd adopts it and resyncs it first); exits with the log when it does not.
wait_synced() {
    for _ in $(seq 300); do
        [ "$("$evr" -j show vswitch 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["vswitch"]["synced"])' 2>/dev/null)" = True ] && return 0
        sleep 0.2
    done
    echo "FAIL: evrd did not bring the vswitch to its partition within 60 s; its log:"
    tail -n 40 $run/evrd.log
    exit 1
}
restart_evrd() {
    start_evrd --no-vms
    wait_synced
}
# After an evrd restart: the partition is whole and is what the vswitch and
# vm-a do. $1: the round's name; $2, $3: the old and new partitions, when
# known.
after_restart() {
    local now o want
    now=$(partition)
    echo "partition after the restart: $now"
    [ -z "${2:-}" ] || check "$1: the partition is the old or the new one" test "$now" = "$2" -o "$now" = "$3"
    check "$1: evrd adopted the running vswitch (pid $vs_pid)" test "$(vswitch_pid)" = "$vs_pid"
    check "$1: the vswitch's slices are the partition's ($(vswitch_slices))" \
        test "$(vswitch_slices)" = "$(partition_slices)"
    check "$1: evrd adopted vm-a, still running (pid $vm_a)" test "$(vm_pid)" = "$vm_a"
    o=$(owner port1)
    check "$1: h0 reaches vm-a (port0, untouched)" reaches 0 10.0.0.10
    if [ "$o" = "${o#vm-a.}" ]; then
        want="h1 reaches nobody (port1 is $o, a VM that does not run)"
        check "$1: $want" unreachable 1 10.0.0.10
    else
        check "$1: h1 reaches vm-a (port1 is $o)" reaches 1 10.0.0.10
    fi
}

# h2 bonds port2's and port3's cable peers (NICs 5 and 7), active-backup:
# the peer of port3 moves from h3 into h2
p2=$(nic 5) p3=$(nic 7)
setup_hosts 4
host 3 ip link set "$p3" netns h2
ip netns del h3
host 2 ip addr flush dev "$p2"
host 2 ip link add bond0 type bond mode active-backup miimon 100
for p in "$p2" "$p3"; do host 2 ip link set "$p" down; host 2 ip link set "$p" master bond0; done
host 2 ip link set bond0 type bond primary "$p2"
host 2 ip link set bond0 up
host 2 ip addr add 10.0.0.3/24 dev bond0
write_appliance "$(vm vm-a 10.0.0.10 1)" "$(vm vm-b 10.0.0.11 2)"

say "evrd (--no-vms) with the vswitch; port0, port1 to vm-a; evr vm start vm-a"
start_evrd --no-vms
"$evr" split port0 vm-a
"$evr" split port1 vm-a
"$evr" vm start vm-a
"$evr" show
say "waiting for vm-a to boot (nested KVM under emulation: a minute or two)"
wait_reach 420 0 10.0.0.10 1 10.0.0.10
echo "vm-a answers hosts 0 and 1 after $SECONDS s"
vm_a=$(vm_pid) vs_pid=$(vswitch_pid)

say "1. kill -9 of evrd while the vswitch holds a move's step (vswitch stopped)"
old=$(partition) slices=$(vswitch_slices)
kill -STOP "$vs_pid"
"$evr" move port1 vm-b >$run/move.out 2>&1 &
mover=$!
# the move's slice-set waits in the vswitch's socket (no other request goes
# to it: there is no LAG to watch yet); evrd waits 10 s for the answer
queued=no deadline=$((SECONDS + 7))
while [ $SECONDS -lt $deadline ]; do
    if request_waits; then queued=yes; break; fi
    sleep 0.1
done
kill -9 $evrd_pid
wait $evrd_pid 2>/dev/null
kill -CONT "$vs_pid"
wait $mover
rc=$?
check "the move's request reached the stopped vswitch before the kill" test $queued = yes
check "the killed move got no answer from evrd (evr exit $rc: $(head -c 200 $run/move.out))" \
    test $rc = 1 -a -z "$(grep 'vswitch step' $run/move.out)"
for _ in $(seq 50); do [ "$(vswitch_slices)" != "$slices" ] && break; sleep 0.1; done
echo "the vswitch now: $(vswitch_slices)"
check "the vswitch carried out the step (port1 on vm-b), the disk kept the old partition" \
    grep -q 'port1>vm-b' <<<"$(vswitch_slices)"
restart_evrd
after_restart "mid-step kill" "$old" "$old"

say "1b. kill -9 of evrd at random instants of a stream of moves of port1 (3 rounds)"
for round in 1 2 3; do
    before=$(partition)
    o=$(owner port1)
    if [ "${o#vm-a.}" != "$o" ]; then first=vm-b second=vm-a; else first=vm-a second=vm-b; fi
    # one connection, each move sent as soon as the last is answered: evrd
    # is inside a move nearly all the time
    rm -f $run/mover.ready
    python3 - "$here/../../../tools/lib" "$EVR_SOCKET" $first $second >$run/mover.out 2>&1 <<'EOF' &
import sys
sys.path.insert(0, sys.argv[1])
import evrctl
answered = 0
try:
    with evrctl.Client(sys.argv[2]) as c:
        open(sys.argv[2].rsplit("/", 1)[0] + "/mover.ready", "w").close()
        while True:
            c.call(op="move", slices="port1", vm=sys.argv[3 + answered % 2])
            answered += 1
except (OSError, evrctl.Error) as e:
    print(answered, e)
EOF
    mover=$!
    # the random instant counts from the mover's first move (Python starts
    # slowly in the lab)
    for _ in $(seq 300); do [ -e $run/mover.ready ] || ! kill -0 $mover 2>/dev/null && break; sleep 0.1; done
    sleep "$((RANDOM % 2)).$((RANDOM % 10))"
    kill -9 $evrd_pid
    wait $evrd_pid 2>/dev/null
    wait $mover
    answered=$(cut -d' ' -f1 $run/mover.out)
    restart_evrd
    now=$(partition)
    moves=$((${now%% *} - ${before%% *}))
    echo "round $round: $moves moves saved, $answered answered, the next: $(cut -d' ' -f2- $run/mover.out)"
    check "round $round: every answered move was kept, and at most the unanswered one more" \
        test "$moves" = "$answered" -o "$moves" = "$((answered + 1))"
    # every move toggles port1 and adds one generation: the generation
    # says which VM owns it
    if [ $((moves % 2)) = 0 ]; then want=$o; else want=$first; fi
    check "round $round: port1 is whole and where its generation says (${want%.*})" \
        test "$(owner port1 | cut -d. -f1)" = "${want%.*}"
    after_restart "round $round"
done

say "2. evr join port2,port3 vm-a --lag active-backup"
"$evr" move port1 vm-a >/dev/null
"$evr" join port2,port3 vm-a --lag active-backup
"$evr" show
links() { "$evr" -j show | python3 -c 'import json,sys; print(", ".join("%s %s" % (m["port"], m["link"]) for l in json.load(sys.stdin)["lags"] for m in l["members"]))'; }
wait_links() { for _ in $(seq 75); do [ "$(links)" = "$1" ] && return 0; sleep 0.2; done; return 1; }
check "evr show: both members up ($(links))" wait_links "port2 up, port3 up"
check "h2 (bonded over both cables) reaches vm-a" reaches 2 10.0.0.10
check "the bond sends on port2's cable (its primary)" test "$(host 2 cat /sys/class/net/bond0/bonding/active_slave)" = "$p2"
check "the LAG is the vswitch's (its slices: $(vswitch_slices))" \
    test "$(vswitch_slices)" = "$(partition_slices)"
w2=$(nic 4)
say "port2's cable cut: its wire $w2 and its far end $p2 down"
ip link set "$w2" down
host 2 ip link set "$p2" down
check "evr show: port2 down, port3 up ($(links))" wait_links "port2 down, port3 up"
"$evr" show | grep lag
check "h2 reaches vm-a over port3 alone" reaches 2 10.0.0.10
check "the bond sends on port3's cable now" test "$(host 2 cat /sys/class/net/bond0/bonding/active_slave)" = "$p3"
ip link set "$w2" up
host 2 ip link set "$p2" up
check "the cable back: evr show says port2 up ($(links))" wait_links "port2 up, port3 up"
check "h2 reaches vm-a" reaches 2 10.0.0.10

say "3. conflicting changes are refused and change nothing"
before=$(partition) slices=$(vswitch_slices)
refused() { # refused WHAT EXPECTED-TEXT evr ARGS...: exit 3, message names slice and owner
    local what=$1 says=$2 out rc
    shift 2
    out=$("$evr" "$@" 2>&1)
    rc=$?
    echo "evr $*: exit $rc: $out"
    check "$what: exit 3, '$says'" test $rc = 3 -a -n "$(grep -F "$says" <<<"$out")"
}
refused "split of vm-a's port0 to vm-b" "port0 is vm-a's" split port0 vm-b
refused "a VLAN of vm-a's port1" "port1 is vm-a's" split port1.100 vm-b
refused "a move of one LAG member" "port2 is in vm-a's LAG lag0" move port2 vm-b
check "the partition and its generation are unchanged" test "$(partition)" = "$before"
check "the vswitch's slices are unchanged" test "$(vswitch_slices)" = "$slices"
check "h0 still reaches vm-a" reaches 0 10.0.0.10
check "h1 still reaches vm-a" reaches 1 10.0.0.10

say "4. port1 to vm-b and back while h0 (port0) and h2 (the LAG) ping 5 a second"
host 0 ping -c 100 -i 0.2 -W 5 10.0.0.10 >$run/ping0 2>&1 &
p0=$!
host 2 ping -c 100 -i 0.2 -W 5 10.0.0.10 >$run/ping2 2>&1 &
pl=$!
sleep 3
"$evr" move port1 vm-b
check "port1 is vm-b's: h1 no longer reaches vm-a" unreachable 1 10.0.0.10
"$evr" move port1 vm-a
check "port1 is vm-a's again: h1 reaches vm-a" reaches 1 10.0.0.10
wait $p0 $pl
for h in 0 2; do
    sent=$(ping_counts $run/ping$h)
    check "h$h lost no ping while port1 moved twice ($sent sent, received)" \
        test -n "$sent" -a "${sent% *}" = "${sent#* }"
done

say "what evrd saw"
print_events | tail -n 40
finish vm-a
