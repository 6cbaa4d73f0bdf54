// SPDX-License-Identifier: LGPL-2.1-or-later
import type { ProviderEnvName } from '../config.js';
import { errorMessage, isCancellation, MetadataError } from '../errors.js';
import type { MetadataHttp } from '../http.js';
import type { Logger } from '../log.js';
import type { InterfaceConfig } from '../model.js';
import { normalizeHwaddr } from '../net/hwaddr.js';

/** Provider names exactly as upstream logs them ("GCP" is upper case there). */
export type ProviderName = 'ec2' | 'GCP' | 'azure' | 'aliyun' | 'oci';

/** What a provider needs to talk to its metadata server. */
export interface ProviderContext {
  readonly http: MetadataHttp;
  /** Base URL without trailing slash, e.g. "http://169.254.169.254". */
  readonly baseUrl: string;
  readonly log: Logger;
  readonly signal: AbortSignal;
}

/** Outcome of detection: a session bound to this run, or why this cloud is not the one. */
export type DetectResult =
  { readonly detected: true; readonly session: MetadataSession } | { readonly detected: false; readonly reason: string };

/** One cloud, as upstream's NMCSProvider vtable: same shape for every provider. */
export interface Provider {
  readonly name: ProviderName;
  readonly envName: ProviderEnvName;
  readonly defaultBaseUrl: string;
  /** Default of NM_CLOUD_SETUP_ALLOW_NEW_CONN for this cloud. */
  readonly allowNewConnectionsByDefault: boolean;
  /** Probes the metadata server; resolves (never rejects) unless cancelled. */
  detect(context: ProviderContext): Promise<DetectResult>;
}

/** A detected cloud, holding what detection learned (e.g. the EC2 token) for the rest of the run. */
export interface MetadataSession {
  /**
   * Fills `records` (pre-seeded with one record per requested MAC, ifaceIdx -1) from the metadata.
   * Rejects on the first failed sub-request, as upstream does.
   */
  getConfig(records: Map<string, InterfaceConfig>, signal: AbortSignal): Promise<void>;
  /** What `status` shows about the instance; every fact is best effort. */
  instanceFacts(signal: AbortSignal): Promise<InstanceFacts>;
}

/** The instance as `status` describes it; a fact the metadata does not give is left out. */
export interface InstanceFacts {
  readonly id?: string;
  readonly region?: string;
  readonly zone?: string;
  /** Instance type, machine type, VM size or shape, in the cloud's own words. */
  readonly type?: string;
}

/** Joins URL parts as upstream: a "/" between base and path unless the path already starts with one. */
export function joinUrl(base: string, ...parts: string[]): string {
  const path = parts.join('');
  return path.startsWith('/') ? `${base}${path}` : `${base}/${path}`;
}

/** Returns the record for `hwaddr`, creating an unrequested one if needed. */
export function recordFor(records: Map<string, InterfaceConfig>, hwaddr: string): InterfaceConfig {
  let record = records.get(hwaddr);
  if (record === undefined) {
    record = { hwaddr, ifaceIdx: -1, wasRequested: false, routes: [] };
    records.set(hwaddr, record);
  }
  return record;
}

/**
 * GCP and Azure: the MAC listed for interface `intern` claims its record, which takes index
 * `extern`. An invalid or already claimed MAC fails the whole get-config, as upstream.
 */
export function claimInterfaceRecord(
  records: Map<string, InterfaceConfig>,
  macText: string,
  options: { readonly intern: number; readonly extern: number; readonly scope: string; readonly log: Logger },
): InterfaceConfig {
  const { intern, extern, scope, log } = options;
  const hwaddr = normalizeHwaddr(macText);
  if (hwaddr === undefined) {
    log.info(`${scope}: invalid MAC address returned`);
    throw new MetadataError(`invalid MAC address for index ${intern}`);
  }
  const record = recordFor(records, hwaddr);
  if (record.ifaceIdx >= 0) {
    log.info(`${scope}: duplicate MAC address ${hwaddr} returned`);
    throw new MetadataError(`duplicate MAC address for index ${intern}`);
  }
  record.ifaceIdx = extern;
  return record;
}

/**
 * Runs tasks concurrently; the first failure aborts the others and is rethrown, as upstream's
 * internal cancellable does. Resolves only when every task has finished.
 */
export async function allOrNothing<T>(signal: AbortSignal, tasks: readonly ((signal: AbortSignal) => Promise<T>)[]): Promise<T[]> {
  const controller = new AbortController();
  const combined = AbortSignal.any([signal, controller.signal]);
  let firstError: { error: unknown } | undefined;
  const results = await Promise.allSettled(
    tasks.map(async (task) => {
      try {
        return await task(combined);
      } catch (error) {
        firstError ??= { error };
        controller.abort();
        throw error;
      }
    }),
  );
  if (firstError !== undefined) throw firstError.error;
  return results.map((result) => (result as PromiseFulfilledResult<T>).value);
}

const KIB = 1024;

/** Every upstream poll: each attempt may take 3 s, and attempts start at least 1 s apart. */
export const ATTEMPT_TIMEOUT_MS = 3000;
export const ATTEMPT_INTERVAL_MS = 1000;

/** Upstream's limits for one kind of poll: overall window and body cap. */
export interface PollLimits {
  readonly overallMs: number;
  readonly maxBytes: number;
}

/** Detection requests: 7 s, 256 KiB. */
export const DETECT_LIMITS: PollLimits = { overallMs: 7000, maxBytes: 256 * KIB };
/** Interface listings: 15 s, 256 KiB. */
export const LISTING_LIMITS: PollLimits = { overallMs: 15000, maxBytes: 256 * KIB };
/** Everything else: 10 s, 512 KiB. */
export const LEAF_LIMITS: PollLimits = { overallMs: 10000, maxBytes: 512 * KIB };

/** Polls a GET until HTTP 200 and returns the body as text. */
export async function fetchText(
  context: Pick<ProviderContext, 'http'>,
  url: string,
  options: { readonly headers?: Readonly<Record<string, string>>; readonly limits: PollLimits; readonly signal: AbortSignal },
): Promise<string> {
  const response = await context.http.poll(
    {
      url,
      ...(options.headers === undefined ? {} : { headers: options.headers }),
      timeoutMs: ATTEMPT_TIMEOUT_MS,
      maxBytes: options.limits.maxBytes,
      signal: options.signal,
    },
    { overallMs: options.limits.overallMs, intervalMs: ATTEMPT_INTERVAL_MS },
  );
  return response.body.toString('utf8');
}

const FACT_MAX_BYTES = 64 * KIB;

/**
 * One GET for `status`, without retries: a fact the server does not answer with 200 within one
 * attempt is left out. Facts are never needed to configure anything, so they never fail a run.
 */
export async function fetchFact(
  context: Pick<ProviderContext, 'http'>,
  url: string,
  options: { readonly headers?: Readonly<Record<string, string>>; readonly signal: AbortSignal },
): Promise<string | undefined> {
  try {
    const response = await context.http.request({
      url,
      ...(options.headers === undefined ? {} : { headers: options.headers }),
      timeoutMs: ATTEMPT_TIMEOUT_MS,
      maxBytes: FACT_MAX_BYTES,
      signal: options.signal,
    });
    const text = response.body.toString('utf8').trim();
    return response.status === 200 && text !== '' ? text : undefined;
  } catch (error) {
    if (isCancellation(error)) throw error;
    return undefined;
  }
}

/** Fetches named facts in parallel and keeps those that came back. */
export async function collectFacts(
  facts: Readonly<Record<keyof InstanceFacts, Promise<string | undefined> | undefined>>,
): Promise<InstanceFacts> {
  const entries = await Promise.all(Object.entries(facts).map(async ([key, value]) => [key, await value] as const));
  return Object.fromEntries(entries.filter(([, value]) => value !== undefined));
}

/**
 * Detection by one GET that must answer 200 within 7 s (GCP, Azure, Aliyun, OCI).
 * `failure` prefixes the error, e.g. "failure to get GCP metadata".
 */
export async function detectByGet(
  context: ProviderContext,
  url: string,
  options: { readonly headers?: Readonly<Record<string, string>>; readonly failure: string; readonly session: () => MetadataSession },
): Promise<DetectResult> {
  try {
    await fetchText(context, url, {
      limits: DETECT_LIMITS,
      signal: context.signal,
      ...(options.headers ? { headers: options.headers } : {}),
    });
    return { detected: true, session: options.session() };
  } catch (error) {
    if (isCancellation(error)) throw error;
    return { detected: false, reason: `${options.failure}: ${errorMessage(error)}` };
  }
}

/**
 * Parses an index listing (GCP and Azure): one decimal number >= 0 per line, lines split on
 * "\n", "\r", "\r\n" or NUL, blank lines skipped, anything else skipped too. With
 * `stripSlash` one trailing "/" per line is dropped first (interface and address listings).
 */
export function parseIndexList(body: string, { stripSlash }: { readonly stripSlash: boolean }): number[] {
  const indexes: number[] = [];
  for (const rawLine of body.split(/\r\n|\r|\n|\0/)) {
    let line = rawLine;
    if (stripSlash && line.endsWith('/')) line = line.slice(0, -1);
    line = line.trim();
    if (/^[0-9]+$/.test(line) && Number.isSafeInteger(Number(line))) indexes.push(Number(line));
  }
  return indexes;
}
