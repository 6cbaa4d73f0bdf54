// SPDX-License-Identifier: LGPL-2.1-or-later
// The dependency rules of docs/architecture.md, checked on the sources.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundlePath, REPO_ROOT } from './helpers/bundle.js';

const SRC = join(REPO_ROOT, 'src');

function sources(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

const FILES = sources().map((path) => ({ path: relative(SRC, path), text: readFileSync(path, 'utf8') }));
/** Static imports and dynamic import('…') calls. */
const importsOf = (text: string): string[] =>
  [...text.matchAll(/^import[^'"]*['"]([^'"]+)['"]|\bimport\(['"]([^'"]+)['"]\)/gm)].map((match) => match[1] ?? match[2] ?? '');

describe('module boundaries', () => {
  it('only state-file.ts writes files (state.json); nothing else touches the file system but /proc/uptime and the config drive', () => {
    const writers = FILES.filter((file) => /\b(writeFile|rename|mkdir|chmod|rm|appendFile|createWriteStream)(Sync)?\(/.test(file.text)).map(
      (file) => file.path,
    );
    expect(writers).toEqual(['state-file.ts']);
    const fsUsers = FILES.filter((file) => importsOf(file.text).some((path) => /^node:fs/.test(path)))
      .map((file) => file.path)
      .sort();
    expect(fsUsers).toEqual(['cli.ts', 'config-drive.ts', 'state-file.ts']);
  });

  it('got and dbus-next load lazily: the composition root imports their modules only as types or via import()', () => {
    const statics = FILES.flatMap((file) =>
      [...file.text.matchAll(/^import (?!type )[^'"]*['"]((?:\.\.?\/)+(?:http|nm\/dbus-client|dbus-client)\.js)['"]/gm)].map(
        (match) => `${file.path}: ${match[1] ?? ''}`,
      ),
    );
    expect(statics).toEqual([]);
  });

  it('http.ts never turns on the got features the bundle leaves out (scripts/build-stubs/)', () => {
    const http = FILES.find((file) => file.path === 'http.ts')?.text ?? '';
    expect(http).toMatch(/got\.extend\(/);
    for (const option of ['http2', 'cache', 'dnsCache', 'cacheOptions']) expect(http).not.toMatch(new RegExp(`\\b${option}\\s*:`));
  });

  it('the bundle carries the stand-ins, not the HTTP/2 and cache modules of got', () => {
    // got lives in a file of its own beside the main bundle (scripts/build.mjs).
    const bundle = ['', '.got', '.dbus-next', '.xml2js']
      .map((part) => readFileSync(bundlePath().replace(/\.cjs$/, `${part}.cjs`), 'utf8'))
      .join('\n');
    for (const message of ['built without HTTP/2 support', 'built without the HTTP cache', 'built without the DNS cache']) {
      expect(bundle).toContain(message);
    }
    // Strings of the real modules: http2-wrapper's proxy agents, cacheable-request's Keyv namespace.
    expect(bundle).not.toMatch(/Http2OverHttp|"cacheable-request"/);
  });

  it('every source file starts with an SPDX line', () => {
    for (const file of FILES) expect(file.text.startsWith('// SPDX-License-Identifier: LGPL-2.1-or-later\n'), file.path).toBe(true);
  });

  it('every provider is registered, in upstream order', () => {
    const providers = FILES.flatMap((file) => [...file.text.matchAll(/^export const (\w+): Provider = \{/gm)].map((match) => match[1]));
    expect(providers.sort()).toEqual(['aliyun', 'azure', 'ec2', 'gcp', 'oci', 'openstack']);
    const registry = FILES.find((file) => file.path === 'providers/registry.ts')?.text ?? '';
    expect(registry).toMatch(/PROVIDERS: readonly Provider\[\] = \[ec2, gcp, azure, aliyun, oci, openstack\];/);
  });
});
