// SPDX-License-Identifier: LGPL-2.1-or-later
// Proves the shipped unit works as written: node under MemoryDenyWriteExecute=yes needs --jitless.
// The installed tree (make install) is what runs, against a fake NetworkManager on a private bus.
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/bundle.js';
import { callsOf, EC2_TOKEN, startFakeNmRun, upstreamEc2Paths } from '../helpers/fake-nm-run.js';
import { installTree, type InstalledTree } from '../helpers/install-tree.js';
import { scratchDir } from '../helpers/scratch.js';

const run = promisify(execFile);
const UNIT_PATH = '/usr/lib/systemd/system/nm-cloud-setup.service';
const TIMER_PATH = '/usr/lib/systemd/system/nm-cloud-setup.timer';

function unitValue(unit: string, key: string): string | undefined {
  return unit
    .split('\n')
    .find((line) => line.startsWith(`${key}=`))
    ?.slice(key.length + 1);
}

// prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN): the same kernel mechanism systemd uses for
// MemoryDenyWriteExecute=yes on kernels >= 6.3, applied before exec'ing the command.
const MDWE_EXEC = `
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_MDWE) failed: errno %d" % ctypes.get_errno())
os.execv(sys.argv[1], sys.argv[1:])
`;

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function runUnderMdwe(argv: string[], env: Record<string, string>): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', MDWE_EXEC, ...argv], { env: { PATH: process.env['PATH'] ?? '', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

describe('systemd unit, installed', () => {
  let tree: InstalledTree;
  let unit: string;
  /** The installed unit's ExecStart, its absolute paths pointed into the DESTDIR (node stays). */
  let execStart: string[];

  beforeAll(async () => {
    tree = await installTree();
    unit = readFileSync(tree.at(UNIT_PATH), 'utf8');
    execStart = (unitValue(unit, 'ExecStart') ?? '').split(/\s+/).map((arg) => (arg.startsWith('/usr/libexec/') ? tree.at(arg) : arg));
  });
  afterAll(() => tree.remove());

  it('keeps MemoryDenyWriteExecute=yes and starts node with --jitless --no-expose-wasm', () => {
    expect(unitValue(unit, 'MemoryDenyWriteExecute')).toBe('yes');
    expect(execStart.slice(0, 3)).toEqual(['/usr/bin/node', '--jitless', '--no-expose-wasm']);
    expect(unitValue(unit, 'Type')).toBe('oneshot');
    expect(unit).toMatch(/^Before=network-online\.target$/m);
    expect(unit).toMatch(/^After=NetworkManager\.service$/m);
  });

  it('gives the state file its only writable directory, kept between runs', () => {
    expect(unitValue(unit, 'RuntimeDirectory')).toBe('nm-cloud-setup');
    expect(unitValue(unit, 'RuntimeDirectoryPreserve')).toBe('yes');
  });

  it('keeps upstream StartLimit settings in [Unit], where systemd reads them', () => {
    const unitSection = unit.slice(unit.indexOf('[Unit]'), unit.indexOf('[Service]'));
    expect(unitSection).toMatch(/^StartLimitIntervalSec=1$/m);
    expect(unitSection).toMatch(/^StartLimitBurst=100$/m);
  });

  it('keeps upstream hardening, every line of it', () => {
    for (const line of [
      'CapabilityBoundingSet=',
      'KeyringMode=private',
      'LockPersonality=yes',
      'NoNewPrivileges=yes',
      'PrivateDevices=yes',
      'PrivateNetwork=no',
      'PrivateTmp=yes',
      'PrivateUsers=yes',
      'ProtectClock=yes',
      'ProtectControlGroups=yes',
      'ProtectHome=yes',
      'ProtectHostname=yes',
      'ProtectKernelLogs=yes',
      'ProtectKernelModules=yes',
      'ProtectKernelTunables=yes',
      'ProtectProc=invisible',
      'ProtectSystem=strict',
      'RestrictAddressFamilies=AF_UNIX AF_NETLINK AF_INET AF_INET6',
      'RestrictNamespaces=yes',
      'RestrictRealtime=yes',
      'RestrictSUIDSGID=yes',
      'SystemCallArchitectures=native',
      'SystemCallFilter=@system-service',
      'DevicePolicy=closed',
    ]) {
      expect(unit.split('\n')).toContain(line);
    }
  });

  it('lets V8 allocate memory protection keys, and makes any other filtered call fail with EPERM instead of a kill', () => {
    // Why, and the proof under systemd as PID 1: test/systemd-pid1/seccomp.test.ts.
    expect(unit.split('\n')).toContain('SystemCallFilter=pkey_alloc pkey_free pkey_mprotect');
    expect(unitValue(unit, 'SystemCallErrorNumber')).toBe('EPERM');
  });

  it('counts a run stopped by SIGTERM as a success even before node has its handler', () => {
    // Why, and the proof under systemd as PID 1: test/systemd-pid1/boot.test.ts.
    expect(unitValue(unit, 'SuccessExitStatus')).toBe('SIGTERM');
  });

  it('logs to the journal as nm-cloud-setup, as upstream\'s binary does (not as "node")', () => {
    expect(unitValue(unit, 'SyslogIdentifier')).toBe('nm-cloud-setup');
  });

  it('runs a whole EC2 apply under MDWE: got, dbus-next and Reapply all work with --jitless', async ({ onTestFinished }) => {
    const world = await startFakeNmRun('EC2', { ec2Token: EC2_TOKEN, paths: upstreamEc2Paths() });
    onTestFinished(() => world.stop());
    const fake = await world.startNm();
    const stateDir = scratchDir('nmcs-state-');
    const outcome = await runUnderMdwe(execStart, world.env({ NM_CLOUD_SETUP_LOG: 'info', RUNTIME_DIRECTORY: stateDir }));
    expect(outcome.stderr).toBe('');
    expect(outcome).toMatchObject({ code: 0, signal: null });
    expect(outcome.stdout).toContain('some changes were applied for provider ec2');
    expect(callsOf(fake, 'Reapply')).toHaveLength(1);
    // ... and the state file, the one thing it writes, as RuntimeDirectory= lets it.
    expect(JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8'))).toMatchObject({ provider: { name: 'ec2' }, result: 'changed' });
  });

  it('the installed file run through its own shebang works under MDWE too', async () => {
    const outcome = await runUnderMdwe([tree.at('/usr/libexec/nm-cloud-setup'), '--version'], {});
    expect(outcome).toMatchObject({ code: 0, signal: null, stderr: '' });
    expect(outcome.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('the same command without --jitless is killed by MDWE (so the flag is what makes it work)', async () => {
    const outcome = await runUnderMdwe(
      execStart.filter((arg) => arg !== '--jitless'),
      { NM_CLOUD_SETUP_LOG: 'off' },
    );
    // V8 aborts with SIGTRAP ("Check failed: 12 == errno" in OS::SetPermissions).
    expect(outcome.code === 133 || outcome.signal === 'SIGTRAP').toBe(true);
  });

  it('both installed units pass systemd-analyze verify, and the offline security report, as upstream checks', async () => {
    const units = [tree.at(UNIT_PATH), tree.at(TIMER_PATH)];
    const verify = await run('systemd-analyze', ['verify', '--man=no', ...units]);
    expect(verify.stdout + verify.stderr).toBe('');
    const security = await run('systemd-analyze', ['--offline=true', 'security', units[0] as string]);
    // Upstream's meson test fails when anything precedes the report's header.
    expect(security.stdout.split('\n')[0]).toMatch(/^\s*NAME\s+DESCRIPTION\s+EXPOSURE/);
    expect(security.stderr).toBe('');
  });
});

describe('systemd timer', () => {
  const timer = readFileSync(join(REPO_ROOT, 'systemd/nm-cloud-setup.timer'), 'utf8');

  it('re-runs every 5 minutes, as upstream', () => {
    expect(timer).toMatch(/^OnBootSec=5min$/m);
    expect(timer).toMatch(/^OnUnitActiveSec=5min$/m);
    expect(timer).toMatch(/^WantedBy=timers\.target$/m);
  });

  it('spreads a fleet with a randomized delay', () => {
    expect(timer).toMatch(/^RandomizedDelaySec=1min$/m);
  });
});
