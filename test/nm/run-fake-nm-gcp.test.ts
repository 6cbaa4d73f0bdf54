// SPDX-License-Identifier: LGPL-2.1-or-later
// GCP end to end: the built CLI against the fake NetworkManager on a private bus, metadata from
// a loopback server with upstream's test_gcp data (test-client.py). GCP only adds local /32
// routes for forwarded IPs: no addresses, no policy routing (spec 3.2, 4.5).
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

const IFACES = '/computeMetadata/v1/instance/network-interfaces/';
const HEADERS = { 'Metadata-Flavor': 'Google' };

/** Upstream's test_gcp paths; every request must carry Metadata-Flavor: Google (else 403). */
function gcpMetadata(overrides: Record<string, string> = {}): ImdsConfig {
  return {
    requireHeaders: HEADERS,
    paths: {
      '/computeMetadata/v1/instance/id': '',
      [IFACES]: '0\n1\n',
      [`${IFACES}0/mac`]: MAC1,
      [`${IFACES}1/mac`]: MAC2,
      [`${IFACES}0/forwarded-ips/`]: '0\n',
      [`${IFACES}0/forwarded-ips/0`]: IP1,
      [`${IFACES}1/forwarded-ips/`]: '0\n',
      [`${IFACES}1/forwarded-ips/0`]: IP2,
      ...overrides,
    },
  };
}

async function harness(onTestFinished: (fn: () => Promise<void>) => void, imds = gcpMetadata()): Promise<FakeNmRun> {
  const run = await startFakeNmRun('GCP', imds);
  onTestFinished(() => run.stop());
  return run;
}

describe.concurrent('GCP against a fake NetworkManager on a private bus', () => {
  it('fails get-config when an interface has no forwarded IPs, and changes nothing', async ({ expect, onTestFinished }) => {
    const h = await harness(onTestFinished, gcpMetadata({ [`${IFACES}1/forwarded-ips/`]: '' }));
    const fake = await h.startNm();
    const outcome = await h.run();
    expect(outcome.code).toBe(0);
    expectInOrder(outcome.stdout, [
      'provider GCP detected',
      'get-config: starting',
      'found GCP interfaces: 2',
      'GCP interface[1]: found 0 forwarded ips',
      'get-config: failed: found no forwarded ip',
      '<info>  failure to get meta data: found no forwarded ip',
    ]);
    expect(outcome.stdout).not.toContain('meta data received');
    expect(callsOf(fake, 'Reapply')).toEqual([]);
    expect(callsOf(fake, 'AddAndActivateConnection')).toEqual([]);
  });

  it('first run adds the forwarded IP as a local route on eth0; second run makes no Reapply call', async ({ expect, onTestFinished }) => {
    const h = await harness(onTestFinished);
    const fake = await h.startNm();

    const first = await h.run();
    expect(first.code).toBe(0);
    expect(first.signal).toBeNull();
    expectInOrder(first.stdout, [
      'provider GCP detected',
      `found interfaces: ${HW1}, ${HW2}`,
      'get-config: starting',
      '<info>  found GCP interfaces: 2',
      /<info> {2}GCP interface\[0\]: found a requested device with hwaddr CC:00:00:00:00:01/,
      'get-config: success',
      'meta data received',
      `config device ${HW1}: configuring "eth0"`,
      `config device ${HW1}: reapply connection "con-eth0"`,
      /config device CC:00:00:00:00:01: connection "con-eth0" \([0-9a-f-]+\) reapplied/,
      `config device ${HW2}: skip applied connection due to missing IPv4 configuration`,
      '<info>  some changes were applied for provider GCP',
    ]);
    expect(first.stdout).toContain(`GCP interface[0]: adding forwarded-ip ${IP1}`);
    expect(first.stdout).toContain(`GCP interface[1]: found a requested device with hwaddr ${HW2}`);
    expect(first.stdout).toContain(`GCP interface[1]: adding forwarded-ip ${IP2}`);

    const [reapply, ...more] = callsOf(fake, 'Reapply');
    expect(more).toEqual([]);
    expect(reapply?.path).toBe(fake.device('eth0').path);
    expect(reapply?.args[2]).toBe(1);
    const ipv4 = plainSettings(reapply!.args[0])['ipv4']!;
    // The legacy keys must be gone, or the daemon would take them over address-data.
    expect(Object.keys(ipv4)).not.toContain('addresses');
    expect(Object.keys(ipv4)).not.toContain('routes');
    // No addresses and no policy routing on GCP: only a local /32 route, metric 100, no table.
    // Everything else in ipv4 went back as it came.
    expect(ipv4).toEqual({
      method: 'auto',
      'address-data': [],
      'route-data': [{ dest: IP1, prefix: 32, metric: 100, type: 'local' }],
      'routing-rules': [],
      dns: [],
      'dns-search': [],
    });
    expect(callsOf(fake, 'AddAndActivateConnection')).toEqual([]);

    const reapplies = callsOf(fake, 'Reapply').length;
    const second = await h.run();
    expect(second.code).toBe(0);
    expectInOrder(second.stdout, [
      'provider GCP detected',
      `found interfaces: ${HW1}, ${HW2}`,
      'get-config: starting',
      'get-config: success',
      'meta data received',
      'device needs no update to applied connection "con-eth0"',
      '<debug> no changes were applied for provider GCP',
    ]);
    expect(callsOf(fake, 'Reapply')).toHaveLength(reapplies);
  });

  it('sends Metadata-Flavor: Google on every request', async ({ expect, onTestFinished }) => {
    const h = await harness(onTestFinished);
    await h.startNm();
    const outcome = await h.run();
    expect(outcome.stdout).toContain('some changes were applied for provider GCP');
    const requests = h.metadata.requests();
    expect(requests.map((request) => request.url).sort()).toEqual(
      [
        '/computeMetadata/v1/instance/id',
        IFACES,
        `${IFACES}0/mac`,
        `${IFACES}1/mac`,
        `${IFACES}0/forwarded-ips/`,
        `${IFACES}1/forwarded-ips/`,
        `${IFACES}0/forwarded-ips/0`,
        `${IFACES}1/forwarded-ips/0`,
      ].sort(),
    );
    for (const request of requests) {
      expect(request).toMatchObject({ method: 'GET', status: 200 });
      expect(request.headers['metadata-flavor']).toBe('Google');
    }
  });

  it('an interface NM does not have is fetched but skipped ("found a device", "device not found")', async ({ expect, onTestFinished }) => {
    const mac3 = 'cc:00:00:00:00:03';
    const h = await harness(
      onTestFinished,
      gcpMetadata({
        [IFACES]: '0\n1\n2/\n',
        [`${IFACES}2/mac`]: mac3,
        [`${IFACES}2/forwarded-ips/`]: '0\n',
        [`${IFACES}2/forwarded-ips/0`]: '10.0.0.3',
      }),
    );
    const fake = await h.startNm();
    const outcome = await h.run();
    expect(outcome.stdout).toContain('found GCP interfaces: 3');
    // No "requested": the MAC is not one of NM's devices (spec 3.2 step 3).
    expect(outcome.stdout).toContain('GCP interface[2]: found a device with hwaddr CC:00:00:00:00:03');
    expectInOrder(outcome.stdout, [
      'meta data received',
      /config device CC:00:00:00:00:01: connection "con-eth0" \([0-9a-f-]+\) reapplied/,
      `config device ${HW2}: skip applied connection due to missing IPv4 configuration`,
      'config device CC:00:00:00:00:03: skip because device not found',
      'some changes were applied for provider GCP',
    ]);
    expect(callsOf(fake, 'Reapply').map((call) => call.path)).toEqual([fake.device('eth0').path]);
  });

  it('honours the skip user data: no Reapply, nothing changes', async ({ expect, onTestFinished }) => {
    const h = await harness(onTestFinished);
    const fake = await h.startNm();
    fake.setProfileUserData('eth0', 'org.freedesktop.nm-cloud-setup.skip', 'yes');
    const outcome = await h.run();
    expect(outcome.stdout).toContain(`config device ${HW1}: skip applied connection due to user data org.freedesktop.nm-cloud-setup.skip`);
    expect(outcome.stdout).toContain('no changes were applied for provider GCP');
    expect(callsOf(fake, 'Reapply')).toEqual([]);
  });
});
