// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The executor (upstream's _config_all and _config_existing): runs the steps the planner chose
 * for each link, in order. It reads applied connections, sequences the D-Bus writes, retries a
 * Reapply that lost a race, falls back on old daemons, and rolls nothing half-way: once it
 * writes, SIGTERM is ignored. Every decision is made in plan/.
 */
import type { InterfaceMapping } from './config.js';
import { errorMessage, isCancellation, NmError, VersionIdMismatchError } from './errors.js';
import type { Logger } from './log.js';
import { isConfigurableIpv6Interface, type Cancellation, type DeviceOutcome, type Metadata, type MetadataInterface } from './model.js';
import { NM_ERROR, NM_VERSION_1_41_6, REAPPLY_FLAG_PRESERVE_EXTERNAL_IP } from './nm/constants.js';
import type { NmClient } from './nm/nm-client.js';
import { connectionIdentity, getString, type SettingsDict } from './nm/settings.js';
import type { AppliedConnection, NmDevice } from './nm/types.js';
import { isEthernetClass } from './plan/devices.js';
import { nmcliFamilyOf, nmcliIpv4Of, nmcliListsOf, toNmcli } from './plan/nmcli.js';
import { bondInterfaceName } from './plan/plan-bond-link.js';
import { connectionSkipReason, ipv6LeftAlone, planConnection } from './plan/plan-connection.js';
import { planInterface, type InterfaceStep } from './plan/plan-interfaces.js';
import { appliedIpv6Router, cloudIpv6Lists, TABLE_DEFAULT_BASE, TABLE_SUBNET_BASE } from './plan/policy-routing.js';

/** How many times a Reapply is retried after another client changed the applied connection. */
export const MAX_REAPPLY_RETRIES = 5;

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
  /** NM_CLOUD_SETUP_IPV6: configure the ipv6 lists too. */
  readonly ipv6: boolean;
  /** Reads started while the metadata was fetched, by device path (readConnectionsAhead). */
  readonly readAhead?: ReadonlyMap<string, ConnectionRead>;
}

/** A device's applied connection and the profile behind it, as read from NetworkManager. */
export interface ConnectionRead {
  readonly applied: Promise<AppliedConnection>;
  readonly profile: Promise<SettingsDict | undefined>;
  /** With IPv6 on: the IPv6 router NetworkManager learned for the device (IP6Config.Gateway). */
  readonly ipv6Router?: Promise<string | undefined>;
}

/**
 * Starts reading the applied connection and profile of every active Ethernet-class device, to
 * run while the metadata is fetched: NM answers while the network is slow, instead of after
 * it, which with many NICs is most of a run's time. Each device's first attempt uses its read;
 * a retry after a version-id mismatch reads afresh, so a stale read costs one retry at worst.
 */
export function readConnectionsAhead(
  nm: NmClient,
  devices: readonly NmDevice[],
  signal: AbortSignal,
  ipv6 = false,
): Map<string, ConnectionRead> {
  const reads = new Map<string, ConnectionRead>();
  for (const device of devices) {
    if (!isEthernetClass(device) || device.activeConnection === undefined) continue;
    const read = readConnection(nm, device, signal);
    const ahead = ipv6 ? { ...read, ipv6Router: nm.getIpv6Gateway(device.path, signal) } : read;
    // Used later, or never (metadata failed): never an unhandled rejection.
    for (const step of [ahead.applied, ahead.profile, ahead.ipv6Router]) step?.catch(() => {});
    reads.set(device.path, ahead);
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

/** Runs every link's steps in the metadata's order; one outcome per device touched or skipped. */
export async function configureAll(context: ApplyContext, metadata: Metadata): Promise<DeviceOutcome[]> {
  const outcomes: DeviceOutcome[] = [];
  for (const iface of metadata.interfaces) {
    if (context.cancellation.signal.aborted) break;
    const log = context.log.with({ hwaddr: iface.hwaddr });
    const steps = planInterface(iface, { ...context, totals: metadata });
    // Reports key a link by MAC; a link with its own id (OpenStack) carries it too.
    const link = iface.linkId === iface.hwaddr ? {} : { link: iface.linkId };
    const parentDown = bondNotActive(iface, outcomes);
    if (parentDown !== undefined) {
      // A VLAN on a bond that failed or was skipped (as the bond's ports): nothing to build on.
      log.debug(`config link ${iface.linkId}: skip because ${parentDown}`);
      outcomes.push({ hwaddr: iface.hwaddr, result: 'skipped', reason: parentDown, wrote: false, ...link });
      continue;
    }
    try {
      let previous: DeviceOutcome | undefined;
      for (const step of steps) {
        const own = step.kind === 'create' && step.link !== undefined ? { link: step.link } : link;
        previous = { ...(await runStep({ ...context, log }, iface, step, metadata, previous)), ...own };
        outcomes.push(previous);
      }
    } catch (error) {
      if (isCancellation(error)) break;
      throw error;
    }
  }
  return outcomes;
}

/** "bond <name> is not active" when the link is a VLAN on a bond whose outcome this run was a failure or a skip. */
function bondNotActive(iface: MetadataInterface, outcomes: readonly DeviceOutcome[]): string | undefined {
  const bond = iface.link.kind === 'vlan' ? iface.link.parentBond : undefined;
  if (bond === undefined) return undefined;
  const outcome = outcomes.find((candidate) => candidate.link === bond.linkId);
  return outcome?.result === 'failed' || outcome?.result === 'skipped' ? `bond ${bondInterfaceName(bond)} is not active` : undefined;
}

async function runStep(
  context: ApplyContext,
  iface: MetadataInterface,
  step: InterfaceStep,
  metadata: Metadata,
  previous: DeviceOutcome | undefined,
): Promise<DeviceOutcome> {
  switch (step.kind) {
    case 'skip':
      context.log[step.level](step.message);
      return {
        hwaddr: step.hwaddr,
        result: 'skipped',
        reason: step.reason,
        wrote: false,
        ...(step.device === undefined ? {} : { device: step.device.iface }),
      };
    case 'existing':
      return configureExisting(context, step.device, iface, metadata, step.expectedType);
    case 'create': {
      const port = step.portOf === undefined ? undefined : await portDone(context, step, previous);
      if (port !== undefined) return port;
      if (step.announce !== undefined) context.log.debug(step.announce);
      const log = step.device === undefined ? context.log : context.log.with({ device: step.device.iface });
      return createConnection({ ...context, log }, step);
    }
  }
}

/**
 * A bond port that needs no profile: its bond failed (the NIC keeps its connection), or the
 * device's applied connection already is a port of that bond.
 */
async function portDone(
  context: ApplyContext,
  step: Extract<InterfaceStep, { kind: 'create' }>,
  previous: DeviceOutcome | undefined,
): Promise<DeviceOutcome | undefined> {
  const seen = { hwaddr: step.hwaddr, ...(step.device === undefined ? {} : { device: step.device.iface }), wrote: false };
  if (previous?.result === 'failed' || previous?.result === 'skipped') {
    const reason = `bond ${step.portOf ?? ''} is not active`;
    context.log.debug(`config device ${step.hwaddr}: skip because ${reason}`);
    return { ...seen, result: 'skipped', reason };
  }
  if (step.device?.activeConnection === undefined) return undefined;
  const applied = await context.nm.getAppliedConnection(step.device.path, context.cancellation.signal).catch(() => undefined);
  if (applied === undefined || getString(applied.settings, 'connection', 'master') !== step.portOf) return undefined;
  const connection = connectionIdentity(applied.settings);
  context.log.debug(`config device ${step.hwaddr}: already a port of bond ${step.portOf ?? ''}. Skip`);
  return { ...seen, connection, result: 'unchanged' };
}

/** One existing device, in upstream's words for it. */
interface ExistingTarget {
  readonly device: NmDevice;
  readonly iface: MetadataInterface;
  readonly metadata: Metadata;
  readonly expectedType: string;
  /** "config device <MAC>", the prefix of every line about it. */
  readonly scope: string;
  /** The IPv6 router NetworkManager learned by RA, when the metadata serves none (IPv6 on). */
  readonly learnedIpv6Router?: string;
}

async function configureExisting(
  context: ApplyContext,
  device: NmDevice,
  iface: MetadataInterface,
  metadata: Metadata,
  expectedType: string,
): Promise<DeviceOutcome> {
  const log = context.log.with({ device: device.iface });
  const scope = `config device ${iface.hwaddr}`;
  log.debug(`${scope}: configuring "${device.iface || '/unknown/'}" (${device.path})...`);
  const learned = context.ipv6 ? await learnedIpv6Router({ ...context, log }, { device, iface, metadata, expectedType, scope }) : undefined;
  const target: ExistingTarget = {
    device,
    iface,
    metadata,
    expectedType,
    scope,
    ...(learned === undefined ? {} : { learnedIpv6Router: learned }),
  };
  for (let retry = 0; ; retry++) {
    const read =
      (retry === 0 ? context.readAhead?.get(device.path) : undefined) ?? readConnection(context.nm, device, context.cancellation.signal);
    const outcome = await configureOnce({ ...context, log }, target, read, retry < MAX_REAPPLY_RETRIES);
    if (outcome !== 'retry') return outcome;
  }
}

/**
 * The router of the IPv6 default route in table 30400+i: the metadata's, else the one
 * NetworkManager learned by RA for the device (returned), else the one an earlier run
 * configured (NM forgets its router for a moment after a Reapply), else none; one line says which.
 */
async function learnedIpv6Router(context: ApplyContext, target: ExistingTarget): Promise<string | undefined> {
  const { log } = context;
  const { scope, iface, metadata } = target;
  const lists = cloudIpv6Lists(iface, metadata);
  const defaultTable = TABLE_DEFAULT_BASE + iface.ifaceIdx;
  // A connection left alone, or with IPv6 off (configureOnce says so): no router to speak of.
  const ahead = await context.readAhead?.get(target.device.path)?.applied.catch(() => undefined);
  const leftAlone =
    ahead === undefined ? undefined : (connectionSkipReason(ahead.settings, target.expectedType) ?? ipv6LeftAlone(ahead.settings));
  if (leftAlone !== undefined) return undefined;
  if (lists.router !== undefined) {
    log.debug(`${scope}: IPv6 default route in table ${defaultTable} via ${lists.router.address}, the router the metadata names`);
    return undefined;
  }
  if (lists.noRouter !== true) return undefined;
  const { learned, kept } = await readIpv6Routers(context, target);
  if (learned !== undefined) {
    log.info(
      `${scope}: the metadata names no IPv6 router; IPv6 default route in table ${defaultTable} via ${learned}, the router NetworkManager learned by router advertisement on ${target.device.iface}`,
    );
    return learned;
  }
  if (kept !== undefined) {
    log.info(
      `${scope}: the metadata names no IPv6 router and NetworkManager knows none right now; keeping the IPv6 default route in table ${defaultTable} via ${kept} that an earlier run configured`,
    );
    return kept;
  }
  log.info(
    `${scope}: the metadata names no IPv6 router and NetworkManager learned none by router advertisement; IPv6 addresses and table ${TABLE_SUBNET_BASE + iface.ifaceIdx} only, no default route in table ${defaultTable}`,
  );
  return undefined;
}

/** The router NetworkManager knows for the device now and, when none, the one in its applied connection. */
async function readIpv6Routers(context: ApplyContext, target: ExistingTarget): Promise<{ learned?: string; kept?: string }> {
  const { nm, log, cancellation } = context;
  const { device, scope } = target;
  const ahead = context.readAhead?.get(device.path);
  const unreadable =
    (what: string) =>
    (error: unknown): undefined => {
      if (isCancellation(error)) throw error;
      log.debug(`${scope}: cannot read ${what} (${errorMessage(error)})`);
      return undefined;
    };
  const learned = await (ahead?.ipv6Router ?? nm.getIpv6Gateway(device.path, cancellation.signal)).catch(
    unreadable('the IPv6 router NetworkManager learned'),
  );
  if (learned !== undefined) return { learned };
  const applied = await (ahead?.applied ?? nm.getAppliedConnection(device.path, cancellation.signal)).catch(
    unreadable('the applied connection'),
  );
  const kept = applied === undefined ? undefined : appliedIpv6Router(applied.settings, target.iface);
  return kept === undefined ? {} : { kept };
}

/** One read-plan-write round; 'retry' when another client changed the applied connection meanwhile. */
async function configureOnce(
  context: ApplyContext,
  target: ExistingTarget,
  read: ConnectionRead,
  mayRetry: boolean,
): Promise<DeviceOutcome | 'retry'> {
  const { log } = context;
  const { scope, iface, device } = target;
  let applied;
  try {
    applied = await read.applied;
  } catch (error) {
    if (isCancellation(error)) throw error;
    const reason = `device has no applied connection (${errorMessage(error)})`;
    log.debug(`${scope}: ${reason}. Skip`);
    return { hwaddr: iface.hwaddr, device: device.iface, result: 'skipped', reason, wrote: false };
  }
  const profile = await read.profile.catch((error: unknown) => {
    log.debug(`${scope}: cannot read the profile of the active connection (${errorMessage(error)})`);
    return undefined;
  });
  const plan = planConnection({
    applied: applied.settings,
    profile,
    iface,
    totals: target.metadata,
    expectedType: target.expectedType,
    ipv6: context.ipv6,
    ...(target.learnedIpv6Router === undefined ? {} : { learnedIpv6Router: target.learnedIpv6Router }),
  });
  const connection = connectionIdentity(applied.settings);
  const name = `"${connection.id}" (${connection.uuid})`;
  const seen = { hwaddr: iface.hwaddr, device: device.iface, connection };
  if (plan.kind === 'skip') {
    log.debug(`${scope}: ${plan.reason}`);
    return { ...seen, result: 'skipped', reason: plan.reason, wrote: false };
  }
  const ipv6Off = context.ipv6 && isConfigurableIpv6Interface(iface) ? ipv6LeftAlone(applied.settings) : undefined;
  if (ipv6Off !== undefined) log.info(`${scope}: ${ipv6Off} on connection ${name}: its IPv6 metadata is left out, IPv4 is configured`);
  if (plan.kind === 'unchanged') {
    const why = plan.isSingleAddress ? ' because there are not multiple IP addresses' : '';
    log.debug(`${scope}: device needs no update to applied connection ${name}${why}. Skip`);
    return { ...seen, result: 'unchanged', wrote: false };
  }
  // A link the metadata describes completely (OpenStack) also shows its method, gateway and DNS.
  const show = iface.explicit === undefined ? nmcliListsOf : nmcliFamilyOf;
  const ipv4 = { before: show(applied.settings, 'ipv4'), after: show(plan.settings, 'ipv4') };
  const ipv6After = plan.ipv6 === undefined ? undefined : iface.explicit === undefined ? toNmcli(plan.ipv6) : show(plan.settings, 'ipv6');
  const lists = ipv6After === undefined ? { ipv4 } : { ipv4, ipv6: { before: show(applied.settings, 'ipv6'), after: ipv6After } };
  if (context.dryRun) {
    log.debug(`${scope}: would reapply connection ${name}`);
    return { ...seen, result: 'pending', ...lists, wrote: false };
  }

  return writeReapply(context, { ...target, name, seen, lists }, plan.settings, applied.versionId, mayRetry);
}

/** The write: Reapply (SIGTERM ignored from here on), its log lines and outcome. */
async function writeReapply(
  context: ApplyContext,
  target: ExistingTarget & {
    readonly name: string;
    readonly seen: Pick<DeviceOutcome, 'hwaddr' | 'device' | 'connection'>;
    readonly lists: Pick<DeviceOutcome, 'ipv4' | 'ipv6'>;
  },
  settings: SettingsDict,
  versionId: bigint,
  mayRetry: boolean,
): Promise<DeviceOutcome | 'retry'> {
  const { log, cancellation } = context;
  const { scope, name, seen, lists } = target;
  log.debug(`${scope}: reapply connection ${name}`);
  // Once we start reconfiguring the system we must not stop half-way: a device left without
  // its route to the metadata server may never recover. SIGTERM is ignored from here on.
  cancellation.disable();
  try {
    await reapply(context, target.device.path, settings, versionId);
    log.debug(`${scope}: connection ${name} reapplied`);
    return { ...seen, result: 'applied', ...lists, wrote: true };
  } catch (error) {
    if (error instanceof VersionIdMismatchError && mayRetry) {
      log.debug(`${scope}: applied connection changed in the meantime. Retry...`);
      return 'retry';
    }
    log.warn(`${scope}: failure to reapply connection ${name}: ${errorMessage(error)}`);
    return { ...seen, result: 'failed', reason: errorMessage(error), ...lists, wrote: true };
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

/**
 * AddAndActivateConnection; never cancellable, and a failure is logged as "no change".
 * Upstream's lines name the device by interface when it exists, by MAC for the VLAN VNICs.
 */
async function createConnection(context: ApplyContext, step: Extract<InterfaceStep, { kind: 'create' }>): Promise<DeviceOutcome> {
  const { settings, hwaddr, device } = step;
  const subject = device?.iface ?? hwaddr;
  const type = getString(settings, 'connection', 'type') ?? '';
  const planned = {
    hwaddr,
    ...(device === undefined ? {} : { device: device.iface }),
    created: { id: getString(settings, 'connection', 'id') ?? '', type, ipv4: nmcliIpv4Of(settings) },
  };
  if (context.dryRun) {
    context.log.debug(`config device ${subject}: would create a ${type} connection`);
    return { ...planned, result: 'pending', wrote: false };
  }
  try {
    const active = await context.nm.addAndActivateConnection(settings, step.devicePath);
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
