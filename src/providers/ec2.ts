// SPDX-License-Identifier: LGPL-2.1-or-later
import { isCancellation, MetadataError, PollTimeoutError } from '../errors.js';
import type { HttpResponse } from '../http.js';
import type { InterfaceConfig } from '../model.js';
import { normalizeHwaddr } from '../net/hwaddr.js';
import { parseIpv4, parseIpv4Cidr } from '../net/ipv4.js';
import {
  allOrNothing,
  joinUrl,
  recordFor,
  type DetectResult,
  type MetadataSession,
  type Provider,
  type ProviderContext,
} from './provider.js';

const KIB = 1024;
const MACS_PATH = '/2018-09-24/meta-data/network/interfaces/macs/';
const TOKEN_TTL_HEADER = 'X-aws-ec2-metadata-token-ttl-seconds';
const TOKEN_HEADER = 'X-aws-ec2-metadata-token';

/** One parsed line of the MAC listing: the raw text is reused as the URL path, as upstream does. */
interface ListedMac {
  readonly hwaddr: string;
  readonly path: string;
  readonly ifaceIdx: number;
}

/** Parses the macs/ listing; invalid lines are returned separately so they can be reported once. */
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

/** Parses local-ipv4s: one address per line, primary first; invalid lines are returned separately. */
export function parseLocalIpv4s(body: string): { ipv4s: string[]; invalid: string[] } {
  const ipv4s: string[] = [];
  const invalid: string[] = [];
  for (const line of body.split('\n').map((part) => part.trim())) {
    if (line === '') continue;
    const address = parseIpv4(line);
    if (address === undefined) invalid.push(line);
    else ipv4s.push(address);
  }
  return { ipv4s, invalid };
}

/** Amazon EC2, IMDSv2: a session token from PUT /latest/api/token authenticates every request. */
export const ec2: Provider = {
  name: 'ec2',
  envName: 'EC2',
  defaultBaseUrl: 'http://169.254.169.254',
  allowNewConnectionsByDefault: false,

  async detect(context: ProviderContext): Promise<DetectResult> {
    try {
      const response = await context.http.poll(
        {
          url: joinUrl(context.baseUrl, '/latest/api/token'),
          method: 'PUT',
          headers: { [TOKEN_TTL_HEADER]: '180' },
          timeoutMs: 3000,
          maxBytes: 256 * KIB,
          sensitive: true,
          signal: context.signal,
        },
        { overallMs: 7000, intervalMs: 1000 },
      );
      // The body is the token, verbatim; it lives in this session only and is never logged.
      return { detected: true, session: createSession(context, response.body.toString('latin1')) };
    } catch (error) {
      if (isCancellation(error)) throw error;
      return { detected: false, reason: `failure to get EC2 metadata: ${(error as Error).message}` };
    }
  },
};

function createSession(context: ProviderContext, token: string): MetadataSession {
  const { http, log, baseUrl } = context;
  const headers = { [TOKEN_HEADER]: token };

  const fetchMacs = async (requested: readonly string[], signal: AbortSignal): Promise<Map<string, ListedMac>> => {
    let listing: ReturnType<typeof parseMacListing> | undefined;
    // Ready only when every NM device's MAC is listed: a freshly attached ENI shows up late.
    const isReady = (response: HttpResponse): boolean => {
      if (response.status !== 200) return false;
      listing = parseMacListing(response.body.toString('utf8'));
      const macs = listing.macs;
      return requested.every((hwaddr) => macs.has(hwaddr));
    };
    try {
      await http.poll(
        { url: joinUrl(baseUrl, MACS_PATH), headers, timeoutMs: 3000, maxBytes: 256 * KIB, signal },
        { overallMs: 15000, intervalMs: 1000, isReady },
      );
    } catch (error) {
      // Upstream ignores the timeout and uses the last listing it saw, if any.
      if (!(error instanceof PollTimeoutError)) throw error;
    }
    if (listing === undefined) throw new MetadataError('meta data for interfaces not found');
    for (const line of listing.invalid) log.warn(`get-config: ignoring invalid MAC address "${line}" in the interface listing`);
    return listing.macs;
  };

  const fetchLeaf = async (mac: ListedMac, leaf: string, signal: AbortSignal): Promise<string> => {
    const separator = mac.path.endsWith('/') ? '' : '/';
    const response = await http.poll(
      { url: joinUrl(baseUrl, MACS_PATH, mac.path, separator, leaf), headers, timeoutMs: 3000, maxBytes: 512 * KIB, signal },
      { overallMs: 10000, intervalMs: 1000 },
    );
    return response.body.toString('utf8');
  };

  const fetchInterface = (mac: ListedMac, record: InterfaceConfig) => [
    async (signal: AbortSignal) => {
      const body = await fetchLeaf(mac, 'subnet-ipv4-cidr-block', signal);
      const cidr = parseIpv4Cidr(body.trim());
      if (cidr === undefined) log.warn(`get-config: ${mac.hwaddr}: ignoring invalid subnet-ipv4-cidr-block "${body.trim()}"`);
      else record.cidr = cidr;
    },
    async (signal: AbortSignal) => {
      const { ipv4s, invalid } = parseLocalIpv4s(await fetchLeaf(mac, 'local-ipv4s', signal));
      for (const line of invalid) log.warn(`get-config: ${mac.hwaddr}: ignoring invalid address "${line}" in local-ipv4s`);
      // Set even when nothing parsed, as upstream: an empty list still replaces old addresses.
      record.ipv4s = ipv4s;
    },
  ];

  return {
    async getConfig(records, signal) {
      const requested = [...records.values()].filter((record) => record.wasRequested).map((record) => record.hwaddr);
      const macs = await fetchMacs(requested, signal);
      const tasks = [...macs.values()].flatMap((mac) => {
        const record = recordFor(records, mac.hwaddr);
        record.ifaceIdx = mac.ifaceIdx;
        log.debug(`get-config: start fetching meta data for #${mac.ifaceIdx}, ${mac.hwaddr} (${mac.path})`);
        return fetchInterface(mac, record);
      });
      await allOrNothing(signal, tasks);
    },
  };
}
