// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What NetworkManager tells us about its devices and connections, as plain data: the input
 * of the planner (plan/) and the output of the NmClient seam (nm-client.ts).
 */
import type { SettingsDict } from './settings.js';

/** A NetworkManager device, as much of it as the tool needs. */
export interface NmDevice {
  readonly path: string;
  /** Interface name, e.g. "eth0". */
  readonly iface: string;
  readonly deviceType: number;
  readonly state: number;
  /** Current MAC (HwAddress), normalized; VLAN and MACVLAN devices are matched by it. */
  readonly hwaddr: string | undefined;
  /** Permanent MAC (Device.Wired PermHwAddress), normalized; Ethernet and veth only. */
  readonly permHwaddr: string | undefined;
  /** Object path of the active connection, undefined when none. */
  readonly activeConnection: string | undefined;
}

/** GetAppliedConnection's answer: the runtime settings and the version id Reapply must quote. */
export interface AppliedConnection {
  readonly settings: SettingsDict;
  readonly versionId: bigint;
}

/** The id, uuid and path of an active connection. */
export interface ActiveConnectionInfo {
  readonly path: string;
  readonly id: string;
  readonly uuid: string;
}
