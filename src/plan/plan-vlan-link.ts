// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A VLAN on a NIC or on a bond (OpenStack trunk ports): its own profile, named and found by its
 * interface name "<parent>.<vlan id>". A bond parent is named by its interface name, which exists
 * once the bond's own step (before this one) activated it; if that failed, so does the VLAN's
 * activation, and its profile is removed again. An existing VLAN device is reapplied like any other; a missing one
 * gets a new saved profile (NM_CLOUD_SETUP_ALLOW_NEW_CONN), which the executor removes again if
 * NetworkManager cannot activate it, so that a re-run never finds half of it.
 */
import type { MetadataInterface } from '../model.js';
import { DeviceType } from '../nm/constants.js';
import type { DbusValue, SettingsDict } from '../nm/settings.js';
import { ethernetHwaddr, isEthernetClass } from './devices.js';
import { bondInterfaceName } from './plan-bond-link.js';
import { VLAN_TYPE } from './plan-connection.js';
import { explicitProfileSettings } from './plan-explicit.js';
import { macBytes, USER_DATA_LINK, USER_DATA_ORIGIN, type InterfacePlanContext, type InterfaceStep } from './plan-interfaces.js';

type VlanLink = Extract<MetadataInterface['link'], { kind: 'vlan' }>;

/** IFNAMSIZ - 1: the longest interface name the kernel takes. */
const MAX_IFNAME = 15;

const str = (value: string): DbusValue => ({ signature: 's', value });

/** The steps for a VLAN link: reapply its device, create its profile, or say why not. */
export function planVlanLink(iface: MetadataInterface, link: VlanLink, context: InterfacePlanContext): InterfaceStep[] {
  const { hwaddr } = iface;
  const skip = (reason: string): InterfaceStep[] => [
    { kind: 'skip', hwaddr, reason, message: `config link ${iface.linkId}: skip because ${reason}`, level: 'debug' },
  ];
  const parentIface =
    link.parentBond !== undefined
      ? bondInterfaceName(link.parentBond)
      : context.devices.find((device) => isEthernetClass(device) && ethernetHwaddr(device, context.mapInterfaces) === link.parentHwaddr)
          ?.iface;
  if (parentIface === undefined) return skip(`parent device ${link.parentHwaddr} not found`);
  const name = vlanInterfaceName(parentIface, link.vlanId);
  const device = context.devices.find((candidate) => candidate.deviceType === DeviceType.vlan && candidate.iface === name);
  if (device !== undefined) return [{ kind: 'existing', hwaddr, device, expectedType: VLAN_TYPE }];
  if (!context.allowNewConnections) return skip(`VLAN device ${name} not found`);
  return [
    {
      kind: 'create',
      hwaddr,
      settings: vlanLinkProfile(iface, link, { name, parent: parentIface, ipv6: context.ipv6 }),
      devicePath: '/',
      announce: `config link ${iface.linkId}: creating VLAN ${link.vlanId} connection ${name} on ${parentIface}...`,
    },
  ];
}

/** "<parent>.<id>" as iproute2 and most distributions name VLANs, or "vlan<id>" when that is too long. */
export function vlanInterfaceName(parent: string, vlanId: number): string {
  const dotted = `${parent}.${vlanId}`;
  return dotted.length <= MAX_IFNAME ? dotted : `vlan${vlanId}`;
}

function vlanLinkProfile(
  iface: MetadataInterface,
  link: VlanLink,
  { name, parent, ipv6 }: { readonly name: string; readonly parent: string; readonly ipv6: boolean },
): SettingsDict {
  const explicit = iface.explicit ?? {};
  return {
    connection: { id: str(`cloud-${iface.linkId}`), type: str(VLAN_TYPE), 'interface-name': str(name) },
    vlan: { parent: str(parent), id: { signature: 'u', value: link.vlanId } },
    ...(link.clonedHwaddr === undefined ? {} : { '802-3-ethernet': { 'cloned-mac-address': macBytes(link.clonedHwaddr) } }),
    ...explicitProfileSettings(ipv6 ? explicit : { ...explicit, ipv6: undefined }),
    user: { data: { signature: 'a{ss}', value: { [USER_DATA_ORIGIN]: 'nm-cloud-setup', [USER_DATA_LINK]: iface.linkId } } },
  };
}
