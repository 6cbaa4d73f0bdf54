// SPDX-License-Identifier: LGPL-2.1-or-later
// `npm run bench -- --quick --json` end to end. Only structure and deterministic facts are
// checked (every run applied, the exact request count, 3 round trips at 20 ms): wall times,
// ratios and RSS depend on the machine and are printed by the bench, never asserted here.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { BenchResult } from '../../scripts/bench/report.js';
import { bundlePath, REPO_ROOT } from '../helpers/bundle.js';

const run = promisify(execFile);

async function quickBench(): Promise<BenchResult> {
  bundlePath(); // a clear error if the bundle was not built
  const { stdout } = await run(process.execPath, [join(REPO_ROOT, 'scripts', 'bench.mjs'), '--quick', '--json'], {
    cwd: REPO_ROOT,
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout) as BenchResult;
}

const positive = (value: number): boolean => Number.isFinite(value) && value > 0;

describe('npm run bench --quick', () => {
  it('runs every scenario, each run applies, with the exact requests and 3 round trips at 20 ms', async () => {
    const result = await quickBench();
    expect(result.quick).toBe(true);
    expect(result.machine.node).toBe(process.version);
    expect(result.machine.cores).toBeGreaterThan(0);

    const s = result.startup;
    for (const value of [s.nodeMs, s.nodeFlagsMs, s.toolMs, s.ratio, s.nodeFlagsRssMb, s.toolRssMbMedian, s.toolRssMbMax]) {
      expect(positive(value), JSON.stringify(s)).toBe(true);
    }

    const scenarios = result.ec2.map((e) => `${e.nics}x${e.ipsPerNic}@${e.latencyMs}`);
    expect(scenarios).toEqual(['2x10@0', '2x10@20', '8x10@0', '8x10@20']);
    for (const e of result.ec2) {
      expect(e.runs).toHaveLength(result.runs);
      expect(e.expectedRequests).toBe(2 + 3 * e.nics);
      for (const value of [e.wallMs, e.budgetMs, e.rssMbMedian, e.rssMbMax]) expect(positive(value), e.name).toBe(true);
      for (const r of e.runs) {
        expect(r.reapplied).toBe(e.nics);
        // token + listing + subnet-ipv4-cidr-block, local-ipv4s and device-number per NIC: 8 for 2 NICs, 26 for 8.
        expect(r.requests).toBe(e.nics === 2 ? 8 : 26);
        expect(positive(r.wallMs) && positive(r.maxRssMb)).toBe(true);
        // At 20 ms every leaf is requested before any is answered: token, listing, leaves (the
        // 24 leaves of 8 NICs fit the 32 in flight); a client that waited for each answer would
        // score 26.
        if (e.latencyMs === 20) expect(r.roundTrips).toBe(3);
      }
    }
  }, 120_000);
});
