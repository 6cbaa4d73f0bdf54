// SPDX-License-Identifier: LGPL-2.1-or-later
// status and plan documents from run reports: the cases the fake-NM runs do not reach.
import { describe, expect, it } from 'vitest';
import type { DeviceOutcome, RunReport } from '../src/model.js';
import { totalled, unlistedInterface } from '../src/model.js';
import { alignColumns, planDocument, renderPlanText, renderStatusText, statusDocument } from '../src/report.js';
import { loadSchema, validate } from './helpers/json-schema.js';
import { iface, ociVlan } from './plan/fixtures.js';

const VNIC = '0A:00:00:00:00:09';
const PARENT = '0A:00:00:00:00:01';
const after = {
  addresses: ['10.70.0.5/24'],
  routes: ['0.0.0.0/0 10.70.0.1 10 table=30401'],
  rules: ['priority 30401 from 10.70.0.5 table 30401'],
};

function ociReport(outcomes: DeviceOutcome[], mode: RunReport['mode'] = 'plan'): RunReport {
  const metadata = totalled([
    iface(PARENT, 0, ['10.0.0.5'], '10.0.0.0/24'),
    ociVlan(iface(VNIC, 1, ['10.70.0.5'], '10.70.0.0/24'), 700, PARENT),
  ]);
  return { mode, result: 'pending', provider: { name: 'oci', baseUrl: 'http://169.254.169.254' }, metadata, outcomes };
}

const vnicCreates: DeviceOutcome[] = [
  { hwaddr: PARENT, device: 'eth0', connection: { id: 'eth0', uuid: 'u0' }, result: 'unchanged', wrote: false },
  {
    hwaddr: VNIC,
    created: { id: 'macvlan1', type: 'macvlan', ipv4: { addresses: [], routes: [], rules: [] } },
    result: 'pending',
    wrote: false,
  },
  { hwaddr: VNIC, created: { id: 'vlan1', type: 'vlan', ipv4: after }, result: 'pending', wrote: false },
];

describe('plan of OCI bare metal: profiles to create', () => {
  it('lists both profiles of a VLAN VNIC as "create", with the VLAN address as added', () => {
    const plan = planDocument(ociReport(vnicCreates));
    expect(validate(loadSchema('plan.schema.json'), plan)).toEqual([]);
    expect(plan.pending).toBe(2);
    expect(plan.devices.map((device) => [device.connection?.id, device.action])).toEqual([
      ['eth0', 'none'],
      ['macvlan1', 'create'],
      ['vlan1', 'create'],
    ]);
    expect(renderPlanText(plan)).toBe(
      [
        `eth0 (${PARENT}) connection "eth0": no change`,
        `${VNIC} (${VNIC}): create macvlan connection "macvlan1"`,
        `${VNIC} (${VNIC}): create vlan connection "vlan1"`,
        '  + address 10.70.0.5/24',
        '  + route 0.0.0.0/0 10.70.0.1 10 table=30401',
        '  + rule priority 30401 from 10.70.0.5 table 30401',
        '2 devices would change.',
      ].join('\n'),
    );
  });
});

describe('status of OCI bare metal', () => {
  it('a VNIC is out of sync while either of its profiles is missing, in sync when both are', () => {
    const pending = statusDocument(ociReport(vnicCreates, 'status'));
    expect(validate(loadSchema('status.schema.json'), pending)).toEqual([]);
    expect(pending.interfaces.map((row) => [row.hwaddr, row.config, row.vlanTag, row.parentHwaddr])).toEqual([
      [PARENT, 'in-sync', undefined, undefined],
      [VNIC, 'out-of-sync', 700, PARENT],
    ]);
    const done = statusDocument(
      ociReport(
        [
          vnicCreates[0] as DeviceOutcome,
          { hwaddr: VNIC, device: 'macvlan1', connection: { id: 'macvlan1', uuid: 'm' }, result: 'unchanged', wrote: false },
          { hwaddr: VNIC, device: 'vlan1', connection: { id: 'vlan1', uuid: 'v' }, result: 'unchanged', wrote: false },
        ],
        'status',
      ),
    );
    // The row names the VLAN: that is where the address lives.
    expect(done.interfaces[1]).toMatchObject({ device: 'vlan1', connection: { id: 'vlan1' }, config: 'in-sync' });
  });

  it('a NIC that is not in the metadata shows as skipped with no addresses; missing facts are not printed', () => {
    const report: RunReport = {
      mode: 'status',
      result: 'unchanged',
      provider: { name: 'ec2', baseUrl: 'http://169.254.169.254' },
      metadata: totalled([unlistedInterface(PARENT, true)]),
      outcomes: [{ hwaddr: PARENT, result: 'skipped', reason: 'meta data not successfully fetched', wrote: false }],
    };
    const status = statusDocument(report);
    expect(validate(loadSchema('status.schema.json'), status)).toEqual([]);
    expect(renderStatusText(status)).toBe(
      [
        'provider:  ec2 (http://169.254.169.254)',
        '',
        'HWADDR             DEVICE  PROFILE  ADDRESSES  SUBNET  GATEWAY  CONFIG',
        `${PARENT}  -       -        -          -       -        skipped: meta data not successfully fetched`,
      ].join('\n'),
    );
  });
});

describe('alignColumns', () => {
  it('pads every column but the last to its widest cell', () => {
    expect(
      alignColumns([
        ['a', 'bb', 'c'],
        ['ddd', 'e', 'ffff'],
      ]),
    ).toEqual(['a    bb  c', 'ddd  e   ffff']);
  });
});

describe('IPv6 in the documents (NM_CLOUD_SETUP_IPV6)', () => {
  const HW = '0E:00:00:00:00:01';
  const link = {
    ...iface(HW, 0, ['10.0.0.5', '10.0.0.6'], '10.0.0.0/24'),
    ipv6: { addresses: ['2001:db8::5'], subnet: { address: '2001:db8::', prefix: 64 }, gateway: 'fe80::1', routes: [] },
  };
  const ipv6After = {
    addresses: ['2001:db8::5/64'],
    routes: ['2001:db8::/64 10 table=30200', '::/0 fe80::1 10 table=30400'],
    rules: [
      'priority 30200 from 2001:db8::5 table 30200',
      'priority 30350 table 254 suppress_prefixlength 0',
      'priority 30400 from 2001:db8::5 table 30400',
    ],
  };
  const empty = { addresses: [], routes: [], rules: [] };
  const report: RunReport = {
    mode: 'plan',
    result: 'pending',
    provider: { name: 'oci', baseUrl: 'http://169.254.169.254' },
    metadata: totalled([link]),
    outcomes: [
      {
        hwaddr: HW,
        device: 'eth0',
        connection: { id: 'eth0', uuid: 'u-1' },
        result: 'pending',
        ipv4: { before: empty, after: { addresses: ['10.0.0.5/24', '10.0.0.6/24'], routes: [], rules: [] } },
        ipv6: { before: empty, after: ipv6After },
        wrote: false,
      },
    ],
  };

  it('plan: the nmcli line carries the ipv6 lists, the diff lists them; valid against plan.schema.json', () => {
    const plan = planDocument(report);
    expect(validate(loadSchema('plan.schema.json'), plan)).toEqual([]);
    expect(plan.devices[0]?.command).toContain(
      "ipv6.addresses 2001:db8::5/64 ipv6.routes '2001:db8::/64 10 table=30200, ::/0 fe80::1 10 table=30400'",
    );
    expect(renderPlanText(plan).split('\n')).toContain('  + ipv6 rule priority 30350 table 254 suppress_prefixlength 0');
  });

  it('status: the IPv6 addresses, subnet and router of each interface; valid against status.schema.json', () => {
    const status = statusDocument({ ...report, mode: 'status' });
    expect(validate(loadSchema('status.schema.json'), status)).toEqual([]);
    expect(status.interfaces[0]).toMatchObject({ ipv6s: ['2001:db8::5'], ipv6Subnet: '2001:db8::/64', ipv6Gateway: 'fe80::1' });
  });

  it('delegated prefixes and provider routes: in status, state and plan, marked when not applied; valid against the schemas', () => {
    const withExtras = {
      ...link,
      ipv6: {
        ...link.ipv6,
        delegatedPrefixes: [{ address: '2001:db8:0:0:9c3a::', prefix: 80 }],
        routes: [{ dest: '2001:db8::9:0:0', prefix: 96, metric: 100, type: 'local' }],
      },
    };
    const off: RunReport = {
      ...report,
      metadata: totalled([withExtras]),
      ipv6Applied: false,
      outcomes: [{ ...report.outcomes[0]!, ipv6: undefined }],
    };
    const status = statusDocument({ ...off, mode: 'status' });
    expect(validate(loadSchema('status.schema.json'), status)).toEqual([]);
    expect(status.interfaces[0]).toMatchObject({
      ipv6Prefixes: ['2001:db8:0:0:9c3a::/80'],
      ipv6Routes: ['2001:db8::9:0:0/96 100 type=local'],
      ipv6Applied: false,
    });
    expect(renderStatusText(status)).toContain(
      '2001:db8::5(not applied),prefix 2001:db8:0:0:9c3a::/80(not applied),route 2001:db8::9:0:0/96 100 type=local(not applied)',
    );
    const plan = planDocument(off);
    expect(validate(loadSchema('plan.schema.json'), plan)).toEqual([]);
    expect(renderPlanText(plan).split('\n')).toContain(
      '  ipv6 in the metadata, not applied (NM_CLOUD_SETUP_IPV6 is off): 2001:db8::5, prefix 2001:db8:0:0:9c3a::/80, route 2001:db8::9:0:0/96 100 type=local',
    );
  });

  it('the schemas are enforced: an unknown field, a bad pattern and a missing field are each reported', () => {
    const status = statusDocument({ ...report, mode: 'status' });
    const row = status.interfaces[0]!;
    const broken = {
      ...status,
      interfaces: [{ ...row, ipv6Prefixes: ['2001:DB8::/80'], surprise: 1, hwaddr: undefined }],
    };
    const errors = validate(loadSchema('status.schema.json'), JSON.parse(JSON.stringify(broken)));
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\/interfaces\/0: must have required property 'hwaddr'/),
        expect.stringMatching(/^\/interfaces\/0: must NOT have additional properties .*surprise/),
        expect.stringMatching(/^\/interfaces\/0\/ipv6Prefixes\/0: must match pattern/),
      ]),
    );
  });
});
