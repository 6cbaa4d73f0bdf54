// SPDX-License-Identifier: LGPL-2.1-or-later
import { randomBytes } from 'node:crypto';
import { Agent, type ClientRequestArgs } from 'node:http';
import type { Duplex } from 'node:stream';
import { got, RequestError, TimeoutError } from 'got';
import { CancelledError, CloudSetupError, errorMessage, NotReadyError, PollTimeoutError, TRANSPORT_CODES } from './errors.js';
import type { Logger } from './log.js';
import { SocketPool } from './socket-pool.js';

/** One HTTP attempt against a metadata server. */
export interface HttpRequest {
  readonly url: string;
  /** Defaults to GET. */
  readonly method?: 'GET' | 'PUT';
  readonly headers?: Readonly<Record<string, string>>;
  /** Per-attempt deadline, upstream's GLib timer ("HTTP request timed out"). */
  readonly timeoutMs: number;
  /** A body larger than this fails the attempt; it is never truncated. */
  readonly maxBytes: number;
  /** Keeps the body out of trace logs (the EC2 token). */
  readonly sensitive?: boolean;
  readonly signal?: AbortSignal;
}

/** A completed request: any HTTP status counts as completed; callers interpret it. */
export interface HttpResponse {
  readonly status: number;
  readonly body: Buffer;
}

/** How to repeat a request until it is ready, as upstream's nm_http_client_poll_req(). */
export interface PollOptions {
  /** The poll fails with "timeout expired" once this has passed. */
  readonly overallMs: number;
  /** Minimum spacing between attempt starts. */
  readonly intervalMs: number;
  /** Defaults to "status is 200". */
  readonly isReady?: (response: HttpResponse) => boolean;
}

/** The metadata HTTP seam: real implementation below, nock or a loopback server in tests. */
export interface MetadataHttp {
  /** Sends one request; rejects on transport errors, per-attempt timeout, oversized body, or abort. */
  request(request: HttpRequest): Promise<HttpResponse>;
  /** Repeats `request` until ready; rejects with PollTimeoutError or CancelledError. */
  poll(request: HttpRequest, options: PollOptions): Promise<HttpResponse>;
  /**
   * Opens `count` connections to the origin of `url` ahead of requests that will need them in
   * parallel (src/socket-pool.ts); sends nothing. A client that cannot (a test double) does nothing.
   */
  preconnect(url: string, count: number): void;
  /** Drops kept-alive connections so the process can exit. */
  close(): void;
}

/** Most connections to one metadata server at a time; providers bound their requests in flight to it. */
export const MAX_SOCKETS = 32;

/** A transport-level failure of one attempt (reset, refused, timeout, oversized body). */
export class HttpAttemptError extends CloudSetupError {
  override name = 'HttpAttemptError';
  override readonly code = 'ERR_HTTP_ATTEMPT';
  /** Short and stable: `connection refused`, `connection reset`, `timed out`, `response body too large`. */
  readonly reason: string;

  constructor(message: string, options?: { cause?: unknown; reason?: string }) {
    super(message, options);
    this.reason = options?.reason ?? message;
  }
}

export interface MetadataHttpOptions {
  readonly log: Logger;
  /** Multiplies every upstream timeout; tests shrink them, production keeps 1. */
  readonly timeScale?: number;
  /** Connections opened before this client was loaded (src/cli.ts); the agent uses them first. */
  readonly sockets?: SocketPool;
}

/** Creates the got-based MetadataHttp: no redirects, no proxies, no retries of its own, capped bodies. */
export function createMetadataHttp({ log, timeScale = 1, sockets = new SocketPool() }: MetadataHttpOptions): MetadataHttp {
  // Our own agent so close() can drop its sockets; keep-alive reuses the connection for the
  // token PUT and the GETs that follow, as curl's multi handle does upstream.
  const agent = new Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
  const connectFresh = agent.createConnection.bind(agent);
  // A connection opened ahead (SocketPool) serves as a new one would.
  agent.createConnection = (options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void) =>
    sockets.take(options.host ?? 'localhost', Number(options.port ?? 80)) ?? connectFresh(options, callback);
  const client = got.extend({
    agent: { http: agent },
    retry: { limit: 0 },
    followRedirect: false,
    throwHttpErrors: false,
    // curl sends no Accept-Encoding and decodes nothing; neither do we.
    decompress: false,
    responseType: 'buffer',
    // Node's http ignores http_proxy & co., like upstream under systemd; got adds no proxy agent.
    headers: { 'user-agent': undefined, accept: '*/*' },
  });

  const request = async (req: HttpRequest): Promise<HttpResponse> => {
    // Only the debug and trace lines carry the prefix: its random id is drawn only when they
    // print (node:crypto, loaded on first use by the build, costs about 0.7 MiB of RSS and 4 ms
    // of CPU otherwise).
    const prefix = log.isEnabled('debug') ? `http-request[${randomBytes(8).toString('hex')}, "${req.url}"]: ` : '';
    log.debug(`${prefix}start ${req.method ?? 'get'} ...`);
    const oversize = new AbortController();
    const signal = req.signal === undefined ? oversize.signal : AbortSignal.any([req.signal, oversize.signal]);
    try {
      const pending = client(req.url, {
        method: req.method ?? 'GET',
        headers: { ...req.headers },
        timeout: { request: Math.max(1, Math.round(req.timeoutMs * timeScale)) },
        signal,
      });
      void pending.on('downloadProgress', (progress: { transferred: number }) => {
        if (progress.transferred > req.maxBytes) oversize.abort();
      });
      const response = await pending;
      const body = response.rawBody;
      if (body.length > req.maxBytes) throw new HttpAttemptError('response body too large');
      log.debug(`${prefix}success getting ${body.length} bytes (response code ${response.statusCode})`);
      if (log.isEnabled('trace')) {
        const shown = req.sensitive === true ? '<redacted>' : escapeBody(body);
        log.trace(`${prefix}received ${body.length} bytes: [[${shown}]]`);
      }
      return { status: response.statusCode, body };
    } catch (error) {
      throw attemptFailure(error, { log, prefix, req, oversized: oversize.signal.aborted });
    }
  };

  const poll = (req: HttpRequest, options: PollOptions): Promise<HttpResponse> => pollRequest(request, req, options, { log, timeScale });

  return {
    request,
    poll,
    preconnect: (url, count) => sockets.open(url, count),
    close: () => {
      agent.destroy();
      sockets.close();
    },
  };
}

/** The error one failed attempt rejects with, logged as upstream's debug line. */
function attemptFailure(
  error: unknown,
  { log, prefix, req, oversized }: { log: Logger; prefix: string; req: HttpRequest; oversized: boolean },
): Error {
  if (req.signal?.aborted === true) {
    log.trace(`${prefix}cancelled`);
    return new CancelledError();
  }
  if (oversized || error instanceof HttpAttemptError) {
    log.debug(`${prefix}failed with response body larger than ${req.maxBytes} bytes`);
    return new HttpAttemptError('response body too large', { cause: error });
  }
  if (error instanceof TimeoutError) {
    log.debug(`${prefix}failed with HTTP request timed out`);
    return new HttpAttemptError('HTTP request timed out', { cause: error, reason: 'timed out' });
  }
  const text = error instanceof RequestError ? `${error.code}: ${error.message}` : errorMessage(error);
  log.debug(`${prefix}failed with "${text}"`);
  const reason = error instanceof RequestError ? TRANSPORT_CODES[error.code] : undefined;
  return new HttpAttemptError(text, { cause: error, ...(reason === undefined ? {} : { reason }) });
}

/** Upstream's nm_http_client_poll_req(): repeats `request` until ready or the overall deadline. */
async function pollRequest(
  request: (req: HttpRequest) => Promise<HttpResponse>,
  req: HttpRequest,
  options: PollOptions,
  { log, timeScale }: { log: Logger; timeScale: number },
): Promise<HttpResponse> {
  const isReady = options.isReady ?? ((response: HttpResponse) => response.status === 200);
  const intervalMs = options.intervalMs * timeScale;
  const expired = new AbortController();
  const timer = setTimeout(() => expired.abort(), options.overallMs * timeScale);
  const signal = req.signal === undefined ? expired.signal : AbortSignal.any([req.signal, expired.signal]);
  let attempts = 0;
  // The last attempt that completed: upstream says only "timeout expired" and drops it; our own
  // reports (status, plan, state.json, debug lines) say how it ended.
  let lastError: unknown;
  const giveUp = (): Error => {
    if (req.signal?.aborted === true) return new CancelledError();
    // No attempt finished before the deadline: the server did not answer in time.
    const last = lastError === undefined ? 'timed out' : attemptReason(lastError);
    log.debug(`poll "${req.url}": timeout expired after ${attempts} attempts (last attempt: ${last})`);
    return new PollTimeoutError({ cause: lastError, lastAttempt: last });
  };
  try {
    for (;;) {
      const started = monotonicMs();
      attempts++;
      try {
        const response = await request({ ...req, signal });
        if (isReady(response)) return response;
        lastError = new NotReadyError(response.status);
      } catch (error) {
        // An attempt the deadline cut short says nothing new: keep how the one before ended.
        if (!signal.aborted) lastError = error;
      }
      if (signal.aborted) throw giveUp();
      const wait = Math.max(1, started + intervalMs - monotonicMs());
      await sleep(wait, signal);
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- it may abort during the sleep
      if (signal.aborted) throw giveUp();
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The monotonic clock in ms, as performance.now() reads it (from another origin); the global
 * `performance` would load node's perf_hooks on first use, about 0.25 MiB and 1 ms of every run
 * (docs/performance.md).
 */
function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** How one failed attempt ended, in words. */
function attemptReason(error: unknown): string {
  if (error instanceof NotReadyError) return error.status === 200 ? 'HTTP status 200, not ready' : error.message;
  return error instanceof HttpAttemptError ? error.reason : errorMessage(error);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Escapes a body for a trace line: printable ASCII as is, everything else as \ooo. */
function escapeBody(body: Buffer): string {
  let text = '';
  for (const byte of body) {
    if (byte === 0x5c) text += '\\\\';
    else if (byte >= 0x20 && byte < 0x7f) text += String.fromCharCode(byte);
    else text += `\\${byte.toString(8).padStart(3, '0')}`;
  }
  return text;
}
