// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The ipv4 lists in nmcli's own syntax (nm-settings-nmcli(5)), so a plan reads like the
 * command an admin would type, and a diff of two lists in that vocabulary.
 */
import type { AddressFamily, NmcliLists } from '../model.js';
import { readDns } from '../nm/dns.js';
import { getString, readFamilyLists, readIpv4Lists, type DbusDict, type FamilyLists, type SettingsDict } from '../nm/settings.js';

/** What changes in each list: entries only in the new list, and only in the old one. */
export interface Ipv4Diff {
  readonly addresses: ListDiff;
  readonly routes: ListDiff;
  readonly rules: ListDiff;
}

export interface ListDiff {
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

const plain = (value: unknown): unknown => (typeof value === 'bigint' ? Number(value) : value);
const valueOf = (entry: DbusDict, key: string): unknown => plain(entry[key]?.value);

/** "10.0.0.5/24" */
export function nmcliAddress(entry: DbusDict): string {
  return `${String(valueOf(entry, 'address'))}/${String(valueOf(entry, 'prefix'))}`;
}

// route-data keys that nmcli prints positionally rather than as attributes.
const ROUTE_POSITIONAL = new Set(['dest', 'prefix', 'next-hop', 'metric']);

/** "0.0.0.0/0 10.0.0.1 10 table=30400": ip/prefix [next-hop] [metric] [attribute=value]... */
export function nmcliRoute(entry: DbusDict): string {
  const parts = [`${String(valueOf(entry, 'dest'))}/${String(valueOf(entry, 'prefix'))}`];
  const nextHop = valueOf(entry, 'next-hop');
  const metric = valueOf(entry, 'metric');
  if (nextHop !== undefined) parts.push(String(nextHop));
  if (metric !== undefined) parts.push(String(metric));
  for (const key of Object.keys(entry).sort()) {
    if (!ROUTE_POSITIONAL.has(key)) parts.push(`${key}=${String(valueOf(entry, key))}`);
  }
  return parts.join(' ');
}

/** "priority 30400 from 10.0.0.5 table 30400", in the order nmcli prints a rule. */
export function nmcliRule(entry: DbusDict): string {
  const parts: string[] = [];
  const add = (word: string, value: unknown): void => {
    if (value !== undefined) parts.push(word, String(value));
  };
  add('priority', valueOf(entry, 'priority'));
  if (valueOf(entry, 'invert') === true) parts.push('not');
  for (const side of ['from', 'to'] as const) {
    const address = valueOf(entry, side);
    const length = valueOf(entry, `${side}-len`);
    // A host (/32, /128) is printed without its length, as nmcli does.
    const isHost = length === (valueOf(entry, 'family') === 10 ? 128 : 32);
    if (address !== undefined && length !== 0) parts.push(side, isHost ? String(address) : `${String(address)}/${String(length)}`);
  }
  add('iif', valueOf(entry, 'iifname'));
  add('oif', valueOf(entry, 'oifname'));
  const fwmark = valueOf(entry, 'fwmark');
  if (typeof fwmark === 'number' && fwmark !== 0)
    parts.push('fwmark', `0x${fwmark.toString(16)}/0x${Number(valueOf(entry, 'fwmask') ?? 0).toString(16)}`);
  const table = valueOf(entry, 'table');
  if (table !== undefined && table !== 0) parts.push('table', String(table));
  const suppress = valueOf(entry, 'suppress-prefixlength');
  if (typeof suppress === 'number' && suppress >= 0) parts.push('suppress_prefixlength', String(suppress));
  return parts.join(' ');
}

/** The lists of a connection without an ipv4 setting, and of nothing yet created. */
export const NO_IPV4: NmcliLists = { addresses: [], routes: [], rules: [] };

/** A connection's ipv4 lists as nmcli strings; empty when it has no ipv4 setting. */
export function nmcliIpv4Of(settings: SettingsDict): NmcliLists {
  const lists = readIpv4Lists(settings);
  return lists === undefined ? NO_IPV4 : toNmcli(lists);
}

/** A connection's lists of `family` as nmcli strings; empty when it has no such setting. */
export function nmcliListsOf(settings: SettingsDict, family: AddressFamily): NmcliLists {
  const lists = readFamilyLists(settings, family);
  return lists === undefined ? NO_IPV4 : toNmcli(lists);
}

/** nmcliListsOf() plus the family's method, gateway ("" when none) and DNS servers. */
export function nmcliFamilyOf(settings: SettingsDict, family: AddressFamily): NmcliLists {
  return {
    ...nmcliListsOf(settings, family),
    method: getString(settings, family, 'method') ?? '',
    gateway: getString(settings, family, 'gateway') ?? '',
    dns: readDns(settings, family),
  };
}

/** Renders NM's aa{sv} lists as nmcli strings. */
export function toNmcli(lists: FamilyLists): NmcliLists {
  return {
    addresses: lists.addresses.map(nmcliAddress),
    routes: lists.routes.map(nmcliRoute),
    rules: lists.rules.map(nmcliRule),
  };
}

/** Per list: what `after` adds to `before` and what it drops (order changes alone are not listed). */
export function diffNmcli(before: NmcliLists, after: NmcliLists): Ipv4Diff {
  const diff = (old: readonly string[], now: readonly string[]): ListDiff => ({
    added: now.filter((entry) => !old.includes(entry)),
    removed: old.filter((entry) => !now.includes(entry)),
  });
  return {
    addresses: diff(before.addresses, after.addresses),
    routes: diff(before.routes, after.routes),
    rules: diff(before.rules, after.rules),
  };
}

/** Single-quotes a word for a POSIX shell. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The nmcli command with the same effect as the Reapply: `nmcli device modify` changes only the
 * applied connection, never the profile on disk. Lists are given whole, as Reapply sets them.
 */
export function nmcliModifyCommand(iface: string, after: NmcliLists, afterIpv6?: NmcliLists): string {
  const words = [
    ...['nmcli', 'device', 'modify', iface],
    ...familyWords('ipv4', after),
    ...(afterIpv6 === undefined ? [] : familyWords('ipv6', afterIpv6)),
  ];
  return words.map((word) => (word === '' ? "''" : shellQuote(word))).join(' ');
}

/**
 * `<family>.addresses … <family>.routes … <family>.routing-rules …`, each list whole, then the
 * method, gateway and dns for lists that carry them (OpenStack).
 */
function familyWords(family: AddressFamily, lists: NmcliLists): string[] {
  return [
    `${family}.addresses`,
    lists.addresses.join(', '),
    `${family}.routes`,
    lists.routes.join(', '),
    `${family}.routing-rules`,
    lists.rules.join(', '),
    ...(lists.method === undefined ? [] : [`${family}.method`, lists.method]),
    ...(lists.gateway === undefined ? [] : [`${family}.gateway`, lists.gateway]),
    ...(lists.dns === undefined ? [] : [`${family}.dns`, lists.dns.join(',')]),
  ];
}
