// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A private dbus-daemon per test file, so files can run in parallel and nothing ever talks to
 * the host's system bus (where a developer's real NetworkManager lives).
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PrivateBus {
  /** The bus address as printed by dbus-daemon (`unix:path=…,guid=…`). */
  readonly address: string;
  /** Kill the daemon and remove its temporary directory. Idempotent. */
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 10_000;

/* No <servicedir>, so there is no bus activation; one allow-everything policy, as in realnm.sh. */
function busConfig(socketPath: string): string {
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=${socketPath}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
`;
}

export async function startPrivateBus(): Promise<PrivateBus> {
  // Keep the path short: unix socket paths are limited to 108 bytes.
  const dir = await mkdtemp(join(tmpdir(), 'nmcs-bus-'));
  const configFile = join(dir, 'bus.conf');
  await writeFile(configFile, busConfig(join(dir, 'bus.sock')));

  const child = spawn('dbus-daemon', [`--config-file=${configFile}`, '--nofork', '--print-address'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // If the test process dies without stop(), don't leave the daemon behind.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);

  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk;
  });

  let address: string;
  try {
    address = await new Promise<string>((resolve, reject) => {
      let stdout = '';
      const timer = setTimeout(
        () => reject(new Error(`dbus-daemon did not print an address within ${START_TIMEOUT_MS} ms: ${stderr}`)),
        START_TIMEOUT_MS,
      );
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        stdout += chunk;
        const newline = stdout.indexOf('\n');
        if (newline >= 0) {
          clearTimeout(timer);
          resolve(stdout.slice(0, newline).trim());
        }
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`dbus-daemon exited early (code ${code}, signal ${signal}): ${stderr}`));
      });
    });
  } catch (err) {
    process.off('exit', killOnExit);
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  let stopping: Promise<void> | undefined;
  return {
    address,
    stop() {
      stopping ??= (async () => {
        process.off('exit', killOnExit);
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
          await exited;
          clearTimeout(timer);
        }
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
