// SPDX-License-Identifier: LGPL-2.1-or-later
// Writes the V8 code cache that $(libexecdir)/nm-cloud-setup (loader/nm-cloud-setup.cjs) reads:
//   <node> <the unit's node flags> make-code-cache.cjs BUNDLE
// It must run with the node binary and the flags the unit uses, because V8 accepts a cache only
// from the same V8 build and the same flags: `make install` runs it, and a package should run it
// again whenever node is upgraded (until then the loader simply runs without the cache).
'use strict';
const { readFileSync, renameSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const v8 = require('node:v8');
const { Script } = require('node:vm');

const MAGIC = 'nm-cloud-setup v8 code cache 1\n';

const bundle = process.argv[2];
if (bundle === undefined) {
  process.stderr.write('usage: node <unit flags> make-code-cache.cjs BUNDLE\n');
  process.exit(2);
}
const source = readFileSync(bundle);
const text = source.toString('utf8');
// Compiled exactly as the loader compiles it (same length, or V8 rejects the cache).
const wrapped = Module.wrap(text.startsWith('#!') ? `//${text.slice(2)}` : text);

// --no-lazy while compiling: bytecode for every function, not only the top level, so a run that
// loads got and dbus-next finds theirs in the cache too. It is switched back before the cache is
// serialised, because the flags at that moment are the ones V8 stamps into it and compares.
v8.setFlagsFromString('--no-lazy');
const script = new Script(wrapped, { filename: bundle });
v8.setFlagsFromString('--lazy');
// The loader turns on V8's checksum of the payload before it uses a cache; the flag is part of
// the stamp, so set it here too.
v8.setFlagsFromString('--verify-snapshot-checksum');
const data = script.createCachedData();

const header = JSON.stringify({ node: process.version, sourceBytes: source.length, dataBytes: data.length });
const cache = `${bundle}.v8-cache`;
// Replaced atomically: a run starting meanwhile reads the old cache or the new one, never half.
writeFileSync(`${cache}.tmp`, Buffer.concat([Buffer.from(`${MAGIC}${header}\n`), source, data]), { mode: 0o644 });
renameSync(`${cache}.tmp`, cache);
