// SPDX-License-Identifier: LGPL-2.1-or-later
/* Which NetworkManager devices the tool considers, and the MAC each is known by. */
import type { InterfaceMapping } from '../config.js';
import { DeviceState, DeviceType } from '../nm/constants.js';
import type { NmDevice } from '../nm/types.js';

/** True for devices libnm calls Ethernet: NMDeviceEthernet and its subclass veth. */
export function isEthernetClass(device: NmDevice): boolean {
  return device.deviceType === DeviceType.ethernet || device.deviceType === DeviceType.veth;
}

/**
 * The MAC an Ethernet-class device is known by: its permanent address or, when
 * NM_CLOUD_SETUP_MAP_INTERFACES is set, only the address mapped to its name.
 */
export function ethernetHwaddr(device: NmDevice, mapInterfaces: readonly InterfaceMapping[]): string | undefined {
  if (mapInterfaces.length > 0) return mapInterfaces.find((mapping) => mapping.iface === device.iface)?.hwaddr;
  return device.permHwaddr;
}

/** The MACs to ask the metadata for: Ethernet-class devices NM manages (state >= unavailable). */
export function requestedHwaddrs(devices: readonly NmDevice[], mapInterfaces: readonly InterfaceMapping[]): string[] {
  return devices
    .filter((device) => isEthernetClass(device) && device.state >= DeviceState.unavailable)
    .map((device) => ethernetHwaddr(device, mapInterfaces))
    .filter((hwaddr): hwaddr is string => hwaddr !== undefined);
}
