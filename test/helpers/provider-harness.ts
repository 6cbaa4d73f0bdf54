// SPDX-License-Identifier: LGPL-2.1-or-later
// What the provider unit tests (test/providers/<cloud>.test.ts) share: a captured trace log, metadata
// clients at a test's time scales, nock "no match" tracking, record seeding and detect/getConfig steps.
import nock from 'nock';
import { afterEach, beforeEach, expect } from 'vitest';
import { isCancellation, PollTimeoutError } from '../../src/errors.js';
import { createMetadataHttp, type MetadataHttp } from '../../src/http.js';
import { createLogger, type Logger } from '../../src/log.js';
import {
  NO_FAMILY_CONFIG,
  toMetadata,
  type Cidr,
  type MetadataInterface,
  type MetadataRequest,
  type ProviderResult,
  type Route,
} from '../../src/model.js';
import type { MetadataSession, Provider, ProviderContext } from '../../src/providers/types.js';

/**
 * One link of a get-config result, flattened for assertions: the IPv4 family's fields at the
 * top, the link's kind as vlanTag/parentHwaddr. Every field of the result is here (ipv6 and
 * dns only when not empty), so an assertion on the record is one on the whole link.
 */
export interface ProviderRecord {
  readonly hwaddr: string;
  readonly ifaceIdx: number;
  readonly wasRequested: boolean;
  readonly ipv4s?: readonly string[];
  readonly cidr?: Cidr;
  readonly gateway?: string;
  readonly routes: readonly Route[];
  readonly vlanTag?: number;
  readonly parentHwaddr?: string;
  readonly linkId?: string;
  readonly ipv6?: MetadataInterface['ipv6'];
  readonly dns?: readonly string[];
}

/** The flat record of one link (see ProviderRecord). */
export function recordOf(iface: MetadataInterface): ProviderRecord {
  const { addresses, subnet, gateway, routes } = iface.ipv4;
  return {
    hwaddr: iface.hwaddr,
    ifaceIdx: iface.ifaceIdx,
    wasRequested: iface.requested,
    ...(addresses === undefined ? {} : { ipv4s: addresses }),
    ...(subnet === undefined ? {} : { cidr: subnet }),
    ...(gateway === undefined ? {} : { gateway }),
    routes,
    ...(iface.link.kind === 'oci-vlan'
      ? { vlanTag: iface.link.vlanTag, ...(iface.link.parentHwaddr === undefined ? {} : { parentHwaddr: iface.link.parentHwaddr }) }
      : {}),
    ...(iface.linkId === iface.hwaddr ? {} : { linkId: iface.linkId }),
    ...(iface.ipv6 === NO_FAMILY_CONFIG ? {} : { ipv6: iface.ipv6 }),
    ...(iface.dns.length === 0 ? {} : { dns: iface.dns }),
  };
}

/**
 * Runs get-config for the requested records of `records` (see seed()) and puts the result in
 * it: one record per link of the metadata, withdrawn MACs removed. Nothing changes on rejection.
 */
export async function fillRecords(
  session: MetadataSession,
  records: Map<string, ProviderRecord>,
  signal: AbortSignal,
  ipv6 = false,
): Promise<void> {
  putResult(records, await session.getConfig(requestOf(records, ipv6), signal));
}

/** The request for the requested records of `records`. */
export function requestOf(records: ReadonlyMap<string, ProviderRecord>, ipv6 = false): MetadataRequest {
  return { requested: [...records.values()].filter((record) => record.wasRequested).map((record) => record.hwaddr), ipv6 };
}

/** Puts a provider's result into `records` (see fillRecords). */
export function putResult(records: Map<string, ProviderRecord>, result: ProviderResult): void {
  for (const hwaddr of result.withdrawn) records.delete(hwaddr);
  for (const iface of toMetadata(requestOf(records), result).interfaces) records.set(iface.hwaddr, recordOf(iface));
}

export interface ProviderHarnessOptions {
  /** The provider under test. */
  readonly provider: Provider;
  /** The metadata host the tests stub with nock (the provider's default). */
  readonly baseUrl: string;
  /** Time scale of `http`, the client for polls meant to succeed. */
  readonly scale: number;
  /** Time scale of `fast`, a second client for the polls a test lets run out; none without it. */
  readonly fastScale?: number;
  /** Stubs what detection asks for, before each `detectSession()` (e.g. the instance document). */
  readonly stubDetection?: () => void;
}

export interface ProviderHarness {
  /** Every line logged during the current test (trace level, clock 0); the same array, emptied before each test. */
  readonly lines: string[];
  /** Requests of the current test that matched no nock interceptor; after each test there must be none. */
  readonly unmatched: string[];
  /**
   * The current test's preconnect(url, count) calls, recorded, not carried out: a connection
   * opened ahead would go past nock to the real address.
   */
  readonly preconnects: [string, number][];
  /** The current test's client at `scale` (stands for a fresh client made before each test). */
  readonly http: MetadataHttp;
  /** The current test's client at `fastScale` (only with `fastScale`). */
  readonly fast: MetadataHttp;
  /** A logger into `lines`. */
  log(): Logger;
  /** A provider context on `baseUrl`: `client` (default `http`), a fresh logger, `signal` (default: never aborted). */
  context(signal?: AbortSignal, client?: MetadataHttp): ProviderContext;
  /** A client that polls the URLs matching `pattern` through `client`, everything else through `http`. */
  routed(pattern: RegExp, client: MetadataHttp): MetadataHttp;
  /** A client that polls the URLs matching `pattern` (expected to run out) at `fastScale`, all others at `scale`. */
  expiring(pattern: RegExp): MetadataHttp;
  /** Stubs detection, detects through `client` (default `http`) and returns the session; throws if not detected. */
  detectSession(client?: MetadataHttp): Promise<MetadataSession>;
  /** `detectSession(client)`, then getConfig on `records`. */
  getConfig(records: Map<string, ProviderRecord>, client?: MetadataHttp): Promise<void>;
  /** The same, returning the rejection of getConfig (undefined if it resolved). */
  getConfigError(records: Map<string, ProviderRecord>, client?: MetadataHttp): Promise<unknown>;
  /** The logged `<warn>` lines. */
  warnings(): string[];
  /** The logged `<info>` lines. */
  infos(): string[];
}

/**
 * Registers the per-test hooks (call once, at the top of a test file) and returns the harness.
 * Before each test: empty `lines` and `unmatched`, fresh clients, the nock "no match" listener.
 * After each: the listener removed, the clients closed, and `unmatched` expected to be empty.
 */
export function providerHarness(options: ProviderHarnessOptions): ProviderHarness {
  const { provider, baseUrl, scale, fastScale, stubDetection } = options;
  const lines: string[] = [];
  const unmatched: string[] = [];
  const preconnects: [string, number][] = [];
  let current: { http: MetadataHttp; fast: MetadataHttp | undefined } | undefined;

  const onNoMatch = (req: { method?: string; path?: string; href?: string }): void => {
    unmatched.push(`${req.method ?? '?'} ${req.href ?? req.path ?? '?'}`);
  };
  const log = (): Logger => createLogger({ level: 'trace', sink: (line) => lines.push(line), clock: () => 0n });

  beforeEach(() => {
    lines.length = 0;
    unmatched.length = 0;
    preconnects.length = 0;
    current = {
      http: createMetadataHttp({ log: log(), timeScale: scale }),
      fast: fastScale === undefined ? undefined : createMetadataHttp({ log: log(), timeScale: fastScale }),
    };
    nock.emitter.on('no match', onNoMatch);
  });

  afterEach(() => {
    nock.emitter.removeListener('no match', onNoMatch);
    current?.http.close();
    current?.fast?.close();
    current = undefined;
    expect(unmatched).toEqual([]);
  });

  /** A client that forwards to the current test's client chosen by `pick`. */
  const delegate = (pick: () => MetadataHttp): MetadataHttp => ({
    request: (req) => pick().request(req),
    poll: (req, pollOptions) => pick().poll(req, pollOptions),
    preconnect: (url, count) => void preconnects.push([url, count]),
    close: () => pick().close(),
  });
  const http = delegate(() => {
    if (current === undefined) throw new Error('provider harness: no client outside a test');
    return current.http;
  });
  const fast = delegate(() => {
    if (current?.fast === undefined) throw new Error('provider harness: no fast client (give fastScale, use it inside a test)');
    return current.fast;
  });

  const context = (signal: AbortSignal = new AbortController().signal, client: MetadataHttp = http): ProviderContext => ({
    http: client,
    baseUrl,
    log: log(),
    signal,
  });
  const routed = (pattern: RegExp, client: MetadataHttp): MetadataHttp => ({
    request: (req) => http.request(req),
    poll: (req, pollOptions) => (pattern.test(req.url) ? client : http).poll(req, pollOptions),
    preconnect: () => undefined,
    close: () => {},
  });
  const detectSession = async (client: MetadataHttp = http): Promise<MetadataSession> => {
    stubDetection?.();
    const result = await provider.detect(context(undefined, client));
    if (!result.detected) throw new Error(`not detected: ${result.reason}`);
    return result.session;
  };
  const getConfig = async (records: Map<string, ProviderRecord>, client: MetadataHttp = http): Promise<void> => {
    const session = await detectSession(client);
    await fillRecords(session, records, new AbortController().signal);
  };

  return {
    lines,
    unmatched,
    preconnects,
    http,
    fast,
    log,
    context,
    routed,
    expiring: (pattern) => routed(pattern, fast),
    detectSession,
    getConfig,
    getConfigError: async (records, client) => {
      const session = await detectSession(client);
      return rejectionOf(fillRecords(session, records, new AbortController().signal));
    },
    warnings: () => lines.filter((line) => line.includes('<warn>')),
    infos: () => lines.filter((line) => line.includes('<info>')),
  };
}

/**
 * A nock metadata server: `serverOnce()` scopes come from `scope` (whose interceptors answer once,
 * for sequences of answers to one path); `server()` scopes are persisted, so an attempt that
 * overruns its (scaled) timeout on a busy machine does not use up the answer and the retry gets
 * the same one.
 */
export function metadataServer(scope: () => nock.Scope): { server: () => nock.Scope; serverOnce: () => nock.Scope } {
  return { server: () => scope().persist(), serverOnce: scope };
}

/** One record per requested MAC, as the caller of getConfig seeds them. */
export function seed(...hwaddrs: string[]): Map<string, ProviderRecord> {
  return new Map(hwaddrs.map((hwaddr) => [hwaddr, { hwaddr, ifaceIdx: -1, wasRequested: true, routes: [] }]));
}

/** What `promise` rejects with; undefined if it resolves. */
export function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (e: unknown) => e,
  );
}

/** Starts `run` with a signal aborted after `ms`, and returns what it rejects with (undefined if it resolves). */
export function rejectionWhenAborted(ms: number, run: (signal: AbortSignal) => Promise<unknown>): Promise<unknown> {
  const controller = new AbortController();
  const pending = run(controller.signal);
  setTimeout(() => controller.abort(), ms);
  return rejectionOf(pending);
}

/** How one poll through `recordOutcomes`' client ended. */
export interface PollOutcome {
  readonly url: string;
  readonly outcome: 'ok' | 'cancelled' | 'failed';
}

/**
 * Wraps `inner`, recording how each poll ended. With `failing`, the polls of the URLs it matches
 * send nothing and reject with PollTimeoutError after `afterMs` (and are not recorded).
 */
export function recordOutcomes(
  inner: MetadataHttp,
  failing?: { readonly url: (url: string) => boolean; readonly afterMs: number },
): { client: MetadataHttp; outcomes: PollOutcome[] } {
  const outcomes: PollOutcome[] = [];
  const client: MetadataHttp = {
    request: (req) => inner.request(req),
    preconnect: () => undefined,
    close: () => {},
    poll: async (req, options) => {
      if (failing?.url(req.url)) {
        await new Promise((resolve) => setTimeout(resolve, failing.afterMs));
        throw new PollTimeoutError();
      }
      try {
        const response = await inner.poll(req, options);
        outcomes.push({ url: req.url, outcome: 'ok' });
        return response;
      } catch (error) {
        outcomes.push({ url: req.url, outcome: isCancellation(error) ? 'cancelled' : 'failed' });
        throw error;
      }
    },
  };
  return { client, outcomes };
}

/**
 * EC2's device-number leaves for every test of a file: the number set in the returned map (keyed
 * by the MAC's listing path, e.g. "0e:49:61:0f:c3:11") for the current test; a MAC without one
 * answers 404, so the tables follow the listing order as upstream's. The map is cleared before
 * each test.
 */
export function serveEc2DeviceNumbers(baseUrl: string): Map<string, string> {
  const deviceNumbers = new Map<string, string>();
  beforeEach(() => {
    deviceNumbers.clear();
    nock(baseUrl)
      .get(/\/device-number$/)
      .reply((uri) => {
        const number = deviceNumbers.get(uri.split('/').at(-2) ?? '');
        return number === undefined ? [404, ''] : [200, number];
      })
      .persist();
  });
  return deviceNumbers;
}
