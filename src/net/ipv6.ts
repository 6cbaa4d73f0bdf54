// SPDX-License-Identifier: LGPL-2.1-or-later
import { isIPv6 } from 'node:net';
import { ipv4ToNumber, parseIpv4 } from './ipv4.js';

const ALL_ONES = (1n << 128n) - 1n;

/**
 * The 128-bit value of an IPv6 address in any textual form inet_pton(AF_INET6) takes (compressed,
 * mixed case, trailing dotted quad); undefined for anything else. A zone index ("%eth0") is
 * rejected: node:net accepts it, but it names no address a profile can carry.
 */
export function ipv6ToBigInt(text: string): bigint | undefined {
  if (text.includes('%') || !isIPv6(text)) return undefined;
  let body = text;
  const tail: number[] = [];
  const quad = /[0-9.]+$/.exec(text)?.[0];
  if (quad?.includes('.') === true) {
    const address = parseIpv4(quad);
    if (address === undefined) return undefined;
    const value = ipv4ToNumber(address);
    tail.push(value >>> 16, value & 0xffff);
    body = text.slice(0, -quad.length);
    // "::ffff:1.2.3.4" leaves "::ffff:", and "::1.2.3.4" leaves "::".
    if (body.endsWith(':') && !body.endsWith('::')) body = body.slice(0, -1);
  }
  const [head = '', rest] = body.split('::');
  const split = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const before = split(head);
  const after = rest === undefined ? [] : split(rest);
  const zeros = 8 - tail.length - before.length - after.length;
  const groups = [...before, ...new Array<number>(rest === undefined ? 0 : zeros).fill(0), ...after, ...tail];
  if (groups.length !== 8) return undefined;
  return groups.reduce((value, group) => (value << 16n) | BigInt(group), 0n);
}

/** A 128-bit value in RFC 5952 form: lower case, the longest run of two or more zero groups (leftmost on a tie) as "::". */
export function bigIntToIpv6(value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = { start: -1, length: 1 };
  let start = -1;
  groups.forEach((group, i) => {
    if (group !== 0) start = -1;
    else {
      if (start < 0) start = i;
      if (i - start + 1 > best.length) best = { start, length: i - start + 1 };
    }
  });
  const hex = groups.map((group) => group.toString(16));
  if (best.start < 0) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
}

/** Parses an IPv6 address and returns it in canonical (RFC 5952) form, or undefined. */
export function parseIpv6(text: string): string | undefined {
  const value = ipv6ToBigInt(text);
  return value === undefined ? undefined : bigIntToIpv6(value);
}

/** Prefix length of an IPv6 mask such as ffff:ffff:ffff:ffff::; undefined unless the ones are contiguous. */
export function ipv6MaskToPrefix(text: string): number | undefined {
  const mask = ipv6ToBigInt(text);
  if (mask === undefined) return undefined;
  const hostBits = ~mask & ALL_ONES;
  // Host bits must be a run of low ones: 0b0..01..1 plus one is a power of two.
  if ((hostBits & (hostBits + 1n)) !== 0n) return undefined;
  return 128 - hostBits.toString(2).replace(/0/g, '').length;
}

/** The canonical address with its host bits cleared (the destination form a kernel route needs). */
export function ipv6NetworkAddress(address: string, prefix: number): string | undefined {
  const value = ipv6ToBigInt(address);
  if (value === undefined) return undefined;
  const mask = prefix === 0 ? 0n : (ALL_ONES << BigInt(128 - prefix)) & ALL_ONES;
  return bigIntToIpv6(value & mask);
}
