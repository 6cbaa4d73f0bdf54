// SPDX-License-Identifier: LGPL-2.1-or-later
// The OCI provider: detect() and getConfig() against nock on the default host, and applyVnics()
// (the interpretation of the vnics document) directly.
import nock from 'nock';
import { describe, expect, test } from 'vitest';
import { isCancellation, MetadataError, PollTimeoutError } from '../../src/errors.js';
import type { MetadataHttp } from '../../src/http.js';
import { oci, parseVnics } from '../../src/providers/oci.js';
import type { MetadataSession } from '../../src/providers/types.js';
import {
  fillRecords,
  putResult,
  metadataServer,
  providerHarness,
  rejectionOf,
  rejectionWhenAborted,
  seed,
  type ProviderRecord,
} from '../helpers/provider-harness.js';

const BASE = 'http://169.254.169.254';

/**
 * Upstream: poll(3000, 7000, 1000) to detect, poll(3000, 15000, 1000) for /opc/v2/vnics. Polls
 * meant to succeed run at SCALE (attempts 300 ms, detection 700 ms, vnics 1.5 s, spacing 100 ms):
 * room for a busy machine, and no test waits for these windows. A poll a test lets run out runs
 * at FAST (detection 140 ms, vnics 300 ms) on a second client.
 */
const SCALE = 0.1;
const FAST = 0.02;

const MAC0 = '02:00:17:00:00:01';
const MAC1 = '02:00:17:00:00:02';
const MAC2 = '02:00:17:00:00:03';
const MAC3 = '02:00:17:00:00:04';

/** The metadata server: every interceptor requires `Authorization: Bearer Oracle`. */
const { server } = metadataServer(() => nock(BASE).matchHeader('Authorization', 'Bearer Oracle'));

// Every request must match an interceptor, so every one carried "Authorization: Bearer Oracle".
const harness = providerHarness({
  provider: oci,
  baseUrl: BASE,
  scale: SCALE,
  fastScale: FAST,
  stubDetection: () => server().get('/opc/v2/instance').reply(200, '{"id":"ocid1.instance.x"}'),
});
const { lines, http, fast, log, context, routed, warnings, infos } = harness;

/** Detects OCI; the session then polls /opc/v2/vnics through `vnicsClient`. */
function detectSession(vnicsClient: MetadataHttp = http): Promise<MetadataSession> {
  return harness.detectSession(routed(/\/vnics$/, vnicsClient));
}

/** A VM VNIC as IMDS serves it. */
const vmVnic = (n: number, mac: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  vnicId: `ocid1.vnic.vm${n}`,
  privateIp: `10.0.${n}.2`,
  vlanTag: 100 + n,
  macAddr: mac.toLowerCase(),
  virtualRouterIp: `10.0.${n}.1`,
  subnetCidrBlock: `10.0.${n}.0/24`,
  ...extra,
});

/** A bare-metal VNIC: vlanTag 0 is a physical NIC, any other tag a VLAN on physical NIC nicIndex. */
const bmVnic = (
  n: number,
  mac: string,
  nicIndex: number,
  vlanTag: number,
  extra: Record<string, unknown> = {},
): Record<string, unknown> => ({
  vnicId: `ocid1.vnic.bm${n}`,
  privateIp: `10.1.${n}.2`,
  vlanTag,
  nicIndex,
  macAddr: mac,
  virtualRouterIp: `10.1.${n}.1`,
  subnetCidrBlock: `10.1.${n}.0/24`,
  ...extra,
});

/** Runs parseVnics on `vnics` and puts the result into `records`; returns the records. */
function apply(vnics: readonly unknown[], records: Map<string, ProviderRecord> = new Map()): Map<string, ProviderRecord> {
  putResult(records, parseVnics(vnics, log()));
  return records;
}

const warn = (message: string): string => `[0.0000] <warn>  get-config: ${message}`;

describe('oci provider shape', () => {
  test('names and defaults as upstream; new connections allowed by default', () => {
    expect(oci.name).toBe('oci');
    expect(oci.envName).toBe('OCI');
    expect(oci.defaultBaseUrl).toBe('http://169.254.169.254');
    expect(oci.allowNewConnectionsByDefault).toBe(true);
  });
});

describe('detect', () => {
  test('GET /opc/v2/instance with Authorization: Bearer Oracle; 200 → detected', async () => {
    const scope = server().get('/opc/v2/instance').reply(200, '{}');
    const result = await oci.detect(context());
    expect(result.detected).toBe(true);
    scope.done();
    expect(lines.some((line) => line.endsWith(`, "${BASE}/opc/v2/instance"]: start get ...`))).toBe(true);
  });

  test('404 until the (scaled) 7 s → "failure to get OCI instance data: timeout expired"', async () => {
    const scope = server().get('/opc/v2/instance').reply(404);
    const started = performance.now();
    const result = await oci.detect(context(undefined, fast));
    expect(result).toEqual({ detected: false, reason: 'failure to get OCI instance data: timeout expired' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(7000 * FAST * 0.8);
    expect(scope.isDone()).toBe(true);
  });
});

describe('getConfig', () => {
  test('VM: one GET /opc/v2/vnics fills the records', async () => {
    const session = await detectSession();
    let requests = 0;
    const api = server()
      .get('/opc/v2/vnics')
      .reply(() => {
        requests++;
        return [200, JSON.stringify([vmVnic(0, MAC0), vmVnic(1, MAC1)])];
      });
    const records = seed(MAC0, MAC1);
    await fillRecords(session, records, new AbortController().signal);
    api.done();
    expect(requests).toBe(1);
    expect(records.get(MAC0)).toEqual({
      hwaddr: MAC0,
      ifaceIdx: 0,
      wasRequested: true,
      routes: [],
      ipv4s: ['10.0.0.2'],
      gateway: '10.0.0.1',
      cidr: { address: '10.0.0.0', prefix: 24 },
    });
    expect(records.get(MAC1)).toMatchObject({ ifaceIdx: 1, ipv4s: ['10.0.1.2'] });
    expect(infos()).toContain('[0.0000] <info>  get-config: detected VM instance');
    expect(warnings()).toEqual([]);
  });

  test('does not wait for a requested MAC missing from the document', async () => {
    const session = await detectSession();
    let requests = 0;
    server()
      .get('/opc/v2/vnics')
      .reply(() => {
        requests++;
        return [200, JSON.stringify([vmVnic(0, MAC0)])];
      });
    const records = seed(MAC0, MAC3);
    const started = performance.now();
    await fillRecords(session, records, new AbortController().signal);
    expect(requests).toBe(1);
    expect(performance.now() - started).toBeLessThan(15000 * SCALE * 0.5);
    expect(records.get(MAC3)).toEqual({ hwaddr: MAC3, ifaceIdx: -1, wasRequested: true, routes: [] });
  });

  test.each([
    ['invalid JSON', '[{"macAddr": "02:00:17:00:00:01",}]'],
    ['an object, not an array', JSON.stringify(vmVnic(0, MAC0))],
    ['a string', '"[]"'],
    ['null', 'null'],
    ['empty body', ''],
    ['trailing garbage', '[] []'],
    ['duplicate keys in an element', '[{"vnicId":"a","macAddr":"02:00:17:00:00:01","privateIp":"10.0.0.2","privateIp":"10.0.0.3"}]'],
    ['duplicate keys deeper down', '[{"macAddr":"02:00:17:00:00:01","x":{"k":1,"k":2}}]'],
  ])('%s → rejects with "get-config: JSON parse failure, can\'t configure VNICs"', async (_name, body) => {
    const session = await detectSession();
    server().get('/opc/v2/vnics').reply(200, body);
    const records = seed(MAC0);
    const error = await rejectionOf(fillRecords(session, records, new AbortController().signal));
    expect(error).toBeInstanceOf(MetadataError);
    // Upstream's error text, "get-config: " prefix included (run.ts then logs "get-config: failed: …").
    expect((error as Error).message).toBe("get-config: JSON parse failure, can't configure VNICs");
    // No per-element processing happened: no instance type line, no VNIC warnings.
    expect(infos()).toEqual([]);
    expect(warnings()).toEqual([]);
    // Nothing was applied.
    expect(records.get(MAC0)).toEqual({ hwaddr: MAC0, ifaceIdx: -1, wasRequested: true, routes: [] });
  });

  test('the document 404s until the (scaled) 15 s → "timeout expired"', async () => {
    const session = await detectSession(fast);
    server().get('/opc/v2/vnics').reply(404);
    const started = performance.now();
    const error = await rejectionOf(fillRecords(session, seed(MAC0), new AbortController().signal));
    expect(error).toBeInstanceOf(PollTimeoutError);
    expect((error as Error).message).toBe('timeout expired');
    // Upstream's 15 s window, not the 10 s of the other providers' leaves.
    expect(performance.now() - started).toBeGreaterThanOrEqual(15000 * FAST * 0.9);
  });

  test("bare metal end to end: a VLAN VNIC gets its parent's MAC", async () => {
    const session = await detectSession();
    server()
      .get('/opc/v2/vnics')
      .reply(200, JSON.stringify([bmVnic(0, MAC0, 0, 0), bmVnic(1, MAC1, 0, 700)]));
    const records = seed(MAC0);
    await fillRecords(session, records, new AbortController().signal);
    expect(records.get(MAC1)).toMatchObject({ ifaceIdx: 1, wasRequested: false, vlanTag: 700, parentHwaddr: MAC0 });
    expect(infos()).toContain('[0.0000] <info>  get-config: detected baremetal instance');
  });

  test('cancellation during get-config rejects with a cancellation', async () => {
    const session = await detectSession();
    server().get('/opc/v2/vnics').reply(404);
    const error = await rejectionWhenAborted(40, (signal) => fillRecords(session, seed(MAC0), signal));
    expect(isCancellation(error)).toBe(true);
    expect(error).not.toBeInstanceOf(PollTimeoutError);
  });
});

describe('applyVnics: VM', () => {
  test('ifaceIdx = array position; one address, router, subnet; vlanTag and nicIndex ignored', () => {
    const records = apply(
      [
        vmVnic(0, MAC0, { vlanTag: 0 }),
        vmVnic(1, MAC1, { vlanTag: 700, nicIndex: 1 }),
        vmVnic(2, MAC2, { nicIndex: 'garbage', vlanTag: -5 }),
      ],
      seed(MAC0, MAC1),
    );
    expect([...records.values()]).toEqual([
      {
        hwaddr: MAC0,
        ifaceIdx: 0,
        wasRequested: true,
        routes: [],
        ipv4s: ['10.0.0.2'],
        gateway: '10.0.0.1',
        cidr: { address: '10.0.0.0', prefix: 24 },
      },
      {
        hwaddr: MAC1,
        ifaceIdx: 1,
        wasRequested: true,
        routes: [],
        ipv4s: ['10.0.1.2'],
        gateway: '10.0.1.1',
        cidr: { address: '10.0.1.0', prefix: 24 },
      },
      {
        hwaddr: MAC2,
        ifaceIdx: 2,
        wasRequested: false,
        routes: [],
        ipv4s: ['10.0.2.2'],
        gateway: '10.0.2.1',
        cidr: { address: '10.0.2.0', prefix: 24 },
      },
    ]);
    for (const record of records.values()) {
      expect(record).not.toHaveProperty('vlanTag');
      expect(record).not.toHaveProperty('parentHwaddr');
    }
    expect(infos()).toEqual(['[0.0000] <info>  get-config: detected VM instance']);
    expect(warnings()).toEqual([]);
  });

  test('MACs are normalised (upper case, colons)', () => {
    const records = apply([vmVnic(0, '02-00-17-0a-0b-0c')]);
    expect([...records.keys()]).toEqual(['02:00:17:0A:0B:0C']);
  });

  test('a record is replaced, keeping wasRequested; a requested MAC not listed is untouched', () => {
    const records = seed(MAC0, MAC3);
    records.set(MAC0, { hwaddr: MAC0, ifaceIdx: -1, wasRequested: true, routes: [], ipv4s: ['192.0.2.1'] });
    apply([vmVnic(0, MAC0, { privateIp: 'bogus' })], records);
    expect(records.get(MAC0)).toEqual({
      hwaddr: MAC0,
      ifaceIdx: 0,
      wasRequested: true,
      routes: [],
      gateway: '10.0.0.1',
      cidr: { address: '10.0.0.0', prefix: 24 },
    });
    expect(records.get(MAC3)).toEqual({ hwaddr: MAC3, ifaceIdx: -1, wasRequested: true, routes: [] });
  });

  test('empty array: info line, treated as a VM, nothing changes', () => {
    const records = apply([], seed(MAC0));
    expect(infos()).toEqual(['[0.0000] <info>  get-config: empty VNICs metadata, cannot detect instance type']);
    expect(records.get(MAC0)).toEqual({ hwaddr: MAC0, ifaceIdx: -1, wasRequested: true, routes: [] });
    expect(warnings()).toEqual([]);
  });

  test('a first element that is not an object means VM', () => {
    const records = apply([42, vmVnic(1, MAC1, { nicIndex: 0, vlanTag: 700 })]);
    expect(infos()).toEqual(['[0.0000] <info>  get-config: detected VM instance']);
    expect(records.get(MAC1)).toMatchObject({ ifaceIdx: 1 });
    expect(records.get(MAC1)).not.toHaveProperty('vlanTag');
  });
});

describe('applyVnics: per-element warnings (upstream suffix, no space before "(VNIC")', () => {
  test.each([
    ['missing', undefined],
    ['not a string', 167772162],
    ['invalid', '10.0.0'],
    ['with a prefix', '10.0.0.2/24'],
    ['with whitespace', ' 10.0.0.2'],
  ])('privateIp %s → warning, record kept without addresses', (_name, privateIp) => {
    const vnic = { ...vmVnic(0, MAC0, { vnicId: 'ocid1.vnic.x' }), privateIp };
    const records = apply([vnic]);
    expect(warnings()).toEqual([warn("missing or invalid 'privateIp'(VNIC ocid1.vnic.x idx=0)")]);
    expect(records.get(MAC0)).toMatchObject({ ifaceIdx: 0, gateway: '10.0.0.1', cidr: { address: '10.0.0.0', prefix: 24 } });
    expect(records.get(MAC0)).not.toHaveProperty('ipv4s');
  });

  test.each([
    ['missing', undefined],
    ['not a string', 42],
    ['invalid', '02:00:17:00:00'],
    ['empty', ''],
  ])('macAddr %s → warning, element skipped', (_name, macAddr) => {
    const vnic = { ...vmVnic(0, MAC0, { vnicId: 'ocid1.vnic.x' }), macAddr };
    const records = apply([vnic], seed(MAC0));
    expect(warnings()).toEqual([warn("missing or invalid 'macAddr', ignoring VNIC(VNIC ocid1.vnic.x idx=0)")]);
    expect(records.get(MAC0)).toEqual({ hwaddr: MAC0, ifaceIdx: -1, wasRequested: true, routes: [] });
    expect(records.size).toBe(1);
  });

  test('a skipped element still uses up its position', () => {
    const records = apply([vmVnic(0, MAC0, { macAddr: 'nope' }), vmVnic(1, MAC1), { bogus: true }, vmVnic(3, MAC3)]);
    expect(records.has(MAC0)).toBe(false);
    expect(records.get(MAC1)?.ifaceIdx).toBe(1);
    expect(records.get(MAC3)?.ifaceIdx).toBe(3);
    expect(warnings()).toEqual([
      warn("missing or invalid 'macAddr', ignoring VNIC(VNIC ocid1.vnic.vm0 idx=0)"),
      warn("missing or invalid 'macAddr', ignoring VNIC(VNIC  idx=2)"),
    ]);
  });

  test.each([
    ['missing', undefined],
    ['invalid', 'bogus'],
    ['not a string', null],
  ])('virtualRouterIp %s → warning, no gateway', (_name, virtualRouterIp) => {
    const vnic = { ...vmVnic(0, MAC0, { vnicId: 'ocid1.vnic.x' }), virtualRouterIp };
    const records = apply([vnic]);
    expect(warnings()).toEqual([warn("missing or invalid 'virtualRouterIp'(VNIC ocid1.vnic.x idx=0)")]);
    expect(records.get(MAC0)).not.toHaveProperty('gateway');
    expect(records.get(MAC0)?.ipv4s).toEqual(['10.0.0.2']);
  });

  test.each([
    ['missing', undefined],
    ['without "/" (intentional difference: upstream stores prefix 255 and crashes)', '10.0.0.0'],
    ['prefix out of range', '10.0.0.0/33'],
    ['invalid address', '10.0.0/24'],
    ['not a string', 24],
  ])('subnetCidrBlock %s → warning, no cidr', (_name, subnetCidrBlock) => {
    const vnic = { ...vmVnic(0, MAC0, { vnicId: 'ocid1.vnic.x' }), subnetCidrBlock };
    const records = apply([vnic]);
    expect(warnings()).toEqual([warn("missing or invalid 'subnetCidrBlock'(VNIC ocid1.vnic.x idx=0)")]);
    expect(records.get(MAC0)).not.toHaveProperty('cidr');
    expect(records.get(MAC0)?.ifaceIdx).toBe(0);
  });

  test('several bad fields give one warning each, in upstream order', () => {
    apply([{ vnicId: 'ocid1.vnic.x', macAddr: MAC0 }]);
    expect(warnings()).toEqual([
      warn("missing or invalid 'privateIp'(VNIC ocid1.vnic.x idx=0)"),
      warn("missing or invalid 'virtualRouterIp'(VNIC ocid1.vnic.x idx=0)"),
      warn("missing or invalid 'subnetCidrBlock'(VNIC ocid1.vnic.x idx=0)"),
    ]);
  });

  test('a vnicId that is not a string shows as empty', () => {
    apply([{ ...vmVnic(0, MAC0), vnicId: 7, privateIp: 'x' }]);
    expect(warnings()).toEqual([warn("missing or invalid 'privateIp'(VNIC  idx=0)")]);
  });

  test.each([
    ['null', null],
    ['a number', 7],
    ['a string', 'vnic'],
    ['an array', [vmVnic(0, MAC3)]],
    ['a boolean', true],
  ])('a non-object element (%s) → "JSON parse failure, ignoring VNIC(VNIC  idx=N)"', (_name, element) => {
    const records = apply([vmVnic(0, MAC0), element, vmVnic(2, MAC2)]);
    expect(warnings()).toEqual([warn('JSON parse failure, ignoring VNIC(VNIC  idx=1)')]);
    expect([...records.values()].map((record) => [record.hwaddr, record.ifaceIdx])).toEqual([
      [MAC0, 0],
      [MAC2, 2],
    ]);
  });
});

describe('applyVnics: bare metal', () => {
  test('physical NICs (vlanTag 0) and VLAN VNICs resolved to the physical MAC of their nicIndex', () => {
    const records = apply(
      [bmVnic(0, MAC0, 0, 0), bmVnic(1, MAC1, 1, 0), bmVnic(2, MAC2, 0, 700), bmVnic(3, MAC3, 1, 701)],
      seed(MAC0, MAC1),
    );
    expect(infos()).toEqual(['[0.0000] <info>  get-config: detected baremetal instance']);
    expect(warnings()).toEqual([]);
    expect(records.get(MAC0)).toEqual({
      hwaddr: MAC0,
      ifaceIdx: 0,
      wasRequested: true,
      routes: [],
      ipv4s: ['10.1.0.2'],
      gateway: '10.1.0.1',
      cidr: { address: '10.1.0.0', prefix: 24 },
    });
    expect(records.get(MAC1)).toMatchObject({ ifaceIdx: 1, wasRequested: true });
    expect(records.get(MAC1)).not.toHaveProperty('vlanTag');
    expect(records.get(MAC1)).not.toHaveProperty('parentHwaddr');
    expect(records.get(MAC2)).toEqual({
      hwaddr: MAC2,
      ifaceIdx: 2,
      wasRequested: false,
      routes: [],
      ipv4s: ['10.1.2.2'],
      gateway: '10.1.2.1',
      cidr: { address: '10.1.2.0', prefix: 24 },
      vlanTag: 700,
      parentHwaddr: MAC0,
    });
    expect(records.get(MAC3)).toMatchObject({ ifaceIdx: 3, vlanTag: 701, parentHwaddr: MAC1 });
  });

  test('a VLAN VNIC listed before its physical NIC is still resolved', () => {
    const records = apply([bmVnic(0, MAC2, 0, 700), bmVnic(1, MAC0, 0, 0)]);
    expect(infos()).toEqual(['[0.0000] <info>  get-config: detected baremetal instance']);
    expect(records.get(MAC2)).toMatchObject({ ifaceIdx: 0, vlanTag: 700, parentHwaddr: MAC0 });
  });

  test('no physical NIC for the nicIndex → warning, the VNIC removed, no crash', () => {
    const records = apply([bmVnic(0, MAC0, 0, 0), bmVnic(1, MAC2, 1, 700), bmVnic(2, MAC3, 0, 701)], seed(MAC2));
    expect(warnings()).toEqual([
      `[0.0000] <warn>  get-config: physical NIC for nicIndex=1 not found, ignoring VNIC (VNIC macAddr=${MAC2})`,
    ]);
    expect(records.has(MAC2)).toBe(false);
    expect(records.get(MAC3)).toMatchObject({ vlanTag: 701, parentHwaddr: MAC0 });
    expect(records.get(MAC0)?.ifaceIdx).toBe(0);
  });

  test('a MAC listed again as a physical NIC replaces its VLAN record entirely (no stale parent lookup)', () => {
    // Upstream resolves parents by looking at each record's own vlan_tag after the loop; the
    // replacement record for MAC2 is physical (tag 0), so it is neither resolved nor removed.
    const records = apply([bmVnic(0, MAC2, 1, 700), bmVnic(1, MAC0, 0, 0), bmVnic(2, MAC2, 2, 0)]);
    expect(warnings()).toEqual([]);
    expect(records.get(MAC2)).toEqual({
      hwaddr: MAC2,
      ifaceIdx: 2,
      wasRequested: false,
      routes: [],
      ipv4s: ['10.1.2.2'],
      gateway: '10.1.2.1',
      cidr: { address: '10.1.2.0', prefix: 24 },
    });
  });

  test('nicIndex 0 and 1023 are valid', () => {
    const records = apply([bmVnic(0, MAC0, 1023, 0), bmVnic(1, MAC1, 1023, 5), bmVnic(2, MAC2, 0, 0)]);
    expect(warnings()).toEqual([]);
    expect(records.get(MAC1)).toMatchObject({ vlanTag: 5, parentHwaddr: MAC0 });
  });

  test.each([
    ['missing', undefined],
    ['negative', -1],
    ['1024', 1024],
    ['fractional', 1.5],
    ['a string', '0'],
    ['null', null],
  ])('nicIndex %s → warning, element skipped', (_name, nicIndex) => {
    const records = apply([bmVnic(0, MAC0, 0, 0), { ...bmVnic(1, MAC1, 0, 0, { vnicId: 'ocid1.vnic.x' }), nicIndex }]);
    expect(warnings()).toEqual([warn("missing or invalid 'nicIndex', ignoring VNIC(VNIC ocid1.vnic.x idx=1)")]);
    expect(records.has(MAC1)).toBe(false);
    expect(records.get(MAC0)?.ifaceIdx).toBe(0);
  });

  test.each([
    ['missing', undefined],
    ['negative', -1],
    ['fractional', 700.5],
    ['a string', '700'],
    ['null', null],
  ])('vlanTag %s → warning, element skipped', (_name, vlanTag) => {
    const records = apply([bmVnic(0, MAC0, 0, 0), { ...bmVnic(1, MAC1, 0, 0, { vnicId: 'ocid1.vnic.x' }), vlanTag }]);
    expect(warnings()).toEqual([warn("missing or invalid 'vlanTag', ignoring VNIC(VNIC ocid1.vnic.x idx=1)")]);
    expect(records.has(MAC1)).toBe(false);
  });

  test('the macAddr check comes before nicIndex and vlanTag', () => {
    apply([{ vnicId: 'ocid1.vnic.x', nicIndex: -1, vlanTag: -1, macAddr: 'bad' }]);
    expect(warnings()).toEqual([warn("missing or invalid 'macAddr', ignoring VNIC(VNIC ocid1.vnic.x idx=0)")]);
    expect(infos()).toEqual(['[0.0000] <info>  get-config: detected baremetal instance']);
  });
});

describe('parseVnics with IPv6 (NM_CLOUD_SETUP_IPV6)', () => {
  const dualStack = {
    ipv6Addresses: ['2603:c020:0000:0000:0000:0000:0000:0010', '2603:c020::11'],
    ipv6SubnetCidrBlock: '2603:c020::/64',
    ipv6VirtualRouterIp: 'fe80::200:17ff:fe00:1',
  };

  test('ipv6Addresses, ipv6SubnetCidrBlock and ipv6VirtualRouterIp become the IPv6 family, in canonical text', () => {
    const result = parseVnics([vmVnic(0, MAC0, dualStack), vmVnic(1, MAC1)], log(), { ipv6: true });
    expect(result.interfaces.map((iface) => [iface.hwaddr, iface.ipv6])).toEqual([
      [
        MAC0,
        {
          addresses: ['2603:c020::10', '2603:c020::11'],
          subnet: { address: '2603:c020::', prefix: 64 },
          gateway: 'fe80::200:17ff:fe00:1',
          routes: [],
        },
      ],
      // A VNIC without IPv6 keys has no IPv6 family and earns no warning.
      [MAC1, { routes: [] }],
    ]);
    expect(warnings()).toEqual([]);
  });

  test.each([true, false])('an IPv6-only VNIC (IPv6 %s): one debug line, no warnings (issue #10 item 10)', (ipv6) => {
    const ipv6Only = { ...vmVnic(0, MAC0, dualStack), privateIp: undefined, virtualRouterIp: undefined, subnetCidrBlock: undefined };
    const result = parseVnics([ipv6Only, vmVnic(1, MAC1)], log(), { ipv6 });
    expect(result.interfaces[0]?.ipv4).toEqual({ routes: [] });
    expect(warnings()).toEqual([]);
    expect(lines.filter((line) => line.includes('idx=0'))).toEqual([
      '[0.0000] <debug> get-config: IPv6-only VNIC, no IPv4 to configure (VNIC ocid1.vnic.vm0 idx=0)',
    ]);
  });

  test('a VNIC with neither IPv4 nor IPv6 keys still gets the three warnings', () => {
    parseVnics([{ vnicId: 'ocid1.vnic.vm0', macAddr: MAC0 }], log(), { ipv6: true });
    expect(warnings()).toHaveLength(3);
  });

  test('without IPv6 asked for, the keys are not even looked at', () => {
    const result = parseVnics([vmVnic(0, MAC0, { ...dualStack, ipv6SubnetCidrBlock: 'bogus' })], log());
    expect(result.interfaces[0]?.ipv6).toEqual({ routes: [] });
    expect(warnings()).toEqual([]);
  });

  test('bad IPv6 values are warnings naming the key and the VNIC', () => {
    parseVnics(
      [vmVnic(0, MAC0, { ipv6Addresses: ['2603:c020::10', 'x'], ipv6SubnetCidrBlock: '2603:c020::', ipv6VirtualRouterIp: 7 })],
      log(),
      {
        ipv6: true,
      },
    );
    expect(warnings()).toEqual([
      warn("invalid 'ipv6Addresses'(VNIC ocid1.vnic.vm0 idx=0)"),
      warn("missing or invalid 'ipv6SubnetCidrBlock'(VNIC ocid1.vnic.vm0 idx=0)"),
      warn("missing or invalid 'ipv6VirtualRouterIp'(VNIC ocid1.vnic.vm0 idx=0)"),
    ]);
  });
});
