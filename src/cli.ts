// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Composition root: argv, environment, signals and the exit code live here and nowhere else.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import type { Cancellation } from './apply.js';
import { readConfig } from './config.js';
import { errorMessage, NmError } from './errors.js';
import type { MetadataHttp } from './http.js';
import { createLogger, type Logger } from './log.js';
import { PROVIDERS } from './providers/registry.js';
import { run } from './run.js';
import { VERSION } from './version.js';

/** Process-level effects main() uses; injectable so tests can run it in-process. */
export interface MainIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: (line: string) => void;
  readonly stderr: (text: string) => void;
  /** Registers the SIGTERM handler; returns its remover. */
  readonly onSigterm: (handler: () => void) => () => void;
  readonly clock: () => bigint;
}

/** Exit status for every runtime outcome, as upstream: problems are logged, not signalled. */
export const EXIT_OK = 0;
/** Exit status for a bad command line, and for internal errors (bugs). */
export const EXIT_FAILURE = 1;

/** Runs the tool; resolves the process exit status. */
export async function main(argv: readonly string[], io: MainIo = processIo()): Promise<number> {
  const argv0 = argv[1] ?? 'nm-cloud-setup';
  const program = new Command('nm-cloud-setup')
    .description('Configure NetworkManager from cloud metadata. Configuration is by NM_CLOUD_SETUP_* environment variables.')
    .version(VERSION)
    .helpOption('-h, --help')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout(text.replace(/\n$/, '')), writeErr: () => {} })
    .action(() => {});
  try {
    program.parse([...argv], { from: 'node' });
  } catch (error) {
    if (error instanceof CommanderError && (error.code === 'commander.helpDisplayed' || error.code === 'commander.version')) {
      return EXIT_OK;
    }
    // Upstream's exact words; scripts that wrap the C tool may match them.
    io.stderr(`${argv0}: no command line arguments supported\n`);
    return EXIT_FAILURE;
  }

  const config = readConfig(io.env);
  const log = createLogger({ level: config.logLevel, sink: io.stdout, clock: io.clock });
  log.debug(`nm-cloud-setup ${VERSION} starting...`);
  for (const warning of config.warnings) log.warn(warning);

  const cancellation = createCancellation(log);
  const removeHandler = io.onSigterm(cancellation.onSigterm);
  const http = lazyMetadataHttp(log);
  try {
    await run(
      {
        http,
        log,
        providers: PROVIDERS,
        connectNm: () => {
          const busAddress = config.busAddress;
          if (busAddress === undefined) {
            return Promise.reject(new NmError('DBUS_SESSION_BUS_ADDRESS is not set (LIBNM_USE_SESSION_BUS is)'));
          }
          return import('./nm/dbus-client.js').then(({ connectNmClient }) => connectNmClient({ busAddress }));
        },
      },
      config,
      cancellation,
    );
    return EXIT_OK;
  } catch (error) {
    log.error(`unexpected failure: ${errorMessage(error)}`);
    return EXIT_FAILURE;
  } finally {
    http.close();
    removeHandler();
  }
}

/**
 * The metadata HTTP seam, loaded on first use. got (and dbus-next, see connectNm) are most of
 * the bundle's start-up cost; a run with no provider enabled, the common case on a host that is
 * not in a cloud, never evaluates them. esbuild turns these import()s into lazy initialisers
 * inside the one bundle file.
 */
function lazyMetadataHttp(log: Logger): MetadataHttp {
  let loading: Promise<MetadataHttp> | undefined;
  const load = (): Promise<MetadataHttp> =>
    (loading ??= import('./http.js').then(({ createMetadataHttp }) => createMetadataHttp({ log })));
  return {
    request: async (request) => (await load()).request(request),
    poll: async (request, options) => (await load()).poll(request, options),
    close: () => void loading?.then((http) => http.close()),
  };
}

/** SIGTERM cancels until the first write; afterwards it is logged and ignored (upstream, 2023). */
export function createCancellation(log: Logger): Cancellation & { onSigterm: () => void } {
  const controller = new AbortController();
  let isEnabled = true;
  let count = 0;
  return {
    signal: controller.signal,
    disable: () => {
      isEnabled = false;
    },
    onSigterm: () => {
      // Upstream prints "again" on the first signal; say what actually happened.
      const which = count++ === 0 ? 'first time' : 'again';
      log.debug(`SIGTERM received (${which}) (${isEnabled ? 'cancel operation' : 'ignore'})`);
      if (isEnabled) controller.abort();
    },
  };
}

/** The real process: environment, stdout/stderr, SIGTERM and CLOCK_BOOTTIME. */
export function processIo(): MainIo {
  return {
    env: process.env,
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (text) => process.stderr.write(text),
    onSigterm: (handler) => {
      process.on('SIGTERM', handler);
      return () => process.off('SIGTERM', handler);
    },
    clock: bootClock(),
  };
}

/**
 * Nanoseconds since boot. Node has no CLOCK_BOOTTIME; /proc/uptime is that clock at 10 ms
 * resolution, read once and advanced with the monotonic clock (no suspend happens in a run).
 */
export function bootClock(readUptime = () => readFileSync('/proc/uptime', 'latin1')): () => bigint {
  const start = process.hrtime.bigint();
  let uptimeNs = 0n;
  try {
    const [seconds = '0', fraction = '0'] = (readUptime().split(' ')[0] ?? '0').split('.');
    uptimeNs = BigInt(seconds) * 1_000_000_000n + BigInt(fraction.padEnd(9, '0').slice(0, 9));
  } catch {
    uptimeNs = start;
  }
  return () => uptimeNs + (process.hrtime.bigint() - start);
}
