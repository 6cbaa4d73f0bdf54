// SPDX-License-Identifier: LGPL-2.1-or-later
// `npm run demo [-- --provider ec2|gcp|azure|aliyun|oci] [--nics N] [--name NAME]`: the tool at
// work on a real NetworkManager in network namespaces, against a simulated cloud (see
// scripts/demo/main.ts). The demo reuses the TypeScript test harness, which Node 20 cannot run,
// so bundle scripts/demo/main.ts with esbuild first, as scripts/bench.mjs does. The bundle goes to
// a private temporary directory: it has no bare imports, and the demo must get as far as saying
// "needs root" even for a user who cannot write to node_modules/.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

// The harness finds realnm.sh and imds-server.mjs next to itself through import.meta.url; in a
// bundle that would be the bundle's own location, so give each module its source file's URL.
const keepImportMetaUrl = {
  name: 'keep-import-meta-url',
  setup(plugin) {
    plugin.onLoad({ filter: /\.ts$/ }, async (args) => ({
      contents: (await readFile(args.path, 'utf8')).replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)),
      loader: 'ts',
    }));
  },
};

const dir = await mkdtemp(join(tmpdir(), 'nm-cloud-setup-demo-'));
const outfile = join(dir, 'main.mjs');
let main;
try {
  await build({
    entryPoints: [join(root, 'scripts', 'demo', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    plugins: [keepImportMetaUrl],
  });
  ({ main } = await import(pathToFileURL(outfile).href));
} finally {
  await rm(dir, { recursive: true, force: true });
}
process.exitCode = await main(process.argv.slice(2));
