// SPDX-License-Identifier: LGPL-2.1-or-later
//
// End-to-end faults (docs/reliability.md): the built CLI against a REAL NetworkManager 1.42
// (test/harness/realnm.sh) while devices come and go, while NetworkManager is frozen by
// SIGSTOP, and when the bus daemon dies mid-run. Every runtime outcome is exit 0 with a log
// line (upstream's contract), never "unexpected failure", never the shutdown guard's line.
// Needs root; fails (does not skip) without it. Run `npm run build` first.
//
// scripts/measure-reliability.sh measures the same faults over many runs (figures in
// docs/reliability.md); these tests assert the behaviour, not the time.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pollUntil, run as runCommand, type ExecResult, type ImdsConfig, type RealNm } from '../harness/realnm.js';
import { MAC0, MAC1, cliRunner, expectKernelState, output, useRealnm } from '../helpers/realnm-run.js';

const MACS = '/2018-09-24/meta-data/network/interfaces/macs/';

/** eth0 gets 172.16.4.10, eth1 172.16.5.10; `listingDelayMs` holds the MAC listing back. */
function metadata(listingDelayMs = 0): ImdsConfig {
  return {
    ec2Token: 'token',
    paths: {
      [MACS]: { body: `${MAC0}/\n${MAC1}/`, delayMs: listingDelayMs },
      [`${MACS}${MAC0}/local-ipv4s`]: '172.16.4.2\n172.16.4.10',
      [`${MACS}${MAC0}/subnet-ipv4-cidr-block`]: '172.16.4.0/24',
      [`${MACS}${MAC1}/local-ipv4s`]: '172.16.5.2\n172.16.5.10',
      [`${MACS}${MAC1}/subnet-ipv4-cidr-block`]: '172.16.5.0/24',
    },
  };
}

const tool = cliRunner({ NM_CLOUD_SETUP_EC2: 'yes' });

/** What no run may print, whatever the fault. */
function expectNoBugLines(r: ExecResult): void {
  expect(r.stdout, output(r)).not.toContain('unexpected failure');
  expect(r.stdout, output(r)).not.toContain('shutdown: timeout waiting to application to quit');
}

/** The NetworkManager process in this instance's namespace. */
async function nmPid(nm: RealNm): Promise<number> {
  const pids = (await runCommand('ip', ['netns', 'pids', nm.netns])).stdout.split(/\s+/).filter(Boolean);
  for (const pid of pids) {
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === 'NetworkManager') return Number(pid);
  }
  throw new Error(`no NetworkManager in ${nm.netns}`);
}

describe('unrelated devices come and go during every run', () => {
  const scenario = useRealnm({ name: 'ncs-e2e-churn', nics: 2, ipv4: 'static', metadata: metadata() });

  it('each run exits 0 and configures both NICs; a vanished device is only a debug line', async () => {
    const nm = scenario.nm;
    const stop = path.join(nm.stateDir, 'churn.stop');
    const count = path.join(nm.stateDir, 'churn.count');
    // Two loops create and delete veths as fast as they can, so NetworkManager lists devices
    // that are gone by the time the tool reads them ("Object does not exist at path").
    const loops = [1, 2].map((i) =>
      nm.exec(
        [
          'bash',
          '-c',
          `n=0; while [ ! -e ${stop} ]; do ip link add ch${i} type veth peer name ch${i}p; ip link del ch${i}; n=$((n+1)); done; echo $n >>${count}`,
        ],
        { timeoutMs: 300_000 },
      ),
    );
    const runs: ExecResult[] = [];
    try {
      for (let i = 0; i < 10; i++) runs.push(await tool(nm));
    } finally {
      await writeFile(stop, '');
      await Promise.all(loops);
    }
    const churned = (await readFile(count, 'utf8')).split('\n').filter(Boolean).map(Number);
    expect(
      churned.reduce((a, b) => a + b, 0),
      'the churn loops ran',
    ).toBeGreaterThan(0);
    for (const r of runs) {
      expect(r.code, output(r)).toBe(0);
      expectNoBugLines(r);
      expect(r.stdout, output(r)).toContain(`found interfaces: ${MAC0.toUpperCase()}, ${MAC1.toUpperCase()}`);
      expect(r.stdout, output(r)).not.toContain('failure to talk to NetworkManager');
      for (const line of r.stdout.split('\n').filter((l) => l.includes('vanished'))) expect(line).toMatch(/^\S+ <debug> device \//);
    }
    await expectKernelState(nm, {
      addrsAnyOrder: { eth0: ['172.16.4.2/24', '172.16.4.10/24'], eth1: ['172.16.5.2/24', '172.16.5.10/24'] },
    });
  }, 240_000);
});

describe('NetworkManager frozen by SIGSTOP', () => {
  const scenario = useRealnm({ name: 'ncs-e2e-frozen', nics: 2, ipv4: 'static', metadata: metadata() });

  it('is "failure to talk to NetworkManager" after libnm\'s 25 s call timeout: exit 0, nothing left behind', async () => {
    const nm = scenario.nm;
    const pid = await nmPid(nm);
    process.kill(pid, 'SIGSTOP');
    let r: ExecResult;
    try {
      r = await tool(nm);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect(r.code, output(r)).toBe(0);
    expectNoBugLines(r);
    expect(r.stdout, output(r)).toContain('<info>  failure to talk to NetworkManager: GetDevices timed out after 25000 ms');
    // Nothing was configured; NetworkManager, thawed, still answers the next run.
    const next = await tool(nm);
    expect(next.code, output(next)).toBe(0);
    expect(next.stdout, output(next)).toContain('some changes were applied for provider ec2');
  }, 120_000);
});

describe('the bus daemon killed while the tool waits for the metadata', () => {
  const scenario = useRealnm({ name: 'ncs-e2e-buskill', nics: 2, ipv4: 'static', metadata: metadata(2500) });

  it('every later call fails at once with "connection closed" (no 25 s timeout); exit 0', async () => {
    const nm = scenario.nm;
    const running = tool(nm);
    // Once the MAC listing was asked for, the tool is connected and has listed the devices.
    await pollUntil(async () => (await scenario.imds.requests()).some((request) => request.url === MACS), {
      timeoutMs: 20_000,
      intervalMs: 20,
      message: 'the tool asked for the MAC listing',
    });
    process.kill(Number((await readFile(path.join(nm.stateDir, 'dbus.pid'), 'utf8')).trim()), 'SIGKILL');
    const r = await running;
    expect(r.code, output(r)).toBe(0);
    expectNoBugLines(r);
    // The closed socket was noticed (its end is watched), so no call waited for its timeout.
    for (const mac of [MAC0, MAC1]) {
      expect(r.stdout, output(r)).toMatch(
        new RegExp(
          `<warn>  config device ${mac.toUpperCase()}: failure to reapply connection .*: D-Bus connection failed: the D-Bus connection was closed`,
        ),
      );
    }
    expect(r.stdout, output(r)).not.toContain('timed out after 25000 ms');
  }, 120_000);
});
