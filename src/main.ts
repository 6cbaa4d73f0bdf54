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
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
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
