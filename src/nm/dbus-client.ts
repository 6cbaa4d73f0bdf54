// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * NmClient over dbus-next: the only module that imports it. Plain method calls, no proxies and
 * no introspection (NetworkManager's own advice: "use plain GDBusConnection"), with a timeout on
 * every call because dbus-next has none.
 */
import dbus from 'dbus-next';
import { CancelledError, errorMessage, NmError, NmTimeoutError, VersionIdMismatchError } from '../errors.js';
import { normalizeHwaddr } from '../net/hwaddr.js';
import { DeviceType, NM_BUS_NAME, NM_CALL_TIMEOUT_MS, NM_ERROR, NM_IFACE, NM_PATH, NM_SETTINGS_PATH } from './constants.js';
import type { ActiveConnectionInfo, AppliedConnection, NmClient, NmDevice } from './nm-client.js';
import type { DbusValue, SettingsDict } from './settings.js';

const { Message, Variant, DBusError } = dbus;

export interface DbusClientOptions {
  /** D-Bus address, e.g. "unix:path=/run/dbus/system_bus_socket". */
  readonly busAddress: string;
  readonly timeoutMs?: number;
}

/** Connects to the bus and returns an NmClient; rejects with NmError when the bus is unreachable. */
// eslint-disable-next-line max-lines-per-function -- TODO(issue 10): split with the bus-failure work
export async function connectNmClient({ busAddress, timeoutMs = NM_CALL_TIMEOUT_MS }: DbusClientOptions): Promise<NmClient> {
  const bus = dbus.sessionBus({ busAddress });
  let busError: Error | undefined;
  const pending = new Set<(error: Error) => void>();
  // dbus-next reports a broken connection only as an 'error' event; fail every waiting call.
  bus.on('error', (error: Error) => {
    busError = error;
    for (const fail of pending) fail(error);
  });

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new NmTimeoutError(`timed out connecting to D-Bus at ${busAddress}`)), timeoutMs);
    bus.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    bus.once('error', (error: Error) => {
      clearTimeout(timer);
      reject(new NmError(`cannot connect to D-Bus at ${busAddress}: ${errorMessage(error)}`, { cause: error }));
    });
  }).catch((error: unknown) => {
    bus.disconnect();
    throw error;
  });

  const call = async (
    path: string,
    iface: string,
    member: string,
    signature = '',
    body: unknown[] = [],
    options: { destination?: string; signal?: AbortSignal | undefined } = {},
  ): Promise<unknown[]> => {
    if (busError !== undefined) throw new NmError(`D-Bus connection failed: ${busError.message}`, { cause: busError });
    const message = new Message({
      destination: options.destination ?? NM_BUS_NAME,
      path,
      interface: iface,
      member,
      signature,
      body,
    });
    let fail: (error: Error) => void = () => {};
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => fail(new CancelledError());
    try {
      const reply = await Promise.race([
        bus.call(message),
        new Promise<never>((_, reject) => {
          fail = reject;
          pending.add(fail);
          timer = setTimeout(() => reject(new NmTimeoutError(`${member} timed out after ${timeoutMs} ms`)), timeoutMs);
          options.signal?.addEventListener('abort', onAbort, { once: true });
          if (options.signal?.aborted === true) onAbort();
        }),
      ]);
      return (reply?.body ?? []) as unknown[];
    } catch (error) {
      throw toNmError(member, error);
    } finally {
      clearTimeout(timer);
      pending.delete(fail);
      options.signal?.removeEventListener('abort', onAbort);
    }
  };

  const getAll = async (path: string, iface: string): Promise<Record<string, DbusValue>> =>
    (await call(path, NM_IFACE.properties, 'GetAll', 's', [iface]))[0] as Record<string, DbusValue>;

  const getProperty = async (path: string, iface: string, name: string): Promise<unknown> =>
    ((await call(path, NM_IFACE.properties, 'Get', 'ss', [iface, name]))[0] as DbusValue).value;

  const readDevice = async (path: string): Promise<NmDevice> => {
    const props = await getAll(path, NM_IFACE.device);
    const deviceType = Number(props['DeviceType']?.value ?? 0);
    let permHwaddr: string | undefined;
    if (deviceType === DeviceType.ethernet || deviceType === DeviceType.veth) {
      permHwaddr = normalizeHwaddr(String(await getProperty(path, NM_IFACE.wired, 'PermHwAddress').catch(() => '')));
    }
    const active = String(props['ActiveConnection']?.value ?? '/');
    return {
      path,
      iface: String(props['Interface']?.value ?? ''),
      deviceType,
      state: Number(props['State']?.value ?? 0),
      hwaddr: normalizeHwaddr(String(props['HwAddress']?.value ?? '')),
      permHwaddr,
      activeConnection: active === '/' ? undefined : active,
    };
  };

  /** Settings.AddConnection + ActivateConnection; the profile is removed again if activation fails. */
  const addThenActivate = async (wire: ReturnType<typeof toWireSettings>): Promise<string> => {
    const [profilePath] = (await call(NM_SETTINGS_PATH, NM_IFACE.settings, 'AddConnection', 'a{sa{sv}}', [wire])) as [string];
    try {
      const [activePath] = (await call(NM_PATH, NM_IFACE.manager, 'ActivateConnection', 'ooo', [profilePath, '/', '/'])) as [string];
      return activePath;
    } catch (error) {
      // Half-applied is worse than not applied: no orphan profile that a rerun would duplicate.
      await call(profilePath, NM_IFACE.settingsConnection, 'Delete').catch(() => undefined);
      throw error;
    }
  };

  return {
    async isRunning() {
      const [hasOwner] = await call('/org/freedesktop/DBus', 'org.freedesktop.DBus', 'NameHasOwner', 's', [NM_BUS_NAME], {
        destination: 'org.freedesktop.DBus',
      });
      return hasOwner === true;
    },

    async getVersionInfo() {
      // VersionInfo exists since NM 1.42; older daemons answer with an error.
      const info = await getProperty(NM_PATH, NM_IFACE.manager, 'VersionInfo').catch(() => undefined);
      return Array.isArray(info) && typeof info[0] === 'number' ? info[0] : undefined;
    },

    async getDevices() {
      const [paths] = (await call(NM_PATH, NM_IFACE.manager, 'GetDevices')) as [string[]];
      return Promise.all(paths.map(readDevice));
    },

    async getAppliedConnection(devicePath, signal): Promise<AppliedConnection> {
      const [settings, versionId] = await call(devicePath, NM_IFACE.device, 'GetAppliedConnection', 'u', [0], { signal });
      return { settings: settings as SettingsDict, versionId: versionId as bigint };
    },

    async getActiveConnectionProfile(activeConnectionPath) {
      const profilePath = String(await getProperty(activeConnectionPath, NM_IFACE.active, 'Connection'));
      const [settings] = await call(profilePath, NM_IFACE.settingsConnection, 'GetSettings');
      return settings as SettingsDict;
    },

    async getIpv6Gateway(devicePath, signal) {
      // "/" when the device has no IPv6 configuration; Gateway is "" when NM knows no router.
      const [config] = await call(devicePath, NM_IFACE.properties, 'Get', 'ss', [NM_IFACE.device, 'Ip6Config'], { signal });
      const configPath = String((config as DbusValue).value);
      if (configPath === '/' || configPath === '') return undefined;
      const [gateway] = await call(configPath, NM_IFACE.properties, 'Get', 'ss', [NM_IFACE.ip6Config, 'Gateway'], { signal });
      const text = String((gateway as DbusValue).value);
      return text === '' ? undefined : text;
    },

    async reapply(devicePath, settings, versionId, flags) {
      await call(devicePath, NM_IFACE.device, 'Reapply', 'a{sa{sv}}tu', [toWireSettings(settings), versionId, flags]);
    },

    async addAndActivateConnection(settings, devicePath): Promise<ActiveConnectionInfo> {
      const wire = toWireSettings(settings);
      let activePath: string;
      try {
        [, activePath] = (await call(NM_PATH, NM_IFACE.manager, 'AddAndActivateConnection', 'a{sa{sv}}oo', [wire, devicePath, '/'])) as [
          string,
          string,
        ];
      } catch (error) {
        if (devicePath !== '/' || !(error instanceof NmError) || error instanceof NmTimeoutError) throw error;
        // NM (1.42 at least) cannot AddAndActivate a software device (VLAN, MACVLAN) that does
        // not exist yet ("Failed to find a compatible device"); ActivateConnection creates it.
        activePath = await addThenActivate(wire);
      }
      const props = await getAll(activePath, NM_IFACE.active);
      return { path: activePath, id: String(props['Id']?.value ?? ''), uuid: String(props['Uuid']?.value ?? '') };
    },

    close() {
      bus.disconnect();
      return Promise.resolve();
    },
  };
}

function toNmError(member: string, error: unknown): Error {
  if (error instanceof NmError || error instanceof CancelledError) return error;
  if (error instanceof DBusError) {
    const options = { cause: error, dbusName: error.type };
    if (error.type === NM_ERROR.versionIdMismatch) return new VersionIdMismatchError(error.text, options);
    return new NmError(error.text || error.type, options);
  }
  return new NmError(`${member} failed: ${errorMessage(error)}`, { cause: error });
}

/** Turns plain settings into dbus-next Variants: every `v` on the wire must be a Variant instance. */
export function toWireSettings(settings: SettingsDict): Record<string, Record<string, dbus.Variant>> {
  const wire: Record<string, Record<string, dbus.Variant>> = {};
  for (const [name, setting] of Object.entries(settings)) {
    wire[name] = toWireDict(setting);
  }
  return wire;
}

function toWireDict(dict: Readonly<Record<string, DbusValue>>): Record<string, dbus.Variant> {
  const wire: Record<string, dbus.Variant> = {};
  for (const [key, value] of Object.entries(dict)) wire[key] = toWireVariant(value);
  return wire;
}

function toWireVariant({ signature, value }: DbusValue): dbus.Variant {
  if (signature === 'v') return new Variant('v', toWireVariant(value as DbusValue));
  if (signature === 'a{sv}') return new Variant(signature, toWireDict(value as Record<string, DbusValue>));
  if (signature === 'aa{sv}') {
    return new Variant(signature, (value as Record<string, DbusValue>[]).map(toWireDict));
  }
  return new Variant(signature, value);
}
