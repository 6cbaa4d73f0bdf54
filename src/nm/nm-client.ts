// SPDX-License-Identifier: LGPL-2.1-or-later
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

/** The NetworkManager seam: the real client speaks D-Bus, tests can run it against a fake daemon. */
export interface NmClient {
  /** True when org.freedesktop.NetworkManager has an owner on the bus. */
  isRunning(): Promise<boolean>;
  /** VersionInfo[0] (major<<16|minor<<8|micro), or undefined when the daemon does not expose it. */
  getVersionInfo(): Promise<number | undefined>;
  /** Realized devices in NetworkManager's order. */
  getDevices(): Promise<readonly NmDevice[]>;
  getAppliedConnection(devicePath: string, signal?: AbortSignal): Promise<AppliedConnection>;
  /** The persistent profile behind an active connection (Settings.Connection.GetSettings). */
  getActiveConnectionProfile(activeConnectionPath: string): Promise<SettingsDict>;
  /** Rejects with VersionIdMismatchError when versionId is stale. */
  reapply(devicePath: string, settings: SettingsDict, versionId: bigint, flags: number): Promise<void>;
  /** AddAndActivateConnection; devicePath "/" lets NM pick or create the device. */
  addAndActivateConnection(settings: SettingsDict, devicePath: string): Promise<ActiveConnectionInfo>;
  close(): Promise<void>;
}
