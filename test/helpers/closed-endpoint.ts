// SPDX-License-Identifier: LGPL-2.1-or-later
import { randomInt } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A loopback `host:port` nothing listens on: bound, then closed. The host is a random address in
 * 127.0.0.0/8 rather than 127.0.0.1, where the other tests' servers take ephemeral ports: within a
 * 7 s detection window one of them could take this port and answer, and "connection refused"
 * would turn into a detected cloud.
 */
export async function closedLoopbackEndpoint(): Promise<{ host: string; port: number }> {
  const host = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return { host, port };
}
