// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Upstream's _config_one up to the D-Bus calls, without side effects: for each link of the
 * metadata, which NetworkManager device to reapply, which profile to create (OCI), or why
 * the link is skipped. What an existing device's applied connection becomes is decided later,
 * by planConnection(), once the executor has read it.
 */
import type { InterfaceMapping } from '../config.js';
import {
  isConfigurableIpv6Interface,
  isValidInterface,
  type ExplicitConfig,
  type MetadataInterface,
  type MetadataTotals,
} from '../model.js';
import { normalizeHwaddr } from '../net/hwaddr.js';
import { DeviceState, DeviceType } from '../nm/constants.js';
import { withFamilyLists, withIpv4Lists, type DbusDict, type DbusValue, type SettingsDict } from '../nm/settings.js';
import type { NmDevice } from '../nm/types.js';
import { ethernetHwaddr, isEthernetClass } from './devices.js';
import { desiredIpv4Lists, desiredIpv6Lists, ETHERNET_TYPE, MACVLAN_TYPE, VLAN_TYPE } from './plan-connection.js';
import { explicitProfileSettings } from './plan-explicit.js';
import { planBondLink } from './plan-bond-link.js';
import { planVlanLink } from './plan-vlan-link.js';
import { MAX_INTERFACES } from './policy-routing.js';

/** macvlan.mode of the MACVLAN under an OCI VLAN VNIC: VEPA, as upstream. */
const MACVLAN_MODE_VEPA = 1;

/** User-data that marks profiles nm-cloud-setup created. */
export const USER_DATA_ORIGIN = 'org.freedesktop.NetworkManager.origin';
/** User-data naming the metadata link a created profile is for (OpenStack's link id). */
export const USER_DATA_LINK = 'org.freedesktop.nm-cloud-setup.link';

/** One thing to do for a link, in the order upstream does them. */
export type InterfaceStep =
  | {
      readonly kind: 'skip';
      readonly hwaddr: string;
      readonly reason: string;
      /** The line upstream logs for it, and its level. */
      readonly message: string;
      readonly level: 'debug' | 'warn';
      /** The device the link would have configured, for status and plan to name. */
      readonly device?: NmDevice;
    }
  /** Read the device's applied connection and let planConnection() decide (the executor retries). */
  | { readonly kind: 'existing'; readonly hwaddr: string; readonly device: NmDevice; readonly expectedType: string }
  | {
      readonly kind: 'create';
      readonly hwaddr: string;
      readonly settings: SettingsDict;
      /** The device to activate it on; "/" lets NetworkManager create one. */
      readonly devicePath: string;
      /** The existing device it is for, if any (upstream names the device by interface then). */
      readonly device?: NmDevice;
      /** Upstream's debug line before creating a VLAN VNIC's profile. */
      readonly announce?: string;
      /** The link the outcome is for, when not the step's link (an OpenStack bond's port). */
      readonly link?: string;
      /**
       * A bond port: created only when the step before it (its bond) did not fail, and not at all
       * when the device's applied connection already is a port of this controller.
       */
      readonly portOf?: string;
    };

/** What the link planner needs besides the link. */
export interface InterfacePlanContext {
  readonly devices: readonly NmDevice[];
  readonly mapInterfaces: readonly InterfaceMapping[];
  /** NM_CLOUD_SETUP_ALLOW_NEW_CONN, already defaulted per provider. */
  readonly allowNewConnections: boolean;
  readonly totals: MetadataTotals;
  /** NM_CLOUD_SETUP_IPV6: a link with only IPv6 data is configured, and new profiles get ipv6 lists. */
  readonly ipv6: boolean;
}

/** The steps for one link of the metadata. */
export function planInterface(iface: MetadataInterface, context: InterfacePlanContext): InterfaceStep[] {
  const { hwaddr } = iface;
  const skip = (reason: string): InterfaceStep[] => [
    { kind: 'skip', hwaddr, reason, message: `config device ${hwaddr}: skip because ${reason}`, level: 'debug' },
  ];
  const isValid = iface.explicit !== undefined || isValidInterface(iface) || (context.ipv6 && isConfigurableIpv6Interface(iface));
  // Before validity (upstream checks it after): providers do not read a link beyond the
  // tables' room, so it comes without data but still gets upstream's reason.
  if (iface.ifaceIdx >= MAX_INTERFACES) return skip('number of supported interfaces reached');
  if (iface.unsafe !== undefined) return skipUnsafe(iface, iface.unsafe, context);
  if (!isValid) return skip('meta data not successfully fetched');
  if (context.allowNewConnections && iface.link.kind === 'oci-vlan') return planVlanVnic(iface, iface.link, context);
  if (iface.link.kind === 'vlan') return planVlanLink(iface, iface.link, context);
  if (iface.link.kind === 'bond') return planBondLink(iface, iface.link, context);
  const device = context.devices.find(
    (candidate) => isEthernetClass(candidate) && ethernetHwaddr(candidate, context.mapInterfaces) === hwaddr,
  );
  if (device === undefined) return skip('device not found');
  if (context.allowNewConnections && device.state === DeviceState.disconnected) {
    return [{ kind: 'create', hwaddr, settings: ethernetProfile(iface, context), devicePath: device.path, device }];
  }
  return [{ kind: 'existing', hwaddr, device, expectedType: ETHERNET_TYPE }];
}

type OciVlanLink = Extract<MetadataInterface['link'], { kind: 'oci-vlan' }>;

/**
 * OCI bare metal: a VLAN VNIC is a MACVLAN on the physical NIC (carrying the VNIC's MAC) with a
 * VLAN on top that holds the address. Each is created when no device of its kind has the MAC.
 */
function planVlanVnic(iface: MetadataInterface, link: OciVlanLink, context: InterfacePlanContext): InterfaceStep[] {
  const { hwaddr } = iface;
  const tag = link.vlanTag;
  const parent = link.parentHwaddr;
  if (parent === undefined) {
    const reason = `has vlan id ${tag} but no parent device`;
    return [{ kind: 'skip', hwaddr, reason, message: `config device ${hwaddr}: ${reason}`, level: 'warn' }];
  }
  const macvlanName = `macvlan${iface.ifaceIdx}`;
  const findDevice = (deviceType: number): NmDevice | undefined =>
    context.devices.find((device) => device.deviceType === deviceType && device.hwaddr === hwaddr);

  const macvlan = findDevice(DeviceType.macvlan);
  const vlan = findDevice(DeviceType.vlan);
  // With NM_CLOUD_SETUP_MAP_INTERFACES the physical NIC is known by name only (CI's veths
  // have no permanent MAC), so the parent is named instead of matched by MAC.
  const parentName = context.mapInterfaces.find((mapping) => mapping.hwaddr === parent)?.iface;
  return [
    macvlan !== undefined
      ? { kind: 'existing', hwaddr, device: macvlan, expectedType: MACVLAN_TYPE }
      : {
          kind: 'create',
          hwaddr,
          settings: macvlanProfile(macvlanName, hwaddr, parent, parentName),
          devicePath: '/',
          announce: `config device ${hwaddr}: creating ${macvlanName} connection for VLAN ${tag} on ${parent}...`,
        },
    vlan !== undefined
      ? { kind: 'existing', hwaddr, device: vlan, expectedType: VLAN_TYPE }
      : {
          kind: 'create',
          hwaddr,
          settings: vlanProfile(iface, tag, macvlanName, context),
          devicePath: '/',
          announce: `config device ${hwaddr}: creating vlan connection for VLAN ${tag} on ${hwaddr}...`,
        },
  ];
}

function macvlanProfile(name: string, hwaddr: string, parent: string, parentName: string | undefined): SettingsDict {
  return {
    connection: { id: str(name), type: str(MACVLAN_TYPE), 'interface-name': str(name) },
    macvlan: { mode: { signature: 'u', value: MACVLAN_MODE_VEPA }, ...(parentName === undefined ? {} : { parent: str(parentName) }) },
    ipv4: { method: str('disabled') },
    ipv6: { method: str('disabled') },
    '802-3-ethernet': {
      ...(parentName === undefined ? { 'mac-address': macBytes(parent) } : {}),
      'cloned-mac-address': macBytes(hwaddr),
    },
    user: originUserData(),
  };
}

function vlanProfile(iface: MetadataInterface, tag: number, macvlanName: string, context: InterfacePlanContext): SettingsDict {
  const base: SettingsDict = {
    connection: { id: str(`vlan${iface.ifaceIdx}`), type: str(VLAN_TYPE) },
    vlan: { parent: str(macvlanName), id: { signature: 'u', value: tag } },
    ipv4: { method: str('manual') },
    '802-3-ethernet': { 'mac-address': macBytes(iface.hwaddr), 'cloned-mac-address': macBytes(iface.hwaddr) },
    user: originUserData(),
  };
  return withCloudLists(base, VLAN_TYPE, iface, context);
}

/** A profile for a disconnected Ethernet device (OCI VMs: VNICs without DHCP). */
function ethernetProfile(iface: MetadataInterface, context: InterfacePlanContext): SettingsDict {
  if (iface.explicit !== undefined) return explicitEthernetProfile(iface, iface.explicit, context);
  const base: SettingsDict = {
    connection: { type: str(ETHERNET_TYPE) },
    '802-3-ethernet': { 'mac-address': macBytes(iface.hwaddr) },
    ipv4: { method: str('manual') },
    user: originUserData(),
  };
  return withCloudLists(base, ETHERNET_TYPE, iface, context);
}

/** A profile for a disconnected NIC of an explicit link: named after the link, which user data records. */
function explicitEthernetProfile(iface: MetadataInterface, explicit: ExplicitConfig, context: InterfacePlanContext): SettingsDict {
  return {
    connection: { id: str(`cloud-${iface.linkId}`), type: str(ETHERNET_TYPE) },
    '802-3-ethernet': { 'mac-address': macBytes(iface.hwaddr) },
    ...explicitProfileSettings(context.ipv6 ? explicit : { ...explicit, ipv6: undefined }),
    user: { data: { signature: 'a{ss}', value: { [USER_DATA_ORIGIN]: 'nm-cloud-setup', [USER_DATA_LINK]: iface.linkId } } },
  };
}

/**
 * A new profile's lists: the cloud's ipv4 part and, with IPv6 on and IPv6 metadata, an ipv6
 * setting (method auto: the router's advertisements still apply) with the cloud's ipv6 part.
 */
function withCloudLists(base: SettingsDict, type: string, iface: MetadataInterface, context: InterfacePlanContext): SettingsDict {
  const settings = withIpv4Lists(base, desiredIpv4Lists(type, undefined, iface, context.totals));
  if (!context.ipv6 || !isConfigurableIpv6Interface(iface)) return settings;
  const ipv6 = desiredIpv6Lists(type, undefined, iface, context.totals);
  return withFamilyLists({ ...settings, ipv6: { method: str('auto') } }, 'ipv6', ipv6);
}

/** Marks a profile as created by nm-cloud-setup. */
function originUserData(): DbusDict {
  return { data: { signature: 'a{ss}', value: { [USER_DATA_ORIGIN]: 'nm-cloud-setup' } } };
}

function str(value: string): DbusValue {
  return { signature: 's', value };
}

/** A MAC as NM's `ay` property value. */
export function macBytes(hwaddr: string): DbusValue {
  const normalized = normalizeHwaddr(hwaddr) ?? hwaddr;
  return { signature: 'ay', value: Buffer.from(normalized.split(':').map((octet) => parseInt(octet, 16))) };
}

/**
 * A link whose metadata validation refused (the `<warn>` line was logged with get-config): it is
 * left as it is, and the device it would have configured is named so status and plan can say why.
 */
function skipUnsafe(iface: MetadataInterface, why: string, context: InterfacePlanContext): InterfaceStep[] {
  const { hwaddr } = iface;
  const reason = `metadata not applied: ${why}`;
  const device = context.devices.find(
    (candidate) => isEthernetClass(candidate) && ethernetHwaddr(candidate, context.mapInterfaces) === hwaddr,
  );
  return [
    {
      kind: 'skip',
      hwaddr,
      reason,
      message: `config device ${hwaddr}: skip because ${reason}`,
      level: 'debug',
      ...(device === undefined ? {} : { device }),
    },
  ];
}
