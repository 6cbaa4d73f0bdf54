#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test/vm/vm.sh - the host side of the VM test layer: a QEMU/TCG guest booting Debian's kernel
# with this machine's root filesystem (9p, read-only, tmpfs overlay in the guest), systemd as
# PID 1, and the project's .deb installed. test/vm/driver.ts drives it; see test/vm/README.md.
#
#   vm.sh up      build the initramfs (cached) and the .deb, create the "cloud" namespace with
#                 the taps and the metadata server, start QEMU in it (daemonized)
#   vm.sh down    kill the processes inside the namespace this run created, delete it (idempotent)
#
# Env: NCSVM_STATE (required: an empty or vm.sh-created dir; holds the .deb, imds.json (the
#      metadata the driver writes), logs, qmp.sock, io/ (the guest's read-write 9p share)),
#      NCSVM_CACHE (initramfs cache dir), NCS_REALNM_PREFIX (namespace name prefix),
#      NCSVM_MEM (MiB, 1536), NCSVM_CPUS (2).
#
# Topology, all inside netns ncsvm-${NCS_REALNM_PREFIX}cloud (nothing touches the root netns):
#   tap0 172.16.4.1/24 <-> guest NIC 02:00:00:00:00:01 (profile: 172.16.4.2/24, default route)
#   tap1 172.16.5.1/24 <-> guest NIC 02:00:00:00:00:02 (profile: 172.16.5.2/24)
#   tap2 172.16.6.1/24     for the hotplugged NIC 02:00:00:00:00:03 (QMP netdev_add later)
#   tap3, tap4 (no address) for the OpenStack bond's NICs 02:00:00:00:00:04/05 (hotplugged too)
#   lo 169.254.169.254     test/harness/imds-server.mjs on port 80
# The namespace has no route out and no forwarding: the guest can reach only these addresses.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
NS=ncsvm-${NCS_REALNM_PREFIX:-}cloud
STATE=${NCSVM_STATE:?NCSVM_STATE must name the run directory}
CACHE=${NCSVM_CACHE:-$REPO/build/vm}
MDS_IP=169.254.169.254
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { echo "vm.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The newest Debian kernel that has its modules installed (linux-image-amd64).
kernel_version() {
    local v best=""
    for v in /boot/vmlinuz-*; do
        v=${v#/boot/vmlinuz-}
        [[ -d /lib/modules/$v/kernel/net/8021q ]] && best=$v
    done
    [[ -n $best ]] || die "no kernel with modules in /boot (apt-get install linux-image-amd64)"
    echo "$best"
}

# Debian's initramfs has no 9p modules and no hook for our overlay; build one that has both.
build_initrd() {
    local kver=$1 out=$CACHE/initrd-$1.img conf
    if [[ -s $out && $out -nt $HERE/initramfs/ncsvm-overlay ]]; then echo "$out"; return; fi
    mkdir -p "$CACHE"
    conf=$(mktemp -d "$CACHE/irconf.XXXXXX")
    cp -r /etc/initramfs-tools/. "$conf"/
    printf '%s\n' 9p 9pnet 9pnet_virtio overlay virtio_pci virtio_net >>"$conf/modules"
    install -m 0755 "$HERE/initramfs/ncsvm-overlay" "$conf/scripts/init-bottom/ncsvm-overlay"
    log "building the guest initramfs for $kver (about 30 s, cached in $CACHE)"
    mkinitramfs -d "$conf" -o "$out.tmp" "$kver" >&2
    mv -f "$out.tmp" "$out"
    rm -rf "$conf"
    echo "$out"
}

make_netns() {
    local i
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    ip -n "$NS" addr add "$MDS_IP/32" dev lo
    for i in 0 1 2 3 4; do
        ip -n "$NS" tuntap add dev "tap$i" mode tap
        ((i > 2)) || ip -n "$NS" addr add "172.16.$((4 + i)).1/24" dev "tap$i"
        ip -n "$NS" link set "tap$i" up
    done
}

start_imds() {
    local i
    # 9>&-: no long-lived child keeps an inherited lock fd (see test/harness/realnm.sh).
    ip netns exec "$NS" setsid node "$REPO/test/harness/imds-server.mjs" --config "$STATE/imds.json" \
        --log "$STATE/imds-requests.log" --listen "$MDS_IP:80" >"$STATE/imds.out" 2>"$STATE/imds.err" 9>&- &
    for ((i = 0; i < 100; i++)); do
        grep -q '"port"' "$STATE/imds.out" 2>/dev/null && return 0
        sleep 0.1
    done
    die "metadata server did not start: $(cat "$STATE/imds.err")"
}

start_qemu() {
    local kver=$1 initrd=$2 append
    append="console=ttyS0 panic=-1 root=hostroot rootfstype=9p ro"
    append+=" rootflags=trans=virtio,version=9p2000.L,msize=262144"
    append+=" ncsvm.prepare=$HERE/guest/prepare-root.sh ncsvm.deb=$STATE/nm-cloud-setup.deb"
    ip netns exec "$NS" qemu-system-x86_64 -accel tcg -cpu max -m "${NCSVM_MEM:-1536}" \
        -smp "${NCSVM_CPUS:-2}" -nodefaults -display none -no-reboot \
        -serial "file:$STATE/serial.log" -qmp "unix:$STATE/qmp.sock,server=on,wait=off" \
        -daemonize -pidfile "$STATE/qemu.pid" \
        -kernel "/boot/vmlinuz-$kver" -initrd "$initrd" -append "$append" \
        -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
        -virtfs "local,path=$STATE/io,mount_tag=ncsvmio,security_model=none,multidevs=remap" \
        -netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
        -device virtio-net-pci,netdev=n0,mac=02:00:00:00:00:01 \
        -netdev tap,id=n1,ifname=tap1,script=no,downscript=no \
        -device virtio-net-pci,netdev=n1,mac=02:00:00:00:00:02 9>&-
}

do_up() {
    local kver initrd
    [[ -s $STATE/imds.json ]] || die "$STATE/imds.json (the metadata) must exist before up"
    ip netns list | grep -qw "$NS" && die "namespace $NS exists (another run? vm.sh down first)"
    kver=$(kernel_version)
    initrd=$(build_initrd "$kver")
    make -C "$REPO" -s deb DEB_OUT="$STATE/nm-cloud-setup.deb" >&2
    mkdir -p "$STATE/io"
    # down deletes the namespace only if this run created it (another run may own the name).
    echo "$NS" >"$STATE/netns"
    make_netns
    start_imds
    start_qemu "$kver" "$initrd"
    log "guest booting (kernel $kver); serial console: $STATE/serial.log"
}

do_down() {
    local pids i
    [[ -f $STATE/netns && $(cat "$STATE/netns") == "$NS" ]] || return 0
    if ip netns list | grep -qw "$NS"; then
        pids=$(ip netns pids "$NS" || true)
        # shellcheck disable=SC2086 # one pid per word
        [[ -z $pids ]] || kill -TERM $pids 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            [[ -z $(ip netns pids "$NS" || true) ]] && break
            sleep 0.1
        done
        pids=$(ip netns pids "$NS" || true)
        # shellcheck disable=SC2086
        [[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
        ip netns del "$NS"
    fi
    rm -f "$STATE/netns"
}

case "${1:-}" in
    up) do_up ;;
    down) do_down ;;
    *) echo "usage: vm.sh up|down" >&2; exit 2 ;;
esac
