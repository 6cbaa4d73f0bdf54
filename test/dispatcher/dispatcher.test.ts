// SPDX-License-Identifier: LGPL-2.1-or-later
// The NetworkManager dispatcher hook, run as NM-dispatcher runs it (interface, action), with a
// fake `systemctl` first on PATH that records its argv and answers is-enabled.
import { execFile, spawn } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/bundle.js';
import { makeScratchDir } from '../helpers/scratch.js';

const run = promisify(execFile);
const SCRIPT = join(REPO_ROOT, 'dispatcher/90-nm-cloud-setup.sh');
const IS_ENABLED = '-q is-enabled nm-cloud-setup.service';

interface FakeSystemctl {
  /** Whether `is-enabled` succeeds. */
  readonly enabled: boolean;
  /** Exit status of every other call. */
  readonly status?: number;
  /** Seconds the restart takes before it is logged as done. */
  readonly restartSeconds?: number;
}

interface Dispatch {
  readonly calls: string[];
  readonly code: number | null;
}

/** Runs the hook for `action` with a fake systemctl; resolves the systemctl calls and the exit. */
function dispatch(action: string, fake: FakeSystemctl): Promise<Dispatch> {
  const dir = makeScratchDir('nmcs-dispatcher-');
  const log = join(dir, 'calls');
  writeFileSync(log, '');
  writeFileSync(
    join(dir, 'systemctl'),
    [
      '#!/bin/sh',
      `case "$*" in *is-enabled*) echo "$*" >> '${log}'; exit ${fake.enabled ? 0 : 1};; esac`,
      `sleep ${fake.restartSeconds ?? 0}`,
      `echo "$*" >> '${log}'`,
      `exit ${fake.status ?? 0}`,
      '',
    ].join('\n'),
  );
  chmodSync(join(dir, 'systemctl'), 0o755);
  return new Promise((resolve, reject) => {
    // NM-dispatcher's argv: the interface, then the action; CONNECTION_* etc. come as env.
    const child = spawn(SCRIPT, ['eth0', action], {
      env: { PATH: `${dir}:${process.env['PATH'] ?? ''}`, CONNECTION_ID: 'cloud-eth0', DEVICE_IFACE: 'eth0' },
      stdio: 'ignore',
    });
    child.on('error', reject);
    // Read the log the moment the hook exits: a blocking restart must be logged by then.
    child.on('close', (code) => {
      const calls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
      rmSync(dir, { recursive: true, force: true });
      resolve({ code, calls });
    });
  });
}

/** Every action NetworkManager-dispatcher(8) documents, with what the hook must do for it. */
const ACTIONS: readonly [action: string, restart: string | undefined][] = [
  ['pre-up', 'restart nm-cloud-setup.service'],
  ['up', undefined],
  ['pre-down', undefined],
  ['down', undefined],
  ['vpn-pre-up', undefined],
  ['vpn-up', undefined],
  ['vpn-pre-down', undefined],
  ['vpn-down', undefined],
  ['hostname', undefined],
  ['dhcp4-change', '--no-block restart nm-cloud-setup.service'],
  ['dhcp6-change', '--no-block restart nm-cloud-setup.service'],
  ['connectivity-change', undefined],
  ['reapply', undefined],
  ['', undefined],
];

describe('dispatcher script', () => {
  describe.each(ACTIONS)('action "%s"', (action, restart) => {
    if (restart === undefined) {
      it('does nothing and exits 0, enabled or not', async () => {
        expect(await dispatch(action, { enabled: true })).toEqual({ calls: [], code: 0 });
        expect(await dispatch(action, { enabled: false })).toEqual({ calls: [], code: 0 });
      });
      return;
    }
    it(`runs "systemctl ${restart}" when the service is enabled`, async () => {
      expect(await dispatch(action, { enabled: true })).toEqual({ calls: [IS_ENABLED, restart], code: 0 });
    });
    it('only asks whether the service is enabled when it is not, and exits 0', async () => {
      expect(await dispatch(action, { enabled: false })).toEqual({ calls: [IS_ENABLED], code: 0 });
    });
    it("passes systemctl's failure on to NetworkManager", async () => {
      expect(await dispatch(action, { enabled: true, status: 5 })).toEqual({ calls: [IS_ENABLED, restart], code: 5 });
    });
  });

  it('pre-up returns only once the restart has finished (activation waits for nm-cloud-setup)', async () => {
    // The fake restart takes 0.3 s and logs at its end; the hook must not exit before that.
    const result = await dispatch('pre-up', { enabled: true, restartSeconds: 0.3 });
    expect(result.calls).toEqual([IS_ENABLED, 'restart nm-cloud-setup.service']);
  });

  it('is clean under shellcheck, as POSIX sh', async () => {
    const lint = await run('shellcheck', ['--shell=sh', '--severity=style', SCRIPT]);
    expect(lint.stdout + lint.stderr).toBe('');
  });

  it('the other shipped shell scripts are shellcheck-clean too', async () => {
    const lint = await run('shellcheck', ['--severity=style', join(REPO_ROOT, 'scripts/setup-debian.sh'), join(REPO_ROOT, '.ci/run')]);
    expect(lint.stdout + lint.stderr).toBe('');
  });
});
