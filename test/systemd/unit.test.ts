// SPDX-License-Identifier: LGPL-2.1-or-later
// Proves the shipped unit works as written: node under MemoryDenyWriteExecute=yes needs --jitless.
import { execFile, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundlePath, REPO_ROOT } from '../helpers/bundle.js';

const run = promisify(execFile);
const UNIT = readFileSync(join(REPO_ROOT, 'systemd/nm-cloud-setup.service'), 'utf8');
const INSTALLED_BUNDLE = '/usr/libexec/nm-cloud-setup';

function unitValue(key: string): string | undefined {
  return UNIT.split('\n').find((line) => line.startsWith(`${key}=`))?.slice(key.length + 1);
}

/** The unit's ExecStart, with the installed bundle path pointed at this checkout's build. */
function execStartArgv(): string[] {
  const argv = (unitValue('ExecStart') ?? '').split(/\s+/);
  return argv.map((arg) => (arg === INSTALLED_BUNDLE ? bundlePath() : arg));
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

describe('systemd unit', () => {
  let server: Server;
  let host: string;

  beforeAll(async () => {
    // A minimal IMDSv2 so the run gets through detection into the D-Bus step.
    server = createServer((req, res) => {
      if (req.method === 'PUT' && req.url === '/latest/api/token') res.end('token-for-mdwe-test');
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('keeps MemoryDenyWriteExecute=yes and starts node with --jitless --no-expose-wasm', () => {
    expect(unitValue('MemoryDenyWriteExecute')).toBe('yes');
    expect(execStartArgv().slice(0, 3)).toEqual(['/usr/bin/node', '--jitless', '--no-expose-wasm']);
    expect(unitValue('Type')).toBe('oneshot');
    expect(UNIT).toMatch(/^Before=network-online\.target$/m);
    expect(UNIT).toMatch(/^StartLimitBurst=100$/m);
  });

  it('runs the ExecStart command line under MDWE: detection, HTTP and D-Bus code paths all work', async () => {
    const outcome = await runUnderMdwe(execStartArgv(), {
      NM_CLOUD_SETUP_EC2: 'yes',
      NM_CLOUD_SETUP_EC2_HOST: host,
      NM_CLOUD_SETUP_LOG: 'debug',
      DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${join(tmpdir(), 'no-such-bus-for-mdwe-test.sock')}`,
    });
    expect(outcome.stderr).toBe('');
    expect(outcome).toMatchObject({ code: 0, signal: null });
    expect(outcome.stdout).toContain('provider ec2 detected');
    expect(outcome.stdout).toMatch(/<info> {2}failure to talk to NetworkManager: /);
  });

  it('the same command without --jitless is killed by MDWE (so the flag is what makes it work)', async () => {
    const argv = execStartArgv().filter((arg) => arg !== '--jitless');
    const outcome = await runUnderMdwe(argv, { NM_CLOUD_SETUP_EC2: 'yes', NM_CLOUD_SETUP_EC2_HOST: host });
    // V8 aborts with SIGTRAP ("Check failed: 12 == errno" in OS::SetPermissions).
    expect(outcome.code === 133 || outcome.signal === 'SIGTRAP').toBe(true);
  });

  it('passes systemd-analyze verify and the offline security report, as upstream checks', async () => {
    const units = ['systemd/nm-cloud-setup.service', 'systemd/nm-cloud-setup.timer'];
    const verify = await run('systemd-analyze', ['verify', '--man=no', ...units], { cwd: REPO_ROOT });
    expect(verify.stdout + verify.stderr).toBe('');
    const security = await run('systemd-analyze', ['--offline=true', 'security', units[0] as string], { cwd: REPO_ROOT });
    // Upstream's meson test fails when anything precedes the report's header.
    expect(security.stdout.split('\n')[0]).toMatch(/^\s*NAME\s+DESCRIPTION\s+EXPOSURE/);
    expect(security.stderr).toBe('');
  });

  it('timer re-runs every 5 minutes', () => {
    const timer = readFileSync(join(REPO_ROOT, 'systemd/nm-cloud-setup.timer'), 'utf8');
    expect(timer).toMatch(/^OnBootSec=5min$/m);
    expect(timer).toMatch(/^OnUnitActiveSec=5min$/m);
  });
});

describe('dispatcher script', () => {
  /** Runs the hook with a fake systemctl that logs its arguments and answers is-enabled. */
  async function dispatch(action: string, isEnabled: boolean): Promise<string[]> {
    const dir = mkdtempSync(join(tmpdir(), 'nmcs-dispatcher-'));
    const log = join(dir, 'calls');
    writeFileSync(log, '');
    const fake = join(dir, 'systemctl');
    writeFileSync(
      fake,
      `#!/bin/sh\necho "$*" >> "${log}"\ncase "$*" in *is-enabled*) exit ${isEnabled ? 0 : 1};; esac\nexit 0\n`,
    );
    chmodSync(fake, 0o755);
    await run(join(REPO_ROOT, 'dispatcher/90-nm-cloud-setup.sh'), ['eth0', action], {
      env: { PATH: `${dir}:${process.env['PATH'] ?? ''}` },
    });
    return readFileSync(log, 'utf8').split('\n').filter(Boolean);
  }

  it('pre-up restarts the unit and waits for it', async () => {
    expect(await dispatch('pre-up', true)).toEqual(['-q is-enabled nm-cloud-setup.service', 'restart nm-cloud-setup.service']);
  });

  it('dhcp4-change restarts without blocking the dispatcher', async () => {
    expect(await dispatch('dhcp4-change', true)).toEqual([
      '-q is-enabled nm-cloud-setup.service',
      '--no-block restart nm-cloud-setup.service',
    ]);
  });

  it('does nothing when the unit is not enabled, or for other actions', async () => {
    expect(await dispatch('pre-up', false)).toEqual(['-q is-enabled nm-cloud-setup.service']);
    expect(await dispatch('up', true)).toEqual([]);
  });
});
