// SPDX-License-Identifier: LGPL-2.1-or-later
// NetworkManager in memory: an NmClient with devices, applied connections, version ids and
// profiles, for running run() and the executor in-process in milliseconds. It keeps the
// rules of the daemon the tool depends on (nm-device.c impl_device_reapply: flags, state,
// version id; a Reapply bumps the version id; AddAndActivate creates software devices) and
// records every call. The wire itself is tested against test/fakes/fake-nm-service.ts.
import { NmError, VersionIdMismatchError } from '../../src/errors.js';
import { DeviceState, DeviceType, NM_ERROR, REAPPLY_FLAG_PRESERVE_EXTERNAL_IP } from '../../src/nm/constants.js';
import type { NmClient } from '../../src/nm/nm-client.js';
import type { DbusValue, SettingsDict } from '../../src/nm/settings.js';
import type { ActiveConnectionInfo, AppliedConnection, NmDevice } from '../../src/nm/types.js';

export type MemoryDeviceType = keyof typeof DeviceType | 'bond';

export interface MemoryDeviceSpec {
  readonly iface: string;
  readonly type: MemoryDeviceType;
  /** Permanent MAC (Ethernet) and current MAC; upper case, as the tool normalizes them. */
  readonly hwaddr?: string;
  /** Default: activated when there is a profile, disconnected otherwise. */
  readonly state?: number;
  /** The profile active on the device (its applied connection starts as a copy). */
  readonly profile?: SettingsDict;
  /** The IPv6 router NetworkManager learned for it (IP6Config.Gateway), e.g. from router advertisements. */
  readonly ipv6Gateway?: string;
}

export interface MemoryNmOptions {
  /** VersionInfo[0]; undefined: the daemon does not expose it (older than 1.43). */
  readonly version?: number;
  /** The daemon rejects the preserve-external-ip flag (NM < 1.41.6) with Device.Failed. */
  readonly rejectPreserveExternalIp?: boolean;
  /** Per interface: how many GetAppliedConnection answers another client makes stale right after. */
  readonly staleReads?: Readonly<Record<string, number>>;
  /** AddAndActivateConnection fails with this message. */
  readonly addAndActivateFails?: string;
  /** NetworkManager has no owner on the bus. */
  readonly notRunning?: boolean;
  /** The bus fails NameHasOwner with this message (it died right after the connection). */
  readonly nameHasOwnerFails?: string;
  /** Every Reapply fails with this message (Device.Failed). */
  readonly reapplyFails?: string;
}

export interface MemoryNmCall {
  readonly member: string;
  /** Interface name of the device called, or "/" for NM's choice. */
  readonly device?: string;
  readonly settings?: SettingsDict;
  readonly versionId?: bigint;
  readonly flags?: number;
}

interface Device {
  readonly path: string;
  readonly spec: MemoryDeviceSpec;
  state: number;
  applied: SettingsDict | undefined;
  profile: SettingsDict | undefined;
  activePath: string | undefined;
  versionId: bigint;
  staleReads: number;
}

const typeCode = (type: MemoryDeviceType): number => (type === 'bond' ? 10 : DeviceType[type]);
const str = (settings: SettingsDict | undefined, key: 'id' | 'uuid' | 'type'): string => {
  const value = settings?.['connection']?.[key]?.value;
  return typeof value === 'string' ? value : '';
};

/** An in-memory NetworkManager; `calls` lists every call in order, `appliedOf` reads a device's state. */
export class MemoryNm implements NmClient {
  readonly calls: MemoryNmCall[] = [];
  /** Hooks run after a successful Reapply (e.g. deliver SIGTERM). */
  readonly afterReapply: (() => void)[] = [];
  private readonly devices: Device[];
  private nextId = 1;
  closed = false;

  constructor(
    specs: readonly MemoryDeviceSpec[],
    private readonly options: MemoryNmOptions = {},
  ) {
    this.devices = specs.map((spec, i) => this.device(spec, i + 1));
  }

  private device(spec: MemoryDeviceSpec, n: number): Device {
    const active = spec.profile !== undefined;
    return {
      path: `/org/freedesktop/NetworkManager/Devices/${n}`,
      spec,
      state: spec.state ?? (active ? DeviceState.activated : DeviceState.disconnected),
      applied: spec.profile,
      profile: spec.profile,
      activePath: active ? `/org/freedesktop/NetworkManager/ActiveConnection/${n}` : undefined,
      versionId: 1n,
      staleReads: this.options.staleReads?.[spec.iface] ?? 0,
    };
  }

  /** The applied connection of the device named `iface` now. */
  appliedOf(iface: string): SettingsDict | undefined {
    return this.devices.find((device) => device.spec.iface === iface)?.applied;
  }

  /** Interface names of the devices, in NetworkManager's order (created ones last). */
  deviceNames(): string[] {
    return this.devices.map((device) => device.spec.iface);
  }

  isRunning(): Promise<boolean> {
    this.calls.push({ member: 'NameHasOwner' });
    if (this.options.nameHasOwnerFails !== undefined) return Promise.reject(new NmError(this.options.nameHasOwnerFails));
    return Promise.resolve(this.options.notRunning !== true);
  }

  getVersionInfo(): Promise<number | undefined> {
    return Promise.resolve(this.options.version);
  }

  getDevices(): Promise<readonly NmDevice[]> {
    this.calls.push({ member: 'GetDevices' });
    return Promise.resolve(
      this.devices.map((device) => ({
        path: device.path,
        iface: device.spec.iface,
        deviceType: typeCode(device.spec.type),
        state: device.state,
        hwaddr: device.spec.hwaddr,
        permHwaddr: device.spec.type === 'ethernet' || device.spec.type === 'veth' ? device.spec.hwaddr : undefined,
        activeConnection: device.activePath,
      })),
    );
  }

  getAppliedConnection(devicePath: string): Promise<AppliedConnection> {
    const device = this.byPath(devicePath);
    this.calls.push({ member: 'GetAppliedConnection', device: device.spec.iface });
    if (device.applied === undefined) return Promise.reject(new NmError('Device is not activated'));
    const reply = { settings: device.applied, versionId: device.versionId };
    if (device.staleReads > 0) {
      device.staleReads--;
      device.versionId += 1n; // another client reapplied in between
    }
    return Promise.resolve(reply);
  }

  getActiveConnectionProfile(activeConnectionPath: string): Promise<SettingsDict> {
    const device = this.devices.find((candidate) => candidate.activePath === activeConnectionPath);
    if (device?.profile === undefined) return Promise.reject(new NmError(`no active connection ${activeConnectionPath}`));
    return Promise.resolve(device.profile);
  }

  getIpv6Gateway(devicePath: string): Promise<string | undefined> {
    const device = this.byPath(devicePath);
    this.calls.push({ member: 'Ip6Config.Gateway', device: device.spec.iface });
    return Promise.resolve(device.applied === undefined ? undefined : device.spec.ipv6Gateway);
  }

  reapply(devicePath: string, settings: SettingsDict, versionId: bigint, flags: number): Promise<void> {
    const device = this.byPath(devicePath);
    this.calls.push({ member: 'Reapply', device: device.spec.iface, settings, versionId, flags });
    const badFlags = (flags & ~REAPPLY_FLAG_PRESERVE_EXTERNAL_IP) !== 0 || (flags !== 0 && this.options.rejectPreserveExternalIp === true);
    if (badFlags) return Promise.reject(new NmError('Invalid flags specified', { dbusName: NM_ERROR.deviceFailed }));
    if (device.applied === undefined) return Promise.reject(new NmError('Device is not activated'));
    if (this.options.reapplyFails !== undefined) {
      return Promise.reject(new NmError(this.options.reapplyFails, { dbusName: NM_ERROR.deviceFailed }));
    }
    if (versionId !== 0n && versionId !== device.versionId) {
      return Promise.reject(
        new VersionIdMismatchError('Reapply failed because device changed in the meantime and the version-id mismatches'),
      );
    }
    device.applied = settings;
    device.versionId += 1n;
    for (const hook of this.afterReapply) hook();
    return Promise.resolve();
  }

  addAndActivateConnection(settings: SettingsDict, devicePath: string): Promise<ActiveConnectionInfo> {
    const target = devicePath === '/' ? undefined : this.byPath(devicePath);
    this.calls.push({ member: 'AddAndActivateConnection', device: target?.spec.iface ?? '/', settings });
    if (this.options.addAndActivateFails !== undefined) return Promise.reject(new NmError(this.options.addAndActivateFails));
    const n = this.nextId++;
    const id = str(settings, 'id') || `connection-${n}`;
    const uuid = `00000000-0000-4000-8000-${n.toString().padStart(12, '0')}`;
    const connection: Record<string, DbusValue> = {
      ...settings['connection'],
      id: { signature: 's', value: id },
      uuid: { signature: 's', value: uuid },
    };
    const profile: SettingsDict = { ...settings, connection };
    const device = target ?? this.createSoftwareDevice(profile);
    device.profile = profile;
    device.applied = profile;
    device.state = DeviceState.activated;
    device.activePath = `/org/freedesktop/NetworkManager/ActiveConnection/new${n}`;
    return Promise.resolve({ path: device.activePath, id, uuid });
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** A software device named by the profile (interface-name, else its id), carrying its cloned MAC. */
  private createSoftwareDevice(profile: SettingsDict): Device {
    const kind = str(profile, 'type');
    const type = kind === 'macvlan' || kind === 'bond' ? kind : 'vlan';
    const name = profile['connection']?.['interface-name']?.value;
    const cloned = profile['802-3-ethernet']?.['cloned-mac-address']?.value;
    const hwaddr =
      cloned instanceof Uint8Array ? [...cloned].map((byte) => byte.toString(16).padStart(2, '0').toUpperCase()).join(':') : undefined;
    const device = this.device(
      { iface: typeof name === 'string' ? name : str(profile, 'id'), type, ...(hwaddr === undefined ? {} : { hwaddr }) },
      this.devices.length + 1,
    );
    this.devices.push(device);
    return device;
  }

  private byPath(path: string): Device {
    const device = this.devices.find((candidate) => candidate.path === path);
    if (device === undefined) throw new NmError(`unknown device ${path}`);
    return device;
  }
}
