// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The "network/interfaces/macs/" listing that EC2 and Aliyun share: one MAC per line, the
 * raw line reused as the path of that interface's leaves.
 */
import { MetadataError, PollTimeoutError } from '../errors.js';
import type { HttpResponse, MetadataHttp } from '../http.js';
import type { Logger } from '../log.js';
import { normalizeHwaddr } from '../net/hwaddr.js';
import { MAX_INTERFACES } from '../plan/policy-routing.js';
import { ATTEMPT_INTERVAL_MS, ATTEMPT_TIMEOUT_MS, LISTING_LIMITS } from './fetch.js';

/** One parsed line of the MAC listing. */
export interface ListedMac {
  readonly hwaddr: string;
  /** The line as listed (e.g. "0e:49:61:0f:c3:11/"), used in URLs as upstream does. */
  readonly path: string;
  readonly ifaceIdx: number;
}

/** Parses the listing; invalid lines are returned separately so they can be reported once. */
export function parseMacListing(body: string): { macs: Map<string, ListedMac>; invalid: string[] } {
  const macs = new Map<string, ListedMac>();
  const invalid: string[] = [];
  let ifaceIdx = 0;
  for (const rawLine of body.split('\n')) {
    const path = rawLine.trim();
    if (path === '') continue;
    const hwaddr = normalizeHwaddr(path.endsWith('/') ? path.slice(0, -1) : path);
    if (hwaddr === undefined) {
      invalid.push(path);
      continue;
    }
    // A duplicate keeps the later line's index and path; the counter still advances (upstream).
    macs.set(hwaddr, { hwaddr, path, ifaceIdx: ifaceIdx++ });
  }
  return { macs, invalid };
}

export interface MacListingRequest {
  readonly http: MetadataHttp;
  readonly log: Logger;
  /** URL of the listing, ending in "/macs/". */
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** The MACs NetworkManager wants configured: the listing is polled until all are in it. */
  readonly requested: readonly string[];
  readonly signal: AbortSignal;
}

/**
 * Polls the listing until every requested MAC is in it (a freshly attached NIC shows up late),
 * for at most 15 s, then uses the last listing seen, as upstream does. Logs "start fetching"
 * returns the listed MACs with their indexes; selectMacs() picks those to read.
 */
export async function fetchMacListing(request: MacListingRequest): Promise<ListedMac[]> {
  const { http, log, url, headers, requested, signal } = request;
  let listing: ReturnType<typeof parseMacListing> | undefined;
  const isReady = (response: HttpResponse): boolean => {
    if (response.status !== 200) return false;
    const parsed = parseMacListing(response.body.toString('utf8'));
    listing = parsed;
    return requested.every((hwaddr) => parsed.macs.has(hwaddr));
  };
  try {
    await http.poll(
      { url, ...(headers === undefined ? {} : { headers }), timeoutMs: ATTEMPT_TIMEOUT_MS, maxBytes: LISTING_LIMITS.maxBytes, signal },
      { overallMs: LISTING_LIMITS.overallMs, intervalMs: ATTEMPT_INTERVAL_MS, isReady },
    );
  } catch (error) {
    if (!(error instanceof PollTimeoutError)) throw error;
  }
  if (listing === undefined) throw new MetadataError('meta data for interfaces not found');
  for (const line of listing.invalid) log.warn(`get-config: ignoring invalid MAC address "${line}" in the interface listing`);

  return [...listing.macs.values()];
}

/** The listed MACs worth reading, and the requested ones that are listed but will not be configured. */
export interface MacSelection {
  /** Requested, and at an index below MAX_INTERFACES: read. */
  readonly read: readonly ListedMac[];
  /** Requested, at an index the tables have no room for: reported without data, never read. */
  readonly beyondMax: readonly ListedMac[];
}

/**
 * Upstream reads every listed MAC, though only those NetworkManager requested at an index
 * below MAX_INTERFACES can be configured: a listing of thousands of MACs cost thousands of
 * requests. Only those are read; "start fetching" is logged for them alone.
 */
export function selectMacs(macs: readonly ListedMac[], requested: readonly string[], log: Logger): MacSelection {
  const wanted = new Set(requested);
  const mine = macs.filter((mac) => wanted.has(mac.hwaddr));
  const read = mine.filter((mac) => mac.ifaceIdx < MAX_INTERFACES);
  for (const mac of read) log.debug(`get-config: start fetching meta data for #${mac.ifaceIdx}, ${mac.hwaddr} (${mac.path})`);
  if (read.length < macs.length)
    log.debug(`get-config: not reading ${macs.length - read.length} listed interfaces (not requested, or index >= ${MAX_INTERFACES})`);
  return { read, beyondMax: mine.filter((mac) => mac.ifaceIdx >= MAX_INTERFACES) };
}

/** URL of one leaf below a listed MAC: a "/" is inserted only when the raw path lacks one. */
export function macLeafUrl(listingUrl: string, mac: ListedMac, leaf: string): string {
  return `${listingUrl}${mac.path}${mac.path.endsWith('/') ? '' : '/'}${leaf}`;
}
