// SPDX-License-Identifier: LGPL-2.1-or-later
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { bundlePath } from './bundle.js';
import { makeStateDir } from './scratch.js';

export interface CliOutcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time of the run in ms. */
  readonly ms: number;
}

export interface CliRun {
  readonly child: ChildProcess;
  /** Resolves when stdout has a line matching `pattern`. */
  waitFor(pattern: RegExp | string, timeoutMs?: number): Promise<void>;
  readonly done: Promise<CliOutcome>;
}

/** Starts the built CLI exactly as the unit does (node --jitless) with only `env` (plus PATH). */
export function startCli(env: Record<string, string>, args: string[] = []): CliRun {
  const started = performance.now();
  // state.json goes to a scratch directory unless the test names one: never the machine's /run.
  const stateDir = env['RUNTIME_DIRECTORY'] ?? makeStateDir();
  const child = spawn(process.execPath, ['--jitless', '--no-expose-wasm', bundlePath(), ...args], {
    env: { PATH: process.env['PATH'] ?? '', RUNTIME_DIRECTORY: stateDir, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const check of waiters) check();
  });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<CliOutcome>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      // A scratch state directory is ours to remove; one the test named is the test's.
      if (env['RUNTIME_DIRECTORY'] === undefined) rmSync(stateDir, { recursive: true, force: true });
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
    });
  });
  const waitFor = (pattern: RegExp | string, timeoutMs = 10_000): Promise<void> =>
    new Promise((resolve, reject) => {
      const matches = (): boolean => (typeof pattern === 'string' ? stdout.includes(pattern) : pattern.test(stdout));
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${String(pattern)}; stdout so far:\n${stdout}`));
      }, timeoutMs);
      const check = (): void => {
        if (!matches()) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
    });
  return { child, waitFor, done };
}

/** Runs the CLI to completion. */
export function runCli(env: Record<string, string>, args: string[] = []): Promise<CliOutcome> {
  return startCli(env, args).done;
}
