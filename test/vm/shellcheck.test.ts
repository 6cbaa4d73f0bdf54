// SPDX-License-Identifier: LGPL-2.1-or-later
// The VM layer's and the package's shell scripts are shellcheck-clean (without booting anything).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/bundle.js';

const run = promisify(execFile);

const SCRIPTS = [
  'test/vm/vm.sh',
  'test/vm/initramfs/ncsvm-overlay',
  'test/vm/guest/prepare-root.sh',
  'test/vm/guest/agent.sh',
  'test/vm/guest/scenarios.sh',
  'scripts/build-deb.sh',
  'packaging/deb/postinst',
  'packaging/deb/postrm',
];

describe('VM layer and package scripts', () => {
  it('are shellcheck-clean', async () => {
    const lint = await run('shellcheck', ['-x', '--severity=style', ...SCRIPTS.map((s) => join(REPO_ROOT, s))], { cwd: REPO_ROOT }).catch(
      (e: unknown) => e as { stdout?: string; stderr?: string },
    );
    expect(`${lint.stdout ?? ''}${lint.stderr ?? ''}`).toBe('');
  });
});
