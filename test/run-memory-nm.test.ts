// SPDX-License-Identifier: LGPL-2.1-or-later
// run() and the executor in-process, through RunDeps: a provider that returns fixed metadata
// and NetworkManager in memory (test/fakes/memory-nm.ts). The decisions, retries, fallbacks,
// SIGTERM handling and OCI creation run here in milliseconds; test/nm/ keeps the wire contract.
import { describe, expect, it } from 'vitest';
import { createCancellation } from '../src/cli.js';
import { readConfig } from '../src/config.js';
import type { MetadataHttp } from '../src/http.js';
import { createLogger } from '../src/log.js';
import {
  ETHERNET_LINK,
  NO_FAMILY_CONFIG,
  type ProviderInterface,
  type ProviderResult,
  type RunMode,
  type RunReport,
} from '../src/model.js';
import { NM_VERSION_1_41_6 } from '../src/nm/constants.js';
import { getString, readFamilyLists, type SettingsDict } from '../src/nm/settings.js';
import { toNmcli } from '../src/plan/nmcli.js';
import { run } from '../src/run.js';
import type { Provider } from '../src/providers/types.js';
import { MemoryNm, type MemoryDeviceSpec } from './fakes/memory-nm.js';
import { aasv, appliedConnection, describeLists, s } from './plan/fixtures.js';

const MAC1 = 'CC:00:00:00:00:01';
const MAC2 = 'CC:00:00:00:00:02';
const MAC3 = 'CC:00:00:00:00:03';

/** HTTP is never used: the providers here answer from memory. */
const NO_HTTP: MetadataHttp = {
  request: () => Promise.reject(new Error('no HTTP in this test')),
  poll: () => Promise.reject(new Error('no HTTP in this test')),
  preconnect: () => undefined,
  close: () => {},
};

function link(
  hwaddr: string,
  ifaceIdx: number,
  addresses: string[],
  subnet: string,
  more: Partial<ProviderInterface> = {},
): ProviderInterface {
  const [address = '', prefix = '0'] = subnet.split('/');
  return {
    linkId: hwaddr,
    hwaddr,
    ifaceIdx,
    link: ETHERNET_LINK,
    ipv4: { addresses, subnet: { address, prefix: Number(prefix) }, routes: [] },
    ipv6: NO_FAMILY_CONFIG,
    dns: [],
    ...more,
  };
}

/** A provider detected at once whose get-config returns `result`. */
function memoryProvider(name: 'ec2' | 'oci', result: ProviderResult): Provider {
  return {
    name,
    envName: name === 'ec2' ? 'EC2' : 'OCI',
    defaultBaseUrl: 'http://169.254.169.254',
    allowNewConnectionsByDefault: name === 'oci',
    detect: () =>
      Promise.resolve({
        detected: true,
        session: { getConfig: () => Promise.resolve(result), instanceFacts: () => Promise.resolve({ id: 'i-1' }) },
      }),
  };
}

/** Upstream's EC2 data (test_ec2): listing order MAC2, MAC1, so eth0 (MAC1) is index 1. */
const EC2_RESULT: ProviderResult = {
  interfaces: [link(MAC2, 0, ['172.31.26.249'], '172.31.16.0/20'), link(MAC1, 1, ['172.31.176.249'], '172.31.166.0/20')],
  withdrawn: [],
};

/** Upstream's devices: con-eth0 with ipv4 auto, con-eth1 without an ipv4 setting. */
const UPSTREAM_DEVICES: MemoryDeviceSpec[] = [
  { iface: 'eth0', type: 'ethernet', hwaddr: MAC1, profile: appliedConnection({ id: 'con-eth0' }) },
  { iface: 'eth1', type: 'ethernet', hwaddr: MAC2, profile: appliedConnection({ id: 'con-eth1', ipv4: false }) },
];

/** What upstream reapplies on eth0 (test-client.py), as literal lists. */
const ETH0_LISTS = {
  addresses: ['172.31.176.249/20'],
  routes: ['172.31.176.0/20 metric 10 table 30201', '0.0.0.0/0 via 172.31.160.1 metric 10 table 30401'],
  rules: [
    'priority 30201 from 172.31.176.249/32 table 30201',
    'priority 30350 table 254 suppress_prefixlength 0',
    'priority 30401 from 172.31.176.249/32 table 30401',
  ],
};

interface MemoryRun {
  readonly report: RunReport;
  /** Log messages without the timestamp, e.g. "<debug> get-config: starting". */
  readonly lines: string[];
}

async function runOnce(
  nm: MemoryNm,
  provider: Provider,
  options: { readonly mode?: RunMode; readonly env?: Record<string, string>; readonly sigtermAfterFirstReapply?: boolean } = {},
): Promise<MemoryRun> {
  const lines: string[] = [];
  const log = createLogger({ level: 'trace', sink: (line) => lines.push(line.replace(/^\[[0-9.]+\] /, '')), clock: () => 0n });
  const env = { [`NM_CLOUD_SETUP_${provider.envName}`]: 'yes', ...options.env };
  const cancellation = createCancellation(log);
  if (options.sigtermAfterFirstReapply === true) nm.afterReapply.push(() => cancellation.onSigterm());
  const report = await run(
    { http: NO_HTTP, connectNm: () => Promise.resolve(nm), log, providers: [provider] },
    readConfig(env),
    cancellation,
    options.mode,
  );
  return { report, lines };
}

const reapplies = (nm: MemoryNm) => nm.calls.filter((call) => call.member === 'Reapply');
const creations = (nm: MemoryNm) => nm.calls.filter((call) => call.member === 'AddAndActivateConnection');

/** The lines in this order (others may come between). */
function expectInOrder(lines: readonly string[], expected: readonly string[]): void {
  let at = 0;
  for (const line of expected) {
    const found = lines.indexOf(line, at);
    expect(found, `"${line}" after line ${at} in:\n${lines.join('\n')}`).toBeGreaterThanOrEqual(0);
    at = found + 1;
  }
}

describe('run() in-process: EC2 against NetworkManager in memory', () => {
  it('every Reapply fails: a warning that nothing could be applied, never "some changes were applied"; result failed', async () => {
    const nm = new MemoryNm(UPSTREAM_DEVICES, { version: NM_VERSION_1_41_6, reapplyFails: 'Device is busy' });
    const { report, lines } = await runOnce(nm, memoryProvider('ec2', EC2_RESULT));
    expect(report.result).toBe('failed');
    expect(report.outcomes.filter((outcome) => outcome.wrote).map((outcome) => outcome.result)).toEqual(['failed']);
    expect(lines).toContain('<warn>  no changes could be applied for provider ec2: every write failed');
    expect(lines).not.toContain('<info>  some changes were applied for provider ec2');
  });

  it('reapplies eth0 as upstream computes it, skips eth1 (no ipv4); the second run makes no Reapply call', async () => {
    const nm = new MemoryNm(UPSTREAM_DEVICES, { version: NM_VERSION_1_41_6 });
    const first = await runOnce(nm, memoryProvider('ec2', EC2_RESULT));
    expect(first.report.result).toBe('changed');
    expectInOrder(first.lines, [
      '<info>  provider ec2 detected',
      '<debug> found interfaces: CC:00:00:00:00:01, CC:00:00:00:00:02',
      '<debug> get-config: starting',
      '<debug> get-config: success',
      '<debug> meta data received',
      '<debug> config device CC:00:00:00:00:02: configuring "eth1" (/org/freedesktop/NetworkManager/Devices/2)...',
      '<debug> config device CC:00:00:00:00:02: skip applied connection due to missing IPv4 configuration',
      '<debug> config device CC:00:00:00:00:01: configuring "eth0" (/org/freedesktop/NetworkManager/Devices/1)...',
      '<debug> config device CC:00:00:00:00:01: reapply connection "con-eth0" (7a2f5b6e-0000-4000-8000-000000000001)',
      '<debug> config device CC:00:00:00:00:01: connection "con-eth0" (7a2f5b6e-0000-4000-8000-000000000001) reapplied',
      '<info>  some changes were applied for provider ec2',
    ]);
    expect(reapplies(nm).map((call) => [call.device, call.versionId, call.flags])).toEqual([['eth0', 1n, 1]]);
    expect(describeLists(nm.appliedOf('eth0')!)).toEqual(ETH0_LISTS);
    expect(nm.closed).toBe(true);

    const second = await runOnce(nm, memoryProvider('ec2', EC2_RESULT));
    expect(second.report.result).toBe('unchanged');
    expect(reapplies(nm)).toHaveLength(1);
    expect(second.lines).toContain('<debug> no changes were applied for provider ec2');
  });

  it('plan decides the same Reapply and writes nothing', async () => {
    const nm = new MemoryNm(UPSTREAM_DEVICES, { version: NM_VERSION_1_41_6 });
    const { report } = await runOnce(nm, memoryProvider('ec2', EC2_RESULT), { mode: 'plan' });
    expect(report.result).toBe('pending');
    expect(reapplies(nm)).toEqual([]);
    const eth0 = report.outcomes.find((outcome) => outcome.device === 'eth0');
    expect(eth0?.result).toBe('pending');
    expect(eth0?.ipv4?.after).toEqual({
      addresses: ['172.31.176.249/20'],
      routes: ['172.31.176.0/20 10 table=30201', '0.0.0.0/0 172.31.160.1 10 table=30401'],
      rules: [
        'priority 30201 from 172.31.176.249 table 30201',
        'priority 30350 table 254 suppress_prefixlength 0',
        'priority 30401 from 172.31.176.249 table 30401',
      ],
    });
  });

  it('retries after a version-id race and succeeds with the fresh version id', async () => {
    const nm = new MemoryNm(UPSTREAM_DEVICES, { version: NM_VERSION_1_41_6, staleReads: { eth0: 1 } });
    const { report, lines } = await runOnce(nm, memoryProvider('ec2', EC2_RESULT));
    expect(reapplies(nm).map((call) => call.versionId)).toEqual([1n, 2n]);
    expect(lines).toContain('<debug> config device CC:00:00:00:00:01: applied connection changed in the meantime. Retry...');
    expect(report.outcomes.find((outcome) => outcome.device === 'eth0')?.result).toBe('applied');
    expect(describeLists(nm.appliedOf('eth0')!)).toEqual(ETH0_LISTS);
  });

  it('gives up after 5 retries (6 attempts) and logs the failure as a warning; with no other write the run failed', async () => {
    const nm = new MemoryNm(UPSTREAM_DEVICES, { version: NM_VERSION_1_41_6, staleReads: { eth0: 6 } });
    const { report, lines } = await runOnce(nm, memoryProvider('ec2', EC2_RESULT));
    expect(reapplies(nm)).toHaveLength(6);
    expect(lines.filter((line) => line.endsWith('Retry...'))).toHaveLength(5);
    expect(lines).toContain(
      '<warn>  config device CC:00:00:00:00:01: failure to reapply connection "con-eth0" (7a2f5b6e-0000-4000-8000-000000000001): ' +
        'Reapply failed because device changed in the meantime and the version-id mismatches',
    );
    expect(report.outcomes.find((outcome) => outcome.device === 'eth0')).toMatchObject({ result: 'failed', wrote: true });
    // Upstream counts the attempt as a change ("some changes were applied"); nothing was changed.
    expect(report.result).toBe('failed');
    expect(lines).toContain('<warn>  no changes could be applied for provider ec2: every write failed');
  });

  it('retries without preserve-external-ip on a daemon older than 1.41.6 (no VersionInfo)', async () => {
    const nm = new MemoryNm(UPSTREAM_DEVICES, { rejectPreserveExternalIp: true });
    await runOnce(nm, memoryProvider('ec2', EC2_RESULT));
    expect(reapplies(nm).map((call) => call.flags)).toEqual([1, 0]);
    expect(describeLists(nm.appliedOf('eth0')!)).toEqual(ETH0_LISTS);
  });

  it('does not fall back on a daemon that knows the flag (>= 1.41.6): the failure is reported', async () => {
    const nm = new MemoryNm(UPSTREAM_DEVICES, { version: NM_VERSION_1_41_6, rejectPreserveExternalIp: true });
    const { report } = await runOnce(nm, memoryProvider('ec2', EC2_RESULT));
    expect(reapplies(nm).map((call) => call.flags)).toEqual([1]);
    expect(report.outcomes.find((outcome) => outcome.device === 'eth0')).toMatchObject({
      result: 'failed',
      reason: 'Invalid flags specified',
    });
  });

  it('SIGTERM after the first Reapply is logged and ignored: every device is still configured', async () => {
    const devices: MemoryDeviceSpec[] = [
      { iface: 'eth0', type: 'ethernet', hwaddr: MAC1, profile: appliedConnection({ id: 'con-eth0' }) },
      { iface: 'eth1', type: 'ethernet', hwaddr: MAC2, profile: appliedConnection({ id: 'con-eth1' }) },
    ];
    const nm = new MemoryNm(devices, { version: NM_VERSION_1_41_6 });
    const { report, lines } = await runOnce(nm, memoryProvider('ec2', EC2_RESULT), { sigtermAfterFirstReapply: true });
    expect(reapplies(nm).map((call) => call.device)).toEqual(['eth1', 'eth0']);
    expect(lines).toContain('<debug> SIGTERM received (first time) (ignore)');
    expect(report.result).toBe('changed');
  });

  it('a device the metadata does not list, and a bond, are left alone', async () => {
    const devices: MemoryDeviceSpec[] = [
      ...UPSTREAM_DEVICES,
      { iface: 'eth2', type: 'ethernet', hwaddr: MAC3, profile: appliedConnection({ id: 'con-eth2' }) },
      { iface: 'bond0', type: 'bond', hwaddr: 'CC:00:00:00:00:0B', profile: appliedConnection({ id: 'bond0', type: 'bond' }) },
    ];
    const nm = new MemoryNm(devices, { version: NM_VERSION_1_41_6 });
    const { report, lines } = await runOnce(nm, memoryProvider('ec2', EC2_RESULT));
    expect(lines).toContain('<debug> found interfaces: CC:00:00:00:00:01, CC:00:00:00:00:02, CC:00:00:00:00:03');
    expect(lines).toContain('<debug> config device CC:00:00:00:00:03: skip because meta data not successfully fetched');
    expect(report.outcomes.find((outcome) => outcome.hwaddr === MAC3)).toEqual({
      hwaddr: MAC3,
      result: 'skipped',
      reason: 'meta data not successfully fetched',
      wrote: false,
    });
    expect(reapplies(nm).map((call) => call.device)).toEqual(['eth0']);
  });

  it('NetworkManager not running: one info line and nothing called', async () => {
    const nm = new MemoryNm(UPSTREAM_DEVICES, { notRunning: true });
    const { report, lines } = await runOnce(nm, memoryProvider('ec2', EC2_RESULT));
    expect(report.result).toBe('no-networkmanager');
    expect(lines).toContain('<info>  NetworkManager is not running');
    expect(nm.calls.map((call) => call.member)).toEqual(['NameHasOwner']);
  });
});

describe('run() in-process: the bus fails the first call after connecting', () => {
  it('is "failure to talk to NetworkManager" (info), not an unexpected failure; nothing else is called', async () => {
    const nm = new MemoryNm(UPSTREAM_DEVICES, { nameHasOwnerFails: 'the D-Bus connection was closed' });
    const { report, lines } = await runOnce(nm, memoryProvider('ec2', EC2_RESULT));
    expect(report.result).toBe('no-networkmanager');
    expect(report.error).toBe('failure to talk to NetworkManager: the D-Bus connection was closed');
    expect(lines).toContain('<info>  failure to talk to NetworkManager: the D-Bus connection was closed');
    expect(nm.calls.map((call) => call.member)).toEqual(['NameHasOwner']);
    expect(nm.closed).toBe(true);
  });
});

describe('run() in-process: OCI creation', () => {
  const PARENT = '02:00:17:00:00:01';
  const VNIC = '02:00:17:00:00:02';
  const BAREMETAL: ProviderResult = {
    interfaces: [
      link(PARENT, 0, ['10.0.0.5'], '10.0.0.0/24', {}),
      { ...link(VNIC, 1, ['10.70.0.5'], '10.70.0.0/24'), link: { kind: 'oci-vlan', vlanTag: 700, parentHwaddr: PARENT } },
    ],
    withdrawn: [],
  };
  const withGateways = (result: ProviderResult): ProviderResult => ({
    ...result,
    interfaces: result.interfaces.map((iface) => ({
      ...iface,
      ipv4: { ...iface.ipv4, gateway: iface.ipv4.subnet!.address.replace(/0$/, '1') },
    })),
  });
  const physical: MemoryDeviceSpec = { iface: 'eth0', type: 'ethernet', hwaddr: PARENT, profile: appliedConnection({ id: 'con-eth0' }) };

  it('bare metal: a MACVLAN on "/" then a VLAN with the VNIC address; the second run creates nothing and changes nothing', async () => {
    const nm = new MemoryNm([physical], { version: NM_VERSION_1_41_6 });
    const first = await runOnce(nm, memoryProvider('oci', withGateways(BAREMETAL)));
    expectInOrder(first.lines, [
      `<debug> config device ${VNIC}: creating macvlan1 connection for VLAN 700 on ${PARENT}...`,
      `<debug> config device ${VNIC}: connection "macvlan1" (00000000-0000-4000-8000-000000000001) created`,
      `<debug> config device ${VNIC}: creating vlan connection for VLAN 700 on ${VNIC}...`,
      `<debug> config device ${VNIC}: connection "vlan1" (00000000-0000-4000-8000-000000000002) created`,
      '<info>  some changes were applied for provider oci',
    ]);
    expect(creations(nm).map((call) => [call.device, call.settings?.['connection']?.['type']?.value])).toEqual([
      ['/', 'macvlan'],
      ['/', 'vlan'],
    ]);
    const vlan = creations(nm)[1]!.settings!;
    expect(describeLists(vlan)).toEqual({
      addresses: ['10.70.0.5/24'],
      routes: ['10.70.0.0/24 metric 10 table 30201', '0.0.0.0/0 via 10.70.0.1 metric 10 table 30401'],
      rules: [
        'priority 30201 from 10.70.0.5/32 table 30201',
        'priority 30350 table 254 suppress_prefixlength 0',
        'priority 30401 from 10.70.0.5/32 table 30401',
      ],
    });
    expect(nm.deviceNames()).toEqual(['eth0', 'macvlan1', 'vlan1']);

    const second = await runOnce(nm, memoryProvider('oci', withGateways(BAREMETAL)));
    expect(creations(nm)).toHaveLength(2);
    expect(second.report.outcomes.filter((outcome) => outcome.hwaddr === VNIC).map((outcome) => [outcome.device, outcome.result])).toEqual([
      ['macvlan1', 'unchanged'],
      ['vlan1', 'unchanged'],
    ]);
    expect(second.report.result).toBe('unchanged');
  });

  it('a failed creation leaves nothing behind and counts as no change', async () => {
    const nm = new MemoryNm([physical], {
      version: NM_VERSION_1_41_6,
      addAndActivateFails: 'Failed to find a compatible device for this connection',
    });
    // Only the VLAN VNIC is listed: the physical NIC is skipped, so the failed creations are the only writes tried.
    const onlyVnic: ProviderResult = { interfaces: BAREMETAL.interfaces.filter((iface) => iface.hwaddr === VNIC), withdrawn: [] };
    const { report, lines } = await runOnce(nm, memoryProvider('oci', withGateways(onlyVnic)));
    expect(lines).toContain(
      `<warn>  config device ${VNIC}: failure to activate connection: Failed to find a compatible device for this connection`,
    );
    expect(report.outcomes.filter((outcome) => outcome.hwaddr === VNIC).map((outcome) => [outcome.result, outcome.wrote])).toEqual([
      ['failed', false],
      ['failed', false],
    ]);
    expect(nm.deviceNames()).toEqual(['eth0']);
    expect(report.result).toBe('unchanged');
    expect(lines).toContain('<debug> no changes were applied for provider oci');
  });

  it('NM_CLOUD_SETUP_ALLOW_NEW_CONN=no: no MACVLAN/VLAN profiles; the VNIC is skipped as a device not found', async () => {
    const nm = new MemoryNm([physical], { version: NM_VERSION_1_41_6 });
    const { report } = await runOnce(nm, memoryProvider('oci', withGateways(BAREMETAL)), { env: { NM_CLOUD_SETUP_ALLOW_NEW_CONN: 'no' } });
    expect(creations(nm)).toEqual([]);
    expect(report.outcomes.find((outcome) => outcome.hwaddr === VNIC)).toMatchObject({ result: 'skipped', reason: 'device not found' });
  });

  it('VM: a disconnected VNIC gets a new Ethernet profile on its own device', async () => {
    const vm: ProviderResult = {
      interfaces: [link(PARENT, 0, ['10.0.0.5'], '10.0.0.0/24'), link(VNIC, 1, ['10.0.1.5'], '10.0.1.0/24')],
      withdrawn: [],
    };
    const nm = new MemoryNm([physical, { iface: 'eth1', type: 'ethernet', hwaddr: VNIC }], { version: NM_VERSION_1_41_6 });
    await runOnce(nm, memoryProvider('oci', withGateways(vm)));
    expect(creations(nm).map((call) => call.device)).toEqual(['eth1']);
    const created: SettingsDict = creations(nm)[0]!.settings!;
    expect(created['ipv4']?.['method']?.value).toBe('manual');
    expect(describeLists(created).addresses).toEqual(['10.0.1.5/24']);
    expect(reapplies(nm).map((call) => call.device)).toEqual(['eth0']);
  });
});

describe('run() in-process: IPv6 (NM_CLOUD_SETUP_IPV6)', () => {
  const ipv6Setting = { method: s('auto'), 'address-data': aasv([]), 'route-data': aasv([]), 'routing-rules': aasv([]) };
  const dualStackProfile = (id: string): SettingsDict => ({ ...appliedConnection({ id }), ipv6: ipv6Setting });
  const v6 = (addresses: string[], subnet: string): ProviderInterface['ipv6'] => {
    const [address = '', prefix = '0'] = subnet.split('/');
    return { addresses, subnet: { address, prefix: Number(prefix) }, routes: [] };
  };
  /** EC2, two dual-stack NICs with two IPv6 addresses each (EC2 serves no IPv6 router). */
  const DUAL_STACK: ProviderResult = {
    interfaces: [
      { ...link(MAC1, 0, ['172.31.26.249'], '172.31.16.0/20'), ipv6: v6(['2600:1f18::5', '2600:1f18::6'], '2600:1f18::/64') },
      { ...link(MAC2, 1, ['172.31.176.249'], '172.31.166.0/20'), ipv6: v6(['2600:1f18:0:1::5', '2600:1f18:0:1::6'], '2600:1f18:0:1::/64') },
    ],
    withdrawn: [],
  };
  const devices: MemoryDeviceSpec[] = [
    { iface: 'eth0', type: 'ethernet', hwaddr: MAC1, profile: dualStackProfile('con-eth0') },
    { iface: 'eth1', type: 'ethernet', hwaddr: MAC2, profile: dualStackProfile('con-eth1') },
  ];
  const ipv6Lists = (nm: MemoryNm, iface: string) => toNmcli(readFamilyLists(nm.appliedOf(iface)!, 'ipv6')!);

  it('two dual-stack NICs: ipv6 addresses, tables 30200+i and rules; no router, so no default route and an info line', async () => {
    const nm = new MemoryNm(devices, { version: NM_VERSION_1_41_6 });
    const { report, lines } = await runOnce(nm, memoryProvider('ec2', DUAL_STACK), { env: { NM_CLOUD_SETUP_IPV6: 'yes' } });
    expect(report.result).toBe('changed');
    expect(ipv6Lists(nm, 'eth1')).toEqual({
      addresses: ['2600:1f18:0:1::5/64', '2600:1f18:0:1::6/64'],
      routes: ['2600:1f18:0:1::/64 10 table=30201'],
      rules: [
        'priority 30201 from 2600:1f18:0:1::5 table 30201',
        'priority 30201 from 2600:1f18:0:1::6 table 30201',
        'priority 30350 table 254 suppress_prefixlength 0',
      ],
    });
    expect(ipv6Lists(nm, 'eth0').routes).toEqual(['2600:1f18::/64 10 table=30200']);
    expect(lines).toContain(
      '<info>  config device CC:00:00:00:00:02: the metadata names no IPv6 router and NetworkManager learned none by router advertisement; IPv6 addresses and table 30201 only, no default route in table 30401',
    );
    // IPv4 is what it is without IPv6.
    expect(describeLists(nm.appliedOf('eth1')!).addresses).toEqual(['172.31.176.249/20']);
    const plan = report.outcomes.find((outcome) => outcome.device === 'eth1');
    expect(plan?.ipv6?.after.addresses).toEqual(['2600:1f18:0:1::5/64', '2600:1f18:0:1::6/64']);

    const second = await runOnce(nm, memoryProvider('ec2', DUAL_STACK), { env: { NM_CLOUD_SETUP_IPV6: 'yes' } });
    expect(second.report.result).toBe('unchanged');
  });

  it('a connection with ipv6.method disabled, ignore or link-local keeps its ipv6 setting; its IPv4 is configured, the other NIC gets both', async () => {
    for (const method of ['disabled', 'ignore', 'link-local']) {
      const off: SettingsDict = { ...appliedConnection({ id: 'con-eth1' }), ipv6: { ...ipv6Setting, method: s(method) } };
      const uuid = getString(off, 'connection', 'uuid') ?? '';
      const nm = new MemoryNm([devices[0]!, { ...devices[1]!, profile: off }], { version: NM_VERSION_1_41_6 });
      const { report, lines } = await runOnce(nm, memoryProvider('ec2', DUAL_STACK), { env: { NM_CLOUD_SETUP_IPV6: 'yes' } });
      expect(report.result).toBe('changed');
      expect(nm.appliedOf('eth1')?.['ipv6']).toEqual(off['ipv6']);
      expect(describeLists(nm.appliedOf('eth1')!).addresses).toEqual(['172.31.176.249/20']);
      expect(ipv6Lists(nm, 'eth0').addresses).toEqual(['2600:1f18::5/64', '2600:1f18::6/64']);
      const eth1Lines = lines.filter((line) => line.includes('CC:00:00:00:00:02') && line.includes('IPv6'));
      expect(eth1Lines).toEqual([
        `<info>  config device CC:00:00:00:00:02: ipv6.method is ${method} on connection "con-eth1" (${uuid}): its IPv6 metadata is left out, IPv4 is configured`,
      ]);
      const second = await runOnce(nm, memoryProvider('ec2', DUAL_STACK), { env: { NM_CLOUD_SETUP_IPV6: 'yes' } });
      expect(second.report.result).toBe('unchanged');
    }
  });

  it('a connection skipped by user data gets no line about its IPv6 router or its IPv4 being configured', async () => {
    for (const method of ['disabled', 'auto']) {
      const skipped: SettingsDict = {
        ...appliedConnection({ id: 'con-eth1', userData: { 'org.freedesktop.nm-cloud-setup.skip': 'yes' } }),
        ipv6: { ...ipv6Setting, method: s(method) },
      };
      const nm = new MemoryNm([devices[0]!, { ...devices[1]!, profile: skipped }], { version: NM_VERSION_1_41_6 });
      const { lines } = await runOnce(nm, memoryProvider('ec2', DUAL_STACK), { env: { NM_CLOUD_SETUP_IPV6: 'yes' } });
      expect(reapplies(nm).map((call) => call.device)).toEqual(['eth0']);
      expect(lines.filter((line) => line.includes('CC:00:00:00:00:02') && line.includes('<info>'))).toEqual([]);
      expect(lines).toContain(
        '<debug> config device CC:00:00:00:00:02: skip applied connection due to user data org.freedesktop.nm-cloud-setup.skip',
      );
    }
  });

  it('no router in the metadata: the default route in 30400+i goes via the router NetworkManager learned by RA', async () => {
    const withRa: MemoryDeviceSpec[] = [{ ...devices[0]!, ipv6Gateway: 'fe80::1' }, devices[1]!];
    const nm = new MemoryNm(withRa, { version: NM_VERSION_1_41_6 });
    const { report, lines } = await runOnce(nm, memoryProvider('ec2', DUAL_STACK), { env: { NM_CLOUD_SETUP_IPV6: 'yes' } });
    expect(report.result).toBe('changed');
    expect(ipv6Lists(nm, 'eth0')).toEqual({
      addresses: ['2600:1f18::5/64', '2600:1f18::6/64'],
      routes: ['2600:1f18::/64 10 table=30200', '::/0 fe80::1 10 table=30400'],
      rules: [
        'priority 30200 from 2600:1f18::5 table 30200',
        'priority 30200 from 2600:1f18::6 table 30200',
        'priority 30350 table 254 suppress_prefixlength 0',
        'priority 30400 from 2600:1f18::5 table 30400',
        'priority 30400 from 2600:1f18::6 table 30400',
      ],
    });
    expect(lines).toContain(
      '<info>  config device CC:00:00:00:00:01: the metadata names no IPv6 router; IPv6 default route in table 30400 via fe80::1, the router NetworkManager learned by router advertisement on eth0',
    );
    // eth1 learned none: addresses and its subnet table only, as before.
    expect(ipv6Lists(nm, 'eth1').routes).toEqual(['2600:1f18:0:1::/64 10 table=30201']);
    expect(lines).toContain(
      '<info>  config device CC:00:00:00:00:02: the metadata names no IPv6 router and NetworkManager learned none by router advertisement; IPv6 addresses and table 30201 only, no default route in table 30401',
    );
    // The plan shows the same route.
    const plan = await runOnce(new MemoryNm(withRa, { version: NM_VERSION_1_41_6 }), memoryProvider('ec2', DUAL_STACK), {
      env: { NM_CLOUD_SETUP_IPV6: 'yes' },
      mode: 'plan',
    });
    expect(plan.report.outcomes.find((outcome) => outcome.device === 'eth0')?.ipv6?.after.routes).toContain('::/0 fe80::1 10 table=30400');

    const second = await runOnce(nm, memoryProvider('ec2', DUAL_STACK), { env: { NM_CLOUD_SETUP_IPV6: 'yes' } });
    expect(second.report.result).toBe('unchanged');

    // NetworkManager forgets its router after a Reapply that changes ipv6, until the next RA: a
    // run in that window keeps the router in the applied connection instead of dropping the route.
    const forgotten = new MemoryNm(
      [
        { ...devices[0]!, profile: nm.appliedOf('eth0')! },
        { ...devices[1]!, profile: nm.appliedOf('eth1')! },
      ],
      { version: NM_VERSION_1_41_6 },
    );
    const third = await runOnce(forgotten, memoryProvider('ec2', DUAL_STACK), { env: { NM_CLOUD_SETUP_IPV6: 'yes' } });
    expect(third.report.result).toBe('unchanged');
    expect(third.lines).toContain(
      '<info>  config device CC:00:00:00:00:01: the metadata names no IPv6 router and NetworkManager knows none right now; keeping the IPv6 default route in table 30400 via fe80::1 that an earlier run configured',
    );
  });

  it("the metadata's router wins over the one learned by RA; IPv6 off never reads it", async () => {
    const withRouter: ProviderResult = {
      interfaces: DUAL_STACK.interfaces.map((iface) => ({ ...iface, ipv6: { ...iface.ipv6, gateway: 'fe80::99' } })),
      withdrawn: [],
    };
    const withRa: MemoryDeviceSpec[] = devices.map((device) => ({ ...device, ipv6Gateway: 'fe80::1' }));
    const nm = new MemoryNm(withRa, { version: NM_VERSION_1_41_6 });
    const { lines } = await runOnce(nm, memoryProvider('ec2', withRouter), { env: { NM_CLOUD_SETUP_IPV6: 'yes' } });
    expect(ipv6Lists(nm, 'eth0').routes).toEqual(['2600:1f18::/64 10 table=30200', '::/0 fe80::99 10 table=30400']);
    expect(lines).toContain(
      '<debug> config device CC:00:00:00:00:01: IPv6 default route in table 30400 via fe80::99, the router the metadata names',
    );

    const off = new MemoryNm(withRa, { version: NM_VERSION_1_41_6 });
    await runOnce(off, memoryProvider('ec2', DUAL_STACK));
    expect(off.calls.filter((call) => call.member === 'Ip6Config.Gateway')).toEqual([]);
  });

  it('an IPv4 NIC and an IPv6-only NIC: the IPv6-only one is configured, not skipped', async () => {
    const result: ProviderResult = {
      interfaces: [
        link(MAC1, 0, ['172.31.26.249', '172.31.26.250'], '172.31.16.0/20'),
        {
          ...link(MAC2, 1, [], '0.0.0.0/0'),
          ipv4: NO_FAMILY_CONFIG,
          ipv6: { ...v6(['2600:1f18:0:1::5', '2600:1f18:0:1::6'], '2600:1f18:0:1::/64'), gateway: 'fe80::1' },
        },
      ],
      withdrawn: [],
    };
    const nm = new MemoryNm(devices, { version: NM_VERSION_1_41_6 });
    const { report } = await runOnce(nm, memoryProvider('ec2', result), { env: { NM_CLOUD_SETUP_IPV6: 'yes' } });
    expect(report.outcomes.map((outcome) => [outcome.device, outcome.result])).toEqual([
      ['eth0', 'applied'],
      ['eth1', 'applied'],
    ]);
    expect(ipv6Lists(nm, 'eth1').routes).toEqual(['2600:1f18:0:1::/64 10 table=30201', '::/0 fe80::1 10 table=30401']);
    expect(describeLists(nm.appliedOf('eth1')!).addresses).toEqual([]);
  });

  it('off (the default): the same metadata leaves every ipv6 setting exactly as applied', async () => {
    const nm = new MemoryNm(devices, { version: NM_VERSION_1_41_6 });
    const { lines } = await runOnce(nm, memoryProvider('ec2', DUAL_STACK));
    expect(reapplies(nm)).toHaveLength(2);
    for (const call of reapplies(nm)) expect(call.settings?.['ipv6']).toBe(ipv6Setting);
    expect(lines.some((line) => line.includes('IPv6'))).toBe(false);
  });

  /** EC2 as the provider answers: IPv6 only when the request asks for it; `ipv6Fails` makes that read fail. */
  const askingProvider = (asked: boolean[], ipv6Fails = false): Provider => ({
    ...memoryProvider('ec2', DUAL_STACK),
    detect: () =>
      Promise.resolve({
        detected: true,
        session: {
          getConfig: (request) => {
            asked.push(request.ipv6);
            if (!request.ipv6) {
              return Promise.resolve({ ...DUAL_STACK, interfaces: DUAL_STACK.interfaces.map((i) => ({ ...i, ipv6: NO_FAMILY_CONFIG })) });
            }
            return ipv6Fails ? Promise.reject(new Error('HTTP status 404')) : Promise.resolve(DUAL_STACK);
          },
          instanceFacts: () => Promise.resolve({ id: 'i-1' }),
        },
      }),
  });

  it('off: status and plan read the IPv6 metadata too and show it as not applied, with no ipv6 change; apply does not read it', async () => {
    for (const mode of ['status', 'plan'] as const) {
      const asked: boolean[] = [];
      const nm = new MemoryNm(devices, { version: NM_VERSION_1_41_6 });
      const { report } = await runOnce(nm, askingProvider(asked), { mode });
      expect(asked.sort()).toEqual([false, true]);
      expect(report.ipv6Applied).toBe(false);
      expect(report.metadata?.interfaces.map((iface) => iface.ipv6.addresses)).toEqual([
        ['2600:1f18::5', '2600:1f18::6'],
        ['2600:1f18:0:1::5', '2600:1f18:0:1::6'],
      ]);
      expect(report.outcomes.map((outcome) => [outcome.result, outcome.ipv6])).toEqual([
        ['pending', undefined],
        ['pending', undefined],
      ]);
      expect(reapplies(nm)).toEqual([]);
    }
    const asked: boolean[] = [];
    const { report } = await runOnce(new MemoryNm(devices, { version: NM_VERSION_1_41_6 }), askingProvider(asked));
    expect(asked).toEqual([false]);
    expect(report.metadata?.interfaces.map((iface) => iface.ipv6.addresses)).toEqual([undefined, undefined]);
  });

  it('off: a failing IPv6 read never fails status; the IPv6 part is left out with a debug line', async () => {
    const { report, lines } = await runOnce(new MemoryNm(devices, { version: NM_VERSION_1_41_6 }), askingProvider([], true), {
      mode: 'status',
    });
    expect(report.result).toBe('pending');
    expect(report.metadata?.interfaces.map((iface) => iface.ipv6.addresses)).toEqual([undefined, undefined]);
    expect(lines).toContain('<debug> get-config: IPv6 metadata not shown: HTTP status 404');
  });
});
