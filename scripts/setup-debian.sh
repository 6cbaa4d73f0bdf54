#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Prepares a fresh Debian machine (as root) to build, run and test nm-cloud-setup:
# Debian packages, then the npm packages pinned in package-lock.json, then the bundle.
set -eu
cd "$(dirname "$0")/.."

# systemd-container: systemd-nspawn, for the tests that boot the units under systemd as PID 1.
# qemu-system-x86, linux-image-amd64 (its postinst builds an initramfs, so initramfs-tools) and
# lintian are for the VM layer (test/vm) and the package check (make deb).
packages="nodejs npm network-manager dbus-daemon iproute2 dnsmasq-base curl python3 systemd systemd-container util-linux make shellcheck groff-base qemu-system-x86 linux-image-amd64 initramfs-tools lintian"
missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# node may come from elsewhere (e.g. NodeSource); only ask apt for it when there is none.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    missing=$(echo "$missing" | tr ' ' '\n' | grep -vx -e nodejs -e npm | tr '\n' ' ')
fi
if [ -n "$(echo "$missing" | tr -d ' ')" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
fi

npm ci --no-audit --no-fund
npm run build
