// SPDX-License-Identifier: LGPL-2.1-or-later
// The bench's EC2 IMDSv2 server on a loopback port. Unlike test/harness/imds-server.mjs it runs
// in-process and records when each request arrived and when its response was sent (the harness
// logs whole-millisecond wall-clock stamps before answering), which the round-trip count needs.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monotonicMs } from './measure.js';
import type { TimedRequest } from './stats.js';

export const EC2_TOKEN = 'bench-token-AQAAALH-k7i18JMkK';
export const EC2_MACS = '/2018-09-24/meta-data/network/interfaces/macs/';

export interface BenchMetadataServer {
  /** Base URL for NM_CLOUD_SETUP_EC2_HOST. */
  readonly url: string;
  /**
   * Serves these paths (exact path -> body) from now on, each answer delayed by `latencyMs`.
   * With `barrier`, the answers to those paths are also held until all of them have been
   * requested (or `barrier.timeoutMs` passed): a client that requests them in parallel sees
   * one round trip for all of them however slowly a busy machine lets it send them, and one
   * that waits for an answer before the next request is still caught.
   */
  configure(paths: ReadonlyMap<string, string>, latencyMs: number, barrier?: Barrier): void;
  /** The requests answered since the last call, and forgets them. */
  takeRequests(): TimedRequest[];
  stop(): Promise<void>;
}

export interface Barrier {
  readonly paths: ReadonlySet<string>;
  readonly timeoutMs: number;
}

/** Holds answers until every path of the barrier was requested, or the timeout passed. */
class Gate {
  private readonly waiting = new Set<string>();
  private readonly held: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly barrier: Barrier | undefined) {
    for (const path of barrier?.paths ?? []) this.waiting.add(path);
  }

  /** Calls `answer` at once, or when the gate opens if `path` is behind it. */
  pass(path: string, answer: () => void): void {
    if (this.barrier === undefined || !this.barrier.paths.has(path) || this.waiting.size === 0) {
      answer();
      return;
    }
    this.held.push(answer);
    this.waiting.delete(path);
    if (this.waiting.size === 0) {
      this.open();
      return;
    }
    this.timer ??= setTimeout(() => this.open(), this.barrier.timeoutMs);
  }

  private open(): void {
    clearTimeout(this.timer);
    this.waiting.clear();
    for (const answer of this.held.splice(0)) answer();
  }
}

interface Answer {
  readonly status: number;
  readonly body: string;
}

/** IMDSv2 as EC2 answers it: a token from PUT, then every GET must carry it. */
function answer(req: IncomingMessage, paths: ReadonlyMap<string, string>): Answer {
  const url = req.url ?? '/';
  if (req.method === 'PUT' && url === '/latest/api/token') {
    if (req.headers['x-aws-ec2-metadata-token-ttl-seconds'] === undefined) return { status: 400, body: 'Bad Request\n' };
    return { status: 200, body: EC2_TOKEN };
  }
  if (req.method !== 'GET') return { status: 404, body: 'Not Found\n' };
  if (req.headers['x-aws-ec2-metadata-token'] !== EC2_TOKEN) return { status: 401, body: 'Unauthorized\n' };
  const body = paths.get(url);
  return body === undefined ? { status: 404, body: 'Not Found\n' } : { status: 200, body };
}

function send(res: ServerResponse, { status, body }: Answer): void {
  res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export async function startBenchMetadataServer(): Promise<BenchMetadataServer> {
  let paths: ReadonlyMap<string, string> = new Map();
  let latencyMs = 0;
  let gate = new Gate(undefined);
  let requests: TimedRequest[] = [];

  const server = createServer((req, res) => {
    const arrivedMs = monotonicMs();
    const record: TimedRequest = { method: req.method ?? '', url: req.url ?? '', status: 0, arrivedMs, finishedMs: Number.NaN };
    requests.push(record);
    // 'finish': the last byte was handed to the kernel, the client can read the response now.
    res.on('finish', () => (record.finishedMs = monotonicMs()));
    req.resume();
    req.on('end', () => {
      const reply = answer(req, paths);
      record.status = reply.status;
      // The latency counts from the request's arrival, as a remote server's would.
      const wait = latencyMs - (monotonicMs() - arrivedMs);
      const release = (): void => gate.pass(req.url ?? '/', () => send(res, reply));
      if (wait > 0) setTimeout(release, wait);
      else release();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, resolve);
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    configure(nextPaths, nextLatencyMs, barrier) {
      paths = nextPaths;
      latencyMs = nextLatencyMs;
      gate = new Gate(barrier);
    },
    takeRequests() {
      const taken = requests;
      requests = [];
      return taken;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
