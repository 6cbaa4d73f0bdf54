#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# NetworkManager dispatcher hook (upstream's, unchanged). Installed in dispatcher.d/pre-up.d/,
# with a no-wait.d/ symlink to it and a dispatcher.d/ symlink to that.

case "$2" in
    pre-up)
        # Blocking: the device does not come up (and network-online is not reached) before
        # nm-cloud-setup has configured it.
        if systemctl -q is-enabled nm-cloud-setup.service; then
            exec systemctl restart nm-cloud-setup.service
        fi
        ;;
    dhcp4-change)
        # A new lease may change addresses; react without stalling the dispatcher.
        if systemctl -q is-enabled nm-cloud-setup.service; then
            exec systemctl --no-block restart nm-cloud-setup.service
        fi
        ;;
esac
exit 0
