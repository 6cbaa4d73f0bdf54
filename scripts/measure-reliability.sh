#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# scripts/measure-reliability.sh - exit codes and run times of a built nm-cloud-setup against a
# REAL NetworkManager (test/harness/realnm.sh) under the faults of docs/reliability.md:
#
#   churn   unrelated veths are created and deleted in NM's namespace during every run
#   frozen  NetworkManager is stopped with SIGSTOP for the whole run
#   buskill the private dbus-daemon is killed while the tool waits for the metadata (the MAC
#           listing answers after 2.5 s)
#
#   scripts/measure-reliability.sh [--cli FILE] [--runs N] [--frozen-runs N] [--buskill-runs N]
#
# Defaults: --cli dist/nm-cloud-setup.cjs, 25 churn runs, 2 frozen runs, 5 buskill runs.
# Needs root (network namespaces); NCS_REALNM_PREFIX prefixes the namespace names. It prints
# one line per run and a summary per scenario; it measures, it asserts nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLI=$ROOT/dist/nm-cloud-setup.cjs
RUNS=25 FROZEN_RUNS=2 BUSKILL_RUNS=5
while [[ $# -gt 0 ]]; do
  case $1 in
    --cli) CLI=$(realpath "$2"); shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --frozen-runs) FROZEN_RUNS=$2; shift 2 ;;
    --buskill-runs) BUSKILL_RUNS=$2; shift 2 ;;
    *) sed -n '2,14p' "$0" >&2; exit 2 ;;
  esac
done

export REALNM_NAME=${NCS_REALNM_PREFIX:-}ncs-measure REALNM_HTTP=0 REALNM_NICS=2 REALNM_IPV4=static
REALNM=$ROOT/test/harness/realnm.sh
MAC0=02:00:00:00:00:01 MAC1=02:00:00:00:00:02
MACS=/2018-09-24/meta-data/network/interfaces/macs/
IMDS_PID=
OUT=$(mktemp -d "${TMPDIR:-/tmp}/ncs-measure.XXXXXX")

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }

up() {
  eval "$(bash "$REALNM" up)"
  write_metadata 0
  bash "$REALNM" cloud-exec node "$ROOT/test/harness/imds-server.mjs" --config "$REALNM_STATE_DIR/measure-imds.json" \
    --log "$REALNM_STATE_DIR/measure-imds.log" >"$REALNM_STATE_DIR/measure-imds.out" 2>&1 &
  IMDS_PID=$!
  for _ in $(seq 100); do grep -q port "$REALNM_STATE_DIR/measure-imds.out" 2>/dev/null && return 0; sleep 0.05; done
  echo "metadata server did not start" >&2; exit 1
}

down() {
  if [[ -n $IMDS_PID ]]; then kill "$IMDS_PID" 2>/dev/null || true; fi
  IMDS_PID=
  bash "$REALNM" down >/dev/null 2>&1 || true
}
trap down EXIT

# $1: delay (ms) of the MAC listing, so a fault can be injected while the tool waits for it.
write_metadata() {
  cat >"$REALNM_STATE_DIR/measure-imds.json.tmp" <<EOF
{"ec2Token": "t", "paths": {
  "$MACS": {"body": "$MAC0/\n$MAC1/", "delayMs": $1},
  "$MACS$MAC0/local-ipv4s": "172.16.4.2\n172.16.4.10",
  "$MACS$MAC0/subnet-ipv4-cidr-block": "172.16.4.0/24",
  "$MACS$MAC1/local-ipv4s": "172.16.5.2\n172.16.5.10",
  "$MACS$MAC1/subnet-ipv4-cidr-block": "172.16.5.0/24"}}
EOF
  mv "$REALNM_STATE_DIR/measure-imds.json.tmp" "$REALNM_STATE_DIR/measure-imds.json"
}

# Runs the tool once in NM's namespace; prints "<exit> <seconds> <what the log says>".
run_tool() {
  local t0 out rc
  t0=$(now)
  set +e
  out=$(timeout 120 bash "$REALNM" exec env \
    NM_CLOUD_SETUP_EC2=yes NM_CLOUD_SETUP_LOG=debug NM_CLOUD_SETUP_MAP_INTERFACES="eth0=$MAC0;eth1=$MAC1" \
    RUNTIME_DIRECTORY="$REALNM_STATE_DIR/measure-run" node --jitless --no-expose-wasm "$CLI" 2>&1)
  rc=$?
  set -e
  local what=other
  case $out in
    *'unexpected failure'*) what=unexpected-failure ;;
    *'failure to talk to NetworkManager'*) what=no-networkmanager ;;
    *'failure to reapply'*) what=reapply-failed ;;
    *'device has no applied connection'*) what=no-applied-connection ;;
    *'some changes were applied'*) what=applied ;;
    *'no changes were applied'*) what=unchanged ;;
  esac
  if [[ $out == *'shutdown: timeout'* ]]; then what="$what+shutdown-timeout"; fi
  echo "$rc $(since "$t0") $what"
  printf '%s\n--- exit %s\n' "$out" "$rc" >>"$OUT/runs.log"
}

summary() { # $1 scenario, stdin: "<exit> <seconds> <what>" lines
  awk -v s="$1" '{n++; c[$1]++; w[$3]++; t+=$2; if ($2>m) m=$2}
    END {printf "%s: %d runs; exit", s, n; for (k in c) printf " %s:%d", k, c[k]; printf "; log"; for (k in w) printf " %s:%d", k, w[k];
         printf "; mean %.2f s, max %.2f s\n", t/n, m}'
}

# Four loops create and delete veths as fast as they can; NM lists and drops them meanwhile.
churn() {
  local i
  for i in 1 2 3 4; do
    bash "$REALNM" exec bash -c "while :; do ip link add ch$i type veth peer name ch${i}p; ip link del ch$i; done" >/dev/null 2>&1 &
  done
}

scenario_churn() {
  local pids r
  churn; pids=$(jobs -p | grep -v "^$IMDS_PID\$" || true)
  for r in $(seq "$RUNS"); do echo "churn $r $(run_tool)"; done | tee "$OUT/churn.txt"
  # shellcheck disable=SC2086
  kill $pids 2>/dev/null || true
  # shellcheck disable=SC2086
  wait $pids 2>/dev/null || true
  bash "$REALNM" exec bash -c 'for i in 1 2 3 4; do ip link del ch$i 2>/dev/null; done; true'
  cut -d' ' -f3- "$OUT/churn.txt" | summary churn
}

nm_pid() { for p in $(ip netns pids "$REALNM_NETNS"); do [[ $(cat "/proc/$p/comm") == NetworkManager ]] && echo "$p"; done; }

scenario_frozen() {
  local pid r
  pid=$(nm_pid)
  kill -STOP "$pid"
  for r in $(seq "$FROZEN_RUNS"); do echo "frozen $r $(run_tool)"; done | tee "$OUT/frozen.txt"
  kill -CONT "$pid"
  cut -d' ' -f3- "$OUT/frozen.txt" | summary frozen
}

scenario_buskill() {
  local r
  for r in $(seq "$BUSKILL_RUNS"); do
    write_metadata 2500
    # Once the MAC listing was asked for, the tool is connected and has listed the devices.
    ( until grep -qs 'interfaces/macs/"' "$REALNM_STATE_DIR/measure-imds.log"; do sleep 0.05; done
      kill "$(cat "$REALNM_STATE_DIR/dbus.pid")" ) &
    echo "buskill $r $(run_tool)"
    wait $! 2>/dev/null || true
    down; up
  done | tee "$OUT/buskill.txt"
  cut -d' ' -f3- "$OUT/buskill.txt" | summary buskill
}

up
echo "cli: ${CLI#"$ROOT"/}; logs of every run: $OUT/runs.log"
[[ $RUNS -gt 0 ]] && scenario_churn
[[ $FROZEN_RUNS -gt 0 ]] && scenario_frozen
[[ $BUSKILL_RUNS -gt 0 ]] && scenario_buskill
true
