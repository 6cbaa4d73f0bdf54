// SPDX-License-Identifier: LGPL-2.1-or-later
// The metadata the VM's metadata server serves at each step of the scenarios
// (test/vm/guest/scenarios.sh checks the guest against exactly these addresses).
import type { ImdsConfig } from '../helpers/metadata-server.js';

export const MAC0 = '02:00:00:00:00:01';
export const MAC1 = '02:00:00:00:00:02';
/** The NIC the driver hotplugs with QMP. */
export const MAC2 = '02:00:00:00:00:03';
/** The two NICs hotplugged for the OpenStack bond (scenario openstack-bond-vlan; no addresses on their taps). */
export const BOND_MACS = ['02:00:00:00:00:04', '02:00:00:00:00:05'] as const;
/** The OCI VLAN VNIC: the MACVLAN the tool creates carries it. */
export const VNIC_MAC = '02:00:00:00:00:aa';

const TOKEN = 'AQAAAvm-test-token==';
const MACS = '/2018-09-24/meta-data/network/interfaces/macs/';

interface Ec2Nic {
  readonly mac: string;
  readonly ips: readonly string[];
  readonly subnet: string;
}

function ec2(nics: readonly Ec2Nic[]): ImdsConfig {
  const paths: Record<string, string> = { [MACS]: nics.map((n) => `${n.mac}/`).join('\n') };
  for (const n of nics) {
    paths[`${MACS}${n.mac}/local-ipv4s`] = n.ips.join('\n');
    paths[`${MACS}${n.mac}/subnet-ipv4-cidr-block`] = n.subnet;
  }
  return { ec2Token: TOKEN, paths };
}

const NIC0: Ec2Nic = { mac: MAC0, ips: ['172.16.4.2', '172.16.4.10', '172.16.4.11'], subnet: '172.16.4.0/24' };
const NIC1: Ec2Nic = { mac: MAC1, ips: ['172.16.5.2', '172.16.5.10'], subnet: '172.16.5.0/24' };
const NIC1_MORE: Ec2Nic = { ...NIC1, ips: [...NIC1.ips, '172.16.5.11'] };
const NIC2: Ec2Nic = { mac: MAC2, ips: ['172.16.6.2', '172.16.6.10'], subnet: '172.16.6.0/24' };

/** At boot: two NICs with secondary addresses. */
export const EC2_BOOT = ec2([NIC0, NIC1]);
/** The timer scenario: one address added to the second NIC. */
export const EC2_ADDED_IP = ec2([NIC0, NIC1_MORE]);
/** The hotplug scenario: the attached NIC is listed third (iface_idx 2). */
export const EC2_HOTPLUGGED = ec2([NIC0, NIC1_MORE, NIC2]);

/** OCI bare metal: the physical NIC and a VLAN VNIC (tag 700) on it, as realnm-oci.test.ts. */
export const OCI_BARE_METAL: ImdsConfig = {
  requireHeaders: { Authorization: 'Bearer Oracle' },
  paths: {
    '/opc/v2/instance': JSON.stringify({ id: 'ocid1.instance.oc1..vm-test', shape: 'BM.Standard.E4.128' }),
    '/opc/v2/vnics': JSON.stringify([
      {
        vnicId: 'p0',
        macAddr: MAC0,
        nicIndex: 0,
        vlanTag: 0,
        privateIp: '172.16.4.2',
        virtualRouterIp: '172.16.4.1',
        subnetCidrBlock: '172.16.4.0/24',
      },
      {
        vnicId: 'v1',
        macAddr: VNIC_MAC,
        nicIndex: 0,
        vlanTag: 700,
        privateIp: '10.70.0.5',
        virtualRouterIp: '10.70.0.1',
        subnetCidrBlock: '10.70.0.0/24',
      },
    ]),
  },
};
