// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A fake NetworkManager exported with dbus-next on a private bus (see test/harness/dbus-daemon.ts).
 *
 * It covers only the D-Bus surface nm-cloud-setup uses (behaviour spec, sections 4.1-4.8), but
 * copies the real daemon's wire format and error semantics, NOT those of NM's Python mock
 * (tools/test-networkmanager-service.py, which returns version id 0 and never fails):
 *   - version ids are real u64s (BigInt), start above 2^53 and change on every Reapply;
 *   - GetAppliedConnection on an inactive device fails with Device.NotActive;
 *   - Reapply checks flags, activation state, setting types and the version id;
 *   - ipv4 is returned with BOTH address-data/route-data and the legacy addresses/routes (aau),
 *     and on input the legacy keys win over the new ones, as in the daemon;
 *   - HwAddress/PermHwAddress are upper-case, MACs in settings are `ay`.
 * Test hooks (`calls`, `device()`, ...) are in-process, not on the bus.
 */
import { randomUUID } from 'node:crypto';
import { DBusError, interface as dbusInterface, NameFlag, RequestNameReply, sessionBus, Variant, type MessageBus } from 'dbus-next';

/** a{sa{sv}}: setting name → property → value, every value a dbus-next Variant. */
export type Settings = Record<string, Record<string, Variant>>;

export type FakeDeviceType =
  'ethernet' | 'wifi' | 'bond' | 'vlan' | 'bridge' | 'generic' | 'team' | 'macvlan' | 'veth' | 'dummy' | 'loopback';

/** NMDeviceType. */
export const DEVICE_TYPE: Readonly<Record<FakeDeviceType, number>> = {
  ethernet: 1,
  wifi: 2,
  bond: 10,
  vlan: 11,
  bridge: 13,
  generic: 14,
  team: 15,
  macvlan: 18,
  veth: 20,
  dummy: 22,
  loopback: 32,
};

export interface FakeDeviceSpec {
  iface: string;
  type: FakeDeviceType;
  /** Current MAC; any case, colon form. Exported upper-case, as NM does. */
  hwaddr: string;
  /** Permanent MAC (Device.Wired.PermHwAddress on ethernet/veth); defaults to `hwaddr`. */
  permHwaddr?: string;
  /** NMDeviceState; default 100 (activated) with a profile, 30 (disconnected) without. */
  state?: number;
  /** The device's profile. It is activated (applied = profile) when `state` is 40..100. */
  profile?: Settings | EthernetProfileOptions | null;
  /** IP6Config.Gateway of the active device (a router learned by RA); default "" (none). */
  ipv6Gateway?: string;
}

export interface FakeNmOptions {
  address: string;
  devices: FakeDeviceSpec[];
  /** Manager.Version; default "1.42.4". */
  version?: string;
  /** Manager.VersionInfo; default [encoded `version`]; null omits the property (daemons < 1.42). */
  versionInfo?: number[] | null;
  /** Reapply flag 1 (preserve-external-ip) fails with Device.Failed, as on daemons < 1.41.6. */
  rejectPreserveExternalIp?: boolean;
  /** Version id of the first device; each device gets its own range. Default 2^53 + 1. */
  versionIdBase?: bigint;
  /** Reapply answers only after this long (the change itself is immediate), to test SIGTERM mid-run. */
  reapplyDelayMs?: number;
  /**
   * NM 1.42's AddAndActivateConnection on device "/" cannot create a software device (VLAN,
   * MACVLAN): it fails with UnknownDevice "Failed to find a compatible device for this
   * connection". Settings.AddConnection + ActivateConnection still work.
   */
  addAndActivateNeedsExistingSoftwareDevice?: boolean;
}

export interface FakeNmCall {
  member: string;
  path: string;
  /** The arguments as dbus-next decoded them (Variants, Buffers for `ay`, BigInt for `t`). */
  args: unknown[];
  /** D-Bus error name when the call failed. */
  error?: string;
}

export interface FakeDeviceView {
  readonly path: string;
  readonly iface: string;
  readonly deviceType: number;
  readonly state: number;
  readonly hwAddress: string;
  readonly permHwAddress: string | undefined;
  /** ActiveConnection object path, "/" when none. */
  readonly activeConnection: string;
  /** Copy of the applied connection (legacy ipv4 keys not included), null when not active. */
  readonly applied: Settings | null;
  readonly versionId: bigint;
  /** Copy of the device's persistent profile (what GetSettings returns, minus legacy keys). */
  readonly profile: Settings | null;
  readonly settingsPath: string | null;
}

export interface FakeNm {
  readonly calls: FakeNmCall[];
  /** Errors the service's bus connection emitted. */
  readonly busErrors: unknown[];
  device(iface: string): FakeDeviceView;
  devices(): FakeDeviceView[];
  /** Bump the version id right after each of the next `times` GetAppliedConnection replies. */
  bumpVersionOnNextGetApplied(iface: string, times?: number): void;
  /**
   * Set user.data[key] in the device's profile. With `reactivate` (default) the profile is also
   * re-activated, so the applied connection shows it too (real NM shows it only after that).
   */
  setProfileUserData(iface: string, key: string, value: string, opts?: { reactivate?: boolean }): void;
  stop(): Promise<void>;
}

const NM = 'org.freedesktop.NetworkManager';
const NM_PATH = '/org/freedesktop/NetworkManager';
const ERR = {
  notActive: `${NM}.Device.NotActive`,
  versionIdMismatch: `${NM}.Device.VersionIdMismatch`,
  deviceFailed: `${NM}.Device.Failed`,
  unknownDevice: `${NM}.UnknownDevice`,
  unknownConnection: `${NM}.UnknownConnection`,
  notAvailable: `${NM}.ConnectionNotAvailable`,
  invalidProperty: `${NM}.Settings.Connection.InvalidProperty`,
  missingProperty: `${NM}.Settings.Connection.MissingProperty`,
} as const;
const REAPPLY_PRESERVE_EXTERNAL_IP = 1;

// ------------------------------------------------------------------------------------------------
// Value helpers

const v = (signature: string, value: unknown): Variant => new Variant(signature, value);

/** Deep copy, keeping Variants (and their signatures), Buffers and BigInts. */
function clone<T>(value: T): T {
  if (value instanceof Variant) return new Variant(value.signature, clone(value.value)) as T;
  if (Buffer.isBuffer(value)) return Buffer.from(value) as T;
  if (Array.isArray(value)) return value.map(clone) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, clone(x)])) as T;
  }
  return value;
}

/** Variants unwrapped, Buffers as number arrays: for assertions. */
export function toPlain(value: unknown): unknown {
  if (value instanceof Variant) return toPlain(value.value);
  if (Buffer.isBuffer(value)) return [...value];
  if (Array.isArray(value)) return value.map(toPlain);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, toPlain(x)]));
  }
  return value;
}

export function macToBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

function bytesToMac(bytes: Iterable<number>): string {
  return [...bytes]
    .map((b) => b.toString(16).padStart(2, '0'))
    .join(':')
    .toUpperCase();
}

/*
 * The legacy aau properties carry an in_addr_t (network byte order in memory) read as a native
 * u32; the reference daemon runs little-endian, so 1.2.3.4 travels as 0x04030201.
 */
function ipToLegacy(ip: string | undefined): number {
  if (!ip) return 0;
  const [a = 0, b = 0, c = 0, d = 0] = ip.split('.').map(Number);
  return (a | (b << 8) | (c << 16) | (d << 24)) >>> 0;
}

function legacyToIp(n: number): string {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.');
}

const field = (dict: Record<string, Variant> | undefined, key: string): unknown => dict?.[key]?.value;

// ------------------------------------------------------------------------------------------------
// Profile builder

export interface RouteSpec {
  dest: string;
  prefix: number;
  nextHop?: string;
  metric?: number;
  table?: number;
  type?: string;
}
export interface RuleSpec {
  priority: number;
  from?: string;
  fromLen?: number;
  table?: number;
  suppressPrefixlength?: number;
}

export interface EthernetProfileOptions {
  id: string;
  uuid?: string;
  interfaceName?: string;
  /** 802-3-ethernet.mac-address (sent as `ay`). */
  mac?: string;
  /** Default { method: 'auto' }; null = no ipv4 setting (bond/bridge ports, NM mock's con-eth1). */
  ipv4?: {
    method: string;
    addresses?: { address: string; prefix: number; label?: string }[];
    gateway?: string;
    routes?: RouteSpec[];
    routingRules?: RuleSpec[];
    dns?: string[];
  } | null;
  /** Default { method: 'auto' }; null = no ipv6 setting. */
  ipv6?: { method: string } | null;
  userData?: Record<string, string>;
  /** connection.timestamp (`t`); default 1700000000n, as for a profile that was once active. */
  timestamp?: bigint;
}

export function routeData(r: RouteSpec): Record<string, Variant> {
  const e: Record<string, Variant> = { dest: v('s', r.dest), prefix: v('u', r.prefix) };
  if (r.nextHop !== undefined) e['next-hop'] = v('s', r.nextHop);
  if (r.metric !== undefined) e['metric'] = v('u', r.metric);
  if (r.table !== undefined) e['table'] = v('u', r.table);
  if (r.type !== undefined) e['type'] = v('s', r.type);
  return e;
}

export function ruleData(r: RuleSpec): Record<string, Variant> {
  const e: Record<string, Variant> = { family: v('i', 2), priority: v('u', r.priority) };
  if (r.from !== undefined) {
    e['from'] = v('s', r.from);
    e['from-len'] = v('y', r.fromLen ?? 32);
  }
  if (r.table !== undefined) e['table'] = v('u', r.table);
  if (r.suppressPrefixlength !== undefined) e['suppress-prefixlength'] = v('i', r.suppressPrefixlength);
  return e;
}

/** An 802-3-ethernet profile with the signatures the real daemon uses in GetSettings. */
export function ethernetProfile(o: EthernetProfileOptions): Settings {
  const connection: Record<string, Variant> = {
    id: v('s', o.id),
    uuid: v('s', o.uuid ?? randomUUID()),
    type: v('s', '802-3-ethernet'),
    timestamp: v('t', o.timestamp ?? 1_700_000_000n),
  };
  if (o.interfaceName !== undefined) connection['interface-name'] = v('s', o.interfaceName);
  const s: Settings = { connection, '802-3-ethernet': {} };
  if (o.mac !== undefined) s['802-3-ethernet'] = { 'mac-address': v('ay', macToBytes(o.mac)) };
  const ipv4 = o.ipv4 === undefined ? { method: 'auto' } : o.ipv4;
  if (ipv4) {
    const addressData = (ipv4.addresses ?? []).map((a) => {
      const e: Record<string, Variant> = { address: v('s', a.address), prefix: v('u', a.prefix) };
      if (a.label !== undefined) e['label'] = v('s', a.label);
      return e;
    });
    s['ipv4'] = {
      method: v('s', ipv4.method),
      'address-data': v('aa{sv}', addressData),
      'route-data': v('aa{sv}', (ipv4.routes ?? []).map(routeData)),
      dns: v('au', (ipv4.dns ?? []).map(ipToLegacy)),
      'dns-search': v('as', []),
    };
    if (ipv4.gateway !== undefined) s['ipv4']['gateway'] = v('s', ipv4.gateway);
    if (ipv4.routingRules) s['ipv4']['routing-rules'] = v('aa{sv}', ipv4.routingRules.map(ruleData));
  }
  const ipv6 = o.ipv6 === undefined ? { method: 'auto' } : o.ipv6;
  if (ipv6) {
    // Real profiles carry these odd signatures; a client must echo them back untouched.
    s['ipv6'] = {
      method: v('s', ipv6.method),
      'addr-gen-mode': v('i', 1),
      'address-data': v('aa{sv}', []),
      addresses: v('a(ayuay)', []),
      'route-data': v('aa{sv}', []),
      routes: v('a(ayuayu)', []),
      dns: v('aay', []),
      'dns-search': v('as', []),
    };
  }
  if (o.userData) s['user'] = { data: v('a{ss}', { ...o.userData }) };
  return s;
}

/*
 * What the daemon sends for a connection (GetSettings, GetAppliedConnection): ipv4 always has
 * address-data/route-data AND the legacy addresses/routes, the latter derived from the former
 * (legacy addresses: [addr, prefix, gateway-on-first-only]; routes: [dest, prefix, next-hop, metric]).
 */
function serialize(settings: Settings): Settings {
  const out = clone(settings);
  const ipv4 = out['ipv4'];
  if (!ipv4) return out;
  const ad = (field(ipv4, 'address-data') ?? []) as Record<string, Variant>[];
  const rd = (field(ipv4, 'route-data') ?? []) as Record<string, Variant>[];
  const gateway = field(ipv4, 'gateway') as string | undefined;
  ipv4['address-data'] = v('aa{sv}', ad);
  ipv4['addresses'] = v(
    'aau',
    ad.map((a, i) => [ipToLegacy(field(a, 'address') as string), field(a, 'prefix') as number, i === 0 ? ipToLegacy(gateway) : 0]),
  );
  ipv4['route-data'] = v('aa{sv}', rd);
  ipv4['routes'] = v(
    'aau',
    rd.map((r) => [
      ipToLegacy(field(r, 'dest') as string),
      field(r, 'prefix') as number,
      ipToLegacy(field(r, 'next-hop') as string | undefined),
      (field(r, 'metric') as number | undefined) ?? 0,
    ]),
  );
  return out;
}

/** A profile given as input (not over D-Bus): keep the new-style keys, drop the legacy ones. */
function fromLocal(settings: Settings): Settings {
  const out = clone(settings);
  if (out['ipv4']) {
    delete out['ipv4']['addresses'];
    delete out['ipv4']['routes'];
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Incoming settings: type checks ("strict" parsing) and the legacy-wins quirk

const SIGS: Record<string, Record<string, string>> = {
  connection: {
    id: 's',
    uuid: 's',
    type: 's',
    'interface-name': 's',
    autoconnect: 'b',
    timestamp: 't',
    zone: 's',
    master: 's',
    'slave-type': 's',
    permissions: 'as',
  },
  '802-3-ethernet': {
    'mac-address': 'ay',
    'cloned-mac-address': 'ay',
    'assigned-mac-address': 's',
    mtu: 'u',
    'auto-negotiate': 'b',
    speed: 'u',
    duplex: 's',
  },
  vlan: { id: 'u', parent: 's', flags: 'u' },
  macvlan: { mode: 'u', parent: 's', promiscuous: 'b', tap: 'b' },
  ipv4: {
    method: 's',
    'address-data': 'aa{sv}',
    addresses: 'aau',
    'route-data': 'aa{sv}',
    routes: 'aau',
    'routing-rules': 'aa{sv}',
    gateway: 's',
    dns: 'au',
    'dns-search': 'as',
    'dns-options': 'as',
    'dns-priority': 'i',
    'never-default': 'b',
    'ignore-auto-routes': 'b',
    'ignore-auto-dns': 'b',
    'may-fail': 'b',
    'route-metric': 'x',
    'route-table': 'u',
    'dhcp-client-id': 's',
    'dhcp-timeout': 'i',
    'address-labels': 'as',
  },
  user: { data: 'a{ss}' },
};
const ADDRESS_SIGS: Record<string, string> = { address: 's', prefix: 'u', label: 's' };
const ROUTE_SIGS: Record<string, string> = {
  dest: 's',
  prefix: 'u',
  'next-hop': 's',
  metric: 'u',
  table: 'u',
  type: 's',
  src: 's',
  tos: 'y',
  scope: 'y',
  onlink: 'b',
  window: 'u',
  cwnd: 'u',
  initcwnd: 'u',
  initrwnd: 'u',
  mtu: 'u',
  advmss: 'u',
  rto_min: 'u',
  quickack: 'b',
  weight: 'u',
  'lock-window': 'b',
  'lock-cwnd': 'b',
  'lock-initcwnd': 'b',
  'lock-initrwnd': 'b',
  'lock-mtu': 'b',
  'lock-advmss': 'b',
};
const RULE_SIGS: Record<string, string> = {
  family: 'i',
  priority: 'u',
  from: 's',
  'from-len': 'y',
  to: 's',
  'to-len': 'y',
  table: 'u',
  'suppress-prefixlength': 'i',
  action: 'y',
  invert: 'b',
  fwmark: 'u',
  fwmask: 'u',
  iifname: 's',
  oifname: 's',
  tos: 'y',
  ipproto: 'y',
  'source-port-start': 'q',
  'source-port-end': 'q',
  'destination-port-start': 'q',
  'destination-port-end': 'q',
  'uid-range-start': 'u',
  'uid-range-end': 'u',
  'suppress-ifgroup': 'i',
};

const invalid = (what: string, text: string): DBusError => new DBusError(ERR.invalidProperty, `${what}: ${text}`);

function checkEntries(what: string, entries: Record<string, Variant>[], sigs: Record<string, string>, required: string[]): void {
  entries.forEach((entry, i) => {
    for (const [key, val] of Object.entries(entry)) {
      const want = sigs[key];
      // Unknown route attributes and rule keys fail NM's verify()/strict parsing.
      if (want === undefined) throw invalid(`${what}[${i}]`, `unknown attribute '${key}'`);
      if (val.signature !== want) throw invalid(`${what}[${i}]`, `'${key}' must be of type '${want}', not '${val.signature}'`);
    }
    for (const key of required) if (!(key in entry)) throw invalid(`${what}[${i}]`, `missing '${key}'`);
  });
}

/**
 * Parse settings received over D-Bus like the daemon does (Reapply, AddAndActivate*): reject
 * wrong signatures, let the legacy ipv4 `addresses`/`routes` override address-data/route-data
 * (libnm-core's _nm_setting_use_legacy_property(): in the daemon the legacy key wins whenever it
 * is present, even as an empty array), then verify method vs. addresses.
 */
function fromDbus(received: Settings): Settings {
  for (const [setting, props] of Object.entries(received)) {
    for (const [key, val] of Object.entries(props)) {
      const want = SIGS[setting]?.[key];
      if (want !== undefined && val.signature !== want) {
        throw invalid(`${setting}.${key}`, `can't set property of type '${want}' from value of type '${val.signature}'`);
      }
      if (want === 'ay' && (key === 'mac-address' || key === 'cloned-mac-address') && (val.value as Buffer).length !== 6) {
        throw invalid(`${setting}.${key}`, 'is not a valid MAC address');
      }
    }
  }
  const out = clone(received);
  const ipv4 = out['ipv4'];
  if (!ipv4) return out;
  checkEntries('ipv4.address-data', (field(ipv4, 'address-data') ?? []) as Record<string, Variant>[], ADDRESS_SIGS, ['address', 'prefix']);
  checkEntries('ipv4.route-data', (field(ipv4, 'route-data') ?? []) as Record<string, Variant>[], ROUTE_SIGS, ['dest', 'prefix']);
  const rules = (field(ipv4, 'routing-rules') ?? []) as Record<string, Variant>[];
  checkEntries('ipv4.routing-rules', rules, RULE_SIGS, ['family', 'priority']);
  rules.forEach((r, i) => {
    if (field(r, 'family') !== 2) throw invalid(`ipv4.routing-rules[${i}]`, 'invalid address family');
  });

  const legacyAddresses = field(ipv4, 'addresses') as number[][] | undefined;
  if (legacyAddresses !== undefined) {
    ipv4['address-data'] = v(
      'aa{sv}',
      legacyAddresses.map(([addr = 0, prefix = 0]) => ({
        address: v('s', legacyToIp(addr)),
        prefix: v('u', prefix),
      })),
    );
    const gw = legacyAddresses[0]?.[2];
    if (gw && !ipv4['gateway']) ipv4['gateway'] = v('s', legacyToIp(gw));
    delete ipv4['addresses'];
  }
  const legacyRoutes = field(ipv4, 'routes') as number[][] | undefined;
  if (legacyRoutes !== undefined) {
    ipv4['route-data'] = v(
      'aa{sv}',
      legacyRoutes.map(([dest = 0, prefix = 0, nextHop = 0, metric = 0]) => {
        const e: Record<string, Variant> = { dest: v('s', legacyToIp(dest)), prefix: v('u', prefix), metric: v('u', metric) };
        if (nextHop) e['next-hop'] = v('s', legacyToIp(nextHop));
        return e;
      }),
    );
    delete ipv4['routes'];
  }

  const method = field(ipv4, 'method') as string | undefined;
  const nAddresses = ((field(ipv4, 'address-data') ?? []) as unknown[]).length;
  if (method === 'manual' && nAddresses === 0) {
    throw new DBusError(ERR.missingProperty, "ipv4.addresses: this property cannot be empty for 'method=manual'");
  }
  if ((method === 'disabled' || method === 'link-local') && nAddresses > 0) {
    throw invalid('ipv4.addresses', `this property is not allowed for 'method=${method}'`);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Model

interface Profile {
  n: number;
  path: string;
  settings: Settings;
  iface: SettingsConnectionIface;
}
interface Active {
  path: string;
  profile: Profile;
  device: Device;
  iface: ActiveIface;
}
interface Device {
  n: number;
  path: string;
  iface: string;
  type: number;
  hwAddress: string;
  permHwAddress: string | undefined;
  state: number;
  profile: Profile | null;
  active: Active | null;
  applied: Settings | null;
  versionId: bigint;
  pendingBumps: number;
  /** IP6Config.Gateway; its IP6Config object is exported while the device is active. */
  ipv6Gateway: string;
  dbus: DeviceIface;
}

class FakeNmImpl implements FakeNm {
  readonly calls: FakeNmCall[] = [];
  readonly busErrors: unknown[] = [];
  readonly devs: Device[] = [];
  readonly profiles = new Map<string, Profile>();
  readonly manager: ManagerIface;
  readonly settings: SettingsIface;
  private nextProfile = 1;
  private nextActive = 1;

  constructor(
    readonly bus: MessageBus,
    readonly opts: FakeNmOptions,
  ) {
    this.manager = new ManagerIface(this);
    this.settings = new SettingsIface(this);
  }

  // --- model operations ---

  addDevice(spec: { iface: string; type: number; hwaddr: string; permHwaddr?: string; state: number; ipv6Gateway?: string }): Device {
    const n = this.devs.length + 1;
    const path = `${NM_PATH}/Devices/${n}`;
    const base = this.opts.versionIdBase ?? (1n << 53n) + 1n;
    const wired = spec.type === DEVICE_TYPE.ethernet || spec.type === DEVICE_TYPE.veth;
    const dev: Device = {
      n,
      path,
      iface: spec.iface,
      type: spec.type,
      hwAddress: spec.hwaddr.toUpperCase(),
      permHwAddress: wired ? (spec.permHwaddr ?? spec.hwaddr).toUpperCase() : undefined,
      state: spec.state,
      profile: null,
      active: null,
      applied: null,
      versionId: base + 1000n * BigInt(n - 1),
      pendingBumps: 0,
      ipv6Gateway: spec.ipv6Gateway ?? '',
      dbus: undefined as unknown as DeviceIface,
    };
    dev.dbus = new DeviceIface(this, dev);
    this.devs.push(dev);
    this.bus.export(path, dev.dbus);
    this.bus.export(ip6ConfigPath(dev), new Ip6ConfigIface(dev));
    if (wired) this.bus.export(path, new WiredIface(dev));
    this.manager.DeviceAdded(path);
    dbusInterface.Interface.emitPropertiesChanged(this.manager, { Devices: this.devPaths(), AllDevices: this.devPaths() }, []);
    return dev;
  }

  addProfile(settings: Settings): Profile {
    const n = this.nextProfile++;
    const profile: Profile = { n, path: `${NM_PATH}/Settings/${n}`, settings, iface: undefined as unknown as SettingsConnectionIface };
    profile.iface = new SettingsConnectionIface(this, profile);
    this.profiles.set(profile.path, profile);
    this.bus.export(profile.path, profile.iface);
    return profile;
  }

  /** Activation creates a new ActiveConnection and, like NM, a new version id. */
  activate(dev: Device, profile: Profile): Active {
    if (dev.active) this.bus.unexport(dev.active.path, dev.active.iface);
    const path = `${NM_PATH}/ActiveConnection/${this.nextActive++}`;
    const active: Active = { path, profile, device: dev, iface: undefined as unknown as ActiveIface };
    active.iface = new ActiveIface(active);
    this.bus.export(path, active.iface);
    dev.profile = profile;
    dev.active = active;
    dev.applied = clone(profile.settings);
    dev.versionId += 1n;
    dev.state = 100;
    dbusInterface.Interface.emitPropertiesChanged(dev.dbus, { State: 100, ActiveConnection: path }, []);
    return active;
  }

  devPaths(): string[] {
    return this.devs.map((d) => d.path);
  }

  byIface(iface: string): Device {
    const dev = this.devs.find((d) => d.iface === iface);
    if (!dev) throw new Error(`fake NM: no device ${iface}`);
    return dev;
  }

  record<T>(member: string, path: string, args: unknown[], fn: () => T): T {
    const call: FakeNmCall = { member, path, args };
    this.calls.push(call);
    try {
      return fn();
    } catch (err) {
      call.error = err instanceof DBusError ? err.type : String(err);
      throw err;
    }
  }

  // --- D-Bus methods ---

  getApplied(dev: Device, flags: number): [Settings, bigint] {
    if (flags !== 0) throw new DBusError(ERR.deviceFailed, 'Invalid flags specified');
    if (!dev.applied) throw new DBusError(ERR.notActive, 'Device is not activated');
    const reply: [Settings, bigint] = [serialize(dev.applied), dev.versionId];
    if (dev.pendingBumps > 0) {
      dev.pendingBumps--;
      dev.versionId += 1n; // someone else reapplied in between
    }
    return reply;
  }

  /* Order of checks as in nm-device.c impl_device_reapply(): flags, state, settings, version id. */
  reapply(dev: Device, connection: Settings, versionId: bigint, flags: number): void {
    if ((flags & ~REAPPLY_PRESERVE_EXTERNAL_IP) !== 0 || (flags !== 0 && this.opts.rejectPreserveExternalIp)) {
      throw new DBusError(ERR.deviceFailed, 'Invalid flags specified');
    }
    if (!dev.active || !dev.applied) throw new DBusError(ERR.notActive, 'Device is not activated');
    // An empty dict means "reapply the profile as it is now".
    const next = Object.keys(connection).length === 0 ? clone(dev.active.profile.settings) : fromDbus(connection);
    // 0 means "don't check".
    if (versionId !== 0n && versionId !== dev.versionId) {
      throw new DBusError(ERR.versionIdMismatch, 'Reapply failed because device changed in the meantime and the version-id mismatches');
    }
    dev.applied = next;
    dev.versionId += 1n;
  }

  addAndActivate(connection: Settings, devicePath: string): [string, string] {
    const settings = this.validateNewProfile(connection);
    const type = field(settings['connection'], 'type') as string;
    if (devicePath === '/' && (type === 'vlan' || type === 'macvlan') && this.opts.addAndActivateNeedsExistingSoftwareDevice) {
      throw new DBusError(ERR.unknownDevice, 'Failed to find a compatible device for this connection');
    }
    const dev = this.deviceFor(settings, devicePath);
    const profile = this.addProfile(this.fillIdentity(settings));
    return [profile.path, this.activate(dev, profile).path];
  }

  /** Settings.AddConnection: stores the profile, activates nothing. */
  addConnection(connection: Settings): string {
    return this.addProfile(this.fillIdentity(this.validateNewProfile(connection))).path;
  }

  /** ActivateConnection: a software profile on device "/" creates its device, as in real NM. */
  activateConnection(profilePath: string, devicePath: string): string {
    const profile = this.profiles.get(profilePath);
    if (!profile) throw new DBusError(ERR.unknownConnection, `Connection '${profilePath}' is not known`);
    return this.activate(this.deviceFor(profile.settings, devicePath), profile).path;
  }

  deleteProfile(profilePath: string): void {
    const profile = this.profiles.get(profilePath);
    if (!profile) return;
    this.profiles.delete(profilePath);
    this.bus.unexport(profilePath, profile.iface);
  }

  private validateNewProfile(connection: Settings): Settings {
    const settings = fromDbus(connection);
    const con = (settings['connection'] ??= {});
    if (!field(con, 'type')) throw new DBusError(ERR.missingProperty, 'connection.type: property is missing');
    return settings;
  }

  /* NM fills in a missing id ("Wired connection N"; the Python mock and we say "connection-N"). */
  private fillIdentity(settings: Settings): Settings {
    const con = (settings['connection'] ??= {});
    if (!field(con, 'id')) con['id'] = v('s', `connection-${this.nextProfile}`);
    if (!field(con, 'uuid')) con['uuid'] = v('s', randomUUID());
    return settings;
  }

  private deviceFor(settings: Settings, devicePath: string): Device {
    const type = field(settings['connection'], 'type') as string;
    if (devicePath !== '/') {
      const found = this.devs.find((d) => d.path === devicePath);
      if (!found) throw new DBusError(ERR.unknownDevice, `Cannot activate unknown device ${devicePath}`);
      this.checkCompatible(found, settings, type);
      return found;
    }
    if (type === 'vlan' || type === 'macvlan') {
      return this.addDevice({
        iface: this.virtualIfaceName(settings, type),
        type: DEVICE_TYPE[type],
        hwaddr: this.virtualHwaddr(settings),
        state: 100,
      });
    }
    throw new DBusError(ERR.unknownDevice, 'No suitable device found for this connection');
  }

  private checkCompatible(dev: Device, settings: Settings, type: string): void {
    const why = (reason: string): DBusError =>
      new DBusError(
        ERR.notAvailable,
        `Connection '${String(field(settings['connection'], 'id') ?? '')}' is not available on device ${dev.iface} because ${reason}`,
      );
    const wired = dev.type === DEVICE_TYPE.ethernet || dev.type === DEVICE_TYPE.veth;
    if (type === '802-3-ethernet' && !wired) throw why('device is not compatible with connection');
    const ifname = field(settings['connection'], 'interface-name');
    if (ifname !== undefined && ifname !== dev.iface) throw why('interface-name mismatch');
    const mac = field(settings['802-3-ethernet'], 'mac-address') as Buffer | undefined;
    if (mac && wired && bytesToMac(mac) !== (dev.permHwAddress ?? dev.hwAddress)) throw why('mac address mismatch');
  }

  /* Real NM names a VLAN without interface-name "<parent>.<id>" (nm_utils_new_vlan_name). */
  private virtualIfaceName(settings: Settings, type: 'vlan' | 'macvlan'): string {
    const ifname = field(settings['connection'], 'interface-name') as string | undefined;
    if (ifname) return ifname;
    const parent = field(settings['vlan'], 'parent');
    const id = field(settings['vlan'], 'id');
    if (type === 'vlan' && typeof parent === 'string' && typeof id === 'number') return `${parent}.${id}`.slice(0, 15);
    return `${type}${this.devs.length + 1}`;
  }

  /* The new device takes the cloned MAC (the Python mock does the same; the kernel would too). */
  private virtualHwaddr(settings: Settings): string {
    const eth = settings['802-3-ethernet'];
    const mac = (field(eth, 'cloned-mac-address') ?? field(eth, 'mac-address')) as Buffer | undefined;
    return mac ? bytesToMac(mac) : '02:00:00:00:FF:FF';
  }

  // --- test hooks ---

  device(iface: string): FakeDeviceView {
    return view(this.byIface(iface));
  }

  devices(): FakeDeviceView[] {
    return this.devs.map(view);
  }

  bumpVersionOnNextGetApplied(iface: string, times = 1): void {
    this.byIface(iface).pendingBumps += times;
  }

  setProfileUserData(iface: string, key: string, value: string, opts: { reactivate?: boolean } = {}): void {
    const dev = this.byIface(iface);
    if (!dev.profile) throw new Error(`fake NM: device ${iface} has no profile`);
    const s = dev.profile.settings;
    const data = { ...((field(s['user'], 'data') ?? {}) as Record<string, string>), [key]: value };
    s['user'] = { ...s['user'], data: v('a{ss}', data) };
    if ((opts.reactivate ?? true) && dev.active) this.activate(dev, dev.profile);
  }

  async stop(): Promise<void> {
    try {
      await this.bus.releaseName(NM);
    } catch {
      // the bus may already be gone
    }
    this.bus.disconnect();
  }
}

function view(dev: Device): FakeDeviceView {
  return {
    path: dev.path,
    iface: dev.iface,
    deviceType: dev.type,
    state: dev.state,
    hwAddress: dev.hwAddress,
    permHwAddress: dev.permHwAddress,
    activeConnection: dev.active?.path ?? '/',
    applied: dev.applied && clone(dev.applied),
    versionId: dev.versionId,
    profile: dev.profile && clone(dev.profile.settings),
    settingsPath: dev.profile?.path ?? null,
  };
}

// ------------------------------------------------------------------------------------------------
// D-Bus interfaces (dbus-next: getters are properties, configureMembers instead of decorators)

class ManagerIface extends dbusInterface.Interface {
  constructor(private readonly nm: FakeNmImpl) {
    super(NM);
    // Daemons before 1.42 have no VersionInfo at all: drop it from this instance's table.
    if (nm.opts.versionInfo === null) {
      const self = this as unknown as { $properties: Record<string, unknown> };
      const { VersionInfo: _omit, ...rest } = self.$properties;
      self.$properties = rest;
    }
  }
  get Devices(): string[] {
    return this.nm.devPaths();
  }
  get AllDevices(): string[] {
    return this.nm.devPaths();
  }
  get Version(): string {
    return this.nm.opts.version ?? '1.42.4';
  }
  get VersionInfo(): number[] {
    if (this.nm.opts.versionInfo) return this.nm.opts.versionInfo;
    const [major = 0, minor = 0, micro = 0] = this.Version.split('.').map(Number);
    return [(major << 16) | (minor << 8) | micro];
  }
  GetDevices(): string[] {
    return this.nm.devPaths();
  }
  GetAllDevices(): string[] {
    return this.nm.devPaths();
  }
  AddAndActivateConnection(connection: Settings, device: string, specificObject: string): [string, string] {
    return this.nm.record('AddAndActivateConnection', NM_PATH, [connection, device, specificObject], () =>
      this.nm.addAndActivate(connection, device),
    );
  }
  AddAndActivateConnection2(
    connection: Settings,
    device: string,
    specificObject: string,
    options: Record<string, Variant>,
  ): [string, string, Record<string, Variant>] {
    return this.nm.record('AddAndActivateConnection2', NM_PATH, [connection, device, specificObject, options], () => [
      ...this.nm.addAndActivate(connection, device),
      {},
    ]);
  }
  ActivateConnection(connection: string, device: string, specificObject: string): string {
    return this.nm.record('ActivateConnection', NM_PATH, [connection, device, specificObject], () =>
      this.nm.activateConnection(connection, device),
    );
  }
  DeviceAdded(path: string): string {
    return path;
  }
}
ManagerIface.configureMembers({
  properties: {
    Devices: { signature: 'ao', access: 'read' },
    AllDevices: { signature: 'ao', access: 'read' },
    Version: { signature: 's', access: 'read' },
    VersionInfo: { signature: 'au', access: 'read' },
  },
  methods: {
    GetDevices: { outSignature: 'ao' },
    GetAllDevices: { outSignature: 'ao' },
    AddAndActivateConnection: { inSignature: 'a{sa{sv}}oo', outSignature: 'oo' },
    AddAndActivateConnection2: { inSignature: 'a{sa{sv}}ooa{sv}', outSignature: 'ooa{sv}' },
    ActivateConnection: { inSignature: 'ooo', outSignature: 'o' },
  },
  signals: { DeviceAdded: { signature: 'o' } },
});

class DeviceIface extends dbusInterface.Interface {
  constructor(
    private readonly nm: FakeNmImpl,
    private readonly dev: Device,
  ) {
    super(`${NM}.Device`);
  }
  get Interface(): string {
    return this.dev.iface;
  }
  get DeviceType(): number {
    return this.dev.type;
  }
  get State(): number {
    return this.dev.state;
  }
  get HwAddress(): string {
    return this.dev.hwAddress;
  }
  get ActiveConnection(): string {
    return this.dev.active?.path ?? '/';
  }
  get Managed(): boolean {
    return this.dev.state >= 20;
  }
  get Ip6Config(): string {
    return this.dev.active === null ? '/' : ip6ConfigPath(this.dev);
  }
  GetAppliedConnection(flags: number): [Settings, bigint] {
    return this.nm.record('GetAppliedConnection', this.dev.path, [flags], () => this.nm.getApplied(this.dev, flags));
  }
  Reapply(connection: Settings, versionId: bigint, flags: number): void | Promise<void> {
    this.nm.record('Reapply', this.dev.path, [connection, versionId, flags], () => this.nm.reapply(this.dev, connection, versionId, flags));
    const delay = this.nm.opts.reapplyDelayMs ?? 0;
    if (delay > 0) return new Promise((resolve) => setTimeout(resolve, delay));
  }
}
DeviceIface.configureMembers({
  properties: {
    Interface: { signature: 's', access: 'read' },
    DeviceType: { signature: 'u', access: 'read' },
    State: { signature: 'u', access: 'read' },
    HwAddress: { signature: 's', access: 'read' },
    ActiveConnection: { signature: 'o', access: 'read' },
    Managed: { signature: 'b', access: 'read' },
    Ip6Config: { signature: 'o', access: 'read' },
  },
  methods: {
    GetAppliedConnection: { inSignature: 'u', outSignature: 'a{sa{sv}}t' },
    Reapply: { inSignature: 'a{sa{sv}}tu' },
  },
});

function ip6ConfigPath(dev: Device): string {
  return `${NM_PATH}/IP6Config/${dev.n}`;
}

/** The part of IP6Config the tool reads: Gateway, the router NM learned ("" when none). */
class Ip6ConfigIface extends dbusInterface.Interface {
  constructor(private readonly dev: Device) {
    super(`${NM}.IP6Config`);
  }
  get Gateway(): string {
    return this.dev.ipv6Gateway;
  }
}
Ip6ConfigIface.configureMembers({ properties: { Gateway: { signature: 's', access: 'read' } } });

class WiredIface extends dbusInterface.Interface {
  constructor(private readonly dev: Device) {
    super(`${NM}.Device.Wired`);
  }
  get PermHwAddress(): string {
    return this.dev.permHwAddress ?? '';
  }
}
WiredIface.configureMembers({ properties: { PermHwAddress: { signature: 's', access: 'read' } } });

class ActiveIface extends dbusInterface.Interface {
  constructor(private readonly ac: Active) {
    super(`${NM}.Connection.Active`);
  }
  get Id(): string {
    return String(field(this.ac.profile.settings['connection'], 'id') ?? '');
  }
  get Uuid(): string {
    return String(field(this.ac.profile.settings['connection'], 'uuid') ?? '');
  }
  get Type(): string {
    return String(field(this.ac.profile.settings['connection'], 'type') ?? '');
  }
  get Connection(): string {
    return this.ac.profile.path;
  }
  get SpecificObject(): string {
    return '/';
  }
  get Devices(): string[] {
    return [this.ac.device.path];
  }
  get State(): number {
    return 2;
  } // NM_ACTIVE_CONNECTION_STATE_ACTIVATED
}
ActiveIface.configureMembers({
  properties: {
    Id: { signature: 's', access: 'read' },
    Uuid: { signature: 's', access: 'read' },
    Type: { signature: 's', access: 'read' },
    Connection: { signature: 'o', access: 'read' },
    SpecificObject: { signature: 'o', access: 'read' },
    Devices: { signature: 'ao', access: 'read' },
    State: { signature: 'u', access: 'read' },
  },
});

class SettingsConnectionIface extends dbusInterface.Interface {
  constructor(
    private readonly nm: FakeNmImpl,
    private readonly profile: Profile,
  ) {
    super(`${NM}.Settings.Connection`);
  }
  GetSettings(): Settings {
    return serialize(this.profile.settings);
  }
  Delete(): void {
    this.nm.record('Delete', this.profile.path, [], () => this.nm.deleteProfile(this.profile.path));
  }
}
SettingsConnectionIface.configureMembers({ methods: { GetSettings: { outSignature: 'a{sa{sv}}' }, Delete: {} } });

class SettingsIface extends dbusInterface.Interface {
  constructor(private readonly nm: FakeNmImpl) {
    super(`${NM}.Settings`);
  }
  AddConnection(connection: Settings): string {
    return this.nm.record('AddConnection', `${NM_PATH}/Settings`, [connection], () => this.nm.addConnection(connection));
  }
}
SettingsIface.configureMembers({ methods: { AddConnection: { inSignature: 'a{sa{sv}}', outSignature: 'o' } } });

// ------------------------------------------------------------------------------------------------

export async function startFakeNm(opts: FakeNmOptions): Promise<FakeNm> {
  const bus = sessionBus({ busAddress: opts.address });
  const nm = new FakeNmImpl(bus, opts);
  bus.on('error', (err) => nm.busErrors.push(err));

  const reply = await bus.requestName(NM, NameFlag.DO_NOT_QUEUE);
  if (reply !== RequestNameReply.PRIMARY_OWNER) {
    bus.disconnect();
    throw new Error(`fake NM: could not own ${NM} (reply ${reply})`);
  }
  bus.export(NM_PATH, nm.manager);
  bus.export(`${NM_PATH}/Settings`, nm.settings);

  for (const spec of opts.devices) {
    const profile =
      spec.profile == null
        ? null
        : nm.addProfile(fromLocal('connection' in spec.profile ? spec.profile : ethernetProfile(spec.profile as EthernetProfileOptions)));
    const state = spec.state ?? (profile ? 100 : 30);
    const dev = nm.addDevice({
      iface: spec.iface,
      type: DEVICE_TYPE[spec.type],
      hwaddr: spec.hwaddr,
      permHwaddr: spec.permHwaddr,
      state,
      ...(spec.ipv6Gateway === undefined ? {} : { ipv6Gateway: spec.ipv6Gateway }),
    });
    dev.profile = profile;
    // 40..100 = prepare..activated: those states have an applied connection.
    if (profile && state >= 40 && state <= 100) {
      nm.activate(dev, profile);
      dev.state = state;
    }
  }
  return nm;
}
