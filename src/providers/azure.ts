// SPDX-License-Identifier: LGPL-2.1-or-later
import { MetadataError } from '../errors.js';
import type { Logger } from '../log.js';
import { ethernetInterface, NO_FAMILY_CONFIG, type Cidr, type FamilyConfig } from '../model.js';
import { parseIpv4 } from '../net/ipv4.js';
import { ipv6NetworkAddress, parseIpv6 } from '../net/ipv6.js';
import { MAX_INTERFACES } from '../plan/policy-routing.js';
import {
  allOrNothing,
  boundedHttp,
  claimMac,
  collectFacts,
  detectByGet,
  fetchFact,
  fetchText,
  joinUrl,
  LEAF_LIMITS,
  LISTING_LIMITS,
  parseIndexList,
  type PollLimits,
} from './fetch.js';
import type { MetadataSession, Provider, ProviderContext } from './types.js';

const HEADERS = { Metadata: 'true' };
const QUERY = '?format=text&api-version=2017-04-02';
const INTERFACE_PATH = '/metadata/instance/network/interface/';
/** Every Azure IPv6 subnet is a /64 (virtual network IPv6 overview, limitations). */
const AZURE_IPV6_PREFIX = 64;

/** Microsoft Azure IMDS (text format): interfaces, their addresses and subnet 0. */
export const azure: Provider = {
  name: 'azure',
  envName: 'AZURE',
  defaultBaseUrl: 'http://169.254.169.254',
  allowNewConnectionsByDefault: false,

  detect(context) {
    return detectByGet(context, joinUrl(context.baseUrl, '/metadata/instance', QUERY), {
      headers: HEADERS,
      failure: 'failure to get Azure metadata',
      session: () => createSession(context),
    });
  },
};

/** One interface's reads: a GET below the interface path, and the run's logger. */
interface InterfaceReader {
  readonly fetch: (path: string, signal: AbortSignal, limits?: PollLimits) => Promise<string>;
  readonly log: Logger;
}

async function fetchIpv4({ fetch }: InterfaceReader, path: string, signal: AbortSignal, failure: string): Promise<string> {
  const address = parseIpv4((await fetch(path, signal)).trim());
  if (address === undefined) throw new MetadataError(failure);
  return address;
}

/**
 * Azure allows at most 256 IP configurations per NIC; a listing with more is not Azure's and
 * would cost a request each (issue 10: the total work is capped, not only the concurrency).
 */
export const MAX_ADDRESSES_PER_INTERFACE = 256;

/** The listed address indexes, ascending (index 0, the primary, first), at most the cap. */
async function addressIndexes(reader: InterfaceReader, listing: string, scope: string, signal: AbortSignal): Promise<number[]> {
  const indexes = [...new Set(parseIndexList(await reader.fetch(listing, signal), { stripSlash: true }))].sort((a, b) => a - b);
  if (indexes.length <= MAX_ADDRESSES_PER_INTERFACE) return indexes;
  reader.log.warn(`${scope}: ${indexes.length} addresses listed, more than Azure allows; reading the first ${MAX_ADDRESSES_PER_INTERFACE}`);
  return indexes.slice(0, MAX_ADDRESSES_PER_INTERFACE);
}

/** Addresses and subnet 0 of one interface; complete only when every part was fetched (upstream's has_cidr). */
async function fetchIpv4Config(reader: InterfaceReader, intern: number, scope: string, signal: AbortSignal): Promise<FamilyConfig> {
  const { fetch, log } = reader;
  // Upstream writes each address at the server-given index into an array sized by the
  // number of entries (overflowing on gaps). Slots by rank keep index 0, the primary,
  // first whatever the order of the answers, and cannot overflow.
  const indexes = await addressIndexes(reader, `${intern}/ipv4/ipAddress/`, scope, signal);
  const addresses: string[] = new Array<string>(indexes.length);
  const subnet = { address: '', prefix: 0 };
  await allOrNothing(signal, [
    ...indexes.map((index, slot) => async (s: AbortSignal) => {
      const path = `${intern}/ipv4/ipAddress/${index}/privateIpAddress`;
      addresses[slot] = await fetchIpv4(reader, path, s, 'ip is not a valid private ip address');
      log.debug(`${scope}: received address ${addresses[slot]}`);
    }),
    async (s: AbortSignal) => {
      subnet.address = await fetchIpv4(reader, `${intern}/ipv4/subnet/0/address/`, s, 'ip is not a subnet address');
      log.debug(`${scope}: received subnet address ${subnet.address}`);
    },
    async (s: AbortSignal) => {
      subnet.prefix = parsePrefix((await fetch(`${intern}/ipv4/subnet/0/prefix/`, s)).trim(), scope, log);
      log.debug(`${scope}: received subnet prefix ${subnet.prefix}`);
    },
  ]);
  return { addresses, subnet: subnet satisfies Cidr, routes: [] };
}

/**
 * The interface's IPv6 addresses (ipv6/ipAddress/N/privateIpAddress), in index order. IMDS
 * serves no IPv6 subnet or router: Azure IPv6 subnets are always /64, and the router is the
 * one NetworkManager learns from router advertisements.
 */
async function fetchIpv6Config(reader: InterfaceReader, intern: number, scope: string, signal: AbortSignal): Promise<FamilyConfig> {
  const { fetch, log } = reader;
  const indexes = await addressIndexes(reader, `${intern}/ipv6/ipAddress/`, scope, signal);
  const addresses = await allOrNothing(
    signal,
    indexes.map((index) => async (s: AbortSignal) => {
      const address = parseIpv6((await fetch(`${intern}/ipv6/ipAddress/${index}/privateIpAddress`, s)).trim());
      if (address === undefined) throw new MetadataError('ip is not a valid private ipv6 address');
      log.debug(`${scope}: received IPv6 address ${address}`);
      return address;
    }),
  );
  const first = addresses[0];
  if (first === undefined) return NO_FAMILY_CONFIG;
  return { addresses, subnet: { address: ipv6NetworkAddress(first, AZURE_IPV6_PREFIX), prefix: AZURE_IPV6_PREFIX }, routes: [] };
}

function createSession(context: ProviderContext): MetadataSession {
  const { log, baseUrl } = context;
  const http = boundedHttp(context.http);
  const fetch = (path: string, signal: AbortSignal, limits: PollLimits = LEAF_LIMITS): Promise<string> =>
    fetchText({ http }, joinUrl(baseUrl, INTERFACE_PATH, path, QUERY), { headers: HEADERS, limits, signal });
  const reader: InterfaceReader = { fetch, log };

  return {
    async getConfig(request, signal) {
      const listed = parseIndexList(await fetch('', signal, LISTING_LIMITS), { stripSlash: true });
      log.debug(`found azure interfaces: ${listed.length}`);
      if (listed.length === 0) throw new MetadataError('no Azure interfaces found');
      // Beyond MAX_INTERFACES nothing can be configured: those are never read.
      const interfaces = listed.slice(0, MAX_INTERFACES);
      if (interfaces.length < listed.length) log.debug(`not reading azure interfaces at index >= ${MAX_INTERFACES}`);

      const requested = new Set(request.requested);
      const claimed = new Set<string>();
      const found = await allOrNothing(
        signal,
        interfaces.map((intern, extern) => async (taskSignal: AbortSignal) => {
          const scope = `interface[${intern}]`;
          log.debug(`azure interface[${intern}]: retrieving configuration`);
          const hwaddr = claimMac(claimed, await fetch(`${intern}/macAddress`, taskSignal), { intern, scope, log });
          log.debug(`${scope}: found a matching device with hwaddr ${hwaddr}`);
          // An interface NetworkManager does not have is never configured: its addresses are not read.
          if (!requested.has(hwaddr)) return undefined;
          const [ipv4, ipv6] = await Promise.all([
            fetchIpv4Config(reader, intern, scope, taskSignal),
            request.ipv6 ? fetchIpv6Config(reader, intern, scope, taskSignal) : NO_FAMILY_CONFIG,
          ]);
          return { ...ethernetInterface(hwaddr, extern, ipv4), ipv6 };
        }),
      );
      return { interfaces: found.filter((iface) => iface !== undefined), withdrawn: [] };
    },
    instanceFacts(signal) {
      const fact = (leaf: string) =>
        fetchFact({ http }, joinUrl(baseUrl, '/metadata/instance/compute/', leaf, QUERY), { headers: HEADERS, signal });
      return collectFacts({ id: fact('vmId'), region: fact('location'), zone: fact('zone'), type: fact('vmSize') });
    },
  };
}

/** The subnet prefix: one or two digits, at most 32; anything else fails the run, as upstream. */
function parsePrefix(text: string, scope: string, log: Logger): number {
  if (!/^[0-9]{1,2}$/.test(text) || Number(text) > 32) {
    log.info(`${scope}: invalid prefix`);
    throw new MetadataError('subnet does not give a valid prefix');
  }
  return Number(text);
}
