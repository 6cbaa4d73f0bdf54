// SPDX-License-Identifier: LGPL-2.1-or-later
// The Aliyun provider end to end against nock on the default host: detect(), then getConfig().
import nock from 'nock';
import { describe, expect, test } from 'vitest';
import { isCancellation, MetadataError, PollTimeoutError } from '../../src/errors.js';
import { aliyun } from '../../src/providers/aliyun.js';
import {
  fillRecords,
  metadataServer,
  providerHarness,
  recordOutcomes,
  rejectionOf,
  rejectionWhenAborted,
  seed,
  type ProviderRecord,
} from '../helpers/provider-harness.js';

const BASE = 'http://100.100.100.200';
const META = '/2016-01-01/meta-data/';
const MACS = `${META}network/interfaces/macs/`;
/** The five leaves fetched per MAC. */
const LEAVES = ['vpc-cidr-block', 'private-ipv4s', 'primary-ip-address', 'netmask', 'gateway'];
/** Headers of the other clouds; Aliyun sends none of them. */
const FOREIGN_HEADERS = [
  'Metadata-Flavor',
  'Metadata',
  'Authorization',
  'X-aws-ec2-metadata-token',
  'X-aws-ec2-metadata-token-ttl-seconds',
];

/**
 * Upstream: poll(3000, 7000, 1000) to detect, (3000, 15000, 1000) for the listing, (3000, 10000,
 * 1000) per leaf. Polls meant to succeed run at SCALE (attempts 300 ms, detection 700 ms, listing
 * 1.5 s, leaves 1 s, spacing 100 ms): room for a busy machine, and no test waits for these
 * windows. The one poll a test lets run out runs at FAST (detection 140 ms, listing 300 ms,
 * leaves 200 ms) on a second client.
 */
const SCALE = 0.1;
const FAST = 0.02;

const MAC1 = '00:16:3E:00:00:01';
const MAC2 = '00:16:3E:00:00:02';
const MAC3 = '00:16:3E:00:00:03';
const path = (mac: string): string => `${mac.toLowerCase()}/`;

/** The metadata server: an interceptor matches only requests without any cloud's special header. */
const { server, serverOnce } = metadataServer(() => nock(BASE, { badheaders: FOREIGN_HEADERS }));

// Every request must match an interceptor, so none carried another cloud's header.
const { lines, http, context, fast, expiring, detectSession, warnings } = providerHarness({
  provider: aliyun,
  baseUrl: BASE,
  scale: SCALE,
  fastScale: FAST,
  stubDetection: () => server().get(META).reply(200, 'instance-id\nnetwork/\n'),
});

interface Leaves {
  readonly vpc?: string;
  readonly ipv4s?: string;
  readonly primary?: string;
  readonly netmask?: string;
  readonly gateway?: string;
}

/** Serves the five leaves of one listing path. */
function leaves(scope: nock.Scope, listingPath: string, data: Leaves): nock.Scope {
  const dir = `${MACS}${listingPath.endsWith('/') ? listingPath : `${listingPath}/`}`;
  const bodies: [string, string | undefined][] = [
    ['vpc-cidr-block', data.vpc],
    ['private-ipv4s', data.ipv4s],
    ['primary-ip-address', data.primary],
    ['netmask', data.netmask],
    ['gateway', data.gateway],
  ];
  for (const [leaf, body] of bodies) if (body !== undefined) scope.get(`${dir}${leaf}`).reply(200, body);
  return scope;
}

const typical = (n: number): Leaves => ({
  vpc: '172.16.0.0/12',
  ipv4s: `["172.16.${n}.10"]`,
  primary: `172.16.${n}.10`,
  netmask: '255.255.255.0',
  gateway: `172.16.${n}.253`,
});

/** Runs getConfig for one listed MAC with the given leaves; returns the records. */
async function configure(data: Leaves): Promise<Map<string, ProviderRecord>> {
  const session = await detectSession();
  const api = leaves(server().get(MACS).reply(200, path(MAC1)), path(MAC1), data);
  const records = seed(MAC1);
  await fillRecords(session, records, new AbortController().signal);
  api.done();
  return records;
}

describe('aliyun provider shape', () => {
  test('names and defaults as upstream (with the scheme curl would assume)', () => {
    expect(aliyun.name).toBe('aliyun');
    expect(aliyun.envName).toBe('ALIYUN');
    expect(aliyun.defaultBaseUrl).toBe('http://100.100.100.200');
    expect(aliyun.allowNewConnectionsByDefault).toBe(false);
  });
});

describe('detect', () => {
  test('GET /2016-01-01/meta-data/ with no special header; 200 → detected', async () => {
    const scope = server().get(META).reply(200, 'instance-id\n');
    const result = await aliyun.detect(context());
    expect(result.detected).toBe(true);
    scope.done();
    expect(lines.some((line) => line.endsWith(`, "${BASE}${META}"]: start get ...`))).toBe(true);
  });

  test('404 until the (scaled) 7 s → "failure to get ALIYUN metadata: timeout expired"', async () => {
    const scope = server().get(META).reply(404);
    const started = performance.now();
    const result = await aliyun.detect(context(undefined, fast));
    expect(result).toEqual({ detected: false, reason: 'failure to get ALIYUN metadata: timeout expired' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(7000 * FAST * 0.8);
    expect(scope.isDone()).toBe(true);
  });
});

describe('getConfig', () => {
  test('full sequence: listing order gives ifaceIdx, five leaves per MAC, log lines', async () => {
    const session = await detectSession();
    const api = server()
      .get(MACS)
      .reply(200, `${path(MAC2)}\n${path(MAC1)}\n`);
    leaves(api, path(MAC2), {
      vpc: '192.168.0.0/16',
      ipv4s: '192.168.5.20,192.168.5.21',
      primary: '192.168.5.20',
      netmask: '255.255.255.0',
      gateway: '192.168.5.253',
    });
    leaves(api, path(MAC1), {
      vpc: '172.16.0.0/12',
      ipv4s: '["172.16.1.11","172.16.1.10"]',
      primary: '172.16.1.10',
      netmask: '255.255.240.0',
      gateway: '172.16.15.253',
    });
    const records = seed(MAC1, MAC2);
    await fillRecords(session, records, new AbortController().signal);
    api.done();

    expect(records.get(MAC2)).toEqual({
      hwaddr: MAC2,
      ifaceIdx: 0,
      wasRequested: true,
      routes: [],
      ipv4s: ['192.168.5.20', '192.168.5.21'],
      cidr: { address: '192.168.0.0', prefix: 24 },
      gateway: '192.168.5.253',
    });
    expect(records.get(MAC1)).toEqual({
      hwaddr: MAC1,
      ifaceIdx: 1,
      wasRequested: true,
      routes: [],
      ipv4s: ['172.16.1.10', '172.16.1.11'],
      cidr: { address: '172.16.0.0', prefix: 20 },
      gateway: '172.16.15.253',
    });
    expect(lines).toContain(`[0.0000] <debug> get-config: start fetching meta data for #0, ${MAC2} (${path(MAC2)})`);
    expect(lines).toContain(`[0.0000] <debug> get-config: start fetching meta data for #1, ${MAC1} (${path(MAC1)})`);
    expect(warnings()).toEqual([]);
  });

  test("cidr = vpc-cidr-block's address with the prefix from the netmask (vpc's own prefix discarded)", async () => {
    const records = await configure({ ...typical(5), vpc: '172.16.0.0/12', netmask: '255.255.255.0' });
    expect(records.get(MAC1)?.cidr).toEqual({ address: '172.16.0.0', prefix: 24 });
  });

  test('private-ipv4s in the comma form', async () => {
    const records = await configure({ ...typical(5), ipv4s: '172.16.5.10,172.16.5.11,172.16.5.12', primary: '172.16.5.10' });
    expect(records.get(MAC1)?.ipv4s).toEqual(['172.16.5.10', '172.16.5.11', '172.16.5.12']);
  });

  test('private-ipv4s in the JSON-ish ["a","b"] form', async () => {
    const records = await configure({ ...typical(5), ipv4s: '["172.16.5.10", "172.16.5.11"]\n', primary: '172.16.5.10' });
    expect(records.get(MAC1)?.ipv4s).toEqual(['172.16.5.10', '172.16.5.11']);
  });

  test('the primary moves first, the others keep their order', async () => {
    const records = await configure({
      ...typical(5),
      ipv4s: '["172.16.5.1","172.16.5.2","172.16.5.3","172.16.5.4"]',
      primary: '172.16.5.3',
    });
    expect(records.get(MAC1)?.ipv4s).toEqual(['172.16.5.3', '172.16.5.1', '172.16.5.2', '172.16.5.4']);
  });

  test('the primary moves first whatever order the leaves answer in', async () => {
    const session = await detectSession();
    const dir = `${MACS}${path(MAC1)}`;
    const api = server().get(MACS).reply(200, path(MAC1));
    // primary-ip-address answers first, private-ipv4s last.
    api.get(`${dir}primary-ip-address`).reply(200, '172.16.5.4');
    api.get(`${dir}private-ipv4s`).delay(40).reply(200, '172.16.5.1,172.16.5.4');
    api.get(`${dir}vpc-cidr-block`).delay(20).reply(200, '172.16.0.0/12');
    api.get(`${dir}netmask`).reply(200, '255.255.255.0');
    api.get(`${dir}gateway`).reply(200, '172.16.5.253');
    const records = seed(MAC1);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(records.get(MAC1)?.ipv4s).toEqual(['172.16.5.4', '172.16.5.1']);
  });

  test('a primary absent from the list leaves the list as it is', async () => {
    const records = await configure({ ...typical(5), ipv4s: '172.16.5.2,172.16.5.1', primary: '172.16.5.9' });
    expect(records.get(MAC1)?.ipv4s).toEqual(['172.16.5.2', '172.16.5.1']);
  });

  test('gateway from the metadata (not the first address of the subnet)', async () => {
    const records = await configure({ ...typical(5), gateway: '172.16.5.253' });
    expect(records.get(MAC1)?.gateway).toBe('172.16.5.253');
  });

  test('a trailing newline in primary, netmask and gateway is tolerated (intentional difference: trimmed)', async () => {
    const records = await configure({
      vpc: '172.16.0.0/12\n',
      ipv4s: '172.16.5.11,172.16.5.10\n',
      primary: '172.16.5.10\n',
      netmask: '255.255.255.0\n',
      gateway: '172.16.5.253\n',
    });
    expect(records.get(MAC1)).toMatchObject({
      ipv4s: ['172.16.5.10', '172.16.5.11'],
      cidr: { address: '172.16.0.0', prefix: 24 },
      gateway: '172.16.5.253',
    });
    expect(warnings()).toEqual([]);
  });

  test.each(['255.0.255.0', '255.255.255', ''])(
    'invalid netmask %j → one warning, no cidr (intentional difference: upstream uses prefix 0)',
    async (netmask) => {
      const records = await configure({ ...typical(5), netmask });
      const record = records.get(MAC1);
      expect(record?.cidr).toBeUndefined();
      // The rest of the interface is still filled in.
      expect(record?.ipv4s).toEqual(['172.16.5.10']);
      expect(record?.gateway).toBe('172.16.5.253');
      const got = warnings();
      expect(got).toHaveLength(1);
      expect(got[0]).toContain(MAC1);
      expect(got[0]).toContain('netmask');
    },
  );

  test.each(['172.16.5', '172.16.5.253/24'])('invalid gateway %j → one warning, no gateway', async (gateway) => {
    const records = await configure({ ...typical(5), gateway });
    const record = records.get(MAC1);
    expect(record).not.toHaveProperty('gateway');
    expect(record?.cidr).toEqual({ address: '172.16.0.0', prefix: 24 });
    const got = warnings();
    expect(got).toHaveLength(1);
    expect(got[0]).toContain(MAC1);
    expect(got[0]).toContain('gateway');
  });

  test('invalid vpc-cidr-block → a warning, no cidr', async () => {
    const records = await configure({ ...typical(5), vpc: 'nonsense' });
    expect(records.get(MAC1)?.cidr).toBeUndefined();
    expect(warnings().some((line) => line.includes('vpc-cidr-block'))).toBe(true);
  });

  test('invalid pieces of private-ipv4s are dropped with a warning', async () => {
    const records = await configure({ ...typical(5), ipv4s: '["172.16.5.10","bogus","172.16.5.11"]' });
    expect(records.get(MAC1)?.ipv4s).toEqual(['172.16.5.10', '172.16.5.11']);
    const got = warnings();
    expect(got).toHaveLength(1);
    expect(got[0]).toContain('bogus');
  });

  test('an unrequested MAC in the listing is not read (issue #10 item 3)', async () => {
    const session = await detectSession();
    const api = server()
      .get(MACS)
      .reply(200, `${path(MAC1)}\n${path(MAC3)}\n`);
    leaves(api, path(MAC1), typical(1));
    const records = seed(MAC1);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(records.get(MAC3)).toBeUndefined();
    expect(records.get(MAC1)?.ipv4s).toEqual(['172.16.1.10']);
  });

  test('the listing is polled until every requested MAC is in it', async () => {
    const session = await detectSession();
    serverOnce().get(MACS).reply(200, path(MAC1));
    const api = server()
      .get(MACS)
      .reply(200, `${path(MAC1)}\n${path(MAC2)}\n`);
    leaves(api, path(MAC1), typical(1));
    leaves(api, path(MAC2), typical(2));
    const records = seed(MAC1, MAC2);
    const started = performance.now();
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(records.get(MAC2)?.ifaceIdx).toBe(1);
    // Ready on the second listing, well before the 1.5 s window.
    expect(performance.now() - started).toBeLessThan(15000 * SCALE * 0.8);
  });

  test('a requested MAC missing from the listing: poll the (scaled) 15 s, then use the last listing', async () => {
    const session = await detectSession(expiring(/\/macs\/$/));
    let listings = 0;
    server()
      .get(MACS)
      .reply(() => {
        listings++;
        return [200, path(MAC1)];
      });
    const api = leaves(server(), path(MAC1), typical(1));
    const records = seed(MAC1, MAC3);
    const started = performance.now();
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(performance.now() - started).toBeGreaterThanOrEqual(15000 * FAST * 0.8);
    expect(listings).toBeGreaterThanOrEqual(3);
    expect(records.get(MAC1)).toMatchObject({ ifaceIdx: 0, ipv4s: ['172.16.1.10'] });
    expect(records.get(MAC3)).toEqual({ hwaddr: MAC3, ifaceIdx: -1, wasRequested: true, routes: [] });
  });

  test('a listing that is never 200 rejects with "meta data for interfaces not found"', async () => {
    const session = await detectSession(expiring(/\/macs\/$/));
    server().get(MACS).reply(404);
    const error = await rejectionOf(fillRecords(session, seed(MAC1), new AbortController().signal));
    expect(error).toBeInstanceOf(MetadataError);
    expect((error as Error).message).toBe('meta data for interfaces not found');
  });

  test('a leaf that answers 404 is final: that MAC has no IPv4, the others are read at once (issue #10 item 2)', async () => {
    const session = await detectSession();
    const api = server()
      .get(MACS)
      .reply(200, `${path(MAC1)}\n${path(MAC3)}\n`);
    leaves(api, path(MAC1), { ...typical(1), gateway: undefined });
    api.get(`${MACS}${path(MAC1)}gateway`).reply(404);
    leaves(api, path(MAC3), typical(3));
    const records = seed(MAC1, MAC3);
    const started = performance.now();
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(performance.now() - started).toBeLessThan(10000 * SCALE);
    expect(records.get(MAC1)).toEqual({ hwaddr: MAC1, ifaceIdx: 0, wasRequested: true, routes: [] });
    expect(records.get(MAC3)?.ipv4s).toEqual(['172.16.3.10']);
    expect(lines).toContain(`[0.0000] <debug> get-config: ${MAC1}: no gateway (HTTP 404), no IPv4 to configure on this interface`);
  });

  test('a leaf that answers 503 until the (scaled) 10 s still fails the whole get-config with "timeout expired"', async () => {
    const session = await detectSession(expiring(/\/gateway$/));
    const api = leaves(server().get(MACS).reply(200, path(MAC1)), path(MAC1), { ...typical(1), gateway: undefined });
    server()
      .get(`${MACS}${path(MAC1)}gateway`)
      .reply(503);
    const records = seed(MAC1);
    const error = await rejectionOf(fillRecords(session, records, new AbortController().signal));
    api.done();
    expect(error).toBeInstanceOf(PollTimeoutError);
    expect(records.get(MAC1)).toEqual({ hwaddr: MAC1, ifaceIdx: -1, wasRequested: true, routes: [] });
  });

  test.each(LEAVES)('a failed poll of %s fails the whole get-config at once and aborts every other leaf', async (leaf) => {
    // The failing leaf's poll gives up after 10 ms; every other leaf (of both MACs) would answer 503 for
    // its whole 1 s window unless aborted.
    const { client: wrapped, outcomes } = recordOutcomes(http, {
      url: (url) => url.endsWith(`/${path(MAC1)}${leaf}`),
      afterMs: 10,
    });
    server().get(META).reply(200, 'network/\n');
    const detected = await aliyun.detect({ ...context(), http: wrapped });
    if (!detected.detected) throw new Error(`not detected: ${detected.reason}`);
    server()
      .get(MACS)
      .reply(200, `${path(MAC1)}\n${path(MAC2)}\n`);
    server()
      .get(/\/00:16:3e:00:00:0[12]\/[a-z0-9-]+$/)
      .reply(503);

    const records = seed(MAC1, MAC2);
    const started = performance.now();
    const error = await rejectionOf(fillRecords(detected.session, records, new AbortController().signal));
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(PollTimeoutError);
    const leafOutcomes = outcomes.filter((entry) => entry.url.includes('/macs/00:16:3e'));
    // The 4 other leaves of MAC1 and the 5 of MAC2, all cancelled, and only after they settled.
    expect(leafOutcomes).toHaveLength(9);
    expect(leafOutcomes.every((entry) => entry.outcome === 'cancelled')).toBe(true);
    expect(elapsed).toBeLessThan(10000 * SCALE * 0.5);
    // A failed get-config returns nothing: the seeded record is all there is.
    expect(records.get(MAC1)).toEqual({ hwaddr: MAC1, ifaceIdx: -1, wasRequested: true, routes: [] });
  });

  test('cancellation during get-config rejects with a cancellation', async () => {
    const session = await detectSession();
    server().get(MACS).reply(200, path(MAC1));
    server()
      .get(/\/00:16:3e:00:00:01\/.*/)
      .reply(503);
    const error = await rejectionWhenAborted(40, (signal) => fillRecords(session, seed(MAC1), signal));
    expect(isCancellation(error)).toBe(true);
    expect(error).not.toBeInstanceOf(PollTimeoutError);
  });
});
