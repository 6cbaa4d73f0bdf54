// SPDX-License-Identifier: LGPL-2.1-or-later
// OpenStack's network_data.json and meta_data.json: the normalized topology, the NetworkManager
// settings per link, and every defect, fatal or local. Expected values are written out by hand.
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { MetadataError } from '../../src/errors.js';
import {
  OpenStackDataError,
  parseMetaData,
  parseNetworkData,
  toLinkProfileIntents,
  type BondLink,
  type NetworkData,
} from '../../src/providers/openstack-network-data.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/openstack/${name}`, import.meta.url), 'utf8');
const document = (value: unknown): string => JSON.stringify(value);

/** The error parseNetworkData throws for `text`. */
function fatalError(text: string): OpenStackDataError {
  try {
    parseNetworkData(text);
  } catch (error) {
    expect(error).toBeInstanceOf(OpenStackDataError);
    return error as OpenStackDataError;
  }
  throw new Error('parseNetworkData did not throw');
}

const linkIds = (data: NetworkData): string[] => data.links.map((link) => link.id);

const PHY_A = { id: 'a', type: 'phy', ethernet_mac_address: 'fa:16:3e:00:00:0a' };
const PHY_B = { id: 'b', type: 'phy', ethernet_mac_address: 'fa:16:3e:00:00:0b' };
const staticV4 = (link: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  id: `v4-${link}`,
  type: 'ipv4',
  link,
  ip_address: '192.0.2.10',
  netmask: '255.255.255.0',
  ...extra,
});

describe('parseNetworkData: spec-shaped samples', () => {
  test('phy link with static IPv4 and IPv6, routes, per-network and global DNS', () => {
    const data = parseNetworkData(fixture('phy-static.json'));
    expect(data).toEqual({
      links: [
        {
          id: 'tap1a81968a-79',
          type: 'phy',
          kind: 'ethernet',
          hwaddr: 'FA:16:3E:9C:BF:3D',
          mtu: 1450,
          networks: [
            {
              id: 'network0',
              type: 'ipv4',
              family: 'ipv4',
              method: 'static',
              addresses: [{ address: '10.0.1.17', prefix: 24 }],
              gateway: '10.0.1.1',
              routes: [{ dest: '172.16.0.0', prefix: 12, nextHop: '10.0.1.254' }],
              dns: ['10.0.1.2'],
            },
            {
              id: 'network1',
              type: 'ipv6',
              family: 'ipv6',
              method: 'static',
              addresses: [{ address: '2001:db8:0:1::11', prefix: 64 }],
              gateway: '2001:db8:0:1::1',
              routes: [{ dest: '2001:db8:ff00::', prefix: 40, nextHop: 'fe80::1' }],
              dns: ['2001:db8:0:1::2'],
            },
          ],
        },
      ],
      dns: ['8.8.8.8', '2001:4860:4860::8888'],
      warnings: [],
    });
  });

  test('the phy link in NetworkManager settings', () => {
    expect(toLinkProfileIntents(parseNetworkData(fixture('phy-static.json')))).toEqual([
      {
        linkId: 'tap1a81968a-79',
        type: '802-3-ethernet',
        settings: {
          connection: { type: '802-3-ethernet' },
          '802-3-ethernet': { 'mac-address': 'FA:16:3E:9C:BF:3D', mtu: 1450 },
          ipv4: {
            method: 'manual',
            'address-data': [{ address: '10.0.1.17', prefix: 24 }],
            gateway: '10.0.1.1',
            'route-data': [{ dest: '172.16.0.0', prefix: 12, 'next-hop': '10.0.1.254' }],
            dns: ['10.0.1.2', '8.8.8.8'],
          },
          ipv6: {
            method: 'manual',
            'address-data': [{ address: '2001:db8:0:1::11', prefix: 64 }],
            gateway: '2001:db8:0:1::1',
            'route-data': [{ dest: '2001:db8:ff00::', prefix: 40, 'next-hop': 'fe80::1' }],
            dns: ['2001:db8:0:1::2', '2001:4860:4860::8888'],
          },
        },
        references: [],
      },
    ]);
  });

  test('DHCP and DHCPv6: no static address, even where the network names one; mtu null is no MTU', () => {
    const data = parseNetworkData(fixture('dhcp.json'));
    expect(data.links).toEqual([
      {
        id: 'tapcd9f6d46-4a',
        type: 'ovs',
        kind: 'ethernet',
        hwaddr: 'FA:16:3E:00:00:01',
        networks: [
          { id: 'network0', type: 'ipv4_dhcp', family: 'ipv4', method: 'dhcp', addresses: [], routes: [], dns: [] },
          { id: 'network1', type: 'ipv6_dhcpv6-stateful', family: 'ipv6', method: 'dhcpv6-stateful', addresses: [], routes: [], dns: [] },
        ],
      },
    ]);
    expect(toLinkProfileIntents(data)[0]?.settings).toEqual({
      connection: { type: '802-3-ethernet' },
      '802-3-ethernet': { 'mac-address': 'FA:16:3E:00:00:01' },
      ipv4: { method: 'auto', 'address-data': [], 'route-data': [], dns: ['8.8.8.8'] },
      ipv6: { method: 'auto', 'address-data': [], 'route-data': [], dns: [] },
    });
  });

  test('several networks on one link all apply; the second default route stays a route', () => {
    const data = parseNetworkData(fixture('two-networks.json'));
    expect(data.warnings).toEqual([]);
    expect(data.links[0]?.networks.map((network) => [network.id, network.addresses, network.gateway, network.routes])).toEqual([
      ['net-a', [{ address: '192.0.2.10', prefix: 24 }], '192.0.2.1', []],
      ['net-b', [{ address: '198.51.100.7', prefix: 28 }], '198.51.100.1', [{ dest: '203.0.113.0', prefix: 24, nextHop: '198.51.100.1' }]],
      ['net-c', [{ address: '2001:db8:a::7', prefix: 64 }], '2001:db8:a::1', []],
      ['net-d', [], undefined, []],
    ]);
    expect(toLinkProfileIntents(data)).toEqual([
      {
        linkId: 'port0',
        type: '802-3-ethernet',
        settings: {
          connection: { type: '802-3-ethernet' },
          '802-3-ethernet': { 'mac-address': 'FA:16:3E:00:00:02' },
          ipv4: {
            method: 'manual',
            'address-data': [
              { address: '192.0.2.10', prefix: 24 },
              { address: '198.51.100.7', prefix: 28 },
            ],
            gateway: '192.0.2.1',
            'route-data': [
              { dest: '203.0.113.0', prefix: 24, 'next-hop': '198.51.100.1' },
              { dest: '0.0.0.0', prefix: 0, 'next-hop': '198.51.100.1' },
            ],
            dns: ['192.0.2.53', '198.51.100.53'],
          },
          ipv6: {
            method: 'auto',
            'address-data': [{ address: '2001:db8:a::7', prefix: 64 }],
            gateway: '2001:db8:a::1',
            'route-data': [],
            dns: [],
          },
        },
        references: [],
      },
    ]);
  });

  test('bond of two NICs with a VLAN on top: ports, bond and VLAN, parents first', () => {
    const data = parseNetworkData(fixture('bond-vlan.json'));
    expect(data.warnings).toEqual([]);
    expect(data.links).toEqual([
      { id: 'interface0', type: 'phy', kind: 'ethernet', hwaddr: 'A0:36:9F:2C:E8:80', mtu: 9000, controller: 'bond0', networks: [] },
      { id: 'interface1', type: 'phy', kind: 'ethernet', hwaddr: 'A0:36:9F:2C:E8:81', mtu: 9000, controller: 'bond0', networks: [] },
      {
        id: 'bond0',
        type: 'bond',
        kind: 'bond',
        members: ['interface0', 'interface1'],
        mode: '802.3ad',
        miimon: 100,
        xmitHashPolicy: 'layer3+4',
        hwaddr: 'A0:36:9F:2C:E8:82',
        mtu: 9000,
        networks: [{ id: 'provisioning', type: 'ipv4_dhcp', family: 'ipv4', method: 'dhcp', addresses: [], routes: [], dns: [] }],
      },
      {
        id: 'vlan0',
        type: 'vlan',
        kind: 'vlan',
        parent: 'bond0',
        vlanId: 101,
        hwaddr: 'A0:36:9F:2C:E8:80',
        networks: [
          {
            id: 'publicnet-ipv4',
            type: 'ipv4',
            family: 'ipv4',
            method: 'static',
            addresses: [{ address: '23.253.157.244', prefix: 24 }],
            gateway: '23.253.157.1',
            routes: [],
            dns: ['69.20.0.164', '69.20.0.196'],
          },
        ],
      },
    ]);
  });

  test('the bond and VLAN in NetworkManager settings', () => {
    expect(toLinkProfileIntents(parseNetworkData(fixture('bond-vlan.json')))).toEqual([
      {
        linkId: 'interface0',
        type: '802-3-ethernet',
        settings: {
          connection: { type: '802-3-ethernet', 'slave-type': 'bond' },
          '802-3-ethernet': { 'mac-address': 'A0:36:9F:2C:E8:80', mtu: 9000 },
        },
        references: [{ setting: 'connection', property: 'master', linkId: 'bond0' }],
      },
      {
        linkId: 'interface1',
        type: '802-3-ethernet',
        settings: {
          connection: { type: '802-3-ethernet', 'slave-type': 'bond' },
          '802-3-ethernet': { 'mac-address': 'A0:36:9F:2C:E8:81', mtu: 9000 },
        },
        references: [{ setting: 'connection', property: 'master', linkId: 'bond0' }],
      },
      {
        linkId: 'bond0',
        type: 'bond',
        settings: {
          connection: { type: 'bond' },
          '802-3-ethernet': { 'cloned-mac-address': 'A0:36:9F:2C:E8:82', mtu: 9000 },
          bond: { options: { mode: '802.3ad', miimon: '100', xmit_hash_policy: 'layer3+4' } },
          ipv4: { method: 'auto', 'address-data': [], 'route-data': [], dns: ['8.8.8.8'] },
        },
        references: [],
      },
      {
        linkId: 'vlan0',
        type: 'vlan',
        settings: {
          connection: { type: 'vlan' },
          '802-3-ethernet': { 'cloned-mac-address': 'A0:36:9F:2C:E8:80' },
          vlan: { id: 101 },
          ipv4: {
            method: 'manual',
            'address-data': [{ address: '23.253.157.244', prefix: 24 }],
            gateway: '23.253.157.1',
            'route-data': [],
            dns: ['69.20.0.164', '69.20.0.196', '8.8.8.8'],
          },
        },
        references: [{ setting: 'vlan', property: 'parent', linkId: 'bond0' }],
      },
    ]);
  });

  test("the blueprint's own sample: 802.1ad means LACP, networks on a bond port are not applied", () => {
    const data = parseNetworkData(fixture('spec-sample.json'));
    expect(linkIds(data)).toEqual(['interface2', 'interface0', 'interface1', 'bond0', 'vlan0']);
    expect(data.warnings).toEqual([
      'network_data.json: link "bond0": bond_mode "802.1ad" taken as "802.3ad" (LACP)',
      'network_data.json: link "interface0": its networks are not applied: a port of bond "bond0" has no IP configuration',
    ]);
    expect(data.links.find((link) => link.id === 'bond0')).toMatchObject({ mode: '802.3ad', miimon: 100 });
    expect(data.links.find((link) => link.id === 'interface0')?.networks).toEqual([]);
    expect(data.dns).toEqual(['8.8.8.8', '8.8.4.4']);
  });

  test('absent lists mean an empty topology', () => {
    expect(parseNetworkData('{}')).toEqual({ links: [], dns: [], warnings: [] });
  });

  test('the result is frozen all the way down', () => {
    const data = parseNetworkData(fixture('bond-vlan.json'));
    expect(Object.isFrozen(data.links)).toBe(true);
    expect(Object.isFrozen(data.links[3]?.networks[0]?.addresses[0])).toBe(true);
    expect(() => (data.warnings as string[]).push('x')).toThrow(TypeError);
    const intents = toLinkProfileIntents(data);
    expect(Object.isFrozen(intents[2]?.settings['bond'])).toBe(true);
  });

  test('warnings are logged with the get-config prefix', () => {
    const lines: string[] = [];
    parseNetworkData(document({ links: [PHY_A], networks: [staticV4('nowhere')] }), { warn: (line) => lines.push(line) });
    expect(lines).toEqual(['get-config: network_data.json: network "v4-nowhere" (networks[0]) skipped: link "nowhere" does not exist']);
  });
});

describe('parseNetworkData: netmasks and addresses', () => {
  const prefixOf = (family: 'ipv4' | 'ipv6', ipAddress: string, netmask?: unknown): number | undefined => {
    const network = { id: 'n', type: family, link: 'a', ip_address: ipAddress, ...(netmask === undefined ? {} : { netmask }) };
    return parseNetworkData(document({ links: [PHY_A], networks: [network] })).links[0]?.networks[0]?.addresses[0]?.prefix;
  };

  test.each([
    ['ipv4', '10.0.0.5', '255.255.240.0', 20],
    ['ipv4', '10.0.0.5', '20', 20],
    ['ipv4', '10.0.0.5', 20, 20],
    ['ipv4', '10.0.0.5/20', undefined, 20],
    ['ipv4', '10.0.0.5/20', '255.255.240.0', 20],
    ['ipv4', '10.0.0.5', '255.255.255.255', 32],
    ['ipv6', '2001:db8::5', 'ffff:ffff:ffff:ffff::', 64],
    ['ipv6', '2001:db8::5', 'ffff:ffff:ffff:ffff:ffff:ffff:fff0:0', 108],
    ['ipv6', '2001:db8::5', '64', 64],
    ['ipv6', '2001:db8::5/64', undefined, 64],
    ['ipv6', '2001:db8::5/128', null, 128],
  ] as const)('%s %s netmask %s → /%s', (family, address, netmask, prefix) => {
    expect(prefixOf(family, address, netmask)).toBe(prefix);
  });

  test('addresses come out canonical', () => {
    const network = { id: 'n', type: 'ipv6', link: 'a', ip_address: '2001:DB8:0000:0000:0001:0000:0000:0001', netmask: 64 };
    expect(parseNetworkData(document({ links: [PHY_A], networks: [network] })).links[0]?.networks[0]?.addresses).toEqual([
      { address: '2001:db8::1:0:0:1', prefix: 64 },
    ]);
  });

  test('route destinations lose their host bits; a 0.0.0.0 gateway is an on-link route', () => {
    const routes = [
      { network: '10.1.2.3', netmask: '255.255.0.0', gateway: '192.0.2.1' },
      { network: '198.51.100.0', netmask: '24', gateway: '0.0.0.0' },
      { network: '203.0.113.0/25' },
    ];
    const data = parseNetworkData(document({ links: [PHY_A], networks: [staticV4('a', { routes })] }));
    expect(data.links[0]?.networks[0]?.routes).toEqual([
      { dest: '10.1.0.0', prefix: 16, nextHop: '192.0.2.1' },
      { dest: '198.51.100.0', prefix: 24 },
      { dest: '203.0.113.0', prefix: 25 },
    ]);
  });
});

describe('parseNetworkData: fatal defects (nothing is applied)', () => {
  test.each([
    ['malformed JSON', '{"links": [', /^network_data\.json: malformed JSON: /],
    ['an empty document', '', /^network_data\.json: malformed JSON: /],
    ['a trailing comma (as in the blueprint)', '{"links": [],}', /^network_data\.json: malformed JSON: /],
    ['a duplicate key at the top', '{"links": [], "links": []}', /malformed JSON: duplicate key "links"/],
    ['a duplicate key in a link', '{"links": [{"id": "a", "id": "b"}]}', /malformed JSON: duplicate key "id"/],
    ['a top level that is a list', '[]', /^network_data\.json: the top level is not a JSON object$/],
    ['a top level that is null', 'null', /^network_data\.json: the top level is not a JSON object$/],
    ['links that is not a list', '{"links": {}}', /^network_data\.json: "links" is not a list$/],
    ['networks that is not a list', '{"networks": "x"}', /^network_data\.json: "networks" is not a list$/],
    ['a link that is not an object', '{"links": ["eth0"]}', /^network_data\.json: links\[0\] is not an object$/],
    ['a network that is not an object', '{"networks": [1]}', /^network_data\.json: networks\[0\] is not an object$/],
    ['a link without an id', document({ links: [{ type: 'phy', ethernet_mac_address: 'fa:16:3e:00:00:01' }] }), /links\[0\] has no "id"$/],
    ['a link id used twice', document({ links: [PHY_A, { ...PHY_B, id: 'a' }] }), /^network_data\.json: link id "a" is used twice$/],
  ])('%s', (_name, text, message) => {
    const error = fatalError(text);
    expect(error.message).toMatch(message);
    expect(error.code).toBe('ERR_OPENSTACK_DATA');
    expect(error).toBeInstanceOf(MetadataError);
  });

  test('the JSON error is kept as the cause', () => {
    expect(fatalError('{"a": 1, "a": 2}').cause).toBeInstanceOf(SyntaxError);
  });
});

describe('parseNetworkData: local defects (one warning, the rest configured)', () => {
  /** Parses links [...links, PHY_B] and checks that b, the bystander, is still configured. */
  function withBystander(links: unknown[], networks: unknown[] = []): NetworkData {
    const data = parseNetworkData(document({ links: [...links, PHY_B], networks: [...networks, staticV4('b')] }));
    expect(data.links.find((link) => link.id === 'b')?.networks).toHaveLength(1);
    return data;
  }

  test('an unknown link type with a MAC is configured as an Ethernet device, with a warning', () => {
    const data = withBystander([{ ...PHY_A, type: 'infiniband-ish' }]);
    expect(data.links[0]).toMatchObject({ id: 'a', kind: 'ethernet', type: 'infiniband-ish', hwaddr: 'FA:16:3E:00:00:0A' });
    expect(data.warnings).toEqual([
      'network_data.json: link "a": unknown type "infiniband-ish", configured as the Ethernet device FA:16:3E:00:00:0A',
    ]);
  });

  test.each([
    ['an unknown type without a MAC', { id: 'a', type: 'macvtap' }, 'unknown type "macvtap"'],
    ['a phy without a MAC', { id: 'a', type: 'phy' }, 'no ethernet_mac_address to find the device by'],
    ['a bad MAC', { ...PHY_A, ethernet_mac_address: 'fa:16:3e:00:00' }, 'ethernet_mac_address "fa:16:3e:00:00" is not a MAC address'],
    ['a type that is not a string', { ...PHY_A, type: 7 }, 'type 7 is not a string'],
    ['a bad MTU', { ...PHY_A, mtu: 'jumbo' }, 'mtu "jumbo" is not an integer from 1 to 65535'],
  ])('%s: the link is skipped', (_name, link, reason) => {
    const data = withBystander([link]);
    expect(linkIds(data)).toEqual(['b']);
    expect(data.warnings).toEqual([`network_data.json: link "a" skipped: ${reason}`]);
  });

  test('two Ethernet links with one MAC: both are skipped', () => {
    const data = withBystander([PHY_A, { ...PHY_A, id: 'a2', ethernet_mac_address: 'FA-16-3E-00-00-0A' }]);
    expect(linkIds(data)).toEqual(['b']);
    expect(data.warnings).toEqual([
      'network_data.json: link "a" skipped: ethernet_mac_address FA:16:3E:00:00:0A is also the MAC of link "a2"',
      'network_data.json: link "a2" skipped: ethernet_mac_address FA:16:3E:00:00:0A is also the MAC of link "a"',
    ]);
  });

  test('a network on a link that does not exist, or without a link: that network is skipped', () => {
    const data = withBystander([PHY_A], [staticV4('ghost'), { type: 'ipv4_dhcp' }]);
    expect(linkIds(data)).toEqual(['a', 'b']);
    expect(data.warnings).toEqual([
      'network_data.json: network "v4-ghost" (networks[0]) skipped: link "ghost" does not exist',
      'network_data.json: networks[1] skipped: link nothing does not exist',
    ]);
  });

  test('a network of an unknown type: that network is skipped, the link keeps its others', () => {
    const data = withBystander([PHY_A], [{ id: 'x', type: 'ipv5', link: 'a' }, staticV4('a')]);
    expect(data.links[0]?.networks.map((network) => network.id)).toEqual(['v4-a']);
    expect(data.warnings).toEqual(['network_data.json: network "x" (networks[0]) skipped: unknown type "ipv5"']);
  });

  test.each([
    [
      'a non-contiguous netmask',
      staticV4('a', { netmask: '255.0.255.0' }),
      'netmask "255.0.255.0" is neither a prefix length nor an ipv4 netmask',
    ],
    ['a garbage netmask', staticV4('a', { netmask: 'banana' }), 'netmask "banana" is neither a prefix length nor an ipv4 netmask'],
    ['a prefix over 32', staticV4('a', { netmask: 33 }), 'netmask 33 is neither a prefix length nor an ipv4 netmask'],
    [
      'an IPv6 mask on IPv4',
      staticV4('a', { netmask: 'ffff:ffff::' }),
      'netmask "ffff:ffff::" is neither a prefix length nor an ipv4 netmask',
    ],
    [
      'a dotted netmask on IPv6',
      { id: 'n6', type: 'ipv6', link: 'a', ip_address: '2001:db8::1', netmask: '255.255.255.0' },
      'netmask "255.255.255.0" is neither a prefix length nor an ipv6 netmask',
    ],
    [
      'a /prefix that disagrees with the netmask',
      { id: 'n6', type: 'ipv6', link: 'a', ip_address: '2001:db8::1/64', netmask: 'ffff:ffff:ffff::' },
      'ip_address "2001:db8::1/64" and netmask "ffff:ffff:ffff::" disagree',
    ],
    ['no netmask at all', staticV4('a', { netmask: undefined }), 'ip_address "192.0.2.10" has no netmask'],
    ['an IPv6 address on an ipv4 network', staticV4('a', { ip_address: '2001:db8::1' }), 'ip_address "2001:db8::1" is not an ipv4 address'],
    [
      'a zone index',
      { id: 'n6', type: 'ipv6', link: 'a', ip_address: 'fe80::1%eth0', netmask: 64 },
      'ip_address "fe80::1%eth0" is not an ipv6 address',
    ],
    [
      'a route gateway of the other family',
      staticV4('a', { routes: [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: 'fe80::1' }] }),
      'routes[0] gateway "fe80::1" is not an ipv4 address',
    ],
    ['routes that are not a list', staticV4('a', { routes: {} }), 'routes {} is not a list'],
    ['a bad DNS server', staticV4('a', { dns_nameservers: ['dns.example'] }), 'dns_nameservers[0] "dns.example" is not an IP address'],
  ])('%s: the whole link is skipped, not half-configured', (_name, network, reason) => {
    const data = withBystander([PHY_A], [staticV4('a', { id: 'good' }), network]);
    expect(linkIds(data)).toEqual(['b']);
    const id = (network as { id: string }).id;
    expect(data.warnings).toEqual([
      `network_data.json: link "a" skipped: network "${id}" (networks[1]): ${reason} (1 network(s) not applied)`,
    ]);
  });

  test('a bad global DNS server is left out; the others stay', () => {
    const services = [
      { type: 'dns', address: '8.8.8.8' },
      { type: 'dns', address: '8.8.8' },
      { type: 'dns', address: '8.8.8.8' },
    ];
    const data = parseNetworkData(document({ links: [], services }));
    expect(data.dns).toEqual(['8.8.8.8']);
    expect(data.warnings).toEqual(['network_data.json: services[1] address "8.8.8" is not an IP address; DNS server skipped']);
  });
});

describe('parseNetworkData: bonds and VLANs', () => {
  const bond = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    id: 'bond0',
    type: 'bond',
    bond_links: ['a', 'b'],
    ...extra,
  });
  const vlan = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    id: 'vlan0',
    type: 'vlan',
    vlan_link: 'bond0',
    vlan_id: 7,
    ...extra,
  });
  const PHY_C = { id: 'c', type: 'phy', ethernet_mac_address: 'fa:16:3e:00:00:0c' };

  test.each([
    [1, 'active-backup'],
    ['4', '802.3ad'],
    ['balance-alb', 'balance-alb'],
    [undefined, undefined],
  ])('bond_mode %s is %s', (mode, expected) => {
    const data = parseNetworkData(document({ links: [PHY_A, PHY_B, bond({ bond_mode: mode })] }));
    expect(data.links[2]?.kind).toBe('bond');
    expect((data.links[2] as BondLink).mode).toBe(expected);
    expect(toLinkProfileIntents(data)[2]?.settings['bond']).toEqual({ options: { mode: expected ?? 'balance-rr' } });
  });

  test('a bond whose member does not exist: the bond, its other member and the VLAN on it are skipped', () => {
    const data = parseNetworkData(
      document({ links: [PHY_A, bond({ bond_links: ['a', 'gone'] }), vlan(), PHY_C], networks: [staticV4('vlan0')] }),
    );
    expect(linkIds(data)).toEqual(['c']);
    expect(data.warnings).toEqual([
      'network_data.json: link "a" skipped: it is a member of the skipped bond "bond0"',
      'network_data.json: link "bond0" skipped: member "gone" does not exist',
      'network_data.json: link "vlan0" skipped: vlan_link "bond0" is skipped (1 network(s) not applied)',
    ]);
  });

  test.each([
    ['a bad bond_mode', bond({ bond_mode: 'fast' }), 'bond_mode "fast" is not a Linux bonding mode'],
    ['a negative bond_miimon', bond({ bond_miimon: -1 }), 'bond_miimon -1 is not an integer from 0 to 2147483647'],
    ['a bad xmit hash policy', bond({ bond_xmit_hash_policy: 'layer9' }), 'bond_xmit_hash_policy "layer9" is not a transmit hash policy'],
    ['a bad MAC', bond({ ethernet_mac_address: 'fa:16' }), 'ethernet_mac_address "fa:16" is not a MAC address'],
  ])('%s: the bond and its members are skipped', (_name, link, reason) => {
    const data = parseNetworkData(document({ links: [PHY_A, PHY_B, link, PHY_C] }));
    expect(linkIds(data)).toEqual(['c']);
    expect(data.warnings).toEqual([
      'network_data.json: link "a" skipped: it is a member of the skipped bond "bond0"',
      'network_data.json: link "b" skipped: it is a member of the skipped bond "bond0"',
      `network_data.json: link "bond0" skipped: ${reason}`,
    ]);
  });

  test.each([
    ['no bond_links', bond({ bond_links: [] }), ['a', 'b', 'c'], 'bond_links [] is not a list of link ids'],
    ['bond_links that is not a list', bond({ bond_links: 'a b' }), ['a', 'b', 'c'], 'bond_links "a b" is not a list of link ids'],
    ['a member named twice', bond({ bond_links: ['a', 'a'] }), ['b', 'c'], 'bond_links ["a","a"] names a link twice'],
  ])('%s: the bond is skipped; links it does not name stay NICs of their own', (_name, link, configured, reason) => {
    const data = parseNetworkData(document({ links: [PHY_A, PHY_B, link, PHY_C] }));
    expect(linkIds(data)).toEqual(configured);
    expect(data.warnings).toContain(`network_data.json: link "bond0" skipped: ${reason}`);
  });

  test('bond_miimon as a decimal string is accepted', () => {
    const data = parseNetworkData(document({ links: [PHY_A, PHY_B, bond({ bond_miimon: '250' })] }));
    expect(data.links[2]).toMatchObject({ miimon: 250 });
  });

  test('a member claimed by two bonds: both bonds are skipped', () => {
    const data = parseNetworkData(document({ links: [PHY_A, PHY_B, PHY_C, bond(), bond({ id: 'bond1', bond_links: ['b', 'c'] })] }));
    expect(linkIds(data)).toEqual([]);
    expect(data.warnings).toContain('network_data.json: link "bond0" skipped: member "b" is also a member of bond "bond1"');
    expect(data.warnings).toContain('network_data.json: link "bond1" skipped: member "b" is also a member of bond "bond0"');
  });

  test('a member that is not an Ethernet link: the bond is skipped', () => {
    const data = parseNetworkData(document({ links: [PHY_A, vlan({ id: 'v', vlan_link: 'a' }), bond({ bond_links: ['a', 'v'] })] }));
    expect(data.warnings).toContain('network_data.json: link "bond0" skipped: member "v" is a vlan link, not an Ethernet device');
    expect(linkIds(data)).toEqual([]);
  });

  test.each([
    ['a VLAN over a missing link', vlan({ vlan_link: 'gone' }), 'vlan_link "gone" does not exist'],
    ['a VLAN id over 4094', vlan({ vlan_link: 'a', vlan_id: 4095 }), 'vlan_id 4095 is not an integer from 0 to 4094'],
    ['a VLAN without an id', vlan({ vlan_link: 'a', vlan_id: undefined }), 'no vlan_id'],
    ['a bad VLAN MAC', vlan({ vlan_link: 'a', vlan_mac_address: 'zz' }), 'vlan_mac_address "zz" is not a MAC address'],
  ])('%s: the VLAN is skipped, its parent is not', (_name, link, reason) => {
    const data = parseNetworkData(document({ links: [PHY_A, link] }));
    expect(linkIds(data)).toEqual(['a']);
    expect(data.warnings).toEqual([`network_data.json: link "vlan0" skipped: ${reason}`]);
  });

  test('a VLAN on a VLAN follows its parent, wherever the document lists it', () => {
    const data = parseNetworkData(
      document({ links: [vlan({ id: 'outer', vlan_link: 'inner' }), vlan({ id: 'inner', vlan_link: 'a' }), PHY_A] }),
    );
    expect(linkIds(data)).toEqual(['a', 'inner', 'outer']);
  });

  test('VLANs that refer to each other are skipped', () => {
    const data = parseNetworkData(document({ links: [vlan({ id: 'x', vlan_link: 'y' }), vlan({ id: 'y', vlan_link: 'x' }), PHY_A] }));
    expect(linkIds(data)).toEqual(['a']);
    expect(data.warnings).toEqual([
      'network_data.json: link "x" skipped: vlan_link "y" leads back to this link',
      'network_data.json: link "y" skipped: vlan_link "x" is skipped',
    ]);
  });
});

describe('parseMetaData', () => {
  test('uuid, name, availability zone and project', () => {
    expect(parseMetaData(fixture('meta_data.json'))).toEqual({
      uuid: 'd8e02d56-2648-49a3-bf97-6be8f1204f38',
      name: 'test',
      availabilityZone: 'nova',
      projectId: 'f7ac731cc11f40efbc03a9f9e1d1d21f',
    });
  });

  test('only the uuid is required; odd optional facts are left out', () => {
    expect(parseMetaData('{"uuid": "u-1", "name": 5, "availability_zone": ""}')).toEqual({ uuid: 'u-1' });
  });

  test.each([
    ['malformed JSON', '{"uuid": ', /^meta_data\.json: malformed JSON: /],
    ['a duplicate key', '{"uuid": "a", "uuid": "b"}', /duplicate key "uuid"/],
    ['a list', '["uuid"]', /^meta_data\.json: the top level is not a JSON object$/],
    ['no uuid', '{"name": "x"}', /^meta_data\.json: no "uuid"$/],
    ['a uuid that is not a string', '{"uuid": 1}', /^meta_data\.json: no "uuid"$/],
  ])('%s is fatal', (_name, text, message) => {
    expect(() => parseMetaData(text)).toThrow(OpenStackDataError);
    expect(() => parseMetaData(text)).toThrow(message);
  });
});
