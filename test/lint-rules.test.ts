// SPDX-License-Identifier: LGPL-2.1-or-later
// The module boundaries of docs/architecture.md are lint rules (eslint.config.js); these tests
// prove the rules fire where they must and stay quiet where an import is allowed.
import { ESLint } from 'eslint';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/bundle.js';

const eslint = new ESLint({ cwd: REPO_ROOT });

/** The rule ids ESLint reports for `code` as if it were the file `path` under src/. */
async function violations(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(REPO_ROOT, 'src', path) });
  return (result?.messages ?? []).map((message) => message.ruleId ?? message.message);
}

const IMPORT_GOT = "import { got } from 'got';\nexport const client = got;\n";
const IMPORT_DBUS = "import dbus from 'dbus-next';\nexport const bus = dbus;\n";
const IMPORT_COMMANDER = "import { Command } from 'commander';\nexport const command = Command;\n";

describe('module boundaries as lint rules', () => {
  it.each([
    ['got', IMPORT_GOT, 'http.ts'],
    ['dbus-next', IMPORT_DBUS, 'nm/dbus-client.ts'],
    ['commander', IMPORT_COMMANDER, 'cli.ts'],
  ])('%s may be imported by its edge module only', async (_name, code, home) => {
    expect(await violations('run.ts', code)).toContain('no-restricted-imports');
    expect(await violations('providers/ec2.ts', code)).toContain('no-restricted-imports');
    expect(await violations(home, code)).not.toContain('no-restricted-imports');
  });

  it('only cli.ts, state-file.ts and config-drive.ts touch the file system', async () => {
    for (const module of ['node:fs', 'node:fs/promises']) {
      const code = `import { open } from '${module}';\nexport const o = open;\n`;
      for (const path of ['run.ts', 'providers/openstack.ts', 'plan/nmcli.ts']) {
        expect(await violations(path, code), `${module} in ${path}`).toContain('no-restricted-imports');
      }
      for (const path of ['cli.ts', 'state-file.ts', 'config-drive.ts']) {
        expect(await violations(path, code), `${module} in ${path}`).not.toContain('no-restricted-imports');
      }
    }
  });

  it('only http.ts and socket-pool.ts open sockets', async () => {
    for (const [module, home] of [
      ['node:http', 'http.ts'],
      ['node:net', 'socket-pool.ts'],
    ] as const) {
      const code = `import { Agent } from '${module}';\nexport const a = Agent;\n`;
      for (const path of ['run.ts', 'cli.ts', 'providers/ec2.ts']) {
        expect(await violations(path, code), `${module} in ${path}`).toContain('no-restricted-imports');
      }
      expect(await violations(home, code), `${module} in ${home}`).not.toContain('no-restricted-imports');
    }
  });

  it('only config.ts (and the entry points that hand process.env to it) read the environment', async () => {
    const code = "export const level = process.env['NM_CLOUD_SETUP_LOG'];\n";
    expect(await violations('run.ts', code)).toContain('no-restricted-properties');
    expect(await violations('config.ts', code)).not.toContain('no-restricted-properties');
  });

  it('providers and the planner never reach NetworkManager, argv or the run', async () => {
    for (const target of ['../nm/nm-client.js', '../nm/dbus-client.js', '../cli.js', '../run.js']) {
      const code = `import type * as m from '${target}';\nexport type M = typeof m;\n`;
      expect(await violations('providers/gcp.ts', code), target).toContain('no-restricted-imports');
      expect(await violations('plan/nmcli.ts', code), target).toContain('no-restricted-imports');
    }
  });

  it('functions in src/ stay under 60 lines', async () => {
    const body = Array.from({ length: 61 }, (_, i) => `  const v${i} = ${i};\n  void v${i};`).join('\n');
    expect(await violations('log.ts', `export function long(): void {\n${body}\n}\n`)).toContain('max-lines-per-function');
  });
});
