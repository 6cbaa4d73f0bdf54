// SPDX-License-Identifier: LGPL-2.1-or-later
// OCI end to end: the built CLI against the fake NetworkManager on a private bus, metadata from
// a loopback server with upstream's test_oci / test_oci_vlans data (test-client.py). Besides the
// Reapply path, OCI creates profiles: a MACVLAN + VLAN pair per bare-metal VLAN VNIC,
// and an Ethernet profile for a DISCONNECTED device (NM_CLOUD_SETUP_ALLOW_NEW_CONN, default on
// OCI only; the EC2 case is at the end of this file).
import { describe, it } from 'vitest';
import type { FakeDeviceSpec } from '../fakes/fake-nm-service.js';
import { ethernetProfile } from '../fakes/fake-nm-service.js';
import type { ImdsConfig } from '../helpers/metadata-server.js';
import {
  EC2_TOKEN,
  HW1,
  HW2,
  IP1,
  IP2,
  MAC1,
  MAC2,
  callsOf,
  expectInOrder,
  expectNothingApplied,
  fakeNmCloud,
  itHonoursSkipUserData,
  itReappliesEth0ThenNothing,
  itSendsRequests,
  macArray,
  plainSettings,
  signaturesOf,
  upstreamEc2Paths,
} from '../helpers/fake-nm-run.js';

const HEADERS = { Authorization: 'Bearer Oracle' };
const VNIC_MAC = 'C0:00:00:00:00:10';
const VNIC_IP = '172.31.10.10';
const ORIGIN = { 'org.freedesktop.NetworkManager.origin': 'nm-cloud-setup' };
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

/** test_oci: a VM (no nicIndex), so the vlanTags mean nothing. */
const VM_VNICS = [
  {
    macAddr: MAC1,
    privateIp: IP1,
    subnetCidrBlock: '172.31.16.0/20',
    virtualRouterIp: '172.31.16.1',
    vlanTag: 810,
    vnicId: 'ocid1.vnic.oc1.cz-adamov1.foobarbaz',
  },
  {
    macAddr: MAC2,
    privateIp: IP2,
    subnetCidrBlock: '172.31.166.0/20',
    virtualRouterIp: '172.31.166.1',
    vlanTag: 700,
    vnicId: 'ocid1.vnic.oc1.uk-hogwarts.expelliarmus',
  },
];

/** test_oci_vlans: bare metal, two physical NICs and VLAN 700 on NIC 0 (array position 2). */
const BAREMETAL_VNICS = [
  { ...VM_VNICS[0], vlanTag: 0, nicIndex: 0 },
  { ...VM_VNICS[1], vlanTag: 0, nicIndex: 1 },
  {
    macAddr: VNIC_MAC,
    privateIp: VNIC_IP,
    subnetCidrBlock: '172.31.10.0/20',
    virtualRouterIp: '172.31.10.1',
    vlanTag: 700,
    nicIndex: 0,
    vnicId: 'ocid1.vnic.oc1.uk-hogwarts.keka',
  },
];

function ociMetadata(vnics: unknown): ImdsConfig {
  return {
    requireHeaders: HEADERS,
    paths: { '/opc/v2/instance': '{}', '/opc/v2/vnics': typeof vnics === 'string' ? vnics : JSON.stringify(vnics, null, 2) },
  };
}

const oci = fakeNmCloud('OCI', () => ociMetadata(VM_VNICS));

/** eth0 as interface 0 of a multi-address result: tables 30200/30400, router 172.31.16.1. */
const ETH0_LISTS = {
  'address-data': [{ address: IP1, prefix: 20 }],
  'route-data': [
    { dest: '172.31.16.0', prefix: 20, metric: 10, table: 30200 },
    { dest: '0.0.0.0', prefix: 0, 'next-hop': '172.31.16.1', metric: 10, table: 30400 },
  ],
  'routing-rules': [
    { family: 2, priority: 30200, from: IP1, 'from-len': 32, table: 30200 },
    { family: 2, priority: 30350, table: 254, 'suppress-prefixlength': 0 },
    { family: 2, priority: 30400, from: IP1, 'from-len': 32, table: 30400 },
  ],
};

/** Upstream's test_oci_vm_vnic devices: eth0 DISCONNECTED without a profile, eth1 without ipv4. */
const VM_VNIC_DEVICES: FakeDeviceSpec[] = [
  { iface: 'eth0', type: 'ethernet', hwaddr: MAC1, profile: null, state: 30 },
  { iface: 'eth1', type: 'ethernet', hwaddr: MAC2, profile: ethernetProfile({ id: 'con-eth1', ipv4: null }) },
];

describe.concurrent('OCI against a fake NetworkManager on a private bus', () => {
  it('a vnics document that is not a JSON array (or has duplicate keys) fails get-config; nothing is applied', async ({
    expect,
    onTestFinished,
  }) => {
    const h = await oci.start(onTestFinished, ociMetadata({ vnics: VM_VNICS }));
    const fake = await h.startNm();
    const duplicateKeys = `[{"macAddr": "${MAC1}", "privateIp": "${IP1}", "privateIp": "${IP2}"}]`;
    for (const body of [JSON.stringify({ vnics: VM_VNICS }), duplicateKeys]) {
      h.metadata.update(ociMetadata(body));
      const outcome = await h.run();
      expect(outcome.code).toBe(0);
      // Upstream's error text itself starts with "get-config: " (nmcs-provider-oci.c sets it as
      // the GError message, it logs no separate line), so it shows up twice (upstream).
      expectInOrder(outcome.stdout, [
        'provider oci detected',
        'get-config: starting',
        "get-config: failed: get-config: JSON parse failure, can't configure VNICs",
        "<info>  failure to get meta data: get-config: JSON parse failure, can't configure VNICs",
      ]);
      expect(outcome.stdout).not.toContain('meta data received');
    }
    expectNothingApplied(expect, fake);
  });

  itReappliesEth0ThenNothing(oci, {
    title: 'VM: first run reapplies eth0 via virtualRouterIp; second run makes no Reapply call',
    firstRun: [
      'provider oci detected',
      `found interfaces: ${HW1}, ${HW2}`,
      'get-config: starting',
      '<info>  get-config: detected VM instance',
      'get-config: success',
      'meta data received',
      `config device ${HW1}: configuring "eth0"`,
      /config device CC:00:00:00:00:01: connection "con-eth0" \([0-9a-f-]+\) reapplied/,
      `config device ${HW2}: skip applied connection due to missing IPv4 configuration`,
      'some changes were applied for provider oci',
    ],
    // (On a VM vlanTag is ignored: no MACVLAN/VLAN profiles; the test checks none was added.)
    ipv4: { method: 'auto', ...ETH0_LISTS, dns: [], 'dns-search': [] },
    secondRun: [
      'provider oci detected',
      `found interfaces: ${HW1}, ${HW2}`,
      'get-config: starting',
      'get-config: success',
      'meta data received',
      'device needs no update to applied connection "con-eth0"',
      'no changes were applied for provider oci',
    ],
  });

  itSendsRequests(oci, {
    title: 'sends Authorization: Bearer Oracle on every request',
    applied: 'some changes were applied for provider oci',
    urls: ['/opc/v2/instance', '/opc/v2/vnics'],
    compare: 'in order',
    headers: { authorization: 'Bearer Oracle' },
  });

  itHonoursSkipUserData(oci, [
    `config device ${HW1}: skip applied connection due to user data org.freedesktop.nm-cloud-setup.skip`,
    'no changes were applied for provider oci',
  ]);

  it('bare metal: a VLAN VNIC gets a MACVLAN on its NIC and a VLAN on top; the second run changes nothing', async ({
    expect,
    onTestFinished,
  }) => {
    const h = await oci.start(onTestFinished, ociMetadata(BAREMETAL_VNICS));
    const fake = await h.startNm();

    const first = await h.run();
    expect(first.code).toBe(0);
    expect(first.signal).toBeNull();
    expectInOrder(first.stdout, [
      'provider oci detected',
      `found interfaces: ${HW1}, ${HW2}`,
      'get-config: starting',
      '<info>  get-config: detected baremetal instance',
      'get-config: success',
      'meta data received',
      'configuring "eth0"',
      'skip applied connection due to missing IPv4 configuration',
      `config device ${VNIC_MAC}: creating macvlan2 connection for VLAN 700 on ${HW1}...`,
      new RegExp(`config device ${VNIC_MAC}: connection "macvlan2" \\(${UUID}\\) created`),
      `config device ${VNIC_MAC}: creating vlan connection for VLAN 700 on ${VNIC_MAC}...`,
      new RegExp(`config device ${VNIC_MAC}: connection "vlan2" \\(${UUID}\\) created`),
      'some changes were applied for provider oci',
    ]);
    expect(first.stdout).not.toContain('<warn>');

    // eth0 (physical NIC 0, interface 0) still gets its policy routing.
    const reapplies = callsOf(fake, 'Reapply');
    expect(reapplies.map((call) => call.path)).toEqual([fake.device('eth0').path]);
    expect(plainSettings(reapplies[0]!.args[0])['ipv4']).toEqual({ method: 'auto', ...ETH0_LISTS, dns: [], 'dns-search': [] });

    const [macvlan, vlan, ...more] = callsOf(fake, 'AddAndActivateConnection');
    expect(more).toEqual([]);
    expect(macvlan?.error).toBeUndefined();
    expect(vlan?.error).toBeUndefined();
    // Device "/" (NM creates it) and specific object "/".
    expect(macvlan!.args.slice(1)).toEqual(['/', '/']);
    expect(vlan!.args.slice(1)).toEqual(['/', '/']);
    expect(plainSettings(macvlan!.args[0])).toEqual({
      connection: { id: 'macvlan2', type: 'macvlan', 'interface-name': 'macvlan2' },
      macvlan: { mode: 1 },
      ipv4: { method: 'disabled' },
      ipv6: { method: 'disabled' },
      '802-3-ethernet': { 'mac-address': macArray(MAC1), 'cloned-mac-address': macArray(VNIC_MAC) },
      user: { data: ORIGIN },
    });
    expect(signaturesOf(macvlan!.args[0])).toMatchObject({
      macvlan: { mode: 'u' },
      '802-3-ethernet': { 'mac-address': 'ay', 'cloned-mac-address': 'ay' },
      user: { data: 'a{ss}' },
    });
    // Interface 2: tables 30202/30402; 172.31.10.10/20 is in 172.31.0.0/20.
    expect(plainSettings(vlan!.args[0])).toEqual({
      connection: { id: 'vlan2', type: 'vlan' },
      vlan: { parent: 'macvlan2', id: 700 },
      ipv4: {
        method: 'manual',
        'address-data': [{ address: VNIC_IP, prefix: 20 }],
        'route-data': [
          { dest: '172.31.0.0', prefix: 20, metric: 10, table: 30202 },
          { dest: '0.0.0.0', prefix: 0, 'next-hop': '172.31.10.1', metric: 10, table: 30402 },
        ],
        'routing-rules': [
          { family: 2, priority: 30202, from: VNIC_IP, 'from-len': 32, table: 30202 },
          { family: 2, priority: 30350, table: 254, 'suppress-prefixlength': 0 },
          { family: 2, priority: 30402, from: VNIC_IP, 'from-len': 32, table: 30402 },
        ],
      },
      '802-3-ethernet': { 'mac-address': macArray(VNIC_MAC), 'cloned-mac-address': macArray(VNIC_MAC) },
      user: { data: ORIGIN },
    });
    expect(signaturesOf(vlan!.args[0])).toMatchObject({ vlan: { parent: 's', id: 'u' }, user: { data: 'a{ss}' } });

    // The fake created both devices with the VNIC MAC, and activated the profiles on them.
    const created = fake.devices().slice(2);
    expect(created.map((device) => [device.iface, device.deviceType, device.hwAddress, device.state])).toEqual([
      ['macvlan2', 18, VNIC_MAC, 100],
      ['macvlan2.700', 11, VNIC_MAC, 100],
    ]);

    const second = await h.run();
    expect(second.code).toBe(0);
    expectInOrder(second.stdout, [
      'provider oci detected',
      `found interfaces: ${HW1}, ${HW2}`,
      'get-config: starting',
      'get-config: success',
      'meta data received',
      'configuring "eth0"',
      'device needs no update to applied connection "con-eth0"',
      'skip applied connection due to missing IPv4 configuration',
      `config device ${VNIC_MAC}: configuring "macvlan2"`,
      'device needs no update to applied connection "macvlan2"',
      `config device ${VNIC_MAC}: configuring "macvlan2.700"`,
      'device needs no update to applied connection "vlan2"',
      'no changes were applied for provider oci',
    ]);
    expect(second.stdout).not.toContain('creating');
    expect(callsOf(fake, 'AddAndActivateConnection')).toHaveLength(2);
    expect(callsOf(fake, 'Reapply')).toHaveLength(1);
  });

  it('bare metal with NM_CLOUD_SETUP_MAP_INTERFACES: the MACVLAN names its parent instead of matching its MAC', async ({
    expect,
    onTestFinished,
  }) => {
    const h = await oci.start(onTestFinished, ociMetadata(BAREMETAL_VNICS));
    // CI's veths: the permanent MACs are not the metadata's; only the map ties them together.
    const fake = await h.startNm([
      {
        iface: 'eth0',
        type: 'ethernet',
        hwaddr: '02:00:00:00:00:01',
        profile: ethernetProfile({ id: 'con-eth0', ipv4: { method: 'auto' } }),
      },
      { iface: 'eth1', type: 'ethernet', hwaddr: '02:00:00:00:00:02', profile: ethernetProfile({ id: 'con-eth1', ipv4: null }) },
    ]);
    const outcome = await h.run({ NM_CLOUD_SETUP_MAP_INTERFACES: `eth0=${HW1};eth1=${HW2}` });
    expect(outcome.code).toBe(0);
    expectInOrder(outcome.stdout, [
      `found interfaces: ${HW1}, ${HW2}`,
      `config device ${VNIC_MAC}: creating macvlan2 connection for VLAN 700 on ${HW1}...`,
      `config device ${VNIC_MAC}: creating vlan connection for VLAN 700 on ${VNIC_MAC}...`,
      'some changes were applied for provider oci',
    ]);
    const [macvlan, vlan] = callsOf(fake, 'AddAndActivateConnection');
    expect(plainSettings(macvlan!.args[0])).toEqual({
      connection: { id: 'macvlan2', type: 'macvlan', 'interface-name': 'macvlan2' },
      macvlan: { mode: 1, parent: 'eth0' },
      ipv4: { method: 'disabled' },
      ipv6: { method: 'disabled' },
      '802-3-ethernet': { 'cloned-mac-address': macArray(VNIC_MAC) },
      user: { data: ORIGIN },
    });
    expect(plainSettings(vlan!.args[0])['vlan']).toEqual({ parent: 'macvlan2', id: 700 });
    expect(callsOf(fake, 'Reapply').map((call) => call.path)).toEqual([fake.device('eth0').path]);
  });

  it('bare metal on a daemon whose AddAndActivate cannot create software devices (NM 1.42): AddConnection + ActivateConnection', async ({
    expect,
    onTestFinished,
  }) => {
    const h = await oci.start(onTestFinished, ociMetadata(BAREMETAL_VNICS));
    const fake = await h.startNm(undefined, { addAndActivateNeedsExistingSoftwareDevice: true });
    const first = await h.run();
    expect(first.code).toBe(0);
    expectInOrder(first.stdout, [
      new RegExp(`config device ${VNIC_MAC}: connection "macvlan2" \\(${UUID}\\) created`),
      new RegExp(`config device ${VNIC_MAC}: connection "vlan2" \\(${UUID}\\) created`),
      'some changes were applied for provider oci',
    ]);
    expect(first.stdout).not.toContain('<warn>');
    expect(callsOf(fake, 'AddAndActivateConnection').map((call) => call.error)).toEqual([
      'org.freedesktop.NetworkManager.UnknownDevice',
      'org.freedesktop.NetworkManager.UnknownDevice',
    ]);
    // The same settings went to AddConnection, then each new profile was activated on "/".
    const added = callsOf(fake, 'AddConnection');
    expect(added.map((call) => plainSettings(call.args[0])['connection']?.['id'])).toEqual(['macvlan2', 'vlan2']);
    expect(callsOf(fake, 'ActivateConnection').map((call) => call.args.slice(1))).toEqual([
      ['/', '/'],
      ['/', '/'],
    ]);
    expect(callsOf(fake, 'Delete')).toEqual([]);
    expect(
      fake
        .devices()
        .slice(2)
        .map((device) => device.iface),
    ).toEqual(['macvlan2', 'macvlan2.700']);

    const second = await h.run();
    expect(second.stdout).toContain('no changes were applied for provider oci');
    expect(callsOf(fake, 'AddConnection')).toHaveLength(2);
  });

  it('bare metal with NM_CLOUD_SETUP_ALLOW_NEW_CONN=no: no MACVLAN/VLAN profiles are created', async ({ expect, onTestFinished }) => {
    const h = await oci.start(onTestFinished, ociMetadata(BAREMETAL_VNICS));
    const fake = await h.startNm();
    const outcome = await h.run({ NM_CLOUD_SETUP_ALLOW_NEW_CONN: 'no' });
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).not.toContain('creating');
    expect(outcome.stdout).toContain(`config device ${VNIC_MAC}: skip because device not found`);
    expect(callsOf(fake, 'AddAndActivateConnection')).toEqual([]);
    expect(callsOf(fake, 'Reapply').map((call) => call.path)).toEqual([fake.device('eth0').path]);
  });

  it('VM: a DISCONNECTED VNIC gets a new Ethernet profile; the second run creates nothing', async ({ expect, onTestFinished }) => {
    const h = await oci.start(onTestFinished);
    const fake = await h.startNm(VM_VNIC_DEVICES);

    const first = await h.run();
    expect(first.code).toBe(0);
    expectInOrder(first.stdout, [
      'provider oci detected',
      `found interfaces: ${HW1}, ${HW2}`,
      'get-config: starting',
      'get-config: success',
      'meta data received',
      // The interface name, not the MAC; the fake, like NM's mock, names it connection-<N>.
      new RegExp(`config device eth0: connection "connection-2" \\(${UUID}\\) created`),
      `config device ${HW2}: skip applied connection due to missing IPv4 configuration`,
      'some changes were applied for provider oci',
    ]);
    expect(first.stdout).not.toContain(`config device ${HW1}: configuring`);

    const [add, ...more] = callsOf(fake, 'AddAndActivateConnection');
    expect(more).toEqual([]);
    expect(add?.error).toBeUndefined();
    expect(add!.args.slice(1)).toEqual([fake.device('eth0').path, '/']);
    // No id or uuid: NM fills them in. No profile part: the device had no active connection.
    expect(plainSettings(add!.args[0])).toEqual({
      connection: { type: '802-3-ethernet' },
      '802-3-ethernet': { 'mac-address': macArray(MAC1) },
      ipv4: { method: 'manual', ...ETH0_LISTS },
      user: { data: ORIGIN },
    });
    expect(callsOf(fake, 'Reapply')).toEqual([]);
    const eth0 = fake.device('eth0');
    expect(eth0.state).toBe(100);
    expect(plainSettings(eth0.profile)['connection']?.['id']).toBe('connection-2');

    const second = await h.run();
    expect(second.code).toBe(0);
    expectInOrder(second.stdout, [
      'provider oci detected',
      'meta data received',
      `config device ${HW1}: configuring "eth0"`,
      'device needs no update to applied connection "connection-2"',
      `config device ${HW2}: skip applied connection due to missing IPv4 configuration`,
      'no changes were applied for provider oci',
    ]);
    expect(callsOf(fake, 'AddAndActivateConnection')).toHaveLength(1);
    expect(callsOf(fake, 'Reapply')).toEqual([]);
  });

  it('VM with a single VNIC: the new profile would be "manual" without addresses; NM refuses, no change', async ({
    expect,
    onTestFinished,
  }) => {
    // One valid interface with one address: the single-address shortcut adds no addresses,
    // so the created profile has none and NM rejects it, as with upstream.
    const h = await oci.start(onTestFinished, ociMetadata([VM_VNICS[0]]));
    const fake = await h.startNm(VM_VNIC_DEVICES);
    const outcome = await h.run();
    expect(outcome.code).toBe(0);
    expectInOrder(outcome.stdout, [
      'meta data received',
      'config device eth0: failure to activate connection: ',
      'no changes were applied for provider oci',
    ]);
    const [add, ...more] = callsOf(fake, 'AddAndActivateConnection');
    expect(more).toEqual([]);
    expect(add?.error).toBe('org.freedesktop.NetworkManager.Settings.Connection.MissingProperty');
    expect(plainSettings(add!.args[0])['ipv4']).toEqual({ method: 'manual', 'address-data': [], 'route-data': [], 'routing-rules': [] });
    expect(fake.device('eth0').state).toBe(30);
  });

  it('VM with NM_CLOUD_SETUP_ALLOW_NEW_CONN=no: a DISCONNECTED device gets no profile', async ({ expect, onTestFinished }) => {
    const h = await oci.start(onTestFinished);
    const fake = await h.startNm(VM_VNIC_DEVICES);
    const outcome = await h.run({ NM_CLOUD_SETUP_ALLOW_NEW_CONN: 'no' });
    expect(outcome.code).toBe(0);
    expectInOrder(outcome.stdout, [
      'meta data received',
      new RegExp(`config device ${HW1}: device has no applied connection \\(.+\\)\\. Skip`),
      `config device ${HW2}: skip applied connection due to missing IPv4 configuration`,
      'no changes were applied for provider oci',
    ]);
    expect(callsOf(fake, 'AddAndActivateConnection')).toEqual([]);
    expect(fake.device('eth0').state).toBe(30);
  });
});

describe('EC2 and NM_CLOUD_SETUP_ALLOW_NEW_CONN', () => {
  const ec2 = fakeNmCloud('EC2', () => ({ ec2Token: EC2_TOKEN, paths: upstreamEc2Paths() }));

  it('off by default on EC2; with =yes a DISCONNECTED device gets a new Ethernet profile', async ({ expect, onTestFinished }) => {
    const h = await ec2.start(onTestFinished);
    const fake = await h.startNm(VM_VNIC_DEVICES);

    const byDefault = await h.run();
    expect(byDefault.stdout).toMatch(/config device CC:00:00:00:00:01: device has no applied connection \(.+\)\. Skip/);
    expect(byDefault.stdout).toContain('no changes were applied for provider ec2');
    expect(callsOf(fake, 'AddAndActivateConnection')).toEqual([]);

    const allowed = await h.run({ NM_CLOUD_SETUP_ALLOW_NEW_CONN: 'yes' });
    expect(allowed.code).toBe(0);
    expectInOrder(allowed.stdout, [
      'provider ec2 detected',
      'meta data received',
      `config device ${HW2}: skip applied connection due to missing IPv4 configuration`,
      new RegExp(`config device eth0: connection "connection-2" \\(${UUID}\\) created`),
      'some changes were applied for provider ec2',
    ]);
    const [add, ...more] = callsOf(fake, 'AddAndActivateConnection');
    expect(more).toEqual([]);
    expect(add!.args.slice(1)).toEqual([fake.device('eth0').path, '/']);
    // eth0 is interface 1 in upstream's EC2 data (listing order mac2, mac1).
    expect(plainSettings(add!.args[0])).toEqual({
      connection: { type: '802-3-ethernet' },
      '802-3-ethernet': { 'mac-address': macArray(MAC1) },
      ipv4: {
        method: 'manual',
        'address-data': [{ address: IP2, prefix: 20 }],
        'route-data': [
          { dest: '172.31.176.0', prefix: 20, metric: 10, table: 30201 },
          { dest: '0.0.0.0', prefix: 0, 'next-hop': '172.31.160.1', metric: 10, table: 30401 },
        ],
        'routing-rules': [
          { family: 2, priority: 30201, from: IP2, 'from-len': 32, table: 30201 },
          { family: 2, priority: 30350, table: 254, 'suppress-prefixlength': 0 },
          { family: 2, priority: 30401, from: IP2, 'from-len': 32, table: 30401 },
        ],
      },
      user: { data: ORIGIN },
    });
    expect(fake.device('eth0').state).toBe(100);
  });
});
