// SPDX-License-Identifier: LGPL-2.1-or-later
// `npm run bench -- --realnm [--runs N] [--rtt MS] [--c-tool FILE] [--json]` (root): the timer's
// steady-state run against a REAL NetworkManager (test/harness/realnm.sh, one instance with 2
// NICs and one with 8) and a metadata server behind a TCP delay line (delay-proxy.mjs) in the
// cloud namespace, so each HTTP exchange costs the round trip a real link would, the TCP
// handshake included. Each NIC gets 10 addresses; a first, untimed run applies them, and then
// every measured run is a rerun with nothing to change, as the timer's runs are.
// --c-tool runs upstream's C nm-cloud-setup side by side (same namespaces, env and wrapper). The
// C tool of NetworkManager 1.42 speaks IMDSv1 only (GET /latest/meta-data/ to detect, no token),
// so with --c-tool the metadata server also answers GETs without a token, as EC2 does with
// HttpTokens=optional; the TypeScript tool still sends its token on every request.
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
  /** Print one untimed rerun of the tool (and the C tool) per instance at debug level, before the rounds. */
  readonly logRuns: boolean;
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
 * realnm.sh's eth<i> is 172.16.(4+i).2/24; the metadata adds .10 to .18 as secondaries and gives
 * eth<i> device-number i, as EC2 does (the tool reads it as a third leaf per NIC). `imdsV1`
 * (for the C tool): GETs without a token are answered too, and /latest/meta-data/ lists ami-id,
 * which is what upstream 1.42's detection looks for.
 */
function metadataOf(nics: number, imdsV1: boolean): ImdsConfig {
  const paths: Record<string, string> = { [MACS]: Array.from({ length: nics }, (_, i) => `${macOf(i)}/`).join('\n') };
  if (imdsV1) paths['/latest/meta-data/'] = 'ami-id\nami-launch-index\ninstance-id\nlocal-ipv4\nmac\nnetwork/\n';
  for (let i = 0; i < nics; i++) {
    const net = `172.16.${4 + i}`;
    const secondaries = Array.from({ length: IPS_PER_NIC - 1 }, (_, k) => `${net}.${10 + k}`);
    paths[`${MACS}${macOf(i)}/local-ipv4s`] = [`${net}.2`, ...secondaries].join('\n');
    paths[`${MACS}${macOf(i)}/subnet-ipv4-cidr-block`] = `${net}.0/24`;
    paths[`${MACS}${macOf(i)}/device-number`] = String(i);
  }
  return { ec2Token: TOKEN, ...(imdsV1 ? { ec2TokenOptional: true } : {}), paths };
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

async function startWorld(nics: number, rttMs: number, imdsV1: boolean): Promise<World> {
  const nm = await realnmUp({ name: `bench${nics}`, nics });
  const metadata = await nm.startMetadataServer(metadataOf(nics, imdsV1), { listen: '127.0.0.1:0' });
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

/** A command as measured: the tool's (or the C tool's) file and arguments. */
interface Command {
  readonly file: string;
  readonly args: readonly string[];
  /** The unit's Environment= for node (the tool, its variants and `node -e 0`). */
  readonly env?: Readonly<Record<string, string>>;
}

/** What one EC2 rerun of a command must request: its file, arguments and request count. */
interface Ec2Command extends Command {
  readonly requests: (nics: number) => number;
}

/**
 * Requests of one EC2 rerun. The tool: the token PUT, the listing and 3 per NIC
 * (subnet-ipv4-cidr-block, local-ipv4s, device-number). Upstream's C tool of NetworkManager
 * 1.42: GET /latest/meta-data/ (detection, IMDSv1), the listing and 2 per NIC.
 */
const TOOL_REQUESTS = (nics: number): number => 2 + 3 * nics;
const C_TOOL_REQUESTS = (nics: number): number => 2 + 2 * nics;

interface Bench {
  readonly python: string;
  readonly stateDir: string;
}

/** Runs `command` inside the world's NM namespace (realnm.sh exec), measuring only the command. */
function runIn(bench: Bench, world: World, command: Command, ec2: boolean, extraEnv: Record<string, string> = {}): Promise<Measured> {
  const env: Record<string, string> = {
    ...command.env,
    ...extraEnv,
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
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

/**
 * Reapply calls NetworkManager has handled so far: its audit line for each, `op="device-reapply"`
 * (with `args=` only when the connection changed). A Reapply of an unchanged connection leaves
 * the version id alone but still re-commits the device's IP configuration, so it is counted here.
 */
function reapplyCount(world: World): number {
  return readFileSync(world.nm.nmLogPath, 'utf8').split('op="device-reapply"').length - 1;
}

/** A run that did not do its job: the bench stops with this one line. */
export class RealnmRunFailed extends Error {}

/** A measured rerun: exit 0, exactly the command's number of requests and no output, or the bench stops. */
async function rerun(bench: Bench, world: World, command: Ec2Command, label: string): Promise<Measured> {
  const before = (await world.metadata.requests()).length;
  const result = await runIn(bench, world, command, true);
  const requests = (await world.metadata.requests()).length - before;
  const output = (result.stdout + result.stderr).trim().slice(0, 300);
  if (result.code !== 0) throw new RealnmRunFailed(`${label} exited ${result.code}: ${output}`);
  if (requests !== command.requests(world.nics))
    throw new RealnmRunFailed(`${label} made ${requests} requests, not ${command.requests(world.nics)}: ${output}`);
  // At the default level (WARN) a rerun with nothing to change prints nothing; a warning means it
  // did not do its whole job (e.g. state.json not written).
  if (output !== '') throw new RealnmRunFailed(`${label} printed: ${output}`);
  return result;
}

/** Applied connections of every NIC without their version ids: what a Reapply may not change. */
async function appliedSettings(world: World): Promise<string> {
  const settings: unknown[] = [];
  for (let i = 0; i < world.nics; i++) settings.push((await world.nm.appliedConnection(`eth${i}`)).settings);
  return JSON.stringify(settings);
}

/**
 * The C tool once per world, untimed, at NM_CLOUD_SETUP_LOG=DEBUG, after the tool has applied: at
 * the default level a rerun prints nothing, and so would one that did nothing. It must exit 0,
 * detect EC2, make its requests and configure every NIC: find its applied connection as it would
 * make it ("needs no update"), or reapply it ("reapplied") without changing it, so that the C
 * tool and the tool converge on the same applied connections. Returns the line the report prints.
 * Upstream 1.42 reapplies every NIC on every run here: its new address list is the profile's
 * addresses followed by the metadata's, so a manual profile's primary address comes twice, and
 * its order-sensitive comparison with the applied list (nmcs_setting_ip_replace_ipv4_addresses)
 * always finds a change. The Reapply changes nothing: NetworkManager audits it without `args=`,
 * and the version id stays.
 */
async function checkCTool(bench: Bench, world: World, cTool: Ec2Command): Promise<string> {
  const settingsBefore = await appliedSettings(world);
  const before = (await world.metadata.requests()).length;
  const result = await runIn(bench, world, cTool, true, { NM_CLOUD_SETUP_LOG: 'DEBUG' });
  const requests = (await world.metadata.requests()).length - before;
  const log = result.stdout + result.stderr;
  const fail = (why: string): RealnmRunFailed =>
    new RealnmRunFailed(`C tool check (${world.nics} NICs, NM_CLOUD_SETUP_LOG=DEBUG): ${why}; its log:\n${log}`);
  if (result.code !== 0) throw fail(`exit ${result.code}`);
  if (!log.includes('provider ec2 detected')) throw fail('no "provider ec2 detected"');
  if (requests !== cTool.requests(world.nics)) throw fail(`${requests} requests, not ${cTool.requests(world.nics)}`);
  const lines = log.split('\n').map((line) => line.toLowerCase());
  const said = (mac: string, what: string): boolean => lines.some((line) => line.includes(`config device ${mac}: `) && line.includes(what));
  const macs = Array.from({ length: world.nics }, (_, i) => macOf(i));
  const unchanged = macs.filter((mac) => said(mac, ': device needs no update')).length;
  const reapplied = macs.filter((mac) => said(mac, ') reapplied')).length;
  if (unchanged + reapplied !== world.nics) throw fail(`${unchanged} of ${world.nics} devices "need no update", ${reapplied} "reapplied"`);
  if ((await appliedSettings(world)) !== settingsBefore) throw fail("its Reapply changed the tool's applied connections");
  return (
    `${world.nics} NICs: exit 0, "provider ec2 detected", ${requests} requests, ${unchanged} of ${world.nics} devices "need no update", ` +
    `${reapplied} "reapplied" (applied connections identical to the tool's before and after)`
  );
}

/**
 * One rerun of each command at NM_CLOUD_SETUP_LOG=debug, untimed, its log on stderr: upstream's
 * log lines carry CLOCK_BOOTTIME stamps, so this is where a rerun's wall time goes (the first
 * request's start, each round trip, the work after the last answer).
 */
async function logRuns(bench: Bench, world: World, commands: readonly Command[]): Promise<void> {
  for (const command of commands) {
    const result = await runIn(bench, world, command, true, { NM_CLOUD_SETUP_LOG: 'debug' });
    const head = `--- ${command.file}, EC2 ${world.nics} NICs, NM_CLOUD_SETUP_LOG=debug: exit ${result.code}, wall ${result.wallMs.toFixed(1)} ms, cpu ${result.cpuMs.toFixed(1)} ms`;
    process.stderr.write(`${head}\n${result.stdout}${result.stderr}\n`);
  }
}

interface Row {
  readonly label: string;
  readonly once: () => Promise<Measured>;
  readonly samples: Measured[];
  /** EC2 reruns: their world, whose NetworkManager's Reapply calls are counted around every run. */
  readonly world?: World;
  /** The C tool may Reapply (1.42 does on every run: see checkCTool). */
  readonly mayReapply?: boolean;
  /** Reapply calls NetworkManager handled during each run. */
  readonly reapplies: number[];
}

interface RowCommands {
  readonly tool: Ec2Command;
  readonly cTool: Ec2Command | undefined;
  /** --variant: other builds of the tool, which make its requests. */
  readonly variants: readonly { readonly name: string; readonly command: Ec2Command }[];
  readonly nodeFlags: readonly string[];
  readonly unitEnv: Readonly<Record<string, string>>;
}

function rowsOf(bench: Bench, worlds: readonly World[], { tool, cTool, variants, nodeFlags, unitEnv }: RowCommands): Row[] {
  const node = (args: readonly string[]): Command => ({ file: process.execPath, args: [...nodeFlags, ...args], env: unitEnv });
  const first = worlds[0]!;
  const startup = async (label: string, command: Command): Promise<Measured> => {
    const result = await runIn(bench, first, command, false);
    if (result.code !== 0 || result.stdout + result.stderr !== '')
      throw new RealnmRunFailed(`${label}: exit ${result.code}, output ${result.stdout}${result.stderr}`);
    return result;
  };
  const rows: Row[] = [];
  const add = (label: string, once: () => Promise<Measured>, world?: World, mayReapply?: boolean): void =>
    void rows.push({ label, once, samples: [], reapplies: [], ...(world === undefined ? {} : { world, mayReapply: mayReapply === true }) });
  add('node <unit flags> -e 0', () => startup('node -e 0', node(['-e', '0'])));
  add('tool, no provider', () => startup('tool, no provider', tool));
  if (cTool !== undefined) add('C tool, no provider', () => startup('C tool, no provider', cTool));
  for (const v of variants) add(`${v.name}, no provider`, () => startup(`${v.name}, no provider`, v.command));
  for (const world of worlds) {
    const name = `EC2 ${world.nics} NICs x ${IPS_PER_NIC} IPs, rerun`;
    add(`tool, ${name}`, () => rerun(bench, world, tool, `tool, ${name}`), world, false);
    if (cTool !== undefined) add(`C tool, ${name}`, () => rerun(bench, world, cTool, `C tool, ${name}`), world, true);
    for (const v of variants) add(`${v.name}, ${name}`, () => rerun(bench, world, v.command, `${v.name}, ${name}`), world, false);
  }
  return rows;
}

const loadAverage = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** What --realnm prints (or its JSON): medians per row, the ratios the issue states its goals in. */
export interface RealnmResult {
  readonly rttMs: number;
  readonly runs: number;
  readonly loadAverage: { readonly start: string; readonly end: string };
  /** reapplies: median Reapply calls per run (NetworkManager's audit lines), EC2 rows only. */
  readonly rows: readonly { label: string; wallMs: number; cpuMs: number; rssMb: number; reapplies?: number }[];
  /** With --c-tool: what the untimed DEBUG run of the C tool showed, per world. */
  readonly cToolChecks?: readonly string[];
}

function summarize(options: RealnmOptions, rows: readonly Row[], loadStart: string, cToolChecks: readonly string[]): RealnmResult {
  return {
    rttMs: options.rttMs,
    runs: options.runs,
    loadAverage: { start: loadStart, end: loadAverage() },
    rows: rows.map((row) => ({
      label: row.label,
      wallMs: median(row.samples.map((s) => s.wallMs)),
      cpuMs: median(row.samples.map((s) => s.cpuMs)),
      rssMb: median(row.samples.map((s) => s.maxRssKib / 1024)),
      ...(row.world === undefined ? {} : { reapplies: median(row.reapplies) }),
    })),
    ...(options.cTool === undefined ? {} : { cToolChecks }),
  };
}

export function formatRealnm(result: RealnmResult): string {
  const byLabel = new Map(result.rows.map((row) => [row.label, row]));
  const lines = [
    `real NetworkManager, metadata behind a ${result.rttMs} ms RTT delay line; ${result.runs} interleaved rounds, medians; load average ${result.loadAverage.start} -> ${result.loadAverage.end}`,
    `${'command'.padEnd(48)}${'wall ms'.padStart(9)}${'cpu ms'.padStart(9)}${'RSS MiB'.padStart(9)}${'Reapply/run'.padStart(13)}`,
    ...result.rows.map(
      (r) =>
        `${r.label.padEnd(48)}${r.wallMs.toFixed(1).padStart(9)}${r.cpuMs.toFixed(1).padStart(9)}${r.rssMb.toFixed(1).padStart(9)}` +
        (r.reapplies === undefined ? '' : String(r.reapplies).padStart(13)),
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
  for (const check of result.cToolChecks ?? []) lines.push(`C tool check (untimed, NM_CLOUD_SETUP_LOG=DEBUG): ${check}`);
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
  toolCommand: Command,
  nodeFlags: readonly string[],
  unitEnv: Readonly<Record<string, string>> = {},
): Promise<RealnmResult> {
  const loadStart = loadAverage();
  const tool: Ec2Command = { ...toolCommand, requests: TOOL_REQUESTS };
  const cTool: Ec2Command | undefined =
    options.cTool === undefined ? undefined : { file: options.cTool, args: [], requests: C_TOOL_REQUESTS };
  const state = makeStateDir();
  const worlds: World[] = [];
  try {
    for (const nics of [2, 8]) worlds.push(await startWorld(nics, options.rttMs, cTool !== undefined));
    const bench: Bench = { python, stateDir: state.dir };
    for (const world of worlds) {
      const applied = await runIn(bench, world, tool, true);
      if (applied.code !== 0)
        throw new RealnmRunFailed(`the first run (${world.nics} NICs) exited ${applied.code}: ${applied.stdout}${applied.stderr}`);
    }
    if (options.logRuns) for (const world of worlds) await logRuns(bench, world, [tool, ...(cTool === undefined ? [] : [cTool])]);
    const cToolChecks: string[] = [];
    if (cTool !== undefined) for (const world of worlds) cToolChecks.push(await checkCTool(bench, world, cTool));
    const variants = options.variants.map(({ name, command: [file = '', ...args] }) => ({
      name,
      command: { file, args, requests: TOOL_REQUESTS },
    }));
    const rows = rowsOf(bench, worlds, { tool, cTool, variants, nodeFlags, unitEnv });
    for (let round = 0; round <= options.runs; round++) {
      for (const row of rows) {
        // The tool's rerun may not Reapply; the C tool's may (its count per run is reported).
        const reappliesBefore = row.world === undefined ? 0 : reapplyCount(row.world);
        const sample = await row.once();
        if (row.world !== undefined) {
          const reapplies = reapplyCount(row.world) - reappliesBefore;
          if (reapplies !== 0 && row.mayReapply !== true)
            throw new RealnmRunFailed(`${row.label}: the rerun changed an applied connection (Reapply)`);
          if (round > 0) row.reapplies.push(reapplies);
        }
        if (round > 0) row.samples.push(sample);
      }
    }
    return summarize(options, rows, loadStart, cToolChecks);
  } finally {
    for (const world of worlds) await stopWorld(world);
    state.remove();
  }
}

function makeStateDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'nmcs-bench-realnm-state-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
