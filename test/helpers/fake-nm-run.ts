// SPDX-License-Identifier: LGPL-2.1-or-later
// Shared pieces of the "built CLI against a fake NetworkManager" tests (test/nm/run-fake-nm*.test.ts):
// upstream's test data (TestNmCloudSetup in test-client.py), the pexpect-like ordered matcher,
// and a per-test harness (private bus + loopback metadata server + fake NM) that concurrent
// tests can each own.
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
import { startLoopbackMetadataServer, type ImdsConfig, type LoopbackMetadataServer } from './metadata-server.js';
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
  /** Runs the built CLI to completion. */
  run(extra?: Record<string, string>): Promise<CliOutcome>;
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
    run: (extra) => runCli(env(extra)),
    async stop() {
      if (stopped) return;
      stopped = true;
      await nm?.stop();
      await metadata.stop();
      await bus.stop();
    },
  };
}
