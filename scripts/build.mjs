// SPDX-License-Identifier: LGPL-2.1-or-later
// Bundles src/main.ts and its runtime dependencies into one executable file,
// dist/nm-cloud-setup.cjs, which `make install` copies to $(libexecdir)/nm-cloud-setup.
import { chmod, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const OUTFILE = 'dist/nm-cloud-setup.cjs';

/**
 * got imports its HTTP/2, HTTP-cache and DNS-cache machinery eagerly, though only the http2,
 * cache and dnsCache options reach it; we set none of them (test/architecture.test.ts checks
 * http.ts). Evaluating that code is about half of got's start-up cost under --jitless, so the
 * bundle gets stand-ins that throw if ever reached (scripts/build-stubs/).
 */
const UNUSED_GOT_FEATURES = ['http2-wrapper', 'cacheable-request', 'cacheable-lookup'];
/**
 * Loaded lazily instead (scripts/build-stubs/xml2js.js): dbus-next evaluates xml2js, xmlbuilder
 * and sax on connecting, for introspection we never do; about 5 ms of an EC2 run under --jitless.
 */
const LAZY_MODULES = ['xml2js'];
const stubUnusedGotFeatures = {
  name: 'stub-unused-got-features',
  setup(context) {
    const filter = new RegExp(`^(${[...UNUSED_GOT_FEATURES, ...LAZY_MODULES].join('|')})$`);
    context.onResolve({ filter }, ({ path }) => ({
      path: fileURLToPath(new URL(`build-stubs/${path}.js`, import.meta.url)),
    }));
  },
};

/**
 * @sindresorhus/is (got's validation) builds two Intl.ListFormat objects when it is evaluated, for
 * its error messages only. The first Intl object loads ICU's data: about 10 ms of every EC2 run
 * under --jitless, before the first request. Build them on first use instead; the messages are the
 * same. The build fails if the package's text changes, so the patch never silently stops working.
 */
const IS_ENTRY = /node_modules\/@sindresorhus\/is\/distribution\/index\.js$/;
const EAGER_LIST_FORMAT = /^const (andFormatter|orFormatter) = new Intl\.ListFormat\(('en', \{[^}]*\})\);$/gm;
const lazyIntlInIs = {
  name: 'lazy-intl-in-is',
  setup(context) {
    context.onLoad({ filter: IS_ENTRY }, async ({ path }) => {
      const text = await readFile(path, 'utf8');
      const patched = text.replace(
        EAGER_LIST_FORMAT,
        (_, name, args) =>
          `let ${name}Instance;\nconst ${name} = { format: (list) => (${name}Instance ??= new Intl.ListFormat(${args})).format(list) };`,
      );
      if ((patched.match(/Instance \?\?= new Intl\.ListFormat/g) ?? []).length !== 2) {
        throw new Error(`${path}: its Intl.ListFormat lines changed; update lazyIntlInIs in scripts/build.mjs`);
      }
      return { contents: patched, loader: 'js' };
    });
  },
};

await build({
  entryPoints: ['src/main.ts'],
  outfile: OUTFILE,
  bundle: true,
  platform: 'node',
  target: 'node20',
  // CommonJS, not ESM: the installed file has no extension and no package.json beside it, and
  // Node treats such a file as CommonJS on every release (ESM syntax detection is only in
  // Node >= 20.19). esbuild turns our dynamic import()s into lazy initialisers, so got and
  // dbus-next are only evaluated when a run needs them.
  format: 'cjs',
  // Manual runs get the unit's flags: under MemoryDenyWriteExecute=yes the JIT cannot work, and
  // --no-expose-wasm silences node's warning that --jitless turned WebAssembly off.
  banner: { js: '#!/usr/bin/env -S node --jitless --no-expose-wasm' },
  // Optional dbus-next transports (abstract sockets, X11 session lookup) that we never use.
  external: ['usocket', 'x11'],
  plugins: [stubUnusedGotFeatures, lazyIntlInIs],
  // Under --jitless every byte is parsed by the interpreter: minifying cuts start-up by ~40 ms.
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
await chmod(OUTFILE, 0o755);
