// SPDX-License-Identifier: LGPL-2.1-or-later
// `make install DESTDIR=… PREFIX=/usr` lays out upstream's package, and what it installs runs
// on its own: no checkout, no node_modules.
import { execFile } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/bundle.js';
import { installTree, type InstalledTree } from '../helpers/install-tree.js';

const run = promisify(execFile);

/** Every entry below `dir` as "f <mode> <path>" or "l <path> -> <link target>", sorted. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (path: string): void => {
    for (const name of readdirSync(path)) {
      const full = join(path, name);
      const stat = lstatSync(full);
      const rel = `/${relative(dir, full)}`;
      if (stat.isSymbolicLink()) out.push(`l ${rel} -> ${readlinkSync(full)}`);
      else if (stat.isDirectory()) walk(full);
      else out.push(`f ${(stat.mode & 0o777).toString(8)} ${rel}`);
    }
  };
  walk(dir);
  return out.sort();
}

const DISPATCHER = '/usr/lib/NetworkManager/dispatcher.d';

describe('make install', () => {
  let tree: InstalledTree;
  beforeAll(async () => {
    tree = await installTree();
  });
  afterAll(() => tree.remove());

  it('installs exactly the upstream package layout, with modes', () => {
    expect(listing(tree.destdir)).toEqual(
      [
        'f 644 /usr/lib/systemd/system/nm-cloud-setup.service',
        'f 644 /usr/lib/systemd/system/nm-cloud-setup.timer',
        'f 644 /usr/share/man/man8/nm-cloud-setup.8',
        'f 755 /usr/libexec/nm-cloud-setup',
        'f 644 /usr/lib/nm-cloud-setup/nm-cloud-setup.cjs',
        'f 644 /usr/lib/nm-cloud-setup/nm-cloud-setup.cjs.v8-cache',
        'f 644 /usr/lib/nm-cloud-setup/nm-cloud-setup.got.cjs',
        'f 644 /usr/lib/nm-cloud-setup/nm-cloud-setup.got.cjs.v8-cache',
        'f 644 /usr/lib/nm-cloud-setup/nm-cloud-setup.dbus-next.cjs',
        'f 644 /usr/lib/nm-cloud-setup/nm-cloud-setup.dbus-next.cjs.v8-cache',
        'f 644 /usr/lib/nm-cloud-setup/nm-cloud-setup.xml2js.cjs',
        'f 644 /usr/lib/nm-cloud-setup/nm-cloud-setup.xml2js.cjs.v8-cache',
        'f 644 /usr/lib/nm-cloud-setup/make-code-cache.cjs',
        `f 755 ${DISPATCHER}/pre-up.d/90-nm-cloud-setup.sh`,
        `l ${DISPATCHER}/90-nm-cloud-setup.sh -> no-wait.d/90-nm-cloud-setup.sh`,
        `l ${DISPATCHER}/no-wait.d/90-nm-cloud-setup.sh -> ../pre-up.d/90-nm-cloud-setup.sh`,
      ].sort(),
    );
  });

  it('both dispatcher links resolve to the one script', () => {
    const script = realpathSync(tree.at(`${DISPATCHER}/pre-up.d/90-nm-cloud-setup.sh`));
    expect(realpathSync(tree.at(`${DISPATCHER}/90-nm-cloud-setup.sh`))).toBe(script);
    expect(realpathSync(tree.at(`${DISPATCHER}/no-wait.d/90-nm-cloud-setup.sh`))).toBe(script);
    expect(readFileSync(script, 'utf8')).toBe(readFileSync(join(REPO_ROOT, 'dispatcher/90-nm-cloud-setup.sh'), 'utf8'));
  });

  it('the unit starts the installed file with the installed node and the W^X flags', () => {
    const unit = readFileSync(tree.at('/usr/lib/systemd/system/nm-cloud-setup.service'), 'utf8');
    expect(unit).toMatch(
      /^ExecStart=\/usr\/bin\/node --jitless --no-expose-wasm --optimize-for-size --verify-snapshot-checksum \/usr\/libexec\/nm-cloud-setup$/m,
    );
  });

  it('the installed executable is the loader with the unit flags in its shebang, and runs outside any checkout', async () => {
    const exe = tree.at('/usr/libexec/nm-cloud-setup');
    expect(readFileSync(exe, 'utf8').split('\n')[0]).toBe(
      '#!/usr/bin/env -S /usr/bin/node --jitless --no-expose-wasm --optimize-for-size --verify-snapshot-checksum',
    );
    // Through the shebang itself, cwd in the DESTDIR: there is no node_modules to find there.
    const env = { PATH: '/usr/bin:/bin' };
    const version = await run(exe, ['--version'], { cwd: tree.destdir, env });
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect(version.stderr).toBe('');
    // With no provider enabled a run is quiet and exits 0, as upstream's.
    const quiet = await run(exe, [], { cwd: tree.destdir, env });
    expect(quiet).toMatchObject({ stdout: '', stderr: '' });
  });

  it('honours PREFIX and NODE in the unit and the shebang', async ({ onTestFinished }) => {
    const custom = await installTree('install', undefined, ['PREFIX=/opt/ncs', 'NODE=/opt/node/bin/node']);
    onTestFinished(() => custom.remove());
    const unit = readFileSync(custom.at('/opt/ncs/lib/systemd/system/nm-cloud-setup.service'), 'utf8');
    expect(unit).toMatch(
      /^ExecStart=\/opt\/node\/bin\/node --jitless --no-expose-wasm --optimize-for-size --verify-snapshot-checksum \/opt\/ncs\/libexec\/nm-cloud-setup$/m,
    );
    expect(readFileSync(custom.at('/opt/ncs/libexec/nm-cloud-setup'), 'utf8').split('\n')[0]).toBe(
      '#!/usr/bin/env -S /opt/node/bin/node --jitless --no-expose-wasm --optimize-for-size --verify-snapshot-checksum',
    );
  });

  it('make uninstall removes every file it installed', async ({ onTestFinished }) => {
    const scratch = await installTree();
    onTestFinished(() => scratch.remove());
    expect(statSync(scratch.at('/usr/libexec/nm-cloud-setup')).isFile()).toBe(true);
    await installTree('uninstall', scratch.destdir);
    expect(listing(scratch.destdir)).toEqual([]);
  });
});
