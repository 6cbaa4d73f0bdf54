// SPDX-License-Identifier: LGPL-2.1-or-later
import { describe, expect, it } from 'vitest';
import { totalled, unlistedInterface, type MetadataInterface } from '../../src/model.js';
import { routeEntry, ruleEntry, type SettingsDict } from '../../src/nm/settings.js';
import { planConnection, type ConnectionPlan } from '../../src/plan/plan-connection.js';
import { appliedConnection, describeLists, iface } from './fixtures.js';

const MAC = (n: number): string => `0E:00:00:00:00:${n.toString(16).padStart(2, '0').toUpperCase()}`;

/** Plans every interface of a metadata result against its applied connection. */
function planAll(records: MetadataInterface[], applied: (iface: MetadataInterface) => SettingsDict, profile?: SettingsDict) {
  const metadata = totalled(records);
  return metadata.interfaces.map((config) =>
    planConnection({ applied: applied(config), profile, iface: config, totals: metadata, expectedType: '802-3-ethernet' }),
  );
}

function reapplied(plan: ConnectionPlan): SettingsDict {
  if (plan.kind !== 'reapply') throw new Error(`expected reapply, got ${plan.kind}`);
  return plan.settings;
}

describe('planConnection topologies', () => {
  it('1 NIC with 1 IP: no policy routing, and no Reapply when nothing is configured', () => {
    const [plan] = planAll([iface(MAC(1), 0, ['10.0.0.5'], '10.0.0.0/24')], () => appliedConnection());
    expect(plan).toEqual({ kind: 'unchanged', isSingleAddress: true });
  });

  it('1 NIC with 1 IP clears policy routing left by an earlier run with more addresses', () => {
    const stale = appliedConnection({
      addresses: [
        ['10.0.0.5', 24],
        ['10.0.0.6', 24],
      ],
      routes: [routeEntry({ dest: '0.0.0.0', prefix: 0, nextHop: '10.0.0.1', metric: 10, table: 30400 })],
      rules: [ruleEntry({ priority: 30400, from: '10.0.0.5', table: 30400 })],
    });
    const [plan] = planAll([iface(MAC(1), 0, ['10.0.0.5'], '10.0.0.0/24')], () => stale);
    expect(describeLists(reapplied(plan!))).toEqual({ addresses: [], routes: [], rules: [] });
  });

  it('1 NIC with 2 IPs gets addresses, both tables and all rules, in upstream order', () => {
    const [plan] = planAll([iface(MAC(1), 0, ['172.31.26.249', '172.31.26.250'], '172.31.16.0/20')], () => appliedConnection());
    expect(describeLists(reapplied(plan!))).toEqual({
      addresses: ['172.31.26.249/20', '172.31.26.250/20'],
      routes: ['172.31.16.0/20 metric 10 table 30200', '0.0.0.0/0 via 172.31.16.1 metric 10 table 30400'],
      rules: [
        'priority 30200 from 172.31.26.249/32 table 30200',
        'priority 30200 from 172.31.26.250/32 table 30200',
        'priority 30350 table 254 suppress_prefixlength 0',
        'priority 30400 from 172.31.26.249/32 table 30400',
        'priority 30400 from 172.31.26.250/32 table 30400',
      ],
    });
  });

  it('2 NICs with one IP each: tables follow configidx, not the record order', () => {
    // Upstream's worked example: listing order mac2, mac1, so eth0 (mac1) has n = 1.
    const records = [iface(MAC(2), 0, ['172.31.26.249'], '172.31.16.0/20'), iface(MAC(1), 1, ['172.31.176.249'], '172.31.166.0/20')];
    const plans = planAll(records, () => appliedConnection());
    expect(describeLists(reapplied(plans[1]!))).toEqual({
      addresses: ['172.31.176.249/20'],
      routes: ['172.31.176.0/20 metric 10 table 30201', '0.0.0.0/0 via 172.31.160.1 metric 10 table 30401'],
      rules: [
        'priority 30201 from 172.31.176.249/32 table 30201',
        'priority 30350 table 254 suppress_prefixlength 0',
        'priority 30401 from 172.31.176.249/32 table 30401',
      ],
    });
  });

  it('8 NICs x 10 IPs: 10 addresses, one subnet route per subnet, 21 rules each, converges on rerun', () => {
    const records = Array.from({ length: 8 }, (_, n) =>
      iface(
        MAC(n + 1),
        n,
        Array.from({ length: 10 }, (_, k) => `10.${n}.${k % 2}.${10 + k}`),
        `10.${n}.0.0/23`,
      ),
    );
    const metadata = totalled(records);
    expect(metadata).toMatchObject({ numValidIfaces: 8, numIpv4s: 80 });
    for (const config of metadata.interfaces) {
      const plan = planConnection({
        applied: appliedConnection(),
        profile: undefined,
        iface: config,
        totals: metadata,
        expectedType: '802-3-ethernet',
      });
      const lists = describeLists(reapplied(plan));
      const n = config.ifaceIdx;
      expect(lists.addresses).toHaveLength(10);
      expect(lists.addresses[0]).toBe(`10.${n}.0.10/23`);
      // Both halves of the /23 share a network: one subnet route, then the default route.
      expect(lists.routes).toEqual([
        `10.${n}.0.0/23 metric 10 table ${30200 + n}`,
        `0.0.0.0/0 via 10.${n}.0.1 metric 10 table ${30400 + n}`,
      ]);
      expect(lists.rules).toHaveLength(21);
      expect(lists.rules[10]).toBe('priority 30350 table 254 suppress_prefixlength 0');
      const rerun = planConnection({
        applied: reapplied(plan),
        profile: undefined,
        iface: config,
        totals: metadata,
        expectedType: '802-3-ethernet',
      });
      expect(rerun).toEqual({ kind: 'unchanged', isSingleAddress: false });
    }
  });

  it('keeps the profile static addresses, routes and rules first, and converges on rerun', () => {
    const profile = appliedConnection({
      method: 'manual',
      addresses: [['172.16.4.2', 24]],
      routes: [routeEntry({ dest: '192.168.100.0', prefix: 24, nextHop: '172.16.4.254' })],
      rules: [ruleEntry({ priority: 100, from: '172.16.4.2', table: 100 })],
    });
    const config = iface(MAC(1), 0, ['172.16.4.2', '172.16.4.10'], '172.16.4.0/24');
    const totals = totalled([config]);
    const plan = planConnection({ applied: profile, profile, iface: config, totals, expectedType: '802-3-ethernet' });
    const lists = describeLists(reapplied(plan));
    // The primary is in both profile and metadata: listed once (upstream would list it twice in
    // its comparison and report a change on every run).
    expect(lists.addresses).toEqual(['172.16.4.2/24', '172.16.4.10/24']);
    expect(lists.routes[0]).toBe('192.168.100.0/24 via 172.16.4.254');
    expect(lists.rules[0]).toBe('priority 100 from 172.16.4.2/32 table 100');
    expect(lists.rules).toHaveLength(6);
    const rerun = planConnection({ applied: reapplied(plan), profile, iface: config, totals, expectedType: '802-3-ethernet' });
    expect(rerun.kind).toBe('unchanged');
  });

  it('drops runtime-only entries someone else added, keeping only profile and cloud entries', () => {
    const profile = appliedConnection({ method: 'manual', addresses: [['172.16.4.2', 24]] });
    const config = iface(MAC(1), 0, ['172.16.4.2', '172.16.4.10'], '172.16.4.0/24');
    const totals = totalled([config]);
    const first = reapplied(planConnection({ applied: profile, profile, iface: config, totals, expectedType: '802-3-ethernet' }));
    const tampered = appliedConnection({
      method: 'manual',
      addresses: [
        ['172.16.4.2', 24],
        ['172.16.4.10', 24],
        ['172.16.4.99', 24],
      ],
    });
    const plan = planConnection({
      applied: { ...first, ipv4: { ...first['ipv4'], ...tampered['ipv4'] } },
      profile,
      iface: config,
      totals,
      expectedType: '802-3-ethernet',
    });
    expect(describeLists(reapplied(plan)).addresses).toEqual(['172.16.4.2/24', '172.16.4.10/24']);
  });

  it('removes a secondary address the metadata no longer lists', () => {
    const config = iface(MAC(1), 0, ['10.0.0.5', '10.0.0.6', '10.0.0.7'], '10.0.0.0/24');
    const totals = totalled([config]);
    const first = reapplied(
      planConnection({ applied: appliedConnection(), profile: undefined, iface: config, totals, expectedType: '802-3-ethernet' }),
    );
    const shrunk = iface(MAC(1), 0, ['10.0.0.5', '10.0.0.7'], '10.0.0.0/24');
    const plan = planConnection({
      applied: first,
      profile: undefined,
      iface: shrunk,
      totals: totalled([shrunk]),
      expectedType: '802-3-ethernet',
    });
    const lists = describeLists(reapplied(plan));
    expect(lists.addresses).toEqual(['10.0.0.5/24', '10.0.0.7/24']);
    expect(lists.rules.filter((rule) => rule.includes('10.0.0.6'))).toEqual([]);
  });

  it('uses the provider gateway when given, and appends provider routes even for a single address', () => {
    const config = iface(MAC(1), 0, ['10.0.0.5', '10.0.0.6'], '10.0.0.0/24', { gateway: '10.0.0.254' });
    const lists = describeLists(
      reapplied(
        planConnection({
          applied: appliedConnection(),
          profile: undefined,
          iface: config,
          totals: totalled([config]),
          expectedType: '802-3-ethernet',
        }),
      ),
    );
    expect(lists.routes[1]).toBe('0.0.0.0/0 via 10.0.0.254 metric 10 table 30400');

    const gcp: MetadataInterface = {
      ...unlistedInterface(MAC(1), true),
      ifaceIdx: 0,
      ipv4: { routes: [{ dest: '34.1.2.3', prefix: 32, metric: 100, type: 'local' }] },
    };
    const gcpLists = describeLists(
      reapplied(
        planConnection({
          applied: appliedConnection(),
          profile: undefined,
          iface: gcp,
          totals: totalled([gcp]),
          expectedType: '802-3-ethernet',
        }),
      ),
    );
    expect(gcpLists).toEqual({ addresses: [], routes: ['34.1.2.3/32 metric 100 type local'], rules: [] });
  });

  it('drops the legacy addresses/routes keys before sending, keeps everything else with its type', () => {
    const applied = appliedConnection({ addresses: [['10.0.0.5', 24]] });
    const config = iface(MAC(1), 0, ['10.0.0.5', '10.0.0.6'], '10.0.0.0/24');
    const settings = reapplied(
      planConnection({ applied, profile: undefined, iface: config, totals: totalled([config]), expectedType: '802-3-ethernet' }),
    );
    expect(Object.keys(settings['ipv4']!).sort()).toEqual(['address-data', 'dns', 'method', 'route-data', 'routing-rules']);
    expect(settings['ipv4']!['dns']).toEqual({ signature: 'au', value: [] });
    expect(settings['connection']).toBe(applied['connection']);
    expect(settings['802-3-ethernet']).toBe(applied['802-3-ethernet']);
  });

  it('reads legacy keys when the new ones are missing (old daemons)', () => {
    // 10.0.0.5/24 as in_addr_t in network byte order, read as a little-endian u32.
    const legacy = 5 * 2 ** 24 + 10;
    const applied: SettingsDict = {
      connection: { id: { signature: 's', value: 'x' }, type: { signature: 's', value: '802-3-ethernet' } },
      ipv4: { method: { signature: 's', value: 'manual' }, addresses: { signature: 'aau', value: [[legacy, 24, 0]] } },
    };
    const config = iface(MAC(1), 0, ['10.0.0.5'], '10.0.0.0/24');
    const plan = planConnection({ applied, profile: applied, iface: config, totals: totalled([config]), expectedType: '802-3-ethernet' });
    expect(plan.kind).toBe('unchanged');
  });
});

describe('planConnection skip rules', () => {
  const config = iface(MAC(1), 0, ['10.0.0.5', '10.0.0.6'], '10.0.0.0/24');
  const totals = totalled([config]);
  const plan = (applied: SettingsDict): ConnectionPlan =>
    planConnection({ applied, profile: undefined, iface: config, totals, expectedType: '802-3-ethernet' });

  it.each(['yes', 'true', ' 1 ', 'ON'])('skips on user data org.freedesktop.nm-cloud-setup.skip=%j', (value) => {
    expect(plan(appliedConnection({ userData: { 'org.freedesktop.nm-cloud-setup.skip': value } }))).toEqual({
      kind: 'skip',
      reason: 'skip applied connection due to user data org.freedesktop.nm-cloud-setup.skip',
    });
  });

  it.each(['no', 'false', 'bogus', ''])('does not skip on user data skip=%j', (value) => {
    expect(plan(appliedConnection({ userData: { 'org.freedesktop.nm-cloud-setup.skip': value } })).kind).toBe('reapply');
  });

  it('skips a connection of another type (e.g. a bond port profile or an empty dict)', () => {
    expect(plan(appliedConnection({ type: 'bond' }))).toEqual({ kind: 'skip', reason: 'skip applied connection due to type mismatch' });
    expect(plan({})).toEqual({ kind: 'skip', reason: 'skip applied connection due to type mismatch' });
  });

  it('skips a connection without an ipv4 setting', () => {
    expect(plan(appliedConnection({ ipv4: false }))).toEqual({
      kind: 'skip',
      reason: 'skip applied connection due to missing IPv4 configuration',
    });
  });

  it('skips an interface the metadata could not describe (no cidr): nothing to add, nothing changes', () => {
    const partial: MetadataInterface = { ...config, ipv4: { addresses: config.ipv4.addresses, routes: [] } };
    expect(
      planConnection({ applied: appliedConnection(), profile: undefined, iface: partial, totals, expectedType: '802-3-ethernet' }).kind,
    ).toBe('unchanged');
  });
});
