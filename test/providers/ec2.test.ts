// SPDX-License-Identifier: LGPL-2.1-or-later
// The EC2 provider end to end against nock on the default host: detect() (token), then getConfig().
import nock from 'nock';
import { describe, expect, test } from 'vitest';
import { isCancellation, MetadataError, PollTimeoutError } from '../../src/errors.js';
import { ec2, parseLocalIpv4s } from '../../src/providers/ec2.js';
import { MAX_IN_FLIGHT } from '../../src/providers/fetch.js';
import { parseMacListing } from '../../src/providers/mac-listing.js';
import {
  fillRecords,
  providerHarness,
  recordOutcomes,
  rejectionOf,
  rejectionWhenAborted,
  seed,
  serveEc2DeviceNumbers,
  type ProviderRecord,
} from '../helpers/provider-harness.js';

const BASE = 'http://169.254.169.254';
const MACS = '/2018-09-24/meta-data/network/interfaces/macs/';
const TOKEN = 'AQAEAGxxSecretTokenxxQ==';
const TTL_HEADER = 'X-aws-ec2-metadata-token-ttl-seconds';
const TOKEN_HEADER = 'X-aws-ec2-metadata-token';

/**
 * 0.1: attempts 300 ms, detection 700 ms, listing 1.5 s, leaves 1 s, spacing 100 ms (smaller
 * scales made the success paths flaky on a loaded 2-core machine).
 * Upstream: poll(3000, 7000, 1000) to detect, (3000, 15000, 1000) for the listing, (3000, 10000, 1000) per leaf.
 */
const SCALE = 0.1;

const MAC1 = '0E:49:61:0F:C3:11';
const MAC2 = '0E:8C:CB:AC:CA:F7';
const MAC3 = '0E:00:00:00:00:03';
const path = (mac: string): string => `${mac.toLowerCase()}/`;

// Every request of every test must match an interceptor, so every GET carried the token.
const { lines, unmatched, preconnects, http, context, detectSession, getConfig, getConfigError, warnings } = providerHarness({
  provider: ec2,
  baseUrl: BASE,
  scale: SCALE,
});
const deviceNumbers = serveEc2DeviceNumbers(BASE);

/** The token endpoint, expecting the TTL header and no token header. */
function tokenScope(reply: { status: number; body?: string } = { status: 200, body: TOKEN }) {
  return nock(BASE, { badheaders: [TOKEN_HEADER] })
    .put('/latest/api/token')
    .matchHeader(TTL_HEADER, '180')
    .reply(reply.status, reply.body ?? '');
}

/** Every metadata GET must carry the token; a request without it matches nothing. */
function imds() {
  return nock(BASE, { badheaders: [TTL_HEADER] }).matchHeader(TOKEN_HEADER, TOKEN);
}

/** Serves subnet-ipv4-cidr-block and local-ipv4s for one listing path. */
function leaves(scope: nock.Scope, listingPath: string, cidr: string, ipv4s: string): nock.Scope {
  const dir = listingPath.endsWith('/') ? listingPath : `${listingPath}/`;
  return scope.get(`${MACS}${dir}subnet-ipv4-cidr-block`).reply(200, cidr).get(`${MACS}${dir}local-ipv4s`).reply(200, ipv4s);
}

describe('ec2 provider shape', () => {
  test('names and defaults as upstream', () => {
    expect(ec2.name).toBe('ec2');
    expect(ec2.envName).toBe('EC2');
    expect(ec2.defaultBaseUrl).toBe('http://169.254.169.254');
    expect(ec2.allowNewConnectionsByDefault).toBe(false);
  });
});

describe('detect', () => {
  test('PUT /latest/api/token with the TTL header; 200 → detected', async () => {
    const scope = tokenScope();
    const result = await ec2.detect(context());
    expect(result.detected).toBe(true);
    scope.done();
    expect(unmatched).toEqual([]);
    const start = /<debug> http-request\[[0-9a-f]{16}, "http:\/\/169\.254\.169\.254\/latest\/api\/token"\]: start PUT \.\.\.$/;
    expect(lines.some((line) => start.test(line))).toBe(true);
    expect(lines.some((line) => line.endsWith(`received ${TOKEN.length} bytes: [[<redacted>]]`))).toBe(true);
    expect(lines.some((line) => line.includes(TOKEN))).toBe(false);
  });

  test('404 until the (scaled) 7 s → not detected with "timeout expired"', async () => {
    const scope = nock(BASE).put('/latest/api/token').reply(404, 'Not Found').persist();
    const started = performance.now();
    const result = await ec2.detect(context());
    expect(result).toEqual({ detected: false, reason: 'failure to get EC2 metadata: timeout expired' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(7000 * SCALE * 0.8);
    expect(scope.isDone()).toBe(true);
  });

  test('a 500 then 200 is retried and detected', async () => {
    nock(BASE).put('/latest/api/token').reply(500, 'oops');
    const scope = tokenScope();
    const result = await ec2.detect(context());
    expect(result.detected).toBe(true);
    scope.done();
  });

  test('a token request hanging past the per-attempt timeout is retried', async () => {
    nock(BASE)
      .put('/latest/api/token')
      .delay(3000 * SCALE * 3)
      .reply(200, 'too late');
    const scope = tokenScope();
    const session = await detectSession();
    scope.done();
    // The token of the second attempt is the one used.
    const later = imds().get(MACS).reply(200, path(MAC1));
    leaves(imds(), path(MAC1), '10.0.0.0/24', '10.0.0.5');
    await fillRecords(session, seed(MAC1), new AbortController().signal);
    later.done();
  });

  test('cancellation during detection rejects with a cancellation, not a failure', async () => {
    nock(BASE).put('/latest/api/token').reply(404).persist();
    const error = await rejectionWhenAborted(30, (signal) => ec2.detect(context(signal)));
    expect(isCancellation(error)).toBe(true);
  });
});

describe('getConfig', () => {
  test('full sequence: listing order gives ifaceIdx, raw paths are reused, every GET carries the token', async () => {
    tokenScope();
    // Upstream's test data: mac2 first, so MAC1 (eth0) gets index 1.
    const api = imds()
      .get(MACS)
      .reply(200, `${path(MAC2)}\n${path(MAC1)}\n`);
    leaves(api, path(MAC2), '172.31.176.0/20', '172.31.186.249');
    leaves(api, path(MAC1), '172.31.166.0/20', '172.31.176.249\n172.31.176.250\n');
    const session = await detectSession();
    const records = seed(MAC1, MAC2);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(unmatched).toEqual([]);

    expect(records.get(MAC1)).toEqual({
      hwaddr: MAC1,
      ifaceIdx: 1,
      wasRequested: true,
      routes: [],
      cidr: { address: '172.31.166.0', prefix: 20 },
      ipv4s: ['172.31.176.249', '172.31.176.250'],
    });
    expect(records.get(MAC2)).toEqual({
      hwaddr: MAC2,
      ifaceIdx: 0,
      wasRequested: true,
      routes: [],
      cidr: { address: '172.31.176.0', prefix: 20 },
      ipv4s: ['172.31.186.249'],
    });
    expect(lines).toContain(`[0.0000] <debug> get-config: start fetching meta data for #0, ${MAC2} (${path(MAC2)})`);
    expect(lines).toContain(`[0.0000] <debug> get-config: start fetching meta data for #1, ${MAC1} (${path(MAC1)})`);
    // The token is sent, never shown.
    expect(lines.some((line) => line.includes(TOKEN))).toBe(false);
    expect(warnings()).toEqual([]);
  });

  test("the connections for the leaves are opened as the listing is asked for: 3 per requested MAC, one is the listing's, at most 31", async () => {
    tokenScope();
    const api = imds()
      .get(MACS)
      .reply(200, `${path(MAC1)}\n${path(MAC2)}\n`);
    leaves(api, path(MAC1), '172.31.166.0/20', '172.31.176.249');
    leaves(api, path(MAC2), '172.31.176.0/20', '172.31.186.249');
    await getConfig(seed(MAC1, MAC2));
    expect(preconnects).toEqual([[`${BASE}${MACS}`, 5]]);

    const many = Array.from({ length: 12 }, (_, i) => `0E:00:00:00:01:${i.toString(16).padStart(2, '0').toUpperCase()}`);
    preconnects.length = 0;
    tokenScope();
    const manyApi = imds().get(MACS).reply(200, many.map(path).join('\n'));
    many.forEach((mac, i) => leaves(manyApi, path(mac), `10.0.${i}.0/24`, `10.0.${i}.5`));
    await getConfig(seed(...many));
    expect(preconnects).toEqual([[`${BASE}${MACS}`, MAX_IN_FLIGHT - 1]]);
  });

  test('a MAC in the listing but not requested is not read and gets no record (issue #10 item 3)', async () => {
    tokenScope();
    const api = imds()
      .get(MACS)
      .reply(200, `${path(MAC1)}\n${path(MAC3)}\n`);
    leaves(api, path(MAC1), '10.0.1.0/24', '10.0.1.10');
    const records = seed(MAC1);
    await getConfig(records);
    api.done();
    expect(unmatched).toEqual([]);
    expect(records.get(MAC3)).toBeUndefined();
    expect(lines).not.toContain(`[0.0000] <debug> get-config: start fetching meta data for #1, ${MAC3} (${path(MAC3)})`);
    expect(lines).toContain('[0.0000] <debug> get-config: not reading 1 listed interfaces (not requested, or index >= 100)');
  });

  test('tables follow device-number: a NIC whose MAC is listed first renumbers nothing (issue #10 item 10)', async () => {
    tokenScope();
    // MAC3 was attached last (device-number 2) but its MAC sorts first in the listing.
    const api = imds()
      .get(MACS)
      .reply(200, `${path(MAC3)}\n${path(MAC1)}\n${path(MAC2)}\n`);
    leaves(api, path(MAC1), '10.0.1.0/24', '10.0.1.10');
    leaves(api, path(MAC2), '10.0.2.0/24', '10.0.2.10');
    leaves(api, path(MAC3), '10.0.3.0/24', '10.0.3.10');
    deviceNumbers.set(MAC1.toLowerCase(), '0').set(MAC2.toLowerCase(), '1\n').set(MAC3.toLowerCase(), '2');
    const records = seed(MAC1, MAC2, MAC3);
    await getConfig(records);
    api.done();
    expect([MAC1, MAC2, MAC3].map((mac) => records.get(mac)?.ifaceIdx)).toEqual([0, 1, 2]);
  });

  test.each([
    ['one NIC without device-number', { [MAC1]: '0' }],
    ['two NICs with the same device-number (two network cards)', { [MAC1]: '0', [MAC2]: '0' }],
    ['a device-number that is not a number', { [MAC1]: '0', [MAC2]: 'x' }],
  ])('%s: the listing order for all, as upstream', async (_, numbers) => {
    tokenScope();
    const api = imds()
      .get(MACS)
      .reply(200, `${path(MAC2)}\n${path(MAC1)}\n`);
    leaves(api, path(MAC1), '10.0.1.0/24', '10.0.1.10');
    leaves(api, path(MAC2), '10.0.2.0/24', '10.0.2.10');
    for (const [mac, number] of Object.entries(numbers)) deviceNumbers.set(mac.toLowerCase(), number);
    const records = seed(MAC1, MAC2);
    await getConfig(records);
    api.done();
    expect([MAC2, MAC1].map((mac) => records.get(mac)?.ifaceIdx)).toEqual([0, 1]);
    expect(lines).toContain('[0.0000] <debug> get-config: no unique device-number for every interface: tables follow the listing order');
  });

  test('the raw listing text is the URL path: lower case kept, missing "/" inserted', async () => {
    tokenScope();
    const noSlash = '0e-8c-cb-ac-ca-f7';
    const api = imds()
      .get(MACS)
      .reply(200, `  ${path(MAC1)}  \r\n${noSlash}\n\n`);
    leaves(api, path(MAC1), '10.0.1.0/24', '10.0.1.10');
    leaves(api, noSlash, '10.0.2.0/24', '10.0.2.10');
    const records = seed(MAC1, MAC2);
    await getConfig(records);
    api.done();
    expect(unmatched).toEqual([]);
    expect(records.get(MAC1)?.ifaceIdx).toBe(0);
    expect(records.get(MAC2)?.ifaceIdx).toBe(1);
    expect(records.get(MAC2)?.ipv4s).toEqual(['10.0.2.10']);
    expect(lines).toContain(`[0.0000] <debug> get-config: start fetching meta data for #1, ${MAC2} (${noSlash})`);
  });

  test('duplicate MAC: the later line wins (index and path), the counter still advances', async () => {
    tokenScope();
    const laterPath = MAC1.replaceAll(':', '-');
    const api = imds()
      .get(MACS)
      .reply(200, [path(MAC1), path(MAC2), laterPath, path(MAC3)].join('\n'));
    leaves(api, laterPath, '10.0.1.0/24', '10.0.1.10');
    leaves(api, path(MAC2), '10.0.2.0/24', '10.0.2.10');
    leaves(api, path(MAC3), '10.0.3.0/24', '10.0.3.10');
    const records = seed(MAC1, MAC2, MAC3);
    await getConfig(records);
    api.done();
    expect(unmatched).toEqual([]);
    expect([...records.values()].map((record) => [record.hwaddr, record.ifaceIdx])).toEqual([
      [MAC1, 2],
      [MAC2, 1],
      [MAC3, 3],
    ]);
    expect(records.get(MAC1)?.ipv4s).toEqual(['10.0.1.10']);
  });

  test('malformed MACs in the listing are skipped with one warning each; valid lines count on', async () => {
    tokenScope();
    // First listing lacks the requested MAC2, so the listing is polled (and parsed) twice.
    const api = imds()
      .get(MACS)
      .reply(200, `garbage/\n${path(MAC1)}\n`)
      .get(MACS)
      .reply(200, `garbage/\n${path(MAC1)}\n0e:49:61:0f:c3/\n${path(MAC2)}\n`);
    leaves(api, path(MAC1), '10.0.1.0/24', '10.0.1.10');
    leaves(api, path(MAC2), '10.0.2.0/24', '10.0.2.10');
    const records = seed(MAC1, MAC2);
    await getConfig(records);
    api.done();
    expect(records.get(MAC1)?.ifaceIdx).toBe(0);
    expect(records.get(MAC2)?.ifaceIdx).toBe(1);
    const got = warnings();
    expect(got).toHaveLength(2);
    expect(got.filter((line) => line.includes('"garbage/"'))).toHaveLength(1);
    expect(got.filter((line) => line.includes('"0e:49:61:0f:c3/"'))).toHaveLength(1);
  });

  test('listing 404 then 200 is retried', async () => {
    tokenScope();
    const api = imds().get(MACS).reply(404).get(MACS).reply(200, path(MAC1));
    leaves(api, path(MAC1), '10.0.1.0/24', '10.0.1.10');
    const records = seed(MAC1);
    await getConfig(records);
    api.done();
    expect(records.get(MAC1)?.ifaceIdx).toBe(0);
  });

  test('a requested MAC missing from the listing: poll the (scaled) 15 s, then use the last listing', async () => {
    tokenScope();
    let listings = 0;
    // nock's persist() is per scope, hence one scope for the first listing and one for the rest.
    imds()
      .get(MACS)
      .reply(() => {
        listings++;
        return [200, path(MAC1)];
      });
    imds()
      .get(MACS)
      .reply(() => {
        listings++;
        return [200, `${path(MAC1)}\n${path(MAC2)}\n`];
      })
      .persist();
    const api = leaves(imds(), path(MAC1), '10.0.1.0/24', '10.0.1.10');
    const records = seed(MAC1, MAC3);
    const session = await detectSession();
    const started = performance.now();
    await fillRecords(session, records, new AbortController().signal);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(15000 * SCALE * 0.8);
    api.done();
    expect(listings).toBeGreaterThanOrEqual(3);
    // The last listing (with MAC2) was used; MAC3 stays unknown.
    expect(records.get(MAC1)?.ifaceIdx).toBe(0);
    // MAC2 is not requested: listed (index 1) but never read.
    expect(records.get(MAC2)).toBeUndefined();
    expect(lines).toContain('[0.0000] <debug> get-config: not reading 1 listed interfaces (not requested, or index >= 100)');
    expect(records.get(MAC3)).toEqual({ hwaddr: MAC3, ifaceIdx: -1, wasRequested: true, routes: [] });
  });

  test('a listing that is never 200 rejects with "meta data for interfaces not found"', async () => {
    tokenScope();
    imds().get(MACS).reply(404).persist();
    const error = await getConfigError(seed(MAC1));
    expect(error).toBeInstanceOf(MetadataError);
    expect((error as Error).message).toBe('meta data for interfaces not found');
  });

  test('an empty listing with nothing requested succeeds with no records', async () => {
    tokenScope();
    const api = imds().get(MACS).reply(200, '');
    const records = new Map<string, ProviderRecord>();
    await getConfig(records);
    api.done();
    expect(records.size).toBe(0);
  });

  test('local-ipv4s: invalid lines skipped with a warning each, order kept, whitespace trimmed', async () => {
    tokenScope();
    const api = imds().get(MACS).reply(200, path(MAC1));
    leaves(api, path(MAC1), '10.0.1.0/24', '10.0.1.7\n 10.0.1.5 \nbogus\n01.2.3.4\n\n10.0.1.6\n');
    const records = seed(MAC1);
    await getConfig(records);
    api.done();
    expect(records.get(MAC1)?.ipv4s).toEqual(['10.0.1.7', '10.0.1.5', '10.0.1.6']);
    const got = warnings();
    expect(got).toHaveLength(2);
    expect(got.some((line) => line.includes(MAC1) && line.includes('"bogus"'))).toBe(true);
    expect(got.some((line) => line.includes(MAC1) && line.includes('"01.2.3.4"'))).toBe(true);
  });

  test('local-ipv4s: an empty body still sets ipv4s = []', async () => {
    tokenScope();
    const api = imds().get(MACS).reply(200, path(MAC1));
    leaves(api, path(MAC1), '10.0.1.0/24', '');
    const records = seed(MAC1);
    await getConfig(records);
    api.done();
    expect(records.get(MAC1)?.ipv4s).toEqual([]);
    expect(records.get(MAC1)?.cidr).toEqual({ address: '10.0.1.0', prefix: 24 });
  });

  test.each([
    ['without "/"', '10.0.1.0'],
    ['prefix out of range', '10.0.1.0/33'],
    ['garbage', 'not a cidr'],
    ['empty', ''],
  ])('subnet-ipv4-cidr-block %s: no cidr, one warning, no crash', async (_name, body) => {
    tokenScope();
    const api = imds().get(MACS).reply(200, path(MAC1));
    leaves(api, path(MAC1), body, '10.0.1.10');
    const records = seed(MAC1);
    await getConfig(records);
    api.done();
    expect(records.get(MAC1)?.cidr).toBeUndefined();
    expect(records.get(MAC1)?.ipv4s).toEqual(['10.0.1.10']);
    expect(records.get(MAC1)?.ifaceIdx).toBe(0);
    const got = warnings();
    expect(got).toHaveLength(1);
    expect(got[0]).toContain(MAC1);
    expect(got[0]).toContain('subnet-ipv4-cidr-block');
  });

  test('subnet with whitespace around the prefix (and a trailing newline) parses', async () => {
    tokenScope();
    const api = imds().get(MACS).reply(200, path(MAC1));
    leaves(api, path(MAC1), '10.0.1.0/ 24\n', '10.0.1.10');
    const records = seed(MAC1);
    await getConfig(records);
    expect(records.get(MAC1)?.cidr).toEqual({ address: '10.0.1.0', prefix: 24 });
  });

  test('a leaf answering 500 then 200 is retried', async () => {
    tokenScope();
    const api = imds()
      .get(MACS)
      .reply(200, path(MAC1))
      .get(`${MACS}${path(MAC1)}local-ipv4s`)
      .reply(500)
      .get(`${MACS}${path(MAC1)}local-ipv4s`)
      .reply(200, '10.0.1.10');
    api.get(`${MACS}${path(MAC1)}subnet-ipv4-cidr-block`).reply(200, '10.0.1.0/24');
    const records = seed(MAC1);
    await getConfig(records);
    api.done();
    expect(records.get(MAC1)?.ipv4s).toEqual(['10.0.1.10']);
  });

  test('a leaf slower than the per-attempt timeout is retried', async () => {
    tokenScope();
    const api = imds()
      .get(MACS)
      .reply(200, path(MAC1))
      .get(`${MACS}${path(MAC1)}subnet-ipv4-cidr-block`)
      .delay(3000 * SCALE * 2)
      .reply(200, '10.9.9.0/24')
      .get(`${MACS}${path(MAC1)}subnet-ipv4-cidr-block`)
      .reply(200, '10.0.1.0/24')
      .get(`${MACS}${path(MAC1)}local-ipv4s`)
      .reply(200, '10.0.1.10');
    const records = seed(MAC1);
    await getConfig(records);
    api.done();
    expect(records.get(MAC1)?.cidr).toEqual({ address: '10.0.1.0', prefix: 24 });
    expect(lines.some((line) => line.endsWith('failed with HTTP request timed out'))).toBe(true);
  });

  test('a per-MAC 404 is final: that MAC has no IPv4, the others are read at once (issue #10 item 2)', async () => {
    tokenScope();
    const api = imds()
      .get(MACS)
      .reply(200, `${path(MAC1)}\n${path(MAC2)}\n`);
    leaves(api, path(MAC1), '10.0.1.0/24', '10.0.1.10');
    // An IPv6-only NIC: its subnet-ipv4-cidr-block and local-ipv4s answer 404, once each.
    api.get(`${MACS}${path(MAC2)}subnet-ipv4-cidr-block`).reply(404);
    api.get(`${MACS}${path(MAC2)}local-ipv4s`).reply(404);
    const records = seed(MAC1, MAC2);
    const session = await detectSession();
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(unmatched).toEqual([]);
    expect(records.get(MAC1)).toMatchObject({ ifaceIdx: 0, cidr: { address: '10.0.1.0', prefix: 24 }, ipv4s: ['10.0.1.10'] });
    expect(records.get(MAC2)).toEqual({ hwaddr: MAC2, ifaceIdx: 1, wasRequested: true, routes: [] });
    expect(lines).toContain(
      `[0.0000] <debug> get-config: ${MAC2}: no subnet-ipv4-cidr-block (HTTP 404), no IPv4 to configure on this interface`,
    );
    expect(warnings()).toEqual([]);
  });

  test('a per-MAC status other than 404 is still polled until timeout and fails the whole get-config', async () => {
    tokenScope();
    const api = imds()
      .get(MACS)
      .reply(200, `${path(MAC1)}\n${path(MAC2)}\n`);
    leaves(api, path(MAC1), '10.0.1.0/24', '10.0.1.10');
    api.get(`${MACS}${path(MAC2)}subnet-ipv4-cidr-block`).reply(200, '10.0.2.0/24');
    imds()
      .get(`${MACS}${path(MAC2)}local-ipv4s`)
      .reply(503)
      .persist();
    const session = await detectSession();
    const started = performance.now();
    const error = await rejectionOf(fillRecords(session, seed(MAC1, MAC2), new AbortController().signal));
    expect(error).toBeInstanceOf(PollTimeoutError);
    expect((error as Error).message).toBe('timeout expired');
    expect(performance.now() - started).toBeGreaterThanOrEqual(10000 * SCALE * 0.8);
  });

  test('the first failing sub-request aborts the others still in flight', async () => {
    tokenScope();
    // Wrap the real client: MAC2's local-ipv4s fails at once (20 ms), MAC1's leaves hang on a slow server.
    const { client: wrapped, outcomes } = recordOutcomes(http, {
      url: (url) => url.endsWith(`${path(MAC2)}local-ipv4s`),
      afterMs: 20,
    });
    const api = imds()
      .get(MACS)
      .reply(200, `${path(MAC1)}\n${path(MAC2)}\n`);
    api.get(`${MACS}${path(MAC2)}subnet-ipv4-cidr-block`).reply(200, '10.0.2.0/24');
    // Each attempt would take 50 ms and fail (500): left alone these leaves would poll for 200 ms.
    imds()
      .get(/\/0e:49:61:0f:c3:11\/.*/)
      .delay(50)
      .reply(500)
      .persist();
    const result = await ec2.detect({ ...context(), http: wrapped });
    expect(result.detected).toBe(true);
    if (!result.detected) return;
    const error = await rejectionOf(fillRecords(result.session, seed(MAC1, MAC2), new AbortController().signal));
    expect(error).toBeInstanceOf(PollTimeoutError);
    // Every task settled before getConfig rejected, and MAC1's two leaves (20 ms into their 200 ms
    // window) were cancelled, not left to time out on their own.
    const mac1 = outcomes.filter((entry) => entry.url.includes(path(MAC1)) && !entry.url.endsWith('/device-number'));
    expect(mac1.map((entry) => entry.outcome)).toEqual(['cancelled', 'cancelled']);
  });

  test('cancellation during get-config rejects with a cancellation', async () => {
    tokenScope();
    imds().get(MACS).reply(200, path(MAC1));
    imds()
      .get(/\/local-ipv4s$|\/subnet-ipv4-cidr-block$/)
      .reply(503)
      .persist();
    const session = await detectSession();
    const error = await rejectionWhenAborted(40, (signal) => fillRecords(session, seed(MAC1), signal));
    // Aborted 40 ms into the leaves' 200 ms window: a cancellation, not their "timeout expired".
    expect(isCancellation(error)).toBe(true);
    expect(error).not.toBeInstanceOf(PollTimeoutError);
  });

  test('cancellation while polling the listing rejects with a cancellation, not "not found"', async () => {
    tokenScope();
    imds().get(MACS).reply(404).persist();
    const session = await detectSession();
    const error = await rejectionWhenAborted(40, (signal) => fillRecords(session, seed(MAC1), signal));
    expect(isCancellation(error)).toBe(true);
  });
});

describe('parseMacListing', () => {
  test('indexes valid lines in order, keeps the raw path, reports invalid lines', () => {
    const { macs, invalid } = parseMacListing('0e:49:61:0f:c3:11/\nnope\n\n 0E-8C-CB-AC-CA-F7 \n0e:49:61:0f:c3:11/x\n');
    expect([...macs.values()]).toEqual([
      { hwaddr: MAC1, path: '0e:49:61:0f:c3:11/', ifaceIdx: 0 },
      { hwaddr: MAC2, path: '0E-8C-CB-AC-CA-F7', ifaceIdx: 1 },
    ]);
    expect(invalid).toEqual(['nope', '0e:49:61:0f:c3:11/x']);
  });

  test('only one trailing "/" is dropped', () => {
    expect(parseMacListing('0e:49:61:0f:c3:11//').invalid).toEqual(['0e:49:61:0f:c3:11//']);
  });
});

describe('parseLocalIpv4s', () => {
  test('strict per line after trimming', () => {
    expect(parseLocalIpv4s('1.2.3.4\n\t5.6.7.8\r\n256.0.0.1\n1.2.3\n')).toEqual({
      ipv4s: ['1.2.3.4', '5.6.7.8'],
      invalid: ['256.0.0.1', '1.2.3'],
    });
    expect(parseLocalIpv4s('')).toEqual({ ipv4s: [], invalid: [] });
  });
});
