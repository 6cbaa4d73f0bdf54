// SPDX-License-Identifier: LGPL-2.1-or-later
// The bench's results, their goals, and how they are printed (table or JSON).
import { cpus, release, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import type { Phases } from './stats.js';

/** The goals; only printed, never enforced. */
export const GOALS = { startupRatio: 2.0, budgetSlackMs: 30, budgetLatencyMs: 20, rssMb: 60 } as const;

export interface Machine {
  readonly node: string;
  readonly cpu: string;
  readonly cores: number;
  readonly kernel: string;
  readonly memoryGiB: number;
}

export interface StartupResult {
  readonly runs: number;
  /** Medians of wall time, ms. */
  readonly nodeMs: number;
  readonly nodeFlagsMs: number;
  readonly toolMs: number;
  /** toolMs / nodeFlagsMs: the goal metric (same flags on both sides). */
  readonly ratio: number;
  /** Peak RSS medians, MB: of node --jitless -e 0 (what any Node process costs) and of the tool. */
  readonly nodeFlagsRssMb: number;
  readonly toolRssMbMedian: number;
  readonly toolRssMbMax: number;
}

export interface Ec2Run {
  readonly wallMs: number;
  readonly requests: number;
  readonly roundTrips: number;
  readonly maxRssMb: number;
  readonly reapplied: number;
  readonly phases: Phases;
}

export interface Ec2Result {
  readonly name: string;
  readonly nics: number;
  readonly ipsPerNic: number;
  readonly latencyMs: number;
  readonly expectedRequests: number;
  /** Medians over the runs. */
  readonly wallMs: number;
  readonly requests: number;
  readonly roundTrips: number;
  /** roundTrips x latency + start-up median + 30 ms. */
  readonly budgetMs: number;
  readonly withinBudget: boolean;
  readonly rssMbMedian: number;
  readonly rssMbMax: number;
  /** Medians of each phase over the runs. */
  readonly phases: Phases;
  readonly runs: readonly Ec2Run[];
}

export interface BenchResult {
  readonly machine: Machine;
  readonly quick: boolean;
  readonly runs: number;
  readonly startup: StartupResult;
  readonly ec2: readonly Ec2Result[];
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match?.[1] !== undefined) return match[1].trim();
  } catch {
    // not Linux, or /proc hidden: fall back to what libuv says
  }
  return cpus()[0]?.model ?? 'unknown';
}

export function describeMachine(): Machine {
  return {
    node: process.version,
    cpu: cpuModel(),
    cores: cpus().length,
    kernel: release(),
    memoryGiB: Math.round(totalmem() / 2 ** 30),
  };
}

const verdict = (met: boolean): string => (met ? 'goal met' : 'goal NOT met');
const ms = (value: number): string => value.toFixed(1);

/** Peak RSS of every measured tool run, MB. */
export function peakRssMb(result: BenchResult): number {
  return Math.max(result.startup.toolRssMbMax, ...result.ec2.map((e) => e.rssMbMax));
}

function table(rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number>): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  const line = (row: readonly string[]): string =>
    row
      .map((cell, col) => (rightAligned.has(col) ? cell.padStart(widths[col]!) : cell.padEnd(widths[col]!)))
      .join('  ')
      .trimEnd();
  return rows.map(line).join('\n');
}

function ec2Table(ec2: readonly Ec2Result[]): string {
  const header = [
    'scenario',
    'latency',
    'runs',
    'wall ms (median)',
    'requests',
    'round trips',
    'budget ms',
    'within',
    'peak RSS MB (median / max)',
  ];
  const rows = ec2.map((e) => [
    e.name,
    `${e.latencyMs} ms`,
    String(e.runs.length),
    ms(e.wallMs),
    String(e.requests),
    String(e.roundTrips),
    ms(e.budgetMs),
    e.withinBudget ? 'yes' : 'no',
    `${ms(e.rssMbMedian)} / ${ms(e.rssMbMax)}`,
  ]);
  return table([header, ...rows], new Set([1, 2, 3, 4, 5, 6]));
}

/** Where the wall time went: spawn -> first request, first request -> last response, -> exit. */
function phaseTable(ec2: readonly Ec2Result[]): string {
  const header = ['phases (median ms)', 'latency', 'spawn to 1st request', 'HTTP', 'last response to exit'];
  const rows = ec2.map((e) => [e.name, `${e.latencyMs} ms`, ms(e.phases.toFirstRequestMs), ms(e.phases.httpMs), ms(e.phases.afterHttpMs)]);
  return table([header, ...rows], new Set([1, 2, 3, 4]));
}

function budgetVerdict(ec2: readonly Ec2Result[]): string {
  const goalRows = ec2.filter((e) => e.latencyMs === GOALS.budgetLatencyMs);
  const detail = goalRows.map((e) => `${e.name}: ${ms(e.wallMs)} ms vs budget ${ms(e.budgetMs)} ms`).join('; ');
  return `EC2 at ${GOALS.budgetLatencyMs} ms within round trips x latency + start-up + ${GOALS.budgetSlackMs} ms: ${verdict(goalRows.every((e) => e.withinBudget))} (${detail})`;
}

export function formatReport(result: BenchResult): string {
  const { machine: m, startup: s } = result;
  const rss = peakRssMb(result);
  return [
    `machine: node ${m.node}, ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}`,
    `runs per scenario: ${result.runs}${result.quick ? ' (quick)' : ''}; rounds interleave all scenarios; medians of wall time, every command through the same rusage wrapper`,
    '',
    `start-up  node -e 0: ${ms(s.nodeMs)} ms   node <unit flags> -e 0: ${ms(s.nodeFlagsMs)} ms   tool, no provider: ${ms(s.toolMs)} ms`,
    `start-up peak RSS  node <unit flags> -e 0: ${ms(s.nodeFlagsRssMb)} MB   tool, no provider: ${ms(s.toolRssMbMedian)} MB`,
    `start-up ratio tool / node -e 0 (same flags): ${s.ratio.toFixed(2)}x (${(s.toolMs / s.nodeMs).toFixed(2)}x against plain node -e 0): ${verdict(s.ratio < GOALS.startupRatio)} (< ${GOALS.startupRatio.toFixed(1)}x)`,
    '',
    ec2Table(result.ec2),
    '',
    phaseTable(result.ec2),
    '',
    budgetVerdict(result.ec2),
    `peak RSS over all tool runs: ${ms(rss)} MB: ${verdict(rss < GOALS.rssMb)} (< ${GOALS.rssMb} MB)`,
    '',
  ].join('\n');
}

export function formatJson(result: BenchResult): string {
  const rss = peakRssMb(result);
  const goals = {
    startupRatio: { goal: GOALS.startupRatio, value: result.startup.ratio, met: result.startup.ratio < GOALS.startupRatio },
    ec2Budget: {
      latencyMs: GOALS.budgetLatencyMs,
      met: result.ec2.filter((e) => e.latencyMs === GOALS.budgetLatencyMs).every((e) => e.withinBudget),
    },
    peakRssMb: { goal: GOALS.rssMb, value: rss, met: rss < GOALS.rssMb },
  };
  return `${JSON.stringify({ ...result, goals }, null, 2)}\n`;
}
