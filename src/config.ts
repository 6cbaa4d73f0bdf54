// SPDX-License-Identifier: LGPL-2.1-or-later
import { LOG_FORMATS, type LogFormat, type LogLevel } from './log.js';
import { normalizeHwaddr } from './net/hwaddr.js';

/** The opt-in names of the providers, as in the NM_CLOUD_SETUP_<NAME> variables. */
export const PROVIDER_ENV_NAMES = ['EC2', 'GCP', 'AZURE', 'ALIYUN', 'OCI', 'OPENSTACK'] as const;
export type ProviderEnvName = (typeof PROVIDER_ENV_NAMES)[number];

/** One NM_CLOUD_SETUP_MAP_INTERFACES entry: this interface name takes this MAC. */
export interface InterfaceMapping {
  readonly iface: string;
  readonly hwaddr: string;
}

/** Everything the tool reads from its environment, parsed once. */
export interface Config {
  readonly logLevel: LogLevel;
  readonly enabledProviders: ReadonlySet<ProviderEnvName>;
  /** Raw NM_CLOUD_SETUP_<NAME>_HOST values (non-empty only); providers turn them into base URLs. */
  readonly hostOverrides: ReadonlyMap<ProviderEnvName, string>;
  /** NM_CLOUD_SETUP_MAP_INTERFACES exactly as given, or undefined when unset or empty. */
  readonly mapInterfacesRaw: string | undefined;
  readonly mapInterfaces: readonly InterfaceMapping[];
  /** NM_CLOUD_SETUP_IPV6: configure the metadata's IPv6 addresses and policy routing too (default off). */
  readonly ipv6: boolean;
  /** NM_CLOUD_SETUP_IPV6 was set to a valid boolean: it then overrides a provider's own default. */
  readonly ipv6Given?: boolean;
  /** NM_CLOUD_SETUP_OPENSTACK_CONFIG_DRIVE: where the config drive is mounted; read instead of HTTP. */
  readonly openstackConfigDrive?: string;
  /** NM_CLOUD_SETUP_ALLOW_NEW_CONN; undefined means "the provider's default". */
  readonly allowNewConnections: boolean | undefined;
  /** LIBNM_USE_SESSION_BUS is set (to anything): talk to NM on the session bus, as libnm does. */
  readonly useSessionBus: boolean;
  /** Where NetworkManager is: the session or system bus address; undefined when none is known. */
  readonly busAddress: string | undefined;
  /** NM_CLOUD_SETUP_LOG_FORMAT: upstream's text lines (default) or JSON lines. */
  readonly logFormat: LogFormat;
  /** Where state.json goes: systemd's $RUNTIME_DIRECTORY (RuntimeDirectory=), else /run/nm-cloud-setup. */
  readonly stateDir: string;
  /** Problems found while parsing, one line each, for the caller to log as warnings. */
  readonly warnings: readonly string[];
}

const TRUE_WORDS = new Set(['true', 'yes', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'off', '0']);

/** Parses a boolean as upstream's _nm_utils_ascii_str_to_bool(); undefined for anything else. */
export function parseBoolean(text: string | undefined): boolean | undefined {
  const word = text?.trim().toLowerCase();
  if (word === undefined) return undefined;
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  return undefined;
}

const LEVEL_WORDS: Readonly<Record<string, LogLevel>> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERR: 'error',
  OFF: 'off',
  // Upstream's "KEEP" keeps the current level, which for this one-shot tool is the default.
  KEEP: 'warn',
};

type Env = Readonly<Record<string, string | undefined>>;

/** The D-Bus specification's default system bus address. */
const SYSTEM_BUS_DEFAULT = 'unix:path=/var/run/dbus/system_bus_socket';

/** The unit's RuntimeDirectory=nm-cloud-setup, for runs outside systemd. */
export const STATE_DIR_DEFAULT = '/run/nm-cloud-setup';

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** Reads the NM_CLOUD_SETUP_* variables (and LIBNM_USE_SESSION_BUS) from `env`. */
export function readConfig(env: Env = process.env): Config {
  const warnings: string[] = [];

  const readBoolean = (name: string): boolean | undefined => {
    const raw = env[name];
    const value = parseBoolean(raw);
    // Upstream silently falls back to the default; an admin deserves to hear about the typo.
    if (value === undefined && raw !== undefined && raw.trim() !== '') {
      warnings.push(`invalid boolean ${name}="${raw}": expected yes/no, true/false, on/off or 1/0; using the default`);
    }
    return value;
  };

  const rawLevel = env['NM_CLOUD_SETUP_LOG'];
  let logLevel: LogLevel = 'warn';
  if (rawLevel !== undefined && rawLevel.trim() !== '') {
    const level = LEVEL_WORDS[rawLevel.trim().toUpperCase()];
    if (level === undefined) {
      warnings.push(`invalid NM_CLOUD_SETUP_LOG="${rawLevel}": expected TRACE, DEBUG, INFO, WARN, ERR or OFF; using WARN`);
    } else {
      logLevel = level;
    }
  }

  const rawFormat = env['NM_CLOUD_SETUP_LOG_FORMAT'];
  let logFormat: LogFormat = 'text';
  if (rawFormat !== undefined && rawFormat.trim() !== '') {
    const format = LOG_FORMATS.find((word) => word === rawFormat.trim().toLowerCase());
    if (format === undefined) warnings.push(`invalid NM_CLOUD_SETUP_LOG_FORMAT="${rawFormat}": expected text or json; using text`);
    else logFormat = format;
  }

  // systemd joins several RuntimeDirectory= entries with ":"; ours is the only one.
  const stateDir = nonEmpty(env['RUNTIME_DIRECTORY']?.split(':')[0]) ?? STATE_DIR_DEFAULT;

  const enabledProviders = new Set<ProviderEnvName>();
  const hostOverrides = new Map<ProviderEnvName, string>();
  for (const name of PROVIDER_ENV_NAMES) {
    if (readBoolean(`NM_CLOUD_SETUP_${name}`) === true) enabledProviders.add(name);
    const host = env[`NM_CLOUD_SETUP_${name}_HOST`];
    if (host !== undefined && host !== '') hostOverrides.set(name, host);
  }

  const rawMap = env['NM_CLOUD_SETUP_MAP_INTERFACES'];
  const mapInterfacesRaw = rawMap === undefined || rawMap === '' ? undefined : rawMap;
  const mapInterfaces = mapInterfacesRaw === undefined ? [] : parseInterfaceMap(mapInterfacesRaw, warnings);

  const ipv6 = readBoolean('NM_CLOUD_SETUP_IPV6');
  const useSessionBus = env['LIBNM_USE_SESSION_BUS'] !== undefined;
  const busAddress = useSessionBus
    ? nonEmpty(env['DBUS_SESSION_BUS_ADDRESS'])
    : (nonEmpty(env['DBUS_SYSTEM_BUS_ADDRESS']) ?? SYSTEM_BUS_DEFAULT);

  return {
    logLevel,
    enabledProviders,
    hostOverrides,
    mapInterfacesRaw,
    mapInterfaces,
    allowNewConnections: readBoolean('NM_CLOUD_SETUP_ALLOW_NEW_CONN'),
    // Off unless asked for: an upgraded host keeps exactly upstream's IPv4-only behaviour.
    ipv6: ipv6 ?? false,
    ipv6Given: ipv6 !== undefined,
    ...configDriveOf(env),
    useSessionBus,
    busAddress,
    logFormat,
    stateDir,
    warnings,
  };
}

/** NM_CLOUD_SETUP_OPENSTACK_CONFIG_DRIVE, when set and not empty. */
function configDriveOf(env: Env): Pick<Config, 'openstackConfigDrive'> {
  const dir = nonEmpty(env['NM_CLOUD_SETUP_OPENSTACK_CONFIG_DRIVE']);
  return dir === undefined ? {} : { openstackConfigDrive: dir };
}

/** Parses `IFNAME=HWADDR;...`, dropping (with a warning) entries upstream would silently ignore. */
function parseInterfaceMap(raw: string, warnings: string[]): InterfaceMapping[] {
  const mappings: InterfaceMapping[] = [];
  for (const entry of raw.split(';').map((part) => part.trim())) {
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const iface = eq < 0 ? '' : entry.slice(0, eq);
    const hwaddr = eq < 0 ? undefined : normalizeHwaddr(entry.slice(eq + 1));
    if (iface === '' || hwaddr === undefined) {
      warnings.push(`invalid NM_CLOUD_SETUP_MAP_INTERFACES entry "${entry}": expected IFNAME=HWADDR; ignored`);
      continue;
    }
    mappings.push({ iface, hwaddr });
  }
  return mappings;
}
