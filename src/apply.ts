// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Applies a metadata result to NetworkManager device by device (upstream's _config_all and
 * _config_existing): the decisions are in plan/, this module only sequences the D-Bus calls.
 */
import type { InterfaceMapping } from './config.js';
import { errorMessage, isCancellation, VersionIdMismatchError, NmError } from './errors.js';
import type { Logger } from './log.js';
import { isValidInterface, type InterfaceConfig, type MetadataConfig } from './model.js';
import { normalizeHwaddr } from './net/hwaddr.js';
import { DeviceState, DeviceType, NM_ERROR, NM_VERSION_1_41_6, REAPPLY_FLAG_PRESERVE_EXTERNAL_IP } from './nm/constants.js';
import type { AppliedConnection, NmClient, NmDevice } from './nm/nm-client.js';
import { getString, withIpv4Lists, type DbusDict, type DbusValue, type SettingsDict } from './nm/settings.js';
import { nmcliIpv4Of, type NmcliIpv4 } from './plan/nmcli.js';
import { ETHERNET_TYPE, MACVLAN_TYPE, VLAN_TYPE, desiredIpv4Lists, planDevice } from './plan/plan-device.js';
import { MAX_INTERFACES, type MetadataTotals } from './plan/policy-routing.js';

/** How many times a Reapply is retried after another client changed the applied connection. */
export const MAX_REAPPLY_RETRIES = 5;

/** macvlan.mode of the MACVLAN under an OCI VLAN VNIC: VEPA, as upstream. */
const MACVLAN_MODE_VEPA = 1;

/** User-data that marks profiles nm-cloud-setup created. */
export const USER_DATA_ORIGIN = 'org.freedesktop.NetworkManager.origin';

/** SIGTERM handling seen from the pipeline: abort reads, but never a write half-way. */
export interface Cancellation {
  readonly signal: AbortSignal;
  /** Called right before the first write; from then on SIGTERM is ignored. */
  disable(): void;
}

export interface ApplyContext {
  readonly nm: NmClient;
  readonly log: Logger;
  readonly cancellation: Cancellation;
  /** NM_CLOUD_SETUP_ALLOW_NEW_CONN, already defaulted per provider. */
  readonly allowNewConnections: boolean;
  readonly devices: readonly NmDevice[];
  readonly mapInterfaces: readonly InterfaceMapping[];
  /** VersionInfo[0] of the daemon, undefined when unknown. */
  readonly nmVersion: number | undefined;
  /** Plan only: decide everything, write nothing (`plan`, `status`). */
  readonly dryRun: boolean;
  /** Reads started while the metadata was fetched, by device path (readConnectionsAhead). */
  readonly readAhead?: ReadonlyMap<string, ConnectionRead>;
}

/** A device's applied connection and the profile behind it, as read from NetworkManager. */
export interface ConnectionRead {
  readonly applied: Promise<AppliedConnection>;
  readonly profile: Promise<SettingsDict | undefined>;
}

/**
 * Starts reading the applied connection and profile of every active Ethernet-class device, to
 * run while the metadata is fetched: NM answers while the network is slow, instead of after
 * it, which with many NICs is most of a run's time. Each device's first attempt uses its read;
 * a retry after a version-id mismatch reads afresh, so a stale read costs one retry at worst.
 */
export function readConnectionsAhead(nm: NmClient, devices: readonly NmDevice[], signal: AbortSignal): Map<string, ConnectionRead> {
  const reads = new Map<string, ConnectionRead>();
  for (const device of devices) {
    if (!isEthernetClass(device) || device.activeConnection === undefined) continue;
    const read = readConnection(nm, device, signal);
    // Used later, or never (metadata failed): never an unhandled rejection.
    read.applied.catch(() => {});
    read.profile.catch(() => {});
    reads.set(device.path, read);
  }
  return reads;
}

function readConnection(nm: NmClient, device: NmDevice, signal: AbortSignal): ConnectionRead {
  const active = device.activeConnection;
  return {
    applied: nm.getAppliedConnection(device.path, signal),
    profile: active === undefined ? Promise.resolve(undefined) : nm.getActiveConnectionProfile(active),
  };
}

/**
 * What became of one device (or, for OCI VLAN VNICs, one of its two profiles):
 * `pending` is a change a dry run would have made.
 */
export type DeviceResult = 'applied' | 'unchanged' | 'skipped' | 'failed' | 'pending';

export interface DeviceOutcome {
  readonly hwaddr: string;
  readonly result: DeviceResult;
  /** NM's interface name, once a device was matched. */
  readonly device?: string;
  readonly connection?: { readonly id: string; readonly uuid: string };
  /** Why it was skipped, or what it failed with. */
  readonly reason?: string;
  /** The ipv4 lists of the applied connection before and after a (pending) Reapply. */
  readonly ipv4?: { readonly before: NmcliIpv4; readonly after: NmcliIpv4 };
  /** A profile created (or, in a dry run, to be created) instead of a Reapply. */
  readonly created?: { readonly id: string; readonly type: string; readonly ipv4: NmcliIpv4 };
  /** Upstream's "changed": a write was attempted, whether or not it succeeded. */
  readonly wrote: boolean;
}

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

/** Configures every record in order; one outcome per device touched or skipped. */
export async function configureAll(context: ApplyContext, metadata: MetadataConfig): Promise<DeviceOutcome[]> {
  const outcomes: DeviceOutcome[] = [];
  for (const config of metadata.interfaces) {
    if (context.cancellation.signal.aborted) break;
    try {
      outcomes.push(...(await configureOne(context, config, metadata)));
    } catch (error) {
      if (isCancellation(error)) break;
      throw error;
    }
  }
  return outcomes;
}

/** Upstream's any_changed: some device was written to. */
export function anyWrote(outcomes: readonly DeviceOutcome[]): boolean {
  return outcomes.some((outcome) => outcome.wrote);
}

const skipped = (hwaddr: string, reason: string, device?: NmDevice): DeviceOutcome => ({
  hwaddr,
  result: 'skipped',
  reason,
  wrote: false,
  ...(device === undefined ? {} : { device: device.iface }),
});

async function configureOne(outer: ApplyContext, config: InterfaceConfig, totals: MetadataTotals): Promise<DeviceOutcome[]> {
  const context = { ...outer, log: outer.log.with({ hwaddr: config.hwaddr }) };
  const { log } = context;
  const scope = `config device ${config.hwaddr}`;
  if (!isValidInterface(config)) {
    log.debug(`${scope}: skip because meta data not successfully fetched`);
    return [skipped(config.hwaddr, 'meta data not successfully fetched')];
  }
  if (config.ifaceIdx >= MAX_INTERFACES) {
    log.debug(`${scope}: skip because number of supported interfaces reached`);
    return [skipped(config.hwaddr, 'number of supported interfaces reached')];
  }
  if (context.allowNewConnections && config.vlanTag !== undefined && config.vlanTag !== 0) {
    return configureVlanVnic(context, config, totals);
  }
  const device = context.devices.find(
    (candidate) => isEthernetClass(candidate) && ethernetHwaddr(candidate, context.mapInterfaces) === config.hwaddr,
  );
  if (device === undefined) {
    log.debug(`${scope}: skip because device not found`);
    return [skipped(config.hwaddr, 'device not found')];
  }
  if (context.allowNewConnections && device.state === DeviceState.disconnected) {
    return [await createEthernetConnection(context, device, config, totals)];
  }
  return [await configureExisting(context, device, config, totals, ETHERNET_TYPE)];
}

/**
 * OCI bare metal: a VLAN VNIC is a MACVLAN on the physical NIC (carrying the VNIC's MAC) with a
 * VLAN on top that holds the address. Each is created when no device of its kind has the MAC.
 */
async function configureVlanVnic(context: ApplyContext, config: InterfaceConfig, totals: MetadataTotals): Promise<DeviceOutcome[]> {
  const { log } = context;
  const tag = config.vlanTag ?? 0;
  const parent = config.parentHwaddr;
  if (parent === undefined) {
    log.warn(`config device ${config.hwaddr}: has vlan id ${tag} but no parent device`);
    return [skipped(config.hwaddr, `has vlan id ${tag} but no parent device`)];
  }
  const macvlanName = `macvlan${config.ifaceIdx}`;
  const findDevice = (deviceType: number): NmDevice | undefined =>
    context.devices.find((device) => device.deviceType === deviceType && device.hwaddr === config.hwaddr);

  const outcomes: DeviceOutcome[] = [];
  const macvlan = findDevice(DeviceType.macvlan);
  if (macvlan !== undefined) {
    outcomes.push(await configureExisting(context, macvlan, config, totals, MACVLAN_TYPE));
  } else {
    log.debug(`config device ${config.hwaddr}: creating ${macvlanName} connection for VLAN ${tag} on ${parent}...`);
    // With NM_CLOUD_SETUP_MAP_INTERFACES the physical NIC is known by name only (CI's veths
    // have no permanent MAC), so the parent is named instead of matched by MAC.
    const parentName = context.mapInterfaces.find((mapping) => mapping.hwaddr === parent)?.iface;
    const settings: SettingsDict = {
      connection: { id: str(macvlanName), type: str(MACVLAN_TYPE), 'interface-name': str(macvlanName) },
      macvlan: { mode: { signature: 'u', value: MACVLAN_MODE_VEPA }, ...(parentName === undefined ? {} : { parent: str(parentName) }) },
      ipv4: { method: str('disabled') },
      ipv6: { method: str('disabled') },
      '802-3-ethernet': {
        ...(parentName === undefined ? { 'mac-address': macBytes(parent) } : {}),
        'cloned-mac-address': macBytes(config.hwaddr),
      },
      user: originUserData(),
    };
    outcomes.push(await createConnection(context, settings, '/', config.hwaddr));
  }

  const vlan = findDevice(DeviceType.vlan);
  if (vlan !== undefined) {
    outcomes.push(await configureExisting(context, vlan, config, totals, VLAN_TYPE));
  } else {
    log.debug(`config device ${config.hwaddr}: creating vlan connection for VLAN ${tag} on ${config.hwaddr}...`);
    const base: SettingsDict = {
      connection: { id: str(`vlan${config.ifaceIdx}`), type: str(VLAN_TYPE) },
      vlan: { parent: str(macvlanName), id: { signature: 'u', value: tag } },
      ipv4: { method: str('manual') },
      '802-3-ethernet': { 'mac-address': macBytes(config.hwaddr), 'cloned-mac-address': macBytes(config.hwaddr) },
      user: originUserData(),
    };
    const settings = withIpv4Lists(base, desiredIpv4Lists(VLAN_TYPE, undefined, config, totals));
    outcomes.push(await createConnection(context, settings, '/', config.hwaddr));
  }
  return outcomes;
}

async function configureExisting(
  context: ApplyContext,
  device: NmDevice,
  config: InterfaceConfig,
  totals: MetadataTotals,
  expectedType: string,
): Promise<DeviceOutcome> {
  const { nm, cancellation } = context;
  const log = context.log.with({ device: device.iface });
  const scope = `config device ${config.hwaddr}`;
  log.debug(`${scope}: configuring "${device.iface || '/unknown/'}" (${device.path})...`);

  for (let retry = 0; ; retry++) {
    const read = (retry === 0 ? context.readAhead?.get(device.path) : undefined) ?? readConnection(nm, device, cancellation.signal);
    let applied;
    try {
      applied = await read.applied;
    } catch (error) {
      if (isCancellation(error)) throw error;
      log.debug(`${scope}: device has no applied connection (${errorMessage(error)}). Skip`);
      return skipped(config.hwaddr, `device has no applied connection (${errorMessage(error)})`, device);
    }
    const profile = await read.profile.catch((error: unknown) => {
      log.debug(`${scope}: cannot read the profile of the active connection (${errorMessage(error)})`);
      return undefined;
    });
    const plan = planDevice({ applied: applied.settings, profile, config, totals, expectedType });
    const id = getString(applied.settings, 'connection', 'id') ?? '';
    const uuid = getString(applied.settings, 'connection', 'uuid') ?? '';
    const name = `"${id}" (${uuid})`;
    const seen = { hwaddr: config.hwaddr, device: device.iface, connection: { id, uuid } };
    if (plan.kind === 'skip') {
      log.debug(`${scope}: ${plan.reason}`);
      return { ...seen, result: 'skipped', reason: plan.reason, wrote: false };
    }
    if (plan.kind === 'unchanged') {
      const why = plan.isSingleAddress ? ' because there are not multiple IP addresses' : '';
      log.debug(`${scope}: device needs no update to applied connection ${name}${why}. Skip`);
      return { ...seen, result: 'unchanged', wrote: false };
    }
    const ipv4 = { before: nmcliIpv4Of(applied.settings), after: nmcliIpv4Of(plan.settings) };
    if (context.dryRun) {
      log.debug(`${scope}: would reapply connection ${name}`);
      return { ...seen, result: 'pending', ipv4, wrote: false };
    }

    log.debug(`${scope}: reapply connection ${name}`);
    // Once we start reconfiguring the system we must not stop half-way: a device left without
    // its route to the metadata server may never recover. SIGTERM is ignored from here on.
    cancellation.disable();
    try {
      await reapply(context, device.path, plan.settings, applied.versionId);
      log.debug(`${scope}: connection ${name} reapplied`);
      return { ...seen, result: 'applied', ipv4, wrote: true };
    } catch (error) {
      if (error instanceof VersionIdMismatchError && retry < MAX_REAPPLY_RETRIES) {
        log.debug(`${scope}: applied connection changed in the meantime. Retry...`);
        continue;
      }
      log.warn(`${scope}: failure to reapply connection ${name}: ${errorMessage(error)}`);
      return { ...seen, result: 'failed', reason: errorMessage(error), ipv4, wrote: true };
    }
  }
}

/** Reapply with preserve-external-ip, falling back to no flags on daemons that may not know it. */
async function reapply(context: ApplyContext, path: string, settings: SettingsDict, versionId: bigint): Promise<void> {
  try {
    await context.nm.reapply(path, settings, versionId, REAPPLY_FLAG_PRESERVE_EXTERNAL_IP);
  } catch (error) {
    // "preserve-external-ip" was introduced in 1.41.6 (maybe backported); older daemons reject
    // unknown flags with Device.Failed.
    const isOldDaemon = context.nmVersion === undefined || context.nmVersion < NM_VERSION_1_41_6;
    if (!(isOldDaemon && error instanceof NmError && error.dbusName === NM_ERROR.deviceFailed)) throw error;
    await context.nm.reapply(path, settings, versionId, 0);
  }
}

/** Creates and activates a profile for a disconnected Ethernet device (OCI VMs: VNICs without DHCP). */
function createEthernetConnection(
  context: ApplyContext,
  device: NmDevice,
  config: InterfaceConfig,
  totals: MetadataTotals,
): Promise<DeviceOutcome> {
  const base: SettingsDict = {
    connection: { type: str(ETHERNET_TYPE) },
    '802-3-ethernet': { 'mac-address': macBytes(config.hwaddr) },
    ipv4: { method: str('manual') },
    user: originUserData(),
  };
  const settings = withIpv4Lists(base, desiredIpv4Lists(ETHERNET_TYPE, undefined, config, totals));
  return createConnection(
    { ...context, log: context.log.with({ device: device.iface }) },
    settings,
    device.path,
    config.hwaddr,
    device.iface,
  );
}

/**
 * AddAndActivateConnection; never cancellable, and a failure is logged as "no change". `iface`
 * is the existing device it is for, if any: upstream's lines name the device by interface then,
 * by MAC for the VLAN VNICs.
 */
async function createConnection(
  context: ApplyContext,
  settings: SettingsDict,
  devicePath: string,
  hwaddr: string,
  iface?: string,
): Promise<DeviceOutcome> {
  const subject = iface ?? hwaddr;
  const type = getString(settings, 'connection', 'type') ?? '';
  const planned = {
    hwaddr,
    ...(iface === undefined ? {} : { device: iface }),
    created: { id: getString(settings, 'connection', 'id') ?? '', type, ipv4: nmcliIpv4Of(settings) },
  };
  if (context.dryRun) {
    context.log.debug(`config device ${subject}: would create a ${type} connection`);
    return { ...planned, result: 'pending', wrote: false };
  }
  try {
    const active = await context.nm.addAndActivateConnection(settings, devicePath);
    context.log.debug(`config device ${subject}: connection "${active.id}" (${active.uuid}) created`);
    return {
      ...planned,
      created: { ...planned.created, id: active.id },
      connection: { id: active.id, uuid: active.uuid },
      result: 'applied',
      wrote: true,
    };
  } catch (error) {
    context.log.warn(`config device ${subject}: failure to activate connection: ${errorMessage(error)}`);
    // Upstream counts a failed creation as "no change": nothing was left behind.
    return { ...planned, result: 'failed', reason: errorMessage(error), wrote: false };
  }
}

/** Marks a profile as created by nm-cloud-setup. */
function originUserData(): DbusDict {
  return { data: { signature: 'a{ss}', value: { [USER_DATA_ORIGIN]: 'nm-cloud-setup' } } };
}

function str(value: string): DbusValue {
  return { signature: 's', value };
}

/** A MAC as NM's `ay` property value. */
export function macBytes(hwaddr: string): DbusValue {
  const normalized = normalizeHwaddr(hwaddr) ?? hwaddr;
  return { signature: 'ay', value: Buffer.from(normalized.split(':').map((octet) => parseInt(octet, 16))) };
}
