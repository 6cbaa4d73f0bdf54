// SPDX-License-Identifier: LGPL-2.1-or-later

/** Log levels in upstream's order; a message prints when its level is at or above the configured one. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'off'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type MessageLevel = Exclude<LogLevel, 'off'>;

/** Context a JSON line carries besides its message; text lines keep upstream's words only. */
export interface LogFields {
  readonly provider?: string;
  readonly hwaddr?: string;
  readonly device?: string;
}

/** NM_CLOUD_SETUP_LOG_FORMAT: upstream's text lines, or one JSON object per line. */
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** A leveled logger; every line goes to one injected sink. */
export interface Logger {
  readonly level: LogLevel;
  isEnabled(level: MessageLevel): boolean;
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** The same logger, its lines tagged with `fields` (merged over the current ones). */
  with(fields: LogFields): Logger;
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
  return `[${sec}.${frac}] ${TAGS[level]} ${escapeControls(message)}`;
}

// C0 controls, DEL and the C1 controls (U+009B is a CSI on some terminals).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/g;

/**
 * Messages carry bytes from the metadata server ("ignoring invalid address ..."): a CR, ESC
 * or NUL printed raw could overwrite or forge lines on a terminal, so every text line shows
 * control characters as `\ooo`, as upstream's trace lines show body bytes.
 */
export function escapeControls(message: string): string {
  return message.replace(CONTROL_CHARACTERS, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Receives each formatted line without the newline. */
  readonly sink: (line: string) => void;
  /** Nanoseconds since boot. */
  readonly clock: () => bigint;
  /** Default "text". */
  readonly format?: LogFormat;
  /** Wall clock for the JSON "time" field. */
  readonly now?: () => Date;
}

/**
 * One JSON object per line for log shippers: wall-clock time (ISO 8601, UTC), upstream's level
 * word, the message exactly as in text, then whatever context is known.
 */
export function formatJsonLine(time: Date, level: MessageLevel, message: string, fields: LogFields): string {
  return JSON.stringify({ time: time.toISOString(), level, message, ...fields });
}

/** Creates a logger that formats lines as upstream (or as JSON) and drops those below `level`. */
export function createLogger({ level, sink, clock, format = 'text', now = () => new Date() }: LoggerOptions): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const isEnabled = (messageLevel: MessageLevel): boolean => LOG_LEVELS.indexOf(messageLevel) >= threshold;
  const make = (fields: LogFields): Logger => {
    const emit = (messageLevel: MessageLevel) => (message: string) => {
      if (!isEnabled(messageLevel)) return;
      sink(format === 'json' ? formatJsonLine(now(), messageLevel, message, fields) : formatLine(clock(), messageLevel, message));
    };
    return {
      level,
      isEnabled,
      trace: emit('trace'),
      debug: emit('debug'),
      info: emit('info'),
      warn: emit('warn'),
      error: emit('error'),
      with: (more) => make({ ...fields, ...more }),
    };
  };
  return make({});
}
