// SPDX-License-Identifier: LGPL-2.1-or-later
// The address part mirrors upstream's only unit test (/cloud-setup/general/replace-ipv4-addresses).
import { describe, expect, it } from 'vitest';
import { addressEntry, entryKey, routeEntry, ruleEntry, type DbusDict, type FamilyLists } from '../../src/nm/settings.js';
import { listsDifferFrom, mergeLists } from '../../src/plan/family-lists.js';

const ADDRESSES = ['192.168.5.1', '192.168.5.2', '192.168.5.3', '192.168.5.4'].map((a) => addressEntry(a, 24));
const lists = (addresses: readonly DbusDict[]): FamilyLists => ({ addresses, routes: [], rules: [] });
const keys = (entries: readonly DbusDict[]): string[] => entries.map((entry) => entryKey(entry, 'address'));

/** Deterministic PRNG so a failure is reproducible. */
function prng(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

describe('replacing ipv4 addresses', () => {
  const fixed: [string, DbusDict[], DbusDict[]][] = [
    ['empty -> empty', [], []],
    ['empty -> 1', [], ADDRESSES.slice(0, 1)],
    ['empty -> 2', [], ADDRESSES.slice(0, 2)],
    ['1 -> empty', ADDRESSES.slice(0, 1), []],
    ['1 -> same', ADDRESSES.slice(0, 1), ADDRESSES.slice(0, 1)],
    ['2 -> empty', ADDRESSES.slice(0, 2), []],
    ['2 -> first', ADDRESSES.slice(0, 2), ADDRESSES.slice(0, 1)],
    ['2 -> second', ADDRESSES.slice(0, 2), ADDRESSES.slice(1, 2)],
  ];
  it.each(fixed)('%s', (_name, before, after) => {
    const desired = mergeLists(lists(after));
    const changed = listsDifferFrom(lists(before), desired);
    expect(changed).toBe(JSON.stringify(keys(before)) !== JSON.stringify(keys(after)));
    expect(keys(desired.addresses)).toEqual(keys(after));
  });

  it('20 random shuffles: changed exactly when the ordered lists differ, result equals the new list', () => {
    const random = prng(42);
    for (let run = 0; run < 20; run++) {
      const before = shuffle(ADDRESSES.slice(0, Math.floor(random() * 5)), random);
      const after = shuffle(ADDRESSES.slice(0, Math.floor(random() * 5)), random);
      const desired = mergeLists(lists(after));
      expect(listsDifferFrom(lists(before), desired)).toBe(JSON.stringify(keys(before)) !== JSON.stringify(keys(after)));
      expect(keys(desired.addresses)).toEqual(keys(after));
    }
  });

  it('order matters: [A, B] vs [B, A] is a change', () => {
    const [a, b] = ADDRESSES as [DbusDict, DbusDict];
    expect(listsDifferFrom(lists([a, b]), mergeLists(lists([b, a])))).toBe(true);
  });

  it('attributes take part in equality, but not in de-duplication', () => {
    const labelled = { ...addressEntry('192.168.5.1', 24), label: { signature: 's', value: 'eth0:1' } };
    expect(listsDifferFrom(lists([labelled]), mergeLists(lists([addressEntry('192.168.5.1', 24)])))).toBe(true);
    expect(keys(mergeLists(lists([labelled]), lists([addressEntry('192.168.5.1', 24)])).addresses)).toEqual(keys([labelled]));
  });
});

describe('routes and rules', () => {
  it('a route differs by any attribute; identical routes are merged', () => {
    const route = routeEntry({ dest: '10.0.0.0', prefix: 24, metric: 10, table: 30200 });
    const other = routeEntry({ dest: '10.0.0.0', prefix: 24, metric: 10, table: 30201 });
    expect(mergeLists({ addresses: [], routes: [route, other, route], rules: [] }).routes).toEqual([route, other]);
    expect(listsDifferFrom({ addresses: [], routes: [route], rules: [] }, { addresses: [], routes: [other], rules: [] })).toBe(true);
  });

  it('rules compare equal however NM spells defaults (u vs t widths, explicit action/invert)', () => {
    const ours = ruleEntry({ priority: 30200, from: '10.0.0.5', table: 30200 });
    const fromDaemon: DbusDict = {
      ...ours,
      priority: { signature: 'u', value: 30200 },
      action: { signature: 'y', value: 1 },
      invert: { signature: 'b', value: false },
      'to-len': { signature: 'y', value: 0 },
    };
    expect(entryKey(fromDaemon, 'rule')).toBe(entryKey(ours, 'rule'));
    const main = ruleEntry({ priority: 30350, table: 254, suppressPrefixlength: 0 });
    expect(entryKey(main, 'rule')).not.toBe(entryKey(ruleEntry({ priority: 30350, table: 254 }), 'rule'));
  });
});
