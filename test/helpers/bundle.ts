// SPDX-License-Identifier: LGPL-2.1-or-later
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Absolute path of the shipped bundle; `npm test` builds it first. */
export function bundlePath(): string {
  const path = fileURLToPath(new URL('../../dist/nm-cloud-setup.cjs', import.meta.url));
  if (!existsSync(path)) throw new Error(`${path} is missing: run "npm run build" first (npm test does)`);
  return path;
}
