// SPDX-License-Identifier: LGPL-2.1-or-later
// Issue #10 item 9: metadata that would cut the instance off is not applied (src/plan/validate.ts),
// hand-written cases per cloud, then one run against NetworkManager in memory.
import { describe, expect, it } from 'vitest';
import { createCancellation } from '../../src/cli.js';
import { readConfig } from '../../src/config.js';
import type { MetadataHttp } from '../../src/http.js';
import { createLogger } from '../../src/log.js';
import { ETHERNET_LINK, NO_FAMILY_CONFIG, type FamilyConfig, type ProviderInterface, type ProviderResult } from '../../src/model.js';
import { NM_VERSION_1_41_6 } from '../../src/nm/constants.js';
import { interfaceProblem, ipv4Problem, ipv6Problem, rejectUnsafe } from '../../src/plan/validate.js';
import { run } from '../../src/run.js';
import type { Provider } from '../../src/providers/types.js';
import { MemoryNm } from '../fakes/memory-nm.js';
import { statusDocument } from '../../src/report.js';
import { appliedConnection, describeLists } from './fixtures.js';

/** A family from "addr addr ... / subnet [via gateway]". */
function family(addresses: string[] | undefined, subnet: string, gateway?: string): FamilyConfig {
  const [address = '', prefix = '0'] = subnet.split('/');
  return {
    ...(addresses === undefined ? {} : { addresses }),
    subnet: { address, prefix: Number(prefix) },
    ...(gateway === undefined ? {} : { gateway }),
    routes: [],
  };
}

describe('ipv4Problem: what each cloud serves is accepted', () => {
  it.each([
    ['EC2: local-ipv4s in subnet-ipv4-cidr-block, router = first host', family(['172.31.176.249', '172.31.176.250'], '172.31.176.0/20')],
    // upstream's test_ec2 data: the address is not in the served subnet; the router is.
    ['EC2: upstream test data (172.31.176.249 in 172.31.166.0/20)', family(['172.31.176.249'], '172.31.166.0/20')],
    ['Azure: subnet 0, router = first host', family(['10.0.0.4'], '10.0.0.0/24')],
    ['OCI: privateIp, subnetCidrBlock, virtualRouterIp', family(['10.0.1.7'], '10.0.1.0/24', '10.0.1.1')],
    // Aliyun's "subnet" is vpc-cidr-block's address with the vSwitch netmask: it need not hold
    // the addresses; what is applied is each address's own network and the metadata's gateway.
    ['Aliyun: vpc-cidr-block address, vSwitch netmask, gateway .253', family(['172.16.3.10'], '172.16.0.0/24', '172.16.3.253')],
    ['a /30, the smallest usable', family(['10.0.0.2'], '10.0.0.0/30')],
    ['a /1', family(['10.0.0.2'], '0.0.0.0/1', '10.0.0.1')],
    // upstream's test_aliyun data: secondary addresses in another /24 get their own subnet route.
    ['Aliyun: addresses in two /24s', family(['172.31.176.249', '172.31.177.9'], '172.31.166.0/24', '172.31.176.2')],
  ])('%s', (_, config) => {
    expect(ipv4Problem(config)).toBeUndefined();
  });

  it('GCP: forwarded IPs only (routes, no addresses or subnet) are not policy routing', () => {
    expect(ipv4Problem({ routes: [{ dest: '10.0.0.9', prefix: 32, metric: 100, type: 'local' }] })).toBeUndefined();
  });

  it('a family without addresses or subnet is not applied, hence not checked', () => {
    expect(ipv4Problem(NO_FAMILY_CONFIG)).toBeUndefined();
    expect(ipv4Problem({ addresses: ['10.0.0.4'], routes: [] })).toBeUndefined();
  });
});

describe('ipv4Problem: what would cut the instance off is refused', () => {
  it.each([
    [
      '/32: the router would be the network address',
      family(['10.0.0.4'], '10.0.0.4/32'),
      'IPv4 subnet 10.0.0.4/32 is not a usable subnet (prefix must be 1 to 30)',
    ],
    [
      '/31: no room for a router apart',
      family(['10.0.0.4'], '10.0.0.4/31'),
      'IPv4 subnet 10.0.0.4/31 is not a usable subnet (prefix must be 1 to 30)',
    ],
    [
      '/0: x/0 addresses, "default dev" in 30200+i',
      family(['10.0.0.4'], '0.0.0.0/0'),
      'IPv4 subnet 0.0.0.0/0 is not a usable subnet (prefix must be 1 to 30)',
    ],
    ['Azure prefix 0', family(['10.0.0.4'], '10.0.0.0/0'), 'IPv4 subnet 10.0.0.0/0 is not a usable subnet (prefix must be 1 to 30)'],
    ['Azure: an empty address list', family([], '10.0.0.0/24'), 'no IPv4 address'],
    [
      'Azure: subnet 0 address is a broadcast address',
      family(['10.0.1.4'], '10.0.0.255/24', '10.0.0.255'),
      'IPv4 gateway 10.0.0.255 is the network or broadcast address of 10.0.0.0/24',
    ],
    [
      'the broadcast address as an address',
      family(['10.0.0.255'], '10.0.0.0/24'),
      'IPv4 address 10.0.0.255 is the network or broadcast address of 10.0.0.0/24',
    ],
    [
      'the network address as an address',
      family(['10.0.0.0'], '10.0.0.0/24'),
      'IPv4 address 10.0.0.0 is the network or broadcast address of 10.0.0.0/24',
    ],
    [
      'OCI: a router outside the subnet',
      family(['10.0.1.7'], '10.0.1.0/24', '10.0.2.1'),
      "IPv4 gateway 10.0.2.1 is outside 10.0.1.0/24 and the addresses' networks",
    ],
    [
      'EC2: subnet and addresses apart, the router in neither',
      family(['10.0.1.4'], '10.0.0.0/24', '10.0.2.1'),
      "IPv4 gateway 10.0.2.1 is outside 10.0.0.0/24 and the addresses' networks",
    ],
    [
      'Aliyun: the network address as the gateway',
      family(['172.16.3.10'], '172.16.0.0/24', '172.16.3.0'),
      'IPv4 gateway 172.16.3.0 is the network or broadcast address of 172.16.3.0/24',
    ],
    [
      'Aliyun: the broadcast address as the gateway',
      family(['172.16.3.10'], '172.16.0.0/24', '172.16.3.255'),
      'IPv4 gateway 172.16.3.255 is the network or broadcast address of 172.16.3.0/24',
    ],
    [
      'a gateway that is our own address',
      family(['10.0.1.7', '10.0.1.8'], '10.0.1.0/24', '10.0.1.8'),
      "IPv4 gateway 10.0.1.8 is one of the interface's own addresses",
    ],
  ])('%s', (_, config, reason) => {
    expect(ipv4Problem(config)).toBe(reason);
  });
});

describe('ipv6Problem', () => {
  it.each([
    ['EC2 /64, no router (router advertisements)', family(['fd00:16:4::2', 'fd00:16:4::10'], 'fd00:16:4::/64')],
    ['OCI /64, router in the subnet', family(['fd00:16:4::2'], 'fd00:16:4::/64', 'fd00:16:4::1')],
    ['a link-local router', family(['fd00:16:4::2'], 'fd00:16:4::/64', 'fe80::1')],
    ['a /127', family(['fd00::1'], 'fd00::/127')],
    [
      'EC2 delegated /80 prefixes in the subnet',
      { ...family(['fd00::1'], 'fd00::/64'), delegatedPrefixes: [{ address: 'fd00:0:0:0:9c3a::', prefix: 80 }] },
    ],
    ['GCP forwarded /96 range as a local route', { routes: [{ dest: '2600:1900::9:0:0', prefix: 96, type: 'local' }] }],
  ])('accepted: %s', (_, config) => {
    expect(ipv6Problem(config)).toBeUndefined();
  });

  it.each([
    ['/128', family(['fd00::1'], 'fd00::1/128'), 'IPv6 subnet fd00::1/128 is not a usable subnet (prefix must be 1 to 127)'],
    ['/0', family(['fd00::1'], '::/0'), 'IPv6 subnet ::/0 is not a usable subnet (prefix must be 1 to 127)'],
    ['no address', family([], 'fd00::/64'), 'no IPv6 address'],
    ['an address outside', family(['fd00:1::1'], 'fd00::/64'), 'IPv6 address fd00:1::1 is outside fd00::/64'],
    [
      'a global router outside',
      family(['fd00::1'], 'fd00::/64', 'fd00:9::1'),
      'IPv6 gateway fd00:9::1 is outside fd00::/64 and not link-local',
    ],
    [
      'a delegated prefix outside the subnet',
      { ...family(['fd00::1'], 'fd00::/64'), delegatedPrefixes: [{ address: 'fd00:1::', prefix: 80 }] },
      'IPv6 prefix fd00:1::/80 is not inside fd00::/64',
    ],
    [
      'a delegated prefix wider than the subnet (::/0 would steer every source)',
      { ...family(['fd00::1'], 'fd00::/64'), delegatedPrefixes: [{ address: '::', prefix: 0 }] },
      'IPv6 prefix ::/0 is not inside fd00::/64',
    ],
    [
      'a local range as wide as a subnet',
      { routes: [{ dest: '2600:1900::', prefix: 64, type: 'local' }] },
      'IPv6 range 2600:1900::/64 is too wide to accept as local (prefix must be 65 to 128)',
    ],
  ])('refused: %s', (_, config, reason) => {
    expect(ipv6Problem(config)).toBe(reason);
  });
});

const MAC1 = 'CC:00:00:00:00:01';
const MAC2 = 'CC:00:00:00:00:02';

function link(hwaddr: string, ifaceIdx: number, ipv4: FamilyConfig, ipv6: FamilyConfig = NO_FAMILY_CONFIG): ProviderInterface {
  return { linkId: hwaddr, hwaddr, ifaceIdx, link: ETHERNET_LINK, ipv4, ipv6, dns: [] };
}

describe('interfaceProblem and rejectUnsafe', () => {
  it('an IPv6 problem counts only when IPv6 is configured', () => {
    const iface = link(MAC1, 0, family(['10.0.0.4'], '10.0.0.0/24'), family(['fd00::1'], 'fd00::1/128'));
    expect(interfaceProblem(iface, { ipv6: false })).toBeUndefined();
    expect(interfaceProblem(iface, { ipv6: true })).toMatch(/^IPv6 subnet/);
  });

  it('empties the unsafe link (still listed), keeps the others and the withdrawn MACs', () => {
    const good = link(MAC1, 1, family(['10.0.0.4'], '10.0.0.0/24'));
    const bad = link(MAC2, 0, family(['10.0.1.4'], '10.0.1.4/32'));
    const { result, rejected } = rejectUnsafe({ interfaces: [bad, good], withdrawn: ['02:00:00:00:00:09'] }, { ipv6: false });
    expect(rejected).toEqual([{ hwaddr: MAC2, reason: 'IPv4 subnet 10.0.1.4/32 is not a usable subnet (prefix must be 1 to 30)' }]);
    expect(result).toEqual({
      interfaces: [
        { ...bad, ipv4: NO_FAMILY_CONFIG, unsafe: 'IPv4 subnet 10.0.1.4/32 is not a usable subnet (prefix must be 1 to 30)' },
        good,
      ],
      withdrawn: ['02:00:00:00:00:09'],
    });
  });
});

const NO_HTTP: MetadataHttp = {
  request: () => Promise.reject(new Error('no HTTP in this test')),
  poll: () => Promise.reject(new Error('no HTTP in this test')),
  preconnect: () => undefined,
  close: () => {},
};

function fixedProvider(result: ProviderResult): Provider {
  return {
    name: 'ec2',
    envName: 'EC2',
    defaultBaseUrl: 'http://169.254.169.254',
    allowNewConnectionsByDefault: false,
    detect: () =>
      Promise.resolve({
        detected: true,
        session: { getConfig: () => Promise.resolve(result), instanceFacts: () => Promise.resolve({}) },
      }),
  };
}

describe('run() in-process: an unsafe NIC is left as it is, the other is configured', () => {
  it('eth1 with a /32 subnet: one <warn> line, no Reapply on eth1; eth0 gets its policy routing', async () => {
    const nm = new MemoryNm(
      [
        { iface: 'eth0', type: 'ethernet', hwaddr: MAC1, profile: appliedConnection({ id: 'con-eth0' }) },
        { iface: 'eth1', type: 'ethernet', hwaddr: MAC2, profile: appliedConnection({ id: 'con-eth1' }) },
      ],
      { version: NM_VERSION_1_41_6 },
    );
    const result: ProviderResult = {
      interfaces: [link(MAC1, 0, family(['10.0.0.4', '10.0.0.5'], '10.0.0.0/24')), link(MAC2, 1, family(['10.0.1.4'], '10.0.1.4/32'))],
      withdrawn: [],
    };
    const lines: string[] = [];
    const log = createLogger({ level: 'trace', sink: (line) => lines.push(line.replace(/^\[[0-9.]+\] /, '')), clock: () => 0n });
    const report = await run(
      { http: NO_HTTP, connectNm: () => Promise.resolve(nm), log, providers: [fixedProvider(result)] },
      readConfig({ NM_CLOUD_SETUP_EC2: 'yes' }),
      createCancellation(log),
    );
    expect(report.result).toBe('changed');
    expect(lines.filter((line) => line.startsWith('<warn>'))).toEqual([
      '<warn>  get-config: CC:00:00:00:00:02: not configuring this interface: IPv4 subnet 10.0.1.4/32 is not a usable subnet (prefix must be 1 to 30)',
    ]);
    expect(lines).toContain(
      '<debug> config device CC:00:00:00:00:02: skip because metadata not applied: IPv4 subnet 10.0.1.4/32 is not a usable subnet (prefix must be 1 to 30)',
    );
    // status and plan name the NIC and say why, instead of "-" and "meta data not successfully fetched".
    const eth1Row = statusDocument(report).interfaces.find((row) => row.hwaddr === MAC2);
    expect(eth1Row).toMatchObject({
      device: 'eth1',
      config: 'skipped',
      reason: 'metadata not applied: IPv4 subnet 10.0.1.4/32 is not a usable subnet (prefix must be 1 to 30)',
    });
    expect(nm.calls.filter((call) => call.member === 'Reapply').map((call) => call.device)).toEqual(['eth0']);
    expect(describeLists(nm.appliedOf('eth0')!)).toEqual({
      addresses: ['10.0.0.4/24', '10.0.0.5/24'],
      routes: ['10.0.0.0/24 metric 10 table 30200', '0.0.0.0/0 via 10.0.0.1 metric 10 table 30400'],
      rules: [
        'priority 30200 from 10.0.0.4/32 table 30200',
        'priority 30200 from 10.0.0.5/32 table 30200',
        'priority 30350 table 254 suppress_prefixlength 0',
        'priority 30400 from 10.0.0.4/32 table 30400',
        'priority 30400 from 10.0.0.5/32 table 30400',
      ],
    });
    expect(describeLists(nm.appliedOf('eth1')!)).toEqual({ addresses: [], routes: [], rules: [] });
  });
});
