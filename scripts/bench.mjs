// SPDX-License-Identifier: LGPL-2.1-or-later
// `npm run bench` [--quick] [--runs N] [--json]: the bench and the fake NetworkManager it drives
// are TypeScript, which Node 20 cannot run, so bundle scripts/bench/main.ts with esbuild first.
// The bundle goes under node_modules/ so its bare imports (dbus-next) resolve from there; one
// file per process, so a test and a manual run at the same time do not overwrite each other.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const outfile = join(root, 'node_modules', '.cache', 'nm-cloud-setup-bench', `main-${process.pid}.mjs`);
await build({
  entryPoints: [join(root, 'scripts', 'bench', 'main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
});
let main;
try {
  ({ main } = await import(pathToFileURL(outfile).href));
} finally {
  await rm(outfile, { force: true });
}
process.exitCode = await main(process.argv.slice(2), root);
