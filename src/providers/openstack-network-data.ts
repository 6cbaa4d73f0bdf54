// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * OpenStack's meta_data.json and network_data.json as immutable, normalized data, and each link of
 * that topology in NetworkManager's vocabulary (a "link profile intent"). Pure: no HTTP, no files,
 * no D-Bus. Which defects are fatal and which only skip one link or network is tabled in
 * docs/providers/openstack.md; the short rule: a document we cannot read as a whole (bad JSON,
 * duplicate keys, broken structure, ambiguous link ids) is fatal, a bad value skips the link it
 * belongs to (and whatever is built on that link), a reference to nothing skips the referrer.
 */
import { MetadataError } from '../errors.js';
import type { Logger } from '../log.js';
import { normalizeHwaddr } from '../net/hwaddr.js';
import { netmaskToPrefix, networkAddress, parseIpv4 } from '../net/ipv4.js';
import { ipv6MaskToPrefix, ipv6NetworkAddress, parseIpv6 } from '../net/ipv6.js';
import { parseJsonStrict } from './strict-json.js';

/** meta_data.json or network_data.json cannot be trusted as a whole: none of it is applied. */
export class OpenStackDataError extends MetadataError {
  override name = 'OpenStackDataError';
  override readonly code = 'ERR_OPENSTACK_DATA';
}

export type IpFamily = 'ipv4' | 'ipv6';

/** An address with its prefix length; the address in canonical form (RFC 5952 for IPv6). */
export interface IpPrefix {
  readonly address: string;
  readonly prefix: number;
}

/** A route in NetworkManager's route-data terms; `dest` has its host bits cleared. */
export interface IpRoute {
  readonly dest: string;
  readonly prefix: number;
  /** Absent for an on-link route. */
  readonly nextHop?: string;
}

/** static: ipv4 / ipv6; the others leave the addresses to DHCP or router advertisements. */
export type NetworkMethod = 'static' | 'dhcp' | 'slaac' | 'dhcpv6-stateful' | 'dhcpv6-stateless';

/** One element of `networks`, attached to its link. */
export interface OpenStackNetwork {
  /** Informational only: OpenStack's own sample reuses ids, so nothing refers to networks by id. */
  readonly id?: string;
  /** The OpenStack type, e.g. "ipv6_dhcpv6-stateful". */
  readonly type: string;
  readonly family: IpFamily;
  readonly method: NetworkMethod;
  /** The static address; empty unless `method` is static (DHCP networks may name an address, but DHCP assigns it). */
  readonly addresses: readonly IpPrefix[];
  /** Next hop of the first default route (0.0.0.0/0 or ::/0) in `routes`. */
  readonly gateway?: string;
  /** The other routes, in document order. */
  readonly routes: readonly IpRoute[];
  /** dns_nameservers, then services of type dns; canonical, without repeats. */
  readonly dns: readonly string[];
}

/** Linux bonding mode names, as NetworkManager's bond.options "mode" wants them; the index is the kernel's number. */
export const BOND_MODES = ['balance-rr', 'active-backup', 'balance-xor', 'broadcast', '802.3ad', 'balance-tlb', 'balance-alb'] as const;
export type BondMode = (typeof BOND_MODES)[number];
/** The kernel's xmit_hash_policy names. */
export const XMIT_HASH_POLICIES = ['layer2', 'layer3+4', 'layer2+3', 'encap2+3', 'encap3+4', 'vlan+srcmac'] as const;
export type XmitHashPolicy = (typeof XMIT_HASH_POLICIES)[number];

interface LinkCommon {
  readonly id: string;
  /** The OpenStack type ("phy", "ovs", "bond", …; null when the document gives none). */
  readonly type: string | null;
  readonly mtu?: number;
  /** Empty for a bond port: a port has no IP configuration of its own. */
  readonly networks: readonly OpenStackNetwork[];
}

/** A NIC, found by its permanent MAC. */
export interface EthernetLink extends LinkCommon {
  readonly kind: 'ethernet';
  readonly hwaddr: string;
  /** Id of the bond this NIC is a port of. */
  readonly controller?: string;
}

export interface BondLink extends LinkCommon {
  readonly kind: 'bond';
  /** Link ids of the ports, each an EthernetLink of the same result. */
  readonly members: readonly string[];
  readonly mode?: BondMode;
  readonly miimon?: number;
  readonly xmitHashPolicy?: XmitHashPolicy;
  readonly hwaddr?: string;
}

export interface VlanLink extends LinkCommon {
  readonly kind: 'vlan';
  /** Link id of the parent, which precedes this link in the result. */
  readonly parent: string;
  readonly vlanId: number;
  readonly hwaddr?: string;
}

export type OpenStackLink = EthernetLink | BondLink | VlanLink;

/** network_data.json, normalized; only links that can be configured completely are in it. */
export interface NetworkData {
  /** Ethernet links, then bonds, then VLANs with every parent before its VLANs. */
  readonly links: readonly OpenStackLink[];
  /** Global `services` of type dns. */
  readonly dns: readonly string[];
  /** One line per link, network or service left out, and why. */
  readonly warnings: readonly string[];
}

/** The instance facts of meta_data.json. */
export interface OpenStackFacts {
  readonly uuid: string;
  readonly name?: string;
  readonly availabilityZone?: string;
  readonly projectId?: string;
}

type JsonObject = Readonly<Record<string, unknown>>;

/** A bad value inside one link or network; caught where the link is read, never escapes this module. */
class Invalid extends Error {}

const NETWORK_DATA = 'network_data.json';
const META_DATA = 'meta_data.json';

/** Link types that name an Ethernet device without warning: Nova's exposed VIF types, plus two known vendor ones. */
const ETHERNET_TYPES: ReadonlySet<string | null> = new Set([
  null,
  'phy',
  'vif',
  'ethernet',
  'bridge',
  'dvs',
  'hw_veb',
  'hyperv',
  'ovs',
  'tap',
  'vhostuser',
  'bgpovs',
  'cascading',
]);

const NETWORK_TYPES: ReadonlyMap<string, { readonly family: IpFamily; readonly method: NetworkMethod }> = new Map([
  ['ipv4', { family: 'ipv4', method: 'static' }],
  ['ipv6', { family: 'ipv6', method: 'static' }],
  ['ipv4_dhcp', { family: 'ipv4', method: 'dhcp' }],
  ['ipv6_dhcp', { family: 'ipv6', method: 'dhcp' }],
  ['ipv6_slaac', { family: 'ipv6', method: 'slaac' }],
  ['ipv6_dhcpv6-stateful', { family: 'ipv6', method: 'dhcpv6-stateful' }],
  ['ipv6_dhcpv6-stateless', { family: 'ipv6', method: 'dhcpv6-stateless' }],
]);

const show = (value: unknown): string => (value === undefined ? 'nothing' : JSON.stringify(value));
const asObject = (value: unknown): JsonObject | undefined =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as JsonObject) : undefined;
/** The object without its undefined properties, so that results compare and print cleanly. */
const compact = <T extends object>(object: T): T => Object.fromEntries(Object.entries(object).filter(([, v]) => v !== undefined)) as T;
const unique = <T>(values: Iterable<T>): T[] => [...new Set(values)];
/** A settings dictionary without its undefined properties. */
const definedOnly = <V>(record: Readonly<Record<string, V | undefined>>): Record<string, V> =>
  Object.fromEntries(Object.entries(record).filter((entry): entry is [string, V] => entry[1] !== undefined));

/** Parses `text` strictly (duplicate keys rejected) and requires a JSON object at the top. */
function parseDocument(text: string, file: string): JsonObject {
  let document: unknown;
  try {
    document = parseJsonStrict(text);
  } catch (error) {
    throw new OpenStackDataError(`${file}: malformed JSON: ${(error as Error).message}`, { cause: error });
  }
  const object = asObject(document);
  if (object === undefined) throw new OpenStackDataError(`${file}: the top level is not a JSON object`);
  return object;
}

/** A top-level list; absent means empty, anything but an array of objects is fatal. */
function listOf(document: JsonObject, key: string): JsonObject[] {
  const value = document[key];
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new OpenStackDataError(`${NETWORK_DATA}: "${key}" is not a list`);
  return value.map((entry, i) => asObject(entry) ?? fatal(`${key}[${i}] is not an object`));
}

function fatal(message: string): never {
  throw new OpenStackDataError(`${NETWORK_DATA}: ${message}`);
}

/** The facts of meta_data.json; a document without a string uuid is not OpenStack's and is fatal. */
export function parseMetaData(text: string): OpenStackFacts {
  const document = parseDocument(text, META_DATA);
  const field = (key: string): string | undefined => {
    const value = document[key];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const uuid = field('uuid');
  if (uuid === undefined) throw new OpenStackDataError(`${META_DATA}: no "uuid"`);
  return Object.freeze(
    compact({ uuid, name: field('name'), availabilityZone: field('availability_zone'), projectId: field('project_id') }),
  );
}

// ---- addresses, netmasks, routes --------------------------------------------------------------

const MAX_PREFIX: Readonly<Record<IpFamily, number>> = { ipv4: 32, ipv6: 128 };

function parseAddress(family: IpFamily, text: string): string | undefined {
  return family === 'ipv4' ? parseIpv4(text) : parseIpv6(text);
}

/** A prefix length given as a number, a decimal string, a dotted netmask (IPv4) or an IPv6 mask. */
function parsePrefixLength(family: IpFamily, value: unknown): number | undefined {
  let prefix: number | undefined;
  if (typeof value === 'number') prefix = value;
  else if (typeof value === 'string' && /^[0-9]{1,3}$/.test(value)) prefix = Number(value);
  else if (typeof value === 'string') prefix = family === 'ipv4' ? netmaskToPrefix(value) : ipv6MaskToPrefix(value);
  return prefix !== undefined && Number.isInteger(prefix) && prefix >= 0 && prefix <= MAX_PREFIX[family] ? prefix : undefined;
}

/** `address` or `address/prefix` plus an optional netmask; the two prefixes must agree when both are given. */
function readPrefixed(family: IpFamily, what: string, text: unknown, netmask: unknown): IpPrefix {
  if (typeof text !== 'string') throw new Invalid(`${what} ${show(text)} is not a string`);
  const slash = text.indexOf('/');
  const address = parseAddress(family, slash < 0 ? text : text.slice(0, slash));
  if (address === undefined) throw new Invalid(`${what} ${show(text)} is not an ${family} address`);
  const fromSuffix = slash < 0 ? undefined : parsePrefixLength(family, text.slice(slash + 1));
  if (slash >= 0 && fromSuffix === undefined) throw new Invalid(`${what} ${show(text)} has an invalid prefix length`);
  const fromNetmask = netmask === undefined || netmask === null ? undefined : parsePrefixLength(family, netmask);
  if (netmask !== undefined && netmask !== null && fromNetmask === undefined) {
    throw new Invalid(`netmask ${show(netmask)} is neither a prefix length nor an ${family} netmask`);
  }
  if (fromSuffix !== undefined && fromNetmask !== undefined && fromSuffix !== fromNetmask) {
    throw new Invalid(`${what} ${show(text)} and netmask ${show(netmask)} disagree`);
  }
  const prefix = fromSuffix ?? fromNetmask;
  if (prefix === undefined) throw new Invalid(`${what} ${show(text)} has no netmask`);
  return { address, prefix };
}

function readRoute(family: IpFamily, entry: unknown, index: number): IpRoute {
  const route = asObject(entry);
  if (route === undefined) throw new Invalid(`routes[${index}] is not an object`);
  const { address, prefix } = readPrefixed(family, `routes[${index}] network`, route['network'], route['netmask']);
  const dest = family === 'ipv4' ? networkAddress(address, prefix) : ipv6NetworkAddress(address, prefix);
  const gateway = route['gateway'];
  if (gateway === undefined || gateway === null) return { dest, prefix };
  const nextHop = typeof gateway === 'string' ? parseAddress(family, gateway) : undefined;
  if (nextHop === undefined) throw new Invalid(`routes[${index}] gateway ${show(gateway)} is not an ${family} address`);
  // An unspecified next hop is NetworkManager's "no next hop": the route is on-link.
  return nextHop === '0.0.0.0' || nextHop === '::' ? { dest, prefix } : { dest, prefix, nextHop };
}

/** The routes; the first default route with a next hop becomes the gateway. */
function readRoutes(family: IpFamily, value: unknown): { gateway?: string; routes: IpRoute[] } {
  if (value === undefined || value === null) return { routes: [] };
  if (!Array.isArray(value)) throw new Invalid(`routes ${show(value)} is not a list`);
  let gateway: string | undefined;
  const routes: IpRoute[] = [];
  value.forEach((entry, i) => {
    const route = readRoute(family, entry, i);
    if (route.prefix === 0 && route.nextHop !== undefined && gateway === undefined) gateway = route.nextHop;
    else routes.push(route);
  });
  return { gateway, routes };
}

function readDnsAddress(what: string, value: unknown): string {
  const address = typeof value === 'string' ? (parseIpv4(value) ?? parseIpv6(value)) : undefined;
  if (address === undefined) throw new Invalid(`${what} ${show(value)} is not an IP address`);
  return address;
}

/** A network's dns_nameservers and its services of type dns (Nova writes the latter). */
function readNetworkDns(network: JsonObject): string[] {
  const listed = network['dns_nameservers'] ?? [];
  const services = network['services'] ?? [];
  if (!Array.isArray(listed)) throw new Invalid(`dns_nameservers ${show(listed)} is not a list`);
  if (!Array.isArray(services)) throw new Invalid(`services ${show(services)} is not a list`);
  const fromServices = services.flatMap((entry, i) => {
    const service = asObject(entry);
    if (service === undefined) throw new Invalid(`services[${i}] is not an object`);
    return service['type'] === 'dns' ? [readDnsAddress(`services[${i}] address`, service['address'])] : [];
  });
  return unique([...listed.map((entry, i) => readDnsAddress(`dns_nameservers[${i}]`, entry)), ...fromServices]);
}

function readNetwork(network: JsonObject, type: string, family: IpFamily, method: NetworkMethod): OpenStackNetwork {
  const id = typeof network['id'] === 'string' ? network['id'] : undefined;
  const dns = readNetworkDns(network);
  if (method !== 'static') return compact({ id, type, family, method, addresses: [], routes: [], dns });
  const address = readPrefixed(family, 'ip_address', network['ip_address'], network['netmask']);
  const { gateway, routes } = readRoutes(family, network['routes']);
  return compact({ id, type, family, method, addresses: [address], gateway, routes, dns });
}

// ---- links --------------------------------------------------------------------------------------

/** A link as read, before its references are checked. */
type LinkShape = Omit<EthernetLink, 'networks'> | Omit<BondLink, 'networks'> | Omit<VlanLink, 'networks'>;

interface Draft {
  readonly id: string;
  shape?: LinkShape;
  /** Why the link is skipped; the first reason found wins. */
  problem?: string;
  readonly networks: OpenStackNetwork[];
  /** A bond's bond_links as far as they name links, even when the bond itself is unreadable: its ports go with it. */
  readonly memberIds?: readonly string[];
}

function optionalHwaddr(link: JsonObject, key: string): string | undefined {
  const value = link[key];
  if (value === undefined || value === null) return undefined;
  const hwaddr = typeof value === 'string' ? normalizeHwaddr(value) : undefined;
  if (hwaddr === undefined) throw new Invalid(`${key} ${show(value)} is not a MAC address`);
  return hwaddr;
}

/** A non-negative integer given as a number or a decimal string, at most `max`. */
function optionalInteger(link: JsonObject, key: string, min: number, max: number): number | undefined {
  const value = link[key];
  if (value === undefined || value === null) return undefined;
  const number = typeof value === 'string' && /^[0-9]{1,10}$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < min || number > max) {
    throw new Invalid(`${key} ${show(value)} is not an integer from ${min} to ${max}`);
  }
  return number;
}

function readBondMode(value: unknown, warn: (message: string) => void): BondMode | undefined {
  if (value === undefined || value === null) return undefined;
  const named = BOND_MODES.find((mode) => mode === value);
  if (named !== undefined) return named;
  // The blueprint's own sample says "802.1ad" (that is QinQ, no bonding mode); it means LACP.
  if (value === '802.1ad') {
    warn('bond_mode "802.1ad" taken as "802.3ad" (LACP)');
    return '802.3ad';
  }
  const number = typeof value === 'string' && /^[0-6]$/.test(value) ? Number(value) : value;
  const numbered = typeof number === 'number' && Number.isInteger(number) ? BOND_MODES[number] : undefined;
  if (numbered === undefined) throw new Invalid(`bond_mode ${show(value)} is not a Linux bonding mode`);
  return numbered;
}

function readBond(link: JsonObject, warn: (message: string) => void): Omit<BondLink, keyof LinkCommon | 'kind'> {
  const members = link['bond_links'];
  if (!Array.isArray(members) || members.length === 0 || !members.every((m): m is string => typeof m === 'string' && m !== '')) {
    throw new Invalid(`bond_links ${show(members)} is not a list of link ids`);
  }
  if (new Set(members).size !== members.length) throw new Invalid(`bond_links ${show(members)} names a link twice`);
  const policy = link['bond_xmit_hash_policy'];
  const xmitHashPolicy = XMIT_HASH_POLICIES.find((name) => name === policy);
  if (policy !== undefined && policy !== null && xmitHashPolicy === undefined) {
    throw new Invalid(`bond_xmit_hash_policy ${show(policy)} is not a transmit hash policy`);
  }
  return compact({
    members,
    mode: readBondMode(link['bond_mode'], warn),
    miimon: optionalInteger(link, 'bond_miimon', 0, 2 ** 31 - 1),
    xmitHashPolicy,
    hwaddr: optionalHwaddr(link, 'ethernet_mac_address'),
  });
}

function readVlan(link: JsonObject): Omit<VlanLink, keyof LinkCommon | 'kind'> {
  const parent = link['vlan_link'];
  if (typeof parent !== 'string' || parent === '') throw new Invalid(`vlan_link ${show(parent)} is not a link id`);
  const vlanId = optionalInteger(link, 'vlan_id', 0, 4094);
  if (vlanId === undefined) throw new Invalid('no vlan_id');
  return compact({ parent, vlanId, hwaddr: optionalHwaddr(link, 'vlan_mac_address') });
}

/** Reads one link's own fields; references to other links are checked later. */
function readLinkShape(link: JsonObject, id: string, warn: (message: string) => void): LinkShape {
  const type = link['type'] ?? null;
  if (type !== null && typeof type !== 'string') throw new Invalid(`type ${show(type)} is not a string`);
  const common = compact({ id, type, mtu: optionalInteger(link, 'mtu', 1, 65535) });
  if (type === 'bond') return { ...common, kind: 'bond', ...readBond(link, warn) };
  if (type === 'vlan') return { ...common, kind: 'vlan', ...readVlan(link) };
  const hwaddr = optionalHwaddr(link, 'ethernet_mac_address');
  if (hwaddr === undefined) {
    throw new Invalid(ETHERNET_TYPES.has(type) ? 'no ethernet_mac_address to find the device by' : `unknown type ${show(type)}`);
  }
  // Like cloud-init: a link type we do not know, with a MAC, is most likely just another NIC.
  if (!ETHERNET_TYPES.has(type)) warn(`unknown type ${show(type)}, configured as the Ethernet device ${hwaddr}`);
  return { ...common, kind: 'ethernet', hwaddr };
}

/** One draft per link, in document order; a link without an id, or an id used twice, is fatal. */
function readLinks(links: readonly JsonObject[], warnings: string[]): Map<string, Draft> {
  const drafts = new Map<string, Draft>();
  links.forEach((link, i) => {
    const id = link['id'];
    if (typeof id !== 'string' || id === '') fatal(`links[${i}] has no "id"`);
    if (drafts.has(id)) fatal(`link id "${id}" is used twice`);
    const members = link['bond_links'];
    const memberIds = link['type'] === 'bond' && Array.isArray(members) ? unique(members.filter((m) => typeof m === 'string')) : undefined;
    const draft: Draft = { id, networks: [], ...(memberIds === undefined ? {} : { memberIds }) };
    drafts.set(id, draft);
    try {
      draft.shape = readLinkShape(link, id, (message) => warnings.push(`${NETWORK_DATA}: link "${id}": ${message}`));
    } catch (error) {
      if (!(error instanceof Invalid)) throw error;
      draft.problem = error.message;
    }
  });
  return drafts;
}

/** Attaches each network to its link's draft; a bad network marks its link as skipped. */
function attachNetworks(networks: readonly JsonObject[], drafts: ReadonlyMap<string, Draft>, warnings: string[]): void {
  networks.forEach((network, i) => {
    const name = typeof network['id'] === 'string' ? `network "${network['id']}" (networks[${i}])` : `networks[${i}]`;
    const linkId = network['link'];
    const draft = typeof linkId === 'string' ? drafts.get(linkId) : undefined;
    const type = network['type'];
    const kind = typeof type === 'string' ? NETWORK_TYPES.get(type) : undefined;
    if (draft === undefined) warnings.push(`${NETWORK_DATA}: ${name} skipped: link ${show(linkId)} does not exist`);
    else if (kind === undefined || typeof type !== 'string') warnings.push(`${NETWORK_DATA}: ${name} skipped: unknown type ${show(type)}`);
    else {
      try {
        draft.networks.push(readNetwork(network, type, kind.family, kind.method));
      } catch (error) {
        if (!(error instanceof Invalid)) throw error;
        draft.problem ??= `${name}: ${error.message}`;
      }
    }
  });
}

// ---- references ---------------------------------------------------------------------------------

/** Two Ethernet links with one MAC would configure one device twice: both are skipped. */
function rejectSharedHwaddrs(drafts: Iterable<Draft>): void {
  const byHwaddr = new Map<string, Draft>();
  for (const draft of drafts) {
    if (draft.shape?.kind !== 'ethernet') continue;
    const other = byHwaddr.get(draft.shape.hwaddr);
    if (other === undefined) byHwaddr.set(draft.shape.hwaddr, draft);
    else {
      other.problem ??= `ethernet_mac_address ${draft.shape.hwaddr} is also the MAC of link "${draft.id}"`;
      draft.problem ??= `ethernet_mac_address ${draft.shape.hwaddr} is also the MAC of link "${other.id}"`;
    }
  }
}

/** Why a bond cannot be built from its members, or undefined. */
function memberProblem(
  bond: Omit<BondLink, 'networks'>,
  drafts: ReadonlyMap<string, Draft>,
  claims: ReadonlyMap<string, string[]>,
): string | undefined {
  for (const memberId of bond.members) {
    const member = drafts.get(memberId);
    if (member === undefined) return `member "${memberId}" does not exist`;
    const others = (claims.get(memberId) ?? []).filter((bondId) => bondId !== bond.id);
    if (others.length > 0) return `member "${memberId}" is also a member of bond "${others.join('", "')}"`;
    if (member.problem !== undefined) return `member "${memberId}" is skipped`;
    if (member.shape?.kind !== 'ethernet') return `member "${memberId}" is a ${member.shape?.kind ?? 'bad'} link, not an Ethernet device`;
  }
  return undefined;
}

/**
 * Settles every bond with its ports at once: a bond is built only with all its members, and the
 * members of a skipped bond are skipped too (they were meant as ports, not as NICs of their own).
 */
function settleBonds(drafts: ReadonlyMap<string, Draft>, warnings: string[]): void {
  const bonds = [...drafts.values()].filter((draft) => draft.memberIds !== undefined);
  const claims = new Map<string, string[]>();
  for (const bond of bonds) for (const memberId of bond.memberIds ?? []) claims.set(memberId, [...(claims.get(memberId) ?? []), bond.id]);
  const ports = new Map<string, string>();
  for (const draft of bonds) {
    if (draft.shape?.kind === 'bond') draft.problem ??= memberProblem(draft.shape, drafts, claims);
    if (draft.problem === undefined) for (const memberId of draft.memberIds ?? []) ports.set(memberId, draft.id);
  }
  for (const [memberId, bondIds] of claims) {
    const member = drafts.get(memberId);
    if (member?.shape?.kind !== 'ethernet' || member.problem !== undefined) continue;
    const bondId = ports.get(memberId);
    if (bondId === undefined) member.problem = `it is a member of the skipped bond "${bondIds.join('", "')}"`;
    else {
      if (member.networks.length > 0) {
        warnings.push(
          `${NETWORK_DATA}: link "${memberId}": its networks are not applied: a port of bond "${bondId}" has no IP configuration`,
        );
      }
      member.shape = { ...member.shape, controller: bondId };
      member.networks.length = 0;
    }
  }
}

/** Why a VLAN's chain of parents cannot be built, or undefined (bonds and their ports are settled by now). */
function vlanProblem(draft: Draft, drafts: ReadonlyMap<string, Draft>): string | undefined {
  if (draft.problem !== undefined || draft.shape?.kind !== 'vlan') return draft.problem;
  const parentId = draft.shape.parent;
  if (!drafts.has(parentId)) return `vlan_link "${parentId}" does not exist`;
  const seen = new Set([draft.id]);
  let current = drafts.get(parentId);
  while (current?.problem === undefined && current?.shape?.kind === 'vlan' && !seen.has(current.id)) {
    seen.add(current.id);
    current = drafts.get(current.shape.parent);
  }
  if (current?.id === draft.id) return `vlan_link "${parentId}" leads back to this link`;
  if (current === undefined || current.problem !== undefined || seen.has(current.id)) return `vlan_link "${parentId}" is skipped`;
  return undefined;
}

/** The links that can be configured completely, ordered so that every link follows what it builds on. */
function resolveLinks(drafts: ReadonlyMap<string, Draft>, warnings: string[]): OpenStackLink[] {
  rejectSharedHwaddrs(drafts.values());
  settleBonds(drafts, warnings);
  for (const draft of drafts.values()) draft.problem ??= vlanProblem(draft, drafts);
  const links: OpenStackLink[] = [];
  for (const draft of drafts.values()) {
    if (draft.problem !== undefined || draft.shape === undefined) {
      const dropped = draft.networks.length > 0 ? ` (${draft.networks.length} network(s) not applied)` : '';
      warnings.push(`${NETWORK_DATA}: link "${draft.id}" skipped: ${draft.problem ?? 'unreadable'}${dropped}`);
    } else links.push({ ...draft.shape, networks: [...draft.networks] });
  }
  const rank = (link: OpenStackLink): number => ['ethernet', 'bond', 'vlan'].indexOf(link.kind);
  return orderVlans(links.sort((a, b) => rank(a) - rank(b)));
}

/** Moves each VLAN after its parent (VLAN on VLAN); the sort above already put the others first. */
function orderVlans(links: readonly OpenStackLink[]): OpenStackLink[] {
  const ordered: OpenStackLink[] = [];
  const placed = new Set<string>();
  const byId = new Map(links.map((link) => [link.id, link]));
  const place = (link: OpenStackLink): void => {
    if (placed.has(link.id)) return;
    placed.add(link.id);
    const parent = link.kind === 'vlan' ? byId.get(link.parent) : undefined;
    if (parent !== undefined) place(parent);
    ordered.push(link);
  };
  links.forEach(place);
  return ordered;
}

/** Global services of type dns; a bad entry is left out with a warning, other service types are ignored. */
function readGlobalDns(services: readonly JsonObject[], warnings: string[]): string[] {
  const dns: string[] = [];
  services.forEach((service, i) => {
    if (service['type'] !== 'dns') return;
    try {
      dns.push(readDnsAddress(`services[${i}] address`, service['address']));
    } catch (error) {
      if (!(error instanceof Invalid)) throw error;
      warnings.push(`${NETWORK_DATA}: ${error.message}; DNS server skipped`);
    }
  });
  return unique(dns);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Parses and validates network_data.json. Throws OpenStackDataError when the document cannot be
 * trusted as a whole; otherwise returns every link that can be configured completely, and one
 * warning (also logged, when `log` is given) for each link, network or service left out.
 */
export function parseNetworkData(text: string, log?: Pick<Logger, 'warn'>): NetworkData {
  const document = parseDocument(text, NETWORK_DATA);
  const rawLinks = listOf(document, 'links');
  const rawNetworks = listOf(document, 'networks');
  const rawServices = listOf(document, 'services');
  const warnings: string[] = [];
  const drafts = readLinks(rawLinks, warnings);
  attachNetworks(rawNetworks, drafts, warnings);
  const links = resolveLinks(drafts, warnings);
  const dns = readGlobalDns(rawServices, warnings);
  for (const warning of warnings) log?.warn(`get-config: ${warning}`);
  return deepFreeze({ links, dns, warnings });
}

// ---- NetworkManager vocabulary -------------------------------------------------------------------

/** A property value as plain data: no D-Bus signatures; the integration picks the wire types. */
export type SettingValue =
  string | number | readonly string[] | Readonly<Record<string, string>> | readonly Readonly<Record<string, string | number>>[];

/** setting name → property → value, with NetworkManager's D-Bus names ("802-3-ethernet", "address-data", …). */
export type ProfileSettings = Readonly<Record<string, Readonly<Record<string, SettingValue>>>>;

/** A property whose value must name another link's profile or interface, which only the integration knows. */
export interface LinkReference {
  readonly setting: 'connection' | 'vlan';
  readonly property: 'master' | 'parent';
  readonly linkId: string;
}

/** What one link asks of NetworkManager: a connection type and the settings the metadata decides. */
export interface LinkProfileIntent {
  readonly linkId: string;
  /** connection.type */
  readonly type: '802-3-ethernet' | 'bond' | 'vlan';
  readonly settings: ProfileSettings;
  readonly references: readonly LinkReference[];
}

const CONNECTION_TYPES = { ethernet: '802-3-ethernet', bond: 'bond', vlan: 'vlan' } as const;
const UNSPECIFIED: Readonly<Record<IpFamily, string>> = { ipv4: '0.0.0.0', ipv6: '::' };

const routeKey = (route: IpRoute): string => `${route.dest}/${route.prefix} ${route.nextHop ?? ''}`;
const routeEntry = (route: IpRoute): Readonly<Record<string, string | number>> =>
  route.nextHop === undefined
    ? { dest: route.dest, prefix: route.prefix }
    : { dest: route.dest, prefix: route.prefix, 'next-hop': route.nextHop };

/**
 * The ipv4 or ipv6 setting of a link's networks of that family, or undefined when it has none
 * (the profile's own setting then stays as it is). Any DHCP/SLAAC network makes the method
 * "auto"; static addresses are added either way. The first gateway is ipvX.gateway; a default
 * route of another network through another router stays a route.
 */
function ipSetting(
  networks: readonly OpenStackNetwork[],
  family: IpFamily,
  dns: readonly string[],
): Record<string, SettingValue> | undefined {
  const mine = networks.filter((network) => network.family === family);
  if (mine.length === 0) return undefined;
  const gateway = mine.find((network) => network.gateway !== undefined)?.gateway;
  const defaults = mine.flatMap((network) =>
    network.gateway !== undefined && network.gateway !== gateway
      ? [{ dest: UNSPECIFIED[family], prefix: 0, nextHop: network.gateway }]
      : [],
  );
  const routes = new Map([...mine.flatMap((network) => network.routes), ...defaults].map((route) => [routeKey(route), route]));
  const addresses = new Map(
    mine.flatMap((network) => network.addresses).map((address) => [`${address.address}/${address.prefix}`, address]),
  );
  return definedOnly<SettingValue>({
    method: mine.some((network) => network.method !== 'static') ? 'auto' : 'manual',
    'address-data': [...addresses.values()].map(({ address, prefix }) => ({ address, prefix })),
    gateway,
    'route-data': [...routes.values()].map(routeEntry),
    dns: dns.filter((server) => server.includes(':') === (family === 'ipv6')),
  });
}

function bondOptions(link: BondLink): Record<string, string> {
  // NetworkManager fills in balance-rr (the kernel's default) when "mode" is missing; say it.
  return definedOnly<string>({
    mode: link.mode ?? 'balance-rr',
    miimon: link.miimon?.toString(),
    xmit_hash_policy: link.xmitHashPolicy,
  });
}

/** 802-3-ethernet: a NIC is matched by its permanent MAC; a bond or VLAN MAC is a cloned MAC. */
function wiredSetting(link: OpenStackLink): Record<string, SettingValue> | undefined {
  const wired = definedOnly<SettingValue>({
    'mac-address': link.kind === 'ethernet' ? link.hwaddr : undefined,
    'cloned-mac-address': link.kind === 'ethernet' ? undefined : link.hwaddr,
    mtu: link.mtu,
  });
  return Object.keys(wired).length === 0 ? undefined : wired;
}

function linkIntent(link: OpenStackLink, globalDns: readonly string[]): LinkProfileIntent {
  const type = CONNECTION_TYPES[link.kind];
  const connection: Record<string, SettingValue> = { type };
  const settings: Record<string, Record<string, SettingValue>> = { connection };
  const references: LinkReference[] = [];
  const wired = wiredSetting(link);
  if (wired !== undefined) settings['802-3-ethernet'] = wired;
  if (link.kind === 'bond') settings['bond'] = { options: bondOptions(link) };
  if (link.kind === 'vlan') {
    settings['vlan'] = { id: link.vlanId };
    references.push({ setting: 'vlan', property: 'parent', linkId: link.parent });
  }
  if (link.kind === 'ethernet' && link.controller !== undefined) {
    // D-Bus names; nmcli shows them as connection.port-type and connection.controller.
    connection['slave-type'] = 'bond';
    references.push({ setting: 'connection', property: 'master', linkId: link.controller });
  }
  const dns = unique([...link.networks.flatMap((network) => network.dns), ...globalDns]);
  for (const family of ['ipv4', 'ipv6'] as const) {
    const ip = ipSetting(link.networks, family, dns);
    if (ip !== undefined) settings[family] = ip;
  }
  return { linkId: link.id, type, settings, references };
}

/**
 * Each link of `data` in NetworkManager's vocabulary, in the order of `data.links` (what a link
 * builds on comes first). Global DNS servers go to every link with a network of their family,
 * after the link's own.
 */
export function toLinkProfileIntents(data: NetworkData): readonly LinkProfileIntent[] {
  return deepFreeze(data.links.map((link) => linkIntent(link, data.dns)));
}
