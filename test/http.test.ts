// SPDX-License-Identifier: LGPL-2.1-or-later
// The got-based MetadataHttp against real loopback servers (node:http and, for the wire checks, node:net).
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { CancelledError, errorDetail, MetadataError, PollTimeoutError } from '../src/errors.js';
import { createMetadataHttp, HttpAttemptError, type MetadataHttp } from '../src/http.js';
import { createLogger } from '../src/log.js';

/** Shrinks upstream's 3 s / 7 s / 1 s to 150 ms / 350 ms / 50 ms. */
const SCALE = 0.05;
const ATTEMPT_MS = 3000;
const OVERALL_MS = 7000;
const INTERVAL_MS = 1000;

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Hit {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly at: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse, attempt: number) => void;

/** A node:http server on 127.0.0.1:0 that records every request and answers with `handler`. */
async function startServer(handler: Handler): Promise<{ base: string; hits: Hit[] }> {
  const hits: Hit[] = [];
  const server = createHttpServer((req, res) => {
    hits.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, at: performance.now() });
    handler(req, res, hits.length);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

/** A node:net server that captures each request's raw bytes up to the end of the headers and answers `ok`. */
async function startRawServer(): Promise<{ base: string; requests: string[] }> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server: NetServer = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let raw = '';
    socket.on('data', (data) => {
      raw += data.toString('latin1');
      const end = raw.indexOf('\r\n\r\n');
      if (end < 0) return;
      // Keep anything after the head too: a body would show up here.
      setTimeout(() => {
        requests.push(raw);
        raw = '';
        socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok');
      }, 20);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

function makeHttp(level: 'trace' | 'debug' = 'trace'): { http: MetadataHttp; lines: string[] } {
  const lines: string[] = [];
  const log = createLogger({ level, sink: (line) => lines.push(line), clock: () => 0n });
  const http = createMetadataHttp({ log, timeScale: SCALE });
  cleanups.push(() => http.close());
  return { http, lines };
}

/**
 * Per-attempt timeout of the requests below unless a test is about that timeout: 1 s scaled, so
 * an answer that should arrive is not cut short on a loaded machine (150 ms was, sometimes).
 */
const PATIENT_MS = 20_000;

const get = (url: string, extra: { maxBytes?: number; signal?: AbortSignal; sensitive?: boolean; timeoutMs?: number } = {}) => ({
  url,
  timeoutMs: extra.timeoutMs ?? PATIENT_MS,
  maxBytes: extra.maxBytes ?? 1024,
  ...(extra.signal === undefined ? {} : { signal: extra.signal }),
  ...(extra.sensitive === undefined ? {} : { sensitive: extra.sensitive }),
});

const POLL = { overallMs: OVERALL_MS, intervalMs: INTERVAL_MS };

function reply(res: ServerResponse, status: number, body = ''): void {
  res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

describe('request', () => {
  test('200 resolves with status and the exact body bytes', async () => {
    const body = Buffer.from([0x30, 0x0a, 0x00, 0xff, 0x5c]);
    const { base, hits } = await startServer((_req, res) => {
      res.writeHead(200, { 'Content-Length': body.length });
      res.end(body);
    });
    const { http } = makeHttp();
    const response = await http.request(get(`${base}/latest/meta-data/`));
    expect(response.status).toBe(200);
    expect(Buffer.compare(response.body, body)).toBe(0);
    expect(hits).toHaveLength(1);
    expect(hits[0]?.method).toBe('GET');
    expect(hits[0]?.url).toBe('/latest/meta-data/');
  });

  test.each([404, 500, 403])('%i resolves (any status is a completed request)', async (status) => {
    const { base } = await startServer((_req, res) => reply(res, status, 'nope'));
    const { http } = makeHttp();
    const response = await http.request(get(`${base}/x`));
    expect(response.status).toBe(status);
    expect(response.body.toString()).toBe('nope');
  });

  test('302 is returned as is: the redirect is not followed', async () => {
    const { base, hits } = await startServer((req, res) => {
      if (req.url === '/target') {
        reply(res, 200, 'followed');
        return;
      }
      res.writeHead(302, { Location: '/target', 'Content-Length': 0 });
      res.end();
    });
    const { http } = makeHttp();
    const response = await http.request(get(`${base}/start`));
    expect(response.status).toBe(302);
    expect(hits.map((hit) => hit.url)).toEqual(['/start']);
  });

  test('a server that never answers fails the attempt after the scaled per-attempt timeout', async () => {
    const { base } = await startServer(() => {});
    const { http, lines } = makeHttp();
    const started = performance.now();
    const error: unknown = await http.request(get(`${base}/slow`, { timeoutMs: ATTEMPT_MS })).catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(HttpAttemptError);
    expect((error as Error).message).toBe('HTTP request timed out');
    expect(elapsed).toBeGreaterThanOrEqual(ATTEMPT_MS * SCALE * 0.8);
    expect(elapsed).toBeLessThan(ATTEMPT_MS * SCALE + 2000);
    expect(lines.some((line) => line.endsWith(': failed with HTTP request timed out'))).toBe(true);
  });

  test('a connection reset fails the attempt', async () => {
    const { base } = await startServer((req) => req.socket.destroy());
    const { http, lines } = makeHttp();
    const error: unknown = await http.request(get(`${base}/reset`)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpAttemptError);
    expect(lines.some((line) => /: failed with ".+"$/.test(line))).toBe(true);
  });

  test('a refused connection fails the attempt', async () => {
    const { base } = await startServer(() => {});
    const port = Number(new URL(base).port);
    await cleanups.pop()?.();
    const { http } = makeHttp();
    await expect(http.request(get(`http://127.0.0.1:${port}/x`))).rejects.toBeInstanceOf(HttpAttemptError);
  });

  describe('body size limit: an oversized body fails the attempt, never a truncated success', () => {
    test('a body of exactly maxBytes succeeds', async () => {
      const { base } = await startServer((_req, res) => reply(res, 200, 'x'.repeat(1024)));
      const { http } = makeHttp();
      const response = await http.request(get(`${base}/x`, { maxBytes: 1024 }));
      expect(response.body.length).toBe(1024);
    });

    test('with Content-Length', async () => {
      const { base } = await startServer((_req, res) => reply(res, 200, 'x'.repeat(1025)));
      const { http, lines } = makeHttp();
      const error: unknown = await http.request(get(`${base}/x`, { maxBytes: 1024 })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HttpAttemptError);
      expect((error as Error).message).toBe('response body too large');
      expect(lines.some((line) => line.endsWith('failed with response body larger than 1024 bytes'))).toBe(true);
      expect(lines.some((line) => line.includes('success getting'))).toBe(false);
    });

    test('chunked, without Content-Length, larger than the limit in total', async () => {
      const { base } = await startServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        let sent = 0;
        const send = (): void => {
          if (sent >= 64 * 1024) return void res.end();
          sent += 4096;
          res.write('y'.repeat(4096), () => setImmediate(send));
        };
        send();
      });
      const { http, lines } = makeHttp();
      const error: unknown = await http.request(get(`${base}/x`, { maxBytes: 10_000 })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HttpAttemptError);
      expect((error as Error).message).toBe('response body too large');
      expect(lines.some((line) => line.includes('success getting'))).toBe(false);
    });

    test('chunked, one chunk over the limit, then the server stalls', async () => {
      const { base } = await startServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.write('z'.repeat(2048));
        // Never ends: only the size check can stop this attempt before its timeout.
      });
      const { http } = makeHttp();
      const started = performance.now();
      // A 60 s attempt (3 s scaled): ending well before it proves the size check cut the transfer.
      const request = { ...get(`${base}/x`, { maxBytes: 1024 }), timeoutMs: 60_000 };
      const error: unknown = await http.request(request).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HttpAttemptError);
      expect((error as Error).message).toBe('response body too large');
      expect(performance.now() - started).toBeLessThan(1500);
    });
  });

  test('an aborted signal rejects with CancelledError at once', async () => {
    const { base } = await startServer(() => {});
    const { http, lines } = makeHttp();
    const controller = new AbortController();
    const started = performance.now();
    const pending = http.request({ ...get(`${base}/x`, { signal: controller.signal }), timeoutMs: 60_000 });
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
    // Far below the 3 s (scaled) attempt timeout.
    expect(performance.now() - started).toBeLessThan(1500);
    expect(lines.some((line) => line.includes('<trace>') && line.endsWith(': cancelled'))).toBe(true);
  });

  test('an already aborted signal rejects with CancelledError', async () => {
    const { base, hits } = await startServer((_req, res) => reply(res, 200, 'x'));
    const { http } = makeHttp();
    await expect(http.request(get(`${base}/x`, { signal: AbortSignal.abort() }))).rejects.toBeInstanceOf(CancelledError);
    expect(hits).toHaveLength(0);
  });
});

describe('poll', () => {
  test('resolves with the first 200', async () => {
    const { base, hits } = await startServer((_req, res) => reply(res, 200, 'hello'));
    const { http } = makeHttp();
    const response = await http.poll(get(`${base}/x`), POLL);
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('hello');
    expect(hits).toHaveLength(1);
  });

  test('500 then 200: retried, attempt starts spaced by at least the scaled interval', async () => {
    const { base, hits } = await startServer((_req, res, attempt) => (attempt < 3 ? reply(res, 500, 'busy') : reply(res, 200, 'ready')));
    // Attempt starts are taken on the client (the "start get" lines), not at the server, where a
    // loaded machine can bunch arrivals together.
    const starts: number[] = [];
    const log = createLogger({
      level: 'debug',
      sink: (line) => {
        if (line.endsWith('start get ...')) starts.push(performance.now());
      },
      clock: () => 0n,
    });
    const http = createMetadataHttp({ log, timeScale: SCALE });
    cleanups.push(() => http.close());
    const response = await http.poll(get(`${base}/x`), POLL);
    expect(response.body.toString()).toBe('ready');
    expect(hits).toHaveLength(3);
    expect(starts).toHaveLength(3);
    for (let i = 1; i < starts.length; i++) {
      const gap = (starts[i] ?? 0) - (starts[i - 1] ?? 0);
      // Without the spacing the next attempt would start ~1 ms later (500 answers at once); half the
      // interval leaves room for a loaded machine pausing between an attempt's start and its log line.
      expect(gap).toBeGreaterThanOrEqual(INTERVAL_MS * SCALE * 0.5);
      expect(gap).toBeLessThan(INTERVAL_MS * SCALE + 1000);
    }
  });

  test('404 is retried until the overall timeout, then "timeout expired"', async () => {
    const { base, hits } = await startServer((_req, res) => reply(res, 404, 'not found'));
    const { http } = makeHttp();
    const started = performance.now();
    const error: unknown = await http.poll(get(`${base}/x`), POLL).catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(PollTimeoutError);
    expect((error as Error).message).toBe('timeout expired');
    expect(elapsed).toBeGreaterThanOrEqual(OVERALL_MS * SCALE * 0.8);
    expect(elapsed).toBeLessThan(OVERALL_MS * SCALE + 2000);
    // 350 ms window, one attempt per 50 ms at most: several attempts, never a burst.
    expect(hits.length).toBeGreaterThanOrEqual(3);
    expect(hits.length).toBeLessThanOrEqual(OVERALL_MS / INTERVAL_MS + 1);
  });

  test('a custom isReady decides; the last response is returned', async () => {
    const { base, hits } = await startServer((_req, res, attempt) => reply(res, 200, `v${attempt}`));
    const { http } = makeHttp();
    const response = await http.poll(get(`${base}/x`), {
      ...POLL,
      isReady: (candidate) => candidate.body.toString() === 'v2',
    });
    expect(response.body.toString()).toBe('v2');
    expect(hits).toHaveLength(2);
  });

  test('302 is not ready and never followed', async () => {
    const { base, hits } = await startServer((req, res) => {
      if (req.url === '/target') {
        reply(res, 200, 'followed');
        return;
      }
      res.writeHead(302, { Location: '/target', 'Content-Length': 0 });
      res.end();
    });
    const { http } = makeHttp();
    await expect(http.poll(get(`${base}/start`), POLL)).rejects.toBeInstanceOf(PollTimeoutError);
    expect(hits.length).toBeGreaterThanOrEqual(2);
    expect(hits.every((hit) => hit.url === '/start')).toBe(true);
  });

  test('a hung attempt times out and the next one starts at once', async () => {
    const { base, hits } = await startServer((_req, res, attempt) => {
      if (attempt > 1) reply(res, 200, 'late');
    });
    const { http } = makeHttp();
    // 150 ms per attempt, 50 ms spacing, overall long enough for a second attempt.
    const response = await http.poll(get(`${base}/x`, { timeoutMs: ATTEMPT_MS }), { overallMs: 10_000, intervalMs: INTERVAL_MS });
    expect(response.body.toString()).toBe('late');
    expect(hits).toHaveLength(2);
    // Measured at the server, where arrivals jitter on a loaded machine: hence the loose bounds.
    const gap = (hits[1]?.at ?? 0) - (hits[0]?.at ?? 0);
    expect(gap).toBeGreaterThanOrEqual(ATTEMPT_MS * SCALE * 0.5);
    expect(gap).toBeLessThan(ATTEMPT_MS * SCALE + 1000);
  });

  test('a server that never answers: the overall timeout wins with "timeout expired"', async () => {
    const { base, hits } = await startServer(() => {});
    const { http } = makeHttp();
    const started = performance.now();
    const error: unknown = await http.poll(get(`${base}/x`, { timeoutMs: ATTEMPT_MS }), POLL).catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    expect(error).toBeInstanceOf(PollTimeoutError);
    expect((error as Error).message).toBe('timeout expired');
    expect(elapsed).toBeGreaterThanOrEqual(OVERALL_MS * SCALE * 0.8);
    expect(elapsed).toBeLessThan(OVERALL_MS * SCALE + 2000);
    // 350 ms of 150 ms attempts: two or three of them.
    expect(hits.length).toBeGreaterThanOrEqual(2);
  });

  test('a connection reset is retried', async () => {
    const { base, hits } = await startServer((req, res, attempt) =>
      attempt === 1 ? req.socket.destroy() : reply(res, 200, 'after reset'),
    );
    const { http } = makeHttp();
    const response = await http.poll(get(`${base}/x`), POLL);
    expect(response.body.toString()).toBe('after reset');
    expect(hits).toHaveLength(2);
  });

  test('an oversized body is retried, then succeeds when it fits', async () => {
    const { base, hits } = await startServer((_req, res, attempt) => reply(res, 200, attempt === 1 ? 'x'.repeat(2000) : 'small'));
    const { http } = makeHttp();
    const response = await http.poll(get(`${base}/x`, { maxBytes: 1024 }), POLL);
    expect(response.body.toString()).toBe('small');
    expect(hits).toHaveLength(2);
  });

  test('an always oversized body ends in "timeout expired"', async () => {
    const { base } = await startServer((_req, res) => reply(res, 200, 'x'.repeat(2000)));
    const { http } = makeHttp();
    const error: unknown = await http.poll(get(`${base}/x`, { maxBytes: 1024 }), POLL).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PollTimeoutError);
    expect((error as Error).message).toBe('timeout expired');
  });

  test('abort while waiting between attempts rejects with CancelledError quickly', async () => {
    const { base, hits } = await startServer((_req, res) => reply(res, 404));
    const { http } = makeHttp();
    const controller = new AbortController();
    const pending = http.poll(get(`${base}/x`, { signal: controller.signal }), { overallMs: 60_000, intervalMs: 60_000 });
    while (hits.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const aborted = performance.now();
    controller.abort();
    const error: unknown = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CancelledError);
    expect(error).not.toBeInstanceOf(PollTimeoutError);
    expect(performance.now() - aborted).toBeLessThan(500);
  });

  test('abort during an attempt rejects with CancelledError quickly', async () => {
    const { base, hits } = await startServer(() => {});
    const { http } = makeHttp();
    const controller = new AbortController();
    const pending = http.poll(get(`${base}/x`, { signal: controller.signal }), { overallMs: 60_000, intervalMs: 1000 });
    while (hits.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const aborted = performance.now();
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
    expect(performance.now() - aborted).toBeLessThan(500);
  });
});

describe('poll: a timeout says how the last attempt ended', () => {
  const timedOut = async (base: string): Promise<PollTimeoutError> => {
    const { http, lines } = makeHttp('debug');
    // A 1 s window (scaled), so that attempts finish inside it even on a loaded machine.
    const error: unknown = await http.poll(get(`${base}/x`), { overallMs: 20_000, intervalMs: INTERVAL_MS }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PollTimeoutError);
    // Upstream's words stay as they are; the cause is an addition.
    expect((error as Error).message).toBe('timeout expired');
    const lastAttempt = (error as PollTimeoutError).lastAttempt;
    expect(lines.at(-1)).toMatch(
      new RegExp(`poll "${base}/x": timeout expired after \\d+ attempts \\(last attempt: ${lastAttempt ?? ''}\\)$`),
    );
    return error as PollTimeoutError;
  };

  test.each([
    [500, 'HTTP status 500'],
    [404, 'HTTP status 404'],
    [302, 'HTTP status 302'],
  ])('status %i', async (status, lastAttempt) => {
    const { base } = await startServer((_req, res) => reply(res, status, 'x'));
    expect((await timedOut(base)).lastAttempt).toBe(lastAttempt);
  });

  test('connection refused', async () => {
    // A port that was just free: listen on it, then close it.
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    expect((await timedOut(`http://127.0.0.1:${port}`)).lastAttempt).toBe('connection refused');
  });

  test('connection reset', async () => {
    const { base } = await startServer((req) => req.socket.destroy());
    expect((await timedOut(base)).lastAttempt).toBe('connection reset');
  });

  test('no answer: timed out', async () => {
    const { base } = await startServer(() => {});
    expect((await timedOut(base)).lastAttempt).toBe('timed out');
  });

  test("errorDetail() finds it through a wrapping error; errorMessage() stays upstream's", async () => {
    const { base } = await startServer((_req, res) => reply(res, 500, 'x'));
    const wrapped = new MetadataError('failure to get EC2 metadata: timeout expired', { cause: await timedOut(base) });
    expect(errorDetail(wrapped)).toBe('failure to get EC2 metadata: timeout expired (last attempt: HTTP status 500)');
    expect(errorDetail(new Error('plain'))).toBe('plain');
  });
});

describe('on the wire', () => {
  const head = (raw: string): string => raw.slice(0, raw.indexOf('\r\n\r\n'));
  const headerLines = (raw: string): string[] => head(raw).split('\r\n').slice(1);
  const header = (raw: string, name: string): string[] =>
    headerLines(raw)
      .filter((line) => line.toLowerCase().startsWith(`${name.toLowerCase()}:`))
      .map((line) => line.slice(name.length + 1).trim());

  test('GET: no User-Agent, no Accept-Encoding, Accept: */*', async () => {
    const { base, requests } = await startRawServer();
    const { http } = makeHttp();
    const response = await http.request(get(`${base}/latest/meta-data/`));
    expect(response.body.toString()).toBe('ok');
    expect(requests).toHaveLength(1);
    const raw = requests[0] ?? '';
    expect(raw.startsWith('GET /latest/meta-data/ HTTP/1.1\r\n')).toBe(true);
    expect(header(raw, 'User-Agent')).toEqual([]);
    expect(header(raw, 'Accept-Encoding')).toEqual([]);
    expect(header(raw, 'Accept')).toEqual(['*/*']);
    expect(header(raw, 'Host')).toEqual([new URL(base).host]);
  });

  test('PUT carries the custom headers and no body', async () => {
    const { base, requests } = await startRawServer();
    const { http } = makeHttp();
    await http.request({
      url: `${base}/latest/api/token`,
      method: 'PUT',
      headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '180' },
      timeoutMs: ATTEMPT_MS,
      maxBytes: 1024,
    });
    const raw = requests[0] ?? '';
    expect(raw.startsWith('PUT /latest/api/token HTTP/1.1\r\n')).toBe(true);
    expect(header(raw, 'X-aws-ec2-metadata-token-ttl-seconds')).toEqual(['180']);
    expect(header(raw, 'User-Agent')).toEqual([]);
    expect(header(raw, 'Accept-Encoding')).toEqual([]);
    expect(header(raw, 'Accept')).toEqual(['*/*']);
    // Nothing follows the head: the token request has no body.
    expect(raw.slice(raw.indexOf('\r\n\r\n') + 4)).toBe('');
    expect(header(raw, 'Content-Length').every((value) => value === '0')).toBe(true);
    expect(header(raw, 'Transfer-Encoding')).toEqual([]);
  });

  test('GET carries the custom headers verbatim', async () => {
    const { base, requests } = await startRawServer();
    const { http } = makeHttp();
    await http.request({ ...get(`${base}/x`), headers: { 'X-aws-ec2-metadata-token': 'AQAE tok==' } });
    expect(header(requests[0] ?? '', 'X-aws-ec2-metadata-token')).toEqual(['AQAE tok==']);
  });

  test('http_proxy / HTTP_PROXY pointing at a dead proxy are ignored', async () => {
    const names = ['http_proxy', 'HTTP_PROXY', 'all_proxy', 'ALL_PROXY'] as const;
    const saved = names.map((name) => [name, process.env[name]] as const);
    cleanups.push(() => {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    });
    // Port 1 on loopback: nothing listens there, so going through the proxy would fail.
    for (const name of names) process.env[name] = 'http://127.0.0.1:1';
    const { base, requests } = await startRawServer();
    const { http } = makeHttp();
    const response = await http.request(get(`${base}/via-proxy`));
    expect(response.status).toBe(200);
    // A proxied request would carry an absolute URI in the request line.
    expect((requests[0] ?? '').startsWith('GET /via-proxy HTTP/1.1\r\n')).toBe(true);
  });
});

describe('log lines', () => {
  const PREFIX = /^\[0\.0000\] <(debug|trace)> http-request\[([0-9a-f]{16}), "([^"]+)"\]: (.*)$/;

  test('start get / success / received, with one 16-hex id per request', async () => {
    const { base } = await startServer((_req, res) => reply(res, 200, 'ami-id\nmacs/'));
    const { http, lines } = makeHttp();
    await http.request(get(`${base}/a`));
    await http.request(get(`${base}/b`));
    const parsed = lines.map((line) => PREFIX.exec(line));
    expect(parsed.every((match) => match !== null)).toBe(true);
    expect(lines).toHaveLength(6);
    const [first, second] = [parsed.slice(0, 3), parsed.slice(3)];
    for (const [group, path] of [
      [first, '/a'],
      [second, '/b'],
    ] as const) {
      expect(group.map((match) => match?.[3])).toEqual([`${base}${path}`, `${base}${path}`, `${base}${path}`]);
      expect(new Set(group.map((match) => match?.[2])).size).toBe(1);
      expect(group.map((match) => `${match?.[1]} ${match?.[4]}`)).toEqual([
        'debug start get ...',
        'debug success getting 12 bytes (response code 200)',
        // The newline is escaped (octal), so the trace stays one line.
        'trace received 12 bytes: [[ami-id\\012macs/]]',
      ]);
    }
    expect(first[0]?.[2]).not.toBe(second[0]?.[2]);
  });

  test('a PUT logs "start PUT ..."', async () => {
    const { base } = await startServer((_req, res) => reply(res, 200, 'x'));
    const { http, lines } = makeHttp();
    await http.request({ ...get(`${base}/latest/api/token`), method: 'PUT' });
    const withoutId = lines[0]?.replace(/^(.*?http-request\[)[0-9a-f]{16}, /, '$1<id>, ');
    expect(withoutId).toBe(`[0.0000] <debug> http-request[<id>, "${base}/latest/api/token"]: start PUT ...`);
  });

  test('a non-200 status is logged with its code', async () => {
    const { base } = await startServer((_req, res) => reply(res, 404, 'nf'));
    const { http, lines } = makeHttp();
    await http.request(get(`${base}/x`));
    expect(lines.some((line) => line.endsWith(': success getting 2 bytes (response code 404)'))).toBe(true);
  });

  test('a sensitive body is redacted from the trace line and appears nowhere', async () => {
    const token = 'AQAEAFSecretTokenValue==';
    const { base } = await startServer((_req, res) => reply(res, 200, token));
    const { http, lines } = makeHttp();
    const response = await http.request(get(`${base}/latest/api/token`, { sensitive: true }));
    expect(response.body.toString()).toBe(token);
    expect(lines.some((line) => line.endsWith(`: received ${token.length} bytes: [[<redacted>]]`))).toBe(true);
    expect(lines.some((line) => line.includes('SecretToken'))).toBe(false);
  });

  test('a backslash and control bytes are escaped', async () => {
    const { base } = await startServer((_req, res) => {
      res.writeHead(200, { 'Content-Length': 5 });
      res.end(Buffer.from([0x61, 0x5c, 0x0d, 0x00, 0x7f]));
    });
    const { http, lines } = makeHttp();
    await http.request(get(`${base}/x`));
    expect(lines.some((line) => line.endsWith(': received 5 bytes: [[a\\\\\\015\\000\\177]]'))).toBe(true);
  });

  test('at debug level there is no trace line', async () => {
    const { base } = await startServer((_req, res) => reply(res, 200, 'body'));
    const { http, lines } = makeHttp('debug');
    await http.request(get(`${base}/x`));
    expect(lines).toHaveLength(2);
    expect(lines.some((line) => line.includes('received'))).toBe(false);
  });
});
