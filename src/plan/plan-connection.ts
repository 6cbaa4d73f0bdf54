// SPDX-License-Identifier: LGPL-2.1-or-later
import { parseBoolean } from '../config.js';
import type { MetadataInterface, MetadataTotals } from '../model.js';
import { getString, getUserData, readIpv4Lists, withIpv4Lists, type Ipv4Lists, type SettingsDict } from '../nm/settings.js';
import { ipv4ListsDiffer, mergeIpv4Lists } from './ipv4-lists.js';
import { cloudIpv4Lists, isSingleAddress } from './policy-routing.js';

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
  | { readonly kind: 'reapply'; readonly settings: SettingsDict };

export interface ConnectionPlanInput {
  readonly applied: SettingsDict;
  /** The persistent profile of the active connection, whose static entries are kept first. */
  readonly profile: SettingsDict | undefined;
  readonly iface: MetadataInterface;
  readonly totals: MetadataTotals;
  readonly expectedType: string;
}

/**
 * Decides, without side effects, whether and how an applied connection must change
 * (upstream's _config_existing up to the Reapply call).
 */
export function planConnection({ applied, profile, iface, totals, expectedType }: ConnectionPlanInput): ConnectionPlan {
  if (parseBoolean(getUserData(applied, USER_DATA_SKIP)) === true) {
    return { kind: 'skip', reason: `skip applied connection due to user data ${USER_DATA_SKIP}` };
  }
  if (getString(applied, 'connection', 'type') !== expectedType) {
    return { kind: 'skip', reason: 'skip applied connection due to type mismatch' };
  }
  const current = readIpv4Lists(applied);
  if (current === undefined) {
    return { kind: 'skip', reason: 'skip applied connection due to missing IPv4 configuration' };
  }
  // A MACVLAN only carries the VLAN VNIC on top of it: its own addressing is never touched.
  if (expectedType === MACVLAN_TYPE) return { kind: 'unchanged', isSingleAddress: isSingleAddress(totals) };
  const desired = desiredIpv4Lists(expectedType, profile, iface, totals);
  if (!ipv4ListsDiffer(current, desired)) {
    return { kind: 'unchanged', isSingleAddress: isSingleAddress(totals) };
  }
  return { kind: 'reapply', settings: withIpv4Lists(applied, desired) };
}

/** The profile's static entries (not for VLAN profiles, which OCI owns entirely) then the cloud part. */
export function desiredIpv4Lists(
  connectionType: string,
  profile: SettingsDict | undefined,
  iface: MetadataInterface,
  totals: MetadataTotals,
): Ipv4Lists {
  const kept = connectionType === VLAN_TYPE || profile === undefined ? undefined : readIpv4Lists(profile);
  const cloud = cloudIpv4Lists(iface, totals);
  return kept === undefined ? mergeIpv4Lists(cloud) : mergeIpv4Lists(kept, cloud);
}
