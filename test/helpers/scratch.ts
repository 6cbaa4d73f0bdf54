// SPDX-License-Identifier: LGPL-2.1-or-later
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';

/** A new directory under the system's temporary directory; the caller removes it. */
export function makeScratchDir(prefix = 'nmcs-scratch-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A directory for one run's state.json ($RUNTIME_DIRECTORY), never the machine's /run. */
export function makeStateDir(): string {
  return makeScratchDir('nmcs-state-');
}

/** makeScratchDir(), removed when the current test ends. */
export function scratchDir(prefix?: string): string {
  const dir = makeScratchDir(prefix);
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
