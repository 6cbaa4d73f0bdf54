// SPDX-License-Identifier: LGPL-2.1-or-later
// The built CLI as a process: arguments, exit codes, log format and SIGTERM before any write.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/bundle.js';
import { runCli, startCli } from './helpers/run-cli.js';
import { closedLoopbackEndpoint } from './helpers/closed-endpoint.js';

const LINE = /^\[\d+\.\d{4}\] (<trace>|<debug>|<info> |<warn> |<error>) \S.*$/;

describe('command line', () => {
  it('rejects an unknown command with status 1, naming it', async () => {
    const outcome = await runCli({}, ['foo']);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toMatch(/^\S*nm-cloud-setup\.cjs: unknown command 'foo' \(see --help\)\n$/);
    expect(outcome.stdout).toBe('');
    expect((await runCli({}, ['--bogus'])).code).toBe(1);
  });

  it('says what is wrong with a command line, in one line, with status 1', async () => {
    const cases: [string[], string][] = [
      [['--bogus'], "unknown option '--bogus'"],
      [['status', 'extra'], "too many arguments for 'status'. Expected 0 arguments but got 1."],
      [['plan', '--bogus'], "unknown option '--bogus'"],
      [['--json'], '--json needs --dry-run, or the status or plan command'],
      [['apply', '--json'], "unknown option '--json'"],
    ];
    for (const [args, message] of cases) {
      const outcome = await runCli({}, args);
      expect(outcome, args.join(' ')).toMatchObject({ code: 1, stdout: '' });
      expect(outcome.stderr, args.join(' ')).toBe(`${outcome.stderr.split(': ')[0] ?? ''}: ${message} (see --help)\n`);
    }
  });

  it('status, plan and fetch without a cloud: one line on stderr, status 1, nothing on stdout', async () => {
    for (const args of [['status'], ['status', '--json'], ['plan'], ['--dry-run'], ['fetch']]) {
      const outcome = await runCli({}, args);
      expect(outcome, args.join(' ')).toMatchObject({ code: 1, stdout: '' });
      expect(outcome.stderr, args.join(' ')).toMatch(
        /^\S+: no cloud detected: no provider is enabled \(set NM_CLOUD_SETUP_EC2, _GCP, _AZURE, _ALIYUN, _OCI or _OPENSTACK to yes\)\n$/,
      );
    }
  });

  it('plan with a provider enabled but not answering: which request failed and why, never "enable a provider"', async () => {
    const { host, port } = await closedLoopbackEndpoint();
    // Upstream's full 7 s detection window: the bare run must keep it, and plan shares its code.
    const outcome = await runCli({ NM_CLOUD_SETUP_EC2: 'yes', NM_CLOUD_SETUP_EC2_HOST: `${host}:${port}` }, ['plan']);
    expect(outcome).toMatchObject({ code: 1, stdout: '' });
    expect(outcome.stderr).toMatch(
      new RegExp(
        `<warn>  no provider detected\\n\\S+: no cloud detected; tried:\n  ec2: PUT http://${host.replaceAll('.', '\\.')}:${port}/latest/api/token: connection refused \\(ECONNREFUSED\\)\n$`,
      ),
    );
  });

  it('each command has its own --help', async () => {
    for (const command of ['apply', 'status', 'plan', 'fetch']) {
      const help = await runCli({}, [command, '--help']);
      expect(help, command).toMatchObject({ code: 0, stderr: '' });
      expect(help.stdout).toContain(`Usage: nm-cloud-setup ${command}`);
    }
  });

  it('--version prints the package version, --help the usage; both exit 0', async () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const version = await runCli({}, ['--version']);
    expect(version).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    const help = await runCli({}, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: nm-cloud-setup');
  });
});

describe('runs without a cloud', () => {
  it('with every provider disabled: info lines in upstream format, exit 0, nothing at the default level', async () => {
    const info = await runCli({ NM_CLOUD_SETUP_LOG: 'info' });
    expect(info.code).toBe(0);
    const lines = info.stdout.trimEnd().split('\n');
    for (const line of lines) expect(line).toMatch(LINE);
    expect(lines.map((line) => line.replace(/^\[[^\]]+\] /, ''))).toEqual([
      '<info>  provider ec2 not detected: provider is disabled',
      '<info>  provider GCP not detected: provider is disabled',
      '<info>  provider azure not detected: provider is disabled',
      '<info>  provider aliyun not detected: provider is disabled',
      '<info>  provider oci not detected: provider is disabled',
      // OpenStack is ours: while disabled it says nothing, so the lines are exactly upstream's.
      '<info>  no provider detected',
    ]);
    expect(await runCli({})).toMatchObject({ code: 0, stdout: '', stderr: '' });
  });

  it('warns about an invalid variable but still runs', async () => {
    const outcome = await runCli({ NM_CLOUD_SETUP_EC2: 'perhaps' });
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toMatch(/<warn> {2}invalid boolean NM_CLOUD_SETUP_EC2="perhaps"/);
  });
});

describe('with a metadata server that never answers', () => {
  let server: Server;
  let host: string;
  beforeAll(async () => {
    server = createServer(() => {
      /* hold every request open */
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('SIGTERM during detection cancels at once and exits 0', async () => {
    const cli = startCli({ NM_CLOUD_SETUP_EC2: 'yes', NM_CLOUD_SETUP_EC2_HOST: host, NM_CLOUD_SETUP_LOG: 'trace' });
    await cli.waitFor('start PUT ...');
    const sent = performance.now();
    cli.child.kill('SIGTERM');
    const outcome = await cli.done;
    expect(outcome.code).toBe(0);
    expect(performance.now() - sent).toBeLessThan(2000);
    expect(outcome.stdout).toContain('<debug> SIGTERM received (first time) (cancel operation)');
    expect(outcome.stdout).toContain('<debug> provider ec2 detection cancelled');
    // Cancellation is not a failure: INFO, not WARN.
    expect(outcome.stdout).toContain('<info>  no provider detected');
    expect(outcome.stdout).not.toContain('not detected: failure');
  });

  it('SIGTERM right after the bundle is loaded, before main() has run, cancels the run and exits 0', async () => {
    // Upstream handles SIGTERM from its first instruction; node's default action would exit 143.
    const preload = join(REPO_ROOT, 'test', 'helpers', 'sigterm-after-load.mjs');
    const outcome = await runCli({
      NODE_OPTIONS: `--import=${preload}`,
      NM_CLOUD_SETUP_EC2: 'yes',
      NM_CLOUD_SETUP_EC2_HOST: host,
      NM_CLOUD_SETUP_LOG: 'debug',
    });
    expect(outcome, outcome.stderr).toMatchObject({ code: 0, signal: null });
    expect(outcome.stdout).toContain('<debug> SIGTERM received (first time) (cancel operation)');
    expect(outcome.stdout).toContain('<info>  no provider detected');
  });

  it('gives up after the 7 s detection window with a WARN', async () => {
    const outcome = await runCli({ NM_CLOUD_SETUP_EC2: 'yes', NM_CLOUD_SETUP_EC2_HOST: host, NM_CLOUD_SETUP_LOG: 'debug' });
    expect(outcome.code).toBe(0);
    expect(outcome.ms).toBeGreaterThan(6500);
    expect(outcome.stdout).toContain(`<debug> test: mock NM_CLOUD_SETUP_EC2_HOST="${host}" (default "http://169.254.169.254")`);
    expect(outcome.stdout).toContain('<info>  provider ec2 not detected: failure to get EC2 metadata: timeout expired');
    expect(outcome.stdout).toContain('<warn>  no provider detected');
    // 3 s per attempt, attempts at least 1 s apart, 7 s overall: three attempts.
    expect(outcome.stdout.match(/failed with HTTP request timed out/g)).toHaveLength(2);
  }, 15_000);
});

describe('output that nobody reads', () => {
  it('a closed stdout (nm-cloud-setup | head -1) does not crash the run', async () => {
    const cli = startCli({ NM_CLOUD_SETUP_LOG: 'trace', NM_CLOUD_SETUP_EC2: 'perhaps' }, []);
    cli.child.stdout?.destroy();
    const outcome = await cli.done;
    expect(outcome).toMatchObject({ code: 0, signal: null, stderr: '' });
  });
});
