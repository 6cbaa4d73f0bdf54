// SPDX-License-Identifier: LGPL-2.1-or-later
// Azure end to end: the built CLI against the fake NetworkManager on a private bus, metadata from
// a loopback server with upstream's test_azure data (test-client.py). Azure has no gateway
// field: the policy route goes via the first host of subnet 0 (spec 3.3, 4.5).
import { describe, it } from 'vitest';
import type { ImdsConfig } from '../helpers/metadata-server.js';
import {
  HW1,
  HW2,
  IP1,
  IP2,
  MAC1,
  MAC2,
  callsOf,
  expectInOrder,
  plainSettings,
  startFakeNmRun,
  type FakeNmRun,
} from '../helpers/fake-nm-run.js';

const QUERY = '?format=text&api-version=2017-04-02';
const IFACE = '/metadata/instance/network/interface/';
const HEADERS = { Metadata: 'true' };

/** Upstream's test_azure paths (exact path + query); every request must carry Metadata: true. */
function azureMetadata(omit: string[] = []): ImdsConfig {
  const paths: Record<string, string> = {
    [`/metadata/instance${QUERY}`]: '',
    [`${IFACE}${QUERY}`]: '0\n1\n',
    [`${IFACE}0/macAddress${QUERY}`]: MAC1,
    [`${IFACE}1/macAddress${QUERY}`]: MAC2,
    [`${IFACE}0/ipv4/ipAddress/${QUERY}`]: '0\n',
    [`${IFACE}1/ipv4/ipAddress/${QUERY}`]: '0\n',
    [`${IFACE}0/ipv4/ipAddress/0/privateIpAddress${QUERY}`]: IP1,
    [`${IFACE}1/ipv4/ipAddress/0/privateIpAddress${QUERY}`]: IP2,
    [`${IFACE}0/ipv4/subnet/0/address/${QUERY}`]: '172.31.16.0',
    [`${IFACE}1/ipv4/subnet/0/address/${QUERY}`]: '172.31.166.0',
    [`${IFACE}0/ipv4/subnet/0/prefix/${QUERY}`]: '20',
    [`${IFACE}1/ipv4/subnet/0/prefix/${QUERY}`]: '20',
  };
  for (const path of omit) delete paths[path];
  return { requireHeaders: HEADERS, paths };
}

async function harness(onTestFinished: (fn: () => Promise<void>) => void, imds = azureMetadata()): Promise<FakeNmRun> {
  const run = await startFakeNmRun('AZURE', imds);
  onTestFinished(() => run.stop());
  return run;
}

describe.concurrent('Azure against a fake NetworkManager on a private bus', () => {
  // First, so that its 10 s poll window overlaps the other tests.
  it('a subnet prefix that stays 404 fails get-config after the poll window; nothing is applied', async ({ expect, onTestFinished }) => {
    const h = await harness(onTestFinished, azureMetadata([`${IFACE}0/ipv4/subnet/0/prefix/${QUERY}`]));
    const fake = await h.startNm();
    const outcome = await h.run();
    expect(outcome.code).toBe(0);
    expectInOrder(outcome.stdout, [
      'provider azure detected',
      'get-config: starting',
      'found azure interfaces: 2',
      'get-config: failed: timeout expired',
      '<info>  failure to get meta data: timeout expired',
    ]);
    expect(outcome.stdout).not.toContain('meta data received');
    expect(outcome.stdout).not.toContain('interface[0]: received subnet prefix');
    // A 404 is retried until the 10 s window of a leaf request ends (spec 2.2).
    expect(outcome.ms).toBeGreaterThan(9_000);
    const prefixRequests = h.metadata.requests().filter((request) => request.url === `${IFACE}0/ipv4/subnet/0/prefix/${QUERY}`);
    expect(prefixRequests.length).toBeGreaterThanOrEqual(3);
    expect(prefixRequests.every((request) => request.status === 404)).toBe(true);
    expect(callsOf(fake, 'Reapply')).toEqual([]);
    expect(callsOf(fake, 'AddAndActivateConnection')).toEqual([]);
  }, 30_000);

  it('first run reapplies eth0 with policy routing via the subnet\'s first host; second run makes no Reapply call', async ({
    expect,
    onTestFinished,
  }) => {
    const h = await harness(onTestFinished);
    const fake = await h.startNm();

    const first = await h.run();
    expect(first.code).toBe(0);
    expect(first.signal).toBeNull();
    expectInOrder(first.stdout, [
      'provider azure detected',
      `found interfaces: ${HW1}, ${HW2}`,
      'get-config: starting',
      '<debug> found azure interfaces: 2',
      /<debug> interface\[0\]: found a matching device with hwaddr CC:00:00:00:00:01/,
      /interface\[0\]: (received subnet address|received subnet prefix 20)/,
      /interface\[0\]: (received subnet address|received subnet prefix 20)/,
      'get-config: success',
      'meta data received',
      `config device ${HW1}: configuring "eth0"`,
      /config device CC:00:00:00:00:01: connection "con-eth0" \([0-9a-f-]+\) reapplied/,
      `config device ${HW2}: skip applied connection due to missing IPv4 configuration`,
      '<info>  some changes were applied for provider azure',
    ]);
    expect(first.stdout).toContain(`interface[0]: received address ${IP1}`);
    expect(first.stdout).toContain('interface[0]: received subnet address 172.31.16.0');
    expect(first.stdout).toContain(`interface[1]: found a matching device with hwaddr ${HW2}`);

    const [reapply, ...more] = callsOf(fake, 'Reapply');
    expect(more).toEqual([]);
    expect(reapply?.path).toBe(fake.device('eth0').path);
    expect(reapply?.args[2]).toBe(1);
    const ipv4 = plainSettings(reapply!.args[0])['ipv4']!;
    // eth0 is interface 0: tables 30200/30400; 172.31.16.0/20 -> gateway 172.31.16.1.
    // Exact dict: no legacy addresses/routes, everything else as it came.
    expect(ipv4).toEqual({
      method: 'auto',
      'address-data': [{ address: IP1, prefix: 20 }],
      'route-data': [
        { dest: '172.31.16.0', prefix: 20, metric: 10, table: 30200 },
        { dest: '0.0.0.0', prefix: 0, 'next-hop': '172.31.16.1', metric: 10, table: 30400 },
      ],
      'routing-rules': [
        { family: 2, priority: 30200, from: IP1, 'from-len': 32, table: 30200 },
        { family: 2, priority: 30350, table: 254, 'suppress-prefixlength': 0 },
        { family: 2, priority: 30400, from: IP1, 'from-len': 32, table: 30400 },
      ],
      dns: [],
      'dns-search': [],
    });
    expect(callsOf(fake, 'AddAndActivateConnection')).toEqual([]);

    const reapplies = callsOf(fake, 'Reapply').length;
    const second = await h.run();
    expect(second.code).toBe(0);
    expectInOrder(second.stdout, [
      'provider azure detected',
      `found interfaces: ${HW1}, ${HW2}`,
      'get-config: starting',
      'get-config: success',
      'meta data received',
      'device needs no update to applied connection "con-eth0"',
      '<debug> no changes were applied for provider azure',
    ]);
    expect(callsOf(fake, 'Reapply')).toHaveLength(reapplies);
  });

  it('sends Metadata: true on every request, with the text format query', async ({ expect, onTestFinished }) => {
    const h = await harness(onTestFinished);
    await h.startNm();
    const outcome = await h.run();
    expect(outcome.stdout).toContain('some changes were applied for provider azure');
    const requests = h.metadata.requests();
    expect(new Set(requests.map((request) => request.url))).toEqual(new Set(Object.keys(azureMetadata().paths)));
    for (const request of requests) {
      expect(request).toMatchObject({ method: 'GET', status: 200 });
      expect(request.headers['metadata']).toBe('true');
    }
  });

  it('honours the skip user data: no Reapply, nothing changes', async ({ expect, onTestFinished }) => {
    const h = await harness(onTestFinished);
    const fake = await h.startNm();
    fake.setProfileUserData('eth0', 'org.freedesktop.nm-cloud-setup.skip', 'yes');
    const outcome = await h.run();
    expect(outcome.stdout).toContain(`config device ${HW1}: skip applied connection due to user data org.freedesktop.nm-cloud-setup.skip`);
    expect(outcome.stdout).toContain('no changes were applied for provider azure');
    expect(callsOf(fake, 'Reapply')).toEqual([]);
  });
});
