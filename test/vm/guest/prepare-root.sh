#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs in the VM guest before systemd starts (chroot into the overlaid root, from the initramfs
# script test/vm/initramfs/ncsvm-overlay), as an image build would: installs the .deb with the
# guest's dpkg, enables the unit as an admin would, and writes the guest's configuration.
# Never runs on the host: everything it writes lands in the guest's tmpfs overlay.
set -eu
# The guest's scripts are copied into the root: the checkout may live under a directory the
# booted guest hides (a clone under /tmp, which the guest mounts its own /tmp over).
here=/usr/local/lib/ncsvm
mkdir -p "$here"
cp "$(dirname "$0")/agent.sh" "$(dirname "$0")/scenarios.sh" "$here/"
deb=""
# shellcheck disable=SC2013 # the command line is split into words on purpose
for arg in $(cat /proc/cmdline); do
    case "$arg" in ncsvm.deb=*) deb=${arg#ncsvm.deb=} ;; esac
done
log() { echo "ncsvm-prepare: $*" >/dev/console; }

# Host services that mean nothing in the guest (or would try to reach the Internet: timesyncd).
for unit in postgresql.service e2scrub_reap.service systemd-timesyncd.service apt-daily.timer \
    apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer man-db.timer \
    getty@tty1.service; do
    ln -sf /dev/null "/etc/systemd/system/$unit"
done
echo ncsvm-guest >/etc/hostname

# NetworkManager: keyfiles only (the host's ifupdown plugin is not wanted), one static profile
# per NIC matched by its permanent MAC (interface names depend on the PCI slot).
cat >/etc/NetworkManager/conf.d/90-ncsvm.conf <<'CONF'
[main]
plugins=keyfile
no-auto-default=*
dns=none
CONF
profile() { # name mac address [gateway]
    f=/etc/NetworkManager/system-connections/$1.nmconnection
    {
        printf '[connection]\nid=%s\ntype=ethernet\nautoconnect=true\n\n' "$1"
        printf '[ethernet]\nmac-address=%s\n\n[ipv4]\nmethod=manual\naddress1=%s%s\n' "$2" "$3" "${4:+,$4}"
        [ -n "${4:-}" ] || printf 'never-default=true\n'
        printf '\n[ipv6]\nmethod=disabled\n'
    } >"$f"
    chmod 0600 "$f"
}
profile nic0 02:00:00:00:00:01 172.16.4.2/24 172.16.4.1
profile nic1 02:00:00:00:00:02 172.16.5.2/24
profile nic2 02:00:00:00:00:03 172.16.6.2/24
# What systemd's 50-default.conf sets on a Debian host (this image lacks it); NetworkManager's
# Reapply relies on promote_secondaries (see test/harness/realnm.sh).
printf 'net.ipv4.conf.default.promote_secondaries = 1\nnet.ipv4.conf.all.promote_secondaries = 1\n' \
    >/etc/sysctl.d/50-ncsvm.conf

# The package, installed and enabled as an admin would: the EC2 provider through a drop-in.
log "installing $deb"
# man-db would re-index every manual page over 9p (minutes under TCG): what its debconf
# question man-db/auto-update=false does.
rm -f /var/lib/man-db/auto-update
dpkg -i "$deb" >/dev/console 2>&1
mkdir -p /etc/systemd/system/nm-cloud-setup.service.d
printf '[Service]\nEnvironment=NM_CLOUD_SETUP_EC2=yes\nEnvironment=NM_CLOUD_SETUP_LOG=INFO\n' \
    >/etc/systemd/system/nm-cloud-setup.service.d/ec2.conf
systemctl enable nm-cloud-setup.service nm-cloud-setup.timer >/dev/console 2>&1

# The dispatcher logs each script it runs (logging only): the hotplug scenario checks that the
# pre-up hook ran for the new NIC.
mkdir -p /etc/systemd/system/NetworkManager-dispatcher.service.d
printf '[Service]\nEnvironment=NM_DISPATCHER_DEBUG_LOG=1\n' \
    >/etc/systemd/system/NetworkManager-dispatcher.service.d/ncsvm-debug.conf

# The test agent: a snapshot the moment network-online.target is reached, then the scenarios.
cat >/etc/systemd/system/ncsvm-online-probe.service <<UNIT
[Unit]
Description=VM test: kernel state when network-online.target is reached
Wants=network-online.target
After=network-online.target
[Service]
Type=oneshot
ExecStart=/bin/sh $here/agent.sh snapshot
UNIT
cat >/etc/systemd/system/ncsvm-agent.service <<UNIT
[Unit]
Description=VM test: scenarios
Wants=ncsvm-online-probe.service
After=ncsvm-online-probe.service multi-user.target
[Service]
Type=oneshot
ExecStart=/bin/sh $here/agent.sh run
StandardOutput=journal+console
UNIT
mkdir -p /etc/systemd/system/multi-user.target.wants
ln -sf ../ncsvm-agent.service /etc/systemd/system/multi-user.target.wants/ncsvm-agent.service
log "root prepared"
