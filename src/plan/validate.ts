// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Metadata that would hurt if applied as given (upstream applies it): a /32 subnet makes the
 * gateway the network address and cuts the instance off its metadata server; /0 puts x/0
 * addresses and a "default dev" route in place; a link without addresses still switches on
 * policy routing for the others. Such a link is left as it is, the others are configured.
 * Pure: the caller logs.
 */
import { NO_FAMILY_CONFIG, type FamilyConfig, type ProviderInterface, type ProviderResult } from '../model.js';
import { defaultGateway, ipv4ToNumber, networkAddress, numberToIpv4 } from '../net/ipv4.js';
import { ipv6NetworkAddress } from '../net/ipv6.js';

/**
 * IPv4 prefixes with a network address, a broadcast address and at least two hosts (the
 * router and us): /0 is the default route, /31 and /32 leave no room for a router apart.
 */
export const IPV4_PREFIX_MIN = 1;
export const IPV4_PREFIX_MAX = 30;
/** IPv6 prefixes: /0 is the default route, /128 a single host. */
export const IPV6_PREFIX_MIN = 1;
export const IPV6_PREFIX_MAX = 127;

/** The network of `address`/`prefix` as "a.b.c.d/p", and its broadcast address. */
function ipv4Network(address: string, prefix: number): { readonly network: string; readonly cidr: string; readonly broadcast: string } {
  const network = networkAddress(address, prefix);
  const broadcast = numberToIpv4((ipv4ToNumber(network) + 2 ** (32 - prefix) - 1) >>> 0);
  return { network, cidr: `${network}/${prefix}`, broadcast };
}

/**
 * Why one IPv4 family must not be applied; undefined when it may (or when nothing of it would
 * be). What is applied is each address with the subnet's prefix, a route to each address's
 * own network, and a default route via the gateway, so those are what is checked. The
 * addresses need not lie in the served subnet: Aliyun's subnet address is the VPC's, and
 * upstream's own test data serves EC2 172.31.176.249 with 172.31.166.0/20 and Aliyun secondary
 * addresses in other /24s (each gets its own subnet route). Each address must be a host of
 * its network, and the gateway a host of one of those networks or of the served subnet.
 */
export function ipv4Problem(family: FamilyConfig): string | undefined {
  const { addresses, subnet } = family;
  // Without both there is no policy routing to apply (GCP's forwarded IPs are routes only).
  if (addresses === undefined || subnet === undefined) return undefined;
  const { prefix } = subnet;
  if (prefix < IPV4_PREFIX_MIN || prefix > IPV4_PREFIX_MAX) {
    return `IPv4 subnet ${subnet.address}/${prefix} is not a usable subnet (prefix must be ${IPV4_PREFIX_MIN} to ${IPV4_PREFIX_MAX})`;
  }
  if (addresses.length === 0) return 'no IPv4 address';
  const networks = addresses.map((address) => ipv4Network(address, prefix));
  for (const [i, address] of addresses.entries()) {
    const own = networks[i];
    if (own !== undefined && (address === own.network || address === own.broadcast)) {
      return `IPv4 address ${address} is the network or broadcast address of ${own.cidr}`;
    }
  }
  // The router the policy routes use (plan/policy-routing.ts gatewayOf).
  const gateway = family.gateway !== undefined && family.gateway !== '0.0.0.0' ? family.gateway : defaultGateway(subnet);
  const served = ipv4Network(subnet.address, prefix);
  const home = [...networks, served].find((candidate) => networkAddress(gateway, prefix) === candidate.network);
  if (home === undefined) return `IPv4 gateway ${gateway} is outside ${served.cidr} and the addresses' networks`;
  if (gateway === home.network || gateway === home.broadcast)
    return `IPv4 gateway ${gateway} is the network or broadcast address of ${home.cidr}`;
  if (addresses.includes(gateway)) return `IPv4 gateway ${gateway} is one of the interface's own addresses`;
  return undefined;
}

/** Why one IPv6 family must not be applied; undefined when it may. A link-local router is fine. */
export function ipv6Problem(family: FamilyConfig): string | undefined {
  return ipv6RoutesProblem(family) ?? ipv6PolicyProblem(family);
}

/**
 * The shortest IPv6 prefix a provider route of type "local" may cover: the host would answer
 * for the whole range, and a /64 or wider would take in its own subnet's neighbours.
 */
export const IPV6_LOCAL_ROUTE_PREFIX_MIN = 65;

function ipv6RoutesProblem({ routes }: FamilyConfig): string | undefined {
  const wide = routes.find((route) => route.type === 'local' && route.prefix < IPV6_LOCAL_ROUTE_PREFIX_MIN);
  if (wide === undefined) return undefined;
  return `IPv6 range ${wide.dest}/${wide.prefix} is too wide to accept as local (prefix must be ${IPV6_LOCAL_ROUTE_PREFIX_MIN} to 128)`;
}

function ipv6PolicyProblem(family: FamilyConfig): string | undefined {
  const { addresses, subnet, gateway, delegatedPrefixes = [] } = family;
  if (addresses === undefined || subnet === undefined) return undefined;
  const { prefix } = subnet;
  if (prefix < IPV6_PREFIX_MIN || prefix > IPV6_PREFIX_MAX) {
    return `IPv6 subnet ${subnet.address}/${prefix} is not a usable subnet (prefix must be ${IPV6_PREFIX_MIN} to ${IPV6_PREFIX_MAX})`;
  }
  const network = ipv6NetworkAddress(subnet.address, prefix);
  const cidr = `${network}/${prefix}`;
  if (addresses.length === 0) return 'no IPv6 address';
  const outside = addresses.find((address) => ipv6NetworkAddress(address, prefix) !== network);
  if (outside !== undefined) return `IPv6 address ${outside} is outside ${cidr}`;
  // A delegated prefix is carved out of the subnet; a wider one would steer foreign sources.
  const stray = delegatedPrefixes.find((block) => block.prefix < prefix || ipv6NetworkAddress(block.address, prefix) !== network);
  if (stray !== undefined) return `IPv6 prefix ${stray.address}/${stray.prefix} is not inside ${cidr}`;
  if (gateway === undefined || ipv6NetworkAddress(gateway, 10) === 'fe80::') return undefined;
  if (ipv6NetworkAddress(gateway, prefix) !== network) return `IPv6 gateway ${gateway} is outside ${cidr} and not link-local`;
  if (addresses.includes(gateway)) return `IPv6 gateway ${gateway} is one of the interface's own addresses`;
  return undefined;
}

/** Why a link's metadata must not be applied; IPv6 counts only when it is configured. */
export function interfaceProblem(iface: ProviderInterface, options: { readonly ipv6: boolean }): string | undefined {
  return ipv4Problem(iface.ipv4) ?? (options.ipv6 ? ipv6Problem(iface.ipv6) : undefined);
}

/** A link turned away, and why. */
export interface RejectedInterface {
  readonly hwaddr: string;
  readonly reason: string;
}

/**
 * The provider's result with every unsafe link emptied of its data: it stays listed (status
 * shows it) but, as a link whose metadata was not fetched, is skipped and left as it is, and
 * counts for no total (its addresses switch on no policy routing elsewhere).
 */
export function rejectUnsafe(
  result: ProviderResult,
  options: { readonly ipv6: boolean },
): { readonly result: ProviderResult; readonly rejected: readonly RejectedInterface[] } {
  const rejected: RejectedInterface[] = [];
  const interfaces = result.interfaces.map((iface) => {
    const reason = interfaceProblem(iface, options);
    if (reason === undefined) return iface;
    rejected.push({ hwaddr: iface.hwaddr, reason });
    return { ...iface, ipv4: NO_FAMILY_CONFIG, ipv6: NO_FAMILY_CONFIG, dns: [], unsafe: reason };
  });
  return { result: { ...result, interfaces }, rejected };
}
