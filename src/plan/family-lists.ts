// SPDX-License-Identifier: LGPL-2.1-or-later
import { addressIdentity, entryKey, type DbusDict, type FamilyLists } from '../nm/settings.js';

/**
 * Concatenates the profile's static entries and the cloud part, dropping duplicates the way
 * upstream's replace routine skips them while appending: addresses by address/prefix (attributes
 * ignored, first one wins), routes and rules by full identity.
 */
export function mergeLists(...parts: readonly FamilyLists[]): FamilyLists {
  return {
    addresses: dedupe(
      parts.flatMap((part) => part.addresses),
      addressIdentity,
    ),
    routes: dedupe(
      parts.flatMap((part) => part.routes),
      (entry) => entryKey(entry, 'route'),
    ),
    rules: dedupe(
      parts.flatMap((part) => part.rules),
      (entry) => entryKey(entry, 'rule'),
    ),
  };
}

/**
 * True when `desired` differs from `current` as ordered lists. Upstream compares before removing
 * duplicates from `desired` and so reports a change on every run when the profile and the
 * metadata share an address; comparing the de-duplicated list is what it meant.
 */
export function listsDifferFrom(current: FamilyLists, desired: FamilyLists): boolean {
  return (
    listsDiffer(current.addresses, desired.addresses, 'address') ||
    listsDiffer(current.routes, desired.routes, 'route') ||
    listsDiffer(current.rules, desired.rules, 'rule')
  );
}

function listsDiffer(current: readonly DbusDict[], desired: readonly DbusDict[], kind: Parameters<typeof entryKey>[1]): boolean {
  return current.length !== desired.length || current.some((entry, i) => entryKey(entry, kind) !== entryKey(desired[i] ?? {}, kind));
}

function dedupe(entries: readonly DbusDict[], identity: (entry: DbusDict) => string): DbusDict[] {
  const seen = new Set<string>();
  return entries.filter((entry) => {
    const key = identity(entry);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
