// SPDX-License-Identifier: LGPL-2.1-or-later
//
// End-to-end: the built CLI (dist/nm-cloud-setup.cjs) against a REAL NetworkManager 1.42 in
// network namespaces (test/harness/realnm.sh) and an EC2 IMDSv2 mock on 169.254.169.254:80
// in the "cloud" namespace (test/harness/imds-server.mjs).  Needs root and NetworkManager;
// without them this file FAILS on purpose (it does not skip).  Run `npm run build` first.
//
// Topology: eth0 = 02:00:00:00:00:01, profile "eth0" 172.16.4.2/24 gw 172.16.4.1 (static)
//           eth1 = 02:00:00:00:00:02, profile "eth1" 172.16.5.2/24 (static, never-default)
// Metadata: eth0 gets 172.16.4.10 and .11 as secondaries, eth1 gets 172.16.5.10; the MAC
// listing order gives iface_idx 0 (eth0) and 1 (eth1), so tables 30200/30400 and 30201/30401.

import { describe, it, expect } from 'vitest';
import type { ExecResult, RealNm } from '../harness/realnm.js';
import {
  MAC0,
  MAC1,
  cliRunner,
  expectInOrder,
  expectKernelState,
  expectKeyfilesUnchanged,
  itSecondRunChangesNothing,
  output,
  reappliedLine,
  useRealnm,
  EC2_MACS,
  EC2_TOKEN,
  EC2_TWO_NICS,
  curlMetadataFrom,
} from '../helpers/realnm-run.js';

const TOKEN = EC2_TOKEN;
const MACS = EC2_MACS;
const METADATA = EC2_TWO_NICS;

const TABLES = [30200, 30201, 30400, 30401];

const EXPECTED_RULES = [
  '30200: from 172.16.4.2 lookup 30200',
  '30200: from 172.16.4.10 lookup 30200',
  '30200: from 172.16.4.11 lookup 30200',
  '30201: from 172.16.5.2 lookup 30201',
  '30201: from 172.16.5.10 lookup 30201',
  '30350: from all lookup main suppress_prefixlength 0',
  '30400: from 172.16.4.2 lookup 30400',
  '30400: from 172.16.4.10 lookup 30400',
  '30400: from 172.16.4.11 lookup 30400',
  '30401: from 172.16.5.2 lookup 30401',
  '30401: from 172.16.5.10 lookup 30401',
].sort();

// Several test files may run in parallel: each describe has its own REALNM_NAME.
const NAME_MAIN = 'ncs-e2e-ec2';
const NAME_SKIP = 'ncs-e2e-ec2-skip';

// No NM_CLOUD_SETUP_EC2_HOST: the CLI must use its default http://169.254.169.254.
const tool = cliRunner({ NM_CLOUD_SETUP_EC2: 'yes' });

async function expectFullyConfigured(nm: RealNm): Promise<void> {
  await expectKernelState(nm, {
    addrsAnyOrder: { eth0: ['172.16.4.2/24', '172.16.4.10/24', '172.16.4.11/24'], eth1: ['172.16.5.2/24', '172.16.5.10/24'] },
    tables: {
      30200: ['172.16.4.0/24 dev eth0 metric 10'],
      30400: ['default via 172.16.4.1 dev eth0 metric 10'],
      30201: ['172.16.5.0/24 dev eth1 metric 10'],
      30401: ['default via 172.16.5.1 dev eth1 metric 10'],
    },
    rules: EXPECTED_RULES,
  });
}

describe('nm-cloud-setup on a real NetworkManager: EC2 IMDSv2, 2 static NICs, policy routing', () => {
  let keyfilesBefore: Record<string, Buffer>;
  let run1: ExecResult | undefined;
  let requestsBeforeRun1 = 0;
  const scenario = useRealnm({
    name: NAME_MAIN,
    nics: 2,
    ipv4: 'static',
    metadata: METADATA,
    setUp: async (nm) => {
      keyfilesBefore = await nm.keyfiles();
    },
  });

  it("before the tool runs, traffic from eth1's address leaves by eth0 (main table)", async () => {
    const nm = scenario.nm;
    expect(await nm.ipv4Addrs('eth1')).toEqual(['172.16.5.2/24']);
    expect(await nm.ipRuleSummary()).toEqual([]);
    const r = await nm.ipRouteGet('169.254.169.254', '172.16.5.2');
    expect(r.dev).toBe('eth0');
    // 172.16.5.10 is not local yet: the kernel refuses the lookup
    const unreachable = await nm.exec(['ip', '-4', 'route', 'get', '169.254.169.254', 'from', '172.16.5.10']);
    expect(unreachable.code).not.toBe(0);
  });

  it('without NM_CLOUD_SETUP_MAP_INTERFACES the veths have no permanent MAC and are ignored', async () => {
    const nm = scenario.nm;
    const r = await tool(nm, { mapInterfaces: false });
    expect(r.code, output(r)).toBe(0);
    expectInOrder(r, [
      'provider ec2 detected',
      'found interfaces: none',
      // No NetworkManager device asks for them: listed, never read (issue #10 item 3).
      'get-config: not reading 2 listed interfaces (not requested, or index >= 100)',
      'meta data received',
      'no changes were applied for provider ec2',
    ]);
    expect(await nm.ipv4Addrs('eth1')).toEqual(['172.16.5.2/24']);
    expect(await nm.ipRuleSummary()).toEqual([]);
  });

  it('first run: detects EC2, adds the secondary IPs and the policy routing', async () => {
    const nm = scenario.nm;
    requestsBeforeRun1 = (await scenario.imds.requests()).length;
    run1 = await tool(nm);
    const r = run1;
    expect(r.code, output(r)).toBe(0);
    expectInOrder(r, [
      'provider ec2 detected',
      `found interfaces: ${MAC0}, ${MAC1}`,
      'meta data received',
      'some changes were applied for provider ec2',
    ]);
    expect(r.stdout, output(r)).toMatch(reappliedLine(MAC0, 'eth0'));
    expect(r.stdout, output(r)).toMatch(reappliedLine(MAC1, 'eth1'));
    await expectFullyConfigured(nm);
    scenario.stateAfterRun1 = await nm.kernelSnapshot(TABLES);
  });

  it('leaves the profiles on disk untouched (runtime-only changes)', async () => {
    expect(run1, 'first run did not happen').toBeDefined();
    await expectKeyfilesUnchanged(scenario.nm, keyfilesBefore);
  });

  it('talks IMDSv2 (first run): token PUT first, then every GET carries the token', async () => {
    expect(run1, 'first run did not happen').toBeDefined();
    const reqs = (await scenario.imds.requests()).slice(requestsBeforeRun1);
    expect(reqs.length).toBeGreaterThanOrEqual(8); // PUT + listing + 2 x 3 per-MAC fields (device-number too)
    const first = reqs[0];
    expect(first?.method).toBe('PUT');
    expect(first?.url).toBe('/latest/api/token');
    expect(first?.headers['x-aws-ec2-metadata-token-ttl-seconds']).toMatch(/^\d+$/);
    expect(first?.status).toBe(200);
    const gets = reqs.filter((q) => q.method === 'GET');
    expect(gets.length).toBeGreaterThanOrEqual(5);
    for (const g of gets) {
      expect(g.headers['x-aws-ec2-metadata-token'], `${g.method} ${g.url}`).toBe(TOKEN);
      expect(g.status, `${g.method} ${g.url}`).toBe(200);
    }
    const urls = new Set(gets.map((g) => g.url));
    for (const p of Object.keys(METADATA.paths)) expect(urls, p).toContain(p);
    expect(reqs.every((q) => q.method === 'GET' || q.url === '/latest/api/token')).toBe(true);
  });

  itSecondRunChangesNothing({
    scenario,
    run: tool,
    lines: [
      `config device ${MAC0}: device needs no update to applied connection "eth0"`,
      `config device ${MAC1}: device needs no update to applied connection "eth1"`,
      'no changes were applied for provider ec2',
    ],
    snapshot: (nm) => nm.kernelSnapshot(TABLES),
  });

  it('traffic sourced from a secondary IP leaves by its own NIC', async () => {
    const nm = scenario.nm;
    expect(scenario.stateAfterRun1, 'first run did not configure the kernel').toBeDefined();
    const viaEth1 = await nm.ipRouteGet('169.254.169.254', '172.16.5.10');
    expect(viaEth1.dev).toBe('eth1');
    expect(viaEth1.gateway).toBe('172.16.5.1');
    expect(viaEth1.table).toBe('30401');
    const primaryEth1 = await nm.ipRouteGet('169.254.169.254', '172.16.5.2');
    expect(primaryEth1.dev).toBe('eth1'); // was eth0 before the tool ran
    const viaEth0 = await nm.ipRouteGet('169.254.169.254', '172.16.4.11');
    expect(viaEth0.dev).toBe('eth0');
    expect(viaEth0.table).toBe('30400');

    const nBefore = (await scenario.imds.requests()).length;
    const eth0Before = await nm.linkStats('eth0');
    const eth1Before = await nm.linkStats('eth1');
    const c = await curlMetadataFrom(nm, '172.16.5.10', MACS, [`X-aws-ec2-metadata-token: ${TOKEN}`]);
    const eth0After = await nm.linkStats('eth0');
    const eth1After = await nm.linkStats('eth1');
    expect(c.code, output(c)).toBe(0);
    expect(c.stdout).toBe(`${MAC0}/\n${MAC1}/`);
    const logged = (await scenario.imds.requests()).slice(nBefore);
    expect(logged.map((q) => `${q.method} ${q.url} ${q.remoteAddress}`)).toEqual([`GET ${MACS} 172.16.5.10`]);
    const d1 = eth1After.tx.packets - eth1Before.tx.packets;
    const d0 = eth0After.tx.packets - eth0Before.tx.packets;
    // a TCP exchange is >= 4 packets (SYN, ACK, request, FIN...); eth0 should see ~nothing
    expect(d1, `eth1 tx delta ${d1}, eth0 tx delta ${d0}`).toBeGreaterThanOrEqual(4);
    expect(d0, `eth1 tx delta ${d1}, eth0 tx delta ${d0}`).toBeLessThan(d1);
    expect(d0, `eth0 tx delta ${d0}`).toBeLessThanOrEqual(2);
  });
});

describe('nm-cloud-setup on a real NetworkManager: user data org.freedesktop.nm-cloud-setup.skip', () => {
  const scenario = useRealnm({
    name: NAME_SKIP,
    nics: 2,
    ipv4: 'static',
    metadata: METADATA,
    setUp: (nm) => nm.setSkipUserData('eth1'),
  });

  it('skips eth1 (tagged) and still configures eth0', async () => {
    const nm = scenario.nm;
    const r = await tool(nm);
    expect(r.code, output(r)).toBe(0);
    expectInOrder(r, ['provider ec2 detected', `found interfaces: ${MAC0}, ${MAC1}`, 'meta data received']);
    expect(r.stdout, output(r)).toContain(
      `config device ${MAC1}: skip applied connection due to user data org.freedesktop.nm-cloud-setup.skip`,
    );
    expect(r.stdout, output(r)).toContain('some changes were applied for provider ec2');
    await expectKernelState(nm, {
      addrsAnyOrder: { eth0: ['172.16.4.2/24', '172.16.4.10/24', '172.16.4.11/24'] },
      tables: { 30200: ['172.16.4.0/24 dev eth0 metric 10'], 30400: ['default via 172.16.4.1 dev eth0 metric 10'] },
      rules: EXPECTED_RULES.filter((l) => !l.startsWith('30201:') && !l.startsWith('30401:')),
    });
    expect(await nm.ipv4Addrs('eth1')).toEqual(['172.16.5.2/24']);
    expect(await nm.ipRouteSummary(30201)).toEqual([]);
    expect(await nm.ipRouteSummary(30401)).toEqual([]);
    expect((await nm.ipRouteGet('169.254.169.254', '172.16.5.2')).dev).toBe('eth0');
  });
});

describe('a real NetworkManager: EC2 tables follow device-number, not the MAC listing order (issue #10 item 10)', () => {
  // eth1's MAC is listed first (as a NIC attached later whose MAC sorts first would be); the
  // device-numbers say eth0 is 0 and eth1 is 1, so the tables are those of the first test.
  const scenario = useRealnm({
    name: 'ncs-e2e-ec2-devno',
    nics: 2,
    ipv4: 'static',
    metadata: { ...METADATA, paths: { ...METADATA.paths, [MACS]: `${MAC1}/\n${MAC0}/` } },
  });

  it('eth0 keeps tables 30200/30400 and eth1 30201/30401', async () => {
    const nm = scenario.nm;
    const r = await tool(nm);
    expect(r.code, output(r)).toBe(0);
    expect(r.stdout, output(r)).toContain('some changes were applied for provider ec2');
    await expectFullyConfigured(nm);
  });
});
