// SPDX-License-Identifier: LGPL-2.1-or-later
// The plan's vocabulary: ipv4 list entries as nmcli writes them, diffs, and the nmcli command.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { totalled } from '../../src/model.js';
import { addressEntry, routeEntry, ruleEntry, type DbusDict } from '../../src/nm/settings.js';
import { diffNmcli, nmcliModifyCommand, nmcliRoute, nmcliRule, shellQuote, toNmcli } from '../../src/plan/nmcli.js';
import { cloudIpv4Lists } from '../../src/plan/policy-routing.js';
import { iface } from './fixtures.js';

const run = promisify(execFile);

describe('nmcli syntax of ipv4 entries', () => {
  it('addresses are address/prefix', () => {
    expect(toNmcli({ addresses: [addressEntry('10.0.0.5', 24)], routes: [], rules: [] }).addresses).toEqual(['10.0.0.5/24']);
  });

  it('routes: ip/prefix, next hop, metric, then attributes (nm-settings-nmcli(5))', () => {
    expect(nmcliRoute(routeEntry({ dest: '0.0.0.0', prefix: 0, nextHop: '10.0.0.1', metric: 10, table: 30400 }))).toBe(
      '0.0.0.0/0 10.0.0.1 10 table=30400',
    );
    expect(nmcliRoute(routeEntry({ dest: '10.0.0.0', prefix: 24, metric: 10, table: 30200 }))).toBe('10.0.0.0/24 10 table=30200');
    expect(nmcliRoute(routeEntry({ dest: '34.1.2.3', prefix: 32, metric: 100, type: 'local' }))).toBe('34.1.2.3/32 100 type=local');
    expect(nmcliRoute(routeEntry({ dest: '192.168.9.0', prefix: 24 }))).toBe('192.168.9.0/24');
  });

  it('rules as nmcli prints them, default-valued keys left out', () => {
    expect(nmcliRule(ruleEntry({ priority: 30200, from: '10.0.0.5', table: 30200 }))).toBe('priority 30200 from 10.0.0.5 table 30200');
    expect(nmcliRule(ruleEntry({ priority: 30350, table: 254, suppressPrefixlength: 0 }))).toBe(
      'priority 30350 table 254 suppress_prefixlength 0',
    );
    const profileRule: DbusDict = {
      family: { signature: 'i', value: 2 },
      priority: { signature: 'u', value: 100 },
      invert: { signature: 'b', value: true },
      to: { signature: 's', value: '192.168.0.0' },
      'to-len': { signature: 'y', value: 16 },
      iifname: { signature: 's', value: 'eth9' },
      fwmark: { signature: 'u', value: 0x10 },
      fwmask: { signature: 'u', value: 0xff },
      table: { signature: 'u', value: 7 },
      'suppress-prefixlength': { signature: 'i', value: -1 },
    };
    expect(nmcliRule(profileRule)).toBe('priority 100 not to 192.168.0.0/16 iif eth9 fwmark 0x10/0xff table 7');
  });

  it('a whole cloud part of two addresses reads as upstream lays it out', () => {
    const config = iface('0E:00:00:00:00:01', 1, ['172.31.26.249', '172.31.26.250'], '172.31.16.0/20');
    expect(toNmcli(cloudIpv4Lists(config, totalled([config])))).toEqual({
      addresses: ['172.31.26.249/20', '172.31.26.250/20'],
      routes: ['172.31.16.0/20 10 table=30201', '0.0.0.0/0 172.31.16.1 10 table=30401'],
      rules: [
        'priority 30201 from 172.31.26.249 table 30201',
        'priority 30201 from 172.31.26.250 table 30201',
        'priority 30350 table 254 suppress_prefixlength 0',
        'priority 30401 from 172.31.26.249 table 30401',
        'priority 30401 from 172.31.26.250 table 30401',
      ],
    });
  });
});

describe('diffNmcli', () => {
  it('lists what is added and removed per list, and ignores a mere reordering', () => {
    const before = { addresses: ['10.0.0.5/24', '10.0.0.6/24'], routes: ['a'], rules: ['x', 'y'] };
    const after = { addresses: ['10.0.0.5/24', '10.0.0.7/24'], routes: ['a'], rules: ['y', 'x'] };
    expect(diffNmcli(before, after)).toEqual({
      addresses: { added: ['10.0.0.7/24'], removed: ['10.0.0.6/24'] },
      routes: { added: [], removed: [] },
      rules: { added: [], removed: [] },
    });
  });
});

describe('nmcliModifyCommand', () => {
  it('quotes for a POSIX shell only where needed', () => {
    expect(shellQuote('eth0')).toBe('eth0');
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });

  it('gives every list whole, empty ones as an empty word, and survives a round trip through sh', async () => {
    const command = nmcliModifyCommand('eth0', {
      addresses: ['10.0.0.5/24', '10.0.0.6/24'],
      routes: ['0.0.0.0/0 10.0.0.1 10 table=30400'],
      rules: [],
    });
    expect(command).toBe(
      "nmcli device modify eth0 ipv4.addresses '10.0.0.5/24, 10.0.0.6/24' ipv4.routes '0.0.0.0/0 10.0.0.1 10 table=30400' ipv4.routing-rules ''",
    );
    // What the shell hands nmcli: exactly the words we meant.
    const { stdout } = await run('sh', ['-c', `printf '%s\\n' ${command.replace(/^nmcli /, '')}`]);
    expect(stdout.split('\n').slice(0, -1)).toEqual([
      'device',
      'modify',
      'eth0',
      'ipv4.addresses',
      '10.0.0.5/24, 10.0.0.6/24',
      'ipv4.routes',
      '0.0.0.0/0 10.0.0.1 10 table=30400',
      'ipv4.routing-rules',
      '',
    ]);
  });
});

describe('nmcliModifyCommand with IPv6', () => {
  it('appends the ipv6 lists after the ipv4 ones, quoted as the shell needs', () => {
    const ipv4 = { addresses: ['10.0.0.5/24'], routes: [], rules: [] };
    const ipv6 = {
      addresses: ['2001:db8::5/64'],
      routes: ['2001:db8::/64 10 table=30200'],
      rules: ['priority 30200 from 2001:db8::5 table 30200', 'priority 30350 table 254 suppress_prefixlength 0'],
    };
    expect(nmcliModifyCommand('eth0', ipv4, ipv6)).toBe(
      "nmcli device modify eth0 ipv4.addresses 10.0.0.5/24 ipv4.routes '' ipv4.routing-rules '' " +
        "ipv6.addresses 2001:db8::5/64 ipv6.routes '2001:db8::/64 10 table=30200' " +
        "ipv6.routing-rules 'priority 30200 from 2001:db8::5 table 30200, priority 30350 table 254 suppress_prefixlength 0'",
    );
  });
});
