// SPDX-License-Identifier: LGPL-2.1-or-later
// The OpenStack provider over HTTP (nock): detection by meta_data.json, network_data.json into
// the run's links, status facts. The parser itself is tested in openstack-network-data.test.ts.
import nock from 'nock';
import { describe, expect, test } from 'vitest';
import { openstack, toProviderResult } from '../../src/providers/openstack.js';
import { parseNetworkData } from '../../src/providers/openstack-network-data.js';
import { metadataServer, providerHarness } from '../helpers/provider-harness.js';

const BASE = 'http://169.254.169.254';
const META = '/openstack/latest/meta_data.json';
const NETWORK = '/openstack/latest/network_data.json';
const META_DATA = JSON.stringify({ uuid: 'u-1', name: 'vm', availability_zone: 'az1', project_id: 'p' });

const { server } = metadataServer(() => nock(BASE));
const harness = providerHarness({
  provider: openstack,
  baseUrl: BASE,
  scale: 0.1,
  fastScale: 0.02,
  stubDetection: () => server().get(META).reply(200, META_DATA),
});
const { context, fast } = harness;

describe('OpenStack: names and defaults', () => {
  test('sixth provider, new connections and IPv6 on by default', () => {
    expect(openstack).toMatchObject({
      name: 'openstack',
      envName: 'OPENSTACK',
      defaultBaseUrl: BASE,
      allowNewConnectionsByDefault: true,
      ipv6ByDefault: true,
    });
  });
});

describe('OpenStack: detect', () => {
  test('GET meta_data.json with a uuid → detected', async () => {
    const scope = server().get(META).reply(200, META_DATA);
    expect((await openstack.detect(context())).detected).toBe(true);
    scope.done();
  });

  test('a JSON object without uuid → not OpenStack, with the reason', async () => {
    server().get(META).reply(200, '{"name": "vm"}');
    expect(await openstack.detect(context())).toEqual({
      detected: false,
      reason: 'failure to get OpenStack meta_data.json: meta_data.json: no "uuid"',
    });
  });

  test('404 until the (scaled) window → timeout expired', async () => {
    server().get(META).reply(404).persist();
    expect(await openstack.detect(context(undefined, fast))).toEqual({
      detected: false,
      reason: 'failure to get OpenStack meta_data.json: timeout expired',
    });
    nock.cleanAll();
  });
});

describe('OpenStack: getConfig and facts', () => {
  test('one GET network_data.json; a NIC by MAC with its explicit families', async () => {
    const session = await harness.detectSession();
    server()
      .get(NETWORK)
      .reply(
        200,
        JSON.stringify({
          links: [{ id: 'l0', ethernet_mac_address: 'fa:16:3e:aa:bb:cc' }],
          networks: [
            { link: 'l0', type: 'ipv4', ip_address: '10.0.0.5', netmask: '255.255.255.0' },
            { link: 'l0', type: 'ipv6_slaac' },
          ],
        }),
      );
    const result = await session.getConfig({ requested: ['FA:16:3E:AA:BB:CC'], ipv6: true }, new AbortController().signal);
    expect(result.interfaces).toEqual([
      {
        linkId: 'l0',
        hwaddr: 'FA:16:3E:AA:BB:CC',
        ifaceIdx: 0,
        link: { kind: 'ethernet' },
        ipv4: { addresses: ['10.0.0.5'], routes: [] },
        ipv6: { addresses: [], routes: [] },
        dns: [],
        explicit: {
          ipv4: { method: 'manual', addresses: [{ address: '10.0.0.5', prefix: 24 }], routes: [], dns: [] },
          ipv6: { method: 'auto', addresses: [], routes: [], dns: [] },
        },
      },
    ]);
  });

  test('status facts: uuid, name, zone, project', async () => {
    const session = await harness.detectSession();
    server().get(META).reply(200, META_DATA);
    expect(await session.instanceFacts(new AbortController().signal)).toEqual({ id: 'u-1', name: 'vm', zone: 'az1', project: 'p' });
  });
});

describe('OpenStack: links into the model', () => {
  const data = parseNetworkData(
    JSON.stringify({
      links: [
        { id: 'nic', ethernet_mac_address: 'fa:16:3e:00:00:01' },
        { id: 'v7', type: 'vlan', vlan_link: 'nic', vlan_id: 7 },
        { id: 'p1', ethernet_mac_address: 'fa:16:3e:00:00:02' },
        { id: 'b', type: 'bond', bond_links: ['p1'] },
        { id: 'v8', type: 'vlan', vlan_link: 'b', vlan_id: 8 },
        { id: 'v9', type: 'vlan', vlan_link: 'v8', vlan_id: 9 },
      ],
    }),
  );

  test('a VLAN on a NIC shares its MAC and keeps its own link id; a bond carries its ports; a VLAN on a bond names it; a VLAN on a VLAN is left out', () => {
    const warnings: string[] = [];
    const result = toProviderResult(data, { ipv6: false }, { warn: (line) => warnings.push(line) });
    expect(result.interfaces.map((iface) => [iface.linkId, iface.hwaddr, iface.link])).toEqual([
      ['nic', 'FA:16:3E:00:00:01', { kind: 'ethernet' }],
      ['b', 'FA:16:3E:00:00:02', { kind: 'bond', options: { mode: 'balance-rr' }, ports: [{ linkId: 'p1', hwaddr: 'FA:16:3E:00:00:02' }] }],
      ['v7', 'FA:16:3E:00:00:01', { kind: 'vlan', vlanId: 7, parentLink: 'nic', parentHwaddr: 'FA:16:3E:00:00:01' }],
      [
        'v8',
        'FA:16:3E:00:00:02',
        { kind: 'vlan', vlanId: 8, parentLink: 'b', parentHwaddr: 'FA:16:3E:00:00:02', parentBond: { linkId: 'b', ifaceIdx: 1 } },
      ],
    ]);
    expect(warnings).toEqual([
      'get-config: link "v9" is a VLAN on "v8", which is neither a NIC nor a bond; not configured (VLANs on VLANs are not supported yet), left alone',
    ]);
  });
});
