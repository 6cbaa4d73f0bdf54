// SPDX-License-Identifier: LGPL-2.1-or-later
import type { SettingsDict } from './settings.js';
import type { ActiveConnectionInfo, AppliedConnection, NmDevice } from './types.js';

// The data types live in types.ts, where the pure planner can use them; dbus-client.ts imports them from here.
export type { ActiveConnectionInfo, AppliedConnection, NmDevice } from './types.js';

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
  /**
   * The IPv6 router NetworkManager knows for the device (Device.Ip6Config → IP6Config.Gateway:
   * from router advertisements with ipv6.method auto); undefined when it knows none.
   */
  getIpv6Gateway(devicePath: string, signal?: AbortSignal): Promise<string | undefined>;
  /** Rejects with VersionIdMismatchError when versionId is stale. */
  reapply(devicePath: string, settings: SettingsDict, versionId: bigint, flags: number): Promise<void>;
  /** AddAndActivateConnection; devicePath "/" lets NM pick or create the device. */
  addAndActivateConnection(settings: SettingsDict, devicePath: string): Promise<ActiveConnectionInfo>;
  close(): Promise<void>;
}
