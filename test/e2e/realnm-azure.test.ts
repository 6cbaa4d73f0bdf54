// SPDX-License-Identifier: LGPL-2.1-or-later
//
// End-to-end: the built CLI (dist/nm-cloud-setup.mjs) against a REAL NetworkManager 1.42 in
// network namespaces (test/harness/realnm.sh) and an Azure IMDS mock (text format) on
// 169.254.169.254:80 in the "cloud" namespace (test/harness/imds-server.mjs).  Needs root and
// NetworkManager; without them this file FAILS on purpose (it does not skip).  Run
// `npm run build` first.  NM_CLOUD_SETUP_AZURE_HOST is NOT set: the default host is used.
//
// Topology: eth0 = 02:00:00:00:00:01, profile "eth0" 172.16.4.2/24 gw 172.16.4.1 (static)
//           eth1 = 02:00:00:00:00:02, profile "eth1" 172.16.5.2/24 (static, never-default)
// Metadata: interface 0 = eth0 (MAC without separators, as Azure sends it) with 172.16.4.2
// (primary) and 172.16.4.20, subnet 172.16.4.0/24; interface 1 = eth1 with 172.16.5.2 and
// 172.16.5.20, subnet 172.16.5.0/24.  The primary's answer is delayed so that it arrives last:
// it must still come first.  Gateways are computed: first host of the subnet.

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
  type ImdsPathEntry,
  type MetadataServer,
  type RealNm,
} from '../harness/realnm.js';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// NCS_E2E_CLI: run another build of the CLI (an .mjs file) through the same scenario.
const CLI = process.env['NCS_E2E_CLI'] ?? path.join(REPO_ROOT, 'dist', 'nm-cloud-setup.mjs');

const NAME = 'ncs-e2e-azure';
const MAC0 = '02:00:00:00:00:01';
const MAC1 = '02:00:00:00:00:02';
const MAP_INTERFACES = `eth0=${MAC0};eth1=${MAC1}`;

const Q = '?format=text&api-version=2017-04-02';
const IF = '/metadata/instance/network/interface/';

function azurePaths(): Record<string, ImdsPathEntry> {
  const paths: Record<string, ImdsPathEntry> = {
    [`/metadata/instance${Q}`]: 'compute/\nnetwork/\n',
    [`${IF}${Q}`]: '0/\n1/\n',
  };
  const nics = [
    { mac: '020000000001', net: '172.16.4' },
    { mac: '020000000002', net: '172.16.5' },
  ];
  nics.forEach(({ mac, net }, i) => {
    paths[`${IF}${i}/macAddress${Q}`] = mac;
    paths[`${IF}${i}/ipv4/ipAddress/${Q}`] = '0/\n1/\n';
    // the primary (index 0) answers last
    paths[`${IF}${i}/ipv4/ipAddress/0/privateIpAddress${Q}`] = { body: `${net}.2`, delayMs: 300 };
    paths[`${IF}${i}/ipv4/ipAddress/1/privateIpAddress${Q}`] = `${net}.20\n`;
    paths[`${IF}${i}/ipv4/subnet/0/address/${Q}`] = `${net}.0`;
    paths[`${IF}${i}/ipv4/subnet/0/prefix/${Q}`] = '24\n';
  });
  return paths;
}

const METADATA: ImdsConfig = { requireHeaders: { Metadata: 'true' }, paths: azurePaths() };

const TABLES = [30200, 30201, 30400, 30401];
const EXPECTED_RULES = [
  '30200: from 172.16.4.2 lookup 30200',
  '30200: from 172.16.4.20 lookup 30200',
  '30201: from 172.16.5.2 lookup 30201',
  '30201: from 172.16.5.20 lookup 30201',
  '30350: from all lookup main suppress_prefixlength 0',
  '30400: from 172.16.4.2 lookup 30400',
  '30400: from 172.16.4.20 lookup 30400',
  '30401: from 172.16.5.2 lookup 30401',
  '30401: from 172.16.5.20 lookup 30401',
].sort();

async function preflight(): Promise<void> {
  await assertRealnmPrerequisites();
  if (!fs.existsSync(CLI)) {
    throw new Error(`${path.relative(REPO_ROOT, CLI)} does not exist: run \`npm run build\` first`);
  }
}

function runCli(nm: RealNm): Promise<ExecResult> {
  // No NM_CLOUD_SETUP_AZURE_HOST: the CLI must use its default http://169.254.169.254.
  return nm.exec([process.execPath, '--jitless', '--no-expose-wasm', CLI], {
    env: {
      NM_CLOUD_SETUP_AZURE: 'yes',
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

/** routing rules of the applied connection, in order: "30200 from 172.16.4.2 table 30200" */
function ruleList(settings: Record<string, Record<string, unknown>>): string[] {
  const rules = (settings['ipv4']?.['routing-rules'] ?? []) as Record<string, unknown>[];
  return rules.map((r) => `${String(r['priority'])}${r['from'] === undefined ? '' : ` from ${String(r['from'])}`} table ${String(r['table'])}`);
}

describe('nm-cloud-setup on a real NetworkManager: Azure, 2 NICs with 2 addresses each', () => {
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

  it('first run: detects Azure, adds the secondary IPs and the policy routing', async () => {
    const nm = env();
    const nBefore = (await imds.requests()).length;
    const r = await runCli(nm);
    expect(r.code, output(r)).toBe(0);
    expect(r.stdout, output(r)).not.toContain('NM_CLOUD_SETUP_AZURE_HOST');
    expectInOrder(r, [
      'provider azure detected',
      `found interfaces: ${MAC0}, ${MAC1}`,
      'found azure interfaces: 2',
      'meta data received',
      'some changes were applied for provider azure',
    ]);
    for (const line of [
      `interface[0]: found a matching device with hwaddr ${MAC0}`,
      `interface[1]: found a matching device with hwaddr ${MAC1}`,
      'interface[0]: received address 172.16.4.2',
      'interface[0]: received address 172.16.4.20',
      'interface[0]: received subnet address 172.16.4.0',
      'interface[0]: received subnet prefix 24',
      'interface[1]: received address 172.16.5.20',
      'interface[1]: received subnet prefix 24',
    ]) {
      expect(r.stdout, output(r)).toContain(line);
    }
    expect(r.stdout, output(r)).toMatch(new RegExp(`config device ${MAC0}: connection "eth0" \\([^)]*\\) reapplied`));
    expect(r.stdout, output(r)).toMatch(new RegExp(`config device ${MAC1}: connection "eth1" \\([^)]*\\) reapplied`));

    await pollUntil(async () => {
      expect(await nm.ipv4Addrs('eth0')).toEqual(['172.16.4.2/24', '172.16.4.20/24']);
      expect(await nm.ipv4Addrs('eth1')).toEqual(['172.16.5.2/24', '172.16.5.20/24']);
      expect(await nm.ipRouteSummary(30200)).toEqual(['172.16.4.0/24 dev eth0 metric 10']);
      expect(await nm.ipRouteSummary(30400)).toEqual(['default via 172.16.4.1 dev eth0 metric 10']);
      expect(await nm.ipRouteSummary(30201)).toEqual(['172.16.5.0/24 dev eth1 metric 10']);
      expect(await nm.ipRouteSummary(30401)).toEqual(['default via 172.16.5.1 dev eth1 metric 10']);
      expect(sorted(await nm.ipRuleSummary())).toEqual(EXPECTED_RULES);
    });

    // the primary (index 0) comes first although its answer arrived last
    const eth0 = await nm.appliedConnection('eth0');
    expect(ruleList(eth0.settings)).toEqual([
      '30200 from 172.16.4.2 table 30200',
      '30200 from 172.16.4.20 table 30200',
      '30350 table 254',
      '30400 from 172.16.4.2 table 30400',
      '30400 from 172.16.4.20 table 30400',
    ]);
    const eth1 = await nm.appliedConnection('eth1');
    expect(ruleList(eth1.settings)).toEqual([
      '30201 from 172.16.5.2 table 30201',
      '30201 from 172.16.5.20 table 30201',
      '30350 table 254',
      '30401 from 172.16.5.2 table 30401',
      '30401 from 172.16.5.20 table 30401',
    ]);

    // every request: "Metadata: true" and the exact text-format query
    const reqs = (await imds.requests()).slice(nBefore);
    for (const q of reqs) {
      expect(q.headers['metadata'], q.url).toBe('true');
      expect(q.url.endsWith(Q), q.url).toBe(true);
      expect(q.status, q.url).toBe(200);
    }
    expect(new Set(reqs.map((q) => q.url))).toEqual(new Set(Object.keys(METADATA.paths)));
    stateAfterRun1 = await nm.kernelSnapshot(TABLES);
  });

  it('traffic sourced from a secondary IP leaves by its own NIC', async () => {
    const nm = env();
    expect(stateAfterRun1, 'first run did not configure the kernel').toBeDefined();
    const viaEth1 = await nm.ipRouteGet('169.254.169.254', '172.16.5.20');
    expect(viaEth1.dev).toBe('eth1');
    expect(viaEth1.gateway).toBe('172.16.5.1');
    expect(viaEth1.table).toBe('30401');
    expect((await nm.ipRouteGet('169.254.169.254', '172.16.4.20')).table).toBe('30400');
    const c = await nm.exec([
      'curl', '--noproxy', '*', '-sS', '-f', '-m', '5', '--interface', '172.16.5.20',
      '-H', 'Metadata: true', `http://169.254.169.254${IF}${Q}`,
    ]);
    expect(c.code, output(c)).toBe(0);
    expect(c.stdout).toBe('0/\n1/\n');
    const last = (await imds.requests()).at(-1);
    expect(last?.remoteAddress).toBe('172.16.5.20');
  });

  it('second run: nothing to do, kernel state unchanged', async () => {
    const nm = env();
    expect(stateAfterRun1, 'first run did not configure the kernel').toBeDefined();
    const r = await runCli(nm);
    expect(r.code, output(r)).toBe(0);
    expect(r.stdout, output(r)).toContain(`config device ${MAC0}: device needs no update to applied connection "eth0"`);
    expect(r.stdout, output(r)).toContain(`config device ${MAC1}: device needs no update to applied connection "eth1"`);
    expect(r.stdout, output(r)).toContain('no changes were applied for provider azure');
    expect(r.stdout, output(r)).not.toContain('some changes were applied');
    expect(r.stdout, output(r)).not.toMatch(/reapply connection/);
    expect(await nm.kernelSnapshot(TABLES)).toEqual(stateAfterRun1);
  });
});
