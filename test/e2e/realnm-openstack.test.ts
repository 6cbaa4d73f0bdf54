// SPDX-License-Identifier: LGPL-2.1-or-later
//
// End-to-end: the built CLI (dist/nm-cloud-setup.cjs) against a REAL NetworkManager 1.42 in
// network namespaces (test/harness/realnm.sh) and OpenStack's two documents, served on
// 169.254.169.254:80 in the "cloud" namespace or read from a config-drive directory. Needs root
// and NetworkManager; without them this file FAILS on purpose (it does not skip). Run
// `npm run build` first.
//
// Topology: eth0 = 02:00:00:00:00:01, profile "eth0" 172.16.4.2/24 gw 172.16.4.1 (static)
//           eth1 = 02:00:00:00:00:02, profile "eth1" 172.16.5.2/24 (static, never-default)
//           both with ipv6.method auto (no router answers).
//
// network_data.json: eth0 ("tap-eth0") gets a second IPv4 address, an explicit route, a DNS
// server, and a static IPv6 address with its gateway; eth1 ("tap-eth1") a second address and a
// DNS server from the global services. No policy routing: every route goes to the main table.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ExecResult, ImdsConfig, RealNm } from '../harness/realnm.js';
import {
  MAC0,
  MAC1,
  MAP_INTERFACES,
  expectInOrder,
  expectKernelState,
  output,
  reappliedLine,
  runCli,
  useRealnm,
} from '../helpers/realnm-run.js';

const META_DATA = JSON.stringify({ uuid: '0b5e1c2d-0000-4000-8000-00000000e2e0', name: 'e2e-vm', availability_zone: 'nova' });
const NETWORK_DATA = JSON.stringify(
  {
    links: [
      { id: 'tap-eth0', type: 'ovs', ethernet_mac_address: MAC0.toLowerCase(), mtu: 1500 },
      { id: 'tap-eth1', type: 'ovs', ethernet_mac_address: MAC1.toLowerCase(), mtu: 1500 },
    ],
    networks: [
      {
        id: 'v4-a',
        link: 'tap-eth0',
        type: 'ipv4',
        ip_address: '172.16.4.10',
        netmask: '255.255.255.0',
        routes: [
          { network: '0.0.0.0', netmask: '0.0.0.0', gateway: '172.16.4.1' },
          { network: '10.99.0.0', netmask: '255.255.0.0', gateway: '172.16.4.1' },
        ],
        services: [{ type: 'dns', address: '172.16.4.53' }],
      },
      {
        id: 'v6-a',
        link: 'tap-eth0',
        type: 'ipv6',
        ip_address: 'fd00:16:4::5',
        netmask: 'ffff:ffff:ffff:ffff::',
        routes: [{ network: '::', netmask: '::', gateway: 'fd00:16:4::1' }],
      },
      { id: 'v4-b', link: 'tap-eth1', type: 'ipv4', ip_address: '172.16.5.20', netmask: '24' },
    ],
    services: [
      { type: 'dns', address: '172.16.0.53' },
      { type: 'dns', address: 'fd00:16::53' },
    ],
  },
  null,
  2,
);

const OPENSTACK: ImdsConfig = {
  paths: { '/openstack/latest/meta_data.json': META_DATA, '/openstack/latest/network_data.json': NETWORK_DATA },
};

// The harness's veths have no permanent MAC: NM_CLOUD_SETUP_MAP_INTERFACES names them.
const LOG = { NM_CLOUD_SETUP_OPENSTACK: 'yes', NM_CLOUD_SETUP_LOG: 'trace', NM_CLOUD_SETUP_MAP_INTERFACES: MAP_INTERFACES };
const tool = (nm: RealNm, env: Record<string, string> = {}): Promise<ExecResult> => runCli(nm, { ...LOG, ...env });

type Settings = Record<string, Record<string, unknown>>;

/** addresses, gateway and routes of one family of an applied connection, as short strings */
function familyOf(settings: Settings, family: 'ipv4' | 'ipv6') {
  const setting = settings[family] ?? {};
  const list = (key: string): Record<string, unknown>[] => (setting[key] ?? []) as Record<string, unknown>[];
  return {
    method: setting['method'],
    addresses: list('address-data').map((a) => `${String(a['address'])}/${String(a['prefix'])}`),
    gateway: setting['gateway'],
    routes: list('route-data').map(
      (r) => `${String(r['dest'])}/${String(r['prefix'])}${r['next-hop'] === undefined ? '' : ` via ${String(r['next-hop'])}`}`,
    ),
  };
}

/** ipv4.dns as NM 1.42 sends it (au: in_addr_t in network byte order), as dotted quads */
const ipv4Dns = (settings: Settings): string[] =>
  ((settings['ipv4']?.['dns'] ?? []) as number[]).map((n) => [0, 8, 16, 24].map((shift) => (n >>> shift) & 0xff).join('.'));

/** `ip -4 route` of the main table for one device */
async function mainRoutes(nm: RealNm, dev: string): Promise<string[]> {
  return (await nm.ipRouteSummary('main')).filter((route) => route.includes(` dev ${dev}`));
}

async function expectConfigured(nm: RealNm): Promise<void> {
  const eth0 = (await nm.appliedConnection('eth0')).settings;
  expect(familyOf(eth0, 'ipv4')).toEqual({
    method: 'manual',
    addresses: ['172.16.4.2/24', '172.16.4.10/24'],
    gateway: '172.16.4.1',
    routes: ['10.99.0.0/16 via 172.16.4.1'],
  });
  expect(ipv4Dns(eth0)).toEqual(['172.16.4.53', '172.16.0.53']);
  expect(familyOf(eth0, 'ipv6')).toEqual({ method: 'auto', addresses: ['fd00:16:4::5/64'], gateway: 'fd00:16:4::1', routes: [] });
  // ipv6.dns as NM 1.42 sends it (aay: 16 bytes each)
  expect(((eth0['ipv6']?.['dns'] ?? []) as Uint8Array[]).map((bytes) => Buffer.from(bytes).toString('hex'))).toEqual([
    'fd000016000000000000000000000053',
  ]);
  // No policy routing: no rules, no tables
  expect(eth0['ipv4']?.['routing-rules'] ?? []).toEqual([]);
  const eth1 = (await nm.appliedConnection('eth1')).settings;
  expect(familyOf(eth1, 'ipv4')).toEqual({
    method: 'manual',
    addresses: ['172.16.5.2/24', '172.16.5.20/24'],
    gateway: undefined,
    routes: [],
  });
  expect(ipv4Dns(eth1)).toEqual(['172.16.0.53']);

  await expectKernelState(nm, {
    addrs: { eth0: ['172.16.4.2/24', '172.16.4.10/24'], eth1: ['172.16.5.2/24', '172.16.5.20/24'] },
    rules: [],
  });
  await expect.poll(() => mainRoutes(nm, 'eth0'), { timeout: 5000 }).toContain('10.99.0.0/16 via 172.16.4.1 dev eth0 metric 100');
  await expect.poll(() => nm.ipv6Addrs('eth0'), { timeout: 5000 }).toContain('fd00:16:4::5/64');
  for (const table of [30200, 30201, 30400, 30401]) expect(await nm.ipRouteSummary(table), `table ${table}`).toEqual([]);
}

describe('nm-cloud-setup on a real NetworkManager: OpenStack, physical links over HTTP', () => {
  const scenario = useRealnm({ name: 'ncs-e2e-os', nics: 2, ipv4: 'static', ipv6: 'auto', metadata: OPENSTACK });
  let keyfilesBefore: Record<string, Buffer> = {};

  it('first run: both NICs reapplied with addresses, gateway, explicit route and DNS; no policy routing', async () => {
    const nm = scenario.nm;
    keyfilesBefore = await nm.keyfiles();
    const r = await tool(nm);
    expect(r.code, output(r)).toBe(0);
    expectInOrder(r, ['provider openstack detected', `found interfaces: ${MAC0}, ${MAC1}`, 'meta data received']);
    expect(r.stdout, output(r)).toMatch(reappliedLine(MAC0, 'eth0'));
    expect(r.stdout, output(r)).toMatch(reappliedLine(MAC1, 'eth1'));
    expect((await scenario.imds.requests()).map((q) => q.url)).toEqual([
      '/openstack/latest/meta_data.json',
      '/openstack/latest/network_data.json',
    ]);
    await expectConfigured(nm);
    scenario.stateAfterRun1 = await nm.kernelSnapshot([]);
  });

  it('runtime only: the keyfiles are untouched, nothing was created', async () => {
    const after = await scenario.nm.keyfiles();
    expect(Object.keys(after)).toEqual(Object.keys(keyfilesBefore));
    for (const [file, bytes] of Object.entries(keyfilesBefore)) expect(after[file]?.equals(bytes), file).toBe(true);
  });

  it('second run: no Reapply call, kernel unchanged', async () => {
    const nm = scenario.nm;
    expect(scenario.stateAfterRun1, 'first run did not configure the kernel').toBeDefined();
    const r = await tool(nm);
    expect(r.code, output(r)).toBe(0);
    expect(r.stdout, output(r)).toContain('no changes were applied for provider openstack');
    expect(r.stdout, output(r)).not.toMatch(/reapply connection/);
    expect(await nm.kernelSnapshot([])).toEqual(scenario.stateAfterRun1);
  });
});

describe('nm-cloud-setup on a real NetworkManager: OpenStack from a config drive', () => {
  // Nothing is served over HTTP: every document must come from the directory.
  const scenario = useRealnm({ name: 'ncs-e2e-os-cd', nics: 2, ipv4: 'static', ipv6: 'auto', metadata: { paths: {} } });
  const drive = fs.mkdtempSync(path.join(os.tmpdir(), 'ncs-e2e-config-drive-'));
  fs.mkdirSync(path.join(drive, 'openstack', 'latest'), { recursive: true });
  fs.writeFileSync(path.join(drive, 'openstack', 'latest', 'meta_data.json'), META_DATA);
  fs.writeFileSync(path.join(drive, 'openstack', 'latest', 'network_data.json'), NETWORK_DATA);
  afterAll(() => fs.rmSync(drive, { recursive: true, force: true }));

  it('reads meta_data.json and network_data.json from the drive, makes no HTTP request, configures the same', async () => {
    const nm = scenario.nm;
    const r = await tool(nm, { NM_CLOUD_SETUP_OPENSTACK_CONFIG_DRIVE: drive });
    expect(r.code, output(r)).toBe(0);
    expect(r.stdout, output(r)).toContain('provider openstack detected');
    expect(await scenario.imds.requests()).toEqual([]);
    await expectConfigured(nm);
    const again = await tool(nm, { NM_CLOUD_SETUP_OPENSTACK_CONFIG_DRIVE: drive });
    expect(again.stdout, output(again)).not.toMatch(/reapply connection/);
  });
});

/** true if the kernel can create 802.1Q links (probed in the harness's cloud netns) */
async function kernelHasVlan(nm: RealNm): Promise<boolean> {
  const r = await nm.cloudExec(['ip', 'link', 'add', 'link', 'c0', 'name', 'vprobe', 'type', 'vlan', 'id', '4000']);
  if (r.code !== 0) return false;
  await nm.cloudExec(['ip', 'link', 'del', 'vprobe']);
  return true;
}

const TRUNK_DATA = JSON.stringify({
  links: [
    { id: 'tap-eth0', type: 'ovs', ethernet_mac_address: MAC0.toLowerCase() },
    { id: 'trunk-100', type: 'vlan', vlan_link: 'tap-eth0', vlan_id: 100, vlan_mac_address: '02:00:00:00:01:00' },
  ],
  networks: [
    {
      link: 'tap-eth0',
      type: 'ipv4',
      ip_address: '172.16.4.2',
      netmask: '255.255.255.0',
      routes: [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: '172.16.4.1' }],
    },
    { link: 'trunk-100', type: 'ipv4', ip_address: '10.100.0.5', netmask: '255.255.255.0' },
  ],
});

// A kernel without 802.1Q (this CI's) cannot activate the VLAN: the profile is removed again and
// the failure is one warning; the NIC is still configured. A kernel with it gets the VLAN.
describe('nm-cloud-setup on a real NetworkManager: OpenStack, a VLAN on a NIC (trunk port)', () => {
  let vlanSupported = false;
  const scenario = useRealnm({
    name: 'ncs-e2e-os-vlan',
    nics: 2,
    ipv4: 'static',
    metadata: {
      paths: { '/openstack/latest/meta_data.json': META_DATA, '/openstack/latest/network_data.json': TRUNK_DATA },
    },
    setUp: async (nm) => {
      vlanSupported = await kernelHasVlan(nm);
    },
  });
  const profileNames = async (nm: RealNm): Promise<string[]> =>
    // NM 1.42 also lists "lo" (connected externally), which is not a saved profile of ours.
    (await nm.nmcli(['-t', '-f', 'NAME', 'connection', 'show']))
      .split('\n')
      .filter((line) => line !== '' && line !== 'lo')
      .sort();

  it('creates the VLAN profile cloud-trunk-100 (eth0.100 on eth0), or, without 802.1Q, rolls it back and says so', async () => {
    const nm = scenario.nm;
    const before = await nm.keyfiles();
    const r = await tool(nm, { NM_CLOUD_SETUP_IPV6: 'no' });
    expect(r.code, output(r)).toBe(0);
    expect(r.stdout, output(r)).toContain('config link trunk-100: creating VLAN 100 connection eth0.100 on eth0...');
    if (vlanSupported) {
      expect(r.stdout, output(r)).toMatch(/config device 02:00:00:00:01:00: connection "cloud-trunk-100" \([0-9a-f-]{36}\) created/);
      await nm.waitDeviceConnected('eth0.100');
      await expectKernelState(nm, { addrs: { 'eth0.100': ['10.100.0.5/24'] } });
      expect(
        (await nm.nmcli(['-t', '-g', 'vlan.parent,vlan.id,connection.interface-name', 'connection', 'show', 'cloud-trunk-100'])).trim(),
      ).toBe('eth0\n100\neth0.100');
      return;
    }
    expect(r.stdout, output(r)).toMatch(
      /<warn> +config device 02:00:00:00:01:00: failure to activate connection: .*Failed to create VLAN interface 'eth0.100'/,
    );
    // Rolled back: NetworkManager holds exactly the profiles it had, byte for byte.
    expect(await profileNames(nm)).toEqual(['eth0', 'eth1']);
    expect(Object.keys(await nm.keyfiles())).toEqual(Object.keys(before));
    expect(await nm.ipv4Addrs('eth0')).toEqual(['172.16.4.2/24']);
  });

  it('second run: no duplicate profile, the VLAN is tried again (or found and left as it is)', async () => {
    const nm = scenario.nm;
    const r = await tool(nm, { NM_CLOUD_SETUP_IPV6: 'no' });
    expect(r.code, output(r)).toBe(0);
    const names = await profileNames(nm);
    expect(names.filter((name) => name === 'cloud-trunk-100')).toHaveLength(vlanSupported ? 1 : 0);
    if (vlanSupported) expect(r.stdout, output(r)).not.toContain('creating VLAN 100');
  });
});

/** true if the kernel can create bonds (probed in the harness's cloud netns) */
async function kernelHasBonding(nm: RealNm): Promise<boolean> {
  const r = await nm.cloudExec(['ip', 'link', 'add', 'name', 'bprobe', 'type', 'bond']);
  if (r.code !== 0) return false;
  await nm.cloudExec(['ip', 'link', 'del', 'bprobe']);
  return true;
}

const BOND_DATA = JSON.stringify({
  links: [
    { id: 'p1', type: 'phy', ethernet_mac_address: MAC0.toLowerCase() },
    { id: 'p2', type: 'phy', ethernet_mac_address: MAC1.toLowerCase() },
    { id: 'bond0', type: 'bond', bond_links: ['p1', 'p2'], bond_mode: 'active-backup', bond_miimon: 100 },
  ],
  networks: [{ link: 'bond0', type: 'ipv4', ip_address: '10.50.0.5', netmask: '255.255.255.0' }],
});

// A kernel without bonding (this CI's): the bond profile is rolled back with one warning and the
// NICs keep their connections (no port profile is made for a bond that does not exist). A kernel
// with bonding gets bond0 with both NICs as ports.
describe('nm-cloud-setup on a real NetworkManager: OpenStack, a bond over both NICs', () => {
  let bondingSupported = false;
  const scenario = useRealnm({
    name: 'ncs-e2e-os-bond',
    nics: 2,
    ipv4: 'static',
    metadata: {
      paths: { '/openstack/latest/meta_data.json': META_DATA, '/openstack/latest/network_data.json': BOND_DATA },
    },
    setUp: async (nm) => {
      bondingSupported = await kernelHasBonding(nm);
    },
  });
  const profileNames = async (nm: RealNm): Promise<string[]> =>
    (await nm.nmcli(['-t', '-f', 'NAME', 'connection', 'show']))
      .split('\n')
      .filter((line) => line !== '' && line !== 'lo')
      .sort();

  it('creates bond0 then its ports, or, without bonding, rolls the bond back and leaves the NICs alone', async () => {
    const nm = scenario.nm;
    const before = await nm.keyfiles();
    const r = await tool(nm, { NM_CLOUD_SETUP_IPV6: 'no' });
    expect(r.code, output(r)).toBe(0);
    expect(r.stdout, output(r)).toContain('config link bond0: creating bond connection bond0...');
    if (bondingSupported) {
      await nm.waitDeviceConnected('bond0');
      await expectKernelState(nm, { addrs: { bond0: ['10.50.0.5/24'] } });
      expect(await profileNames(nm)).toEqual(['cloud-bond0', 'cloud-p1', 'cloud-p2', 'eth0', 'eth1']);
      return;
    }
    expect(r.stdout, output(r)).toMatch(
      /<warn> +config device 02:00:00:00:00:01: failure to activate connection: .*Failed to create bond interface 'bond0'/,
    );
    expect(r.stdout, output(r)).toContain('config device 02:00:00:00:00:01: skip because bond bond0 is not active');
    expect(r.stdout, output(r)).not.toContain('making eth0 a port');
    expect(await profileNames(nm)).toEqual(['eth0', 'eth1']);
    expect(Object.keys(await nm.keyfiles())).toEqual(Object.keys(before));
    expect(await nm.ipv4Addrs('eth0')).toEqual(['172.16.4.2/24']);
    expect((await nm.nmcli(['-g', 'GENERAL.CONNECTION', 'device', 'show', 'eth0'])).trim()).toBe('eth0');
  });

  it('second run: no duplicate profiles', async () => {
    const nm = scenario.nm;
    const r = await tool(nm, { NM_CLOUD_SETUP_IPV6: 'no' });
    expect(r.code, output(r)).toBe(0);
    const names = await profileNames(nm);
    expect(names.filter((name) => name.startsWith('cloud-'))).toEqual(bondingSupported ? ['cloud-bond0', 'cloud-p1', 'cloud-p2'] : []);
  });
});
