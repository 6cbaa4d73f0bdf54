// SPDX-License-Identifier: LGPL-2.1-or-later
// Shared pieces of the real-NetworkManager scenarios (test/e2e/realnm-*.test.ts): the built CLI
// run inside the NM namespace, a describe's NetworkManager + metadata server (each describe its
// own REALNM_NAME), ordered output checks that show the whole run on failure, expected kernel
// state, and the "second run changes nothing" test. Each scenario file states its own data:
// metadata, environment, log lines and kernel state.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  assertRealnmPrerequisites,
  pollUntil,
  realnmUp,
  REPO_ROOT,
  type ExecResult,
  type ImdsConfig,
  type MetadataServer,
  type PollOptions,
  type RealNm,
  type RealnmUpOptions,
} from '../harness/realnm.js';
import { makeStateDir } from './scratch.js';

// NCS_E2E_CLI: run another build of the CLI (a built bundle file) through the same scenarios.
export const CLI = process.env['NCS_E2E_CLI'] ?? path.join(REPO_ROOT, 'dist', 'nm-cloud-setup.cjs');

/** The MACs of realnm.sh's eth0 and eth1 (profiles "eth0" and "eth1"). */
export const MAC0 = '02:00:00:00:00:01';
export const MAC1 = '02:00:00:00:00:02';

// Veths have no permanent MAC: NM exposes Device.Wired.PermHwAddress = "" for them (the
// kernel's perm_addr is all-zero, addr_assign_type 3), and nm-cloud-setup -- like the C tool --
// takes Ethernet/veth MACs only from PermHwAddress.  NM_CLOUD_SETUP_MAP_INTERFACES is the
// tool's own test hook for exactly this (upstream CI uses it too): it supplies each
// interface's MAC by name.
export const MAP_INTERFACES = `eth0=${MAC0};eth1=${MAC1}`;

/** EC2's IMDSv2 interface listing. */
export const EC2_MACS = '/2018-09-24/meta-data/network/interfaces/macs/';
export const EC2_TOKEN = 'AQAAALH-k7i18JMkK-ORLZQfAa7nkNjQbKwpQPExNHqzk1oL_7eh-A==';

/** The harness's two NICs on EC2: eth0 gets 172.16.4.10 and .11 as secondaries, eth1 gets 172.16.5.10. */
export const EC2_TWO_NICS: ImdsConfig = {
  ec2Token: EC2_TOKEN,
  paths: {
    [EC2_MACS]: `${MAC0}/\n${MAC1}/`,
    [`${EC2_MACS}${MAC0}/local-ipv4s`]: '172.16.4.2\n172.16.4.10\n172.16.4.11',
    [`${EC2_MACS}${MAC0}/subnet-ipv4-cidr-block`]: '172.16.4.0/24',
    [`${EC2_MACS}${MAC1}/local-ipv4s`]: '172.16.5.2\n172.16.5.10',
    [`${EC2_MACS}${MAC1}/subnet-ipv4-cidr-block`]: '172.16.5.0/24',
    [`${EC2_MACS}${MAC0}/device-number`]: '0',
    [`${EC2_MACS}${MAC1}/device-number`]: '1',
  },
};

/** Root, NetworkManager and friends, and the built CLI; throws (does not skip) otherwise. */
export async function preflight(): Promise<void> {
  await assertRealnmPrerequisites();
  if (!fs.existsSync(CLI)) {
    throw new Error(`${path.relative(REPO_ROOT, CLI)} does not exist: run \`npm run build\` first`);
  }
}

/** The built CLI in the NM netns, as the unit runs it (node --jitless), with this environment. */
export function runCli(nm: RealNm, env: Record<string, string>, args: readonly string[] = []): Promise<ExecResult> {
  // state.json goes to a scratch directory, never the machine's /run/nm-cloud-setup.
  const scratch = env['RUNTIME_DIRECTORY'] === undefined ? makeStateDir() : undefined;
  const stateEnv: Record<string, string> = scratch === undefined ? {} : { RUNTIME_DIRECTORY: scratch };
  return nm
    .exec([process.execPath, '--jitless', '--no-expose-wasm', CLI, ...args], { env: { ...stateEnv, ...env }, timeoutMs: 45_000 })
    .finally(() => scratch !== undefined && fs.rmSync(scratch, { recursive: true, force: true }));
}

export type CliRunner = (nm: RealNm, opts?: { mapInterfaces?: boolean }) => Promise<ExecResult>;

/**
 * runCli() with this provider environment, NM_CLOUD_SETUP_LOG=trace and (unless
 * mapInterfaces is false) NM_CLOUD_SETUP_MAP_INTERFACES=MAP_INTERFACES.
 */
export function cliRunner(providerEnv: Record<string, string>): CliRunner {
  return (nm, opts = {}) =>
    runCli(nm, {
      ...providerEnv,
      NM_CLOUD_SETUP_LOG: 'trace',
      ...(opts.mapInterfaces === false ? {} : { NM_CLOUD_SETUP_MAP_INTERFACES: MAP_INTERFACES }),
    });
}

/** A run's exit, duration and output, for assertion messages. */
export function output(r: ExecResult): string {
  return `exit ${r.code} after ${Math.round(r.durationMs)} ms\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** the messages appear, in this order */
export function expectInOrder(r: ExecResult, messages: readonly string[], context = output(r)): void {
  let at = 0;
  for (const m of messages) {
    const i = r.stdout.indexOf(m, at);
    expect(i, `"${m}" (in order) in\n${context}`).toBeGreaterThanOrEqual(0);
    at = i + m.length;
  }
}

export const sorted = (a: readonly string[]): string[] => [...a].sort();

/** `config device <mac>: connection "<profile>" (<uuid>) reapplied` */
export function reappliedLine(mac: string, profile: string): RegExp {
  return new RegExp(`config device ${mac}: connection "${profile}" \\([^)]*\\) reapplied`);
}

/** One describe's NetworkManager (its own REALNM_NAME) and metadata server. */
export interface RealnmScenario {
  /** The NetworkManager; throws if beforeAll did not bring it up. */
  readonly nm: RealNm;
  readonly imds: MetadataServer;
  /** kernelSnapshot() after the first run, for the later tests (undefined: it did not get there). */
  stateAfterRun1: Record<string, unknown> | undefined;
}

export interface RealnmScenarioOptions extends RealnmUpOptions {
  readonly metadata: ImdsConfig;
  /** Runs in beforeAll once NM and the metadata server are up. */
  readonly setUp?: (nm: RealNm) => Promise<void>;
}

/** Registers the beforeAll (preflight, realnm.sh up, metadata server) and afterAll (down) of a describe. */
export function useRealnm(opts: RealnmScenarioOptions): RealnmScenario {
  const { metadata, setUp, ...up } = opts;
  let nm: RealNm | undefined;
  let imds: MetadataServer | undefined;
  beforeAll(async () => {
    await preflight();
    nm = await realnmUp(up);
    imds = await nm.startMetadataServer(metadata);
    await setUp?.(nm);
  });
  afterAll(async () => {
    await nm?.down();
  });
  return {
    get nm(): RealNm {
      if (!nm) throw new Error('realnm is not up (see the beforeAll error)');
      return nm;
    },
    get imds(): MetadataServer {
      if (!imds) throw new Error('the metadata server is not up (see the beforeAll error)');
      return imds;
    },
    stateAfterRun1: undefined,
  };
}

/** IPv4 state of the NM netns that a run should reach. */
export interface KernelState {
  /** device -> its IPv4 addresses, in kernel order */
  readonly addrs?: Readonly<Record<string, readonly string[]>>;
  /** device -> its IPv4 addresses, in any order */
  readonly addrsAnyOrder?: Readonly<Record<string, readonly string[]>>;
  /** table -> ipRouteSummary() of it */
  readonly tables?: Readonly<Record<number, readonly string[]>>;
  /** ipRuleSummary(), in any order */
  readonly rules?: readonly string[];
}

/** Polls until the kernel is in this state (Reapply may return before the kernel converged). */
export async function expectKernelState(nm: RealNm, state: KernelState, poll: PollOptions = {}): Promise<void> {
  await pollUntil(async () => {
    for (const [dev, addrs] of Object.entries(state.addrs ?? {})) expect(await nm.ipv4Addrs(dev), dev).toEqual(addrs);
    for (const [dev, addrs] of Object.entries(state.addrsAnyOrder ?? {}))
      expect(sorted(await nm.ipv4Addrs(dev)), dev).toEqual(sorted(addrs));
    for (const [table, routes] of Object.entries(state.tables ?? {}))
      expect(await nm.ipRouteSummary(table), `table ${table}`).toEqual(routes);
    if (state.rules) expect(sorted(await nm.ipRuleSummary())).toEqual(sorted(state.rules));
  }, poll);
}

/** Every keyfile is still there, byte for byte, and there is no other. */
export async function expectKeyfilesUnchanged(nm: RealNm, before: Record<string, Buffer>): Promise<void> {
  const after = await nm.keyfiles();
  expect(Object.keys(after)).toEqual(Object.keys(before));
  for (const [f, bytes] of Object.entries(before)) {
    expect(after[f]?.equals(bytes), `${f} changed:\n${after[f]?.toString()}`).toBe(true);
  }
}

type Settings = Record<string, Record<string, unknown>>;
/** ipv4 lists of an applied connection, in order, as short strings */
export function ipv4Lists(settings: Settings): { addresses: string[]; routes: string[]; rules: string[] } {
  const ipv4 = settings['ipv4'] ?? {};
  const list = (k: string): Record<string, unknown>[] => (ipv4[k] ?? []) as Record<string, unknown>[];
  return {
    addresses: list('address-data').map((a) => `${String(a['address'])}/${String(a['prefix'])}`),
    routes: list('route-data').map(
      (r) =>
        `${String(r['dest'])}/${String(r['prefix'])}${r['next-hop'] === undefined ? '' : ` via ${String(r['next-hop'])}`}` +
        ` metric ${String(r['metric'])} table ${String(r['table'])}`,
    ),
    rules: list('routing-rules').map(
      (r) => `${String(r['priority'])}${r['from'] === undefined ? '' : ` from ${String(r['from'])}`} table ${String(r['table'])}`,
    ),
  };
}

export interface SecondRun {
  readonly scenario: RealnmScenario;
  readonly run: (nm: RealNm) => Promise<ExecResult>;
  /** In the second run's output. */
  readonly lines: readonly string[];
  /** The kernel state, as the first run stored it in scenario.stateAfterRun1. */
  readonly snapshot: (nm: RealNm) => Promise<Record<string, unknown>>;
}

/** it(): a second run logs these lines, applies nothing and leaves the kernel as the first run left it. */
export function itSecondRunChangesNothing(c: SecondRun): void {
  it('second run: nothing to do, kernel state unchanged', async () => {
    const nm = c.scenario.nm;
    expect(c.scenario.stateAfterRun1, 'first run did not configure the kernel').toBeDefined();
    const r = await c.run(nm);
    expect(r.code, output(r)).toBe(0);
    for (const line of c.lines) expect(r.stdout, output(r)).toContain(line);
    expect(r.stdout, output(r)).not.toContain('some changes were applied');
    expect(r.stdout, output(r)).not.toMatch(/reapply connection/);
    expect(await c.snapshot(nm)).toEqual(c.scenario.stateAfterRun1);
  });
}

/**
 * curl inside the NM namespace to the metadata server from `source` (so the policy rules choose
 * the route), with these request headers: how a test proves which NIC the traffic of an address takes.
 */
export function curlMetadataFrom(nm: RealNm, source: string, path: string, headers: readonly string[] = []): Promise<ExecResult> {
  const headerArgs = headers.flatMap((header) => ['-H', header]);
  return nm.exec(['curl', '--noproxy', '*', '-sS', '-f', '-m', '5', '--interface', source, ...headerArgs, `http://169.254.169.254${path}`]);
}
