// SPDX-License-Identifier: LGPL-2.1-or-later
// The pure helpers the providers share: index lists, URL joining, allOrNothing, strict JSON,
// netmask → prefix, and Aliyun's private-ipv4s parser.
import { describe, expect, test } from 'vitest';
import { CancelledError } from '../../src/errors.js';
import { netmaskToPrefix } from '../../src/net/ipv4.js';
import { parsePrivateIpv4s } from '../../src/providers/aliyun.js';
import { allOrNothing, joinUrl, parseIndexList, parseLeafListing } from '../../src/providers/fetch.js';
import { parseJsonStrict } from '../../src/providers/strict-json.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Rejects with CancelledError once `signal` aborts; never resolves otherwise. */
const untilAborted = (signal: AbortSignal): Promise<never> =>
  new Promise((_resolve, reject) => {
    if (signal.aborted) reject(new CancelledError());
    signal.addEventListener('abort', () => reject(new CancelledError()), { once: true });
  });

describe('parseLeafListing', () => {
  test('names per line, trimmed, a subdirectory without its slash', () => {
    expect([...parseLeafListing('device-number\n ipv6s \nipv4-associations/\nlocal-ipv4s')]).toEqual([
      'device-number',
      'ipv6s',
      'ipv4-associations',
      'local-ipv4s',
    ]);
  });
});

describe('parseIndexList', () => {
  test('one index per line, in listing order, with or without trailing newline', () => {
    expect(parseIndexList('0\n1\n', { stripSlash: false })).toEqual([0, 1]);
    expect(parseIndexList('3\n0\n7', { stripSlash: false })).toEqual([3, 0, 7]);
  });

  test('splits on \\n, \\r, \\r\\n and NUL', () => {
    expect(parseIndexList('0\r\n1\r2\n3\u00004', { stripSlash: false })).toEqual([0, 1, 2, 3, 4]);
    // A body followed by the terminating NUL upstream always appends.
    expect(parseIndexList('0/\n1/\n\u0000', { stripSlash: true })).toEqual([0, 1]);
  });

  test('blank lines are skipped, including runs of separators', () => {
    expect(parseIndexList('\n\n0\n\r\n\r\r\n  \n1\n\n', { stripSlash: false })).toEqual([0, 1]);
    expect(parseIndexList('', { stripSlash: true })).toEqual([]);
    expect(parseIndexList('\n', { stripSlash: true })).toEqual([]);
  });

  test('surrounding whitespace around a number is allowed', () => {
    expect(parseIndexList(' 0 \n\t1\t\n', { stripSlash: false })).toEqual([0, 1]);
    expect(parseIndexList(' 2/\n', { stripSlash: true })).toEqual([2]);
  });

  test('non-numbers, negatives, trailing garbage and decimals are skipped', () => {
    expect(parseIndexList('x\n-1\n1x\n2\n1.5\n0x3\n4 5\n', { stripSlash: false })).toEqual([2]);
  });

  test('large numbers are parsed as decimal, leading zeros included', () => {
    expect(parseIndexList('10\n007\n1023\n', { stripSlash: false })).toEqual([10, 7, 1023]);
  });

  test('stripSlash drops exactly one trailing "/"', () => {
    expect(parseIndexList('0/\n1/\n2\n3//\n', { stripSlash: true })).toEqual([0, 1, 2]);
  });

  test('without stripSlash, "0/" is not an index (GCP forwarded-ips)', () => {
    expect(parseIndexList('0/\n1/\n', { stripSlash: false })).toEqual([]);
    expect(parseIndexList('0/\n1\n', { stripSlash: false })).toEqual([1]);
  });

  test('a "/" in the middle is never stripped', () => {
    expect(parseIndexList('1/2\n/3\n', { stripSlash: true })).toEqual([]);
  });
});

describe('joinUrl', () => {
  test('inserts "/" when the path does not start with one', () => {
    expect(joinUrl('http://169.254.169.254', 'latest/api/token')).toBe('http://169.254.169.254/latest/api/token');
  });

  test('no duplicate "/" when the first component starts with one', () => {
    expect(joinUrl('http://169.254.169.254', '/latest/api/token')).toBe('http://169.254.169.254/latest/api/token');
  });

  test('components are concatenated with nothing in between', () => {
    expect(joinUrl('http://metadata.google.internal', '/computeMetadata/v1/instance', '/network-interfaces/', '0/mac')).toBe(
      'http://metadata.google.internal/computeMetadata/v1/instance/network-interfaces/0/mac',
    );
    expect(joinUrl('http://h', '/metadata/instance/network/interface/', '0/macAddress', '?format=text&api-version=2017-04-02')).toBe(
      'http://h/metadata/instance/network/interface/0/macAddress?format=text&api-version=2017-04-02',
    );
    expect(joinUrl('http://h', 'a', 'b', 'c')).toBe('http://h/abc');
  });

  test('the base is used verbatim (a path or port in it is kept)', () => {
    expect(joinUrl('http://127.0.0.1:8080/prefix', '/x')).toBe('http://127.0.0.1:8080/prefix/x');
    expect(joinUrl('http://127.0.0.1:8080/prefix', 'x')).toBe('http://127.0.0.1:8080/prefix/x');
  });
});

describe('allOrNothing', () => {
  const neverAborted = (): AbortSignal => new AbortController().signal;

  test('resolves with every result in task order, not completion order', async () => {
    const results = await allOrNothing(neverAborted(), [
      async () => {
        await sleep(30);
        return 'slow';
      },
      async () => 'fast',
      async () => {
        await sleep(10);
        return 'middle';
      },
    ]);
    expect(results).toEqual(['slow', 'fast', 'middle']);
  });

  test('no tasks resolves to []', async () => {
    await expect(allOrNothing(neverAborted(), [])).resolves.toEqual([]);
  });

  test("the first failure aborts the siblings' signal and is rethrown (not the siblings' cancellations)", async () => {
    const first = new Error('first failure');
    const seen: string[] = [];
    const error: unknown = await allOrNothing(neverAborted(), [
      async (signal) => {
        try {
          return await untilAborted(signal);
        } finally {
          seen.push(`a aborted=${signal.aborted}`);
        }
      },
      async () => {
        await sleep(10);
        throw first;
      },
      async (signal) => {
        try {
          return await untilAborted(signal);
        } finally {
          seen.push(`c aborted=${signal.aborted}`);
        }
      },
    ]).catch((e: unknown) => e);
    expect(error).toBe(first);
    expect(seen.sort()).toEqual(['a aborted=true', 'c aborted=true']);
  });

  test('a later failure does not replace the first one', async () => {
    const first = new Error('first');
    const error: unknown = await allOrNothing(neverAborted(), [
      async () => {
        await sleep(20);
        throw new Error('second');
      },
      async () => {
        await sleep(5);
        throw first;
      },
    ]).catch((e: unknown) => e);
    expect(error).toBe(first);
  });

  test('settles only when every task has settled, even one that ignores the abort', async () => {
    let straggler = 'running';
    const started = performance.now();
    const error: unknown = await allOrNothing(neverAborted(), [
      async () => {
        throw new Error('boom');
      },
      async () => {
        await sleep(60);
        straggler = 'finished';
        return 1;
      },
    ]).catch((e: unknown) => e);
    expect((error as Error).message).toBe('boom');
    expect(straggler).toBe('finished');
    expect(performance.now() - started).toBeGreaterThanOrEqual(50);
  });

  test('aborting the outer signal reaches every task', async () => {
    const outer = new AbortController();
    const pending = allOrNothing(outer.signal, [(signal) => untilAborted(signal), (signal) => untilAborted(signal)]);
    setTimeout(() => outer.abort(), 5);
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
  });

  test('a failure does not abort the outer signal', async () => {
    const outer = new AbortController();
    await expect(
      allOrNothing(outer.signal, [
        async () => {
          throw new Error('x');
        },
      ]),
    ).rejects.toThrow('x');
    expect(outer.signal.aborted).toBe(false);
  });

  test("nested: an inner failure aborts the outer group's siblings too", async () => {
    let siblingAborted = false;
    const error: unknown = await allOrNothing(neverAborted(), [
      (signal) =>
        allOrNothing(signal, [
          async () => {
            await sleep(5);
            throw new Error('inner');
          },
        ]),
      async (signal) => {
        try {
          return await untilAborted(signal);
        } finally {
          siblingAborted = signal.aborted;
        }
      },
    ]).catch((e: unknown) => e);
    expect((error as Error).message).toBe('inner');
    expect(siblingAborted).toBe(true);
  });
});

describe('parseJsonStrict', () => {
  const valid = [
    '[]',
    '{}',
    'null',
    'true',
    'false',
    '0',
    '-0',
    '42',
    '-17',
    '3.25',
    '1e3',
    '1E+3',
    '-2.5e-3',
    '12345678901234567890',
    '""',
    '"plain"',
    '"\\"\\\\\\/\\b\\f\\n\\r\\t"',
    '"\\u00e9\\u0041"',
    '"\\ud83d\\ude00"',
    '"é ünïcode ✓"',
    ' \t\r\n[ 1 , 2 ,\n 3 ] \n',
    '[[[]],[{}],{"a":[{"b":{"c":[null,true,false]}}]}]',
    '{"a":1,"b":"x","c":[1,2,{"d":null}],"e":{"f":{"g":-1.5}}}',
    '[{"a":1},{"a":2}]',
    '{"a":{"a":{"a":1}}}',
    '{"":1," ":2}',
    '[{"vnicId":"ocid1.vnic.x","privateIp":"10.0.0.2","vlanTag":0,"nicIndex":0,"macAddr":"02:00:17:00:00:01","virtualRouterIp":"10.0.0.1","subnetCidrBlock":"10.0.0.0/24"}]',
  ];
  test.each(valid)('valid JSON %s equals JSON.parse', (text) => {
    expect(parseJsonStrict(text)).toStrictEqual(JSON.parse(text));
  });

  test('object key order is kept', () => {
    expect(Object.keys(parseJsonStrict('{"z":1,"a":2,"m":3}') as object)).toEqual(['z', 'a', 'm']);
  });

  test.each([
    ['top level', '{"a":1,"a":2}'],
    ['same value', '{"a":1,"a":1}'],
    ['not adjacent', '{"a":1,"b":2,"a":3}'],
    ['nested object', '{"x":{"k":1,"k":2}}'],
    ['inside an array', '[{"ok":1},{"k":1,"k":2}]'],
    ['deep', '{"a":[{"b":{"c":[{"d":1,"d":null}]}}]}'],
    ['spelled with an escape', '{"a":1,"\\u0061":2}'],
    ['__proto__ twice', '{"__proto__":1,"__proto__":2}'],
    ['empty key twice', '{"":1,"":2}'],
  ])('duplicate keys rejected: %s', (_name, text) => {
    expect(() => parseJsonStrict(text)).toThrow(SyntaxError);
  });

  test('duplicate-key error names the key', () => {
    expect(() => parseJsonStrict('{"privateIp":"10.0.0.2","privateIp":"10.0.0.3"}')).toThrow(/duplicate key "privateIp"/);
  });

  test('"__proto__" is plain data: an own property, the prototype untouched', () => {
    const value = parseJsonStrict('{"__proto__":{"polluted":true},"a":1}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.hasOwn(value, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(value, '__proto__')?.value).toEqual({ polluted: true });
    expect(value['polluted']).toBeUndefined();
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.keys(value)).toEqual(['__proto__', 'a']);
  });

  test.each([
    ['empty', ''],
    ['whitespace only', '  \n'],
    ['trailing garbage after array', '[] x'],
    ['two documents', '{}{}'],
    ['two numbers', '1 2'],
    ['trailing comma in array', '[1,]'],
    ['trailing comma in object', '{"a":1,}'],
    ['missing comma', '[1 2]'],
    ['unclosed array', '[1,2'],
    ['unclosed object', '{"a":1'],
    ['missing colon', '{"a" 1}'],
    ['unquoted key', '{a:1}'],
    ['single quotes', "['a']"],
    ['leading zero', '01'],
    ['leading plus', '+1'],
    ['bare dot', '.5'],
    ['trailing dot', '1.'],
    ['bare exponent', '1e'],
    ['NaN', 'NaN'],
    ['Infinity', 'Infinity'],
    ['truncated literal', 'tru'],
    ['literal with suffix', 'truex'],
    ['raw control char in string', '"a\u0001b"'],
    ['raw newline in string', '"a\nb"'],
    ['invalid escape', '"\\x41"'],
    ['short unicode escape', '"\\u12"'],
    ['unterminated string', '"abc'],
    ['comment', '[1] // x'],
    ['non-JSON whitespace (NBSP)', '\u00a0[]'],
  ])('invalid JSON rejected: %s', (_name, text) => {
    expect(() => parseJsonStrict(text)).toThrow(SyntaxError);
    // Same verdict as the platform parser (which accepts duplicates but nothing here).
    expect(() => JSON.parse(text) as unknown).toThrow(SyntaxError);
  });
});

describe('netmaskToPrefix', () => {
  test('edge values', () => {
    expect(netmaskToPrefix('0.0.0.0')).toBe(0);
    expect(netmaskToPrefix('255.255.255.255')).toBe(32);
    expect(netmaskToPrefix('255.255.240.0')).toBe(20);
    expect(netmaskToPrefix('255.255.255.0')).toBe(24);
    expect(netmaskToPrefix('128.0.0.0')).toBe(1);
    expect(netmaskToPrefix('255.255.255.254')).toBe(31);
  });

  test('every contiguous mask 0..32 maps to its length', () => {
    for (let prefix = 0; prefix <= 32; prefix++) {
      const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
      const mask = [24, 16, 8, 0].map((shift) => (bits >>> shift) & 0xff).join('.');
      expect(netmaskToPrefix(mask), mask).toBe(prefix);
    }
  });

  test.each(['255.0.255.0', '0.255.255.255', '255.255.255.1', '128.0.0.1', '254.255.255.0', '0.0.0.1', '255.255.0.255'])(
    'non-contiguous %s → undefined',
    (mask) => {
      expect(netmaskToPrefix(mask)).toBeUndefined();
    },
  );

  test.each([
    '',
    '255.255.255',
    '255.255.255.0.0',
    '255.255.255.256',
    '255.255.255.00',
    ' 255.255.255.0',
    '255.255.255.0\n',
    '0xff.0.0.0',
    '24',
    'x.x.x.x',
  ])('invalid dotted %j → undefined', (mask) => {
    expect(netmaskToPrefix(mask)).toBeUndefined();
  });
});

describe('parsePrivateIpv4s', () => {
  test('comma-separated form', () => {
    expect(parsePrivateIpv4s('10.0.0.2,10.0.0.3')).toEqual({ ipv4s: ['10.0.0.2', '10.0.0.3'], invalid: [] });
  });

  test('JSON-ish ["a","b"] form, with spaces and a trailing newline', () => {
    expect(parsePrivateIpv4s('["10.0.0.2","10.0.0.3"]')).toEqual({ ipv4s: ['10.0.0.2', '10.0.0.3'], invalid: [] });
    expect(parsePrivateIpv4s('[ "10.0.0.2" , "10.0.0.3" ]\n')).toEqual({ ipv4s: ['10.0.0.2', '10.0.0.3'], invalid: [] });
  });

  test('a single address, plain or bracketed', () => {
    expect(parsePrivateIpv4s('10.0.0.2')).toEqual({ ipv4s: ['10.0.0.2'], invalid: [] });
    expect(parsePrivateIpv4s('["10.0.0.2"]')).toEqual({ ipv4s: ['10.0.0.2'], invalid: [] });
  });

  test('order is kept; empty pieces are ignored', () => {
    expect(parsePrivateIpv4s('10.0.0.9, 10.0.0.2,,10.0.0.5,')).toEqual({ ipv4s: ['10.0.0.9', '10.0.0.2', '10.0.0.5'], invalid: [] });
  });

  test('empty bodies give no addresses', () => {
    expect(parsePrivateIpv4s('')).toEqual({ ipv4s: [], invalid: [] });
    expect(parsePrivateIpv4s('[]')).toEqual({ ipv4s: [], invalid: [] });
  });

  test('invalid pieces are reported separately (strict IPv4 after cleaning)', () => {
    expect(parsePrivateIpv4s('["10.0.0.2","bogus","10.0.0.256","010.0.0.1","10.0.0.3"]')).toEqual({
      ipv4s: ['10.0.0.2', '10.0.0.3'],
      invalid: ['bogus', '10.0.0.256', '010.0.0.1'],
    });
  });
});
