// SPDX-License-Identifier: LGPL-2.1-or-later
// GCP end to end: the built CLI against the fake NetworkManager on a private bus, metadata from
// a loopback server with upstream's test_gcp data (test-client.py). GCP only adds local /32
// routes for forwarded IPs: no addresses, no policy routing.
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
  fakeNmCloud,
  itHonoursSkipUserData,
  itReappliesEth0ThenNothing,
  itSendsRequests,
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

const gcp = fakeNmCloud('GCP', gcpMetadata);

describe.concurrent('GCP against a fake NetworkManager on a private bus', () => {
  it('an interface without forwarded IPs is left alone; the others are configured (issue #10 item 2)', async ({
    expect,
    onTestFinished,
  }) => {
    const h = await gcp.start(onTestFinished, gcpMetadata({ [`${IFACES}1/forwarded-ips/`]: '' }));
    const fake = await h.startNm();
    const outcome = await h.run();
    expect(outcome.code).toBe(0);
    expectInOrder(outcome.stdout, [
      'GCP interface[1]: found 0 forwarded ips',
      'get-config: success',
      /config device CC:00:00:00:00:01: connection "con-eth0" \([0-9a-f-]+\) reapplied/,
      `config device ${HW2}: skip because meta data not successfully fetched`,
    ]);
    expect(callsOf(fake, 'Reapply').map((call) => call.path)).toEqual([fake.device('eth0').path]);
  });

  itReappliesEth0ThenNothing(gcp, {
    title: 'first run adds the forwarded IP as a local route on eth0; second run makes no Reapply call',
    firstRun: [
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
    ],
    firstRunAlso: [
      `GCP interface[0]: adding forwarded-ip ${IP1}`,
      `GCP interface[1]: found a requested device with hwaddr ${HW2}`,
      `GCP interface[1]: adding forwarded-ip ${IP2}`,
    ],
    // No addresses and no policy routing on GCP: only a local /32 route, metric 100, no table.
    // Everything else in ipv4 went back as it came.
    ipv4: {
      method: 'auto',
      'address-data': [],
      'route-data': [{ dest: IP1, prefix: 32, metric: 100, type: 'local' }],
      'routing-rules': [],
      dns: [],
      'dns-search': [],
    },
    secondRun: [
      'provider GCP detected',
      `found interfaces: ${HW1}, ${HW2}`,
      'get-config: starting',
      'get-config: success',
      'meta data received',
      'device needs no update to applied connection "con-eth0"',
      '<debug> no changes were applied for provider GCP',
    ],
  });

  itSendsRequests(gcp, {
    title: 'sends Metadata-Flavor: Google on every request',
    applied: 'some changes were applied for provider GCP',
    urls: [
      '/computeMetadata/v1/instance/id',
      IFACES,
      `${IFACES}0/mac`,
      `${IFACES}1/mac`,
      `${IFACES}0/forwarded-ips/`,
      `${IFACES}1/forwarded-ips/`,
      `${IFACES}0/forwarded-ips/0`,
      `${IFACES}1/forwarded-ips/0`,
    ],
    compare: 'sorted',
    headers: { 'metadata-flavor': 'Google' },
  });

  it('an interface NM does not have: its MAC is read, its forwarded IPs are not, and it is not in the metadata', async ({
    expect,
    onTestFinished,
  }) => {
    const mac3 = 'cc:00:00:00:00:03';
    const h = await gcp.start(
      onTestFinished,
      gcpMetadata({
        [IFACES]: '0\n1\n2/\n',
        [`${IFACES}2/mac`]: mac3,
      }),
    );
    const fake = await h.startNm();
    const outcome = await h.run();
    expect(outcome.stdout).toContain('found GCP interfaces: 3');
    // No "requested": the MAC is not one of NM's devices (upstream).
    expect(outcome.stdout).toContain('GCP interface[2]: found a device with hwaddr CC:00:00:00:00:03');
    expectInOrder(outcome.stdout, [
      'meta data received',
      /config device CC:00:00:00:00:01: connection "con-eth0" \([0-9a-f-]+\) reapplied/,
      `config device ${HW2}: skip applied connection due to missing IPv4 configuration`,
      'some changes were applied for provider GCP',
    ]);
    expect(outcome.stdout).not.toContain('CC:00:00:00:00:03: skip');
    expect(h.metadata.requests().some((request) => request.url.includes('/2/forwarded-ips'))).toBe(false);
    expect(callsOf(fake, 'Reapply').map((call) => call.path)).toEqual([fake.device('eth0').path]);
  });

  itHonoursSkipUserData(gcp, [
    `config device ${HW1}: skip applied connection due to user data org.freedesktop.nm-cloud-setup.skip`,
    'no changes were applied for provider GCP',
  ]);
});
