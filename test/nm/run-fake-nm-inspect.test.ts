// SPDX-License-Identifier: LGPL-2.1-or-later
// status, plan and fetch, the state file and JSON logs: the built CLI against the fake
// NetworkManager on a private bus, with upstream's EC2 data plus the instance facts.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readIpv4Lists, type SettingsDict } from '../../src/nm/settings.js';
import { toNmcli } from '../../src/plan/nmcli.js';
import type { PlanDocument, StatusDocument } from '../../src/report.js';
import { ethernetProfile, type FakeDeviceSpec } from '../fakes/fake-nm-service.js';
import {
  callsOf,
  EC2_MACS,
  EC2_TOKEN,
  fakeNmCloud,
  HW1,
  HW2,
  MAC1,
  MAC2,
  plainSettings,
  upstreamEc2Paths,
} from '../helpers/fake-nm-run.js';
import { loadSchema, validate } from '../helpers/json-schema.js';
import { scratchDir } from '../helpers/scratch.js';
import type { CliOutcome } from '../helpers/run-cli.js';

const FACTS = {
  '/latest/meta-data/instance-id': 'i-0123456789abcdef0',
  '/latest/meta-data/placement/region': 'eu-central-1',
  '/latest/meta-data/placement/availability-zone': 'eu-central-1b',
  '/latest/meta-data/instance-type': 'm6i.large',
};
const ec2 = fakeNmCloud('EC2', () => ({ ec2Token: EC2_TOKEN, paths: { ...upstreamEc2Paths(), ...FACTS } }));

/** The loopback port changes per run; snapshots show it as PORT. */
const stablePort = (text: string): string => text.replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT');

function json<T>(outcome: CliOutcome): T {
  return JSON.parse(outcome.stdout) as T;
}

/** Subcommands log to stderr; with NM_CLOUD_SETUP_LOG=trace there is plenty of it. */
const QUIET = { NM_CLOUD_SETUP_LOG: 'warn' };

describe('plan against a fake NetworkManager', () => {
  it('before apply: exit 2, the nmcli command and the diff, and nothing written', async ({ onTestFinished }) => {
    const world = await ec2.start(onTestFinished);
    const fake = await world.startNm();
    const text = await world.run({ ...QUIET }, ['plan']);
    expect(text).toMatchObject({ code: 2, stderr: '' });
    await expect(stablePort(text.stdout)).toMatchFileSnapshot('__snapshots__/plan-before-apply.txt');

    const planned = await world.run({ ...QUIET }, ['plan', '--json']);
    expect(planned.code).toBe(2);
    const plan = json<PlanDocument>(planned);
    expect(validate(loadSchema('plan.schema.json'), plan)).toEqual([]);
    expect(plan.pending).toBe(1);
    expect(plan.devices.map(({ hwaddr, device, action, reason }) => ({ hwaddr, device, action, reason }))).toEqual([
      // Processing order: the listing gives mac2 first, so eth1 is iface_idx 0.
      { hwaddr: HW2, device: 'eth1', action: 'skip', reason: 'skip applied connection due to missing IPv4 configuration' },
      { hwaddr: HW1, device: 'eth0', action: 'reapply', reason: undefined },
    ]);
    // --dry-run is the same plan.
    const dryRun = await world.run({ ...QUIET }, ['--dry-run', '--json']);
    expect(dryRun.code).toBe(2);
    expect(json<PlanDocument>(dryRun)).toEqual(plan);
    expect(callsOf(fake, 'Reapply')).toEqual([]);
  });

  it('shows exactly what the following apply sends, and nothing to do afterwards', async ({ onTestFinished }) => {
    const world = await ec2.start(onTestFinished);
    const fake = await world.startNm();
    const plan = json<PlanDocument>(await world.run({ ...QUIET }, ['plan', '--json']));
    const eth0 = plan.devices.find((device) => device.device === 'eth0');

    expect((await world.run()).code).toBe(0);
    const [reapply] = callsOf(fake, 'Reapply');
    const sent = readIpv4Lists(reapply?.args[0] as SettingsDict);
    expect(sent).toBeDefined();
    expect(eth0?.ipv4?.after).toEqual(toNmcli(sent!));

    const after = await world.run({ ...QUIET }, ['plan']);
    expect(after).toMatchObject({ code: 0, stderr: '' });
    expect(after.stdout).toBe(
      [
        `eth1 (${HW2}) connection "con-eth1": skip: skip applied connection due to missing IPv4 configuration`,
        `eth0 (${HW1}) connection "con-eth0": no change`,
        'Nothing to change.',
        '',
      ].join('\n'),
    );
    expect(json<PlanDocument>(await world.run({ ...QUIET }, ['plan', '--json'])).pending).toBe(0);
    expect(callsOf(fake, 'Reapply')).toHaveLength(1);
  });
});

describe('status against a fake NetworkManager', () => {
  it('--json validates against docs/status.schema.json and tells out-of-sync from in-sync', async ({ onTestFinished }) => {
    const world = await ec2.start(onTestFinished);
    await world.startNm();
    const before = await world.run({ ...QUIET }, ['status', '--json']);
    expect(before).toMatchObject({ code: 0, stderr: '' });
    const status = json<StatusDocument>(before);
    expect(validate(loadSchema('status.schema.json'), status)).toEqual([]);
    expect(status.provider).toEqual({ name: 'ec2', metadataUrl: world.metadata.url });
    expect(status.instance).toEqual({ id: 'i-0123456789abcdef0', region: 'eu-central-1', zone: 'eu-central-1b', type: 'm6i.large' });
    expect(status.interfaces).toEqual([
      {
        hwaddr: HW2,
        ifaceIdx: 0,
        requested: true,
        valid: true,
        ipv4s: ['172.31.26.249'],
        subnet: '172.31.16.0/20',
        gateway: '172.31.16.1',
        routes: [],
        device: 'eth1',
        connection: { id: 'con-eth1', uuid: expect.any(String) as unknown },
        config: 'skipped',
        reason: 'skip applied connection due to missing IPv4 configuration',
      },
      {
        hwaddr: HW1,
        ifaceIdx: 1,
        requested: true,
        valid: true,
        ipv4s: ['172.31.176.249'],
        subnet: '172.31.166.0/20',
        gateway: '172.31.160.1',
        routes: [],
        device: 'eth0',
        connection: { id: 'con-eth0', uuid: expect.any(String) as unknown },
        config: 'out-of-sync',
      },
    ]);

    expect((await world.run()).code).toBe(0);
    const after = json<StatusDocument>(await world.run({ ...QUIET }, ['status', '--json']));
    expect(after.interfaces.map((row) => row.config)).toEqual(['skipped', 'in-sync']);
  });

  it('text: aligned columns (snapshot); logs stay on stderr', async ({ onTestFinished }) => {
    const world = await ec2.start(onTestFinished);
    await world.startNm();
    expect((await world.run()).code).toBe(0);
    const outcome = await world.run({ NM_CLOUD_SETUP_LOG: 'info' }, ['status']);
    expect(outcome.code).toBe(0);
    await expect(stablePort(outcome.stdout)).toMatchFileSnapshot('__snapshots__/status-after-apply.txt');
    expect(outcome.stdout).not.toContain('<info>');
    expect(outcome.stderr).toContain('<info>  provider ec2 detected');
  });

  it('a fact the metadata does not serve is left out, not an error', async ({ onTestFinished }) => {
    const world = await ec2.start(onTestFinished, { ec2Token: EC2_TOKEN, paths: upstreamEc2Paths() });
    await world.startNm();
    const outcome = await world.run({ ...QUIET }, ['status', '--json']);
    expect(outcome.code).toBe(0);
    expect(json<StatusDocument>(outcome).instance).toEqual({});
  });
});

describe('state file and fetch against a fake NetworkManager', () => {
  it('apply writes state.json (schema-valid, 0644, no token); a failed fetch keeps it and the config', async ({ onTestFinished }) => {
    const world = await ec2.start(onTestFinished);
    const fake = await world.startNm();
    const dir = scratchDir('nmcs-state-');
    const stateFile = join(dir, 'state.json');
    expect((await world.run({ RUNTIME_DIRECTORY: dir })).code).toBe(0);

    const written = readFileSync(stateFile, 'utf8');
    const state = JSON.parse(written) as Record<string, unknown>;
    expect(validate(loadSchema('state.schema.json'), state)).toEqual([]);
    expect(state).toMatchObject({
      command: 'apply',
      result: 'changed',
      provider: { name: 'ec2', metadataUrl: world.metadata.url },
      devices: [
        { hwaddr: HW2, device: 'eth1', result: 'skipped' },
        { hwaddr: HW1, device: 'eth0', connection: { id: 'con-eth0' }, result: 'applied' },
      ],
    });
    expect(statSync(stateFile).mode & 0o777).toBe(0o644);
    expect(written).not.toContain(EC2_TOKEN);

    // One leaf now fails: get-config fails after its 10 s poll window.
    world.metadata.update({
      ec2Token: EC2_TOKEN,
      paths: { ...upstreamEc2Paths(), [`${EC2_MACS}${MAC1}/local-ipv4s`]: { status: 500 } },
    });
    const mtime = statSync(stateFile).mtimeMs;
    const failed = await world.run({ RUNTIME_DIRECTORY: dir });
    expect(failed.code).toBe(0);
    expect(failed.stdout).toContain('failure to get meta data');
    expect(readFileSync(stateFile, 'utf8')).toBe(written);
    expect(statSync(stateFile).mtimeMs).toBe(mtime);
    // The runtime config stays: no Reapply emptied the lists.
    expect(callsOf(fake, 'Reapply')).toHaveLength(1);

    const fetch = await world.run({ RUNTIME_DIRECTORY: dir, ...QUIET }, ['fetch']);
    expect(fetch.code).toBe(1);
    expect(fetch.stderr).toMatch(/^\S+: failure to get meta data: .+\n$/);
    expect(readFileSync(stateFile, 'utf8')).toBe(written);
  }, 40_000);

  it('fetch writes the metadata and changes nothing', async ({ onTestFinished }) => {
    const world = await ec2.start(onTestFinished);
    const fake = await world.startNm();
    const dir = scratchDir('nmcs-state-');
    const outcome = await world.run({ RUNTIME_DIRECTORY: dir, ...QUIET }, ['fetch']);
    expect(outcome).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Record<string, unknown>;
    expect(validate(loadSchema('state.schema.json'), state)).toEqual([]);
    expect(state).toMatchObject({ command: 'fetch', result: 'fetched', devices: [] });
    expect(state['interfaces']).toHaveLength(2);
    expect(callsOf(fake, 'Reapply')).toEqual([]);
    expect(callsOf(fake, 'GetAppliedConnection')).toEqual([]);
  });
});

describe('NM_CLOUD_SETUP_LOG_FORMAT=json against a fake NetworkManager', () => {
  it('every line is one JSON object; device lines carry provider, hwaddr and device', async ({ onTestFinished }) => {
    const world = await ec2.start(onTestFinished);
    await world.startNm();
    const outcome = await world.run({ NM_CLOUD_SETUP_LOG_FORMAT: 'json', NM_CLOUD_SETUP_LOG: 'debug' });
    expect(outcome.code).toBe(0);
    const lines = outcome.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const line of lines) {
      expect(Object.keys(line).slice(0, 3)).toEqual(['time', 'level', 'message']);
      expect(line['time']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 'info', message: 'some changes were applied for provider ec2', provider: 'ec2' }),
    );
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'debug',
        message: expect.stringMatching(/^config device CC:00:00:00:00:01: reapply connection/) as unknown,
        provider: 'ec2',
        hwaddr: HW1,
        device: 'eth0',
      }),
    );
    expect(lines[0]).toEqual(
      expect.objectContaining({ level: 'debug', message: expect.stringMatching(/^nm-cloud-setup \S+ starting\.\.\.$/) as unknown }),
    );
    expect(lines[0]).not.toHaveProperty('provider');
  });
});

describe('IPv6 metadata in status and plan against a fake NetworkManager', () => {
  /** Upstream's EC2 data plus each MAC's listing and a dual-stack IPv6 part. */
  const dualStack = (): Record<string, string> => {
    const paths: Record<string, string> = { ...upstreamEc2Paths(), ...FACTS };
    for (const [mac, net] of [
      [MAC1, 'fd00:1:1'],
      [MAC2, 'fd00:1:2'],
    ] as const) {
      paths[`${EC2_MACS}${mac}/`] = 'ipv6s\nlocal-ipv4s\nsubnet-ipv4-cidr-block\nsubnet-ipv6-cidr-blocks';
      paths[`${EC2_MACS}${mac}/ipv6s`] = `${net}::5\n${net}::6`;
      paths[`${EC2_MACS}${mac}/subnet-ipv6-cidr-blocks`] = `${net}::/64`;
    }
    return paths;
  };
  const DUAL_STACK_DEVICES = [
    { iface: 'eth0', type: 'ethernet', hwaddr: MAC1, profile: ethernetProfile({ id: 'con-eth0', ipv4: { method: 'auto' } }) },
    { iface: 'eth1', type: 'ethernet', hwaddr: MAC2, profile: ethernetProfile({ id: 'con-eth1', ipv4: { method: 'auto' } }) },
  ] as const satisfies readonly FakeDeviceSpec[];

  it('IPv6 off: status and plan show the addresses as not applied, plan has no ipv6 change; the bare run reads no IPv6', async ({
    onTestFinished,
  }) => {
    const world = await ec2.start(onTestFinished, { ec2Token: EC2_TOKEN, paths: dualStack() });
    const fake = await world.startNm(DUAL_STACK_DEVICES);

    const status = json<StatusDocument>(await world.run({ ...QUIET }, ['status', '--json']));
    expect(validate(loadSchema('status.schema.json'), status)).toEqual([]);
    expect(status.interfaces.map(({ hwaddr, ipv6s, ipv6Subnet, ipv6Applied }) => ({ hwaddr, ipv6s, ipv6Subnet, ipv6Applied }))).toEqual([
      { hwaddr: HW2, ipv6s: ['fd00:1:2::5', 'fd00:1:2::6'], ipv6Subnet: 'fd00:1:2::/64', ipv6Applied: false },
      { hwaddr: HW1, ipv6s: ['fd00:1:1::5', 'fd00:1:1::6'], ipv6Subnet: 'fd00:1:1::/64', ipv6Applied: false },
    ]);
    const text = await world.run({ ...QUIET }, ['status']);
    expect(text.stdout).toContain('fd00:1:1::5(not applied)');

    const planned = await world.run({ ...QUIET }, ['plan', '--json']);
    const plan = json<PlanDocument>(planned);
    expect(validate(loadSchema('plan.schema.json'), plan)).toEqual([]);
    expect(plan.devices.map(({ device, action }) => [device, action])).toEqual([
      ['eth1', 'reapply'],
      ['eth0', 'reapply'],
    ]);
    for (const device of plan.devices) {
      expect(device.ipv6).toBeUndefined();
      expect(device.ipv6Diff).toBeUndefined();
      expect(device.command).not.toContain('ipv6');
    }
    expect(plan.devices.find((device) => device.device === 'eth0')?.metadataIpv6).toEqual({
      addresses: ['fd00:1:1::5', 'fd00:1:1::6'],
      subnet: 'fd00:1:1::/64',
      applied: false,
    });
    const planText = await world.run({ ...QUIET }, ['plan']);
    expect(planText.stdout).toContain('  ipv6 in the metadata, not applied (NM_CLOUD_SETUP_IPV6 is off): fd00:1:1::5, fd00:1:1::6');
    expect(callsOf(fake, 'Reapply')).toEqual([]);

    // The bare run: upstream's requests only, and the ipv6 settings as they were.
    const ipv6Before = plainSettings(fake.device('eth0').applied)['ipv6'];
    const before = world.metadata.requests().length;
    expect((await world.run()).code).toBe(0);
    const urls = world.metadata
      .requests()
      .slice(before)
      .map((request) => request.url);
    expect(urls.filter((url) => url.includes('ipv6') || url.endsWith(':01/') || url.endsWith(':02/'))).toEqual([]);
    expect(callsOf(fake, 'Reapply')).toHaveLength(2);
    for (const call of callsOf(fake, 'Reapply')) expect(plainSettings(call.args[0])['ipv6']).toEqual(ipv6Before);
  });

  it('IPv6 on: plan shows the ipv6 change and the metadata as applied', async ({ onTestFinished }) => {
    const world = await ec2.start(onTestFinished, { ec2Token: EC2_TOKEN, paths: dualStack() });
    await world.startNm(DUAL_STACK_DEVICES);
    const plan = json<PlanDocument>(await world.run({ ...QUIET, NM_CLOUD_SETUP_IPV6: 'yes' }, ['plan', '--json']));
    expect(validate(loadSchema('plan.schema.json'), plan)).toEqual([]);
    const eth0 = plan.devices.find((device) => device.device === 'eth0');
    expect(eth0?.metadataIpv6?.applied).toBe(true);
    expect(eth0?.ipv6Diff?.addresses.added).toEqual(['fd00:1:1::5/64', 'fd00:1:1::6/64']);
    const status = json<StatusDocument>(await world.run({ ...QUIET, NM_CLOUD_SETUP_IPV6: 'yes' }, ['status', '--json']));
    expect(status.interfaces.map((row) => row.ipv6Applied)).toEqual([true, true]);
  });
});
