// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Composition root: argv, environment, signals and the exit code live here and nowhere else.
 */
import { readFileSync } from 'node:fs';
import { readConfig, type Config } from './config.js';
import { withConfigDrive } from './config-drive.js';
import { errorMessage, NmError } from './errors.js';
import type { MetadataHttp } from './http.js';
import type { SocketPool } from './socket-pool.js';
import { createLogger, type Logger } from './log.js';
import { PROVIDERS } from './providers/registry.js';
import { planDocument, renderPlanText, renderStatusText, statusDocument } from './report.js';
import type { Cancellation, RunMode, RunReport } from './model.js';
import { run } from './run.js';
import { stateDocument } from './state.js';
import { takeOverSigterm } from './sigterm.js';
import { writeStateFile } from './state-file.js';
import { VERSION } from './version.js';

/** Process-level effects main() uses; injectable so tests can run it in-process. */
export interface MainIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: (line: string) => void;
  readonly stderr: (text: string) => void;
  /** Registers the SIGTERM handler; returns its remover. */
  readonly onSigterm: (handler: () => void) => () => void;
  readonly clock: () => bigint;
  /** Wall clock: JSON log lines and state.json. */
  readonly now: () => Date;
}

/** Every runtime outcome of `apply` (and of the bare command), as upstream: problems are logged, not signalled. */
export const EXIT_OK = 0;
/** A bad command line, an internal error (a bug), or a status/plan/fetch that could not find out. */
export const EXIT_FAILURE = 1;
/** `plan`: changes are pending. */
export const EXIT_PENDING = 2;

/** What the command line asked for. */
interface Invocation {
  readonly mode: RunMode;
  readonly json: boolean;
}

/**
 * Parses argv. No arguments is upstream's run, unchanged; the subcommands are ours. Resolves
 * the invocation, or an exit status when commander already answered (--help, --version, errors).
 */
async function parseArgs(argv: readonly string[], io: MainIo): Promise<Invocation | number> {
  // The unit and the dispatcher run the bare command: it needs no parser, so commander is only
  // loaded (about 5 ms under --jitless) when there are arguments to parse.
  if (argv.length <= 2) return { mode: 'apply', json: false };
  const commander = await import('commander');
  const argv0 = argv[1] ?? 'nm-cloud-setup';
  let invocation: Invocation | undefined;
  const output = { failure: '' };
  const program = buildProgram(commander, io, output, (parsed) => (invocation = parsed));
  try {
    program.parse([...argv], { from: 'node' });
  } catch (error) {
    if (error instanceof commander.CommanderError && (error.code === 'commander.helpDisplayed' || error.code === 'commander.version')) {
      return EXIT_OK;
    }
    // With a default action commander calls an unknown command "too many arguments".
    const unknown =
      error instanceof commander.CommanderError && error.code === 'commander.excessArguments' && !output.failure.includes(" for '");
    const stray = argv.slice(2).find((arg) => !arg.startsWith('-'));
    const why = unknown
      ? `unknown command '${stray ?? ''}'`
      : (output.failure.split('\n')[0] ?? '').replace(/^error: /, '') || errorMessage(error);
    io.stderr(`${argv0}: ${why} (see --help)\n`);
    return EXIT_FAILURE;
  }
  if (invocation === undefined) return EXIT_FAILURE;
  if (invocation.mode === 'apply' && invocation.json) {
    io.stderr(`${argv0}: --json needs --dry-run, or the status or plan command (see --help)\n`);
    return EXIT_FAILURE;
  }
  return invocation;
}

/** The command line: the bare program (upstream's run, or --dry-run) and our subcommands. */
function buildProgram(
  { Command }: typeof import('commander'),
  io: MainIo,
  output: { failure: string },
  parsed: (invocation: Invocation) => void,
): import('commander').Command {
  const program = new Command('nm-cloud-setup')
    .description(
      'Configure NetworkManager from cloud metadata (secondary addresses and policy routing).\n' +
        'Without a command: detect, fetch and apply, as upstream. Configuration is by NM_CLOUD_SETUP_* environment variables; see nm-cloud-setup(8).',
    )
    .version(VERSION, '-V, --version')
    .helpOption('-h, --help')
    .option('--dry-run', 'the same as "plan"')
    .option('--json', 'with --dry-run: the plan as JSON')
    // The program's --json must not swallow a command's own (plan --json).
    .enablePositionalOptions()
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout(text.replace(/\n$/, '')),
      writeErr: (text) => (output.failure += text),
      outputError: (text) => (output.failure += text),
    })
    .action((options: { dryRun?: boolean; json?: boolean }) => {
      parsed({ mode: options.dryRun === true ? 'plan' : 'apply', json: options.json === true });
    });
  const commands: readonly (readonly [RunMode, string, string | undefined])[] = [
    ['apply', 'detect, fetch and apply (the default)', undefined],
    [
      'status',
      'show the cloud, the instance and, per interface, the metadata and whether NetworkManager matches it',
      'docs/status.schema.json',
    ],
    [
      'plan',
      'show what apply would change, as nmcli commands and a diff; change nothing (exit 2: changes pending)',
      'docs/plan.schema.json',
    ],
    ['fetch', 'detect and fetch the metadata, write the state file; change nothing', undefined],
  ];
  for (const [mode, description, schema] of commands) {
    const command = program.command(mode).description(description);
    if (schema !== undefined) command.option('--json', `as JSON (${schema})`);
    command.action((options: { json?: boolean }) => parsed({ mode, json: options.json === true }));
    command.allowExcessArguments(false).exitOverride().configureOutput(program.configureOutput());
  }
  return program;
}

/** Runs the tool; resolves the process exit status. */
export async function main(argv: readonly string[], io: MainIo = processIo()): Promise<number> {
  const invocation = await parseArgs(argv, io);
  if (typeof invocation === 'number') return invocation;
  const { mode } = invocation;

  const config = readConfig(io.env);
  // apply logs to stdout, as upstream; the reports own stdout, so their logs go to stderr.
  const sink = mode === 'apply' ? io.stdout : (line: string) => io.stderr(`${line}\n`);
  const log = createLogger({ level: config.logLevel, sink, clock: io.clock, format: config.logFormat, now: io.now });
  log.debug(`nm-cloud-setup ${VERSION} starting...`);
  for (const warning of config.warnings) log.warn(warning);

  const cancellation = createCancellation(log);
  const removeHandler = io.onSigterm(cancellation.onSigterm);
  const network = lazyMetadataHttp(log);
  const drive = config.openstackConfigDrive;
  const http = drive === undefined ? network : withConfigDrive(drive, network);
  try {
    const report = await run(
      {
        http,
        log,
        providers: PROVIDERS,
        connectNm: () => {
          const busAddress = config.busAddress;
          if (busAddress === undefined) {
            return Promise.reject(new NmError('DBUS_SESSION_BUS_ADDRESS is not set (LIBNM_USE_SESSION_BUS is)'));
          }
          return import('./nm/dbus-client.js').then(({ connectNmClient }) => connectNmClient({ busAddress, log }));
        },
      },
      config,
      cancellation,
      mode,
    );
    saveState(report, config, log, io);
    return finish(report, invocation, argv[1] ?? 'nm-cloud-setup', io);
  } catch (error) {
    log.error(`unexpected failure: ${errorMessage(error)}`);
    return EXIT_FAILURE;
  } finally {
    http.close();
    removeHandler();
  }
}

/** After apply and fetch: state.json, unless no metadata arrived (then the old one stays). */
function saveState(report: RunReport, config: Config, log: Logger, io: MainIo): void {
  const document = stateDocument(report, { time: io.now(), toolVersion: VERSION });
  if (document === undefined) return;
  try {
    const path = writeStateFile(config.stateDir, document);
    log.debug(`state written to ${path}`);
  } catch (error) {
    // The network is configured either way; a missing report must not turn into a failure.
    log.warn(errorMessage(error));
  }
}

/** Prints the report the command asked for and picks the exit status. */
function finish(report: RunReport, { mode, json }: Invocation, argv0: string, io: MainIo): number {
  if (mode === 'apply') return EXIT_OK;
  const reached = mode === 'fetch' ? report.result === 'fetched' : report.result === 'pending' || report.result === 'unchanged';
  if (!reached) {
    io.stderr(`${argv0}: ${failureText(report)}\n`);
    return EXIT_FAILURE;
  }
  if (mode === 'status') {
    const status = statusDocument(report);
    io.stdout(json ? JSON.stringify(status, null, 2) : renderStatusText(status));
    return EXIT_OK;
  }
  if (mode === 'plan') {
    const plan = planDocument(report);
    io.stdout(json ? JSON.stringify(plan, null, 2) : renderPlanText(plan));
    return plan.pending > 0 ? EXIT_PENDING : EXIT_OK;
  }
  return EXIT_OK;
}

function failureText(report: RunReport): string {
  switch (report.result) {
    case 'cancelled':
      return 'cancelled';
    default:
      return report.error ?? report.result;
  }
}

/**
 * The metadata HTTP seam, loaded on first use. got (and dbus-next, see connectNm) are most of
 * the bundle's start-up cost; a run with no provider enabled, the common case on a host that is
 * not in a cloud, never evaluates them. esbuild turns these import()s into lazy initialisers
 * inside the one bundle file. The first request to a server opens its connection before got is
 * loaded, so that the TCP handshake's round trip overlaps the loading (src/socket-pool.ts).
 */
function lazyMetadataHttp(log: Logger): MetadataHttp {
  // node:net, which SocketPool needs, is itself worth loading only when a provider asks.
  let pool: Promise<SocketPool> | undefined;
  let loading: Promise<MetadataHttp> | undefined;
  let isLoaded = false;
  const sockets = (): Promise<SocketPool> => (pool ??= import('./socket-pool.js').then(({ SocketPool }) => new SocketPool()));
  const load = async (url: string): Promise<MetadataHttp> => {
    // net.connect() issues the connect on the next tick, which waits for the promise jobs that
    // would load got: let it out first.
    if (!isLoaded && (await sockets()).warm(url)) await new Promise((resolve) => setImmediate(resolve));
    loading ??= sockets().then(async (shared) => (await import('./http.js')).createMetadataHttp({ log, sockets: shared }));
    const http = await loading;
    isLoaded = true;
    return http;
  };
  return {
    request: async (request) => (await load(request.url)).request(request),
    poll: async (request, options) => (await load(request.url)).poll(request, options),
    preconnect: (url, count) => void sockets().then((shared) => shared.open(url, count)),
    close: () => {
      void pool?.then((shared) => shared.close());
      void loading?.then((http) => http.close());
    },
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
    onSigterm: takeOverSigterm,
    clock: bootClock(),
    now: () => new Date(),
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
