// SPDX-License-Identifier: LGPL-2.1-or-later
import { MetadataError } from '../errors.js';
import type { Logger } from '../log.js';
import {
  ethernetInterface,
  NO_FAMILY_CONFIG,
  type FamilyConfig,
  type InstanceFacts,
  type ProviderInterface,
  type ProviderResult,
} from '../model.js';
import { normalizeHwaddr } from '../net/hwaddr.js';
import { parseIpv4, parseIpv4Cidr } from '../net/ipv4.js';
import { parseIpv6, parseIpv6Cidr, parseIpv6List } from '../net/ipv6.js';
import { detectByGet, fetchFact, fetchText, joinUrl, LISTING_LIMITS } from './fetch.js';
import type { MetadataSession, Provider, ProviderContext } from './types.js';
import { parseJsonStrict } from './strict-json.js';

const HEADERS = { Authorization: 'Bearer Oracle' };
/** Largest nicIndex accepted on bare metal. */
const MAX_NIC_INDEX = 1023;

/**
 * Oracle Cloud: one JSON document lists every VNIC with its one private IP, subnet and router.
 * On bare metal, VNICs other than the physical NICs come as VLANs (vlanTag) on a physical NIC
 * (nicIndex); nm-cloud-setup creates a MACVLAN and a VLAN on top of it for each.
 */
export const oci: Provider = {
  name: 'oci',
  envName: 'OCI',
  defaultBaseUrl: 'http://169.254.169.254',
  // OCI VMs give secondary VNICs no DHCP: without a new profile they would stay unconfigured.
  allowNewConnectionsByDefault: true,

  detect(context) {
    return detectByGet(context, joinUrl(context.baseUrl, '/opc/v2/instance'), {
      headers: HEADERS,
      failure: 'failure to get OCI instance data',
      session: () => createSession(context),
    });
  },
};

const isInteger = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value);

/** One VNIC element that passed validation, before its VLAN parent is resolved. */
interface ParsedVnic {
  readonly hwaddr: string;
  readonly ifaceIdx: number;
  readonly nicIndex: number;
  /** 0 for a physical NIC (and always on a VM). */
  readonly vlanTag: number;
  readonly ipv4: FamilyConfig;
  readonly ipv6: FamilyConfig;
}

/** Reads the vnics document into the result (exported for tests). */
export function parseVnics(vnics: readonly unknown[], log: Logger, options: { readonly ipv6: boolean } = { ipv6: false }): ProviderResult {
  const first = vnics[0];
  const isBaremetal = first !== null && typeof first === 'object' && !Array.isArray(first) && Object.hasOwn(first, 'nicIndex');
  if (vnics.length === 0) log.info('get-config: empty VNICs metadata, cannot detect instance type');
  else log.info(`get-config: detected ${isBaremetal ? 'baremetal' : 'VM'} instance`);

  // By MAC: a later element with the same MAC replaces an earlier one entirely (upstream).
  const byHwaddr = new Map<string, ParsedVnic>();
  // Every physical NIC seen, in array order (a later one with the same nicIndex wins), as upstream.
  const physicalByNicIndex = new Map<number, string>();
  vnics.forEach((vnic, i) => {
    const parsed = parseVnic(vnic, i, { isBaremetal, ipv6: options.ipv6 }, log);
    if (parsed === undefined) return;
    byHwaddr.delete(parsed.hwaddr);
    byHwaddr.set(parsed.hwaddr, parsed);
    if (isBaremetal && parsed.vlanTag === 0) physicalByNicIndex.set(parsed.nicIndex, parsed.hwaddr);
  });
  return resolveParents([...byHwaddr.values()], physicalByNicIndex, log);
}

/** One element of the array; undefined (after a warning) when it cannot describe a VNIC. */
function parseVnic(
  vnic: unknown,
  i: number,
  { isBaremetal, ipv6 }: { readonly isBaremetal: boolean; readonly ipv6: boolean },
  log: Logger,
): ParsedVnic | undefined {
  const object = vnic !== null && typeof vnic === 'object' && !Array.isArray(vnic) ? (vnic as Record<string, unknown>) : undefined;
  const vnicId = typeof object?.['vnicId'] === 'string' ? object['vnicId'] : '';
  // Upstream appends the VNIC without a space: "...'privateIp'(VNIC ocid1... idx=0)".
  const warn = (message: string): void => log.warn(`get-config: ${message}(VNIC ${vnicId} idx=${i})`);
  const debug = (message: string): void => log.debug(`get-config: ${message} (VNIC ${vnicId} idx=${i})`);
  if (object === undefined) {
    warn('JSON parse failure, ignoring VNIC');
    return undefined;
  }
  const macAddr = object['macAddr'];
  const hwaddr = typeof macAddr === 'string' ? normalizeHwaddr(macAddr) : undefined;
  if (hwaddr === undefined) {
    warn("missing or invalid 'macAddr', ignoring VNIC");
    return undefined;
  }
  // On a VM these keys mean nothing, even when present.
  const placement = isBaremetal ? baremetalPlacement(object, warn) : { nicIndex: 0, vlanTag: 0 };
  if (placement === undefined) return undefined;
  // The position in the array is the index, skipped entries included.
  return { hwaddr, ifaceIdx: i, ...placement, ipv4: vnicIpv4(object, warn, debug), ipv6: ipv6 ? vnicIpv6(object, warn) : NO_FAMILY_CONFIG };
}

/** nicIndex and vlanTag of a bare-metal VNIC; undefined (after a warning) when either is bad. */
function baremetalPlacement(
  object: Record<string, unknown>,
  warn: (message: string) => void,
): { nicIndex: number; vlanTag: number } | undefined {
  const nicIndex = object['nicIndex'];
  if (!isInteger(nicIndex) || nicIndex < 0 || nicIndex > MAX_NIC_INDEX) {
    warn("missing or invalid 'nicIndex', ignoring VNIC");
    return undefined;
  }
  const vlanTag = object['vlanTag'];
  if (!isInteger(vlanTag) || vlanTag < 0) {
    warn("missing or invalid 'vlanTag', ignoring VNIC");
    return undefined;
  }
  return { nicIndex, vlanTag };
}

const IPV4_KEYS = ['privateIp', 'virtualRouterIp', 'subnetCidrBlock'] as const;

/**
 * The VNIC's one private IP, its router and subnet; each missing part is a warning. An
 * IPv6-only VNIC (none of the three keys, ipv6Addresses present) is normal: one debug line
 * instead of upstream's three warnings on every timer run.
 */
function vnicIpv4(object: Record<string, unknown>, warn: (message: string) => void, debug: (message: string) => void): FamilyConfig {
  if (IPV4_KEYS.every((key) => object[key] === undefined) && Array.isArray(object['ipv6Addresses'])) {
    debug('IPv6-only VNIC, no IPv4 to configure');
    return NO_FAMILY_CONFIG;
  }
  const privateIp = typeof object['privateIp'] === 'string' ? parseIpv4(object['privateIp']) : undefined;
  if (privateIp === undefined) warn("missing or invalid 'privateIp'");
  const router = typeof object['virtualRouterIp'] === 'string' ? parseIpv4(object['virtualRouterIp']) : undefined;
  if (router === undefined) warn("missing or invalid 'virtualRouterIp'");
  // Upstream takes "a.b.c.d" (no "/prefix") as prefix 255 and later crashes; here it is invalid.
  const subnet = typeof object['subnetCidrBlock'] === 'string' ? parseIpv4Cidr(object['subnetCidrBlock']) : undefined;
  if (subnet === undefined) warn("missing or invalid 'subnetCidrBlock'");
  return {
    ...(privateIp === undefined ? {} : { addresses: [privateIp] }),
    ...(subnet === undefined ? {} : { subnet }),
    ...(router === undefined ? {} : { gateway: router }),
    routes: [],
  };
}

/**
 * The VNIC's IPv6 addresses, subnet and router (ipv6Addresses, ipv6SubnetCidrBlock,
 * ipv6VirtualRouterIp). A VNIC without IPv6 has none of the keys, which is not worth a warning.
 */
function vnicIpv6(object: Record<string, unknown>, warn: (message: string) => void): FamilyConfig {
  const rawAddresses = object['ipv6Addresses'];
  if (rawAddresses === undefined) return NO_FAMILY_CONFIG;
  const texts = Array.isArray(rawAddresses) ? rawAddresses.filter((item): item is string => typeof item === 'string') : [];
  const { ipv6s, invalid } = parseIpv6List(texts);
  if (!Array.isArray(rawAddresses) || invalid.length > 0 || texts.length !== rawAddresses.length) warn("invalid 'ipv6Addresses'");
  const subnetText = object['ipv6SubnetCidrBlock'];
  const subnet = typeof subnetText === 'string' ? parseIpv6Cidr(subnetText) : undefined;
  if (subnet === undefined) warn("missing or invalid 'ipv6SubnetCidrBlock'");
  const routerText = object['ipv6VirtualRouterIp'];
  const router = typeof routerText === 'string' ? parseIpv6(routerText) : undefined;
  if (router === undefined) warn("missing or invalid 'ipv6VirtualRouterIp'");
  return {
    addresses: ipv6s,
    ...(subnet === undefined ? {} : { subnet }),
    ...(router === undefined ? {} : { gateway: router }),
    routes: [],
  };
}

/** Gives each VLAN VNIC the MAC of the physical NIC at its nicIndex; one without is withdrawn. */
function resolveParents(parsed: readonly ParsedVnic[], physicalByNicIndex: ReadonlyMap<number, string>, log: Logger): ProviderResult {
  const interfaces: ProviderInterface[] = [];
  const withdrawn: string[] = [];
  // VLAN VNICs are resolved after the physical ones, in the order upstream reports them.
  for (const vnic of parsed)
    if (vnic.vlanTag === 0) interfaces.push({ ...ethernetInterface(vnic.hwaddr, vnic.ifaceIdx, vnic.ipv4), ipv6: vnic.ipv6 });
  for (const vnic of parsed) {
    if (vnic.vlanTag === 0) continue;
    const base = { ...ethernetInterface(vnic.hwaddr, vnic.ifaceIdx, vnic.ipv4), ipv6: vnic.ipv6 };
    const parentHwaddr = physicalByNicIndex.get(vnic.nicIndex);
    if (parentHwaddr === undefined) {
      // Upstream frees a bogus pointer here; we drop the VNIC and say why.
      log.warn(`get-config: physical NIC for nicIndex=${vnic.nicIndex} not found, ignoring VNIC (VNIC macAddr=${vnic.hwaddr})`);
      withdrawn.push(vnic.hwaddr);
      continue;
    }
    interfaces.push({ ...base, link: { kind: 'oci-vlan', vlanTag: vnic.vlanTag, parentHwaddr } });
  }
  return { interfaces, withdrawn };
}

function createSession({ http, log, baseUrl }: ProviderContext): MetadataSession {
  return {
    async getConfig(request, signal) {
      const body = await fetchText({ http }, joinUrl(baseUrl, '/opc/v2/vnics'), { headers: HEADERS, limits: LISTING_LIMITS, signal });
      let vnics: unknown;
      try {
        vnics = parseJsonStrict(body);
      } catch {
        vnics = undefined;
      }
      // Upstream's error text carries its own "get-config: " prefix.
      if (!Array.isArray(vnics)) throw new MetadataError("get-config: JSON parse failure, can't configure VNICs");
      return parseVnics(vnics, log, { ipv6: request.ipv6 });
    },
    async instanceFacts(signal) {
      const body = await fetchFact({ http }, joinUrl(baseUrl, '/opc/v2/instance/'), { headers: HEADERS, signal });
      return body === undefined ? {} : instanceFactsFromJson(body);
    },
  };
}

/** id, region, availability domain and shape from /opc/v2/instance/; anything odd is left out. */
export function instanceFactsFromJson(body: string): InstanceFacts {
  let instance: unknown;
  try {
    instance = parseJsonStrict(body);
  } catch {
    return {};
  }
  if (instance === null || typeof instance !== 'object' || Array.isArray(instance)) return {};
  const field = (key: string): string | undefined => {
    const value = (instance as Record<string, unknown>)[key];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const facts = {
    id: field('id'),
    region: field('canonicalRegionName') ?? field('region'),
    zone: field('availabilityDomain'),
    type: field('shape'),
  };
  return Object.fromEntries(Object.entries(facts).filter(([, value]) => value !== undefined));
}
