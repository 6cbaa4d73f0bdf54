// SPDX-License-Identifier: LGPL-2.1-or-later
import type { Logger } from '../log.js';
import { ethernetInterface, NO_FAMILY_CONFIG, type FamilyConfig } from '../model.js';
import { netmaskToPrefix, parseIpv4, parseIpv4Cidr, parseIpv4List } from '../net/ipv4.js';
import { parseIpv6, parseIpv6Cidr, parseIpv6List } from '../net/ipv6.js';
import { fetchMacListing, macLeafUrl, selectMacs, type ListedMac } from './mac-listing.js';
import {
  allOrNothing,
  boundedHttp,
  collectFacts,
  detectByGet,
  fetchFact,
  fetchOptionalText,
  joinUrl,
  LEAF_LIMITS,
  parseLeafListing,
} from './fetch.js';
import type { MetadataSession, Provider, ProviderContext } from './types.js';

const META_DATA_PATH = '/2016-01-01/meta-data/';

/** Parses private-ipv4s: comma-separated, also in the JSON-ish `["a","b"]` form. */
export function parsePrivateIpv4s(body: string): { ipv4s: string[]; invalid: string[] } {
  return parseIpv4List(body.split(',').map((piece) => piece.replace(/[[\]"]/g, '').trim()));
}

/** Alibaba Cloud: the EC2-like MAC tree, with its own gateway and a primary address to put first. */
export const aliyun: Provider = {
  name: 'aliyun',
  envName: 'ALIYUN',
  // Upstream's default has no scheme ("100.100.100.200"); curl reads it as http.
  defaultBaseUrl: 'http://100.100.100.200',
  allowNewConnectionsByDefault: false,

  detect(context) {
    return detectByGet(context, joinUrl(context.baseUrl, META_DATA_PATH), {
      failure: 'failure to get ALIYUN metadata',
      session: () => createSession(context),
    });
  },
};

const IPV4_LEAVES = ['vpc-cidr-block', 'private-ipv4s', 'primary-ip-address', 'netmask', 'gateway'] as const;

function createSession(context: ProviderContext): MetadataSession {
  const { log, baseUrl } = context;
  const http = boundedHttp(context.http);
  const listingUrl = joinUrl(baseUrl, META_DATA_PATH, 'network/interfaces/macs/');

  /** One leaf below the MAC; undefined on 404 (the MAC has no such leaf). */
  const fetchLeaf = (mac: ListedMac, name: string, signal: AbortSignal): Promise<string | undefined> =>
    fetchOptionalText({ http }, macLeafUrl(listingUrl, mac, name), { limits: LEAF_LIMITS, signal });

  /**
   * ipv6s, vswitch-ipv6-cidr-block and ipv6-gateway, read only when the MAC's own listing has
   * ipv6s: a NIC without IPv6 does not serve them.
   */
  const readIpv6 = async (mac: ListedMac, signal: AbortSignal): Promise<FamilyConfig> => {
    const listed = parseLeafListing((await fetchLeaf(mac, '', signal)) ?? '');
    if (!listed.has('ipv6s')) return NO_FAMILY_CONFIG;
    const optional = (name: string) => async (s: AbortSignal) => (listed.has(name) ? ((await fetchLeaf(mac, name, s)) ?? '') : '');
    const [ipv6s = '', subnet = '', gateway = ''] = await allOrNothing(signal, [
      optional('ipv6s'),
      optional('vswitch-ipv6-cidr-block'),
      optional('ipv6-gateway'),
    ]);
    return ipv6Config({ ipv6s, subnet, gateway }, mac, log);
  };

  /**
   * Upstream's five leaves. A 404 means this NIC has no such data: it is reported without IPv4
   * and the others are configured (upstream polled the 404 for 10 s, then failed every NIC).
   */
  const readIpv4 = async (mac: ListedMac, signal: AbortSignal): Promise<FamilyConfig> => {
    const bodies = await allOrNothing(
      signal,
      IPV4_LEAVES.map((name) => (s: AbortSignal) => fetchLeaf(mac, name, s)),
    );
    const missing = IPV4_LEAVES.filter((_, i) => bodies[i] === undefined);
    if (missing.length > 0) {
      log.debug(`get-config: ${mac.hwaddr}: no ${missing.join(', ')} (HTTP 404), no IPv4 to configure on this interface`);
      return NO_FAMILY_CONFIG;
    }
    const [vpcCidr = '', privateIpv4s = '', primaryIp = '', netmask = '', gateway = ''] = bodies;
    return ipv4Config({ vpcCidr, privateIpv4s, primaryIp, netmask, gateway }, mac, log);
  };

  return {
    async getConfig(request, signal) {
      const listed = await fetchMacListing({ http, log, url: listingUrl, requested: request.requested, signal });
      const { read, beyondMax } = selectMacs(listed, request.requested, log);
      const interfaces = await allOrNothing(
        signal,
        read.map((mac) => async (macSignal: AbortSignal) => {
          const [ipv4, ipv6] = await Promise.all([readIpv4(mac, macSignal), request.ipv6 ? readIpv6(mac, macSignal) : NO_FAMILY_CONFIG]);
          return { ...ethernetInterface(mac.hwaddr, mac.ifaceIdx, ipv4), ipv6 };
        }),
      );
      return {
        interfaces: [...interfaces, ...beyondMax.map((mac) => ethernetInterface(mac.hwaddr, mac.ifaceIdx, NO_FAMILY_CONFIG))],
        withdrawn: [],
      };
    },
    instanceFacts(signal) {
      const fact = (leaf: string) => fetchFact({ http }, joinUrl(baseUrl, META_DATA_PATH, leaf), { signal });
      return collectFacts({
        id: fact('instance-id'),
        region: fact('region-id'),
        zone: fact('zone-id'),
        type: fact('instance/instance-type'),
      });
    },
  };
}

/** The leaves of one MAC, as fetched. */
interface AliyunLeaves {
  readonly vpcCidr: string;
  readonly privateIpv4s: string;
  readonly primaryIp: string;
  readonly netmask: string;
  readonly gateway: string;
}

/** Turns one MAC's leaves into its IPv4 configuration; a value that does not parse is a warning. */
function ipv4Config(leaves: AliyunLeaves, mac: ListedMac, log: Logger): FamilyConfig {
  const warn = (what: string, value: string): void => log.warn(`get-config: ${mac.hwaddr}: ignoring invalid ${what} "${value.trim()}"`);

  const { ipv4s, invalid } = parsePrivateIpv4s(leaves.privateIpv4s);
  for (const text of invalid) warn('address in private-ipv4s', text);
  // The primary goes first (2022 fix): the list is not ordered.
  const primary = parseIpv4(leaves.primaryIp.trim());
  if (primary === undefined) warn('primary-ip-address', leaves.primaryIp);
  const primaryAt = primary === undefined ? -1 : ipv4s.indexOf(primary);
  if (primaryAt > 0) ipv4s.unshift(...ipv4s.splice(primaryAt, 1));

  // The subnet is vpc-cidr-block's address with netmask's length (upstream discards the
  // CIDR's own prefix). Upstream silently uses prefix 0 for a bad netmask, which would
  // route the whole internet via this NIC's table; here the interface stays unconfigured.
  const vpc = parseIpv4Cidr(leaves.vpcCidr.trim());
  const prefix = netmaskToPrefix(leaves.netmask.trim());
  if (vpc === undefined) warn('vpc-cidr-block', leaves.vpcCidr);
  if (prefix === undefined) warn('netmask', leaves.netmask);

  // Aliyun's router is not the first address of the subnet (2021 fix).
  const router = parseIpv4(leaves.gateway.trim());
  if (router === undefined) warn('gateway', leaves.gateway);
  return {
    addresses: ipv4s,
    ...(vpc === undefined || prefix === undefined ? {} : { subnet: { address: vpc.address, prefix } }),
    ...(router === undefined ? {} : { gateway: router }),
    routes: [],
  };
}

/** ipv6s (comma-separated, also `["a","b"]`), the vSwitch's IPv6 block and the IPv6 gateway. */
function ipv6Config(leaves: { ipv6s: string; subnet: string; gateway: string }, mac: ListedMac, log: Logger): FamilyConfig {
  const warn = (what: string, value: string): void => log.warn(`get-config: ${mac.hwaddr}: ignoring invalid ${what} "${value.trim()}"`);
  const { ipv6s, invalid } = parseIpv6List(leaves.ipv6s.split(',').map((piece) => piece.replace(/[[\]"]/g, '').trim()));
  for (const text of invalid) warn('address in ipv6s', text);
  const subnet = parseIpv6Cidr(leaves.subnet.trim());
  if (subnet === undefined && leaves.subnet.trim() !== '') warn('vswitch-ipv6-cidr-block', leaves.subnet);
  const gateway = parseIpv6(leaves.gateway.trim());
  if (gateway === undefined && leaves.gateway.trim() !== '') warn('ipv6-gateway', leaves.gateway);
  return {
    addresses: ipv6s,
    ...(subnet === undefined ? {} : { subnet }),
    ...(gateway === undefined ? {} : { gateway }),
    routes: [],
  };
}
