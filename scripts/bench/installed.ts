// SPDX-License-Identifier: LGPL-2.1-or-later
// The tool as the unit runs it: `make install` into a scratch DESTDIR with this node, so the
// bench measures the installed loader with the V8 code cache made for this node and the unit's
// flags, not the bare bundle.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface InstalledTool {
  /** The installed $(libexecdir)/nm-cloud-setup. */
  readonly path: string;
  remove(): void;
}

export function installTool(repoRoot: string, bundle: string): InstalledTool {
  const destdir = mkdtempSync(join(tmpdir(), 'nmcs-bench-install-'));
  // -o: use the bundle that is there (npm run build made it), never rebuild it from here.
  execFileSync('make', ['-s', '-o', bundle, 'install', `DESTDIR=${destdir}`, 'PREFIX=/usr', `NODE=${process.execPath}`], {
    cwd: repoRoot,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return { path: join(destdir, 'usr', 'libexec', 'nm-cloud-setup'), remove: () => rmSync(destdir, { recursive: true, force: true }) };
}
