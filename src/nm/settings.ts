// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Connection settings as plain data in D-Bus shape (a{sa{sv}}), with the helpers the planner
 * needs. Values keep their D-Bus signature so that what we send back is byte-for-byte what
 * NetworkManager gave us, except for the ipv4 lists we mean to change.
 */
import type { AddressFamily, Route } from '../model.js';

/** A D-Bus variant as plain data; dbus-next's Variant satisfies it. */
export interface DbusValue {
  readonly signature: string;
  readonly value: unknown;
}

/** a{sv} */
export type DbusDict = Readonly<Record<string, DbusValue>>;

/** a{sa{sv}}: setting name → property → value. */
export type SettingsDict = Readonly<Record<string, DbusDict>>;

/** The three lists of one family (ipv4 or ipv6) nm-cloud-setup owns, each entry in NM's aa{sv} form. */
export interface FamilyLists {
  readonly addresses: readonly DbusDict[];
  readonly routes: readonly DbusDict[];
  readonly rules: readonly DbusDict[];
}

const str = (value: string): DbusValue => ({ signature: 's', value });
const u32 = (value: number): DbusValue => ({ signature: 'u', value });
const i32 = (value: number): DbusValue => ({ signature: 'i', value });
const byte = (value: number): DbusValue => ({ signature: 'y', value });

/** address-data entry: {address: s, prefix: u}. */
export function addressEntry(address: string, prefix: number): DbusDict {
  return { address: str(address), prefix: u32(prefix) };
}

/** route-data entry as libnm serializes it: optional keys only when set. */
export function routeEntry(route: Route): DbusDict {
  const entry: Record<string, DbusValue> = { dest: str(route.dest), prefix: u32(route.prefix) };
  if (route.nextHop !== undefined) entry['next-hop'] = str(route.nextHop);
  if (route.metric !== undefined) entry['metric'] = u32(route.metric);
  if (route.table !== undefined) entry['table'] = u32(route.table);
  if (route.type !== undefined) entry['type'] = str(route.type);
  return entry;
}

/** A routing rule as nm-cloud-setup creates them. */
export interface RuleSpec {
  readonly priority: number;
  readonly table: number;
  /** Source address; matched as a host (/32, /128) unless fromLen says otherwise. */
  readonly from?: string;
  /** Length of the source prefix (a delegated prefix's network); default the host length. */
  readonly fromLen?: number;
  readonly suppressPrefixlength?: number;
  /** Default ipv4. */
  readonly family?: AddressFamily;
}

/** AF_INET and AF_INET6, as routing-rules' `family` says them. */
const AF = { ipv4: 2, ipv6: 10 } as const;
const HOST_PREFIX = { ipv4: 32, ipv6: 128 } as const;

/** routing-rules entry: {family: i, priority: u, from: s, from-len: y, table: u, suppress-prefixlength: i}. */
export function ruleEntry(rule: RuleSpec): DbusDict {
  const family = rule.family ?? 'ipv4';
  const entry: Record<string, DbusValue> = { family: i32(AF[family]), priority: u32(rule.priority) };
  if (rule.from !== undefined) {
    entry['from'] = str(rule.from);
    entry['from-len'] = byte(rule.fromLen ?? HOST_PREFIX[family]);
  }
  entry['table'] = u32(rule.table);
  if (rule.suppressPrefixlength !== undefined) entry['suppress-prefixlength'] = i32(rule.suppressPrefixlength);
  return entry;
}

/** A string property, or undefined. */
export function getString(settings: SettingsDict, setting: string, key: string): string | undefined {
  const value = settings[setting]?.[key]?.value;
  return typeof value === 'string' ? value : undefined;
}

/** A connection's id and uuid, as reports name it ("" for one it lacks). */
export function connectionIdentity(settings: SettingsDict): { readonly id: string; readonly uuid: string } {
  return { id: getString(settings, 'connection', 'id') ?? '', uuid: getString(settings, 'connection', 'uuid') ?? '' };
}

/** One entry of the `user` setting's data (a{ss}). */
export function getUserData(settings: SettingsDict, key: string): string | undefined {
  const data = settings['user']?.['data']?.value;
  if (data === null || typeof data !== 'object') return undefined;
  const value = (data as Record<string, unknown>)[key];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Reads ipv4 addresses, routes and routing rules; undefined when there is no ipv4 setting.
 * Prefers address-data/route-data and falls back to the legacy aau keys, as libnm does.
 */
export function readIpv4Lists(settings: SettingsDict): FamilyLists | undefined {
  const ipv4 = settings['ipv4'];
  if (ipv4 === undefined) return undefined;
  return {
    addresses: dictList(ipv4['address-data']) ?? legacyList(ipv4['addresses'], legacyAddress),
    routes: dictList(ipv4['route-data']) ?? legacyList(ipv4['routes'], legacyRoute),
    rules: dictList(ipv4['routing-rules']) ?? [],
  };
}

/**
 * The lists of either family; undefined when the setting is absent. IPv6's legacy keys
 * (a(ayuay)) are not read: every daemon that can apply our rules sends address-data.
 */
export function readFamilyLists(settings: SettingsDict, family: AddressFamily): FamilyLists | undefined {
  if (family === 'ipv4') return readIpv4Lists(settings);
  const ipv6 = settings['ipv6'];
  if (ipv6 === undefined) return undefined;
  return {
    addresses: dictList(ipv6['address-data']) ?? [],
    routes: dictList(ipv6['route-data']) ?? [],
    rules: dictList(ipv6['routing-rules']) ?? [],
  };
}

/**
 * Returns a copy of `settings` whose ipv4 lists are `lists`. The legacy `addresses`/`routes`
 * keys are dropped: when both forms are present the daemon uses the legacy one, which cannot
 * express `table` or `type` and would silently undo our changes.
 */
export function withIpv4Lists(settings: SettingsDict, lists: FamilyLists): SettingsDict {
  return withFamilyLists(settings, 'ipv4', lists);
}

/** withIpv4Lists for either family. */
export function withFamilyLists(settings: SettingsDict, family: AddressFamily, lists: FamilyLists): SettingsDict {
  const setting: Record<string, DbusValue> = { ...settings[family] };
  delete setting['addresses'];
  delete setting['routes'];
  delete setting['address-labels'];
  setting['address-data'] = { signature: 'aa{sv}', value: lists.addresses };
  setting['route-data'] = { signature: 'aa{sv}', value: lists.routes };
  setting['routing-rules'] = { signature: 'aa{sv}', value: lists.rules };
  return { ...settings, [family]: setting };
}

function dictList(value: DbusValue | undefined): DbusDict[] | undefined {
  return value !== undefined && Array.isArray(value.value) ? (value.value as DbusDict[]) : undefined;
}

function legacyList(value: DbusValue | undefined, convert: (item: number[]) => DbusDict | undefined): DbusDict[] {
  if (value === undefined || !Array.isArray(value.value)) return [];
  return (value.value as number[][]).map(convert).filter((item): item is DbusDict => item !== undefined);
}

// Legacy entries carry in_addr_t values in network byte order, marshalled as host-order u32.
function inAddrToString(value: number): string {
  return [0, 8, 16, 24].map((shift) => (value >>> shift) & 0xff).join('.');
}

function legacyAddress([address, prefix]: number[]): DbusDict | undefined {
  return address === undefined || prefix === undefined ? undefined : addressEntry(inAddrToString(address), prefix);
}

function legacyRoute([dest, prefix, nextHop, metric]: number[]): DbusDict | undefined {
  if (dest === undefined || prefix === undefined) return undefined;
  return routeEntry({
    dest: inAddrToString(dest),
    prefix,
    ...(nextHop ? { nextHop: inAddrToString(nextHop) } : {}),
    ...(metric !== undefined ? { metric } : {}),
  });
}

// Values a routing rule has when a key is absent; NM may or may not spell them out.
const RULE_DEFAULTS: Readonly<Record<string, unknown>> = {
  'from-len': 0,
  'to-len': 0,
  table: 0,
  action: 1,
  invert: false,
  'suppress-prefixlength': -1,
  fwmark: 0,
  fwmask: 0,
  tos: 0,
  ipproto: 0,
};

/**
 * A canonical text for an entry, so equal entries compare equal however NM spelled them:
 * keys sorted, D-Bus integer widths ignored, default-valued rule keys dropped.
 */
export function entryKey(entry: DbusDict, kind: 'address' | 'route' | 'rule'): string {
  // Concatenated rather than JSON of sorted pairs: a rerun keys every entry of every applied
  // connection twice; under --jitless 744 keys (8 NICs) took 3.7 ms as JSON, 0.9 ms so.
  let key = '';
  for (const name of Object.keys(entry).sort()) {
    const raw = entry[name]?.value;
    const plain = typeof raw === 'bigint' ? Number(raw) : raw;
    if (kind === 'rule' && (RULE_DEFAULTS[name] === plain || ((name === 'from' || name === 'to') && !entry[`${name}-len`]?.value)))
      continue;
    // The type keeps 1 and "1" apart; NUL and \x01 appear in no key or value NM sends.
    const text = typeof plain === 'object' && plain !== null ? JSON.stringify(plain) : String(plain);
    key += `${name}\x00${typeof plain}\x00${text}\x01`;
  }
  return key;
}

/** An address's identity for de-duplication: address and prefix, ignoring attributes (upstream). */
export function addressIdentity(entry: DbusDict): string {
  return `${String(entry['address']?.value)}/${String(entry['prefix']?.value)}`;
}
