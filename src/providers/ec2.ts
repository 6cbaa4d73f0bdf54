// SPDX-License-Identifier: LGPL-2.1-or-later
import { isCancellation } from '../errors.js';
import { MAX_INTERFACES } from '../plan/policy-routing.js';
import type { Logger } from '../log.js';
import { ethernetInterface, NO_FAMILY_CONFIG, type Cidr, type FamilyConfig, type ProviderInterface } from '../model.js';
import { parseIpv4Cidr, parseIpv4List } from '../net/ipv4.js';
import { ipv6NetworkAddress, parseIpv6Cidr, parseIpv6List } from '../net/ipv6.js';
import { fetchMacListing, macLeafUrl, selectMacs, type ListedMac } from './mac-listing.js';
import {
  allOrNothing,
  ATTEMPT_INTERVAL_MS,
  ATTEMPT_TIMEOUT_MS,
  boundedHttp,
  collectFacts,
  DETECT_LIMITS,
  fetchFact,
  fetchOptionalText,
  joinUrl,
  LEAF_LIMITS,
  MAX_IN_FLIGHT,
  parseLeafListing,
} from './fetch.js';
import type { DetectResult, MetadataSession, Provider, ProviderContext } from './types.js';

const MACS_PATH = '/2018-09-24/meta-data/network/interfaces/macs/';
const TOKEN_TTL_HEADER = 'X-aws-ec2-metadata-token-ttl-seconds';
const TOKEN_HEADER = 'X-aws-ec2-metadata-token';
/** Leaves read per MAC without IPv6: subnet-ipv4-cidr-block, local-ipv4s, device-number. */
const LEAVES_PER_MAC = 3;

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
  /** One leaf below the MAC; undefined when the server answers 404 (the MAC has no such leaf). */
  readonly fetchLeaf: (mac: ListedMac, leaf: string, signal: AbortSignal) => Promise<string | undefined>;
}

/**
 * Upstream's two leaves, fetched together. A 404 means the NIC has no such data (an IPv6-only
 * NIC has no local-ipv4s): that NIC is reported without IPv4 and the others are configured,
 * where upstream polled the 404 for 10 s and then failed every NIC.
 */
async function readIpv4Only({ log, fetchLeaf }: MacReader, mac: ListedMac, signal: AbortSignal): Promise<ProviderInterface> {
  const [subnetBody, addressesBody] = await allOrNothing(signal, [
    (s) => fetchLeaf(mac, 'subnet-ipv4-cidr-block', s),
    (s) => fetchLeaf(mac, 'local-ipv4s', s),
  ]);
  if (subnetBody === undefined || addressesBody === undefined) {
    const missing = subnetBody === undefined ? 'subnet-ipv4-cidr-block' : 'local-ipv4s';
    log.debug(`get-config: ${mac.hwaddr}: no ${missing} (HTTP 404), no IPv4 to configure on this interface`);
    return ethernetInterface(mac.hwaddr, mac.ifaceIdx, NO_FAMILY_CONFIG);
  }
  const subnet = parseSubnet(log, mac, subnetBody);
  // Addresses are set even when nothing parsed, as upstream: an empty list still replaces old ones.
  const addresses = parseAddresses(log, mac, addressesBody);
  return ethernetInterface(mac.hwaddr, mac.ifaceIdx, { addresses, ...(subnet === undefined ? {} : { subnet }), routes: [] });
}

/**
 * With IPv6: the MAC's own listing first, so that only the leaves it serves are asked for. An
 * IPv6-only NIC has no local-ipv4s; a NIC without IPv6 has no ipv6s.
 */
async function readDualStack(reader: MacReader, mac: ListedMac, signal: AbortSignal): Promise<ProviderInterface> {
  const leaves = parseLeafListing((await reader.fetchLeaf(mac, '', signal)) ?? '');
  const hasIpv4 = leaves.has('local-ipv4s') && leaves.has('subnet-ipv4-cidr-block');
  const hasIpv6 = leaves.has('ipv6s') || leaves.has('ipv6-prefix');
  const [ipv4, ipv6] = await Promise.all([
    hasIpv4 ? readIpv4Only(reader, mac, signal) : ethernetInterface(mac.hwaddr, mac.ifaceIdx, NO_FAMILY_CONFIG),
    hasIpv6 ? readIpv6(reader, mac, leaves, signal) : NO_FAMILY_CONFIG,
  ]);
  if (!hasIpv4) reader.log.debug(`get-config: ${mac.hwaddr}: no IPv4 addresses listed (IPv6-only interface)`);
  return { ...ipv4, ipv6 };
}

/** The IPv6 leaves the MAC's listing has, read together; one it lacks reads as empty. */
async function readIpv6({ log, fetchLeaf }: MacReader, mac: ListedMac, leaves: Set<string>, signal: AbortSignal): Promise<FamilyConfig> {
  const optional = (leaf: string) => async (s: AbortSignal) => (leaves.has(leaf) ? ((await fetchLeaf(mac, leaf, s)) ?? '') : '');
  const [ipv6s = '', subnets = '', prefixes = ''] = await allOrNothing(signal, [
    optional('ipv6s'),
    optional('subnet-ipv6-cidr-blocks'),
    optional('ipv6-prefix'),
  ]);
  return parseIpv6Config(log, mac, { ipv6s: leaves.has('ipv6s') ? ipv6s : undefined, subnets, prefixes });
}

/**
 * ipv6s, subnet-ipv6-cidr-blocks and ipv6-prefix (delegated prefixes), each one per line: the
 * subnet is the first block that holds the first address. EC2 serves no IPv6 router: the
 * default route needs the one learned from router advertisements.
 */
function parseIpv6Config(
  log: Logger,
  mac: ListedMac,
  bodies: { ipv6s: string | undefined; subnets: string; prefixes: string },
): FamilyConfig {
  const { ipv6s, invalid } = parseIpv6List(lines(bodies.ipv6s ?? ''));
  for (const line of invalid) log.warn(`get-config: ${mac.hwaddr}: ignoring invalid address "${line}" in ipv6s`);
  const subnets = parseIpv6Cidrs(log, mac, 'subnet-ipv6-cidr-blocks', bodies.subnets);
  const first = ipv6s[0];
  const subnet =
    subnets.find(
      (cidr) => first !== undefined && ipv6NetworkAddress(first, cidr.prefix) === ipv6NetworkAddress(cidr.address, cidr.prefix),
    ) ?? subnets[0];
  // A prefix is routed as the network it names, whatever host bits the text carries.
  const delegatedPrefixes = parseIpv6Cidrs(log, mac, 'ipv6-prefix', bodies.prefixes).map((cidr) => ({
    address: ipv6NetworkAddress(cidr.address, cidr.prefix),
    prefix: cidr.prefix,
  }));
  return {
    // Listed ipv6s are set even when none parsed, as for IPv4: an empty list still replaces old ones.
    ...(bodies.ipv6s === undefined ? {} : { addresses: ipv6s }),
    ...(subnet === undefined ? {} : { subnet }),
    routes: [],
    ...(delegatedPrefixes.length === 0 ? {} : { delegatedPrefixes }),
  };
}

function lines(body: string): string[] {
  return body
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** One CIDR per line; lines that are not one are left out, with one warning for the leaf. */
function parseIpv6Cidrs(log: Logger, mac: ListedMac, leaf: string, body: string): Cidr[] {
  const texts = lines(body);
  const cidrs = texts.map(parseIpv6Cidr).filter((cidr): cidr is Cidr => cidr !== undefined);
  if (cidrs.length !== texts.length) log.warn(`get-config: ${mac.hwaddr}: ignoring invalid ${leaf} "${body.trim()}"`);
  return cidrs;
}

/** A device-number body: a decimal integer, else undefined. */
function parseDeviceNumber(body: string | undefined): number | undefined {
  const text = body?.trim();
  return text !== undefined && /^[0-9]{1,6}$/.test(text) ? Number(text) : undefined;
}

/**
 * Tables are numbered by the interface's device-number (its attachment index, which does not
 * change while it stays attached) instead of the MAC listing order, so that attaching a NIC
 * whose MAC sorts first does not renumber every table and rule on the host. When any read
 * interface has no usable device-number, or two share one (several network cards each count
 * from 0), the listing order is kept for all, as upstream.
 */
function byDeviceNumber(log: Logger, found: readonly (readonly [ProviderInterface, number | undefined])[]): ProviderInterface[] {
  const numbers = found.map(([, number]) => number);
  const isUsable = numbers.every((number) => number !== undefined) && new Set(numbers).size === numbers.length;
  if (!isUsable) {
    if (found.length > 0) log.debug('get-config: no unique device-number for every interface: tables follow the listing order');
    return found.map(([iface]) => iface);
  }
  return found.map(([iface, number]) => ({ ...iface, ifaceIdx: number ?? iface.ifaceIdx }));
}

function createSession(context: ProviderContext, token: string): MetadataSession {
  const { log, baseUrl } = context;
  const http = boundedHttp(context.http);
  const headers = { [TOKEN_HEADER]: token };
  const listingUrl = joinUrl(baseUrl, MACS_PATH);

  const fetchLeaf = (mac: ListedMac, leaf: string, signal: AbortSignal): Promise<string | undefined> =>
    fetchOptionalText({ http }, macLeafUrl(listingUrl, mac, leaf), { headers, limits: LEAF_LIMITS, signal });

  return {
    async getConfig(request, signal) {
      // The leaves of every requested MAC go out at once when the listing answers: open their
      // connections now, so that their handshakes overlap the listing's round trip.
      const leaves = LEAVES_PER_MAC * Math.min(request.requested.length, MAX_INTERFACES);
      http.preconnect(listingUrl, Math.min(leaves, MAX_IN_FLIGHT) - 1);
      const listed = await fetchMacListing({ http, log, url: listingUrl, headers, requested: request.requested, signal });
      const { read, beyondMax } = selectMacs(listed, request.requested, log);
      const readMac = request.ipv6 ? readDualStack : readIpv4Only;
      const found = await allOrNothing(
        signal,
        read.map(
          (mac) => (macSignal: AbortSignal) =>
            Promise.all([readMac({ log, fetchLeaf }, mac, macSignal), fetchLeaf(mac, 'device-number', macSignal).then(parseDeviceNumber)]),
        ),
      );
      return {
        interfaces: [
          ...byDeviceNumber(log, found),
          ...beyondMax.map((mac) => ethernetInterface(mac.hwaddr, mac.ifaceIdx, NO_FAMILY_CONFIG)),
        ],
        withdrawn: [],
      };
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
