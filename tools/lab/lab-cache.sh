# shellcheck shell=bash
# The lab's cached parts, per kernel version, under $EVR_LAB_CACHE:
#   <kver>/vmlinuz           Debian's kernel, from linux-image-<kver> (apt-get download)
#   <kver>/modules/          its modules tree, extracted from the same package
#   <kver>/netdevsim.ko      built out of tree from linux-source-6.1 (not in Debian's build)
#   <kver>/initrd-<hash>.gz  busybox + the modules below + guest-init; the hash
#                            covers every input, so a changed script rebuilds it
# Everything is built under a lock, so parallel callers wait instead of racing.

# Modules the lab machine loads, by name; their dependencies come along.
LAB_MODULES=(
    virtio_pci virtio_console 9p 9pnet_virtio           # userland over 9p, CMD's output
    kvm_amd kvm_intel                                   # nested KVM (one loads)
    vfio_pci vfio_iommu_type1                           # passthrough
    e1000e nvme                                         # NICs, SR-IOV PFs
    igb igbvf                                           # SR-IOV NIC (82576) and its VF driver
    netdevsim                                           # netlink-driven SR-IOV ports
    veth 8021q bonding tun vhost_net                    # test plumbing
)

lab_resolve_kernel() {
    # The newest Debian kernel ABI, e.g. 6.1.0-56-amd64, from the meta package.
    local dep
    dep=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: linux-image-\(.*\)$/\1/p' | head -n1)
    if [ -z "$dep" ] && [ "$(id -u)" -eq 0 ]; then
        apt-get update -q >/dev/null 2>&1 || true
        dep=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: linux-image-\(.*\)$/\1/p' | head -n1)
    fi
    if [ -z "$dep" ]; then
        # Offline: reuse the newest kernel already cached.
        dep=$(ls -1 "$LAB_CACHE" 2>/dev/null | grep -E '^[0-9]+\.[0-9]+\.[0-9]+-[0-9]+-amd64$' | sort -V | tail -n1 || true)
    fi
    [ -n "$dep" ] || die "cannot resolve Debian's kernel: 'apt-cache depends linux-image-amd64' names no linux-image package (run apt-get update as root)"
    echo "$dep"
}

lab_fetch_kernel() {
    local kdir=$1 kver=$2 tmp deb
    [ -f "$kdir/vmlinuz" ] && [ -f "$kdir/modules/modules.dep" ] && return 0
    echo "evr-lab: fetching linux-image-$kver" >&2
    tmp=$(mktemp -d "$LAB_CACHE/.fetch.XXXXXX")
    # apt's sandbox user cannot write into root's cache; download as root then.
    (cd "$tmp" && apt-get download -q "linux-image-$kver" >/dev/null 2>"$tmp/apt.err") ||
        die "apt-get download linux-image-$kver failed: $(tail -n 3 "$tmp/apt.err")"
    deb=$(ls "$tmp"/linux-image-*.deb)
    dpkg-deb -x "$deb" "$tmp/root" || die "cannot unpack $deb"
    [ -f "$tmp/root/boot/vmlinuz-$kver" ] || die "$deb holds no /boot/vmlinuz-$kver"
    rm -rf "$kdir/modules"
    mv "$tmp/root/lib/modules/$kver" "$kdir/modules"
    # Later Debian kernels compress modules; the lab's busybox insmod needs plain .ko.
    find "$kdir/modules" -name '*.ko.xz' -exec xz -d {} + 2>/dev/null || true
    mv "$tmp/root/boot/vmlinuz-$kver" "$kdir/vmlinuz.new"
    depmod_tree "$kdir/modules" "$kver"
    mv "$kdir/vmlinuz.new" "$kdir/vmlinuz"
    rm -rf "$tmp"
}

depmod_tree() {
    # depmod wants <base>/lib/modules/<kver>; give it that shape with a link.
    local tree=$1 kver=$2 base
    base=$(mktemp -d)
    mkdir -p "$base/lib/modules"
    ln -s "$tree" "$base/lib/modules/$kver"
    depmod -b "$base" "$kver" || die "depmod failed on $tree"
    rm -rf "$base"
}

lab_build_netdevsim() {
    local kdir=$1 kver=$2 hdr="/usr/src/linux-headers-$2" src=/usr/src/linux-source-6.1.tar.xz tmp
    [ -f "$kdir/netdevsim.ko" ] && return 0
    if [ ! -d "$hdr" ]; then
        [ "$(id -u)" -eq 0 ] || die "$hdr is missing: apt-get install linux-headers-$kver"
        echo "evr-lab: installing linux-headers-$kver" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "linux-headers-$kver" >/dev/null ||
            die "apt-get install linux-headers-$kver failed"
    fi
    [ -f "$src" ] || die "$src is missing: apt-get install linux-source-6.1"
    echo "evr-lab: building netdevsim.ko against $hdr" >&2
    tmp=$(mktemp -d "$LAB_CACHE/.nsim.XXXXXX")
    tar -xJf "$src" -C "$tmp" --strip-components=4 --wildcards 'linux-source-6.1/drivers/net/netdevsim/*' ||
        die "cannot extract drivers/net/netdevsim from $src"
    make -s -C "$hdr" M="$tmp" CONFIG_NETDEVSIM=m modules >"$tmp/build.log" 2>&1 ||
        die "netdevsim build failed: $(tail -n 5 "$tmp/build.log")"
    mv "$tmp/netdevsim.ko" "$kdir/netdevsim.ko"
    rm -rf "$tmp"
}

# Prints the modules.dep paths (relative) of every named module and its deps.
module_closure() {
    local dep=$1
    shift
    awk -v want="$*" '
        function norm(s) { gsub(/-/, "_", s); return s }
        function base(p) { sub(/.*\//, "", p); sub(/\.ko$/, "", p); return norm(p) }
        BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) wanted[norm(w[i])] = 1 }
        {
            mod = $1; sub(/:$/, "", mod); name = base(mod)
            path[name] = mod; line[name] = $0
        }
        function take(name,   f, k, i, d) {
            if (name in taken) return
            if (!(name in path)) { print "missing " name > "/dev/stderr"; exit 3 }
            taken[name] = 1; print path[name]
            k = split(line[name], f, " ")
            for (i = 2; i <= k; i++) { d = base(f[i]); take(d) }
        }
        END { for (m in wanted) take(m) }
    ' "$dep"
}

lab_build_initrd() {
    local kdir=$1 kver=$2 hash stage out
    hash=$( (cat "$LAB_DIR/guest-init" "$LAB_DIR/lab-cache.sh" /bin/busybox "$kdir/netdevsim.ko" && echo "$kver") | sha256sum | cut -c1-16)
    out="$kdir/initrd-$hash.gz"
    LAB_INITRD=$out
    [ -f "$out" ] && return 0
    command -v busybox >/dev/null && file_is_static /bin/busybox ||
        die "a static /bin/busybox is needed: apt-get install busybox-static"
    stage=$(mktemp -d "$LAB_CACHE/.initrd.XXXXXX")
    mkdir -p "$stage"/{bin,dev,proc,sys,newroot,lib/modules/"$kver"/extra}
    cp /bin/busybox "$stage/bin/busybox"
    cp "$LAB_DIR/guest-init" "$stage/init"
    chmod 755 "$stage/init"
    # netdevsim joins the full tree only inside the stage, for depmod to see it.
    local full="$stage/full"
    mkdir -p "$full/extra"
    cp -a "$kdir/modules/." "$full/"
    cp "$kdir/netdevsim.ko" "$full/extra/netdevsim.ko"
    depmod_tree "$full" "$kver"
    local rel
    module_closure "$full/modules.dep" "${LAB_MODULES[@]}" >"$stage/closure" ||
        die "a lab module is not in linux-image-$kver: $(cat "$stage/closure")"
    while read -r rel; do
        mkdir -p "$stage/lib/modules/$kver/$(dirname "$rel")"
        cp "$full/$rel" "$stage/lib/modules/$kver/$rel"
    done <"$stage/closure"
    cp "$full"/modules.builtin* "$full/modules.order" "$stage/lib/modules/$kver/" 2>/dev/null || true
    rm -rf "$full" "$stage/closure"
    depmod_tree "$stage/lib/modules/$kver" "$kver"
    (cd "$stage" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$out.tmp" ||
        die "cannot pack the initramfs"
    mv "$out.tmp" "$out"
    rm -rf "$stage"
}

file_is_static() {
    ! ldd "$1" >/dev/null 2>&1
}

lab_cache_prepare() {
    LAB_CACHE=${EVR_LAB_CACHE:-${HOME:-/root}/.cache/evr-lab}
    mkdir -p "$LAB_CACHE"
    exec 9>"$LAB_CACHE/.lock"
    flock 9
    LAB_KVER=$(lab_resolve_kernel)
    LAB_CACHE_KDIR="$LAB_CACHE/$LAB_KVER"
    mkdir -p "$LAB_CACHE_KDIR"
    lab_fetch_kernel "$LAB_CACHE_KDIR" "$LAB_KVER"
    lab_build_netdevsim "$LAB_CACHE_KDIR" "$LAB_KVER"
    lab_build_initrd "$LAB_CACHE_KDIR" "$LAB_KVER"
    flock -u 9
    exec 9>&-
}
