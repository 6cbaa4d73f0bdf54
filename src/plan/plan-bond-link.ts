// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A bond over NICs (OpenStack): the bond's profile (on "/", found again by its interface name),
 * then one port profile per NIC (on the NIC's device). Parents first: a port is only created
 * once its bond is, and the executor skips the ports of a bond that could not be activated (its
 * profile is deleted again), so a NIC is never taken from its connection for a bond that does
 * not exist.
 */
import type { MetadataInterface } from '../model.js';
import { DeviceType } from '../nm/constants.js';
import type { DbusValue, SettingsDict } from '../nm/settings.js';
import type { NmDevice } from '../nm/types.js';
import { ethernetHwaddr, isEthernetClass } from './devices.js';
import { ETHERNET_TYPE } from './plan-connection.js';
import { explicitProfileSettings } from './plan-explicit.js';
import { macBytes, USER_DATA_LINK, USER_DATA_ORIGIN, type InterfacePlanContext, type InterfaceStep } from './plan-interfaces.js';

type BondLink = Extract<MetadataInterface['link'], { kind: 'bond' }>;

export const BOND_TYPE = 'bond';
const MAX_IFNAME = 15;

const str = (value: string): DbusValue => ({ signature: 's', value });
const userData = (linkId: string): DbusValue => ({
  signature: 'a{ss}',
  value: { [USER_DATA_ORIGIN]: 'nm-cloud-setup', [USER_DATA_LINK]: linkId },
});

/** The link id when it is a valid interface name, else "bond<index>". */
export function bondInterfaceName(iface: Pick<MetadataInterface, 'linkId' | 'ifaceIdx'>): string {
  return /^[A-Za-z0-9_-]+$/.test(iface.linkId) && iface.linkId.length <= MAX_IFNAME ? iface.linkId : `bond${iface.ifaceIdx}`;
}

/** The steps for a bond: reapply or create it, then make each NIC its port. */
export function planBondLink(iface: MetadataInterface, link: BondLink, context: InterfacePlanContext): InterfaceStep[] {
  const { hwaddr } = iface;
  const skip = (reason: string): InterfaceStep[] => [
    { kind: 'skip', hwaddr, reason, message: `config link ${iface.linkId}: skip because ${reason}`, level: 'debug' },
  ];
  const nics = link.ports.map((port) => ({
    ...port,
    device: context.devices.find((device) => isEthernetClass(device) && ethernetHwaddr(device, context.mapInterfaces) === port.hwaddr),
  }));
  const missing = nics.find((nic) => nic.device === undefined);
  if (missing !== undefined) return skip(`port device ${missing.hwaddr} (link ${missing.linkId}) not found`);
  const name = bondInterfaceName(iface);
  const bond = context.devices.find((device) => device.deviceType === DeviceType.bond && device.iface === name);
  if (bond === undefined && !context.allowNewConnections) return skip(`bond device ${name} not found`);
  const bondStep: InterfaceStep =
    bond !== undefined
      ? { kind: 'existing', hwaddr, device: bond, expectedType: BOND_TYPE }
      : {
          kind: 'create',
          hwaddr,
          settings: bondProfile(iface, link, name, context.ipv6),
          devicePath: '/',
          announce: `config link ${iface.linkId}: creating bond connection ${name}...`,
        };
  const ports = nics.map((nic) => portStep(nic.linkId, nic.hwaddr, nic.device as NmDevice, name));
  return [bondStep, ...ports];
}

function portStep(linkId: string, hwaddr: string, device: NmDevice, controller: string): InterfaceStep {
  return {
    kind: 'create',
    hwaddr,
    link: linkId,
    device,
    devicePath: device.path,
    portOf: controller,
    settings: {
      // D-Bus names; nmcli shows them as connection.controller and connection.port-type.
      connection: { id: str(`cloud-${linkId}`), type: str(ETHERNET_TYPE), master: str(controller), 'slave-type': str(BOND_TYPE) },
      '802-3-ethernet': { 'mac-address': macBytes(hwaddr) },
      user: { data: userData(linkId) },
    },
    announce: `config link ${linkId}: making ${device.iface} a port of bond ${controller}...`,
  };
}

function bondProfile(iface: MetadataInterface, link: BondLink, name: string, ipv6: boolean): SettingsDict {
  const explicit = iface.explicit ?? {};
  return {
    connection: { id: str(`cloud-${iface.linkId}`), type: str(BOND_TYPE), 'interface-name': str(name) },
    bond: { options: { signature: 'a{ss}', value: link.options } },
    ...(link.clonedHwaddr === undefined ? {} : { '802-3-ethernet': { 'cloned-mac-address': macBytes(link.clonedHwaddr) } }),
    ...explicitProfileSettings(ipv6 ? explicit : { ...explicit, ipv6: undefined }),
    user: { data: userData(iface.linkId) },
  };
}
