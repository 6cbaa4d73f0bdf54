// SPDX-License-Identifier: LGPL-2.1-or-later

/** NetworkManager's well-known bus name and object paths. */
export const NM_BUS_NAME = 'org.freedesktop.NetworkManager';
export const NM_PATH = '/org/freedesktop/NetworkManager';
export const NM_SETTINGS_PATH = '/org/freedesktop/NetworkManager/Settings';

/** D-Bus interfaces the tool talks to. */
export const NM_IFACE = {
  manager: 'org.freedesktop.NetworkManager',
  device: 'org.freedesktop.NetworkManager.Device',
  wired: 'org.freedesktop.NetworkManager.Device.Wired',
  active: 'org.freedesktop.NetworkManager.Connection.Active',
  ip6Config: 'org.freedesktop.NetworkManager.IP6Config',
  settings: 'org.freedesktop.NetworkManager.Settings',
  settingsConnection: 'org.freedesktop.NetworkManager.Settings.Connection',
  properties: 'org.freedesktop.DBus.Properties',
} as const;

/** D-Bus error names the tool reacts to. */
export const NM_ERROR = {
  versionIdMismatch: 'org.freedesktop.NetworkManager.Device.VersionIdMismatch',
  deviceFailed: 'org.freedesktop.NetworkManager.Device.Failed',
} as const;

/** NMDeviceType values used here. */
export const DeviceType = {
  ethernet: 1,
  bond: 10,
  vlan: 11,
  macvlan: 18,
  veth: 20,
} as const;

/** NMDeviceState values used here. */
export const DeviceState = {
  unavailable: 20,
  disconnected: 30,
  activated: 100,
} as const;

/** NMDeviceReapplyFlags: keep addresses and routes that other tools added (NM >= 1.41.6). */
export const REAPPLY_FLAG_PRESERVE_EXTERNAL_IP = 1;

/** NM 1.41.6 as encoded in VersionInfo[0] (major << 16 | minor << 8 | micro). */
export const NM_VERSION_1_41_6 = (1 << 16) | (41 << 8) | 6;

/** libnm's default D-Bus call timeout. */
export const NM_CALL_TIMEOUT_MS = 25_000;
