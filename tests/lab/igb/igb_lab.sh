#!/usr/bin/env bash
# evr-lab's igb options from the outside: bad counts and names are refused by
# name, a memory the lab's QEMU cannot give igb VFs is refused with the
# reason, and --igb-tap cables an igb to a host tap: a VF reaches a test host
# in a netns on the host (untagged: the host kernel may lack 802.1Q; igb-vf
# covers the VLANs).
set -euo pipefail
LAB=$1
HERE=$(cd "$(dirname "$0")" && pwd)
fail() { echo "igb_lab: $*" >&2; exit 1; }
work=$(mktemp -d)
ns=evrlab-igb$$
trap 'rm -rf "$work"; ip netns del $ns 2>/dev/null || true' EXIT

# refused OPTIONS... -- TEXT: evr-lab refuses OPTIONS with 125 and says TEXT.
refused() {
    local opts=() rc
    while [ "$1" != -- ]; do opts+=("$1"); shift; done
    set +e
    "$LAB" run "${opts[@]}" -- true >/dev/null 2>"$work/stderr"
    rc=$?
    set -e
    if [ "$rc" -ne 125 ] || ! grep -qF -- "$2" "$work/stderr"; then
        fail "'${opts[*]}' gave $rc, expected 125 saying '$2': $(cat "$work/stderr")"
    fi
    echo "igb_lab: '${opts[*]}' refused: $(head -n1 "$work/stderr")"
}
refused --igb 5 -- "at most 4 igb NICs"
refused --igb 2 --igb-tap t1 --igb-tap t2 --igb-tap t3 -- "at most 4 igb NICs"
refused --igb-tap 'bad/name' -- "--igb-tap: 'bad/name' is not a valid interface name"
refused --igb x -- "--igb takes a whole number"
# The memory rule holds only for the QEMU versions that truncate VF BARs.
die() { fail "$*"; }
# shellcheck source=tools/lab/lab-boot.sh
. "$HERE/../../../tools/lab/lab-boot.sh"
lab_check_qemu "${EVR_LAB_QEMU:-qemu-system-x86_64}"
if lab_qemu_truncates_vf_bars "$LAB_QEMU_VERSION"; then
    refused --nics 0 --igb 1 --mem 3072 -- "--mem 3072 with igb NICs: QEMU $LAB_QEMU_VERSION maps igb VF BARs above 4 GiB"
else
    echo "igb_lab: QEMU $LAB_QEMU_VERSION maps VF BARs whole: no memory rule to check"
fi

# --igb-tap: QEMU creates the tap; this script moves it into a netns, and a VF
# in the lab pings it.
tap=evrlabi$(($$ % 100000))
ip netns add "$ns"
"$LAB" run --nics 0 --igb-tap "$tap" -- "$HERE/igb_tap_vf.sh" 10.198.1.2/24 10.198.1.1 >"$work/stdout" 2>"$work/stderr" &
lab=$!
moved=0
while kill -0 "$lab" 2>/dev/null; do
    if ip link set "$tap" netns "$ns" 2>/dev/null; then
        ip -n "$ns" addr add 10.198.1.1/24 dev "$tap"
        ip -n "$ns" link set "$tap" up
        moved=1
        break
    fi
    sleep 0.1
done
set +e
wait "$lab"
rc=$?
set -e
[ "$moved" = 1 ] || fail "the tap $tap never appeared on the host while the lab ran (status $rc): $(cat "$work/stderr")"
[ "$rc" -eq 0 ] || fail "a VF behind --igb-tap could not reach the host's test host (status $rc): $(cat "$work/stderr")"
echo "igb_lab: --igb-tap: $(cat "$work/stdout")"
