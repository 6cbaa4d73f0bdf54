// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The pipeline, top to bottom: detect the cloud, list NM's devices, fetch the metadata,
 * configure each device. Every runtime outcome is a log line, never an exception (upstream
 * exits 0 in all of them).
 */
import { anyWrote, configureAll, readConnectionsAhead, requestedHwaddrs, type Cancellation, type DeviceOutcome } from './apply.js';
import type { Config } from './config.js';
import { errorDetail, errorMessage, isCancellation } from './errors.js';
import type { MetadataHttp } from './http.js';
import type { Logger } from './log.js';
import { toMetadataConfig, type InterfaceConfig, type MetadataConfig } from './model.js';
import type { NmClient, NmDevice } from './nm/nm-client.js';
import { detectProvider } from './providers/detect.js';
import type { InstanceFacts, Provider, ProviderName } from './providers/provider.js';

/** What run() needs from the outside world: the two seams and a logger. */
export interface RunDeps {
  readonly http: MetadataHttp;
  /**
   * Connects to NetworkManager; called while detection runs when a provider is enabled, and the
   * connection is only used (or reported on) once a cloud was detected.
   */
  readonly connectNm: () => Promise<NmClient>;
  readonly log: Logger;
  readonly providers: readonly Provider[];
}

/**
 * How far a run goes: `apply` is upstream's run; `fetch` stops after the metadata; `plan`
 * decides every device but writes nothing; `status` is a plan plus the instance facts.
 */
export type RunMode = 'apply' | 'fetch' | 'plan' | 'status';

/** How a run ended. */
export type RunResult =
  | 'no-provider'
  | 'no-networkmanager'
  | 'metadata-failed'
  | 'cancelled'
  /** apply: something was written. */
  | 'changed'
  /** apply, plan, status: nothing to write. */
  | 'unchanged'
  /** plan, status: something would be written. */
  | 'pending'
  /** fetch: the metadata arrived. */
  | 'fetched';

/** Everything a run learned, for the exit code, the state file and the reports. */
export interface RunReport {
  readonly mode: RunMode;
  readonly result: RunResult;
  readonly provider?: { readonly name: ProviderName; readonly baseUrl: string };
  /** status only. */
  readonly facts?: InstanceFacts;
  /** Set once the metadata was fetched. */
  readonly metadata?: MetadataConfig;
  readonly outcomes: readonly DeviceOutcome[];
  /** The failure behind no-networkmanager or metadata-failed. */
  readonly error?: string;
}

/** Runs nm-cloud-setup once. Rejects only on bugs; SIGTERM resolves 'cancelled'. */
// eslint-disable-next-line max-lines-per-function -- TODO(issue 9): split with the planner/executor redesign
export async function run(deps: RunDeps, config: Config, cancellation: Cancellation, mode: RunMode = 'apply'): Promise<RunReport> {
  const { http } = deps;
  const signal = cancellation.signal;
  const ended = (result: RunResult, more: Partial<RunReport> = {}): RunReport => ({ mode, result, outcomes: [], ...more });

  // Whether NetworkManager is needed depends on the cloud, but talking to it does not: connect
  // and list the devices while detection waits for the metadata server. Failures surface (and
  // are logged) only where upstream reports them, after detection.
  const opening = config.enabledProviders.size > 0 ? openNm(deps.connectNm) : undefined;
  const closeUnused = async (): Promise<void> => {
    const connected = await opening?.connected.catch(() => undefined);
    await connected?.close();
  };

  let detected;
  try {
    detected = await detectProvider(deps.providers, config, { http, log: deps.log, signal });
  } catch (error) {
    await closeUnused();
    if (isCancellation(error)) return ended('cancelled');
    throw error;
  }
  if (detected === undefined || opening === undefined) {
    await closeUnused();
    return ended('no-provider');
  }
  const { provider, session } = detected;
  const log = deps.log.with({ provider: provider.name });
  const found = { provider: { name: provider.name, baseUrl: detected.baseUrl } };

  let nm: NmClient;
  try {
    nm = await opening.connected;
  } catch (error) {
    log.info(`failure to talk to NetworkManager: ${errorMessage(error)}`);
    return ended('no-networkmanager', { ...found, error: `failure to talk to NetworkManager: ${errorMessage(error)}` });
  }
  try {
    if (!(await opening.running)) {
      log.info('NetworkManager is not running');
      return ended('no-networkmanager', { ...found, error: 'NetworkManager is not running' });
    }
    if (config.mapInterfacesRaw !== undefined) {
      log.debug(`test: map interfaces via NM_CLOUD_SETUP_MAP_INTERFACES="${config.mapInterfacesRaw}"`);
      for (const { iface, hwaddr } of config.mapInterfaces) log.debug(`test:  map "${iface}" -> ${hwaddr}`);
    }

    let devices: readonly NmDevice[];
    try {
      devices = await opening.devices;
    } catch (error) {
      // A frozen or vanishing daemon is upstream's "failure to talk to NetworkManager", not a bug.
      log.info(`failure to talk to NetworkManager: ${errorMessage(error)}`);
      return ended('no-networkmanager', { ...found, error: `failure to talk to NetworkManager: ${errorMessage(error)}` });
    }
    const requested = requestedHwaddrs(devices, config.mapInterfaces);
    log.debug(`found interfaces: ${requested.length > 0 ? requested.join(', ') : 'none'}`);

    const records = new Map<string, InterfaceConfig>(
      requested.map((hwaddr) => [hwaddr, { hwaddr, ifaceIdx: -1, wasRequested: true, routes: [] }]),
    );
    // Not for fetch, which leaves NetworkManager alone.
    const readAhead = mode === 'fetch' ? undefined : readConnectionsAhead(nm, devices, signal);
    log.debug('get-config: starting');
    let facts: InstanceFacts | undefined;
    try {
      // status asks for the instance facts alongside; they never fail the run.
      [, facts] = await Promise.all([session.getConfig(records, signal), mode === 'status' ? session.instanceFacts(signal) : undefined]);
    } catch (error) {
      if (isCancellation(error) || signal.aborted) {
        log.debug('get-config: cancelled');
        return ended('cancelled', found);
      }
      log.debug(`get-config: failed: ${errorDetail(error)}`);
      log.info(`failure to get meta data: ${errorMessage(error)}`);
      return ended('metadata-failed', { ...found, error: `failure to get meta data: ${errorDetail(error)}` });
    }
    log.debug('get-config: success');
    log.debug('meta data received');
    const metadata = toMetadataConfig(records.values());
    const fetched = { ...found, metadata, ...(facts === undefined ? {} : { facts }) };
    if (mode === 'fetch') return ended('fetched', fetched);

    const dryRun = mode !== 'apply';
    const outcomes = await configureAll(
      {
        nm,
        log,
        cancellation,
        devices,
        mapInterfaces: config.mapInterfaces,
        allowNewConnections: config.allowNewConnections ?? provider.allowNewConnectionsByDefault,
        nmVersion: await nm.getVersionInfo(),
        dryRun,
        ...(readAhead === undefined ? {} : { readAhead }),
      },
      metadata,
    );
    const report = { ...fetched, outcomes };
    if (dryRun) {
      if (signal.aborted) return ended('cancelled', report);
      return ended(outcomes.some((outcome) => outcome.result === 'pending') ? 'pending' : 'unchanged', report);
    }
    const changed = anyWrote(outcomes);
    if (changed) log.info(`some changes were applied for provider ${provider.name}`);
    else log.debug(`no changes were applied for provider ${provider.name}`);
    if (signal.aborted && !changed) return ended('cancelled', report);
    return ended(changed ? 'changed' : 'unchanged', report);
  } finally {
    await nm.close();
  }
}

/** NetworkManager being reached in the background: each step's promise, rejections kept for later. */
interface OpeningNm {
  readonly connected: Promise<NmClient>;
  readonly running: Promise<boolean>;
  readonly devices: Promise<readonly NmDevice[]>;
}

function openNm(connect: () => Promise<NmClient>): OpeningNm {
  // setImmediate: after detection's first requests are out (loading got and sending are
  // microtasks), so evaluating dbus-next and the bus handshake fill the wait for the answer.
  const connected = new Promise<void>((resolve) => setImmediate(resolve)).then(connect);
  const running = connected.then((nm) => nm.isRunning());
  const devices = running.then(async (isRunning) => (isRunning ? (await connected).getDevices() : []));
  // Awaited later, or not at all when no cloud is detected: never an unhandled rejection.
  for (const step of [connected, running, devices]) step.catch(() => {});
  return { connected, running, devices };
}
