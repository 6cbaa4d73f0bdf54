#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# NetworkManager dispatcher hook. Installed as upstream does: the file in dispatcher.d/pre-up.d/,
# a no-wait.d/ symlink to it, and a dispatcher.d/ symlink to that (see Makefile).
#
# Only acts when the service is enabled: installing the package must not change the network.

case "$2" in
    pre-up)
        # Blocking: the device does not come up (and network-online is not reached) before
        # nm-cloud-setup has configured it.
        if systemctl -q is-enabled nm-cloud-setup.service; then
            exec systemctl restart nm-cloud-setup.service
        fi
        ;;
    dhcp4-change|dhcp6-change)
        # A new lease may come with new addresses; react without stalling the dispatcher.
        # dhcp6-change is ours, not upstream's: the tool only configures IPv4 today, but a
        # renumbered IPv6 lease on a dual-stack NIC is also when clouds change metadata.
        if systemctl -q is-enabled nm-cloud-setup.service; then
            exec systemctl --no-block restart nm-cloud-setup.service
        fi
        ;;
esac
exit 0
