// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * TCP connections to a metadata server opened ahead of the requests that will use them, so
 * that the handshake's round trip overlaps work the run must do anyway: loading the HTTP client
 * before the first request, the MAC listing before the per-interface leaves. Nothing is sent
 * on them until the HTTP agent (src/http.ts) takes one for a request, as it would a fresh
 * connection; those never taken are closed at the end. Only node:net here: opening the first
 * one must not wait for got to load.
 */
import { connect, type Socket } from 'node:net';

/** The port of an http: URL's origin. */
const HTTP_PORT = 80;

/** Idle connections per origin ("host:port"), oldest first. */
export class SocketPool {
  readonly #idle = new Map<string, Socket[]>();

  /**
   * Opens one connection to the origin of `url` unless one was ever opened there; true when it
   * did. For the first request to a server, before the HTTP client is loaded.
   */
  warm(url: string): boolean {
    const origin = httpOrigin(url);
    if (origin === undefined || this.#idle.has(origin.key)) return false;
    this.open(url, 1);
    return true;
  }

  /** Opens `count` connections to the origin of `url` (http: only; anything else is left to the agent). */
  open(url: string, count: number): void {
    const origin = httpOrigin(url);
    if (origin === undefined) return;
    const idle = this.#idle.get(origin.key) ?? [];
    this.#idle.set(origin.key, idle);
    for (let i = 0; i < count; i++) {
      const socket = connect({ host: origin.host, port: origin.port });
      // Idle, it must not keep the process alive; the agent refs it when it takes it.
      socket.unref();
      const forget = (): void => {
        const at = idle.indexOf(socket);
        if (at >= 0) idle.splice(at, 1);
      };
      // A refused or reset connection is the request's business once taken; idle, it is dropped.
      socket.on('error', forget).once('end', forget).once('close', forget);
      idle.push(socket);
    }
  }

  /** An idle connection to host:port still open or opening, or undefined. */
  take(host: string, port: number): Socket | undefined {
    const idle = this.#idle.get(`${host}:${port}`);
    for (let socket = idle?.shift(); socket !== undefined; socket = idle?.shift()) {
      if (!socket.destroyed && socket.readyState !== 'readOnly' && socket.readyState !== 'closed') return socket.ref();
    }
    return undefined;
  }

  /** Closes every connection never taken. */
  close(): void {
    for (const idle of this.#idle.values()) for (const socket of idle.splice(0)) socket.destroy();
  }
}

function httpOrigin(url: string): { readonly host: string; readonly port: number; readonly key: string } | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== 'http:') return undefined;
  // URL keeps IPv6 literals in brackets; the agent and net.connect want them bare.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = parsed.port === '' ? HTTP_PORT : Number(parsed.port);
  return { host, port, key: `${host}:${port}` };
}
