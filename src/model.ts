// SPDX-License-Identifier: LGPL-2.1-or-later
import type { Ipv4Cidr } from './net/ipv4.js';

/** An IPv4 route a provider asks for, in NetworkManager's route-data vocabulary. */
export interface Ipv4Route {
  readonly dest: string;
  readonly prefix: number;
  readonly nextHop?: string;
  readonly metric?: number;
  readonly table?: number;
  /** Route type attribute, e.g. "local" for GCP forwarded IPs. */
  readonly type?: string;
}

/** What the metadata says about one interface, keyed by its normalized MAC (upstream's "iface data"). */
export interface InterfaceConfig {
  readonly hwaddr: string;
  /** Position chosen by the provider, selecting tables 30200+i and 30400+i; -1 when not in the metadata. */
  ifaceIdx: number;
  /** The MAC came from NetworkManager's device list. */
  readonly wasRequested: boolean;
  /** Ordered, primary first; undefined when the provider never learned the addresses. */
  ipv4s?: string[];
  cidr?: Ipv4Cidr;
  gateway?: string;
  /** Extra routes (GCP forwarded IPs). */
  routes: Ipv4Route[];
  /** OCI bare metal: non-zero VLAN tag of a VNIC, and the MAC of its physical parent NIC. */
  vlanTag?: number;
  parentHwaddr?: string;
}

/** True when the record carries enough to configure: an index and either addresses+subnet or routes. */
export function isValidInterface(config: InterfaceConfig): boolean {
  return config.ifaceIdx >= 0 && ((config.ipv4s !== undefined && config.cidr !== undefined) || config.routes.length > 0);
}

/** The normalized result of a provider's get-config, with upstream's totals. */
export interface MetadataConfig {
  /** All records, sorted by ifaceIdx ascending with -1 last. */
  readonly interfaces: readonly InterfaceConfig[];
  readonly numValidIfaces: number;
  /** Number of addresses over valid records; with numValidIfaces decides the single-address shortcut. */
  readonly numIpv4s: number;
}

/** Builds the sorted result and its totals from a provider's records. */
export function toMetadataConfig(records: Iterable<InterfaceConfig>): MetadataConfig {
  const interfaces = [...records].sort((a, b) => sortKey(a) - sortKey(b) || (a.hwaddr < b.hwaddr ? -1 : 1));
  const valid = interfaces.filter(isValidInterface);
  return {
    interfaces,
    numValidIfaces: valid.length,
    numIpv4s: valid.reduce((sum, config) => sum + (config.ipv4s?.length ?? 0), 0),
  };
}

function sortKey(config: InterfaceConfig): number {
  return config.ifaceIdx < 0 ? Number.MAX_SAFE_INTEGER : config.ifaceIdx;
}
