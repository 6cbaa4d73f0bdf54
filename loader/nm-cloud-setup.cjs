#!/usr/bin/env -S node --jitless --no-expose-wasm
// SPDX-License-Identifier: LGPL-2.1-or-later
// The installed $(libexecdir)/nm-cloud-setup: runs the bundle, from V8's code cache when there
// is a valid one. Under --jitless every function is compiled to bytecode on first call and the
// whole file is pre-parsed first; the cache (written by make-code-cache.cjs with the node and
// the flags the unit runs) holds that bytecode: most of the compile time of a run, which under
// --jitless is a large part of its CPU (docs/performance.md). Anything wrong with a cache means
// running without it, never failing: a cache V8 cannot vouch for (another node, other flags,
// another bundle, damaged bytes) is either skipped here or rejected by V8 before it is used.
'use strict';
const { readFileSync } = require('node:fs');
// The CommonJS loader's Module class, as require('node:module') returns it; that public module
// also evaluates node's ESM loader and source-map support, which a run never uses.
const Module = module.constructor;
const { basename, dirname, join } = require('node:path');
const { Script } = require('node:vm');

// Where the bundle is installed, relative to this file; `make install` rewrites it for other PREFIXes.
const BUNDLE = join(__dirname, '../lib/nm-cloud-setup/nm-cloud-setup.cjs');
const MAGIC = 'nm-cloud-setup v8 code cache 1\n';

/**
 * A cache file is MAGIC, a JSON line {node, sourceBytes, dataBytes} (padded with spaces so that
 * the data starts at a multiple of 8 bytes), a copy of the bundle it was made from, then V8's
 * data. V8 itself only checks the source's length, so the copy is what ties the data to this very
 * bundle; comparing it is a memcmp.
 */
function readCache(cacheFile, source) {
  let file;
  try {
    file = readFileSync(cacheFile);
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

/** Compiles one bundle file, from its cache (`<file>.v8-cache`) when that fits, as a CommonJS function. */
function compile(file) {
  const source = readFileSync(file);
  // V8 checksums a cache's payload only under --verify-snapshot-checksum (a damaged payload would
  // otherwise crash node). The unit passes it, the caches are made with it, and V8 rejects a cache
  // made with other flags than the running node's: a node run without it never reads the payload.
  const cachedData = readCache(`${file}.v8-cache`, source);
  return new Script(wrappedSource(source), { filename: file, cachedData }).runInThisContext();
}

/** Runs a bundle file as the CommonJS module it is; the files it requires beside it go through here too. */
function runBundle(file) {
  const bundle = new Module(file, module);
  bundle.filename = file;
  bundle.paths = Module._nodeModulePaths(dirname(file));
  const nodeRequire = Module.createRequire(file);
  // got and dbus-next are files of their own beside the main bundle (scripts/build.mjs).
  const separate = /^nm-cloud-setup\.[^/]+\.cjs$/;
  const loaded = new Map();
  const bundleRequire = Object.assign((id) => {
    if (!(dirname(id) === dirname(file) && separate.test(basename(id)))) return nodeRequire(id);
    if (!loaded.has(id)) loaded.set(id, runBundle(id));
    return loaded.get(id);
  }, nodeRequire);
  compile(file).call(bundle.exports, bundle.exports, bundleRequire, bundle, file, dirname(file));
  return bundle.exports;
}

// Required rather than run (bin/nm-cloud-setup, test/install/code-cache.test.ts): hand out the pieces.
if (require.main === module) runBundle(BUNDLE);
else module.exports = { BUNDLE, readCache, runBundle, wrappedSource };
