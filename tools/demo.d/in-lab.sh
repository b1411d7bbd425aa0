#!/usr/bin/env bash
# The demo's part inside the lab appliance: show what the appliance offers,
# then boot a router-engine VM with evr-vmm on the lab's KVM and let it show
# its console, interfaces and CPUs before it powers off.
# usage: in-lab.sh EVR_VMM KERNEL INITRD
set -euo pipefail
vmm=$1 kernel=$2 initrd=$3
here=$(cd "$(dirname "$0")" && pwd)

"$here/../lab/lab-probe"
echo
echo "== evr-vmm: router engine 'vm-a', 2 vCPUs, 256 MiB, console below"
# The kernel command line knows only double quotes, so the command uses none.
show='echo; echo == inside vm-a: kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs:; grep -m1 ^model.name /proc/cpuinfo; echo IPv4 forwarding: $(cat /proc/sys/net/ipv4/ip_forward); ip addr'
start=$(date +%s.%N)
"$vmm" --kernel "$kernel" --initrd "$initrd" --vcpus 2 --memory 256 --console stdout \
    --cmdline "console=ttyS0 panic=-1 evr_run=\"$show\""
rc=$?
echo "== evr-vmm exited with status $rc after $(echo "$(date +%s.%N) - $start" | bc | cut -c1-5) s (boot, command, ACPI power-off)"
exit "$rc"
