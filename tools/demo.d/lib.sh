# Shared by the scripts that run evrd inside the lab appliance (sourced):
# tools/demo.d/in-lab.sh (the demo, test evrd-lab-demo),
# tests/lab/evrd/vm-restart.sh (test evrd-lab-vm-restart) and
# tests/lab/evrd/vf-checks.sh (tests evrd-lab-vf, evrd-lab-vf-two).
#
# Test host N sits on the cable peer (lab NIC 2N+1) of front-panel port N
# (lab NIC 2N), in its own network namespace hN, as 10.0.0.(N+1). A router
# engine bridges all its virtio-net ports and answers on its evr_addr.
# The caller sets build, kernel, initrd before sourcing.
run=/run/evr
export EVR_SOCKET=$run/evrd.sock
evr="$build/tools/evr"
failures=0

say() { printf '\n== %s\n' "$*"; }
check() { # check "what" command...: prints ok/FAIL, counts failures
    local what=$1
    shift
    if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi
}
# The netdev of lab NIC i: the lab gives NIC i the MAC 52:54:00:12:34:(16+i).
nic() {
    local mac d
    mac=$(printf '52:54:00:12:34:%02x' $((16 + $1)))
    for d in /sys/class/net/*; do
        [ -f "$d/address" ] && [ "$(cat "$d/address")" = "$mac" ] && { basename "$d"; return; }
    done
    echo "no lab NIC $1 (MAC $mac): run the lab with more --nics" >&2
    exit 1
}
host() { ip netns exec "h$1" "${@:2}"; } # host N COMMAND...
# Whether host N gets an answer from address A: one quick try, then 4 more
# a second apart, each answer awaited up to 5 s (a nested guest on a loaded
# lab can stall for seconds; an address that is not there never answers).
reaches() { host "$1" ping -c 1 -W 2 "$2" >/dev/null 2>&1 ||
    host "$1" ping -c 4 -W 5 "$2" >/dev/null 2>&1; }
unreachable() { ! host "$1" ping -c 3 -W 2 "$2" >/dev/null 2>&1; }
# ping_counts FILE: "SENT RECEIVED" of the ping whose output FILE holds.
ping_counts() { sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1 \2/p' "$1"; }

# Front-panel ports 0..N-1 and their test hosts; sets ports, the appliance's
# port objects.
ports=()
setup_hosts() {
    local n wire peer
    mkdir -p "$run"
    for ((n = 0; n < $1; n++)); do
        wire=$(nic $((2 * n))) peer=$(nic $((2 * n + 1)))
        ip link set "$wire" up
        ip netns add "h$n"
        ip link set "$peer" netns "h$n"
        host $n ip link set lo up
        host $n ip link set "$peer" up
        host $n ip addr add "10.0.0.$((n + 1))/24" dev "$peer"
        ports+=("{\"name\": \"port$n\", \"netdev\": \"$wire\"}")
    done
}

# The guest bridges its ports (the kernel command line knows only double
# quotes, so the command uses none).
bridge='ip link add br0 type bridge; for i in /sys/class/net/eth*; do ip link set ${i##*/} master br0; done; ip link set br0 up; ip addr add $evr_addr/24 dev br0; echo bridged: $(ls /sys/class/net/br0/brif)'
# A VM of the appliance: vm NAME ADDRESS CORE [THEN]: its guest bridges, then
# sleeps until evrd stops it, or with THEN "shell" runs a shell on its
# console.
vm() {
    local run_cmd=$bridge then=""
    if [ "${4:-}" = shell ]; then then=" evr_then=shell"; else run_cmd="$bridge; sleep 100000"; fi
    printf '{"name": "%s", "ports": 3, "cores": [%s], "vmm": {"kernel": "%s", "initrd": "%s", "memory": 256, "vcpus": 1, "cmdline": "console=ttyS0 panic=-1 evr_addr=%s%s evr_run=\\"%s\\""}}' \
        "$1" "$3" "$kernel" "$initrd" "$2" "$then" "$run_cmd"
}
# write_appliance VM_JSON...: the appliance of the hosts' ports and these VMs.
write_appliance() {
    local IFS=, vms port_list
    vms="$*" port_list="${ports[*]}" # joined by commas (a here-document would join $* by spaces)
    cat >$run/appliance.json <<EOT
{"state_dir": "$run/state", "share_cores": true,
 "vswitch": {"cores": [0, 1], "memory": 256, "idle_sleep_us": 100},
 "ports": [$port_list],
 "vms": [$vms]}
EOT
}

# start_evrd [EVRD OPTION...]: starts evrd on the appliance (evrd_pid) with
# these options too (--no-vms); exits when it does not come up.
start_evrd() {
    "$build/router/evrd" --appliance $run/appliance.json --run-dir $run "$@" \
        --vswitch "$build/vswitch/evr-vswitch" --vmm "$build/vmm/evr-vmm" \
        --vswitch-eal "--no-huge --no-pci --log-level *:warning" 2>>$run/evrd.log &
    evrd_pid=$!
    for _ in $(seq 600); do [ -S $EVR_SOCKET ] || ! kill -0 $evrd_pid 2>/dev/null && break; sleep 0.1; done
    if ! kill -0 $evrd_pid 2>/dev/null || [ ! -S $EVR_SOCKET ]; then
        echo "FAIL: evrd did not start; its log:"
        cat $run/evrd.log
        exit 1
    fi
}

# wait_reach SECONDS HOST ADDRESS [HOST ADDRESS...]: until each host
# reaches its address (router engines booting: nested KVM under emulation
# takes a minute or two); exits with the logs when they do not.
wait_reach() {
    local deadline=$((SECONDS + $1)) i ok pairs
    shift
    pairs=("$@")
    while :; do
        ok=1
        for ((i = 0; i < ${#pairs[@]}; i += 2)); do
            reaches "${pairs[i]}" "${pairs[i + 1]}" || { ok=0; break; }
        done
        [ $ok = 1 ] && return 0
        if [ $SECONDS -ge $deadline ]; then
            echo "FAIL: the router engines did not answer within the time given"
            "$evr" show vms
            tail -n 30 $run/*.log
            exit 1
        fi
        sleep 2
    done
}

# The events evrd kept, one a line.
print_events() {
    python3 "$(dirname "${BASH_SOURCE[0]}")/../lib/evrctl.py" $EVR_SOCKET events since=0 |
        python3 -c 'import json,sys; [print(e["kind"], e["subject"] + ":", e["text"]) for e in json.load(sys.stdin)["events"]]'
}

# console_keep VM: VM's guest console, kept in RUN_DIR/VM.console.log.
# evr-vmm drops console output while no client is connected, so a reader
# connects (again after every restart). It is the console's one client:
# not for a VM whose console the script itself types into.
console_pids=""
console_keep() {
    python3 -c '
import socket, sys, time
out = open(sys.argv[2], "ab", 0)
while True:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sys.argv[1])
    except OSError:
        s.close()
        time.sleep(0.1)
        continue
    while True:
        try:
            d = s.recv(4096)
        except OSError:  # evr-vmm killed: connect to the next one
            break
        if not d:
            break
        out.write(d)
    s.close()
' $run/$1.console $run/$1.console.log &
    console_pids="$console_pids $!"
}

# keep_logs: evrd's, the vswitch's and the VMs' logs, the guests' consoles,
# evrd's state and the lab kernel's log, copied to $EVR_LAB_OUT (evr-lab
# run --out DIR) when there is one: the lab's /run is gone with the lab.
keep_logs() {
    [ -n "${EVR_LAB_OUT:-}" ] || return 0
    cp -a $run/*.log $run/*.json $run/state "$EVR_LAB_OUT/" 2>/dev/null
    dmesg >"$EVR_LAB_OUT/lab-dmesg.log" 2>&1
    return 0
}
# At exit: the logs kept, the console readers and the TCP sink stopped.
on_exit() {
    keep_logs
    [ -z "$console_pids" ] || kill $console_pids 2>/dev/null
    [ -z "$tcp_sink_pid" ] || kill "$tcp_sink_pid" 2>/dev/null
    return 0
}
# pass_fail STATUS WHAT DETAIL: check's verdict for a status already known
# (0 passes); a failure also says DETAIL, what each end saw.
pass_fail() {
    if [ "$1" = 0 ]; then echo "ok: $2"; else
        echo "FAIL: $2: $3"
        failures=$((failures + 1))
    fi
}

# initrd_with BASE OUT FILE...: OUT is the initramfs BASE with FILEs added
# at its root (a second cpio archive, which the kernel unpacks over the
# first).
initrd_with() {
    local base=$1 out=$2 d rc
    shift 2
    d=$(mktemp -d)
    cp "$@" "$d/" &&
        (cd "$d" && printf '%s\n' * | cpio -o -H newc 2>/dev/null | gzip) >"$out.extra" &&
        cat "$base" "$out.extra" >"$out"
    rc=$?
    rm -rf "$d" "$out.extra"
    [ $rc = 0 ] || { echo "FAIL: could not make $out from $base and $*"; exit 1; }
}

# TCP rounds between a test host and a guest, each 2 MiB both ways with
# byte counts and MD5 sums checked at both ends: the test host's ends are
# tests/lab/tcp-peer.py, the guest's tcp-agent.sh (put into its initramfs
# with initrd_with, started in the background from its evr_run). A VM
# that runs them has its RAM in huge pages (its "vmm" object's "hugepages":
# true, the lab's reserved with reserve_hugepages): QEMU's igb and e1000e
# drop a frame whose buffer spans two 4 KiB pages the lab's IOMMU maps
# apart (docs/lab.md, "TCP on the lab's e1000e pair").
tcp_peer="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../tests/lab" && pwd)/tcp-peer.py"
tcp_agent="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/tcp-agent.sh"
tcp_sink_pid=""
tcp_rounds=0

# reserve_hugepages N: the lab keeps N 2 MiB pages for the VMs' RAM; exits
# when it cannot.
reserve_hugepages() {
    echo "$1" >/proc/sys/vm/nr_hugepages
    local got
    got=$(cat /proc/sys/vm/nr_hugepages)
    [ "$got" -ge "$1" ] || {
        echo "FAIL: the lab reserved $got of the $1 huge pages asked for (evr-lab run --mem)"
        exit 1
    }
}

# tcp_sink_start NETNS: the test host's sink on port 5001 in NETNS, every
# connection's byte count and MD5 in RUN_DIR/tcp-sink.log.
tcp_sink_start() {
    ip netns exec "$1" python3 "$tcp_peer" sink 5001 >>$run/tcp-sink.log 2>&1 &
    tcp_sink_pid=$!
}

# tcp_line FILE TEXT SECONDS: the last line of FILE (a guest's console)
# with "tcp-agent: TEXT", once there is one (SECONDS at most).
tcp_line() {
    local deadline=$((SECONDS + $3))
    until grep -aq "tcp-agent: $2" "$1" 2>/dev/null || [ $SECONDS -ge $deadline ]; do sleep 1; done
    grep -a "tcp-agent: $2" "$1" 2>/dev/null | tail -1 | tr -d '\r'
}

# tcp_round VM NETNS ADDRESS WHAT: a round with VM's guest (its console
# kept by console_keep) at ADDRESS from the test host in NETNS, whose sink
# runs (tcp_sink_start): the test host's 2 MiB to the guest, the guest's 2
# MiB to the sink, and the guest's interrupts of that interface on MSI-X,
# their count rising across the transfers. WHAT names VM and path in the
# verdicts ("vm-a on VLAN 100"). Returns 1 when a check failed.
tcp_round() {
    local vm=$1 ns=$2 addr=$3 what=$4 con=$run/$1.console.log name to deadline
    local sent_md5 sink_lines ready in out done_line out_md5 before after st f0=$failures
    tcp_rounds=$((tcp_rounds + 1))
    name="round$tcp_rounds-$vm" to=$run/round$tcp_rounds-$vm
    echo "$name" >"$to.kick"
    head -c 2097152 /dev/urandom >"$to.to-guest"
    sent_md5=$(md5sum <"$to.to-guest" | cut -d' ' -f1)
    sink_lines=$(wc -l <$run/tcp-sink.log)
    # the kick, again while the guest's agent is not listening yet
    deadline=$((SECONDS + 60))
    until ip netns exec "$ns" python3 "$tcp_peer" send "$addr" 5002 "$to.kick" >/dev/null 2>&1; do
        if [ $SECONDS -ge $deadline ]; then
            pass_fail 1 "$what: a TCP round" "the guest's agent took no connection on $addr:5002 within 60 s"
            return 1
        fi
        sleep 2
    done
    ready=$(tcp_line "$con" "$name ready" 60)
    if [ -z "$ready" ]; then
        pass_fail 1 "$what: a TCP round" "the guest's agent did not get ready: $(tcp_line "$con" "$name" 0)"
        return 1
    fi
    timeout 200 ip netns exec "$ns" python3 "$tcp_peer" send "$addr" 5003 "$to.to-guest" >"$to.send.log" 2>&1
    done_line=$(tcp_line "$con" "$name done" 330)
    in=$(tcp_line "$con" "$name in" 0)
    out=$(tcp_line "$con" "$name out" 0)
    echo "  guest: $ready"
    echo "  guest: $in"
    echo "  guest: $out"
    echo "  guest: ${done_line:-(no done line)}"
    [[ "$in" == *" in bytes=2097152 md5=$sent_md5" ]]
    pass_fail $? "$what: the test host sent the guest 2 MiB over TCP, every byte as sent (MD5 $sent_md5)" \
        "the test host sent 2097152 bytes, MD5 $sent_md5 ($(tr '\n' ' ' <"$to.send.log")); the guest got: ${in:-nothing (no 'in' line)}"
    out_md5=$(echo "$out" | sed -n 's/.* out bytes=2097152 md5=\([0-9a-f]*\) rc=0$/\1/p')
    st=1
    if [ -n "$out_md5" ]; then
        for _ in $(seq 20); do
            tail -n +$((sink_lines + 1)) $run/tcp-sink.log | grep -q "^sink got 2097152 md5 $out_md5" && st=0 && break
            sleep 0.5
        done
    fi
    pass_fail $st "$what: the guest sent the test host 2 MiB over TCP, every byte as sent (MD5 ${out_md5:-?})" \
        "the guest: ${out:-no 'out' line} $(tcp_line "$con" "$name diag" 0); the test host's sink: $(tail -n +$((sink_lines + 1)) $run/tcp-sink.log | tr '\n' ' ')"
    before=$(echo "$ready" | sed -n 's/.* irqs=\([0-9]*\)$/\1/p')
    after=$(echo "$done_line" | sed -n 's/.* irqs=\([0-9]*\)$/\1/p')
    [[ "$ready" == *" mode=msix "* ]] && [ -n "$before" ] && [ -n "$after" ] && [ "$after" -gt "$before" ]
    pass_fail $? "$what: the guest's interface takes its interrupts on MSI-X, their count rising across the transfers (${before:-?} -> ${after:-?})" \
        "the guest's agent before: $ready; after: ${done_line:-nothing}"
    [ $failures = "$f0" ]
}

trap on_exit EXIT

# Stops evrd; with failed checks prints its log and the VMs' and exits 1.
finish() {
    kill -TERM $evrd_pid
    wait $evrd_pid
    echo "== evrd stopped (status $?); the VMs and the vswitch end with the lab"
    if [ $failures -ne 0 ]; then
        echo "$failures checks failed; evrd's log:"
        cat $run/evrd.log
        for vm in "$@"; do
            [ -f $run/$vm.log ] || continue # never started
            echo "== $vm's evr-vmm log (the last 60 lines)"
            tail -n 60 $run/$vm.log
            if [ -f $run/$vm.console.log ]; then
                echo "== $vm's guest console (the last 40 lines)"
                tail -n 40 $run/$vm.console.log
            fi
        done
        exit 1
    fi
}
