// SPDX-License-Identifier: LGPL-2.1-or-later
//
// Test wrapper around test/harness/realnm.sh: a REAL NetworkManager on a private bus in
// network namespaces, plus test/harness/imds-server.mjs as the metadata server in the
// "cloud" namespace.  Needs root.  No dependencies beyond node:*.
//
//   const nm = await realnmUp({ name: 'ncs-ec2', nics: 2 });
//   const srv = await nm.startMetadataServer({ ec2Token: 't', paths: { '/x': 'y' } });
//   const r = await nm.exec(['node', 'dist/nm-cloud-setup.cjs'], { env: { ... } });
//   await pollUntil(async () => expect(await nm.ipRuleSummary()).toContain('...'));
//   await nm.down();

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const HARNESS_DIR = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(HARNESS_DIR, '..', '..');
export const REALNM_SH = path.join(HARNESS_DIR, 'realnm.sh');
export const IMDS_SERVER = path.join(HARNESS_DIR, 'imds-server.mjs');
export const METADATA_IP = '169.254.169.254';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PROBE_HEADER = 'x-realnm-probe';

// ---------------------------------------------------------------------------------------------
// generic helpers

export interface ExecOptions {
  /** extra environment for the command (on top of a minimal PATH/HOME/LANG environment) */
  env?: Record<string, string>;
  /** kill the command's process group after this long (default 30 s) */
  timeoutMs?: number;
  /** written to the command's stdin */
  input?: string;
}

export interface ExecResult {
  /** exit status; 128+signal when killed by a signal; 124 when timed out */
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
}

function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? DEFAULT_PATH,
    LANG: 'C',
    LC_ALL: 'C',
  };
  for (const k of ['HOME', 'TMPDIR'] as const) {
    const v = process.env[k];
    if (v !== undefined && v !== '') env[k] = v;
  }
  return env;
}

/** Run a command in its own process group; never rejects for a non-zero exit. */
export function run(file: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: { ...baseEnv(), ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true, // own process group, so a timeout kills the whole tree
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: timedOut ? 124 : (code ?? 128 + signalNumber(signal)),
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        durationMs: performance.now() - t0,
      });
    });
  });
}

function signalNumber(sig: NodeJS.Signals | null): number {
  const n =
    sig === null
      ? undefined
      : ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 } as Record<string, number>)[
          sig
        ];
  return n ?? 0;
}

function killGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

function describeResult(what: string, r: ExecResult): string {
  return `${what} failed (code ${r.code}${r.timedOut ? ', timed out' : ''})\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

export interface PollOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** added to the timeout error */
  message?: string;
}

/**
 * Call fn until it neither throws nor returns `false`, and return its value.  Works for
 * predicates (`() => x === y`) and for assertion blocks (`async () => { expect(...) }`).
 * On timeout the last error thrown by fn is re-thrown.  For kernel-state assertions:
 * Reapply may return before the kernel has converged.
 */
export async function pollUntil<T>(fn: () => T | Promise<T>, opts: PollOptions = {}): Promise<Exclude<T, false>> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== false) return v as Exclude<T, false>;
      lastError = undefined;
    } catch (e) {
      lastError = e;
    }
    if (performance.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  if (lastError !== undefined) throw lastError;
  throw new Error(`pollUntil: condition not met within ${timeoutMs} ms${opts.message ? `: ${opts.message}` : ''}`);
}

/** The commands the harness runs that are not installed (NetworkManager, nmcli, dbus-daemon, ip, ...). */
export async function missingRealnmCommands(): Promise<string[]> {
  const r = await run(
    '/bin/sh',
    [
      '-c',
      'for c in NetworkManager nmcli dbus-daemon busctl ip unshare setsid flock curl; do command -v "$c" >/dev/null || echo "$c"; done',
    ],
    { env: { PATH: `${DEFAULT_PATH}:${process.env['PATH'] ?? ''}` } },
  );
  return r.stdout.split('\n').filter(Boolean);
}

/** Throws (does not skip) unless we are root and NetworkManager, nmcli, dbus-daemon, ip exist. */
export async function assertRealnmPrerequisites(): Promise<void> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    throw new Error('the realnm e2e harness needs root (network namespaces, NetworkManager)');
  }
  const missing = await missingRealnmCommands();
  if (missing.length > 0) {
    throw new Error(
      `realnm harness: missing ${missing.join(', ')} (apt-get install -y --no-install-recommends network-manager dbus iproute2 curl)`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// iproute2 JSON shapes (only the fields the tests look at)

export interface IpAddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  label?: string;
  [k: string]: unknown;
}
export interface IpLink {
  ifname: string;
  address?: string;
  addr_info?: IpAddrInfo[];
  stats64?: { rx: { bytes: number; packets: number }; tx: { bytes: number; packets: number } };
  [k: string]: unknown;
}
export interface IpRule {
  priority: number;
  src?: string;
  srclen?: number;
  table?: string;
  suppress_prefixlen?: number;
  protocol?: string;
  [k: string]: unknown;
}
export interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
  metric?: number;
  table?: string;
  protocol?: string;
  scope?: string;
  prefsrc?: string;
  [k: string]: unknown;
}

/** "30200: from 172.16.4.2 lookup 30200", "30350: from all lookup main suppress_prefixlength 0" */
export function formatRule(r: IpRule): string {
  let s = `${r.priority}: from ${r.src ?? 'all'}`;
  if (r.srclen !== undefined && r.src !== 'all' && r.srclen !== 32 && r.srclen !== 128) s += `/${r.srclen}`;
  s += ` lookup ${r.table ?? '?'}`;
  const sp = r.suppress_prefixlen ?? r['suppress_prefixlength'];
  if (sp !== undefined) s += ` suppress_prefixlength ${String(sp)}`;
  return s;
}

/** "172.16.4.0/24 dev eth0 metric 10", "default via 172.16.4.1 dev eth0 metric 10" */
export function formatRoute(r: IpRoute): string {
  let s = r.dst;
  if (r.gateway) s += ` via ${r.gateway}`;
  if (r.dev) s += ` dev ${r.dev}`;
  if (r.metric !== undefined) s += ` metric ${r.metric}`;
  return s;
}

// ---------------------------------------------------------------------------------------------
// the metadata server

export type ImdsPathEntry = string | { status?: number; body?: string; headers?: Record<string, string>; delayMs?: number };

export interface ImdsConfig {
  ec2Token?: string;
  /** With ec2Token: a GET without a token is answered too (EC2's HttpTokens=optional, IMDSv1 clients). */
  ec2TokenOptional?: boolean;
  requireHeaders?: Record<string, string>;
  requireHeadersStatus?: number;
  paths: Record<string, ImdsPathEntry>;
}

export interface ImdsRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  remoteAddress: string;
  status: number;
  time: string;
}

export interface MetadataServer {
  readonly configPath: string;
  readonly logPath: string;
  /** port it listens on (80 in the cloud netns) */
  readonly port: number;
  /** replace the metadata (atomic rename; the server re-reads it on the next request) */
  setConfig(config: ImdsConfig): Promise<void>;
  /** parsed request log, without the harness's own readiness probes */
  requests(): Promise<ImdsRequest[]>;
  stop(): Promise<void>;
}

// busctl --json=short renders a variant as {"type": "<sig>", "data": ...}
type BusctlVariant = { type: string; data: unknown };

function unwrapTyped(type: string, data: unknown): unknown {
  if (type === 'v') return unwrapVariant(data as BusctlVariant);
  if (type === 'a{sv}') return unwrapVardict(data);
  if (type === 'aa{sv}') return (data as unknown[]).map(unwrapVardict);
  return data;
}
function unwrapVariant(v: BusctlVariant): unknown {
  return unwrapTyped(v.type, v.data);
}
function unwrapVardict(d: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(d as Record<string, BusctlVariant>)) out[k] = unwrapVariant(v);
  return out;
}
/** a{sa{sv}} as busctl --json prints it -> {setting: {property: plain value}} */
function unwrapSettings(s: unknown): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [k, v] of Object.entries(s as Record<string, unknown>)) out[k] = unwrapVardict(v);
  return out;
}

async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(value, null, 2) + '\n');
  await fs.rename(tmp, file);
}

// ---------------------------------------------------------------------------------------------
// the NetworkManager instance

export interface RealnmUpOptions {
  /** REALNM_NAME: [A-Za-z0-9_-]{1,20}; netns "<name>-nm" and "<name>-cloud" */
  name: string;
  nics?: number;
  ipv4?: 'static' | 'dhcp';
  /** REALNM_IPV6: profiles with ipv6 disabled (default) or method auto (no router answers) */
  ipv6?: 'disabled' | 'auto';
  /** REALNM_RA=1: the cloud side sends router advertisements (no prefix) on every NIC, so NM learns a router fe80::… (needs ipv6 'auto') */
  routerAdvertisements?: boolean;
  /** REALNM_DHCP6=1: dnsmasq on the cloud side gives eth<i> fd00:16:(4+i)::2 by DHCPv6, with managed RAs (needs ipv6 'auto', no routerAdvertisements) */
  dhcpv6?: boolean;
  /** NetworkManager log level (default INFO); the log is <stateDir>/nm.log */
  nmLogLevel?: string;
  timeoutMs?: number;
  /**
   * false: namespaces, veths, profiles and the cloud side only (REALNM_NM=0), for a
   * NetworkManager that joins the NM namespace from elsewhere (test/systemd-pid1/).
   */
  networkManager?: boolean;
}

export interface RealnmEnv {
  DBUS_SYSTEM_BUS_ADDRESS: string;
  REALNM_NETNS: string;
  REALNM_CLOUD_NETNS: string;
  REALNM_STATE_DIR: string;
  REALNM_MACS: string;
}

function parseExports(stdout: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of stdout.split('\n')) {
    const m = /^export ([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m?.[1] !== undefined && m[2] !== undefined) env[m[1]] = m[2];
  }
  return env;
}

export class RealNm {
  readonly name: string;
  readonly env: RealnmEnv;
  /** interface name -> MAC (lower case, as created) */
  readonly macs: Record<string, string>;
  private readonly scriptEnv: Record<string, string>;
  /** false: realnm.sh started no NetworkManager (REALNM_NM=0) */
  readonly networkManager: boolean;
  private readonly servers = new Set<{ stop(): Promise<void> }>();
  private serverSeq = 0;

  constructor(name: string, scriptEnv: Record<string, string>, env: RealnmEnv) {
    this.name = name;
    this.networkManager = scriptEnv['REALNM_NM'] !== '0';
    this.scriptEnv = scriptEnv;
    this.env = env;
    this.macs = {};
    for (const kv of env.REALNM_MACS.split(',')) {
      const [ifname, mac] = kv.split('=');
      if (ifname && mac) this.macs[ifname] = mac;
    }
  }

  get stateDir(): string {
    return this.env.REALNM_STATE_DIR;
  }
  get netns(): string {
    return this.env.REALNM_NETNS;
  }
  get cloudNetns(): string {
    return this.env.REALNM_CLOUD_NETNS;
  }
  get connectionsDir(): string {
    return path.join(this.stateDir, 'system-connections');
  }
  get nmLogPath(): string {
    return path.join(this.stateDir, 'nm.log');
  }

  /** run realnm.sh itself (up/down/restart/status/...) */
  script(args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return run('bash', [REALNM_SH, ...args], { ...opts, env: { ...this.scriptEnv, ...opts.env } });
  }

  /** run argv inside the NM netns (DBUS_SYSTEM_BUS_ADDRESS set, host /run/dbus hidden) */
  exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.script(['exec', ...argv], opts);
  }

  /** run argv inside the cloud netns */
  cloudExec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.script(['cloud-exec', ...argv], opts);
  }

  /** exec, throw on a non-zero exit, return stdout */
  async execOk(argv: readonly string[], opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(argv, opts);
    if (r.code !== 0) throw new Error(describeResult(`[${this.name}] ${argv.join(' ')}`, r));
    return r.stdout;
  }

  async execJson<T>(argv: readonly string[]): Promise<T> {
    const out = await this.execOk(argv);
    return JSON.parse(out.trim() === '' ? '[]' : out) as T;
  }

  nmcli(args: readonly string[], opts: ExecOptions = {}): Promise<string> {
    return this.execOk(['nmcli', ...args], opts);
  }

  // --- kernel state (inside the NM netns) ---

  /** parsed `ip -j -4 addr show dev X` */
  ipAddrShow(dev: string): Promise<IpLink[]> {
    return this.execJson<IpLink[]>(['ip', '-j', '-4', 'addr', 'show', 'dev', dev]);
  }
  /** ["172.16.4.2/24", ...] in kernel order */
  async ipv4Addrs(dev: string): Promise<string[]> {
    const links = await this.ipAddrShow(dev);
    return links.flatMap((l) => (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`));
  }
  /** parsed `ip -j -4 rule` */
  ipRules(): Promise<IpRule[]> {
    return this.execJson<IpRule[]>(['ip', '-j', '-4', 'rule']);
  }
  /** formatRule() of every rule except the kernel's default local/main/default ones */
  async ipRuleSummary(): Promise<string[]> {
    const rules = await this.ipRules();
    return rules.filter((r) => ![0, 32766, 32767].includes(r.priority)).map(formatRule);
  }
  /** parsed `ip -j -4 route show table N` (empty array for an empty/nonexistent table) */
  async ipRoutes(table: number | string): Promise<IpRoute[]> {
    const r = await this.exec(['ip', '-j', '-4', 'route', 'show', 'table', String(table)]);
    if (r.code !== 0) {
      if (/FIB table does not exist/i.test(r.stderr)) return [];
      throw new Error(describeResult(`[${this.name}] ip route show table ${table}`, r));
    }
    return JSON.parse(r.stdout.trim() === '' ? '[]' : r.stdout) as IpRoute[];
  }
  async ipRouteSummary(table: number | string): Promise<string[]> {
    return (await this.ipRoutes(table)).map(formatRoute);
  }
  /** IPv6 addresses of `dev` with scope global, "addr/prefix" in kernel order (link-local left out) */
  async ipv6Addrs(dev: string): Promise<string[]> {
    const links = await this.execJson<IpLink[]>(['ip', '-j', '-6', 'addr', 'show', 'dev', dev, 'scope', 'global']);
    return links.flatMap((l) => (l.addr_info ?? []).filter((a) => a.family === 'inet6').map((a) => `${a.local}/${a.prefixlen}`));
  }
  /** formatRule() of every `ip -6 rule` except the kernel's default ones (0, 32766) */
  async ipv6RuleSummary(): Promise<string[]> {
    const rules = await this.execJson<IpRule[]>(['ip', '-j', '-6', 'rule']);
    return rules.filter((r) => ![0, 32766].includes(r.priority)).map(formatRule);
  }
  /** formatRoute() of `ip -j -6 route show table N` (empty for an empty/nonexistent table) */
  async ipv6RouteSummary(table: number | string): Promise<string[]> {
    const r = await this.exec(['ip', '-j', '-6', 'route', 'show', 'table', String(table)]);
    if (r.code !== 0) {
      if (/FIB table does not exist/i.test(r.stderr)) return [];
      throw new Error(describeResult(`[${this.name}] ip -6 route show table ${table}`, r));
    }
    return (JSON.parse(r.stdout.trim() === '' ? '[]' : r.stdout) as IpRoute[]).map(formatRoute);
  }
  /** parsed `ip -j -4 route get DST [from SRC]` (first entry) */
  async ipRouteGet(dst: string, from?: string): Promise<IpRoute> {
    const argv = ['ip', '-j', '-4', 'route', 'get', dst, ...(from ? ['from', from] : [])];
    const routes = await this.execJson<IpRoute[]>(argv);
    const r = routes[0];
    if (!r) throw new Error(`[${this.name}] ${argv.join(' ')}: no result`);
    return r;
  }
  /** parsed `ip -s -j link show X` */
  async linkStats(dev: string): Promise<{ rx: { bytes: number; packets: number }; tx: { bytes: number; packets: number } }> {
    const links = await this.execJson<IpLink[]>(['ip', '-s', '-j', 'link', 'show', 'dev', dev]);
    const s = links[0]?.stats64;
    if (!s) throw new Error(`[${this.name}] no stats for ${dev}`);
    return s;
  }
  /** everything that describes the IPv4 state of the NM netns, for "unchanged" comparisons */
  async kernelSnapshot(tables: readonly number[] = []): Promise<Record<string, unknown>> {
    const snap: Record<string, unknown> = {};
    for (const dev of Object.keys(this.macs)) snap[`addr ${dev}`] = await this.ipv4Addrs(dev);
    snap['rules'] = await this.ipRuleSummary();
    snap['main'] = await this.ipRouteSummary('main');
    for (const t of tables) snap[`table ${t}`] = await this.ipRouteSummary(t);
    return snap;
  }

  // --- NetworkManager profiles ---

  /** file name -> bytes of every keyfile in the state dir's system-connections */
  async keyfiles(): Promise<Record<string, Buffer>> {
    const out: Record<string, Buffer> = {};
    for (const f of (await fs.readdir(this.connectionsDir)).sort()) {
      out[f] = await fs.readFile(path.join(this.connectionsDir, f));
    }
    return out;
  }

  private async keyfileOf(profileId: string): Promise<{ file: string; text: string }> {
    for (const f of (await fs.readdir(this.connectionsDir)).sort()) {
      const file = path.join(this.connectionsDir, f);
      const text = await fs.readFile(file, 'utf8');
      if (new RegExp(`^id=${profileId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm').test(text)) return { file, text };
    }
    throw new Error(`[${this.name}] no keyfile with id=${profileId} in ${this.connectionsDir}`);
  }

  /**
   * Delete a profile (`nmcli connection delete`) and wait until its device is DISCONNECTED
   * ("30 (disconnected)"): a NIC with no profile at all, as on an OCI VM's secondary VNIC.
   * NetworkManager.conf has no-auto-default=*, so NM does not invent "Wired connection 1".
   */
  async deleteProfile(profileId: string, ifname?: string): Promise<void> {
    const dev = ifname ?? /^interface-name=(.+)$/m.exec((await this.keyfileOf(profileId)).text)?.[1]?.trim();
    await this.nmcli(['connection', 'delete', 'id', profileId]);
    if (dev) {
      await pollUntil(async () => (await this.deviceState(dev)) === '30 (disconnected)', {
        timeoutMs: 15_000,
        message: `${dev} disconnected after deleting profile ${profileId}`,
      });
    }
  }

  /** `busctl --json=short call` to NetworkManager on the private bus; returns the reply's `data` */
  async nmDbusCall(objectPath: string, iface: string, method: string, signature?: string, ...args: string[]): Promise<unknown[]> {
    const argv = [
      'busctl',
      `--address=${this.env.DBUS_SYSTEM_BUS_ADDRESS}`,
      '--json=short',
      'call',
      'org.freedesktop.NetworkManager',
      objectPath,
      iface,
      method,
      ...(signature === undefined ? [] : [signature, ...args]),
    ];
    const out = await this.execOk(argv);
    return (JSON.parse(out) as { data: unknown[] }).data;
  }

  /** D-Bus object path of the NM device named ifname */
  async deviceObjectPath(ifname: string): Promise<string> {
    const [p] = await this.nmDbusCall(
      '/org/freedesktop/NetworkManager',
      'org.freedesktop.NetworkManager',
      'GetDeviceByIpIface',
      's',
      ifname,
    );
    return String(p);
  }

  /**
   * Device.GetAppliedConnection(0) of ifname, variants unwrapped:
   * `settings.ipv4['address-data']` is `[{address: '172.16.4.2', prefix: 24}, ...]`.
   */
  async appliedConnection(ifname: string): Promise<{ settings: Record<string, Record<string, unknown>>; versionId: number }> {
    const dev = await this.deviceObjectPath(ifname);
    const [settings, versionId] = await this.nmDbusCall(dev, 'org.freedesktop.NetworkManager.Device', 'GetAppliedConnection', 'u', '0');
    return { settings: unwrapSettings(settings), versionId: Number(versionId) };
  }

  /** Settings.Connection.GetSettings() of a settings object path, variants unwrapped */
  async profileSettings(settingsPath: string): Promise<Record<string, Record<string, unknown>>> {
    const [settings] = await this.nmDbusCall(settingsPath, 'org.freedesktop.NetworkManager.Settings.Connection', 'GetSettings');
    return unwrapSettings(settings);
  }

  async deviceState(ifname: string): Promise<string> {
    const r = await this.exec(['nmcli', '-g', 'GENERAL.STATE', 'device', 'show', ifname]);
    return r.stdout.trim();
  }

  async waitDeviceConnected(ifname: string, timeoutMs = 15_000): Promise<void> {
    await pollUntil(async () => (await this.deviceState(ifname)) === '100 (connected)', {
      timeoutMs,
      intervalMs: 50,
      message: `${ifname} connected`,
    });
  }

  /**
   * Tag a profile with user data org.freedesktop.nm-cloud-setup.skip=yes.  nmcli 1.42 has no
   * `user` setting, so append it to the keyfile, `nmcli connection load` it, and re-activate
   * it so that the applied connection (what nm-cloud-setup reads) carries it too.
   */
  async setSkipUserData(profileId: string): Promise<void> {
    const { file, text } = await this.keyfileOf(profileId);
    if (/^\[user\]$/m.test(text)) throw new Error(`${file} already has a [user] section`);
    await fs.appendFile(file, `${text.endsWith('\n') ? '' : '\n'}\n[user]\norg.freedesktop.nm-cloud-setup.skip=yes\n`);
    await this.nmcli(['connection', 'load', file]);
    await this.nmcli(['--wait', '30', 'connection', 'up', profileId], { timeoutMs: 40_000 });
    const ifname = /^interface-name=(.+)$/m.exec(text)?.[1]?.trim();
    if (ifname) await this.waitDeviceConnected(ifname);
  }

  // --- metadata server in the cloud netns ---

  async startMetadataServer(config: ImdsConfig, opts: { listen?: string; timeoutMs?: number } = {}): Promise<MetadataServer> {
    const k = ++this.serverSeq;
    const configPath = path.join(this.stateDir, `imds-${k}.json`);
    const logPath = path.join(this.stateDir, `imds-${k}.log`);
    const listen = opts.listen ?? `${METADATA_IP}:80`;
    const timeoutMs = opts.timeoutMs ?? 10_000;
    await writeJsonAtomic(configPath, config);
    await fs.writeFile(logPath, '');

    const child = spawn(
      'bash',
      [REALNM_SH, 'cloud-exec', process.execPath, IMDS_SERVER, '--config', configPath, '--log', logPath, '--listen', listen],
      { env: { ...baseEnv(), ...this.scriptEnv }, stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    let exited = false;
    const exitPromise = new Promise<void>((resolve) =>
      child.on('close', () => {
        exited = true;
        resolve();
      }),
    );

    const port = await new Promise<number>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => {
        killGroup(child.pid, 'SIGKILL');
        reject(new Error(`imds-server did not start within ${timeoutMs} ms: ${stderr}`));
      }, timeoutMs);
      child.stdout.on('data', (b: Buffer) => {
        buf += b.toString();
        const nl = buf.indexOf('\n');
        if (nl < 0) return;
        clearTimeout(timer);
        try {
          resolve((JSON.parse(buf.slice(0, nl)) as { port: number }).port);
        } catch (e) {
          reject(e);
        }
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        reject(new Error(`imds-server exited early (code ${code}): ${stderr}`));
      });
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });

    const stop = async (): Promise<void> => {
      this.servers.delete(handle);
      if (exited) return;
      killGroup(child.pid, 'SIGTERM');
      const t = setTimeout(() => killGroup(child.pid, 'SIGKILL'), 3000);
      await exitPromise;
      clearTimeout(t);
    };
    const handle = { stop };
    this.servers.add(handle);

    const host = listen.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    if (host === METADATA_IP) {
      // reachable from the NM netns (through eth0's default route)?  Without our own
      // NetworkManager nothing has configured eth0 yet: then check it where it listens.
      const probe = (argv: readonly string[], o: ExecOptions): Promise<ExecResult> =>
        this.networkManager ? this.exec(argv, o) : this.cloudExec(argv, o);
      try {
        await pollUntil(
          async () => {
            const r = await probe(
              ['curl', '--noproxy', '*', '-s', '-o', '/dev/null', '-m', '1', '-H', `${PROBE_HEADER}: 1`, `http://${METADATA_IP}:${port}/`],
              { timeoutMs: 5000 },
            );
            return r.code === 0;
          },
          { timeoutMs, intervalMs: 50, message: `metadata server reachable from the ${this.networkManager ? 'NM' : 'cloud'} netns` },
        );
      } catch (e) {
        await stop();
        throw e;
      }
    }

    return {
      configPath,
      logPath,
      port,
      setConfig: (c: ImdsConfig) => writeJsonAtomic(configPath, c),
      requests: async () => {
        const text = await fs.readFile(logPath, 'utf8');
        return text
          .split('\n')
          .filter((l) => l.trim() !== '')
          .map((l) => JSON.parse(l) as ImdsRequest)
          .filter((r) => r.headers[PROBE_HEADER] === undefined);
      },
      stop,
    };
  }

  // --- lifecycle ---

  /** a guaranteed-fresh NetworkManager (and namespaces); metadata servers are stopped */
  async restart(): Promise<void> {
    await this.stopServers();
    const r = await this.script(['restart'], { timeoutMs: 120_000 });
    if (r.code !== 0) throw new Error(describeResult(`realnm.sh restart (${this.name})`, r));
  }

  private async stopServers(): Promise<void> {
    for (const s of [...this.servers]) await s.stop().catch(() => undefined);
  }

  async down(): Promise<void> {
    await this.stopServers();
    const r = await this.script(['down'], { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(describeResult(`realnm.sh down (${this.name})`, r));
  }
}

export async function realnmUp(opts: RealnmUpOptions): Promise<RealNm> {
  await assertRealnmPrerequisites();
  const scriptEnv: Record<string, string> = {
    // NCS_REALNM_PREFIX keeps side-by-side checkouts (and their test runs) in their own namespaces.
    REALNM_NAME: `${process.env['NCS_REALNM_PREFIX'] ?? ''}${opts.name}`,
    REALNM_NICS: String(opts.nics ?? 2),
    REALNM_IPV4: opts.ipv4 ?? 'static',
    REALNM_IPV6: opts.ipv6 ?? 'disabled',
    REALNM_RA: opts.routerAdvertisements === true ? '1' : '0',
    REALNM_DHCP6: opts.dhcpv6 === true ? '1' : '0',
    REALNM_HTTP: '0',
    REALNM_NM_LOGLEVEL: opts.nmLogLevel ?? 'INFO',
    REALNM_NM: opts.networkManager === false ? '0' : '1',
  };
  const r = await run('bash', [REALNM_SH, 'up'], { env: scriptEnv, timeoutMs: opts.timeoutMs ?? 120_000 });
  if (r.code !== 0) throw new Error(describeResult(`realnm.sh up (${opts.name})`, r));
  const exported = parseExports(r.stdout);
  for (const k of ['DBUS_SYSTEM_BUS_ADDRESS', 'REALNM_NETNS', 'REALNM_CLOUD_NETNS', 'REALNM_STATE_DIR', 'REALNM_MACS']) {
    if (!exported[k]) throw new Error(`realnm.sh up (${opts.name}): ${k} missing from its output:\n${r.stdout}`);
  }
  const env = exported as unknown as RealnmEnv;
  // pin the state dir so later calls do not depend on TMPDIR
  scriptEnv['REALNM_STATE_DIR'] = env.REALNM_STATE_DIR;
  return new RealNm(opts.name, scriptEnv, env);
}
