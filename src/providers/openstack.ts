// SPDX-License-Identifier: LGPL-2.1-or-later
import { MetadataError } from '../errors.js';
import type { Logger } from '../log.js';
import {
  ETHERNET_LINK,
  NO_FAMILY_CONFIG,
  type ExplicitConfig,
  type ExplicitFamilyConfig,
  type FamilyConfig,
  type InstanceFacts,
  type ProviderInterface,
  type ProviderResult,
} from '../model.js';
import { errorMessage, isCancellation } from '../errors.js';
import { DETECT_LIMITS, fetchFact, fetchText, joinUrl, LEAF_LIMITS } from './fetch.js';
import {
  parseMetaData,
  parseNetworkData,
  toLinkProfileIntents,
  type LinkProfileIntent,
  type NetworkData,
  type OpenStackLink,
  type SettingValue,
} from './openstack-network-data.js';
import type { MetadataSession, Provider, ProviderContext } from './types.js';

const META_DATA_PATH = '/openstack/latest/meta_data.json';
const NETWORK_DATA_PATH = '/openstack/latest/network_data.json';

/**
 * OpenStack: meta_data.json says "this is OpenStack" (a uuid), network_data.json describes every
 * link completely (addresses, gateway, routes, DNS per family), so links are configured as the
 * document says, without the policy routing tables of the other clouds. With
 * NM_CLOUD_SETUP_OPENSTACK_CONFIG_DRIVE the same paths are read from the mounted config drive
 * (src/config-drive.ts serves them; this file does not know the difference).
 */
export const openstack: Provider = {
  name: 'openstack',
  envName: 'OPENSTACK',
  defaultBaseUrl: 'http://169.254.169.254',
  // A NIC without DHCP (a static-only Neutron subnet) stays unconfigured without a new profile.
  allowNewConnectionsByDefault: true,
  // An ipv6 network in network_data.json is the operator's configuration, not an optional extra.
  ipv6ByDefault: true,
  notInUpstream: true,

  async detect(context) {
    const url = joinUrl(context.baseUrl, META_DATA_PATH);
    try {
      const body = await fetchText(context, url, { limits: DETECT_LIMITS, signal: context.signal });
      parseMetaData(body);
      return { detected: true, session: createSession(context) };
    } catch (error) {
      if (isCancellation(error)) throw error;
      return { detected: false, reason: `failure to get OpenStack meta_data.json: ${errorMessage(error)}` };
    }
  },
};

function createSession({ http, log, baseUrl }: ProviderContext): MetadataSession {
  return {
    async getConfig(request, signal) {
      const body = await fetchText({ http }, joinUrl(baseUrl, NETWORK_DATA_PATH), { limits: LEAF_LIMITS, signal });
      // A document that cannot be trusted as a whole throws OpenStackDataError: nothing is applied.
      return toProviderResult(parseNetworkData(body, log), { ipv6: request.ipv6 }, log);
    },
    async instanceFacts(signal) {
      const body = await fetchFact({ http }, joinUrl(baseUrl, META_DATA_PATH), { signal });
      if (body === undefined) return {};
      try {
        const facts = parseMetaData(body);
        const all: InstanceFacts = { id: facts.uuid, name: facts.name, zone: facts.availabilityZone, project: facts.projectId };
        return Object.fromEntries(Object.entries(all).filter(([, value]) => value !== undefined));
      } catch (error) {
        if (error instanceof MetadataError) return {};
        throw error;
      }
    },
  };
}

/**
 * The parsed document as the run's links (exported for tests), parents before children: NICs
 * that are not bond ports are found by MAC; a VLAN on such a NIC is a link of its own (keyed by
 * its link id, as it shares the NIC's MAC); a VLAN on a bond names the bond (its interface is
 * the bond's). A VLAN on anything else is left alone with one line. A bond carries its ports (the
 * parser guarantees they are NICs of the document, each in one bond only).
 */
export function toProviderResult(data: NetworkData, options: { readonly ipv6: boolean }, log: Pick<Logger, 'warn'>): ProviderResult {
  const intents = new Map(toLinkProfileIntents(data).map((intent) => [intent.linkId, intent]));
  const interfaces: ProviderInterface[] = [];
  const nics = new Map<string, string>();
  // Bond ports precede their bond (the parser's order): the bond takes them as its own.
  const ports = new Map<string, string>();
  const bonds = new Map<string, ProviderInterface>();
  for (const link of data.links) {
    const intent = intents.get(link.id);
    if (intent === undefined) continue;
    const base = { linkId: link.id, ifaceIdx: interfaces.length, ...families(explicitOf(intent, options)) };
    if (link.kind === 'ethernet' && link.controller === undefined) {
      nics.set(link.id, link.hwaddr);
      interfaces.push({ ...base, hwaddr: link.hwaddr, link: ETHERNET_LINK });
      continue;
    }
    if (link.kind === 'ethernet') {
      ports.set(link.id, link.hwaddr);
      continue;
    }
    if (link.kind === 'bond') {
      const bond = bondInterface(link, intent, base, ports);
      bonds.set(link.id, bond);
      interfaces.push(bond);
      continue;
    }
    const bond = bonds.get(link.parent);
    const parentHwaddr = nics.get(link.parent) ?? bond?.hwaddr;
    if (parentHwaddr === undefined) {
      log.warn(
        `get-config: link "${link.id}" is a VLAN on "${link.parent}", which is neither a NIC nor a bond; not configured (VLANs on VLANs are not supported yet), left alone`,
      );
      continue;
    }
    const onBond = bond === undefined ? {} : { parentBond: { linkId: bond.linkId, ifaceIdx: bond.ifaceIdx } };
    const vlan = { kind: 'vlan', vlanId: link.vlanId, parentLink: link.parent, parentHwaddr, ...onBond } as const;
    const vlanLink = link.hwaddr === undefined ? vlan : { ...vlan, clonedHwaddr: link.hwaddr };
    interfaces.push({ ...base, hwaddr: link.hwaddr ?? parentHwaddr, link: vlanLink });
  }
  // A bond's ports are configured through their bond, not as links of their own: listing them
  // keeps the run from reporting them as NICs the metadata does not know.
  return { interfaces, withdrawn: [...ports.values()] };
}

/** A bond with its ports (each a NIC of the document, by MAC); its MAC is its own or its first port's. */
function bondInterface(
  link: Extract<OpenStackLink, { kind: 'bond' }>,
  intent: LinkProfileIntent,
  base: Omit<ProviderInterface, 'hwaddr' | 'link'>,
  ports: ReadonlyMap<string, string>,
): ProviderInterface {
  const members = link.members.map((linkId) => ({ linkId, hwaddr: ports.get(linkId) ?? '' }));
  const options = (intent.settings['bond']?.['options'] ?? {}) as Readonly<Record<string, string>>;
  const bond = { kind: 'bond', options, ports: members } as const;
  const hwaddr = link.hwaddr ?? members[0]?.hwaddr ?? '';
  return { ...base, hwaddr, link: link.hwaddr === undefined ? bond : { ...bond, clonedHwaddr: link.hwaddr } };
}

/** The explicit families and what plan/status show of them. */
function families(explicit: ExplicitConfig): Pick<ProviderInterface, 'ipv4' | 'ipv6' | 'dns' | 'explicit'> {
  return {
    ipv4: shown(explicit.ipv4),
    ipv6: shown(explicit.ipv6),
    dns: [...(explicit.ipv4?.dns ?? []), ...(explicit.ipv6?.dns ?? [])],
    explicit,
  };
}

/** The families of a link's intent; ipv6 only when the run configures IPv6. */
function explicitOf(intent: LinkProfileIntent, options: { readonly ipv6: boolean }): ExplicitConfig {
  const ipv4 = familyOf(intent.settings['ipv4']);
  const ipv6 = options.ipv6 ? familyOf(intent.settings['ipv6']) : undefined;
  return { ...(ipv4 === undefined ? {} : { ipv4 }), ...(ipv6 === undefined ? {} : { ipv6 }) };
}

type Entries = readonly Readonly<Record<string, string | number>>[];

/** One ipvX setting of an intent, in the model's terms. */
function familyOf(setting: Readonly<Record<string, SettingValue>> | undefined): ExplicitFamilyConfig | undefined {
  if (setting === undefined) return undefined;
  const addresses = ((setting['address-data'] ?? []) as Entries).map((entry) => ({
    address: String(entry['address']),
    prefix: Number(entry['prefix']),
  }));
  const routes = ((setting['route-data'] ?? []) as Entries).map((entry) => ({
    dest: String(entry['dest']),
    prefix: Number(entry['prefix']),
    ...(entry['next-hop'] === undefined ? {} : { nextHop: String(entry['next-hop']) }),
  }));
  const gateway = setting['gateway'];
  return {
    method: setting['method'] === 'auto' ? 'auto' : 'manual',
    addresses,
    ...(typeof gateway === 'string' ? { gateway } : {}),
    routes,
    dns: (setting['dns'] ?? []) as readonly string[],
  };
}

/** What plan/status show for the family: the addresses and gateway (no subnet: several may apply). */
function shown(family: ExplicitFamilyConfig | undefined): FamilyConfig {
  if (family === undefined) return NO_FAMILY_CONFIG;
  return {
    addresses: family.addresses.map((cidr) => cidr.address),
    ...(family.gateway === undefined ? {} : { gateway: family.gateway }),
    routes: [],
  };
}
