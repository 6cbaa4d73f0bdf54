// SPDX-License-Identifier: LGPL-2.1-or-later
// D-Bus contract: the built CLI and its real dbus-next client against a fake NetworkManager
// exported on a private dbus-daemon, with metadata from a loopback server. Mirrors upstream's
// TestNmCloudSetup (test-client.py) for EC2 and adds what it cannot test: real version ids,
// the version-id race, the flags fallback, SIGTERM after the first write.
import { describe, it } from 'vitest';
import { ethernetProfile, type FakeDeviceSpec } from '../fakes/fake-nm-service.js';
import {
  EC2_MACS as MACS,
  EC2_TOKEN as TOKEN,
  MAC1,
  MAC2,
  UPSTREAM_DEVICES,
  callsOf,
  expectInOrder,
  plainSettings,
  fakeNmCloud,
  itFailsGetConfig,
  itHonoursSkipUserData,
  itReappliesEth0ThenNothing,
  upstreamEc2Paths,
} from '../helpers/fake-nm-run.js';
import { startCli } from '../helpers/run-cli.js';

/** Upstream's EC2 mock data: listing order mac2, mac1, so eth0 (mac1) is iface_idx 1. */
const EC2_PATHS = upstreamEc2Paths();
const ec2 = fakeNmCloud('EC2', () => ({ ec2Token: TOKEN, paths: EC2_PATHS }));

describe('EC2 against a fake NetworkManager on a private bus', () => {
  itReappliesEth0ThenNothing(ec2, {
    title: 'first run reapplies eth0 as upstream computes it; second run makes no Reapply call',
    firstRun: [
      'provider ec2 detected',
      'found interfaces: CC:00:00:00:00:01, CC:00:00:00:00:02',
      'get-config: starting',
      'get-config: success',
      'meta data received',
      'config device CC:00:00:00:00:02: skip applied connection due to missing IPv4 configuration',
      'some changes were applied for provider ec2',
    ],
    firstRunAlso: ['config device CC:00:00:00:00:01: connection "con-eth0"'],
    ipv4: {
      method: 'auto',
      'address-data': [{ address: '172.31.176.249', prefix: 20 }],
      'route-data': [
        { dest: '172.31.176.0', prefix: 20, metric: 10, table: 30201 },
        { dest: '0.0.0.0', prefix: 0, 'next-hop': '172.31.160.1', metric: 10, table: 30401 },
      ],
      'routing-rules': [
        { family: 2, priority: 30201, from: '172.31.176.249', 'from-len': 32, table: 30201 },
        { family: 2, priority: 30350, table: 254, 'suppress-prefixlength': 0 },
        { family: 2, priority: 30401, from: '172.31.176.249', 'from-len': 32, table: 30401 },
      ],
      dns: [],
      'dns-search': [],
    },
    secondRun: [
      'provider ec2 detected',
      'found interfaces: CC:00:00:00:00:01, CC:00:00:00:00:02',
      'get-config: starting',
      'get-config: success',
      'meta data received',
      'device needs no update to applied connection "con-eth0"',
      'no changes were applied for provider ec2',
    ],
  });

  it('the token is fetched once with PUT, sent on every GET and never logged', async ({ expect, onTestFinished }) => {
    const h = await ec2.start(onTestFinished);
    await h.startNm();
    const outcome = await h.run();
    const requests = h.metadata.requests();
    expect(requests[0]).toMatchObject({ method: 'PUT', url: '/latest/api/token' });
    expect(requests[0]?.headers['x-aws-ec2-metadata-token-ttl-seconds']).toBe('180');
    expect(requests.filter((request) => request.method === 'PUT')).toHaveLength(1);
    for (const request of requests.slice(1)) {
      // Upstream's data serves no device-number (404: the tables follow the listing order).
      expect(request).toMatchObject({ method: 'GET', status: request.url.endsWith('/device-number') ? 404 : 200 });
      expect(request.headers['x-aws-ec2-metadata-token']).toBe(TOKEN);
    }
    expect(outcome.stdout).not.toContain(TOKEN);
  });

  it('retries after a version-id race and succeeds with the fresh version id', async ({ expect, onTestFinished }) => {
    const h = await ec2.start(onTestFinished);
    const fake = await h.startNm();
    fake.bumpVersionOnNextGetApplied('eth0', 2);
    const outcome = await h.run();
    expect(outcome.stdout.match(/config device CC:00:00:00:00:01: applied connection changed in the meantime\. Retry\.\.\./g)).toHaveLength(
      2,
    );
    const reapplies = callsOf(fake, 'Reapply');
    expect(reapplies.map((call) => call.error)).toEqual([
      'org.freedesktop.NetworkManager.Device.VersionIdMismatch',
      'org.freedesktop.NetworkManager.Device.VersionIdMismatch',
      undefined,
    ]);
    expect(outcome.stdout).toContain('connection "con-eth0" (');
    expect(outcome.stdout).toMatch(/config device CC:00:00:00:00:01: connection "con-eth0" \([0-9a-f-]+\) reapplied/);
    expect(outcome.stdout).toContain('some changes were applied for provider ec2');
  });

  it('gives up after 5 retries (6 attempts) and logs the failure as a warning', async ({ expect, onTestFinished }) => {
    const h = await ec2.start(onTestFinished);
    const fake = await h.startNm();
    fake.bumpVersionOnNextGetApplied('eth0', 10);
    const outcome = await h.run();
    expect(callsOf(fake, 'Reapply')).toHaveLength(6);
    expect(outcome.stdout).toMatch(/<warn> {2}config device CC:00:00:00:00:01: failure to reapply connection "con-eth0" \([^)]+\): /);
    expect(outcome.code).toBe(0);
  });

  itHonoursSkipUserData(ec2, [
    'config device CC:00:00:00:00:01: skip applied connection due to user data org.freedesktop.nm-cloud-setup.skip',
    'no changes were applied for provider ec2',
  ]);

  it('retries without preserve-external-ip on a daemon older than 1.41.6 (no VersionInfo)', async ({ expect, onTestFinished }) => {
    const h = await ec2.start(onTestFinished);
    const fake = await h.startNm(UPSTREAM_DEVICES, { versionInfo: null, rejectPreserveExternalIp: true });
    const outcome = await h.run();
    expect(callsOf(fake, 'Reapply').map((call) => [call.args[2], call.error])).toEqual([
      [1, 'org.freedesktop.NetworkManager.Device.Failed'],
      [0, undefined],
    ]);
    expect(outcome.stdout).toContain('some changes were applied for provider ec2');
  });

  it('does not fall back on a daemon that knows the flag (>= 1.41.6)', async ({ expect, onTestFinished }) => {
    const h = await ec2.start(onTestFinished);
    const fake = await h.startNm(UPSTREAM_DEVICES, { version: '1.42.4', rejectPreserveExternalIp: true });
    const outcome = await h.run();
    expect(callsOf(fake, 'Reapply')).toHaveLength(1);
    expect(outcome.stdout).toMatch(/failure to reapply connection "con-eth0" \([^)]+\): Invalid flags/);
  });

  it('skips a device that is not activated, and a veth counts as Ethernet', async ({ expect, onTestFinished }) => {
    const h = await ec2.start(onTestFinished);
    const fake = await h.startNm([
      { iface: 'eth0', type: 'veth', hwaddr: MAC1, profile: ethernetProfile({ id: 'con-eth0', ipv4: { method: 'auto' } }) },
      { iface: 'eth1', type: 'ethernet', hwaddr: MAC2, profile: null, state: 30 },
    ]);
    const outcome = await h.run();
    expect(outcome.stdout).toContain('found interfaces: CC:00:00:00:00:01, CC:00:00:00:00:02');
    expect(outcome.stdout).toMatch(/config device CC:00:00:00:00:02: device has no applied connection \(.+\)\. Skip/);
    expect(callsOf(fake, 'Reapply').map((call) => call.path)).toEqual([fake.device('eth0').path]);
  });

  it('ignores unmanaged devices, bonds and devices the metadata does not know', async ({ expect, onTestFinished }) => {
    const extra = 'cc:00:00:00:00:99';
    const h = await ec2.start(onTestFinished, { ec2Token: TOKEN, paths: { ...EC2_PATHS, [MACS]: `${MAC2}\n${MAC1}\n` } });
    const fake = await h.startNm([
      ...UPSTREAM_DEVICES,
      { iface: 'bond0', type: 'bond', hwaddr: 'cc:00:00:00:00:aa', profile: null, state: 30 },
      { iface: 'eth9', type: 'ethernet', hwaddr: extra, profile: null, state: 10 },
    ]);
    const outcome = await h.run();
    // eth9 is unmanaged (state 10): not requested, so no 15 s wait for it in the listing.
    expect(outcome.stdout).toContain('found interfaces: CC:00:00:00:00:01, CC:00:00:00:00:02\n');
    expect(outcome.ms).toBeLessThan(10_000);
    expect(callsOf(fake, 'Reapply')).toHaveLength(1);
  });

  it('NM_CLOUD_SETUP_MAP_INTERFACES replaces permanent MACs by interface name', async ({ expect, onTestFinished }) => {
    const h = await ec2.start(onTestFinished);
    const fake = await h.startNm([
      {
        iface: 'eth0',
        type: 'ethernet',
        hwaddr: '02:00:00:00:00:01',
        profile: ethernetProfile({ id: 'con-eth0', ipv4: { method: 'auto' } }),
      },
      { iface: 'eth1', type: 'ethernet', hwaddr: '02:00:00:00:00:02', profile: ethernetProfile({ id: 'con-eth1', ipv4: null }) },
    ]);
    const outcome = await h.run({ NM_CLOUD_SETUP_MAP_INTERFACES: ` eth0=${MAC1} ; ;eth1=${MAC2}` });
    expectInOrder(outcome.stdout, [
      `test: map interfaces via NM_CLOUD_SETUP_MAP_INTERFACES=" eth0=${MAC1} ; ;eth1=${MAC2}"`,
      'test:  map "eth0" -> CC:00:00:00:00:01',
      'test:  map "eth1" -> CC:00:00:00:00:02',
      'found interfaces: CC:00:00:00:00:01, CC:00:00:00:00:02',
    ]);
    expect(callsOf(fake, 'Reapply').map((call) => call.path)).toEqual([fake.device('eth0').path]);
  });

  it('SIGTERM after the first Reapply is logged and ignored: every device is still configured', async ({ expect, onTestFinished }) => {
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
    const h = await ec2.start(onTestFinished, { ec2Token: TOKEN, paths });
    const fake = await h.startNm(devices, { reapplyDelayMs: 300 });
    const cli = startCli(h.env());
    await cli.waitFor('config device CC:00:00:00:00:01: reapply connection');
    cli.child.kill('SIGTERM');
    const outcome = await cli.done;
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toContain('SIGTERM received (first time) (ignore)');
    expect(callsOf(fake, 'Reapply').map((call) => call.path)).toEqual(devices.map((device) => fake.device(device.iface).path));
    expect(outcome.stdout).toContain('some changes were applied for provider ec2');
  });

  it('no cloud detected: the connection made to NM during detection is closed, nothing is called, and the run ends', async ({
    expect,
    onTestFinished,
  }) => {
    // No token: the PUT never succeeds, so detection gives up after its 7 s window.
    const h = await ec2.start(onTestFinished, { paths: EC2_PATHS });
    const fake = await h.startNm();
    const outcome = await h.run({ NM_CLOUD_SETUP_LOG: 'debug' });
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toContain('<warn>  no provider detected');
    expect(outcome.stdout).not.toContain('found interfaces');
    // No straggling bus connection kept the process alive into the 2 s shutdown guard.
    expect(outcome.stdout).not.toContain('shutdown: timeout');
    expect(outcome.ms).toBeLessThan(9_000);
    // The fake records method calls (GetAppliedConnection, Reapply, ...), not property reads.
    expect(fake.calls).toEqual([]);
  }, 15_000);

  it('NetworkManager not on the bus: one info line, exit 0', async ({ expect, onTestFinished }) => {
    const h = await ec2.start(onTestFinished);
    const outcome = await h.run({ NM_CLOUD_SETUP_LOG: 'info' });
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toContain('<info>  NetworkManager is not running');
  });

  it('IPv6 on, no router in the metadata: the default route in 30400+i goes via IP6Config.Gateway (learned by RA)', async ({
    expect,
    onTestFinished,
  }) => {
    const paths: Record<string, string> = { ...EC2_PATHS };
    for (const [mac, net] of [
      [MAC1, 'fd00:1:1'],
      [MAC2, 'fd00:1:2'],
    ] as const) {
      paths[`${MACS}${mac}/`] = 'ipv6s\nlocal-ipv4s\nsubnet-ipv4-cidr-block\nsubnet-ipv6-cidr-blocks';
      paths[`${MACS}${mac}/ipv6s`] = `${net}::5\n${net}::6`;
      paths[`${MACS}${mac}/subnet-ipv6-cidr-blocks`] = `${net}::/64`;
    }
    const h = await ec2.start(onTestFinished, { ec2Token: TOKEN, paths });
    const fake = await h.startNm([
      { ...UPSTREAM_DEVICES[0]!, ipv6Gateway: 'fe80::1' },
      { iface: 'eth1', type: 'ethernet', hwaddr: MAC2, profile: ethernetProfile({ id: 'con-eth1', ipv4: { method: 'auto' } }) },
    ]);
    const outcome = await h.run({ NM_CLOUD_SETUP_IPV6: 'yes' });
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toContain(
      '<info>  config device CC:00:00:00:00:01: the metadata names no IPv6 router; IPv6 default route in table 30401 via fe80::1, the router NetworkManager learned by router advertisement on eth0',
    );
    expect(outcome.stdout).toContain(
      '<info>  config device CC:00:00:00:00:02: the metadata names no IPv6 router and NetworkManager learned none by router advertisement; IPv6 addresses and table 30200 only, no default route in table 30400',
    );
    const routesOf = (iface: string): unknown => plainSettings(fake.device(iface).applied)['ipv6']?.['route-data'];
    expect(routesOf('eth0')).toEqual([
      { dest: 'fd00:1:1::', prefix: 64, metric: 10, table: 30201 },
      { dest: '::', prefix: 0, 'next-hop': 'fe80::1', metric: 10, table: 30401 },
    ]);
    expect(routesOf('eth1')).toEqual([{ dest: 'fd00:1:2::', prefix: 64, metric: 10, table: 30200 }]);
  });

  itFailsGetConfig(ec2, {
    title: 'metadata failure (503) for one interface fails get-config and changes nothing',
    imds: { ec2Token: TOKEN, paths: { ...upstreamEc2Paths(), [`${MACS}${MAC1}/local-ipv4s`]: { status: 503 } } },
    // The per-MAC poll window is 10 s, after which the whole get-config fails (a 404 would be final: issue #10 item 2).
    lines: ['get-config: failed: timeout expired', '<info>  failure to get meta data: timeout expired'],
    timeoutMs: 20_000,
  });
});
