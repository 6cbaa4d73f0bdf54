// SPDX-License-Identifier: LGPL-2.1-or-later
import { MetadataError } from '../errors.js';
import { ethernetInterface, NO_FAMILY_CONFIG, type FamilyConfig, type Route } from '../model.js';
import { parseIpv4 } from '../net/ipv4.js';
import { ipv6NetworkAddress, parseIpv6, parseIpv6Cidr, parseIpv6List } from '../net/ipv6.js';
import type { Logger } from '../log.js';
import { MAX_INTERFACES } from '../plan/policy-routing.js';
import {
  allOrNothing,
  boundedHttp,
  claimMac,
  collectFacts,
  detectByGet,
  fetchFact,
  fetchOptionalText,
  fetchText,
  joinUrl,
  LEAF_LIMITS,
  parseIndexList,
  parseLeafListing,
} from './fetch.js';
import type { MetadataSession, Provider, ProviderContext } from './types.js';

const HEADERS = { 'Metadata-Flavor': 'Google' };
const INSTANCE_PATH = '/computeMetadata/v1/instance';

/** Metric of the local routes for forwarded IPs (internal load balancers). */
export const FORWARDED_IP_ROUTE_METRIC = 100;

/**
 * Google Cloud: forwarded IPs (internal load balancer addresses) become /32 routes of type
 * "local", so the instance accepts traffic for them. No addresses, no policy routing.
 */
export const gcp: Provider = {
  name: 'GCP',
  envName: 'GCP',
  defaultBaseUrl: 'http://metadata.google.internal',
  allowNewConnectionsByDefault: false,

  detect(context) {
    return detectByGet(context, joinUrl(context.baseUrl, INSTANCE_PATH, '/id'), {
      headers: HEADERS,
      failure: 'failure to get GCP metadata',
      session: () => createSession(context),
    });
  },
};

function createSession(context: ProviderContext): MetadataSession {
  const { log, baseUrl } = context;
  const http = boundedHttp(context.http);
  const url = (path: string): string => joinUrl(baseUrl, INSTANCE_PATH, '/network-interfaces/', path);
  const fetch = (path: string, signal: AbortSignal): Promise<string> =>
    fetchText({ http }, url(path), { headers: HEADERS, limits: LEAF_LIMITS, signal });
  const fetchOptional = (path: string, signal: AbortSignal): Promise<string | undefined> =>
    fetchOptionalText({ http }, url(path), { headers: HEADERS, limits: LEAF_LIMITS, signal });

  return {
    async getConfig(request, signal) {
      const listed = parseIndexList(await fetch('', signal), { stripSlash: true });
      log.info(`found GCP interfaces: ${listed.length}`);
      if (listed.length === 0) throw new MetadataError('no GCP interfaces found');
      // Beyond MAX_INTERFACES nothing can be configured: those are never read.
      const interfaces = listed.slice(0, MAX_INTERFACES);
      if (interfaces.length < listed.length) log.debug(`not reading GCP interfaces at index >= ${MAX_INTERFACES}`);

      const requested = new Set(request.requested);
      const claimed = new Set<string>();
      const found = await allOrNothing(
        signal,
        interfaces.map((intern, extern) => async (taskSignal: AbortSignal) => {
          const scope = `GCP interface[${intern}]`;
          log.debug(`${scope}: retrieving configuration`);
          const macText = await fetch(`${intern}/mac`, taskSignal);
          const hwaddr = claimMac(claimed, macText, { intern, scope, log });
          const isRequested = requested.has(hwaddr);
          log.info(`${scope}: found a ${isRequested ? 'requested ' : ''}device with hwaddr ${hwaddr}`);
          // An interface NetworkManager does not have is never configured: its routes are not read.
          if (!isRequested) return undefined;
          const routes = await readForwardedIps({ fetch, fetchOptional, log }, intern, taskSignal);
          const ipv6 = request.ipv6 ? await readIpv6({ fetch, fetchOptional, log }, intern, taskSignal) : NO_FAMILY_CONFIG;
          return { ...ethernetInterface(hwaddr, extern, { routes }), ipv6 };
        }),
      );
      return { interfaces: found.filter((iface) => iface !== undefined), withdrawn: [] };
    },
    async instanceFacts(signal) {
      const fact = (leaf: string) => fetchFact({ http }, joinUrl(baseUrl, INSTANCE_PATH, leaf), { headers: HEADERS, signal });
      // zone and machine-type are resource paths: "projects/<n>/zones/us-central1-a".
      const [zone, machineType] = await Promise.all([fact('/zone'), fact('/machine-type')]);
      const zoneName = lastSegment(zone);
      return collectFacts({
        id: fact('/id'),
        region: Promise.resolve(zoneName?.replace(/-[a-z]$/, '')),
        zone: Promise.resolve(zoneName),
        type: Promise.resolve(lastSegment(machineType)),
      });
    },
  };
}

/** One interface's reads. */
interface GcpReader {
  readonly fetch: (path: string, signal: AbortSignal) => Promise<string>;
  /** Undefined on 404. */
  readonly fetchOptional: (path: string, signal: AbortSignal) => Promise<string | undefined>;
  readonly log: Logger;
}

/**
 * The interface's forwarded IPs as local /32 routes. None (an empty listing, or 404) leaves
 * this interface without data, so it is skipped; upstream failed every interface then
 * ("found no forwarded ip").
 */
async function readForwardedIps({ fetch, fetchOptional, log }: GcpReader, intern: number, signal: AbortSignal): Promise<Route[]> {
  const scope = `GCP interface[${intern}]`;
  // Upstream does not strip a trailing "/" here: "0/" is not an index.
  const forwarded = parseIndexList((await fetchOptional(`${intern}/forwarded-ips/`, signal)) ?? '', { stripSlash: false });
  log.info(`${scope}: found ${forwarded.length} forwarded ips`);
  if (forwarded.length === 0) {
    log.debug(`${scope}: no forwarded ip, nothing to configure on this interface`);
    return [];
  }
  return allOrNothing(
    signal,
    forwarded.map((index) => async (ipSignal: AbortSignal): Promise<Route> => {
      const address = parseIpv4((await fetch(`${intern}/forwarded-ips/${index}`, ipSignal)).trim());
      if (address === undefined) throw new MetadataError('forwarded-ip is not a valid ip address');
      log.info(`${scope}: adding forwarded-ip ${address}`);
      // No table: NM puts routes of type "local" into the local table (255).
      return { dest: address, prefix: 32, metric: FORWARDED_IP_ROUTE_METRIC, type: 'local' };
    }),
  );
}

/**
 * ipv6s, gateway-ipv6 and forwarded-ipv6s of one interface, each read only when its listing
 * has it. The metadata serves no IPv6 subnet, so the addresses (which the instance gets by
 * DHCPv6, as its IPv4 address by DHCP) are shown, not configured. The forwarded IPv6 ranges
 * (internal load balancers, served as CIDRs) become local routes, as the forwarded IPv4s do.
 */
async function readIpv6(reader: GcpReader, intern: number, signal: AbortSignal): Promise<FamilyConfig> {
  const { fetch } = reader;
  const listed = parseLeafListing(await fetch(`${intern}/`, signal));
  const parts = await allOrNothing<Partial<FamilyConfig>>(signal, [
    async (s) =>
      listed.has('ipv6s') ? { addresses: parseIpv6List((await fetch(`${intern}/ipv6s`, s)).split('\n').map(addressOf)).ipv6s } : {},
    async (s) => {
      const gateway = listed.has('gateway-ipv6') ? parseIpv6((await fetch(`${intern}/gateway-ipv6`, s)).trim()) : undefined;
      return gateway === undefined ? {} : { gateway };
    },
    async (s) => (listed.has('forwarded-ipv6s') ? { routes: await readForwardedIpv6s(reader, intern, s) } : {}),
  ]);
  return parts.reduce<FamilyConfig>((family, part) => ({ ...family, ...part }), NO_FAMILY_CONFIG);
}

/** An address line, possibly written as a CIDR ("2600:1900:4000:1::/96" names its first address). */
function addressOf(line: string): string {
  return line.trim().replace(/\/[0-9]{1,3}$/, '');
}

/** The interface's forwarded IPv6 ranges as local routes (no table: NM puts them in table local). */
async function readForwardedIpv6s({ fetch, log }: GcpReader, intern: number, signal: AbortSignal): Promise<Route[]> {
  const scope = `GCP interface[${intern}]`;
  const forwarded = parseIndexList(await fetch(`${intern}/forwarded-ipv6s/`, signal), { stripSlash: true });
  log.debug(`${scope}: found ${forwarded.length} forwarded ipv6s`);
  return allOrNothing(
    signal,
    forwarded.map((index) => async (ipSignal: AbortSignal): Promise<Route> => {
      const text = (await fetch(`${intern}/forwarded-ipv6s/${index}`, ipSignal)).trim();
      // A bare address is a range of one.
      const cidr = parseIpv6Cidr(text.includes('/') ? text : `${text}/128`);
      if (cidr === undefined) throw new MetadataError('forwarded-ipv6 is not a valid ipv6 address or range');
      const dest = ipv6NetworkAddress(cidr.address, cidr.prefix);
      log.debug(`${scope}: adding forwarded-ipv6 ${dest}/${cidr.prefix}`);
      return { dest, prefix: cidr.prefix, metric: FORWARDED_IP_ROUTE_METRIC, type: 'local' };
    }),
  );
}

function lastSegment(path: string | undefined): string | undefined {
  return path?.split('/').pop() || undefined;
}
