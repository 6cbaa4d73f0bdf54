// SPDX-License-Identifier: LGPL-2.1-or-later
import { isCancellation } from '../errors.js';
import type { Logger } from '../log.js';
import { ethernetInterface, type Cidr, type ProviderInterface } from '../model.js';
import { parseIpv4Cidr, parseIpv4List } from '../net/ipv4.js';
import { fetchMacListing, macLeafUrl, type ListedMac } from './mac-listing.js';
import {
  allOrNothing,
  ATTEMPT_INTERVAL_MS,
  collectFacts,
  fetchFact,
  ATTEMPT_TIMEOUT_MS,
  DETECT_LIMITS,
  fetchText,
  joinUrl,
  LEAF_LIMITS,
} from './fetch.js';
import type { DetectResult, MetadataSession, Provider, ProviderContext } from './types.js';

const MACS_PATH = '/2018-09-24/meta-data/network/interfaces/macs/';
const TOKEN_TTL_HEADER = 'X-aws-ec2-metadata-token-ttl-seconds';
const TOKEN_HEADER = 'X-aws-ec2-metadata-token';

/** Parses local-ipv4s: one address per line, primary first; invalid lines are returned separately. */
export function parseLocalIpv4s(body: string): { ipv4s: string[]; invalid: string[] } {
  return parseIpv4List(body.split('\n').map((line) => line.trim()));
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
          timeoutMs: ATTEMPT_TIMEOUT_MS,
          maxBytes: DETECT_LIMITS.maxBytes,
          sensitive: true,
          signal: context.signal,
        },
        { overallMs: DETECT_LIMITS.overallMs, intervalMs: ATTEMPT_INTERVAL_MS },
      );
      // The body is the token, verbatim; it lives in this session only and is never logged.
      return { detected: true, session: createSession(context, response.body.toString('latin1')) };
    } catch (error) {
      if (isCancellation(error)) throw error;
      return { detected: false, reason: `failure to get EC2 metadata: ${(error as Error).message}` };
    }
  },
};

function parseSubnet(log: Logger, mac: ListedMac, text: string): Cidr | undefined {
  const body = text.trim();
  const cidr = parseIpv4Cidr(body);
  if (cidr === undefined) log.warn(`get-config: ${mac.hwaddr}: ignoring invalid subnet-ipv4-cidr-block "${body}"`);
  return cidr;
}

function parseAddresses(log: Logger, mac: ListedMac, body: string): string[] {
  const { ipv4s, invalid } = parseLocalIpv4s(body);
  for (const line of invalid) log.warn(`get-config: ${mac.hwaddr}: ignoring invalid address "${line}" in local-ipv4s`);
  return ipv4s;
}

function createSession({ http, log, baseUrl }: ProviderContext, token: string): MetadataSession {
  const headers = { [TOKEN_HEADER]: token };
  const listingUrl = joinUrl(baseUrl, MACS_PATH);

  const fetchLeaf = (mac: ListedMac, leaf: string, signal: AbortSignal): Promise<string> =>
    fetchText({ http }, macLeafUrl(listingUrl, mac, leaf), { headers, limits: LEAF_LIMITS, signal });

  return {
    async getConfig(request, signal) {
      const macs = await fetchMacListing({ http, log, url: listingUrl, headers, requested: request.requested, signal });
      const interfaces = await allOrNothing(
        signal,
        macs.map((mac) => async (macSignal: AbortSignal): Promise<ProviderInterface> => {
          let subnet: Cidr | undefined;
          let addresses: string[] = [];
          await allOrNothing(macSignal, [
            async (taskSignal) => void (subnet = parseSubnet(log, mac, await fetchLeaf(mac, 'subnet-ipv4-cidr-block', taskSignal))),
            async (taskSignal) => void (addresses = parseAddresses(log, mac, await fetchLeaf(mac, 'local-ipv4s', taskSignal))),
          ]);
          // Addresses are set even when nothing parsed, as upstream: an empty list still replaces old ones.
          return ethernetInterface(mac.hwaddr, mac.ifaceIdx, { addresses, ...(subnet === undefined ? {} : { subnet }), routes: [] });
        }),
      );
      return { interfaces, withdrawn: [] };
    },
    instanceFacts(signal) {
      const fact = (leaf: string) => fetchFact({ http }, joinUrl(baseUrl, '/latest/meta-data/', leaf), { headers, signal });
      return collectFacts({
        id: fact('instance-id'),
        region: fact('placement/region'),
        zone: fact('placement/availability-zone'),
        type: fact('instance-type'),
      });
    },
  };
}
