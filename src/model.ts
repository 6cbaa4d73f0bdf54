// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The data that flows through a run, and nothing else: what a cloud's metadata says about each
 * link (per address family), what became of each device, and the run's report. Pure types and
 * the few functions that derive totals from them; every other module depends on this one.
 */

/** Provider names exactly as upstream logs them ("GCP" is upper case there). */
export type ProviderName = 'ec2' | 'GCP' | 'azure' | 'aliyun' | 'oci' | 'openstack';

/** An address family, named as NetworkManager names its settings. */
export type AddressFamily = 'ipv4' | 'ipv6';

/** A network: an address (host bits possibly set) and its prefix length. */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
}

/** A route a provider asks for, in NetworkManager's route-data vocabulary. */
export interface Route {
  readonly dest: string;
  readonly prefix: number;
  readonly nextHop?: string;
  readonly metric?: number;
  readonly table?: number;
  /** Route type attribute, e.g. "local" for GCP forwarded IPs. */
  readonly type?: string;
}

/** What the metadata says about one address family of one link. */
export interface FamilyConfig {
  /** Ordered, primary first; undefined when the provider never learned them (an empty list still replaces old ones). */
  readonly addresses?: readonly string[];
  /** The subnet the addresses are in; its prefix is the addresses' prefix. */
  readonly subnet?: Cidr;
  /** The router the metadata names; undefined when it names none. */
  readonly gateway?: string;
  /** Extra routes (GCP forwarded IPs), added as given. */
  readonly routes: readonly Route[];
  /**
   * Prefixes the cloud routes to this link for the host to hand out (EC2 `ipv6-prefix`): not
   * assigned to the host, but traffic from them follows the link's tables like its addresses.
   */
  readonly delegatedPrefixes?: readonly Cidr[];
}

/** A family the metadata said nothing about. */
export const NO_FAMILY_CONFIG: FamilyConfig = { routes: [] };

/**
 * What kind of link the metadata describes. Everything but `ethernet` is a link the tool may
 * have to create: OCI bare metal's VLAN VNIC is a MACVLAN (carrying the VNIC's MAC) on the
 * physical NIC with a VLAN on top.
 */
export type Link =
  | { readonly kind: 'ethernet' }
  | {
      readonly kind: 'oci-vlan';
      /** Non-zero VLAN tag. */
      readonly vlanTag: number;
      /** The MAC of the physical parent NIC; undefined when the metadata names none. */
      readonly parentHwaddr?: string;
    }
  | {
      /** An 802.1Q VLAN on a NIC or a bond (OpenStack): a profile of its own, created when missing. */
      readonly kind: 'vlan';
      readonly vlanId: number;
      /** The parent's link id and MAC (a bond's: its own or its first port's). */
      readonly parentLink: string;
      readonly parentHwaddr: string;
      /** When the parent is a bond of the document: its link id and index, which name its interface. */
      readonly parentBond?: { readonly linkId: string; readonly ifaceIdx: number };
      /** The VLAN's own MAC (802-3-ethernet.cloned-mac-address), when the metadata gives one. */
      readonly clonedHwaddr?: string;
    }
  | {
      /** A Linux bond over NICs (OpenStack): its profile and its ports' profiles are created when missing. */
      readonly kind: 'bond';
      /** bond.options (mode, miimon, xmit_hash_policy). */
      readonly options: Readonly<Record<string, string>>;
      /** The NICs it bonds, by link id and MAC, in the metadata's order. */
      readonly ports: readonly { readonly linkId: string; readonly hwaddr: string }[];
      /** The bond's own MAC (802-3-ethernet.cloned-mac-address), when the metadata gives one. */
      readonly clonedHwaddr?: string;
    };

export const ETHERNET_LINK: Link = { kind: 'ethernet' };

/**
 * One address family of a link whose metadata is a complete description of it (OpenStack's
 * network_data.json): applied as given, with no policy routing, because the document already
 * says which routes the operator wants.
 */
export interface ExplicitFamilyConfig {
  /** 'auto' when a network of this family leaves addressing to DHCP or router advertisements. */
  readonly method: 'manual' | 'auto';
  readonly addresses: readonly Cidr[];
  readonly gateway?: string;
  readonly routes: readonly Route[];
  readonly dns: readonly string[];
}

/** The families an explicit description gives; a family it does not mention is left as it is. */
export interface ExplicitConfig {
  readonly ipv4?: ExplicitFamilyConfig;
  readonly ipv6?: ExplicitFamilyConfig;
}

/** What a provider reports about one link (upstream's "iface data"), immutable. */
export interface ProviderInterface {
  /**
   * The link's identity in this result. Links that share a MAC (bonds, VLANs) need their own
   * ids; every provider today has one link per MAC and uses the MAC.
   */
  readonly linkId: string;
  /** Normalized MAC. */
  readonly hwaddr: string;
  /** Position chosen by the provider, selecting tables 30200+i and 30400+i. */
  readonly ifaceIdx: number;
  readonly link: Link;
  readonly ipv4: FamilyConfig;
  readonly ipv6: FamilyConfig;
  /** DNS servers the metadata gives for this link, in order. */
  readonly dns: readonly string[];
  /**
   * Set by providers whose metadata describes the whole link (OpenStack): the planner applies
   * it as given instead of deriving policy routing from `ipv4`/`ipv6`.
   */
  readonly explicit?: ExplicitConfig;
  /**
   * Set by plan/validate.ts: why this link's metadata is unsafe to apply (its families are then
   * emptied); the link is left as it is, and status and plan say why.
   */
  readonly unsafe?: string;
}

/** What a provider's get-config returns. */
export interface ProviderResult {
  readonly interfaces: readonly ProviderInterface[];
  /**
   * MACs the provider found in the metadata but rejected after the fact (an OCI VLAN VNIC
   * without its physical NIC): upstream deletes their records, requested or not.
   */
  readonly withdrawn: readonly string[];
}

/** A plain Ethernet link, known by its MAC, with IPv4 metadata only. */
export function ethernetInterface(hwaddr: string, ifaceIdx: number, ipv4: FamilyConfig): ProviderInterface {
  return { linkId: hwaddr, hwaddr, ifaceIdx, link: ETHERNET_LINK, ipv4, ipv6: NO_FAMILY_CONFIG, dns: [] };
}

/** What get-config asks a provider for. */
export interface MetadataRequest {
  /** MACs of the NetworkManager devices that want configuring, normalized. */
  readonly requested: readonly string[];
  /**
   * Read the IPv6 metadata too. Off for apply and fetch without NM_CLOUD_SETUP_IPV6, so a bare
   * run makes exactly upstream's requests; on for status and plan, which show it.
   */
  readonly ipv6: boolean;
}

/** One link of the run's metadata: the provider's report plus what the run knows about it. */
export interface MetadataInterface extends ProviderInterface {
  /** -1 when NetworkManager has the NIC but the metadata does not. */
  readonly ifaceIdx: number;
  /** NetworkManager has a device with this MAC (upstream's was_requested). */
  readonly requested: boolean;
}

/** The normalized result of get-config, with upstream's totals. */
export interface Metadata {
  /** All links, sorted by ifaceIdx ascending with -1 last. */
  readonly interfaces: readonly MetadataInterface[];
  readonly numValidIfaces: number;
  /** Number of IPv4 addresses over valid links; with numValidIfaces decides the single-address shortcut. */
  readonly numIpv4s: number;
  /** The same two totals for IPv6 (links with an index, IPv6 addresses and subnet): the shortcut is per family. */
  readonly numValidIpv6Ifaces: number;
  readonly numIpv6s: number;
}

/** Totals over the whole metadata that decide whether policy routing is needed at all. */
export type MetadataTotals = Pick<Metadata, 'numValidIfaces' | 'numIpv4s'> & Partial<Pick<Metadata, 'numValidIpv6Ifaces' | 'numIpv6s'>>;

/** A link of the metadata with nothing but its MAC: what a requested NIC is before the metadata speaks. */
export function unlistedInterface(hwaddr: string, requested: boolean): MetadataInterface {
  return {
    linkId: hwaddr,
    hwaddr,
    ifaceIdx: -1,
    requested,
    link: ETHERNET_LINK,
    ipv4: NO_FAMILY_CONFIG,
    ipv6: NO_FAMILY_CONFIG,
    dns: [],
  };
}

/** True when the family carries enough to configure: addresses and a subnet, or routes. */
export function isFamilyConfigurable(family: FamilyConfig): boolean {
  return (family.addresses !== undefined && family.subnet !== undefined) || family.routes.length > 0;
}

/** True when the link has an index and enough IPv4 data to configure (upstream's validity). */
export function isValidInterface(iface: MetadataInterface): boolean {
  return iface.ifaceIdx >= 0 && isFamilyConfigurable(iface.ipv4);
}

/** True when the link has an index, IPv6 addresses and an IPv6 subnet: policy routing is possible. */
export function isValidIpv6Interface(iface: MetadataInterface): boolean {
  return iface.ifaceIdx >= 0 && iface.ipv6.addresses !== undefined && iface.ipv6.subnet !== undefined;
}

/** True when the link has an index and IPv6 data to configure: policy routing or routes (GCP forwarded IPv6 ranges). */
export function isConfigurableIpv6Interface(iface: MetadataInterface): boolean {
  return iface.ifaceIdx >= 0 && isFamilyConfigurable(iface.ipv6);
}

/**
 * Joins a provider's report with the requested MACs: every requested MAC not in the report is
 * a link with index -1; the result is sorted and totalled.
 */
export function toMetadata(request: MetadataRequest, result: ProviderResult): Metadata {
  const reported = result.interfaces;
  const requested = new Set(request.requested);
  const listed = new Set([...reported.map((iface) => iface.hwaddr), ...result.withdrawn]);
  const interfaces: MetadataInterface[] = [
    ...reported.map((iface) => ({ ...iface, requested: requested.has(iface.hwaddr) })),
    ...[...requested].filter((hwaddr) => !listed.has(hwaddr)).map((hwaddr) => unlistedInterface(hwaddr, true)),
  ];
  return totalled(interfaces);
}

/** Sorts links (index ascending, -1 last, then MAC) and counts upstream's totals. */
export function totalled(links: readonly MetadataInterface[]): Metadata {
  const interfaces = [...links].sort((a, b) => sortKey(a) - sortKey(b) || (a.hwaddr < b.hwaddr ? -1 : 1));
  const valid = interfaces.filter(isValidInterface);
  const validIpv6 = interfaces.filter(isValidIpv6Interface);
  return {
    interfaces,
    numValidIfaces: valid.length,
    numIpv4s: valid.reduce((sum, iface) => sum + (iface.ipv4.addresses?.length ?? 0), 0),
    numValidIpv6Ifaces: validIpv6.length,
    numIpv6s: validIpv6.reduce((sum, iface) => sum + (iface.ipv6.addresses?.length ?? 0), 0),
  };
}

function sortKey(iface: MetadataInterface): number {
  return iface.ifaceIdx < 0 ? Number.MAX_SAFE_INTEGER : iface.ifaceIdx;
}

/** The instance as `status` describes it; a fact the metadata does not give is left out. */
export interface InstanceFacts {
  readonly id?: string;
  readonly region?: string;
  readonly zone?: string;
  /** Instance type, machine type, VM size or shape, in the cloud's own words. */
  readonly type?: string;
  /** The instance's name (OpenStack). */
  readonly name?: string;
  /** The project (tenant) it belongs to (OpenStack). */
  readonly project?: string;
}

/** One family's three lists in nmcli syntax (nm-settings-nmcli(5)), one string per entry. */
export interface NmcliLists {
  readonly addresses: readonly string[];
  readonly routes: readonly string[];
  readonly rules: readonly string[];
  /** The rest of the family, for links the metadata describes completely (OpenStack); "" = none. */
  readonly method?: string;
  readonly gateway?: string;
  readonly dns?: readonly string[];
}

/**
 * What became of one device (or, for OCI VLAN VNICs, one of its two profiles):
 * `pending` is a change a dry run would have made.
 */
export type DeviceResult = 'applied' | 'unchanged' | 'skipped' | 'failed' | 'pending';

export interface DeviceOutcome {
  readonly hwaddr: string;
  readonly result: DeviceResult;
  /** NM's interface name, once a device was matched. */
  readonly device?: string;
  readonly connection?: { readonly id: string; readonly uuid: string };
  /** Why it was skipped, or what it failed with. */
  readonly reason?: string;
  /** The ipv4 lists of the applied connection before and after a (pending) Reapply. */
  readonly ipv4?: { readonly before: NmcliLists; readonly after: NmcliLists };
  /** The same for ipv6, when IPv6 is configured (NM_CLOUD_SETUP_IPV6). */
  readonly ipv6?: { readonly before: NmcliLists; readonly after: NmcliLists };
  /** A profile created (or, in a dry run, to be created) instead of a Reapply. */
  readonly created?: { readonly id: string; readonly type: string; readonly ipv4: NmcliLists };
  /** Upstream's "changed": a write was attempted, whether or not it succeeded. */
  readonly wrote: boolean;
  /** The metadata's link id when it is not the MAC (OpenStack: a bond and its VLAN share one). */
  readonly link?: string;
}

/** SIGTERM handling seen from the pipeline: abort reads, but never a write half-way. */
export interface Cancellation {
  readonly signal: AbortSignal;
  /** Called right before the first write; from then on SIGTERM is ignored. */
  disable(): void;
}

/**
 * How far a run goes: `apply` is upstream's run; `fetch` stops after the metadata; `plan`
 * decides every device but writes nothing; `status` is a plan plus the instance facts.
 */
export type RunMode = 'apply' | 'fetch' | 'plan' | 'status';

/** How a run ended. */
export type RunResult =
  | 'no-provider'
  | 'no-networkmanager'
  | 'metadata-failed'
  | 'cancelled'
  /** apply: something was written. */
  | 'changed'
  /** apply: writes were attempted and every one of them failed. */
  | 'failed'
  /** apply, plan, status: nothing to write. */
  | 'unchanged'
  /** plan, status: something would be written. */
  | 'pending'
  /** fetch: the metadata arrived. */
  | 'fetched';

/** Everything a run learned, for the exit code, the state file and the reports. */
export interface RunReport {
  readonly mode: RunMode;
  readonly result: RunResult;
  readonly provider?: { readonly name: ProviderName; readonly baseUrl: string };
  /** status only. */
  readonly facts?: InstanceFacts;
  /** Set once the metadata was fetched. */
  readonly metadata?: Metadata;
  /**
   * Set with the metadata: whether the run configures IPv6 (NM_CLOUD_SETUP_IPV6, or the
   * provider's default). status and plan read the IPv6 metadata either way, to show it.
   */
  readonly ipv6Applied?: boolean;
  readonly outcomes: readonly DeviceOutcome[];
  /** The failure behind no-provider, no-networkmanager or metadata-failed. */
  readonly error?: string;
}

/** Upstream's any_changed: some device was written to. */
export function anyWrote(outcomes: readonly DeviceOutcome[]): boolean {
  return outcomes.some((outcome) => outcome.wrote);
}

/** Writes were attempted and none succeeded (every Reapply failed): nothing was changed. */
export function everyWriteFailed(outcomes: readonly DeviceOutcome[]): boolean {
  const written = outcomes.filter((outcome) => outcome.wrote);
  return written.length > 0 && written.every((outcome) => outcome.result === 'failed');
}
