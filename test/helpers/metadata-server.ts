// SPDX-License-Identifier: LGPL-2.1-or-later
// The harness's metadata server (test/harness/imds-server.mjs) on a loopback port.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './bundle.js';

/** imds-server.mjs configuration (see the header of that file). */
export interface ImdsConfig {
  readonly ec2Token?: string;
  readonly requireHeaders?: Readonly<Record<string, string>>;
  readonly paths: Readonly<Record<string, string | { status?: number; body?: string; delayMs?: number }>>;
}

/** One request as the server logged it. */
export interface ImdsRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly status: number;
  /** Requests received and not yet answered when this one arrived, this one included. */
  readonly inFlight: number;
}

export interface LoopbackMetadataServer {
  /** Base URL, e.g. http://127.0.0.1:40123 — for NM_CLOUD_SETUP_<P>_HOST. */
  readonly url: string;
  requests(): ImdsRequest[];
  /** Replaces the served configuration (the server re-reads it on change). */
  update(config: ImdsConfig): void;
  stop(): Promise<void>;
}

/** Starts imds-server.mjs on 127.0.0.1 with a random port. */
export async function startLoopbackMetadataServer(config: ImdsConfig): Promise<LoopbackMetadataServer> {
  const dir = mkdtempSync(join(tmpdir(), 'nmcs-imds-'));
  const configPath = join(dir, 'config.json');
  const logPath = join(dir, 'requests.log');
  const update = (next: ImdsConfig): void => {
    writeFileSync(`${configPath}.tmp`, JSON.stringify(next));
    renameSync(`${configPath}.tmp`, configPath);
  };
  update(config);
  writeFileSync(logPath, '');
  const child = spawn(
    process.execPath,
    [join(REPO_ROOT, 'test/harness/imds-server.mjs'), '--config', configPath, '--log', logPath, '--listen', '127.0.0.1:0'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`imds-server exited with ${String(code)}`)));
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /"port":(\d+)/.exec(out);
      if (match !== null) resolve(Number(match[1]));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () =>
      readFileSync(logPath, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as ImdsRequest),
    update,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
