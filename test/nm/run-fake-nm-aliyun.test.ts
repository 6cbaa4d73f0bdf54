// SPDX-License-Identifier: LGPL-2.1-or-later
// Aliyun end to end: the built CLI against the fake NetworkManager on a private bus, metadata from
// a loopback server with upstream's test_aliyun data (test-client.py). Aliyun's router comes from
// the metadata (not the subnet's first host), the subnet length from `netmask`, and the primary
// address goes first.
import { describe, it } from 'vitest';
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
  itFailsGetConfig,
  itHonoursSkipUserData,
  itReappliesEth0ThenNothing,
  itSendsRequests,
  plainSettings,
} from '../helpers/fake-nm-run.js';

const META = '/2016-01-01/meta-data/';
const MACS = `${META}network/interfaces/macs/`;

/** Upstream's test_aliyun paths: listing order mac2, mac1, so eth0 (mac1) is interface 1. */
function aliyunPaths(omit: string[] = []): Record<string, string> {
  const paths: Record<string, string> = {
    [META]: 'ami-id\n',
    [MACS]: `${MAC2}\n${MAC1}`,
    [`${MACS}${MAC2}/vpc-cidr-block`]: '172.31.16.0/20',
    [`${MACS}${MAC2}/private-ipv4s`]: IP1,
    [`${MACS}${MAC2}/primary-ip-address`]: IP1,
    [`${MACS}${MAC2}/netmask`]: '255.255.255.0',
    [`${MACS}${MAC2}/gateway`]: '172.31.26.2',
    [`${MACS}${MAC1}/vpc-cidr-block`]: '172.31.166.0/20',
    [`${MACS}${MAC1}/private-ipv4s`]: IP2,
    [`${MACS}${MAC1}/primary-ip-address`]: IP2,
    [`${MACS}${MAC1}/netmask`]: '255.255.255.0',
    [`${MACS}${MAC1}/gateway`]: '172.31.176.2',
  };
  for (const path of omit) delete paths[path];
  return paths;
}

const aliyun = fakeNmCloud('ALIYUN', () => ({ paths: aliyunPaths() }));

describe.concurrent('Aliyun against a fake NetworkManager on a private bus', () => {
  // First, so that its 10 s poll window overlaps the other tests.
  itFailsGetConfig(aliyun, {
    title: 'a gateway that stays 503 fails get-config after the poll window; nothing is applied',
    imds: { paths: { ...aliyunPaths(), [`${MACS}${MAC1}/gateway`]: { status: 503 } } },
    lines: [
      'provider aliyun detected',
      'get-config: starting',
      `get-config: start fetching meta data for #1, ${HW1} (${MAC1})`,
      'get-config: failed: timeout expired',
      '<info>  failure to get meta data: timeout expired',
    ],
    timeoutMs: 30_000,
    also: ({ expect, outcome }) => expect(outcome.ms).toBeGreaterThan(9_000),
  });

  it('a gateway that answers 404 leaves that NIC alone at once; the run goes on (issue #10 item 2)', async ({ expect, onTestFinished }) => {
    const run = await aliyun.start(onTestFinished, { paths: aliyunPaths([`${MACS}${MAC1}/gateway`]) });
    await run.startNm();
    const outcome = await run.run();
    expect(outcome.code).toBe(0);
    expect(outcome.ms).toBeLessThan(9_000);
    expectInOrder(outcome.stdout, [
      `get-config: ${HW1}: no gateway (HTTP 404), no IPv4 to configure on this interface`,
      'meta data received',
      `config device ${HW1}: skip because meta data not successfully fetched`,
    ]);
  });

  itReappliesEth0ThenNothing(aliyun, {
    title: 'first run reapplies eth0 via the metadata gateway; second run makes no Reapply call',
    firstRun: [
      'provider aliyun detected',
      `found interfaces: ${HW1}, ${HW2}`,
      'get-config: starting',
      'get-config: start fetching meta data',
      'get-config: success',
      'meta data received',
      `config device ${HW2}: skip applied connection due to missing IPv4 configuration`,
      `config device ${HW1}: configuring "eth0"`,
      /config device CC:00:00:00:00:01: connection "con-eth0" \([0-9a-f-]+\) reapplied/,
      'some changes were applied for provider aliyun',
    ],
    firstRunAlso: [
      `get-config: start fetching meta data for #0, ${HW2} (${MAC2})`,
      `get-config: start fetching meta data for #1, ${HW1} (${MAC1})`,
    ],
    // Interface 1: tables 30201/30401. The prefix is the netmask's (24), not the VPC block's
    // (/20), and the default route goes via the metadata's gateway, not 172.31.176.1.
    ipv4: {
      method: 'auto',
      'address-data': [{ address: IP2, prefix: 24 }],
      'route-data': [
        { dest: '172.31.176.0', prefix: 24, metric: 10, table: 30201 },
        { dest: '0.0.0.0', prefix: 0, 'next-hop': '172.31.176.2', metric: 10, table: 30401 },
      ],
      'routing-rules': [
        { family: 2, priority: 30201, from: IP2, 'from-len': 32, table: 30201 },
        { family: 2, priority: 30350, table: 254, 'suppress-prefixlength': 0 },
        { family: 2, priority: 30401, from: IP2, 'from-len': 32, table: 30401 },
      ],
      dns: [],
      'dns-search': [],
    },
    secondRun: [
      'provider aliyun detected',
      `found interfaces: ${HW1}, ${HW2}`,
      'get-config: starting',
      'get-config: success',
      'meta data received',
      'device needs no update to applied connection "con-eth0"',
      'no changes were applied for provider aliyun',
    ],
  });

  it('puts the primary address first, whatever the order of private-ipv4s', async ({ expect, onTestFinished }) => {
    const h = await aliyun.start(onTestFinished, {
      paths: {
        ...aliyunPaths(),
        [`${MACS}${MAC1}/private-ipv4s`]: '["172.31.176.250", "172.31.176.249", "172.31.177.9"]',
        [`${MACS}${MAC1}/primary-ip-address`]: IP2,
      },
    });
    const fake = await h.startNm();
    const outcome = await h.run();
    expect(outcome.stdout).toContain('some changes were applied for provider aliyun');
    const [reapply] = callsOf(fake, 'Reapply');
    const ipv4 = plainSettings(reapply!.args[0])['ipv4']!;
    expect(ipv4['address-data']).toEqual([
      { address: IP2, prefix: 24 },
      { address: '172.31.176.250', prefix: 24 },
      { address: '172.31.177.9', prefix: 24 },
    ]);
    expect(ipv4['route-data']).toEqual([
      { dest: '172.31.176.0', prefix: 24, metric: 10, table: 30201 },
      { dest: '172.31.177.0', prefix: 24, metric: 10, table: 30201 },
      { dest: '0.0.0.0', prefix: 0, 'next-hop': '172.31.176.2', metric: 10, table: 30401 },
    ]);
    expect(ipv4['routing-rules']).toEqual([
      { family: 2, priority: 30201, from: IP2, 'from-len': 32, table: 30201 },
      { family: 2, priority: 30201, from: '172.31.176.250', 'from-len': 32, table: 30201 },
      { family: 2, priority: 30201, from: '172.31.177.9', 'from-len': 32, table: 30201 },
      { family: 2, priority: 30350, table: 254, 'suppress-prefixlength': 0 },
      { family: 2, priority: 30401, from: IP2, 'from-len': 32, table: 30401 },
      { family: 2, priority: 30401, from: '172.31.176.250', 'from-len': 32, table: 30401 },
      { family: 2, priority: 30401, from: '172.31.177.9', 'from-len': 32, table: 30401 },
    ]);
  });

  itSendsRequests(aliyun, {
    title: 'sends no provider headers (Aliyun uses none)',
    applied: 'some changes were applied for provider aliyun',
    urls: Object.keys(aliyunPaths()),
    compare: 'as a set',
    headers: { metadata: undefined, 'metadata-flavor': undefined, authorization: undefined, 'x-aws-ec2-metadata-token': undefined },
  });

  itHonoursSkipUserData(aliyun, [
    `config device ${HW1}: skip applied connection due to user data org.freedesktop.nm-cloud-setup.skip`,
    'no changes were applied for provider aliyun',
  ]);
});
