// SPDX-License-Identifier: LGPL-2.1-or-later
// Why no cloud was detected: the real providers and the real HTTP client (upstream's timeouts
// shrunk by timeScale) against a closed loopback port, a server that never answers, and one that
// answers 404. The bare run's log lines stay upstream's ("timeout expired"); the DetectFailure
// records, which `plan`, `status` and `fetch` print, name the request and the real cause.
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { readConfig } from '../../src/config.js';
import { explainFailure, NotReadyError, PollTimeoutError } from '../../src/errors.js';
import { createMetadataHttp } from '../../src/http.js';
import { createLogger } from '../../src/log.js';
import { closedLoopbackEndpoint } from '../helpers/closed-endpoint.js';
import { describeNoCloud, detectProvider, type NotDetected } from '../../src/providers/detect.js';
import { PROVIDERS } from '../../src/providers/registry.js';

const SCALE = 0.05;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Accepts connections and never answers. */
async function silentServer(): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** Answers every request with this status. */
async function statusServer(status: number): Promise<number> {
  const server: Server = createServer((_req, res) => res.writeHead(status).end('no'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** Runs detection of the given providers (env names), each pointed at host:port (127.0.0.1 unless given). */
async function detect(
  at: number | { host: string; port: number },
  ...envNames: string[]
): Promise<{ result: NotDetected; lines: string[] }> {
  const { host, port } = typeof at === 'number' ? { host: '127.0.0.1', port: at } : at;
  const lines: string[] = [];
  const log = createLogger({ level: 'info', sink: (line) => lines.push(line.replace(/^\[[^\]]+\] /, '')), clock: () => 0n });
  const http = createMetadataHttp({ log, timeScale: SCALE });
  cleanups.push(() => http.close());
  const env = Object.fromEntries(
    envNames.flatMap((name) => [
      [`NM_CLOUD_SETUP_${name}`, 'yes'],
      [`NM_CLOUD_SETUP_${name}_HOST`, `${host}:${port}`],
    ]),
  );
  const result = await detectProvider(PROVIDERS, readConfig(env), { http, log, signal: new AbortController().signal });
  if (result.provider !== undefined) throw new Error(`unexpectedly detected ${result.provider.name}`);
  return { result, lines };
}

describe('why no cloud was detected', () => {
  it('a closed port: "connection refused"; the log keeps upstream\'s "timeout expired"', async () => {
    const closed = await closedLoopbackEndpoint();
    const { result, lines } = await detect(closed, 'EC2');
    expect(result.tried).toEqual([
      { provider: 'ec2', request: `PUT http://${closed.host}:${closed.port}/latest/api/token`, why: 'connection refused (ECONNREFUSED)' },
    ]);
    expect(lines).toContain('<info>  provider ec2 not detected: failure to get EC2 metadata: timeout expired');
    expect(lines.at(-1)).toBe('<warn>  no provider detected');
  });

  it('a server that never answers: "timed out"', async () => {
    const port = await silentServer();
    const { result, lines } = await detect(port, 'GCP');
    expect(result.tried.map(({ provider, request }) => ({ provider, request }))).toEqual([
      { provider: 'GCP', request: `GET http://127.0.0.1:${port}/computeMetadata/v1/instance/id` },
    ]);
    // ETIMEDOUT from a per-attempt timeout; "no answer" if a busy machine let the overall
    // deadline cut the only attempt short.
    expect(result.tried[0]?.why).toMatch(/^timed out \((ETIMEDOUT|no answer)\)$/);
    expect(lines).toContain('<info>  provider GCP not detected: failure to get GCP metadata: timeout expired');
  });

  it('a server that answers 404: "HTTP status 404", for every enabled provider, in registry order', async () => {
    const port = await statusServer(404);
    const { result } = await detect(port, 'OCI', 'AZURE');
    expect(result.tried).toEqual([
      {
        provider: 'azure',
        request: `GET http://127.0.0.1:${port}/metadata/instance?format=text&api-version=2017-04-02`,
        why: 'HTTP status 404',
      },
      { provider: 'oci', request: `GET http://127.0.0.1:${port}/opc/v2/instance`, why: 'HTTP status 404' },
    ]);
    expect(describeNoCloud(result.tried)).toBe(
      [
        'no cloud detected; tried:',
        `  azure: GET http://127.0.0.1:${port}/metadata/instance?format=text&api-version=2017-04-02: HTTP status 404`,
        `  oci: GET http://127.0.0.1:${port}/opc/v2/instance: HTTP status 404`,
      ].join('\n'),
    );
  });

  it('with no provider enabled, says so instead of asking to enable one that is', () => {
    expect(describeNoCloud([])).toBe(
      'no cloud detected: no provider is enabled (set NM_CLOUD_SETUP_EC2, _GCP, _AZURE, _ALIYUN, _OCI or _OPENSTACK to yes)',
    );
  });
});

describe('explainFailure', () => {
  it('reads the cause chain: status, socket code, or no completed attempt at all', () => {
    expect(explainFailure(new PollTimeoutError({ cause: new NotReadyError(503) }))).toBe('HTTP status 503');
    expect(explainFailure(new PollTimeoutError({ cause: new NotReadyError(200) }))).toBe('HTTP status 200, but not a usable answer');
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(explainFailure(new PollTimeoutError({ cause: new Error('wrapped', { cause: refused }) }))).toBe(
      'connection refused (ECONNREFUSED)',
    );
    expect(explainFailure(new PollTimeoutError())).toBe('timed out (no answer)');
    expect(explainFailure(new PollTimeoutError({ cause: new Error('response body too large') }))).toBe('response body too large');
  });
});
