# shellcheck shell=bash
# Boots the lab machine once for one command (lab_boot_run) and turns what
# happened into an exit status: CMD's own, 124 on timeout, 125 on a lab failure.

# Fills LAB_QEMU_ARGS. vgif=off: with virtual GIF offered, QEMU 10's TCG let
# an interrupt into the lab kernel's KVM between #VMEXIT and its restore of
# the host's state (a reschedule IPI at __svm_vcpu_run+0x9c, then page
# faults on a guest GS until the stack guard page): 2 lab panics in 9
# acpi=off nested boots, none in 16 without it (docs/lab.md).
# EVR_LAB_CPU replaces the -cpu model, to qualify another one with lab-soak
# (max,vgif=off,npt=off: nested guests on the lab KVM's shadow paging).
# no_timer_check: on a loaded host the emulated clock can be too slow for the
# kernel's IO-APIC timer check, which then panics ("timer doesn't work through
# Interrupt-remapped IO-APIC", seen with four labs on two cores).
lab_qemu_args() {
    local kernel_cmdline="console=ttyS0 intel_iommu=on quiet loglevel=4 panic=-1 no_timer_check rdinit=/init"
    local cpu=${EVR_LAB_CPU:-max,vgif=off}
    [[ "$cpu" =~ ^[A-Za-z0-9][A-Za-z0-9_.,=+-]*$ ]] || die "EVR_LAB_CPU '$cpu' is not a QEMU -cpu model with options (like max,vgif=off)"
    LAB_QEMU_ARGS=(
        -accel tcg,thread=multi -cpu "$cpu"
        -machine q35,kernel-irqchip=split -device intel-iommu,intremap=on
        -smp "$LAB_CPUS" -m "$LAB_MEM"
        -nodefaults -display none -no-reboot -no-user-config
        -kernel "$LAB_CACHE_KDIR/vmlinuz" -initrd "$LAB_INITRD" -append "$kernel_cmdline"
        -serial "file:$LAB_RUN/console.log"
        -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
        -virtfs "local,path=$LAB_RUN/ctl,mount_tag=labctl,security_model=none"
        -device virtio-serial-pci,id=vser
        -chardev "file,id=cout,path=$LAB_RUN/stdout.fifo,append=on"
        -device virtserialport,bus=vser.0,chardev=cout,name=evr.stdout
        -chardev "file,id=cerr,path=$LAB_RUN/stderr.fifo,append=on"
        -device virtserialport,bus=vser.0,chardev=cerr,name=evr.stderr
    )
    [ -n "$LAB_OUT" ] && LAB_QEMU_ARGS+=(-virtfs "local,path=$LAB_OUT,mount_tag=labout,security_model=none")
    # NICs cabled in pairs: each pair shares a two-port QEMU hub, i.e. a cable.
    local i
    for ((i = 0; i < LAB_NICS; i++)); do
        LAB_QEMU_ARGS+=(-netdev "hubport,id=nic$i,hubid=$((i / 2))" -device "e1000e,netdev=nic$i,mac=52:54:00:12:34:$(printf %02x $((i + 16)))")
    done
    # NICs cabled to host taps, after the paired ones.
    local tap
    for tap in "${LAB_TAPS[@]}"; do
        LAB_QEMU_ARGS+=(-netdev "tap,id=nic$i,ifname=$tap,script=no,downscript=no" -device "e1000e,netdev=nic$i,mac=52:54:00:12:34:$(printf %02x $((i + 16)))")
        i=$((i + 1))
    done
    # igb (82576) PFs with SR-IOV, each behind its own root port (its VFs sit
    # at function 0x80 and up, which only a bus of their own with ARI gives),
    # cabled in pairs on hubs after the e1000e ones, then those cabled to taps.
    local hub=$(((LAB_NICS + 1) / 2)) netdev
    for ((i = 0; i < LAB_IGB + ${#LAB_IGB_TAPS[@]}; i++)); do
        if [ "$i" -lt "$LAB_IGB" ]; then
            netdev="hubport,id=igb$i,hubid=$((hub + i / 2))"
        else
            tap=${LAB_IGB_TAPS[i - LAB_IGB]}
            netdev="tap,id=igb$i,ifname=$tap,script=no,downscript=no"
        fi
        LAB_QEMU_ARGS+=(-device "pcie-root-port,id=igbrp$i,slot=$((i + 11)),chassis=$((i + 11))"
            -netdev "$netdev" -device "igb,netdev=igb$i,bus=igbrp$i,mac=52:54:00:12:35:$(printf %02x $((i + 16)))")
    done
    # nvme PFs with SR-IOV, each behind its own root port (VFs need ARI room).
    for ((i = 0; i < LAB_NVME; i++)); do
        LAB_QEMU_ARGS+=(-device "pcie-root-port,id=rp$i,slot=$((i + 1)),chassis=$((i + 1))"
            -device "nvme-subsys,id=nvmesub$i"
            -device "nvme,serial=evrlab$i,subsys=nvmesub$i,bus=rp$i,sriov_max_vfs=4,sriov_vq_flexible=8,sriov_vi_flexible=4,max_ioqpairs=10,msix_qsize=8")
    done
}

# Host /tmp trees the command needs: the one holding the current directory and
# any holding an absolute argument. Written for guest-init, one name a line.
lab_write_tmp_shares() {
    local p
    for p in "$PWD" "${LAB_CMD[@]}"; do
        case "$p" in
        /tmp/?*)
            p=${p#/tmp/}
            echo "${p%%/*}"
            ;;
        esac
    done | sort -u >"$LAB_RUN/ctl/tmp-shares"
}

lab_write_cmd() {
    local f=$LAB_RUN/ctl/cmd kv
    {
        echo "cd $(printf %q "$PWD") 2>/dev/null || cd /"
        echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp EVR_LAB=1"
        [ -n "$LAB_OUT" ] && echo "export EVR_LAB_OUT=/run/evr-lab/out"
        for kv in "${LAB_ENV[@]}"; do
            echo "export ${kv%%=*}=$(printf %q "${kv#*=}")"
        done
        printf 'exec'
        printf ' %q' "${LAB_CMD[@]}"
        printf '\n'
    } >"$f"
}

# QEMU 7.2 (bookworm's) livelocks the lab's kernel under multi-threaded TCG
# after some dozens of nested VMs come and go, and single-threaded TCG stalls
# it with both vCPUs halted; QEMU 10 (bookworm-backports) does neither
# (docs/lab.md, "Which QEMU").
lab_check_qemu() {
    local v major
    v=$("$1" --version 2>/dev/null | sed -n 's/^QEMU emulator version \([0-9][0-9.]*\).*/\1/p')
    major=${v%%.*}
    [ -n "$major" ] || die "cannot tell the version of $1"
    [ "$major" -ge 8 ] || die "$1 is QEMU $v; the lab needs QEMU 8 or later (7.2 livelocks nested KVM under TCG): run tools/install-deps, which installs it from Debian's bookworm-backports"
    LAB_QEMU_VERSION=$v
}

# QEMU 10.0.0-10.0.5 and 10.1.0-10.1.1 realize SR-IOV VFs before the PF has
# declared their BARs' type (QEMU commit cab1398a60eb; fixed by 2e54e5fda779,
# in 10.0.6 and 10.1.2), so an igb VF's 64-bit BAR is decoded from the low 32
# bits of the PF's VF BAR alone: a VF BAR above 4 GiB is mapped where nothing
# reaches it. SeaBIOS puts the root ports' 64-bit windows above 4 GiB as soon
# as RAM extends there; with all RAM below 4 GiB (q35 keeps up to 2815 MiB
# there) it does not, the VF BARs land below 4 GiB and the truncation is
# harmless (docs/lab.md, "igb").
lab_qemu_truncates_vf_bars() {
    local major minor patch
    IFS=. read -r major minor patch <<<"$1"
    [ "$major" = 10 ] || return 1
    { [ "$minor" = 0 ] && [ "${patch:-0}" -lt 6 ]; } || { [ "$minor" = 1 ] && [ "${patch:-0}" -lt 2 ]; }
}

LAB_IGB_MEM_MAX=2815
# Labs a command may take in all when the lab itself fails (lab_boot_run).
LAB_ATTEMPTS=4
lab_igb_memory() {
    [ $((LAB_IGB + ${#LAB_IGB_TAPS[@]})) -gt 0 ] || return 0
    lab_qemu_truncates_vf_bars "$LAB_QEMU_VERSION" || return 0
    if [ "$LAB_MEM_SET" = 1 ]; then
        [ "$LAB_MEM" -le "$LAB_IGB_MEM_MAX" ] ||
            die "--mem $LAB_MEM with igb NICs: QEMU $LAB_QEMU_VERSION maps igb VF BARs above 4 GiB where nothing reaches them, so the lab keeps all its RAM below 4 GiB (--mem $LAB_IGB_MEM_MAX or less; docs/lab.md, \"igb\")"
    else
        LAB_MEM=$LAB_IGB_MEM_MAX
    fi
}

lab_boot_run() {
    local qemu=${EVR_LAB_QEMU:-qemu-system-x86_64} t0 attempt left rc
    command -v "$qemu" >/dev/null || die "$qemu not found: run tools/install-deps"
    lab_check_qemu "$qemu"
    lab_igb_memory
    [ "$(id -u)" -eq 0 ] || die "the lab exports the host root over 9p and needs root"
    LAB_RUN=$(mktemp -d /tmp/evr-lab.XXXXXX)
    # shellcheck disable=SC2064
    trap "rm -rf '$LAB_RUN'" EXIT
    mkdir -p "$LAB_RUN/ctl"
    lab_write_cmd
    lab_write_tmp_shares
    [ "$LAB_KEEP_FAULTS" = 1 ] && : >"$LAB_RUN/ctl/keep-lab-faults"
    lab_qemu_args
    mkfifo "$LAB_RUN/stdout.fifo" "$LAB_RUN/stderr.fifo"
    t0=$(date +%s)
    # Two failures are the lab's, not the command's, and the command runs
    # again in a new lab, within what is left of --timeout, up to
    # LAB_ATTEMPTS labs in all: a lab whose emulation ran a nested guest on
    # the lab's own state (issue 9; guest-init watches for it and stops the
    # command), and a lab that stalls in its own boot, before the command
    # starts (lab_watch_boot). Four, because one clean-clone CI run met
    # issue 9's fault in two labs in a row (docs/lab.md, "Issue 9's cause").
    for ((attempt = 1; ; attempt++)); do
        left=$((LAB_TIMEOUT - ($(date +%s) - t0)))
        [ "$left" -ge 1 ] || left=1
        lab_boot_once "$qemu" "$left"
        if [ -s "$LAB_RUN/ctl/lab-cpu0" ]; then
            echo "evr-lab: a nested guest ran on lab CPU 0, which the lab keeps free of them (issue 9's cause, docs/lab.md); the command runs on the other lab CPUs, so a process of it pinned to CPU 0 started that guest. The command was stopped at the guest's first exit:" >&2
            sed 's/^/  | /' "$LAB_RUN/ctl/lab-cpu0" >&2
            exit 125
        fi
        if [ -s "$LAB_RUN/ctl/lab-fault" ]; then
            echo "evr-lab: the lab's emulation resumed a nested guest on the lab kernel's own state after VMRUN (issue 9, docs/lab.md), the command was stopped; the guest exit that showed it:" >&2
            sed 's/^/  | /' "$LAB_RUN/ctl/lab-fault" >&2
        elif [ -s "$LAB_RUN/boot-stall" ]; then
            echo "evr-lab: the lab stalled in its own boot, before the command ran (docs/lab.md, \"A lab that stalls in its own boot\"): $(cat "$LAB_RUN/boot-stall")" >&2
            lab_console_report
        else
            break
        fi
        if [ "$attempt" -ge "$LAB_ATTEMPTS" ]; then
            echo "evr-lab: it happened in each of $attempt labs" >&2
            exit 125
        fi
        if [ $((LAB_TIMEOUT - ($(date +%s) - t0))) -lt 30 ]; then
            echo "evr-lab: less than 30 s of --timeout is left for another lab" >&2
            exit 125
        fi
        echo "evr-lab: running the command again in a new lab (lab $((attempt + 1)) of at most $LAB_ATTEMPTS)" >&2
    done
    rc=$(cat "$LAB_RUN/ctl/status")
    [[ "$rc" =~ ^[0-9]+$ ]] || die "the lab reported a malformed status '$rc'"
    exit "$rc"
}

# What a failed lab's console says: its first kernel report (panic, BUG,
# oops, warning, RCU stall, soft lockup) from its headline on, whose reason
# a plain tail of a long panic cuts off, then the console's last lines.
lab_console_report() {
    local log="$LAB_RUN/console.log" first
    first=$(grep -n -m1 -E 'Kernel panic|BUG:|Oops|general protection|WARNING:|rcu_preempt|rcu: INFO|soft lockup|hard LOCKUP|corrupted stack' "$log" | cut -d: -f1) || true # none found: the tail alone
    if [ -n "$first" ]; then
        echo "evr-lab: the lab kernel's first report (console line $first):" >&2
        tail -n +"$((first > 3 ? first - 3 : 1))" "$log" | head -n 60 | sed 's/^/  | /' >&2
        echo "evr-lab: and the console's last lines:" >&2
    fi
    tail -n 20 "$log" | sed 's/^/  | /' >&2
}

# lab_watch_boot PID: stops the lab (PID, its QEMU under timeout) when it
# stalls in its own boot, before guest-init says "running command": the
# lab kernel reports an RCU stall, a lockup or a panic, or the command has
# not started after EVR_LAB_BOOT_LIMIT s [300] (a lab boots in about 10 s
# idle, a minute with three labs on 2 cores). Nothing of the command has
# run by then, so it is the lab's failure, which LAB_RUN/boot-stall says.
lab_watch_boot() {
    local pid=$1 limit=${EVR_LAB_BOOT_LIMIT:-300} start=$SECONDS why=""
    [[ "$limit" =~ ^[1-9][0-9]*$ ]] || limit=300
    while kill -0 "$pid" 2>/dev/null; do
        grep -q 'evr-lab-init: running command' "$LAB_RUN/console.log" && return 0
        why=$(grep -m1 -oE 'rcu_preempt detected stalls[^.]*|rcu: INFO: rcu_preempt[^.]*|timer wakeup didn.t happen[^.]*|soft lockup[^!]*|Kernel panic.{0,80}' \
            "$LAB_RUN/console.log") || why=""
        [ -z "$why" ] && [ $((SECONDS - start)) -ge "$limit" ] && why="no command after ${limit} s"
        if [ -n "$why" ]; then
            # grep may have read the console as the marker was being written
            grep -q 'evr-lab-init: running command' "$LAB_RUN/console.log" && return 0
            echo "$why" >"$LAB_RUN/boot-stall"
            kill -TERM "$pid" 2>/dev/null
            return 0
        fi
        sleep 1
    done
}

# lab_boot_once QEMU TIMEOUT: one boot of the lab for the command. Returns
# with ctl/status (and ctl/lab-fault, if guest-init wrote it) from the lab,
# or with LAB_RUN/boot-stall when the lab stalled in its own boot; exits
# 124 on a timeout and 125 on a lab that gave no status.
lab_boot_once() {
    local qemu=$1 timeout=$2 rc tail_pid="" out_pid err_pid qemu_pid watch_pid
    rm -f "$LAB_RUN/ctl/status" "$LAB_RUN/ctl/lab-fault" "$LAB_RUN/ctl/lab-cpu0" "$LAB_RUN/boot-stall"
    : >"$LAB_RUN/console.log"
    cat "$LAB_RUN/stdout.fifo" &
    out_pid=$!
    cat "$LAB_RUN/stderr.fifo" >&2 &
    err_pid=$!
    if [ "$LAB_VERBOSE" = 1 ]; then
        tail -n +1 -F "$LAB_RUN/console.log" >&2 2>/dev/null &
        tail_pid=$!
    fi
    set +e
    timeout --kill-after=5 "$timeout" "$qemu" "${LAB_QEMU_ARGS[@]}" </dev/null 2>"$LAB_RUN/qemu.err" &
    qemu_pid=$!
    lab_watch_boot "$qemu_pid" &
    watch_pid=$!
    wait "$qemu_pid"
    rc=$?
    kill "$watch_pid" 2>/dev/null
    wait "$watch_pid" 2>/dev/null
    set -e
    # QEMU may have died before opening a fifo; unblock the readers then.
    # (One clean-clone CI run found the fifo gone here, with a stand-in QEMU
    # in lab-contract, unexplained: say what the run directory holds then.)
    [ -p "$LAB_RUN/stdout.fifo" ] && [ -p "$LAB_RUN/stderr.fifo" ] || {
        echo "evr-lab: the run directory's fifos are gone: $(ls -la "$LAB_RUN" 2>&1 | tr '\n' ' ')" >&2
        exit 125
    }
    exec 7<>"$LAB_RUN/stdout.fifo" 8<>"$LAB_RUN/stderr.fifo"
    exec 7>&- 8>&-
    wait "$out_pid" "$err_pid" 2>/dev/null || true
    [ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null
    [ -n "$LAB_BOOT_LOG" ] && cp "$LAB_RUN/console.log" "$LAB_BOOT_LOG"
    [ -s "$LAB_RUN/boot-stall" ] && return 0
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "evr-lab: the lab did not finish within ${LAB_TIMEOUT}s; its console ended with:" >&2
        lab_console_report
        exit 124
    fi
    if [ ! -s "$LAB_RUN/ctl/status" ]; then
        echo "evr-lab: the lab stopped (qemu exit $rc) before the command reported a status" >&2
        [ -s "$LAB_RUN/qemu.err" ] && sed 's/^/  qemu: /' "$LAB_RUN/qemu.err" >&2
        lab_console_report
        exit 125
    fi
    return 0
}
