// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Links whose metadata is a complete description (OpenStack): the family's addresses, gateway,
 * routes and DNS are applied as given, after the profile's own static entries, with no policy
 * routing. Pure: settings in, settings out.
 */
import type { AddressFamily, ExplicitConfig, ExplicitFamilyConfig } from '../model.js';
import { dnsValue, readDns } from '../nm/dns.js';
import {
  addressEntry,
  getString,
  readFamilyLists,
  routeEntry,
  withFamilyLists,
  type DbusValue,
  type FamilyLists,
  type SettingsDict,
} from '../nm/settings.js';
import { listsDifferFrom, mergeLists } from './family-lists.js';

const FAMILIES: readonly AddressFamily[] = ['ipv4', 'ipv6'];
const NO_LISTS: FamilyLists = { addresses: [], routes: [], rules: [] };
/**
 * Methods a Reapply keeps: static entries are added to what the profile already does (DHCP keeps
 * running beside them on "auto", as NetworkManager allows). Any other method (disabled, ignore,
 * link-local, shared) cannot carry the document's addresses and becomes the document's method.
 */
const KEPT_METHODS: ReadonlySet<string> = new Set(['auto', 'manual', 'dhcp']);

/** What a Reapply of an explicit link changes; `differs` false means no call is made. */
export interface ExplicitPlan {
  readonly settings: SettingsDict;
  readonly differs: boolean;
  /** The ipv6 lists sent, when the description has IPv6. */
  readonly ipv6?: FamilyLists;
}

/** The applied connection with every family the description gives replaced (runtime only). */
export function planExplicit(applied: SettingsDict, profile: SettingsDict | undefined, explicit: ExplicitConfig): ExplicitPlan {
  let settings = applied;
  let differs = false;
  let ipv6: FamilyLists | undefined;
  for (const family of FAMILIES) {
    const config = explicit[family];
    if (config === undefined) continue;
    const desired = desiredFamily(family, applied, profile, config);
    differs ||= familyDiffers(applied, family, desired);
    settings = withDesired(settings, family, desired);
    if (family === 'ipv6') ipv6 = desired.lists;
  }
  return { settings, differs, ...(ipv6 === undefined ? {} : { ipv6 }) };
}

/** One family as it should be applied. */
interface DesiredFamily {
  readonly method: string;
  readonly lists: FamilyLists;
  readonly gateway: string | undefined;
  readonly dns: readonly string[];
}

function desiredFamily(
  family: AddressFamily,
  applied: SettingsDict,
  profile: SettingsDict | undefined,
  config: ExplicitFamilyConfig,
): DesiredFamily {
  const kept = profile === undefined ? undefined : readFamilyLists(profile, family);
  const cloud: FamilyLists = {
    addresses: config.addresses.map(({ address, prefix }) => addressEntry(address, prefix)),
    routes: config.routes.map((route) => routeEntry(route)),
    rules: [],
  };
  const current = getString(applied, family, 'method');
  return {
    method: current !== undefined && KEPT_METHODS.has(current) ? current : config.method,
    lists: kept === undefined ? mergeLists(cloud) : mergeLists(kept, cloud),
    // The document's router wins; without one, the profile's own (not a previous run's) stays.
    gateway: config.gateway ?? (profile === undefined ? undefined : getString(profile, family, 'gateway')),
    dns: [...new Set([...(profile === undefined ? [] : readDns(profile, family)), ...config.dns])],
  };
}

function familyDiffers(applied: SettingsDict, family: AddressFamily, desired: DesiredFamily): boolean {
  return (
    getString(applied, family, 'method') !== desired.method ||
    getString(applied, family, 'gateway') !== desired.gateway ||
    readDns(applied, family).join(' ') !== desired.dns.join(' ') ||
    listsDifferFrom(readFamilyLists(applied, family) ?? NO_LISTS, desired.lists)
  );
}

function withDesired(settings: SettingsDict, family: AddressFamily, desired: DesiredFamily): SettingsDict {
  const listed = withFamilyLists(settings, family, desired.lists);
  const setting: Record<string, DbusValue> = { ...listed[family], method: { signature: 's', value: desired.method } };
  // dns-data would win over dns on daemons that have it; the legacy form is understood by all.
  delete setting['dns-data'];
  setting['dns'] = dnsValue(family, desired.dns);
  if (desired.gateway === undefined) delete setting['gateway'];
  else setting['gateway'] = { signature: 's', value: desired.gateway };
  return { ...listed, [family]: setting };
}

/**
 * The ipv4 and ipv6 settings of a profile the tool creates for an explicit link. A family the
 * description does not mention is off (ipv4 disabled, ipv6 ignore): the profile then activates
 * without waiting for a DHCP server nobody promised.
 */
export function explicitProfileSettings(explicit: ExplicitConfig): SettingsDict {
  const empty: SettingsDict = {};
  return FAMILIES.reduce<SettingsDict>((settings, family) => {
    const config = explicit[family];
    if (config === undefined) {
      return { ...settings, [family]: { method: { signature: 's', value: family === 'ipv4' ? 'disabled' : 'ignore' } } };
    }
    const desired: DesiredFamily = {
      method: config.method,
      lists: mergeLists({
        addresses: config.addresses.map(({ address, prefix }) => addressEntry(address, prefix)),
        routes: config.routes.map((route) => routeEntry(route)),
        rules: [],
      }),
      gateway: config.gateway,
      dns: config.dns,
    };
    return withDesired(settings, family, desired);
  }, empty);
}
