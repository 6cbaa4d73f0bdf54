// SPDX-License-Identifier: LGPL-2.1-or-later
import { describe, expect, test } from 'vitest';
import { parseBoolean, PROVIDER_ENV_NAMES, readConfig } from '../src/config.js';

describe('parseBoolean', () => {
  test.each([
    ['true', true],
    ['yes', true],
    ['on', true],
    ['1', true],
    ['TRUE', true],
    [' Yes\t', true],
    ['\nON ', true],
    ['false', false],
    ['no', false],
    ['off', false],
    ['0', false],
    ['  FaLsE  ', false],
    ['NO', false],
  ] as const)('%j → %s', (text, expected) => {
    expect(parseBoolean(text)).toBe(expected);
  });

  test.each(['', '   ', 'maybe', 'y', 'n', 't', '2', '-1', '01', 'yes please', 'tru e'])('%j → undefined (use the default)', (text) => {
    expect(parseBoolean(text)).toBeUndefined();
  });

  test('undefined → undefined', () => {
    expect(parseBoolean(undefined)).toBeUndefined();
  });
});

describe('readConfig: defaults', () => {
  test('an empty environment gives WARN, no providers, no overrides, no warnings', () => {
    const config = readConfig({});
    expect(config.logLevel).toBe('warn');
    expect([...config.enabledProviders]).toEqual([]);
    expect([...config.hostOverrides]).toEqual([]);
    expect(config.mapInterfacesRaw).toBeUndefined();
    expect(config.mapInterfaces).toEqual([]);
    expect(config.allowNewConnections).toBeUndefined();
    expect(config.useSessionBus).toBe(false);
    expect(config.busAddress).toBe('unix:path=/var/run/dbus/system_bus_socket');
    expect(config.warnings).toEqual([]);
  });

  test('unrelated variables are ignored', () => {
    const config = readConfig({ PATH: '/usr/bin', NM_CLOUD_SETUP_FOO: 'yes', NM_CLOUD_SETUP_ec2: 'yes' });
    expect([...config.enabledProviders]).toEqual([]);
    expect(config.warnings).toEqual([]);
  });
});

describe('readConfig: NM_CLOUD_SETUP_LOG', () => {
  test.each([
    ['TRACE', 'trace'],
    ['DEBUG', 'debug'],
    ['INFO', 'info'],
    ['WARN', 'warn'],
    ['ERR', 'error'],
    ['OFF', 'off'],
    ['trace', 'trace'],
    ['Debug', 'debug'],
    ['iNfO', 'info'],
    ['warn', 'warn'],
    ['err', 'error'],
    ['off', 'off'],
  ] as const)('%j → %s without warning', (value, level) => {
    const config = readConfig({ NM_CLOUD_SETUP_LOG: value });
    expect(config.logLevel).toBe(level);
    expect(config.warnings).toEqual([]);
  });

  test.each(['KEEP', 'keep', 'Keep'])('%j → warn, silently (upstream keeps the default level)', (value) => {
    const config = readConfig({ NM_CLOUD_SETUP_LOG: value });
    expect(config.logLevel).toBe('warn');
    expect(config.warnings).toEqual([]);
  });

  test.each(['', '   '])('empty %j → warn without warning', (value) => {
    const config = readConfig({ NM_CLOUD_SETUP_LOG: value });
    expect(config.logLevel).toBe('warn');
    expect(config.warnings).toEqual([]);
  });

  test.each(['ERROR', 'error', 'WARNING', 'verbose', '3', 'TRACE DEBUG'])(
    'unknown %j → warn plus one warning naming the variable and value',
    (value) => {
      const config = readConfig({ NM_CLOUD_SETUP_LOG: value });
      expect(config.logLevel).toBe('warn');
      expect(config.warnings).toHaveLength(1);
      expect(config.warnings[0]).toContain('NM_CLOUD_SETUP_LOG');
      expect(config.warnings[0]).toContain(`"${value}"`);
    },
  );
});

describe('readConfig: provider switches', () => {
  test.each(['yes', ' TRUE ', 'on', '1', 'Yes', 'true'])('NM_CLOUD_SETUP_EC2=%j enables ec2', (value) => {
    const config = readConfig({ NM_CLOUD_SETUP_EC2: value });
    expect([...config.enabledProviders]).toEqual(['EC2']);
    expect(config.warnings).toEqual([]);
  });

  test.each(['no', '0', 'off', 'false', ' NO '])('NM_CLOUD_SETUP_EC2=%j disables ec2 silently', (value) => {
    const config = readConfig({ NM_CLOUD_SETUP_EC2: value });
    expect(config.enabledProviders.has('EC2')).toBe(false);
    expect(config.warnings).toEqual([]);
  });

  test.each(['', '  '])('empty NM_CLOUD_SETUP_EC2=%j is the default (disabled) without warning', (value) => {
    const config = readConfig({ NM_CLOUD_SETUP_EC2: value });
    expect(config.enabledProviders.size).toBe(0);
    expect(config.warnings).toEqual([]);
  });

  test('an invalid boolean is the default plus exactly one warning naming the variable', () => {
    const config = readConfig({ NM_CLOUD_SETUP_GCP: 'maybe' });
    expect(config.enabledProviders.size).toBe(0);
    expect(config.warnings).toHaveLength(1);
    expect(config.warnings[0]).toContain('NM_CLOUD_SETUP_GCP');
    expect(config.warnings[0]).toContain('"maybe"');
  });

  test('every provider has its own switch', () => {
    const env = Object.fromEntries(PROVIDER_ENV_NAMES.map((name) => [`NM_CLOUD_SETUP_${name}`, 'yes']));
    expect([...readConfig(env).enabledProviders].sort()).toEqual([...PROVIDER_ENV_NAMES].sort());
    const mixed = readConfig({
      NM_CLOUD_SETUP_EC2: 'no',
      NM_CLOUD_SETUP_GCP: 'yes',
      NM_CLOUD_SETUP_AZURE: '1',
      NM_CLOUD_SETUP_ALIYUN: '0',
      NM_CLOUD_SETUP_OCI: 'on',
    });
    expect([...mixed.enabledProviders].sort()).toEqual(['AZURE', 'GCP', 'OCI']);
    expect(mixed.warnings).toEqual([]);
  });

  test('each invalid boolean gets its own warning', () => {
    const config = readConfig({ NM_CLOUD_SETUP_EC2: 'ja', NM_CLOUD_SETUP_OCI: 'nein', NM_CLOUD_SETUP_AZURE: 'yes' });
    expect([...config.enabledProviders]).toEqual(['AZURE']);
    expect(config.warnings).toHaveLength(2);
    expect(config.warnings.some((line) => line.includes('NM_CLOUD_SETUP_EC2') && line.includes('"ja"'))).toBe(true);
    expect(config.warnings.some((line) => line.includes('NM_CLOUD_SETUP_OCI') && line.includes('"nein"'))).toBe(true);
  });
});

describe('readConfig: _HOST overrides', () => {
  test('non-empty values are kept raw, per provider', () => {
    const config = readConfig({
      NM_CLOUD_SETUP_EC2_HOST: 'http://localhost:8000',
      NM_CLOUD_SETUP_GCP_HOST: ' 10.0.0.1 ',
      NM_CLOUD_SETUP_OCI_HOST: 'host/path/',
    });
    expect(config.hostOverrides.get('EC2')).toBe('http://localhost:8000');
    expect(config.hostOverrides.get('GCP')).toBe(' 10.0.0.1 ');
    expect(config.hostOverrides.get('OCI')).toBe('host/path/');
    expect(config.hostOverrides.has('AZURE')).toBe(false);
    expect(config.hostOverrides.size).toBe(3);
  });

  test('an empty value counts as unset', () => {
    const config = readConfig({ NM_CLOUD_SETUP_EC2_HOST: '', NM_CLOUD_SETUP_ALIYUN_HOST: '' });
    expect(config.hostOverrides.size).toBe(0);
    expect(config.warnings).toEqual([]);
  });

  test('an override does not enable the provider', () => {
    const config = readConfig({ NM_CLOUD_SETUP_EC2_HOST: 'http://localhost:8000' });
    expect(config.enabledProviders.size).toBe(0);
  });
});

describe('readConfig: NM_CLOUD_SETUP_MAP_INTERFACES', () => {
  test('unset and empty give no map and no raw value', () => {
    expect(readConfig({}).mapInterfacesRaw).toBeUndefined();
    const empty = readConfig({ NM_CLOUD_SETUP_MAP_INTERFACES: '' });
    expect(empty.mapInterfacesRaw).toBeUndefined();
    expect(empty.mapInterfaces).toEqual([]);
    expect(empty.warnings).toEqual([]);
  });

  test('entries are parsed in order, MACs normalized to upper-case colon form', () => {
    const raw = 'veth0=cc:00:00:00:00:01;veth1=CC-00-00-00-00-02;eth2=cc0000000003';
    const config = readConfig({ NM_CLOUD_SETUP_MAP_INTERFACES: raw });
    expect(config.mapInterfacesRaw).toBe(raw);
    expect(config.mapInterfaces).toEqual([
      { iface: 'veth0', hwaddr: 'CC:00:00:00:00:01' },
      { iface: 'veth1', hwaddr: 'CC:00:00:00:00:02' },
      { iface: 'eth2', hwaddr: 'CC:00:00:00:00:03' },
    ]);
    expect(config.warnings).toEqual([]);
  });

  test('whitespace around entries is stripped and empty entries are dropped silently', () => {
    const raw = ' ; veth0=a:b:c:d:e:f ;;\t veth1=cc:00:00:00:00:02 ; ';
    const config = readConfig({ NM_CLOUD_SETUP_MAP_INTERFACES: raw });
    expect(config.mapInterfacesRaw).toBe(raw);
    expect(config.mapInterfaces).toEqual([
      { iface: 'veth0', hwaddr: '0A:0B:0C:0D:0E:0F' },
      { iface: 'veth1', hwaddr: 'CC:00:00:00:00:02' },
    ]);
    expect(config.warnings).toEqual([]);
  });

  test.each([
    ['no "="', 'veth0'],
    ['empty name', '=cc:00:00:00:00:01'],
    ['bad MAC', 'veth0=cc:00:00:00:00'],
    ['bad MAC (not hex)', 'veth0=zz:00:00:00:00:01'],
    ['empty MAC', 'veth0='],
  ])('%s: the entry is dropped with one warning, the others kept', (_name, bad) => {
    const config = readConfig({ NM_CLOUD_SETUP_MAP_INTERFACES: `eth0=cc:00:00:00:00:01;${bad};eth1=cc:00:00:00:00:02` });
    expect(config.mapInterfaces).toEqual([
      { iface: 'eth0', hwaddr: 'CC:00:00:00:00:01' },
      { iface: 'eth1', hwaddr: 'CC:00:00:00:00:02' },
    ]);
    expect(config.warnings).toHaveLength(1);
    expect(config.warnings[0]).toContain('NM_CLOUD_SETUP_MAP_INTERFACES');
    expect(config.warnings[0]).toContain(`"${bad}"`);
  });

  test('a map of only invalid entries is still "set" (raw kept) but maps nothing', () => {
    const config = readConfig({ NM_CLOUD_SETUP_MAP_INTERFACES: 'garbage' });
    expect(config.mapInterfacesRaw).toBe('garbage');
    expect(config.mapInterfaces).toEqual([]);
    expect(config.warnings).toHaveLength(1);
  });

  test('only the first "=" splits, so a second one spoils the MAC', () => {
    const config = readConfig({ NM_CLOUD_SETUP_MAP_INTERFACES: 'a=b=cc:00:00:00:00:01' });
    expect(config.mapInterfaces).toEqual([]);
    expect(config.warnings).toHaveLength(1);
  });
});

describe('readConfig: NM_CLOUD_SETUP_ALLOW_NEW_CONN', () => {
  test.each([
    [undefined, undefined, 0],
    ['', undefined, 0],
    ['yes', true, 0],
    [' ON', true, 0],
    ['1', true, 0],
    ['no', false, 0],
    ['0', false, 0],
    ['OFF', false, 0],
    ['perhaps', undefined, 1],
  ] as const)('%j → %s (%i warnings)', (value, expected, warnings) => {
    const config = readConfig(value === undefined ? {} : { NM_CLOUD_SETUP_ALLOW_NEW_CONN: value });
    expect(config.allowNewConnections).toBe(expected);
    expect(config.warnings).toHaveLength(warnings);
    if (warnings > 0) expect(config.warnings[0]).toContain('NM_CLOUD_SETUP_ALLOW_NEW_CONN');
  });
});

describe('readConfig: D-Bus address', () => {
  test('system bus by default, DBUS_SESSION_BUS_ADDRESS ignored', () => {
    const config = readConfig({ DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/1000/bus' });
    expect(config.useSessionBus).toBe(false);
    expect(config.busAddress).toBe('unix:path=/var/run/dbus/system_bus_socket');
  });

  test('DBUS_SYSTEM_BUS_ADDRESS is honoured, empty counts as unset', () => {
    expect(readConfig({ DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/run/other' }).busAddress).toBe('unix:path=/run/other');
    expect(readConfig({ DBUS_SYSTEM_BUS_ADDRESS: '' }).busAddress).toBe('unix:path=/var/run/dbus/system_bus_socket');
  });

  test.each(['1', '', 'no', '0'])('LIBNM_USE_SESSION_BUS=%j (any value) selects the session bus', (value) => {
    const config = readConfig({
      LIBNM_USE_SESSION_BUS: value,
      DBUS_SESSION_BUS_ADDRESS: 'unix:abstract=dbus-test,guid=0123',
      DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/run/other',
    });
    expect(config.useSessionBus).toBe(true);
    expect(config.busAddress).toBe('unix:abstract=dbus-test,guid=0123');
    expect(config.warnings).toEqual([]);
  });

  test('session bus without DBUS_SESSION_BUS_ADDRESS has no address (never the system bus)', () => {
    expect(readConfig({ LIBNM_USE_SESSION_BUS: '1' }).busAddress).toBeUndefined();
    expect(readConfig({ LIBNM_USE_SESSION_BUS: '1', DBUS_SESSION_BUS_ADDRESS: '' }).busAddress).toBeUndefined();
  });
});

test('readConfig defaults to process.env', () => {
  const saved = process.env['NM_CLOUD_SETUP_LOG'];
  process.env['NM_CLOUD_SETUP_LOG'] = 'trace';
  try {
    expect(readConfig().logLevel).toBe('trace');
  } finally {
    if (saved === undefined) delete process.env['NM_CLOUD_SETUP_LOG'];
    else process.env['NM_CLOUD_SETUP_LOG'] = saved;
  }
});

describe('readConfig: NM_CLOUD_SETUP_LOG_FORMAT', () => {
  test.each([
    [undefined, 'text'],
    ['', 'text'],
    ['text', 'text'],
    ['json', 'json'],
    [' JSON ', 'json'],
  ])('%j gives %s, without a warning', (raw, format) => {
    const config = readConfig(raw === undefined ? {} : { NM_CLOUD_SETUP_LOG_FORMAT: raw });
    expect(config.logFormat).toBe(format);
    expect(config.warnings).toEqual([]);
  });

  test('anything else warns and keeps text', () => {
    const config = readConfig({ NM_CLOUD_SETUP_LOG_FORMAT: 'yaml' });
    expect(config.logFormat).toBe('text');
    expect(config.warnings).toEqual(['invalid NM_CLOUD_SETUP_LOG_FORMAT="yaml": expected text or json; using text']);
  });
});

describe('readConfig: state directory', () => {
  test('systemd RUNTIME_DIRECTORY (its first entry), else /run/nm-cloud-setup', () => {
    expect(readConfig({}).stateDir).toBe('/run/nm-cloud-setup');
    expect(readConfig({ RUNTIME_DIRECTORY: '' }).stateDir).toBe('/run/nm-cloud-setup');
    expect(readConfig({ RUNTIME_DIRECTORY: '/run/nm-cloud-setup' }).stateDir).toBe('/run/nm-cloud-setup');
    expect(readConfig({ RUNTIME_DIRECTORY: '/run/a:/run/b' }).stateDir).toBe('/run/a');
  });
});
