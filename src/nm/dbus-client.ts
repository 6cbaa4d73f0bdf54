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
import type { Logger } from '../log.js';

const { Message, Variant, DBusError } = dbus;

export interface DbusClientOptions {
  /** D-Bus address, e.g. "unix:path=/run/dbus/system_bus_socket". */
  readonly busAddress: string;
  readonly timeoutMs?: number;
  /** Debug lines about devices that vanished while being listed. */
  readonly log?: Logger;
}

/** D-Bus errors for a call on an object that is gone (GDBus says UnknownMethod, newer daemons UnknownObject). */
const VANISHED_OBJECT = new Set(['org.freedesktop.DBus.Error.UnknownObject', 'org.freedesktop.DBus.Error.UnknownMethod']);

/** Connects to the bus and returns an NmClient; rejects with NmError when the bus is unreachable. */
export async function connectNmClient({ busAddress, timeoutMs = NM_CALL_TIMEOUT_MS, log }: DbusClientOptions): Promise<NmClient> {
  const connection = new BusConnection(dbus.sessionBus({ busAddress }), timeoutMs);
  await connection.connected(busAddress);
  return new DbusNmClient(connection, log);
}

/** What dbus-next keeps to itself: the socket, whose end it never reports (dbus-next 0.10). */
interface DbusNextInternals {
  readonly _connection?: {
    on?: (event: 'end', listener: () => void) => unknown;
    readonly stream?: { on?: (event: 'close', listener: () => void) => unknown; destroy?: () => void };
  };
}

/** One call: member on path/iface, with its arguments. */
interface CallRequest {
  readonly path: string;
  readonly iface: string;
  readonly member: string;
  readonly signature?: string;
  readonly body?: unknown[];
  readonly destination?: string;
  readonly signal?: AbortSignal | undefined;
}

/**
 * The bus connection: calls with a timeout, and a failed or closed connection fails every
 * pending call and every later one at once (not after the 25 s timeout).
 */
class BusConnection {
  private failure: Error | undefined;
  private readonly pending = new Set<(error: Error) => void>();
  private readonly internals: DbusNextInternals;

  constructor(
    private readonly bus: dbus.MessageBus,
    private readonly timeoutMs: number,
  ) {
    this.internals = bus as unknown as DbusNextInternals;
    // dbus-next reports a broken connection as an 'error' event, but a socket the daemon
    // closed (dbus-daemon died) only on its internal connection: watch both.
    bus.on('error', (error: Error) => this.fail(error));
    const closed = (): void => this.fail(new Error('the D-Bus connection was closed'));
    this.internals._connection?.on?.('end', closed);
    this.internals._connection?.stream?.on?.('close', closed);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const reject of [...this.pending]) reject(error);
  }

  /** Resolves once the bus said hello; otherwise rejects, with the socket destroyed. */
  async connected(busAddress: string): Promise<void> {
    let reject: (error: Error) => void = () => {};
    const timer = setTimeout(() => reject(new NmTimeoutError(`timed out connecting to D-Bus at ${busAddress}`)), this.timeoutMs);
    try {
      await new Promise<void>((resolve, fail) => {
        reject = (error) =>
          fail(
            error instanceof NmError
              ? error
              : new NmError(`cannot connect to D-Bus at ${busAddress}: ${errorMessage(error)}`, { cause: error }),
          );
        this.pending.add(reject);
        if (this.failure !== undefined) reject(this.failure);
        this.bus.once('connect', resolve);
      });
    } catch (error) {
      this.destroy();
      throw error;
    } finally {
      clearTimeout(timer);
      this.pending.delete(reject);
    }
  }

  /** Sends one method call; rejects with NmError, NmTimeoutError or CancelledError. */
  async call({ path, iface, member, signature = '', body = [], destination = NM_BUS_NAME, signal }: CallRequest): Promise<unknown[]> {
    // The failure handler is in place before the message is sent: dbus-next reports a closed
    // socket synchronously, from inside bus.call().
    let reject: (error: Error) => void = () => {};
    const failed = new Promise<never>((_, fail) => (reject = fail));
    this.pending.add(reject);
    const timer = setTimeout(() => reject(new NmTimeoutError(`${member} timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
    const onAbort = (): void => reject(new CancelledError());
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      if (this.failure !== undefined) throw new NmError(`D-Bus connection failed: ${this.failure.message}`, { cause: this.failure });
      if (signal?.aborted === true) throw new CancelledError();
      const message = new Message({ destination, path, interface: iface, member, signature, body });
      const reply = await Promise.race([this.bus.call(message), failed]);
      return (reply?.body ?? []) as unknown[];
    } catch (error) {
      throw toNmError(member, error);
    } finally {
      clearTimeout(timer);
      this.pending.delete(reject);
      signal?.removeEventListener('abort', onAbort);
      failed.catch(() => {});
    }
  }

  /** Fails what is still pending and drops the socket: nothing may keep the process alive. */
  close(): void {
    this.fail(new NmError('the D-Bus connection was closed'));
    this.destroy();
  }

  private destroy(): void {
    this.bus.disconnect();
    // disconnect() only half-closes: a peer that never answers would keep the socket open.
    this.internals._connection?.stream?.destroy?.();
  }
}

/** NmClient over one bus connection. */
class DbusNmClient implements NmClient {
  constructor(
    private readonly bus: BusConnection,
    private readonly log: Logger | undefined,
  ) {}

  private async getAll(path: string, iface: string): Promise<Record<string, DbusValue>> {
    const [props] = await this.bus.call({ path, iface: NM_IFACE.properties, member: 'GetAll', signature: 's', body: [iface] });
    return props as Record<string, DbusValue>;
  }

  private async getProperty(path: string, iface: string, name: string, signal?: AbortSignal): Promise<unknown> {
    const [value] = await this.bus.call({ path, iface: NM_IFACE.properties, member: 'Get', signature: 'ss', body: [iface, name], signal });
    return (value as DbusValue).value;
  }

  private async readDevice(path: string): Promise<NmDevice> {
    const props = await this.getAll(path, NM_IFACE.device);
    const deviceType = Number(props['DeviceType']?.value ?? 0);
    let permHwaddr: string | undefined;
    if (deviceType === DeviceType.ethernet || deviceType === DeviceType.veth) {
      permHwaddr = normalizeHwaddr(String(await this.getProperty(path, NM_IFACE.wired, 'PermHwAddress').catch(() => '')));
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
  }

  /** readDevice(), or undefined for a device removed since GetDevices (veths come and go). */
  private async readDeviceIfPresent(path: string): Promise<NmDevice | undefined> {
    try {
      return await this.readDevice(path);
    } catch (error) {
      if (!(error instanceof NmError) || !VANISHED_OBJECT.has(error.dbusName ?? '')) throw error;
      this.log?.debug(`device ${path} vanished while listing devices: ${error.message}`);
      return undefined;
    }
  }

  /** Settings.AddConnection + ActivateConnection; the profile is removed again if activation fails. */
  private async addThenActivate(wire: ReturnType<typeof toWireSettings>): Promise<string> {
    const [profilePath] = (await this.bus.call({
      path: NM_SETTINGS_PATH,
      iface: NM_IFACE.settings,
      member: 'AddConnection',
      signature: 'a{sa{sv}}',
      body: [wire],
    })) as [string];
    try {
      const [activePath] = (await this.bus.call({
        path: NM_PATH,
        iface: NM_IFACE.manager,
        member: 'ActivateConnection',
        signature: 'ooo',
        body: [profilePath, '/', '/'],
      })) as [string];
      return activePath;
    } catch (error) {
      // Half-applied is worse than not applied: no orphan profile that a rerun would duplicate.
      await this.bus.call({ path: profilePath, iface: NM_IFACE.settingsConnection, member: 'Delete' }).catch(() => undefined);
      throw error;
    }
  }

  async isRunning(): Promise<boolean> {
    const [hasOwner] = await this.bus.call({
      path: '/org/freedesktop/DBus',
      iface: 'org.freedesktop.DBus',
      member: 'NameHasOwner',
      signature: 's',
      body: [NM_BUS_NAME],
      destination: 'org.freedesktop.DBus',
    });
    return hasOwner === true;
  }

  async getVersionInfo(): Promise<number | undefined> {
    // VersionInfo exists since NM 1.42; older daemons answer with an error.
    const info = await this.getProperty(NM_PATH, NM_IFACE.manager, 'VersionInfo').catch(() => undefined);
    return Array.isArray(info) && typeof info[0] === 'number' ? info[0] : undefined;
  }

  async getDevices(): Promise<readonly NmDevice[]> {
    const [paths] = (await this.bus.call({ path: NM_PATH, iface: NM_IFACE.manager, member: 'GetDevices' })) as [string[]];
    const devices = await Promise.all(paths.map((path) => this.readDeviceIfPresent(path)));
    return devices.filter((device) => device !== undefined);
  }

  async getAppliedConnection(devicePath: string, signal?: AbortSignal): Promise<AppliedConnection> {
    const [settings, versionId] = await this.bus.call({
      path: devicePath,
      iface: NM_IFACE.device,
      member: 'GetAppliedConnection',
      signature: 'u',
      body: [0],
      signal,
    });
    return { settings: settings as SettingsDict, versionId: versionId as bigint };
  }

  async getActiveConnectionProfile(activeConnectionPath: string): Promise<SettingsDict> {
    const profilePath = String(await this.getProperty(activeConnectionPath, NM_IFACE.active, 'Connection'));
    const [settings] = await this.bus.call({ path: profilePath, iface: NM_IFACE.settingsConnection, member: 'GetSettings' });
    return settings as SettingsDict;
  }

  async getIpv6Gateway(devicePath: string, signal?: AbortSignal): Promise<string | undefined> {
    // "/" when the device has no IPv6 configuration; Gateway is "" when NM knows no router.
    const configPath = String(await this.getProperty(devicePath, NM_IFACE.device, 'Ip6Config', signal));
    if (configPath === '/' || configPath === '') return undefined;
    const gateway = String(await this.getProperty(configPath, NM_IFACE.ip6Config, 'Gateway', signal));
    return gateway === '' ? undefined : gateway;
  }

  async reapply(devicePath: string, settings: SettingsDict, versionId: bigint, flags: number): Promise<void> {
    await this.bus.call({
      path: devicePath,
      iface: NM_IFACE.device,
      member: 'Reapply',
      signature: 'a{sa{sv}}tu',
      body: [toWireSettings(settings), versionId, flags],
    });
  }

  async addAndActivateConnection(settings: SettingsDict, devicePath: string): Promise<ActiveConnectionInfo> {
    const wire = toWireSettings(settings);
    let activePath: string;
    try {
      [, activePath] = (await this.bus.call({
        path: NM_PATH,
        iface: NM_IFACE.manager,
        member: 'AddAndActivateConnection',
        signature: 'a{sa{sv}}oo',
        body: [wire, devicePath, '/'],
      })) as [string, string];
    } catch (error) {
      if (devicePath !== '/' || !(error instanceof NmError) || error instanceof NmTimeoutError) throw error;
      // NM (1.42 at least) cannot AddAndActivate a software device (VLAN, MACVLAN) that does
      // not exist yet ("Failed to find a compatible device"); ActivateConnection creates it.
      activePath = await this.addThenActivate(wire);
    }
    const props = await this.getAll(activePath, NM_IFACE.active);
    return { path: activePath, id: String(props['Id']?.value ?? ''), uuid: String(props['Uuid']?.value ?? '') };
  }

  close(): Promise<void> {
    this.bus.close();
    return Promise.resolve();
  }
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
