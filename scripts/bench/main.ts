// SPDX-License-Identifier: LGPL-2.1-or-later
// `npm run bench` (scripts/bench.mjs bundles and calls this): start-up, EC2 wall time, HTTP
// requests, critical-path round trips and peak RSS of the built tool, run exactly as the systemd
// unit runs it, against a loopback metadata server and the fake NetworkManager on a private bus.
// It prints numbers and goal verdicts; it never fails on a goal, only when a run did not do its job.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startPrivateBus, type PrivateBus } from '../../test/harness/dbus-daemon.js';
import { startFakeNm } from '../../test/fakes/fake-nm-service.js';
import { ec2Devices, ec2Metadata, expectedRequests, type Ec2Shape } from './ec2-world.js';
import { findPython, measure, type Measured } from './measure.js';
import { startBenchMetadataServer, type BenchMetadataServer } from './metadata-server.js';
import { describeMachine, formatJson, formatReport, type BenchResult, type Ec2Result, type Ec2Run, type StartupResult } from './report.js';
import { criticalPathRoundTrips, max, median, phasesOf } from './stats.js';

const NODE_FLAGS = ['--jitless', '--no-expose-wasm'];
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
}

/** A run that did not do its job: the bench stops with this one line. */
class RunFailed extends Error {}

function usage(message: string): never {
  throw new RunFailed(`${message}; usage: npm run bench -- [--quick] [--runs N] [--json]`);
}

function parseArgs(argv: readonly string[]): Options {
  let runs: number | undefined;
  let json = false;
  let quick = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--json') json = true;
    else if (arg === '--quick') quick = true;
    else if (arg === '--runs') {
      runs = Number(argv[++i]);
      if (!Number.isInteger(runs) || runs < 1) usage('--runs needs a positive integer');
    } else usage(`unknown argument ${String(arg)}`);
  }
  return { runs: runs ?? (quick ? QUICK_RUNS : DEFAULT_RUNS), json, quick };
}

/** What every measurement needs. */
interface Bench {
  readonly python: string;
  readonly bundle: string;
  readonly runs: number;
  readonly bus: PrivateBus;
  readonly metadata: BenchMetadataServer;
}

/** The tool's environment: only what the unit would pass, plus PATH as the tests do. */
function toolEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...extra };
}

const runNode = (bench: Bench, args: readonly string[], env = toolEnv()): Promise<Measured> => measure(bench.python, process.execPath, args, env);

async function runStartup(bench: Bench): Promise<StartupResult> {
  const commands = {
    node: ['-e', '0'],
    nodeFlags: [...NODE_FLAGS, '-e', '0'],
    tool: [...NODE_FLAGS, bench.bundle],
  };
  const samples = { node: [] as Measured[], nodeFlags: [] as Measured[], tool: [] as Measured[] };
  // One untimed round first (page cache); then round-robin, so drift hits all three alike.
  for (let i = 0; i <= bench.runs; i++) {
    for (const key of ['node', 'nodeFlags', 'tool'] as const) {
      const result = await runNode(bench, commands[key]);
      if (result.code !== 0) throw new RunFailed(`start-up run of ${key} exited ${result.code}: ${oneLine(result.stderr)}`);
      if (key === 'tool' && result.stdout + result.stderr !== '') {
        throw new RunFailed(`the tool with no provider enabled printed something: ${oneLine(result.stdout + result.stderr)}`);
      }
      if (i > 0) samples[key].push(result);
    }
  }
  const wall = (key: keyof typeof samples): number => median(samples[key].map((s) => s.wallMs));
  const rss = samples.tool.map((s) => s.maxRssKib / 1024);
  return {
    nodeFlagsRssMb: median(samples.nodeFlags.map((s) => s.maxRssKib / 1024)),
    runs: bench.runs,
    nodeMs: wall('node'),
    nodeFlagsMs: wall('nodeFlags'),
    toolMs: wall('tool'),
    ratio: wall('tool') / wall('nodeFlags'),
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
    bench.metadata.configure(ec2Metadata(shape), latencyMs);
    bench.metadata.takeRequests();
    result = await runNode(
      bench,
      [...NODE_FLAGS, bench.bundle],
      toolEnv({ NM_CLOUD_SETUP_EC2: 'yes', NM_CLOUD_SETUP_EC2_HOST: bench.metadata.url, DBUS_SYSTEM_BUS_ADDRESS: bench.bus.address }),
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

async function runEc2(bench: Bench, shape: Ec2Shape, latencyMs: number, startupMs: number): Promise<Ec2Result> {
  await runEc2Once(bench, shape, latencyMs); // untimed warm-up
  const runs: Ec2Run[] = [];
  for (let i = 0; i < bench.runs; i++) runs.push(await runEc2Once(bench, shape, latencyMs));
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
    runs,
  };
}

async function runAll(options: Options, repoRoot: string): Promise<BenchResult> {
  const bundle = join(repoRoot, 'dist', 'nm-cloud-setup.cjs');
  if (!existsSync(bundle)) throw new RunFailed('dist/nm-cloud-setup.cjs is missing: run "npm run build" first');
  const bus = await startPrivateBus();
  try {
    const metadata = await startBenchMetadataServer();
    try {
      const bench: Bench = { python: findPython(), bundle, runs: options.runs, bus, metadata };
      const startup = await runStartup(bench);
      const ec2: Ec2Result[] = [];
      for (const shape of SHAPES) {
        for (const latencyMs of LATENCIES_MS) ec2.push(await runEc2(bench, shape, latencyMs, startup.toolMs));
      }
      return { machine: describeMachine(), quick: options.quick, runs: options.runs, startup, ec2 };
    } finally {
      await metadata.stop();
    }
  } finally {
    await bus.stop();
  }
}

/** Runs the bench; resolves to the process exit code. */
export async function main(argv: readonly string[], repoRoot: string): Promise<number> {
  try {
    const options = parseArgs(argv);
    const result = await runAll(options, repoRoot);
    process.stdout.write(options.json ? formatJson(result) : formatReport(result));
    return 0;
  } catch (error) {
    if (!(error instanceof RunFailed)) throw error;
    process.stderr.write(`bench: ${error.message}\n`);
    return 1;
  }
}
