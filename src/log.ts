// SPDX-License-Identifier: LGPL-2.1-or-later

/** Log levels in upstream's order; a message prints when its level is at or above the configured one. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'off'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type MessageLevel = Exclude<LogLevel, 'off'>;

/** A leveled logger; every line goes to one injected sink. */
export interface Logger {
  readonly level: LogLevel;
  isEnabled(level: MessageLevel): boolean;
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

// Upstream's 7-character tags: info and warn carry a trailing space, so two spaces precede the message.
const TAGS: Record<MessageLevel, string> = {
  trace: '<trace>',
  debug: '<debug>',
  info: '<info> ',
  warn: '<warn> ',
  error: '<error>',
};

/**
 * Formats one line as upstream does: `[<sec>.<frac>] <tag> <message>` with CLOCK_BOOTTIME seconds.
 * Upstream prints the fraction as five digits of which the first is always 0 (a printf bug);
 * we print the four digits of 100 µs it meant (docs/differences-from-upstream.md).
 */
export function formatLine(boottimeNs: bigint, level: MessageLevel, message: string): string {
  const sec = boottimeNs / 1_000_000_000n;
  const frac = ((boottimeNs / 100_000n) % 10_000n).toString().padStart(4, '0');
  return `[${sec}.${frac}] ${TAGS[level]} ${message}`;
}

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Receives each formatted line without the newline. */
  readonly sink: (line: string) => void;
  /** Nanoseconds since boot. */
  readonly clock: () => bigint;
}

/** Creates a logger that formats lines as upstream and drops those below `level`. */
export function createLogger({ level, sink, clock }: LoggerOptions): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const isEnabled = (messageLevel: MessageLevel): boolean => LOG_LEVELS.indexOf(messageLevel) >= threshold;
  const emit = (messageLevel: MessageLevel) => (message: string) => {
    if (isEnabled(messageLevel)) sink(formatLine(clock(), messageLevel, message));
  };
  return {
    level,
    isEnabled,
    trace: emit('trace'),
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
  };
}
