// SPDX-License-Identifier: LGPL-2.1-or-later

/**
 * Parses strict addresses out of already-split pieces with `parse` (which returns the address's
 * text, or undefined when it is not one); empty pieces are skipped, invalid ones returned.
 */
export function parseAddressList(
  pieces: readonly string[],
  parse: (text: string) => string | undefined,
): { addresses: string[]; invalid: string[] } {
  const addresses: string[] = [];
  const invalid: string[] = [];
  for (const piece of pieces) {
    if (piece === '') continue;
    const address = parse(piece);
    if (address === undefined) invalid.push(piece);
    else addresses.push(address);
  }
  return { addresses, invalid };
}
