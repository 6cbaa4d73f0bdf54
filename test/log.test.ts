// SPDX-License-Identifier: LGPL-2.1-or-later
import { describe, expect, test } from 'vitest';
import { createLogger, formatLine, LOG_LEVELS, type LogLevel, type MessageLevel } from '../src/log.js';

const MESSAGE_LEVELS: readonly MessageLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];

describe('formatLine', () => {
  test.each([
    [12_034_500_000n, 'info', 'msg', '[12.0345] <info>  msg'],
    [12_034_500_000n, 'warn', 'msg', '[12.0345] <warn>  msg'],
    [12_034_500_000n, 'trace', 'msg', '[12.0345] <trace> msg'],
    [12_034_500_000n, 'debug', 'msg', '[12.0345] <debug> msg'],
    [12_034_500_000n, 'error', 'msg', '[12.0345] <error> msg'],
    // The fraction is whole 100 µs units, truncated and zero padded to four digits.
    [0n, 'info', 'x', '[0.0000] <info>  x'],
    [99_999n, 'info', 'x', '[0.0000] <info>  x'],
    [100_000n, 'info', 'x', '[0.0001] <info>  x'],
    [5_000_100_000n, 'debug', 'x', '[5.0001] <debug> x'],
    [7_050_000_000n, 'debug', 'x', '[7.0500] <debug> x'],
    [1_999_999_999n, 'debug', 'x', '[1.9999] <debug> x'],
    [123_456_789_012_345n, 'error', 'x', '[123456.7890] <error> x'],
  ] as const)('%s ns, %s → %j', (ns, level, message, expected) => {
    expect(formatLine(ns, level, message)).toBe(expected);
  });

  test('the message is printed verbatim, including brackets and quotes', () => {
    expect(formatLine(1_000_000_000n, 'debug', 'http-request[0123456789abcdef, "http://h/x"]: start get ...')).toBe(
      '[1.0000] <debug> http-request[0123456789abcdef, "http://h/x"]: start get ...',
    );
    expect(formatLine(0n, 'info', '')).toBe('[0.0000] <info>  ');
  });

  test.each([
    ['CR (overwrites the line on a terminal)', 'a\rb', 'a\\015b'],
    ['LF (forges a second line)', 'a\n[1.0000] <info>  forged', 'a\\012[1.0000] <info>  forged'],
    ['ESC (terminal control sequences)', '\u001b[2K', '\\033[2K'],
    ['BEL', '\u0007', '\\007'],
    ['NUL', 'a\u0000b', 'a\\000b'],
    ['DEL', '\u007f', '\\177'],
    ['C1 CSI', '\u009b2K', '\\2332K'],
  ])('a control character is escaped, never printed raw: %s', (_, message, shown) => {
    const line = formatLine(0n, 'warn', message);
    expect(line).toBe(`[0.0000] <warn>  ${shown}`);
    // eslint-disable-next-line no-control-regex -- no control character may be left in the line
    expect(line).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });

  test('printable text, backslashes and non-ASCII letters are left as they are', () => {
    expect(formatLine(0n, 'info', 'é \\012 ✓')).toBe('[0.0000] <info>  é \\012 ✓');
  });
});

function capture(level: LogLevel) {
  const lines: string[] = [];
  let now = 3_000_000_000n;
  const log = createLogger({
    level,
    sink: (line) => lines.push(line),
    clock: () => (now += 100_000n),
  });
  return { log, lines };
}

function logAll(log: ReturnType<typeof createLogger>): void {
  log.trace('t');
  log.debug('d');
  log.info('i');
  log.warn('w');
  log.error('e');
}

describe('createLogger', () => {
  test.each([
    ['trace', ['t', 'd', 'i', 'w', 'e']],
    ['debug', ['d', 'i', 'w', 'e']],
    ['info', ['i', 'w', 'e']],
    ['warn', ['w', 'e']],
    ['error', ['e']],
    ['off', []],
  ] as const)('level %s prints %j', (level, expected) => {
    const { log, lines } = capture(level);
    logAll(log);
    expect(lines.map((line) => line.slice(line.lastIndexOf(' ') + 1))).toEqual(expected);
    expect(log.level).toBe(level);
  });

  test.each(LOG_LEVELS)('isEnabled agrees with what level %s prints', (level) => {
    const { log, lines } = capture(level);
    for (const messageLevel of MESSAGE_LEVELS) {
      const before = lines.length;
      log[messageLevel]('x');
      expect(log.isEnabled(messageLevel)).toBe(lines.length > before);
    }
  });

  test('lines are formatted with the injected clock, once per printed message', () => {
    const { log, lines } = capture('trace');
    logAll(log);
    expect(lines).toEqual(['[3.0001] <trace> t', '[3.0002] <debug> d', '[3.0003] <info>  i', '[3.0004] <warn>  w', '[3.0005] <error> e']);
  });

  test('a filtered message neither reads the clock nor reaches the sink', () => {
    let reads = 0;
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', sink: (line) => lines.push(line), clock: () => BigInt(++reads) });
    log.debug('hidden');
    log.info('hidden');
    expect(reads).toBe(0);
    log.warn('shown');
    expect(reads).toBe(1);
    expect(lines).toEqual(['[0.0000] <warn>  shown']);
  });
});

describe('NM_CLOUD_SETUP_LOG_FORMAT=json', () => {
  const time = new Date('2026-11-23T14:00:00.123Z');
  const jsonLogger = (lines: string[]) =>
    createLogger({ level: 'debug', sink: (line) => lines.push(line), clock: () => 5n, format: 'json', now: () => time });

  test('one JSON object per line: time, level, message, then the context that is known', () => {
    const lines: string[] = [];
    const log = jsonLogger(lines);
    log.info('provider ec2 detected');
    log
      .with({ provider: 'ec2' })
      .with({ hwaddr: '0A:00:00:00:00:01', device: 'eth0' })
      .debug('config device 0A:00:00:00:00:01: reapply "x"');
    log.trace('not at debug level');
    expect(lines.map((line) => JSON.parse(line) as unknown)).toEqual([
      { time: '2026-11-23T14:00:00.123Z', level: 'info', message: 'provider ec2 detected' },
      {
        time: '2026-11-23T14:00:00.123Z',
        level: 'debug',
        message: 'config device 0A:00:00:00:00:01: reapply "x"',
        provider: 'ec2',
        hwaddr: '0A:00:00:00:00:01',
        device: 'eth0',
      },
    ]);
  });

  test('a message with quotes, backslashes and newlines stays on one line', () => {
    const lines: string[] = [];
    jsonLogger(lines).warn('bad value "a\\b"\nsecond line');
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('\n');
    expect((JSON.parse(lines[0] ?? '') as { message: string }).message).toBe('bad value "a\\b"\nsecond line');
  });

  test('text lines ignore the context: upstream wording, byte for byte', () => {
    const lines: string[] = [];
    createLogger({ level: 'info', sink: (line) => lines.push(line), clock: () => 1_500_000_000n })
      .with({ provider: 'ec2', hwaddr: '0A:00:00:00:00:01' })
      .info('some changes were applied for provider ec2');
    expect(lines).toEqual(['[1.5000] <info>  some changes were applied for provider ec2']);
  });
});
