#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The VM guest's side of the VM test layer (test/vm/README.md); runs only inside the guest.
#   agent.sh snapshot   (ncsvm-online-probe.service, ordered right after network-online.target)
#                       records the unit's last run and the kernel's addresses and rules
#   agent.sh run        (ncsvm-agent.service) runs every scenario once, then powers off
# Results go to the read-write 9p share "ncsvmio": result.NAME (status, seconds), detail.NAME
# (what was checked and seen). When the host has to act (new metadata, QMP hotplug), the agent
# writes req.ACTION and waits for the host driver's ack.ACTION.
set -u

IO=/run/ncsvm-io
SNAP=/run/ncsvm/online.txt
detail=/dev/null

note() { printf '%s\n' "$*" >>"$detail"; }
check() { # description command...: run the command, note the outcome, return its status
    what=$1
    shift
    if "$@" >>"$detail" 2>&1; then note "ok: $what"; else note "FAILED: $what"; return 1; fi
}
# When the timer last fired, in seconds since the epoch (LastTriggerUSecMonotonic stays 0 here).
last_trigger() {
    when=$(systemctl show -P LastTriggerUSec nm-cloud-setup.timer)
    case "$when" in "" | n/a) ;; *) date -d "$when" +%s ;; esac
}
prop() { systemctl show -P "$2" "$1"; }
ifname_of() { # MAC -> interface name (empty when absent)
    for d in /sys/class/net/*; do
        [ "$(cat "$d/address" 2>/dev/null)" = "$1" ] && basename "$d" && return 0
    done
    return 0
}
wait_for() { # seconds command...: poll once a second
    n=$1
    shift
    while [ "$n" -gt 0 ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 1
        n=$((n - 1))
    done
    "$@"
}
host_do() { # action: ask the host driver to act, wait for its ack
    : >"$IO/req.$1"
    wait_for 300 test -e "$IO/ack.$1" || { note "host did not ack $1"; return 1; }
    note "host: $(cat "$IO/ack.$1")"
    ! grep -q '^ERROR' "$IO/ack.$1"
}
has_addr() { ip -4 -o addr show dev "$1" | grep -Eq " inet $2(/| )"; }
has_rule() { ip rule | grep -Eq "^$1:[[:space:]]+from $2 lookup $1( |$)"; }
service_ran_ok() { [ "$(prop nm-cloud-setup.service Result)" = success ] && [ "$(prop nm-cloud-setup.service ExecMainStatus)" = 0 ]; }

snapshot() {
    mkdir -p /run/ncsvm
    {
        echo "online_us=$(systemctl show -P ActiveEnterTimestampMonotonic network-online.target)"
        echo "exit_us=$(prop nm-cloud-setup.service ExecMainExitTimestampMonotonic)"
        echo "start_us=$(prop nm-cloud-setup.service ExecMainStartTimestampMonotonic)"
        echo "result=$(prop nm-cloud-setup.service Result)"
        echo "status=$(prop nm-cloud-setup.service ExecMainStatus)"
        echo '--- ip -4 addr'
        ip -4 -o addr
        echo '--- ip rule'
        ip rule
        echo '--- ip route show table all (30200-30499)'
        ip route show table all | grep -E 'table 30[2-4][0-9]{2}'
    } >"$SNAP.tmp" 2>&1
    mv "$SNAP.tmp" "$SNAP"
}

# shellcheck source-path=SCRIPTDIR source=scenarios.sh
. "$(dirname "$0")/scenarios.sh"

run_one() { # name function
    detail=$IO/detail.$1
    : >"$detail"
    # (sh has no locals: these names must not clash with the scenarios')
    run_started=$(date +%s.%N)
    "$2"
    rc=$?
    case $rc in 0) status=pass ;; 3) status=pending ;; *) status=fail ;; esac
    printf 'status=%s\nseconds=%s\n' "$status" "$(echo "$(date +%s.%N) $run_started" | awk '{ printf "%.1f", $1 - $2 }')" \
        >"$IO/result.$1"
    echo "ncsvm-agent: scenario $1: $status"
}

run_all() {
    mkdir -p "$IO"
    mount -t 9p -o trans=virtio,version=9p2000.L ncsvmio "$IO" || exit 1
    : >"$IO/booted"
    # systemd-analyze time needs a finished boot, and this agent is part of it.
    for t in network-online.target multi-user.target; do
        echo "$t $(systemctl show -P ActiveEnterTimestampMonotonic "$t")"
    done >"$IO/boot-time.txt"
    cp "$SNAP" "$IO/online-snapshot.txt"
    run_one boot scenario_boot
    run_one timer scenario_timer
    run_one hotplug scenario_hotplug
    run_one oci-bare-metal-vlan scenario_oci
    run_one openstack-bond-vlan scenario_openstack
    run_one hardening scenario_hardening
    journalctl -b -u nm-cloud-setup.service -o short-monotonic --no-pager >"$IO/journal-nm-cloud-setup.txt"
    journalctl -b -o short-monotonic --no-pager >"$IO/journal.txt"
    : >"$IO/done"
    sync
    systemctl poweroff
}

case "${1:-}" in
    snapshot) snapshot ;;
    run) run_all ;;
    *) echo "usage: agent.sh snapshot|run" >&2; exit 2 ;;
esac
