// SPDX-License-Identifier: LGPL-2.1-or-later
//
// End-to-end: the built CLI (dist/nm-cloud-setup.cjs) against a REAL NetworkManager 1.42 in
// network namespaces (test/harness/realnm.sh) and a GCP metadata mock on 169.254.169.254:80 in
// the "cloud" namespace (test/harness/imds-server.mjs).  Needs root and NetworkManager; without
// them this file FAILS on purpose (it does not skip).  Run `npm run build` first.
//
// metadata.google.internal does not resolve inside the namespace, so the run points
// NM_CLOUD_SETUP_GCP_HOST at http://169.254.169.254 (GCP serves its metadata there too).
//
// Topology: eth0 = 02:00:00:00:00:01, profile "eth0" 172.16.4.2/24 gw 172.16.4.1 (static)
//           eth1 = 02:00:00:00:00:02, profile "eth1" 172.16.5.2/24 (static, never-default)
// Metadata: eth0 forwards 172.16.4.100 and 203.0.113.7, eth1 forwards 172.16.5.100.  GCP only
// adds /32 routes of type "local" (metric 100, no table -> NM puts them in table local); no
// addresses, no policy routing.

import { describe, it, expect } from 'vitest';
import { pollUntil, type ImdsConfig, type RealNm } from '../harness/realnm.js';
import {
  MAC0,
  MAC1,
  cliRunner,
  expectInOrder,
  expectKeyfilesUnchanged,
  itSecondRunChangesNothing,
  output,
  reappliedLine,
  sorted,
  useRealnm,
} from '../helpers/realnm-run.js';

const NAME = 'ncs-e2e-gcp';

const I = '/computeMetadata/v1/instance';
const NI = `${I}/network-interfaces`;
const FWD0 = ['172.16.4.100', '203.0.113.7'];
const FWD1 = ['172.16.5.100'];

const METADATA: ImdsConfig = {
  requireHeaders: { 'Metadata-Flavor': 'Google' },
  paths: {
    [`${I}/id`]: '4520031799277581759',
    [`${NI}/`]: '0/\n1/\n',
    [`${NI}/0/mac`]: MAC0,
    [`${NI}/0/forwarded-ips/`]: '0\n1\n',
    [`${NI}/0/forwarded-ips/0`]: FWD0[0]!,
    [`${NI}/0/forwarded-ips/1`]: `${FWD0[1]!}\n`, // trimmed by the tool
    [`${NI}/1/mac`]: MAC1,
    [`${NI}/1/forwarded-ips/`]: '0\n',
    [`${NI}/1/forwarded-ips/0`]: FWD1[0]!,
  },
};

// `ip -4 route show table local` lines NM produces for the forwarded IPs
const EXPECTED_LOCAL = [
  ...FWD0.map((ip) => `local ${ip} dev eth0 proto static scope host metric 100`),
  ...FWD1.map((ip) => `local ${ip} dev eth1 proto static scope host metric 100`),
];
const POLICY_TABLES = [30200, 30201, 30400, 30401];

const tool = cliRunner({ NM_CLOUD_SETUP_GCP: 'yes', NM_CLOUD_SETUP_GCP_HOST: 'http://169.254.169.254' });

/** `ip -4 route show table local` as trimmed lines, only the routes NM added (proto static) */
async function staticLocalRoutes(nm: RealNm): Promise<string[]> {
  const out = await nm.execOk(['ip', '-4', 'route', 'show', 'table', 'local']);
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => / proto static /.test(l));
}

async function snapshot(nm: RealNm): Promise<Record<string, unknown>> {
  return { ...(await nm.kernelSnapshot(POLICY_TABLES)), local: await nm.execOk(['ip', '-4', 'route', 'show', 'table', 'local']) };
}

describe('nm-cloud-setup on a real NetworkManager: GCP forwarded IPs become local routes', () => {
  let keyfilesBefore: Record<string, Buffer>;
  let mainBefore: string[] = [];
  const scenario = useRealnm({
    name: NAME,
    nics: 2,
    ipv4: 'static',
    metadata: METADATA,
    setUp: async (nm) => {
      keyfilesBefore = await nm.keyfiles();
      mainBefore = await nm.ipRouteSummary('main');
    },
  });

  it('before the tool runs, the forwarded IPs are not local', async () => {
    const nm = scenario.nm;
    expect(await staticLocalRoutes(nm)).toEqual([]);
    const r = await nm.ipRouteGet(FWD0[0]!);
    expect(r['type'] ?? 'unicast').not.toBe('local');
  });

  it('first run: detects GCP and adds a local route per forwarded IP', async () => {
    const nm = scenario.nm;
    const nBefore = (await scenario.imds.requests()).length;
    const r = await tool(nm);
    expect(r.code, output(r)).toBe(0);
    expectInOrder(r, [
      'test: mock NM_CLOUD_SETUP_GCP_HOST="http://169.254.169.254" (default "http://metadata.google.internal")',
      'provider GCP detected',
      `found interfaces: ${MAC0}, ${MAC1}`,
      'found GCP interfaces: 2',
      'meta data received',
      `config device ${MAC0}: configuring "eth0"`,
      `config device ${MAC1}: configuring "eth1"`,
      'some changes were applied for provider GCP',
    ]);
    for (const line of [
      `GCP interface[0]: found a requested device with hwaddr ${MAC0}`,
      `GCP interface[1]: found a requested device with hwaddr ${MAC1}`,
      'GCP interface[0]: found 2 forwarded ips',
      'GCP interface[1]: found 1 forwarded ips',
      ...FWD0.map((ip) => `GCP interface[0]: adding forwarded-ip ${ip}`),
      ...FWD1.map((ip) => `GCP interface[1]: adding forwarded-ip ${ip}`),
    ]) {
      expect(r.stdout, output(r)).toContain(line);
    }
    expect(r.stdout, output(r)).toMatch(reappliedLine(MAC0, 'eth0'));
    expect(r.stdout, output(r)).toMatch(reappliedLine(MAC1, 'eth1'));

    await pollUntil(async () => {
      expect(sorted(await staticLocalRoutes(nm))).toEqual(sorted(EXPECTED_LOCAL));
    });
    // GCP has no addresses and no policy routing
    expect(await nm.ipv4Addrs('eth0')).toEqual(['172.16.4.2/24']);
    expect(await nm.ipv4Addrs('eth1')).toEqual(['172.16.5.2/24']);
    expect(await nm.ipRuleSummary()).toEqual([]);
    for (const t of POLICY_TABLES) expect(await nm.ipRouteSummary(t), `table ${t}`).toEqual([]);
    expect(await nm.ipRouteSummary('main')).toEqual(mainBefore);
    const local = await nm.ipRouteGet(FWD0[1]!);
    expect(local['type']).toBe('local');
    expect(local.dev).toBe('lo');

    // every request carried the GCP header (the server answers 403 otherwise)
    const reqs = (await scenario.imds.requests()).slice(nBefore);
    expect(reqs.length).toBeGreaterThanOrEqual(9);
    for (const q of reqs) {
      expect(q.headers['metadata-flavor'], q.url).toBe('Google');
      expect(q.status, q.url).toBe(200);
    }
    expect(new Set(reqs.map((q) => q.url))).toEqual(new Set(Object.keys(METADATA.paths)));
    scenario.stateAfterRun1 = await snapshot(nm);
  });

  it('leaves the profiles on disk untouched (runtime-only changes)', async () => {
    expect(scenario.stateAfterRun1, 'first run did not configure the kernel').toBeDefined();
    await expectKeyfilesUnchanged(scenario.nm, keyfilesBefore);
  });

  it('the forwarded IPs really are accepted: TCP from the cloud side reaches the VM', async () => {
    const nm = scenario.nm;
    expect(scenario.stateAfterRun1, 'first run did not configure the kernel').toBeDefined();
    // 203.0.113.7 is not on a link: route it to eth0's peer on the cloud side
    await nm.cloudExec(['ip', 'route', 'replace', `${FWD0[1]!}/32`, 'dev', 'c0']);
    const targets = [...FWD0, ...FWD1];
    // one-shot HTTP server on 0.0.0.0:8080 in the NM netns; it reports the local address
    const server = nm.exec(
      [
        process.execPath,
        '-e',
        `let n=0;const s=require('http').createServer((q,r)=>{r.end(q.socket.localAddress);if(++n>=${targets.length})s.close();});` +
          `s.listen(8080,'0.0.0.0');setTimeout(()=>process.exit(3),20000).unref();`,
      ],
      { timeoutMs: 25_000 },
    );
    try {
      for (const ip of targets) {
        const body = await pollUntil(
          async () => {
            const c = await nm.cloudExec(['curl', '--noproxy', '*', '-sS', '-f', '-m', '2', `http://${ip}:8080/`], { timeoutMs: 5000 });
            if (c.code !== 0) throw new Error(`curl ${ip}: ${output(c)}`);
            return c.stdout;
          },
          { timeoutMs: 10_000, intervalMs: 100 },
        );
        expect(body).toBe(ip);
      }
    } finally {
      const s = await server;
      expect(s.code, output(s)).toBe(0);
    }
  });

  itSecondRunChangesNothing({
    scenario,
    run: tool,
    lines: [
      `config device ${MAC0}: device needs no update to applied connection "eth0"`,
      `config device ${MAC1}: device needs no update to applied connection "eth1"`,
      'no changes were applied for provider GCP',
    ],
    snapshot,
  });
});
