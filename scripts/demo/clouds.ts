// SPDX-License-Identifier: LGPL-2.1-or-later
// The simulated clouds of `npm run demo`: for each provider, the metadata that
// test/harness/imds-server.mjs serves for the demo's NICs, and the environment the tool needs to
// find it inside the namespaces. Paths, headers and formats are those the e2e scenarios
// (test/e2e/realnm-*.test.ts) use; the addresses follow realnm.sh's topology: NIC i is eth<i>,
// MAC 02:00:00:00:00:<i+1>, subnet 172.16.<4+i>.0/24, profile address .2, gateway .1.
import type { ImdsConfig, ImdsPathEntry } from '../../test/harness/realnm.js';

export const PROVIDERS = ['ec2', 'gcp', 'azure', 'aliyun', 'oci'] as const;
export type DemoProvider = (typeof PROVIDERS)[number];

/** One NIC as the metadata describes it; no addresses: the cloud does not know it (yet). */
export interface Nic {
  readonly ifname: string;
  readonly mac: string;
  /** "172.16.4" */
  readonly net: string;
  /** Primary first. */
  readonly addresses: readonly string[];
}

export interface Cloud {
  readonly provider: DemoProvider;
  /** NM_CLOUD_SETUP_<P>=yes, plus _HOST where the default host is not 169.254.169.254. */
  readonly env: Readonly<Record<string, string>>;
  /** The initial metadata's NICs, and the same after the change the demo makes. */
  readonly before: readonly Nic[];
  readonly after: readonly Nic[];
  /** What the change is, in words. */
  readonly change: string;
  metadata(nics: readonly Nic[]): ImdsConfig;
  /** Kernel routing tables worth showing: the policy tables, or GCP's local routes. */
  readonly tables: readonly string[];
}

const mac = (i: number): string => `02:00:00:00:00:${(i + 1).toString(16).padStart(2, '0')}`;

function nicsWith(count: number, addresses: (i: number, net: string) => string[]): Nic[] {
  return Array.from({ length: count }, (_, i) => {
    const net = `172.16.${4 + i}`;
    return { ifname: `eth${i}`, mac: mac(i), net, addresses: addresses(i, net) };
  });
}

/**
 * The demo's cloud for `count` NICs. Every cloud but OCI starts with one secondary address per
 * NIC and then gains one on eth0. OCI gives a VNIC exactly one address, so there the last NIC's
 * VNIC is missing at first and then attached (hence at least three NICs: two to start with, as
 * one NIC with one address needs no policy routing at all).
 */
export function cloudFor(provider: DemoProvider, count: number): Cloud {
  if (provider === 'oci') return ociCloud(count);
  const before = nicsWith(count, (_, net) => [`${net}.2`, `${net}.10`]);
  const after = nicsWith(count, (i, net) => [`${net}.2`, `${net}.10`, ...(i === 0 ? [`${net}.11`] : [])]);
  const what = provider === 'gcp' ? 'a forwarded IP' : 'a secondary IP';
  const common = { provider, before, after, change: `${what} added: 172.16.4.11 on eth0`, tables: policyTables(count) };
  // GCP's and Aliyun's default hosts (metadata.google.internal, 100.100.100.200) do not exist in
  // the namespace; their metadata servers are served at 169.254.169.254 instead.
  const at = 'http://169.254.169.254';
  switch (provider) {
    case 'ec2':
      return { ...common, env: { NM_CLOUD_SETUP_EC2: 'yes' }, metadata: ec2Metadata };
    case 'azure':
      return { ...common, env: { NM_CLOUD_SETUP_AZURE: 'yes' }, metadata: azureMetadata };
    case 'gcp':
      return { ...common, env: { NM_CLOUD_SETUP_GCP: 'yes', NM_CLOUD_SETUP_GCP_HOST: at }, metadata: gcpMetadata, tables: ['local'] };
    case 'aliyun':
      return { ...common, env: { NM_CLOUD_SETUP_ALIYUN: 'yes', NM_CLOUD_SETUP_ALIYUN_HOST: at }, metadata: aliyunMetadata };
  }
}

function ociCloud(count: number): Cloud {
  const before = nicsWith(count, (i, net) => (i < count - 1 ? [`${net}.2`] : []));
  const after = nicsWith(count, (_, net) => [`${net}.2`]);
  const last = after[count - 1];
  const change = `a VNIC attached: ${last?.ifname ?? '?'} (${last?.addresses[0] ?? '?'})`;
  return { provider: 'oci', env: { NM_CLOUD_SETUP_OCI: 'yes' }, before, after, change, metadata: ociMetadata, tables: policyTables(count) };
}

function policyTables(count: number): string[] {
  return Array.from({ length: count }, (_, i) => [`${30200 + i}`, `${30400 + i}`]).flat();
}

const known = (nics: readonly Nic[]): readonly Nic[] => nics.filter((nic) => nic.addresses.length > 0);

function ec2Metadata(nics: readonly Nic[]): ImdsConfig {
  const macs = '/2018-09-24/meta-data/network/interfaces/macs/';
  const paths: Record<string, ImdsPathEntry> = {
    '/latest/meta-data/instance-id': 'i-0de70de70de70de70',
    '/latest/meta-data/placement/region': 'xx-demo-1',
    '/latest/meta-data/placement/availability-zone': 'xx-demo-1a',
    '/latest/meta-data/instance-type': 'm5.xlarge',
    [macs]: known(nics)
      .map((nic) => `${nic.mac}/`)
      .join('\n'),
  };
  for (const nic of known(nics)) {
    paths[`${macs}${nic.mac}/local-ipv4s`] = nic.addresses.join('\n');
    paths[`${macs}${nic.mac}/subnet-ipv4-cidr-block`] = `${nic.net}.0/24`;
  }
  return { ec2Token: 'demo-token', paths };
}

function gcpMetadata(nics: readonly Nic[]): ImdsConfig {
  const instance = '/computeMetadata/v1/instance';
  const ni = `${instance}/network-interfaces/`;
  const paths: Record<string, ImdsPathEntry> = {
    [`${instance}/id`]: '4520031799277581759',
    [ni]: known(nics)
      .map((_, i) => `${i}/`)
      .join('\n'),
  };
  known(nics).forEach((nic, i) => {
    // GCP forwards extra addresses to the VM; the primary is the NIC's own.
    const forwarded = nic.addresses.slice(1);
    paths[`${ni}${i}/mac`] = nic.mac;
    paths[`${ni}${i}/forwarded-ips/`] = forwarded.map((_, k) => `${k}`).join('\n');
    forwarded.forEach((ip, k) => (paths[`${ni}${i}/forwarded-ips/${k}`] = ip));
  });
  return { requireHeaders: { 'Metadata-Flavor': 'Google' }, paths };
}

function azureMetadata(nics: readonly Nic[]): ImdsConfig {
  const q = '?format=text&api-version=2017-04-02';
  const iface = '/metadata/instance/network/interface/';
  const paths: Record<string, ImdsPathEntry> = {
    [`/metadata/instance${q}`]: 'compute/\nnetwork/\n',
    [`${iface}${q}`]: known(nics)
      .map((_, i) => `${i}/`)
      .join('\n'),
  };
  known(nics).forEach((nic, i) => {
    // Azure writes MACs without separators.
    paths[`${iface}${i}/macAddress${q}`] = nic.mac.replaceAll(':', '').toUpperCase();
    paths[`${iface}${i}/ipv4/ipAddress/${q}`] = nic.addresses.map((_, k) => `${k}/`).join('\n');
    nic.addresses.forEach((ip, k) => (paths[`${iface}${i}/ipv4/ipAddress/${k}/privateIpAddress${q}`] = ip));
    paths[`${iface}${i}/ipv4/subnet/0/address/${q}`] = `${nic.net}.0`;
    paths[`${iface}${i}/ipv4/subnet/0/prefix/${q}`] = '24';
  });
  return { requireHeaders: { Metadata: 'true' }, paths };
}

function aliyunMetadata(nics: readonly Nic[]): ImdsConfig {
  const md = '/2016-01-01/meta-data/';
  const macs = `${md}network/interfaces/macs/`;
  const paths: Record<string, ImdsPathEntry> = {
    [md]: 'instance-id\nnetwork/\n',
    [macs]: known(nics)
      .map((nic) => `${nic.mac}/`)
      .join('\n'),
  };
  for (const nic of known(nics)) {
    paths[`${macs}${nic.mac}/vpc-cidr-block`] = '172.16.0.0/12';
    paths[`${macs}${nic.mac}/private-ipv4s`] = JSON.stringify(nic.addresses);
    paths[`${macs}${nic.mac}/primary-ip-address`] = nic.addresses[0] ?? '';
    paths[`${macs}${nic.mac}/netmask`] = '255.255.255.0';
    paths[`${macs}${nic.mac}/gateway`] = `${nic.net}.1`;
  }
  return { paths };
}

function ociMetadata(nics: readonly Nic[]): ImdsConfig {
  const vnics = known(nics).map((nic, i) => ({
    vnicId: `ocid1.vnic.demo${i}`,
    macAddr: nic.mac,
    privateIp: nic.addresses[0],
    virtualRouterIp: `${nic.net}.1`,
    subnetCidrBlock: `${nic.net}.0/24`,
  }));
  return {
    requireHeaders: { Authorization: 'Bearer Oracle' },
    paths: {
      '/opc/v2/instance': JSON.stringify({ id: 'ocid1.instance.oc1..demo', shape: 'VM.Standard.E4.Flex' }),
      '/opc/v2/vnics': JSON.stringify(vnics),
    },
  };
}
