// SPDX-License-Identifier: LGPL-2.1-or-later
import { defineConfig } from 'vitest/config';

/**
 * Three groups, one after the other (sequence.groupOrder), in one run with one summary line:
 * the in-process tests first, on a machine with nothing else running, because many of them
 * shrink upstream's timeouts (timeScale) and a starved event loop would trip them; then the
 * real-system layers (private buses, NetworkManager in namespaces, systemd as PID 1); the VM
 * last and alone, because its two TCG vCPUs fill a 2-core machine.
 */
const UNIT = ['test/*.test.ts', 'test/net/**/*.test.ts', 'test/plan/**/*.test.ts', 'test/providers/**/*.test.ts', 'test/docs/**/*.test.ts'];
const VM = ['test/vm/**/*.test.ts'];

export default defineConfig({
  test: {
    setupFiles: ['test/setup.ts'],
    // The real-system tests bring up NetworkManager in namespaces; give them room.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Most test time is waiting (poll windows, NetworkManager, child processes), not CPU.
    maxWorkers: 4,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'system', include: ['test/**/*.test.ts'], exclude: [...UNIT, ...VM], sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: 'vm', include: VM, sequence: { groupOrder: 2 } } },
    ],
  },
});
