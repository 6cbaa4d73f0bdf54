// SPDX-License-Identifier: LGPL-2.1-or-later
// `make install` into a temporary DESTDIR, as a distribution package build does.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bundlePath, REPO_ROOT } from './bundle.js';
import { makeScratchDir } from './scratch.js';

const run = promisify(execFile);

export interface InstalledTree {
  readonly destdir: string;
  /** The file an installed absolute path (e.g. /usr/libexec/nm-cloud-setup) landed on. */
  at(path: string): string;
  /** Deletes the DESTDIR. */
  remove(): void;
}

/**
 * Installs with PREFIX=/usr into a new directory outside the checkout, so nothing can resolve
 * node_modules from there. `-o` keeps make from rebuilding the bundle that `npm test` built
 * (other test files run it concurrently).
 */
export async function installTree(
  target: 'install' | 'uninstall' = 'install',
  destdir?: string,
  variables: readonly string[] = ['PREFIX=/usr'],
): Promise<InstalledTree> {
  const dir = destdir ?? makeScratchDir('nmcs-destdir-');
  await run('make', ['-s', '-o', bundlePath(), target, `DESTDIR=${dir}`, ...variables], { cwd: REPO_ROOT });
  return { destdir: dir, at: (path) => join(dir, path), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
