#!/usr/bin/env -S node --jitless --no-expose-wasm
// SPDX-License-Identifier: LGPL-2.1-or-later
// The installed $(libexecdir)/nm-cloud-setup: runs the bundle, from V8's code cache when there
// is a valid one. Under --jitless every function is compiled to bytecode on first call and the
// whole file is pre-parsed first; the cache (written by make-code-cache.cjs with the node and
// the flags the unit runs) holds that bytecode, which saves a sixth of an EC2 run's CPU
// (docs/performance.md). Anything wrong with the cache means running without it, never failing:
// a cache V8 cannot vouch for (another node, other flags, another bundle, damaged bytes) is
// either skipped here or rejected by V8 before it is used.
'use strict';
const { readFileSync } = require('node:fs');
const Module = require('node:module');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');

// Where the bundle is installed, relative to this file; `make install` rewrites it for other PREFIXes.
const BUNDLE = join(__dirname, '../lib/nm-cloud-setup/nm-cloud-setup.cjs');
const CACHE = `${BUNDLE}.v8-cache`;
const MAGIC = 'nm-cloud-setup v8 code cache 1\n';

/**
 * The cache file is MAGIC, a JSON line {node, sourceBytes, dataBytes}, a copy of the bundle it
 * was made from, then V8's data. V8 itself only checks the source's length, so the copy is what
 * ties the data to this very bundle; comparing it is a memcmp.
 */
function readCache(source) {
  let file;
  try {
    file = readFileSync(CACHE);
  } catch {
    return undefined; // no cache installed (or unreadable): compile as usual
  }
  try {
    if (file.toString('latin1', 0, MAGIC.length) !== MAGIC) return undefined;
    const end = file.indexOf(10, MAGIC.length);
    const header = JSON.parse(file.toString('utf8', MAGIC.length, end));
    if (header.node !== process.version) return undefined; // node was upgraded under the cache
    const copyStart = end + 1;
    const dataStart = copyStart + header.sourceBytes;
    if (header.sourceBytes !== source.length || !source.equals(file.subarray(copyStart, dataStart))) return undefined;
    if (file.length - dataStart !== header.dataBytes) return undefined;
    return file.subarray(dataStart);
  } catch {
    return undefined; // a damaged header
  }
}

/** The bundle as one function body, exactly as make-code-cache.cjs compiles it (V8 compares lengths). */
function wrappedSource(source) {
  const text = source.toString('utf8');
  // `//` in place of `#!` keeps the length and the line numbers of stack traces.
  return Module.wrap(text.startsWith('#!') ? `//${text.slice(2)}` : text);
}

/** Compiles the bundle (from the cache when it is valid) and runs it as the CommonJS module it is. */
function runBundle() {
  const source = readFileSync(BUNDLE);
  const cachedData = readCache(source);
  // V8 checksums a cache's payload only when asked to (a damaged payload would otherwise crash
  // node); make-code-cache.cjs sets the same flag, which is part of the flag hash V8 compares.
  if (cachedData !== undefined) require('node:v8').setFlagsFromString('--verify-snapshot-checksum');
  const script = new Script(wrappedSource(source), { filename: BUNDLE, cachedData });
  const bundle = new Module(BUNDLE, module);
  bundle.filename = BUNDLE;
  bundle.paths = Module._nodeModulePaths(dirname(BUNDLE));
  script.runInThisContext().call(bundle.exports, bundle.exports, Module.createRequire(BUNDLE), bundle, BUNDLE, dirname(BUNDLE));
}

// Required rather than run (test/install/code-cache.test.ts): only hand out the pieces.
if (require.main === module) runBundle();
else module.exports = { BUNDLE, readCache, wrappedSource };
