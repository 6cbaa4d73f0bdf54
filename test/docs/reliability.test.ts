// SPDX-License-Identifier: LGPL-2.1-or-later
// docs/reliability.md stays in step with the tests: every test its fault matrix names exists,
// and every test of the fault files is in the matrix.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/bundle.js';

const DOC = readFileSync(join(REPO_ROOT, 'docs', 'reliability.md'), 'utf8');
const FAULT_FILES = ['test/e2e/realnm-faults.test.ts', 'test/nm/run-fake-nm-faults.test.ts', 'test/nm/dbus-client.test.ts'];

/** `file` › “title” pairs of the matrix. */
const named = [...DOC.matchAll(/`(test\/[^`]+\.test\.ts)` › “([^”]+)”/g)].map(([, file = '', title = '']) => ({ file, title }));

/** Titles of it()/test() calls (also .each) in a test file, as written (quotes unescaped). */
function titlesIn(file: string): string[] {
  const source = readFileSync(join(REPO_ROOT, file), 'utf8');
  const call = /\b(?:it|test)(?:\.each\((?:[^()]|\([^()]*\))*\))?\(\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")/g;
  return [...source.matchAll(call)].map(([, single, double]) => (single ?? double ?? '').replace(/\\(.)/g, '$1'));
}

describe('docs/reliability.md', () => {
  it('names tests', () => {
    expect(named.length).toBeGreaterThan(20);
  });

  it('every test it names exists, in the file it names', () => {
    const missing = named.filter(({ file, title }) => !existsSync(join(REPO_ROOT, file)) || !titlesIn(file).includes(title));
    expect(missing).toEqual([]);
  });

  it('every test of the fault files is in the matrix', () => {
    const listed = new Set(named.map(({ file, title }) => `${file} › ${title}`));
    const unlisted = FAULT_FILES.flatMap((file) => titlesIn(file).map((title) => `${file} › ${title}`)).filter((test) => !listed.has(test));
    expect(unlisted).toEqual([]);
  });
});
