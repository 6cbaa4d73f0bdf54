# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=sh
# The VM scenarios, sourced by agent.sh (which defines note, check, wait_for, host_do, ...).
# Each returns 0 (pass), 3 (pending) or anything else (fail) and writes what it saw to $detail.
# The metadata the host serves per step is in test/vm/metadata.ts.

MAC0=02:00:00:00:00:01
MAC1=02:00:00:00:00:02
MAC2=02:00:00:00:00:03
VNIC_MAC=02:00:00:00:00:aa
DROPINS=/etc/systemd/system/nm-cloud-setup.service.d
# "priority:address" of the rules the EC2 metadata gives NICs 0 and 1 (words, split on purpose)
EC2_RULES0="30200:172.16.4.2 30200:172.16.4.10 30200:172.16.4.11 30400:172.16.4.2 30400:172.16.4.10 30400:172.16.4.11"
EC2_RULES1="30201:172.16.5.2 30201:172.16.5.10 30401:172.16.5.2 30401:172.16.5.10"

rules_present() { # "prio:addr ..." all present in `ip rule`
    for r in "$@"; do
        has_rule "${r%%:*}" "${r#*:}" || { echo "missing rule ${r%%:*}: from ${r#*:}"; return 1; }
    done
}
# ran_since timer SECONDS: the timer fired at or after SECONDS (epoch);
# ran_since unit MICROSECONDS: the unit started after MICROSECONDS (monotonic);
# and in both cases the run is over.
ran_since() {
    [ "$(prop nm-cloud-setup.service ActiveState)" != activating ] || return 1
    case "$1" in
        timer) [ "$(last_trigger)" -ge "$2" ] 2>/dev/null ;;
        unit) [ "$(prop nm-cloud-setup.service ExecMainStartTimestampMonotonic)" -gt "$2" ] ;;
    esac
}
snap_value() { sed -n "s/^$1=//p" "$SNAP"; }
snap_has() { grep -Eq -- "$1" "$SNAP"; }

# 1. The boot run: before network-online.target, under the full hardening, kernel configured.
scenario_boot() {
    ok=0
    online=$(snap_value online_us)
    exit_us=$(snap_value exit_us)
    note "at network-online.target (+${online} us): last run exited at +${exit_us} us, result=$(snap_value result) status=$(snap_value status)"
    check "the unit ran and exited before network-online.target" \
        test "${exit_us:-0}" -gt 0 -a "${exit_us:-0}" -le "${online:-0}" || ok=1
    check "that run succeeded" test "$(snap_value result)/$(snap_value status)" = success/0 || ok=1
    for a in 172.16.4.10/24 172.16.4.11/24 172.16.5.10/24; do
        check "secondary $a in the kernel at network-online" snap_has " inet $a " || ok=1
    done
    for r in $EC2_RULES0 $EC2_RULES1; do
        check "rule ${r%%:*} from ${r#*:} at network-online" \
            snap_has "^${r%%:*}:[[:space:]]+from ${r#*:} lookup ${r%%:*}" || ok=1
    done
    check "rule 30350 at network-online" snap_has '^30350:[[:space:]]+from all lookup main suppress_prefixlength 0' || ok=1
    check "default route of table 30401 at network-online" snap_has 'default via 172.16.5.1 dev [^ ]+ table 30401' || ok=1
    check "ordering: Before=network-online.target" sh -c 'systemctl show -P Before nm-cloud-setup.service | grep -qw network-online.target' || ok=1
    check "unit from the package" test "$(prop nm-cloud-setup.service FragmentPath)" = /lib/systemd/system/nm-cloud-setup.service || ok=1
    check "EC2 enabled by the drop-in" sh -c "systemctl show -P DropInPaths nm-cloud-setup.service | grep -q $DROPINS/ec2.conf" || ok=1
    check "SystemCallFilter active, pkey_alloc allowed" sh -c 'systemctl show -P SystemCallFilter nm-cloud-setup.service | grep -qw pkey_alloc' || ok=1
    check "MemoryDenyWriteExecute=yes" test "$(prop nm-cloud-setup.service MemoryDenyWriteExecute)" = yes || ok=1
    check "journal: changes applied for provider ec2" \
        sh -c 'journalctl -b -u nm-cloud-setup.service | grep -q "some changes were applied for provider ec2"' || ok=1
    return $ok
}

# 2. The timer (shortened by a drop-in) picks up an added IP without a reboot.
scenario_timer() {
    ok=0
    nic1=$(ifname_of "$MAC1")
    before=$(last_trigger)
    mkdir -p /etc/systemd/system/nm-cloud-setup.timer.d
    printf '[Timer]\nOnBootSec=\nOnUnitActiveSec=\nOnActiveSec=5s\nOnUnitActiveSec=20s\nRandomizedDelaySec=0\nAccuracySec=1s\n' \
        >/etc/systemd/system/nm-cloud-setup.timer.d/ncsvm.conf
    host_do metadata-add-ip || return 1
    changed=$(date +%s)
    systemctl daemon-reload && systemctl restart nm-cloud-setup.timer
    # Wait for the timer's run to end, not for the outcome: a broken run fails fast.
    check "the timer fired and its run ended within 300 s" wait_for 300 ran_since timer "$changed" || ok=1
    check "172.16.5.11 on $nic1" wait_for 30 has_addr "$nic1" 172.16.5.11 || ok=1
    after=$(last_trigger)
    note "timer last fired: before @${before:-never}, now @${after:-never} (metadata changed @$changed)"
    check "the timer fired after the metadata change" test "${after:-0}" -ge "$changed" || ok=1
    check "rules for 172.16.5.11" rules_present 30201:172.16.5.11 30401:172.16.5.11 || ok=1
    check "the timer's run succeeded" service_ran_ok || ok=1
    # The later scenarios must see only their own triggers (the stock OnBootSec=5min could fire
    # in the middle of a slow run): the timer stays stopped from here on.
    rm -f /etc/systemd/system/nm-cloud-setup.timer.d/ncsvm.conf
    systemctl daemon-reload && systemctl stop nm-cloud-setup.timer
    return $ok
}

# 3. A NIC hotplugged by QMP is configured through udev -> NM -> dispatcher -> unit restart;
#    unplugging it leaves the other NICs' configuration alone.
scenario_hotplug() {
    ok=0
    trigger=$(last_trigger)
    plugged=$(awk '{ printf "%d", $1 * 1000000 }' /proc/uptime)
    host_do hotplug-add || return 1
    check "a NIC with MAC $MAC2 appears" wait_for 300 sh -c "[ -n \"\$(cd /sys/class/net && grep -l $MAC2 */address)\" ]" || return 1
    nic2=$(ifname_of "$MAC2")
    note "hotplugged NIC: $nic2 (NM: $(nmcli -g GENERAL.STATE,GENERAL.CONNECTION device show "$nic2" | tr '\n' ' '))"
    check "the unit was restarted and that run ended within 300 s" wait_for 300 ran_since unit "$plugged" || ok=1
    check "172.16.6.10 on $nic2" wait_for 30 has_addr "$nic2" 172.16.6.10 || ok=1
    check "rules for the new NIC (index 2)" wait_for 30 rules_present 30202:172.16.6.2 30202:172.16.6.10 30402:172.16.6.10 || ok=1
    check "not by the timer" test "$(last_trigger)" = "$trigger" || ok=1
    hook=$(journalctl -b -u NetworkManager-dispatcher.service -o cat | grep "pre-up" | grep "$nic2" | grep 90-nm-cloud-setup)
    note "dispatcher: $(echo "$hook" | head -n 2)"
    check "the dispatcher ran the pre-up hook for $nic2" test -n "$hook" || ok=1
    check "that run succeeded" service_ran_ok || ok=1
    host_do hotplug-del || return 1
    check "$nic2 is gone within 300 s" wait_for 300 sh -c "! test -e /sys/class/net/$nic2" || ok=1
    for a in 172.16.4.10 172.16.4.11; do check "$a kept" has_addr "$(ifname_of "$MAC0")" "$a" || ok=1; done
    for a in 172.16.5.10 172.16.5.11; do check "$a kept" has_addr "$(ifname_of "$MAC1")" "$a" || ok=1; done
    # shellcheck disable=SC2086 # the lists are split into words on purpose
    check "rules of the other NICs kept" rules_present $EC2_RULES0 $EC2_RULES1 || ok=1
    note "rules left for index 2: $(ip rule | grep -cE '^30[24]02:')"
    return $ok
}

# 4. OCI bare metal: a VLAN VNIC becomes MACVLAN (VNIC MAC) + a real 802.1Q link on the NIC.
scenario_oci() {
    ok=0
    nic0=$(ifname_of "$MAC0")
    host_do metadata-oci || return 1
    # A fresh instance: drop the EC2 runtime configuration by re-applying the saved profiles.
    nmcli device reapply "$nic0" && nmcli device reapply "$(ifname_of "$MAC1")"
    rm -f "$DROPINS/ec2.conf"
    printf '[Service]\nEnvironment=NM_CLOUD_SETUP_OCI=yes\nEnvironment=NM_CLOUD_SETUP_LOG=INFO\n' >"$DROPINS/oci.conf"
    systemctl daemon-reload
    check "nm-cloud-setup.service restarted with OCI" timeout 300 systemctl restart nm-cloud-setup.service || ok=1
    check "that run succeeded" service_ran_ok || ok=1
    # NetworkManager creates the links after the run; when the run failed, nothing is coming.
    patience=60
    [ $ok = 0 ] || patience=1
    check "a MACVLAN link with the VNIC MAC on $nic0" wait_for "$patience" sh -c \
        "ip -d -o link show type macvlan | grep -q 'link/ether $VNIC_MAC' && ip -d -o link show type macvlan | grep -q '@$nic0:'" || ok=1
    macvlan=$(ifname_of "$VNIC_MAC")
    check "an 802.1Q link, VLAN id 700, on $macvlan" wait_for "$patience" sh -c \
        "ip -d -o link show type vlan | grep '@$macvlan:' | grep -q 'vlan protocol 802.1Q id 700 '" || ok=1
    vlan=$(ip -o link show type vlan | awk -F': ' '{ print $2 }' | cut -d@ -f1 | head -n1)
    note "links: $(ip -d -o link show type macvlan | cut -c1-160) | $(ip -d -o link show type vlan | cut -c1-200)"
    check "10.70.0.5/24 on the VLAN link ${vlan:-?}" wait_for "$patience" has_addr "${vlan:-none}" 10.70.0.5/24 || ok=1
    check "policy routing for the VNIC (index 1)" wait_for "$patience" rules_present 30201:10.70.0.5 30401:10.70.0.5 || ok=1
    check "journal: changes applied for provider oci" \
        sh -c 'journalctl -b -u nm-cloud-setup.service | grep -q "some changes were applied for provider oci"' || ok=1
    return $ok
}

# 5. OpenStack through a config drive: a bond (active-backup) of two hotplugged NICs with a
#    VLAN on top, each with a static address (network_data.json), as new NetworkManager profiles.
CONFIG_DRIVE=/run/ncsvm-config-drive
BOND_MAC0=02:00:00:00:00:04
BOND_MAC1=02:00:00:00:00:05
# The config drive's two files (the metadata server is not involved).
write_config_drive() {
    mkdir -p "$CONFIG_DRIVE/openstack/latest"
    printf '{"uuid":"83679162-1378-4288-a2d4-70e13ec132aa","name":"ncsvm-guest","availability_zone":"nova"}\n' \
        >"$CONFIG_DRIVE/openstack/latest/meta_data.json"
    cat >"$CONFIG_DRIVE/openstack/latest/network_data.json" <<JSON
{
  "links": [
    {"id": "port0", "type": "phy", "ethernet_mac_address": "$BOND_MAC0", "mtu": 1500},
    {"id": "port1", "type": "phy", "ethernet_mac_address": "$BOND_MAC1", "mtu": 1500},
    {"id": "bond0", "type": "bond", "bond_links": ["port0", "port1"], "bond_mode": "active-backup",
     "bond_miimon": 100, "bond_xmit_hash_policy": "layer3+4", "ethernet_mac_address": "$BOND_MAC0", "mtu": 1500},
    {"id": "vlan42", "type": "vlan", "vlan_link": "bond0", "vlan_id": 42, "vlan_mac_address": "$BOND_MAC0"}
  ],
  "networks": [
    {"id": "net-bond", "type": "ipv4", "link": "bond0", "ip_address": "10.80.0.5", "netmask": "255.255.255.0"},
    {"id": "net-vlan", "type": "ipv4", "link": "vlan42", "ip_address": "10.42.0.5", "netmask": "255.255.255.0",
     "routes": [{"network": "10.43.0.0", "netmask": "255.255.0.0", "gateway": "10.42.0.1"}]}
  ],
  "services": []
}
JSON
}
bond_nics_present() { [ -n "$(ifname_of "$BOND_MAC0")" ] && [ -n "$(ifname_of "$BOND_MAC1")" ]; }
cloud_profiles() { nmcli -t -f NAME,TYPE connection show | grep -c '^cloud-'; }
# The run and the restarts its activations cause (the dispatcher's pre-up hook) are all over.
unit_settled() {
    [ "$(prop nm-cloud-setup.service ActiveState)" != activating ] &&
        ! systemctl list-jobs --no-legend | grep -q nm-cloud-setup.service
}
settle() { # wait until the unit has been quiet for 10 s in a row (upper bound 300 s)
    quiet=0
    n=300
    while [ $n -gt 0 ] && [ $quiet -lt 10 ]; do
        if unit_settled; then quiet=$((quiet + 1)); else quiet=0; fi
        sleep 1
        n=$((n - 1))
    done
    [ $quiet -ge 10 ]
}
scenario_openstack() {
    ok=0
    host_do openstack-nics-add || return 1
    check "NICs $BOND_MAC0 and $BOND_MAC1 appear" wait_for 300 bond_nics_present || return 1
    p0=$(ifname_of "$BOND_MAC0")
    p1=$(ifname_of "$BOND_MAC1")
    check "NetworkManager knows $p0 and $p1" wait_for 60 sh -c "nmcli -g GENERAL.STATE device show $p0 && nmcli -g GENERAL.STATE device show $p1" || ok=1
    note "NICs for the bond: $p0 $p1 (NM: $(nmcli -g GENERAL.STATE device show "$p0") / $(nmcli -g GENERAL.STATE device show "$p1"))"
    write_config_drive
    rm -f "$DROPINS/oci.conf"
    printf '[Service]\nEnvironment=NM_CLOUD_SETUP_OPENSTACK=yes\nEnvironment=NM_CLOUD_SETUP_OPENSTACK_CONFIG_DRIVE=%s\nEnvironment=NM_CLOUD_SETUP_LOG=INFO\n' \
        "$CONFIG_DRIVE" >"$DROPINS/openstack.conf"
    systemctl daemon-reload
    since=$(date +%s)
    check "nm-cloud-setup.service restarted with OpenStack (config drive)" timeout 300 systemctl restart nm-cloud-setup.service || ok=1
    check "that run succeeded" service_ran_ok || ok=1
    check "the unit settled (dispatcher restarts included) within 300 s" settle || ok=1
    patience=60
    [ $ok = 0 ] || patience=1
    check "a bond, mode active-backup, miimon 100" wait_for "$patience" sh -c \
        "ip -d -o link show dev bond0 | grep -q 'bond mode active-backup .*miimon 100 '" || ok=1
    for p in "$p0" "$p1"; do
        check "$p enslaved to bond0" wait_for "$patience" sh -c "ip -o link show dev $p | grep -q ' master bond0 '" || ok=1
    done
    check "10.80.0.5/24 on bond0" wait_for "$patience" has_addr bond0 10.80.0.5/24 || ok=1
    check "an 802.1Q link, VLAN id 42, on bond0" wait_for "$patience" sh -c \
        "ip -d -o link show type vlan | grep '@bond0:' | grep -q 'vlan protocol 802.1Q id 42 '" || ok=1
    vlan=$(ip -o link show type vlan | grep '@bond0:' | awk -F': ' '{ print $2 }' | cut -d@ -f1 | head -n1)
    check "10.42.0.5/24 on the VLAN link ${vlan:-?}" wait_for "$patience" has_addr "${vlan:-none}" 10.42.0.5/24 || ok=1
    check "route 10.43.0.0/16 via 10.42.0.1 on ${vlan:-?}" sh -c "ip route show 10.43.0.0/16 | grep -q 'via 10.42.0.1 dev ${vlan:-none} '" || ok=1
    # The interesting parts of `ip -d link` (its lines are long).
    note "ip -d link: $(ip -d -o link show dev bond0 | cut -d' ' -f1-3) ... $(ip -d -o link show dev bond0 | grep -o 'link/ether [^ ]*') ... $(ip -d -o link show dev bond0 | grep -o 'bond mode .* miimon [0-9]*')"
    for p in "$p0" "$p1"; do
        note "ip -d link: $(ip -d -o link show dev "$p" | grep -o '^[0-9]*: [^ ]* .* master bond0 state [A-Z]*') ... $(ip -d -o link show dev "$p" | grep -o 'bond_slave state [A-Z]* mii_status [A-Z]*')"
    done
    note "ip -d link: $(ip -d -o link show type vlan | grep '@bond0:' | cut -d' ' -f1-3) ... $(ip -d -o link show type vlan | grep '@bond0:' | grep -o 'vlan protocol 802.1Q id [0-9]*')"
    note "ip addr: $(ip -o -4 addr show | grep -E 'bond0' | awk '{ print $2, $4 }' | tr '\n' ' ')"
    # xmit_hash_policy means nothing in active-backup: what NetworkManager does with it (the
    # provider passes it on as given) is only noted.
    note "bond.options of cloud-bond0: $(nmcli -g bond.options connection show cloud-bond0); kernel xmit_hash_policy: $(cat /sys/class/net/bond0/bonding/xmit_hash_policy 2>&1)"
    note "bonding: $(grep -E '^(Bonding Mode|Currently Active Slave|MII Polling Interval)' /proc/net/bonding/bond0 2>&1 | tr '\n' ';')"
    profiles=$(nmcli -t -f NAME,TYPE,DEVICE connection show)
    note "nmcli: $(echo "$profiles" | tr '\n' ' ')"
    for want in cloud-bond0:bond cloud-port0:802-3-ethernet cloud-port1:802-3-ethernet; do
        check "profile $want" sh -c "nmcli -t -f NAME,TYPE connection show | grep -qx '$want'" || ok=1
    done
    check "profile cloud-vlan42:vlan" sh -c "nmcli -t -f NAME,TYPE connection show | grep -qx cloud-vlan42:vlan" || ok=1
    check "every profile on the bond's NICs is the tool's" sh -c \
        "nmcli -t -f NAME,DEVICE connection show --active | grep -E ':($p0|$p1|bond0|bond0\\.42)\$' | grep -qv '^cloud-' && exit 1 || exit 0" || ok=1
    count=$(cloud_profiles)
    total=$(nmcli -t -f UUID connection show | wc -l)
    check "second run: restarted" timeout 300 systemctl restart nm-cloud-setup.service || ok=1
    check "second run succeeded" service_ran_ok || ok=1
    check "second run settled" settle || ok=1
    note "profiles: cloud-* $count -> $(cloud_profiles), all $total -> $(nmcli -t -f UUID connection show | wc -l)"
    check "the second run created nothing (same profile count)" test "$count/$total" = "$(cloud_profiles)/$(nmcli -t -f UUID connection show | wc -l)" || ok=1
    check "the bond kept both ports" sh -c "ip -o link show master bond0 | grep -c . | grep -qx 2" || ok=1
    check "journal: changes applied for provider openstack" sh -c \
        "journalctl -b -u nm-cloud-setup.service | grep -q 'some changes were applied for provider openstack'" || ok=1
    note "journal since the restart: $(journalctl -u nm-cloud-setup.service -o cat --since "@$since" |
        grep -E 'config link|get-config|warn|fail|rror|changes' | head -n 40 | tr '\n' '|')"
    return $ok
}

# 6. Hardening: systemd's exposure score, and no seccomp (SIGSYS) or W^X (SIGTRAP) kill.
scenario_hardening() {
    ok=0
    systemd-analyze security --no-pager nm-cloud-setup.service >"$IO/security.txt" 2>&1
    score=$(sed -n 's/.*Overall exposure level for nm-cloud-setup.service: *//p' "$IO/security.txt")
    note "systemd-analyze security: ${score:-none}"
    check "an exposure score" test -n "$score" || ok=1
    runs=$(journalctl -b -u nm-cloud-setup.service -o cat | grep -c 'Deactivated successfully\|Finished nm-cloud-setup')
    note "runs this boot: $runs"
    check "no seccomp (SIGSYS) or W^X (SIGTRAP) kill, no core dump" sh -c \
        "! journalctl -b -u nm-cloud-setup.service -o cat | grep -E 'status=31/SYS|status=5/TRAP|SIGSYS|SIGTRAP|core-dump'" || ok=1
    check "no seccomp audit records (type=1326)" sh -c "! journalctl -b -k -o cat | grep -E 'type=1326|seccomp'" || ok=1
    check "the last run succeeded" test "$(prop nm-cloud-setup.service Result)" = success || ok=1
    # Not a hardening kill: the dispatcher's `systemctl restart` stops a run that is still
    # starting, and node dies of SIGTERM before the tool's handler is installed.
    note "runs stopped by SIGTERM (restarts while starting): $(journalctl -b -u nm-cloud-setup.service -o cat | grep -c 'status=15/TERM')"
    return $ok
}
