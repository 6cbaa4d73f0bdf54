// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The pipeline, top to bottom: detect the cloud, list NM's devices, fetch the metadata,
 * configure each device. Every runtime outcome is a log line, never an exception (upstream
 * exits 0 in all of them).
 */
import { configureAll, readConnectionsAhead } from './apply.js';
import type { Config } from './config.js';
import { errorDetail, errorMessage, isCancellation } from './errors.js';
import type { MetadataHttp } from './http.js';
import type { Logger } from './log.js';
import {
  anyWrote,
  everyWriteFailed,
  toMetadata,
  type Cancellation,
  type InstanceFacts,
  type Metadata,
  type MetadataRequest,
  type ProviderResult,
  type RunMode,
  type RunReport,
  type RunResult,
} from './model.js';
import type { NmClient } from './nm/nm-client.js';
import type { NmDevice } from './nm/types.js';
import { requestedHwaddrs } from './plan/devices.js';
import { rejectUnsafe } from './plan/validate.js';
import { describeNoCloud, detectProvider, type DetectedProvider } from './providers/detect.js';
import type { MetadataSession, Provider } from './providers/types.js';

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

/** Runs nm-cloud-setup once. Rejects only on bugs; SIGTERM resolves 'cancelled'. */
export async function run(deps: RunDeps, config: Config, cancellation: Cancellation, mode: RunMode = 'apply'): Promise<RunReport> {
  const ended = (result: RunResult, more: Partial<RunReport> = {}): RunReport => ({ mode, result, outcomes: [], ...more });

  // Whether NetworkManager is needed depends on the cloud, but talking to it does not: connect
  // and list the devices while detection waits for the metadata server. Failures surface (and
  // are logged) only where upstream reports them, after detection.
  const opening = config.enabledProviders.size > 0 ? openNm(deps.connectNm, { version: mode !== 'fetch' }) : undefined;
  const closeUnused = async (): Promise<void> => {
    const connected = await opening?.connected.catch(() => undefined);
    await connected?.close();
  };

  let detected;
  try {
    detected = await detectProvider(deps.providers, config, { http: deps.http, log: deps.log, signal: cancellation.signal });
  } catch (error) {
    await closeUnused();
    if (isCancellation(error)) return ended('cancelled');
    throw error;
  }
  if (detected.provider === undefined || opening === undefined) {
    await closeUnused();
    return ended('no-provider', { error: describeNoCloud(detected.provider === undefined ? detected.tried : []) });
  }
  const log = deps.log.with({ provider: detected.provider.name });
  // A cloud whose metadata describes both families as the operator's configuration (OpenStack)
  // applies IPv6 unless the admin said NM_CLOUD_SETUP_IPV6=no.
  const ipv6 = config.ipv6Given === true ? config.ipv6 : (detected.provider.ipv6ByDefault ?? config.ipv6);
  const found = { provider: { name: detected.provider.name, baseUrl: detected.baseUrl } };

  let nm: NmClient;
  try {
    nm = await opening.connected;
  } catch (error) {
    return ended('no-networkmanager', { ...found, error: talkFailure(log, error) });
  }
  try {
    // The bus can die between connecting and this first call: that is still failing to talk to
    // NetworkManager, not a bug.
    const running = await opening.running.catch((error: unknown) => error);
    if (running !== true && running !== false) {
      return ended('no-networkmanager', { ...found, error: talkFailure(log, running) });
    }
    if (!running) {
      log.info('NetworkManager is not running');
      return ended('no-networkmanager', { ...found, error: 'NetworkManager is not running' });
    }
    return await runDetected({
      nm,
      log,
      config: { ...config, ipv6 },
      cancellation,
      mode,
      detected,
      devices: opening.devices,
      version: opening.version,
      ended: (r, more) => ended(r, { ...found, ...more }),
    });
  } finally {
    await nm.close();
  }
}

/** Upstream's `<info> failure to talk to NetworkManager: …`; the text is also the report's error. */
function talkFailure(log: Logger, error: unknown): string {
  const text = `failure to talk to NetworkManager: ${errorMessage(error)}`;
  log.info(text);
  return text;
}

/** A run past detection, with NetworkManager reached and running. */
interface DetectedRun {
  readonly nm: NmClient;
  readonly log: Logger;
  readonly config: Config;
  readonly cancellation: Cancellation;
  readonly mode: RunMode;
  readonly detected: DetectedProvider;
  readonly devices: Promise<readonly NmDevice[]>;
  readonly version: Promise<number | undefined>;
  /** The report of a run that ends here, with the provider filled in. */
  readonly ended: (result: RunResult, more?: Partial<RunReport>) => RunReport;
}

/** Lists the devices, fetches the metadata and, unless fetching only, configures. */
async function runDetected(context: DetectedRun): Promise<RunReport> {
  const { nm, log, config, cancellation, mode, ended } = context;
  const signal = cancellation.signal;
  if (config.mapInterfacesRaw !== undefined) {
    log.debug(`test: map interfaces via NM_CLOUD_SETUP_MAP_INTERFACES="${config.mapInterfacesRaw}"`);
    for (const { iface, hwaddr } of config.mapInterfaces) log.debug(`test:  map "${iface}" -> ${hwaddr}`);
  }

  let devices: readonly NmDevice[];
  try {
    devices = await context.devices;
  } catch (error) {
    // A frozen or vanishing daemon is upstream's "failure to talk to NetworkManager", not a bug.
    return ended('no-networkmanager', { error: talkFailure(log, error) });
  }
  const requested = requestedHwaddrs(devices, config.mapInterfaces);
  log.debug(`found interfaces: ${requested.length > 0 ? requested.join(', ') : 'none'}`);

  // Not for fetch, which leaves NetworkManager alone.
  const readAhead = mode === 'fetch' ? undefined : readConnectionsAhead(nm, devices, signal, config.ipv6);
  const fetched = await fetchMetadata(context, requested);
  if ('result' in fetched) return fetched;
  if (mode === 'fetch') return ended('fetched', fetched);

  const dryRun = mode !== 'apply';
  const outcomes = await configureAll(
    {
      nm,
      log,
      cancellation,
      devices,
      mapInterfaces: config.mapInterfaces,
      allowNewConnections: config.allowNewConnections ?? context.detected.provider.allowNewConnectionsByDefault,
      nmVersion: await context.version,
      dryRun,
      ipv6: config.ipv6,
      ...(readAhead === undefined ? {} : { readAhead }),
    },
    fetched.metadata,
  );
  const report = { ...fetched, outcomes };
  if (dryRun) {
    if (signal.aborted) return ended('cancelled', report);
    return ended(outcomes.some((outcome) => outcome.result === 'pending') ? 'pending' : 'unchanged', report);
  }
  const changed = anyWrote(outcomes);
  const providerName = context.detected.provider.name;
  // Upstream says "some changes were applied" once a write was attempted, even when every one
  // failed; that would tell an admin the opposite of what happened.
  if (everyWriteFailed(outcomes)) {
    log.warn(`no changes could be applied for provider ${providerName}: every write failed`);
    return ended('failed', report);
  }
  if (changed) log.info(`some changes were applied for provider ${providerName}`);
  else log.debug(`no changes were applied for provider ${providerName}`);
  if (signal.aborted && !changed) return ended('cancelled', report);
  return ended(changed ? 'changed' : 'unchanged', report);
}

/** get-config (and, for status, the instance facts alongside): the metadata, or the report of a run that ends here. */
async function fetchMetadata(
  context: DetectedRun,
  requested: readonly string[],
): Promise<{ readonly metadata: Metadata; readonly facts?: InstanceFacts; readonly ipv6Applied: boolean } | RunReport> {
  const { log, mode, ended } = context;
  const { session } = context.detected;
  const signal = context.cancellation.signal;
  log.debug('get-config: starting');
  // IPv6 metadata is read for apply (and fetch) only with NM_CLOUD_SETUP_IPV6: without it, every
  // bare run makes exactly upstream's requests. status and plan, which are ours, show it anyway.
  const ipv6Applied = context.config.ipv6;
  const request = { requested, ipv6: ipv6Applied };
  const showIpv6 = !ipv6Applied && (mode === 'status' || mode === 'plan');
  try {
    // status asks for the instance facts alongside; they never fail the run.
    const [result, facts] = await Promise.all([
      showIpv6 ? getConfigShowingIpv6(session, request, signal, log) : session.getConfig(request, signal),
      mode === 'status' ? session.instanceFacts(signal) : undefined,
    ]);
    log.debug('get-config: success');
    // Metadata that would cut the instance off (a /32 or /0 subnet, a gateway outside it, no
    // address): that link is left as it is, the others are configured.
    const checked = rejectUnsafe(result, request);
    for (const { hwaddr, reason } of checked.rejected) log.warn(`get-config: ${hwaddr}: not configuring this interface: ${reason}`);
    log.debug('meta data received');
    return { metadata: toMetadata(request, checked.result), ipv6Applied, ...(facts === undefined ? {} : { facts }) };
  } catch (error) {
    if (isCancellation(error) || signal.aborted) {
      log.debug('get-config: cancelled');
      return ended('cancelled');
    }
    log.debug(`get-config: failed: ${errorDetail(error)}`);
    log.info(`failure to get meta data: ${errorMessage(error)}`);
    return ended('metadata-failed', { error: `failure to get meta data: ${errorDetail(error)}` });
  }
}

/** How long status and plan wait for the IPv6 metadata after the metadata apply reads has arrived. */
const IPV6_SHOW_GRACE_MS = 1000;

/**
 * status and plan with IPv6 off: the metadata apply would read (the same requests, the same
 * failures, so the plan is apply's) plus, from a second read alongside, each link's IPv6 family
 * to show. That read is best effort: left out when it fails or is still running a moment
 * after the first (e.g. an EC2 MAC listing that 404s would be polled for 10 s).
 */
async function getConfigShowingIpv6(
  session: MetadataSession,
  request: MetadataRequest,
  signal: AbortSignal,
  log: Logger,
): Promise<ProviderResult> {
  const reading = new AbortController();
  const stop = (): void => reading.abort();
  signal.addEventListener('abort', stop, { once: true });
  const withIpv6 = session.getConfig({ ...request, ipv6: true }, reading.signal);
  withIpv6.catch(() => {});
  let timer: NodeJS.Timeout | undefined;
  try {
    const result = await session.getConfig(request, signal);
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(resolve, IPV6_SHOW_GRACE_MS, 'late')));
    const ipv6 = await Promise.race([withIpv6, late]).catch((error: unknown) => errorMessage(error));
    if (typeof ipv6 === 'string') {
      log.debug(`get-config: IPv6 metadata not shown: ${ipv6 === 'late' ? 'not read in time' : ipv6}`);
      return result;
    }
    const byLink = new Map(ipv6.interfaces.map((iface) => [iface.linkId, iface.ipv6]));
    return { ...result, interfaces: result.interfaces.map((iface) => ({ ...iface, ipv6: byLink.get(iface.linkId) ?? iface.ipv6 })) };
  } finally {
    clearTimeout(timer);
    stop();
    signal.removeEventListener('abort', stop);
  }
}

/** NetworkManager being reached in the background: each step's promise, rejections kept for later. */
interface OpeningNm {
  readonly connected: Promise<NmClient>;
  readonly running: Promise<boolean>;
  readonly devices: Promise<readonly NmDevice[]>;
  /** NetworkManager's VersionInfo (which Reapply flags it takes), read alongside the devices. */
  readonly version: Promise<number | undefined>;
}

/** `version`: read VersionInfo too (fetch, which configures nothing, does not need it). */
function openNm(connect: () => Promise<NmClient>, { version: withVersion }: { readonly version: boolean }): OpeningNm {
  // setImmediate: after detection's first requests are out (loading got and sending are
  // microtasks), so evaluating dbus-next and the bus handshake fill the wait for the answer.
  const connected = new Promise<void>((resolve) => setImmediate(resolve)).then(connect);
  const running = connected.then((nm) => nm.isRunning());
  const devices = running.then(async (isRunning) => (isRunning ? (await connected).getDevices() : []));
  const version = running.then(async (isRunning) => (isRunning && withVersion ? (await connected).getVersionInfo() : undefined));
  // Awaited later, or not at all when no cloud is detected: never an unhandled rejection.
  for (const step of [connected, running, devices, version]) step.catch(() => {});
  return { connected, running, devices, version };
}
