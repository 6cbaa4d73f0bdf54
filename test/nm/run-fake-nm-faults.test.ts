// SPDX-License-Identifier: LGPL-2.1-or-later
// Faults through the built CLI (docs/reliability.md): metadata bytes that would drive a
// terminal, a metadata request that keeps failing, and a bus socket that never speaks.
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import {
  EC2_MACS as MACS,
  EC2_TOKEN as TOKEN,
  IP1,
  MAC1,
  MAC2,
  cloudSetupEnv,
  fakeNmCloud,
  upstreamEc2Paths,
} from '../helpers/fake-nm-run.js';
import { startLoopbackMetadataServer } from '../helpers/metadata-server.js';
import { runCli } from '../helpers/run-cli.js';
import { scratchDir } from '../helpers/scratch.js';

const ec2 = fakeNmCloud('EC2', () => ({ ec2Token: TOKEN, paths: upstreamEc2Paths() }));

describe('faults through the built CLI', () => {
  it('control characters from the metadata are escaped in the text log, never printed raw', async ({ expect, onTestFinished }) => {
    const forged = `10.0.0.1\r\u001b[2K[0.0000] <info>  forged\u0007\u0000`;
    const paths = { ...upstreamEc2Paths(), [`${MACS}${MAC2}/local-ipv4s`]: `${IP1}\n${forged}` };
    const run = await ec2.start(onTestFinished, { ec2Token: TOKEN, paths });
    await run.startNm();
    const outcome = await run.run({ NM_CLOUD_SETUP_LOG: 'warn' });
    expect(outcome.code).toBe(0);
    expect(outcome.stdout).toMatch(
      /^\[\d+\.\d{4}\] <warn> {2}get-config: CC:00:00:00:00:02: ignoring invalid address "10\.0\.0\.1\\015\\033\[2K\[0\.0000\] <info> {2}forged\\007\\000" in local-ipv4s\n$/,
    );
  });

  it("status: a metadata request that keeps failing says how it failed; upstream's info line is unchanged", async ({
    expect,
    onTestFinished,
  }) => {
    const paths = { ...upstreamEc2Paths(), [`${MACS}${MAC1}/local-ipv4s`]: { status: 500, body: 'oops' } };
    const run = await ec2.start(onTestFinished, { ec2Token: TOKEN, paths });
    await run.startNm();
    const outcome = await run.run({ NM_CLOUD_SETUP_LOG: 'info' }, ['status']);
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toMatch(/<info> {2}failure to get meta data: timeout expired\n/);
    expect(outcome.stderr).toMatch(/: failure to get meta data: timeout expired \(last attempt: HTTP status 500\)\n$/);
  }, 30_000);

  it('a bus socket that never speaks: "failure to talk to NetworkManager", exit 0, nothing left open', async ({
    expect,
    onTestFinished,
  }) => {
    const socketPath = join(scratchDir('nmcs-silent-'), 'bus.sock');
    const peers: Socket[] = [];
    // Accepts, never answers, never closes its side.
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => {});
      peers.push(socket);
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    onTestFinished(
      () =>
        new Promise<void>((resolve) => {
          for (const peer of peers) peer.destroy();
          server.close(() => resolve());
        }),
    );
    const metadata = await startLoopbackMetadataServer({ ec2Token: TOKEN, paths: upstreamEc2Paths() });
    onTestFinished(() => metadata.stop());
    const outcome = await runCli(cloudSetupEnv('EC2', `unix:path=${socketPath}`, metadata.url, { NM_CLOUD_SETUP_LOG: 'info' }));
    expect(outcome).toMatchObject({ code: 0, signal: null });
    expect(outcome.stdout).toContain(`<info>  failure to talk to NetworkManager: timed out connecting to D-Bus at unix:path=${socketPath}`);
    // The process ended by itself: the shutdown guard (a bug by its own words) never fired.
    expect(outcome.stdout).not.toContain('shutdown: timeout waiting to application to quit');
  }, 60_000);
});
