// SPDX-License-Identifier: LGPL-2.1-or-later
// Writes the V8 code caches that $(libexecdir)/nm-cloud-setup (loader/nm-cloud-setup.cjs) reads,
// one `<file>.v8-cache` per bundle file:
//   <node> <the unit's node flags> make-code-cache.cjs BUNDLE
// It must run with the node binary and the flags the unit uses, because V8 accepts a cache only
// from the same V8 build and the same flags: `make install` runs it, and a package should run it
// again whenever node is upgraded (until then the loader simply runs without the caches).
'use strict';
const { readdirSync, readFileSync, renameSync, writeFileSync } = require('node:fs');
const { basename, dirname, join } = require('node:path');
const v8 = require('node:v8');
const { Script } = require('node:vm');
const Module = require('node:module');

const MAGIC = 'nm-cloud-setup v8 code cache 1\n';

/**
 * The source exactly as the loader's wrappedSource() compiles it (V8 compares lengths; the
 * loader's test checks that the caches written here are accepted). Not shared by require():
 * installed, this file sits beside the bundle, not the loader.
 */
function wrappedSource(source) {
  const text = source.toString('utf8');
  return Module.wrap(text.startsWith('#!') ? `//${text.slice(2)}` : text);
}

/**
 * `eager`: bytecode for every function (compiled under --no-lazy), for got and dbus-next, whose
 * code an EC2 run mostly calls. Otherwise only the top level, for the main bundle: a run with no
 * provider then deserialises little, and the functions a run calls compile on first call.
 */
function writeCache(file, eager) {
  const source = readFileSync(file);
  if (eager) v8.setFlagsFromString('--no-lazy');
  const script = new Script(wrappedSource(source), { filename: file });
  // Back to the flags the loader runs with before serialising: V8 stamps the flags of that moment
  // into the cache and compares them.
  v8.setFlagsFromString('--lazy');
  const data = script.createCachedData();
  let header = JSON.stringify({ node: process.version, sourceBytes: source.length, dataBytes: data.length });
  // V8 copies cache data that does not start at a multiple of 8 bytes before reading it (a
  // transient copy of up to 300 KB that glibc's heap then keeps): pad the header line to align it.
  while ((MAGIC.length + header.length + 1 + source.length) % 8 !== 0) header += ' ';
  // Replaced atomically: a run starting meanwhile reads the old cache or the new one, never half.
  writeFileSync(`${file}.v8-cache.tmp`, Buffer.concat([Buffer.from(`${MAGIC}${header}\n`), source, data]), { mode: 0o644 });
  renameSync(`${file}.v8-cache.tmp`, `${file}.v8-cache`);
}

// Stamped into every cache: only a node that verifies the payload's checksum then accepts it.
v8.setFlagsFromString('--verify-snapshot-checksum');
const bundle = process.argv[2];
if (bundle === undefined) {
  process.stderr.write('usage: node <unit flags> make-code-cache.cjs BUNDLE\n');
  process.exit(2);
}
writeCache(bundle, false);
// The files the bundle requires beside it: nm-cloud-setup.<name>.cjs (scripts/build.mjs).
const separate = new RegExp(`^${basename(bundle).replace(/\.cjs$/, '')}\\.[^.]+\\.cjs$`);
for (const name of readdirSync(dirname(bundle)).filter((entry) => separate.test(entry))) writeCache(join(dirname(bundle), name), true);
