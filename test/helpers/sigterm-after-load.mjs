// SPDX-License-Identifier: LGPL-2.1-or-later
// Preload (NODE_OPTIONS=--import=<this file>): sends the process SIGTERM the moment the main
// script's synchronous evaluation ends -- after node's own start-up, before main() has reached
// its first await. A SIGTERM in that window must cancel the run, not kill the process.
import { createRequire } from 'node:module';

const Module = createRequire(import.meta.url)('node:module');
const compile = Module.prototype._compile;
Module.prototype._compile = function compileThenSignal(...args) {
  Module.prototype._compile = compile;
  const result = compile.apply(this, args);
  process.kill(process.pid, 'SIGTERM');
  return result;
};
