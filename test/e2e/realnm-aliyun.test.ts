// SPDX-License-Identifier: LGPL-2.1-or-later
//
// End-to-end: the built CLI (dist/nm-cloud-setup.cjs) against a REAL NetworkManager 1.42 in
// network namespaces (test/harness/realnm.sh) and an Aliyun (Alibaba Cloud) metadata mock on
// 169.254.169.254:80 in the "cloud" namespace (test/harness/imds-server.mjs).  Needs root and
// NetworkManager; without them this file FAILS on purpose (it does not skip).  Run
// `npm run build` first.
//
// Aliyun's default host is 100.100.100.200, which the cloud namespace does not own, so the run
// sets NM_CLOUD_SETUP_ALIYUN_HOST=http://169.254.169.254.
//
// Topology: eth0 = 02:00:00:00:00:01, profile "eth0" 172.16.4.2/24 gw 172.16.4.1 (static)
//           eth1 = 02:00:00:00:00:02, profile "eth1" 172.16.5.2/24 (static, never-default)
// Metadata: vpc-cidr-block 172.16.0.0/12 for both (its prefix is ignored: the netmask gives
// /24, so the "cidr" is 172.16.0.0/24 -- and the computed gateway would be 172.16.0.1; the
// metadata gateway must win).  eth0: private-ipv4s ["172.16.4.30","172.16.4.2"] with primary
// 172.16.4.2 (it must end up first); eth1: 172.16.5.2 alone.  Subnet routes are each address
// masked by the netmask prefix: 172.16.4.0/24 and 172.16.5.0/24.

import { describe, it, expect } from 'vitest';
import type { ImdsConfig } from '../harness/realnm.js';
import {
  MAC0,
  MAC1,
  cliRunner,
  expectInOrder,
  expectKernelState,
  ipv4Lists,
  itSecondRunChangesNothing,
  output,
  reappliedLine,
  useRealnm,
  curlMetadataFrom,
} from '../helpers/realnm-run.js';

const NAME = 'ncs-e2e-aliyun';

const MD = '/2016-01-01/meta-data/';
const MACS = `${MD}network/interfaces/macs/`;

const METADATA: ImdsConfig = {
  paths: {
    [MD]: 'dns-conf/\nhostname\ninstance-id\nnetwork/\n',
    [MACS]: `${MAC0}/\n${MAC1}/\n`,
    [`${MACS}${MAC0}/vpc-cidr-block`]: '172.16.0.0/12',
    [`${MACS}${MAC0}/private-ipv4s`]: '["172.16.4.30","172.16.4.2"]',
    // the primary arrives last: the list is reordered once everything is known
    [`${MACS}${MAC0}/primary-ip-address`]: { body: '172.16.4.2', delayMs: 300 },
    [`${MACS}${MAC0}/netmask`]: '255.255.255.0',
    [`${MACS}${MAC0}/gateway`]: '172.16.4.1',
    [`${MACS}${MAC1}/vpc-cidr-block`]: '172.16.0.0/12',
    [`${MACS}${MAC1}/private-ipv4s`]: '["172.16.5.2"]',
    [`${MACS}${MAC1}/primary-ip-address`]: '172.16.5.2',
    [`${MACS}${MAC1}/netmask`]: '255.255.255.0',
    [`${MACS}${MAC1}/gateway`]: '172.16.5.1',
  },
};

const TABLES = [30200, 30201, 30400, 30401];
const EXPECTED_RULES = [
  '30200: from 172.16.4.2 lookup 30200',
  '30200: from 172.16.4.30 lookup 30200',
  '30201: from 172.16.5.2 lookup 30201',
  '30350: from all lookup main suppress_prefixlength 0',
  '30400: from 172.16.4.2 lookup 30400',
  '30400: from 172.16.4.30 lookup 30400',
  '30401: from 172.16.5.2 lookup 30401',
].sort();

const tool = cliRunner({ NM_CLOUD_SETUP_ALIYUN: 'yes', NM_CLOUD_SETUP_ALIYUN_HOST: 'http://169.254.169.254' });

describe('nm-cloud-setup on a real NetworkManager: Aliyun, metadata gateway and netmask', () => {
  const scenario = useRealnm({ name: NAME, nics: 2, ipv4: 'static', metadata: METADATA });

  it('first run: detects Aliyun, adds the secondary IP and the policy routing', async () => {
    const nm = scenario.nm;
    const nBefore = (await scenario.imds.requests()).length;
    const r = await tool(nm);
    expect(r.code, output(r)).toBe(0);
    expectInOrder(r, [
      'test: mock NM_CLOUD_SETUP_ALIYUN_HOST="http://169.254.169.254"',
      'provider aliyun detected',
      `found interfaces: ${MAC0}, ${MAC1}`,
      'meta data received',
      'some changes were applied for provider aliyun',
    ]);
    expect(r.stdout, output(r)).toMatch(new RegExp(`get-config: start fetching meta data for #0, ${MAC0} \\(`));
    expect(r.stdout, output(r)).toMatch(new RegExp(`get-config: start fetching meta data for #1, ${MAC1} \\(`));
    expect(r.stdout, output(r)).toMatch(reappliedLine(MAC0, 'eth0'));
    expect(r.stdout, output(r)).toMatch(reappliedLine(MAC1, 'eth1'));

    await expectKernelState(nm, {
      addrs: { eth0: ['172.16.4.2/24', '172.16.4.30/24'], eth1: ['172.16.5.2/24'] },
      tables: {
        // subnet = address masked by the netmask's prefix, not vpc-cidr-block's 172.16.0.0/12
        30200: ['172.16.4.0/24 dev eth0 metric 10'],
        30201: ['172.16.5.0/24 dev eth1 metric 10'],
        // the metadata gateway, not 172.16.0.1 (first host of 172.16.0.0/24)
        30400: ['default via 172.16.4.1 dev eth0 metric 10'],
        30401: ['default via 172.16.5.1 dev eth1 metric 10'],
      },
      rules: EXPECTED_RULES,
    });

    // the primary first (it is listed second in private-ipv4s)
    const eth0 = ipv4Lists((await nm.appliedConnection('eth0')).settings);
    expect(eth0).toEqual({
      addresses: ['172.16.4.2/24', '172.16.4.30/24'],
      routes: ['172.16.4.0/24 metric 10 table 30200', '0.0.0.0/0 via 172.16.4.1 metric 10 table 30400'],
      rules: [
        '30200 from 172.16.4.2 table 30200',
        '30200 from 172.16.4.30 table 30200',
        '30350 table 254',
        '30400 from 172.16.4.2 table 30400',
        '30400 from 172.16.4.30 table 30400',
      ],
    });

    // Aliyun sends no metadata headers
    const reqs = (await scenario.imds.requests()).slice(nBefore);
    for (const q of reqs) {
      expect(q.status, q.url).toBe(200);
      expect(
        Object.keys(q.headers).filter((h) => /^metadata|^x-aws|^authorization$/i.test(h)),
        q.url,
      ).toEqual([]);
    }
    expect(new Set(reqs.map((q) => q.url))).toEqual(new Set(Object.keys(METADATA.paths)));
    scenario.stateAfterRun1 = await nm.kernelSnapshot(TABLES);
  });

  it('traffic sourced from the secondary IP leaves by eth0 through the metadata gateway', async () => {
    const nm = scenario.nm;
    expect(scenario.stateAfterRun1, 'first run did not configure the kernel').toBeDefined();
    const r = await nm.ipRouteGet('192.0.2.1', '172.16.4.30');
    expect(r.table).toBe('30400');
    expect(r.gateway).toBe('172.16.4.1');
    const viaEth1 = await nm.ipRouteGet('192.0.2.1', '172.16.5.2');
    expect(viaEth1.dev).toBe('eth1'); // main table's default is via eth0
    expect(viaEth1.gateway).toBe('172.16.5.1');
    const c = await curlMetadataFrom(nm, '172.16.4.30', MD);
    expect(c.code, `${c.stdout}\n${c.stderr}`).toBe(0);
    expect((await scenario.imds.requests()).at(-1)?.remoteAddress).toBe('172.16.4.30');
  });

  itSecondRunChangesNothing({
    scenario,
    run: tool,
    lines: [
      `config device ${MAC0}: device needs no update to applied connection "eth0"`,
      `config device ${MAC1}: device needs no update to applied connection "eth1"`,
      'no changes were applied for provider aliyun',
    ],
    snapshot: (nm) => nm.kernelSnapshot(TABLES),
  });
});
