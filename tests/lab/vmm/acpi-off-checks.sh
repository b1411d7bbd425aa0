#!/usr/bin/env bash
# Runs inside the lab (real KVM): usage acpi-off-checks.sh EVR_VMM KERNEL INITRD
# The Debian kernel with "acpi=off" on 2 vCPUs: SMP, the IOAPIC and the ISA
# IRQs now come from the MP table, PCI from a legacy scan. The guest finds 2
# CPUs, its console works (UART interrupts through the MP table's routing),
# and it reboots (no ACPI power-off without ACPI) through the i8042 reset
# line, which ends evr-vmm with status 0 (on_reboot exit).
set -uo pipefail
VMM=$1 KERNEL=$2 INITRD=$3
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
failures=0
pass() { echo "ok: $*"; }
fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# SIGTERM at 300 s stops evr-vmm cleanly; SIGKILL 10 s later if even that hangs.
timeout -k 10 300 "$VMM" --kernel "$KERNEL" --initrd "$INITRD" --vcpus 2 --memory 256 \
    --console "file:$W/console" --on-reboot exit \
    --cmdline 'console=ttyS0 panic=-1 acpi=off evr_then=reboot evr_run="echo processors=$(grep -c ^processor /proc/cpuinfo); ls /sys/bus/pci/devices"' \
    2>"$W/err"
rc=$?
[ "$rc" -eq 0 ] && pass "evr-vmm exited 0" || fail "evr-vmm exited $rc: $(cat "$W/err")"
grep -q "the guest rebooted; exiting" "$W/err" && pass "guest rebooted through the i8042" ||
    fail "no reboot: $(cat "$W/err")"
for want in "ACPI: Interpreter disabled" "Intel MultiProcessor Specification" \
    "evr-guest: init reached: 2 CPUs" "processors=2" "0000:00:00.0" \
    "evr-guest: command exited with 0"; do
    grep -qF "$want" "$W/console" && pass "console: $want" || fail "console lacks '$want'"
done
if [ "$failures" -ne 0 ]; then
    tail -60 "$W/console"
    echo "$failures check(s) failed"
    exit 1
fi
echo "all checks passed"
