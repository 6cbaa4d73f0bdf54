// SPDX-License-Identifier: LGPL-2.1-or-later
// Bundles src/main.ts and its runtime dependencies into one executable file,
// dist/nm-cloud-setup.cjs, which `make install` copies to $(libexecdir)/nm-cloud-setup.
import { execFileSync } from 'node:child_process';
import { chmod, readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const OUTFILE = 'dist/nm-cloud-setup.cjs';
const ROOT = fileURLToPath(new URL('..', import.meta.url));

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

/** node:https and node:tls in got, loaded on first use (scripts/build-stubs/lazy-https.cjs). */
const lazyTlsInGot = {
  name: 'lazy-tls-in-got',
  setup(context) {
    context.onResolve({ filter: /^node:(https|tls)$/ }, ({ path, importer }) =>
      /\/node_modules\/got\//.test(importer)
        ? { path: fileURLToPath(new URL(`build-stubs/lazy-${path.slice('node:'.length)}.cjs`, import.meta.url)) }
        : undefined,
    );
  },
};

/**
 * Node modules a bundle imports at its top level but a run may never use, or uses late: each is
 * compiled from source on every run under the unit's flags (node's own code cache does not apply),
 * which costs CPU and peak RSS (docs/performance.md). node:fs/promises (the config drive only)
 * also loads readline and fs watchers in Node 20; node:crypto is only needed for the debug lines'
 * request ids (src/http.ts) and, in dbus-next, for the DBUS_COOKIE_SHA1 authentication we never
 * use, and its os only for the X11 session bus lookup; got's node:crypto only for its request ids,
 * which gotRequestIds draws without it. The bundle gets an object with a getter per export
 * that loads the real module on first use (a function that forwards its calls, when the module
 * itself is one, as assert is); import sites read the property at each call (esbuild's output and
 * dbus-next's code do), so nothing else changes.
 */
const LAZY_BUILTINS = {
  main: ['node:fs/promises', 'node:crypto'],
  'dbus-next': ['crypto', 'os'],
  got: ['node:crypto'],
};
const lazyBuiltins = (names) => ({
  name: 'lazy-builtins',
  setup(context) {
    const filter = new RegExp(`^(${names.join('|')})$`);
    // The stand-in's own require() of the module is left to node.
    context.onResolve({ filter }, ({ path, namespace }) =>
      namespace === 'lazy-builtin' ? undefined : { path, namespace: 'lazy-builtin' },
    );
    context.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, async ({ path }) => {
      const real = await import(path.startsWith('node:') ? path : `node:${path}`);
      const names = Object.keys(real).filter((name) => name !== 'default');
      const load = `const load = () => require(${JSON.stringify(path)});`;
      const getters = names.map((name) => `  get ${name}() { return load().${name}; },`);
      if (typeof real.default !== 'function') return { contents: `${load}\nmodule.exports = {\n${getters.join('\n')}\n};\n`, loader: 'js' };
      const call = `module.exports = function ${real.default.name}(...args) { return load()(...args); };`;
      const properties = `Object.defineProperties(module.exports, Object.getOwnPropertyDescriptors({\n${getters.join('\n')}\n}));`;
      return { contents: `${load}\n${call}\n${properties}\n`, loader: 'js' };
    });
  },
});

/**
 * Stand-ins that load the real module on first use (scripts/build-stubs/lazy-*.cjs): dbus-next's
 * assert (only a failed check loads it) and got's decompress-response (node:zlib; we never
 * decompress). The stand-in's own require() of the module resolves as usual.
 */
const lazyStandIn = (name) => ({
  name: `lazy-${name}`,
  setup(context) {
    const standIn = fileURLToPath(new URL(`build-stubs/lazy-${name}.cjs`, import.meta.url));
    context.onResolve({ filter: new RegExp(`^${name}$`) }, ({ importer }) => (importer === standIn ? undefined : { path: standIn }));
  },
});

/**
 * got draws a random UUID for every request (node:crypto's randomUUID), only to publish it on its
 * diagnostics channels, to which nothing in this process subscribes. Loading node:crypto costs
 * about 0.7 MiB of RSS and 4 ms of CPU per run (docs/performance.md), so the id is drawn with it
 * only while a got channel has subscribers, and is otherwise a process-unique id of the same
 * form. The build fails if got's text changes, so the patch never silently stops working.
 */
const GOT_DIAGNOSTICS = /node_modules\/got\/dist\/source\/core\/diagnostics-channel\.js$/;
const GOT_REQUEST_ID = 'export function generateRequestId() {\n    return randomUUID();\n}';
const gotRequestIds = {
  name: 'got-request-ids',
  setup(context) {
    context.onLoad({ filter: GOT_DIAGNOSTICS }, async ({ path }) => {
      const text = await readFile(path, 'utf8');
      if (!text.includes(GOT_REQUEST_ID)) throw new Error(`${path}: generateRequestId changed; update gotRequestIds in scripts/build.mjs`);
      const patched = text.replace(
        GOT_REQUEST_ID,
        [
          'let requestCount = 0;',
          'export function generateRequestId() {',
          '    if (Object.values(channels).some((channel) => channel.hasSubscribers)) return randomUUID();',
          "    return `00000000-0000-4000-8000-${(++requestCount).toString(16).padStart(12, '0')}`;",
          '}',
        ].join('\n'),
      );
      return { contents: patched, loader: 'js' };
    });
  },
};

/**
 * dbus-next parses a signature into a tree for every variant it reads or writes, and builds a
 * marshaller object with a dozen closures for every basic value it writes (each header field of
 * every message). Both depend only on the signature and are never changed after they are made, so
 * the bundle keeps them per signature (at most 256 of each): fewer short-lived objects for the
 * scavenger to promote, about 0.3 MiB of an 8-NIC rerun's peak RSS (docs/performance.md). The
 * build fails if dbus-next's text changes, so the patch never silently stops working.
 */
const DBUS_MEMOS = {
  'signature.js': {
    text: 'function parseSignature (signature) {',
    memo: 'const parseSignature = memoBySignature(parseSignatureOnce);\nfunction parseSignatureOnce (signature) {',
  },
  'marshallers.js': {
    text: 'exports.MakeSimpleMarshaller = MakeSimpleMarshaller;',
    memo: 'exports.MakeSimpleMarshaller = memoBySignature(MakeSimpleMarshaller);',
  },
};
const MEMO_BY_SIGNATURE = `
function memoBySignature(make) {
  const made = new Map();
  return (signature) => {
    let value = made.get(signature);
    if (value === undefined) {
      value = make(signature);
      if (made.size < 256) made.set(signature, value);
    }
    return value;
  };
}
`;
const dbusMemos = {
  name: 'dbus-memos',
  setup(context) {
    context.onLoad({ filter: /node_modules\/dbus-next\/lib\/(signature|marshallers)\.js$/ }, async ({ path }) => {
      const { text, memo } = DBUS_MEMOS[basename(path)];
      const source = await readFile(path, 'utf8');
      if (source.split(text).length !== 2) throw new Error(`${path}: its text changed; update DBUS_MEMOS in scripts/build.mjs`);
      return { contents: `${source.replace(text, memo)}\n${MEMO_BY_SIGNATURE}`, loader: 'js' };
    });
  },
};

/**
 * got, dbus-next and xml2js are bundled into files of their own beside the main bundle,
 * nm-cloud-setup.<name>.cjs, which the main bundle requires by path when a run first needs them.
 * The installed loader (loader/nm-cloud-setup.cjs) gives each file its own V8 code cache, so a
 * run with no provider deserialises only the main bundle's, and an EC2 run gets all of got's and
 * dbus-next's bytecode (docs/performance.md).
 */
const SEPARATE = {
  got: {
    entry: "export * from 'got'; export { default } from 'got';",
    plugins: [
      stubUnusedGotFeatures,
      lazyIntlInIs,
      lazyTlsInGot,
      lazyStandIn('decompress-response'),
      gotRequestIds,
      lazyBuiltins(LAZY_BUILTINS.got),
    ],
  },
  'dbus-next': {
    entry: "module.exports = require('dbus-next');",
    plugins: [dbusMemos, stubUnusedGotFeatures, lazyStandIn('assert'), lazyBuiltins(LAZY_BUILTINS['dbus-next'])],
  },
  // Required only by the xml2js stand-in (scripts/build-stubs/xml2js.js), on first real use.
  xml2js: { entry: "module.exports = require('xml2js');", plugins: [] },
};
export const separateFile = (name) => OUTFILE.replace(/\.cjs$/, `.${name}.cjs`);
const requireSeparate = {
  name: 'require-separate',
  setup(context) {
    const filter = new RegExp(`^(${Object.keys(SEPARATE).join('|')})$`);
    context.onResolve({ filter }, ({ path }) => ({ path, namespace: 'separate' }));
    context.onLoad({ filter: /.*/, namespace: 'separate' }, ({ path }) => ({
      // A path esbuild cannot follow: it stays a run-time require of the file beside this one.
      contents: `module.exports = require(require('node:path').join(__dirname, ${JSON.stringify(basename(separateFile(path)))}));`,
      loader: 'js',
    }));
  },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  // CommonJS, not ESM: the installed file has no extension and no package.json beside it, and
  // Node treats such a file as CommonJS on every release (ESM syntax detection is only in
  // Node >= 20.19). esbuild turns our dynamic import()s into lazy initialisers, so got and
  // dbus-next are only evaluated when a run needs them.
  format: 'cjs',
  // Optional dbus-next transports (abstract sockets, X11 session lookup) that we never use.
  external: ['usocket', 'x11'],
  // Under --jitless every byte is parsed by the interpreter: minifying cuts start-up by ~40 ms.
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
};

await build({
  ...common,
  entryPoints: ['src/main.ts'],
  outfile: OUTFILE,
  // Manual runs get the unit's flags: under MemoryDenyWriteExecute=yes the JIT cannot work, and
  // --no-expose-wasm silences node's warning that --jitless turned WebAssembly off.
  banner: { js: '#!/usr/bin/env -S node --jitless --no-expose-wasm' },
  plugins: [requireSeparate, lazyBuiltins(LAZY_BUILTINS.main)],
});
await chmod(OUTFILE, 0o755);
for (const [name, { entry, plugins }] of Object.entries(SEPARATE)) {
  await build({ ...common, stdin: { contents: entry, resolveDir: ROOT, loader: 'js' }, outfile: separateFile(name), plugins });
}
// V8 code caches of dist/ for bin/nm-cloud-setup, the checkout's launcher: for this node, run
// with the launcher's flags. `make install` does not copy them; it writes the installed files'
// own caches with the unit's flags.
execFileSync(process.execPath, ['--verify-snapshot-checksum', 'loader/make-code-cache.cjs', OUTFILE], { cwd: ROOT, stdio: 'inherit' });
