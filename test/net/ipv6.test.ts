// SPDX-License-Identifier: LGPL-2.1-or-later
import { describe, expect, it, test } from 'vitest';
import { ipv6MaskToPrefix, ipv6NetworkAddress, parseIpv6, parseIpv6Cidr, parseIpv6List } from '../../src/net/ipv6.js';

describe('parseIpv6', () => {
  it.each([
    ['2001:0db8:0000:0000:0000:0000:0000:0005', '2001:db8::5'],
    ['2001:DB8::5', '2001:db8::5'],
    ['fe80::1', 'fe80::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::', '::'],
  ])('%s is %s in canonical text', (text, canonical) => {
    expect(parseIpv6(text)).toBe(canonical);
  });

  it.each(['', ' 2001:db8::5', '2001:db8::5 ', 'fe80::1%eth0', '10.0.0.1', '2001:db8::5/64', '2001:db8:::5', 'g::1'])(
    'rejects %j',
    (text) => {
      expect(parseIpv6(text)).toBeUndefined();
    },
  );
});

describe('parseIpv6Cidr', () => {
  it('canonical address and a prefix 0..128', () => {
    expect(parseIpv6Cidr('2600:1f18:0abc:de00::/64')).toEqual({ address: '2600:1f18:abc:de00::', prefix: 64 });
    expect(parseIpv6Cidr('::/0')).toEqual({ address: '::', prefix: 0 });
    expect(parseIpv6Cidr('2001:db8::1/128')).toEqual({ address: '2001:db8::1', prefix: 128 });
  });

  it.each(['2001:db8::', '2001:db8::/129', '2001:db8::/x', '10.0.0.0/8', '/64'])('rejects %j', (text) => {
    expect(parseIpv6Cidr(text)).toBeUndefined();
  });
});

describe('parseIpv6List and ipv6NetworkAddress', () => {
  it('splits valid from invalid, skipping empty pieces', () => {
    expect(parseIpv6List(['2001:db8::5', '', 'bogus', '2001:DB8::6'])).toEqual({
      ipv6s: ['2001:db8::5', '2001:db8::6'],
      invalid: ['bogus'],
    });
  });

  it('clears the host bits', () => {
    expect(ipv6NetworkAddress('2001:db8:1:2:aaaa:bbbb:cccc:dddd', 64)).toBe('2001:db8:1:2::');
    expect(ipv6NetworkAddress('2001:db8:1:2:aaaa:bbbb:cccc:dddd', 56)).toBe('2001:db8:1::');
  });
});

describe('more cases: parseIpv6', () => {
  test.each([
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    // Two runs of equal length: the leftmost one is compressed (RFC 5952 4.2.3).
    ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
    // A single zero group is never "::" (RFC 5952 4.2.2).
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['fe80::1', 'fe80::1'],
  ])('%s → %s', (text, canonical) => {
    expect(parseIpv6(text)).toBe(canonical);
  });

  test.each(['fe80::1%eth0', '192.0.2.1', '1::2::3', '1:2:3:4:5:6:7:8:9', 'g::1', '', ' ::1', '::ffff:192.0.2.256'])(
    '%j is rejected',
    (text) => {
      expect(parseIpv6(text)).toBeUndefined();
    },
  );
});

describe('more cases: ipv6MaskToPrefix', () => {
  test.each([
    ['ffff:ffff:ffff:ffff::', 64],
    ['::', 0],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 128],
    ['ffff:ffff:ffff:ffff:ffff:ffff:fff0:0', 108],
    ['ffff:ff00::', 24],
    ['ffff::ffff', undefined],
    ['ff00:ff00::', undefined],
    ['255.255.255.0', undefined],
  ])('%s → %s', (mask, prefix) => {
    expect(ipv6MaskToPrefix(mask)).toBe(prefix);
  });
});

describe('more cases: ipv6NetworkAddress', () => {
  test.each([
    ['2001:db8::ff', 120, '2001:db8::'],
    ['2001:db8:ffff::1', 36, '2001:db8:f000::'],
    ['2001:db8::1', 128, '2001:db8::1'],
    ['2001:db8::1', 0, '::'],
  ])('%s/%s → %s', (address, prefix, network) => {
    expect(ipv6NetworkAddress(address, prefix)).toBe(network);
  });
});
