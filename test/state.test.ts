// SPDX-License-Identifier: LGPL-2.1-or-later
// state.json: which runs write it, what it holds, and how it is written.
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { DeviceOutcome, RunReport } from '../src/model.js';
import { totalled } from '../src/model.js';
import { StateFileError, writeStateFile } from '../src/state-file.js';
import { isoTime, stateDocument, type StateDocument } from '../src/state.js';
import { loadSchema, validate } from './helpers/json-schema.js';
import { scratchDir } from './helpers/scratch.js';
import { iface } from './plan/fixtures.js';

const HW1 = '0A:00:00:00:00:01';
const HW2 = '0A:00:00:00:00:02';
const time = new Date('2026-11-23T14:00:00.000Z');

function report(more: Partial<RunReport> = {}): RunReport {
  const metadata = totalled([
    iface(HW1, 0, ['10.0.0.5', '10.0.0.6'], '10.0.0.0/24'),
    iface(HW2, 1, ['10.0.1.5'], '10.0.1.0/24', { gateway: '10.0.1.254' }),
  ]);
  const outcomes: DeviceOutcome[] = [
    { hwaddr: HW1, device: 'eth0', connection: { id: 'cloud-eth0', uuid: 'u-1' }, result: 'applied', wrote: true },
    { hwaddr: HW2, device: 'eth1', result: 'skipped', reason: 'skip applied connection due to missing IPv4 configuration', wrote: false },
  ];
  return {
    mode: 'apply',
    result: 'changed',
    provider: { name: 'ec2', baseUrl: 'http://169.254.169.254' },
    metadata,
    outcomes,
    ...more,
  };
}

describe('stateDocument', () => {
  it('after apply: provider, time, every metadata record with subnet and gateway, each device result', () => {
    const document = stateDocument(report(), { time, toolVersion: '1.2.3' });
    expect(document).toEqual({
      formatVersion: 1,
      toolVersion: '1.2.3',
      command: 'apply',
      time: '2026-11-23T14:00:00.000Z',
      provider: { name: 'ec2', metadataUrl: 'http://169.254.169.254' },
      result: 'changed',
      interfaces: [
        {
          hwaddr: HW1,
          ifaceIdx: 0,
          requested: true,
          valid: true,
          ipv4s: ['10.0.0.5', '10.0.0.6'],
          subnet: '10.0.0.0/24',
          gateway: '10.0.0.1',
          routes: [],
        },
        {
          hwaddr: HW2,
          ifaceIdx: 1,
          requested: true,
          valid: true,
          ipv4s: ['10.0.1.5'],
          subnet: '10.0.1.0/24',
          gateway: '10.0.1.254',
          routes: [],
        },
      ],
      devices: [
        { hwaddr: HW1, device: 'eth0', connection: { id: 'cloud-eth0', uuid: 'u-1' }, result: 'applied' },
        { hwaddr: HW2, device: 'eth1', result: 'skipped', reason: 'skip applied connection due to missing IPv4 configuration' },
      ],
    });
    expect(validate(loadSchema('state.schema.json'), document)).toEqual([]);
  });

  it('is not written when no metadata arrived, so a failed fetch keeps the previous file', () => {
    for (const result of ['no-provider', 'no-networkmanager', 'metadata-failed', 'cancelled'] as const) {
      const { metadata: _dropped, ...rest } = report({ result });
      expect(stateDocument(rest, { time, toolVersion: '1' })).toBeUndefined();
    }
  });

  it('is not written for a run SIGTERM cancelled after the metadata arrived: the previous file still holds', () => {
    const cancelled = report({ result: 'cancelled', outcomes: [] });
    expect(cancelled.metadata).toBeDefined();
    expect(stateDocument(cancelled, { time, toolVersion: '1' })).toBeUndefined();
  });

  it('says "failed" when every write failed, and is valid', () => {
    const failed = stateDocument(report({ result: 'failed' }), { time, toolVersion: '1' });
    expect(failed).toMatchObject({ result: 'failed' });
    expect(validate(loadSchema('state.schema.json'), failed)).toEqual([]);
  });

  it('plan and status never write it; fetch does, without device results', () => {
    expect(stateDocument(report({ mode: 'plan', result: 'pending' }), { time, toolVersion: '1' })).toBeUndefined();
    expect(stateDocument(report({ mode: 'status', result: 'pending' }), { time, toolVersion: '1' })).toBeUndefined();
    const fetched = stateDocument(report({ mode: 'fetch', result: 'fetched', outcomes: [] }), { time, toolVersion: '1' });
    expect(fetched).toMatchObject({ command: 'fetch', result: 'fetched', devices: [] });
    expect(validate(loadSchema('state.schema.json'), fetched)).toEqual([]);
  });
});

describe('isoTime', () => {
  it('is toISOString: epoch edges, leap days, centuries, the ends of four-digit years, and a sweep', () => {
    const edges = [
      0,
      -1,
      1,
      86_399_999,
      86_400_000,
      Date.UTC(2000, 1, 29, 23, 59, 59, 999),
      Date.UTC(1900, 1, 28),
      Date.UTC(2100, 2, 1),
      Date.UTC(2024, 11, 31, 12, 0, 0, 5),
      Date.UTC(1970, 0, 1),
      -62_167_219_200_000,
      253_402_300_799_999,
    ];
    // Every 7 days and 13 h 17 min 31.337 s from 1901 to 2199: every month, weekday and hour.
    const sweep = Array.from({ length: 14_500 }, (_, i) => Date.UTC(1901, 0, 1) + i * 653_851_337);
    for (const ms of [...edges, ...sweep]) expect(isoTime(new Date(ms))).toBe(new Date(ms).toISOString());
  });

  it('leaves years outside 0000-9999 and invalid dates to toISOString', () => {
    expect(isoTime(new Date(-62_167_219_200_001))).toBe('-000001-12-31T23:59:59.999Z');
    expect(isoTime(new Date(253_402_300_800_000))).toBe('+010000-01-01T00:00:00.000Z');
    expect(() => isoTime(new Date(NaN))).toThrow(RangeError);
  });
});

/** What `work` throws, or undefined. */
function thrown(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('writeStateFile', () => {
  const document = stateDocument(report(), { time, toolVersion: '1' }) as StateDocument;

  it('creates the directory, writes 0644 whatever the umask, and leaves no temporary file', () => {
    const dir = join(scratchDir('nmcs-state-'), 'nested');
    const umask = process.umask(0o077);
    try {
      expect(writeStateFile(dir, document)).toBe(join(dir, 'state.json'));
    } finally {
      process.umask(umask);
    }
    expect(statSync(join(dir, 'state.json')).mode & 0o777).toBe(0o644);
    expect(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'))).toEqual(document);
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('replaces the previous file by rename: a new inode, never a partly written file', () => {
    const dir = scratchDir('nmcs-state-');
    writeFileSync(join(dir, 'state.json'), '{"old":true}\n');
    const before = statSync(join(dir, 'state.json')).ino;
    writeStateFile(dir, document);
    expect(statSync(join(dir, 'state.json')).ino).not.toBe(before);
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe(`${JSON.stringify(document, null, 2)}\n`);
    expect(readdirSync(dir)).toEqual(['state.json']);
  });

  it('fails with a typed error naming the path when the directory cannot be used', () => {
    const file = join(scratchDir('nmcs-state-'), 'not-a-directory');
    writeFileSync(file, 'x');
    const failure = thrown(() => writeStateFile(file, document));
    expect(failure).toBeInstanceOf(StateFileError);
    expect(failure).toMatchObject({
      code: 'ERR_STATE_FILE',
      message: expect.stringContaining(`cannot write ${file}/state.json: `) as unknown,
    });
    expect(readFileSync(file, 'utf8')).toBe('x');
  });

  it('creates the directory 0755 whatever the umask', () => {
    const dir = join(scratchDir('nmcs-state-'), 'nm-cloud-setup');
    const umask = process.umask(0o077);
    try {
      writeStateFile(dir, document);
    } finally {
      process.umask(umask);
    }
    expect(statSync(dir).mode & 0o777).toBe(0o755);
  });

  it('never follows a link planted at a predictable temporary name', () => {
    const dir = scratchDir('nmcs-state-');
    const victim = join(scratchDir('nmcs-victim-'), 'shadow');
    writeFileSync(victim, 'secret\n', { mode: 0o600 });
    // The names an attacker can guess: the old `.state.json.<pid>.tmp` and its neighbours.
    for (let pid = process.pid - 2; pid <= process.pid + 2; pid++) symlinkSync(victim, join(dir, `.state.json.${pid}.tmp`));
    writeStateFile(dir, document);
    expect(readFileSync(victim, 'utf8')).toBe('secret\n');
    expect(statSync(victim).mode & 0o777).toBe(0o600);
    expect(lstatSync(join(dir, 'state.json')).isFile()).toBe(true);
  });

  it.each([
    ['writable by others', 0o777, /is writable by others \(mode 0777\)/],
    ['writable by its group', 0o775, /is writable by others \(mode 0775\)/],
  ])('refuses a state directory %s, writing nothing', (_, mode, why) => {
    const dir = join(scratchDir('nmcs-state-'), 'shared');
    mkdirSync(dir);
    chmodSync(dir, mode);
    const failure = thrown(() => writeStateFile(dir, document));
    expect(failure).toBeInstanceOf(StateFileError);
    expect((failure as Error).message).toMatch(new RegExp(`^refusing to write ${dir}/state.json: ${dir} ${why.source}`));
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a state directory that is a symbolic link', () => {
    const target = scratchDir('nmcs-target-');
    const dir = join(scratchDir('nmcs-state-'), 'link');
    symlinkSync(target, dir);
    const failure = thrown(() => writeStateFile(dir, document));
    expect(failure).toMatchObject({ code: 'ERR_STATE_FILE', message: expect.stringContaining('is not a directory') as unknown });
    expect(readdirSync(target)).toEqual([]);
  });
});
