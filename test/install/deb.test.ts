// SPDX-License-Identifier: LGPL-2.1-or-later
// `make deb`: the installed layout as a Debian package that enables nothing, lintian-clean
// (each override in packaging/deb/lintian-overrides says why). The VM layer (test/vm/)
// installs this package in a systemd guest.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundlePath, REPO_ROOT } from '../helpers/bundle.js';
import { makeScratchDir } from '../helpers/scratch.js';

const run = promisify(execFile);

describe('make deb', () => {
  let dir: string;
  let deb: string;
  beforeAll(async () => {
    dir = makeScratchDir('nmcs-deb-');
    deb = join(dir, 'nm-cloud-setup.deb');
    // -o: keep make from rebuilding the bundle `npm test` built (other files run concurrently).
    await run('make', ['-s', '-o', bundlePath(), 'deb', `DEB_OUT=${deb}`], { cwd: REPO_ROOT });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const field = async (name: string): Promise<string> => (await run('dpkg-deb', ['-f', deb, name])).stdout.trim();

  it('is an Architecture: all package depending on Node >= 20 and NetworkManager', async () => {
    expect(await field('Package')).toBe('nm-cloud-setup');
    expect(await field('Architecture')).toBe('all');
    expect(await field('Depends')).toBe('nodejs (>= 20), network-manager');
  });

  it('ships the installed layout (units in /lib/systemd/system) and nothing under /etc', async () => {
    const { stdout } = await run('dpkg-deb', ['-c', deb]);
    const files = stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(/\s+/).slice(5).join(' '));
    for (const f of [
      './lib/systemd/system/nm-cloud-setup.service',
      './lib/systemd/system/nm-cloud-setup.timer',
      './usr/libexec/nm-cloud-setup',
      './usr/lib/NetworkManager/dispatcher.d/pre-up.d/90-nm-cloud-setup.sh',
      './usr/share/man/man8/nm-cloud-setup.8.gz',
      './usr/share/doc/nm-cloud-setup/copyright',
    ])
      expect(files, f).toContain(f);
    expect(files.filter((f) => f.startsWith('./etc'))).toEqual([]);
    // The code caches are the target's node's: postinst writes them, the package ships none.
    expect(files.filter((f) => f.endsWith('.v8-cache'))).toEqual([]);
  });

  it('writes the code caches in postinst and again when node is upgraded (trigger), never failing', async () => {
    const ctrl = join(dir, 'control-cache');
    await run('dpkg-deb', ['-e', deb, ctrl]);
    const { stdout: postinst } = await run('cat', [join(ctrl, 'postinst')]);
    expect(postinst).toMatch(/^\s+node --jitless .*make-code-cache\.cjs.* \|\| true$/m);
    expect(postinst).toMatch(/^triggered\)$/m);
    const { stdout: triggers } = await run('cat', [join(ctrl, 'triggers')]);
    expect(triggers).toMatch(/^interest-noawait \/usr\/bin\/node$/m);
  });

  it('its maintainer scripts only reload systemd: nothing is enabled or started', async () => {
    const ctrl = join(dir, 'control');
    await run('dpkg-deb', ['-e', deb, ctrl]);
    const { stdout } = await run('sh', ['-c', `cat ${ctrl}/postinst ${ctrl}/postrm`]);
    expect(stdout).toContain('systemctl --system daemon-reload');
    expect(stdout).not.toMatch(/\b(enable|start|restart|deb-systemd-helper)\b/);
  });

  it('is lintian-clean', async () => {
    const r = await run('lintian', ['--fail-on', 'error,warning', deb]).catch((e: unknown) => e as { stdout?: string; code?: number });
    expect('code' in r ? r.code : 0, 'stdout' in r ? r.stdout : '').toBe(0);
  });
});
