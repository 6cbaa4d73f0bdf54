// SPDX-License-Identifier: LGPL-2.1-or-later
import { MetadataError } from '../errors.js';
import type { InterfaceConfig } from '../model.js';
import { normalizeHwaddr } from '../net/hwaddr.js';
import { parseIpv4, parseIpv4Cidr } from '../net/ipv4.js';
import {
  detectByGet,
  fetchFact,
  fetchText,
  joinUrl,
  LISTING_LIMITS,
  type InstanceFacts,
  type MetadataSession,
  type Provider,
  type ProviderContext,
} from './provider.js';
import { parseJsonStrict } from './strict-json.js';

const HEADERS = { Authorization: 'Bearer Oracle' };
/** Largest nicIndex accepted on bare metal. */
const MAX_NIC_INDEX = 1023;

/**
 * Oracle Cloud: one JSON document lists every VNIC with its one private IP, subnet and router.
 * On bare metal, VNICs other than the physical NICs come as VLANs (vlanTag) on a physical NIC
 * (nicIndex); nm-cloud-setup creates a MACVLAN and a VLAN on top of it for each.
 */
export const oci: Provider = {
  name: 'oci',
  envName: 'OCI',
  defaultBaseUrl: 'http://169.254.169.254',
  // OCI VMs give secondary VNICs no DHCP: without a new profile they would stay unconfigured.
  allowNewConnectionsByDefault: true,

  detect(context) {
    return detectByGet(context, joinUrl(context.baseUrl, '/opc/v2/instance'), {
      headers: HEADERS,
      failure: 'failure to get OCI instance data',
      session: () => createSession(context),
    });
  },
};

const isInteger = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value);

/** Applies the vnics document to `records` (exported for tests). */
// eslint-disable-next-line max-lines-per-function -- TODO(issue 9): providers return immutable results
export function applyVnics(vnics: readonly unknown[], records: Map<string, InterfaceConfig>, log: ProviderContext['log']): void {
  const first = vnics[0];
  const isBaremetal = first !== null && typeof first === 'object' && !Array.isArray(first) && Object.hasOwn(first, 'nicIndex');
  if (vnics.length === 0) log.info('get-config: empty VNICs metadata, cannot detect instance type');
  else log.info(`get-config: detected ${isBaremetal ? 'baremetal' : 'VM'} instance`);

  const physicalByNicIndex = new Map<number, string>();
  const pendingParent = new Map<string, number>();

  vnics.forEach((vnic, i) => {
    const object = vnic !== null && typeof vnic === 'object' && !Array.isArray(vnic) ? (vnic as Record<string, unknown>) : undefined;
    const vnicId = typeof object?.['vnicId'] === 'string' ? object['vnicId'] : '';
    // Upstream appends the VNIC without a space: "...'privateIp'(VNIC ocid1... idx=0)".
    const warn = (message: string): void => log.warn(`get-config: ${message}(VNIC ${vnicId} idx=${i})`);
    if (object === undefined) {
      warn('JSON parse failure, ignoring VNIC');
      return;
    }

    const macAddr = object['macAddr'];
    const hwaddr = typeof macAddr === 'string' ? normalizeHwaddr(macAddr) : undefined;
    if (hwaddr === undefined) {
      warn("missing or invalid 'macAddr', ignoring VNIC");
      return;
    }

    let nicIndex = 0;
    let vlanTag = 0;
    // On a VM these keys mean nothing, even when present.
    if (isBaremetal) {
      const rawNicIndex = object['nicIndex'];
      if (!isInteger(rawNicIndex) || rawNicIndex < 0 || rawNicIndex > MAX_NIC_INDEX) {
        warn("missing or invalid 'nicIndex', ignoring VNIC");
        return;
      }
      const rawVlanTag = object['vlanTag'];
      if (!isInteger(rawVlanTag) || rawVlanTag < 0) {
        warn("missing or invalid 'vlanTag', ignoring VNIC");
        return;
      }
      nicIndex = rawNicIndex;
      vlanTag = rawVlanTag;
    }

    // Created or replaced; the position in the array is the index, skipped entries included.
    const record: InterfaceConfig = { hwaddr, ifaceIdx: i, wasRequested: records.get(hwaddr)?.wasRequested ?? false, routes: [] };
    records.set(hwaddr, record);
    // A later element replacing a VLAN VNIC's record replaces its pending parent lookup too.
    pendingParent.delete(hwaddr);

    const privateIp = typeof object['privateIp'] === 'string' ? parseIpv4(object['privateIp']) : undefined;
    if (privateIp === undefined) warn("missing or invalid 'privateIp'");
    else record.ipv4s = [privateIp];
    const router = typeof object['virtualRouterIp'] === 'string' ? parseIpv4(object['virtualRouterIp']) : undefined;
    if (router === undefined) warn("missing or invalid 'virtualRouterIp'");
    else record.gateway = router;
    // Upstream takes "a.b.c.d" (no "/prefix") as prefix 255 and later crashes; here it is invalid.
    const cidr = typeof object['subnetCidrBlock'] === 'string' ? parseIpv4Cidr(object['subnetCidrBlock']) : undefined;
    if (cidr === undefined) warn("missing or invalid 'subnetCidrBlock'");
    else record.cidr = cidr;

    if (!isBaremetal) return;
    if (vlanTag === 0) physicalByNicIndex.set(nicIndex, hwaddr);
    else {
      record.vlanTag = vlanTag;
      pendingParent.set(hwaddr, nicIndex);
    }
  });

  for (const [hwaddr, nicIndex] of pendingParent) {
    const parent = physicalByNicIndex.get(nicIndex);
    const record = records.get(hwaddr);
    if (record === undefined) continue;
    if (parent === undefined) {
      // Upstream frees a bogus pointer here; we drop the VNIC and say why.
      log.warn(`get-config: physical NIC for nicIndex=${nicIndex} not found, ignoring VNIC (VNIC macAddr=${hwaddr})`);
      records.delete(hwaddr);
      continue;
    }
    record.parentHwaddr = parent;
  }
}

function createSession({ http, log, baseUrl }: ProviderContext): MetadataSession {
  return {
    async getConfig(records, signal) {
      const body = await fetchText({ http }, joinUrl(baseUrl, '/opc/v2/vnics'), { headers: HEADERS, limits: LISTING_LIMITS, signal });
      let vnics: unknown;
      try {
        vnics = parseJsonStrict(body);
      } catch {
        vnics = undefined;
      }
      // Upstream's error text carries its own "get-config: " prefix.
      if (!Array.isArray(vnics)) throw new MetadataError("get-config: JSON parse failure, can't configure VNICs");
      applyVnics(vnics, records, log);
    },
    async instanceFacts(signal) {
      const body = await fetchFact({ http }, joinUrl(baseUrl, '/opc/v2/instance/'), { headers: HEADERS, signal });
      return body === undefined ? {} : instanceFactsFromJson(body);
    },
  };
}

/** id, region, availability domain and shape from /opc/v2/instance/; anything odd is left out. */
export function instanceFactsFromJson(body: string): InstanceFacts {
  let instance: unknown;
  try {
    instance = parseJsonStrict(body);
  } catch {
    return {};
  }
  if (instance === null || typeof instance !== 'object' || Array.isArray(instance)) return {};
  const field = (key: string): string | undefined => {
    const value = (instance as Record<string, unknown>)[key];
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const facts = {
    id: field('id'),
    region: field('canonicalRegionName') ?? field('region'),
    zone: field('availabilityDomain'),
    type: field('shape'),
  };
  return Object.fromEntries(Object.entries(facts).filter(([, value]) => value !== undefined));
}
