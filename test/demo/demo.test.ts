// SPDX-License-Identifier: LGPL-2.1-or-later
// `npm run demo` end to end (scripts/demo.mjs, non-interactive as it always is): every step's
// output, the teardown (no namespace, no state directory left), Ctrl-C in the middle, and the
// one-line refusals. Needs root and NetworkManager like the e2e tests; without them this file
// FAILS on purpose (it does not skip). Run `npm run build` first (npm test does).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cannotRun, parseArgs } from '../../scripts/demo/main.js';
import { assertRealnmPrerequisites, REPO_ROOT, run } from '../harness/realnm.js';

const DEMO = path.join(REPO_ROOT, 'scripts', 'demo.mjs');
const PREFIX = process.env['NCS_REALNM_PREFIX'] ?? '';

interface DemoRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the demo; `interruptAt`: send SIGINT once stdout has this text. */
function demo(args: readonly string[], interruptAt?: string): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DEMO, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let interrupted = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (interruptAt !== undefined && !interrupted && stdout.includes(interruptAt)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The text of step `n` ("== n. ..." up to the next "== "). */
function section(out: string, n: number | 'Tearing down'): string {
  const start = out.indexOf(`\n== ${n}`);
  expect(start, `step ${n} in\n${out}`).toBeGreaterThanOrEqual(0);
  const end = out.indexOf('\n== ', start + 1);
  return out.slice(start, end < 0 ? undefined : end);
}

/** Neither namespace nor the realnm state directory (or its kept logs) is left. */
async function expectGone(name: string): Promise<void> {
  const netns = (await run('ip', ['netns', 'list'])).stdout;
  expect(netns).not.toMatch(new RegExp(`^${name}-(nm|cloud)\\b`, 'm'));
  const env = (await run('bash', [path.join(REPO_ROOT, 'test', 'harness', 'realnm.sh'), 'env'], { env: { REALNM_NAME: name } })).stdout;
  const stateDir = /^export REALNM_STATE_DIR=(.+)$/m.exec(env)?.[1];
  expect(stateDir).toBeDefined();
  expect(fs.existsSync(stateDir ?? ''), `${stateDir} left behind`).toBe(false);
  expect(fs.existsSync(`${stateDir ?? ''}.logs`), `${stateDir}.logs left behind`).toBe(false);
}

describe('npm run demo', () => {
  it('shows every step on a real NetworkManager (EC2, 2 NICs) and tears everything down', async () => {
    await assertRealnmPrerequisites();
    const r = await demo(['--name', 'ncs-demo-test']);
    const all = `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
    expect(r.code, all).toBe(0);
    const out = r.stdout;

    const status = section(out, 2);
    expect(status).toContain('$ NM_CLOUD_SETUP_EC2=yes nm-cloud-setup status');
    expect(status).toMatch(/02:00:00:00:00:01 +eth0 +eth0 +172\.16\.4\.2,172\.16\.4\.10 +172\.16\.4\.0\/24 +172\.16\.4\.1 +out-of-sync/);

    const plan = section(out, 3);
    expect(plan).toContain(
      "nmcli device modify eth0 ipv4.addresses '172.16.4.2/24, 172.16.4.10/24' ipv4.routes '172.16.4.0/24 10 table=30200, 0.0.0.0/0 172.16.4.1 10 table=30400'",
    );
    expect(plan).toContain('+ address 172.16.4.10/24');
    expect(plan).toContain('(exit status 2)');

    const apply = section(out, 4);
    expect(apply).toContain('$ NM_CLOUD_SETUP_LOG=INFO NM_CLOUD_SETUP_EC2=yes nm-cloud-setup\n');
    expect(apply).toMatch(/<info> {2}provider ec2 detected\n.*<info> {2}some changes were applied for provider ec2\n/);

    const kernel = section(out, 5);
    expect(kernel).toMatch(/\$ ip -4 -br addr show dev eth0\n +eth0\S* +UP +172\.16\.4\.2\/24 172\.16\.4\.10\/24\n/);
    expect(kernel).toContain('30200:\tfrom 172.16.4.10 lookup 30200');
    expect(kernel).toContain('30350:\tfrom all lookup main suppress_prefixlength 0');
    expect(kernel).toMatch(/\$ ip -4 route show table 30401\n +default via 172\.16\.5\.1 dev eth1 proto static metric 10\n/);

    const inSync = section(out, 6);
    expect(inSync.match(/ in-sync\n/g)).toHaveLength(2);
    expect(inSync).not.toContain('out-of-sync');

    const rerun = section(out, 7);
    expect(rerun).toContain('provider ec2 detected');
    expect(rerun).not.toContain('some changes were applied');
    expect(rerun).toContain('kernel state: unchanged');

    const change = section(out, 8);
    expect(change).toContain('The metadata changes: a secondary IP added: 172.16.4.11 on eth0');
    expect(change).toContain('+ address 172.16.4.11/24');
    expect(change).toContain('eth1 (02:00:00:00:00:02) connection "eth1": no change');
    const applied = section(out, 9);
    expect(applied).toContain('some changes were applied for provider ec2');
    expect(applied).toMatch(/eth0\S* +UP +172\.16\.4\.2\/24 172\.16\.4\.10\/24 172\.16\.4\.11\/24\n/);
    expect(applied).toContain('30400:\tfrom 172.16.4.11 lookup 30400');

    expect(section(out, 'Tearing down')).toContain('done: both namespaces are gone.');
    await expectGone(`${PREFIX}ncs-demo-test`);
  });

  it('Ctrl-C in the middle: tears down, exits 130', async () => {
    await assertRealnmPrerequisites();
    const r = await demo(['--name', 'ncs-demo-test-int'], '== 3.');
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(130);
    expect(r.stdout).toContain('SIGINT: stopping the demo');
    expect(r.stdout).toContain('done: both namespaces are gone.');
    await expectGone(`${PREFIX}ncs-demo-test-int`);
  });

  it('says in one line, with exit status 2, what it needs or what is wrong with the arguments', async () => {
    expect(await cannotRun('ncs-demo-x', 1000)).toBe(
      'needs root: it creates network namespaces and runs a private NetworkManager in them (try: sudo npm run demo)',
    );
    const bad = await demo(['--provider', 'nimbus']);
    expect(bad).toEqual({ code: 2, stdout: '', stderr: 'npm run demo: unknown provider nimbus (one of ec2, gcp, azure, aliyun, oci)\n' });
    expect(parseArgs(['--provider', 'oci', '--nics', '2'])).toBe('--nics must be 3..8 for oci');
    expect(parseArgs(['--provider=gcp', '--nics=3', '--name', 'x'])).toEqual({ provider: 'gcp', nics: 3, name: 'x' });
    expect(parseArgs(['--nics'])).toMatch(/^--nics needs a value/);
  });
});
