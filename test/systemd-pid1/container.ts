// SPDX-License-Identifier: LGPL-2.1-or-later
// systemd as PID 1 for the shipped units: a systemd-nspawn container boots the host's own /usr
// (systemd 252, NetworkManager, dbus, node) with a volatile, empty /etc, joins the realnm
// harness's NM network namespace (its veths, profiles and the metadata server at
// 169.254.169.254 in the cloud namespace), and runs what `make install` produced, enabled as an
// admin does. probe.sh records the outcome to a bound directory and powers the container off.
//
//   image (scratch DESTDIR)              container
//   usr/  (make install)       overlay   /usr = host /usr + our files (libexec, units, hook)
//   etc/systemd/system/        bind-ro   /etc/systemd/system: enablement, drop-ins, probe
//   <realnm>/system-connections bind-ro  /etc/NetworkManager/system-connections
//   out/                       bind      /out: probe results
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { installTree, type InstalledTree } from '../helpers/install-tree.js';
import type { RealNm } from '../harness/realnm.js';

const execFileAsync = promisify(execFile);
const HERE = path.dirname(fileURLToPath(import.meta.url));
export const PROBE_SH = path.join(HERE, 'probe.sh');
export const UNIT_PATH = '/usr/lib/systemd/system/nm-cloud-setup.service';
const SYSTEM = 'etc/systemd/system';

/** A boot that could not happen or did not reach the probe's end. */
export class ContainerError extends Error {
  override name = 'ContainerError';
  readonly code = 'ERR_NSPAWN_BOOT';
}

/** Throws (never skips) unless we are root and systemd-nspawn is installed. */
export async function assertNspawnPrerequisites(): Promise<void> {
  if (process.getuid?.() !== 0) throw new ContainerError('the systemd-as-PID-1 tests need root (systemd-nspawn)');
  try {
    await execFileAsync('systemd-nspawn', ['--version']);
  } catch (cause) {
    throw new ContainerError('systemd-nspawn is missing: apt-get install systemd-container (scripts/setup-debian.sh does)', { cause });
  }
}

// What Debian's dbus and network-manager packages enable on an installed system. The container's
// /etc starts empty, and systemd's first-boot presets would enable every unit installed on the
// host (whatever it is), so the boot is told it is not the first and gets exactly these.
const DISTRIBUTION_ENABLED: readonly (readonly [string, string])[] = [
  ['sockets.target.wants/dbus.socket', 'dbus.socket'],
  ['multi-user.target.wants/NetworkManager.service', 'NetworkManager.service'],
  ['network-online.target.wants/NetworkManager-wait-online.service', 'NetworkManager-wait-online.service'],
  // D-Bus activates the dispatcher through this alias (org.freedesktop.nm_dispatcher.service).
  ['dbus-org.freedesktop.nm-dispatcher.service', 'NetworkManager-dispatcher.service'],
];

// systemd-nspawn makes /proc/sys/net writable only for a network namespace it creates itself
// (--private-network); a joined one stays read-only and NetworkManager's sysctl writes fail.
// This does what nspawn does for its own namespaces.
const WRITABLE_NET_SYSCTLS = `[Unit]
Description=Writable /proc/sys/net, as systemd-nspawn --private-network gives
DefaultDependencies=no
Before=sysinit.target NetworkManager.service

[Service]
Type=oneshot
ExecStart=/bin/mount --bind /proc/sys/net /proc/sys/net
ExecStart=/bin/mount -o remount,bind,rw /proc/sys/net
`;

function probeUnit(scenarios: readonly string[]): string {
  return `[Unit]
Description=Test probe: record the boot, run the scenarios, power off
Wants=network-online.target
After=network-online.target nm-cloud-setup.service
SuccessAction=poweroff
FailureAction=poweroff

[Service]
Type=oneshot
TimeoutStartSec=120
ExecStart=/probe/probe.sh ${scenarios.join(' ')}
`;
}

export interface ImageOptions {
  /** The installed unit's text -> the unit to boot (default: as installed). */
  readonly editUnit?: (unit: string) => string;
  /** Drop-ins and other files, by path under /etc/systemd/system. */
  readonly files: Readonly<Record<string, string>>;
  /** probe.sh's scenarios after the boot snapshot, in order. */
  readonly scenarios?: readonly ('timer' | 'dispatcher' | 'early_term')[];
}

export interface Image {
  readonly tree: InstalledTree;
  /** The unit the container boots with. */
  readonly unit: string;
}

function writeFile(root: string, relative: string, text: string): void {
  const file = path.join(root, relative);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}

function link(root: string, relative: string, target: string): void {
  const file = path.join(root, relative);
  mkdirSync(path.dirname(file), { recursive: true });
  symlinkSync(target, file);
}

/** `make install DESTDIR=<scratch> PREFIX=/usr`, `systemctl --root enable` as an admin does, plus the test's files. */
export async function buildImage(opts: ImageOptions): Promise<Image> {
  const tree = await installTree();
  const unitFile = tree.at(UNIT_PATH);
  const unit = (opts.editUnit ?? ((u: string) => u))(readFileSync(unitFile, 'utf8'));
  writeFileSync(unitFile, unit);
  // Also checks the [Install] sections: the links land where systemd looks for them.
  await execFileAsync('systemctl', [`--root=${tree.destdir}`, '--quiet', 'enable', 'nm-cloud-setup.service', 'nm-cloud-setup.timer']);
  const system = tree.at(SYSTEM);
  for (const [name, unitName] of DISTRIBUTION_ENABLED) link(system, name, `/usr/lib/systemd/system/${unitName}`);
  writeFile(system, 'netns-sysctls.service', WRITABLE_NET_SYSCTLS);
  link(system, 'sysinit.target.wants/netns-sysctls.service', '/etc/systemd/system/netns-sysctls.service');
  writeFile(system, 'probe.service', probeUnit(opts.scenarios ?? []));
  for (const [name, text] of Object.entries(opts.files)) writeFile(system, name, text);
  mkdirSync(tree.at('out'));
  return { tree, unit };
}

export interface Boot {
  /** systemd-nspawn's exit status (0: the container powered off), or null if killed */
  readonly code: number | null;
  readonly timedOut: boolean;
  /** from starting systemd-nspawn to its exit */
  readonly durationMs: number;
  /** the container's console (systemd's boot and shutdown messages) */
  readonly console: string;
  /** where probe.sh wrote its files */
  readonly outDir: string;
}

function nspawnArgs(machine: string, image: Image, nm: RealNm): string[] {
  const dest = image.tree.destdir;
  return [
    '--quiet',
    '--directory=/',
    '--volatile=yes',
    '--register=no',
    '--keep-unit',
    `--machine=${machine}`,
    `--network-namespace-path=/run/netns/${nm.netns}`,
    // nspawn grants it only with a network namespace of its own; NetworkManager needs it here.
    '--capability=CAP_NET_ADMIN',
    `--overlay-ro=/usr:${path.join(dest, 'usr')}:/usr`,
    `--bind-ro=${path.join(dest, SYSTEM)}:/etc/systemd/system`,
    `--bind-ro=${nm.connectionsDir}:/etc/NetworkManager/system-connections`,
    `--bind-ro=${PROBE_SH}:/probe/probe.sh`,
    `--bind=${path.join(dest, 'out')}:/out`,
    // Kernel command line: no first-boot wizard (it waits for a key) and no first-boot presets.
    '--boot',
    'systemd.firstboot=off',
    'systemd.condition-first-boot=false',
    'systemd.wants=probe.service',
  ];
}

// With --keep-unit, nspawn makes the cgroup it runs in the container's root cgroup. Run from
// the test's own cgroup, parallel containers would share /system.slice/nm-cloud-setup.service
// and remove it under each other (status=219/CGROUP); each container gets its own, in every
// hierarchy systemd tracks processes in: the v1 name=systemd one and the unified (v2) one.
function ownCgroups(machine: string): string[] {
  const memberships = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
  const named = memberships.find((l) => /^\d+:name=systemd:/.test(l))?.replace(/^\d+:name=systemd:/, '');
  const unified = memberships.find((l) => l.startsWith('0::'))?.slice('0::'.length);
  const hierarchies: [string, string | undefined][] = [
    ['/sys/fs/cgroup/systemd', named], // legacy and hybrid hosts
    ['/sys/fs/cgroup/unified', unified], // hybrid hosts
    ['/sys/fs/cgroup', unified], // unified hosts
  ];
  const dirs = hierarchies
    .filter(([root, current]) => current !== undefined && existsSync(path.join(root, 'cgroup.procs')))
    .map(([root, current]) => path.join(root, current ?? '/', `ncs-nspawn-${machine}`));
  for (const dir of dirs) mkdirSync(dir, { recursive: true });
  return dirs;
}

/** rmdir a cgroup and what the container's systemd left in it, deepest first (cgroupfs has no rm -r). */
function removeCgroup(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) removeCgroup(path.join(dir, entry.name));
  }
  rmdirSync(dir);
}

/**
 * Boots the image until probe.sh powers it off. On timeout (later than the probe unit's own
 * TimeoutStartSec=, so a stuck probe fails first and still powers off) nspawn gets SIGTERM,
 * which asks the container's systemd to power off, then SIGKILL. Rejects if the probe did not finish.
 */
export function boot(machine: string, image: Image, nm: RealNm, timeoutMs = 150_000): Promise<Boot> {
  const outDir = image.tree.at('out');
  const t0 = performance.now();
  const cgroups = ownCgroups(machine);
  return new Promise<Boot>((resolve, reject) => {
    const inCgroups = 'for dir in $0; do echo $$ >"$dir/cgroup.procs" || exit 1; done; exec systemd-nspawn "$@"';
    const child = spawn('sh', ['-c', inCgroups, cgroups.join(' '), ...nspawnArgs(machine, image, nm)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // The container gets the unified hierarchy (cgroup v2), as Debian 12 boots, even on a host
      // with the legacy one: systemd 252 on v1 in a container lost its own service cgroups
      // (status=219/CGROUP) now and then.
      env: { ...process.env, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' },
    });
    let consoleText = '';
    child.stdout.on('data', (b: Buffer) => (consoleText += b.toString()));
    child.stderr.on('data', (b: Buffer) => (consoleText += b.toString()));
    let timedOut = false;
    const term = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(term);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(term);
      const result: Boot = { code, timedOut, durationMs: performance.now() - t0, console: consoleText, outDir };
      if (code === 0 && !timedOut && existsSync(path.join(outDir, 'done'))) resolve(result);
      else
        reject(
          new ContainerError(
            `the container did not finish its probe (exit ${code}${timedOut ? ', timed out' : ''}):\n${consoleText}\n${probeErrors(outDir)}`,
          ),
        );
    });
  }).finally(() => {
    // Best effort: a cgroup left behind must not hide the boot's own outcome.
    for (const dir of cgroups) {
      try {
        removeCgroup(dir);
      } catch (e) {
        console.warn(`could not remove ${dir}: ${String(e)}`);
      }
    }
  });
}

function probeErrors(outDir: string): string {
  const file = path.join(outDir, 'errors');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/** `systemctl show` output the probe saved as <name>.txt, as a map. */
export function readShow(boot: Boot, name: string): Record<string, string> {
  const text = readFileSync(path.join(boot.outDir, `${name}.txt`), 'utf8');
  return Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

export function readJson<T>(boot: Boot, name: string): T {
  return JSON.parse(readFileSync(path.join(boot.outDir, name), 'utf8')) as T;
}

export function readText(boot: Boot, name: string): string {
  return readFileSync(path.join(boot.outDir, name), 'utf8');
}

/** One journal entry (`journalctl -o json`), the fields the tests read. */
export interface JournalEntry {
  readonly MESSAGE?: string;
  readonly UNIT?: string;
  readonly _SYSTEMD_UNIT?: string;
  readonly SYSLOG_IDENTIFIER?: string;
  readonly __MONOTONIC_TIMESTAMP: string;
  readonly [field: string]: unknown;
}

/** The container's whole journal of this boot, in journal order. */
export function readJournal(boot: Boot): JournalEntry[] {
  return readText(boot, 'journal.json')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as JournalEntry);
}
