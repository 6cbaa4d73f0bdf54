// SPDX-License-Identifier: LGPL-2.1-or-later
//
// End-to-end: the built CLI (dist/nm-cloud-setup.cjs) against a REAL NetworkManager 1.42 in
// network namespaces (test/harness/realnm.sh) and an Azure IMDS mock (text format) on
// 169.254.169.254:80 in the "cloud" namespace (test/harness/imds-server.mjs).  Needs root and
// NetworkManager; without them this file FAILS on purpose (it does not skip).  Run
// `npm run build` first.  NM_CLOUD_SETUP_AZURE_HOST is NOT set: the default host is used.
//
// Topology: eth0 = 02:00:00:00:00:01, profile "eth0" 172.16.4.2/24 gw 172.16.4.1 (static)
//           eth1 = 02:00:00:00:00:02, profile "eth1" 172.16.5.2/24 (static, never-default)
// Metadata: interface 0 = eth0 (MAC without separators, as Azure sends it) with 172.16.4.2
// (primary) and 172.16.4.20, subnet 172.16.4.0/24; interface 1 = eth1 with 172.16.5.2 and
// 172.16.5.20, subnet 172.16.5.0/24.  The primary's answer is delayed so that it arrives last:
// it must still come first.  Gateways are computed: first host of the subnet.

import { describe, it, expect } from 'vitest';
import type { ImdsConfig, ImdsPathEntry } from '../harness/realnm.js';
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

const NAME = 'ncs-e2e-azure';

const Q = '?format=text&api-version=2017-04-02';
const IF = '/metadata/instance/network/interface/';

function azurePaths(): Record<string, ImdsPathEntry> {
  const paths: Record<string, ImdsPathEntry> = {
    [`/metadata/instance${Q}`]: 'compute/\nnetwork/\n',
    [`${IF}${Q}`]: '0/\n1/\n',
  };
  const nics = [
    { mac: '020000000001', net: '172.16.4' },
    { mac: '020000000002', net: '172.16.5' },
  ];
  nics.forEach(({ mac, net }, i) => {
    paths[`${IF}${i}/macAddress${Q}`] = mac;
    paths[`${IF}${i}/ipv4/ipAddress/${Q}`] = '0/\n1/\n';
    // the primary (index 0) answers last
    paths[`${IF}${i}/ipv4/ipAddress/0/privateIpAddress${Q}`] = { body: `${net}.2`, delayMs: 300 };
    paths[`${IF}${i}/ipv4/ipAddress/1/privateIpAddress${Q}`] = `${net}.20\n`;
    paths[`${IF}${i}/ipv4/subnet/0/address/${Q}`] = `${net}.0`;
    paths[`${IF}${i}/ipv4/subnet/0/prefix/${Q}`] = '24\n';
  });
  return paths;
}

const METADATA: ImdsConfig = { requireHeaders: { Metadata: 'true' }, paths: azurePaths() };

const TABLES = [30200, 30201, 30400, 30401];
const EXPECTED_RULES = [
  '30200: from 172.16.4.2 lookup 30200',
  '30200: from 172.16.4.20 lookup 30200',
  '30201: from 172.16.5.2 lookup 30201',
  '30201: from 172.16.5.20 lookup 30201',
  '30350: from all lookup main suppress_prefixlength 0',
  '30400: from 172.16.4.2 lookup 30400',
  '30400: from 172.16.4.20 lookup 30400',
  '30401: from 172.16.5.2 lookup 30401',
  '30401: from 172.16.5.20 lookup 30401',
].sort();

// No NM_CLOUD_SETUP_AZURE_HOST: the CLI must use its default http://169.254.169.254.
const tool = cliRunner({ NM_CLOUD_SETUP_AZURE: 'yes' });

describe('nm-cloud-setup on a real NetworkManager: Azure, 2 NICs with 2 addresses each', () => {
  const scenario = useRealnm({ name: NAME, nics: 2, ipv4: 'static', metadata: METADATA });

  it('first run: detects Azure, adds the secondary IPs and the policy routing', async () => {
    const nm = scenario.nm;
    const nBefore = (await scenario.imds.requests()).length;
    const r = await tool(nm);
    expect(r.code, output(r)).toBe(0);
    expect(r.stdout, output(r)).not.toContain('NM_CLOUD_SETUP_AZURE_HOST');
    expectInOrder(r, [
      'provider azure detected',
      `found interfaces: ${MAC0}, ${MAC1}`,
      'found azure interfaces: 2',
      'meta data received',
      'some changes were applied for provider azure',
    ]);
    for (const line of [
      `interface[0]: found a matching device with hwaddr ${MAC0}`,
      `interface[1]: found a matching device with hwaddr ${MAC1}`,
      'interface[0]: received address 172.16.4.2',
      'interface[0]: received address 172.16.4.20',
      'interface[0]: received subnet address 172.16.4.0',
      'interface[0]: received subnet prefix 24',
      'interface[1]: received address 172.16.5.20',
      'interface[1]: received subnet prefix 24',
    ]) {
      expect(r.stdout, output(r)).toContain(line);
    }
    expect(r.stdout, output(r)).toMatch(reappliedLine(MAC0, 'eth0'));
    expect(r.stdout, output(r)).toMatch(reappliedLine(MAC1, 'eth1'));

    await expectKernelState(nm, {
      addrs: { eth0: ['172.16.4.2/24', '172.16.4.20/24'], eth1: ['172.16.5.2/24', '172.16.5.20/24'] },
      tables: {
        30200: ['172.16.4.0/24 dev eth0 metric 10'],
        30400: ['default via 172.16.4.1 dev eth0 metric 10'],
        30201: ['172.16.5.0/24 dev eth1 metric 10'],
        30401: ['default via 172.16.5.1 dev eth1 metric 10'],
      },
      rules: EXPECTED_RULES,
    });

    // the primary (index 0) comes first although its answer arrived last
    const eth0 = await nm.appliedConnection('eth0');
    expect(ipv4Lists(eth0.settings).rules).toEqual([
      '30200 from 172.16.4.2 table 30200',
      '30200 from 172.16.4.20 table 30200',
      '30350 table 254',
      '30400 from 172.16.4.2 table 30400',
      '30400 from 172.16.4.20 table 30400',
    ]);
    const eth1 = await nm.appliedConnection('eth1');
    expect(ipv4Lists(eth1.settings).rules).toEqual([
      '30201 from 172.16.5.2 table 30201',
      '30201 from 172.16.5.20 table 30201',
      '30350 table 254',
      '30401 from 172.16.5.2 table 30401',
      '30401 from 172.16.5.20 table 30401',
    ]);

    // every request: "Metadata: true" and the exact text-format query
    const reqs = (await scenario.imds.requests()).slice(nBefore);
    for (const q of reqs) {
      expect(q.headers['metadata'], q.url).toBe('true');
      expect(q.url.endsWith(Q), q.url).toBe(true);
      expect(q.status, q.url).toBe(200);
    }
    expect(new Set(reqs.map((q) => q.url))).toEqual(new Set(Object.keys(METADATA.paths)));
    scenario.stateAfterRun1 = await nm.kernelSnapshot(TABLES);
  });

  it('traffic sourced from a secondary IP leaves by its own NIC', async () => {
    const nm = scenario.nm;
    expect(scenario.stateAfterRun1, 'first run did not configure the kernel').toBeDefined();
    const viaEth1 = await nm.ipRouteGet('169.254.169.254', '172.16.5.20');
    expect(viaEth1.dev).toBe('eth1');
    expect(viaEth1.gateway).toBe('172.16.5.1');
    expect(viaEth1.table).toBe('30401');
    expect((await nm.ipRouteGet('169.254.169.254', '172.16.4.20')).table).toBe('30400');
    const c = await curlMetadataFrom(nm, '172.16.5.20', `${IF}${Q}`, ['Metadata: true']);
    expect(c.code, output(c)).toBe(0);
    expect(c.stdout).toBe('0/\n1/\n');
    const last = (await scenario.imds.requests()).at(-1);
    expect(last?.remoteAddress).toBe('172.16.5.20');
  });

  itSecondRunChangesNothing({
    scenario,
    run: tool,
    lines: [
      `config device ${MAC0}: device needs no update to applied connection "eth0"`,
      `config device ${MAC1}: device needs no update to applied connection "eth1"`,
      'no changes were applied for provider azure',
    ],
    snapshot: (nm) => nm.kernelSnapshot(TABLES),
  });
});
