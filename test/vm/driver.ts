// SPDX-License-Identifier: LGPL-2.1-or-later
// The VM driver: boots the guest once (test/vm/vm.sh), serves the guest agent's requests
// (metadata changes, QMP hotplug) while it runs every scenario, and collects one result per
// scenario (test/vm/README.md). A guest that does not boot or finish fails every scenario it
// did not report; nothing is skipped.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImdsConfig } from '../helpers/metadata-server.js';
import { BOND_MACS, EC2_ADDED_IP, EC2_BOOT, EC2_HOTPLUGGED, MAC2, OCI_BARE_METAL } from './metadata.js';
import { Qmp } from './qmp.js';

const VM_SH = path.join(path.dirname(fileURLToPath(import.meta.url)), 'vm.sh');

/** Every scenario, in the guest's order; each must show up in the report. */
export const SCENARIOS = ['boot', 'timer', 'hotplug', 'oci-bare-metal-vlan', 'openstack-bond-vlan', 'hardening'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
export type ScenarioStatus = 'pass' | 'fail' | 'pending';

export interface ScenarioResult {
  readonly name: ScenarioName;
  readonly status: ScenarioStatus;
  readonly seconds: number;
  /** What the guest checked and saw, one line per check. */
  readonly detail: string;
}

export interface VmReport {
  readonly scenarios: readonly ScenarioResult[];
  /** Host seconds from starting QEMU to the agent's first sign of life (undefined: never). */
  readonly bootSeconds: number | undefined;
  readonly totalSeconds: number;
  /** The run directory: serial.log, imds-requests.log, io/ (journals, security.txt, ...). */
  readonly stateDir: string;
  readonly guestFinished: boolean;
}

export interface VmOptions {
  readonly stateDir?: string;
  /** How long the guest may take from QEMU's start to its last scenario. */
  readonly timeoutMs?: number;
  readonly log?: (line: string) => void;
}

/** Boots the guest, runs all scenarios in that one boot, tears everything down. */
export async function runVm(options: VmOptions = {}): Promise<VmReport> {
  const stateDir = options.stateDir ?? mkdtempSync(path.join(tmpdir(), 'ncsvm-'));
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const started = Date.now();
  writeMetadata(stateDir, EC2_BOOT);
  let watch: { bootSeconds: number | undefined; finished: boolean } = { bootSeconds: undefined, finished: false };
  try {
    await vmSh('up', stateDir);
    watch = await serveGuest(stateDir, options.timeoutMs ?? 20 * 60_000, log);
    await waitQemuExit(stateDir, 60_000);
  } finally {
    await vmSh('down', stateDir).catch((e: unknown) => log(`vm.sh down: ${String(e)}`));
  }
  const scenarios = SCENARIOS.map((name) => readResult(stateDir, name, watch.finished));
  const report: VmReport = {
    scenarios,
    bootSeconds: watch.bootSeconds,
    totalSeconds: (Date.now() - started) / 1000,
    stateDir,
    guestFinished: watch.finished,
  };
  writeFileSync(path.join(stateDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  log(formatReport(report));
  return report;
}

/** The per-scenario table (name, status, seconds). */
export function formatReport(report: VmReport): string {
  const lines = report.scenarios.map((s) => `  ${s.name.padEnd(22)} ${s.status.padEnd(8)} ${s.seconds.toFixed(1).padStart(6)} s`);
  const boot = report.bootSeconds === undefined ? 'never' : `${report.bootSeconds.toFixed(1)} s`;
  return [`VM run (${report.stateDir}): boot to agent ${boot}, total ${report.totalSeconds.toFixed(1)} s`, ...lines].join('\n');
}

function writeMetadata(stateDir: string, config: ImdsConfig): void {
  // imds-server.mjs re-reads the file when it changes; rename keeps each version whole.
  const file = path.join(stateDir, 'imds.json');
  writeFileSync(`${file}.tmp`, JSON.stringify(config));
  renameSync(`${file}.tmp`, file);
}

async function vmSh(command: 'up' | 'down', stateDir: string): Promise<void> {
  const child = spawn('bash', [VM_SH, command], { env: { ...process.env, NCSVM_STATE: stateDir }, stdio: ['ignore', 'inherit', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', resolve);
  });
  if (code !== 0) throw new Error(`vm.sh ${command} exited with ${String(code)}:\n${stderr}`);
}

function qemuAlive(stateDir: string): boolean {
  try {
    process.kill(Number(readFileSync(path.join(stateDir, 'qemu.pid'), 'utf8').trim()), 0);
    return true;
  } catch {
    return false;
  }
}

async function waitQemuExit(stateDir: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (qemuAlive(stateDir) && Date.now() < deadline) await sleep(500);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Answers the agent's req.* files until it writes "done", QEMU dies, or time runs out. */
async function serveGuest(
  stateDir: string,
  timeoutMs: number,
  log: (line: string) => void,
): Promise<{ bootSeconds: number | undefined; finished: boolean }> {
  const io = path.join(stateDir, 'io');
  const started = Date.now();
  let bootSeconds: number | undefined;
  const qmp = await Qmp.connect(path.join(stateDir, 'qmp.sock'));
  try {
    while (Date.now() - started < timeoutMs) {
      if (bootSeconds === undefined && existsSync(path.join(io, 'booted'))) {
        bootSeconds = (Date.now() - started) / 1000;
        log(`guest agent up after ${bootSeconds.toFixed(1)} s`);
      }
      for (const action of pendingRequests(io)) {
        log(`guest asks: ${action}`);
        const ack = await hostAction(action, stateDir, qmp).catch((e: unknown) => `ERROR: ${String(e)}`);
        writeFileSync(path.join(io, `ack.${action}`), `${ack}\n`);
      }
      if (existsSync(path.join(io, 'done'))) return { bootSeconds, finished: true };
      if (!qemuAlive(stateDir)) break;
      await sleep(500);
    }
  } finally {
    qmp.close();
  }
  log(`guest did not finish (QEMU ${qemuAlive(stateDir) ? 'still running: timed out' : 'exited'})`);
  return { bootSeconds, finished: false };
}

function pendingRequests(io: string): string[] {
  const names = readdirSync(io);
  return names.filter((n) => n.startsWith('req.') && !names.includes(`ack.${n.slice(4)}`)).map((n) => n.slice(4));
}

/** One host-side step; the returned text is the ack the guest notes in its detail. */
async function hostAction(action: string, stateDir: string, qmp: Qmp): Promise<string> {
  switch (action) {
    case 'metadata-add-ip':
      writeMetadata(stateDir, EC2_ADDED_IP);
      return 'metadata: 172.16.5.11 added to the second NIC';
    case 'hotplug-add':
      writeMetadata(stateDir, EC2_HOTPLUGGED);
      await qmp.execute('netdev_add', { type: 'tap', id: 'hn2', ifname: 'tap2', script: 'no', downscript: 'no' });
      await qmp.execute('device_add', { driver: 'virtio-net-pci', id: 'hot2', netdev: 'hn2', mac: MAC2 });
      return `metadata lists ${MAC2}; QMP netdev_add tap2 + device_add virtio-net-pci mac=${MAC2}`;
    case 'hotplug-del': {
      await qmp.execute('device_del', { id: 'hot2' });
      // The guest has to release the device (ACPI eject) before QEMU deletes it.
      await qmp.event('DEVICE_DELETED', 300_000);
      await qmp.execute('netdev_del', { id: 'hn2' });
      writeMetadata(stateDir, EC2_ADDED_IP);
      return 'QMP device_del hot2 (DEVICE_DELETED) + netdev_del; metadata no longer lists it';
    }
    case 'metadata-oci':
      writeMetadata(stateDir, OCI_BARE_METAL);
      return 'metadata: OCI bare metal (VLAN VNIC, tag 700)';
    case 'openstack-nics-add': {
      // Two more NICs for the OpenStack bond (its document comes from the guest's config drive).
      const added: string[] = [];
      for (const [i, mac] of BOND_MACS.entries()) {
        await qmp.execute('netdev_add', { type: 'tap', id: `bn${i}`, ifname: `tap${3 + i}`, script: 'no', downscript: 'no' });
        await qmp.execute('device_add', { driver: 'virtio-net-pci', id: `bond${i}`, netdev: `bn${i}`, mac });
        added.push(`tap${3 + i} mac=${mac}`);
      }
      return `QMP netdev_add + device_add virtio-net-pci: ${added.join(', ')}`;
    }
    default:
      throw new Error(`unknown action ${action}`);
  }
}

function readResult(stateDir: string, name: ScenarioName, guestFinished: boolean): ScenarioResult {
  const io = path.join(stateDir, 'io');
  const detail = readOptional(path.join(io, `detail.${name}`));
  const result = readOptional(path.join(io, `result.${name}`));
  const status = /^status=(pass|fail|pending)$/m.exec(result)?.[1] as ScenarioStatus | undefined;
  const seconds = Number(/^seconds=([\d.]+)$/m.exec(result)?.[1] ?? 0);
  if (status === undefined) {
    const why = guestFinished ? 'the guest reported no result' : 'the guest did not get to it (see serial.log)';
    return { name, status: 'fail', seconds, detail: `${why}\n${detail}` };
  }
  return { name, status, seconds, detail };
}

function readOptional(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
