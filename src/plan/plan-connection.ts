// SPDX-License-Identifier: LGPL-2.1-or-later
import { parseBoolean } from '../config.js';
import type { MetadataInterface, MetadataTotals } from '../model.js';
import {
  getString,
  getUserData,
  readFamilyLists,
  readIpv4Lists,
  withFamilyLists,
  withIpv4Lists,
  type FamilyLists,
  type SettingsDict,
} from '../nm/settings.js';
import { listsDifferFrom, mergeLists } from './family-lists.js';
import { planExplicit } from './plan-explicit.js';
import { cloudIpv4Lists, cloudIpv6Lists, isSingleAddress } from './policy-routing.js';

/** User-data key that makes nm-cloud-setup leave a profile alone. */
export const USER_DATA_SKIP = 'org.freedesktop.nm-cloud-setup.skip';

/** Connection type of the profiles nm-cloud-setup configures on Ethernet devices. */
export const ETHERNET_TYPE = '802-3-ethernet';
/** Connection types of the two profiles an OCI bare-metal VLAN VNIC gets. */
export const MACVLAN_TYPE = 'macvlan';
export const VLAN_TYPE = 'vlan';

/** What to do with one device's applied connection. */
export type ConnectionPlan =
  | { readonly kind: 'skip'; readonly reason: string }
  | { readonly kind: 'unchanged'; readonly isSingleAddress: boolean }
  | {
      readonly kind: 'reapply';
      readonly settings: SettingsDict;
      /** The ipv6 lists sent, when IPv6 is configured (the ipv4 lists always are). */
      readonly ipv6?: FamilyLists;
    };

export interface ConnectionPlanInput {
  readonly applied: SettingsDict;
  /** The persistent profile of the active connection, whose static entries are kept first. */
  readonly profile: SettingsDict | undefined;
  readonly iface: MetadataInterface;
  readonly totals: MetadataTotals;
  readonly expectedType: string;
  /** NM_CLOUD_SETUP_IPV6: the ipv6 lists are planned too. */
  readonly ipv6?: boolean;
  /** The IPv6 router NetworkManager learned by RA for the device, used when the metadata serves none. */
  readonly learnedIpv6Router?: string;
}

/** Why the tool leaves an applied connection alone whatever the metadata says (upstream's reasons), or undefined. */
export function connectionSkipReason(applied: SettingsDict, expectedType: string): string | undefined {
  if (parseBoolean(getUserData(applied, USER_DATA_SKIP)) === true) return `skip applied connection due to user data ${USER_DATA_SKIP}`;
  if (getString(applied, 'connection', 'type') !== expectedType) return 'skip applied connection due to type mismatch';
  return undefined;
}

/**
 * Decides, without side effects, whether and how an applied connection must change
 * (upstream's _config_existing up to the Reapply call).
 */
export function planConnection(input: ConnectionPlanInput): ConnectionPlan {
  const { applied, profile, iface, totals, expectedType } = input;
  const skip = connectionSkipReason(applied, expectedType);
  if (skip !== undefined) return { kind: 'skip', reason: skip };
  if (iface.explicit !== undefined) {
    const explicit = planExplicit(applied, profile, input.ipv6 === true ? iface.explicit : { ...iface.explicit, ipv6: undefined });
    if (!explicit.differs) return { kind: 'unchanged', isSingleAddress: false };
    return { kind: 'reapply', settings: explicit.settings, ...(explicit.ipv6 === undefined ? {} : { ipv6: explicit.ipv6 }) };
  }
  const current = readIpv4Lists(applied);
  if (current === undefined) {
    return { kind: 'skip', reason: 'skip applied connection due to missing IPv4 configuration' };
  }
  // A MACVLAN only carries the VLAN VNIC on top of it: its own addressing is never touched.
  if (expectedType === MACVLAN_TYPE) return { kind: 'unchanged', isSingleAddress: isSingleAddress(totals) };
  const desired = desiredIpv4Lists(expectedType, profile, iface, totals);
  const ipv6 = input.ipv6 === true ? planIpv6(input) : undefined;
  if (!listsDifferFrom(current, desired) && ipv6?.differs !== true) {
    return { kind: 'unchanged', isSingleAddress: isSingleAddress(totals) };
  }
  const settings = withIpv4Lists(applied, desired);
  if (ipv6 === undefined) return { kind: 'reapply', settings };
  return { kind: 'reapply', settings: withFamilyLists(settings, 'ipv6', ipv6.desired), ipv6: ipv6.desired };
}

/**
 * ipv6.method values with which NetworkManager refuses addresses ("this property is not allowed
 * for 'method=…'", checked on NetworkManager 1.42): the profile's owner turned IPv6 off, or to
 * link-local only, on this connection, and the cloud's IPv6 is left out of it.
 */
export const IPV6_OFF_METHODS: ReadonlySet<string> = new Set(['disabled', 'ignore', 'link-local']);

/** Why the applied connection's ipv6 setting is not the tool's to change, or undefined when it is. */
export function ipv6LeftAlone(applied: SettingsDict): string | undefined {
  const method = getString(applied, 'ipv6', 'method');
  return method !== undefined && IPV6_OFF_METHODS.has(method) ? `ipv6.method is ${method}` : undefined;
}

/** The ipv6 half: undefined when the applied connection has no ipv6 setting to change, or IPv6 is off on it. */
function planIpv6({
  applied,
  profile,
  iface,
  totals,
  expectedType,
  learnedIpv6Router,
}: ConnectionPlanInput): { desired: FamilyLists; differs: boolean } | undefined {
  const current = readFamilyLists(applied, 'ipv6');
  if (current === undefined || ipv6LeftAlone(applied) !== undefined) return undefined;
  const desired = desiredIpv6Lists(expectedType, profile, iface, totals, learnedIpv6Router);
  return { desired, differs: listsDifferFrom(current, desired) };
}

/** The profile's static entries (not for VLAN profiles, which OCI owns entirely) then the cloud part. */
export function desiredIpv4Lists(
  connectionType: string,
  profile: SettingsDict | undefined,
  iface: MetadataInterface,
  totals: MetadataTotals,
): FamilyLists {
  const kept = connectionType === VLAN_TYPE || profile === undefined ? undefined : readIpv4Lists(profile);
  const cloud = cloudIpv4Lists(iface, totals);
  return kept === undefined ? mergeLists(cloud) : mergeLists(kept, cloud);
}

/** desiredIpv4Lists for ipv6: the profile's static ipv6 entries, then the cloud part (learnedRouter: see cloudIpv6Lists). */
export function desiredIpv6Lists(
  connectionType: string,
  profile: SettingsDict | undefined,
  iface: MetadataInterface,
  totals: MetadataTotals,
  learnedRouter?: string,
): FamilyLists {
  const kept = connectionType === VLAN_TYPE || profile === undefined ? undefined : readFamilyLists(profile, 'ipv6');
  const { addresses, routes, rules } = cloudIpv6Lists(iface, totals, learnedRouter);
  const cloud = { addresses, routes, rules };
  return kept === undefined ? mergeLists(cloud) : mergeLists(kept, cloud);
}
