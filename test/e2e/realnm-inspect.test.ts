// SPDX-License-Identifier: LGPL-2.1-or-later
//
// End-to-end: the inspect commands (status, plan, fetch) and state.json of the built CLI against
// a REAL NetworkManager 1.42 in network namespaces (test/harness/realnm.sh) and an EC2 IMDSv2
// mock on 169.254.169.254:80 (test/harness/imds-server.mjs).  Needs root and NetworkManager;
// without them this file FAILS on purpose (it does not skip).  Run `npm run build` first.
//
//   1. status before apply: the served instance facts, every NIC out-of-sync (JSON and text).
//   2. plan before apply: exit 2, a reapply per NIC, and nothing changed in NM or the kernel.
//   3. apply: the kernel (addresses, tables 30200+i/30400+i, rules) is EXACTLY the plan's
//      ipv4.after, translated from `ip -j` into the plan's nmcli syntax.
//   4. plan/status after apply: nothing to do, in-sync.
//   5./6. state.json after apply and after fetch.
//   7. a failed fetch (a metadata leaf answers 500) keeps state.json and the kernel as they were.
//
// Topology: eth0 = 02:00:00:00:00:01, profile "eth0" 172.16.4.2/24 gw 172.16.4.1 (static)
//           eth1 = 02:00:00:00:00:02, profile "eth1" 172.16.5.2/24 (static, never-default)
// The MAC listing order gives iface_idx 0 (eth0) and 1 (eth1).

import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pollUntil, type ExecResult, type ImdsConfig, type IpRoute, type IpRule, type RealNm } from '../harness/realnm.js';
import { loadSchema, validate } from '../helpers/json-schema.js';
import { MAC0, MAC1, MAP_INTERFACES, output, runCli, sorted, useRealnm } from '../helpers/realnm-run.js';
import { makeStateDir } from '../helpers/scratch.js';

const TOKEN = 'AQAAAInspect-k7i18JMkK-4f1c2a9e7b3d5c6e8f0a1b2c3d4e5f60==';
const MACS = '/2018-09-24/meta-data/network/interfaces/macs/';

const FACTS = { id: 'i-0a1b2c3d4e5f60718', region: 'eu-central-1', zone: 'eu-central-1b', type: 'm5.xlarge' };

const NICS = [
  { dev: 'eth0', mac: MAC0, idx: 0, ipv4s: ['172.16.4.2', '172.16.4.20', '172.16.4.21'], subnet: '172.16.4.0/24', gateway: '172.16.4.1' },
  { dev: 'eth1', mac: MAC1, idx: 1, ipv4s: ['172.16.5.2', '172.16.5.20'], subnet: '172.16.5.0/24', gateway: '172.16.5.1' },
] as const;

const METADATA: ImdsConfig = {
  ec2Token: TOKEN,
  paths: {
    [MACS]: `${MAC0}/\n${MAC1}/`,
    ...Object.fromEntries(
      NICS.flatMap((n) => [
        [`${MACS}${n.mac}/local-ipv4s`, n.ipv4s.join('\n')],
        [`${MACS}${n.mac}/subnet-ipv4-cidr-block`, n.subnet],
      ]),
    ),
    '/latest/meta-data/instance-id': FACTS.id,
    '/latest/meta-data/placement/region': FACTS.region,
    '/latest/meta-data/placement/availability-zone': FACTS.zone,
    '/latest/meta-data/instance-type': FACTS.type,
  },
};

// A leaf that never answers 200: the fetch fails after its 10 s poll window (the MAC listing
// would take 15 s, the token PUT 7 s but that is "no cloud", not a failed fetch).
const BROKEN_METADATA: ImdsConfig = {
  ...METADATA,
  paths: { ...METADATA.paths, [`${MACS}${MAC1}/local-ipv4s`]: { status: 500, body: 'Internal Server Error\n' } },
};

const NAME = 'ncs-inspect';

// ---------------------------------------------------------------------------------------------
// the plan's vocabulary, and the kernel translated into it

interface Lists {
  addresses: string[];
  routes: string[];
  rules: string[];
}
interface PlanDevice {
  hwaddr: string;
  device?: string;
  connection?: { id: string; uuid?: string };
  action: string;
  command?: string;
  diff?: Record<keyof Lists, { added: string[]; removed: string[] }>;
  ipv4?: { before: Lists; after: Lists };
}
interface PlanDoc {
  provider: { name: string; metadataUrl: string };
  pending: number;
  devices: PlanDevice[];
}

const TABLE_IDS: Record<string, number> = { main: 254, local: 255, default: 253 };
const tableId = (t: string | undefined): number => (t === undefined ? 254 : (TABLE_IDS[t] ?? Number(t)));

/** `ip -j route` entry of table N -> "dest/prefix [next-hop] [metric] table=N" */
function nmcliRouteOf(r: IpRoute, table: number): string {
  const dest = r.dst === 'default' ? '0.0.0.0/0' : r.dst.includes('/') ? r.dst : `${r.dst}/32`;
  // anything nmcli would print as an attribute (src=, onlink=, type=, ...) shows as a mismatch
  const extra = Object.keys(r)
    .filter(
      (k) =>
        !['dst', 'gateway', 'dev', 'metric', 'protocol', 'scope', 'flags'].includes(k) || (k === 'flags' && JSON.stringify(r[k]) !== '[]'),
    )
    .map((k) => `<unexpected ${k}=${JSON.stringify(r[k])}>`);
  return [dest, ...(r.gateway === undefined ? [] : [r.gateway]), String(r.metric ?? 0), `table=${table}`, ...extra].join(' ');
}

/** `ip -j rule` entry -> "priority N [from A[/len]] table T [suppress_prefixlength L]" */
function nmcliRuleOf(r: IpRule): string {
  const parts = [`priority ${r.priority}`];
  if (r.src !== undefined && r.src !== 'all') parts.push(`from ${r.src}${r.srclen === undefined || r.srclen === 32 ? '' : `/${r.srclen}`}`);
  for (const k of Object.keys(r)) {
    if (!['priority', 'src', 'srclen', 'table', 'suppress_prefixlen', 'protocol'].includes(k))
      parts.push(`<unexpected ${k}=${JSON.stringify(r[k])}>`);
  }
  parts.push(`table ${tableId(r.table)}`);
  if (r.suppress_prefixlen !== undefined) parts.push(`suppress_prefixlength ${r.suppress_prefixlen}`);
  return parts.join(' ');
}

const DEFAULT_RULE_PRIORITIES = [0, 32766, 32767];

/** What the kernel has for NIC idx, in nmcli strings: its addresses, tables 30200+i and 30400+i, rules 30200+i/30350/30400+i. */
async function kernelLists(nm: RealNm, dev: string, idx: number): Promise<Lists> {
  const addresses = (await nm.ipv4Addrs(dev)).sort();
  const routes: string[] = [];
  for (const table of [30200 + idx, 30400 + idx]) {
    for (const r of await nm.ipRoutes(table)) {
      expect(r.dev, `table ${table}: ${JSON.stringify(r)}`).toBe(dev);
      routes.push(nmcliRouteOf(r, table));
    }
  }
  const rules = (await nm.ipRules()).filter((r) => [30200 + idx, 30350, 30400 + idx].includes(r.priority)).map(nmcliRuleOf);
  return { addresses, routes: routes.sort(), rules: rules.sort() };
}

const sortedLists = (l: Lists): Lists => ({ addresses: sorted(l.addresses), routes: sorted(l.routes), rules: sorted(l.rules) });

/** Polls until every NIC's kernel state is exactly `want(nic)`, and no other policy rule exists. */
async function expectKernelIs(nm: RealNm, want: (nic: (typeof NICS)[number]) => Lists, timeoutMs = 3000): Promise<void> {
  await pollUntil(
    async () => {
      const union = new Set<string>();
      for (const nic of NICS) {
        const w = sortedLists(want(nic));
        w.rules.forEach((r) => union.add(r));
        expect(await kernelLists(nm, nic.dev, nic.idx), nic.dev).toEqual(w);
      }
      const others = (await nm.ipRules()).filter((r) => !DEFAULT_RULE_PRIORITIES.includes(r.priority)).map(nmcliRuleOf);
      expect(sorted(others), 'every policy rule in the kernel').toEqual(sorted([...union]));
    },
    { timeoutMs },
  );
}

/** Splits a command line made of plain and single-quoted words (shellQuote's output) like sh does. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === ' ') {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      expect(end, `unterminated quote in ${line}`).toBeGreaterThan(i);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '\\') {
      word = (word ?? '') + (line[++i] ?? '');
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** Cells of an aligned table: columns start where the header words start, two spaces apart. */
function tableCells(lines: readonly string[]): string[][] {
  const [header, ...rows] = lines;
  expect(header).toBeDefined();
  const names = header!.split(/ {2,}/);
  const starts: number[] = [];
  for (const name of names) starts.push(header!.indexOf(name, starts.at(-1) ?? 0));
  return rows.map((row) =>
    starts.map((start, j) => {
      if (j > 0) {
        expect(row.slice(start - 2, start), `column ${names[j]} starts at ${start} in\n${lines.join('\n')}`).toBe('  ');
        expect(row[start], `column ${names[j]} starts at ${start} in\n${lines.join('\n')}`).toMatch(/\S/);
      }
      const end = starts[j + 1];
      return row.slice(start, end === undefined ? undefined : end).trim();
    }),
  );
}

function parseJson<T>(r: ExecResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch (e) {
    throw new Error(`stdout is not JSON (${(e as Error).message}):\n${output(r)}`);
  }
}

function expectValid(schemaName: string, value: unknown): void {
  expect(validate(loadSchema(schemaName), value), schemaName).toEqual([]);
}

// ---------------------------------------------------------------------------------------------

describe('nm-cloud-setup status, plan, fetch and state.json on a real NetworkManager (EC2, 2 NICs)', () => {
  const stateDir = makeStateDir();
  const statePath = path.join(stateDir, 'state.json');
  const scenario = useRealnm({ name: NAME, nics: 2, ipv4: 'static', metadata: METADATA });
  afterAll(() => fs.rmSync(stateDir, { recursive: true, force: true }));

  const env = (trace = true): Record<string, string> => ({
    NM_CLOUD_SETUP_EC2: 'yes',
    NM_CLOUD_SETUP_MAP_INTERFACES: MAP_INTERFACES,
    RUNTIME_DIRECTORY: stateDir,
    // status and plan own stdout: their logs (all of them) must go to stderr
    ...(trace ? { NM_CLOUD_SETUP_LOG: 'trace' } : {}),
  });
  const runs: ExecResult[] = [];
  const tool = async (args: string[], trace = true): Promise<ExecResult> => {
    const r = await runCli(scenario.nm, env(trace), args);
    runs.push(r);
    return r;
  };

  const uuids: Record<string, string> = {};
  const versionIds: Record<string, number> = {};
  let plan: PlanDoc | undefined;
  let applied = false;
  let stateAfterApply: Buffer | undefined;
  let kernelAfterApply: Record<string, unknown> | undefined;

  const planOf = (): PlanDoc => {
    expect(plan, 'the plan before apply was not read').toBeDefined();
    return plan!;
  };
  const afterOf = (nic: (typeof NICS)[number]): Lists => {
    const d = planOf().devices.find((x) => x.hwaddr === nic.mac);
    expect(d?.ipv4, `${nic.dev} in the plan`).toBeDefined();
    return d!.ipv4!.after;
  };

  /** status --json's interface rows, as the metadata and NM say. */
  const expectedInterfaces = (config: string): unknown[] =>
    NICS.map((n) => ({
      hwaddr: n.mac,
      ifaceIdx: n.idx,
      requested: true,
      valid: true,
      ipv4s: [...n.ipv4s],
      subnet: n.subnet,
      gateway: n.gateway,
      routes: [],
      device: n.dev,
      connection: { id: n.dev, uuid: uuids[n.dev] },
      config,
    }));

  it('status before apply: instance facts, every NIC out-of-sync (JSON validates; text is an aligned table)', async () => {
    const nm = scenario.nm;
    for (const n of NICS) {
      uuids[n.dev] = (await nm.nmcli(['-g', 'connection.uuid', 'connection', 'show', n.dev])).trim();
      versionIds[n.dev] = (await nm.appliedConnection(n.dev)).versionId;
    }

    const r = await tool(['status', '--json']);
    expect(r.code, output(r)).toBe(0);
    const status = parseJson<{ provider: unknown; instance: unknown; interfaces: unknown[] }>(r);
    expectValid('status.schema.json', status);
    expect(status.provider).toEqual({ name: 'ec2', metadataUrl: 'http://169.254.169.254' });
    expect(status.instance).toEqual(FACTS);
    expect(status.interfaces).toEqual(expectedInterfaces('out-of-sync'));

    const t = await tool(['status']);
    expect(t.code, output(t)).toBe(0);
    const [head, table] = t.stdout.trimEnd().split('\n\n');
    // "key:  value", the values in one column
    const facts = (head ?? '').split('\n').map((l) => /^(\w+):( +)(.*)$/.exec(l));
    expect(
      facts.every((m) => m !== null),
      output(t),
    ).toBe(true);
    expect(Object.fromEntries(facts.map((m) => [m![1], m![3]])), output(t)).toEqual({
      provider: 'ec2 (http://169.254.169.254)',
      instance: FACTS.id,
      region: FACTS.region,
      zone: FACTS.zone,
      type: FACTS.type,
    });
    expect(new Set(facts.map((m) => m![1]!.length + m![2]!.length)).size, output(t)).toBe(1);
    const lines = (table ?? '').split('\n');
    expect(lines[0]?.split(/ {2,}/), output(t)).toEqual(['HWADDR', 'DEVICE', 'PROFILE', 'ADDRESSES', 'SUBNET', 'GATEWAY', 'CONFIG']);
    expect(tableCells(lines)).toEqual(NICS.map((n) => [n.mac, n.dev, n.dev, n.ipv4s.join(','), n.subnet, n.gateway, 'out-of-sync']));

    expect(fs.existsSync(statePath), 'status wrote state.json').toBe(false);
  });

  it('plan before apply: exit 2, a reapply per NIC with its nmcli command, and nothing changes', async () => {
    const nm = scenario.nm;
    const r = await tool(['plan', '--json']);
    expect(r.code, output(r)).toBe(2);
    const doc = parseJson<PlanDoc>(r);
    expectValid('plan.schema.json', doc);
    expect(doc.provider).toEqual({ name: 'ec2', metadataUrl: 'http://169.254.169.254' });
    expect(doc.pending).toBe(2);
    expect(doc.devices.map((d) => [d.hwaddr, d.device, d.connection, d.action])).toEqual(
      NICS.map((n) => [n.mac, n.dev, { id: n.dev, uuid: uuids[n.dev] }, 'reapply']),
    );
    for (const [i, d] of doc.devices.entries()) {
      const nic = NICS[i]!;
      const { before, after } = d.ipv4!;
      expect(after.addresses, nic.dev).toEqual(nic.ipv4s.map((a) => `${a}/24`));
      // the command sets exactly the after lists
      expect(d.command, nic.dev).toMatch(new RegExp(`^nmcli device modify ${nic.dev} `));
      expect(shellWords(d.command!), nic.dev).toEqual([
        'nmcli',
        'device',
        'modify',
        nic.dev,
        'ipv4.addresses',
        after.addresses.join(', '),
        'ipv4.routes',
        after.routes.join(', '),
        'ipv4.routing-rules',
        after.rules.join(', '),
      ]);
      // the diff is after minus before and before minus after
      for (const k of ['addresses', 'routes', 'rules'] as const) {
        expect(d.diff?.[k], `${nic.dev} diff ${k}`).toEqual({
          added: after[k].filter((x) => !before[k].includes(x)),
          removed: before[k].filter((x) => !after[k].includes(x)),
        });
      }
    }
    plan = doc;

    const t = await tool(['plan']);
    expect(t.code, output(t)).toBe(2);
    const text = t.stdout.trimEnd().split('\n');
    const expected: string[] = [];
    for (const d of doc.devices) {
      expected.push(`${d.device} (${d.hwaddr}) connection "${d.connection?.id}": reapply`, `  ${d.command}`);
      for (const [k, word] of [
        ['addresses', 'address'],
        ['routes', 'route'],
        ['rules', 'rule'],
      ] as const) {
        for (const x of d.diff![k].removed) expected.push(`  - ${word} ${x}`);
        for (const x of d.diff![k].added) expected.push(`  + ${word} ${x}`);
      }
    }
    expected.push('2 devices would change.');
    expect(text, output(t)).toEqual(expected);

    // status and plan changed nothing: no Reapply, the kernel is still the plan's "before"
    for (const n of NICS) expect((await nm.appliedConnection(n.dev)).versionId, `${n.dev} version id`).toBe(versionIds[n.dev]);
    await expectKernelIs(nm, (nic) => doc.devices.find((d) => d.hwaddr === nic.mac)!.ipv4!.before, 0);
    for (const n of NICS) expect(await nm.ipv4Addrs(n.dev), n.dev).toEqual([`${n.ipv4s[0]}/24`]);
    expect(fs.existsSync(statePath), 'plan wrote state.json').toBe(false);
  });

  it('apply: the kernel ends up exactly as the plan said (addresses, tables 30200+i/30400+i, rules)', async () => {
    const nm = scenario.nm;
    planOf();
    const t0 = Date.now();
    const r = await tool([], false);
    expect(r.code, output(r)).toBe(0);
    await expectKernelIs(nm, afterOf);
    applied = true;
    kernelAfterApply = await nm.kernelSnapshot([30200, 30201, 30400, 30401]);

    // state.json was written by this run
    expect(fs.existsSync(statePath), `state.json in RUNTIME_DIRECTORY\n${output(r)}`).toBe(true);
    const time = Date.parse((JSON.parse(fs.readFileSync(statePath, 'utf8')) as { time: string }).time);
    expect(time).toBeGreaterThanOrEqual(t0 - 1000);
    expect(time).toBeLessThanOrEqual(Date.now() + 1000);
  });

  it('plan and status after apply: nothing to change, every NIC in-sync', async () => {
    expect(applied, 'apply did not configure the kernel').toBe(true);
    const before = fs.readFileSync(statePath);

    const r = await tool(['plan', '--json']);
    expect(r.code, output(r)).toBe(0);
    const doc = parseJson<PlanDoc>(r);
    expectValid('plan.schema.json', doc);
    expect(doc.pending).toBe(0);
    expect(doc.devices.map((d) => [d.hwaddr, d.device, d.action])).toEqual(NICS.map((n) => [n.mac, n.dev, 'none']));

    const t = await tool(['plan']);
    expect(t.code, output(t)).toBe(0);
    expect(t.stdout.trimEnd().split('\n'), output(t)).toEqual([
      ...NICS.map((n) => `${n.dev} (${n.mac}) connection "${n.dev}": no change`),
      'Nothing to change.',
    ]);

    const s = await tool(['status', '--json']);
    expect(s.code, output(s)).toBe(0);
    const status = parseJson<{ instance: unknown; interfaces: unknown[] }>(s);
    expectValid('status.schema.json', status);
    expect(status.instance).toEqual(FACTS);
    expect(status.interfaces).toEqual(expectedInterfaces('in-sync'));

    expect(fs.readFileSync(statePath).equals(before), 'plan/status rewrote state.json').toBe(true);
    expect(await scenario.nm.kernelSnapshot([30200, 30201, 30400, 30401])).toEqual(kernelAfterApply);
  });

  it('state.json after apply: mode 0644, valid, command apply, result changed, devices applied, no token', () => {
    expect(applied, 'apply did not run').toBe(true);
    expect(fs.readdirSync(stateDir), 'only state.json, no temporary file left').toEqual(['state.json']);
    expect(fs.statSync(statePath).mode & 0o7777).toBe(0o644);
    const text = fs.readFileSync(statePath, 'utf8');
    expect(text).not.toContain(TOKEN);
    const doc = JSON.parse(text) as Record<string, unknown>;
    expectValid('state.schema.json', doc);
    expect(doc).toMatchObject({
      formatVersion: 1,
      command: 'apply',
      provider: { name: 'ec2', metadataUrl: 'http://169.254.169.254' },
      result: 'changed',
    });
    expect(doc['interfaces']).toEqual(
      expectedInterfaces('').map((i) => {
        const { device: _d, connection: _c, config: _s, ...rest } = i as Record<string, unknown>;
        return rest;
      }),
    );
    expect(doc['devices']).toEqual(
      NICS.map((n) => ({ hwaddr: n.mac, device: n.dev, connection: { id: n.dev, uuid: uuids[n.dev] }, result: 'applied' })),
    );
    stateAfterApply = fs.readFileSync(statePath);
  });

  it('fetch: exit 0, state.json now says fetch / fetched with no devices, NM untouched', async () => {
    expect(stateAfterApply, 'state.json after apply was not read').toBeDefined();
    const r = await tool(['fetch']);
    expect(r.code, output(r)).toBe(0);
    expect(r.stdout, output(r)).toBe('');
    const text = fs.readFileSync(statePath, 'utf8');
    expect(text).not.toContain(TOKEN);
    const doc = JSON.parse(text) as Record<string, unknown>;
    expectValid('state.schema.json', doc);
    expect(doc).toMatchObject({ command: 'fetch', result: 'fetched', devices: [] });
    expect(doc['interfaces']).toEqual((JSON.parse(stateAfterApply!.toString('utf8')) as Record<string, unknown>)['interfaces']);
    expect(fs.statSync(statePath).mode & 0o7777).toBe(0o644);
    expect(await scenario.nm.kernelSnapshot([30200, 30201, 30400, 30401])).toEqual(kernelAfterApply);
  });

  it('a failed fetch keeps state.json byte for byte and leaves the kernel configured', async () => {
    const nm = scenario.nm;
    expect(kernelAfterApply, 'apply did not configure the kernel').toBeDefined();
    const bytes = fs.readFileSync(statePath);
    const mtime = fs.statSync(statePath).mtimeMs;
    await scenario.imds.setConfig(BROKEN_METADATA);

    const a = await tool([], false);
    expect(a.code, output(a)).toBe(0);
    expect(fs.readFileSync(statePath).equals(bytes), 'apply with a failed fetch rewrote state.json').toBe(true);
    expect(fs.statSync(statePath).mtimeMs).toBe(mtime);
    expect(fs.readdirSync(stateDir)).toEqual(['state.json']);
    await expectKernelIs(nm, afterOf, 0);
    expect(await nm.kernelSnapshot([30200, 30201, 30400, 30401])).toEqual(kernelAfterApply);

    const f = await tool(['fetch'], false);
    expect(f.code, output(f)).toBe(1);
    expect(f.stdout, output(f)).toBe('');
    expect(f.stderr, output(f)).toMatch(/^[^\n]*failure to get meta data[^\n]*\n$/);
    expect(fs.readFileSync(statePath).equals(bytes), 'failed fetch rewrote state.json').toBe(true);
    expect(fs.statSync(statePath).mtimeMs).toBe(mtime);
    expect(await nm.kernelSnapshot([30200, 30201, 30400, 30401])).toEqual(kernelAfterApply);
  }, 45_000);

  it('no run printed the IMDSv2 token', () => {
    expect(runs.length).toBeGreaterThan(0);
    for (const r of runs) expect(`${r.stdout}\n${r.stderr}`, output(r)).not.toContain(TOKEN);
  });
});
