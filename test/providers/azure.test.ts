// SPDX-License-Identifier: LGPL-2.1-or-later
// The Azure provider end to end against nock on the default host: detect(), then getConfig().
import nock from 'nock';
import { describe, expect, test } from 'vitest';
import { isCancellation, MetadataError, PollTimeoutError } from '../../src/errors.js';
import { azure } from '../../src/providers/azure.js';
import {
  fillRecords,
  metadataServer,
  providerHarness,
  recordOutcomes,
  rejectionOf,
  rejectionWhenAborted,
  seed,
} from '../helpers/provider-harness.js';

const BASE = 'http://169.254.169.254';
const QUERY = '?format=text&api-version=2017-04-02';
const IFACES = '/metadata/instance/network/interface/';
/** The path of an interface URL, query included (nock then matches the query exactly). */
const at = (rest: string): string => `${IFACES}${rest}${QUERY}`;

/**
 * Upstream: poll(3000, 7000, 1000) to detect, (3000, 15000, 1000) for the interface listing,
 * (3000, 10000, 1000) for everything else. Polls meant to succeed run at SCALE (attempts 300 ms,
 * detection 700 ms, listing 1.5 s, others 1 s, spacing 100 ms): room for a busy machine, and no
 * test waits for these windows. The one poll a test lets run out runs at FAST (detection 140 ms,
 * listing 300 ms, others 200 ms) on a second client.
 */
const SCALE = 0.1;
const FAST = 0.02;

const MAC0 = '00:0D:3A:12:34:56';
const MAC1 = '00:0D:3A:12:34:57';
const MAC_OTHER = '00:0D:3A:12:34:99';

/** The metadata server: every interceptor requires `Metadata: true`. */
const { server } = metadataServer(() => nock(BASE).matchHeader('Metadata', 'true'));

// Every request must match an interceptor: every one carried "Metadata: true" and the exact query.
const { lines, context, fast, expiring, detectSession, getConfigError, infos } = providerHarness({
  provider: azure,
  baseUrl: BASE,
  scale: SCALE,
  fastScale: FAST,
  stubDetection: () => server().get(`/metadata/instance${QUERY}`).reply(200, 'compute/\nnetwork/\n'),
});

interface IfaceData {
  readonly mac: string;
  /** Address index → privateIpAddress body. */
  readonly addresses: Readonly<Record<number, string>>;
  readonly subnet: string;
  readonly prefix: string;
}

/** Serves one interface completely. */
function iface(scope: nock.Scope, intern: number, data: IfaceData): nock.Scope {
  const indexes = Object.keys(data.addresses);
  scope.get(at(`${intern}/macAddress`)).reply(200, data.mac);
  scope.get(at(`${intern}/ipv4/ipAddress/`)).reply(200, indexes.map((k) => `${k}/\n`).join(''));
  for (const k of indexes) scope.get(at(`${intern}/ipv4/ipAddress/${k}/privateIpAddress`)).reply(200, data.addresses[Number(k)]);
  scope.get(at(`${intern}/ipv4/subnet/0/address/`)).reply(200, data.subnet);
  scope.get(at(`${intern}/ipv4/subnet/0/prefix/`)).reply(200, data.prefix);
  return scope;
}

describe('azure provider shape', () => {
  test('names and defaults as upstream', () => {
    expect(azure.name).toBe('azure');
    expect(azure.envName).toBe('AZURE');
    expect(azure.defaultBaseUrl).toBe('http://169.254.169.254');
    expect(azure.allowNewConnectionsByDefault).toBe(false);
  });
});

describe('detect', () => {
  test('GET /metadata/instance?format=text&api-version=2017-04-02 with Metadata: true; 200 → detected', async () => {
    const scope = server().get(`/metadata/instance${QUERY}`).reply(200, 'compute/\n');
    const result = await azure.detect(context());
    expect(result.detected).toBe(true);
    scope.done();
    expect(lines.some((line) => line.endsWith(`, "${BASE}/metadata/instance${QUERY}"]: start get ...`))).toBe(true);
  });

  test('404 until the (scaled) 7 s → "failure to get Azure metadata: timeout expired"', async () => {
    const scope = server().get(`/metadata/instance${QUERY}`).reply(404);
    const started = performance.now();
    const result = await azure.detect(context(undefined, fast));
    expect(result).toEqual({ detected: false, reason: 'failure to get Azure metadata: timeout expired' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(7000 * FAST * 0.8);
    expect(scope.isDone()).toBe(true);
  });
});

describe('getConfig', () => {
  test('full sequence: MACs without separators, addresses, subnet 0, no gateway, log lines', async () => {
    const session = await detectSession();
    const api = server().get(at('')).reply(200, '0/\n1/\n');
    iface(api, 0, { mac: '000D3A123456', addresses: { 0: '10.0.0.4', 1: '10.0.0.5' }, subnet: '10.0.0.0', prefix: '24' });
    iface(api, 1, { mac: '00-0d-3a-12-34-57\n', addresses: { 0: '10.0.16.4' }, subnet: '10.0.16.0', prefix: '20' });
    const records = seed(MAC0, MAC1);
    await fillRecords(session, records, new AbortController().signal);
    api.done();

    expect(records.get(MAC0)).toEqual({
      hwaddr: MAC0,
      ifaceIdx: 0,
      wasRequested: true,
      routes: [],
      ipv4s: ['10.0.0.4', '10.0.0.5'],
      cidr: { address: '10.0.0.0', prefix: 24 },
    });
    expect(records.get(MAC1)).toEqual({
      hwaddr: MAC1,
      ifaceIdx: 1,
      wasRequested: true,
      routes: [],
      ipv4s: ['10.0.16.4'],
      cidr: { address: '10.0.16.0', prefix: 20 },
    });
    // The gateway is computed later from the subnet, never by the provider.
    for (const record of records.values()) expect(record).not.toHaveProperty('gateway');

    expect(lines).toContain('[0.0000] <debug> found azure interfaces: 2');
    expect(lines).toContain('[0.0000] <debug> azure interface[0]: retrieving configuration');
    expect(lines).toContain(`[0.0000] <debug> interface[0]: found a matching device with hwaddr ${MAC0}`);
    expect(lines).toContain(`[0.0000] <debug> interface[1]: found a matching device with hwaddr ${MAC1}`);
    expect(lines).toContain('[0.0000] <debug> interface[0]: received subnet address 10.0.0.0');
    expect(lines).toContain('[0.0000] <debug> interface[1]: received subnet prefix 20');
    expect(lines).toContain('[0.0000] <debug> interface[0]: received address 10.0.0.4');
    expect(lines).toContain('[0.0000] <debug> interface[0]: received address 10.0.0.5');
    expect(lines.filter((line) => line.includes('<warn>') || line.includes('<info>'))).toEqual([]);
  });

  test("ifaceIdx is the position in the listing; URLs use the server's index", async () => {
    const session = await detectSession();
    const api = server().get(at('')).reply(200, '2/\n9/\n');
    iface(api, 2, { mac: MAC0, addresses: { 0: '10.0.0.4' }, subnet: '10.0.0.0', prefix: '24' });
    iface(api, 9, { mac: MAC1, addresses: { 0: '10.0.1.4' }, subnet: '10.0.1.0', prefix: '24' });
    const records = seed(MAC0, MAC1);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(records.get(MAC0)?.ifaceIdx).toBe(0);
    expect(records.get(MAC1)?.ifaceIdx).toBe(1);
    expect(lines).toContain(`[0.0000] <debug> interface[9]: found a matching device with hwaddr ${MAC1}`);
  });

  test('the primary (index 0) comes first even when its answer arrives last', async () => {
    const session = await detectSession();
    const api = server().get(at('')).reply(200, '0/\n');
    api.get(at('0/macAddress')).reply(200, MAC0);
    api.get(at('0/ipv4/ipAddress/')).reply(200, '0/\n1/\n2/\n');
    api.get(at('0/ipv4/ipAddress/0/privateIpAddress')).delay(45).reply(200, '10.0.0.4');
    api.get(at('0/ipv4/ipAddress/1/privateIpAddress')).delay(25).reply(200, '10.0.0.5');
    api.get(at('0/ipv4/ipAddress/2/privateIpAddress')).reply(200, '10.0.0.6');
    api.get(at('0/ipv4/subnet/0/address/')).reply(200, '10.0.0.0');
    api.get(at('0/ipv4/subnet/0/prefix/')).reply(200, '24');
    const records = seed(MAC0);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(records.get(MAC0)?.ipv4s).toEqual(['10.0.0.4', '10.0.0.5', '10.0.0.6']);
    // The answers really did arrive in reverse.
    const received = lines.filter((line) => line.includes('received address')).map((line) => line.split(' ').at(-1));
    expect(received).toEqual(['10.0.0.6', '10.0.0.5', '10.0.0.4']);
  });

  test('a NIC listing more addresses than Azure allows: one warning, only the first 256 are read', async () => {
    const session = await detectSession();
    const api = server().get(at('')).reply(200, '0/\n');
    api.get(at('0/macAddress')).reply(200, MAC0);
    api.get(at('0/ipv4/ipAddress/')).reply(200, Array.from({ length: 300 }, (_, k) => `${k}/\n`).join(''));
    // Only indexes 0..255 are served: nock fails the test on a request for any other.
    for (let k = 0; k < 256; k++) api.get(at(`0/ipv4/ipAddress/${k}/privateIpAddress`)).reply(200, `10.0.${k >> 8}.${k & 255}`);
    api.get(at('0/ipv4/subnet/0/address/')).reply(200, '10.0.0.0');
    api.get(at('0/ipv4/subnet/0/prefix/')).reply(200, '16');
    const records = seed(MAC0);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(records.get(MAC0)?.ipv4s).toHaveLength(256);
    expect(lines).toContain('[0.0000] <warn>  interface[0]: 300 addresses listed, more than Azure allows; reading the first 256');
  });

  test('non-contiguous address indexes ("0/\\n5/\\n") are safe: [ip0, ip5]', async () => {
    const session = await detectSession();
    const api = server().get(at('')).reply(200, '0/\n');
    iface(api, 0, { mac: MAC0, addresses: { 0: '10.0.0.4', 5: '10.0.0.9' }, subnet: '10.0.0.0', prefix: '24' });
    const records = seed(MAC0);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    const ipv4s = records.get(MAC0)?.ipv4s;
    expect(ipv4s).toEqual(['10.0.0.4', '10.0.0.9']);
    expect(ipv4s).toHaveLength(2);
    // No holes (a sparse array would have an undefined slot).
    expect(ipv4s?.every((ip) => typeof ip === 'string')).toBe(true);
  });

  test('non-contiguous indexes listed out of order still put index 0 first', async () => {
    const session = await detectSession();
    const api = server().get(at('')).reply(200, '0/\n');
    api.get(at('0/macAddress')).reply(200, MAC0);
    api.get(at('0/ipv4/ipAddress/')).reply(200, '7/\n0/\n3/\n');
    api.get(at('0/ipv4/ipAddress/7/privateIpAddress')).reply(200, '10.0.0.7');
    api.get(at('0/ipv4/ipAddress/0/privateIpAddress')).delay(30).reply(200, '10.0.0.4');
    api.get(at('0/ipv4/ipAddress/3/privateIpAddress')).reply(200, '10.0.0.3');
    api.get(at('0/ipv4/subnet/0/address/')).reply(200, '10.0.0.0');
    api.get(at('0/ipv4/subnet/0/prefix/')).reply(200, '24');
    const records = seed(MAC0);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(records.get(MAC0)?.ipv4s).toEqual(['10.0.0.4', '10.0.0.3', '10.0.0.7']);
  });

  test('an empty address listing still sets ipv4s = [] (and the subnet)', async () => {
    const session = await detectSession();
    const api = server().get(at('')).reply(200, '0/\n');
    iface(api, 0, { mac: MAC0, addresses: {}, subnet: '10.0.0.0', prefix: '24' });
    const records = seed(MAC0);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(records.get(MAC0)?.ipv4s).toEqual([]);
    expect(records.get(MAC0)?.cidr).toEqual({ address: '10.0.0.0', prefix: 24 });
  });

  test('bodies are whitespace-trimmed: address, subnet address, prefix', async () => {
    const session = await detectSession();
    const api = server().get(at('')).reply(200, '0/\r\n');
    iface(api, 0, { mac: ` ${MAC0}\n`, addresses: { 0: ' 10.0.0.4\n' }, subnet: '10.0.0.0\n', prefix: ' 20 \n' });
    const records = seed(MAC0);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(records.get(MAC0)).toMatchObject({ ipv4s: ['10.0.0.4'], cidr: { address: '10.0.0.0', prefix: 20 } });
  });

  test('prefixes 0 and 32 are valid', async () => {
    const session = await detectSession();
    const api = server().get(at('')).reply(200, '0/\n1/\n');
    iface(api, 0, { mac: MAC0, addresses: { 0: '10.0.0.4' }, subnet: '0.0.0.0', prefix: '0' });
    iface(api, 1, { mac: MAC1, addresses: { 0: '10.0.1.4' }, subnet: '10.0.1.4', prefix: '32' });
    const records = seed(MAC0, MAC1);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(records.get(MAC0)?.cidr).toEqual({ address: '0.0.0.0', prefix: 0 });
    expect(records.get(MAC1)?.cidr).toEqual({ address: '10.0.1.4', prefix: 32 });
  });

  test('an unrequested MAC: only its macAddress is read, it gets no record; the log wording is the same (issue #10 item 3)', async () => {
    const session = await detectSession();
    const api = server().get(at('')).reply(200, '0/\n1/\n');
    iface(api, 0, { mac: MAC0, addresses: { 0: '10.0.0.4' }, subnet: '10.0.0.0', prefix: '24' });
    api.get(at('1/macAddress')).reply(200, MAC_OTHER.replaceAll(':', ''));
    const records = seed(MAC0, MAC1);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(records.get(MAC_OTHER)).toBeUndefined();
    expect(lines).toContain(`[0.0000] <debug> interface[1]: found a matching device with hwaddr ${MAC_OTHER}`);
    // The requested MAC1 is not in the metadata: untouched.
    expect(records.get(MAC1)).toEqual({ hwaddr: MAC1, ifaceIdx: -1, wasRequested: true, routes: [] });
  });

  test('0 interfaces → rejects with "no Azure interfaces found"', async () => {
    const api = server().get(at('')).reply(200, '');
    const error = await getConfigError(seed(MAC0));
    api.done();
    expect(error).toBeInstanceOf(MetadataError);
    expect((error as Error).message).toBe('no Azure interfaces found');
    expect(lines).toContain('[0.0000] <debug> found azure interfaces: 0');
  });

  test.each(['00:0d:3a:12:34', '000D3A1234567', ''])(
    'invalid MAC %j → rejects with "invalid MAC address for index i" and an info line',
    async (mac) => {
      const api = server().get(at('')).reply(200, '0/\n1/\n');
      iface(api, 0, { mac: MAC0, addresses: { 0: '10.0.0.4' }, subnet: '10.0.0.0', prefix: '24' });
      api.get(at('1/macAddress')).reply(200, mac);
      const error = await getConfigError(seed(MAC0));
      expect(error).toBeInstanceOf(MetadataError);
      expect((error as Error).message).toBe('invalid MAC address for index 1');
      expect(infos()).toContain('[0.0000] <info>  interface[1]: invalid MAC address returned');
    },
  );

  test('duplicate MAC → rejects with "duplicate MAC address for index i" and an info line', async () => {
    const api = server().get(at('')).reply(200, '0/\n1/\n');
    iface(api, 0, { mac: MAC0, addresses: { 0: '10.0.0.4' }, subnet: '10.0.0.0', prefix: '24' });
    // Interface 1 answers later with the same MAC in the no-separator spelling.
    api.get(at('1/macAddress')).delay(30).reply(200, MAC0.replaceAll(':', ''));
    const records = seed(MAC0);
    const error = await getConfigError(records);
    expect(error).toBeInstanceOf(MetadataError);
    expect((error as Error).message).toBe('duplicate MAC address for index 1');
    expect(infos()).toContain(`[0.0000] <info>  interface[1]: duplicate MAC address ${MAC0} returned`);
    // A failed get-config returns nothing: the seeded record is all there is.
    expect(records.get(MAC0)).toEqual({ hwaddr: MAC0, ifaceIdx: -1, wasRequested: true, routes: [] });
  });

  test.each(['10.0.0.256', '10.0.0.4/24', ''])(
    'invalid private IP %j → rejects with "ip is not a valid private ip address"',
    async (body) => {
      const api = server().get(at('')).reply(200, '0/\n');
      iface(api, 0, { mac: MAC0, addresses: { 0: '10.0.0.4', 1: body }, subnet: '10.0.0.0', prefix: '24' });
      const records = seed(MAC0);
      const error = await getConfigError(records);
      expect(error).toBeInstanceOf(MetadataError);
      expect((error as Error).message).toBe('ip is not a valid private ip address');
      // Nothing was stored for the interface.
      expect(records.get(MAC0)?.ipv4s).toBeUndefined();
      expect(records.get(MAC0)?.cidr).toBeUndefined();
    },
  );

  test.each(['bogus', '10.0.0.0/24'])('invalid subnet address %j → rejects with "ip is not a subnet address"', async (body) => {
    const api = server().get(at('')).reply(200, '0/\n');
    iface(api, 0, { mac: MAC0, addresses: { 0: '10.0.0.4' }, subnet: body, prefix: '24' });
    const records = seed(MAC0);
    const error = await getConfigError(records);
    expect(error).toBeInstanceOf(MetadataError);
    expect((error as Error).message).toBe('ip is not a subnet address');
    expect(records.get(MAC0)?.cidr).toBeUndefined();
  });

  test.each(['33', 'x', '-1', '', '255.255.255.0'])(
    'invalid prefix %j → info "interface[0]: invalid prefix", rejects with "subnet does not give a valid prefix"',
    async (body) => {
      const api = server().get(at('')).reply(200, '0/\n');
      iface(api, 0, { mac: MAC0, addresses: { 0: '10.0.0.4' }, subnet: '10.0.0.0', prefix: body });
      const records = seed(MAC0);
      const error = await getConfigError(records);
      expect(error).toBeInstanceOf(MetadataError);
      expect((error as Error).message).toBe('subnet does not give a valid prefix');
      expect(infos()).toEqual(['[0.0000] <info>  interface[0]: invalid prefix']);
      // has_cidr is set only once every fetch of the interface succeeded.
      expect(records.get(MAC0)?.cidr).toBeUndefined();
      expect(records.get(MAC0)?.ipv4s).toBeUndefined();
    },
  );

  test('the interface listing 404s until the (scaled) 15 s → "timeout expired"', async () => {
    server().get(at('')).reply(404);
    const session = await detectSession(expiring(/\/interface\/\?/));
    const started = performance.now();
    const error = await rejectionOf(fillRecords(session, seed(MAC0), new AbortController().signal));
    expect(error).toBeInstanceOf(PollTimeoutError);
    expect((error as Error).message).toBe('timeout expired');
    // The listing has upstream's 15 s window, not the 10 s of the later requests.
    expect(performance.now() - started).toBeGreaterThanOrEqual(15000 * FAST * 0.9);
  });

  test('a leaf that 404s until the (scaled) 10 s fails everything', async () => {
    const api = server().get(at('')).reply(200, '0/\n');
    api.get(at('0/macAddress')).reply(200, MAC0);
    api.get(at('0/ipv4/ipAddress/')).reply(200, '0/\n');
    api.get(at('0/ipv4/ipAddress/0/privateIpAddress')).reply(200, '10.0.0.4');
    api.get(at('0/ipv4/subnet/0/address/')).reply(200, '10.0.0.0');
    server().get(at('0/ipv4/subnet/0/prefix/')).reply(404);
    const records = seed(MAC0);
    const started = performance.now();
    const error = await getConfigError(records, expiring(/\/subnet\/0\/prefix\//));
    api.done();
    expect(error).toBeInstanceOf(PollTimeoutError);
    expect(performance.now() - started).toBeGreaterThanOrEqual(10000 * FAST * 0.8);
    expect(records.get(MAC0)?.cidr).toBeUndefined();
  });

  test('one interface lacking data (its macAddress 404s): rejects with "timeout expired", the other requests are aborted', async () => {
    // Interface 1's macAddress poll runs out after 200 ms (FAST); interface 0's three leaves
    // would 404 for their whole 1 s window (SCALE) unless aborted. Record how each poll ended.
    const { client: wrapped, outcomes } = recordOutcomes(expiring(/\/1\/macAddress\?/));
    const session = await detectSession(wrapped);
    const api = server().get(at('')).reply(200, '0/\n1/\n');
    api.get(at('0/macAddress')).reply(200, MAC0);
    api.get(at('0/ipv4/ipAddress/')).reply(200, '0/\n');
    server().get(at('0/ipv4/ipAddress/0/privateIpAddress')).reply(404);
    server().get(at('0/ipv4/subnet/0/address/')).reply(404);
    server().get(at('0/ipv4/subnet/0/prefix/')).reply(404);
    server().get(at('1/macAddress')).reply(404);

    const records = seed(MAC0, MAC1);
    const started = performance.now();
    const error = await rejectionOf(fillRecords(session, records, new AbortController().signal));
    const elapsed = performance.now() - started;
    api.done();
    expect(error).toBeInstanceOf(PollTimeoutError);
    expect((error as Error).message).toBe('timeout expired');
    const outcome = (suffix: string) => outcomes.find((entry) => entry.url.endsWith(`${suffix}${QUERY}`))?.outcome;
    expect(outcome('/1/macAddress')).toBe('failed');
    expect(outcome('/0/ipv4/ipAddress/0/privateIpAddress')).toBe('cancelled');
    expect(outcome('/0/ipv4/subnet/0/address/')).toBe('cancelled');
    expect(outcome('/0/ipv4/subnet/0/prefix/')).toBe('cancelled');
    // Rejected when interface 1's macAddress ran out (200 ms), long before interface 0's leaves would have (1 s).
    expect(elapsed).toBeGreaterThanOrEqual(10000 * FAST * 0.8);
    expect(elapsed).toBeLessThan(10000 * SCALE * 0.6);
    expect(records.get(MAC0)?.ipv4s).toBeUndefined();
  });

  test('cancellation during get-config rejects with a cancellation', async () => {
    const session = await detectSession();
    server().get(at('')).reply(404);
    const error = await rejectionWhenAborted(40, (signal) => fillRecords(session, seed(MAC0), signal));
    expect(isCancellation(error)).toBe(true);
    expect(error).not.toBeInstanceOf(PollTimeoutError);
  });
});
