// SPDX-License-Identifier: LGPL-2.1-or-later
// One EC2 instance as the bench models it: N activated ethernet devices in the fake
// NetworkManager, each with a manual profile holding only its primary address, and metadata
// that lists every device's MAC (an unlisted device would make the tool wait 15 s) with its
// subnet and `ipsPerNic` local-ipv4s, primary first.
import { ethernetProfile, type FakeDeviceSpec } from '../../test/fakes/fake-nm-service.js';
import { EC2_MACS } from './metadata-server.js';

export interface Ec2Shape {
  readonly nics: number;
  readonly ipsPerNic: number;
}

function macOf(nic: number): string {
  return `02:00:00:00:${(nic + 1).toString(16).padStart(2, '0')}:01`;
}

/** 10.<nic>.1.0/24; the addresses start at .10 so none is the network or the gateway. */
function addressesOf(nic: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `10.${nic}.1.${10 + i}`);
}

export function ec2Devices({ nics }: Ec2Shape): FakeDeviceSpec[] {
  return Array.from({ length: nics }, (_, nic) => ({
    iface: `eth${nic}`,
    type: 'ethernet',
    hwaddr: macOf(nic),
    profile: ethernetProfile({
      id: `bench-eth${nic}`,
      interfaceName: `eth${nic}`,
      ipv4: { method: 'manual', addresses: [{ address: addressesOf(nic, 1)[0]!, prefix: 24 }], gateway: `10.${nic}.1.1` },
    }),
  }));
}

export function ec2Metadata({ nics, ipsPerNic }: Ec2Shape): Map<string, string> {
  const paths = new Map<string, string>();
  const macs = Array.from({ length: nics }, (_, nic) => macOf(nic));
  // EC2 lists each MAC with a trailing slash (it is a directory).
  paths.set(EC2_MACS, macs.map((mac) => `${mac}/`).join('\n'));
  macs.forEach((mac, nic) => {
    paths.set(`${EC2_MACS}${mac}/subnet-ipv4-cidr-block`, `10.${nic}.1.0/24`);
    paths.set(`${EC2_MACS}${mac}/local-ipv4s`, addressesOf(nic, ipsPerNic).join('\n'));
    paths.set(`${EC2_MACS}${mac}/device-number`, String(nic));
  });
  return paths;
}

/** What one successful run requests: the token, the listing, and three leaves per NIC (device-number too). */
export function expectedRequests({ nics }: Ec2Shape): number {
  return 2 + 3 * nics;
}
