// SPDX-License-Identifier: LGPL-2.1-or-later
import { isValidInterface, isValidIpv6Interface, type MetadataInterface, type MetadataTotals } from '../model.js';
import { defaultGateway, networkAddress } from '../net/ipv4.js';
import { ipv6NetworkAddress } from '../net/ipv6.js';
import {
  addressEntry,
  readFamilyLists,
  routeEntry,
  ruleEntry,
  type DbusDict,
  type FamilyLists,
  type SettingsDict,
} from '../nm/settings.js';

/** First table of the per-subnet range; interface i uses 30200+i. */
export const TABLE_SUBNET_BASE = 30200;
/** First table of the per-interface default-route range; interface i uses 30400+i. */
export const TABLE_DEFAULT_BASE = 30400;
/** Priority of the rule that lets more specific main-table routes win over the 30400 tables. */
export const RULE_PRIORITY_MAIN = 30350;
/** The main routing table. */
export const TABLE_MAIN = 254;
/** Tables leave room for this many interfaces per range. */
export const MAX_INTERFACES = 100;
/** Metric of the policy routes. */
export const POLICY_ROUTE_METRIC = 10;

/**
 * The cloud part of an interface's ipv4 lists (upstream's _nmc_mangle_connection):
 * secondary addresses, subnet and default routes in tables 30200+i / 30400+i, and the rules
 * that steer traffic from each address into them. Provider routes (GCP) are always appended.
 */
export function cloudIpv4Lists(iface: MetadataInterface, totals: MetadataTotals): FamilyLists {
  const addresses: DbusDict[] = [];
  const routes: DbusDict[] = [];
  const rules: DbusDict[] = [];
  const { addresses: ipv4s, subnet } = iface.ipv4;

  // One interface with at most one address needs no policy routing; returning nothing also
  // removes what an earlier run with more addresses configured.
  if (!isSingleAddress(totals) && isValidInterface(iface) && ipv4s !== undefined && subnet !== undefined) {
    const prefix = subnet.prefix;
    const subnetTable = TABLE_SUBNET_BASE + iface.ifaceIdx;
    const defaultTable = TABLE_DEFAULT_BASE + iface.ifaceIdx;
    const gateway = gatewayOf(iface) ?? defaultGateway(subnet);

    const seenSubnets = new Set<string>();
    for (const address of ipv4s) {
      addresses.push(addressEntry(address, prefix));
      const network = networkAddress(address, prefix);
      if (!seenSubnets.has(network)) {
        seenSubnets.add(network);
        routes.push(routeEntry({ dest: network, prefix, metric: POLICY_ROUTE_METRIC, table: subnetTable }));
      }
      rules.push(ruleEntry({ priority: subnetTable, from: address, table: subnetTable }));
    }
    rules.push(ruleEntry({ priority: RULE_PRIORITY_MAIN, table: TABLE_MAIN, suppressPrefixlength: 0 }));
    routes.push(routeEntry({ dest: '0.0.0.0', prefix: 0, nextHop: gateway, metric: POLICY_ROUTE_METRIC, table: defaultTable }));
    for (const address of ipv4s) {
      rules.push(ruleEntry({ priority: defaultTable, from: address, table: defaultTable }));
    }
  }

  routes.push(...iface.ipv4.routes.map(routeEntry));
  return { addresses, routes, rules };
}

/** The IPv4 router of the interface's default route: the metadata's, else the subnet's first host. */
export function gatewayOf(iface: MetadataInterface): string | undefined {
  const { gateway, subnet } = iface.ipv4;
  if (gateway !== undefined && gateway !== '0.0.0.0') return gateway;
  return subnet === undefined ? undefined : defaultGateway(subnet);
}

/** True when the shortcut "single interface, single address: no policy routing" applies. */
export function isSingleAddress(totals: MetadataTotals): boolean {
  return totals.numValidIfaces <= 1 && totals.numIpv4s <= 1;
}

/** Where the router of an IPv6 default route in table 30400+i came from. */
export type Ipv6RouterSource = 'metadata' | 'router-advertisement';

/** The cloud part of an interface's ipv6 lists, and which router its default route goes via. */
export interface CloudIpv6Lists extends FamilyLists {
  /** Set when the link has IPv6 addresses to route but no router to send them to. */
  readonly noRouter?: boolean;
  /** The router of the default route in table 30400+i, and where it came from. */
  readonly router?: { readonly address: string; readonly source: Ipv6RouterSource };
}

/**
 * The IPv6 mirror of cloudIpv4Lists: addresses with the subnet's prefix, the subnet route in
 * table 30200+i, the default route in 30400+i, and rules from each address (/128) and each
 * delegated prefix into both, with 30350 letting more specific main-table routes win. The
 * default route goes via the metadata's router or, when the metadata serves none, the one
 * NetworkManager learned from router advertisements on the device (`learnedRouter`; a
 * link-local next hop is normal, the route is on the device). Without either the default route
 * and its rules are left out. The single-address shortcut counts IPv6 links and addresses only.
 * Provider routes (GCP forwarded IPv6 ranges) are always appended, as for IPv4.
 */
export function cloudIpv6Lists(iface: MetadataInterface, totals: MetadataTotals, learnedRouter?: string): CloudIpv6Lists {
  const lists = ipv6PolicyLists(iface, totals, learnedRouter);
  return { ...lists, routes: [...lists.routes, ...iface.ipv6.routes.map(routeEntry)] };
}

function ipv6PolicyLists(iface: MetadataInterface, totals: MetadataTotals, learnedRouter?: string): CloudIpv6Lists {
  const { addresses: ipv6s, subnet, delegatedPrefixes = [] } = iface.ipv6;
  const isSingle = (totals.numValidIpv6Ifaces ?? 0) <= 1 && (totals.numIpv6s ?? 0) <= 1;
  if (isSingle || !isValidIpv6Interface(iface) || ipv6s === undefined || subnet === undefined) {
    return { addresses: [], routes: [], rules: [] };
  }
  const subnetTable = TABLE_SUBNET_BASE + iface.ifaceIdx;
  const defaultTable = TABLE_DEFAULT_BASE + iface.ifaceIdx;
  const addresses = ipv6s.map((address) => addressEntry(address, subnet.prefix));
  const networks = [...new Set(ipv6s.map((address) => ipv6NetworkAddress(address, subnet.prefix)))];
  const routes = networks.map((network) =>
    routeEntry({ dest: network, prefix: subnet.prefix, metric: POLICY_ROUTE_METRIC, table: subnetTable }),
  );
  // Sources: each address as a host, then each delegated prefix as the network it is.
  const sources = [
    ...ipv6s.map((address) => ({ from: address })),
    ...delegatedPrefixes.map((cidr) => ({ from: cidr.address, fromLen: cidr.prefix })),
  ];
  const rulesInto = (table: number) => sources.map((source) => ruleEntry({ family: 'ipv6', priority: table, table, ...source }));
  const rules = rulesInto(subnetTable);
  rules.push(ruleEntry({ family: 'ipv6', priority: RULE_PRIORITY_MAIN, table: TABLE_MAIN, suppressPrefixlength: 0 }));
  const router = ipv6RouterOf(iface, learnedRouter);
  if (router === undefined) return { addresses, routes, rules, noRouter: true };
  routes.push(routeEntry({ dest: '::', prefix: 0, nextHop: router.address, metric: POLICY_ROUTE_METRIC, table: defaultTable }));
  rules.push(...rulesInto(defaultTable));
  return { addresses, routes, rules, router };
}

/** The metadata's IPv6 router, else the one learned by RA; undefined when neither is known. */
export function ipv6RouterOf(iface: MetadataInterface, learnedRouter?: string): CloudIpv6Lists['router'] {
  if (iface.ipv6.gateway !== undefined) return { address: iface.ipv6.gateway, source: 'metadata' };
  return learnedRouter === undefined ? undefined : { address: learnedRouter, source: 'router-advertisement' };
}

/**
 * The router of the IPv6 default route an earlier run put in table 30400+i of this applied
 * connection, if any. NetworkManager forgets the router it learned by RA whenever a Reapply
 * changes the ipv6 setting, until the next advertisement; a run in that window keeps this one.
 */
export function appliedIpv6Router(applied: SettingsDict, iface: MetadataInterface): string | undefined {
  const table = TABLE_DEFAULT_BASE + iface.ifaceIdx;
  for (const route of readFamilyLists(applied, 'ipv6')?.routes ?? []) {
    const isDefault = route['dest']?.value === '::' && route['prefix']?.value === 0 && route['table']?.value === table;
    const nextHop = route['next-hop']?.value;
    if (isDefault && typeof nextHop === 'string' && nextHop !== '') return nextHop;
  }
  return undefined;
}
