// SPDX-License-Identifier: LGPL-2.1-or-later
// `npm run bench -- --realnm [--runs N] [--rtt MS] [--c-tool FILE] [--json]` (root): the timer's
// steady-state run against a REAL NetworkManager (test/harness/realnm.sh, one instance with 2
// NICs and one with 8) and a metadata server behind a TCP delay line (delay-proxy.mjs) in the
// cloud namespace, so each HTTP exchange costs the round trip a real link would, the TCP
// handshake included. Each NIC gets 10 addresses; a first, untimed run applies them, and then
// every measured run is a rerun with nothing to change, as the timer's runs are.
// --c-tool runs upstream's C nm-cloud-setup side by side (same namespaces, env and wrapper).
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { realnmUp, REALNM_SH, type ImdsConfig, type MetadataServer, type RealNm } from '../../test/harness/realnm.js';
import { measure, type Measured } from './measure.js';
import { median } from './stats.js';

const TOKEN = 'bench-token-AQAAALH-k7i18JMkK';
const MACS = '/2018-09-24/meta-data/network/interfaces/macs/';
const IPS_PER_NIC = 10;

export interface RealnmOptions {
  readonly runs: number;
  readonly rttMs: number;
  readonly cTool: string | undefined;
  readonly json: boolean;
  /** Other commands measured like the tool, in the same rounds (rows `<name>, no provider`, `<name>, EC2 …`). */
  readonly variants: readonly { name: string; command: readonly string[] }[];
}

/** One namespace pair: NetworkManager with `nics` NICs, the metadata server and the delay line. */
interface World {
  readonly nics: number;
  readonly nm: RealNm;
  readonly metadata: MetadataServer;
  readonly proxy: ChildProcessByStdio<null, Readable, null>;
}

const macOf = (i: number): string => `02:00:00:00:00:${(i + 1).toString(16).padStart(2, '0')}`;

/**
 * realnm.sh's eth<i> is 172.16.(4+i).2/24; the metadata adds .10 to .18 as secondaries, and gives
 * eth<i> device-number i, as EC2 does (the tool reads it as a third leaf per NIC).
 */
function metadataOf(nics: number): ImdsConfig {
  const paths: Record<string, string> = { [MACS]: Array.from({ length: nics }, (_, i) => `${macOf(i)}/`).join('\n') };
  for (let i = 0; i < nics; i++) {
    const net = `172.16.${4 + i}`;
    const secondaries = Array.from({ length: IPS_PER_NIC - 1 }, (_, k) => `${net}.${10 + k}`);
    paths[`${MACS}${macOf(i)}/local-ipv4s`] = [`${net}.2`, ...secondaries].join('\n');
    paths[`${MACS}${macOf(i)}/subnet-ipv4-cidr-block`] = `${net}.0/24`;
    paths[`${MACS}${macOf(i)}/device-number`] = String(i);
  }
  return { ec2Token: TOKEN, paths };
}

/** Starts the delay line on 169.254.169.254:80 in the cloud namespace, in front of `port`. */
async function startProxy(nm: RealNm, port: number, rttMs: number): Promise<World['proxy']> {
  const script = join(import.meta.dirname, 'delay-proxy.mjs');
  const argv = ['netns', 'exec', nm.cloudNetns, process.execPath, script, '169.254.169.254:80', `127.0.0.1:${port}`, String(rttMs)];
  const child = spawn('ip', argv, { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('close', (code) => reject(new Error(`delay-proxy exited (${String(code)}) before listening`)));
  });
  return child;
}

async function startWorld(nics: number, rttMs: number): Promise<World> {
  const nm = await realnmUp({ name: `bench${nics}`, nics });
  const metadata = await nm.startMetadataServer(metadataOf(nics), { listen: '127.0.0.1:0' });
  const proxy = await startProxy(nm, metadata.port, rttMs);
  return { nics, nm, metadata, proxy };
}

async function stopWorld(world: World): Promise<void> {
  try {
    process.kill(-world.proxy.pid!, 'SIGTERM');
  } catch {
    // already gone
  }
  await world.nm.down();
}

/** A command as measured: the tool's (or the C tool's) file and arguments, and the unit's Environment= for node. */
interface Command {
  readonly file: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

interface Bench {
  readonly python: string;
  readonly stateDir: string;
}

/** Runs `command` inside the world's NM namespace (realnm.sh exec), measuring only the command. */
function runIn(bench: Bench, world: World, command: Command, ec2: boolean): Promise<Measured> {
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    ...command.env,
    REALNM_NAME: world.nm.env.REALNM_NETNS.replace(/-nm$/, ''),
    REALNM_STATE_DIR: world.nm.stateDir,
    RUNTIME_DIRECTORY: bench.stateDir,
  };
  if (ec2) {
    env['NM_CLOUD_SETUP_EC2'] = 'yes';
    // Veths have no permanent MAC: the tool's (and upstream's) test hook names them.
    env['NM_CLOUD_SETUP_MAP_INTERFACES'] = Array.from({ length: world.nics }, (_, i) => `eth${i}=${macOf(i)}`).join(';');
  }
  return measure(bench.python, command.file, command.args, env, 60_000, ['bash', REALNM_SH, 'exec']);
}

/** Applied-connection version ids of every NIC: a rerun that changes nothing leaves them alone. */
async function versionIds(world: World): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < world.nics; i++) ids.push((await world.nm.appliedConnection(`eth${i}`)).versionId);
  return ids;
}

/** A run that did not do its job: the bench stops with this one line. */
export class RealnmRunFailed extends Error {}

/** A measured rerun: exit 0, exactly token + listing + 3 per NIC requests and no output, or the bench stops. */
async function rerun(bench: Bench, world: World, command: Command, label: string): Promise<Measured> {
  const before = (await world.metadata.requests()).length;
  const result = await runIn(bench, world, command, true);
  const requests = (await world.metadata.requests()).length - before;
  const output = (result.stdout + result.stderr).trim().slice(0, 300);
  if (result.code !== 0) throw new RealnmRunFailed(`${label} exited ${result.code}: ${output}`);
  if (requests !== 2 + 3 * world.nics) throw new RealnmRunFailed(`${label} made ${requests} requests: ${output}`);
  // At the default level (WARN) a rerun with nothing to change prints nothing; a warning means it
  // did not do its whole job (e.g. state.json not written).
  if (output !== '') throw new RealnmRunFailed(`${label} printed: ${output}`);
  return result;
}

interface Row {
  readonly label: string;
  readonly once: () => Promise<Measured>;
  readonly samples: Measured[];
}

function rowsOf(
  bench: Bench,
  worlds: readonly World[],
  tool: Command,
  nodeFlags: readonly string[],
  unitEnv: Readonly<Record<string, string>>,
  options: RealnmOptions,
): Row[] {
  const { cTool } = options;
  const variants = options.variants.map(({ name, command: [file, ...args] }) => ({ name, command: { file: file!, args } }));
  const node = (args: readonly string[]): Command => ({ file: process.execPath, args: [...nodeFlags, ...args], env: unitEnv });
  const first = worlds[0]!;
  const startup = async (label: string, command: Command): Promise<Measured> => {
    const result = await runIn(bench, first, command, false);
    if (result.code !== 0 || result.stdout + result.stderr !== '')
      throw new RealnmRunFailed(`${label}: exit ${result.code}, output ${result.stdout}${result.stderr}`);
    return result;
  };
  const rows: Row[] = [];
  const add = (label: string, once: () => Promise<Measured>): void => void rows.push({ label, once, samples: [] });
  add('node <unit flags> -e 0', () => startup('node -e 0', node(['-e', '0'])));
  add('tool, no provider', () => startup('tool, no provider', tool));
  if (cTool !== undefined) add('C tool, no provider', () => startup('C tool, no provider', { file: cTool, args: [] }));
  for (const v of variants) add(`${v.name}, no provider`, () => startup(`${v.name}, no provider`, v.command));
  for (const world of worlds) {
    const name = `EC2 ${world.nics} NICs x ${IPS_PER_NIC} IPs, rerun`;
    add(`tool, ${name}`, () => rerun(bench, world, tool, `tool, ${name}`));
    if (cTool !== undefined) add(`C tool, ${name}`, () => rerun(bench, world, { file: cTool, args: [] }, `C tool, ${name}`));
    for (const v of variants) add(`${v.name}, ${name}`, () => rerun(bench, world, v.command, `${v.name}, ${name}`));
  }
  return rows;
}

const loadAverage = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** What --realnm prints (or its JSON): medians per row, the ratios the issue states its goals in. */
export interface RealnmResult {
  readonly rttMs: number;
  readonly runs: number;
  readonly loadAverage: { readonly start: string; readonly end: string };
  readonly rows: readonly { label: string; wallMs: number; cpuMs: number; rssMb: number }[];
}

function summarize(options: RealnmOptions, rows: readonly Row[], loadStart: string): RealnmResult {
  return {
    rttMs: options.rttMs,
    runs: options.runs,
    loadAverage: { start: loadStart, end: loadAverage() },
    rows: rows.map((row) => ({
      label: row.label,
      wallMs: median(row.samples.map((s) => s.wallMs)),
      cpuMs: median(row.samples.map((s) => s.cpuMs)),
      rssMb: median(row.samples.map((s) => s.maxRssKib / 1024)),
    })),
  };
}

export function formatRealnm(result: RealnmResult): string {
  const byLabel = new Map(result.rows.map((row) => [row.label, row]));
  const lines = [
    `real NetworkManager, metadata behind a ${result.rttMs} ms RTT delay line; ${result.runs} interleaved rounds, medians; load average ${result.loadAverage.start} -> ${result.loadAverage.end}`,
    `${'command'.padEnd(48)}${'wall ms'.padStart(9)}${'cpu ms'.padStart(9)}${'RSS MiB'.padStart(9)}`,
    ...result.rows.map(
      (r) => `${r.label.padEnd(48)}${r.wallMs.toFixed(1).padStart(9)}${r.cpuMs.toFixed(1).padStart(9)}${r.rssMb.toFixed(1).padStart(9)}`,
    ),
  ];
  const node = byLabel.get('node <unit flags> -e 0')!;
  const tool = byLabel.get('tool, no provider')!;
  lines.push(
    `tool, no provider / node <unit flags> -e 0: wall ${(tool.wallMs / node.wallMs).toFixed(2)}x, cpu ${(tool.cpuMs / node.cpuMs).toFixed(2)}x`,
  );
  for (const row of result.rows) {
    const c = byLabel.get(`C ${row.label}`);
    if (!row.label.startsWith('tool, ') || c === undefined) continue;
    lines.push(
      `${row.label} / C: wall ${(row.wallMs / c.wallMs).toFixed(2)}x, cpu ${(row.cpuMs / c.cpuMs).toFixed(2)}x, RSS ${(row.rssMb / c.rssMb).toFixed(2)}x`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Round 0 applies (the first run of each world, untimed) and warms the page cache; then every
 * round runs every row once, so load from elsewhere hits all rows alike. At the end no rerun may
 * have changed an applied connection.
 */
export async function runRealnm(
  options: RealnmOptions,
  python: string,
  tool: Command,
  nodeFlags: readonly string[],
  unitEnv: Readonly<Record<string, string>> = {},
): Promise<RealnmResult> {
  const loadStart = loadAverage();
  const state = makeStateDir();
  const worlds: World[] = [];
  try {
    for (const nics of [2, 8]) worlds.push(await startWorld(nics, options.rttMs));
    const bench: Bench = { python, stateDir: state.dir };
    for (const world of worlds) {
      const applied = await runIn(bench, world, tool, true);
      if (applied.code !== 0)
        throw new RealnmRunFailed(`the first run (${world.nics} NICs) exited ${applied.code}: ${applied.stdout}${applied.stderr}`);
    }
    const idsBefore = await Promise.all(worlds.map(versionIds));
    const rows = rowsOf(bench, worlds, tool, nodeFlags, unitEnv, options);
    for (let round = 0; round <= options.runs; round++) {
      for (const row of rows) {
        const sample = await row.once();
        if (round > 0) row.samples.push(sample);
      }
    }
    const idsAfter = await Promise.all(worlds.map(versionIds));
    if (JSON.stringify(idsAfter) !== JSON.stringify(idsBefore))
      throw new RealnmRunFailed('a rerun changed an applied connection (Reapply)');
    return summarize(options, rows, loadStart);
  } finally {
    for (const world of worlds) await stopWorld(world);
    state.remove();
  }
}

function makeStateDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'nmcs-bench-realnm-state-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
