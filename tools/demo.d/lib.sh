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
# At exit: the logs kept, the console readers stopped.
on_exit() {
    keep_logs
    [ -z "$console_pids" ] || kill $console_pids 2>/dev/null
    return 0
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
