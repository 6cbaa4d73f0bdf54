// SPDX-License-Identifier: LGPL-2.1-or-later
// The installed units under a real systemd 252 as PID 1, with every line of the unit's
// hardening: NetworkManager in the container manages the harness's veths, the unit runs at boot
// (pulled in by NetworkManager.service, restarted by the pre-up dispatcher hook), the shortened
// timer fires, re-activating a device runs the hook again. probe.sh records it all; see
// container.ts for how the container is put together.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/bundle.js';
import { PROBE_SH, readJournal, readShow, readText, type JournalEntry } from './container.js';
import { EC2_DROP_IN, kernelState, useBoot } from './scenario.js';

// The timer, shortened: 5 min -> 2 s, no random delay, so it elapses while the probe waits.
const TIMER_DROP_IN = `[Timer]
OnBootSec=
OnBootSec=2s
OnUnitActiveSec=
OnUnitActiveSec=2s
RandomizedDelaySec=0
AccuracySec=1ms
`;

const EXPECTED = {
  addrs: { lo: ['127.0.0.1/8'], eth0: ['172.16.4.10/24', '172.16.4.11/24', '172.16.4.2/24'], eth1: ['172.16.5.10/24', '172.16.5.2/24'] },
  rules: [
    '30200: from 172.16.4.10 lookup 30200',
    '30200: from 172.16.4.11 lookup 30200',
    '30200: from 172.16.4.2 lookup 30200',
    '30201: from 172.16.5.10 lookup 30201',
    '30201: from 172.16.5.2 lookup 30201',
    '30350: from all lookup main suppress_prefixlength 0',
    '30400: from 172.16.4.10 lookup 30400',
    '30400: from 172.16.4.11 lookup 30400',
    '30400: from 172.16.4.2 lookup 30400',
    '30401: from 172.16.5.10 lookup 30401',
    '30401: from 172.16.5.2 lookup 30401',
  ],
  tables: {
    30200: ['172.16.4.0/24 dev eth0 metric 10'],
    30201: ['172.16.5.0/24 dev eth1 metric 10'],
    30400: ['default via 172.16.4.1 dev eth0 metric 10'],
    30401: ['default via 172.16.5.1 dev eth1 metric 10'],
  },
};

const ofUnit = (e: JournalEntry): boolean => e.UNIT === 'nm-cloud-setup.service' || e._SYSTEMD_UNIT === 'nm-cloud-setup.service';
const message = (e: JournalEntry): string => e.MESSAGE ?? '';

/** Index of the first entry matching, at or after `from`; -1 if none. */
function indexOf(journal: readonly JournalEntry[], match: (e: JournalEntry) => boolean, from = 0): number {
  const i = journal.slice(from).findIndex(match);
  return i < 0 ? -1 : i + from;
}

describe('systemd as PID 1 (systemd-nspawn): the installed units on EC2 with two veths', () => {
  const scenario = useBoot('pid1-ec2', {
    files: { 'nm-cloud-setup.service.d/10-ec2.conf': EC2_DROP_IN, 'nm-cloud-setup.timer.d/10-test.conf': TIMER_DROP_IN },
    scenarios: ['timer', 'dispatcher', 'early_term'],
  });

  it("runs the unit with its full hardening: the installed unit is the repository's, line for line", () => {
    // With PREFIX=/usr and NODE=/usr/bin/node, make install's path rewriting changes nothing.
    expect(scenario.image.unit).toBe(readFileSync(path.join(REPO_ROOT, 'systemd/nm-cloud-setup.service'), 'utf8'));
    expect(scenario.image.unit).toMatch(/^MemoryDenyWriteExecute=yes$/m);
    expect(readShow(scenario.boot, 'boot-service')['LoadState']).toBe('loaded');
    // systemd-analyze security against the running manager rates the loaded unit.
    expect(readText(scenario.boot, 'security.txt')).toMatch(/Overall exposure level for nm-cloud-setup\.service: \d+\.\d+ OK/);
  });

  it('the boot run succeeds and configured the devices before network-online.target was reached', () => {
    const b = scenario.boot;
    expect(readShow(b, 'boot-service'), readText(b, 'unit-journal.txt')).toMatchObject({
      Result: 'success',
      ExecMainCode: '1',
      ExecMainStatus: '0',
    });
    expect(readShow(b, 'boot-online')['ActiveState']).toBe('active');
    const journal = readJournal(b);
    // The tool's own line (after its "[<boottime>] <info>  " prefix), then systemd's.
    const applied = indexOf(journal, (e) => ofUnit(e) && message(e).endsWith('<info>  some changes were applied for provider ec2'));
    const finished = indexOf(journal, (e) => ofUnit(e) && message(e).startsWith('Finished nm-cloud-setup.service'), applied);
    const online = indexOf(
      journal,
      (e) => e.UNIT === 'network-online.target' && message(e).startsWith('Reached target network-online.target'),
    );
    expect(applied, readText(b, 'unit-journal.txt')).toBeGreaterThanOrEqual(0);
    expect(finished).toBeGreaterThan(applied);
    expect(online).toBeGreaterThan(finished);
  });

  it('the secondary addresses, their routes and the policy rules are in the kernel after boot', () => {
    expect(kernelState(scenario.boot, 'boot')).toEqual(EXPECTED);
  });

  it('the timer is valid, elapses (shortened by a drop-in) and its run succeeds', () => {
    const b = scenario.boot;
    const timer = readShow(b, 'timer');
    expect(timer).toMatchObject({ LoadState: 'loaded', ActiveState: 'active', Result: 'success', Triggers: 'nm-cloud-setup.service' });
    const service = readShow(b, 'timer-service');
    expect(service).toMatchObject({ Result: 'success', ExecMainStatus: '0' });
    // The run recorded started at or after the elapse: the timer started it.
    const stamps = readShow(b, 'timer-stamps');
    const trigger = Number(stamps['trigger']);
    expect(trigger, JSON.stringify(stamps)).toBeGreaterThan(0);
    expect(Number(stamps['start']), JSON.stringify(stamps)).toBeGreaterThanOrEqual(trigger);
  });

  it("re-activating eth1 runs the pre-up dispatcher hook, which restarts the unit, which re-adds eth1's secondary address", () => {
    const b = scenario.boot;
    expect(readText(b, 'dispatcher-nmcli.txt')).toMatch(/successfully activated[\s\S]*exit 0\n$/);
    const before = readShow(b, 'dispatcher-before')['InvocationID'];
    const after = readShow(b, 'dispatcher-after');
    expect(after['InvocationID']).not.toBe(before);
    expect(after).toMatchObject({ Result: 'success', ExecMainStatus: '0' });
    // Re-activation resets eth1 to its profile (one address); only the hook's run can add .10 back.
    expect(kernelState(b, 'dispatcher')).toEqual(EXPECTED);
    const journal = readJournal(b);
    expect(
      indexOf(journal, (e) => e.UNIT === 'NetworkManager-dispatcher.service' && message(e).startsWith('Started')),
    ).toBeGreaterThanOrEqual(0);
  });

  it("a run stopped by SIGTERM at start-up, before node has a handler (as the hook's restart does at boot), is a success", () => {
    // ExecMainCode 2, status 15: systemd's SIGTERM ended node itself; the handler would exit 0.
    expect(readShow(scenario.boot, 'early-term')).toEqual({ Result: 'success', ExecMainCode: '2', ExecMainStatus: '15' });
  });

  it("the journal has no SIGSYS or SIGTRAP kill, and the tool's lines carry its own name", () => {
    const entries = readJournal(scenario.boot).filter(ofUnit);
    const messages = entries.map(message);
    // A restart may still kill a starting run with SIGTERM (code=killed, status=15/TERM), but
    // that is no failure (SuccessExitStatus=SIGTERM), and nothing else may kill it.
    expect(messages.filter((m) => /status=\d+\/(?!TERM)|code=dumped|Failed with result/.test(m))).toEqual([]);
    const toolLines = entries.filter((e) => e._SYSTEMD_UNIT === 'nm-cloud-setup.service');
    expect(toolLines.length).toBeGreaterThan(0);
    expect(new Set(toolLines.map((e) => e.SYSLOG_IDENTIFIER))).toEqual(new Set(['nm-cloud-setup']));
    expect(toolLines.some((e) => message(e).endsWith('<info>  provider ec2 detected'))).toBe(true);
  });
});

describe('the probe', () => {
  it('is shellcheck-clean, as POSIX sh', async () => {
    const lint = await promisify(execFile)('shellcheck', ['--shell=sh', '--severity=style', PROBE_SH]);
    expect(lint.stdout + lint.stderr).toBe('');
  });
});
