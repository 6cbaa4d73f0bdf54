// SPDX-License-Identifier: LGPL-2.1-or-later
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    // The real-system tests bring up NetworkManager in namespaces; give them room.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Most test time is waiting (poll windows, NetworkManager, child processes), not CPU.
    maxWorkers: 4,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
