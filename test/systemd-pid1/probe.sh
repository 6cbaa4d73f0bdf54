#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs inside the container, under systemd as PID 1, as probe.service: once network-online.target
# is reached and nm-cloud-setup.service's boot job is done. Writes what the tests read to /out;
# the unit's SuccessAction=/FailureAction= then power the container off.
#   probe.sh [timer] [dispatcher] [early_term]   after the boot snapshot, these scenarios in order
# Waits are bounded (the unit's TimeoutStartSec= bounds the whole probe), never wall-time checks.
set -u
OUT=/out
UNIT=nm-cloud-setup.service

# key=value lines of `systemctl show`; the tests parse them.
show() { file=$1; shift; systemctl show "$@" >"$OUT/$file.txt"; }

kernel() { # $1 = file prefix: the IPv4 state the tool configures
    ip -j -4 addr show >"$OUT/$1-addr.json"
    ip -j -4 rule show >"$OUT/$1-rules.json"
    for table in 30200 30201 30400 30401; do
        ip -j -4 route show table "$table" >"$OUT/$1-table-$table.json" 2>/dev/null || echo '[]' >"$OUT/$1-table-$table.json"
    done
}

settled() { # the unit is neither starting nor running
    case $(systemctl show -P ActiveState "$UNIT") in inactive | failed) return 0 ;; esac
    return 1
}

wait_for() { # $1 = what; rest = command; gives up after 60 s and says so in /out/errors
    what=$1; shift
    i=0
    until "$@"; do
        i=$((i + 1))
        [ "$i" -lt 600 ] || { echo "timed out waiting for $what" >>"$OUT/errors"; return 1; }
        sleep 0.1
    done
}

usec() { # $1 = unit suffix, $2 = interface, $3 = property: the raw value of a `t` property
    busctl get-property org.freedesktop.systemd1 "/org/freedesktop/systemd1/unit/nm_2dcloud_2dsetup_2e$1" \
        "org.freedesktop.systemd1.$2" "$3" | sed 's/^t //'
}

timer_fired() { [ "$(usec timer Timer LastTriggerUSecMonotonic)" != 0 ]; }

timer() { # the timer (shortened by a drop-in) elapses and starts the unit; then it is stopped
    wait_for "the timer to elapse" timer_fired && wait_for "the timer's run" settled
    show timer nm-cloud-setup.timer -p LoadState -p ActiveState -p Result -p Triggers
    show timer-service "$UNIT" -p Result -p ExecMainStatus
    # Raw microseconds (systemctl show prints the trigger as a rounded time span).
    {
        echo "trigger=$(usec timer Timer LastTriggerUSecMonotonic)"
        echo "start=$(usec service Service ExecMainStartTimestampMonotonic)"
    } >"$OUT/timer-stamps.txt"
    systemctl stop nm-cloud-setup.timer
}

dispatcher() { # re-activating eth1 runs the pre-up hook, which restarts the unit
    wait_for "the unit to settle" settled
    show dispatcher-before "$UNIT" -p InvocationID
    nmcli --wait 30 connection up eth1 >"$OUT/dispatcher-nmcli.txt" 2>&1
    echo "exit $?" >>"$OUT/dispatcher-nmcli.txt"
    wait_for "the hook's run" settled
    show dispatcher-after "$UNIT" -p InvocationID -p Result -p ExecMainStatus
    kernel dispatcher
}

main_pid() { [ "$(systemctl show -P MainPID "$UNIT")" != 0 ]; }

early_term() { # SIGTERM while node is starting, before its handler: what the hook's restart does
    attempt=0
    while [ "$attempt" -lt 10 ]; do
        attempt=$((attempt + 1))
        wait_for "the unit to settle" settled
        systemctl start --no-block "$UNIT"
        spins=0   # no sleep between the checks: node must not get to its handler meanwhile
        until main_pid || [ "$spins" -ge 1000 ]; do spins=$((spins + 1)); done
        systemctl kill --signal=SIGTERM "$UNIT"
        wait_for "the killed run" settled
        # ExecMainCode 2 (killed by the signal): it came before the handler. Else try again.
        [ "$(systemctl show -P ExecMainCode "$UNIT")" = 2 ] && break
    done
    show early-term "$UNIT" -p Result -p ExecMainCode -p ExecMainStatus
}

# The pre-up hook restarts the unit once per device while NetworkManager brings them up, and the
# last restart can still be running when this probe starts: describe the unit once it is idle.
wait_for "the boot's runs to settle" settled
show boot-service "$UNIT" -p LoadState -p Result -p ExecMainCode -p ExecMainStatus
show boot-online network-online.target -p ActiveState
# systemd's own grading of the unit as loaded (drop-ins included), not the offline one.
systemd-analyze security --no-pager "$UNIT" >"$OUT/security.txt" 2>&1
kernel boot
for scenario in "$@"; do "$scenario"; done

journalctl -b -o json --no-pager >"$OUT/journal.json"
journalctl -b -u "$UNIT" -o short-monotonic --no-pager >"$OUT/unit-journal.txt"
touch "$OUT/done"
