// SPDX-License-Identifier: LGPL-2.1-or-later
// IPv6 policy routing (NM_CLOUD_SETUP_IPV6): the mirror of IPv4's tables and rules, the
// single-address shortcut per family, no default route without a router, and the Reapply lists.
import { describe, expect, it } from 'vitest';
import { totalled, type FamilyConfig, type MetadataInterface } from '../../src/model.js';
import type { SettingsDict } from '../../src/nm/settings.js';
import { toNmcli } from '../../src/plan/nmcli.js';
import { planConnection } from '../../src/plan/plan-connection.js';
import { cloudIpv6Lists } from '../../src/plan/policy-routing.js';
import { aasv, appliedConnection, describeLists, iface, s } from './fixtures.js';

const MAC1 = '0E:00:00:00:00:01';
const MAC2 = '0E:00:00:00:00:02';

const withIpv6 = (base: MetadataInterface, ipv6: Partial<FamilyConfig>): MetadataInterface => ({
  ...base,
  ipv6: { routes: [], ...ipv6 },
});
const dualStack = (hwaddr: string, idx: number, ipv6s: string[], gateway?: string): MetadataInterface =>
  withIpv6(iface(hwaddr, idx, [`10.0.${idx}.5`], `10.0.${idx}.0/24`), {
    addresses: ipv6s,
    subnet: { address: `2001:db8:${idx}::`, prefix: 64 },
    ...(gateway === undefined ? {} : { gateway }),
  });

/** An applied connection with an (empty) ipv6 setting, as NM serializes one with method auto. */
function appliedDualStack(): SettingsDict {
  return {
    ...appliedConnection(),
    ipv6: { method: s('auto'), 'address-data': aasv([]), 'route-data': aasv([]), 'routing-rules': aasv([]) },
  };
}

describe('cloudIpv6Lists', () => {
  it('a delegated prefix (EC2 ipv6-prefix) gets rules into both tables after the addresses, as the network it is', () => {
    const links = [
      dualStack(MAC1, 0, ['2001:db8::5']),
      withIpv6(dualStack(MAC2, 1, ['2001:db8:1::5'], 'fe80::1'), {
        addresses: ['2001:db8:1::5'],
        subnet: { address: '2001:db8:1::', prefix: 64 },
        gateway: 'fe80::1',
        delegatedPrefixes: [{ address: '2001:db8:1:0:9c3a::', prefix: 80 }],
      }),
    ];
    const lists = cloudIpv6Lists(links[1]!, totalled(links));
    expect(toNmcli(lists)).toEqual({
      addresses: ['2001:db8:1::5/64'],
      routes: ['2001:db8:1::/64 10 table=30201', '::/0 fe80::1 10 table=30401'],
      rules: [
        'priority 30201 from 2001:db8:1::5 table 30201',
        'priority 30201 from 2001:db8:1:0:9c3a::/80 table 30201',
        'priority 30350 table 254 suppress_prefixlength 0',
        'priority 30401 from 2001:db8:1::5 table 30401',
        'priority 30401 from 2001:db8:1:0:9c3a::/80 table 30401',
      ],
    });
    expect(lists.rules[1]).toMatchObject({
      from: { signature: 's', value: '2001:db8:1:0:9c3a::' },
      'from-len': { signature: 'y', value: 80 },
    });
  });

  it('provider routes (GCP forwarded IPv6 ranges) are added as given, with no subnet and no policy routing', () => {
    const link = withIpv6(iface(MAC1, 0, ['10.128.0.2'], '10.128.0.0/20'), {
      addresses: ['2600:1900:4000::1:0:0'],
      routes: [{ dest: '2600:1900:4000::9:0:0', prefix: 96, metric: 100, type: 'local' }],
    });
    expect(toNmcli(cloudIpv6Lists(link, totalled([link])))).toEqual({
      addresses: [],
      routes: ['2600:1900:4000::9:0:0/96 100 type=local'],
      rules: [],
    });
  });

  it('two addresses on NIC 1 with a router: subnet route in 30201, default in 30401, /128 rules around 30350', () => {
    const links = [dualStack(MAC1, 0, ['2001:db8::5']), dualStack(MAC2, 1, ['2001:db8:1::5', '2001:db8:1::6'], 'fe80::1')];
    const lists = cloudIpv6Lists(links[1]!, totalled(links));
    expect(toNmcli(lists)).toEqual({
      addresses: ['2001:db8:1::5/64', '2001:db8:1::6/64'],
      routes: ['2001:db8:1::/64 10 table=30201', '::/0 fe80::1 10 table=30401'],
      rules: [
        'priority 30201 from 2001:db8:1::5 table 30201',
        'priority 30201 from 2001:db8:1::6 table 30201',
        'priority 30350 table 254 suppress_prefixlength 0',
        'priority 30401 from 2001:db8:1::5 table 30401',
        'priority 30401 from 2001:db8:1::6 table 30401',
      ],
    });
    expect(lists.rules[0]).toMatchObject({ family: { signature: 'i', value: 10 }, 'from-len': { signature: 'y', value: 128 } });
    expect(lists.noRouter).toBeUndefined();
  });

  it('the router learned by RA is used only when the metadata names none, and its source is told', () => {
    const links = [dualStack(MAC1, 0, ['2001:db8::5', '2001:db8::6']), dualStack(MAC2, 1, ['2001:db8:1::5'], '2001:db8:1::1')];
    const learned = cloudIpv6Lists(links[0]!, totalled(links), 'fe80::1');
    expect(toNmcli(learned).routes).toEqual(['2001:db8::/64 10 table=30200', '::/0 fe80::1 10 table=30400']);
    expect(toNmcli(learned).rules).toContain('priority 30400 from 2001:db8::6 table 30400');
    expect(learned.router).toEqual({ address: 'fe80::1', source: 'router-advertisement' });
    expect(learned.noRouter).toBeUndefined();
    const fromMetadata = cloudIpv6Lists(links[1]!, totalled(links), 'fe80::1');
    expect(toNmcli(fromMetadata).routes).toEqual(['2001:db8:1::/64 10 table=30201', '::/0 2001:db8:1::1 10 table=30401']);
    expect(fromMetadata.router).toEqual({ address: '2001:db8:1::1', source: 'metadata' });
    // planConnection passes it through.
    const plan = planConnection({
      applied: appliedDualStack(),
      profile: undefined,
      iface: links[0]!,
      totals: totalled(links),
      expectedType: '802-3-ethernet',
      ipv6: true,
      learnedIpv6Router: 'fe80::1',
    });
    expect(plan.kind === 'reapply' && plan.ipv6 !== undefined ? toNmcli(plan.ipv6).routes : []).toContain('::/0 fe80::1 10 table=30400');
  });

  it('without a router: addresses and the subnet table only, and says so', () => {
    const links = [dualStack(MAC1, 0, ['2001:db8::5', '2001:db8::6'])];
    const lists = cloudIpv6Lists(links[0]!, totalled(links));
    expect(toNmcli(lists)).toEqual({
      addresses: ['2001:db8::5/64', '2001:db8::6/64'],
      routes: ['2001:db8::/64 10 table=30200'],
      rules: [
        'priority 30200 from 2001:db8::5 table 30200',
        'priority 30200 from 2001:db8::6 table 30200',
        'priority 30350 table 254 suppress_prefixlength 0',
      ],
    });
    expect(lists.noRouter).toBe(true);
  });

  it('the single-address shortcut is per family: one IPv6 address on one link needs nothing', () => {
    // Two IPv4 links (IPv4 policy routing needed) but IPv6 only on one, with one address.
    const links = [dualStack(MAC1, 0, ['2001:db8::5'], 'fe80::1'), iface(MAC2, 1, ['10.0.1.5'], '10.0.1.0/24')];
    expect(toNmcli(cloudIpv6Lists(links[0]!, totalled(links)))).toEqual({ addresses: [], routes: [], rules: [] });
  });
});

describe('planConnection with IPv6', () => {
  const links = [dualStack(MAC1, 0, ['2001:db8::5', '2001:db8::6'], 'fe80::1')];
  const metadata = totalled(links);

  it('on: the Reapply carries both families; the second run is unchanged', () => {
    const plan = planConnection({
      applied: appliedDualStack(),
      profile: undefined,
      iface: links[0]!,
      totals: metadata,
      expectedType: '802-3-ethernet',
      ipv6: true,
    });
    if (plan.kind !== 'reapply') throw new Error(plan.kind);
    expect(describeLists(plan.settings).addresses).toEqual([]);
    const ipv6 = plan.settings['ipv6'] ?? {};
    expect(ipv6['method']).toEqual(s('auto'));
    expect(toNmcli(plan.ipv6!).addresses).toEqual(['2001:db8::5/64', '2001:db8::6/64']);
    expect((ipv6['address-data']?.value as unknown[]).length).toBe(2);
    const again = planConnection({
      applied: plan.settings,
      profile: undefined,
      iface: links[0]!,
      totals: metadata,
      expectedType: '802-3-ethernet',
      ipv6: true,
    });
    expect(again.kind).toBe('unchanged');
  });

  it('off: the ipv6 setting is passed through untouched and nothing changes', () => {
    const applied = appliedDualStack();
    const plan = planConnection({ applied, profile: undefined, iface: links[0]!, totals: metadata, expectedType: '802-3-ethernet' });
    expect(plan.kind).toBe('unchanged');
  });
});
