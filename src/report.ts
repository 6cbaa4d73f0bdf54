// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * What `status` and `plan` print, as JSON documents and as aligned text, built from a run's
 * report without side effects. docs/status.schema.json and docs/plan.schema.json describe the
 * JSON; tests validate real output against them.
 */
import type { DeviceOutcome, InstanceFacts, NmcliLists, RunReport } from './model.js';
import { diffNmcli, nmcliModifyCommand, NO_IPV4, type Ipv4Diff } from './plan/nmcli.js';
import { hasIpv6Metadata, interfaceStates, type InterfaceState } from './state.js';

/** Whether the applied connection already is what the tool would make it. */
export type SyncState = 'in-sync' | 'out-of-sync' | 'skipped';

export interface StatusInterface extends InterfaceState {
  readonly device?: string;
  readonly connection?: { readonly id: string; readonly uuid: string };
  readonly config: SyncState;
  /** Why it is skipped. */
  readonly reason?: string;
  /** With IPv6 metadata: whether a run configures it (NM_CLOUD_SETUP_IPV6); status shows it either way. */
  readonly ipv6Applied?: boolean;
}

export interface StatusDocument {
  readonly provider: { readonly name: string; readonly metadataUrl: string };
  readonly instance: InstanceFacts;
  readonly interfaces: readonly StatusInterface[];
}

export type PlanAction = 'reapply' | 'create' | 'none' | 'skip';

export interface PlanRow {
  readonly hwaddr: string;
  /** The metadata's link id, when it is not the MAC (OpenStack). */
  readonly link?: string;
  readonly device?: string;
  readonly connection?: { readonly id: string; readonly uuid?: string; readonly type?: string };
  readonly action: PlanAction;
  readonly reason?: string;
  /** reapply: the nmcli command with the same effect. */
  readonly command?: string;
  /** reapply and create: what each ipv4 list gains and loses. */
  readonly diff?: Ipv4Diff;
  /** The lists before and after (create: empty before). */
  readonly ipv4?: { readonly before: NmcliLists; readonly after: NmcliLists };
  /** reapply with NM_CLOUD_SETUP_IPV6: what each ipv6 list gains and loses, and the lists. */
  readonly ipv6Diff?: Ipv4Diff;
  readonly ipv6?: { readonly before: NmcliLists; readonly after: NmcliLists };
  /** The link's IPv6 metadata, and whether apply configures it (never an ipv6 change when not). */
  readonly metadataIpv6?: MetadataIpv6;
}

/** What the metadata says about a link's IPv6, as plan shows it. */
export interface MetadataIpv6 {
  readonly addresses: readonly string[];
  readonly subnet?: string;
  readonly gateway?: string;
  /** Delegated prefixes (EC2 ipv6-prefix). */
  readonly prefixes?: readonly string[];
  /** Provider routes (GCP forwarded IPv6 ranges), in nmcli syntax. */
  readonly routes?: readonly string[];
  /** NM_CLOUD_SETUP_IPV6 (or the provider's default) is on: apply configures it. */
  readonly applied: boolean;
}

export interface PlanDocument {
  readonly provider: { readonly name: string; readonly metadataUrl: string };
  /** Devices with action reapply or create. */
  readonly pending: number;
  readonly devices: readonly PlanRow[];
}

function providerOf(report: RunReport): StatusDocument['provider'] {
  return { name: report.provider?.name ?? '', metadataUrl: report.provider?.baseUrl ?? '' };
}

/** The worst of a record's outcomes (an OCI VLAN VNIC has two profiles). */
function syncState(outcomes: readonly DeviceOutcome[]): { config: SyncState; reason?: string } {
  if (outcomes.some((outcome) => outcome.result === 'pending')) return { config: 'out-of-sync' };
  if (outcomes.length > 0 && outcomes.every((outcome) => outcome.result === 'unchanged')) return { config: 'in-sync' };
  const reason = outcomes.find((outcome) => outcome.reason !== undefined)?.reason;
  return { config: 'skipped', ...(reason === undefined ? {} : { reason }) };
}

export function statusDocument(report: RunReport): StatusDocument {
  const states = report.metadata === undefined ? [] : interfaceStates(report.metadata);
  return {
    provider: providerOf(report),
    instance: report.facts ?? {},
    interfaces: states.map((state) => {
      // A link with its own id (OpenStack) may share its MAC with another: match by link id then.
      const outcomes = report.outcomes.filter((outcome) => outcome.hwaddr === state.hwaddr && outcome.link === state.link);
      // The device the tool reapplies; for a VLAN VNIC that is the VLAN, the last one.
      const main = outcomes.findLast((outcome) => outcome.device !== undefined);
      return {
        ...state,
        ...(main?.device === undefined ? {} : { device: main.device }),
        ...(main?.connection === undefined ? {} : { connection: main.connection }),
        ...syncState(outcomes),
        ...(hasIpv6Metadata(state) ? { ipv6Applied: report.ipv6Applied ?? true } : {}),
      };
    }),
  };
}

export function planDocument(report: RunReport): PlanDocument {
  const states = report.metadata === undefined ? [] : interfaceStates(report.metadata);
  const devices = report.outcomes.map((outcome) => {
    const row = planRow(outcome);
    const state = states.find((candidate) => candidate.hwaddr === outcome.hwaddr && candidate.link === outcome.link);
    const metadataIpv6 = state === undefined ? undefined : metadataIpv6Of(state, report.ipv6Applied ?? true);
    return metadataIpv6 === undefined ? row : { ...row, metadataIpv6 };
  });
  return {
    provider: providerOf(report),
    pending: devices.filter((device) => device.action === 'reapply' || device.action === 'create').length,
    devices,
  };
}

function metadataIpv6Of(state: InterfaceState, applied: boolean): MetadataIpv6 | undefined {
  if (!hasIpv6Metadata(state)) return undefined;
  return {
    addresses: state.ipv6s ?? [],
    ...(state.ipv6Subnet === undefined ? {} : { subnet: state.ipv6Subnet }),
    ...(state.ipv6Gateway === undefined ? {} : { gateway: state.ipv6Gateway }),
    ...(state.ipv6Prefixes === undefined ? {} : { prefixes: state.ipv6Prefixes }),
    ...(state.ipv6Routes === undefined ? {} : { routes: state.ipv6Routes }),
    applied,
  };
}

function planRow(outcome: DeviceOutcome): PlanRow {
  const base = {
    hwaddr: outcome.hwaddr,
    ...(outcome.link === undefined ? {} : { link: outcome.link }),
    ...(outcome.device === undefined ? {} : { device: outcome.device }),
    ...(outcome.connection === undefined ? {} : { connection: outcome.connection }),
  };
  if (outcome.created !== undefined) {
    const after = outcome.created.ipv4;
    return {
      ...base,
      connection: { id: outcome.created.id, type: outcome.created.type },
      action: outcome.result === 'pending' ? 'create' : 'none',
      diff: diffNmcli(NO_IPV4, after),
      ipv4: { before: NO_IPV4, after },
    };
  }
  if (outcome.result === 'pending' && outcome.ipv4 !== undefined) {
    return {
      ...base,
      action: 'reapply',
      command: nmcliModifyCommand(outcome.device ?? outcome.hwaddr, outcome.ipv4.after, outcome.ipv6?.after),
      diff: diffNmcli(outcome.ipv4.before, outcome.ipv4.after),
      ipv4: outcome.ipv4,
      ...(outcome.ipv6 === undefined ? {} : { ipv6Diff: diffNmcli(outcome.ipv6.before, outcome.ipv6.after), ipv6: outcome.ipv6 }),
    };
  }
  if (outcome.result === 'unchanged') return { ...base, action: 'none' };
  return { ...base, action: 'skip', ...(outcome.reason === undefined ? {} : { reason: outcome.reason }) };
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function alignColumns(rows: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

const dash = (value: string | undefined): string => (value === undefined || value === '' ? '-' : value);

export function renderStatusText(status: StatusDocument): string {
  const facts: [string, string | undefined][] = [
    ['provider', `${status.provider.name} (${status.provider.metadataUrl})`],
    ['instance', status.instance.id],
    ['region', status.instance.region],
    ['zone', status.instance.zone],
    ['type', status.instance.type],
    ['name', status.instance.name],
    ['project', status.instance.project],
  ];
  const head = alignColumns(facts.filter(([, value]) => value !== undefined).map(([key, value]) => [`${key}:`, value ?? '']));
  const rows = alignColumns([
    ['HWADDR', 'DEVICE', 'PROFILE', 'ADDRESSES', 'SUBNET', 'GATEWAY', 'CONFIG'],
    ...status.interfaces.map((row) => [
      row.hwaddr,
      dash(row.device),
      dash(row.connection?.id),
      dash([...row.ipv4s, ...ipv6Cells(row), ...row.routes.map((route) => `route ${route}`)].join(',')),
      dash(row.subnet),
      dash(row.gateway),
      row.config === 'skipped' && row.reason !== undefined ? `skipped: ${row.reason}` : row.config,
    ]),
  ]);
  return [...head, '', ...rows].join('\n');
}

/** A row's IPv6 addresses, delegated prefixes and routes, each marked when a run does not configure them. */
function ipv6Cells(row: StatusInterface): string[] {
  const cells = ipv6Items({ addresses: row.ipv6s, prefixes: row.ipv6Prefixes, routes: row.ipv6Routes });
  return cells.map((cell) => (row.ipv6Applied === false ? `${cell}(not applied)` : cell));
}

/** A link's IPv6 metadata as text items: addresses, then `prefix …` and `route …`. */
function ipv6Items({
  addresses = [],
  prefixes = [],
  routes = [],
}: Partial<Pick<MetadataIpv6, 'addresses' | 'prefixes' | 'routes'>>): string[] {
  return [...addresses, ...prefixes.map((prefix) => `prefix ${prefix}`), ...routes.map((route) => `route ${route}`)];
}

/** The line under a device whose IPv6 metadata apply leaves alone. */
function ipv6NotAppliedLines(device: PlanRow): string[] {
  const ipv6 = device.metadataIpv6;
  const shown = ipv6 === undefined ? [] : ipv6Items(ipv6);
  if (ipv6 === undefined || ipv6.applied || shown.length === 0) return [];
  return [`  ipv6 in the metadata, not applied (NM_CLOUD_SETUP_IPV6 is off): ${shown.join(', ')}`];
}

export function renderPlanText(plan: PlanDocument): string {
  const lines: string[] = [];
  for (const device of plan.devices) {
    const name = `${device.device ?? device.hwaddr} (${device.hwaddr})`;
    const profile = device.connection === undefined ? '' : ` connection "${device.connection.id}"`;
    switch (device.action) {
      case 'none':
        lines.push(`${name}${profile}: no change`);
        break;
      case 'skip':
        lines.push(`${name}${profile}: skip${device.reason === undefined ? '' : `: ${device.reason}`}`);
        break;
      case 'create':
        lines.push(`${name}: create${device.connection?.type === undefined ? '' : ` ${device.connection.type}`}${profile}`);
        lines.push(...diffLines(device.diff));
        break;
      case 'reapply':
        lines.push(`${name}${profile}: reapply`);
        lines.push(`  ${device.command ?? ''}`);
        lines.push(...diffLines(device.diff));
        lines.push(...diffLines(device.ipv6Diff, 'ipv6 '));
        break;
    }
    lines.push(...ipv6NotAppliedLines(device));
  }
  lines.push(plan.pending === 0 ? 'Nothing to change.' : `${plan.pending} ${plan.pending === 1 ? 'device' : 'devices'} would change.`);
  return lines.join('\n');
}

function diffLines(diff: Ipv4Diff | undefined, family = ''): string[] {
  if (diff === undefined) return [];
  const lines: string[] = [];
  for (const [list, word] of [
    ['addresses', 'address'],
    ['routes', 'route'],
    ['rules', 'rule'],
  ] as const) {
    for (const entry of diff[list].removed) lines.push(`  - ${family}${word} ${entry}`);
    for (const entry of diff[list].added) lines.push(`  + ${family}${word} ${entry}`);
  }
  return lines;
}
