// SPDX-License-Identifier: LGPL-2.1-or-later
// The bench runs node as the shipped unit does: its ExecStart flags and its Environment= lines.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { unitEnvironment, unitNodeFlags } from '../../scripts/bench/main.js';
import { REPO_ROOT } from '../helpers/bundle.js';

const UNIT = readFileSync(join(REPO_ROOT, 'systemd', 'nm-cloud-setup.service'), 'utf8');

describe("the bench reads the unit's node settings", () => {
  it("node's flags from ExecStart", () => {
    expect(unitNodeFlags(UNIT).slice(0, 2)).toEqual(['--jitless', '--no-expose-wasm']);
  });

  it('the environment from Environment= lines, not from the commented examples', () => {
    expect(unitEnvironment(UNIT)).toEqual({ MALLOC_MMAP_THRESHOLD_: '131072' });
    expect(unitEnvironment('#   Environment=NM_CLOUD_SETUP_EC2=yes\nEnvironment=A=1 "B=two words"\nEnvironment=C=x=y\n')).toEqual({
      A: '1',
      B: 'two words',
      C: 'x=y',
    });
  });
});
