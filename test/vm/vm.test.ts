// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The VM layer: a QEMU/TCG guest with Debian's kernel, systemd as PID 1, NetworkManager and
// the project's .deb (test/vm/README.md). The driver boots it ONCE and runs every scenario in
// that boot; each test below asserts one scenario's reported status. Needs root, QEMU and
// linux-image-amd64 (scripts/setup-debian.sh); without them the run FAILS (it never skips).
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runVm, SCENARIOS, type ScenarioName, type ScenarioStatus, type VmReport } from './driver.js';

// Every scenario must pass; "pending" (a scenario that cannot run yet) counts as a failure here.
const EXPECTED: Record<ScenarioName, ScenarioStatus> = {
  boot: 'pass',
  timer: 'pass',
  hotplug: 'pass',
  'oci-bare-metal-vlan': 'pass',
  'openstack-bond-vlan': 'pass',
  hardening: 'pass',
};

describe('VM: nm-cloud-setup installed from the .deb in a systemd guest', () => {
  let report: VmReport | undefined;

  beforeAll(async () => {
    report = await runVm();
  }, 30 * 60_000);

  // The run directory (serial console, journals, results) stays for a look when anything is
  // off, or with NCSVM_KEEP=1.
  afterAll(() => {
    const asExpected = report?.guestFinished === true && report.scenarios.every((s) => s.status === EXPECTED[s.name]);
    if (report !== undefined && asExpected && process.env['NCSVM_KEEP'] !== '1') rmSync(report.stateDir, { recursive: true, force: true });
  });

  it('the guest booted and ran every scenario', () => {
    expect(report?.bootSeconds, `no agent: see ${report?.stateDir}/serial.log`).toBeDefined();
    expect(report?.guestFinished, `see ${report?.stateDir}/serial.log`).toBe(true);
  });

  it.each(SCENARIOS)('scenario %s', (name) => {
    const result = report?.scenarios.find((s) => s.name === name);
    expect(result?.status, `${name}:\n${result?.detail ?? 'no result'}`).toBe(EXPECTED[name]);
  });
});
