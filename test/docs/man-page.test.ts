// SPDX-License-Identifier: LGPL-2.1-or-later
// docs/nm-cloud-setup.8 renders without a single groff warning and documents what the sources,
// the unit and `make install` actually use: every environment variable, the policy-routing
// numbers, the providers' metadata servers and every installed path.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROVIDER_ENV_NAMES } from '../../src/config.js';
import { USER_DATA_SKIP } from '../../src/plan/plan-connection.js';
import { MAX_INTERFACES, RULE_PRIORITY_MAIN, TABLE_DEFAULT_BASE, TABLE_SUBNET_BASE } from '../../src/plan/policy-routing.js';
import { PROVIDERS } from '../../src/providers/registry.js';
import { REPO_ROOT } from '../helpers/bundle.js';

const PAGE = 'docs/nm-cloud-setup.8';
const SOURCE = readFileSync(join(REPO_ROOT, PAGE), 'utf8');

function groff(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('groff', [...args, PAGE], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The page as a reader sees it: plain ASCII, no bold/underline sequences. */
function render(extra: readonly string[] = []): string {
  const { status, stdout, stderr } = groff(['-man', '-Tascii', '-P-c', ...extra]);
  expect(stderr).toBe('');
  expect(status).toBe(0);
  // -P-c makes grotty overstrike for bold and underline; drop that (and any SGR escape).
  // eslint-disable-next-line no-control-regex -- grotty's overstrike and escape bytes are the point
  return stdout.replace(/.\x08/g, '').replace(/\x1b\[[0-9;]*m/g, '');
}

// No hyphenation, so identifiers stay whole; white space collapsed, so phrases survive line breaks.
const TEXT = render(['-rHY=0']).replace(/\s+/g, ' ');

const containsWord = (text: string, word: string): boolean =>
  new RegExp(`(?<![A-Za-z0-9_])${word.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}(?![A-Za-z0-9_])`).test(text);

/** Fails with the list of phrases the rendered page lacks (not with the whole page). */
function expectMentions(...phrases: readonly string[]): void {
  expect(phrases.filter((phrase) => !TEXT.includes(phrase))).toEqual([]);
}

function sourceFiles(dir = join(REPO_ROOT, 'src')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

/**
 * Every environment variable name the sources mention: NM_CLOUD_SETUP_* literals, the
 * per-provider template forms (`NM_CLOUD_SETUP_${name}_HOST`, `NM_CLOUD_SETUP_<P>_HOST`)
 * expanded over PROVIDER_ENV_NAMES, and any `env['X']` / `process.env.X` read.
 */
function environmentNames(): Map<string, string> {
  const names = new Map<string, string>();
  for (const path of sourceFiles()) {
    const text = readFileSync(path, 'utf8');
    const where = relative(REPO_ROOT, path);
    for (const [name] of text.matchAll(/\bNM_CLOUD_SETUP_[A-Z0-9_]*[A-Z0-9]/g)) names.set(name, where);
    for (const match of text.matchAll(/\bNM_CLOUD_SETUP_(?:\$\{[^}]*\}|<[A-Za-z]+>)([A-Z0-9_]*[A-Z0-9])?/g)) {
      for (const provider of PROVIDER_ENV_NAMES) names.set(`NM_CLOUD_SETUP_${provider}${match[1] ?? ''}`, where);
    }
    for (const match of text.matchAll(/\benv(?:\[\s*['"`]([A-Z][A-Z0-9_]*)['"`]\s*\]|\.([A-Z][A-Z0-9_]*)\b)/g)) {
      names.set(match[1] ?? match[2] ?? '', where);
    }
  }
  // Read for the tool by libnm's rules or set by systemd: always documented.
  for (const name of ['LIBNM_USE_SESSION_BUS', 'DBUS_SYSTEM_BUS_ADDRESS', 'DBUS_SESSION_BUS_ADDRESS', 'RUNTIME_DIRECTORY']) {
    names.set(name, names.get(name) ?? '(always documented)');
  }
  names.delete('');
  return names;
}

describe('man page nm-cloud-setup(8)', () => {
  it('renders with groff -ww without a single warning', () => {
    const { status, stderr } = groff(['-man', '-Tutf8', '-ww', '-z']);
    expect(stderr).toBe('');
    expect(status).toBe(0);
  });

  it('fits an 80-column terminal', () => {
    const wide = render()
      .split('\n')
      .filter((line) => line.length > 78);
    expect(wide).toEqual([]);
  });

  it('starts with the SPDX line and is the page the unit points to', () => {
    expect(SOURCE.startsWith('.\\" SPDX-License-Identifier: LGPL-2.1-or-later\n')).toBe(true);
    const unit = readFileSync(join(REPO_ROOT, 'systemd/nm-cloud-setup.service'), 'utf8');
    expect(unit).toMatch(/^Documentation=man:nm-cloud-setup\(8\)$/m);
    expect(SOURCE).toMatch(/^\.TH NM\\-CLOUD\\-SETUP 8 /m);
  });

  it('has the sections the issue asks for', () => {
    const sections = [...SOURCE.matchAll(/^\.SH (.*)$/gm)].map((match) => match[1]?.replace(/"/g, ''));
    for (const section of [
      'NAME',
      'SYNOPSIS',
      'DESCRIPTION',
      'COMMANDS',
      'OPTIONS',
      'ENVIRONMENT',
      'PROVIDERS',
      'WHAT IS CONFIGURED',
      'FILES',
      'EXIT STATUS',
      'EXAMPLES',
      'SEE ALSO',
    ]) {
      expect(sections).toContain(section);
    }
  });

  it('documents every environment variable the sources read', () => {
    const names = environmentNames();
    // The scan must see the variables we know about, or it proves nothing.
    for (const known of [
      'NM_CLOUD_SETUP_LOG',
      'NM_CLOUD_SETUP_MAP_INTERFACES',
      'NM_CLOUD_SETUP_ALLOW_NEW_CONN',
      'NM_CLOUD_SETUP_EC2',
      'NM_CLOUD_SETUP_OCI_HOST',
    ]) {
      expect([...names.keys()]).toContain(known);
    }
    const missing = [...names].filter(([name]) => !containsWord(TEXT, name)).map(([name, where]) => `${name} (${where})`);
    expect(missing).toEqual([]);
  });

  it('documents the variables of the planned interface and the system bus default', () => {
    expect(['NM_CLOUD_SETUP_LOG_FORMAT', 'RUNTIME_DIRECTORY'].filter((name) => !containsWord(TEXT, name))).toEqual([]);
    const config = readFileSync(join(REPO_ROOT, 'src/config.ts'), 'utf8');
    const systemBus = /SYSTEM_BUS_DEFAULT = '([^']+)'/.exec(config)?.[1] ?? '';
    expect(systemBus).not.toBe('');
    expectMentions(systemBus, 'TRACE, DEBUG, INFO, WARN, ERR or OFF', 'Default: WARN');
  });

  it("gives the routing tables and rule priorities the planner uses, and not upstream's typo", () => {
    expect([TABLE_SUBNET_BASE, RULE_PRIORITY_MAIN, TABLE_DEFAULT_BASE]).toEqual([30200, 30350, 30400]);
    expectMentions(
      `table ${TABLE_SUBNET_BASE}+i`,
      `table ${TABLE_DEFAULT_BASE}+i`,
      `priority ${TABLE_SUBNET_BASE}+i, from a/32, lookup table ${TABLE_SUBNET_BASE}+i`,
      `priority ${RULE_PRIORITY_MAIN}, lookup table main (254) with suppress_prefixlength 0`,
      `priority ${TABLE_DEFAULT_BASE}+i, from a/32, lookup table ${TABLE_DEFAULT_BASE}+i`,
      `priority ${RULE_PRIORITY_MAIN} table 254 suppress_prefixlength 0`,
      `${MAX_INTERFACES} interfaces`,
      'A single interface with a single address needs no policy routing',
    );
    expect(SOURCE.includes('20350')).toBe(false);
    expect(TEXT.includes('20350')).toBe(false);
  });

  it("names each provider's metadata server and the EC2 IMDSv2 detection", () => {
    expectMentions(...PROVIDERS.map((provider) => `Metadata server: ${provider.defaultBaseUrl}`));
    expectMentions('PUT /latest/api/token', 'X-aws-ec2-metadata-token-ttl-seconds: 180', USER_DATA_SKIP);
  });

  it('names every installed path, as the unit and make install have them', () => {
    const unit = readFileSync(join(REPO_ROOT, 'systemd/nm-cloud-setup.service'), 'utf8');
    const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1] ?? '';
    expect(execStart).not.toBe('');
    expectMentions(
      execStart,
      '/usr/libexec/nm-cloud-setup',
      '/usr/lib/systemd/system/nm-cloud-setup.service',
      '/usr/lib/systemd/system/nm-cloud-setup.timer',
      '/usr/lib/NetworkManager/dispatcher.d/pre-up.d/90-nm-cloud-setup.sh',
      '/usr/lib/NetworkManager/dispatcher.d/no-wait.d/90-nm-cloud-setup.sh',
      '/usr/lib/NetworkManager/dispatcher.d/90-nm-cloud-setup.sh',
      '/run/nm-cloud-setup/state.json',
    );

    // Whatever `make install` lays out under /usr/lib is on the page too.
    const makefile = readFileSync(join(REPO_ROOT, 'Makefile'), 'utf8');
    const installed = new Set([
      ...[...makefile.matchAll(/\$\(DESTDIR\)\$\(DISPATCHER\)\/(\S+\.sh)\b/g)].map(
        (m) => `/usr/lib/NetworkManager/dispatcher.d/${m[1] ?? ''}`,
      ),
      ...[...makefile.matchAll(/\$\(DESTDIR\)\$\(UNITDIR\)\/(\S+)/g)].map((m) => `/usr/lib/systemd/system/${m[1] ?? ''}`),
    ]);
    expect(installed.size).toBeGreaterThan(0);
    expectMentions(...installed);
  });

  it('documents the commands, options and exit statuses', () => {
    expectMentions(
      'nm-cloud-setup [apply]',
      'nm-cloud-setup status [--json]',
      'nm-cloud-setup plan [--json]',
      'nm-cloud-setup --dry-run',
      'nm-cloud-setup fetch',
      '-h, --help',
      '-V, --version',
      'log lines go to standard error',
      'Exit status 0 when nothing would change, 2 when changes are pending, 1 on error',
    );
    expect(TEXT).toMatch(
      / EXIT STATUS 0 No command and apply: every runtime outcome.* 1 A bad command line.* 2 plan: changes are pending\./,
    );
  });

  it('has the examples and cross-references the issue asks for', () => {
    expectMentions(
      'systemctl edit nm-cloud-setup.service',
      '[Service] Environment=NM_CLOUD_SETUP_EC2=yes',
      '[Service] Environment=NM_CLOUD_SETUP_LOG=DEBUG',
      'systemctl enable --now nm-cloud-setup.service',
      'systemctl enable --now nm-cloud-setup.timer',
      `[user] ${USER_DATA_SKIP}=yes`,
      'NetworkManager(8)',
      'nmcli(1)',
      'NetworkManager-dispatcher(8)',
      'systemd.unit(5)',
    );
  });
});
