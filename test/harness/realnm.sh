#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# test/harness/realnm.sh - a REAL NetworkManager + a private dbus-daemon + the real kernel,
# isolated in network namespaces, for end-to-end tests of nm-cloud-setup.
# (Project copy of the team's realnm tool; test/harness/realnm.ts wraps it for vitest.)
# Needs root, iproute2, util-linux (unshare, setsid, flock), Debian's network-manager and
# dbus-daemon; python3 only for the default metadata server (REALNM_HTTP=1); dnsmasq-base
# only for REALNM_IPV4=dhcp; python3 also for REALNM_RA=1 (ra-sender.py beside this script).  Our tests run with REALNM_HTTP=0 and start
# test/harness/imds-server.mjs via `cloud-exec` instead.
#
#   realnm.sh up                 build everything (no-op if already healthy with the same
#                                knobs; use `restart` for a guaranteed-fresh NM state);
#                                prints `export VAR=...` lines on stdout, so
#                                `eval "$(realnm.sh up)"` works; progress on stderr
#   realnm.sh exec CMD...        run CMD in the NM netns, DBUS_SYSTEM_BUS_ADDRESS set,
#                                host's /run/dbus hidden (CMD replaces the script: its pid
#                                is this script's pid, so signals reach it directly)
#   realnm.sh cloud-exec CMD...  run CMD in the "cloud" netns (owns 169.254.169.254)
#   realnm.sh env                print the export lines again
#   realnm.sh status             exit 0 if healthy (with the same knobs as the last `up`,
#                                e.g. REALNM_HTTP=0 too if `up` had it)
#   realnm.sh down               tear everything down (idempotent)
#   realnm.sh restart            down + up
#
# Topology (N = REALNM_NICS, default 2; i = 0..N-1):
#   netns $NAME-nm:    lo, eth$i (veth, MAC 02:00:00:00:00:<i+1>), NetworkManager,
#                      dbus-daemon; profile "eth$i" = 172.16.(4+i).2/24 (static or DHCP),
#                      default route only via eth0 (gw 172.16.4.1)
#   netns $NAME-cloud: c$i = 172.16.(4+i).1/24 (peer of eth$i), lo has 169.254.169.254/32,
#                      python3 http.server on 169.254.169.254:80 (REALNM_HTTP=0: none),
#                      dnsmasq DHCP if REALNM_IPV4=dhcp; with REALNM_RA=1 a router
#                      advertising itself (no prefix) on every c$i (ra-sender.py), so NM
#                      learns a default router fe80::... on eth$i; with REALNM_DHCP6=1 c$i also has
#                      fd00:16:(4+i)::1/64 and dnsmasq serves fd00:16:(4+i)::2 by DHCPv6 (RAs with
#                      the M flag, as EC2's subnets do).  No forwarding, no link to host.
# Nothing is created in, or routed to, the root network namespace.  Several instances
# with different REALNM_NAME run side by side (own netns pair, state dir, bus, lock).
#
# Env knobs: REALNM_NAME (realnm)  REALNM_STATE_DIR (${TMPDIR:-/tmp}/realnm-state/$NAME)
#   REALNM_NICS (2, max 99)  REALNM_IPV4 (static|dhcp)  REALNM_IPV6 (disabled|auto)
#   REALNM_RA (0; 1: router advertisements on c$i, needs REALNM_IPV6=auto)  REALNM_HTTP (1)  REALNM_WWW (dir to serve)
#   REALNM_DHCP6 (0; 1: DHCPv6 and managed RAs from dnsmasq, needs REALNM_IPV6=auto and REALNM_RA=0)
#   REALNM_NM_LOGLEVEL (INFO)  REALNM_TIMEOUT (30 s)  REALNM_KEEP_ON_FAIL (0)
#   REALNM_SYSTEMD_SYSCTLS (1: promote_secondaries=1, rp_filter=2 in the NM netns, as
#   systemd's 50-default.conf does on a real host)
#   REALNM_NM (1; 0: namespaces, veths, profiles and the cloud side only -- no dbus-daemon and
#   no NetworkManager, for a NetworkManager that joins $NAME-nm from elsewhere, e.g. a
#   systemd-nspawn container booting systemd; the veths stay down until that NM takes them)
set -euo pipefail

NAME=${REALNM_NAME:-realnm}
[[ $NAME =~ ^[A-Za-z0-9_-]{1,20}$ ]] || { echo "bad REALNM_NAME" >&2; exit 2; }
NS=$NAME-nm
CNS=$NAME-cloud
STATE=${REALNM_STATE_DIR:-${TMPDIR:-/tmp}/realnm-state/$NAME}
[[ $STATE == /?*/?* && $STATE != *..* && ${#STATE} -le 80 ]] || { echo "bad REALNM_STATE_DIR (absolute, >=2 levels, <=80 chars)" >&2; exit 2; }
BUS_SOCK=$STATE/bus.sock
BUS=unix:path=$BUS_SOCK
NICS=${REALNM_NICS:-2}
IPV4=${REALNM_IPV4:-static}
IPV6=${REALNM_IPV6:-disabled}
RA=${REALNM_RA:-0}
DHCP6=${REALNM_DHCP6:-0}
HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HTTP=${REALNM_HTTP:-1}
WWW=${REALNM_WWW:-$STATE/www}
LOGLEVEL=${REALNM_NM_LOGLEVEL:-INFO}
WITH_NM=${REALNM_NM:-1}
TIMEOUT=${REALNM_TIMEOUT:-30}
MDS_IP=169.254.169.254
[[ $NICS =~ ^[1-9][0-9]?$ ]] || { echo "bad REALNM_NICS (1..99)" >&2; exit 2; }
[[ $IPV4 == static || $IPV4 == dhcp ]] || { echo "bad REALNM_IPV4 (static|dhcp)" >&2; exit 2; }
[[ $IPV6 == disabled || $IPV6 == auto ]] || { echo "bad REALNM_IPV6 (disabled|auto)" >&2; exit 2; }
[[ $RA == 0 || ($RA == 1 && $IPV6 == auto) ]] || { echo "bad REALNM_RA (0|1; 1 needs REALNM_IPV6=auto)" >&2; exit 2; }
[[ $DHCP6 == 0 || ($DHCP6 == 1 && $IPV6 == auto && $RA == 0) ]] || { echo "bad REALNM_DHCP6 (0|1; 1 needs REALNM_IPV6=auto, REALNM_RA=0)" >&2; exit 2; }
[[ $HTTP == 0 || $HTTP == 1 ]] || { echo "bad REALNM_HTTP (0|1)" >&2; exit 2; }
[[ $WITH_NM == 0 || $WITH_NM == 1 ]] || { echo "bad REALNM_NM (0|1)" >&2; exit 2; }
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

fingerprint() { echo "nics=$NICS ipv4=$IPV4 ipv6=$IPV6 ra=$RA dhcp6=$DHCP6 http=$HTTP www=$WWW sysctls=${REALNM_SYSTEMD_SYSCTLS:-1} log=$LOGLEVEL nm=$WITH_NM"; }
log() { echo "realnm[$NAME]: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
mac_of() { printf '02:00:00:00:00:%02x' $(($1 + 1)); }
net_of() { echo "172.16.$((4 + $1))"; }
ns_exists() { [[ -e /run/netns/$1 ]]; }
now() { date +%s.%N; }

print_env() {
  echo "export DBUS_SYSTEM_BUS_ADDRESS=$BUS"
  echo "export REALNM_NETNS=$NS"
  echo "export REALNM_CLOUD_NETNS=$CNS"
  echo "export REALNM_STATE_DIR=$STATE"
  local i macs=""
  for ((i = 0; i < NICS; i++)); do macs+="${macs:+,}eth$i=$(mac_of $i)"; done
  echo "export REALNM_MACS=$macs"
}

# run in the NM netns with the private bus; the host's /run/dbus is hidden by a
# tmpfs in the (private, slave) mount namespace `ip netns exec` creates anyway.
NM_WRAP=(/bin/sh -c '[ -d /run/dbus ] && mount -n -t tmpfs -o size=64k tmpfs /run/dbus; exec "$@"' realnm
  env DBUS_SYSTEM_BUS_ADDRESS="$BUS" REALNM_NETNS="$NS" REALNM_CLOUD_NETNS="$CNS")
in_nm() { ip netns exec "$NS" "${NM_WRAP[@]}" "$@"; }
in_cloud() { ip netns exec "$CNS" "$@"; }

dev_connected() { [[ $(in_nm nmcli -g GENERAL.STATE device show "$1" 2>/dev/null) == "100 (connected)" ]]; }

nm_running() { ns_exists "$NS" && for p in $(ip netns pids "$NS" 2>/dev/null); do [[ $(cat /proc/$p/comm 2>/dev/null) == NetworkManager ]] && return 0; done; return 1; }

healthy() {
  ns_exists "$NS" && ns_exists "$CNS" || return 1
  [[ $(cat "$STATE/config" 2>/dev/null) == "$(fingerprint)" ]] || return 1   # same knobs as last up
  [[ $WITH_NM == 1 ]] || return 0   # someone else's NetworkManager: nothing more to check
  nm_running && [[ -S $BUS_SOCK ]] || return 1
  local i
  for ((i = 0; i < NICS; i++)); do
    dev_connected "eth$i" || return 1
  done
}

kill_ns_procs() { # $1 = netns; TERM, wait, KILL. Only processes inside OUR netns.
  local ns=$1 pids p i
  pids=$(ip netns pids "$ns" 2>/dev/null || true)
  [[ -n $pids ]] || return 0
  kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [[ -z $pids ]] && return 0
    sleep 0.1
  done
  log "killing stubborn pids in $ns: $pids"
  kill -KILL $pids 2>/dev/null || true
  sleep 0.2
}

do_down() {
  local ns
  for ns in "$NS" "$CNS"; do
    if ns_exists "$ns"; then
      kill_ns_procs "$ns"
      ip netns del "$ns" 2>/dev/null || true   # veths die with their netns
    fi
  done
  if [[ -f $STATE/.realnm-state ]]; then   # only ever delete a dir we created
    rm -rf "$STATE.logs"; mkdir -p "$STATE.logs"
    cp -f "$STATE"/*.log "$STATE.logs/" 2>/dev/null || true
    rm -rf "$STATE"
  fi
  return 0
}

write_files() {
  mkdir -p "$STATE"/{system-connections,conf.d,sysconf.d}
  touch "$STATE/.realnm-state"
  fingerprint >"$STATE/config"
  chmod 700 "$STATE/system-connections"
  cat >"$STATE/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$BUS_SOCK</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
EOF
  cat >"$STATE/NetworkManager.conf" <<EOF
[main]
plugins=keyfile
auth-polkit=false
no-auto-default=*
dhcp=internal
dns=none
rc-manager=unmanaged
hostname-mode=none
systemd-resolved=false

[keyfile]
path=$STATE/system-connections

[logging]
level=$LOGLEVEL

# Not what makes devices managed (the read-only /sys is); harmless belt and braces.
[device-realnm]
match-device=interface-name:eth*
managed=1
EOF
  local i net f
  for ((i = 0; i < NICS; i++)); do
    net=$(net_of $i); f=$STATE/system-connections/eth$i.nmconnection
    {
      echo "[connection]"; echo "id=eth$i"; echo "uuid=$(cat /proc/sys/kernel/random/uuid)"
      echo "type=ethernet"; echo "interface-name=eth$i"; echo "autoconnect=true"; echo
      echo "[ethernet]"; echo "mac-address=$(mac_of $i)"; echo
      echo "[ipv4]"
      if [[ $IPV4 == dhcp ]]; then echo "method=auto"; else
        echo "method=manual"; echo "address1=$net.2/24"
        ((i == 0)) && echo "gateway=$net.1"
      fi
      ((i == 0)) || echo "never-default=true"
      echo; echo "[ipv6]"
      # auto: as clouds do (RA/DHCPv6; none answers here), the addresses come from the tool.
      # Not manual: NetworkManager 1.42 drops a manual profile's IPv6 addresses on a Reapply
      # with preserve-external-ip (docs/differences-from-upstream.md).
      if [[ $IPV6 == auto ]]; then echo "method=auto"; echo "addr-gen-mode=eui64"; echo "may-fail=true"
      else echo "method=disabled"; fi
    } >"$f"
    chmod 600 "$f"
  done
  if [[ $HTTP == 1 && -z ${REALNM_WWW:-} ]]; then   # tiny EC2-flavoured default tree
    local md=$WWW/latest/meta-data mac
    mkdir -p "$md"
    printf 'mac\nnetwork/\n' >"$md/index.html"
    printf '%s' "$(mac_of 0)" >"$md/mac"
    for ((i = 0; i < NICS; i++)); do
      mac=$(mac_of $i); mkdir -p "$md/network/interfaces/macs/$mac"
      printf '%s' "$(net_of $i).2" >"$md/network/interfaces/macs/$mac/local-ipv4s"
      printf '%s' "$(net_of $i).0/24" >"$md/network/interfaces/macs/$mac/subnet-ipv4-cidr-block"
    done
  fi
}

wait_for() { # $1 = description; rest = command; polls until TIMEOUT
  local what=$1; shift
  local end=$(($(date +%s) + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    (($(date +%s) < end)) || die "timeout waiting for $what (see $STATE/*.log)"
    sleep 0.05
  done
}

do_up() {
  local t0 i net
  t0=$(now)
  for c in ip unshare setsid NetworkManager nmcli dbus-daemon; do command -v $c >/dev/null || die "missing $c"; done
  [[ $IPV4 == dhcp || $DHCP6 == 1 ]] && { command -v dnsmasq >/dev/null || die "missing dnsmasq (apt-get install dnsmasq-base)"; }
  [[ $HTTP == 1 || $RA == 1 ]] && { command -v python3 >/dev/null || die "missing python3"; }
  do_down
  write_files

  # --- namespaces and links (both veth ends live in our namespaces) ---
  ( flock -w 60 8 || true; ip netns add "$NS"; ip netns add "$CNS" ) 8>"${STATE%/*}/.netns.lock"
  ip -n "$NS" link set lo up; ip -n "$CNS" link set lo up
  # A fresh netns has kernel defaults (promote_secondaries=0, rp_filter=0), not
  # the values systemd's 50-default.conf gives a real host.  Without
  # promote_secondaries NM 1.42 loses a Reapply'd static address on a DHCP
  # profile (it re-orders addresses: deleting the primary kills the secondary).
  if [[ ${REALNM_SYSTEMD_SYSCTLS:-1} == 1 ]]; then
    ip netns exec "$NS" sh -c 'for k in default all; do
      echo 1 >/proc/sys/net/ipv4/conf/$k/promote_secondaries; echo 2 >/proc/sys/net/ipv4/conf/$k/rp_filter; done'
  fi
  ip -n "$CNS" addr add "$MDS_IP/32" dev lo
  for ((i = 0; i < NICS; i++)); do
    net=$(net_of $i)
    ip -n "$CNS" link add "c$i" type veth peer name "eth$i" address "$(mac_of $i)" netns "$NS"
    ip -n "$CNS" addr add "$net.1/24" dev "c$i"
    ip -n "$CNS" link set "c$i" up
    if [[ ${REALNM_SYSTEMD_SYSCTLS:-1} == 1 ]]; then  # links moved into a netns keep their own conf
      ip netns exec "$NS" sh -c "echo 1 >/proc/sys/net/ipv4/conf/eth$i/promote_secondaries; echo 2 >/proc/sys/net/ipv4/conf/eth$i/rp_filter"
    fi
  done

  # --- cloud side services ---
  if [[ $IPV4 == dhcp ]]; then
    local args=()
    for ((i = 0; i < NICS; i++)); do
      net=$(net_of $i)
      args+=(--interface="c$i" --dhcp-range="set:n$i,$net.100,$net.200,255.255.255.0,1h"
             --dhcp-host="$(mac_of $i),$net.2" --dhcp-option="tag:n$i,option:router,$net.1")
    done
    setsid ip netns exec "$CNS" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
      --port=0 --bind-interfaces --except-interface=lo --user=root --log-dhcp --log-facility=- \
      --dhcp-leasefile="$STATE/dnsmasq.leases" --pid-file="$STATE/dnsmasq.pid" "${args[@]}" \
      </dev/null >"$STATE/dnsmasq.log" 2>&1 9>&- &
    # NM's first DHCPDISCOVER would be lost (2 s retransmit) if dnsmasq were not bound yet
    wait_for "dnsmasq" sh -c "ip netns exec '$CNS' ss -Hlun 'sport = :67' | grep -q ."
  fi
  if [[ $DHCP6 == 1 ]]; then
    local args6=()
    for ((i = 0; i < NICS; i++)); do
      ip -n "$CNS" addr add "fd00:16:$((4 + i))::1/64" dev "c$i" nodad
      # A one-address range: eth$i gets fd00:16:(4+i)::2, whatever its DUID.
      args6+=(--interface="c$i" --dhcp-range="::2,::2,constructor:c$i,64,1h")
    done
    setsid ip netns exec "$CNS" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts \
      --port=0 --bind-interfaces --except-interface=lo --user=root --log-dhcp --log-facility=- --enable-ra \
      --dhcp-leasefile="$STATE/dnsmasq6.leases" --pid-file="$STATE/dnsmasq6.pid" "${args6[@]}" \
      </dev/null >"$STATE/dnsmasq6.log" 2>&1 9>&- &
    wait_for "dnsmasq (DHCPv6)" sh -c "ip netns exec '$CNS' ss -Hlun 'sport = :547' | grep -q ."
  fi
  if [[ $RA == 1 ]]; then
    local links=()
    for ((i = 0; i < NICS; i++)); do links+=("c$i"); done
    setsid ip netns exec "$CNS" python3 "$HARNESS_DIR/ra-sender.py" "${links[@]}" </dev/null >"$STATE/ra.log" 2>&1 9>&- &
  fi
  if [[ $HTTP == 1 ]]; then
    setsid ip netns exec "$CNS" python3 -m http.server --bind "$MDS_IP" --directory "$WWW" 80 \
      </dev/null >"$STATE/http.log" 2>&1 9>&- &
  fi

  if [[ $WITH_NM == 0 ]]; then
    log "up without NetworkManager in $(awk -v a="$t0" -v c="$(now)" 'BEGIN{printf "%.3f", c-a}')s"
    return 0
  fi

  # --- private system bus, inside the NM netns ---
  ip netns exec "$NS" dbus-daemon --config-file="$STATE/bus.conf" --fork --print-pid=1 >"$STATE/dbus.pid" </dev/null 9>&-
  [[ -S $BUS_SOCK ]] || die "dbus-daemon did not create $BUS_SOCK"

  # --- NetworkManager: own netns + private mount & UTS namespaces ---
  # KEY: /sys read-only => NM's platform runs with "no udev" and does not wait
  # forever for udev to initialise links (otherwise every device stays
  # 'unmanaged' and startup never completes).  tmpfs over /run,
  # /var/lib/NetworkManager and /etc/NetworkManager keeps it off host files.
  setsid ip netns exec "$NS" unshare --mount --uts --propagation private \
    env -i PATH="$PATH" DBUS_SYSTEM_BUS_ADDRESS="$BUS" /bin/sh -c '
      set -e
      if [ "'"${REALNM_RO_SYS:-1}"'" = 1 ]; then
        mount -n --bind /sys /sys
        mount -n -o remount,bind,ro /sys
      fi
      mount -n -t tmpfs -o mode=755 tmpfs /run
      mount -n -t tmpfs -o mode=700 tmpfs /var/lib/NetworkManager
      mount -n -t tmpfs -o mode=755 tmpfs /etc/NetworkManager
      hostname realnm-vm 2>/dev/null || true
      exec NetworkManager --debug --log-level='"$LOGLEVEL"' \
        --config='"$STATE"'/NetworkManager.conf --config-dir='"$STATE"'/conf.d \
        --system-config-dir='"$STATE"'/sysconf.d --intern-config='"$STATE"'/NetworkManager-intern.conf \
        --state-file='"$STATE"'/NetworkManager.state' \
    </dev/null >"$STATE/nm.log" 2>&1 9>&- &

  wait_for "NetworkManager on the bus" in_nm busctl --address="$BUS" call org.freedesktop.DBus / \
    org.freedesktop.DBus NameHasOwner s org.freedesktop.NetworkManager
  wait_for "NetworkManager startup" in_nm nm-online -s -q -t 1
  local t_nm; t_nm=$(now)
  for ((i = 0; i < NICS; i++)); do
    wait_for "eth$i activated" dev_connected "eth$i"
  done
  if [[ $HTTP == 1 ]]; then
    wait_for "metadata server" in_nm curl --noproxy '*' -fsS -m 1 -o /dev/null "http://$MDS_IP/"
  fi
  local t1; t1=$(now)
  echo "$(awk -v a="$t0" -v b="$t_nm" -v c="$t1" 'BEGIN{printf "nm_ready=%.3f all_ready=%.3f", b-a, c-a}')" >"$STATE/timing"
  log "up in $(awk -v a="$t0" -v c="$t1" 'BEGIN{printf "%.3f", c-a}')s ($(cat "$STATE/timing")); NM pid $(nm_pid)"
}

nm_pid() { local p; for p in $(ip netns pids "$NS" 2>/dev/null); do [[ $(cat /proc/$p/comm 2>/dev/null) == NetworkManager ]] && echo "$p"; done; }

# NB: every long-lived child is started with 9>&- so it does not inherit the lock.
locked() { mkdir -p "${STATE%/*}"; exec 9>"${STATE%/*}/.$NAME.lock"; flock -w 120 9 || die "lock busy"; }

cmd=${1:-}; shift || true
case $cmd in
  up)
    locked
    if healthy; then log "already up"; else
      # a failed up tears itself down (logs kept in $STATE.logs) unless REALNM_KEEP_ON_FAIL=1
      [[ ${REALNM_KEEP_ON_FAIL:-0} == 1 ]] || trap 'rc=$?; ((rc)) && { log "up failed; tearing down (logs: $STATE.logs)"; do_down; }' EXIT
      do_up; trap - EXIT
    fi
    print_env ;;
  restart)
    locked; do_down
    [[ ${REALNM_KEEP_ON_FAIL:-0} == 1 ]] || trap 'rc=$?; ((rc)) && { log "up failed; tearing down (logs: $STATE.logs)"; do_down; }' EXIT
    do_up; trap - EXIT; print_env ;;
  down)
    locked; do_down; log "down" ;;
  status)
    if healthy; then log "healthy (NM pid $(nm_pid))"; else log "not healthy"; exit 1; fi ;;
  env) print_env ;;
  exec)
    [[ $# -gt 0 ]] || die "usage: $0 exec CMD..."; ns_exists "$NS" || die "not up"
    exec ip netns exec "$NS" "${NM_WRAP[@]}" "$@" ;;
  cloud-exec)
    [[ $# -gt 0 ]] || die "usage: $0 cloud-exec CMD..."; ns_exists "$CNS" || die "not up"
    exec ip netns exec "$CNS" "$@" ;;
  *) sed -n '2,30p' "$0" >&2; exit 2 ;;
esac
