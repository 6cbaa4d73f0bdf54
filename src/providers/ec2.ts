// SPDX-License-Identifier: LGPL-2.1-or-later
import { isCancellation } from '../errors.js';
import type { Logger } from '../log.js';
import { ethernetInterface, NO_FAMILY_CONFIG, type Cidr, type FamilyConfig, type ProviderInterface } from '../model.js';
import { parseIpv4Cidr, parseIpv4List } from '../net/ipv4.js';
import { ipv6NetworkAddress, parseIpv6Cidr, parseIpv6List } from '../net/ipv6.js';
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

/** What reading one MAC needs. */
interface MacReader {
  readonly log: Logger;
  readonly fetchLeaf: (mac: ListedMac, leaf: string, signal: AbortSignal) => Promise<string>;
}

/** Upstream's two leaves, fetched together; either failing fails the run. */
async function readIpv4Only({ log, fetchLeaf }: MacReader, mac: ListedMac, signal: AbortSignal): Promise<ProviderInterface> {
  let subnet: Cidr | undefined;
  let addresses: string[] = [];
  await allOrNothing(signal, [
    async (taskSignal) => void (subnet = parseSubnet(log, mac, await fetchLeaf(mac, 'subnet-ipv4-cidr-block', taskSignal))),
    async (taskSignal) => void (addresses = parseAddresses(log, mac, await fetchLeaf(mac, 'local-ipv4s', taskSignal))),
  ]);
  // Addresses are set even when nothing parsed, as upstream: an empty list still replaces old ones.
  return ethernetInterface(mac.hwaddr, mac.ifaceIdx, { addresses, ...(subnet === undefined ? {} : { subnet }), routes: [] });
}

/**
 * With IPv6: the MAC's own listing first, so that only the leaves it serves are asked for. An
 * IPv6-only NIC has no local-ipv4s (404, which a poll would retry for 10 s and then fail the run);
 * a NIC without IPv6 has no ipv6s.
 */
async function readDualStack(reader: MacReader, mac: ListedMac, signal: AbortSignal): Promise<ProviderInterface> {
  const { log, fetchLeaf } = reader;
  const leaves = new Set((await fetchLeaf(mac, '', signal)).split('\n').map((line) => line.trim()));
  const hasIpv4 = leaves.has('local-ipv4s') && leaves.has('subnet-ipv4-cidr-block');
  let ipv6: FamilyConfig = NO_FAMILY_CONFIG;
  const [ipv4] = await Promise.all([
    hasIpv4 ? readIpv4Only(reader, mac, signal) : undefined,
    leaves.has('ipv6s')
      ? allOrNothing(signal, [
          (s) => fetchLeaf(mac, 'ipv6s', s),
          (s) => (leaves.has('subnet-ipv6-cidr-blocks') ? fetchLeaf(mac, 'subnet-ipv6-cidr-blocks', s) : Promise.resolve('')),
        ]).then(([ipv6s = '', subnets = '']) => void (ipv6 = parseIpv6Config(log, mac, ipv6s, subnets)))
      : undefined,
  ]);
  if (!hasIpv4) log.debug(`get-config: ${mac.hwaddr}: no IPv4 addresses listed (IPv6-only interface)`);
  return { ...(ipv4 ?? ethernetInterface(mac.hwaddr, mac.ifaceIdx, NO_FAMILY_CONFIG)), ipv6 };
}

/**
 * ipv6s (one per line) and subnet-ipv6-cidr-blocks (one per line): the subnet is the first
 * block that holds the first address. EC2 serves no IPv6 router: the default route needs the
 * one learned from router advertisements.
 */
function parseIpv6Config(log: Logger, mac: ListedMac, ipv6sBody: string, subnetsBody: string): FamilyConfig {
  const { ipv6s, invalid } = parseIpv6List(ipv6sBody.split('\n').map((line) => line.trim()));
  for (const line of invalid) log.warn(`get-config: ${mac.hwaddr}: ignoring invalid address "${line}" in ipv6s`);
  const blocks = subnetsBody
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const subnets = blocks.map(parseIpv6Cidr).filter((cidr): cidr is Cidr => cidr !== undefined);
  if (subnets.length !== blocks.length)
    log.warn(`get-config: ${mac.hwaddr}: ignoring invalid subnet-ipv6-cidr-blocks "${subnetsBody.trim()}"`);
  const first = ipv6s[0];
  const subnet =
    subnets.find(
      (cidr) => first !== undefined && ipv6NetworkAddress(first, cidr.prefix) === ipv6NetworkAddress(cidr.address, cidr.prefix),
    ) ?? subnets[0];
  return { addresses: ipv6s, ...(subnet === undefined ? {} : { subnet }), routes: [] };
}

function createSession({ http, log, baseUrl }: ProviderContext, token: string): MetadataSession {
  const headers = { [TOKEN_HEADER]: token };
  const listingUrl = joinUrl(baseUrl, MACS_PATH);

  const fetchLeaf = (mac: ListedMac, leaf: string, signal: AbortSignal): Promise<string> =>
    fetchText({ http }, macLeafUrl(listingUrl, mac, leaf), { headers, limits: LEAF_LIMITS, signal });

  return {
    async getConfig(request, signal) {
      const macs = await fetchMacListing({ http, log, url: listingUrl, headers, requested: request.requested, signal });
      const readMac = request.ipv6 ? readDualStack : readIpv4Only;
      const interfaces = await allOrNothing(
        signal,
        macs.map((mac) => (macSignal: AbortSignal) => readMac({ log, fetchLeaf }, mac, macSignal)),
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
