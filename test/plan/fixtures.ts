// SPDX-License-Identifier: LGPL-2.1-or-later
// Builders for applied connections in the D-Bus shape NetworkManager returns.
import { ETHERNET_LINK, NO_FAMILY_CONFIG, type FamilyConfig, type Link, type MetadataInterface } from '../../src/model.js';
import { addressEntry, type DbusDict, type DbusValue, type SettingsDict } from '../../src/nm/settings.js';

export const s = (value: string): DbusValue => ({ signature: 's', value });
export const u = (value: number): DbusValue => ({ signature: 'u', value });
export const aasv = (value: readonly DbusDict[]): DbusValue => ({ signature: 'aa{sv}', value });

export interface ProfileSpec {
  readonly id?: string;
  readonly type?: string;
  readonly method?: string;
  readonly addresses?: readonly [string, number][];
  readonly routes?: readonly DbusDict[];
  readonly rules?: readonly DbusDict[];
  readonly userData?: Readonly<Record<string, string>>;
  readonly ipv4?: boolean;
}

/** An applied connection as NM serializes it, including the legacy keys a client must drop. */
export function appliedConnection(spec: ProfileSpec = {}): SettingsDict {
  const settings: Record<string, Record<string, DbusValue>> = {
    connection: { id: s(spec.id ?? 'eth0'), uuid: s('7a2f5b6e-0000-4000-8000-000000000001'), type: s(spec.type ?? '802-3-ethernet') },
    '802-3-ethernet': { mtu: u(0) },
  };
  if (spec.ipv4 !== false) {
    settings['ipv4'] = {
      method: s(spec.method ?? 'auto'),
      'address-data': aasv((spec.addresses ?? []).map(([address, prefix]) => addressEntry(address, prefix))),
      addresses: { signature: 'aau', value: [] },
      'route-data': aasv(spec.routes ?? []),
      routes: { signature: 'aau', value: [] },
      'routing-rules': aasv(spec.rules ?? []),
      dns: { signature: 'au', value: [] },
    };
  }
  if (spec.userData !== undefined) settings['user'] = { data: { signature: 'a{ss}', value: spec.userData } };
  return settings;
}

/** A requested Ethernet link with IPv4 addresses in `cidr`; `extra` overrides IPv4 fields or sets the link. */
export function iface(
  hwaddr: string,
  ifaceIdx: number,
  ipv4s: string[],
  cidr: string,
  extra: Partial<FamilyConfig> & { readonly link?: Link } = {},
): MetadataInterface {
  const [address = '', prefix = '0'] = cidr.split('/');
  const { link = ETHERNET_LINK, ...ipv4 } = extra;
  return {
    linkId: hwaddr,
    hwaddr,
    ifaceIdx,
    requested: true,
    link,
    ipv4: { addresses: ipv4s, subnet: { address, prefix: Number(prefix) }, routes: [], ...ipv4 },
    ipv6: NO_FAMILY_CONFIG,
    dns: [],
  };
}

/** An OCI VLAN VNIC on the physical NIC `parentHwaddr`. */
export function ociVlan(base: MetadataInterface, vlanTag: number, parentHwaddr: string): MetadataInterface {
  return { ...base, link: { kind: 'oci-vlan', vlanTag, parentHwaddr } };
}

/** Compact text forms of the entries, for readable assertions. */
export function describeLists(settings: SettingsDict): { addresses: string[]; routes: string[]; rules: string[] } {
  const ipv4 = settings['ipv4'] ?? {};
  const list = (key: string): DbusDict[] => (ipv4[key]?.value as DbusDict[] | undefined) ?? [];
  const v = (entry: DbusDict, key: string): unknown => entry[key]?.value;
  return {
    addresses: list('address-data').map((a) => `${String(v(a, 'address'))}/${String(v(a, 'prefix'))}`),
    routes: list('route-data').map((r) =>
      [
        `${String(v(r, 'dest'))}/${String(v(r, 'prefix'))}`,
        v(r, 'next-hop') === undefined ? '' : `via ${String(v(r, 'next-hop'))}`,
        v(r, 'metric') === undefined ? '' : `metric ${String(v(r, 'metric'))}`,
        v(r, 'table') === undefined ? '' : `table ${String(v(r, 'table'))}`,
        v(r, 'type') === undefined ? '' : `type ${String(v(r, 'type'))}`,
      ]
        .filter(Boolean)
        .join(' '),
    ),
    rules: list('routing-rules').map((r) =>
      [
        `priority ${String(v(r, 'priority'))}`,
        v(r, 'from') === undefined ? '' : `from ${String(v(r, 'from'))}/${String(v(r, 'from-len'))}`,
        `table ${String(v(r, 'table'))}`,
        v(r, 'suppress-prefixlength') === undefined ? '' : `suppress_prefixlength ${String(v(r, 'suppress-prefixlength'))}`,
      ]
        .filter(Boolean)
        .join(' '),
    ),
  };
}
