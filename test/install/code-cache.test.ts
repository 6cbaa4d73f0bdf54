// SPDX-License-Identifier: LGPL-2.1-or-later
// The installed loader ($(libexecdir)/nm-cloud-setup, loader/nm-cloud-setup.cjs) runs the bundle
// from the V8 code cache `make install` wrote, and a cache that does not fit (another node,
// other flags, another bundle, damaged bytes, garbage) never stops a run: the output is the same
// as without any cache. Without V8's checksum (--verify-snapshot-checksum, in the unit's flags) a
// damaged payload kills node with SIGTRAP.
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/bundle.js';
import { installTree, type InstalledTree } from '../helpers/install-tree.js';

const run = promisify(execFile);

const LOADER = '/usr/libexec/nm-cloud-setup';
const LIB = '/usr/lib/nm-cloud-setup';
const CACHE = `${LIB}/nm-cloud-setup.cjs.v8-cache`;
/** The main bundle and the files it requires beside it (scripts/build.mjs), each with its cache. */
const BUNDLES = ['nm-cloud-setup.cjs', 'nm-cloud-setup.got.cjs', 'nm-cloud-setup.dbus-next.cjs', 'nm-cloud-setup.xml2js.cjs'];

/** node's flags from the unit's ExecStart=, which the cache is made for. */
function unitFlags(): string[] {
  const unit = readFileSync(join(REPO_ROOT, 'systemd', 'nm-cloud-setup.service'), 'utf8');
  const line = unit.split('\n').find((l) => l.startsWith('ExecStart='));
  return line!.slice('ExecStart='.length).trim().split(/\s+/).slice(1, -1);
}

interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The quiet default run and two commands that print, as the unit's node runs them. */
async function outcomes(tree: InstalledTree): Promise<Outcome[]> {
  const env = { PATH: '/usr/bin:/bin' };
  const results: Outcome[] = [];
  for (const args of [[], ['--help'], ['no-such-command']]) {
    try {
      const { stdout, stderr } = await run(process.execPath, [...unitFlags(), tree.at(LOADER), ...args], { cwd: tree.destdir, env });
      results.push({ code: 0, stdout, stderr });
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      results.push({ code: failed.code, stdout: failed.stdout, stderr: failed.stderr });
    }
  }
  return results;
}

/** Whether the loader would hand V8 each bundle file's cache, and whether V8 then took it. */
async function cacheVerdicts(tree: InstalledTree, flags = unitFlags()): Promise<{ found: boolean; rejected: boolean | null }[]> {
  const probe = `
    const loader = require(${JSON.stringify(tree.at(LOADER))});
    const verdicts = ${JSON.stringify(BUNDLES.map((name) => tree.at(`${LIB}/${name}`)))}.map((file) => {
      const source = require('node:fs').readFileSync(file);
      const cachedData = loader.readCache(file + '.v8-cache', source);
      const script = new (require('node:vm').Script)(loader.wrappedSource(source), { filename: file, cachedData });
      return { found: cachedData !== undefined, rejected: script.cachedDataRejected ?? null };
    });
    process.stdout.write(JSON.stringify(verdicts));`;
  const { stdout } = await run(process.execPath, [...flags, '-e', probe]);
  return JSON.parse(stdout) as { found: boolean; rejected: boolean | null }[];
}

const ACCEPTED = { found: true, rejected: false };
const notUsed = (verdict: { found: boolean; rejected: boolean | null }): boolean => !verdict.found || verdict.rejected === true;

describe('V8 code cache', () => {
  let tree: InstalledTree;
  let good: Buffer;
  let reference: Outcome[];
  beforeAll(async () => {
    tree = await installTree('install', undefined, ['PREFIX=/usr', `NODE=${process.execPath}`]);
    good = readFileSync(tree.at(CACHE));
    rmSync(tree.at(CACHE));
    reference = await outcomes(tree);
    writeFileSync(tree.at(CACHE), good);
  });
  afterAll(() => tree.remove());

  it('make install writes a cache that V8 accepts under the unit flags, and the run is the same as without it', async () => {
    expect(reference[0]).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(reference[1]!.stdout).toContain('Usage');
    expect(reference[2]!.code).toBe(1);
    expect(await cacheVerdicts(tree)).toEqual(BUNDLES.map(() => ACCEPTED));
    expect(await outcomes(tree)).toEqual(reference);
  });

  it("every cache's V8 data starts at a multiple of 8 bytes (V8 copies unaligned data before reading it)", () => {
    for (const name of BUNDLES) {
      const cache = readFileSync(tree.at(`${LIB}/${name}.v8-cache`));
      const headerEnd = cache.indexOf(10, cache.indexOf(10) + 1);
      const { sourceBytes, dataBytes } = JSON.parse(cache.toString('utf8', cache.indexOf(10) + 1, headerEnd)) as Record<string, number>;
      expect(cache.length - dataBytes!, name).toBe(headerEnd + 1 + sourceBytes!);
      expect((headerEnd + 1 + sourceBytes!) % 8, name).toBe(0);
    }
  });

  it('node run with other flags: V8 rejects the caches', async () => {
    // Without --verify-snapshot-checksum too: a node that would not check the payload never takes it.
    for (const flags of [['--jitless'], unitFlags().filter((flag) => flag !== '--verify-snapshot-checksum')]) {
      expect(await cacheVerdicts(tree, flags)).toEqual(BUNDLES.map(() => ({ found: true, rejected: true })));
    }
  });

  /** Cases of a cache that does not fit, each made from the good one. */
  const MISFITS: Record<string, (cache: Buffer) => Buffer> = {
    'a damaged payload': (cache) => {
      const bad = Buffer.from(cache);
      for (let i = bad.length - 50_000; i < bad.length - 46_000; i++) bad[i]! ^= 0x5a;
      return bad;
    },
    'a cache made by another node': (cache) =>
      Buffer.from(cache.toString('latin1').replace(/"node":"v[^"]+"/, '"node":"v0.0.0"'), 'latin1'),
    'a cache of another bundle of the same length': (cache) => {
      const bad = Buffer.from(cache);
      const copyStart = bad.indexOf(10, bad.indexOf(10) + 1) + 1;
      bad[copyStart + 1000] = bad[copyStart + 1000] === 0x61 ? 0x62 : 0x61;
      return bad;
    },
    'a truncated cache': (cache) => cache.subarray(0, cache.length - 1),
    garbage: () => Buffer.from('not a cache\n'),
    'an empty file': () => Buffer.alloc(0),
  };
  it("a damaged payload in got's cache: V8 rejects it", async ({ onTestFinished }) => {
    const got = tree.at(`${LIB}/nm-cloud-setup.got.cjs.v8-cache`);
    const intact = readFileSync(got);
    onTestFinished(() => writeFileSync(got, intact));
    writeFileSync(got, MISFITS['a damaged payload']!(intact));
    expect((await cacheVerdicts(tree))[1]).toEqual({ found: true, rejected: true });
  });

  for (const [name, damage] of Object.entries(MISFITS)) {
    it(`${name}: not used, and the run is the same`, async ({ onTestFinished }) => {
      onTestFinished(() => writeFileSync(tree.at(CACHE), good));
      writeFileSync(tree.at(CACHE), damage(good));
      const [verdict] = await cacheVerdicts(tree);
      expect(notUsed(verdict!), JSON.stringify(verdict)).toBe(true);
      expect(await outcomes(tree)).toEqual(reference);
    });
  }
});
