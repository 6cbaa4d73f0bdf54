// SPDX-License-Identifier: LGPL-2.1-or-later
// `npm run demo` (scripts/demo.mjs bundles and calls this): the tool at work without a cloud.
// It brings up a real NetworkManager in a network namespace and a simulated cloud's metadata
// server in another (test/harness/realnm.sh through test/harness/realnm.ts, as the e2e tests
// do), runs the built tool inside the NetworkManager namespace as the unit runs it, and shows
// each step with a caption: status, plan, apply, the kernel's state, status again, a rerun that
// changes nothing, a metadata change and the run that applies it. Everything is torn down at
// the end, on failure, and on SIGINT/SIGTERM. The machine's own network is never touched.
//
// Exit status: 0 every step went as shown; 1 a step did not (the output says which);
// 2 it cannot run here (not root, packages missing, bad arguments; one line on stderr);
// 128+signal when interrupted (after the teardown).
import fs from 'node:fs';
import path from 'node:path';
import {
  missingRealnmCommands,
  pollUntil,
  realnmUp,
  REALNM_SH,
  REPO_ROOT,
  run,
  type ExecResult,
  type MetadataServer,
  type RealNm,
} from '../../test/harness/realnm.js';
import { cloudFor, PROVIDERS, type Cloud, type DemoProvider, type Nic } from './clouds.js';

const CLI = path.join(REPO_ROOT, 'dist', 'nm-cloud-setup.cjs');
const ME = 'npm run demo';
export const EXIT_STEP_FAILED = 1;
export const EXIT_CANNOT_RUN = 2;

interface Options {
  readonly provider: DemoProvider;
  readonly nics: number;
  /** The namespaces are "<prefix><name>-nm" and "<prefix><name>-cloud". */
  readonly name: string;
}

/** A step whose outcome is not what the demo shows: ends the demo with status 1. */
class StepFailed extends Error {
  override name = 'StepFailed';
  readonly code = 'ERR_DEMO_STEP';
}

const USAGE = `usage: ${ME} [-- --provider ${PROVIDERS.join('|')}] [--nics N] [--name NAME]`;

/** Parses argv; a string is the one-line complaint. */
export function parseArgs(argv: readonly string[]): Options | string {
  let provider: string = 'ec2';
  let nics: number | undefined;
  let name = 'ncs-demo';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag === '-h' || flag === '--help') return USAGE;
    const value = inline ?? argv[++i];
    if (value === undefined) return `${flag} needs a value (${USAGE})`;
    if (flag === '--provider') provider = value;
    else if (flag === '--nics') nics = Number(value);
    else if (flag === '--name') name = value;
    else return `unknown argument ${arg} (${USAGE})`;
  }
  if (!(PROVIDERS as readonly string[]).includes(provider)) return `unknown provider ${provider} (one of ${PROVIDERS.join(', ')})`;
  // OCI's change attaches a VNIC to the last NIC, and two are needed before that (clouds.ts).
  const min = provider === 'oci' ? 3 : 1;
  nics ??= provider === 'oci' ? 3 : 2;
  if (!Number.isInteger(nics) || nics < min || nics > 8) return `--nics must be ${min}..8 for ${provider}`;
  const full = `${process.env['NCS_REALNM_PREFIX'] ?? ''}${name}`;
  if (!/^[A-Za-z0-9_-]{1,20}$/.test(full)) return `--name: "${full}" must be 1-20 letters, digits, "-" or "_" (with NCS_REALNM_PREFIX)`;
  return { provider: provider as DemoProvider, nics, name };
}

/** Why the demo cannot run on this machine, in one line; undefined when it can. */
export async function cannotRun(fullName: string, uid = process.getuid?.()): Promise<string | undefined> {
  if (uid !== 0) {
    return `needs root: it creates network namespaces and runs a private NetworkManager in them (try: sudo ${ME})`;
  }
  const missing = await missingRealnmCommands();
  if (missing.length > 0) return `missing ${missing.join(', ')}: install the Debian packages with sudo ./scripts/setup-debian.sh`;
  if (!fs.existsSync(CLI)) return `${path.relative(REPO_ROOT, CLI)} is missing: run npm run build (or ./scripts/setup-debian.sh)`;
  for (const ns of [`${fullName}-nm`, `${fullName}-cloud`]) {
    // Someone else's demo (or test) with this name: never take over, nor tear down, its namespaces.
    if (fs.existsSync(`/run/netns/${ns}`)) return `network namespace ${ns} already exists (another demo running?): use --name`;
  }
  return undefined;
}

let stdoutGone = false;
/** Set once interrupted: steps still finishing (failing, as their namespaces go) print nothing. */
let muted = false;
const announce = (text = ''): void => {
  if (!stdoutGone) process.stdout.write(`${text}\n`);
};
const say = (text = ''): void => {
  if (!muted) announce(text);
};
const indent = (text: string): string =>
  text
    .trimEnd()
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');

let stepNumber = 0;
function step(title: string, why: string): void {
  say();
  say(`== ${++stepNumber}. ${title}`);
  for (const line of why.split('\n')) say(`   ${line}`);
}

/** The demo's world: NetworkManager, the metadata server, the cloud and the tool's environment. */
interface World {
  readonly nm: RealNm;
  readonly imds: MetadataServer;
  readonly cloud: Cloud;
  readonly toolEnv: Readonly<Record<string, string>>;
}

/** How the tool is shown: the provider's variables, not the harness's plumbing. */
function shownCommand(world: World, args: readonly string[], env: Readonly<Record<string, string>> = {}): string {
  const vars = Object.entries({ ...env, ...world.cloud.env }).map(([k, v]) => `${k}=${v}`);
  return ['$', ...vars, 'nm-cloud-setup', ...args].join(' ');
}

/** The built tool in the NetworkManager namespace, as the unit runs it; prints and returns its result. */
async function tool(world: World, args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<ExecResult> {
  say(shownCommand(world, args, env));
  const argv = [process.execPath, '--jitless', '--no-expose-wasm', CLI, ...args];
  const r = await world.nm.exec(argv, { env: { ...world.toolEnv, ...env }, timeoutMs: 90_000 });
  const text = `${r.stdout}${r.stderr}`;
  if (text.trim() !== '') say(indent(text));
  say(`    (exit status ${r.code})`);
  return r;
}

/** A command in the NetworkManager namespace, shown with its output. */
async function shell(world: World, argv: readonly string[]): Promise<string> {
  say(`$ ${argv.join(' ')}`);
  const r = await world.nm.exec(argv);
  const text = `${r.stdout}${r.stderr}`;
  say(text.trim() === '' ? '    (empty)' : indent(text));
  return r.stdout;
}

function expectExit(r: ExecResult, code: number, what: string): void {
  if (r.code !== code) throw new StepFailed(`${what}: exit status ${r.code}, expected ${code}`);
}

function describeMetadata(nics: readonly Nic[]): string {
  const addresses = (nic: Nic): string => (nic.addresses.length > 0 ? nic.addresses.join(', ') : '(not in the metadata)');
  return nics.map((nic) => `${nic.ifname} ${nic.mac}: ${addresses(nic)}`).join('\n');
}

/** Brings up NetworkManager and the metadata server; `track` learns the NetworkManager before anything can fail. */
async function bringUp(options: Options, track: (nm: RealNm) => void): Promise<World> {
  const cloud = cloudFor(options.provider, options.nics);
  const nm = await realnmUp({ name: options.name, nics: options.nics, ipv4: 'static' });
  track(nm);
  const imds = await nm.startMetadataServer(cloud.metadata(cloud.before));
  const runtimeDirectory = path.join(nm.stateDir, 'run');
  fs.mkdirSync(runtimeDirectory, { recursive: true });
  const mapInterfaces = Object.entries(nm.macs)
    .map(([ifname, mac]) => `${ifname}=${mac}`)
    .join(';');
  // Veths have no permanent MAC, so the tool's own test hook names each NIC's MAC; state.json goes
  // to the demo's state directory, never the machine's /run/nm-cloud-setup.
  const toolEnv = { ...cloud.env, NM_CLOUD_SETUP_MAP_INTERFACES: mapInterfaces, RUNTIME_DIRECTORY: runtimeDirectory };
  return { nm, imds, cloud, toolEnv };
}

function introduce(world: World): void {
  const { nm, cloud } = world;
  const nics = Object.keys(nm.macs);
  say(`nm-cloud-setup demo: a simulated ${cloud.provider} cloud, nothing outside two network namespaces is touched`);
  say(`  ${nm.netns}: a real NetworkManager with ${nics.join(', ')}, each with a profile of its name holding one address`);
  say(`  ${nm.cloudNetns}: the ${cloud.provider} metadata server at 169.254.169.254, and the other end of each NIC`);
  say(`Every nm-cloud-setup below is dist/nm-cloud-setup.cjs run inside ${nm.netns} as the unit runs it`);
  say(`(node --jitless), with NM_CLOUD_SETUP_MAP_INTERFACES giving the veths' MACs.`);
  const note = cloud.provider === 'gcp' ? '; GCP lists only the others, as forwarded IPs' : '';
  step('The metadata', `What the cloud says each NIC should have (primary address first${note}):`);
  say(indent(describeMetadata(cloud.before)));
}

/** The kernel's view, in the NetworkManager namespace: addresses, rules and the tables in use. */
async function showKernel(world: World): Promise<void> {
  for (const ifname of Object.keys(world.nm.macs)) await shell(world, ['ip', '-4', '-br', 'addr', 'show', 'dev', ifname]);
  if (world.cloud.provider === 'gcp') {
    await shell(world, ['ip', '-4', 'route', 'show', 'table', 'local', 'proto', 'static']);
    return;
  }
  await shell(world, ['ip', '-4', 'rule']);
  for (const table of world.cloud.tables) await shell(world, ['ip', '-4', 'route', 'show', 'table', table]);
}

/**
 * Waits until the kernel has every address (GCP: local route) and rule of the metadata: Reapply
 * returns before NetworkManager has finished configuring the kernel, and a busy machine shows it.
 */
async function kernelConverged(world: World, nics: readonly Nic[]): Promise<void> {
  const known = nics.filter((nic) => nic.addresses.length > 0);
  const done = async (): Promise<boolean> => {
    if (world.cloud.provider === 'gcp') {
      const local = await world.nm.execOk(['ip', '-4', 'route', 'show', 'table', 'local', 'proto', 'static']);
      return known.every((nic) => nic.addresses.slice(1).every((ip) => local.includes(`local ${ip} `)));
    }
    const rules = await world.nm.ipRuleSummary();
    for (const nic of known) {
      const addrs = await world.nm.ipv4Addrs(nic.ifname);
      const i = Number(nic.ifname.slice('eth'.length));
      const complete = nic.addresses.every(
        (ip) => addrs.includes(`${ip}/24`) && rules.includes(`${30400 + i}: from ${ip} lookup ${30400 + i}`),
      );
      if (!complete) return false;
    }
    return true;
  };
  await pollUntil(done, { timeoutMs: 15_000, message: 'the kernel has what the metadata says' }).catch(() => {
    throw new StepFailed('the kernel did not get what the metadata says within 15 s');
  });
}

/** status, plan, apply, the kernel, status again, a rerun: the first run on a fresh machine. */
async function firstRun(world: World): Promise<void> {
  step(
    'status: what the cloud says against what NetworkManager has applied',
    'NetworkManager has only what each profile says (one address, no policy routing): out-of-sync.',
  );
  const before = await tool(world, ['status']);
  expectExit(before, 0, 'status');
  if (!before.stdout.includes('out-of-sync')) throw new StepFailed('status before apply shows no out-of-sync interface');

  step('plan: what apply would do, as the equivalent nmcli command and a diff', 'Nothing is changed (exit status 2: changes pending).');
  const plan = await tool(world, ['plan']);
  expectExit(plan, 2, 'plan');
  if (!plan.stdout.includes('nmcli device modify')) throw new StepFailed('plan shows no nmcli line');

  step(
    'apply: the run the systemd unit makes (no command), with its log',
    'Addresses and policy routing go to the applied connection with Reapply; profiles on disk stay as they are.',
  );
  expectExit(await tool(world, [], { NM_CLOUD_SETUP_LOG: 'INFO' }), 0, 'apply');
  await kernelConverged(world, world.cloud.before);

  step(
    'The kernel now',
    world.cloud.provider === 'gcp'
      ? 'GCP forwards its extra addresses as local routes.'
      : "Each address has rules sending its traffic to its own NIC's tables (30200+i: subnet, 30400+i: default route).",
  );
  await showKernel(world);

  step('status again', 'Every interface in the metadata is in-sync.');
  const after = await tool(world, ['status']);
  expectExit(after, 0, 'status after apply');
  if (after.stdout.includes('out-of-sync')) throw new StepFailed('status after apply still shows an out-of-sync interface');
}

/** The rerun (timer or dispatcher) finds nothing to do; the kernel stays as it is. */
async function rerun(world: World): Promise<void> {
  step('Run again (the timer does, every 5 minutes)', 'Nothing to change: no Reapply, the kernel stays exactly as it is.');
  const tables = world.cloud.tables.filter((t) => t !== 'local').map(Number);
  const snapshot = await world.nm.kernelSnapshot(tables);
  const r = await tool(world, [], { NM_CLOUD_SETUP_LOG: 'INFO' });
  expectExit(r, 0, 'rerun');
  if (r.stdout.includes('some changes were applied')) throw new StepFailed('the rerun applied changes');
  const same = JSON.stringify(await world.nm.kernelSnapshot(tables)) === JSON.stringify(snapshot);
  say(same ? '    kernel state: unchanged' : '    kernel state: CHANGED');
  if (!same) throw new StepFailed('the rerun changed the kernel state');
}

/** The cloud changes (an address added, or on OCI a VNIC attached); the next run applies it. */
async function metadataChange(world: World): Promise<void> {
  step(`The metadata changes: ${world.cloud.change}`, 'The metadata server now says:');
  await world.imds.setConfig(world.cloud.metadata(world.cloud.after));
  say(indent(describeMetadata(world.cloud.after)));
  const plan = await tool(world, ['plan']);
  expectExit(plan, 2, 'plan after the change');

  step('The next run applies it', 'Only what changed is reapplied.');
  const r = await tool(world, [], { NM_CLOUD_SETUP_LOG: 'INFO' });
  expectExit(r, 0, 'apply after the change');
  await kernelConverged(world, world.cloud.after);
  if (!r.stdout.includes('some changes were applied')) throw new StepFailed('the run after the change applied nothing');
  const changed = world.cloud.after.find((nic, i) => nic.addresses.join() !== world.cloud.before[i]?.addresses.join());
  if (changed !== undefined) await shell(world, ['ip', '-4', '-br', 'addr', 'show', 'dev', changed.ifname]);
  if (world.cloud.provider === 'gcp') await shell(world, ['ip', '-4', 'route', 'show', 'table', 'local', 'proto', 'static']);
  else await shell(world, ['ip', '-4', 'rule']);
  expectExit(await tool(world, ['status']), 0, 'status after the change');
}

/** realnm.sh down for this name, whether or not `up` finished (it waits for a running `up`). */
async function tearDown(fullName: string, nm: RealNm | undefined): Promise<void> {
  announce();
  announce(`== Tearing down: network namespaces ${fullName}-nm and ${fullName}-cloud, NetworkManager, the metadata server`);
  let stateDir = nm?.stateDir;
  if (nm !== undefined) await nm.down();
  else {
    // Interrupted during `up`: realnm.sh names its state directory (`env`), and `down` waits for `up`.
    const env = { REALNM_NAME: fullName };
    stateDir = /^export REALNM_STATE_DIR=(.+)$/m.exec((await run('bash', [REALNM_SH, 'env'], { env })).stdout)?.[1];
    const r = await run('bash', [REALNM_SH, 'down'], { env, timeoutMs: 180_000 });
    if (r.code !== 0) throw new Error(`realnm.sh down failed: ${r.stderr.trim()}`);
  }
  // realnm.sh keeps NetworkManager's log next to its state directory; the demo leaves nothing behind.
  if (stateDir !== undefined) fs.rmSync(`${stateDir}.logs`, { recursive: true, force: true });
  const left = [`${fullName}-nm`, `${fullName}-cloud`].filter((ns) => fs.existsSync(`/run/netns/${ns}`));
  announce(left.length === 0 ? '   done: both namespaces are gone.' : `   still there: ${left.join(', ')}`);
}

/** Runs the demo; resolves the exit status (signals exit from their handler, after the teardown). */
export async function main(argv: readonly string[]): Promise<number> {
  const options = parseArgs(argv);
  if (typeof options === 'string') {
    process.stderr.write(`${ME}: ${options}\n`);
    return options === USAGE ? 0 : EXIT_CANNOT_RUN;
  }
  const fullName = `${process.env['NCS_REALNM_PREFIX'] ?? ''}${options.name}`;
  const problem = await cannotRun(fullName);
  if (problem !== undefined) {
    process.stderr.write(`${ME}: ${problem}\n`);
    return EXIT_CANNOT_RUN;
  }
  let nm: RealNm | undefined;
  let teardown: Promise<void> | undefined;
  const tearDownOnce = (): Promise<void> => (teardown ??= tearDown(fullName, nm));
  let stopping: string | undefined;
  const interrupt = (why: string, code: number): void => {
    // The children run in their own process groups, so Ctrl-C reaches only us: tear down once,
    // and let a second Ctrl-C neither kill the teardown nor start another.
    if (stopping !== undefined) {
      announce(`${why}: still tearing down, please wait`);
      return;
    }
    stopping = why;
    muted = true;
    announce(`\n${why}: stopping the demo`);
    void tearDownOnce().then(
      () => process.exit(code),
      (error: unknown) => {
        process.stderr.write(`${ME}: teardown failed: ${String(error)}\n`);
        process.exit(code);
      },
    );
  };
  process.on('SIGINT', () => interrupt('SIGINT', 130)).on('SIGTERM', () => interrupt('SIGTERM', 143));
  // `npm run demo | head`: once the reader is gone, stop writing and clean up all the same.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    stdoutGone = true;
    interrupt('stdout closed', 141);
  });
  try {
    say(`Bringing up ${fullName}-nm and ${fullName}-cloud (NetworkManager, a private D-Bus, veths) ...`);
    const world = await bringUp(options, (up) => (nm = up));
    introduce(world);
    await firstRun(world);
    await rerun(world);
    await metadataChange(world);
    await tearDownOnce();
    say('\nThe demo went as shown. On a real cloud instance: NM_CLOUD_SETUP_<PROVIDER>=yes ./bin/nm-cloud-setup');
    return 0;
  } catch (error) {
    // Interrupted: the steps fail as their namespaces go away; the signal handler ends the process.
    if (stopping !== undefined) return new Promise<number>(() => {});
    const what = error instanceof StepFailed ? 'step did not go as shown: ' : '';
    process.stderr.write(`${ME}: ${what}${error instanceof Error ? error.message : String(error)}\n`);
    await tearDownOnce().catch((e: unknown) => process.stderr.write(`${ME}: teardown failed: ${String(e)}\n`));
    return EXIT_STEP_FAILED;
  }
}
