// SPDX-License-Identifier: LGPL-2.1-or-later
import { describe, expect, test } from 'vitest';
import { defaultGateway, ipv4ToNumber, networkAddress, numberToIpv4, parseIpv4, parseIpv4Cidr } from '../../src/net/ipv4.js';

describe('parseIpv4 (strict, as inet_pton)', () => {
  test.each(['1.2.3.4', '0.0.0.0', '255.255.255.255', '172.31.176.249', '10.0.0.10', '192.168.100.1'])(
    '%j is accepted verbatim',
    (text) => {
      expect(parseIpv4(text)).toBe(text);
    },
  );

  test.each([
    ' 1.2.3.4',
    '1.2.3.4 ',
    '1.2.3.4\n',
    '01.2.3.4',
    '1.2.3.04',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '1.2.3.256',
    '1.2.3.-1',
    '1..3.4',
    '1.2.3.',
    '',
    '0x1.2.3.4',
    '16909060',
    '1.2.3.4/24',
    '+1.2.3.4',
    'a.b.c.d',
    '::1',
    '١.2.3.4',
  ])('%j is rejected', (text) => {
    expect(parseIpv4(text)).toBeUndefined();
  });
});

describe('parseIpv4Cidr', () => {
  test.each([
    ['172.31.16.0/20', { address: '172.31.16.0', prefix: 20 }],
    ['10.0.0.0/0', { address: '10.0.0.0', prefix: 0 }],
    ['10.0.0.5/32', { address: '10.0.0.5', prefix: 32 }],
    ['10.0.0.5/ 24 ', { address: '10.0.0.5', prefix: 24 }],
    ['10.0.0.5/\t8', { address: '10.0.0.5', prefix: 8 }],
    ['10.0.0.5/08', { address: '10.0.0.5', prefix: 8 }],
    ['10.0.0.5/00', { address: '10.0.0.5', prefix: 0 }],
  ])('%j → %o', (text, expected) => {
    expect(parseIpv4Cidr(text)).toEqual(expected);
  });

  test.each([
    // Upstream accepts this with prefix -1 (then 255 in EC2/OCI, which crashes): intentionally invalid here.
    ['missing "/"', '10.0.0.0'],
    ['empty prefix', '10.0.0.0/'],
    ['/33', '10.0.0.0/33'],
    ['/-1', '10.0.0.0/-1'],
    ['/100', '10.0.0.0/100'],
    ['/+8', '10.0.0.0/+8'],
    ['hex prefix', '10.0.0.0/0x8'],
    ['netmask instead of prefix', '10.0.0.0/255.0.0.0'],
    ['two slashes', '10.0.0.0/8/8'],
    ['whitespace before the address', ' 10.0.0.0/8'],
    ['whitespace between address and "/"', '10.0.0.0 /8'],
    ['bad address', '10.0.0.256/8'],
    ['empty', ''],
    ['only a prefix', '/8'],
  ])('%s (%j) → undefined', (_name, text) => {
    expect(parseIpv4Cidr(text)).toBeUndefined();
  });
});

describe('ipv4ToNumber / numberToIpv4', () => {
  test.each([
    ['0.0.0.0', 0],
    ['0.0.0.1', 1],
    ['1.2.3.4', 0x01020304],
    ['255.255.255.255', 0xffffffff],
    ['172.31.160.1', 0xac1fa001],
  ])('%s ↔ %i', (address, value) => {
    expect(ipv4ToNumber(address)).toBe(value);
    expect(numberToIpv4(value)).toBe(address);
  });
});

describe('networkAddress', () => {
  test.each([
    ['172.31.176.249', 20, '172.31.176.0'],
    ['172.31.166.0', 20, '172.31.160.0'],
    ['192.168.1.77', 24, '192.168.1.0'],
    ['192.168.1.77', 25, '192.168.1.0'],
    ['192.168.1.177', 25, '192.168.1.128'],
    ['10.0.0.255', 31, '10.0.0.254'],
    ['10.0.0.255', 32, '10.0.0.255'],
    ['255.255.255.255', 1, '128.0.0.0'],
    ['255.255.255.255', 0, '0.0.0.0'],
    ['1.2.3.4', 0, '0.0.0.0'],
  ])('%s/%i → %s', (address, prefix, expected) => {
    expect(networkAddress(address, prefix)).toBe(expected);
  });
});

describe('defaultGateway: network address, +1 on the last octet without carry, unless /32', () => {
  test.each([
    // Upstream's worked example: the gateway comes from the CIDR block.
    ['172.31.166.0', 20, '172.31.160.1'],
    ['172.31.16.0', 20, '172.31.16.1'],
    ['10.0.1.5', 24, '10.0.1.1'],
    ['10.0.0.0', 8, '10.0.0.1'],
    ['0.0.0.0', 0, '0.0.0.1'],
    ['255.255.255.255', 0, '0.0.0.1'],
    // /32: no +1, the address itself (EC2 and Azure give no gateway).
    ['10.0.0.9', 32, '10.0.0.9'],
    ['10.0.0.255', 32, '10.0.0.255'],
    // /31: network 10.0.0.254, +1 = .255 (no carry needed).
    ['10.0.0.255', 31, '10.0.0.255'],
    ['10.0.0.128', 25, '10.0.0.129'],
  ])('%s/%i → %s', (address, prefix, expected) => {
    expect(defaultGateway({ address, prefix })).toBe(expected);
  });

  test('the +1 never carries into the third octet', () => {
    // With a prefix <= 31 the network's last octet is even, so the only way to reach .255 + 1 is /32,
    // which is exempt; check every prefix that the third octet never changes.
    for (let prefix = 24; prefix <= 32; prefix++) {
      const gateway = defaultGateway({ address: '10.0.7.255', prefix });
      expect(gateway.startsWith('10.0.7.')).toBe(true);
    }
  });
});
