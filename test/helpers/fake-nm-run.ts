// SPDX-License-Identifier: LGPL-2.1-or-later
// Shared pieces of the "built CLI against a fake NetworkManager" tests (test/nm/run-fake-nm*.test.ts):
// upstream's test data (TestNmCloudSetup in test-client.py), the pexpect-like ordered matcher,
// a per-test harness (private bus + loopback metadata server + fake NM) that concurrent
// tests can each own, and the tests every provider file has, defined from the data that file
// states (log lines, the ipv4 setting, the requests).
import { it, type TestContext } from 'vitest';
import { startPrivateBus, type PrivateBus } from '../harness/dbus-daemon.js';
import {
  ethernetProfile,
  startFakeNm,
  toPlain,
  type FakeDeviceSpec,
  type FakeNm,
  type FakeNmCall,
  type FakeNmOptions,
  type Settings,
} from '../fakes/fake-nm-service.js';
import { startLoopbackMetadataServer, type ImdsConfig, type ImdsRequest, type LoopbackMetadataServer } from './metadata-server.js';
import { runCli, type CliOutcome } from './run-cli.js';

/** Upstream's MACs (as the mock NM and the metadata give them) and addresses. */
export const MAC1 = 'cc:00:00:00:00:01';
export const MAC2 = 'cc:00:00:00:00:02';
export const IP1 = '172.31.26.249';
export const IP2 = '172.31.176.249';
/** The same MACs as the tool logs them. */
export const HW1 = 'CC:00:00:00:00:01';
export const HW2 = 'CC:00:00:00:00:02';

/** Upstream's devices: con-eth0 with ipv4 auto, con-eth1 without an ipv4 setting. */
export const UPSTREAM_DEVICES: readonly FakeDeviceSpec[] = [
  { iface: 'eth0', type: 'ethernet', hwaddr: MAC1, profile: ethernetProfile({ id: 'con-eth0', ipv4: { method: 'auto' } }) },
  { iface: 'eth1', type: 'ethernet', hwaddr: MAC2, profile: ethernetProfile({ id: 'con-eth1', ipv4: null }) },
];

/** Upstream's EC2 data (test_ec2): listing order mac2, mac1, so eth0 (mac1) is iface_idx 1. */
export const EC2_MACS = '/2018-09-24/meta-data/network/interfaces/macs/';
export const EC2_TOKEN = 'AQAAALH-k7i18JMkK-ORLZQfAa7nkNjQbKwpQPExNHqzk1oL_7eh-A==';

export function upstreamEc2Paths(omit: string[] = []): Record<string, string> {
  const paths: Record<string, string> = {
    [EC2_MACS]: `${MAC2}\n${MAC1}\n`,
    [`${EC2_MACS}${MAC2}/subnet-ipv4-cidr-block`]: '172.31.16.0/20',
    [`${EC2_MACS}${MAC1}/subnet-ipv4-cidr-block`]: '172.31.166.0/20',
    [`${EC2_MACS}${MAC1}/local-ipv4s`]: IP2,
    [`${EC2_MACS}${MAC2}/local-ipv4s`]: IP1,
  };
  for (const path of omit) delete paths[path];
  return paths;
}

/** Asserts the patterns appear in this order, as upstream's pexpect sequence does. */
export function expectInOrder(stdout: string, patterns: (string | RegExp)[]): void {
  let rest = stdout;
  for (const pattern of patterns) {
    const match = typeof pattern === 'string' ? { index: rest.indexOf(pattern), length: pattern.length } : pattern.exec(rest);
    const index = match === null ? -1 : match.index;
    if (index < 0) throw new Error(`expected ${String(pattern)} after the previous line; remaining output:\n${rest}`);
    rest = rest.slice(index + (typeof pattern === 'string' ? pattern.length : (match as RegExpExecArray)[0].length));
  }
}

/** The fake's recorded calls of one D-Bus member. */
export function callsOf(fake: FakeNm, member: string): FakeNmCall[] {
  return fake.calls.filter((call) => call.member === member);
}

/** A connection dict as sent over D-Bus, Variants unwrapped and `ay` as number arrays. */
export function plainSettings(settings: unknown): Record<string, Record<string, unknown>> {
  return toPlain(settings) as Record<string, Record<string, unknown>>;
}

/** setting → property → D-Bus signature, to check the types that were sent. */
export function signaturesOf(settings: unknown): Record<string, Record<string, string>> {
  const signatures = (props: Settings[string]): Record<string, string> =>
    Object.fromEntries(Object.entries(props).map(([key, value]) => [key, value.signature]));
  return Object.fromEntries(Object.entries(settings as Settings).map(([name, props]) => [name, signatures(props)]));
}

/** A MAC as the number array toPlain() makes of an `ay`. */
export function macArray(mac: string): number[] {
  return mac.split(':').map((octet) => parseInt(octet, 16));
}

/** The env upstream's test gives the tool (5.1), for one provider. */
export type ProviderEnvName = 'EC2' | 'GCP' | 'AZURE' | 'ALIYUN' | 'OCI';

export function cloudSetupEnv(
  provider: ProviderEnvName,
  busAddress: string,
  metadataUrl: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    LIBNM_USE_SESSION_BUS: '1',
    DBUS_SESSION_BUS_ADDRESS: busAddress,
    [`NM_CLOUD_SETUP_${provider}`]: 'yes',
    [`NM_CLOUD_SETUP_${provider}_HOST`]: metadataUrl,
    NM_CLOUD_SETUP_LOG: 'trace',
    ...extra,
  };
}

/** One test's world: its own bus, metadata server and (once started) fake NetworkManager. */
export interface FakeNmRun {
  readonly bus: PrivateBus;
  readonly metadata: LoopbackMetadataServer;
  /** Starts the fake NM on the private bus (upstream's two devices by default). */
  startNm(devices?: readonly FakeDeviceSpec[], options?: Partial<FakeNmOptions>): Promise<FakeNm>;
  env(extra?: Record<string, string>): Record<string, string>;
  /** Runs the built CLI to completion, with these extra variables and arguments. */
  run(extra?: Record<string, string>, args?: string[]): Promise<CliOutcome>;
  /** Stops everything that was started; idempotent. */
  stop(): Promise<void>;
}

export async function startFakeNmRun(provider: ProviderEnvName, imds: ImdsConfig): Promise<FakeNmRun> {
  const bus = await startPrivateBus();
  let metadata: LoopbackMetadataServer;
  try {
    metadata = await startLoopbackMetadataServer(imds);
  } catch (error) {
    await bus.stop();
    throw error;
  }
  let nm: FakeNm | undefined;
  let stopped = false;
  const env = (extra: Record<string, string> = {}): Record<string, string> => cloudSetupEnv(provider, bus.address, metadata.url, extra);
  return {
    bus,
    metadata,
    async startNm(devices = UPSTREAM_DEVICES, options = {}) {
      if (nm !== undefined) throw new Error('fake NM already started');
      nm = await startFakeNm({ address: bus.address, devices: [...devices], ...options });
      return nm;
    },
    env,
    run: (extra, args) => runCli(env(extra), args),
    async stop() {
      if (stopped) return;
      stopped = true;
      await nm?.stop();
      await metadata.stop();
      await bus.stop();
    },
  };
}

type Expect = TestContext['expect'];
type OnTestFinished = (fn: () => Promise<void>) => void;

/** One provider as these tests set it up: its env name and (upstream's) metadata for it. */
export interface FakeNmCloud {
  readonly provider: ProviderEnvName;
  /** The provider's usual metadata, a fresh copy on each call. */
  readonly imds: () => ImdsConfig;
  /** A run for one test (its own bus, metadata server, fake NM), stopped when that test finishes. */
  start(onTestFinished: OnTestFinished, imds?: ImdsConfig): Promise<FakeNmRun>;
}

export function fakeNmCloud(provider: ProviderEnvName, imds: () => ImdsConfig): FakeNmCloud {
  return {
    provider,
    imds,
    async start(onTestFinished, config = imds()) {
      const run = await startFakeNmRun(provider, config);
      onTestFinished(() => run.stop());
      return run;
    },
  };
}

/** Nothing was applied: no Reapply, no new profile. */
export function expectNothingApplied(expect: Expect, fake: FakeNm): void {
  expect(callsOf(fake, 'Reapply')).toEqual([]);
  expect(callsOf(fake, 'AddAndActivateConnection')).toEqual([]);
}

export interface GetConfigFailure {
  readonly title: string;
  /** The broken metadata. */
  readonly imds: ImdsConfig;
  /** What the run logs, in this order. */
  readonly lines: readonly (string | RegExp)[];
  readonly timeoutMs?: number;
  /** The provider's own checks of the run. */
  readonly also?: (check: { expect: Expect; outcome: CliOutcome; run: FakeNmRun }) => void;
}

/** it(): with this metadata get-config fails, the run exits 0 and applies nothing. */
export function itFailsGetConfig(cloud: FakeNmCloud, c: GetConfigFailure): void {
  it(
    c.title,
    async ({ expect, onTestFinished }) => {
      const run = await cloud.start(onTestFinished, c.imds);
      const fake = await run.startNm();
      const outcome = await run.run();
      expect(outcome.code).toBe(0);
      expectInOrder(outcome.stdout, [...c.lines]);
      expect(outcome.stdout).not.toContain('meta data received');
      c.also?.({ expect, outcome, run });
      expectNothingApplied(expect, fake);
    },
    c.timeoutMs,
  );
}

export interface ReapplyThenNothing {
  readonly title: string;
  /** What the first run logs, in this order. */
  readonly firstRun: readonly (string | RegExp)[];
  /** Also in the first run's output, anywhere. */
  readonly firstRunAlso?: readonly string[];
  /** Exactly the ipv4 setting eth0's one Reapply sends. */
  readonly ipv4: Record<string, unknown>;
  /** What the second run logs, in this order. */
  readonly secondRun: readonly (string | RegExp)[];
}

/**
 * it(): on upstream's two devices the first run reapplies eth0 once (this ipv4, everything else
 * as it was, the profile untouched) and creates nothing; the second run makes no Reapply call.
 */
export function itReappliesEth0ThenNothing(cloud: FakeNmCloud, c: ReapplyThenNothing): void {
  it(c.title, async ({ expect, onTestFinished }) => {
    const run = await cloud.start(onTestFinished);
    const fake = await run.startNm();
    const profileBefore = plainSettings(fake.device('eth0').profile);

    const first = await run.run();
    expect(first.code).toBe(0);
    expect(first.signal).toBeNull();
    expectInOrder(first.stdout, [...c.firstRun]);
    for (const line of c.firstRunAlso ?? []) expect(first.stdout).toContain(line);

    const [reapply, ...more] = callsOf(fake, 'Reapply');
    expect(more).toEqual([]);
    expect(reapply?.path).toBe(fake.device('eth0').path);
    const [settings, versionId, flags] = reapply!.args as [unknown, bigint, number];
    expect(flags).toBe(1);
    // The version id went through as a full u64 (they start above 2^53 in the fake) and was the
    // current one: the Reapply succeeded and the daemon moved to the next id.
    expect(typeof versionId).toBe('bigint');
    expect(versionId > 2n ** 53n).toBe(true);
    expect(fake.device('eth0').versionId).toBe(versionId + 1n);
    const ipv4 = plainSettings(settings)['ipv4']!;
    // The legacy keys must be gone, or the daemon would take them over address-data.
    expect(Object.keys(ipv4)).not.toContain('addresses');
    expect(Object.keys(ipv4)).not.toContain('routes');
    expect(ipv4).toEqual(c.ipv4);
    // Everything else went back unchanged, with its original types (ipv6 a(ayuay) and all).
    expect(plainSettings(fake.device('eth0').applied)['ipv6']).toEqual(profileBefore['ipv6']);
    expect(plainSettings(fake.device('eth0').profile)).toEqual(profileBefore);
    expect(callsOf(fake, 'AddAndActivateConnection')).toEqual([]);

    const reapplies = callsOf(fake, 'Reapply').length;
    const second = await run.run();
    expect(second.code).toBe(0);
    expectInOrder(second.stdout, [...c.secondRun]);
    expect(callsOf(fake, 'Reapply')).toHaveLength(reapplies);
  });
}

export interface RequestsOfARun {
  readonly title: string;
  /** The line that ends the (successful) run. */
  readonly applied: string;
  /** The URLs requested: exactly these, compared in order, sorted (each as often) or as a set. */
  readonly urls: readonly string[];
  readonly compare: 'in order' | 'sorted' | 'as a set';
  /** Header (lower case) -> its value on every request; undefined: never sent. */
  readonly headers: Readonly<Record<string, string | undefined>>;
}

/** it(): a run on the usual metadata makes these GET requests, all answered 200, with these headers. */
export function itSendsRequests(cloud: FakeNmCloud, c: RequestsOfARun): void {
  it(c.title, async ({ expect, onTestFinished }) => {
    const run = await cloud.start(onTestFinished);
    await run.startNm();
    const outcome = await run.run();
    expect(outcome.stdout).toContain(c.applied);
    const requests: ImdsRequest[] = run.metadata.requests();
    const urls = requests.map((request) => request.url);
    if (c.compare === 'in order') expect(urls).toEqual(c.urls);
    else if (c.compare === 'sorted') expect(urls.sort()).toEqual([...c.urls].sort());
    else expect(new Set(urls)).toEqual(new Set(c.urls));
    for (const request of requests) {
      expect(request).toMatchObject({ method: 'GET', status: 200 });
      for (const [header, value] of Object.entries(c.headers)) expect(request.headers[header]).toBe(value);
    }
  });
}

export const SKIP_KEY = 'org.freedesktop.nm-cloud-setup.skip';

/** it(): eth0's profile carries the skip user data: the run logs these lines and changes nothing. */
export function itHonoursSkipUserData(cloud: FakeNmCloud, lines: readonly string[]): void {
  it('honours the skip user data: no Reapply, nothing changes', async ({ expect, onTestFinished }) => {
    const run = await cloud.start(onTestFinished);
    const fake = await run.startNm();
    fake.setProfileUserData('eth0', SKIP_KEY, 'yes');
    const before = plainSettings(fake.device('eth0').applied);
    const outcome = await run.run();
    for (const line of lines) expect(outcome.stdout).toContain(line);
    expectNothingApplied(expect, fake);
    expect(plainSettings(fake.device('eth0').applied)).toEqual(before);
  });
}
