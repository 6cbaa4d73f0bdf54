// SPDX-License-Identifier: LGPL-2.1-or-later
// `npm run bench` [--quick] [--runs N] [--json]: the bench and the fake NetworkManager it drives
// are TypeScript, which Node 20 cannot run, so bundle scripts/bench/main.ts with esbuild first.
// The bundle goes under node_modules/ so its bare imports (dbus-next) resolve from there; one
// file per process, so a test and a manual run at the same time do not overwrite each other.
import { readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
// The harness and the bench find their scripts (realnm.sh, delay-proxy.mjs) next to their own
// source: keep import.meta pointing at each source file, not at the bundle.
const keepImportMeta = {
  name: 'keep-import-meta',
  setup(context) {
    context.onLoad({ filter: /\/(test\/harness|scripts\/bench)\/[^/]+\.ts$/ }, async ({ path }) => ({
      loader: 'ts',
      contents: (await readFile(path, 'utf8'))
        .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(path).href))
        .replaceAll('import.meta.dirname', JSON.stringify(dirname(path))),
    }));
  },
};
const outfile = join(root, 'node_modules', '.cache', 'nm-cloud-setup-bench', `main-${process.pid}.mjs`);
await build({
  entryPoints: [join(root, 'scripts', 'bench', 'main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  plugins: [keepImportMeta],
  logLevel: 'warning',
});
let main;
try {
  ({ main } = await import(pathToFileURL(outfile).href));
} finally {
  await rm(outfile, { force: true });
}
process.exitCode = await main(process.argv.slice(2), root);
