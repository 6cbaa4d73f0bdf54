// SPDX-License-Identifier: LGPL-2.1-or-later
import { MetadataError } from '../errors.js';
import { parseIpv4 } from '../net/ipv4.js';
import {
  allOrNothing,
  claimInterfaceRecord,
  collectFacts,
  detectByGet,
  fetchFact,
  fetchText,
  joinUrl,
  LEAF_LIMITS,
  LISTING_LIMITS,
  parseIndexList,
  type MetadataSession,
  type PollLimits,
  type Provider,
  type ProviderContext,
} from './provider.js';

const HEADERS = { Metadata: 'true' };
const QUERY = '?format=text&api-version=2017-04-02';
const INTERFACE_PATH = '/metadata/instance/network/interface/';

/** Microsoft Azure IMDS (text format): interfaces, their addresses and subnet 0. */
export const azure: Provider = {
  name: 'azure',
  envName: 'AZURE',
  defaultBaseUrl: 'http://169.254.169.254',
  allowNewConnectionsByDefault: false,

  detect(context) {
    return detectByGet(context, joinUrl(context.baseUrl, '/metadata/instance', QUERY), {
      headers: HEADERS,
      failure: 'failure to get Azure metadata',
      session: () => createSession(context),
    });
  },
};

function createSession({ http, log, baseUrl }: ProviderContext): MetadataSession {
  const fetch = (path: string, signal: AbortSignal, limits: PollLimits = LEAF_LIMITS): Promise<string> =>
    fetchText({ http }, joinUrl(baseUrl, INTERFACE_PATH, path, QUERY), { headers: HEADERS, limits, signal });

  const fetchIpv4 = async (path: string, signal: AbortSignal, failure: string): Promise<string> => {
    const address = parseIpv4((await fetch(path, signal)).trim());
    if (address === undefined) throw new MetadataError(failure);
    return address;
  };

  return {
    async getConfig(records, signal) {
      const interfaces = parseIndexList(await fetch('', signal, LISTING_LIMITS), { stripSlash: true });
      log.debug(`found azure interfaces: ${interfaces.length}`);
      if (interfaces.length === 0) throw new MetadataError('no Azure interfaces found');

      await allOrNothing(
        signal,
        interfaces.map((intern, extern) => async (taskSignal: AbortSignal) => {
          const scope = `interface[${intern}]`;
          log.debug(`azure interface[${intern}]: retrieving configuration`);
          const macText = await fetch(`${intern}/macAddress`, taskSignal);
          const record = claimInterfaceRecord(records, macText, { intern, extern, scope, log });
          log.debug(`${scope}: found a matching device with hwaddr ${record.hwaddr}`);

          // Upstream writes each address at the server-given index into an array sized by the
          // number of entries (overflowing on gaps). Slots by rank keep index 0, the primary,
          // first whatever the order of the answers, and cannot overflow.
          const addressIndexes = [
            ...new Set(parseIndexList(await fetch(`${intern}/ipv4/ipAddress/`, taskSignal), { stripSlash: true })),
          ].sort((a, b) => a - b);
          const addresses: string[] = new Array<string>(addressIndexes.length);
          let subnetAddress = '';
          let prefix = 0;
          await allOrNothing(taskSignal, [
            ...addressIndexes.map((index, slot) => async (s: AbortSignal) => {
              const path = `${intern}/ipv4/ipAddress/${index}/privateIpAddress`;
              addresses[slot] = await fetchIpv4(path, s, 'ip is not a valid private ip address');
              log.debug(`${scope}: received address ${addresses[slot]}`);
            }),
            async (s: AbortSignal) => {
              subnetAddress = await fetchIpv4(`${intern}/ipv4/subnet/0/address/`, s, 'ip is not a subnet address');
              log.debug(`${scope}: received subnet address ${subnetAddress}`);
            },
            async (s: AbortSignal) => {
              const text = (await fetch(`${intern}/ipv4/subnet/0/prefix/`, s)).trim();
              if (!/^[0-9]{1,2}$/.test(text) || Number(text) > 32) {
                log.info(`${scope}: invalid prefix`);
                throw new MetadataError('subnet does not give a valid prefix');
              }
              prefix = Number(text);
              log.debug(`${scope}: received subnet prefix ${prefix}`);
            },
          ]);
          // Only now, with every part fetched, is the interface complete (upstream's has_cidr).
          record.ipv4s = addresses;
          record.cidr = { address: subnetAddress, prefix };
        }),
      );
    },
    instanceFacts(signal) {
      const fact = (leaf: string) =>
        fetchFact({ http }, joinUrl(baseUrl, '/metadata/instance/compute/', leaf, QUERY), { headers: HEADERS, signal });
      return collectFacts({ id: fact('vmId'), region: fact('location'), zone: fact('zone'), type: fact('vmSize') });
    },
  };
}
