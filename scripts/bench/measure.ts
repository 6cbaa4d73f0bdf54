// SPDX-License-Identifier: LGPL-2.1-or-later
// Runs one command and measures its wall time, CPU time and peak RSS. Node cannot read a child's rusage,
// so a tiny Python wrapper spawns the command, wait4()s it and reports them on fd 3. The wall
// time is taken inside the wrapper around spawn + wait (CLOCK_MONOTONIC), so Python's own start-up is not in it;
// every measured command (node -e 0 baselines included) goes through the same wrapper.
import { execFileSync, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';

export interface Measured {
  /** Exit code, or 128 + signal number. */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly wallMs: number;
  /** ru_maxrss of the command, KiB. */
  readonly maxRssKib: number;
  /** ru_utime + ru_stime of the command (and the children it waited for), ms: less sensitive to load than wall time. */
  readonly cpuMs: number;
  /** Spawn and exit on CLOCK_MONOTONIC in ms, the clock of monotonicMs(), to place server events. */
  readonly startMs: number;
  readonly endMs: number;
}

/** CLOCK_MONOTONIC in ms, as Python's time.monotonic_ns() reads it (libuv's hrtime is that clock). */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

const WRAPPER = `
import json, os, sys, time
os.set_inheritable(3, False)  # the report pipe is not the command's business
start = time.monotonic_ns()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
end = time.monotonic_ns()
code = os.waitstatus_to_exitcode(status)
os.write(3, json.dumps({"code": code if code >= 0 else 128 - code, "startNs": start, "endNs": end, "maxRssKib": usage.ru_maxrss, "cpuNs": round((usage.ru_utime + usage.ru_stime) * 1e9)}).encode())
`;

/** The real interpreter behind `python3`: resolved once, so pyenv-style shims do not run per sample. */
export function findPython(): string {
  return execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
}

/**
 * Runs `file args` (absolute file) with exactly `env`; never rejects on a failing command.
 * `via` runs the wrapper itself through a command (e.g. `realnm.sh exec`, into a network
 * namespace), which then is not measured: the wrapper measures only `file`.
 */
export function measure(
  python: string,
  file: string,
  args: readonly string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
  via: readonly string[] = [],
): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const argv = [...via, python, '-c', WRAPPER, file, ...args];
    // detached: its own process group, so a timeout can kill the wrapper and the command together.
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'], detached: true });
    const out = { stdout: '', stderr: '', report: '' };
    // stdio is all pipes but fd 0, which the overload with four entries does not express.
    const [, stdout, stderr, report] = child.stdio as unknown as [null, Readable, Readable, Readable];
    stdout.on('data', (chunk: Buffer) => (out.stdout += chunk.toString()));
    stderr.on('data', (chunk: Buffer) => (out.stderr += chunk.toString()));
    report.on('data', (chunk: Buffer) => (out.report += chunk.toString()));
    // A hung run must not hang the bench; it then shows up as a failed run (no report).
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (wrapperCode) => {
      clearTimeout(timer);
      if (out.report === '') {
        reject(new Error(`measuring ${file} failed (wrapper exit ${String(wrapperCode)}): ${out.stderr.trim()}`));
        return;
      }
      const report = JSON.parse(out.report) as { code: number; startNs: number; endNs: number; maxRssKib: number; cpuNs: number };
      const [startMs, endMs] = [report.startNs / 1e6, report.endNs / 1e6];
      resolve({
        code: report.code,
        stdout: out.stdout,
        stderr: out.stderr,
        wallMs: endMs - startMs,
        maxRssKib: report.maxRssKib,
        cpuMs: report.cpuNs / 1e6,
        startMs,
        endMs,
      });
    });
  });
}
