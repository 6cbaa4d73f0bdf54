#!/usr/bin/env node
// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Benchmark (not a test): wall time of the built CLI against a REAL NetworkManager in
// network namespaces (test/harness/realnm.sh) with an EC2 IMDSv2 mock on 169.254.169.254
// (test/harness/imds-server.mjs): 2 NICs, 3 secondary IPs.  Needs root; run `npm run build`
// first.
//
//   node scripts/bench-realnm-run.mjs [--runs 10] [--cli dist/nm-cloud-setup.cjs]
//                                     [--log LEVEL] [--name ncs-bench] [--json]
//
// Per sample: `realnm.sh restart` (fresh NetworkManager), start the metadata server, time a
// first run (applies: Reapply on both devices), then time a rerun (no-op).  Every CLI run
// is `realnm.sh exec node --jitless --no-expose-wasm <cli>` with NM_CLOUD_SETUP_EC2=yes and
// NM_CLOUD_SETUP_MAP_INTERFACES (and NM_CLOUD_SETUP_LOG only if --log is given), so the numbers include the
// `realnm.sh exec` + `ip netns exec` overhead, which is printed separately, next to
// `node --jitless -e 0` as a baseline.  Prints min/median/max in ms.  No assertions:
// a sample that looks wrong (non-zero exit, applied-connection version ids that did not
// move on the first run or moved on the rerun) is reported on stderr and still counted.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REALNM_SH = path.join(REPO_ROOT, 'test', 'harness', 'realnm.sh');
const IMDS_SERVER = path.join(REPO_ROOT, 'test', 'harness', 'imds-server.mjs');

const TOKEN = 'AQAAALH-k7i18JMkK-ORLZQfAa7nkNjQbKwpQPExNHqzk1oL_7eh-A==';
const MACS = '/2018-09-24/meta-data/network/interfaces/macs/';
const METADATA = {
  ec2Token: TOKEN,
  paths: {
    [MACS]: '02:00:00:00:00:01/\n02:00:00:00:00:02/',
    [`${MACS}02:00:00:00:00:01/local-ipv4s`]: '172.16.4.2\n172.16.4.10\n172.16.4.11',
    [`${MACS}02:00:00:00:00:01/subnet-ipv4-cidr-block`]: '172.16.4.0/24',
    [`${MACS}02:00:00:00:00:02/local-ipv4s`]: '172.16.5.2\n172.16.5.10',
    [`${MACS}02:00:00:00:00:02/subnet-ipv4-cidr-block`]: '172.16.5.0/24',
  },
};

// --- arguments ---
const opts = { runs: 10, cli: path.join(REPO_ROOT, 'dist', 'nm-cloud-setup.cjs'), log: undefined, name: 'ncs-bench', json: false };
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '--runs') opts.runs = Number(val());
    else if (a === '--cli') opts.cli = path.resolve(val());
    else if (a === '--log') opts.log = val();
    else if (a === '--name') opts.name = val();
    else if (a === '--json') opts.json = true;
    else usage(`unknown argument ${a}`);
  }
  if (!Number.isInteger(opts.runs) || opts.runs < 1) usage('--runs must be a positive integer');
}
function usage(msg) {
  process.stderr.write(
    `bench-realnm-run: ${msg}\nusage: node scripts/bench-realnm-run.mjs [--runs N] [--cli FILE] [--log LEVEL] [--name NAME] [--json]\n`,
  );
  process.exit(2);
}
if (process.getuid?.() !== 0) usage('needs root (network namespaces, NetworkManager)');
if (!fs.existsSync(opts.cli)) usage(`${path.relative(REPO_ROOT, opts.cli)} does not exist: run \`npm run build\` first`);

// --- helpers ---
const baseEnv = {
  PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C',
  ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
  ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
  REALNM_NAME: opts.name,
  REALNM_NICS: '2',
  REALNM_IPV4: 'static',
  REALNM_HTTP: '0',
};

function run(file, args, env = {}, timeoutMs = 60_000) {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: { ...baseEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128, signal, stdout, stderr, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
    });
  });
}
const realnm = (args, env, timeoutMs) => run('bash', [REALNM_SH, ...args], env, timeoutMs);
async function realnmOk(args, env, timeoutMs) {
  const r = await realnm(args, env, timeoutMs);
  if (r.code !== 0) throw new Error(`realnm.sh ${args.join(' ')} failed (${r.code}):\n${r.stdout}${r.stderr}`);
  return r;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let stateDir;
let server;

async function startServer() {
  const cfg = path.join(stateDir, 'imds-bench.json');
  const log = path.join(stateDir, 'imds-bench.log');
  fs.writeFileSync(cfg, JSON.stringify(METADATA));
  const child = spawn('bash', [REALNM_SH, 'cloud-exec', process.execPath, IMDS_SERVER, '--config', cfg, '--log', log], {
    env: baseEnv,
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true,
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await realnm([
      'exec',
      'curl',
      '--noproxy',
      '*',
      '-s',
      '-o',
      '/dev/null',
      '-m',
      '1',
      '-H',
      'X-Realnm-Probe: 1',
      'http://169.254.169.254/',
    ]);
    if (r.code === 0) break;
    if (Date.now() > deadline) throw new Error('metadata server not reachable from the NM netns');
    await sleep(50);
  }
  return {
    stop: () => {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    },
  };
}

/** applied-connection version id per device (changes on every Reapply) */
async function versionIds() {
  const bus = `--address=unix:path=${stateDir}/bus.sock`;
  const ids = {};
  for (const dev of ['eth0', 'eth1']) {
    const p = await realnm([
      'exec',
      'busctl',
      bus,
      '--json=short',
      'call',
      'org.freedesktop.NetworkManager',
      '/org/freedesktop/NetworkManager',
      'org.freedesktop.NetworkManager',
      'GetDeviceByIpIface',
      's',
      dev,
    ]);
    const obj = JSON.parse(p.stdout).data[0];
    const a = await realnm([
      'exec',
      'busctl',
      bus,
      '--json=short',
      'call',
      'org.freedesktop.NetworkManager',
      obj,
      'org.freedesktop.NetworkManager.Device',
      'GetAppliedConnection',
      'u',
      '0',
    ]);
    ids[dev] = JSON.parse(a.stdout).data[1];
  }
  return ids;
}

// Veths have no permanent MAC (NM's PermHwAddress is ""), so, as in test/e2e/realnm-ec2.test.ts,
// the tool's test hook NM_CLOUD_SETUP_MAP_INTERFACES supplies the MACs by interface name.
const cliEnv = {
  NM_CLOUD_SETUP_EC2: 'yes',
  NM_CLOUD_SETUP_MAP_INTERFACES: 'eth0=02:00:00:00:00:01;eth1=02:00:00:00:00:02',
  ...(opts.log ? { NM_CLOUD_SETUP_LOG: opts.log } : {}),
};
const runCli = () => realnm(['exec', process.execPath, '--jitless', '--no-expose-wasm', opts.cli], cliEnv);

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { n: s.length, min: s[0], median, max: s[s.length - 1] };
}

const samples = { restart: [], execTrue: [], nodeHost: [], nodeNetns: [], first: [], rerun: [] };
let cleaningUp = false;
async function cleanup() {
  if (cleaningUp) return;
  cleaningUp = true;
  server?.stop();
  await realnm(['down']);
}
process.on('SIGINT', () => cleanup().finally(() => process.exit(130)));
process.on('SIGTERM', () => cleanup().finally(() => process.exit(143)));

try {
  for (let i = 0; i < opts.runs; i++) {
    server?.stop();
    const up = await realnmOk(['restart'], {}, 120_000);
    samples.restart.push(up.ms);
    stateDir = /^export REALNM_STATE_DIR=(.*)$/m.exec(up.stdout)?.[1];
    if (!stateDir) throw new Error(`no REALNM_STATE_DIR in:\n${up.stdout}`);
    server = await startServer();

    samples.execTrue.push((await realnmOk(['exec', 'true'])).ms);
    samples.nodeNetns.push((await realnmOk(['exec', process.execPath, '--jitless', '-e', '0'])).ms);
    samples.nodeHost.push((await run(process.execPath, ['--jitless', '-e', '0'])).ms);

    const v0 = await versionIds();
    const first = await runCli();
    samples.first.push(first.ms);
    const v1 = await versionIds();
    const rerun = await runCli();
    samples.rerun.push(rerun.ms);
    const v2 = await versionIds();

    const warn = [];
    if (first.code !== 0) warn.push(`first run exit ${first.code}`);
    if (rerun.code !== 0) warn.push(`rerun exit ${rerun.code}`);
    for (const d of ['eth0', 'eth1']) {
      if (v1[d] === v0[d]) warn.push(`first run did not reapply ${d}`);
      if (v2[d] !== v1[d]) warn.push(`rerun reapplied ${d}`);
    }
    if (warn.length) {
      process.stderr.write(`sample ${i + 1}: ${warn.join('; ')}\n${first.stdout}${first.stderr}${rerun.stdout}${rerun.stderr}\n`);
    }
  }
} finally {
  await cleanup();
}

const rows = [
  ['realnm.sh restart (fresh NM, 2 NICs)', samples.restart],
  ['realnm.sh exec true (exec overhead)', samples.execTrue],
  ['node --jitless -e 0 (host)', samples.nodeHost],
  ['realnm.sh exec node --jitless -e 0', samples.nodeNetns],
  ['CLI first run (applies)', samples.first],
  ['CLI rerun (no-op)', samples.rerun],
];
const f = (x) => x.toFixed(1).padStart(8);
process.stdout.write(`${'ms'.padEnd(40)}${'min'.padStart(8)}${'median'.padStart(8)}${'max'.padStart(8)}    n\n`);
const out = {};
for (const [label, xs] of rows) {
  const s = stats(xs);
  out[label] = s;
  process.stdout.write(`${label.padEnd(40)}${f(s.min)}${f(s.median)}${f(s.max)}  ${String(s.n).padStart(3)}\n`);
}
if (opts.json) process.stdout.write(JSON.stringify(out) + '\n');
