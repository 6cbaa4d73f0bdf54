// SPDX-License-Identifier: LGPL-2.1-or-later

const HEX = /^[0-9a-fA-F]{1,2}$/;

/**
 * Normalizes a MAC address as upstream's hwaddr_normalize(): trims whitespace, accepts one
 * trailing NUL, `:` or `-` separators used consistently (single hex digits allowed), or exactly
 * 12 hex digits with no separator (Azure's form). Returns upper-case colon form, or undefined.
 */
export function normalizeHwaddr(text: string): string | undefined {
  let value = text.trim();
  if (value.endsWith('\0')) value = value.slice(0, -1).trim();
  if (value.includes('\0')) return undefined;
  let octets: string[];
  const separator = value.match(/[:-]/)?.[0];
  if (separator === undefined) {
    if (!/^[0-9a-fA-F]{12}$/.test(value)) return undefined;
    octets = value.match(/../g) ?? [];
  } else {
    octets = value.split(separator);
    if (octets.length !== 6 || !octets.every((octet) => HEX.test(octet))) return undefined;
  }
  return octets.map((octet) => octet.padStart(2, '0').toUpperCase()).join(':');
}
