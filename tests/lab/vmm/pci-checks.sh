#!/usr/bin/env bash
# Runs inside the lab (real KVM): usage pci-checks.sh EVR_VMM KERNEL INITRD
# The device model as a Linux guest sees it: evr-vmm with --pci-test boots
# the Debian kernel with the mkguest initramfs plus a script of this test's
# own (a second cpio archive appended to the initramfs). In the guest, the
# PCI core enumerates the test function's three BARs (32-bit memory, I/O,
# 64-bit memory) inside the host bridge's _CRS windows and keeps them; the
# capability list holds MSI-X with 4 vectors; with decoding enabled, a
# register of BAR0 reads back what was written through KVM_EXIT_MMIO and one
# of BAR1 through port I/O; and with MSI-X enabled and entry 0 pointed at an
# unused vector, the device's doorbell interrupts the guest through the
# routed GSI and irqfd (Linux reports the vector as having no handler).
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

mkdir -p "$W/extra"
cat >"$W/extra/pci-check.sh" <<'GUEST'
# The guest's half (busybox sh). Prints key=value lines the host greps.
d=
for f in /sys/bus/pci/devices/*; do
    [ "$(cat "$f/vendor")" = 0x1b36 ] && [ "$(cat "$f/device")" = 0x0005 ] && d=$f
done
[ -n "$d" ] || { echo "pcitest=absent"; exit 1; }
echo "pcitest=${d##*/}"
i=0
while read -r start end flags; do
    [ "$i" -lt 3 ] && echo "bar$i=$start-$end flags=$flags"
    i=$((i + 1))
done <"$d/resource"
byte() { od -An -tu1 -j"$1" -N1 "$d/config" | tr -d ' '; }
word() { od -An -tu2 -j"$1" -N2 "$d/config" | tr -d ' '; }
ptr=$(byte 52)
steps=0
while [ "$ptr" -ne 0 ] && [ "$steps" -lt 48 ]; do
    if [ "$(byte "$ptr")" -eq 17 ]; then
        echo "msix=at$ptr vectors=$(( ($(word $((ptr + 2))) & 2047) + 1 ))"
        msix=$ptr
    fi
    ptr=$(byte $((ptr + 1)))
    steps=$((steps + 1))
done
grep -F "$(cat "$d/resource" | head -1 | cut -d' ' -f1 | sed 's/^0x0*//')" /proc/iomem |
    sed 's/^ */iomem=/'
dmesg | grep -E "${d##*/}: (reg 0x|BAR [0-9])" | sed 's/^/pcicore: /'
echo 1 >"$d/enable"
bar0=$(sed -n 1p "$d/resource" | cut -d' ' -f1)
bar1=$(sed -n 2p "$d/resource" | cut -d' ' -f1)
bar2=$(sed -n 3p "$d/resource" | cut -d' ' -f1)
devmem "$bar0" 32 0x1234abcd
echo "mmio-scratch=$(devmem "$bar0" 32)"
# port I/O: the same scratch register through BAR1, with dd on /dev/port
printf '\357\276\255\336' | dd of=/dev/port bs=1 seek=$((bar1)) count=4 conv=notrunc 2>/dev/null
echo "pio-scratch=$(dd if=/dev/port bs=1 skip=$((bar1)) count=4 2>/dev/null | od -An -tx4 | tr -d ' ')"
# MSI-X: enable (bit 15 of message control is bit 7 of byte msix+3), point
# entry 0 at vector 0xe5 of CPU 0, unmask it, ring the doorbell for vector 0
printf '\200' | dd of="$d/config" bs=1 seek=$((msix + 3)) count=1 conv=notrunc 2>/dev/null
devmem "$bar2" 32 0xfee00000
devmem $((bar2 + 4)) 32 0
devmem $((bar2 + 8)) 32 0xe5
devmem $((bar2 + 12)) 32 0
devmem $((bar0 + 4)) 32 0
echo "rung=$(devmem $((bar0 + 8)) 32)"
# the interrupt's arrival is polled for (bounded), not slept on: the nested
# guest may take a while under load
n=0
while [ "$n" -lt 100 ] && ! dmesg | grep -qi "no irq handler for vector"; do
    sleep 0.1
    n=$((n + 1))
done
dmesg | grep -i "no irq handler for vector" | sed 's/^/msix-delivered: /' | head -1
GUEST

(cd "$W/extra" && echo pci-check.sh | cpio -o -H newc 2>/dev/null | gzip) >"$W/extra.cpio.gz"
cat "$INITRD" "$W/extra.cpio.gz" >"$W/initrd"

timeout 300 "$VMM" --kernel "$KERNEL" --initrd "$W/initrd" --vcpus 1 --memory 256 --pci-test \
    --console "file:$W/console" \
    --cmdline 'console=ttyS0 panic=-1 evr_run="sh /pci-check.sh"' 2>"$W/err"
rc=$?
[ "$rc" -eq 0 ] && pass "evr-vmm exited 0" || fail "evr-vmm exited $rc: $(cat "$W/err")"
grep -a "pcitest=\|bar[0-9]=\|msix=\|iomem=\|scratch=\|rung=\|msix-delivered\|pcicore:" \
    "$W/console" | sed 's/^/  guest: /'
want() { grep -aqE "$1" "$W/console" && pass "$2" || fail "$2 (console lacks /$1/)"; }
want 'pcitest=0000:00:0[1-9]' "the guest enumerates the test function"
# where evr-vmm placed them (the first function: the start of each window)
want 'bar0=0x0*c0000000-0x0*c0000fff flags=0x0*40200' \
    "BAR0: 4 KiB of 32-bit memory at the start of the PCI window"
want 'bar1=0x0*c000-0x0*c00f flags=0x0*40101' "BAR1: 16 I/O ports at 0xc000"
want 'bar2=0x0*c0004000-0x0*c0007fff flags=0x0*140204' \
    "BAR2: 16 KiB of 64-bit memory, naturally aligned"
# (Linux 6.1 writes "reg 0x10: [mem ...]", later kernels "BAR 0 [mem ...]")
want 'pcicore: .*(reg 0x10:|BAR 0) \[mem 0xc0000000-0xc0000fff\]' "the PCI core sized BAR0"
want 'pcicore: .*(reg 0x14:|BAR 1) \[io +0xc000-0xc00f\]' "the PCI core sized BAR1"
want 'pcicore: .*(reg 0x18:|BAR 2) \[mem 0xc0004000-0xc0007fff 64bit\]' \
    "the PCI core sized the 64-bit BAR2"
grep -aqE 'pcicore: .*BAR [0-9].*assigned' "$W/console" &&
    fail "the guest moved a BAR: it did not accept evr-vmm's placement" ||
    pass "the guest kept evr-vmm's placement of every BAR"
want 'msix=at64 vectors=4' "the capability list holds MSI-X with 4 vectors"
want 'iomem=c[0-9a-f]+-c[0-9a-f]+ : 0000:00:0' "the BARs are in /proc/iomem under the host bridge"
want 'mmio-scratch=0x1234ABCD' "BAR0 reads back through KVM_EXIT_MMIO"
want 'pio-scratch=deadbeef' "BAR1 reads back through port I/O"
want 'rung=0x00000001' "the doorbell reached the device"
want 'msix-delivered: .*0xe5|msix-delivered: .*229' "MSI-X vector 0 interrupted the guest at vector 0xe5"
grep -aq "evr-guest: command exited with 0" "$W/console" && pass "the guest script ended with 0" ||
    fail "the guest script failed"
if [ "$failures" -ne 0 ]; then
    tail -80 "$W/console"
    echo "$failures check(s) failed"
    exit 1
fi
echo "all checks passed"
