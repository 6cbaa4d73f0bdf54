// SPDX-License-Identifier: LGPL-2.1-or-later
import { describe, expect, test } from 'vitest';
import { normalizeHwaddr } from '../../src/net/hwaddr.js';

describe('normalizeHwaddr', () => {
  test.each([
    ['cc:00:00:00:00:01', 'CC:00:00:00:00:01'],
    ['CC:00:00:00:00:01', 'CC:00:00:00:00:01'],
    ['0e:49:61:0f:c3:11', '0E:49:61:0F:C3:11'],
    ['a:b:c:d:e:f', '0A:0B:0C:0D:0E:0F'],
    ['A:0:c:00:E:ff', '0A:00:0C:00:0E:FF'],
    ['cc-00-00-00-00-01', 'CC:00:00:00:00:01'],
    ['a-b-c-d-e-f', '0A:0B:0C:0D:0E:0F'],
    ['cc0000000001', 'CC:00:00:00:00:01'],
    ['000D3A0A1B2C', '00:0D:3A:0A:1B:2C'],
    ['  cc:00:00:00:00:01\n', 'CC:00:00:00:00:01'],
    ['\tcc-00-00-00-00-01 ', 'CC:00:00:00:00:01'],
    ['cc:00:00:00:00:01\0', 'CC:00:00:00:00:01'],
    [' cc0000000001\0', 'CC:00:00:00:00:01'],
  ])('%j → %s', (input, expected) => {
    expect(normalizeHwaddr(input)).toBe(expected);
  });

  test.each([
    ['empty', ''],
    ['only whitespace', '   '],
    ['5 octets', 'cc:00:00:00:00'],
    ['7 octets', 'cc:00:00:00:00:01:02'],
    ['mixed separators', 'cc:00-00:00:00:01'],
    ['mixed separators, dash first', 'cc-00:00-00-00-01'],
    ['3-digit octet', 'cc:000:00:00:00:01'],
    ['empty octet', 'cc::00:00:00:01'],
    ['trailing separator', 'cc:00:00:00:00:01:'],
    ['non-hex digit', 'cg:00:00:00:00:01'],
    ['11 hex digits', 'cc000000000'],
    ['13 hex digits', 'cc00000000011'],
    ['embedded NUL', 'cc:00:00\0:00:00:01'],
    ['two trailing NULs', 'cc:00:00:00:00:01\0\0'],
    ['dot separators', 'cc.00.00.00.00.01'],
    ['space separators', 'cc 00 00 00 00 01'],
    ['20-byte InfiniBand address', Array.from({ length: 20 }, () => '80').join(':')],
    ['sign', '+c:00:00:00:00:01'],
  ])('%s (%j) → undefined', (_name, input) => {
    expect(normalizeHwaddr(input)).toBeUndefined();
  });

  test('the result is a fixed point', () => {
    for (const input of ['a:b:c:d:e:f', 'cc-00-00-00-00-01', 'cc0000000001']) {
      const once = normalizeHwaddr(input);
      expect(once).toBeDefined();
      expect(normalizeHwaddr(once ?? '')).toBe(once);
    }
  });
});
