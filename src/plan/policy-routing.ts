// SPDX-License-Identifier: LGPL-2.1-or-later
import { isValidInterface, type InterfaceConfig, type MetadataConfig } from '../model.js';
import { defaultGateway, networkAddress } from '../net/ipv4.js';
import { addressEntry, routeEntry, ruleEntry, type DbusDict, type Ipv4Lists } from '../nm/settings.js';

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

/** Totals over the whole metadata result that decide whether policy routing is needed at all. */
export type MetadataTotals = Pick<MetadataConfig, 'numValidIfaces' | 'numIpv4s'>;

/**
 * The cloud part of an interface's ipv4 lists (upstream's _nmc_mangle_connection):
 * secondary addresses, subnet and default routes in tables 30200+i / 30400+i, and the rules
 * that steer traffic from each address into them. Provider routes (GCP) are always appended.
 */
export function cloudIpv4Lists(config: InterfaceConfig, totals: MetadataTotals): Ipv4Lists {
  const addresses: DbusDict[] = [];
  const routes: DbusDict[] = [];
  const rules: DbusDict[] = [];

  // One interface with at most one address needs no policy routing; returning nothing also
  // removes what an earlier run with more addresses configured.
  if (!isSingleAddress(totals) && isValidInterface(config) && config.ipv4s !== undefined && config.cidr !== undefined) {
    const prefix = config.cidr.prefix;
    const subnetTable = TABLE_SUBNET_BASE + config.ifaceIdx;
    const defaultTable = TABLE_DEFAULT_BASE + config.ifaceIdx;
    const gateway = gatewayOf(config) ?? defaultGateway(config.cidr);

    const seenSubnets = new Set<string>();
    for (const address of config.ipv4s) {
      addresses.push(addressEntry(address, prefix));
      const subnet = networkAddress(address, prefix);
      if (!seenSubnets.has(subnet)) {
        seenSubnets.add(subnet);
        routes.push(routeEntry({ dest: subnet, prefix, metric: POLICY_ROUTE_METRIC, table: subnetTable }));
      }
      rules.push(ruleEntry({ priority: subnetTable, from: address, table: subnetTable }));
    }
    rules.push(ruleEntry({ priority: RULE_PRIORITY_MAIN, table: TABLE_MAIN, suppressPrefixlength: 0 }));
    routes.push(routeEntry({ dest: '0.0.0.0', prefix: 0, nextHop: gateway, metric: POLICY_ROUTE_METRIC, table: defaultTable }));
    for (const address of config.ipv4s) {
      rules.push(ruleEntry({ priority: defaultTable, from: address, table: defaultTable }));
    }
  }

  routes.push(...config.routes.map(routeEntry));
  return { addresses, routes, rules };
}

/** The router of the interface's default route: the metadata's, else the subnet's first host. */
export function gatewayOf(config: InterfaceConfig): string | undefined {
  if (config.gateway !== undefined && config.gateway !== '0.0.0.0') return config.gateway;
  return config.cidr === undefined ? undefined : defaultGateway(config.cidr);
}

/** True when the shortcut "single interface, single address: no policy routing" applies. */
export function isSingleAddress(totals: MetadataTotals): boolean {
  return totals.numValidIfaces <= 1 && totals.numIpv4s <= 1;
}
