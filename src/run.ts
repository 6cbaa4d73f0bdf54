// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The pipeline, top to bottom: detect the cloud, list NM's devices, fetch the metadata,
 * configure each device. Every runtime outcome is a log line, never an exception (upstream
 * exits 0 in all of them).
 */
import { configureAll, requestedHwaddrs, type Cancellation } from './apply.js';
import type { Config } from './config.js';
import { errorMessage, isCancellation } from './errors.js';
import type { MetadataHttp } from './http.js';
import type { Logger } from './log.js';
import { toMetadataConfig, type InterfaceConfig } from './model.js';
import type { NmClient } from './nm/nm-client.js';
import { detectProvider } from './providers/detect.js';
import type { Provider } from './providers/provider.js';

/** What run() needs from the outside world: the two seams and a logger. */
export interface RunDeps {
  readonly http: MetadataHttp;
  /** Connects to NetworkManager; called only once a cloud was detected. */
  readonly connectNm: () => Promise<NmClient>;
  readonly log: Logger;
  readonly providers: readonly Provider[];
}

/** Outcome of one run, for tests and the exit path. */
export type RunResult =
  | 'no-provider'
  | 'no-networkmanager'
  | 'metadata-failed'
  | 'cancelled'
  | 'changed'
  | 'unchanged';

/** Runs nm-cloud-setup once. Rejects only on bugs; SIGTERM resolves 'cancelled'. */
export async function run(deps: RunDeps, config: Config, cancellation: Cancellation): Promise<RunResult> {
  const { http, log } = deps;
  const signal = cancellation.signal;

  let detected;
  try {
    detected = await detectProvider(deps.providers, config, { http, log, signal });
  } catch (error) {
    if (isCancellation(error)) return 'cancelled';
    throw error;
  }
  if (detected === undefined) return 'no-provider';
  const { provider, session } = detected;

  let nm: NmClient;
  try {
    nm = await deps.connectNm();
  } catch (error) {
    log.info(`failure to talk to NetworkManager: ${errorMessage(error)}`);
    return 'no-networkmanager';
  }
  try {
    if (!(await nm.isRunning())) {
      log.info('NetworkManager is not running');
      return 'no-networkmanager';
    }
    if (config.mapInterfacesRaw !== undefined) {
      log.debug(`test: map interfaces via NM_CLOUD_SETUP_MAP_INTERFACES="${config.mapInterfacesRaw}"`);
      for (const { iface, hwaddr } of config.mapInterfaces) log.debug(`test:  map "${iface}" -> ${hwaddr}`);
    }

    const devices = await nm.getDevices();
    const requested = requestedHwaddrs(devices, config.mapInterfaces);
    log.debug(`found interfaces: ${requested.length > 0 ? requested.join(', ') : 'none'}`);

    const records = new Map<string, InterfaceConfig>(
      requested.map((hwaddr) => [hwaddr, { hwaddr, ifaceIdx: -1, wasRequested: true, routes: [] }]),
    );
    log.debug('get-config: starting');
    try {
      await session.getConfig(records, signal);
    } catch (error) {
      if (isCancellation(error) || signal.aborted) {
        log.debug('get-config: cancelled');
        return 'cancelled';
      }
      log.debug(`get-config: failed: ${errorMessage(error)}`);
      log.info(`failure to get meta data: ${errorMessage(error)}`);
      return 'metadata-failed';
    }
    log.debug('get-config: success');
    log.debug('meta data received');

    const changed = await configureAll(
      {
        nm,
        log,
        cancellation,
        devices,
        mapInterfaces: config.mapInterfaces,
        allowNewConnections: config.allowNewConnections ?? provider.allowNewConnectionsByDefault,
        nmVersion: await nm.getVersionInfo(),
      },
      toMetadataConfig(records.values()),
    );
    if (changed) log.info(`some changes were applied for provider ${provider.name}`);
    else log.debug(`no changes were applied for provider ${provider.name}`);
    if (signal.aborted && !changed) return 'cancelled';
    return changed ? 'changed' : 'unchanged';
  } finally {
    await nm.close();
  }
}
