// SPDX-License-Identifier: LGPL-2.1-or-later
// Connections opened ahead (src/socket-pool.ts) against a real HTTP server on loopback: the
// requests use them instead of connecting again, a refused one is dropped quietly, and close()
// leaves nothing open.
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetadataHttp } from '../src/http.js';
import { createLogger } from '../src/log.js';
import { SocketPool } from '../src/socket-pool.js';
import { closedLoopbackEndpoint } from './helpers/closed-endpoint.js';

const log = createLogger({ level: 'trace', sink: () => undefined, clock: () => 0n });

/** A loopback HTTP server that counts the connections it accepted and answers "ok". */
async function countingServer(): Promise<{ url: string; connections: () => number; open: () => number; server: Server }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((_, response) => response.end('ok'));
  server.on('connection', (socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/x`, connections: () => accepted, open: () => sockets.size, server };
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(check()).toBe(true);
}

const servers: Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

describe('SocketPool', () => {
  it('requests use the connections opened ahead: the server accepts no other', async () => {
    const s = await countingServer();
    servers.push(s.server);
    const sockets = new SocketPool();
    const http = createMetadataHttp({ log, sockets });
    sockets.open(s.url, 3);
    await until(() => s.connections() === 3);
    const answers = await Promise.all([0, 1, 2].map(() => http.request({ url: s.url, timeoutMs: 2000, maxBytes: 100 })));
    expect(answers.map((answer) => answer.body.toString())).toEqual(['ok', 'ok', 'ok']);
    expect(s.connections()).toBe(3);
    http.close();
    await until(() => s.open() === 0);
  });

  it('connections never taken are closed by close(); the next request connects afresh', async () => {
    const s = await countingServer();
    servers.push(s.server);
    const sockets = new SocketPool();
    sockets.open(s.url, 2);
    await until(() => s.open() === 2);
    sockets.close();
    await until(() => s.open() === 0);
    const http = createMetadataHttp({ log, sockets });
    expect((await http.request({ url: s.url, timeoutMs: 2000, maxBytes: 100 })).status).toBe(200);
    expect(s.connections()).toBe(3);
    http.close();
  });

  it('a refused connection is dropped without an error; the request then fails as it would have', async () => {
    const { host, port } = await closedLoopbackEndpoint();
    const url = `http://${host}:${port}/x`;
    const sockets = new SocketPool();
    sockets.open(url, 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const http = createMetadataHttp({ log, sockets });
    await expect(http.request({ url, timeoutMs: 2000, maxBytes: 100 })).rejects.toThrow(/ECONNREFUSED/);
    http.close();
  });

  it('warm() opens one connection per origin, once', async () => {
    const s = await countingServer();
    servers.push(s.server);
    const sockets = new SocketPool();
    expect(sockets.warm(s.url)).toBe(true);
    expect(sockets.warm(`${s.url}/other/path`)).toBe(false);
    expect(sockets.warm('https://127.0.0.1:1/x')).toBe(false);
    await until(() => s.connections() === 1);
    sockets.close();
    await until(() => s.open() === 0);
    expect(s.connections()).toBe(1);
  });

  it('only http: URLs are opened', () => {
    const sockets = new SocketPool();
    sockets.open('https://127.0.0.1:1/x', 1);
    sockets.open('not a url', 1);
    expect(sockets.take('127.0.0.1', 1)).toBeUndefined();
  });
});
