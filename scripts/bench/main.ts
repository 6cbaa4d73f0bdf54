// SPDX-License-Identifier: LGPL-2.1-or-later
// `npm run bench` (scripts/bench.mjs bundles and calls this): start-up, EC2 wall time, HTTP
// requests, critical-path round trips and peak RSS of the built tool, run exactly as the systemd
// unit runs it, against a loopback metadata server and the fake NetworkManager on a private bus.
// It prints numbers and goal verdicts; it never fails on a goal, only when a run did not do its job.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPrivateBus, type PrivateBus } from '../../test/harness/dbus-daemon.js';
import { startFakeNm } from '../../test/fakes/fake-nm-service.js';
import { ec2Devices, ec2Metadata, expectedRequests, type Ec2Shape } from './ec2-world.js';
import { findPython, measure, type Measured } from './measure.js';
import { EC2_MACS, startBenchMetadataServer, type BenchMetadataServer } from './metadata-server.js';
import { installTool } from './installed.js';
import { formatRealnm, RealnmRunFailed, runRealnm } from './realnm.js';
import { describeMachine, formatJson, formatReport, type BenchResult, type Ec2Result, type Ec2Run, type StartupResult } from './report.js';
import { criticalPathRoundTrips, max, median, phasesOf } from './stats.js';

/**
 * node's flags as the shipped unit passes them (ExecStart=<node> <flags…> <tool>), so the bench
 * measures what runs in production and follows the unit when its flags change.
 */
export function unitNodeFlags(unitText: string): string[] {
  const execStart = unitText.split('\n').find((line) => line.startsWith('ExecStart='));
  if (execStart === undefined) throw new RunFailed('systemd/nm-cloud-setup.service has no ExecStart=');
  return execStart.slice('ExecStart='.length).trim().split(/\s+/).slice(1, -1);
}
/**
 * The environment the shipped unit sets for node (its Environment= lines, e.g. glibc's malloc
 * tuning), which the measured runs get too.
 */
export function unitEnvironment(unitText: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of unitText.split('\n')) {
    if (!line.startsWith('Environment=')) continue;
    // Space-separated assignments, each possibly in double quotes (systemd.exec(5)).
    for (const [, quoted, bare] of line.slice('Environment='.length).matchAll(/"([^"]*)"|(\S+)/g)) {
      const assignment = quoted ?? bare ?? '';
      const equals = assignment.indexOf('=');
      if (equals > 0) env[assignment.slice(0, equals)] = assignment.slice(equals + 1);
    }
  }
  return env;
}
const SHAPES: readonly Ec2Shape[] = [
  { nics: 2, ipsPerNic: 10 },
  { nics: 8, ipsPerNic: 10 },
];
const LATENCIES_MS: readonly number[] = [0, 20];
const DEFAULT_RUNS = 15;
const QUICK_RUNS = 3;

interface Options {
  readonly runs: number;
  readonly json: boolean;
  readonly quick: boolean;
  /** --realnm: the real-NetworkManager mode (scripts/bench/realnm.ts), with its delay line's RTT and an optional C tool. */
  readonly realnm: boolean;
  readonly rttMs: number;
  readonly cTool: string | undefined;
  /** --variant NAME=COMMAND (repeatable, --realnm only): another build or other flags, in the same rounds. */
  readonly variants: readonly { name: string; command: string[] }[];
  /** --log-runs (--realnm only): print one untimed rerun per instance at NM_CLOUD_SETUP_LOG=debug, with timestamps. */
  readonly logRuns: boolean;
}

/** A run that did not do its job: the bench stops with this one line. */
class RunFailed extends Error {}

function usage(message: string): never {
  throw new RunFailed(
    `${message}; usage: npm run bench -- [--quick] [--runs N] [--json] [--realnm [--rtt MS] [--c-tool FILE] [--variant NAME=COMMAND]... [--log-runs]]`,
  );
}

function parseArgs(argv: readonly string[]): Options {
  let runs: number | undefined;
  const flags = { json: false, quick: false, realnm: false, logRuns: false, rttMs: 20, cTool: undefined as string | undefined };
  const variants: { name: string; command: string[] }[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--json') flags.json = true;
    else if (arg === '--quick') flags.quick = true;
    else if (arg === '--realnm') flags.realnm = true;
    else if (arg === '--log-runs') flags.logRuns = true;
    else if (arg === '--c-tool') flags.cTool = argv[++i] ?? usage('--c-tool needs a file');
    else if (arg === '--variant') {
      // NAME=FILE ARG...: split on white space, FILE absolute (e.g. node with other flags and another install).
      const match = /^([^=\s]+)=(\/\S*(?:\s+\S+)*)\s*$/.exec(argv[++i] ?? '');
      if (match === null) usage('--variant needs NAME=/ABSOLUTE/FILE [ARG...]');
      variants.push({ name: match[1]!, command: match[2]!.split(/\s+/) });
    } else if (arg === '--runs' || arg === '--rtt') {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value < (arg === '--runs' ? 1 : 0)) usage(`${arg} needs a whole number`);
      if (arg === '--runs') runs = value;
      else flags.rttMs = value;
    } else usage(`unknown argument ${String(arg)}`);
  }
  if (flags.realnm && flags.quick) usage('--realnm has no quick mode');
  if (variants.length > 0 && !flags.realnm) usage('--variant needs --realnm');
  if (flags.logRuns && !flags.realnm) usage('--log-runs needs --realnm');
  return { runs: runs ?? (flags.quick ? QUICK_RUNS : DEFAULT_RUNS), ...flags, variants };
}

/** How long --quick holds the leaves' answers at most (a sequential client then shows as many round trips). */
const LEAF_BARRIER_MS = 5000;

/** What every measurement needs. */
interface Bench {
  readonly python: string;
  /** The installed tool (scripts/bench/installed.ts). */
  readonly tool: string;
  readonly runs: number;
  readonly quick: boolean;
  readonly bus: PrivateBus;
  readonly metadata: BenchMetadataServer;
  /** A scratch $RUNTIME_DIRECTORY: the tool writes state.json there, not to /run. */
  readonly stateDir: string;
  /** node's flags from the unit's ExecStart. */
  readonly nodeFlags: readonly string[];
  /** The unit's Environment=. */
  readonly unitEnv: Readonly<Record<string, string>>;
}

/** The tool's environment: what the unit gives it (Environment=, RuntimeDirectory=), plus PATH as the tests do. */
function toolEnv(bench: Bench, extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...bench.unitEnv, RUNTIME_DIRECTORY: bench.stateDir, ...extra };
}

const runNode = (bench: Bench, args: readonly string[], env = toolEnv(bench)): Promise<Measured> =>
  measure(bench.python, process.execPath, args, env);

type StartupKey = 'node' | 'nodeFlags' | 'tool';
const STARTUP_KEYS: readonly StartupKey[] = ['node', 'nodeFlags', 'tool'];

/** One start-up sample: plain node, node with the unit's flags, or the tool with no provider. */
async function runStartupOnce(bench: Bench, key: StartupKey): Promise<Measured> {
  const args = { node: ['-e', '0'], nodeFlags: [...bench.nodeFlags, '-e', '0'], tool: [...bench.nodeFlags, bench.tool] }[key];
  const result = await runNode(bench, args);
  if (result.code !== 0) throw new RunFailed(`start-up run of ${key} exited ${result.code}: ${oneLine(result.stderr)}`);
  if (key === 'tool' && result.stdout + result.stderr !== '') {
    throw new RunFailed(`the tool with no provider enabled printed something: ${oneLine(result.stdout + result.stderr)}`);
  }
  return result;
}

function summarizeStartup(samples: Readonly<Record<StartupKey, readonly Measured[]>>): StartupResult {
  const wall = (key: StartupKey): number => median(samples[key].map((s) => s.wallMs));
  const rss = samples.tool.map((s) => s.maxRssKib / 1024);
  return {
    runs: samples.tool.length,
    nodeMs: wall('node'),
    nodeFlagsMs: wall('nodeFlags'),
    toolMs: wall('tool'),
    ratio: wall('tool') / wall('nodeFlags'),
    nodeFlagsRssMb: median(samples.nodeFlags.map((s) => s.maxRssKib / 1024)),
    toolRssMbMedian: median(rss),
    toolRssMbMax: max(rss),
  };
}

function oneLine(text: string): string {
  return text.trim().replace(/\s+/g, ' ').slice(0, 300);
}

/** One EC2 run on a fresh fake NM, so it really applies (a Reapply per device). */
async function runEc2Once(bench: Bench, shape: Ec2Shape, latencyMs: number): Promise<Ec2Run> {
  const nm = await startFakeNm({ address: bench.bus.address, devices: ec2Devices(shape) });
  let result: Measured;
  try {
    const paths = ec2Metadata(shape);
    // --quick checks structure only (round trips), which must not depend on how fast a loaded
    // CI machine lets the tool send its parallel leaf requests: hold the leaves' answers until
    // all of them were asked for.
    // device-number is left out: with it 8 NICs have 24 leaves, more than the tool's 16 in
    // flight, so holding all of them would hold the tool until the barrier's timeout.
    const leaves = new Set([...paths.keys()].filter((path) => path !== EC2_MACS && !path.endsWith('/device-number')));
    bench.metadata.configure(paths, latencyMs, bench.quick ? { paths: leaves, timeoutMs: LEAF_BARRIER_MS } : undefined);
    bench.metadata.takeRequests();
    result = await runNode(
      bench,
      [...bench.nodeFlags, bench.tool],
      toolEnv(bench, {
        NM_CLOUD_SETUP_EC2: 'yes',
        NM_CLOUD_SETUP_EC2_HOST: bench.metadata.url,
        DBUS_SYSTEM_BUS_ADDRESS: bench.bus.address,
      }),
    );
  } finally {
    await nm.stop();
  }
  const requests = bench.metadata.takeRequests();
  const what = `ec2 ${shape.nics} NICs at ${latencyMs} ms`;
  if (result.code !== 0) throw new RunFailed(`${what}: the tool exited ${result.code}: ${oneLine(result.stdout + result.stderr)}`);
  const reapplied = new Set(nm.calls.filter((c) => c.member === 'Reapply' && c.error === undefined).map((c) => c.path));
  if (reapplied.size !== shape.nics) {
    throw new RunFailed(`${what}: ${reapplied.size} of ${shape.nics} devices reapplied: ${oneLine(result.stdout + result.stderr)}`);
  }
  const failed = requests.find((r) => r.status !== 200);
  if (failed !== undefined) throw new RunFailed(`${what}: ${failed.method} ${failed.url} answered ${failed.status}`);
  return {
    wallMs: result.wallMs,
    requests: requests.length,
    roundTrips: criticalPathRoundTrips(requests),
    maxRssMb: result.maxRssKib / 1024,
    reapplied: reapplied.size,
    phases: phasesOf(result.startMs, result.endMs, requests),
  };
}

interface Ec2Case {
  readonly shape: Ec2Shape;
  readonly latencyMs: number;
}

function summarizeEc2({ shape, latencyMs }: Ec2Case, runs: readonly Ec2Run[], startupMs: number): Ec2Result {
  const roundTrips = median(runs.map((r) => r.roundTrips));
  const wallMs = median(runs.map((r) => r.wallMs));
  const budgetMs = roundTrips * latencyMs + startupMs + 30;
  return {
    name: `ec2 ${shape.nics} NICs x ${shape.ipsPerNic} IPs`,
    nics: shape.nics,
    ipsPerNic: shape.ipsPerNic,
    latencyMs,
    expectedRequests: expectedRequests(shape),
    wallMs,
    requests: median(runs.map((r) => r.requests)),
    roundTrips,
    budgetMs,
    withinBudget: wallMs <= budgetMs,
    rssMbMedian: median(runs.map((r) => r.maxRssMb)),
    rssMbMax: max(runs.map((r) => r.maxRssMb)),
    phases: {
      toFirstRequestMs: median(runs.map((r) => r.phases.toFirstRequestMs)),
      httpMs: median(runs.map((r) => r.phases.httpMs)),
      afterHttpMs: median(runs.map((r) => r.phases.afterHttpMs)),
    },
    runs: [...runs],
  };
}

/**
 * Round 0 is an untimed warm-up (page cache). Then every round runs every case once: on a busy
 * machine a burst of load elsewhere hits all cases alike instead of one whole scenario, so the
 * ratio and the budgets compare numbers taken under the same conditions.
 */
async function runRounds(bench: Bench, cases: readonly Ec2Case[]): Promise<{ startup: StartupResult; ec2: Ec2Result[] }> {
  const startup: Record<StartupKey, Measured[]> = { node: [], nodeFlags: [], tool: [] };
  const ec2: Ec2Run[][] = cases.map(() => []);
  for (let round = 0; round <= bench.runs; round++) {
    for (const key of STARTUP_KEYS) {
      const sample = await runStartupOnce(bench, key);
      if (round > 0) startup[key].push(sample);
    }
    for (const [i, { shape, latencyMs }] of cases.entries()) {
      const run = await runEc2Once(bench, shape, latencyMs);
      if (round > 0) ec2[i]!.push(run);
    }
  }
  const startupResult = summarizeStartup(startup);
  return { startup: startupResult, ec2: cases.map((c, i) => summarizeEc2(c, ec2[i]!, startupResult.toolMs)) };
}

async function runAll(options: Options, repoRoot: string, tool: string): Promise<BenchResult> {
  const python = findPython();
  const stateDir = mkdtempSync(join(tmpdir(), 'nmcs-bench-state-'));
  let bus: PrivateBus | undefined;
  let metadata: BenchMetadataServer | undefined;
  try {
    bus = await startPrivateBus();
    metadata = await startBenchMetadataServer();
    const unitText = readFileSync(join(repoRoot, 'systemd', 'nm-cloud-setup.service'), 'utf8');
    const nodeFlags = unitNodeFlags(unitText);
    const unitEnv = unitEnvironment(unitText);
    const bench: Bench = { python, tool, runs: options.runs, quick: options.quick, bus, metadata, stateDir, nodeFlags, unitEnv };
    const cases = SHAPES.flatMap((shape) => LATENCIES_MS.map((latencyMs) => ({ shape, latencyMs })));
    const { startup, ec2 } = await runRounds(bench, cases);
    return { machine: describeMachine(), quick: options.quick, runs: options.runs, startup, ec2 };
  } finally {
    await metadata?.stop();
    await bus?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

/** Runs the bench; resolves to the process exit code. */
export async function main(argv: readonly string[], repoRoot: string): Promise<number> {
  try {
    const options = parseArgs(argv);
    const bundle = join(repoRoot, 'dist', 'nm-cloud-setup.cjs');
    if (!existsSync(bundle)) throw new RunFailed('dist/nm-cloud-setup.cjs is missing: run "npm run build" first');
    // The installed form (loader + V8 code cache), which is what the unit runs.
    const tool = installTool(repoRoot, bundle);
    try {
      if (options.realnm) {
        const unitText = readFileSync(join(repoRoot, 'systemd', 'nm-cloud-setup.service'), 'utf8');
        const nodeFlags = unitNodeFlags(unitText);
        const env = unitEnvironment(unitText);
        const command = { file: process.execPath, args: [...nodeFlags, tool.path], env };
        const result = await runRealnm(options, findPython(), command, nodeFlags, env);
        process.stdout.write(options.json ? `${JSON.stringify(result)}\n` : formatRealnm(result));
        return 0;
      }
      const result = await runAll(options, repoRoot, tool.path);
      process.stdout.write(options.json ? formatJson(result) : formatReport(result));
      return 0;
    } finally {
      tool.remove();
    }
  } catch (error) {
    if (!(error instanceof RunFailed) && !(error instanceof RealnmRunFailed)) throw error;
    process.stderr.write(`bench: ${error.message}\n`);
    return 1;
  }
}
