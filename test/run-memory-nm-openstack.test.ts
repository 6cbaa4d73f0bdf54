// SPDX-License-Identifier: LGPL-2.1-or-later
// run() with the real OpenStack provider, its documents served from memory (or from a config
// drive directory) and NetworkManager in memory: which requests are made, which calls reach
// NetworkManager and what the applied connection becomes. Expected values are written by hand.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createCancellation } from '../src/cli.js';
import { readConfig } from '../src/config.js';
import { withConfigDrive } from '../src/config-drive.js';
import type { HttpRequest, MetadataHttp } from '../src/http.js';
import { createLogger } from '../src/log.js';
import type { RunMode, RunReport } from '../src/model.js';
import { NM_VERSION_1_41_6 } from '../src/nm/constants.js';
import { readDns } from '../src/nm/dns.js';
import { getString, getUserData, readFamilyLists, type DbusValue, type SettingsDict } from '../src/nm/settings.js';
import { toNmcli } from '../src/plan/nmcli.js';
import { openstack } from '../src/providers/openstack.js';
import { run } from '../src/run.js';
import { planDocument, statusDocument } from '../src/report.js';
import { stateDocument } from '../src/state.js';
import { loadSchema, validate } from './helpers/json-schema.js';
import { MemoryNm, type MemoryDeviceSpec } from './fakes/memory-nm.js';
import { appliedConnection } from './plan/fixtures.js';

const MAC1 = 'FA:16:3E:00:00:01';
const MAC2 = 'FA:16:3E:00:00:02';
const BASE = 'http://169.254.169.254';
const META_DATA = JSON.stringify({
  uuid: 'c0ffee00-0000-4000-8000-000000000001',
  name: 'vm-1',
  availability_zone: 'nova',
  project_id: 'p1',
});

/** Serves the two documents from memory and records every URL asked for. */
function memoryHttp(networkData: string): MetadataHttp & { readonly urls: string[] } {
  const urls: string[] = [];
  const answer = (request: HttpRequest) => {
    urls.push(request.url);
    const body = { [`${BASE}/openstack/latest/meta_data.json`]: META_DATA, [`${BASE}/openstack/latest/network_data.json`]: networkData }[
      request.url
    ];
    return body === undefined ? Promise.reject(new Error(`no ${request.url}`)) : Promise.resolve({ status: 200, body: Buffer.from(body) });
  };
  return { urls, request: answer, poll: answer, preconnect: () => undefined, close: () => {} };
}

const s = (value: string): DbusValue => ({ signature: 's', value });

/** con-eth0: ipv4 auto (DHCP) and ipv6 auto, nothing static, as a cloud image ships it. */
function dhcpProfile(id: string): SettingsDict {
  const base = appliedConnection({ id });
  return {
    ...base,
    ipv6: { method: s('auto'), 'address-data': { signature: 'aa{sv}', value: [] }, 'route-data': { signature: 'aa{sv}', value: [] } },
  };
}

const ETH0: MemoryDeviceSpec = { iface: 'eth0', type: 'ethernet', hwaddr: MAC1, profile: dhcpProfile('con-eth0') };

interface OpenStackRun {
  readonly report: RunReport;
  readonly lines: string[];
}

async function runOnce(
  nm: MemoryNm,
  http: MetadataHttp,
  options: { readonly env?: Record<string, string>; readonly mode?: RunMode } = {},
): Promise<OpenStackRun> {
  const lines: string[] = [];
  const log = createLogger({ level: 'trace', sink: (line) => lines.push(line.replace(/^\[[0-9.]+\] /, '')), clock: () => 0n });
  const report = await run(
    { http, connectNm: () => Promise.resolve(nm), log, providers: [openstack] },
    readConfig({ NM_CLOUD_SETUP_OPENSTACK: 'yes', ...options.env }),
    createCancellation(log),
    options.mode,
  );
  return { report, lines };
}

const reapplies = (nm: MemoryNm) => nm.calls.filter((call) => call.member === 'Reapply');
const creations = (nm: MemoryNm) => nm.calls.filter((call) => call.member === 'AddAndActivateConnection');

/** One family of a connection as nmcli shows it: method, addresses, gateway, routes, dns. */
function family(settings: SettingsDict, name: 'ipv4' | 'ipv6') {
  const lists = toNmcli(readFamilyLists(settings, name) ?? { addresses: [], routes: [], rules: [] });
  return {
    method: getString(settings, name, 'method'),
    addresses: lists.addresses,
    gateway: getString(settings, name, 'gateway'),
    routes: lists.routes,
    dns: readDns(settings, name),
  };
}

/** Static IPv4 and IPv6 on one NIC, an extra route each way, DNS on the network and globally. */
const STATIC_DUAL = JSON.stringify({
  links: [{ id: 'tap-eth0', type: 'ovs', ethernet_mac_address: 'fa:16:3e:00:00:01', mtu: 1450 }],
  networks: [
    {
      id: 'net-v4',
      link: 'tap-eth0',
      type: 'ipv4',
      ip_address: '10.0.0.5',
      netmask: '255.255.255.0',
      routes: [
        { network: '0.0.0.0', netmask: '0.0.0.0', gateway: '10.0.0.1' },
        { network: '192.168.50.0', netmask: '255.255.255.0', gateway: '10.0.0.254' },
      ],
      services: [{ type: 'dns', address: '10.0.0.2' }],
    },
    {
      id: 'net-v6',
      link: 'tap-eth0',
      type: 'ipv6',
      ip_address: '2001:db8:1::5',
      netmask: 'ffff:ffff:ffff:ffff::',
      routes: [{ network: '::', netmask: '::', gateway: '2001:db8:1::1' }],
    },
  ],
  services: [{ type: 'dns', address: '2001:db8::53' }],
});

describe('run() in-process: OpenStack against NetworkManager in memory', () => {
  it('static IPv4 + IPv6 with routes and DNS: one Reapply on eth0, no policy routing; the second run makes no call', async () => {
    const nm = new MemoryNm([ETH0], { version: NM_VERSION_1_41_6 });
    const http = memoryHttp(STATIC_DUAL);
    const first = await runOnce(nm, http);
    expect(first.report.result).toBe('changed');
    expect(http.urls).toEqual([`${BASE}/openstack/latest/meta_data.json`, `${BASE}/openstack/latest/network_data.json`]);
    expect(reapplies(nm).map((call) => [call.device, call.flags])).toEqual([['eth0', 1]]);
    const applied = nm.appliedOf('eth0')!;
    expect(family(applied, 'ipv4')).toEqual({
      method: 'auto',
      addresses: ['10.0.0.5/24'],
      gateway: '10.0.0.1',
      routes: ['192.168.50.0/24 10.0.0.254'],
      dns: ['10.0.0.2'],
    });
    expect(family(applied, 'ipv6')).toEqual({
      method: 'auto',
      addresses: ['2001:db8:1::5/64'],
      gateway: '2001:db8:1::1',
      routes: [],
      dns: ['2001:db8::53'],
    });
    expect(readFamilyLists(applied, 'ipv4')?.rules).toEqual([]);
    expect(first.report.outcomes).toMatchObject([{ hwaddr: MAC1, link: 'tap-eth0', device: 'eth0', result: 'applied' }]);
    const state = stateDocument(first.report, { time: new Date(0), toolVersion: 'test' });
    expect(state?.devices).toEqual([
      {
        hwaddr: MAC1,
        link: 'tap-eth0',
        device: 'eth0',
        connection: { id: 'con-eth0', uuid: '7a2f5b6e-0000-4000-8000-000000000001' },
        result: 'applied',
      },
    ]);

    const second = await runOnce(nm, memoryHttp(STATIC_DUAL));
    expect(second.report.result).toBe('unchanged');
    expect(reapplies(nm)).toHaveLength(1);
  });

  it('NM_CLOUD_SETUP_IPV6=no: only IPv4 is applied, the ipv6 setting stays as it was', async () => {
    const nm = new MemoryNm([ETH0], { version: NM_VERSION_1_41_6 });
    await runOnce(nm, memoryHttp(STATIC_DUAL), { env: { NM_CLOUD_SETUP_IPV6: 'no' } });
    const applied = nm.appliedOf('eth0')!;
    expect(family(applied, 'ipv4').addresses).toEqual(['10.0.0.5/24']);
    expect(applied['ipv6']).toEqual(ETH0.profile!['ipv6']);
  });

  it('DHCP and SLAAC networks add nothing static: no Reapply at all', async () => {
    const dhcp = JSON.stringify({
      links: [{ id: 'tap-eth0', type: 'phy', ethernet_mac_address: 'fa:16:3e:00:00:01' }],
      networks: [
        { id: 'n4', link: 'tap-eth0', type: 'ipv4_dhcp' },
        { id: 'n6', link: 'tap-eth0', type: 'ipv6_slaac' },
      ],
    });
    const nm = new MemoryNm([ETH0], { version: NM_VERSION_1_41_6 });
    const { report } = await runOnce(nm, memoryHttp(dhcp));
    expect(report.result).toBe('unchanged');
    expect(reapplies(nm)).toEqual([]);
  });

  it('two IPv4 networks on one link: both addresses, the first network gateway, the second default route kept as a route', async () => {
    const two = JSON.stringify({
      links: [{ id: 'tap-eth0', ethernet_mac_address: 'fa:16:3e:00:00:01' }],
      networks: [
        {
          link: 'tap-eth0',
          type: 'ipv4',
          ip_address: '10.0.0.5',
          netmask: '24',
          routes: [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: '10.0.0.1' }],
        },
        {
          link: 'tap-eth0',
          type: 'ipv4',
          ip_address: '10.1.0.5/24',
          routes: [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: '10.1.0.1' }],
        },
      ],
    });
    const nm = new MemoryNm([ETH0], { version: NM_VERSION_1_41_6 });
    await runOnce(nm, memoryHttp(two));
    expect(family(nm.appliedOf('eth0')!, 'ipv4')).toEqual({
      method: 'auto',
      addresses: ['10.0.0.5/24', '10.1.0.5/24'],
      gateway: '10.0.0.1',
      routes: ['0.0.0.0/0 10.1.0.1'],
      dns: [],
    });
  });

  it('the profile static entries stay first; a disabled method becomes manual', async () => {
    const own = appliedConnection({ id: 'con-eth0', method: 'disabled', addresses: [['192.0.2.10', 24]] });
    const nm = new MemoryNm([{ ...ETH0, profile: own }], { version: NM_VERSION_1_41_6 });
    await runOnce(nm, memoryHttp(STATIC_DUAL), { env: { NM_CLOUD_SETUP_IPV6: 'no' } });
    const ipv4 = family(nm.appliedOf('eth0')!, 'ipv4');
    expect(ipv4.method).toBe('manual');
    expect(ipv4.addresses).toEqual(['192.0.2.10/24', '10.0.0.5/24']);
  });

  it('user data skip: nothing is written', async () => {
    const skip = appliedConnection({ id: 'con-eth0', userData: { 'org.freedesktop.nm-cloud-setup.skip': 'yes' } });
    const nm = new MemoryNm([{ ...ETH0, profile: skip }], { version: NM_VERSION_1_41_6 });
    const { report } = await runOnce(nm, memoryHttp(STATIC_DUAL));
    expect(reapplies(nm)).toEqual([]);
    expect(report.outcomes).toMatchObject([{ result: 'skipped' }]);
  });

  it('a disconnected NIC gets a profile named after its link; the second run reapplies nothing and creates nothing', async () => {
    const nm = new MemoryNm([ETH0, { iface: 'eth1', type: 'ethernet', hwaddr: MAC2 }], { version: NM_VERSION_1_41_6 });
    const doc = JSON.stringify({
      links: [
        { id: 'tap-eth0', ethernet_mac_address: 'fa:16:3e:00:00:01' },
        { id: 'tap-eth1', ethernet_mac_address: 'fa:16:3e:00:00:02' },
      ],
      networks: [{ link: 'tap-eth1', type: 'ipv4', ip_address: '10.9.0.7', netmask: '255.255.0.0' }],
    });
    await runOnce(nm, memoryHttp(doc));
    expect(creations(nm).map((call) => call.device)).toEqual(['eth1']);
    const settings = creations(nm)[0]!.settings!;
    expect(getString(settings, 'connection', 'id')).toBe('cloud-tap-eth1');
    expect(getUserData(settings, 'org.freedesktop.nm-cloud-setup.link')).toBe('tap-eth1');
    expect(getUserData(settings, 'org.freedesktop.NetworkManager.origin')).toBe('nm-cloud-setup');
    expect(settings['802-3-ethernet']?.['mac-address']?.value).toEqual(Buffer.from([0xfa, 0x16, 0x3e, 0, 0, 2]));
    expect(family(settings, 'ipv4')).toEqual({ method: 'manual', addresses: ['10.9.0.7/16'], gateway: undefined, routes: [], dns: [] });
    expect(getString(settings, 'ipv6', 'method')).toBe('ignore');

    await runOnce(nm, memoryHttp(doc));
    expect(creations(nm)).toHaveLength(1);
    expect(reapplies(nm)).toEqual([]);
  });

  it('plan shows the Reapply and writes nothing', async () => {
    const nm = new MemoryNm([ETH0], { version: NM_VERSION_1_41_6 });
    const { report } = await runOnce(nm, memoryHttp(STATIC_DUAL), { mode: 'plan' });
    expect(report.result).toBe('pending');
    expect(reapplies(nm)).toEqual([]);
    expect(report.outcomes[0]?.ipv4?.after.addresses).toEqual(['10.0.0.5/24']);
    expect(planDocument(report).devices[0]?.command).toBe(
      "nmcli device modify eth0 ipv4.addresses 10.0.0.5/24 ipv4.routes '192.168.50.0/24 10.0.0.254' ipv4.routing-rules '' " +
        'ipv4.method auto ipv4.gateway 10.0.0.1 ipv4.dns 10.0.0.2 ' +
        "ipv6.addresses 2001:db8:1::5/64 ipv6.routes '' ipv6.routing-rules '' ipv6.method auto ipv6.gateway 2001:db8:1::1 ipv6.dns 2001:db8::53",
    );
  });

  it('status shows uuid, name, availability zone and project', async () => {
    const nm = new MemoryNm([ETH0], { version: NM_VERSION_1_41_6 });
    const { report } = await runOnce(nm, memoryHttp(STATIC_DUAL), { mode: 'status' });
    expect(report.facts).toEqual({ id: 'c0ffee00-0000-4000-8000-000000000001', name: 'vm-1', zone: 'nova', project: 'p1' });
  });

  it.each([
    ['malformed JSON', '{"links": [,]}', 'network_data.json: malformed JSON'],
    ['a duplicate key', '{"links": [], "links": []}', 'network_data.json: malformed JSON'],
    [
      'a link id used twice',
      JSON.stringify({
        links: [
          { id: 'a', ethernet_mac_address: 'fa:16:3e:00:00:01' },
          { id: 'a', ethernet_mac_address: 'fa:16:3e:00:00:02' },
        ],
      }),
      'network_data.json: link id "a" is used twice',
    ],
  ])('%s: one line, nothing applied, metadata-failed (exit 0 like the others)', async (_name, doc, message) => {
    const nm = new MemoryNm([ETH0], { version: NM_VERSION_1_41_6 });
    const { report, lines } = await runOnce(nm, memoryHttp(doc));
    expect(report.result).toBe('metadata-failed');
    expect(report.error).toContain(message);
    expect(lines.filter((line) => line.startsWith('<info>  failure to get meta data'))).toHaveLength(1);
    expect(reapplies(nm)).toEqual([]);
    expect(creations(nm)).toEqual([]);
  });

  it('netmask garbage and a dangling network: one warning each, the rest still configured', async () => {
    const doc = JSON.stringify({
      links: [
        { id: 'good', ethernet_mac_address: 'fa:16:3e:00:00:01' },
        { id: 'bad', ethernet_mac_address: 'fa:16:3e:00:00:02' },
      ],
      networks: [
        { link: 'good', type: 'ipv4', ip_address: '10.0.0.5', netmask: '255.255.255.0' },
        { link: 'bad', type: 'ipv4', ip_address: '10.0.1.5', netmask: '255.0.255.0' },
        { link: 'nowhere', type: 'ipv4', ip_address: '10.0.2.5', netmask: '255.255.255.0' },
      ],
    });
    const eth1: MemoryDeviceSpec = { iface: 'eth1', type: 'ethernet', hwaddr: MAC2, profile: dhcpProfile('con-eth1') };
    const nm = new MemoryNm([ETH0, eth1], { version: NM_VERSION_1_41_6 });
    const { lines } = await runOnce(nm, memoryHttp(doc));
    expect(reapplies(nm).map((call) => call.device)).toEqual(['eth0']);
    const warnings = lines.filter((line) => line.startsWith('<warn>'));
    expect(warnings).toHaveLength(2);
    expect(warnings.join('\n')).toMatch(/bad/);
    expect(warnings.join('\n')).toMatch(/nowhere/);
  });
});

/** A NIC carrying a VLAN (trunk port) with its own MAC, and a bond the tool leaves alone. */
const TRUNK = JSON.stringify({
  links: [
    { id: 'tap-eth0', type: 'phy', ethernet_mac_address: 'fa:16:3e:00:00:01' },
    { id: 'vlan-100', type: 'vlan', vlan_link: 'tap-eth0', vlan_id: 100, vlan_mac_address: 'fa:16:3e:00:01:00' },
    { id: 'vlan-200', type: 'vlan', vlan_link: 'missing', vlan_id: 200 },
  ],
  networks: [
    { link: 'tap-eth0', type: 'ipv4_dhcp' },
    {
      link: 'vlan-100',
      type: 'ipv4',
      ip_address: '10.100.0.5',
      netmask: '255.255.255.0',
      routes: [{ network: '10.200.0.0', netmask: '255.255.0.0', gateway: '10.100.0.1' }],
    },
  ],
});

describe('run() in-process: OpenStack VLANs', () => {
  it('a VLAN on a NIC: a saved profile on "/" named after the link, parent by interface name; the second run creates nothing', async () => {
    const nm = new MemoryNm([ETH0], { version: NM_VERSION_1_41_6 });
    const first = await runOnce(nm, memoryHttp(TRUNK));
    expect(first.report.result).toBe('changed');
    expect(creations(nm).map((call) => call.device)).toEqual(['/']);
    const settings = creations(nm)[0]!.settings!;
    expect(settings['connection']).toEqual({ id: s('cloud-vlan-100'), type: s('vlan'), 'interface-name': s('eth0.100') });
    expect(settings['vlan']).toEqual({ parent: s('eth0'), id: { signature: 'u', value: 100 } });
    expect(settings['802-3-ethernet']?.['cloned-mac-address']?.value).toEqual(Buffer.from([0xfa, 0x16, 0x3e, 0, 1, 0]));
    expect(family(settings, 'ipv4')).toEqual({
      method: 'manual',
      addresses: ['10.100.0.5/24'],
      gateway: undefined,
      routes: ['10.200.0.0/16 10.100.0.1'],
      dns: [],
    });
    expect(getString(settings, 'ipv6', 'method')).toBe('ignore');
    expect(getUserData(settings, 'org.freedesktop.nm-cloud-setup.link')).toBe('vlan-100');
    // eth0 is DHCP only: nothing to reapply there
    expect(reapplies(nm)).toEqual([]);
    expect(first.report.outcomes).toMatchObject([
      { link: 'tap-eth0', device: 'eth0', result: 'unchanged' },
      { link: 'vlan-100', result: 'applied', connection: { id: 'cloud-vlan-100' } },
    ]);
    expect(first.lines.filter((line) => line.startsWith('<warn>'))).toEqual([expect.stringMatching(/vlan-200.*missing/) as unknown]);
    expect(nm.deviceNames()).toEqual(['eth0', 'eth0.100']);

    const second = await runOnce(nm, memoryHttp(TRUNK));
    expect(second.report.result).toBe('unchanged');
    expect(creations(nm)).toHaveLength(1);
    expect(reapplies(nm)).toEqual([]);
  });

  it('activation fails: one warning, reported as failed, nothing else changes, the run still ends normally', async () => {
    const nm = new MemoryNm([ETH0], { version: NM_VERSION_1_41_6, addAndActivateFails: 'Operation not supported' });
    const { report, lines } = await runOnce(nm, memoryHttp(TRUNK));
    expect(report.result).toBe('unchanged');
    expect(report.outcomes[1]).toMatchObject({ link: 'vlan-100', result: 'failed', reason: 'Operation not supported', wrote: false });
    expect(lines).toContain('<warn>  config device FA:16:3E:00:01:00: failure to activate connection: Operation not supported');
  });

  it('NM_CLOUD_SETUP_ALLOW_NEW_CONN=no: the VLAN is skipped, nothing created', async () => {
    const nm = new MemoryNm([ETH0], { version: NM_VERSION_1_41_6 });
    const { report } = await runOnce(nm, memoryHttp(TRUNK), { env: { NM_CLOUD_SETUP_ALLOW_NEW_CONN: 'no' } });
    expect(creations(nm)).toEqual([]);
    expect(report.outcomes[1]).toMatchObject({ link: 'vlan-100', result: 'skipped', reason: 'VLAN device eth0.100 not found' });
  });
});

/** Two NICs bonded (active-backup, its own MAC) with a static address, and a VLAN on the bond the tool leaves alone. */
const BONDED = JSON.stringify({
  links: [
    { id: 'p1', type: 'phy', ethernet_mac_address: 'fa:16:3e:00:00:01' },
    { id: 'p2', type: 'phy', ethernet_mac_address: 'fa:16:3e:00:00:02' },
    {
      id: 'bond0',
      type: 'bond',
      bond_links: ['p1', 'p2'],
      bond_mode: 'active-backup',
      bond_miimon: 100,
      ethernet_mac_address: 'fa:16:3e:00:0b:00',
    },
    { id: 'vlan-9', type: 'vlan', vlan_link: 'bond0', vlan_id: 9 },
  ],
  networks: [
    {
      link: 'bond0',
      type: 'ipv4',
      ip_address: '10.0.0.5',
      netmask: '255.255.255.0',
      routes: [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: '10.0.0.1' }],
    },
    { link: 'vlan-9', type: 'ipv4', ip_address: '10.9.0.5', netmask: '255.255.255.0' },
  ],
});

describe('run() in-process: OpenStack bonds', () => {
  const ETH1: MemoryDeviceSpec = { iface: 'eth1', type: 'ethernet', hwaddr: MAC2, profile: dhcpProfile('con-eth1') };

  it('the bond on "/" first, then a port profile on each NIC, then the VLAN on the bond; the second run creates nothing', async () => {
    const nm = new MemoryNm([ETH0, ETH1], { version: NM_VERSION_1_41_6 });
    const first = await runOnce(nm, memoryHttp(BONDED));
    expect(first.report.result).toBe('changed');
    expect(creations(nm).map((call) => [call.device, getString(call.settings!, 'connection', 'id')])).toEqual([
      ['/', 'cloud-bond0'],
      ['eth0', 'cloud-p1'],
      ['eth1', 'cloud-p2'],
      ['/', 'cloud-vlan-9'],
    ]);
    const [bond, port1, , vlan] = creations(nm).map((call) => call.settings!);
    expect(bond!['connection']).toEqual({ id: s('cloud-bond0'), type: s('bond'), 'interface-name': s('bond0') });
    expect(bond!['bond']).toEqual({ options: { signature: 'a{ss}', value: { mode: 'active-backup', miimon: '100' } } });
    expect(bond!['802-3-ethernet']?.['cloned-mac-address']?.value).toEqual(Buffer.from([0xfa, 0x16, 0x3e, 0, 0x0b, 0]));
    expect(family(bond!, 'ipv4')).toEqual({ method: 'manual', addresses: ['10.0.0.5/24'], gateway: '10.0.0.1', routes: [], dns: [] });
    expect(getUserData(bond!, 'org.freedesktop.nm-cloud-setup.link')).toBe('bond0');
    expect(port1!['connection']).toEqual({ id: s('cloud-p1'), type: s('802-3-ethernet'), master: s('bond0'), 'slave-type': s('bond') });
    expect(port1!['802-3-ethernet']?.['mac-address']?.value).toEqual(Buffer.from([0xfa, 0x16, 0x3e, 0, 0, 1]));
    expect(port1!['ipv4']).toBeUndefined();
    // The VLAN names the bond by its interface name (the bond exists once its step activated it).
    expect(vlan!['connection']).toEqual({ id: s('cloud-vlan-9'), type: s('vlan'), 'interface-name': s('bond0.9') });
    expect(vlan!['vlan']).toEqual({ parent: s('bond0'), id: { signature: 'u', value: 9 } });
    expect(family(vlan!, 'ipv4')).toEqual({ method: 'manual', addresses: ['10.9.0.5/24'], routes: [], dns: [] });
    expect(first.report.outcomes.map((outcome) => [outcome.link, outcome.result])).toEqual([
      ['bond0', 'applied'],
      ['p1', 'applied'],
      ['p2', 'applied'],
      ['vlan-9', 'applied'],
    ]);
    expect(first.lines.filter((line) => line.startsWith('<warn>'))).toEqual([]);

    const second = await runOnce(nm, memoryHttp(BONDED));
    expect(second.report.result).toBe('unchanged');
    expect(creations(nm)).toHaveLength(4);
    expect(reapplies(nm)).toEqual([]);
    expect(second.report.outcomes.map((outcome) => [outcome.link, outcome.result])).toEqual([
      ['bond0', 'unchanged'],
      ['p1', 'unchanged'],
      ['p2', 'unchanged'],
      ['vlan-9', 'unchanged'],
    ]);
  });

  it('the bond cannot be activated: its ports and its VLAN are not touched, the NICs keep their connections', async () => {
    const nm = new MemoryNm([ETH0, ETH1], { version: NM_VERSION_1_41_6, addAndActivateFails: 'Operation not supported' });
    const { report } = await runOnce(nm, memoryHttp(BONDED));
    expect(creations(nm).map((call) => call.device)).toEqual(['/']);
    expect(report.outcomes.map((outcome) => [outcome.link, outcome.result, outcome.reason])).toEqual([
      ['bond0', 'failed', 'Operation not supported'],
      ['p1', 'skipped', 'bond bond0 is not active'],
      ['p2', 'skipped', 'bond bond0 is not active'],
      ['vlan-9', 'skipped', 'bond bond0 is not active'],
    ]);
    expect(nm.appliedOf('eth0')).toEqual(ETH0.profile);
  });

  it('a port NIC that NetworkManager does not have: the bond is skipped whole, and its VLAN', async () => {
    const nm = new MemoryNm([ETH0], { version: NM_VERSION_1_41_6 });
    const { report } = await runOnce(nm, memoryHttp(BONDED));
    expect(creations(nm)).toEqual([]);
    expect(report.outcomes.at(-2)).toMatchObject({
      link: 'bond0',
      result: 'skipped',
      reason: 'port device FA:16:3E:00:00:02 (link p2) not found',
    });
    expect(report.outcomes.at(-1)).toMatchObject({ link: 'vlan-9', result: 'skipped', reason: 'bond bond0 is not active' });
  });
});

describe('OpenStack reports against their schemas', () => {
  it('state.json, plan and status of a NIC and its VLAN (a row per link, keyed by link id) are valid', async () => {
    const nm = new MemoryNm([ETH0], { version: NM_VERSION_1_41_6 });
    const apply = await runOnce(nm, memoryHttp(TRUNK));
    const state = stateDocument(apply.report, { time: new Date(0), toolVersion: 'test' });
    expect(validate(loadSchema('state.schema.json'), state)).toEqual([]);
    expect(state?.interfaces.map((row) => [row.hwaddr, row.link, row.valid])).toEqual([
      [MAC1, 'tap-eth0', true],
      ['FA:16:3E:00:01:00', 'vlan-100', true],
    ]);
    const fresh = new MemoryNm([ETH0], { version: NM_VERSION_1_41_6 });
    const plan = await runOnce(fresh, memoryHttp(STATIC_DUAL), { mode: 'plan' });
    expect(validate(loadSchema('plan.schema.json'), planDocument(plan.report))).toEqual([]);
    const status = await runOnce(fresh, memoryHttp(TRUNK), { mode: 'status' });
    expect(validate(loadSchema('status.schema.json'), statusDocument(status.report))).toEqual([]);
  });
});

describe('run() in-process: OpenStack from a config drive', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ncs-config-drive-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'openstack', 'latest'), { recursive: true });
  writeFileSync(join(dir, 'openstack', 'latest', 'meta_data.json'), META_DATA);
  writeFileSync(join(dir, 'openstack', 'latest', 'network_data.json'), STATIC_DUAL);

  it('reads both documents from the directory, makes no HTTP request, and applies the same as over HTTP', async () => {
    const network = memoryHttp('{}');
    const nm = new MemoryNm([ETH0], { version: NM_VERSION_1_41_6 });
    const { report } = await runOnce(nm, withConfigDrive(dir, network));
    expect(report.result).toBe('changed');
    expect(network.urls).toEqual([]);
    expect(family(nm.appliedOf('eth0')!, 'ipv4').addresses).toEqual(['10.0.0.5/24']);
    expect(family(nm.appliedOf('eth0')!, 'ipv6').addresses).toEqual(['2001:db8:1::5/64']);
  });

  it('caps a file at the body limit, and a missing drive is a clear failure', async () => {
    const drive = withConfigDrive(dir, memoryHttp('{}'));
    const url = `${BASE}/openstack/latest/network_data.json`;
    await expect(drive.request({ url, timeoutMs: 1, maxBytes: 10 })).rejects.toMatchObject({
      code: 'ERR_CONFIG_DRIVE',
      message: expect.stringMatching(/is larger than 10 bytes$/) as unknown,
    });
    const missing = withConfigDrive(join(dir, 'absent'), memoryHttp('{}'));
    await expect(missing.request({ url, timeoutMs: 1, maxBytes: 1000 })).rejects.toMatchObject({ code: 'ERR_CONFIG_DRIVE' });
  });

  it('other requests still go to the network', async () => {
    const network = memoryHttp('{}');
    const drive = withConfigDrive(dir, network);
    await drive.request({ url: `${BASE}/latest/meta-data/`, timeoutMs: 1, maxBytes: 10 }).catch(() => undefined);
    expect(network.urls).toEqual([`${BASE}/latest/meta-data/`]);
  });
});
