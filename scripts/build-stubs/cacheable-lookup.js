// SPDX-License-Identifier: LGPL-2.1-or-later
// Build-time stand-in for got's DNS cache (see scripts/build.mjs). got reaches it only with the
// `dnsCache` option, which nm-cloud-setup never sets: metadata hosts are IP literals.
export default class CacheableLookup {
  constructor() {
    throw new Error('nm-cloud-setup is built without the DNS cache');
  }
}
