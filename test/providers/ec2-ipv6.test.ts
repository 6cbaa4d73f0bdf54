// SPDX-License-Identifier: LGPL-2.1-or-later
// EC2 with IPv6 asked for (NM_CLOUD_SETUP_IPV6): each MAC's own listing decides which leaves are
// read, so an IPv6-only NIC (no local-ipv4s) neither fails nor stalls get-config.
import nock from 'nock';
import { describe, expect, test } from 'vitest';
import { ec2 } from '../../src/providers/ec2.js';
import { fillRecords, providerHarness, seed, serveEc2DeviceNumbers } from '../helpers/provider-harness.js';

const BASE = 'http://169.254.169.254';
const MACS = '/2018-09-24/meta-data/network/interfaces/macs/';
const TOKEN = 'AQAEAGxxSecretTokenxxQ==';
const TOKEN_HEADER = 'X-aws-ec2-metadata-token';
const SCALE = 0.1;
const MAC1 = '0E:49:61:0F:C3:11';
const MAC2 = '0E:8C:CB:AC:CA:F7';
const dir = (mac: string): string => `${MACS}${mac.toLowerCase()}/`;

const { detectSession, warnings, lines } = providerHarness({
  provider: ec2,
  baseUrl: BASE,
  scale: SCALE,
  stubDetection: () => void nock(BASE).put('/latest/api/token').reply(200, TOKEN),
});
serveEc2DeviceNumbers(BASE);

const imds = () => nock(BASE).matchHeader(TOKEN_HEADER, TOKEN);

describe('EC2 getConfig with IPv6', () => {
  test('ipv6-prefix (delegated prefixes) is read when listed, as the networks it names; an invalid line is left out with one warning', async () => {
    imds()
      .get(MACS)
      .reply(200, `${MAC1.toLowerCase()}/\n`)
      .get(dir(MAC1))
      .reply(200, 'device-number\nipv6-prefix\nipv6s\nlocal-ipv4s\nsubnet-ipv4-cidr-block\nsubnet-ipv6-cidr-blocks\n')
      .get(`${dir(MAC1)}local-ipv4s`)
      .reply(200, '172.31.26.249')
      .get(`${dir(MAC1)}subnet-ipv4-cidr-block`)
      .reply(200, '172.31.16.0/20')
      .get(`${dir(MAC1)}ipv6s`)
      .reply(200, '2600:1f18:abc:de00::5')
      .get(`${dir(MAC1)}subnet-ipv6-cidr-blocks`)
      .reply(200, '2600:1f18:abc:de00::/64')
      .get(`${dir(MAC1)}ipv6-prefix`)
      .reply(200, '2600:1f18:0abc:de00:9c3a:0000:0000:0000/80\n2600:1f18:abc:de00:4d1e:1::/80\nnot-a-prefix\n');
    const records = seed(MAC1);
    await fillRecords(await detectSession(), records, new AbortController().signal, true);
    expect(records.get(MAC1)?.ipv6).toEqual({
      addresses: ['2600:1f18:abc:de00::5'],
      subnet: { address: '2600:1f18:abc:de00::', prefix: 64 },
      routes: [],
      delegatedPrefixes: [
        { address: '2600:1f18:abc:de00:9c3a::', prefix: 80 },
        { address: '2600:1f18:abc:de00:4d1e::', prefix: 80 },
      ],
    });
    expect(warnings()).toEqual([expect.stringContaining(`get-config: ${MAC1}: ignoring invalid ipv6-prefix "`)]);
  });

  test('a dual-stack NIC and an IPv6-only NIC: IPv6 addresses in canonical text, the subnet that holds them', async () => {
    imds()
      .get(MACS)
      .reply(200, `${MAC1.toLowerCase()}/\n${MAC2.toLowerCase()}/\n`)
      .get(dir(MAC1))
      .reply(200, 'device-number\nipv6s\nlocal-ipv4s\nsubnet-ipv4-cidr-block\nsubnet-ipv6-cidr-blocks\n')
      .get(`${dir(MAC1)}local-ipv4s`)
      .reply(200, '172.31.26.249\n172.31.26.250')
      .get(`${dir(MAC1)}subnet-ipv4-cidr-block`)
      .reply(200, '172.31.16.0/20')
      .get(`${dir(MAC1)}ipv6s`)
      .reply(200, '2600:1f18:0abc:de00:0000:0000:0000:0005\n2600:1f18:abc:de00::6')
      .get(`${dir(MAC1)}subnet-ipv6-cidr-blocks`)
      .reply(200, '2600:1f18:abc:dd00::/64\n2600:1f18:abc:de00::/64')
      // IPv6-only: no local-ipv4s, no subnet-ipv4-cidr-block; a GET for them would 404 until the window ends.
      .get(dir(MAC2))
      .reply(200, 'device-number\nipv6s\nsubnet-ipv6-cidr-blocks')
      .get(`${dir(MAC2)}ipv6s`)
      .reply(200, '2600:1f18:abc:df00::7\n')
      .get(`${dir(MAC2)}subnet-ipv6-cidr-blocks`)
      .reply(200, '2600:1f18:abc:df00::/64\n');
    const records = seed(MAC1, MAC2);
    await fillRecords(await detectSession(), records, new AbortController().signal, true);
    expect(records.get(MAC1)).toEqual({
      hwaddr: MAC1,
      ifaceIdx: 0,
      wasRequested: true,
      ipv4s: ['172.31.26.249', '172.31.26.250'],
      cidr: { address: '172.31.16.0', prefix: 20 },
      routes: [],
      ipv6: {
        addresses: ['2600:1f18:abc:de00::5', '2600:1f18:abc:de00::6'],
        subnet: { address: '2600:1f18:abc:de00::', prefix: 64 },
        routes: [],
      },
    });
    expect(records.get(MAC2)).toEqual({
      hwaddr: MAC2,
      ifaceIdx: 1,
      wasRequested: true,
      routes: [],
      ipv6: { addresses: ['2600:1f18:abc:df00::7'], subnet: { address: '2600:1f18:abc:df00::', prefix: 64 }, routes: [] },
    });
    expect(lines).toContain(`[0.0000] <debug> get-config: ${MAC2}: no IPv4 addresses listed (IPv6-only interface)`);
    expect(warnings()).toEqual([]);
  });

  test('a NIC without IPv6 reads exactly the IPv4 leaves; an invalid ipv6s line is a warning', async () => {
    imds()
      .get(MACS)
      .reply(200, `${MAC1.toLowerCase()}/\n`)
      .get(dir(MAC1))
      .reply(200, 'local-ipv4s\nsubnet-ipv4-cidr-block\n')
      .get(`${dir(MAC1)}local-ipv4s`)
      .reply(200, '172.31.26.249')
      .get(`${dir(MAC1)}subnet-ipv4-cidr-block`)
      .reply(200, '172.31.16.0/20');
    const records = seed(MAC1);
    await fillRecords(await detectSession(), records, new AbortController().signal, true);
    expect(records.get(MAC1)).toEqual({
      hwaddr: MAC1,
      ifaceIdx: 0,
      wasRequested: true,
      ipv4s: ['172.31.26.249'],
      cidr: { address: '172.31.16.0', prefix: 20 },
      routes: [],
    });

    imds()
      .get(MACS)
      .reply(200, `${MAC1.toLowerCase()}/\n`)
      .get(dir(MAC1))
      .reply(200, 'ipv6s\n')
      .get(`${dir(MAC1)}ipv6s`)
      .reply(200, '2600:1f18:abc:de00::5\nnot-an-address\n');
    const again = seed(MAC1);
    await fillRecords(await detectSession(), again, new AbortController().signal, true);
    expect(again.get(MAC1)?.ipv6).toEqual({ addresses: ['2600:1f18:abc:de00::5'], routes: [] });
    expect(warnings()).toEqual([`[0.0000] <warn>  get-config: ${MAC1}: ignoring invalid address "not-an-address" in ipv6s`]);
  });
});
