// SPDX-License-Identifier: LGPL-2.1-or-later
/* Entry point of the bundle: run main() and exit, waiting at most 2 s for stragglers (upstream). */
// First: from here on a SIGTERM cancels the run instead of killing the process (src/sigterm.ts).
import './catch-sigterm.js';
import { bootClock, main } from './cli.js';
import { readConfig } from './config.js';
import { createLogger } from './log.js';

const SHUTDOWN_GRACE_MS = 2000;

// A reader that goes away (`nm-cloud-setup status | head -1`) must not crash a run half-way
// through configuring: its output is lost, the work goes on.
const ignoreLostReader = (error: NodeJS.ErrnoException): void => {
  if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
};
// Hooked on first use, not here: creating process.stdout loads node's stream modules (and net,
// for the journal's socket), several ms under --jitless that a run printing nothing, the timer's
// usual run, never needs (docs/performance.md).
for (const name of ['stdout', 'stderr'] as const) {
  const descriptor = Object.getOwnPropertyDescriptor(process, name);
  if (descriptor?.get === undefined) continue;
  const create = descriptor.get.bind(process) as () => NodeJS.WriteStream;
  Object.defineProperty(process, name, {
    configurable: true,
    enumerable: true,
    get: () => {
      const stream = create();
      Object.defineProperty(process, name, { configurable: true, enumerable: true, get: () => stream });
      stream.on('error', ignoreLostReader);
      return stream;
    },
  });
}

// No top-level await: the bundle is CommonJS (see scripts/build.mjs).
void main(process.argv).then((code) => {
  process.exitCode = code;
  // Everything should be closed by now; if a handle still keeps the loop alive, end anyway.
  setTimeout(() => {
    const log = createLogger({
      level: readConfig(process.env).logLevel,
      sink: (line) => process.stdout.write(`${line}\n`),
      clock: bootClock(),
    });
    log.error('shutdown: timeout waiting to application to quit. This is a bug');
    process.exit(code);
  }, SHUTDOWN_GRACE_MS).unref();
});
