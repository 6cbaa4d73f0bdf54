// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What every provider does with its metadata server: URL joining, upstream's poll windows and
 * body caps, one-shot fact reads, detection by one GET, and listing parsers.
 */
import { errorMessage, isCancellation, MetadataError } from '../errors.js';
import type { Logger } from '../log.js';
import type { InstanceFacts } from '../model.js';
import { normalizeHwaddr } from '../net/hwaddr.js';
import type { HttpResponse, MetadataHttp } from '../http.js';
import type { DetectResult, MetadataSession, ProviderContext } from './types.js';

/** Joins URL parts as upstream: a "/" between base and path unless the path already starts with one. */
export function joinUrl(base: string, ...parts: string[]): string {
  const path = parts.join('');
  return path.startsWith('/') ? `${base}${path}` : `${base}/${path}`;
}

/**
 * GCP and Azure: the MAC listed for interface `intern`, claimed for this result. An invalid or
 * already claimed MAC fails the whole get-config, as upstream.
 */
export function claimMac(
  claimed: Set<string>,
  macText: string,
  options: { readonly intern: number; readonly scope: string; readonly log: Logger },
): string {
  const { intern, scope, log } = options;
  const hwaddr = normalizeHwaddr(macText);
  if (hwaddr === undefined) {
    log.info(`${scope}: invalid MAC address returned`);
    throw new MetadataError(`invalid MAC address for index ${intern}`);
  }
  if (claimed.has(hwaddr)) {
    log.info(`${scope}: duplicate MAC address ${hwaddr} returned`);
    throw new MetadataError(`duplicate MAC address for index ${intern}`);
  }
  claimed.add(hwaddr);
  return hwaddr;
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

type FetchOptions = { readonly headers?: Readonly<Record<string, string>>; readonly limits: PollLimits; readonly signal: AbortSignal };

/** Polls a GET with upstream's attempt timeout and spacing until `isReady` (default: HTTP 200). */
function pollGet(
  context: Pick<ProviderContext, 'http'>,
  url: string,
  options: FetchOptions,
  isReady?: (response: HttpResponse) => boolean,
): Promise<HttpResponse> {
  return context.http.poll(
    {
      url,
      ...(options.headers === undefined ? {} : { headers: options.headers }),
      timeoutMs: ATTEMPT_TIMEOUT_MS,
      maxBytes: options.limits.maxBytes,
      signal: options.signal,
    },
    { overallMs: options.limits.overallMs, intervalMs: ATTEMPT_INTERVAL_MS, ...(isReady === undefined ? {} : { isReady }) },
  );
}

/** Polls a GET until HTTP 200 and returns the body as text. */
export async function fetchText(context: Pick<ProviderContext, 'http'>, url: string, options: FetchOptions): Promise<string> {
  return (await pollGet(context, url, options)).body.toString('utf8');
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
  facts: Readonly<Partial<Record<keyof InstanceFacts, Promise<string | undefined> | undefined>>>,
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
 * The names in a metadata directory listing (an EC2 or Aliyun MAC's, a GCP interface's): one per
 * line, trimmed, the trailing "/" of a subdirectory dropped.
 */
export function parseLeafListing(body: string): Set<string> {
  return new Set(body.split('\n').map((line) => line.trim().replace(/\/$/, '')));
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

/**
 * fetchText for a leaf that an interface may simply not have: a 404 is final and resolves
 * undefined at once ("this interface has no such data") instead of being polled for 10 s and
 * failing every interface. Any other status is retried as upstream does.
 */
export async function fetchOptionalText(
  context: Pick<ProviderContext, 'http'>,
  url: string,
  options: FetchOptions,
): Promise<string | undefined> {
  const response = await pollGet(context, url, options, (answer) => answer.status === 200 || answer.status === HTTP_NOT_FOUND);
  return response.status === HTTP_NOT_FOUND ? undefined : response.body.toString('utf8');
}

const HTTP_NOT_FOUND = 404;

/**
 * At most this many metadata requests (polls) of one get-config are in flight at a time: the
 * HTTP agent's socket limit (MAX_SOCKETS in src/http.ts, which providers do not load), so the
 * bound costs no round trip it did not cost. EC2 reads three leaves per interface: 8 NICs fit.
 */
export const MAX_IN_FLIGHT = 32;

/**
 * The same client with at most `limit` polls and requests in flight; the others wait in
 * order. A listing of thousands of interfaces then costs a queue, not thousands of sockets.
 */
export function boundedHttp(http: MetadataHttp, limit: number = MAX_IN_FLIGHT): MetadataHttp {
  let active = 0;
  const waiting: (() => void)[] = [];
  const gated = async <T>(work: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await work();
    } finally {
      const next = waiting.shift();
      if (next === undefined) active--;
      else next();
    }
  };
  return {
    request: (request) => gated(() => http.request(request)),
    poll: (request, options) => gated(() => http.poll(request, options)),
    preconnect: (url, count) => http.preconnect(url, count),
    close: () => http.close(),
  };
}
