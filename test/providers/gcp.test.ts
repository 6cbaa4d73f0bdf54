// SPDX-License-Identifier: LGPL-2.1-or-later
// The GCP provider end to end against nock on the default host: detect(), then getConfig().
import nock from 'nock';
import { describe, expect, test } from 'vitest';
import { isCancellation, MetadataError, PollTimeoutError } from '../../src/errors.js';
import { gcp } from '../../src/providers/gcp.js';
import {
  fillRecords,
  metadataServer,
  providerHarness,
  recordOutcomes,
  rejectionOf,
  rejectionWhenAborted,
  seed,
} from '../helpers/provider-harness.js';

const BASE = 'http://metadata.google.internal';
const INSTANCE = '/computeMetadata/v1/instance';
const IFACES = `${INSTANCE}/network-interfaces/`;

/**
 * Upstream: poll(3000, 7000, 1000) to detect, poll(3000, 10000, 1000) for everything else.
 * Polls meant to succeed run at SCALE (attempts 300 ms, detection 700 ms, others 1 s, spacing
 * 100 ms): room for a busy machine, and no test waits for these windows. The one poll a test
 * lets run out runs at FAST (detection 140 ms, others 200 ms) on a second client.
 */
const SCALE = 0.1;
const FAST = 0.02;

const MAC0 = '42:01:0A:80:00:02';
const MAC1 = '42:01:0A:80:00:03';
const MAC_OTHER = '42:01:0A:80:00:09';

/** The metadata server: every interceptor requires `Metadata-Flavor: Google`. */
const { server, serverOnce } = metadataServer(() => nock(BASE).matchHeader('Metadata-Flavor', 'Google'));

// Every request of every test must match an interceptor, so every request carried Metadata-Flavor.
const { lines, context, fast, expiring, detectSession, getConfigError, infos } = providerHarness({
  provider: gcp,
  baseUrl: BASE,
  scale: SCALE,
  fastScale: FAST,
  stubDetection: () => server().get(`${INSTANCE}/id`).reply(200, '1234567890123456789'),
});

/** Serves one interface completely: mac, the forwarded-ips listing and each forwarded IP. */
function iface(scope: nock.Scope, intern: number, mac: string, forwarded: readonly string[]): nock.Scope {
  scope.get(`${IFACES}${intern}/mac`).reply(200, mac.toLowerCase());
  scope.get(`${IFACES}${intern}/forwarded-ips/`).reply(200, forwarded.map((_ip, k) => `${k}\n`).join(''));
  forwarded.forEach((ip, k) => scope.get(`${IFACES}${intern}/forwarded-ips/${k}`).reply(200, ip));
  return scope;
}

const local = (dest: string) => ({ dest, prefix: 32, metric: 100, type: 'local' });

describe('gcp provider shape', () => {
  test('names and defaults as upstream', () => {
    expect(gcp.name).toBe('GCP');
    expect(gcp.envName).toBe('GCP');
    expect(gcp.defaultBaseUrl).toBe('http://metadata.google.internal');
    expect(gcp.allowNewConnectionsByDefault).toBe(false);
  });
});

describe('detect', () => {
  test('GET .../instance/id with Metadata-Flavor: Google; 200 → detected', async () => {
    const scope = server().get(`${INSTANCE}/id`).reply(200, '1234');
    const result = await gcp.detect(context());
    expect(result.detected).toBe(true);
    scope.done();
    expect(lines.some((line) => line.endsWith(`, "${BASE}${INSTANCE}/id"]: start get ...`))).toBe(true);
  });

  test('a request without the header is not answered (the header is required)', async () => {
    // Only a header-less request would match this; the provider's request must not.
    const wrong = nock(BASE, { badheaders: ['Metadata-Flavor'] })
      .get(`${INSTANCE}/id`)
      .reply(200, 'x');
    const right = server().get(`${INSTANCE}/id`).reply(200, '1234');
    const result = await gcp.detect(context());
    expect(result.detected).toBe(true);
    right.done();
    expect(wrong.isDone()).toBe(false);
  });

  test('404 until the (scaled) 7 s → "failure to get GCP metadata: timeout expired"', async () => {
    const scope = server().get(`${INSTANCE}/id`).reply(404, 'Not Found');
    const started = performance.now();
    const result = await gcp.detect(context(undefined, fast));
    expect(result).toEqual({ detected: false, reason: 'failure to get GCP metadata: timeout expired' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(7000 * FAST * 0.8);
    expect(scope.isDone()).toBe(true);
  });

  test('a 503 then 200 is retried and detected', async () => {
    serverOnce().get(`${INSTANCE}/id`).reply(503);
    const scope = server().get(`${INSTANCE}/id`).reply(200, '1234');
    expect((await gcp.detect(context())).detected).toBe(true);
    scope.done();
  });
});

describe('getConfig', () => {
  test('full sequence: extern index, forwarded IPs as local /32 routes in listing order, log lines', async () => {
    const session = await detectSession();
    const api = server().get(IFACES).reply(200, '0/\n1/\n');
    iface(api, 0, MAC0, ['10.128.0.50', '10.128.0.51']);
    iface(api, 1, MAC1, ['10.130.0.7']);
    const records = seed(MAC0, MAC1);
    await fillRecords(session, records, new AbortController().signal);
    api.done();

    expect(records.get(MAC0)).toEqual({
      hwaddr: MAC0,
      ifaceIdx: 0,
      wasRequested: true,
      routes: [local('10.128.0.50'), local('10.128.0.51')],
    });
    expect(records.get(MAC1)).toEqual({ hwaddr: MAC1, ifaceIdx: 1, wasRequested: true, routes: [local('10.130.0.7')] });
    // GCP never learns addresses or subnets, and sets no table on its routes.
    for (const record of records.values()) {
      expect(record.ipv4s).toBeUndefined();
      expect(record.cidr).toBeUndefined();
      expect(record.gateway).toBeUndefined();
      for (const route of record.routes) expect(route).not.toHaveProperty('table');
    }

    expect(lines).toContain('[0.0000] <info>  found GCP interfaces: 2');
    expect(lines).toContain('[0.0000] <debug> GCP interface[0]: retrieving configuration');
    expect(lines).toContain(`[0.0000] <info>  GCP interface[0]: found a requested device with hwaddr ${MAC0}`);
    expect(lines).toContain(`[0.0000] <info>  GCP interface[1]: found a requested device with hwaddr ${MAC1}`);
    expect(lines).toContain('[0.0000] <info>  GCP interface[0]: found 2 forwarded ips');
    expect(lines).toContain('[0.0000] <info>  GCP interface[1]: found 1 forwarded ips');
    expect(lines).toContain('[0.0000] <info>  GCP interface[0]: adding forwarded-ip 10.128.0.50');
    expect(lines).toContain('[0.0000] <info>  GCP interface[0]: adding forwarded-ip 10.128.0.51');
    expect(lines).toContain('[0.0000] <info>  GCP interface[1]: adding forwarded-ip 10.130.0.7');
    expect(lines.filter((line) => line.includes('<warn>'))).toEqual([]);
  });

  test("ifaceIdx is the position in the listing; URLs use the server's index", async () => {
    const session = await detectSession();
    const api = server().get(IFACES).reply(200, '3/\n7/\n');
    iface(api, 3, MAC0, ['10.0.0.3']);
    iface(api, 7, MAC1, ['10.0.0.7']);
    const records = seed(MAC0, MAC1);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(records.get(MAC0)?.ifaceIdx).toBe(0);
    expect(records.get(MAC1)?.ifaceIdx).toBe(1);
    expect(lines).toContain(`[0.0000] <info>  GCP interface[7]: found a requested device with hwaddr ${MAC1}`);
    expect(lines).toContain('[0.0000] <info>  GCP interface[7]: adding forwarded-ip 10.0.0.7');
  });

  test('routes keep the listing order even when the answers arrive in reverse', async () => {
    const session = await detectSession();
    const api = server().get(IFACES).reply(200, '0/\n');
    api.get(`${IFACES}0/mac`).reply(200, MAC0);
    api.get(`${IFACES}0/forwarded-ips/`).reply(200, '0\n1\n2\n');
    api.get(`${IFACES}0/forwarded-ips/0`).delay(40).reply(200, '10.0.0.10');
    api.get(`${IFACES}0/forwarded-ips/1`).delay(20).reply(200, '10.0.0.11');
    api.get(`${IFACES}0/forwarded-ips/2`).reply(200, '10.0.0.12');
    const records = seed(MAC0);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(records.get(MAC0)?.routes).toEqual([local('10.0.0.10'), local('10.0.0.11'), local('10.0.0.12')]);
    // The log shows arrival order.
    const added = lines.filter((line) => line.includes('adding forwarded-ip')).map((line) => line.split(' ').at(-1));
    expect(added).toEqual(['10.0.0.12', '10.0.0.11', '10.0.0.10']);
  });

  test('an unrequested MAC: "found a device" (no "requested"), its forwarded IPs are not read (issue #10 item 3)', async () => {
    const session = await detectSession();
    const api = server().get(IFACES).reply(200, '0/\n1/\n');
    iface(api, 0, MAC0, ['10.0.0.1']);
    api.get(`${IFACES}1/mac`).reply(200, MAC_OTHER);
    const records = seed(MAC0);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(records.get(MAC_OTHER)).toBeUndefined();
    expect(lines).toContain(`[0.0000] <info>  GCP interface[1]: found a device with hwaddr ${MAC_OTHER}`);
    expect(lines).toContain(`[0.0000] <info>  GCP interface[0]: found a requested device with hwaddr ${MAC0}`);
  });

  test('a requested MAC that is not in the metadata keeps ifaceIdx -1', async () => {
    const session = await detectSession();
    const api = iface(server().get(IFACES).reply(200, '0/\n'), 0, MAC0, ['10.0.0.1']);
    const records = seed(MAC0, MAC_OTHER);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(records.get(MAC_OTHER)).toEqual({ hwaddr: MAC_OTHER, ifaceIdx: -1, wasRequested: true, routes: [] });
  });

  test('MAC and forwarded IP bodies are whitespace-trimmed', async () => {
    const session = await detectSession();
    const api = server().get(IFACES).reply(200, '0/\n');
    api.get(`${IFACES}0/mac`).reply(200, ` ${MAC0.toLowerCase()}\n`);
    api.get(`${IFACES}0/forwarded-ips/`).reply(200, '0\n');
    api.get(`${IFACES}0/forwarded-ips/0`).reply(200, ' 10.0.0.5\n');
    const records = seed(MAC0);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(records.get(MAC0)?.routes).toEqual([local('10.0.0.5')]);
  });

  test('0 interfaces → rejects with "no GCP interfaces found"', async () => {
    const api = server().get(IFACES).reply(200, '\n');
    const error = await getConfigError(seed(MAC0));
    api.done();
    expect(error).toBeInstanceOf(MetadataError);
    expect((error as Error).message).toBe('no GCP interfaces found');
    expect(lines).toContain('[0.0000] <info>  found GCP interfaces: 0');
  });

  test('invalid MAC → rejects with "invalid MAC address for index i" and an info line', async () => {
    const api = server().get(IFACES).reply(200, '0/\n1/\n');
    iface(api, 0, MAC0, ['10.0.0.1']);
    api.get(`${IFACES}1/mac`).reply(200, '42:01:0a:80:00');
    const error = await getConfigError(seed(MAC0));
    expect(error).toBeInstanceOf(MetadataError);
    expect((error as Error).message).toBe('invalid MAC address for index 1');
    expect(infos()).toContain('[0.0000] <info>  GCP interface[1]: invalid MAC address returned');
  });

  test('duplicate MAC → rejects with "duplicate MAC address for index i" and an info line', async () => {
    const api = server().get(IFACES).reply(200, '0/\n1/\n');
    iface(api, 0, MAC0, ['10.0.0.1']);
    // Interface 1 answers later with the same MAC (other spelling), so it is the duplicate.
    api.get(`${IFACES}1/mac`).delay(30).reply(200, MAC0.replaceAll(':', '-'));
    const records = seed(MAC0);
    const error = await getConfigError(records);
    expect(error).toBeInstanceOf(MetadataError);
    expect((error as Error).message).toBe('duplicate MAC address for index 1');
    expect(infos()).toContain(`[0.0000] <info>  GCP interface[1]: duplicate MAC address ${MAC0} returned`);
    // A failed get-config returns nothing (upstream kept the first interface's index on a record it then threw away).
    expect(records.get(MAC0)).toEqual({ hwaddr: MAC0, ifaceIdx: -1, wasRequested: true, routes: [] });
  });

  test('an interface with no forwarded IPs gets no data; the others are configured (issue #10 item 2)', async () => {
    const session = await detectSession();
    const api = server().get(IFACES).reply(200, '0/\n1/\n2/\n');
    iface(api, 0, MAC0, ['10.0.0.1']);
    api.get(`${IFACES}1/mac`).reply(200, MAC1);
    api.get(`${IFACES}1/forwarded-ips/`).reply(200, '');
    // A 404 for the listing is the same: no forwarded IPs.
    api.get(`${IFACES}2/mac`).reply(200, MAC_OTHER);
    api.get(`${IFACES}2/forwarded-ips/`).reply(404);
    const records = seed(MAC0, MAC1, MAC_OTHER);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(records.get(MAC0)?.routes).toEqual([local('10.0.0.1')]);
    expect(records.get(MAC1)).toEqual({ hwaddr: MAC1, ifaceIdx: 1, wasRequested: true, routes: [] });
    expect(records.get(MAC_OTHER)).toEqual({ hwaddr: MAC_OTHER, ifaceIdx: 2, wasRequested: true, routes: [] });
    expect(lines).toContain('[0.0000] <info>  GCP interface[1]: found 0 forwarded ips');
    expect(lines).toContain('[0.0000] <debug> GCP interface[1]: no forwarded ip, nothing to configure on this interface');
  });

  test('"0/" in forwarded-ips is not an index: no slash stripping there', async () => {
    const session = await detectSession();
    const api = server().get(IFACES).reply(200, '0/\n');
    api.get(`${IFACES}0/mac`).reply(200, MAC0);
    api.get(`${IFACES}0/forwarded-ips/`).reply(200, '0/\n1/\n');
    const records = seed(MAC0);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(records.get(MAC0)?.routes).toEqual([]);
    expect(lines).toContain('[0.0000] <info>  GCP interface[0]: found 0 forwarded ips');
  });

  test('"0/" is skipped while a plain index next to it is used', async () => {
    const session = await detectSession();
    const api = server().get(IFACES).reply(200, '0/\n');
    api.get(`${IFACES}0/mac`).reply(200, MAC0);
    api.get(`${IFACES}0/forwarded-ips/`).reply(200, '0/\n1\n');
    api.get(`${IFACES}0/forwarded-ips/1`).reply(200, '10.0.0.11');
    const records = seed(MAC0);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(records.get(MAC0)?.routes).toEqual([local('10.0.0.11')]);
    expect(lines).toContain('[0.0000] <info>  GCP interface[0]: found 1 forwarded ips');
  });

  test.each(['10.0.0', 'not-an-ip', '10.0.0.1/32'])(
    'invalid forwarded IP %j → rejects with "forwarded-ip is not a valid ip address"',
    async (body) => {
      const api = server().get(IFACES).reply(200, '0/\n');
      api.get(`${IFACES}0/mac`).reply(200, MAC0);
      api.get(`${IFACES}0/forwarded-ips/`).reply(200, '0\n');
      api.get(`${IFACES}0/forwarded-ips/0`).reply(200, body);
      const records = seed(MAC0);
      const error = await getConfigError(records);
      api.done();
      expect(error).toBeInstanceOf(MetadataError);
      expect((error as Error).message).toBe('forwarded-ip is not a valid ip address');
      expect(records.get(MAC0)?.routes).toEqual([]);
    },
  );

  test('the interface listing 404s until the (scaled) 10 s → "timeout expired"', async () => {
    server().get(IFACES).reply(404);
    const started = performance.now();
    const error = await getConfigError(seed(MAC0), expiring(/\/network-interfaces\/$/));
    expect(error).toBeInstanceOf(PollTimeoutError);
    expect((error as Error).message).toBe('timeout expired');
    expect(performance.now() - started).toBeGreaterThanOrEqual(10000 * FAST * 0.8);
  });

  test('one interface lacking data (its mac 404s): rejects with "timeout expired", the other requests are aborted', async () => {
    // Interface 1's mac poll runs out after 200 ms (FAST); interface 0's forwarded IP would 404
    // for its whole 1 s window (SCALE) unless aborted. Record how each poll ended.
    const { client: wrapped, outcomes } = recordOutcomes(expiring(/\/1\/mac$/));
    const session = await detectSession(wrapped);
    const api = server().get(IFACES).reply(200, '0/\n1/\n');
    api.get(`${IFACES}0/mac`).reply(200, MAC0);
    api.get(`${IFACES}0/forwarded-ips/`).reply(200, '0\n');
    server().get(`${IFACES}0/forwarded-ips/0`).reply(404);
    server().get(`${IFACES}1/mac`).reply(404);

    const records = seed(MAC0, MAC1);
    const started = performance.now();
    const error = await rejectionOf(fillRecords(session, records, new AbortController().signal));
    const elapsed = performance.now() - started;
    api.done();
    expect(error).toBeInstanceOf(PollTimeoutError);
    expect((error as Error).message).toBe('timeout expired');
    expect(outcomes.find((entry) => entry.url.endsWith('/1/mac'))?.outcome).toBe('failed');
    expect(outcomes.find((entry) => entry.url.endsWith('/0/forwarded-ips/0'))?.outcome).toBe('cancelled');
    // Rejected when interface 1's mac ran out (200 ms), long before interface 0's poll would have (1 s).
    expect(elapsed).toBeGreaterThanOrEqual(10000 * FAST * 0.8);
    expect(elapsed).toBeLessThan(10000 * SCALE * 0.6);
    // Interface 0 never got its routes.
    expect(records.get(MAC0)?.routes).toEqual([]);
  });

  test('cancellation during get-config rejects with a cancellation', async () => {
    const session = await detectSession();
    server().get(IFACES).reply(404);
    const error = await rejectionWhenAborted(40, (signal) => fillRecords(session, seed(MAC0), signal));
    expect(isCancellation(error)).toBe(true);
    expect(error).not.toBeInstanceOf(PollTimeoutError);
  });
});
