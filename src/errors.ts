// SPDX-License-Identifier: LGPL-2.1-or-later

/** Base class of every failure this tool raises; `code` is stable: scripts and tests match on it. */
export class CloudSetupError extends Error {
  override name = 'CloudSetupError';
  readonly code: string = 'ERR_CLOUD_SETUP';
}

/** The metadata server did not answer as needed (poll window expired, bad data, ...). */
export class MetadataError extends CloudSetupError {
  override name = 'MetadataError';
  override readonly code: string = 'ERR_METADATA';
}

/** A poll gave up because its overall deadline passed; upstream's "timeout expired". */
export class PollTimeoutError extends MetadataError {
  override name = 'PollTimeoutError';
  override readonly code = 'ERR_POLL_TIMEOUT';
  /**
   * How the last attempt that finished (not cut short by the deadline) ended: `HTTP status
   * 500`, `connection refused`, `connection reset`, `timed out` (also when none finished), ...
   * The message stays upstream's bare "timeout expired" (log lines are a contract); reports and
   * debug lines add this (errorDetail()).
   */
  readonly lastAttempt: string | undefined;

  constructor(options?: { cause?: unknown; lastAttempt?: string | undefined }) {
    super('timeout expired', options);
    this.lastAttempt = options?.lastAttempt;
  }
}

/** The metadata server answered, but not with what the poll waited for (upstream retries these). */
export class NotReadyError extends MetadataError {
  override name = 'NotReadyError';
  override readonly code = 'ERR_HTTP_NOT_READY';
  readonly status: number;

  constructor(status: number) {
    super(status === 200 ? 'HTTP status 200, but not a usable answer' : `HTTP status ${status}`);
    this.status = status;
  }
}

/** The operation was aborted by SIGTERM; never logged as a failure. */
export class CancelledError extends CloudSetupError {
  override name = 'CancelledError';
  override readonly code = 'ERR_CANCELLED';

  constructor(message = 'operation was cancelled') {
    super(message);
  }
}

/** A D-Bus call to NetworkManager failed; `dbusName` is the D-Bus error name, when there is one. */
export class NmError extends CloudSetupError {
  override name = 'NmError';
  override readonly code: string = 'ERR_NM';
  readonly dbusName: string | undefined;

  constructor(message: string, options?: { cause?: unknown; dbusName?: string | undefined }) {
    super(message, options);
    this.dbusName = options?.dbusName;
  }
}

/** Reapply refused a stale version id: someone changed the applied connection since we read it. */
export class VersionIdMismatchError extends NmError {
  override name = 'VersionIdMismatchError';
  override readonly code = 'ERR_NM_VERSION_ID_MISMATCH';
}

/** A D-Bus call got no reply in time. */
export class NmTimeoutError extends NmError {
  override name = 'NmTimeoutError';
  override readonly code = 'ERR_NM_TIMEOUT';
}

/** True when `error` is (or wraps) a SIGTERM cancellation. */
export function isCancellation(error: unknown): boolean {
  return error instanceof CancelledError || (error instanceof Error && error.name === 'AbortError');
}

/** The message of any thrown value, for log lines. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Socket and DNS error codes (Node's, which got keeps in `code`), in words for people. */
export const TRANSPORT_CODES: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ETIMEDOUT: 'timed out',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name not found',
};

/** `error` and the causes it wraps, outermost first (at most 8: a cycle cannot hang a log line). */
function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = error; e !== undefined && chain.length < 8; e = e instanceof Error ? e.cause : undefined) chain.push(e);
  return chain;
}

/**
 * Why a metadata request failed, from its last attempt: "connection refused (ECONNREFUSED)",
 * "timed out (ETIMEDOUT)", "HTTP status 404", ... Upstream only ever says "timeout expired"
 * because it drops the cause; we keep it as `cause` (see http.ts poll) and read it here.
 */
export function explainFailure(error: unknown): string {
  const chain = causeChain(error);
  const notReady = chain.find((e): e is NotReadyError => e instanceof NotReadyError);
  if (notReady !== undefined) return notReady.message;
  for (const e of chain) {
    const code = (e as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && TRANSPORT_CODES[code] !== undefined) return `${TRANSPORT_CODES[code]} (${code})`;
  }
  const last = chain.at(-1);
  return last instanceof PollTimeoutError ? 'timed out (no answer)' : errorMessage(last);
}

/**
 * errorMessage() plus how the last HTTP attempt behind it ended, when a poll timed out
 * somewhere along the cause chain: `timeout expired (last attempt: HTTP status 500)`. For
 * our own texts (reports, state.json, debug lines); upstream's log lines keep the bare message.
 */
export function errorDetail(error: unknown): string {
  const timeout = causeChain(error).find((e): e is PollTimeoutError => e instanceof PollTimeoutError && e.lastAttempt !== undefined);
  const message = errorMessage(error);
  return timeout === undefined ? message : `${message} (last attempt: ${timeout.lastAttempt ?? ''})`;
}
