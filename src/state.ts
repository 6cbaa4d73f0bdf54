// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The documents the tool shows an admin, built from a run's report without side effects:
 * state.json after apply/fetch, and the interface rows `status` prints. Nothing secret is in
 * a report (the EC2 token lives only in its provider's session), so nothing secret gets here.
 */
import { isValidInterface, type DeviceOutcome, type DeviceResult, type Metadata, type MetadataInterface, type RunReport } from './model.js';
import { nmcliRoute } from './plan/nmcli.js';
import { gatewayOf } from './plan/policy-routing.js';
import { routeEntry } from './nm/settings.js';

/** Bumped when a field changes meaning; new fields may be added without a bump. */
export const STATE_FORMAT_VERSION = 1;
export const STATE_FILE_NAME = 'state.json';

/** One metadata record as an admin reads it. */
export interface InterfaceState {
  readonly hwaddr: string;
  /** The metadata's link id, when it is not the MAC (OpenStack). */
  readonly link?: string;
  /** -1 when NetworkManager has the NIC but the metadata does not. */
  readonly ifaceIdx: number;
  /** NetworkManager has a device with this MAC. */
  readonly requested: boolean;
  /** Enough metadata to configure it. */
  readonly valid: boolean;
  readonly ipv4s: readonly string[];
  readonly subnet?: string;
  readonly gateway?: string;
  /** Provider routes (GCP forwarded IPs), in nmcli syntax. */
  readonly routes: readonly string[];
  readonly vlanTag?: number;
  readonly parentHwaddr?: string;
  /** IPv6 metadata, when read (NM_CLOUD_SETUP_IPV6) and served. */
  readonly ipv6s?: readonly string[];
  readonly ipv6Subnet?: string;
  readonly ipv6Gateway?: string;
  /** Delegated prefixes (EC2 ipv6-prefix), as CIDRs. */
  readonly ipv6Prefixes?: readonly string[];
  /** Provider routes (GCP forwarded IPv6 ranges), in nmcli syntax. */
  readonly ipv6Routes?: readonly string[];
}

/** One device's result in state.json. */
export interface StateDevice {
  readonly hwaddr: string;
  /** The metadata's link id, when it is not the MAC (OpenStack: a bond and its VLAN share one). */
  readonly link?: string;
  readonly device?: string;
  readonly connection?: { readonly id: string; readonly uuid: string };
  readonly result: DeviceResult;
  /** The skip reason or the error. */
  readonly reason?: string;
}

export interface StateDocument {
  readonly formatVersion: number;
  readonly toolVersion: string;
  readonly command: 'apply' | 'fetch';
  /** When the run ended, ISO 8601 UTC. */
  readonly time: string;
  readonly provider: { readonly name: string; readonly metadataUrl: string };
  readonly result: RunReport['result'];
  readonly interfaces: readonly InterfaceState[];
  /** Empty after `fetch`, which configures nothing. */
  readonly devices: readonly StateDevice[];
}

/** The metadata records, in processing order. */
export function interfaceStates(metadata: Metadata): InterfaceState[] {
  return metadata.interfaces.map(interfaceState);
}

function interfaceState(iface: MetadataInterface): InterfaceState {
  const gateway = gatewayOf(iface);
  const { addresses, subnet, routes } = iface.ipv4;
  return {
    hwaddr: iface.hwaddr,
    ...(iface.linkId === iface.hwaddr ? {} : { link: iface.linkId }),
    ifaceIdx: iface.ifaceIdx,
    requested: iface.requested,
    // A link the metadata describes completely is configurable as it stands.
    valid: iface.explicit !== undefined || isValidInterface(iface),
    ipv4s: addresses ?? [],
    ...(subnet === undefined ? {} : { subnet: `${subnet.address}/${subnet.prefix}` }),
    ...(gateway === undefined ? {} : { gateway }),
    routes: routes.map((route) => nmcliRoute(routeEntry(route))),
    ...(iface.link.kind === 'oci-vlan' ? ociVlanFields(iface.link) : {}),
    ...ipv6Fields(iface.ipv6),
  };
}

type Ipv6Fields = Pick<InterfaceState, 'ipv6s' | 'ipv6Subnet' | 'ipv6Gateway' | 'ipv6Prefixes' | 'ipv6Routes'>;

function ipv6Fields({ addresses, subnet, gateway, delegatedPrefixes = [], routes }: MetadataInterface['ipv6']): Ipv6Fields {
  return {
    ...(addresses === undefined || addresses.length === 0 ? {} : { ipv6s: addresses }),
    ...(subnet === undefined ? {} : { ipv6Subnet: `${subnet.address}/${subnet.prefix}` }),
    ...(gateway === undefined ? {} : { ipv6Gateway: gateway }),
    ...(delegatedPrefixes.length === 0 ? {} : { ipv6Prefixes: delegatedPrefixes.map((cidr) => `${cidr.address}/${cidr.prefix}`) }),
    ...(routes.length === 0 ? {} : { ipv6Routes: routes.map((route) => nmcliRoute(routeEntry(route))) }),
  };
}

/** True when the record carries any IPv6 metadata. */
export function hasIpv6Metadata(state: InterfaceState): boolean {
  return [state.ipv6s, state.ipv6Subnet, state.ipv6Gateway, state.ipv6Prefixes, state.ipv6Routes].some((field) => field !== undefined);
}

function ociVlanFields(link: Extract<MetadataInterface['link'], { kind: 'oci-vlan' }>): Pick<InterfaceState, 'vlanTag' | 'parentHwaddr'> {
  return { vlanTag: link.vlanTag, ...(link.parentHwaddr === undefined ? {} : { parentHwaddr: link.parentHwaddr }) };
}

/** A device outcome without the ipv4 lists (they are in the metadata and the kernel). */
export function stateDevice(outcome: DeviceOutcome): StateDevice {
  return {
    hwaddr: outcome.hwaddr,
    ...(outcome.link === undefined ? {} : { link: outcome.link }),
    ...(outcome.device === undefined ? {} : { device: outcome.device }),
    ...(outcome.connection === undefined ? {} : { connection: outcome.connection }),
    result: outcome.result,
    ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
  };
}

const DAY_MS = 86_400_000;

/**
 * `date.toISOString()`, computed from the epoch milliseconds. V8's own Date field methods set up
 * its date cache, which loads ICU's time zone data: about 0.8 MiB of node's pages in every run
 * that writes state.json (docs/performance.md). Years outside 0000-9999 (never a real clock)
 * and invalid dates go to toISOString itself, which then formats or throws as before.
 */
export function isoTime(date: Date): string {
  const ms = date.getTime();
  // Days since 1970-01-01 to a civil date (the proleptic Gregorian calendar, as ECMAScript's).
  const days = Math.floor(ms / DAY_MS);
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const shiftedMonth = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * shiftedMonth + 2) / 5) + 1;
  const month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  if (!Number.isFinite(ms) || year < 0 || year > 9999) return date.toISOString();
  const inDay = ms - days * DAY_MS;
  const pad = (value: number, width = 2): string => String(value).padStart(width, '0');
  const clock = `${pad(Math.floor(inDay / 3_600_000))}:${pad(Math.floor(inDay / 60_000) % 60)}:${pad(Math.floor(inDay / 1000) % 60)}`;
  return `${pad(year, 4)}-${pad(month)}-${pad(day)}T${clock}.${pad(inDay % 1000, 3)}Z`;
}

/**
 * The state.json of a run, or undefined when the run learned no metadata: a failed fetch
 * must leave the previous file in place, as it leaves the previous runtime config.
 */
export function stateDocument(
  report: RunReport,
  context: { readonly time: Date; readonly toolVersion: string },
): StateDocument | undefined {
  if (report.metadata === undefined || report.provider === undefined) return undefined;
  // SIGTERM before the first write changed nothing: the previous file still describes the system.
  if (report.result === 'cancelled') return undefined;
  if (report.mode !== 'apply' && report.mode !== 'fetch') return undefined;
  return {
    formatVersion: STATE_FORMAT_VERSION,
    toolVersion: context.toolVersion,
    command: report.mode,
    time: isoTime(context.time),
    provider: { name: report.provider.name, metadataUrl: report.provider.baseUrl },
    result: report.result,
    interfaces: interfaceStates(report.metadata),
    devices: report.outcomes.map(stateDevice),
  };
}
