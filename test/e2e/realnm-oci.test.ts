// SPDX-License-Identifier: LGPL-2.1-or-later
//
// End-to-end: the built CLI (dist/nm-cloud-setup.cjs) against a REAL NetworkManager 1.42 in
// network namespaces (test/harness/realnm.sh) and an OCI IMDS v2 mock on 169.254.169.254:80 in
// the "cloud" namespace (test/harness/imds-server.mjs).  Needs root and NetworkManager; without
// them this file FAILS on purpose (it does not skip).  Run `npm run build` first.
// NM_CLOUD_SETUP_OCI_HOST is NOT set: the default host is used.  On OCI the tool may create
// profiles (NM_CLOUD_SETUP_ALLOW_NEW_CONN defaults to true there).
//
// Topology: eth0 = 02:00:00:00:00:01, profile "eth0" 172.16.4.2/24 gw 172.16.4.1 (static)
//           eth1 = 02:00:00:00:00:02, profile "eth1" 172.16.5.2/24 (static, never-default)
//
// (a) VM: two VNICs (eth0, eth1).  eth1's profile is deleted first, so eth1 is DISCONNECTED
//     and the tool must create and activate a new profile for it (OCI gives secondary VNICs no
//     DHCP), tagged with user data org.freedesktop.NetworkManager.origin=nm-cloud-setup.
// (b) bare metal: the physical NIC eth0 (nicIndex 0, vlanTag 0) and a VLAN VNIC (MAC
//     02:00:00:00:00:aa, vlanTag 700) on it.  The tool creates "macvlan1" (MACVLAN, VEPA, on
//     eth0, carrying the VNIC MAC) and "vlan1" (VLAN 700 on macvlan1, 10.70.0.5/24, policy
//     routing with index 1 -> tables 30201/30401).
//     Kernels without 802.1Q support (CONFIG_VLAN_8021Q, e.g. some microVM kernels) cannot
//     create the VLAN link at all: there the VLAN checks assert the clean failure instead (NM's
//     "Operation not supported", no vlan1 profile left behind, no routing for the VNIC);
//     NCS_E2E_REQUIRE_VLAN=1 makes such a kernel fail the file.

import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import { pollUntil, type ExecResult, type ImdsConfig, type IpLink, type RealNm } from '../harness/realnm.js';
import { MAC0, MAC1, cliRunner, expectInOrder, expectKernelState, output, reappliedLine, useRealnm } from '../helpers/realnm-run.js';

const REQUIRE_VLAN = process.env['NCS_E2E_REQUIRE_VLAN'] === '1';

const NAME_VM = 'ncs-e2e-oci-vm';
const NAME_BM = 'ncs-e2e-oci-bm';
const VNIC_MAC = '02:00:00:00:00:AA';
const ORIGIN_KEY = 'org.freedesktop.NetworkManager.origin';

const TABLES = [30200, 30201, 30400, 30401];

function ociMetadata(vnics: unknown[]): ImdsConfig {
  return {
    requireHeaders: { Authorization: 'Bearer Oracle' },
    paths: {
      '/opc/v2/instance': JSON.stringify({ id: 'ocid1.instance.oc1..test', shape: 'VM.Standard.E4.Flex' }),
      '/opc/v2/vnics': JSON.stringify(vnics, null, 2),
    },
  };
}

const VM_VNICS = [
  { vnicId: 'ocid1.vnic.a', macAddr: MAC0, privateIp: '172.16.4.2', virtualRouterIp: '172.16.4.1', subnetCidrBlock: '172.16.4.0/24' },
  { vnicId: 'ocid1.vnic.b', macAddr: MAC1, privateIp: '172.16.5.2', virtualRouterIp: '172.16.5.1', subnetCidrBlock: '172.16.5.0/24' },
];

const BM_VNICS = [
  {
    vnicId: 'p0',
    macAddr: MAC0,
    nicIndex: 0,
    vlanTag: 0,
    privateIp: '172.16.4.2',
    virtualRouterIp: '172.16.4.1',
    subnetCidrBlock: '172.16.4.0/24',
  },
  {
    vnicId: 'v1',
    macAddr: VNIC_MAC.toLowerCase(),
    nicIndex: 0,
    vlanTag: 700,
    privateIp: '10.70.0.5',
    virtualRouterIp: '10.70.0.1',
    subnetCidrBlock: '10.70.0.0/24',
  },
];

// No NM_CLOUD_SETUP_OCI_HOST: the CLI must use its default http://169.254.169.254.
const tool = cliRunner({ NM_CLOUD_SETUP_OCI: 'yes' });

/** output() plus NetworkManager's audit lines (they say why an Add/Activate failed) */
async function outputWithNm(nm: RealNm, r: ExecResult): Promise<string> {
  const log = await fs.promises.readFile(nm.nmLogPath, 'utf8').catch(() => '');
  const audit = log.split('\n').filter((l) => /audit: |couldn't create|failed to create/i.test(l));
  return `${output(r)}\n--- NetworkManager (${nm.nmLogPath}), audit/creation lines\n${audit.join('\n')}`;
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** a keyfile as {section: {key: value}} */
function parseKeyfile(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  let section: Record<string, string> | undefined;
  for (const line of text.split('\n')) {
    const s = /^\[(.+)\]$/.exec(line.trim());
    if (s?.[1] !== undefined) {
      section = out[s[1]] = {};
      continue;
    }
    const kv = /^([^=#]+)=(.*)$/.exec(line);
    if (section && kv?.[1] !== undefined && kv[2] !== undefined) section[kv[1].trim()] = kv[2];
  }
  return out;
}

async function keyfilesById(nm: RealNm, id: string): Promise<Record<string, Record<string, string>>[]> {
  return Object.values(await nm.keyfiles())
    .map((b) => parseKeyfile(b.toString('utf8')))
    .filter((k) => k['connection']?.['id'] === id);
}

/** user data of a profile, read back from NM with Settings.Connection.GetSettings */
async function profileUserData(nm: RealNm, uuid: string): Promise<unknown> {
  const [settingsPath] = await nm.nmDbusCall(
    '/org/freedesktop/NetworkManager/Settings',
    'org.freedesktop.NetworkManager.Settings',
    'GetConnectionByUuid',
    's',
    uuid,
  );
  const settings = await nm.profileSettings(String(settingsPath));
  return settings['user']?.['data'];
}

/** true if the kernel can create 802.1Q links (probed in the harness's cloud netns) */
async function kernelHasVlan(nm: RealNm): Promise<boolean> {
  const r = await nm.cloudExec(['ip', 'link', 'add', 'link', 'c0', 'name', 'vprobe', 'type', 'vlan', 'id', '4000']);
  if (r.code !== 0) return false;
  await nm.cloudExec(['ip', 'link', 'del', 'vprobe']);
  return true;
}

const NO_VLAN_NOTE =
  'this kernel has no 802.1Q support (`ip link add ... type vlan` fails: CONFIG_VLAN_8021Q), so no VLAN link can exist; ' +
  'set NCS_E2E_REQUIRE_VLAN=1 to fail instead';

// ---------------------------------------------------------------------------------------------

describe('nm-cloud-setup on a real NetworkManager: OCI VM, a VNIC without a profile gets one', () => {
  let keyfilesBefore: Record<string, Buffer>;
  let created: { id: string; uuid: string } | undefined;
  const scenario = useRealnm({
    name: NAME_VM,
    nics: 2,
    ipv4: 'static',
    metadata: ociMetadata(VM_VNICS),
    setUp: async (nm) => {
      // eth1 = a secondary VNIC: no profile, no DHCP -> DISCONNECTED
      await nm.deleteProfile('eth1', 'eth1');
      keyfilesBefore = await nm.keyfiles();
    },
  });

  it('before the tool runs, eth1 is disconnected and has no address', async () => {
    const nm = scenario.nm;
    expect(await nm.deviceState('eth1')).toBe('30 (disconnected)');
    expect(await nm.ipv4Addrs('eth1')).toEqual([]);
    expect(Object.keys(keyfilesBefore)).toEqual(['eth0.nmconnection']);
  });

  it('first run: reapplies eth0 and creates + activates a profile for eth1', async () => {
    const nm = scenario.nm;
    const nBefore = (await scenario.imds.requests()).length;
    const r = await tool(nm);
    const ctx = await outputWithNm(nm, r);
    expect(r.code, ctx).toBe(0);
    expect(r.stdout, ctx).not.toContain('NM_CLOUD_SETUP_OCI_HOST');
    expectInOrder(
      r,
      [
        'provider oci detected',
        `found interfaces: ${MAC0}, ${MAC1}`,
        'get-config: detected VM instance',
        'meta data received',
        `config device ${MAC0}: configuring "eth0"`,
        'some changes were applied for provider oci',
      ],
      ctx,
    );
    expect(r.stdout, ctx).toMatch(reappliedLine(MAC0, 'eth0'));
    expect(r.stdout, ctx).not.toContain('failure to activate connection');
    // upstream names the interface here, not the MAC
    const m = /config device eth1: connection "([^"]+)" \(([0-9a-f-]{36})\) created/.exec(r.stdout);
    expect(m, ctx).not.toBeNull();
    created = { id: m![1]!, uuid: m![2]! };

    await nm.waitDeviceConnected('eth1');
    await expectKernelState(
      nm,
      {
        addrs: { eth0: ['172.16.4.2/24'], eth1: ['172.16.5.2/24'] },
        tables: {
          30200: ['172.16.4.0/24 dev eth0 metric 10'],
          30400: ['default via 172.16.4.1 dev eth0 metric 10'],
          30201: ['172.16.5.0/24 dev eth1 metric 10'],
          30401: ['default via 172.16.5.1 dev eth1 metric 10'],
        },
        rules: [
          '30200: from 172.16.4.2 lookup 30200',
          '30201: from 172.16.5.2 lookup 30201',
          '30350: from all lookup main suppress_prefixlength 0',
          '30400: from 172.16.4.2 lookup 30400',
          '30401: from 172.16.5.2 lookup 30401',
        ],
      },
      { timeoutMs: 10_000 },
    );
    expect((await nm.nmcli(['-g', 'GENERAL.CONNECTION', 'device', 'show', 'eth1'])).trim()).toBe(created.id);

    const reqs = (await scenario.imds.requests()).slice(nBefore);
    expect(reqs.map((q) => q.url)).toEqual(['/opc/v2/instance', '/opc/v2/vnics']);
    for (const q of reqs) {
      expect(q.headers['authorization'], q.url).toBe('Bearer Oracle');
      expect(q.status, q.url).toBe(200);
    }
    scenario.stateAfterRun1 = await nm.kernelSnapshot(TABLES);
  });

  it("the created profile: persistent, manual, tagged origin=nm-cloud-setup; eth0's keyfile untouched", async () => {
    const nm = scenario.nm;
    expect(created, 'first run did not create a profile').toBeDefined();
    const after = await nm.keyfiles();
    expect(after['eth0.nmconnection']?.equals(keyfilesBefore['eth0.nmconnection']!)).toBe(true);
    const added = Object.keys(after).filter((f) => !(f in keyfilesBefore));
    expect(added, `keyfiles now: ${Object.keys(after).join(', ')}`).toHaveLength(1);
    const kf = parseKeyfile(after[added[0]!]!.toString('utf8'));
    expect(kf['connection']?.['id']).toBe(created!.id);
    expect(kf['connection']?.['uuid']).toBe(created!.uuid);
    expect(kf['connection']?.['type']).toBe('ethernet');
    expect(kf['ethernet']?.['mac-address']).toBe(MAC1);
    expect(kf['ipv4']?.['method']).toBe('manual');
    expect(kf['ipv4']?.['address1']).toBe('172.16.5.2/24');
    expect(kf['user']).toEqual({ [ORIGIN_KEY]: 'nm-cloud-setup' });
    // and the same through NetworkManager's D-Bus API
    expect(await profileUserData(nm, created!.uuid)).toEqual({ [ORIGIN_KEY]: 'nm-cloud-setup' });
  });

  it('second run: creates nothing, changes nothing', async () => {
    const nm = scenario.nm;
    expect(scenario.stateAfterRun1, 'first run did not configure the kernel').toBeDefined();
    const keyfilesAfterRun1 = Object.keys(await nm.keyfiles());
    const profilesAfterRun1 = await nm.nmcli(['-g', 'UUID', 'connection', 'show']);
    const r = await tool(nm);
    const ctx = await outputWithNm(nm, r);
    expect(r.code, ctx).toBe(0);
    expect(r.stdout, ctx).toContain(`config device ${MAC0}: device needs no update to applied connection "eth0"`);
    expect(r.stdout, ctx).toContain(`config device ${MAC1}: device needs no update to applied connection "${created!.id}"`);
    expect(r.stdout, ctx).toContain('no changes were applied for provider oci');
    expect(r.stdout, ctx).not.toMatch(/ created$|some changes were applied|reapply connection/m);
    expect(Object.keys(await nm.keyfiles())).toEqual(keyfilesAfterRun1);
    expect(await nm.nmcli(['-g', 'UUID', 'connection', 'show'])).toBe(profilesAfterRun1);
    expect(await nm.kernelSnapshot(TABLES)).toEqual(scenario.stateAfterRun1);
  });
});

// ---------------------------------------------------------------------------------------------

describe('nm-cloud-setup on a real NetworkManager: OCI bare metal, a VLAN VNIC becomes MACVLAN + VLAN', () => {
  let vlanSupported = false;
  let run1: ExecResult | undefined;
  let run1Context = '';
  let run2: ExecResult | undefined;
  let run2Context = '';
  let keyfilesAfterRun1: string[] = [];
  const scenario = useRealnm({
    name: NAME_BM,
    nics: 2,
    ipv4: 'static',
    metadata: ociMetadata(BM_VNICS),
    setUp: async (nm) => {
      vlanSupported = await kernelHasVlan(nm);
    },
  });

  /** every link of the NM netns, with details */
  const links = async (): Promise<IpLink[]> => scenario.nm.execJson<IpLink[]>(['ip', '-d', '-j', 'link', 'show']);
  const vlanLinks = async (): Promise<IpLink[]> =>
    (await links()).filter((l) => (l['linkinfo'] as { info_kind?: string } | undefined)?.info_kind === 'vlan');

  it('first run: detects bare metal and creates macvlan1 (VEPA, on eth0, with the VNIC MAC)', async () => {
    const nm = scenario.nm;
    run1 = await tool(nm);
    const r = run1;
    run1Context = await outputWithNm(nm, r);
    const ctx = run1Context;
    expect(r.code, ctx).toBe(0);
    expectInOrder(
      r,
      [
        'provider oci detected',
        `found interfaces: ${MAC0}, ${MAC1}`,
        'get-config: detected baremetal instance',
        'meta data received',
        `config device ${MAC0}: configuring "eth0"`,
        `config device ${VNIC_MAC}: creating macvlan1 connection for VLAN 700 on ${MAC0}...`,
        `config device ${VNIC_MAC}: creating vlan connection for VLAN 700 on ${VNIC_MAC}...`,
        `config device ${MAC1}: skip because meta data not successfully fetched`,
        'some changes were applied for provider oci',
      ],
      ctx,
    );
    expect(r.stdout, ctx).toMatch(reappliedLine(MAC0, 'eth0'));
    expect(r.stdout, ctx).toMatch(new RegExp(`config device ${escapeRe(VNIC_MAC)}: connection "macvlan1" \\([0-9a-f-]{36}\\) created`));
    expect(r.stdout, ctx).not.toMatch(/failure to activate connection: (?!.*Failed to create VLAN interface)/);

    // the physical NIC got its policy routing (index 0)
    await expectKernelState(nm, {
      tables: { 30200: ['172.16.4.0/24 dev eth0 metric 10'], 30400: ['default via 172.16.4.1 dev eth0 metric 10'] },
    });

    // the MACVLAN, in the kernel
    await nm.waitDeviceConnected('macvlan1');
    const mv = (await links()).find((l) => l.ifname === 'macvlan1');
    expect(mv, JSON.stringify(await links(), null, 1)).toBeDefined();
    expect(mv!['link']).toBe('eth0');
    expect(mv!.address).toBe(VNIC_MAC.toLowerCase());
    expect(mv!['linkinfo']).toMatchObject({ info_kind: 'macvlan', info_data: { mode: 'vepa' } });
    expect(await nm.ipv4Addrs('macvlan1')).toEqual([]); // ipv4.method=disabled

    // its profile
    const [kf, ...more] = await keyfilesById(nm, 'macvlan1');
    expect(more).toHaveLength(0);
    expect(kf).toMatchObject({
      connection: { type: 'macvlan', 'interface-name': 'macvlan1' },
      macvlan: { mode: '1', parent: 'eth0' }, // NM_CLOUD_SETUP_MAP_INTERFACES names the parent
      ethernet: { 'cloned-mac-address': VNIC_MAC },
      ipv4: { method: 'disabled' },
      ipv6: { method: 'disabled' },
      user: { [ORIGIN_KEY]: 'nm-cloud-setup' },
    });
    expect(kf!['ethernet']?.['mac-address']).toBeUndefined(); // left out when the parent is named
  });

  it('the vlan1 profile: VLAN 700 on macvlan1, 10.70.0.5/24, policy routing for index 1', async () => {
    const nm = scenario.nm;
    expect(run1, 'first run did not happen').toBeDefined();
    if (!vlanSupported) {
      // NM accepted the profile (AddConnection) and failed only to create the link; the tool
      // then deleted the profile again, so nothing is left half-applied.
      expect(run1!.stdout, run1Context).toContain(
        `config device ${VNIC_MAC}: failure to activate connection: macvlan1.700 failed to create resources: ` +
          "Failed to create VLAN interface 'macvlan1.700' for 'vlan1': Operation not supported",
      );
      expect(await keyfilesById(nm, 'vlan1')).toEqual([]);
      return;
    }
    const profiles = await keyfilesById(nm, 'vlan1');
    expect(profiles, run1Context).toHaveLength(1);
    const kf = profiles[0]!;
    expect(kf).toMatchObject({
      connection: { type: 'vlan' },
      vlan: { id: '700', parent: 'macvlan1' },
      ethernet: { 'mac-address': VNIC_MAC, 'cloned-mac-address': VNIC_MAC },
      ipv4: {
        method: 'manual',
        address1: '10.70.0.5/24',
        route1: '10.70.0.0/24,0.0.0.0,10',
        route1_options: 'table=30201',
        route2: '0.0.0.0/0,10.70.0.1,10',
        route2_options: 'table=30401',
        'routing-rule1': 'priority 30201 from 10.70.0.5 table 30201',
        'routing-rule2': 'priority 30350 from 0.0.0.0/0 suppress_prefixlength 0 table 254',
        'routing-rule3': 'priority 30401 from 10.70.0.5 table 30401',
      },
      user: { [ORIGIN_KEY]: 'nm-cloud-setup' },
    });
    expect(kf['connection']?.['interface-name']).toBeUndefined();
    expect(kf['ipv4']?.['address2']).toBeUndefined();
  });

  it('the VLAN in the kernel: id 700 on macvlan1 with 10.70.0.5/24, rules and tables 30201/30401', async () => {
    const nm = scenario.nm;
    expect(run1, 'first run did not happen').toBeDefined();
    if (!vlanSupported) {
      if (REQUIRE_VLAN) throw new Error(NO_VLAN_NOTE);
      // This kernel cannot have the link: NM says so, and none of the VNIC's routing exists.
      const log = await fs.promises.readFile(nm.nmLogPath, 'utf8');
      expect(log).toMatch(/Failed to create VLAN interface 'macvlan1\.700' for 'vlan1': Operation not supported/);
      expect(await vlanLinks()).toEqual([]);
      expect(await nm.ipRouteSummary(30201)).toEqual([]);
      expect(await nm.ipRouteSummary(30401)).toEqual([]);
      expect((await nm.ipRuleSummary()).filter((rule) => rule.includes('10.70.0.5'))).toEqual([]);
      return;
    }
    expect(run1!.stdout, run1Context).toMatch(
      new RegExp(`config device ${escapeRe(VNIC_MAC)}: connection "vlan1" \\([0-9a-f-]{36}\\) created`),
    );
    expect(run1!.stdout, run1Context).not.toContain('failure to activate connection');
    const vlan = await pollUntil(
      async () => {
        const vs = await vlanLinks();
        expect(vs).toHaveLength(1);
        return vs[0]!;
      },
      { timeoutMs: 10_000 },
    );
    const dev = vlan.ifname;
    expect(vlan['link']).toBe('macvlan1');
    expect(vlan['linkinfo']).toMatchObject({ info_kind: 'vlan', info_data: { protocol: '802.1Q', id: 700 } });
    await nm.waitDeviceConnected(dev);
    await expectKernelState(
      nm,
      {
        addrs: { [dev]: ['10.70.0.5/24'] },
        tables: { 30201: [`10.70.0.0/24 dev ${dev} metric 10`], 30401: [`default via 10.70.0.1 dev ${dev} metric 10`] },
        rules: [
          '30200: from 172.16.4.2 lookup 30200',
          '30201: from 10.70.0.5 lookup 30201',
          '30350: from all lookup main suppress_prefixlength 0',
          '30400: from 172.16.4.2 lookup 30400',
          '30401: from 10.70.0.5 lookup 30401',
        ],
      },
      { timeoutMs: 10_000 },
    );
    const viaVlan = await nm.ipRouteGet('192.0.2.1', '10.70.0.5');
    expect(viaVlan.dev).toBe(dev);
    expect(viaVlan.table).toBe('30401');
  });

  it('second run: macvlan1 is left alone and no second macvlan1 profile appears', async () => {
    const nm = scenario.nm;
    expect(run1, 'first run did not happen').toBeDefined();
    scenario.stateAfterRun1 = await nm.kernelSnapshot(TABLES);
    keyfilesAfterRun1 = Object.keys(await nm.keyfiles());
    run2 = await tool(nm);
    const r = run2;
    run2Context = await outputWithNm(nm, r);
    expect(r.code, run2Context).toBe(0);
    expect(r.stdout, run2Context).toContain(`config device ${VNIC_MAC}: configuring "macvlan1"`);
    expect(r.stdout, run2Context).toContain(`config device ${VNIC_MAC}: device needs no update to applied connection "macvlan1"`);
    expect(r.stdout, run2Context).not.toContain('creating macvlan1 connection');
    expect(r.stdout, run2Context).toContain(`config device ${MAC0}: device needs no update to applied connection "eth0"`);
    expect(await keyfilesById(nm, 'macvlan1')).toHaveLength(1);
    expect((await links()).filter((l) => l.ifname.startsWith('macvlan')).map((l) => l.ifname)).toEqual(['macvlan1']);
  });

  it('second run: the VLAN is left alone too -- nothing created, nothing changed', async () => {
    const nm = scenario.nm;
    expect(run2, 'second run did not happen').toBeDefined();
    if (!vlanSupported) {
      if (REQUIRE_VLAN) throw new Error(NO_VLAN_NOTE);
      // Without a VLAN device the tool (as upstream) tries vlan1 again on every run; it fails the
      // same way, leaves no profile behind, and the kernel does not change.
      expect(run2!.stdout, run2Context).toContain(
        `config device ${VNIC_MAC}: failure to activate connection: macvlan1.700 failed to create resources`,
      );
      expect(run2!.stdout, run2Context).toContain('no changes were applied for provider oci');
      expect(Object.keys(await nm.keyfiles())).toEqual(keyfilesAfterRun1);
      expect(await nm.kernelSnapshot(TABLES)).toEqual(scenario.stateAfterRun1);
      return;
    }
    const r = run2!;
    expect(r.stdout, run2Context).toContain(`config device ${VNIC_MAC}: device needs no update to applied connection "vlan1"`);
    expect(r.stdout, run2Context).toContain('no changes were applied for provider oci');
    expect(r.stdout, run2Context).not.toMatch(/ created$|creating |some changes were applied|reapply connection/m);
    expect(Object.keys(await nm.keyfiles())).toEqual(keyfilesAfterRun1);
    expect(await nm.kernelSnapshot(TABLES)).toEqual(scenario.stateAfterRun1);
  });
});
