// SPDX-License-Identifier: LGPL-2.1-or-later
//
// End-to-end IPv6 (NM_CLOUD_SETUP_IPV6): the built CLI against a REAL NetworkManager 1.42 in
// network namespaces whose profiles have ipv6.method auto with no router answering
// (REALNM_IPV6=auto), so every global IPv6 address comes from the tool; metadata on
// 169.254.169.254 in the "cloud" namespace. One scenario adds router advertisements without a
// prefix (REALNM_RA=1, test/harness/ra-sender.py), so NetworkManager learns a router fe80::….
// Needs root and NetworkManager; without them this file FAILS on purpose (it does not skip).
//
// Assertions are on the kernel: `ip -6 addr`, `ip -6 rule`, `ip -6 route show table N`.

import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { pollUntil, type ImdsConfig, type ImdsPathEntry, type RealNm } from '../harness/realnm.js';
import {
  MAC0,
  MAC1,
  MAP_INTERFACES,
  cliRunner,
  expectInOrder,
  output,
  runCli,
  sorted,
  useRealnm,
  type RealnmScenarioOptions,
} from '../helpers/realnm-run.js';

const MACS = '/2018-09-24/meta-data/network/interfaces/macs/';
const TOKEN = 'AQAAALH-k7i18JMkK-ORLZQfAa7nkNjQbKwpQPExNHqzk1oL_7eh-A==';

/** EC2: both NICs dual-stack with two IPv6 addresses each (::2 and ::10). */
function ec2Paths(secondNic: 'dual-stack' | 'ipv6-only'): Record<string, ImdsPathEntry> {
  const paths: Record<string, ImdsPathEntry> = {
    [MACS]: `${MAC0}/\n${MAC1}/`,
    [`${MACS}${MAC0}/`]: 'device-number\nipv6s\nlocal-ipv4s\nsubnet-ipv4-cidr-block\nsubnet-ipv6-cidr-blocks',
    [`${MACS}${MAC0}/local-ipv4s`]: '172.16.4.2\n172.16.4.10',
    [`${MACS}${MAC0}/subnet-ipv4-cidr-block`]: '172.16.4.0/24',
    [`${MACS}${MAC0}/ipv6s`]: 'fd00:16:4::2\nfd00:16:4:0:0:0:0:10',
    [`${MACS}${MAC0}/subnet-ipv6-cidr-blocks`]: 'fd00:16:4::/64',
    [`${MACS}${MAC1}/ipv6s`]: 'fd00:16:5::2\nfd00:16:5::10',
    [`${MACS}${MAC1}/subnet-ipv6-cidr-blocks`]: 'fd00:16:5::/64',
  };
  if (secondNic === 'dual-stack') {
    paths[`${MACS}${MAC1}/`] = 'device-number\nipv6s\nlocal-ipv4s\nsubnet-ipv4-cidr-block\nsubnet-ipv6-cidr-blocks';
    paths[`${MACS}${MAC1}/local-ipv4s`] = '172.16.5.2';
    paths[`${MACS}${MAC1}/subnet-ipv4-cidr-block`] = '172.16.5.0/24';
  } else {
    // IPv6-only: no local-ipv4s (a GET 404s), and the listing says so.
    paths[`${MACS}${MAC1}/`] = 'device-number\nipv6s\nsubnet-ipv6-cidr-blocks';
  }
  return paths;
}

const EC2_IPV6_RULES = [
  '30200: from fd00:16:4::2 lookup 30200',
  '30200: from fd00:16:4::10 lookup 30200',
  '30201: from fd00:16:5::2 lookup 30201',
  '30201: from fd00:16:5::10 lookup 30201',
  '30350: from all lookup main suppress_prefixlength 0',
];

/** `ip rule` when only eth0 (172.16.4.2 and .10) has IPv4 policy routing. */
const ETH0_IPV4_RULES = sorted([
  '30200: from 172.16.4.2 lookup 30200',
  '30200: from 172.16.4.10 lookup 30200',
  '30350: from all lookup main suppress_prefixlength 0',
  '30400: from 172.16.4.2 lookup 30400',
  '30400: from 172.16.4.10 lookup 30400',
]);

const ec2Tool = cliRunner({ NM_CLOUD_SETUP_EC2: 'yes', NM_CLOUD_SETUP_IPV6: 'yes' });
const ec2ToolIpv6Off = cliRunner({ NM_CLOUD_SETUP_EC2: 'yes' });

/** Two NICs, static IPv4, ipv6.method auto (unless `more` says otherwise), EC2 metadata with these paths. */
function ec2Scenario(name: string, paths: Record<string, ImdsPathEntry>, more: Partial<RealnmScenarioOptions> = {}) {
  return useRealnm({ name, nics: 2, ipv4: 'static', ipv6: 'auto', metadata: { ec2Token: TOKEN, paths }, ...more });
}

async function ipv6State(nm: RealNm, tables: readonly number[]): Promise<Record<string, unknown>> {
  return {
    eth0: sorted(await nm.ipv6Addrs('eth0')),
    eth1: sorted(await nm.ipv6Addrs('eth1')),
    rules: sorted(await nm.ipv6RuleSummary()),
    ...Object.fromEntries(await Promise.all(tables.map(async (table) => [table, await nm.ipv6RouteSummary(table)] as const))),
  };
}

/** The IPv6 kernel state reaches `expected` (Reapply returns before the kernel has converged). */
async function expectIpv6State(nm: RealNm, expected: Record<string, unknown>): Promise<void> {
  await pollUntil(
    async () => {
      expect(await ipv6State(nm, [30200, 30201, 30400, 30401])).toEqual(expected);
    },
    { timeoutMs: 5000 },
  );
}

describe('IPv6 on a real NetworkManager: EC2, two dual-stack NICs with two IPv6 addresses each', () => {
  const scenario = ec2Scenario('ncs-e2e-v6-ec2', ec2Paths('dual-stack'));

  it('IPv6 off (the default): nothing of IPv6 is read or changed, IPv4 is configured as always', async () => {
    const nm = scenario.nm;
    const before = await ipv6State(nm, [30200, 30201, 30400, 30401]);
    const requestsBefore = (await scenario.imds.requests()).length;
    const r = await ec2ToolIpv6Off(nm);
    expect(r.code, output(r)).toBe(0);
    expect(r.stdout, output(r)).not.toMatch(/IPv6|ipv6/);
    const urls = (await scenario.imds.requests()).slice(requestsBefore).map((q) => q.url);
    expect(urls.filter((url) => url.includes('ipv6') || url.endsWith(':01/') || url.endsWith(':02/'))).toEqual([]);
    await expectIpv6State(nm, before);
    expect(sorted(await nm.ipv4Addrs('eth0'))).toEqual(['172.16.4.10/24', '172.16.4.2/24']);
  });

  it('IPv6 on: the addresses with the subnet prefix, subnet routes in 30200+i, /128 rules; EC2 names no router', async () => {
    const nm = scenario.nm;
    const r = await ec2Tool(nm);
    expect(r.code, output(r)).toBe(0);
    expectInOrder(r, [
      'provider ec2 detected',
      'meta data received',
      `config device ${MAC0.toUpperCase()}: the metadata names no IPv6 router and NetworkManager learned none by router advertisement; IPv6 addresses and table 30200 only, no default route in table 30400`,
      'some changes were applied for provider ec2',
    ]);
    await expectIpv6State(nm, {
      eth0: sorted(['fd00:16:4::2/64', 'fd00:16:4::10/64']),
      eth1: sorted(['fd00:16:5::2/64', 'fd00:16:5::10/64']),
      rules: sorted(EC2_IPV6_RULES),
      30200: ['fd00:16:4::/64 dev eth0 metric 10'],
      30201: ['fd00:16:5::/64 dev eth1 metric 10'],
      30400: [],
      30401: [],
    });
  });

  it('IPv6 on, second run: no Reapply', async () => {
    const r = await ec2Tool(scenario.nm);
    expect(r.code, output(r)).toBe(0);
    expect(r.stdout, output(r)).toContain('no changes were applied for provider ec2');
  });
});

describe('IPv6 on a real NetworkManager: EC2, an IPv4 NIC plus an IPv6-only NIC', () => {
  const scenario = ec2Scenario('ncs-e2e-v6-only', ec2Paths('ipv6-only'));

  it('neither fails nor stalls on the missing local-ipv4s, and configures the IPv6-only NIC', async () => {
    const nm = scenario.nm;
    const r = await ec2Tool(nm);
    expect(r.code, output(r)).toBe(0);
    expect(r.stdout, output(r)).toContain(`get-config: ${MAC1.toUpperCase()}: no IPv4 addresses listed (IPv6-only interface)`);
    expect(r.stdout, output(r)).toContain('some changes were applied for provider ec2');
    // No poll ran out: the run took far less than the 10 s a 404 on local-ipv4s would have cost.
    const urls = (await scenario.imds.requests()).map((q) => q.url);
    expect(urls).not.toContain(`${MACS}${MAC1}/local-ipv4s`);
    await pollUntil(
      async () => {
        expect(await nm.ipv6RouteSummary(30201)).toEqual(['fd00:16:5::/64 dev eth1 metric 10']);
        expect(sorted(await nm.ipv6Addrs('eth1'))).toEqual(['fd00:16:5::10/64', 'fd00:16:5::2/64']);
      },
      { timeoutMs: 5000 },
    );
    // IPv4 is eth0's alone (two addresses): its policy routing, nothing for the IPv6-only eth1.
    expect(sorted(await nm.ipRuleSummary())).toEqual(ETH0_IPV4_RULES);
  });
});

describe('IPv6 OFF on a real NetworkManager: EC2, an IPv4 NIC plus an IPv6-only NIC (issue #10 item 2)', () => {
  const scenario = ec2Scenario('ncs-e2e-v6off', ec2Paths('ipv6-only'));

  it('the 404 on local-ipv4s is final: eth0 is configured at once, eth1 left as it is', async () => {
    const nm = scenario.nm;
    const eth1Before = sorted(await nm.ipv6Addrs('eth1'));
    const r = await ec2ToolIpv6Off(nm);
    expect(r.code, output(r)).toBe(0);
    expectInOrder(r, [
      `get-config: ${MAC1.toUpperCase()}: no subnet-ipv4-cidr-block (HTTP 404), no IPv4 to configure on this interface`,
      'meta data received',
      `config device ${MAC1.toUpperCase()}: skip because meta data not successfully fetched`,
      'some changes were applied for provider ec2',
    ]);
    // Upstream's request set, each 404 asked once (upstream polled them for 10 s, then failed).
    const urls = (await scenario.imds.requests()).map((q) => q.url);
    expect(urls.filter((url) => url === `${MACS}${MAC1}/local-ipv4s`)).toHaveLength(1);
    expect(urls.filter((url) => url === `${MACS}${MAC1}/subnet-ipv4-cidr-block`)).toHaveLength(1);
    expect(urls.some((url) => url.endsWith('/ipv6s') || url === `${MACS}${MAC1}/`)).toBe(false);
    await pollUntil(
      async () => {
        expect(sorted(await nm.ipRuleSummary())).toEqual(ETH0_IPV4_RULES);
      },
      { timeoutMs: 5000 },
    );
    expect(sorted(await nm.ipv6Addrs('eth1'))).toEqual(eth1Before);
  });
});

const OCI_VNICS = [
  {
    vnicId: 'ocid1.vnic.a',
    macAddr: MAC0,
    privateIp: '172.16.4.2',
    virtualRouterIp: '172.16.4.1',
    subnetCidrBlock: '172.16.4.0/24',
    ipv6Addresses: ['fd00:16:4::2', 'fd00:16:4::20'],
    ipv6SubnetCidrBlock: 'fd00:16:4::/64',
    ipv6VirtualRouterIp: 'fd00:16:4::1',
  },
  {
    vnicId: 'ocid1.vnic.b',
    macAddr: MAC1,
    privateIp: '172.16.5.2',
    virtualRouterIp: '172.16.5.1',
    subnetCidrBlock: '172.16.5.0/24',
    ipv6Addresses: ['fd00:16:5::2'],
    ipv6SubnetCidrBlock: 'fd00:16:5::/64',
    ipv6VirtualRouterIp: 'fd00:16:5::1',
  },
];
const OCI: ImdsConfig = {
  paths: {
    '/opc/v2/instance': JSON.stringify({ id: 'ocid1.instance.oc1..test' }),
    '/opc/v2/vnics': JSON.stringify(OCI_VNICS),
  },
};

describe('IPv6 on a real NetworkManager: OCI dual-stack VM, the router from ipv6VirtualRouterIp', () => {
  const scenario = useRealnm({ name: 'ncs-e2e-v6-oci', nics: 2, ipv4: 'static', ipv6: 'auto', metadata: OCI });
  const tool = cliRunner({ NM_CLOUD_SETUP_OCI: 'yes', NM_CLOUD_SETUP_IPV6: 'yes' });

  it('default routes via the virtual router in 30400+i, rules into both tables', async () => {
    const nm = scenario.nm;
    const r = await tool(nm);
    expect(r.code, output(r)).toBe(0);
    expect(r.stdout, output(r)).toContain('some changes were applied for provider oci');
    await expectIpv6State(nm, {
      eth0: sorted(['fd00:16:4::2/64', 'fd00:16:4::20/64']),
      eth1: ['fd00:16:5::2/64'],
      rules: sorted([
        '30200: from fd00:16:4::2 lookup 30200',
        '30200: from fd00:16:4::20 lookup 30200',
        '30201: from fd00:16:5::2 lookup 30201',
        '30350: from all lookup main suppress_prefixlength 0',
        '30400: from fd00:16:4::2 lookup 30400',
        '30400: from fd00:16:4::20 lookup 30400',
        '30401: from fd00:16:5::2 lookup 30401',
      ]),
      30200: ['fd00:16:4::/64 dev eth0 metric 10'],
      30201: ['fd00:16:5::/64 dev eth1 metric 10'],
      30400: ['default via fd00:16:4::1 dev eth0 metric 10'],
      30401: ['default via fd00:16:5::1 dev eth1 metric 10'],
    });
  });
});

const AZ_Q = '?format=text&api-version=2017-04-02';
const AZ_IF = '/metadata/instance/network/interface/';

function azurePaths(): Record<string, ImdsPathEntry> {
  const paths: Record<string, ImdsPathEntry> = { [`/metadata/instance${AZ_Q}`]: 'compute/\nnetwork/\n', [`${AZ_IF}${AZ_Q}`]: '0/\n1/\n' };
  ['4', '5'].forEach((n, i) => {
    paths[`${AZ_IF}${i}/macAddress${AZ_Q}`] = `02000000000${i + 1}`;
    paths[`${AZ_IF}${i}/ipv4/ipAddress/${AZ_Q}`] = '0/\n';
    paths[`${AZ_IF}${i}/ipv4/ipAddress/0/privateIpAddress${AZ_Q}`] = `172.16.${n}.2`;
    paths[`${AZ_IF}${i}/ipv4/subnet/0/address/${AZ_Q}`] = `172.16.${n}.0`;
    paths[`${AZ_IF}${i}/ipv4/subnet/0/prefix/${AZ_Q}`] = '24';
    paths[`${AZ_IF}${i}/ipv6/ipAddress/${AZ_Q}`] = '0/\n1/\n';
    paths[`${AZ_IF}${i}/ipv6/ipAddress/0/privateIpAddress${AZ_Q}`] = `fd00:16:${n}::2`;
    paths[`${AZ_IF}${i}/ipv6/ipAddress/1/privateIpAddress${AZ_Q}`] = `fd00:16:${n}::30`;
  });
  return paths;
}

describe('IPv6 on a real NetworkManager: Azure dual-stack, /64 subnets, no router in IMDS', () => {
  const scenario = useRealnm({
    name: 'ncs-e2e-v6-azure',
    nics: 2,
    ipv4: 'static',
    ipv6: 'auto',
    metadata: { requireHeaders: { Metadata: 'true' }, paths: azurePaths() },
  });
  const tool = cliRunner({ NM_CLOUD_SETUP_AZURE: 'yes', NM_CLOUD_SETUP_IPV6: 'yes' });

  it('the IPv6 addresses with prefix 64, subnet tables and rules; no default route', async () => {
    const nm = scenario.nm;
    const r = await tool(nm);
    expect(r.code, output(r)).toBe(0);
    await expectIpv6State(nm, {
      eth0: sorted(['fd00:16:4::2/64', 'fd00:16:4::30/64']),
      eth1: sorted(['fd00:16:5::2/64', 'fd00:16:5::30/64']),
      rules: sorted([
        '30200: from fd00:16:4::2 lookup 30200',
        '30200: from fd00:16:4::30 lookup 30200',
        '30201: from fd00:16:5::2 lookup 30201',
        '30201: from fd00:16:5::30 lookup 30201',
        '30350: from all lookup main suppress_prefixlength 0',
      ]),
      30200: ['fd00:16:4::/64 dev eth0 metric 10'],
      30201: ['fd00:16:5::/64 dev eth1 metric 10'],
      30400: [],
      30401: [],
    });
  });
});

/** The router NetworkManager learned by RA on `dev`: the gateway of its main-table default route (proto ra). */
async function learnedRouter(nm: RealNm, dev: string): Promise<string> {
  return pollUntil(
    async () => {
      const routes = JSON.parse(await nm.execOk(['ip', '-j', '-6', 'route', 'show', 'default', 'dev', dev, 'proto', 'ra'])) as {
        gateway?: string;
      }[];
      const gateway = routes[0]?.gateway;
      if (gateway === undefined) throw new Error(`no router learned on ${dev} yet`);
      return gateway;
    },
    { timeoutMs: 20_000, intervalMs: 200 },
  );
}

describe('IPv6 on a real NetworkManager: EC2 dual-stack, the router NetworkManager learned by RA', () => {
  const scenario = ec2Scenario('ncs-e2e-v6-ra', ec2Paths('dual-stack'), { routerAdvertisements: true });

  it('the default route in 30400+i goes via the router learned by RA (fe80::…), and the log says so', async () => {
    const nm = scenario.nm;
    const [router0, router1] = [await learnedRouter(nm, 'eth0'), await learnedRouter(nm, 'eth1')];
    expect(router0).toMatch(/^fe80::/);
    const r = await ec2Tool(nm);
    expect(r.code, output(r)).toBe(0);
    expectInOrder(r, [
      'meta data received',
      `<info>  config device ${MAC0.toUpperCase()}: the metadata names no IPv6 router; IPv6 default route in table 30400 via ${router0}, the router NetworkManager learned by router advertisement on eth0`,
      `<info>  config device ${MAC1.toUpperCase()}: the metadata names no IPv6 router; IPv6 default route in table 30401 via ${router1}, the router NetworkManager learned by router advertisement on eth1`,
      'some changes were applied for provider ec2',
    ]);
    await expectIpv6State(nm, {
      eth0: sorted(['fd00:16:4::2/64', 'fd00:16:4::10/64']),
      eth1: sorted(['fd00:16:5::2/64', 'fd00:16:5::10/64']),
      rules: sorted([
        ...EC2_IPV6_RULES,
        '30400: from fd00:16:4::2 lookup 30400',
        '30400: from fd00:16:4::10 lookup 30400',
        '30401: from fd00:16:5::2 lookup 30401',
        '30401: from fd00:16:5::10 lookup 30401',
      ]),
      30200: ['fd00:16:4::/64 dev eth0 metric 10'],
      30201: ['fd00:16:5::/64 dev eth1 metric 10'],
      30400: [`default via ${router0} dev eth0 metric 10`],
      30401: [`default via ${router1} dev eth1 metric 10`],
    });
  });

  it('second run: the same router, no Reapply (NM may not know it again yet after the Reapply: then it is kept)', async () => {
    const nm = scenario.nm;
    const r = await ec2Tool(nm);
    expect(r.code, output(r)).toBe(0);
    expect(r.stdout, output(r)).toContain('no changes were applied for provider ec2');
    expect(r.stdout, output(r)).toMatch(
      /config device 02:00:00:00:00:01: the metadata names no IPv6 router(; IPv6 default route in table 30400 via fe80::[0-9a-f:]+, the router NetworkManager learned by router advertisement on eth0| and NetworkManager knows none right now; keeping the IPv6 default route in table 30400 via fe80::[0-9a-f:]+ that an earlier run configured)/,
    );
    expect(await nm.ipv6RouteSummary(30400)).toEqual([`default via ${await learnedRouter(nm, 'eth0')} dev eth0 metric 10`]);
  });
});

describe('IPv6 on a real NetworkManager: EC2 delegated prefixes (ipv6-prefix) steered like the addresses', () => {
  const paths = ec2Paths('dual-stack');
  paths[`${MACS}${MAC1}/`] = 'device-number\nipv6-prefix\nipv6s\nlocal-ipv4s\nsubnet-ipv4-cidr-block\nsubnet-ipv6-cidr-blocks';
  paths[`${MACS}${MAC1}/ipv6-prefix`] = 'fd00:16:5:0:9c3a:0:0:0/80\n';
  const scenario = ec2Scenario('ncs-e2e-v6-pfx', paths);

  it('rules from the /80 into table 30201 (no router: not 30401), no address of it on the host; a second run changes nothing', async () => {
    const nm = scenario.nm;
    const r = await ec2Tool(nm);
    expect(r.code, output(r)).toBe(0);
    await expectIpv6State(nm, {
      eth0: sorted(['fd00:16:4::2/64', 'fd00:16:4::10/64']),
      eth1: sorted(['fd00:16:5::2/64', 'fd00:16:5::10/64']),
      rules: sorted([...EC2_IPV6_RULES, '30201: from fd00:16:5:0:9c3a::/80 lookup 30201']),
      30200: ['fd00:16:4::/64 dev eth0 metric 10'],
      30201: ['fd00:16:5::/64 dev eth1 metric 10'],
      30400: [],
      30401: [],
    });
    const again = await ec2Tool(nm);
    expect(again.stdout, output(again)).toContain('no changes were applied for provider ec2');
  });

  it('status shows the prefix', async () => {
    const env = { NM_CLOUD_SETUP_EC2: 'yes', NM_CLOUD_SETUP_IPV6: 'yes', NM_CLOUD_SETUP_MAP_INTERFACES: MAP_INTERFACES };
    const r = await runCli(scenario.nm, env, ['status', '--json']);
    expect(r.code, output(r)).toBe(0);
    const status = JSON.parse(r.stdout) as { interfaces: { hwaddr: string; ipv6Prefixes?: string[] }[] };
    expect(status.interfaces.find((row) => row.hwaddr === MAC1.toUpperCase())?.ipv6Prefixes).toEqual(['fd00:16:5:0:9c3a::/80']);
  });
});

const GCP_NI = '/computeMetadata/v1/instance/network-interfaces';

describe('IPv6 on a real NetworkManager: GCP forwarded IPv6 ranges become local routes', () => {
  const scenario = useRealnm({
    name: 'ncs-e2e-v6-gcp',
    nics: 2,
    ipv4: 'static',
    ipv6: 'auto',
    metadata: {
      requireHeaders: { 'Metadata-Flavor': 'Google' },
      paths: {
        '/computeMetadata/v1/instance/id': '4520031799277581759',
        [`${GCP_NI}/`]: '0/\n1/\n',
        [`${GCP_NI}/0/`]: 'forwarded-ips/\nforwarded-ipv6s/\nipv6s\nmac\n',
        [`${GCP_NI}/0/mac`]: MAC0,
        [`${GCP_NI}/0/ipv6s`]: 'fd00:16:4::2\n',
        [`${GCP_NI}/0/forwarded-ips/`]: '0\n',
        [`${GCP_NI}/0/forwarded-ips/0`]: '172.16.4.100',
        [`${GCP_NI}/0/forwarded-ipv6s/`]: '0\n',
        [`${GCP_NI}/0/forwarded-ipv6s/0`]: 'fd00:16:4:0:0:9:0:0/96',
        // eth1 forwards only an IPv6 range: no IPv4 to configure, its IPv6 still is.
        [`${GCP_NI}/1/`]: 'forwarded-ips/\nforwarded-ipv6s/\nmac\n',
        [`${GCP_NI}/1/mac`]: MAC1,
        [`${GCP_NI}/1/forwarded-ips/`]: '',
        [`${GCP_NI}/1/forwarded-ipv6s/`]: '0\n',
        [`${GCP_NI}/1/forwarded-ipv6s/0`]: 'fd00:16:5::77',
      },
    },
  });
  const gcpEnv = { NM_CLOUD_SETUP_GCP: 'yes', NM_CLOUD_SETUP_GCP_HOST: 'http://169.254.169.254' };
  const staticLocal6 = async (nm: RealNm): Promise<string[]> =>
    (await nm.execOk(['ip', '-6', 'route', 'show', 'table', 'local']))
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => / proto static /.test(line));

  it('IPv6 off: the IPv4 forwarded IP only; no IPv6 local route', async () => {
    const nm = scenario.nm;
    const r = await cliRunner(gcpEnv)(nm);
    expect(r.code, output(r)).toBe(0);
    expect(await staticLocal6(nm)).toEqual([]);
  });

  it('IPv6 on: local routes for the /96 on eth0 and the single address on eth1, no policy routing, no address added', async () => {
    const nm = scenario.nm;
    const r = await cliRunner({ ...gcpEnv, NM_CLOUD_SETUP_IPV6: 'yes' })(nm);
    expect(r.code, output(r)).toBe(0);
    await pollUntil(
      async () => {
        expect(sorted(await staticLocal6(nm))).toEqual(
          sorted([
            'local fd00:16:4::9:0:0/96 dev eth0 proto static metric 100 pref medium',
            'local fd00:16:5::77 dev eth1 proto static metric 100 pref medium',
          ]),
        );
      },
      { timeoutMs: 5000 },
    );
    expect(await nm.ipv6RuleSummary()).toEqual([]);
    expect(await nm.ipv6Addrs('eth0')).toEqual([]);
    const again = await cliRunner({ ...gcpEnv, NM_CLOUD_SETUP_IPV6: 'yes' })(nm);
    expect(again.stdout, output(again)).toContain('no changes were applied for provider GCP');
  });
});

describe('IPv6 on a real NetworkManager: profiles with ipv6.method disabled', () => {
  const scenario = ec2Scenario('ncs-e2e-v6-off', ec2Paths('dual-stack'), { ipv6: 'disabled' });

  it('IPv4 is configured, the ipv6 setting is left as the profile has it (NetworkManager refuses addresses there), one info line per NIC', async () => {
    const nm = scenario.nm;
    const r = await ec2Tool(nm);
    expect(r.code, output(r)).toBe(0);
    expect(r.stdout, output(r)).toContain('some changes were applied for provider ec2');
    expect(r.stdout, output(r)).not.toContain('failure to reapply');
    for (const mac of [MAC0, MAC1]) {
      expect(r.stdout, output(r)).toMatch(
        new RegExp(
          `<info>  config device ${mac.toUpperCase()}: ipv6.method is disabled on connection "eth[01]" \\([0-9a-f-]+\\): its IPv6 metadata is left out, IPv4 is configured`,
        ),
      );
    }
    expect(sorted(await nm.ipv4Addrs('eth0'))).toEqual(['172.16.4.10/24', '172.16.4.2/24']);
    expect(await nm.ipv6Addrs('eth0')).toEqual([]);
    expect(await nm.ipv6RuleSummary()).toEqual([]);
    const again = await ec2Tool(nm);
    expect(again.stdout, output(again)).toContain('no changes were applied for provider ec2');
  });
});

describe('NetworkManager 1.42.4 and DHCPv6 (documented in differences-from-upstream.md): any Reapply drops the lease', () => {
  const scenario = ec2Scenario('ncs-e2e-v6-dhcp6', ec2Paths('dual-stack'), { dhcpv6: true });

  it("upstream's own IPv4-only Reapply (IPv6 off, preserve-external-ip) makes NetworkManager give up IPv6 link-local and the DHCPv6 address; nmcli's does not", async () => {
    const nm = scenario.nm;
    await learnedRouter(nm, 'eth0');
    await pollUntil(
      async () => {
        expect(await nm.ipv6Addrs('eth0')).toContain('fd00:16:4::2/128');
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    // nmcli's Reapply (flags 0) keeps the lease ...
    await nm.execOk(['nmcli', 'device', 'reapply', 'eth0']);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(await nm.ipv6Addrs('eth0')).toContain('fd00:16:4::2/128');
    // ... upstream's, with NM_DEVICE_REAPPLY_FLAGS_PRESERVE_EXTERNAL_IP, does not.
    const r = await ec2ToolIpv6Off(nm);
    expect(r.code, output(r)).toBe(0);
    expect(r.stdout, output(r)).not.toMatch(/IPv6|ipv6/);
    // NetworkManager, not the tool: the Reapply carries ipv4.* only (upstream's payload).
    await pollUntil(
      async () => {
        const log = fs.readFileSync(nm.nmLogPath, 'utf8');
        expect(log).toMatch(/op="device-reapply" interface="eth0" ifindex=\d+ args="ipv4\.[^"]*"/);
        expect(log).toContain('no IPv6 link local address to retry after Duplicate Address Detection failures (back off)');
        expect(await nm.ipv6Addrs('eth0')).toEqual([]);
      },
      { timeoutMs: 10_000, intervalMs: 200 },
    );
  });
});
