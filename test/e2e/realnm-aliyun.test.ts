// SPDX-License-Identifier: LGPL-2.1-or-later
//
// End-to-end: the built CLI (dist/nm-cloud-setup.mjs) against a REAL NetworkManager 1.42 in
// network namespaces (test/harness/realnm.sh) and an Aliyun (Alibaba Cloud) metadata mock on
// 169.254.169.254:80 in the "cloud" namespace (test/harness/imds-server.mjs).  Needs root and
// NetworkManager; without them this file FAILS on purpose (it does not skip).  Run
// `npm run build` first.
//
// Aliyun's default host is 100.100.100.200, which the cloud namespace does not own, so the run
// sets NM_CLOUD_SETUP_ALIYUN_HOST=http://169.254.169.254.
//
// Topology: eth0 = 02:00:00:00:00:01, profile "eth0" 172.16.4.2/24 gw 172.16.4.1 (static)
//           eth1 = 02:00:00:00:00:02, profile "eth1" 172.16.5.2/24 (static, never-default)
// Metadata: vpc-cidr-block 172.16.0.0/12 for both (its prefix is ignored: the netmask gives
// /24, so the "cidr" is 172.16.0.0/24 -- and the computed gateway would be 172.16.0.1; the
// metadata gateway must win).  eth0: private-ipv4s ["172.16.4.30","172.16.4.2"] with primary
// 172.16.4.2 (it must end up first); eth1: 172.16.5.2 alone.  Subnet routes are each address
// masked by the netmask prefix: 172.16.4.0/24 and 172.16.5.0/24.

import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  assertRealnmPrerequisites,
  pollUntil,
  realnmUp,
  type ExecResult,
  type ImdsConfig,
  type MetadataServer,
  type RealNm,
} from '../harness/realnm.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// NCS_E2E_CLI: run another build of the CLI (an .mjs file) through the same scenario.
const CLI = process.env['NCS_E2E_CLI'] ?? path.join(REPO_ROOT, 'dist', 'nm-cloud-setup.mjs');

const NAME = 'ncs-e2e-aliyun';
const MAC0 = '02:00:00:00:00:01';
const MAC1 = '02:00:00:00:00:02';
const MAP_INTERFACES = `eth0=${MAC0};eth1=${MAC1}`;

const MD = '/2016-01-01/meta-data/';
const MACS = `${MD}network/interfaces/macs/`;

const METADATA: ImdsConfig = {
  paths: {
    [MD]: 'dns-conf/\nhostname\ninstance-id\nnetwork/\n',
    [MACS]: `${MAC0}/\n${MAC1}/\n`,
    [`${MACS}${MAC0}/vpc-cidr-block`]: '172.16.0.0/12',
    [`${MACS}${MAC0}/private-ipv4s`]: '["172.16.4.30","172.16.4.2"]',
    // the primary arrives last: the list is reordered once everything is known
    [`${MACS}${MAC0}/primary-ip-address`]: { body: '172.16.4.2', delayMs: 300 },
    [`${MACS}${MAC0}/netmask`]: '255.255.255.0',
    [`${MACS}${MAC0}/gateway`]: '172.16.4.1',
    [`${MACS}${MAC1}/vpc-cidr-block`]: '172.16.0.0/12',
    [`${MACS}${MAC1}/private-ipv4s`]: '["172.16.5.2"]',
    [`${MACS}${MAC1}/primary-ip-address`]: '172.16.5.2',
    [`${MACS}${MAC1}/netmask`]: '255.255.255.0',
    [`${MACS}${MAC1}/gateway`]: '172.16.5.1',
  },
};

const TABLES = [30200, 30201, 30400, 30401];
const EXPECTED_RULES = [
  '30200: from 172.16.4.2 lookup 30200',
  '30200: from 172.16.4.30 lookup 30200',
  '30201: from 172.16.5.2 lookup 30201',
  '30350: from all lookup main suppress_prefixlength 0',
  '30400: from 172.16.4.2 lookup 30400',
  '30400: from 172.16.4.30 lookup 30400',
  '30401: from 172.16.5.2 lookup 30401',
].sort();

async function preflight(): Promise<void> {
  await assertRealnmPrerequisites();
  if (!fs.existsSync(CLI)) {
    throw new Error(`${path.relative(REPO_ROOT, CLI)} does not exist: run \`npm run build\` first`);
  }
}

function runCli(nm: RealNm): Promise<ExecResult> {
  return nm.exec([process.execPath, '--jitless', '--no-expose-wasm', CLI], {
    env: {
      NM_CLOUD_SETUP_ALIYUN: 'yes',
      NM_CLOUD_SETUP_ALIYUN_HOST: 'http://169.254.169.254',
      NM_CLOUD_SETUP_LOG: 'trace',
      NM_CLOUD_SETUP_MAP_INTERFACES: MAP_INTERFACES,
    },
    timeoutMs: 45_000,
  });
}

function output(r: ExecResult): string {
  return `exit ${r.code} after ${Math.round(r.durationMs)} ms\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** the messages appear, in this order */
function expectInOrder(r: ExecResult, messages: readonly string[]): void {
  let at = 0;
  for (const m of messages) {
    const i = r.stdout.indexOf(m, at);
    expect(i, `"${m}" (in order) in\n${output(r)}`).toBeGreaterThanOrEqual(0);
    at = i + m.length;
  }
}

const sorted = (a: readonly string[]): string[] => [...a].sort();

type Settings = Record<string, Record<string, unknown>>;
/** ipv4 lists of an applied connection, in order, as short strings */
function ipv4Lists(settings: Settings): { addresses: string[]; routes: string[]; rules: string[] } {
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

describe('nm-cloud-setup on a real NetworkManager: Aliyun, metadata gateway and netmask', () => {
  let nm: RealNm | undefined;
  let imds: MetadataServer;
  let stateAfterRun1: Record<string, unknown> | undefined;

  const env = (): RealNm => {
    if (!nm) throw new Error('realnm is not up (see the beforeAll error)');
    return nm;
  };

  beforeAll(async () => {
    await preflight();
    nm = await realnmUp({ name: NAME, nics: 2, ipv4: 'static' });
    imds = await nm.startMetadataServer(METADATA);
  });

  afterAll(async () => {
    await nm?.down();
  });

  it('first run: detects Aliyun, adds the secondary IP and the policy routing', async () => {
    const nm = env();
    const nBefore = (await imds.requests()).length;
    const r = await runCli(nm);
    expect(r.code, output(r)).toBe(0);
    expectInOrder(r, [
      'test: mock NM_CLOUD_SETUP_ALIYUN_HOST="http://169.254.169.254"',
      'provider aliyun detected',
      `found interfaces: ${MAC0}, ${MAC1}`,
      'meta data received',
      'some changes were applied for provider aliyun',
    ]);
    expect(r.stdout, output(r)).toMatch(new RegExp(`get-config: start fetching meta data for #0, ${MAC0} \\(`));
    expect(r.stdout, output(r)).toMatch(new RegExp(`get-config: start fetching meta data for #1, ${MAC1} \\(`));
    expect(r.stdout, output(r)).toMatch(new RegExp(`config device ${MAC0}: connection "eth0" \\([^)]*\\) reapplied`));
    expect(r.stdout, output(r)).toMatch(new RegExp(`config device ${MAC1}: connection "eth1" \\([^)]*\\) reapplied`));

    await pollUntil(async () => {
      expect(await nm.ipv4Addrs('eth0')).toEqual(['172.16.4.2/24', '172.16.4.30/24']);
      expect(await nm.ipv4Addrs('eth1')).toEqual(['172.16.5.2/24']);
      // subnet = address masked by the netmask's prefix, not vpc-cidr-block's 172.16.0.0/12
      expect(await nm.ipRouteSummary(30200)).toEqual(['172.16.4.0/24 dev eth0 metric 10']);
      expect(await nm.ipRouteSummary(30201)).toEqual(['172.16.5.0/24 dev eth1 metric 10']);
      // the metadata gateway, not 172.16.0.1 (first host of 172.16.0.0/24)
      expect(await nm.ipRouteSummary(30400)).toEqual(['default via 172.16.4.1 dev eth0 metric 10']);
      expect(await nm.ipRouteSummary(30401)).toEqual(['default via 172.16.5.1 dev eth1 metric 10']);
      expect(sorted(await nm.ipRuleSummary())).toEqual(EXPECTED_RULES);
    });

    // the primary first (it is listed second in private-ipv4s)
    const eth0 = ipv4Lists((await nm.appliedConnection('eth0')).settings);
    expect(eth0).toEqual({
      addresses: ['172.16.4.2/24', '172.16.4.30/24'],
      routes: ['172.16.4.0/24 metric 10 table 30200', '0.0.0.0/0 via 172.16.4.1 metric 10 table 30400'],
      rules: [
        '30200 from 172.16.4.2 table 30200',
        '30200 from 172.16.4.30 table 30200',
        '30350 table 254',
        '30400 from 172.16.4.2 table 30400',
        '30400 from 172.16.4.30 table 30400',
      ],
    });

    // Aliyun sends no metadata headers
    const reqs = (await imds.requests()).slice(nBefore);
    for (const q of reqs) {
      expect(q.status, q.url).toBe(200);
      expect(Object.keys(q.headers).filter((h) => /^metadata|^x-aws|^authorization$/i.test(h)), q.url).toEqual([]);
    }
    expect(new Set(reqs.map((q) => q.url))).toEqual(new Set(Object.keys(METADATA.paths)));
    stateAfterRun1 = await nm.kernelSnapshot(TABLES);
  });

  it('traffic sourced from the secondary IP leaves by eth0 through the metadata gateway', async () => {
    const nm = env();
    expect(stateAfterRun1, 'first run did not configure the kernel').toBeDefined();
    const r = await nm.ipRouteGet('192.0.2.1', '172.16.4.30');
    expect(r.table).toBe('30400');
    expect(r.gateway).toBe('172.16.4.1');
    const viaEth1 = await nm.ipRouteGet('192.0.2.1', '172.16.5.2');
    expect(viaEth1.dev).toBe('eth1'); // main table's default is via eth0
    expect(viaEth1.gateway).toBe('172.16.5.1');
    const c = await nm.exec(['curl', '--noproxy', '*', '-sS', '-f', '-m', '5', '--interface', '172.16.4.30', `http://169.254.169.254${MD}`]);
    expect(c.code, `${c.stdout}\n${c.stderr}`).toBe(0);
    expect((await imds.requests()).at(-1)?.remoteAddress).toBe('172.16.4.30');
  });

  it('second run: nothing to do, kernel state unchanged', async () => {
    const nm = env();
    expect(stateAfterRun1, 'first run did not configure the kernel').toBeDefined();
    const r = await runCli(nm);
    expect(r.code, output(r)).toBe(0);
    expect(r.stdout, output(r)).toContain(`config device ${MAC0}: device needs no update to applied connection "eth0"`);
    expect(r.stdout, output(r)).toContain(`config device ${MAC1}: device needs no update to applied connection "eth1"`);
    expect(r.stdout, output(r)).toContain('no changes were applied for provider aliyun');
    expect(r.stdout, output(r)).not.toContain('some changes were applied');
    expect(r.stdout, output(r)).not.toMatch(/reapply connection/);
    expect(await nm.kernelSnapshot(TABLES)).toEqual(stateAfterRun1);
  });
});
