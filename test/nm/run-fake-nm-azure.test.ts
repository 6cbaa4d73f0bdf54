// SPDX-License-Identifier: LGPL-2.1-or-later
// Azure end to end: the built CLI against the fake NetworkManager on a private bus, metadata from
// a loopback server with upstream's test_azure data (test-client.py). Azure has no gateway
// field: the policy route goes via the first host of subnet 0.
import { describe } from 'vitest';
import type { ImdsConfig } from '../helpers/metadata-server.js';
import {
  HW1,
  HW2,
  IP1,
  IP2,
  MAC1,
  MAC2,
  fakeNmCloud,
  itFailsGetConfig,
  itHonoursSkipUserData,
  itReappliesEth0ThenNothing,
  itSendsRequests,
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

const azure = fakeNmCloud('AZURE', azureMetadata);
const PREFIX_0 = `${IFACE}0/ipv4/subnet/0/prefix/${QUERY}`;

describe.concurrent('Azure against a fake NetworkManager on a private bus', () => {
  // First, so that its 10 s poll window overlaps the other tests.
  itFailsGetConfig(azure, {
    title: 'a subnet prefix that stays 404 fails get-config after the poll window; nothing is applied',
    imds: azureMetadata([PREFIX_0]),
    lines: [
      'provider azure detected',
      'get-config: starting',
      'found azure interfaces: 2',
      'get-config: failed: timeout expired',
      '<info>  failure to get meta data: timeout expired',
    ],
    timeoutMs: 30_000,
    also: ({ expect, outcome, run }) => {
      expect(outcome.stdout).not.toContain('interface[0]: received subnet prefix');
      // A 404 is retried until the 10 s window of a leaf request ends.
      expect(outcome.ms).toBeGreaterThan(9_000);
      const prefixRequests = run.metadata.requests().filter((request) => request.url === PREFIX_0);
      expect(prefixRequests.length).toBeGreaterThanOrEqual(3);
      expect(prefixRequests.every((request) => request.status === 404)).toBe(true);
    },
  });

  itReappliesEth0ThenNothing(azure, {
    title: "first run reapplies eth0 with policy routing via the subnet's first host; second run makes no Reapply call",
    firstRun: [
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
    ],
    firstRunAlso: [
      `interface[0]: received address ${IP1}`,
      'interface[0]: received subnet address 172.31.16.0',
      `interface[1]: found a matching device with hwaddr ${HW2}`,
    ],
    // eth0 is interface 0: tables 30200/30400; 172.31.16.0/20 -> gateway 172.31.16.1.
    // Exact dict: no legacy addresses/routes, everything else as it came.
    ipv4: {
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
    },
    secondRun: [
      'provider azure detected',
      `found interfaces: ${HW1}, ${HW2}`,
      'get-config: starting',
      'get-config: success',
      'meta data received',
      'device needs no update to applied connection "con-eth0"',
      '<debug> no changes were applied for provider azure',
    ],
  });

  itSendsRequests(azure, {
    title: 'sends Metadata: true on every request, with the text format query',
    applied: 'some changes were applied for provider azure',
    urls: Object.keys(azureMetadata().paths),
    compare: 'as a set',
    headers: { metadata: 'true' },
  });

  itHonoursSkipUserData(azure, [
    `config device ${HW1}: skip applied connection due to user data org.freedesktop.nm-cloud-setup.skip`,
    'no changes were applied for provider azure',
  ]);
});
