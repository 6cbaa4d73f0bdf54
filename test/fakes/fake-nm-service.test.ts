// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Contract tests for the fake NetworkManager, through raw dbus-next proxies (and busctl once),
 * never through the product's code.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DBusError, sessionBus, Variant, type ClientInterface, type MessageBus } from 'dbus-next';
import { startPrivateBus, type PrivateBus } from '../harness/dbus-daemon.js';
import {
  ethernetProfile,
  macToBytes,
  routeData,
  ruleData,
  startFakeNm,
  toPlain,
  type FakeDeviceSpec,
  type FakeNm,
  type FakeNmOptions,
  type Settings,
} from './fake-nm-service.js';

const NM = 'org.freedesktop.NetworkManager';
const NM_PATH = '/org/freedesktop/NetworkManager';
const DEV1 = `${NM_PATH}/Devices/1`;
const DEV2 = `${NM_PATH}/Devices/2`;
const DEV3 = `${NM_PATH}/Devices/3`;

const DEVICES: FakeDeviceSpec[] = [
  {
    iface: 'eth0',
    type: 'ethernet',
    hwaddr: 'cc:00:00:00:00:01',
    profile: ethernetProfile({
      id: 'con-eth0',
      uuid: '00000000-0000-4000-8000-000000000001',
      interfaceName: 'eth0',
      mac: 'cc:00:00:00:00:01',
      ipv4: {
        method: 'manual',
        addresses: [{ address: '172.31.26.249', prefix: 20 }],
        gateway: '172.31.16.1',
        routes: [{ dest: '10.0.0.0', prefix: 8, nextHop: '172.31.16.1', metric: 5, table: 254 }],
        routingRules: [{ priority: 100, from: '172.31.26.249', table: 254 }],
      },
    }),
  },
  { iface: 'eth1', type: 'veth', hwaddr: 'cc:00:00:00:00:02', permHwaddr: 'cc:00:00:00:00:22', profile: { id: 'con-eth1', ipv4: null } },
  { iface: 'eth2', type: 'ethernet', hwaddr: 'cc:00:00:00:00:03' },
  { iface: 'bond0', type: 'bond', hwaddr: 'cc:00:00:00:00:04', state: 20 },
];

let bus: PrivateBus;
let client: MessageBus;
let fake: FakeNm | undefined;

beforeAll(async () => {
  bus = await startPrivateBus();
  client = sessionBus({ busAddress: bus.address });
  client.on('error', () => {});
});

afterAll(async () => {
  client?.disconnect();
  await bus?.stop();
});

afterEach(async () => {
  await fake?.stop();
  fake = undefined;
});

async function start(extra: Partial<FakeNmOptions> = {}): Promise<FakeNm> {
  fake = await startFakeNm({ address: bus.address, devices: DEVICES, ...extra });
  return fake;
}

async function iface(path: string, name: string): Promise<ClientInterface> {
  return (await client.getProxyObject(NM, path)).getInterface(name);
}

async function prop(path: string, ifaceName: string, name: string): Promise<unknown> {
  const props = await iface(path, 'org.freedesktop.DBus.Properties');
  const value = (await props['Get']!(ifaceName, name)) as Variant;
  return value.value;
}

async function device(path: string): Promise<ClientInterface> {
  return iface(path, `${NM}.Device`);
}

async function getApplied(path: string): Promise<[Settings, bigint]> {
  return (await (
    await device(path)
  )['GetAppliedConnection']!(0)) as [Settings, bigint];
}

async function dbusErrorOf(p: Promise<unknown>): Promise<DBusError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DBusError);
  return err as DBusError;
}

/** What a correct client sends: the applied connection minus the legacy ipv4 keys. */
function withoutLegacy(s: Settings): Settings {
  const { addresses: _a, routes: _r, ...ipv4 } = s['ipv4'] ?? {};
  return { ...s, ipv4 };
}

describe('manager', () => {
  it('lists devices in order via GetDevices and the Devices property', async () => {
    await start();
    const mgr = await iface(NM_PATH, NM);
    const paths = [DEV1, DEV2, DEV3, `${NM_PATH}/Devices/4`];
    expect(await mgr['GetDevices']!()).toEqual(paths);
    expect(await mgr['GetAllDevices']!()).toEqual(paths);
    expect(await prop(NM_PATH, NM, 'Devices')).toEqual(paths);
    expect(await prop(NM_PATH, NM, 'Version')).toBe('1.42.4');
    expect(await prop(NM_PATH, NM, 'VersionInfo')).toEqual([(1 << 16) | (42 << 8) | 4]);
  });

  it('omits VersionInfo entirely when versionInfo is null, like old daemons', async () => {
    await start({ version: '1.40.0', versionInfo: null });
    const err = await dbusErrorOf(prop(NM_PATH, NM, 'VersionInfo'));
    expect(err.type).toBe('org.freedesktop.DBus.Error.InvalidArgs');
    const props = await iface(NM_PATH, 'org.freedesktop.DBus.Properties');
    const all = (await props['GetAll']!(NM)) as Record<string, Variant>;
    expect(Object.keys(all).sort()).toEqual(['AllDevices', 'Devices', 'Version']);
    expect(all['Version']!.value).toBe('1.40.0');
  });
});

describe('device properties', () => {
  it('exports Device and (for ethernet/veth only) Device.Wired, MACs upper-case', async () => {
    await start();
    const dev = `${NM}.Device`;
    expect(await prop(DEV1, dev, 'Interface')).toBe('eth0');
    expect(await prop(DEV1, dev, 'DeviceType')).toBe(1);
    expect(await prop(DEV1, dev, 'State')).toBe(100);
    expect(await prop(DEV1, dev, 'HwAddress')).toBe('CC:00:00:00:00:01');
    expect(await prop(DEV1, dev, 'ActiveConnection')).toMatch(/^\/org\/freedesktop\/NetworkManager\/ActiveConnection\/\d+$/);
    expect(await prop(DEV2, dev, 'DeviceType')).toBe(20);
    expect(await prop(DEV2, `${NM}.Device.Wired`, 'PermHwAddress')).toBe('CC:00:00:00:00:22');
    expect(await prop(DEV3, dev, 'State')).toBe(30);
    expect(await prop(DEV3, dev, 'ActiveConnection')).toBe('/');
    const bond = await client.getProxyObject(NM, `${NM_PATH}/Devices/4`);
    expect(Object.keys(bond.interfaces)).not.toContain(`${NM}.Device.Wired`);
    expect(await prop(`${NM_PATH}/Devices/4`, dev, 'DeviceType')).toBe(10);
  });

  it('exports the active connection and its settings profile', async () => {
    await start();
    const ac = (await prop(DEV1, `${NM}.Device`, 'ActiveConnection')) as string;
    const active = `${NM}.Connection.Active`;
    expect(await prop(ac, active, 'Id')).toBe('con-eth0');
    expect(await prop(ac, active, 'Uuid')).toBe('00000000-0000-4000-8000-000000000001');
    expect(await prop(ac, active, 'Type')).toBe('802-3-ethernet');
    expect(await prop(ac, active, 'State')).toBe(2);
    expect(await prop(ac, active, 'Devices')).toEqual([DEV1]);
    const settingsPath = (await prop(ac, active, 'Connection')) as string;
    const settings = (await (await iface(settingsPath, `${NM}.Settings.Connection`))['GetSettings']!()) as Settings;
    expect(toPlain(settings['connection']!['id'])).toBe('con-eth0');
  });
});

describe('GetAppliedConnection', () => {
  it('returns a{sa{sv}} with real signatures and a BigInt version id', async () => {
    const nm = await start();
    const [applied, versionId] = await getApplied(DEV1);
    expect(typeof versionId).toBe('bigint');
    expect(versionId).toBe(nm.device('eth0').versionId);
    expect(versionId > 2n ** 53n).toBe(true);
    expect(applied['connection']!['timestamp']!.signature).toBe('t');
    expect(typeof applied['connection']!['timestamp']!.value).toBe('bigint');
    const mac = applied['802-3-ethernet']!['mac-address']!;
    expect(mac.signature).toBe('ay');
    expect(Buffer.isBuffer(mac.value)).toBe(true);
    expect([...(mac.value as Buffer)]).toEqual([0xcc, 0, 0, 0, 0, 1]);

    const ipv4 = applied['ipv4']!;
    expect(ipv4['address-data']!.signature).toBe('aa{sv}');
    expect(toPlain(ipv4['address-data'])).toEqual([{ address: '172.31.26.249', prefix: 20 }]);
    const entry = (ipv4['address-data']!.value as Record<string, Variant>[])[0]!;
    expect(entry['prefix']!.signature).toBe('u');
    // legacy duplicates, in network byte order read as a little-endian u32
    expect(ipv4['addresses']!.signature).toBe('aau');
    expect(ipv4['addresses']!.value).toEqual([[0xf91a1fac, 20, 0x01101fac]]);
    expect(ipv4['routes']!.value).toEqual([[0x0000000a, 8, 0x01101fac, 5]]);
    expect(toPlain(ipv4['route-data'])).toEqual([{ dest: '10.0.0.0', prefix: 8, 'next-hop': '172.31.16.1', metric: 5, table: 254 }]);
    expect(toPlain(ipv4['routing-rules'])).toEqual([{ family: 2, priority: 100, from: '172.31.26.249', 'from-len': 32, table: 254 }]);
    const rule = (ipv4['routing-rules']!.value as Record<string, Variant>[])[0]!;
    expect([rule['family']!.signature, rule['from-len']!.signature]).toEqual(['i', 'y']);
    expect(applied['ipv6']!['addresses']!.signature).toBe('a(ayuay)');
  });

  it('returns a device without ipv4 as such, and fails with NotActive on an inactive device', async () => {
    const nm = await start();
    const [applied] = await getApplied(DEV2);
    expect(applied['ipv4']).toBeUndefined();
    expect(toPlain(applied['connection']!['id'])).toBe('con-eth1');

    const err = await dbusErrorOf(getApplied(DEV3));
    expect(err.type).toBe('org.freedesktop.NetworkManager.Device.NotActive');
    expect(err.text).toBe('Device is not activated');
    expect(nm.calls.at(-1)).toMatchObject({ member: 'GetAppliedConnection', path: DEV3, error: err.type });
  });
});

describe('Reapply', () => {
  const newIpv4 = (s: Settings): Settings => {
    const next = withoutLegacy(s);
    next['ipv4'] = {
      ...next['ipv4'],
      'address-data': new Variant('aa{sv}', [
        { address: new Variant('s', '172.31.26.249'), prefix: new Variant('u', 20) },
        { address: new Variant('s', '172.31.27.1'), prefix: new Variant('u', 20) },
      ]),
      'route-data': new Variant('aa{sv}', [routeData({ dest: '0.0.0.0', prefix: 0, nextHop: '172.31.16.1', metric: 10, table: 30400 })]),
      'routing-rules': new Variant('aa{sv}', [ruleData({ priority: 30350, table: 254, suppressPrefixlength: 0 })]),
    };
    return next;
  };

  it('with the current version id bumps it; the next GetAppliedConnection returns the new settings', async () => {
    const nm = await start();
    const profileBefore = nm.device('eth0').profile;
    const [applied, v1] = await getApplied(DEV1);
    await (
      await device(DEV1)
    )['Reapply']!(newIpv4(applied), v1, 1);

    const [again, v2] = await getApplied(DEV1);
    expect(v2).toBe(v1 + 1n);
    expect(toPlain(again['ipv4']!['address-data'])).toEqual([
      { address: '172.31.26.249', prefix: 20 },
      { address: '172.31.27.1', prefix: 20 },
    ]);
    expect(again['ipv4']!['addresses']!.value).toHaveLength(2);
    expect(toPlain(again['ipv4']!['route-data'])).toEqual([
      { dest: '0.0.0.0', prefix: 0, 'next-hop': '172.31.16.1', metric: 10, table: 30400 },
    ]);
    expect(toPlain(again['ipv4']!['routing-rules'])).toEqual([{ family: 2, priority: 30350, table: 254, 'suppress-prefixlength': 0 }]);

    // the in-process view keeps the received Variants; the profile is untouched
    const view = nm.device('eth0');
    expect(view.versionId).toBe(v2);
    const rules = view.applied!['ipv4']!['routing-rules']!.value as Record<string, Variant>[];
    expect(rules[0]!['suppress-prefixlength']!.signature).toBe('i');
    expect(view.profile).toEqual(profileBefore);
    const reapply = nm.calls.find((c) => c.member === 'Reapply')!;
    expect(reapply).toMatchObject({ path: DEV1, args: [expect.anything(), v1, 1] });
    expect(reapply.error).toBeUndefined();
  });

  it('does not change GetSettings (the persistent profile)', async () => {
    await start();
    const ac = (await prop(DEV1, `${NM}.Device`, 'ActiveConnection')) as string;
    const sc = await iface((await prop(ac, `${NM}.Connection.Active`, 'Connection')) as string, `${NM}.Settings.Connection`);
    const before = toPlain(await sc['GetSettings']!());
    const [applied, v1] = await getApplied(DEV1);
    await (
      await device(DEV1)
    )['Reapply']!(newIpv4(applied), v1, 0);
    expect(toPlain(await sc['GetSettings']!())).toEqual(before);
    expect((toPlain(await sc['GetSettings']!()) as { ipv4: { addresses: unknown } }).ipv4.addresses).toEqual([
      [0xf91a1fac, 20, 0x01101fac],
    ]);
  });

  it('with a stale version id fails with VersionIdMismatch; 0 skips the check', async () => {
    const nm = await start();
    const dev = await device(DEV1);
    const [applied, v1] = await getApplied(DEV1);
    const err = await dbusErrorOf(dev['Reapply']!(newIpv4(applied), v1 - 1n, 0));
    expect(err.type).toBe('org.freedesktop.NetworkManager.Device.VersionIdMismatch');
    expect(nm.device('eth0').versionId).toBe(v1);
    await dev['Reapply']!(newIpv4(applied), 0n, 0);
    expect(nm.device('eth0').versionId).toBe(v1 + 1n);
  });

  it('bumpVersionOnNextGetApplied simulates a concurrent reapply', async () => {
    const nm = await start();
    nm.bumpVersionOnNextGetApplied('eth0', 2);
    const dev = await device(DEV1);
    for (let i = 0; i < 2; i++) {
      const [applied, v] = await getApplied(DEV1);
      const err = await dbusErrorOf(dev['Reapply']!(newIpv4(applied), v, 1));
      expect(err.type).toBe('org.freedesktop.NetworkManager.Device.VersionIdMismatch');
    }
    const [applied, v] = await getApplied(DEV1);
    await dev['Reapply']!(newIpv4(applied), v, 1);
    expect(nm.calls.map((c) => [c.member, c.error ?? 'ok'])).toEqual([
      ['GetAppliedConnection', 'ok'],
      ['Reapply', 'org.freedesktop.NetworkManager.Device.VersionIdMismatch'],
      ['GetAppliedConnection', 'ok'],
      ['Reapply', 'org.freedesktop.NetworkManager.Device.VersionIdMismatch'],
      ['GetAppliedConnection', 'ok'],
      ['Reapply', 'ok'],
    ]);
  });

  it('rejects bad flags with Device.Failed, and flag 1 too when rejectPreserveExternalIp is set', async () => {
    await start({ rejectPreserveExternalIp: true });
    const dev = await device(DEV1);
    const [applied, v] = await getApplied(DEV1);
    for (const flags of [2, 1]) {
      const err = await dbusErrorOf(dev['Reapply']!(newIpv4(applied), v, flags));
      expect(err.type).toBe('org.freedesktop.NetworkManager.Device.Failed');
    }
    await dev['Reapply']!(newIpv4(applied), v, 0);
  });

  it('fails with NotActive on an inactive device', async () => {
    await start();
    const err = await dbusErrorOf((await device(DEV3))['Reapply']!({}, 0n, 0));
    expect(err.type).toBe('org.freedesktop.NetworkManager.Device.NotActive');
  });

  it('lets legacy ipv4 addresses/routes win over address-data/route-data, like the daemon', async () => {
    const nm = await start();
    const [applied, v] = await getApplied(DEV1);
    const echoed = newIpv4(applied);
    echoed['ipv4'] = { ...echoed['ipv4'], addresses: applied['ipv4']!['addresses']!, routes: new Variant('aau', []) };
    await (
      await device(DEV1)
    )['Reapply']!(echoed, v, 0);
    const after = nm.device('eth0').applied!['ipv4']!;
    expect(toPlain(after['address-data'])).toEqual([{ address: '172.31.26.249', prefix: 20 }]);
    expect(toPlain(after['route-data'])).toEqual([]);
    expect(after['addresses']).toBeUndefined();
  });

  it('rejects wrong signatures and unknown route attributes with InvalidProperty', async () => {
    await start();
    const dev = await device(DEV1);
    const [applied, v] = await getApplied(DEV1);
    const bad = withoutLegacy(applied);
    bad['ipv4'] = {
      ...bad['ipv4'],
      'address-data': new Variant('aa{sv}', [{ address: new Variant('s', '10.0.0.1'), prefix: new Variant('i', 8) }]),
    };
    expect((await dbusErrorOf(dev['Reapply']!(bad, v, 0))).type).toBe('org.freedesktop.NetworkManager.Settings.Connection.InvalidProperty');
    bad['ipv4'] = {
      ...withoutLegacy(applied)['ipv4'],
      'route-data': new Variant('aa{sv}', [{ ...routeData({ dest: '0.0.0.0', prefix: 0 }), tabel: new Variant('u', 1) }]),
    };
    expect((await dbusErrorOf(dev['Reapply']!(bad, v, 0))).text).toMatch(/unknown attribute 'tabel'/);
    bad['ipv4'] = { ...withoutLegacy(applied)['ipv4'], 'address-data': new Variant('aa{sv}', []) };
    expect((await dbusErrorOf(dev['Reapply']!(bad, v, 0))).type).toBe('org.freedesktop.NetworkManager.Settings.Connection.MissingProperty');
  });
});

describe('AddAndActivateConnection', () => {
  const vlanProfile = (): Settings => ({
    connection: { id: new Variant('s', 'vlan1'), type: new Variant('s', 'vlan') },
    vlan: { id: new Variant('u', 700), parent: new Variant('s', 'macvlan1') },
    '802-3-ethernet': {
      'mac-address': new Variant('ay', macToBytes('c0:00:00:00:00:10')),
      'cloned-mac-address': new Variant('ay', macToBytes('c0:00:00:00:00:10')),
    },
    ipv4: {
      method: new Variant('s', 'manual'),
      'address-data': new Variant('aa{sv}', [{ address: new Variant('s', '10.0.7.2'), prefix: new Variant('u', 24) }]),
    },
    user: { data: new Variant('a{ss}', { 'org.freedesktop.NetworkManager.origin': 'nm-cloud-setup' }) },
  });

  it('creates and activates a VLAN device for a vlan profile on device "/"', async () => {
    const nm = await start();
    const mgr = await iface(NM_PATH, NM);
    const [settingsPath, activePath] = (await mgr['AddAndActivateConnection']!(vlanProfile(), '/', '/')) as [string, string];
    expect(settingsPath).toMatch(/\/Settings\/\d+$/);
    const devPath = `${NM_PATH}/Devices/5`;
    expect(await mgr['GetDevices']!()).toContain(devPath);
    expect(await prop(devPath, `${NM}.Device`, 'DeviceType')).toBe(11);
    expect(await prop(devPath, `${NM}.Device`, 'HwAddress')).toBe('C0:00:00:00:00:10');
    expect(await prop(devPath, `${NM}.Device`, 'Interface')).toBe('macvlan1.700');
    expect(await prop(devPath, `${NM}.Device`, 'State')).toBe(100);
    expect(await prop(devPath, `${NM}.Device`, 'ActiveConnection')).toBe(activePath);
    expect(await prop(activePath, `${NM}.Connection.Active`, 'Id')).toBe('vlan1');
    expect(await prop(activePath, `${NM}.Connection.Active`, 'Uuid')).toMatch(/^[0-9a-f-]{36}$/);
    const [applied] = await getApplied(devPath);
    expect(toPlain(applied['ipv4']!['address-data'])).toEqual([{ address: '10.0.7.2', prefix: 24 }]);
    expect(nm.calls.at(-2)).toMatchObject({ member: 'AddAndActivateConnection', path: NM_PATH, args: [expect.anything(), '/', '/'] });
  });

  it('creates a MACVLAN device (type 18) via AddAndActivateConnection2', async () => {
    await start();
    const mgr = await iface(NM_PATH, NM);
    const macvlan: Settings = {
      connection: { id: new Variant('s', 'macvlan1'), type: new Variant('s', 'macvlan'), 'interface-name': new Variant('s', 'macvlan1') },
      macvlan: { mode: new Variant('u', 1) },
      '802-3-ethernet': {
        'mac-address': new Variant('ay', macToBytes('cc:00:00:00:00:01')),
        'cloned-mac-address': new Variant('ay', macToBytes('c0:00:00:00:00:10')),
      },
      ipv4: { method: new Variant('s', 'disabled') },
      ipv6: { method: new Variant('s', 'disabled') },
    };
    const [, , result] = (await mgr['AddAndActivateConnection2']!(macvlan, '/', '/', {})) as [string, string, unknown];
    expect(result).toEqual({});
    const devPath = `${NM_PATH}/Devices/5`;
    expect(await prop(devPath, `${NM}.Device`, 'DeviceType')).toBe(18);
    expect(await prop(devPath, `${NM}.Device`, 'Interface')).toBe('macvlan1');
    expect(await prop(devPath, `${NM}.Device`, 'HwAddress')).toBe('C0:00:00:00:00:10');
  });

  it('activates an ethernet profile on a disconnected device, filling in id and uuid', async () => {
    const nm = await start();
    const mgr = await iface(NM_PATH, NM);
    const eth: Settings = {
      connection: { type: new Variant('s', '802-3-ethernet') },
      '802-3-ethernet': { 'mac-address': new Variant('ay', macToBytes('cc:00:00:00:00:03')) },
      ipv4: {
        method: new Variant('s', 'manual'),
        'address-data': new Variant('aa{sv}', [{ address: new Variant('s', '10.0.3.2'), prefix: new Variant('u', 24) }]),
      },
    };
    const [settingsPath, activePath] = (await mgr['AddAndActivateConnection']!(eth, DEV3, '/')) as [string, string];
    expect(settingsPath).toBe(`${NM_PATH}/Settings/3`);
    expect(await prop(activePath, `${NM}.Connection.Active`, 'Id')).toBe('connection-3');
    expect(nm.device('eth2')).toMatchObject({ state: 100, activeConnection: activePath, settingsPath });

    // wrong MAC for the device → ConnectionNotAvailable, nothing created
    eth['802-3-ethernet'] = { 'mac-address': new Variant('ay', macToBytes('cc:00:00:00:00:99')) };
    const err = await dbusErrorOf(mgr['AddAndActivateConnection']!(eth, DEV3, '/'));
    expect(err.type).toBe('org.freedesktop.NetworkManager.ConnectionNotAvailable');
  });
});

describe('test hooks', () => {
  it('setProfileUserData shows in GetSettings and, after reactivation, in the applied connection', async () => {
    const nm = await start();
    const before = nm.device('eth0');
    nm.setProfileUserData('eth0', 'org.freedesktop.nm-cloud-setup.skip', 'yes');
    const [applied, v] = await getApplied(DEV1);
    expect(toPlain(applied['user'])).toEqual({ data: { 'org.freedesktop.nm-cloud-setup.skip': 'yes' } });
    expect(applied['user']!['data']!.signature).toBe('a{ss}');
    expect(v).not.toBe(before.versionId);
    expect(nm.device('eth0').activeConnection).not.toBe(before.activeConnection);
  });
});

describe('busctl (a non-dbus-next client)', () => {
  it('sees GetAppliedConnection with the daemon signatures', async () => {
    await start();
    const { stdout } = await promisify(execFile)('busctl', [
      `--address=${bus.address}`,
      'call',
      NM,
      DEV1,
      `${NM}.Device`,
      'GetAppliedConnection',
      'u',
      '0',
    ]);
    expect(stdout.startsWith('a{sa{sv}}t ')).toBe(true);
    expect(stdout).toContain('"mac-address" ay 6 204 0 0 0 0 1');
    expect(stdout).toContain('"address-data" aa{sv} 1 2 "address" s "172.31.26.249" "prefix" u 20');
    expect(stdout).toContain(`"addresses" aau 1 3 4179238828 20 17833900`);
    expect(stdout).toContain('"timestamp" t 1700000000');
    expect(stdout.trim().endsWith(` ${fake!.device('eth0').versionId}`)).toBe(true);
  });
});
