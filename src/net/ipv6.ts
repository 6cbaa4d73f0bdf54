// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * IPv6 text forms through ipaddr.js: strict parsing, the canonical (RFC 5952) text the tool
 * logs, compares and sends, and the network of an address. Metadata servers spell addresses
 * their own way (EC2 and OCI in full, Aliyun compressed); one canonical text makes them compare.
 */
import ipaddr from 'ipaddr.js';
import type { Cidr } from '../model.js';
import { parseAddressList } from './address-list.js';

/** The canonical text of an IPv6 address, or undefined: no zone index, no IPv4 text, no whitespace. */
export function parseIpv6(text: string): string | undefined {
  if (text.includes('%') || !ipaddr.IPv6.isValid(text)) return undefined;
  return ipaddr.IPv6.parse(text).toString();
}

/** Parses `addr/prefix` (prefix 0..128); the address is returned in canonical text. */
export function parseIpv6Cidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const address = parseIpv6(text.slice(0, slash));
  const prefixText = text.slice(slash + 1).trim();
  if (address === undefined || !/^[0-9]{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  return prefix <= 128 ? { address, prefix } : undefined;
}

/** Parses strict addresses out of already-split pieces; empty pieces are skipped, invalid ones returned. */
export function parseIpv6List(pieces: readonly string[]): { ipv6s: string[]; invalid: string[] } {
  const { addresses, invalid } = parseAddressList(pieces, parseIpv6);
  return { ipv6s: addresses, invalid };
}

/** The address with its host bits cleared, in canonical text. */
export function ipv6NetworkAddress(address: string, prefix: number): string {
  return ipaddr.IPv6.networkAddressFromCIDR(`${address}/${prefix}`).toString();
}

/** Prefix length of an IPv6 mask such as ffff:ffff:ffff:ffff::; undefined unless the ones are contiguous. */
export function ipv6MaskToPrefix(text: string): number | undefined {
  const mask = parseIpv6(text);
  return mask === undefined ? undefined : (ipaddr.IPv6.parse(mask).prefixLengthFromSubnetMask() ?? undefined);
}
