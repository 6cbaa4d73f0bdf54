// SPDX-License-Identifier: LGPL-2.1-or-later
// The layer catches the bug it was built for: the same boot as boot.test.ts with the unit as it
// was before the pkey allowance (commit 3fe9f11) ends with systemd killing node by SIGSYS
// (status=31/SYS), because V8 calls pkey_alloc at start-up and @system-service lacks it. And the
// SystemCallErrorNumber=EPERM decision, checked on the same boot: without the pkey line the call
// fails with EPERM instead, V8 does without memory protection keys, and the run succeeds.
import { describe, expect, it } from 'vitest';
import { readJournal, readShow, readText } from './container.js';
import { EC2_DROP_IN, useBoot } from './scenario.js';

const PKEY_LINE = /^SystemCallFilter=pkey_alloc pkey_free pkey_mprotect\n/m;
const ERRNO_LINE = /^SystemCallErrorNumber=EPERM\n/m;

/** The unit without these lines; throws unless each was there exactly once. */
function withoutLines(unit: string, lines: readonly RegExp[]): string {
  return lines.reduce((text, line) => {
    const global = new RegExp(line.source, 'gm');
    if ((text.match(global) ?? []).length !== 1) throw new Error(`the installed unit does not have exactly one ${line.source}`);
    return text.replace(line, '');
  }, unit);
}

const toolSaid = (lines: readonly string[], text: string): boolean => lines.some((m) => m.endsWith(`<info>  ${text}`));

describe('systemd as PID 1: the unit without the pkey_* allowance and without SystemCallErrorNumber= (before 3fe9f11)', () => {
  const scenario = useBoot('pid1-sigsys', {
    editUnit: (unit) => withoutLines(unit, [PKEY_LINE, ERRNO_LINE]),
    files: { 'nm-cloud-setup.service.d/10-ec2.conf': EC2_DROP_IN },
  });

  it('is killed by SIGSYS: Result=signal, status 31', () => {
    const b = scenario.boot;
    expect(scenario.image.unit).toMatch(/^SystemCallFilter=@system-service$/m);
    expect(scenario.image.unit).not.toMatch(/^SystemCallFilter=.*pkey/m);
    expect(scenario.image.unit).not.toMatch(/^SystemCallErrorNumber=/m);
    // ExecMainCode 2 is CLD_KILLED: a signal ended the process, and 31 is SIGSYS.
    expect(readShow(b, 'boot-service'), readText(b, 'unit-journal.txt')).toMatchObject({
      Result: 'signal',
      ExecMainCode: '2',
      ExecMainStatus: '31',
    });
  });

  it('the journal says so, and the tool never got to log a line', () => {
    const entries = readJournal(scenario.boot).filter(
      (e) => e.UNIT === 'nm-cloud-setup.service' || e._SYSTEMD_UNIT === 'nm-cloud-setup.service',
    );
    const messages = entries.map((e) => e.MESSAGE ?? '');
    expect(messages).toContain('nm-cloud-setup.service: Main process exited, code=killed, status=31/SYS');
    expect(entries.filter((e) => e._SYSTEMD_UNIT === 'nm-cloud-setup.service')).toEqual([]);
  });
});

describe('systemd as PID 1: the unit without the pkey_* allowance but with SystemCallErrorNumber=EPERM', () => {
  const scenario = useBoot('pid1-eperm', {
    editUnit: (unit) => withoutLines(unit, [PKEY_LINE]),
    files: { 'nm-cloud-setup.service.d/10-ec2.conf': EC2_DROP_IN },
  });

  it('degrades instead of dying: pkey_alloc fails, node runs on, and the boot run configures the devices', () => {
    const b = scenario.boot;
    expect(scenario.image.unit).toMatch(/^SystemCallErrorNumber=EPERM$/m);
    expect(scenario.image.unit).not.toMatch(/^SystemCallFilter=.*pkey/m);
    expect(readShow(b, 'boot-service'), readText(b, 'unit-journal.txt')).toMatchObject({
      Result: 'success',
      ExecMainCode: '1',
      ExecMainStatus: '0',
    });
    const toolLines = readJournal(b)
      .filter((e) => e._SYSTEMD_UNIT === 'nm-cloud-setup.service')
      .map((e) => e.MESSAGE ?? '');
    expect(toolSaid(toolLines, 'some changes were applied for provider ec2'), toolLines.join('\n')).toBe(true);
  });
});
