// SPDX-License-Identifier: LGPL-2.1-or-later
import type { Cidr } from '../model.js';
import { parseAddressList } from './address-list.js';

const OCTET = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])$/;

/** Parses a dotted-quad strictly, as inet_pton(AF_INET): no whitespace, no octal or short forms. */
export function parseIpv4(text: string): string | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((part) => OCTET.test(part))) return undefined;
  return text;
}

/** Parses strict addresses out of already-split pieces; empty pieces are skipped, invalid ones returned. */
export function parseIpv4List(pieces: readonly string[]): { ipv4s: string[]; invalid: string[] } {
  const { addresses, invalid } = parseAddressList(pieces, parseIpv4);
  return { ipv4s: addresses, invalid };
}

/** Parses `addr/prefix`: strict address, decimal prefix 0..32 with optional surrounding whitespace. */
export function parseIpv4Cidr(text: string): Cidr | undefined {
  // Upstream accepts a missing "/prefix" as prefix -1 and EC2/OCI then store it as 255 in a
  // guint8, which later crashes; a CIDR without a prefix is simply invalid here.
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const address = parseIpv4(text.slice(0, slash));
  const prefixText = text.slice(slash + 1).trim();
  if (address === undefined || !/^[0-9]{1,2}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  return prefix <= 32 ? { address, prefix } : undefined;
}

/** The address as a 32-bit unsigned integer. */
export function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((value, octet) => value * 256 + Number(octet), 0);
}

/** A 32-bit unsigned integer as a dotted quad. */
export function numberToIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.');
}

/** The address with its host bits cleared, as upstream's nm_ip4_addr_clear_host_address(). */
export function networkAddress(address: string, prefix: number): string {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return numberToIpv4((ipv4ToNumber(address) & mask) >>> 0);
}

/**
 * The gateway a cloud subnet implies: the network address with 1 added to the last octet, without
 * carry, unless the prefix is 32 (EC2 and Azure give no gateway; their router is the first host).
 */
export function defaultGateway(cidr: Cidr): string {
  const network = networkAddress(cidr.address, cidr.prefix);
  if (cidr.prefix === 32) return network;
  const octets = network.split('.').map(Number);
  octets[3] = ((octets[3] ?? 0) + 1) & 0xff;
  return octets.join('.');
}

/** Prefix length of a dotted netmask such as 255.255.240.0; undefined unless the ones are contiguous. */
export function netmaskToPrefix(text: string): number | undefined {
  if (parseIpv4(text) === undefined) return undefined;
  const hostBits = ~ipv4ToNumber(text) >>> 0;
  // Host bits must be a run of low ones: 0b0..01..1 plus one is a power of two.
  if ((hostBits & (hostBits + 1)) !== 0) return undefined;
  return 32 - hostBits.toString(2).replace(/0/g, '').length;
}
