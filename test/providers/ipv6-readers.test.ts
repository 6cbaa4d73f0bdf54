// SPDX-License-Identifier: LGPL-2.1-or-later
// Azure, Aliyun and GCP with IPv6 asked for (NM_CLOUD_SETUP_IPV6): which leaves each reads and
// what becomes of them. (EC2 is in ec2-ipv6.test.ts, OCI in oci.test.ts.)
import nock from 'nock';
import { describe, expect, test } from 'vitest';
import { createMetadataHttp } from '../../src/http.js';
import { createLogger } from '../../src/log.js';
import { aliyun } from '../../src/providers/aliyun.js';
import { azure } from '../../src/providers/azure.js';
import { gcp } from '../../src/providers/gcp.js';
import type { Provider } from '../../src/providers/types.js';
import { fillRecords, seed, type ProviderRecord } from '../helpers/provider-harness.js';

/** Detects `provider` on `baseUrl` and runs get-config with IPv6 for `macs`; returns the records and warnings. */
async function readWithIpv6(
  provider: Provider,
  baseUrl: string,
  macs: string[],
): Promise<{ records: Map<string, ProviderRecord>; warnings: string[] }> {
  const lines: string[] = [];
  const log = createLogger({ level: 'trace', sink: (line) => lines.push(line), clock: () => 0n });
  const http = createMetadataHttp({ log, timeScale: 0.1 });
  try {
    const detected = await provider.detect({ http, baseUrl, log, signal: new AbortController().signal });
    if (!detected.detected) throw new Error(detected.reason);
    const records = seed(...macs);
    await fillRecords(detected.session, records, new AbortController().signal, true);
    return { records, warnings: lines.filter((line) => line.includes('<warn>')) };
  } finally {
    http.close();
    nock.cleanAll();
  }
}

describe('Azure', () => {
  const BASE = 'http://169.254.169.254';
  const Q = '?format=text&api-version=2017-04-02';
  const at = (rest: string): string => `/metadata/instance/network/interface/${rest}${Q}`;

  test('ipv6/ipAddress/N/privateIpAddress in index order, canonical text, subnet /64 of the first', async () => {
    nock(BASE)
      .matchHeader('Metadata', 'true')
      .get(`/metadata/instance${Q}`)
      .reply(200, 'compute/\n')
      .get(at(''))
      .reply(200, '0/\n')
      .get(at('0/macAddress'))
      .reply(200, '000D3A123456')
      .get(at('0/ipv4/ipAddress/'))
      .reply(200, '0/\n')
      .get(at('0/ipv4/ipAddress/0/privateIpAddress'))
      .reply(200, '10.0.0.4')
      .get(at('0/ipv4/subnet/0/address/'))
      .reply(200, '10.0.0.0')
      .get(at('0/ipv4/subnet/0/prefix/'))
      .reply(200, '24')
      .get(at('0/ipv6/ipAddress/'))
      .reply(200, '1/\n0/\n')
      .get(at('0/ipv6/ipAddress/0/privateIpAddress'))
      .reply(200, 'ACE:CAB:DECA:DEED:0:0:0:4')
      .get(at('0/ipv6/ipAddress/1/privateIpAddress'))
      .reply(200, 'ace:cab:deca:deed::5');
    const { records, warnings } = await readWithIpv6(azure, BASE, ['00:0D:3A:12:34:56']);
    expect(records.get('00:0D:3A:12:34:56')?.ipv6).toEqual({
      addresses: ['ace:cab:deca:deed::4', 'ace:cab:deca:deed::5'],
      subnet: { address: 'ace:cab:deca:deed::', prefix: 64 },
      routes: [],
    });
    expect(warnings).toEqual([]);
  });
});

describe('Aliyun', () => {
  const BASE = 'http://100.100.100.200';
  const MACS = '/2016-01-01/meta-data/network/interfaces/macs/';
  const MAC = '00:16:3E:00:00:01';
  const dir = `${MACS}00:16:3e:00:00:01/`;
  const ipv4 = (scope: nock.Scope): nock.Scope =>
    scope
      .get(`${dir}vpc-cidr-block`)
      .reply(200, '172.16.0.0/12')
      .get(`${dir}private-ipv4s`)
      .reply(200, '["172.16.4.2"]')
      .get(`${dir}primary-ip-address`)
      .reply(200, '172.16.4.2')
      .get(`${dir}netmask`)
      .reply(200, '255.255.255.0')
      .get(`${dir}gateway`)
      .reply(200, '172.16.4.253');

  test('ipv6s, vswitch-ipv6-cidr-block and ipv6-gateway when the MAC lists them', async () => {
    ipv4(nock(BASE).get('/2016-01-01/meta-data/').reply(200, 'network/\n').get(MACS).reply(200, '00:16:3e:00:00:01/\n'))
      .get(dir)
      .reply(200, 'gateway\nipv6-gateway\nipv6s\nnetmask\nprivate-ipv4s\nvswitch-ipv6-cidr-block\n')
      .get(`${dir}ipv6s`)
      .reply(200, '[2408:4005:0000:0000:0000:0000:0000:0010,2408:4005::11]')
      .get(`${dir}vswitch-ipv6-cidr-block`)
      .reply(200, '2408:4005::/64')
      .get(`${dir}ipv6-gateway`)
      .reply(200, '2408:4005::ffff:ffff:ffff:fffd');
    const { records, warnings } = await readWithIpv6(aliyun, BASE, [MAC]);
    expect(records.get(MAC)?.ipv6).toEqual({
      addresses: ['2408:4005::10', '2408:4005::11'],
      subnet: { address: '2408:4005::', prefix: 64 },
      gateway: '2408:4005::ffff:ffff:ffff:fffd',
      routes: [],
    });
    expect(records.get(MAC)?.ipv4s).toEqual(['172.16.4.2']);
    expect(warnings).toEqual([]);
  });

  test('a MAC whose listing has no ipv6s: no IPv6 leaf is asked for', async () => {
    ipv4(nock(BASE).get('/2016-01-01/meta-data/').reply(200, 'network/\n').get(MACS).reply(200, '00:16:3e:00:00:01/\n'))
      .get(dir)
      .reply(200, 'gateway\nnetmask\nprivate-ipv4s\n');
    const { records } = await readWithIpv6(aliyun, BASE, [MAC]);
    expect(records.get(MAC)?.ipv6).toBeUndefined();
  });
});

describe('GCP', () => {
  const BASE = 'http://metadata.google.internal';
  const IFACES = '/computeMetadata/v1/instance/network-interfaces/';
  const MAC = '42:01:0A:80:00:02';

  /** One interface with MAC; `leaves` below its directory answer as given (each once). */
  function serve(leaves: Record<string, string>): void {
    const scope = nock(BASE)
      .matchHeader('Metadata-Flavor', 'Google')
      .get('/computeMetadata/v1/instance/id')
      .reply(200, '1')
      .get(IFACES)
      .reply(200, '0/\n')
      .get(`${IFACES}0/mac`)
      .reply(200, MAC.toLowerCase());
    for (const [leaf, body] of Object.entries(leaves)) scope.get(`${IFACES}0/${leaf}`).reply(200, body);
  }

  test('ipv6s and gateway-ipv6 are read when listed; no subnet is served', async () => {
    serve({
      'forwarded-ips/': '0\n',
      'forwarded-ips/0': '10.128.0.9',
      '': 'forwarded-ips/\ngateway\ngateway-ipv6\nipv6s\nmac\n',
      ipv6s: '2600:1900:4000:0:0:0:0:1\n',
      'gateway-ipv6': 'fe80::56:ff:fe00:1',
    });
    const { records } = await readWithIpv6(gcp, BASE, [MAC]);
    expect(records.get(MAC)?.ipv6).toEqual({ addresses: ['2600:1900:4000::1'], gateway: 'fe80::56:ff:fe00:1', routes: [] });
  });

  test('forwarded-ipv6s (CIDRs or addresses) become local routes; an ipv6s entry written as a CIDR is its address', async () => {
    serve({
      'forwarded-ips/': '',
      '': 'forwarded-ips/\nforwarded-ipv6s/\nipv6s\nmac\n',
      ipv6s: '2600:1900:4000:0:0:1:0:0/96\n',
      'forwarded-ipv6s/': '0\n1\n',
      'forwarded-ipv6s/0': '2600:1900:4000:0:0:9:0:0/96\n',
      'forwarded-ipv6s/1': '2600:1900:4000::a:0:7',
    });
    const { records } = await readWithIpv6(gcp, BASE, [MAC]);
    expect(records.get(MAC)?.ipv6).toEqual({
      addresses: ['2600:1900:4000::1:0:0'],
      routes: [
        { dest: '2600:1900:4000::9:0:0', prefix: 96, metric: 100, type: 'local' },
        { dest: '2600:1900:4000::a:0:7', prefix: 128, metric: 100, type: 'local' },
      ],
    });
  });

  test('a forwarded-ipv6 that is neither an address nor a range fails get-config, as a bad forwarded-ip does', async () => {
    serve({
      'forwarded-ips/': '',
      '': 'forwarded-ipv6s/\nmac\n',
      'forwarded-ipv6s/': '0\n',
      'forwarded-ipv6s/0': '10.0.0.1',
    });
    await expect(readWithIpv6(gcp, BASE, [MAC])).rejects.toThrow('forwarded-ipv6 is not a valid ipv6 address or range');
  });
});
