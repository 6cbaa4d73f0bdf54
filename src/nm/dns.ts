// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * ipv4.dns and ipv6.dns in their D-Bus forms: `au` (in_addr_t in network byte order, marshalled
 * as a host-order u32) and `aay` (16 bytes each). Every daemon version takes these; `dns-data`
 * (as) exists only on newer ones, so it is read when present but never written.
 */
import ipaddr from 'ipaddr.js';
import type { AddressFamily } from '../model.js';
import type { DbusValue, SettingsDict } from './settings.js';

function ipv4ToInAddr(address: string): number {
  const [a = 0, b = 0, c = 0, d = 0] = address.split('.').map(Number);
  return (a | (b << 8) | (c << 16) | (d << 24)) >>> 0;
}

function inAddrToIpv4(value: number): string {
  return [0, 8, 16, 24].map((shift) => (value >>> shift) & 0xff).join('.');
}

/** The family's DNS servers in canonical text form, in order; empty when there are none. */
export function readDns(settings: SettingsDict, family: AddressFamily): string[] {
  const setting = settings[family];
  const data = setting?.['dns-data']?.value;
  if (Array.isArray(data) && data.length > 0) return data.map((server) => canonical(String(server).split('#')[0] ?? ''));
  const legacy = setting?.['dns']?.value;
  if (!Array.isArray(legacy)) return [];
  if (family === 'ipv4') return legacy.map((value) => inAddrToIpv4(Number(value)));
  return legacy.map((bytes) => ipaddr.fromByteArray([...(bytes as Iterable<number>)]).toString());
}

function canonical(text: string): string {
  return ipaddr.isValid(text) ? ipaddr.parse(text).toString() : text;
}

/** The `dns` property for `servers` of one family. */
export function dnsValue(family: AddressFamily, servers: readonly string[]): DbusValue {
  if (family === 'ipv4') return { signature: 'au', value: servers.map(ipv4ToInAddr) };
  return { signature: 'aay', value: servers.map((server) => Buffer.from(ipaddr.IPv6.parse(server).toByteArray())) };
}
