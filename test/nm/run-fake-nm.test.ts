// SPDX-License-Identifier: LGPL-2.1-or-later
// D-Bus contract: the built CLI and its real dbus-next client against a fake NetworkManager
// exported on a private dbus-daemon, with metadata from a loopback server. Mirrors upstream's
// TestNmCloudSetup (test-client.py) for EC2 and adds what it cannot test: real version ids,
// the version-id race, the flags fallback, SIGTERM after the first write.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startPrivateBus, type PrivateBus } from '../harness/dbus-daemon.js';
import { ethernetProfile, startFakeNm, toPlain, type FakeDeviceSpec, type FakeNm, type FakeNmOptions } from '../fakes/fake-nm-service.js';
import { callsOf, cloudSetupEnv, expectInOrder, MAC1, MAC2, UPSTREAM_DEVICES } from '../helpers/fake-nm-run.js';
import { startLoopbackMetadataServer, type LoopbackMetadataServer } from '../helpers/metadata-server.js';
import { runCli, startCli, type CliOutcome } from '../helpers/run-cli.js';

const MACS = '/2018-09-24/meta-data/network/interfaces/macs/';
const TOKEN = 'AQAAALH-k7i18JMkK-ORLZQfAa7nkNjQbKwpQPExNHqzk1oL_7eh-A==';

/** Upstream's EC2 mock data: listing order mac2, mac1, so eth0 (mac1) is iface_idx 1. */
const EC2_PATHS = {
  [MACS]: `${MAC2}\n${MAC1}\n`,
  [`${MACS}${MAC2}/subnet-ipv4-cidr-block`]: '172.31.16.0/20',
  [`${MACS}${MAC1}/subnet-ipv4-cidr-block`]: '172.31.166.0/20',
  [`${MACS}${MAC1}/local-ipv4s`]: '172.31.176.249',
  [`${MACS}${MAC2}/local-ipv4s`]: '172.31.26.249',
};

let bus: PrivateBus;
let nm: FakeNm | undefined;
let metadata: LoopbackMetadataServer;

beforeEach(async () => {
  bus = await startPrivateBus();
  metadata = await startLoopbackMetadataServer({ ec2Token: TOKEN, paths: EC2_PATHS });
});
afterEach(async () => {
  await nm?.stop();
  nm = undefined;
  await metadata.stop();
  await bus.stop();
});

async function fakeNm(devices: readonly FakeDeviceSpec[] = UPSTREAM_DEVICES, options: Partial<FakeNmOptions> = {}): Promise<FakeNm> {
  nm = await startFakeNm({ address: bus.address, devices: [...devices], ...options });
  return nm;
}

function cliEnv(extra: Record<string, string> = {}): Record<string, string> {
  return cloudSetupEnv('EC2', bus.address, metadata.url, extra);
}

const tool = (extra?: Record<string, string>): Promise<CliOutcome> => runCli(cliEnv(extra));
const calls = callsOf;

describe('EC2 against a fake NetworkManager on a private bus', () => {
  it('first run reapplies eth0 as upstream computes it; second run makes no Reapply call', async () => {
    const fake = await fakeNm();
    const profileBefore = toPlain(fake.device('eth0').profile);

    const first = await tool();
    expect(first.code).toBe(0);
    expectInOrder(first.stdout, [
      'provider ec2 detected',
      'found interfaces: CC:00:00:00:00:01, CC:00:00:00:00:02',
      'get-config: starting',
      'get-config: success',
      'meta data received',
      'config device CC:00:00:00:00:02: skip applied connection due to missing IPv4 configuration',
      'some changes were applied for provider ec2',
    ]);
    expect(first.stdout).toContain('config device CC:00:00:00:00:01: connection "con-eth0"');

    const [reapply, ...more] = calls(fake, 'Reapply');
    expect(more).toEqual([]);
    expect(reapply?.path).toBe(fake.device('eth0').path);
    const [settings, versionId, flags] = reapply!.args as [unknown, bigint, number];
    expect(flags).toBe(1);
    // The version id went through as a full u64 (they start above 2^53 in the fake) and was the
    // current one: the Reapply succeeded and the daemon moved to the next id.
    expect(typeof versionId).toBe('bigint');
    expect(versionId > 2n ** 53n).toBe(true);
    expect(fake.device('eth0').versionId).toBe(versionId + 1n);
    const ipv4 = (toPlain(settings) as Record<string, Record<string, unknown>>)['ipv4']!;
    // The legacy keys must be gone, or the daemon would take them over address-data.
    expect(Object.keys(ipv4)).not.toContain('addresses');
    expect(Object.keys(ipv4)).not.toContain('routes');
    expect(ipv4['method']).toBe('auto');
    expect(ipv4['address-data']).toEqual([{ address: '172.31.176.249', prefix: 20 }]);
    expect(ipv4['route-data']).toEqual([
      { dest: '172.31.176.0', prefix: 20, metric: 10, table: 30201 },
      { dest: '0.0.0.0', prefix: 0, 'next-hop': '172.31.160.1', metric: 10, table: 30401 },
    ]);
    expect(ipv4['routing-rules']).toEqual([
      { family: 2, priority: 30201, from: '172.31.176.249', 'from-len': 32, table: 30201 },
      { family: 2, priority: 30350, table: 254, 'suppress-prefixlength': 0 },
      { family: 2, priority: 30401, from: '172.31.176.249', 'from-len': 32, table: 30401 },
    ]);
    // Everything else went back unchanged, with its original types (ipv6 a(ayuay) and all).
    const applied = toPlain(fake.device('eth0').applied) as Record<string, unknown>;
    expect(applied['ipv6']).toEqual((profileBefore as Record<string, unknown>)['ipv6']);
    expect(toPlain(fake.device('eth0').profile)).toEqual(profileBefore);

    const reapplies = calls(fake, 'Reapply').length;
    const second = await tool();
    expect(second.code).toBe(0);
    expectInOrder(second.stdout, [
      'provider ec2 detected',
      'found interfaces: CC:00:00:00:00:01, CC:00:00:00:00:02',
      'get-config: starting',
      'get-config: success',
      'meta data received',
      'device needs no update to applied connection "con-eth0"',
      'no changes were applied for provider ec2',
    ]);
    expect(calls(fake, 'Reapply')).toHaveLength(reapplies);
  });

  it('the token is fetched once with PUT, sent on every GET and never logged', async () => {
    await fakeNm();
    const outcome = await tool();
    const requests = metadata.requests();
    expect(requests[0]).toMatchObject({ method: 'PUT', url: '/latest/api/token' });
    expect(requests[0]?.headers['x-aws-ec2-metadata-token-ttl-seconds']).toBe('180');
    expect(requests.filter((request) => request.method === 'PUT')).toHaveLength(1);
    for (const request of requests.slice(1)) {
      expect(request).toMatchObject({ method: 'GET', status: 200 });
      expect(request.headers['x-aws-ec2-metadata-token']).toBe(TOKEN);
    }
    expect(outcome.stdout).not.toContain(TOKEN);
  });

  it('retries after a version-id race and succeeds with the fresh version id', async () => {
    const fake = await fakeNm();
    fake.bumpVersionOnNextGetApplied('eth0', 2);
    const outcome = await tool();
    expect(outcome.stdout.match(/config device CC:00:00:00:00:01: applied connection changed in the meantime\. Retry\.\.\./g)).toHaveLength(2);
    const reapplies = calls(fake, 'Reapply');
    expect(reapplies.map((call) => call.error)).toEqual([
      'org.freedesktop.NetworkManager.Device.VersionIdMismatch',
      'org.freedesktop.NetworkManager.Device.VersionIdMismatch',
      undefined,
    ]);
    expect(outcome.stdout).toContain('connection "con-eth0" (');
    expect(outcome.stdout).toMatch(/config device CC:00:00:00:00:01: connection "con-eth0" \([0-9a-f-]+\) reapplied/);
    expect(outcome.stdout).toContain('some changes were applied for provider ec2');
  });

  it('gives up after 5 retries (6 attempts) and logs the failure as a warning', async () => {
    const fake = await fakeNm();
    fake.bumpVersionOnNextGetApplied('eth0', 10);
    const outcome = await tool();
    expect(calls(fake, 'Reapply')).toHaveLength(6);
    expect(outcome.stdout).toMatch(/<warn> {2}config device CC:00:00:00:00:01: failure to reapply connection "con-eth0" \([^)]+\): /);
    expect(outcome.code).toBe(0);
  });

  it('honours the skip user data: no Reapply, nothing changes', async () => {
    const fake = await fakeNm();
    fake.setProfileUserData('eth0', 'org.freedesktop.nm-cloud-setup.skip', 'yes');
    const before = toPlain(fake.device('eth0').applied);
    const outcome = await tool();
    expect(outcome.stdout).toContain(
      'config device CC:00:00:00:00:01: skip applied connection due to user data org.freedesktop.nm-cloud-setup.skip',
    );
    expect(outcome.stdout).toContain('no changes were applied for provider ec2');
    expect(calls(fake, 'Reapply')).toEqual([]);
    expect(toPlain(fake.device('eth0').applied)).toEqual(before);
  });

  it('retries without preserve-external-ip on a daemon older than 1.41.6 (no VersionInfo)', async () => {
    const fake = await fakeNm(UPSTREAM_DEVICES, { versionInfo: null, rejectPreserveExternalIp: true });
    const outcome = await tool();
    expect(calls(fake, 'Reapply').map((call) => [call.args[2], call.error])).toEqual([
      [1, 'org.freedesktop.NetworkManager.Device.Failed'],
      [0, undefined],
    ]);
    expect(outcome.stdout).toContain('some changes were applied for provider ec2');
  });

  it('does not fall back on a daemon that knows the flag (>= 1.41.6)', async () => {
    const fake = await fakeNm(UPSTREAM_DEVICES, { version: '1.42.4', rejectPreserveExternalIp: true });
    const outcome = await tool();
    expect(calls(fake, 'Reapply')).toHaveLength(1);
    expect(outcome.stdout).toMatch(/failure to reapply connection "con-eth0" \([^)]+\): Invalid flags/);
  });

  it('skips a device that is not activated, and a veth counts as Ethernet', async () => {
    const fake = await fakeNm([
      { iface: 'eth0', type: 'veth', hwaddr: MAC1, profile: ethernetProfile({ id: 'con-eth0', ipv4: { method: 'auto' } }) },
      { iface: 'eth1', type: 'ethernet', hwaddr: MAC2, profile: null, state: 30 },
    ]);
    const outcome = await tool();
    expect(outcome.stdout).toContain('found interfaces: CC:00:00:00:00:01, CC:00:00:00:00:02');
    expect(outcome.stdout).toMatch(/config device CC:00:00:00:00:02: device has no applied connection \(.+\)\. Skip/);
    expect(calls(fake, 'Reapply').map((call) => call.path)).toEqual([fake.device('eth0').path]);
  });

  it('ignores unmanaged devices, bonds and devices the metadata does not know', async () => {
    const extra = 'cc:00:00:00:00:99';
    metadata.update({ ec2Token: TOKEN, paths: { ...EC2_PATHS, [MACS]: `${MAC2}\n${MAC1}\n` } });
    const fake = await fakeNm([
      ...UPSTREAM_DEVICES,
      { iface: 'bond0', type: 'bond', hwaddr: 'cc:00:00:00:00:aa', profile: null, state: 30 },
      { iface: 'eth9', type: 'ethernet', hwaddr: extra, profile: null, state: 10 },
    ]);
    const outcome = await tool();
    // eth9 is unmanaged (state 10): not requested, so no 15 s wait for it in the listing.
    expect(outcome.stdout).toContain('found interfaces: CC:00:00:00:00:01, CC:00:00:00:00:02\n');
    expect(outcome.ms).toBeLessThan(10_000);
    expect(calls(fake, 'Reapply')).toHaveLength(1);
  });

  it('NM_CLOUD_SETUP_MAP_INTERFACES replaces permanent MACs by interface name', async () => {
    const fake = await fakeNm([
      { iface: 'eth0', type: 'ethernet', hwaddr: '02:00:00:00:00:01', profile: ethernetProfile({ id: 'con-eth0', ipv4: { method: 'auto' } }) },
      { iface: 'eth1', type: 'ethernet', hwaddr: '02:00:00:00:00:02', profile: ethernetProfile({ id: 'con-eth1', ipv4: null }) },
    ]);
    const outcome = await tool({ NM_CLOUD_SETUP_MAP_INTERFACES: ` eth0=${MAC1} ; ;eth1=${MAC2}` });
    expectInOrder(outcome.stdout, [
      `test: map interfaces via NM_CLOUD_SETUP_MAP_INTERFACES=" eth0=${MAC1} ; ;eth1=${MAC2}"`,
      'test:  map "eth0" -> CC:00:00:00:00:01',
      'test:  map "eth1" -> CC:00:00:00:00:02',
      'found interfaces: CC:00:00:00:00:01, CC:00:00:00:00:02',
    ]);
    expect(calls(fake, 'Reapply').map((call) => call.path)).toEqual([fake.device('eth0').path]);
  });

  it('SIGTERM after the first Reapply is logged and ignored: every device is still configured', async () => {
    const devices: FakeDeviceSpec[] = [1, 2, 3].map((n) => ({
      iface: `eth${n - 1}`,
      type: 'ethernet',
      hwaddr: `cc:00:00:00:00:0${n}`,
      profile: ethernetProfile({ id: `con-eth${n - 1}`, ipv4: { method: 'auto' } }),
    }));
    const paths: Record<string, string> = { [MACS]: devices.map((device) => device.hwaddr).join('\n') };
    for (const [i, device] of devices.entries()) {
      paths[`${MACS}${device.hwaddr}/subnet-ipv4-cidr-block`] = `10.${i}.0.0/24`;
      paths[`${MACS}${device.hwaddr}/local-ipv4s`] = `10.${i}.0.5\n10.${i}.0.6`;
    }
    metadata.update({ ec2Token: TOKEN, paths });
    const fake = await fakeNm(devices, { reapplyDelayMs: 300 });
    const cli = startCli(cliEnv());
    await cli.waitFor('config device CC:00:00:00:00:01: reapply connection');
    cli.child.kill('SIGTERM');
    const outcome = await cli.done;
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toContain('SIGTERM received (first time) (ignore)');
    expect(calls(fake, 'Reapply').map((call) => call.path)).toEqual(devices.map((device) => fake.device(device.iface).path));
    expect(outcome.stdout).toContain('some changes were applied for provider ec2');
  });

  it('NetworkManager not on the bus: one info line, exit 0', async () => {
    const outcome = await tool({ NM_CLOUD_SETUP_LOG: 'info' });
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toContain('<info>  NetworkManager is not running');
  });

  it('metadata failure for one interface fails get-config and changes nothing', async () => {
    const paths: Record<string, string> = { ...EC2_PATHS };
    delete paths[`${MACS}${MAC1}/local-ipv4s`];
    metadata.update({ ec2Token: TOKEN, paths });
    const fake = await fakeNm();
    const outcome = await tool();
    // The per-MAC poll window is 10 s, after which the whole get-config fails.
    expect(outcome.stdout).toContain('get-config: failed: timeout expired');
    expect(outcome.stdout).toContain('<info>  failure to get meta data: timeout expired');
    expect(calls(fake, 'Reapply')).toEqual([]);
  }, 20_000);
});
